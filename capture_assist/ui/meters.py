"""The meters: histogram, white balance, exposure, stability, focus, QC, large and plain."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from capture_assist.analysis.exposure import ExposureReading
from capture_assist.analysis.qc import Verdict, grade, worst
from capture_assist.pipeline.live_analysis import LiveMetrics
from capture_assist.shotlist.model import QcTolerances
from capture_assist.ui.theme import ACCENT, DIM_TEXT, ERROR, PANEL, TEXT, WARNING

VERDICT_COLOUR = {Verdict.PASS: ACCENT, Verdict.WARN: WARNING, Verdict.FAIL: ERROR}
CHANNEL_COLOURS = ("#ff5a5a", "#5adc5a", "#5a8cff")


class HistogramMeter(QWidget):
    """RGB histograms with clipping markers at both ends."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reading: ExposureReading | None = None
        self.clip_warn_percent = 0.1
        self.setMinimumHeight(130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_reading(self, reading: ExposureReading, clip_warn_percent: float) -> None:
        """Show a new reading."""
        self.reading = reading
        self.clip_warn_percent = clip_warn_percent
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw the three channels and the clipping markers."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#0a0c0f"))
        reading = self.reading
        if reading is None:
            painter.end()
            return
        width, height = self.width() - 24, self.height() - 4
        peak = float(reading.histogram_rgb[:, 2:254].max()) or 1.0
        for channel, colour in enumerate(CHANNEL_COLOURS):
            path = QPainterPath(QPointF(12, height))
            for index, value in enumerate(reading.histogram_rgb[channel]):
                x = 12 + width * index / 255
                y = height - min(1.0, float(value) / peak) * (height - 6)
                path.lineTo(x, y)
            path.lineTo(12 + width, height)
            fill = QColor(colour)
            fill.setAlpha(70)
            painter.fillPath(path, fill)
            painter.setPen(QPen(QColor(colour), 1.5))
            painter.drawPath(path)
        for channel, (clipped, crushed) in enumerate(
            zip(reading.clipped_percent, reading.crushed_percent, strict=True)
        ):
            if clipped > self.clip_warn_percent:
                painter.fillRect(
                    QRectF(width + 14, 4 + channel * height / 3, 10, height / 3 - 2),
                    QColor(CHANNEL_COLOURS[channel]),
                )
            if crushed > self.clip_warn_percent:
                painter.fillRect(
                    QRectF(0, 4 + channel * height / 3, 10, height / 3 - 2),
                    QColor(CHANNEL_COLOURS[channel]),
                )
        painter.end()


class ShakeTrace(QWidget):
    """Frame-to-frame motion over the last seconds, with the shake tolerance."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: tuple[float, ...] = ()
        self.limit_px = 1.5
        self.setMinimumHeight(56)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_values(self, values: tuple[float, ...], limit_px: float) -> None:
        """Show new values."""
        self.values = values
        self.limit_px = limit_px
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw the trace."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#0a0c0f"))
        scale = max(self.limit_px * 2, max(self.values, default=0.0)) or 1.0
        height, width = self.height() - 4, self.width()
        limit_y = height - self.limit_px / scale * height
        painter.setPen(QPen(QColor(ERROR), 1, Qt.PenStyle.DashLine))
        painter.drawLine(QPointF(0, limit_y), QPointF(width, limit_y))
        if len(self.values) > 1:
            step = width / (len(self.values) - 1)
            points = QPolygonF(
                [QPointF(i * step, height - v / scale * height) for i, v in enumerate(self.values)]
            )
            painter.setPen(QPen(QColor(TEXT), 2))
            painter.drawPolyline(points)
        painter.end()


class ValueTile(QFrame):
    """A titled value in large type, its border coloured by its verdict."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tile")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(0)
        self.title = QLabel(title)
        self.title.setStyleSheet(f"color: {DIM_TEXT}; font-size: 13pt; letter-spacing: 1px;")
        self.value = QLabel("—")
        self.value.setStyleSheet("font-size: 24pt; font-weight: 700;")
        self.detail = QLabel("")
        self.detail.setStyleSheet(f"color: {DIM_TEXT}; font-size: 14pt;")
        for widget in (self.title, self.value, self.detail):
            layout.addWidget(widget)
        self.set_verdict(None)

    def set_verdict(self, verdict: Verdict | None) -> None:
        """Colour the tile: green pass, amber warn, red fail, grey unknown."""
        if getattr(self, "verdict", "unset") == verdict:
            return  # restyling is costly: only when the verdict changes
        colour = VERDICT_COLOUR.get(verdict, "#3a4048") if verdict else "#3a4048"
        self.setStyleSheet(
            f"QFrame#tile {{ background: {PANEL}; border: 3px solid {colour}; "
            "border-radius: 8px; }"
        )
        self.verdict = verdict

    def display(self, value: str, detail: str, verdict: Verdict | None) -> None:
        """Set the texts and the verdict."""
        self.value.setText(value)
        self.detail.setText(detail)
        self.set_verdict(verdict)


class MeterPanel(QWidget):
    """All meters of one camera."""

    def __init__(self, tolerances: QcTolerances, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tolerances = tolerances
        self.camera_label = QLabel("")
        self.camera_label.setStyleSheet(f"color: {DIM_TEXT}; font-size: 14pt;")
        self.histogram = HistogramMeter()
        self.white_balance = ValueTile("WHITE BALANCE")
        self.exposure = ValueTile("EXPOSURE")
        self.stability = ValueTile("STABILITY")
        self.focus = ValueTile("FOCUS")
        self.shake = ShakeTrace()
        self.qc = QLabel("")
        self._qc_verdict: Verdict | None = None
        self.qc.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qc.setStyleSheet(
            "font-size: 20pt; font-weight: 800; border-radius: 8px; padding: 6px;"
        )
        grid = QGridLayout()
        grid.setSpacing(8)
        grid.addWidget(self.white_balance, 0, 0)
        grid.addWidget(self.exposure, 1, 0)
        grid.addWidget(self.stability, 2, 0)
        grid.addWidget(self.focus, 3, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.camera_label)
        layout.addWidget(self.histogram)
        layout.addLayout(grid)
        layout.addWidget(self.shake)
        layout.addWidget(self.qc)
        layout.addStretch(1)

    def show_metrics(self, metrics: LiveMetrics | None, has_baseline: bool) -> None:
        """Update every meter from the newest metrics."""
        if metrics is None:
            return
        verdicts = metrics.verdicts(self.tolerances)
        self.camera_label.setText(
            f"meters · {metrics.source_id} · {metrics.frames_analysed} analysed, "
            f"{metrics.frames_dropped} skipped"
        )
        self.histogram.set_reading(metrics.exposure, self.tolerances.clipping_percent.warn)
        slow = metrics.slow
        chart = slow.chart if slow else None
        if chart is None:
            self.white_balance.display("no chart", "show the ColorChecker", None)
        else:
            reading = chart.white_balance
            change = slow.white_balance_change_mired if slow else None
            target_error = slow.white_balance_error_mired if slow else None
            parts = [f"vs ref {change:+.1f}" if change is not None else "no ref"]
            if target_error is not None:
                parts.append(f"vs target {target_error:+.1f} mired")
            wb_verdicts = [verdicts[k] for k in ("white_balance_mired",) if k in verdicts]
            if target_error is not None:
                wb_verdicts.append(grade(target_error, self.tolerances.white_balance_mired))
            self.white_balance.display(
                f"{reading.cct_k:.0f} K  Duv {reading.duv:+.4f}",
                " · ".join(parts),
                worst(wb_verdicts) if wb_verdicts else None,
            )
        clip = metrics.exposure.clipped_percent_any
        exposure_change = slow.exposure_change_ev if slow else None
        self.exposure.display(
            f"{exposure_change:+.2f} EV"
            if exposure_change is not None
            else f"luma {metrics.exposure.mean_luma:.0f}",
            f"clipped {clip:.2f} %",
            worst([v for k, v in verdicts.items() if k in ("exposure_ev", "clipping_percent")]),
        )
        stability = metrics.stability
        drift = slow.drift if slow else None
        drift_text = (
            f"drift {drift.translation_px:.1f} px {drift.rotation_deg:+.2f}°"
            if drift
            else "drift —"
        )
        headline = "BUMP!" if stability.bump else ("STABLE" if stability.stable else "UNSTABLE")
        self.stability.display(
            headline,
            f"shake {stability.shake_rms_px:.2f} px · {drift_text}",
            Verdict.FAIL
            if not stability.stable
            else worst([v for k, v in verdicts.items() if k in ("shake_px", "framing_drift_px")]),
        )
        sharpness = slow.sharpness_drop_percent if slow else None
        self.focus.display(
            f"{-sharpness:+.0f} %" if sharpness is not None else "—",
            "sharpness vs reference" if has_baseline else "no reference yet",
            verdicts.get("sharpness_drop_percent"),
        )
        self.shake.set_values(metrics.shake_trace, self.tolerances.shake_px.fail)
        extra = [] if stability.stable else [Verdict.FAIL]
        if slow is not None and slow.white_balance_error_mired is not None:
            extra.append(grade(slow.white_balance_error_mired, self.tolerances.white_balance_mired))
        overall = worst(list(verdicts.values()) + extra)
        label = {Verdict.PASS: "QC PASS", Verdict.WARN: "QC WARN", Verdict.FAIL: "QC FAIL"}[overall]
        self.qc.setText(label if has_baseline else f"{label} (no reference yet)")
        if overall == self._qc_verdict:
            return
        self._qc_verdict = overall
        self.qc.setStyleSheet(
            "font-size: 20pt; font-weight: 800; border-radius: 8px; padding: 6px; "
            f"color: #000000; background: {VERDICT_COLOUR[overall]};"
        )
