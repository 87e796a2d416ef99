"""The participation cycle: /process shows where the neighbourhood stands — each step with
what it decided, and what is open for the reader now; coordinators mark steps by hand (with
undo), choose the steps a cycle uses, and take the next step offered when one finishes.

The offers (a plan for the vote's winner, a choice among tied problems, a vote on the
brainstorm's shortlist, the next cycle) are made by ``bot/flows/process.py`` when events
happen and sent from here, through the outbox, to each coordinator in their language. Their
buttons open the next step pre-filled: the plan is created with the winner as its problem
(/newplan's flow) and shown; the vote's set-up starts with the shortlist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.app import Context, MahfilApp
from bot.callbacks import Button, Id, Index, button
from bot.commands import Command
from bot.flows import plan as plan_flow
from bot.flows import process as flow
from bot.handlers import brainstorm as brainstorm_handlers
from bot.handlers import committee as committee_handlers
from bot.handlers import plan as plan_handlers
from bot.handlers import survey as survey_handlers
from bot.handlers import voting as voting_handlers
from bot.handlers._common import Said, Tap, Turn, at, command, notify, short, tap
from bot.i18n import N_, Translator, isolate
from bot.keyboards import inline, keyboard
from bot.messages import split_text

COMMANDS = [Command("process", N_("Where the neighbourhood stands, and what is open for you"),
                    "resident")]

StepKey = flow.StepKey
Status = flow.Status
MARKS = {"not_started": "◻️", "under_way": "▶️", "done": "✅"}
STATUS_LABELS = {"not_started": N_("not started"), "under_way": N_("under way"),
                 "done": N_("completed")}
MARK_LABELS = {"not_started": N_("Mark as not started"), "under_way": N_("Mark as under way"),
               "done": N_("Mark as done")}


# == the buttons ================================================================================


@button("process", "view")
class View(Button):
    """/process for a cycle (0: the current one)."""

    cycle: Index


@button("process", "manage", role="coordinator")
class Manage(Button):
    """The steps of the current cycle, to mark by hand or leave out."""


@button("process", "step", role="coordinator")
class StepCard(Button):
    step: StepKey


@button("process", "mark", role="coordinator")
class MarkStep(Button):
    step: StepKey
    status: Status


@button("process", "use", role="coordinator")
class UseStep(Button):
    """Use the step in this cycle (and the next ones), or leave it out."""

    step: StepKey
    used: bool


@button("process", "undo", role="coordinator")
class Undo(Button):
    """Take back ``mark``, the latest mark by hand when the button was shown."""

    mark: Id


@button("process", "plan", role="coordinator")
class StartPlan(Button):
    """The next step after the vote: the problem tree and action plan for its winner."""

    offer: Id


@button("process", "pick", role="coordinator")
class PickProblem(Button):
    """The most pressing problem among those tied for first place (by its place)."""

    offer: Id
    index: Index


@button("process", "vote", role="coordinator")
class SetUpVote(Button):
    """The next step after the brainstorm: a priority vote on its shortlist."""

    offer: Id


@button("process", "cycle", role="coordinator")
class NextCycle(Button):
    """The next step after the evaluation: a new cycle from its "what next"."""

    offer: Id


# == what a step decided, in one line ===========================================================


def _comma(t: Translator) -> str:
    return "، " if t.lang == "fa" else ", "


def _needs(t: Translator, facts: flow.Facts) -> str | None:
    if facts.problem is not None:
        problem = isolate(facts.problem)
        if facts.tied > 1:
            return t.ngettext(
                "“{problem}”, chosen by the coordinators among {n} problems tied for first"
                " place", "“{problem}”, chosen by the coordinators among {n} problems tied"
                " for first place", facts.tied, problem=problem)
        return _first(t, problem, facts.method, facts.score)
    parts = [t.ngettext("{n} survey", "{n} surveys", facts.surveys) if facts.surveys else "",
             t.ngettext("{n} brainstorm", "{n} brainstorms", facts.brainstorms)
             if facts.brainstorms else "",
             t.ngettext("{n} priority vote", "{n} priority votes", facts.votes)
             if facts.votes else ""]
    return _comma(t).join(p for p in parts if p) or None


def _first(t: Translator, problem: str, method: str | None, score: float) -> str:
    """How the winner came first, in the words of its method."""
    if method == "pairwise":
        return t._("“{problem}” came first in the pairwise ranking ({share})",
                   problem=problem, share=t.percent(score / 100))
    if method == "matrix":
        return t._("“{problem}” came first in the priority matrix (score {score} of 5)",
                   problem=problem, score=t.num(round(score, 1), decimals=1))
    return t.ngettext("“{problem}” came first with {n} sticker",
                      "“{problem}” came first with {n} stickers", round(score),
                      problem=problem)


def _fact(t: Translator, key: str, facts: flow.Facts) -> str | None:
    if key == "needs":
        return _needs(t, facts)
    if key == "committee" and facts.name is not None:
        return t.ngettext("“{name}” elected, {n} seat filled",
                          "“{name}” elected, {n} seats filled", facts.seats,
                          name=isolate(facts.name))
    if key == "analysis" and facts.problem is not None:
        return t._("{causes} and {consequences} in the problem tree of “{problem}”",
                   causes=t.ngettext("{n} cause", "{n} causes", facts.causes),
                   consequences=t.ngettext("{n} consequence", "{n} consequences",
                                           facts.consequences),
                   problem=isolate(facts.problem))
    if key == "resources" and (facts.resources or facts.organisations):
        return t._("{resources} and {organisations} on the resource map",
                   resources=t.ngettext("{n} resource offered", "{n} resources offered",
                                        facts.resources),
                   organisations=t.ngettext("{n} organisation or person listed",
                                            "{n} organisations or people listed",
                                            facts.organisations))
    if key == "plan" and facts.problem is not None:
        return t.ngettext("“{problem}”: {n} task planned", "“{problem}”: {n} tasks planned",
                          facts.tasks, problem=isolate(facts.problem))
    if key == "monitoring" and facts.tasks:
        text = t.ngettext("{done} of {n} task done, {percent} overall",
                          "{done} of {n} tasks done, {percent} overall", facts.tasks,
                          done=facts.done, percent=t.percent(facts.progress / 100))
        if facts.readings:
            text += "; " + t.ngettext("{n} indicator reading", "{n} indicator readings",
                                      facts.readings)
        return text
    if key == "evaluation" and facts.reached is not None:
        return t.ngettext(
            "goal reached? {answer}; rating {rating}/5; {n} item for what comes next",
            "goal reached? {answer}; rating {rating}/5; {n} items for what comes next",
            facts.next, answer=t._(plan_handlers.REACHED_LABELS[facts.reached]),
            rating=facts.rating)
    return None


def _step(t: Translator, line: flow.Line) -> str:
    state = line.state
    head = f"{MARKS[state.status]} {t.num(line.number)}. {t._(flow.STEP_LABELS[state.key])}"
    if state.status == "not_started":
        return head + (" " + t._("(marked by hand)") if line.by_hand else "")
    if state.status == "done" and state.done_at is not None:
        start = t.date(state.started_at or state.done_at)
        end = t.date(state.done_at)
        when = end if start == end else t._("{start} – {end}", start=start, end=end)
    else:
        when = t._("since {day}", day=t.date(state.started_at)) if state.started_at else ""
    fact = _fact(t, state.key, line.facts)
    text = f"{head} ({when})" if when else head
    if fact:
        text += ": " + fact
    if line.by_hand:
        text += " " + t._("(marked by hand)")
    return text


# == what is open for the reader ================================================================


def _mine(t: Translator, item: flow.Mine) -> tuple[str, InlineKeyboardButton]:
    title, label = isolate(item.title), short(item.title, 30)
    if item.kind == "survey":
        text = t._("Answer the survey “{title}”", title=title)
        button = inline(t._("Answer: {title}", title=label), survey_handlers.Answer(item.id))
    elif item.kind == "vote":
        text = t._("Vote in “{title}”", title=title)
        button = inline(t._("Vote: {title}", title=label), voting_handlers.Ballot(item.id))
    elif item.kind == "nominate":
        text = t._("Nominate candidates for “{name}”", name=title)
        button = inline(t._("Nominate: {name}", name=label),
                        committee_handlers.Nominate(item.id))
    elif item.kind == "ballot":
        text = t._("Vote in the election “{name}”", name=title)
        button = inline(t._("Ballot: {name}", name=label), committee_handlers.Vote(item.id))
    elif item.kind == "accept":
        text = t._("Accept or decline your task “{title}”", title=title)
        button = inline(t._("Task: {title}", title=label), plan_handlers.OpenTask(item.id))
    elif item.kind == "task":
        text = t._("Report on your task “{title}”", title=title)
        button = inline(t._("Task: {title}", title=label), plan_handlers.OpenTask(item.id))
    else:
        text = t._("Add the problems you see to the brainstorm “{prompt}”", prompt=title)
        button = inline(t._("Brainstorm: {prompt}", prompt=label),
                        brainstorm_handlers.Add(item.id))
    if item.due is not None:
        text += " — " + t._("due {day}", day=t.date(item.due))
    elif item.closes is not None:
        text += " — " + t._("closes {when}", when=t.datetime(item.closes))
    return f"• {text}", button


# == the next step offered ======================================================================


def _offer(t: Translator, found: flow.Next) -> tuple[str, list[list[InlineKeyboardButton]]]:
    if found.kind == "plan":
        problem = isolate(found.problem)
        head = (t._("“{problem}” is the most pressing problem.", problem=problem)
                if found.tied > 1 else _first(t, problem, found.method, found.score) + ".")
        return (head + " " + t._("Start the problem tree and action plan for it?"),
                [[inline(t._("Start the plan for “{problem}”", problem=short(found.problem,
                                                                             30)),
                         StartPlan(found.id))]])
    if found.kind == "tie":
        names = _comma(t).join(isolate(p) for p in found.problems)
        return (t._("The priority vote is tied for first place: {problems}. Which is the most"
                    " pressing problem? The problem tree and action plan start from it.",
                    problems=names),
                [[inline(short(p, 40), PickProblem(found.id, index))]
                 for index, p in enumerate(found.problems)])
    if found.kind == "vote":
        return (t.ngettext(
            "The brainstorm “{prompt}” closed with {n} problem on its shortlist. Set up the"
            " priority vote on it?",
            "The brainstorm “{prompt}” closed with {n} problems on its shortlist. Set up the"
            " priority vote on them?", found.count, prompt=isolate(found.problem)),
                [[inline(t._("Set up the priority vote"), SetUpVote(found.id))]])
    return (t.ngettext(
        "The evaluation of “{problem}” is done. Begin cycle {cycle} with a brainstorm of its"
        " {n} item for what comes next?",
        "The evaluation of “{problem}” is done. Begin cycle {cycle} with a brainstorm of its"
        " {n} items for what comes next?", found.count, problem=isolate(found.problem),
        cycle=found.cycle),
            [[inline(t._("Begin cycle {cycle}", cycle=found.cycle), NextCycle(found.id))]])


def _offer_message(t: Translator, found: flow.Next) -> tuple[str, InlineKeyboardMarkup | None]:
    text, rows = _offer(t, found)
    return t._("<b>Next step</b>") + "\n" + text, keyboard(*rows)


async def send_offers(app: MahfilApp) -> int:
    """Queue every offer not yet sent to the community's coordinators; returns how many."""
    db = app.bot_data.db
    waiting = await flow.unsent(db)
    for out in waiting:
        offered = out.next

        def render(t: Translator, _user: flow.User, offered: flow.Next = offered,
                   ) -> tuple[str, InlineKeyboardMarkup | None]:
            return _offer_message(t, offered)

        await notify(app, out.community, out.coordinators, render,
                     key=f"process-offer:{offered.id}")
        await flow.sent(db, offered.id)
    return len(waiting)


async def _offers_job(context: Context) -> None:
    await send_offers(context.application)


# == /process ===================================================================================


def _summary(t: Translator, found: flow.Summary) -> tuple[str, InlineKeyboardMarkup | None]:
    standing = found.standing
    lines = [t._("<b>Where {community} stands</b> — cycle {cycle}",
                 community=isolate(found.community.name), cycle=standing.cycle)]
    current = standing.current
    if not found.latest:
        lines.append(t._("An earlier cycle, as it ended."))
    elif not standing.begun:
        lines.append(t._("The cycle has not begun yet. It begins with the needs assessment:"
                         " a survey, a brainstorm or a priority vote."))
    elif current is None:
        lines.append(t._("Every step of this cycle is done."))
    else:
        lines.append(t._("Now: step {number} of {total}, {step} ({status}).",
                         number=standing.number(current.key), total=len(standing.steps),
                         step=t._(flow.STEP_LABELS[current.key]),
                         status=t._(STATUS_LABELS[current.status])))
    lines.append("")
    lines += [_step(t, line) for line in found.lines]
    rows: list[list[InlineKeyboardButton]] = []
    if found.latest:
        lines += ["", t._("<b>Open for you now</b>")]
        if not found.mine:
            lines.append(t._("Nothing is waiting for you right now."))
        for item in found.mine:
            text, open_it = _mine(t, item)
            lines.append(text)
            rows.append([open_it])
    if found.next is not None:
        text, offer_rows = _offer(t, found.next)
        lines += ["", t._("<b>Next step</b>"), text]
        rows += offer_rows
    if found.may_manage:
        rows.append([inline(t._("Mark steps by hand, choose the steps"), Manage())])
    others = [n for n in found.cycles if n != standing.cycle]
    if others:
        rows.append([inline(t._("Cycle {cycle}", cycle=n),
                            View(0 if n == found.cycles[-1] else n)) for n in others[-4:]])
    return "\n".join(lines), keyboard(*rows)


async def _say_summary(turn: Said | Tap[View], found: flow.Summary) -> None:
    text, markup = _summary(turn.t, found)
    parts = split_text(text)
    for part in parts[:-1]:
        await turn.say(part)
    await turn.say(parts[-1], markup)


@command("process")
async def process_command(turn: Said) -> None:
    await _say_summary(turn, await flow.summary(turn.context.db, turn.who))


@tap(View)
async def view(turn: Tap[View]) -> None:
    number = turn.button.cycle or None
    found = await flow.summary(turn.context.db, turn.who, number)
    text, markup = _summary(turn.t, found)
    await turn.answer()
    if len(split_text(text)) == 1:
        await turn.edit(text, markup)
    else:
        await _say_summary(turn, found)


async def welcome(turn: Turn[Any], community_id: int, user_id: int) -> None:
    """Someone who just joined a community whose cycle has begun sees where it stands, once
    (onboarding calls this once the privacy notice is accepted)."""
    found = await flow.welcome(turn.context.db, community_id, user_id)
    if found is None:
        return
    t = Translator(turn.t.lang, found.community.timezone)
    text, markup = _summary(t, found)
    parts = split_text(t._("You joined in the middle of the neighbourhood's process. This is"
                           " where it stands; /process shows it again at any time.")
                       + "\n\n" + text)
    for part in parts[:-1]:
        await turn.say(part)
    await turn.say(parts[-1], markup)


# == coordinators: marking steps by hand ========================================================


def _manage(t: Translator, found: flow.Manage) -> tuple[str, InlineKeyboardMarkup | None]:
    lines = [t._("<b>Steps of cycle {cycle}</b>", cycle=found.cycle),
             t._("Steps move on by themselves as things happen. Mark one by hand when it"
                 " happened outside the chat; leave out the steps this community does not"
                 " use (the choice carries into the next cycles)."), ""]
    rows = []
    number = 0
    for key, state in found.steps:
        name = t._(flow.STEP_LABELS[key])
        if state is None:
            lines.append(f"➖ {name} — " + t._("not used"))
            rows.append([inline(f"➕ {short(name, 40)}", StepCard(key))])
            continue
        number += 1
        label = f"{MARKS[state.status]} {t.num(number)}. {name}"
        lines.append(f"{label} — {t._(STATUS_LABELS[state.status])}")
        rows.append([inline(short(label, 48), StepCard(key))])
    if found.last is not None:
        rows.append([inline(t._("↶ Undo: {step}, {status}", step=short(t._(
            flow.STEP_LABELS[found.last.step]), 30), status=t._(
            STATUS_LABELS[found.last.status])), Undo(found.last.id))])
    rows.append([inline(t._("Back"), View(0))])
    return "\n".join(lines), keyboard(*rows)


@tap(Manage)
async def manage(turn: Tap[Manage]) -> None:
    found = await flow.manage(turn.context.db, turn.who)
    await turn.answer()
    await turn.edit(*_manage(turn.t, found))


def _card(t: Translator, found: flow.Manage, key: StepKey,
          ) -> tuple[str, InlineKeyboardMarkup | None]:
    state = dict(found.steps)[key]
    name = t._(flow.STEP_LABELS[key])
    if state is None:
        return (t._("<b>{step}</b> is not used in this cycle.", step=name),
                keyboard([inline(t._("Use this step"), UseStep(key, True))],
                         [inline(t._("Back"), Manage())]))
    rows = [[inline(t._(MARK_LABELS[status]), MarkStep(key, status))]
            for status in flow.STATUSES if status != state.status]
    if state.status == "not_started":
        rows.append([inline(t._("Leave this step out"), UseStep(key, False))])
    rows.append([inline(t._("Back"), Manage())])
    return t._("<b>{step}</b>: {status}.", step=name,
               status=t._(STATUS_LABELS[state.status])), keyboard(*rows)


@tap(StepCard)
async def step_card(turn: Tap[StepCard]) -> None:
    found = await flow.manage(turn.context.db, turn.who)
    await turn.answer()
    await turn.edit(*_card(turn.t, found, turn.button.step))


@tap(MarkStep)
async def mark_step(turn: Tap[MarkStep]) -> None:
    button = turn.button
    found = await flow.mark(turn.context.db, turn.who, button.step, button.status)
    await turn.answer(turn.t._("Marked: {step}, {status}.",
                               step=turn.t._(flow.STEP_LABELS[button.step]),
                               status=turn.t._(STATUS_LABELS[button.status])))
    await turn.edit(*_manage(turn.t, found))


@tap(UseStep)
async def use_step(turn: Tap[UseStep]) -> None:
    found = await flow.use(turn.context.db, turn.who, turn.button.step, turn.button.used)
    await turn.answer()
    await turn.edit(*_manage(turn.t, found))


@tap(Undo)
async def undo(turn: Tap[Undo]) -> None:
    found = await flow.undo(turn.context.db, turn.who, turn.button.mark)
    await turn.answer(turn.t._("Undone."))
    await turn.edit(*_manage(turn.t, found))


# == taking the next step =======================================================================


@tap(StartPlan)
async def start_plan(turn: Tap[StartPlan]) -> None:
    """The plan for the vote's winner: created on the first tap, shown on every tap."""
    db, who = turn.context.db, turn.who

    async def create(problem: str) -> int:
        return (await plan_flow.new_plan(db, who, problem)).id

    plan_id = await flow.plan_for(db, who, turn.button.offer, create)
    await turn.answer()
    await turn.say(*plan_handlers.plan_view(who, await plan_flow.overview(db, who, plan_id)))


@tap(PickProblem)
async def pick_problem(turn: Tap[PickProblem]) -> None:
    chosen = await flow.choose(turn.context.db, turn.who, turn.button.offer, turn.button.index)
    await turn.answer()
    await turn.edit(*_offer_message(turn.t, chosen))


@tap(SetUpVote)
async def set_up_vote(turn: Tap[SetUpVote]) -> None:
    """The vote's set-up, begun with the brainstorm's question and shortlist."""
    setup = await flow.vote_setup(turn.context.db, turn.who, turn.button.offer)
    values: dict[str, object] = {"problems": setup.problems}
    if setup.title is not None:
        values["title"] = setup.title
    await turn.answer()
    await voting_handlers.SETUP.begin(turn, values=values, community=turn.who.community.id)


@tap(NextCycle)
async def next_cycle(turn: Tap[NextCycle]) -> None:
    """A new cycle whose step 1 is a brainstorm of the evaluation's "what next"."""
    db, who, t = turn.context.db, turn.who, turn.t

    async def seed(plan_id: int) -> int:
        return await plan_flow.seed_brainstorm(db, who, plan_id, lambda plan: t._(
            "What next, after “{problem}”?", problem=short(plan.problem, 200)))

    begun = await flow.next_cycle(db, who, turn.button.offer, seed)
    await turn.answer()
    await turn.edit_markup(None)
    await turn.say(t.ngettext(
        "Cycle {cycle} has begun: a brainstorm is open with {n} problem from the evaluation."
        " Members are being told; /curate to review it.",
        "Cycle {cycle} has begun: a brainstorm is open with {n} problems from the evaluation."
        " Members are being told; /curate to review it.", begun.cards, cycle=begun.number))
    if begun.round is None:
        return
    round_id = begun.round

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup | None]:
        return "\n".join([
            t._("Cycle {cycle} of our process begins in {community}: a brainstorm on"
                " <b>{prompt}</b>, starting from what the last evaluation said comes next.",
                cycle=begun.number, community=isolate(who.community.name),
                prompt=isolate(begun.prompt)),
            t._("Add the problems you see, and say “me too” to those others raised."),
        ]), keyboard([inline(t._("Add a problem"), brainstorm_handlers.Add(round_id)),
                      inline(t._("Browse"), brainstorm_handlers.Browse(round_id))])

    await notify(turn.app, who.community, begun.members, render,
                 key=f"brainstorm-open:{round_id}")


# == wiring =====================================================================================


async def on_startup(app: MahfilApp) -> None:
    """Offers made while the bot was down (or not yet queued at a stop) go out now; from
    then on, each one goes as soon as the flow makes it."""
    db = app.bot_data.db

    def wake() -> None:
        at(app, "process-offers", datetime.now(UTC), _offers_job, 0)

    flow.on_offer(db, wake)
    wake()


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (
        process_command, view, manage, step_card, mark_step, use_step, undo, start_plan,
        pick_problem, set_up_vote, next_cycle)])
