"""Plans, problem trees, resources and actors, tasks with their log and updates, indicators
and readings, evaluations: SQL only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import aiosqlite

from storage import personal
from storage.db import Database, from_db, to_db, utcnow


@dataclass(frozen=True, slots=True)
class Plan:
    id: int
    community_id: int
    problem: str
    status: str  # active | evaluated
    created_by: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TreeItem:
    id: int
    plan_id: int
    kind: str  # cause | consequence
    text: str
    author_id: int | None
    status: str  # proposed | accepted | hidden
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class Resource:
    id: int
    user_id: int
    kind: str
    description: str


@dataclass(frozen=True, slots=True)
class Actor:
    id: int
    name: str
    sector: str
    role: str
    influence: int  # 1 low, 2 medium, 3 high


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    plan_id: int
    title: str
    responsible_id: int | None
    accepted: bool | None
    starts_on: date
    due_on: date
    status: str  # planned | in_progress | blocked | done
    progress: int


@dataclass(frozen=True, slots=True)
class Change:
    actor_id: int | None
    at: datetime
    changes: dict[str, list[Any]]  # field → [before, after]


@dataclass(frozen=True, slots=True)
class Update:
    id: int
    task_id: int
    author_id: int | None
    text: str
    progress: int
    photo: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Indicator:
    id: int
    plan_id: int
    task_id: int | None
    name: str
    unit: str
    baseline: float
    target: float
    direction: str  # up | down: which way is good


@dataclass(frozen=True, slots=True)
class Reading:
    value: float
    on_day: date
    source: str | None


@dataclass(frozen=True, slots=True)
class Evaluation:
    reached: str  # yes | partly | no
    rating: int
    worked: str
    next: list[str]
    at: datetime


def _plan(row: aiosqlite.Row) -> Plan:
    return Plan(id=row["id"], community_id=row["community_id"], problem=row["problem"],
                status=row["status"], created_by=row["created_by"],
                created_at=from_db(row["created_at"]))


def _task(row: aiosqlite.Row) -> Task:
    accepted = row["accepted"]
    return Task(id=row["id"], plan_id=row["plan_id"], title=row["title"],
                responsible_id=row["responsible_id"],
                accepted=None if accepted is None else bool(accepted),
                starts_on=date.fromisoformat(row["starts_on"]),
                due_on=date.fromisoformat(row["due_on"]), status=row["status"],
                progress=row["progress"])


def _indicator(row: aiosqlite.Row) -> Indicator:
    return Indicator(id=row["id"], plan_id=row["plan_id"], task_id=row["task_id"],
                     name=row["name"], unit=row["unit"], baseline=row["baseline"],
                     target=row["target"], direction=row["direction"])


# -- plans ---------------------------------------------------------------------------------


async def create_plan(db: Database, community_id: int, problem: str, created_by: int) -> Plan:
    plan_id = await db.execute(
        "INSERT INTO plans (community_id, problem, created_by, created_at) VALUES (?, ?, ?, ?)",
        (community_id, problem, created_by, to_db(utcnow())))
    plan = await get_plan(db, plan_id)
    assert plan is not None
    return plan


async def get_plan(db: Database, plan_id: int) -> Plan | None:
    row = await db.fetchone("SELECT * FROM plans WHERE id = ?", (plan_id,))
    return None if row is None else _plan(row)


async def plans(db: Database, community_id: int) -> list[Plan]:
    """Active plans first, newest first."""
    rows = await db.fetchall("SELECT * FROM plans WHERE community_id = ?"
                             " ORDER BY status = 'active' DESC, id DESC", (community_id,))
    return [_plan(r) for r in rows]


async def active_plans(db: Database) -> list[Plan]:
    """Every community's active plans (for the scheduler)."""
    return [_plan(r) for r in await db.fetchall("SELECT * FROM plans WHERE status = 'active'")]


async def set_plan_status(db: Database, plan_id: int, status: str) -> None:
    await db.execute("UPDATE plans SET status = ? WHERE id = ?", (status, plan_id))


async def follow(db: Database, plan_id: int, user_id: int) -> bool:
    """Toggle following; True when now following."""
    async with db.transaction():
        if await db.execute_rowcount("DELETE FROM plan_followers WHERE plan_id = ?"
                                     " AND user_id = ?", (plan_id, user_id)):
            return False
        await db.execute("INSERT INTO plan_followers (plan_id, user_id) VALUES (?, ?)",
                         (plan_id, user_id))
        return True


async def followers(db: Database, plan_id: int) -> set[int]:
    return {r["user_id"] for r in await db.fetchall(
        "SELECT user_id FROM plan_followers WHERE plan_id = ?", (plan_id,))}


# -- problem tree ----------------------------------------------------------------------------


async def add_tree_item(db: Database, plan_id: int, kind: str, text: str, author_id: int,
                        status: str = "proposed") -> int:
    return await db.execute(
        "INSERT INTO tree_items (plan_id, kind, text, author_id, status, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)", (plan_id, kind, text, author_id, status,
                                       to_db(utcnow())))


async def tree(db: Database, plan_id: int) -> list[TreeItem]:
    rows = await db.fetchall("SELECT * FROM tree_items WHERE plan_id = ? ORDER BY id",
                             (plan_id,))
    return [TreeItem(id=r["id"], plan_id=r["plan_id"], kind=r["kind"], text=r["text"],
                     author_id=r["author_id"], status=r["status"], parent_id=r["parent_id"])
            for r in rows]


@dataclass(frozen=True, slots=True)
class ProposalsTold:
    """The last notice of a tree's proposals: when, and the newest item it covered."""

    at: datetime | None  # None: never
    item: int  # 0: none


async def proposals_told(db: Database, plan_id: int) -> ProposalsTold:
    row = await db.fetchone("SELECT proposals_told_at, proposals_told_item FROM plans"
                            " WHERE id = ?", (plan_id,))
    if row is None:
        return ProposalsTold(None, 0)
    return ProposalsTold(from_db(row["proposals_told_at"]), row["proposals_told_item"])


async def proposed_after(db: Database, plan_id: int, item: int) -> tuple[int, int]:
    """Proposals newer than tree item ``item`` still waiting for review: (how many, the
    newest one's id)."""
    row = await db.fetchone(
        "SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS newest FROM tree_items"
        " WHERE plan_id = ? AND status = 'proposed' AND id > ?", (plan_id, item))
    return (int(row["n"]), int(row["newest"])) if row is not None else (0, 0)


async def mark_proposals_told(db: Database, plan_id: int, was: ProposalsTold, item: int,
                              now: datetime) -> bool:
    """Coordinators are being told now of the proposals up to ``item`` — once: False if
    another look got there first."""
    return await db.execute_rowcount(
        "UPDATE plans SET proposals_told_at = ?, proposals_told_item = ? WHERE id = ?"
        " AND proposals_told_item = ?", (to_db(now), item, plan_id, was.item)) == 1


async def plans_with_untold_proposals(db: Database) -> list[Plan]:
    """Plans with proposals their coordinators have not heard of (jobs after a start)."""
    rows = await db.fetchall(
        "SELECT p.* FROM plans p WHERE EXISTS (SELECT 1 FROM tree_items t"
        " WHERE t.plan_id = p.id AND t.status = 'proposed' AND t.id > p.proposals_told_item)"
        " ORDER BY p.id")
    return [_plan(r) for r in rows]


async def get_tree_item(db: Database, item_id: int) -> TreeItem | None:
    row = await db.fetchone("SELECT plan_id FROM tree_items WHERE id = ?", (item_id,))
    if row is None:
        return None
    return next(i for i in await tree(db, row["plan_id"]) if i.id == item_id)


async def curate_tree_item(db: Database, item_id: int, status: str,
                           parent_id: int | None) -> None:
    await db.execute("UPDATE tree_items SET status = ?, parent_id = ? WHERE id = ?",
                     (status, parent_id, item_id))


# -- resources and actors ----------------------------------------------------------------------


async def add_resource(db: Database, community_id: int, user_id: int, kind: str,
                       description: str) -> int:
    return await db.execute(
        "INSERT INTO resources (community_id, user_id, kind, description, created_at)"
        " VALUES (?, ?, ?, ?, ?)", (community_id, user_id, kind, description, to_db(utcnow())))


async def resources(db: Database, community_id: int) -> list[Resource]:
    rows = await db.fetchall("SELECT * FROM resources WHERE community_id = ? ORDER BY kind, id",
                             (community_id,))
    return [Resource(id=r["id"], user_id=r["user_id"], kind=r["kind"],
                     description=r["description"]) for r in rows]


async def withdraw_resource(db: Database, community_id: int, resource_id: int,
                            user_id: int) -> bool:
    """Only the person who offered it, in the community it was offered to."""
    return await db.execute_rowcount(
        "DELETE FROM resources WHERE id = ? AND user_id = ? AND community_id = ?",
        (resource_id, user_id, community_id)) == 1


async def add_actor(db: Database, community_id: int, created_by: int, name: str, sector: str,
                    role: str, influence: int) -> int:
    return await db.execute(
        "INSERT INTO actors (community_id, name, sector, role, influence, created_by,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (community_id, name, sector, role, influence, created_by, to_db(utcnow())))


async def actors(db: Database, community_id: int) -> list[Actor]:
    rows = await db.fetchall("SELECT * FROM actors WHERE community_id = ?"
                             " ORDER BY influence DESC, sector, name", (community_id,))
    return [Actor(id=r["id"], name=r["name"], sector=r["sector"], role=r["role"],
                  influence=r["influence"]) for r in rows]


async def remove_actor(db: Database, community_id: int, actor_id: int) -> bool:
    return await db.execute_rowcount("DELETE FROM actors WHERE id = ? AND community_id = ?",
                                     (actor_id, community_id)) == 1


# -- tasks ---------------------------------------------------------------------------------


async def add_task(db: Database, plan_id: int, actor_id: int, *, title: str,
                   responsible_id: int, starts_on: date, due_on: date) -> Task:
    async with db.transaction():
        task_id = await db.execute(
            "INSERT INTO tasks (plan_id, title, responsible_id, starts_on, due_on, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (plan_id, title, responsible_id,
                                           starts_on.isoformat(), due_on.isoformat(),
                                           to_db(utcnow())))
        await _log(db, task_id, actor_id, {"created": [None, title]})
    task = await get_task(db, task_id)
    assert task is not None
    return task


async def get_task(db: Database, task_id: int) -> Task | None:
    row = await db.fetchone("SELECT * FROM tasks WHERE id = ?", (task_id,))
    return None if row is None else _task(row)


async def tasks(db: Database, plan_id: int) -> list[Task]:
    rows = await db.fetchall("SELECT * FROM tasks WHERE plan_id = ? ORDER BY due_on, id",
                             (plan_id,))
    return [_task(r) for r in rows]


async def tasks_due(db: Database, on_day: date) -> list[Task]:
    """Unfinished tasks of active plans due on ``on_day``."""
    rows = await db.fetchall(
        "SELECT t.* FROM tasks t JOIN plans p ON p.id = t.plan_id WHERE p.status = 'active'"
        " AND t.status <> 'done' AND t.due_on = ?", (on_day.isoformat(),))
    return [_task(r) for r in rows]


def _stored(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


async def change_task(db: Database, task: Task, actor_id: int, **fields: Any) -> Task:
    """Set fields and record who changed what, from what, when — in one transaction."""
    changes = {k: [_stored(getattr(task, k)), _stored(v)] for k, v in fields.items()
               if getattr(task, k) != v}
    if changes:
        async with db.transaction():
            columns = ", ".join(f"{k} = ?" for k in changes)
            await db.execute(f"UPDATE tasks SET {columns} WHERE id = ?",
                             (*(after for _before, after in changes.values()), task.id))
            await _log(db, task.id, actor_id, changes)
    updated = await get_task(db, task.id)
    assert updated is not None
    return updated


async def _log(db: Database, task_id: int, actor_id: int, changes: dict[str, Any]) -> None:
    await db.execute("INSERT INTO task_log (task_id, actor_id, at, changes) VALUES (?, ?, ?, ?)",
                     (task_id, actor_id, to_db(utcnow()), json.dumps(changes,
                                                                     ensure_ascii=False)))


async def history(db: Database, task_id: int) -> list[Change]:
    rows = await db.fetchall("SELECT * FROM task_log WHERE task_id = ? ORDER BY id",
                             (task_id,))
    return [Change(actor_id=r["actor_id"], at=from_db(r["at"]),
                   changes=json.loads(r["changes"])) for r in rows]


async def add_update(db: Database, task: Task, author_id: int, text: str, progress: int,
                     photo: str | None) -> int:
    """The update, and the task's progress (and status) moved with it, logged."""
    async with db.transaction():
        update_id = await db.execute(
            "INSERT INTO task_updates (task_id, author_id, text, progress, photo, at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (task.id, author_id, text, progress, photo,
                                           to_db(utcnow())))
        status = "done" if progress == 100 else (
            "in_progress" if task.status in ("planned", "done") else task.status)
        await change_task(db, task, author_id, progress=progress, status=status)
    return update_id


async def updates(db: Database, task_id: int) -> list[Update]:
    rows = await db.fetchall("SELECT * FROM task_updates WHERE task_id = ? ORDER BY id",
                             (task_id,))
    return [Update(id=r["id"], task_id=r["task_id"], author_id=r["author_id"], text=r["text"],
                   progress=r["progress"], photo=r["photo"],
                   at=from_db(r["at"])) for r in rows]


# -- indicators ------------------------------------------------------------------------------


async def add_indicator(db: Database, plan_id: int, *, name: str, unit: str, baseline: float,
                        target: float, direction: str, task_id: int | None) -> int:
    return await db.execute(
        "INSERT INTO indicators (plan_id, task_id, name, unit, baseline, target, direction,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (plan_id, task_id, name, unit, baseline, target, direction, to_db(utcnow())))


async def get_indicator(db: Database, indicator_id: int) -> Indicator | None:
    row = await db.fetchone("SELECT * FROM indicators WHERE id = ?", (indicator_id,))
    return None if row is None else _indicator(row)


async def indicators(db: Database, plan_id: int) -> list[Indicator]:
    return [_indicator(r) for r in await db.fetchall(
        "SELECT * FROM indicators WHERE plan_id = ? ORDER BY id", (plan_id,))]


async def add_reading(db: Database, indicator_id: int, value: float, on_day: date,
                      source: str | None, by_id: int) -> None:
    await db.execute(
        "INSERT INTO readings (indicator_id, value, on_day, source, by_id, at)"
        " VALUES (?, ?, ?, ?, ?, ?)", (indicator_id, value, on_day.isoformat(), source, by_id,
                                       to_db(utcnow())))


async def readings(db: Database, indicator_id: int) -> list[Reading]:
    """Oldest first (by the day measured)."""
    return [Reading(value=r["value"], on_day=date.fromisoformat(r["on_day"]),
                    source=r["source"]) for r in await db.fetchall(
        "SELECT * FROM readings WHERE indicator_id = ? ORDER BY on_day, id", (indicator_id,))]


# -- evaluation ------------------------------------------------------------------------------


async def evaluate(db: Database, plan_id: int, by_id: int, *, reached: str, rating: int,
                   worked: str, next_steps: list[str]) -> None:
    async with db.transaction():
        await db.execute(
            "INSERT OR REPLACE INTO evaluations (plan_id, reached, rating, worked, next, by_id,"
            " at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (plan_id, reached, rating, worked, json.dumps(next_steps, ensure_ascii=False),
             by_id, to_db(utcnow())))
        await set_plan_status(db, plan_id, "evaluated")


async def evaluation(db: Database, plan_id: int) -> Evaluation | None:
    row = await db.fetchone("SELECT * FROM evaluations WHERE plan_id = ?", (plan_id,))
    if row is None:
        return None
    return Evaluation(reached=row["reached"], rating=row["rating"], worked=row["worked"],
                      next=json.loads(row["next"]),
                      at=from_db(row["at"]))


# -- personal data ---------------------------------------------------------------------------


async def _personal(db: Database, user_id: int) -> dict[str, Any]:
    offered = await db.fetchall("SELECT kind, description, created_at FROM resources"
                                " WHERE user_id = ?", (user_id,))
    items = await db.fetchall("SELECT kind, text, created_at FROM tree_items"
                              " WHERE author_id = ?", (user_id,))
    posted = await db.fetchall("SELECT task_id, text, progress, at FROM task_updates"
                               " WHERE author_id = ?", (user_id,))
    responsible = await db.fetchall("SELECT id, title FROM tasks WHERE responsible_id = ?",
                                    (user_id,))
    return {"resources": [dict(r) for r in offered], "problem_tree": [dict(r) for r in items],
            "task_updates": [dict(r) for r in posted],
            "responsible_for": [dict(r) for r in responsible]}


personal.register("plans", _personal)
