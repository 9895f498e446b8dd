"""The benchmark plumbing (not the benchmarks): tables, plots, the README section, the command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench import report, suite

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str = "decode") -> report.Result:
    return report.Result(name, "Decode tokens/s", ["", "tokens/s", "vs raw"],
                         [["ours", 9.04, 1.02], ["raw", 8.87, 1.0], ["count", 1234567, None]],
                         {"series": [1.0, 2.0]}, headline="1.02x raw", plot=f"{name}.png")


def test_tables_align_and_format_numbers() -> None:
    text = report.table(sample().columns, sample().rows)
    lines = text.splitlines()
    assert lines[0].split() == ["tokens/s", "vs", "raw"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["ours", "9.04", "1.02"] and lines[4].split() == ["count", "1,234,567", "None"]
    assert len({len(line) for line in lines}) == 1  # every row as wide as the header
    assert report.markdown_table(["a", "b"], [["x", 0.1234]]).splitlines() == ["| a | b |", "| --- | ---: |",
                                                                             "| x | 0.123 |"]


def test_percentiles() -> None:
    values = list(range(1, 101))
    assert report.p50(values) == 50.5
    assert report.p95(values) == 95


def test_a_plot_is_written(tmp_path: Path) -> None:
    with report.figure(tmp_path, "decode", "Decode") as ax:
        ax.bar(["ours", "raw"], [9.0, 8.9])
    assert (tmp_path / "decode.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_readme_section_is_replaced_between_its_markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{suite.START}\nold numbers\n{suite.END}\n\n## After\n")
    monkeypatch.setattr(suite, "README", readme)
    monkeypatch.setattr(suite, "DOCS", tmp_path / "docs" / "bench")
    out = tmp_path / "out"
    with report.figure(out, "decode", "Decode") as ax:
        ax.plot([1, 2], [3, 4])
    suite.update_readme({"decode": sample(), "search": "RuntimeError: broken"}, out, quick=True)
    text = readme.read_text()
    assert text.startswith("# Title\n\n") and text.endswith("\n\n## After\n") and "old numbers" not in text
    assert "| Decode tokens/s | 1.02x raw |" in text and "(`--quick`)" in text
    assert "![Decode tokens/s](docs/bench/decode.png)" in text and "| ours | 9.04 | 1.02 |" in text
    assert (tmp_path / "docs" / "bench" / "decode.png").is_file()
    assert "broken" not in text

    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="markers"):
        suite.update_readme({}, out, quick=True)


def test_every_benchmark_is_a_module_with_its_name() -> None:
    for module in suite.benchmarks():
        assert module.NAME == module.__name__.rsplit(".", 1)[1] and module.TITLE and callable(module.run)


def test_an_unknown_benchmark_is_refused() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "bench", "--only", "warp"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "no benchmark named warp" in done.stderr and "decode" in done.stderr


def test_an_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    taken = tmp_path / "results.txt"
    taken.write_text("mine")
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "bench", "--out", str(taken)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "--out must be a folder" in done.stderr
    assert taken.read_text() == "mine"
