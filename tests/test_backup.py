"""Issue 16: ``python -m bot backup`` copies the live database consistently."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage.db import Database
from tests.harness import Harness


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


async def test_backup_of_the_live_database_restores_to_an_identical_dump(
        harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invitation = await harness.new_community()
    await harness.resident(invitation, "he")
    await harness.settle()
    target = tmp_path / "backups" / "copy.sqlite3"
    async with harness.db.transaction():  # the bot writes nothing meanwhile: one moment
        await harness.db.backup(target)
        source = await asyncio.to_thread(_dump, harness.database_path)
    assert _dump(target) == source

    # While something writes, the copy is one moment of it: every row up to some point.
    await harness.db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY)")
    writing = True

    async def writer() -> None:
        n = 0
        while writing:
            n += 1
            await harness.db.execute("INSERT INTO t (x) VALUES (?)", (n,))
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.05)
    # The command line, as an operator runs it beside the bot.
    from bot.__main__ import main

    monkeypatch.setenv("DATABASE_PATH", str(harness.database_path))
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    assert await asyncio.to_thread(main, ["backup", str(target)]) == 0
    writing = False
    await task
    with sqlite3.connect(target) as conn:
        rows = [r[0] for r in conn.execute("SELECT x FROM t ORDER BY x")]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert rows and rows == list(range(1, len(rows) + 1))

    # Restoring is opening the copy: the bot's own start-up accepts it as it is.
    restored = await Database.open(target)
    try:
        assert await restored.schema_version() == await harness.db.schema_version()
        assert await restored.fetchval("PRAGMA synchronous") == 2  # FULL
    finally:
        await restored.close()
