"""Committee in chat: /election (coordinators), /nominate, /ballot, /committee, /link.

Step 2 of the methodology: members nominate candidates (themselves or others), nominees
accept with their stakeholder group and a statement, members vote by secret ballot, and
seats are allocated so every required group is represented. Every button is re-checked on
the server (community, role, the election's step) before anything changes.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.actor import Actor, actor
from bot.app import Context
from bot.commands import Command
from bot.flows import committee as flow
from bot.flows.community import search_members
from bot.flows.errors import Refused
from bot.handlers._common import (
    callback_ints,
    callback_parts,
    coordinator,
    deliver,
    edit_message,
    member,
    notify,
    refusals,
    refuse,
    say,
    short,
)
from bot.i18n import N_, Translator, isolate
from bot.labels import group_label
from bot.messages import split_text
from storage import committee as store
from storage import community as community_store
from storage.committee import Committee, Election
from storage.community import User
from storage.db import utcnow

COMMANDS = [
    Command("nominate", N_("Nominate a candidate for the committee"), "resident"),
    Command("ballot", N_("Vote in the committee election"), "resident"),
    Command("committee", N_("The committee and its working groups"), "resident"),
    Command("election", N_("Set up and run a committee election"), "coordinator"),
]
GROUP_COMMANDS = ["link"]

SEARCH, GROUP, STATEMENT, REASON, NAME = range(5)
INPUT = "committee_input"  # user_data key: what the typed text is for
PAGE = 6

NOT_AVAILABLE = flow.NOT_AVAILABLE
TOO_MANY = N_("You have chosen as many candidates as allowed ({n}). Untick one first.")


# -- helpers -------------------------------------------------------------------------------


def _ints(parts: list[str]) -> list[int]:
    return callback_ints(parts, NOT_AVAILABLE)




async def _election(who: Actor, context: Context, election_id: int,
                    status: str | None = None, refusal: str = NOT_AVAILABLE) -> Election:
    """The election a button names, if it is in this person's community (and step)."""
    election = await store.get_election(context.db, election_id)
    if election is None or who.community is None or election.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    if status is not None and election.status != status:
        raise Refused(refusal)
    return election


async def _committee(who: Actor, context: Context, committee_id: int) -> Committee:
    committee = await store.get_committee(context.db, committee_id)
    if committee is None or who.community is None or (
        committee.community_id != who.community.id
    ):
        raise Refused(NOT_AVAILABLE)
    return committee



def _translator(user: Any, community: Any) -> Translator:
    return Translator(user.language, community.timezone)


async def _current(context: Context, who: Actor, status: str) -> Election | None:
    assert who.community is not None
    found = await store.elections(context.db, who.community.id, status)
    return found[0] if found else None


def _input(context: Context) -> dict[str, Any]:
    return context.user_data.setdefault(INPUT, {})  # type: ignore[union-attr, no-any-return]


def _seat_reason(t: Translator, seat: str | None) -> str:
    if seat and seat.startswith("quota:"):
        return t._("seat for {group}", group=group_label(t, seat.split(":", 1)[1]))
    if seat == "general":
        return t._("seat by votes")
    return ""


# -- coordinator: set-up and steps -----------------------------------------------------------


async def _settings_card(t: Translator, context: Context,
                         election: Election) -> tuple[str, InlineKeyboardMarkup]:
    quotas = await store.quotas(context.db, election.id)
    eid = election.id
    lines = [
        t._("Committee election: <b>{name}</b>", name=isolate(election.name)),
        t._("Seats: {n}", n=election.seats),
        t.ngettext("Each voter approves up to {n} candidate.",
                   "Each voter approves up to {n} candidates.", election.approvals),
        t.ngettext("Nominations stay open {n} day.", "Nominations stay open {n} days.",
                   election.nomination_days),
        t.ngettext("Voting stays open {n} day.", "Voting stays open {n} days.",
                   election.voting_days),
        "",
        t._("Minimum seats per stakeholder group:"),
    ]
    lines += [f"• {group_label(t, g)}: {t.num(m)}" for g, m in quotas.items()]
    lines += ["", t._("Adjust with − and +, then open nominations.")]

    def stepper(label: str, field: str) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton("−", callback_data=f"cm:s:{eid}:{field}:-1"),
                InlineKeyboardButton(label, callback_data="cm:noop"),
                InlineKeyboardButton("+", callback_data=f"cm:s:{eid}:{field}:1")]

    rows = [
        stepper(t._("Seats: {n}", n=election.seats), "seats"),
        stepper(t._("Approvals: {n}", n=election.approvals), "approvals"),
        stepper(t._("Nomination days: {n}", n=election.nomination_days), "nomination_days"),
        stepper(t._("Voting days: {n}", n=election.voting_days), "voting_days"),
    ]
    rows += [stepper(f"{group_label(t, g, html=False)}: {t.num(m)}", g)
             for g, m in quotas.items()]
    rows.append([InlineKeyboardButton(t._("Open nominations"), callback_data=f"cm:go:{eid}"),
                 InlineKeyboardButton(t._("Discard"), callback_data=f"cm:del:{eid}")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _status_card(t: Translator, context: Context,
                       election: Election) -> tuple[str, InlineKeyboardMarkup | None]:
    if election.status == "draft":
        return await _settings_card(t, context, election)
    eid = election.id
    quotas = await store.quotas(context.db, eid)
    everyone = await store.nominations(context.db, eid)
    lines = [t._("Committee election: <b>{name}</b>", name=isolate(election.name))]
    rows: list[list[InlineKeyboardButton]] = []
    if election.status == "nominating":
        assert election.nominations_close_at is not None
        lines.append(t._("Nominations are open until {when}.",
                         when=t.datetime(election.nominations_close_at)))
        lines += ["", t._("Candidates per stakeholder group (accepted / minimum):")]
        lacking = []
        groups = list(quotas) + sorted({n.stakeholder_group for n, _u in everyone
                                        if n.stakeholder_group and
                                        n.stakeholder_group not in quotas})
        for group in groups:
            accepted = sum(n.status == "accepted" and n.stakeholder_group == group
                           for n, _u in everyone)
            minimum = quotas.get(group, 0)
            lines.append(f"• {group_label(t, group)}: {t.num(accepted)} / {t.num(minimum)}")
            if accepted < minimum:
                lacking.append(group_label(t, group))
        pending = sum(n.status == "pending" for n, _u in everyone)
        lines.append(t.ngettext("{n} nomination is waiting for an answer.",
                                "{n} nominations are waiting for an answer.", pending))
        if lacking:
            lines += ["", t._("Still lacking candidates: {groups}", groups="، ".join(lacking)
                              if t.lang == "fa" else ", ".join(lacking))]
        rows = [[InlineKeyboardButton(t._("Remind members to nominate"),
                                      callback_data=f"cm:rem:{eid}")],
                [InlineKeyboardButton(t._("Close nominations and open voting"),
                                      callback_data=f"cm:vote:{eid}")]]
    elif election.status == "voting":
        assert election.voting_close_at is not None and t is not None
        members = await community_store.members(context.db, election.community_id)
        voted = await store.voters(context.db, eid)
        lines += [
            t._("Voting is open until {when}.", when=t.datetime(election.voting_close_at)),
            t.ngettext("{voted} of {n} member has voted.", "{voted} of {n} members have voted.",
                       len(members), voted=len(voted)),
        ]
        rows = [[InlineKeyboardButton(t._("Close voting and count"),
                                      callback_data=f"cm:count:{eid}")]]
    else:
        lines.append(t._("This election has closed. /committee shows the committee."))
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None


@refusals
async def election_command(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert who.community is not None
    name = " ".join(context.args or [])
    if not name:
        running = await store.elections(context.db, who.community.id, "draft", "nominating",
                                        "voting")
        if not running:
            await say(update, who.t._(
                "Start a committee election with its name, e.g. /election Neighbourhood"
                " committee"))
            return
        text, markup = await _status_card(who.t, context, running[0])
        await say(update, text, reply_markup=markup)
        return
    election = await flow.create(context.db, who.community.id, name, who.user.id)
    text, markup = await _settings_card(who.t, context, election)
    await say(update, text, reply_markup=markup)


@refusals
async def setting_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    parts = callback_parts(update)
    (eid,) = _ints(parts[2:3])
    field = parts[3] if len(parts) == 5 else ""
    (delta,) = _ints(parts[4:5]) if len(parts) == 5 else (0,)
    if delta not in (-1, 1):
        raise Refused(NOT_AVAILABLE)
    election = await _election(who, context, eid)
    await flow.change(context.db, election, field, delta)
    assert update.callback_query is not None
    await update.callback_query.answer()
    changed = await store.get_election(context.db, eid)
    assert changed is not None
    text, markup = await _settings_card(who.t, context, changed)
    await edit_message(update, text, markup)


@refusals
async def discard_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (eid,) = _ints(callback_parts(update)[2:3])
    election = await _election(who, context, eid, "draft",
                               N_("This election has already started."))
    await store.discard_draft(context.db, election.id)
    assert update.callback_query is not None
    await update.callback_query.answer()
    await edit_message(update, who.t._("Discarded. Nothing was announced."), None)


@refusals
async def open_nominations_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (eid,) = _ints(callback_parts(update)[2:3])
    election = await flow.open_nominations(context.db, await _election(who, context, eid))
    assert update.callback_query is not None
    await update.callback_query.answer()
    _schedule(context.application, election)
    text, markup = await _status_card(who.t, context, election)
    await edit_message(update, text, markup)
    await _announce(context.application, election, "nominating")


@refusals
async def remind_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (eid,) = _ints(callback_parts(update)[2:3])
    election = await _election(who, context, eid, "nominating", flow.NOT_NOMINATING)
    assert update.callback_query is not None
    members = await community_store.members(context.db, election.community_id)
    await update.callback_query.answer(who.t.ngettext(
        "Reminding {n} member…", "Reminding {n} members…", len(members)), show_alert=True)
    await _announce(context.application, election, "remind")


@refusals
async def open_voting_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (eid,) = _ints(callback_parts(update)[2:3])
    election = await _election(who, context, eid, "nominating", flow.NOT_NOMINATING)
    if not await store.nominations(context.db, eid, "accepted"):
        raise Refused(N_("No candidate has accepted yet; voting needs at least one."))
    assert update.callback_query is not None
    await update.callback_query.answer()
    opened = await _open_voting(context, election)
    if opened is not None:
        text, markup = await _status_card(who.t, context, opened)
        await edit_message(update, text, markup)


@refusals
async def count_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (eid,) = _ints(callback_parts(update)[2:3])
    election = await _election(who, context, eid, "voting", flow.NOT_VOTING)
    assert update.callback_query is not None
    await update.callback_query.answer()
    await edit_message(update, who.t._("Counting…"), None)
    await close_and_publish(context, election.id)


# -- steps, announcements and scheduling -----------------------------------------------------


async def _announce(app: Application, election: Election, what: str) -> None:  # type: ignore[type-arg]
    """Tell members about a step, through the outbox (paced, never lost, never twice)."""
    db = app.bot_data.db
    community = await community_store.get_community(db, election.community_id)
    assert community is not None
    people = [u for _m, u in await community_store.members(db, community.id)]
    if what == "reminder":
        done = await store.voters(db, election.id)
        people = [u for u in people if u.id not in done]

    def render(t: Translator, _user: object) -> tuple[str, InlineKeyboardMarkup]:
        if what in ("nominating", "remind"):
            assert election.nominations_close_at is not None
            text = "\n".join([
                t._("Nominations are open for the committee <b>{name}</b> until {when}.",
                    name=isolate(election.name), when=t.datetime(election.nominations_close_at)),
                t._("Anyone may nominate themselves or another member. The committee must"
                    " include every stakeholder group, so think of people from each."),
            ])
            button = InlineKeyboardButton(t._("Nominate"), callback_data=f"cm:nom:{election.id}")
        else:
            assert election.voting_close_at is not None
            first = (t._("Reminder: voting for the committee <b>{name}</b> closes {when}, and"
                         " you have not voted yet.", name=isolate(election.name),
                         when=t.datetime(election.voting_close_at)) if what == "reminder" else
                     t._("Voting is open for the committee <b>{name}</b> until {when}.",
                         name=isolate(election.name), when=t.datetime(election.voting_close_at)))
            text = "\n".join([first, t._("Your ballot is secret: nobody can see whom you chose.")])
            button = InlineKeyboardButton(t._("Vote"), callback_data=f"cm:bp:{election.id}:0")
        return text, InlineKeyboardMarkup([[button]])

    # A coordinator's reminder may be repeated later, but not by a double tap.
    key = f"election-{what}:{election.id}"
    if what == "remind":
        key += ":" + utcnow().isoformat(timespec="minutes")
    await notify(app, community, people, render, key=key)


def _schedule(app: Application, election: Election) -> None:  # type: ignore[type-arg]
    """One job per election for its next step's deadline (rebuilt at start)."""
    if app.job_queue is None:
        return
    name = f"election-{election.id}"
    for job in (*app.job_queue.get_jobs_by_name(name),
                *app.job_queue.get_jobs_by_name(f"{name}-reminder")):
        job.schedule_removal()
    when = (election.nominations_close_at if election.status == "nominating"
            else election.voting_close_at if election.status == "voting" else None)
    if when is None:
        return
    soon = utcnow() + timedelta(seconds=0.1)
    app.job_queue.run_once(_deadline_job, when=max(when, soon), data=election.id, name=name)
    if (election.status == "voting" and election.nominations_close_at is not None
            and when > utcnow()):
        # Those who have not voted hear again a day before the end (half-way if shorter).
        opened = election.nominations_close_at  # voting opened when nominations closed
        remind = when - min(timedelta(days=1), (when - opened) / 2)
        app.job_queue.run_once(_reminder_job, when=max(remind, soon), data=election.id,
                               name=f"{name}-reminder")


async def _reminder_job(context: Context) -> None:
    assert context.job is not None and isinstance(context.job.data, int)
    election = await store.get_election(context.db, context.job.data)
    if (election is not None and election.status == "voting"
            and election.voting_close_at is not None and election.voting_close_at > utcnow()):
        await _announce(context.application, election, "reminder")


async def _deadline_job(context: Context) -> None:
    assert context.job is not None and isinstance(context.job.data, int)
    election = await store.get_election(context.db, context.job.data)
    if election is None:
        return
    if election.status == "nominating":
        if await store.nominations(context.db, election.id, "accepted"):
            await _open_voting(context, election)
        else:
            await _tell_coordinators(context, election, N_(
                "Nominations for <b>{name}</b> have ended without any accepted candidate."
                " Voting did not open; remind members with /election or start again."))
    elif election.status == "voting":
        await close_and_publish(context, election.id)


async def _tell_coordinators(context: Context, election: Election, message: str) -> None:
    community = await community_store.get_community(context.db, election.community_id)
    assert community is not None
    for _m, user in await community_store.members(context.db, community.id,
                                                  roles=("coordinator",)):
        t = _translator(user, community)
        await deliver(context, user.id, t._(message, name=isolate(election.name)))


async def _open_voting(context: Context, election: Election) -> Election | None:
    opened = await flow.open_voting(context.db, election)
    if opened is not None:
        _schedule(context.application, opened)
        await _announce(context.application, opened, "voting")
    return opened


async def close_and_publish(context: Context, election_id: int) -> None:
    """Count once; every member receives the result in their language."""
    election = await store.get_election(context.db, election_id)
    if election is None:
        return
    closed = await flow.close(context.db, election)
    if closed is None:
        return
    election, allocation = closed
    community = await community_store.get_community(context.db, election.community_id)
    assert community is not None
    members = await community_store.members(context.db, community.id)
    voted = len(await store.voters(context.db, election.id))
    votes = await store.tally(context.db, election.id)
    candidates = await flow.candidates(context.db, election.id)
    seats = {s.candidate.id: s for s in allocation.seats}
    elected_users = set()
    names = {n.id: u.display_name for n, u in candidates}
    for nomination, _user in candidates:
        if nomination.id in seats:
            elected_users.add(nomination.nominee_id)
    ranked = sorted(candidates, key=lambda p: (-votes.get(p[0].id, 0), p[0].id))

    def render(t: Translator, user: User) -> tuple[str, None]:
        lines = [
            t._("Election results: <b>{name}</b>", name=isolate(election.name)),
            t.ngettext("{voted} of {n} member voted.", "{voted} of {n} members voted.",
                       len(members), voted=voted),
            "",
        ]
        for nomination, candidate in ranked:
            seat = seats.get(nomination.id)
            mark = "✅ " if seat else "• "
            why = ""
            if seat is not None:
                why = " — " + (t._("seat for {group}", group=group_label(t, seat.group))
                               if seat.reason == "quota" else t._("seat by votes"))
            lines.append(mark + t._("{name} ({group}): {votes}",
                                    name=isolate(candidate.display_name),
                                    group=group_label(t, nomination.stakeholder_group),
                                    votes=t.ngettext("{n} vote", "{n} votes",
                                                     votes.get(nomination.id, 0))) + why)
        for group, missing in allocation.shortfalls.items():
            lines.append("")
            lines.append(t.ngettext(
                "{group} had too few candidates: {n} seat went to the general pool.",
                "{group} had too few candidates: {n} seats went to the general pool.",
                missing, group=group_label(t, group)))
        for tie in allocation.ties:
            lines.append("")
            lines.append(t._("Tie at {votes}: {won} ahead of {lost}.",
                             votes=t.ngettext("{n} vote", "{n} votes", tie.votes),
                             won=", ".join(isolate(names[i]) for i in tie.won),
                             lost=", ".join(isolate(names[i]) for i in tie.lost)))
            lines.append(t._(flow.TIE_RULE))
        if user.id in elected_users:
            lines += ["", t._("You were elected. Welcome to the committee! /committee")]
        return "\n".join(lines), None

    await notify(context.application, community, [u for _m, u in members], render,
                 key=f"election-result:{election.id}")


# -- nominations -----------------------------------------------------------------------------


@refusals
async def nominate_command(update: Update, context: Context) -> None:
    who = await member(update, context)
    election = await _current(context, who, "nominating")
    if election is None:
        await say(update, who.t._(flow.NOT_NOMINATING))
        return
    text, markup = _nominate_prompt(who.t, election)
    await say(update, text, reply_markup=markup)


def _nominate_prompt(t: Translator, election: Election) -> tuple[str, InlineKeyboardMarkup]:
    text = t._("Whom do you nominate for <b>{name}</b>?", name=isolate(election.name))
    return text, InlineKeyboardMarkup([[
        InlineKeyboardButton(t._("Myself"), callback_data=f"cm:me:{election.id}"),
        InlineKeyboardButton(t._("Another member"), callback_data=f"cm:other:{election.id}"),
    ]])


@refusals
async def nominate_tap(update: Update, context: Context) -> None:
    """The announcement's "Nominate" button."""
    who = await member(update, context)
    (eid,) = _ints(callback_parts(update)[2:3])
    election = await _election(who, context, eid, "nominating", flow.NOT_NOMINATING)
    assert update.callback_query is not None
    await update.callback_query.answer()
    text, markup = _nominate_prompt(who.t, election)
    await say(update, text, reply_markup=markup)


@refusals
async def nominate_other(update: Update, context: Context) -> int:
    who = await member(update, context)
    (eid,) = _ints(callback_parts(update)[2:3])
    await _election(who, context, eid, "nominating", flow.NOT_NOMINATING)
    assert update.callback_query is not None
    await update.callback_query.answer()
    _input(context).clear()
    _input(context).update(kind="nominate", id=eid)
    await say(update, who.t._("Type part of their name (or /cancel)."))
    return SEARCH


@refusals
async def search_text(update: Update, context: Context) -> int:
    """The name typed to find a member, for a nomination or to add someone to a group."""
    who = await member(update, context)
    assert who.community is not None and update.effective_message is not None
    state = _input(context)
    query = update.effective_message.text or ""
    if len(query) > 100:
        await say(update, who.t._(flow.TOO_LONG, n=100))
        return SEARCH
    members = await community_store.members(context.db, who.community.id)
    found = search_members(members, query)
    if not found:
        await say(update, who.t._("No member matches “{query}”. Try another part of the name.",
                                  query=isolate(short(query, 40))))
        return SEARCH
    prefix = "cm:pick" if state.get("kind") == "nominate" else "cm:add"
    rows = [[InlineKeyboardButton(
        f"{short(user.display_name, 30)} · {group_label(who.t, m.stakeholder_group, html=False)}",
        callback_data=f"{prefix}:{state.get('id')}:{user.id}")] for m, user in found]
    await say(update, who.t._("Choose the person:"), reply_markup=InlineKeyboardMarkup(rows))
    state.clear()
    return ConversationHandler.END


async def _nominate(update: Update, context: Context, who: Actor, eid: int,
                    nominee_id: int) -> None:
    assert who.community is not None
    t = who.t
    election = await _election(who, context, eid, "nominating", flow.NOT_NOMINATING)
    membership = await community_store.get_membership(context.db, who.community.id, nominee_id)
    if membership is None:
        raise Refused(flow.NOT_A_MEMBER)
    nomination, created = await store.nominate(context.db, eid, nominee_id, who.user.id)
    assert update.callback_query is not None
    await update.callback_query.answer()
    nominee = await community_store.get_user(context.db, nominee_id)
    assert nominee is not None
    if nominee_id == who.user.id:
        if nomination.status == "accepted":
            await say(update, t._("You are already a candidate."))
            return
        text, markup = _invitation(t, election, nomination.id, None)
        await say(update, text, reply_markup=markup)
        return
    if not created:
        await say(update, t._("{name} is already nominated.", name=isolate(nominee.display_name)))
        return
    await say(update, t._("You nominated {name}. They will be asked to accept.",
                          name=isolate(nominee.display_name)))
    text, markup = _invitation(_translator(nominee, who.community), election, nomination.id,
                               who.user.display_name)
    await deliver(context, nominee_id, text, reply_markup=markup)


def _invitation(t: Translator, election: Election, nomination_id: int,
                by: str | None) -> tuple[str, InlineKeyboardMarkup]:
    first = (t._("{by} nominated you as a candidate for <b>{name}</b>.", by=isolate(by),
                 name=isolate(election.name)) if by else
             t._("You are nominating yourself for <b>{name}</b>.", name=isolate(election.name)))
    text = "\n".join([first, t._("Do you accept? You will choose your stakeholder group and"
                                 " write a short statement for voters.")])
    return text, InlineKeyboardMarkup([[
        InlineKeyboardButton(t._("Accept"), callback_data=f"cm:acc:{nomination_id}"),
        InlineKeyboardButton(t._("Decline"), callback_data=f"cm:dec:{nomination_id}"),
    ]])


@refusals
async def nominate_self_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    (eid,) = _ints(callback_parts(update)[2:3])
    await _nominate(update, context, who, eid, who.user.id)


@refusals
async def pick_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    eid, nominee_id = _ints(callback_parts(update)[2:4])
    await _nominate(update, context, who, eid, nominee_id)


async def _own_nomination(who: Actor, context: Context, update: Update) -> store.Nomination:
    (nid,) = _ints(callback_parts(update)[2:3])
    nomination = await store.get_nomination(context.db, nid)
    if nomination is None or nomination.nominee_id != who.user.id:
        raise Refused(flow.NOT_YOUR_NOMINATION)
    election = await store.get_election(context.db, nomination.election_id)
    if election is None or election.status != "nominating":
        raise Refused(flow.NOT_NOMINATING)
    return nomination


@refusals
async def accept_tap(update: Update, context: Context) -> int:
    who = await actor(update, context)
    nomination = await _own_nomination(who, context, update)
    election = await store.get_election(context.db, nomination.election_id)
    assert election is not None
    membership = await community_store.get_membership(context.db, election.community_id,
                                                      who.user.id)
    if membership is None:
        raise Refused(flow.NOT_A_MEMBER)
    assert update.callback_query is not None
    await update.callback_query.answer()
    groups = await community_store.stakeholder_groups(context.db, election.community_id)
    mine = nomination.stakeholder_group or membership.stakeholder_group
    rows = [[InlineKeyboardButton(
        ("✓ " if g.key == mine else "") + group_label(who.t, g, html=False),
        callback_data=f"cm:grp:{nomination.id}:{g.key}")] for g in groups]
    _input(context).clear()
    _input(context).update(kind="accept", id=nomination.id)
    await edit_message(update, who.t._("Which stakeholder group do you represent?"),
                InlineKeyboardMarkup(rows))
    return GROUP


@refusals
async def group_tap(update: Update, context: Context) -> int:
    who = await actor(update, context)
    parts = callback_parts(update)
    nomination = await _own_nomination(who, context, update)
    election = await store.get_election(context.db, nomination.election_id)
    assert election is not None  # _own_nomination checked it
    groups = await community_store.stakeholder_groups(context.db, election.community_id)
    group = parts[3] if len(parts) == 4 else ""
    if group not in {g.key for g in groups}:
        raise Refused(NOT_AVAILABLE)
    assert update.callback_query is not None
    await update.callback_query.answer()
    _input(context).update(kind="accept", id=nomination.id, group=group)
    await edit_message(update, who.t._("You represent: {group}",
                                       group=group_label(who.t, group)), None)
    await say(update, who.t._(
        "Write a short statement for voters: who you are and what you will do"
        " (up to {n} characters).", n=flow.MAX_STATEMENT))
    return STATEMENT


@refusals
async def statement_text(update: Update, context: Context) -> int:
    who = await actor(update, context)
    state = _input(context)
    assert update.effective_message is not None
    statement = flow.check_statement(update.effective_message.text or "")
    nomination = await store.get_nomination(context.db, int(state.get("id", 0)))
    if nomination is None or nomination.nominee_id != who.user.id or not state.get("group"):
        state.clear()
        await say(update, who.t._(NOT_AVAILABLE))
        return ConversationHandler.END
    if not await store.answer_nomination(context.db, nomination.id, accept=True,
                                         group=state["group"], statement=statement):
        state.clear()
        await say(update, who.t._(flow.NOT_NOMINATING))
        return ConversationHandler.END
    state.clear()
    await say(update, who.t._("Thank you: you are a candidate. Voters will see your group and"
                              " statement."))
    await _tell_nominator(context, nomination, accepted=True)
    return ConversationHandler.END


@refusals
async def decline_tap(update: Update, context: Context) -> None:
    who = await actor(update, context)
    nomination = await _own_nomination(who, context, update)
    await store.answer_nomination(context.db, nomination.id, accept=False)
    assert update.callback_query is not None
    await update.callback_query.answer()
    await edit_message(update, who.t._("You declined the nomination."), None)
    await _tell_nominator(context, nomination, accepted=False)


async def _tell_nominator(context: Context, nomination: store.Nomination, *,
                          accepted: bool) -> None:
    if nomination.nominated_by is None or nomination.nominated_by == nomination.nominee_id:
        return
    nominator = await community_store.get_user(context.db, nomination.nominated_by)
    nominee = await community_store.get_user(context.db, nomination.nominee_id)
    election = await store.get_election(context.db, nomination.election_id)
    if nominator is None or nominee is None or election is None:
        return
    community = await community_store.get_community(context.db, election.community_id)
    t = _translator(nominator, community)
    message = (N_("{name} accepted your nomination.") if accepted
               else N_("{name} declined your nomination."))
    await deliver(context, nominator.id, t._(message, name=isolate(nominee.display_name)))


# -- the secret ballot -----------------------------------------------------------------------


async def _ballot(who: Actor, context: Context, election: Election,
                  page: int) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    candidates = await flow.candidates(context.db, election.id)
    chosen = await store.draft(context.db, election.id, who.user.id)
    pages = max(1, -(-len(candidates) // PAGE))
    page = min(max(page, 0), pages - 1)
    shown = candidates[page * PAGE:(page + 1) * PAGE]
    lines = [
        t._("Ballot: <b>{name}</b>", name=isolate(election.name)),
        t.ngettext("Choose up to {n} candidate, then review and cast your vote.",
                   "Choose up to {n} candidates, then review and cast your vote.",
                   election.approvals),
        t._("Your ballot is secret: nobody can see whom you chose."),
        "",
    ]
    for nomination, user in shown:
        mark = "☑" if nomination.id in chosen else "☐"
        lines.append(f"{mark} <b>{isolate(user.display_name)}</b> · "
                     f"{group_label(t, nomination.stakeholder_group)}")
        if nomination.statement:
            lines.append(f"    {isolate(nomination.statement)}")
    if pages > 1:
        lines += ["", t._("Page {page} of {pages}", page=page + 1, pages=pages)]
    rows = [[InlineKeyboardButton(
        f"{'☑' if n.id in chosen else '☐'} {short(u.display_name, 28)}",
        callback_data=f"cm:b:{election.id}:{n.id}:{page}")] for n, u in shown]
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("‹", callback_data=f"cm:bp:{election.id}:{page - 1}"))
    if page < pages - 1:
        nav.append(InlineKeyboardButton("›", callback_data=f"cm:bp:{election.id}:{page + 1}"))
    if nav:
        rows.append(nav)
    rows.append([InlineKeyboardButton(
        t._("Review and cast ({chosen}/{n})", chosen=len(chosen), n=election.approvals),
        callback_data=f"cm:rev:{election.id}")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _voting(who: Actor, context: Context, eid: int) -> Election:
    election = await _election(who, context, eid, "voting", flow.NOT_VOTING)
    if await store.has_voted(context.db, eid, who.user.id):
        raise Refused(flow.ALREADY_VOTED)
    return election


@refusals
async def ballot_command(update: Update, context: Context) -> None:
    who = await member(update, context)
    election = await _current(context, who, "voting")
    if election is None:
        raise Refused(flow.NOT_VOTING)
    await _voting(who, context, election.id)
    text, markup = await _ballot(who, context, election, 0)
    await say(update, text, reply_markup=markup)


@refusals
async def ballot_page_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    eid, page = _ints(callback_parts(update)[2:4])
    election = await _voting(who, context, eid)
    assert update.callback_query is not None
    await update.callback_query.answer()
    text, markup = await _ballot(who, context, election, page)
    # The ballot and the review screen are edited in place; the announcement gets a new one.
    message = update.callback_query.message
    keyboard = getattr(message, "reply_markup", None)
    in_place = keyboard is not None and any(
        str(button.callback_data).startswith(("cm:rev:", "cm:cast:"))
        for row in keyboard.inline_keyboard for button in row)
    if in_place:
        await edit_message(update, text, markup)
    else:
        await say(update, text, reply_markup=markup)


@refusals
async def choose_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    eid, nid, page = _ints(callback_parts(update)[2:5])
    election = await _voting(who, context, eid)
    nomination = await store.get_nomination(context.db, nid)
    if nomination is None or nomination.election_id != eid or (
        nomination.status != "accepted"
    ):
        raise Refused(NOT_AVAILABLE)
    chosen = await store.toggle_draft(context.db, eid, who.user.id, nid, election.approvals)
    if chosen is None:
        raise Refused(TOO_MANY, n=election.approvals)
    assert update.callback_query is not None
    await update.callback_query.answer()
    text, markup = await _ballot(who, context, election, page)
    await edit_message(update, text, markup)


@refusals
async def review_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    t = who.t
    (eid,) = _ints(callback_parts(update)[2:3])
    election = await _voting(who, context, eid)
    assert update.callback_query is not None
    await update.callback_query.answer()
    chosen = await store.draft(context.db, eid, who.user.id)
    names = [f"• {isolate(u.display_name)} · {group_label(t, n.stakeholder_group)}"
             for n, u in await flow.candidates(context.db, eid) if n.id in chosen]
    lines = [t._("Please check your ballot for <b>{name}</b>:", name=isolate(election.name))]
    lines += names or [t._("You chose nobody: this is a blank ballot.")]
    lines += ["", t._("Casting is final and secret. Cast your vote now?")]
    await edit_message(update, "\n".join(lines), InlineKeyboardMarkup([[
        InlineKeyboardButton(t._("Cast my vote"), callback_data=f"cm:cast:{eid}"),
        InlineKeyboardButton(t._("Back"), callback_data=f"cm:bp:{eid}:0"),
    ]]))


@refusals
async def cast_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    t = who.t
    (eid,) = _ints(callback_parts(update)[2:3])
    await _election(who, context, eid)
    try:
        await store.cast(context.db, eid, who.user.id)
    except store.BallotRejected as rejected:
        raise Refused(flow.ALREADY_VOTED if rejected.reason == "voted"
                      else flow.NOT_VOTING) from None
    assert update.callback_query is not None
    await update.callback_query.answer(t._("Your vote is cast."))
    await edit_message(update, t._("Your vote is cast. Thank you! The result is announced when"
                            " voting closes."), None)


# -- the committee and its working groups -----------------------------------------------------


@refusals
async def committee_command(update: Update, context: Context) -> None:
    who = await member(update, context)
    assert who.community is not None
    t = who.t
    found = await store.committees(context.db, who.community.id)
    if not found:
        await say(update, t._("There is no committee yet."))
        return
    for committee in found:
        text, markup = await _committee_card(who, context, committee)
        for part in split_text(text):
            await say(update, part, reply_markup=markup)


async def _committee_card(who: Actor, context: Context,
                          committee: Committee) -> tuple[str, InlineKeyboardMarkup | None]:
    t = who.t
    members = await store.committee_members(context.db, committee.id)
    title = (t._("Committee: <b>{name}</b>", name=isolate(committee.name))
             if committee.parent_id is None else
             t._("Working group: <b>{name}</b>", name=isolate(committee.name)))
    lines = [title, t.ngettext("{n} member", "{n} members", len(members))]
    lines.append(t._("Linked group chat: yes") if committee.chat_id else
                 t._("Linked group chat: none"))
    lines.append("")
    for seat, user in members:
        how = {"elected": _seat_reason(t, seat.seat), "co-opted": t._("co-opted")}.get(
            seat.how, "")
        lines.append(f"• {isolate(user.display_name)}" + (f" — {how}" if how else ""))
    if not who.is_coordinator:
        return "\n".join(lines), None
    cid = committee.id
    rows = [
        [InlineKeyboardButton(t._("Add a member") if committee.parent_id else
                              t._("Co-opt a member"), callback_data=f"cm:co:{cid}"),
         InlineKeyboardButton(t._("Remove a member"), callback_data=f"cm:rm:{cid}")],
        [InlineKeyboardButton(t._("Link a group chat"), callback_data=f"cm:link:{cid}")],
    ]
    if committee.parent_id is None:
        rows[1].append(InlineKeyboardButton(t._("New working group"),
                                            callback_data=f"cm:wg:{cid}"))
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _coordinator_committee(update: Update, context: Context,
                                 ) -> tuple[Actor, Committee, list[str]]:
    """The coordinator, and the committee their button names, with the button's fields."""
    who = await coordinator(update, context)
    parts = callback_parts(update)
    (cid,) = _ints(parts[2:3])
    return who, await _committee(who, context, cid), parts


async def _post_to_chat(context: Context, committee: Committee, message: str,
                        **values: Any) -> None:
    """A notice in the committee's linked group chat, in the community's language."""
    if committee.chat_id is None:
        return
    community = await community_store.get_community(context.db, committee.community_id)
    assert community is not None
    t = Translator(community.default_language, community.timezone)
    with contextlib.suppress(TelegramError):  # the bot was removed from the group
        await context.bot.send_message(committee.chat_id, t._(message, **values))


@refusals
async def coopt_tap(update: Update, context: Context) -> int:
    found = await _coordinator_committee(update, context)
    who, committee, _parts = found
    assert update.callback_query is not None
    await update.callback_query.answer()
    _input(context).clear()
    _input(context).update(kind="add", id=committee.id)
    await say(update, who.t._("Type part of their name (or /cancel)."))
    return SEARCH


@refusals
async def add_tap(update: Update, context: Context) -> None:
    found = await _coordinator_committee(update, context)
    who, committee, parts = found
    assert who.community is not None
    (uid,) = _ints(parts[3:4])
    how = "added" if committee.parent_id else "co-opted"
    await flow.add_to_committee(context.db, committee.id, who.community.id, uid, how)
    assert update.callback_query is not None
    await update.callback_query.answer()
    user = await community_store.get_user(context.db, uid)
    assert user is not None
    await edit_message(update, who.t._("{person} is now a member of {name}.",
                                person=isolate(user.display_name),
                                name=isolate(committee.name)), None)
    t = _translator(user, who.community)
    await deliver(context, uid, t._("You are now a member of {name}. /committee",
                                    name=isolate(committee.name)))
    await _post_to_chat(context, committee, N_("{person} is now a member of {name}."),
                        person=isolate(user.display_name), name=isolate(committee.name))


@refusals
async def remove_tap(update: Update, context: Context) -> None:
    found = await _coordinator_committee(update, context)
    who, committee, _parts = found
    members = await store.committee_members(context.db, committee.id)
    assert update.callback_query is not None
    if not members:
        await refuse(update, who.t, N_("This group has no members."))
        return
    await update.callback_query.answer()
    rows = [[InlineKeyboardButton(short(u.display_name, 40),
                                  callback_data=f"cm:rmu:{committee.id}:{u.id}")]
            for _m, u in members]
    await say(update, who.t._("Whom do you remove from {name}?", name=isolate(committee.name)),
              reply_markup=InlineKeyboardMarkup(rows))


@refusals
async def remove_member_tap(update: Update, context: Context) -> int:
    found = await _coordinator_committee(update, context)
    who, committee, parts = found
    (uid,) = _ints(parts[3:4])
    if uid not in {u.id for _m, u in await store.committee_members(context.db,
                                                                      committee.id)}:
        raise Refused(N_("That person is not a member of this committee."))
    assert update.callback_query is not None
    await update.callback_query.answer()
    _input(context).clear()
    _input(context).update(kind="remove", id=committee.id, user=uid)
    await say(update, who.t._("Why? The member will be told the reason (or /cancel)."))
    return REASON


@refusals
async def reason_text(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    assert who.community is not None and update.effective_message is not None
    state = _input(context)
    committee = await _committee(who, context, int(state.get("id", 0)))
    uid = int(state.get("user", 0))
    await flow.remove_from_committee(context.db, committee.id, who.community.id, uid,
                                     update.effective_message.text or "")
    state.clear()
    user = await community_store.get_user(context.db, uid)
    assert user is not None
    reason = (update.effective_message.text or "").strip()
    await say(update, who.t._("{person} was removed from {name}.",
                              person=isolate(user.display_name), name=isolate(committee.name)))
    t = _translator(user, who.community)
    await deliver(context, uid, t._("You were removed from {name}. Reason: {reason}",
                                    name=isolate(committee.name), reason=isolate(reason)))
    await _post_to_chat(context, committee, N_("{person} was removed from {name}."),
                        person=isolate(user.display_name), name=isolate(committee.name))
    return ConversationHandler.END


@refusals
async def working_group_tap(update: Update, context: Context) -> int:
    found = await _coordinator_committee(update, context)
    who, committee, _parts = found
    if committee.parent_id is not None:
        await refuse(update, who.t, NOT_AVAILABLE)
        return ConversationHandler.END
    assert update.callback_query is not None
    await update.callback_query.answer()
    _input(context).clear()
    _input(context).update(kind="group", id=committee.id)
    await say(update, who.t._("Name of the working group (or /cancel):"))
    return NAME


@refusals
async def working_group_name(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    assert who.community is not None and update.effective_message is not None
    state = _input(context)
    name = " ".join((update.effective_message.text or "").split())
    if not name or len(name) > 200:
        await say(update, who.t._(flow.TOO_LONG, n=200))
        return NAME
    parent = await _committee(who, context, int(state.get("id", 0)))
    state.clear()
    group = await store.create_committee(context.db, who.community.id, name,
                                         parent_id=parent.id)
    text, markup = await _committee_card(who, context, group)
    await say(update, text, reply_markup=markup)
    return ConversationHandler.END


@refusals
async def link_tap(update: Update, context: Context) -> None:
    found = await _coordinator_committee(update, context)
    who, committee, _parts = found
    code = secrets.token_urlsafe(9)
    await store.create_link_code(context.db, committee.id, code)
    assert update.callback_query is not None
    await update.callback_query.answer()
    await say(update, who.t._(
        "Add me to the group chat of {name}, then send this there (it works once):",
        name=isolate(committee.name)) + f"\n\n<code>/link {code}</code>")


@refusals
async def link_command(update: Update, context: Context) -> None:
    """``/link CODE`` in a group chat: the chat now receives the committee's messages."""
    who = await actor(update, context)
    chat = update.effective_chat
    assert chat is not None
    if chat.type == "private":
        await say(update, who.t._("Send this command in the group chat you want to link."))
        return
    committee = None
    if context.args and len(context.args[0]) <= 64:
        committee = await store.use_link_code(context.db, context.args[0], chat.id)
    if committee is None:
        await say(update, who.t._("This code is unknown or already used. Ask a coordinator"
                                  " for a new one."))
        return
    community = await community_store.get_community(context.db, committee.community_id)
    assert community is not None
    t = Translator(community.default_language, community.timezone)
    await say(update, t._("This chat now receives the messages of {name}.",
                          name=isolate(committee.name)))


# -- shared fallbacks ------------------------------------------------------------------------


@refusals
async def cancel(update: Update, context: Context) -> int:
    who = await actor(update, context)
    _input(context).clear()
    await say(update, who.t._("Stopped. Nothing was changed."))
    return ConversationHandler.END


@refusals
async def tap_a_button(update: Update, context: Context) -> int:
    who = await actor(update, context)
    await say(update, who.t._("Please tap one of the buttons above."))
    return GROUP


@refusals
async def noop_tap(update: Update, context: Context) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer()


# -- wiring --------------------------------------------------------------------------------


async def on_startup(app: Application) -> None:  # type: ignore[type-arg]
    """Rebuild each running election's deadline job; deadlines passed while down run now."""
    for election in await store.running_elections(app.bot_data.db):
        _schedule(app, election)


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(ConversationHandler(
        entry_points=[
            CallbackQueryHandler(nominate_other, pattern=r"^cm:other:"),
            CallbackQueryHandler(accept_tap, pattern=r"^cm:acc:"),
            CallbackQueryHandler(coopt_tap, pattern=r"^cm:co:"),
            CallbackQueryHandler(remove_member_tap, pattern=r"^cm:rmu:"),
            CallbackQueryHandler(working_group_tap, pattern=r"^cm:wg:"),
        ],
        states={
            SEARCH: [MessageHandler(text, search_text)],
            GROUP: [CallbackQueryHandler(group_tap, pattern=r"^cm:grp:"),
                    MessageHandler(text, tap_a_button)],
            STATEMENT: [MessageHandler(text, statement_text)],
            REASON: [MessageHandler(text, reason_text)],
            NAME: [MessageHandler(text, working_group_name)],
        },
        fallbacks=[CommandHandler("cancel", cancel)],
        name="committee_input", persistent=True, allow_reentry=True, per_message=False,
    ))
    app.add_handler(CommandHandler("election", election_command, filters=private))
    app.add_handler(CommandHandler("nominate", nominate_command, filters=private))
    app.add_handler(CommandHandler("ballot", ballot_command, filters=private))
    app.add_handler(CommandHandler("committee", committee_command, filters=private))
    app.add_handler(CommandHandler("link", link_command, filters=filters.ChatType.GROUPS
                                   | private))
    for pattern, callback in (
        (r"^cm:s:", setting_tap), (r"^cm:del:", discard_tap),
        (r"^cm:go:", open_nominations_tap), (r"^cm:rem:", remind_tap),
        (r"^cm:vote:", open_voting_tap), (r"^cm:count:", count_tap),
        (r"^cm:nom:", nominate_tap), (r"^cm:me:", nominate_self_tap),
        (r"^cm:pick:", pick_tap), (r"^cm:dec:", decline_tap),
        (r"^cm:bp:", ballot_page_tap), (r"^cm:b:", choose_tap), (r"^cm:rev:", review_tap),
        (r"^cm:cast:", cast_tap), (r"^cm:add:", add_tap), (r"^cm:rm:", remove_tap),
        (r"^cm:link:", link_tap), (r"^cm:noop$", noop_tap),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=pattern))

