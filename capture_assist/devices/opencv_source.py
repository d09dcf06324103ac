"""Files and streams through OpenCV: the only module that opens ``cv2.VideoCapture``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from capture_assist.clock import SessionClock
from capture_assist.devices.base import (
    CameraIdentity,
    CapturedStill,
    ConnectionLostError,
    DeviceError,
    Frame,
)

VIDEO_SUFFIXES = frozenset({".mkv", ".mp4", ".avi", ".mov", ".mpeg", ".mpg", ".webm", ".mjpeg"})


def read_image(path: Path) -> npt.NDArray[np.uint8]:
    """Read a still as RGB.

    Raises
    ------
    DeviceError
        When the file is missing or not an image OpenCV can decode.
    """
    if not path.is_file():
        raise DeviceError(f"{path}: no such file.")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        raise DeviceError(f"{path}: a video, not a still.")
    data = np.fromfile(path, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:
        bgr = None
    if bgr is None:
        raise DeviceError(f"{path}: not an image this app can read (JPEG, PNG, TIFF, ...).")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def iterate_video(path: Path) -> Iterator[tuple[int, float, npt.NDArray[np.uint8]]]:
    """Yield ``(index, timestamp_s, rgb)`` for every frame of a video file.

    Raises
    ------
    DeviceError
        When the file is missing or cannot be decoded.
    """
    if not path.is_file():
        raise DeviceError(f"{path}: no such file.")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DeviceError(f"{path}: not a video this app can read.")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    try:
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            yield index, index / fps, np.ascontiguousarray(bgr[:, :, ::-1])
            index += 1
        if index == 0:
            raise DeviceError(f"{path}: the video has no frame this app can decode.")
    finally:
        capture.release()


NO_SIGNAL_TIMEOUT_S = 1.0
"""A stream that delivers nothing for this long has no signal (the UI says so at once)."""
RATE_WINDOW_FRAMES = 50
"""Frames over which the delivered rate is measured."""
LATE_FRAME_FACTOR = 1.5
"""A frame arriving this many frame intervals after the last means frames were dropped."""


@dataclass(frozen=True, slots=True)
class VideoMode:
    """A video mode: size, rate and pixel format (a FOURCC such as MJPG or YUYV)."""

    width: int
    height: int
    fps: float
    fourcc: str = ""

    def describe(self) -> str:
        """Return the mode as the crew reads it: 1920x1080 @ 30 fps MJPG."""
        return f"{self.width}x{self.height} @ {self.fps:g} fps {self.fourcc}".rstrip()


def _fourcc_text(code: float) -> str:
    value = int(code)
    text = "".join(chr((value >> shift) & 0xFF) for shift in (0, 8, 16, 24))
    return text if text.isprintable() and text.strip() else ""


def _is_stream(device: int | str) -> bool:
    return isinstance(device, str) and "://" in device


class VideoSource:
    """A capture card, a video file or a network stream, read through OpenCV.

    Implements the live-source protocol for a ``DeviceWorker``. Every frame gets
    a sequence number and a session-clock timestamp; frames the source
    dropped (a gap of more than 1.5 frame intervals) and repeated (a frame
    identical to the one before, as some capture cards send when the input
    stalls) are counted in each frame's metadata. A stream that sends nothing
    for ``NO_SIGNAL_TIMEOUT_S`` raises ``ConnectionLostError`` ("no signal"), so
    the worker reopens it with back-off. A file plays at its own rate and
    starts again at its end.

    Parameters
    ----------
    source_id
        The camera id from the shot list.
    device
        A device index, a ``/dev/videoN`` path, a file path, or a URL
        (``http://`` MJPEG, ``rtsp://``, ``udp://``).
    clock
        The session clock that timestamps frames.
    requested
        The mode to ask for; what is delivered is read back (``delivered``).
    """

    def __init__(
        self,
        source_id: str,
        device: int | str,
        *,
        clock: SessionClock,
        requested: VideoMode | None = None,
    ) -> None:
        self._source_id = source_id
        # "0" from a command line is the first capture device, not a file named 0.
        self._device: int | str = (
            int(device) if isinstance(device, str) and device.isdigit() else device
        )
        self._clock = clock
        self.requested = requested
        self.delivered: VideoMode | None = None
        self._capture: cv2.VideoCapture | None = None
        self._sequence = 0
        self._last_timestamp_s: float | None = None
        self._last_fingerprint: bytes | None = None
        self._next_due_s: float | None = None
        self.dropped_frames = 0
        self.repeated_frames = 0
        self._pending_first: npt.NDArray[np.uint8] | None = None
        self._arrivals: deque[float] = deque(maxlen=RATE_WINDOW_FRAMES)

    @property
    def source_id(self) -> str:
        """The camera id from the shot list."""
        return self._source_id

    @property
    def nominal_fps(self) -> float:
        """The delivered rate once open, else the requested one (25 by default)."""
        if self.delivered is not None:
            return self.delivered.fps
        return self.requested.fps if self.requested else 25.0

    @property
    def is_file(self) -> bool:
        """Whether the source is a video file (played at its own rate, looped)."""
        return isinstance(self._device, str) and Path(self._device).is_file()

    def open(self) -> None:
        """Open the source, ask for the requested mode and read back what it delivers."""
        if self._capture is not None:
            return
        device = self._device
        if isinstance(device, str) and not _is_stream(device) and not device.startswith("/dev/"):
            if not Path(device).is_file():
                raise DeviceError(f"{device}: no such video file.")
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(NO_SIGNAL_TIMEOUT_S * 3000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(NO_SIGNAL_TIMEOUT_S * 1000),
        ]
        capture = (
            cv2.VideoCapture(device, cv2.CAP_FFMPEG, timeouts)
            if _is_stream(device) or self.is_file
            else cv2.VideoCapture(device)
        )
        if not capture.isOpened():
            capture.release()
            raise ConnectionLostError(
                f"camera {self._source_id}: no signal from {device}.",
                "Check the cable, the source's output and the address; the app retries by itself.",
            )
        requested = self.requested
        if requested is not None and not self.is_file:
            if requested.fourcc:
                capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*requested.fourcc[:4]))
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, requested.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, requested.height)
            capture.set(cv2.CAP_PROP_FPS, requested.fps)
        ok, first = capture.read()
        if not ok:
            capture.release()
            raise ConnectionLostError(
                f"camera {self._source_id}: {device} opened but sent no picture (no signal).",
                "Check that the source is playing; the app retries by itself.",
            )
        reported_fps = capture.get(cv2.CAP_PROP_FPS)
        fps = reported_fps if 1.0 <= reported_fps <= 240.0 else self.nominal_fps
        # The size is the decoded frame's, never the property the driver claims.
        self.delivered = VideoMode(
            first.shape[1], first.shape[0], fps, _fourcc_text(capture.get(cv2.CAP_PROP_FOURCC))
        )
        self._capture = capture
        self._last_timestamp_s = None
        self._last_fingerprint = None
        self._next_due_s = None
        self._arrivals.clear()
        self._pending_first = np.asarray(first, np.uint8)

    def measured_fps(self) -> float | None:
        """Return the rate frames really arrive at, over the last 50 (``None`` until 10 came).

        Streams often claim a rate they do not keep (FFmpeg reports 25 fps for
        any MJPEG stream): this is what the source really delivers.
        """
        if len(self._arrivals) < 10:
            return None
        span = self._arrivals[-1] - self._arrivals[0]
        return (len(self._arrivals) - 1) / span if span > 0 else None

    @property
    def device(self) -> int | str:
        """The device index, path or URL read now."""
        return self._device

    def switch_to(self, device: int | str) -> None:
        """Read another device, file or URL from now on (the mode asked for stays).

        Raises ``DeviceError`` when the new source cannot be opened; the
        worker then keeps trying it with back-off, as after a lost signal.
        """
        self.close()
        self._device = int(device) if isinstance(device, str) and device.isdigit() else device
        self.delivered = None
        self.dropped_frames = 0
        self.repeated_frames = 0
        self.open()

    def mode_difference(self) -> str | None:
        """Say how the delivered mode differs from the requested one (``None``: as asked).

        The rate compared is the measured one once enough frames came.
        """
        requested, delivered = self.requested, self.delivered
        measured = self.measured_fps()
        if delivered is not None and measured is not None:
            delivered = VideoMode(delivered.width, delivered.height, measured, delivered.fourcc)
        if requested is None or delivered is None:
            return None
        differences = []
        if (requested.width, requested.height) != (delivered.width, delivered.height):
            differences.append(
                f"{delivered.width}x{delivered.height} instead of "
                f"{requested.width}x{requested.height}"
            )
        if abs(requested.fps - delivered.fps) > 0.02 * requested.fps:
            differences.append(f"{delivered.fps:.1f} fps instead of {requested.fps:g}")
        if requested.fourcc and delivered.fourcc and requested.fourcc != delivered.fourcc:
            differences.append(f"{delivered.fourcc} instead of {requested.fourcc}")
        if not differences:
            return None
        return f"camera {self._source_id} delivers " + ", ".join(differences) + "."

    def close(self) -> None:
        """Release the source; safe to call twice."""
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    def _read_bgr(self, capture: cv2.VideoCapture) -> npt.NDArray[np.uint8]:
        first, self._pending_first = self._pending_first, None
        if first is not None:
            return first
        ok, bgr = capture.read()
        if not ok and self.is_file:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = capture.read()
        if not ok:
            self.close()
            raise ConnectionLostError(
                f"camera {self._source_id}: no signal from {self._device} "
                f"(nothing for {NO_SIGNAL_TIMEOUT_S:g} s).",
                "Check the source; recording and live view resume by themselves when it returns.",
            )
        return np.asarray(bgr, np.uint8)

    def read_frame(self) -> Frame:
        """Return the next frame, counting dropped and repeated ones."""
        capture = self._capture
        if capture is None:
            raise ConnectionLostError(f"camera {self._source_id} is not open.")
        if self.is_file:
            self._pace_file()
        bgr = self._read_bgr(capture)
        timestamp = self._clock.now()
        interval = 1.0 / self.nominal_fps
        if self._last_timestamp_s is not None and not self.is_file:
            gap = timestamp - self._last_timestamp_s
            if gap > LATE_FRAME_FACTOR * interval:
                self.dropped_frames += round(gap / interval) - 1
        # A 64-pixel sample is enough to tell a frozen input from a live one with noise.
        fingerprint = bgr[:: max(1, bgr.shape[0] // 8), :: max(1, bgr.shape[1] // 8)].tobytes()
        if fingerprint == self._last_fingerprint:
            self.repeated_frames += 1
        self._last_fingerprint = fingerprint
        self._last_timestamp_s = timestamp
        self._arrivals.append(timestamp)
        frame = Frame(
            np.ascontiguousarray(bgr[:, :, ::-1]),
            self._source_id,
            self._sequence,
            timestamp,
            {
                "dropped_frames": self.dropped_frames,
                "repeated_frames": self.repeated_frames,
            },
        )
        self._sequence += 1
        return frame

    def _pace_file(self) -> None:
        """Play a file at its own rate, as a live source would deliver it."""
        interval = 1.0 / self.nominal_fps
        now = self._clock.now()
        if self._next_due_s is None or now - self._next_due_s > interval:
            self._next_due_s = now
        if self._next_due_s > now:
            time.sleep(self._next_due_s - now)
        self._next_due_s += interval

    def identity(self) -> CameraIdentity:
        """Return what OpenCV can tell of the source (no serial: the address is its identity)."""
        return CameraIdentity("OpenCV", self._backend_name(), "", str(self._device))

    def _backend_name(self) -> str:
        capture = self._capture
        return capture.getBackendName() if capture is not None else "video source"

    def settings(self) -> Mapping[str, Any]:
        """Return the mode asked for, the mode delivered and the frames lost so far."""
        delivered = self.delivered
        return {
            "requested_mode": self.requested.describe() if self.requested else None,
            "delivered_mode": delivered.describe() if delivered else None,
            "measured_fps": self.measured_fps(),
            "dropped_frames": self.dropped_frames,
            "repeated_frames": self.repeated_frames,
        }

    def set_setting(self, name: str, value: str | float) -> None:
        """Refuse: a capture card or stream is set up at its source, not through OpenCV."""
        raise DeviceError(
            f"camera {self._source_id} is read through OpenCV, which cannot set {name}.",
            "Set it on the camera or encoder feeding the card or stream.",
        )

    def capture_still(self, destination: Path) -> CapturedStill:
        """Grab the next frame as a lossless PNG (a frame of the feed, not a camera file)."""
        frame = self.read_frame()
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(frame.pixels[:, :, ::-1]))
        if not ok:
            raise DeviceError(f"camera {self._source_id}: could not encode the frame as PNG.")
        with open(destination, "wb") as handle:
            handle.write(encoded.tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        return CapturedStill(
            destination,
            f"frame_{frame.sequence:06d}.png",
            destination.stat().st_size,
            frame.timestamp_s,
            self.settings(),
        )


@dataclass(frozen=True, slots=True)
class CaptureDevice:
    """A video capture device (a UVC dongle, a capture card) and the modes it offers."""

    path: str
    name: str
    modes: tuple[VideoMode, ...]


_V4L2_FORMAT = re.compile(r"\[\d+\]: '(\w+)'")
_V4L2_SIZE = re.compile(r"Size: Discrete (\d+)x(\d+)")
_V4L2_RATE = re.compile(r"\(([\d.]+) fps\)")


def parse_v4l2_formats(text: str) -> tuple[VideoMode, ...]:
    """Read the modes from ``v4l2-ctl --list-formats-ext`` output (format, size, rates)."""
    modes: list[VideoMode] = []
    fourcc, size = "", (0, 0)
    for line in text.splitlines():
        if match := _V4L2_FORMAT.search(line):
            fourcc = match.group(1)
        elif match := _V4L2_SIZE.search(line):
            size = (int(match.group(1)), int(match.group(2)))
        elif (match := _V4L2_RATE.search(line)) and size != (0, 0):
            modes.append(VideoMode(size[0], size[1], float(match.group(1)), fourcc))
    return tuple(modes)


def list_capture_devices(video_devices: Path = Path("/dev")) -> list[CaptureDevice]:
    """Return the video capture devices present with the modes they offer.

    The modes come from ``v4l2-ctl`` (Debian's v4l-utils) when it is installed;
    without it, the mode a device opens in is read back through OpenCV.
    """
    devices = []
    v4l2_ctl = shutil.which("v4l2-ctl")
    for node in sorted(video_devices.glob("video*")):
        name = node.name
        sysfs_name = Path("/sys/class/video4linux") / node.name / "name"
        if sysfs_name.is_file():
            name = sysfs_name.read_text().strip()
        modes: tuple[VideoMode, ...] = ()
        if v4l2_ctl:
            listing = subprocess.run(
                [v4l2_ctl, "--device", str(node), "--list-formats-ext"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            modes = parse_v4l2_formats(listing.stdout)
        if not modes:
            capture = cv2.VideoCapture(str(node), cv2.CAP_V4L2)
            if not capture.isOpened():
                continue  # a metadata node of a device, not a picture source
            modes = (
                VideoMode(
                    int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                    int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                    float(capture.get(cv2.CAP_PROP_FPS)),
                    _fourcc_text(capture.get(cv2.CAP_PROP_FOURCC)),
                ),
            )
            capture.release()
        devices.append(CaptureDevice(str(node), name, modes))
    return devices
