"""Text extraction from plain text, code, Markdown, HTML, PDF and DOCX files.

Text-like formats and HTML are handled here; PDF, DOCX and the child process that parses them
(``Extractor``) are in ``extract_worker``.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.ingest.extract_worker import Extractor

MAX_TEXT_CHARS = 5_000_000

_EXTENSIONS = {
    "text": "txt text log csv tsv json jsonl yaml yml toml ini cfg conf xml tex srt",
    "markdown": "md markdown rst org adoc",
    "code": (
        "py pyi js mjs ts tsx jsx c h cc cpp hpp cxx java kt go rs rb php pl sh bash zsh"
        " fish ps1 bat sql css scss less swift m r lua scala cs vue svelte dart hs ex exs"
        " clj el vim cmake gradle proto graphql"
    ),
    "html": "html htm xhtml",
    "pdf": "pdf",
    "docx": "docx",
}
_KINDS = {ext: kind for kind, exts in _EXTENSIONS.items() for ext in exts.split()}

_SNIFF = 8192  # bytes / characters examined when deciding whether content is binary
_BOMS = (  # UTF-32 first: its little-endian BOM begins with the UTF-16 one
    (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
    (codecs.BOM_UTF8, "utf-8", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
)
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\b\x1b")
_UTF8_SHARE = 0.8
"""Bytes that are not all UTF-8 are read as UTF-8 (the stray bytes replaced) when at least this share
of their non-ASCII sequences are valid UTF-8: text in a legacy 8-bit code page almost never forms
one, since each needs a capital letter followed by a symbol (e.g. "Ã©")."""
_WESTERN = ("cp1252", "latin_1")
"""Tried in this order when the detector's pick is doubtful (cp1252 lacks five bytes latin-1 has)."""
_OTHER_LATIN = frozenset({"cp1254", "iso8859-9", "cp857", "mac-turkish", "cp1258"})
"""Code pages of Latin-script languages whose letters the Western ones cannot stand for (Turkish,
Vietnamese): the detector's pick of one of these is kept."""
_SLACK = 0.02
"""How much messier than the detector's pick a Western reading may be and still count as a tie."""
_WESTERN_ALPHABETS = (
    "àâæçéèêëîïôœùûüÿ", "áéíñóúü", "àáâãçéêíóôõú", "àèéìíîòóù", "àçéèíïòóúü", "äöüß", "áäéëèíïóöúü",
    "åäæéöø", "åäöšž", "áæðéíóöúýþ",
)
"""The accented letters of French, Spanish, Portuguese, Italian, Catalan, German, Dutch, the Nordic
languages, Finnish and Icelandic."""
_EASTERN_ALPHABETS = (
    "áčďéěíňóřšťúůýž", "áäčďéíĺľňóôŕšťúýž", "ąćęłńóśźż", "áéíóöőúüű", "čćđšž", "ăâîșțşţ",
    "ąčęėįšųūž", "āčēģīķļņšūž", "äöõüšž",
)
"""The accented letters of Czech, Slovak, Polish, Hungarian, Slovenian and Croatian, Romanian,
Lithuanian, Latvian and Estonian."""
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.I)


class ExtractError(Exception):
    """The file's text cannot be extracted; str(exc) is the reason shown to the user."""

    reason: str  # encrypted, corrupt, binary, too_large, unsupported, empty or timeout

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type[ExtractError], tuple[str, str]]:
        return (ExtractError, (self.reason, str(self)))


@dataclass(frozen=True)
class Extracted:
    """A document's text with its kind, detected encoding and title."""

    text: str  # newlines normalised to "\n"
    kind: str  # "text" | "code" | "markdown" | "html" | "pdf" | "docx"
    encoding: str = ""  # the detected encoding of text-like kinds, "" for PDF and DOCX
    title: str = ""  # the HTML <title>, the PDF metadata title or the DOCX core title


def _suffix(name: str) -> str:
    return PurePath(name).suffix.lower()


def kind_of(name: str) -> str | None:
    """The extractor kind for a file name, by extension (case-insensitive); None when unsupported.

    Files with no extension (README, LICENSE, Makefile) are "text" (their content is sniffed).
    """
    suffix = _suffix(name)
    if not suffix:
        return "text"
    return _KINDS.get(suffix[1:])


def extract_bytes(name: str, data: bytes) -> Extracted:
    """Text from a file's bytes (``name`` gives the type); raises ExtractError. Runs in-process."""
    kind = kind_of(name)
    if kind is None:
        raise ExtractError("unsupported", f"unsupported file type {_suffix(name)}")
    try:
        if kind in ("pdf", "docx"):
            from app.ingest import extract_worker

            result = extract_worker.extract_document(kind, data)
        elif kind == "html":
            result = _extract_html(name, data)
        else:
            text, encoding = _decode(name, data)
            result = Extracted(normalize_newlines(text), kind, encoding)
    except ExtractError:
        raise
    except Exception as exc:  # a parser failing in an unforeseen way on broken input
        raise ExtractError("corrupt", f"the file cannot be read: {exc}") from exc
    if len(result.text) > MAX_TEXT_CHARS:
        raise too_large()
    if not result.text.strip():
        raise ExtractError("empty", "the file has no text")
    return result


def too_large() -> ExtractError:
    """The error for text beyond MAX_TEXT_CHARS."""
    return ExtractError("too_large", f"the file holds more than {MAX_TEXT_CHARS:,} characters of text")


def normalize_newlines(text: str) -> str:
    """``text`` with CRLF and lone CR line ends turned into LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- text-like files ---------------------------------------------------------------------


def _binary(name: str) -> ExtractError:
    suffix = _suffix(name)
    where = f"a {suffix} file" if suffix else "a file with no extension"
    return ExtractError("binary", f"binary content in {where}")


def _decode(name: str, data: bytes, html: bool = False) -> tuple[str, str]:
    """The text of ``data`` and the name of its encoding; raises ExtractError for binary content."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            text, encoding = data[len(bom) :].decode(codec, errors="replace"), label
            break
    else:
        if b"\x00" in data[:_SNIFF]:
            raise _binary(name)
        if not html and len(data) > 4 * MAX_TEXT_CHARS:  # even 4-byte characters would exceed it
            raise too_large()
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            declared = _meta_charset(data) if html else None
            if declared:
                text, encoding = data.decode(declared, errors="replace"), declared
            elif (mostly := _mostly_utf8(data)) is not None:
                text, encoding = mostly, "utf-8"
            else:
                text, encoding = _guess(name, data)
    if _looks_binary(text):
        raise _binary(name)
    return text, encoding


def _mostly_utf8(data: bytes) -> str | None:
    """``data`` read as UTF-8 with its stray bytes replaced, if nearly all of it is UTF-8 (see _UTF8_SHARE)."""
    text = data.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd")
    bad = replaced - data.count("\ufffd".encode())  # a U+FFFD the file itself holds is valid
    valid = len(text) - len(text.encode("ascii", errors="ignore")) - bad
    return text if valid > 0 and valid >= _UTF8_SHARE * (valid + bad) else None


def _guess(name: str, data: bytes) -> tuple[str, str]:
    """The text and encoding charset-normalizer finds, unless a Western reading is as good.

    On ordinary French, Spanish or German text the detector ties cp1252 with Central European
    and Baltic code pages (or, on a short text, picks anything at all) and may choose the wrong
    one: "garçon" becomes "garēon". So a Western reading wins unless the pick is a Turkish or
    Vietnamese code page; or the Western reading is messier by the detector's own measure, or
    mostly non-ASCII letters (Polish, Cyrillic or Greek read as cp1252 are); or the pick reads as
    one Central European or Baltic language while the Western reading's accented letters belong
    to no single Western language (Hungarian read as cp1252 has õ, û and ö).
    """
    import charset_normalizer

    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise _binary(name)
    picked, encoding = str(best), codecs.lookup(best.encoding).name
    if encoding in ("cp1252", "iso8859-1", "iso8859-15", *_OTHER_LATIN):
        return picked, encoding
    for western in _WESTERN:
        match = charset_normalizer.from_bytes(data, cp_isolation=[western]).best()
        if match is None:
            continue
        text = str(match)
        if match.chaos > best.chaos + _SLACK or not _mostly_ascii_letters(text):
            break
        if _fits(text, _WESTERN_ALPHABETS) or not _fits(picked, _EASTERN_ALPHABETS):
            return text, codecs.lookup(western).name
        break
    return picked, encoding


def _accented(text: str) -> set[str]:
    """The lowercase non-ASCII letters of (the start of) ``text``."""
    return {c.lower() for c in text[:65536] if c.isalpha() and not c.isascii() and c not in "ªºµ"}


def _fits(text: str, alphabets: tuple[str, ...]) -> bool:
    """Whether the accented letters of ``text`` all belong to one of ``alphabets``."""
    letters = _accented(text)
    return any(letters <= set(alphabet) for alphabet in alphabets)


def _mostly_ascii_letters(text: str) -> bool:
    """Whether at most half the letters are outside ASCII, as in any Western European text."""
    sample = text[:65536]
    letters = sum(1 for c in sample if c.isalpha())
    ascii_letters = sum(1 for c in sample if c.isascii() and c.isalpha())
    return letters > 0 and (letters - ascii_letters) * 2 <= letters


def _meta_charset(data: bytes) -> str | None:
    """The encoding an HTML document declares in a <meta> tag, if Python knows it."""
    match = _META_CHARSET.search(data[:4096])
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None
    if name.startswith(("utf-16", "utf-32")):  # cannot be true of bytes without NULs
        return None
    return "cp1252" if name in ("ascii", "iso8859-1") else name  # as browsers read them


def _looks_binary(text: str) -> bool:
    sample = text[:_SNIFF]
    bad = sum(
        1
        for c in sample
        if c == "\ufffd" or ((c < " " or "\x7f" <= c <= "\x9f") and c not in _ALLOWED_CONTROLS)
    )
    return bad > len(sample) * 0.1


# --- HTML --------------------------------------------------------------------------------

_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg"})
_HEAD_TAGS = frozenset({"head", "title", "meta", "link", "base"})  # any other tag ends the head
_BLOCKS = frozenset(
    "address article aside blockquote body caption center dd details dialog div dl dt"
    " fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html li"
    " main nav ol p section summary table tbody tfoot thead tr ul".split()
)


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML document as paragraphs, and its title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self._paragraphs: list[str] = []
        self._lines: list[str] = []  # finished lines of the current paragraph
        self._line: list[str] = []  # raw inline text of the current line
        self._pre: list[str] = []
        self._pre_depth = 0
        self._skip_depth = 0
        self._in_head = False
        self._title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += 1
            return
        if self._skip_depth:
            return
        if tag not in _HEAD_TAGS:
            self._in_head = False
        if tag == "head":
            self._in_head = True
        elif tag == "title" and not self.title:
            self._title = []
        elif tag == "br" and self._pre_depth:
            self._pre.append("\n")
        elif tag == "br":
            self._end_line()
        elif tag == "pre":
            if not self._pre_depth:
                self._end_paragraph()
            self._pre_depth += 1
        elif self._pre_depth:
            return
        elif tag in _BLOCKS:
            self._end_title()
            self._end_paragraph()
        elif tag in ("td", "th") and "".join(self._line).strip():
            self._line.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif self._skip_depth:
            return
        elif tag == "head":
            self._in_head = False
        elif tag == "title":
            self._end_title()
        elif tag == "pre" and self._pre_depth:
            self._pre_depth -= 1
            if not self._pre_depth:
                self._end_pre()
        elif tag in _BLOCKS and not self._pre_depth:
            self._end_paragraph()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._title is not None:
            self._title.append(data)
        elif self._pre_depth:
            self._pre.append(data)
        elif not self._in_head:
            self._line.append(data)

    def text(self) -> str:
        """The collected text, paragraphs separated by a blank line."""
        self._end_title()
        if self._pre_depth:
            self._end_pre()
        self._end_paragraph()
        return "\n\n".join(self._paragraphs)

    def _end_title(self) -> None:
        if self._title is not None:
            self.title = " ".join("".join(self._title).split())
            self._title = None

    def _end_line(self) -> None:
        self._lines.append(" ".join("".join(self._line).split()))
        self._line = []

    def _end_paragraph(self) -> None:
        self._end_line()
        lines: list[str] = []
        for line in self._lines:
            if line or (lines and lines[-1]):  # at most one blank line, none at the start
                lines.append(line)
        while lines and not lines[-1]:
            lines.pop()
        if lines:
            self._paragraphs.append("\n".join(lines))
        self._lines = []

    def _end_pre(self) -> None:
        text = "".join(self._pre).lstrip("\n").rstrip()
        if text:
            self._paragraphs.append(text)
        self._pre = []
        self._pre_depth = 0


def _extract_html(name: str, data: bytes) -> Extracted:
    text, encoding = _decode(name, data, html=True)
    parser = _HtmlText()
    parser.feed(normalize_newlines(text))
    parser.close()
    return Extracted(parser.text(), "html", encoding, parser.title)


def __getattr__(name: str) -> Any:
    # Extractor lives in extract_worker, which imports this module; it is loaded on first use.
    if name == "Extractor":
        from app.ingest import extract_worker

        return extract_worker.Extractor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MAX_TEXT_CHARS", "ExtractError", "Extracted", "Extractor", "extract_bytes", "kind_of"]
