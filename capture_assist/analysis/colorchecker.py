"""Find a ColorChecker Classic 24 anywhere in a frame, sample its patches, reject impostors.

Detection: OpenCV's ``mcc`` detector proposes 4 x 6 patch grids on a reduced copy
of the frame. Each proposal becomes a homography from chart millimetres to
full-resolution pixels, fitted on the 24 patch centres and refined on each
patch's own centroid at full resolution. Its orientation is resolved from the
patches (mcc's patch order may be rotated or mirrored) and it is verified
against colour-science's reference: after normalising on the grey row, a real
ColorChecker's patches stay close to the reference, while other 24-patch
charts (a SpyderCHECKR 24 is a ColorChecker with its colour rows mirrored) and
misplaced grids do not.

Tracking: the previous homography is refined on the patches' centroids around
where they were, then verified the same way; no search of the frame.

Patches are sampled at full resolution in linear light, over the inner half of
each patch with a trimmed mean, so edges, glare specks and noise do not bias them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import colour
import cv2
import numpy as np
import numpy.typing as npt

from capture_assist.analysis.white_balance import (
    GREY_ROW,
    WhiteBalanceReading,
    measure_white_balance,
    relative_luminance,
)

DETECTION_WIDTH_PX = 1280
"""mcc runs on a copy this wide; it then finds charts down to ~1/10 of the frame's width.

mcc needs patches of about 18 px in its copy: smaller charts need ``working_width=None``
(full resolution: ~1/20 of a 4K frame's width, 0.5 s instead of 0.05 s).
"""
MAX_MEAN_DELTA_E = 15.0
"""Above this mean delta E 2000 after grey normalisation, a 4 x 6 grid is not a ColorChecker.

Real photographs measure 4-10 (phone renderings included); an ideally rendered
SpyderCHECKR 24 measures 24, ColorCheckers with their 18 colours shuffled 17 or more.
"""
MAX_GREY_SPREAD_DUV = 0.02
"""The middle greys' casts must agree (CIE 1960 uv); real photographs measure 0.011 at most."""
MIN_PATCH_SIZE_PX = 8.0
"""Smallest patch side (full resolution) that still leaves an inner region to sample."""
MAX_GRID_RESIDUAL = 0.2
"""Largest RMS distance, in patch pitches, of the proposed patch centres from a fitted grid."""
PATCH_INNER_FRACTION = 0.5
TRIM_FRACTION = 0.1
MIN_REFINED_PATCHES = 12
CENTROID_PIXELS_ACROSS = 100
"""Centroids read every n-th pixel of patches n x this wide (a 4K chart at 1/4 width: 136 px)."""
SAMPLE_PIXELS_ACROSS = 32

# ColorChecker Classic geometry in mm: patch size and centre-to-centre pitch.
PATCH_SIZE_MM = 38.0
PATCH_PITCH_MM = 44.6
_ROWS, _COLUMNS = 4, 6

RgbImage = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]
Method = Literal["detect", "track"]

_DECODE_LUT = np.asarray(
    colour.cctf_decoding(np.arange(256) / 255.0, function="sRGB"), dtype=np.float32
)


def _canonical_centres_mm() -> FloatArray:
    """Patch centres in chart millimetres: patch 1 at the origin, x along rows of six, y down."""
    rows, columns = np.divmod(np.arange(24), _COLUMNS)
    return np.stack([columns, rows], axis=1).astype(np.float64) * PATCH_PITCH_MM


_CENTRES_MM = _canonical_centres_mm()
_HALF = PATCH_SIZE_MM / 2
_SQUARE_MM = np.array([[-_HALF, -_HALF], [_HALF, -_HALF], [_HALF, _HALF], [-_HALF, _HALF]])
_QUADS_MM = _CENTRES_MM[:, None, :] + _SQUARE_MM[None]
_PATCH_AREA_MM = np.array([_QUADS_MM[0][0], _QUADS_MM[5][1], _QUADS_MM[23][2], _QUADS_MM[18][3]])
_GRID_WIDTH_MM = (_COLUMNS - 1) * PATCH_PITCH_MM
_GRID_HEIGHT_MM = (_ROWS - 1) * PATCH_PITCH_MM


def _symmetry(flip_x: bool, flip_y: bool) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Return a symmetry of the 4 x 6 grid: patch permutation and the mm map that does it.

    The permutation gives, for chart patch ``j``, the index ``mcc`` reported it
    under; the 3 x 3 matrix maps chart millimetres to the reported grid's.
    """
    grid = np.arange(24).reshape(_ROWS, _COLUMNS)
    grid = grid[:, ::-1] if flip_x else grid
    grid = grid[::-1, :] if flip_y else grid
    sign_x, sign_y = (-1.0 if flip_x else 1.0), (-1.0 if flip_y else 1.0)
    matrix = np.array(
        [
            [sign_x, 0.0, _GRID_WIDTH_MM if flip_x else 0.0],
            [0.0, sign_y, _GRID_HEIGHT_MM if flip_y else 0.0],
            [0.0, 0.0, 1.0],
        ]
    )
    return grid.ravel(), matrix


# The grid's symmetries that keep it 4 x 6: mcc may report the chart in any of them.
_ORIENTATIONS = {
    "as reported": _symmetry(False, False),
    "rotated 180": _symmetry(True, True),
    "mirrored rows": _symmetry(False, True),
    "mirrored columns": _symmetry(True, False),
}


def _frozen(array: npt.ArrayLike) -> FloatArray:
    frozen = np.array(array, dtype=np.float64)
    frozen.setflags(write=False)
    return frozen


@dataclass(frozen=True, slots=True)
class ChartDetection:
    """A verified ColorChecker, in its canonical orientation.

    Attributes
    ----------
    corners
        4 x 2 full-resolution pixel coordinates of the patch area's outer corners:
        at patch 1 (dark skin), patch 6 (bluish green), patch 24 (black) and
        patch 19 (white): top-left, top-right, bottom-right, bottom-left of the
        chart held upright, whatever its rotation in the frame.
    homography
        3 x 3 map from chart millimetres (patch 1's centre at the origin, 44.6 mm
        pitch, x along the rows of six) to full-resolution pixels.
    patch_quads
        24 x 4 x 2 corners of each patch, in chart order, each quad in the
        chart's top-left, top-right, bottom-right, bottom-left order.
    patches_linear
        24 x 3 linear sRGB of each patch (trimmed mean of its inner half).
    white_balance
        The colorimetric reading of those patches.
    method
        ``"detect"`` (whole-frame search) or ``"track"`` (refined from the previous detection).
    """

    corners: FloatArray
    homography: FloatArray
    patch_quads: FloatArray
    patches_linear: FloatArray
    white_balance: WhiteBalanceReading
    method: Method

    @property
    def patch_centres(self) -> FloatArray:
        """24 x 2 pixel centres of the patches, in chart order."""
        return _project(self.homography, _CENTRES_MM)

    @property
    def patch_size_px(self) -> float:
        """Mean side of a patch in pixels."""
        return _mean_side(self.patch_quads)

    @property
    def mean_delta_e(self) -> float:
        """Mean delta E 2000 after grey normalisation (the verification score)."""
        return self.white_balance.delta_e_mean


@dataclass(frozen=True, slots=True)
class ChartRejection:
    """A proposed 4 x 6 grid that was not accepted, and why.

    ``corners`` (4 x 2 px) locate the proposal's patch area, in mcc's patch
    order (its orientation was not resolved).
    """

    corners: FloatArray
    reason: str


@dataclass(frozen=True, slots=True)
class ChartSearch:
    """Everything a whole-frame search found: the best verified chart and the rejected proposals."""

    detection: ChartDetection | None
    rejections: tuple[ChartRejection, ...]


def _project(homography: FloatArray, points_mm: FloatArray) -> FloatArray:
    points = np.asarray(points_mm, dtype=np.float64)
    mapped = cv2.perspectiveTransform(points.reshape(-1, 1, 2), homography)
    return np.asarray(mapped, dtype=np.float64).reshape(points.shape)


def _mean_side(quads: FloatArray) -> float:
    sides = np.linalg.norm(quads - np.roll(quads, -1, axis=-2), axis=-1)
    return float(sides.mean())


def _fit_homography(
    points_mm: FloatArray, points_px: FloatArray, method: int = 0
) -> FloatArray | None:
    homography, _inliers = cv2.findHomography(
        points_mm.astype(np.float64), points_px.astype(np.float64), method, 2.0
    )
    return None if homography is None else np.asarray(homography, dtype=np.float64)


def _trimmed_mean(values: npt.NDArray[np.float32]) -> FloatArray:
    ordered = np.sort(values, axis=0)
    cut = int(len(ordered) * TRIM_FRACTION)
    kept = ordered[cut : len(ordered) - cut] if len(ordered) > 2 * cut else ordered
    return np.asarray(kept.mean(axis=0), dtype=np.float64)


def _sample_patches(rgb: RgbImage, quads: FloatArray) -> FloatArray | None:
    """Linear sRGB of each patch's inner part; ``None`` if a patch leaves the frame."""
    height, width = rgb.shape[:2]
    centres = quads.mean(axis=1, keepdims=True)
    inner_quads = centres + (quads - centres) * PATCH_INNER_FRACTION
    patches = np.empty((len(quads), 3))
    for index, inner in enumerate(inner_quads):
        x0, y0 = np.floor(inner.min(axis=0)).astype(int)
        x1, y1 = np.ceil(inner.max(axis=0)).astype(int) + 1
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            return None
        step = max(1, int((x1 - x0) // SAMPLE_PIXELS_ACROSS))
        region = rgb[y0:y1:step, x0:x1:step]
        mask = np.zeros(region.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, np.round((inner - (x0, y0)) / step).astype(np.int32), 1)
        pixels = region[mask.astype(bool)]
        if len(pixels) == 0:
            pixels = region.reshape(-1, 3)
        patches[index] = _trimmed_mean(_DECODE_LUT[pixels])
    return patches


def _patch_centroid(rgb: RgbImage, quad: FloatArray) -> FloatArray | None:
    """Centroid of the uniform region around a patch's expected centre, or ``None``.

    The region is the pixels close to the colour at the centre and connected to
    it; patches that merge with their surround (the black one with the chart's
    frame) or with a neighbour, or that the centre missed, give no centroid.
    Patches over ``CENTROID_PIXELS_ACROSS`` are read on every n-th pixel, which
    costs up to n/4 px of accuracy (edges land on the coarser grid).
    """
    height, width = rgb.shape[:2]
    centre = quad.mean(axis=0)
    size = _mean_side(quad)
    step = max(1, int(size // CENTROID_PIXELS_ACROSS))
    # The patch's box with room for it to have moved by a third of its size.
    margin = 0.4 * size
    x0, y0 = np.maximum(np.floor(quad.min(axis=0) - margin), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(quad.max(axis=0) + margin) + 1, (width, height)).astype(int)
    cx, cy = round((centre[0] - x0) / step), round((centre[1] - y0) / step)
    window = np.ascontiguousarray(rgb[y0:y1:step, x0:x1:step])
    if not (0 <= cx < window.shape[1] and 0 <= cy < window.shape[0]):
        return None
    seed_half = max(1, int(size * 0.15 / step))
    seed = window[
        max(cy - seed_half, 0) : cy + seed_half + 1, max(cx - seed_half, 0) : cx + seed_half + 1
    ].reshape(-1, 3)
    colour_here = np.median(seed, axis=0)
    spread = float(np.median(np.abs(seed - colour_here), axis=0).max())
    # Noise sets the tolerance; the patch edges sit far outside it.
    tolerance = max(12.0, 6.0 * spread)
    low = np.clip(colour_here - tolerance, 0, 255)
    high = np.clip(colour_here + tolerance, 0, 255)
    mask = cv2.inRange(window, low, high)
    _count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=4)
    label = labels[cy, cx]
    if label == 0:
        return None
    left, top, box_width, box_height, area = stats[label]
    touches_edge = (
        left == 0
        or top == 0
        or left + box_width == mask.shape[1]
        or top + box_height == mask.shape[0]
    )
    expected_area = float(cv2.contourArea(quad.astype(np.float32))) / step**2
    if touches_edge or not 0.5 * expected_area < area < 1.3 * expected_area:
        return None
    centroid: FloatArray = np.asarray(centroids[label], dtype=np.float64) * step + (x0, y0)
    return centroid


def _refine(rgb: RgbImage, homography: FloatArray) -> FloatArray | None:
    """Refit the homography on the patches' centroids; ``None`` if too few were found."""
    quads = _project(homography, _QUADS_MM)
    found_mm, found_px = [], []
    for index, quad in enumerate(quads):
        centroid = _patch_centroid(rgb, quad)
        if centroid is not None:
            found_mm.append(_CENTRES_MM[index])
            found_px.append(centroid)
    if len(found_px) < MIN_REFINED_PATCHES:
        return None
    return _fit_homography(np.array(found_mm), np.array(found_px), cv2.RANSAC)


def _settle(rgb: RgbImage, homography: FloatArray) -> FloatArray | None:
    """Refine, and once more if the first pass moved the patches by a tenth of a patch or more.

    A second pass matters when the start was far off (mcc's reduced-resolution
    centres, a fast-moving chart): the first one's windows were centred wrongly.
    """
    refined = _refine(rgb, homography)
    if refined is None:
        return None
    size = _mean_side(_project(refined, _QUADS_MM))
    moved = np.abs(_project(refined, _CENTRES_MM) - _project(homography, _CENTRES_MM)).max()
    return _refine(rgb, refined) if moved > 0.1 * size else refined


def _geometry_problem(homography: FloatArray, frame_shape: tuple[int, ...]) -> str | None:
    """Say why a grid cannot be a chart in this frame, or ``None`` if it can."""
    corners = _project(homography, _PATCH_AREA_MM).astype(np.float32)
    if not cv2.isContourConvex(corners):
        return "the patch area is not a convex quadrilateral"
    size = _mean_side(_project(homography, _QUADS_MM))
    if size < MIN_PATCH_SIZE_PX:
        return f"patches of {size:.1f} px are too small to sample"
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
    if max(sides[0] / sides[2], sides[2] / sides[0], sides[1] / sides[3], sides[3] / sides[1]) > 3:
        return "perspective too steep for a chart"
    aspect = (sides[0] + sides[2]) / (sides[1] + sides[3])
    nominal = (_GRID_WIDTH_MM + PATCH_SIZE_MM) / (_GRID_HEIGHT_MM + PATCH_SIZE_MM)
    if not nominal / 2.5 < aspect < nominal * 2.5:
        return f"aspect ratio {aspect:.2f} is implausible for a 4 x 6 chart"
    height, width = frame_shape[:2]
    if corners.min() < 0 or corners[:, 0].max() >= width or corners[:, 1].max() >= height:
        return "the patch area leaves the frame"
    return None


def _grey_row_descends(patches: FloatArray) -> bool:
    """Whether patches 19-24 run from white to black (allowing clipped whites to tie)."""
    luminance = relative_luminance(patches[GREY_ROW])
    steps_ok = np.all(luminance[1:] <= luminance[:-1] * 1.02 + 0.002)
    return bool(steps_ok and luminance[0] > 3.0 * luminance[-1])


def _accept(patches: FloatArray, reading: WhiteBalanceReading | None) -> WhiteBalanceReading | str:
    """Return the reading if the patches are a ColorChecker's, else the reason they are not."""
    if not _grey_row_descends(patches):
        return "no grey row running from white to black"
    if reading is None:
        return "the middle greys are clipped or black"
    if reading.delta_e_mean > MAX_MEAN_DELTA_E:
        return (
            f"not a ColorChecker: mean delta E {reading.delta_e_mean:.1f} after grey "
            f"normalisation (limit {MAX_MEAN_DELTA_E:.0f})"
        )
    if reading.grey_spread_duv > MAX_GREY_SPREAD_DUV:
        return f"the greys disagree on the cast by {reading.grey_spread_duv:.3f} uv"
    return reading


def _orient_and_verify(
    rgb: RgbImage, homography: FloatArray
) -> tuple[FloatArray, FloatArray, WhiteBalanceReading] | str:
    """Resolve which symmetry of the grid is the chart's orientation, then verify it.

    The best orientation is the one closest to the reference; if none passes,
    the reason given is that of the closest one.
    """
    patches_reported = _sample_patches(rgb, _project(homography, _QUADS_MM))
    if patches_reported is None:
        return "patches fall outside the frame"
    best: tuple[float, FloatArray, FloatArray, WhiteBalanceReading] | None = None
    closest_rejection: tuple[float, str] | None = None
    for permutation, to_reported in _ORIENTATIONS.values():
        patches = patches_reported[permutation]
        if not _grey_row_descends(patches):
            continue  # cheap and decisive: skip the colorimetry
        reading = measure_white_balance(patches)
        verdict = _accept(patches, reading)
        score = np.inf if reading is None else reading.delta_e_mean
        if isinstance(verdict, str):
            if closest_rejection is None or score < closest_rejection[0]:
                closest_rejection = (score, verdict)
        elif best is None or score < best[0]:
            best = (score, homography @ to_reported, patches, verdict)
    if best is not None:
        return best[1], best[2], best[3]
    if closest_rejection is not None:
        return closest_rejection[1]
    return "no grey row running from white to black"


def _detection(
    homography: FloatArray, patches: FloatArray, reading: WhiteBalanceReading, method: Method
) -> ChartDetection:
    return ChartDetection(
        corners=_frozen(_project(homography, _PATCH_AREA_MM)),
        homography=_frozen(homography),
        patch_quads=_frozen(_project(homography, _QUADS_MM)),
        patches_linear=_frozen(patches),
        white_balance=reading,
        method=method,
    )


def _propose(rgb: RgbImage, working_width: int | None) -> list[FloatArray]:
    """Run ``mcc`` on a reduced copy; return each proposed grid's 24 centres at full resolution."""
    width = rgb.shape[1]
    scale = 1.0 if working_width is None else min(1.0, working_width / width)
    reduced = (
        rgb
        if scale == 1.0
        else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    )
    bgr = np.ascontiguousarray(reduced[:, :, ::-1])
    detector = cv2.mcc.CCheckerDetector.create()
    detector.setColorChartType(cv2.mcc.MCC24)
    params = detector.getDetectionParams()
    # mcc enlarges images whose short side is under minImageSize (1000 by
    # default): that doubles its cost on a 720-px-high copy and finds nothing more.
    params.minImageSize = min(bgr.shape[:2])
    detector.setDetectionParams(params)
    # Ask for several: an impostor chart may outrank the real one.
    if not detector.process(bgr, 4):
        return []
    proposals = []
    for checker in detector.getListColorChecker():
        quads = np.asarray(checker.getColorCharts(), dtype=np.float64).reshape(24, 4, 2)
        # Pixel centres: +0.5 to go from the reduced copy's to the frame's pixel grid.
        proposals.append((quads.mean(axis=1) + 0.5) / scale - 0.5)
    return proposals


def search_colorchecker(
    rgb: RgbImage, *, working_width: int | None = DETECTION_WIDTH_PX
) -> ChartSearch:
    """Search a whole RGB frame for ColorCheckers; return the best and the rejected proposals.

    Parameters
    ----------
    rgb
        The frame, ``H x W x 3`` uint8 RGB.
    working_width
        ``mcc`` runs on a copy reduced to this width (never enlarged); ``None``
        searches at full resolution (slower, finds smaller charts).
    """
    best: ChartDetection | None = None
    rejections = []
    for centres in _propose(rgb, working_width):
        verdict = _verify_proposal(rgb, centres)
        if isinstance(verdict, ChartRejection):
            rejections.append(verdict)
        elif best is None or verdict.mean_delta_e < best.mean_delta_e:
            best = verdict
    return ChartSearch(best, tuple(rejections))


def _verify_proposal(rgb: RgbImage, centres: FloatArray) -> ChartDetection | ChartRejection:
    homography = _fit_homography(_CENTRES_MM, centres)
    if homography is None:
        return ChartRejection(_frozen(centres[[0, 5, 23, 18]]), "no grid fits the proposal")
    corners = _frozen(_project(homography, _PATCH_AREA_MM))
    pitch_px = _mean_side(_project(homography, _QUADS_MM)) * PATCH_PITCH_MM / PATCH_SIZE_MM
    residual = np.sqrt(np.mean(np.sum((_project(homography, _CENTRES_MM) - centres) ** 2, axis=1)))
    if residual > MAX_GRID_RESIDUAL * pitch_px:
        return ChartRejection(corners, "the proposed patches do not lie on a regular 4 x 6 grid")
    refined = _settle(rgb, homography)
    homography = homography if refined is None else refined
    problem = _geometry_problem(homography, rgb.shape)
    if problem is not None:
        return ChartRejection(corners, problem)
    verdict = _orient_and_verify(rgb, homography)
    if isinstance(verdict, str):
        return ChartRejection(corners, verdict)
    return _detection(*verdict, "detect")


def detect_colorchecker(
    rgb: RgbImage, *, working_width: int | None = DETECTION_WIDTH_PX
) -> ChartDetection | None:
    """Find and verify a ColorChecker Classic 24 in an RGB frame (see ``search_colorchecker``)."""
    return search_colorchecker(rgb, working_width=working_width).detection


def track_colorchecker(rgb: RgbImage, previous: ChartDetection) -> ChartDetection | None:
    """Follow the chart from where it was, without a new search.

    The previous homography is refitted on the patches' centroids measured
    around their previous positions, then verified like a detection. Returns
    ``None`` when the chart moved more than about a third of a patch, left or
    changed: the caller then searches the whole frame.
    """
    homography = _settle(rgb, np.asarray(previous.homography, dtype=np.float64))
    if homography is None or _geometry_problem(homography, rgb.shape) is not None:
        return None
    patches = _sample_patches(rgb, _project(homography, _QUADS_MM))
    if patches is None:
        return None
    verdict = _accept(patches, measure_white_balance(patches))
    if isinstance(verdict, str):
        return None
    return _detection(homography, patches, verdict, "track")
