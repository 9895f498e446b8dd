"""May this call run? The permission gate's judgement: allow, ask the user, or deny.

The policy judges what the tool resolved (tools/judged.py: every path with ``~``, ``..`` and
symlinks resolved, and the app, processes or link the call acts on), never the model's text:
- forbidden places are denied, never asked (app/safety/places.py): system folders whatever the
  allowed folders say, Pagemind's own folders and the trash for anything but reading;
- ``read`` runs inside the allowed roots (the home folder by default) and asks outside them and in
  sensitive places (dot folders, keys, start-up files, browser profiles);
- ``write``, ``control`` and ``launch`` ask, unless a standing rule the user granted covers them;
  a rule never covers a sensitive place, and never a program started with arguments;
- ``destructive`` always asks;
- tools that change only Pagemind's own memory run;
- while the conversation holds untrusted text (a file's contents, names chosen by others, another
  program's output), everything above ``read`` asks, whatever the rules say, naming the source
  (DESIGN.md decision 6).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from app import settings
from app.safety import places
from tools.fs.resolve import inside, real_home, resolve
from tools.judged import Judgement, Target
from tools.registry import Tool

log = logging.getLogger(__name__)

Decision = Literal["allow", "ask", "deny"]
TIERS = ("write", "control", "launch")
"""The tiers a standing rule may grant."""


@dataclass(frozen=True)
class Rule:
    """A standing permission: ``tier`` for everything inside ``target`` (a folder), or, for
    ``launch``, one application's desktop entry (or bundle) started without arguments."""

    tier: str
    target: str

    def text(self) -> str:
        return f"{self.tier} {self.target}"

    @classmethod
    def parse(cls, text: str) -> Rule:
        tier, _, target = text.strip().partition(" ")
        if tier not in TIERS or not target.strip():
            raise ValueError(f"a rule is 'write|control|launch TARGET', not {text!r}")
        return cls(tier, target.strip())

    def folder(self) -> Path:
        return resolve(self.target)

    def covers(self, tier: str, judgement: Judgement) -> bool:
        if tier != self.tier:
            return False
        subject = judgement.subject
        if tier == "launch" and subject is not None:
            return subject.asks is None and subject.key == self.target and not judgement.targets
        targets = judgement.all_targets()
        try:
            folder = self.folder()
        except ValueError:
            return False
        return bool(targets) and all(inside(t.path, folder) for t in targets)


def grantable(rule: Rule) -> str | None:
    """Why ``rule`` may not stand (None when it may): never on home or above it, a root of the
    file system, a sensitive or forbidden place."""
    if rule.tier == "launch" and not os.path.isabs(rule.target):
        return None
    try:
        folder = rule.folder()
    except ValueError as exc:
        return str(exc)
    if folder == folder.parent or inside(real_home(), folder):
        return f"{folder} is the home folder or holds it"
    if places.sensitive(folder):
        return f"{folder} is a sensitive place"
    return places.forbidden(folder, changes=True)


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    judgement: Judgement = Judgement()

    @property
    def targets(self) -> list[Path]:
        return [t.path for t in self.judgement.all_targets()]


class Policy:
    def __init__(self, roots: Sequence[str] | None = None, rules: Sequence[Rule] | None = None) -> None:
        chosen = settings.load() if roots is None or rules is None else None
        self.roots = [resolve(r) for r in (roots if roots is not None else chosen.allowed_roots)
                      if isinstance(r, str) and r.strip()]
        self.rules = list(rules) if rules is not None else _standing(chosen.permission_rules)

    def outside(self, path: Path) -> bool:
        return not any(inside(path, root) for root in self.roots)

    def decide(self, tool: Tool[Any], judgement: Judgement, taint: Sequence[str] = ()) -> Verdict:
        targets = judgement.all_targets()
        changes = tool.risk != "read"
        for t in targets:
            reason = places.forbidden(t.path, changes=changes, moved=t.moved)
            if reason:
                return Verdict("deny", reason, judgement)
        roots = places.sensitive_roots() if targets else []
        touchy = [t for t in targets if places.sensitive(t.path, roots) or (t.moved and _holds_any(t.path, roots))]
        outside = [t for t in targets if self.outside(t.path)]
        if tool.risk == "read":
            if outside:
                return Verdict("ask", f"{outside[0].path} is outside the allowed folders", judgement)
            if touchy:
                return Verdict("ask", f"{touchy[0].path} is a sensitive place, and reading it always asks", judgement)
            return Verdict("allow", "reading inside the allowed folders", judgement)
        if taint:
            return Verdict("ask", f"the conversation now holds untrusted text from {taint[-1]}", judgement)
        if tool.internal:
            return Verdict("allow", "it changes only Pagemind's own memory", judgement)
        if tool.risk == "destructive":
            return Verdict("ask", "destructive actions always ask", judgement)
        if outside:
            return Verdict("ask", f"{outside[0].path} is outside the allowed folders", judgement)
        if touchy:
            return Verdict("ask", f"{touchy[0].path} is a sensitive place (settings, keys or start-up "
                                  "files), so it always asks", judgement)
        if judgement.subject is not None and judgement.subject.asks:
            return Verdict("ask", judgement.subject.asks, judgement)
        for rule in self.rules:
            if grantable(rule) is None and rule.covers(tool.risk, judgement):
                return Verdict("allow", f"the standing rule '{rule.text()}'", judgement)
        return Verdict("ask", f"{tool.risk} actions ask unless you allow them", judgement)

    def rule_for(self, tool: Tool[Any], judgement: Judgement) -> Rule | None:
        """The standing rule "Always allow here" would grant (None where none may be granted)."""
        if tool.risk not in TIERS or tool.internal:
            return None
        subject = judgement.subject
        if subject is not None and tool.risk == "launch" and not judgement.targets:
            return Rule("launch", subject.key) if subject.asks is None and not subject.targets else None
        targets = judgement.all_targets()
        if not targets:
            return None
        folders = {_folder_of(t) for t in targets}
        folder = Path(os.path.commonpath([str(f) for f in folders]))
        rule = Rule(tool.risk, str(folder))
        if self.outside(folder) or grantable(rule) is not None:
            return None
        return rule

    def grant(self, rule: Rule) -> None:
        """Keep a standing rule, in memory and in the settings."""
        problem = grantable(rule)
        if problem is not None:
            raise ValueError(f"the rule '{rule.text()}' cannot be granted: {problem}")
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


def read_rules(texts: Sequence[str]) -> tuple[list[Rule], list[tuple[str, str]]]:
    """The rules of the settings that stand, and (text, why) for each one left out: a rule that
    cannot be read or may not stand is ignored, never a reason to fail."""
    rules, ignored = [], []
    for text in texts:
        try:
            rule = Rule.parse(text)
        except ValueError as exc:
            ignored.append((text, str(exc)))
            continue
        problem = grantable(rule)
        if problem is not None:
            ignored.append((text, problem))
            continue
        rules.append(rule)
    return rules, ignored


def _standing(texts: Sequence[str]) -> list[Rule]:
    rules, ignored = read_rules(texts)
    for text, why in ignored:
        log.warning("ignoring the permission rule %r: %s", text, why)
    return rules


def _folder_of(target: Target) -> Path:
    """The folder a rule for ``target`` would name: a folder acted on itself, else the one holding it."""
    if not target.moved and target.identity is not None and os.path.isdir(target.path):
        return target.path
    return target.path.parent


def _holds_any(path: Path, roots: list[Path]) -> bool:
    return any(inside(root, path) for root in roots)
