"""Histograms, clipped highlights and crushed shadows, cheap enough for every frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

CLIPPED_CODE = 254
CRUSHED_CODE = 1
HISTOGRAM_BINS = 256

RgbImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class ExposureReading:
    """Distribution and clipping of one frame.

    Attributes
    ----------
    histogram_rgb
        3 x 256 shares per channel (R, G, B), each summing to 1.
    histogram_luma
        The Rec. 709 weighting of the three channel histograms (a luma-like
        distribution that costs no extra pass over the frame).
    clipped_percent
        Per channel (R, G, B): share of pixels at or above the clipping code, at full resolution.
    crushed_percent
        Per channel: share of pixels at or below the crushed code, at full resolution.
    mean_luma
        Mean Rec. 709 luma code value.
    """

    histogram_rgb: npt.NDArray[np.float32]
    histogram_luma: npt.NDArray[np.float32]
    clipped_percent: tuple[float, float, float]
    crushed_percent: tuple[float, float, float]
    mean_luma: float

    @property
    def clipped_percent_any(self) -> float:
        """The worst channel's clipped share."""
        return max(self.clipped_percent)


def measure_exposure(rgb: RgbImage) -> ExposureReading:
    """Return the histograms and the clipped and crushed shares of every pixel of a frame.

    Full-resolution histograms give exact clipping counts: a small specular
    highlight matters to the DP and a reduced copy would hide it.
    """
    frame = np.ascontiguousarray(rgb)
    counts = np.stack(
        [
            np.asarray(cv2.calcHist([frame], [channel], None, [HISTOGRAM_BINS], [0, 256])).ravel()
            for channel in range(3)
        ]
    )
    total = float(frame.shape[0] * frame.shape[1])
    clipped = counts[:, CLIPPED_CODE:].sum(axis=1) * 100.0 / total
    crushed = counts[:, : CRUSHED_CODE + 1].sum(axis=1) * 100.0 / total
    histograms = counts / total
    luma = histograms.T @ np.array([0.2126, 0.7152, 0.0722])
    return ExposureReading(
        histogram_rgb=histograms.astype(np.float32),
        histogram_luma=luma.astype(np.float32),
        clipped_percent=(float(clipped[0]), float(clipped[1]), float(clipped[2])),
        crushed_percent=(float(crushed[0]), float(crushed[1]), float(crushed[2])),
        mean_luma=float(np.dot(np.arange(HISTOGRAM_BINS), luma)),
    )


def clipping_mask(rgb: RgbImage, width: int | None = None) -> npt.NDArray[np.bool_]:
    """Return where any channel clips, optionally at a display width (for the zebra overlay).

    The reduction keeps a clipped pixel visible however small: a block is marked
    when any of its pixels clips.
    """
    mask = (rgb.max(axis=2) >= CLIPPED_CODE).astype(np.uint8)
    if width is None or width >= rgb.shape[1]:
        return np.asarray(mask, dtype=bool)
    factor = rgb.shape[1] / width
    height = max(1, round(rgb.shape[0] / factor))
    kernel = np.ones((int(np.ceil(factor)),) * 2, np.uint8)
    dilated = cv2.dilate(mask, kernel)
    reduced = cv2.resize(dilated, (width, height), interpolation=cv2.INTER_NEAREST)
    return np.asarray(reduced, dtype=bool)
