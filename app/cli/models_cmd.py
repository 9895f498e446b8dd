"""``python main.py models list | download NAME | use PATH | setup``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from app import paths, settings
from models import gguf_file
from models.convert import default_checkpoint_dir, ensure_default_embedder
from models.download import download, find_entry, load_catalog
from models.local_client import LocalChatModel, LocalEmbedder

EMBEDDING_ARCHITECTURES = {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "t5encoder", "modern-bert"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="list, download and choose models")
    actions = parser.add_subparsers(dest="models_command", required=True)
    actions.add_parser("list", help="recommended models and the GGUF files present")
    get = actions.add_parser("download", help="download a recommended model by name")
    get.add_argument("name")
    use = actions.add_parser("use", help="check a GGUF file and make it the chat model (or embedder)")
    use.add_argument("path", type=Path)
    use.add_argument("--context", type=int, default=0, help="context length to check (default: settings)")
    actions.add_parser("setup", help="convert the built-in embedder (all-MiniLM-L6-v2) once")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return {"list": _list, "download": _download, "use": _use, "setup": _setup}[args.models_command](args)


def _list(args: argparse.Namespace) -> int:
    chosen = settings.load()
    folder = paths.models_dir()
    print(f"Recommended models (folder: {folder}):")
    for entry in load_catalog():
        present = (folder / entry.file).exists()
        mark = "*" if present else " "
        size = f"{entry.size / 1e9:5.2f} GB" if entry.size else "        "
        print(f" {mark} {entry.name:<22} {entry.kind:<9} {size}  ctx {entry.context_length:>6}  {entry.description}")
    local = sorted(p for p in folder.glob("*.gguf"))
    if local:
        print("\nFiles in the models folder:")
        for path in local:
            in_use = " (in use)" if str(path) in (chosen.chat_model, chosen.embed_model) else ""
            print(f"   {path.name}{in_use}")
    print(f"\nChat model in use: {chosen.chat_model or 'none'}")
    return 0


class _Progress:
    def __init__(self, label: str) -> None:
        self.label, self.start, self.last = label, time.monotonic(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.2 and done < total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-6) / 1e6
        share = f"{100 * done / total:5.1f}%" if total else "  ?  "
        print(f"\r{self.label}: {share} {done / 1e6:9.1f}/{total / 1e6:.1f} MB {rate:6.1f} MB/s",
              end="", file=sys.stderr, flush=True)


def _download(args: argparse.Namespace) -> int:
    entry = find_entry(args.name)
    if entry.source == "builtin":
        return _setup(args)
    path = download(entry, paths.models_dir(), progress=_Progress(entry.name))
    print(file=sys.stderr)
    print(f"Downloaded {path}")
    print(f"Use it with: {paths.launcher()} models use {path}")
    return 0


def _use(args: argparse.Namespace) -> int:
    chosen = settings.load()
    path = args.path.expanduser().resolve()
    summary = gguf_file.inspect(path)
    if summary.architecture in EMBEDDING_ARCHITECTURES:
        with LocalEmbedder(path) as model:
            info = model.info
        chosen.embed_model = str(path)
        role = "embedder"
    else:
        n_ctx = args.context or gguf_file.fitting_context(path, chosen.context_length)
        with LocalChatModel(path, n_ctx=n_ctx) as model:
            info = model.info
            model.count_tokens("hello")
        chosen.chat_model = str(path)
        role = "chat model"
    settings.save(chosen)
    print(f"Using {path.name} as the {role}: {info.architecture}, {info.n_embd}-wide, "
          f"trained context {info.n_ctx_train:,} tokens.")
    return 0


def _setup(args: argparse.Namespace) -> int:
    bundled = paths.bundled_models_dir()
    if bundled is None:
        print(f"Converting the built-in embedder from {default_checkpoint_dir()} ...", file=sys.stderr)
    path = ensure_default_embedder(paths.models_dir(), bundled)
    print(f"Embedder ready: {path}")
    return 0
