"""The delivery outbox and coordinators' broadcasts: SQL only.

A row per recipient is written before anything is sent. The delivery worker claims due rows
(pending → sending) in one transaction, sends them, and records the outcome (sent, failed,
or pending again with a later ``due_at``). At start every row left in "sending" — in flight
when the process stopped — goes back to pending: those alone may reach someone twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from storage import personal
from storage.db import Database, from_db, to_db, utcnow


@dataclass(frozen=True, slots=True)
class Message:
    """One message to queue: where, what, and when it may go at the earliest."""

    chat_id: int
    text: str
    user_id: int | None = None
    photo: str | None = None
    markup: dict[str, Any] | None = None
    due_at: datetime | None = None
    dedupe: str | None = None
    paid: bool = False


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: int
    broadcast_id: int | None
    chat_id: int
    user_id: int | None
    text: str
    photo: str | None
    markup: dict[str, Any] | None
    paid: bool
    attempts: int


@dataclass(frozen=True, slots=True)
class Broadcast:
    id: int
    community_id: int
    created_by: int | None
    audience: str
    photo: str | None
    status: str
    progress_chat_id: int | None
    progress_message_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Progress:
    sent: int
    failed: int
    left: int  # pending or sending
    cancelled: int

    @property
    def total(self) -> int:
        return self.sent + self.failed + self.left + self.cancelled


def _outgoing(row: aiosqlite.Row) -> Outgoing:
    return Outgoing(id=row["id"], broadcast_id=row["broadcast_id"], chat_id=row["chat_id"],
                    user_id=row["user_id"], text=row["text"], photo=row["photo"],
                    markup=json.loads(row["markup"]) if row["markup"] else None,
                    paid=bool(row["paid"]), attempts=row["attempts"])


def _broadcast(row: aiosqlite.Row) -> Broadcast:
    created_at = from_db(row["created_at"])
    assert created_at is not None  # NOT NULL in the schema
    return Broadcast(id=row["id"], community_id=row["community_id"],
                     created_by=row["created_by"], audience=row["audience"],
                     photo=row["photo"], status=row["status"],
                     progress_chat_id=row["progress_chat_id"],
                     progress_message_id=row["progress_message_id"],
                     created_at=created_at)


_INSERT = (
    "INSERT INTO outbox (broadcast_id, chat_id, user_id, text, photo, markup, paid, due_at,"
    " dedupe, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe) DO NOTHING"
)


async def _insert(db: Database, broadcast_id: int | None, messages: Iterable[Message]) -> int:
    now = utcnow()
    outcomes = await db.execute_each([
        (_INSERT, (broadcast_id, m.chat_id, m.user_id, m.text, m.photo,
                   json.dumps(m.markup, ensure_ascii=False) if m.markup else None, int(m.paid),
                   to_db(m.due_at or now), m.dedupe, to_db(now)))
        for m in messages])
    return sum(o for o in outcomes if isinstance(o, int))


async def enqueue(db: Database, messages: Iterable[Message]) -> int:
    """Queue messages, a chunk per transaction (inside a caller's transaction, in it);
    returns how many were new (dedupe keys skip).

    A notice to a whole city is 100,000 rows: one transaction would hold the connection for
    seconds. Chunks commit one after the other; a stop in between leaves the later chunks
    unqueued, and a job that runs again after the restart queues them (its keys skip what
    is already in)."""
    rows = list(messages)
    queued = 0
    for start in range(0, len(rows), CHUNK):
        async with db.transaction():
            queued += await _insert(db, None, rows[start:start + CHUNK])
    return queued


async def create_broadcast(db: Database, community_id: int, created_by: int, audience: str,
                           texts: dict[str, str], photo: str | None,
                           messages: Sequence[Message]) -> Broadcast:
    """The broadcast and a row per recipient, all or nothing."""
    async with db.transaction():
        broadcast_id = await db.execute(
            "INSERT INTO broadcasts (community_id, created_by, audience, photo, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (community_id, created_by, audience, photo, to_db(utcnow())))
        for lang, text in texts.items():
            await db.execute(
                "INSERT INTO broadcast_texts (broadcast_id, lang, text) VALUES (?, ?, ?)",
                (broadcast_id, lang, text))
        await _insert(db, broadcast_id, messages)
    broadcast = await get_broadcast(db, broadcast_id)
    assert broadcast is not None
    return broadcast


# -- audiences, in SQL ---------------------------------------------------------------------

# A priority vote's method and the table of its marks (as storage/voting.py keeps them).
_VOTE_TABLE = {"stickers": "stickers", "pairwise": "comparisons", "matrix": "ratings"}
CHUNK = 1000  # recipients per read or write: tens of milliseconds of the connection at most


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person a broadcast reaches: all it needs of them."""

    id: int
    language: str


@dataclass(frozen=True, slots=True)
class Audience:
    """Whom an audience names, resolved by the flow: the communities in order (each person
    once, in the first of them they belong to) and, within a single community, a filter:
    ``all``, ``group`` (``ref`` a stakeholder group's key), ``committee`` (its id),
    ``novote`` (a vote's id, ``method`` its method), ``noballot`` (an election's id) or
    ``nosurvey`` (a survey's id). Only reachable people are ever in it."""

    community_ids: tuple[int, ...]
    kind: str = "all"
    ref: int | str | None = None
    method: str | None = None


def _chunk_query(audience: Audience, position: int) -> tuple[str, list[Any]]:
    """The recipients of ``audience`` in its ``position``-th community, by user id, after
    a given id (the last parameter but one) and at most a chunk (the last): every variant
    walks an index in user id order and stops at the chunk, never the whole community."""
    community_id = audience.community_ids[position]
    if audience.kind == "committee":
        sql = ("SELECT u.id, u.language FROM committee_members c"
               " JOIN memberships m ON m.community_id = ? AND m.user_id = c.user_id"
               " JOIN users u ON u.id = c.user_id"
               " WHERE c.committee_id = ? AND c.removed_at IS NULL AND u.reachable = 1"
               " AND c.user_id > ? ORDER BY c.user_id LIMIT ?")
        return sql, [community_id, audience.ref]
    sql = ("SELECT u.id, u.language FROM memberships m JOIN users u ON u.id = m.user_id"
           " WHERE m.community_id = ? AND u.reachable = 1")
    params: list[Any] = [community_id]
    if audience.kind == "group":
        sql += " AND m.stakeholder_group = ?"
        params.append(audience.ref)
    elif audience.kind == "novote":
        table = _VOTE_TABLE[audience.method or "stickers"]
        sql += (f" AND NOT EXISTS (SELECT 1 FROM {table} v WHERE v.prioritisation_id = ?"
                " AND v.user_id = m.user_id)")
        params.append(audience.ref)
    elif audience.kind == "noballot":
        sql += (" AND NOT EXISTS (SELECT 1 FROM election_voters v WHERE v.election_id = ?"
                " AND v.user_id = m.user_id)")
        params.append(audience.ref)
    elif audience.kind == "nosurvey":
        sql += (" AND NOT EXISTS (SELECT 1 FROM survey_participants v WHERE v.survey_id = ?"
                " AND v.user_id = m.user_id)")
        params.append(audience.ref)
    elif audience.kind != "all":
        raise ValueError(f"unknown audience kind {audience.kind!r}")
    if position:
        sql += (" AND NOT EXISTS (SELECT 1 FROM memberships e WHERE e.user_id = m.user_id"
                " AND e.community_id IN (SELECT value FROM json_each(?)))")
        params.append(json.dumps(list(audience.community_ids[:position])))
    return sql + " AND m.user_id > ? ORDER BY m.user_id LIMIT ?", params


async def recipient_chunk(db: Database, audience: Audience, position: int, after: int,
                          size: int | None = None) -> list[Recipient]:
    """Up to ``size`` (a chunk) recipients in the ``position``-th community with ids above
    ``after``."""
    sql, params = _chunk_query(audience, position)
    rows = await db.fetchall(sql, [*params, after, CHUNK if size is None else size])
    return [Recipient(r["id"], r["language"]) for r in rows]


async def recipients(db: Database, audience: Audience) -> list[Recipient]:
    """Every recipient, read chunk by chunk (the connection is free between chunks)."""
    found: list[Recipient] = []
    for position in range(len(audience.community_ids)):
        after = 0
        while chunk := await recipient_chunk(db, audience, position, after):
            found += chunk
            after = chunk[-1].id
            if len(chunk) < CHUNK:
                break
    return found


async def anyone_in(db: Database, audience: Audience) -> bool:
    """Whether the audience reaches anybody (one row, not the list)."""
    for position in range(len(audience.community_ids)):
        if await recipient_chunk(db, audience, position, 0, 1):
            return True
    return False


async def by_language(db: Database, audience: Audience) -> dict[str, int]:
    """How many recipients read each language (read in chunks, as :func:`recipients`)."""
    counts: dict[str, int] = {}
    for person in await recipients(db, audience):
        counts[person.language] = counts.get(person.language, 0) + 1
    return counts


async def begin_broadcast(db: Database, community_id: int, created_by: int, audience: str,
                          texts: dict[str, str], first: str, photo: str | None, *,
                          paid: bool, start_in: int) -> Broadcast:
    """The broadcast, its texts, and nothing queued yet (``queued_in`` = ``start_in``):
    :func:`queue_chunk` then fills the outbox a chunk at a time, and a restart resumes."""
    async with db.transaction():
        broadcast_id = await db.execute(
            "INSERT INTO broadcasts (community_id, created_by, audience, photo, created_at,"
            " paid, first_lang, queued_in, queued_upto) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (community_id, created_by, audience, photo, to_db(utcnow()), int(paid), first,
             start_in))
        for lang, text in texts.items():
            await db.execute(
                "INSERT INTO broadcast_texts (broadcast_id, lang, text) VALUES (?, ?, ?)",
                (broadcast_id, lang, text))
    broadcast = await get_broadcast(db, broadcast_id)
    assert broadcast is not None
    return broadcast


@dataclass(frozen=True, slots=True)
class Queuing:
    """A broadcast whose outbox rows are still being written (after a restart too)."""

    broadcast: Broadcast
    texts: dict[str, str]
    first: str
    paid: bool
    queued_in: int
    queued_upto: int


async def queuing(db: Database) -> list[Queuing]:
    """Broadcasts not yet fully queued (a restart came in between): to resume."""
    rows = await db.fetchall("SELECT * FROM broadcasts WHERE queued_in IS NOT NULL")
    found = []
    for row in rows:
        texts = {r["lang"]: r["text"] for r in await db.fetchall(
            "SELECT lang, text FROM broadcast_texts WHERE broadcast_id = ?", (row["id"],))}
        found.append(Queuing(_broadcast(row), texts, row["first_lang"] or next(iter(texts)),
                             bool(row["paid"]), row["queued_in"], row["queued_upto"] or 0))
    return found


async def queue_chunk(db: Database, broadcast: Broadcast, audience: Audience, position: int,
                      after: int, text_for: Mapping[str, str], fallback: str) -> int | None:
    """Queue the next chunk of recipients (``text_for[language]``, else ``fallback``) in
    one short transaction that also moves the broadcast's cursor; returns the last user id
    queued, or None when this community is done or the broadcast was cancelled meanwhile."""
    async with db.transaction():
        status = await db.fetchval("SELECT status FROM broadcasts WHERE id = ?",
                                   (broadcast.id,))
        if status != "sending":
            await db.execute("UPDATE broadcasts SET queued_in = NULL, queued_upto = NULL"
                             " WHERE id = ?", (broadcast.id,))
            return None
        chunk = await recipient_chunk(db, audience, position, after)
        now = to_db(utcnow())
        paid = await db.fetchval("SELECT paid FROM broadcasts WHERE id = ?", (broadcast.id,))
        await db.executemany(_INSERT, [
            (broadcast.id, p.id, p.id, text_for.get(p.language, fallback), broadcast.photo,
             None, paid, now, None, now) for p in chunk])
        if len(chunk) < CHUNK:
            following = (audience.community_ids[position + 1]
                         if position + 1 < len(audience.community_ids) else None)
            await db.execute("UPDATE broadcasts SET queued_in = ?, queued_upto = ?"
                             " WHERE id = ?",
                             (following, None if following is None else 0, broadcast.id))
            return None
        await db.execute("UPDATE broadcasts SET queued_upto = ? WHERE id = ?",
                         (chunk[-1].id, broadcast.id))
        return chunk[-1].id


async def is_cancelled(db: Database, broadcast_id: int) -> bool:
    return bool(await db.fetchval("SELECT status = 'cancelled' FROM broadcasts WHERE id = ?",
                                  (broadcast_id,)))


async def stop_queuing(db: Database, broadcast_id: int) -> None:
    """Queue no more rows for this broadcast (its audience is gone): what is in goes."""
    await db.execute("UPDATE broadcasts SET queued_in = NULL, queued_upto = NULL WHERE id = ?",
                     (broadcast_id,))


async def queued(db: Database, broadcast_id: int) -> int:
    """How many outbox rows the broadcast has."""
    return int(await db.fetchval("SELECT COUNT(*) FROM outbox WHERE broadcast_id = ?",
                                 (broadcast_id,)))


async def get_broadcast(db: Database, broadcast_id: int) -> Broadcast | None:
    row = await db.fetchone("SELECT * FROM broadcasts WHERE id = ?", (broadcast_id,))
    return None if row is None else _broadcast(row)


async def set_progress_message(db: Database, broadcast_id: int, chat_id: int,
                               message_id: int) -> None:
    await db.execute(
        "UPDATE broadcasts SET progress_chat_id = ?, progress_message_id = ? WHERE id = ?",
        (chat_id, message_id, broadcast_id))


async def progress(db: Database, broadcast_id: int) -> Progress:
    rows = await db.fetchall(
        "SELECT state, COUNT(*) AS n FROM outbox WHERE broadcast_id = ? GROUP BY state",
        (broadcast_id,))
    counts = {r["state"]: r["n"] for r in rows}
    return Progress(sent=counts.get("sent", 0), failed=counts.get("failed", 0),
                    left=counts.get("pending", 0) + counts.get("sending", 0),
                    cancelled=counts.get("cancelled", 0))


async def cancel(db: Database, broadcast_id: int) -> int:
    """Stop a broadcast: rows not yet claimed are cancelled; returns how many."""
    async with db.transaction():
        cancelled = await db.execute_rowcount(
            "UPDATE outbox SET state = 'cancelled' WHERE broadcast_id = ? AND state = 'pending'",
            (broadcast_id,))
        await db.execute(
            "UPDATE broadcasts SET status = 'cancelled', finished_at = ? WHERE id = ?"
            " AND status = 'sending'", (to_db(utcnow()), broadcast_id))
    return cancelled


async def finish_if_done(db: Database, broadcast_id: int) -> bool:
    """Mark a broadcast done once nothing is left to send; True if it changed now."""
    return await db.execute_rowcount(
        "UPDATE broadcasts SET status = 'done', finished_at = ? WHERE id = ?"
        " AND status = 'sending' AND queued_in IS NULL AND NOT EXISTS (SELECT 1 FROM outbox"
        " WHERE broadcast_id = ? AND state IN ('pending', 'sending'))",
        (to_db(utcnow()), broadcast_id, broadcast_id)) == 1


async def unfinished_broadcasts(db: Database) -> list[Broadcast]:
    rows = await db.fetchall("SELECT * FROM broadcasts WHERE status = 'sending'")
    return [_broadcast(r) for r in rows]


# -- notices that may be withdrawn ---------------------------------------------------------


def _keyed(prefix: str) -> tuple[str, tuple[str, str]]:
    """Rows whose dedupe key starts with ``prefix``: a range of the unique index on it."""
    return "dedupe >= ? AND dedupe < ?", (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1))


async def withdraw(db: Database, prefixes: Sequence[str]) -> bool:
    """Delete the queued notices whose keys start with one of ``prefixes`` — only if none
    of them has been sent or is being sent (then nothing changes and this is False).

    Deleted, not cancelled: a notice under the same key may be queued again later (a vote
    closed, reopened and closed again announces its result once, then).
    """
    async with db.transaction():
        for prefix in prefixes:
            where, bounds = _keyed(prefix)
            if await db.fetchval(f"SELECT COUNT(*) FROM outbox WHERE {where}"
                                 " AND state <> 'pending'", bounds):
                return False
        for prefix in prefixes:
            where, bounds = _keyed(prefix)
            await db.execute(f"DELETE FROM outbox WHERE {where} AND state = 'pending'", bounds)
    return True


async def release(db: Database, prefixes: Sequence[str], due_at: datetime | None) -> int:
    """Queued notices under ``prefixes`` that waited for a moment go at ``due_at`` (None:
    now) instead; returns how many."""
    due = to_db(due_at or utcnow())
    released = 0
    for prefix in prefixes:
        where, bounds = _keyed(prefix)
        released += await db.execute_rowcount(
            f"UPDATE outbox SET due_at = ? WHERE {where} AND state = 'pending' AND due_at > ?",
            (due, *bounds, due))
    return released


# -- pictures ------------------------------------------------------------------------------

FILE_PREFIX = "file:"


async def store_file(db: Database, data: bytes) -> str:
    """Keep a picture for queued messages; returns the reference to put in ``photo``."""
    file_id = await db.execute("INSERT INTO outbox_files (data) VALUES (?)", (data,))
    return f"{FILE_PREFIX}{file_id}"


async def stored_file(db: Database, reference: str) -> tuple[bytes, str | None] | None:
    """The picture's bytes and, once uploaded, Telegram's file id for it."""
    row = await db.fetchone("SELECT data, file_id FROM outbox_files WHERE id = ?",
                            (int(reference.removeprefix(FILE_PREFIX)),))
    return None if row is None else (bytes(row["data"]), row["file_id"])


async def uploaded(db: Database, reference: str, file_id: str) -> None:
    await db.execute("UPDATE outbox_files SET file_id = ? WHERE id = ?",
                     (file_id, int(reference.removeprefix(FILE_PREFIX))))


# -- the worker's side ---------------------------------------------------------------------


_CANCELLED = "broadcast_id IN (SELECT id FROM broadcasts WHERE status = 'cancelled')"


async def recover(db: Database, *, wait: float = 2.0) -> int:
    """At start: rows in flight when the process stopped are due again (at-least-once),
    except those of a broadcast cancelled meanwhile.

    They wait ``wait`` seconds first: a row in flight may have reached its chat just before
    the stop, and sending it again at once would break the one-a-second-per-chat limit.
    """
    due = to_db(utcnow() + timedelta(seconds=wait))
    async with db.transaction():
        await db.execute(
            f"UPDATE outbox SET state = 'cancelled' WHERE state IN ('sending', 'pending')"
            f" AND {_CANCELLED}")
        return await db.execute_rowcount(
            "UPDATE outbox SET state = 'pending', due_at = MAX(due_at, ?)"
            " WHERE state = 'sending'", (due,))


async def claim(db: Database, limit: int, now: datetime | None = None) -> list[Outgoing]:
    """Take up to ``limit`` due rows, oldest first, marking them "sending" in one transaction."""
    async with db.transaction():
        rows = await db.fetchall(
            "SELECT * FROM outbox WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id"
            " LIMIT ?", (to_db(now or datetime.now(UTC)), limit))
        if rows:
            await db.execute(
                f"UPDATE outbox SET state = 'sending' WHERE id IN ({','.join('?' * len(rows))})",
                [r["id"] for r in rows])
    return [_outgoing(r) for r in rows]


async def next_due(db: Database) -> datetime | None:
    due: str | None = await db.fetchval(
        "SELECT MIN(due_at) FROM outbox WHERE state = 'pending'")
    return from_db(due)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed row."""

    id: int
    state: str  # sent, failed, cancelled, pending (retry)
    error: str | None = None
    due_at: datetime | None = None  # for a retry


async def record(db: Database, outcomes: Sequence[Outcome]) -> None:
    """Write a batch of outcomes in one transaction (the worker's group commit)."""
    now = to_db(utcnow())
    statements: list[tuple[str, tuple[Any, ...]]] = []
    for o in outcomes:
        if o.state == "sent":
            statements.append(("UPDATE outbox SET state = 'sent', sent_at = ?,"
                               " attempts = attempts + 1 WHERE id = ?", (now, o.id)))
        elif o.state == "cancelled":
            statements.append(("UPDATE outbox SET state = 'cancelled' WHERE id = ?", (o.id,)))
        elif o.state == "failed":
            statements.append(("UPDATE outbox SET state = 'failed', error = ?,"
                               " attempts = attempts + 1 WHERE id = ?", (o.error, o.id)))
        else:
            # Not sent: due again later, unless cancelled meanwhile.
            statements.append(("UPDATE outbox SET state = 'pending', error = ?, due_at = ?,"
                               " attempts = attempts + 1 WHERE id = ? AND state = 'sending'",
                               (o.error, to_db(o.due_at or utcnow()), o.id)))
    await db.execute_each(statements)


# -- personal data -------------------------------------------------------------------------


async def _personal(db: Database, user_id: int) -> dict[str, Any]:
    rows = await db.fetchall(
        "SELECT text, state, created_at, sent_at FROM outbox WHERE user_id = ?"
        " ORDER BY id DESC LIMIT 200", (user_id,))
    return {"messages_to_you (latest 200)": [dict(r) for r in rows]}


personal.register("broadcast", _personal)
