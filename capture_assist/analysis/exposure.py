"""Histograms, clipped highlights and crushed shadows, cheap enough for every frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

CLIPPED_CODE = 254
CRUSHED_CODE = 1
HISTOGRAM_BINS = 256
HISTOGRAM_SAMPLE_WIDTH_PX = 480

RgbImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class ExposureReading:
    """Distribution and clipping of one frame.

    Attributes
    ----------
    histogram_rgb
        3 x 256 shares per channel (R, G, B), each summing to 1, from a
        decimated sample of the frame.
    histogram_luma
        The Rec. 709 weighting of the three channel histograms (a luma-like
        distribution that costs no extra pass over the frame).
    clipped_percent
        Per channel (R, G, B): share of pixels at or above the clipping code, at full resolution.
    crushed_percent
        Per channel: share of pixels at or below the crushed code, estimated
        from the histogram sample.
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


def _clipped_counts(frame: RgbImage) -> npt.NDArray[np.float64]:
    """Per channel, how many pixels are at or above the clipping code."""
    _, marked = cv2.threshold(frame, CLIPPED_CODE - 1, 1, cv2.THRESH_BINARY)
    return np.asarray(cv2.sumElems(marked)[:3], np.float64)


def histogram_sample(rgb: RgbImage) -> RgbImage:
    """Return every n-th pixel of every n-th row, about ``HISTOGRAM_SAMPLE_WIDTH_PX`` wide.

    Nearest-pixel decimation keeps true code values (no averaging that would
    pull a clipped pixel below the clipping code), so the sample's histogram is
    an unbiased estimate of the frame's: with 130,000 pixels or more, each of
    the 256 bins is within a few percent of its full-frame share, finer than
    the meter can draw.
    """
    height, width = rgb.shape[:2]
    step = max(1, width // HISTOGRAM_SAMPLE_WIDTH_PX)
    if step == 1:
        return np.ascontiguousarray(rgb)
    size = (max(1, width // step), max(1, height // step))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST), np.uint8)


def measure_exposure(rgb: RgbImage) -> ExposureReading:
    """Return the histograms of a frame and its clipped and crushed shares.

    Clipped highlights are counted over every pixel at full resolution: one
    pass finds the frame's brightest code, and only a frame that clips pays a
    second pass to count per channel, so a small specular highlight is never
    lost. Crushed shadows and the histograms come from a decimated sample (see
    ``histogram_sample``): an unbiased estimate, and a few crushed pixels of
    sensor noise in a black patch do not matter to anyone.
    """
    frame = np.ascontiguousarray(rgb)
    height, width = frame.shape[:2]
    _, highest, _, _ = cv2.minMaxLoc(frame.reshape(height, width * 3))
    clipped = (
        _clipped_counts(frame) * 100.0 / float(height * width)
        if highest >= CLIPPED_CODE
        else np.zeros(3)
    )
    sample = histogram_sample(frame)
    counts = np.stack(
        [
            np.asarray(cv2.calcHist([sample], [channel], None, [HISTOGRAM_BINS], [0, 256])).ravel()
            for channel in range(3)
        ]
    )
    histograms = counts / float(sample.shape[0] * sample.shape[1])
    crushed = histograms[:, : CRUSHED_CODE + 1].sum(axis=1) * 100.0
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
    frame = np.ascontiguousarray(rgb)
    full_height, full_width = frame.shape[:2]
    factor = 1.0 if width is None or width >= full_width else full_width / width
    size = (round(full_width / factor), max(1, round(full_height / factor)))
    _, highest, _, _ = cv2.minMaxLoc(frame.reshape(full_height, full_width * 3))
    if highest < CLIPPED_CODE:
        # The usual case, settled in one cheap pass: nothing clips.
        return np.zeros((size[1], size[0]), bool)
    mask = (frame.max(axis=2) >= CLIPPED_CODE).astype(np.uint8)
    if factor == 1.0:
        return np.asarray(mask, dtype=bool)
    kernel = np.ones((int(np.ceil(factor)),) * 2, np.uint8)
    dilated = cv2.dilate(mask, kernel)
    reduced = cv2.resize(dilated, size, interpolation=cv2.INTER_NEAREST)
    return np.asarray(reduced, dtype=bool)
