"""Live measurements per source, without ever slowing the camera or the window.

Two threads per source. The fast one measures every frame it can get
(exposure, frame-to-frame motion), always the newest in the device's slot;
frames that came and went while it was busy are counted as skipped, never
queued. The slow one, a few
times a second, finds or tracks the ColorChecker, measures drift against the
setup's reference frame and the sharpness. Every result carries the timestamp of
the frame it was measured on. Readers take the newest ``LiveMetrics`` from a
slot; nothing here blocks a device thread or the UI.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from capture_assist.analysis.colorchecker import (
    ChartDetection,
    detect_colorchecker,
    track_colorchecker,
)
from capture_assist.analysis.exposure import ExposureReading, measure_exposure
from capture_assist.analysis.focus import measure_focus, sharpness_drop_percent
from capture_assist.analysis.qc import Verdict, grade, tolerance_for
from capture_assist.analysis.stability import (
    Drift,
    StabilityReading,
    StabilityState,
    measure_drift,
    prepare_motion_frame,
    update_stability,
)
from capture_assist.analysis.white_balance import (
    exposure_change_ev,
    white_balance_change_mired,
    white_balance_error_mired,
)
from capture_assist.devices.base import Frame
from capture_assist.pipeline.offline import StillMeasurement
from capture_assist.pipeline.worker import DeviceWorker
from capture_assist.shotlist.model import QcTolerances

SLOW_INTERVAL_S = 0.25
SHAKE_TRACE_FRAMES = 150


@dataclass(frozen=True, slots=True)
class SlowMetrics:
    """The few-times-a-second measurements, tagged with their frame's time."""

    timestamp_s: float
    chart: ChartDetection | None
    drift: Drift | None
    sharpness_drop_percent: float | None
    white_balance_change_mired: float | None
    white_balance_error_mired: float | None
    exposure_change_ev: float | None
    duration_s: float


@dataclass(frozen=True, slots=True)
class LiveMetrics:
    """Everything the meters show for one source."""

    source_id: str
    timestamp_s: float
    sequence: int
    exposure: ExposureReading
    stability: StabilityReading
    slow: SlowMetrics | None
    frames_analysed: int
    frames_dropped: int
    shake_trace: tuple[float, ...] = field(default=())

    def verdicts(self, tolerances: QcTolerances) -> dict[str, Verdict]:
        """Grade what is measured now against the shot list's tolerances."""
        values: dict[str, float] = {
            "clipping_percent": self.exposure.clipped_percent_any,
            "shake_px": self.stability.shake_rms_px,
        }
        slow = self.slow
        if slow is not None:
            if slow.drift is not None:
                values["framing_drift_px"] = slow.drift.translation_px
            if slow.white_balance_change_mired is not None:
                values["white_balance_mired"] = slow.white_balance_change_mired
            if slow.exposure_change_ev is not None:
                values["exposure_ev"] = slow.exposure_change_ev
            if slow.sharpness_drop_percent is not None:
                values["sharpness_drop_percent"] = slow.sharpness_drop_percent
        return {
            name: grade(value, tolerance_for(tolerances, name)) for name, value in values.items()
        }


class LiveAnalyzer:
    """Measures one source's frames live (see the module's description).

    Parameters
    ----------
    worker
        The source's device worker, whose newest frames are measured.
    tolerances
        The shot list's QC tolerances.
    """

    def __init__(self, worker: DeviceWorker, tolerances: QcTolerances) -> None:
        self.worker = worker
        self.tolerances = tolerances
        self._lock = threading.Lock()
        self._slow_frame: Frame | None = None
        self._slow_wake = threading.Event()
        self._stop = threading.Event()
        self._latest: LiveMetrics | None = None
        self._slow: SlowMetrics | None = None
        self._baseline: StillMeasurement | None = None
        self._target_cct_k: float | None = None
        self._dropped = 0
        self._analysed = 0
        self._trace: deque[float] = deque(maxlen=SHAKE_TRACE_FRAMES)
        self._threads = [
            threading.Thread(
                target=self._fast_loop, name=f"analysis-{worker.source_id}", daemon=True
            ),
            threading.Thread(target=self._slow_loop, name=f"chart-{worker.source_id}", daemon=True),
        ]

    def start(self) -> None:
        """Start measuring."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop measuring and wait for the threads."""
        self._stop.set()
        self._slow_wake.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def set_baseline(self, baseline: StillMeasurement | None, target_cct_k: float | None) -> None:
        """Compare from now on with this reference frame and the lighting's target."""
        with self._lock:
            self._baseline = baseline
            self._target_cct_k = target_cct_k
            self._slow = None

    def latest(self) -> LiveMetrics | None:
        """Return the newest metrics (never waits)."""
        with self._lock:
            return self._latest

    def _fast_loop(self) -> None:
        state = StabilityState()
        last_sequence = -1
        while not self._stop.is_set():
            frame = self.worker.slot.wait_newer(last_sequence, timeout_s=0.5)
            if frame is None:
                continue
            if last_sequence >= 0:
                # Frames that came and went while the last one was measured.
                self._dropped += max(0, frame.sequence - last_sequence - 1)
            last_sequence = frame.sequence
            exposure = measure_exposure(frame.pixels)
            state, stability = update_stability(
                state,
                prepare_motion_frame(frame.pixels, frame.timestamp_s),
                self.tolerances.shake_px,
            )
            self._trace.append(float(abs(complex(stability.motion_dx_px, stability.motion_dy_px))))
            with self._lock:
                self._analysed += 1
                self._slow_frame = frame
                metrics = LiveMetrics(
                    source_id=frame.source_id,
                    timestamp_s=frame.timestamp_s,
                    sequence=frame.sequence,
                    exposure=exposure,
                    stability=stability,
                    slow=self._slow,
                    frames_analysed=self._analysed,
                    frames_dropped=self._dropped,
                    shake_trace=tuple(self._trace),
                )
                self._latest = metrics
            self._slow_wake.set()

    def _slow_loop(self) -> None:
        chart: ChartDetection | None = None
        while not self._stop.is_set():
            self._slow_wake.wait(timeout=0.5)
            self._slow_wake.clear()
            with self._lock:
                frame = self._slow_frame
                baseline = self._baseline
                target = self._target_cct_k
            if frame is None:
                continue
            started = time.monotonic()
            chart = (
                track_colorchecker(frame.pixels, chart) if chart else None
            ) or detect_colorchecker(frame.pixels)
            drift = measure_drift(baseline.drift_reference, frame.pixels) if baseline else None
            sharpness = None
            if baseline is not None:
                sharpness = sharpness_drop_percent(
                    measure_focus(frame.pixels, baseline.focus_region), baseline.focus
                )
            reading = chart.white_balance if chart else None
            reference = baseline.chart.white_balance if baseline and baseline.chart else None
            slow = SlowMetrics(
                timestamp_s=frame.timestamp_s,
                chart=chart,
                drift=drift,
                sharpness_drop_percent=sharpness,
                white_balance_change_mired=(
                    white_balance_change_mired(reading, reference)
                    if reading and reference
                    else None
                ),
                white_balance_error_mired=(
                    white_balance_error_mired(reading, target) if reading and target else None
                ),
                exposure_change_ev=(
                    exposure_change_ev(reading, reference) if reading and reference else None
                ),
                duration_s=time.monotonic() - started,
            )
            with self._lock:
                self._slow = slow
            # Detection is the expensive part: leave the other core to the cameras.
            self._stop.wait(max(0.0, SLOW_INTERVAL_S - slow.duration_s))
