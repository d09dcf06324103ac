"""Sharpness: variance of the Laplacian, on the whole frame or a region of interest."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

RgbImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class FocusReading:
    """Sharpness of a frame (higher is sharper; comparable only for the same scene)."""

    sharpness: float


def measure_focus(rgb: RgbImage, region: tuple[int, int, int, int] | None = None) -> FocusReading:
    """Return the variance of the Laplacian of the luma, in ``region`` (x, y, w, h) if given."""
    if region is not None:
        x, y, width, height = region
        rgb = rgb[y : y + height, x : x + width]
    luma = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    laplacian = cv2.Laplacian(luma, cv2.CV_32F, ksize=3)
    _mean, deviation = cv2.meanStdDev(laplacian)
    return FocusReading(float(deviation[0, 0]) ** 2)


def sharpness_drop_percent(reading: FocusReading, reference: FocusReading) -> float:
    """Return how much sharper the reference was, in percent (0 or less: as sharp or sharper)."""
    if reference.sharpness <= 0:
        return 0.0
    return 100.0 * (1.0 - reading.sharpness / reference.sharpness)
