"""Files and streams through OpenCV, with real media: codecs, an MJPEG server, stalls."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import pytest
from mjpeg_server import MjpegServer, numbered_frame
from session_checks import check_done_steps_are_whole

from capture_assist.clock import SessionClock
from capture_assist.devices.base import DeviceError
from capture_assist.devices.opencv_source import (
    VideoMode,
    VideoSource,
    iterate_video,
    list_capture_devices,
    parse_v4l2_formats,
)
from capture_assist.pipeline.worker import DeviceWorker

FRAMES = 30


@pytest.fixture
def server() -> Iterator[MjpegServer]:
    stream = MjpegServer(width=320, height=240, fps=25.0)
    yield stream
    stream.close()


def write_with_opencv(path: Path, fourcc: str) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), 25.0, (320, 240))
    assert writer.isOpened(), fourcc
    for number in range(FRAMES):
        writer.write(numbered_frame(number, 320, 240))
    writer.release()


def write_ffv1(path: Path) -> None:
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 320, 240, "bgr0"
        for number in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(numbered_frame(number, 320, 240), format="bgr24")
            for packet in stream.encode(frame.reformat(format="bgr0")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize(
    ("suffix", "write"),
    [
        (".avi", lambda path: write_with_opencv(path, "MJPG")),
        (".mp4", lambda path: write_with_opencv(path, "mp4v")),
        (".mkv", write_ffv1),
    ],
    ids=["mjpeg-avi", "mpeg4-mp4", "ffv1-mkv"],
)
def test_video_files_in_several_codecs_play_in_order_and_loop(
    tmp_path: Path, suffix: str, write: object
) -> None:
    path = tmp_path / f"clip{suffix}"
    write(path)  # type: ignore[operator]
    assert sum(1 for _ in iterate_video(path)) == FRAMES
    source = VideoSource("cam", str(path), clock=SessionClock())
    source.open()
    try:
        assert source.delivered == VideoMode(320, 240, 25.0, source.delivered.fourcc)
        started = time.monotonic()
        frames = [source.read_frame() for _ in range(FRAMES + 5)]
        # Played at the file's rate, not as fast as it decodes.
        assert time.monotonic() - started > (FRAMES + 3) / 25.0
        # The left half carries the frame number (x 7): order kept, then the loop.
        numbers = [round(float(f.pixels[120, 40, 0]) / 7) for f in frames]
        assert numbers[:FRAMES] == list(range(FRAMES))
        assert numbers[FRAMES:] == list(range(5))
        assert [f.sequence for f in frames] == list(range(FRAMES + 5))
    finally:
        source.close()


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="no such video file"):
        VideoSource("cam", str(tmp_path / "none.mkv"), clock=SessionClock()).open()


def test_a_requested_mode_the_source_cannot_give_is_reported(server: MjpegServer) -> None:
    source = VideoSource(
        "cam", server.url, clock=SessionClock(), requested=VideoMode(1920, 1080, 60.0, "MJPG")
    )
    source.open()
    try:
        for _ in range(30):
            source.read_frame()
        assert source.delivered is not None
        assert (source.delivered.width, source.delivered.height) == (320, 240)
        assert source.measured_fps() == pytest.approx(25.0, rel=0.15)
        difference = source.mode_difference()
        assert difference is not None
        assert "320x240 instead of 1920x1080" in difference
        assert "fps instead of 60" in difference
    finally:
        source.close()


def test_a_stalled_stream_is_no_signal_within_a_second_and_reopens_by_itself(
    server: MjpegServer,
) -> None:
    worker = DeviceWorker(VideoSource("cam", server.url, clock=SessionClock()), live=True)
    changes: list[tuple[float, bool]] = []
    errors: list[str] = []
    worker.connection_changed.connect(lambda _s, up: changes.append((time.monotonic(), up)))
    worker.error.connect(lambda _s, message: errors.append(message))
    worker.start()
    try:
        first = worker.slot.wait_newer(-1, timeout_s=5.0)
        assert first is not None
        time.sleep(0.5)
        server.stall()
        stalled_at = time.monotonic()
        deadline = stalled_at + 5.0
        while not any(not up for _at, up in changes) and time.monotonic() < deadline:
            time.sleep(0.02)
        lost_at = next(at for at, up in changes if not up)
        assert lost_at - stalled_at < 1.5
        assert any("no signal" in message for message in errors)
        server.resume()
        resumed_at = time.monotonic()
        before = worker.slot.take().frame
        assert before is not None
        again = worker.slot.wait_newer(before.sequence, timeout_s=10.0)
        assert again is not None
        assert any(up and at > resumed_at for at, up in changes)
    finally:
        worker.stop()


def test_dropped_and_repeated_frames_are_counted(server: MjpegServer) -> None:
    source = VideoSource("cam", server.url, clock=SessionClock())
    source.open()
    try:
        for _ in range(15):
            source.read_frame()
        assert (source.dropped_frames, source.repeated_frames) == (0, 0)
        server.skip(5)
        for _ in range(10):
            frame = source.read_frame()
        assert 4 <= frame.metadata["dropped_frames"] <= 6
        server.repeat(4)
        for _ in range(10):
            frame = source.read_frame()
        assert frame.metadata["repeated_frames"] == 4
    finally:
        source.close()


def test_a_stream_camera_shoots_a_headless_session_with_a_simulated_one(
    server: MjpegServer, small_shotlist_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "session"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "capture_assist.cli",
            "run",
            str(small_shotlist_path),
            "--out",
            str(out),
            "--no-progress",
            "--camera",
            f"cam_a=opencv:device={server.url}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert check_done_steps_are_whole(out, cameras=2) == 8
    grabs = sorted(out.rglob("*_cam_a.png"))
    assert len(grabs) == 8
    assert cv2.imread(str(grabs[0])).shape == (240, 320, 3)
    sidecar = json.loads(grabs[0].with_suffix(".json").read_text())
    assert sidecar["camera"]["source_kind"] == "opencv"
    assert sidecar["camera"]["settings"]["delivered_mode"].startswith("320x240")
    assert sidecar["camera"]["identity"]["port"] == server.url


V4L2_LISTING = """\
ioctl: VIDIOC_ENUM_FMT
\tType: Video Capture

\t[0]: 'MJPG' (Motion-JPEG, compressed)
\t\tSize: Discrete 1920x1080
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\t\tInterval: Discrete 0.017s (60.000 fps)
\t\tSize: Discrete 1280x720
\t\t\tInterval: Discrete 0.017s (60.000 fps)
\t[1]: 'YUYV' (YUYV 4:2:2)
\t\tSize: Discrete 1920x1080
\t\t\tInterval: Discrete 0.200s (5.000 fps)
"""


def test_the_modes_a_capture_device_offers_are_read_from_v4l2() -> None:
    assert [mode.describe() for mode in parse_v4l2_formats(V4L2_LISTING)] == [
        "1920x1080 @ 30 fps MJPG",
        "1920x1080 @ 60 fps MJPG",
        "1280x720 @ 60 fps MJPG",
        "1920x1080 @ 5 fps YUYV",
    ]


def test_no_capture_device_lists_nothing(tmp_path: Path) -> None:
    # A folder without video nodes, as on a machine with no capture card.
    assert list_capture_devices(tmp_path) == []
