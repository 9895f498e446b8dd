"""Saved prefix states on disk: keyed exactly, damage ignored, pruned as a cache."""

from __future__ import annotations

import os
from pathlib import Path

from models.engine import prefix_store


def test_a_state_comes_back_only_for_the_same_model_and_tokens(tmp_path: Path):
    prefix_store.save(tmp_path, "m" * 64, [1, 2, 3], b"state")
    assert prefix_store.load(tmp_path, "m" * 64, [1, 2, 3]) == b"state"
    assert prefix_store.load(tmp_path, "m" * 64, [1, 2, 4]) is None
    assert prefix_store.load(tmp_path, "n" * 64, [1, 2, 3]) is None


def test_a_damaged_state_is_ignored(tmp_path: Path):
    path = prefix_store.save(tmp_path, "m" * 64, [1, 2, 3], b"state")
    path.write_bytes(b"garbage")
    assert prefix_store.load(tmp_path, "m" * 64, [1, 2, 3]) is None


def test_pruning_keeps_the_most_recently_used_within_count_and_bytes(tmp_path: Path):
    paths = [prefix_store.save(tmp_path, "m" * 64, [n], bytes(1000)) for n in range(5)]
    for n, path in enumerate(paths):
        os.utime(path, (1_000_000 + n, 1_000_000 + n))
    os.utime(paths[0], (2_000_000, 2_000_000))  # state 0 was just used
    prefix_store._prune(tmp_path, max_files=3, max_bytes=10**6)
    assert [path.exists() for path in paths] == [True, False, False, True, True]
    prefix_store._prune(tmp_path, max_files=10, max_bytes=2500)
    assert [path.exists() for path in paths] == [True, False, False, False, True]
    prefix_store._prune(tmp_path, max_files=10, max_bytes=1)
    assert [path.exists() for path in paths] == [True, False, False, False, False]  # the newest stays
