"""Action plans: /newplan starts one for a problem; /plan shows tasks with progress bars,
overdue marks and the rolled-up progress, the problem tree, indicators and the evaluation;
/resources is the community's resource map and its organisations and people.

Everything typed goes through one small form engine: a form is a list of fields (text, a
date, a percentage, a number, a member found by name, a choice of buttons, a photo), asked
one at a time in a persistent conversation, so a restart resumes at the same field. Each
field is checked as it comes; a bad value gets a localized hint and is asked again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.actor import Actor
from bot.app import Context
from bot.commands import Command
from bot.flows import plan as flow
from bot.flows import typed
from bot.flows.errors import Refused
from bot.handlers._common import (
    callback_ints,
    callback_parts,
    coordinator,
    edit_message,
    member,
    notify,
    refusals,
    say,
    short,
)
from bot.handlers._oldforms import Field, Forms
from bot.i18n import N_, Translator, isolate
from bot.messages import split_text
from storage import brainstorm as brainstorm_store
from storage import community as community_store
from storage import plan as store
from storage.community import User
from storage.db import utcnow
from storage.plan import Plan, Task

COMMANDS = [
    Command("plan", N_("The action plan: tasks, progress, problem tree, indicators"),
            "resident"),
    Command("resources", N_("The resource map: offer what you can"), "resident"),
    Command("newplan", N_("Start an action plan for a problem"), "coordinator"),
]

FILLING = 0
FORM = "plan_form"
TICK = 3600  # seconds between looks for tasks due tomorrow
STATUS_LABELS = {"planned": N_("planned"), "in_progress": N_("in progress"),
                 "blocked": N_("blocked"), "done": N_("done")}
KIND_LABELS = {"skill": N_("Skill"), "place": N_("Place"), "equipment": N_("Equipment"),
               "time": N_("Time"), "money": N_("Money")}
SECTOR_LABELS = {"public": N_("Public body"), "private": N_("Business"), "ngo": N_("NGO"),
                 "community": N_("Community group"), "media": N_("Media"),
                 "academia": N_("Academia")}
INFLUENCE_LABELS = {"1": N_("Low influence"), "2": N_("Medium influence"),
                    "3": N_("High influence")}
DIRECTION_LABELS = {"up": N_("Higher is better"), "down": N_("Lower is better")}
REACHED_LABELS = {"yes": N_("Yes, reached"), "partly": N_("Partly"), "no": N_("No")}
FIELD_LABELS = {"title": N_("title"), "responsible_id": N_("responsible"),
                "starts_on": N_("start"), "due_on": N_("due date"), "status": N_("status"),
                "progress": N_("progress"), "accepted": N_("accepted"),
                "created": N_("created")}


# == the forms (bot/handlers/_forms.py asks them) and their rules =============================


async def _a_member(context: Context, who: Actor, form: dict[str, Any], user_id: int) -> int:
    assert who.community is not None
    await flow.check_member(context.db, who.community.id, user_id)
    return user_id


async def _after_start(context: Context, who: Actor, form: dict[str, Any], due: date) -> date:
    """A due date not before the start (typed just before, or the task's)."""
    starts = form["values"].get("starts_on")
    start = date.fromisoformat(starts) if starts else (
        await _task_only(context, form["ids"]["task"])).starts_on
    flow.check_schedule(start, due)
    return due


async def _good_side(context: Context, who: Actor, form: dict[str, Any],
                     target: float) -> float:
    values = form["values"]
    flow.check_indicator(values["baseline"], target, values["direction"])
    return target


async def _task_number(context: Context, who: Actor, form: dict[str, Any],
                       number: float) -> int:
    """A task named by its number in /plan's list."""
    listed = await store.tasks(context.db, form["ids"]["plan"])
    if number != int(number) or not 1 <= number <= len(listed):
        raise Refused(N_("There is no task with that number in this plan."))
    return listed[int(number) - 1].id


FIELDS: dict[str, list[Field]] = {
    "cause": [Field("text", N_("Write a cause of the problem (why does it happen?)."),
                    "text")],
    "consequence": [Field("text", N_("Write a consequence of the problem (what does it lead"
                                     " to?)."), "text")],
    "resource": [Field("kind", N_("What do you offer?"), "choice", labels=KIND_LABELS),
                 Field("description", N_("Describe it in a sentence (what, when, how much)."),
                       "text")],
    "actor": [Field("name", N_("Name of the organisation or person?"), "text", 200),
              Field("sector", N_("Which sector?"), "choice", labels=SECTOR_LABELS),
              Field("role", N_("What is their role for this problem?"), "text"),
              Field("influence", N_("How much influence do they have?"), "choice",
                    labels=INFLUENCE_LABELS)],
    "task": [Field("title", N_("What is the task?"), "text", 200),
             Field("responsible_id", N_("Who is responsible? Send their name (or part of it)."),
                   "member", check=_a_member),
             Field("starts_on", N_("When does it start? (2026-12-01)"), "day"),
             Field("due_on", N_("When is it due?"), "day", check=_after_start)],
    "progress": [Field("progress", N_("Progress in percent (0–100)?"), "percent")],
    "due": [Field("due_on", N_("The new due date?"), "day", check=_after_start)],
    "responsible": [Field("responsible_id", N_("Who is responsible now? Send their name."),
                          "member", check=_a_member)],
    "update": [Field("text", N_("What has been done? Write your update."), "text", 1000),
               Field("progress", N_("Progress in percent (0–100)?"), "percent"),
               Field("photo", N_("Send a photo, or skip."), "photo", optional=True)],
    "indicator": [Field("name", N_("Name of the indicator (e.g. street lights working)?"),
                        "text", 200),
                  Field("unit", N_("Its unit (e.g. lamps, %, days)?"), "text", 50),
                  Field("direction", N_("Which way is good?"), "choice",
                        labels=DIRECTION_LABELS),
                  Field("baseline", N_("The baseline: the value today?"), "number"),
                  Field("target", N_("The target?"), "number", check=_good_side),
                  Field("task_id", N_("Linked to a task? Send its number from /plan, or"
                                      " skip."), "number", optional=True, check=_task_number)],
    "reading": [Field("value", N_("The value measured?"), "number"),
                Field("on_day", N_("Measured on which day? (2026-12-01) — skip for today."),
                      "day", optional=True),
                Field("source", N_("Source (who measured, or where it comes from)? Or"
                                   " skip."), "text", 200, optional=True)],
    "evaluation": [Field("reached", N_("Did we reach the goal we wanted?"), "choice",
                         labels=REACHED_LABELS),
                   Field("rating", N_("How would you rate the work together, 1 to 5?"),
                         "choice", labels={str(n): str(n) for n in range(1, 6)}),
                   Field("worked", N_("What worked?"), "text", 1000),
                   Field("next", N_("What should we do next? One item per line."), "lines",
                         300)],
}
forms = Forms(FORM, FILLING, FIELDS)


# == who may do what, and finding things ======================================================


def _editor(who: Actor) -> bool:
    return who.has_role("committee")


def _require_editor(who: Actor) -> None:
    if not _editor(who):
        raise Refused(flow.ONLY_EDITORS)


def _ints(parts: list[str]) -> list[int]:
    return callback_ints(parts, flow.NOT_AVAILABLE)


async def _plan(who: Actor, context: Context, plan_id: int | None = None) -> Plan:
    assert who.community is not None
    if plan_id is None:
        found = await store.plans(context.db, who.community.id)
        if not found:
            raise Refused(N_("There is no action plan yet. A coordinator starts one with"
                             " /newplan."))
        return found[0]
    plan = await store.get_plan(context.db, plan_id)
    if plan is None or plan.community_id != who.community.id:
        raise Refused(flow.NOT_AVAILABLE)
    return plan


async def _task_only(context: Context, task_id: int) -> Task:
    task = await store.get_task(context.db, task_id)
    if task is None:
        raise Refused(flow.NOT_AVAILABLE)
    return task


async def _task(who: Actor, context: Context, task_id: int) -> tuple[Task, Plan]:
    task = await _task_only(context, task_id)
    return task, await _plan(who, context, task.plan_id)


async def _name(context: Context, user_id: int | None) -> str:
    user = await community_store.get_user(context.db, user_id or 0)
    return user.display_name if user is not None else "—"


def _today(who: Actor) -> date:
    return who.t.local(utcnow()).date()


# == starting a plan, showing it, following it ===============================================


@refusals
async def newplan_command(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert who.community is not None
    problem = " ".join(context.args or [])
    if not problem:
        raise Refused(N_("Write the problem with the command, e.g. /newplan No safe place"
                         " for children to play"))
    plan = await store.create_plan(context.db, who.community.id, typed.words(problem, 500),
                                   who.user.id)
    text, markup = await _plan_view(who, context, plan)
    await say(update, text, reply_markup=markup)


def _bar(percent: float, width: int = 10) -> str:
    filled = round(width * percent / 100)
    return "▓" * filled + "░" * (width - filled)


async def _plan_view(who: Actor, context: Context,
                     plan: Plan) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    found = await store.tasks(context.db, plan.id)
    today = _today(who)
    overall = flow.plan_progress(found)
    lines = [t._("<b>Action plan:</b> {problem}", problem=isolate(plan.problem))]
    if plan.status == "evaluated":
        lines.append(t._("(evaluated)"))
    lines += [t._("Progress: {bar} {percent}", bar=_bar(overall),
                  percent=t.percent(overall / 100)), ""]
    if not found:
        lines.append(t._("No tasks yet."))
    for number, task in enumerate(found, start=1):
        mark = "⚠️ " if flow.overdue(task, today) else "✅ " if task.status == "done" else ""
        lines.append(f"{t.num(number)}. {mark}<b>{isolate(task.title)}</b> — "
                     f"{isolate(await _name(context, task.responsible_id))}")
        lines.append(f"    {_bar(task.progress)} {t.percent(task.progress / 100)} · "
                     f"{t._(STATUS_LABELS[task.status])} · "
                     + t._("due {day}", day=t.date(task.due_on))
                     + (" · " + t._("overdue") if flow.overdue(task, today) else ""))
    following = who.user.id in await store.followers(context.db, plan.id)
    rows = [[InlineKeyboardButton(f"{t.num(n)}. {short(task.title, 30)}",
                                  callback_data=f"pl:task:{task.id}")]
            for n, task in enumerate(found, start=1)]
    rows.append([InlineKeyboardButton(t._("Stop following") if following else t._("Follow"),
                                      callback_data=f"pl:fol:{plan.id}"),
                 InlineKeyboardButton(t._("Problem tree"), callback_data=f"pl:tree:{plan.id}"),
                 InlineKeyboardButton(t._("Indicators"), callback_data=f"pl:ind:{plan.id}")])
    if _editor(who) and plan.status == "active":
        rows.append([InlineKeyboardButton(t._("Add a task"),
                                          callback_data=f"pl:newtask:{plan.id}")])
    if who.is_coordinator and plan.status == "active":
        rows.append([InlineKeyboardButton(t._("Evaluation"),
                                          callback_data=f"pl:eval:{plan.id}")])
    evaluation = await store.evaluation(context.db, plan.id)
    if evaluation is not None:
        lines += ["", _evaluation_text(t, plan, evaluation)]
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@refusals
async def plan_command(update: Update, context: Context) -> None:
    who = await member(update, context)
    assert who.community is not None
    found = await store.plans(context.db, who.community.id)
    plan = await _plan(who, context)
    text, markup = await _plan_view(who, context, plan)
    if len(found) > 1:
        markup = InlineKeyboardMarkup([*markup.inline_keyboard, *[
            [InlineKeyboardButton("↪ " + short(p.problem, 40), callback_data=f"pl:show:{p.id}")]
            for p in found[1:6]]])
    for part in split_text(text)[:-1]:
        await say(update, part)
    await say(update, split_text(text)[-1], reply_markup=markup)


@refusals
async def view_tap(update: Update, context: Context) -> None:
    """pl:show|tree|ind|cur:<plan> — the plan, its problem tree, its indicators, or (for
    editors) the tree's proposals to review."""
    who = await member(update, context)
    parts = callback_parts(update)
    if parts[1] == "cur":
        _require_editor(who)
    (plan_id,) = _ints(parts[2:3])
    plan = await _plan(who, context, plan_id)
    assert update.callback_query is not None
    await update.callback_query.answer()
    text, markup = await VIEWS[parts[1]](who, context, plan)
    await edit_message(update, text, markup)


@refusals
async def follow_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    (plan_id,) = _ints(callback_parts(update)[2:3])
    plan = await _plan(who, context, plan_id)
    now = await store.follow(context.db, plan.id, who.user.id)
    assert update.callback_query is not None
    await update.callback_query.answer(
        who.t._("You follow this plan: its updates will reach you.") if now
        else who.t._("You no longer follow this plan."))
    text, markup = await _plan_view(who, context, plan)
    await edit_message(update, text, markup)


# == the problem tree ========================================================================


async def _tree_view(who: Actor, context: Context,
                     plan: Plan) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    items = await store.tree(context.db, plan.id)
    lines = [t._("<b>Problem tree</b>"), "", t._("🍂 Consequences (what it leads to):")]
    consequences = flow.layout(items, "consequence")
    lines += [f"{'    ' * b.depth}• {isolate(b.item.text)}" for b in consequences] or ["    —"]
    lines += ["", t._("🎯 Problem: {problem}", problem=isolate(plan.problem)), "",
              t._("🌱 Causes (why it happens):")]
    causes = flow.layout(items, "cause")
    lines += [f"{'    ' * b.depth}• {isolate(b.item.text)}" for b in causes] or ["    —"]
    proposed = sum(i.status == "proposed" for i in items)
    if proposed:
        lines += ["", t.ngettext("{n} proposal waits for the committee.",
                                 "{n} proposals wait for the committee.", proposed)]
    rows = [[InlineKeyboardButton(t._("Add a cause"), callback_data=f"pl:add:cause:{plan.id}"),
             InlineKeyboardButton(t._("Add a consequence"),
                                  callback_data=f"pl:add:consequence:{plan.id}")]]
    if _editor(who) and proposed:
        rows.append([InlineKeyboardButton(t._("Review proposals"),
                                          callback_data=f"pl:cur:{plan.id}")])
    rows.append([InlineKeyboardButton(t._("Back"), callback_data=f"pl:show:{plan.id}")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@refusals
async def tree_add_start(update: Update, context: Context) -> int:
    who = await member(update, context)
    parts = callback_parts(update)
    if parts[2] not in ("cause", "consequence"):
        raise Refused(flow.NOT_AVAILABLE)
    (plan_id,) = _ints(parts[3:4])
    plan = await _plan(who, context, plan_id)
    return await forms.begin(update, context, who, parts[2], plan=plan.id)


async def _tree_add(update: Update, context: Context, who: Actor, v: dict[str, Any]) -> None:
    plan = await _plan(who, context, v["plan"])
    kind = v["form"]
    status = "accepted" if _editor(who) else "proposed"
    await store.add_tree_item(context.db, plan.id, kind, v["text"], who.user.id, status)
    await say(update, who.t._("Added to the problem tree.") if status == "accepted"
              else who.t._("Thank you! The committee will place it in the problem tree."))
    text, markup = await _tree_view(who, context, plan)
    await say(update, text, reply_markup=markup)


async def _curation(who: Actor, context: Context,
                    plan: Plan) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    items = [i for i in await store.tree(context.db, plan.id) if i.status == "proposed"]
    if not items:
        return t._("No proposals wait."), InlineKeyboardMarkup([[InlineKeyboardButton(
            t._("Back"), callback_data=f"pl:tree:{plan.id}")]])
    item = items[0]
    kind = t._("Cause") if item.kind == "cause" else t._("Consequence")
    text = "\n".join([t.ngettext("{n} proposal to review.", "{n} proposals to review.",
                                 len(items)), "", f"<b>{kind}</b>: {isolate(item.text)}"])
    return text, InlineKeyboardMarkup([
        [InlineKeyboardButton(t._("Accept"), callback_data=f"pl:ti:{item.id}:a"),
         InlineKeyboardButton(t._("Under…"), callback_data=f"pl:ti:{item.id}:u"),
         InlineKeyboardButton(t._("Hide"), callback_data=f"pl:ti:{item.id}:h")],
        [InlineKeyboardButton(t._("Back"), callback_data=f"pl:tree:{plan.id}")]])


@refusals
async def tree_item_tap(update: Update, context: Context) -> None:
    """pl:ti:<item>:a (accept) | h (hide) | u (choose a parent) | p:<parent> (place under)."""
    who = await member(update, context)
    _require_editor(who)
    parts = callback_parts(update)
    (item_id,) = _ints(parts[2:3])
    action = parts[3] if len(parts) > 3 else ""
    item = await store.get_tree_item(context.db, item_id)
    if item is None:
        raise Refused(flow.NOT_AVAILABLE)
    plan = await _plan(who, context, item.plan_id)
    items = await store.tree(context.db, plan.id)
    t = who.t
    assert update.callback_query is not None
    if action == "u":
        parents = [i for i in items if i.kind == item.kind and i.status == "accepted"
                   and i.id != item.id]
        if not parents:
            raise Refused(N_("Nothing accepted of that kind yet: accept it first."))
        await update.callback_query.answer()
        await edit_message(update, t._("Place “{text}” under which?", text=isolate(item.text)),
                           InlineKeyboardMarkup([[InlineKeyboardButton(
                               short(p.text, 40), callback_data=f"pl:ti:{item.id}:p:{p.id}")]
                               for p in parents]))
        return
    if action == "a":
        await store.curate_tree_item(context.db, item.id, "accepted", None)
    elif action == "h":
        await store.curate_tree_item(context.db, item.id, "hidden", None)
    elif action == "p":
        (parent_id,) = _ints(parts[4:5])
        parent = next((i for i in items if i.id == parent_id), None)
        if parent is None:
            raise Refused(flow.NOT_AVAILABLE)
        flow.check_parent(item, parent, items)
        await store.curate_tree_item(context.db, item.id, "accepted", parent.id)
    else:
        raise Refused(flow.NOT_AVAILABLE)
    await update.callback_query.answer(t._("Done."))
    text, markup = await _curation(who, context, plan)
    await edit_message(update, text, markup)


# == tasks ===================================================================================


async def _task_view(who: Actor, context: Context, task: Task,
                     plan: Plan) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    today = _today(who)
    acceptance = (t._("accepted") if task.accepted else t._("declined")
                  if task.accepted is False else t._("not yet accepted"))
    lines = [f"<b>{isolate(task.title)}</b>",
             t._("Responsible: {name} ({acceptance})",
                 name=isolate(await _name(context, task.responsible_id)),
                 acceptance=acceptance),
             t._("From {start} to {due}", start=t.date(task.starts_on), due=t.date(task.due_on)),
             f"{t._(STATUS_LABELS[task.status])} · {_bar(task.progress)} "
             f"{t.percent(task.progress / 100)}"]
    if flow.overdue(task, today):
        lines.append("⚠️ " + t._("overdue"))
    for item in (await store.updates(context.db, task.id))[-5:]:
        lines.append(f"— {t.date(item.at)} · {t.percent(item.progress / 100)} · "
                     f"{isolate(short(item.text, 200))}" + (" 📷" if item.photo else ""))
    rows = []
    active = plan.status == "active"
    if task.responsible_id == who.user.id and active:
        if task.accepted is None:
            rows.append([InlineKeyboardButton(t._("Accept the task"),
                                              callback_data=f"pl:acc:{task.id}:1"),
                         InlineKeyboardButton(t._("Decline"),
                                              callback_data=f"pl:acc:{task.id}:0")])
        rows.append([InlineKeyboardButton(t._("Post an update"),
                                          callback_data=f"pl:upd:{task.id}")])
    if _editor(who) and active:
        rows.append([InlineKeyboardButton(t._(STATUS_LABELS[s]),
                                          callback_data=f"pl:st:{task.id}:{s}")
                     for s in flow.STATUSES if s != task.status])
        rows.append([InlineKeyboardButton(t._("Progress %"),
                                          callback_data=f"pl:edit:{task.id}:progress"),
                     InlineKeyboardButton(t._("Due date"),
                                          callback_data=f"pl:edit:{task.id}:due"),
                     InlineKeyboardButton(t._("Responsible"),
                                          callback_data=f"pl:edit:{task.id}:responsible")])
    rows.append([InlineKeyboardButton(t._("History"), callback_data=f"pl:hist:{task.id}"),
                 InlineKeyboardButton(t._("Back"), callback_data=f"pl:show:{plan.id}")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@refusals
async def task_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    (task_id,) = _ints(callback_parts(update)[2:3])
    task, plan = await _task(who, context, task_id)
    assert update.callback_query is not None
    await update.callback_query.answer()
    text, markup = await _task_view(who, context, task, plan)
    await edit_message(update, text, markup)


@refusals
async def newtask_start(update: Update, context: Context) -> int:
    who = await member(update, context)
    _require_editor(who)
    (plan_id,) = _ints(callback_parts(update)[2:3])
    plan = await _plan(who, context, plan_id)
    _active(plan)
    return await forms.begin(update, context, who, "task", plan=plan.id)


def _active(plan: Plan) -> None:
    if plan.status != "active":
        raise Refused(N_("This plan has been evaluated and is closed."))


async def _task_add(update: Update, context: Context, who: Actor, v: dict[str, Any]) -> None:
    assert who.community is not None
    plan = await _plan(who, context, v["plan"])
    await flow.check_member(context.db, who.community.id, v["responsible_id"])
    starts, due = date.fromisoformat(v["starts_on"]), date.fromisoformat(v["due_on"])
    flow.check_schedule(starts, due)
    task = await store.add_task(context.db, plan.id, who.user.id, title=v["title"],
                                responsible_id=v["responsible_id"], starts_on=starts,
                                due_on=due)
    await _ask_to_accept(context, who, task)
    text, markup = await _task_view(who, context, task, plan)
    await say(update, text, reply_markup=markup)


async def _ask_to_accept(context: Context, who: Actor, task: Task) -> None:
    """The responsible member is asked to accept the task (through the outbox)."""
    assert who.community is not None
    person = await community_store.get_user(context.db, task.responsible_id or 0)
    if person is None:
        return

    def render(t: Translator, _user: User) -> tuple[str, InlineKeyboardMarkup]:
        return (t._("You are asked to take on a task: <b>{title}</b>, from {start} to {due}."
                    " Do you accept?", title=isolate(task.title), start=t.date(task.starts_on),
                    due=t.date(task.due_on)),
                InlineKeyboardMarkup([[
                    InlineKeyboardButton(t._("Accept the task"),
                                         callback_data=f"pl:acc:{task.id}:1"),
                    InlineKeyboardButton(t._("Decline"),
                                         callback_data=f"pl:acc:{task.id}:0")]]))

    await notify(context.application, who.community, [person], render,
                 key=f"task-ask:{task.id}:{task.responsible_id}")


@refusals
async def accept_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    task_id, answer = _ints(callback_parts(update)[2:4])
    task, plan = await _task(who, context, task_id)
    if task.responsible_id != who.user.id or answer not in (0, 1):
        raise Refused(N_("Only the person responsible for this task can post its updates."))
    _active(plan)
    task = await store.change_task(context.db, task, who.user.id, accepted=bool(answer))
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("Thank you!"))
    text, markup = await _task_view(who, context, task, plan)
    await edit_message(update, text, markup)
    if not answer:
        await _tell(context, who, [plan.created_by], lambda t: t._(
            "{name} declined the task “{title}”. Choose someone else from /plan.",
            name=isolate(who.user.display_name), title=isolate(task.title)),
            key=f"task-declined:{task.id}:{who.user.id}")


async def _tell(context: Context, who: Actor, user_ids: list[int | None],
                text: Callable[[Translator], str], *, key: str) -> None:
    assert who.community is not None
    people = [u for uid in user_ids if uid
              for u in [await community_store.get_user(context.db, uid)] if u is not None]
    await notify(context.application, who.community, people,
                 lambda t, _u: (text(t), None), key=key)


@refusals
async def status_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    _require_editor(who)
    parts = callback_parts(update)
    (task_id,) = _ints(parts[2:3])
    status = parts[3] if len(parts) > 3 else ""
    task, plan = await _task(who, context, task_id)
    _active(plan)
    task = await flow.set_status(context.db, task, who.user.id, status)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("Saved."))
    text, markup = await _task_view(who, context, task, plan)
    await edit_message(update, text, markup)


@refusals
async def edit_start(update: Update, context: Context) -> int:
    who = await member(update, context)
    _require_editor(who)
    parts = callback_parts(update)
    (task_id,) = _ints(parts[2:3])
    what = parts[3] if len(parts) > 3 else ""
    if what not in ("progress", "due", "responsible"):
        raise Refused(flow.NOT_AVAILABLE)
    _active((await _task(who, context, task_id))[1])
    return await forms.begin(update, context, who, what, task=task_id)


async def _task_edit(update: Update, context: Context, who: Actor, v: dict[str, Any]) -> None:
    assert who.community is not None
    task, plan = await _task(who, context, v["task"])
    _active(plan)
    changes: dict[str, Any] = {}
    if "progress" in v:
        changes["progress"] = v["progress"]
    if "due_on" in v:
        due = date.fromisoformat(v["due_on"])
        flow.check_schedule(task.starts_on, due)
        changes["due_on"] = due
    if "responsible_id" in v:
        await flow.check_member(context.db, who.community.id, v["responsible_id"])
        changes.update(responsible_id=v["responsible_id"], accepted=None)
    updated = await store.change_task(context.db, task, who.user.id, **changes)
    if "responsible_id" in v and updated.responsible_id != task.responsible_id:
        await _ask_to_accept(context, who, updated)
    await say(update, who.t._("Saved."))
    text, markup = await _task_view(who, context, updated, plan)
    await say(update, text, reply_markup=markup)


@refusals
async def history_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    (task_id,) = _ints(callback_parts(update)[2:3])
    task = (await _task(who, context, task_id))[0]
    t = who.t
    lines = [t._("<b>History of “{title}”</b>", title=isolate(task.title))]
    for change in await store.history(context.db, task.id):
        names = {v: await _name(context, v) for k, pair in change.changes.items()
                 if k == "responsible_id" for v in pair if v is not None}
        arrow = "←" if t.rtl else "→"  # arrows are not mirrored in right-to-left text
        what = "; ".join(
            f"{t._(FIELD_LABELS.get(k, k))}: {_shown(t, k, b, names)} {arrow} "
            f"{_shown(t, k, a, names)}" if k != "created" else t._("created")
            for k, (b, a) in change.changes.items())
        lines.append(f"• {t.datetime(change.at)} — "
                     f"{isolate(await _name(context, change.actor_id))}: {what}")
    assert update.callback_query is not None
    await update.callback_query.answer()
    for part in split_text("\n".join(lines)):
        await say(update, part)


def _shown(t: Translator, key: str, value: Any, names: dict[int, str]) -> str:
    if value is None:
        return "—"
    if key in ("starts_on", "due_on"):
        return t.date(date.fromisoformat(value))
    if key == "status":
        return t._(STATUS_LABELS.get(value, value))
    if key == "progress":
        return t.percent(value / 100)
    if key == "accepted":
        return t._("yes") if value else t._("no")
    if key == "responsible_id":
        return isolate(names.get(value, "—"))
    return isolate(str(value))


# == progress updates =========================================================================


@refusals
async def update_start(update: Update, context: Context) -> int:
    who = await member(update, context)
    (task_id,) = _ints(callback_parts(update)[2:3])
    task, plan = await _task(who, context, task_id)
    if task.responsible_id != who.user.id:
        raise Refused(N_("Only the person responsible for this task can post its updates."))
    _active(plan)
    return await forms.begin(update, context, who, "update", task=task.id)


async def _update_add(update: Update, context: Context, who: Actor, v: dict[str, Any]) -> None:
    assert who.community is not None
    task, plan = await _task(who, context, v["task"])
    await flow.post_update(context.db, plan, task, who.user.id, v["text"], v["progress"],
                           v.get("photo"))
    task = await _task_only(context, task.id)
    await say(update, who.t._("Thank you! Your update is posted; followers are told."))
    text, markup = await _task_view(who, context, task, plan)
    await say(update, text, reply_markup=markup)
    audience = await store.followers(context.db, plan.id) - {who.user.id}
    people = [u for uid in sorted(audience)
              for u in [await community_store.get_user(context.db, uid)] if u is not None]

    def render(t: Translator, _user: User) -> tuple[str, InlineKeyboardMarkup]:
        return t._("Update on “{title}” ({percent}) by {name}: {text}",
                   title=isolate(task.title), percent=t.percent(task.progress / 100),
                   name=isolate(who.user.display_name), text=isolate(v["text"])), \
            InlineKeyboardMarkup([[InlineKeyboardButton(t._("See the plan"),
                                                        callback_data=f"pl:show:{plan.id}")]])

    photo = v.get("photo")
    await notify(context.application, who.community, people, render,
                 key=f"task-update:{task.id}:{len(await store.updates(context.db, task.id))}",
                 photo=(lambda _t: photo) if photo else None)


# == indicators ==============================================================================


async def _indicators_view(who: Actor, context: Context,
                           plan: Plan) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    found = await store.indicators(context.db, plan.id)
    lines = [t._("<b>Indicators</b> — {problem}", problem=isolate(plan.problem)), ""]
    if not found:
        lines.append(t._("No indicators yet."))
    rows = []
    for number, indicator in enumerate(found, start=1):
        measured = await store.readings(context.db, indicator.id)
        share = flow.toward_target(indicator, measured)
        way = t._(DIRECTION_LABELS[indicator.direction])
        comma = "، " if t.lang == "fa" else ", "
        lines.append(f"{t.num(number)}. <b>{isolate(indicator.name)}</b> "
                     f"({isolate(indicator.unit)}{comma}{way.lower()})")
        lines.append("    " + t._("baseline {baseline} → target {target}",
                                   baseline=t.num(indicator.baseline),
                                   target=t.num(indicator.target)))
        if measured:
            latest = measured[-1]
            lines.append("    " + t._("latest: {value} on {day}", value=t.num(latest.value),
                                       day=t.date(latest.on_day))
                         + (f" ({isolate(latest.source)})" if latest.source else ""))
            lines.append(f"    {_bar((share or 0) * 100)} {t.percent(share or 0)} "
                         + t._("of the way to the target"))
        if indicator.task_id is not None:
            linked = await store.get_task(context.db, indicator.task_id)
            if linked is not None:
                lines.append("    " + t._("task: {title}", title=isolate(linked.title)))
        if _editor(who) and plan.status == "active":
            rows.append([InlineKeyboardButton(
                t._("Add a reading: {name}", name=short(indicator.name, 30)),
                callback_data=f"pl:read:{indicator.id}")])
    if _editor(who) and plan.status == "active":
        rows.append([InlineKeyboardButton(t._("Add an indicator"),
                                          callback_data=f"pl:newind:{plan.id}")])
    rows.append([InlineKeyboardButton(t._("Back"), callback_data=f"pl:show:{plan.id}")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@refusals
async def newindicator_start(update: Update, context: Context) -> int:
    who = await member(update, context)
    _require_editor(who)
    (plan_id,) = _ints(callback_parts(update)[2:3])
    plan = await _plan(who, context, plan_id)
    _active(plan)
    return await forms.begin(update, context, who, "indicator", plan=plan.id)


async def _indicator_add(update: Update, context: Context, who: Actor,
                         v: dict[str, Any]) -> None:
    plan = await _plan(who, context, v["plan"])
    flow.check_indicator(v["baseline"], v["target"], v["direction"])
    await store.add_indicator(context.db, plan.id, name=v["name"], unit=v["unit"],
                              baseline=v["baseline"], target=v["target"],
                              direction=v["direction"], task_id=v.get("task_id"))
    text, markup = await _indicators_view(who, context, plan)
    await say(update, text, reply_markup=markup)


@refusals
async def reading_start(update: Update, context: Context) -> int:
    who = await member(update, context)
    _require_editor(who)
    (indicator_id,) = _ints(callback_parts(update)[2:3])
    indicator = await store.get_indicator(context.db, indicator_id)
    if indicator is None:
        raise Refused(flow.NOT_AVAILABLE)
    _active(await _plan(who, context, indicator.plan_id))
    return await forms.begin(update, context, who, "reading", indicator=indicator.id)


async def _reading_add(update: Update, context: Context, who: Actor,
                       v: dict[str, Any]) -> None:
    indicator = await store.get_indicator(context.db, v["indicator"])
    if indicator is None:
        raise Refused(flow.NOT_AVAILABLE)
    plan = await _plan(who, context, indicator.plan_id)
    on_day = date.fromisoformat(v["on_day"]) if v.get("on_day") else _today(who)
    await store.add_reading(context.db, indicator.id, v["value"], on_day, v.get("source"),
                            who.user.id)
    text, markup = await _indicators_view(who, context, plan)
    await say(update, text, reply_markup=markup)


# == evaluation ==============================================================================


def _evaluation_text(t: Translator, plan: Plan, evaluation: store.Evaluation) -> str:
    lines = [t._("<b>Evaluation</b> of “{problem}”", problem=isolate(plan.problem)),
             t._("Did we reach the goal? {answer}",
                 answer=t._(REACHED_LABELS[evaluation.reached])),
             t._("Rating: {stars} ({rating}/5)", stars="★" * evaluation.rating
                 + "☆" * (5 - evaluation.rating), rating=evaluation.rating),
             t._("What worked: {text}", text=isolate(evaluation.worked)),
             t._("What next:")]
    lines += [f"• {isolate(item)}" for item in evaluation.next]
    return "\n".join(lines)


@refusals
async def evaluation_start(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    (plan_id,) = _ints(callback_parts(update)[2:3])
    plan = await _plan(who, context, plan_id)
    _active(plan)
    return await forms.begin(update, context, who, "evaluation", plan=plan.id)


async def _evaluation_add(update: Update, context: Context, who: Actor,
                          v: dict[str, Any]) -> None:
    assert who.community is not None
    plan = await _plan(who, context, v["plan"])
    _active(plan)
    await store.evaluate(context.db, plan.id, who.user.id, reached=v["reached"],
                         rating=int(v["rating"]), worked=v["worked"], next_steps=v["next"])
    evaluation = await store.evaluation(context.db, plan.id)
    assert evaluation is not None
    people = [u for _m, u in await community_store.members(context.db, who.community.id)]
    await notify(context.application, who.community, people,
                 lambda t, _u: (_evaluation_text(t, plan, evaluation), None),
                 key=f"plan-evaluation:{plan.id}")
    await say(update, who.t._("The evaluation is saved and shared with members."),
              reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(
                  who.t._("Start the next brainstorm with “what next”"),
                  callback_data=f"pl:seed:{plan.id}")]]))


@refusals
async def seed_tap(update: Update, context: Context) -> None:
    """The evaluation's "what next" items become the first cards of a new brainstorm."""
    who = await coordinator(update, context)
    assert who.community is not None
    (plan_id,) = _ints(callback_parts(update)[2:3])
    plan = await _plan(who, context, plan_id)
    evaluation = await store.evaluation(context.db, plan.id)
    if evaluation is None:
        raise Refused(flow.NOT_AVAILABLE)
    prompt = who.t._("What next, after “{problem}”?", problem=short(plan.problem, 200))
    round_ = await brainstorm_store.open_round(context.db, who.community.id, prompt,
                                               who.user.id)
    if round_ is None:
        raise Refused(N_("A brainstorm is already open. Close it from /curate first."))
    for item in evaluation.next:
        await brainstorm_store.add_card(context.db, round_.id, who.user.id, item[:500], None)
    assert update.callback_query is not None
    await update.callback_query.answer()
    await edit_message(update, who.t.ngettext(
        "A brainstorm is open with {n} problem from the evaluation. /curate to review it.",
        "A brainstorm is open with {n} problems from the evaluation. /curate to review it.",
        len(evaluation.next)), None)


# == resources and actors =====================================================================


async def _resources_text(who: Actor, context: Context) -> tuple[str, InlineKeyboardMarkup]:
    assert who.community is not None
    t = who.t
    offered = await store.resources(context.db, who.community.id)
    lines = [t._("<b>Resource map</b>"), ""]
    for kind, label in KIND_LABELS.items():
        mine = [r for r in offered if r.kind == kind]
        if mine:
            lines.append(f"<b>{t._(label)}</b>")
            lines += [f"• {isolate(r.description)} — {isolate(await _name(context, r.user_id))}"
                      for r in mine]
    if not offered:
        lines.append(t._("Nobody has offered anything yet."))
    found = await store.actors(context.db, who.community.id)
    lines += ["", t._("<b>Organisations and people that matter</b>")]
    if not found:
        lines.append(t._("None listed yet."))
    for a in found:
        lines.append(f"• <b>{isolate(a.name)}</b> — {t._(SECTOR_LABELS[a.sector])} · "
                     f"{t._(INFLUENCE_LABELS[str(a.influence)])}: {isolate(a.role)}")
    rows = [[InlineKeyboardButton(t._("Offer a resource"), callback_data="pl:offer")]]
    rows += [[InlineKeyboardButton(t._("Withdraw: {what}", what=short(r.description, 30)),
                                   callback_data=f"pl:wd:{r.id}")]
             for r in offered if r.user_id == who.user.id]
    if who.is_coordinator:
        rows.append([InlineKeyboardButton(t._("Add an organisation or person"),
                                          callback_data="pl:actor")])
        rows += [[InlineKeyboardButton(t._("Remove: {name}", name=short(a.name, 30)),
                                       callback_data=f"pl:rma:{a.id}")] for a in found]
    rows.append([InlineKeyboardButton(t._("Export CSV"), callback_data="pl:csv")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _show_resources(update: Update, who: Actor, context: Context) -> None:
    """The map: the tapped message edited when it fits one message, else sent whole."""
    text, markup = await _resources_text(who, context)
    parts = split_text(text)
    if update.callback_query is not None and len(parts) == 1:
        await edit_message(update, text, markup)
        return
    for part in parts[:-1]:
        await say(update, part)
    await say(update, parts[-1], reply_markup=markup)


@refusals
async def resources_command(update: Update, context: Context) -> None:
    who = await member(update, context)
    await _show_resources(update, who, context)


@refusals
async def offer_start(update: Update, context: Context) -> int:
    who = await member(update, context)
    return await forms.begin(update, context, who, "resource")


async def _resource_add(update: Update, context: Context, who: Actor,
                        v: dict[str, Any]) -> None:
    assert who.community is not None
    await store.add_resource(context.db, who.community.id, who.user.id, v["kind"],
                             v["description"])
    await say(update, who.t._("Thank you! Your offer is on the resource map."))
    await _show_resources(update, who, context)


@refusals
async def withdraw_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    (resource_id,) = _ints(callback_parts(update)[2:3])
    if not await store.withdraw_resource(context.db, resource_id, who.user.id):
        raise Refused(flow.NOT_AVAILABLE)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("Withdrawn."))
    await _show_resources(update, who, context)


@refusals
async def actor_start(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    return await forms.begin(update, context, who, "actor")


async def _actor_add(update: Update, context: Context, who: Actor, v: dict[str, Any]) -> None:
    assert who.community is not None
    await store.add_actor(context.db, who.community.id, who.user.id, v["name"], v["sector"],
                          v["role"], int(v["influence"]))
    await _show_resources(update, who, context)


@refusals
async def remove_actor_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert who.community is not None
    (actor_id,) = _ints(callback_parts(update)[2:3])
    if not await store.remove_actor(context.db, who.community.id, actor_id):
        raise Refused(flow.NOT_AVAILABLE)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("Removed."))
    await _show_resources(update, who, context)


@refusals
async def export_tap(update: Update, context: Context) -> None:
    """The resource map and the organisations as one CSV (UTF-8 with a byte-order mark)."""
    who = await member(update, context)
    assert who.community is not None and update.effective_chat is not None
    t = who.t
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([t._("Type"), t._("Name"), t._("Description"), t._("Sector"),
                     t._("Influence")])
    for r in await store.resources(context.db, who.community.id):
        writer.writerow([t._(KIND_LABELS[r.kind]), await _name(context, r.user_id),
                         r.description, "", ""])
    for a in await store.actors(context.db, who.community.id):
        writer.writerow([t._("Organisation or person"), a.name, a.role,
                         t._(SECTOR_LABELS[a.sector]), t._(INFLUENCE_LABELS[str(a.influence)])])
    assert update.callback_query is not None
    await update.callback_query.answer()
    await context.bot.send_document(update.effective_chat.id, InputFile(
        buffer.getvalue().encode("utf-8-sig"), filename="resources.csv"))


# == reminders ===============================================================================


async def remind_due(app: Application) -> None:  # type: ignore[type-arg]
    """Reminders to a task's responsible member: the day before it is due and the day after
    it was due, each once; and a weekly progress note to those who follow a plan."""
    db = app.bot_data.db
    today = utcnow().date()
    for task, when in ([(t, "soon") for t in await store.tasks_due(db, today + timedelta(1))]
                       + [(t, "late") for t in await store.tasks_due(db, today - timedelta(1))]):
        plan = await store.get_plan(db, task.plan_id)
        person = await community_store.get_user(db, task.responsible_id or 0)
        community = await community_store.get_community(db, plan.community_id) if plan else None
        if person is None or community is None:
            continue

        def render(t: Translator, _user: User, task: Task = task, when: str = when) -> tuple[
                str, InlineKeyboardMarkup]:
            text = (t._("Reminder: your task “{title}” is due on {day} ({percent} done).",
                        title=isolate(task.title), day=t.date(task.due_on),
                        percent=t.percent(task.progress / 100)) if when == "soon" else
                    t._("Your task “{title}” was due on {day} and is not done ({percent})."
                        " Post an update, or ask a coordinator for a new date.",
                        title=isolate(task.title), day=t.date(task.due_on),
                        percent=t.percent(task.progress / 100)))
            return text, InlineKeyboardMarkup([[InlineKeyboardButton(
                t._("Post an update"), callback_data=f"pl:upd:{task.id}")]])

        await notify(app, community, [person], render,
                     key=f"task-{when}:{task.id}:{task.due_on.isoformat()}")
    week = "{}-W{:02d}".format(*today.isocalendar()[:2])
    for plan in await store.active_plans(db):
        await _progress_note(app, plan, week)


async def _progress_note(app: Application, plan: Plan, week: str) -> None:  # type: ignore[type-arg]
    """Once a week, followers hear how the plan is going (the key makes it once)."""
    db = app.bot_data.db
    community = await community_store.get_community(db, plan.community_id)
    following = await store.followers(db, plan.id)
    if community is None or not following:
        return
    found = await store.tasks(db, plan.id)
    people = [u for uid in sorted(following)
              for u in [await community_store.get_user(db, uid)] if u is not None]

    def render(t: Translator, _user: User) -> tuple[str, InlineKeyboardMarkup]:
        today = t.local(utcnow()).date()
        overall = flow.plan_progress(found)
        return "\n".join([
            t._("This week in the plan “{problem}”:", problem=isolate(plan.problem)),
            t._("Progress: {bar} {percent}", bar=_bar(overall),
                percent=t.percent(overall / 100)),
            t.ngettext("{n} task done", "{n} tasks done",
                       sum(task.status == "done" for task in found)),
            t.ngettext("{n} task overdue", "{n} tasks overdue",
                       sum(flow.overdue(task, today) for task in found))]), \
            InlineKeyboardMarkup([[InlineKeyboardButton(t._("See the plan"),
                                                        callback_data=f"pl:show:{plan.id}")]])

    await notify(app, community, people, render, key=f"plan-note:{plan.id}:{week}")


async def _tick(context: Context) -> None:
    await remind_due(context.application)


async def on_startup(app: Application) -> None:  # type: ignore[type-arg]
    if app.job_queue is not None:
        app.job_queue.run_repeating(_tick, interval=TICK, first=timedelta(seconds=2),
                                    name="task-reminders")


# == wiring ==================================================================================


VIEWS = {"show": _plan_view, "tree": _tree_view, "ind": _indicators_view, "cur": _curation}
forms.finish.update({
    "cause": _tree_add, "consequence": _tree_add, "resource": _resource_add,
    "actor": _actor_add, "task": _task_add, "progress": _task_edit, "due": _task_edit,
    "responsible": _task_edit, "update": _update_add, "indicator": _indicator_add,
    "reading": _reading_add, "evaluation": _evaluation_add,
})


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(ConversationHandler(
        entry_points=[
            CallbackQueryHandler(tree_add_start, pattern=r"^pl:add:"),
            CallbackQueryHandler(newtask_start, pattern=r"^pl:newtask:"),
            CallbackQueryHandler(edit_start, pattern=r"^pl:edit:"),
            CallbackQueryHandler(update_start, pattern=r"^pl:upd:"),
            CallbackQueryHandler(newindicator_start, pattern=r"^pl:newind:"),
            CallbackQueryHandler(reading_start, pattern=r"^pl:read:"),
            CallbackQueryHandler(evaluation_start, pattern=r"^pl:eval:"),
            CallbackQueryHandler(offer_start, pattern=r"^pl:offer$"),
            CallbackQueryHandler(actor_start, pattern=r"^pl:actor$"),
        ],
        states={FILLING: [MessageHandler(text | filters.PHOTO, forms.fill),
                          CallbackQueryHandler(forms.fill, pattern=r"^pf:")]},
        fallbacks=[CommandHandler("cancel", forms.cancel)],
        name="plan_form", persistent=True, allow_reentry=True,
    ))
    app.add_handler(CommandHandler("plan", plan_command, filters=private))
    app.add_handler(CommandHandler("newplan", newplan_command, filters=private))
    app.add_handler(CommandHandler("resources", resources_command, filters=private))
    for pattern, callback in (
        (r"^pl:(show|tree|ind|cur):", view_tap), (r"^pl:fol:", follow_tap),
        (r"^pl:ti:", tree_item_tap), (r"^pl:task:", task_tap),
        (r"^pl:acc:", accept_tap), (r"^pl:st:", status_tap), (r"^pl:hist:", history_tap),
        (r"^pl:seed:", seed_tap), (r"^pl:wd:", withdraw_tap),
        (r"^pl:rma:", remove_actor_tap), (r"^pl:csv$", export_tap),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=pattern))
