"""Measure a still or a clip with the same functions the live path uses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from capture_assist.analysis.colorchecker import (
    ChartDetection,
    detect_colorchecker,
    track_colorchecker,
)
from capture_assist.analysis.exposure import ExposureReading, measure_exposure
from capture_assist.analysis.focus import FocusReading, measure_focus, sharpness_drop_percent
from capture_assist.analysis.stability import (
    DriftReference,
    StabilityState,
    measure_drift,
    prepare_drift_reference,
    prepare_motion_frame,
    update_stability,
)
from capture_assist.analysis.white_balance import (
    exposure_change_ev,
    mired,
    white_balance_change_mired,
    white_balance_error_mired,
)
from capture_assist.shotlist.model import Tolerance

RgbImage = npt.NDArray[np.uint8]
DEFAULT_SHAKE = Tolerance(warn=0.5, fail=1.5)


@dataclass(frozen=True, slots=True)
class StillMeasurement:
    """Everything measured on one still: what a reference frame's baseline is made of."""

    chart: ChartDetection | None
    exposure: ExposureReading
    focus: FocusReading
    focus_region: tuple[int, int, int, int] | None
    drift_reference: DriftReference


def chart_region(chart: ChartDetection, rgb: RgbImage) -> tuple[int, int, int, int]:
    """Return the chart's bounding box (x, y, w, h), clipped to the frame."""
    low = np.maximum(np.floor(chart.corners.min(axis=0)), 0).astype(int)
    high = np.minimum(np.ceil(chart.corners.max(axis=0)), (rgb.shape[1], rgb.shape[0])).astype(int)
    return int(low[0]), int(low[1]), int(high[0] - low[0]), int(high[1] - low[1])


def measure_still(
    rgb: RgbImage, focus_region: tuple[int, int, int, int] | None = None
) -> StillMeasurement:
    """Measure a still once: chart, exposure, sharpness, and corners to follow for drift.

    Sharpness is measured on the chart when there is one (or on ``focus_region``):
    the actor's pose changes the whole frame's score far more than focus does.
    """
    chart = detect_colorchecker(rgb)
    if focus_region is None and chart is not None:
        focus_region = chart_region(chart, rgb)
    return StillMeasurement(
        chart=chart,
        exposure=measure_exposure(rgb),
        focus=measure_focus(rgb, focus_region),
        focus_region=focus_region,
        drift_reference=prepare_drift_reference(rgb),
    )


def qc_values(
    still: StillMeasurement, baseline: StillMeasurement, rgb: RgbImage
) -> dict[str, float]:
    """Return the QC metrics of a still against its setup's reference frame.

    Chart-based metrics need the chart in both frames; a metric that cannot be
    measured is left out rather than guessed.
    """
    values: dict[str, float] = {
        "clipping_percent": still.exposure.clipped_percent_any,
        "sharpness_drop_percent": sharpness_drop_percent(still.focus, baseline.focus),
    }
    drift = measure_drift(baseline.drift_reference, rgb)
    if drift is not None:
        values["framing_drift_px"] = drift.translation_px
    if still.chart is not None and baseline.chart is not None:
        values["exposure_ev"] = exposure_change_ev(
            still.chart.white_balance, baseline.chart.white_balance
        )
        values["white_balance_mired"] = white_balance_change_mired(
            still.chart.white_balance, baseline.chart.white_balance
        )
    return values


def baseline_json(baseline: StillMeasurement) -> dict[str, Any]:
    """Return a reference frame's measurements for its sidecar."""
    document: dict[str, Any] = {
        "clipped_percent": round(baseline.exposure.clipped_percent_any, 4),
        "sharpness": round(baseline.focus.sharpness, 2),
        "chart_found": baseline.chart is not None,
    }
    if baseline.chart is not None:
        reading = baseline.chart.white_balance
        document.update(
            cct_k=round(reading.cct_k, 1),
            duv=round(reading.duv, 5),
            grey_exposure_ev=round(reading.grey_exposure_ev, 3),
            delta_e_mean=round(reading.delta_e_mean, 2),
            chart_corners=baseline.chart.corners.round(2).tolist(),
        )
    return document


def analyze_still(rgb: RgbImage, *, target_cct_k: float | None = None) -> dict[str, Any]:
    """Return every measurement of one frame as plain JSON."""
    exposure = measure_exposure(rgb)
    result: dict[str, Any] = {
        "width": int(rgb.shape[1]),
        "height": int(rgb.shape[0]),
        "exposure": {
            "mean_luma": round(exposure.mean_luma, 2),
            "clipped_percent": [round(value, 4) for value in exposure.clipped_percent],
            "crushed_percent": [round(value, 4) for value in exposure.crushed_percent],
        },
        "sharpness": round(measure_focus(rgb).sharpness, 2),
    }
    chart = detect_colorchecker(rgb)
    if chart is None:
        result["chart"] = None
        return result
    reading = chart.white_balance
    result["chart"] = {
        "corners": chart.corners.round(2).tolist(),
        "cct_k": round(reading.cct_k, 1),
        "duv": round(reading.duv, 5),
        "cast_mired": round(reading.cast_mired, 2),
        "delta_e_mean": round(reading.delta_e_mean, 2),
        "delta_e_max": round(reading.delta_e_max, 2),
        "delta_e_per_patch": [round(value, 2) for value in reading.delta_e_per_patch],
        "grey_exposure_ev": round(reading.grey_exposure_ev, 3),
        "grey_patches_used": list(reading.grey_patches_used),
    }
    if target_cct_k is not None:
        result["chart"]["target_cct_k"] = target_cct_k
        result["chart"]["white_balance_error_mired"] = round(
            white_balance_error_mired(reading, target_cct_k), 2
        )
        result["chart"]["target_mired"] = round(mired(target_cct_k), 2)
    return result


def analyze_clip(
    frames: Iterable[tuple[int, float, RgbImage]], *, target_cct_k: float | None = None
) -> dict[str, Any]:
    """Measure the first frame fully, then motion, drift and the chart on every frame."""
    per_frame: list[dict[str, Any]] = []
    state = StabilityState()
    first: dict[str, Any] | None = None
    reference = None
    chart = None
    bumps = 0
    for index, timestamp, rgb in frames:
        if first is None:
            first = analyze_still(rgb, target_cct_k=target_cct_k)
            reference = prepare_drift_reference(rgb)
            chart = detect_colorchecker(rgb)
        state, motion = update_stability(state, prepare_motion_frame(rgb, timestamp), DEFAULT_SHAKE)
        bumps += int(motion.bump)
        assert reference is not None
        drift = measure_drift(reference, rgb)
        row: dict[str, Any] = {
            "frame": index,
            "time_s": round(timestamp, 4),
            "motion_px": [round(motion.motion_dx_px, 3), round(motion.motion_dy_px, 3)],
            "shake_rms_px": round(motion.shake_rms_px, 3),
            "bump": motion.bump,
            "stable": motion.stable,
            "clipped_percent": round(measure_exposure(rgb).clipped_percent_any, 4),
        }
        if drift is not None:
            row["drift"] = {
                "dx_px": round(drift.dx_px, 3),
                "dy_px": round(drift.dy_px, 3),
                "rotation_deg": round(drift.rotation_deg, 4),
                "scale_percent": round(drift.scale_percent, 4),
            }
        if chart is not None and index > 0:
            chart = track_colorchecker(rgb, chart) or detect_colorchecker(rgb)
            if chart is not None:
                row["cct_k"] = round(chart.white_balance.cct_k, 1)
        per_frame.append(row)
    if first is None:
        raise ValueError("the clip has no frame")
    return {"first_frame": first, "frames": per_frame, "bumps": bumps}
