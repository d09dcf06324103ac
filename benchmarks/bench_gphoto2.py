"""Our libgphoto2 path against bare python-gphoto2, on the PTP/IP camera emulator.

The emulator (tests/ptpip/emulator.py) runs in its own process; this process
holds the real libgphoto2. Each comparison alternates ours and bare for a few
rounds in one run and prints medians, because the machine is shared.

1. Live view, Nikon and generic paths, the camera throttled to 30 and 60 fps
   and unthrottled: frames per second a bare ``capture_preview`` loop gets,
   against the frames our ``Gphoto2Camera`` in a ``DeviceWorker`` delivers to
   the pipeline (decoded) and the ``LiveAnalyzer`` measures (goal: at least
   0.9x bare). Unthrottled, where the time of one frame goes.
2. Capture of a 30 MB file: a bare capture + ``file_get`` + write, with and
   without an fsync, against our whole step (``SessionRunner.capture``:
   capture, download, size check, fsync and rename, SHA-256, schema-validated
   sidecar, database, QC), with the QC measurement of the still timed apart.
   Goal: at most 1.2x without QC. The fair baseline is the durable one: a
   file is not safe until it is on the disk, and on this machine the fsync of
   30 MB costs about as much as the download.
3. Trigger skew of three emulated cameras fired together by the runner.

Run: ``python benchmarks/bench_gphoto2.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "ptpip"))
# libgphoto2 keeps a generated PTP/IP GUID in its settings: not in the user's.
_SETTINGS = tempfile.TemporaryDirectory()
os.environ["XDG_CONFIG_HOME"] = _SETTINGS.name

import cv2  # noqa: E402
import gphoto2 as gp  # noqa: E402
import numpy as np  # noqa: E402
from emulator import EmulatorProcess  # noqa: E402

from capture_assist.clock import SessionClock  # noqa: E402
from capture_assist.devices.gphoto2_camera import Gphoto2Camera  # noqa: E402
from capture_assist.devices.opencv_source import read_image  # noqa: E402
from capture_assist.pipeline.live_analysis import LiveAnalyzer  # noqa: E402
from capture_assist.pipeline.offline import measure_still  # noqa: E402
from capture_assist.pipeline.worker import DeviceWorker  # noqa: E402
from capture_assist.session.runner import SessionRunner  # noqa: E402
from capture_assist.shotlist.loader import load_shotlist  # noqa: E402
from capture_assist.shotlist.model import QcTolerances  # noqa: E402

CAPTURE_BYTES = 30_000_000
SHOTLIST = """\
version: 1
project: {{id: bench, title: Bench}}
subjects: [{{id: s01, consent: {{release_id: MR-1, status: unlimited, data_mining: allowed}}}}]
actions: [{{id: wave, expected_duration_s: 1, beats: [{{name: raise}}]}}]
angles: [{angles}]
lighting: [{{id: daylight, cct_k: 5600}}]
repetitions: {repetitions}
cameras:
{cameras}
naming: "{{take_id}}_{{camera}}"
"""


def give_back_fd0() -> None:
    """Put /dev/null back on fd 0: libgphoto2 2.5.34 closes it on every PTP/IP exit."""
    null = os.open(os.devnull, os.O_RDONLY)
    if null != 0:
        os.dup2(null, 0)
        os.close(null)


def bare_camera(emulator: EmulatorProcess) -> Any:
    camera = gp.Camera()
    abilities = gp.CameraAbilitiesList()
    abilities.load()
    camera.set_abilities(abilities[abilities.lookup_model("PTP/IP Camera")])
    ports = gp.PortInfoList()
    ports.load()
    camera.set_port_info(ports[ports.lookup_path(emulator.port_path)])
    camera.init()
    return camera


def bare_exit(camera: Any) -> None:
    camera.exit()
    give_back_fd0()


def bare_live_view(emulator: EmulatorProcess, seconds: float) -> float:
    camera = bare_camera(emulator)
    try:
        for _ in range(3):  # starts live view and the camera's frame clock
            camera.capture_preview()
        frames = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            preview = camera.capture_preview()
            bytes(memoryview(preview.get_data_and_size()))
            frames += 1
        return frames / (time.perf_counter() - start)
    finally:
        bare_exit(camera)


def our_live_view(emulator: EmulatorProcess, seconds: float) -> tuple[float, float]:
    """Return (frames delivered to the pipeline per second, frames analysed per second)."""
    camera = Gphoto2Camera("cam", clock=SessionClock(), port=emulator.port_path)
    worker = DeviceWorker(camera, live=True)
    analyzer = LiveAnalyzer(worker, QcTolerances())
    analyzer.start()
    worker.start()
    try:
        first = worker.slot.wait_newer(-1, timeout_s=10.0)
        assert first is not None, "no live view from the emulator"
        time.sleep(0.5)
        start_frame = worker.slot.take().frame
        start_metrics = analyzer.latest()
        start = time.perf_counter()
        time.sleep(seconds)
        elapsed = time.perf_counter() - start
        end_frame = worker.slot.take().frame
        end_metrics = analyzer.latest()
        assert start_frame and end_frame and start_metrics and end_metrics
        delivered = (end_frame.sequence - start_frame.sequence) / elapsed
        analysed = (end_metrics.frames_analysed - start_metrics.frames_analysed) / elapsed
        return delivered, analysed
    finally:
        analyzer.stop()
        worker.stop()


def time_per_frame(emulator: EmulatorProcess, rounds: int) -> dict[str, float]:
    """Milliseconds per frame, unthrottled: the libgphoto2 call, the copy out, the decode."""
    camera = bare_camera(emulator)
    try:
        samples: dict[str, list[float]] = {"capture_preview": [], "copy": [], "jpeg decode": []}
        for _ in range(rounds):
            start = time.perf_counter()
            preview = camera.capture_preview()
            fetched = time.perf_counter()
            data = bytes(memoryview(preview.get_data_and_size()))
            copied = time.perf_counter()
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            decoded = time.perf_counter()
            samples["capture_preview"].append(fetched - start)
            samples["copy"].append(copied - fetched)
            samples["jpeg decode"].append(decoded - copied)
        return {name: statistics.median(values) * 1e3 for name, values in samples.items()}
    finally:
        bare_exit(camera)


def live_view_table(seconds: float, rounds: int) -> None:
    print("live view (frames per second; medians of alternating rounds)")
    print(f"{'path':<8} {'camera':>9} {'bare':>8} {'ours':>8} {'analysed':>9} {'ratio':>6}  goal")
    for vendor in ("nikon", "generic"):
        emulator = EmulatorProcess("--vendor", vendor)
        try:
            for fps in (30.0, 60.0, None):
                emulator.command("configure", fps=fps)
                bare: list[float] = []
                ours: list[tuple[float, float]] = []
                for _ in range(rounds):
                    bare.append(bare_live_view(emulator, seconds))
                    ours.append(our_live_view(emulator, seconds))
                bare_fps = statistics.median(bare)
                delivered = statistics.median(o[0] for o in ours)
                analysed = statistics.median(o[1] for o in ours)
                label = "unlimited" if fps is None else f"{fps:g} fps"
                goal = ">= 0.9x" if fps is not None else "ceiling"
                print(
                    f"{vendor:<8} {label:>9} {bare_fps:>8.1f} {delivered:>8.1f} "
                    f"{analysed:>9.1f} {delivered / bare_fps:>5.2f}x  {goal}"
                )
            emulator.command("configure", fps=None)
            parts = time_per_frame(emulator, 200)
            print(
                f"{'':<8} one unthrottled frame: "
                + ", ".join(f"{name} {ms:.2f} ms" for name, ms in parts.items())
            )
        finally:
            emulator.kill()


def shotlist_for(emulators: dict[str, EmulatorProcess], folder: Path, repetitions: int) -> Path:
    angles = [f"a{index}" for index in range(len(emulators))]
    cameras = "\n".join(
        f"  - id: {name}\n"
        f"    source: {{kind: gphoto2, port: '{emulator.port_path}'}}\n"
        f"    angles: [{angle}]\n"
        f"    records: {{kind: still, resolution: [1200, 800]}}"
        for (name, emulator), angle in zip(emulators.items(), angles, strict=True)
    )
    path = folder / "bench.yaml"
    path.write_text(
        SHOTLIST.format(
            angles=", ".join(f"{{id: {angle}}}" for angle in angles),
            cameras=cameras,
            repetitions=repetitions,
        )
    )
    return path


def open_runner(
    emulators: dict[str, EmulatorProcess], folder: Path, repetitions: int
) -> tuple[SessionRunner, list[DeviceWorker]]:
    loaded = load_shotlist(shotlist_for(emulators, folder, repetitions))
    clock = SessionClock()
    workers = {
        name: DeviceWorker(Gphoto2Camera(name, clock=clock, port=e.port_path), live=False)
        for name, e in emulators.items()
    }
    for worker in workers.values():
        worker.start()
    runner = SessionRunner(loaded, folder / "session", workers, clock)
    runner.open_session(resume=False)
    return runner, list(workers.values())


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def capture_table(rounds: int) -> None:
    emulator = EmulatorProcess("--vendor", "generic", "--capture-size", str(CAPTURE_BYTES))
    try:
        with tempfile.TemporaryDirectory() as folder_name:
            folder = Path(folder_name)
            runner, workers = open_runner({"cam": emulator}, folder, rounds)
            bare_seconds: list[float] = []
            durable_seconds: list[float] = []
            ours_seconds: list[float] = []
            qc_seconds: list[float] = []
            try:
                for step in runner.steps[: rounds + 1]:
                    # Bare: the same emulator, another connection, nothing but the bytes.
                    camera = bare_camera(emulator)
                    try:
                        # Alternate which goes first: the disk's write-back of one
                        # round must not be charged to the other.
                        order = (False, True) if len(bare_seconds) % 2 else (True, False)
                        for durable in order:
                            seconds = timed_bare_capture(camera, folder, durable=durable)
                            (durable_seconds if durable else bare_seconds).append(seconds)
                    finally:
                        bare_exit(camera)
                    seconds, outcome = timed(lambda step=step: runner.capture(step))
                    assert outcome.ok, outcome.error
                    ours_seconds.append(seconds)
                    media = next(p for p in outcome.files if p.suffix != ".json")
                    qc, _ = timed(lambda media=media: measure_still(read_image(media)))
                    qc_seconds.append(qc)
            finally:
                runner.close()
                for worker in workers:
                    worker.stop()
    finally:
        emulator.kill()
    bare = statistics.median(bare_seconds)
    durable = statistics.median(durable_seconds)
    ours = statistics.median(ours_seconds)
    qc = statistics.median(qc_seconds)
    print(f"\ncapture of a {CAPTURE_BYTES / 1e6:.0f} MB file (medians of {len(bare_seconds)})")
    print(f"  bare capture + file_get + write         {bare * 1e3:7.0f} ms")
    print(f"  bare capture + file_get + write + fsync {durable * 1e3:7.0f} ms")
    print(f"  ours, whole step                        {ours * 1e3:7.0f} ms")
    print(f"    of which QC of the still              {qc * 1e3:7.0f} ms")
    print(
        f"  ours without QC                         {(ours - qc) * 1e3:7.0f} ms  "
        f"{(ours - qc) / durable:.2f}x the durable bare one (goal <= 1.2x), "
        f"{(ours - qc) / bare:.2f}x the one without fsync"
    )


def timed_bare_capture(camera: Any, folder: Path, *, durable: bool) -> float:
    start = time.perf_counter()
    path = camera.capture(gp.GP_CAPTURE_IMAGE)
    camera_file = camera.file_get(path.folder, path.name, gp.GP_FILE_TYPE_NORMAL)
    target = folder / f"bare_{path.name}"
    with open(target, "wb") as handle:
        handle.write(bytes(memoryview(camera_file.get_data_and_size())))
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    seconds = time.perf_counter() - start
    target.unlink()
    return seconds


def skew_table(rounds: int) -> None:
    emulators = {
        f"cam_{index}": EmulatorProcess("--vendor", "nikon", "--capture-size", "2000000")
        for index in range(3)
    }
    try:
        with tempfile.TemporaryDirectory() as folder_name:
            runner, workers = open_runner(emulators, Path(folder_name), rounds)
            spreads: list[float] = []
            try:
                for step in runner.steps:
                    outcome = runner.capture(step)
                    assert outcome.ok, outcome.error
                    skews = [
                        json.loads(path.read_text())["capture"]["trigger_skew_s"]
                        for path in outcome.files
                        if path.suffix == ".json"
                    ]
                    spreads.append(max(skews))
            finally:
                runner.close()
                for worker in workers:
                    worker.stop()
    finally:
        for emulator in emulators.values():
            emulator.kill()
    print(f"\ntrigger skew of three cameras over {len(spreads)} steps (latest minus earliest)")
    print(f"  median {statistics.median(spreads) * 1e3:.2f} ms, max {max(spreads) * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short rounds (a smoke run)")
    arguments = parser.parse_args()
    seconds, rounds = (1.0, 1) if arguments.quick else (3.0, 3)
    live_view_table(seconds, rounds)
    capture_table(2 if arguments.quick else 5)
    skew_table(3 if arguments.quick else 10)


if __name__ == "__main__":
    main()
