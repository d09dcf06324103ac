"""The script supervisor marks beats from the keyboard while a video take records."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from capture_assist.session.database import SessionDatabase
from capture_assist.ui.main_window import MainWindow

pytestmark = pytest.mark.gui

SHOTLIST = """\
version: 1
project: {id: beats, title: Beats}
subjects: [{id: s01, consent: {release_id: MR-1, status: unlimited, data_mining: allowed}}]
actions:
  - id: pick_up_glass
    expected_duration_s: 1.5
    beats: [{name: reach}, {name: grasp}, {name: lift}]
angles: [{id: front}]
lighting: [{id: daylight, cct_k: 5600}]
cameras:
  - id: cam_a
    source: {kind: sim}
    angles: [front]
    records: {kind: video, resolution: [320, 240], frame_rate: 25}
naming: "{take_id}_{camera}"
"""


@pytest.fixture
def video_window(open_window: Callable[[Path], MainWindow], tmp_path: Path) -> MainWindow:
    path = tmp_path / "beats.yaml"
    path.write_text(SHOTLIST)
    return open_window(path)


def test_beats_marked_by_key_land_in_the_database_and_the_sidecar(
    video_window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    window = video_window
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert "while a video take records" in window.status_label.text()
    qtbot.keyClick(window, Qt.Key.Key_Space)  # the reference frame
    qtbot.waitUntil(lambda: window.progress_bar.value() == 1, timeout=10000)
    qtbot.keyClick(window, Qt.Key.Key_Space)  # the take starts recording
    qtbot.waitUntil(lambda: window.runner.recording_take is not None, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_1)
    qtbot.wait(150)
    qtbot.keyClick(window, Qt.Key.Key_N)
    qtbot.wait(150)
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert "beat lift marked" in window.status_label.text()
    qtbot.keyClick(window, Qt.Key.Key_Backspace)  # a slip of the finger
    assert "beat lift" in window.status_label.text() and "taken back" in (
        window.status_label.text()
    )
    qtbot.wait(150)
    qtbot.keyClick(window, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: window.progress_bar.value() == 2, timeout=15000)
    take = window.runner.steps[1]
    database = SessionDatabase(tmp_path / "session" / "session.sqlite")
    try:
        marked = database.beats(take.step_id, 1)
    finally:
        database.close()
    assert [beat.name for beat in marked] == ["reach", "grasp", "lift"]
    times = [beat.session_time_s for beat in marked]
    assert times == sorted(times) and times[-1] - times[0] >= 0.3
    video = next((tmp_path / "session").glob("*_cam_a.mkv"))
    sidecar = json.loads(video.with_suffix(".json").read_text())
    assert [beat["name"] for beat in sidecar["beats_marked"]] == ["reach", "grasp", "lift"]
    assert sidecar["beats_marked"][0]["session_time_s"] == pytest.approx(times[0])
    # Each mark falls inside the recording, so it maps to a frame of the take.
    recording = sidecar["camera"]["settings"]["recording"]
    assert recording["frames_written"] > 25


def test_the_last_take_is_rated_in_the_database_and_every_sidecar(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    qtbot.keyClick(window, Qt.Key.Key_X)
    assert "No take shot yet" in window.status_label.text()
    for expected in (1, 2):  # the reference frame, then the first take
        qtbot.keyClick(window, Qt.Key.Key_Space)
        qtbot.waitUntil(lambda n=expected: window.progress_bar.value() == n, timeout=10000)
    take = window.runner.steps[1]
    qtbot.keyClick(window, Qt.Key.Key_X)
    assert window.status_label.text() == f"{take.step_id} NG"
    session = tmp_path / "session"
    sidecars = [path for path in session.rglob("*.json") if take.step_id in path.name]
    assert len(sidecars) == 2
    assert all(json.loads(path.read_text())["rating"] == "ng" for path in sidecars)
    qtbot.keyClick(window, Qt.Key.Key_O)  # changed their mind: editable after the take
    assert all(json.loads(path.read_text())["rating"] == "circle" for path in sidecars)
    database = SessionDatabase(session / "session.sqlite")
    try:
        assert database.step(take.step_id).rating == "circle"
    finally:
        database.close()
