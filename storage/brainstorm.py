"""Brainstorm rounds, problem cards, "me too" and curation with undo: SQL only."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from storage import personal
from storage.db import Database, from_db, to_db, utcnow

CARD_FIELDS = ("text", "status", "hidden_reason", "merged_into", "shortlisted")


@dataclass(frozen=True, slots=True)
class Brainstorm:
    id: int
    community_id: int
    prompt: str
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Card:
    id: int
    brainstorm_id: int
    author_id: int | None
    text: str
    photo: str | None
    status: str
    hidden_reason: str | None
    merged_into: int | None
    shortlisted: bool
    support: int  # distinct people: author, "me too"s, and those of cards merged into it


@dataclass(frozen=True, slots=True)
class Step:
    id: int
    action: str
    card_id: int
    before: dict[str, Any]


def _brainstorm(row: aiosqlite.Row) -> Brainstorm:
    created_at = from_db(row["created_at"])
    assert created_at is not None  # NOT NULL in the schema
    return Brainstorm(id=row["id"], community_id=row["community_id"], prompt=row["prompt"],
                      status=row["status"], created_at=created_at)


async def _round_cards(db: Database, round_id: int) -> list[Card]:
    """All cards of a round with their support: the distinct people behind each card and
    behind every card merged into it (also through merges of merges)."""
    rows = await db.fetchall("SELECT * FROM problem_cards WHERE brainstorm_id = ? ORDER BY id",
                             (round_id,))
    backing: dict[int, set[int]] = {r["id"]: ({r["author_id"]} if r["author_id"] else set())
                                    for r in rows}
    for r in await db.fetchall(
            "SELECT s.card_id, s.user_id FROM card_supporters s JOIN problem_cards c"
            " ON c.id = s.card_id WHERE c.brainstorm_id = ?", (round_id,)):
        backing[r["card_id"]].add(r["user_id"])
    into = {r["id"]: r["merged_into"] for r in rows if r["status"] == "merged"}
    total: dict[int, set[int]] = {card_id: set(people) for card_id, people in backing.items()}
    for card_id, people in backing.items():
        target, seen = into.get(card_id), {card_id}
        while target is not None and target not in seen:  # up the chain of merges
            total[target] |= people
            seen.add(target)
            target = into.get(target)
    return [Card(id=r["id"], brainstorm_id=r["brainstorm_id"], author_id=r["author_id"],
                 text=r["text"], photo=r["photo"], status=r["status"],
                 hidden_reason=r["hidden_reason"], merged_into=r["merged_into"],
                 shortlisted=bool(r["shortlisted"]), support=len(total[r["id"]]))
            for r in rows]


async def open_round(db: Database, community_id: int, prompt: str,
                     created_by: int) -> Brainstorm | None:
    """A new round, unless one is already open in the community (then None)."""
    async with db.transaction():
        if await db.fetchval("SELECT 1 FROM brainstorms WHERE community_id = ?"
                             " AND status = 'open'", (community_id,)):
            return None
        round_id = await db.execute(
            "INSERT INTO brainstorms (community_id, prompt, created_by, created_at)"
            " VALUES (?, ?, ?, ?)", (community_id, prompt, created_by, to_db(utcnow())))
    return await get_round(db, round_id)


async def get_round(db: Database, round_id: int) -> Brainstorm | None:
    row = await db.fetchone("SELECT * FROM brainstorms WHERE id = ?", (round_id,))
    return None if row is None else _brainstorm(row)


async def latest_round(db: Database, community_id: int) -> Brainstorm | None:
    """The open round, else the most recent one."""
    row = await db.fetchone(
        "SELECT * FROM brainstorms WHERE community_id = ?"
        " ORDER BY status = 'open' DESC, id DESC LIMIT 1", (community_id,))
    return None if row is None else _brainstorm(row)


async def close_round(db: Database, round_id: int) -> bool:
    return await db.execute_rowcount(
        "UPDATE brainstorms SET status = 'closed', closed_at = ? WHERE id = ?"
        " AND status = 'open'", (to_db(utcnow()), round_id)) == 1


async def add_card(db: Database, round_id: int, author_id: int, text: str,
                   photo: str | None) -> int:
    return await db.execute(
        "INSERT INTO problem_cards (brainstorm_id, author_id, text, photo, created_at)"
        " VALUES (?, ?, ?, ?, ?)", (round_id, author_id, text, photo, to_db(utcnow())))


async def submitted_since(db: Database, author_id: int, since: datetime) -> int:
    return int(await db.fetchval(
        "SELECT COUNT(*) FROM problem_cards WHERE author_id = ? AND created_at > ?",
        (author_id, to_db(since))) or 0)


async def get_card(db: Database, card_id: int) -> Card | None:
    round_id = await db.fetchval("SELECT brainstorm_id FROM problem_cards WHERE id = ?",
                                 (card_id,))
    if round_id is None:
        return None
    return next(c for c in await _round_cards(db, round_id) if c.id == card_id)


async def cards(db: Database, round_id: int, *, visible_only: bool = True,
                shortlisted: bool = False) -> list[Card]:
    """The round's cards, most supported first, then oldest."""
    found = [c for c in await _round_cards(db, round_id)
             if (not visible_only or c.status == "visible")
             and (not shortlisted or c.shortlisted)]
    return sorted(found, key=lambda c: (-c.support, c.id))


async def supporters(db: Database, card_id: int) -> set[int]:
    rows = await db.fetchall("SELECT user_id FROM card_supporters WHERE card_id = ?",
                             (card_id,))
    return {r["user_id"] for r in rows}


async def supported_by(db: Database, round_id: int, user_id: int) -> set[int]:
    """The cards of a round this person says "me too" to (one query for a whole board)."""
    rows = await db.fetchall(
        "SELECT s.card_id FROM card_supporters s JOIN problem_cards c ON c.id = s.card_id"
        " WHERE c.brainstorm_id = ? AND s.user_id = ?", (round_id, user_id))
    return {r["card_id"] for r in rows}


async def toggle_support(db: Database, card_id: int, user_id: int) -> bool:
    """Add or take back a "me too"; True if the person now supports the card."""
    async with db.transaction():
        removed = await db.execute_rowcount(
            "DELETE FROM card_supporters WHERE card_id = ? AND user_id = ?", (card_id, user_id))
        if removed:
            return False
        try:
            await db.execute("INSERT INTO card_supporters (card_id, user_id) VALUES (?, ?)",
                             (card_id, user_id))
        except sqlite3.IntegrityError:
            return True
        return True


# -- curation --------------------------------------------------------------------------------


async def curate(db: Database, card: Card, actor_id: int, action: str,
                 **changes: Any) -> None:
    """Change a card's fields and log what they were, in one transaction."""
    unknown = set(changes) - set(CARD_FIELDS)
    if unknown:
        raise ValueError(f"not card fields: {unknown}")
    before = {"text": card.text, "status": card.status, "hidden_reason": card.hidden_reason,
              "merged_into": card.merged_into, "shortlisted": int(card.shortlisted)}
    async with db.transaction():
        await db.execute(
            "INSERT INTO curation_log (brainstorm_id, actor_id, action, card_id, before, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (card.brainstorm_id, actor_id, action, card.id,
             json.dumps({k: before[k] for k in changes}, ensure_ascii=False),
             to_db(utcnow())))
        assignments = ", ".join(f"{field} = ?" for field in changes)
        await db.execute(f"UPDATE problem_cards SET {assignments} WHERE id = ?",
                         (*changes.values(), card.id))


async def last_step(db: Database, round_id: int) -> Step | None:
    row = await db.fetchone(
        "SELECT * FROM curation_log WHERE brainstorm_id = ? AND undone = 0"
        " ORDER BY id DESC LIMIT 1", (round_id,))
    return None if row is None else Step(row["id"], row["action"], row["card_id"],
                                         json.loads(row["before"]))


async def undo(db: Database, step: Step) -> bool:
    """Put the card's fields back as they were before ``step`` (once)."""
    async with db.transaction():
        if not await db.execute_rowcount(
                "UPDATE curation_log SET undone = 1 WHERE id = ? AND undone = 0", (step.id,)):
            return False
        fields = {k: v for k, v in step.before.items() if k in CARD_FIELDS}
        assignments = ", ".join(f"{field} = ?" for field in fields)
        await db.execute(f"UPDATE problem_cards SET {assignments} WHERE id = ?",
                         (*fields.values(), step.card_id))
    return True


# -- personal data ---------------------------------------------------------------------------


async def _personal(db: Database, user_id: int) -> dict[str, Any]:
    mine = await db.fetchall(
        "SELECT text, status, hidden_reason, created_at FROM problem_cards WHERE author_id = ?",
        (user_id,))
    backed = await db.fetchall(
        "SELECT c.text FROM card_supporters s JOIN problem_cards c ON c.id = s.card_id"
        " WHERE s.user_id = ?", (user_id,))
    return {"problems_submitted": [dict(r) for r in mine],
            "me_too": [r["text"] for r in backed]}


personal.register("brainstorm", _personal)
