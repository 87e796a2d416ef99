"""PTB's ``BasePersistence`` on the project's SQLite file.

Conversation states and ``user_data`` are what a resident half-way through a flow would
lose on a restart, so they live in the same database as everything else. Values
are stored as JSON: whatever a handler keeps in ``user_data`` must be JSON-serialisable
(ids, strings, numbers, lists, dicts), which keeps the rows readable and safe to load.
``bot_data``, ``chat_data`` and arbitrary callback data are not persisted: the bot keeps
services, not state, in ``bot_data`` (``bot.services``), nothing in ``chat_data``, and
buttons carry their own typed data (``bot.callbacks``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from copy import deepcopy
from typing import Any

from telegram.ext import BasePersistence, PersistenceInput

from storage.db import Database

# PTB's own names for these shapes live in a private module; spelled out here.
ConversationKey = tuple[int | str, ...]
ConversationDict = dict[ConversationKey, object]
CDCData = tuple[list[tuple[str, float, dict[str, Any]]], dict[str, str]]


class SQLitePersistence(BasePersistence[dict[str, Any], dict[str, Any], dict[str, Any]]):
    """Persistence that writes through to :class:`storage.db.Database`."""

    def __init__(self, db: Database, *, update_interval: float = 2.0) -> None:
        super().__init__(
            # chat_data is not persisted either: no handler keeps anything there, and PTB
            # would otherwise refresh and write it back for every chat an update touched
            # (two calls per sticker tap in a vote burst, for nothing).
            store_data=PersistenceInput(bot_data=False, chat_data=False, callback_data=False),
            update_interval=update_interval,
        )
        self.db = db
        # What each row holds now (None: no row). PTB hands over the data of every user an
        # update touched, every few seconds; after a vote burst that is thousands of users
        # whose data did not change, and writing them all would stall the bot.
        self._stored: dict[tuple[str, int], str | None] = {}

    # -- reading ---------------------------------------------------------------------------

    async def get_user_data(self) -> dict[int, dict[str, Any]]:
        rows = await self.db.fetchall("SELECT user_id, data FROM ptb_user_data")
        self._stored.update({("ptb_user_data", r["user_id"]): r["data"] for r in rows})
        return defaultdict(dict, {r["user_id"]: json.loads(r["data"]) for r in rows})

    async def get_chat_data(self) -> dict[int, dict[str, Any]]:
        rows = await self.db.fetchall("SELECT chat_id, data FROM ptb_chat_data")
        self._stored.update({("ptb_chat_data", r["chat_id"]): r["data"] for r in rows})
        return defaultdict(dict, {r["chat_id"]: json.loads(r["data"]) for r in rows})

    async def get_bot_data(self) -> dict[str, Any]:
        return {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        rows = await self.db.fetchall(
            "SELECT key, state FROM ptb_conversations WHERE name = ?", (name,)
        )
        return {tuple(json.loads(r["key"])): json.loads(r["state"]) for r in rows}

    # -- writing ---------------------------------------------------------------------------

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        encoded_key = json.dumps(list(key))
        if new_state is None:
            await self.db.execute(
                "DELETE FROM ptb_conversations WHERE name = ? AND key = ?", (name, encoded_key)
            )
        else:
            await self.db.execute(
                "INSERT INTO ptb_conversations (name, key, state) VALUES (?, ?, ?)"
                " ON CONFLICT(name, key) DO UPDATE SET state = excluded.state",
                (name, encoded_key, json.dumps(new_state)),
            )

    async def update_user_data(self, user_id: int, data: dict[str, Any]) -> None:
        await self._upsert("ptb_user_data", "user_id", user_id, data)

    async def update_chat_data(self, chat_id: int, data: dict[str, Any]) -> None:
        await self._upsert("ptb_chat_data", "chat_id", chat_id, data)

    async def _upsert(self, table: str, column: str, key: int, data: dict[str, Any]) -> None:
        encoded = json.dumps(deepcopy(data)) if data else None
        if self._stored.get((table, key)) == encoded:
            return  # unchanged since the last write (or load)
        if encoded is None:
            await self.db.execute(f"DELETE FROM {table} WHERE {column} = ?", (key,))
        else:
            await self.db.execute(
                f"INSERT INTO {table} ({column}, data) VALUES (?, ?)"
                f" ON CONFLICT({column}) DO UPDATE SET data = excluded.data",
                (key, encoded),
            )
        self._stored[(table, key)] = encoded

    async def update_bot_data(self, data: dict[str, Any]) -> None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        await self.db.execute("DELETE FROM ptb_chat_data WHERE chat_id = ?", (chat_id,))
        self._stored[("ptb_chat_data", chat_id)] = None

    async def drop_user_data(self, user_id: int) -> None:
        await self.db.execute("DELETE FROM ptb_user_data WHERE user_id = ?", (user_id,))
        self._stored[("ptb_user_data", user_id)] = None

    async def refresh_user_data(self, user_id: int, user_data: dict[str, Any]) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[str, Any]) -> None:
        return None

    async def refresh_bot_data(self, bot_data: dict[str, Any]) -> None:
        return None

    async def flush(self) -> None:
        """Every write above is already committed; nothing is buffered here."""
        return None
