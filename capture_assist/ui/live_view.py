"""One camera's live picture, painted from the newest frame only."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QGridLayout, QSizePolicy, QWidget

from capture_assist.devices.base import Frame


def qimage_from_rgb(pixels: npt.NDArray[np.uint8]) -> QImage:
    """Wrap an RGB array as a QImage (the array must outlive the image)."""
    height, width, _channels = pixels.shape
    return QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB888)


class LiveView(QWidget):
    """Paints the newest frame of one camera, letterboxed, with its name and rate."""

    def __init__(self, camera_id: str, angle_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.camera_id = camera_id
        self.angle_id = angle_id
        self._pixels: npt.NDArray[np.uint8] | None = None
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
        self._pixels = frame.pixels
        self._arrivals.append(time.monotonic())
        self.update()

    def displayed_fps(self) -> float:
        """Frames per second shown over the last second or so."""
        if len(self._arrivals) < 2:
            return 0.0
        span = self._arrivals[-1] - self._arrivals[0]
        return (len(self._arrivals) - 1) / span if span > 0 else 0.0

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw the frame scaled to fit, then the caption."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#000000"))
        if self._pixels is not None:
            image = qimage_from_rgb(self._pixels)
            height, width = self._pixels.shape[:2]
            scale = min(self.width() / width, self.height() / height)
            target = QRectF(
                (self.width() - width * scale) / 2,
                (self.height() - height * scale) / 2,
                width * scale,
                height * scale,
            )
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(target, image)
            self.frames_painted += 1
        else:
            painter.setPen(QColor("#9aa4ae"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "waiting for the camera...")
        caption = f"{self.camera_id} · {self.angle_id} · {self.displayed_fps():.0f} fps"
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
