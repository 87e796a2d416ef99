"""What each capability stores about a person, gathered for ``/mydata`` and ``/forgetme``.

A capability registers one exporter (rows about the user, as plain dicts) and, if it keeps
anything that ``ON DELETE`` rules do not already handle, one eraser. The foundation calls
them all; no capability has to edit the account code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from storage.db import Database

Exporter = Callable[[Database, int], Awaitable[Any]]
Eraser = Callable[[Database, int], Awaitable[None]]

_exporters: dict[str, Exporter] = {}
_erasers: dict[str, Eraser] = {}


def register(name: str, export: Exporter, erase: Eraser | None = None) -> None:
    """Add a capability's personal data under ``name`` in the /mydata document."""
    _exporters[name] = export
    if erase is not None:
        _erasers[name] = erase


async def export_all(db: Database, user_id: int) -> dict[str, Any]:
    return {name: await export(db, user_id) for name, export in sorted(_exporters.items())}


async def erase_all(db: Database, user_id: int) -> None:
    for _name, erase in sorted(_erasers.items()):
        await erase(db, user_id)
