"""The pipeline on real folders, a real DuckDB file and the real embedder in its runner."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import docx

from app.ingest import queue as queue_module
from app.ingest.pipeline import Pipeline
from app.ingest.scan import ScanEntry
from models.scheduler import Priority, Scheduler
from app.memory.documents import CORPUS
from app.memory.store import MemoryStore

GARDEN = ("Tomatoes need at least six hours of direct sun and deep watering twice a week.\n\n"
          "Basil grows well next to tomatoes and keeps some pests away.")
BUDGET = "The quarterly budget review moved to Thursday; finance wants the travel costs by Monday."


def index(pipeline: Pipeline, folder: Path):
    pipeline.scan(folder)
    return pipeline.run(settle=True)


def rows(memory: MemoryStore, table: str) -> int:
    return memory.db.fetchone(f"SELECT count(*) FROM {table}")[0]


def index_rows(memory: MemoryStore) -> tuple[int, int, int]:
    """Chunks, and the chunk ids the search index holds by words and by vector."""
    lengths = memory.db.fetchone("SELECT count(*) FROM doc_lengths WHERE corpus = ?", [CORPUS])[0]
    vectors = memory.db.fetchone("SELECT count(*) FROM vectors WHERE corpus = ?", [CORPUS])[0]
    return rows(memory, "chunks"), lengths, vectors


def top_path(memory: MemoryStore, query: str) -> str | None:
    found = memory.documents.search(query)
    return found.items[0].path if found.items else None


WORDS = ("river stone cloud garden paper window light music table ocean forest letter summer winter "
         "north bridge silver market yellow apple").split()


def long_text(paragraphs: int, tag: str) -> str:
    """Paragraphs of about 45 plain words, each naming ``tag`` and its number."""
    return "\n\n".join(f"The {tag} part {k} says " + " ".join(WORDS[(k * 7 + i) % len(WORDS)] for i in range(40)) + "."
                       for k in range(paragraphs))


def test_a_folder_of_mixed_files_is_indexed_and_searchable(pipeline, memory, docs):
    (docs / "garden.md").write_text(GARDEN)
    (docs / "sub").mkdir()
    (docs / "sub" / "budget.txt").write_text(BUDGET)
    (docs / "page.html").write_text("<html><title>Trip</title><body><p>Our hiking trip to the Dolomites "
                                    "starts on the ninth of August.</p><script>var x;</script></body></html>")
    document = docx.Document()
    document.add_paragraph("Minutes: the board approved the new library opening hours.")
    document.save(docs / "minutes.docx")
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    (docs / "noise.txt").write_bytes(os.urandom(4000))
    (docs / ".hidden.txt").write_text("secret")

    summary = index(pipeline, docs)
    assert summary.counts == {"indexed": 4, "skipped": 2}
    problems = dict(summary.problems)
    assert problems[str(docs / "photo.png")] == "unsupported file type .png"
    assert "binary content" in problems[str(docs / "noise.txt")]
    assert summary.embedded == summary.chunks == 4  # a short file is one chunk

    assert top_path(memory, "when is the budget review") == str(docs / "sub" / "budget.txt")
    assert top_path(memory, "what grows well beside tomato plants") == str(docs / "garden.md")
    assert top_path(memory, "mountain holiday") == str(docs / "page.html")
    assert top_path(memory, "library opening hours") == str(docs / "minutes.docx")
    hit = memory.documents.search("Dolomites").items[0]
    assert hit.title == "Trip" and "var x" not in hit.text
    assert memory.documents.get(str(docs / ".hidden.txt")) is None
    assert memory.documents.get(str(docs / "page.html")).kind == "html"
    assert index_rows(memory) == (4, 4, 4)


def test_unchanged_content_is_never_embedded_twice(pipeline, memory, docs):
    (docs / "garden.md").write_text(GARDEN)
    assert index(pipeline, docs).embedded == 1
    assert index(pipeline, docs).counts == {}  # nothing changed: not even read

    os.utime(docs / "garden.md", (1_700_000_000, 1_700_000_000))  # touched, same content
    again = index(pipeline, docs)
    assert again.counts == {"unchanged": 1} and again.embedded == 0
    assert memory.documents.get(str(docs / "garden.md")).mtime == 1_700_000_000

    shutil.copy(docs / "garden.md", docs / "copy.md")  # a copy: its chunks reuse the vectors
    copied = index(pipeline, docs)
    assert copied.counts == {"indexed": 1} and copied.embedded == 0 and copied.chunks == 1
    assert index_rows(memory) == (2, 2, 2)


def test_an_edit_embeds_only_the_changed_chunks(pipeline, memory, docs):
    path = docs / "notes.txt"
    path.write_text(long_text(12, "alpha"))
    first = index(pipeline, docs)
    assert first.chunks >= 3 and first.embedded == first.chunks

    text = long_text(12, "alpha")
    path.write_text(text.replace("part 5 says", "part 5 states", 1))  # one word, as many tokens
    edited = index(pipeline, docs)
    assert edited.counts == {"indexed": 1} and edited.chunks == first.chunks
    assert 1 <= edited.embedded <= 2  # the chunk holding it (and its neighbour, if they share it)
    assert "part 5 states" in memory.documents.search("alpha part 5 states").items[0].text
    assert index_rows(memory) == (edited.chunks,) * 3


def test_a_rename_keeps_the_documents_row_and_chunks(pipeline, memory, docs):
    (docs / "old.md").write_text(GARDEN)
    index(pipeline, docs)
    before = memory.documents.get(str(docs / "old.md"))
    chunk_ids = memory.db.fetchall("SELECT id FROM chunks ORDER BY id")

    (docs / "old.md").rename(docs / "new.md")
    summary = index(pipeline, docs)
    assert summary.counts == {"moved": 1} and summary.embedded == 0
    after = memory.documents.get(str(docs / "new.md"))
    assert after.id == before.id and after.n_chunks == before.n_chunks
    assert memory.documents.get(str(docs / "old.md")) is None
    assert memory.db.fetchall("SELECT id FROM chunks ORDER BY id") == chunk_ids
    assert top_path(memory, "basil pests") == str(docs / "new.md")


def test_a_move_across_watched_folders_keeps_the_chunks(pipeline, memory, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "budget.txt").write_text(BUDGET)
    index(pipeline, a), index(pipeline, b)
    doc_id = memory.documents.get(str(a / "budget.txt")).id

    shutil.move(a / "budget.txt", b / "budget.txt")
    pipeline.scan(a)  # the old folder is scanned first: its removal waits for the grace time
    pipeline.scan(b)
    summary = pipeline.run(settle=True)
    assert summary.counts == {"moved": 1} and summary.embedded == 0
    moved = memory.documents.get(str(b / "budget.txt"))
    assert moved.id == doc_id and moved.root == str(b)
    assert rows(memory, "documents") == 1 and index_rows(memory) == (1, 1, 1)


def test_deleting_files_and_folders_takes_their_chunks_away(pipeline, memory, docs):
    (docs / "garden.md").write_text(GARDEN)
    (docs / "deep" / "er").mkdir(parents=True)
    (docs / "deep" / "er" / "budget.txt").write_text(BUDGET)
    (docs / "deep" / "trip.txt").write_text("Packing list for the Dolomites: boots, map, rain jacket.")
    index(pipeline, docs)
    assert index_rows(memory) == (3, 3, 3)

    (docs / "garden.md").unlink()
    shutil.rmtree(docs / "deep")
    summary = index(pipeline, docs)
    assert summary.counts == {"removed": 3}
    assert rows(memory, "documents") == 0 and index_rows(memory) == (0, 0, 0)
    assert rows(memory, "postings") == 0 and rows(memory, "ingest_queue") == 0
    assert memory.documents.search("budget").total == 0


def test_a_missing_folder_scanned_means_everything_below_it_is_gone(pipeline, memory, docs):
    (docs / "sub").mkdir()
    (docs / "sub" / "budget.txt").write_text(BUDGET)
    (docs / "garden.md").write_text(GARDEN)
    index(pipeline, docs)
    shutil.rmtree(docs / "sub")
    pipeline.scan(docs / "sub", docs)  # what the watcher asks for when a folder is deleted
    assert pipeline.run(settle=True).counts == {"removed": 1}
    assert memory.documents.get(str(docs / "garden.md")) is not None


def test_a_file_over_the_size_limit_is_recorded_and_skipped(memory, docs):
    (docs / "big.txt").write_text("word " * 300_000)  # 1.5 MB
    (docs / "small.txt").write_text(BUDGET)
    pipeline = Pipeline(memory, max_bytes=1024 * 1024)
    try:
        summary = index(pipeline, docs)
    finally:
        pipeline.close()
    assert summary.counts == {"indexed": 1, "skipped": 1}
    big = memory.documents.get(str(docs / "big.txt"))
    assert big.status == "skipped" and big.error == "larger than the 1 MB limit (1.4 MB)" and big.n_chunks == 0


def test_a_corrupt_pdf_and_an_unreadable_file_never_stop_the_pipeline(pipeline, memory, docs):
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage" + os.urandom(500))
    (docs / "budget.txt").write_text(BUDGET)
    summary = index(pipeline, docs)
    assert summary.counts == {"indexed": 1, "skipped": 1}
    broken = memory.documents.get(str(docs / "broken.pdf"))
    assert broken.status == "skipped" and "PDF" in broken.error


def test_an_unreadable_folder_is_recorded_and_its_known_files_are_kept(pipeline, memory, docs):
    (docs / "garden.md").write_text(GARDEN)
    index(pipeline, docs)
    # the scan of a folder that cannot be listed, as app/ingest/scan.py reports it
    error = ScanEntry(str(docs), 0, 0.0, "cannot read the folder: permission denied")
    assert pipeline.queue.reconcile(docs, docs, [error]) == 0
    folder = memory.documents.get(str(docs))
    assert folder.status == "failed" and "permission denied" in folder.error
    assert memory.documents.get(str(docs / "garden.md")).status == "indexed"
    pipeline.scan(docs)  # readable again: the folder's row goes, the file stays
    assert pipeline.run(settle=True).counts == {"removed": 1}
    assert memory.documents.get(str(docs)) is None and memory.documents.get(str(docs / "garden.md"))


def test_queue_coalesces_and_a_file_cut_short_three_times_is_set_aside(pipeline, memory, docs):
    (docs / "a.txt").write_text(BUDGET)
    pipeline.scan(docs), pipeline.scan(docs)
    assert pipeline.queue.pending() == 1
    pipeline.queue.attempt([str(docs / "a.txt")], queue_module.MAX_ATTEMPTS)
    summary = pipeline.run()
    assert summary.counts == {"failed": 1} and "cut short" in summary.problems[0][1]
    (docs / "a.txt").write_text(BUDGET + " Updated.")  # changed: tried again
    assert index(pipeline, docs).counts == {"indexed": 1}


def test_non_recursive_scan_leaves_subfolders_alone(pipeline, memory, docs):
    (docs / "sub").mkdir()
    (docs / "sub" / "budget.txt").write_text(BUDGET)
    (docs / "garden.md").write_text(GARDEN)
    index(pipeline, docs)
    (docs / "garden.md").unlink()
    assert pipeline.scan(docs, docs, recursive=False) == 1
    assert pipeline.run(settle=True).counts == {"removed": 1}
    assert memory.documents.get(str(docs / "sub" / "budget.txt")) is not None


def test_words_only_without_an_embedder_then_backfilled(tmp_path, embedder, docs):
    (docs / "budget.txt").write_text(BUDGET)
    (docs / "garden.md").write_text(GARDEN)
    plain = MemoryStore.open(tmp_path / "m.duckdb")
    pipeline = Pipeline(plain)
    try:
        assert index(pipeline, docs).counts == {"indexed": 2}
        assert top_path(plain, "budget") == str(docs / "budget.txt")
    finally:
        pipeline.close()
        plain.close()
    store = MemoryStore.open(tmp_path / "m.duckdb", embedder, embedder.info.file_hash)
    pipeline = Pipeline(store)
    try:
        assert store.index.missing_vectors(CORPUS)
        assert pipeline.backfill() == 2
        assert store.index.missing_vectors(CORPUS) == []
        assert top_path(store, "which vegetables like sunshine") == str(docs / "garden.md")
    finally:
        pipeline.close()
        store.close()


def test_progress_reports_files_done_of_total(pipeline, memory, docs):
    for k in range(150):
        (docs / f"n{k:03d}.txt").write_text(f"Note {k}: " + BUDGET)
    seen: list[tuple[int, int, str]] = []
    pipeline.on_progress = lambda p: seen.append((p.done, p.total, p.current))
    summary = index(pipeline, docs)
    assert summary.counts == {"indexed": 150}
    assert seen[-1][:2] == (150, 150)
    assert seen[0][0] == 0 and seen[0][1] == 150 and seen[0][2].endswith("n000.txt")
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)


def test_embedding_runs_at_background_priority_and_yields_to_chat(memory, docs):
    for k in range(40):
        (docs / f"n{k:02d}.txt").write_text(long_text(1, f"t{k}"))
    scheduler = Scheduler()
    order: list[str] = []
    pipeline = Pipeline(memory, scheduler=scheduler)
    real_embed = pipeline.embedder.embed

    def embed(texts):
        order.append("embed")
        if len(order) == 2:  # a chat request arrives while ingestion is under way
            threading.Thread(target=lambda: scheduler.run(Priority.CHAT, order.append, "chat")).start()
        return real_embed(texts)

    pipeline.embedder.embed = embed
    try:
        pipeline.scan(docs)
        pipeline.run()
    finally:
        pipeline.close()
        scheduler.close()
    assert "chat" in order and order.index("chat") <= 3  # it ran before the batch after next
    assert rows(memory, "documents") == 40 and len(memory.index.missing_vectors(CORPUS)) == 0
