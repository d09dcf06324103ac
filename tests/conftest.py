"""Shared fixtures: the simulated set is the default camera of the suite."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Qt tests run without a display, and nothing may reach for a real one.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
# The PTP/IP camera emulator is a program of the test suite, run in child processes.
sys.path.insert(0, str(REPO_ROOT / "tests" / "ptpip"))

from emulator import EmulatorProcess  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def gphoto2_settings_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """libgphoto2 stores the PTP/IP GUID it generates in its settings: not in the user's."""
    folder = tmp_path_factory.mktemp("xdg_config")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(folder))
        yield folder


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., EmulatorProcess]]:
    """Start PTP/IP camera emulators (options as on their command line); all die with the test."""
    started: list[EmulatorProcess] = []

    def start(**options: object) -> EmulatorProcess:
        arguments = []
        for name, value in options.items():
            arguments += [f"--{name.replace('_', '-')}", str(value)]
        emulator = EmulatorProcess(*arguments)
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.kill()


@pytest.fixture
def demo_shotlist_path() -> Path:
    return REPO_ROOT / "shotlists" / "demo.yaml"


@pytest.fixture
def small_shotlist_path(tmp_path: Path) -> Path:
    """The demo shot list cut down to one subject and one repetition (fast)."""
    text = (REPO_ROOT / "shotlists" / "demo.yaml").read_text()
    text = text.replace("repetitions: 2", "repetitions: 1")
    path = tmp_path / "small.yaml"
    path.write_text(text)
    return path
