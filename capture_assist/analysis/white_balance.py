"""White balance, grey exposure and colour accuracy from a ColorChecker's 24 patches.

Every colorimetric step uses colour-science. The reference is colour-science's
``ColorChecker24 - After November 2014`` (xyY under D50), adapted to D65 with
CAT02 and expressed in linear sRGB: how a correctly white-balanced camera renders
the chart. Patches are in chart order: 1 dark skin ... 19 white, 20-23 greys,
24 black.

How the cast is measured: each usable middle grey (patches 20-23) gives the
per-channel gains between its measured and its reference linear sRGB; the gains
are scaled to unit luminance so that every grey votes equally, whatever the
exposure or light fall-off across the row; their mean is the cast's white, and
its chromaticity gives the CCT and Duv (Ohno 2013). A neutral rendering
measures as D65 (6504 K, Duv 0); lower: a warm cast; higher: a cool one. The
white patch is left out because cameras compress or clip it, the black one
because flare and noise dominate it. On the shared real photographs this
definition reproduces the reference casts within 2 mired.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import colour
import numpy as np
import numpy.typing as npt

COLORCHECKER_NAME = "ColorChecker24 - After November 2014"
GREY_ROW = slice(18, 24)
CAST_GREYS = (19, 20, 21, 22)
"""0-based indices of the patches that measure the cast: 20-23 (neutral 8 to 3.5)."""
NEUTRAL_CCT_K = 6504.0
"""CCT of sRGB's D65 white: what a neutral grey row measures as."""
CLIPPED_LINEAR = 0.98
TOO_DARK_LINEAR = 0.005
GREY_CARD_REFLECTANCE = 0.18

FloatArray = npt.NDArray[np.float64]

_SRGB = colour.RGB_COLOURSPACES["sRGB"]
_ILLUMINANTS = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]


@dataclass(frozen=True, slots=True)
class WhiteBalanceReading:
    """What the chart says about the camera's colour rendering.

    Attributes
    ----------
    cct_k
        Correlated colour temperature of the cast: the grey row relative to the
        reference greys (6504 K: neutral; lower: warm cast; higher: cool cast).
    duv
        Distance of the cast from the Planckian locus (Ohno 2013); positive is
        greenish, negative magenta.
    cast_mired
        ``1e6/cct_k - 1e6/6504``: the cast in mired (positive: warm).
    grey_patches_used
        Chart numbers (1-24) of the greys that measured the cast and exposure
        (clipped or too dark ones are left out).
    grey_exposure_ev
        Exposure of those greys relative to their reference reflectances, in EV:
        log2 of the mean ratio of measured (cast divided out) to reference
        luminance; 0 means a white reflector would render at 1.0 linear.
    grey_spread_duv
        Largest distance (CIE 1960 uv) between one grey's cast and the mean
        cast: how neutral the greys are relative to each other.
    delta_e_per_patch
        CIE 2000 delta E of each patch against the reference after normalising
        on the grey row (the cast and exposure divided out).
    """

    cct_k: float
    duv: float
    cast_mired: float
    grey_patches_used: tuple[int, ...]
    grey_exposure_ev: float
    grey_spread_duv: float
    delta_e_per_patch: tuple[float, ...]

    @property
    def mired(self) -> float:
        """The cast's colour temperature in mired."""
        return mired(self.cct_k)

    @property
    def delta_e_mean(self) -> float:
        """Mean delta E 2000 over the 24 patches."""
        return float(np.mean(self.delta_e_per_patch))

    @property
    def delta_e_max(self) -> float:
        """Largest delta E 2000 of a patch."""
        return float(np.max(self.delta_e_per_patch))


@dataclass(frozen=True, slots=True)
class GreyCardReading:
    """What an 18 % grey card says: its cast and its exposure.

    Attributes
    ----------
    cct_k, duv, cast_mired
        As in ``WhiteBalanceReading``: the card is spectrally neutral, so a
        correctly balanced camera renders it with equal linear R, G and B.
    exposure_ev
        log2 of the card's luminance over its reflectance (comparable with a
        chart's ``grey_exposure_ev``).
    """

    cct_k: float
    duv: float
    cast_mired: float
    exposure_ev: float


def mired(cct_k: float) -> float:
    """Return a colour temperature in mired (micro reciprocal degrees)."""
    return 1e6 / cct_k


def white_balance_error_mired(
    reading: WhiteBalanceReading, target_cct_k: float, camera_white_balance_k: float | None = None
) -> float:
    """Return how far the light is from the setup's target, in mired.

    The sign is ``1e6/light - 1e6/target``: positive means the light is warmer
    (lower K) than the target, negative cooler. The light's temperature is
    estimated from the cast and the camera's white-balance setting (mired
    shifts add along the locus); without a setting the camera is assumed
    balanced for the target, so the error is the cast itself.
    """
    camera_mired = mired(camera_white_balance_k or target_cct_k)
    light_mired = camera_mired + reading.cast_mired
    return light_mired - mired(target_cct_k)


def white_balance_change_mired(
    reading: WhiteBalanceReading, reference: WhiteBalanceReading
) -> float:
    """Return the change of cast since the setup's reference frame, in mired (positive: warmer)."""
    return reading.cast_mired - reference.cast_mired


def exposure_change_ev(reading: WhiteBalanceReading, reference: WhiteBalanceReading) -> float:
    """Return the grey patches' exposure change since the reference frame, in EV."""
    return reading.grey_exposure_ev - reference.grey_exposure_ev


@cache
def reference_linear_srgb() -> FloatArray:
    """Return the 24 reference patches in linear sRGB, adapted D50 -> D65 with CAT02 (read-only)."""
    chart = colour.CCS_COLOURCHECKERS[COLORCHECKER_NAME]
    xyz = colour.xyY_to_XYZ(np.array(list(chart.data.values()), dtype=np.float64))
    adapted = colour.chromatic_adaptation(
        xyz,
        colour.xy_to_XYZ(chart.illuminant),
        colour.xy_to_XYZ(_ILLUMINANTS["D65"]),
        method="Von Kries",
        transform="CAT02",
    )
    linear = np.asarray(
        colour.XYZ_to_RGB(adapted, _SRGB, apply_cctf_encoding=False), dtype=np.float64
    )
    linear.setflags(write=False)
    return linear


@cache
def _reference_lab() -> FloatArray:
    lab = _lab(reference_linear_srgb())
    lab.setflags(write=False)
    return lab


def _xyz(linear_srgb: FloatArray) -> FloatArray:
    return np.asarray(
        colour.RGB_to_XYZ(linear_srgb, _SRGB, apply_cctf_decoding=False), dtype=np.float64
    )


def relative_luminance(linear_srgb: FloatArray) -> FloatArray:
    """Return the luminance Y of linear sRGB colours (white: 1)."""
    return _xyz(linear_srgb)[..., 1]


def _lab(linear_srgb: FloatArray) -> FloatArray:
    return np.asarray(colour.XYZ_to_Lab(_xyz(linear_srgb), _ILLUMINANTS["D65"]), dtype=np.float64)


def _uv(linear_srgb: FloatArray) -> FloatArray:
    """CIE 1960 UCS chromaticity of linear sRGB colours."""
    return np.asarray(colour.xy_to_UCS_uv(colour.XYZ_to_xy(_xyz(linear_srgb))), dtype=np.float64)


def _cct_duv(uv: FloatArray) -> tuple[float, float]:
    """CCT and Duv (Ohno 2013) of one chromaticity."""
    cct_duv = np.asarray(colour.uv_to_CCT(uv, method="Ohno 2013"), dtype=np.float64)
    return float(cct_duv[0]), float(cct_duv[1])


def _usable(patch: FloatArray) -> bool:
    return bool(patch.max() < CLIPPED_LINEAR and patch.min() > TOO_DARK_LINEAR)


def cast_greys(patches_linear: FloatArray) -> list[int]:
    """Return 0-based indices of the middle greys (20-23) that are neither clipped nor too dark."""
    return [index for index in CAST_GREYS if _usable(patches_linear[index])]


def measure_white_balance(patches_linear: FloatArray) -> WhiteBalanceReading | None:
    """Measure the cast, Duv, grey exposure and delta E from 24 patches in linear sRGB.

    Returns ``None`` when fewer than two of the middle greys are usable (clipped or black).
    """
    patches = np.asarray(patches_linear, dtype=np.float64).reshape(24, 3)
    greys = cast_greys(patches)
    if len(greys) < 2:
        return None
    reference = reference_linear_srgb()
    gains = patches[greys] / reference[greys]
    # Unit luminance per grey: each votes for the cast's colour, not its brightness.
    unit_gains = gains / relative_luminance(gains)[:, None]
    cast_white = unit_gains.mean(axis=0)
    cast_uv = _uv(cast_white)
    cct, duv = _cct_duv(cast_uv)
    # The greys' luminance against the reference once the cast is divided out.
    exposure = float(
        np.mean(
            relative_luminance(patches[greys] / cast_white) / relative_luminance(reference[greys])
        )
    )
    delta_e = np.asarray(
        colour.delta_E(
            _lab(patches / (cast_white * exposure)), _reference_lab(), method="CIE 2000"
        ),
        dtype=np.float64,
    )
    return WhiteBalanceReading(
        cct_k=cct,
        duv=duv,
        cast_mired=mired(cct) - mired(NEUTRAL_CCT_K),
        grey_patches_used=tuple(index + 1 for index in greys),
        grey_exposure_ev=float(np.log2(exposure)),
        grey_spread_duv=float(np.max(np.linalg.norm(_uv(unit_gains) - cast_uv, axis=-1))),
        delta_e_per_patch=tuple(float(value) for value in delta_e),
    )


def grey_card_reading(
    linear_rgb_mean: FloatArray, reflectance: float = GREY_CARD_REFLECTANCE
) -> GreyCardReading | None:
    """Measure the cast and exposure of a grey card from its mean linear sRGB.

    Returns ``None`` when the card is clipped or too dark to measure.
    """
    card = np.asarray(linear_rgb_mean, dtype=np.float64).reshape(3)
    if not _usable(card):
        return None
    luminance = float(relative_luminance(card))
    cct, duv = _cct_duv(_uv(card))
    return GreyCardReading(
        cct_k=cct,
        duv=duv,
        cast_mired=mired(cct) - mired(NEUTRAL_CCT_K),
        exposure_ev=float(np.log2(luminance / reflectance)),
    )
