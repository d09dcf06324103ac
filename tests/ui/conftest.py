"""The real window on the simulated set, for every UI test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from capture_assist.ui.app import build_window
from capture_assist.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot: QtBot, demo_shotlist_path: Path, tmp_path: Path) -> Iterator[MainWindow]:
    main_window = build_window(
        demo_shotlist_path, tmp_path / "session", resume=False, simulate=False, sim_controls=None
    )
    qtbot.addWidget(main_window)
    main_window.resize(1600, 900)
    main_window.show()
    yield main_window
    # Close here, not in qtbot's teardown, so the device and analysis threads
    # are joined before the interpreter can finalise under them.
    main_window.close()
