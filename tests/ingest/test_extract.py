"""Text extraction from real files and bytes: encodings, HTML, PDF, DOCX and the child process."""

from __future__ import annotations

import codecs
import io
import os
import random
import signal
import sys
import threading
import time

import docx
import pytest
from pypdf import PdfWriter

from app.ingest import extract
from app.ingest.extract import (
    MAX_TEXT_CHARS,
    Extracted,
    ExtractError,
    Extractor,
    extract_bytes,
    kind_of,
)

FRENCH = (
    "Ce matin, le café du quartier était plein. J'ai relu mon résumé avant l'entretien, "
    "et la question naïve du recruteur m'a fait sourire. Après le déjeuner, nous sommes allés "
    "à la bibliothèque où les élèves préparaient leurs examens de fin d'année.\n"
)


def make_pdf(pages: list[str], title: str = "Test document") -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page, written byte by byte."""
    count = len(pages)
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(count)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (%s) >>" % title.encode("latin-1"),
    ]
    for i, text in enumerate(pages):
        stream = b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text.encode("latin-1")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (6 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def blank_pdf(password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    if password is not None:
        writer.encrypt(user_password=password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Quarterly report"
    document.add_heading("Results", level=1)
    document.add_paragraph("Sales rose in the spring.")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Region", "Sales"), ("North", "42")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("The table ends here.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return make_pdf(["Hello PDF world", "Second page text"])


@pytest.fixture(scope="module")
def big_pdf() -> bytes:
    # about a millisecond of parsing per page: far beyond the short time limits used below
    return make_pdf([f"Page {i} of a long document" for i in range(1500)])


def reason(name: str, data: bytes) -> str:
    with pytest.raises(ExtractError) as caught:
        extract_bytes(name, data)
    assert str(caught.value)
    return caught.value.reason


# --- kinds -------------------------------------------------------------------------------


def test_kinds_by_extension() -> None:
    assert kind_of("notes.TXT") == "text"
    assert kind_of("README") == "text"
    assert kind_of("/some/dir/Makefile") == "text"
    assert kind_of("guide.md") == "markdown"
    assert kind_of("main.py") == "code"
    assert kind_of("app.TSX") == "code"
    assert kind_of("page.htm") == "html"
    assert kind_of("paper.PDF") == "pdf"
    assert kind_of("letter.docx") == "docx"
    for name in ("photo.png", "a.jpg", "b.zip", "setup.exe", "old.doc", "sheet.xlsx"):
        assert kind_of(name) is None


def test_unsupported_type() -> None:
    with pytest.raises(ExtractError) as caught:
        extract_bytes("photo.png", b"\x89PNG\r\n\x1a\n")
    assert caught.value.reason == "unsupported"
    assert str(caught.value) == "unsupported file type .png"


# --- text-like files ---------------------------------------------------------------------


def test_utf8_text() -> None:
    result = extract_bytes("notes.txt", "Grüße aus Köln — 東京\n".encode())
    assert result == Extracted("Grüße aus Köln — 東京\n", "text", "utf-8")


def test_utf8_with_bom() -> None:
    result = extract_bytes("notes.txt", codecs.BOM_UTF8 + "café\n".encode())
    assert (result.text, result.encoding) == ("café\n", "utf-8")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_bom(codec: str) -> None:
    data = "naïve text\nline two\n".encode(codec)
    if codec == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    result = extract_bytes("notes.txt", data)
    assert result.text == "naïve text\nline two\n"
    assert result.encoding == codec[:6]


@pytest.mark.parametrize("codec", ["cp1252", "latin-1"])
def test_legacy_single_byte_text(codec: str) -> None:
    result = extract_bytes("lettre.txt", (FRENCH + "café résumé naïve\n").encode(codec))
    assert "café résumé naïve" in result.text
    assert "élèves préparaient" in result.text
    assert result.encoding in ("cp1252", "iso8859-1", "iso8859-15")


def test_crlf_and_lone_cr_normalised() -> None:
    result = extract_bytes("a.csv", b"a,b\r\n1,2\r3,4\n")
    assert result.text == "a,b\n1,2\n3,4\n"


def test_binary_named_txt() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(4000)
    with pytest.raises(ExtractError) as caught:
        extract_bytes("picture.txt", data)
    assert caught.value.reason == "binary"
    assert str(caught.value) == "binary content in a .txt file"
    assert reason("LICENSE", os.urandom(2000)) == "binary"


def test_control_characters_mean_binary() -> None:
    data = bytes(random.Random(2).choice(range(1, 8)) for _ in range(300)) + b"some text"
    with pytest.raises(ExtractError) as caught:
        extract_bytes("data", data)
    assert caught.value.reason == "binary"
    assert str(caught.value) == "binary content in a file with no extension"


def test_escape_sequences_are_text() -> None:
    result = extract_bytes("build.log", b"\x1b[32mok\x1b[0m compiled\n" * 20)
    assert "compiled" in result.text


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  ", codecs.BOM_UTF8])
def test_empty_text(data: bytes) -> None:
    with pytest.raises(ExtractError) as caught:
        extract_bytes("empty.txt", data)
    assert (caught.value.reason, str(caught.value)) == ("empty", "the file has no text")


def test_readme_without_extension() -> None:
    result = extract_bytes("README", b"Pagemind\n========\n")
    assert (result.kind, result.text) == ("text", "Pagemind\n========\n")


def test_code_and_markdown_keep_indentation() -> None:
    code = extract_bytes("tool.py", b"def f():\r\n    return 1\r\n")
    assert (code.kind, code.text) == ("code", "def f():\n    return 1\n")
    assert extract_bytes("notes.md", b"# Title\n\n- item\n").kind == "markdown"


def test_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_TEXT_CHARS == 5_000_000
    monkeypatch.setattr(extract, "MAX_TEXT_CHARS", 100)
    assert extract_bytes("small.txt", b"x" * 100).text == "x" * 100
    with pytest.raises(ExtractError) as caught:
        extract_bytes("big.txt", b"x" * 101)
    assert caught.value.reason == "too_large"
    assert str(caught.value) == "the file holds more than 100 characters of text"
    assert reason("big.txt", b"x" * 1000) == "too_large"
    assert reason("big.html", b"<p>" + b"word " * 100 + b"</p>") == "too_large"


# --- HTML --------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head>
  <meta charset="utf-8"><title>Caf&eacute;   menu</title>
  <style>p { color: red }</style>
  <script>var hidden = "script text";</script>
</head>
<body>
  <noscript>enable javascript</noscript>
  <h1>Our   &amp; your
     menu</h1>
  <p>Coffee &eacute;clair, <b>bold</b> and <i>italic</i>.</p>
  <div>Line one<br>line two</div>
  <svg><text>vector text</text></svg>
  <ul><li>first</li><li>second</li></ul>
  <table><tr><th>Item</th><th>Price</th></tr><tr><td>Tea</td><td>2</td></tr></table>
  <pre>
def f():
    return  1
</pre>
  <template><p>template text</p></template>
  <p>The end.</p>
</body></html>
"""


def test_html_text() -> None:
    result = extract_bytes("page.html", PAGE.encode())
    assert result.kind == "html"
    assert result.title == "Café menu"
    assert result.encoding == "utf-8"
    assert result.text == (
        "Our & your menu\n\n"
        "Coffee éclair, bold and italic.\n\n"
        "Line one\nline two\n\n"
        "first\n\nsecond\n\n"
        "Item | Price\n\nTea | 2\n\n"
        "def f():\n    return  1\n\n"
        "The end."
    )
    for hidden in ("script", "color", "javascript", "vector", "template"):
        assert hidden not in result.text


def test_html_head_without_body_tag() -> None:
    result = extract_bytes("a.html", b"<head><title>T</title><meta name=x><p>Body text")
    assert (result.title, result.text) == ("T", "Body text")


def test_html_blank_lines_collapsed() -> None:
    result = extract_bytes("a.htm", b"<div><p></p><p>a</p><br><br><br><br><p>b</p></div>")
    assert result.text == "a\n\nb"


def test_html_meta_charset_cp1252() -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
        "<title>Résumé</title></head><body><p>Un café “naïve”</p></body></html>"
    )
    result = extract_bytes("cv.html", page.encode("cp1252"))
    assert (result.text, result.title, result.encoding) == ("Un café “naïve”", "Résumé", "cp1252")
    short = '<meta charset="iso-8859-1"><p>déjà vu</p>'.encode("latin-1")
    assert extract_bytes("x.html", short).text == "déjà vu"


def test_html_without_text_is_empty() -> None:
    assert reason("blank.html", b"<html><head><title>T</title></head><body> </body></html>") == (
        "empty"
    )


# --- PDF ---------------------------------------------------------------------------------


def test_pdf_text_on_two_pages(pdf: bytes) -> None:
    result = extract_bytes("paper.pdf", pdf)
    assert result == Extracted("Hello PDF world\n\nSecond page text", "pdf", "", "Test document")


def test_pdf_encrypted_with_password() -> None:
    data = blank_pdf(password="secret")
    with pytest.raises(ExtractError) as caught:
        extract_bytes("locked.pdf", data)
    assert caught.value.reason == "encrypted"
    assert str(caught.value) == "the PDF is encrypted with a password"


def test_pdf_encrypted_with_empty_user_password_opens(pdf: bytes) -> None:
    from pypdf import PdfReader

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert "Hello PDF world" in extract_bytes("restricted.pdf", buffer.getvalue()).text


@pytest.mark.parametrize(
    "make",
    [
        lambda pdf: pdf[:300] + random.Random(3).randbytes(500),
        lambda pdf: random.Random(4).randbytes(3000),
        lambda pdf: b"%PDF-1.7\n" + random.Random(5).randbytes(3000),
        lambda pdf: pdf.replace(b"/Contents 6 0 R", b"/Contents 99 0 R").replace(b"/Count 2", b"/X 1"),
        lambda pdf: pdf[: len(pdf) // 2],
        lambda pdf: b"",
    ],
)
def test_pdf_corrupt(pdf: bytes, make: object) -> None:
    data = make(pdf)  # type: ignore[operator]
    try:
        result = extract_bytes("broken.pdf", data)
    except ExtractError as exc:
        assert exc.reason in ("corrupt", "empty")
        assert str(exc)
    else:  # pypdf tolerates some damage; whatever it recovers is still text
        assert result.kind == "pdf" and result.text.strip()


def test_pdf_garbage_is_corrupt(pdf: bytes) -> None:
    with pytest.raises(ExtractError) as caught:
        extract_bytes("broken.pdf", pdf[:300] + random.Random(3).randbytes(500))
    assert caught.value.reason == "corrupt"
    assert str(caught.value).startswith("not a valid PDF: ")
    assert reason("noise.pdf", random.Random(4).randbytes(3000)) == "corrupt"


def test_pdf_without_text_layer() -> None:
    with pytest.raises(ExtractError) as caught:
        extract_bytes("scan.pdf", blank_pdf())
    assert caught.value.reason == "empty"
    assert "no text layer" in str(caught.value)


# --- DOCX --------------------------------------------------------------------------------


def test_docx_text_in_document_order() -> None:
    result = extract_bytes("report.docx", make_docx())
    assert result.kind == "docx"
    assert result.title == "Quarterly report"
    assert result.text == (
        "Results\n\nSales rose in the spring.\n\nRegion | Sales\nNorth | 42\n\nThe table ends here."
    )


def test_docx_random_bytes_are_corrupt() -> None:
    with pytest.raises(ExtractError) as caught:
        extract_bytes("broken.docx", random.Random(6).randbytes(5000))
    assert caught.value.reason == "corrupt"
    assert str(caught.value).startswith("not a valid DOCX: ")


def test_docx_other_zip_is_corrupt() -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    assert reason("fake.docx", buffer.getvalue()) == "corrupt"
    truncated = make_docx()
    assert reason("cut.docx", truncated[: len(truncated) // 2]) == "corrupt"


def test_docx_ole_container_is_encrypted() -> None:
    data = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(2000)
    with pytest.raises(ExtractError) as caught:
        extract_bytes("secret.docx", data)
    assert caught.value.reason == "encrypted"
    assert str(caught.value) == "an encrypted Word file (or an old .doc saved as .docx)"


# --- the Extractor and its child process -------------------------------------------------


def test_extractor_runs_pdf_and_docx_in_a_child(pdf: bytes) -> None:
    with Extractor() as extractor:
        assert extractor.pid is None
        assert extractor.extract("notes.txt", b"plain").text == "plain"
        assert extractor.pid is None  # text never needs the child
        assert extractor.extract("paper.pdf", pdf).title == "Test document"
        pid = extractor.pid
        assert pid is not None and pid != os.getpid()
        result = extractor.extract("report.docx", make_docx())
        assert result.title == "Quarterly report"
        assert extractor.pid == pid  # one persistent child
        with pytest.raises(ExtractError) as caught:
            extractor.extract("locked.pdf", blank_pdf(password="secret"))
        assert caught.value.reason == "encrypted"
        with pytest.raises(ExtractError) as caught:
            extractor.extract("photo.png", b"\x89PNG")
        assert caught.value.reason == "unsupported"
        assert extractor.pid == pid
    assert extractor.pid is None
    extractor.close()  # idempotent


def test_extractor_timeout_kills_the_child(pdf: bytes, big_pdf: bytes) -> None:
    with Extractor(timeout=0.05) as extractor:
        with pytest.raises(ExtractError) as caught:
            extractor.extract("big.pdf", big_pdf)  # starting the child is not part of the limit
        assert caught.value.reason == "timeout"
        assert str(caught.value) == "extracting the text took longer than 0.05 s"
        assert extractor.pid is None

        extractor.timeout = 60
        assert extractor.extract("report.docx", make_docx()).kind == "docx"
        first = extractor.pid
        extractor.timeout = 0.05
        started = time.monotonic()
        with pytest.raises(ExtractError) as caught:
            extractor.extract("big.pdf", big_pdf)
        assert caught.value.reason == "timeout"
        assert time.monotonic() - started < 1.0
        assert extractor.pid is None

        extractor.timeout = 60
        assert extractor.extract("paper.pdf", pdf).text.startswith("Hello PDF world")
        assert extractor.pid not in (None, first)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_extractor_survives_a_dying_child(pdf: bytes, big_pdf: bytes) -> None:
    with Extractor() as extractor:
        extractor.extract("paper.pdf", pdf)
        pid = extractor.pid
        assert pid is not None
        killer = threading.Timer(0.2, os.kill, (pid, signal.SIGKILL))
        killer.start()
        try:
            with pytest.raises(ExtractError) as caught:
                extractor.extract("big.pdf", big_pdf)
        finally:
            killer.join()
        assert (caught.value.reason, str(caught.value)) == (
            "corrupt",
            "the extractor crashed on this file",
        )
        assert extractor.pid is None
        assert extractor.extract("paper.pdf", pdf).kind == "pdf"
        pid = extractor.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # dies between requests: replaced without an error
        time.sleep(0.2)
        assert extractor.extract("paper.pdf", pdf).kind == "pdf"
        assert extractor.pid not in (None, pid)


def test_extractor_is_thread_safe(pdf: bytes) -> None:
    results: list[str] = []
    with Extractor() as extractor:
        threads = [
            threading.Thread(target=lambda: results.append(extractor.extract("p.pdf", pdf).text))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == ["Hello PDF world\n\nSecond page text"] * 4
