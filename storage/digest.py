"""Committee digest settings and the changes a digest reports: SQL only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import aiosqlite

from storage.db import Database, from_db, to_db, utcnow


@dataclass(frozen=True, slots=True)
class Digest:
    committee_id: int
    frequency: str  # daily or weekly
    hour: int
    weekday: int
    to_chat: bool
    since: datetime
    last_period: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One line of a digest's raw material: what, about whom or what, and a number."""

    kind: str
    name: str
    detail: str | None = None
    count: int = 0


def _digest(row: aiosqlite.Row) -> Digest:
    since = from_db(row["since"])
    assert since is not None  # NOT NULL in the schema
    return Digest(committee_id=row["committee_id"], frequency=row["frequency"],
                  hour=row["hour"], weekday=row["weekday"], to_chat=bool(row["to_chat"]),
                  since=since,
                  last_period=row["last_period"])


async def get(db: Database, committee_id: int) -> Digest | None:
    row = await db.fetchone("SELECT * FROM digests WHERE committee_id = ?", (committee_id,))
    return None if row is None else _digest(row)


async def all_digests(db: Database) -> list[Digest]:
    return [_digest(r) for r in await db.fetchall("SELECT * FROM digests")]


async def configure(db: Database, committee_id: int, *, frequency: str, hour: int,
                    weekday: int, to_chat: bool, since: datetime, period: str) -> None:
    """Create or change a digest; the current period counts as handled (no instant digest)."""
    await db.execute(
        "INSERT INTO digests (committee_id, frequency, hour, weekday, to_chat, since,"
        " last_period) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (committee_id) DO UPDATE SET"
        " frequency = excluded.frequency, hour = excluded.hour, weekday = excluded.weekday,"
        " to_chat = excluded.to_chat, last_period = excluded.last_period",
        (committee_id, frequency, hour, weekday, int(to_chat), to_db(since), period))


async def remove(db: Database, committee_id: int) -> None:
    await db.execute("DELETE FROM digests WHERE committee_id = ?", (committee_id,))


async def handled(db: Database, committee_id: int, period: str, *,
                  sent_at: datetime | None) -> bool:
    """Record that ``period`` is done (once); ``sent_at`` moves the window if one went out."""
    if sent_at is None:
        changed = await db.execute_rowcount(
            "UPDATE digests SET last_period = ? WHERE committee_id = ?"
            " AND COALESCE(last_period, '') <> ?", (period, committee_id, period))
    else:
        changed = await db.execute_rowcount(
            "UPDATE digests SET last_period = ?, since = ? WHERE committee_id = ?"
            " AND COALESCE(last_period, '') <> ?",
            (period, to_db(sent_at), committee_id, period))
    return changed == 1


# -- what changed ----------------------------------------------------------------------------


async def changes(db: Database, community_id: int, committee_id: int,
                  since: datetime, today: date | None = None) -> list[Change]:
    """Everything a committee hears about since ``since``, oldest first within each kind
    (and the tasks overdue on ``today``, the community's date)."""
    today = today or utcnow().date()
    after = to_db(since)
    found: list[Change] = []
    for r in await db.fetchall(
            "SELECT title FROM prioritisations WHERE community_id = ? AND created_at > ?"
            " ORDER BY id", (community_id, after)):
        found.append(Change("vote_opened", r["title"]))
    for r in await db.fetchall(
            # The counts the stickers' triggers keep (0017_scale.sql), not the stickers.
            "SELECT p.id, p.title, (SELECT v.title FROM vote_problems v LEFT JOIN"
            " sticker_tally s ON s.problem_id = v.id WHERE v.prioritisation_id = p.id"
            " ORDER BY COALESCE(s.stickers, 0) + v.offline DESC, v.position LIMIT 1) AS leader,"
            " (SELECT voters FROM sticker_totals t WHERE t.prioritisation_id = p.id)"
            " AS voters FROM prioritisations p WHERE p.community_id = ? AND p.status = 'open'"
            " AND p.method = 'stickers' ORDER BY p.id", (community_id,)):
        if r["voters"]:
            found.append(Change("vote_standing", r["title"], r["leader"], r["voters"]))
    for r in await db.fetchall(
            "SELECT title FROM prioritisations WHERE community_id = ? AND closed_at > ?"
            " ORDER BY id", (community_id, after)):
        found.append(Change("vote_closed", r["title"]))
    for r in await db.fetchall(
            "SELECT name FROM elections WHERE community_id = ? AND closed_at > ? ORDER BY id",
            (community_id, after)):
        found.append(Change("election_closed", r["name"]))
    for r in await db.fetchall(
            "SELECT u.first_name, u.last_name, m.added_at > ? AS joined FROM committee_members m"
            " JOIN users u ON u.id = m.user_id WHERE m.committee_id = ?"
            " AND (m.added_at > ? OR m.removed_at > ?) ORDER BY m.added_at",
            (after, committee_id, after, after)):
        name = " ".join(p for p in (r["first_name"], r["last_name"]) if p)
        found.append(Change("member_joined" if r["joined"] else "member_left", name))
    for r in await db.fetchall(
            # Per group, a range of the (community, group, joined_at) index: the community's
            # 100,000 memberships are not read to find a week's newcomers.
            "SELECT g AS stakeholder_group, n FROM (SELECT k.key AS g, k.position AS pos,"
            " (SELECT COUNT(*) FROM memberships m WHERE m.community_id = ?"
            " AND m.stakeholder_group = k.key AND m.joined_at > ?) AS n"
            " FROM stakeholder_groups k WHERE k.community_id = ?"
            " UNION ALL SELECT NULL, -1, (SELECT COUNT(*) FROM memberships m"
            " WHERE m.community_id = ? AND m.stakeholder_group IS NULL AND m.joined_at > ?))"
            " WHERE n > 0 ORDER BY n DESC, pos",
            (community_id, after, community_id, community_id, after)):
        found.append(Change("new_members", r["stakeholder_group"] or "", count=r["n"]))
    for r in await db.fetchall(
            "SELECT b.prompt, COUNT(*) AS n FROM problem_cards c JOIN brainstorms b"
            " ON b.id = c.brainstorm_id WHERE b.community_id = ? AND c.created_at > ?"
            " GROUP BY b.id ORDER BY b.id", (community_id, after)):
        found.append(Change("new_problems", r["prompt"], count=r["n"]))
    for r in await db.fetchall(
            "SELECT p.problem, COUNT(*) AS n FROM tree_items t JOIN plans p ON p.id = t.plan_id"
            " WHERE p.community_id = ? AND t.status = 'proposed' AND t.created_at > ?"
            " GROUP BY p.id ORDER BY p.id", (community_id, after)):
        found.append(Change("tree_proposals", r["problem"], count=r["n"]))
    for r in await db.fetchall(
            "SELECT t.title, t.status, t.progress FROM tasks t JOIN plans p ON p.id = t.plan_id"
            " WHERE p.community_id = ? AND EXISTS (SELECT 1 FROM task_log l"
            " WHERE l.task_id = t.id AND l.at > ?) ORDER BY t.due_on, t.id",
            (community_id, after)):
        found.append(Change("task_changed", r["title"], r["status"], r["progress"]))
    for r in await db.fetchall(
            "SELECT i.name, i.unit, r.value FROM readings r JOIN indicators i"
            " ON i.id = r.indicator_id JOIN plans p ON p.id = i.plan_id"
            " WHERE p.community_id = ? AND r.at > ? ORDER BY r.id", (community_id, after)):
        found.append(Change("indicator_reading", r["name"], f"{r['value']:g} {r['unit']}"))
    for r in await db.fetchall(
            "SELECT t.title, t.due_on FROM tasks t JOIN plans p ON p.id = t.plan_id"
            " WHERE p.community_id = ? AND p.status = 'active' AND t.status <> 'done'"
            " AND t.due_on < ? ORDER BY t.due_on", (community_id, today.isoformat())):
        found.append(Change("task_overdue", r["title"], r["due_on"]))
    return found
