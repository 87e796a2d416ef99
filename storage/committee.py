"""Elections, nominations, secret ballots, committees and working groups: SQL only.

The ballot's secrecy lives in the schema (``0005_committee.sql``): casting inserts the voter
into ``election_voters`` (its primary key refuses a second ballot, a trigger refuses one
outside the voting window) and adds one to each chosen candidate's count in
``election_tally``, in one transaction. No row ever holds a voter and a choice together.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from storage import personal
from storage.community import User, user_of
from storage.db import Database, from_db, to_db, utcnow

STATUSES = ("draft", "nominating", "voting", "closed")
SETTINGS = ("seats", "approvals", "nomination_days", "voting_days")


class BallotRejected(Exception):
    """The database refused the ballot: ``reason`` is "voted" or "closed"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Election:
    id: int
    community_id: int
    name: str
    seats: int
    approvals: int
    nomination_days: int
    voting_days: int
    status: str
    nominations_close_at: datetime | None
    voting_close_at: datetime | None
    result: dict[str, Any] | None
    created_at: datetime
    reopen_until: datetime | None = None  # voting closed by hand: it may reopen until then


@dataclass(frozen=True, slots=True)
class Nomination:
    id: int
    election_id: int
    nominee_id: int
    nominated_by: int | None
    status: str
    stakeholder_group: str | None
    statement: str | None
    created_at: datetime
    accepted_at: datetime | None
    accepted_seq: int | None = None  # 1 for the first acceptance in the election, 2 …


@dataclass(frozen=True, slots=True)
class Committee:
    id: int
    community_id: int
    parent_id: int | None
    election_id: int | None
    name: str
    chat_id: int | None


@dataclass(frozen=True, slots=True)
class CommitteeMember:
    committee_id: int
    user_id: int
    how: str
    seat: str | None
    added_at: datetime


def _election(row: aiosqlite.Row) -> Election:
    return Election(
        id=row["id"], community_id=row["community_id"], name=row["name"], seats=row["seats"],
        approvals=row["approvals"], nomination_days=row["nomination_days"],
        voting_days=row["voting_days"], status=row["status"],
        nominations_close_at=from_db(row["nominations_close_at"]),
        voting_close_at=from_db(row["voting_close_at"]),
        result=json.loads(row["result"]) if row["result"] else None,
        created_at=from_db(row["created_at"]), reopen_until=from_db(row["reopen_until"]),
    )


def _nomination(row: aiosqlite.Row) -> Nomination:
    return Nomination(
        id=row["id"], election_id=row["election_id"], nominee_id=row["nominee_id"],
        nominated_by=row["nominated_by"], status=row["status"],
        stakeholder_group=row["stakeholder_group"], statement=row["statement"],
        created_at=from_db(row["created_at"]),
        accepted_at=from_db(row["accepted_at"]), accepted_seq=row["accepted_seq"],
    )


def _committee(row: aiosqlite.Row) -> Committee:
    return Committee(id=row["id"], community_id=row["community_id"],
                     parent_id=row["parent_id"], election_id=row["election_id"],
                     name=row["name"], chat_id=row["chat_id"])


# -- elections ---------------------------------------------------------------------------------


async def create_election(
    db: Database, community_id: int, *, name: str, seats: int, approvals: int,
    nomination_days: int, voting_days: int, quotas: dict[str, int], created_by: int | None,
) -> Election:
    async with db.transaction():
        election_id = await db.execute(
            "INSERT INTO elections (community_id, name, seats, approvals, nomination_days,"
            " voting_days, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (community_id, name, seats, approvals, nomination_days, voting_days, created_by,
             to_db(utcnow())),
        )
        for group, minimum in quotas.items():
            await db.execute(
                "INSERT INTO election_quotas (election_id, group_key, minimum) VALUES (?, ?, ?)",
                (election_id, group, minimum),
            )
    election = await get_election(db, election_id)
    assert election is not None
    return election


async def get_election(db: Database, election_id: int) -> Election | None:
    row = await db.fetchone("SELECT * FROM elections WHERE id = ?", (election_id,))
    return None if row is None else _election(row)


async def elections(db: Database, community_id: int, *statuses: str) -> list[Election]:
    """The community's elections, newest first; only some statuses if given."""
    sql = "SELECT * FROM elections WHERE community_id = ?"
    params: list[Any] = [community_id]
    if statuses:
        sql += f" AND status IN ({','.join('?' * len(statuses))})"
        params.extend(statuses)
    return [_election(r) for r in await db.fetchall(sql + " ORDER BY id DESC", params)]


async def running_elections(db: Database) -> list[Election]:
    """Every election in its nomination or voting window (to rebuild their jobs at start)."""
    rows = await db.fetchall("SELECT * FROM elections WHERE status IN ('nominating', 'voting')")
    return [_election(r) for r in rows]


async def quotas(db: Database, election_id: int) -> dict[str, int]:
    rows = await db.fetchall(
        "SELECT group_key, minimum FROM election_quotas WHERE election_id = ?", (election_id,))
    return {r["group_key"]: r["minimum"] for r in rows}


async def change_setting(db: Database, election_id: int, field: str, value: int) -> bool:
    """Change a number while the election is a draft; False once it has started."""
    if field not in SETTINGS:
        raise ValueError(f"unknown setting {field!r}")
    changed = await db.execute_rowcount(
        f"UPDATE elections SET {field} = ? WHERE id = ? AND status = 'draft'",
        (value, election_id),
    )
    return changed == 1


async def set_quota(db: Database, election_id: int, group: str, minimum: int) -> bool:
    async with db.transaction():
        if await db.fetchval("SELECT status FROM elections WHERE id = ?",
                             (election_id,)) != "draft":
            return False
        await db.execute(
            "INSERT INTO election_quotas (election_id, group_key, minimum) VALUES (?, ?, ?)"
            " ON CONFLICT (election_id, group_key) DO UPDATE SET minimum = excluded.minimum",
            (election_id, group, minimum),
        )
    return True


async def discard_draft(db: Database, election_id: int) -> bool:
    """Delete an election that never started (a coordinator's mistake)."""
    return await db.execute_rowcount(
        "DELETE FROM elections WHERE id = ? AND status = 'draft'", (election_id,)) == 1


async def advance(db: Database, election_id: int, *, to: str, closes_at: datetime | None = None,
                  result: dict[str, Any] | None = None) -> bool:
    """Move to the next status (draft → nominating → voting → closed) exactly once.

    Returns False when the election is not in the status before ``to`` (a double tap, a
    job that fires after a coordinator already moved it on).
    """
    params: tuple[Any, ...]
    if to == "nominating":
        sql, params = ("UPDATE elections SET status = 'nominating', nominations_close_at = ?"
                       " WHERE id = ? AND status = 'draft'", (to_db(closes_at), election_id))
    elif to == "voting":
        sql, params = ("UPDATE elections SET status = 'voting', voting_close_at = ?,"
                       " nominations_close_at = COALESCE(MIN(nominations_close_at, ?), ?)"
                       " WHERE id = ? AND status = 'nominating'",
                       (to_db(closes_at), to_db(utcnow()), to_db(utcnow()), election_id))
    else:
        sql, params = ("UPDATE elections SET status = 'closed', result = ?, closed_at = ?"
                       " WHERE id = ? AND status = 'voting'",
                       (json.dumps(result, ensure_ascii=False), to_db(utcnow()), election_id))
    return await db.execute_rowcount(sql, params) == 1


async def stop_voting(db: Database, election_id: int, *,
                      reopen_until: datetime | None = None) -> bool:
    """Voting → closed, not yet counted (the count is :func:`record_result`). Stopped by
    hand, voting may open again until ``reopen_until``. False unless it was voting."""
    return await db.execute_rowcount(
        "UPDATE elections SET status = 'closed', closed_at = ?, reopen_until = ?"
        " WHERE id = ? AND status = 'voting'",
        (to_db(utcnow()), to_db(reopen_until), election_id)) == 1


async def reopen_voting(db: Database, election_id: int) -> bool:
    """Closed by hand and not counted: voting again, while the window lasts."""
    return await db.execute_rowcount(
        "UPDATE elections SET status = 'voting', closed_at = NULL, reopen_until = NULL"
        " WHERE id = ? AND status = 'closed' AND result IS NULL AND reopen_until > ?",
        (election_id, to_db(utcnow()))) == 1


async def record_result(db: Database, election_id: int, result: dict[str, Any]) -> bool:
    """The count of a closed election, exactly once (False if it was counted already)."""
    return await db.execute_rowcount(
        "UPDATE elections SET result = ?, reopen_until = NULL WHERE id = ?"
        " AND status = 'closed' AND result IS NULL",
        (json.dumps(result, ensure_ascii=False), election_id)) == 1


async def uncounted(db: Database) -> list[Election]:
    """Elections whose voting closed and that wait for their count (after a restart too)."""
    rows = await db.fetchall(
        "SELECT * FROM elections WHERE status = 'closed' AND result IS NULL")
    return [_election(r) for r in rows]


# -- nominations -------------------------------------------------------------------------------


async def nominate(db: Database, election_id: int, nominee_id: int,
                   nominated_by: int) -> tuple[Nomination, bool]:
    """The nomination of ``nominee_id``: created now (True) or already there (False)."""
    try:
        nomination_id = await db.execute(
            "INSERT INTO nominations (election_id, nominee_id, nominated_by, created_at)"
            " VALUES (?, ?, ?, ?)",
            (election_id, nominee_id, nominated_by, to_db(utcnow())),
        )
        created = True
    except sqlite3.IntegrityError:
        nomination_id = await db.fetchval(
            "SELECT id FROM nominations WHERE election_id = ? AND nominee_id = ?",
            (election_id, nominee_id))
        created = False
    nomination = await get_nomination(db, nomination_id)
    assert nomination is not None
    return nomination, created


async def get_nomination(db: Database, nomination_id: int) -> Nomination | None:
    row = await db.fetchone("SELECT * FROM nominations WHERE id = ?", (nomination_id,))
    return None if row is None else _nomination(row)


async def nominations(db: Database, election_id: int,
                      status: str | None = None) -> list[tuple[Nomination, User]]:
    """Nominations with the nominee's user row, in the order they were made."""
    sql = ("SELECT n.*, u.id AS uid, u.first_name, u.last_name, u.username, u.language,"
           " u.language_chosen, u.reachable, u.current_community_id, u.created_at AS ucreated"
           " FROM nominations n JOIN users u ON u.id = n.nominee_id WHERE n.election_id = ?")
    params: list[Any] = [election_id]
    if status:
        sql += " AND n.status = ?"
        params.append(status)
    rows = await db.fetchall(sql + " ORDER BY n.id", params)
    result = []
    for r in rows:
        user = User(id=r["uid"], first_name=r["first_name"], last_name=r["last_name"],
                    username=r["username"], language=r["language"],
                    language_chosen=bool(r["language_chosen"]), reachable=bool(r["reachable"]),
                    current_community_id=r["current_community_id"],
                    created_at=from_db(r["ucreated"]))
        result.append((_nomination(r), user))
    return result


async def answer_nomination(db: Database, nomination_id: int, *, accept: bool,
                            group: str | None = None, statement: str | None = None) -> bool:
    """Accept (with group and statement) or decline, only while nominations are open.

    An acceptance takes the next number of the election's acceptance order in the same
    statement (SQLite runs one write at a time), so the order is exact even within a second;
    accepting again keeps the first number, declining gives it up.
    """
    if accept:
        sql = ("UPDATE nominations SET status = 'accepted', stakeholder_group = ?,"
               " statement = ?, accepted_at = COALESCE(accepted_at, ?),"
               " accepted_seq = COALESCE(accepted_seq, (SELECT COALESCE(MAX(o.accepted_seq), 0)"
               " + 1 FROM nominations o WHERE o.election_id = nominations.election_id))"
               " WHERE id = ?")
        params: tuple[Any, ...] = (group, statement, to_db(utcnow()), nomination_id)
    else:
        sql = ("UPDATE nominations SET status = 'declined', accepted_at = NULL,"
               " accepted_seq = NULL WHERE id = ?")
        params = (nomination_id,)
    sql += (" AND (SELECT status FROM elections WHERE id = nominations.election_id)"
            " = 'nominating'")
    return await db.execute_rowcount(sql, params) == 1


# -- ballots -----------------------------------------------------------------------------------


async def draft(db: Database, election_id: int, user_id: int) -> set[int]:
    rows = await db.fetchall(
        "SELECT nomination_id FROM ballot_drafts WHERE election_id = ? AND user_id = ?",
        (election_id, user_id))
    return {r["nomination_id"] for r in rows}


async def toggle_draft(db: Database, election_id: int, user_id: int, nomination_id: int,
                       limit: int) -> set[int] | None:
    """Add or remove a choice on an unsent ballot; None when adding would pass ``limit``."""
    async with db.transaction():
        chosen = await draft(db, election_id, user_id)
        if nomination_id in chosen:
            await db.execute(
                "DELETE FROM ballot_drafts WHERE election_id = ? AND user_id = ?"
                " AND nomination_id = ?", (election_id, user_id, nomination_id))
            chosen.discard(nomination_id)
            return chosen
        if len(chosen) >= limit:
            return None
        await db.execute(
            "INSERT INTO ballot_drafts (election_id, user_id, nomination_id) VALUES (?, ?, ?)",
            (election_id, user_id, nomination_id))
        chosen.add(nomination_id)
        return chosen


async def discard_drafts(db: Database, election_id: int) -> None:
    """Forget every ballot begun and never cast (at the count: they can no longer be)."""
    await db.execute("DELETE FROM ballot_drafts WHERE election_id = ?", (election_id,))


async def cast(db: Database, election_id: int, user_id: int) -> int:
    """Cast the drafted ballot in one transaction; returns how many candidates it approved.

    The draft rows are deleted in the same transaction, so afterwards nothing links this
    voter to a choice. BallotRejected("voted") for a second ballot, ("closed") outside the
    voting window.
    """
    try:
        async with db.transaction():
            await db.execute(
                "INSERT INTO election_voters (election_id, user_id) VALUES (?, ?)",
                (election_id, user_id))
            chosen = await db.fetchall(
                "SELECT d.nomination_id FROM ballot_drafts d JOIN nominations n"
                " ON n.id = d.nomination_id AND n.election_id = d.election_id"
                " AND n.status = 'accepted' WHERE d.election_id = ? AND d.user_id = ?",
                (election_id, user_id))
            for row in chosen:
                await db.execute(
                    "INSERT INTO election_tally (nomination_id, votes) VALUES (?, 1)"
                    " ON CONFLICT (nomination_id) DO UPDATE SET votes = votes + 1",
                    (row["nomination_id"],))
            await db.execute(
                "DELETE FROM ballot_drafts WHERE election_id = ? AND user_id = ?",
                (election_id, user_id))
    except sqlite3.IntegrityError as error:
        raise BallotRejected("closed" if "not open" in str(error) else "voted") from None
    return len(chosen)


async def has_voted(db: Database, election_id: int, user_id: int) -> bool:
    return await db.fetchval(
        "SELECT 1 FROM election_voters WHERE election_id = ? AND user_id = ?",
        (election_id, user_id)) is not None


async def voters(db: Database, election_id: int) -> set[int]:
    rows = await db.fetchall("SELECT user_id FROM election_voters WHERE election_id = ?",
                             (election_id,))
    return {r["user_id"] for r in rows}


async def tally(db: Database, election_id: int) -> dict[int, int]:
    """Votes per accepted nomination (0 for candidates nobody approved)."""
    rows = await db.fetchall(
        "SELECT n.id, COALESCE(t.votes, 0) AS votes FROM nominations n"
        " LEFT JOIN election_tally t ON t.nomination_id = n.id"
        " WHERE n.election_id = ? AND n.status = 'accepted'", (election_id,))
    return {r["id"]: r["votes"] for r in rows}


# -- committees and working groups -------------------------------------------------------------


async def create_committee(db: Database, community_id: int, name: str, *,
                           parent_id: int | None = None,
                           election_id: int | None = None) -> Committee:
    committee_id = await db.execute(
        "INSERT INTO committees (community_id, parent_id, election_id, name, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (community_id, parent_id, election_id, name, to_db(utcnow())))
    committee = await get_committee(db, committee_id)
    assert committee is not None
    return committee


async def get_committee(db: Database, committee_id: int) -> Committee | None:
    row = await db.fetchone("SELECT * FROM committees WHERE id = ?", (committee_id,))
    return None if row is None else _committee(row)


async def committees(db: Database, community_id: int) -> list[Committee]:
    """Committees and their working groups, oldest first."""
    rows = await db.fetchall("SELECT * FROM committees WHERE community_id = ? ORDER BY id",
                             (community_id,))
    return [_committee(r) for r in rows]


async def add_member(db: Database, committee_id: int, user_id: int, how: str,
                     seat: str | None = None) -> None:
    """Add (or bring back) a member."""
    await db.execute(
        "INSERT INTO committee_members (committee_id, user_id, how, seat, added_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (committee_id, user_id) DO UPDATE SET"
        " how = excluded.how, seat = excluded.seat, added_at = excluded.added_at,"
        " removed_at = NULL, removed_reason = NULL",
        (committee_id, user_id, how, seat, to_db(utcnow())))


async def remove_member(db: Database, committee_id: int, user_id: int, reason: str) -> bool:
    removed = await db.execute_rowcount(
        "UPDATE committee_members SET removed_at = ?, removed_reason = ?"
        " WHERE committee_id = ? AND user_id = ? AND removed_at IS NULL",
        (to_db(utcnow()), reason, committee_id, user_id))
    return removed == 1


async def committee_members(db: Database, committee_id: int,
                            ) -> list[tuple[CommitteeMember, User]]:
    """Current members (not removed) with their user rows, in the order they joined."""
    rows = await db.fetchall(
        "SELECT m.committee_id, m.user_id, m.how, m.seat, m.added_at AS madded, u.*"
        " FROM committee_members m JOIN users u ON u.id = m.user_id"
        " WHERE m.committee_id = ? AND m.removed_at IS NULL ORDER BY m.added_at, u.id",
        (committee_id,))
    return [(CommitteeMember(r["committee_id"], r["user_id"], r["how"], r["seat"],
                             from_db(r["madded"])), user_of(r))
            for r in rows]


async def sits_anywhere(db: Database, community_id: int, user_id: int) -> bool:
    """Whether the user is a current member of any committee or working group here."""
    return await db.fetchval(
        "SELECT 1 FROM committee_members m JOIN committees c ON c.id = m.committee_id"
        " WHERE c.community_id = ? AND m.user_id = ? AND m.removed_at IS NULL",
        (community_id, user_id)) is not None


async def create_link_code(db: Database, committee_id: int, code: str) -> None:
    await db.execute(
        "INSERT INTO chat_link_codes (code, committee_id, created_at) VALUES (?, ?, ?)",
        (code, committee_id, to_db(utcnow())))


async def use_link_code(db: Database, code: str, chat_id: int) -> Committee | None:
    """Link ``chat_id`` to the code's committee and spend the code (it works once)."""
    async with db.transaction():
        committee_id = await db.fetchval(
            "SELECT committee_id FROM chat_link_codes WHERE code = ?", (code,))
        if committee_id is None:
            return None
        await db.execute("DELETE FROM chat_link_codes WHERE code = ?", (code,))
        await db.execute("UPDATE committees SET chat_id = ? WHERE id = ?",
                         (chat_id, committee_id))
    return await get_committee(db, committee_id)


# -- personal data -----------------------------------------------------------------------------


async def _personal(db: Database, user_id: int) -> dict[str, Any]:
    nominated = await db.fetchall(
        "SELECT e.name AS election, n.status, n.stakeholder_group, n.statement, n.created_at,"
        " n.nominee_id = ? AS about_me FROM nominations n JOIN elections e"
        " ON e.id = n.election_id WHERE n.nominee_id = ? OR n.nominated_by = ?",
        (user_id, user_id, user_id))
    voted = await db.fetchall(
        "SELECT e.name AS election FROM election_voters v JOIN elections e"
        " ON e.id = v.election_id WHERE v.user_id = ?", (user_id,))
    seats = await db.fetchall(
        "SELECT c.name AS committee, m.how, m.seat, m.added_at, m.removed_at, m.removed_reason"
        " FROM committee_members m JOIN committees c ON c.id = m.committee_id"
        " WHERE m.user_id = ?", (user_id,))
    return {"nominations": [dict(r) for r in nominated],
            "voted_in (choices are secret and not stored with you)": [r["election"]
                                                                      for r in voted],
            "committees": [dict(r) for r in seats]}


async def _erase(db: Database, user_id: int) -> None:
    # Keep "has voted" only where voting is still open, so leaving cannot mean voting twice.
    await db.execute(
        "DELETE FROM election_voters WHERE user_id = ? AND election_id IN"
        " (SELECT id FROM elections WHERE status = 'closed')", (user_id,))


personal.register("committee", _personal, _erase)
