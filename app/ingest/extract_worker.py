"""PDF and DOCX extraction, and ``Extractor``, which runs it in a child process so that a
pathological file can neither hang nor crash the caller, nor take all the memory.

The child has a time limit per file and an address-space limit (RLIMIT_AS, ``MEMORY_LIMIT`` by
default). A DOCX is a zip archive: one whose parts would unpack to more than ``MAX_UNPACKED``, or
a large part packed more than ``MAX_RATIO`` times (a zip bomb), is refused before anything is
unpacked (Python's zipfile reads no more than the sizes the archive declares).
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import os
import threading
import time
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
MEMORY_LIMIT = 2**30
"""Bytes of address space the child may use (parsers' trees take several times a file's text)."""
MAX_UNPACKED = 200 * 2**20
"""Bytes a DOCX may unpack to, all its parts together."""
MAX_RATIO = 100
RATIO_FROM = 10 * 2**20
"""A part unpacking to at least RATIO_FROM bytes may be packed at most MAX_RATIO times (Word's own
parts are packed about 5 to 15 times)."""
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
_WATCH_EVERY = 0.02  # seconds between looks at a busy child's memory (parsers grow by 100s of MB a second)


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


def _pdf_title(reader: Any) -> str:
    try:
        metadata = reader.metadata
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
    _check_unpacked(data)
    return _guarded("DOCX", _read_docx, data)


def _check_unpacked(data: bytes) -> None:
    """Refuse an archive that would unpack to too much (a zip bomb), from the sizes it declares."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise ExtractError("corrupt", f"not a valid DOCX: {exc}") from None
    if sum(part.file_size for part in parts) > MAX_UNPACKED:
        raise ExtractError("too_large",
                           f"it expands to more than {MAX_UNPACKED // 2**20} MB when unpacked (a zip bomb?)")
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size >= RATIO_FROM and ratio > MAX_RATIO:
            raise ExtractError("too_large", f"one of its parts expands {ratio:,.0f} times when unpacked (a zip bomb?)")


def _read_docx(data: bytes) -> Extracted:
    import docx

    document = docx.Document(io.BytesIO(data))
    blocks = [block for block in _docx_blocks(document.element.body, document) if block.strip()]
    try:
        title = " ".join((document.core_properties.title or "").split())
    except Exception:
        title = ""
    return Extracted(normalize_newlines("\n\n".join(blocks)), "docx", "", title)


def _docx_blocks(parent: Any, document: Any) -> Iterator[str]:
    """The texts of the paragraphs and tables under a body element, in document order."""
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in parent.iterchildren():
        if child.tag == qn("w:p"):
            yield Paragraph(child, document).text
        elif child.tag == qn("w:tbl"):
            rows = []
            for row in Table(child, document).rows:
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


def _out_of_memory(limit: int) -> ExtractError:
    return ExtractError("too_large",
                        f"reading it needs more than the {limit // 2**20} MB of memory the extractor may use")


def address_space_peak(pid: int | None = None) -> int | None:
    """The most address space (bytes) process ``pid`` (this one by default) has held; None where unknown."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def near_limit(peak: int | None, limit: int, baseline: int) -> bool:
    """Whether a child whose address space reached ``peak`` was failing for lack of memory.

    ``baseline`` is what the child held when it was ready. An allocation fails once what is held
    plus what is asked passes the limit; parsers grow their buffers by doubling, so by then the
    child holds at least a third of what its limit leaves above the baseline.
    """
    return peak is not None and (peak - baseline) * 3 >= limit - baseline


def _limit_memory(limit: int) -> None:
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit if hard == resource.RLIM_INFINITY else min(limit, hard)))
    except (ImportError, ValueError, OSError):  # no such limit here (Windows): the time limit still holds
        pass


def _answer(name: str, data: bytes, memory_limit: int) -> tuple[Any, ...]:
    try:
        return ("ok", extract_bytes(name, data))
    except MemoryError:
        return ("error", "too_large", str(_out_of_memory(memory_limit)))
    except ExtractError as exc:
        return ("error", exc.reason, str(exc))
    except Exception as exc:
        return ("error", "corrupt", f"the file cannot be read: {exc}")


def serve(conn: Connection, memory_limit: int = MEMORY_LIMIT) -> None:
    """The child's main loop: answer (name, data) requests until told to stop or orphaned.

    Each answer says whether the child ends after it: it does once it came near its memory limit
    (its heap is spent, and the next file deserves a fresh one). A file that failed then is
    answered as one that needs too much memory.
    """
    if hasattr(os, "nice"):
        try:
            os.nice(10)  # yield the CPU to the chat model
        except OSError:
            pass
    _limit_memory(memory_limit)
    import docx  # noqa: F401  (loaded before reporting ready, so requests start parsing at once)
    import pypdf  # noqa: F401

    baseline = address_space_peak() or 0
    conn.send(("ready", baseline))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        except MemoryError:  # the file itself does not fit; what is left of it in the pipe is unread
            reply, ending = ("error", "too_large", str(_out_of_memory(memory_limit))), True
        else:
            if request is None:
                return
            reply = _answer(*request, memory_limit)
            ending = near_limit(address_space_peak(), memory_limit, baseline)
            if ending and reply[0] == "error":  # lxml, for one, reports a failed allocation as "unknown error"
                reply = ("error", "too_large", str(_out_of_memory(memory_limit)))
        try:
            conn.send((reply, ending))
        except OSError:
            return
        if ending:
            return


class Extractor:
    """Extracts text; PDF and DOCX run in a child process with a time limit and a memory limit, so
    a pathological file can neither hang nor crash the caller, nor take the machine's memory."""

    def __init__(self, timeout: float = 60.0, memory_limit: int = MEMORY_LIMIT) -> None:
        self.timeout = timeout
        self.memory_limit = memory_limit
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._baseline = 0
        """The child's address space when it was ready."""

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
        assert self._conn is not None and self._process is not None
        pid, peak = self._process.pid, None
        try:
            self._conn.send((name, data))
            deadline = time.monotonic() + self.timeout
            while not (answered := self._conn.poll(max(0.0, min(_WATCH_EVERY, deadline - time.monotonic())))):
                peak = address_space_peak(pid) or peak  # what it held last, should it die
                if time.monotonic() >= deadline:
                    break
            reply, ending = self._conn.recv() if answered else (None, False)
        except (EOFError, OSError):
            self._stop(graceful=False)
            if near_limit(peak, self.memory_limit, self._baseline):  # killed for its memory, or failed to get more
                raise _out_of_memory(self.memory_limit) from None
            raise ExtractError("corrupt", "the extractor crashed on this file") from None
        if reply is None:
            self._stop(graceful=False)
            raise ExtractError("timeout", f"extracting the text took longer than {self.timeout:g} s")
        if ending:  # the child spent its memory and ends: the next file starts a new one
            self._stop(graceful=True)
        if reply[0] == "ok":
            return reply[1]
        raise ExtractError(reply[1], reply[2])

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=serve, args=(child, self.memory_limit), name="pagemind-extract", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        try:
            hello = parent.recv() if parent.poll(STARTUP_TIMEOUT) else None
        except (EOFError, OSError):
            hello = None
        ready = isinstance(hello, tuple) and hello[0] == "ready"
        if ready:
            self._baseline = hello[1]
        else:
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
