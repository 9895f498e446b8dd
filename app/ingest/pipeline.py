"""The resumable ingestion pipeline: queued files -> extract -> chunk -> embed -> one transaction.

Jobs come from the persisted queue (app/ingest/queue.py) a group at a time. Each file is read
once (never through a link: app/ingest/reading.py) and hashed: an unchanged hash only updates the
manifest, a new path holding the content of a file that is gone takes over that file's row and
chunks (a rename or a move), and a chunk whose text was embedded before (in any document) reuses
its vector. Only new text reaches the embedder, in small batches at background priority, so a chat
request waits at most one batch. The group's documents, chunks, postings and vectors and the
removal of its jobs are written in one transaction: a crash at any point leaves each file either
done or still queued. While a file's text is extracted (the step where its content is worked on
in this process, or in the extractor's child) it is marked as in progress: if the process dies
then, that file (not its group) has one attempt more when the queue is next worked, and after
MAX_ATTEMPTS it is recorded as failed. Whatever else goes wrong with one file is recorded for it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.ingest import chunk as chunking
from app.ingest import reading
from app.ingest.extract import ExtractError, kind_of
from app.ingest.extract_worker import Extractor
from app.ingest.ignore import IgnoreRules
from app.ingest.queue import MAX_ATTEMPTS, IngestQueue, IngestJob
from app.ingest.scan import walk
from models.scheduler import Priority, ScheduledEmbedder, Scheduler
from app.memory.db import storable
from app.memory.documents import CORPUS, Document, DocumentRow, NewChunk, path_text
from app.memory.store import MemoryStore
from models.errors import ModelError
from models.interface import Embedder

log = logging.getLogger(__name__)

GROUP_FILES = 64
"""Jobs read from the queue at a time."""
GROUP_BYTES = 2 * 2**20
"""Changed files are read until the group holds this much (a bigger file makes a group of its own)."""
EMBED_BATCH = 8
"""Chunks per embedding call: how long a chat request can wait behind ingestion."""
DEFAULT_MAX_MB = 50


@dataclass
class Progress:
    done: int = 0
    """Files finished in this run (indexed, unchanged, moved, removed, skipped or failed)."""
    total: int = 0
    """Files finished plus files still queued."""
    current: str = ""
    chunks: int = 0
    """Chunks written in this run."""
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Files per second."""
        return self.done / max(self.seconds, 1e-9)


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=dict)
    """Files per outcome: indexed, unchanged, moved, removed, skipped, failed."""
    chunks: int = 0
    embedded: int = 0
    """Chunks sent to the embedder (the rest reused an earlier vector, or have none yet)."""
    bytes: int = 0
    seconds: float = 0.0
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) of each skipped or failed file."""

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


@dataclass
class _Plan:
    job: IngestJob
    outcome: str
    """"indexed", "unchanged", "touched", "moved", "removed", "skipped", "failed", or "nothing" (a
    removal of a file that was never indexed, or whose row a moved file took over)."""
    size: int = 0
    mtime: float = 0.0
    content_hash: str = ""
    error: str | None = None
    kind: str = ""
    title: str = ""
    chunks: list[NewChunk] = field(default_factory=list)
    moved_from: int = 0
    """The document id a moved file takes over."""


def _chunk_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _word_count(texts: list[str]) -> list[int]:
    """A token estimate for when no embedder can count (words only until one is set up)."""
    return [len(text.split()) * 4 // 3 + 1 for text in texts]


def _background(embedder: Embedder | None, scheduler: Scheduler | None) -> Embedder | None:
    """The embedder at background priority: a view of the memory's scheduled one, or one made here."""
    if isinstance(embedder, ScheduledEmbedder):
        return embedder.at(Priority.BACKGROUND)
    if embedder is not None and scheduler is not None:
        return ScheduledEmbedder(embedder, scheduler, Priority.BACKGROUND)
    return embedder


class Pipeline:
    def __init__(self, memory: MemoryStore, *, scheduler: Scheduler | None = None, rules: IgnoreRules | None = None,
                 max_bytes: int = DEFAULT_MAX_MB * 1024 * 1024, extractor: Extractor | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_document: Callable[[str, int], None] | None = None) -> None:
        self.memory, self.documents = memory, memory.documents
        self.queue = IngestQueue(memory.db)
        self.rules = rules or IgnoreRules()
        self.max_bytes = max_bytes
        self.scheduler = scheduler
        self.extractor = extractor or Extractor()
        self._own_extractor = extractor is None
        self.on_progress, self.on_document = on_progress, on_document
        self.embedder = _background(memory.index.embedder, scheduler)
        self._count = self.embedder.count_tokens if self.embedder is not None else _word_count
        room = (self.embedder.max_tokens if self.embedder is not None else chunking.CHUNK_TOKENS + 2) - 2  # [CLS], [SEP]
        self.chunk_tokens = max(16, min(chunking.CHUNK_TOKENS, room))
        self._unreadable: list[tuple[str, str]] = []
        """Folders the scans since the last run could not read: the next summary reports them."""

    # -- queueing ------------------------------------------------------------------------------
    def scan(self, folder: Path, root: Path | None = None, recursive: bool = True) -> int:
        """Queue the changes in ``folder`` (a missing folder: everything known below it is gone)."""
        folder = Path(os.path.abspath(folder))
        root = Path(os.path.abspath(root)) if root else folder
        entries = list(walk(folder, self.rules, root, recursive))
        self._unreadable += [(e.path, e.error) for e in entries if e.error is not None]
        return self.queue.reconcile(folder, root, entries, recursive)

    # -- running -------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, settle: bool = False) -> Summary:
        """Work through the due jobs until none is left (or ``stop`` is set).

        With ``settle``, removals still in their grace time are waited for and done too.
        """
        stop = stop or threading.Event()
        self.queue.recover()
        summary, progress = Summary(), Progress()
        for problem in self._unreadable:
            summary.add("failed")
            summary.problems.append(problem)
        self._unreadable = []
        while not stop.is_set():
            jobs = self.queue.take(GROUP_FILES)
            if not jobs:
                due = self.queue.next_due() if settle else None
                if due is None:
                    break
                stop.wait(due + 0.01)
                continue
            progress.total = progress.done + self.queue.pending()
            plans = self._plan_group(jobs, progress, stop)
            vectors = self._embed(plans, summary, stop)
            if stop.is_set():
                break
            self._write(plans, vectors)
            self._tally(plans, summary)
            progress.done += len(plans)
            progress.chunks = summary.chunks
            self._report(progress)
        if not stop.is_set():
            self.backfill(stop)
        summary.seconds = progress.seconds
        return summary

    def _report(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)

    def _tally(self, plans: list[_Plan], summary: Summary) -> None:
        for plan in plans:
            if plan.outcome == "nothing":
                continue
            summary.add("unchanged" if plan.outcome == "touched" else plan.outcome)
            if plan.outcome in ("skipped", "failed"):
                summary.problems.append((plan.job.path, plan.error or ""))
            if plan.outcome == "indexed":
                summary.chunks += len(plan.chunks)
                summary.bytes += plan.size
                if self.on_document is not None:
                    self.on_document(plan.job.path, len(plan.chunks))

    def _plan_group(self, jobs: list[IngestJob], progress: Progress, stop: threading.Event) -> list[_Plan]:
        """Plans for the first jobs, up to about GROUP_BYTES of changed files: read, hashed, parsed, chunked."""
        known = self.documents.get_many([job.path for job in jobs])
        plans: list[_Plan] = []
        data: dict[int, bytes] = {}
        size = 0
        for job in jobs:
            if stop.is_set() or size >= GROUP_BYTES:
                break
            try:
                plan, content = self._read(job, known.get(job.path))
            except Exception as exc:  # whatever it is, it is this file's alone
                plan, content = self._fail(_Plan(job, "failed"), exc), None
            if content is not None:
                data[len(plans)] = content
                size += len(content)
            plans.append(plan)
        self._find_moves(plans, data, known)
        texts: dict[int, str] = {}
        for k, content in data.items():
            if self.scheduler is not None:
                self.scheduler.wait_quiet(Priority.BACKGROUND)
            progress.current = plans[k].job.path
            self._report(progress)
            with self.queue.working(plans[k].job.path):
                try:
                    text = self._extract(plans[k], content)
                except Exception as exc:
                    text = None
                    self._fail(plans[k], exc)
            if text is not None:
                texts[k] = text
        self._chunk(plans, texts)
        return plans

    def _find_moves(self, plans: list[_Plan], data: dict[int, bytes], known: dict[str, Document]) -> None:
        """A new path holding the content of an indexed file that is gone is that file, renamed or
        moved: it takes over the file's row and chunks (and needs no parsing)."""
        new = [k for k in data if plans[k].job.path not in known]
        if not new:
            return
        gone: dict[str, list[int]] = {}
        for doc_id, path, content_hash in self.documents.indexed_with([plans[k].content_hash for k in new]):
            if not reading.is_regular(path):
                gone.setdefault(content_hash, []).append(doc_id)
        for k in new:
            twins = gone.get(plans[k].content_hash)
            if twins:
                plans[k].outcome, plans[k].moved_from = "moved", twins.pop()
                del data[k]

    def _read(self, job: IngestJob, known: Document | None) -> tuple[_Plan, bytes | None]:
        """What to do with one job, and the file's bytes when it has to be parsed.

        The file is opened without following links, and what was opened is what is judged and
        read: no link, and no swap after the scan, can make it read another file.
        """
        path = job.path
        if job.attempts >= MAX_ATTEMPTS:
            return _Plan(job, "failed", error=f"indexing this file was cut short {job.attempts} times (Pagemind "
                                              "stopped while working on it); it is tried again when its folder "
                                              "is next scanned"), None
        try:
            with reading.open_regular(path, job.root) as (handle, stat):
                plan = _Plan(job, "indexed", size=stat.st_size, mtime=stat.st_mtime)
                if known and (known.size, known.mtime) == (plan.size, plan.mtime) and known.status != "failed":
                    plan.outcome = "unchanged"
                    return plan, None
                if plan.size > self.max_bytes:
                    return self._skip(plan, f"larger than the {self.max_bytes / 2**20:.0f} MB limit "
                                            f"({plan.size / 2**20:.1f} MB)"), None
                if kind_of(os.path.basename(path)) is None:
                    return self._skip(plan, f"unsupported file type {Path(path).suffix.lower() or '(none)'}"), None
                data = handle.read(self.max_bytes + 1)
        except reading.NotAFile as exc:  # gone, or a link, folder or pipe now: the scan lists none of them
            log.debug("%s is not indexed: %s", path_text(path), exc)
            return _Plan(job, "removed" if known else "nothing"), None
        except OSError as exc:
            return _Plan(job, "failed", error=f"cannot read the file: {exc.strerror or exc}"), None
        plan.content_hash = hashlib.sha256(data).hexdigest()
        if known and known.content_hash == plan.content_hash and known.status == "indexed":
            plan.outcome = "touched"
            return plan, None
        return plan, data

    def _extract(self, plan: _Plan, data: bytes) -> str | None:
        """The file's text (None, with the reason recorded, when it has none)."""
        try:
            extracted = self.extractor.extract(os.path.basename(plan.job.path), data)
        except ExtractError as exc:
            self._skip(plan, str(exc))
            return None
        plan.kind, plan.title = extracted.kind, storable(extracted.title)
        return storable(extracted.text)  # a parser may leave a lone surrogate, which the database cannot hold

    def _chunk(self, plans: list[_Plan], texts: dict[int, str]) -> None:
        """Cut the texts into chunks, measured together (the tokenizer is in another process); should
        that fail, each text alone, so that a failure is its own file's."""
        try:
            together: list[list[chunking.Chunk]] | None = chunking.chunk_many(
                list(texts.values()), self._count, self.chunk_tokens)
        except Exception:
            together = None
        for n, (k, text) in enumerate(texts.items()):
            try:
                pieces = together[n] if together is not None else chunking.chunk_many(
                    [text], self._count, self.chunk_tokens)[0]
            except Exception as exc:
                self._fail(plans[k], exc)
                continue
            plans[k].chunks = [NewChunk(c.text, c.start, c.end, _chunk_hash(c.text)) for c in pieces]
            if not plans[k].chunks:
                self._skip(plans[k], "the file has no text")

    @staticmethod
    def _skip(plan: _Plan, reason: str) -> _Plan:
        plan.outcome, plan.error, plan.chunks = "skipped", reason, []
        return plan

    @staticmethod
    def _fail(plan: _Plan, exc: Exception) -> _Plan:
        """Record an unforeseen error of one file as that file's failure (the log keeps the traceback)."""
        log.warning("indexing %s failed", path_text(plan.job.path), exc_info=exc)
        plan.outcome, plan.error, plan.chunks = "failed", f"indexing it failed: {exc or type(exc).__name__}", []
        return plan

    def _embed(self, plans: list[_Plan], summary: Summary, stop: threading.Event) -> dict[str, np.ndarray]:
        """Vectors of the group's chunks by content hash: earlier ones reused, new ones embedded."""
        if self.embedder is None:
            return {}
        texts = {c.content_hash: c.text for p in plans for c in p.chunks}
        vectors = self.documents.vectors_for(list(texts))
        todo = [h for h in texts if h not in vectors]
        for at in range(0, len(todo), EMBED_BATCH):
            if stop.is_set():
                break
            batch = todo[at:at + EMBED_BATCH]
            try:
                embedded = np.asarray(self.embedder.embed([texts[h] for h in batch]), np.float32)
            except ModelError as exc:  # found by words until backfill() gives them vectors
                log.warning("embedding failed, %d chunks are searchable by words only for now: %s", len(todo), exc)
                break
            vectors.update(zip(batch, embedded))
            summary.embedded += len(batch)
        return vectors

    def _write(self, plans: list[_Plan], vectors: dict[str, np.ndarray]) -> None:
        """The group's results and the removal of its jobs, in one transaction."""
        docs = self.documents
        rows = [DocumentRow(p.job.path, p.job.root, p.size, p.mtime, p.content_hash, p.outcome, p.error, p.kind,
                            p.title) for p in plans if p.outcome in ("indexed", "skipped", "failed")]
        with self.memory.db.transaction() as conn:
            docs.forget(conn, [p.job.path for p in plans if p.outcome == "removed"])
            for plan in plans:
                if plan.outcome == "touched":
                    docs.touch(conn, plan.job.path, plan.size, plan.mtime)
                elif plan.outcome == "moved":
                    docs.move(conn, plan.moved_from, plan.job.path, plan.job.root, plan.size, plan.mtime)
            docs.store(conn, rows, {p.job.path: p.chunks for p in plans if p.chunks}, vectors)
            self.queue.done(conn, [plan.job.path for plan in plans])

    def forget(self, folder: str) -> int:
        """Drop the queued jobs and the documents at or below ``folder``; returns how many documents."""
        self.queue.drop(folder)
        return self.documents.forget_under(folder)

    def backfill(self, stop: threading.Event | None = None) -> int:
        """Give vectors to the chunks that have none (embedder added or changed, or it failed)."""
        if self.embedder is None:
            return 0
        missing = self.memory.index.missing_vectors(CORPUS)
        done = 0
        for at in range(0, len(missing), EMBED_BATCH):
            if stop is not None and stop.is_set():
                break
            ids = missing[at:at + EMBED_BATCH]
            rows = self.documents.chunk_texts(ids)
            ids = [i for i in ids if i in rows]
            try:
                embedded = self.embedder.embed([rows[i] for i in ids])
            except ModelError as exc:
                log.warning("cannot embed the chunks that have no vector yet: %s", exc)
                break
            self.memory.index.set_vectors(CORPUS, ids, np.asarray(embedded, np.float32))
            done += len(ids)
        return done

    def close(self) -> None:
        if self._own_extractor:
            self.extractor.close()
