"""Sticker votes and digests at city scale (issue 17), without Telegram and without timing.

- The heaviest queries (tally, participation, participants, digest changes, the voting part
  of /mydata and /forgetme) are read from ``EXPLAIN QUERY PLAN``: no full scan of a table
  that grows with members, and no temporary B-tree built over one.
- The counts the triggers of ``0017_scale.sql`` keep always equal a recount from the
  stickers: after placements, take-backs, a reopened vote, a forgotten voter, a voter whose
  group changed, and the migration's backfill of stickers placed before it.
- The sticker book, bounded to a few voters, still never lets a voter exceed the budget and
  agrees with the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.flows import voting as flow
from bot.flows.errors import Refused
from bot.flows.voting_book import StickerBook
from storage import community as community_store
from storage import digest as digest_store
from storage import voting as store
from storage.db import Database, utcnow

GROWING = ("stickers", "memberships", "users", "sticker_voters")
GROUPS = ("activist", "business", None)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "scale.sqlite3")
    try:
        yield database
    finally:
        await database.close()


async def _people(db: Database, community_id: int, first: int, n: int) -> list[int]:
    ids = []
    for i in range(n):
        uid = first + i
        await community_store.upsert_user(db, uid, first_name=f"R{uid}", last_name=None,
                                          username=None, language="en")
        await community_store.join(db, community_id, uid, role="resident",
                                   stakeholder_group=GROUPS[i % 2])
        ids.append(uid)
    return ids


async def _vote(db: Database, *, budget: int = 3, stacking: bool = False, n: int = 4,
                ) -> tuple[int, int, list[int], list[int]]:
    community = await community_store.create_community(
        db, name="City", default_language="en", timezone="UTC", created_by=None)
    voters = await _people(db, community.id, 9000, 6)
    vote = await store.create(db, community.id, title="t", method="stickers",
                              problems=[f"p{i}" for i in range(n)], stickers=budget,
                              allow_stacking=stacking)
    problems = [p.id for p in await store.problems(db, vote.id)]
    return community.id, vote.id, voters, problems


# -- query plans -------------------------------------------------------------------------------


class _Recorder:
    """Every statement a storage call sends through the Database, with its parameters."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statements: list[tuple[str, Any]] = []
        for name in ("fetchall", "fetchone", "execute", "execute_rowcount"):
            original = getattr(db, name)

            def spy(sql: str, params: Any = (), *, _original: Any = original) -> Any:
                self.statements.append((sql, params))
                return _original(sql, params)

            monkeypatch.setattr(db, name, spy)


async def _plans(db: Database, statements: list[tuple[str, Any]],
                 ) -> list[tuple[str, list[tuple[int, int, str]]]]:
    found = []
    for sql, params in statements:
        rows = await db.fetchall("EXPLAIN QUERY PLAN " + sql, params)
        found.append((sql, [(r[0], r[1], r[3]) for r in rows]))
    return found


def _touches(detail: str) -> str | None:
    words = detail.split()
    if len(words) >= 2 and words[0] in ("SCAN", "SEARCH") and words[1] in GROWING:
        return words[1]
    return None


def _assert_no_full_scan(plans: list[tuple[str, list[tuple[int, int, str]]]]) -> None:
    for sql, rows in plans:
        for node, parent, detail in rows:
            table = _touches(detail)
            assert not (detail.startswith("SCAN") and table), (detail, sql)
            if "TEMP B-TREE" in detail:
                # A temporary B-tree is fine over a few rows (a subquery's handful of groups),
                # not beside a read of a table that grows with members.
                siblings = [d for n, p, d in rows if p == parent and n != node]
                assert not any(_touches(d) for d in siblings), (detail, sql)


async def _recorded(db: Database, monkeypatch: pytest.MonkeyPatch,
                    call: Callable[[], Awaitable[Any]]) -> list[tuple[str, Any]]:
    recorder = _Recorder(db, monkeypatch)
    await call()
    monkeypatch.undo()
    assert recorder.statements
    return recorder.statements


async def test_tally_participation_and_participants_read_no_sticker_scan(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _community_id, pid, voters, problems = await _vote(db)
    await store.write_stickers(db, [store.StickerWrite(pid, v, 1, problems[0], "activist")
                                    for v in voters])
    vote = await store.get(db, pid)
    assert vote is not None
    for call in (lambda: store.sticker_tally(db, pid),
                 lambda: store.participation_by_group(db, vote),
                 lambda: store.participants(db, vote),
                 lambda: store.voter_count(db, vote),
                 lambda: flow.outcome(db, vote)):
        statements = await _recorded(db, monkeypatch, call)
        _assert_no_full_scan(await _plans(db, statements))
        assert not any("FROM stickers" in sql for sql, _ in statements), statements


async def test_digest_changes_read_no_scan_of_members_or_stickers(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    community_id, pid, voters, problems = await _vote(db)
    await store.write_stickers(db, [store.StickerWrite(pid, v, 1, problems[1], "activist")
                                    for v in voters])
    since = utcnow() - timedelta(days=7)
    statements = await _recorded(db, monkeypatch,
                                 lambda: digest_store.changes(db, community_id, 1, since))
    plans = await _plans(db, statements)
    _assert_no_full_scan(plans)
    text = " ".join(sql for sql, _ in statements)
    assert "FROM stickers" not in text and "JOIN stickers" not in text
    changes = await digest_store.changes(db, community_id, 1, since)
    standing = next(c for c in changes if c.kind == "vote_standing")
    assert (standing.detail, standing.count) == ("p1", len(voters))
    joined = {c.name: c.count for c in changes if c.kind == "new_members"}
    assert joined == {"activist": 3, "business": 3}


async def test_digest_leader_counts_paper_stickers_and_ties_by_position(db: Database) -> None:
    community_id, pid, voters, problems = await _vote(db)
    await store.write_stickers(db, [store.StickerWrite(pid, voters[0], 1, problems[2], None),
                                    store.StickerWrite(pid, voters[1], 1, problems[3], None)])
    changes = await digest_store.changes(db, community_id, 1, utcnow() - timedelta(days=1))
    assert next(c for c in changes if c.kind == "vote_standing").detail == "p2"
    await store.set_offline(db, pid, {problems[0]: 2})
    changes = await digest_store.changes(db, community_id, 1, utcnow() - timedelta(days=1))
    assert next(c for c in changes if c.kind == "vote_standing").detail == "p0"


async def test_personal_data_and_forgetting_find_stickers_by_user(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _community_id, pid, voters, problems = await _vote(db)
    await store.write_stickers(db, [store.StickerWrite(pid, voters[0], 1, problems[0], None)])
    statements = await _recorded(db, monkeypatch,
                                 lambda: store._personal(db, voters[0]))
    _assert_no_full_scan(await _plans(db, statements))
    # /forgetme deletes the user; ON DELETE SET NULL then looks up each voting table by its
    # user column (these are the statements SQLite runs for it), and the counting triggers
    # find the voter's counts by key.
    forget = [(f"UPDATE {table} SET user_id = NULL WHERE user_id = ?", (voters[0],))
              for table in ("stickers", "comparisons", "ratings")]
    forget.append(("UPDATE prioritisations SET created_by = NULL WHERE created_by = ?",
                   (voters[0],)))
    triggers = [
        ("SELECT 1 FROM sticker_voters WHERE prioritisation_id = ? AND user_id = ?"
         " AND stakeholder_group IS ?", (pid, voters[0], None)),
        ("UPDATE sticker_voters SET stickers = stickers - 1 WHERE prioritisation_id = ?"
         " AND user_id = ? AND stakeholder_group IS ?", (pid, voters[0], None)),
        ("UPDATE sticker_groups SET voters = voters + 1 WHERE prioritisation_id = ?"
         " AND stakeholder_group IS ?", (pid, None)),
    ]
    plans = await _plans(db, forget + triggers)
    _assert_no_full_scan(plans)
    for sql, rows in plans:
        assert any(d.startswith("SEARCH") for _n, _p, d in rows), (sql, rows)


# -- kept counts equal a recount ---------------------------------------------------------------


async def _agree(db: Database, pid: int) -> None:
    assert await store.kept_counts(db, pid) == await store.recount(db, pid)
    vote = await store.get(db, pid)
    assert vote is not None
    kept = await store.recount(db, pid)
    assert await store.sticker_tally(db, pid) == kept["tally"]
    assert await store.participation_by_group(db, vote) == kept["groups"]
    assert await store.voter_count(db, vote) == kept["total"]
    assert await store.participants(db, vote) == sorted({u for u, _g in kept["voters"]})


async def test_counts_follow_placements_take_backs_reopening_and_forgetting(
        db: Database) -> None:
    _community_id, pid, voters, problems = await _vote(db, budget=3)
    rng = random.Random(17)
    held: dict[int, dict[int, int]] = {v: {} for v in voters}
    for _round in range(120):
        voter = rng.choice(voters)
        mine = held[voter]
        group = rng.choice(GROUPS)  # the group recorded may change between placements
        if mine and rng.random() < 0.4:
            slot = rng.choice(list(mine))
            [refused] = await store.write_stickers(
                db, [store.StickerWrite(pid, voter, slot, None)])
            assert refused is None
            del mine[slot]
        else:
            free = [s for s in (1, 2, 3) if s not in mine]
            if not free:
                continue
            problem = rng.choice(problems)
            [refused] = await store.write_stickers(
                db, [store.StickerWrite(pid, voter, free[0], problem, group)])
            if refused is None:
                mine[free[0]] = problem
        await _agree(db, pid)
    # Refused writes (budget, stacking) change no count.
    full = next(v for v in voters if held[v])
    outcomes = await store.write_stickers(db, [
        store.StickerWrite(pid, full, 4, problems[0], None),
        store.StickerWrite(pid, full, next(iter(held[full])), problems[0], None)])
    assert all(o is not None for o in outcomes)
    await _agree(db, pid)
    # Closed, then reopened: the counts were never touched; voting goes on from there.
    assert await store.close(db, pid, reopen_until=utcnow() + timedelta(minutes=5))
    assert await store.write_stickers(db, [store.StickerWrite(pid, voters[0], 3,
                                                              problems[3], None)]) != [None]
    await _agree(db, pid)
    assert await store.reopen(db, pid)
    for voter in voters:
        for slot in list(held[voter]):
            await store.write_stickers(db, [store.StickerWrite(pid, voter, slot, None)])
            del held[voter][slot]
            break
    await _agree(db, pid)
    # A voter forgotten (/forgetme): their stickers still count, each as one voter of its
    # group, as participation counted them before; they are no longer a known voter.
    forgotten = [v for v in voters if held[v]][:2]
    for voter in forgotten:
        await community_store.delete_user(db, voter)
        await _agree(db, pid)
    vote = await store.get(db, pid)
    assert vote is not None
    assert not set(forgotten) & set(await store.participants(db, vote))
    assert sum((await store.sticker_tally(db, pid)).values()) == sum(
        len(m) for m in held.values())


async def test_counts_follow_a_stacking_vote_and_the_book(db: Database) -> None:
    community_id, pid, voters, problems = await _vote(db, budget=4, stacking=True)
    book = StickerBook(db)
    book.max_voters = 2
    steps = [(v, p, r) for v in voters for p in (0, 0, 1, 2, 0) for r in (False, False, True)]
    random.Random(3).shuffle(steps)
    for voter, problem, remove in steps:
        with contextlib.suppress(Refused):
            await book.tap(pid, community_id, problems[problem], voter, "activist",
                           remove=remove)
    await _agree(db, pid)


async def test_migration_backfills_counts_from_existing_stickers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    every = Database.migrations
    monkeypatch.setattr(Database, "migrations",
                        staticmethod(lambda: [m for m in every() if m[0] != 17]))
    db = await Database.open(tmp_path / "old.sqlite3")
    try:
        _community_id, pid, voters, problems = await _vote(db, budget=2)
        _c, other, _v, other_problems = await _vote(db, budget=1)
        writes = [store.StickerWrite(pid, v, s, problems[(i + s) % 4], GROUPS[i % 3])
                  for i, v in enumerate(voters) for s in (1, 2)]
        writes.append(store.StickerWrite(other, voters[0], 1, other_problems[0], None))
        assert await store.write_stickers(db, writes) == [None] * len(writes)
        await community_store.delete_user(db, voters[1])  # an anonymous voter before 0017
        monkeypatch.undo()
        assert 17 in await db.migrate()
        for vote in (pid, other):
            await _agree(db, vote)
        assert (await store.kept_counts(db, pid))["total"] == len(voters) - 1
        assert sum((await store.participation_by_group(
            db, await _get(db, pid))).values()) == (len(voters) - 1) + 2
    finally:
        await db.close()


async def _get(db: Database, pid: int) -> store.Prioritisation:
    vote = await store.get(db, pid)
    assert vote is not None
    return vote


# -- the bounded sticker book ------------------------------------------------------------------

taps = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.booleans()),
                min_size=1, max_size=40)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(budget=st.integers(1, 3), stacking=st.booleans(), sequence=taps,
       bound=st.integers(1, 3))
def test_a_bounded_book_keeps_the_budget_under_simultaneous_first_taps(
        budget: int, stacking: bool, sequence: list[tuple[int, int, bool]],
        bound: int) -> None:
    async def run() -> None:
        with TemporaryDirectory() as folder:
            db = await Database.open(Path(folder) / "b.sqlite3")
            try:
                community_id, pid, voters, problems = await _vote(db, budget=budget,
                                                                  stacking=stacking)
                book = StickerBook(db)  # a restart: nothing loaded
                book.max_voters = bound

                async def tap(voter: int, problem: int, remove: bool) -> None:
                    with contextlib.suppress(Refused):
                        await book.tap(pid, community_id, problems[problem], voters[voter],
                                       "activist", remove=remove)

                await asyncio.gather(*(tap(*step) for step in sequence))
                for voter in voters:
                    assert sum((await store.my_stickers(db, pid, voter)).values()) <= budget
                    assert await book.mine(pid, voter) == await store.my_stickers(
                        db, pid, voter)
                vote = book._votes.get(pid)
                assert vote is None or len(vote.stickers) <= max(bound, 1)
                await _agree(db, pid)
            finally:
                await db.close()

    asyncio.run(run())


async def test_voted_condition_finds_members_who_have_not_voted_by_index(
        db: Database) -> None:
    community_id, pid, voters, problems = await _vote(db)
    await store.write_stickers(db, [store.StickerWrite(pid, voters[0], 1, problems[0], None)])
    vote = await _get(db, pid)
    condition, params = store.voted_sql(vote, "m.user_id")
    sql = (f"SELECT m.user_id FROM memberships m WHERE m.community_id = ? AND NOT {condition}"
           " ORDER BY m.user_id")
    rows = await db.fetchall(sql, (community_id, *params))
    assert [r[0] for r in rows] == voters[1:]
    plans = await _plans(db, [(sql, (community_id, *params))])
    assert any("SEARCH sticker_voters" in d for _n, _p, d in plans[0][1]), plans
