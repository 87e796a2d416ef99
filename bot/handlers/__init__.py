"""Handlers: one module per capability, found here so capabilities never edit a shared list.

Each module defines ``register(app)`` (and optionally ``COMMANDS``, ``GROUP_COMMANDS`` and
``async on_startup(app)``). Order matters to PTB inside a handler group: ``onboarding`` (which
owns ``/start``) comes first and ``fallback`` (unknown commands, stale buttons, stray text)
last; the rest follow by name.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

FIRST = ("onboarding",)
LAST = ("fallback",)


@cache
def handler_modules() -> tuple[ModuleType, ...]:
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    middle = sorted(n for n in names if n not in FIRST and n not in LAST)
    ordered = [n for n in FIRST if n in names] + middle + [n for n in LAST if n in names]
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in ordered)
