"""Displayed frame rate of the window with the live analysis off and on.

Each of the demo shot list's two cameras is a 1080p60 source (then a 4K30 one)
feeding the real ``MainWindow`` through the real ``DeviceWorker``; the frames are the simulated set's, rendered once
beforehand and replayed at the source's rate, because rendering the set costs
more than a 60 fps frame interval and this measures the display and analysis
path, not the renderer. For each mode the window runs for a few seconds on
Qt's offscreen platform and counts the frames it painted; the two modes
alternate for a few rounds in one run, so they share the machine's noise, and
the medians are printed.
Goal: the same displayed rate with the analysis on as off.

Run: ``python benchmarks/bench_display.py [--seconds N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from capture_assist.clock import SessionClock
from capture_assist.devices.base import Frame
from capture_assist.devices.simulated import SceneControls, SimulatedCamera
from capture_assist.pipeline.live_analysis import LiveAnalyzer
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.session.runner import SessionRunner
from capture_assist.shotlist.loader import load_shotlist
from capture_assist.ui.main_window import MainWindow
from capture_assist.ui.theme import apply_dark_theme

SHOTLIST = Path(__file__).resolve().parents[1] / "shotlists" / "demo.yaml"
REPLAYED_FRAMES = 12


class ReplayedSimulatedCamera:
    """The simulated camera, whose live frames are replayed from pre-rendered ones."""

    def __init__(self, camera: SimulatedCamera, fps: float, clock: SessionClock) -> None:
        self._camera = camera
        self._fps = fps
        self._clock = clock
        self._frames = [camera.render(index / fps) for index in range(REPLAYED_FRAMES)]
        self._sequence = 0
        self._next_due_s: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._camera, name)

    def read_frame(self) -> Frame:
        """Wait for the next frame interval and hand out the next replayed frame."""
        interval = 1.0 / self._fps
        now = self._clock.now()
        if self._next_due_s is None or now - self._next_due_s > interval:
            self._next_due_s = now
        if self._next_due_s > now:
            time.sleep(self._next_due_s - now)
        frame = Frame(
            self._frames[self._sequence % REPLAYED_FRAMES],
            self._camera.source_id,
            self._sequence,
            self._next_due_s,
            {},
        )
        self._sequence += 1
        self._next_due_s += interval
        return frame


def displayed_fps(
    width: int, height: int, fps: float, analysis: bool, seconds: float
) -> dict[str, float]:
    app = QApplication.instance() or QApplication([])
    loaded = load_shotlist(SHOTLIST)
    clock = SessionClock()
    camera_ids = [camera.id for camera in loaded.model.cameras]
    workers = {
        camera_id: DeviceWorker(
            ReplayedSimulatedCamera(  # type: ignore[arg-type]
                SimulatedCamera(
                    camera_id,
                    width=width,
                    height=height,
                    fps=fps,
                    clock=clock,
                    controls=SceneControls(noise_sigma=2.0),
                ),
                fps,
                clock,
            ),
            live=True,
        )
        for camera_id in camera_ids
    }
    with tempfile.TemporaryDirectory() as out:
        runner = SessionRunner(loaded, Path(out) / "session", workers, clock)
        runner.open_session(resume=False)
        analyzers = (
            {
                camera_id: LiveAnalyzer(worker, loaded.model.qc)
                for camera_id, worker in workers.items()
            }
            if analysis
            else {}
        )
        for analyzer in analyzers.values():
            analyzer.start()
        for worker in workers.values():
            worker.start()
        window = MainWindow(runner, workers, Path(out) / "session", analyzers)
        window.resize(1600, 900)
        window.show()
        settle_until = time.monotonic() + 1.5
        while time.monotonic() < settle_until:
            app.processEvents()
            time.sleep(0.001)
        painted_before = {key: view.frames_painted for key, view in window.live_views.items()}
        analysed_before = {key: analyzed(analyzer) for key, analyzer in analyzers.items()}
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            app.processEvents()
            time.sleep(0.001)
        elapsed = time.monotonic() - started
        painted = min(
            view.frames_painted - painted_before[key] for key, view in window.live_views.items()
        )
        analysed = min(
            (analyzed(analyzer) - analysed_before[key] for key, analyzer in analyzers.items()),
            default=0,
        )
        window.close()
        app.processEvents()
    return {"displayed": painted / elapsed, "analysed": analysed / elapsed}


def analyzed(analyzer: LiveAnalyzer) -> int:
    latest = analyzer.latest()
    return latest.frames_analysed if latest else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)  # type: ignore[arg-type]
    print("two cameras; the slower camera's rate is shown")
    print(
        f"{'source':>12} {'analysis off':>13} {'analysis on':>12} {'ratio':>6} {'analysed fps':>13}  goal"
    )
    for width, height, fps in ((1920, 1080, 60.0), (3840, 2160, 30.0)):
        rounds: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for _ in range(arguments.rounds):
            for analysis in (False, True):
                rounds[analysis].append(
                    displayed_fps(width, height, fps, analysis=analysis, seconds=arguments.seconds)
                )
        off, on = (
            {key: statistics.median(r[key] for r in rounds[mode]) for key in rounds[mode][0]}
            for mode in (False, True)
        )
        print(
            f"{height:>6}p{fps:>4.0f}  {off['displayed']:>10.1f} fps {on['displayed']:>8.1f} fps "
            f"{on['displayed'] / off['displayed']:>5.2f}x {on['analysed']:>10.1f} fps  unchanged"
        )


if __name__ == "__main__":
    main()
