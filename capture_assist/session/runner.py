"""The run: an explicit state machine over the take matrix, persisted in SQLite.

Every transition is written to the session database before it is announced,
and a take counts as done only once every camera's media is renamed into place,
its checksum recorded and its sidecar written. A crash at any instant leaves
either no take or a whole one; ``open_session(resume=True)`` continues at the
first unfinished step and never redoes a finished one.
"""

from __future__ import annotations

import contextlib
import functools
import json
import mimetypes
import shutil
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from psygnal import Signal

from capture_assist import __version__
from capture_assist.analysis.qc import TakeQc, qc_update
from capture_assist.clock import SUPPORTED_RATES, SessionClock
from capture_assist.devices.base import (
    CapturedStill,
    ConnectionLostError,
    DeviceError,
    Frame,
    StillCamera,
    TetheredCamera,
)
from capture_assist.devices.opencv_source import VIDEO_SUFFIXES, read_image
from capture_assist.devices.simulated import SimulatedCamera
from capture_assist.pipeline.offline import (
    StillMeasurement,
    baseline_json,
    measure_still,
    qc_values,
)
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.session.database import (
    BeatRecord,
    Rating,
    SessionDatabase,
    StepRow,
    TakeStatus,
)
from capture_assist.shotlist.loader import LoadedShotList
from capture_assist.shotlist.matrix import Setup, Take, TakeMatrix, expand
from capture_assist.shotlist.model import Camera
from capture_assist.storage.atomic import FileDigest, PartialFile, file_digest, find_partials
from capture_assist.storage.recording import TakeRecorder
from capture_assist.storage.sidecar import (
    build_reference_sidecar,
    build_take_sidecar,
    sidecar_path_for,
    write_sidecar,
)

INCOMPLETE_FOLDER = "_incomplete"
WATCHED_SETTINGS = (
    "iso",
    "shutter_s",
    "aperture_f",
    "white_balance",
    "white_balance_k",
    "picture_profile",
    "focal_length_mm",
)
REFERENCE_FOLDER = "_reference"
DATABASE_NAME = "session.sqlite"
# Longer than any device's own capture guard, so the device reports first.
CAPTURE_TIMEOUT_S = 60.0
TAKE_TAIL_S = 1.0
"""A video take records this long past the action's expected end (a slow repetition)."""


class RunnerState(StrEnum):
    """Where the run is."""

    IDLE = "idle"
    READY = "ready"
    CAPTURING = "capturing"
    FINISHED = "finished"
    STOPPED = "stopped"


class SessionExistsError(RuntimeError):
    """The output folder already holds a session and resume was not asked for."""


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the crew does: a setup's reference frame, or a take."""

    step_id: str
    setup: Setup
    take: Take | None

    @property
    def is_reference(self) -> bool:
        """Whether this is a reference-frame step."""
        return self.take is None


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one step produced."""

    step_id: str
    attempt: int
    ok: bool
    files: tuple[Path, ...]
    error: str | None


def steps_of(matrix: TakeMatrix) -> tuple[Step, ...]:
    """Return the steps in shooting order: each setup's reference frame, then its takes."""
    steps: list[Step] = []
    for setup in matrix.setups:
        steps.append(Step(setup.reference_id, setup, None))
        steps.extend(Step(take.take_id, setup, take) for take in setup.takes)
    return tuple(steps)


def _timecode_rate(camera: Camera) -> float:
    rate = camera.records.frame_rate
    return min(SUPPORTED_RATES, key=lambda candidate: abs(candidate - rate))


class SessionRunner:
    """Walks a shot list's steps, capturing each on every camera at once.

    Parameters
    ----------
    shotlist
        The loaded shot list.
    out_dir
        The session folder (media, sidecars, ``session.sqlite``).
    workers
        One started device worker per camera id of the shot list.
    clock
        The session clock shared with the devices.
    """

    state_changed = Signal(str)
    step_finished = Signal(object)
    notification = Signal(str, str)

    def __init__(
        self,
        shotlist: LoadedShotList,
        out_dir: Path,
        workers: Mapping[str, DeviceWorker],
        clock: SessionClock,
    ) -> None:
        self.loaded = shotlist
        self.shotlist = shotlist.model
        self.out_dir = out_dir
        self.workers = dict(workers)
        self.clock = clock
        self.matrix = expand(self.shotlist)
        self.steps = steps_of(self.matrix)
        self._cameras = {camera.id: camera for camera in self.shotlist.cameras}
        missing = set(self._cameras) - set(self.workers)
        if missing:
            raise ValueError(f"no device for camera(s) {', '.join(sorted(missing))}")
        self._state = RunnerState.IDLE
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._baselines: dict[tuple[str, str], StillMeasurement] = {}
        self._last_settings: dict[tuple[str, str], dict[str, object]] = {}
        self._settings_applied: set[tuple[str, str]] = set()
        # The take whose cameras are recording now: beats are marked against it.
        self._recording: tuple[Step, int] | None = None
        self.db: SessionDatabase | None = None

    @property
    def state(self) -> RunnerState:
        """The current state."""
        return self._state

    def _set_state(self, state: RunnerState) -> None:
        self._state = state
        self.state_changed.emit(state.value)

    def _database(self) -> SessionDatabase:
        if self.db is None:
            raise RuntimeError("open the session first")
        return self.db

    def open_session(self, *, resume: bool) -> list[str]:
        """Create or reopen the session; return ids of steps interrupted by a crash.

        Raises
        ------
        SessionExistsError
            When the folder holds a session and ``resume`` is false.
        """
        database_path = self.out_dir / DATABASE_NAME
        if database_path.exists() and not resume:
            raise SessionExistsError(
                f"{self.out_dir} already holds a session; add --resume to continue it "
                "or choose another --out folder"
            )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.db = SessionDatabase(database_path)
        # Every notification is kept in the session's log, whoever listens.
        self.notification.connect(self._log_notification)
        meta = self.db.meta()
        if meta.get("shotlist_sha256") not in (None, self.loaded.sha256):
            self.notification.emit(
                "warning",
                "the shot list changed since this session started; finished takes are kept "
                "and new takes are added",
            )
        self.db.initialise(
            {
                "project_id": self.shotlist.project.id,
                "shotlist_path": str(self.loaded.path),
                "shotlist_sha256": self.loaded.sha256,
                "software_version": __version__,
                "session_origin_wall": meta.get(
                    "session_origin_wall", self.clock.origin_wall.isoformat()
                ),
            },
            [
                StepRow(
                    step.step_id,
                    "reference" if step.is_reference else "take",
                    step.setup.setup_id,
                    ordinal,
                )
                for ordinal, step in enumerate(self.steps)
            ],
        )
        shutil.copyfile(self.loaded.path, self.out_dir / "shotlist.yaml")
        interrupted = self.db.abandon_interrupted()
        for step_id, attempt in interrupted:
            self._set_aside(step_id, attempt)
        for partial in find_partials(self.out_dir):
            if INCOMPLETE_FOLDER not in partial.parts:
                self._move_to_incomplete(partial, "partials")
        self._set_state(RunnerState.READY)
        return [step_id for step_id, _attempt in interrupted]

    def _log_notification(self, level: str, message: str) -> None:
        if self.db is not None:
            self.db.log_event(level, message)

    def _move_to_incomplete(self, path: Path, *where: str) -> Path:
        relative = path.relative_to(self.out_dir)
        target = self.out_dir.joinpath(INCOMPLETE_FOLDER, *where, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        return target

    def _set_aside(self, step_id: str, attempt: int) -> None:
        """Keep an interrupted attempt's files, but out of the dataset's way."""
        database = self._database()
        for record in database.files(step_id, attempt):
            for relative in (record.relative_path, record.sidecar_path):
                path = self.out_dir / relative
                if path.exists():
                    self._move_to_incomplete(path, step_id, f"a{attempt:02d}")
        step = next((s for s in self.steps if s.step_id == step_id), None)
        if step is not None:
            # The crash may have come after the rename and before the database row.
            for camera_id, angle_id in step.setup.placement.camera_angles:
                stem = self._relative_stem(step, camera_id, angle_id, attempt)
                for path in (self.out_dir / stem).parent.glob(Path(stem).name + ".*"):
                    self._move_to_incomplete(path, step_id, f"a{attempt:02d}")

    def close(self) -> None:
        """Close the database."""
        if self.db is not None:
            self.db.close()
            self.db = None

    def next_step(self) -> Step | None:
        """Return the first step not yet done, in shooting order."""
        statuses = self._database().statuses()
        for step in self.steps:
            if statuses.get(step.step_id) != "done":
                return step
        return None

    def step_statuses(self) -> dict[str, str]:
        """Return each step's status (pending, recording, done, failed) by id."""
        return self._database().statuses()

    def progress(self) -> tuple[int, int]:
        """Return (steps done, steps in the matrix)."""
        statuses = self._database().statuses()
        done = sum(1 for step in self.steps if statuses.get(step.step_id) == "done")
        return done, len(self.steps)

    def _relative_stem(self, step: Step, camera_id: str, angle_id: str, attempt: int) -> str:
        if step.take is None:
            stem = f"{REFERENCE_FOLDER}/{step.setup.setup_id}/{step.setup.setup_id}_{camera_id}"
            return stem if attempt == 1 else f"{stem}_a{attempt:02d}"
        return step.take.relative_path(
            self.shotlist.naming, self.shotlist.project.id, camera_id, angle_id, attempt
        )

    def capture(
        self,
        step: Step,
        *,
        retake: bool = False,
        shot_on_body: Mapping[str, tuple[str, str]] | None = None,
    ) -> StepOutcome:
        """Capture ``step`` on every camera at once; block until all are stored or failed.

        ``shot_on_body`` maps a camera id to the ``(folder, name)`` of a file its
        own shutter button just made: that file is downloaded as the camera's
        media, and the other cameras are fired by the app at once.
        """
        shot_on_body = shot_on_body or {}
        with self._lock:
            database = self._database()
            self._set_state(RunnerState.CAPTURING)
            attempt = database.begin_attempt(step.step_id, self.clock.now(), retake=retake)
            settings_errors = self._apply_setup_settings(step)
            self._recording = (step, attempt) if step.take is not None else None
            started_wall = datetime.now(UTC)
            started_s = self.clock.now()
            camera_angles = step.setup.placement.camera_angles
            barrier = threading.Barrier(len(camera_angles))
            futures: list[tuple[str, str, Future[tuple[CapturedStill, Path]]]] = []
            # A camera that refused the setup's settings would shoot the wrong truth.
            for camera_id, angle_id in [] if settings_errors else camera_angles:
                worker = self.workers[camera_id]
                stem = self._relative_stem(step, camera_id, angle_id, attempt)
                futures.append(
                    (
                        camera_id,
                        angle_id,
                        worker.submit(
                            self._capture_command(
                                worker, step, stem, barrier, shot_on_body.get(camera_id)
                            )
                        ),
                    )
                )
            errors: list[str] = list(settings_errors)
            results: list[tuple[str, str, CapturedStill, Path]] = []
            for camera_id, angle_id, future in futures:
                try:
                    captured, final_path = future.result(timeout=self._capture_limit_s(step))
                except TimeoutError:
                    errors.append(
                        f"camera {camera_id} did not finish the capture within "
                        f"{CAPTURE_TIMEOUT_S:.0f} s; check its cable and power"
                    )
                    continue
                except (DeviceError, OSError) as error:
                    errors.append(f"camera {camera_id}: {error}")
                    continue
                results.append((camera_id, angle_id, captured, final_path))
            # The cameras have stopped: later beat marks belong to no take.
            self._recording = None
            first_trigger = min((r[2].timestamp_s for r in results), default=0.0)
            for camera_id, _angle_id, captured, _path in results:
                self._check_settings(step, camera_id, captured.settings)
            stored: list[_StoredFile] = []
            # Checksums, QC measurements and sidecars of the cameras run side by side:
            # OpenCV and hashlib release the GIL, and the take is only as slow as one.
            with ThreadPoolExecutor(max_workers=max(1, len(results))) as pool:
                storing = [
                    (
                        camera_id,
                        pool.submit(
                            self._store,
                            step,
                            attempt,
                            camera_id,
                            angle_id,
                            captured,
                            final_path,
                            started_wall=started_wall,
                            started_s=started_s,
                            skew_s=captured.timestamp_s - first_trigger,
                            trigger="camera_button" if camera_id in shot_on_body else "app",
                        ),
                    )
                    for camera_id, angle_id, captured, final_path in results
                ]
                for camera_id, stored_future in storing:
                    try:
                        stored.append(stored_future.result())
                    except Exception as error:
                        # Whatever broke storing (a full disk, a sidecar the schema
                        # refuses, a file a measurement chokes on), the attempt must
                        # end failed with the file kept, never stay "recording".
                        errors.append(f"camera {camera_id}: could not store the file: {error}")
            ok = not errors
            if not ok:
                # Keep every byte, but out of the dataset's tree: the step is not done.
                stored = [self._keep_aside(item, step.step_id, attempt) for item in stored]
                kept_partly = self._set_aside_leftovers(step, attempt, stored)
                if kept_partly:
                    errors.append("partial recordings kept: " + ", ".join(kept_partly))
            for item in stored:
                database.record_file(
                    step.step_id,
                    attempt,
                    item.camera_id,
                    item.media.relative_to(self.out_dir).as_posix(),
                    item.sidecar.relative_to(self.out_dir).as_posix(),
                    item.digest.sha256,
                    item.digest.size_bytes,
                )
            take_qc = {item.camera_id: item.qc for item in stored if item.qc is not None}
            if take_qc:
                database.record_qc(step.step_id, attempt, take_qc)
            error_text = "; ".join(errors) if errors else None
            database.finish_attempt(
                step.step_id, attempt, ok=ok, session_time_s=self.clock.now(), error=error_text
            )
            if not ok:
                cameras = ", ".join(item.camera_id for item in stored)
                kept = f" Kept what {cameras} captured in {INCOMPLETE_FOLDER}/." if stored else ""
                self.notification.emit(
                    "error",
                    f"{step.step_id} failed: {(error_text or '').rstrip('.')}.{kept} "
                    "Retake it when fixed.",
                )
            files = tuple(path for item in stored for path in (item.media, item.sidecar))
            outcome = StepOutcome(step.step_id, attempt, ok, files, error_text)
            self.step_finished.emit(outcome)
            self._set_state(RunnerState.READY if self.next_step() else RunnerState.FINISHED)
            return outcome

    @property
    def recording_take(self) -> Step | None:
        """The take whose cameras are recording now, if any."""
        recording = self._recording
        return recording[0] if recording is not None else None

    def mark_beat(self, name: str | None = None, note: str = "") -> BeatRecord:
        """Mark a beat of the take being recorded now, on the session clock.

        ``name`` ``None`` marks the action's next beat after the last one
        marked. Marks land in the session database at once and in every
        camera's sidecar when the take is stored.

        Raises
        ------
        ValueError
            When no take is recording, or the action has no such beat (or no
            beat left).
        """
        recording = self._recording
        take = recording[0].take if recording is not None else None
        if recording is None or take is None:
            raise ValueError("no take is recording: beats are marked while the cameras roll")
        step, attempt = recording
        action = next(a for a in self.shotlist.actions if a.id == take.action)
        names = [beat.name for beat in action.beats]
        database = self._database()
        if name is None:
            marked = database.beats(step.step_id, attempt)
            index = names.index(marked[-1].name) + 1 if marked else 0
            if index >= len(names):
                raise ValueError(f"every beat of {action.id} is marked ({', '.join(names)})")
            name = names[index]
        if name not in names:
            raise ValueError(f"{name!r} is not a beat of {action.id}: {', '.join(names)}")
        now = self.clock.now()
        rate = _timecode_rate(self._cameras[step.setup.placement.camera_angles[0][0]])
        timecode = self.clock.timecode(now, rate)
        beat_id = database.add_beat(step.step_id, attempt, name, now, timecode, note)
        return BeatRecord(beat_id, step.step_id, attempt, name, now, timecode, note)

    def undo_last_beat(self) -> BeatRecord | None:
        """Take back the last beat marked in the take being recorded (``None``: none)."""
        recording = self._recording
        if recording is None:
            return None
        database = self._database()
        marked = database.beats(recording[0].step_id, recording[1])
        if not marked:
            return None
        latest = max(marked, key=lambda beat: beat.beat_id)
        database.remove_beat(latest.beat_id)
        return latest

    def rate_take(self, step: Step, rating: Rating | None, notes: str | None = None) -> list[Path]:
        """Rate a done take (circle, NG, hold), optionally with notes, after the take.

        The database changes first; then every camera's sidecar of the take's
        done attempt is rewritten (validated, atomically) with the rating and
        notes. Returns the sidecars rewritten.

        Raises
        ------
        ValueError
            When the step is not a take that is done.
        """
        if step.take is None:
            raise ValueError(f"{step.step_id} is a reference frame: only takes are rated")
        database = self._database()
        record = database.step(step.step_id)
        if record.status is not TakeStatus.DONE:
            raise ValueError(f"{step.step_id} is not done yet: rate it once it is shot")
        database.set_rating(step.step_id, rating)
        if notes is not None:
            database.set_notes(step.step_id, notes)
        rewritten = []
        for file in database.files(step.step_id, record.attempts):
            path = self.out_dir / file.sidecar_path
            sidecar = json.loads(path.read_text(encoding="utf-8"))
            sidecar["rating"] = rating.value if rating else None
            if notes is not None:
                sidecar["notes"] = notes
            write_sidecar(path, sidecar)
            rewritten.append(path)
        return rewritten

    def _capture_limit_s(self, step: Step) -> float:
        """How long a step's cameras may take: a video take records its whole action."""
        if step.take is None:
            return CAPTURE_TIMEOUT_S
        action = next(a for a in self.shotlist.actions if a.id == step.take.action)
        return CAPTURE_TIMEOUT_S + action.expected_duration_s + TAKE_TAIL_S

    def _set_aside_leftovers(
        self, step: Step, attempt: int, stored: list[_StoredFile]
    ) -> list[str]:
        """Move what a failed camera left under the step's names out of the dataset's tree.

        Returns the names kept (a recording cut short by a lost signal is one).
        """
        already = {item.media for item in stored} | {item.sidecar for item in stored}
        kept = []
        for camera_id, angle_id in step.setup.placement.camera_angles:
            stem = self.out_dir / self._relative_stem(step, camera_id, angle_id, attempt)
            for path in sorted(stem.parent.glob(stem.name + ".*")):
                if path not in already and path.is_file():
                    moved = self._move_to_incomplete(path, step.step_id, f"a{attempt:02d}")
                    kept.append(moved.relative_to(self.out_dir).as_posix())
        return kept

    def setup_settings(self, step: Step, camera_id: str) -> dict[str, str | int | float]:
        """Return what the shot list sets on a camera for this step's setup."""
        lighting = next(item for item in self.shotlist.lighting if item.id == step.setup.lighting)
        return {**self._cameras[camera_id].settings, **lighting.camera_settings}

    def _apply_setup_settings(self, step: Step) -> list[str]:
        """Set the shot list's settings on every camera once per setup; return refusals.

        Each camera is set on its own device thread, all cameras at once. Settings
        are applied again after a failed attempt, and on every new run of the
        session: a body swapped or knocked between runs is put back.
        """
        pending: list[tuple[str, dict[str, str | int | float], Future[None]]] = []
        for camera_id, _angle_id in step.setup.placement.camera_angles:
            key = (step.setup.setup_id, camera_id)
            wanted = self.setup_settings(step, camera_id)
            if key in self._settings_applied or not wanted:
                continue
            camera = self.workers[camera_id].camera
            pending.append(
                (
                    camera_id,
                    wanted,
                    self.workers[camera_id].submit(functools.partial(_apply, camera, wanted)),
                )
            )
        errors: list[str] = []
        for camera_id, wanted, future in pending:
            try:
                future.result(timeout=CAPTURE_TIMEOUT_S)
            except TimeoutError:
                errors.append(f"camera {camera_id} did not take its settings in time")
                continue
            except DeviceError as error:
                errors.append(f"camera {camera_id} refused the setup's settings: {error}")
                continue
            self._settings_applied.add((step.setup.setup_id, camera_id))
            applied = ", ".join(f"{name}={value}" for name, value in wanted.items())
            self.notification.emit("info", f"{camera_id}: set {applied} for {step.setup.setup_id}")
        return errors

    def _capture_command(
        self,
        worker: DeviceWorker,
        step: Step,
        stem: str,
        barrier: threading.Barrier,
        shot_on_body: tuple[str, str] | None,
    ) -> _CaptureCommand:
        action = None
        if step.take is not None:
            action = next(a for a in self.shotlist.actions if a.id == step.take.action)
        camera = self._cameras[worker.source_id]
        return _CaptureCommand(
            camera=worker.camera,
            stem_path=self.out_dir / stem,
            barrier=barrier,
            clock=self.clock,
            action_schedule=(action.expected_duration_s, action.beat_schedule())
            if action
            else None,
            shot_on_body=shot_on_body,
            record_s=(
                action.expected_duration_s + TAKE_TAIL_S
                if action is not None and camera.records.kind == "video"
                else None
            ),
            publish=worker.slot.put,
            timecode_rate=_timecode_rate(camera),
        )

    def _store(
        self,
        step: Step,
        attempt: int,
        camera_id: str,
        angle_id: str,
        captured: CapturedStill,
        final_path: Path,
        *,
        started_wall: datetime,
        started_s: float,
        skew_s: float,
        trigger: str,
    ) -> _StoredFile:
        camera = self._cameras[camera_id]
        digest = file_digest(final_path)
        if digest.size_bytes != captured.size_bytes:
            raise OSError(
                f"{final_path.name}: {digest.size_bytes} bytes on disk, "
                f"the camera reported {captured.size_bytes}"
            )
        relative = final_path.relative_to(self.out_dir).as_posix()
        rate = _timecode_rate(camera)
        finished_s = self.clock.now()
        worker = self.workers[camera_id]
        common = {
            "shotlist": self.shotlist,
            "shotlist_path": str(self.loaded.path),
            "shotlist_sha256": self.loaded.sha256,
            "camera": camera,
            "angle_id": angle_id,
            "attempt": attempt,
            "media_relative_path": relative,
            "digest": digest,
            "mime": mimetypes.guess_type(final_path.name)[0] or "application/octet-stream",
            "identity": worker.camera.identity(),
            "settings": captured.settings,
            "started_at": started_wall,
            "finished_at": datetime.now(UTC),
            "session_start_s": started_s,
            "session_end_s": finished_s,
            "timecode": self.clock.timecode(captured.timestamp_s, rate),
            "timecode_rate": rate,
            "trigger_skew_s": skew_s,
            "trigger": trigger,
            "original_name": captured.original_name,
        }
        if step.take is None:
            sidecar = build_reference_sidecar(setup=step.setup, **common)  # type: ignore[arg-type]
        else:
            sidecar = build_take_sidecar(take=step.take, **common)  # type: ignore[arg-type]
            sidecar["beats_marked"] = [
                {
                    "name": beat.name,
                    "session_time_s": beat.session_time_s,
                    "timecode": beat.timecode,
                    "note": beat.note,
                }
                for beat in self._database().beats(step.step_id, attempt)
            ]
        qc = self._quality(step, camera_id, final_path)
        sidecar["qc"] = qc
        sidecar_path = sidecar_path_for(final_path)
        write_sidecar(sidecar_path, sidecar)
        return _StoredFile(camera_id, final_path, sidecar_path, digest, qc)

    def _check_settings(self, step: Step, camera_id: str, settings: Mapping[str, Any]) -> None:
        """Warn when a camera's exposure or colour settings changed within a setup."""
        watched = {key: settings.get(key) for key in WATCHED_SETTINGS if key in settings}
        key = (step.setup.setup_id, camera_id)
        previous = self._last_settings.get(key)
        self._last_settings[key] = watched
        if previous is None:
            return
        changes = [
            f"{name} {previous[name]} → {value}"
            for name, value in watched.items()
            if name in previous and previous[name] != value
        ]
        if changes:
            self.notification.emit(
                "warning",
                f"{camera_id}: settings changed within setup {step.setup.setup_id}: "
                + ", ".join(changes)
                + ". Takes of one setup must match; check the camera.",
            )

    def _quality(self, step: Step, camera_id: str, media: Path) -> dict[str, Any] | None:
        """Measure a stored still: a reference becomes its setup's baseline, a take is graded."""
        if media.suffix.lower() in VIDEO_SUFFIXES:
            return {"verdict": None, "metrics": {}, "note": "video takes are not graded yet"}
        try:
            rgb = read_image(media)
        except DeviceError:
            return None  # not an image we can decode (e.g. RAW): stored, but not graded
        key = (step.setup.setup_id, camera_id)
        if step.take is None:
            measurement = measure_still(rgb)
            self._baselines[key] = measurement
            return {"verdict": None, "metrics": {}, "baseline": baseline_json(measurement)}
        baseline = self.baseline(step.setup, camera_id)
        if baseline is None:
            return {"verdict": None, "metrics": {}, "note": "no reference frame to compare with"}
        measurement = measure_still(rgb, baseline.focus_region)
        qc = qc_update(TakeQc(), self.shotlist.qc, qc_values(measurement, baseline, rgb))
        return qc.to_json()

    def baseline(self, setup: Setup, camera_id: str) -> StillMeasurement | None:
        """Return the measurements of a setup's reference frame for one camera, if shot."""
        return self._baselines.get((setup.setup_id, camera_id)) or self._load_baseline(
            setup, camera_id
        )

    def _load_baseline(self, setup: Setup, camera_id: str) -> StillMeasurement | None:
        """Measure the setup's reference frame again from disk (after a resume)."""
        step_record = self._database().step(setup.reference_id)
        for record in self._database().files(setup.reference_id, step_record.attempts):
            if record.camera_id == camera_id and step_record.status == "done":
                try:
                    baseline = measure_still(read_image(self.out_dir / record.relative_path))
                except DeviceError:
                    return None
                self._baselines[(setup.setup_id, camera_id)] = baseline
                return baseline
        return None

    def _keep_aside(self, item: _StoredFile, step_id: str, attempt: int) -> _StoredFile:
        where = (step_id, f"a{attempt:02d}")
        media = self._move_to_incomplete(item.media, *where)
        sidecar = self._move_to_incomplete(item.sidecar, *where)
        return _StoredFile(item.camera_id, media, sidecar, item.digest, item.qc)

    def request_stop(self) -> None:
        """Stop after the step in flight (stops take effect at step boundaries)."""
        self._stop_requested.set()

    def run_all(self) -> list[StepOutcome]:
        """Capture every remaining step in order (the headless path)."""
        outcomes = []
        while (step := self.next_step()) is not None:
            if self._stop_requested.is_set():
                self._set_state(RunnerState.STOPPED)
                break
            outcome = self.capture(step)
            outcomes.append(outcome)
            if not outcome.ok:
                self._set_state(RunnerState.STOPPED)
                break
        return outcomes


def _apply(camera: StillCamera, settings: Mapping[str, str | int | float]) -> None:
    for name, value in settings.items():
        camera.set_setting(name, value)


@dataclass(frozen=True, slots=True)
class _StoredFile:
    """One camera's media and sidecar, stored under their final names."""

    camera_id: str
    media: Path
    sidecar: Path
    digest: FileDigest
    qc: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class _CaptureCommand:
    """Runs on a device's thread: wait for the other cameras, trigger, download, rename."""

    camera: StillCamera
    stem_path: Path
    barrier: threading.Barrier
    clock: SessionClock
    action_schedule: tuple[float, tuple[tuple[str, float, float], ...]] | None
    shot_on_body: tuple[str, str] | None
    record_s: float | None
    publish: Callable[[Frame], None]
    timecode_rate: float

    def __call__(self) -> tuple[CapturedStill, Path]:
        if isinstance(self.camera, SimulatedCamera) and self.action_schedule is not None:
            duration, beats = self.action_schedule
            self.camera.set_action(duration, beats, self.clock.now())
        with contextlib.suppress(threading.BrokenBarrierError):
            # Cameras fire together; one that never arrives must not stall the others.
            self.barrier.wait(timeout=5.0)
        if self.record_s is not None:
            return self._record()
        # The extension is the camera's (JPG, NEF, CR3...): known only after the capture.
        partial = PartialFile(self.stem_path.with_name(self.stem_path.name + ".download"))
        if self.shot_on_body is None:
            captured = self.camera.capture_still(partial.temp_path)
        elif isinstance(self.camera, TetheredCamera):
            captured = self.camera.download_added_file(*self.shot_on_body, partial.temp_path)
        else:
            raise DeviceError(f"camera {self.camera.source_id} cannot hand over a shot of its own.")
        extension = Path(captured.original_name).suffix.lower() or ".bin"
        final_path = partial.commit(self.stem_path.with_name(self.stem_path.name + extension))
        return captured, final_path

    def _record(self) -> tuple[CapturedStill, Path]:
        """Record every frame of the take; live view and analysis see each one too.

        A source that stops mid-take keeps what was recorded as a complete file
        (the runner moves it out of the dataset's tree) and fails the camera.
        """
        assert self.record_s is not None
        path = self.stem_path.with_name(self.stem_path.name + ".mkv")
        first = self.camera.read_frame()
        self.publish(first)
        height, width = first.pixels.shape[:2]
        recorder = TakeRecorder(
            path,
            width=width,
            height=height,
            fps=self.timecode_rate,
            start_timestamp_s=first.timestamp_s,
        )
        recorder.put(first.sequence, first.timestamp_s, first.pixels)
        lost: ConnectionLostError | None = None
        while True:
            try:
                frame = self.camera.read_frame()
            except ConnectionLostError as error:
                lost = error
                break
            self.publish(frame)
            recorder.put(frame.sequence, frame.timestamp_s, frame.pixels)
            if frame.timestamp_s - first.timestamp_s >= self.record_s:
                break
        result = recorder.finish()
        if lost is not None:
            raise ConnectionLostError(
                f"{lost} The take's first {result.frames_written} frames are kept.",
                lost.advice,
            )
        if result.error is not None:
            raise DeviceError(f"camera {self.camera.source_id}: {result.error}")
        settings = {
            **self.camera.settings(),
            "recording": {
                "frames_written": result.frames_written,
                "frames_not_written": result.frames_not_written,
                "frames_file": result.frames_path.name,
                "start_timecode": result.start_timecode,
                "codec": "FFV1 (lossless) in Matroska",
            },
        }
        captured = CapturedStill(path, path.name, path.stat().st_size, first.timestamp_s, settings)
        return captured, path
