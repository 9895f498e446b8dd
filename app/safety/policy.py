"""May this call run? The permission gate's judgement: allow, ask the user, or deny.

Paths are resolved first (``~``, ``..``, symlinks), then judged:
- system folders, and Pagemind's own files for anything but reading, are denied;
- ``read`` runs inside the allowed roots (the home folder by default) and asks outside them;
- ``write``, ``control`` and ``launch`` ask, unless a standing rule the user granted covers them;
- ``destructive`` always asks;
- tools that change only Pagemind's own memory run;
- once the turn holds untrusted text (a file's contents, another program's output), everything
  above ``read`` asks, whatever the rules say, naming the source (DESIGN.md decision 6).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from app import paths, settings
from tools.registry import Tool

Decision = Literal["allow", "ask", "deny"]

def resolve(value: str) -> Path:
    """An absolute path with ``~``, ``..`` and every symlink resolved (relative to home)."""
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = Path.home() / path
    return Path(os.path.realpath(path))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class Rule:
    """A standing permission: ``tier`` for everything inside ``target`` (a folder) or for an app."""

    tier: str
    target: str

    def text(self) -> str:
        return f"{self.tier} {self.target}"

    @classmethod
    def parse(cls, text: str) -> Rule:
        tier, _, target = text.strip().partition(" ")
        if tier not in ("write", "control", "launch") or not target.strip():
            raise ValueError(f"a rule is 'write|control|launch TARGET', not {text!r}")
        return cls(tier, target.strip())

    def covers(self, tier: str, targets: Sequence[Path], app: str | None) -> bool:
        if tier != self.tier:
            return False
        if app is not None and not targets:
            return app.lower() == self.target.lower()
        folder = resolve(self.target)
        return bool(targets) and all(_inside(t, folder) for t in targets)


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    targets: list[Path] = field(default_factory=list)


class Policy:
    def __init__(self, roots: Sequence[str] | None = None, rules: Sequence[Rule] | None = None) -> None:
        chosen = settings.load()
        self.roots = [resolve(r) for r in (roots if roots is not None else chosen.allowed_roots)]
        self.rules = list(rules) if rules is not None else [Rule.parse(r) for r in chosen.permission_rules]
        self.protected = [paths.data_dir(), paths.config_dir()]

    def targets(self, tool: Tool[Any], args: dict[str, Any]) -> list[Path]:
        found: list[Path] = []
        for name in tool.paths:
            value = args.get(name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and item.strip():
                    found.append(resolve(item))
        return found

    def decide(self, tool: Tool[Any], args: dict[str, Any], taint: Sequence[str] = ()) -> Verdict:
        targets = self.targets(tool, args)
        for target in targets:
            outside_roots = not any(_inside(target, root) for root in self.roots)
            if outside_roots and any(_inside(target, f) for f in paths.system_folders()):
                return Verdict("deny", f"{target} is in a system folder", targets)
            if tool.risk != "read" and any(_inside(target, p) for p in self.protected):
                return Verdict("deny", f"{target} holds Pagemind's own data", targets)
        outside = [t for t in targets if not any(_inside(t, root) for root in self.roots)]
        if tool.risk == "read":
            if outside:
                return Verdict("ask", f"{outside[0]} is outside the allowed folders", targets)
            return Verdict("allow", "reading inside the allowed folders", targets)
        if taint:
            return Verdict("ask", f"the conversation now holds untrusted text from {taint[-1]}", targets)
        if tool.internal:
            return Verdict("allow", "it changes only Pagemind's own memory", targets)
        if tool.risk == "destructive":
            return Verdict("ask", "destructive actions always ask", targets)
        if outside:
            return Verdict("ask", f"{outside[0]} is outside the allowed folders", targets)
        app = args.get("name") if tool.risk == "launch" else None
        for rule in self.rules:
            if rule.covers(tool.risk, targets, app if isinstance(app, str) else None):
                return Verdict("allow", f"the standing rule '{rule.text()}'", targets)
        return Verdict("ask", f"{tool.risk} actions ask unless you allow them", targets)

    def rule_for(self, tool: Tool[Any], args: dict[str, Any], targets: Sequence[Path]) -> Rule | None:
        """The standing rule "Always allow here" would grant (None where none may be granted)."""
        if tool.risk in ("read", "destructive"):
            return None
        if targets:
            try:
                folder = targets[0] if targets[0].is_dir() else targets[0].parent
            except OSError:  # a name too long for the system, say: no rule for it
                return None
            return Rule(tool.risk, str(folder))
        name = args.get("name")
        return Rule(tool.risk, name) if tool.risk == "launch" and isinstance(name, str) else None

    def grant(self, rule: Rule) -> None:
        """Keep a standing rule, in memory and in the settings."""
        if rule in self.rules:
            return
        self.rules.append(rule)
        self._save_rules()

    def revoke(self, rule: Rule) -> None:
        self.rules = [r for r in self.rules if r != rule]
        self._save_rules()

    def _save_rules(self) -> None:
        with settings.lock:
            chosen = settings.load()
            chosen.permission_rules = [r.text() for r in self.rules]
            settings.save(chosen)
