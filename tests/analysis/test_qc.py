from __future__ import annotations

from capture_assist.analysis.qc import TakeQc, Verdict, grade, hold_recording, qc_update
from capture_assist.shotlist.model import QcTolerances, Tolerance


def test_grade_uses_absolute_deviation() -> None:
    tolerance = Tolerance(warn=5, fail=10)
    assert grade(0, tolerance) is Verdict.PASS
    assert grade(-5, tolerance) is Verdict.PASS
    assert grade(7, tolerance) is Verdict.WARN
    assert grade(-10.5, tolerance) is Verdict.FAIL


def test_take_qc_keeps_start_and_worst() -> None:
    tolerances = QcTolerances()
    qc = TakeQc()
    qc = qc_update(qc, tolerances, {"white_balance_mired": 1.0, "framing_drift_px": 0.5})
    qc = qc_update(qc, tolerances, {"white_balance_mired": -7.0, "framing_drift_px": 0.2})
    qc = qc_update(qc, tolerances, {"white_balance_mired": 3.0, "shake_px": 2.0})
    assert qc.start_verdict is Verdict.PASS
    assert qc.metrics["white_balance_mired"].worst_value == -7.0
    assert qc.metrics["white_balance_mired"].worst_verdict is Verdict.WARN
    assert qc.metrics["framing_drift_px"].worst_value == 0.5
    # Shake was first measured mid-take: it does not change the verdict at the start.
    assert qc.metrics["shake_px"].start_value is None
    assert qc.metrics["shake_px"].worst_verdict is Verdict.FAIL
    assert qc.verdict is Verdict.FAIL
    document = qc.to_json()
    assert document["verdict"] == "fail"
    assert document["metrics"]["white_balance_mired"] == {
        "start": 1.0,
        "start_verdict": "pass",
        "worst": -7.0,
        "worst_verdict": "warn",
    }


def test_hold_only_when_asked_and_unstable() -> None:
    assert not hold_recording(False, QcTolerances())
    assert hold_recording(False, QcTolerances(hold_recording_while_unstable=True))
    assert not hold_recording(True, QcTolerances(hold_recording_while_unstable=True))
