"""Issue 17, people: member search, broadcast recipients and the outbox, /mydata and
/forgetme at city scale — checked by reading SQLite's query plans, never by timing.

A ``SCAN`` of a table that grows with members is a failure; ``SEARCH … USING INDEX`` is
fine. Statements of tables other helpers own (the votes' and the surveys') and of tables a
migration after 0019 must index are reported as expected failures, not hidden.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

import storage.brainstorm
import storage.city
import storage.committee
import storage.digest
import storage.plan
import storage.process
import storage.survey
import storage.voting  # noqa: F401  (each registers its /mydata exporter and eraser)
from bot.flows import account
from bot.flows import broadcast as broadcast_flow
from bot.flows.community import search_members as search_in_hand
from storage import broadcast as store
from storage import community as community_store
from storage.db import Database, to_db, utcnow

# Tables that do not grow with the number of members (a scan of these is fine).
SMALL = {"communities", "stakeholder_groups", "schema_version", "json_each", "broadcasts",
         "elections", "committees", "prioritisations", "surveys", "plans", "brainstorms",
         # Only conversations in progress have a row (PTB deletes ended ones); /forgetme's
         # key patterns cannot use its (name, key) key.
         "ptb_conversations"}
_SCAN = re.compile(r"^SCAN (\w+)(?: AS \w+)?")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "people.sqlite3")
    try:
        yield database
    finally:
        await database.close()


async def plan(db: Database, sql: str, params: Any = ()) -> list[str]:
    return [r["detail"] for r in await db.fetchall("EXPLAIN QUERY PLAN " + sql, params)]


def _aliases(sql: str) -> dict[str, str]:
    """alias → table, for the FROM/JOIN clauses of ``sql``."""
    found = {}
    for table, alias in re.findall(r"(?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", sql,
                                   flags=re.IGNORECASE):
        found[table] = table
        if alias and alias.upper() not in {"ON", "WHERE", "JOIN", "CROSS", "LEFT", "INNER",
                                           "USING", "ORDER", "GROUP", "LIMIT", "SET"}:
            found[alias] = table
    return found


def scans(sql: str, details: list[str]) -> list[str]:
    """The tables that grow with members which this plan reads whole."""
    aliases = _aliases(sql)
    bad = []
    for detail in details:
        match = _SCAN.match(detail)
        if not match:
            continue
        table = aliases.get(match[1], match[1])
        if table in SMALL:
            continue
        if table == "member_names" and "VIRTUAL TABLE INDEX" in detail and ":M" in detail:
            continue  # the trigram index answering MATCH: that is the index, not a scan
        bad.append(table)
    return bad


async def assert_indexed(db: Database, sql: str, params: Any = ()) -> None:
    details = await plan(db, sql, params)
    assert not scans(sql, details), (sql, details)


async def traced(db: Database, work: Awaitable[Any]) -> list[str]:
    """Every statement ``work`` runs on the database's connection, with its values."""
    statements: list[str] = []
    conn = db._conn
    await conn._execute(conn._conn.set_trace_callback, statements.append)  # type: ignore[attr-defined]
    try:
        await work
    finally:
        await conn._execute(conn._conn.set_trace_callback, None)  # type: ignore[attr-defined]
    return [s for s in statements
            if not re.match(r"\s*(BEGIN|COMMIT|ROLLBACK|PRAGMA|SAVEPOINT|RELEASE|--)", s,
                            flags=re.IGNORECASE)]


async def seed(db: Database, n: int, *, community_name: str = "City") -> int:
    """A community of ``n`` generated members (plus the few named in the search tests)."""
    community = await community_store.create_community(
        db, name=community_name, default_language="fa", timezone="Asia/Tehran", created_by=None)
    now = to_db(utcnow())
    groups = ("activist", "vulnerable", "authority", "business", "ngo", "media")
    users = [(10_000 + i, f"Person{i}", f"Family{i % 97}", f"user{i}" if i % 3 else None,
              ("fa", "en", "he", "kk")[i % 4], int(i % 50 != 0), now, now) for i in range(n)]
    await db.executemany(
        "INSERT INTO users (id, first_name, last_name, username, language, reachable,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", users)
    await db.executemany(
        "INSERT INTO memberships (community_id, user_id, role, stakeholder_group, joined_at,"
        " privacy_accepted_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(community.id, u[0], "coordinator" if i % 500 == 0 else "resident",
          groups[i % len(groups)], f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}+00:00", now)
         for i, u in enumerate(users)])
    return community.id


NAMED = [
    (1, "مریم", "احمدی", "maryam_a"),
    (2, "יעל", "כהן", None),
    (3, "Әйгерім", "Серікқызы", "AigerimS"),
    (4, "John", "Smith", "jsmith"),
    (5, "Zahra", None, "z_hosseini"),
]


async def add_named(db: Database, community_id: int) -> None:
    for user_id, first, last, username in NAMED:
        await community_store.upsert_user(db, user_id, first_name=first, last_name=last,
                                          username=username, language="fa")
        await community_store.join(db, community_id, user_id, role="resident",
                                   stakeholder_group=None)


# -- member search ---------------------------------------------------------------------------


async def test_member_search_finds_by_name_and_username_in_any_script(db: Database) -> None:
    community = await seed(db, 3000)
    await add_named(db, community)

    async def names(query: str, limit: int = 8) -> list[str]:
        return [u.display_name for _m, u in
                await community_store.search_members(db, community, query, limit=limit)]

    assert await names("مریم") == ["مریم احمدی"]  # first name, Persian
    assert await names("احمدی") == ["مریم احمدی"]  # last name
    assert await names("مریم احمدی") == ["مریم احمدی"]  # both, across the space
    assert await names("כהן") == ["יעל כהן"]  # Hebrew
    assert await names("יעל") == ["יעל כהן"]
    assert await names("әйгер") == ["Әйгерім Серікқызы"]  # Kazakh, other case
    assert await names("СЕРІК") == ["Әйгерім Серікқызы"]
    assert await names("@AIG") == ["Әйгерім Серікқызы"]  # username, @ and case ignored
    assert await names("jsmith") == ["John Smith"]
    assert await names("SMI") == ["John Smith"]
    assert await names("hosseini") == ["Zahra"]
    assert await names("Zah") == ["Zahra"]
    assert await names("יע") == ["יעל כהן"]  # two letters: read in pages, still found
    assert await names("  ") == []
    assert await names("nobody-has-this") == []
    # A common needle returns at most the limit (here the lowest user ids: the index's order).
    found = await names("Person", limit=9)
    assert found == [f"Person{i} Family{i % 97}" for i in range(9)]
    assert len(await names("er", limit=5)) == 5


async def test_member_search_matches_the_rule_on_members_in_hand(db: Database) -> None:
    """The SQL search finds what the in-Python rule finds over the whole community."""
    community = await seed(db, 2000)
    await add_named(db, community)
    everyone = await community_store.members(db, community)
    for query in ("Person1", "family7", "USER19", "@user2", "مریم", "יעל כ", "әйгерім",
                  "Smith", "z_", "1", "99", "Person1999 Family59", "nobody"):
        got = await community_store.search_members(db, community, query, limit=8)
        want = search_in_hand(everyone, query, limit=8)
        if len(want) < 8:
            assert sorted(u.id for _m, u in got) == sorted(u.id for _m, u in want), query
        else:
            assert len(got) == 8 and all(search_in_hand([p], query) for p in got), query


async def test_member_search_follows_renames_and_erasure(db: Database) -> None:
    community = await seed(db, 10)
    await add_named(db, community)
    await community_store.upsert_user(db, 4, first_name="Johanna", last_name="Smythe",
                                      username=None, language="fa")
    assert [u.id for _m, u in await community_store.search_members(db, community, "Johanna")
            ] == [4]
    assert await community_store.search_members(db, community, "jsmith") == []
    await community_store.delete_user(db, 4)
    assert await community_store.search_members(db, community, "Johanna") == []


async def test_member_search_plans_read_no_community(db: Database) -> None:
    community = await seed(db, 50)
    for query in ("Person", "مریم احمدی", "ab"):
        statements = await traced(db, community_store.search_members(db, community, query))
        assert statements
        for sql in statements:
            await assert_indexed(db, sql)
        if len(query) >= 3:  # the trigram index drives, the community is only probed
            details = await plan(db, statements[0])
            assert "VIRTUAL TABLE INDEX" in details[0], details


async def test_counts_roles_and_membership_use_indexes(db: Database) -> None:
    community = await seed(db, 50)
    for work in (community_store.count_members(db, community),
                 community_store.member_counts(db, community),
                 community_store.is_member(db, community, 10_001),
                 community_store.get_membership(db, community, 10_001),
                 community_store.members(db, community, roles=("coordinator", "admin")),
                 community_store.members_page(db, community, after=("2026", 5)),
                 community_store.people(db, community, reachable=True)):
        for sql in await traced(db, work):
            details = await plan(db, sql)
            assert not scans(sql, details), (sql, details)
            if "GROUP BY" in sql:
                assert not any("TEMP B-TREE" in d for d in details), (sql, details)
    assert await community_store.count_members(db, community) == 50
    # Coordinators come from the role index, not a walk of the community in joining order.
    (sql,) = await traced(db, community_store.members(db, community, roles=("coordinator",)))
    assert "USING INDEX memberships_role" in (await plan(db, sql))[0]


# -- broadcast recipients and the outbox -----------------------------------------------------


AUDIENCES = [
    store.Audience((1,)),
    store.Audience((1,), "group", "media"),
    store.Audience((1,), "committee", 1),
    store.Audience((1,), "novote", 1, "stickers"),
    store.Audience((1,), "novote", 1, "pairwise"),
    store.Audience((1,), "novote", 1, "matrix"),
    store.Audience((1,), "noballot", 1),
    store.Audience((1,), "nosurvey", 1),
    store.Audience((1, 2, 3)),  # below / child: each person once, in the first community
]


@pytest.mark.parametrize("audience", AUDIENCES, ids=lambda a: f"{a.kind}-{len(a.community_ids)}")
async def test_recipient_chunks_walk_an_index(db: Database, audience: store.Audience) -> None:
    await seed(db, 20)
    for position in range(len(audience.community_ids)):
        statements = await traced(db, store.recipient_chunk(db, audience, position, 0))
        assert len(statements) == 1
        details = await plan(db, statements[0])
        assert not scans(statements[0], details), details
        assert not any("TEMP B-TREE" in d for d in details), details


async def test_recipients_are_reachable_members_once(db: Database, monkeypatch: Any) -> None:
    monkeypatch.setattr(store, "CHUNK", 7)
    city = await seed(db, 60)
    district = (await community_store.create_community(
        db, name="District", default_language="en", timezone="UTC", created_by=None)).id
    for user_id in (10_001, 10_002, 10_050):  # also in the city: counted there only
        await community_store.join(db, district, user_id, role="resident",
                                   stakeholder_group=None)
    await community_store.upsert_user(db, 7, first_name="Only", last_name=None, username=None,
                                      language="en")
    await community_store.join(db, district, 7, role="resident", stakeholder_group=None)
    reachable = {u.id for u in await community_store.people(db, city) if u.reachable}
    found = await store.recipients(db, store.Audience((city, district)))
    assert [p.id for p in found] == [*sorted(reachable), 7]
    media = await store.recipients(db, store.Audience((city,), "group", "media"))
    assert {p.id for p in media} == {
        m.user_id for m, u in await community_store.members(db, city)
        if m.stakeholder_group == "media" and u.reachable}
    assert await store.anyone_in(db, store.Audience((city,), "group", "nobody")) is False


async def _queue_some(db: Database, community_id: int, chunks: int,
                      ) -> tuple[store.Broadcast, store.Audience]:
    """A broadcast begun like ``flows.broadcast.send``, stopped after ``chunks`` chunks
    (as if the process had been killed there)."""
    texts = {"fa": "سلام", "en": "Hello"}
    broadcast = await store.begin_broadcast(db, community_id, 10_000, "all", texts, "fa",
                                            None, paid=False, start_in=community_id)
    audience = store.Audience((community_id,))
    after = 0
    for _ in range(chunks):
        last = await store.queue_chunk(db, broadcast, audience, 0, after,
                                       {"fa": "سلام", "en": "Hello"}, "سلام")
        assert last is not None
        after = last
    return broadcast, audience


async def test_outbox_is_filled_in_chunks_and_a_restart_resumes(db: Database,
                                                                monkeypatch: Any) -> None:
    monkeypatch.setattr(store, "CHUNK", 10)
    community = await seed(db, 95)
    broadcast, _audience = await _queue_some(db, community, 3)
    assert await store.queued(db, broadcast.id) == 30
    # Not done while queuing, even with every queued row sent.
    await db.execute("UPDATE outbox SET state = 'sent' WHERE broadcast_id = ?", (broadcast.id,))
    assert not await store.finish_if_done(db, broadcast.id)
    # "Restart": the delivery worker's start resumes where the cursor stopped.
    assert await broadcast_flow.resume(db) == 1
    rows = await db.fetchall("SELECT user_id, text FROM outbox WHERE broadcast_id = ?"
                             " ORDER BY user_id", (broadcast.id,))
    reachable = await store.recipients(db, store.Audience((community,)))
    assert [r["user_id"] for r in rows] == [p.id for p in reachable]  # each once
    language = {p.id: p.language for p in reachable}
    assert all(r["text"] == ("Hello" if language[r["user_id"]] == "en" else "سلام")
               for r in rows)
    assert await store.queuing(db) == []
    assert await broadcast_flow.resume(db) == 0


async def test_a_cancelled_broadcast_stops_queuing(db: Database, monkeypatch: Any) -> None:
    monkeypatch.setattr(store, "CHUNK", 10)
    community = await seed(db, 95)
    broadcast, _audience = await _queue_some(db, community, 2)
    await store.cancel(db, broadcast.id)
    await broadcast_flow.resume(db)
    assert await store.queued(db, broadcast.id) == 20
    assert await store.queuing(db) == []


async def test_outbox_enqueue_statements_use_indexes(db: Database, monkeypatch: Any) -> None:
    monkeypatch.setattr(store, "CHUNK", 10)
    community = await seed(db, 30)
    statements = await traced(db, _queue_some(db, community, 1))
    statements += await traced(db, store.finish_if_done(db, 1))
    statements += await traced(db, store.queuing(db))
    statements += await traced(db, store.progress(db, 1))
    assert any(s.startswith("INSERT INTO outbox") for s in statements)
    for sql in statements:
        await assert_indexed(db, sql)


# -- /mydata and /forgetme -------------------------------------------------------------------


async def test_mydata_and_forgetme_read_only_the_persons_rows(db: Database) -> None:
    community = await seed(db, 30)
    await add_named(db, community)
    statements = await traced(db, account.export(db, 1))
    statements += await traced(db, account.forget(db, 1))
    assert any("DELETE FROM users" in s for s in statements)
    scanned = [(table, sql) for sql in statements for table in scans(sql, await plan(db, sql))]
    assert not scanned, scanned


def _fk_without_index(path: Path) -> list[tuple[str, str, str]]:
    """(table, column, parent) of every foreign key whose child column leads no index:
    deleting one parent row (a user, at /forgetme) then scans the child table."""
    conn = sqlite3.connect(path)
    try:
        missing = []
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE '%VIRTUAL%'")]
        for table in tables:
            leading = {r[1] for r in conn.execute(f"PRAGMA table_info('{table}')") if r[5] == 1}
            for index in conn.execute(f"PRAGMA index_list('{table}')").fetchall():
                columns = [r[2] for r in conn.execute(f"PRAGMA index_info('{index[1]}')")]
                if columns:
                    leading.add(columns[0])
            for fk in conn.execute(f"PRAGMA foreign_key_list('{table}')").fetchall():
                if fk[1] == 0 and fk[3] not in leading:
                    missing.append((table, fk[3], fk[2]))
        return missing
    finally:
        conn.close()


async def test_every_user_foreign_key_is_indexed(db: Database, tmp_path: Path) -> None:
    missing = _fk_without_index(tmp_path / "people.sqlite3")
    of_users = [m for m in missing if m[2] == "users"]
    assert not of_users, of_users
