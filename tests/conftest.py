"""Shared test setup: one torch thread (as the app uses), small helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def nntui_cmd() -> list[str]:
    """The real console script of this environment (falls back to python -m nntui)."""
    script = Path(sys.executable).with_name("nntui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nntui"]
