"""The small protocols every source implements; the rest of the app sees only these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


class DeviceError(RuntimeError):
    """A device failed in a way the crew must be told about.

    Parameters
    ----------
    message
        What failed, in words a crew member understands.
    advice
        What to do about it.
    """

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message)
        self.advice = advice

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} {self.advice}".strip()


class ConnectionLostError(DeviceError):
    """The device stopped answering; what was already saved stays on disk."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One picture from a source.

    Attributes
    ----------
    pixels
        ``H x W x 3`` ``uint8`` array in **RGB** order (the one channel order of the app).
    source_id
        The camera id from the shot list.
    sequence
        Frame counter of this source, starting at 0; gaps mean dropped frames.
    timestamp_s
        Capture instant on the session clock.
    metadata
        Device-specific extras (e.g. exposure of this frame).
    """

    pixels: npt.NDArray[np.uint8]
    source_id: str
    sequence: int
    timestamp_s: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CameraIdentity:
    """Who a camera is: its serial number is its identity across replugs."""

    make: str
    model: str
    serial: str
    port: str


@dataclass(frozen=True, slots=True)
class CapturedStill:
    """A still written by ``capture_still`` to the path it was given.

    Attributes
    ----------
    path
        Where the file's bytes were written.
    original_name
        The file's name on the device (e.g. ``DSC_0042.JPG``).
    size_bytes
        Size the device reported, checked against the file written.
    timestamp_s
        Trigger instant on the session clock.
    settings
        Normalised camera settings at capture time.
    """

    path: Path
    original_name: str
    size_bytes: int
    timestamp_s: float
    settings: Mapping[str, Any]


@runtime_checkable
class LiveSource(Protocol):
    """Something that delivers live frames; call it from one thread only."""

    @property
    def source_id(self) -> str:
        """The camera id from the shot list."""
        ...

    @property
    def nominal_fps(self) -> float:
        """Frames per second the source aims to deliver."""
        ...

    def open(self) -> None:
        """Connect; raise ``DeviceError`` when the device cannot be reached."""
        ...

    def close(self) -> None:
        """Disconnect; safe to call twice."""
        ...

    def read_frame(self) -> Frame:
        """Block until the next frame and return it."""
        ...


@runtime_checkable
class StillCamera(LiveSource, Protocol):
    """A live source that can also take a full-quality still."""

    def identity(self) -> CameraIdentity:
        """Return make, model, serial and port."""
        ...

    def settings(self) -> Mapping[str, Any]:
        """Return the normalised settings (iso, shutter_s, aperture, white_balance_k, ...)."""
        ...

    def capture_still(self, destination: Path) -> CapturedStill:
        """Trigger, download the original bytes to ``destination`` and describe them."""
        ...

    def set_setting(self, name: str, value: str | float) -> None:
        """Set one camera setting by its libgphoto2 name (``iso``, ``colortemperature``...).

        Raises ``DeviceError`` when the camera has no such setting or refuses the value.
        """
        ...


@runtime_checkable
class TetheredCamera(StillCamera, Protocol):
    """A camera whose own shutter button adds files the app can pick up."""

    def poll_file_added(self) -> tuple[str, str] | None:
        """Return ``(folder, name)`` of a file shot on the body since the last poll, if any.

        Never waits long: the worker polls between live frames.
        """
        ...

    def download_added_file(self, folder: str, name: str, destination: Path) -> CapturedStill:
        """Download a file shot on the body, byte-exact, to ``destination``."""
        ...
