"""Prioritisation in chat: /prioritise (coordinators), /vote, /results, /paper, /standings.

Three methods from the seeds: stickers (each resident places a few stickers on the most
pressing problems), pairwise comparison, and the importance × urgency matrix. Every tap is
re-checked on the server (community, still open, known problem) before anything is written,
and answered only after it is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.actor import Actor, actor
from bot.app import Context
from bot.commands import Command
from bot.flows import voting as flow
from bot.flows.errors import Refused
from bot.flows.people import ONLY_COORDINATORS
from bot.flows.voting_book import StickerBook
from bot.handlers._common import (
    callback_ints,
    callback_parts,
    coordinator,
    edit_message,
    member,
    notify,
    refusals,
)
from bot.handlers._common import refuse as _refuse
from bot.handlers._common import say as _say
from bot.handlers._common import short as _short
from bot.i18n import N_, Translator, isolate
from bot.labels import group_label
from bot.messages import split_text
from storage import brainstorm as brainstorm_store
from storage import broadcast as outbox
from storage import community as community_store
from storage import voting as store
from storage.db import utcnow
from storage.voting import Prioritisation

log = logging.getLogger(__name__)

COMMANDS = [
    Command("vote", N_("Vote on the community's priorities"), "resident"),
    Command("results", N_("Results of the priority votes"), "resident"),
    Command("prioritise", N_("Open a priority vote"), "coordinator"),
    Command("paper", N_("Enter paper stickers from a meeting"), "coordinator"),
    Command("standings", N_("Post live standings that update themselves"), "coordinator"),
    Command("closevote", N_("Close a priority vote now"), "coordinator"),
]
GROUP_COMMANDS = ["standings"]

PAGE = 8
REMIND_BEFORE = timedelta(days=1)
STANDINGS_EVERY = 5.0  # seconds between edits of a live standings message (groups: 20/min)
TITLE, METHOD, PROBLEMS, BUDGET, STACKING, CLOSING, CONFIRM = range(7)
PAPER_COUNTS = 10
SETUP = "vote_setup"
PAPER = "vote_paper"

METHOD_LABELS = {
    "stickers": N_("Stickers"),
    "pairwise": N_("Pairwise comparison"),
    "matrix": N_("Priority matrix"),
}
NOT_AVAILABLE = N_("This vote is not available to you.")


# -- small helpers -------------------------------------------------------------------------


def _ints(parts: list[str]) -> list[int]:
    return callback_ints(parts, NOT_AVAILABLE)


def _dots(used: int, budget: int) -> str:
    return "●" * used + "○" * max(budget - used, 0)


def _closes(t: Translator, prioritisation: Prioritisation) -> str:
    if prioritisation.closes_at is None:
        return t._("Closes when a coordinator closes it.")
    return t._("Closes {when}.", when=t.datetime(prioritisation.closes_at))



async def _mine(who: Actor, context: Context, pid: int) -> Prioritisation:
    """The prioritisation a button or command names, if it is in this person's community."""
    prioritisation = await store.get(context.db, pid)
    if prioritisation is None or who.community is None or (
        prioritisation.community_id != who.community.id
    ):
        raise Refused(NOT_AVAILABLE)
    return prioritisation


# -- ballots -------------------------------------------------------------------------------


async def _sticker_ballot(who: Actor, context: Context, prioritisation: Prioritisation,
                          page: int) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    problems = await _book(context).problems(prioritisation.id)
    mine = await _book(context).mine(prioritisation.id, who.user.id)
    used = sum(mine.values())
    pages = max(1, -(-len(problems) // PAGE))
    page = min(max(page, 0), pages - 1)
    shown = problems[page * PAGE:(page + 1) * PAGE]
    left = prioritisation.stickers - used
    lines = [
        f"<b>{isolate(prioritisation.title)}</b>",
        t.ngettext("Place your {n} sticker on the most pressing problem.",
                   "Place your {n} stickers on the most pressing problems.",
                   prioritisation.stickers),
        t._("Tap a problem to place a sticker; tap it again to take the sticker back.")
        if not prioritisation.allow_stacking
        else t._("Tap a problem to place a sticker (several may go on one); − takes one back."),
        "",
        t._("Your stickers: {dots}", dots=_dots(used, prioritisation.stickers))
        + " " + t.ngettext("({n} left)", "({n} left)", left),
        "",
    ]
    for problem in shown:
        marks = "●" * mine.get(problem.id, 0)
        lines.append(f"{t.num(problem.position)}. {isolate(problem.title)} {marks}".rstrip())
    lines += ["", _closes(t, prioritisation)]
    rows: list[list[InlineKeyboardButton]] = []
    for problem in shown:
        count = mine.get(problem.id, 0)
        label = f"{'●' * count or '○'} {t.num(problem.position)}. {_short(problem.title)}"
        row = [InlineKeyboardButton(
            label, callback_data=f"vote:st:{prioritisation.id}:{problem.id}:{page}")]
        if prioritisation.allow_stacking and count:
            row.append(InlineKeyboardButton(
                "−", callback_data=f"vote:un:{prioritisation.id}:{problem.id}:{page}"))
        rows.append(row)
    if pages > 1:
        nav = []
        if page > 0:
            nav.append(InlineKeyboardButton(
                t._("‹ Back"), callback_data=f"vote:pg:{prioritisation.id}:{page - 1}"))
        nav.append(InlineKeyboardButton(
            f"{t.num(page + 1)}/{t.num(pages)}",
            callback_data=f"vote:pg:{prioritisation.id}:{page}"))
        if page < pages - 1:
            nav.append(InlineKeyboardButton(
                t._("Next ›"), callback_data=f"vote:pg:{prioritisation.id}:{page + 1}"))
        rows.append(nav)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _pairwise_ballot(who: Actor, context: Context, prioritisation: Prioritisation,
                           ) -> tuple[str, InlineKeyboardMarkup | None]:
    t = who.t
    problems = await store.problems(context.db, prioritisation.id)
    by_id = {p.id: p for p in problems}
    done = await store.compared_by(context.db, prioritisation.id, who.user.id)
    wanted = flow.pairs_per_voter(len(problems))
    header = f"<b>{isolate(prioritisation.title)}</b>"
    if len(done) >= wanted:
        return "\n".join([header, t._("Thank you! You have compared all your pairs."),
                          _closes(t, prioritisation)]), None
    counts: Counter[tuple[int, int]] = Counter(
        (a, b) for a, b, _w in await store.comparisons(context.db, prioritisation.id)
    )
    pair = flow.next_pair(list(by_id), counts, done)
    if pair is None:
        return "\n".join([header, t._("Thank you! You have compared all your pairs.")]), None
    a, b = (by_id[pair[0]], by_id[pair[1]])
    text = "\n".join([
        header,
        t._("Which problem is more pressing?"),
        "",
        f"🅰 {isolate(a.title)}",
        f"🅱 {isolate(b.title)}",
        "",
        t._("Pair {number} of {total}", number=len(done) + 1, total=wanted),
    ])
    base = f"vote:pw:{prioritisation.id}:{a.id}:{b.id}"
    keyboard = InlineKeyboardMarkup([
        [InlineKeyboardButton(f"🅰 {_short(a.title, 28)}", callback_data=f"{base}:{a.id}"),
         InlineKeyboardButton(f"🅱 {_short(b.title, 28)}", callback_data=f"{base}:{b.id}")],
        [InlineKeyboardButton(t._("Can't decide"), callback_data=f"{base}:0")],
    ])
    return text, keyboard


async def _matrix_ballot(who: Actor, context: Context, prioritisation: Prioritisation,
                         index: int | None = None) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    problems = await store.problems(context.db, prioritisation.id)
    rated = await store.my_ratings(context.db, prioritisation.id, who.user.id)
    complete = sum(1 for p in problems if None not in rated.get(p.id, (None, None)))
    if index is None:
        index = next((i for i, p in enumerate(problems)
                      if None in rated.get(p.id, (None, None))), 0)
    index = min(max(index, 0), len(problems) - 1)
    problem = problems[index]
    importance, urgency = rated.get(problem.id, (None, None))
    lines = [
        f"<b>{isolate(prioritisation.title)}</b>",
        t._("Problem {number} of {total}:", number=index + 1, total=len(problems)),
        f"<b>{isolate(problem.title)}</b>",
        "",
        t._("Importance: how much does it matter? Urgency: how soon must it be solved?"
            " (1 low, 3 high)"),
        t._("Rated: {done} of {total}", done=complete, total=len(problems)),
    ]
    if complete == len(problems):
        lines.append(t._("All problems are rated. Thank you! You can change a rating until"
                         " the vote closes."))
    base = f"vote:mx:{prioritisation.id}:{problem.id}:{index}"

    def row(kind: str, label: str, chosen: int | None) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton(label, callback_data=f"vote:noop:{prioritisation.id}")] + [
            InlineKeyboardButton(("✓" if chosen == v else "") + t.num(v),
                                 callback_data=f"{base}:{kind}{v}")
            for v in (1, 2, 3)
        ]

    nav = []
    if index > 0:
        nav.append(InlineKeyboardButton(
            t._("‹ Back"), callback_data=f"vote:mxp:{prioritisation.id}:{index - 1}"))
    if index < len(problems) - 1:
        nav.append(InlineKeyboardButton(
            t._("Next ›"), callback_data=f"vote:mxp:{prioritisation.id}:{index + 1}"))
    rows = [row("i", t._("Importance"), importance), row("u", t._("Urgency"), urgency)]
    if nav:
        rows.append(nav)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _ballot(who: Actor, context: Context, prioritisation: Prioritisation,
                  ) -> tuple[str, InlineKeyboardMarkup | None]:
    if prioritisation.method == "stickers":
        return await _sticker_ballot(who, context, prioritisation, 0)
    if prioritisation.method == "pairwise":
        return await _pairwise_ballot(who, context, prioritisation)
    return await _matrix_ballot(who, context, prioritisation)


def _edit_later(update: Update, context: Context,
                render: Callable[[], Awaitable[tuple[str, InlineKeyboardMarkup | None]]]) -> None:
    """Re-renders the tapped ballot in the background, newest state only (see LatestOnly).

    The tap is already answered; the edit waits its turn behind the rate limiter, so a vote
    burst is not slowed down to the pace of message edits.
    """
    query = update.callback_query
    assert query is not None and query.message is not None
    chat_id, message_id = query.message.chat.id, query.message.message_id

    async def job() -> None:
        text, markup = await render()
        params: dict[str, object] = {"chat_id": chat_id, "message_id": message_id,
                                     "text": text, "parse_mode": ParseMode.HTML,
                                     "link_preview_options": {"is_disabled": True}}
        if markup is not None:
            params["reply_markup"] = markup
        with contextlib.suppress(BadRequest):  # "message is not modified"
            # The raw call: the edited message is not parsed back into a Message object,
            # thousands of which a vote burst would otherwise build and drop.
            await context.bot.do_api_request("editMessageText", api_kwargs=params)

    context.bot_data.latest_only.submit(("ballot", chat_id, message_id), job)



# -- resident commands and taps ------------------------------------------------------------


@refusals
async def vote_command(update: Update, context: Context) -> None:
    who = await member(update, context)
    assert who.community is not None
    open_ = await store.list_for(context.db, who.community.id, status="open")
    if not open_:
        await _say(update, who.t._("There is no open vote right now."))
        return
    if len(open_) == 1:
        text, markup = await _ballot(who, context, open_[0])
        await _say(update, text, reply_markup=markup)
        return
    await _say(update, who.t._("Which vote?"), reply_markup=InlineKeyboardMarkup([
        [InlineKeyboardButton(_short(p.title, 60), callback_data=f"vote:open:{p.id}")]
        for p in open_
    ]))


@refusals
async def open_ballot(update: Update, context: Context) -> None:
    """The announcement's "Vote now" button, or a choice from /vote."""
    who = await member(update, context)
    (pid,) = _ints(callback_parts(update)[2:3])
    prioritisation = await _mine(who, context, pid)
    if not prioritisation.is_open:
        raise Refused(N_("This vote has closed; changes are no longer possible."))
    assert update.callback_query is not None
    await update.callback_query.answer()
    text, markup = await _ballot(who, context, prioritisation)
    await _say(update, text, reply_markup=markup)


def _changed(context: Context, pid: int) -> None:
    """Marks live standings for an edit on the next tick (never one edit per tap)."""
    context.bot_data.standings_dirty.add(pid)


def _book(context: Context) -> StickerBook:
    return context.bot_data.stickers


@refusals
async def sticker_tap(update: Update, context: Context) -> None:
    """Place or take back a sticker: answered once committed, the ballot edited after."""
    who = await member(update, context)
    assert update.callback_query is not None and who.community is not None
    parts = callback_parts(update)
    t = who.t
    pid, problem_id, page = _ints(parts[2:5])
    group = who.membership.stakeholder_group if who.membership else None
    prioritisation, left = await _book(context).tap(
        pid, who.community.id, problem_id, who.user.id, group, remove=parts[1] == "un"
    )
    await update.callback_query.answer(
        t.ngettext("{n} sticker left", "{n} stickers left", left)
    )
    _changed(context, pid)
    _edit_later(update, context, lambda: _sticker_ballot(who, context, prioritisation, page))


@refusals
async def sticker_page(update: Update, context: Context) -> None:
    who = await member(update, context)
    assert update.callback_query is not None
    pid, page = _ints(callback_parts(update)[2:4])
    prioritisation = await _mine(who, context, pid)
    await update.callback_query.answer()
    text, markup = await _sticker_ballot(who, context, prioritisation, page)
    await edit_message(update, text, markup)


@refusals
async def pairwise_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    assert update.callback_query is not None
    t = who.t
    try:
        pid, a_id, b_id, winner = _ints(callback_parts(update)[2:6])
        await _mine(who, context, pid)
        prioritisation, _a = await flow.open_problem(context.db, pid, a_id, who.community.id)
        await flow.open_problem(context.db, pid, b_id, who.community.id)
        if a_id == b_id or winner not in (0, a_id, b_id):
            raise Refused(NOT_AVAILABLE)
        group = who.membership.stakeholder_group if who.membership else None
        await store.record_comparison(context.db, pid, who.user.id, a_id, b_id,
                                      winner or None, group)
    except Refused as refused:
        await _refuse(update, t, refused.message, **refused.values)
        return
    except store.VoteRejected:
        await _refuse(update, t, N_("This vote has closed; changes are no longer possible."))
        return
    await update.callback_query.answer(t._("Saved."))
    _changed(context, pid)
    text, markup = await _pairwise_ballot(who, context, prioritisation)
    await edit_message(update, text, markup)


@refusals
async def matrix_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    assert update.callback_query is not None
    t = who.t
    parts = callback_parts(update)
    try:
        pid, problem_id, index = _ints(parts[2:5])
        choice = parts[5] if len(parts) > 5 else ""
        if len(choice) != 2 or choice[0] not in "iu" or choice[1] not in "123":
            raise Refused(NOT_AVAILABLE)
        await _mine(who, context, pid)
        prioritisation, _problem = await flow.open_problem(
            context.db, pid, problem_id, who.community.id
        )
        value = int(choice[1])
        group = who.membership.stakeholder_group if who.membership else None
        await store.rate(context.db, pid, who.user.id, problem_id,
                         importance=value if choice[0] == "i" else None,
                         urgency=value if choice[0] == "u" else None, group=group)
    except Refused as refused:
        await _refuse(update, t, refused.message, **refused.values)
        return
    except store.VoteRejected:
        await _refuse(update, t, N_("This vote has closed; changes are no longer possible."))
        return
    await update.callback_query.answer(t._("Saved."))
    _changed(context, pid)
    rated = await store.my_ratings(context.db, pid, who.user.id)
    if None not in rated.get(problem_id, (None, None)):
        problems = await store.problems(context.db, pid)
        # Both values given: move on to the next problem still to rate, if any.
        index = next((i for i, p in enumerate(problems)
                      if None in rated.get(p.id, (None, None))), index)
    text, markup = await _matrix_ballot(who, context, prioritisation, index)
    await edit_message(update, text, markup)


@refusals
async def matrix_page(update: Update, context: Context) -> None:
    who = await member(update, context)
    assert update.callback_query is not None
    pid, index = _ints(callback_parts(update)[2:4])
    prioritisation = await _mine(who, context, pid)
    await update.callback_query.answer()
    text, markup = await _matrix_ballot(who, context, prioritisation, index)
    await edit_message(update, text, markup)


@refusals
async def noop(update: Update, context: Context) -> None:
    """A label-only button (e.g. "Importance"): answered, nothing changes."""
    who = await actor(update, context)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("Tap one of the numbers."))


# -- results -------------------------------------------------------------------------------


def _score_text(t: Translator, method: str, standing: flow.Standing) -> str:
    if method == "stickers":
        text = t.ngettext("{n} sticker", "{n} stickers", int(standing.score))
        if standing.offline:
            text += " " + t._("({online} in chat + {offline} on paper)",
                              online=standing.online, offline=standing.offline)
        return text
    if method == "pairwise":
        return t._("{share}% of the preference", share=t.num(standing.score, decimals=1))
    return t._("mean score {score} of 5", score=t.num(standing.score, decimals=2))


async def results_text(t: Translator, context: Context, prioritisation: Prioritisation,
                       ) -> tuple[str, flow.Outcome]:
    db = context.db
    outcome = await flow.outcome(db, prioritisation)
    counts = await community_store.member_counts(db, prioritisation.community_id)
    groups = await community_store.stakeholder_groups(db, prioritisation.community_id)
    taking_part = await store.participation_by_group(db, prioritisation)
    head = (t._("Results: {title}", title=isolate(prioritisation.title)) if not
            prioritisation.is_open else
            t._("Standings so far: {title}", title=isolate(prioritisation.title)))
    method = t._(METHOD_LABELS[prioritisation.method])
    lines = [f"<b>{head}</b>", t._("Method: {method}", method=method), ""]
    total = counts["total"]
    lines.append(t.ngettext(
        "{n} member took part, of {members} ({percent}).",
        "{n} members took part, of {members} ({percent}).",
        outcome.voters, members=total,
        percent=t.percent(outcome.voters / total if total else 0),
    ))
    lines.append("")
    top = max((s.score for s in outcome.standings), default=0)
    for standing in outcome.standings:
        lines.append(
            f"{t.num(standing.rank)}. {isolate(standing.problem.title)}\n"
            f"    {flow.bar(standing.score, top)} {_score_text(t, prioritisation.method, standing)}"
        )
    lines.append("")
    if not outcome.winners:
        lines.append(t._("No votes yet."))
    elif len(outcome.winners) == 1:
        winner = isolate(outcome.winners[0].title)
        lines.append(t._("The community's priority: <b>{problem}</b>.", problem=winner)
                     if not prioritisation.is_open
                     else t._("In the lead: <b>{problem}</b>.", problem=winner))
    else:
        names = "، ".join if t.lang == "fa" else ", ".join
        lines.append(t._(
            "Tie for first place: {problems} have the same score. The coordinators decide"
            " between them, for example with a pairwise vote on just these problems.",
            problems=names(isolate(p.title) for p in outcome.winners),
        ))
    if any(s.offline for s in outcome.standings):
        online = flow.sticker_outcome([s.problem for s in outcome.standings],
                                      {s.problem.id: s.online for s in outcome.standings},
                                      outcome.voters, include_offline=False)
        lines += ["", t._("Ranking from chat stickers only:")]
        lines += [f"{t.num(s.rank)}. {isolate(s.problem.title)} — "
                  f"{t.ngettext('{n} sticker', '{n} stickers', int(s.score))}"
                  for s in online.standings]
    lines += ["", t._("Participation by group (voters / members):")]
    for group in groups:
        members = counts["by_group"].get(group.key, 0)
        voters = taking_part.get(group.key, 0)
        if members or voters:
            lines.append(f"• {group_label(t, group)}: {t.num(voters)} / {t.num(members)}")
    return "\n".join(lines), outcome


async def _send_results(bot: Any, chat_id: int, t: Translator, context: Context,
                        prioritisation: Prioritisation) -> None:
    text, outcome = await results_text(t, context, prioritisation)
    for part in split_text(text):
        await bot.send_message(chat_id, part)
    if outcome.voters or any(s.offline for s in outcome.standings):
        chart = await asyncio.to_thread(_chart, t, prioritisation, outcome)
        await bot.send_photo(chat_id, chart, caption=t._("Results chart"))


def _chart(t: Translator, prioritisation: Prioritisation, outcome: flow.Outcome) -> bytes:
    from bot.flows.voting_chart import bar_chart

    return bar_chart(
        prioritisation.title,
        [s.problem.title for s in outcome.standings],
        [s.score for s in outcome.standings],
        rtl=t.rtl,
        value_labels=[t.num(round(s.score, 2)) for s in outcome.standings],
    )


@refusals
async def results_command(update: Update, context: Context) -> None:
    who = await member(update, context)
    assert who.community is not None
    every = await store.list_for(context.db, who.community.id)
    visible = [p for p in every if not p.is_open or who.is_coordinator]
    if not visible:
        await _say(update, who.t._("No results yet: votes show results when they close."))
        return
    if len(visible) == 1:
        assert update.effective_chat is not None
        await _send_results(context.bot, update.effective_chat.id, who.t, context, visible[0])
        return
    await _say(update, who.t._("Results of which vote?"), reply_markup=InlineKeyboardMarkup([
        [InlineKeyboardButton(_short(p.title, 60), callback_data=f"vote:res:{p.id}")]
        for p in visible[:20]
    ]))


@refusals
async def results_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    assert update.callback_query is not None and update.effective_chat is not None
    (pid,) = _ints(callback_parts(update)[2:3])
    prioritisation = await _mine(who, context, pid)
    if prioritisation.is_open and not who.is_coordinator:
        raise Refused(N_("Results are shown when the vote closes."))
    await update.callback_query.answer()
    await _send_results(context.bot, update.effective_chat.id, who.t, context, prioritisation)


# -- live standings ------------------------------------------------------------------------


@refusals
async def standings_command(update: Update, context: Context) -> None:
    """Posts standings that the bot keeps up to date (private chat or a group)."""
    who = await actor(update, context)
    if who.community is None or not who.is_coordinator:
        await _refuse(update, who.t, ONLY_COORDINATORS)
        return
    open_ = await store.list_for(context.db, who.community.id, status="open")
    if not open_:
        await _say(update, who.t._("There is no open vote right now."))
        return
    prioritisation = open_[0]
    community = who.community
    t = Translator(community.default_language, community.timezone)
    if update.effective_chat is not None and update.effective_chat.type == "private":
        t = who.t
    text, _ = await results_text(t, context, prioritisation)
    message = await _say(update, split_text(text)[0])
    await store.add_standings_message(context.db, prioritisation.id, message.chat_id,
                                      message.message_id)
    context.bot_data.standings_lang[
        f"{message.chat_id}:{message.message_id}"] = t.lang


async def refresh_standings(context: Context) -> None:
    """Job: edits live standings of votes that changed, at most once per tick per message."""
    dirty = context.bot_data.standings_dirty
    if not dirty:
        return
    pids = list(dirty)
    dirty.clear()
    languages = context.bot_data.standings_lang
    for pid in pids:
        prioritisation = await store.get(context.db, pid)
        if prioritisation is None:
            continue
        community = await community_store.get_community(context.db, prioritisation.community_id)
        assert community is not None
        for chat_id, message_id in await store.standings_messages(context.db, pid):
            lang = languages.get(f"{chat_id}:{message_id}", community.default_language)
            t = Translator(lang, community.timezone)
            text, _ = await results_text(t, context, prioritisation)
            try:
                await context.bot.edit_message_text(split_text(text)[0], chat_id, message_id)
            except BadRequest as error:
                if "not modified" not in str(error).lower():
                    await store.drop_standings_message(context.db, chat_id, message_id)
            except Forbidden:
                await store.drop_standings_message(context.db, chat_id, message_id)


# -- coordinators: opening a vote ----------------------------------------------------------



@refusals
async def setup_start(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    assert context.user_data is not None
    context.user_data[SETUP] = {"community": who.community.id}
    await _say(update, who.t._("New priority vote. What is it about? Send a short title"
                               " (or /cancel)."))
    return TITLE


@refusals
async def setup_title(update: Update, context: Context) -> int:
    who = await actor(update, context)
    t = who.t
    try:
        title = flow.parse_title(update.effective_message.text or "")  # type: ignore[union-attr]
    except Refused as refused:
        await _say(update, t._(refused.message, **refused.values))
        return TITLE
    context.user_data[SETUP]["title"] = title  # type: ignore[index]
    await _say(update, t._("Which method?"), reply_markup=InlineKeyboardMarkup([
        [InlineKeyboardButton(t._(label), callback_data=f"vset:m:{key}")]
        for key, label in METHOD_LABELS.items()
    ]))
    return METHOD


@refusals
async def setup_method(update: Update, context: Context) -> int:
    who = await actor(update, context)
    t = who.t
    query = update.callback_query
    assert query is not None
    method = callback_parts(update)[2]
    if method not in METHOD_LABELS:
        await query.answer(t._("This button no longer works."), show_alert=True)
        return METHOD
    await query.answer()
    context.user_data[SETUP]["method"] = method  # type: ignore[index]
    await query.edit_message_text(t._("Method: {method}", method=t._(METHOD_LABELS[method])))
    shortlist = await _shortlist(context, who)
    await _say(update, t._("Send the problems, one per line (2 to {limit}).",
                           limit=flow.MAX_PROBLEMS),
               reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(
                   t.ngettext("Use the brainstorm shortlist ({n} problem)",
                              "Use the brainstorm shortlist ({n} problems)", len(shortlist)),
                   callback_data="vset:short")]]) if len(shortlist) >= 2 else None)
    return PROBLEMS


async def _shortlist(context: Context, who: Actor) -> list[str]:
    """The shortlisted problem cards of the community's latest brainstorm, best supported
    first: step 1's brainstorm feeds step 1's prioritisation."""
    if who.community is None:
        return []
    brainstorm = await brainstorm_store.latest_round(context.db, who.community.id)
    if brainstorm is None:
        return []
    return [card.text for card in await brainstorm_store.cards(
        context.db, brainstorm.id, shortlisted=True)][:flow.MAX_PROBLEMS]


@refusals
async def setup_shortlist(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    problems = await _shortlist(context, who)
    if len(problems) < 2:
        raise Refused(NOT_AVAILABLE)
    assert update.callback_query is not None
    await update.callback_query.answer()
    await edit_message(update, "\n".join(f"• {isolate(p)}" for p in problems), None)
    return await _after_problems(update, context, who.t, problems)


@refusals
async def setup_problems(update: Update, context: Context) -> int:
    who = await actor(update, context)
    t = who.t
    try:
        problems = flow.parse_problems(update.effective_message.text or "")  # type: ignore[union-attr]
    except Refused as refused:
        await _say(update, t._(refused.message, **refused.values))
        return PROBLEMS
    return await _after_problems(update, context, t, problems)


async def _after_problems(update: Update, context: Context, t: Translator,
                          problems: list[str]) -> int:
    setup = context.user_data[SETUP]  # type: ignore[index]
    setup["problems"] = problems
    if setup["method"] != "stickers":
        return await _ask_closing(update, t)
    await _say(update, t._("How many stickers does each resident get?"),
               reply_markup=InlineKeyboardMarkup([[
                   InlineKeyboardButton(t.num(n) + (" ✓" if n == 3 else ""),
                                        callback_data=f"vset:b:{n}")
                   for n in range(1, 6)
               ]]))
    return BUDGET


@refusals
async def setup_budget(update: Update, context: Context) -> int:
    who = await actor(update, context)
    t = who.t
    query = update.callback_query
    assert query is not None
    try:
        (budget,) = _ints(callback_parts(update)[2:3])
        if not 1 <= budget <= flow.MAX_STICKERS:
            raise Refused(NOT_AVAILABLE)
    except Refused:
        await query.answer(t._("This button no longer works."), show_alert=True)
        return BUDGET
    await query.answer()
    context.user_data[SETUP]["stickers"] = budget  # type: ignore[index]
    await query.edit_message_text(t.ngettext("{n} sticker per resident.",
                                             "{n} stickers per resident.", budget))
    await _say(update, t._("May a resident put several stickers on one problem?"),
               reply_markup=InlineKeyboardMarkup([[
                   InlineKeyboardButton(t._("No, one per problem"), callback_data="vset:s:0"),
                   InlineKeyboardButton(t._("Yes"), callback_data="vset:s:1"),
               ]]))
    return STACKING


@refusals
async def setup_stacking(update: Update, context: Context) -> int:
    who = await actor(update, context)
    t = who.t
    query = update.callback_query
    assert query is not None
    value = callback_parts(update)[2]
    if value not in ("0", "1"):
        await query.answer(t._("This button no longer works."), show_alert=True)
        return STACKING
    await query.answer()
    context.user_data[SETUP]["stacking"] = value == "1"  # type: ignore[index]
    await query.edit_message_text(
        t._("Several stickers may go on one problem.") if value == "1"
        else t._("One sticker per problem."))
    return await _ask_closing(update, t)


async def _ask_closing(update: Update, t: Translator) -> int:
    await _say(update, t._("When does the vote close? Choose, or send a time as {format}.",
                           format=flow.DEADLINE_FORMAT), reply_markup=InlineKeyboardMarkup([
        [InlineKeyboardButton(t.ngettext("In {n} day", "In {n} days", n),
                              callback_data=f"vset:c:{n}") for n in (1, 3, 7)],
        [InlineKeyboardButton(t._("When I close it"), callback_data="vset:c:0")],
    ]))
    return CLOSING


@refusals
async def setup_closing_tap(update: Update, context: Context) -> int:
    who = await actor(update, context)
    t = who.t
    query = update.callback_query
    assert query is not None
    try:
        (days,) = _ints(callback_parts(update)[2:3])
        if days not in (0, 1, 3, 7):
            raise Refused(NOT_AVAILABLE)
    except Refused:
        await query.answer(t._("This button no longer works."), show_alert=True)
        return CLOSING
    await query.answer()
    closes = flow.deadline_in(days) if days else None
    context.user_data[SETUP]["closes"] = closes.isoformat() if closes else None  # type: ignore[index]
    return await _preview(update, context, who)


@refusals
async def setup_closing_text(update: Update, context: Context) -> int:
    who = await actor(update, context)
    t = who.t
    try:
        closes = flow.parse_deadline(
            update.effective_message.text or "", t.tz.key,  # type: ignore[union-attr, attr-defined]
            persian=t.lang == "fa",
        )
    except Refused as refused:
        await _say(update, t._(refused.message, **refused.values))
        return CLOSING
    context.user_data[SETUP]["closes"] = closes.isoformat()  # type: ignore[index]
    return await _preview(update, context, who)


async def _preview(update: Update, context: Context, who: Actor) -> int:
    t = who.t
    setup = context.user_data[SETUP]  # type: ignore[index]
    lines = [
        t._("Preview:"),
        f"<b>{isolate(setup['title'])}</b>",
        t._("Method: {method}", method=t._(METHOD_LABELS[str(setup.get("method"))])),
    ]
    if setup["method"] == "stickers":
        lines.append(t.ngettext("{n} sticker per resident.", "{n} stickers per resident.",
                                setup["stickers"]))
    closes = setup.get("closes")
    lines.append(t._("Closes {when}.", when=t.datetime(datetime.fromisoformat(closes)))
                 if closes else t._("Closes when a coordinator closes it."))
    lines.append("")
    lines += [f"{t.num(i)}. {isolate(p)}" for i, p in enumerate(setup["problems"], 1)]
    await _say(update, "\n".join(lines), reply_markup=InlineKeyboardMarkup([[
        InlineKeyboardButton(t._("Open the vote"), callback_data="vset:go"),
        InlineKeyboardButton(t._("Cancel"), callback_data="vset:no"),
    ]]))
    return CONFIRM


@refusals
async def setup_confirm(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    query = update.callback_query
    assert query is not None
    t = who.t
    setup = context.user_data.pop(SETUP, None)  # type: ignore[union-attr]
    if setup is None or setup.get("community") != who.community.id:
        await query.answer(t._("This button no longer works."), show_alert=True)
        return ConversationHandler.END
    if callback_parts(update)[1] == "no":
        await query.answer()
        await query.edit_message_text(t._("Cancelled. Nothing was opened."))
        return ConversationHandler.END
    closes = setup.get("closes")
    prioritisation = await store.create(
        context.db, who.community.id, title=setup["title"], method=setup["method"],
        problems=setup["problems"], stickers=setup.get("stickers", 3),
        allow_stacking=setup.get("stacking", False),
        closes_at=datetime.fromisoformat(closes) if closes else None, created_by=who.user.id,
    )
    await query.answer()
    await query.edit_message_reply_markup(None)
    _schedule_close(context.application, prioritisation)
    recipients = await community_store.members(context.db, who.community.id)
    await _say(update, t.ngettext(
        "The vote is open. Announcing it to {n} member…",
        "The vote is open. Announcing it to {n} members…", len(recipients)))
    await _announce(context.application, prioritisation)
    _schedule_reminder(context.application, prioritisation)
    return ConversationHandler.END


def _vote_button(t: Translator, prioritisation: Prioritisation) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        t._("Vote now"), callback_data=f"vote:open:{prioritisation.id}")]])


async def _announce(app: Application, prioritisation: Prioritisation) -> None:  # type: ignore[type-arg]
    """Tells every member where to vote, through the outbox (paced, and never lost)."""
    db = app.bot_data.db
    community = await community_store.get_community(db, prioritisation.community_id)
    assert community is not None

    def render(t: Translator, _user: object) -> tuple[str, InlineKeyboardMarkup]:
        return "\n".join([
            t._("New priority vote in {community}: <b>{title}</b>",
                community=isolate(community.name), title=isolate(prioritisation.title)),
            t._("Method: {method}", method=t._(METHOD_LABELS[prioritisation.method])),
            _closes(t, prioritisation),
        ]), _vote_button(t, prioritisation)

    members = [u for _m, u in await community_store.members(db, community.id)]
    await notify(app, community, members, render, key=f"vote-open:{prioritisation.id}")


def _reminder_time(prioritisation: Prioritisation) -> datetime | None:
    """A day before closing; for a vote shorter than two days, half-way through."""
    if prioritisation.closes_at is None:
        return None
    lead = min(REMIND_BEFORE, (prioritisation.closes_at - prioritisation.created_at) / 2)
    return prioritisation.closes_at - lead


def _schedule_reminder(app: Application, prioritisation: Prioritisation) -> None:  # type: ignore[type-arg]
    when = _reminder_time(prioritisation)
    if when is None or app.job_queue is None or (
        prioritisation.closes_at is not None and prioritisation.closes_at <= utcnow()
    ):
        return
    name = f"vote-remind-{prioritisation.id}"
    for job in app.job_queue.get_jobs_by_name(name):
        job.schedule_removal()
    app.job_queue.run_once(_remind_job, when=max(when, utcnow() + timedelta(seconds=0.1)),
                           data=prioritisation.id, name=name)


async def _remind_job(context: Context) -> None:
    """Reminds members who have not voted yet (once each, also across restarts)."""
    assert context.job is not None and isinstance(context.job.data, int)
    prioritisation = await store.get(context.db, context.job.data)
    if prioritisation is None or not prioritisation.is_open or (
        prioritisation.closes_at is not None and prioritisation.closes_at <= utcnow()
    ):
        return
    community = await community_store.get_community(context.db, prioritisation.community_id)
    assert community is not None
    done = set(await store.participants(context.db, prioritisation))
    waiting = [u for _m, u in await community_store.members(context.db, community.id)
               if u.id not in done]

    closes = prioritisation.closes_at
    assert closes is not None

    def render(t: Translator, _user: object) -> tuple[str, InlineKeyboardMarkup]:
        text = t._("Reminder: the vote <b>{title}</b> closes {when}, and you have not voted"
                   " yet.", title=isolate(prioritisation.title), when=t.datetime(closes))
        return text, _vote_button(t, prioritisation)

    await notify(context.application, community, waiting, render,
                 key=f"vote-remind:{prioritisation.id}")


@refusals
async def setup_tap_a_button(update: Update, context: Context) -> None:
    who = await actor(update, context)
    await _say(update, who.t._("Please tap one of the buttons above."))


@refusals
async def setup_cancel(update: Update, context: Context) -> int:
    who = await actor(update, context)
    if context.user_data is not None:
        context.user_data.pop(SETUP, None)
        context.user_data.pop(PAPER, None)
    await _say(update, who.t._("Stopped. Nothing was changed."))
    return ConversationHandler.END


# -- closing -------------------------------------------------------------------------------


def _schedule_close(app: Application, prioritisation: Prioritisation) -> None:  # type: ignore[type-arg]
    if prioritisation.closes_at is None or app.job_queue is None:
        return
    name = f"vote-close-{prioritisation.id}"
    for job in app.job_queue.get_jobs_by_name(name):
        job.schedule_removal()
    when = max(prioritisation.closes_at, utcnow() + timedelta(seconds=0.1))
    app.job_queue.run_once(_close_job, when=when, data=prioritisation.id, name=name)


async def _close_job(context: Context) -> None:
    assert context.job is not None and isinstance(context.job.data, int)
    await close_and_announce(context, context.job.data)


async def close_and_announce(context: Context, pid: int) -> None:
    """Closes once; participants and coordinators receive the result in their language.

    The result and its chart go through the outbox (a restart loses none and repeats none),
    rendered once per language; the chart is uploaded once per language.
    """
    if not await store.close(context.db, pid):
        return
    _book(context).forget(pid)
    prioritisation = await store.get(context.db, pid)
    assert prioritisation is not None
    context.bot_data.standings_dirty.add(pid)
    community = await community_store.get_community(context.db, prioritisation.community_id)
    assert community is not None
    voted = set(await store.participants(context.db, prioritisation))
    people = [u for m, u in await community_store.members(context.db, community.id)
              if u.id in voted or m.role in ("coordinator", "admin")]
    texts: dict[str, str] = {}
    charts: dict[str, str] = {}
    for lang in sorted({Translator(u.language).lang for u in people}):
        t = Translator(lang, community.timezone)
        text, outcome = await results_text(t, context, prioritisation)
        texts[lang] = t._("The vote has closed.") + "\n\n" + text
        if outcome.voters or any(s.offline for s in outcome.standings):
            png = await asyncio.to_thread(_chart, t, prioritisation, outcome)
            charts[lang] = await outbox.store_file(context.db, png)
    app = context.application
    await notify(app, community, people, lambda t, _u: (texts[t.lang], None),
                 key=f"vote-result:{pid}")
    if charts:
        with_chart = [u for u in people if Translator(u.language).lang in charts]
        await notify(app, community, with_chart,
                     lambda t, _u: (t._("Results chart"), None),
                     key=f"vote-chart:{pid}", photo=lambda t: charts.get(t.lang))


@refusals
async def close_command(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    open_ = await store.list_for(context.db, who.community.id, status="open")
    if not open_:
        await _say(update, who.t._("There is no open vote right now."))
        return
    await _say(update, who.t._("Close which vote now? Residents can no longer change their"
                               " votes afterwards."), reply_markup=InlineKeyboardMarkup([
        [InlineKeyboardButton(_short(p.title, 60), callback_data=f"vote:close:{p.id}")]
        for p in open_
    ]))


@refusals
async def close_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert update.callback_query is not None
    (pid,) = _ints(callback_parts(update)[2:3])
    prioritisation = await _mine(who, context, pid)
    if not prioritisation.is_open:
        raise Refused(N_("This vote has closed; changes are no longer possible."))
    await update.callback_query.answer()
    await update.callback_query.edit_message_reply_markup(None)
    await close_and_announce(context, pid)


# -- paper stickers ------------------------------------------------------------------------


@refusals
async def paper_start(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    sticker_votes = [p for p in await store.list_for(context.db, who.community.id)
                     if p.method == "stickers"]
    if not sticker_votes:
        await _say(update, who.t._("There is no sticker vote to add paper stickers to."))
        return ConversationHandler.END
    return await _ask_counts(update, context, who, sticker_votes[0])


async def _ask_counts(update: Update, context: Context, who: Actor,
                      prioritisation: Prioritisation) -> int:
    t = who.t
    problems = await store.problems(context.db, prioritisation.id)
    context.user_data[PAPER] = prioritisation.id  # type: ignore[index]
    lines = [
        t._("Paper stickers for {title}: send the count for each problem, one number per"
            " line, in this order (0 for none):", title=isolate(prioritisation.title)),
        "",
    ]
    lines += [f"{t.num(p.position)}. {isolate(p.title)} — {t.num(p.offline)}" for p in problems]
    for part in split_text("\n".join(lines)):
        await _say(update, part)
    return PAPER_COUNTS


@refusals
async def paper_counts(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    t = who.t
    pid = context.user_data.get(PAPER)  # type: ignore[union-attr]
    prioritisation = await store.get(context.db, pid) if pid else None
    if prioritisation is None or prioritisation.community_id != who.community.id:
        await _say(update, t._(NOT_AVAILABLE))
        return ConversationHandler.END
    problems = await store.problems(context.db, prioritisation.id)
    try:
        counts = flow.parse_counts(update.effective_message.text or "", len(problems))  # type: ignore[union-attr]
    except Refused as refused:
        await _say(update, t._(refused.message, **refused.values))
        return PAPER_COUNTS
    await store.set_offline(context.db, prioritisation.id,
                            {p.id: n for p, n in zip(problems, counts, strict=True)})
    context.user_data.pop(PAPER, None)  # type: ignore[union-attr]
    await _say(update, t.ngettext("Saved {n} paper sticker.", "Saved {n} paper stickers.",
                                  sum(counts)))
    _changed(context, prioritisation.id)
    assert update.effective_chat is not None
    await _send_results(context.bot, update.effective_chat.id, t, context, prioritisation)
    return ConversationHandler.END


# -- wiring --------------------------------------------------------------------------------


async def on_startup(app: Application) -> None:  # type: ignore[type-arg]
    """Rebuilds closing jobs from the database; votes whose time passed while down close now."""
    db = app.bot_data.db
    for prioritisation in await store.open_with_deadline(db):
        _schedule_close(app, prioritisation)
        _schedule_reminder(app, prioritisation)
    if app.job_queue is not None:
        app.job_queue.run_repeating(refresh_standings, interval=STANDINGS_EVERY,
                                    first=STANDINGS_EVERY, name="vote-standings")


def _first(handler: Callable[[Update, Context], Coroutine[Any, Any, None]],
           ) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
    """For a handler registered ahead of the others (a vote burst's hot path): once it has
    answered, no later handler group needs to look at the update."""

    async def wrapper(update: Update, context: Context) -> None:
        await handler(update, context)
        raise ApplicationHandlerStop

    return wrapper


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("prioritise", setup_start, filters=private)],
        states={
            TITLE: [MessageHandler(text, setup_title)],
            METHOD: [CallbackQueryHandler(setup_method, pattern=r"^vset:m:"),
                     MessageHandler(text, setup_tap_a_button)],
            PROBLEMS: [MessageHandler(text, setup_problems),
                       CallbackQueryHandler(setup_shortlist, pattern=r"^vset:short$")],
            BUDGET: [CallbackQueryHandler(setup_budget, pattern=r"^vset:b:"),
                     MessageHandler(text, setup_tap_a_button)],
            STACKING: [CallbackQueryHandler(setup_stacking, pattern=r"^vset:s:"),
                       MessageHandler(text, setup_tap_a_button)],
            CLOSING: [CallbackQueryHandler(setup_closing_tap, pattern=r"^vset:c:"),
                      MessageHandler(text, setup_closing_text)],
            CONFIRM: [CallbackQueryHandler(setup_confirm, pattern=r"^vset:(go|no)$"),
                      MessageHandler(text, setup_tap_a_button)],
        },
        fallbacks=[CommandHandler("cancel", setup_cancel)],
        name="voting_setup", persistent=True, allow_reentry=True,
    ))
    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("paper", paper_start, filters=private)],
        states={PAPER_COUNTS: [MessageHandler(text, paper_counts)]},
        fallbacks=[CommandHandler("cancel", setup_cancel)],
        name="voting_paper", persistent=True, allow_reentry=True,
    ))
    app.add_handler(CommandHandler("vote", vote_command, filters=private))
    app.add_handler(CommandHandler("results", results_command, filters=private))
    app.add_handler(CommandHandler("closevote", close_command, filters=private))
    app.add_handler(CommandHandler("standings", standings_command))
    app.add_handler(CallbackQueryHandler(open_ballot, pattern=r"^vote:open:"))
    app.add_handler(CallbackQueryHandler(_first(sticker_tap), pattern=r"^vote:(st|un):"),
                    group=-2)
    app.add_handler(CallbackQueryHandler(sticker_page, pattern=r"^vote:pg:"))
    app.add_handler(CallbackQueryHandler(pairwise_tap, pattern=r"^vote:pw:"))
    app.add_handler(CallbackQueryHandler(matrix_tap, pattern=r"^vote:mx:"))
    app.add_handler(CallbackQueryHandler(matrix_page, pattern=r"^vote:mxp:"))
    app.add_handler(CallbackQueryHandler(noop, pattern=r"^vote:noop:"))
    app.add_handler(CallbackQueryHandler(results_tap, pattern=r"^vote:res:"))
    app.add_handler(CallbackQueryHandler(close_tap, pattern=r"^vote:close:"))
