"""Action plan rules: who may change what, what a valid task, update, indicator or reading
is, how progress rolls up, how the problem tree is laid out, and the evaluation.

Every change goes through one function here, ``async def verb(db, who, ...)``, which checks
scope (the plan, task, item, indicator, resource or organisation belongs to the acting
member's community: a missing or foreign id is refused as "not available", the same way),
permission (coordinators and committee members edit the plan; only the person responsible
for a task answers it and reports on it), preconditions (the plan still active, a due date
not before the start…) and then writes. What people may see and tap is decided here too:
the views below carry ``may_…`` flags the handler turns into buttons.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from bot.flows import city, process, schedule
from bot.flows.errors import Refused
from bot.flows.people import Actor, Member, require
from bot.flows.typed import words
from bot.i18n import N_, Translator
from storage import brainstorm as brainstorm_store
from storage import community as community_store
from storage import plan as store
from storage.community import Community, User
from storage.db import Database, utcnow
from storage.plan import Actor as Organisation
from storage.plan import Change, Evaluation, Indicator, Plan, Reading, Resource, Task, TreeItem
from storage.plan import Update as Report

# Storage's dataclasses that handlers render, re-exported: handlers import no storage module.
__all__ = ["Change", "Community", "Evaluation", "Indicator", "Organisation", "Plan", "Reading",
           "Report", "Resource", "Task", "TreeItem", "User"]

RESOURCE_KINDS = ("skill", "place", "equipment", "time", "money")
SECTORS = ("public", "private", "ngo", "community", "media", "academia")
STATUSES = ("planned", "in_progress", "blocked", "done")
REACHED = ("yes", "partly", "no")
DIRECTIONS = ("up", "down")
TREE_KINDS = ("cause", "consequence")

NOT_AVAILABLE = N_("This is not available to you.")
ONLY_EDITORS = N_("Only coordinators and committee members can change the plan.")
ONLY_RESPONSIBLE = N_("Only the person responsible for this task can post its updates.")
CLOSED = N_("This plan has been evaluated and is closed.")
NO_PLAN = N_("There is no action plan yet. A coordinator starts one with /newplan.")
PROBLEM_NEEDED = N_("Write the problem with the command, e.g. /newplan No safe place for"
                    " children to play")
NOT_A_MEMBER = N_("The responsible person must be a member of the community.")
NO_SUCH_TASK = N_("There is no task with that number in this plan.")
NOTHING_ACCEPTED = N_("Nothing accepted of that kind yet: accept it first.")
BRAINSTORM_OPEN = N_("A brainstorm is already open. Close it from /curate first.")


# -- who may do what ---------------------------------------------------------------------------


def is_editor(who: Actor) -> bool:
    """Coordinators and committee members edit the plan (tasks, indicators, the tree)."""
    return who.has_role("committee")


def require_editor(who: Actor) -> None:
    if not is_editor(who):
        raise Refused(ONLY_EDITORS)


def require_active(plan: Plan) -> None:
    if plan.status != "active":
        raise Refused(CLOSED)


def is_responsible(who: Actor, task: Task) -> bool:
    return task.responsible_id is not None and task.responsible_id == who.user.id


def local_today(t: Translator) -> date:
    """Today in the time zone of ``t`` (the community's)."""
    return t.local(utcnow()).date()


def today(who: Actor) -> date:
    """Today in the member's community."""
    return local_today(who.t)


# -- pure rules ----------------------------------------------------------------------------------


def check_schedule(starts_on: date, due_on: date) -> None:
    if due_on < starts_on:
        raise Refused(N_("The due date cannot be before the start date."))


def check_indicator(baseline: float, target: float, direction: str) -> None:
    if direction not in DIRECTIONS:
        raise Refused(NOT_AVAILABLE)
    if (direction == "up" and target <= baseline) or (direction == "down"
                                                      and target >= baseline):
        raise Refused(N_("When higher is better the target must be above the baseline, and"
                         " below it when lower is better."))


def overdue(task: Task, on_day: date) -> bool:
    return task.status != "done" and task.due_on < on_day


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


def status_changes(status: str) -> dict[str, object]:
    """A task marked done is 100% done."""
    if status not in STATUSES:
        raise Refused(NOT_AVAILABLE)
    changes: dict[str, object] = {"status": status}
    if status == "done":
        changes["progress"] = 100
    return changes


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


# -- finding things, in the member's own community only --------------------------------------


async def plan_of(db: Database, who: Member, plan_id: int) -> Plan:
    plan = await store.get_plan(db, plan_id)
    if plan is None or plan.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    return plan


async def task_of(db: Database, who: Member, task_id: int) -> tuple[Task, Plan]:
    task = await store.get_task(db, task_id)
    if task is None:
        raise Refused(NOT_AVAILABLE)
    return task, await plan_of(db, who, task.plan_id)


async def _item_of(db: Database, who: Member, item_id: int) -> tuple[TreeItem, Plan]:
    item = await store.get_tree_item(db, item_id)
    if item is None:
        raise Refused(NOT_AVAILABLE)
    return item, await plan_of(db, who, item.plan_id)


async def _indicator_of(db: Database, who: Member, indicator_id: int) -> tuple[Indicator, Plan]:
    indicator = await store.get_indicator(db, indicator_id)
    if indicator is None:
        raise Refused(NOT_AVAILABLE)
    return indicator, await plan_of(db, who, indicator.plan_id)


async def names(db: Database, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of the people named (those gone are left out: shown as "—")."""
    wanted = sorted({uid for uid in user_ids if uid is not None})
    found = await community_store.get_users(db, wanted) if wanted else {}
    return {uid: user.display_name for uid, user in found.items()}


async def _user(db: Database, user_id: int | None) -> User | None:
    return await community_store.get_user(db, user_id) if user_id is not None else None


async def _users(db: Database, user_ids: Iterable[int | None]) -> list[User]:
    wanted = sorted({uid for uid in user_ids if uid is not None})
    found = await community_store.get_users(db, wanted) if wanted else {}
    return [found[uid] for uid in wanted if uid in found]


# -- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overview:
    """What /plan shows: the tasks with their progress, and what this member may do."""

    plan: Plan
    tasks: list[Task]
    names: dict[int, str]  # the responsible people
    progress: int
    following: bool
    evaluation: Evaluation | None
    may_add_task: bool
    may_evaluate: bool
    others: list[Plan]  # the community's other plans (only when none was named)
    approvals: list[city.Mark]  # submitted up the chain of communities: each level's decision


async def overview(db: Database, who: Member, plan_id: int | None = None) -> Overview:
    """A plan of the member's community; without ``plan_id`` the newest active one."""
    others: list[Plan] = []
    if plan_id is None:
        found = await store.plans(db, who.community.id)
        if not found:
            raise Refused(NO_PLAN)
        plan, others = found[0], found[1:6]
    else:
        plan = await plan_of(db, who, plan_id)
    tasks = await store.tasks(db, plan.id)
    active = plan.status == "active"
    return Overview(
        plan=plan, tasks=tasks, names=await names(db, (t.responsible_id for t in tasks)),
        progress=plan_progress(tasks),
        following=who.user.id in await store.followers(db, plan.id),
        evaluation=await store.evaluation(db, plan.id),
        may_add_task=active and is_editor(who), may_evaluate=active and who.is_coordinator,
        others=others, approvals=await city.marks(db, "plan", plan.id))


async def new_plan(db: Database, who: Member, problem: str) -> Plan:
    """A coordinator starts a plan for a problem."""
    require(who, "coordinator")
    if not problem.strip():
        raise Refused(PROBLEM_NEEDED)
    plan = await store.create_plan(db, who.community.id, words(problem, 500), who.user.id)
    await process.happened(db, who.community.id, "plan_created", plan.id)
    return plan


async def follow(db: Database, who: Member, plan_id: int) -> bool:
    """Follow the plan, or stop following it; True when now following."""
    plan = await plan_of(db, who, plan_id)
    return await store.follow(db, plan.id, who.user.id)


# -- the problem tree ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tree:
    plan: Plan
    causes: list[Branch]
    consequences: list[Branch]
    proposed: int
    may_review: bool


async def tree(db: Database, who: Member, plan_id: int) -> Tree:
    plan = await plan_of(db, who, plan_id)
    items = await store.tree(db, plan.id)
    proposed = sum(i.status == "proposed" for i in items)
    return Tree(plan, layout(items, "cause"), layout(items, "consequence"), proposed,
                may_review=bool(proposed) and is_editor(who))


async def can_propose(db: Database, who: Member, plan_id: int, kind: str) -> Plan:
    """Anyone may propose a cause or a consequence of the plan's problem."""
    if kind not in TREE_KINDS:
        raise Refused(NOT_AVAILABLE)
    return await plan_of(db, who, plan_id)


async def propose(db: Database, who: Member, plan_id: int, kind: str, text: str,
                  ) -> tuple[Plan, bool]:
    """A cause or consequence: placed at once when an editor writes it, otherwise waiting
    for the committee. Returns the plan and whether it was placed."""
    plan = await can_propose(db, who, plan_id, kind)
    status = "accepted" if is_editor(who) else "proposed"
    await store.add_tree_item(db, plan.id, kind, words(text, 300), who.user.id, status)
    await process.happened(db, who.community.id, "tree_changed", plan.id)
    return plan, status == "accepted"


PROPOSALS_EVERY = timedelta(hours=1)  # coordinators hear of new proposals at most this often
SLACK = timedelta(seconds=5)  # a job may fire a moment before the clock says it is due


async def proposals_notice_at(db: Database, plan_id: int) -> datetime | None:
    """When coordinators next hear of the tree's new proposals: at once, or an hour after
    they last heard; None when no proposal is new to them."""
    told = await store.proposals_told(db, plan_id)
    count, _newest = await store.proposed_after(db, plan_id, told.item)
    if not count:
        return None
    return max(utcnow(), told.at + PROPOSALS_EVERY) if told.at is not None else utcnow()


@dataclass(frozen=True, slots=True)
class ProposalNews:
    """A notice to a plan's coordinators: how many proposals are new since they last heard
    (``told``), up to which tree item."""

    plan: Plan
    community: Community
    coordinators: list[User]
    count: int
    newest: int
    told: store.ProposalsTold

    @property
    def key(self) -> str:
        """Names the notice in the outbox: queued twice, it is still sent once."""
        return f"plan-proposals:{self.plan.id}:{self.told.item}"


async def proposals_news(db: Database, plan_id: int) -> ProposalNews | None:
    """The proposals notice due now, if any (not before an hour after the last one)."""
    plan = await store.get_plan(db, plan_id)
    told = await store.proposals_told(db, plan_id)
    if plan is None or (told.at is not None and told.at + PROPOSALS_EVERY > utcnow() + SLACK):
        return None
    count, newest = await store.proposed_after(db, plan_id, told.item)
    community = await community_store.get_community(db, plan.community_id)
    if not count or community is None:
        return None
    found = await community_store.members(db, community.id, roles=("coordinator",))
    return ProposalNews(plan, community, [u for _m, u in found], count, newest, told)


async def proposals_told(db: Database, news: ProposalNews) -> None:
    """The notice is queued: the next one counts what comes after, an hour from now at the
    earliest. (Queued first, then marked: a crash in between queues it again under the
    same key, which the outbox sends once.)"""
    await store.mark_proposals_told(db, news.plan.id, news.told, news.newest, utcnow())


async def untold_proposals(db: Database) -> list[Plan]:
    """Plans with proposals their coordinators have not heard of yet (after a start)."""
    return await store.plans_with_untold_proposals(db)


@dataclass(frozen=True, slots=True)
class Proposals:
    plan: Plan
    items: list[TreeItem]  # waiting, oldest first


async def proposals(db: Database, who: Member, plan_id: int) -> Proposals:
    """The tree's proposals, for the committee to review."""
    require_editor(who)
    plan = await plan_of(db, who, plan_id)
    return Proposals(plan, [i for i in await store.tree(db, plan.id) if i.status == "proposed"])


async def curate(db: Database, who: Member, item_id: int,
                 action: Literal["accept", "hide"]) -> Plan:
    """Accept a proposal into the tree (at the top of its side), or hide it."""
    require_editor(who)
    item, plan = await _item_of(db, who, item_id)
    if action not in ("accept", "hide"):
        raise Refused(NOT_AVAILABLE)
    await store.curate_tree_item(db, item.id, "accepted" if action == "accept" else "hidden",
                                 None)
    await process.happened(db, who.community.id, "tree_changed", plan.id)
    return plan


async def parents(db: Database, who: Member, item_id: int) -> tuple[TreeItem, list[TreeItem]]:
    """Where an item may go: the accepted items of its kind (other than itself)."""
    require_editor(who)
    item, plan = await _item_of(db, who, item_id)
    found = [i for i in await store.tree(db, plan.id)
             if i.kind == item.kind and i.status == "accepted" and i.id != item.id]
    if not found:
        raise Refused(NOTHING_ACCEPTED)
    return item, found


async def place(db: Database, who: Member, item_id: int, parent_id: int) -> Plan:
    """Accept an item under another of its kind (never under one of its own branches)."""
    require_editor(who)
    item, plan = await _item_of(db, who, item_id)
    items = await store.tree(db, plan.id)
    parent = next((i for i in items if i.id == parent_id), None)
    if parent is None:
        raise Refused(NOT_AVAILABLE)
    check_parent(item, parent, items)
    await store.curate_tree_item(db, item.id, "accepted", parent.id)
    await process.happened(db, who.community.id, "tree_changed", plan.id)
    return plan


# -- tasks ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskView:
    task: Task
    plan: Plan
    responsible: str | None  # their name (None: nobody, or they left)
    reports: list[Report]  # the latest five
    overdue: bool
    may_answer: bool  # the responsible person, who has not answered yet
    may_report: bool  # the responsible person
    may_edit: bool  # coordinators and committee


async def task_view(db: Database, who: Member, task_id: int) -> TaskView:
    task, plan = await task_of(db, who, task_id)
    active = plan.status == "active"
    mine = active and is_responsible(who, task)
    shown = await names(db, [task.responsible_id])
    return TaskView(
        task=task, plan=plan, responsible=shown.get(task.responsible_id or 0),
        reports=(await store.updates(db, task.id))[-5:], overdue=overdue(task, today(who)),
        may_answer=mine and task.accepted is None, may_report=mine,
        may_edit=active and is_editor(who))


async def check_responsible(db: Database, who: Member, user_id: int) -> int:
    """The responsible person must be a member of the community."""
    if await community_store.get_membership(db, who.community.id, user_id) is None:
        raise Refused(NOT_A_MEMBER)
    return user_id


async def check_due(db: Database, who: Member, due_on: date, *, starts_on: date | None = None,
                    task_id: int | None = None) -> date:
    """A due date not before the start: the one just given, or the task's."""
    if starts_on is None:
        if task_id is None:
            raise Refused(NOT_AVAILABLE)
        starts_on = (await task_of(db, who, task_id))[0].starts_on
    check_schedule(starts_on, due_on)
    return due_on


async def can_add_task(db: Database, who: Member, plan_id: int) -> Plan:
    require_editor(who)
    plan = await plan_of(db, who, plan_id)
    require_active(plan)
    return plan


@dataclass(frozen=True, slots=True)
class Assigned:
    """A task given to someone, who is asked to accept it."""

    task: Task
    plan: Plan
    person: User | None  # the one to ask (None: the task has no new responsible person)


async def add_task(db: Database, who: Member, plan_id: int, *, title: str, responsible_id: int,
                   starts_on: date, due_on: date) -> Assigned:
    plan = await can_add_task(db, who, plan_id)
    await check_responsible(db, who, responsible_id)
    check_schedule(starts_on, due_on)
    task = await store.add_task(db, plan.id, who.user.id, title=words(title, 200),
                                responsible_id=responsible_id, starts_on=starts_on,
                                due_on=due_on)
    await process.happened(db, who.community.id, "task_added", plan.id)
    return Assigned(task, plan, await _user(db, responsible_id))


@dataclass(frozen=True, slots=True)
class Answered:
    task: Task
    plan: Plan
    creator: User | None  # who made the plan, told when a task is declined


async def answer_task(db: Database, who: Member, task_id: int, accept: bool) -> Answered:
    """The responsible person accepts or declines their task."""
    task, plan = await task_of(db, who, task_id)
    if not is_responsible(who, task):
        raise Refused(ONLY_RESPONSIBLE)
    require_active(plan)
    task = await store.change_task(db, task, who.user.id, accepted=accept)
    return Answered(task, plan, await _user(db, plan.created_by))


async def set_status(db: Database, who: Member, task_id: int, status: str) -> Task:
    """An editor moves a task on (or back); a task marked done is 100% done."""
    require_editor(who)
    task, plan = await task_of(db, who, task_id)
    require_active(plan)
    changed = await store.change_task(db, task, who.user.id, **status_changes(status))
    await process.happened(db, who.community.id, "task_changed", plan.id)
    return changed


async def can_edit_task(db: Database, who: Member, task_id: int) -> tuple[Task, Plan]:
    require_editor(who)
    task, plan = await task_of(db, who, task_id)
    require_active(plan)
    return task, plan


async def edit_task(db: Database, who: Member, task_id: int, *, progress: int | None = None,
                    due_on: date | None = None, responsible_id: int | None = None) -> Assigned:
    """An editor changes a task's progress, due date or responsible person (who is then
    asked to accept it); every change is logged with who and when."""
    task, plan = await can_edit_task(db, who, task_id)
    changes: dict[str, object] = {}
    if progress is not None:
        if not 0 <= progress <= 100:
            raise Refused(N_("Please send a whole number from 0 to 100."))
        changes["progress"] = progress
    if due_on is not None:
        check_schedule(task.starts_on, due_on)
        changes["due_on"] = due_on
    if responsible_id is not None:
        await check_responsible(db, who, responsible_id)
        changes.update(responsible_id=responsible_id, accepted=None)
    updated = await store.change_task(db, task, who.user.id, **changes)
    await process.happened(db, who.community.id, "task_changed", plan.id)
    asked = await _user(db, updated.responsible_id) if (
        updated.responsible_id != task.responsible_id) else None
    return Assigned(updated, plan, asked)


@dataclass(frozen=True, slots=True)
class History:
    task: Task
    changes: list[Change]
    names: dict[int, str]  # who changed, and who was responsible


async def history(db: Database, who: Member, task_id: int) -> History:
    task, _plan = await task_of(db, who, task_id)
    changes = await store.history(db, task.id)
    people: list[int | None] = [c.actor_id for c in changes]
    people += [v for c in changes for k, pair in c.changes.items() if k == "responsible_id"
               for v in pair if isinstance(v, int)]
    return History(task, changes, await names(db, people))


async def can_report(db: Database, who: Member, task_id: int) -> Task:
    """Only the person responsible for a task reports on it, while the plan is active."""
    task, plan = await task_of(db, who, task_id)
    if not is_responsible(who, task):
        raise Refused(ONLY_RESPONSIBLE)
    require_active(plan)
    return task


@dataclass(frozen=True, slots=True)
class Reported:
    task: Task  # with its progress moved
    plan: Plan
    followers: list[User]  # to tell (the author left out)
    number: int  # how many updates the task has now


async def post_update(db: Database, who: Member, task_id: int, text: str, progress: int,
                      photo: str | None) -> Reported:
    task = await can_report(db, who, task_id)
    if not 0 <= progress <= 100:
        raise Refused(N_("Please send a whole number from 0 to 100."))
    await store.add_update(db, task, who.user.id, words(text, 1000), progress, photo)
    task, plan = await task_of(db, who, task_id)
    await process.happened(db, who.community.id, "task_changed", plan.id)
    audience = await store.followers(db, plan.id) - {who.user.id}
    return Reported(task, plan, await _users(db, audience),
                    len(await store.updates(db, task.id)))


# -- indicators ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measured:
    indicator: Indicator
    readings: list[Reading]
    share: float | None  # of the way to the target
    task: str | None  # the linked task's title


@dataclass(frozen=True, slots=True)
class Indicators:
    plan: Plan
    items: list[Measured]
    may_edit: bool


async def indicators(db: Database, who: Member, plan_id: int) -> Indicators:
    plan = await plan_of(db, who, plan_id)
    tasks = {t.id: t for t in await store.tasks(db, plan.id)}
    items = []
    for indicator in await store.indicators(db, plan.id):
        readings = await store.readings(db, indicator.id)
        linked = tasks.get(indicator.task_id) if indicator.task_id is not None else None
        items.append(Measured(indicator, readings, toward_target(indicator, readings),
                              linked.title if linked is not None else None))
    return Indicators(plan, items, may_edit=plan.status == "active" and is_editor(who))


async def can_add_indicator(db: Database, who: Member, plan_id: int) -> Plan:
    return await can_add_task(db, who, plan_id)


async def task_by_number(db: Database, who: Member, plan_id: int, number: float) -> int:
    """The task listed as ``number`` in /plan."""
    listed = await store.tasks(db, (await plan_of(db, who, plan_id)).id)
    if number != int(number) or not 1 <= number <= len(listed):
        raise Refused(NO_SUCH_TASK)
    return listed[int(number) - 1].id


async def add_indicator(db: Database, who: Member, plan_id: int, *, name: str, unit: str,
                        direction: str, baseline: float, target: float,
                        task_id: int | None) -> Plan:
    plan = await can_add_indicator(db, who, plan_id)
    check_indicator(baseline, target, direction)
    if task_id is not None and task_id not in {t.id for t in await store.tasks(db, plan.id)}:
        raise Refused(NO_SUCH_TASK)
    await store.add_indicator(db, plan.id, name=words(name, 200), unit=words(unit, 50),
                              baseline=baseline, target=target, direction=direction,
                              task_id=task_id)
    return plan


async def can_add_reading(db: Database, who: Member, indicator_id: int) -> Indicator:
    require_editor(who)
    indicator, plan = await _indicator_of(db, who, indicator_id)
    require_active(plan)
    return indicator


async def add_reading(db: Database, who: Member, indicator_id: int, *, value: float,
                      on_day: date | None, source: str | None) -> Plan:
    """A value measured (today unless another day is given)."""
    indicator = await can_add_reading(db, who, indicator_id)
    await store.add_reading(db, indicator.id, value, on_day or today(who),
                            words(source, 200) if source else None, who.user.id)
    await process.happened(db, who.community.id, "reading_added", indicator.plan_id)
    return (await _indicator_of(db, who, indicator.id))[1]


# -- evaluation ----------------------------------------------------------------------------------


async def can_evaluate(db: Database, who: Member, plan_id: int) -> Plan:
    require(who, "coordinator")
    plan = await plan_of(db, who, plan_id)
    require_active(plan)
    return plan


@dataclass(frozen=True, slots=True)
class Evaluated:
    plan: Plan
    evaluation: Evaluation
    members: list[User]  # everyone in the community hears it


async def evaluate(db: Database, who: Member, plan_id: int, *, reached: str, rating: int,
                   worked: str, next_steps: list[str]) -> Evaluated:
    """A coordinator evaluates the plan, which closes it."""
    plan = await can_evaluate(db, who, plan_id)
    if reached not in REACHED or not 1 <= rating <= 5 or not next_steps:
        raise Refused(NOT_AVAILABLE)
    await store.evaluate(db, plan.id, who.user.id, reached=reached, rating=rating,
                         worked=words(worked, 1000),
                         next_steps=[words(step, 300) for step in next_steps[:20]])
    await process.happened(db, who.community.id, "plan_evaluated", plan.id)
    evaluation = await store.evaluation(db, plan.id)
    assert evaluation is not None  # written just now
    members = await community_store.people(db, who.community.id)
    return Evaluated(await plan_of(db, who, plan.id), evaluation, members)


async def seed_brainstorm(db: Database, who: Member, plan_id: int,
                          prompt: Callable[[Plan], str]) -> int:
    """The evaluation's "what next" items become the first cards of a new brainstorm
    (asked as ``prompt(plan)``); returns how many."""
    require(who, "coordinator")
    plan = await plan_of(db, who, plan_id)
    evaluation = await store.evaluation(db, plan.id)
    if evaluation is None:
        raise Refused(NOT_AVAILABLE)
    round_ = await brainstorm_store.open_round(db, who.community.id, prompt(plan), who.user.id)
    if round_ is None:
        raise Refused(BRAINSTORM_OPEN)
    for item in evaluation.next:
        await brainstorm_store.add_card(db, round_.id, who.user.id, item[:500], None)
    await process.happened(db, who.community.id, "brainstorm_opened", round_.id)
    return len(evaluation.next)


# -- resources and organisations -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceMap:
    resources: list[Resource]
    organisations: list[Organisation]
    names: dict[int, str]  # who offered
    mine: list[Resource]  # what this member may withdraw
    may_manage: bool  # coordinators list and remove organisations


async def resource_map(db: Database, who: Member) -> ResourceMap:
    offered = await store.resources(db, who.community.id)
    return ResourceMap(offered, await store.actors(db, who.community.id),
                       await names(db, (r.user_id for r in offered)),
                       [r for r in offered if r.user_id == who.user.id],
                       may_manage=who.is_coordinator)


async def offer(db: Database, who: Member, kind: str, description: str) -> None:
    """Anyone may offer a skill, a place, equipment, time or money."""
    if kind not in RESOURCE_KINDS:
        raise Refused(NOT_AVAILABLE)
    await store.add_resource(db, who.community.id, who.user.id, kind, words(description, 300))
    await process.happened(db, who.community.id, "resource_offered")


async def withdraw(db: Database, who: Member, resource_id: int) -> None:
    """Only one's own offer, in this community."""
    if not await store.withdraw_resource(db, who.community.id, resource_id, who.user.id):
        raise Refused(NOT_AVAILABLE)


async def add_organisation(db: Database, who: Member, *, name: str, sector: str, role: str,
                           influence: int) -> None:
    require(who, "coordinator")
    if sector not in SECTORS or not 1 <= influence <= 3:
        raise Refused(NOT_AVAILABLE)
    await store.add_actor(db, who.community.id, who.user.id, words(name, 200), sector,
                          words(role, 300), influence)
    await process.happened(db, who.community.id, "organisation_listed")


async def remove_organisation(db: Database, who: Member, actor_id: int) -> None:
    require(who, "coordinator")
    if not await store.remove_actor(db, who.community.id, actor_id):
        raise Refused(NOT_AVAILABLE)


# -- what the bot says on its own ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reminder:
    """A task due tomorrow ("soon") or due yesterday and not done ("late")."""

    community: Community
    person: User
    task: Task
    when: Literal["soon", "late"]


async def due_reminders(db: Database, on_day: date | None = None) -> list[Reminder]:
    """Reminders to each responsible member: the day before a task is due and the day
    after it was due (the notice keys make each one once)."""
    soon, late = schedule.due_days(on_day or utcnow().date())
    found: list[Reminder] = []
    due: list[tuple[Task, Literal["soon", "late"]]] = [
        *((t, "soon") for t in await store.tasks_due(db, soon)),
        *((t, "late") for t in await store.tasks_due(db, late))]
    for task, when in due:
        plan = await store.get_plan(db, task.plan_id)
        person = await community_store.get_user(db, task.responsible_id or 0)
        community = await community_store.get_community(db, plan.community_id) if plan else None
        if person is not None and community is not None:
            found.append(Reminder(community, person, task, when))
    return found


@dataclass(frozen=True, slots=True)
class Note:
    """The week's note on an active plan, for those who follow it."""

    plan: Plan
    community: Community
    followers: list[User]
    tasks: list[Task]
    week: str  # ISO year and week: the note goes once a week
    standing: process.Standing | None = None  # the participation cycle's step


async def weekly_notes(db: Database, on_day: date | None = None) -> list[Note]:
    on_day = on_day or utcnow().date()
    week = "{}-W{:02d}".format(*on_day.isocalendar()[:2])
    notes = []
    for plan in await store.active_plans(db):
        community = await community_store.get_community(db, plan.community_id)
        following = await store.followers(db, plan.id)
        if community is None or not following:
            continue
        notes.append(Note(plan, community, await _users(db, following),
                          await store.tasks(db, plan.id), week,
                          await process.standing(db, community.id)))
    return notes
