"""Our libgphoto2 camera against the PTP/IP emulator, through the real libgphoto2.

The emulator (tests/ptpip/emulator.py) runs in its own process; here run
``Gphoto2Camera`` and the ``DeviceWorker`` exactly as the app runs them. Every
fault must end in a clear error within 5 s, keep what was already captured,
and be followed by a reconnection.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from emulator import EmulatorProcess
from session_checks import check_done_steps_are_whole

from capture_assist.clock import SessionClock
from capture_assist.devices.base import ConnectionLostError, DeviceError, Frame
from capture_assist.devices.factory import open_cameras
from capture_assist.devices.gphoto2_camera import Gphoto2Camera
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.session.runner import SessionRunner
from capture_assist.shotlist.loader import load_shotlist

pytestmark = pytest.mark.slow

FAULT_LIMIT_S = 5.0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_on_card(emulator: EmulatorProcess, name: str) -> dict[str, object]:
    return next(f for f in emulator.command("status")["files"] if f["name"] == name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ConnectionLog:
    """What a worker said about its connection, with the time it said it."""

    def __init__(self, worker: DeviceWorker) -> None:
        self.changes: list[tuple[float, bool]] = []
        self.errors: list[str] = []
        self._changed = threading.Condition()
        worker.connection_changed.connect(self._on_change)
        worker.error.connect(lambda _source, message: self.errors.append(message))

    def _on_change(self, _source: str, connected: bool) -> None:
        with self._changed:
            self.changes.append((time.monotonic(), connected))
            self._changed.notify_all()

    def wait_for(self, connected: bool, after: float, timeout_s: float) -> float:
        """Return when the worker reported ``connected`` after ``after``, in seconds since it."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for at, state in self.changes:
                    if at >= after and state == connected:
                        return at - after
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no connection change to {connected} within {timeout_s} s: "
                        f"{self.changes} {self.errors}"
                    )
                self._changed.wait(remaining)


@pytest.fixture
def open_camera(
    start_emulator: Callable[..., EmulatorProcess],
) -> Iterator[Callable[..., tuple[EmulatorProcess, Gphoto2Camera]]]:
    cameras: list[Gphoto2Camera] = []

    def open_one(**emulator_options: object) -> tuple[EmulatorProcess, Gphoto2Camera]:
        emulator = start_emulator(**emulator_options)
        camera = Gphoto2Camera("cam_a", clock=SessionClock(), port=emulator.port_path)
        camera.open()
        cameras.append(camera)
        return emulator, camera

    yield open_one
    for camera in cameras:
        camera.close()


@pytest.fixture
def running_worker(
    start_emulator: Callable[..., EmulatorProcess],
) -> Iterator[Callable[..., tuple[EmulatorProcess, DeviceWorker, ConnectionLog]]]:
    workers: list[DeviceWorker] = []

    def start(
        live: bool = False, **emulator_options: object
    ) -> tuple[EmulatorProcess, DeviceWorker, ConnectionLog]:
        emulator = start_emulator(**emulator_options)
        camera = Gphoto2Camera("cam_a", clock=SessionClock(), port=emulator.port_path)
        worker = DeviceWorker(camera, live=live)
        log = ConnectionLog(worker)
        started = time.monotonic()
        worker.start()
        log.wait_for(True, started, 10.0)
        workers.append(worker)
        return emulator, worker, log

    yield start
    for worker in workers:
        worker.stop()


def test_a_ptpip_camera_opens_by_address_with_its_serial_and_settings(
    open_camera: Callable[..., tuple[EmulatorProcess, Gphoto2Camera]],
) -> None:
    emulator, camera = open_camera(vendor="nikon", serial="EMU-7731", model="Emulated Z")
    identity = camera.identity()
    assert identity.serial == "EMU-7731"
    assert identity.port == emulator.port_path
    settings = camera.settings()
    assert settings["iso"] == 100
    assert settings["aperture_f"] == pytest.approx(5.6)
    assert settings["shutter_s"] == pytest.approx(1 / 125)
    assert settings["battery_percent"] == 87
    assert settings["white_balance"]
    # The full snapshot rides along for the sidecar.
    assert {"iso", "f-number", "shutterspeed", "whitebalance"} <= set(settings["all"])


def test_a_camera_with_another_serial_is_refused(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    emulator = start_emulator(vendor="nikon", serial="EMU-0001")
    camera = Gphoto2Camera(
        "cam_a", clock=SessionClock(), port=emulator.port_path, serial="EMU-9999"
    )
    with pytest.raises(DeviceError, match="has serial EMU-0001, not EMU-9999"):
        camera.open()


@pytest.mark.parametrize("vendor", ["nikon", "generic"])
def test_live_view_runs_on_the_worker_at_the_cameras_rate(
    running_worker: Callable[..., tuple[EmulatorProcess, DeviceWorker, ConnectionLog]],
    vendor: str,
) -> None:
    emulator, worker, _log = running_worker(live=True, vendor=vendor, fps=20)
    first = worker.slot.wait_newer(-1, timeout_s=5.0)
    assert first is not None
    frames: list[Frame] = []
    deadline = time.monotonic() + 2.0
    last = first.sequence
    while time.monotonic() < deadline:
        frame = worker.slot.wait_newer(last, timeout_s=1.0)
        if frame is not None:
            frames.append(frame)
            last = frame.sequence
    assert frames[0].pixels.shape == (480, 640, 3)
    rate = (len(frames) - 1) / (frames[-1].timestamp_s - frames[0].timestamp_s)
    assert 16.0 < rate < 22.0, rate
    # Timestamps are on the session clock and rise with the sequence.
    assert all(b.timestamp_s > a.timestamp_s for a, b in itertools.pairwise(frames))
    served = emulator.command("status")["frames_served"]
    assert served >= frames[-1].sequence


def test_a_setting_reaches_the_camera_and_reads_back(
    running_worker: Callable[..., tuple[EmulatorProcess, DeviceWorker, ConnectionLog]],
) -> None:
    emulator, worker, _log = running_worker(vendor="nikon")
    camera = worker.camera
    assert isinstance(camera, Gphoto2Camera)
    worker.submit(lambda: camera.set_setting("iso", "400")).result(timeout=10)
    assert {"code": "0x500f", "value": 400} in emulator.command("status")["property_sets"]
    assert worker.submit(camera.settings).result(timeout=10)["iso"] == 400
    refused = worker.submit(lambda: camera.set_setting("iso", "123456"))
    with pytest.raises(DeviceError):
        refused.result(timeout=10)


def test_a_capture_is_downloaded_byte_exact_in_partial_chunks(
    open_camera: Callable[..., tuple[EmulatorProcess, Gphoto2Camera]], tmp_path: Path
) -> None:
    emulator, camera = open_camera(vendor="nikon", capture_size=3_500_000)
    still = camera.capture_still(tmp_path / "take.jpg")
    on_card = file_on_card(emulator, still.original_name)
    assert still.size_bytes == on_card["size"] == 3_500_000
    assert sha256(still.path) == on_card["sha256"]
    assert emulator.command("status")["operations"]["GetPartialObject"] >= 4
    assert still.settings["iso"] == 100


def test_a_shutter_press_on_the_body_arrives_and_downloads(
    open_camera: Callable[..., tuple[EmulatorProcess, Gphoto2Camera]], tmp_path: Path
) -> None:
    emulator, camera = open_camera(vendor="generic")
    pressed = emulator.command("press_shutter")["file"]
    added = camera.wait_for_file_added(timeout_s=5.0)
    assert added == (pressed["folder"], pressed["name"])
    still = camera.download_added_file(*added, tmp_path / "tethered.jpg")
    assert sha256(still.path) == pressed["sha256"]
    assert camera.wait_for_file_added(timeout_s=0.3) is None


def test_a_camera_dying_mid_download_keeps_earlier_files_and_reconnects(
    running_worker: Callable[..., tuple[EmulatorProcess, DeviceWorker, ConnectionLog]],
    tmp_path: Path,
) -> None:
    emulator, worker, log = running_worker(vendor="nikon", capture_size=3_000_000)
    camera = worker.camera
    first = worker.submit(lambda: camera.capture_still(tmp_path / "first.jpg")).result(10)
    first_digest = sha256(first.path)
    emulator.command("fault", name="die_mid_download")
    started = time.monotonic()
    with pytest.raises(ConnectionLostError, match="lost the connection") as raised:
        worker.submit(lambda: camera.capture_still(tmp_path / "second.jpg")).result(10)
    assert time.monotonic() - started < FAULT_LIMIT_S
    assert "safe on disk" in raised.value.advice
    assert not (tmp_path / "second.jpg").exists()
    assert sha256(first.path) == first_digest
    log.wait_for(True, started, 10.0)
    third = worker.submit(lambda: camera.capture_still(tmp_path / "third.jpg")).result(10)
    assert sha256(third.path) == file_on_card(emulator, third.original_name)["sha256"]


def test_a_frozen_camera_is_reported_lost_and_comes_back(
    running_worker: Callable[..., tuple[EmulatorProcess, DeviceWorker, ConnectionLog]],
) -> None:
    emulator, worker, log = running_worker(live=True, vendor="nikon", fps=25)
    assert worker.slot.wait_newer(-1, timeout_s=5.0) is not None
    emulator.command("fault", name="freeze")
    frozen_at = time.monotonic()
    assert log.wait_for(False, frozen_at, 10.0) < FAULT_LIMIT_S
    assert any("lost the connection" in e or "did not answer" in e for e in log.errors)
    emulator.command("clear_faults")
    cleared_at = time.monotonic()
    log.wait_for(True, cleared_at, 15.0)
    before = worker.slot.take().frame
    newer = worker.slot.wait_newer(before.sequence if before else -1, timeout_s=5.0)
    assert newer is not None


def test_a_capture_whose_events_never_come_fails_in_time_and_reconnects(
    running_worker: Callable[..., tuple[EmulatorProcess, DeviceWorker, ConnectionLog]],
    tmp_path: Path,
) -> None:
    emulator, worker, log = running_worker(vendor="generic")
    camera = worker.camera
    emulator.command("fault", name="no_capture_events")
    started = time.monotonic()
    with pytest.raises(ConnectionLostError, match="did not answer"):
        worker.submit(lambda: camera.capture_still(tmp_path / "never.jpg")).result(10)
    assert time.monotonic() - started < FAULT_LIMIT_S
    emulator.command("clear_faults")
    log.wait_for(True, started, 15.0)
    still = worker.submit(lambda: camera.capture_still(tmp_path / "after.jpg")).result(10)
    assert sha256(still.path) == file_on_card(emulator, still.original_name)["sha256"]


def test_a_refused_connection_fails_at_once_then_the_worker_gets_in(
    start_emulator: Callable[..., EmulatorProcess],
) -> None:
    emulator = start_emulator(vendor="nikon")
    emulator.command("fault", name="refuse_connections")
    camera = Gphoto2Camera("cam_a", clock=SessionClock(), port=emulator.port_path)
    started = time.monotonic()
    with pytest.raises(ConnectionLostError) as raised:
        camera.open()
    assert time.monotonic() - started < FAULT_LIMIT_S
    assert "switched on" in raised.value.advice
    # The worker keeps trying with back-off; once the camera accepts, it is in.
    worker = DeviceWorker(camera, live=False)
    log = ConnectionLog(worker)
    worker.start()
    try:
        time.sleep(1.0)
        assert worker.connected is False and log.errors
        assert "Trying again in" in log.errors[0]
        emulator.command("clear_faults")
        log.wait_for(True, started, 15.0)
        assert camera.identity().port == emulator.port_path
    finally:
        worker.stop()


def test_a_camera_back_on_another_port_is_found_by_its_serial(
    start_emulator: Callable[..., EmulatorProcess], tmp_path: Path
) -> None:
    # Another camera answers on the first address given: its serial is not the one wanted.
    stranger = start_emulator(vendor="nikon", serial="EMU-OTHER")
    emulator = start_emulator(vendor="nikon", serial="EMU-7731")
    moved_to = free_port()
    moved_path = f"ptpip:127.0.0.1:{moved_to}:{moved_to}"
    camera = Gphoto2Camera(
        "cam_a",
        clock=SessionClock(),
        port=",".join([stranger.port_path, emulator.port_path, moved_path]),
        serial="EMU-7731",
    )
    worker = DeviceWorker(camera, live=False)
    log = ConnectionLog(worker)
    started = time.monotonic()
    worker.start()
    try:
        log.wait_for(True, started, 10.0)
        assert camera.identity().port == emulator.port_path
        emulator.command("listen", port=moved_to)
        moved_at = time.monotonic()
        with pytest.raises(ConnectionLostError):
            worker.submit(lambda: camera.capture_still(tmp_path / "lost.jpg")).result(10)
        log.wait_for(True, moved_at, 15.0)
        assert camera.identity().port == moved_path
        still = worker.submit(lambda: camera.capture_still(tmp_path / "moved.jpg")).result(10)
        assert sha256(still.path) == file_on_card(emulator, still.original_name)["sha256"]
    finally:
        worker.stop()


THREE_CAMERA_SHOTLIST = """\
version: 1
project: {{id: ptpip_rig, title: Three bodies on PTP/IP}}
subjects:
  - id: s01
    consent: {{release_id: MR-1, status: unlimited, data_mining: allowed}}
actions:
  - {{id: wave, expected_duration_s: 1, beats: [{{name: raise}}, {{name: lower}}]}}
angles: [{{id: front}}, {{id: side}}, {{id: top}}]
lighting:
  - id: daylight
    cct_k: 5600
    camera_settings: {{whitebalance: Daylight}}
repetitions: 2
cameras:
{cameras}
naming: "{{subject}}/{{take_id}}_{{camera}}"
"""


def test_three_ptpip_cameras_shoot_every_take_together_headless(
    start_emulator: Callable[..., EmulatorProcess], tmp_path: Path
) -> None:
    emulators = {
        name: start_emulator(vendor="nikon", serial=f"EMU-{index}", capture_size=1_500_000)
        for index, name in enumerate(("cam_a", "cam_b", "cam_c"))
    }
    cameras = "\n".join(
        f"  - id: {name}\n"
        f"    source: {{kind: gphoto2, port: '{emulator.port_path}', serial: EMU-{index}}}\n"
        f"    angles: [{angle}]\n"
        f"    settings: {{iso: 400}}\n"
        f"    records: {{kind: still, resolution: [1200, 800]}}"
        for index, ((name, emulator), angle) in enumerate(
            zip(emulators.items(), ("front", "side", "top"), strict=True)
        )
    )
    shotlist = tmp_path / "rig.yaml"
    shotlist.write_text(THREE_CAMERA_SHOTLIST.format(cameras=cameras))
    out = tmp_path / "session"
    result = subprocess.run(
        [sys.executable, "-m", "capture_assist.cli", "run", str(shotlist), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    # The reference frame and two takes, each with one file per camera.
    assert check_done_steps_are_whole(out, cameras=3) == 3
    for index, (name, emulator) in enumerate(emulators.items()):
        status = emulator.command("status")
        # The setup's settings reached every body once: ISO 400 and daylight white balance.
        assert {"code": "0x500f", "value": 400} in status["property_sets"]
        assert {"code": "0x5005", "value": 4} in status["property_sets"]
        on_card = {f["sha256"] for f in status["files"]}
        media = sorted(out.rglob(f"*_{name}.jpg"))
        assert len(media) == 3
        for path in media:
            assert sha256(path) in on_card
            sidecar = json.loads(path.with_suffix(".json").read_text())
            assert sidecar["camera"]["identity"]["serial"] == f"EMU-{index}"
            assert sidecar["camera"]["settings"]["iso"] == 400
            # Threads start together: the spread of trigger times is recorded per file.
            assert 0.0 <= sidecar["capture"]["trigger_skew_s"] < 0.5


def test_a_shutter_press_on_the_body_is_attached_to_the_current_step(
    start_emulator: Callable[..., EmulatorProcess], tmp_path: Path
) -> None:
    emulator = start_emulator(vendor="nikon", serial="EMU-0", fps=15)
    cameras = (
        f"  - id: cam_a\n"
        f"    source: {{kind: gphoto2, port: '{emulator.port_path}'}}\n"
        f"    angles: [front]\n"
        f"    records: {{kind: still, resolution: [1200, 800]}}"
    )
    shotlist = tmp_path / "one.yaml"
    shotlist.write_text(
        THREE_CAMERA_SHOTLIST.format(cameras=cameras).replace(
            "angles: [{id: front}, {id: side}, {id: top}]", "angles: [{id: front}]"
        )
    )
    loaded = load_shotlist(shotlist)
    clock = SessionClock()
    worker = DeviceWorker(open_cameras(loaded.model, clock)["cam_a"], live=True)
    presses: queue.Queue[tuple[str, str, str]] = queue.Queue()
    worker.file_added.connect(lambda *added: presses.put(added))
    runner = SessionRunner(loaded, tmp_path / "session", {"cam_a": worker}, clock)
    runner.open_session(resume=False)
    worker.start()
    try:
        assert worker.slot.wait_newer(-1, timeout_s=5.0) is not None
        # A capture the app fires is not mistaken for a press on the body.
        assert runner.capture(runner.steps[0]).ok
        pressed = emulator.command("press_shutter")["file"]
        source, folder, name = presses.get(timeout=5.0)
        assert (source, folder, name) == ("cam_a", pressed["folder"], pressed["name"])
        outcome = runner.capture(runner.steps[1], shot_on_body={"cam_a": (folder, name)})
        assert outcome.ok
        media = next(path for path in outcome.files if path.suffix == ".jpg")
        assert sha256(media) == pressed["sha256"]
        sidecar = json.loads(media.with_suffix(".json").read_text())
        assert sidecar["capture"]["trigger"] == "camera_button"
        assert sidecar["media"]["original_name"] == name
        assert presses.empty()
    finally:
        runner.close()
        worker.stop()


def test_the_cameras_command_probes_a_ptpip_address(
    start_emulator: Callable[..., EmulatorProcess], tmp_path: Path
) -> None:
    emulator = start_emulator(vendor="generic", serial="EMU-4242", model="Emulated Z")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "capture_assist.cli",
            "cameras",
            "--json",
            "--address",
            emulator.port_path,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert {"model": found[-1]["model"], "port": emulator.port_path, "serial": "EMU-4242"} == (
        found[-1]
    )
    assert "Emulated Z" in found[-1]["model"]
    emulator.command("fault", name="refuse_connections")
    refused = subprocess.run(
        [sys.executable, "-m", "capture_assist.cli", "cameras", "--address", emulator.port_path],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
        stdin=subprocess.DEVNULL,
    )
    assert refused.returncode == 2
    assert f"no camera answered at {emulator.port_path}" in refused.stderr


def test_a_busy_camera_is_asked_again_then_reported(
    open_camera: Callable[..., tuple[EmulatorProcess, Gphoto2Camera]], tmp_path: Path
) -> None:
    emulator, camera = open_camera(vendor="generic")
    emulator.command("fault", name="busy", count=2)
    still = camera.capture_still(tmp_path / "after_busy.jpg")
    assert sha256(still.path) == file_on_card(emulator, still.original_name)["sha256"]
    assert emulator.command("status")["operations"]["InitiateCapture"] == 3
    emulator.command("fault", name="busy", count=100)
    started = time.monotonic()
    with pytest.raises(DeviceError, match="stayed busy during capture"):
        camera.capture_still(tmp_path / "never.jpg")
    assert time.monotonic() - started < FAULT_LIMIT_S
    # Busy is not a lost connection: the camera is still usable once it is free.
    emulator.command("clear_faults")
    assert camera.capture_still(tmp_path / "free.jpg").size_bytes > 0
