from __future__ import annotations

import cv2
import numpy as np
import pytest

from capture_assist.analysis.stability import (
    StabilityState,
    measure_drift,
    prepare_drift_reference,
    prepare_motion_frame,
    update_stability,
)
from capture_assist.devices.simulated import SceneControls, SimulatedCamera
from capture_assist.shotlist.model import Tolerance

SHAKE = Tolerance(warn=0.5, fail=1.5)
BEATS = (("reach", 0.0, 1.0), ("grasp", 1.0, 1.0), ("lift", 2.0, 1.0))


def jpeg(rgb: np.ndarray) -> np.ndarray:
    _ok, encoded = cv2.imencode(
        ".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    return np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1])


@pytest.mark.parametrize("size", [(1920, 1080), (3840, 2160)], ids=["1080p", "4K"])
@pytest.mark.parametrize(
    ("dx", "dy", "rotation"),
    [(0.3, -0.7, 0.0), (5.25, 2.5, 0.0), (0.0, 0.0, 0.2), (12.0, -7.0, -0.5)],
)
def test_drift_against_the_reference_with_a_moving_actor(
    size: tuple[int, int], dx: float, dy: float, rotation: float
) -> None:
    camera = SimulatedCamera(
        "cam", width=size[0], height=size[1], controls=SceneControls(noise_sigma=2.0)
    )
    camera.set_action(3.0, BEATS, started_at_s=0.0)
    reference = prepare_drift_reference(jpeg(camera.render(0.0)))
    camera.bump(dx, dy, rotation)
    frame, truth = camera.render_with_truth(1.5)  # the actor is mid-action
    drift = measure_drift(reference, jpeg(frame))
    assert drift is not None
    assert drift.dx_px == pytest.approx(truth["true_dx_px"], abs=0.1)
    assert drift.dy_px == pytest.approx(truth["true_dy_px"], abs=0.1)
    assert drift.rotation_deg == pytest.approx(truth["true_rotation_deg"], abs=0.05)
    assert abs(drift.scale_percent) < 0.05


def test_every_bump_is_detected_and_the_verdict_recovers() -> None:
    camera = SimulatedCamera(
        "cam",
        width=960,
        height=540,
        fps=25,
        controls=SceneControls(
            noise_sigma=2.0, bump_times_s=(2.0, 5.0, 9.0), bump_offset_px=(4.0, -3.0)
        ),
    )
    state = StabilityState()
    bumps_at: list[float] = []
    verdicts: list[bool] = []
    for index in range(12 * 25):
        at_s = index / 25
        state, reading = update_stability(
            state, prepare_motion_frame(camera.render(at_s), at_s), SHAKE
        )
        if reading.bump:
            bumps_at.append(at_s)
        verdicts.append(reading.stable)
    assert bumps_at == [2.0, 5.0, 9.0]
    assert not verdicts[int(2.5 * 25)]  # unstable right after the bump
    # Unstable for BUMP_HOLD_S (2 s), then stable after 15 calm frames (0.6 s).
    assert verdicts[int(4.9 * 25)]  # stable again before the next one


def test_shake_is_measured_in_source_pixels() -> None:
    camera = SimulatedCamera(
        "cam", width=1920, height=1080, controls=SceneControls(noise_sigma=1.0, shake_rms_px=1.2)
    )
    state = StabilityState()
    readings = []
    for index in range(60):
        camera._sequence = index  # the shake is drawn per frame sequence
        state, reading = update_stability(
            state, prepare_motion_frame(camera.render(index / 25), index / 25), SHAKE
        )
        readings.append(reading)
    # Frame-to-frame motion of independent jitter has sqrt(2) times the jitter's RMS.
    motions = [np.hypot(r.motion_dx_px, r.motion_dy_px) for r in readings[1:]]
    assert np.sqrt(np.mean(np.square(motions))) == pytest.approx(1.2 * np.sqrt(2), rel=0.15)
    assert not readings[-1].stable
    assert not readings[-1].stable


@pytest.mark.slow
def test_ten_minutes_of_a_still_noisy_scene_stay_stable() -> None:
    """15,000 frames at 25 fps through the real per-frame path: no bump, never unstable."""
    camera = SimulatedCamera("cam", width=480, height=270, controls=SceneControls(noise_sigma=3.0))
    frames = []
    for index in range(50):
        camera._sequence = index  # a different noise field per frame
        frames.append(camera.render(0.0))
    state = StabilityState()
    for index in range(10 * 60 * 25):
        at_s = index / 25
        state, reading = update_stability(
            state, prepare_motion_frame(frames[index % 50], at_s), SHAKE
        )
        assert not reading.bump, f"false bump at {at_s:.2f} s"
        assert reading.stable, f"unstable at {at_s:.2f} s"
    assert state.bumps == 0
