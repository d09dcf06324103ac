"""A dark theme with large type, for a laptop two metres away in a dark studio."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#0d0f12"
PANEL = "#161a1f"
TEXT = "#e6e6e6"
DIM_TEXT = "#9aa4ae"
ACCENT = "#2f9e6e"
WARNING = "#f0a020"
ERROR = "#ff4d4d"

STYLESHEET = f"""
QWidget {{ background: {BACKGROUND}; color: {TEXT}; font-size: 16pt; }}
QFrame#panel {{ background: {PANEL}; border-radius: 8px; }}
QFrame#panel QLabel {{ background: transparent; }}
QLabel#project {{ color: {DIM_TEXT}; font-size: 15pt; }}
QLabel#setup {{ font-size: 20pt; }}
QLabel#stepKind {{ color: {DIM_TEXT}; font-size: 15pt; letter-spacing: 2px; }}
QLabel#step {{ font-size: 32pt; font-weight: 600; }}
QLabel#beats {{ color: {DIM_TEXT}; font-size: 16pt; }}
QLabel#next {{ color: {DIM_TEXT}; font-size: 19pt; }}
QLabel#status {{ color: {DIM_TEXT}; font-size: 14pt; padding: 4px 8px; }}
QLabel#statusError {{ color: {ERROR}; font-size: 15pt; font-weight: 600; padding: 4px 8px; }}
QLabel#statusWarning {{ color: {WARNING}; font-size: 15pt; padding: 4px 8px; }}
QPushButton#capture {{
    background: {ACCENT}; color: #ffffff; font-size: 24pt; font-weight: 700;
    border: none; border-radius: 10px; padding: 18px;
}}
QPushButton#capture:disabled {{ background: #2a3a33; color: #7f8c86; }}
QProgressBar {{
    background: #222831; border: none; border-radius: 6px; height: 26px;
    text-align: center; font-size: 14pt; color: {TEXT};
}}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 6px; }}
QListWidget {{ background: {PANEL}; border: none; font-size: 14pt; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    """Apply the palette and style sheet to the whole application."""
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor(BACKGROUND))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Base, QColor(PANEL))
    palette.setColor(QPalette.ColorRole.Text, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Button, QColor(PANEL))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    app.setPalette(palette)
    app.setStyleSheet(STYLESHEET)
