"""What goes into the bundle, worked out from the code rather than kept by hand.

``pagemind.spec`` loads this file by path (a top-level ``packaging`` package would hide the
``packaging`` library that pip and PyInstaller import), and so do the tests.

- Hidden imports: the tool modules come from ``tools.MODULES``, the list the app imports at run
  time; the dependencies from the doctor's list (some are imported only by name, like pyautogui).
- Metadata: the doctor reads each dependency's version, so their dist-info folders are copied.
- Binaries: llama.cpp's shared libraries, kept under ``llama_cpp/lib`` where llama_cpp looks.
- Data: the model catalog, and the default embedder converted at build time.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.cli.doctor import DEPENDENCIES  # noqa: E402
from app.paths import BUNDLED_MODELS  # noqa: E402
import tools  # noqa: E402
from models.convert import DEFAULT_EMBEDDER_FILE  # noqa: E402

NAME = "Pagemind"
ENTRY = ROOT / "main.py"

EXCLUDES = [
    # Tests and development tools installed beside the app.
    "tests", "pytest", "_pytest", "pytestqt", "hypothesis", "IPython", "PyInstaller",
    # The OpenAI-compatible server extra of llama-cpp-python: the app only uses the runtime.
    "llama_cpp.server", "uvicorn", "fastapi", "starlette", "sse_starlette", "starlette_context",
    # Qt modules the app never uses; PySide6's hooks only add what is imported, these keep it so.
    "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.QtQml", "PySide6.QtQuick",
    "PySide6.Qt3DCore", "PySide6.QtPdf", "PySide6.QtMultimedia",
    # Optional backends pulled in by libraries; the app has no use for them (pydantic only types
    # huggingface_hub's webhooks; fontTools comes with matplotlib, which only the benchmarks use).
    "tkinter", "matplotlib", "fontTools", "scipy", "pandas", "torch", "sentence_transformers", "pydantic",
]

DROPPED_LIBRARIES = (
    # QML, Qt Quick, the virtual keyboard and PDF rendering come in only through Qt plugins the
    # widgets never load (the virtual keyboard input context, the PDF image format): 25 MB.
    "libQt6Qml", "libQt6Quick", "libQt6VirtualKeyboard", "libQt6Pdf",
    "libqtvirtualkeyboardplugin", "libqpdf",
)


def hidden_imports() -> list[str]:
    """Modules imported by name at run time, which PyInstaller's analysis cannot see."""
    return sorted({*tools.MODULES, *(module for _, module in DEPENDENCIES)})


def keep_binary(dest: str) -> bool:
    """Whether a collected shared library (by its path inside the bundle) stays in the bundle."""
    return not Path(dest).name.startswith(DROPPED_LIBRARIES)


def metadata() -> list[tuple[str, str]]:
    """The dist-info of every dependency the doctor reports on."""
    from PyInstaller.utils.hooks import copy_metadata

    found: list[tuple[str, str]] = []
    for dist, _module in DEPENDENCIES:
        found += copy_metadata(dist)
    return found


def binaries() -> list[tuple[str, str]]:
    """llama.cpp's shared libraries (libllama, libggml*), which llama_cpp loads with ctypes."""
    from PyInstaller.utils.hooks import collect_dynamic_libs

    libs = collect_dynamic_libs("llama_cpp")
    if not any("llama" in Path(source).name for source, _ in libs):
        raise SystemExit("llama.cpp's shared library was not found in the llama_cpp package")
    return libs


def datas(assets: Path) -> list[tuple[str, str]]:
    """Data files and their folders inside the bundle; ``assets`` holds what the build made."""
    embedder = assets / BUNDLED_MODELS / DEFAULT_EMBEDDER_FILE
    if not embedder.is_file():
        raise SystemExit(f"the default embedder was not built: {embedder} is missing")
    return [
        (str(ROOT / "models" / "catalog.toml"), "models"),
        (str(embedder), BUNDLED_MODELS),
    ]
