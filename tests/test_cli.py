from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from session_checks import check_done_steps_are_whole

from capture_assist.cli import main

CAMERAS_IN_DEMO = 2


def test_check_prints_summary(demo_shotlist_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(demo_shotlist_path)]) == 0
    out = capsys.readouterr().out
    assert "setups            2" in out
    assert "takes             12" in out
    assert "files cam_a       12 takes + 2 reference" in out
    assert "shooting time" in out


def test_check_reports_every_problem_and_fails(
    tmp_path: Path, demo_shotlist_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = demo_shotlist_path.read_text()
    text = text.replace("cct_k: 3200", "cct_k: warm").replace("repetitions: 2", "repetitons: 2")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    lines = text.splitlines()
    warm_line = next(i for i, line in enumerate(lines, 1) if "cct_k: warm" in line)
    typo_line = next(i for i, line in enumerate(lines, 1) if "repetitons" in line)
    assert f"bad.yaml:{warm_line}:" in err and "lighting[1](id=tungsten).cct_k" in err
    assert f"bad.yaml:{typo_line}:1: repetitons: unknown key 'repetitons'" in err
    assert "did you mean 'repetitions'" in err
    assert "2 problems" in err


def test_run_writes_every_take_with_valid_sidecars(
    demo_shotlist_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "session"
    assert main(["run", str(demo_shotlist_path), "--out", str(out), "--no-progress"]) == 0
    # 2 setups x (1 reference + 6 takes)
    assert check_done_steps_are_whole(out, CAMERAS_IN_DEMO) == 14
    media = sorted(p for p in out.rglob("*.jpg"))
    sidecars = sorted(p for p in out.rglob("*.json"))
    assert len(media) == 14 * CAMERAS_IN_DEMO
    assert len(sidecars) == 14 * CAMERAS_IN_DEMO
    take = json.loads(
        (
            out / "daylight/s01/pick_up_glass/s01.pick_up_glass.front+side.daylight.r01_cam_b.json"
        ).read_text()
    )
    assert take["labels"]["subject"] == "s01"
    assert take["camera"]["angle"] == "side"
    assert "interaction/grasp/glass" in take["hierarchical_labels"]
    assert [beat["name"] for beat in take["take"]["action"]["beats"]] == [
        "reach",
        "grasp",
        "lift",
        "place",
    ]
    assert not (out / "_incomplete").exists()
    assert (out / "shotlist.yaml").read_bytes() == demo_shotlist_path.read_bytes()


def test_run_refuses_to_overwrite_a_session(
    demo_shotlist_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "session"
    (out).mkdir()
    (out / "session.sqlite").write_bytes(b"")
    assert main(["run", str(demo_shotlist_path), "--out", str(out), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_of_a_finished_session_redoes_nothing(
    small_shotlist_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "session"
    assert main(["run", str(small_shotlist_path), "--out", str(out), "--no-progress"]) == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    assert (
        main(["run", str(small_shotlist_path), "--out", str(out), "--resume", "--no-progress"]) == 0
    )
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == before


def _recording_steps(database: Path) -> set[tuple[str, int]]:
    if not database.exists():
        return set()
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT step_id, attempt FROM attempts WHERE status = 'recording'"
        ).fetchall()
    except sqlite3.OperationalError:
        return set()
    finally:
        connection.close()
    return {(step_id, attempt) for step_id, attempt in rows}


@pytest.mark.slow
def test_sigkill_at_random_instants_then_resume(demo_shotlist_path: Path, tmp_path: Path) -> None:
    """Kill the headless run at 20+ random instants; every resume keeps the invariants."""
    rng = random.Random(20261124)
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    session_index = 0
    redone = 0
    while kills < 22:
        session_index += 1
        out = tmp_path / f"session{session_index}"
        interrupted: set[tuple[str, int]] = set()
        while kills < 22:
            command = [
                sys.executable,
                "-m",
                "capture_assist.cli",
                "run",
                str(demo_shotlist_path),
                "--out",
                str(out),
                "--resume",
                "--no-progress",
                "--sim-capture-delay",
                "0.05",
            ]
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment
            )
            time.sleep(rng.uniform(0.8, 4.0))
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                assert process.returncode == 0, stderr
                break  # finished before the kill: start a fresh session
            process.send_signal(signal.SIGKILL)
            process.wait()
            if process.stderr:
                process.stderr.close()
            kills += 1
            interrupted |= _recording_steps(out / "session.sqlite")
            if (out / "session.sqlite").exists():
                check_done_steps_are_whole(out, CAMERAS_IN_DEMO)
        # Finish the session and check it is whole.
        final = subprocess.run(
            [
                sys.executable,
                "-m",
                "capture_assist.cli",
                "run",
                str(demo_shotlist_path),
                "--out",
                str(out),
                "--resume",
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            env=environment,
            timeout=300,
        )
        assert final.returncode == 0, final.stderr
        assert check_done_steps_are_whole(out, CAMERAS_IN_DEMO) == 14
        # Every attempt a kill interrupted was abandoned, never counted, and redone.
        connection = sqlite3.connect(out / "session.sqlite")
        for step_id, attempt in interrupted:
            (status,) = connection.execute(
                "SELECT status FROM attempts WHERE step_id = ? AND attempt = ?", (step_id, attempt)
            ).fetchone()
            done_attempt = connection.execute(
                "SELECT attempt FROM attempts WHERE step_id = ? AND status = 'done'", (step_id,)
            ).fetchone()
            assert status == "abandoned"
            assert done_attempt is not None and done_attempt[0] > attempt
            redone += 1
        connection.close()
    assert redone >= 5, f"only {redone} kills landed during a capture"


def test_ctrl_c_stops_at_a_step_boundary_and_resume_finishes(
    demo_shotlist_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "session"
    command = [
        sys.executable,
        "-m",
        "capture_assist.cli",
        "run",
        str(demo_shotlist_path),
        "--out",
        str(out),
        "--no-progress",
        "--sim-capture-delay",
        "0.3",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(out.rglob("*.json")):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, _stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout
    assert "--resume" in stdout
    done_before = check_done_steps_are_whole(out, CAMERAS_IN_DEMO)
    assert 1 <= done_before < 14
    assert not (out / "_incomplete").exists()  # the step in flight finished cleanly
    assert (
        main(["run", str(demo_shotlist_path), "--out", str(out), "--resume", "--no-progress"]) == 0
    )
    assert check_done_steps_are_whole(out, CAMERAS_IN_DEMO) == 14
