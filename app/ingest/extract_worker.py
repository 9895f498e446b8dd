"""PDF and DOCX extraction, and ``Extractor``, which runs it in a child process so that a
pathological file can neither hang nor crash the caller."""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import os
import threading
import warnings
import zipfile
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, Callable, Iterator

from app.ingest import extract
from app.ingest.extract import (
    Extracted,
    ExtractError,
    extract_bytes,
    kind_of,
    normalize_newlines,
    too_large,
)

ISOLATED_KINDS = frozenset({"pdf", "docx"})
STARTUP_TIMEOUT = 60.0  # seconds for a new child to import its parsers and report ready
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")


def extract_document(kind: str, data: bytes) -> Extracted:
    """The text of a PDF or DOCX file's bytes, in this process; raises ExtractError."""
    return _extract_pdf(data) if kind == "pdf" else _extract_docx(data)


# --- PDF ---------------------------------------------------------------------------------

_NO_TEXT_LAYER = "the PDF has no text layer (scanned pages need OCR, which Pagemind does not do)"


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Silence pypdf's warnings and log messages about the malformed files it tolerates."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _extract_pdf(data: bytes) -> Extracted:
    if b"%PDF" not in data[:1024]:
        raise ExtractError("corrupt", "not a valid PDF: the file has no PDF header")
    with _quiet_pypdf():
        return _guarded("PDF", _read_pdf, data)


def _guarded(label: str, read: Callable[[bytes], Extracted], data: bytes) -> Extracted:
    """``read(data)``, any error of the parser reported as a corrupt file."""
    try:
        return read(data)
    except ExtractError:
        raise
    except Exception as exc:
        raise ExtractError("corrupt", f"not a valid {label}: {exc}") from exc


def _read_pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except DependencyError:
            raise ExtractError(
                "encrypted", "the PDF is AES-encrypted, and reading it needs the 'cryptography' package"
            ) from None
        except Exception:
            opened = 0
        if not opened:
            raise ExtractError("encrypted", "the PDF is encrypted with a password")
    pages: list[str] = []
    total = 0
    failure: Exception | None = None
    for page in reader.pages:
        try:
            text = normalize_newlines(page.extract_text() or "").strip()
        except Exception as exc:  # one damaged page does not spoil the others
            failure = failure or exc
            continue
        if text:
            pages.append(text)
            total += len(text) + 2
            if total > extract.MAX_TEXT_CHARS:
                raise too_large()
    if not pages:
        if failure is not None:
            raise failure
        raise ExtractError("empty", _NO_TEXT_LAYER)
    return Extracted("\n\n".join(pages), "pdf", "", _pdf_title(reader))


def _pdf_title(reader: object) -> str:
    try:
        metadata = reader.metadata  # type: ignore[attr-defined]
        title = metadata.title if metadata is not None else None
    except Exception:
        return ""
    return " ".join(str(title).split()) if title else ""


# --- DOCX --------------------------------------------------------------------------------


def _extract_docx(data: bytes) -> Extracted:
    if data.startswith(_OLE_MAGIC):
        raise ExtractError("encrypted", "an encrypted Word file (or an old .doc saved as .docx)")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ExtractError("corrupt", "not a valid DOCX: the file is not a zip archive")
    return _guarded("DOCX", _read_docx, data)


def _read_docx(data: bytes) -> Extracted:
    import docx

    document = docx.Document(io.BytesIO(data))
    blocks = [block for block in _docx_blocks(document.element.body, document) if block.strip()]
    try:
        title = " ".join((document.core_properties.title or "").split())
    except Exception:
        title = ""
    return Extracted(normalize_newlines("\n\n".join(blocks)), "docx", "", title)


def _docx_blocks(parent: object, document: object) -> Iterator[str]:
    """The texts of the paragraphs and tables under a body element, in document order."""
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in parent.iterchildren():  # type: ignore[attr-defined]
        if child.tag == qn("w:p"):
            yield Paragraph(child, document).text  # type: ignore[arg-type]
        elif child.tag == qn("w:tbl"):
            rows = []
            for row in Table(child, document).rows:  # type: ignore[arg-type]
                cells = []
                for cell in row.cells:
                    if not cells or cell._tc is not cells[-1]._tc:  # a merged cell repeats
                        cells.append(cell)
                rows.append(" | ".join(" ".join(cell.text.split()) for cell in cells))
            yield "\n".join(rows)
        elif child.tag == qn("w:sdt"):  # a content control wrapping paragraphs and tables
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _docx_blocks(content, document)


# --- the child process ------------------------------------------------------------------


def serve(conn: Connection) -> None:
    """The child's main loop: answer (name, data) requests until told to stop or orphaned."""
    if hasattr(os, "nice"):
        try:
            os.nice(10)  # yield the CPU to the chat model
        except OSError:
            pass
    import docx  # noqa: F401  (loaded before reporting ready, so requests start parsing at once)
    import pypdf  # noqa: F401

    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        name, data = request
        reply: tuple[Any, ...]
        try:
            reply = ("ok", extract_bytes(name, data))
        except ExtractError as exc:
            reply = ("error", exc.reason, str(exc))
        except Exception as exc:
            reply = ("error", "corrupt", f"the file cannot be read: {exc}")
        try:
            conn.send(reply)
        except OSError:
            return


class Extractor:
    """Extracts text; PDF and DOCX run in a child process with a time limit, so a pathological
    file can neither hang nor crash the caller."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id; None while no child runs."""
        process = self._process
        return process.pid if process is not None else None

    def extract(self, name: str, data: bytes) -> Extracted:
        """Text from a file's bytes (``name`` gives the type); raises ExtractError."""
        if kind_of(name) not in ISOLATED_KINDS:
            return extract_bytes(name, data)
        with self._lock:
            return self._request(name, data)

    def close(self) -> None:
        """Stop the child process, if any; idempotent."""
        with self._lock:
            self._stop(graceful=True)

    def __enter__(self) -> Extractor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(self, name: str, data: bytes) -> Extracted:
        if self._process is None or not self._process.is_alive():
            self._stop(graceful=False)
            self._start()
        assert self._conn is not None
        try:
            self._conn.send((name, data))
            answered = self._conn.poll(self.timeout)
            reply = self._conn.recv() if answered else None
        except (EOFError, OSError):
            self._stop(graceful=False)
            raise ExtractError("corrupt", "the extractor crashed on this file") from None
        if reply is None:
            self._stop(graceful=False)
            raise ExtractError("timeout", f"extracting the text took longer than {self.timeout:g} s")
        if reply[0] == "ok":
            return reply[1]
        raise ExtractError(reply[1], reply[2])

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=serve, args=(child,), name="pagemind-extract", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        try:
            ready = parent.poll(STARTUP_TIMEOUT) and parent.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self._stop(graceful=False)
            raise ExtractError("timeout", "the text extractor process did not start")

    def _stop(self, graceful: bool) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            if graceful:
                try:
                    conn.send(None)
                except OSError:
                    pass
            conn.close()
        if process is None:
            return
        if graceful:
            process.join(2.0)
        if process.is_alive():
            process.terminate()
            process.join(2.0)
        if process.is_alive():
            process.kill()
            process.join()
        process.close()
