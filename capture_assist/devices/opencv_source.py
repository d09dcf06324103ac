"""Files and streams through OpenCV: the only module that opens ``cv2.VideoCapture``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from capture_assist.devices.base import DeviceError

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
    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
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
