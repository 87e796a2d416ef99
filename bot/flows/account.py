"""A person's own data: language, export (/mydata) and erasure (/forgetme)."""

from __future__ import annotations

import json
from typing import Any

from bot.flows.errors import STALE, Refused
from bot.i18n import LANGUAGES
from storage import community as store
from storage import personal
from storage.db import Database, to_db, utcnow


async def set_language(db: Database, user_id: int, lang: str) -> None:
    """The language this person reads the bot in, from now on (one of ours only)."""
    if lang not in LANGUAGES:
        raise Refused(STALE)
    await store.set_language(db, user_id, lang)


async def export(db: Database, user_id: int) -> bytes:
    """Everything stored about the user, as an indented UTF-8 JSON document."""
    data: dict[str, Any] = {"exported_at": to_db(utcnow())}
    data.update(await store.personal_data(db, user_id))
    data.update(await personal.export_all(db, user_id))
    return json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()


async def forget(db: Database, user_id: int) -> None:
    """Erase the person. Capabilities anonymise what others rely on (votes, counts) first;
    deleting the user row then cascades to memberships and sets authorship to NULL."""
    await personal.erase_all(db, user_id)
    await store.delete_user(db, user_id)
