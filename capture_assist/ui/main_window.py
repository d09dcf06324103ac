"""The main window: live view, the plan in large type, Space to capture."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from capture_assist.analysis.qc import hold_recording
from capture_assist.pipeline.live_analysis import LiveAnalyzer, LiveMetrics
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.session.database import Rating
from capture_assist.session.runner import RunnerState, SessionRunner, Step, StepOutcome
from capture_assist.shotlist.model import Gphoto2Source
from capture_assist.ui.camera_panel import CameraPanel
from capture_assist.ui.live_view import LiveGrid, LiveView
from capture_assist.ui.meters import MeterPanel

# Polling the slots is nearly free; a view repaints only when its frame is new,
# so a short interval lets a 60 fps source be shown at 60 fps.
FRAME_REFRESH_MS = 5
# Numbers that change faster than this cannot be read, and relaying out the
# meter labels on every frame would take the GUI thread from the live views.
METER_REFRESH_S = 1 / 12
SHORTCUTS = (
    ("Space", "Capture the current step"),
    ("D", "Delta E of every chart patch on / off"),
    ("C", "Cameras: connection, settings, detection on / off"),
    ("1-9 / N", "While a video take records: mark that beat / the next beat"),
    ("Backspace", "Take back the last beat marked"),
    ("O / X / H", "Rate the last take: circle / NG / hold"),
    ("F11", "Full screen on / off"),
    ("?", "Show / hide this help"),
    ("Ctrl+Q", "Quit (captured files are already safe)"),
)


class RunnerBridge(QObject):
    """Re-emits the runner's psygnal signals as Qt signals, delivered on the UI thread."""

    step_finished = Signal(object)
    notification = Signal(str, str)
    state_changed = Signal(str)

    def __init__(self, runner: SessionRunner) -> None:
        super().__init__()
        runner.step_finished.connect(self.step_finished.emit)
        runner.notification.connect(self.notification.emit)
        runner.state_changed.connect(self.state_changed.emit)


class DeviceErrorBridge(QObject):
    """Delivers device-thread news to the UI: errors, and shots taken on a camera's body."""

    error = Signal(str)
    file_added = Signal(str, str, str)

    def __init__(self, workers: Iterable[DeviceWorker]) -> None:
        super().__init__()
        for worker in workers:
            worker.error.connect(self._forward)
            worker.file_added.connect(self.file_added.emit)

    def _forward(self, _source: str, message: str) -> None:
        self.error.emit(message)


def describe_step(runner: SessionRunner, step: Step | None) -> tuple[str, str, str]:
    """Return (kind line, main line, beats line) for a step, as the crew reads them."""
    if step is None:
        return ("SESSION COMPLETE", "Every take is shot", "")
    if step.take is None:
        return (
            "REFERENCE FRAME",
            "ColorChecker + grey card",
            "Place the chart and the grey card in the subject's position, then capture.",
        )
    take = step.take
    action = next(a for a in runner.shotlist.actions if a.id == take.action)
    beats = " → ".join(name for name, _start, _duration in action.beat_schedule())
    return (
        f"TAKE {take.index + 1} OF {len(runner.matrix.takes)}",
        f"{take.subject} · {take.action} · rep {take.repetition}",
        f"beats: {beats}" if beats else "",
    )


def describe_setup(runner: SessionRunner, step: Step | None) -> str:
    """Return the setup line: lighting, colour temperature and camera placement."""
    if step is None:
        return ""
    lighting = next(light for light in runner.shotlist.lighting if light.id == step.setup.lighting)
    placement = ", ".join(f"{cam}: {angle}" for cam, angle in step.setup.placement.camera_angles)
    return (
        f"Setup {step.setup.index + 1}/{len(runner.matrix.setups)}  ·  "
        f"{lighting.id} {lighting.cct_k:.0f} K  ·  {placement}"
    )


class MainWindow(QMainWindow):
    """The DP's window over a session runner and its device workers."""

    def __init__(
        self,
        runner: SessionRunner,
        workers: Mapping[str, DeviceWorker],
        out_dir: Path,
        analyzers: Mapping[str, LiveAnalyzer] | None = None,
    ) -> None:
        super().__init__()
        self.runner = runner
        self.workers = dict(workers)
        self.analyzers = dict(analyzers or {})
        self.out_dir = out_dir
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture")
        self._capturing = False
        self._error_shown = False
        self.setWindowTitle(f"capture-assist · {runner.shotlist.project.id}")

        self.live_views = {
            camera.id: LiveView(camera.id, camera.angles[0]) for camera in runner.shotlist.cameras
        }
        live_area = LiveGrid(list(self.live_views.values()))
        self.meters = MeterPanel(runner.shotlist.qc)
        self.meters.setFixedWidth(460)
        self.selected_camera = runner.shotlist.cameras[0].id
        for view in self.live_views.values():
            view.clicked.connect(self.select_camera)
        self.live_views[self.selected_camera].selected = True

        self.project_label = self._label(
            "project", runner.shotlist.project.title or runner.shotlist.project.id
        )
        self.setup_label = self._label("setup", "")
        self.step_kind_label = self._label("stepKind", "")
        self.step_label = self._label("step", "")
        self.beats_label = self._label("beats", "")
        self.next_label = self._label("next", "")
        self.capture_button = QPushButton("Capture")
        self.capture_button.setObjectName("capture")
        self.capture_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.capture_button.clicked.connect(lambda: self.capture_current())
        self.progress_bar = QProgressBar()
        self.setup_progress_bar = QProgressBar()
        self.recent_list = QListWidget()
        self.recent_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.recent_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.recent_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)

        panel = QFrame()
        panel.setObjectName("panel")
        panel_layout = QVBoxLayout(panel)
        panel_layout.setContentsMargins(18, 18, 18, 18)
        panel_layout.setSpacing(10)
        for widget in (
            self.project_label,
            self.setup_label,
            self.step_kind_label,
            self.step_label,
            self.beats_label,
            self.next_label,
        ):
            panel_layout.addWidget(widget)
        panel_layout.addSpacing(8)
        panel_layout.addWidget(self.capture_button)
        panel_layout.addWidget(self._label("stepKind", "SESSION"))
        panel_layout.addWidget(self.progress_bar)
        panel_layout.addWidget(self._label("stepKind", "THIS SETUP"))
        panel_layout.addWidget(self.setup_progress_bar)
        panel_layout.addWidget(self._label("stepKind", "RECENT"))
        panel_layout.addWidget(self.recent_list, 1)
        panel.setMinimumWidth(500)
        panel.setMaximumWidth(600)

        body = QHBoxLayout()
        body.addWidget(live_area, 1)
        if self.analyzers:
            body.addWidget(self.meters)
        body.addWidget(panel)
        self.status_label = self._label("status", "")
        root = QVBoxLayout()
        root.addLayout(body, 1)
        root.addWidget(self.status_label)
        central = QWidget()
        central.setLayout(root)
        self.setCentralWidget(central)

        self.camera_panel = CameraPanel(
            self.workers,
            camera_users={
                camera.id: camera.source.serial
                for camera in runner.shotlist.cameras
                if isinstance(camera.source, Gphoto2Source)
            },
        )
        self.camera_dock = QDockWidget("Cameras", self)
        self.camera_dock.setObjectName("cameras")
        self.camera_dock.setWidget(self.camera_panel)
        self.camera_dock.setMinimumWidth(520)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.camera_dock)
        self.camera_dock.hide()

        self.help_overlay = QLabel(self._help_text(), central)
        self.help_overlay.setStyleSheet(
            "background: rgba(0,0,0,220); color: #ffffff; font-size: 22pt; padding: 30px;"
            "border: 2px solid #2f9e6e; border-radius: 12px;"
        )
        self.help_overlay.setTextFormat(Qt.TextFormat.RichText)
        self.help_overlay.hide()

        QShortcut(QKeySequence(Qt.Key.Key_Space), self, lambda: self.capture_current())
        QShortcut(QKeySequence(Qt.Key.Key_F11), self, self._toggle_fullscreen)
        QShortcut(QKeySequence(Qt.Key.Key_D), self, self.toggle_delta_e)
        QShortcut(QKeySequence(Qt.Key.Key_C), self, self.toggle_camera_panel)
        for number in range(1, 10):
            QShortcut(
                QKeySequence(str(number)), self, lambda index=number - 1: self.mark_beat(index)
            )
        QShortcut(QKeySequence(Qt.Key.Key_N), self, lambda: self.mark_beat(None))
        QShortcut(QKeySequence(Qt.Key.Key_Backspace), self, self.undo_beat)
        for key, rating in ((Qt.Key.Key_O, Rating.CIRCLE), (Qt.Key.Key_X, Rating.NG)):
            QShortcut(QKeySequence(key), self, lambda r=rating: self.rate_last_take(r))
        QShortcut(QKeySequence(Qt.Key.Key_H), self, lambda: self.rate_last_take(Rating.HOLD))
        QShortcut(QKeySequence("?"), self, self._toggle_help)
        QShortcut(QKeySequence("Ctrl+Q"), self, self.close)

        self.device_errors = DeviceErrorBridge(self.workers.values())
        self.device_errors.error.connect(self._on_device_error)
        self.device_errors.file_added.connect(self._on_shot_on_body)
        self.bridge = RunnerBridge(runner)
        self.bridge.step_finished.connect(self._on_step_finished)
        self.bridge.notification.connect(self._on_notification)

        self._has_baseline: dict[str, bool] = {}
        self._last_take: Step | None = None
        self._meters_shown_at = 0.0
        self._meters_metrics: LiveMetrics | None = None
        self._update_baselines()
        self.frame_timer = QTimer(self)
        self.frame_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.frame_timer.timeout.connect(self._refresh_frames)
        self.frame_timer.start(FRAME_REFRESH_MS)
        self.refresh_plan()
        self.show_status(f"Ready · saving to {out_dir}")

    @staticmethod
    def _label(name: str, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName(name)
        label.setWordWrap(True)
        return label

    @staticmethod
    def _help_text() -> str:
        rows = "".join(
            f"<tr><td><b>{key}</b>&nbsp;&nbsp;&nbsp;</td><td>{what}</td></tr>"
            for key, what in SHORTCUTS
        )
        return f"<h2>Keyboard</h2><table>{rows}</table>"

    def _toggle_help(self) -> None:
        if self.help_overlay.isVisible():
            self.help_overlay.hide()
            return
        self.help_overlay.adjustSize()
        self.help_overlay.move(
            (self.width() - self.help_overlay.width()) // 2,
            (self.height() - self.help_overlay.height()) // 2,
        )
        self.help_overlay.raise_()
        self.help_overlay.show()

    def mark_beat(self, index: int | None) -> None:
        """Mark the action's beat number ``index`` (``None``: the next) in the recording take."""
        step = self.runner.recording_take
        take = step.take if step is not None else None
        if take is None:
            self.show_status("Beats are marked while a video take records", "warning")
            return
        action = next(a for a in self.runner.shotlist.actions if a.id == take.action)
        if index is not None and index >= len(action.beats):
            self.show_status(f"{action.id} has {len(action.beats)} beats", "warning")
            return
        try:
            mark = self.runner.mark_beat(action.beats[index].name if index is not None else None)
        except ValueError as error:
            self.show_status(str(error), "warning")
            return
        self.show_status(f"beat {mark.name} marked at {mark.timecode}")

    def rate_last_take(self, rating: Rating) -> None:
        """Rate the take shot last (the sidecars and the database change together)."""
        if self._last_take is None:
            self.show_status("No take shot yet to rate", "warning")
            return
        try:
            self.runner.rate_take(self._last_take, rating)
        except (ValueError, OSError) as error:
            self.show_status(f"Could not rate {self._last_take.step_id}: {error}", "error")
            return
        label = {Rating.CIRCLE: "circled", Rating.NG: "NG", Rating.HOLD: "on hold"}[rating]
        self.show_status(f"{self._last_take.step_id} {label}")

    def undo_beat(self) -> None:
        """Take back the last beat marked in the recording take."""
        removed = self.runner.undo_last_beat()
        if removed is not None:
            self.show_status(f"beat {removed.name} at {removed.timecode} taken back")

    def toggle_camera_panel(self) -> None:
        """Show or hide the cameras panel (reading the chosen camera's settings on show)."""
        if self.camera_dock.isVisible():
            self.camera_dock.hide()
            return
        self.camera_dock.show()
        self.camera_panel.read_settings()

    def toggle_delta_e(self) -> None:
        """Show or hide each chart patch's delta E on the live views."""
        for view in self.live_views.values():
            view.show_delta_e = not view.show_delta_e

    def _toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def _refresh_frames(self) -> None:
        for camera_id, view in self.live_views.items():
            analyzer = self.analyzers.get(camera_id)
            if analyzer is not None:
                view.show_metrics(analyzer.latest())
            view.show_frame(self.workers[camera_id].slot.take().frame)
            view.show_signal(self.workers[camera_id].connected)
        analyzer = self.analyzers.get(self.selected_camera)
        now = time.monotonic()
        if analyzer is None or now - self._meters_shown_at < METER_REFRESH_S:
            return
        metrics = analyzer.latest()
        if metrics is not None and metrics is not self._meters_metrics:
            self._meters_shown_at = now
            self._meters_metrics = metrics
            self.meters.show_metrics(metrics, self._has_baseline.get(self.selected_camera, False))

    def select_camera(self, camera_id: str) -> None:
        """Show this camera's meters."""
        self.selected_camera = camera_id
        for view_id, view in self.live_views.items():
            view.selected = view_id == camera_id

    def _update_baselines(self) -> None:
        """Point every analyzer at the current setup's reference frame."""
        step = self.runner.next_step()
        if step is None:
            return
        lighting = next(
            light for light in self.runner.shotlist.lighting if light.id == step.setup.lighting
        )
        for camera_id, analyzer in self.analyzers.items():
            baseline = self.runner.baseline(step.setup, camera_id)
            self._has_baseline[camera_id] = baseline is not None
            analyzer.set_baseline(baseline, lighting.cct_k)

    def show_status(self, text: str, level: str = "info") -> None:
        """Show a line in the status bar; errors stay until the next success."""
        names = {"error": "statusError", "warning": "statusWarning"}
        self.status_label.setObjectName(names.get(level, "status"))
        self.status_label.setStyleSheet("")  # re-apply the style for the new object name
        self.status_label.setText(text)

    def refresh_plan(self) -> None:
        """Show the current step, what comes next and the progress."""
        step = self.runner.next_step()
        kind, main, beats = describe_step(self.runner, step)
        self.setup_label.setText(describe_setup(self.runner, step))
        self.step_kind_label.setText(kind)
        self.step_label.setText(main)
        self.beats_label.setText(beats)
        if step is not None:
            for camera_id, angle_id in step.setup.placement.camera_angles:
                view = self.live_views[camera_id]
                view.angle_id = angle_id
            following = self._step_after(step)
            if following is None:
                self.next_label.setText("Next: end of the shot list")
            else:
                next_kind, next_main, _ = describe_step(self.runner, following)
                change = "  (new setup)" if following.setup is not step.setup else ""
                self.next_label.setText(
                    f"Next: {next_main}{change}"
                    if following.take
                    else f"Next: {next_kind.lower()}{change}"
                )
            self.capture_button.setText(
                "Capture reference  [Space]" if step.take is None else "Capture take  [Space]"
            )
        else:
            self.next_label.setText("")
            self.capture_button.setText("Done")
        self.capture_button.setEnabled(step is not None and not self._capturing)
        done, total = self.runner.progress()
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)
        self.progress_bar.setFormat(f"{done} / {total} steps")
        if step is not None:
            statuses = self.runner.step_statuses()
            setup_steps = [s for s in self.runner.steps if s.setup is step.setup]
            setup_done = sum(1 for s in setup_steps if statuses.get(s.step_id) == "done")
            self.setup_progress_bar.setRange(0, len(setup_steps))
            self.setup_progress_bar.setValue(setup_done)
            self.setup_progress_bar.setFormat(f"{setup_done} / {len(setup_steps)}")

    def _step_after(self, step: Step) -> Step | None:
        statuses = self.runner.step_statuses()
        later = self.runner.steps[self.runner.steps.index(step) + 1 :]
        return next((s for s in later if statuses.get(s.step_id) != "done"), None)

    def _on_shot_on_body(self, camera_id: str, folder: str, name: str) -> None:
        """Take the current step with the file a camera's own shutter button just made."""
        if self._capturing or self.runner.state is RunnerState.CAPTURING:
            self.show_status(
                f"{camera_id}: {name} was shot on the camera during a capture; it stays on "
                "the card and is not part of the take",
                "warning",
            )
            return
        self.show_status(f"{camera_id}: shutter pressed on the camera, taking {name}")
        self.capture_current(shot_on_body={camera_id: (folder, name)})

    def capture_current(self, shot_on_body: Mapping[str, tuple[str, str]] | None = None) -> None:
        """Capture the current step on a worker thread (the UI never waits on hardware)."""
        step = self.runner.next_step()
        if step is None or self._capturing or self.runner.state is RunnerState.CAPTURING:
            return
        held = self._held_by_instability()
        if held:
            self.show_status(
                f"Hold: {held} not stable (the shot list holds recording until it is); "
                "wait for STABLE, or check the tripod",
                "warning",
            )
            return
        self._capturing = True
        self.capture_button.setEnabled(False)
        self.capture_button.setText("Capturing...")
        self.show_status(f"Capturing {step.step_id} ...")
        self._executor.submit(self.runner.capture, step, shot_on_body=shot_on_body)

    def _held_by_instability(self) -> str:
        """Return the cameras that hold the capture (empty when it may go)."""
        unstable = []
        for camera_id, analyzer in self.analyzers.items():
            metrics = analyzer.latest()
            if metrics is not None and hold_recording(
                metrics.stability.stable, self.runner.shotlist.qc
            ):
                unstable.append(camera_id)
        return ", ".join(unstable)

    def _on_step_finished(self, outcome: StepOutcome) -> None:
        self._capturing = False
        mark = "✔" if outcome.ok else "✖ FAILED"
        step = next(s for s in self.runner.steps if s.step_id == outcome.step_id)
        _kind, main, _beats = describe_step(self.runner, step)
        what = main if step.take is not None else f"reference · {step.setup.setup_id}"
        text = f"{mark}  {what}  · attempt {outcome.attempt}"
        item = QListWidgetItem(text)
        if not outcome.ok:
            item.setForeground(Qt.GlobalColor.red)
        self.recent_list.insertItem(0, item)
        if outcome.ok:
            names = ", ".join(path.name for path in outcome.files if path.suffix != ".json")
            self.show_status(f"Saved {outcome.step_id}: {names}")
            if step.take is not None:
                self._last_take = step
        self.refresh_plan()
        self._update_baselines()

    def _on_device_error(self, message: str) -> None:
        self.show_status(message, "error")

    def _on_notification(self, level: str, message: str) -> None:
        self.show_status(message, level)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Finish a capture in flight, stop the devices, remember the layout."""
        self.frame_timer.stop()
        self._executor.shutdown(wait=True)
        self.camera_panel.shutdown()
        QSettings("capture-assist", "capture-assist").setValue(
            "main_window/geometry", self.saveGeometry()
        )
        for analyzer in self.analyzers.values():
            analyzer.stop()
        for worker in self.workers.values():
            worker.stop()
        self.runner.close()
        super().closeEvent(event)

    def restore_layout(self) -> None:
        """Restore the window geometry saved at the last close."""
        geometry = QSettings("capture-assist", "capture-assist").value("main_window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            screen = self.screen()
            if screen is not None:
                self.setGeometry(screen.availableGeometry())
