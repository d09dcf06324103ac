"""Camera stability: shake between frames, drift from the reference frame, tripod bumps.

Both measurements follow corners of one frame into another with pyramidal
Lucas-Kanade flow and fit a similarity with RANSAC, so that whatever moves by
itself (the actor) is an outlier and only the camera's motion is measured:
frame to frame on a 480-px copy (shake, bumps), and against the setup's
reference frame on a copy up to 1920 px wide, in two passes (drift).

The frame-to-frame path runs on every frame, so it is built to cost about as
much as copying the frame a few times: the reduced copy reads a quarter of the
source pixels, and the corners are found once and then carried from frame to
frame (found again only when too few survive), as a KLT tracker does. State
across frames lives in an explicit, immutable ``StabilityState``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import numpy.typing as npt

from capture_assist.shotlist.model import Tolerance

MOTION_WIDTH_PX = 480
MOTION_CORNERS = 200
MOTION_MIN_CORNERS = 24
MOTION_REDETECT_FRAMES = 50
NORMALISED_SPREAD = 24.0
LOCAL_MEAN_SIGMA_PX = 10.0
DRIFT_WIDTH_PX = 1920
SHAKE_WINDOW_FRAMES = 25
BUMP_MIN_PX = 2.5
BUMP_WARM_UP_FRAMES = 5
BUMP_SHAKE_FACTOR = 6.0
STABLE_AFTER_FRAMES = 15
BUMP_HOLD_S = 2.0

RgbImage = npt.NDArray[np.uint8]
GreyImage = npt.NDArray[np.float32]
_NO_CORNERS = np.empty((0, 1, 2), np.float32)


@dataclass(frozen=True, slots=True)
class MotionFrame:
    """A frame prepared for the every-frame motion measurement.

    Attributes
    ----------
    grey
        The reduced, locally normalised luma (``MOTION_WIDTH_PX`` wide at most).
    scale
        Reduced width over source width.
    timestamp_s
        The frame's time on the session clock.
    corners
        Corners to follow into the next frame (empty until ``update_stability``
        has found or carried them).
    corners_age_frames
        Frames since those corners were last found from scratch.
    """

    grey: npt.NDArray[np.uint8]
    scale: float
    timestamp_s: float
    corners: npt.NDArray[np.float32] = field(default_factory=lambda: _NO_CORNERS)
    corners_age_frames: int = 0


@dataclass(frozen=True, slots=True)
class Drift:
    """Framing relative to the reference frame, in source pixels and degrees."""

    dx_px: float
    dy_px: float
    rotation_deg: float
    scale_percent: float

    @property
    def translation_px(self) -> float:
        """Length of the translation."""
        return math.hypot(self.dx_px, self.dy_px)


@dataclass(frozen=True, slots=True)
class StabilityReading:
    """What the stability meter shows for one frame."""

    timestamp_s: float
    motion_dx_px: float
    motion_dy_px: float
    shake_rms_px: float
    shake_peak_px: float
    bump: bool
    stable: bool


@dataclass(frozen=True, slots=True)
class StabilityState:
    """Everything the stability meter remembers between frames."""

    previous: MotionFrame | None = None
    recent_motion_px: tuple[float, ...] = ()
    calm_frames: int = 0
    stable: bool = True
    last_bump_s: float | None = None
    bumps: int = 0
    history_positions: tuple[tuple[float, float], ...] = field(default=())


def _grey(rgb: RgbImage, width: int) -> tuple[GreyImage, float]:
    """Reduced luma with its local mean removed and its contrast normalised.

    Optical flow assumes brightness constancy; removing the local mean and the
    global contrast makes an exposure or colour change between the reference
    and now invisible to it, while every edge stays where it is.
    """
    scale = min(1.0, width / rgb.shape[1])
    luma = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        luma = cv2.resize(luma, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    grey = luma.astype(np.float32)
    detail = grey - cv2.GaussianBlur(grey, (0, 0), LOCAL_MEAN_SIGMA_PX)
    spread = float(np.std(detail)) or 1.0
    return np.asarray(detail * (NORMALISED_SPREAD / spread) + 128.0, np.float32), scale


def prepare_motion_frame(rgb: RgbImage, timestamp_s: float) -> MotionFrame:
    """Reduce a frame for the every-frame motion measurement.

    Bilinear sampling to twice the working width, then area averaging: each
    working pixel averages 16 source pixels (sensor noise drops fourfold)
    while only a quarter of a large frame is ever read. The local mean is
    taken at a quarter of the working size, where a wide blur is cheap.
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, MOTION_WIDTH_PX / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    frame = np.ascontiguousarray(rgb)
    if scale < 0.5:
        frame = np.asarray(
            cv2.resize(frame, (size[0] * 2, size[1] * 2), interpolation=cv2.INTER_LINEAR), np.uint8
        )
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if luma.shape[1] != size[0]:
        luma = cv2.resize(luma, size, interpolation=cv2.INTER_AREA)
    grey = np.asarray(luma, np.float32)
    coarse = cv2.resize(grey, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    local_mean = cv2.resize(
        cv2.GaussianBlur(coarse, (0, 0), LOCAL_MEAN_SIGMA_PX / 4),
        size,
        interpolation=cv2.INTER_LINEAR,
    )
    detail = cv2.subtract(grey, local_mean)
    spread = float(cv2.meanStdDev(detail)[1][0, 0]) or 1.0
    gain = NORMALISED_SPREAD / spread
    normalised = cv2.addWeighted(detail, gain, detail, 0.0, 128.0, dtype=cv2.CV_8U)
    return MotionFrame(np.asarray(normalised, np.uint8), scale, timestamp_s)


def _motion_corners(grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    corners = cv2.goodFeaturesToTrack(
        grey, maxCorners=MOTION_CORNERS, qualityLevel=0.01, minDistance=8
    )
    return _NO_CORNERS if corners is None else np.asarray(corners, np.float32)


def _frame_to_frame_motion(
    previous: MotionFrame, frame: MotionFrame
) -> tuple[tuple[float, float] | None, npt.NDArray[np.float32]]:
    """Return the camera's shift between two frames (source px) and the corners carried on."""
    corners = previous.corners
    if len(corners) < 8:
        return None, _NO_CORNERS
    found, status, _error = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
        previous.grey,
        frame.grey,
        corners,
        None,
        winSize=(15, 15),
        maxLevel=3,
        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01),
    )
    tracked = status.ravel() == 1
    if tracked.sum() < 8:
        return None, _NO_CORNERS
    source = corners[tracked].reshape(-1, 2)
    target = np.asarray(found, np.float32)[tracked].reshape(-1, 2)
    similarity, inliers = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=0.75, maxIters=500, refineIters=10
    )
    if similarity is None or inliers is None or int(inliers.sum()) < 8:
        return None, _NO_CORNERS
    # Corners on the camera's motion stay; those on the actor or lost are dropped.
    carried = target[inliers.ravel() == 1].reshape(-1, 1, 2)
    linear = np.asarray(similarity, np.float64)
    height, width = frame.grey.shape
    centre = np.array([width / 2, height / 2])
    offset = (linear[:, :2] @ centre + linear[:, 2] - centre) / frame.scale
    return (float(offset[0]), float(offset[1])), np.asarray(carried, np.float32)


def _with_corners(frame: MotionFrame, carried: npt.NDArray[np.float32], age: int) -> MotionFrame:
    height, width = frame.grey.shape
    inside = (
        (carried[:, 0, 0] >= 0)
        & (carried[:, 0, 0] < width)
        & (carried[:, 0, 1] >= 0)
        & (carried[:, 0, 1] < height)
    )
    carried = carried[inside]
    if len(carried) < MOTION_MIN_CORNERS or age >= MOTION_REDETECT_FRAMES:
        return replace(frame, corners=_motion_corners(frame.grey), corners_age_frames=0)
    return replace(frame, corners=carried, corners_age_frames=age)


def update_stability(
    state: StabilityState, frame: MotionFrame, shake_tolerance: Tolerance
) -> tuple[StabilityState, StabilityReading]:
    """Fold one frame into the stability state and return the new state and reading.

    A bump is a jump of framing much larger than the recent shake; the verdict
    turns unstable on shake beyond the tolerance's ``fail`` or a bump, and back
    to stable only after ``STABLE_AFTER_FRAMES`` calm frames (hysteresis).
    """
    previous = state.previous
    if previous is None or previous.grey.shape != frame.grey.shape:
        reading = StabilityReading(frame.timestamp_s, 0.0, 0.0, 0.0, 0.0, False, state.stable)
        return replace(state, previous=_with_corners(frame, frame.corners, 0)), reading
    motion, carried = _frame_to_frame_motion(previous, frame)
    dx, dy = motion if motion is not None else (0.0, 0.0)
    frame = _with_corners(frame, carried, previous.corners_age_frames + 1)
    magnitude = math.hypot(dx, dy)
    recent = state.recent_motion_px[-SHAKE_WINDOW_FRAMES:]
    shake_rms = math.sqrt(sum(value * value for value in recent) / len(recent)) if recent else 0.0
    # Until a few frames have shown how much the camera shakes, no jump counts as a bump.
    bump = len(recent) >= BUMP_WARM_UP_FRAMES and magnitude > max(
        BUMP_MIN_PX, BUMP_SHAKE_FACTOR * shake_rms
    )
    # A bump is an event, not shake: keep it out of the shake statistics.
    motion_history = recent if bump else (*recent, magnitude)
    shake_values = motion_history[-SHAKE_WINDOW_FRAMES:]
    shake_rms = (
        math.sqrt(sum(v * v for v in shake_values) / len(shake_values)) if shake_values else 0.0
    )
    shake_peak = max(shake_values, default=0.0)
    last_bump = frame.timestamp_s if bump else state.last_bump_s
    recently_bumped = last_bump is not None and frame.timestamp_s - last_bump < BUMP_HOLD_S
    shaking = shake_rms > shake_tolerance.fail
    calm = not shaking and not recently_bumped and shake_rms <= shake_tolerance.warn
    calm_frames = state.calm_frames + 1 if calm else 0
    if shaking or recently_bumped:
        stable = False
    elif not state.stable and calm_frames >= STABLE_AFTER_FRAMES:
        stable = True
    else:
        stable = state.stable
    new_state = StabilityState(
        previous=frame,
        recent_motion_px=tuple(shake_values),
        calm_frames=calm_frames,
        stable=stable,
        last_bump_s=last_bump,
        bumps=state.bumps + int(bump),
    )
    return new_state, StabilityReading(
        frame.timestamp_s, dx, dy, shake_rms, shake_peak, bump, stable
    )


@dataclass(frozen=True, slots=True)
class DriftReference:
    """The reference frame prepared for drift measurement: its grey copy and corners."""

    grey: npt.NDArray[np.uint8]
    corners: npt.NDArray[np.float32]
    scale: float


def prepare_drift_reference(rgb: RgbImage, width: int = DRIFT_WIDTH_PX) -> DriftReference:
    """Reduce the setup's reference frame and find the corners worth following, once."""
    grey, scale = _grey(rgb, width)
    grey_u8 = np.clip(grey, 0, 255).astype(np.uint8)
    corners = cv2.goodFeaturesToTrack(grey_u8, maxCorners=600, qualityLevel=0.01, minDistance=8)
    if corners is None:
        corners = _NO_CORNERS
    else:
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
        corners = cv2.cornerSubPix(grey_u8, corners, (5, 5), (-1, -1), criteria)
    return DriftReference(grey_u8, np.asarray(corners, np.float32), scale)


def measure_drift(reference: DriftReference, rgb: RgbImage) -> Drift | None:
    """Return the framing of ``rgb`` relative to the reference frame, or ``None``.

    The reference's corners are followed into the frame with pyramidal
    Lucas-Kanade flow and a similarity (shift, rotation, scale) is fitted with
    RANSAC: corners on something that moved by itself (the actor) are outliers
    and do not pull the estimate. ``None`` when too few corners are found again
    (a covered lens, a frame of another scene).
    """
    grey, scale = _grey(rgb, reference.grey.shape[1])
    return _similarity_drift(reference, np.clip(grey, 0, 255).astype(np.uint8), scale)


def _similarity_drift(
    reference: DriftReference, grey_u8: npt.NDArray[np.uint8], scale: float
) -> Drift | None:
    if len(reference.corners) < 8:
        return None
    first = _fit_similarity(reference, grey_u8)
    if first is None:
        return None
    # Second pass on the frame warped back by the first estimate: the residual
    # motion is tiny, where Lucas-Kanade is most precise.
    height, width = grey_u8.shape
    unwarped = cv2.warpAffine(
        grey_u8,
        first,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    residual = _fit_similarity(reference, np.asarray(unwarped, np.uint8))
    similarity = first if residual is None else _compose(first, residual)
    linear = similarity[:, :2].astype(np.float64)
    rotation = math.degrees(math.atan2(linear[1, 0], linear[0, 0]))
    scale_factor = math.hypot(linear[0, 0], linear[1, 0])
    # Report the offset of the frame's centre, in source pixels.
    centre = np.array([width / 2, height / 2])
    offset = (linear @ centre + similarity[:, 2] - centre) / scale
    return Drift(
        dx_px=float(offset[0]),
        dy_px=float(offset[1]),
        rotation_deg=rotation,
        scale_percent=100.0 * (scale_factor - 1.0),
    )


def _compose(
    outer: npt.NDArray[np.float64], inner: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Return the 2x3 transform applying ``inner`` first, then ``outer``."""
    outer_3 = np.vstack([outer, [0, 0, 1]])
    inner_3 = np.vstack([inner, [0, 0, 1]])
    return np.asarray((outer_3 @ inner_3)[:2], np.float64)


def _fit_similarity(
    reference: DriftReference, grey_u8: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float64] | None:
    found, status, _error = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
        reference.grey,
        grey_u8,
        reference.corners,
        None,
        winSize=(21, 21),
        maxLevel=4,
        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 0.001),
    )
    tracked = status.ravel() == 1
    if tracked.sum() < 8:
        return None
    source = reference.corners[tracked].reshape(-1, 2)
    target = np.asarray(found, np.float32)[tracked].reshape(-1, 2)
    similarity, inliers = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=0.75, maxIters=4000, refineIters=50
    )
    if similarity is None or inliers is None or int(inliers.sum()) < 8:
        return None
    return np.asarray(similarity, np.float64)
