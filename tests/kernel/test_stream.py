"""Following a tool call's JSON as it streams: the thought and the reply come out unescaped."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from app.kernel.stream import CallStream


def collect(pieces: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    stream = CallStream(lambda channel, text: out.__setitem__(channel, out.get(channel, "") + text))
    for piece in pieces:
        stream.feed(piece)
    return out


def test_thought_and_reply_come_out_unescaped_at_any_split():
    raw = json.dumps({"thought": 'a "quoted" \\ thought\n', "tool": "send_message",
                      "args": {"message": "caf\u00e9 \ud83d\ude00 tab\there", "x": ["message"]}})
    for size in (1, 2, 3, 7, len(raw)):
        out = collect([raw[i:i + size] for i in range(0, len(raw), size)])
        assert out["thought"] == 'a "quoted" \\ thought\n'
        assert out["reply"] == "caf\u00e9 \U0001F600 tab\there"  # a surrogate pair is joined
        assert out["call"] == raw


def test_only_send_message_has_a_reply():
    raw = '{"thought": "", "tool": "write_file", "args": {"path": "~/a", "message": "not a reply"}}'
    assert "reply" not in collect([raw]) and "thought" not in collect([raw])


def test_nested_keys_named_message_are_not_the_reply():
    raw = '{"thought": "t", "tool": "send_message", "args": {"message": "yes", "meta": {"message": "no"}}}'
    assert collect([raw])["reply"] == "yes"


@given(st.text(max_size=60), st.text(max_size=60), st.integers(1, 9))
def test_any_text_round_trips(thought: str, message: str, size: int):
    raw = json.dumps({"thought": thought, "tool": "send_message", "args": {"message": message}},
                     ensure_ascii=size % 2 == 0)
    out = collect([raw[i:i + size] for i in range(0, len(raw), size)])
    assert out.get("thought", "") == clean(thought) and out.get("reply", "") == clean(message)


def clean(text: str) -> str:
    """What JSON can carry of ``text``: a lone surrogate comes back as U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
