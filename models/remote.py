"""The ChatModel protocol over an OpenAI-compatible server (llama.cpp, llama-cpp-python, vLLM, Ollama).

Only the standard library: urllib for the requests, a few lines of server-sent-events parsing for
the streams. ``render`` gives ChatML text for display and counting; requests send structured
messages and the server applies the model's own template.

A tool call is constrained twice over: OpenAI structured outputs (``response_format`` of type
json_schema, honoured by vLLM, Ollama and llama.cpp) and our GBNF ``grammar`` (honoured by the
llama.cpp family). A server that refuses the pair (llama-cpp-python knows no json_schema format,
llama.cpp may take only one of the two) gets the grammar alone, and the form that worked is kept.

Token counts come from the server's tokenizer (llama-cpp-python's /extras/tokenize, llama.cpp's
/tokenize): both parse special tokens and add BOS when the model asks for it, as the local runtime
does (which adds none to a text that already starts with BOS).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from models import template
from models.errors import GenerationCancelled, ModelError, RemoteError
from models.grammar import tool_call_grammar, tool_call_schema
from models.interface import (
    Generation,
    ChatMessage,
    ModelInfo,
    TokenCallback,
    ToolCall,
    ToolCallError,
    ToolSpec,
)
from models.toolcall import tool_call_from_generation

log = logging.getLogger(__name__)

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_TOKENIZERS = (("/extras/tokenize", "input", "/extras/tokenize/count"), ("/tokenize", "content", ""))
"""(path, text field, count path) of llama-cpp-python's and llama.cpp's tokenizers, tried in order."""
_SAMPLING = {"top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.0}
"""The local runtime's sampling; top_k, min_p and repeat_penalty are llama.cpp's extensions."""
_NOT_OFFERED = {400, 404, 405, 422, 501}
_REFUSED = {400, 422, 500}
"""The statuses of a request form the server does not know (llama-cpp-python answers 500)."""


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _detail(body: str) -> str:
    """One line from an error reply: its JSON error message or its text, without traceback frames."""
    try:
        reply = json.loads(body)
    except ValueError:
        reply = None
    if isinstance(reply, dict):
        error = reply.get("error")
        found = error.get("message", error) if isinstance(error, dict) else error
        body = str(found or reply.get("message") or reply.get("detail") or body)
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    if lines and lines[0].startswith("Traceback"):
        lines = lines[-1:]  # the exception itself
    return _one_line(" ".join(lines).split(' File "')[0])


class _StatusError(RemoteError):
    """The server answered with an HTTP error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Tracking(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """Opens http and https connections as usual, and reports each new socket to ``on_socket``."""

    def __init__(self, on_socket: Callable[[socket.socket], None]) -> None:
        super().__init__()
        self.on_socket = on_socket

    def do_open(self, http_class: Any, req: urllib.request.Request, **kwargs: Any) -> Any:
        on_socket = self.on_socket

        class Tracked(http_class):  # type: ignore[misc, valid-type]
            def connect(self) -> None:
                super().connect()
                on_socket(self.sock)

        return super().do_open(Tracked, req, **kwargs)


class RemoteChatModel:
    """A chat model behind an OpenAI-compatible server; one request at a time, like a runner."""

    def __init__(self, base_url: str, model: str = "", *, api_key: str = "", n_ctx: int = 4096,
                 timeout: float = 60.0, temperature: float = 0.2) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise RemoteError(f"a model server address looks like http://host:port, not {base_url!r}")
        self.base_url, self.api_key, self.timeout, self.temperature = base_url, api_key, timeout, temperature
        self._root = base_url.rstrip("/").removesuffix("/v1")
        direct = [urllib.request.ProxyHandler({})] if url.hostname in _LOOPBACK else []
        self._opener = urllib.request.build_opener(*direct)
        self._streamer = urllib.request.build_opener(*direct, _Tracking(self._on_socket))
        self._socket: socket.socket | None = None
        self._cancelled = threading.Event()
        self._tokenizer: tuple[str, str, str] | None = None
        self._probed = False
        self._constraint = 0  # the first tool-call form worth trying on this server
        try:
            ids = [str(entry["id"]) for entry in self._json("GET", "/v1/models")["data"]]
        except (KeyError, TypeError):
            raise self._malformed("/v1/models", "no model list") from None
        if not (model or ids):
            raise RemoteError(f"the model server at {base_url} serves no model")
        self.model = model or ids[0]
        self.info = ModelInfo(
            path=base_url, architecture="remote", name=self.model, n_ctx=n_ctx, n_ctx_train=n_ctx,
            n_vocab=0, n_embd=0, embedding=False, chat_template=template.CHATML, file_hash="",
        )

    # -- HTTP ------------------------------------------------------------------------------
    def _on_socket(self, sock: socket.socket) -> None:
        self._socket = sock
        if self._cancelled.is_set():
            self.cancel()

    def _malformed(self, path: str, what: str) -> RemoteError:
        return RemoteError(f"the model server at {self.base_url} sent a malformed reply to {path}: {what}")

    def _failure(self, exc: BaseException, path: str, streaming: bool) -> ModelError:
        """The one-line error for a request that failed (GenerationCancelled after cancel())."""
        if streaming and self._cancelled.is_set():
            return GenerationCancelled("the generation was cancelled")
        if isinstance(exc, urllib.error.URLError):
            exc = exc.reason if isinstance(exc.reason, BaseException) else OSError(str(exc.reason))
        if isinstance(exc, http.client.HTTPException) and not isinstance(exc, ConnectionError):
            return self._malformed(path, f"not HTTP ({type(exc).__name__})")
        if isinstance(exc, TimeoutError):
            return RemoteError(
                f"the model server at {self.base_url} did not answer {path} within {self.timeout:g} s"
            )
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else None
        reason = reason or getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return RemoteError(f"cannot reach the model server at {self.base_url}: {_one_line(reason)}")

    def _open(self, method: str, path: str, body: dict[str, Any] | None = None, stream: bool = False) -> Any:
        """Send one request; the response, or a one-line error."""
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self._root + path, data=data, headers=headers, method=method)
        try:
            return (self._streamer if stream else self._opener).open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                detail = _detail(exc.read(4096).decode("utf-8", errors="replace"))
            message = f"the model server at {self.base_url} answered {exc.code} to {path}: {detail}"
            raise _StatusError(message, exc.code) from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._failure(exc, path, stream) from None

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        with self._open(method, path, body) as response:
            try:
                raw = response.read()
            except (OSError, http.client.HTTPException) as exc:
                raise self._failure(exc, path, False) from None
        try:
            return json.loads(raw)
        except ValueError:
            text = _one_line(raw.decode("utf-8", errors="replace"), 80)
            raise self._malformed(path, f"not JSON: {text!r}") from None

    def _chunks(self, response: Any, path: str) -> Iterator[tuple[str, str | None, Any]]:
        """(text, finish reason, usage) of each completion or chat chunk in a server-sent-events stream."""
        data: list[str] = []
        while True:
            try:
                raw = response.readline()
            except (OSError, ValueError, http.client.HTTPException) as exc:
                raise self._failure(exc, path, True) from None
            if not raw:
                if self._cancelled.is_set():
                    raise GenerationCancelled("the generation was cancelled")
                raise RemoteError(f"the model server at {self.base_url} ended the stream from {path} early")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            if line or not data:
                continue  # inside an event, or a line that ends none
            payload, data = "\n".join(data), []
            if payload == "[DONE]":
                return
            try:
                event = json.loads(payload)
                error, usage = event.get("error"), event.get("usage")
                choice = (event.get("choices") or [{}])[0]
                text = choice.get("text") or (choice.get("delta") or {}).get("content") or ""
                finish = choice.get("finish_reason")
            except (ValueError, AttributeError, TypeError, IndexError, KeyError):
                raise self._malformed(path, f"not a completion chunk: {_one_line(payload, 80)!r}") from None
            if error:
                raise RemoteError(f"the model server at {self.base_url} failed: {_detail(payload)}")
            yield str(text), finish, usage

    def _complete(
        self, path: str, body: dict[str, Any], prompt: str, on_token: TokenCallback | None
    ) -> Generation:
        """Stream one completion from ``path``. Without a ``usage`` from the server, the counts are
        those of ``prompt`` and of the text (which may tokenize a little differently when re-read)."""
        body = {
            "model": self.model, "temperature": self.temperature, **_SAMPLING, **body,
            "stream": True, "stream_options": {"include_usage": True},
        }
        self._cancelled.clear()
        start = time.perf_counter()
        pieces: list[str] = []
        first, finish, usage = 0.0, None, None
        response = self._open("POST", path, body, stream=True)
        try:
            for piece, reason, sent in self._chunks(response, path):
                if self._cancelled.is_set():
                    raise GenerationCancelled("the generation was cancelled")
                finish, usage = reason or finish, sent or usage
                if piece:
                    first = first or time.perf_counter() - start
                    pieces.append(piece)
                    if on_token is not None:
                        on_token(piece)
        finally:
            self._socket = None
            response.close()
        end = time.perf_counter() - start
        text = "".join(pieces)
        try:
            n_prompt, n_generated = int(usage["prompt_tokens"]), int(usage["completion_tokens"])
        except (KeyError, TypeError, ValueError):
            n_prompt, n_generated = self.count_tokens(prompt), self.count_tokens(text) if text else 0
        return Generation(
            text=text, n_prompt=n_prompt, n_evaluated=n_prompt, n_generated=n_generated,
            stop_reason="length" if finish == "length" else "stop", prefill_seconds=first or end,
            decode_seconds=end - first if first else 0.0, first_token_seconds=first,
        )

    # -- text ------------------------------------------------------------------------------
    def _tokenizer_endpoint(self) -> tuple[str, str, str] | None:
        """The server's tokenizer (found on first use), or None when it offers none."""
        if not self._probed:
            for path, field, count_path in _TOKENIZERS:
                try:
                    self._post_text(path, field, "")
                except _StatusError as exc:
                    if exc.status not in _NOT_OFFERED:
                        raise
                    continue
                self._tokenizer = (path, field, count_path)
                break
            self._probed = True
            if self._tokenizer is None:
                log.warning("the model server at %s offers no tokenizer: token counts are estimates",
                            self.base_url)
        return self._tokenizer

    def _post_text(self, path: str, field: str, text: str) -> dict[str, Any]:
        reply = self._json("POST", path, {field: text, "add_special": True, "model": self.model})
        if not isinstance(reply, dict):
            raise self._malformed(path, "not an object")
        return reply

    def tokenize(self, text: str) -> list[int]:
        """The server's tokens for ``text``."""
        endpoint = self._tokenizer_endpoint()
        if endpoint is None:
            raise RemoteError(f"the model server at {self.base_url} offers no tokenizer")
        path, field, _ = endpoint
        tokens = self._post_text(path, field, text).get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise self._malformed(path, "no token list")
        return tokens

    def count_tokens(self, text: str) -> int:
        """Exact when the server tokenizes; otherwise a generous estimate of one token per 3 bytes."""
        endpoint = self._tokenizer_endpoint()
        if endpoint is None:
            return math.ceil(len(text.encode("utf-8")) / 3)
        path, field, count_path = endpoint
        if not count_path:
            return len(self.tokenize(text))
        count = self._post_text(count_path, field, text).get("count")
        if not isinstance(count, int):
            raise self._malformed(count_path, "no count")
        return count

    def render(self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
        return template.render(messages, self.info.chat_template, add_generation_prompt=add_generation_prompt)

    # -- generation ------------------------------------------------------------------------
    def generate(self, prompt: str, *, max_tokens: int = 256, grammar: str | None = None,
                 stop: Sequence[str] = (), on_token: TokenCallback | None = None) -> Generation:
        body: dict[str, Any] = {"prompt": prompt, "max_tokens": max_tokens}
        if stop:
            body["stop"] = list(stop)
        if grammar:
            body["grammar"] = grammar
        return self._complete("/v1/completions", body, prompt, on_token)

    def tool_call(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], *, max_tokens: int = 512,
                  on_token: TokenCallback | None = None) -> ToolCall | ToolCallError:
        """One call of one of ``tools``, decoded under the constraint this server honours."""
        # OpenAI-style servers want an id on a tool result; the chat template does not use it
        wire = [dict(m, tool_call_id=f"call_{i}") if m["role"] == "tool" else dict(m)
                for i, m in enumerate(messages)]
        grammar = tool_call_grammar(tools)
        schema = {"name": "tool_call", "schema": tool_call_schema(tools), "strict": True}
        forms = [{"response_format": {"type": "json_schema", "json_schema": schema}, "grammar": grammar},
                 {"grammar": grammar}]
        prompt = self.render(messages)
        for index in range(self._constraint, len(forms)):
            body = {"messages": wire, "max_tokens": max_tokens, **forms[index]}
            try:
                generation = self._complete("/v1/chat/completions", body, prompt, on_token)
            except _StatusError as exc:
                if exc.status in _REFUSED and index + 1 < len(forms):
                    continue
                raise
            self._constraint = index
            break
        return tool_call_from_generation(generation, tools, max_tokens)

    def evaluate(self, prompt: str) -> int:
        """Nothing to prefill here: the server keeps its own prompt cache."""
        return 0

    def save_prefix(self, prompt: str) -> Path | None:
        """A server's KV state cannot be saved from here; nothing is."""
        return None

    def load_prefix(self, prompt: str) -> int:
        return 0

    def cancel(self) -> None:
        """Stop the generation in flight (from any thread) by shutting its connection down."""
        self._cancelled.set()
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def close(self) -> None:
        self.cancel()

    def __enter__(self) -> RemoteChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
