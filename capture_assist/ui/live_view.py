"""One camera's live picture, painted from the newest frame only."""

from __future__ import annotations

import time
from collections import deque

import cv2
import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import QGridLayout, QSizePolicy, QWidget

from capture_assist.analysis.colorchecker import ChartDetection
from capture_assist.analysis.exposure import clipping_mask
from capture_assist.devices.base import Frame
from capture_assist.pipeline.live_analysis import LiveMetrics

ZEBRA_EVERY_N_FRAMES = 3
DRIFT_ARROW_GAIN = 20.0


def qimage_from_rgb(pixels: npt.NDArray[np.uint8]) -> QImage:
    """Wrap an RGB array as a QImage (the array must outlive the image)."""
    height, width, _channels = pixels.shape
    return QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB888)


class LiveView(QWidget):
    """Paints the newest frame of one camera, letterboxed, with its name and rate."""

    clicked = Signal(str)

    def __init__(self, camera_id: str, angle_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.metrics: LiveMetrics | None = None
        self.selected = False
        self.show_delta_e = False
        self._zebra: QImage | None = None
        self._zebra_mask: npt.NDArray[np.uint8] | None = None
        self._frames_since_zebra = 0
        self.camera_id = camera_id
        self.angle_id = angle_id
        self._source_pixels: npt.NDArray[np.uint8] | None = None
        self._source_size: tuple[int, int] = (0, 0)
        self._lost_frames = (0, 0)  # dropped and repeated by the source, as it counted them
        self.signal = True
        # The reduced copy on screen and the frame it was made from: frames that
        # arrive faster than the screen repaints are never reduced at all.
        self._pixels: npt.NDArray[np.uint8] | None = None
        self._pixels_sequence = -1
        self._last_sequence = -1
        self._arrivals: deque[float] = deque(maxlen=30)
        self.frames_painted = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)

    def show_frame(self, frame: Frame | None) -> None:
        """Show ``frame`` if it is newer than the one on screen."""
        if frame is None or frame.sequence == self._last_sequence:
            return
        self._last_sequence = frame.sequence
        self._lost_frames = (
            int(frame.metadata.get("dropped_frames", 0)),
            int(frame.metadata.get("repeated_frames", 0)),
        )
        self._source_pixels = frame.pixels
        self._source_size = (frame.pixels.shape[1], frame.pixels.shape[0])
        self._arrivals.append(time.monotonic())
        self._frames_since_zebra += 1
        if self._frames_since_zebra >= ZEBRA_EVERY_N_FRAMES:
            self._frames_since_zebra = 0
            self._update_zebra(frame.pixels)
        self.update()

    def _fit_to_view(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Reduce a frame to the widget's size once, so painting it is a plain copy.

        Letting QPainter scale a 4K image on every paint costs the GUI thread
        tens of milliseconds, and so does averaging every source pixel. A
        bilinear step to twice the screen size, then averaging 2 x 2, reads a
        fraction of the frame and averages 16 source pixels per screen pixel:
        under a millisecond at 4K, and fine detail does not shimmer.
        """
        height, width = pixels.shape[:2]
        scale = min(self.width() / width, self.height() / height, 1.0)
        if scale >= 1.0:
            return pixels
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if scale < 0.5:
            pixels = np.asarray(
                cv2.resize(pixels, (size[0] * 2, size[1] * 2), interpolation=cv2.INTER_LINEAR),
                np.uint8,
            )
            return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), np.uint8)
        return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), np.uint8)

    def show_signal(self, connected: bool) -> None:
        """Say over the picture that the camera or feed is gone (repainted at once)."""
        if connected != self.signal:
            self.signal = connected
            self.update()

    def show_metrics(self, metrics: LiveMetrics | None) -> None:
        """Draw the chart outline, drift arrow and bump alarm from these metrics."""
        self.metrics = metrics

    def _update_zebra(self, pixels: npt.NDArray[np.uint8]) -> None:
        """Stripes over clipped areas, computed at display size every few frames."""
        width = max(1, min(self.width(), pixels.shape[1]))
        mask = clipping_mask(pixels, width=width)
        if not mask.any():
            self._zebra = None
            return
        rows, columns = np.indices(mask.shape)
        stripes = ((rows + columns) // 6) % 2 == 0
        overlay = np.zeros((*mask.shape, 4), np.uint8)
        overlay[mask & stripes] = (255, 40, 200, 230)
        self._zebra_mask = overlay
        self._zebra = QImage(
            overlay.data,
            mask.shape[1],
            mask.shape[0],
            overlay.strides[0],
            QImage.Format.Format_RGBA8888,
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Select this camera for the meters."""
        self.clicked.emit(self.camera_id)
        super().mousePressEvent(event)

    def displayed_fps(self) -> float:
        """Frames per second shown over the last second or so."""
        if len(self._arrivals) < 2:
            return 0.0
        span = self._arrivals[-1] - self._arrivals[0]
        return (len(self._arrivals) - 1) / span if span > 0 else 0.0

    def _paint_delta_e(
        self, painter: QPainter, target: QRectF, scale: float, chart: ChartDetection
    ) -> None:
        """Write each patch's delta E 2000 on it: green under 3, amber under 6, red above."""
        font = QFont(painter.font())
        font.setPointSize(12)
        font.setBold(True)
        painter.setFont(font)
        for quad, delta_e in zip(
            chart.patch_quads, chart.white_balance.delta_e_per_patch, strict=True
        ):
            centre_x, centre_y = quad.mean(axis=0)
            box = QRectF(
                target.x() + centre_x * scale - 22, target.y() + centre_y * scale - 11, 44, 22
            )
            colour = "#2f9e6e" if delta_e < 3 else "#f0a020" if delta_e < 6 else "#ff4d4d"
            painter.fillRect(box, QColor(colour))
            painter.setPen(QColor("#000000"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, f"{delta_e:.1f}")

    def _paint_overlays(self, painter: QPainter, target: QRectF, scale: float) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        slow = metrics.slow
        if slow is not None and slow.chart is not None:
            corners = QPolygonF(
                [
                    QPointF(target.x() + x * scale, target.y() + y * scale)
                    for x, y in slow.chart.corners
                ]
            )
            painter.setPen(QPen(QColor("#00e0ff"), 3))
            painter.setBrush(QBrush())
            painter.drawPolygon(corners)
            if self.show_delta_e:
                self._paint_delta_e(painter, target, scale, slow.chart)
        if slow is not None and slow.drift is not None and slow.drift.translation_px > 0.2:
            centre = target.center()
            tip = centre + QPointF(slow.drift.dx_px, slow.drift.dy_px) * scale * DRIFT_ARROW_GAIN
            painter.setPen(QPen(QColor("#ffb020"), 5))
            painter.drawLine(centre, tip)
            painter.drawEllipse(tip, 6, 6)
        if metrics.stability.bump or not metrics.stability.stable:
            text = "TRIPOD BUMPED" if metrics.stability.bump else "UNSTABLE"
            banner = QRectF(target.x(), target.bottom() - 70, target.width(), 60)
            _paint_overlay_text(painter, banner, text, "#ff4d4d")

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw the frame scaled to fit, then the caption."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#000000"))
        if self._source_pixels is not None and self._pixels_sequence != self._last_sequence:
            self._pixels = self._fit_to_view(self._source_pixels)
            self._pixels_sequence = self._last_sequence
        if self._pixels is not None:
            image = qimage_from_rgb(self._pixels)
            # Overlays are in source pixels: scale from the source, not the reduced copy.
            width, height = self._source_size
            scale = min(self.width() / width, self.height() / height)
            target = QRectF(
                (self.width() - width * scale) / 2,
                (self.height() - height * scale) / 2,
                width * scale,
                height * scale,
            )
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(target, image)
            if self._zebra is not None:
                painter.drawImage(target, self._zebra)
            self._paint_overlays(painter, target, scale)
            if not self.signal:
                # The last picture stays, dimmed, under the words: no one mistakes it for live.
                painter.fillRect(target, QColor(0, 0, 0, 150))
                banner = QRectF(target.x(), target.center().y() - 40, target.width(), 80)
                _paint_overlay_text(painter, banner, "NO SIGNAL", "#ff4d4d")
            self.frames_painted += 1
        else:
            painter.setPen(QColor("#9aa4ae"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "waiting for the camera...")
        if self.selected:
            painter.setPen(QPen(QColor("#2f9e6e"), 4))
            painter.drawRect(self.rect().adjusted(2, 2, -2, -2))
        caption = f"{self.camera_id} · {self.angle_id} · {self.displayed_fps():.0f} fps"
        dropped, repeated = self._lost_frames
        if dropped or repeated:
            caption += f" · {dropped} dropped · {repeated} repeated"
        font = QFont(self.font())
        font.setPointSize(16)
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        box = QRectF(8, 8, metrics.horizontalAdvance(caption) + 20, metrics.height() + 10)
        painter.fillRect(box, QColor(0, 0, 0, 170))
        painter.setPen(QColor("#ffffff"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, caption)
        painter.end()


def _paint_overlay_text(painter: QPainter, rect: QRectF, text: str, colour: str) -> None:
    font = QFont(painter.font())
    font.setPointSize(28)
    font.setBold(True)
    painter.setFont(font)
    painter.fillRect(rect, QColor(colour))
    painter.setPen(QColor("#000000"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def best_columns(count: int, width: int, height: int, aspect: float = 16 / 9) -> int:
    """Return the column count that gives ``count`` tiles of ``aspect`` the largest size."""
    best, best_tile_width = 1, 0.0
    for columns in range(1, count + 1):
        rows = -(-count // columns)
        tile_width = min(width / columns, height / rows * aspect)
        if tile_width > best_tile_width:
            best, best_tile_width = columns, tile_width
    return best


class LiveGrid(QWidget):
    """Live views in a grid whose shape follows the space available."""

    def __init__(self, views: list[LiveView], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._views = views
        self._columns = 0
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._arrange(best_columns(len(views), 1280, 720))

    def _arrange(self, columns: int) -> None:
        if columns == self._columns:
            return
        self._columns = columns
        for view in self._views:
            self._layout.removeWidget(view)
        for index, view in enumerate(self._views):
            self._layout.addWidget(view, index // columns, index % columns)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Re-flow the tiles for the new size."""
        self._arrange(best_columns(len(self._views), self.width(), self.height()))
        super().resizeEvent(event)
