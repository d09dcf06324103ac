"""The real window on the simulated set, for every UI test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from capture_assist.ui.app import build_window
from capture_assist.ui.main_window import MainWindow


@pytest.fixture
def open_window(qtbot: QtBot, tmp_path: Path) -> Iterator[Callable[[Path], MainWindow]]:
    """Open the window on a shot list, saving to tmp_path/session; closed after the test."""
    opened: list[MainWindow] = []

    def open_on(shotlist_path: Path) -> MainWindow:
        main_window = build_window(
            shotlist_path, tmp_path / "session", resume=False, simulate=False, sim_controls=None
        )
        qtbot.addWidget(main_window)
        main_window.resize(1600, 900)
        main_window.show()
        opened.append(main_window)
        return main_window

    yield open_on
    # Close here, not in qtbot's teardown, so the device and analysis threads
    # are joined before the interpreter can finalise under them.
    for main_window in opened:
        main_window.close()


@pytest.fixture
def window(open_window: Callable[[Path], MainWindow], demo_shotlist_path: Path) -> MainWindow:
    return open_window(demo_shotlist_path)
