"""Committee digests: /digest (coordinators) sets them up; a job sends them when due.

Each committee or working group may get a digest daily or weekly at a local hour, in its
linked group chat or in each member's private chat. The job looks every minute (and at
start, which is the catch-up after downtime); a period is handled once, so nothing is sent
twice, and a period without news sends nothing.
"""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.actor import Actor
from bot.app import Context
from bot.commands import Command
from bot.delivery import courier
from bot.flows import digest as flow
from bot.flows.broadcast import quiet_until
from bot.flows.errors import Refused
from bot.handlers._common import callback_parts, coordinator, notify, refusals, say
from bot.i18n import N_, Translator, isolate
from bot.labels import group_label
from bot.messages import split_text
from storage import broadcast as outbox
from storage import committee as committee_store
from storage import community as community_store
from storage import digest as store
from storage.broadcast import Message
from storage.committee import Committee
from storage.community import Community, User
from storage.db import utcnow
from storage.digest import Change, Digest

COMMANDS = [Command("digest", N_("Regular digests for committees"), "coordinator")]
TICK = 60.0  # seconds between looks at what is due
NOT_AVAILABLE = N_("This committee is not available to you.")
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
            N_("Saturday"), N_("Sunday"))



# -- set-up --------------------------------------------------------------------------------


async def _card(who: Actor, context: Context,
                committee: Committee) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    digest = await store.get(context.db, committee.id)
    cid = committee.id
    lines = [t._("Digest for <b>{name}</b>", name=isolate(committee.name))]
    if digest is None:
        lines.append(t._("Off."))
    else:
        when = (t._("daily at {hour}:00", hour=digest.hour) if digest.frequency == "daily"
                else t._("every {day} at {hour}:00", day=t._(WEEKDAYS[digest.weekday]),
                         hour=digest.hour))
        where = (t._("to the linked group chat") if digest.to_chat and committee.chat_id
                 else t._("to each member's private chat"))
        lines.append(t._("On: {when}, {where}.", when=when, where=where))
    rows = [[InlineKeyboardButton(t._("Daily"), callback_data=f"dg:f:{cid}:daily"),
             InlineKeyboardButton(t._("Weekly"), callback_data=f"dg:f:{cid}:weekly"),
             InlineKeyboardButton(t._("Off"), callback_data=f"dg:f:{cid}:off")]]
    if digest is not None:
        rows.append([InlineKeyboardButton("−1h", callback_data=f"dg:h:{cid}:-1"),
                     InlineKeyboardButton("+1h", callback_data=f"dg:h:{cid}:1")])
        if digest.frequency == "weekly":
            rows.append([InlineKeyboardButton(t._("Another day"),
                                              callback_data=f"dg:d:{cid}")])
        if committee.chat_id:
            rows.append([InlineKeyboardButton(
                t._("Send to each member instead") if digest.to_chat else
                t._("Send to the group chat instead"), callback_data=f"dg:t:{cid}")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@refusals
async def digest_command(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert who.community is not None
    found = await committee_store.committees(context.db, who.community.id)
    if not found:
        await say(update, who.t._("There is no committee yet."))
        return
    for committee in found:
        text, markup = await _card(who, context, committee)
        await say(update, text, reply_markup=markup)


@refusals
async def setting_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert who.community is not None
    parts = callback_parts(update)
    if len(parts) < 3 or not parts[2].isdigit():
        raise Refused(NOT_AVAILABLE)
    committee = await committee_store.get_committee(context.db, int(parts[2]))
    if committee is None or committee.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    digest = await store.get(context.db, committee.id)
    frequency = digest.frequency if digest else "daily"
    hour, weekday = (digest.hour, digest.weekday) if digest else (18, 0)
    to_chat = digest.to_chat if digest else True
    action, value = parts[1], parts[3] if len(parts) > 3 else ""
    if action == "f" and value == "off":
        await store.remove(context.db, committee.id)
    else:
        if action == "f" and value in flow.FREQUENCIES:
            frequency = value
        elif action == "h" and value in ("-1", "1") and digest:
            hour = (hour + int(value)) % 24
        elif action == "d" and digest:
            weekday = (weekday + 1) % 7
        elif action == "t" and digest:
            to_chat = not to_chat
        else:
            raise Refused(NOT_AVAILABLE)
        now = utcnow()
        period, _at = flow.current_period(frequency, hour, weekday, now,
                                          who.community.timezone)
        await store.configure(context.db, committee.id, frequency=frequency, hour=hour,
                              weekday=weekday, to_chat=to_chat, since=now, period=period)
    assert update.callback_query is not None
    await update.callback_query.answer()
    text, markup = await _card(who, context, committee)
    with contextlib.suppress(BadRequest):
        await update.callback_query.edit_message_text(text, reply_markup=markup)


# -- sending -------------------------------------------------------------------------------


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


def render(t: Translator, committee: Committee, changes: list[Change]) -> str:
    lines = [t._("<b>Digest for {name}</b>", name=isolate(committee.name)), ""]
    lines += [f"• {_line(t, change)}" for change in changes]
    return "\n".join(lines)


async def send_due(app: Application) -> int:  # type: ignore[type-arg]
    """Send every digest whose period has come; returns how many were queued."""
    db = app.bot_data.db
    now = utcnow()
    sent = 0
    for digest in await store.all_digests(db):
        committee = await committee_store.get_committee(db, digest.committee_id)
        community = await community_store.get_community(db, committee.community_id) \
            if committee else None
        if committee is None or community is None:
            continue
        period = flow.due(digest, now, community.timezone)
        if period is None:
            continue
        today = now.astimezone(ZoneInfo(community.timezone)).date()
        changes = await store.changes(db, community.id, committee.id, digest.since, today)
        if not flow.worth_sending(changes):
            await store.handled(db, committee.id, period, sent_at=None)
            continue
        # Queued first, then marked: a crash in between queues it again at the next look,
        # and the outbox's keys turn that into nothing.
        await _deliver(app, community, committee, digest, period, changes)
        await store.handled(db, committee.id, period, sent_at=now)
        sent += 1
    return sent


async def _deliver(app: Application, community: Community, committee: Committee,  # type: ignore[type-arg]
                   digest: Digest, period: str, changes: list[Change]) -> None:
    key = f"digest:{committee.id}:{period}"
    if digest.to_chat and committee.chat_id:
        t = Translator(community.default_language, community.timezone)
        hold = quiet_until(utcnow(), community)
        await outbox.enqueue(app.bot_data.db, [
            Message(chat_id=committee.chat_id, text=part, due_at=hold,
                    dedupe=f"{key}:chat:{index}")
            for index, part in enumerate(split_text(render(t, committee, changes)))])
        courier(app).wake()
        return
    members = [u for _m, u in await committee_store.committee_members(app.bot_data.db,
                                                                      committee.id)]

    def text(t: Translator, _user: User) -> tuple[str, Any]:
        return render(t, committee, changes), None

    await notify(app, community, members, text, key=key)


async def _tick(context: Context) -> None:
    await send_due(context.application)


async def on_startup(app: Application) -> None:  # type: ignore[type-arg]
    """Look at once (the catch-up after downtime), then every minute."""
    if app.job_queue is not None:
        app.job_queue.run_repeating(_tick, interval=TICK, first=timedelta(seconds=1),
                                    name="digests")


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("digest", digest_command, filters=filters.ChatType.PRIVATE))
    app.add_handler(CallbackQueryHandler(setting_tap, pattern=r"^dg:"))
