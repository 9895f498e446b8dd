"""A message committed to recall and killed before it was indexed is found again (issue finding 9):
a real SIGKILL in the window between the commit and the index, three times."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WRITER = """
import sys, time
sys.path.insert(0, {root!r})
import numpy as np
from pathlib import Path
from app.memory.store import MemoryStore

class SlowEmbedder:
    dim = 8
    def embed(self, texts):
        print("embedding", flush=True)
        time.sleep(60)
        return np.ones((len(texts), 8), np.float32)

store = MemoryStore.open(Path({path!r}), embedder=SlowEmbedder(), model_id="slow")
store.recall.add("main", "user", {text!r})
"""


@pytest.mark.slow
def test_messages_killed_between_commit_and_index_are_found_after_a_restart(pagemind_home: Path):
    path = pagemind_home / "data" / "pagemind.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    texts = ["the zebra crossing near the bakery", "a quokka photographed at noon", "the axolotl tank filter"]
    for text in texts:
        code = textwrap.dedent(WRITER).format(root=str(ROOT), path=str(path), text=text)
        writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "embedding"  # committed, not yet indexed
        writer.kill()
        writer.wait()
        writer.stdout.close()
    env = {**os.environ, "PAGEMIND_HOME": str(pagemind_home), "PYTHONPATH": str(ROOT)}
    for word, text in zip(("zebra", "quokka", "axolotl"), texts, strict=True):
        found = subprocess.run([sys.executable, str(ROOT / "main.py"), "memory", "search", word], env=env,
                               capture_output=True, text=True, timeout=120)
        assert found.returncode == 0 and text in found.stdout, (found.stdout, found.stderr)
