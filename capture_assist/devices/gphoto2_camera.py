"""Cameras tethered through libgphoto2: the only module that imports ``gphoto2``.

libgphoto2 allows one command in flight per camera and some of its calls can
block forever (a capture whose ObjectAdded event never comes). Every call
therefore runs on this camera's own call thread and is awaited with a timeout;
a call that times out leaves that thread behind, and the camera reconnects on a
fresh one. Error codes -1, -7 and -10 mean the connection is lost; "busy"
(-110) is retried.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import gphoto2 as gp
import numpy as np

from capture_assist.clock import SessionClock
from capture_assist.devices.base import (
    CameraIdentity,
    CapturedStill,
    ConnectionLostError,
    DeviceError,
    Frame,
)

T = TypeVar("T")

CONNECTION_LOST_CODES = frozenset({gp.GP_ERROR, gp.GP_ERROR_IO, gp.GP_ERROR_TIMEOUT})
BUSY_RETRIES = 5
PTPIP_MODEL = "PTP/IP Camera"
LIVE_VIEW_TIMEOUT_S = 3.0
"""A live-view frame takes a real body under 0.2 s; libgphoto2 itself retries for 7.5 s."""
DOWNLOAD_BYTES_PER_S = 2e6
"""The slowest link a download is given time for (PTP/IP over busy Wi-Fi)."""
TETHER_POLL_WAIT_S = 0.005
"""How long a poll for shutter presses waits: events already queued come at once."""
TETHER_POLL_TIMEOUT_S = 1.0
TETHER_EVENTS_PER_POLL = 20
CAPTURE_TIMEOUT_BASE_S = 4.0
"""How long a capture may take beyond twice the exposure before the camera counts as lost."""

RECONNECT_ADVICE = (
    "Check the camera's cable (or Wi-Fi) and that it is switched on; the app reconnects "
    "by itself. Files already downloaded are safe on disk."
)


@dataclass(frozen=True, slots=True)
class DetectedCamera:
    """A camera libgphoto2 can see (serial read by opening it)."""

    model: str
    port: str
    serial: str


class _CallThread:
    """One thread that runs this camera's libgphoto2 calls, one at a time."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._pending: list[tuple[Callable[[], Any], Future[Any]]] = []
        self._wake = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._pending:
                    self._wake.wait()
                call, future = self._pending.pop(0)
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as error:
                    future.set_exception(error)

    def run(self, call: Callable[[], T], timeout_s: float) -> T:
        future: Future[T] = Future()
        with self._wake:
            self._pending.append((call, future))
            self._wake.notify()
        return future.result(timeout=timeout_s)


def _error_code(error: BaseException) -> int | None:
    code = getattr(error, "code", None)
    return code if isinstance(code, int) else None


def _parse_shutter_s(text: str) -> float | None:
    text = text.strip().rstrip("s").strip()
    try:
        if "/" in text:
            numerator, denominator = text.split("/", 1)
            return float(numerator) / float(denominator)
        return float(text)
    except ValueError:
        return None


def _parse_number(text: str) -> float | None:
    match = re.search(r"[-+]?\d+(?:\.\d+)?", text)
    return float(match.group()) if match else None


_NORMALISED_KEYS: dict[str, tuple[tuple[str, ...], Callable[[str], object]]] = {
    "iso": (("iso", "exposureindex"), _parse_number),
    "shutter_s": (("shutterspeed", "shutterspeed2", "exposuretime"), _parse_shutter_s),
    "aperture_f": (("f-number", "aperture", "fnumber"), _parse_number),
    "white_balance": (("whitebalance",), str),
    "white_balance_k": (("colortemperature", "whitebalancecolortemperature"), _parse_number),
    "picture_profile": (("picturestyle", "pictcontrol", "creativestyle", "pictureprofile"), str),
    "battery_percent": (("batterylevel",), _parse_number),
    "exposure_program": (("expprogram", "exposureprogram"), str),
    "focal_length_mm": (("focallength",), _parse_number),
    "serial": (("serialnumber", "eosserialnumber"), str),
}


def normalise_settings(snapshot: Mapping[str, object]) -> dict[str, object]:
    """Return the comparable subset (iso, shutter_s, aperture_f, ...) of a config snapshot."""
    normalised: dict[str, object] = {}
    for key, (names, parse) in _NORMALISED_KEYS.items():
        for name in names:
            raw = snapshot.get(name)
            if raw is not None and str(raw) != "":
                normalised[key] = parse(str(raw))
                break
    return normalised


def _walk_config(widget: Any) -> Iterator[Any]:
    for index in range(widget.count_children()):
        child = widget.get_child(index)
        if child.get_type() in (gp.GP_WIDGET_WINDOW, gp.GP_WIDGET_SECTION):
            yield from _walk_config(child)
        else:
            yield child


class Gphoto2Camera:
    """A libgphoto2 camera implementing the ``StillCamera`` protocol.

    Parameters
    ----------
    source_id
        The camera id from the shot list.
    clock
        The session clock that timestamps frames.
    serial, port, model
        How to find it: the serial number is its identity across replugs; a
        ``ptpip:HOST[:CMDPORT:EVENTPORT]`` port opens a Wi-Fi camera by address.
    call_timeout_s
        Limit for every ordinary call (config, preview, download).
    capture_timeout_s
        Limit for a capture, which hangs when the camera never reports the
        file; by default 4 s plus twice the exposure time the camera is set to.
    delete_from_card
        Whether to delete each still from the card after a verified download.
    """

    def __init__(
        self,
        source_id: str,
        *,
        clock: SessionClock,
        serial: str = "",
        port: str = "",
        model: str = "",
        nominal_fps: float = 25.0,
        call_timeout_s: float = 4.5,
        capture_timeout_s: float | None = None,
        delete_from_card: bool = False,
    ) -> None:
        self._source_id = source_id
        self._clock = clock
        self._wanted_serial = serial
        self._wanted_port = port
        self._wanted_model = model
        self._nominal_fps = nominal_fps
        self.call_timeout_s = call_timeout_s
        self.capture_timeout_s = capture_timeout_s
        self.delete_from_card = delete_from_card
        self._calls = _CallThread(f"gphoto2-{source_id}")
        self._camera: Any = None
        self._identity: CameraIdentity | None = None
        self._sequence = 0
        self._config_snapshot: dict[str, object] = {}
        # Files this app triggered: their ObjectAdded events are not shutter presses.
        self._triggered_files: set[tuple[str, str]] = set()

    @property
    def source_id(self) -> str:
        """The camera id from the shot list."""
        return self._source_id

    @property
    def nominal_fps(self) -> float:
        """The live-view rate aimed at (the camera sets the real one)."""
        return self._nominal_fps

    @property
    def connected(self) -> bool:
        """Whether a session with the camera is open."""
        return self._camera is not None

    def _call(self, description: str, call: Callable[[], T], timeout_s: float | None = None) -> T:
        """Run one libgphoto2 call on the call thread, with a timeout and busy retries."""
        limit = self.call_timeout_s if timeout_s is None else timeout_s
        for retry in range(BUSY_RETRIES + 1):
            try:
                return self._calls.run(call, limit)
            except FutureTimeout:
                self._abandon()
                raise ConnectionLostError(
                    f"camera {self._source_id} did not answer ({description}) "
                    f"within {limit:.0f} s.",
                    RECONNECT_ADVICE,
                ) from None
            except gp.GPhoto2Error as error:
                code = _error_code(error)
                if code == gp.GP_ERROR_CAMERA_BUSY:
                    if retry < BUSY_RETRIES:
                        time.sleep(0.1 * 2**retry)
                        continue
                    raise DeviceError(
                        f"camera {self._source_id} stayed busy during {description} "
                        f"(asked {BUSY_RETRIES + 1} times over 3 s).",
                        "Let it finish what it is doing (writing to the card, a menu open), "
                        "then try again.",
                    ) from error
                if code in CONNECTION_LOST_CODES:
                    self._drop()
                    raise ConnectionLostError(
                        f"lost the connection to camera {self._source_id} ({description}: "
                        f"{error}).",
                        RECONNECT_ADVICE,
                    ) from error
                raise DeviceError(
                    f"camera {self._source_id} refused {description}: {error}."
                ) from error
        raise AssertionError("unreachable: every attempt returns or raises")

    def _abandon(self) -> None:
        """Give up on a stuck call: its thread and camera object are left behind."""
        self._camera = None
        self._calls = _CallThread(f"gphoto2-{self._source_id}")

    def _drop(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                _exit_camera(camera)
            except gp.GPhoto2Error:
                pass  # The connection is already gone; exit only frees the driver.

    def open(self) -> None:
        """Find the camera (by serial, port or model) and open a session.

        A PTP/IP camera has no discovery: its ``port`` may list several
        addresses separated by commas (the addresses a camera on DHCP gets, or
        its ports), tried in order; the one answering with the wanted serial
        number is the camera.
        """
        if self._camera is not None:
            return
        _reserve_fd0()
        candidates = self._candidate_ports()
        failures: list[str] = []
        for port in candidates:
            try:
                self._open_on(port)
                return
            except DeviceError as error:
                if len(candidates) == 1:
                    raise
                failures.append(f"{port}: {error.args[0]}")
        raise ConnectionLostError(
            f"camera {self._source_id} answered on none of its addresses ("
            + "; ".join(failures)
            + ").",
            RECONNECT_ADVICE,
        )

    def _candidate_ports(self) -> list[str]:
        if self._wanted_port.startswith("ptpip:"):
            return [port.strip() for port in self._wanted_port.split(",") if port.strip()]
        return [self._resolve_port()]

    def _open_on(self, port: str) -> None:
        model = PTPIP_MODEL if port.startswith("ptpip:") else self._wanted_model
        camera = self._call("connect", lambda: _open_camera(port, model or None))
        self._camera = camera
        snapshot = self._call("read settings", lambda: _config_snapshot(camera))
        self._config_snapshot = snapshot
        serial = str(snapshot.get("serialnumber", "")) or self._serial_from_summary()
        if self._wanted_serial and serial and serial != self._wanted_serial:
            self._drop()
            raise DeviceError(
                f"the camera on {port} has serial {serial}, not {self._wanted_serial}.",
                "Plug in the right camera or fix the serial in the shot list.",
            )
        self._identity = CameraIdentity(
            make=str(snapshot.get("manufacturer", "")),
            model=str(snapshot.get("cameramodel", snapshot.get("model", self._wanted_model))),
            serial=serial,
            port=port,
        )

    def _serial_from_summary(self) -> str:
        camera = self._camera
        text = str(self._call("read summary", lambda: camera.get_summary().text))
        match = re.search(r"Serial Number:\s*(\S+)", text)
        return match.group(1) if match else ""

    def _resolve_port(self) -> str:
        detected = self._call("list cameras", list_cameras)
        for candidate in detected:
            if self._wanted_serial and candidate.serial == self._wanted_serial:
                return candidate.port
        if not self._wanted_serial:
            for candidate in detected:
                if self._wanted_port and candidate.port == self._wanted_port:
                    return candidate.port
                if self._wanted_model and candidate.model == self._wanted_model:
                    return candidate.port
        wanted = self._wanted_serial or self._wanted_port or self._wanted_model
        seen = ", ".join(f"{c.model} ({c.serial or 'no serial'}) on {c.port}" for c in detected)
        raise DeviceError(
            f"camera {self._source_id} ({wanted}) is not connected; found: {seen or 'no camera'}.",
            "Connect it, switch it on and set it to PC/tether mode.",
        )

    def close(self) -> None:
        """End the session; safe to call twice."""
        if self._camera is not None:
            camera, self._camera = self._camera, None
            try:
                self._calls.run(functools.partial(_exit_camera, camera), self.call_timeout_s)
            except (gp.GPhoto2Error, FutureTimeout):
                pass  # Closing a dead connection has nothing left to save.

    def identity(self) -> CameraIdentity:
        """Return make, model, serial and the port it is on now."""
        if self._identity is None:
            raise DeviceError(f"camera {self._source_id} is not open.")
        return self._identity

    def _require(self) -> Any:
        if self._camera is None:
            raise ConnectionLostError(
                f"camera {self._source_id} is not connected.", RECONNECT_ADVICE
            )
        return self._camera

    def read_frame(self) -> Frame:
        """Return the next live-view frame (at the rate the camera delivers)."""
        camera = self._require()
        data = self._call(
            "live view",
            lambda: _file_bytes(camera.capture_preview()),
            timeout_s=LIVE_VIEW_TIMEOUT_S,
        )
        timestamp = self._clock.now()
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DeviceError(
                f"camera {self._source_id} sent a live-view frame that is not a JPEG."
            )
        frame = Frame(
            pixels=np.ascontiguousarray(bgr[:, :, ::-1]),
            source_id=self._source_id,
            sequence=self._sequence,
            timestamp_s=timestamp,
            metadata={"jpeg_bytes": len(data)},
        )
        self._sequence += 1
        return frame

    def config_snapshot(self) -> dict[str, object]:
        """Read every configuration value (name -> value)."""
        camera = self._require()
        self._config_snapshot = self._call("read settings", lambda: _config_snapshot(camera))
        return dict(self._config_snapshot)

    def settings(self) -> Mapping[str, Any]:
        """Return the normalised settings plus the full snapshot under ``all``."""
        snapshot = self.config_snapshot()
        return {**normalise_settings(snapshot), "all": snapshot}

    def set_setting(self, name: str, value: str | float) -> None:
        """Set one configuration value by its libgphoto2 name (e.g. ``iso``)."""
        camera = self._require()
        self._call("change a setting", lambda: _set_config(camera, name, value))

    def capture_still(self, destination: Path) -> CapturedStill:
        """Trigger, download the original bytes to ``destination``, verify the size."""
        camera = self._require()
        settings = self.settings()
        limit = self.capture_timeout_s
        if limit is None:
            exposure_s = settings.get("shutter_s")
            # Bulb or an unreadable speed: allow a long exposure rather than abandon it.
            exposure = exposure_s if isinstance(exposure_s, float) else 30.0
            limit = CAPTURE_TIMEOUT_BASE_S + 2 * exposure
        trigger_s = self._clock.now()
        path = self._call("capture", lambda: camera.capture(gp.GP_CAPTURE_IMAGE), timeout_s=limit)
        return self._download(path.folder, path.name, destination, trigger_s, settings)

    def _download(
        self,
        folder: str,
        name: str,
        destination: Path,
        trigger_s: float,
        settings: Mapping[str, Any],
    ) -> CapturedStill:
        camera = self._require()
        info = self._call("read file info", lambda: camera.file_get_info(folder, name))
        expected_size = int(info.file.size)
        data = self._call(
            "download",
            lambda: _file_bytes(camera.file_get(folder, name, gp.GP_FILE_TYPE_NORMAL)),
            timeout_s=self.call_timeout_s + expected_size / DOWNLOAD_BYTES_PER_S,
        )
        if len(data) != expected_size:
            raise DeviceError(
                f"{name}: downloaded {len(data)} bytes, the camera reported {expected_size}.",
                "The file stays on the card; retake or download it again.",
            )
        with open(destination, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if self.delete_from_card:
            self._call("delete from card", lambda: camera.file_delete(folder, name))
        return CapturedStill(
            path=destination,
            original_name=name,
            size_bytes=expected_size,
            timestamp_s=trigger_s,
            settings=settings,
        )

    def wait_for_file_added(self, timeout_s: float) -> tuple[str, str] | None:
        """Return ``(folder, name)`` of a file shot on the camera's own button, if one came."""
        camera = self._require()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            event_type, data = self._call(
                "wait for camera events",
                functools.partial(camera.wait_for_event, remaining_ms),
                timeout_s=remaining_ms / 1000 + self.call_timeout_s,
            )
            if event_type == gp.GP_EVENT_FILE_ADDED:
                return str(data.folder), str(data.name)
            if event_type == gp.GP_EVENT_TIMEOUT:
                return None
        return None

    def poll_file_added(self) -> tuple[str, str] | None:
        """Return a file shot on the camera's own button since the last poll, if any.

        A poll that takes longer than ``TETHER_POLL_TIMEOUT_S`` means the camera
        stopped answering (a real body answers in milliseconds): it counts as a
        lost connection, so a frozen camera is noticed in about a second.
        """
        camera = self._require()
        # A body that reports every dial turn is read a batch at a time, never endlessly.
        for _event in range(TETHER_EVENTS_PER_POLL):
            event_type, data = self._call(
                "check for shutter presses",
                functools.partial(camera.wait_for_event, int(TETHER_POLL_WAIT_S * 1000)),
                timeout_s=TETHER_POLL_TIMEOUT_S,
            )
            if event_type == gp.GP_EVENT_TIMEOUT:
                return None
            if event_type != gp.GP_EVENT_FILE_ADDED:
                continue
            added = (str(data.folder), str(data.name))
            if added not in self._triggered_files:
                return added
            self._triggered_files.discard(added)
        return None

    def download_added_file(self, folder: str, name: str, destination: Path) -> CapturedStill:
        """Download a file the camera added on its own (a tethered shot)."""
        return self._download(folder, name, destination, self._clock.now(), self.settings())


def _exit_camera(camera: Any) -> None:
    """End a camera session, then repair what libgphoto2 breaks on the way out.

    libgphoto2 2.5.34 closes file descriptor 0 on every PTP/IP exit (its unused
    Fuji live-view socket number is 0, not -1). Whatever is handed fd 0 next, a
    socket, the session database or a pipe, would be closed under us by the next
    exit: /dev/null goes back on fd 0 at once.
    """
    try:
        camera.exit()
    finally:
        _reserve_fd0()


def _reserve_fd0() -> None:
    try:
        os.fstat(0)
    except OSError:
        null = os.open(os.devnull, os.O_RDONLY)
        if null != 0:
            os.dup2(null, 0)
            os.close(null)


def _file_bytes(camera_file: Any) -> bytes:
    """Copy a CameraFile's bytes while the CameraFile is still alive.

    ``get_data_and_size()`` returns a view into the CameraFile's buffer: calling it on
    a temporary lets the buffer be freed before the copy, and the first bytes of
    the "download" are then the allocator's bookkeeping.
    """
    view = camera_file.get_data_and_size()
    data = bytes(view)
    del view
    return data


def _open_camera(port: str, model: str | None) -> Any:
    camera = gp.Camera()
    if model:
        abilities_list = gp.CameraAbilitiesList()
        abilities_list.load()
        camera.set_abilities(abilities_list[abilities_list.lookup_model(model)])
    port_list = gp.PortInfoList()
    port_list.load()
    camera.set_port_info(port_list[port_list.lookup_path(port)])
    camera.init()
    return camera


def _config_snapshot(camera: Any) -> dict[str, object]:
    snapshot: dict[str, object] = {}
    for widget in _walk_config(camera.get_config()):
        try:
            value = widget.get_value()
        except gp.GPhoto2Error:
            continue  # Write-only widgets (buttons) have no value.
        if isinstance(value, int | float | str):
            snapshot[widget.get_name()] = value
    return snapshot


def _set_config(camera: Any, name: str, value: str | float) -> None:
    """Set one value, refusing values the camera does not offer, and check that it took.

    libgphoto2 passes any text to the driver, which may silently keep the old
    value or round to a neighbour: the value is checked against the camera's
    own choices first and read back after.
    """
    config = camera.get_config()
    try:
        widget = config.get_child_by_name(name)
    except gp.GPhoto2Error:
        raise DeviceError(f"the camera has no setting {name!r}.") from None
    kind = widget.get_type()
    if kind in (gp.GP_WIDGET_RADIO, gp.GP_WIDGET_MENU):
        choices = [str(choice) for choice in widget.get_choices()]
        if str(value) not in choices:
            raise DeviceError(
                f"{value} is not a {name} this camera offers.",
                "Choose one of: " + ", ".join(choices) + ".",
            )
        widget.set_value(str(value))
    elif kind == gp.GP_WIDGET_TEXT:
        widget.set_value(str(value))
    elif kind == gp.GP_WIDGET_TOGGLE:
        widget.set_value(int(value))
    else:
        widget.set_value(float(value))
    camera.set_config(config)
    kept = camera.get_config().get_child_by_name(name).get_value()
    if str(kept) != str(widget.get_value()):
        raise DeviceError(f"the camera kept {name} at {kept} instead of {value}.")


def _describe_and_exit(camera: Any, port: str, model: str) -> DetectedCamera:
    """Read an open camera's model and serial (settings first, then its summary) and close it."""
    try:
        snapshot = _config_snapshot(camera)
        serial = str(snapshot.get("serialnumber", ""))
        if not serial:
            match = re.search(r"Serial Number:\s*(\S+)", str(camera.get_summary().text))
            serial = match.group(1) if match else ""
        model = str(snapshot.get("cameramodel", snapshot.get("model", model)))
    finally:
        _exit_camera(camera)
    return DetectedCamera(model, port, serial)


def list_cameras() -> list[DetectedCamera]:
    """Return every camera libgphoto2 detects, each opened briefly to read its serial."""
    detected = []
    for model, port in gp.Camera.autodetect():
        try:
            found = _describe_and_exit(_open_camera(port, None), str(port), str(model))
            # Autodetection's model name is the one the crew knows the camera by.
            detected.append(DetectedCamera(str(model), found.port, found.serial))
        except gp.GPhoto2Error:
            # A camera busy with another program is still listed, without serial.
            detected.append(DetectedCamera(str(model), str(port), ""))
    return detected


def probe_address(address: str) -> DetectedCamera:
    """Open the PTP/IP camera at ``address`` briefly and describe it.

    Raises
    ------
    DeviceError
        When nothing answers there as a camera, with what to check.
    """
    if not address.startswith("ptpip:"):
        raise DeviceError(f"{address} is not a PTP/IP address (ptpip:HOST[:PORT:PORT]).")
    _reserve_fd0()
    try:
        return _describe_and_exit(_open_camera(address, PTPIP_MODEL), address, PTPIP_MODEL)
    except gp.GPhoto2Error as error:
        raise DeviceError(
            f"no camera answered at {address} ({error}).",
            "Check the camera's Wi-Fi (PC connection) mode and its address.",
        ) from error
