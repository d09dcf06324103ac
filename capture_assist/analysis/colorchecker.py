"""Find a ColorChecker Classic 24 anywhere in a frame, sample its patches, reject impostors.

OpenCV's ``mcc`` detector proposes charts on a reduced copy of the frame; each
proposal is resolved to the chart's canonical orientation (dark skin at patch 1)
and verified against colour-science's reference: after normalising on the grey
row, a real ColorChecker's patches stay close to the reference, while other
24-patch charts (e.g. SpyderCHECKR) and misplaced detections do not.
Patches are sampled at full resolution in linear light, over the inner half of
each patch with a median, so edges, glare specks and noise do not bias them.
"""

from __future__ import annotations

from dataclasses import dataclass

import colour
import cv2
import numpy as np
import numpy.typing as npt

from capture_assist.analysis.white_balance import (
    GREY_ROW,
    WhiteBalanceReading,
    measure_white_balance,
)

DETECTION_WIDTH_PX = 1280
MAX_MEAN_DELTA_E = 20.0
"""Above this after grey normalisation a 24-patch grid is not a ColorChecker
(true charts measured under 16, SpyderCHECKRs 26 and more)."""
PATCH_INNER_FRACTION = 0.5

# ColorChecker Classic geometry in mm: patch size and centre-to-centre pitch.
PATCH_SIZE_MM = 38.0
PATCH_PITCH_MM = 44.6
TRACK_MARGIN_FRACTION = 0.35

RgbImage = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]

_DECODE_LUT = np.asarray(colour.cctf_decoding(np.arange(256) / 255.0, function="sRGB"), np.float64)

# mcc numbers patches in a 4 x 6 raster whose orientation depends on how it saw
# the chart; these are the raster's symmetries that keep it 4 x 6.
_GRID = np.arange(24).reshape(4, 6)
_ORIENTATIONS = {
    "as found": _GRID.ravel(),
    "rotated 180": _GRID[::-1, ::-1].ravel(),
    "mirrored rows": _GRID[::-1, :].ravel(),
    "mirrored columns": _GRID[:, ::-1].ravel(),
}


@dataclass(frozen=True, slots=True)
class ChartDetection:
    """A verified ColorChecker.

    Attributes
    ----------
    corners
        4 x 2 full-resolution pixel coordinates of the patch area: the corner at
        patch 1 (dark skin), patch 6, patch 24 (black), patch 19 (white).
    patch_quads
        24 x 4 x 2 corners of each patch, in chart order.
    patches_linear
        24 x 3 median linear sRGB of each patch's inner half.
    white_balance
        The colorimetric reading of those patches.
    method
        ``"detect"`` (whole frame) or ``"track"`` (around the previous detection).
    """

    corners: FloatArray
    patch_quads: FloatArray
    patches_linear: FloatArray
    white_balance: WhiteBalanceReading
    method: str

    @property
    def mean_delta_e(self) -> float:
        """Mean delta E 2000 after grey normalisation (the verification score)."""
        return self.white_balance.delta_e_mean


@dataclass(frozen=True, slots=True)
class ChartRejection:
    """Why a proposed chart was not accepted."""

    corners: FloatArray
    reason: str


def _patch_medians(rgb: RgbImage, quads: FloatArray) -> FloatArray:
    """Median linear sRGB over the inner part of each patch quad."""
    medians = np.empty((len(quads), 3))
    height, width = rgb.shape[:2]
    for index, quad in enumerate(quads):
        centre = quad.mean(axis=0)
        inner = centre + (quad - centre) * PATCH_INNER_FRACTION
        x0, y0 = np.floor(inner.min(axis=0)).astype(int)
        x1, y1 = np.ceil(inner.max(axis=0)).astype(int) + 1
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, width), min(y1, height)
        if x1 - x0 < 1 or y1 - y0 < 1:
            medians[index] = np.nan
            continue
        region = rgb[y0:y1, x0:x1]
        mask = np.zeros(region.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, np.round(inner - (x0, y0)).astype(np.int32), 1)
        pixels = region[mask.astype(bool)]
        if len(pixels) == 0:
            pixels = region.reshape(-1, 3)
        medians[index] = _DECODE_LUT[np.median(pixels, axis=0).round().astype(int)]
    return medians


def _verify(
    rgb: RgbImage, quads_found: FloatArray
) -> tuple[FloatArray, FloatArray, WhiteBalanceReading] | str:
    """Pick the orientation that fits the reference best, or say why none does."""
    best: tuple[float, FloatArray, FloatArray, WhiteBalanceReading] | None = None
    patches_found = _patch_medians(rgb, quads_found)
    if np.isnan(patches_found).any():
        return "patches fall outside the frame"
    for order in _ORIENTATIONS.values():
        patches = patches_found[order]
        # The grey row runs from white to black: a cheap, strong orientation check.
        grey_luma = patches[GREY_ROW] @ np.array([0.2126, 0.7152, 0.0722])
        if not np.all(np.diff(grey_luma) < 0):
            continue
        reading = measure_white_balance(patches)
        if reading is None:
            continue
        score = reading.delta_e_mean
        if best is None or score < best[0]:
            best = (score, quads_found[order], patches, reading)
    if best is None:
        return "no orientation has a grey row running from white to black"
    score, quads, patches, reading = best
    if score > MAX_MEAN_DELTA_E:
        return f"not a ColorChecker: mean delta E {score:.1f} after grey normalisation"
    return quads, patches, reading


def _corners_of(quads: FloatArray) -> FloatArray:
    """Outer corners of the patch area at patches 1, 6, 24 and 19."""
    return np.array([quads[0][0], quads[5][1], quads[23][2], quads[18][3]], dtype=np.float64)


def canonical_patch_quads() -> FloatArray:
    """Return the 24 patch squares in chart millimetres, patch 1 at the origin, rows of six."""
    half = PATCH_SIZE_MM / 2
    square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    centres = [
        (column * PATCH_PITCH_MM, row * PATCH_PITCH_MM) for row in range(4) for column in range(6)
    ]
    return np.array([square + centre for centre in centres], dtype=np.float64)


def _refine_quads(rgb: RgbImage, quads: FloatArray) -> FloatArray:
    """Refit the chart from each patch's own centroid, measured at full resolution.

    A patch's pixels are those near its median colour and connected to its centre;
    patches that bleed into the chart's surround (the black one) are left out.
    """
    height, width = rgb.shape[:2]
    canonical = canonical_patch_quads().mean(axis=1)
    measured: list[tuple[int, npt.NDArray[np.float64]]] = []
    for index, quad in enumerate(quads):
        centre = quad.mean(axis=0)
        reach = (quad.max(axis=0) - quad.min(axis=0)) * 0.75
        x0, y0 = np.maximum(np.floor(centre - reach), 0).astype(int)
        x1, y1 = np.minimum(np.ceil(centre + reach), (width, height)).astype(int)
        window = rgb[y0:y1, x0:x1].astype(np.int16)
        if window.shape[0] < 8 or window.shape[1] < 8:
            continue
        cx, cy = int(centre[0]) - x0, int(centre[1]) - y0
        inner = window[max(cy - 2, 0) : cy + 3, max(cx - 2, 0) : cx + 3].reshape(-1, 3)
        colour_here = np.median(inner, axis=0)
        distance = np.abs(window - colour_here).max(axis=2)
        mask = (distance < 14).astype(np.uint8)
        _count, labels = cv2.connectedComponents(mask, connectivity=4)
        label = labels[min(cy, labels.shape[0] - 1), min(cx, labels.shape[1] - 1)]
        if label == 0:
            continue
        ys, xs = np.nonzero(labels == label)
        if (
            ys.min() == 0
            or xs.min() == 0
            or ys.max() == mask.shape[0] - 1
            or xs.max() == mask.shape[1] - 1
        ):
            continue  # bled into the surround: no edge to measure against
        measured.append((index, np.array([xs.mean() + x0, ys.mean() + y0])))
    if len(measured) < 12:
        return quads
    source = np.array([canonical[index] for index, _ in measured], dtype=np.float32)
    target = np.array([point for _, point in measured], dtype=np.float32)
    homography, _inliers = cv2.findHomography(source, target, cv2.RANSAC, 3.0)
    if homography is None:
        return quads
    mapped = cv2.perspectiveTransform(canonical_patch_quads().reshape(-1, 1, 2), homography)
    return np.asarray(mapped, dtype=np.float64).reshape(24, 4, 2)


def _fit_patch_quads(quads_found: FloatArray) -> FloatArray:
    """Map the chart's true patch squares through the homography of the found centres.

    ``mcc`` reports a shrunken square per patch; the centres are accurate, and 24
    of them fix the chart's perspective far better than any single corner.
    """
    canonical = canonical_patch_quads()
    homography, _inliers = cv2.findHomography(
        canonical.mean(axis=1).astype(np.float32), quads_found.mean(axis=1).astype(np.float32), 0
    )
    mapped = cv2.perspectiveTransform(canonical.reshape(-1, 1, 2), homography)
    return np.asarray(mapped, dtype=np.float64).reshape(24, 4, 2)


def _propose(bgr: npt.NDArray[np.uint8], charts: int) -> list[FloatArray]:
    detector = cv2.mcc.CCheckerDetector.create()
    detector.setColorChartType(cv2.mcc.MCC24)
    if not detector.process(bgr, charts):
        return []
    return [
        np.asarray(checker.getColorCharts(), dtype=np.float64).reshape(24, 4, 2)
        for checker in detector.getListColorChecker()
    ]


def detect_colorchecker(
    rgb: RgbImage,
    *,
    working_width: int = DETECTION_WIDTH_PX,
    rejections: list[ChartRejection] | None = None,
) -> ChartDetection | None:
    """Find and verify a ColorChecker Classic 24 in an RGB frame.

    Parameters
    ----------
    rgb
        The frame, ``H x W x 3`` uint8 RGB.
    working_width
        The detector runs on a copy reduced to this width (never enlarged).
    rejections
        When given, proposals that failed verification are appended with the reason.
    """
    width = rgb.shape[1]
    scale = min(1.0, working_width / width)
    reduced = (
        rgb
        if scale == 1.0
        else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    )
    bgr = np.ascontiguousarray(reduced[:, :, ::-1], dtype=np.uint8)
    best: ChartDetection | None = None
    for quads_reduced in _propose(bgr, charts=2):
        quads = quads_reduced / scale
        verdict = _verify(rgb, quads)
        if isinstance(verdict, str):
            if rejections is not None:
                rejections.append(ChartRejection(_corners_of(quads), verdict))
            continue
        quads = verdict[0]
        quads = _refine_quads(rgb, _refine_quads(rgb, _fit_patch_quads(quads)))
        patches = _patch_medians(rgb, quads)
        refined = measure_white_balance(patches)
        if refined is None:
            continue
        detection = ChartDetection(_corners_of(quads), quads, patches, refined, "detect")
        if best is None or detection.mean_delta_e < best.mean_delta_e:
            best = detection
    return best


def track_colorchecker(rgb: RgbImage, previous: ChartDetection) -> ChartDetection | None:
    """Follow the chart from where it was, without a new search.

    Each patch's centroid is measured again around its previous position and the
    chart refitted from them, then verified like a detection. Returns ``None``
    when the chart moved too far or is gone: the caller then searches the
    whole frame.
    """
    quads = _refine_quads(rgb, _refine_quads(rgb, previous.patch_quads))
    if quads is previous.patch_quads:
        return None
    shift = np.abs(quads - previous.patch_quads).max()
    patch_size = np.abs(previous.patch_quads[0][2] - previous.patch_quads[0][0]).max()
    if shift > patch_size / 2:
        return None  # a jump that large is a new chart position: search again
    patches = _patch_medians(rgb, quads)
    if np.isnan(patches).any():
        return None
    reading = measure_white_balance(patches)
    if reading is None or reading.delta_e_mean > MAX_MEAN_DELTA_E:
        return None
    return ChartDetection(_corners_of(quads), quads, patches, reading, "track")
