"""Helpers of the delivery tests: beat marks, problem sessions, big media, the ascmhl reader."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
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


def shoot_session_with_problems(shotlist_path: Path, out: Path, *, leave_unshot: int = 2) -> Path:
    """Shoot a shot list on the simulated set through the real runner, injecting problems.

    Along the way one camera is under-exposed, the other's colour cast changes,
    a tripod is bumped and a lens is defocused; beats are marked with a
    drifting tempo, one take is rated NG and the last ``leave_unshot`` takes
    are never shot.
    """
    from capture_assist.clock import SessionClock
    from capture_assist.devices.factory import open_cameras
    from capture_assist.devices.simulated import SceneControls, SimulatedCamera
    from capture_assist.pipeline.worker import DeviceWorker
    from capture_assist.session.database import Rating
    from capture_assist.session.runner import SessionRunner
    from capture_assist.shotlist.loader import load_shotlist

    loaded = load_shotlist(shotlist_path)
    clock = SessionClock()
    cameras = open_cameras(loaded.model, clock, sim_controls=SceneControls(), force_simulated=True)
    workers = {camera_id: DeviceWorker(camera, live=False) for camera_id, camera in cameras.items()}
    for worker in workers.values():
        worker.start()
    sims = [camera for camera in cameras.values() if isinstance(camera, SimulatedCamera)]
    runner = SessionRunner(loaded, out, workers, clock)
    try:
        runner.open_session(resume=False)
        takes = [step for step in runner.steps if not step.is_reference]
        problems = {
            2: lambda: sims[1].set_controls(exposure_ev=-0.25),
            4: lambda: sims[0].set_controls(cast_cct_k=6200.0),
            6: lambda: sims[0].bump(7.0, -4.0),
            8: lambda: sims[1].set_controls(defocus_sigma_px=2.5, exposure_ev=0.0),
        }
        shot = 0
        for step in runner.steps:
            if not step.is_reference:
                if shot >= len(takes) - leave_unshot:
                    break
                problems.get(shot, lambda: None)()
                shot += 1
            outcome = runner.capture(step)
            assert outcome.ok, outcome.error
        database = runner.db
        assert database is not None
        database.set_rating(takes[1].step_id, Rating.NG)
        database.set_notes(takes[1].step_id, "actor looked at the lens")
        database.set_rating(takes[0].step_id, Rating.CIRCLE)
    finally:
        runner.close()
        for worker in workers.values():
            worker.stop()
    for index, step in enumerate(takes[: len(takes) - leave_unshot]):
        record_step = next(s for s in read_session(out).takes if s.step_id == step.step_id)
        sidecar = record_step.files[0].sidecar
        start = float(sidecar["capture"]["session_start_s"])
        tempo = 1.0 + 0.12 * index  # the actor slows down over the session
        for beat in sidecar["take"]["action"]["beats"]:
            mark_beat(out, step.step_id, beat["name"], start + 0.1 + beat["start_s"] * tempo)
    return out


def fatten_session(session: Path, total_bytes: int) -> int:
    """Replace every take's media by random bytes, recorded as the runner records them.

    The reference frames stay real charts (COCO reads them). Returns the bytes written.
    """
    database = sqlite3.connect(session / "session.sqlite")
    rows = database.execute(
        "SELECT step_id, attempt, camera_id, relative_path, sidecar_path FROM files "
        "WHERE step_id NOT LIKE '%.reference'"
    ).fetchall()
    per_file = total_bytes // len(rows)
    written = 0
    for step_id, attempt, camera_id, relative, sidecar_path in rows:
        data = os.urandom(per_file)
        digest = hashlib.sha256(data).hexdigest()
        (session / relative).write_bytes(data)
        sidecar = json.loads((session / sidecar_path).read_text())
        sidecar["media"].update(sha256=digest, size_bytes=len(data))
        (session / sidecar_path).write_text(json.dumps(sidecar, indent=2))
        database.execute(
            "UPDATE files SET sha256 = ?, size_bytes = ? "
            "WHERE step_id = ? AND attempt = ? AND camera_id = ?",
            (digest, len(data), step_id, attempt, camera_id),
        )
        written += len(data)
    database.commit()
    database.close()
    return written


def turn_takes_into_clips(session: Path, frames: int = 8) -> None:
    """Replace each take's still by a short MP4 clip, recorded as a video camera's file would be.

    The app records stills today; this stands for a session of video cameras,
    so that the manifest can be read by the ``videofolder`` builder.
    """
    import cv2

    database = sqlite3.connect(session / "session.sqlite")
    rows = database.execute(
        "SELECT step_id, attempt, camera_id, relative_path, sidecar_path FROM files "
        "WHERE step_id NOT LIKE '%.reference'"
    ).fetchall()
    for step_id, attempt, camera_id, relative, sidecar_path in rows:
        still = session / relative
        clip = still.with_suffix(".mp4")
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 180))
        picture = cv2.resize(cv2.imread(str(still)), (320, 180))
        for _ in range(frames):
            writer.write(picture)
        writer.release()
        still.unlink()
        data = clip.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        clip_relative = str(Path(relative).with_suffix(".mp4"))
        sidecar = json.loads((session / sidecar_path).read_text())
        sidecar["media"].update(
            file=clip.name,
            relative_path=clip_relative,
            sha256=digest,
            size_bytes=len(data),
            mime="video/mp4",
        )
        sidecar["camera"]["records"]["kind"] = "video"
        (session / sidecar_path).write_text(json.dumps(sidecar, indent=2))
        database.execute(
            "UPDATE files SET relative_path = ?, sha256 = ?, size_bytes = ? "
            "WHERE step_id = ? AND attempt = ? AND camera_id = ?",
            (clip_relative, digest, len(data), step_id, attempt, camera_id),
        )
    database.commit()
    database.close()
