"""Runs the benchmarks (``python main.py bench``): tables on stdout, JSON and plots in the output
folder, and on request the README's benchmark section."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import TextIO

from tests.bench import report

NAMES = ("decode", "tool_call", "turns", "search", "ingest", "chat_while_ingesting", "router_and_start")
"""In the issue's order; each is a module's name, its NAME, and its key in the JSON."""
README = report.ROOT / "README.md"
DOCS = report.ROOT / "docs" / "bench"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def benchmarks(only: list[str] | None = None) -> list[ModuleType]:
    unknown = [name for name in only or () if name not in NAMES]
    if unknown:
        raise ValueError(f"no benchmark named {', '.join(unknown)} (there are: {', '.join(NAMES)})")
    return [importlib.import_module(f"tests.bench.{name}") for name in NAMES if not only or name in only]


def run(quick: bool, out: Path, only: list[str] | None = None,
        stream: TextIO = sys.stdout) -> dict[str, report.Result | str]:
    """Every benchmark in turn; a failure is reported and the others still run."""
    results: dict[str, report.Result | str] = {}
    for module in benchmarks(only):
        print(f"\n== {module.TITLE}", file=stream, flush=True)
        start = time.perf_counter()
        try:
            result = module.run(quick, out)
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc(file=sys.stderr)
            results[module.NAME] = f"{type(exc).__name__}: {exc}"
            print(f"FAILED: {results[module.NAME]}", file=stream, flush=True)
            continue
        result.seconds = time.perf_counter() - start
        report.save(out, result)
        print(report.table(result.columns, result.rows), file=stream)
        print(f"-> {result.headline}  ({result.seconds:.0f} s)", file=stream, flush=True)
        results[module.NAME] = result
    summary = {"quick": quick, "machine": report.machine(),
               "benchmarks": {name: (r.headline if isinstance(r, report.Result) else f"failed: {r}")
                              for name, r in results.items()}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return results


def readme_section(results: dict[str, report.Result | str], quick: bool) -> str:
    """The README's benchmark section: the machine, one line per benchmark, each table and plot."""
    machine = report.machine()
    lines = [START, "",
             f"Measured on {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
             f"{machine['os']}, Python {machine['python']}, llama-cpp-python {machine.get('llama_cpp_python', '?')}, "
             f"DuckDB {machine.get('duckdb', '?')}" + (" (`--quick`)." if quick else "."), "",
             "| benchmark | result |", "| --- | --- |"]
    done = [r for r in results.values() if isinstance(r, report.Result)]
    lines += [f"| {r.title} | {r.headline} |" for r in done]
    for r in done:
        lines += ["", f"### {r.title}", "", report.markdown_table(r.columns, r.rows)]
        if r.plot:
            lines += ["", f"![{r.title}](docs/bench/{r.plot})"]
    return "\n".join([*lines, "", END])


def update_readme(results: dict[str, report.Result | str], out: Path, quick: bool) -> None:
    """Put the section between the README's markers and copy the plots to docs/bench."""
    text = README.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{README} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(head + readme_section(results, quick) + tail)
    DOCS.mkdir(parents=True, exist_ok=True)
    for result in results.values():
        if isinstance(result, report.Result) and result.plot:
            shutil.copyfile(out / result.plot, DOCS / result.plot)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.bench.suite [--quick] [--json] [--out DIR] [--only NAME ...] [--readme]``:
    what ``python main.py bench`` runs (in a process of its own: the app never imports the tests)."""
    import argparse

    parser = argparse.ArgumentParser(prog="pagemind bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", nargs="+")
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args(argv)
    out = (args.out or report.DEFAULT_OUT).expanduser().resolve()
    if out.exists() and not out.is_dir():
        print(f"pagemind: --out must be a folder; {out} is a file", file=sys.stderr)
        return 2
    try:
        benchmarks(args.only)
    except ValueError as exc:
        print(f"pagemind: {exc}", file=sys.stderr)
        return 2
    results = run(args.quick, out, args.only, stream=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps({name: result.to_json() if isinstance(result, report.Result) else {"error": result}
                          for name, result in results.items()}, indent=2, default=str))
    else:
        print(f"\nJSON and plots: {out}")
    if args.readme:
        update_readme(results, out, args.quick)
    return 0 if all(isinstance(result, report.Result) for result in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
