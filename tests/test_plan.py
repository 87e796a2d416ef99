"""Action plans end to end, in Persian, Hebrew, Kazakh and English: problem tree (residents
propose, the committee curates), resource map and actors with export, tasks with a
responsible member who accepts, updates to followers, edits with a history, overdue tasks,
indicators with readings, the evaluation seeding the next brainstorm — and bad input:
forged, stale and foreign buttons, and buttons of an older question."""

from __future__ import annotations

import csv
import io
import logging
import random
from dataclasses import fields
from datetime import date, timedelta
from typing import Any, cast, get_args, get_type_hints

import pytest

from bot.callbacks import KINDS, STALE, Button
from bot.emulator import Person
from bot.flows import plan as flow
from bot.flows import typed
from bot.flows.people import JOIN_FIRST, ONLY_COORDINATORS
from bot.flows.typed import DAY_HINT
from bot.handlers.plan import (
    AddOrganisation,
    AddReading,
    Answer,
    Curate,
    Edit,
    Evaluate,
    Export,
    Follow,
    NewIndicator,
    NewTask,
    Offer,
    OpenTask,
    Place,
    PostUpdate,
    Propose,
    RemoveOrganisation,
    Seed,
    SetStatus,
    Show,
    ShowHistory,
    Withdraw,
)
from bot.i18n import Translator
from storage import brainstorm as brainstorm_store
from storage import committee as committee_store
from storage import community as community_store
from storage import plan as store
from storage.db import Database, utcnow
from storage.plan import Task
from tests.harness import Harness, press, step, tr


def _plain(text: str) -> str:
    return text.replace("\u2068", "").replace("\u2069", "")


def _ntr(person: Person, one: str, many: str, n: int) -> str:
    return Translator(person.language_code or "en").ngettext(one, many, n)


def _asked(person: Person, prompt: str) -> str:
    """A form's question as ``person`` reads it."""
    return tr(person, prompt) + "\n" + tr(person, "(/cancel stops)")


def _hint_and_again(person: Person, hint: str, prompt: str) -> None:
    """A refused answer: the hint, then the same question again."""
    assert person.texts()[-2:] == [tr(person, hint), _asked(person, prompt)]


async def _task(harness: Harness, task_id: int) -> Task:
    task = await store.get_task(harness.db, task_id)
    assert task is not None
    return task


def _history(text: str) -> list[str]:
    """A task's history without the times: "name: what changed" per line."""
    return [line.split(" — ", 1)[1] for line in _plain(text).splitlines()[1:]]


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
    assert await press(harness, dana, Curate(first.id, "accept").pack()) == tr(
        dana, flow.ONLY_EDITORS)
    await step(harness, erlan, "/plan", send=True)
    await step(harness, erlan, tr(erlan, "Problem tree"))
    await step(harness, erlan, tr(erlan, "Review proposals"))
    await step(harness, erlan, tr(erlan, "Accept", "plan"))          # the first cause
    await step(harness, erlan, tr(erlan, "Under…"))          # the second, under the first
    await step(harness, erlan, lambda label: label.startswith("No land"))
    await step(harness, erlan, tr(erlan, "Accept", "plan"))          # the consequence
    assert await press(harness, erlan, Place(first.id, second.id).pack()) == tr(
        erlan, flow.NOT_AVAILABLE)  # a branch never goes under its own leaf
    assert await press(harness, erlan, Curate(9_999_999, "accept").pack()) == tr(
        erlan, flow.NOT_AVAILABLE)
    assert await press(harness, erlan, f"plan:curate:{first.id}:zz") == tr(erlan, STALE)
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
    _hint_and_again(dana, "Please choose with the buttons.", "What do you offer?")
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
    _hint_and_again(cora, "No member of the community has that name. Try part of the name.",
                    "Who is responsible? Send their name (or part of it).")
    await step(harness, cora, "dan", send=True)
    # One match: shown with the group to confirm.
    assert cora.texts()[-1] == tr(cora, "Is this the person: {name} ({group})?",
                                  name="\u2068Dana\u2069", group=tr(cora, "Vulnerable groups"))
    assert cora.buttons() == [tr(cora, "Yes"), tr(cora, "Someone else")]
    await step(harness, cora, tr(cora, "Yes"))
    await step(harness, cora, "99999999999999999999-01-01", send=True)  # once a crash
    t = Translator("fa", "Asia/Tehran")
    assert cora.texts()[-2:] == [
        t._(DAY_HINT, example=typed.day_example(t), named=t.date(typed.today_in(t.tz)),
            today="امروز"),
        t._("When does it start? (for example {example})", example=typed.day_example(t))
        + "\n" + t._("(/cancel stops)")]
    assert typed.day_example(t).startswith("۱۴۰")  # today, in the Solar Hijri calendar
    await step(harness, cora, "۱۴۰۵-۰۹-۱۰", send=True)  # 1 December 2026
    await step(harness, cora, "2026-11-20", send=True)
    _hint_and_again(cora, "The due date cannot be before the start date.", "When is it due?")
    await step(harness, cora, "2026-12-20", send=True)
    (task,) = await store.tasks(harness.db, plan.id)
    assert (task.responsible_id, task.starts_on.isoformat()) == (dana.id, "2026-12-01")
    assert "۱۰ آذر ۱۴۰۵" in cora.texts()[-1]  # the community's calendar for fa
    # Dana is asked to accept, and accepts.
    await step(harness, dana, tr(dana, "Accept the task"))
    assert (await _task(harness, task.id)).accepted is True

    # A second task, already overdue, made by the committee member.
    await step(harness, erlan, "/plan", send=True)
    await step(harness, erlan, tr(erlan, "Add a task"))
    await step(harness, erlan, "Count the children in the street", send=True)
    await step(harness, erlan, "Ed", send=True)
    await step(harness, erlan, tr(erlan, "Yes"))
    await step(harness, erlan, "2020-01-01", send=True)
    await step(harness, erlan, "2020-01-05", send=True)

    # Updates: only the responsible member; progress over 100 or negative is refused.
    assert await press(harness, erlan, PostUpdate(task.id).pack()) == tr(
        erlan, "Only the person responsible for this task can post its updates.")
    await step(harness, dana, "/plan", send=True)
    await step(harness, dana, lambda label: "Ask the municipality" in label)
    await step(harness, dana, tr(dana, "Post an update"))
    await step(harness, dana, "Letter sent to the mayor", send=True)
    for wrong in ("150", "-5", "half"):
        await step(harness, dana, wrong, send=True)
        _hint_and_again(dana, "Please send a whole number from 0 to 100.",
                        "Progress in percent (0–100)?")
    await step(harness, dana, "40", send=True)
    await step(harness, dana, tr(dana, "Skip"))
    assert (await _task(harness, task.id)).progress == 40
    told = await ed.wait_for("Update on “")
    assert _plain(told["text"]) == ("Update on “Ask the municipality for the lot” (40%) by"
                                    " Dana: Letter sent to the mayor")
    assert ed.buttons(told) == ["See the plan"]

    # Edits by the committee, recorded with who and when.
    await step(harness, erlan, "/plan", send=True)
    await step(harness, erlan, lambda label: "Ask the municipality" in label)
    await step(harness, erlan, tr(erlan, "blocked"))
    await step(harness, erlan, tr(erlan, "History"))
    assert _history(erlan.texts()[-1]) == [
        f"Cora: {tr(erlan, 'created')}",
        f"Dana: {tr(erlan, 'accepted')}: — → {tr(erlan, 'yes')}",
        f"Dana: {tr(erlan, 'progress')}: 0% → 40%; {tr(erlan, 'status')}:"
        f" {tr(erlan, 'planned')} → {tr(erlan, 'in progress')}",
        f"Erlan: {tr(erlan, 'status')}: {tr(erlan, 'in progress')} → {tr(erlan, 'blocked')}",
    ]
    # A new responsible person is asked again; the history names both.
    await step(harness, erlan, "/plan", send=True)
    await step(harness, erlan, lambda label: "Count the children" in label)
    await step(harness, erlan, tr(erlan, "Responsible"))
    await step(harness, erlan, "Erlan", send=True)
    await step(harness, erlan, tr(erlan, "Yes"))
    await step(harness, erlan, lambda label: label == tr(erlan, "History"))
    assert _history(erlan.texts()[-1])[-1] == f"Erlan: {tr(erlan, 'responsible')}: Ed → Erlan"
    kk = Translator("kk")
    request = tr(erlan, "You are asked to take on a task: <b>{title}</b>, from {start} to"
                        " {due}. Do you accept?", title="Count the children in the street",
                 start=kk.date(date(2020, 1, 1)), due=kk.date(date(2020, 1, 5)))
    asked = await erlan.wait_for(lambda m: _plain(m.get("text") or "") == request.replace(
        "<b>", "").replace("</b>", ""))
    assert erlan.buttons(asked) == [tr(erlan, "Accept the task"), tr(erlan, "Decline", "plan")]
    assert await press(harness, ed, SetStatus(task.id, "done").pack()) == tr(
        ed, flow.ONLY_EDITORS)
    assert await press(harness, erlan, f"plan:status:{task.id}:nonsense") == tr(erlan, STALE)
    assert await press(harness, erlan, "plan:task:abc") == tr(erlan, STALE)

    # /plan: progress bars, the overdue task marked, the plan's progress rolled up (20%).
    await step(harness, ed, "/plan", send=True)
    view = _plain(ed.texts()[-1]).splitlines()
    assert view[1] == "Progress: ▓▓░░░░░░░░ 20%"
    assert view[3:5] == ["1. ⚠️ Count the children in the street — Erlan",
                         "    ░░░░░░░░░░ 0% · planned · due January 5, 2020 · overdue"]

    # Indicators: direction, a target on the wrong side refused, a reading in Persian digits.
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, tr(cora, "Indicators"))
    await step(harness, cora, tr(cora, "Add an indicator"))
    await step(harness, cora, "Children playing in the street after school", send=True)
    await step(harness, cora, "children", send=True)
    await step(harness, cora, tr(cora, "Lower is better"))
    await step(harness, cora, "۳۰", send=True)
    await step(harness, cora, "40", send=True)
    _hint_and_again(cora, "When higher is better the target must be above the baseline, and"
                          " below it when lower is better.", "The target?")
    await step(harness, cora, "10", send=True)
    await step(harness, cora, "7", send=True)  # no such task
    _hint_and_again(cora, "There is no task with that number in this plan.",
                    "Linked to a task? Send its number from /plan, or skip.")
    await step(harness, cora, "2", send=True)
    (indicator,) = await store.indicators(harness.db, plan.id)
    assert (indicator.baseline, indicator.target, indicator.direction) == (30, 10, "down")
    assert indicator.task_id == task.id  # the second in /plan's list
    await step(harness, cora, lambda label: label.startswith(tr(cora, "Add a reading: {name}",
                                                                name="")))
    await step(harness, cora, "۲۰", send=True)
    await step(harness, cora, tr(cora, "Skip"))
    await step(harness, cora, "Walk-through with parents", send=True)
    assert ("▓▓▓▓▓░░░░░ " + tr(cora, "{percent} of the way to the target", percent="۵۰٪")
            in cora.texts()[-1])
    await step(harness, ed, "/plan", send=True)
    await step(harness, ed, "Indicators")
    assert "    ▓▓▓▓▓░░░░░ 50% of the way to the target" in _plain(ed.texts()[-1]).splitlines()

    # Evaluation, shared with every member; "what next" seeds the next brainstorm.
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, tr(cora, "Evaluation"))
    await step(harness, cora, tr(cora, "Partly"))
    await step(harness, cora, "۴")  # the rating buttons in Persian digits
    await step(harness, cora, "Neighbours came together", send=True)
    await step(harness, cora, "More street lights\nA playground on the lot", send=True)
    shared = await dana.wait_for(tr(dana, "What next:"))
    assert _plain(shared["text"]).splitlines()[-2:] == ["• More street lights",
                                                        "• A playground on the lot"]
    await step(harness, cora, tr(cora, "Start the next brainstorm with “what next”"))
    round_ = await brainstorm_store.latest_round(harness.db, community_id)
    assert round_ is not None
    assert round_.status == "open"
    assert [c.text for c in await brainstorm_store.cards(harness.db, round_.id)] == [
        "More street lights", "A playground on the lot"]
    # An evaluated plan takes no more updates.
    assert await press(harness, dana, PostUpdate(task.id).pack()) == tr(dana, flow.CLOSED)


async def _run_jobs(harness: Harness) -> None:
    """Run every job the bot has scheduled, now (rather than waiting for their time)."""
    queue = harness.app.job_queue
    assert queue is not None
    for job in queue.jobs():
        await job.run(harness.app)
    await harness.settle()


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
    soon_told = await maryam.wait_for("Fix the lamps")
    assert soon_told["text"].startswith(tr(maryam, "Reminder: your task “{title}” is due on"
                                                   " {day} ({percent} done).", title="",
                                           day="", percent="")[:8])
    assert maryam.buttons(soon_told) == [tr(maryam, "Post an update")]
    late = await maryam.wait_for("Map the dark corners")
    assert late["text"].startswith(tr(maryam, "Your task “{title}” was due on {day} and is not"
                                              " done ({percent}). Post an update, or ask a"
                                              " coordinator for a new date.", title="",
                                      day="", percent="")[:8])
    note = await noa.wait_for(tr(noa, "This week in the plan “{problem}”:", problem="")[:10])
    assert _plain(note["text"]).splitlines() == [
        tr(noa, "This week in the plan “{problem}”:", problem="Dark streets"),
        tr(noa, "Progress: {bar} {percent}", bar="░" * 10, percent="0%"),
        _ntr(noa, "{n} task done", "{n} tasks done", 0),
        _ntr(noa, "{n} task overdue", "{n} tasks overdue", 1)]
    digest = await noa.wait_for(tr(noa, "<b>Digest for {name}</b>", name="")[:8]
                                .replace("<b>", ""))
    text = _plain(digest["text"])
    for line in ("Fix the lamps", "Lamps working: 8 lamps", "Map the dark corners"):
        assert line in text
    await harness.settle()
    counts = (len(maryam.messages), len(noa.messages))
    await harness.restart()  # the same day and week again: nothing twice
    await _run_jobs(harness)
    assert (len(maryam.messages), len(noa.messages)) == counts


# -- buttons from outside: forged, mutated, foreign, closed --------------------------------------


async def _snapshot(db: Database) -> dict[str, list[str]]:
    """Every row of every table but PTB's own (a form being filled lives there)."""
    tables = [r["name"] for r in await db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name NOT LIKE 'ptb_%'")]
    return {name: sorted(repr(tuple(row)) for row in await db.fetchall(
        f"SELECT * FROM {name}")) for name in tables}


def _plan_kinds() -> list[type[Button]]:
    return [kind for prefix, kind in KINDS.items() if prefix.startswith("plan:")]


def _values(kind: type[Button], ids: dict[str, int]) -> dict[str, Any]:
    """Good values for every field of ``kind``: ids from ``ids`` by field name."""
    hints = get_type_hints(kind, include_extras=True)
    values: dict[str, Any] = {}
    for f in fields(cast(Any, kind)):  # a button kind is a dataclass
        hint = hints[f.name]
        if f.name in ids:
            values[f.name] = ids[f.name]
        elif hint is bool:
            values[f.name] = True
        else:
            values[f.name] = get_args(hint)[0]
    return values


async def _world(harness: Harness) -> dict[str, Any]:
    """Two communities, each with a plan holding one of everything; a closed plan; an open
    brainstorm (so no evaluation can seed another). Cora owns everything, everywhere: only
    the community's boundary keeps her out of the other one."""
    ours = await harness.new_community("Ours")
    theirs = await harness.new_community("Theirs")
    cora = await harness.coordinator(ours, name="Cora")
    rhea = await harness.resident(ours, name="Rhea")
    await harness.join(cora, theirs.coordinator_code)
    await cora.send("/community")
    await harness.settle()
    await cora.tap("Ours")
    await harness.settle()
    db, today = harness.db, utcnow().date()

    async def everything(community_id: int, closed: bool = False) -> dict[str, int]:
        plan = await store.create_plan(db, community_id, "A problem", cora.id)
        task = await store.add_task(db, plan.id, cora.id, title="A task",
                                    responsible_id=cora.id, starts_on=today,
                                    due_on=today + timedelta(days=5))
        item = await store.add_tree_item(db, plan.id, "cause", "A cause", cora.id)
        parent = await store.add_tree_item(db, plan.id, "cause", "Another", cora.id,
                                           "accepted")
        indicator = await store.add_indicator(db, plan.id, name="Lamps", unit="lamps",
                                              baseline=1, target=5, direction="up",
                                              task_id=task.id)
        resource = await store.add_resource(db, community_id, cora.id, "skill", "Carpentry")
        organisation = await store.add_actor(db, community_id, cora.id, "The city", "public",
                                             "Owns the lot", 3)
        if closed:
            await store.evaluate(db, plan.id, cora.id, reached="yes", rating=5,
                                 worked="All", next_steps=["More"])
        return {"plan": plan.id, "task": task.id, "item": item, "parent": parent,
                "indicator": indicator, "resource": resource, "organisation": organisation}

    world = {"ours": await everything(ours.community.id),
             "closed": await everything(ours.community.id, closed=True),
             "theirs": await everything(theirs.community.id), "cora": cora, "rhea": rhea}
    assert await brainstorm_store.open_round(db, ours.community.id, "Open", cora.id)
    return world


def _mutations(kind: type[Button], world: dict[str, Any]) -> list[tuple[str, str]]:
    """(data, the refusal it must get) for one button kind."""
    good = kind(**_values(kind, world["ours"])).pack()
    parts = [kind.prefix, *good.split(":")[2:]]  # the prefix, then one part per field
    found: list[tuple[str, str]] = [
        (":".join(parts[:-1]) if len(parts) > 1 else kind.prefix[:-1], STALE),  # cut short
        (good + ":1", STALE),  # one part too many
        ((good + ":" + "x" * 64)[:64], STALE),  # as long as data can be
    ]
    names = [f.name for f in fields(cast(Any, kind))]  # a button kind is a dataclass
    for position, name in enumerate(names, start=1):
        def with_(text: str, position: int = position) -> str:
            return ":".join([*parts[:position], text, *parts[position + 1:]])

        if name in world["ours"]:
            for wrong in ("0", "-1", "99999999999999999999", "9223372036854775808", "01",
                          "1.5", "+1", " 1", "abc", "", "١"):
                found.append((with_(wrong), STALE))
            found.append((with_("9223372036854775807"), flow.NOT_AVAILABLE))  # no such row
            found.append((with_(str(world["theirs"][name])), flow.NOT_AVAILABLE))
        else:
            for wrong in ("zz", "", "TRUE", "2", "-", "a" * 40):
                found.append((with_(wrong), STALE))
    return found


CLOSED_KINDS = {NewTask, Answer, SetStatus, Edit, PostUpdate, NewIndicator, AddReading,
                Evaluate}
ANYONE_MAY = {Show, Follow, Propose, OpenTask, ShowHistory, Offer, Export}


async def test_forged_buttons_are_refused_and_change_nothing(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Every plan button, its data mutated (parts dropped or added, too long, ids huge,
    negative, malformed, missing or of another community, closed plans), by a coordinator
    who may do everything else; every button an editor or the responsible person needs, by
    a resident; anything by a stranger: each tap is answered with the refusal it deserves,
    nothing is logged as an error, and not a row changes."""
    world = await _world(harness)
    cora, rhea = world["cora"], world["rhea"]
    stranger = harness.person(name="Stranger")
    await stranger.send("/start")
    await harness.settle()
    kinds = _plan_kinds()
    assert len(kinds) == 21
    presses: list[tuple[Person, str, str]] = []
    for kind in kinds:
        presses += [(cora, data, refusal) for data, refusal in _mutations(kind, world)]
        if kind in CLOSED_KINDS:
            closed = kind(**_values(kind, world["closed"]))
            presses.append((cora, closed.pack(), flow.CLOSED))
        good = kind(**_values(kind, world["ours"])).pack()
        presses.append((stranger, good, JOIN_FIRST))
        if kind not in ANYONE_MAY:
            refusal = (ONLY_COORDINATORS if kind.role == "coordinator"
                       else flow.ONLY_RESPONSIBLE if kind in (Answer, PostUpdate)
                       else flow.NOT_AVAILABLE if kind is Withdraw else flow.ONLY_EDITORS)
            presses.append((rhea, good, refusal))
    presses += [(rhea, Show(world["ours"]["plan"], "proposals").pack(), flow.ONLY_EDITORS),
                (cora, Seed(world["closed"]["plan"]).pack(), flow.BRAINSTORM_OPEN),
                (cora, Place(world["ours"]["item"], world["theirs"]["parent"]).pack(),
                 flow.NOT_AVAILABLE),
                (cora, Place(world["ours"]["item"], world["ours"]["item"]).pack(),
                 flow.NOT_AVAILABLE)]
    rng = random.Random(15)
    alphabet = "0123456789:-_abcz\u0661 "
    for kind in kinds:  # and some noise after each prefix (a "%" makes sure it is noise)
        for _ in range(4):
            noise = [rng.choice(alphabet) for _ in range(rng.randint(0, 30))]
            noise.insert(rng.randint(0, len(noise)), "%")
            presses.append((cora, (kind.prefix + ":" + "".join(noise))[:64], STALE))
    for old in ("pl:ti:1:a", "pl:show:1", "pf:-", "pl:csv", "plan", "plan:", "plan:view"):
        presses.append((cora, old, STALE))


    before = await _snapshot(harness.db)
    caplog.set_level(logging.ERROR)
    queries = []
    for start in range(0, len(presses), 15):  # a person's updates beyond 20 waiting are
        batch = presses[start:start + 15]  # dropped unread, as a flood
        queries += [(person, data, refusal, await person.press(data))
                    for person, data, refusal in batch]
        await harness.settle()
    for person, data, refusal, query in queries:
        assert query.answer is not None, data
        answered = query.answer.get("text")
        assert (data, answered) == (data, tr(person, refusal))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert await _snapshot(harness.db) == before
    for person in (cora, rhea, stranger):
        assert not any("(/cancel stops)" in text for text in person.texts()), person.name


async def test_an_older_question_never_drives_the_current_one(harness: Harness) -> None:
    """Buttons under an earlier question (or an earlier form) get "no longer works", and
    the question being asked stays where it was."""
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, name="Cora")
    await step(harness, cora, "/resources", send=True)
    await step(harness, cora, "Add an organisation or person")
    await step(harness, cora, "District 3 municipality", send=True)
    sectors = cora.last
    assert cora.buttons(sectors)[0] == "Public body"
    await step(harness, cora, "Offer a resource")  # a new form: the old one is dropped
    await cora.tap("Public body", sectors)
    await harness.settle()
    assert cora.last_answer == tr(cora, STALE)
    assert cora.texts()[-1] == _asked(cora, "What do you offer?")
    await step(harness, cora, "Skill")
    kinds = cora.messages[-2]
    await cora.tap("Money", kinds)  # the question already answered
    await harness.settle()
    assert cora.last_answer == tr(cora, STALE)
    assert cora.texts()[-1] == _asked(cora, "Describe it in a sentence (what, when, how"
                                            " much).")
    await step(harness, cora, "A van on Sundays", send=True)
    assert [(r.kind, r.description) for r in await store.resources(
        harness.db, invitation.community.id)] == [("skill", "A van on Sundays")]
    assert await store.actors(harness.db, invitation.community.id) == []
    await cora.tap("Skill", kinds)  # after the form ended
    await harness.settle()
    assert cora.last_answer == tr(cora, STALE)


async def test_a_demoted_editor_cannot_finish_a_form(harness: Harness) -> None:
    """Rights are checked again at every answer: a committee member who loses the role
    half-way through adding a task adds nothing."""
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, name="Cora")
    erlan = await harness.resident(invitation, name="Erlan")
    community_id = invitation.community.id
    await community_store.set_role(harness.db, community_id, erlan.id, "committee")
    plan = await store.create_plan(harness.db, community_id, "Dark streets", cora.id)
    await step(harness, erlan, "/plan", send=True)
    await step(harness, erlan, "Add a task")
    await step(harness, erlan, "Fix the lamps", send=True)
    await community_store.set_role(harness.db, community_id, erlan.id, "resident")
    await step(harness, erlan, "Cora", send=True)
    assert erlan.texts()[-1] == "Only committee members and coordinators can do that."
    assert await store.tasks(harness.db, plan.id) == []
    assert await press(harness, erlan, NewTask(plan.id).pack()) == tr(erlan, flow.ONLY_EDITORS)


def test_every_plan_button_fits_with_the_largest_ids() -> None:
    largest = {name: 2**63 - 1 for name in ("plan", "task", "item", "parent", "indicator",
                                            "resource", "organisation")}
    for kind in _plan_kinds():
        data = kind(**_values(kind, largest)).pack()
        assert len(data.encode()) <= 64 and kind.parse(data) == kind(**_values(kind, largest))


def test_kinds_named_here_are_all_the_plan_buttons() -> None:
    named = {Show, Follow, Propose, Curate, Place, OpenTask, NewTask, Answer, SetStatus, Edit,
             ShowHistory, PostUpdate, NewIndicator, AddReading, Evaluate, Seed, Offer,
             Withdraw, AddOrganisation, RemoveOrganisation, Export}
    assert set(_plan_kinds()) == named
