"""Watched folders kept current: the real watcher, the pipeline, the real embedder, real files."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.ingest.service import IngestService
from app.memory.store import MemoryStore
from tests.waiting import wait_for


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    made = [tmp_path / "notes", tmp_path / "work"]
    for root in made:
        root.mkdir()
    return made


@pytest.fixture
def service(memory: MemoryStore, roots: list[Path]) -> Iterator[IngestService]:
    running = IngestService(memory, roots=roots, debounce=0.2)
    running.start()
    assert running.wait_idle(60)
    yield running
    running.stop()


def paths(memory: MemoryStore) -> dict[str, str]:
    return dict(memory.db.fetchall("SELECT path, status FROM documents"))


def found(memory: MemoryStore, word: str) -> list[str]:
    return [hit.path for hit in memory.documents.search(word, size=20).items if word in hit.text]


def test_create_modify_rename_move_and_delete_follow_the_folders(service, memory, roots):
    notes, work = roots
    (notes / "trip.md").write_text("Packing list for the Dolomites: boots and a rain jacket.")
    wait_for(lambda: found(memory, "Dolomites") == [str(notes / "trip.md")])

    (notes / "trip.md").write_text("Packing list for the Pyrenees: boots and a sun hat.")
    wait_for(lambda: found(memory, "Pyrenees") == [str(notes / "trip.md")])
    assert found(memory, "Dolomites") == []

    doc_id = memory.documents.get(str(notes / "trip.md")).id
    (notes / "trip.md").rename(notes / "holiday.md")
    wait_for(lambda: str(notes / "trip.md") not in paths(memory) and str(notes / "holiday.md") in paths(memory))
    assert memory.documents.get(str(notes / "holiday.md")).id == doc_id

    shutil.move(notes / "holiday.md", work / "holiday.md")  # across two watched folders
    wait_for(lambda: list(paths(memory)) == [str(work / "holiday.md")])
    moved = memory.documents.get(str(work / "holiday.md"))
    assert moved.id == doc_id and moved.root == str(work)

    (work / "deep" / "er").mkdir(parents=True)
    (work / "deep" / "er" / "plan.txt").write_text("The garden plan: tomatoes by the south wall.")
    wait_for(lambda: found(memory, "tomatoes") == [str(work / "deep" / "er" / "plan.txt")])

    (work / "holiday.md").unlink()
    shutil.rmtree(work / "deep")
    wait_for(lambda: paths(memory) == {} and service.wait_idle(0))
    assert memory.db.fetchone("SELECT count(*) FROM chunks")[0] == 0
    assert memory.db.fetchone("SELECT count(*) FROM postings WHERE corpus = 'documents'")[0] == 0


def test_ignored_files_never_reach_the_index(service, memory, roots):
    notes = roots[0]
    (notes / ".git").mkdir()
    (notes / ".git" / "config").write_text("[core] secret")
    (notes / "draft.txt.swp").write_text("swap")
    (notes / "~$report.docx").write_bytes(b"lock")
    (notes / "kept.txt").write_text("This one is kept.")
    wait_for(lambda: str(notes / "kept.txt") in paths(memory) and service.wait_idle(0))
    assert list(paths(memory)) == [str(notes / "kept.txt")]


def test_changes_made_while_stopped_are_caught_at_the_next_start(memory, roots):
    notes = roots[0]
    (notes / "a.txt").write_text("Alpha file about invoices.")
    first = IngestService(memory, roots=roots, debounce=0.2)
    first.start()
    assert first.wait_idle(60)
    first.stop()
    (notes / "a.txt").unlink()
    (notes / "b.txt").write_text("Beta file about contracts.")
    second = IngestService(memory, roots=roots, debounce=0.2)
    second.start()
    try:
        wait_for(lambda: list(paths(memory)) == [str(notes / "b.txt")] and second.wait_idle(0))
    finally:
        second.stop()


def test_removing_a_folder_forgets_its_documents(service, memory, roots):
    notes, work = roots
    (notes / "a.txt").write_text("Alpha file about invoices.")
    (work / "b.txt").write_text("Beta file about contracts.")
    wait_for(lambda: len(paths(memory)) == 2)
    assert service.remove(notes) == 1
    assert list(paths(memory)) == [str(work / "b.txt")]
    (notes / "c.txt").write_text("Not watched any more.")
    time.sleep(1)
    assert service.wait_idle(30) and list(paths(memory)) == [str(work / "b.txt")]


@pytest.mark.slow
def test_a_burst_of_5000_files_is_indexed_once_each(service, memory, roots):
    notes = roots[0]
    start = time.monotonic()
    for k in range(5000):
        folder = notes / f"batch{k // 500}"
        folder.mkdir(exist_ok=True)
        (folder / f"n{k:04d}.txt").write_text(f"Note {k}: item number {k} of the burst.")
    created_in = time.monotonic() - start
    assert created_in < 30, f"creating the files took {created_in:.1f} s"
    wait_for(lambda: memory.db.fetchone("SELECT count(*) FROM documents")[0] == 5000, seconds=900)
    assert service.wait_idle(120)
    assert memory.db.fetchall("SELECT count(*), count(DISTINCT path) FROM documents") == [(5000, 5000)]
    assert memory.db.fetchall("SELECT count(*), count(DISTINCT document_id) FROM chunks") == [(5000, 5000)]
    assert memory.db.fetchone("SELECT count(*) FROM vectors WHERE corpus = 'documents'")[0] == 5000
    assert memory.db.fetchone("SELECT count(*) FROM ingest_queue")[0] == 0
    assert memory.db.fetchone("SELECT count(*) FROM documents WHERE status <> 'indexed'")[0] == 0
    assert found(memory, "4321")[:1] == [str(notes / "batch8" / "n4321.txt")]


def test_a_watched_folder_that_goes_missing_keeps_its_documents(service, memory, roots):
    notes = roots[0]
    (notes / "a.txt").write_text("Alpha file about invoices.")
    wait_for(lambda: str(notes / "a.txt") in paths(memory) and service.wait_idle(0))
    notes.rename(notes.with_name("unmounted"))  # an unplugged drive looks the same
    service.watcher.rescan_all()
    time.sleep(1)
    assert service.wait_idle(30)
    assert list(paths(memory)) == [str(notes / "a.txt")]
