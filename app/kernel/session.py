"""One running Pagemind: memory, model, permission gate, router and agent, wired together.

Whatever serves requests (the GUI's bridge, ``python main.py ask``, the self-test) holds a
Session. The router answers the quick commands it understands without the model, through the
same gate; everything else goes to the agent. With no chat model loaded, the router's commands
still work and everything else gets a plain answer saying a model is needed.
"""

from __future__ import annotations

import logging
from typing import Any

import tools
from app import paths, settings
from app.kernel import router
from app.kernel.agent import Agent, Limits, TurnResult
from app.kernel.context import MainContext
from app.kernel.events import Event, Listener, Step, asking, ignore
from app.kernel.prompts import SYSTEM_PROMPT
from models.scheduler import Scheduler, ScheduledChatModel
from app.memory.store import MemoryStore
from app.safety.confirm import Confirmer
from app.safety.gate import Gate, Turn
from app.safety.journal import Journal
from app.safety.policy import Policy
from models.interface import ChatModel
from tools.fs import backups
from tools.registry import Registry

log = logging.getLogger(__name__)

NO_MODEL = ("No chat model is loaded, so only quick commands work (like \"open firefox\", "
            "\"find report.pdf\" or \"what's using my memory\"). Choose a model with "
            f"`{paths.launcher()} models use FILE.gguf`.")


class Session:
    def __init__(
        self,
        memory: MemoryStore,
        model: ChatModel | None,
        confirmer: Confirmer,
        *,
        policy: Policy | None = None,
        registry: Registry | None = None,
        scheduler: Scheduler | None = None,
        limits: Limits | None = None,
        conversation: str = "main",
    ) -> None:
        self.memory = memory
        self.registry = registry or tools.load_all()
        self.scheduler = scheduler or Scheduler()
        self._own_scheduler = scheduler is None
        self.journal = Journal(memory.db, policy.roots if policy is not None else None)
        self._prune_backups()
        services: dict[str, Any] = {"memory": memory, "db": memory.db, "journal": self.journal}
        self.gate = Gate(self.registry, policy or Policy(), self.journal, confirmer, services)
        self.conversation = conversation
        self.model = ScheduledChatModel(model, self.scheduler) if model is not None else None
        self.agent: Agent | None = None
        if self.model is not None:
            specs = self.registry.specs()
            context = MainContext(self.model, memory, conversation, SYSTEM_PROMPT, specs)
            self.agent = Agent(self.model, context, self.gate, specs, limits)

    @staticmethod
    def _prune_backups() -> None:
        """Backups older than the retention the settings name go (undo of those actions then says so)."""
        try:
            removed = backups.prune(settings.load().backup_days)
        except (OSError, settings.SettingsError) as exc:
            log.warning("old backups could not be pruned: %s", exc)
            return
        if removed:
            log.info("pruned %d backups older than the retention", removed)

    def handle(self, event: Event, listener: Listener = ignore) -> TurnResult:
        """Serve one event to the end of its turn (on the caller's thread)."""
        route = router.route(event.text) if event.kind != "system" else None
        if route is not None:
            return self._quick(event, route, listener)
        if self.agent is None:
            self.memory.recall.add(self.conversation, *event.message(), source=event.source)
            listener(Step("error", text=NO_MODEL))
            return TurnResult("error", 0, error=NO_MODEL)
        return self.agent.handle(event, listener)

    def _quick(self, event: Event, route: router.Route, emit: Listener) -> TurnResult:
        """A command the router understood: one call through the gate, its result is the reply."""
        recall = self.memory.recall
        recall.add(self.conversation, *event.message(), source=event.source)
        recall.add(self.conversation, "assistant", f"quick command: {route.summary}",
                   tool_name=route.tool, tool_args=route.args)
        emit(Step("tool_call", tool=route.tool, args=route.args))

        outcome = self.gate.run(route.tool, dict(route.args), Turn(), on_ask=asking(emit))
        recall.add(self.conversation, "tool", outcome.result, tool_name=route.tool, source=outcome.source)
        emit(Step("tool_result", text=outcome.result, tool=route.tool, journal_id=outcome.journal_id))
        if outcome.failed:
            emit(Step("error", text=outcome.result))
            return TurnResult("error", 1, error=outcome.result)
        emit(Step("reply", text=outcome.result))
        return TurnResult("replied", 1, reply=outcome.result)

    def maintain(self) -> str:
        """Upkeep between turns (run it on a background thread after each turn)."""
        return self.agent.maintain() if self.agent is not None else "ready"

    def resume(self) -> int:
        """Warm the model's cache from the saved state (run it while the user types)."""
        return self.agent.resume() if self.agent is not None else 0

    def cancel(self) -> None:
        if self.agent is not None:
            self.agent.cancel()

    def close(self, save_state: bool = True) -> None:
        """Save the context's KV state for the next start, then stop the model and the queue."""
        try:
            if self.agent is not None and save_state:
                self.agent.suspend()
        finally:
            if self.model is not None:
                self.model.close()
            if self._own_scheduler:
                self.scheduler.close()
