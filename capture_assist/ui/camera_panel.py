"""The cameras: which are connected, what libgphoto2 sees, and each camera's settings.

Nothing here talks to a camera from the GUI thread. Detection runs on a
background thread; reading and setting a camera's settings go through its
``DeviceWorker``, the one thread allowed to call that camera; answers come
back as Qt signals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from capture_assist.devices.base import DeviceError
from capture_assist.devices.opencv_source import VideoSource, list_capture_devices
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.ui.theme import ACCENT, DIM_TEXT, ERROR, WARNING

Detection = list[tuple[str, str, str]]
"""What detection found: (model, port, serial) per camera."""

NORMALISED_ROWS = (
    ("iso", "ISO"),
    ("shutter_s", "Shutter"),
    ("aperture_f", "Aperture"),
    ("white_balance", "White balance"),
    ("white_balance_k", "Colour temp."),
    ("picture_profile", "Profile"),
    ("battery_percent", "Battery"),
)
SETTING_CALL_TIMEOUT_S = 15.0


def describe_setting(key: str, value: object) -> str:
    """Return a setting as the crew reads it (1/125 s, f/5.6, 5600 K, 87 %)."""
    if value is None or value == "":
        return "—"
    if key == "shutter_s" and isinstance(value, int | float) and value > 0:
        return f"1/{round(1 / value)} s" if value < 1 else f"{value:g} s"
    if key == "aperture_f" and isinstance(value, int | float):
        return f"f/{value:g}"
    if key == "white_balance_k" and isinstance(value, int | float):
        return f"{value:.0f} K"
    if key == "battery_percent" and isinstance(value, int | float):
        return f"{value:.0f} %"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def detect_gphoto2_cameras() -> Detection:
    """List what libgphoto2 sees (imported here: loading it is slow and optional)."""
    from capture_assist.devices.gphoto2_camera import list_cameras

    return [(camera.model, camera.port, camera.serial) for camera in list_cameras()]


class _Answers(QObject):
    """Carries answers from worker and background threads to the GUI thread."""

    connection = Signal(str, bool)
    error = Signal(str, str)
    settings = Signal(str, object)
    setting_result = Signal(str, str)
    detection = Signal(object, str)
    capture_devices = Signal(object)


class CameraPanel(QWidget):
    """Connection state per camera, detected cameras, and the selected camera's settings.

    Parameters
    ----------
    workers
        The session's device workers, by camera id.
    camera_users
        Which shot-list camera wants which serial number (to say who uses a
        detected camera).
    detect
        How to list the cameras present; libgphoto2 by default.
    """

    def __init__(
        self,
        workers: Mapping[str, DeviceWorker],
        camera_users: Mapping[str, str] | None = None,
        detect: Callable[[], Detection] = detect_gphoto2_cameras,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.workers = dict(workers)
        self._camera_users = dict(camera_users or {})
        self._detect = detect
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect")
        self._answers = _Answers()
        self._answers.connection.connect(self._on_connection)
        self._answers.error.connect(self._on_error)
        self._answers.settings.connect(self._on_settings)
        self._answers.setting_result.connect(self._on_setting_result)
        self._answers.detection.connect(self._on_detection)
        self._answers.capture_devices.connect(self._on_capture_devices)
        self._last_error: dict[str, str] = {}
        self._lost_since: dict[str, float] = {}
        self._full_settings: dict[str, object] = {}
        self._capture_device_paths: list[str] = []

        layout = QVBoxLayout(self)
        layout.addWidget(self._heading("CAMERAS"))
        self.state_labels: dict[str, QLabel] = {}
        self.detail_labels: dict[str, QLabel] = {}
        states = QGridLayout()
        for row, camera_id in enumerate(self.workers):
            name = QLabel(camera_id)
            name.setStyleSheet("font-size: 18pt; font-weight: 700;")
            state = QLabel()
            state.setObjectName(f"state_{camera_id}")
            detail = QLabel()
            detail.setWordWrap(True)
            detail.setStyleSheet(f"color: {DIM_TEXT}; font-size: 13pt;")
            states.addWidget(name, 2 * row, 0)
            states.addWidget(state, 2 * row, 1)
            states.addWidget(detail, 2 * row + 1, 0, 1, 2)
            self.state_labels[camera_id] = state
            self.detail_labels[camera_id] = detail
        layout.addLayout(states)

        layout.addWidget(self._heading("SETTINGS"))
        self.camera_choice = QComboBox()
        self.camera_choice.addItems(list(self.workers))
        self.camera_choice.currentTextChanged.connect(lambda _text: self._on_camera_chosen())
        layout.addWidget(self.camera_choice)
        # A capture card, file or stream can be pointed elsewhere while the session runs.
        self.source_row = QWidget()
        source_layout = QHBoxLayout(self.source_row)
        source_layout.setContentsMargins(0, 0, 0, 0)
        self.source_field = QComboBox()
        self.source_field.setEditable(True)
        self.source_field.setMinimumContentsLength(24)
        self.use_source_button = QPushButton("Use source")
        self.use_source_button.clicked.connect(lambda: self.use_source())
        source_layout.addWidget(self.source_field, stretch=1)
        source_layout.addWidget(self.use_source_button)
        layout.addWidget(self.source_row)
        self.mode_label = QLabel()
        self.mode_label.setWordWrap(True)
        self.mode_label.setStyleSheet("font-size: 15pt;")
        layout.addWidget(self.mode_label)
        self.value_labels: dict[str, QLabel] = {}
        summary = QGridLayout()
        for row, (key, title) in enumerate(NORMALISED_ROWS):
            caption = QLabel(title)
            caption.setStyleSheet(f"color: {DIM_TEXT}; font-size: 14pt;")
            value = QLabel("—")
            value.setStyleSheet("font-size: 20pt; font-weight: 700;")
            summary.addWidget(caption, row // 2, 2 * (row % 2))
            summary.addWidget(value, row // 2, 2 * (row % 2) + 1)
            self.value_labels[key] = value
        layout.addLayout(summary)

        self.filter_field = QLineEdit()
        self.filter_field.setPlaceholderText("filter the full configuration (e.g. iso, white)")
        self.filter_field.textChanged.connect(lambda _text: self._fill_config_table())
        layout.addWidget(self.filter_field)
        self.config_table = QTableWidget(0, 2)
        self.config_table.setHorizontalHeaderLabels(["setting", "value"])
        self.config_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.config_table.verticalHeader().setVisible(False)
        self.config_table.cellClicked.connect(self._pick_setting)
        layout.addWidget(self.config_table, stretch=1)
        editor = QHBoxLayout()
        self.setting_name = QLineEdit()
        self.setting_name.setPlaceholderText("setting")
        self.setting_value = QLineEdit()
        self.setting_value.setPlaceholderText("new value")
        self.set_button = QPushButton("Set")
        self.set_button.clicked.connect(lambda: self.apply_setting())
        editor.addWidget(self.setting_name, stretch=2)
        editor.addWidget(self.setting_value, stretch=2)
        editor.addWidget(self.set_button)
        layout.addLayout(editor)
        self.setting_status = QLabel()
        self.setting_status.setWordWrap(True)
        layout.addWidget(self.setting_status)

        layout.addWidget(self._heading("DETECTED BY LIBGPHOTO2"))
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda: self.refresh_detection())
        layout.addWidget(self.refresh_button)
        self.detected_table = QTableWidget(0, 4)
        self.detected_table.setHorizontalHeaderLabels(["model", "port", "serial", "used by"])
        self.detected_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.detected_table.verticalHeader().setVisible(False)
        self.detected_table.setMaximumHeight(160)
        layout.addWidget(self.detected_table)
        self.detection_status = QLabel("press Refresh to look for cameras")
        self.detection_status.setStyleSheet(f"color: {DIM_TEXT}; font-size: 14pt;")
        layout.addWidget(self.detection_status)

        self._show_source_row()
        for camera_id, worker in self.workers.items():
            worker.connection_changed.connect(self._answers.connection.emit)
            worker.error.connect(self._answers.error.emit)
            self._show_state(camera_id, worker.connected)

    @staticmethod
    def _heading(text: str) -> QLabel:
        label = QLabel(text)
        label.setStyleSheet(f"color: {DIM_TEXT}; font-size: 13pt; letter-spacing: 2px;")
        return label

    # -- connection state ---------------------------------------------------------

    def _show_state(self, camera_id: str, connected: bool) -> None:
        label = self.state_labels[camera_id]
        worker = self.workers[camera_id]
        if connected:
            label.setText("CONNECTED")
            colour = ACCENT
            try:
                identity = worker.camera.identity()
                detail = f"{identity.model} · serial {identity.serial or '?'} · {identity.port}"
            except DeviceError:
                detail = ""
        elif camera_id in self._lost_since:
            seconds = time.monotonic() - self._lost_since[camera_id]
            label.setText("RECONNECTING")
            colour = WARNING if seconds < 30 else ERROR
            detail = self._last_error.get(camera_id, "")
        else:
            label.setText("NOT CONNECTED")
            colour = ERROR
            detail = self._last_error.get(camera_id, "waiting for the camera")
        label.setStyleSheet(f"font-size: 18pt; font-weight: 800; color: {colour};")
        self.detail_labels[camera_id].setText(detail)

    def _on_connection(self, camera_id: str, connected: bool) -> None:
        if connected:
            self._lost_since.pop(camera_id, None)
            self._last_error.pop(camera_id, None)
            if camera_id == self.camera_choice.currentText():
                self.read_settings()
        else:
            self._lost_since.setdefault(camera_id, time.monotonic())
        self._show_state(camera_id, connected)

    def _on_error(self, camera_id: str, message: str) -> None:
        self._last_error[camera_id] = message
        self._show_state(camera_id, self.workers[camera_id].connected)

    # -- video sources --------------------------------------------------------------

    def _on_camera_chosen(self) -> None:
        self._show_source_row()
        self.read_settings()

    def _chosen_video_source(self) -> VideoSource | None:
        worker = self.workers.get(self.camera_choice.currentText())
        camera = worker.camera if worker is not None else None
        return camera if isinstance(camera, VideoSource) else None

    def _show_source_row(self) -> None:
        source = self._chosen_video_source()
        self.source_row.setVisible(source is not None)
        self.mode_label.setVisible(source is not None)
        if source is None:
            return
        # Capture devices join the list when Refresh finds them (never on this thread).
        choices = [str(source.device)] + [
            path for path in self._capture_device_paths if path != str(source.device)
        ]
        self.source_field.clear()
        self.source_field.addItems(choices)

    def _on_capture_devices(self, paths: list[str]) -> None:
        self._capture_device_paths = paths
        self._show_source_row()

    def use_source(self) -> None:
        """Point the chosen capture camera at the typed device, file or URL (on its thread)."""
        camera_id = self.camera_choice.currentText()
        source = self._chosen_video_source()
        wanted = self.source_field.currentText().strip()
        if source is None or not wanted:
            return
        self.use_source_button.setEnabled(False)
        self.setting_status.setText(f"switching {camera_id} to {wanted} ...")

        def answer(future: Future[Any]) -> None:
            error = future.exception()
            self._answers.setting_result.emit(
                camera_id, f"refused: {error}" if error else f"now reading {wanted}"
            )

        self._on_worker(camera_id, lambda: source.switch_to(wanted), answer)

    def _show_mode(self, settings: Mapping[str, Any]) -> None:
        source = self._chosen_video_source()
        if source is None:
            return
        measured = settings.get("measured_fps")
        parts = [
            f"delivered {settings.get('delivered_mode') or '—'}",
            f"asked {settings.get('requested_mode') or '—'}",
            f"measured {measured:.1f} fps" if isinstance(measured, float) else "",
            f"{settings.get('dropped_frames', 0)} dropped, "
            f"{settings.get('repeated_frames', 0)} repeated",
        ]
        difference = source.mode_difference()
        self.mode_label.setText(" · ".join(part for part in parts if part))
        colour = WARNING if difference else ACCENT
        self.mode_label.setStyleSheet(f"font-size: 15pt; color: {colour};")
        if difference:
            self.mode_label.setText(self.mode_label.text() + f"\n{difference}")

    # -- settings -----------------------------------------------------------------

    def _on_worker(
        self, camera_id: str, call: Callable[[], Any], answer: Callable[[Future[Any]], None]
    ) -> None:
        future = self.workers[camera_id].submit(call)
        future.add_done_callback(answer)

    def read_settings(self) -> None:
        """Ask the selected camera for its settings (answered on the GUI thread)."""
        camera_id = self.camera_choice.currentText()
        if not camera_id:
            return
        camera = self.workers[camera_id].camera

        def answer(future: Future[Any]) -> None:
            error = future.exception()
            self._answers.settings.emit(camera_id, error or future.result())

        self._on_worker(camera_id, camera.settings, answer)

    def _on_settings(self, camera_id: str, settings: object) -> None:
        if camera_id != self.camera_choice.currentText():
            return
        if isinstance(settings, BaseException):
            self.setting_status.setText(f"cannot read the settings: {settings}")
            self.setting_status.setStyleSheet(f"color: {ERROR}; font-size: 14pt;")
            return
        assert isinstance(settings, Mapping)
        self._show_mode(settings)
        for key, label in self.value_labels.items():
            label.setText(describe_setting(key, settings.get(key)))
        full = settings.get("all")
        flat = {key: value for key, value in settings.items() if key != "all"}
        self._full_settings = dict(full) if isinstance(full, Mapping) else flat
        self._fill_config_table()

    def _fill_config_table(self) -> None:
        wanted = self.filter_field.text().strip().lower()
        rows = [
            (name, str(value))
            for name, value in sorted(self._full_settings.items())
            if wanted in name.lower() or wanted in str(value).lower()
        ]
        self.config_table.setRowCount(len(rows))
        for row, (name, value) in enumerate(rows):
            self.config_table.setItem(row, 0, QTableWidgetItem(name))
            self.config_table.setItem(row, 1, QTableWidgetItem(value))

    def _pick_setting(self, row: int, _column: int) -> None:
        name = self.config_table.item(row, 0)
        value = self.config_table.item(row, 1)
        if name is not None and value is not None:
            self.setting_name.setText(name.text())
            self.setting_value.setText(value.text())
            self.setting_value.setFocus()

    def apply_setting(self) -> None:
        """Set the typed value on the selected camera, through its worker, then re-read."""
        camera_id = self.camera_choice.currentText()
        name = self.setting_name.text().strip()
        value = self.setting_value.text().strip()
        if not camera_id or not name:
            return
        camera = self.workers[camera_id].camera
        self.set_button.setEnabled(False)
        self.setting_status.setText(f"setting {name} to {value} on {camera_id} ...")
        self.setting_status.setStyleSheet(f"color: {DIM_TEXT}; font-size: 14pt;")

        def answer(future: Future[Any]) -> None:
            error = future.exception()
            self._answers.setting_result.emit(
                camera_id, f"refused: {error}" if error else f"{name} is now {value}"
            )

        self._on_worker(camera_id, lambda: camera.set_setting(name, value), answer)

    def _on_setting_result(self, camera_id: str, message: str) -> None:
        self.set_button.setEnabled(True)
        self.use_source_button.setEnabled(True)
        refused = message.startswith("refused")
        self.setting_status.setText(f"{camera_id}: {message}")
        self.setting_status.setStyleSheet(
            f"color: {ERROR if refused else ACCENT}; font-size: 14pt; font-weight: 600;"
        )
        if camera_id == self.camera_choice.currentText():
            self.read_settings()

    # -- detection ----------------------------------------------------------------

    def refresh_detection(self) -> None:
        """List the cameras present, on a background thread (it can take seconds)."""
        self.refresh_button.setEnabled(False)
        self.detection_status.setText("looking for cameras ...")

        def detect() -> None:
            try:
                self._answers.capture_devices.emit(
                    [device.path for device in list_capture_devices()]
                )
                self._answers.detection.emit(self._detect(), "")
            except Exception as error:  # shown to the crew; the window must live on
                self._answers.detection.emit([], str(error))

        self._background.submit(detect)

    def _on_detection(self, found: Detection, error: str) -> None:
        self.refresh_button.setEnabled(True)
        self.detected_table.setRowCount(len(found))
        for row, (model, port, serial) in enumerate(found):
            users = [
                cid for cid, wanted in self._camera_users.items() if serial and wanted == serial
            ]
            for column, text in enumerate((model, port, serial or "?", ", ".join(users) or "—")):
                self.detected_table.setItem(row, column, QTableWidgetItem(text))
        if error:
            self.detection_status.setText(f"detection failed: {error}")
        elif not found:
            self.detection_status.setText(
                "no camera found: connect one by USB, switch it on, set it to PC/tether mode"
            )
        else:
            self.detection_status.setText(f"{len(found)} camera(s) found")

    def shutdown(self) -> None:
        """Stop the detection thread (a detection in flight finishes on its own)."""
        self._background.shutdown(wait=False, cancel_futures=True)
