"""Committee digests: /digest (coordinators) sets them up; a job sends them when due.

Each committee or working group may get a digest daily or weekly at a local hour, in its
linked group chat or in each member's private chat. The job looks every minute (and at
start, which is the catch-up after downtime); a period is handled once, so nothing is sent
twice, and a period without news sends nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from telegram import InlineKeyboardMarkup

from bot.app import Context, MahfilApp
from bot.callbacks import Button, Id, Range, button
from bot.commands import Command
from bot.delivery import courier
from bot.flows import digest as flow
from bot.flows import process
from bot.flows.digest import Change, Committee, Due, Setting, User
from bot.handlers._common import Said, Tap, command, notify, tap
from bot.i18n import N_, Translator, isolate
from bot.keyboards import inline, keyboard
from bot.labels import group_label
from bot.messages import split_text

COMMANDS = [Command("digest", N_("Regular digests for committees"), "coordinator")]
TICK = 60.0  # seconds between looks at what is due
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
            N_("Saturday"), N_("Sunday"))


# -- buttons: each carries the committee and the value it sets --------------------------------


@button("digest", "frequency", role="coordinator")
class Frequency(Button):
    committee: Id
    frequency: Literal["daily", "weekly", "off"]


@button("digest", "hour", role="coordinator")
class Hour(Button):
    committee: Id
    hour: Annotated[int, Range(0, 23)]


@button("digest", "weekday", role="coordinator")
class Weekday(Button):
    committee: Id
    weekday: Annotated[int, Range(0, 6)]


@button("digest", "where", role="coordinator")
class Where(Button):
    """To the linked group chat (True) or to each member's private chat (False)."""

    committee: Id
    to_chat: bool


# -- set-up ----------------------------------------------------------------------------------


def _card(t: Translator, setting: Setting) -> tuple[str, InlineKeyboardMarkup | None]:
    committee, digest = setting.committee, setting.digest
    cid = committee.id
    lines = [t._("Digest for <b>{name}</b>", name=isolate(committee.name))]
    if digest is None:
        lines.append(t._("Off."))
    else:
        at = t.clock(digest.hour)
        when = (t._("daily at {time}", time=at) if digest.frequency == "daily"
                else t._("every {day} at {time}", day=t._(WEEKDAYS[digest.weekday]), time=at))
        where = (t._("to the linked group chat") if setting.to_group_chat
                 else t._("to each member's private chat"))
        lines.append(t._("On: {when}, {where}.", when=when, where=where))
    rows = [[inline(t._("Daily"), Frequency(cid, "daily")),
             inline(t._("Weekly"), Frequency(cid, "weekly")),
             inline(t._("Off"), Frequency(cid, "off"))]]
    if digest is not None:
        earlier, later = (digest.hour - 1) % 24, (digest.hour + 1) % 24
        rows.append([inline(f"‹ {t.clock(earlier)}", Hour(cid, earlier)),
                     inline(f"{t.clock(later)} ›", Hour(cid, later))])
        if digest.frequency == "weekly":
            rows.append([inline(t._("Another day"), Weekday(cid, (digest.weekday + 1) % 7))])
        if committee.chat_id:
            rows.append([inline(t._("Send to each member instead"), Where(cid, False))
                         if digest.to_chat else
                         inline(t._("Send to the group chat instead"), Where(cid, True))])
    return "\n".join(lines), keyboard(*rows)


@command("digest", role="coordinator")
async def digest_command(turn: Said) -> None:
    found = await flow.settings(turn.context.db, turn.who)
    if not found:
        await turn.say(turn.t._("There is no committee yet."))
        return
    for setting in found:
        await turn.say(*_card(turn.t, setting))


@tap(Frequency)
async def frequency_tap(turn: Tap[Frequency]) -> None:
    db, who, chosen = turn.context.db, turn.who, turn.button
    if chosen.frequency == "off":
        setting = await flow.turn_off(db, who, chosen.committee)
    else:
        setting = await flow.set_frequency(db, who, chosen.committee, chosen.frequency)
    await turn.edit(*_card(turn.t, setting))


@tap(Hour)
async def hour_tap(turn: Tap[Hour]) -> None:
    setting = await flow.set_hour(turn.context.db, turn.who, turn.button.committee,
                                  turn.button.hour)
    await turn.edit(*_card(turn.t, setting))


@tap(Weekday)
async def weekday_tap(turn: Tap[Weekday]) -> None:
    setting = await flow.set_weekday(turn.context.db, turn.who, turn.button.committee,
                                     turn.button.weekday)
    await turn.edit(*_card(turn.t, setting))


@tap(Where)
async def where_tap(turn: Tap[Where]) -> None:
    setting = await flow.set_destination(turn.context.db, turn.who, turn.button.committee,
                                         turn.button.to_chat)
    await turn.edit(*_card(turn.t, setting))


# -- sending ---------------------------------------------------------------------------------


TASK_STATUS = {"planned": N_("planned"), "in_progress": N_("in progress"),
               "blocked": N_("blocked"), "done": N_("done")}


def _line(t: Translator, change: Change) -> str:
    name = isolate(change.name)
    if change.kind == "vote_opened":
        return t._("New priority vote: {title}", title=name)
    if change.kind == "vote_standing":
        return t.ngettext("Vote {title}: {n} resident has voted; ahead: {leader}",
                          "Vote {title}: {n} residents have voted; ahead: {leader}",
                          change.count, title=name, leader=isolate(change.detail or ""))
    if change.kind == "vote_closed":
        return t._("Vote closed: {title}", title=name)
    if change.kind == "election_closed":
        return t._("Election closed: {name}", name=name)
    if change.kind == "member_joined":
        return t._("Joined the group: {name}", name=name)
    if change.kind == "member_left":
        return t._("Left the group: {name}", name=name)
    if change.kind == "new_problems":
        return t.ngettext("{n} new problem in the brainstorm {prompt}",
                          "{n} new problems in the brainstorm {prompt}", change.count,
                          prompt=name)
    if change.kind == "tree_proposals":
        return t.ngettext("{n} proposal for the problem tree of {problem} waits for review",
                          "{n} proposals for the problem tree of {problem} wait for review",
                          change.count, problem=name)
    if change.kind == "task_changed":
        return t._("Task {title}: {status}, {percent}", title=name,
                   status=t._(TASK_STATUS.get(change.detail or "", change.detail or "")),
                   percent=t.percent(change.count / 100))
    if change.kind == "indicator_reading":
        return t._("Indicator {name}: {value}", name=name, value=isolate(change.detail or ""))
    if change.kind == "task_overdue":
        return t._("Overdue since {day}: {title}", title=name,
                   day=t.date(date.fromisoformat(change.detail or "2000-01-01")))
    return t.ngettext("{n} new member from {group}", "{n} new members from {group}",
                      change.count, group=group_label(t, change.name or None))


def render(t: Translator, committee: Committee, changes: list[Change],
           standing: process.Standing | None = None) -> str:
    lines = [t._("<b>Digest for {name}</b>", name=isolate(committee.name)), ""]
    step = process.step_line(t, standing) if standing is not None else None
    lines += [step, ""] if step else []
    lines += [f"• {_line(t, change)}" for change in changes]
    return "\n".join(lines)


async def send_due(app: MahfilApp) -> int:
    """Send every digest whose period has come; returns how many were queued."""
    db = app.bot_data.db
    queued = 0
    for due in await flow.due_now(db):
        await _deliver(app, due)
        await flow.sent(db, due)
        queued += 1
    return queued


async def _deliver(app: MahfilApp, due: Due) -> None:
    community, committee = due.community, due.committee
    if due.to_group_chat:
        t = Translator(community.default_language, community.timezone)
        await flow.queue_to_chat(app.bot_data.db, due,
                                 split_text(render(t, committee, due.changes, due.standing)))
        courier(app).wake()
        return

    def text(t: Translator, _user: User) -> tuple[str, InlineKeyboardMarkup | None]:
        return render(t, committee, due.changes, due.standing), None

    await notify(app, community, await flow.members(app.bot_data.db, due), text, key=due.key)


async def _tick(context: Context) -> None:
    await send_due(context.application)


async def on_startup(app: MahfilApp) -> None:
    """Look at once (the catch-up after downtime), then every minute."""
    if app.job_queue is not None:
        app.job_queue.run_repeating(_tick, interval=TICK, first=timedelta(seconds=1),
                                    name="digests")


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (digest_command, frequency_tap, hour_tap,
                                          weekday_tap, where_tap)])
