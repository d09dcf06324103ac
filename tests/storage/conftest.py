"""A real simulated session shot once per test run; tests that change it work on a copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from capture_assist.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shot_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo shot list with one repetition, shot headless on the simulated set."""
    text = (
        (REPO_ROOT / "shotlists" / "demo.yaml")
        .read_text()
        .replace("repetitions: 2", "repetitions: 1")
    )
    folder = tmp_path_factory.mktemp("shot")
    shotlist = folder / "small.yaml"
    shotlist.write_text(text)
    out = folder / "session"
    assert main(["run", str(shotlist), "--out", str(out), "--simulate", "--no-progress"]) == 0
    return out


@pytest.fixture
def session_copy(shot_session: Path, tmp_path: Path) -> Path:
    """A private copy of the shot session, free to be changed."""
    copy = tmp_path / "session"
    shutil.copytree(shot_session, copy)
    return copy
