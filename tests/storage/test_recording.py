"""A take's recording decoded back with PyAV: every frame, its time and its timecode."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import av
import numpy as np
import pytest

from capture_assist.clock import timecode_from_seconds
from capture_assist.storage.recording import TakeRecorder


def frame_picture(number: int) -> np.ndarray:
    rng = np.random.default_rng(number)
    # Noise: a lossy codec could not give these pixels back exactly.
    return rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)


def test_a_recorded_take_decodes_back_frame_for_frame(tmp_path: Path) -> None:
    start_s = 3600.0 + 12.5
    recorder = TakeRecorder(
        tmp_path / "take.mkv", width=160, height=120, fps=25.0, start_timestamp_s=start_s
    )
    times = [start_s + index / 25.0 for index in range(60)]
    for index, at_s in enumerate(times):
        assert recorder.put(1000 + index, at_s, frame_picture(index))
        time.sleep(0.005)  # a source delivers over time; the queue holds two seconds
    result = recorder.finish()
    assert result.error is None
    assert (result.frames_written, result.frames_not_written) == (60, 0)
    assert result.start_timecode == timecode_from_seconds(start_s, 25.0) == "01:00:12:12"
    with av.open(str(result.path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "ffv1"
        assert stream.metadata.get("timecode", stream.metadata.get("TIMECODE")) == "01:00:12:12"
        decoded = list(container.decode(stream))
    assert len(decoded) == 60
    for index, frame in enumerate(decoded):
        assert np.array_equal(frame.to_ndarray(format="rgb24"), frame_picture(index))
        assert float(frame.pts * frame.time_base) == pytest.approx(index / 25.0, abs=0.001)
    with open(result.frames_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 60
    assert rows[10] == {
        "frame": "10",
        "sequence": "1010",
        "session_time_s": f"{times[10]:.6f}",
        "timecode": timecode_from_seconds(times[10], 25.0),
    }


def test_frames_that_cannot_be_written_are_counted_never_lost_silently(tmp_path: Path) -> None:
    # The queue holds two seconds (50 frames at 25 fps): a burst of 400 at once overflows it.
    recorder = TakeRecorder(
        tmp_path / "burst.mkv", width=160, height=120, fps=25.0, start_timestamp_s=0.0
    )
    accepted = sum(recorder.put(index, index / 100.0, frame_picture(index)) for index in range(400))
    wrong_size = recorder.put(400, 4.0, np.zeros((10, 10, 3), np.uint8))
    result = recorder.finish()
    assert not wrong_size
    assert result.frames_written == accepted < 400
    assert result.frames_written + result.frames_not_written == 401
    with av.open(str(result.path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == accepted


def test_an_unfinished_recording_never_looks_finished(tmp_path: Path) -> None:
    # The take's folder (the naming template's lighting/subject/...) is made as needed.
    recorder = TakeRecorder(
        tmp_path / "daylight" / "s01" / "killed.mkv",
        width=160,
        height=120,
        fps=25.0,
        start_timestamp_s=0.0,
    )
    tmp_path = tmp_path / "daylight" / "s01"
    recorder.put(0, 0.0, frame_picture(0))
    # The process dies before finish(): only the temporary names exist.
    assert not (tmp_path / "killed.mkv").exists()
    assert not (tmp_path / "killed.frames.csv").exists()
    assert recorder.finish().frames_written == 1
    assert (tmp_path / "killed.mkv").exists()
