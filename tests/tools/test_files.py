"""The file tools on real files: results, limits said aloud, and one clear error per bad input.

HOME and the trash live below tmp_path, so no test touches the real home or the real trash.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from tests.tools.files_support import run, snapshot
from tools import files
from tools.registry import Effects

# -- list_dir -----------------------------------------------------------------------------------------

def listed(result: str) -> list[str]:
    """The entry names of a list_dir result, in order."""
    return [line.split("  ")[0].split(" -> ")[0] for line in result.splitlines()[1:] if not line.startswith("...")]

pytestmark = pytest.mark.usefixtures("home")


def test_list_dir_sorts_by_name_size_or_time_and_hides_dot_files(work: Path):
    (work / "Big.log").write_bytes(b"x" * 5000)
    os.utime(work / "a.txt", (1e9, 1e9))
    os.utime(work / "Big.log", (2e9, 2e9))
    by_name = run(files.list_dir, path=str(work))
    assert by_name.splitlines()[0] == (f"{work}: 2 folders, 4 files, and 1 hidden entries not shown "
                                       "(hidden=true shows them); sorted by name:")
    assert listed(by_name) == ["a.txt", "Big.log", "docs/", "empty/", "private.txt", "script.sh"]
    by_size = listed(run(files.list_dir, path=str(work), sort="size"))
    assert by_size[:4] == ["Big.log", "script.sh", "private.txt", "a.txt"]
    assert listed(run(files.list_dir, path=str(work), sort="modified"))[0] == "Big.log"
    assert listed(run(files.list_dir, path=str(work), sort="modified"))[-1] == "a.txt"
    assert ".hidden" in listed(run(files.list_dir, path=str(work), hidden=True))


def test_list_dir_shows_sizes_folders_and_links(work: Path):
    result = run(files.list_dir, path="~/work/docs")
    assert "b.md  300 B  " in result and "\ndeep/  " in result and "link-to-a -> ../a.txt" in result


def test_list_dir_says_when_it_stops_at_the_limit_and_is_quick_on_a_big_folder(tmp_path: Path):
    big = tmp_path / "big"
    big.mkdir()
    for i in range(5000):
        (big / f"file{i:04}.txt").write_bytes(b"x" * (i % 97))
    started = time.perf_counter()
    result = run(files.list_dir, path=str(big), sort="size", limit=20)
    assert time.perf_counter() - started < 2.0
    assert len(listed(result)) == 20
    assert result.endswith("... 4980 more not shown (limit 20; raise it, or use find_files).")


def test_list_dir_errors_name_the_problem(work: Path):
    assert run(files.list_dir, path=str(work / "a.txt")) == (
        f"Error: NotADirectoryError: {work / 'a.txt'} is a file, not a folder")
    assert run(files.list_dir, path=str(work / "nope")) == f"Error: FileNotFoundError: {work / 'nope'} does not exist"


# -- find_files ---------------------------------------------------------------------------------------

def test_find_files_by_glob_or_name_fragment_nearest_first(work: Path):
    (work / "docs" / "deep" / "notes.md").write_text("n")
    result = run(files.find_files, root=str(work), pattern="*.MD")
    assert result.splitlines()[0] == f"2 found for '*.MD' under {work}:"
    assert [line.split("  ")[0] for line in result.splitlines()[1:]] == [
        str(work / "docs" / "b.md"), str(work / "docs" / "deep" / "notes.md")]
    assert str(work / "script.sh") in run(files.find_files, root="~/work", pattern="SCRI")
    assert run(files.find_files, root=str(work), pattern="zebra") == f"0 found for 'zebra' under {work}."


def test_find_files_skips_hidden_entries_unless_the_pattern_starts_with_a_dot(work: Path):
    assert run(files.find_files, root=str(work), pattern="hidden").startswith("0 found")
    assert str(work / ".hidden") in run(files.find_files, root=str(work), pattern=".hid")


def test_find_files_filters_by_date_and_size(work: Path):
    os.utime(work / "a.txt", (1.5e9, 1.5e9))  # 2017
    recent = run(files.find_files, root=str(work), pattern="*.txt", modified_since="2020-01-01")
    assert "private.txt" in recent and "a.txt" not in recent
    sized = run(files.find_files, root=str(work), pattern="*", min_size=256, max_size=299)
    assert sized.splitlines()[0].startswith("1 found") and "c.bin  256 B" in sized
    assert run(files.find_files, root=str(work), pattern="d*", max_size=10**9).startswith("0 found")  # no folders


def test_find_files_stops_at_the_limit_or_the_time_and_says_so(work: Path, monkeypatch: pytest.MonkeyPatch):
    for i in range(30):
        (work / "empty" / f"photo{i}.jpg").write_bytes(b"")
    limited = run(files.find_files, root=str(work), pattern="photo", limit=10)
    assert len(limited.splitlines()) == 12
    assert limited.endswith("Stopped at the limit of 10: there may be more (narrow the search or raise limit).")
    monkeypatch.setattr(files, "SEARCH_SECONDS", -1.0)
    assert "Stopped after -1 seconds: there may be more" in run(files.find_files, root=str(work), pattern="photo")


def test_find_files_does_not_follow_links_out_of_the_folder(work: Path, tmp_path: Path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("s")
    (work / "out").symlink_to(tmp_path / "outside")
    assert run(files.find_files, root=str(work), pattern="secret").startswith("0 found")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_find_files_skips_unreadable_folders(work: Path):
    (work / "docs").chmod(0)
    try:
        result = run(files.find_files, root=str(work), pattern="*")
    finally:
        (work / "docs").chmod(0o755)
    assert "Skipped 1 folders that could not be read." in result


def test_find_files_errors_name_the_problem(work: Path):
    assert run(files.find_files, root=str(work), pattern="x", modified_since="last week") == (
        "Error: ValueError: modified_since must be a date like 2026-03-31, not 'last week'")
    assert run(files.find_files, root=str(work), pattern="x", min_size=10, max_size=1) == (
        "Error: ValueError: min_size is above max_size")
    assert run(files.find_files, root=str(work), pattern="  ") == "Error: ValueError: the pattern is empty"


# -- read_file ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "encoding"), [
    ("naïve café\n".encode(), "utf-8"),
    ("\ufeffnaïve café\n".encode(), "utf-8-sig"),
    ("naïve café\n".encode("utf-16"), "utf-16"),
    ("naïve café\n".encode("utf-16-be").join([b"\xfe\xff", b""]), "utf-16"),
    ("naïve café\n".encode("latin-1"), "latin-1"),
])
def test_read_file_detects_the_encoding(tmp_path: Path, data: bytes, encoding: str):
    (tmp_path / "t.txt").write_bytes(data)
    expected = f"{tmp_path / 't.txt'} ({encoding}, 11 characters):\nnaïve café\n"
    assert run(files.read_file, path=str(tmp_path / "t.txt")) == expected


def test_read_file_reads_on_past_its_limit(tmp_path: Path):
    (tmp_path / "long.txt").write_text("".join(f"{i:05}\n" for i in range(2000)))  # 12,000 characters
    first = run(files.read_file, path=str(tmp_path / "long.txt"), max_chars=12)
    assert first == f"{tmp_path / 'long.txt'} (utf-8, characters 0 to 12):\n00000\n00001\n\n" \
                    "[the file goes on: read_file with start=12 reads on]"
    last = run(files.read_file, path=str(tmp_path / "long.txt"), start=11994)
    assert last == f"{tmp_path / 'long.txt'} (utf-8, characters 11994 to 12000, the end):\n01999\n"
    past = run(files.read_file, path=str(tmp_path / "long.txt"), start=12000)
    assert past == f"Error: ValueError: start=12000 is past the end of {tmp_path / 'long.txt'} (12000 characters)"


def test_read_file_reads_the_start_of_a_big_file_quickly(tmp_path: Path):
    (tmp_path / "big.log").write_bytes("ü".encode() * 20_000_000)
    started = time.perf_counter()
    result = run(files.read_file, path=str(tmp_path / "big.log"))
    assert time.perf_counter() - started < 1.0
    assert result.endswith("ü\n[the file goes on: read_file with start=3500 reads on]")


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", bytes(range(128, 256)) * 4, b"text\x00more"])
def test_read_file_refuses_binary_files(tmp_path: Path, data: bytes):
    (tmp_path / "x.dat").write_bytes(data)
    assert run(files.read_file, path=str(tmp_path / "x.dat")) == (
        f"Error: ValueError: {tmp_path / 'x.dat'} is a binary file, not text; it cannot be read as text")


def test_read_file_errors_name_the_problem(tmp_path: Path):
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7\n")
    assert run(files.read_file, path=str(tmp_path / "report.pdf")) == (
        "Error: ValueError: reading PDF files (.pdf) is not supported yet")
    assert run(files.read_file, path=str(tmp_path)) == (
        f"Error: IsADirectoryError: {tmp_path} is a folder, not a file (list_dir lists it)")
    assert run(files.read_file, path=str(tmp_path / "nope.txt")).startswith("Error: FileNotFoundError:")
    os.mkfifo(tmp_path / "pipe")
    assert run(files.read_file, path=str(tmp_path / "pipe")) == (
        f"Error: ValueError: {tmp_path / 'pipe'} is not a regular file")


# -- writing ------------------------------------------------------------------------------------------

def test_write_file_creates_and_records_the_hash(work: Path):
    effects = Effects()
    result = run(files.write_file, effects, path=str(work / "n.txt"), content="line\r\n")
    assert result == f"Created {work / 'n.txt'} (6 B)."
    assert (work / "n.txt").read_bytes() == b"line\r\n"
    digest = hashlib.sha256(b"line\r\n").hexdigest()
    assert effects.records == [{"kind": "created", "path": str(work / "n.txt"), "sha256": digest}]


def test_write_file_replaces_only_with_overwrite_and_after_a_backup(work: Path, pagemind_home: Path):
    refused = run(files.write_file, path=str(work / "script.sh"), content="x")
    assert refused == (
        f"Error: FileExistsError: {work / 'script.sh'} already exists; overwrite=true replaces it (after a backup)")
    effects = Effects()
    replaced = run(files.write_file, effects, path=str(work / "script.sh"), content="x", overwrite=True)
    assert replaced.startswith(f"Replaced {work / 'script.sh'} (1 B); the old version is backed up")
    [record] = effects.records
    backup = Path(record["backup"])
    assert backup.parent == pagemind_home / "data" / "backups"
    assert backup.read_text() == "#!/bin/sh\necho hello\n" and (work / "script.sh").read_text() == "x"
    assert stat.S_IMODE((work / "script.sh").stat().st_mode) == 0o755


def test_write_file_errors_name_the_problem(work: Path):
    assert run(files.write_file, path=str(work / "no" / "n.txt"), content="x") == (
        f"Error: FileNotFoundError: the folder {work / 'no'} does not exist (create_folder makes it)")
    assert run(files.write_file, path=str(work / "docs"), content="x", overwrite=True) == (
        f"Error: IsADirectoryError: {work / 'docs'} is a folder")


def test_create_folder_refuses_what_exists(work: Path):
    assert run(files.create_folder, path=str(work / "docs")) == (
        f"Error: FileExistsError: {work / 'docs'} already exists")
    assert run(files.create_folder, path=str(work / "a.txt" / "sub")) == (
        f"Error: NotADirectoryError: {work / 'a.txt'} is a file, not a folder")


# -- move and copy ------------------------------------------------------------------------------------

def test_move_and_copy_never_replace_anything(work: Path):
    before = snapshot(work)
    for tool in (files.move, files.copy):
        assert run(tool, src=str(work / "a.txt"), dst=str(work / "private.txt")) == (
            f"Error: FileExistsError: {work / 'private.txt'} already exists; "
            "nothing was replaced (choose another name)")
        (work / "empty" / "a.txt").write_text("other")
        assert run(tool, src=str(work / "a.txt"), dst=str(work / "empty")).startswith("Error: FileExistsError:")
        (work / "empty" / "a.txt").unlink()
    assert snapshot(work) == before


def test_move_and_copy_errors_name_the_problem(work: Path):
    assert run(files.move, src=str(work / "nope"), dst=str(work / "x")) == (
        f"Error: FileNotFoundError: {work / 'nope'} does not exist")
    assert run(files.move, src=str(work / "docs"), dst=str(work / "docs" / "deep")) == (
        f"Error: ValueError: the folder {work / 'docs'} cannot go inside itself")
    assert run(files.copy, src=str(work / "a.txt"), dst=str(work / "no" / "a.txt")) == (
        f"Error: FileNotFoundError: the folder {work / 'no'} does not exist")
    assert run(files.move, src="~", dst=str(work)) == (
        f"Error: PermissionError: {work.parent} is not to be moved or deleted")


def test_move_moves_a_link_itself_and_copy_keeps_links_inside_folders(work: Path):
    assert run(files.move, src=str(work / "docs" / "link-to-a"), dst=str(work / "empty")).startswith("Moved")
    assert os.readlink(work / "empty" / "link-to-a") == "../a.txt" and (work / "a.txt").exists()
    (work / "docs" / "inner").symlink_to("b.md")
    copied = run(files.copy, src=str(work / "docs"), dst=str(work / "copy"))
    assert copied == f"Copied {work / 'docs'} to {work / 'copy'}."
    assert os.readlink(work / "copy" / "inner") == "b.md"
    assert (work / "copy" / "deep" / "c.bin").read_bytes() == bytes(range(256))


# -- delete -------------------------------------------------------------------------------------------

def test_delete_sends_to_the_trash_and_says_where(work: Path, trash: Path):
    effects = Effects()
    assert run(files.delete, effects, path="~/work/docs") == f"Moved {work / 'docs'} to the trash."
    [record] = effects.records
    assert record["kind"] == "trashed" and record["path"] == str(work / "docs")
    assert record["trash"] == str(trash / "files" / "docs") and record["tree"]  # fingerprinted
    assert (trash / "files" / "docs" / "b.md").exists()
    assert f"Path={work / 'docs'}" in (trash / "info" / "docs.trashinfo").read_text()


def test_delete_trashes_a_link_never_its_target(work: Path, trash: Path, tmp_path: Path):
    (tmp_path / "precious.txt").write_text("keep")
    (work / "out").symlink_to(tmp_path / "precious.txt")
    assert run(files.delete, path=str(work / "out")) == f"Moved {work / 'out'} to the trash."
    assert (tmp_path / "precious.txt").read_text() == "keep" and (trash / "files" / "out").is_symlink()


def test_delete_refuses_when_the_trash_cannot_take_it(work: Path, trash: Path):
    trash.parent.mkdir(parents=True)
    trash.write_text("a file where the trash folder should be")
    effects = Effects()
    result = run(files.delete, effects, path=str(work / "a.txt"))
    assert result == (f"Error: OSError: the trash cannot take {work / 'a.txt'} (Not a directory); nothing was deleted")
    assert (work / "a.txt").read_text() == "alpha\n" and effects.records == []


def test_delete_errors_name_the_problem(work: Path, trash: Path):
    (work / "broken").symlink_to(work / "gone")
    assert run(files.delete, path=str(work / "broken")) == (
        f"Error: ValueError: {work / 'broken'} is a broken link, which the trash cannot take; it was left in place")
    assert run(files.delete, path=str(work / "nope")) == f"Error: FileNotFoundError: {work / 'nope'} does not exist"
    assert run(files.delete, path="~") == f"Error: PermissionError: {work.parent} is not to be moved or deleted"
    assert (work / "broken").is_symlink()


# -- open_path and disk_usage -------------------------------------------------------------------------

def opener(tmp_path: Path, code: str) -> str:
    script = tmp_path / "opener.py"
    script.write_text(code)
    return f"{sys.executable} {script}"


def test_open_path_runs_the_opener_with_the_resolved_path(work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen = tmp_path / "opened.txt"
    monkeypatch.setenv(files.OPENER_ENV, opener(tmp_path, f"import sys; open({str(seen)!r}, 'w').write(sys.argv[1])"))
    assert run(files.open_path, path="~/work/docs/../a.txt") == f"Opened {work / 'a.txt'}."
    assert seen.read_text() == str(work / "a.txt")


def test_open_path_reports_a_failing_or_missing_opener(work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(files.OPENER_ENV, opener(tmp_path, "raise SystemExit(3)"))
    assert run(files.open_path, path=str(work / "a.txt")) == (
        f"Error: RuntimeError: {sys.executable} could not open {work / 'a.txt'} (exit status 3)")
    monkeypatch.setenv(files.OPENER_ENV, "pagemind-no-such-opener")
    assert run(files.open_path, path=str(work / "a.txt")) == (
        "Error: FileNotFoundError: cannot open files: pagemind-no-such-opener is not installed")
    assert run(files.open_path, path=str(work / "nope")).startswith("Error: FileNotFoundError:")


def test_disk_usage_reports_free_and_total_space(work: Path):
    assert run(files.disk_usage).startswith(f"The disk holding {work.parent}: ")
    assert " free of " in run(files.disk_usage, path=str(work))


# -- declarations -------------------------------------------------------------------------------------

def test_each_tool_declares_its_risk_and_path_parameters():
    declared = {t.name: (t.risk, t.paths, t.untrusted_output) for t in (
        files.list_dir, files.find_files, files.read_file, files.write_file, files.create_folder, files.move,
        files.copy, files.delete, files.open_path, files.disk_usage)}
    assert declared == {
        "list_dir": ("read", ("path",), True), "find_files": ("read", ("root",), True),
        "read_file": ("read", ("path",), True), "write_file": ("write", ("path",), False),
        "create_folder": ("write", ("path",), False), "move": ("write", ("src", "dst"), False),
        "copy": ("write", ("src", "dst"), False), "delete": ("destructive", ("path",), False),
        "open_path": ("launch", ("path",), False), "disk_usage": ("read", ("path",), False),
    }
