"""The chat view's Markdown renderer: structure, escaping of untrusted text, highlighting."""

from __future__ import annotations

import html
import re
import time

from hypothesis import given, settings, strategies as st

from app.gui.markdown import highlight, to_html

ALLOWED_TAGS = {"p", "br", "b", "i", "s", "code", "pre", "span", "a", "h1", "h2", "h3", "h4", "h5",
                "h6", "ul", "ol", "li", "blockquote", "hr", "table", "tr", "th", "td"}
ALLOWED_ATTRS = {"style", "href", "start", "align", "border", "cellspacing", "cellpadding"}
TAG = re.compile(r'<(/?)([a-z0-9]+)((?: [a-z]+="[^"<>]*")*)>')
ATTR = re.compile(r' ([a-z]+)="([^"]*)"')


def check_markup(out: str) -> None:
    """Every '<' in ``out`` opens one of our tags, with only our attributes and safe links."""
    assert out.count("<") == len(TAG.findall(out)), out
    for m in TAG.finditer(out):
        assert m.group(2) in ALLOWED_TAGS, m.group()
        for name, value in ATTR.findall(m.group(3)):
            assert name in ALLOWED_ATTRS, m.group()
            if name == "href":
                assert re.match(r"(?i)(https?://|mailto:)", html.unescape(value)), m.group()


def text_of(out: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", out))


def test_headings() -> None:
    assert to_html("# Title") == "<h1>Title</h1>"
    assert to_html("### Three ###") == "<h3>Three</h3>"
    assert to_html("###### Six *it*") == "<h6>Six <i>it</i></h6>"
    assert to_html("#hashtag") == "<p>#hashtag</p>"
    assert "<h2>C#</h2>" in to_html("## C#")


def test_emphasis() -> None:
    out = to_html("**bold** and *it* and _it2_ and ~~gone~~")
    assert out == "<p><b>bold</b> and <i>it</i> and <i>it2</i> and <s>gone</s></p>"
    assert "<b>a <i>b</i> c</b>" in to_html("**a *b* c**")
    assert "<i>a <b>b</b> c</i>" in to_html("*a **b** c*")
    assert "<i><b>x</b></i>" in to_html("***x***")
    assert "<i>" not in to_html("snake_case_name and 2 * 3 * 4")
    assert to_html(r"\*not italic\*") == "<p>*not italic*</p>"


def test_paragraphs_and_line_breaks() -> None:
    assert to_html("one\ntwo\n\nthree") == "<p>one<br>two</p><p>three</p>"
    assert to_html("a\r\nb") == "<p>a<br>b</p>"


def test_inline_code_escapes_html() -> None:
    out = to_html("run `<script>alert('x')</script>` and `**not bold**`")
    assert "<code" in out and "&lt;script&gt;" in out and "<script" not in out
    assert "**not bold**" in out and "<b>" not in out
    assert "``" not in to_html("``a ` b``") and "a ` b" in text_of(to_html("``a ` b``"))
    check_markup(out)


def test_raw_html_is_shown_as_text() -> None:
    source = '<img src=x onerror="alert(1)"> <iframe src="https://evil"></iframe> <b>hi</b>'
    out = to_html(source)
    check_markup(out)
    assert "<img" not in out and "<iframe" not in out and "<b>" not in out
    assert text_of(out) == source


def test_fenced_code_block() -> None:
    out = to_html("before\n```python\nx = 1 < 2\n```\nafter")
    assert out.startswith("<p>before</p><pre style=")
    assert out.endswith("</pre><p>after</p>")
    assert text_of(out) == "beforex = 1 < 2after"
    tilde = to_html("~~~\n**raw** <b>\n~~~")
    assert "<b>" not in tilde and "**raw** &lt;b&gt;" in tilde


def test_unclosed_fence_renders_as_code_so_far() -> None:
    out = to_html("Here:\n```bash\necho hi\nls -la\n")
    assert "<pre" in out and out.endswith("</pre>")
    assert text_of(out[out.index("<pre"):]) == "echo hi\nls -la"
    assert "<span" in out


def test_one_line_triple_backticks_are_inline_code() -> None:
    out = to_html("```print(1)```")
    assert "<pre" not in out and "<code" in out and "print(1)" in out


def test_python_highlighting() -> None:
    out = highlight("def f(x):  # comment\n    return 'a' + 1\n", "python")
    assert re.search(r'<span style="color:#[0-9a-f]{6};">def</span>', out)
    assert re.search(r'<span style="color:#[0-9a-f]{6};"># comment</span>', out)
    keyword = re.search(r'color:(#\w+);">def<', out)
    comment = re.search(r'color:(#\w+);"># comment<', out)
    assert keyword and comment and keyword.group(1) != comment.group(1)
    assert ">f<" not in out
    dark = highlight("def f(): pass", "python", dark=True)
    assert dark != highlight("def f(): pass", "python")


def test_other_languages_and_fallback() -> None:
    for code, lang, keyword in [("const x = 1; // c", "javascript", "const"),
                                ("let y: number = 2", "ts", "let"),
                                ("if [ -f x ]; then echo ok; fi", "bash", "then"),
                                ('{"a": true, "b": null}', "json", "true"),
                                ("int main() { return 0; }", "c", "return"),
                                ("fn main() { let mut v = vec![]; }", "rust", "mut"),
                                ("func main() { go run() }", "go", "func")]:
        out = highlight(code, lang)
        assert f">{keyword}</span>" in out, (lang, out)
        assert text_of(out) == code
    assert highlight("if x < 1: pass", "brainfuck") == "if x &lt; 1: pass"


def test_links() -> None:
    out = to_html("[docs](https://example.com/a?b=1&c=2) and <https://x.org> and https://y.org/p.")
    assert '<a href="https://example.com/a?b=1&amp;c=2">docs</a>' in out
    assert '<a href="https://x.org">https://x.org</a>' in out
    assert '<a href="https://y.org/p">https://y.org/p</a>.' in out
    assert '<a href="mailto:me@x.org">mail</a>' in to_html("[mail](mailto:me@x.org)")
    check_markup(out)


def test_unsafe_links_are_not_linked() -> None:
    for source in ["[click](javascript:alert(1))", "[x](data:text/html,hi)", "[x](file:///etc)",
                   "<javascript:alert(1)>", "javascript:alert(1)", "[x](vbscript:msgbox)"]:
        out = to_html(source)
        assert "<a " not in out, out
        check_markup(out)
    assert "<img" not in to_html("![pic](https://x.org/a.png)")


def test_lists() -> None:
    out = to_html("- one\n- two *it*\n  - nested\n  - nested 2\n- three\n  more")
    assert out == ("<ul><li>one</li><li>two <i>it</i><ul><li>nested</li><li>nested 2</li></ul>"
                   "</li><li>three<br>more</li></ul>")
    assert to_html("1. a\n2. b") == "<ol><li>a</li><li>b</li></ol>"
    assert to_html("3) c\n4) d").startswith('<ol start="3">')
    assert to_html("* a\n+ b") == "<ul><li>a</li><li>b</li></ul>"
    mixed = to_html("Steps:\n1. first\n   - detail\n2. second\n\nDone.")
    assert mixed == ("<p>Steps:</p><ol><li>first<ul><li>detail</li></ul></li><li>second</li>"
                     "</ol><p>Done.</p>")


def test_code_block_inside_list_item() -> None:
    out = to_html("1. Run:\n   ```sh\n   ls\n   ```\n2. Done")
    assert "<li>Run:<pre" in out and "<li>Done</li>" in out
    assert text_of(out) == "Run:lsDone"


def test_table() -> None:
    out = to_html("| Name | Size |\n|:-----|-----:|\n| a.txt | 1 KB |\n| `b\\|c` |\n\nafter")
    assert out.startswith('<table border="1"')
    assert '<th align="left">Name</th><th align="right">Size</th>' in out
    assert '<td align="left">a.txt</td><td align="right">1 KB</td>' in out
    assert "b|c</code></td><td align=\"right\"></td>" in out
    assert out.endswith("</table><p>after</p>")
    assert "<table" not in to_html("a | b\n---")


def test_blockquote_and_rule() -> None:
    out = to_html("> quoted **text**\n> more\n\n---\n\nend")
    assert out.startswith('<blockquote style="color:')
    assert "<p>quoted <b>text</b><br>more</p></blockquote><hr><p>end</p>" in out
    assert "<blockquote" in to_html("> > nested").split("</blockquote>")[0][12:]


def test_dark_palette_differs() -> None:
    assert to_html("```py\nx = 1\n```", dark=True) != to_html("```py\nx = 1\n```")


def test_deep_nesting_does_not_recurse_forever() -> None:
    for source in ["- " * 5000 + "x", ">" * 5000 + " x", "  " * 3000 + "- x"]:
        check_markup(to_html(source))


def test_large_message_renders() -> None:
    chunk = ("## Section\nSome **bold** text with `code` and a [link](https://example.com).\n\n"
             "- item one\n- item two with *emphasis*\n  - nested https://x.org/a\n\n"
             "| a | b |\n|---|---|\n| 1 | 2 |\n\n> a quote\n\n"
             "```python\ndef f(x):\n    # comment\n    return x * 2 + 'str'\n```\n\n")
    message = chunk * (20_000 // len(chunk) + 1)
    started = time.perf_counter()
    out = to_html(message)
    elapsed = time.perf_counter() - started
    assert len(message) >= 20_000 and out.count("<h2>") == message.count("## Section")
    check_markup(out)
    assert elapsed < 5  # generous; typically a few milliseconds


def test_pathological_inputs_are_fast() -> None:
    for source in ["**x " * 5000, "`" * 3000 + "a", "*a " * 6000, "[" * 5000 + "](" * 5000,
                   "https://" + "a)" * 8000, "_a " * 6000, "| " * 5000 + "\n" + "|-" * 5000]:
        started = time.perf_counter()
        check_markup(to_html(source))
        assert time.perf_counter() - started < 2, source[:20]


TOKENS = list("ab <>&\"'`*_~#-+>|[]()!:/.\\\n\t1") + [
    "http://x.org", "javascript:", "mailto:", "<script>", "<img ", "onerror=", "```py\n", "~~~",
    "\x00", "\r", "\n\n", "- ", "1. ", "> ", "| --- |", "  "]
MARKDOWNISH = st.lists(st.sampled_from(TOKENS), max_size=120).map("".join)


@settings(deadline=None, max_examples=300)
@given(st.one_of(st.text(max_size=300), MARKDOWNISH))
def test_any_text_renders_safely(text: str) -> None:
    for dark in (False, True):
        check_markup(to_html(text, dark=dark))


@settings(deadline=None, max_examples=300)
@given(st.one_of(st.text(max_size=200), MARKDOWNISH),
       st.sampled_from(["python", "js", "typescript", "bash", "json", "c", "rust", "go", "java",
                        "nope", ""]),
       st.booleans())
def test_highlight_round_trips(code: str, language: str, dark: bool) -> None:
    out = highlight(code, language, dark)
    check_markup(out)
    assert text_of(out) == code
