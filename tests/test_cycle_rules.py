"""The participation cycle's rules, without Telegram: what each event does to the steps,
which cycle an event belongs to, when a new cycle begins, marks by hand and their undo, the
steps a cycle uses, the one line that names the step — and that a fault in the cycle's
bookkeeping never stops the capability that reported the event."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.flows import process as flow
from bot.flows import voting as voting_flow
from bot.flows.errors import Refused
from bot.flows.people import Member
from bot.i18n import Translator
from storage import community as community_store
from storage import plan as plan_store
from storage import process as store
from storage import voting as voting_store
from storage.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "cycle.sqlite3")
    yield database
    await database.close()


async def _community(db: Database, name: str = "Green Street") -> Member:
    """A community and its coordinator, as a flow sees them."""
    user = await community_store.upsert_user(db, 7, first_name="Cora", last_name=None,
                                             username=None, language="en")
    community = await community_store.create_community(
        db, name=name, default_language="en", timezone="UTC", created_by=None)
    membership, _new = await community_store.join(db, community.id, user.id,
                                                  role="coordinator", stakeholder_group="ngo")
    return Member(user, community, membership, Translator("en"), False)


async def _states(db: Database, community_id: int) -> dict[str, str]:
    return {s.key: s.status for s in (await flow.standing(db, community_id)).steps}


async def _vote(db: Database, community_id: int, stickers: dict[str, int],
                ) -> tuple[int, voting_flow.Outcome]:
    vote = await voting_store.create(db, community_id, title="Priorities", method="stickers",
                                     problems=list(stickers))
    problems = await voting_store.problems(db, vote.id)
    outcome = voting_flow.sticker_outcome(
        problems, {p.id: stickers[p.title] for p in problems}, sum(stickers.values()))
    return vote.id, outcome


async def test_before_anything_happens_nothing_is_written(db: Database) -> None:
    who = await _community(db)
    found = await flow.standing(db, who.community.id)
    assert (found.cycle, found.begun) == (1, False)
    assert [s.key for s in found.steps] == list(flow.STEPS)
    assert found.current is not None and found.current.key == "needs"
    assert flow.step_line(Translator("en"), found) is None
    assert await store.latest_cycle(db, who.community.id) is None


async def test_events_move_steps_forward_only(db: Database) -> None:
    who = await _community(db)
    cid = who.community.id
    vote_id, outcome = await _vote(db, cid, {"Potholes": 5, "Litter": 2})
    await flow.happened(db, cid, "vote_opened", vote_id)
    assert (await _states(db, cid))["needs"] == "under_way"
    await flow.happened(db, cid, "vote_closed", vote_id, outcome=outcome)
    cycle = await store.latest_cycle(db, cid)
    assert cycle is not None and (cycle.problem, cycle.problem_score) == ("Potholes", 5)
    assert (await _states(db, cid))["needs"] == "done"
    await flow.happened(db, cid, "survey_opened", 12345)  # no such survey: not open
    await flow.happened(db, cid, "brainstorm_opened", 1)  # step 1 is done: it stays done
    assert (await _states(db, cid))["needs"] == "done"
    # The one plan offer, once, however often the close is reported.
    await flow.happened(db, cid, "vote_closed", vote_id, outcome=outcome)
    assert [o.next.kind for o in await flow.unsent(db)] == ["plan"]
    found = await flow.standing(db, cid)
    assert found.current is not None and found.current.key == "committee"
    assert flow.step_line(Translator("en"), found) == (
        "Cycle 1, step 2 of 7: Representative committee (next).")
    await flow.happened(db, cid, "election_opened", 3)
    assert flow.step_line(Translator("en"), await flow.standing(db, cid)) == (
        "Cycle 1, step 2 of 7: Representative committee (under way).")


async def test_a_vote_nobody_voted_in_decides_nothing(db: Database) -> None:
    who = await _community(db)
    cid = who.community.id
    vote_id, outcome = await _vote(db, cid, {"Potholes": 0, "Litter": 0})
    await flow.happened(db, cid, "vote_opened", vote_id)
    await flow.happened(db, cid, "vote_closed", vote_id, outcome=outcome)
    assert (await _states(db, cid))["needs"] == "under_way"
    assert await flow.unsent(db) == []


async def test_the_plan_steps_follow_the_plans_own_state(db: Database) -> None:
    who = await _community(db)
    cid = who.community.id
    plan = await plan_store.create_plan(db, cid, "Potholes", who.user.id)
    await flow.happened(db, cid, "plan_created", plan.id)
    found = await _states(db, cid)
    assert (found["analysis"], found["plan"]) == ("under_way", "under_way")
    await plan_store.add_tree_item(db, plan.id, "cause", "Trucks", who.user.id, "accepted")
    await flow.happened(db, cid, "tree_changed", plan.id)
    assert (await _states(db, cid))["analysis"] == "under_way"  # a cause, no consequence
    await plan_store.add_tree_item(db, plan.id, "consequence", "Damage", who.user.id,
                                   "accepted")
    await flow.happened(db, cid, "tree_changed", plan.id)
    assert (await _states(db, cid))["analysis"] == "done"
    task = await plan_store.add_task(db, plan.id, who.user.id, title="Fill", starts_on=date(
        2026, 1, 1), due_on=date(2026, 2, 1), responsible_id=who.user.id)
    await flow.happened(db, cid, "task_changed", plan.id)  # nothing begun yet
    assert (await _states(db, cid))["monitoring"] == "not_started"
    await plan_store.change_task(db, task, who.user.id, status="done", progress=100)
    await flow.happened(db, cid, "task_changed", plan.id)
    found = await _states(db, cid)
    assert (found["plan"], found["monitoring"]) == ("done", "done")


async def test_an_earlier_cycles_objects_and_late_events_move_nothing(db: Database) -> None:
    who = await _community(db)
    cid = who.community.id
    plan = await plan_store.create_plan(db, cid, "Potholes", who.user.id)
    await flow.happened(db, cid, "plan_created", plan.id)
    await plan_store.evaluate(db, plan.id, who.user.id, reached="yes", rating=5, worked="All",
                              next_steps=["More"])
    await flow.happened(db, cid, "plan_evaluated", plan.id)
    first = await _states(db, cid)
    assert first["evaluation"] == "done" and first["plan"] == "done"  # closed by evaluation
    assert first["committee"] == "not_started"  # what never began stays so
    assert [o.next.kind for o in await flow.unsent(db)] == ["cycle"]
    # Over: a resident's offer afterwards begins nothing; a coordinator's survey does.
    await flow.happened(db, cid, "resource_offered")
    assert await store.numbers(db, cid) == [1]
    survey = await db.execute(
        "INSERT INTO surveys (community_id, title, intro, anonymous, status, opens_at,"
        " created_by, created_at) VALUES (?, '{}', '{}', 0, 'open', '2026-01-01T00:00:00+00:00',"
        " ?, '2026-01-01T00:00:00+00:00')", (cid, who.user.id))
    await flow.happened(db, cid, "survey_opened", survey)
    assert await store.numbers(db, cid) == [1, 2]
    assert (await _states(db, cid))["needs"] == "under_way"
    # The old plan belongs to cycle 1: its events leave cycle 2 alone.
    await flow.happened(db, cid, "tree_changed", plan.id)
    assert (await _states(db, cid))["analysis"] == "not_started"


async def test_marks_by_hand_undo_and_the_steps_used(db: Database) -> None:
    who = await _community(db)
    cid = who.community.id
    await flow.use(db, who, "committee", False)
    await flow.use(db, who, "resources", False)
    found = await flow.standing(db, cid)
    assert [s.key for s in found.steps] == ["needs", "analysis", "plan", "monitoring",
                                            "evaluation"]
    await flow.happened(db, cid, "election_counted", 4)  # not used: moves nothing
    assert "committee" not in await _states(db, cid)
    with pytest.raises(Refused) as refused:
        await flow.mark(db, who, "committee", "done")
    assert refused.value.message == flow.NOT_USED
    manage = await flow.mark(db, who, "needs", "done")
    assert manage.last is not None and (manage.last.step, manage.last.status) == (
        "needs", "done")
    await flow.mark(db, who, "evaluation", "done")  # the last step: the cycle is over
    assert (await flow.standing(db, cid)).current is not None  # analysis etc. remain
    last = (await flow.manage(db, who)).last
    assert last is not None and last.step == "evaluation"
    manage = await flow.undo(db, who, last.id)
    assert (await _states(db, cid))["evaluation"] == "not_started"
    assert manage.last is not None and manage.last.step == "needs"
    await flow.undo(db, who, manage.last.id)
    assert (await _states(db, cid))["needs"] == "not_started"
    with pytest.raises(Refused):
        await flow.undo(db, who, manage.last.id)
    # Every step left out but one: the last one stays.
    for key in ("needs", "analysis", "plan", "monitoring"):
        await flow.use(db, who, key, False)
    with pytest.raises(Refused) as refused:
        await flow.use(db, who, "evaluation", False)
    assert refused.value.message == flow.LAST_STEP
    # The choice carries into the next cycle.
    await flow.mark(db, who, "evaluation", "done")
    await flow.happened(db, cid, "brainstorm_opened", 9)
    found = await flow.standing(db, cid)
    assert found.cycle == 2 and [s.key for s in found.steps] == ["evaluation"]


async def test_a_fault_in_the_cycle_is_logged_and_the_capability_goes_on(
        db: Database, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    who = await _community(db)

    async def broken(*_args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "plan_counts", broken)
    with caplog.at_level(logging.ERROR, logger="bot.flows.process"):
        await flow.happened(db, who.community.id, "tree_changed", 1)
    assert "could not follow tree_changed" in caplog.text
    assert await db.fetchval("SELECT COUNT(*) FROM process_cycles") == 0  # rolled back


def test_every_step_and_status_has_a_label() -> None:
    from bot.handlers import process as handlers

    assert set(flow.STEP_LABELS) == set(flow.STEPS)
    assert set(handlers.STATUS_LABELS) == set(handlers.MARKS) == set(flow.STATUSES)
