"""Action plans: /newplan starts one for a problem; /plan shows tasks with progress bars,
overdue marks and the rolled-up progress, the problem tree, indicators and the evaluation;
/resources is the community's resource map and its organisations and people.

Every button carries what it acts on (a plan, a task, an item…) and the flow checks it
again — this community, this person's right, the plan still open — before anything is
written. Everything typed is a form (``bot/handlers/_forms.py``): asked one field at a
time, each checked as it comes, kept across a restart.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any, Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile

from bot.app import Context, MahfilApp
from bot.callbacks import Button, Id, button
from bot.commands import Command
from bot.flows import plan as flow
from bot.flows import process, typed
from bot.flows.people import Member
from bot.handlers._common import Said, Tap, Tapped, Turn, at, command, notify, short, tap
from bot.handlers._forms import Field, Filling, Form
from bot.handlers.city import approval_lines
from bot.i18n import N_, Translator, isolate
from bot.keyboards import inline, keyboard
from bot.messages import split_text

COMMANDS = [
    Command("plan", N_("The action plan: tasks, progress, problem tree, indicators"),
            "resident"),
    Command("resources", N_("The resource map: offer what you can"), "resident"),
    Command("newplan", N_("Start an action plan for a problem"), "coordinator"),
]

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

Part = Literal["tasks", "tree", "indicators", "proposals"]
Status = Literal["planned", "in_progress", "blocked", "done"]
STATUSES: tuple[Status, ...] = ("planned", "in_progress", "blocked", "done")  # flow.STATUSES


# == the buttons ================================================================================


@button("plan", "view")
class Show(Button):
    """One of a plan's views: its tasks, its problem tree, its indicators, or (for the
    committee) the tree's proposals to review."""

    plan: Id
    part: Part


@button("plan", "follow")
class Follow(Button):
    """Follow the plan (its updates and a weekly note), or stop following it."""

    plan: Id


@button("plan", "propose")
class Propose(Button):
    """Write a cause or a consequence of the plan's problem."""

    plan: Id
    side: Literal["cause", "consequence"]


@button("plan", "curate")
class Curate(Button):
    """A proposal reviewed: accepted, hidden, or to be placed under another item."""

    item: Id
    action: Literal["accept", "hide", "under"]


@button("plan", "place")
class Place(Button):
    """Accept ``item`` under ``parent`` in the tree."""

    item: Id
    parent: Id


@button("plan", "task")
class OpenTask(Button):
    task: Id


@button("plan", "newtask")
class NewTask(Button):
    plan: Id


@button("plan", "answer")
class Answer(Button):
    """The responsible person accepts (or declines) their task."""

    task: Id
    accept: bool


@button("plan", "status")
class SetStatus(Button):
    task: Id
    status: Status


@button("plan", "edit")
class Edit(Button):
    """Change a task's progress, due date or responsible person (a form)."""

    task: Id
    what: Literal["progress", "due", "responsible"]


@button("plan", "history")
class ShowHistory(Button):
    task: Id


@button("plan", "update")
class PostUpdate(Button):
    """The responsible person reports on their task (a form)."""

    task: Id


@button("plan", "newindicator")
class NewIndicator(Button):
    plan: Id


@button("plan", "reading")
class AddReading(Button):
    indicator: Id


@button("plan", "evaluate", role="coordinator")
class Evaluate(Button):
    plan: Id


@button("plan", "seed", role="coordinator")
class Seed(Button):
    """The evaluation's "what next" becomes the next brainstorm."""

    plan: Id


@button("plan", "offer")
class Offer(Button):
    """Offer a resource (a form)."""


@button("plan", "withdraw")
class Withdraw(Button):
    resource: Id


@button("plan", "addorg", role="coordinator")
class AddOrganisation(Button):
    """List an organisation or person that matters (a form)."""


@button("plan", "removeorg", role="coordinator")
class RemoveOrganisation(Button):
    organisation: Id


@button("plan", "export")
class Export(Button):
    """The resource map as CSV."""


# == the forms and their checks =================================================================


async def _responsible(filling: Filling, user_id: int) -> int:
    return await flow.check_responsible(filling.context.db, filling.who, user_id)


async def _after_start(filling: Filling, due: date) -> date:
    """A due date not before the start (typed just before, or the task's)."""
    starts = filling.values.get("starts_on")
    return await flow.check_due(filling.context.db, filling.who, due,
                                starts_on=date.fromisoformat(starts) if starts else None,
                                task_id=filling.ids.get("task"))


async def _good_side(filling: Filling, target: float) -> float:
    values = filling.values
    flow.check_indicator(values["baseline"], target, values["direction"])
    return target


async def _task_number(filling: Filling, number: float) -> int:
    """A task named by its number in /plan's list."""
    return await flow.task_by_number(filling.context.db, filling.who, filling.ids["plan"],
                                     number)


def _text(key: str, prompt: str, limit: int = 300, **kwargs: Any) -> Field:
    return Field(key, prompt, "text", limit, **kwargs)


CAUSE = Form("plan.cause", [_text("text", N_("Write a cause of the problem (why does it"
                                             " happen?)."))])
CONSEQUENCE = Form("plan.consequence", [_text("text", N_("Write a consequence of the problem"
                                                         " (what does it lead to?)."))])
RESOURCE = Form("plan.resource", [
    Field("kind", N_("What do you offer?"), "choice", labels=KIND_LABELS),
    _text("description", N_("Describe it in a sentence (what, when, how much)."))])
ORGANISATION = Form("plan.actor", [
    _text("name", N_("Name of the organisation or person?"), 200),
    Field("sector", N_("Which sector?"), "choice", labels=SECTOR_LABELS),
    _text("role", N_("What is their role for this problem?")),
    Field("influence", N_("How much influence do they have?"), "choice",
          labels=INFLUENCE_LABELS)], role="coordinator")
TASK = Form("plan.task", [
    _text("title", N_("What is the task?"), 200),
    Field("responsible_id", N_("Who is responsible? Send their name (or part of it)."),
          "member", check=_responsible),
    Field("starts_on", lambda t, _values: t._("When does it start? (for example {example})",
                                               example=typed.day_example(t)), "day"),
    Field("due_on", N_("When is it due?"), "day", check=_after_start)], role="committee")
PROGRESS = Form("plan.progress", [Field("progress", N_("Progress in percent (0–100)?"),
                                        "percent")], role="committee")
DUE = Form("plan.due", [Field("due_on", N_("The new due date?"), "day", check=_after_start)],
           role="committee")
RESPONSIBLE = Form("plan.responsible", [
    Field("responsible_id", N_("Who is responsible now? Send their name."), "member",
          check=_responsible)], role="committee")
UPDATE = Form("plan.update", [
    _text("text", N_("What has been done? Write your update."), 1000),
    Field("progress", N_("Progress in percent (0–100)?"), "percent"),
    Field("photo", N_("Send a photo, or skip."), "photo", optional=True)])
INDICATOR = Form("plan.indicator", [
    _text("name", N_("Name of the indicator (e.g. street lights working)?"), 200),
    _text("unit", N_("Its unit (e.g. lamps, %, days)?"), 50),
    Field("direction", N_("Which way is good?"), "choice", labels=DIRECTION_LABELS),
    Field("baseline", N_("The baseline: the value today?"), "number"),
    Field("target", N_("The target?"), "number", check=_good_side),
    Field("task_id", N_("Linked to a task? Send its number from /plan, or skip."), "number",
          optional=True, check=_task_number)], role="committee")
READING = Form("plan.reading", [
    Field("value", N_("The value measured?"), "number"),
    Field("on_day", lambda t, _values: t._(
        "Measured on which day? (for example {example}) — skip for today.",
        example=typed.day_example(t)), "day", optional=True),
    _text("source", N_("Source (who measured, or where it comes from)? Or skip."), 200,
          optional=True)], role="committee")
EVALUATION = Form("plan.evaluation", [
    Field("reached", N_("Did we reach the goal we wanted?"), "choice", labels=REACHED_LABELS),
    Field("rating", N_("How would you rate the work together, 1 to 5?"), "choice",
          labels={str(n): str(n) for n in range(1, 6)}),
    _text("worked", N_("What worked?"), 1000),
    Field("next", N_("What should we do next? One item per line."), "lines", 300)],
    role="coordinator")
EDITS = {"progress": PROGRESS, "due": DUE, "responsible": RESPONSIBLE}


# == small pieces ===============================================================================


def _bar(percent: float, width: int = 10) -> str:
    filled = round(width * percent / 100)
    return "▓" * filled + "░" * (width - filled)


def _name(names: dict[int, str], user_id: int | None) -> str:
    return names.get(user_id, "—") if user_id is not None else "—"


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


# == starting a plan, showing it, following it ==================================================


@command("newplan", role="coordinator")
async def new_plan(turn: Said) -> None:
    plan = await flow.new_plan(turn.context.db, turn.who, turn.text)
    text, markup = plan_view(turn.who, await flow.overview(turn.context.db, turn.who, plan.id))
    await turn.say(text, markup)


def plan_view(who: Member, view: flow.Overview) -> tuple[str, InlineKeyboardMarkup | None]:
    """A plan as /plan shows it (the process capability shows a new plan the same way)."""
    t, plan = who.t, view.plan
    today = flow.today(who)
    lines = [t._("<b>Action plan:</b> {problem}", problem=isolate(plan.problem))]
    if plan.status == "evaluated":
        lines.append(t._("(evaluated)"))
    lines += [t._("Progress: {bar} {percent}", bar=_bar(view.progress),
                  percent=t.percent(view.progress / 100))]
    lines += approval_lines(t, view.approvals)
    lines.append("")
    if not view.tasks:
        lines.append(t._("No tasks yet."))
    for number, task in enumerate(view.tasks, start=1):
        late = flow.overdue(task, today)
        mark = "⚠️ " if late else "✅ " if task.status == "done" else ""
        lines.append(f"{t.num(number)}. {mark}<b>{isolate(task.title)}</b> — "
                     f"{isolate(_name(view.names, task.responsible_id))}")
        lines.append(f"    {_bar(task.progress)} {t.percent(task.progress / 100)} · "
                     f"{t._(STATUS_LABELS[task.status])} · "
                     + t._("due {day}", day=t.date(task.due_on))
                     + (" · " + t._("overdue") if late else ""))
    rows: list[list[InlineKeyboardButton]] = [
        [inline(f"{t.num(n)}. {short(task.title, 30)}", OpenTask(task.id))]
        for n, task in enumerate(view.tasks, start=1)]
    rows.append([inline(t._("Stop following") if view.following else t._("Follow"),
                        Follow(plan.id)),
                 inline(t._("Problem tree"), Show(plan.id, "tree")),
                 inline(t._("Indicators"), Show(plan.id, "indicators"))])
    if view.may_add_task:
        rows.append([inline(t._("Add a task"), NewTask(plan.id))])
    if view.may_evaluate:
        rows.append([inline(t._("Evaluation"), Evaluate(plan.id))])
    if view.evaluation is not None:
        lines += ["", _evaluation_text(t, plan, view.evaluation)]
    return "\n".join(lines), keyboard(*rows)


@command("plan")
async def plan_command(turn: Said) -> None:
    view = await flow.overview(turn.context.db, turn.who)
    text, markup = plan_view(turn.who, view)
    others = [[inline("↪ " + short(p.problem, 40), Show(p.id, "tasks"))] for p in view.others]
    markup = keyboard(*(markup.inline_keyboard if markup else ()), *others)
    parts = split_text(text)
    for part in parts[:-1]:
        await turn.say(part)
    await turn.say(parts[-1], markup)


async def _tasks_part(turn: Tap[Show]) -> tuple[str, InlineKeyboardMarkup | None]:
    return plan_view(turn.who, await flow.overview(turn.context.db, turn.who,
                                                    turn.button.plan))


async def _tree_part(turn: Tap[Show]) -> tuple[str, InlineKeyboardMarkup | None]:
    return _tree_view(turn.t, await flow.tree(turn.context.db, turn.who, turn.button.plan))


async def _indicators_part(turn: Tap[Show]) -> tuple[str, InlineKeyboardMarkup | None]:
    return _indicators_view(turn.t, await flow.indicators(turn.context.db, turn.who,
                                                          turn.button.plan))


async def _proposals_part(turn: Tap[Show]) -> tuple[str, InlineKeyboardMarkup | None]:
    return _proposals_view(turn.t, await flow.proposals(turn.context.db, turn.who,
                                                        turn.button.plan))


PARTS = {"tasks": _tasks_part, "tree": _tree_part, "indicators": _indicators_part,
         "proposals": _proposals_part}


@tap(Show)
async def show(turn: Tap[Show]) -> None:
    """The plan, its problem tree, its indicators, or (for editors) the proposals."""
    text, markup = await PARTS[turn.button.part](turn)
    await turn.answer()
    await turn.edit(text, markup)


@tap(Follow)
async def follow(turn: Tap[Follow]) -> None:
    db, who, t = turn.context.db, turn.who, turn.t
    now = await flow.follow(db, who, turn.button.plan)
    await turn.answer(t._("You follow this plan: its updates will reach you.") if now
                      else t._("You no longer follow this plan."))
    await turn.edit(*plan_view(who, await flow.overview(db, who, turn.button.plan)))


# == the problem tree ===========================================================================


def _tree_view(t: Translator, tree: flow.Tree) -> tuple[str, InlineKeyboardMarkup | None]:
    plan = tree.plan
    lines = [t._("<b>Problem tree</b>"), "", t._("🍂 Consequences (what it leads to):")]
    lines += [f"{'    ' * b.depth}• {isolate(b.item.text)}"
              for b in tree.consequences] or ["    —"]
    lines += ["", t._("🎯 Problem: {problem}", problem=isolate(plan.problem)), "",
              t._("🌱 Causes (why it happens):")]
    lines += [f"{'    ' * b.depth}• {isolate(b.item.text)}" for b in tree.causes] or ["    —"]
    if tree.proposed:
        lines += ["", t.ngettext("{n} proposal waits for the committee.",
                                 "{n} proposals wait for the committee.", tree.proposed)]
    return "\n".join(lines), keyboard(
        [inline(t._("Add a cause"), Propose(plan.id, "cause")),
         inline(t._("Add a consequence"), Propose(plan.id, "consequence"))],
        [inline(t._("Review proposals"), Show(plan.id, "proposals"))] if tree.may_review
        else None,
        [inline(t._("Back"), Show(plan.id, "tasks"))])


@tap(Propose)
async def propose(turn: Tap[Propose]) -> None:
    plan = await flow.can_propose(turn.context.db, turn.who, turn.button.plan,
                                  turn.button.side)
    await (CAUSE if turn.button.side == "cause" else CONSEQUENCE).begin(turn, plan=plan.id)


@CAUSE.finisher
async def _proposed(filling: Filling) -> None:
    turn, t = filling.turn, filling.t
    plan, placed = await flow.propose(turn.context.db, turn.who, filling.ids["plan"],
                                      "cause" if filling.form is CAUSE else "consequence",
                                      filling.values["text"])
    await turn.say(t._("Added to the problem tree.") if placed
                   else t._("Thank you! The committee will place it in the problem tree."))
    if not placed:
        await _tell_of_proposals(turn.app, plan.id)
    await turn.say(*_tree_view(t, await flow.tree(turn.context.db, turn.who, plan.id)))


CONSEQUENCE.finisher(_proposed)


async def _tell_of_proposals(app: MahfilApp, plan_id: int) -> None:
    """Coordinators hear of new proposals in one notice, at most once an hour (a job: at
    once, or an hour after the last notice, taking in whatever was proposed meanwhile)."""
    at(app, f"plan-proposals-{plan_id}",
       await flow.proposals_notice_at(app.bot_data.db, plan_id), _proposals_job, plan_id)


async def _proposals_job(context: Context) -> None:
    assert context.job is not None and isinstance(context.job.data, int)
    news = await flow.proposals_news(context.db, context.job.data)
    if news is None:
        return
    plan = news.plan

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup | None]:
        text = t.ngettext("New for the problem tree of “{problem}”: {n} proposal waits for"
                          " review.", "New for the problem tree of “{problem}”: {n}"
                          " proposals wait for review.", news.count,
                          problem=isolate(plan.problem))
        return text, keyboard([inline(t._("Review proposals"), Show(plan.id, "proposals"))])

    await notify(context.application, news.community, news.coordinators, render,
                 key=news.key)
    await flow.proposals_told(context.db, news)


def _proposals_view(t: Translator, found: flow.Proposals,
                    ) -> tuple[str, InlineKeyboardMarkup | None]:
    back = [inline(t._("Back"), Show(found.plan.id, "tree"))]
    if not found.items:
        return t._("No proposals wait."), keyboard(back)
    item = found.items[0]
    kind = t._("Cause") if item.kind == "cause" else t._("Consequence")
    text = "\n".join([t.ngettext("{n} proposal to review.", "{n} proposals to review.",
                                 len(found.items)), "", f"<b>{kind}</b>: {isolate(item.text)}"])
    return text, keyboard([inline(t._("Accept"), Curate(item.id, "accept")),
                           inline(t._("Under…"), Curate(item.id, "under")),
                           inline(t._("Hide"), Curate(item.id, "hide"))], back)


@tap(Curate)
async def curate(turn: Tap[Curate]) -> None:
    db, who, t, chosen = turn.context.db, turn.who, turn.t, turn.button
    if chosen.action == "under":
        item, parents = await flow.parents(db, who, chosen.item)
        await turn.answer()
        await turn.edit(t._("Place “{text}” under which?", text=isolate(item.text)),
                        keyboard(*[[inline(short(p.text, 40), Place(item.id, p.id))]
                                   for p in parents]))
        return
    plan = await flow.curate(db, who, chosen.item, chosen.action)
    await turn.answer(t._("Done."))
    await turn.edit(*_proposals_view(t, await flow.proposals(db, who, plan.id)))


@tap(Place)
async def place(turn: Tap[Place]) -> None:
    db, who = turn.context.db, turn.who
    plan = await flow.place(db, who, turn.button.item, turn.button.parent)
    await turn.answer(turn.t._("Done."))
    await turn.edit(*_proposals_view(turn.t, await flow.proposals(db, who, plan.id)))


# == tasks ======================================================================================


def _task_view(t: Translator, view: flow.TaskView) -> tuple[str, InlineKeyboardMarkup | None]:
    task = view.task
    acceptance = (t._("accepted") if task.accepted else t._("declined")
                  if task.accepted is False else t._("not yet accepted"))
    lines = [f"<b>{isolate(task.title)}</b>",
             t._("Responsible: {name} ({acceptance})", name=isolate(view.responsible or "—"),
                 acceptance=acceptance),
             t._("From {start} to {due}", start=t.date(task.starts_on), due=t.date(task.due_on)),
             f"{t._(STATUS_LABELS[task.status])} · {_bar(task.progress)} "
             f"{t.percent(task.progress / 100)}"]
    if view.overdue:
        lines.append("⚠️ " + t._("overdue"))
    for item in view.reports:
        lines.append(f"— {t.date(item.at)} · {t.percent(item.progress / 100)} · "
                     f"{isolate(short(item.text, 200))}" + (" 📷" if item.photo else ""))
    rows: list[list[InlineKeyboardButton] | None] = []
    if view.may_answer:
        rows.append([inline(t._("Accept the task"), Answer(task.id, True)),
                     inline(t._("Decline"), Answer(task.id, False))])
    if view.may_report:
        rows.append([inline(t._("Post an update"), PostUpdate(task.id))])
    if view.may_edit:
        rows.append([inline(t._(STATUS_LABELS[s]), SetStatus(task.id, s))
                     for s in STATUSES if s != task.status])
        rows.append([inline(t._("Progress %"), Edit(task.id, "progress")),
                     inline(t._("Due date"), Edit(task.id, "due")),
                     inline(t._("Responsible"), Edit(task.id, "responsible"))])
    rows.append([inline(t._("History"), ShowHistory(task.id)),
                 inline(t._("Back"), Show(view.plan.id, "tasks"))])
    return "\n".join(lines), keyboard(*rows)


async def _task_message(turn: Turn[Member], task_id: int,
                        ) -> tuple[str, InlineKeyboardMarkup | None]:
    return _task_view(turn.t, await flow.task_view(turn.context.db, turn.who, task_id))


@tap(OpenTask)
async def open_task(turn: Tap[OpenTask]) -> None:
    text, markup = await _task_message(turn, turn.button.task)
    await turn.answer()
    await turn.edit(text, markup)


@tap(NewTask)
async def new_task(turn: Tap[NewTask]) -> None:
    plan = await flow.can_add_task(turn.context.db, turn.who, turn.button.plan)
    await TASK.begin(turn, plan=plan.id)


@TASK.finisher
async def _task_added(filling: Filling) -> None:
    turn, values = filling.turn, filling.values
    assigned = await flow.add_task(
        turn.context.db, turn.who, filling.ids["plan"], title=values["title"],
        responsible_id=values["responsible_id"], starts_on=date.fromisoformat(
            values["starts_on"]), due_on=date.fromisoformat(values["due_on"]))
    await _ask_to_accept(turn, assigned)
    await turn.say(*await _task_message(turn, assigned.task.id))


async def _ask_to_accept(turn: Turn[Member], assigned: flow.Assigned) -> None:
    """The responsible member is asked to accept the task (through the outbox)."""
    task, person = assigned.task, assigned.person
    if person is None:
        return

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup | None]:
        return (t._("You are asked to take on a task: <b>{title}</b>, from {start} to {due}."
                    " Do you accept?", title=isolate(task.title), start=t.date(task.starts_on),
                    due=t.date(task.due_on)),
                keyboard([inline(t._("Accept the task"), Answer(task.id, True)),
                          inline(t._("Decline"), Answer(task.id, False))]))

    await notify(turn.app, turn.who.community, [person], render,
                 key=f"task-ask:{task.id}:{task.responsible_id}")


@tap(Answer)
async def answer(turn: Tap[Answer]) -> None:
    who = turn.who
    answered = await flow.answer_task(turn.context.db, who, turn.button.task,
                                      turn.button.accept)
    await turn.answer(turn.t._("Thank you!"))
    await turn.edit(*await _task_message(turn, answered.task.id))
    if not turn.button.accept and answered.creator is not None:
        title = answered.task.title
        await notify(turn.app, who.community, [answered.creator], lambda t, _u: (t._(
            "{name} declined the task “{title}”. Choose someone else from /plan.",
            name=isolate(who.user.display_name), title=isolate(title)), None),
            key=f"task-declined:{answered.task.id}:{who.user.id}")


@tap(SetStatus)
async def set_status(turn: Tap[SetStatus]) -> None:
    task = await flow.set_status(turn.context.db, turn.who, turn.button.task,
                                 turn.button.status)
    await turn.answer(turn.t._("Saved."))
    await turn.edit(*await _task_message(turn, task.id))


@tap(Edit)
async def edit(turn: Tap[Edit]) -> None:
    task, _plan = await flow.can_edit_task(turn.context.db, turn.who, turn.button.task)
    await EDITS[turn.button.what].begin(turn, task=task.id)


async def _task_edited(filling: Filling) -> None:
    turn, values = filling.turn, filling.values
    assigned = await flow.edit_task(
        turn.context.db, turn.who, filling.ids["task"], progress=values.get("progress"),
        due_on=_day(values.get("due_on")), responsible_id=values.get("responsible_id"))
    await _ask_to_accept(turn, assigned)
    await turn.say(turn.t._("Saved."))
    await turn.say(*await _task_message(turn, assigned.task.id))


PROGRESS.finisher(_task_edited)
DUE.finisher(_task_edited)
RESPONSIBLE.finisher(_task_edited)


@tap(ShowHistory)
async def show_history(turn: Tap[ShowHistory]) -> None:
    found = await flow.history(turn.context.db, turn.who, turn.button.task)
    t = turn.t
    arrow = "←" if t.rtl else "→"  # arrows are not mirrored in right-to-left text
    lines = [t._("<b>History of “{title}”</b>", title=isolate(found.task.title))]
    for change in found.changes:
        what = "; ".join(
            f"{t._(FIELD_LABELS.get(k, k))}: {_shown(t, k, b, found.names)} {arrow} "
            f"{_shown(t, k, a, found.names)}" if k != "created" else t._("created")
            for k, (b, a) in change.changes.items())
        lines.append(f"• {t.datetime(change.at)} — "
                     f"{isolate(_name(found.names, change.actor_id))}: {what}")
    await turn.answer()
    for part in split_text("\n".join(lines)):
        await turn.say(part)


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


# == progress updates ===========================================================================


@tap(PostUpdate)
async def post_update(turn: Tap[PostUpdate]) -> None:
    task = await flow.can_report(turn.context.db, turn.who, turn.button.task)
    await UPDATE.begin(turn, task=task.id)


@UPDATE.finisher
async def _update_posted(filling: Filling) -> None:
    turn, values, who = filling.turn, filling.values, filling.who
    photo: str | None = values.get("photo")
    reported = await flow.post_update(turn.context.db, who, filling.ids["task"],
                                      values["text"], values["progress"], photo)
    await turn.say(turn.t._("Thank you! Your update is posted; followers are told."))
    await turn.say(*await _task_message(turn, reported.task.id))
    task, plan = reported.task, reported.plan

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup | None]:
        return t._("Update on “{title}” ({percent}) by {name}: {text}",
                   title=isolate(task.title), percent=t.percent(task.progress / 100),
                   name=isolate(who.user.display_name), text=isolate(values["text"])), \
            keyboard([inline(t._("See the plan"), Show(plan.id, "tasks"))])

    await notify(turn.app, who.community, reported.followers, render,
                 key=f"task-update:{task.id}:{reported.number}",
                 photo=(lambda _t: photo) if photo else None)


# == indicators =================================================================================


def _indicators_view(t: Translator, found: flow.Indicators,
                     ) -> tuple[str, InlineKeyboardMarkup | None]:
    plan = found.plan
    lines = [t._("<b>Indicators</b> — {problem}", problem=isolate(plan.problem)), ""]
    if not found.items:
        lines.append(t._("No indicators yet."))
    rows = []
    comma = "، " if t.lang == "fa" else ", "
    for number, measured in enumerate(found.items, start=1):
        indicator, share = measured.indicator, measured.share
        way = t._(DIRECTION_LABELS[indicator.direction])
        lines.append(f"{t.num(number)}. <b>{isolate(indicator.name)}</b> "
                     f"({isolate(indicator.unit)}{comma}{way.lower()})")
        lines.append("    " + t._("baseline {baseline} → target {target}",
                                   baseline=t.num(indicator.baseline),
                                   target=t.num(indicator.target)))
        if measured.readings:
            latest = measured.readings[-1]
            lines.append("    " + t._("latest: {value} on {day}", value=t.num(latest.value),
                                       day=t.date(latest.on_day))
                         + (f" ({isolate(latest.source)})" if latest.source else ""))
            lines.append(f"    {_bar((share or 0) * 100)} "
                         + t._("{percent} of the way to the target",
                               percent=t.percent(share or 0)))
        if measured.task is not None:
            lines.append("    " + t._("task: {title}", title=isolate(measured.task)))
        if found.may_edit:
            rows.append([inline(t._("Add a reading: {name}", name=short(indicator.name, 30)),
                                AddReading(indicator.id))])
    if found.may_edit:
        rows.append([inline(t._("Add an indicator"), NewIndicator(plan.id))])
    rows.append([inline(t._("Back"), Show(plan.id, "tasks"))])
    return "\n".join(lines), keyboard(*rows)


@tap(NewIndicator)
async def new_indicator(turn: Tap[NewIndicator]) -> None:
    plan = await flow.can_add_indicator(turn.context.db, turn.who, turn.button.plan)
    await INDICATOR.begin(turn, plan=plan.id)


@INDICATOR.finisher
async def _indicator_added(filling: Filling) -> None:
    turn, values = filling.turn, filling.values
    plan = await flow.add_indicator(
        turn.context.db, turn.who, filling.ids["plan"], name=values["name"],
        unit=values["unit"], direction=values["direction"], baseline=values["baseline"],
        target=values["target"], task_id=values.get("task_id"))
    await turn.say(*_indicators_view(turn.t, await flow.indicators(turn.context.db, turn.who,
                                                                   plan.id)))


@tap(AddReading)
async def add_reading(turn: Tap[AddReading]) -> None:
    indicator = await flow.can_add_reading(turn.context.db, turn.who, turn.button.indicator)
    await READING.begin(turn, indicator=indicator.id)


@READING.finisher
async def _reading_added(filling: Filling) -> None:
    turn, values = filling.turn, filling.values
    plan = await flow.add_reading(turn.context.db, turn.who, filling.ids["indicator"],
                                  value=values["value"], on_day=_day(values.get("on_day")),
                                  source=values.get("source"))
    await turn.say(*_indicators_view(turn.t, await flow.indicators(turn.context.db, turn.who,
                                                                   plan.id)))


# == evaluation =================================================================================


def _evaluation_text(t: Translator, plan: flow.Plan, evaluation: flow.Evaluation) -> str:
    lines = [t._("<b>Evaluation</b> of “{problem}”", problem=isolate(plan.problem)),
             t._("Did we reach the goal? {answer}",
                 answer=t._(REACHED_LABELS[evaluation.reached])),
             t._("Rating: {stars} ({rating}/5)", stars="★" * evaluation.rating
                 + "☆" * (5 - evaluation.rating), rating=evaluation.rating),
             t._("What worked: {text}", text=isolate(evaluation.worked)),
             t._("What next:")]
    lines += [f"• {isolate(item)}" for item in evaluation.next]
    return "\n".join(lines)


@tap(Evaluate)
async def evaluate(turn: Tap[Evaluate]) -> None:
    plan = await flow.can_evaluate(turn.context.db, turn.who, turn.button.plan)
    await EVALUATION.begin(turn, plan=plan.id)


@EVALUATION.finisher
async def _evaluated(filling: Filling) -> None:
    turn, values, t = filling.turn, filling.values, filling.t
    done = await flow.evaluate(turn.context.db, turn.who, filling.ids["plan"],
                               reached=values["reached"], rating=int(values["rating"]),
                               worked=values["worked"], next_steps=values["next"])
    await notify(turn.app, turn.who.community, done.members,
                 lambda t, _u: (_evaluation_text(t, done.plan, done.evaluation), None),
                 key=f"plan-evaluation:{done.plan.id}")
    await turn.say(t._("The evaluation is saved and shared with members."), keyboard(
        [inline(t._("Start the next brainstorm with “what next”"), Seed(done.plan.id))]))


@tap(Seed)
async def seed(turn: Tap[Seed]) -> None:
    """The evaluation's "what next" items become the first cards of a new brainstorm."""
    t = turn.t
    cards = await flow.seed_brainstorm(
        turn.context.db, turn.who, turn.button.plan,
        lambda plan: t._("What next, after “{problem}”?", problem=short(plan.problem, 200)))
    await turn.answer()
    await turn.edit(t.ngettext(
        "A brainstorm is open with {n} problem from the evaluation. /curate to review it.",
        "A brainstorm is open with {n} problems from the evaluation. /curate to review it.",
        cards))


# == resources and organisations ================================================================


def _resources_text(t: Translator, found: flow.ResourceMap,
                    ) -> tuple[str, InlineKeyboardMarkup | None]:
    lines = [t._("<b>Resource map</b>"), ""]
    for kind, label in KIND_LABELS.items():
        mine = [r for r in found.resources if r.kind == kind]
        if mine:
            lines.append(f"<b>{t._(label)}</b>")
            lines += [f"• {isolate(r.description)} — {isolate(_name(found.names, r.user_id))}"
                      for r in mine]
    if not found.resources:
        lines.append(t._("Nobody has offered anything yet."))
    lines += ["", t._("<b>Organisations and people that matter</b>")]
    if not found.organisations:
        lines.append(t._("None listed yet."))
    for a in found.organisations:
        lines.append(f"• <b>{isolate(a.name)}</b> — {t._(SECTOR_LABELS[a.sector])} · "
                     f"{t._(INFLUENCE_LABELS[str(a.influence)])}: {isolate(a.role)}")
    rows = [[inline(t._("Offer a resource"), Offer())]]
    rows += [[inline(t._("Withdraw: {what}", what=short(r.description, 30)), Withdraw(r.id))]
             for r in found.mine]
    if found.may_manage:
        rows.append([inline(t._("Add an organisation or person"), AddOrganisation())])
        rows += [[inline(t._("Remove: {name}", name=short(a.name, 30)),
                         RemoveOrganisation(a.id))] for a in found.organisations]
    rows.append([inline(t._("Export CSV"), Export())])
    return "\n".join(lines), keyboard(*rows)


async def _show_resources(turn: Turn[Member]) -> None:
    """The map: the tapped message edited when it fits one message, else sent whole."""
    text, markup = _resources_text(turn.t, await flow.resource_map(turn.context.db, turn.who))
    parts = split_text(text)
    if isinstance(turn, Tapped) and len(parts) == 1:
        await turn.edit(text, markup)
        return
    for part in parts[:-1]:
        await turn.say(part)
    await turn.say(parts[-1], markup)


@command("resources")
async def resources(turn: Said) -> None:
    await _show_resources(turn)


@tap(Offer)
async def offer(turn: Tap[Offer]) -> None:
    await RESOURCE.begin(turn)


@RESOURCE.finisher
async def _offered(filling: Filling) -> None:
    turn, values = filling.turn, filling.values
    await flow.offer(turn.context.db, turn.who, values["kind"], values["description"])
    await turn.say(turn.t._("Thank you! Your offer is on the resource map."))
    await _show_resources(turn)


@tap(Withdraw)
async def withdraw(turn: Tap[Withdraw]) -> None:
    await flow.withdraw(turn.context.db, turn.who, turn.button.resource)
    await turn.answer(turn.t._("Withdrawn."))
    await _show_resources(turn)


@tap(AddOrganisation)
async def add_organisation(turn: Tap[AddOrganisation]) -> None:
    await ORGANISATION.begin(turn)


@ORGANISATION.finisher
async def _organisation_added(filling: Filling) -> None:
    turn, values = filling.turn, filling.values
    await flow.add_organisation(turn.context.db, turn.who, name=values["name"],
                                sector=values["sector"], role=values["role"],
                                influence=int(values["influence"]))
    await _show_resources(turn)


@tap(RemoveOrganisation)
async def remove_organisation(turn: Tap[RemoveOrganisation]) -> None:
    await flow.remove_organisation(turn.context.db, turn.who, turn.button.organisation)
    await turn.answer(turn.t._("Removed."))
    await _show_resources(turn)


@tap(Export)
async def export(turn: Tap[Export]) -> None:
    """The resource map and the organisations as one CSV (UTF-8 with a byte-order mark)."""
    t = turn.t
    found = await flow.resource_map(turn.context.db, turn.who)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([t._("Type"), t._("Name"), t._("Description"), t._("Sector"),
                     t._("Influence")])
    for r in found.resources:
        writer.writerow([t._(KIND_LABELS[r.kind]), _name(found.names, r.user_id),
                         r.description, "", ""])
    for a in found.organisations:
        writer.writerow([t._("Organisation or person"), a.name, a.role,
                         t._(SECTOR_LABELS[a.sector]), t._(INFLUENCE_LABELS[str(a.influence)])])
    await turn.answer()
    chat = turn.update.effective_chat
    assert chat is not None  # a tap always comes from a chat
    await turn.context.bot.send_document(chat.id, InputFile(
        buffer.getvalue().encode("utf-8-sig"), filename="resources.csv"))


# == reminders ==================================================================================


async def remind_due(app: MahfilApp) -> None:
    """Reminders to a task's responsible member: the day before it is due and the day after
    it was due, each once; and a weekly progress note to those who follow a plan."""
    db = app.bot_data.db
    for reminder in await flow.due_reminders(db):
        task, when = reminder.task, reminder.when

        def render(t: Translator, _user: flow.User, task: flow.Task = task,
                   when: str = when) -> tuple[str, InlineKeyboardMarkup | None]:
            text = (t._("Reminder: your task “{title}” is due on {day} ({percent} done).",
                        title=isolate(task.title), day=t.date(task.due_on),
                        percent=t.percent(task.progress / 100)) if when == "soon" else
                    t._("Your task “{title}” was due on {day} and is not done ({percent})."
                        " Post an update, or ask a coordinator for a new date.",
                        title=isolate(task.title), day=t.date(task.due_on),
                        percent=t.percent(task.progress / 100)))
            return text, keyboard([inline(t._("Post an update"), PostUpdate(task.id))])

        await notify(app, reminder.community, [reminder.person], render,
                     key=f"task-{when}:{task.id}:{task.due_on.isoformat()}")
    for note in await flow.weekly_notes(db):
        await _progress_note(app, note)


async def _progress_note(app: MahfilApp, note: flow.Note) -> None:
    """Once a week, followers hear how the plan is going (the key makes it once)."""
    plan, found = note.plan, note.tasks

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup | None]:
        today = flow.local_today(t)
        overall = flow.plan_progress(found)
        step = process.step_line(t, note.standing) if note.standing is not None else None
        return "\n".join([
            t._("This week in the plan “{problem}”:", problem=isolate(plan.problem)),
            t._("Progress: {bar} {percent}", bar=_bar(overall),
                percent=t.percent(overall / 100)),
            t.ngettext("{n} task done", "{n} tasks done",
                       sum(task.status == "done" for task in found)),
            t.ngettext("{n} task overdue", "{n} tasks overdue",
                       sum(flow.overdue(task, today) for task in found)),
            *([step] if step else [])]), \
            keyboard([inline(t._("See the plan"), Show(plan.id, "tasks"))])

    await notify(app, note.community, note.followers, render,
                 key=f"plan-note:{plan.id}:{note.week}")


async def _tick(context: Context) -> None:
    await remind_due(context.application)


async def on_startup(app: MahfilApp) -> None:
    if app.job_queue is not None:
        app.job_queue.run_repeating(_tick, interval=TICK, first=2, name="task-reminders")
    for plan in await flow.untold_proposals(app.bot_data.db):  # proposals made while down
        await _tell_of_proposals(app, plan.id)


# == wiring =====================================================================================


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (
        new_plan, plan_command, show, follow, propose, curate, place, open_task, new_task,
        answer, set_status, edit, show_history, post_update, new_indicator, add_reading,
        evaluate, seed, resources, offer, withdraw, add_organisation, remove_organisation,
        export)])
