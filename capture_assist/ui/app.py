"""Build the window: devices, their threads, the session runner."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox

from capture_assist.clock import SessionClock
from capture_assist.devices.base import DeviceError
from capture_assist.devices.factory import open_cameras
from capture_assist.devices.simulated import SceneControls
from capture_assist.pipeline.live_analysis import LiveAnalyzer
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.session.runner import SessionExistsError, SessionRunner
from capture_assist.shotlist.loader import ShotListError, load_shotlist, with_camera_sources
from capture_assist.ui.main_window import MainWindow
from capture_assist.ui.theme import apply_dark_theme


def _application() -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    app = QApplication(sys.argv[:1])
    app.setApplicationName("capture-assist")
    app.setOrganizationName("capture-assist")
    return app


def build_window(
    shotlist_path: Path,
    out_dir: Path,
    *,
    resume: bool,
    simulate: bool,
    sim_controls: SceneControls | None,
    camera_sources: Sequence[str] = (),
) -> MainWindow:
    """Open the session and its devices and return the (not yet shown) window.

    Raises
    ------
    ShotListError, SessionExistsError, DeviceError
        With a message meant for the crew.
    """
    loaded = with_camera_sources(load_shotlist(shotlist_path), camera_sources)
    clock = SessionClock()
    cameras = open_cameras(loaded.model, clock, sim_controls=sim_controls, force_simulated=simulate)
    workers = {camera_id: DeviceWorker(camera, live=True) for camera_id, camera in cameras.items()}
    runner = SessionRunner(loaded, out_dir, workers, clock)
    try:
        runner.open_session(resume=resume)
    except BaseException:
        runner.close()
        raise
    analyzers = {
        camera_id: LiveAnalyzer(worker, loaded.model.qc) for camera_id, worker in workers.items()
    }
    for analyzer in analyzers.values():
        analyzer.start()
    for worker in workers.values():
        worker.start()
    return MainWindow(runner, workers, out_dir, analyzers)


def run_app(
    shotlist_path: Path,
    out_dir: Path,
    *,
    resume: bool,
    simulate: bool,
    sim_controls: SceneControls | None,
    camera_sources: Sequence[str] = (),
) -> int:
    """Run the window until it closes; return the exit code."""
    app = _application()
    apply_dark_theme(app)
    try:
        window = build_window(
            shotlist_path,
            out_dir,
            resume=resume,
            simulate=simulate,
            sim_controls=sim_controls,
            camera_sources=camera_sources,
        )
    except (ShotListError, SessionExistsError, DeviceError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        QMessageBox.critical(None, "capture-assist cannot start", str(error))
        return 2
    window.resize(1600, 900)
    window.restore_layout()
    window.show()
    return app.exec()
