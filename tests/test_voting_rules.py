"""Prioritisation rules and storage invariants, without Telegram.

Property tests (hypothesis): whatever sequence of taps, in whatever interleaving, no voter
ever holds more stickers than the budget, stacking is refused when not allowed, and the tally
always equals the stickers stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.flows import voting as flow
from bot.flows.errors import STALE, Refused
from bot.flows.people import ONLY_COORDINATORS, Member
from bot.flows.voting_book import CLOSED, NOT_AVAILABLE, NOT_IN_VOTE, StickerBook
from bot.i18n import Translator
from storage import community as community_store
from storage import voting as store
from storage.db import Database
from storage.voting import Problem

# -- pure rules --------------------------------------------------------------------------------


def test_matrix_grid_is_the_seeds_grid() -> None:
    grid = [[flow.matrix_score(i, u) for u in (1, 2, 3)] for i in (1, 2, 3)]
    assert grid == [[1, 2, 3], [2, 3, 4], [3, 4, 5]]
    with pytest.raises(ValueError):
        flow.matrix_score(0, 4)


def _problems(n: int) -> list[Problem]:
    return [Problem(i, 1, i, f"p{i}", 0) for i in range(1, n + 1)]


def test_bradley_terry_orders_a_consistent_preference() -> None:
    # 1 beats 2 beats 3 beats 4, every time, several voters.
    results = [(a, b, a) for a in range(1, 5) for b in range(a + 1, 5)] * 5
    strength = flow.bradley_terry([1, 2, 3, 4], results)
    assert sorted(strength, key=strength.get, reverse=True) == [1, 2, 3, 4]
    assert abs(sum(strength.values()) - 1) < 1e-9


def test_bradley_terry_is_symmetric_for_ties_and_unknowns() -> None:
    strength = flow.bradley_terry([1, 2, 3], [(1, 2, None), (1, 2, None)])
    assert abs(strength[1] - strength[2]) < 1e-9 and abs(strength[2] - strength[3]) < 1e-9


def test_pairwise_outcome_reports_a_tie() -> None:
    outcome = flow.pairwise_outcome(_problems(2), [(1, 2, 1), (1, 2, 2)], voters=2)
    assert [s.rank for s in outcome.standings] == [1, 1] and len(outcome.winners) == 2


def test_next_pair_spreads_comparisons_evenly() -> None:
    ids = list(range(1, 9))
    counts: Counter[tuple[int, int]] = Counter()
    rng = random.Random(4)
    for _voter in range(40):
        done: set[tuple[int, int]] = set()
        for _ in range(flow.pairs_per_voter(len(ids))):
            pair = flow.next_pair(ids, counts, done, rng)
            assert pair is not None
            key = (min(pair), max(pair))
            assert key not in done
            done.add(key)
            counts[key] += 1
    per_problem = Counter()
    for (a, b), n in counts.items():
        per_problem[a] += n
        per_problem[b] += n
    assert max(counts.values()) - min(counts.values()) <= 1  # every pair about equally often
    assert max(per_problem.values()) - min(per_problem.values()) <= len(ids)


def test_sticker_outcome_ties_share_a_rank_and_offline_adds() -> None:
    problems = [Problem(1, 1, 1, "a", 2), Problem(2, 1, 2, "b", 0), Problem(3, 1, 3, "c", 0)]
    outcome = flow.sticker_outcome(problems, {1: 1, 2: 3, 3: 1}, voters=2)
    assert [(s.problem.id, s.rank, s.score) for s in outcome.standings] == [
        (1, 1, 3.0), (2, 1, 3.0), (3, 3, 1.0)
    ]
    online = flow.sticker_outcome(problems, {1: 1, 2: 3, 3: 1}, 2, include_offline=False)
    assert [p.id for p in online.winners] == [2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1. Lights\n2) Rubbish\n- Park", ["Lights", "2) Rubbish", "Park"]),
     ("• روشنایی\n• زباله", ["روشنایی", "زباله"])],
)
def test_parse_problems(text: str, expected: list[str]) -> None:
    assert flow.parse_problems(text) == expected


def test_parse_counts_and_deadlines() -> None:
    assert flow.parse_counts("۳\n0, 12", 3) == [3, 0, 12]
    for bad in ("1 2", "1 -2 3", "1 2 x"):
        with pytest.raises(Refused):
            flow.parse_counts(bad, 3)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    moment = flow.parse_deadline("2026-12-01 18:00", "Asia/Tehran", now)
    assert moment == datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    # Solar Hijri, in Persian digits: 1405-09-10 is 2026-12-01.
    assert flow.parse_deadline("۱۴۰۵-۰۹-۱۰ ۱۸:۰۰", "Asia/Tehran", now, lang="fa") == moment
    with pytest.raises(Refused):
        flow.parse_deadline("2026-11-01", "UTC", now)


# -- storage invariants under any sequence of taps ---------------------------------------------

taps = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 4), st.booleans()),  # voter, problem, remove
    max_size=40,
)


async def _community_of(db: Database, pid: int) -> int:
    vote = await store.get(db, pid)
    assert vote is not None
    return vote.community_id


async def _setup(db: Database, budget: int, stacking: bool) -> tuple[int, list[int], list[int]]:
    community = await community_store.create_community(
        db, name="Prop", default_language="en", timezone="UTC", created_by=None
    )
    voters = []
    for i in range(3):
        await community_store.upsert_user(db, 9000 + i, first_name=f"v{i}", last_name=None,
                                          username=None, language="en")
        await community_store.join(db, community.id, 9000 + i, role="resident",
                                   stakeholder_group="activist")
        voters.append(9000 + i)
    vote = await store.create(db, community.id, title="t", method="stickers",
                              problems=[f"p{i}" for i in range(5)], stickers=budget,
                              allow_stacking=stacking)
    problems = [p.id for p in await store.problems(db, vote.id)]
    return vote.id, voters, problems


async def _check(db: Database, pid: int, budget: int, stacking: bool) -> None:
    rows = await store.sticker_rows(db, pid)
    per_voter = Counter(user for user, _problem in rows)
    assert all(n <= budget for n in per_voter.values())
    if not stacking:
        assert len(set(rows)) == len(rows)
    tally = await store.sticker_tally(db, pid)
    assert tally == dict(Counter(problem for _user, problem in rows))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(budget=st.integers(1, 4), stacking=st.booleans(), sequence=taps,
       concurrent=st.booleans())
def test_budget_and_tally_hold_for_any_taps(budget: int, stacking: bool,
                                             sequence: list[tuple[int, int, bool]],
                                             concurrent: bool) -> None:
    async def run() -> None:
        with TemporaryDirectory() as folder:
            db = await Database.open(Path(folder) / "p.sqlite3")
            try:
                pid, voters, problems = await _setup(db, budget, stacking)
                community_id = await _community_of(db, pid)
                book = StickerBook(db)

                async def tap(voter: int, problem: int, remove: bool) -> None:
                    with contextlib.suppress(Refused):
                        await book.tap(pid, community_id, problems[problem], voters[voter],
                                       "activist", remove=remove)

                if concurrent:
                    await asyncio.gather(*(tap(*step) for step in sequence))
                else:
                    for step in sequence:
                        await tap(*step)
                await _check(db, pid, budget, stacking)
                # The book's memory agrees with the database.
                for voter in voters:
                    assert await book.mine(pid, voter) == await store.my_stickers(db, pid, voter)
                # Writes past the budget or stacked are refused by the database itself.
                for slot in range(1, budget + 2):
                    for problem_id in problems:
                        with contextlib.suppress(store.VoteRejected):
                            await store.insert_sticker(db, pid, voters[0], slot, problem_id,
                                                       None)
                await _check(db, pid, budget, stacking)
            finally:
                await db.close()

    asyncio.run(run())


def test_a_placement_costs_the_same_in_a_full_vote() -> None:
    """The database's own checks on a new sticker look at the voter's few stickers, never at
    every sticker on the problem: the no-stacking trigger once went through the problem_id
    index, so each placement scanned the problem's stickers and a 2,000-resident vote slowed
    down as it filled (migration 0004). Counted in SQLite VM steps, not in seconds."""
    with TemporaryDirectory() as folder:
        path = Path(folder) / "cost.sqlite3"

        async def prepare() -> tuple[int, list[int]]:
            db = await Database.open(path)
            try:
                pid, _voters, problems = await _setup(db, 3, False)
                return pid, problems
            finally:
                await db.close()

        pid, problems = asyncio.run(prepare())
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA foreign_keys=ON")
        insert = ("INSERT INTO stickers (prioritisation_id, user_id, slot, problem_id,"
                  " stakeholder_group, placed_at) VALUES (?, ?, 1, ?, NULL, '2026')")
        voters = range(20_000, 22_001)
        conn.executemany(
            "INSERT INTO users (id, language, created_at, updated_at) VALUES (?, 'en', '', '')",
            [(v,) for v in voters])

        def steps(voter: int) -> int:
            count = 0

            def tick() -> int:
                nonlocal count
                count += 1
                return 0

            conn.set_progress_handler(tick, 1)
            conn.execute(insert, (pid, voter, problems[0]))
            conn.set_progress_handler(None, 1)
            return count

        empty = steps(voters[0])
        conn.executemany(insert, [(pid, v, problems[0]) for v in voters[1:-1]])
        full = steps(voters[-1])
        conn.close()
        assert full < empty * 1.5, (empty, full)


# -- who may do what (bot/flows/voting.py), without Telegram -----------------------------------


async def _member(db: Database, community_id: int, user_id: int, role: str) -> Member:
    await community_store.upsert_user(db, user_id, first_name=f"u{user_id}", last_name=None,
                                      username=None, language="en")
    await community_store.join(db, community_id, user_id, role=role,
                               stakeholder_group="activist")
    community = await community_store.get_community(db, community_id)
    user = await community_store.get_user(db, user_id)
    membership = await community_store.get_membership(db, community_id, user_id)
    assert community is not None and user is not None and membership is not None
    return Member(user, community, membership, Translator("en"), False)


def _refusal(error: pytest.ExceptionInfo[Refused]) -> str:
    return error.value.message


def test_flows_check_scope_permission_and_preconditions() -> None:
    async def run() -> None:
        with TemporaryDirectory() as folder:
            db = await Database.open(Path(folder) / "rules.sqlite3")
            try:
                pid, _voters, problems = await _setup(db, 3, False)
                home = await _community_of(db, pid)
                away = (await community_store.create_community(
                    db, name="Away", default_language="en", timezone="UTC",
                    created_by=None)).id
                resident = await _member(db, home, 9100, "resident")
                coordinator = await _member(db, home, 9101, "coordinator")
                outsider = await _member(db, away, 9102, "coordinator")
                book = StickerBook(db)

                # Opening a vote: coordinators only, in their own community, checked again.
                async def create(who: Member, community_id: int = home, *,
                                 closes_at: datetime | None = None,
                                 problems: tuple[str, ...] = ("a", "b")) -> int:
                    return (await flow.create(db, who, community_id=community_id, title="T",
                                              method="pairwise", problems=list(problems),
                                              closes_at=closes_at)).id

                with pytest.raises(Refused) as refused:
                    await create(resident)
                assert _refusal(refused) == ONLY_COORDINATORS
                with pytest.raises(Refused) as refused:
                    await create(coordinator, away)
                assert _refusal(refused) == STALE
                with pytest.raises(Refused) as refused:
                    await create(coordinator, closes_at=datetime(2020, 1, 1, tzinfo=UTC))
                assert _refusal(refused) == flow.PASSED
                with pytest.raises(Refused):
                    await create(coordinator, problems=("a", "A"))
                pairwise_id = await create(coordinator)
                pairwise = await store.get(db, pairwise_id)
                assert pairwise is not None

                # Scope: another community's vote is refused like a missing one.
                for vote_id in (pid, 10**12):
                    with pytest.raises(Refused) as refused:
                        await flow.ballot(db, outsider, vote_id)
                    assert _refusal(refused) == NOT_AVAILABLE
                with pytest.raises(Refused) as refused:
                    await flow.place_sticker(book, outsider, pid, problems[0])
                assert _refusal(refused) == NOT_AVAILABLE
                # A button of one method on a vote of another.
                with pytest.raises(Refused) as refused:
                    await flow.place_sticker(book, resident, pairwise.id, problems[0])
                assert _refusal(refused) == NOT_AVAILABLE
                a, b = (p.position for p in await store.problems(db, pairwise.id))
                a_id, b_id = (p.id for p in await store.problems(db, pairwise.id))
                with pytest.raises(Refused) as refused:
                    await flow.rate(db, resident, pairwise.id, a, "importance", 3)
                assert _refusal(refused) == NOT_AVAILABLE
                with pytest.raises(Refused) as refused:
                    await flow.compare(db, resident, pairwise.id, a, a, "a")
                assert _refusal(refused) == NOT_AVAILABLE
                with pytest.raises(Refused) as refused:
                    await flow.compare(db, resident, pairwise.id, a, 60, "a")
                assert _refusal(refused) == NOT_IN_VOTE
                await flow.compare(db, resident, pairwise.id, a, b, "b")
                assert await store.comparisons(db, pairwise.id) == [(a_id, b_id, b_id)]

                # Results: residents see a vote's once it has closed, coordinators at once.
                with pytest.raises(Refused) as refused:
                    await flow.results_of(db, resident, pairwise.id)
                assert _refusal(refused) == flow.HIDDEN_UNTIL_CLOSED
                assert (await flow.results_of(db, coordinator, pairwise.id)).outcome.voters == 1

                # Closing: a coordinator of the vote's community, once.
                with pytest.raises(Refused) as refused:
                    await flow.close(db, resident, pairwise.id, book)
                assert _refusal(refused) == ONLY_COORDINATORS
                with pytest.raises(Refused) as refused:
                    await flow.close(db, outsider, pairwise.id, book)
                assert _refusal(refused) == NOT_AVAILABLE
                assert not (await flow.close(db, coordinator, pairwise.id, book)).is_open
                with pytest.raises(Refused) as refused:
                    await flow.close(db, coordinator, pairwise.id, book)
                assert _refusal(refused) == CLOSED
                with pytest.raises(Refused) as refused:
                    await flow.compare(db, resident, pairwise.id, a, b, "a")
                assert _refusal(refused) == CLOSED
                assert (await flow.results_of(db, resident, pairwise.id)).outcome.voters == 1

                # Paper stickers: a coordinator, a sticker vote, one count per problem.
                with pytest.raises(Refused) as refused:
                    await flow.set_paper(db, resident, pid, [1] * 5)
                assert _refusal(refused) == ONLY_COORDINATORS
                with pytest.raises(Refused):
                    await flow.set_paper(db, coordinator, pid, [1] * 4)
                with pytest.raises(Refused) as refused:
                    await flow.set_paper(db, coordinator, pairwise.id, [1, 1])
                assert _refusal(refused) == NOT_AVAILABLE
                assert (await flow.set_paper(db, coordinator, pid, [1, 0, 2, 0, 0]))[1] == 3
                assert [p.id for p in await flow.paper_votes(db, coordinator)] == [pid]
            finally:
                await db.close()

    asyncio.run(run())
