from __future__ import annotations

import threading
import time

import pytest
from mjpeg_server import MjpegServer
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from capture_assist.clock import SessionClock
from capture_assist.devices.opencv_source import VideoMode, VideoSource
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.ui.camera_panel import CameraPanel, describe_setting
from capture_assist.ui.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_settings_are_shown_in_words_the_crew_reads() -> None:
    assert describe_setting("shutter_s", 0.008) == "1/125 s"
    assert describe_setting("shutter_s", 2.0) == "2 s"
    assert describe_setting("aperture_f", 5.6) == "f/5.6"
    assert describe_setting("white_balance_k", 5600.0) == "5600 K"
    assert describe_setting("battery_percent", 87) == "87 %"
    assert describe_setting("iso", None) == "—"


def test_c_opens_the_panel_with_the_cameras_settings_and_states(
    window: MainWindow, qtbot: QtBot
) -> None:
    panel = window.camera_panel
    qtbot.waitUntil(lambda: panel.state_labels["cam_b"].text() == "CONNECTED", timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_C)
    assert window.camera_dock.isVisible()
    qtbot.waitUntil(lambda: panel.value_labels["iso"].text() != "—", timeout=5000)
    assert panel.value_labels["iso"].text() == "400"
    assert panel.value_labels["white_balance_k"].text() == "5600 K"
    assert "Simulated Set" in panel.detail_labels["cam_a"].text()
    panel.filter_field.setText("iso")
    assert panel.config_table.rowCount() == 1
    assert panel.config_table.item(0, 0).text() == "iso"


def test_a_setting_goes_through_the_cameras_worker_and_reads_back(
    window: MainWindow, qtbot: QtBot
) -> None:
    panel = window.camera_panel
    camera = window.workers["cam_a"].camera
    called_on: list[str] = []
    original = camera.set_setting

    def spy(name: str, value: str | float) -> None:
        called_on.append(threading.current_thread().name)
        original(name, value)

    camera.set_setting = spy  # type: ignore[method-assign]
    panel.camera_choice.setCurrentText("cam_a")
    panel.setting_name.setText("iso")
    panel.setting_value.setText("800")
    qtbot.mouseClick(panel.set_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.value_labels["iso"].text() == "800", timeout=5000)
    assert called_on == ["device-cam_a"]
    assert "iso is now 800" in panel.setting_status.text()
    panel.setting_name.setText("zoom")
    panel.setting_value.setText("3")
    qtbot.mouseClick(panel.set_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "refused" in panel.setting_status.text(), timeout=5000)
    assert "no setting 'zoom'" in panel.setting_status.text()


def test_a_pulled_cable_shows_reconnecting_then_connected(window: MainWindow, qtbot: QtBot) -> None:
    panel = window.camera_panel
    camera = window.workers["cam_b"].camera
    qtbot.waitUntil(lambda: panel.state_labels["cam_b"].text() == "CONNECTED", timeout=5000)
    camera.inject_fault("disconnect")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: panel.state_labels["cam_b"].text() == "RECONNECTING", timeout=5000)
    assert "cable pull" in panel.detail_labels["cam_b"].text()
    camera.replug()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: panel.state_labels["cam_b"].text() == "CONNECTED", timeout=15000)
    assert panel.state_labels["cam_a"].text() == "CONNECTED"


def test_detection_runs_off_the_gui_thread_and_says_when_nothing_is_there(
    window: MainWindow, qtbot: QtBot
) -> None:
    release = threading.Event()
    detected_on: list[str] = []

    def slow_detection() -> list[tuple[str, str, str]]:
        detected_on.append(threading.current_thread().name)
        release.wait(5)
        return []

    panel = CameraPanel(window.workers, detect=slow_detection)
    qtbot.addWidget(panel)
    panel.refresh_detection()
    # The event loop keeps running while detection is busy.
    ticks: list[float] = []
    window.frame_timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    qtbot.wait(300)
    assert len(ticks) > 10
    assert panel.detection_status.text() == "looking for cameras ..."
    assert not panel.refresh_button.isEnabled()
    release.set()
    qtbot.waitUntil(lambda: panel.refresh_button.isEnabled(), timeout=5000)
    assert panel.detection_status.text().startswith("no camera found")
    assert detected_on and detected_on[0] != threading.main_thread().name
    panel.shutdown()


def test_a_detected_camera_names_the_shot_list_camera_that_wants_it(
    window: MainWindow, qtbot: QtBot
) -> None:
    panel = CameraPanel(
        window.workers,
        camera_users={"cam_a": "3012345"},
        detect=lambda: [("Nikon Z 6", "usb:001,004", "3012345"), ("Canon R5", "usb:001,005", "")],
    )
    qtbot.addWidget(panel)
    panel.refresh_detection()
    qtbot.waitUntil(lambda: panel.detected_table.rowCount() == 2, timeout=5000)
    assert panel.detected_table.item(0, 3).text() == "cam_a"
    assert panel.detected_table.item(1, 2).text() == "?"
    assert panel.detection_status.text() == "2 camera(s) found"
    panel.shutdown()


def test_a_capture_camera_is_pointed_at_another_stream_from_the_panel(qtbot: QtBot) -> None:
    small, large = MjpegServer(320, 240, 25.0), MjpegServer(480, 360, 25.0)
    source = VideoSource(
        "monitor", small.url, clock=SessionClock(), requested=VideoMode(480, 360, 25.0)
    )
    worker = DeviceWorker(source, live=True)
    worker.start()
    panel = CameraPanel({"monitor": worker}, detect=lambda: [])
    qtbot.addWidget(panel)
    try:
        assert worker.slot.wait_newer(-1, timeout_s=5.0) is not None
        assert panel.source_row.isVisibleTo(panel)
        assert panel.source_field.currentText() == small.url
        panel.read_settings()
        qtbot.waitUntil(
            lambda: "320x240 instead of 480x360" in panel.mode_label.text(), timeout=5000
        )
        panel.source_field.setEditText(large.url)
        qtbot.mouseClick(panel.use_source_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "now reading" in panel.setting_status.text(), timeout=5000)
        qtbot.waitUntil(
            lambda: (
                (frame := worker.slot.take().frame) is not None
                and frame.pixels.shape == (360, 480, 3)
            ),
            timeout=5000,
        )
        panel.read_settings()
        qtbot.waitUntil(
            lambda: panel.mode_label.text().startswith("delivered 480x360"), timeout=5000
        )
        assert "instead of" not in panel.mode_label.text()
    finally:
        panel.shutdown()
        worker.stop()
        small.close()
        large.close()
