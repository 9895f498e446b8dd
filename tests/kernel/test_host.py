"""The Host without Qt: documents indexed in a round reach the model as one system event."""

from __future__ import annotations

import threading
from pathlib import Path

from app.kernel.host import Host, HostListener
from app.kernel.scripted import ScriptedModel
from app.memory.store import MemoryStore


def _host(tmp_path: Path, calls: list[dict]) -> tuple[Host, list[str], threading.Event]:
    seen: list[str] = []
    finished = threading.Event()
    listener = HostListener(on_turn=lambda turn, event: seen.append(event.text),
                            on_done=lambda turn, result: finished.set())
    model = ScriptedModel(calls, n_ctx=16384)
    host = Host(listener, open_memory=lambda: MemoryStore.open(tmp_path / "memory.duckdb"),
                load_model=lambda conf: model, ingest=False)
    host.start()
    assert host.wait_ready(20)
    for _ in range(400):  # the model loads after memory opens
        if host.model_status[1] == "ready":
            break
        threading.Event().wait(0.05)
    return host, seen, finished


def _end_turn() -> dict:
    return {"thought": "nothing to do", "tool": "send_message", "args": {"message": "noted"}}


def test_one_indexed_document_is_named_with_its_chunks(tmp_path: Path) -> None:
    host, seen, finished = _host(tmp_path, [_end_turn()])
    try:
        host._document_indexed("/docs/lease.pdf", 3)
        host._round_done(None)
        assert finished.wait(20)
        assert seen == ["The document /docs/lease.pdf finished indexing (3 chunks); "
                        "search_documents can find it now."]
    finally:
        host.close()


def test_a_round_of_many_documents_is_one_event(tmp_path: Path) -> None:
    host, seen, finished = _host(tmp_path, [_end_turn()])
    try:
        for n in range(7):
            host._document_indexed(f"/docs/{n}.txt", 1)
        host._round_done(None)
        assert finished.wait(20)
        assert len(seen) == 1 and seen[0].startswith("7 documents finished indexing (/docs/0.txt")
        assert "and 2 more" in seen[0]
    finally:
        host.close()
