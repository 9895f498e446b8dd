"""Markdown to Qt rich text, for the chat view.

The text comes from the model and from tool outputs, so it is untrusted: every piece of it is
HTML-escaped, only the tags built here are emitted, links are made only for http(s) and mailto
addresses, and raw HTML shows as text. The output uses the HTML subset Qt's rich text engine
understands, with inline ``style`` attributes instead of classes.

Messages are re-rendered on every streamed token, so the renderer works line by line with regular
expressions that cannot backtrack badly, and an unclosed code fence renders as a code block.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape

__all__ = ["to_html", "highlight"]

LIGHT = {"keyword": "#cf222e", "string": "#0a3069", "comment": "#6e7781", "number": "#0550ae",
         "code_bg": "#f3f4f6", "code_fg": "#1f2328", "quote": "#57606a"}
DARK = {"keyword": "#ff7b72", "string": "#a5d6ff", "comment": "#8b949e", "number": "#79c0ff",
        "code_bg": "#2b2f36", "code_fg": "#e6edf3", "quote": "#9198a1"}

_MAX_DEPTH = 12
"""Deeper nesting of lists and quotes renders as plain paragraphs."""

# --- syntax highlighting ---------------------------------------------------------------------

_C_COMMENT = r"//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)"
_DQ = r'"(?:[^"\\\n]|\\[\s\S])*"?'
_SQ = r"'(?:[^'\\\n]|\\[\s\S])*'?"
_NUMBER = r"\b(?:0[xXoObB][0-9a-fA-F_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)[jJnLlUuFf]?"
_KEYWORD = r"\b(?:KEYWORDS)\b"

_RULES: dict[str, tuple[str, list[tuple[str, str]], str]] = {
    # language: (where a token can start, [(kind, regex)], keywords)
    "python": (r"[#'\"]|\b\w", [
        ("comment", r"#[^\n]*"),
        ("string", r"(?:\b[rRbBuUfF]{1,2})?(?:'''[\s\S]*?(?:'''|\Z)|\"\"\"[\s\S]*?(?:\"\"\"|\Z)|"
                   + _SQ + "|" + _DQ + ")"),
        ("keyword", _KEYWORD), ("number", _NUMBER)],
        "and as assert async await break class continue def del elif else except finally for "
        "from global if import in is lambda match case nonlocal not or pass raise return try "
        "while with yield None True False self"),
    "javascript": (r"[/'\"`$]|\b\w", [
        ("comment", _C_COMMENT), ("string", _SQ + "|" + _DQ + r"|`(?:[^`\\]|\\[\s\S])*`?"),
        ("keyword", r"(?<![\w$])(?:KEYWORDS)(?![\w$])"), ("number", _NUMBER)],
        "break case catch class const continue debugger default delete do else export extends "
        "finally for function if import in instanceof let new return super switch this throw try "
        "typeof var void while with yield async await of static get set null undefined true false "
        "interface type enum implements private public protected readonly declare as from"),
    "bash": (r"[#$'\"]|\b\w", [
        ("comment", r"(?<!\S)#[^\n]*"),
        ("number", r"\$(?:\{[^}\n]*\}?|[A-Za-z_]\w*|[0-9#?@*!$-])|\b\d+\b"),
        ("string", r"'[^']*'?|\"(?:[^\"\\]|\\[\s\S])*\"?"),
        ("keyword", r"(?<![\w-])(?:KEYWORDS)(?![\w-])")],
        "if then else elif fi for while until do done case esac in function return local export "
        "readonly declare unset shift break continue exit source alias set echo cd sudo"),
    "json": (r"[-\"]|\b\w", [
        ("string", _DQ), ("number", r"-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"), ("keyword", _KEYWORD)],
        "true false null"),
    "clike": (r"[/'\"`#]|\b\w|^", [
        ("comment", _C_COMMENT), ("string", _DQ + r"|'(?:\\[^'\n]{1,8}|[^'\\\n])'|`[^`]*`?"),
        ("keyword", r"^[ \t]*#[ \t]*[A-Za-z]+|" + _KEYWORD), ("number", _NUMBER)],
        "auto break case catch char class const continue default delete do double else enum "
        "extern final float for goto if impl import include int let long loop match mod mut "
        "namespace new package private protected public return short signed sizeof static struct "
        "super switch template this throw throws trait try typedef typename union unsigned use "
        "using virtual void volatile while fn pub crate self Self where dyn move ref unsafe async "
        "await func go chan defer map range select var type interface fallthrough bool string "
        "byte rune boolean extends implements instanceof abstract synchronized true false null "
        "nullptr nil None Some Ok Err"),
}
_ALIASES = {alias: name for name, aliases in {
    "python": "python py python3 py3", "bash": "bash sh shell zsh console", "json": "json jsonc",
    "javascript": "javascript js jsx mjs node typescript ts tsx",
    "clike": "c h cpp c++ cc cxx hpp java go golang rust rs cs csharp kotlin kt",
}.items() for alias in aliases.split()}


@lru_cache(maxsize=None)
def _lexer(name: str) -> re.Pattern[str]:
    starts, rules, keywords = _RULES[name]
    words = "|".join(sorted(keywords.split(), key=len, reverse=True))
    pattern = "|".join(f"(?P<{kind}>{regex.replace('KEYWORDS', words)})" for kind, regex in rules)
    return re.compile(f"(?={starts})(?:{pattern})", re.MULTILINE)


def highlight(code: str, language: str, dark: bool = False) -> str:
    """``code`` as escaped HTML, with keywords, strings, comments and numbers in colour.

    Unknown languages come back escaped and uncoloured. The text content of the result (tags
    removed, entities decoded) is always exactly ``code``.
    """
    name = _ALIASES.get(language.strip().lower())
    if name is None:
        return escape(code, False)
    palette, out, last = DARK if dark else LIGHT, [], 0
    for m in _lexer(name).finditer(code):
        out.append(f'{escape(code[last:m.start()], False)}<span style="color:'
                   f'{palette[m.lastgroup or ""]};">{escape(m.group(), False)}</span>')
        last = m.end()
    out.append(escape(code[last:], False))
    return "".join(out)


# --- inline markup ---------------------------------------------------------------------------

_TICKS = re.compile(r"`+")
_BACKSLASH = re.compile(r"\\([!-/:-@\[-`{-~])")
_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\(([^\s()\x00]*(?:\([^\s()\x00]*\)[^\s()\x00]*)*)"
                   r"(?:[ \t]+\"[^\"\n]*\")?\)")
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^\s<>\x00]+)>", re.IGNORECASE)
_BARE_URL = re.compile(r"(?<![\w@/])https?://[^\s<>\"\x00]+", re.IGNORECASE)
_SAFE_URL = re.compile(r"(?:https?://|mailto:)[^\s<>\"\x00]+", re.IGNORECASE)
_INLINE_MARKUP = re.compile(r"[`\\\]:*_~]")
_SENTINEL = re.compile(r"\x00(\d+)\x00")
_TAG = re.compile(r"<(/?)([a-z]+)[^>]*>")
_STAR = re.compile(r"(?<!\*)\*(?![\s*])([^*\n]+)(?<!\s)\*(?!\*)")
_UNDERSCORE = re.compile(r"(?<!\w)_(?![\s_])([^_\n]+)(?<!\s)_(?!\w)")
_EMPHASIS = [  # italics go first and again last, so each can hold the other's bold
    ("*", _STAR, "i"), ("_", _UNDERSCORE, "i"),
    ("*", re.compile(r"\*\*(?!\s)([^*\n]+)(?<!\s)\*\*"), "b"),
    ("_", re.compile(r"(?<!\w)__(?!\s)([^_\n]+)(?<!\s)__(?!\w)"), "b"),
    ("~", re.compile(r"~~(?!\s)([^~\n]+)(?<!\s)~~"), "s"),
    ("*", _STAR, "i"), ("_", _UNDERSCORE, "i"),
]


@lru_cache(maxsize=64)
def _closing_ticks(count: int) -> re.Pattern[str]:
    return re.compile(rf"(?<!`)`{{{count}}}(?!`)")


def _balanced(html: str) -> bool:
    """Whether the tags in ``html`` nest properly (so emphasis never crosses other tags)."""
    stack: list[str] = []
    for m in _TAG.finditer(html):
        if not m.group(1):
            stack.append(m.group(2))
        elif not stack or stack.pop() != m.group(2):
            return False
    return not stack


def _emphasis(html: str) -> str:
    """Bold, italic and strikethrough on already escaped text."""
    for char, regex, tag in _EMPHASIS:
        if char in html:
            html = regex.sub(lambda m, t=tag: f"<{t}>{m.group(1)}</{t}>"
                             if _balanced(m.group(1)) else m.group(), html)
    return html


def _link(url: str, label_html: str) -> str:
    return f'<a href="{escape(url)}">{label_html}</a>'


def _trim_url(url: str) -> int:
    """Where a bare URL ends, leaving out trailing punctuation and unbalanced parentheses."""
    opens, closes, end = url.count("("), url.count(")"), len(url)
    while end > 0 and (url[end - 1] in ".,:;!?*_~'" or (url[end - 1] == ")" and closes > opens)):
        closes -= url[end - 1] == ")"
        end -= 1
    return end


class _Inline:
    """Inline markup of one paragraph, heading or table cell.

    Code spans and links are rendered first and put aside behind placeholders, so the escaping
    and emphasis passes over the rest of the text cannot touch them.
    """

    def __init__(self, code_bg: str) -> None:
        self.code_open = f'<code style="background-color:{code_bg};">'
        self.stash: list[str] = []

    def keep(self, html: str) -> str:
        self.stash.append(html)
        return f"\x00{len(self.stash) - 1}\x00"

    def restore(self, text: str) -> str:
        if "\x00" not in text:
            return text
        return _SENTINEL.sub(lambda m: self.restore(self.stash[int(m.group(1))]), text)

    def code_spans(self, text: str) -> str:
        out, last, pos, unmatched = [], 0, 0, set()
        while (m := _TICKS.search(text, pos)) is not None:
            count, pos = len(m.group()), m.end()
            close = None if count in unmatched else _closing_ticks(count).search(text, pos)
            if close is None:
                unmatched.add(count)
                continue
            body = text[pos:close.start()].replace("\n", " ")
            if body.strip() and body[0] == body[-1] == " ":
                body = body[1:-1]
            out += [text[last:m.start()], self.keep(f"{self.code_open}{escape(body)}</code>")]
            last = pos = close.end()
        return "".join(out) + text[last:]

    def link(self, m: re.Match[str]) -> str:
        label, url = m.group(1), m.group(2)
        if not _SAFE_URL.fullmatch(url):
            return m.group()
        return self.keep(_link(url, _emphasis(escape(label or url))))

    def bare_url(self, m: re.Match[str]) -> str:
        url = m.group()
        end = _trim_url(url)
        return (self.keep(_link(url[:end], escape(url[:end]))) if end else "") + url[end:]

    def render(self, text: str) -> str:
        if "`" in text:
            text = self.code_spans(text)
        if "\\" in text:
            text = _BACKSLASH.sub(lambda m: self.keep(escape(m.group(1))), text)
        if "](" in text:
            text = _LINK.sub(self.link, text)
        if ":" in text:
            text = _AUTOLINK.sub(lambda m: self.keep(_link(m.group(1), escape(m.group(1)))), text)
            text = _BARE_URL.sub(self.bare_url, text)
        return self.restore(_emphasis(escape(text))).replace("\n", "<br>")


# --- blocks ----------------------------------------------------------------------------------

_FENCE = re.compile(r"( {0,3})(`{3,}|~{3,})[ \t]*([^\s`]*)(.*)")
_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?$")
_RULE = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_ITEM = re.compile(r"([ \t]*)([-*+]|\d{1,9}[.)])([ \t]+)(\S.*)")
_QUOTE = re.compile(r" {0,3}> ?(.*)")
_MAYBE_BLOCK = re.compile(r"[ \t]*[-`~#>*+_\d]")
_BLOCKS = [("fence", _FENCE), ("heading", _HEADING), ("rule", _RULE), ("quote", _QUOTE),
           ("item", _ITEM)]
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_DELIMITER_CELL = re.compile(r":?-+:?")


def _width(line: str) -> int:
    """Columns of leading whitespace, a tab reaching the next multiple of four."""
    head = line[:len(line) - len(line.lstrip(" \t"))]
    return len(head.expandtabs(4))


def _dedent(line: str, columns: int) -> str:
    """``line`` without up to ``columns`` columns of leading whitespace."""
    col = i = 0
    while i < len(line) and col < columns and line[i] in " \t":
        col += 1 if line[i] == " " else 4 - col % 4
        i += 1
    return line[i:]


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [cell.strip().replace("\\|", "|") for cell in _CELL_SPLIT.split(line)]


def _align(delimiter: str) -> str:
    return {(True, True): "center", (False, True): "right"}.get(
        (delimiter[0] == ":", delimiter[-1] == ":"), "left")


class _Renderer:
    def __init__(self, dark: bool) -> None:
        self.dark, self.palette = dark, DARK if dark else LIGHT

    def inline(self, text: str) -> str:
        if _INLINE_MARKUP.search(text):
            return _Inline(self.palette["code_bg"]).render(text)
        return escape(text).replace("\n", "<br>")

    def is_table(self, lines: list[str], i: int) -> bool:
        if "|" not in lines[i] or i + 1 >= len(lines) or "-" not in lines[i + 1]:
            return False
        delimiters = _cells(lines[i + 1])
        return (all(_DELIMITER_CELL.fullmatch(cell) for cell in delimiters)
                and len(delimiters) == len(_cells(lines[i])))

    def block_at(self, lines: list[str], i: int) -> tuple[str, re.Match[str] | None]:
        """The kind of block line ``i`` starts ("paragraph" if none), with its match."""
        if _MAYBE_BLOCK.match(lines[i]):
            for kind, regex in _BLOCKS:
                m = regex.match(lines[i])
                if m and not (kind == "fence" and m.group(2)[0] == "`" and "`" in m.group(4)):
                    return kind, m
        return ("table" if self.is_table(lines, i) else "paragraph"), None

    def starts_block(self, lines: list[str], i: int) -> bool:
        return self.block_at(lines, i)[0] != "paragraph"

    def blocks(self, lines: list[str], depth: int = 0, tight: bool = False) -> str:
        """Render a run of lines; ``tight`` paragraphs (in list items) get no ``<p>``."""
        out: list[str] = []
        i = 0
        while i < len(lines):
            if not lines[i].strip():
                i += 1
                continue
            if depth > _MAX_DEPTH:
                out.append(f"<p>{self.inline(chr(10).join(x.strip() for x in lines[i:]))}</p>")
                break
            kind, m = self.block_at(lines, i)
            if m is not None and kind == "fence":
                i = self.code_block(lines, i, m, out)
            elif m is not None and kind == "heading":
                level, title = len(m.group(1)), (m.group(2) or "").strip()
                if not title.rstrip("#") or title.rstrip("#")[-1] in " \t":
                    title = title.rstrip("#").strip()
                out.append(f"<h{level}>{self.inline(title)}</h{level}>")
                i += 1
            elif kind == "rule":
                out.append("<hr>")
                i += 1
            elif kind == "quote":
                i = self.quote_block(lines, i, depth, out)
            elif kind == "item":
                i = self.list_block(lines, i, depth, out)
            elif kind == "table":
                i = self.table_block(lines, i, out)
            else:
                start, i = i, i + 1
                while i < len(lines) and lines[i].strip() and not self.starts_block(lines, i):
                    i += 1
                text = self.inline("\n".join(x.strip() for x in lines[start:i]))
                out.append(text if tight else f"<p>{text}</p>")
        return "".join(out)

    def code_block(self, lines: list[str], i: int, m: re.Match[str], out: list[str]) -> int:
        """A fenced block, up to its closing fence or, while still streaming, the end."""
        indent, fence, end = len(m.group(1)), m.group(2), i + 1
        while end < len(lines):
            closing = lines[end].strip()
            if _width(lines[end]) < 4 and len(closing) >= len(fence) and not closing.strip(fence[0]):
                break
            end += 1
        code = "\n".join(_dedent(line, indent) for line in lines[i + 1:end])
        if end == len(lines):
            code = code.rstrip("\n")
        style = f"background-color:{self.palette['code_bg']}; color:{self.palette['code_fg']};"
        out.append(f'<pre style="{style}">{highlight(code, m.group(3), self.dark)}</pre>')
        return end + 1

    def quote_block(self, lines: list[str], i: int, depth: int, out: list[str]) -> int:
        inner: list[str] = []
        while i < len(lines):
            if m := _QUOTE.match(lines[i]):
                inner.append(m.group(1))
            elif lines[i].strip() and inner[-1].strip() and not self.starts_block(lines, i):
                inner.append(lines[i])  # a lazy continuation of the quoted paragraph
            else:
                break
            i += 1
        body = self.blocks(inner, depth + 1)
        out.append(f'<blockquote style="color:{self.palette["quote"]};">{body}</blockquote>')
        return i

    def list_block(self, lines: list[str], i: int, depth: int, out: list[str]) -> int:
        """Items at the first item's indentation; deeper lines belong to the item above."""
        first = _ITEM.match(lines[i])
        assert first is not None
        ordered, base = first.group(2)[-1] in ".)", _width(first.group(1))
        items: list[list[str]] = []
        column, blank = 0, False
        while i < len(lines):
            line, m, indent = lines[i], _ITEM.match(lines[i]), _width(lines[i])
            if not line.strip():
                items[-1].append("")
            elif m and indent <= base and not _RULE.match(line):
                if (m.group(2)[-1] in ".)") != ordered:
                    break
                column = indent + len(m.group(2)) + min(len(m.group(3)), 4)
                items.append([m.group(4)])
            elif indent > base:
                items[-1].append(_dedent(line, column))
            elif not blank and not self.starts_block(lines, i):
                items[-1].append(line.strip())
            else:
                break
            blank, i = not line.strip(), i + 1
        html = []
        for item in items:
            while not item[-1]:
                item.pop()
            if len(item) == 1 and not _MAYBE_BLOCK.match(item[0]):
                html.append(f"<li>{self.inline(item[0])}</li>")
            else:
                html.append(f"<li>{self.blocks(item, depth + 1, tight='' not in item)}</li>")
        tag, start = ("ol", int(first.group(2)[:-1])) if ordered else ("ul", 1)
        attrs = f' start="{start}"' if start != 1 else ""
        out.append(f"<{tag}{attrs}>{''.join(html)}</{tag}>")
        return i

    def table_block(self, lines: list[str], i: int, out: list[str]) -> int:
        header = _cells(lines[i])
        aligns = [_align(cell) for cell in _cells(lines[i + 1])]
        rows, i = [header], i + 2
        while i < len(lines) and "|" in lines[i] and lines[i].strip():
            rows.append(_cells(lines[i]))
            i += 1
        html = []
        for n, row in enumerate(rows):
            tag, cells = "td" if n else "th", (row + [""] * len(header))[:len(header)]
            html.append("<tr>" + "".join(f'<{tag} align="{align}">{self.inline(cell)}</{tag}>'
                                         for align, cell in zip(aligns, cells)) + "</tr>")
        out.append(f'<table border="1" cellspacing="0" cellpadding="4">{"".join(html)}</table>')
        return i


def to_html(text: str, dark: bool = False) -> str:
    """Render Markdown ``text`` (possibly still being streamed) as Qt rich text HTML."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    return _Renderer(dark).blocks(text.split("\n"))
