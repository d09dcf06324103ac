"""One thread per device: every call to a device happens on its thread.

libgphoto2 allows one command in flight per camera, so live view and captures
are interleaved on the device's own thread: queued commands run between
frames, and the newest frame waits in a slot that readers poll without ever
blocking the device.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from psygnal import Signal

from capture_assist.devices.base import (
    ConnectionLostError,
    DeviceError,
    Frame,
    StillCamera,
    TetheredCamera,
)

RECONNECT_FIRST_DELAY_S = 0.5
RECONNECT_MAX_DELAY_S = 10.0
TETHER_POLL_INTERVAL_S = 0.2
"""How often a camera is asked for shutter presses on its body."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SlotReading:
    """The newest frame and how many frames the reader never saw."""

    frame: Frame | None
    frames_delivered: int
    frames_replaced_unread: int


class LatestFrameSlot:
    """Holds only the newest frame; a slow reader misses frames instead of queueing them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._frame: Frame | None = None
        self._delivered = 0
        self._replaced_unread = 0
        self._unread = False

    def put(self, frame: Frame) -> None:
        """Store ``frame``, replacing the previous one."""
        with self._lock:
            if self._unread:
                self._replaced_unread += 1
            self._frame = frame
            self._delivered += 1
            self._unread = True
            self._arrived.notify_all()

    def wait_newer(self, sequence: int, timeout_s: float) -> Frame | None:
        """Return the newest frame once it is newer than ``sequence`` (``None`` on timeout).

        For consumers other than the display (the analysis): it does not mark the
        frame as read.
        """
        with self._arrived:
            if self._frame is None or self._frame.sequence <= sequence:
                self._arrived.wait(timeout_s)
            frame = self._frame
        return frame if frame is not None and frame.sequence > sequence else None

    def take(self) -> SlotReading:
        """Return the newest frame (possibly one already seen) and the counters."""
        with self._lock:
            self._unread = False
            return SlotReading(self._frame, self._delivered, self._replaced_unread)


class DeviceWorker:
    """Runs one camera on its own thread: live frames when idle, commands in order.

    Parameters
    ----------
    camera
        The device; no other thread may call it once the worker started.
    live
        Whether to read live frames between commands.
    """

    error = Signal(str, str)
    connection_changed = Signal(str, bool)
    file_added = Signal(str, str, str)
    """A file shot on the camera's own button: (source id, folder, name)."""

    def __init__(self, camera: StillCamera, *, live: bool = True) -> None:
        self.camera = camera
        self.slot = LatestFrameSlot()
        self._live = threading.Event()
        if live:
            self._live.set()
        self._commands: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._loop, name=f"device-{camera.source_id}", daemon=True
        )
        self._started = False
        self._wants_live = live
        self._reconnect_at: float | None = None
        self._reconnect_delay_s = RECONNECT_FIRST_DELAY_S
        self._next_tether_poll = 0.0
        # Checked once: a runtime protocol check on every loop turn costs more than the poll.
        self._tethered = isinstance(camera, TetheredCamera)
        self.connected = False

    @property
    def source_id(self) -> str:
        """The camera id."""
        return self.camera.source_id

    def start(self) -> None:
        """Open the device on its thread and begin serving."""
        if not self._started:
            self._started = True
            self._thread.start()

    def set_live(self, enabled: bool) -> None:
        """Turn live frames on or off (commands run either way)."""
        self._wants_live = enabled
        if enabled:
            self._live.set()
        else:
            self._live.clear()

    def submit(self, command: Callable[[], T]) -> Future[T]:
        """Run ``command`` on the device thread; its result or exception lands in the future."""
        future: Future[T] = Future()
        self._commands.put((command, future))
        return future

    def stop(self, timeout_s: float = 5.0) -> None:
        """Finish the queued commands, close the device and end the thread."""
        if self._started:
            self._commands.put(None)
            self._thread.join(timeout_s)

    def _connect(self) -> None:
        """Open the device; on failure, try again later with a growing delay."""
        try:
            self.camera.open()
        except DeviceError as error:
            self.connected = False
            if self._reconnect_at is not None:
                # Each failed attempt waits twice as long as the one before.
                self._reconnect_delay_s = min(self._reconnect_delay_s * 2, RECONNECT_MAX_DELAY_S)
            self._reconnect_at = time.monotonic() + self._reconnect_delay_s
            self.error.emit(
                self.source_id,
                f"{error} Trying again in {self._reconnect_delay_s:g} s.",
            )
            return
        self.connected = True
        self._reconnect_at = None
        self._reconnect_delay_s = RECONNECT_FIRST_DELAY_S
        if self._wants_live:
            self._live.set()
        self.connection_changed.emit(self.source_id, True)

    def _lost(self, error: DeviceError) -> None:
        self.connected = False
        self._live.clear()
        self.error.emit(self.source_id, str(error))
        self.connection_changed.emit(self.source_id, False)
        self.camera.close()
        self._reconnect_at = time.monotonic() + self._reconnect_delay_s

    def _loop(self) -> None:
        self._connect()
        while True:
            live = self._live.is_set()
            timeout = None
            if self._reconnect_at is not None:
                timeout = max(0.0, self._reconnect_at - time.monotonic())
            elif self.connected and self._tethered:
                timeout = max(0.0, self._next_tether_poll - time.monotonic())
            try:
                # Block only when idle: with live view on, a command waits at most one frame.
                if live:
                    item = self._commands.get(block=False)
                else:
                    item = self._commands.get(timeout=timeout)
            except queue.Empty:
                if self._reconnect_at is not None and time.monotonic() >= self._reconnect_at:
                    self._connect()
                    continue
                if self.connected and time.monotonic() >= self._next_tether_poll:
                    self._poll_shutter_presses()
                if live:
                    self._read_live_frame()
                continue
            if item is None:
                break
            command, future = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(command())
                except ConnectionLostError as exc:
                    future.set_exception(exc)
                    self._lost(exc)
                except BaseException as exc:
                    future.set_exception(exc)
        self.camera.close()

    def _poll_shutter_presses(self) -> None:
        """Report files shot on the body; a few times a second, between frames."""
        self._next_tether_poll = time.monotonic() + TETHER_POLL_INTERVAL_S
        camera = self.camera
        if not self._tethered or not isinstance(camera, TetheredCamera):
            return
        try:
            added = camera.poll_file_added()
        except ConnectionLostError as error:
            self._lost(error)
            return
        except DeviceError as error:
            self.error.emit(self.source_id, str(error))
            return
        if added is not None:
            self.file_added.emit(self.source_id, *added)

    def _read_live_frame(self) -> None:
        try:
            frame = self.camera.read_frame()
        except ConnectionLostError as error:
            self._lost(error)
            return
        except DeviceError as error:
            self.error.emit(self.source_id, str(error))
            self._live.clear()
            return
        self.slot.put(frame)
