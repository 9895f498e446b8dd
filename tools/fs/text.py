"""Telling text from binary, and decoding text whatever its encoding."""

from __future__ import annotations

import codecs

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROLS = bytes(b for b in range(32) if b not in b"\t\n\f\r\x1b")
"""Bytes no plain text holds: the control characters but tab, newlines, form feed and escape."""
_ASCII = bytes(range(128))
_MOST_HIGH_BYTES = 0.3
"""Above this share of non-ASCII bytes, undecodable data is taken for binary, not latin-1."""


def decode(data: bytes, complete: bool = True) -> tuple[str, str] | None:
    """The text of ``data`` and its encoding's name, or None when ``data`` is not text.

    A byte order mark picks UTF-8, UTF-16 or UTF-32; otherwise UTF-8, and latin-1 only for bytes
    that look like text (no control characters, mostly ASCII). NUL bytes mean binary.
    ``complete`` False says ``data`` is the start of a longer file: a character cut at its end is
    dropped instead of failing the decoding.
    """
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(data, final=complete)
    except UnicodeDecodeError:
        if encoding != "utf-8" or not _looks_like_text(data):
            return None
        text, encoding = data.decode("latin-1"), "latin-1"
    return None if "\0" in text else (text, encoding)


def _looks_like_text(data: bytes) -> bool:
    high = len(data.translate(None, _ASCII))
    return len(data.translate(None, _CONTROLS)) == len(data) and high <= _MOST_HIGH_BYTES * len(data)
