"""``python main.py rules [list | revoke RULE]``: the standing permissions the user granted."""

from __future__ import annotations

import argparse
import sys

from app import paths
from app.safety.policy import Policy, Rule


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("rules", help="list or revoke standing permissions")
    actions = parser.add_subparsers(dest="rules_command")
    actions.add_parser("list", help="the rules in force (the default)")
    revoke = actions.add_parser("revoke", help='revoke a rule, e.g. "write /home/me/Notes"')
    revoke.add_argument("rule")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    policy = Policy()
    if args.rules_command == "revoke":
        try:
            rule = Rule.parse(args.rule)
        except ValueError as exc:
            print(f"pagemind: {exc}", file=sys.stderr)
            return 2
        if rule not in policy.rules:
            print(f"pagemind: there is no rule '{rule.text()}' (see `{paths.launcher()} rules`)", file=sys.stderr)
            return 2
        policy.revoke(rule)
        print(f"Revoked: {rule.text()}")
        return 0
    if not policy.rules:
        print("No standing rules: writes, app launches and desktop control ask every time.")
    for rule in policy.rules:
        print(rule.text())
    return 0
