"""The single-instance socket against another local user: real sockets, real processes, and a
real second user ('nobody', uid 65534) that squats folders and sockets the way an attacker would.

The other user is a separate Python process that drops to nobody before it does anything, so the
tests need root (CI runs them as root) and Linux (SO_PEERCRED)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from app import paths
from app.cli import handoff
from tests.cli.support import ROOT

NOBODY = 65534
needs_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_PEERCRED and the folder rules are tested on Linux")
needs_root = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="acting as another user (nobody) needs root; CI runs the tests as root",
)
DROP_TO_NOBODY = f"import json, os, socket, sys\nos.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})\n"
SQUATTER = """
    path, count = sys.argv[1], int(sys.argv[2])
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(count)
    server.settimeout(30)
    print("listening", flush=True)
    for _ in range(count):
        conn, _ = server.accept()
        conn.settimeout(10)
        try:
            conn.sendall(b'{"kind": "reply", "text": "forged"}\\n{"kind": "done", "stop": "replied"}\\n')
        except OSError:
            pass
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except OSError:
            pass
        conn.close()
        print(json.dumps({"received": received.decode(errors="replace")}), flush=True)
"""


@pytest.fixture
def nobody() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``nobody(script, *args)`` starts ``script`` as the other user; every one is killed at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(script: str, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", DROP_TO_NOBODY + textwrap.dedent(script), *args],
            cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.communicate()


def finish(process: subprocess.Popen[str]) -> str:
    """The output of a nobody process that must end by itself, checked for success."""
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A stand-in for /tmp (world-writable, sticky), short enough for socket paths, used as the
    temporary folder; no XDG_RUNTIME_DIR, so the fallback folders are what is tested."""
    folder = Path(tempfile.mkdtemp(prefix="pm-shared-", dir="/tmp"))
    folder.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    yield folder
    shutil.rmtree(folder)


def assert_private(folder: str) -> None:
    info = os.lstat(folder)
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
    assert stat.S_IMODE(info.st_mode) == 0o700


def start_squatter(nobody: Callable[..., subprocess.Popen[str]], path: Path, count: int = 1) -> subprocess.Popen[str]:
    squatter = nobody(SQUATTER, str(path), str(count))
    assert squatter.stdout is not None and squatter.stdout.readline() == "listening\n", squatter.communicate()[1]
    return squatter


def received_by(squatter: subprocess.Popen[str]) -> list[str]:
    """What the squatter read on each connection it took."""
    return [json.loads(line)["received"] for line in finish(squatter).splitlines()]


# The address ------------------------------------------------------------------------------------


@needs_linux
def test_the_address_is_in_a_private_folder_of_ours_not_in_the_shared_tmp() -> None:
    address = paths.instance_address()
    folder = os.path.dirname(address)
    assert folder != tempfile.gettempdir().rstrip("/")
    assert_private(folder)
    assert address.endswith(".sock") and len(os.fsencode(address)) <= paths.SOCKET_PATH_MAX


@needs_linux
def test_without_xdg_runtime_dir_the_fallback_is_made_0700_even_under_a_loose_umask(shared: Path) -> None:
    before = os.umask(0o022)
    try:
        address = paths.instance_address()
    finally:
        os.umask(before)
    assert os.path.dirname(address) == str(shared / f"pagemind-{os.getuid()}")
    assert_private(os.path.dirname(address))
    assert paths.instance_address() == address, "every process of the user must find the same address"


@needs_linux
def test_a_private_xdg_runtime_dir_is_used(shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="pm-run-", dir="/tmp"))  # mkdtemp makes it 0700
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        assert os.path.dirname(paths.instance_address()) == str(runtime)
    finally:
        shutil.rmtree(runtime)


@needs_linux
@pytest.mark.parametrize("kind", ["open to others", "a symlink to a private folder", "relative"])
def test_an_xdg_runtime_dir_that_is_not_private_is_not_used(kind: str, shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = shared / "runtime"
    runtime.mkdir(mode=0o700)
    if kind == "open to others":
        runtime.chmod(0o755)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    elif kind == "a symlink to a private folder":
        (shared / "link").symlink_to(runtime)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared / "link"))
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", "runtime")
    assert os.path.dirname(paths.instance_address()) == str(shared / f"pagemind-{os.getuid()}")


@needs_linux
def test_our_own_fallback_folder_left_open_to_others_is_not_used(shared: Path) -> None:
    loose = shared / f"pagemind-{os.getuid()}"
    loose.mkdir()
    loose.chmod(0o755)
    assert os.path.dirname(paths.instance_address()) == f"{loose}-1"


@needs_root
@pytest.mark.parametrize("mode", [0o777, 0o700], ids=["mode-0777", "mode-0700"])
def test_a_fallback_folder_made_by_another_user_is_not_used(
    mode: int, shared: Path, nobody: Callable[..., subprocess.Popen[str]], caplog: pytest.LogCaptureFixture
) -> None:
    squatted = shared / f"pagemind-{os.getuid()}"
    finish(nobody("os.mkdir(sys.argv[1]); os.chmod(sys.argv[1], int(sys.argv[2]))", str(squatted), str(mode)))
    assert os.lstat(squatted).st_uid == NOBODY
    address = paths.instance_address()
    assert os.path.dirname(address) == f"{squatted}-1"
    assert_private(f"{squatted}-1")
    assert paths.instance_address() == address, "the next name is picked the same way every time"
    assert os.listdir(squatted) == []
    assert str(squatted) in caplog.text


@needs_root
def test_a_symlink_planted_at_the_fallback_path_is_not_followed(
    shared: Path, nobody: Callable[..., subprocess.Popen[str]], caplog: pytest.LogCaptureFixture
) -> None:
    target = shared / "looks-private"
    target.mkdir(mode=0o700)  # ours and 0700: it would pass every check if the link were followed
    planted = shared / f"pagemind-{os.getuid()}"
    finish(nobody("os.symlink(sys.argv[1], sys.argv[2])", str(target), str(planted)))
    address = paths.instance_address()
    assert os.path.dirname(address) == f"{planted}-1"
    assert planted.is_symlink() and os.listdir(target) == []
    assert str(planted) in caplog.text


# The client -------------------------------------------------------------------------------------


@needs_root
def test_the_client_sends_nothing_to_a_socket_another_user_listens_on(
    shared: Path, nobody: Callable[..., subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = shared / "squat.sock"
    squatter = start_squatter(nobody, path, count=2)
    monkeypatch.setattr(paths, "instance_address", lambda: str(path))
    lines: list[dict[str, Any]] = []
    with pytest.raises(handoff.ForeignInstance) as refused:
        handoff.send({"op": "ask", "text": "my bank password is hunter2", "kind": "user"}, lines.append)
    with pytest.raises(handoff.ForeignInstance):
        handoff.running()
    assert received_by(squatter) == ["", ""]
    assert lines == [], "nothing the squatter wrote may be taken as a step"
    message = str(refused.value)
    assert "\n" not in message and str(path) in message and f"uid {NOBODY}" in message


@needs_root
def test_ask_refuses_in_one_line_when_the_app_address_is_held_by_another_user(
    pagemind_home: Path, shared: Path, nobody: Callable[..., subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even if a squatter's socket ever reached our own folder, ``ask`` sends nothing and says so."""
    runtime = Path(tempfile.mkdtemp(prefix="pm-run-", dir="/tmp"))
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        address = paths.instance_address()
        squatter = start_squatter(nobody, shared / "squat.sock")
        os.rename(shared / "squat.sock", address)  # the bound socket moves with its file
        env = {**os.environ, "PAGEMIND_HOME": str(pagemind_home), "XDG_RUNTIME_DIR": str(runtime)}
        result = subprocess.run([sys.executable, str(ROOT / "main.py"), "ask", "read my diary"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.splitlines() == [f"pagemind: {address} is held by another user (uid {NOBODY}), "
                                              "not a Pagemind of yours; nothing was sent"]
        assert "forged" not in result.stdout
        assert received_by(squatter) == [""]
    finally:
        shutil.rmtree(runtime)


@needs_root
def test_a_second_window_launch_refuses_in_one_line_too(
    shared: Path, nobody: Callable[..., subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.gui import app as gui_app

    path = shared / "squat.sock"
    squatter = start_squatter(nobody, path)
    monkeypatch.setattr(paths, "instance_address", lambda: str(path))
    assert gui_app.run() == 1
    assert capsys.readouterr().err.splitlines() == [f"pagemind: {path} is held by another user (uid {NOBODY}), "
                                                    "not a Pagemind of yours; nothing was sent"]
    assert received_by(squatter) == [""]


# The peer check both sides share ----------------------------------------------------------------


@needs_linux
def test_peer_uid_of_our_own_socket_is_our_uid_and_the_socket_survives_the_check() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert handoff.peer_uid(left) == os.getuid()
        assert handoff.fd_peer_uid(left.fileno()) == os.getuid()
        left.sendall(b"still open")
        assert right.recv(64) == b"still open"


@needs_root
def test_peer_uid_of_a_connection_from_another_user_is_theirs(shared: Path, nobody: Callable[..., subprocess.Popen[str]]) -> None:
    path = shared / "ours.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        path.chmod(0o777)
        server.listen(1)
        server.settimeout(30)
        client = nobody("""
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(sys.argv[1])
            sock.settimeout(30)
            sock.recv(1)
        """, str(path))
        conn, _ = server.accept()
        with conn:
            assert handoff.peer_uid(conn) == NOBODY
            assert handoff.fd_peer_uid(conn.fileno()) == NOBODY
    finish(client)


# The server -------------------------------------------------------------------------------------


class RecordingBridge:
    """Stands in for the Bridge: records every request the server hands on."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str, kind: str, step: Any, done: Any) -> None:
        self.sent.append(text)


@needs_root
def test_the_server_drops_another_users_connection_unread_and_serves_ours(
    qtbot: Any, shared: Path, nobody: Callable[..., subprocess.Popen[str]],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    from app.gui.single_instance import InstanceServer

    path = shared / "app.sock"
    monkeypatch.setattr(paths, "instance_address", lambda: str(path))
    bridge = RecordingBridge()
    server = InstanceServer(bridge)  # type: ignore[arg-type]
    shown: list[bool] = []
    server.show_requested.connect(lambda: shown.append(True))
    assert server.listen()
    try:
        path.chmod(0o777)  # as if folder and socket were both left open: the uid check still holds
        intruder = nobody("""
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(sys.argv[1])
            sock.settimeout(20)
            sock.sendall(b'{"op": "ask", "text": "delete everything"}\\n{"op": "show"}\\n')
            received = b""
            try:
                while chunk := sock.recv(65536):
                    received += chunk
                print(json.dumps({"received": received.decode(), "end": "closed"}))
            except ConnectionResetError:  # dropped with the request unread
                print(json.dumps({"received": received.decode(), "end": "reset"}))
            except TimeoutError:
                print(json.dumps({"received": received.decode(), "end": "timeout"}))
        """, str(path))
        qtbot.waitUntil(lambda: intruder.poll() is not None, timeout=30_000)
        assert json.loads(finish(intruder)) in ({"received": "", "end": "closed"}, {"received": "", "end": "reset"})
        assert bridge.sent == [] and shown == []
        assert f"dropped a connection from uid {NOBODY}" in caplog.text

        results: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: results.update(show=handoff.send({"op": "show"})))
        thread.start()
        qtbot.waitUntil(lambda: not thread.is_alive(), timeout=20_000)
        assert results["show"] == {"kind": "shown"} and shown == [True]
    finally:
        server.close()


@needs_linux
def test_the_server_listens_in_the_private_folder_it_makes(qtbot: Any, shared: Path) -> None:
    from app.gui.single_instance import InstanceServer

    server = InstanceServer(RecordingBridge())  # type: ignore[arg-type]
    assert server.listen()
    try:
        assert os.path.dirname(server.address) == str(shared / f"pagemind-{os.getuid()}")
        assert_private(os.path.dirname(server.address))
        assert handoff.running()
    finally:
        server.close()
    assert not handoff.running()
