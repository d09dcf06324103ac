"""Entry points: the window (default), headless run, check."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from capture_assist import __version__

if TYPE_CHECKING:
    from capture_assist.devices.simulated import SceneControls

DEMO_SHOTLIST = Path(__file__).resolve().parent.parent / "shotlists" / "demo.yaml"


def _add_sim_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("simulated set (used when a camera is of kind sim)")
    group.add_argument(
        "--sim-cast-k", type=float, help="colour temperature the grey card will measure as"
    )
    group.add_argument("--sim-exposure-ev", type=float, default=0.0, help="exposure offset in EV")
    group.add_argument(
        "--sim-noise", type=float, default=0.0, help="sensor noise, 8-bit code values"
    )
    group.add_argument("--sim-blur", type=float, default=0.0, help="defocus blur sigma in px")
    group.add_argument("--sim-drift", type=float, default=0.0, help="slow drift in px per second")
    group.add_argument("--sim-shake", type=float, default=0.0, help="shake RMS in px")
    group.add_argument("--sim-tempo", type=float, default=1.0, help="actor tempo (0.8 = slower)")
    group.add_argument(
        "--sim-capture-delay", type=float, default=0.0, help="seconds each still capture takes"
    )
    group.add_argument(
        "--sim-bump-at",
        type=float,
        action="append",
        default=[],
        help="session second at which the tripod is bumped (repeatable)",
    )


def _sim_controls(args: argparse.Namespace) -> SceneControls:
    from capture_assist.devices.simulated import SceneControls

    return SceneControls(
        cast_cct_k=args.sim_cast_k,
        exposure_ev=args.sim_exposure_ev,
        noise_sigma=args.sim_noise,
        defocus_sigma_px=args.sim_blur,
        drift_px_per_s=args.sim_drift,
        shake_rms_px=args.sim_shake,
        tempo=args.sim_tempo,
        bump_times_s=tuple(args.sim_bump_at),
        capture_delay_s=args.sim_capture_delay,
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capture-assist",
        description="Tethered capture for AI training datasets. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"capture-assist {__version__}")
    commands = parser.add_subparsers(dest="command")

    gui = commands.add_parser("gui", help="open the window (the default)")
    gui.add_argument("shotlist", nargs="?", type=Path, default=DEMO_SHOTLIST)
    gui.add_argument("--out", type=Path, help="session folder (default: sessions/<project>-<time>)")
    gui.add_argument("--resume", action="store_true", help="continue the session in --out")
    gui.add_argument(
        "--simulate", action="store_true", help="use the simulated set for every camera"
    )
    _add_sim_flags(gui)

    check = commands.add_parser("check", help="validate a shot list and summarise it")
    check.add_argument("shotlist", type=Path)

    run = commands.add_parser("run", help="shoot a shot list headless")
    run.add_argument("shotlist", type=Path)
    run.add_argument("--out", type=Path, required=True, help="session folder")
    run.add_argument("--resume", action="store_true", help="continue an interrupted session")
    run.add_argument(
        "--simulate", action="store_true", help="use the simulated set for every camera"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_sim_flags(run)
    analyze = commands.add_parser("analyze", help="measure a still or a clip")
    analyze.add_argument("path", type=Path)
    analyze.add_argument("--json", action="store_true", help="machine-readable output")
    analyze.add_argument("--target-k", type=float, help="the lighting's target colour temperature")

    export = commands.add_parser(
        "export", help="deliver a session: dataset, verified copies with ASC MHL, editorial"
    )
    export.add_argument("session", type=Path, help="the session folder")
    export.add_argument("--to", type=Path, required=True, help="destination folder")
    export.add_argument("--backup", type=Path, help="a second destination, filled at the same time")
    export.add_argument("--include-ng", action="store_true", help="deliver takes rated NG too")
    export.add_argument(
        "--with-report", action="store_true", help="deliver the session report (report.html) too"
    )
    export.add_argument("--no-progress", action="store_true", help="no progress bar")

    report = commands.add_parser("report", help="write a session's HTML report")
    report.add_argument("session", type=Path, help="the session folder")
    report.add_argument("--out", type=Path, help="the HTML file (default: SESSION/report.html)")

    cameras = commands.add_parser("cameras", help="list the cameras libgphoto2 can see")
    cameras.add_argument("--json", action="store_true", help="machine-readable output")
    cameras.add_argument(
        "--address",
        action="append",
        default=[],
        metavar="ptpip:HOST[:PORT:PORT]",
        help="also probe a Wi-Fi (PTP/IP) camera at this address, which USB "
        "detection cannot find (repeatable)",
    )
    for command in (gui, run):
        command.add_argument(
            "--camera",
            action="append",
            default=[],
            metavar="ID=KIND[:KEY=VALUE,...]",
            help="replace a shot-list camera's source, e.g. cam_a=gphoto2:serial=3012345 "
            "or cam_b=gphoto2:port=ptpip:192.168.1.20 or cam_a=sim",
        )
    return parser


def _cameras(as_json: bool, addresses: list[str]) -> int:
    import dataclasses
    import json

    from capture_assist.devices.base import DeviceError
    from capture_assist.devices.gphoto2_camera import list_cameras, probe_address

    try:
        detected = list_cameras() + [probe_address(address) for address in addresses]
    except DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps([dataclasses.asdict(camera) for camera in detected]))
        return 0
    if not detected:
        print("no camera found: connect one by USB, switch it on and set it to PC/tether mode")
    else:
        print(f"{'model':<28} {'port':<22} serial")
        for camera in detected:
            print(f"{camera.model:<28} {camera.port:<22} {camera.serial or '(unknown)'}")
    from capture_assist.devices.opencv_source import list_capture_devices

    for device in list_capture_devices():
        modes = ", ".join(mode.describe() for mode in device.modes) or "no mode read"
        print(f"capture device {device.path} ({device.name}): {modes}")
    return 0


def _analyze(path: Path, *, as_json: bool, target_cct_k: float | None) -> int:
    import json

    from capture_assist.devices.base import DeviceError
    from capture_assist.devices.opencv_source import VIDEO_SUFFIXES, iterate_video, read_image
    from capture_assist.pipeline.offline import analyze_clip, analyze_still

    try:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            result = analyze_clip(iterate_video(path), target_cct_k=target_cct_k)
        else:
            result = analyze_still(read_image(path), target_cct_k=target_cct_k)
    except DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(result, indent=2))
        return 0
    still = result.get("first_frame", result)
    print(f"{path}: {still['width']} x {still['height']}")
    exposure = still["exposure"]
    print(
        f"  exposure   mean luma {exposure['mean_luma']:.0f}, clipped R/G/B "
        + "/".join(f"{value:.2f}" for value in exposure["clipped_percent"])
        + " %"
    )
    print(f"  sharpness  {still['sharpness']:.1f}")
    chart = still["chart"]
    if chart is None:
        print("  chart      no ColorChecker found")
    else:
        print(f"  chart      ColorChecker at {chart['corners']}")
        print(
            f"  cast       {chart['cct_k']:.0f} K, Duv {chart['duv']:+.4f} "
            f"({chart['cast_mired']:+.1f} mired from neutral)"
        )
        if "white_balance_error_mired" in chart:
            print(
                f"  vs target  {chart['white_balance_error_mired']:+.1f} mired "
                f"against {chart['target_cct_k']:.0f} K"
            )
        print(f"  delta E    mean {chart['delta_e_mean']:.1f}, max {chart['delta_e_max']:.1f}")
        print(f"  grey EV    {chart['grey_exposure_ev']:+.2f} EV against the reference greys")
    if "frames" in result:
        frames = result["frames"]
        worst = max(frames, key=lambda row: row["shake_rms_px"])
        print(
            f"  clip       {len(frames)} frames, {result['bumps']} bump(s), "
            f"worst shake {worst['shake_rms_px']:.2f} px RMS at frame {worst['frame']}"
        )
    return 0


def _check(path: Path) -> int:
    from capture_assist.shotlist.loader import ShotListError, load_shotlist
    from capture_assist.shotlist.matrix import expand
    from capture_assist.shotlist.summary import summarise

    try:
        loaded = load_shotlist(path)
    except ShotListError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        count = len(error.problems)
        print(f"{count} problem{'s' if count != 1 else ''} in {path}", file=sys.stderr)
        return 1
    print(summarise(loaded.model, expand(loaded.model)).render())
    return 0


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from capture_assist.clock import SessionClock
    from capture_assist.devices.base import DeviceError
    from capture_assist.devices.factory import open_cameras
    from capture_assist.pipeline.worker import DeviceWorker
    from capture_assist.session.runner import SessionExistsError, SessionRunner, StepOutcome
    from capture_assist.shotlist.loader import ShotListError, load_shotlist, with_camera_sources

    try:
        loaded = with_camera_sources(load_shotlist(args.shotlist), args.camera)
    except ShotListError as error:
        print(error, file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    clock = SessionClock()
    try:
        cameras = open_cameras(
            loaded.model,
            clock,
            sim_controls=_sim_controls(args),
            force_simulated=args.simulate,
        )
    except DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    workers = {camera_id: DeviceWorker(camera, live=False) for camera_id, camera in cameras.items()}
    for worker in workers.values():
        worker.error.connect(
            lambda source, message: tqdm.write(f"error: {message}", file=sys.stderr)
        )
        worker.start()
    runner = SessionRunner(loaded, args.out, workers, clock)
    runner.notification.connect(
        lambda level, message: tqdm.write(f"{level}: {message}", file=sys.stderr)
    )
    try:
        interrupted = runner.open_session(resume=args.resume)
    except SessionExistsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for step_id in interrupted:
        print(f"resuming: {step_id} was interrupted and will be redone", file=sys.stderr)
    done, total = runner.progress()
    outcomes: list[StepOutcome] = []

    def stop_after_this_step(signum: int, frame: object) -> None:
        tqdm.write("stopping after the step in flight (Ctrl-C again to abort now)", file=sys.stderr)
        runner.request_stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous_handler = signal.signal(signal.SIGINT, stop_after_this_step)
    try:
        with tqdm(
            total=total, initial=done, unit="step", disable=args.no_progress, file=sys.stderr
        ) as bar:
            runner.step_finished.connect(lambda outcome: bar.update(1 if outcome.ok else 0))
            outcomes = runner.run_all()
        done, total = runner.progress()
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        runner.close()
        for worker in workers.values():
            worker.stop()
    failed = [outcome for outcome in outcomes if not outcome.ok]
    print(
        f"{loaded.model.project.id}: {done}/{total} steps done this session folder "
        f"({len(outcomes) - len(failed)} captured now, {len(failed)} failed) -> {args.out}"
    )
    for outcome in failed:
        print(f"  FAILED {outcome.step_id} attempt {outcome.attempt}: {outcome.error}")
    if failed:
        print("Fix the camera, then run again with --resume to continue.", file=sys.stderr)
        return 3
    if done < total:
        print(
            f"stopped; continue with: capture-assist run {args.shotlist} --out {args.out} --resume"
        )
        return 130
    return 0


def _report(session: Path, out: Path | None) -> int:
    from capture_assist.storage.report import write_report
    from capture_assist.storage.session_files import SessionReadError

    try:
        path = write_report(session, out)
    except SessionReadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from capture_assist.storage.export import ExportError, bytes_to_read, export_session
    from capture_assist.storage.session_files import SessionReadError, read_session

    destinations = [args.to] if args.backup is None else [args.to, args.backup]
    try:
        record = read_session(args.session)
    except SessionReadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    total = bytes_to_read(record, include_ng=args.include_ng)
    try:
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            disable=args.no_progress,
            file=sys.stderr,
            desc="export",
        ) as bar:
            result = export_session(
                args.session,
                destinations,
                include_ng=args.include_ng,
                with_report=args.with_report,
                progress=bar.update,
            )
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"{len(result.takes)} takes and {len(result.references)} reference frames, "
        f"{result.source_bytes / 1e6:.1f} MB of media"
    )
    for excluded in result.excluded:
        print(f"  left out {excluded.step_id}: {excluded.reason}")
    for refusal in result.refused:
        print(f"  REFUSED {refusal.step_id}: {refusal.reason}", file=sys.stderr)
    for destination in result.destinations:
        if destination.complete:
            print(
                f"{destination.root}: complete, {len(destination.verified)} files verified, "
                f"history {destination.mhl_generation}"
            )
            continue
        print(
            f"{destination.root}: INCOMPLETE: {destination.error or 'files missing'}; "
            f"{len(destination.verified)} files verified, {len(destination.missing)} missing:",
            file=sys.stderr,
        )
        for path in destination.missing[:20]:
            print(f"    missing {path}", file=sys.stderr)
        if len(destination.missing) > 20:
            print(f"    ... and {len(destination.missing) - 20} more", file=sys.stderr)
    if not result.ok:
        print(
            "Fix the problem, then run the same command again: verified files are kept.",
            file=sys.stderr,
        )
        return 3
    return 0


def _gui(args: argparse.Namespace) -> int:
    from capture_assist.ui.app import run_app

    out = args.out
    if out is None:
        out = Path("sessions") / f"{args.shotlist.stem}-{datetime.now():%Y%m%d-%H%M%S}"
    return run_app(
        args.shotlist,
        out,
        resume=args.resume,
        simulate=args.simulate,
        sim_controls=_sim_controls(args),
        camera_sources=args.camera,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or sys.argv[1:])])
    if args.command == "check":
        return _check(args.shotlist)
    if args.command == "run":
        return _run(args)
    if args.command == "report":
        return _report(args.session, args.out)
    if args.command == "export":
        return _export(args)
    if args.command == "cameras":
        return _cameras(args.json, args.address)
    if args.command == "analyze":
        return _analyze(args.path, as_json=args.json, target_cct_k=args.target_k)
    return _gui(args)


if __name__ == "__main__":
    sys.exit(main())
