"""A Bridge over a real DuckDB file, with a scripted model (or none), for widget tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pytest

from app import settings
from app.gui.bridge import Bridge
from app.kernel.scripted import ScriptedModel
from app.memory.store import MemoryStore


def reply(text: str) -> dict[str, Any]:
    return {"thought": "answer", "tool": "send_message", "args": {"message": text}}


def write(path: Path, content: str) -> dict[str, Any]:
    return {"thought": "save it", "tool": "write_file", "args": {"path": str(path), "content": content, "request_heartbeat": True}}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder the assistant may touch (the only allowed root)."""
    folder = tmp_path / "work"
    folder.mkdir()
    conf = settings.load()
    conf.allowed_roots = [str(folder)]
    conf.setup_done = True
    settings.save(conf)
    return folder


@pytest.fixture
def make_bridge(qtbot: Any, tmp_path: Path, work: Path) -> Iterator[Callable[..., Bridge]]:
    """``make_bridge(calls, model=True)``: a started Bridge whose model replays ``calls``."""
    made: list[Bridge] = []

    def make(calls: Sequence[dict[str, Any] | str] = (), model: bool = True, ingest: bool = False) -> Bridge:
        scripted = ScriptedModel(calls, n_ctx=16384) if model else None
        bridge = Bridge(open_memory=lambda scheduler: MemoryStore.open(tmp_path / "memory.duckdb"),
                        load_model=lambda conf: scripted, ingest=ingest)
        bridge.scripted = scripted  # type: ignore[attr-defined]
        made.append(bridge)
        bridge.start()
        qtbot.waitUntil(lambda: bridge.host.model_status[1] in ("ready", "none"), timeout=20_000)
        return bridge

    yield make
    for bridge in made:
        bridge.close()
