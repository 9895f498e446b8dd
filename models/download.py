"""The recommended models (``catalog.toml``) and their download from the Hugging Face Hub.

A download is written to ``<dest_dir>/<file>.<sha256 prefix>.part``. When an earlier attempt was
interrupted (lost connection, cancel, crash, full disk), the next one continues that file with an
HTTP Range request instead of starting over. The finished file must hash to the catalog's sha256,
or else to the sha256 the Hub publishes for it (its LFS ETag), and start with the GGUF magic; only
then is it renamed to ``<dest_dir>/<file>``, so a half or corrupt file never carries that name.

``HF_ENDPOINT`` (a mirror) is read when a download starts; the token, proxies and offline mode
are huggingface_hub's own.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import re
import shutil
import threading
import tomllib
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import constants, get_hf_file_metadata, get_session, hf_hub_url
from huggingface_hub.errors import (
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers

from models.errors import ModelError

CATALOG_PATH = Path(__file__).with_name("catalog.toml")
_GGUF_MAGIC = b"GGUF"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
_REPO = re.compile(r"[\w.-]+/[\w.-]+")
_FILE = re.compile(r"[^/\\]+\.gguf")

Progress = Callable[[int, int], None]
"""Called with (bytes on disk, total bytes) as the download advances."""


class CatalogError(ModelError):
    """The catalog file is unreadable or an entry is invalid, or no entry has the requested name."""


class DownloadError(ModelError):
    """A model could not be downloaded: unreachable, not found, cancelled, disk full or corrupt."""


@dataclass(frozen=True)
class CatalogEntry:
    """One recommended model; an invalid one raises ``CatalogError`` when it is made.

    ``source`` "builtin" marks a model converted locally (it has no ``repo``), "hub" one that is
    downloaded from ``repo``.
    """

    name: str
    kind: Literal["chat", "embedding"]
    file: str
    size: int
    """Approximate size in bytes."""
    context_length: int
    description: str
    repo: str | None = None
    source: Literal["hub", "builtin"] = "hub"
    sha256: str | None = None
    """Checked instead of the Hub's LFS sha256 when given."""
    revision: str | None = None
    """Branch, tag or commit on the Hub; the default branch when None."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            wanted, noun = (int, "an integer") if f.name in ("size", "context_length") else (str, "a string")
            if type(value) is not wanted and not (value is None and f.default is None):
                raise CatalogError(f"model {self.name!r}: {f.name} must be {noun}, not {value!r}")
        checks = [
            (_NAME.fullmatch(self.name), "name must be lower-case letters, digits, dots and dashes"),
            (self.kind in ("chat", "embedding"), "kind must be chat or embedding"),
            (self.source in ("hub", "builtin"), "source must be hub or builtin"),
            (self.source != "hub" or self.repo is not None, "a hub model needs a repo"),
            (self.source != "builtin" or self.repo is None, "a builtin model has no repo"),
            (self.repo is None or _REPO.fullmatch(self.repo), "repo must look like owner/name"),
            (_FILE.fullmatch(self.file), "file must be a .gguf file name, without folders"),
            (self.size > 0 and self.context_length > 0, "size and context_length must be positive"),
            (self.sha256 is None or _SHA256.fullmatch(self.sha256), "sha256 must be 64 lower-case hex"),
        ]
        problem = next((message for ok, message in checks if not ok), None)
        if problem is not None:
            raise CatalogError(f"model {self.name!r}: {problem}")


def load_catalog(path: Path | None = None) -> list[CatalogEntry]:
    """Read and validate the catalog (the shipped ``models/catalog.toml`` by default)."""
    path = path or CATALOG_PATH
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8")).get("models", [])
    except OSError as exc:
        raise CatalogError(f"cannot read the model catalog {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"the model catalog {path} is not valid TOML: {exc}") from exc
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise CatalogError(f"the model catalog {path} must hold [[models]] tables")
    known = {f.name for f in fields(CatalogEntry)}
    required = {f.name for f in fields(CatalogEntry) if f.default is MISSING}
    entries = []
    for number, table in enumerate(tables, 1):
        where = f"{path}: model #{number}"
        if unknown := sorted(set(table) - known):
            raise CatalogError(f"{where}: unknown field {', '.join(unknown)}")
        if missing := sorted(required - set(table)):
            raise CatalogError(f"{where}: missing field {', '.join(missing)}")
        try:
            entries.append(CatalogEntry(**table))
        except CatalogError as exc:
            raise CatalogError(f"{where}: {exc}") from exc
    names = [entry.name for entry in entries]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise CatalogError(f"{path}: duplicate model names: {', '.join(duplicates)}")
    return entries


def find_entry(name: str, path: Path | None = None) -> CatalogEntry:
    """The catalog entry called ``name``."""
    entries = load_catalog(path)
    for entry in entries:
        if entry.name == name:
            return entry
    known = ", ".join(entry.name for entry in entries)
    raise CatalogError(f"no model called {name!r} in the catalog; known models: {known}")


def download(
    entry: CatalogEntry,
    dest_dir: Path,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download ``entry`` to ``dest_dir/<file>``, resuming a partial file, and return that path.

    A file already there with the right checksum is returned at once. ``cancel`` stops the
    download between chunks; the partial file stays for the next attempt. Every failure is a
    ``DownloadError`` with a one-line message.
    """
    if entry.repo is None:
        raise DownloadError(f"{entry.name} is built in: it is converted locally, not downloaded")
    endpoint = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or None
    url = hf_hub_url(entry.repo, entry.file, revision=entry.revision, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url, endpoint=endpoint)
    except (httpx2.HTTPError, OfflineModeIsEnabled) as exc:
        raise DownloadError(_hub_failure(entry, url, exc)) from exc
    expected = entry.sha256 or _lfs_sha256(metadata.etag)
    if expected is None:
        raise DownloadError(f"the Hub publishes no sha256 for {entry.file}; add one to its catalog entry")
    if metadata.size is None or metadata.commit_hash is None:
        raise DownloadError(f"{urlsplit(url).netloc} did not report the size and commit of {entry.file}")

    target = dest_dir / entry.file
    if target.is_file() and target.stat().st_size == metadata.size and _sha256(target) == expected:
        if progress is not None:
            progress(metadata.size, metadata.size)
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest_dir / f"{entry.file}.{expected[:12]}.part"
    for stale in dest_dir.glob(f"{glob.escape(entry.file)}.*.part"):
        if stale != part:
            stale.unlink()
    pinned = hf_hub_url(entry.repo, entry.file, revision=metadata.commit_hash, endpoint=endpoint)
    digest = _fetch(pinned, part, metadata.size, entry.file, progress, cancel)
    if digest != expected:
        part.unlink()
        raise DownloadError(
            f"{entry.file} came out corrupt (sha256 {digest[:12]}..., expected {expected[:12]}...)"
            " and was deleted; download it again"
        )
    with part.open("rb") as fh:
        if fh.read(len(_GGUF_MAGIC)) != _GGUF_MAGIC:
            part.unlink()
            raise DownloadError(f"{entry.file} from {entry.repo} is not a GGUF file; it was deleted")
    os.replace(part, target)
    return target


def _fetch(
    url: str, part: Path, total: int, file: str, progress: Progress | None, cancel: threading.Event | None
) -> str:
    """Bring ``part`` up to ``total`` bytes from ``url``; return the sha256 of the whole file."""
    if part.exists() and part.stat().st_size > total:
        part.unlink()
    with part.open("ab") as out:
        with part.open("rb") as existing:
            digest = hashlib.file_digest(existing, "sha256")
        done = part.stat().st_size
        if progress is not None:
            progress(done, total)
        if done == total:
            return digest.hexdigest()
        free = shutil.disk_usage(part.parent).free
        if free < total - done:
            raise DownloadError(
                f"not enough disk space for {file}: {(total - done) >> 20} MiB needed,"
                f" {free >> 20} MiB free in {part.parent}"
            )
        headers = {**build_hf_headers(), "Accept-Encoding": "identity"}
        if done:
            headers["Range"] = f"bytes={done}-"
        try:
            with get_session().stream(
                "GET", url, headers=headers, follow_redirects=True, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT
            ) as response:
                if response.status_code not in (200, 206):
                    status = response.status_code
                    raise DownloadError(f"{response.url.host} answered HTTP {status} for {file}")
                if response.status_code == 200 and done:
                    out.truncate(0)
                    digest, done = hashlib.sha256(), 0
                for chunk in response.iter_bytes():
                    if cancel is not None and cancel.is_set():
                        raise DownloadError(f"download of {file} cancelled at {done} of {total} bytes")
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        except (httpx2.HTTPError, OfflineModeIsEnabled) as exc:
            raise DownloadError(
                f"download of {file} interrupted at {done} of {total} bytes ({_one_line(exc)});"
                " run it again to resume"
            ) from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DownloadError(f"disk full while downloading {file} to {part.parent}") from exc
            raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from exc
    if done < total:
        raise DownloadError(f"download of {file} stopped at {done} of {total} bytes; run it again to resume")
    return digest.hexdigest()


def _hub_failure(entry: CatalogEntry, url: str, exc: Exception) -> str:
    """One line saying why the Hub gave no metadata for ``entry``."""
    host = urlsplit(url).netloc
    if isinstance(exc, OfflineModeIsEnabled):
        return f"cannot download {entry.file}: HF_HUB_OFFLINE is set"
    if isinstance(exc, RevisionNotFoundError):
        return f"revision {entry.revision} not found in {entry.repo} on {host}"
    if isinstance(exc, RemoteEntryNotFoundError):
        return f"{entry.file} not found in {entry.repo} on {host}"
    if isinstance(exc, RepositoryNotFoundError):
        return f"repository {entry.repo} not found on {host} (or it is private or gated)"
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return f"{host} answered HTTP {exc.response.status_code} for {entry.file} in {entry.repo}"
    return f"cannot reach {host}: {_one_line(exc)}"


def _lfs_sha256(etag: str | None) -> str | None:
    """The sha256 in an LFS file's ETag; None for a git object id or no ETag."""
    etag = (etag or "").lower()
    return etag if _SHA256.fullmatch(etag) else None


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _one_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
