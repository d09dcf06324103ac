from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from capture_assist.ui.app import build_window
from capture_assist.ui.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_live_view_shows_frames_from_every_camera(window: MainWindow, qtbot: QtBot) -> None:
    qtbot.waitUntil(
        lambda: all(view.frames_painted > 3 for view in window.live_views.values()), timeout=5000
    )
    assert window.step_kind_label.text() == "REFERENCE FRAME"
    assert window.progress_bar.format() == "0 / 14 steps"


def test_space_captures_the_reference_then_advances_to_the_first_take(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.progress_bar.value() == 1, timeout=10000)
    assert window.step_kind_label.text() == "TAKE 1 OF 12"
    assert window.step_label.text() == "s01 · pick_up_glass · rep 1"
    assert window.beats_label.text() == "beats: reach → grasp → lift → place"
    reference = tmp_path / "session" / "_reference" / "daylight.front+side"
    assert sorted(p.name for p in reference.iterdir()) == [
        "daylight.front+side_cam_a.jpg",
        "daylight.front+side_cam_a.json",
        "daylight.front+side_cam_b.jpg",
        "daylight.front+side_cam_b.json",
    ]
    assert "Saved" in window.status_label.text()


def test_ui_stays_responsive_during_a_slow_capture(window: MainWindow, qtbot: QtBot) -> None:
    for worker in window.workers.values():
        worker.camera.set_controls(capture_delay_s=1.0)  # type: ignore[attr-defined]
    ticks = []
    timer_thread = threading.get_ident()
    window.frame_timer.timeout.connect(lambda: ticks.append(threading.get_ident()))
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.capture_button.isEnabled()
    qtbot.wait(600)
    # The event loop kept running the 30 ms frame timer while the cameras were busy.
    assert len(ticks) >= 10
    assert set(ticks) == {timer_thread}
    assert window.progress_bar.value() == 0
    qtbot.waitUntil(lambda: window.progress_bar.value() == 1, timeout=10000)
    assert window.capture_button.isEnabled()


def test_a_failing_camera_is_reported_in_plain_words(window: MainWindow, qtbot: QtBot) -> None:
    window.workers["cam_b"].camera.inject_fault("disconnect")  # type: ignore[attr-defined]
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: "failed" in window.status_label.text(), timeout=10000)
    assert "cam_b" in window.status_label.text()
    assert window.status_label.objectName() == "statusError"
    assert window.progress_bar.value() == 0
    assert window.step_kind_label.text() == "REFERENCE FRAME"


def test_closing_stops_the_device_threads(window: MainWindow) -> None:
    threads = [worker._thread for worker in window.workers.values()]
    window.close()
    assert not any(thread.is_alive() for thread in threads)


def test_meters_show_live_measurements(window: MainWindow, qtbot: QtBot) -> None:
    analyzer = window.analyzers["cam_a"]
    qtbot.waitUntil(
        lambda: analyzer.latest() is not None and analyzer.latest().slow is not None, timeout=10000
    )
    qtbot.waitUntil(lambda: "K" in window.meters.white_balance.value.text(), timeout=10000)
    assert window.meters.stability.value.text() in ("STABLE", "UNSTABLE")
    assert "analysed" in window.meters.camera_label.text()


def test_an_unstable_camera_holds_the_capture_when_the_shot_list_says_so(
    qtbot: QtBot, tmp_path: Path, demo_shotlist_path: Path
) -> None:
    text = demo_shotlist_path.read_text().replace(
        "naming:", "qc: {hold_recording_while_unstable: true}\nnaming:"
    )
    held_list = tmp_path / "held.yaml"
    held_list.write_text(text)
    main_window = build_window(
        held_list, tmp_path / "session", resume=False, simulate=False, sim_controls=None
    )
    qtbot.addWidget(main_window)
    main_window.show()
    analyzer = main_window.analyzers["cam_b"]
    qtbot.waitUntil(
        lambda: analyzer.latest() is not None and analyzer.latest().frames_analysed > 10,
        timeout=10000,
    )
    main_window.workers["cam_b"].camera.bump(15.0, 0.0)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: not analyzer.latest().stability.stable, timeout=5000)
    qtbot.keyClick(main_window, Qt.Key.Key_Space)
    assert "Hold: cam_b" in main_window.status_label.text()
    qtbot.wait(300)
    assert main_window.progress_bar.value() == 0
    # Once the camera has settled, Space captures.
    qtbot.waitUntil(lambda: analyzer.latest().stability.stable, timeout=8000)
    qtbot.keyClick(main_window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: main_window.progress_bar.value() == 1, timeout=15000)
    main_window.close()


def test_delta_e_overlay_toggles_with_d(window: MainWindow, qtbot: QtBot) -> None:
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert all(view.show_delta_e for view in window.live_views.values())
    analyzer = window.analyzers["cam_a"]
    qtbot.waitUntil(
        lambda: (
            analyzer.latest() is not None
            and analyzer.latest().slow is not None
            and analyzer.latest().slow.chart is not None
        ),
        timeout=10000,
    )
    view = window.live_views["cam_a"]
    painted = view.frames_painted
    qtbot.waitUntil(lambda: view.frames_painted > painted + 3, timeout=5000)
    image = view.grab().toImage()
    assert not image.isNull()
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert not any(view.show_delta_e for view in window.live_views.values())


def test_a_shutter_press_on_a_camera_body_takes_the_current_step(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    camera = window.workers["cam_a"].camera
    _folder, name = camera.press_shutter()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: window.progress_bar.value() == 1, timeout=10000)
    assert "shutter pressed on the camera" in window.status_label.text() or "Saved" in (
        window.status_label.text()
    )
    reference = tmp_path / "session" / "_reference" / "daylight.front+side"
    sidecar = json.loads((reference / "daylight.front+side_cam_a.json").read_text())
    assert sidecar["capture"]["trigger"] == "camera_button"
    assert sidecar["media"]["original_name"] == name
    other = json.loads((reference / "daylight.front+side_cam_b.json").read_text())
    assert other["capture"]["trigger"] == "app"


def test_a_lost_camera_shows_no_signal_over_its_last_picture(
    window: MainWindow, qtbot: QtBot
) -> None:
    view = window.live_views["cam_b"]
    qtbot.waitUntil(lambda: view.frames_painted > 3, timeout=5000)
    camera = window.workers["cam_b"].camera
    camera.inject_fault("disconnect")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: not view.signal, timeout=5000)
    picture = view.grab().toImage()
    centre = picture.pixelColor(picture.width() // 2, picture.height() // 2)
    assert centre.red() > 200 and centre.green() < 120  # the red banner is painted
    camera.replug()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: view.signal, timeout=15000)
