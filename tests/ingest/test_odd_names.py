"""File names that are not valid UTF-8: kept losslessly in the database, indexed, shown readably.

Linux allows any bytes but "/" and NUL in a name; Python holds the undecodable ones as surrogate
escapes, which DuckDB cannot store. These tests make such files for real.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hypothesis import given, strategies as st

from app.ingest.extract_worker import Extractor
from app.ingest.pipeline import Pipeline
from app.memory.documents import path_from_text, path_text
from tests.cli.support import cli, database_rows

CAFE = b"caf\xe9.txt"
ODD = b"\xff\xfe.md"


def make(folder: Path, name: bytes, text: str) -> str:
    """Write ``text`` to the file ``name`` (raw bytes) in ``folder``; returns its path as Python holds it."""
    raw = os.fsencode(folder) + b"/" + name
    with open(raw, "wb") as handle:
        handle.write(text.encode())
    return os.fsdecode(raw)


def odd_folder(folder: Path) -> dict[str, str]:
    return {
        "cafe": make(folder, CAFE, "The espresso machine in the corner needs descaling every month."),
        "plain": make(folder, b"plain.txt", "Tomatoes need six hours of sun and deep watering."),
        "odd": make(folder, ODD, "The lighthouse keeper logs every passing ship in a ledger."),
    }


@given(st.lists(st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\0" not in b),
                min_size=1, max_size=3))
def test_any_byte_name_round_trips_through_its_text(parts: list[bytes]):
    path = os.fsdecode(b"/" + b"/".join(parts))
    text = path_text(path)
    text.encode("utf-8")  # storable as it is: valid text
    assert os.fsencode(path_from_text(text)) == os.fsencode(path)


def test_the_text_of_a_path_is_readable_and_plain_names_are_unchanged():
    assert path_text(os.fsdecode(b"/d/caf\xe9.txt")) == "/d/caf\\xe9.txt"
    assert path_text(os.fsdecode(b"/d/\xff\xfe.md")) == "/d/\\xff\\xfe.md"
    for plain in ("/d/café.txt", "/d/a\\b.txt", "/d/back\\", "/d/\\xE9", "/d/50% off.txt"):
        assert path_text(plain) == plain and path_from_text(plain) == plain
    # a name that spells an escape itself keeps its backslash doubled, so it reads back as written
    assert path_from_text(path_text("/d/\\xe9")) == "/d/\\xe9" != path_from_text("/d/\\xe9")
    # a name of both kinds
    both = os.fsdecode(b"/d/\\\xe9\\\\x")
    assert path_from_text(path_text(both)) == both


def test_undecodable_names_are_indexed_searchable_followed_and_removed(pipeline, memory, docs):
    paths = odd_folder(docs)
    pipeline.scan(docs)
    summary = pipeline.run(settle=True)
    assert summary.counts == {"indexed": 3}, summary.problems

    for key, query in (("cafe", "espresso machine descaling"), ("odd", "lighthouse ledger ships")):
        hit = memory.documents.search(query).items[0]
        assert hit.path == paths[key] and os.fsencode(hit.path).endswith(CAFE if key == "cafe" else ODD)
        assert path_text(hit.path) in memory.documents.search(query).text()

    stored = dict(memory.db.fetchall("SELECT path, status FROM documents"))
    assert stored[str(docs / "caf\\xe9.txt")] == "indexed"  # readable text in the table
    assert {os.fsencode(path_from_text(p)) for p in stored} == {os.fsencode(p) for p in paths.values()}
    assert [d.path for d in memory.documents.under(str(docs))] == sorted(paths.values(), key=path_text)

    make(docs, CAFE, "The espresso machine was replaced by a French press.")  # re-read from the stored path
    os.utime(os.fsencode(paths["cafe"]), (1_700_000_000, 1_700_000_000))
    pipeline.scan(docs)
    assert pipeline.run(settle=True).counts == {"indexed": 1}
    assert "French press" in memory.documents.search("french press").items[0].text

    os.unlink(os.fsencode(paths["odd"]))  # noticed as gone
    pipeline.scan(docs)
    assert pipeline.run(settle=True).counts == {"removed": 1}
    assert memory.documents.get(paths["odd"]) is None and memory.documents.get(paths["cafe"]).status == "indexed"
    assert memory.db.fetchone("SELECT count(*) FROM ingest_queue")[0] == 0


def test_an_undecodable_watched_folder_and_a_move_keep_working(pipeline, memory, tmp_path):
    folder = os.fsencode(tmp_path) + b"/d\xe9p\xf4t"
    os.mkdir(folder)
    path = make(Path(os.fsdecode(folder)), b"notes\xa0.txt", "The ferry to the island leaves at noon.")
    pipeline.scan(Path(os.fsdecode(folder)))
    assert pipeline.run(settle=True).counts == {"indexed": 1}
    assert memory.documents.counts(os.fsdecode(folder))["indexed"] == 1
    document = memory.documents.get(path)
    assert document.root == os.fsdecode(folder)

    moved = os.fsdecode(folder + b"/n\xe8w.txt")
    os.rename(os.fsencode(path), os.fsencode(moved))
    pipeline.scan(Path(os.fsdecode(folder)))
    assert pipeline.run(settle=True).counts == {"moved": 1}
    assert memory.documents.get(moved).id == document.id
    assert pipeline.forget(os.fsdecode(folder)) == 1


class _Failing(Extractor):
    """An extractor that breaks in an unforeseen way on one file (as a parser bug would)."""

    def extract(self, name: str, data: bytes):
        if name == "bad.txt":
            raise RuntimeError("the parser tripped over itself")
        return super().extract(name, data)


def test_one_file_failing_unexpectedly_does_not_stop_its_neighbours(memory, docs):
    (docs / "bad.txt").write_text("Whatever this says, the parser fails on it.")
    (docs / "good.txt").write_text("The orchard's apple harvest starts in September.")
    pipeline = Pipeline(memory, extractor=_Failing())
    try:
        pipeline.scan(docs)
        summary = pipeline.run(settle=True)
    finally:
        pipeline.close()
    assert summary.counts == {"indexed": 1, "failed": 1}
    bad = memory.documents.get(str(docs / "bad.txt"))
    assert bad.status == "failed" and "the parser tripped over itself" in bad.error
    assert memory.documents.search("apple harvest").items[0].path == str(docs / "good.txt")
    assert memory.db.fetchone("SELECT count(*) FROM ingest_queue")[0] == 0


def test_cli_indexes_lists_and_searches_undecodable_names(indexing_home: Path, tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    odd_folder(docs)
    added = cli(indexing_home, "watch", str(docs))
    assert added.returncode == 0, added.stderr
    assert "3 indexed" in added.stdout and "Traceback" not in added.stderr

    listed = cli(indexing_home, "watch", "--list")
    assert listed.returncode == 0 and "3 indexed, 0 skipped, 0 failed" in listed.stdout
    rows = json.loads(cli(indexing_home, "watch", "--list", "--json").stdout)
    assert (rows[0]["indexed"], rows[0]["failed"], rows[0]["problems"]) == (3, 0, [])

    found = cli(indexing_home, "search", "espresso machine")
    assert found.returncode == 0 and f"1. {docs}/caf\\xe9.txt" in found.stdout, found.stdout + found.stderr
    hits = json.loads(cli(indexing_home, "search", "lighthouse keeper", "--json").stdout)
    assert hits[0]["path"] == f"{docs}/\\xff\\xfe.md"
    assert os.fsencode(path_from_text(hits[0]["path"])) == os.fsencode(docs) + b"/" + ODD
    assert database_rows(indexing_home, "SELECT count(*) FROM documents WHERE status = 'indexed'") == [(3,)]

    single = cli(indexing_home, "index", os.fsdecode(os.fsencode(docs) + b"/" + CAFE))  # one file, named on the command line
    assert single.returncode == 0 and "Traceback" not in single.stderr, single.stderr


class _Surrogates(Extractor):
    """An extractor returning what a PDF parser can build from a broken font map: a lone surrogate."""

    def extract(self, name: str, data: bytes):
        extracted = super().extract(name, data)
        if name == "broken.txt":
            return type(extracted)(extracted.text + " \ud83d end", extracted.kind, extracted.encoding, "Title \udce9")
        return extracted


def test_text_that_utf8_cannot_hold_is_kept_with_a_visible_escape(memory, docs):
    (docs / "broken.txt").write_text("The quarry closes for the winter on the first of November.")
    (docs / "good.txt").write_text("The orchard's apple harvest starts in September.")
    pipeline = Pipeline(memory, extractor=_Surrogates())
    try:
        pipeline.scan(docs)
        assert pipeline.run(settle=True).counts == {"indexed": 2}
    finally:
        pipeline.close()
    hit = memory.documents.search("quarry winter").items[0]
    assert hit.path == str(docs / "broken.txt") and hit.text.endswith(" \\ud83d end")
    assert hit.title == "Title \\xe9"


def test_a_watched_folder_with_an_undecodable_name_keeps_updating(memory, docs):
    """In the app: the watcher's rescans go on after such a file, and its neighbours keep being indexed."""
    from app.ingest.service import IngestService

    service = IngestService(memory, roots=[docs], debounce=0.2)
    service.start()
    try:
        assert service.wait_idle(60)
        cafe = make(docs, CAFE, "The espresso machine in the corner needs descaling every month.")
        deadline = time.monotonic() + 60
        while not memory.documents.get(cafe):
            assert time.monotonic() < deadline, "the odd name was never indexed"
            time.sleep(0.05)
        (docs / "later.txt").write_text("The ferry to the island leaves at noon on Saturdays.")
        while not memory.documents.get(str(docs / "later.txt")):
            assert time.monotonic() < deadline, "the folder stopped updating"
            time.sleep(0.05)
    finally:
        service.stop()
    assert memory.documents.search("ferry island").items[0].path == str(docs / "later.txt")
    assert memory.documents.counts(str(docs)) == {"indexed": 2, "chunks": 2}
