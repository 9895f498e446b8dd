"""Symbolic links are never followed out of a watched folder, even when one replaces a file that
was indexed, or is swapped in between the scan and the read: what is read is what was scanned."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from app.ingest import reading
from app.ingest.pipeline import Pipeline

SECRET = "The vault combination is 4417 and the spare key hangs behind the boiler."
NOTES = "Minutes of the allotment meeting: the compost bins move to the north corner."


def index(pipeline: Pipeline, folder: Path):
    pipeline.scan(folder)
    return pipeline.run(settle=True)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "notes.txt").write_text(SECRET)
    return outside


def leaked(memory) -> bool:
    found = memory.documents.search("vault combination spare key boiler")
    return any("4417" in hit.text for hit in found.items) or bool(
        memory.db.fetchone("SELECT count(*) FROM chunks WHERE contains(content, '4417')")[0])


def test_an_indexed_file_replaced_by_a_link_is_forgotten_not_read(pipeline, memory, docs, secret):
    (docs / "notes.txt").write_text(NOTES)
    (docs / "other.txt").write_text("The bakery opens at seven on Sundays.")
    assert index(pipeline, docs).counts == {"indexed": 2}

    (docs / "notes.txt").unlink()
    (docs / "notes.txt").symlink_to(secret / "notes.txt")
    summary = index(pipeline, docs)
    assert summary.counts == {"removed": 1}
    assert not leaked(memory)
    assert memory.documents.get(str(docs / "notes.txt")) is None
    assert memory.documents.get(str(docs / "other.txt")).status == "indexed"
    assert index(pipeline, docs).counts == {}  # and it stays so


def test_an_indexed_folder_replaced_by_a_link_is_not_followed(pipeline, memory, docs, secret):
    (docs / "sub").mkdir()
    (docs / "sub" / "notes.txt").write_text(NOTES)
    assert index(pipeline, docs).counts == {"indexed": 1}

    shutil.rmtree(docs / "sub")
    (docs / "sub").symlink_to(secret, target_is_directory=True)
    assert index(pipeline, docs).counts == {"removed": 1}
    assert not leaked(memory) and memory.documents.get(str(docs / "sub" / "notes.txt")) is None


@pytest.mark.parametrize("indexed_before", [True, False])
def test_a_file_swapped_for_a_link_between_scan_and_read_is_not_read(pipeline, memory, docs, secret,
                                                                      indexed_before):
    path = docs / "notes.txt"
    path.write_text(NOTES)
    if indexed_before:
        assert index(pipeline, docs).counts == {"indexed": 1}
        path.write_text(NOTES + " The shed gets a new roof.")
    assert pipeline.scan(docs) == 1  # queued as a regular file...

    path.unlink()  # ...and swapped before the queue is worked
    path.symlink_to(secret / "notes.txt")
    summary = pipeline.run(settle=True)
    assert summary.counts == ({"removed": 1} if indexed_before else {})
    assert not leaked(memory) and memory.documents.get(str(path)) is None
    assert pipeline.queue.pending() == 0


def test_a_folder_swapped_for_a_link_between_scan_and_read_is_not_entered(pipeline, memory, docs, secret):
    (docs / "sub").mkdir()
    (docs / "sub" / "notes.txt").write_text(NOTES)
    assert pipeline.scan(docs) == 1

    shutil.rmtree(docs / "sub")
    (docs / "sub").symlink_to(secret, target_is_directory=True)
    assert pipeline.run(settle=True).counts == {}
    assert not leaked(memory) and memory.documents.get(str(docs / "sub" / "notes.txt")) is None


def test_a_file_swapped_for_a_named_pipe_does_not_hang_the_read(pipeline, memory, docs):
    path = docs / "notes.txt"
    path.write_text(NOTES)
    assert pipeline.scan(docs) == 1
    path.unlink()
    os.mkfifo(path)  # opening it for reading would wait for a writer that never comes
    finished = threading.Event()
    worker = threading.Thread(target=lambda: (pipeline.run(settle=True), finished.set()), daemon=True)
    worker.start()
    worker.join(60)
    if not finished.is_set():
        with open(path, "wb"):  # let the stuck read go, so the test can end
            pass
        worker.join(10)
    assert finished.is_set(), "reading a named pipe blocked the pipeline"
    assert memory.documents.get(str(path)) is None and pipeline.queue.pending() == 0


def test_a_regular_file_renamed_over_the_scanned_one_is_read(pipeline, memory, docs):
    """An editor's atomic save replaces the file (a new inode) between scan and read: that is its new content."""
    path = docs / "notes.txt"
    path.write_text(NOTES)
    assert pipeline.scan(docs) == 1
    (docs / "notes.txt.new").write_text(NOTES + " Rhubarb goes by the gate.")
    os.replace(docs / "notes.txt.new", path)
    assert pipeline.run(settle=True).counts == {"indexed": 1}
    assert "Rhubarb" in memory.documents.search("rhubarb").items[0].text


def test_the_reader_opens_only_a_regular_file_reached_without_links(docs, secret):
    (docs / "sub").mkdir()
    (docs / "sub" / "notes.txt").write_text(NOTES)
    with reading.open_regular(str(docs / "sub" / "notes.txt"), str(docs)) as (handle, info):
        assert handle.read() == NOTES.encode() and info.st_size == len(NOTES)

    (docs / "link.txt").symlink_to(secret / "notes.txt")
    (docs / "linked").symlink_to(secret, target_is_directory=True)
    os.mkfifo(docs / "pipe.txt")
    for path, why in ((docs / "link.txt", "a symbolic link"), (docs / "linked" / "notes.txt", "a folder on the way"),
                      (docs / "sub", "a folder"), (docs / "pipe.txt", "a named pipe"),
                      (docs / "gone.txt", "it is gone")):
        with pytest.raises(reading.NotAFile) as refused:
            with reading.open_regular(str(path), str(docs)):
                pass
        assert why in str(refused.value), (path, str(refused.value))


def test_a_watched_folder_that_is_itself_a_link_is_read(pipeline, memory, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "notes.txt").write_text(NOTES)
    (tmp_path / "Documents").symlink_to(real, target_is_directory=True)  # the user chose to watch the link
    assert index(pipeline, tmp_path / "Documents").counts == {"indexed": 1}
    assert memory.documents.search("compost bins").items[0].path == str(tmp_path / "Documents" / "notes.txt")
