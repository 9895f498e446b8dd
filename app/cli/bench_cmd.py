"""``python main.py bench [--quick] [--json] [--out DIR] [--only NAME ...] [--readme]``: the benchmarks.

They live in ``tests/bench`` (a source checkout's), measure each comparison side by side in one
run, print a table each, and write JSON and a PNG plot per benchmark to the output folder.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from app import paths


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="run the benchmarks (tables, JSON and plots)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (under two minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object keyed by benchmark (tables go to stderr)")
    parser.add_argument("--out", type=Path, help="where the JSON and plots go (default: bench-results)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--readme", action="store_true", help="also write the results into the README's section")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The benchmarks run in a process of their own, from the source checkout: the product never
    imports the test tree."""
    root = Path(__file__).resolve().parents[2]
    if paths.bundle_dir() is not None or not (root / "tests" / "bench" / "suite.py").is_file():
        print("pagemind: the benchmarks run from a source checkout (tests/bench is not here)", file=sys.stderr)
        return 2
    argv = [*(["--quick"] if args.quick else []), *(["--json"] if args.json else []),
            *(["--out", str(args.out.expanduser().resolve())] if args.out else []),
            *(["--only", *args.only] if args.only else []),
            *(["--readme"] if args.readme else [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "tests.bench.suite", *argv], cwd=root, env=env).returncode
