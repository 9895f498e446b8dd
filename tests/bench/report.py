"""Where benchmark results go: ``bench-results/NAME.json``, and a table of the flat numbers."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def save(name: str, results: dict) -> Path:
    out = ROOT / "bench-results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return out


def print_numbers(results: dict) -> None:
    """One line per number in ``results`` (nested tables are printed by their benchmark)."""
    numbers = {key: value for key, value in results.items() if isinstance(value, (int, float))}
    width = max(map(len, numbers), default=0)
    for key, value in numbers.items():
        print(f"{key:<{width}}  {value:10.3f}")
