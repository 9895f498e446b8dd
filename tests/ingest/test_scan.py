"""Ignore rules and the folder walk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.ingest.ignore import DEFAULT_DIRS, DEFAULT_FILE_PATTERNS, IgnoreRules
from app.ingest.scan import ScanEntry, walk

REPO = Path(__file__).resolve().parents[2]
RULES = IgnoreRules()


def touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def paths(entries: list[ScanEntry], base: Path) -> list[str]:
    return [Path(entry.path).relative_to(base).as_posix() for entry in entries]


# --- ignore rules -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEFAULT_DIRS) + ["pagemind.egg-info", ".hidden", ".config"])
def test_default_and_hidden_dirs_are_ignored(name: str) -> None:
    assert RULES.ignored_dir(name)


@pytest.mark.parametrize("name", ["docs", "Build notes", "distance", "targets", "src", "egg-info-notes"])
def test_ordinary_dirs_are_kept(name: str) -> None:
    assert not RULES.ignored_dir(name)


@pytest.mark.parametrize(
    "name",
    [
        "~$report.docx", ".~lock.notes.odt#", "notes.txt~", ".#notes.txt", "#notes.txt#", "notes.txt.swp",
        "notes.txt.swo", "notes.txt.swx", "upload.tmp", "x.temp", "movie.mkv.part", "a.partial",
        "setup.exe.crdownload", "paper.pdf.download", "4913", "Thumbs.db", "desktop.ini", ".DS_Store",
        ".hidden", ".bashrc",
    ],
)
def test_editor_temporary_and_hidden_files_are_ignored(name: str) -> None:
    assert RULES.ignored_file(name)


def test_every_default_file_pattern_is_exercised() -> None:
    samples = ["~$a", ".~lock.a#", "a~", ".#a", "#a#", "a.swp", "a.swo", "a.swx", "a.tmp", "a.temp", "a.part",
               "a.partial", "a.crdownload", "a.download", "4913", "Thumbs.db", "desktop.ini", ".DS_Store"]
    assert len(samples) == len(DEFAULT_FILE_PATTERNS)
    assert all(RULES.ignored_file(sample) for sample in samples)


@pytest.mark.parametrize(
    "name", ["report.docx", "notes.txt", "notes.odt", "49130", "readme", "a#b", "temp.txt", "partial.md", "~notes"]
)
def test_ordinary_files_are_kept(name: str) -> None:
    assert not RULES.ignored_file(name)


def test_user_name_pattern() -> None:
    rules = IgnoreRules(["*.log"])
    assert rules.ignored_file("server.log", "logs/server.log")
    assert not rules.ignored_file("server.txt", "logs/server.txt")
    assert not rules.ignored_file("server.LOG")  # case-sensitive
    assert rules.ignored_dir("old.log")


def test_user_path_pattern_matches_the_relative_path() -> None:
    rules = IgnoreRules(["drafts/*.md"])
    assert rules.ignored_file("a.md", "drafts/a.md")
    assert not rules.ignored_file("a.md", "final/a.md")
    assert not rules.ignored_file("a.md", "a.md")
    assert not rules.ignored_file("a.txt", "drafts/a.txt")


def test_user_dir_only_pattern() -> None:
    rules = IgnoreRules(["private/", "  ", ""])
    assert rules.ignored_dir("private", "private")
    assert rules.ignored_dir("private", "work/private")
    assert not rules.ignored_file("private", "private")


def test_ignored_path_judges_every_folder_on_the_way(tmp_path: Path) -> None:
    rules = IgnoreRules(["private/", "drafts/*.md"])
    root = tmp_path / "root"
    assert not rules.ignored_path(root / "docs" / "a.txt", root)
    assert not rules.ignored_path(root, root, is_dir=True)
    assert rules.ignored_path(root / "docs" / ".git" / "objects" / "ab", root)
    assert rules.ignored_path(root / "node_modules" / "pkg" / "index.js", root)
    assert rules.ignored_path(root / "a" / "b" / "__pycache__" / "m.pyc", root)
    assert rules.ignored_path(root / "a" / "private" / "b" / "c.txt", root)
    assert rules.ignored_path(root / "docs" / "a.txt.swp", root)
    assert rules.ignored_path(root / "drafts" / "x.md", root)
    assert not rules.ignored_path(root / "drafts" / "x.txt", root)
    assert rules.ignored_path(root / "docs" / ".git", root, is_dir=True)
    assert not rules.ignored_path(root / "docs" / "private", root)  # a file named like the folder pattern
    assert rules.ignored_path(root / "docs" / "private", root, is_dir=True)


def test_ignored_path_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert RULES.ignored_path(tmp_path / "other" / "a.txt", root)
    assert RULES.ignored_path(tmp_path / "a.txt", root)
    assert RULES.ignored_path(root / ".." / "a.txt", root)


def test_ignored_path_does_not_need_the_path_to_exist(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    assert not RULES.ignored_path(gone / "sub" / "a.txt", gone)
    assert not RULES.ignored_path(gone / "sub", gone, is_dir=True)


# --- walk -----------------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    touch(root / "b.txt", "bb")
    touch(root / "a.txt", "a")
    touch(root / "sub" / "z.md", "zzz")
    touch(root / "sub" / "deeper" / "y.md")
    touch(root / "sub2" / "x.md")
    touch(root / ".git" / "config")
    touch(root / "node_modules" / "pkg" / "index.js")
    touch(root / "sub" / "__pycache__" / "m.pyc")
    touch(root / "sub" / "notes.txt.swp")
    touch(root / ".hidden.txt")
    return root


def test_walk_is_recursive_sorted_and_skips_ignored(tree: Path) -> None:
    assert paths(list(walk(tree, RULES)), tree) == [
        "a.txt", "b.txt", "sub/z.md", "sub/deeper/y.md", "sub2/x.md",
    ]


def test_walk_is_deterministic(tree: Path) -> None:
    assert list(walk(tree, RULES)) == list(walk(tree, RULES))


def test_walk_not_recursive(tree: Path) -> None:
    assert paths(list(walk(tree, RULES, recursive=False)), tree) == ["a.txt", "b.txt"]
    assert paths(list(walk(tree / "sub", RULES, tree, recursive=False)), tree) == ["sub/z.md"]


def test_walk_sub_folder_with_root(tree: Path) -> None:
    rules = IgnoreRules(["sub/deeper/"])
    assert paths(list(walk(tree / "sub", rules, tree)), tree) == ["sub/z.md"]
    assert list(walk(tree / "sub" / "deeper", rules, tree)) == []
    assert list(walk(tree / ".git", RULES, tree)) == []
    assert paths(list(walk(tree / "sub" / "deeper", RULES, tree)), tree) == ["sub/deeper/y.md"]


def test_walk_user_patterns_use_paths_relative_to_root(tree: Path) -> None:
    rules = IgnoreRules(["sub/*.md"])
    assert paths(list(walk(tree / "sub", rules, tree)), tree) == []  # "*" crosses "/"
    rules = IgnoreRules(["z.md"])
    assert paths(list(walk(tree / "sub", rules, tree)), tree) == ["sub/deeper/y.md"]


def test_walk_sizes_and_mtimes(tree: Path) -> None:
    os.utime(tree / "b.txt", (1_600_000_000, 1_600_000_000.5))
    entries = {Path(e.path).name: e for e in walk(tree, RULES)}
    assert entries["b.txt"] == ScanEntry(str(tree / "b.txt"), 2, 1_600_000_000.5)
    assert entries["z.md"].size == 3
    assert entries["z.md"].mtime == (tree / "sub" / "z.md").stat().st_mtime
    assert all(e.error is None and os.path.isabs(e.path) for e in entries.values())


def test_walk_skips_symlinks_and_loops(tree: Path, tmp_path: Path) -> None:
    outside = touch(tmp_path / "outside" / "secret.txt")
    (tree / "loop").symlink_to(tree, target_is_directory=True)
    (tree / "sub" / "up").symlink_to(tree / "sub", target_is_directory=True)
    (tree / "out").symlink_to(outside.parent, target_is_directory=True)
    (tree / "link.txt").symlink_to(tree / "a.txt")
    (tree / "dangling.txt").symlink_to(tree / "missing.txt")
    assert paths(list(walk(tree, RULES)), tree) == ["a.txt", "b.txt", "sub/z.md", "sub/deeper/y.md", "sub2/x.md"]


def test_walk_skips_special_files(tmp_path: Path) -> None:
    touch(tmp_path / "a.txt")
    os.mkfifo(tmp_path / "pipe")
    assert paths(list(walk(tmp_path, RULES)), tmp_path) == ["a.txt"]


def test_walk_missing_directory_yields_nothing(tmp_path: Path) -> None:
    assert list(walk(tmp_path / "missing", RULES)) == []
    assert list(walk(tmp_path / "missing" / "sub", RULES, tmp_path)) == []


def test_walk_file_argument_yields_itself(tree: Path) -> None:
    assert list(walk(tree / "a.txt", RULES, tree)) == [ScanEntry(str(tree / "a.txt"), 1, (tree / "a.txt").stat().st_mtime)]
    assert list(walk(tree / "sub" / "notes.txt.swp", RULES, tree)) == []
    assert list(walk(tree / ".git" / "config", RULES, tree)) == []


def test_walk_outside_root_yields_nothing(tree: Path, tmp_path: Path) -> None:
    touch(tmp_path / "elsewhere" / "a.txt")
    assert list(walk(tmp_path / "elsewhere", RULES, tree)) == []


def test_walk_deep_tree_has_no_recursion_limit(tmp_path: Path) -> None:
    deep = str(tmp_path)
    for _ in range(sys.getrecursionlimit() + 100):  # deeper than the recursion limit, within PATH_MAX
        deep = os.path.join(deep, "d")
        os.mkdir(deep)
    touch(Path(deep) / "leaf.txt")
    try:
        assert [Path(e.path).name for e in walk(tmp_path, RULES)] == ["leaf.txt"]
    finally:  # removed bottom-up here, as a recursive removal could hit the same limit
        os.remove(os.path.join(deep, "leaf.txt"))
        while deep != str(tmp_path):
            os.rmdir(deep)
            deep = os.path.dirname(deep)


def test_walk_relative_directory_gives_absolute_paths(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    assert [e.path for e in walk(Path("root") / "sub2", RULES)] == [str(tree / "sub2" / "x.md")]


# --- unreadable folders ---------------------------------------------------------------------------

_WALK_AS_JSON = """
import dataclasses, json, sys
from pathlib import Path
from app.ingest.ignore import IgnoreRules
from app.ingest.scan import walk
print(json.dumps([dataclasses.asdict(e) for e in walk(Path(sys.argv[1]), IgnoreRules())]))
"""


def walk_without_privileges(directory: Path) -> list[ScanEntry]:
    """Walk ``root`` as the current user, or in a subprocess without the DAC capabilities when root."""
    if os.geteuid() != 0:
        return list(walk(directory, RULES))
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be enforced")
    command = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search",
               sys.executable, "-c", _WALK_AS_JSON, str(directory)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO.parent, timeout=60, check=False)
    if done.returncode != 0 and "setpriv" in done.stderr and "Traceback" not in done.stderr:
        pytest.skip(f"setpriv cannot drop capabilities here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return [ScanEntry(**item) for item in json.loads(done.stdout)]


@pytest.fixture
def locked_tree(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "root"
    touch(root / "a.txt")
    touch(root / "locked" / "secret.txt")
    touch(root / "listable" / "c.txt")
    touch(root / "open" / "b.txt")
    touch(root / "z.txt")
    (root / "locked").chmod(0o000)
    (root / "listable").chmod(0o444)  # can be listed, not entered
    yield root
    for name in ("locked", "listable"):
        (root / name).chmod(0o755)


def test_unreadable_folder_gives_an_error_entry_and_the_walk_goes_on(locked_tree: Path) -> None:
    entries = walk_without_privileges(locked_tree)
    assert paths(entries, locked_tree) == ["a.txt", "z.txt", "listable", "locked", "open/b.txt"]
    errors = [e for e in entries if e.error]
    assert [e.path for e in errors] == [str(locked_tree / "listable"), str(locked_tree / "locked")]
    for error in errors:
        assert (error.size, error.mtime) == (0, 0.0)
        assert error.error == "cannot read the folder: permission denied"


def test_unreadable_directory_argument(locked_tree: Path) -> None:
    entries = walk_without_privileges(locked_tree / "locked")
    assert [(e.path, e.error) for e in entries] == [
        (str(locked_tree / "locked"), "cannot read the folder: permission denied")
    ]
