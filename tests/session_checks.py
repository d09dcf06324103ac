"""Invariants of a session folder, checked by the end-to-end tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from capture_assist.session.database import SessionDatabase
from capture_assist.storage.sidecar import validate_sidecar


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_done_steps_are_whole(session_dir: Path, cameras: int) -> int:
    """Assert every step counted done has, per camera, its media, sidecar and matching checksum.

    Returns the number of done steps.
    """
    database = SessionDatabase(session_dir / "session.sqlite")
    try:
        done = 0
        for step in database.steps():
            if step.status != "done":
                continue
            done += 1
            records = database.files(step.step_id, step.attempts)
            assert len(records) == cameras, f"{step.step_id}: {len(records)} files recorded"
            for record in records:
                media = session_dir / record.relative_path
                sidecar_path = session_dir / record.sidecar_path
                assert media.is_file(), f"{step.step_id}: {media} missing"
                assert sidecar_path.is_file(), f"{step.step_id}: {sidecar_path} missing"
                assert sha256(media) == record.sha256, f"{media} checksum differs from database"
                sidecar = json.loads(sidecar_path.read_text())
                validate_sidecar(sidecar)
                assert sidecar["media"]["sha256"] == record.sha256
                assert sidecar["media"]["size_bytes"] == media.stat().st_size
        return done
    finally:
        database.close()
