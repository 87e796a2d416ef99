"""The participation cycle: cycles, their steps, links, marks by hand, offers — SQL only.

Also the few counts a cycle's summary needs from other capabilities' tables (a plan's tree,
tasks and readings; the resource map) and what is open for one member (surveys, votes,
elections, tasks, a brainstorm), each one indexed query rather than whole lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import aiosqlite

from storage import personal
from storage.db import Database, from_db, to_db, utcnow

STEPS = ("needs", "committee", "analysis", "resources", "plan", "monitoring", "evaluation")


@dataclass(frozen=True, slots=True)
class Cycle:
    id: int
    community_id: int
    number: int
    steps: tuple[str, ...]  # the steps used, in seed 001's order
    started_at: datetime
    ended_at: datetime | None
    problem: str | None  # the most pressing problem step 1 led to
    problem_vote: int | None
    problem_score: float | None
    problem_method: str | None
    problem_tied: int  # how many had tied for first (0: a clear winner)


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    status: str  # not_started | under_way | done
    started_at: datetime | None
    done_at: datetime | None
    by_hand: bool


@dataclass(frozen=True, slots=True)
class Mark:
    id: int
    cycle_id: int
    step: str
    status: str
    before: Step
    by_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Offer:
    id: int
    community_id: int
    cycle_id: int
    kind: str  # plan | tie | vote | cycle
    subject: int  # the vote, brainstorm round or plan it follows
    payload: dict[str, Any]
    sent_at: datetime | None
    taken_at: datetime | None
    taken_by: int | None  # None once taken: done another way (a vote or plan set up by hand)
    result: int | None


def _cycle(row: aiosqlite.Row) -> Cycle:
    return Cycle(id=row["id"], community_id=row["community_id"], number=row["number"],
                 steps=tuple(s for s in row["steps"].split(",") if s),
                 started_at=from_db(row["started_at"]), ended_at=from_db(row["ended_at"]),
                 problem=row["problem"], problem_vote=row["problem_vote"],
                 problem_score=row["problem_score"], problem_method=row["problem_method"],
                 problem_tied=row["problem_tied"])


def _step(row: aiosqlite.Row) -> Step:
    return Step(key=row["step"], status=row["status"], started_at=from_db(row["started_at"]),
                done_at=from_db(row["done_at"]), by_hand=bool(row["by_hand"]))


def _offer(row: aiosqlite.Row) -> Offer:
    return Offer(id=row["id"], community_id=row["community_id"], cycle_id=row["cycle_id"],
                 kind=row["kind"], subject=row["subject"], payload=json.loads(row["payload"]),
                 sent_at=from_db(row["sent_at"]), taken_at=from_db(row["taken_at"]),
                 taken_by=row["taken_by"], result=row["result"])


# -- cycles and steps --------------------------------------------------------------------------


async def latest_cycle(db: Database, community_id: int) -> Cycle | None:
    row = await db.fetchone("SELECT * FROM process_cycles WHERE community_id = ?"
                            " ORDER BY number DESC LIMIT 1", (community_id,))
    return None if row is None else _cycle(row)


async def cycle_numbered(db: Database, community_id: int, number: int) -> Cycle | None:
    row = await db.fetchone("SELECT * FROM process_cycles WHERE community_id = ?"
                            " AND number = ?", (community_id, number))
    return None if row is None else _cycle(row)


async def get_cycle(db: Database, cycle_id: int) -> Cycle | None:
    row = await db.fetchone("SELECT * FROM process_cycles WHERE id = ?", (cycle_id,))
    return None if row is None else _cycle(row)


async def numbers(db: Database, community_id: int) -> list[int]:
    """The community's cycles, oldest first."""
    return [r["number"] for r in await db.fetchall(
        "SELECT number FROM process_cycles WHERE community_id = ? ORDER BY number",
        (community_id,))]


async def begin_cycle(db: Database, community_id: int, steps: tuple[str, ...]) -> Cycle:
    """The community's next cycle, every step not started; the one before ends now."""
    now = to_db(utcnow())
    async with db.transaction():
        number = int(await db.fetchval(
            "SELECT COALESCE(MAX(number), 0) FROM process_cycles WHERE community_id = ?",
            (community_id,))) + 1
        await db.execute("UPDATE process_cycles SET ended_at = ? WHERE community_id = ?"
                         " AND ended_at IS NULL", (now, community_id))
        cycle_id = await db.execute(
            "INSERT INTO process_cycles (community_id, number, steps, started_at)"
            " VALUES (?, ?, ?, ?)", (community_id, number, ",".join(steps), now))
        await db.executemany("INSERT INTO process_steps (cycle_id, step) VALUES (?, ?)",
                             [(cycle_id, step) for step in STEPS])
    cycle = await get_cycle(db, cycle_id)
    assert cycle is not None
    return cycle


async def steps(db: Database, cycle_id: int) -> dict[str, Step]:
    """Every step of the cycle (used or not), by key."""
    return {r["step"]: _step(r) for r in await db.fetchall(
        "SELECT * FROM process_steps WHERE cycle_id = ?", (cycle_id,))}


async def set_step(db: Database, cycle_id: int, step: Step) -> None:
    await db.execute(
        "UPDATE process_steps SET status = ?, started_at = ?, done_at = ?, by_hand = ?"
        " WHERE cycle_id = ? AND step = ?",
        (step.status, to_db(step.started_at), to_db(step.done_at), int(step.by_hand),
         cycle_id, step.key))


async def set_steps_used(db: Database, cycle_id: int, used: tuple[str, ...]) -> None:
    await db.execute("UPDATE process_cycles SET steps = ? WHERE id = ?",
                     (",".join(used), cycle_id))


async def set_problem(db: Database, cycle_id: int, *, problem: str, vote: int | None,
                      score: float, method: str, tied: int) -> None:
    await db.execute(
        "UPDATE process_cycles SET problem = ?, problem_vote = ?, problem_score = ?,"
        " problem_method = ?, problem_tied = ? WHERE id = ?",
        (problem, vote, score, method, tied, cycle_id))


# -- links ---------------------------------------------------------------------------------


async def link(db: Database, cycle_id: int, kind: str, object_id: int) -> None:
    """``object_id`` belongs to the cycle (the first cycle it was seen in keeps it)."""
    await db.execute("INSERT OR IGNORE INTO process_links (cycle_id, kind, object_id, at)"
                     " VALUES (?, ?, ?, ?)", (cycle_id, kind, object_id, to_db(utcnow())))


async def linked_cycle(db: Database, kind: str, object_id: int) -> int | None:
    value = await db.fetchval("SELECT cycle_id FROM process_links WHERE kind = ?"
                              " AND object_id = ?", (kind, object_id))
    return None if value is None else int(value)


async def links(db: Database, cycle_id: int, kind: str) -> list[int]:
    """The cycle's objects of one kind, oldest first."""
    return [r["object_id"] for r in await db.fetchall(
        "SELECT object_id FROM process_links WHERE cycle_id = ? AND kind = ?"
        " ORDER BY at, object_id", (cycle_id, kind))]


# -- marks by hand ---------------------------------------------------------------------------


async def add_mark(db: Database, cycle_id: int, status: str, before: Step,
                   by_id: int) -> int:
    return await db.execute(
        "INSERT INTO process_marks (cycle_id, step, status, before_status, before_started,"
        " before_done, before_by_hand, by_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (cycle_id, before.key, status, before.status, to_db(before.started_at),
         to_db(before.done_at), int(before.by_hand), by_id, to_db(utcnow())))


async def last_mark(db: Database, cycle_id: int) -> Mark | None:
    """The cycle's latest mark not yet undone."""
    row = await db.fetchone("SELECT * FROM process_marks WHERE cycle_id = ?"
                            " AND undone_at IS NULL ORDER BY id DESC LIMIT 1", (cycle_id,))
    if row is None:
        return None
    before = Step(key=row["step"], status=row["before_status"],
                  started_at=from_db(row["before_started"]),
                  done_at=from_db(row["before_done"]), by_hand=bool(row["before_by_hand"]))
    return Mark(id=row["id"], cycle_id=row["cycle_id"], step=row["step"],
                status=row["status"], before=before, by_id=row["by_id"],
                at=from_db(row["at"]))


async def undo_mark(db: Database, mark: Mark) -> bool:
    """The step back as it was before the mark; False if it was undone already."""
    async with db.transaction():
        if not await db.execute_rowcount(
                "UPDATE process_marks SET undone_at = ? WHERE id = ? AND undone_at IS NULL",
                (to_db(utcnow()), mark.id)):
            return False
        await set_step(db, mark.cycle_id, mark.before)
    return True


# -- offers ------------------------------------------------------------------------------------


async def add_offer(db: Database, community_id: int, cycle_id: int, kind: str, subject: int,
                    payload: dict[str, Any], *, sent: bool = False) -> Offer | None:
    """A new offer; None if this kind was offered for this subject already."""
    now = to_db(utcnow())
    if not await db.execute_rowcount(
            "INSERT OR IGNORE INTO process_offers (community_id, cycle_id, kind, subject,"
            " payload, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (community_id, cycle_id, kind, subject, json.dumps(payload, ensure_ascii=False),
             now, now if sent else None)):
        return None
    return await offer_for(db, kind, subject)


async def get_offer(db: Database, offer_id: int) -> Offer | None:
    row = await db.fetchone("SELECT * FROM process_offers WHERE id = ?", (offer_id,))
    return None if row is None else _offer(row)


async def offer_for(db: Database, kind: str, subject: int) -> Offer | None:
    row = await db.fetchone("SELECT * FROM process_offers WHERE kind = ? AND subject = ?",
                            (kind, subject))
    return None if row is None else _offer(row)


async def unsent_offers(db: Database) -> list[Offer]:
    return [_offer(r) for r in await db.fetchall(
        "SELECT * FROM process_offers WHERE sent_at IS NULL ORDER BY id")]


async def offer_sent(db: Database, offer_id: int) -> None:
    await db.execute("UPDATE process_offers SET sent_at = ? WHERE id = ? AND sent_at IS NULL",
                     (to_db(utcnow()), offer_id))


async def open_offer(db: Database, cycle_id: int) -> Offer | None:
    """The cycle's newest offer nobody has taken yet."""
    row = await db.fetchone("SELECT * FROM process_offers WHERE cycle_id = ?"
                            " AND taken_at IS NULL ORDER BY id DESC LIMIT 1", (cycle_id,))
    return None if row is None else _offer(row)


async def take_offer(db: Database, offer_id: int, user_id: int, result: int | None) -> None:
    await db.execute("UPDATE process_offers SET taken_at = ?, taken_by = ?, result = ?"
                     " WHERE id = ?", (to_db(utcnow()), user_id, result, offer_id))


async def take_offers(db: Database, cycle_id: int, kind: str, result: int) -> None:
    """What the cycle's untaken offers of ``kind`` proposed was done another way."""
    await db.execute("UPDATE process_offers SET taken_at = ?, result = ? WHERE cycle_id = ?"
                     " AND kind = ? AND taken_at IS NULL", (to_db(utcnow()), result,
                                                            cycle_id, kind))


# -- the late joiner -------------------------------------------------------------------------


async def welcome_once(db: Database, community_id: int, user_id: int) -> bool:
    """True the first time only: this member is to be shown where the cycle stands."""
    return await db.execute_rowcount(
        "INSERT OR IGNORE INTO process_welcomed (community_id, user_id, at) VALUES (?, ?, ?)",
        (community_id, user_id, to_db(utcnow()))) == 1


# -- what other capabilities' tables say --------------------------------------------------------


async def survey_status(db: Database, survey_id: int) -> str | None:
    value = await db.fetchval("SELECT status FROM surveys WHERE id = ?", (survey_id,))
    return None if value is None else str(value)


async def shortlist(db: Database, round_id: int) -> list[str]:
    """A brainstorm round's shortlisted cards, best supported first."""
    rows = await db.fetchall(
        "SELECT c.text FROM problem_cards c WHERE c.brainstorm_id = ? AND c.status = 'visible'"
        " AND c.shortlisted = 1 ORDER BY (SELECT COUNT(*) FROM card_supporters s"
        " JOIN problem_cards m ON m.id = s.card_id WHERE m.id = c.id OR m.merged_into = c.id)"
        " DESC, c.id", (round_id,))
    return [r["text"] for r in rows]


async def round_prompt(db: Database, round_id: int) -> str | None:
    value = await db.fetchval("SELECT prompt FROM brainstorms WHERE id = ?", (round_id,))
    return None if value is None else str(value)


async def plan_problem(db: Database, plan_id: int) -> tuple[str, str] | None:
    """The plan's problem and status."""
    row = await db.fetchone("SELECT problem, status FROM plans WHERE id = ?", (plan_id,))
    return None if row is None else (row["problem"], row["status"])


@dataclass(frozen=True, slots=True)
class PlanCounts:
    causes: int
    consequences: int
    tasks: int
    done: int
    working: int  # tasks with progress, or moved past "planned"
    progress: int  # the mean of the tasks' progress
    readings: int


async def plan_counts(db: Database, plan_id: int) -> PlanCounts:
    tree = await db.fetchone(
        "SELECT SUM(kind = 'cause') AS causes, SUM(kind = 'consequence') AS consequences"
        " FROM tree_items WHERE plan_id = ? AND status = 'accepted'", (plan_id,))
    tasks = await db.fetchone(
        "SELECT COUNT(*) AS n, SUM(status = 'done') AS done, SUM(progress > 0 OR status"
        " <> 'planned') AS working, AVG(progress) AS progress FROM tasks WHERE plan_id = ?",
        (plan_id,))
    readings = await db.fetchval(
        "SELECT COUNT(*) FROM readings r JOIN indicators i ON i.id = r.indicator_id"
        " WHERE i.plan_id = ?", (plan_id,))
    assert tree is not None and tasks is not None  # aggregates always return a row
    return PlanCounts(causes=tree["causes"] or 0, consequences=tree["consequences"] or 0,
                      tasks=tasks["n"], done=tasks["done"] or 0, working=tasks["working"] or 0,
                      progress=round(tasks["progress"] or 0), readings=int(readings or 0))


async def map_counts(db: Database, community_id: int) -> tuple[int, int]:
    """Resources offered and organisations listed in the community."""
    offered = await db.fetchval("SELECT COUNT(*) FROM resources WHERE community_id = ?",
                                (community_id,))
    listed = await db.fetchval("SELECT COUNT(*) FROM actors WHERE community_id = ?",
                               (community_id,))
    return int(offered or 0), int(listed or 0)


@dataclass(frozen=True, slots=True)
class Evaluated:
    reached: str
    rating: int
    next: list[str]


async def evaluation(db: Database, plan_id: int) -> Evaluated | None:
    row = await db.fetchone("SELECT reached, rating, next FROM evaluations WHERE plan_id = ?",
                            (plan_id,))
    return None if row is None else Evaluated(row["reached"], row["rating"],
                                              json.loads(row["next"]))


async def election_result(db: Database, election_id: int) -> tuple[str, int] | None:
    """A counted election's name and how many seats it filled."""
    row = await db.fetchone("SELECT name, status, result FROM elections WHERE id = ?",
                            (election_id,))
    if row is None:
        return None
    seats = len(json.loads(row["result"]).get("seats", [])) if row["result"] else 0
    return row["name"], seats


# -- what is open for one member ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Open:
    """Something a member may do now: answer, vote, nominate, report, add a problem."""

    kind: str  # survey | vote | nominate | ballot | accept | task | brainstorm
    id: int
    title: str  # a survey's title is JSON (one text per language)
    closes: datetime | None = None
    due: date | None = None


async def open_for(db: Database, community_id: int, user_id: int) -> list[Open]:
    found: list[Open] = []
    for r in await db.fetchall(
            "SELECT s.id, s.title, s.closes_at FROM surveys s WHERE s.community_id = ?"
            " AND s.status = 'open' AND NOT EXISTS (SELECT 1 FROM survey_participants p"
            " WHERE p.survey_id = s.id AND p.user_id = ?) ORDER BY s.id", (community_id, user_id)):
        found.append(Open("survey", r["id"], r["title"], from_db(r["closes_at"])))
    for r in await db.fetchall(
            "SELECT p.id, p.title, p.closes_at FROM prioritisations p WHERE p.community_id = ?"
            " AND p.status = 'open' AND NOT EXISTS (SELECT 1 FROM stickers s WHERE"
            " s.prioritisation_id = p.id AND s.user_id = ?) AND NOT EXISTS (SELECT 1 FROM"
            " comparisons c WHERE c.prioritisation_id = p.id AND c.user_id = ?) AND NOT EXISTS"
            " (SELECT 1 FROM ratings r WHERE r.prioritisation_id = p.id AND r.user_id = ?)"
            " ORDER BY p.id", (community_id, user_id, user_id, user_id)):
        found.append(Open("vote", r["id"], r["title"], from_db(r["closes_at"])))
    for r in await db.fetchall(
            "SELECT e.id, e.name, e.status, e.nominations_close_at, e.voting_close_at"
            " FROM elections e WHERE e.community_id = ? AND (e.status = 'nominating' OR"
            " (e.status = 'voting' AND NOT EXISTS (SELECT 1 FROM election_voters v"
            " WHERE v.election_id = e.id AND v.user_id = ?))) ORDER BY e.id",
            (community_id, user_id)):
        nominating = r["status"] == "nominating"
        found.append(Open("nominate" if nominating else "ballot", r["id"], r["name"],
                          from_db(r["nominations_close_at" if nominating
                                    else "voting_close_at"])))
    for r in await db.fetchall(
            "SELECT t.id, t.title, t.due_on, t.accepted FROM tasks t JOIN plans p"
            " ON p.id = t.plan_id WHERE t.responsible_id = ? AND p.community_id = ?"
            " AND p.status = 'active' AND t.status <> 'done' ORDER BY t.due_on, t.id",
            (user_id, community_id)):
        found.append(Open("accept" if r["accepted"] is None else "task", r["id"], r["title"],
                          due=date.fromisoformat(r["due_on"])))
    for r in await db.fetchall(
            "SELECT b.id, b.prompt FROM brainstorms b WHERE b.community_id = ?"
            " AND b.status = 'open' AND NOT EXISTS (SELECT 1 FROM problem_cards c"
            " WHERE c.brainstorm_id = b.id AND c.author_id = ?) AND NOT EXISTS"
            " (SELECT 1 FROM card_supporters s JOIN problem_cards c ON c.id = s.card_id"
            " WHERE c.brainstorm_id = b.id AND s.user_id = ?) ORDER BY b.id",
            (community_id, user_id, user_id)):
        found.append(Open("brainstorm", r["id"], r["prompt"]))
    return found


# -- personal data -----------------------------------------------------------------------------


async def _personal(db: Database, user_id: int) -> dict[str, Any]:
    marks = await db.fetchall("SELECT step, status, at FROM process_marks WHERE by_id = ?",
                              (user_id,))
    shown = await db.fetchall("SELECT community_id, at FROM process_welcomed"
                              " WHERE user_id = ?", (user_id,))
    return {"steps_marked_by_hand": [dict(r) for r in marks],
            "shown_the_cycle_after_joining": [dict(r) for r in shown]}


personal.register("process", _personal)
