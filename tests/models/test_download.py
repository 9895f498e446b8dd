"""models/download.py against a stand-in for the Hugging Face Hub: real HTTP, real huggingface_hub.

The stand-in answers the way the Hub does for an LFS file: ``HEAD``/``GET`` on
``/{repo}/resolve/{revision}/{file}`` give a redirect to a CDN (a second server, another origin)
carrying ``X-Repo-Commit``, ``X-Linked-Etag`` (the sha256) and ``X-Linked-Size``; the CDN serves
the bytes and honours ``Range`` with ``206 Partial Content``.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from models.download import (
    CatalogEntry,
    CatalogError,
    DownloadError,
    download,
    find_entry,
    load_catalog,
)
from models.errors import ModelError

REPO = "pagemind-test/tiny-GGUF"
FILE = "tiny-q4_k_m.gguf"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "hf_pagemindtesttoken"
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>[^?]+)$")


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    server: str
    method: str
    path: str
    range: str | None
    authorization: str | None


@dataclass
class Blob:
    content: bytes
    etag: str
    """What the Hub advertises as the file's sha256 (X-Linked-Etag)."""


@dataclass
class FakeHub:
    """The Hub and its CDN, each a threaded HTTP server on a free port of 127.0.0.1."""

    files: dict[tuple[str, str], Blob] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    cut_next_get_after: int | None = None
    """Send only this many bytes of the next CDN GET, then drop the connection."""
    servers: dict[str, ThreadingHTTPServer] = field(default_factory=dict)

    def url(self, server: str) -> str:
        return f"http://127.0.0.1:{self.servers[server].server_port}"

    def add(self, repo: str, file: str, content: bytes, etag: str | None = None) -> Blob:
        blob = Blob(content, etag or hashlib.sha256(content).hexdigest())
        self.files[(repo, file)] = blob
        return blob

    def cdn_gets(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.server == "cdn" and seen.method == "GET"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""

    def do_HEAD(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> None:
        hub: FakeHub = self.server.hub  # type: ignore[attr-defined]
        role: str = self.server.role  # type: ignore[attr-defined]
        hub.seen.append(
            Seen(role, self.command, self.path, self.headers.get("Range"), self.headers.get("Authorization"))
        )
        self.close_connection = True
        if role == "hub":
            self._resolve(hub)
        else:
            self._blob(hub)

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers, "Connection": "close"}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def _resolve(self, hub: FakeHub) -> None:
        match = RESOLVE.match(self.path)
        if match is None or not any(repo == match["repo"] for repo, _ in hub.files):
            self._send(401, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
            return
        blob = hub.files.get((match["repo"], match["file"]))
        if blob is None:
            self._send(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
            return
        self._send(
            302,
            {
                "Location": f"{hub.url('cdn')}/blobs/{blob.etag}",
                "X-Repo-Commit": COMMIT,
                "ETag": f'"{blob.etag}"',
                "X-Linked-Etag": f'"{blob.etag}"',
                "X-Linked-Size": str(len(blob.content)),
            },
        )

    def _blob(self, hub: FakeHub) -> None:
        blob = next((b for b in hub.files.values() if self.path == f"/blobs/{b.etag}"), None)
        if blob is None:
            self._send(404, {})
            return
        size = len(blob.content)
        start = int(re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "bytes=0-"))[1])  # type: ignore[index]
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "ETag": f'"{blob.etag}"',
        }
        if start >= size:
            self._send(416, {**headers, "Content-Range": f"bytes */{size}"})
            return
        status = 206 if self.headers.get("Range") else 200
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        body = blob.content[start:]
        cut, hub.cut_next_get_after = hub.cut_next_get_after, None
        if cut is None:
            self._send(status, headers, body)
            return
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body[:cut])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)


def _serve(hub: FakeHub, role: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.hub = hub  # type: ignore[attr-defined]
    server.role = role  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.05,), name=f"fake-{role}", daemon=True).start()
    return server


@pytest.fixture(autouse=True)
def hf_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub online, with its home and token inside the test's own folder."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    fake = FakeHub()
    fake.servers = {role: _serve(fake, role) for role in ("hub", "cdn")}
    monkeypatch.setenv("HF_ENDPOINT", fake.url("hub"))
    yield fake
    for server in fake.servers.values():
        server.shutdown()
        server.server_close()


def payload(size: int = 300_000) -> bytes:
    return b"GGUF" + os.urandom(size - 4)


def entry(**overrides: object) -> CatalogEntry:
    values: dict[str, object] = {
        "name": "tiny",
        "kind": "chat",
        "repo": REPO,
        "file": FILE,
        "size": 300_000,
        "context_length": 2048,
        "description": "A test file.",
    }
    values.update(overrides)
    return CatalogEntry(**values)  # type: ignore[arg-type]


def test_full_download_reports_progress_and_lands_the_exact_bytes(hub: FakeHub, tmp_path: Path) -> None:
    content = payload()
    hub.add(REPO, FILE, content)
    calls: list[tuple[int, int]] = []

    path = download(entry(), tmp_path / "models", progress=lambda done, total: calls.append((done, total)))

    assert path == tmp_path / "models" / FILE
    assert path.read_bytes() == content
    assert sorted(p.name for p in path.parent.iterdir()) == [FILE]
    assert calls[-1] == (len(content), len(content))
    assert all(total == len(content) for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    methods = [(seen.server, seen.method) for seen in hub.seen]
    assert methods == [("hub", "HEAD"), ("hub", "GET"), ("cdn", "GET")]
    assert all(seen.authorization == f"Bearer {TOKEN}" for seen in hub.seen if seen.server == "hub")
    assert all(seen.authorization is None for seen in hub.seen if seen.server == "cdn")
    assert hub.seen[1].path == f"/{REPO}/resolve/{COMMIT}/{FILE}"


def test_an_interrupted_download_resumes_with_a_range_request(hub: FakeHub, tmp_path: Path) -> None:
    content = payload()
    hub.add(REPO, FILE, content)
    hub.cut_next_get_after = 100_000
    dest = tmp_path / "models"

    with pytest.raises(DownloadError, match="run it again to resume") as failure:
        download(entry(), dest)
    assert "\n" not in str(failure.value)
    assert not (dest / FILE).exists()
    (part,) = dest.glob(f"{FILE}.*.part")
    partial = part.stat().st_size
    assert 0 < partial <= 100_000
    assert part.read_bytes() == content[:partial]

    calls: list[tuple[int, int]] = []
    path = download(entry(), dest, progress=lambda done, total: calls.append((done, total)))

    assert path.read_bytes() == content
    assert not part.exists()
    assert [seen.range for seen in hub.cdn_gets()] == [None, f"bytes={partial}-"]
    assert calls[0] == (partial, len(content))
    assert calls[-1] == (len(content), len(content))


def test_a_corrupt_download_is_rejected_and_removed(hub: FakeHub, tmp_path: Path) -> None:
    content = payload()
    hub.add(REPO, FILE, content[:-1] + bytes([content[-1] ^ 0xFF]), etag=hashlib.sha256(content).hexdigest())
    dest = tmp_path / "models"

    with pytest.raises(DownloadError, match="sha256") as failure:
        download(entry(), dest)

    assert "\n" not in str(failure.value)
    assert list(dest.iterdir()) == []


def test_the_catalog_checksum_wins_over_the_hub(hub: FakeHub, tmp_path: Path) -> None:
    content = payload()
    hub.add(REPO, FILE, content)
    dest = tmp_path / "models"

    with pytest.raises(DownloadError, match="sha256"):
        download(entry(sha256="0" * 64), dest)
    assert list(dest.iterdir()) == []

    assert download(entry(sha256=hashlib.sha256(content).hexdigest()), dest).read_bytes() == content


def test_a_file_that_is_not_gguf_is_rejected(hub: FakeHub, tmp_path: Path) -> None:
    hub.add(REPO, FILE, b"<html>" + os.urandom(10_000))
    dest = tmp_path / "models"

    with pytest.raises(DownloadError, match="not a GGUF"):
        download(entry(), dest)
    assert list(dest.iterdir()) == []


def test_a_finished_file_is_not_downloaded_again(hub: FakeHub, tmp_path: Path) -> None:
    content = payload()
    hub.add(REPO, FILE, content)
    dest = tmp_path / "models"
    download(entry(), dest)

    assert download(entry(), dest).read_bytes() == content
    assert len(hub.cdn_gets()) == 1


def test_a_cancelled_download_resumes_on_the_next_attempt(hub: FakeHub, tmp_path: Path) -> None:
    content = payload()
    hub.add(REPO, FILE, content)
    dest = tmp_path / "models"
    cancel = threading.Event()

    def cancel_once_started(done: int, total: int) -> None:
        if done > 0:
            cancel.set()

    with pytest.raises(DownloadError, match="cancelled"):
        download(entry(), dest, progress=cancel_once_started, cancel=cancel)
    assert not (dest / FILE).exists()
    (part,) = dest.glob(f"{FILE}.*.part")
    partial = part.stat().st_size
    assert 0 < partial < len(content)

    assert download(entry(), dest).read_bytes() == content
    assert [seen.range for seen in hub.cdn_gets()] == [None, f"bytes={partial}-"]


@pytest.mark.parametrize(
    ("repo", "file", "expected"),
    [
        (REPO, "missing.gguf", f"missing.gguf not found in {REPO}"),
        ("nobody/nothing-GGUF", FILE, "repository nobody/nothing-GGUF not found"),
    ],
)
def test_a_missing_file_or_repository_is_a_clear_error(
    hub: FakeHub, tmp_path: Path, repo: str, file: str, expected: str
) -> None:
    hub.add(REPO, FILE, payload())

    with pytest.raises(DownloadError, match=expected) as failure:
        download(entry(repo=repo, file=file), tmp_path / "models")

    assert "\n" not in str(failure.value)
    assert isinstance(failure.value, ModelError)


def test_an_unreachable_hub_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")

    with pytest.raises(DownloadError, match=f"cannot reach 127.0.0.1:{port}") as failure:
        download(entry(), tmp_path / "models")
    assert "\n" not in str(failure.value)


def test_a_builtin_entry_is_not_downloaded(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="built in"):
        download(entry(source="builtin", repo=None), tmp_path / "models")


def test_the_shipped_catalog_is_valid() -> None:
    entries = load_catalog()

    assert len([e for e in entries if e.kind == "chat"]) >= 3
    assert [e for e in entries if e.kind == "embedding" and e.source == "hub"]
    assert len({e.name for e in entries}) == len(entries)
    for e in entries:
        assert e.file.endswith(".gguf") and e.size > 0 and e.context_length > 0 and e.description
        assert (e.repo is not None) == (e.source == "hub")
    assert find_entry("qwen2.5-0.5b").repo == "Qwen/Qwen2.5-0.5B-Instruct-GGUF"


def test_find_entry_lists_the_known_names_on_a_miss() -> None:
    with pytest.raises(CatalogError, match=r"known models: .*qwen2\.5-0\.5b") as failure:
        find_entry("gpt-5")
    assert "gpt-5" in str(failure.value)
    assert "\n" not in str(failure.value)


VALID_TABLE = {
    "name": '"x"',
    "kind": '"chat"',
    "repo": '"a/b"',
    "file": '"x.gguf"',
    "size": "1",
    "context_length": "1",
    "description": '"d"',
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kind": None}, "missing field kind"),
        ({"colour": '"red"'}, "unknown field colour"),
        ({"size": '"big"'}, "size must be an integer"),
        ({"kind": '"vision"'}, "kind must be chat or embedding"),
        ({"repo": None}, "a hub model needs a repo"),
        ({"source": '"builtin"'}, "a builtin model has no repo"),
        ({"file": '"../x.gguf"'}, "file must be a .gguf file name"),
        ({"sha256": '"abc"'}, "sha256 must be 64 lower-case hex"),
    ],
)
def test_an_invalid_catalog_entry_is_a_clear_error(
    tmp_path: Path, change: dict[str, str | None], problem: str
) -> None:
    table = {**VALID_TABLE, **change}
    path = tmp_path / "catalog.toml"
    path.write_text("[[models]]\n" + "".join(f"{key} = {value}\n" for key, value in table.items() if value))

    with pytest.raises(CatalogError, match=re.escape(problem)) as failure:
        load_catalog(path)
    assert str(failure.value).startswith(f"{path}: model #1")
    assert "\n" not in str(failure.value)


def test_a_broken_catalog_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    table = "[[models]]\n" + "".join(f"{key} = {value}\n" for key, value in VALID_TABLE.items())

    path.write_text(table + table)
    with pytest.raises(CatalogError, match="duplicate model names: x"):
        load_catalog(path)
    path.write_text("models = [")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(path)
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.toml")
