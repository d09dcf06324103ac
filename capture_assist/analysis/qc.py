"""QC gates: the shot list's tolerances turn metrics into pass / warn / fail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from capture_assist.shotlist.model import QcTolerances, Tolerance

METRICS = (
    "exposure_ev",
    "white_balance_mired",
    "clipping_percent",
    "framing_drift_px",
    "shake_px",
    "sharpness_drop_percent",
)


class Verdict(StrEnum):
    """A metric's or a take's grade, in order of severity."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


_SEVERITY = {Verdict.PASS: 0, Verdict.WARN: 1, Verdict.FAIL: 2}


def worst(verdicts: list[Verdict] | tuple[Verdict, ...]) -> Verdict:
    """Return the most severe verdict (pass for none)."""
    return max(verdicts, key=_SEVERITY.__getitem__, default=Verdict.PASS)


def grade(value: float, tolerance: Tolerance) -> Verdict:
    """Grade the size of a deviation: within ``warn`` passes, within ``fail`` warns."""
    size = abs(value)
    if size <= tolerance.warn:
        return Verdict.PASS
    if size <= tolerance.fail:
        return Verdict.WARN
    return Verdict.FAIL


def tolerance_for(tolerances: QcTolerances, metric: str) -> Tolerance:
    """Return the tolerance of one metric."""
    value = getattr(tolerances, metric)
    if not isinstance(value, Tolerance):
        raise KeyError(metric)
    return value


@dataclass(frozen=True, slots=True)
class MetricQc:
    """One metric over a take: its value at the start (if measured then) and its worst."""

    start_value: float | None
    start_verdict: Verdict
    worst_value: float
    worst_verdict: Verdict


@dataclass(frozen=True, slots=True)
class TakeQc:
    """A take's QC: per metric, and overall (the worst over the take)."""

    metrics: Mapping[str, MetricQc] = field(default_factory=dict)
    updates: int = 0

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of any metric over the take."""
        return worst([metric.worst_verdict for metric in self.metrics.values()])

    @property
    def start_verdict(self) -> Verdict:
        """The worst verdict at the take's start."""
        return worst([metric.start_verdict for metric in self.metrics.values()])

    def to_json(self) -> dict[str, Any]:
        """Return plain JSON for the sidecar's and the database's ``qc`` field."""
        return {
            "verdict": self.verdict.value,
            "start_verdict": self.start_verdict.value,
            "metrics": {
                name: {
                    "start": metric.start_value,
                    "start_verdict": metric.start_verdict.value,
                    "worst": metric.worst_value,
                    "worst_verdict": metric.worst_verdict.value,
                }
                for name, metric in self.metrics.items()
            },
        }


def qc_update(qc: TakeQc, tolerances: QcTolerances, values: Mapping[str, float]) -> TakeQc:
    """Fold one set of measurements (any subset of ``METRICS``) into a take's QC."""
    metrics = dict(qc.metrics)
    for name, value in values.items():
        verdict = grade(value, tolerance_for(tolerances, name))
        current = metrics.get(name)
        if current is None:
            at_start = qc.updates == 0
            metrics[name] = MetricQc(
                value if at_start else None, verdict if at_start else Verdict.PASS, value, verdict
            )
        elif abs(value) > abs(current.worst_value):
            metrics[name] = replace(current, worst_value=value, worst_verdict=verdict)
    return TakeQc(metrics, qc.updates + 1)


def hold_recording(stable: bool, tolerances: QcTolerances) -> bool:
    """Whether recording must wait: the shot list asks for it and the camera is unstable."""
    return tolerances.hold_recording_while_unstable and not stable
