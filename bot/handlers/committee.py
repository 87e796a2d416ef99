"""Committee in chat: /election (coordinators), /nominate, /ballot, /committee, /link.

Step 2 of the methodology: members nominate candidates (themselves or others), nominees
accept with their stakeholder group and a statement, members vote by secret ballot, and
seats are allocated so every required group is represented. Every button carries what it
acts on; ``bot.flows.committee`` re-checks community, role and the election's step before
anything changes. What people type (a name to search, a statement, a reason, a working
group's name) is asked by forms.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError
from telegram.ext import filters

from bot.app import Context, MahfilApp
from bot.callbacks import Button, Id, Index, Word, button
from bot.commands import Command
from bot.flows import committee as flow
from bot.flows import schedule
from bot.flows.errors import Refused
from bot.flows.people import Actor, Member
from bot.handlers._common import (
    PRIVATE,
    GuestTap,
    Said,
    Tap,
    Tapped,
    Turn,
    at,
    clock,
    command,
    deliver,
    guest_tap,
    notify,
    short,
    tap,
)
from bot.handlers._forms import Field, Filling, Form, Option
from bot.i18n import N_, Translator, isolate
from bot.keyboards import inline, keyboard, page_of, pager
from bot.labels import group_label
from bot.messages import split_text

COMMANDS = [
    Command("nominate", N_("Nominate a candidate for the committee"), "resident"),
    Command("ballot", N_("Vote in the committee election"), "resident"),
    Command("committee", N_("The committee and its working groups"), "resident"),
    Command("election", N_("Set up and run a committee election"), "coordinator"),
]
GROUP_COMMANDS = ["link"]

PAGE = 6  # candidates per ballot page


# -- buttons -------------------------------------------------------------------------------
# The coordinator's election card.


@button("committee", "setting", role="coordinator")
class Setting(Button):
    """One step down or up of a setting (seats, approvals, days) or a group's minimum."""

    election: Id
    setting: Annotated[str, Word(20)]  # seats, approvals, days, or a group's key
    step: Literal["down", "up"]


@button("committee", "label", role=None)
class Label(Button):
    """The name between a setting's − and +: tapping it does nothing."""


@button("committee", "discard", role="coordinator")
class Discard(Button):
    election: Id


@button("committee", "open", role="coordinator")
class OpenNominations(Button):
    election: Id


@button("committee", "remind", role="coordinator")
class Remind(Button):
    election: Id


@button("committee", "voting", role="coordinator")
class OpenVoting(Button):
    """Close nominations early and open voting."""

    election: Id


@button("committee", "count", role="coordinator")
class Count(Button):
    """"Close voting and count": asks first."""

    election: Id


@button("committee", "stop", role="coordinator")
class StopVoting(Button):
    """Yes, close voting (the count follows after the window to reopen)."""

    election: Id


@button("committee", "keepvoting", role="coordinator")
class KeepVoting(Button):
    """No, leave voting open."""

    election: Id


@button("committee", "reopen", role="coordinator")
class ReopenVoting(Button):
    """Undo the closing of voting, within the window (nothing has been counted)."""

    election: Id


@button("committee", "countnow", role="coordinator")
class CountNow(Button):
    """Do not wait for the window: count now and tell members."""

    election: Id


# Nominations.


@button("committee", "nominate")
class Nominate(Button):
    """The announcement's "Nominate": whom, oneself or another member?"""

    election: Id


@button("committee", "myself")
class NominateSelf(Button):
    election: Id


@button("committee", "other")
class NominateOther(Button):
    election: Id


@button("committee", "accept")
class Accept(Button):
    nomination: Id


@button("committee", "decline")
class Decline(Button):
    nomination: Id


# The secret ballot.


@button("committee", "vote")
class Vote(Button):
    """The announcement's "Vote": the ballot, in a new message."""

    election: Id


@button("committee", "page")
class BallotPage(Button):
    """A page of the ballot, shown in place."""

    election: Id
    page: Index


@button("committee", "choose")
class Choose(Button):
    """Tick or untick a candidate (on ``page`` of the ballot)."""

    election: Id
    nomination: Id
    page: Index


@button("committee", "review")
class Review(Button):
    election: Id


@button("committee", "cast")
class Cast(Button):
    election: Id


# The committee and its working groups.


@button("committee", "coopt", role="coordinator")
class Coopt(Button):
    committee: Id


@button("committee", "remove", role="coordinator")
class Remove(Button):
    """Whom to remove: the committee's members as buttons."""

    committee: Id


@button("committee", "removeone", role="coordinator")
class RemoveOne(Button):
    committee: Id
    person: Id


@button("committee", "workgroup", role="coordinator")
class WorkingGroup(Button):
    committee: Id


@button("committee", "link", role="coordinator")
class Link(Button):
    committee: Id


# -- coordinator: set-up and steps -----------------------------------------------------------


def _settings_card(t: Translator, found: flow.Settings) -> tuple[str, InlineKeyboardMarkup | None]:
    election, quotas = found.election, found.quotas
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

    def stepper(label: str, setting: str) -> list[InlineKeyboardButton]:
        return [inline("−", Setting(eid, setting, "down")), inline(label, Label()),
                inline("+", Setting(eid, setting, "up"))]

    rows = [
        stepper(t._("Seats: {n}", n=election.seats), "seats"),
        stepper(t._("Approvals: {n}", n=election.approvals), "approvals"),
        stepper(t._("Nomination days: {n}", n=election.nomination_days), "nomination_days"),
        stepper(t._("Voting days: {n}", n=election.voting_days), "voting_days"),
    ]
    rows += [stepper(f"{group_label(t, g, html=False)}: {t.num(m)}", g)
             for g, m in quotas.items()]
    rows.append([inline(t._("Open nominations"), OpenNominations(eid)),
                 inline(t._("Discard"), Discard(eid))])
    return "\n".join(lines), keyboard(*rows)


def _status_card(t: Translator, found: flow.Progress) -> tuple[str, InlineKeyboardMarkup | None]:
    election, quotas, everyone = found.election, found.quotas, found.nominations
    eid = election.id
    lines = [t._("Committee election: <b>{name}</b>", name=isolate(election.name))]
    rows = []
    if election.status == "nominating" and election.nominations_close_at is not None:
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
        rows = [[inline(t._("Remind members to nominate"), Remind(eid))],
                [inline(t._("Close nominations and open voting"), OpenVoting(eid))]]
    elif election.status == "voting" and election.voting_close_at is not None:
        lines += [
            t._("Voting is open until {when}.", when=t.datetime(election.voting_close_at)),
            t.ngettext("{voted} of {n} member has voted.", "{voted} of {n} members have voted.",
                       found.members, voted=found.voted),
        ]
        rows = [[inline(t._("Close voting and count"), Count(eid))]]
    elif (when := flow.count_at(election)) is not None:
        lines.append(t._("Voting has closed; the votes are counted at {when}.",
                         when=clock(t, when)))
        rows = [_after_stop(t, election)]
    else:
        lines.append(t._("This election has closed. /committee shows the committee."))
    return "\n".join(lines), keyboard(*rows)


async def _card(turn: Turn[Member], election: flow.Election,
                ) -> tuple[str, InlineKeyboardMarkup | None]:
    """The coordinator's card of an election: its settings as a draft, its progress after."""
    db = turn.context.db
    if election.status == "draft":
        return _settings_card(turn.t, await flow.settings(db, turn.who, election.id))
    return _status_card(turn.t, await flow.progress(db, turn.who, election.id))


@command("election", role="coordinator")
async def election_command(turn: Said) -> None:
    """``/election NAME`` sets one up; ``/election`` alone shows the one running."""
    if turn.text:
        found = await flow.create(turn.context.db, turn.who, turn.text)
        await turn.say(*_settings_card(turn.t, found))
        return
    running = await flow.running(turn.context.db, turn.who)
    if running is None:
        await turn.say(turn.t._("Start a committee election with its name, e.g. /election"
                                " Neighbourhood committee"))
        return
    await turn.say(*await _card(turn, running))


@tap(Setting)
async def setting_tap(turn: Tap[Setting]) -> None:
    chosen = turn.button
    found = await flow.change(turn.context.db, turn.who, chosen.election, chosen.setting,
                              -1 if chosen.step == "down" else 1)
    await turn.answer()
    await turn.edit(*_settings_card(turn.t, found))


@guest_tap(Label)
async def label_tap(turn: GuestTap[Label]) -> None:
    """Nothing to do: the decorator answers the tap."""


@tap(Discard)
async def discard_tap(turn: Tap[Discard]) -> None:
    await flow.discard(turn.context.db, turn.who, turn.button.election)
    await turn.answer()
    await turn.edit(turn.t._("Discarded. Nothing was announced."))


@tap(OpenNominations)
async def open_nominations_tap(turn: Tap[OpenNominations]) -> None:
    election = await flow.open_nominations(turn.context.db, turn.who, turn.button.election)
    await turn.answer()
    _schedule(turn.app, election)
    await turn.edit(*await _card(turn, election))
    await _announce(turn.app, election, "nominating")


@tap(Remind)
async def remind_tap(turn: Tap[Remind]) -> None:
    election = await flow.remind(turn.context.db, turn.who, turn.button.election)
    audience = await flow.audience(turn.context.db, election)
    await turn.answer(turn.t.ngettext("Reminding {n} member…", "Reminding {n} members…",
                                      len(audience.people)), alert=True)
    await _announce(turn.app, election, "remind", audience)


@tap(OpenVoting)
async def open_voting_tap(turn: Tap[OpenVoting]) -> None:
    opened = await flow.start_voting(turn.context.db, turn.who, turn.button.election)
    await turn.answer()
    if opened is not None:
        await _voting_opened(turn.app, opened)
        await turn.edit(*await _card(turn, opened))


def _after_stop(t: Translator, election: flow.Election) -> list[InlineKeyboardButton]:
    """What a coordinator may do while voting is closed and not yet counted."""
    buttons = [inline(t._("Count now"), CountNow(election.id))]
    if schedule.may_reopen(election.reopen_until):
        buttons.insert(0, inline(t._("Reopen voting"), ReopenVoting(election.id)))
    return buttons


@tap(Count)
async def count_tap(turn: Tap[Count]) -> None:
    """Closing voting is asked first: members can no longer vote afterwards."""
    election = await flow.closing(turn.context.db, turn.who, turn.button.election)
    t, eid = turn.t, election.id
    await turn.answer()
    await turn.say(t._("Close voting for <b>{name}</b> and count? Members can no longer vote."
                       " The votes are counted {n} minutes later and members hear the result"
                       " then; until then you can reopen voting.",
                       name=isolate(election.name), n=schedule.window_minutes()),
                   keyboard([inline(t._("Yes, close voting"), StopVoting(eid)),
                             inline(t._("No, leave it open"), KeepVoting(eid))]))


@tap(StopVoting)
async def stop_tap(turn: Tap[StopVoting]) -> None:
    stopped = await flow.stop(turn.context.db, turn.who, turn.button.election)
    _schedule(turn.app, stopped)
    t, when = turn.t, flow.count_at(stopped) or datetime.now(UTC)
    await turn.answer()
    await turn.edit(t._("Voting is closed. The votes are counted at {when}; until then you can"
                        " reopen voting.", when=clock(t, when)),
                    keyboard(_after_stop(t, stopped)))


@tap(KeepVoting)
async def keep_voting_tap(turn: Tap[KeepVoting]) -> None:
    await turn.answer()
    await turn.edit(turn.t._("Nothing changed: voting stays open."))


@tap(ReopenVoting)
async def reopen_tap(turn: Tap[ReopenVoting]) -> None:
    reopened = await flow.reopen(turn.context.db, turn.who, turn.button.election)
    _schedule(turn.app, reopened)
    await turn.answer()
    closes = reopened.voting_close_at
    await turn.edit(turn.t._("Voting is open again until {when}; nothing was counted.",
                             when=turn.t.datetime(closes)) if closes is not None else
                    turn.t._("Voting is open again; nothing was counted."))


@tap(CountNow)
async def count_now_tap(turn: Tap[CountNow]) -> None:
    result = await flow.count(turn.context.db, turn.who, turn.button.election)
    await turn.answer()
    await turn.edit(turn.t._("Counting…"))
    if result is not None:
        _schedule(turn.app, result.election)
        await _publish(turn.app, result)


# -- steps, announcements and scheduling -----------------------------------------------------

Announcement = Literal["nominating", "remind", "voting", "reminder"]


async def _announce(app: MahfilApp, election: flow.Election, what: Announcement,
                    audience: flow.Audience | None = None) -> None:
    """Tell members about a step, through the outbox (paced, never lost, never twice)."""
    if audience is None:
        audience = await flow.audience(app.bot_data.db, election,
                                       not_voted=what == "reminder")

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup | None]:
        if what in ("nominating", "remind") and election.nominations_close_at is not None:
            text = "\n".join([
                t._("Nominations are open for the committee <b>{name}</b> until {when}.",
                    name=isolate(election.name), when=t.datetime(election.nominations_close_at)),
                t._("Anyone may nominate themselves or another member. The committee must"
                    " include every stakeholder group, so think of people from each."),
            ])
            return text, keyboard([inline(t._("Nominate"), Nominate(election.id))])
        closes = election.voting_close_at
        when = t.datetime(closes) if closes is not None else ""
        first = (t._("Reminder: voting for the committee <b>{name}</b> closes {when}, and"
                     " you have not voted yet.", name=isolate(election.name), when=when)
                 if what == "reminder" else
                 t._("Voting is open for the committee <b>{name}</b> until {when}.",
                     name=isolate(election.name), when=when))
        text = "\n".join([first, t._("Your ballot is secret: nobody can see whom you chose.")])
        return text, keyboard([inline(t._("Vote"), Vote(election.id))])

    # A coordinator's reminder may be repeated later, but not by a double tap.
    key = f"election-{what}:{election.id}"
    if what == "remind":
        key += ":" + datetime.now(UTC).isoformat(timespec="minutes")
    await notify(app, audience.community, audience.people, render, key=key)


def _schedule(app: MahfilApp, election: flow.Election) -> None:
    """One job for the election's next deadline, one for the voting reminder and one for a
    count that waits (voting closed by hand); all are rebuilt at start (``on_startup``), and
    one whose time passed meanwhile runs at once."""
    name = f"election-{election.id}"
    at(app, name, flow.deadline(election), _deadline_job, election.id)
    at(app, f"{name}-reminder", flow.reminder_at(election), _reminder_job, election.id)
    at(app, f"{name}-count", flow.count_at(election), _count_job, election.id)


async def _count_job(context: Context) -> None:
    """The window to reopen voting has passed: count and tell members."""
    assert context.job is not None and isinstance(context.job.data, int)
    result = await flow.count_due(context.db, context.job.data)
    if result is not None:
        await _publish(context.application, result)


async def _reminder_job(context: Context) -> None:
    assert context.job is not None and isinstance(context.job.data, int)
    election = await flow.reminder_due(context.db, context.job.data)
    if election is not None:
        await _announce(context.application, election, "reminder")


async def _deadline_job(context: Context) -> None:
    assert context.job is not None and isinstance(context.job.data, int)
    election = await flow.get(context.db, context.job.data)
    if election is None:
        return
    if election.status == "nominating":
        try:
            opened = await flow.open_voting(context.db, election)
        except Refused:
            await _tell_coordinators(context, election, N_(
                "Nominations for <b>{name}</b> have ended without any accepted candidate."
                " Voting did not open; remind members with /election or start again."))
            return
        if opened is not None:
            await _voting_opened(context.application, opened)
    elif election.status == "voting":
        result = await flow.close(context.db, election)
        if result is not None:
            await _publish(context.application, result)


async def _tell_coordinators(context: Context, election: flow.Election, message: str) -> None:
    coordinators = await flow.coordinators(context.db, election)
    for user in coordinators.people:
        t = Translator(user.language, coordinators.community.timezone)
        await deliver(context, user.id, t._(message, name=isolate(election.name)))


async def _voting_opened(app: MahfilApp, election: flow.Election) -> None:
    _schedule(app, election)
    await _announce(app, election, "voting")


async def _publish(app: MahfilApp, result: flow.Result) -> None:
    """Every member receives the result in their language."""
    election, allocation = result.election, result.allocation
    seats = {s.candidate.id: s for s in allocation.seats}
    names = {n.id: u.display_name for n, u in result.candidates}
    elected = result.elected

    def render(t: Translator, user: flow.User) -> tuple[str, None]:
        lines = [
            t._("Election results: <b>{name}</b>", name=isolate(election.name)),
            t.ngettext("{voted} of {n} member voted.", "{voted} of {n} members voted.",
                       len(result.members), voted=result.voted),
            "",
        ]
        for nomination, candidate in result.candidates:
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
                                                     result.votes.get(nomination.id, 0))) + why)
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
        if user.id in elected:
            lines += ["", t._("You were elected. Welcome to the committee! /committee")]
        return "\n".join(lines), None

    await notify(app, result.community, result.members, render,
                 key=f"election-result:{election.id}")


# -- nominations -----------------------------------------------------------------------------


def _nominate_prompt(t: Translator, election: flow.Election,
                     ) -> tuple[str, InlineKeyboardMarkup | None]:
    text = t._("Whom do you nominate for <b>{name}</b>?", name=isolate(election.name))
    return text, keyboard([inline(t._("Myself"), NominateSelf(election.id)),
                           inline(t._("Another member"), NominateOther(election.id))])


@command("nominate")
async def nominate_command(turn: Said) -> None:
    election = await flow.current(turn.context.db, turn.who, "nominating")
    if election is None:
        await turn.say(turn.t._(flow.NOT_NOMINATING))
        return
    await turn.say(*_nominate_prompt(turn.t, election))


@tap(Nominate)
async def nominate_tap(turn: Tap[Nominate]) -> None:
    election = await flow.nominating(turn.context.db, turn.who, turn.button.election)
    await turn.answer()
    await turn.say(*_nominate_prompt(turn.t, election))


@tap(NominateSelf)
async def nominate_self_tap(turn: Tap[NominateSelf]) -> None:
    nominated = await flow.nominate(turn.context.db, turn.who, turn.button.election,
                                    turn.who.user.id)
    await turn.answer()
    await _nominated(turn, nominated)


@tap(NominateOther)
async def nominate_other_tap(turn: Tap[NominateOther]) -> None:
    await flow.nominating(turn.context.db, turn.who, turn.button.election)
    await turn.answer()
    await NOMINEE.begin(turn, election=turn.button.election)


async def _check_nominee(filling: Filling, user_id: int) -> int:
    await flow.check_nominee(filling.context.db, filling.who, filling.ids["election"], user_id)
    return user_id


NOMINEE = Form("committee.nominee", [
    Field("nominee", N_("Type part of their name."), kind="member", check=_check_nominee),
])


@NOMINEE.finisher
async def nominee_found(filling: Filling) -> None:
    nominated = await flow.nominate(filling.context.db, filling.who, filling.ids["election"],
                                    filling.values["nominee"])
    await _nominated(filling.turn, nominated)


async def _nominated(turn: Turn[Member], nominated: flow.Nominated) -> None:
    """Say what a nomination led to; a nominee other than oneself is asked to accept."""
    t, who = turn.t, turn.who
    nominee, nomination = nominated.nominee, nominated.nomination
    if nominee.id == who.user.id:
        if nomination.status == "accepted":
            await turn.say(t._("You are already a candidate."))
            return
        await turn.say(*_invitation(t, nominated.election, nomination.id, None))
        return
    if not nominated.created:
        await turn.say(t._(flow.ALREADY_NOMINATED, name=isolate(nominee.display_name)))
        return
    await turn.say(t._("You nominated {name}. They will be asked to accept.",
                       name=isolate(nominee.display_name)))
    text, markup = _invitation(Translator(nominee.language, who.community.timezone),
                               nominated.election, nomination.id, who.user.display_name)
    await deliver(turn.context, nominee.id, text, reply_markup=markup)


def _invitation(t: Translator, election: flow.Election, nomination_id: int,
                by: str | None) -> tuple[str, InlineKeyboardMarkup | None]:
    first = (t._("{by} nominated you as a candidate for <b>{name}</b>.", by=isolate(by),
                 name=isolate(election.name)) if by else
             t._("You are nominating yourself for <b>{name}</b>.", name=isolate(election.name)))
    text = "\n".join([first, t._("Do you accept? You will choose your stakeholder group and"
                                 " write a short statement for voters.")])
    return text, keyboard([inline(t._("Accept"), Accept(nomination_id)),
                           inline(t._("Decline"), Decline(nomination_id))])


@tap(Accept)
async def accept_tap(turn: Tap[Accept]) -> None:
    await flow.own_nomination(turn.context.db, turn.who, turn.button.nomination)
    await turn.answer()
    await CANDIDACY.begin(turn, nomination=turn.button.nomination)


async def _group_options(filling: Filling) -> list[Option]:
    groups, mine = await flow.group_choices(filling.context.db, filling.who,
                                            filling.ids["nomination"])
    return [Option(g.key, ("✓ " if g.key == mine else "") + group_label(filling.t, g,
                                                                        html=False))
            for g in groups]


def _statement_prompt(t: Translator, _values: dict[str, Any]) -> str:
    return t._("Write a short statement for voters: who you are and what you will do"
               " (up to {n} characters).", n=flow.MAX_STATEMENT)


class Candidacy(Form):
    """Accepting a nomination: the group (whose question then says what was chosen), then
    the statement."""

    async def tapped(self, filling: Filling, field: Field, value: str) -> None:
        if field.key == "group" and isinstance(filling.turn, Tapped) and value in {
                option.value for option in await _group_options(filling)}:
            await filling.turn.edit(filling.t._("You represent: {group}",
                                                group=group_label(filling.t, value)))
        await super().tapped(filling, field, value)


CANDIDACY = Candidacy("committee.candidacy", [
    Field("group", N_("Which stakeholder group do you represent?"), kind="choice",
          options=_group_options),
    Field("statement", _statement_prompt, limit=flow.MAX_STATEMENT,
          parse=flow.check_statement),
])


@CANDIDACY.finisher
async def candidacy_done(filling: Filling) -> None:
    answered = await flow.accept(filling.context.db, filling.who, filling.ids["nomination"],
                                 filling.values["group"], filling.values["statement"])
    await filling.turn.say(filling.t._("Thank you: you are a candidate. Voters will see your"
                                       " group and statement."))
    await _tell_nominator(filling.context, filling.who, answered, accepted=True)


@tap(Decline)
async def decline_tap(turn: Tap[Decline]) -> None:
    answered = await flow.decline(turn.context.db, turn.who, turn.button.nomination)
    await turn.answer()
    await turn.edit(turn.t._("You declined the nomination."))
    await _tell_nominator(turn.context, turn.who, answered, accepted=False)


async def _tell_nominator(context: Context, who: Member, answered: flow.Answered, *,
                          accepted: bool) -> None:
    nominator = answered.nominator
    if nominator is None:
        return
    t = Translator(nominator.language, who.community.timezone)
    message = (N_("{name} accepted your nomination.") if accepted
               else N_("{name} declined your nomination."))
    await deliver(context, nominator.id, t._(message,
                                             name=isolate(answered.nominee.display_name)))


# -- the secret ballot -----------------------------------------------------------------------


def _ballot(t: Translator, ballot: flow.Ballot,
            number: int) -> tuple[str, InlineKeyboardMarkup | None]:
    election, chosen = ballot.election, ballot.chosen
    page = page_of(ballot.candidates, number, PAGE)
    lines = [
        t._("Ballot: <b>{name}</b>", name=isolate(election.name)),
        t.ngettext("Choose up to {n} candidate, then review and cast your vote.",
                   "Choose up to {n} candidates, then review and cast your vote.",
                   election.approvals),
        t._("Your ballot is secret: nobody can see whom you chose."),
        "",
    ]
    for nomination, user in page.items:
        mark = "☑" if nomination.id in chosen else "☐"
        lines.append(f"{mark} <b>{isolate(user.display_name)}</b> · "
                     f"{group_label(t, nomination.stakeholder_group)}")
        if nomination.statement:
            lines.append(f"    {isolate(nomination.statement)}")
    if page.pages > 1:
        lines += ["", t._("Page {page} of {pages}", page=page.number + 1, pages=page.pages)]
    rows = [[inline(f"{'☑' if n.id in chosen else '☐'} {short(u.display_name, 28)}",
                    Choose(election.id, n.id, page.number))] for n, u in page.items]
    rows.append(pager(t, page, lambda n: BallotPage(election.id, n)))
    rows.append([inline(t._("Review and cast ({chosen}/{n})", chosen=len(chosen),
                            n=election.approvals), Review(election.id))])
    return "\n".join(lines), keyboard(*rows)


@command("ballot")
async def ballot_command(turn: Said) -> None:
    ballot = await flow.current_ballot(turn.context.db, turn.who)
    await turn.say(*_ballot(turn.t, ballot, 0))


@tap(Vote)
async def vote_tap(turn: Tap[Vote]) -> None:
    """The announcement stays as it is; the ballot comes as a new message."""
    ballot = await flow.ballot(turn.context.db, turn.who, turn.button.election)
    await turn.answer()
    await turn.say(*_ballot(turn.t, ballot, 0))


@tap(BallotPage)
async def ballot_page_tap(turn: Tap[BallotPage]) -> None:
    ballot = await flow.ballot(turn.context.db, turn.who, turn.button.election)
    await turn.answer()
    await turn.edit(*_ballot(turn.t, ballot, turn.button.page))


@tap(Choose)
async def choose_tap(turn: Tap[Choose]) -> None:
    chosen = turn.button
    ballot = await flow.choose(turn.context.db, turn.who, chosen.election, chosen.nomination)
    await turn.answer()
    await turn.edit(*_ballot(turn.t, ballot, chosen.page))


@tap(Review)
async def review_tap(turn: Tap[Review]) -> None:
    t = turn.t
    ballot = await flow.ballot(turn.context.db, turn.who, turn.button.election)
    await turn.answer()
    eid = ballot.election.id
    names = [f"• {isolate(u.display_name)} · {group_label(t, n.stakeholder_group)}"
             for n, u in ballot.candidates if n.id in ballot.chosen]
    lines = [t._("Please check your ballot for <b>{name}</b>:",
                 name=isolate(ballot.election.name))]
    lines += names or [t._("You chose nobody: this is a blank ballot.")]
    lines += ["", t._("Casting is final and secret. Cast your vote now?")]
    await turn.edit("\n".join(lines), keyboard([inline(t._("Cast my vote"), Cast(eid)),
                                                inline(t._("Back"), BallotPage(eid, 0))]))


@tap(Cast)
async def cast_tap(turn: Tap[Cast]) -> None:
    t = turn.t
    await flow.cast(turn.context.db, turn.who, turn.button.election)
    await turn.answer(t._("Your vote is cast."))
    await turn.edit(t._("Your vote is cast. Thank you! The result is announced when voting"
                        " closes."))


# -- the committee and its working groups -----------------------------------------------------


@command("committee")
async def committee_command(turn: Said) -> None:
    cards = await flow.committees(turn.context.db, turn.who)
    if not cards:
        await turn.say(turn.t._("There is no committee yet."))
        return
    for card in cards:
        text, markup = _committee_card(turn.t, turn.who, card)
        for part in split_text(text):
            await turn.say(part, markup)


def _seat_reason(t: Translator, seat: str | None) -> str:
    if seat and seat.startswith("quota:"):
        return t._("seat for {group}", group=group_label(t, seat.split(":", 1)[1]))
    if seat == "general":
        return t._("seat by votes")
    return ""


def _committee_card(t: Translator, who: Actor,
                    card: flow.Card) -> tuple[str, InlineKeyboardMarkup | None]:
    committee = card.committee
    title = (t._("Committee: <b>{name}</b>", name=isolate(committee.name))
             if committee.parent_id is None else
             t._("Working group: <b>{name}</b>", name=isolate(committee.name)))
    lines = [title, t.ngettext("{n} member", "{n} members", len(card.members))]
    lines.append(t._("Linked group chat: yes") if committee.chat_id else
                 t._("Linked group chat: none"))
    lines.append("")
    for seat, user in card.members:
        how = {"elected": _seat_reason(t, seat.seat), "co-opted": t._("co-opted")}.get(
            seat.how, "")
        lines.append(f"• {isolate(user.display_name)}" + (f" — {how}" if how else ""))
    if not who.is_coordinator:
        return "\n".join(lines), None
    cid = committee.id
    second = [inline(t._("Link a group chat"), Link(cid))]
    if committee.parent_id is None:
        second.append(inline(t._("New working group"), WorkingGroup(cid)))
    return "\n".join(lines), keyboard(
        [inline(t._("Add a member") if committee.parent_id else t._("Co-opt a member"),
                Coopt(cid)),
         inline(t._("Remove a member"), Remove(cid))],
        second)


async def _post_to_chat(context: Context, who: Member, committee: flow.Committee,
                        message: str, **values: Any) -> None:
    """A notice in the committee's linked group chat, in the community's language."""
    if committee.chat_id is None:
        return
    community = who.community
    t = Translator(community.default_language, community.timezone)
    with contextlib.suppress(TelegramError):  # the bot was removed from the group
        await context.bot.send_message(committee.chat_id, t._(message, **values))


@tap(Coopt)
async def coopt_tap(turn: Tap[Coopt]) -> None:
    await flow.managed(turn.context.db, turn.who, turn.button.committee)
    await turn.answer()
    await NEWCOMER.begin(turn, committee=turn.button.committee)


async def _check_newcomer(filling: Filling, user_id: int) -> int:
    await flow.check_newcomer(filling.context.db, filling.who, filling.ids["committee"],
                              user_id)
    return user_id


NEWCOMER = Form("committee.newcomer", [
    Field("person", N_("Type part of their name."), kind="member", check=_check_newcomer),
], role="coordinator")


@NEWCOMER.finisher
async def newcomer_found(filling: Filling) -> None:
    committee, user = await flow.coopt(filling.context.db, filling.who,
                                       filling.ids["committee"], filling.values["person"])
    who = filling.who
    await filling.turn.say(filling.t._("{person} is now a member of {name}.",
                                       person=isolate(user.display_name),
                                       name=isolate(committee.name)))
    t = Translator(user.language, who.community.timezone)
    await deliver(filling.context, user.id, t._("You are now a member of {name}. /committee",
                                                name=isolate(committee.name)))
    await _post_to_chat(filling.context, who, committee,
                        N_("{person} is now a member of {name}."),
                        person=isolate(user.display_name), name=isolate(committee.name))


@tap(Remove)
async def remove_tap(turn: Tap[Remove]) -> None:
    card = await flow.removable(turn.context.db, turn.who, turn.button.committee)
    await turn.answer()
    committee = card.committee
    await turn.say(turn.t._("Whom do you remove from {name}?", name=isolate(committee.name)),
                   keyboard(*[[inline(short(u.display_name, 40), RemoveOne(committee.id, u.id))]
                              for _m, u in card.members]))


@tap(RemoveOne)
async def remove_one_tap(turn: Tap[RemoveOne]) -> None:
    chosen = turn.button
    await flow.sitting(turn.context.db, turn.who, chosen.committee, chosen.person)
    await turn.answer()
    await REMOVAL.begin(turn, committee=chosen.committee, person=chosen.person)


REMOVAL = Form("committee.removal", [
    Field("reason", N_("Why? The member will be told the reason."), limit=flow.MAX_STATEMENT,
          parse=flow.check_reason),
], role="coordinator")


@REMOVAL.finisher
async def removal_done(filling: Filling) -> None:
    who = filling.who
    committee, user, reason = await flow.remove(
        filling.context.db, who, filling.ids["committee"], filling.ids["person"],
        filling.values["reason"])
    await filling.turn.say(filling.t._("{person} was removed from {name}.",
                                       person=isolate(user.display_name),
                                       name=isolate(committee.name)))
    t = Translator(user.language, who.community.timezone)
    await deliver(filling.context, user.id, t._("You were removed from {name}. Reason: {reason}",
                                                name=isolate(committee.name),
                                                reason=isolate(reason)))
    await _post_to_chat(filling.context, who, committee, N_("{person} was removed from {name}."),
                        person=isolate(user.display_name), name=isolate(committee.name))


@tap(WorkingGroup)
async def working_group_tap(turn: Tap[WorkingGroup]) -> None:
    await flow.parent(turn.context.db, turn.who, turn.button.committee)
    await turn.answer()
    await GROUP_NAME.begin(turn, committee=turn.button.committee)


GROUP_NAME = Form("committee.workgroup", [
    Field("name", N_("Name of the working group:"), limit=flow.MAX_NAME),
], role="coordinator")


@GROUP_NAME.finisher
async def working_group_named(filling: Filling) -> None:
    card = await flow.create_working_group(filling.context.db, filling.who,
                                           filling.ids["committee"], filling.values["name"])
    await filling.turn.say(*_committee_card(filling.t, filling.who, card))


@tap(Link)
async def link_tap(turn: Tap[Link]) -> None:
    committee, code = await flow.link_code(turn.context.db, turn.who, turn.button.committee)
    await turn.answer()
    await turn.say(turn.t._(
        "Add me to the group chat of {name}, then send this there (it works once):",
        name=isolate(committee.name)) + f"\n\n<code>/link {code}</code>")


@command("link", role=None, chats=filters.ChatType.GROUPS | PRIVATE)
async def link_command(turn: Turn[Actor]) -> None:
    """``/link CODE`` in a group chat: the chat now receives the committee's messages."""
    chat = turn.update.effective_chat
    assert chat is not None
    linked = await flow.link_chat(turn.context.db, turn.args[0] if turn.args else "", chat.id,
                                  private=chat.type == "private")
    community = linked.community
    t = Translator(community.default_language, community.timezone)
    await turn.say(t._("This chat now receives the messages of {name}.",
                       name=isolate(linked.committee.name)))


# -- wiring --------------------------------------------------------------------------------


async def on_startup(app: MahfilApp) -> None:
    """Rebuild each running election's jobs (and the counts still to come); deadlines passed
    while down run now."""
    db = app.bot_data.db
    for election in await flow.running_elections(db) + await flow.waiting_count(db):
        _schedule(app, election)


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (
        election_command, setting_tap, label_tap, discard_tap, open_nominations_tap,
        remind_tap, open_voting_tap, count_tap, stop_tap, keep_voting_tap, reopen_tap,
        count_now_tap,
        nominate_command, nominate_tap, nominate_self_tap, nominate_other_tap, accept_tap,
        decline_tap,
        ballot_command, vote_tap, ballot_page_tap, choose_tap, review_tap, cast_tap,
        committee_command, coopt_tap, remove_tap, remove_one_tap, working_group_tap, link_tap,
        link_command,
    )])
