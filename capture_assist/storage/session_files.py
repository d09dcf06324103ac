"""A finished session folder as the exporters see it: steps, files, sidecars, QC, beats.

The session database is read with :mod:`sqlite3` directly (read-only) so that
storage never imports the session layer; the session keeps the schema, this
module only reads the columns it needs. Beat marks are added through
:func:`mark_beat`, the one write this module makes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from capture_assist.clock import timecode_from_seconds
from capture_assist.shotlist.loader import load_shotlist
from capture_assist.shotlist.model import ShotList

DATABASE_NAME = "session.sqlite"
SHOTLIST_COPY_NAME = "shotlist.yaml"


class SessionReadError(RuntimeError):
    """The folder is not a readable capture-assist session."""


@dataclass(frozen=True, slots=True)
class BeatMark:
    """A beat marked during a take, on the session clock."""

    name: str
    session_time_s: float
    timecode: str
    note: str


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One camera's file of a step, with its sidecar as written at capture."""

    camera_id: str
    angle_id: str
    relative_path: str
    sidecar_relative_path: str
    sha256: str
    size_bytes: int
    sidecar: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SessionStep:
    """A reference frame or a take, at its latest attempt."""

    step_id: str
    kind: str
    setup_id: str
    ordinal: int
    status: str
    attempt: int
    rating: str | None
    notes: str
    last_error: str | None
    started_s: float | None
    finished_s: float | None
    files: tuple[StoredFile, ...]
    """Every camera's file of the latest attempt when the step is done, else empty."""
    qc: Mapping[str, Any]
    beats: tuple[BeatMark, ...]

    @property
    def is_take(self) -> bool:
        """Whether this is a take (not a reference frame)."""
        return self.kind == "take"

    @property
    def is_done(self) -> bool:
        """Whether the step's latest attempt stored every camera's file."""
        return self.status == "done"

    @property
    def is_ng(self) -> bool:
        """Whether the script supervisor rated the take no good."""
        return self.rating == "ng"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A notification kept in the session's log."""

    at: str
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """Everything a session folder says about itself."""

    directory: Path
    meta: Mapping[str, str]
    shotlist: ShotList
    steps: tuple[SessionStep, ...]
    events: tuple[SessionEvent, ...]

    @property
    def takes(self) -> tuple[SessionStep, ...]:
        """The take steps in shooting order."""
        return tuple(step for step in self.steps if step.is_take)

    @property
    def references(self) -> tuple[SessionStep, ...]:
        """The reference-frame steps in shooting order."""
        return tuple(step for step in self.steps if not step.is_take)

    @property
    def origin_wall(self) -> datetime | None:
        """Wall-clock time of session second zero, if the session recorded it."""
        text = self.meta.get("session_origin_wall")
        return datetime.fromisoformat(text) if text else None


@contextmanager
def _read_only(database: Path) -> Iterator[sqlite3.Connection]:
    if not database.is_file():
        raise SessionReadError(f"{database.parent} is not a session folder (no {DATABASE_NAME})")
    with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as connection:
        yield connection


def _beats(connection: sqlite3.Connection, step_id: str, attempt: int) -> tuple[BeatMark, ...]:
    rows = connection.execute(
        "SELECT name, session_time_s, timecode, note FROM beats "
        "WHERE step_id = ? AND attempt = ? ORDER BY session_time_s, id",
        (step_id, attempt),
    ).fetchall()
    return tuple(BeatMark(str(r[0]), float(r[1]), str(r[2]), str(r[3])) for r in rows)


def _files(
    session_dir: Path, connection: sqlite3.Connection, step_id: str, attempt: int
) -> tuple[StoredFile, ...]:
    rows = connection.execute(
        "SELECT camera_id, relative_path, sidecar_path, sha256, size_bytes FROM files "
        "WHERE step_id = ? AND attempt = ? ORDER BY camera_id",
        (step_id, attempt),
    ).fetchall()
    files = []
    for camera_id, relative_path, sidecar_path, sha256, size_bytes in rows:
        sidecar_file = session_dir / sidecar_path
        try:
            sidecar: dict[str, Any] = json.loads(sidecar_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SessionReadError(f"cannot read the sidecar {sidecar_file}: {error}") from error
        files.append(
            StoredFile(
                camera_id=str(camera_id),
                angle_id=str(sidecar["camera"]["angle"]),
                relative_path=str(relative_path),
                sidecar_relative_path=str(sidecar_path),
                sha256=str(sha256),
                size_bytes=int(size_bytes),
                sidecar=sidecar,
            )
        )
    return tuple(files)


def read_session(session_dir: Path) -> SessionRecord:
    """Read a session folder (database, shot-list copy, sidecars) without changing it.

    Raises
    ------
    SessionReadError
        When the folder holds no session or a recorded sidecar cannot be read.
    """
    with _read_only(session_dir / DATABASE_NAME) as connection:
        meta = {str(k): str(v) for k, v in connection.execute("SELECT key, value FROM meta")}
        step_rows = connection.execute(
            "SELECT step_id, kind, setup_id, ordinal, status, attempts, rating, notes, "
            "last_error FROM steps ORDER BY ordinal"
        ).fetchall()
        steps = []
        for step_id, kind, setup_id, ordinal, status, attempt, rating, notes, error in step_rows:
            timing = connection.execute(
                "SELECT started_s, finished_s FROM attempts WHERE step_id = ? AND attempt = ?",
                (step_id, attempt),
            ).fetchone()
            qc_row = connection.execute(
                "SELECT result FROM qc WHERE step_id = ? AND attempt = ?", (step_id, attempt)
            ).fetchone()
            steps.append(
                SessionStep(
                    step_id=str(step_id),
                    kind=str(kind),
                    setup_id=str(setup_id),
                    ordinal=int(ordinal),
                    status=str(status),
                    attempt=int(attempt),
                    rating=str(rating) if rating else None,
                    notes=str(notes),
                    last_error=str(error) if error else None,
                    started_s=float(timing[0]) if timing else None,
                    finished_s=float(timing[1]) if timing and timing[1] is not None else None,
                    # Only a done attempt's files are where the database says: those of
                    # an interrupted or failed one were set aside in _incomplete/.
                    files=_files(session_dir, connection, step_id, attempt)
                    if status == "done"
                    else (),
                    qc=json.loads(qc_row[0]) if qc_row else {},
                    beats=_beats(connection, step_id, attempt),
                )
            )
        events = tuple(
            SessionEvent(str(at), str(level), str(message))
            for at, level, message in connection.execute(
                "SELECT at, level, message FROM events ORDER BY id"
            )
        )
    shotlist_copy = session_dir / SHOTLIST_COPY_NAME
    shotlist_path = shotlist_copy if shotlist_copy.is_file() else Path(meta["shotlist_path"])
    return SessionRecord(
        directory=session_dir,
        meta=meta,
        shotlist=load_shotlist(shotlist_path).model,
        steps=tuple(steps),
        events=events,
    )


def mark_beat(
    session_dir: Path,
    step_id: str,
    name: str,
    session_time_s: float,
    *,
    rate: float = 25.0,
    note: str = "",
) -> BeatMark:
    """Record a beat of a take's latest attempt, stamped on the session clock.

    The timecode is the session clock's time of day at ``rate``, as the
    capture stamps its files, so editorial can line beats up with media.

    Raises
    ------
    KeyError
        When the session has no such take or the take has no attempt yet.
    ValueError
        When ``name`` is not one of the take's action's beats.
    """
    database = session_dir / DATABASE_NAME
    with closing(sqlite3.connect(database, timeout=30.0)) as connection:
        row = connection.execute(
            "SELECT attempts FROM steps WHERE step_id = ? AND kind = 'take'", (step_id,)
        ).fetchone()
        if row is None or not row[0]:
            raise KeyError(f"{step_id}: no such take with an attempt in {session_dir}")
        attempt = int(row[0])
        origin = connection.execute(
            "SELECT value FROM meta WHERE key = 'session_origin_wall'"
        ).fetchone()
        record_beats = _action_beats(session_dir, connection, step_id, attempt)
        if record_beats and name not in record_beats:
            raise ValueError(
                f"{name!r} is not a beat of {step_id}; its action has " + ", ".join(record_beats)
            )
        timecode = _time_of_day_timecode(origin[0] if origin else None, session_time_s, rate)
        with connection:
            connection.execute(
                "INSERT INTO beats(step_id, attempt, name, session_time_s, timecode, note) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (step_id, attempt, name, session_time_s, timecode, note),
            )
    return BeatMark(name, session_time_s, timecode, note)


def _action_beats(
    session_dir: Path, connection: sqlite3.Connection, step_id: str, attempt: int
) -> tuple[str, ...]:
    """Return the beat names the take's sidecar lists (empty when no file was stored)."""
    row = connection.execute(
        "SELECT sidecar_path FROM files WHERE step_id = ? AND attempt = ? LIMIT 1",
        (step_id, attempt),
    ).fetchone()
    if row is None:
        return ()
    sidecar = json.loads((session_dir / str(row[0])).read_text(encoding="utf-8"))
    return tuple(str(beat["name"]) for beat in sidecar["take"]["action"]["beats"])


def _time_of_day_timecode(origin_wall: str | None, session_time_s: float, rate: float) -> str:
    if origin_wall is None:
        return timecode_from_seconds(session_time_s, rate)
    origin = datetime.fromisoformat(origin_wall)
    midnight = origin.replace(hour=0, minute=0, second=0, microsecond=0)
    return timecode_from_seconds((origin - midnight).total_seconds() + session_time_s, rate)
