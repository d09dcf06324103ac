"""Cost of finding, tracking and reading the ColorChecker.

Prints, at 1080p and 4K (simulated set, noise and a slowly drifting camera):
a whole-frame detection, a search of a frame without a chart, one tracking
step, and the white-balance update rate a chart thread sustains when it
tracks and searches again only when tracking lets go (goal: at least 5 Hz at
1080p). Then the detection time for each shared real photograph, if present.
Timings are medians.

Run: ``python benchmarks/bench_colorchecker.py``
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from capture_assist.analysis.colorchecker import (
    ChartDetection,
    detect_colorchecker,
    track_colorchecker,
)
from capture_assist.devices.simulated import SceneControls, SimulatedCamera

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "colorchecker"
GOAL_HZ_1080P = 5.0


def median_seconds(function: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def sustained_updates(frames: list[np.ndarray]) -> tuple[float, int]:
    """Run the chart thread's loop over the frames; return updates per second and searches made."""
    chart: ChartDetection | None = None
    searches = 0
    start = time.perf_counter()
    for frame in frames:
        tracked = track_colorchecker(frame, chart) if chart is not None else None
        if tracked is None:
            searches += 1
            tracked = detect_colorchecker(frame)
        chart = tracked
    return len(frames) / (time.perf_counter() - start), searches


def measure_size(width: int, height: int) -> None:
    camera = SimulatedCamera(
        "bench",
        width=width,
        height=height,
        controls=SceneControls(noise_sigma=2.0, cast_cct_k=4300, drift_px_per_s=6.0),
    )
    # A chart thread at 5 Hz sees the drifting set every 0.2 s.
    frames = [camera.render(index * 0.2) for index in range(25)]
    empty = SimulatedCamera(
        "bench", width=width, height=height, controls=SceneControls(chart_layout="none")
    ).render(0.0)
    chart = detect_colorchecker(frames[0])
    assert chart is not None
    detect_s = median_seconds(lambda: detect_colorchecker(frames[1]), rounds=7)
    empty_s = median_seconds(lambda: detect_colorchecker(empty), rounds=7)
    track_s = median_seconds(lambda: track_colorchecker(frames[1], chart), rounds=15)
    rate_hz, searches = sustained_updates(frames)
    goal = f"{GOAL_HZ_1080P:.0f} Hz" if height == 1080 else "-"
    print(
        f"{height:>5}p {detect_s * 1e3:10.1f} {empty_s * 1e3:11.1f} {track_s * 1e3:9.1f} "
        f"{detect_s / track_s:8.1f}x {rate_hz:9.1f} {searches:>5}/{len(frames)} {goal:>6}"
    )


def measure_photographs() -> None:
    if not PHOTOS.is_dir():
        print(f"\n(no shared photographs at {PHOTOS})")
        return
    print(
        f"\n{'photograph':<34} {'size':>10} {'detect ms':>10} {'CCT K':>7} {'Duv':>8} {'dE mean':>8}"
    )
    for path in sorted(PHOTOS.glob("*.[jp][pn]g")):
        rgb = np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1])
        detection = detect_colorchecker(rgb)
        seconds = median_seconds(lambda rgb=rgb: detect_colorchecker(rgb), rounds=3)
        size = f"{rgb.shape[1]}x{rgb.shape[0]}"
        if detection is None:
            print(f"{path.name:<34} {size:>10} {seconds * 1e3:10.1f}  not found")
            continue
        reading = detection.white_balance
        print(
            f"{path.name:<34} {size:>10} {seconds * 1e3:10.1f} {reading.cct_k:7.0f} "
            f"{reading.duv:+8.4f} {reading.delta_e_mean:8.2f}"
        )


def main() -> None:
    print(
        f"{'size':>6} {'detect ms':>10} {'no chart ms':>11} {'track ms':>9} {'ratio':>9} "
        f"{'WB Hz':>9} {'searches':>8} {'goal':>6}"
    )
    for width, height in ((1920, 1080), (3840, 2160)):
        measure_size(width, height)
    measure_photographs()


if __name__ == "__main__":
    main()
