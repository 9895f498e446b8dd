"""The OS tools the model may call: plain typed functions, one module per area.

``MODULES`` is the one list of tool modules: the app imports them through :func:`load_all`, and
the bundle's spec reads the same list for its hidden imports.
"""

from __future__ import annotations

import importlib

MODULES = (
    "tools.messages",
    "tools.files",
    "tools.processes",
    "tools.apps",
    "tools.system",
    "tools.desktop",
    "tools.memory",
    "tools.documents",
)


def load_all():  # -> tools.registry.Registry
    """Import every tool module, so each ``@tool`` is in the registry; returns the registry."""
    for name in MODULES:
        importlib.import_module(name)
    from tools.registry import REGISTRY

    return REGISTRY
