"""The two vendor modes of the PTP/IP camera emulator (``start_emulator`` is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from emulator import EmulatorProcess


@pytest.fixture
def nikon_emulator(start_emulator: Callable[..., EmulatorProcess]) -> EmulatorProcess:
    return start_emulator(vendor="nikon")


@pytest.fixture
def generic_emulator(start_emulator: Callable[..., EmulatorProcess]) -> EmulatorProcess:
    return start_emulator(vendor="generic")
