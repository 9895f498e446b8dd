"""Upkeep between turns (DESIGN.md decision 2): work done while the user reads or types.

- ``maintain``: past ``idle_flush_at`` of the budget, fold the oldest messages into the summary
  now, not in the middle of the next turn; then evaluate the context, so the next turn's first
  token waits only for its own message. It runs at background priority, and a new turn stops it.
- ``resume`` warms the model's KV cache at start from the state saved on disk (the whole context's,
  else the system message's, which it then saves); ``suspend`` saves the context's state at quit.
"""

from __future__ import annotations

import logging
import threading
from typing import Literal

from app.kernel.context import MainContext
from models.errors import GenerationCancelled, ModelError
from models.scheduler import Priority, ScheduledChatModel

log = logging.getLogger(__name__)

Upkept = Literal["evicted", "ready", "stopped"]


class Upkeep:
    def __init__(self, model: ScheduledChatModel, context: MainContext) -> None:
        self.model = model
        self.context = context
        self._background = model.at(Priority.BACKGROUND)
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def arm(self) -> None:
        """Allow the next ``maintain`` (the turn queue calls it after a turn, before upkeep starts)."""
        self._stop.clear()

    def maintain(self) -> Upkept:
        """Fold and evaluate ahead; "evicted", "ready", or "stopped" (a turn began, or the model failed)."""
        with self._lock:
            try:
                self._check()
                event: Upkept = "ready"
                limits = self.context.limits
                if self.context.tokens_used() >= limits.idle_flush_at * limits.budget:
                    self._check()
                    event = "evicted" if self.context.evict(model=self._background) else event
                self._check()
                self._background.evaluate(self.model.render(self.context.messages(), add_generation_prompt=False))
                return event
            except ModelError as exc:  # stopped by a new turn, or the runner failed: the turn will do it
                log.info("upkeep between turns stopped: %s", exc)
                return "stopped"

    def stop(self) -> None:
        """A turn begins: stop at once (the evaluation in flight is cancelled), and wait for that."""
        self._stop.set()
        self._background.cancel()
        with self._lock:  # maintain() has let go: the turn has the context to itself
            pass

    def _check(self) -> None:
        if self._stop.is_set():
            raise GenerationCancelled("a turn started")

    def resume(self) -> int:
        """Warm the KV cache before the first turn; returns the tokens restored from disk."""
        messages = self.context.messages()
        try:
            for prefix in (messages, messages[:1]):
                restored = self.model.load_prefix(self.model.render(prefix, add_generation_prompt=False))
                if restored:
                    return restored
            self.model.save_prefix(self.model.render(messages[:1], add_generation_prompt=False))
        except ModelError as exc:
            log.warning("the saved context state could not be restored: %s", exc)
        return 0

    def suspend(self) -> None:
        """Save the KV state of the context as it stands, for the next start."""
        try:
            self.model.save_prefix(self.model.render(self.context.messages(), add_generation_prompt=False))
        except ModelError as exc:
            log.warning("the context state could not be saved: %s", exc)
