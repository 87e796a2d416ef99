"""The database: migrations, transactions, constraints and persistence."""

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.persistence import SQLitePersistence
from storage import community as store
from storage.db import Database


async def test_migrations_apply_once_and_record_the_version(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.sqlite3")
    version = await db.schema_version()
    assert version == max(v for v, _, _ in Database.migrations())
    assert await db.migrate() == []
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    assert await db.fetchval("PRAGMA foreign_keys") == 1
    await db.close()


async def test_transaction_rolls_back_everything(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.sqlite3")
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await db.execute(
                "INSERT INTO communities (name, default_language, timezone, created_at)"
                " VALUES ('x', 'en', 'UTC', '2026-01-01T00:00:00+00:00')"
            )
            raise RuntimeError("boom")
    assert await db.fetchval("SELECT COUNT(*) FROM communities") == 0
    await db.close()


async def test_transactions_do_not_interleave(tmp_path: Path) -> None:
    """A statement from another coroutine waits instead of joining an open transaction."""
    db = await Database.open(tmp_path / "a.sqlite3")
    community = await store.create_community(
        db, name="c", default_language="en", timezone="UTC", created_by=None
    )

    async def bump(i: int) -> None:
        async with db.transaction():
            n = await db.fetchval("SELECT COUNT(*) FROM invites")
            await asyncio.sleep(0)
            await store.create_invite(db, community.id, "resident", f"code-{n:04d}-{i}", None)

    await asyncio.gather(*(bump(i) for i in range(50)))
    codes = [r[0] for r in await db.fetchall("SELECT code FROM invites ORDER BY code")]
    assert [c.split("-")[1] for c in codes] == [f"{n:04d}" for n in range(50)]
    await db.close()


async def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    db = await Database.open(tmp_path / "a.sqlite3")
    good = Database.migrations()
    bad = (*good, (9999, "broken", "CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);"))
    monkeypatch.setattr(Database, "migrations", staticmethod(lambda: list(bad)))
    with pytest.raises(RuntimeError, match="9999_broken"):
        await db.migrate()
    assert await db.fetchval("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'") == 0
    assert await db.schema_version() == good[-1][0]
    await db.close()


async def test_a_lower_numbered_migration_landing_later_is_still_applied(
    tmp_path: Path, monkeypatch
) -> None:
    """Capabilities number migrations after their issue; a low number may land late."""
    db = await Database.open(tmp_path / "a.sqlite3")
    good = Database.migrations()
    gap = min(set(range(1, good[-1][0])) - {v for v, _, _ in good})  # a free lower number
    late = sorted([*good, (gap, "late", "CREATE TABLE late (x);")])
    monkeypatch.setattr(Database, "migrations", staticmethod(lambda: list(late)))
    assert await db.migrate() == [gap]
    assert await db.fetchval("SELECT COUNT(*) FROM sqlite_master WHERE name = 'late'") == 1
    assert await db.migrate() == []
    await db.close()


async def test_checkpoint_empties_the_write_ahead_log(tmp_path: Path) -> None:
    """What an election's count relies on: no old page images of ballot drafts remain."""
    db = await Database.open(tmp_path / "a.sqlite3")
    await store.upsert_user(db, 1, first_name="A", last_name=None, username=None, language="en")
    wal = tmp_path / "a.sqlite3-wal"
    assert wal.stat().st_size > 0
    await db.checkpoint()
    assert wal.stat().st_size == 0
    assert await db.fetchval("PRAGMA secure_delete") == 1
    await db.close()


async def test_membership_constraints(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.sqlite3")
    c = await store.create_community(
        db, name="c", default_language="en", timezone="UTC", created_by=None
    )
    await store.upsert_user(db, 1, first_name="A", last_name=None, username=None, language="en")
    with pytest.raises(sqlite3.IntegrityError):
        await db.execute(
            "INSERT INTO memberships VALUES (?, 1, 'king', NULL, 'x', 'x')", (c.id,)
        )
    with pytest.raises(sqlite3.IntegrityError):  # a group the community does not have
        await db.execute(
            "INSERT INTO memberships VALUES (?, 1, 'resident', 'pirates', 'x', 'x')", (c.id,)
        )
    membership, new = await store.join(db, c.id, 1, role="coordinator", stakeholder_group="ngo")
    assert new and membership.role == "coordinator"
    membership, new = await store.join(db, c.id, 1, role="resident", stakeholder_group="media")
    assert not new and membership.role == "coordinator"  # re-joining never demotes
    assert membership.stakeholder_group == "media"
    await db.close()


async def test_persistence_round_trip(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.sqlite3")
    persistence = SQLitePersistence(db)
    await persistence.update_user_data(5, {"step": 2, "answers": ["a", 3]})
    await persistence.update_chat_data(-100, {"x": True})
    await persistence.update_conversation("join", (5, 5), 1)
    await persistence.update_conversation("join", (6, 6), 1)
    await persistence.update_conversation("join", (6, 6), None)
    assert (await persistence.get_user_data())[5] == {"step": 2, "answers": ["a", 3]}
    assert (await persistence.get_chat_data())[-100] == {"x": True}
    assert await persistence.get_conversations("join") == {(5, 5): 1}
    await persistence.drop_user_data(5)
    assert 5 not in await persistence.get_user_data()
    await db.close()


def test_migration_0018_numbers_earlier_acceptances_in_their_order() -> None:
    """Nominations accepted before 0018 get their place in the acceptance order from the
    time and id they had (the old tie-break), per election; pending ones get none."""
    conn = sqlite3.connect(":memory:")
    for version, _name, sql in Database.migrations():
        if version < 18:
            conn.executescript(sql)
    conn.executescript(
        "INSERT INTO users (id, first_name, language, created_at, updated_at) VALUES"
        " (1, 'a', 'en', 't', 't'), (2, 'b', 'en', 't', 't'), (3, 'c', 'en', 't', 't');"
        "INSERT INTO communities (id, name, default_language, timezone, created_at)"
        " VALUES (1, 'x', 'en', 'UTC', 't');"
        "INSERT INTO elections (id, community_id, name, seats, approvals, nomination_days,"
        " voting_days, created_at) VALUES (1, 1, 'e', 1, 1, 1, 1, 't'), (2, 1, 'f', 1, 1, 1,"
        " 1, 't');"
        "INSERT INTO nominations (id, election_id, nominee_id, status, created_at, accepted_at)"
        " VALUES (1, 1, 1, 'accepted', 't', '2026-01-02'), (2, 1, 2, 'accepted', 't',"
        " '2026-01-01'), (3, 1, 3, 'pending', 't', NULL), (4, 2, 1, 'accepted', 't',"
        " '2026-01-01'), (5, 2, 2, 'accepted', 't', '2026-01-01');")
    conn.executescript(next(sql for v, _n, sql in Database.migrations() if v == 18))
    assert conn.execute("SELECT id, accepted_seq FROM nominations ORDER BY id").fetchall() == [
        (1, 2), (2, 1), (3, None), (4, 1), (5, 2)]
    with pytest.raises(sqlite3.IntegrityError):  # one place per acceptance and election
        conn.execute("UPDATE nominations SET accepted_seq = 1 WHERE id = 1")
