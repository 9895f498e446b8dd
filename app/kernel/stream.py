"""Follow a tool call's JSON while it streams, and pass on the parts people read.

The model writes ``{"thought": "...", "tool": NAME, "args": {...}}`` one piece at a time. This
small JSON lexer hands on the text of the thought, and of ``args.message`` once the tool is
``send_message``, as it arrives, unescaped, so the reply shows while it is generated. The raw
pieces go out too, on the "call" channel, for a view of the call being written.
"""

from __future__ import annotations

from typing import Callable

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
REPLY_TOOL = "send_message"


class CallStream:
    def __init__(self, emit: Callable[[str, str], None]) -> None:
        """``emit(channel, text)`` is called with channel "call" (raw), "thought" or "reply"."""
        self.emit = emit
        self.kinds: list[str] = []
        """The open containers, "{" or "["."""
        self.keys: list[str | None] = []
        """Per open container, the member being read (None in arrays)."""
        self.expect_key = False
        self.in_string = False
        self.is_key = False
        self.text = ""
        self.escape: str | None = None
        self.high: int | None = None
        """A high surrogate escape waiting for its low half."""
        self.tool: str | None = None
        self._out: dict[str, str] = {}

    def feed(self, piece: str) -> None:
        if piece:
            self.emit("call", piece)
        for char in piece:
            self._char(char)
        for channel, text in self._out.items():
            if text:
                self.emit(channel, text)
        self._out.clear()

    def _channel(self) -> str | None:
        if self.is_key:
            return None
        if self.keys == ["thought"]:
            return "thought"
        if self.keys == ["args", "message"] and self.tool == REPLY_TOOL:
            return "reply"
        return None

    def _string_char(self, char: str) -> None:
        self.text += char
        channel = self._channel()
        if channel is not None:
            self._out[channel] = self._out.get(channel, "") + char

    def _char(self, char: str) -> None:
        if self.in_string:
            self._in_string(char)
        elif char == '"':
            self.in_string, self.text = True, ""
            self.is_key = bool(self.kinds) and self.kinds[-1] == "{" and self.expect_key
        elif char in "{[":
            self.kinds.append(char)
            self.keys.append(None)
            self.expect_key = char == "{"
        elif char in "}]" and self.kinds:
            self.kinds.pop()
            self.keys.pop()
        elif char == ":":
            self.expect_key = False
        elif char == "," and self.kinds:
            self.expect_key = self.kinds[-1] == "{"

    def _in_string(self, char: str) -> None:
        if self.escape is not None:
            if self.escape == "" and char != "u":
                self.escape = None
                self._decoded(_ESCAPES.get(char, char))
                return
            self.escape += char
            if len(self.escape) == 5:
                digits, self.escape = self.escape[1:], None
                code = int(digits, 16) if all(c in "0123456789abcdefABCDEF" for c in digits) else 0xFFFD
                self._code_unit(code)
        elif char == "\\":
            self.escape = ""
        elif char == '"':
            self._flush_surrogate()
            self.in_string = False
            if self.is_key:
                self.keys[-1] = self.text
            elif self.keys == ["tool"]:
                self.tool = self.text
        else:
            self._decoded(char)

    def _code_unit(self, code: int) -> None:
        """A ``\\uXXXX`` escape: surrogate pairs are joined, a lone surrogate becomes U+FFFD."""
        if 0xDC00 <= code <= 0xDFFF and self.high is not None:
            joined = 0x10000 + ((self.high - 0xD800) << 10) + (code - 0xDC00)
            self.high = None
            self._string_char(chr(joined))
        elif 0xD800 <= code <= 0xDBFF:
            self._flush_surrogate()
            self.high = code
        else:
            self._decoded("\ufffd" if 0xDC00 <= code <= 0xDFFF else chr(code))

    def _decoded(self, char: str) -> None:
        self._flush_surrogate()
        self._string_char(char)

    def _flush_surrogate(self) -> None:
        if self.high is not None:
            self.high = None
            self._string_char("\ufffd")
