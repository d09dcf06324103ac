"""Video takes: every frame of a take recorded, lossless, and a feed lost mid-take."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from mjpeg_server import MjpegServer

from capture_assist.clock import SessionClock
from capture_assist.devices.factory import open_cameras
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.session.runner import SessionRunner
from capture_assist.shotlist.loader import load_shotlist

SHOTLIST = """\
version: 1
project: {{id: video_rig, title: Video takes}}
subjects: [{{id: s01, consent: {{release_id: MR-1, status: unlimited, data_mining: allowed}}}}]
actions:
  - {{id: wave, expected_duration_s: 0.6, beats: [{{name: raise}}, {{name: lower}}]}}
angles: [{{id: front}}, {{id: side}}]
lighting: [{{id: daylight, cct_k: 5600}}]
repetitions: 2
cameras:
  - id: cam_a
    source: {source}
    angles: [front]
    records: {{kind: video, resolution: [320, 240], frame_rate: 25}}
  - id: cam_b
    source: {{kind: sim, seed: 1}}
    angles: [side]
    records: {{kind: still, resolution: [320, 240], frame_rate: 25}}
naming: "{{take_id}}_{{camera}}"
"""


@pytest.fixture
def make_runner(tmp_path: Path) -> Iterator[object]:
    made: list[tuple[SessionRunner, list[DeviceWorker]]] = []

    def make(source: str) -> SessionRunner:
        path = tmp_path / "video.yaml"
        path.write_text(SHOTLIST.format(source=source))
        loaded = load_shotlist(path)
        clock = SessionClock()
        workers = {
            cid: DeviceWorker(camera, live=True)
            for cid, camera in open_cameras(loaded.model, clock).items()
        }
        for worker in workers.values():
            worker.start()
        runner = SessionRunner(loaded, tmp_path / "session", workers, clock)
        runner.open_session(resume=False)
        made.append((runner, list(workers.values())))
        return runner

    yield make
    for runner, workers in made:
        runner.close()
        for worker in workers:
            worker.stop()


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_every_frame_of_a_video_take_is_recorded_and_timed(make_runner: object) -> None:
    runner = make_runner("{kind: sim}")  # type: ignore[operator]
    outcomes = [runner.capture(step) for step in runner.steps]
    assert all(outcome.ok for outcome in outcomes), [o.error for o in outcomes]
    take = outcomes[1]
    video = next(path for path in take.files if path.suffix == ".mkv")
    sidecar = json.loads(video.with_suffix(".json").read_text())
    recording = sidecar["camera"]["settings"]["recording"]
    # The action's 0.6 s and a second of tail at 25 fps.
    assert 36 <= recording["frames_written"] <= 42
    assert recording["frames_not_written"] == 0
    assert decoded_frames(video) == recording["frames_written"]
    frames_file = video.with_name(recording["frames_file"])
    with open(frames_file, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == recording["frames_written"]
    assert rows[0]["timecode"] == recording["start_timecode"]
    # The still camera of the same take fired at the recording's start.
    still = next(path for path in take.files if path.suffix == ".jpg")
    assert still.name.endswith("_cam_b.jpg")
    # The reference frame of a video camera is a still: the setup's baseline.
    assert any(path.suffix == ".jpg" for path in outcomes[0].files)


def test_a_feed_lost_mid_take_keeps_its_frames_aside_and_the_next_take_records(
    make_runner: object,
) -> None:
    server = MjpegServer(width=320, height=240, fps=25.0)
    try:
        runner = make_runner(f"{{kind: opencv, device: '{server.url}'}}")  # type: ignore[operator]
        assert runner.capture(runner.steps[0]).ok
        stall = threading.Timer(0.5, server.stall)
        stall.start()
        lost = runner.capture(runner.steps[1])
        assert not lost.ok
        assert "no signal" in (lost.error or "")
        assert "frames are kept" in (lost.error or "")
        kept = list((runner.out_dir / "_incomplete").rglob("*_cam_a.mkv"))
        assert len(kept) == 1
        assert 8 <= decoded_frames(kept[0]) <= 16
        assert not list(runner.out_dir.glob("*.mkv"))
        server.resume()
        deadline = time.monotonic() + 15.0
        while not runner.workers["cam_a"].connected and time.monotonic() < deadline:
            time.sleep(0.05)
        retake = runner.capture(runner.steps[1], retake=True)
        assert retake.ok, retake.error
        video = next(path for path in retake.files if path.suffix == ".mkv")
        assert decoded_frames(video) >= 36
    finally:
        server.close()
