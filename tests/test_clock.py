import math
from datetime import UTC, datetime

import pytest

from capture_assist.clock import SessionClock, timecode_from_seconds


@pytest.mark.parametrize(
    ("seconds", "rate", "expected"),
    [
        (0.0, 25.0, "00:00:00:00"),
        (1.0, 25.0, "00:00:01:00"),
        (3661.0 + 12 / 25, 25.0, "01:01:01:12"),
        (59.0 + 23 / 24, 24.0, "00:00:59:23"),
        (10.5, 50.0, "00:00:10:25"),
        (86400.0 + 1.0, 30.0, "00:00:01:00"),
    ],
)
def test_non_drop_frame(seconds: float, rate: float, expected: str) -> None:
    assert timecode_from_seconds(seconds, rate) == expected


def test_drop_frame_skips_two_numbers_each_minute_but_every_tenth() -> None:
    rate = 30000 / 1001
    # Frame 1800 at 29.97 is the first frame of minute 1: numbers ;00 and ;01 are skipped.
    assert timecode_from_seconds(1799 / rate, 29.97) == "00:00:59;29"
    assert timecode_from_seconds(1800 / rate, 29.97) == "00:01:00;02"
    # Minute 10 keeps its first two numbers.
    assert timecode_from_seconds(17982 / rate, 29.97) == "00:10:00;00"
    # One hour of 29.97 material reads one hour of timecode (that is what drop frame is for).
    assert timecode_from_seconds(107892 / rate, 29.97) == "01:00:00;00"


def test_drop_frame_at_59_94_skips_four() -> None:
    rate = 60000 / 1001
    assert timecode_from_seconds(3600 / rate, 59.94) == "00:01:00;04"
    assert timecode_from_seconds(215784 / rate, 59.94) == "01:00:00;00"


def test_unsupported_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported timecode rate"):
        timecode_from_seconds(1.0, 27.0)


def test_session_clock_maps_to_wall_time_and_timecode() -> None:
    origin = datetime(2026, 11, 24, 13, 30, 0, tzinfo=UTC)
    clock = SessionClock(origin_monotonic_s=0.0, origin_wall=origin)
    assert clock.wall_time(90.0) == datetime(2026, 11, 24, 13, 31, 30, tzinfo=UTC)
    assert clock.timecode(90.0 + 5 / 25, 25.0) == "13:31:30:05"
    assert math.isfinite(clock.now())
