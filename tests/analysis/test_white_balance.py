from __future__ import annotations

import colour
import numpy as np
import pytest

from capture_assist.analysis.white_balance import (
    GREY_CARD_REFLECTANCE,
    NEUTRAL_CCT_K,
    exposure_change_ev,
    grey_card_reading,
    measure_white_balance,
    mired,
    reference_linear_srgb,
    white_balance_change_mired,
    white_balance_error_mired,
)
from capture_assist.devices.simulated import SceneControls, SimulatedCamera

D65_DUV = 0.0032  # D65 sits a little above the Planckian locus


def cast_gains(cct_k: float, duv: float = 0.0) -> np.ndarray:
    """Per-channel linear sRGB gains that give a neutral grey this CCT and Duv, at unit luminance."""
    white = colour.temperature.CCT_to_XYZ_Ohno2013(np.array([cct_k, duv]))
    gains = colour.XYZ_to_RGB(
        white / white[1], colour.RGB_COLOURSPACES["sRGB"], apply_cctf_encoding=False
    )
    return np.asarray(gains)


def test_the_reference_chart_reads_neutral_and_exact() -> None:
    reading = measure_white_balance(reference_linear_srgb())
    assert reading is not None
    assert reading.cct_k == pytest.approx(NEUTRAL_CCT_K, abs=2)
    assert reading.duv == pytest.approx(D65_DUV, abs=1e-4)
    assert reading.cast_mired == pytest.approx(0.0, abs=0.1)
    assert reading.grey_exposure_ev == pytest.approx(0.0, abs=1e-9)
    assert reading.delta_e_max < 1e-6
    assert reading.grey_patches_used == (20, 21, 22, 23)


@pytest.mark.parametrize(
    ("cct_k", "duv"), [(2800, 0.0), (4300, 0.004), (6500, -0.006), (8000, 0.0)]
)
def test_a_diagonal_cast_is_measured_and_divided_out(cct_k: float, duv: float) -> None:
    patches = reference_linear_srgb() * cast_gains(cct_k, duv) * 0.5
    reading = measure_white_balance(patches)
    assert reading is not None
    assert mired(reading.cct_k) == pytest.approx(mired(cct_k), abs=0.05)
    assert reading.duv == pytest.approx(duv, abs=1e-4)
    assert reading.mired == pytest.approx(mired(reading.cct_k))
    assert reading.cast_mired == pytest.approx(mired(cct_k) - mired(NEUTRAL_CCT_K), abs=0.05)
    # Normalising on the greys removes a pure white-balance error from every patch.
    assert reading.delta_e_max < 1e-3


def test_each_grey_votes_equally_whatever_the_light_falloff_along_the_row() -> None:
    patches = reference_linear_srgb() * cast_gains(3200)
    patches[19:23] *= np.array([1.0, 0.7, 1.3, 0.5])[:, None]
    reading = measure_white_balance(patches)
    assert reading is not None
    assert mired(reading.cct_k) == pytest.approx(mired(3200), abs=0.05)
    assert reading.grey_spread_duv < 1e-6


def test_grey_exposure_is_log2_of_the_luminance_against_the_reference() -> None:
    reading = measure_white_balance(reference_linear_srgb() * 2**-1.5)
    reference = measure_white_balance(reference_linear_srgb() * 2**-0.25)
    assert reading is not None and reference is not None
    assert reading.grey_exposure_ev == pytest.approx(-1.5, abs=1e-6)
    assert exposure_change_ev(reading, reference) == pytest.approx(-1.25, abs=1e-6)


def test_clipped_greys_are_left_out_and_all_clipped_reads_nothing() -> None:
    # Light grey (20) clips first; the cast comes from 21-23 alone and stays right.
    overexposed = np.clip(reference_linear_srgb() * cast_gains(5000) * 1.6, 0.0, 1.0)
    reading = measure_white_balance(overexposed)
    assert reading is not None
    assert reading.grey_patches_used == (21, 22, 23)
    assert mired(reading.cct_k) == pytest.approx(mired(5000), abs=0.05)
    assert measure_white_balance(np.clip(reference_linear_srgb() * 12.0, 0.0, 1.0)) is None
    assert measure_white_balance(reference_linear_srgb() * 0.01) is None


def test_errors_against_target_and_reference_have_documented_signs() -> None:
    neutral = measure_white_balance(reference_linear_srgb())
    warm = measure_white_balance(reference_linear_srgb() * cast_gains(5000))
    assert neutral is not None and warm is not None
    # Camera balanced for the 5600 K target, a neutral chart: the light is on target.
    assert white_balance_error_mired(neutral, 5600) == pytest.approx(0.0, abs=0.1)
    # A warm cast means light warmer (more mired) than the target: positive.
    error = white_balance_error_mired(warm, 5600)
    assert error == pytest.approx(mired(5000) - mired(NEUTRAL_CCT_K), abs=0.1)
    assert error > 0
    # The camera set to 3200 K under a light that renders neutral: the light is 3200 K.
    assert white_balance_error_mired(neutral, 5600, camera_white_balance_k=3200) == pytest.approx(
        mired(3200) - mired(5600), abs=0.1
    )
    assert white_balance_change_mired(warm, neutral) == pytest.approx(
        mired(5000) - mired(NEUTRAL_CCT_K), abs=0.1
    )


def test_grey_card_reading() -> None:
    neutral = grey_card_reading(np.full(3, GREY_CARD_REFLECTANCE))
    assert neutral is not None
    assert neutral.cct_k == pytest.approx(NEUTRAL_CCT_K, abs=2)
    assert neutral.exposure_ev == pytest.approx(0.0, abs=1e-9)
    cast = grey_card_reading(GREY_CARD_REFLECTANCE * 0.5 * cast_gains(3800, 0.002))
    assert cast is not None
    assert mired(cast.cct_k) == pytest.approx(mired(3800), abs=0.05)
    assert cast.duv == pytest.approx(0.002, abs=1e-4)
    assert cast.exposure_ev == pytest.approx(-1.0, abs=1e-3)
    assert grey_card_reading(np.array([1.0, 0.9, 0.8])) is None


@pytest.mark.parametrize("cast_k", [3200, 5600])
def test_grey_card_of_the_simulated_set_agrees_with_its_cast(cast_k: float) -> None:
    camera = SimulatedCamera(
        "cam", width=1280, height=720, controls=SceneControls(cast_cct_k=cast_k, noise_sigma=2.0)
    )
    pixels, truth = camera.render_with_truth(0.0)
    x, y, width, height = truth["grey_card"]
    card = pixels[y + height // 4 : y + 3 * height // 4, x + width // 4 : x + 3 * width // 4]
    linear = colour.cctf_decoding(card.reshape(-1, 3) / 255.0, function="sRGB").mean(axis=0)
    reading = grey_card_reading(linear)
    assert reading is not None
    assert mired(reading.cct_k) == pytest.approx(mired(cast_k), abs=1.0)
    assert reading.exposure_ev == pytest.approx(np.log2(0.85), abs=0.05)
