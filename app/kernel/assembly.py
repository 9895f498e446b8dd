"""Putting one Pagemind together: its memory, its chat model, and the kernel that serves turns.

Whatever serves requests (the desktop app's Host, ``python main.py ask``, the self-test) calls
these functions and holds what they return; nothing here runs a turn. The memory layer never
starts an embedder itself: :func:`open_memory` starts it, and hands the memory a view of it through
the scheduler, so that recall, archival and document search embed in turn with everything else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import tools
from app import paths, settings
from app.kernel.agent import Agent, Limits
from app.kernel.prompts import SYSTEM_PROMPT
from app.kernel.upkeep import Upkeep
from app.memory.store import MemoryStore
from app.safety.confirm import Confirmer
from app.safety.gate import Gate
from app.safety.journal import Journal
from app.safety.policy import Policy
from models.convert import DEFAULT_EMBEDDER_FILE, ensure_default_embedder
from models.errors import ModelError
from models.interface import ChatModel
from models.scheduler import Priority, ScheduledChatModel, ScheduledEmbedder, Scheduler
from tools.fs import backups
from tools.registry import Registry

log = logging.getLogger(__name__)


def embedder_path() -> Path | None:
    """The embedder in the settings, else the converted default, else None.

    An installed bundle copies the default it ships into the models folder on first use.
    """
    chosen = settings.load().embed_model
    path = Path(chosen).expanduser() if chosen else paths.models_dir() / DEFAULT_EMBEDDER_FILE
    if not path.exists() and not chosen and paths.bundled_models_dir() is not None:
        try:
            path = ensure_default_embedder(paths.models_dir(), paths.bundled_models_dir())
        except (ModelError, OSError) as exc:
            log.warning("the bundled embedder cannot be installed: %s", exc)
    return path if path.exists() else None


def open_memory(scheduler: Scheduler | None = None, path: Path | None = None) -> MemoryStore:
    """The user's memory with the configured embedder (words only when none is available).

    With a ``scheduler``, the memory embeds through it at chat priority (a message's or a query's
    vector is on the user's path); the store closes the embedder it was opened with.
    """
    from models.local_client import LocalEmbedder

    embedder, model_path = None, embedder_path()
    if model_path is None:
        log.warning("no embedder is set up (`%s models setup`); searching by words only", paths.launcher())
    else:
        try:
            embedder = LocalEmbedder(model_path)
        except ModelError as exc:
            log.warning("the embedder cannot be loaded (%s); searching by words only", exc)
    view = ScheduledEmbedder(embedder, scheduler, Priority.CHAT) if embedder and scheduler else embedder
    store = MemoryStore.open(path, view, embedder.info.file_hash if embedder else "")
    store.owned = embedder
    mended = store.recall.repair()
    if mended:
        log.info("indexed %d messages that were committed but not yet searchable", mended)
    return store


def load_chat_model(conf: settings.Settings) -> ChatModel | None:
    """The chat model the settings name: a remote server, a local GGUF, or None."""
    if conf.remote_url:
        from models.remote import RemoteChatModel

        return RemoteChatModel(conf.remote_url, conf.remote_model, n_ctx=conf.context_length,
                               temperature=conf.temperature)
    if not conf.chat_model:
        return None
    from models.gguf_file import fitting_context
    from models.local_client import LocalChatModel

    path = Path(conf.chat_model).expanduser()
    return LocalChatModel(path, n_ctx=fitting_context(path, conf.context_length), n_threads=conf.threads,
                          temperature=conf.temperature)


@dataclass
class Kernel:
    """One Pagemind's parts, wired: ``agent.run`` serves a turn, ``upkeep`` works between turns."""

    memory: MemoryStore
    registry: Registry
    gate: Gate
    journal: Journal
    agent: Agent
    model: ScheduledChatModel | None
    upkeep: Upkeep | None
    """None without a chat model."""
    scheduler: Scheduler
    owns_scheduler: bool = field(default=False, repr=False)

    def close(self, save_state: bool = True) -> None:
        """Save the context's KV state for the next start, then stop the model (and its own scheduler)."""
        try:
            if self.upkeep is not None and save_state:
                self.upkeep.suspend()
        finally:
            if self.model is not None:
                self.model.close()
            if self.owns_scheduler:
                self.scheduler.close()


def assemble(memory: MemoryStore, model: ChatModel | None, confirmer: Confirmer, *,
             scheduler: Scheduler | None = None, policy: Policy | None = None, registry: Registry | None = None,
             limits: Limits | None = None, conversation: str = "main") -> Kernel:
    """The kernel over ``memory`` and ``model`` (None: quick commands only), asking ``confirmer``."""
    registry = registry or tools.load_all()
    _prune_backups()
    owns = scheduler is None
    scheduler = scheduler or Scheduler()
    journal = Journal(memory.db, policy.roots if policy is not None else None)
    gate = Gate(registry, policy or Policy(), journal, confirmer, {"memory": memory})
    scheduled = ScheduledChatModel(model, scheduler) if model is not None else None
    specs = registry.specs()
    agent = Agent(memory, scheduled, gate, specs, SYSTEM_PROMPT, limits, conversation)
    upkeep = Upkeep(scheduled, agent.context) if scheduled is not None else None
    return Kernel(memory, registry, gate, journal, agent, scheduled, upkeep, scheduler, owns)


def _prune_backups() -> None:
    """Backups older than the retention the settings name go (undo of those actions then says so)."""
    try:
        removed = backups.prune(settings.load().backup_days)
    except (OSError, settings.SettingsError) as exc:
        log.warning("old backups could not be pruned: %s", exc)
        return
    if removed:
        log.info("pruned %d backups older than the retention", removed)
