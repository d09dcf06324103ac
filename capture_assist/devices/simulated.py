"""The simulated set: a believable studio frame with known truth, and the suite's default camera.

The scene (background, a ColorChecker Classic 24 from colour-science's reference
data, an 18 % grey card) is composed once in CIE XYZ under D50, rendered to
linear sRGB through a colour-cast matrix and encoded with the sRGB transfer
function. Per frame only the actor is drawn, the camera motion applied as an
exact similarity transform, and noise added. Every frame carries the truth it
was rendered with in ``Frame.metadata`` so measurements can be checked.

What the controls mean:

* ``cast_cct_k``: the correlated colour temperature the chart's grey row will
  measure as, relative to the reference greys (``None``: neutral, i.e. the grey
  row renders at sRGB's D65 white, 6504 K). A camera balanced for 5600 K under
  a 5000 K lamp renders warm greys: a cast below 6504 K.
* ``exposure_ev``: linear light multiplied by ``2**exposure_ev`` before encoding
  (highlights clip as in a camera).
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import colour
import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from capture_assist.analysis.colorchecker import PATCH_PITCH_MM, PATCH_SIZE_MM
from capture_assist.clock import SessionClock
from capture_assist.devices.base import (
    CameraIdentity,
    CapturedStill,
    ConnectionLostError,
    DeviceError,
    Frame,
)

ChartLayout = Literal["colorchecker_classic", "spydercheckr_24", "none"]

COLORCHECKER_NAME = "ColorChecker24 - After November 2014"
NEUTRAL_CCT_K = 6504.0
"""CCT of sRGB's D65 white: what a neutral grey row measures as."""

# The Classic chart is 279.4 x 215.9 mm; patches sit on a 4 x 6 grid inside a black frame.
CHART_WIDTH_MM = 279.4
CHART_HEIGHT_MM = 215.9
GREY_CARD_REFLECTANCE = 0.18
CHART_SURROUND_REFLECTANCE = 0.035
# Leaves the light grey patch unclipped under casts down to 2800 K (the white one clips there).
BASE_EXPOSURE_GAIN = 0.85
REFERENCE_HEIGHT_PX = 1080.0
LENS_BLUR_SIGMA_PX = 0.7
FIXED_POINT_SCALE = 256
"""The set is rendered in 1/256 code values until the sensor's noise is added."""
NOISE_OFFSETS_PX = 64
SIMULATED_CARD_FOLDER = "/store_00010001/DCIM/100SIMUL"

# A 24-patch chart that is not a ColorChecker (SpyderCHECKR-24-like colours in sRGB),
# used as a negative for chart detection.
SPYDERCHECKR_24_SRGB = np.array(
    [
        [249, 242, 238],
        [202, 198, 195],
        [161, 157, 154],
        [122, 118, 116],
        [80, 80, 78],
        [43, 41, 43],
        [0, 127, 159],
        [192, 75, 145],
        [245, 205, 0],
        [186, 26, 51],
        [57, 146, 64],
        [25, 55, 135],
        [222, 118, 32],
        [58, 88, 159],
        [195, 79, 95],
        [83, 58, 106],
        [157, 188, 54],
        [238, 158, 25],
        [98, 187, 166],
        [126, 125, 174],
        [82, 106, 60],
        [87, 120, 155],
        [197, 145, 125],
        [112, 76, 60],
    ],
    dtype=np.float64,
)


@dataclass(frozen=True, slots=True)
class SceneControls:
    """Everything about the simulated set that a test or the crew can change."""

    cast_cct_k: float | None = None
    exposure_ev: float = 0.0
    noise_sigma: float = 0.0
    defocus_sigma_px: float = 0.0
    drift_px_per_s: float = 0.0
    drift_rotation_deg_per_s: float = 0.0
    shake_rms_px: float = 0.0
    tempo: float = 1.0
    bump_times_s: tuple[float, ...] = ()
    bump_offset_px: tuple[float, float] = (12.0, -7.0)
    chart_layout: ChartLayout = "colorchecker_classic"
    capture_delay_s: float = 0.0
    iso: int = 400
    shutter_s: float = 1 / 50
    aperture_f: float = 4.0
    white_balance_k: float = 5600.0


@dataclass(slots=True)
class _ActorState:
    expected_duration_s: float = 0.0
    beats: tuple[tuple[str, float, float], ...] = ()
    started_at_s: float | None = None


@dataclass(frozen=True, slots=True)
class _Geometry:
    """Where things are in the undisturbed frame (pixels)."""

    chart_corners: npt.NDArray[np.float64]
    patch_quads: tuple[npt.NDArray[np.float64], ...]
    grey_card: tuple[int, int, int, int]
    actor_anchor: tuple[float, float]
    actor_scale: float


def _srgb_matrix_for_cast(cast_cct_k: float | None) -> npt.NDArray[np.float64]:
    """Return the 3x3 matrix taking XYZ under D50 to linear sRGB with the grey row at the cast.

    The neutral rendering adapts the chart to D65 (sRGB's white). A cast is then a
    per-channel gain in linear sRGB, as a camera's wrong white balance is: the
    gains are the linear sRGB of the cast's white point, so that the grey row,
    compared with its neutral rendering, has exactly the cast's chromaticity.
    """
    observer = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]
    d50 = colour.xy_to_XYZ(observer["D50"])
    d65 = colour.xy_to_XYZ(observer["D65"])
    srgb = colour.RGB_COLOURSPACES["sRGB"]
    neutral = srgb.matrix_XYZ_to_RGB @ colour.adaptation.matrix_chromatic_adaptation_VonKries(
        d50, d65, "CAT02"
    )
    if cast_cct_k is None:
        return np.asarray(neutral, dtype=np.float64)
    cast_white = colour.temperature.CCT_to_XYZ_Ohno2013(np.array([cast_cct_k, 0.0]))
    gains = srgb.matrix_XYZ_to_RGB @ (cast_white / cast_white[1])
    return np.asarray(np.diag(gains) @ neutral, dtype=np.float64)


def colorchecker_reference_xyz() -> npt.NDArray[np.float64]:
    """Return the 24 reference patches as XYZ (D50), in chart order (dark skin ... black)."""
    chart = colour.CCS_COLOURCHECKERS[COLORCHECKER_NAME]
    xy_y = np.array(list(chart.data.values()), dtype=np.float64)
    return np.asarray(colour.xyY_to_XYZ(xy_y), dtype=np.float64)


def _spydercheckr_xyz() -> npt.NDArray[np.float64]:
    linear = colour.cctf_decoding(SPYDERCHECKR_24_SRGB / 255.0, function="sRGB")
    to_d50 = np.linalg.inv(_srgb_matrix_for_cast(None))
    return np.asarray(linear @ to_d50.T, dtype=np.float64)


def _encode_lut() -> npt.NDArray[np.uint16]:
    levels = np.linspace(0.0, 1.0, 4096)
    encoded = colour.cctf_encoding(levels, function="sRGB") * 255.0 * FIXED_POINT_SCALE
    return np.clip(np.round(encoded), 0, 255 * FIXED_POINT_SCALE).astype(np.uint16)


_ENCODE_LUT = _encode_lut()


def encode_srgb(linear: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint16]:
    """Encode linear light (clipped to 0..1) to sRGB code values in 1/256 steps.

    A sensor's noise comes before its 8-bit quantisation, so the mean of a flat
    patch lands between code values. Rounding the set to 8 bits before adding
    noise would bias every patch by up to half a code value (0.8 mired on the
    grey row at 8000 K); the set stays in fixed point until the noise is in.
    """
    indices = np.clip(linear * 4095.0 + 0.5, 0, 4095).astype(np.uint16)
    encoded: npt.NDArray[np.uint16] = _ENCODE_LUT[indices]
    return encoded


def _to_8_bit(fixed_point: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint8]:
    """Round fixed-point code values to 8 bits."""
    return np.asarray(cv2.convertScaleAbs(fixed_point, alpha=1.0 / FIXED_POINT_SCALE), np.uint8)


class SimulatedCamera:
    """A camera on the simulated set, implementing ``StillCamera``.

    Parameters
    ----------
    source_id
        The camera id from the shot list.
    width, height, fps
        The live and still resolution and the live rate.
    clock
        The session clock (a new one when omitted).
    seed
        Makes noise, shake and layout reproducible.
    controls
        The starting scene controls.
    angle_id
        Shifts the viewpoint a little so that each angle looks different.
    """

    def __init__(
        self,
        source_id: str,
        *,
        width: int = 1280,
        height: int = 720,
        fps: float = 25.0,
        clock: SessionClock | None = None,
        seed: int = 0,
        controls: SceneControls | None = None,
        make: str = "capture-assist",
        model: str = "Simulated Set",
        serial: str | None = None,
        angle_id: str = "front",
        focal_length_mm: float = 35.0,
    ) -> None:
        self._source_id = source_id
        self.width = width
        self.height = height
        self._fps = fps
        self.clock = clock or SessionClock()
        self.seed = seed
        self._identity = CameraIdentity(
            make, model, serial or f"SIM-{source_id}", f"sim:{source_id}"
        )
        self.angle_id = angle_id
        self.focal_length_mm = focal_length_mm
        self._lock = threading.Lock()
        self._controls = controls or SceneControls()
        self._actor = _ActorState()
        self._manual_bump: npt.NDArray[np.float64] = np.zeros(3)  # dx px, dy px, rotation deg
        self._geometry = self._layout()
        self._static_cache: tuple[SceneControls, npt.NDArray[np.uint16]] | None = None
        self._sequence = 0
        self._card: dict[str, float] = {}  # name -> when the body's button was pressed
        self._pressed: list[str] = []
        self._next_due_s: float | None = None
        self._fault: str | None = None
        self._noise_pool: tuple[float, npt.NDArray[np.int16]] | None = None
        self._warped_static: tuple[bytes, npt.NDArray[np.uint16]] | None = None
        self._shake_rng = np.random.default_rng(seed)

    # -- protocol -----------------------------------------------------------------

    @property
    def source_id(self) -> str:
        """The camera id from the shot list."""
        return self._source_id

    @property
    def nominal_fps(self) -> float:
        """The live rate."""
        return self._fps

    def open(self) -> None:
        """Connect; fails while the (simulated) cable is pulled."""
        self._check_fault()

    def replug(self) -> None:
        """Plug the cable back in after ``inject_fault("disconnect")``."""
        self._fault = None

    def close(self) -> None:
        """Disconnect."""

    def identity(self) -> CameraIdentity:
        """Return make, model, serial and port."""
        return self._identity

    def settings(self) -> Mapping[str, Any]:
        """Return the normalised settings a real body would report."""
        controls = self.controls
        return {
            "iso": controls.iso,
            "shutter_s": controls.shutter_s,
            "aperture_f": controls.aperture_f,
            "white_balance": "manual",
            "white_balance_k": controls.white_balance_k,
            "focal_length_mm": self.focal_length_mm,
            "picture_profile": "Standard",
            "battery_percent": 100,
            "exposure_offset_ev": controls.exposure_ev,
            # What a body reports by libgphoto2 names: the names set_setting takes.
            "all": {
                "iso": str(controls.iso),
                "shutterspeed": _shutter_text(controls.shutter_s),
                "f-number": f"f/{controls.aperture_f:g}",
                "whitebalance": "Manual",
                "colortemperature": f"{controls.white_balance_k:.0f}",
                "serialnumber": self._identity.serial,
            },
        }

    def set_setting(self, name: str, value: str | float) -> None:
        """Set a setting as a real body would, by its libgphoto2 name.

        ``iso``, ``shutterspeed`` (``1/125`` or seconds), ``f-number`` (``f/5.6``
        or a number) and ``colortemperature`` (K) are kept and reported by
        ``settings()``; ``whitebalance`` accepts the one mode the set has.
        """
        self._check_fault()
        text = str(value).strip()
        try:
            if name == "iso":
                self.set_controls(iso=int(float(text)))
            elif name == "shutterspeed":
                numerator, _, denominator = text.rstrip("s").partition("/")
                seconds = float(numerator) / float(denominator or 1)
                self.set_controls(shutter_s=seconds)
            elif name == "f-number":
                self.set_controls(aperture_f=float(text.removeprefix("f/")))
            elif name == "colortemperature":
                self.set_controls(white_balance_k=float(text))
            elif name == "whitebalance":
                if text.lower() not in ("manual", "kelvin", "color temperature"):
                    raise DeviceError(f"{text} is not a whitebalance the simulated set offers.")
            else:
                raise DeviceError(f"the simulated camera has no setting {name!r}.")
        except ValueError:
            raise DeviceError(f"{text} is not a valid {name}.") from None

    @property
    def controls(self) -> SceneControls:
        """The current scene controls."""
        with self._lock:
            return self._controls

    def set_controls(self, **changes: Any) -> None:
        """Change scene controls (thread-safe); takes effect from the next frame."""
        with self._lock:
            self._controls = replace(self._controls, **changes)

    def bump(self, dx_px: float, dy_px: float, rotation_deg: float = 0.0) -> None:
        """Knock the tripod: framing shifts permanently from the next frame on."""
        with self._lock:
            self._manual_bump += np.array([dx_px, dy_px, rotation_deg])

    def inject_fault(self, kind: Literal["disconnect"] | None) -> None:
        """Make calls fail as if the cable were pulled, until ``replug()``."""
        self._fault = kind

    def set_action(
        self,
        expected_duration_s: float,
        beats: tuple[tuple[str, float, float], ...],
        started_at_s: float | None,
    ) -> None:
        """Start the actor on an action at ``started_at_s`` (``None``: stand at rest)."""
        with self._lock:
            self._actor = _ActorState(expected_duration_s, beats, started_at_s)

    def _check_fault(self) -> None:
        if self._fault == "disconnect":
            raise ConnectionLostError(
                f"lost the connection to camera {self._source_id} (simulated cable pull).",
                "Reconnect the camera; files already saved are safe.",
            )

    def read_frame(self) -> Frame:
        """Wait until the next frame is due and return it (late frames are skipped, not burst)."""
        self._check_fault()
        interval = 1.0 / self._fps
        now = self.clock.now()
        if self._next_due_s is None or now - self._next_due_s > interval:
            self._next_due_s = now
        wait = self._next_due_s - now
        if wait > 0:
            time.sleep(wait)
        at_s = self._next_due_s
        self._next_due_s += interval
        pixels, metadata = self.render_with_truth(at_s)
        frame = Frame(pixels, self._source_id, self._sequence, at_s, metadata)
        self._sequence += 1
        return frame

    def press_shutter(self) -> tuple[str, str]:
        """Take a picture on the body's own button: it lands on the card, as a tethered shot.

        Thread-safe (a test or the crew presses it while the worker runs); the
        worker finds it at its next ``poll_file_added``.
        """
        with self._lock:
            name = f"SIM_B{len(self._card):04d}.JPG"
            self._card[name] = self.clock.now()
            self._pressed.append(name)
        return SIMULATED_CARD_FOLDER, name

    def poll_file_added(self) -> tuple[str, str] | None:
        """Return the oldest shutter press not yet reported."""
        self._check_fault()
        with self._lock:
            return (SIMULATED_CARD_FOLDER, self._pressed.pop(0)) if self._pressed else None

    def download_added_file(self, folder: str, name: str, destination: Path) -> CapturedStill:
        """Write the picture taken on the body at the moment its button was pressed."""
        with self._lock:
            pressed_at = self._card.get(name)
        if folder != SIMULATED_CARD_FOLDER or pressed_at is None:
            raise DeviceError(f"{folder}/{name} is not on the simulated camera's card.")
        return self._write_still(destination, name, pressed_at)

    def capture_still(self, destination: Path) -> CapturedStill:
        """Render a full-quality frame now and write it as a JPEG with EXIF to ``destination``."""
        self._check_fault()
        trigger_s = self.clock.now()
        if self.controls.capture_delay_s > 0:
            time.sleep(self.controls.capture_delay_s)
        name = f"SIM_{self._sequence:05d}.JPG"
        self._sequence += 1
        return self._write_still(destination, name, trigger_s)

    def _write_still(self, destination: Path, name: str, trigger_s: float) -> CapturedStill:
        controls = self.controls
        pixels, _truth = self.render_with_truth(trigger_s)
        self._check_fault()
        image = Image.fromarray(pixels, "RGB")
        exif = Image.Exif()
        exif[0x010F] = self._identity.make
        exif[0x0110] = self._identity.model
        exif_ifd = exif.get_ifd(0x8769)
        exif_ifd[0x8827] = controls.iso
        exif_ifd[0x829A] = controls.shutter_s
        exif_ifd[0x829D] = controls.aperture_f
        exif_ifd[0x920A] = self.focal_length_mm
        exif_ifd[0x9003] = datetime.now(UTC).strftime("%Y:%m:%d %H:%M:%S")
        exif_ifd[0xA403] = 1  # manual white balance
        exif_ifd[0xA431] = self._identity.serial
        with open(destination, "wb") as handle:
            image.save(handle, "JPEG", quality=95, exif=exif.tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        size = destination.stat().st_size
        return CapturedStill(destination, name, size, trigger_s, self.settings())

    # -- rendering ------------------------------------------------------------------

    def _layout(self) -> _Geometry:
        digest = hashlib.sha256(self.angle_id.encode()).digest()
        jitter_x = (digest[0] / 255.0 - 0.5) * 0.06
        jitter_y = (digest[1] / 255.0 - 0.5) * 0.06
        scale = 0.9 + digest[2] / 255.0 * 0.2
        chart_w = self.width * 0.26 * scale
        chart_h = chart_w * CHART_HEIGHT_MM / CHART_WIDTH_MM
        left = self.width * (0.06 + jitter_x)
        top = self.height * (0.52 + jitter_y) - chart_h / 2
        mm = chart_w / CHART_WIDTH_MM
        corners = np.array(
            [
                [left, top],
                [left + chart_w, top],
                [left + chart_w, top + chart_h],
                [left, top + chart_h],
            ]
        )
        margin_x = (CHART_WIDTH_MM - 5 * PATCH_PITCH_MM - PATCH_SIZE_MM) / 2
        margin_y = (CHART_HEIGHT_MM - 3 * PATCH_PITCH_MM - PATCH_SIZE_MM) / 2
        quads = []
        for row in range(4):
            for column in range(6):
                x0 = left + (margin_x + column * PATCH_PITCH_MM) * mm
                y0 = top + (margin_y + row * PATCH_PITCH_MM) * mm
                size = PATCH_SIZE_MM * mm
                quads.append(
                    np.array([[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size]])
                )
        card_w = int(self.width * 0.09)
        card_h = int(card_w * 1.3)
        card_x = int(self.width * (0.84 + jitter_x / 2))
        card_y = int(self.height * 0.28)
        return _Geometry(
            chart_corners=corners,
            patch_quads=tuple(quads),
            grey_card=(card_x, card_y, card_w, card_h),
            actor_anchor=(self.width * 0.58, self.height * 0.78),
            actor_scale=self.height / REFERENCE_HEIGHT_PX,
        )

    def _scene_xyz(self, layout: ChartLayout) -> npt.NDArray[np.float32]:
        """Compose the static scene as reflectance XYZ under D50."""
        white = colour.xy_to_XYZ(
            colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D50"]
        )
        rows = np.linspace(0.0, 1.0, self.height, dtype=np.float32)[:, None]
        columns = np.linspace(0.0, 1.0, self.width, dtype=np.float32)[None, :]
        wall = 0.30 - 0.08 * rows + 0.03 * np.cos(columns * math.pi)
        floor_line = int(self.height * 0.82)
        reflectance = np.broadcast_to(wall, (self.height, self.width)).copy()
        reflectance[floor_line:] = 0.12
        scene = reflectance[:, :, None] * white.astype(np.float32)[None, None, :]
        # Warm the wall a little so the frame is not a neutral test card.
        scene[:, :, 2] *= 0.92
        geometry = self._geometry
        if layout != "none":
            patches = (
                colorchecker_reference_xyz()
                if layout == "colorchecker_classic"
                else _spydercheckr_xyz()
            )
            surround = (CHART_SURROUND_REFLECTANCE * white).tolist()
            cv2.fillConvexPoly(scene, _fixed(geometry.chart_corners), surround, cv2.LINE_AA, 4)
            for quad, xyz in zip(geometry.patch_quads, patches, strict=True):
                cv2.fillConvexPoly(scene, _fixed(quad), xyz.tolist(), cv2.LINE_AA, 4)
        x, y, w, h = geometry.grey_card
        scene[y : y + h, x : x + w] = (GREY_CARD_REFLECTANCE * white).astype(np.float32)
        return scene

    def _static_frame(self, controls: SceneControls) -> npt.NDArray[np.uint16]:
        cache = self._static_cache
        key = replace(
            controls,
            noise_sigma=0.0,
            shake_rms_px=0.0,
            drift_px_per_s=0.0,
            drift_rotation_deg_per_s=0.0,
            tempo=1.0,
            bump_times_s=(),
            capture_delay_s=0.0,
            defocus_sigma_px=0.0,
        )
        if cache is not None and cache[0] == key:
            return cache[1]
        scene = self._scene_xyz(controls.chart_layout)
        matrix = (
            _srgb_matrix_for_cast(controls.cast_cct_k)
            * BASE_EXPOSURE_GAIN
            * 2**controls.exposure_ev
        )
        linear = np.asarray(cv2.transform(scene, matrix.astype(np.float32)), np.float32)
        # A real lens never draws a perfectly sharp edge; without this, sub-pixel
        # camera motion (interpolated) would read as a large loss of focus.
        linear = np.asarray(cv2.GaussianBlur(linear, (0, 0), LENS_BLUR_SIGMA_PX), np.float32)
        encoded = encode_srgb(linear)
        self._static_cache = (key, encoded)
        return encoded

    def beat_at(self, at_s: float) -> tuple[str | None, float | None]:
        """Return the active beat and the action time at session time ``at_s``."""
        with self._lock:
            actor = self._actor
            tempo = self._controls.tempo
        if actor.started_at_s is None:
            return None, None
        # Tempo 0.8 plays the action at 80 % speed: every beat lasts 1/0.8 as long.
        action_time = (at_s - actor.started_at_s) * tempo
        if action_time < 0:
            return None, action_time
        for name, start, duration in actor.beats:
            if start <= action_time < start + duration:
                return name, action_time
        return None, action_time

    def _draw_actor(
        self, canvas: npt.NDArray[np.uint16], at_s: float
    ) -> tuple[str | None, tuple[int, int, int, int]]:
        """Draw the actor; return the beat and the box (x0, y0, x1, y1) drawn into."""
        beat, action_time = self.beat_at(at_s)
        with self._lock:
            actor = self._actor
        anchor_x, anchor_y = self._geometry.actor_anchor
        unit = 100 * self._geometry.actor_scale
        progress = 0.0
        if action_time is not None and actor.expected_duration_s > 0:
            progress = min(max(action_time / actor.expected_duration_s, 0.0), 1.0)
        # The arm sweeps up through the beats and the body leans towards the table.
        arm_angle = math.radians(-20 - 140 * progress)
        body_x = anchor_x + unit * 0.6 * math.sin(progress * math.pi)
        shirt = tuple(FIXED_POINT_SCALE * code for code in (60, 90, 150))
        skin = tuple(FIXED_POINT_SCALE * code for code in (205, 160, 130))
        cv2.ellipse(
            canvas,
            (int(body_x), int(anchor_y - 2.2 * unit)),
            (int(0.55 * unit), int(1.4 * unit)),
            0,
            0,
            360,
            shirt,
            -1,
            cv2.LINE_AA,
        )
        cv2.circle(
            canvas,
            (int(body_x), int(anchor_y - 4.1 * unit)),
            int(0.45 * unit),
            skin,
            -1,
            cv2.LINE_AA,
        )
        shoulder = (body_x + 0.35 * unit, anchor_y - 3.1 * unit)
        hand = (
            shoulder[0] + 1.6 * unit * math.cos(arm_angle),
            shoulder[1] + 1.6 * unit * math.sin(arm_angle),
        )
        cv2.line(
            canvas,
            (int(shoulder[0]), int(shoulder[1])),
            (int(hand[0]), int(hand[1])),
            shirt,
            max(2, int(0.28 * unit)),
            cv2.LINE_AA,
        )
        cv2.circle(
            canvas, (int(hand[0]), int(hand[1])), max(2, int(0.16 * unit)), skin, -1, cv2.LINE_AA
        )
        reach = 0.6 * unit + 4  # the widest part drawn around each point, plus anti-aliasing
        xs = (body_x, shoulder[0], hand[0])
        ys = (anchor_y - 4.6 * unit, anchor_y - 0.8 * unit, shoulder[1], hand[1])
        box = (
            int(min(xs) - reach),
            int(min(ys) - reach),
            math.ceil(max(xs) + reach),
            math.ceil(max(ys) + reach),
        )
        return beat, box

    def camera_motion(self, at_s: float, sequence: int) -> tuple[float, float, float]:
        """Return the true framing offset (dx px, dy px, rotation deg) at a session time."""
        with self._lock:
            controls = self._controls
            manual = self._manual_bump.copy()
        dx = controls.drift_px_per_s * at_s + manual[0]
        dy = manual[1]
        rotation = controls.drift_rotation_deg_per_s * at_s + manual[2]
        bumps = sum(1 for t in controls.bump_times_s if at_s >= t)
        dx += bumps * controls.bump_offset_px[0]
        dy += bumps * controls.bump_offset_px[1]
        if controls.shake_rms_px > 0:
            rng = np.random.default_rng((self.seed, sequence))
            jitter = rng.normal(0.0, controls.shake_rms_px / math.sqrt(2), 2)
            dx += float(jitter[0])
            dy += float(jitter[1])
        return float(dx), float(dy), float(rotation)

    def render_with_truth(self, at_s: float) -> tuple[npt.NDArray[np.uint8], dict[str, Any]]:
        """Render the frame at session time ``at_s`` without pacing; return pixels and truth."""
        controls = self.controls
        static = self._static_frame(controls)
        canvas = static.copy()
        beat, actor_box = self._draw_actor(canvas, at_s)
        dx, dy, rotation = self.camera_motion(at_s, self._sequence)
        transform = np.asarray(
            cv2.getRotationMatrix2D((self.width / 2, self.height / 2), -rotation, 1.0), np.float64
        )
        transform[:, 2] += np.array([dx, dy])
        if dx or dy or rotation:
            canvas = self._warp(static, canvas, transform, actor_box)
        if controls.defocus_sigma_px > 0:
            sigma = controls.defocus_sigma_px * self.height / REFERENCE_HEIGHT_PX
            canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)  # type: ignore[assignment]
        if controls.noise_sigma > 0:
            canvas = cv2.add(  # type: ignore[assignment]
                canvas, self._noise(controls.noise_sigma, at_s), dtype=cv2.CV_16U
            )
        pixels = _to_8_bit(canvas)
        corners = cv2.transform(self._geometry.chart_corners[None].astype(np.float64), transform)[0]
        _beat, action_time = self.beat_at(at_s)
        truth = {
            "true_dx_px": dx,
            "true_dy_px": dy,
            "true_rotation_deg": rotation,
            "true_scale": 1.0,
            "true_cast_cct_k": controls.cast_cct_k
            if controls.cast_cct_k is not None
            else NEUTRAL_CCT_K,
            "true_exposure_ev": controls.exposure_ev,
            "beat": beat,
            "action_time_s": action_time,
            "chart_corners": corners.tolist(),
            "patch_area_corners": cv2.transform(self._patch_area_corners()[None], transform)[
                0
            ].tolist(),
            "grey_card": list(self._geometry.grey_card),
        }
        return pixels, truth

    def _warp(
        self,
        static: npt.NDArray[np.uint16],
        canvas: npt.NDArray[np.uint16],
        transform: npt.NDArray[np.float64],
        actor_box: tuple[int, int, int, int],
    ) -> npt.NDArray[np.uint16]:
        """Move the frame as the camera moved, as one bicubic warp of the whole frame would.

        The set does not move, so its warp is kept until the camera moves
        again; only the actor's box is warped anew (a 4-px margin covers the
        bicubic kernel), into the pixels a whole-frame warp would give (a few
        differ by one code value where fixed-point rounding differs).
        """
        size = (self.width, self.height)
        key = transform.tobytes() + static.ctypes.data.to_bytes(8, "little")
        if self._warped_static is None or self._warped_static[0] != key:
            warped = cv2.warpAffine(
                static, transform, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
            )
            self._warped_static = (key, np.asarray(warped, np.uint16))
        frame = self._warped_static[1].copy()
        x0, y0, x1, y1 = actor_box
        margin = 4
        box = np.array(
            [
                [x0 - margin, y0 - margin],
                [x1 + margin, y0 - margin],
                [x1 + margin, y1 + margin],
                [x0 - margin, y1 + margin],
            ],
            np.float64,
        )
        moved = cv2.transform(box[None], transform)[0]
        left, top = np.maximum(np.floor(moved.min(axis=0)).astype(int) - margin, 0)
        right = min(int(np.ceil(moved[:, 0].max())) + margin, self.width)
        bottom = min(int(np.ceil(moved[:, 1].max())) + margin, self.height)
        if right <= left or bottom <= top:
            return frame
        shifted = transform.copy()
        shifted[:, 2] -= (left, top)
        frame[top:bottom, left:right] = cv2.warpAffine(
            canvas,
            shifted,
            (right - left, bottom - top),
            flags=cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return frame

    def _noise(self, sigma: float, at_s: float) -> npt.NDArray[np.int16]:
        """Sensor noise for one frame: a window of a pre-drawn field at a random offset.

        Drawing fresh Gaussian noise costs more than a 60 fps frame interval at
        1080p; a field drawn once, slightly larger than the frame, read at an
        offset chosen per frame (64 x 64 offsets, seeded by frame and time) gives noise
        that differs from frame to frame at the cost of an add.
        """
        if self._noise_pool is None or self._noise_pool[0] != sigma:
            field = np.empty(
                (self.height + NOISE_OFFSETS_PX, self.width + NOISE_OFFSETS_PX, 3), np.int16
            )
            cv2.setRNGSeed(hash((self.seed, self.width, self.height)) & 0x7FFFFFFF)
            spread = sigma * FIXED_POINT_SCALE
            cv2.randn(field, (0.0, 0.0, 0.0), (spread,) * 3)  # type: ignore[call-overload]
            self._noise_pool = (sigma, field)
        rng = np.random.default_rng((self.seed, self._sequence, round(abs(at_s) * 1e6)))
        top, left = (int(value) for value in rng.integers(0, NOISE_OFFSETS_PX, 2))
        return self._noise_pool[1][top : top + self.height, left : left + self.width]

    def _patch_area_corners(self) -> npt.NDArray[np.float64]:
        """Outer corners of the patch grid at patches 1, 6, 24 and 19 (undisturbed)."""
        quads = self._geometry.patch_quads
        return np.array([quads[0][0], quads[5][1], quads[23][2], quads[18][3]], dtype=np.float64)

    def render(self, at_s: float) -> npt.NDArray[np.uint8]:
        """Render the frame at ``at_s`` (pixels only)."""
        return self.render_with_truth(at_s)[0]


def _shutter_text(seconds: float) -> str:
    """Write a shutter speed as a camera does: 1/125, or 2 for whole seconds."""
    return f"1/{round(1 / seconds)}" if seconds < 1 else f"{seconds:g}"


def _fixed(points: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
    """Points in 1/16 px fixed point, for anti-aliased sub-pixel polygons."""
    return np.round(points * 16).astype(np.int32)
