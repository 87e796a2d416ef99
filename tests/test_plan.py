"""Action plans end to end, in Persian, Hebrew, Kazakh and English: problem tree (residents
propose, the committee curates), resource map and actors with export, tasks with a
responsible member who accepts, updates to followers, edits with a history, overdue tasks,
indicators with readings, the evaluation seeding the next brainstorm — and bad input."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from bot.flows import plan as flow
from storage import brainstorm as brainstorm_store
from storage import committee as committee_store
from storage import community as community_store
from storage import plan as store
from storage.db import utcnow
from tests.harness import Harness, press, step, tr


def _plain(text: str) -> str:
    return text.replace("\u2068", "").replace("\u2069", "")


async def test_plan_from_tree_to_evaluation(harness: Harness) -> None:
    invitation = await harness.new_community()
    community_id = invitation.community.id
    cora = await harness.coordinator(invitation, "fa", name="Cora")
    dana = await harness.resident(invitation, "he", "vulnerable", name="Dana")
    erlan = await harness.resident(invitation, "kk", "authority", name="Erlan")
    ed = await harness.resident(invitation, "en", "business", name="Ed")
    await community_store.set_role(harness.db, community_id, erlan.id, "committee")

    await step(harness, cora, "/newplan No safe place for children to play", send=True)
    (plan,) = await store.plans(harness.db, community_id)

    # Problem tree: residents propose, the committee curates.
    await step(harness, dana, "/plan", send=True)
    await step(harness, dana, tr(dana, "Problem tree"))
    await step(harness, dana, tr(dana, "Add a cause"))
    await step(harness, dana, "No land set aside for a park", send=True)
    assert tr(dana, "Thank you! The committee will place it in the problem tree.") in \
        dana.texts()[-2]
    await step(harness, dana, tr(dana, "Add a cause"))
    await step(harness, dana, "The city budget went to roads", send=True)
    await step(harness, ed, "/plan", send=True)
    await step(harness, ed, "Problem tree")
    await step(harness, ed, "Add a consequence")
    await step(harness, ed, "Children play in the street", send=True)
    # A resident cannot curate; forged items are refused.
    first, second, third = await store.tree(harness.db, plan.id)
    assert await press(harness, dana, f"pl:ti:{first.id}:a") == tr(dana, flow.ONLY_EDITORS)
    await step(harness, erlan, "/plan", send=True)
    await step(harness, erlan, tr(erlan, "Problem tree"))
    await step(harness, erlan, tr(erlan, "Review proposals"))
    await step(harness, erlan, tr(erlan, "Accept"))          # the first cause
    await step(harness, erlan, tr(erlan, "Under…"))          # the second, under the first
    await step(harness, erlan, lambda label: label.startswith("No land"))
    await step(harness, erlan, tr(erlan, "Accept"))          # the consequence
    assert await press(harness, erlan, f"pl:ti:{first.id}:p:{second.id}") == tr(
        erlan, flow.NOT_AVAILABLE)  # a branch never goes under its own leaf
    assert await press(harness, erlan, "pl:ti:999:a") == tr(erlan, flow.NOT_AVAILABLE)
    assert await press(harness, erlan, f"pl:ti:{first.id}:zz") == tr(erlan, flow.NOT_AVAILABLE)
    await step(harness, dana, "/plan", send=True)
    await step(harness, dana, tr(dana, "Problem tree"))
    tree = _plain(dana.texts()[-1])
    assert "• No land set aside for a park\n    • The city budget went to roads" in tree
    assert tree.index("Children play in the street") < tree.index("No land")  # leaves above
    assert [i.status for i in await store.tree(harness.db, plan.id)] == ["accepted"] * 3
    assert third.kind == "consequence"

    # Resource map: a resident offers, a coordinator lists an organisation; both export.
    await step(harness, dana, "/resources", send=True)
    await step(harness, dana, tr(dana, "Offer a resource"))
    await step(harness, dana, "I can help", send=True)  # text where a button was asked
    assert dana.texts()[-1] == tr(dana, "Please choose with the buttons.")
    await step(harness, dana, tr(dana, "Skill"))
    await step(harness, dana, "Carpentry on weekends", send=True)
    await step(harness, cora, "/resources", send=True)
    await step(harness, cora, tr(cora, "Add an organisation or person"))
    await step(harness, cora, "District 3 municipality", send=True)
    await step(harness, cora, tr(cora, "Public body"))
    await step(harness, cora, "Owns the empty lot", send=True)
    await step(harness, cora, tr(cora, "High influence"))
    assert "District 3 municipality" in cora.texts()[-1]
    await step(harness, ed, "/resources", send=True)
    await step(harness, ed, "Export CSV")
    rows = list(csv.reader(io.StringIO(ed.document(ed.last).decode("utf-8-sig"))))
    assert rows[1] == ["Skill", "Dana", "Carpentry on weekends", "", ""]
    assert rows[2] == ["Organisation or person", "District 3 municipality",
                       "Owns the empty lot", "Public body", "High influence"]

    # A task: a Solar Hijri start typed by a Persian coordinator, a restart mid-form,
    # a due date before the start and an unknown person refused.
    await step(harness, ed, "/plan", send=True)
    await step(harness, ed, "Follow")
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, tr(cora, "Add a task"))
    await step(harness, cora, "Ask the municipality for the lot", send=True)
    await harness.restart()
    await step(harness, cora, "Nobody", send=True)
    assert cora.texts()[-1] == tr(cora, "No member of the community has that name. Try part"
                                        " of the name.")
    await step(harness, cora, "dan", send=True)
    await step(harness, cora, "۱۴۰۵-۰۹-۱۰", send=True)  # 1 December 2026
    await step(harness, cora, "2026-11-20", send=True)
    assert cora.texts()[-1] == tr(cora, "The due date cannot be before the start date.")
    await step(harness, cora, "2026-12-20", send=True)
    (task,) = await store.tasks(harness.db, plan.id)
    assert (task.responsible_id, task.starts_on.isoformat()) == (dana.id, "2026-12-01")
    assert "۱۰ آذر ۱۴۰۵" in cora.texts()[-1]  # the community's calendar for fa
    # Dana is asked to accept, and accepts.
    await step(harness, dana, tr(dana, "Accept the task"))
    assert (await store.get_task(harness.db, task.id)).accepted is True  # type: ignore[union-attr]

    # A second task, already overdue, made by the committee member.
    await step(harness, erlan, "/plan", send=True)
    await step(harness, erlan, tr(erlan, "Add a task"))
    await step(harness, erlan, "Count the children in the street", send=True)
    await step(harness, erlan, "Ed", send=True)
    await step(harness, erlan, "2020-01-01", send=True)
    await step(harness, erlan, "2020-01-05", send=True)

    # Updates: only the responsible member; progress over 100 or negative is refused.
    assert await press(harness, erlan, f"pl:upd:{task.id}") == tr(
        erlan, "Only the person responsible for this task can post its updates.")
    await step(harness, dana, "/plan", send=True)
    await step(harness, dana, lambda label: "Ask the municipality" in label)
    await step(harness, dana, tr(dana, "Post an update"))
    await step(harness, dana, "Letter sent to the mayor", send=True)
    for wrong in ("150", "-5", "half"):
        await step(harness, dana, wrong, send=True)
        assert dana.texts()[-1] == tr(dana, "Please send a whole number from 0 to 100.")
    await step(harness, dana, "40", send=True)
    await step(harness, dana, tr(dana, "Skip"))
    assert (await store.get_task(harness.db, task.id)).progress == 40  # type: ignore[union-attr]
    await ed.wait_for("Update on “")
    assert "Letter sent to the mayor" in ed.texts()[-1] and "(40%)" in _plain(ed.texts()[-1])

    # Edits by the committee, recorded with who and when.
    await step(harness, erlan, "/plan", send=True)
    await step(harness, erlan, lambda label: "Ask the municipality" in label)
    await step(harness, erlan, tr(erlan, "blocked"))
    await step(harness, erlan, tr(erlan, "History"))
    history = _plain(erlan.texts()[-1])
    assert "Dana" in history and "Erlan" in history and tr(erlan, "blocked") in history
    # A new responsible person is asked again; the history names both.
    await step(harness, erlan, "/plan", send=True)
    await step(harness, erlan, lambda label: "Count the children" in label)
    await step(harness, erlan, tr(erlan, "Responsible"))
    await step(harness, erlan, "Erlan", send=True)
    await step(harness, erlan, lambda label: label == tr(erlan, "History"))
    assert "Ed → Erlan" in _plain(erlan.texts()[-1])
    assert tr(erlan, "Accept the task") in erlan.buttons(erlan.messages[-2]) or any(
        tr(erlan, "Accept the task") in erlan.buttons(m) for m in erlan.messages[-4:])
    assert await press(harness, ed, f"pl:st:{task.id}:done") == tr(ed, flow.ONLY_EDITORS)
    assert await press(harness, erlan, f"pl:st:{task.id}:nonsense") == tr(
        erlan, flow.NOT_AVAILABLE)
    assert await press(harness, erlan, "pl:task:abc") == tr(erlan, flow.NOT_AVAILABLE)

    # /plan: progress bars, the overdue task marked, the plan's progress rolled up (20%).
    await step(harness, ed, "/plan", send=True)
    view = _plain(ed.texts()[-1])
    assert "Progress: ▓▓░░░░░░░░ 20%" in view
    assert "⚠️ Count the children in the street" in view and "overdue" in view

    # Indicators: direction, a target on the wrong side refused, a reading in Persian digits.
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, tr(cora, "Indicators"))
    await step(harness, cora, tr(cora, "Add an indicator"))
    await step(harness, cora, "Children playing in the street after school", send=True)
    await step(harness, cora, "children", send=True)
    await step(harness, cora, tr(cora, "Lower is better"))
    await step(harness, cora, "۳۰", send=True)
    await step(harness, cora, "40", send=True)
    assert cora.texts()[-1] == tr(cora, "When higher is better the target must be above the"
                                        " baseline, and below it when lower is better.")
    await step(harness, cora, "10", send=True)
    await step(harness, cora, "7", send=True)  # no such task
    assert cora.texts()[-1] == tr(cora, "There is no task with that number in this plan.")
    await step(harness, cora, "2", send=True)
    (indicator,) = await store.indicators(harness.db, plan.id)
    assert (indicator.baseline, indicator.target, indicator.direction) == (30, 10, "down")
    await step(harness, cora, lambda label: label.startswith(tr(cora, "Add a reading: {name}",
                                                                name="")))
    await step(harness, cora, "۲۰", send=True)
    await step(harness, cora, tr(cora, "Skip"))
    await step(harness, cora, "Walk-through with parents", send=True)
    assert "۵۰٪" in cora.texts()[-1]  # from 30 to 20 of the way to 10
    await step(harness, ed, "/plan", send=True)
    await step(harness, ed, "Indicators")
    assert "50% of the way to the target" in _plain(ed.texts()[-1])

    # Evaluation, shared with every member; "what next" seeds the next brainstorm.
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, tr(cora, "Evaluation"))
    await step(harness, cora, tr(cora, "Partly"))
    await step(harness, cora, "۴")  # the rating buttons in Persian digits
    await step(harness, cora, "Neighbours came together", send=True)
    await step(harness, cora, "More street lights\nA playground on the lot", send=True)
    await dana.wait_for(tr(dana, "What next:"))
    assert "A playground on the lot" in dana.texts()[-1]
    await step(harness, cora, tr(cora, "Start the next brainstorm with “what next”"))
    round_ = await brainstorm_store.latest_round(harness.db, community_id)
    assert round_ is not None and round_.status == "open"
    assert [c.text for c in await brainstorm_store.cards(harness.db, round_.id)] == [
        "More street lights", "A playground on the lot"]
    # An evaluated plan takes no more updates.
    assert await press(harness, dana, f"pl:upd:{task.id}") == tr(
        dana, "This plan has been evaluated and is closed.")


async def test_reminders_progress_notes_and_digest_lines(harness: Harness) -> None:
    """The scheduler: due-soon and overdue reminders to the responsible member, a weekly
    note to followers, and plan changes in the committee's digest — each once."""
    invitation = await harness.new_community()
    community_id = invitation.community.id
    cora = await harness.coordinator(invitation, "en", name="Cora")
    maryam = await harness.resident(invitation, "fa", "vulnerable", name="Maryam")
    noa = await harness.resident(invitation, "he", "business", name="Noa")
    plan = await store.create_plan(harness.db, community_id, "Dark streets", cora.id)
    today = utcnow().date()
    soon = await store.add_task(harness.db, plan.id, cora.id, title="Fix the lamps",
                                responsible_id=maryam.id, starts_on=today,
                                due_on=today + timedelta(days=1))
    await store.add_task(harness.db, plan.id, cora.id, title="Map the dark corners",
                         responsible_id=maryam.id, starts_on=today - timedelta(days=9),
                         due_on=today - timedelta(days=1))
    await store.follow(harness.db, plan.id, noa.id)
    indicator = await store.add_indicator(harness.db, plan.id, name="Lamps working",
                                          unit="lamps", baseline=3, target=20, direction="up",
                                          task_id=soon.id)
    await store.add_reading(harness.db, indicator, 8, today, None, cora.id)
    committee = await committee_store.create_committee(harness.db, community_id, "Lights")
    await committee_store.add_member(harness.db, committee.id, noa.id, "co-opted")
    await cora.send("/digest")
    await harness.settle()
    await cora.tap("Daily")
    await harness.settle()
    await harness.db.execute("UPDATE digests SET last_period = 'long ago', since = ?"
                             " WHERE committee_id = ?", ("2000-01-01T00:00:00+00:00",
                                                         committee.id))

    await harness.restart()  # the jobs look at start
    soon = await maryam.wait_for("Fix the lamps")
    assert soon["text"].startswith(tr(maryam, "Reminder: your task “{title}” is due on {day}"
                                              " ({percent} done).", title="", day="",
                                      percent="")[:8])
    late = await maryam.wait_for("Map the dark corners")
    assert late["text"].startswith(tr(maryam, "Your task “{title}” was due on {day} and is not"
                                              " done ({percent}). Post an update, or ask a"
                                              " coordinator for a new date.", title="",
                                      day="", percent="")[:8])
    await noa.wait_for(tr(noa, "This week in the plan “{problem}”:", problem="")[:10])
    digest = await noa.wait_for(tr(noa, "<b>Digest for {name}</b>", name="")[:8]
                                .replace("<b>", ""))
    text = _plain(digest["text"])
    for line in ("Fix the lamps", "Lamps working: 8 lamps", "Map the dark corners"):
        assert line in text
    await harness.settle()
    counts = (len(maryam.messages), len(noa.messages))
    await harness.restart()  # the same day and week again: nothing twice
    await harness.settle()  # (after the jobs' look at start-up)
    assert (len(maryam.messages), len(noa.messages)) == counts
