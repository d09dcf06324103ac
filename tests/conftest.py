"""Shared fixtures: the simulated set is the default camera of the suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt tests run without a display, and nothing may reach for a real one.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


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
