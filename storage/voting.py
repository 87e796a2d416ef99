"""Prioritisations, problems, stickers, pairwise comparisons and matrix ratings: SQL only.

Invariants live in the schema (``0003_voting.sql``): a sticker takes a numbered slot that is
unique per voter and checked against the budget by a trigger, so the budget holds under
double taps and simultaneous taps; stacking and voting after closing are refused there too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from storage import personal
from storage.db import Database, from_db, to_db, utcnow

METHODS = ("stickers", "pairwise", "matrix")
_CHUNK = 500  # ids per IN (...) list
_PAGE = 5_000  # participants read per statement: the connection is free between pages


class VoteRejected(Exception):
    """The database refused the change (budget, stacking, closed): nothing was stored."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "budget", "stacking", "closed", "unknown"


@dataclass(frozen=True, slots=True)
class Prioritisation:
    id: int
    community_id: int
    title: str
    method: str
    stickers: int
    allow_stacking: bool
    closes_at: datetime | None
    status: str
    created_by: int | None
    created_at: datetime
    closed_at: datetime | None
    reopen_until: datetime | None = None  # closed by hand: it may be reopened until then

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class Problem:
    id: int
    prioritisation_id: int
    position: int
    title: str
    offline: int


def _prioritisation(row: aiosqlite.Row) -> Prioritisation:
    created_at = from_db(row["created_at"])
    assert created_at is not None  # NOT NULL in the schema
    return Prioritisation(
        id=row["id"], community_id=row["community_id"], title=row["title"],
        method=row["method"], stickers=row["stickers"], allow_stacking=bool(row["allow_stacking"]),
        closes_at=from_db(row["closes_at"]), status=row["status"], created_by=row["created_by"],
        created_at=created_at, closed_at=from_db(row["closed_at"]),
        reopen_until=from_db(row["reopen_until"]),
    )


def _problem(row: aiosqlite.Row) -> Problem:
    return Problem(row["id"], row["prioritisation_id"], row["position"], row["title"],
                   row["offline"])


# -- prioritisations -----------------------------------------------------------------------


async def create(
    db: Database, community_id: int, *, title: str, method: str, problems: list[str],
    stickers: int = 3, allow_stacking: bool = False, closes_at: datetime | None = None,
    created_by: int | None = None,
) -> Prioritisation:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    async with db.transaction():
        pid = await db.execute(
            "INSERT INTO prioritisations (community_id, title, method, stickers, allow_stacking,"
            " closes_at, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (community_id, title, method, stickers, int(allow_stacking), to_db(closes_at),
             created_by, to_db(utcnow())),
        )
        await db.executemany(
            "INSERT INTO vote_problems (prioritisation_id, position, title) VALUES (?, ?, ?)",
            [(pid, i, text) for i, text in enumerate(problems, start=1)],
        )
    found = await get(db, pid)
    assert found is not None
    return found


async def get(db: Database, prioritisation_id: int) -> Prioritisation | None:
    row = await db.fetchone("SELECT * FROM prioritisations WHERE id = ?", (prioritisation_id,))
    return _prioritisation(row) if row else None


async def list_for(db: Database, community_id: int, *, status: str | None = None,
                   ) -> list[Prioritisation]:
    sql = "SELECT * FROM prioritisations WHERE community_id = ?"
    params: list[Any] = [community_id]
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    return [_prioritisation(r) for r in await db.fetchall(sql + " ORDER BY id DESC", params)]


async def open_with_deadline(db: Database) -> list[Prioritisation]:
    """Every open prioritisation with a closing time, in all communities (for the scheduler)."""
    rows = await db.fetchall(
        "SELECT * FROM prioritisations WHERE status = 'open' AND closes_at IS NOT NULL"
    )
    return [_prioritisation(r) for r in rows]


async def close(db: Database, prioritisation_id: int, *,
                reopen_until: datetime | None = None) -> bool:
    """Close it; False when it was already closed (so results are announced once). Closed
    by hand, it may be reopened until ``reopen_until``."""
    changed = await db.execute_rowcount(
        "UPDATE prioritisations SET status = 'closed', closed_at = ?, reopen_until = ?"
        " WHERE id = ? AND status = 'open'",
        (to_db(utcnow()), to_db(reopen_until), prioritisation_id),
    )
    return changed == 1


async def reopen(db: Database, prioritisation_id: int) -> bool:
    """Open again while the window to reopen lasts (False otherwise)."""
    return await db.execute_rowcount(
        "UPDATE prioritisations SET status = 'open', closed_at = NULL, reopen_until = NULL"
        " WHERE id = ? AND status = 'closed' AND reopen_until > ?",
        (prioritisation_id, to_db(utcnow()))) == 1


async def reopenable(db: Database) -> list[Prioritisation]:
    """Closed by hand, with the window to reopen not yet closed (in every community)."""
    rows = await db.fetchall("SELECT * FROM prioritisations WHERE status = 'closed'"
                             " AND reopen_until IS NOT NULL")
    return [_prioritisation(r) for r in rows]


async def keep_closed(db: Database, prioritisation_id: int) -> bool:
    """No reopening any more (its result is being announced now)."""
    return await db.execute_rowcount(
        "UPDATE prioritisations SET reopen_until = NULL WHERE id = ? AND status = 'closed'"
        " AND reopen_until IS NOT NULL", (prioritisation_id,)) == 1


async def problems(db: Database, prioritisation_id: int) -> list[Problem]:
    rows = await db.fetchall(
        "SELECT * FROM vote_problems WHERE prioritisation_id = ? ORDER BY position",
        (prioritisation_id,),
    )
    return [_problem(r) for r in rows]


async def set_offline(db: Database, prioritisation_id: int, counts: dict[int, int]) -> None:
    """Paper stickers from a meeting, per problem id (replaces earlier counts)."""
    async with db.transaction():
        await db.executemany(
            "UPDATE vote_problems SET offline = ? WHERE id = ? AND prioritisation_id = ?",
            [(n, problem_id, prioritisation_id) for problem_id, n in counts.items()],
        )


def _rejected(error: sqlite3.DatabaseError) -> VoteRejected:
    text = str(error)
    if "budget" in text or "UNIQUE" in text:
        return VoteRejected("budget")
    if "one sticker" in text:
        return VoteRejected("stacking")
    if "closed" in text:
        return VoteRejected("closed")
    return VoteRejected("unknown")


# -- stickers --------------------------------------------------------------------------------


async def my_stickers(db: Database, prioritisation_id: int, user_id: int) -> dict[int, int]:
    """Problem id -> how many of this voter's stickers are on it."""
    rows = await db.fetchall(
        "SELECT problem_id, COUNT(*) AS n FROM stickers WHERE prioritisation_id = ?"
        " AND user_id = ? GROUP BY problem_id",
        (prioritisation_id, user_id),
    )
    return {r["problem_id"]: r["n"] for r in rows}


async def stickers_of(db: Database, prioritisation_id: int, user_ids: Sequence[int],
                      ) -> dict[int, dict[int, int]]:
    """Voter -> slot -> problem of the given voters' stickers (the sticker book's load on
    their first taps, a batch at a time; voters without stickers are absent)."""
    found: dict[int, dict[int, int]] = {}
    ids = list(dict.fromkeys(user_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows = await db.fetchall(
            "SELECT user_id, slot, problem_id FROM stickers WHERE prioritisation_id = ?"
            f" AND user_id IN ({', '.join('?' * len(chunk))})",
            (prioritisation_id, *chunk),
        )
        for r in rows:
            found.setdefault(r["user_id"], {})[r["slot"]] = r["problem_id"]
    return found


_INSERT_STICKER = (
    "INSERT INTO stickers (prioritisation_id, user_id, slot, problem_id, stakeholder_group,"
    " placed_at) VALUES (?, ?, ?, ?, ?, ?)"
)
_DELETE_STICKER = (
    "DELETE FROM stickers WHERE prioritisation_id = ? AND user_id = ? AND slot = ?"
    " AND EXISTS (SELECT 1 FROM prioritisations WHERE id = ? AND status = 'open')"
)


@dataclass(frozen=True)
class StickerWrite:
    """Place (``problem_id`` set) or take back (``problem_id`` None) the sticker in a slot."""

    prioritisation_id: int
    user_id: int
    slot: int
    problem_id: int | None
    group: str | None = None


async def write_stickers(db: Database, writes: Sequence[StickerWrite],
                         ) -> list[VoteRejected | None]:
    """Apply sticker writes in order in one transaction; per write, None or why refused.

    The caller chose the slots; the unique slot index and the triggers (budget, stacking,
    open) refuse whatever breaks the rules, and a refused write leaves the others standing.
    """
    now = to_db(utcnow())
    statements: list[tuple[str, tuple[object, ...]]] = [
        (_INSERT_STICKER, (w.prioritisation_id, w.user_id, w.slot, w.problem_id, w.group, now))
        if w.problem_id is not None else
        (_DELETE_STICKER, (w.prioritisation_id, w.user_id, w.slot, w.prioritisation_id))
        for w in writes
    ]
    outcomes: list[VoteRejected | None] = []
    for outcome in await db.execute_each(statements):
        if isinstance(outcome, sqlite3.IntegrityError):
            outcomes.append(_rejected(outcome))
        elif outcome != 1:
            outcomes.append(VoteRejected("closed"))
        else:
            outcomes.append(None)
    return outcomes


async def insert_sticker(db: Database, prioritisation_id: int, user_id: int, slot: int,
                         problem_id: int, group: str | None) -> None:
    """One sticker in a given slot (the caller chose it); VoteRejected if the schema refuses."""
    [outcome] = await write_stickers(
        db, [StickerWrite(prioritisation_id, user_id, slot, problem_id, group)])
    if outcome is not None:
        raise outcome


async def delete_sticker(db: Database, prioritisation_id: int, user_id: int, slot: int) -> None:
    """Take back the sticker in ``slot``, only while the vote is open."""
    [outcome] = await write_stickers(
        db, [StickerWrite(prioritisation_id, user_id, slot, None)])
    if outcome is not None:
        raise outcome


async def sticker_tally(db: Database, prioritisation_id: int) -> dict[int, int]:
    """Problem id -> chat stickers on it (problems without any are absent); read from the
    counts the triggers of ``0017_scale.sql`` keep, not by counting the stickers."""
    rows = await db.fetchall(
        "SELECT problem_id, stickers FROM sticker_tally WHERE prioritisation_id = ?"
        " AND stickers > 0",
        (prioritisation_id,),
    )
    return {r["problem_id"]: r["stickers"] for r in rows}


async def sticker_rows(db: Database, prioritisation_id: int) -> list[tuple[int | None, int]]:
    """(voter, problem) for every stored sticker: what property tests compare tallies with."""
    rows = await db.fetchall(
        "SELECT user_id, problem_id FROM stickers WHERE prioritisation_id = ?",
        (prioritisation_id,),
    )
    return [(r["user_id"], r["problem_id"]) for r in rows]


# -- pairwise --------------------------------------------------------------------------------


async def record_comparison(
    db: Database, prioritisation_id: int, user_id: int, a_id: int, b_id: int,
    winner_id: int | None, group: str | None,
) -> None:
    """One answer per voter and pair; a second answer replaces the first (a change of mind)."""
    a_id, b_id = min(a_id, b_id), max(a_id, b_id)
    async with db.transaction():
        status = await db.fetchval(
            "SELECT status FROM prioritisations WHERE id = ?", (prioritisation_id,)
        )
        if status != "open":
            raise VoteRejected("closed")
        await db.execute(
            "INSERT INTO comparisons (prioritisation_id, user_id, a_id, b_id, winner_id,"
            " stakeholder_group, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (prioritisation_id, user_id, a_id, b_id)"
            " DO UPDATE SET winner_id = excluded.winner_id, answered_at = excluded.answered_at",
            (prioritisation_id, user_id, a_id, b_id, winner_id, group, to_db(utcnow())),
        )


async def comparisons(db: Database, prioritisation_id: int,
                      ) -> list[tuple[int, int, int | None]]:
    rows = await db.fetchall(
        "SELECT a_id, b_id, winner_id FROM comparisons WHERE prioritisation_id = ?",
        (prioritisation_id,),
    )
    return [(r["a_id"], r["b_id"], r["winner_id"]) for r in rows]


async def compared_by(db: Database, prioritisation_id: int, user_id: int) -> set[tuple[int, int]]:
    rows = await db.fetchall(
        "SELECT a_id, b_id FROM comparisons WHERE prioritisation_id = ? AND user_id = ?",
        (prioritisation_id, user_id),
    )
    return {(r["a_id"], r["b_id"]) for r in rows}


# -- matrix ----------------------------------------------------------------------------------


async def rate(
    db: Database, prioritisation_id: int, user_id: int, problem_id: int, *,
    importance: int | None = None, urgency: int | None = None, group: str | None,
) -> None:
    """Set importance and/or urgency (1-3) for one problem; the other value is kept."""
    async with db.transaction():
        status = await db.fetchval(
            "SELECT status FROM prioritisations WHERE id = ?", (prioritisation_id,)
        )
        if status != "open":
            raise VoteRejected("closed")
        await db.execute(
            "INSERT INTO ratings (prioritisation_id, user_id, problem_id, importance, urgency,"
            " stakeholder_group, rated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (prioritisation_id, user_id, problem_id) DO UPDATE SET"
            " importance = COALESCE(excluded.importance, importance),"
            " urgency = COALESCE(excluded.urgency, urgency), rated_at = excluded.rated_at",
            (prioritisation_id, user_id, problem_id, importance, urgency, group,
             to_db(utcnow())),
        )


async def my_ratings(db: Database, prioritisation_id: int, user_id: int,
                     ) -> dict[int, tuple[int | None, int | None]]:
    rows = await db.fetchall(
        "SELECT problem_id, importance, urgency FROM ratings WHERE prioritisation_id = ?"
        " AND user_id = ?",
        (prioritisation_id, user_id),
    )
    return {r["problem_id"]: (r["importance"], r["urgency"]) for r in rows}


async def ratings(db: Database, prioritisation_id: int) -> list[tuple[int, int, int]]:
    """(problem, importance, urgency) for every complete rating."""
    rows = await db.fetchall(
        "SELECT problem_id, importance, urgency FROM ratings WHERE prioritisation_id = ?"
        " AND importance IS NOT NULL AND urgency IS NOT NULL",
        (prioritisation_id,),
    )
    return [(r["problem_id"], r["importance"], r["urgency"]) for r in rows]


# -- who took part -----------------------------------------------------------------------------

_TABLE = {"stickers": "stickers", "pairwise": "comparisons", "matrix": "ratings"}


async def participants(db: Database, prioritisation: Prioritisation) -> list[int]:
    """Every known voter of the vote (forgotten ones are not known), in id order.

    Read a page at a time, so a vote of 100,000 voters never holds the connection for the
    whole list; a sticker vote reads the per-voter counts, not its million stickers."""
    if prioritisation.method == "stickers":
        sql = ("SELECT DISTINCT user_id FROM sticker_voters WHERE prioritisation_id = ?"
               " AND user_id > ? ORDER BY user_id LIMIT ?")
    else:
        sql = (f"SELECT DISTINCT user_id FROM {_TABLE[prioritisation.method]}"
               " WHERE prioritisation_id = ? AND user_id > ? ORDER BY user_id LIMIT ?")
    found: list[int] = []
    after = -(2 ** 63)
    while True:
        rows = await db.fetchall(sql, (prioritisation.id, after, _PAGE))
        found.extend(r[0] for r in rows)
        if len(rows) < _PAGE:
            return found
        after = found[-1]


def voted_sql(prioritisation: Prioritisation, user_column: str) -> tuple[str, tuple[int]]:
    """An SQL condition, with its parameters, true when ``user_column`` (e.g. ``m.user_id``
    of a query over memberships) took part in the vote: for a reminder's or a broadcast's
    "has not voted" audience chosen in SQL (``NOT`` it), one index lookup per member instead
    of a list of 100,000 voters in memory."""
    table = "sticker_voters" if prioritisation.method == "stickers" else (
        _TABLE[prioritisation.method])
    return (f"EXISTS (SELECT 1 FROM {table} WHERE prioritisation_id = ?"
            f" AND user_id = {user_column})", (prioritisation.id,))


async def voter_count(db: Database, prioritisation: Prioritisation) -> int:
    """How many known voters took part (``len(participants(...))`` without the list)."""
    if prioritisation.method == "stickers":
        return int(await db.fetchval(
            "SELECT COALESCE((SELECT voters FROM sticker_totals WHERE prioritisation_id = ?),"
            " 0)", (prioritisation.id,)))
    return int(await db.fetchval(
        f"SELECT COUNT(DISTINCT user_id) FROM {_TABLE[prioritisation.method]}"
        " WHERE prioritisation_id = ?", (prioritisation.id,)))


async def participation_by_group(db: Database, prioritisation: Prioritisation,
                                 ) -> dict[str | None, int]:
    """Voters per stakeholder group (recorded when they voted, so it survives /forgetme:
    each sticker of a forgotten voter counts as one)."""
    if prioritisation.method == "stickers":
        rows = await db.fetchall(
            "SELECT stakeholder_group AS g, voters AS n FROM sticker_groups"
            " WHERE prioritisation_id = ? AND voters > 0",
            (prioritisation.id,),
        )
    else:
        rows = await db.fetchall(
            "SELECT stakeholder_group AS g, COUNT(DISTINCT COALESCE(user_id, -rowid)) AS n"
            f" FROM {_TABLE[prioritisation.method]} WHERE prioritisation_id = ?"
            " GROUP BY stakeholder_group",
            (prioritisation.id,),
        )
    return {r["g"]: r["n"] for r in rows}


async def recount(db: Database, prioritisation_id: int) -> dict[str, Any]:
    """The kept sticker counts recomputed from the stickers themselves (what the triggers
    must always agree with; for tests and checks, it reads every sticker of the vote)."""
    tally = {r[0]: r[1] for r in await db.fetchall(
        "SELECT problem_id, COUNT(*) FROM stickers WHERE prioritisation_id = ?"
        " GROUP BY problem_id", (prioritisation_id,))}
    voters = {(r[0], r[1]): r[2] for r in await db.fetchall(
        "SELECT user_id, stakeholder_group, COUNT(*) FROM stickers WHERE prioritisation_id = ?"
        " AND user_id IS NOT NULL GROUP BY user_id, stakeholder_group", (prioritisation_id,))}
    groups = {r[0]: r[1] for r in await db.fetchall(
        "SELECT stakeholder_group, COUNT(DISTINCT COALESCE(user_id, -rowid)) FROM stickers"
        " WHERE prioritisation_id = ? GROUP BY stakeholder_group", (prioritisation_id,))}
    total = await db.fetchval("SELECT COUNT(DISTINCT user_id) FROM stickers"
                              " WHERE prioritisation_id = ?", (prioritisation_id,))
    return {"tally": tally, "voters": voters, "groups": groups, "total": total}


async def kept_counts(db: Database, prioritisation_id: int) -> dict[str, Any]:
    """The counts the triggers keep, in :func:`recount`'s shape (zeros left out)."""
    tally = {r[0]: r[1] for r in await db.fetchall(
        "SELECT problem_id, stickers FROM sticker_tally WHERE prioritisation_id = ?"
        " AND stickers > 0", (prioritisation_id,))}
    voters = {(r[0], r[1]): r[2] for r in await db.fetchall(
        "SELECT user_id, stakeholder_group, stickers FROM sticker_voters"
        " WHERE prioritisation_id = ?", (prioritisation_id,))}
    groups = {r[0]: r[1] for r in await db.fetchall(
        "SELECT stakeholder_group, voters FROM sticker_groups WHERE prioritisation_id = ?"
        " AND voters > 0", (prioritisation_id,))}
    total = await db.fetchval("SELECT COALESCE((SELECT voters FROM sticker_totals"
                              " WHERE prioritisation_id = ?), 0)", (prioritisation_id,))
    return {"tally": tally, "voters": voters, "groups": groups, "total": total}


# -- live standings messages ------------------------------------------------------------------


async def add_standings_message(db: Database, prioritisation_id: int, chat_id: int,
                                message_id: int, language: str) -> None:
    await db.execute(
        "INSERT OR IGNORE INTO standings_messages (prioritisation_id, chat_id, message_id,"
        " language) VALUES (?, ?, ?, ?)",
        (prioritisation_id, chat_id, message_id, language),
    )


async def standings_messages(db: Database, prioritisation_id: int,
                             ) -> list[tuple[int, int, str | None]]:
    """(chat, message, language) of each live standings message of the vote."""
    rows = await db.fetchall(
        "SELECT chat_id, message_id, language FROM standings_messages"
        " WHERE prioritisation_id = ?",
        (prioritisation_id,),
    )
    return [(r["chat_id"], r["message_id"], r["language"]) for r in rows]


async def drop_standings_message(db: Database, chat_id: int, message_id: int) -> None:
    await db.execute(
        "DELETE FROM standings_messages WHERE chat_id = ? AND message_id = ?",
        (chat_id, message_id),
    )


# -- personal data ----------------------------------------------------------------------------


async def _personal(db: Database, user_id: int) -> dict[str, Any]:
    stickers = await db.fetchall(
        "SELECT p.title AS prioritisation, v.title AS problem, s.placed_at FROM stickers s"
        " JOIN prioritisations p ON p.id = s.prioritisation_id"
        " JOIN vote_problems v ON v.id = s.problem_id WHERE s.user_id = ?",
        (user_id,),
    )
    pairs = await db.fetchall(
        "SELECT prioritisation_id, a_id, b_id, winner_id, answered_at FROM comparisons"
        " WHERE user_id = ?",
        (user_id,),
    )
    rated = await db.fetchall(
        "SELECT prioritisation_id, problem_id, importance, urgency, rated_at FROM ratings"
        " WHERE user_id = ?",
        (user_id,),
    )
    return {"stickers": [dict(r) for r in stickers],
            "comparisons": [dict(r) for r in pairs],
            "ratings": [dict(r) for r in rated]}


personal.register("voting", _personal)
