"""Helpers of the delivery tests: beat marks, the ascmhl reader, byte flips."""

from __future__ import annotations

import shutil
from pathlib import Path

from capture_assist.storage.session_files import mark_beat, read_session

REPO_ROOT = Path(__file__).resolve().parents[2]


def mark_all_beats(session_dir: Path, step_id: str, spacing_s: float = 0.7) -> list[str]:
    """Mark every beat of a take, ``spacing_s`` apart from the capture's start."""
    step = next(s for s in read_session(session_dir).takes if s.step_id == step_id)
    sidecar = step.files[0].sidecar
    start = float(sidecar["capture"]["session_start_s"])
    names = [beat["name"] for beat in sidecar["take"]["action"]["beats"]]
    for index, name in enumerate(names):
        mark_beat(session_dir, step_id, name, start + 0.2 + index * spacing_s, note=f"beat {index}")
    return names


def ascmhl_debug() -> str:
    """The ascmhl reader's verify tool: scripts/setup.sh installs it in .venv-ascmhl."""
    local = REPO_ROOT / ".venv-ascmhl" / "bin" / "ascmhl-debug"
    found = str(local) if local.exists() else shutil.which("ascmhl-debug")
    assert found, "ascmhl is not installed: run scripts/setup.sh"
    return found


def flip_one_byte(path: Path, offset: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
