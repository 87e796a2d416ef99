"""Action plan rules: who may change what, what a valid task, update, indicator or reading
is, how progress rolls up, how the problem tree is laid out, and the evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.flows.errors import Refused
from bot.flows.typed import words
from bot.i18n import N_
from storage import community as community_store
from storage import plan as store
from storage.db import Database
from storage.plan import Indicator, Plan, Reading, Task, TreeItem

RESOURCE_KINDS = ("skill", "place", "equipment", "time", "money")
SECTORS = ("public", "private", "ngo", "community", "media", "academia")
STATUSES = ("planned", "in_progress", "blocked", "done")
REACHED = ("yes", "partly", "no")
NOT_AVAILABLE = N_("This is not available to you.")
ONLY_EDITORS = N_("Only coordinators and committee members can change the plan.")


def check_schedule(starts_on: date, due_on: date) -> None:
    if due_on < starts_on:
        raise Refused(N_("The due date cannot be before the start date."))


async def check_member(db: Database, community_id: int, user_id: int) -> None:
    if await community_store.get_membership(db, community_id, user_id) is None:
        raise Refused(N_("The responsible person must be a member of the community."))


def check_indicator(baseline: float, target: float, direction: str) -> None:
    if direction not in ("up", "down"):
        raise Refused(NOT_AVAILABLE)
    if (direction == "up" and target <= baseline) or (direction == "down"
                                                      and target >= baseline):
        raise Refused(N_("When higher is better the target must be above the baseline, and"
                         " below it when lower is better."))


# -- progress ----------------------------------------------------------------------------------


def overdue(task: Task, today: date) -> bool:
    return task.status != "done" and task.due_on < today


def plan_progress(tasks: list[Task]) -> int:
    """The plan's progress: the mean of its tasks' (each task counts the same)."""
    return round(sum(t.progress for t in tasks) / len(tasks)) if tasks else 0


def toward_target(indicator: Indicator, readings: list[Reading]) -> float | None:
    """How far the latest reading has moved from the baseline to the target (0–1)."""
    if not readings:
        return None
    span = indicator.target - indicator.baseline
    moved = readings[-1].value - indicator.baseline
    return max(0.0, min(1.0, moved / span)) if span else 1.0


async def set_status(db: Database, task: Task, actor_id: int, status: str) -> Task:
    """A task marked done is 100% done."""
    if status not in STATUSES:
        raise Refused(NOT_AVAILABLE)
    changes: dict[str, object] = {"status": status}
    if status == "done":
        changes["progress"] = 100
    return await store.change_task(db, task, actor_id, **changes)


async def post_update(db: Database, plan: Plan, task: Task, author_id: int, update_text: str,
                      progress: int, photo: str | None) -> int:
    """Only the person responsible for a task reports on it, while the plan is active."""
    if task.responsible_id != author_id:
        raise Refused(N_("Only the person responsible for this task can post its updates."))
    if plan.status != "active":
        raise Refused(N_("This plan has been evaluated and is closed."))
    if not 0 <= progress <= 100:
        raise Refused(N_("Please send a whole number from 0 to 100."))
    return await store.add_update(db, task, author_id, words(update_text, 1000), progress,
                                  photo)


# -- the problem tree --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Branch:
    depth: int
    item: TreeItem


def layout(items: list[TreeItem], kind: str) -> list[Branch]:
    """Accepted items of one kind as an indented outline: each under its parent."""
    accepted = [i for i in items if i.kind == kind and i.status == "accepted"]
    known = {i.id for i in accepted}
    children: dict[int | None, list[TreeItem]] = {}
    for item in accepted:
        parent = item.parent_id if item.parent_id in known else None
        children.setdefault(parent, []).append(item)
    outline: list[Branch] = []

    def walk(parent: int | None, depth: int, seen: frozenset[int]) -> None:
        for item in children.get(parent, []):
            if item.id in seen:
                continue
            outline.append(Branch(depth, item))
            walk(item.id, depth + 1, seen | {item.id})

    walk(None, 0, frozenset())
    return outline


def check_parent(item: TreeItem, parent: TreeItem, items: list[TreeItem]) -> None:
    """A cause goes under a cause, a consequence under a consequence, never under itself
    or under one of its own branches."""
    if (parent.kind != item.kind or parent.plan_id != item.plan_id
            or parent.status != "accepted"):
        raise Refused(NOT_AVAILABLE)
    by_id = {i.id: i for i in items}
    cursor: TreeItem | None = parent
    while cursor is not None:
        if cursor.id == item.id:
            raise Refused(NOT_AVAILABLE)
        cursor = by_id.get(cursor.parent_id) if cursor.parent_id is not None else None
