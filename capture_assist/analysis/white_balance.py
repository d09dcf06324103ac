"""White balance, grey exposure and colour accuracy from a ColorChecker's 24 patches.

Every colorimetric step uses colour-science. The chart's grey row is compared
with the reference greys rendered neutrally in sRGB (adapted from D50 to D65
with CAT02): the per-channel ratio between them is the camera's white-balance
error, whose chromaticity gives the cast's CCT and Duv. A neutral rendering
measures as D65 (6504 K). Patches are in chart order: 1 dark skin ... 19 white,
20-23 greys, 24 black.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import colour
import numpy as np
import numpy.typing as npt

COLORCHECKER_NAME = "ColorChecker24 - After November 2014"
GREY_ROW = slice(18, 24)
NEUTRAL_CCT_K = 6504.0
CLIPPED_LINEAR = 0.98
TOO_DARK_LINEAR = 0.01

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class WhiteBalanceReading:
    """What the chart says about the camera's colour rendering.

    Attributes
    ----------
    cct_k
        Correlated colour temperature of the grey row relative to the reference
        greys (6504 K: neutral; lower: warm cast; higher: cool cast).
    duv
        Distance from the Planckian locus (Ohno 2013); positive is greenish.
    cast_mired
        ``1e6/cct_k - 1e6/6504``: the cast in mired (positive: warm).
    grey_patches_used
        Chart indices (1-24) of the grey patches measured (clipped or black ones left out).
    grey_exposure_ev
        Exposure of those greys relative to their reference reflectances, in EV
        (log2 of the mean ratio of measured to reference luminance).
    delta_e_per_patch
        CIE 2000 delta E of each patch after normalising on the grey row.
    """

    cct_k: float
    duv: float
    cast_mired: float
    grey_patches_used: tuple[int, ...]
    grey_exposure_ev: float
    delta_e_per_patch: tuple[float, ...]

    @property
    def delta_e_mean(self) -> float:
        """Mean delta E 2000 over the 24 patches."""
        return float(np.mean(self.delta_e_per_patch))

    @property
    def delta_e_max(self) -> float:
        """Largest delta E 2000 of a patch."""
        return float(np.max(self.delta_e_per_patch))


def mired(cct_k: float) -> float:
    """Return a colour temperature in mired (micro reciprocal degrees)."""
    return 1e6 / cct_k


def white_balance_error_mired(
    reading: WhiteBalanceReading, target_cct_k: float, camera_white_balance_k: float | None = None
) -> float:
    """Return how far the light is from the setup's target, in mired (positive: warmer).

    The light's temperature is estimated from the cast and the camera's white
    balance setting; without a setting the camera is assumed balanced for the
    target, so the error is the cast itself.
    """
    camera_mired = mired(camera_white_balance_k or target_cct_k)
    light_mired = camera_mired + reading.cast_mired
    return light_mired - mired(target_cct_k)


def white_balance_change_mired(
    reading: WhiteBalanceReading, reference: WhiteBalanceReading
) -> float:
    """Return the change of cast since the setup's reference frame, in mired."""
    return reading.cast_mired - reference.cast_mired


def exposure_change_ev(reading: WhiteBalanceReading, reference: WhiteBalanceReading) -> float:
    """Return the grey patches' exposure change since the reference frame, in EV."""
    return reading.grey_exposure_ev - reference.grey_exposure_ev


@cache
def reference_linear_srgb() -> FloatArray:
    """Return the 24 reference patches in linear sRGB, adapted D50 -> D65 with CAT02."""
    chart = colour.CCS_COLOURCHECKERS[COLORCHECKER_NAME]
    xyz = colour.xyY_to_XYZ(np.array(list(chart.data.values()), dtype=np.float64))
    observer = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]
    adapted = colour.chromatic_adaptation(
        xyz,
        colour.xy_to_XYZ(observer["D50"]),
        colour.xy_to_XYZ(observer["D65"]),
        method="Von Kries",
        transform="CAT02",
    )
    linear = colour.XYZ_to_RGB(adapted, colour.RGB_COLOURSPACES["sRGB"], apply_cctf_encoding=False)
    return np.asarray(linear, dtype=np.float64)


def _lab(linear_srgb: FloatArray) -> FloatArray:
    xyz = colour.RGB_to_XYZ(linear_srgb, colour.RGB_COLOURSPACES["sRGB"], apply_cctf_decoding=False)
    d65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
    return np.asarray(colour.XYZ_to_Lab(xyz, d65), dtype=np.float64)


def _luminance(linear_srgb: FloatArray) -> FloatArray:
    xyz = colour.RGB_to_XYZ(linear_srgb, colour.RGB_COLOURSPACES["sRGB"], apply_cctf_decoding=False)
    return np.asarray(xyz[..., 1], dtype=np.float64)


def usable_greys(patches_linear: FloatArray) -> list[int]:
    """Return indices (0-based) of grey patches that are neither clipped nor too dark."""
    usable = []
    for index in range(GREY_ROW.start, GREY_ROW.stop):
        patch = patches_linear[index]
        if patch.max() < CLIPPED_LINEAR and patch.min() > TOO_DARK_LINEAR:
            usable.append(index)
    return usable


def measure_white_balance(patches_linear: FloatArray) -> WhiteBalanceReading | None:
    """Measure the cast, Duv, grey exposure and delta E from 24 patches in linear sRGB.

    Returns ``None`` when fewer than two grey patches are usable (all clipped or black).
    """
    patches = np.asarray(patches_linear, dtype=np.float64).reshape(24, 3)
    greys = usable_greys(patches)
    if len(greys) < 2:
        return None
    reference = reference_linear_srgb()
    measured_grey = patches[greys].sum(axis=0)
    reference_grey = reference[greys].sum(axis=0)
    # The per-channel ratio is the camera's white-balance error relative to neutral.
    channel_ratio = measured_grey / reference_grey
    white = channel_ratio / channel_ratio.max()
    cast_xyz = colour.RGB_to_XYZ(white, colour.RGB_COLOURSPACES["sRGB"], apply_cctf_decoding=False)
    cct, duv = colour.temperature.XYZ_to_CCT_Ohno2013(cast_xyz)
    normalised = patches / channel_ratio
    delta_e = colour.delta_E(_lab(normalised), _lab(reference), method="CIE 2000")
    return WhiteBalanceReading(
        cct_k=float(cct),
        duv=float(duv),
        cast_mired=mired(float(cct)) - mired(NEUTRAL_CCT_K),
        grey_patches_used=tuple(index + 1 for index in greys),
        grey_exposure_ev=float(
            np.log2(np.mean(_luminance(patches[greys]) / _luminance(reference[greys])))
        ),
        delta_e_per_patch=tuple(float(value) for value in delta_e),
    )
