"""Per-take overhead of a headless run, excluding the capture itself.

The QC measurement of each still (chart, drift, sharpness against the setup's
reference frame) is reported on its own line.

Runs the demo shot list with 10 repetitions (2 simulated cameras, 1280x720 stills)
in-process and splits each step's wall time into the cameras' own capture time
(rendering and JPEG encoding inside ``capture_still``, the slowest camera of the
step) and everything else: the barrier, fsync and rename, checksums, sidecars
validated against the schema, and the database transactions.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capture_assist.clock import SessionClock
from capture_assist.devices.factory import open_cameras
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.session.runner import SessionRunner
from capture_assist.shotlist.loader import load_shotlist

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        shotlist_path = Path(folder) / "bench.yaml"
        text = (
            (ROOT / "shotlists" / "demo.yaml")
            .read_text()
            .replace("repetitions: 2", "repetitions: 10")
        )
        shotlist_path.write_text(text)
        loaded = load_shotlist(shotlist_path)
        clock = SessionClock()
        cameras = open_cameras(loaded.model, clock)
        capture_times: dict[int, list[float]] = {}
        lock = threading.Lock()
        step_index = [0]

        def timed(capture: Callable[[Path], Any]) -> Callable[[Path], Any]:
            def wrapper(destination: Path) -> Any:
                start = time.perf_counter()
                result = capture(destination)
                with lock:
                    capture_times.setdefault(step_index[0], []).append(time.perf_counter() - start)
                return result

            return wrapper

        for camera in cameras.values():
            camera.capture_still = timed(camera.capture_still)  # type: ignore[method-assign]
        workers = {cid: DeviceWorker(cam, live=False) for cid, cam in cameras.items()}
        for worker in workers.values():
            worker.start()
        runner = SessionRunner(loaded, Path(folder) / "session", workers, clock)
        quality_times: dict[int, list[float]] = {}
        measure_quality = runner._quality

        def timed_quality(*args: Any) -> Any:
            start = time.perf_counter()
            result = measure_quality(*args)
            with lock:
                quality_times.setdefault(step_index[0], []).append(time.perf_counter() - start)
            return result

        runner._quality = timed_quality  # type: ignore[method-assign]
        runner.open_session(resume=False)
        step_times = []
        while (step := runner.next_step()) is not None:
            start = time.perf_counter()
            runner.capture(step)
            step_times.append(time.perf_counter() - start)
            step_index[0] += 1
        runner.close()
        for worker in workers.values():
            worker.stop()
    captures = [max(capture_times[i]) for i in range(len(step_times))]
    qualities = [max(quality_times.get(i, [0.0])) for i in range(len(step_times))]
    overheads = [total - captures[i] - qualities[i] for i, total in enumerate(step_times)]
    print(f"headless run: {len(step_times)} steps x {len(cameras)} cameras (1280x720 JPEG stills)")
    print(f"  step wall time      median {statistics.median(step_times) * 1000:6.1f} ms")
    print(
        f"  capture itself      median {statistics.median(captures) * 1000:6.1f} ms (slowest camera)"
    )
    print(
        f"  QC measurement      median {statistics.median(qualities) * 1000:6.1f} ms (chart, drift, focus; cameras in parallel)"
    )
    print(
        f"  other overhead      median {statistics.median(overheads) * 1000:6.1f} ms, "
        f"p90 {sorted(overheads)[int(len(overheads) * 0.9)] * 1000:6.1f} ms"
    )


if __name__ == "__main__":
    main()
