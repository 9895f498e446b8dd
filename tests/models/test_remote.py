"""The remote model against llama-cpp-python's own server (a subprocess serving the tiny GGUF),
and against small fake servers on 127.0.0.1 for the failures a real server rarely shows."""

from __future__ import annotations

import http.server
import json
import logging
import math
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from models import template
from models.errors import GenerationCancelled, RemoteError
from models.grammar import tool_call_grammar
from models.interface import ToolCall, ToolCallError
from models.local_client import LocalChatModel
from models.remote import RemoteChatModel
from models.toolcall import parse_tool_call
from tests.models.conftest import TOOLS, assert_valid_call
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

CONVERSATION = [
    {"role": "system", "content": "You are Pagemind. Answer with one tool call."},
    {"role": "user", "content": "What is in my Documents folder?"},
]
PROMPT = "<|im_start|>user\nwhat is using my memory?<|im_end|>\n<|im_start|>assistant\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text
    return text


# -- llama-cpp-python's server, once for the module --------------------------------------------
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    """Return once GET /v1/models answers; fail with the server's output when it never does."""
    def answers() -> bool:
        try:
            with _DIRECT.open(url + "v1/models", timeout=2):
                return True
        except urllib.error.HTTPError as exc:
            exc.close()
        except OSError:
            pass
        return process.poll() is not None

    try:
        wait_for(answers, timeout, "the server", every=0.2)
    except AssertionError:
        pass
    if process.poll() is None and answers():
        return
    exited = process.poll() is not None
    state = f"exited with {process.returncode}" if exited else f"did not answer in {timeout:g} s"
    pytest.fail(f"the llama-cpp-python server {state}:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def server(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of ``python -m llama_cpp.server`` serving the tiny model on a free port."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(tiny_gguf),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def remote(server: str) -> Iterator[RemoteChatModel]:
    with RemoteChatModel(server, temperature=1.0) as model:
        yield model


def test_info_comes_from_the_model_list(remote: RemoteChatModel, server: str, tiny_gguf: Path):
    assert remote.info.name == str(tiny_gguf)  # llama-cpp-python names a model by its path
    assert remote.info.architecture == "remote"
    assert remote.info.path == server
    assert (remote.info.n_ctx, remote.info.n_ctx_train) == (4096, 4096)
    assert remote.info.chat_template == template.CHATML and remote.info.file_hash == ""
    with RemoteChatModel(server + "v1", str(tiny_gguf), n_ctx=1024) as named:
        assert named.info.name == str(tiny_gguf) and named.info.n_ctx == 1024


def test_token_counts_match_the_local_runtime(remote: RemoteChatModel, server: str, tiny_gguf: Path):
    """Both tokenizers parse special tokens and add BOS only when the model asks for it (the tiny
    model does not), so ids and counts agree exactly, templates and multi-byte text included; and
    the prompt the server builds from structured messages is the one ``render`` shows."""
    texts = ["", "hello world", "naïve café, 北京, 🤗", PROMPT, remote.render(CONVERSATION)]
    with LocalChatModel(tiny_gguf, n_ctx=1024) as local:
        assert remote.render(CONVERSATION) == local.render(CONVERSATION)
        for text in texts:
            assert remote.tokenize(text) == local.tokenize(text)
            assert remote.count_tokens(text) == local.count_tokens(text)
        expected = local.count_tokens(local.render(CONVERSATION))
    request = urllib.request.Request(
        server + "v1/chat/completions", json.dumps({"messages": CONVERSATION, "max_tokens": 1}).encode(),
        {"Content-Type": "application/json"},
    )
    with _DIRECT.open(request, timeout=30) as response:
        assert json.load(response)["usage"]["prompt_tokens"] == expected


def test_generate_streams_pieces_that_add_up_to_the_text(remote: RemoteChatModel):
    pieces: list[str] = []
    gen = remote.generate(PROMPT, max_tokens=24, on_token=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == gen.text
    assert gen.stop_reason in ("length", "stop") and 0 < gen.n_generated
    assert gen.n_prompt == gen.n_evaluated == remote.count_tokens(PROMPT)
    assert 0 < gen.first_token_seconds == gen.prefill_seconds and gen.decode_seconds >= 0


def test_the_grammar_field_constrains_a_completion(remote: RemoteChatModel):
    free = remote.generate(PROMPT, max_tokens=60)
    assert isinstance(parse_tool_call(free.text, TOOLS), ToolCallError)
    constrained = remote.generate(PROMPT, max_tokens=700, grammar=tool_call_grammar(TOOLS))
    assert isinstance(parse_tool_call(constrained.text, TOOLS), ToolCall), constrained.text


def test_constrained_tool_calls_are_always_valid(remote: RemoteChatModel):
    """Random weights at temperature 1: only the grammar makes every output a valid call."""
    for i in range(6):
        messages = [*CONVERSATION, {"role": "tool", "content": "[]"}, {"role": "user", "content": f"#{i}"}]
        result = remote.tool_call(messages, TOOLS, max_tokens=700)
        assert_valid_call(result)


def test_a_cut_off_call_is_a_typed_error(remote: RemoteChatModel):
    result = remote.tool_call(CONVERSATION, TOOLS, max_tokens=5)
    assert isinstance(result, ToolCallError)
    assert result.message.startswith("Your call was cut off at 5 tokens.")
    assert result.generation is not None and result.generation.stop_reason == "length"


def test_cancel_from_another_thread_mid_stream(remote: RemoteChatModel):
    seen: list[str] = []

    def on_token(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 3:
            threading.Thread(target=remote.cancel).start()

    with pytest.raises(GenerationCancelled):
        remote.generate("<|im_start|>user\nwrite", max_tokens=900, on_token=on_token)
    assert 3 <= len(seen) < 100
    assert remote.generate("<|im_start|>user\nagain", max_tokens=4).n_generated > 0


# -- failures -----------------------------------------------------------------------------------
def test_an_unreachable_server_is_one_line():
    port = _free_port()  # nothing listens there any more
    with pytest.raises(RemoteError) as info:
        RemoteChatModel(f"http://127.0.0.1:{port}/")
    expected = f"cannot reach the model server at http://127.0.0.1:{port}/: connection refused"
    assert _one_line(info.value) == expected


def test_a_silent_server_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(RemoteError) as info:
            RemoteChatModel(url, timeout=0.3)
    assert "did not answer /v1/models within 0.3 s" in _one_line(info.value)


def test_a_bad_address_is_refused():
    with pytest.raises(RemoteError, match="looks like http://host:port"):
        RemoteChatModel("localhost:8080")


Reply = Callable[[str, str, dict[str, Any]], "tuple[int, str, bytes] | bytes"]
MODELS = (200, "application/json", json.dumps({"data": [{"id": "fake"}]}).encode())


@pytest.fixture
def fake() -> Iterator[Callable[[Reply], tuple[str, list[dict[str, Any]]]]]:
    """Start a server on 127.0.0.1 answering with ``reply(method, path, body)``: a (status,
    content type, body) triple, or raw bytes sent as they are; returns its URL and the requests."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(reply: Reply) -> tuple[str, list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
                answer = reply(self.command, self.path, body)
                if isinstance(answer, bytes):
                    self.wfile.write(answer)
                    return
                status, kind, data = answer
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = answer

            def log_message(self, *args: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(httpd)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{httpd.server_address[1]}/", seen

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


TRACEBACK = b'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: no model\n'
TOO_LONG = (400, "application/json", b'{"error": {"message": "the prompt is\\ntoo long"}}')


@pytest.mark.parametrize(
    "answer, expected",
    [
        ((500, "text/plain", TRACEBACK), "answered 500 to /v1/models: ValueError: no model"),
        ((503, "application/json", b'{"error": {"message": "Loading model", "code": 503}}'),
         "answered 503 to /v1/models: Loading model"),
        ((200, "application/json", b"<html>\n<body>hello</body>"), "malformed reply to /v1/models: not JSON"),
        ((200, "application/json", b'{"models": []}'), "malformed reply to /v1/models: no model list"),
        ((200, "application/json", b'{"data": []}'), "serves no model"),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "malformed reply to /v1/models: not HTTP"),
    ],
)
def test_a_broken_server_is_one_line(fake, answer, expected: str):
    url, _ = fake(lambda method, path, body: answer)
    with pytest.raises(RemoteError) as info:
        RemoteChatModel(url)
    assert _one_line(info.value).startswith(f"the model server at {url} ")
    assert expected in str(info.value)


def _sse(*events: str) -> tuple[int, str, bytes]:
    return 200, "text/event-stream", "".join(f"data: {e}\n\n" for e in events).encode()


CHUNK = json.dumps({"choices": [{"text": "hi", "finish_reason": None}]})


@pytest.mark.parametrize(
    "stream, expected",
    [
        (_sse("{not json"), "malformed reply to /v1/completions: not a completion chunk: '{not json'"),
        (_sse('{"choices": "none"}'), "malformed reply to /v1/completions: not a completion chunk"),
        (_sse(CHUNK), "ended the stream from /v1/completions early"),
        (_sse(json.dumps({"error": {"message": "out of memory"}})), "failed: out of memory"),
        (TOO_LONG, "answered 400 to /v1/completions: the prompt is too long"),
    ],
)
def test_a_broken_stream_is_one_line(fake, stream, expected: str):
    url, _ = fake(lambda method, path, body: MODELS if path == "/v1/models" else stream)
    with RemoteChatModel(url) as model:
        with pytest.raises(RemoteError) as info:
            model.generate("hi", max_tokens=4)
    assert expected in _one_line(info.value)


def test_usage_and_finish_reason_come_from_the_stream(fake):
    usage = json.dumps({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}})
    last = json.dumps({"choices": [{"text": "!", "finish_reason": "length"}]})
    stream = _sse(CHUNK, last, usage, "[DONE]")
    url, seen = fake(lambda method, path, body: MODELS if path == "/v1/models" else stream)
    with RemoteChatModel(url, api_key="sekrit") as model:
        gen = model.generate("hello", max_tokens=2, stop=["\n"], grammar='root ::= "hi!"')
    assert (gen.text, gen.n_prompt, gen.n_evaluated, gen.n_generated) == ("hi!", 7, 7, 2)
    assert gen.stop_reason == "length"
    request = seen[-1]
    assert request["headers"]["Authorization"] == "Bearer sekrit"
    assert request["body"]["stream"] is True and request["body"]["model"] == "fake"
    assert request["body"]["grammar"] == 'root ::= "hi!"' and request["body"]["stop"] == ["\n"]


def test_a_server_that_refuses_json_schema_gets_the_grammar_alone(fake):
    """llama-cpp-python rejects the json_schema format (with a 500); the retry sends the grammar only,
    and the model remembers that form."""
    call = json.dumps({"thought": "t", "tool": "send_message", "args": {"message": "hello"}})
    reply = json.dumps({"choices": [{"delta": {"content": call}, "finish_reason": "stop"}]})

    def answer(method: str, path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
        if path != "/v1/chat/completions":
            return MODELS if path == "/v1/models" else (404, "text/plain", b"not found")
        if "response_format" in body:
            return 500, "application/json", b'{"error": {"message": "1 validation error:\\n  json_schema"}}'
        return _sse(reply, "[DONE]")

    url, seen = fake(answer)
    with RemoteChatModel(url) as model:
        for _ in range(2):
            result = model.tool_call(CONVERSATION, TOOLS)
            assert isinstance(result, ToolCall) and result.args == {"message": "hello"}
    chats = [r["body"] for r in seen if r["path"] == "/v1/chat/completions"]
    forms = [("response_format" in b, "grammar" in b) for b in chats]
    assert forms == [(True, True), (False, True), (False, True)]
    assert chats[0]["response_format"]["json_schema"]["schema"]["oneOf"][0]["properties"]["tool"] == {
        "const": "send_message"
    }
    assert chats[0]["grammar"] == tool_call_grammar(TOOLS)


def test_a_request_that_fails_anyway_keeps_both_constraints(fake):
    """Only a form that worked is remembered: a prompt too long for any form drops nothing."""
    url, seen = fake(lambda method, path, body: MODELS if path == "/v1/models" else TOO_LONG)
    with RemoteChatModel(url) as model:
        for _ in range(2):
            with pytest.raises(RemoteError) as info:
                model.tool_call(CONVERSATION, TOOLS)
            assert "answered 400 to /v1/chat/completions: the prompt is too long" in _one_line(info.value)
    chats = [r["body"] for r in seen if r["path"] == "/v1/chat/completions"]
    assert ["response_format" in b for b in chats] == [True, False, True, False]


def test_without_a_tokenizer_counts_are_estimates(fake, caplog: pytest.LogCaptureFixture):
    url, _ = fake(lambda method, path, body: MODELS if path == "/v1/models" else (404, "text/plain", b"no"))
    with RemoteChatModel(url) as model:
        assert model.count_tokens("hello world") == math.ceil(11 / 3)
        assert model.count_tokens("北京") == 2  # six bytes
        with pytest.raises(RemoteError) as info:
            model.tokenize("hello")
    assert _one_line(info.value) == f"the model server at {url} offers no tokenizer"
    warnings = [r for r in caplog.records if "token counts are estimates" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
