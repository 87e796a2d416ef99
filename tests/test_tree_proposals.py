"""Coordinators hear when residents propose causes or consequences for a plan's problem
tree: one notice at once, then at most one an hour taking in what came meanwhile, never in
quiet hours, also after a restart — and the committee's digest has a line for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.flows import schedule
from bot.handlers.digest import send_due
from storage import committee as committee_store
from storage import community as community_store
from storage import plan as plan_store
from storage.db import from_db, to_db
from tests.harness import Harness, step, tr
from tests.test_digest import make_due


def _notice(n: int) -> str:
    noun = "proposal waits" if n == 1 else "proposals wait"
    return (f"New for the problem tree of “\u2068Dark streets\u2069”: {n} {noun} for"
            " review.")


async def _propose(harness: Harness, person: object, text: str) -> None:
    await step(harness, person, "/plan", send=True)
    await step(harness, person, tr(person, "Problem tree"))  # type: ignore[arg-type]
    await step(harness, person, tr(person, "Add a cause"))  # type: ignore[arg-type]
    await step(harness, person, text, send=True)


async def test_coordinators_hear_of_proposals_at_most_once_an_hour(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    dana = await harness.resident(invitation, "he", "vulnerable", name="Dana")
    await step(harness, cora, "/newplan Dark streets", send=True)
    (plan,) = await plan_store.plans(harness.db, invitation.community.id)

    # The first proposal: the coordinator hears at once, with a button to review it.
    await _propose(harness, dana, "The lamps are old")
    notice = await cora.wait_for(_notice(1))
    assert cora.buttons(notice) == ["Review proposals"]
    await step(harness, cora, "Review proposals")
    assert "The lamps are old" in cora.texts()[-1]

    # Two more within the hour: no notice now; one is due an hour after the first.
    heard = len(cora.texts())
    await _propose(harness, dana, "Nobody reports broken lamps")
    await _propose(harness, dana, "The budget went elsewhere")
    assert len(cora.texts()) == heard
    (job,) = harness.app.job_queue.get_jobs_by_name(f"plan-proposals-{plan.id}")
    told = (await plan_store.proposals_told(harness.db, plan.id)).at
    assert told is not None and job.next_t == told + timedelta(hours=1)

    # The hour passes while the bot is down: at start, one notice for both.
    await harness.db.execute("UPDATE plans SET proposals_told_at = ? WHERE id = ?",
                             (to_db(told - timedelta(hours=2)), plan.id))
    await harness.restart()
    await cora.wait_for(_notice(2))
    await harness.settle()
    assert cora.texts()[heard:] == [_notice(2)]
    assert dana.texts()[-1] != _notice(2)  # residents are not told

    # In quiet hours (from this hour, for two hours) the notice waits for them to end.
    now = datetime.now(UTC)
    hour = now.astimezone(ZoneInfo(invitation.community.timezone)).hour
    await community_store.set_quiet_hours(harness.db, invitation.community.id, hour,
                                          (hour + 2) % 24)
    await harness.db.execute("UPDATE plans SET proposals_told_at = ? WHERE id = ?",
                             (to_db(now - timedelta(hours=2)), plan.id))
    await _propose(harness, dana, "Trees hide the lamps")
    row = await harness.db.fetchone(
        "SELECT state, due_at FROM outbox WHERE dedupe LIKE ? ORDER BY id DESC LIMIT 1",
        (f"plan-proposals:{plan.id}:%",))
    community = await community_store.get_community(harness.db, invitation.community.id)
    assert row is not None and community is not None
    assert row["state"] == "pending"
    assert from_db(row["due_at"]) == schedule.quiet_until(now, community)


async def test_the_committee_digest_has_a_line_for_waiting_proposals(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    dana = await harness.resident(invitation, "en", "vulnerable", name="Dana")
    committee = await committee_store.create_committee(harness.db, invitation.community.id,
                                                       "Green committee")
    await committee_store.add_member(harness.db, committee.id, cora.id, "co-opted")
    await step(harness, cora, "/newplan Dark streets", send=True)
    await _propose(harness, dana, "The lamps are old")
    await _propose(harness, dana, "Nobody reports broken lamps")
    await step(harness, cora, "/digest", send=True)
    await step(harness, cora, "Daily")
    await make_due(harness, committee.id)
    assert await send_due(harness.app) == 1
    digest = await cora.wait_for(lambda m: "•" in (m.get("text") or ""))
    assert ("• 2 proposals for the problem tree of \u2068Dark streets\u2069 wait for review"
            in digest["text"])
