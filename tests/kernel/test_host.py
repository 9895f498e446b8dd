"""The Host without Qt, driven from outside: documents indexed in a watched folder reach the model
as one system event per round of indexing, with their names (untrusted) and chunk counts."""

from __future__ import annotations

import threading
from pathlib import Path

from app import settings
from app.kernel.host import Host, HostListener
from app.kernel.scripted import ScriptedModel
from app.kernel.turns import TurnListener
from app.memory.store import MemoryStore


def _host(tmp_path: Path, folder: Path) -> tuple[Host, list[str], threading.Event]:
    conf = settings.load()
    conf.watched_folders = [str(folder)]
    settings.save(conf)
    seen: list[str] = []
    finished = threading.Event()
    model = ScriptedModel([{"thought": "nothing to do", "tool": "send_message", "args": {"message": "noted"}}],
                          n_ctx=16384)
    host = Host(open_memory=lambda scheduler: MemoryStore.open(tmp_path / "memory.duckdb"),
                load_model=lambda conf: model)
    host.listen(HostListener(), TurnListener(on_turn=lambda turn, event: seen.append(event.text),
                                             on_done=lambda turn, result: finished.set()))
    host.start()
    assert host.wait_ready(20)
    return host, seen, finished


def test_one_indexed_document_is_named_with_its_chunks(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "lease.txt").write_text("The lease ends in March. The deposit is two months of rent.\n")
    host, seen, finished = _host(tmp_path, folder)
    try:
        assert finished.wait(30)
        assert seen == [f"The document {folder / 'lease.txt'} finished indexing (1 chunks); "
                        "search_documents can find it now."]
        event = host.kernel.memory.recall.in_context("main")[0]
        assert event.source == "file names in the watched folders"  # names chosen by others
    finally:
        host.close()


def test_a_round_of_many_documents_is_one_event(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(7):
        (folder / f"{n}.txt").write_text(f"Note number {n} about the garden.\n")
    host, seen, finished = _host(tmp_path, folder)
    try:
        assert finished.wait(30)
        assert len(seen) == 1 and seen[0].startswith(f"7 documents finished indexing ({folder / '0.txt'}")
        assert "and 2 more" in seen[0]
    finally:
        host.close()
