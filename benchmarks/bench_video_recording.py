"""Recording every frame of a take while the live analysis and a display run.

A 1080p30 source for 60 s, then a 4K30 source for 20 s (``--quick``: 10 s and
5 s): frames of the simulated set, rendered once and replayed at 30 fps (the
renderer is slower than a 4K frame interval), through the real
``DeviceWorker`` and ``SessionRunner``: the take records through the lossless
recorder on the camera's thread while a ``LiveAnalyzer`` measures the frames
and a display thread takes the newest frame every 5 ms, as the window's timer
does. Prints: frames written and not written (goal: none lost), peak and
final resident memory against the start (goal: flat), CPU share of the two
cores, and the capture-to-display latency (goal: at most one frame interval
plus 5 ms).

Run: ``python benchmarks/bench_video_recording.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench_display import ReplayedSimulatedCamera

from capture_assist.clock import SessionClock
from capture_assist.devices.simulated import SceneControls, SimulatedCamera
from capture_assist.pipeline.live_analysis import LiveAnalyzer
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.session.runner import TAKE_TAIL_S, SessionRunner
from capture_assist.shotlist.loader import load_shotlist

SHOTLIST = """\
version: 1
project: {{id: recording_bench, title: Recording bench}}
subjects: [{{id: s01, consent: {{release_id: MR-1, status: unlimited, data_mining: allowed}}}}]
actions: [{{id: hold, expected_duration_s: {duration}, beats: [{{name: hold}}]}}]
angles: [{{id: front}}]
lighting: [{{id: daylight, cct_k: 5600}}]
cameras:
  - id: cam
    source: {{kind: sim}}
    angles: [front]
    records: {{kind: video, resolution: [{width}, {height}], frame_rate: 30}}
"""
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def resident_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE_BYTES / 1e6


def record(width: int, height: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.yaml"
        path.write_text(SHOTLIST.format(duration=seconds - TAKE_TAIL_S, width=width, height=height))
        loaded = load_shotlist(path)
        clock = SessionClock()
        camera = ReplayedSimulatedCamera(
            SimulatedCamera(
                "cam",
                width=width,
                height=height,
                fps=30.0,
                clock=clock,
                controls=SceneControls(noise_sigma=2.0),
            ),
            30.0,
            clock,
        )
        worker = DeviceWorker(camera, live=True)  # type: ignore[arg-type]
        analyzer = LiveAnalyzer(worker, loaded.model.qc)
        runner = SessionRunner(loaded, Path(folder) / "session", {"cam": worker}, clock)
        runner.open_session(resume=False)
        analyzer.start()
        worker.start()
        latencies: list[float] = []
        memory: list[float] = []
        stop = threading.Event()

        def display() -> None:
            # Takes the newest frame every 5 ms, as the window's frame timer does.
            last = -1
            next_memory = 0.0
            while not stop.is_set():
                frame = worker.slot.take().frame
                if frame is not None and frame.sequence != last:
                    last = frame.sequence
                    latencies.append(clock.now() - frame.timestamp_s)
                if time.monotonic() >= next_memory:
                    memory.append(resident_mb())
                    next_memory = time.monotonic() + 1.0
                time.sleep(0.005)

        try:
            assert worker.slot.wait_newer(-1, timeout_s=10.0) is not None
            assert runner.capture(runner.steps[0]).ok  # the reference frame
            start_memory = resident_mb()
            viewer = threading.Thread(target=display, daemon=True)
            viewer.start()
            cpu_before, wall_before = os.times(), time.monotonic()
            outcome = runner.capture(runner.steps[1])
            wall = time.monotonic() - wall_before
            cpu_after = os.times()
            stop.set()
            viewer.join()
            assert outcome.ok, outcome.error
            video = next(p for p in outcome.files if p.suffix == ".mkv")
            sidecar = json.loads(video.with_suffix(".json").read_text())
            recording = sidecar["camera"]["settings"]["recording"]
        finally:
            runner.close()
            analyzer.stop()
            worker.stop()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    latencies.sort()
    return {
        "written": recording["frames_written"],
        "not_written": recording["frames_not_written"],
        "start_mb": start_memory,
        "peak_mb": max(memory),
        "end_mb": memory[-1],
        "cpu_share": cpu / wall / (os.cpu_count() or 1),
        "latency_p50_ms": statistics.median(latencies) * 1e3,
        "latency_p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
        "seconds": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 s and 5 s instead of 60 and 20")
    arguments = parser.parse_args()
    runs = (
        ((1920, 1080, 10.0), (3840, 2160, 5.0))
        if arguments.quick
        else (
            (1920, 1080, 60.0),
            (3840, 2160, 20.0),
        )
    )
    print(
        f"{'source':>9} {'s':>4} {'written':>8} {'lost':>6} {'RSS start/peak/end MB':>22} "
        f"{'CPU':>5} {'latency p50/p99 ms':>19}  goals: lost 0, RSS flat, latency <= 38 ms"
    )
    for width, height, seconds in runs:
        result = record(width, height, seconds)
        print(
            f"{height:>6}p30 {result['seconds']:>4.0f} {result['written']:>8} "
            f"{result['not_written']:>6} "
            f"{result['start_mb']:>8.0f}/{result['peak_mb']:.0f}/{result['end_mb']:.0f}"
            f"{'':>5} {result['cpu_share']:>4.0%} "
            f"{result['latency_p50_ms']:>9.1f}/{result['latency_p99_ms']:.1f}"
        )


if __name__ == "__main__":
    main()
