from __future__ import annotations

import numpy as np
import pytest

from capture_assist.analysis.exposure import clipping_mask, measure_exposure
from capture_assist.analysis.focus import measure_focus, sharpness_drop_percent
from capture_assist.devices.simulated import SceneControls, SimulatedCamera


def test_histograms_and_clipping_on_a_known_frame() -> None:
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:10, :10] = 255  # 100 px clipped on every channel
    frame[50:60, :, 0] = 255  # 2,000 px clipped in red only
    reading = measure_exposure(frame)
    assert reading.clipped_percent == pytest.approx((100 * 2100 / 20000, 0.5, 0.5))
    assert reading.crushed_percent[1] == pytest.approx(99.5)
    assert reading.histogram_rgb.shape == (3, 256)
    assert np.allclose(reading.histogram_rgb.sum(axis=1), 1.0)
    assert reading.histogram_luma.sum() == pytest.approx(1.0)


def test_overexposure_clips_and_a_single_highlight_pixel_counts() -> None:
    normal = measure_exposure(SimulatedCamera("cam").render(0.0))
    bright = measure_exposure(
        SimulatedCamera("cam", controls=SceneControls(exposure_ev=1.5)).render(0.0)
    )
    assert normal.clipped_percent_any < 0.01
    assert bright.clipped_percent_any > 1.0
    assert bright.mean_luma > normal.mean_luma + 30
    frame = np.full((2160, 3840, 3), 100, np.uint8)
    frame[1000, 2000] = 255
    assert measure_exposure(frame).clipped_percent[0] == pytest.approx(100 / (2160 * 3840))
    mask = clipping_mask(frame, width=480)
    assert mask.shape == (270, 480) and mask.sum() >= 1


@pytest.mark.parametrize("size", [(1920, 1080), (3840, 2160)])
def test_sampled_histograms_match_the_full_frame(size: tuple[int, int]) -> None:
    width, height = size
    frame = SimulatedCamera(
        "cam", width=width, height=height, controls=SceneControls(noise_sigma=2.0)
    ).render(0.0)
    full = np.stack(
        [np.bincount(frame[:, :, channel].ravel(), minlength=256) for channel in range(3)]
    ) / float(width * height)
    sampled = measure_exposure(frame).histogram_rgb
    # Total variation distance per channel: the share of pixels the sample misplaces.
    assert (0.5 * np.abs(sampled - full).sum(axis=1)).max() < 0.03
    luma_weights = np.array([0.2126, 0.7152, 0.0722])
    full_mean_luma = float(np.arange(256) @ (full.T @ luma_weights))
    assert measure_exposure(frame).mean_luma == pytest.approx(full_mean_luma, abs=0.5)


def test_sharpness_falls_with_defocus() -> None:
    sharp = measure_focus(SimulatedCamera("cam").render(0.0))
    values = [
        measure_focus(
            SimulatedCamera("cam", controls=SceneControls(defocus_sigma_px=sigma)).render(0.0)
        )
        for sigma in (0.5, 1.0, 2.0, 4.0)
    ]
    drops = [sharpness_drop_percent(value, sharp) for value in values]
    assert drops == sorted(drops)
    assert drops[0] > 1 and drops[1] > 20 and drops[-1] > 80
    assert sharpness_drop_percent(sharp, sharp) == 0.0
