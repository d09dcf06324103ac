"""A PTP/IP camera on 127.0.0.1 that the real libgphoto2 (ptp2 camlib) can tether.

Run it in its own process: python-gphoto2 holds the GIL during some calls
(``exit``, ``get_summary``, ``file_delete``), which would stall an emulator thread
in the test process until libgphoto2's 2.5 s socket timeout.

    python tests/ptpip/emulator.py --port 0 --control-port 0 [--vendor nikon|generic]
        [--model NAME] [--serial TEXT] [--fps N] [--capture-size BYTES] [--verbose]

It prints one JSON line, ``{"ptpip_port": P, "control_port": C, "pid": N}``, and
nothing else on stdout; it serves until its stdin closes (so it never outlives the
process that started it) or a ``shutdown`` command arrives. gphoto2 opens it as
model ``PTP/IP Camera`` on port ``ptpip:127.0.0.1:P:P``: one listening port serves
both the command and the event socket, told apart by their first packet.

Vendor modes (chosen at start, or with ``configure`` before the next connection):

- ``nikon``: VendorExtensionID 0x0000000A; live view through StartLiveView 0x9201,
  EndLiveView 0x9202, GetLiveViewImg 0x9203, DeviceReady 0x90C8 and property 0xD1A2.
- ``generic``: VendorExtensionID 0; live view through GetStreamInfo 0x1024,
  GetStream 0x1025 and properties 0x5020 SupportedStreams, 0x5021 EnabledStreams.

Live-view frames are ~90 KB 640x480 JPEGs of a moving pattern with the frame
number drawn on it (modulo 300), without EXIF. With ``--fps`` the body is a sensor
running at that rate: a request that comes before the next frame waits for it (at
most one frame interval), a late one gets the latest frame. Captures are
1200x800 JPEGs with EXIF Make, Model, ISO, FNumber and ExposureTime, padded with
APP15 segments of noise to ``--capture-size`` bytes (e.g. 30 MB for download
benchmarks); they land in /DCIM/100EMULA, both folders being association objects.

Control channel: TCP on 127.0.0.1:C, one JSON object a line, one reply line each,
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``:

- ``{"cmd": "status"}``: ports, settings, faults, ``frames_served``, ``captures``,
  ``operations`` (requests received, by operation name), ``property_sets`` (every
  accepted SetDevicePropValue as ``{"code": "0x500f", "value": 400}``) and ``files``
  (each capture's ``handle``, ``folder``, ``name``, ``size`` and ``sha256``).
- ``{"cmd": "press_shutter"}``: a shot taken on the body; sends an unsolicited
  ObjectAdded on every open event socket and replies with the new ``file``.
- ``{"cmd": "configure", ...}`` with any of ``model``, ``serial``, ``vendor``
  (read by the driver at its next ``init``), ``fps`` (a number >= 1, or null for
  unthrottled live view; restarts the frame clock) and ``capture_size`` (bytes the
  next captures are padded to; 0 keeps the natural size).
- ``{"cmd": "fault", "name": ...}`` arms a fault until ``clear_faults``:
  ``die_mid_download`` (once: the next GetObject/GetPartialObject sends half its
  data, then both sockets close), ``freeze`` (nothing is answered any more, on
  open or new connections, but every socket stays open), ``no_capture_events``
  (InitiateCapture is answered OK, then nothing follows), ``refuse_connections``
  (every new connection is reset right after accept), ``busy`` with ``count``
  (the next ``count`` InitiateCapture requests are answered DeviceBusy).
- ``{"cmd": "clear_faults"}``.
- ``{"cmd": "stop_listening"}``: close the listening port (open sessions go on).
- ``{"cmd": "listen", "port": 0}``: come back on another port: drop every session,
  listen on the given port (0 picks a free one) and reply with ``ptpip_port``.
- ``{"cmd": "shutdown"}``.

``EmulatorProcess`` starts one from a test or a benchmark and speaks the control
channel.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import io
import itertools
import json
import logging
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

log = logging.getLogger("ptpip-emulator")

# PTP/IP packet types.
INIT_COMMAND_REQUEST = 1
INIT_COMMAND_ACK = 2
INIT_EVENT_REQUEST = 3
INIT_EVENT_ACK = 4
INIT_FAIL = 5
OPERATION_REQUEST = 6
OPERATION_RESPONSE = 7
EVENT = 8
START_DATA = 9
DATA = 10
END_DATA = 12

HOST_TO_CAMERA_DATA = 2

OPERATION_NAMES = {
    0x1001: "GetDeviceInfo",
    0x1002: "OpenSession",
    0x1003: "CloseSession",
    0x1004: "GetStorageIDs",
    0x1005: "GetStorageInfo",
    0x1007: "GetObjectHandles",
    0x1008: "GetObjectInfo",
    0x1009: "GetObject",
    0x100B: "DeleteObject",
    0x100E: "InitiateCapture",
    0x1014: "GetDevicePropDesc",
    0x1015: "GetDevicePropValue",
    0x1016: "SetDevicePropValue",
    0x101B: "GetPartialObject",
    0x1024: "GetStreamInfo",
    0x1025: "GetStream",
    0x90C8: "DeviceReady",
    0x9201: "StartLiveView",
    0x9202: "EndLiveView",
    0x9203: "GetLiveViewImg",
}
COMMON_OPERATIONS = [
    0x1001, 0x1002, 0x1003, 0x1004, 0x1005, 0x1007, 0x1008,
    0x1009, 0x100B, 0x100E, 0x1014, 0x1015, 0x1016, 0x101B,
]  # fmt: skip
NIKON_OPERATIONS = [0x90C8, 0x9201, 0x9202, 0x9203]
GENERIC_OPERATIONS = [0x1024, 0x1025]

RC_OK = 0x2001
RC_GENERAL_ERROR = 0x2002
RC_SESSION_NOT_OPEN = 0x2003
RC_OPERATION_NOT_SUPPORTED = 0x2005
RC_INVALID_STORAGE_ID = 0x2008
RC_INVALID_OBJECT_HANDLE = 0x2009
RC_DEVICE_PROP_NOT_SUPPORTED = 0x200A
RC_ACCESS_DENIED = 0x200F
RC_INVALID_DEVICE_PROP_VALUE = 0x201C
RC_SESSION_ALREADY_OPEN = 0x201E
RC_DEVICE_BUSY = 0x2019
RC_NIKON_NOT_LIVE_VIEW = 0xA00B

EVENT_OBJECT_ADDED = 0x4002
EVENT_CAPTURE_COMPLETE = 0x400D
NO_TRANSACTION = 0xFFFFFFFF

UINT8, UINT16, UINT32, STRING = 0x0002, 0x0004, 0x0006, 0xFFFF
VALUE_FORMATS = {UINT8: "<B", UINT16: "<H", UINT32: "<I"}

BATTERY_LEVEL = 0x5001
WHITE_BALANCE = 0x5005
F_NUMBER = 0x5007
EXPOSURE_TIME = 0x500D
EXPOSURE_PROGRAM_MODE = 0x500E
EXPOSURE_INDEX = 0x500F
DATE_TIME = 0x5011
SUPPORTED_STREAMS = 0x5020
ENABLED_STREAMS = 0x5021
NIKON_LIVE_VIEW_STATUS = 0xD1A2

FORMAT_ASSOCIATION = 0x3001
FORMAT_EXIF_JPEG = 0x3801
ASSOCIATION_GENERIC_FOLDER = 0x0001

VENDOR_IDS = {"nikon": 0x0000000A, "generic": 0x00000000}
STORAGE_ID = 0x00010001
ALL_STORAGES = 0xFFFFFFFF
ROOT_ONLY = 0xFFFFFFFF
DCIM_HANDLE, FOLDER_HANDLE = 1, 2
CAPTURE_FOLDER = "100EMULA"

# Real Nikon bodies put an information header in front of the live-view JPEG; the
# driver searches for the SOI, so a zero-filled one exercises that search.
NIKON_LIVE_VIEW_HEADER = bytes(384)
DATA_PIECE = 1024 * 1024  # one GetPartialObject chunk of the driver goes in one packet
APP_SEGMENT_MAX = 65537  # marker, length and at most 65533 payload bytes
EMULATOR_GUID = bytes(range(0x10, 0x20))
DEFAULT_MODEL = "Emulated PTPIP Body"
DEFAULT_SERIAL = "EMU-000001"
MANUFACTURER = "Capture Assist Emulator"
CAPTURE_PIXELS = (1200, 800)
LIVE_VIEW_PIXELS = (640, 480)
LIVE_VIEW_LOOP = 300  # frames: 10 s at 30 fps, ~27 MB once all are rendered
TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class ConnectionClosed(Exception):
    """The peer closed the socket, or the emulator dropped the session."""


def model_workaround(model: str) -> str | None:
    """Say which ptp2 model workaround a DeviceInfo model name would trip, if any."""
    if model[:1] in ("J", "V") or (model[:1] == "S" and len(model) < 3):
        return "Nikon 1 series (names starting J or V, or S plus at most one character)"
    nikon_number = re.match(r"D(\d+)", model)
    if nikon_number and 3000 <= int(nikon_number.group(1)) < 3999:
        return "Nikon D3xxx hidden-command lists"
    if model == "COOLPIX A":
        return "COOLPIX A hidden-command list"
    return None


# --- wire format -------------------------------------------------------------------------------


def ptp_string(text: str) -> bytes:
    if not text:
        return b"\x00"
    return bytes([len(text) + 1]) + (text + "\x00").encode("utf-16-le")


def read_ptp_string(data: bytes) -> str:
    count = data[0]
    return data[1 : 1 + 2 * count].decode("utf-16-le").rstrip("\x00")


def u16_array(values: list[int]) -> bytes:
    return struct.pack(f"<I{len(values)}H", len(values), *values)


def u32_array(values: list[int]) -> bytes:
    return struct.pack(f"<I{len(values)}I", len(values), *values)


def packet(packet_type: int, body: bytes = b"") -> bytes:
    return struct.pack("<II", 8 + len(body), packet_type) + body


def recv_exact(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:], size - received)
        if count == 0:
            raise ConnectionClosed
        if TCP_QUICKACK is not None:
            # Linux turns quick ACKs off again after a while: without this, delayed
            # ACKs add ~40 ms to exchanges where the host writes twice in a row.
            sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
        received += count
    return bytes(buffer)


def read_packet(sock: socket.socket) -> tuple[int, bytes]:
    length, packet_type = struct.unpack("<II", recv_exact(sock, 8))
    if length < 8:
        raise ConnectionClosed
    return packet_type, recv_exact(sock, length - 8)


def close_now(sock: socket.socket) -> None:
    """Close a socket so the peer and any thread blocked on it see it at once."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def reset_connection(sock: socket.socket) -> None:
    """Close with an RST (zero linger), as a camera refusing the host would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# --- camera state ------------------------------------------------------------------------------


@dataclass
class Property:
    code: int
    datatype: int
    value: int | str
    writable: bool
    choices: list[int] = field(default_factory=list)
    value_range: tuple[int, int, int] | None = None

    def pack_value(self, value: int | str) -> bytes:
        if self.datatype == STRING:
            return ptp_string(str(value))
        return struct.pack(VALUE_FORMATS[self.datatype], value)

    def unpack_value(self, data: bytes) -> int | str:
        if self.datatype == STRING:
            return read_ptp_string(data)
        return int(struct.unpack_from(VALUE_FORMATS[self.datatype], data)[0])

    def accepts(self, value: int | str) -> bool:
        if self.choices:
            return value in self.choices
        if self.value_range is not None and isinstance(value, int):
            low, high, step = self.value_range
            return low <= value <= high and (value - low) % step == 0
        return True

    def descriptor(self) -> bytes:
        header = struct.pack("<HHB", self.code, self.datatype, int(self.writable))
        values = self.pack_value(self.value) * 2  # factory default, then current
        if self.choices:
            form = b"\x02" + struct.pack("<H", len(self.choices))
            form += b"".join(self.pack_value(choice) for choice in self.choices)
        elif self.value_range is not None:
            form = b"\x01" + b"".join(self.pack_value(bound) for bound in self.value_range)
        else:
            form = b"\x00"
        return header + values + form


def standard_properties(vendor: str) -> dict[int, Property]:
    properties = [
        Property(BATTERY_LEVEL, UINT8, 87, writable=False, value_range=(0, 100, 1)),
        Property(WHITE_BALANCE, UINT16, 2, writable=True, choices=[2, 4, 5, 6, 7]),
        Property(F_NUMBER, UINT16, 560, writable=True, choices=[280, 400, 560, 800, 1100, 1600]),
        # 1/10000 s units: 1/1000 s up to 1/8 s.
        Property(
            EXPOSURE_TIME, UINT32, 80, writable=True, choices=[10, 20, 40, 80, 166, 333, 666, 1250]
        ),
        Property(EXPOSURE_PROGRAM_MODE, UINT16, 1, writable=True, choices=[1, 2, 3, 4]),
        Property(
            EXPOSURE_INDEX,
            UINT16,
            100,
            writable=True,
            choices=[100, 200, 400, 800, 1600, 3200, 6400],
        ),
        Property(DATE_TIME, STRING, datetime.now().strftime("%Y%m%dT%H%M%S"), writable=True),
    ]
    if vendor == "nikon":
        properties.append(
            Property(NIKON_LIVE_VIEW_STATUS, UINT8, 0, writable=False, choices=[0, 1])
        )
    else:
        properties.append(Property(SUPPORTED_STREAMS, UINT32, 1, writable=False))
        properties.append(Property(ENABLED_STREAMS, UINT32, 0, writable=True, choices=[0, 1]))
    return {prop.code: prop for prop in properties}


@dataclass
class StoredObject:
    handle: int
    parent: int
    name: str
    data: bytes | None  # None for a folder
    created: datetime

    @functools.cached_property
    def sha256(self) -> str:
        # Hashed when first asked for: 30 MB take 60 ms, which a capture should not wait.
        return hashlib.sha256(self.data or b"").hexdigest()

    def info(self) -> bytes:
        is_folder = self.data is None
        size = 0 if self.data is None else len(self.data)
        width, height = (0, 0) if is_folder else CAPTURE_PIXELS
        stamp = ptp_string(self.created.strftime("%Y%m%dT%H%M%S"))
        return (
            struct.pack(
                "<IHHIHIIIIIIIHII",
                STORAGE_ID,
                FORMAT_ASSOCIATION if is_folder else FORMAT_EXIF_JPEG,
                0,  # no protection
                size,
                0,  # no thumbnail
                0,
                0,
                0,
                width,
                height,
                0 if is_folder else 24,
                self.parent,
                ASSOCIATION_GENERIC_FOLDER if is_folder else 0,
                0,
                0,
            )
            + ptp_string(self.name)
            + stamp
            + stamp
            + ptp_string("")
        )

    def summary(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "folder": f"/store_{STORAGE_ID:08x}/DCIM/{CAPTURE_FOLDER}",
            "name": self.name,
            "size": 0 if self.data is None else len(self.data),
            "sha256": self.sha256,
        }


class LiveViewFrames:
    """Moving ~90 KB 640x480 JPEGs with their number drawn on them.

    Frames repeat every ``LIVE_VIEW_LOOP`` (the drawn number is the frame number
    modulo that): encoding costs ~1.2 ms a frame, several times what libgphoto2
    spends on one, so an unthrottled host would measure the emulator instead.
    """

    def __init__(self) -> None:
        width, height = LIVE_VIEW_PIXELS
        rows, columns = np.mgrid[0:height, 0:width]
        gradient = np.dstack(
            [
                columns * 255 // width,
                rows * 255 // height,
                (rows + columns) * 255 // (width + height),
            ]
        )
        # Fixed noise gives real-camera-sized JPEGs instead of 20 KB gradients.
        noise = np.random.default_rng(7).integers(-24, 24, size=(height, width, 3))
        self._background = np.clip(gradient + noise, 0, 255).astype(np.uint8)
        self._rendered: dict[int, bytes] = {}

    def frame(self, number: int) -> bytes:
        position = number % LIVE_VIEW_LOOP
        if position not in self._rendered:
            self._rendered[position] = self._render(position)
        return self._rendered[position]

    def prepare(self, number: int) -> None:
        """Render a frame ahead, while the host is busy with the previous one."""
        self.frame(number)

    def _render(self, number: int) -> bytes:
        width, height = LIVE_VIEW_PIXELS
        image = np.roll(self._background, (number * 4) % width, axis=1)
        centre = (
            int(width / 2 + 200 * np.cos(number / 10)),
            int(height / 2 + 150 * np.sin(number / 10)),
        )
        cv2.circle(image, centre, 40, (0, 0, 255), -1)
        cv2.putText(
            image, f"{number:06d}", (40, 260), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6
        )
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise RuntimeError("live-view frame did not encode")
        return encoded.tobytes()


class FrameClock:
    """A sensor producing frames at ``fps``: a request before the next frame waits for it."""

    def __init__(self, fps: float | None) -> None:
        self.fps = fps
        self.start = time.monotonic()
        self.last = -1

    def next_frame(self) -> int:
        if self.fps is None:
            self.last += 1
            return self.last
        now = time.monotonic()
        latest = int((now - self.start) * self.fps)
        number = max(self.last + 1, latest)
        due = self.start + number / self.fps
        if due > now:
            time.sleep(due - now)  # at most one frame interval: well under the 2.5 s timeout
        self.last = number
        return number


def render_capture(number: int, make: str, model: str, properties: dict[int, Property]) -> bytes:
    width, height = CAPTURE_PIXELS
    rows, columns = np.mgrid[0:height, 0:width]
    image = np.dstack(
        [
            columns * 200 // width + 30,
            rows * 200 // height + 30,
            np.full_like(rows, 90 + number * 7 % 120),
        ]
    ).astype(np.uint8)
    cv2.putText(
        image, f"capture {number:04d}", (60, 420), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8
    )
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    details = exif.get_ifd(0x8769)
    details[0x8827] = int(properties[EXPOSURE_INDEX].value)
    details[0x829D] = int(properties[F_NUMBER].value) / 100
    details[0x829A] = int(properties[EXPOSURE_TIME].value) / 10000
    details[0x9003] = datetime.now().strftime("%Y:%m:%d %H:%M:%S")
    encoded = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(
        encoded, "JPEG", quality=90, exif=exif
    )
    return encoded.getvalue()


def pad_jpeg(jpeg: bytes, size: int, noise: bytes) -> bytes:
    """Grow a JPEG to ``size`` bytes with APP15 segments of ``noise`` after its APP segments.

    Decoders skip APPn segments by their length, so the file stays a valid JPEG, and
    noise keeps a download from compressing anywhere on the way. A size less than 4
    bytes over the natural one cannot be reached and leaves the JPEG as it is.
    """
    missing = size - len(jpeg)
    if missing < 4:
        return jpeg
    position = 2
    while jpeg[position] == 0xFF and 0xE0 <= jpeg[position + 1] <= 0xEF:
        position += 2 + struct.unpack_from(">H", jpeg, position + 2)[0]
    count = -(-missing // APP_SEGMENT_MAX)
    noise_view = memoryview(noise)
    segments: list[bytes | memoryview] = []
    offset = 0
    for index in range(count):
        total = missing // count + (1 if index < missing % count else 0)
        segments += [
            b"\xff\xef" + struct.pack(">H", total - 2),
            noise_view[offset : offset + total - 4],
        ]
        offset += total
    return jpeg[:position] + b"".join(segments) + jpeg[position:]


Params = tuple[int, ...]
Payload = bytes | None  # the host's data phase, if the operation has one


@dataclass
class Reply:
    code: int = RC_OK
    params: Params = ()
    data: bytes | None = None  # the camera's data phase
    after: Callable[[], None] | None = None  # work for once the response is out


@dataclass
class Settings:
    vendor: str
    model: str
    serial: str
    fps: float | None
    capture_size: int


class CameraBody:
    """What the camera knows and does: properties, card contents, live view, captures."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.properties = standard_properties(settings.vendor)
        now = datetime.now()
        self.objects: dict[int, StoredObject] = {
            DCIM_HANDLE: StoredObject(DCIM_HANDLE, 0, "DCIM", None, now),
            FOLDER_HANDLE: StoredObject(FOLDER_HANDLE, DCIM_HANDLE, CAPTURE_FOLDER, None, now),
        }
        self.handles = itertools.count(FOLDER_HANDLE + 1)
        self.captures = 0
        self.frames_served = 0
        self.operations: Counter[str] = Counter()
        self.property_sets: list[dict[str, Any]] = []
        self.no_capture_events = False
        self.busy_captures = 0  # InitiateCapture answers DeviceBusy this many more times
        self.padding_noise = b""
        self.live_view = LiveViewFrames()
        self.clock = FrameClock(settings.fps)
        self.live_view_on = False

    # Settings and properties ----------------------------------------------------------------

    def configure(self, changes: dict[str, Any]) -> None:
        with self.lock:
            if "model" in changes:
                reason = model_workaround(str(changes["model"]))
                if reason:
                    raise ValueError(
                        f"model {changes['model']!r} trips the ptp2 {reason} workaround"
                    )
                self.settings.model = str(changes["model"])
            if "serial" in changes:
                self.settings.serial = str(changes["serial"])
            if "vendor" in changes:
                if changes["vendor"] not in VENDOR_IDS:
                    raise ValueError(f"vendor must be one of {sorted(VENDOR_IDS)}")
                self.settings.vendor = changes["vendor"]
                self.properties = standard_properties(self.settings.vendor)
            if "fps" in changes:
                fps = changes["fps"]
                if fps is not None and fps < 1:
                    raise ValueError(
                        "fps must be at least 1 (a frame wait must stay under 2.5 s) or null"
                    )
                self.settings.fps = fps
                self.clock = FrameClock(fps)
            if "capture_size" in changes:
                self.settings.capture_size = int(changes["capture_size"])

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {
                "vendor": self.settings.vendor,
                "model": self.settings.model,
                "serial": self.settings.serial,
                "fps": self.settings.fps,
                "capture_size": self.settings.capture_size,
                "live_view": self.live_view_on,
                "frames_served": self.frames_served,
                "captures": self.captures,
                "operations": dict(self.operations),
                "property_sets": list(self.property_sets),
                "files": [obj.summary() for obj in self.objects.values() if obj.data is not None],
            }

    def device_info(self) -> bytes:
        vendor_operations = (
            NIKON_OPERATIONS if self.settings.vendor == "nikon" else GENERIC_OPERATIONS
        )
        return (
            struct.pack("<HIH", 100, VENDOR_IDS[self.settings.vendor], 100)
            + ptp_string("")
            + struct.pack("<H", 0)
            + u16_array(COMMON_OPERATIONS + vendor_operations)
            + u16_array([EVENT_OBJECT_ADDED, EVENT_CAPTURE_COMPLETE])
            + u16_array(list(self.properties))
            + u16_array([FORMAT_EXIF_JPEG])
            + u16_array([FORMAT_EXIF_JPEG, FORMAT_ASSOCIATION])
            + ptp_string(MANUFACTURER)
            + ptp_string(self.settings.model)
            + ptp_string("1.0")
            + ptp_string(self.settings.serial)
        )

    # Captures ------------------------------------------------------------------------------------

    def take_picture(self) -> StoredObject:
        with self.lock:
            handle = next(self.handles)
            self.captures += 1
            number = self.captures
            properties = dict(self.properties)
            make, model, size = MANUFACTURER, self.settings.model, self.settings.capture_size
        if len(self.padding_noise) < size:
            # Made once and shared by all captures: their pictures differ anyway.
            self.padding_noise = np.random.default_rng(size).bytes(size)
        data = pad_jpeg(render_capture(number, make, model, properties), size, self.padding_noise)
        stored = StoredObject(handle, FOLDER_HANDLE, f"EMU_{number:04d}.JPG", data, datetime.now())
        with self.lock:
            self.objects[handle] = stored
        return stored

    # Live view ------------------------------------------------------------------------------------

    def set_live_view(self, on: bool) -> None:
        with self.lock:
            self.live_view_on = on
            if self.settings.vendor == "nikon":
                self.properties[NIKON_LIVE_VIEW_STATUS].value = int(on)
            if on:
                self.clock = FrameClock(self.settings.fps)

    def next_frame(self) -> tuple[bytes, Callable[[], None]]:
        """Wait for the next frame; also return the work that renders the one after it."""
        clock = self.clock
        number = clock.next_frame()
        frame = self.live_view.frame(number)
        with self.lock:
            self.frames_served += 1
        return frame, lambda: self.live_view.prepare(clock.last + 1)

    # Operations ------------------------------------------------------------------------------------

    def handle(self, session: Session, code: int, params: Params, data: Payload) -> Reply:
        name = OPERATION_NAMES.get(code)
        with self.lock:
            self.operations[name or f"0x{code:04x}"] += 1
        vendor_operations = (
            NIKON_OPERATIONS if self.settings.vendor == "nikon" else GENERIC_OPERATIONS
        )
        if name is None or (code not in COMMON_OPERATIONS and code not in vendor_operations):
            return Reply(RC_OPERATION_NOT_SUPPORTED)
        if name == "InitiateCapture" and self.busy_captures > 0:
            self.busy_captures -= 1
            return Reply(RC_DEVICE_BUSY)
        if name == "GetDeviceInfo":
            return Reply(data=self.device_info())
        if name == "OpenSession":
            if session.open:
                return Reply(RC_SESSION_ALREADY_OPEN)
            session.open = True
            return Reply()
        if not session.open:
            return Reply(RC_SESSION_NOT_OPEN)
        handler: Callable[[Session, Params, Payload], Reply] = getattr(self, f"_{name}")
        return handler(session, params + (0,) * (5 - len(params)), data)

    def _CloseSession(self, session: Session, params: Params, data: Payload) -> Reply:
        session.open = False
        return Reply()

    def _GetStorageIDs(self, session: Session, params: Params, data: Payload) -> Reply:
        return Reply(data=u32_array([STORAGE_ID]))

    def _GetStorageInfo(self, session: Session, params: Params, data: Payload) -> Reply:
        if params[0] != STORAGE_ID:
            return Reply(RC_INVALID_STORAGE_ID)
        capacity = 64 * 1024**3
        with self.lock:
            used = sum(len(obj.data) for obj in self.objects.values() if obj.data is not None)
        info = struct.pack("<HHHQQI", 0x0004, 0x0003, 0x0000, capacity, capacity - used, 9999)
        return Reply(data=info + ptp_string("Emulated card") + ptp_string("EMULATOR"))

    def _GetObjectHandles(self, session: Session, params: Params, data: Payload) -> Reply:
        storage, _format, parent = params[:3]
        if storage not in (STORAGE_ID, ALL_STORAGES):
            return Reply(RC_INVALID_STORAGE_ID)
        with self.lock:
            if parent == 0:
                handles = list(self.objects)
            else:
                wanted_parent = 0 if parent == ROOT_ONLY else parent
                handles = [
                    obj.handle for obj in self.objects.values() if obj.parent == wanted_parent
                ]
        return Reply(data=u32_array(handles))

    def _GetObjectInfo(self, session: Session, params: Params, data: Payload) -> Reply:
        stored = self.objects.get(params[0])
        if stored is None:
            return Reply(RC_INVALID_OBJECT_HANDLE)
        return Reply(data=stored.info())

    def _GetObject(self, session: Session, params: Params, data: Payload) -> Reply:
        stored = self.objects.get(params[0])
        if stored is None or stored.data is None:
            return Reply(RC_INVALID_OBJECT_HANDLE)
        return Reply(data=stored.data)

    def _GetPartialObject(self, session: Session, params: Params, data: Payload) -> Reply:
        handle, offset, max_bytes = params[:3]
        stored = self.objects.get(handle)
        if stored is None or stored.data is None:
            return Reply(RC_INVALID_OBJECT_HANDLE)
        chunk = stored.data[offset : offset + max_bytes]
        return Reply(params=(len(chunk),), data=chunk)

    def _DeleteObject(self, session: Session, params: Params, data: Payload) -> Reply:
        with self.lock:
            stored = self.objects.get(params[0])
            if stored is None or stored.data is None:
                return Reply(RC_INVALID_OBJECT_HANDLE)
            del self.objects[params[0]]
        return Reply()

    def _InitiateCapture(self, session: Session, params: Params, data: Payload) -> Reply:
        if self.no_capture_events:
            return Reply()

        transaction = session.last_transaction

        def report_capture() -> None:
            # The host only waits 2.5 s for a response: answer first, shoot, then report.
            stored = self.take_picture()
            session.send_event(EVENT_OBJECT_ADDED, transaction, stored.handle)
            session.send_event(EVENT_CAPTURE_COMPLETE, transaction)

        return Reply(after=report_capture)

    def _property(self, code: int) -> Property | None:
        return self.properties.get(code)

    def _GetDevicePropDesc(self, session: Session, params: Params, data: Payload) -> Reply:
        prop = self._property(params[0])
        if prop is None:
            return Reply(RC_DEVICE_PROP_NOT_SUPPORTED)
        with self.lock:
            return Reply(data=prop.descriptor())

    def _GetDevicePropValue(self, session: Session, params: Params, data: Payload) -> Reply:
        prop = self._property(params[0])
        if prop is None:
            return Reply(RC_DEVICE_PROP_NOT_SUPPORTED)
        with self.lock:
            return Reply(data=prop.pack_value(prop.value))

    def _SetDevicePropValue(self, session: Session, params: Params, data: Payload) -> Reply:
        prop = self._property(params[0])
        if prop is None:
            return Reply(RC_DEVICE_PROP_NOT_SUPPORTED)
        if not prop.writable:
            return Reply(RC_ACCESS_DENIED)
        try:
            value = prop.unpack_value(data or b"")
        except (struct.error, IndexError, UnicodeDecodeError):
            return Reply(RC_INVALID_DEVICE_PROP_VALUE)
        if not prop.accepts(value):
            return Reply(RC_INVALID_DEVICE_PROP_VALUE)
        with self.lock:
            prop.value = value
            self.property_sets.append({"code": f"0x{prop.code:04x}", "value": value})
        if prop.code == ENABLED_STREAMS:
            self.set_live_view(bool(int(value) & 1))
        return Reply()

    def _DeviceReady(self, session: Session, params: Params, data: Payload) -> Reply:
        return Reply()

    def _StartLiveView(self, session: Session, params: Params, data: Payload) -> Reply:
        self.set_live_view(True)
        return Reply()

    def _EndLiveView(self, session: Session, params: Params, data: Payload) -> Reply:
        # The driver sends this on every exit and skips CloseSession if it fails.
        self.set_live_view(False)
        return Reply()

    def _GetLiveViewImg(self, session: Session, params: Params, data: Payload) -> Reply:
        if not self.live_view_on:
            return Reply(RC_NIKON_NOT_LIVE_VIEW)
        frame, render_next = self.next_frame()
        return Reply(data=NIKON_LIVE_VIEW_HEADER + frame, after=render_next)

    def _GetStreamInfo(self, session: Session, params: Params, data: Payload) -> Reply:
        if params[0] != 1:
            return Reply(RC_GENERAL_ERROR)
        # DatasetSize, TimeResolution (us), FrameHeaderSize, FrameMaxSize, packet fields.
        return Reply(data=struct.pack("<QQIIIII", 36, 1_000_000, 0, 4 * 1024 * 1024, 0, 0, 0))

    def _GetStream(self, session: Session, params: Params, data: Payload) -> Reply:
        if not self.live_view_on:
            return Reply(RC_ACCESS_DENIED)
        frame, render_next = self.next_frame()
        return Reply(data=frame, after=render_next)


# --- transport ---------------------------------------------------------------------------------


class Session:
    """One host connection: its command socket and, once attached, its event socket."""

    def __init__(self, number: int, command_socket: socket.socket) -> None:
        self.number = number
        self.command_socket = command_socket
        self.event_socket: socket.socket | None = None
        self.event_lock = threading.Lock()
        self.open = False
        self.last_transaction = NO_TRANSACTION

    def send_event(self, code: int, transaction: int, *params: int) -> None:
        body = struct.pack(f"<HI{len(params)}I", code, transaction, *params)
        with self.event_lock:
            if self.event_socket is None:
                log.warning("session %d has no event socket for event 0x%04x", self.number, code)
                return
            with contextlib.suppress(OSError):
                self.event_socket.sendall(packet(EVENT, body))

    def drop(self) -> None:
        close_now(self.command_socket)
        with self.event_lock:
            if self.event_socket is not None:
                close_now(self.event_socket)


class PtpIpServer:
    """The listening port, the connections on it, and the faults of the transport."""

    def __init__(self, body: CameraBody) -> None:
        self.body = body
        self.lock = threading.Lock()
        self.sessions: dict[int, Session] = {}
        self.session_numbers = itertools.count(1)
        self.listener: socket.socket | None = None
        self.port = 0
        self.refuse_connections = False
        self.die_mid_download = False
        self.answering = threading.Event()
        self.answering.set()

    # Listening ---------------------------------------------------------------------------------

    def listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(8)
        self.stop_listening()
        with self.lock:
            self.listener = listener
            self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()
        return self.port

    def stop_listening(self) -> None:
        with self.lock:
            listener, self.listener = self.listener, None
        if listener is not None:
            close_now(listener)  # wakes the accept loop

    def session_count(self) -> int:
        with self.lock:
            return len(self.sessions)

    def drop_sessions(self) -> None:
        with self.lock:
            sessions = list(self.sessions.values())
        for session in sessions:
            session.drop()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _address = listener.accept()
            except OSError:
                return
            if self.refuse_connections:
                reset_connection(connection)
                continue
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve_connection, args=(connection,), daemon=True).start()

    # Connections -------------------------------------------------------------------------------

    def _serve_connection(self, connection: socket.socket) -> None:
        try:
            self.answering.wait()
            packet_type, body = read_packet(connection)
            self.answering.wait()
            if packet_type == INIT_COMMAND_REQUEST:
                self._serve_commands(connection)
            elif packet_type == INIT_EVENT_REQUEST:
                self._serve_events(connection, struct.unpack_from("<I", body)[0])
            else:
                log.warning("first packet of type %d: closing", packet_type)
        except (ConnectionClosed, OSError):
            pass
        finally:
            close_now(connection)

    def _serve_events(self, connection: socket.socket, number: int) -> None:
        with self.lock:
            session = self.sessions.get(number)
        if session is None:
            connection.sendall(packet(INIT_FAIL, struct.pack("<I", 0)))
            return
        with session.event_lock:
            session.event_socket = connection
            connection.sendall(packet(INIT_EVENT_ACK))
        # The host never writes here; reading only tells when it hangs up.
        while connection.recv(4096):
            pass

    def _serve_commands(self, connection: socket.socket) -> None:
        session = Session(next(self.session_numbers), connection)
        with self.lock:
            self.sessions[session.number] = session
        try:
            name = self.body.settings.model.encode("utf-16-le") + b"\x00\x00"
            connection.sendall(
                packet(
                    INIT_COMMAND_ACK,
                    struct.pack("<I", session.number)
                    + EMULATOR_GUID
                    + name
                    + struct.pack("<I", 0x00010000),
                )
            )
            while True:
                packet_type, body = read_packet(connection)
                self.answering.wait()
                if packet_type == OPERATION_REQUEST:
                    self._serve_operation(session, body)
                else:
                    log.warning("unexpected packet type %d on the command socket", packet_type)
        finally:
            with self.lock:
                self.sessions.pop(session.number, None)
            session.drop()

    def _serve_operation(self, session: Session, body: bytes) -> None:
        dataphase, code, transaction = struct.unpack_from("<IHI", body)
        params = struct.unpack_from(f"<{(len(body) - 10) // 4}I", body, 10)
        data = (
            self._receive_data(session.command_socket) if dataphase == HOST_TO_CAMERA_DATA else None
        )
        session.last_transaction = transaction
        reply = self.body.handle(session, code, params, data)
        log.debug("0x%04x %s -> 0x%04x", code, params, reply.code)
        if reply.code == RC_OK and reply.data is not None:
            self._send_data(session, code, transaction, reply.data)
        response = struct.pack(f"<HI{len(reply.params)}I", reply.code, transaction, *reply.params)
        session.command_socket.sendall(packet(OPERATION_RESPONSE, response))
        if reply.after is not None:
            reply.after()

    def _receive_data(self, sock: socket.socket) -> bytes:
        packet_type, body = read_packet(sock)
        if packet_type != START_DATA:
            raise ConnectionClosed
        (total,) = struct.unpack_from("<Q", body, 4)
        pieces = []
        received = 0
        while received < total:
            packet_type, body = read_packet(sock)
            if packet_type not in (DATA, END_DATA):
                raise ConnectionClosed
            pieces.append(body[4:])
            received += len(body) - 4
        return b"".join(pieces)

    def _send_data(self, session: Session, code: int, transaction: int, data: bytes) -> None:
        sock = session.command_socket
        tid = struct.pack("<I", transaction)
        sock.sendall(packet(START_DATA, tid + struct.pack("<Q", len(data))))
        if self.die_mid_download and OPERATION_NAMES[code] in ("GetObject", "GetPartialObject"):
            self.die_mid_download = False
            sock.sendall(packet(DATA, tid + data[: len(data) // 2]))
            log.info("dying in the middle of a download, as asked")
            session.drop()
            raise ConnectionClosed
        view = memoryview(data)
        for start in range(0, max(len(data), 1), DATA_PIECE):
            piece = view[start : start + DATA_PIECE]
            last = start + DATA_PIECE >= len(data)
            sock.sendall(packet(END_DATA if last else DATA, tid + bytes(piece)))

    # Events --------------------------------------------------------------------------------------

    def broadcast_event(self, code: int, *params: int) -> int:
        with self.lock:
            sessions = [s for s in self.sessions.values() if s.event_socket is not None]
        for session in sessions:
            session.send_event(code, NO_TRANSACTION, *params)
        return len(sessions)


class ControlServer:
    """JSON lines over TCP: the test's remote control for the body and the transport."""

    def __init__(self, body: CameraBody, server: PtpIpServer, stop: threading.Event) -> None:
        self.body = body
        self.server = server
        self.stop = stop

    def start(self, port: int) -> int:
        listener = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()
        return int(listener.getsockname()[1])

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            connection, _address = listener.accept()
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rwb") as stream:
            for line in stream:
                try:
                    request = json.loads(line)
                    reply = {"ok": True, **self.execute(request.pop("cmd"), request)}
                except Exception as error:  # every failure goes back to the caller as text
                    reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
                stream.write(json.dumps(reply).encode() + b"\n")
                stream.flush()

    def execute(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        server, body = self.server, self.body
        if command == "status":
            return {
                **body.status(),
                "ptpip_port": server.port,
                "listening": server.listener is not None,
                "sessions": server.session_count(),
                "faults": {
                    "die_mid_download": server.die_mid_download,
                    "freeze": not server.answering.is_set(),
                    "no_capture_events": body.no_capture_events,
                    "refuse_connections": server.refuse_connections,
                },
            }
        if command == "press_shutter":
            stored = body.take_picture()
            reached = server.broadcast_event(EVENT_OBJECT_ADDED, stored.handle)
            return {"file": stored.summary(), "sessions_told": reached}
        if command == "configure":
            body.configure(args)
            return {}
        if command == "fault":
            name = args["name"]
            if name == "die_mid_download":
                server.die_mid_download = True
            elif name == "freeze":
                server.answering.clear()
            elif name == "no_capture_events":
                body.no_capture_events = True
            elif name == "busy":
                body.busy_captures = int(args.get("count", 1))
            elif name == "refuse_connections":
                server.refuse_connections = True
            else:
                raise ValueError(f"unknown fault {name!r}")
            return {}
        if command == "clear_faults":
            server.die_mid_download = False
            server.refuse_connections = False
            body.no_capture_events = False
            body.busy_captures = 0
            server.answering.set()
            return {}
        if command == "stop_listening":
            server.stop_listening()
            return {}
        if command == "listen":
            server.drop_sessions()
            return {"ptpip_port": server.listen(int(args.get("port", 0)))}
        if command == "shutdown":
            self.stop.set()
            return {}
        raise ValueError(f"unknown command {command!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="PTP/IP port (0 picks a free one)")
    parser.add_argument(
        "--control-port", type=int, default=0, help="control port (0 picks a free one)"
    )
    parser.add_argument("--vendor", choices=sorted(VENDOR_IDS), default="nikon")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--serial", default=DEFAULT_SERIAL)
    parser.add_argument(
        "--fps", type=float, default=None, help="live-view rate; unthrottled if left out"
    )
    parser.add_argument(
        "--capture-size", type=int, default=0, help="pad captures to this many bytes"
    )
    parser.add_argument("--verbose", action="store_true", help="log every operation on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)

    body = CameraBody(Settings(args.vendor, DEFAULT_MODEL, args.serial, None, args.capture_size))
    body.configure({"model": args.model, "fps": args.fps})
    server = PtpIpServer(body)
    stop = threading.Event()
    control = ControlServer(body, server, stop)
    ports = {
        "ptpip_port": server.listen(args.port),
        "control_port": control.start(args.control_port),
    }
    print(json.dumps({**ports, "pid": os.getpid()}), flush=True)

    def stop_when_stdin_closes() -> None:
        sys.stdin.buffer.read()
        stop.set()

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    stop.wait()
    return 0


# --- starting one from a test or a benchmark ---------------------------------------------------


class EmulatorError(RuntimeError):
    """The emulator refused a control command or did not start."""


class EmulatorProcess:
    """An emulator in a child process, with its control channel open."""

    def __init__(self, *arguments: str, startup_timeout: float = 30.0) -> None:
        self.control: socket.socket | None = None
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--port",
                "0",
                "--control-port",
                "0",
                *arguments,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            ports = json.loads(self._first_line(startup_timeout))
            self.ptpip_port: int = ports["ptpip_port"]
            self.control = socket.create_connection(("127.0.0.1", ports["control_port"]))
            self.control_stream = self.control.makefile("rwb")
        except BaseException:
            self.kill()
            raise

    def _first_line(self, timeout: float) -> bytes:
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        line = stdout.readline() if ready else b""
        if not line:
            raise EmulatorError(f"the emulator did not start (exit code {self.process.poll()})")
        return line

    @property
    def port_path(self) -> str:
        return f"ptpip:127.0.0.1:{self.ptpip_port}:{self.ptpip_port}"

    def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.control_stream.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        self.control_stream.flush()
        line = self.control_stream.readline()
        if not line:
            raise EmulatorError(
                f"the emulator closed its control channel (exit code {self.process.poll()})"
            )
        reply: dict[str, Any] = json.loads(line)
        if not reply.pop("ok"):
            raise EmulatorError(reply["error"])
        if cmd == "listen":
            self.ptpip_port = reply["ptpip_port"]
        return reply

    def kill(self) -> None:
        """Kill the process at once (no goodbye to connected hosts) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        if self.control is not None:
            self.control_stream.close()
            self.control.close()


if __name__ == "__main__":
    sys.exit(main())
