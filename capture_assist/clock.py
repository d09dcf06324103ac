"""The one session clock: monotonic seconds, mapped to wall time and SMPTE timecode.

Every frame, beat and take is stamped with ``SessionClock.now()`` so that
timestamps from different sources can be compared directly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DROP_FRAME_RATES = (29.97, 59.94)
SUPPORTED_RATES = (23.976, 24.0, 25.0, 29.97, 30.0, 47.952, 48.0, 50.0, 59.94, 60.0)


@dataclass(frozen=True)
class SessionClock:
    """Monotonic clock anchored to a wall-clock instant at session start.

    Parameters
    ----------
    origin_monotonic_s
        ``time.monotonic()`` at the anchor instant.
    origin_wall
        Wall-clock time (UTC) at the same instant.
    """

    origin_monotonic_s: float = field(default_factory=time.monotonic)
    origin_wall: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> float:
        """Return seconds since the anchor on the monotonic clock."""
        return time.monotonic() - self.origin_monotonic_s

    def wall_time(self, session_s: float) -> datetime:
        """Return the wall-clock time of a session timestamp."""
        return self.origin_wall + timedelta(seconds=session_s)

    def timecode(self, session_s: float, rate: float = 25.0) -> str:
        """Return the SMPTE time-of-day timecode of a session timestamp."""
        wall = self.wall_time(session_s)
        midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
        return timecode_from_seconds((wall - midnight).total_seconds(), rate)


def timecode_from_seconds(seconds: float, rate: float) -> str:
    """Format seconds as SMPTE ST 12-1 timecode at ``rate`` frames per second.

    Drop-frame counting (``HH:MM:SS;FF``) is used at 29.97 and 59.94 fps, where
    the frame count runs slower than the clock; all other rates are non-drop.
    """
    if not any(math.isclose(rate, r, abs_tol=1e-3) for r in SUPPORTED_RATES):
        raise ValueError(f"unsupported timecode rate {rate}; use one of {SUPPORTED_RATES}")
    nominal = round(rate)
    # 23.976, 29.97, 47.952 and 59.94 stand for N * 1000/1001 exactly.
    exact_rate = nominal * 1000 / 1001 if not math.isclose(rate, nominal) else float(nominal)
    frames = math.floor(seconds * exact_rate + 1e-6)
    drop = any(math.isclose(rate, r, abs_tol=1e-3) for r in DROP_FRAME_RATES)
    if drop:
        # Skip frame numbers 0 and 1 (2 and 3 at 59.94) of every minute
        # except each tenth minute, as SMPTE drop-frame prescribes.
        dropped_per_minute = 2 * (nominal // 30)
        frames_per_10_min = nominal * 600 - dropped_per_minute * 9
        frames_per_min = nominal * 60 - dropped_per_minute
        tens, rest = divmod(frames, frames_per_10_min)
        if rest > dropped_per_minute:
            extra = dropped_per_minute * ((rest - dropped_per_minute) // frames_per_min)
        else:
            extra = 0
        frames += dropped_per_minute * 9 * tens + extra
    ff = frames % nominal
    total_s = frames // nominal
    ss = total_s % 60
    mm = (total_s // 60) % 60
    hh = (total_s // 3600) % 24
    separator = ";" if drop else ":"
    return f"{hh:02d}:{mm:02d}:{ss:02d}{separator}{ff:02d}"
