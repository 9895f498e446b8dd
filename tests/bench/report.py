"""What every benchmark shares: its result, the table it prints, its JSON and its plot.

A benchmark is a module in ``tests/bench`` with ``NAME`` (its key in ``bench --json``), ``TITLE``
and ``run(quick: bool, out: Path) -> Result``. It measures the things it compares side by side in
one run, draws its plot with :func:`figure` and returns a :class:`Result`; the suite prints the
table and writes ``out/NAME.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import textwrap
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "bench-results"


@dataclass
class Result:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    """The table: one row per thing measured; numbers are formatted when printed."""
    numbers: dict[str, Any] = field(default_factory=dict)
    """Everything measured, for the JSON (raw series included)."""
    headline: str = ""
    """One line: the ratio this benchmark exists for (shown in the README's summary)."""
    plot: str = ""
    """The PNG's file name in the output folder, if the benchmark drew one."""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        magnitude = abs(value)
        return f"{value:,.0f}" if magnitude >= 100 else f"{value:.2f}" if magnitude >= 1 else f"{value:.3f}"
    return str(value)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [list(columns)] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "| " + " | ".join(columns) + " |"
    rule = "| " + " | ".join("---" if i == 0 else "---:" for i in range(len(columns))) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])


@contextlib.contextmanager
def figure(out: Path, name: str, title: str, *, width: float = 7.0, height: float = 4.0) -> Iterator[Any]:
    """A matplotlib Axes to draw on; saved as ``out/name.png`` when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    try:
        yield ax
        ax.set_title(textwrap.fill(title, 64), fontsize=10)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        out.mkdir(parents=True, exist_ok=True)
        fig.savefig(out / f"{name}.png")
    finally:
        plt.close(fig)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import psutil

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("llama_cpp_python", "duckdb", "PySide6", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            versions[dist] = version(dist)
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **versions,
    }


def save(out: Path, result: Result) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result.name}.json"
    path.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n")
    return path


def shape_alike_path() -> Path:
    """The shape-alike 0.5B chat model (Qwen2.5-0.5B's shapes, random weights), built once into the cache."""
    import sys

    from app import paths
    from models import synthetic

    path = paths.cache_dir() / "bench" / "shape-alike-0.5b.gguf"
    if not path.exists():
        print("building the shape-alike model (about 1 GB) ...", file=sys.stderr)
        synthetic.shape_alike(path)
    return path
