"""Cost of the live measurements, measured side by side with a frame copy.

Prints, at 1080p and 4K: the every-frame metrics (exposure and frame-to-frame
motion) as a ratio to one ``np.copyto`` of the frame (goals: at most 10x at
1080p, 3x at 4K), on a correctly exposed frame and on an overexposed one
(whose clipped pixels cost a second full-resolution pass); chart detection and
tracking times, drift measurement, and the white-balance update rate tracking
alone allows (``bench_colorchecker.py`` measures the sustained rate). Timings
interleave the operations and report medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from capture_assist.analysis.colorchecker import detect_colorchecker, track_colorchecker
from capture_assist.analysis.exposure import measure_exposure
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


def median_time(functions: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    print(
        f"{'size':>6} {'copy ms':>8} {'exposure':>10} {'motion':>10} {'every-frame':>12} {'ratio':>7} {'clipping':>9} {'goal':>5} | {'detect ms':>9} {'track ms':>9} {'drift ms':>9} {'WB Hz':>6}"
    )
    for width, height, goal in ((1920, 1080, 10), (3840, 2160, 3)):
        measure_size(width, height, goal)


def measure_size(width: int, height: int, goal: int) -> None:
    camera = SimulatedCamera(
        "bench", width=width, height=height, controls=SceneControls(noise_sigma=2.0)
    )
    frames = [camera.render(index / 25) for index in range(4)]
    overexposed = SimulatedCamera(
        "bench",
        width=width,
        height=height,
        controls=SceneControls(noise_sigma=2.0, exposure_ev=1.5),
    ).render(0.0)
    target = np.empty_like(frames[0])
    state = [StabilityState()]
    counter = [0]

    def motion() -> None:
        counter[0] += 1
        frame = frames[counter[0] % len(frames)]
        state[0], _ = update_stability(
            state[0], prepare_motion_frame(frame, counter[0] / 25), SHAKE
        )

    timings = median_time(
        {
            "copy": lambda: np.copyto(target, frames[0]),
            "exposure": lambda: measure_exposure(frames[1]),
            "exposure_clipping": lambda: measure_exposure(overexposed),
            "motion": motion,
        },
        rounds=30,
    )
    chart = detect_colorchecker(frames[0])
    assert chart is not None
    reference = prepare_drift_reference(frames[0])
    slow = median_time(
        {
            "detect": lambda: detect_colorchecker(frames[2]),
            "track": lambda: track_colorchecker(frames[2], chart),
            "drift": lambda: measure_drift(reference, frames[3]),
        },
        rounds=5,
    )
    every_frame = timings["exposure"] + timings["motion"]
    ratio = every_frame / timings["copy"]
    clipping_ratio = (timings["exposure_clipping"] + timings["motion"]) / timings["copy"]
    white_balance_hz = 1.0 / slow["track"]
    print(
        f"{height:>5}p {timings['copy'] * 1e3:8.2f} {timings['exposure'] * 1e3:9.2f}ms {timings['motion'] * 1e3:9.2f}ms "
        f"{every_frame * 1e3:11.2f}ms {ratio:6.1f}x {clipping_ratio:8.1f}x {goal:>4}x | {slow['detect'] * 1e3:9.1f} {slow['track'] * 1e3:9.1f} "
        f"{slow['drift'] * 1e3:9.1f} {white_balance_hz:6.1f}"
    )


if __name__ == "__main__":
    main()
