"""The bundle's files are loaded by path: a ``packaging`` package would hide the library of that name."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


@pytest.fixture(scope="session")
def manifest() -> dict[str, Any]:
    return runpy.run_path(str(PACKAGING / "manifest.py"))
