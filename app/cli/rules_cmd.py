"""``python main.py rules [list | revoke RULE]``: the standing permissions the user granted."""

from __future__ import annotations

import argparse
import sys

from app import paths, settings
from app.safety.policy import Policy, Rule, read_rules


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("rules", help="list or revoke standing permissions")
    actions = parser.add_subparsers(dest="rules_command")
    actions.add_parser("list", help="the rules in force (the default)")
    revoke = actions.add_parser("revoke", help='revoke a rule, e.g. "write /home/me/Notes"')
    revoke.add_argument("rule")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.rules_command == "revoke":
        return _revoke(args.rule.strip())
    policy = Policy()
    if not policy.rules:
        print("No standing rules: writes, app launches and desktop control ask every time.")
    for rule in policy.rules:
        print(rule.text())
    for text, why in read_rules(settings.load().permission_rules)[1]:
        print(f"ignored: {text!r} ({why}; revoke it to remove it)")
    return 0


def _revoke(text: str) -> int:
    """Remove a rule from the settings: one in force, or one that is ignored (even unreadable)."""
    with settings.lock:
        chosen = settings.load()
        kept = [r for r in chosen.permission_rules if r.strip() != text]
        if len(kept) == len(chosen.permission_rules):
            try:
                wanted = Rule.parse(text)
            except ValueError as exc:
                print(f"pagemind: {exc}", file=sys.stderr)
                return 2
            kept = [r for r in chosen.permission_rules if r.strip() != wanted.text()]
            if len(kept) == len(chosen.permission_rules):
                print(f"pagemind: there is no rule '{wanted.text()}' (see `{paths.launcher()} rules`)", file=sys.stderr)
                return 2
        chosen.permission_rules = kept
        settings.save(chosen)
    print(f"Revoked: {text}")
    return 0
