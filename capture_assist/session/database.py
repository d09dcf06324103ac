"""The session database: SQLite in WAL mode, one transaction per transition.

Each public write commits before it returns, so a caller that announces a
transition after the call has always persisted it first. Statuses of existing
steps are never touched by ``initialise``: a shot list that grew keeps its
finished takes finished.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    step_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('reference', 'take')),
    setup_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'recording', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    rating TEXT CHECK (rating IN ('circle', 'ng', 'hold')),
    notes TEXT NOT NULL DEFAULT '',
    last_error TEXT,
    started_at TEXT,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    step_id TEXT NOT NULL REFERENCES steps(step_id),
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('recording', 'done', 'failed', 'abandoned')),
    started_s REAL NOT NULL,
    started_at TEXT NOT NULL,
    finished_s REAL,
    finished_at TEXT,
    error TEXT,
    PRIMARY KEY (step_id, attempt)
);
CREATE TABLE IF NOT EXISTS files (
    step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    camera_id TEXT NOT NULL,
    relative_path TEXT NOT NULL,
    sidecar_path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    PRIMARY KEY (step_id, attempt, camera_id),
    FOREIGN KEY (step_id, attempt) REFERENCES attempts(step_id, attempt)
);
CREATE TABLE IF NOT EXISTS qc (
    step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (step_id, attempt),
    FOREIGN KEY (step_id, attempt) REFERENCES attempts(step_id, attempt)
);
CREATE TABLE IF NOT EXISTS beats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    name TEXT NOT NULL,
    session_time_s REAL NOT NULL,
    timecode TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    FOREIGN KEY (step_id, attempt) REFERENCES attempts(step_id, attempt)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
"""


class TakeStatus(StrEnum):
    """Where a step stands; ratings (circle, NG, hold) are kept apart."""

    PENDING = "pending"
    RECORDING = "recording"
    DONE = "done"
    FAILED = "failed"


class Rating(StrEnum):
    """The script supervisor's verdict on a done take."""

    CIRCLE = "circle"
    NG = "ng"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class StepRow:
    """A step as the matrix defines it."""

    step_id: str
    kind: str
    setup_id: str
    ordinal: int


@dataclass(frozen=True, slots=True)
class StepRecord:
    """A step as the session has it."""

    step_id: str
    kind: str
    setup_id: str
    ordinal: int
    status: TakeStatus
    attempts: int
    rating: Rating | None
    notes: str
    last_error: str | None

    @property
    def display_status(self) -> str:
        """Status as the crew says it: NG and circled takes by their rating."""
        if self.status is TakeStatus.DONE and self.rating is Rating.NG:
            return "NG"
        if self.status is TakeStatus.DONE and self.rating is Rating.CIRCLE:
            return "circled"
        return self.status.value


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One camera's stored file of an attempt."""

    step_id: str
    attempt: int
    camera_id: str
    relative_path: str
    sidecar_path: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class BeatRecord:
    """A beat marked during a take."""

    beat_id: int
    step_id: str
    attempt: int
    name: str
    session_time_s: float
    timecode: str
    note: str


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SessionDatabase:
    """The session's SQLite database (``session.sqlite`` in the session folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.execute("PRAGMA foreign_keys=ON")
        version = int(self._connection.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{path} was written by a newer capture-assist (schema {version}); update the app"
            )
        with self._transaction() as cursor:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    cursor.execute(statement)
            cursor.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def __enter__(self) -> SessionDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    def journal_mode(self) -> str:
        """Return SQLite's journal mode (``wal``)."""
        return str(self._query("PRAGMA journal_mode")[0][0])

    def initialise(self, meta: Mapping[str, str], steps: Sequence[StepRow]) -> None:
        """Record the session's metadata and add steps it does not have yet."""
        with self._transaction() as cursor:
            for key, value in meta.items():
                cursor.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
            cursor.executemany(
                "INSERT INTO steps(step_id, kind, setup_id, ordinal) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(step_id) DO UPDATE SET ordinal = excluded.ordinal",
                [(s.step_id, s.kind, s.setup_id, s.ordinal) for s in steps],
            )

    def meta(self) -> dict[str, str]:
        """Return the session's metadata."""
        return dict(self._query("SELECT key, value FROM meta"))

    @staticmethod
    def _step(row: tuple[Any, ...]) -> StepRecord:
        return StepRecord(
            step_id=row[0],
            kind=row[1],
            setup_id=row[2],
            ordinal=row[3],
            status=TakeStatus(row[4]),
            attempts=row[5],
            rating=Rating(row[6]) if row[6] else None,
            notes=row[7],
            last_error=row[8],
        )

    _STEP_COLUMNS = "step_id, kind, setup_id, ordinal, status, attempts, rating, notes, last_error"

    def step(self, step_id: str) -> StepRecord:
        """Return one step.

        Raises
        ------
        KeyError
            When the session has no such step.
        """
        rows = self._query(f"SELECT {self._STEP_COLUMNS} FROM steps WHERE step_id = ?", (step_id,))
        if not rows:
            raise KeyError(step_id)
        return self._step(rows[0])

    def steps(self) -> list[StepRecord]:
        """Return every step in shooting order."""
        rows = self._query(f"SELECT {self._STEP_COLUMNS} FROM steps ORDER BY ordinal")
        return [self._step(row) for row in rows]

    def statuses(self) -> dict[str, str]:
        """Return each step's status by id."""
        return dict(self._query("SELECT step_id, status FROM steps"))

    def begin_attempt(self, step_id: str, session_time_s: float, *, retake: bool = False) -> int:
        """Start a new attempt of a step and return its number.

        Raises
        ------
        ValueError
            When the step is already done and ``retake`` is false, or is recording.
        """
        with self._transaction() as cursor:
            row = cursor.execute(
                "SELECT status, attempts FROM steps WHERE step_id = ?", (step_id,)
            ).fetchone()
            if row is None:
                raise KeyError(step_id)
            status, attempts = str(row[0]), int(row[1])
            if status == TakeStatus.RECORDING:
                raise ValueError(f"{step_id} is already recording")
            if status == TakeStatus.DONE and not retake:
                raise ValueError(f"{step_id} is already done; ask for a retake")
            attempt = attempts + 1
            now = _now()
            cursor.execute(
                "UPDATE steps SET status = 'recording', attempts = ?, started_at = ?, "
                "last_error = NULL WHERE step_id = ?",
                (attempt, now, step_id),
            )
            cursor.execute(
                "INSERT INTO attempts(step_id, attempt, status, started_s, started_at) "
                "VALUES (?, ?, 'recording', ?, ?)",
                (step_id, attempt, session_time_s, now),
            )
            if retake:
                cursor.execute("UPDATE steps SET rating = NULL WHERE step_id = ?", (step_id,))
        return attempt

    def record_file(
        self,
        step_id: str,
        attempt: int,
        camera_id: str,
        relative_path: str,
        sidecar_path: str,
        sha256: str,
        size_bytes: int,
    ) -> None:
        """Record one camera's stored file of an attempt."""
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                (step_id, attempt, camera_id, relative_path, sidecar_path, sha256, size_bytes),
            )

    def finish_attempt(
        self,
        step_id: str,
        attempt: int,
        *,
        ok: bool,
        session_time_s: float,
        error: str | None = None,
    ) -> None:
        """Close an attempt as done or failed, and the step with it.

        Raises
        ------
        KeyError
            When no such attempt is recording (nothing is changed).
        """
        now = _now()
        status = TakeStatus.DONE if ok else TakeStatus.FAILED
        with self._transaction() as cursor:
            changed = cursor.execute(
                "UPDATE attempts SET status = ?, finished_s = ?, finished_at = ?, error = ? "
                "WHERE step_id = ? AND attempt = ? AND status = 'recording'",
                (status.value, session_time_s, now, error, step_id, attempt),
            ).rowcount
            if changed != 1:
                raise KeyError(f"{step_id} attempt {attempt} is not recording")
            cursor.execute(
                "UPDATE steps SET status = ?, finished_at = ?, last_error = ? WHERE step_id = ?",
                (status.value, now, error, step_id),
            )

    def abandon_interrupted(self) -> list[tuple[str, int]]:
        """Mark attempts left recording by a crash as abandoned; their steps become pending."""
        with self._transaction() as cursor:
            rows = cursor.execute(
                "SELECT step_id, attempt FROM attempts WHERE status = 'recording' "
                "ORDER BY step_id, attempt"
            ).fetchall()
            for step_id, attempt in rows:
                cursor.execute(
                    "UPDATE attempts SET status = 'abandoned', finished_at = ?, "
                    "error = 'interrupted: the app stopped during this attempt' "
                    "WHERE step_id = ? AND attempt = ?",
                    (_now(), step_id, attempt),
                )
                cursor.execute(
                    "UPDATE steps SET status = 'pending', last_error = ? WHERE step_id = ?",
                    (f"attempt {attempt} was interrupted", step_id),
                )
        return [(str(step_id), int(attempt)) for step_id, attempt in rows]

    def files(self, step_id: str, attempt: int | None = None) -> list[FileRecord]:
        """Return a step's stored files (of one attempt, or of all)."""
        sql = "SELECT * FROM files WHERE step_id = ?"
        parameters: list[Any] = [step_id]
        if attempt is not None:
            sql += " AND attempt = ?"
            parameters.append(attempt)
        return [
            FileRecord(*row)
            for row in self._query(sql + " ORDER BY attempt, camera_id", parameters)
        ]

    def set_rating(self, step_id: str, rating: Rating | None) -> None:
        """Rate a take (circle, NG, hold) or clear its rating."""
        with self._transaction() as cursor:
            cursor.execute(
                "UPDATE steps SET rating = ? WHERE step_id = ?",
                (rating.value if rating else None, step_id),
            )

    def set_notes(self, step_id: str, notes: str) -> None:
        """Replace a step's free-text notes."""
        with self._transaction() as cursor:
            cursor.execute("UPDATE steps SET notes = ? WHERE step_id = ?", (notes, step_id))

    def record_qc(self, step_id: str, attempt: int, result: Mapping[str, Any]) -> None:
        """Store an attempt's QC result (JSON)."""
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT OR REPLACE INTO qc VALUES (?, ?, ?)",
                (step_id, attempt, json.dumps(result)),
            )

    def qc(self, step_id: str, attempt: int) -> dict[str, Any] | None:
        """Return an attempt's QC result."""
        rows = self._query(
            "SELECT result FROM qc WHERE step_id = ? AND attempt = ?", (step_id, attempt)
        )
        return dict(json.loads(rows[0][0])) if rows else None

    def add_beat(
        self,
        step_id: str,
        attempt: int,
        name: str,
        session_time_s: float,
        timecode: str,
        note: str = "",
    ) -> int:
        """Record a beat mark and return its id."""
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO beats(step_id, attempt, name, session_time_s, timecode, note) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (step_id, attempt, name, session_time_s, timecode, note),
            )
            return int(cursor.lastrowid or 0)

    def remove_beat(self, beat_id: int) -> None:
        """Take a beat mark back (an undo)."""
        with self._transaction() as cursor:
            cursor.execute("DELETE FROM beats WHERE id = ?", (beat_id,))

    def beats(self, step_id: str, attempt: int) -> list[BeatRecord]:
        """Return an attempt's beat marks in time order."""
        rows = self._query(
            "SELECT id, step_id, attempt, name, session_time_s, timecode, note FROM beats "
            "WHERE step_id = ? AND attempt = ? ORDER BY session_time_s",
            (step_id, attempt),
        )
        return [BeatRecord(*row) for row in rows]

    def log_event(self, level: str, message: str) -> None:
        """Append a notification to the session log."""
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO events(at, level, message) VALUES (?, ?, ?)", (_now(), level, message)
            )
