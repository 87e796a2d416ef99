"""Cities: the tree of communities, merged problems with their per-community support, votes
at a parent's level, and submissions up the chain with their history. SQL only.

The tree is ``community_parents`` (``0019_cycle_city.sql``): its triggers refuse a cycle whatever
writes it. Everything else is scoped by the community it belongs to — the parent whose list,
vote or inbox it is — and the flows check that scope before anything is read or written.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from storage import personal
from storage.community import Community, User, community_of, user_of
from storage.db import Database, from_db, to_db, utcnow


class TreeRejected(Exception):
    """The schema refused a parent: it would make a cycle."""


class StickerRejected(Exception):
    """The schema refused a sticker (budget, one per problem, closed): nothing was stored."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "budget", "stacking", "closed"


# -- the tree ------------------------------------------------------------------------------


async def parents(db: Database) -> dict[int, int]:
    """Every community that has a parent → its parent (the whole tree, for the admin's view
    and its cycle check)."""
    rows = await db.fetchall("SELECT community_id, parent_id FROM community_parents")
    return {r["community_id"]: r["parent_id"] for r in rows}


async def parent_of(db: Database, community_id: int) -> int | None:
    value = await db.fetchval("SELECT parent_id FROM community_parents WHERE community_id = ?",
                              (community_id,))
    return None if value is None else int(value)


async def set_parent(db: Database, community_id: int, parent_id: int | None,
                     by: int | None) -> None:
    """Put a community under ``parent_id`` (None: at the top). TreeRejected on a cycle."""
    try:
        if parent_id is None:
            await db.execute("DELETE FROM community_parents WHERE community_id = ?",
                             (community_id,))
            return
        await db.execute(
            "INSERT INTO community_parents (community_id, parent_id, set_by, set_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (community_id) DO UPDATE SET"
            " parent_id = excluded.parent_id, set_by = excluded.set_by,"
            " set_at = excluded.set_at",
            (community_id, parent_id, by, to_db(utcnow())))
    except sqlite3.IntegrityError as error:
        raise TreeRejected(str(error)) from None


_BELOW = (
    "WITH RECURSIVE below(id, depth) AS ("
    " SELECT community_id, 1 FROM community_parents WHERE parent_id = ?"
    " UNION SELECT p.community_id, below.depth + 1 FROM community_parents p"
    " JOIN below ON p.parent_id = below.id)"
)


async def descendants(db: Database, community_id: int) -> list[int]:
    """Every community below this one, at any depth (not the community itself)."""
    rows = await db.fetchall(_BELOW + " SELECT id FROM below ORDER BY depth, id",
                             (community_id,))
    return [r["id"] for r in rows]


async def ancestors(db: Database, community_id: int) -> list[int]:
    """The parent, its parent, … up to the top (nearest first)."""
    rows = await db.fetchall(
        "WITH RECURSIVE up(id, depth) AS ("
        " SELECT parent_id, 1 FROM community_parents WHERE community_id = ?"
        " UNION SELECT p.parent_id, up.depth + 1 FROM community_parents p"
        " JOIN up ON p.community_id = up.id)"
        " SELECT id FROM up ORDER BY depth", (community_id,))
    return [r["id"] for r in rows]


async def children(db: Database, community_id: int) -> list[Community]:
    rows = await db.fetchall(
        "SELECT c.* FROM community_parents p JOIN communities c ON c.id = p.community_id"
        " WHERE p.parent_id = ? ORDER BY c.name, c.id", (community_id,))
    return [community_of(r) for r in rows]


async def communities(db: Database, ids: list[int]) -> dict[int, Community]:
    rows = await db.fetchall(
        "SELECT * FROM communities WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),))
    return {r["id"]: community_of(r) for r in rows}


async def people_in(db: Database, community_ids: list[int], *,
                    roles: tuple[str, ...] | None = None, reachable: bool = False,
                    ) -> list[tuple[int, User]]:
    """Members of several communities, each person once: (the first of ``community_ids``
    they belong to, user), in that order. One query, deduplicated by SQLite, so a city's
    hundred thousand members cost one pass (``bench/city.py``)."""
    sql = ("SELECT u.*, m.community_id AS told_in, MIN(CAST(j.key AS INTEGER)) AS place"
           " FROM json_each(?) j JOIN memberships m ON m.community_id = j.value"
           " JOIN users u ON u.id = m.user_id")
    params: list[Any] = [json.dumps(community_ids)]
    where = []
    if roles:
        where.append("m.role IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(roles)))
    if reachable:
        where.append("u.reachable = 1")
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = await db.fetchall(sql + " GROUP BY u.id ORDER BY place, u.id", params)
    return [(r["told_in"], user_of(r)) for r in rows]


# -- a community's figures -----------------------------------------------------------------


async def members_by_group(db: Database, community_id: int) -> dict[str | None, int]:
    rows = await db.fetchall(
        "SELECT stakeholder_group AS g, COUNT(*) AS n FROM memberships WHERE community_id = ?"
        " GROUP BY stakeholder_group", (community_id,))
    return {r["g"]: r["n"] for r in rows}


async def newest_closed_votes(db: Database, community_ids: list[int]) -> dict[int, int]:
    """Community → the id of its most recently closed priority vote (those with one). A vote
    closed by hand counts once it can no longer be reopened (issue 18's window)."""
    rows = await db.fetchall(
        "SELECT community_id, id FROM (SELECT community_id, id, ROW_NUMBER() OVER"
        " (PARTITION BY community_id ORDER BY closed_at DESC, id DESC) AS n"
        " FROM prioritisations WHERE status = 'closed'"
        " AND (reopen_until IS NULL OR reopen_until <= ?)"
        " AND community_id IN (SELECT value FROM json_each(?))) WHERE n = 1",
        (to_db(utcnow()), json.dumps(community_ids)))
    return {r["community_id"]: r["id"] for r in rows}


# -- the merged list -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergedProblem:
    id: int
    community_id: int
    title: str
    status: str
    merged_into: int | None


@dataclass(frozen=True, slots=True)
class Support:
    """One community's backing of a merged problem: a problem of its vote and its score."""

    problem_id: int
    source_id: int
    prioritisation_id: int
    vote_problem_id: int
    method: str
    score: float
    rank: int


@dataclass(frozen=True, slots=True)
class Gathered:
    """A problem of a community's vote, about to enter a parent's list."""

    source_id: int
    prioritisation_id: int
    vote_problem_id: int
    method: str
    title: str
    score: float
    rank: int


@dataclass(frozen=True, slots=True)
class Merge:
    id: int
    community_id: int
    problem_id: int
    into_id: int


def _problem(row: aiosqlite.Row) -> MergedProblem:
    return MergedProblem(row["id"], row["community_id"], row["title"], row["status"],
                         row["merged_into"])


async def gather(db: Database, community_id: int, found: list[Gathered]) -> int:
    """Add the problems not yet in the parent's list, each with its support; returns how
    many were added (a problem already gathered is left as it is). Two statements in one
    transaction, however many problems: a city's first gathering holds the database for
    milliseconds, not a statement per problem."""
    rows = json.dumps([{"source": g.source_id, "vote": g.prioritisation_id,
                        "problem": g.vote_problem_id, "method": g.method,
                        "title": g.title[:200], "score": g.score, "rank": g.rank}
                       for g in found], ensure_ascii=False)

    def field(name: str) -> str:
        return f"json_extract(j.value, '$.{name}')"

    fresh = (f" WHERE NOT EXISTS (SELECT 1 FROM city_support s WHERE s.community_id = ?"
             f" AND s.vote_problem_id = {field('problem')})")
    async with db.transaction():
        added = await db.execute_rowcount(
            "INSERT INTO city_problems (community_id, title, gathered_from, created_at)"
            f" SELECT ?, {field('title')}, {field('problem')}, ? FROM json_each(?) j" + fresh,
            (community_id, to_db(utcnow()), rows, community_id))
        # CROSS JOIN keeps json_each outside: each row finds its problem by the index.
        await db.execute(
            "INSERT INTO city_support (problem_id, community_id, source_id, prioritisation_id,"
            " vote_problem_id, method, score, rank)"
            f" SELECT p.id, ?, {field('source')}, {field('vote')}, {field('problem')},"
            f" {field('method')}, {field('score')}, {field('rank')}"
            " FROM json_each(?) j CROSS JOIN city_problems p ON p.community_id = ?"
            f" AND p.gathered_from = {field('problem')}" + fresh,
            (community_id, rows, community_id, community_id))
    return added


async def merged_problems(db: Database, community_id: int) -> list[MergedProblem]:
    rows = await db.fetchall("SELECT * FROM city_problems WHERE community_id = ? ORDER BY id",
                             (community_id,))
    return [_problem(r) for r in rows]


async def get_problem(db: Database, problem_id: int) -> MergedProblem | None:
    row = await db.fetchone("SELECT * FROM city_problems WHERE id = ?", (problem_id,))
    return None if row is None else _problem(row)


async def support(db: Database, community_id: int) -> list[Support]:
    rows = await db.fetchall(
        "SELECT * FROM city_support WHERE community_id = ? ORDER BY problem_id, source_id",
        (community_id,))
    return [Support(r["problem_id"], r["source_id"], r["prioritisation_id"],
                    r["vote_problem_id"], r["method"], r["score"], r["rank"]) for r in rows]


async def merge(db: Database, problem: MergedProblem, into: MergedProblem,
                actor_id: int) -> bool:
    """Fold ``problem`` into ``into`` and log it; False if either is no longer visible."""
    async with db.transaction():
        visible = await db.fetchval(
            "SELECT COUNT(*) FROM city_problems WHERE id IN (?, ?) AND status = 'visible'"
            " AND community_id = ?", (problem.id, into.id, problem.community_id))
        if visible != 2:
            return False
        await db.execute("UPDATE city_problems SET status = 'merged', merged_into = ?"
                         " WHERE id = ?", (into.id, problem.id))
        await db.execute(
            "INSERT INTO city_merges (community_id, problem_id, into_id, actor_id, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (problem.community_id, problem.id, into.id, actor_id, to_db(utcnow())))
    return True


async def last_merge(db: Database, community_id: int) -> Merge | None:
    row = await db.fetchone(
        "SELECT * FROM city_merges WHERE community_id = ? AND undone = 0"
        " ORDER BY id DESC LIMIT 1", (community_id,))
    return None if row is None else Merge(row["id"], row["community_id"], row["problem_id"],
                                          row["into_id"])


async def undo_merge(db: Database, merge: Merge) -> bool:
    """Put the merged problem back on the list (once)."""
    async with db.transaction():
        if not await db.execute_rowcount(
                "UPDATE city_merges SET undone = 1 WHERE id = ? AND undone = 0", (merge.id,)):
            return False
        await db.execute("UPDATE city_problems SET status = 'visible', merged_into = NULL"
                         " WHERE id = ?", (merge.problem_id,))
    return True


# -- votes at a parent's level ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CityVote:
    id: int
    community_id: int
    electorate: str  # "committee" or "below"
    stickers: int
    status: str
    created_at: datetime
    closed_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    vote_id: int
    position: int
    problem_id: int | None
    title: str
    support: float


def _vote(row: aiosqlite.Row) -> CityVote:
    return CityVote(row["id"], row["community_id"], row["electorate"], row["stickers"],
                    row["status"], from_db(row["created_at"]), from_db(row["closed_at"]))


async def open_vote(db: Database, community_id: int, electorate: str, stickers: int,
                    items: list[tuple[int | None, str, float]], created_by: int,
                    ) -> CityVote | None:
    """A vote over ``items`` (problem, title, support); None while another is open."""
    async with db.transaction():
        try:
            vote_id = await db.execute(
                "INSERT INTO city_votes (community_id, electorate, stickers, created_by,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (community_id, electorate, stickers, created_by, to_db(utcnow())))
        except sqlite3.IntegrityError:
            return None
        await db.executemany(
            "INSERT INTO city_vote_items (vote_id, position, problem_id, title, support)"
            " VALUES (?, ?, ?, ?, ?)",
            [(vote_id, n, problem_id, title[:200], weight)
             for n, (problem_id, title, weight) in enumerate(items, start=1)])
    return await get_vote(db, vote_id)


async def get_vote(db: Database, vote_id: int) -> CityVote | None:
    row = await db.fetchone("SELECT * FROM city_votes WHERE id = ?", (vote_id,))
    return None if row is None else _vote(row)


async def votes_of(db: Database, community_ids: list[int], *, status: str | None = None,
                   ) -> list[CityVote]:
    """The city votes held in these communities, newest first."""
    sql = "SELECT * FROM city_votes WHERE community_id IN (SELECT value FROM json_each(?))"
    params: list[Any] = [json.dumps(community_ids)]
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    return [_vote(r) for r in await db.fetchall(sql + " ORDER BY id DESC", params)]


async def items(db: Database, vote_id: int) -> list[Item]:
    rows = await db.fetchall("SELECT * FROM city_vote_items WHERE vote_id = ? ORDER BY position",
                             (vote_id,))
    return [Item(r["id"], r["vote_id"], r["position"], r["problem_id"], r["title"],
                 r["support"]) for r in rows]


async def close_vote(db: Database, vote_id: int) -> bool:
    """Close it; False when it was closed already (so the result is announced once)."""
    return await db.execute_rowcount(
        "UPDATE city_votes SET status = 'closed', closed_at = ? WHERE id = ? AND status = 'open'",
        (to_db(utcnow()), vote_id)) == 1


async def my_stickers(db: Database, vote_id: int, user_id: int) -> dict[int, int]:
    """Item → this voter's slot on it."""
    rows = await db.fetchall(
        "SELECT item_id, slot FROM city_stickers WHERE vote_id = ? AND user_id = ?",
        (vote_id, user_id))
    return {r["item_id"]: r["slot"] for r in rows}


async def toggle_sticker(db: Database, vote: CityVote, item: Item, user_id: int, *,
                         from_community: int, group: str | None) -> bool:
    """Place a sticker on ``item`` in the voter's first free slot, or take theirs back;
    True when it is now placed. StickerRejected when the schema refuses."""
    try:
        async with db.transaction():
            removed = await db.execute_rowcount(
                "DELETE FROM city_stickers WHERE vote_id = ? AND user_id = ? AND item_id = ?",
                (vote.id, user_id, item.id))
            if removed:
                return False
            used = {r["slot"] for r in await db.fetchall(
                "SELECT slot FROM city_stickers WHERE vote_id = ? AND user_id = ?",
                (vote.id, user_id))}
            slot = next((n for n in range(1, vote.stickers + 1) if n not in used),
                        vote.stickers + 1)
            await db.execute(
                "INSERT INTO city_stickers (vote_id, user_id, slot, item_id, from_community,"
                " stakeholder_group, placed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (vote.id, user_id, slot, item.id, from_community, group, to_db(utcnow())))
            return True
    except sqlite3.IntegrityError as error:
        text = str(error)
        reason = ("closed" if "closed" in text else "stacking" if "one sticker" in text
                  else "budget")
        raise StickerRejected(reason) from None


async def tally(db: Database, vote_id: int) -> dict[int, int]:
    """Item → stickers on it."""
    rows = await db.fetchall(
        "SELECT item_id, COUNT(*) AS n FROM city_stickers WHERE vote_id = ? GROUP BY item_id",
        (vote_id,))
    return {r["item_id"]: r["n"] for r in rows}


async def voters(db: Database, vote_id: int) -> set[int]:
    rows = await db.fetchall(
        "SELECT DISTINCT user_id FROM city_stickers WHERE vote_id = ? AND user_id IS NOT NULL",
        (vote_id,))
    return {r["user_id"] for r in rows}


async def voters_count(db: Database, vote_id: int) -> int:
    return int(await db.fetchval(
        "SELECT COUNT(DISTINCT COALESCE(user_id, -rowid)) FROM city_stickers WHERE vote_id = ?",
        (vote_id,)) or 0)


async def voters_by_community(db: Database, vote_id: int) -> dict[int | None, int]:
    """Voters per community they voted from (recorded when they voted)."""
    rows = await db.fetchall(
        "SELECT from_community AS c, COUNT(DISTINCT COALESCE(user_id, -rowid)) AS n"
        " FROM city_stickers WHERE vote_id = ? GROUP BY from_community", (vote_id,))
    return {r["c"]: r["n"] for r in rows}


async def sticker_rows(db: Database, vote_id: int) -> list[tuple[int | None, int]]:
    """(voter, item) of every sticker: what tests compare the tally with."""
    rows = await db.fetchall("SELECT user_id, item_id FROM city_stickers WHERE vote_id = ?",
                             (vote_id,))
    return [(r["user_id"], r["item_id"]) for r in rows]


# -- submissions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submission:
    id: int
    community_id: int
    parent_id: int
    kind: str  # "vote", "cityvote", "shortlist", "plan"
    ref_id: int
    origin_id: int | None
    title: str
    content: dict[str, Any]
    status: str  # "submitted", "returned", "approved"
    created_by: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    submission_id: int
    status: str
    comment: str | None
    by_id: int | None
    at: datetime


def _submission(row: aiosqlite.Row) -> Submission:
    return Submission(row["id"], row["community_id"], row["parent_id"], row["kind"],
                      row["ref_id"], row["origin_id"], row["title"], json.loads(row["content"]),
                      row["status"], row["created_by"], from_db(row["created_at"]),
                      from_db(row["updated_at"]))


def _event(row: aiosqlite.Row) -> Event:
    return Event(row["id"], row["submission_id"], row["status"], row["comment"], row["by_id"],
                 from_db(row["at"]))


async def submit(db: Database, community_id: int, parent_id: int, kind: str, ref_id: int, *,
                 origin_id: int | None, title: str, content: dict[str, Any], by: int,
                 ) -> tuple[Submission, Event] | None:
    """Submit (or, after a return, submit again with a fresh snapshot); None when it is
    already waiting or approved."""
    now = to_db(utcnow())
    body = json.dumps(content, ensure_ascii=False)
    async with db.transaction():
        existing = await db.fetchone(
            "SELECT * FROM city_submissions WHERE community_id = ? AND parent_id = ?"
            " AND kind = ? AND ref_id = ?", (community_id, parent_id, kind, ref_id))
        if existing is None:
            submission_id = await db.execute(
                "INSERT INTO city_submissions (community_id, parent_id, kind, ref_id, origin_id,"
                " title, content, status, created_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'submitted', ?, ?, ?)",
                (community_id, parent_id, kind, ref_id, origin_id, title[:500], body, by, now,
                 now))
        elif existing["status"] == "returned":
            submission_id = existing["id"]
            await db.execute(
                "UPDATE city_submissions SET status = 'submitted', title = ?, content = ?,"
                " updated_at = ? WHERE id = ?", (title[:500], body, now, submission_id))
        else:
            return None
        event_id = await db.execute(
            "INSERT INTO city_submission_events (submission_id, status, by_id, at)"
            " VALUES (?, 'submitted', ?, ?)", (submission_id, by, now))
        submission = await get_submission(db, submission_id)
        event = await get_event(db, event_id)
    assert submission is not None and event is not None
    return submission, event


async def decide(db: Database, submission_id: int, status: str, comment: str | None,
                 by: int) -> tuple[Submission, Event] | None:
    """Approve or return a waiting submission; None if it is no longer waiting (a double
    tap, or someone else decided first)."""
    if status not in ("approved", "returned"):
        raise ValueError(status)
    now = to_db(utcnow())
    async with db.transaction():
        if not await db.execute_rowcount(
                "UPDATE city_submissions SET status = ?, updated_at = ? WHERE id = ?"
                " AND status = 'submitted'", (status, now, submission_id)):
            return None
        event_id = await db.execute(
            "INSERT INTO city_submission_events (submission_id, status, comment, by_id, at)"
            " VALUES (?, ?, ?, ?, ?)", (submission_id, status, comment, by, now))
        submission = await get_submission(db, submission_id)
        event = await get_event(db, event_id)
    assert submission is not None and event is not None
    return submission, event


async def get_submission(db: Database, submission_id: int) -> Submission | None:
    row = await db.fetchone("SELECT * FROM city_submissions WHERE id = ?", (submission_id,))
    return None if row is None else _submission(row)


async def get_event(db: Database, event_id: int) -> Event | None:
    row = await db.fetchone("SELECT * FROM city_submission_events WHERE id = ?", (event_id,))
    return None if row is None else _event(row)


async def submissions_to(db: Database, parent_id: int) -> list[Submission]:
    """What communities below have submitted to this one: waiting first, then newest."""
    rows = await db.fetchall(
        "SELECT * FROM city_submissions WHERE parent_id = ?"
        " ORDER BY status = 'submitted' DESC, updated_at DESC, id DESC", (parent_id,))
    return [_submission(r) for r in rows]


async def submissions_from(db: Database, community_id: int) -> list[Submission]:
    rows = await db.fetchall(
        "SELECT * FROM city_submissions WHERE community_id = ? ORDER BY updated_at DESC, id DESC",
        (community_id,))
    return [_submission(r) for r in rows]


async def submissions_of(db: Database, kind: str, ref_id: int) -> list[Submission]:
    """Every submission of one thing (a plan, a vote …) at every level, oldest first."""
    rows = await db.fetchall(
        "SELECT * FROM city_submissions WHERE kind = ? AND ref_id = ? ORDER BY id",
        (kind, ref_id))
    return [_submission(r) for r in rows]


async def carried(db: Database, origin_id: int) -> Submission | None:
    """The submission that carries ``origin_id`` further up, if any."""
    row = await db.fetchone("SELECT * FROM city_submissions WHERE origin_id = ?", (origin_id,))
    return None if row is None else _submission(row)


async def events(db: Database, submission_id: int) -> list[Event]:
    rows = await db.fetchall(
        "SELECT * FROM city_submission_events WHERE submission_id = ? ORDER BY id",
        (submission_id,))
    return [_event(r) for r in rows]


# -- personal data -------------------------------------------------------------------------


async def _personal(db: Database, user_id: int) -> dict[str, Any]:
    stickers = await db.fetchall(
        "SELECT s.vote_id, i.title AS problem, s.placed_at FROM city_stickers s"
        " JOIN city_vote_items i ON i.id = s.item_id WHERE s.user_id = ?", (user_id,))
    decided = await db.fetchall(
        "SELECT e.submission_id, e.status, e.comment, e.at FROM city_submission_events e"
        " WHERE e.by_id = ?", (user_id,))
    return {"city_stickers": [dict(r) for r in stickers],
            "city_submission_steps": [dict(r) for r in decided]}


personal.register("city", _personal)
