from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from capture_assist.session.database import Rating, SessionDatabase, StepRow, TakeStatus

STEPS = [
    StepRow("ref", "reference", "setup1", 0),
    StepRow("t1", "take", "setup1", 1),
    StepRow("t2", "take", "setup1", 2),
]


@pytest.fixture
def database(tmp_path: Path) -> SessionDatabase:
    db = SessionDatabase(tmp_path / "session.sqlite")
    db.initialise({"project_id": "p"}, STEPS)
    return db


def test_wal_mode_and_meta(database: SessionDatabase) -> None:
    assert database.journal_mode() == "wal"
    assert database.meta() == {"project_id": "p"}
    assert [s.step_id for s in database.steps()] == ["ref", "t1", "t2"]


def test_attempt_lifecycle(database: SessionDatabase) -> None:
    attempt = database.begin_attempt("t1", 1.0)
    assert attempt == 1
    assert database.step("t1").status is TakeStatus.RECORDING
    database.record_file("t1", 1, "cam", "a.jpg", "a.json", "00" * 32, 10)
    database.finish_attempt("t1", 1, ok=True, session_time_s=2.0)
    step = database.step("t1")
    assert step.status is TakeStatus.DONE and step.attempts == 1
    with pytest.raises(ValueError, match="already done"):
        database.begin_attempt("t1", 3.0)
    database.set_rating("t1", Rating.NG)
    assert database.step("t1").display_status == "NG"
    assert database.begin_attempt("t1", 4.0, retake=True) == 2
    assert database.step("t1").rating is None


def test_crash_mid_attempt_then_resume(tmp_path: Path) -> None:
    path = tmp_path / "session.sqlite"
    first = SessionDatabase(path)
    first.initialise({}, STEPS)
    first.begin_attempt("ref", 0.0)
    first.finish_attempt("ref", 1, ok=True, session_time_s=0.5)
    first.begin_attempt("t1", 1.0)
    # No close: the process dies here.
    second = SessionDatabase(path)
    assert second.abandon_interrupted() == [("t1", 1)]
    assert second.step("t1").status is TakeStatus.PENDING
    assert second.step("ref").status is TakeStatus.DONE
    assert second.begin_attempt("t1", 2.0) == 2
    second.close()
    first.close()


def test_initialise_with_more_steps_keeps_finished_ones(database: SessionDatabase) -> None:
    database.begin_attempt("t1", 1.0)
    database.finish_attempt("t1", 1, ok=True, session_time_s=2.0)
    database.initialise(
        {},
        [
            StepRow("t0", "take", "setup1", 1),
            *[StepRow(s.step_id, s.kind, s.setup_id, s.ordinal + 1) for s in STEPS],
        ],
    )
    assert database.step("t1").status is TakeStatus.DONE
    assert [s.step_id for s in database.steps()] == ["ref", "t0", "t1", "t2"]


def test_a_failing_transition_changes_nothing(database: SessionDatabase) -> None:
    with pytest.raises(KeyError):
        database.finish_attempt("t2", 1, ok=True, session_time_s=1.0)
    assert database.step("t2").status is TakeStatus.PENDING
    with pytest.raises(sqlite3.IntegrityError):
        database.record_file("nope", 1, "cam", "a", "b", "c", 1)


def test_writes_from_two_threads(database: SessionDatabase) -> None:
    errors: list[BaseException] = []

    def log(prefix: str) -> None:
        try:
            for index in range(50):
                database.log_event("info", f"{prefix}{index}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=log, args=(p,)) for p in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    connection = sqlite3.connect(database.path)
    assert connection.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 100


def test_beats_notes_and_qc(database: SessionDatabase) -> None:
    database.begin_attempt("t1", 1.0)
    database.add_beat("t1", 1, "raise", 1.5, "10:00:00:12")
    database.add_beat("t1", 1, "wave", 2.5, "10:00:01:12", note="late")
    database.record_qc("t1", 1, {"verdict": "pass"})
    database.set_notes("t1", "actor blinked")
    assert [b.name for b in database.beats("t1", 1)] == ["raise", "wave"]
    assert database.qc("t1", 1) == {"verdict": "pass"}
    assert database.step("t1").notes == "actor blinked"
