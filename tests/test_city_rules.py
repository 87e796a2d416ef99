"""City rules without Telegram: the tree's outline and its cycle check, the merged list's
support (each community once per merged problem, summed across communities, undo restores
it), and a parent's vote whose tally matches the stickers whatever the taps
(property tests with hypothesis)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.flows import city as flow
from bot.flows.city import Entry, combine, layout, would_cycle
from storage import city as store
from storage import community as community_store
from storage.city import MergedProblem, Support
from storage.community import Community
from storage.db import Database

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _community(community_id: int, name: str) -> Community:
    return Community(community_id, name, "en", "UTC", None, NOW)


# -- the tree --------------------------------------------------------------------------------

trees = st.lists(st.integers(0, 11), min_size=1, max_size=12).map(
    # community i+1's parent is one of the communities before it (0: none): always a forest
    lambda picks: {i + 1: p for i, p in enumerate(picks) if 0 < p <= i})


@given(parents=trees)
def test_the_outline_shows_every_community_once_under_its_parent(parents: dict[int, int],
                                                                 ) -> None:
    everyone = [_community(i, f"c{(i * 7) % 13:02d}") for i in range(1, 13)]
    outline = layout(everyone, parents)
    assert sorted(b.community.id for b in outline) == list(range(1, 13))
    depth = {b.community.id: b.depth for b in outline}
    place = {b.community.id: n for n, b in enumerate(outline)}
    for child, parent in parents.items():
        assert depth[child] == depth[parent] + 1
        assert place[parent] < place[child]


@given(parents=trees, child=st.integers(1, 12), parent=st.integers(1, 12))
def test_a_cycle_is_seen_whatever_the_tree(parents: dict[int, int], child: int,
                                           parent: int) -> None:
    up, cursor = set(), parent
    while True:  # the new parent and everything above it
        up.add(cursor)
        if cursor not in parents:
            break
        cursor = parents[cursor]
    assert would_cycle(parents, child, parent) == (child in up)


# -- the merged list -------------------------------------------------------------------------


def _problem(pid: int, into: int | None = None) -> MergedProblem:
    return MergedProblem(pid, 1, f"p{pid}", "merged" if into else "visible", into)


def _support(pid: int, source: int, score: float, vote: int | None = None) -> Support:
    return Support(pid, source, vote if vote is not None else 100 + source, pid, "stickers",
                   score, 1)


def test_a_community_backs_a_merged_problem_once_and_communities_add_up() -> None:
    problems = [_problem(1), _problem(2, 1), _problem(3, 1), _problem(4)]
    supports = [_support(1, 10, 3), _support(2, 11, 2), _support(3, 11, 1),
                _support(4, 12, 2)]
    current = {10: 110, 11: 111, 12: 112}
    first, second = combine(problems, supports, current)
    assert (first.problem.id, first.by_source, first.total) == (1, {10: 3, 11: 2}, 5)
    assert [p.id for p in first.folded] == [2, 3]
    assert (second.problem.id, second.total) == (4, 2)
    # A community that voted again: its older vote no longer counts.
    assert [(e.problem.id, e.total) for e in combine(problems, supports,
                                                     {10: 110, 11: 999, 12: 112})] == [
        (1, 3), (4, 2)]


scores = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 9)), min_size=2, max_size=10)


@settings(max_examples=200)
@given(rows=scores, merges=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)),
                                    max_size=12))
def test_merging_never_counts_a_community_twice_and_undo_restores(
        rows: list[tuple[int, int]], merges: list[tuple[int, int]]) -> None:
    """Problem i comes from community rows[i][0] with score rows[i][1]; merges fold one
    visible problem into another, in any order (merges of merges too)."""
    ids = list(range(1, len(rows) + 1))
    supports = [_support(pid, source, score) for pid, (source, score) in zip(ids, rows,
                                                                              strict=True)]
    current = {source: 100 + source for source, _ in rows}
    into: dict[int, int] = {}
    history: list[list[Entry]] = []
    for a, b in merges:
        problem, target = ids[a % len(ids)], ids[b % len(ids)]
        if problem == target or problem in into or target in into:
            continue  # only visible problems merge, never into themselves
        history.append(combine([_problem(p, into.get(p)) for p in ids], supports, current))
        into[problem] = target
    entries = combine([_problem(p, into.get(p)) for p in ids], supports, current)

    def root(pid: int) -> int:
        while pid in into:
            pid = into[pid]
        return pid

    for entry in entries:
        members = [p for p in ids if root(p) == entry.problem.id]
        expected: dict[int, float] = {}
        for p in members:
            source, score = rows[p - 1]
            expected[source] = max(expected.get(source, 0), score)
        assert entry.by_source == expected  # each community once, at its largest score
        assert entry.total == sum(expected.values())
    assert sorted(e.problem.id for e in entries) == sorted({root(p) for p in ids})
    assert [e.total for e in entries] == sorted((e.total for e in entries), reverse=True)
    # Undoing the merges one by one, latest first, gives back each earlier list.
    for before, problem in zip(reversed(history), reversed(list(into)), strict=True):
        del into[problem]
        assert combine([_problem(p, into.get(p)) for p in ids], supports, current) == before


# -- a parent's vote -------------------------------------------------------------------------

taps = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 5)), max_size=40)


async def _vote_world(db: Database, stickers: int) -> tuple[store.CityVote, list[int],
                                                          list[store.Item]]:
    parent = await community_store.create_community(db, name="City", default_language="en",
                                                    timezone="UTC", created_by=None)
    voters = []
    for i in range(4):
        await community_store.upsert_user(db, 7000 + i, first_name=f"v{i}", last_name=None,
                                          username=None, language="en")
        await community_store.join(db, parent.id, 7000 + i, role="resident",
                                   stakeholder_group="activist")
        voters.append(7000 + i)
    vote = await store.open_vote(db, parent.id, "below", stickers,
                                 [(None, f"p{i}", 0) for i in range(1, 6)], voters[0])
    assert vote is not None
    return vote, voters, await store.items(db, vote.id)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stickers=st.integers(1, 3), sequence=taps, concurrent=st.booleans())
def test_the_tally_is_the_stickers_whatever_the_taps(stickers: int,
                                                    sequence: list[tuple[int, int]],
                                                    concurrent: bool) -> None:
    async def run() -> None:
        with TemporaryDirectory() as folder:
            db = await Database.open(Path(folder) / "c.sqlite3")
            try:
                vote, voters, items = await _vote_world(db, stickers)
                expected: dict[int, set[int]] = {v: set() for v in voters}

                async def tap(voter: int, position: int) -> None:
                    item = items[position - 1]
                    with contextlib.suppress(store.StickerRejected):
                        placed = await store.toggle_sticker(db, vote, item, voters[voter],
                                                            from_community=vote.community_id,
                                                            group=None)
                        mine = expected[voters[voter]]
                        (mine.add if placed else mine.discard)(item.id)

                if concurrent:
                    await asyncio.gather(*(tap(*step) for step in sequence))
                else:
                    for step in sequence:
                        await tap(*step)
                rows = await store.sticker_rows(db, vote.id)
                assert all(n <= stickers for n in Counter(u for u, _i in rows).values())
                assert len(set(rows)) == len(rows)  # one sticker per problem and voter
                assert {(u, i) for u, i in rows} == {(v, i) for v, mine in expected.items()
                                                     for i in mine}
                result = await flow.city_result(db, vote)
                independent = Counter(i for _u, i in rows)
                assert {s.problem.id: int(s.score) for s in result.outcome.standings} == {
                    item.id: independent.get(item.id, 0) for item in items}
                # Once closed, nothing is placed or taken back, whatever writes it.
                assert await store.close_vote(db, vote.id)
                for voter in voters:
                    for item in items:
                        with contextlib.suppress(store.StickerRejected):
                            await store.toggle_sticker(db, vote, item, voter,
                                                       from_community=vote.community_id,
                                                       group=None)
                assert await store.sticker_rows(db, vote.id) == rows
            finally:
                await db.close()

    asyncio.run(run())
