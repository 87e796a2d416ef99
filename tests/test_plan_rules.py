"""Plan rules without Telegram: the tree's outline, progress roll-up, indicators' progress,
what people type for numbers and dates in any language and calendar, and who may change
what (the flows decide it, on a real database, with no handler in between)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.flows import plan as flow
from bot.flows import typed
from bot.flows.errors import Refused
from bot.flows.people import ONLY_COORDINATORS, Member
from bot.i18n import Translator
from storage import community as community_store
from storage import plan as store
from storage.db import Database
from storage.plan import Indicator, Reading, Task, TreeItem


def _item(item_id: int, kind: str = "cause", parent: int | None = None,
          status: str = "accepted") -> TreeItem:
    return TreeItem(id=item_id, plan_id=1, kind=kind, text=f"i{item_id}", author_id=None,
                    status=status, parent_id=parent)


def test_tree_outline_nests_and_skips_what_is_not_accepted() -> None:
    items = [_item(1), _item(2, parent=1), _item(3, parent=2), _item(4),
             _item(5, status="proposed"), _item(6, "consequence"), _item(7, parent=99)]
    outline = [(b.depth, b.item.id) for b in flow.layout(items, "cause")]
    assert outline == [(0, 1), (1, 2), (2, 3), (0, 4), (0, 7)]
    assert [b.item.id for b in flow.layout(items, "consequence")] == [6]
    with pytest.raises(Refused):  # under its own branch
        flow.check_parent(items[0], items[2], items)
    with pytest.raises(Refused):  # a cause under a consequence
        flow.check_parent(items[3], items[5], items)
    flow.check_parent(items[3], items[2], items)


def _task(progress: int, due: date, status: str = "in_progress") -> Task:
    return Task(id=1, plan_id=1, title="t", responsible_id=1, accepted=True,
                starts_on=date(2026, 1, 1), due_on=due, status=status, progress=progress)


def test_progress_and_overdue() -> None:
    tasks = [_task(40, date(2026, 12, 20)), _task(0, date(2020, 1, 5)),
             _task(100, date(2020, 1, 5), "done")]
    assert flow.plan_progress(tasks) == 47 and flow.plan_progress([]) == 0
    today = date(2026, 11, 25)
    assert [flow.overdue(t, today) for t in tasks] == [False, True, False]


def test_indicator_progress_both_directions() -> None:
    up = Indicator(id=1, plan_id=1, task_id=None, name="lamps", unit="lamps", baseline=2,
                   target=10, direction="up")
    down = Indicator(id=2, plan_id=1, task_id=None, name="kids", unit="kids", baseline=30,
                     target=10, direction="down")
    day = date(2026, 11, 25)
    assert flow.toward_target(up, []) is None
    assert flow.toward_target(up, [Reading(6, day, None)]) == 0.5
    assert flow.toward_target(up, [Reading(12, day, None)]) == 1.0
    assert flow.toward_target(down, [Reading(40, day, None)]) == 0.0
    assert flow.toward_target(down, [Reading(20, day, None)]) == 0.5
    flow.check_indicator(2, 10, "up")
    for baseline, target, direction in ((2, 1, "up"), (2, 2, "up"), (30, 40, "down"),
                                        (1, 2, "sideways")):
        with pytest.raises(Refused):
            flow.check_indicator(baseline, target, direction)


def test_typed_numbers_and_dates() -> None:
    assert typed.to_day("۱۴۰۵-۰۹-۱۰") == date(2026, 12, 1)
    assert typed.to_day("2026/12/01") == date(2026, 12, 1)
    for wrong in ("some day", "2026-13-01", "1405-13-40", "", "99999999999999999999-01-01"):
        with pytest.raises(Refused):
            typed.to_day(wrong)
    assert typed.to_percent("۴۰") == 40 and typed.to_percent("100%") == 100
    for wrong in ("150", "-5", "half", "40.5"):
        with pytest.raises(Refused):
            typed.to_percent(wrong)
    assert typed.to_number("۱۲٫۵") == 12.5 and typed.to_number("12,5") == 12.5
    assert typed.to_number("-3") == -3
    for wrong in ("nan", "inf", "twelve"):
        with pytest.raises(Refused):
            typed.to_number(wrong)
    with pytest.raises(Refused):
        flow.check_schedule(date(2026, 12, 1), date(2026, 11, 30))
    assert typed.lines("a\n\n b \n", 10) == ["a", "b"]


def test_a_task_marked_done_is_done_entirely() -> None:
    assert flow.status_changes("done") == {"status": "done", "progress": 100}
    assert flow.status_changes("blocked") == {"status": "blocked"}
    with pytest.raises(Refused) as refused:
        flow.status_changes("finished")
    assert refused.value.message == flow.NOT_AVAILABLE


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "plan.sqlite3")
    yield database
    await database.close()


async def _member(db: Database, user_id: int, community_id: int, role: str) -> Member:
    user = await community_store.upsert_user(db, user_id, first_name=f"P{user_id}",
                                             last_name=None, username=None, language="en")
    membership, _new = await community_store.join(db, community_id, user.id, role=role,
                                                  stakeholder_group="activist")
    community = await community_store.get_community(db, community_id)
    assert community is not None
    return Member(user, community, membership, Translator("en"), False)


async def _refusal(call: Awaitable[Any]) -> str:
    with pytest.raises(Refused) as refused:
        await call
    return refused.value.message


async def test_flows_check_scope_permission_and_state(db: Database) -> None:
    """Who may change what: the boundary of the community first (a foreign id is refused
    like a missing one), then the role or the person's own task, then the plan's state."""
    here = await community_store.create_community(db, name="Here", default_language="en",
                                                  timezone="UTC", created_by=None)
    there = await community_store.create_community(db, name="There", default_language="en",
                                                   timezone="UTC", created_by=None)
    cora = await _member(db, 1, here.id, "coordinator")
    rhea = await _member(db, 2, here.id, "resident")
    elsewhere = await _member(db, 1, there.id, "coordinator")  # Cora, in the other one
    cora = await _member(db, 1, here.id, "coordinator")  # and back here
    plan = await flow.new_plan(db, cora, "Dark streets")
    assert await _refusal(flow.new_plan(db, rhea, "Mine")) == ONLY_COORDINATORS
    assert await _refusal(flow.new_plan(db, cora, "  ")) == flow.PROBLEM_NEEDED
    theirs = await flow.new_plan(db, elsewhere, "Their streets")
    day = date(2026, 12, 1)
    assigned = await flow.add_task(db, cora, plan.id, title="Fix the lamps",
                                   responsible_id=rhea.user.id, starts_on=day, due_on=day)
    assert assigned.person is not None and assigned.person.id == rhea.user.id
    task = assigned.task

    # Scope: another community's plan is refused exactly like one that does not exist.
    for plan_id in (theirs.id, 9_999_999):
        assert await _refusal(flow.overview(db, cora, plan_id)) == flow.NOT_AVAILABLE
        assert await _refusal(flow.can_add_task(db, cora, plan_id)) == flow.NOT_AVAILABLE
    assert await _refusal(flow.add_task(
        db, cora, plan.id, title="x", responsible_id=999, starts_on=day,
        due_on=day)) == flow.NOT_A_MEMBER
    their_offer = await store.add_resource(db, there.id, cora.user.id, "skill", "Carpentry")
    assert await _refusal(flow.withdraw(db, cora, their_offer)) == flow.NOT_AVAILABLE
    assert [r.id for r in (await flow.resource_map(db, elsewhere)).mine] == [their_offer]

    # Permission: editors edit, the responsible person answers and reports.
    assert await _refusal(flow.set_status(db, rhea, task.id, "done")) == flow.ONLY_EDITORS
    assert await _refusal(flow.answer_task(db, cora, task.id, True)) == flow.ONLY_RESPONSIBLE
    assert await _refusal(flow.post_update(db, cora, task.id, "Done", 50, None)) == \
        flow.ONLY_RESPONSIBLE
    view = await flow.task_view(db, rhea, task.id)
    assert (view.may_answer, view.may_report, view.may_edit) == (True, True, False)
    view = await flow.task_view(db, cora, task.id)
    assert (view.may_answer, view.may_report, view.may_edit) == (False, False, True)
    answered = await flow.answer_task(db, rhea, task.id, True)
    assert answered.task.accepted is True
    assert answered.creator is not None and answered.creator.id == cora.user.id
    reported = await flow.post_update(db, rhea, task.id, "Half the lamps", 50, None)
    assert (reported.task.progress, reported.task.status, reported.number) == (
        50, "in_progress", 1)
    assert (await flow.set_status(db, cora, task.id, "done")).progress == 100
    edited = await flow.edit_task(db, cora, task.id, responsible_id=cora.user.id)
    assert edited.task.accepted is None and edited.person is not None
    assert (await flow.edit_task(db, cora, task.id, progress=80)).person is None
    assert await _refusal(flow.edit_task(db, cora, task.id, due_on=date(2026, 11, 1))) == \
        "The due date cannot be before the start date."

    # The tree: residents propose, editors place at once; only editors curate.
    assert await flow.propose(db, rhea, plan.id, "cause", "No money") == (plan, False)
    _plan, placed = await flow.propose(db, cora, plan.id, "cause", "No lamps")
    assert placed is True
    (waiting,) = (await flow.proposals(db, cora, plan.id)).items
    assert await _refusal(flow.curate(db, rhea, waiting.id, "accept")) == flow.ONLY_EDITORS
    assert await _refusal(flow.propose(db, rhea, plan.id, "root", "x")) == flow.NOT_AVAILABLE

    # State: an evaluated plan takes no more changes.
    await flow.evaluate(db, cora, plan.id, reached="partly", rating=4, worked="Together",
                        next_steps=["More lamps"])
    assert await _refusal(flow.set_status(db, cora, task.id, "blocked")) == flow.CLOSED
    assert await _refusal(flow.can_add_task(db, cora, plan.id)) == flow.CLOSED
    assert await _refusal(flow.can_evaluate(db, cora, plan.id)) == flow.CLOSED
    assert (await flow.overview(db, cora, plan.id)).may_add_task is False
    history = await flow.history(db, cora, task.id)
    assert [sorted(c.changes) for c in history.changes] == [
        ["created"], ["accepted"], ["progress", "status"], ["progress", "status"],
        ["accepted", "responsible_id"], ["progress"]]
    assert history.names == {1: "P1", 2: "P2"}


def test_tasks_are_recalled_the_day_before_and_the_day_after_they_are_due() -> None:
    from bot.flows import schedule

    assert schedule.due_days(date(2026, 12, 1)) == (date(2026, 12, 2), date(2026, 11, 30))
