"""Running ``main.py`` as a user does: a real subprocess with its own PAGEMIND_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, home: Path, prefix: tuple[str, ...] = (), timeout: float = 300,
        cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python main.py ARGS`` with ``home`` as its PAGEMIND_HOME (and ``prefix`` before it: ``timeout -s KILL``)."""
    environment = {**os.environ, **(env or {}), "PAGEMIND_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([*prefix, sys.executable, str(ROOT / "main.py"), *args], cwd=cwd or ROOT,
                          env=environment, capture_output=True, text=True, timeout=timeout)


def cli(home: Path, *args: str, prefix: tuple[str, ...] = (), timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run(*args, home=home, prefix=prefix, timeout=timeout)


def write_notes(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        (folder / f"note{k:04d}.txt").write_text(f"Note {k}: the meeting about project number {k} went well.\n")


def database_rows(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "data" / "pagemind.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()
