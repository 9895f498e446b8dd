"""search_documents, the model's tool: through the permission gate, over a really indexed folder."""

from __future__ import annotations

from pathlib import Path

import tools
from app.ingest.pipeline import Pipeline
from app.memory.store import MemoryStore
from app.safety.confirm import ScriptedConfirmer
from app.safety.gate import Gate, Taint
from app.safety.journal import Journal
from app.safety.policy import Policy
from tools.documents import search_documents


def gate(memory: MemoryStore, root: Path) -> Gate:
    return Gate(tools.load_all(), Policy(roots=[str(root)], rules=[]), Journal(memory.db),
                ScriptedConfirmer(default="deny"), {"memory": memory})


def test_hits_name_their_file_and_the_result_taints_the_turn(pipeline: Pipeline, memory: MemoryStore, docs: Path):
    (docs / "boiler.txt").write_text("The boiler service code is 4471; call Anna from HeatCo in March.\n\n"
                                     + "Unrelated filler sentence about nothing much. " * 40)
    (docs / "garden.md").write_text("Tomatoes need six hours of sun.")
    pipeline.scan(docs)
    pipeline.run()
    turn = Taint()
    outcome = gate(memory, docs).run("search_documents", {"query": "boiler service code"}, turn)
    assert outcome.ok
    lines = outcome.text.splitlines()
    assert lines[0].startswith("Page 1 of") and lines[1].startswith(f"- {docs / 'boiler.txt'}, characters 0-")
    assert "4471" in lines[2] and len(lines[2]) < 400  # a snippet, not the whole chunk
    assert turn.sources, "document text must mark the turn as holding untrusted text"
    assert search_documents.risk == "read" and search_documents.untrusted_output


def test_an_empty_index_says_how_to_add_folders(memory: MemoryStore, docs: Path):
    outcome = gate(memory, docs).run("search_documents", {"query": "anything", "page": 0}, Taint())
    assert outcome.text.startswith("No document matches") and "watch" in outcome.text


def test_pages_go_on_and_a_page_past_the_end_is_empty(pipeline: Pipeline, memory: MemoryStore, docs: Path):
    for k in range(12):
        (docs / f"n{k:02d}.txt").write_text(f"Invoice {k} for the garden work, paid in full.")
    pipeline.scan(docs)
    pipeline.run()
    first = memory.documents.search("invoice garden", page=0)
    second = memory.documents.search("invoice garden", page=1)
    assert first.total == 12 and len(first.items) == 5 and len(second.items) == 5
    assert not {h.path for h in first.items} & {h.path for h in second.items}
    assert memory.documents.search("invoice garden", page=9).items == []
