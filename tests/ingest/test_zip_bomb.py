"""The DOCX extractor's memory: a zip bomb is refused before it expands, and the child process
cannot take more than its memory limit whatever a file does (it is skipped with a reason)."""

from __future__ import annotations

import io
import os
import random
import signal
import threading
import time
import zipfile
from pathlib import Path

import docx
import pytest

from app.ingest import extract_worker
from app.ingest.extract import ExtractError
from app.ingest.extract_worker import Extractor

CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/'
    b'document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>")
RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.'
    b'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    b'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
BLOCK = 16 * 2**20


def bomb(unpacked: int) -> bytes:
    """A DOCX whose word/document.xml is one paragraph of ``unpacked`` bytes of "a" (about 1,000:1 packed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", RELS)
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats'
                       b'.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>')
            block = b"a" * BLOCK
            for _ in range(unpacked // BLOCK):
                part.write(block)
            part.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return out.getvalue()


def many_paragraphs(n: int, words_each: int = 6) -> bytes:
    """An honest DOCX (about 2.6:1 packed) of ``n`` paragraphs of made-up words: it takes memory to parse."""
    document = docx.Document()
    document.add_paragraph("placeholder")
    plain = io.BytesIO()
    document.save(plain)
    rnd = random.Random(7)
    words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(5000)]
    source, out = zipfile.ZipFile(plain), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                head, tail = data.decode().split("<w:body>")
                body = "".join(f"<w:p><w:r><w:t>{' '.join(rnd.choices(words, k=words_each))}</w:t></w:r></w:p>"
                               for _ in range(n))
                data = (head + "<w:body>" + body + tail).encode()
            archive.writestr(info, data)
    return out.getvalue()


def status(pid: int | None) -> dict[str, int]:
    """Memory figures (kB) of a live process, from /proc."""
    fields = {}
    with open(f"/proc/{pid or 'self'}/status") as lines:
        for line in lines:
            name, _, value = line.partition(":")
            if name in ("VmPeak", "VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0])
    return fields


def address_space_limit(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as lines:
        return next(line for line in lines if line.startswith("Max address space")).split()[3]


@pytest.fixture(scope="module")
def big_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "report.docx"
    path.write_bytes(bomb(2 * 2**30 + BLOCK))  # 2 GB unpacked
    return path


@pytest.mark.slow
def test_a_docx_zip_bomb_is_skipped_and_the_child_stays_small(big_bomb: Path):
    data = big_bomb.read_bytes()
    assert len(data) < 3 * 2**20
    parent_before = status(None)["VmHWM"]
    with Extractor() as extractor:
        with pytest.raises(ExtractError) as refused:
            extractor.extract("report.docx", data)
        child = status(extractor.pid)  # the child is still there: it was never in danger
        assert address_space_limit(extractor.pid) == str(extract_worker.MEMORY_LIMIT)
    assert refused.value.reason == "too_large"
    assert str(refused.value) == "it expands to more than 200 MB when unpacked (a zip bomb?)"
    assert child["VmPeak"] * 1024 <= extract_worker.MEMORY_LIMIT and child["VmHWM"] < 200 * 1024
    assert status(None)["VmHWM"] - parent_before < 100 * 1024


@pytest.mark.slow
def test_a_zip_bomb_in_a_watched_folder_is_recorded_as_skipped(pipeline, memory, docs, big_bomb: Path):
    (docs / "report.docx").write_bytes(big_bomb.read_bytes())
    (docs / "notes.txt").write_text("The lighthouse keeper logs every passing ship.")
    pipeline.scan(docs)
    summary = pipeline.run(settle=True)
    assert summary.counts == {"indexed": 1, "skipped": 1}
    row = memory.documents.get(str(docs / "report.docx"))
    assert (row.status, row.error) == ("skipped", "it expands to more than 200 MB when unpacked (a zip bomb?)")


def test_a_part_that_expands_too_many_times_is_refused():
    data = bomb(3 * BLOCK)  # 48 MB: under the total limit, but a thousand times its packed size
    with Extractor() as extractor:
        with pytest.raises(ExtractError) as refused:
            extractor.extract("report.docx", data)
    assert refused.value.reason == "too_large"
    assert "expands" in str(refused.value) and "times" in str(refused.value) and "zip bomb" in str(refused.value)


@pytest.mark.slow
def test_a_document_needing_more_than_the_memory_limit_is_skipped_not_a_crash():
    data = many_paragraphs(100_000)  # about 10 MB of XML: parsed, it takes well over 100 MB
    small = document_bytes("The tide tables for March are pinned by the door.")
    with Extractor(memory_limit=100 * 2**20) as extractor:
        with pytest.raises(ExtractError) as refused:
            extractor.extract("long.docx", data)
        assert refused.value.reason == "too_large"
        assert str(refused.value) == "reading it needs more than the 100 MB of memory the extractor may use"
        assert extractor.extract("small.docx", small).text == "The tide tables for March are pinned by the door."
        assert address_space_limit(extractor.pid) == str(100 * 2**20)
    with Extractor() as roomy:  # within the default limit it is an ordinary document
        assert roomy.extract("long.docx", data).text.count("\n\n") == 100_000


@pytest.mark.slow
def test_a_child_killed_for_its_memory_is_reported_as_such_not_as_a_crash():
    """What the kernel's OOM killer does: SIGKILL to the process that holds the most memory."""
    data = many_paragraphs(100_000)  # parsing it takes about 70 MB more than the child holds to start with
    with Extractor() as probe:
        probe.extract("small.docx", document_bytes("Probing."))
        baseline = status(probe.pid)["VmPeak"] * 1024
    limit = baseline + 120 * 2**20  # room for it: only a kill can stop it
    with Extractor(memory_limit=limit) as extractor:
        extractor.extract("small.docx", document_bytes("The tide tables for March are pinned by the door."))
        pid, done = extractor.pid, threading.Event()

        def oom_killer() -> None:
            while not done.is_set():
                if status(pid)["VmPeak"] * 1024 >= baseline + 60 * 2**20:
                    os.kill(pid, signal.SIGKILL)
                    return
                time.sleep(0.005)

        killer = threading.Thread(target=oom_killer)
        killer.start()
        try:
            with pytest.raises(ExtractError) as refused:
                extractor.extract("long.docx", data)
        finally:
            done.set()
            killer.join()
        assert refused.value.reason == "too_large"
        assert str(refused.value) == (f"reading it needs more than the {limit // 2**20} MB of memory "
                                      "the extractor may use")
        assert extractor.extract("small.docx", document_bytes("Still here.")).text == "Still here."


def document_bytes(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
