from __future__ import annotations

import threading
import time

from capture_assist.clock import SessionClock
from capture_assist.devices.simulated import SimulatedCamera
from capture_assist.pipeline.worker import DeviceWorker, LatestFrameSlot


def test_slot_keeps_only_the_newest_and_counts_the_rest() -> None:
    camera = SimulatedCamera("cam", width=64, height=36)
    slot = LatestFrameSlot()
    frames = [camera.read_frame() for _ in range(3)]
    for frame in frames:
        slot.put(frame)
    reading = slot.take()
    assert reading.frame is frames[-1]
    assert reading.frames_delivered == 3
    assert reading.frames_replaced_unread == 2


def test_commands_run_on_the_device_thread_between_live_frames() -> None:
    camera = SimulatedCamera("cam", width=160, height=90, fps=50, clock=SessionClock())
    worker = DeviceWorker(camera, live=True)
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while worker.slot.take().frames_delivered < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.slot.take().frames_delivered >= 5
        thread_name = worker.submit(lambda: threading.current_thread().name).result(timeout=5)
        assert thread_name == "device-cam"
        sequences = []
        for _ in range(5):
            time.sleep(0.05)
            frame = worker.slot.take().frame
            assert frame is not None
            sequences.append(frame.sequence)
        assert sequences == sorted(sequences) and sequences[-1] > sequences[0]
    finally:
        worker.stop()
    assert not worker._thread.is_alive()


def test_a_lost_camera_reports_and_stops_live_view() -> None:
    camera = SimulatedCamera("cam", width=64, height=36, fps=100)
    worker = DeviceWorker(camera, live=True)
    errors: list[tuple[str, str]] = []
    worker.error.connect(lambda source, message: errors.append((source, message)))
    worker.start()
    try:
        time.sleep(0.1)
        camera.inject_fault("disconnect")
        deadline = time.monotonic() + 5
        while not errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert errors and errors[0][0] == "cam" and "lost the connection" in errors[0][1]
    finally:
        worker.stop()


def test_a_lost_camera_is_reconnected_with_back_off_once_replugged() -> None:
    camera = SimulatedCamera("cam", width=64, height=36, fps=100)
    worker = DeviceWorker(camera, live=True)
    errors: list[str] = []
    states: list[bool] = []
    worker.error.connect(lambda source, message: errors.append(message))
    worker.connection_changed.connect(lambda source, connected: states.append(connected))
    worker.start()
    try:
        time.sleep(0.1)
        camera.inject_fault("disconnect")
        deadline = time.monotonic() + 5
        while len(errors) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Lost, then two failed attempts at 0.5 s and 1 s: the delay doubles.
        assert "lost the connection" in errors[0]
        assert "Trying again in 1 s" in errors[1] and "Trying again in 2 s" in errors[2]
        assert states[:2] == [True, False]
        sequence_before = worker.slot.take().frame.sequence  # type: ignore[union-attr]
        camera.replug()
        deadline = time.monotonic() + 5
        while states[-1] is not True and time.monotonic() < deadline:
            time.sleep(0.05)
        assert states[-1] is True
        time.sleep(0.2)
        assert worker.slot.take().frame.sequence > sequence_before  # type: ignore[union-attr]
    finally:
        worker.stop()
