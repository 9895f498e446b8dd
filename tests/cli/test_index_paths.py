"""``index`` given something that is neither a folder nor a document: one clear line, a non-zero exit."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tests.cli.support import cli


def refused(done, line: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stderr == f"pagemind: {line}\n" and done.stdout == ""


def test_index_refuses_a_symlink_loop(indexing_home: Path, tmp_path: Path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    refused(cli(indexing_home, "index", str(loop)), f"{loop} is a symlink loop; nothing was indexed")
    there, back = tmp_path / "there", tmp_path / "back"
    there.symlink_to(back)
    back.symlink_to(there)
    refused(cli(indexing_home, "index", str(there)), f"{there} is a symlink loop; nothing was indexed")
    inside = cli(indexing_home, "index", str(loop / "notes.txt"))  # a loop on the way to it
    refused(inside, f"{loop / 'notes.txt'} is a symlink loop; nothing was indexed")


def test_index_refuses_a_named_pipe_and_a_socket(indexing_home: Path, tmp_path: Path):
    pipe = tmp_path / "pipe.txt"
    os.mkfifo(pipe)
    refused(cli(indexing_home, "index", str(pipe), timeout=60),
            f"{pipe} is a named pipe, not a folder or a document; nothing was indexed")
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        refused(cli(indexing_home, "index", str(path)), f"{path} is a socket, not a folder or a document; nothing was indexed")


def test_index_still_takes_a_link_to_a_document(indexing_home: Path, tmp_path: Path):
    (tmp_path / "real.txt").write_text("The ferry timetable changes in October.")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    done = cli(indexing_home, "index", str(tmp_path / "link.txt"))
    assert done.returncode == 0 and "1 indexed" in done.stdout, done.stdout + done.stderr
