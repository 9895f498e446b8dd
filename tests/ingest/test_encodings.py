"""Ordinary text in legacy encodings, and UTF-8 with a stray byte, read as its author wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ingest.extract import extract_bytes

FRENCH = ("Le garçon mange une crème brûlée au café. Où est la fenêtre ? Il a reçu une lettre très "
          "détaillée de sa sœur aînée.\n")
SPANISH = "El niño pequeño comió una piña en la montaña. ¿Dónde está el señor? ¡Qué año más extraño!\n"
QUOTES = "He said \u201chello\u201d and it\u2019s fine \u2014 really. Café naïve résumé, 5 \u20ac.\n"
GERMAN = "Die Größe der Übung ist schön für Jürgen und Bärbel an der Straße.\n"
CZECH = "Příliš žlutý kůň úpěl ábelské ódy. Čeština je krásný jazyk, řekl pán. Všechno bylo v pořádku.\n"
POLISH = "Zażółć gęślą jaźń. W Szczebrzeszynie chrząszcz brzmi w trzcinie. Mój kot śpi.\n"
HUNGARIAN = "Jó napot kívánok, hogy érzi magát? Köszönöm, jól vagyok. A tűzoltó őrnagy.\n"
RUSSIAN = "Привет, как дела? Это простой текст на русском языке, и он должен остаться русским.\n"


@pytest.mark.parametrize("text, codec", [
    (FRENCH.replace("œ", "oe"), "latin-1"),
    (SPANISH, "latin-1"),
    (GERMAN, "latin-1"),
    (QUOTES, "cp1252"),
    (FRENCH, "cp1252"),
    ("Le garçon.\n", "latin-1"),  # too short for the detector to know anything
    ("El niño.\n", "latin-1"),
    ("We had smörgåsbord, then crème brûlée at the café.\n", "cp1252"),  # two languages' letters
])
def test_western_legacy_text_is_read_as_written(text: str, codec: str):
    result = extract_bytes("lettre.txt", text.encode(codec))
    assert result.text == text
    assert result.encoding in ("cp1252", "iso8859-1", "iso8859-15")


@pytest.mark.parametrize("text, codec", [
    (CZECH, "cp1250"), (POLISH, "cp1250"), (HUNGARIAN, "cp1250"), (RUSSIAN, "cp1251"),
    ("Dobrý den, jak se máte? Děkuji, dobře.\n", "cp1250"),  # short: the detector knows no language
])
def test_central_european_and_cyrillic_text_keep_their_code_page(text: str, codec: str):
    result = extract_bytes("dopis.txt", text.encode(codec))
    assert result.text == text and result.encoding == codec


def test_utf8_with_one_stray_byte_is_read_as_utf8():
    data = FRENCH.encode() + b"Prix : 12\xff\n" + SPANISH.encode()
    result = extract_bytes("notes.txt", data)
    assert result.encoding == "utf-8"
    assert result.text == FRENCH + "Prix : 12\ufffd\n" + SPANISH


def test_utf8_with_a_few_curly_quotes_and_a_stray_byte_is_read_as_utf8():
    data = "It\u2019s \u201cfine\u201d, she said \u2014 really.\n".encode() + b"\x85 And then nothing more.\n"
    result = extract_bytes("notes.txt", data)  # four valid sequences to one stray byte: the threshold
    assert result.encoding == "utf-8" and result.text.startswith("It\u2019s \u201cfine\u201d, she said \u2014")


def test_latin1_holding_a_chance_utf8_pair_stays_latin1():
    text = FRENCH.replace("œ", "oe") + "Le café du coin a écrit \u00c3\u00a9 sur la carte, dit Hélène.\n"
    result = extract_bytes("lettre.txt", text.encode("latin-1"))  # "Ã©" is a valid UTF-8 "é"
    assert result.text == text and result.encoding in ("cp1252", "iso8859-1")


def test_accented_words_find_their_files(pipeline, memory, docs: Path):
    (docs / "lettre.txt").write_bytes(FRENCH.encode("latin-1", "replace"))
    (docs / "carta.txt").write_bytes(SPANISH.encode("latin-1"))
    (docs / "quotes.txt").write_bytes(QUOTES.encode("cp1252"))
    (docs / "stray.txt").write_bytes("Une tarte, un gâteau, une crème brûlée et un café.\n".encode() + b"\xff\n")
    pipeline.scan(docs)
    assert pipeline.run(settle=True).counts == {"indexed": 4}
    for word, name in (("garçon", "lettre.txt"), ("niño", "carta.txt"), ("résumé", "quotes.txt"),
                       ("gâteau", "stray.txt")):
        found = memory.documents.search(word)
        assert found.items and found.items[0].path == str(docs / name), word
        assert word in found.items[0].text
