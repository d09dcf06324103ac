from __future__ import annotations

from pathlib import Path

import colour
import cv2
import numpy as np
import pytest
from PIL import Image

from capture_assist.clock import SessionClock
from capture_assist.devices.simulated import NEUTRAL_CCT_K, SceneControls, SimulatedCamera


def patch_means(camera: SimulatedCamera, pixels: np.ndarray) -> np.ndarray:
    """Mean sRGB code values of the 24 patches' inner halves (undisturbed framing)."""
    means = []
    for quad in camera._geometry.patch_quads:
        (x0, y0), (x1, y1) = quad[0], quad[2]
        inset_x, inset_y = (x1 - x0) / 4, (y1 - y0) / 4
        region = pixels[
            int(y0 + inset_y) : int(y1 - inset_y), int(x0 + inset_x) : int(x1 - inset_x)
        ]
        means.append(region.reshape(-1, 3).mean(axis=0))
    return np.array(means)


def grey_row_cct(rgb_means: np.ndarray, neutral_means: np.ndarray) -> tuple[float, float]:
    """CCT of the grey row relative to the same greys rendered neutrally (the cast's definition)."""
    linear = colour.cctf_decoding(rgb_means[19:23] / 255.0, function="sRGB")
    neutral = colour.cctf_decoding(neutral_means[19:23] / 255.0, function="sRGB")
    white_balance = linear.sum(axis=0) / neutral.sum(axis=0)
    xyz = colour.RGB_to_XYZ(
        white_balance, colour.RGB_COLOURSPACES["sRGB"], apply_cctf_decoding=False
    )
    cct, duv = colour.temperature.XYZ_to_CCT_Ohno2013(xyz)
    return float(cct), float(duv)


def test_grey_row_is_neutral_without_cast() -> None:
    camera = SimulatedCamera("cam", width=1280, height=720)
    means = patch_means(camera, camera.render(0.0))
    # The reference white (patch 19) is itself slightly warm; the greys 20-24 are neutral.
    grey = means[18:24]
    assert np.all(np.ptp(grey[1:], axis=1) <= 2.0), grey
    assert np.all(np.diff(grey[:, 1]) < 0)  # white to black


@pytest.mark.parametrize("cast_k", [2800, 4000, 6500, 8000])
def test_cast_is_what_the_grey_row_measures(cast_k: float) -> None:
    # Noise dithers the 8-bit quantisation away when the patches are averaged.
    noisy = SceneControls(cast_cct_k=cast_k, noise_sigma=2.0)
    camera = SimulatedCamera("cam", width=1280, height=720, controls=noisy)
    neutral = SimulatedCamera(
        "cam", width=1280, height=720, controls=SceneControls(noise_sigma=2.0)
    )
    cct, duv = grey_row_cct(
        patch_means(camera, camera.render(0.0)), patch_means(neutral, neutral.render(0.0))
    )
    assert abs(1e6 / cct - 1e6 / cast_k) < 1.0
    assert abs(duv) < 0.002


def test_warm_cast_is_warm() -> None:
    camera = SimulatedCamera("cam", controls=SceneControls(cast_cct_k=3200))
    grey = patch_means(camera, camera.render(0.0))[20]
    assert grey[0] > grey[2] + 20


def test_one_ev_doubles_linear_light_of_mid_grey() -> None:
    base = SimulatedCamera("cam")
    brighter = SimulatedCamera("cam", controls=SceneControls(exposure_ev=1.0))
    low = colour.cctf_decoding(patch_means(base, base.render(0.0))[21, 1] / 255, function="sRGB")
    high = colour.cctf_decoding(
        patch_means(brighter, brighter.render(0.0))[21, 1] / 255, function="sRGB"
    )
    assert high / low == pytest.approx(2.0, rel=0.03)


def test_bump_moves_the_picture_and_the_truth() -> None:
    camera = SimulatedCamera("cam", width=960, height=540)
    before, truth_before = camera.render_with_truth(0.0)
    camera.bump(6.25, -3.5)
    after, truth_after = camera.render_with_truth(0.0)
    corners_shift = np.array(truth_after["chart_corners"]) - np.array(truth_before["chart_corners"])
    assert np.allclose(corners_shift, [6.25, -3.5])
    # The bumped frame is the undisturbed frame moved by exactly the true transform.
    moved = cv2.warpAffine(
        before, np.float32([[1, 0, 6.25], [0, 1, -3.5]]), (960, 540), flags=cv2.INTER_CUBIC
    )
    interior = (slice(20, -20), slice(20, -20))
    difference = np.abs(moved[interior].astype(int) - after[interior].astype(int))
    assert difference.mean() < 0.05
    wrong = cv2.warpAffine(
        before, np.float32([[1, 0, 6.0], [0, 1, -3.5]]), (960, 540), flags=cv2.INTER_CUBIC
    )
    assert (
        np.abs(wrong[interior].astype(int) - after[interior].astype(int)).mean()
        > 2 * difference.mean()
    )


def test_tempo_stretches_the_beats() -> None:
    camera = SimulatedCamera("cam")
    beats = (("reach", 0.0, 1.0), ("grasp", 1.0, 1.0), ("lift", 2.0, 1.0))
    camera.set_action(3.0, beats, started_at_s=10.0)
    assert camera.beat_at(11.5)[0] == "grasp"
    camera.set_controls(tempo=0.8)
    # At 80 % speed, 1.5 s in is 1.2 s of action: still grasp; 2.4 s in is 1.92 s: grasp.
    assert camera.beat_at(12.4)[0] == "grasp"
    assert camera.beat_at(12.6)[0] == "lift"
    assert camera.render_with_truth(12.6)[1]["beat"] == "lift"


def test_still_is_a_jpeg_with_exif(tmp_path: Path) -> None:
    camera = SimulatedCamera("cam_a", controls=SceneControls(iso=800, shutter_s=1 / 100))
    still = camera.capture_still(tmp_path / "x.jpg")
    assert still.size_bytes == (tmp_path / "x.jpg").stat().st_size
    with Image.open(tmp_path / "x.jpg") as image:
        assert image.format == "JPEG" and image.size == (1280, 720)
        exif = image.getexif()
        assert exif[0x010F] == "capture-assist" and exif[0x0110] == "Simulated Set"
        details = exif.get_ifd(0x8769)
        assert details[0x8827] == 800
        assert float(details[0x829A]) == pytest.approx(0.01)
        assert details[0xA431] == "SIM-cam_a"


def test_noise_is_deterministic_for_a_seed() -> None:
    first = SimulatedCamera("cam", seed=3, controls=SceneControls(noise_sigma=3.0)).render(1.0)
    second = SimulatedCamera("cam", seed=3, controls=SceneControls(noise_sigma=3.0)).render(1.0)
    clean = SimulatedCamera("cam", seed=3).render(1.0)
    assert np.array_equal(first, second)
    assert 2.0 < float(np.std(first.astype(np.int16) - clean.astype(np.int16))) < 4.0


def test_read_frame_paces_to_the_frame_rate() -> None:
    camera = SimulatedCamera("cam", width=320, height=180, fps=50, clock=SessionClock())
    frames = [camera.read_frame() for _ in range(12)]
    stamps = np.array([f.timestamp_s for f in frames])
    assert [f.sequence for f in frames] == list(range(12))
    assert np.all(np.diff(stamps) > 0)
    assert np.mean(np.diff(stamps)) == pytest.approx(0.02, rel=0.5)


def test_renders_4k_and_reports_neutral_truth() -> None:
    camera = SimulatedCamera("cam", width=3840, height=2160)
    pixels, truth = camera.render_with_truth(0.0)
    assert pixels.shape == (2160, 3840, 3) and pixels.dtype == np.uint8
    assert truth["true_cast_cct_k"] == NEUTRAL_CCT_K


def test_other_chart_layout_differs() -> None:
    classic = SimulatedCamera("cam")
    spyder = SimulatedCamera("cam", controls=SceneControls(chart_layout="spydercheckr_24"))
    assert (
        np.abs(
            patch_means(classic, classic.render(0)) - patch_means(spyder, spyder.render(0))
        ).max()
        > 50
    )
