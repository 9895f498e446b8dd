"""``python main.py bench [--quick] [--json] [--out DIR] [--only NAME ...] [--readme]``: the benchmarks.

They live in ``tests/bench`` (a source checkout's), measure each comparison side by side in one
run, print a table each, and write JSON and a PNG plot per benchmark to the output folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="run the benchmarks (tables, JSON and plots)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (under two minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object keyed by benchmark (tables go to stderr)")
    parser.add_argument("--out", type=Path, help="where the JSON and plots go (default: bench-results)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--readme", action="store_true", help="also write the results into the README's section")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from tests.bench import report, suite
    except ImportError:
        print("pagemind: the benchmarks run from a source checkout (tests/bench is not here)", file=sys.stderr)
        return 2
    out = (args.out or report.DEFAULT_OUT).expanduser().resolve()
    if out.exists() and not out.is_dir():
        print(f"pagemind: --out must be a folder; {out} is a file", file=sys.stderr)
        return 2
    try:
        suite.benchmarks(args.only)
    except ValueError as exc:
        print(f"pagemind: {exc}", file=sys.stderr)
        return 2
    results = suite.run(args.quick, out, args.only, stream=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps({name: result.to_json() if isinstance(result, report.Result) else {"error": result}
                          for name, result in results.items()}, indent=2, default=str))
    else:
        print(f"\nJSON and plots: {out}")
    if args.readme:
        suite.update_readme(results, out, args.quick)
    return 0 if all(isinstance(result, report.Result) for result in results.values()) else 1
