"""The user-level install script, run for real (sh) on a bundle-shaped folder in tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.packaging.conftest import PACKAGING


def make_bundle(folder: Path, version: str = "1") -> Path:
    """A folder laid out like dist/Pagemind: the executable (a script here), _internal, the extras."""
    folder.mkdir(parents=True)
    executable = folder / "Pagemind"
    executable.write_text(f"#!/bin/sh\necho pagemind {version}\n")
    executable.chmod(0o755)
    (folder / "_internal").mkdir()
    (folder / "_internal" / "payload.txt").write_text(version)
    shutil.copyfile(PACKAGING / "install-linux.sh", folder / "install.sh")
    shutil.copyfile(PACKAGING / "pagemind.desktop", folder / "pagemind.desktop")
    for size in ("16x16", "256x256"):
        icon = folder / "icons" / "hicolor" / size / "apps" / "pagemind.png"
        icon.parent.mkdir(parents=True)
        icon.write_bytes(b"\x89PNG " + size.encode())
    return folder


def install(bundle: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    return subprocess.run(["sh", str(bundle / "install.sh"), *args], capture_output=True, text=True, env=env,
                          cwd=home, timeout=60)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".local" / "share" / "pagemind").mkdir(parents=True)
    (home / ".local" / "share" / "pagemind" / "pagemind.duckdb").write_text("the user's memory")
    return home


def test_install_upgrade_and_uninstall_for_one_user(tmp_path: Path, home: Path) -> None:
    first = install(make_bundle(tmp_path / "v1" / "Pagemind", "1"), home)
    assert first.returncode == 0, first.stderr
    local = home / ".local"
    app = local / "opt" / "pagemind"
    link = local / "bin" / "pagemind"
    desktop = local / "share" / "applications" / "pagemind.desktop"
    assert (app / "_internal" / "payload.txt").read_text() == "1"
    assert link.is_symlink() and link.resolve() == (app / "Pagemind").resolve()
    assert subprocess.run([str(link)], capture_output=True, text=True).stdout == "pagemind 1\n"
    entry = desktop.read_text()
    assert f'Exec="{app}/Pagemind"' in entry and f"TryExec={app}/Pagemind" in entry
    assert "Icon=pagemind" in entry
    for size in ("16x16", "256x256"):
        assert (local / "share" / "icons" / "hicolor" / size / "apps" / "pagemind.png").is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout
    assert "not on your PATH" in first.stdout

    second = install(make_bundle(tmp_path / "v2" / "Pagemind", "2"), home)  # an upgrade swaps the folder
    assert second.returncode == 0, second.stderr
    assert (app / "_internal" / "payload.txt").read_text() == "2"
    assert sorted(p.name for p in (local / "opt").iterdir()) == ["pagemind"]  # nothing staged is left

    gone = install(tmp_path / "v2" / "Pagemind", home, "--uninstall")
    assert gone.returncode == 0, gone.stderr
    assert not app.exists() and not link.exists() and not link.is_symlink() and not desktop.exists()
    assert not list((local / "share" / "icons").rglob("pagemind.png"))
    assert (local / "share" / "pagemind" / "pagemind.duckdb").read_text() == "the user's memory"
    assert "data and settings were kept" in gone.stdout


def test_install_below_another_prefix(tmp_path: Path, home: Path) -> None:
    result = install(make_bundle(tmp_path / "Pagemind"), home, "--prefix", "apps")  # relative to the cwd
    assert result.returncode == 0, result.stderr
    assert (home / "apps" / "opt" / "pagemind" / "Pagemind").is_file()
    assert (home / "apps" / "bin" / "pagemind").is_symlink()
    assert not (home / ".local" / "opt").exists()


def test_what_is_not_ours_is_never_replaced(tmp_path: Path, home: Path) -> None:
    bundle = make_bundle(tmp_path / "Pagemind")
    foreign = home / ".local" / "opt" / "pagemind"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("someone else's folder")
    for args in ((), ("--uninstall",)):
        result = install(bundle, home, *args)
        assert result.returncode == 1 and "not a Pagemind install" in result.stderr
        assert (foreign / "notes.txt").read_text() == "someone else's folder"
    shutil.rmtree(foreign)

    command = home / ".local" / "bin" / "pagemind"
    command.parent.mkdir(parents=True)
    command.write_text("#!/bin/sh\necho mine\n")
    result = install(bundle, home)
    assert result.returncode == 1 and "is not a link" in result.stderr
    assert command.read_text() == "#!/bin/sh\necho mine\n"
    assert not (home / ".local" / "opt" / "pagemind").exists()


def test_bad_invocations_explain_themselves(tmp_path: Path, home: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copyfile(PACKAGING / "install-linux.sh", loose / "install.sh")
    result = install(loose, home)
    assert result.returncode == 1 and "run install.sh from inside the built bundle" in result.stderr

    bundle = make_bundle(tmp_path / "Pagemind")
    unknown = install(bundle, home, "--everywhere")
    assert unknown.returncode == 2 and "unknown option: --everywhere" in unknown.stderr
    dollar = install(bundle, home, "--prefix", str(tmp_path / "$HOME"))
    assert dollar.returncode == 2 and "may not contain" in dollar.stderr
    assert install(bundle, home, "--help").stdout.startswith("usage:")
