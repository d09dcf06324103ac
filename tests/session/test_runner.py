from __future__ import annotations

from pathlib import Path

import pytest
from session_checks import check_done_steps_are_whole

from capture_assist.clock import SessionClock
from capture_assist.devices.factory import open_cameras
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.session.runner import RunnerState, SessionRunner
from capture_assist.shotlist.loader import load_shotlist


@pytest.fixture
def runner(small_shotlist_path: Path, tmp_path: Path) -> SessionRunner:
    session_runner, workers = runner_for(small_shotlist_path.read_text(), tmp_path)
    yield session_runner
    session_runner.close()
    for worker in workers:
        worker.stop()


def test_states_are_announced_after_they_are_persisted(runner: SessionRunner) -> None:
    seen: list[tuple[str, str | None]] = []

    def on_state(state: str) -> None:
        step = runner.steps[0]
        seen.append((state, runner.step_statuses()[step.step_id]))

    runner.state_changed.connect(on_state)
    outcome = runner.capture(runner.steps[0])
    assert outcome.ok
    assert seen[0] == ("capturing", "pending")
    assert seen[-1] == ("ready", "done")


def test_a_camera_that_vanishes_keeps_the_other_file_and_fails_the_step(
    runner: SessionRunner,
) -> None:
    notes: list[tuple[str, str]] = []
    runner.notification.connect(lambda level, message: notes.append((level, message)))
    runner.workers["cam_b"].camera.inject_fault("disconnect")  # type: ignore[attr-defined]
    step = runner.next_step()
    assert step is not None
    outcome = runner.capture(step)
    assert not outcome.ok
    assert "cam_b" in (outcome.error or "")
    kept = [p for p in outcome.files if p.suffix == ".jpg"]
    assert len(kept) == 1 and "_incomplete" in kept[0].parts and kept[0].is_file()
    assert (
        notes
        and notes[-1][0] == "error"
        and "Kept what cam_a captured in _incomplete/" in notes[-1][1]
    )
    assert runner.step_statuses()[step.step_id] == "failed"
    assert runner.next_step() == step
    # The cable is back: the retry is attempt 2 and the step completes.
    runner.workers["cam_b"].camera.replug()  # type: ignore[attr-defined]
    retry = runner.capture(step)
    assert retry.ok and retry.attempt == 2
    assert all("_a02" in p.name for p in retry.files)


def test_run_all_finishes_every_step(runner: SessionRunner) -> None:
    outcomes = runner.run_all()
    assert all(o.ok for o in outcomes)
    assert runner.state is RunnerState.FINISHED
    assert check_done_steps_are_whole(runner.out_dir, 2) == len(runner.steps) == 8
    assert runner.next_step() is None


def test_trigger_skew_is_recorded(runner: SessionRunner) -> None:
    import json

    outcome = runner.capture(runner.steps[0])
    skews = [
        json.loads(p.read_text())["capture"]["trigger_skew_s"]
        for p in outcome.files
        if p.suffix == ".json"
    ]
    assert min(skews) == 0.0
    assert max(skews) < 0.5


def test_reference_frame_is_the_baseline_and_takes_are_graded(runner: SessionRunner) -> None:
    import json

    reference = runner.capture(runner.steps[0])
    reference_sidecar = json.loads(
        next(p for p in reference.files if p.name.endswith("cam_a.json")).read_text()
    )
    baseline = reference_sidecar["qc"]["baseline"]
    assert baseline["chart_found"] and abs(baseline["cct_k"] - 6504) < 30
    steady = runner.capture(runner.steps[1])
    steady_qc = json.loads(
        next(p for p in steady.files if p.name.endswith("cam_a.json")).read_text()
    )["qc"]
    assert steady_qc["verdict"] == "pass", steady_qc
    # Someone knocks cam_a's tripod and the light warms up.
    runner.workers["cam_a"].camera.bump(7.0, 0.0)  # type: ignore[attr-defined]
    runner.workers["cam_a"].camera.set_controls(cast_cct_k=5600)  # type: ignore[attr-defined]
    bumped = runner.capture(runner.steps[2])
    bumped_qc = json.loads(
        next(p for p in bumped.files if p.name.endswith("cam_a.json")).read_text()
    )["qc"]
    assert bumped_qc["verdict"] == "fail"
    assert bumped_qc["metrics"]["framing_drift_px"]["worst"] == pytest.approx(7.0, abs=0.2)
    assert bumped_qc["metrics"]["framing_drift_px"]["worst_verdict"] == "fail"
    assert bumped_qc["metrics"]["white_balance_mired"]["worst"] == pytest.approx(
        1e6 / 5600 - 1e6 / 6504, abs=2.0
    )
    cam_b_qc = json.loads(
        next(p for p in bumped.files if p.name.endswith("cam_b.json")).read_text()
    )["qc"]
    assert cam_b_qc["verdict"] == "pass"
    assert runner.db is not None
    stored = runner.db.qc(bumped.step_id, bumped.attempt)
    assert stored is not None and stored["cam_a"]["verdict"] == "fail"


def test_baseline_survives_a_resume(small_shotlist_path: Path, tmp_path: Path) -> None:
    import json

    from capture_assist.cli import main

    out = tmp_path / "session"
    loaded = load_shotlist(small_shotlist_path)
    clock = SessionClock()
    workers = {
        cid: DeviceWorker(cam, live=False) for cid, cam in open_cameras(loaded.model, clock).items()
    }
    for worker in workers.values():
        worker.start()
    first = SessionRunner(loaded, out, workers, clock)
    first.open_session(resume=False)
    first.capture(first.steps[0])
    first.close()
    for worker in workers.values():
        worker.stop()
    assert (
        main(["run", str(small_shotlist_path), "--out", str(out), "--resume", "--no-progress"]) == 0
    )
    take = next(out.glob("daylight/s01/pick_up_glass/*cam_a.json"))
    assert json.loads(take.read_text())["qc"]["verdict"] == "pass"


def test_a_settings_change_within_a_setup_is_reported(runner: SessionRunner) -> None:
    notes: list[tuple[str, str]] = []
    runner.notification.connect(lambda level, message: notes.append((level, message)))
    runner.capture(runner.steps[0])
    runner.capture(runner.steps[1])
    assert notes == []
    runner.workers["cam_a"].camera.set_controls(iso=800)  # type: ignore[attr-defined]
    runner.capture(runner.steps[2])
    assert notes and notes[-1][0] == "warning"
    assert "cam_a: settings changed within setup daylight.front+side: iso 400 → 800" in notes[-1][1]


def runner_for(shotlist_text: str, tmp_path: Path) -> tuple[SessionRunner, list[DeviceWorker]]:
    path = tmp_path / "settings.yaml"
    path.write_text(shotlist_text)
    loaded = load_shotlist(path)
    clock = SessionClock()
    workers = {
        cid: DeviceWorker(cam, live=False) for cid, cam in open_cameras(loaded.model, clock).items()
    }
    for worker in workers.values():
        worker.start()
    session_runner = SessionRunner(loaded, tmp_path / "session", workers, clock)
    session_runner.open_session(resume=False)
    return session_runner, list(workers.values())


def with_settings(small_shotlist_path: Path, lighting: str, camera: str) -> str:
    text = small_shotlist_path.read_text()
    text = text.replace(
        '{id: daylight, cct_k: 5600, description: "Two LED panels at 5600 K, 45 degrees"}',
        f"{{id: daylight, cct_k: 5600, camera_settings: {lighting}}}",
    )
    return text.replace(
        "    source: {kind: sim}\n", f"    source: {{kind: sim}}\n    settings: {camera}\n"
    )


def test_each_setup_sets_the_shot_lists_settings_on_its_cameras(
    small_shotlist_path: Path, tmp_path: Path
) -> None:
    text = with_settings(
        small_shotlist_path, "{colortemperature: 4300}", "{iso: 200, shutterspeed: 1/100}"
    )
    runner, workers = runner_for(text, tmp_path)
    notes: list[str] = []
    runner.notification.connect(lambda _level, message: notes.append(message))
    try:
        cam_a, cam_b = (worker.camera for worker in workers)
        cam_a.set_setting("iso", 1600)  # someone turned the dial before the shoot
        reference = runner.capture(runner.steps[0])
        assert reference.ok
        assert cam_a.settings()["iso"] == 200
        assert cam_a.settings()["shutter_s"] == pytest.approx(0.01)
        # Lighting settings go to every camera; camera settings only to their own.
        assert cam_a.settings()["white_balance_k"] == cam_b.settings()["white_balance_k"] == 4300
        assert cam_b.settings()["iso"] != 200
        assert any(
            "cam_a: set iso=200, shutterspeed=1/100, colortemperature=4300" in n for n in notes
        )
        # Set once per setup, not before every take.
        cam_a.set_setting("iso", 800)
        assert runner.capture(runner.steps[1]).ok
        assert cam_a.settings()["iso"] == 800
    finally:
        runner.close()
        for worker in workers:
            worker.stop()


def test_a_setting_the_camera_refuses_fails_the_step_before_shooting(
    small_shotlist_path: Path, tmp_path: Path
) -> None:
    runner, workers = runner_for(with_settings(small_shotlist_path, "{}", "{zoom: 3}"), tmp_path)
    try:
        outcome = runner.capture(runner.steps[0])
        assert not outcome.ok
        assert outcome.error == (
            "camera cam_a refused the setup's settings: the simulated camera has no setting 'zoom'."
        )
        assert outcome.files == ()
        assert runner.step_statuses()[runner.steps[0].step_id] != "done"
    finally:
        runner.close()
        for worker in workers:
            worker.stop()
