"""Prioritisation in chat: /prioritise, /paper, /standings and /closevote (coordinators),
/vote and /results.

Three methods from the seeds: stickers (each resident places a few stickers on the most
pressing problems), pairwise comparison, and the importance × urgency matrix. Every button
carries the vote and problem it acts on; the flow checks them again on the server
(community, still open, a problem of this ballot) before anything is written, and a tap is
answered only after it is committed. Setting a vote up and counting paper stickers are
forms (``bot/handlers/_forms.py``), so every step checks again that a coordinator is
typing, and a button under an older question never drives the current one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import filters

from bot.app import Context, MahfilApp
from bot.callbacks import Button, Id, Index, Range, button
from bot.commands import Command
from bot.flows import schedule, typed
from bot.flows import voting as flow
from bot.flows.people import Member, Role
from bot.flows.voting_book import StickerBook
from bot.handlers._common import (
    GuestTap,
    Said,
    Tap,
    Tapped,
    Turn,
    at,
    clock,
    command,
    guest_tap,
    notify,
    short,
    tap,
)
from bot.handlers._forms import Field, Filling, Form, Option
from bot.i18n import N_, Translator, isolate
from bot.keyboards import grid, inline, keyboard, page_of, pager
from bot.labels import group_label
from bot.messages import split_text

COMMANDS = [
    Command("vote", N_("Vote on the community's priorities"), "resident"),
    Command("results", N_("Results of the priority votes"), "resident"),
    Command("prioritise", N_("Open a priority vote"), "coordinator"),
    Command("paper", N_("Enter paper stickers from a meeting"), "coordinator"),
    Command("standings", N_("Post live standings that update themselves"), "coordinator"),
    Command("closevote", N_("Close a priority vote now"), "coordinator"),
]
GROUP_COMMANDS = ["standings"]

PAGE = 8  # problems on a page of the sticker ballot
RESULTS_PAGE = 20  # votes on a page of /results
STANDINGS_EVERY = 5.0  # seconds between edits of a live standings message (groups: 20/min)

METHOD_LABELS = {
    "stickers": N_("Stickers"),
    "pairwise": N_("Pairwise comparison"),
    "matrix": N_("Priority matrix"),
}

Rating = Annotated[int, Range(1, 3)]
Place = Annotated[int, Range(1, flow.MAX_PROBLEMS)]  # a problem's place on the ballot


# -- buttons -------------------------------------------------------------------------------


@button("voting", "ballot")
class Ballot(Button):
    """Show me the ballot: the announcement's "Vote now", or a choice from /vote."""

    vote: Id


@button("voting", "sticker")
class Sticker(Button):
    """Place a sticker on a problem — or with ``back`` take one back (the − of a vote that
    allows stacking); ``page`` is the ballot page to draw again. The hot path of a burst."""

    vote: Id
    problem: Id
    page: Index
    back: bool = False


@button("voting", "page")
class StickerPage(Button):
    """Another page of the sticker ballot."""

    vote: Id
    page: Index


@button("voting", "pair")
class Pair(Button):
    """A pairwise answer: the problem at place ``a``, at place ``b``, or can't decide."""

    vote: Id
    a: Place
    b: Place
    choice: flow.Choice


@button("voting", "rate")
class Rate(Button):
    """A rating of the matrix: ``aspect`` of the problem at place ``problem`` is ``value``."""

    vote: Id
    problem: Place
    aspect: flow.Aspect
    value: Rating


@button("voting", "matrix")
class MatrixPage(Button):
    """Another problem of the matrix ballot."""

    vote: Id
    index: Index


@button("voting", "hint", role=None)
class Hint(Button):
    """A label beside the rating buttons ("Importance"): it only says what to tap."""


@button("voting", "results")
class Results(Button):
    """One vote's results, chosen from /results."""

    vote: Id


@button("voting", "results_page")
class ResultsPage(Button):
    """Another page of the /results list."""

    page: Index


@button("voting", "paper", role="coordinator")
class PaperVote(Button):
    """The sticker vote whose paper stickers to count (from /paper, when there are several)."""

    vote: Id


@button("voting", "standings", role="coordinator")
class StandingsVote(Button):
    """The open vote to post live standings of (from /standings, when there are several)."""

    vote: Id


@button("voting", "close", role="coordinator")
class Close(Button):
    """Close this vote now (from /closevote): asks first."""

    vote: Id


@button("voting", "closenow", role="coordinator")
class CloseNow(Button):
    """Yes, close it."""

    vote: Id


@button("voting", "keep", role="coordinator")
class KeepOpen(Button):
    """No, leave it open."""

    vote: Id


@button("voting", "reopen", role="coordinator")
class Reopen(Button):
    """Undo a closing by hand, within the window and before members got the result."""

    vote: Id


@button("voting", "tellnow", role="coordinator")
class TellNow(Button):
    """Do not wait for the window: the result goes to members now."""

    vote: Id


# -- small helpers -------------------------------------------------------------------------


def _dots(used: int, budget: int) -> str:
    return "●" * used + "○" * max(budget - used, 0)


def _closes(t: Translator, prioritisation: flow.Prioritisation) -> str:
    if prioritisation.closes_at is None:
        return t._("Closes when a coordinator closes it.")
    return t._("Closes {when}.", when=t.datetime(prioritisation.closes_at))


def _changed(context: Context, vote_id: int) -> None:
    """Marks live standings for an edit on the next tick (never one edit per tap)."""
    context.bot_data.standings_dirty.add(vote_id)


Drawn = tuple[str, InlineKeyboardMarkup | None]


# -- ballots -------------------------------------------------------------------------------


async def _sticker_ballot(who: Member, book: StickerBook, prioritisation: flow.Prioritisation,
                          number: int) -> Drawn:
    t = who.t
    problems = await book.problems(prioritisation.id)
    mine = await book.mine(prioritisation.id, who.user.id)
    used = sum(mine.values())
    page = page_of(problems, number, PAGE)
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
    for problem in page.items:
        marks = "●" * mine.get(problem.id, 0)
        lines.append(f"{t.num(problem.position)}. {isolate(problem.title)} {marks}".rstrip())
    lines += ["", _closes(t, prioritisation)]
    rows: list[list[InlineKeyboardButton]] = []
    for problem in page.items:
        count = mine.get(problem.id, 0)
        label = f"{'●' * count or '○'} {t.num(problem.position)}. {short(problem.title)}"
        row = [inline(label, Sticker(prioritisation.id, problem.id, page.number))]
        if prioritisation.allow_stacking and count:
            row.append(inline("−", Sticker(prioritisation.id, problem.id, page.number,
                                           back=True)))
        rows.append(row)
    rows.append(pager(t, page, lambda n: StickerPage(prioritisation.id, n)))
    return "\n".join(lines), keyboard(*rows)


async def _pairwise_ballot(who: Member, context: Context,
                           prioritisation: flow.Prioritisation) -> Drawn:
    t = who.t
    shown = await flow.pairwise_ballot(context.db, who, prioritisation)
    header = f"<b>{isolate(prioritisation.title)}</b>"
    thanks = t._("Thank you! You have compared all your pairs.")
    if shown.finished:
        return "\n".join([header, thanks, _closes(t, prioritisation)]), None
    if shown.pair is None:
        return "\n".join([header, thanks]), None
    a, b = shown.pair
    text = "\n".join([
        header,
        t._("Which problem is more pressing?"),
        "",
        f"🅰 {isolate(a.title)}",
        f"🅱 {isolate(b.title)}",
        "",
        t._("Pair {number} of {total}", number=shown.number, total=shown.total),
    ])

    def answer(choice: flow.Choice) -> Pair:
        return Pair(prioritisation.id, a.position, b.position, choice)

    return text, keyboard(
        [inline(f"🅰 {short(a.title, 28)}", answer("a")),
         inline(f"🅱 {short(b.title, 28)}", answer("b"))],
        [inline(t._("Can't decide"), answer("neither"))],
    )


async def _matrix_ballot(who: Member, context: Context, prioritisation: flow.Prioritisation,
                         index: int | None = None) -> Drawn:
    t = who.t
    shown = await flow.matrix_ballot(context.db, who, prioritisation, index)
    total = len(shown.problems)
    page = page_of(shown.problems, shown.index, 1)
    problem = page.items[0]
    importance, urgency = shown.rated.get(problem.id, (None, None))
    lines = [
        f"<b>{isolate(prioritisation.title)}</b>",
        t._("Problem {number} of {total}:", number=page.number + 1, total=total),
        f"<b>{isolate(problem.title)}</b>",
        "",
        t._("Importance: how much does it matter? Urgency: how soon must it be solved?"
            " (1 low, 3 high)"),
        t._("Rated: {done} of {total}", done=shown.complete, total=total),
    ]
    if shown.complete == total:
        lines.append(t._("All problems are rated. Thank you! You can change a rating until"
                         " the vote closes."))

    def row(aspect: flow.Aspect, label: str, chosen: int | None) -> list[InlineKeyboardButton]:
        return [inline(label, Hint())] + [
            inline(("✓" if chosen == v else "") + t.num(v),
                   Rate(prioritisation.id, problem.position, aspect, v))
            for v in (1, 2, 3)
        ]

    return "\n".join(lines), keyboard(
        row("importance", t._("Importance"), importance),
        row("urgency", t._("Urgency"), urgency),
        pager(t, page, lambda n: MatrixPage(prioritisation.id, n)),
    )


async def _ballot(who: Member, context: Context, prioritisation: flow.Prioritisation) -> Drawn:
    if prioritisation.method == "stickers":
        return await _sticker_ballot(who, context.bot_data.stickers, prioritisation, 0)
    if prioritisation.method == "pairwise":
        return await _pairwise_ballot(who, context, prioritisation)
    return await _matrix_ballot(who, context, prioritisation)


def _edit_later(turn: Tap[Sticker], render: Callable[[], Awaitable[Drawn]]) -> None:
    """Re-renders the tapped ballot in the background, newest state only (see LatestOnly).

    The tap is already answered; the edit waits its turn behind the rate limiter, so a vote
    burst is not slowed down to the pace of message edits.
    """
    query = turn.update.callback_query
    if query is None or query.message is None:
        return
    chat_id, message_id = query.message.chat.id, query.message.message_id
    bot = turn.context.bot

    async def job() -> None:
        text, markup = await render()
        params: dict[str, object] = {"chat_id": chat_id, "message_id": message_id,
                                     "text": text, "parse_mode": ParseMode.HTML,
                                     "link_preview_options": {"is_disabled": True}}
        if markup is not None:
            params["reply_markup"] = markup
        with contextlib.suppress(BadRequest):  # "message is not modified"
            # The raw call: the edited message is not parsed back into a Message object,
            # thousands of which a vote burst would otherwise build and drop. (Bot API
            # method names are case-insensitive; PTB warns about its own camelCase ones.)
            await bot.do_api_request("editmessagetext", api_kwargs=params)

    turn.context.bot_data.latest_only.submit(("ballot", chat_id, message_id), job)


# -- residents: voting ---------------------------------------------------------------------


@command("vote")
async def vote(turn: Said) -> None:
    found = await flow.open_votes(turn.context.db, turn.who)
    if len(found) == 1:
        await turn.say(*await _ballot(turn.who, turn.context, found[0]))
        return
    await turn.say(turn.t._("Which vote?"), keyboard(
        *[[inline(short(p.title, 60), Ballot(p.id))] for p in found]))


@tap(Ballot)
async def open_ballot(turn: Tap[Ballot]) -> None:
    """The announcement's "Vote now" button, or a choice from /vote."""
    prioritisation = await flow.ballot(turn.context.db, turn.who, turn.button.vote)
    await turn.answer()
    await turn.say(*await _ballot(turn.who, turn.context, prioritisation))


@tap(Sticker, first=True)
async def sticker(turn: Tap[Sticker]) -> None:
    """Place or take back a sticker: answered once committed, the ballot edited after."""
    who, chosen = turn.who, turn.button
    book = turn.context.bot_data.stickers
    prioritisation, left = await flow.place_sticker(book, who, chosen.vote, chosen.problem,
                                                    back=chosen.back)
    await turn.answer(who.t.ngettext("{n} sticker left", "{n} stickers left", left))
    _changed(turn.context, prioritisation.id)
    _edit_later(turn, lambda: _sticker_ballot(who, book, prioritisation, chosen.page))


@tap(StickerPage)
async def sticker_page(turn: Tap[StickerPage]) -> None:
    prioritisation = await flow.find(turn.context.db, turn.who, turn.button.vote,
                                     method="stickers")
    await turn.answer()
    await turn.edit(*await _sticker_ballot(turn.who, turn.context.bot_data.stickers,
                                           prioritisation, turn.button.page))


@tap(Pair)
async def pair(turn: Tap[Pair]) -> None:
    chosen = turn.button
    prioritisation = await flow.compare(turn.context.db, turn.who, chosen.vote, chosen.a,
                                        chosen.b, chosen.choice)
    await turn.answer(turn.t._("Saved."))
    _changed(turn.context, prioritisation.id)
    await turn.edit(*await _pairwise_ballot(turn.who, turn.context, prioritisation))


@tap(Rate)
async def rate(turn: Tap[Rate]) -> None:
    chosen = turn.button
    prioritisation, index = await flow.rate(turn.context.db, turn.who, chosen.vote,
                                            chosen.problem, chosen.aspect, chosen.value)
    await turn.answer(turn.t._("Saved."))
    _changed(turn.context, prioritisation.id)
    await turn.edit(*await _matrix_ballot(turn.who, turn.context, prioritisation, index))


@tap(MatrixPage)
async def matrix_page(turn: Tap[MatrixPage]) -> None:
    prioritisation = await flow.find(turn.context.db, turn.who, turn.button.vote,
                                     method="matrix")
    await turn.answer()
    await turn.edit(*await _matrix_ballot(turn.who, turn.context, prioritisation,
                                          turn.button.index))


@guest_tap(Hint)
async def hint(turn: GuestTap[Hint]) -> None:
    """A label-only button (e.g. "Importance"): answered, nothing changes."""
    await turn.answer(turn.t._("Tap one of the numbers."))


# -- results -------------------------------------------------------------------------------


def results_text(t: Translator, report: flow.Report) -> str:
    prioritisation, outcome = report.prioritisation, report.outcome
    head = (t._("Results: {title}", title=isolate(prioritisation.title)) if not
            prioritisation.is_open else
            t._("Standings so far: {title}", title=isolate(prioritisation.title)))
    method = t._(METHOD_LABELS[prioritisation.method])
    lines = [f"<b>{head}</b>", t._("Method: {method}", method=method), ""]
    total = report.members
    lines.append(t.ngettext(
        "{n} member took part, of {members} ({percent}).",
        "{n} members took part, of {members} ({percent}).",
        outcome.voters, members=total,
        percent=t.percent(outcome.voters / total if total else 0),
    ))
    lines.append("")
    top = max((s.score for s in outcome.standings), default=0)
    for standing in outcome.standings:
        score = flow.score_text(t, prioritisation.method, standing)
        lines.append(f"{t.num(standing.rank)}. {isolate(standing.problem.title)}\n"
                     f"    {flow.bar(standing.score, top)} {score}")
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
    if report.chat_only is not None:
        lines += ["", t._("Ranking from chat stickers only:")]
        lines += [f"{t.num(s.rank)}. {isolate(s.problem.title)} — "
                  f"{t.ngettext('{n} sticker', '{n} stickers', int(s.score))}"
                  for s in report.chat_only.standings]
    lines += ["", t._("Participation by group (voters / members):")]
    for group in report.groups:
        members = report.members_by_group.get(group.key, 0)
        voters = report.voters_by_group.get(group.key, 0)
        if members or voters:
            lines.append(f"• {group_label(t, group)}: {t.num(voters)} / {t.num(members)}")
    return "\n".join(lines)


async def _send_results(turn: Said, report: flow.Report) -> None:
    t = turn.t
    for part in split_text(results_text(t, report)):
        await turn.say(part)
    chat = turn.update.effective_chat
    if report.has_chart and chat is not None:
        chart = await asyncio.to_thread(_chart, t, report)
        await turn.context.bot.send_photo(chat.id, chart, caption=t._("Results chart"))


def _chart(t: Translator, report: flow.Report) -> bytes:
    from bot.flows.voting_chart import bar_chart

    standings = report.outcome.standings
    return bar_chart(
        report.prioritisation.title,
        [s.problem.title for s in standings],
        [s.score for s in standings],
        rtl=t.rtl,
        value_labels=[t.num(round(s.score, 2)) for s in standings],
    )


def _results_list(t: Translator, votes: list[flow.Prioritisation],
                  number: int) -> InlineKeyboardMarkup | None:
    page = page_of(votes, number, RESULTS_PAGE)
    return keyboard(*[[inline(short(p.title, 60), Results(p.id))] for p in page.items],
                    pager(t, page, ResultsPage))


@command("results")
async def results(turn: Said) -> None:
    visible = await flow.visible_results(turn.context.db, turn.who)
    if len(visible) == 1:
        await _send_results(turn, await flow.results_of(turn.context.db, turn.who,
                                                        visible[0].id))
        return
    await turn.say(turn.t._("Results of which vote?"), _results_list(turn.t, visible, 0))


@tap(ResultsPage)
async def results_page(turn: Tap[ResultsPage]) -> None:
    visible = await flow.visible_results(turn.context.db, turn.who)
    await turn.answer()
    await turn.edit_markup(_results_list(turn.t, visible, turn.button.page))


@tap(Results)
async def results_tap(turn: Tap[Results]) -> None:
    report = await flow.results_of(turn.context.db, turn.who, turn.button.vote)
    await turn.answer()
    await _send_results(turn, report)


# -- live standings ------------------------------------------------------------------------


def _standings_language(turn: Turn[Member]) -> Translator:
    """Standings are in the coordinator's language in private, the community's in a group."""
    who, chat = turn.who, turn.update.effective_chat
    if chat is not None and chat.type == "private":
        return who.t
    return Translator(who.community.default_language, who.community.timezone)


def _vote_choice(t: Translator, prioritisation: flow.Prioritisation) -> str:
    """A vote as a button offers it: its title, and whether it has closed."""
    title = short(prioritisation.title, 50)
    return title if prioritisation.is_open else t._("{title} (closed)", title=title)


@command("standings", role="coordinator", chats=filters.UpdateType.MESSAGES)
async def standings(turn: Said) -> None:
    """Posts standings that the bot keeps up to date (private chat or a group): of the one
    open vote, or of the one the coordinator chooses."""
    found = await flow.standings_votes(turn.context.db, turn.who)
    if len(found) > 1:
        t = _standings_language(turn)
        await turn.say(t._("Live standings of which vote?"), keyboard(
            *[[inline(_vote_choice(t, p), StandingsVote(p.id))] for p in found]))
        return
    t = _standings_language(turn)
    report = await flow.report(turn.context.db, found[0])
    message = await turn.say(split_text(results_text(t, report))[0])
    await flow.keep_standings(turn.context.db, turn.who, found[0].id, message.chat_id,
                              message.message_id, t.lang)


@tap(StandingsVote)
async def standings_chosen(turn: Tap[StandingsVote]) -> None:
    """The question becomes the live standings of the vote chosen."""
    db = turn.context.db
    prioritisation = await flow.standings_vote(db, turn.who, turn.button.vote)
    query = turn.update.callback_query
    assert query is not None and query.message is not None
    t = _standings_language(turn)
    await turn.answer()
    await turn.edit(split_text(results_text(t, await flow.report(db, prioritisation)))[0])
    await flow.keep_standings(db, turn.who, prioritisation.id, query.message.chat.id,
                              query.message.message_id, t.lang)


async def refresh_standings(context: Context) -> None:
    """Job: edits live standings of votes that changed, at most once per tick per message."""
    dirty = context.bot_data.standings_dirty
    if not dirty:
        return
    vote_ids = list(dirty)
    dirty.clear()
    for vote_id in vote_ids:
        found = await flow.standings(context.db, vote_id)
        if found is None or not found.messages:
            continue
        report = await flow.report(context.db, found.prioritisation)
        texts: dict[str, str] = {}
        for chat_id, message_id, lang in found.messages:
            if lang not in texts:
                t = Translator(lang, found.community.timezone)
                texts[lang] = split_text(results_text(t, report))[0]
            try:
                await context.bot.edit_message_text(texts[lang], chat_id, message_id)
            except BadRequest as error:
                if "not modified" not in str(error).lower():
                    await flow.drop_standings(context.db, chat_id, message_id)
            except Forbidden:
                await flow.drop_standings(context.db, chat_id, message_id)


# -- coordinators: setting a vote up -------------------------------------------------------


Echo = Callable[[Filling, str], Awaitable[str]]  # a tapped value -> the question's new text


@dataclass(frozen=True, slots=True)
class Question(Field):
    """A question of voting's forms, with what the shared engine does not say itself."""

    per_row: int = 1  # buttons side by side (a row of budgets; Open and Cancel)
    said: Echo | None = None  # after a tap: the question becomes this text
    ask: Callable[[Filling], Awaitable[str]] | None = None  # a question the database words


class VoteForm(Form):
    """Voting's forms: questions laid out as they always were, a question that needs the
    database (the problems whose paper stickers are counted, split if long), and a tapped
    choice echoed in the question's place in the vote's own words."""

    def __init__(self, name: str, fields: list[Field], *, role: Role) -> None:
        if any(field.optional for field in fields):
            raise ValueError("voting's forms ask nothing optional (no Skip button here)")
        super().__init__(name, fields, role=role)

    async def _ask(self, filling: Filling, field: Field) -> None:
        t = filling.t
        if isinstance(field, Question) and field.ask is not None:
            prompt = await field.ask(filling)
        else:
            prompt = (field.prompt(t, filling.values) if callable(field.prompt)
                      else t._(field.prompt))
        buttons = [self._button(filling, option.label, option.value)
                   for option in await self._options(filling, field)]
        per_row = field.per_row if isinstance(field, Question) else 1
        parts = split_text(prompt + "\n" + t._("(/cancel stops)"))
        for part in parts[:-1]:
            await filling.turn.say(part)
        await filling.turn.say(parts[-1], grid(buttons, per_row) if buttons else None)

    async def tapped(self, filling: Filling, field: Field, value: str) -> None:
        if isinstance(field, Question) and field.said is not None and value in {
                option.value for option in await self._options(filling, field)}:
            turn = filling.turn
            assert isinstance(turn, Tapped)  # tapped() answers a tap
            await turn.edit(await field.said(filling, value))
        await super().tapped(filling, field, value)


async def _said_method(filling: Filling, value: str) -> str:
    return filling.t._("Method: {method}", method=filling.t._(METHOD_LABELS[value]))


async def _shortlist_offer(filling: Filling) -> list[Option]:
    found = await flow.shortlist(filling.context.db, filling.who)
    if len(found) < 2:
        return []
    return [Option("shortlist", filling.t.ngettext(
        "Use the brainstorm shortlist ({n} problem)",
        "Use the brainstorm shortlist ({n} problems)", len(found)))]


async def _said_shortlist(filling: Filling, _value: str) -> str:
    found = await flow.shortlist(filling.context.db, filling.who)
    return "\n".join(f"• {isolate(p)}" for p in found)


async def _problems(filling: Filling, value: list[str] | str) -> list[str]:
    """Typed problems (already read), or the brainstorm shortlist that was tapped."""
    if isinstance(value, list):
        return value
    return flow.check_problems(await flow.shortlist(filling.context.db, filling.who))


async def _budgets(filling: Filling) -> list[Option]:
    """1 to 5 stickers; the suggestion (✓) never more than there are problems."""
    t = filling.t
    problems = filling.values.get("problems")
    suggested = min(flow.DEFAULT_STICKERS,
                    len(problems) if isinstance(problems, list) else flow.DEFAULT_STICKERS)
    return [Option(str(n), t.num(n) + (" ✓" if n == suggested else "")) for n in range(1, 6)]


async def _said_budget(filling: Filling, value: str) -> str:
    return filling.t.ngettext("{n} sticker per resident.", "{n} stickers per resident.",
                              int(value))


async def _said_stacking(filling: Filling, value: str) -> str:
    t = filling.t
    return (t._("Several stickers may go on one problem.") if value == "1"
            else t._("One sticker per problem."))


async def _closings(filling: Filling) -> list[Option]:
    t = filling.t
    return [Option(str(n), t.ngettext("In {n} day", "In {n} days", n)) for n in (1, 3, 7)] + [
        Option("0", t._("When I close it"))]


async def _closing(filling: Filling, value: str) -> datetime | None:
    """A tapped number of days (0: when a coordinator closes it), or a typed time."""
    if isinstance(filling.turn, Tapped):
        days = int(value)
        return flow.deadline_in(days) if days else None
    return flow.parse_deadline(value, filling.who.community.timezone, lang=filling.t.lang)


def _preview(t: Translator, values: dict[str, object]) -> str:
    method = str(values["method"])
    lines = [
        t._("Preview:"),
        f"<b>{isolate(str(values['title']))}</b>",
        t._("Method: {method}", method=t._(METHOD_LABELS[method])),
    ]
    problems = values["problems"]
    assert isinstance(problems, list)
    if method == "stickers":
        asked = int(str(values["stickers"]))
        budget = flow.sticker_budget(asked, len(problems), values.get("stacking") == "1")
        lines.append(t.ngettext("{n} sticker per resident.", "{n} stickers per resident.",
                                budget))
        if budget < asked:
            lines.append(t.ngettext(
                "(Not {asked}: with one sticker per problem, a resident can place at most"
                " {n}, one on each problem.)",
                "(Not {asked}: with one sticker per problem, a resident can place at most"
                " {n}, one on each problem.)", budget, asked=asked))
    closes = values.get("closes")
    lines.append(t._("Closes {when}.", when=t.datetime(datetime.fromisoformat(str(closes))))
                 if closes else t._("Closes when a coordinator closes it."))
    lines.append("")
    lines += [f"{t.num(i)}. {isolate(p)}" for i, p in enumerate(problems, 1)]
    return "\n".join(lines)


def _stickers_only(values: dict[str, object]) -> bool:
    return values.get("method") == "stickers"


SETUP = VoteForm("voting.setup", [
    Question("title", N_("New priority vote. What is it about? Send a short title."),
             parse=flow.parse_title),
    Question("method", N_("Which method?"), kind="choice", labels=METHOD_LABELS,
             said=_said_method),
    Question("problems", lambda t, _values: t._(
        "Send the problems, one per line (2 to {limit}).", limit=flow.MAX_PROBLEMS),
        kind="lines", parse=flow.parse_problems, options=_shortlist_offer, check=_problems,
        said=_said_shortlist),
    Question("stickers", N_("How many stickers does each resident get?"), kind="choice",
             options=_budgets, per_row=5, said=_said_budget, when=_stickers_only),
    Question("stacking", N_("May a resident put several stickers on one problem?"),
             kind="choice", labels={"0": N_("No, one per problem"), "1": N_("Yes")},
             per_row=2, said=_said_stacking, when=_stickers_only),
    Question("closes", lambda t, _values: t._(
        "When does the vote close? Choose, or send a date and time, for example {example}.",
        example=typed.moment_example(t)), options=_closings, per_row=3, check=_closing),
    Question("confirm", _preview, kind="choice",
             labels={"go": N_("Open the vote"), "no": N_("Cancel")}, per_row=2),
], role="coordinator")


@command("prioritise", role="coordinator")
async def prioritise(turn: Said) -> None:
    await SETUP.begin(turn, community=turn.who.community.id)


@SETUP.finisher
async def open_the_vote(filling: Filling) -> None:
    turn, t, values = filling.turn, filling.t, filling.values
    assert isinstance(turn, Tapped)  # the last question is answered with a button
    if values["confirm"] != "go":
        await turn.edit(t._("Cancelled. Nothing was opened."))
        return
    closes = values.get("closes")
    prioritisation = await flow.create(
        filling.context.db, filling.who, community_id=filling.ids["community"],
        title=values["title"], method=values["method"], problems=values["problems"],
        stickers=int(values.get("stickers") or flow.DEFAULT_STICKERS),
        stacking=values.get("stacking") == "1",
        closes_at=datetime.fromisoformat(closes) if closes else None)
    await turn.edit_markup(None)
    app = filling.context.application
    _schedule(app, prioritisation)
    community, members = await flow.audience(filling.context.db, prioritisation)
    await turn.say(t.ngettext("The vote is open. Announcing it to {n} member…",
                              "The vote is open. Announcing it to {n} members…", len(members)))
    await _announce(app, prioritisation, community, members)


def _vote_button(t: Translator, prioritisation: flow.Prioritisation) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[inline(t._("Vote now"), Ballot(prioritisation.id))]])


async def _announce(app: MahfilApp, prioritisation: flow.Prioritisation,
                    community: flow.Community, members: list[flow.User]) -> None:
    """Tells every member where to vote, through the outbox (paced, and never lost)."""

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup]:
        return "\n".join([
            t._("New priority vote in {community}: <b>{title}</b>",
                community=isolate(community.name), title=isolate(prioritisation.title)),
            t._("Method: {method}", method=t._(METHOD_LABELS[prioritisation.method])),
            _closes(t, prioritisation),
        ]), _vote_button(t, prioritisation)

    await notify(app, community, members, render, key=f"vote-open:{prioritisation.id}")


def _schedule(app: MahfilApp, prioritisation: flow.Prioritisation) -> None:
    """Its closing and its reminder (a day before, half-way for a shorter vote)."""
    at(app, f"vote-close-{prioritisation.id}", prioritisation.closes_at, _close_job,
       prioritisation.id)
    at(app, f"vote-remind-{prioritisation.id}",
       schedule.reminder_time(prioritisation.created_at, prioritisation.closes_at),
       _remind_job, prioritisation.id)


async def _remind_job(context: Context) -> None:
    """Reminds members who have not voted yet (once each, also across restarts)."""
    if context.job is None or not isinstance(context.job.data, int):
        return
    due = await flow.not_voted(context.db, context.job.data)
    if due is None:
        return
    prioritisation, community, waiting = due
    closes = prioritisation.closes_at
    assert closes is not None  # not_voted only reminds before a closing time

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup]:
        text = t._("Reminder: the vote <b>{title}</b> closes {when}, and you have not voted"
                   " yet.", title=isolate(prioritisation.title), when=t.datetime(closes))
        return text, _vote_button(t, prioritisation)

    await notify(context.application, community, waiting, render,
                 key=f"vote-remind:{prioritisation.id}")


# -- closing -------------------------------------------------------------------------------


@command("closevote", role="coordinator")
async def closevote(turn: Said) -> None:
    found = await flow.closable(turn.context.db, turn.who)
    await turn.say(turn.t._("Close which vote now? Residents can no longer change their"
                            " votes afterwards."),
                   keyboard(*[[inline(short(p.title, 60), Close(p.id))] for p in found]))


@tap(Close)
async def close(turn: Tap[Close]) -> None:
    """Closing is asked first: residents can no longer change their votes afterwards."""
    prioritisation = await flow.closing(turn.context.db, turn.who, turn.button.vote)
    t, vid = turn.t, prioritisation.id
    await turn.answer()
    await turn.edit(t._("Close the vote <b>{title}</b> now? Residents can no longer change"
                        " their votes. Members receive the result {n} minutes later; until"
                        " then you can reopen it.", title=isolate(prioritisation.title),
                        n=schedule.window_minutes()),
                    keyboard([inline(t._("Yes, close it"), CloseNow(vid)),
                              inline(t._("No, leave it open"), KeepOpen(vid))]))


@tap(CloseNow)
async def close_now(turn: Tap[CloseNow]) -> None:
    db, t = turn.context.db, turn.t
    closed = await flow.close(db, turn.who, turn.button.vote, turn.context.bot_data.stickers)
    until = closed.reopen_until
    assert until is not None  # closed by hand
    at(turn.app, f"vote-final-{closed.id}", until, _final_job, closed.id)
    await _announce_result(turn.app, closed, not_before=until)
    told = await flow.result_due(db, closed) or until
    await turn.answer()
    await turn.edit(t._("The vote <b>{title}</b> is closed. Members receive the result at"
                        " {when}; you can reopen it until {until}.",
                        title=isolate(closed.title), when=clock(t, told),
                        until=clock(t, until)),
                    keyboard([inline(t._("Reopen the vote"), Reopen(closed.id)),
                              inline(t._("Send the result now"), TellNow(closed.id))]))


@tap(KeepOpen)
async def keep_open(turn: Tap[KeepOpen]) -> None:
    await turn.answer()
    await turn.edit(turn.t._("Nothing changed: the vote stays open."))


@tap(Reopen)
async def reopen(turn: Tap[Reopen]) -> None:
    reopened = await flow.reopen(turn.context.db, turn.who, turn.button.vote,
                                 turn.context.bot_data.stickers)
    at(turn.app, f"vote-final-{reopened.id}", None, _final_job, reopened.id)
    _schedule(turn.app, reopened)
    _changed(turn.context, reopened.id)
    await turn.answer()
    await turn.edit(turn.t._("The vote <b>{title}</b> is open again; members were told"
                             " nothing.", title=isolate(reopened.title)))


@tap(TellNow)
async def tell_now(turn: Tap[TellNow]) -> None:
    told = await flow.tell_now(turn.context.db, turn.who, turn.button.vote)
    at(turn.app, f"vote-final-{told.id}", None, _final_job, told.id)
    turn.context.bot_data.courier.wake()
    await turn.answer()
    await turn.edit(turn.t._("The vote <b>{title}</b> is closed; the result is on its way to"
                             " members.", title=isolate(told.title)))


async def _final_job(context: Context) -> None:
    """A vote closed by hand: its window to reopen has passed, so its closing is final."""
    if context.job is not None and isinstance(context.job.data, int):
        await flow.finalize_due(context.db, context.job.data)


async def _close_job(context: Context) -> None:
    if context.job is None or not isinstance(context.job.data, int):
        return
    closed = await flow.close_due(context.db, context.job.data, context.bot_data.stickers)
    if closed is not None:
        await _announce_result(context.application, closed)


async def _announce_result(app: MahfilApp, prioritisation: flow.Prioritisation, *,
                           not_before: datetime | None = None) -> None:
    """Participants and coordinators receive the result in their language.

    The result and its chart go through the outbox (a restart loses none and repeats none),
    rendered once per language; the chart is uploaded once per language. A vote closed by
    hand announces it only after the window to reopen it (``not_before``).
    """
    db = app.bot_data.db
    app.bot_data.standings_dirty.add(prioritisation.id)
    community, people = await flow.result_audience(db, prioritisation)
    report = await flow.report(db, prioritisation)
    texts: dict[str, str] = {}
    charts: dict[str, str] = {}
    for lang in sorted({Translator(u.language).lang for u in people}):
        t = Translator(lang, community.timezone)
        texts[lang] = t._("The vote has closed.") + "\n\n" + results_text(t, report)
        if report.has_chart:
            png = await asyncio.to_thread(_chart, t, report)
            charts[lang] = await flow.keep_chart(db, png)
    result_key, chart_key = flow.result_keys(prioritisation.id)
    await notify(app, community, people, lambda t, _u: (texts[t.lang], None),
                 key=result_key, not_before=not_before)
    if charts:
        with_chart = [u for u in people if Translator(u.language).lang in charts]
        await notify(app, community, with_chart,
                     lambda t, _u: (t._("Results chart"), None),
                     key=chart_key, photo=lambda t: charts.get(t.lang), not_before=not_before)


# -- paper stickers ------------------------------------------------------------------------


async def _paper_question(filling: Filling) -> str:
    t = filling.t
    prioritisation, problems = await flow.paper_problems(filling.context.db, filling.who,
                                                         filling.ids["vote"])
    lines = [
        t._("Paper stickers for {title}: send the count for each problem, one number per"
            " line, in this order (0 for none):", title=isolate(prioritisation.title)),
        "",
    ]
    lines += [f"{t.num(p.position)}. {isolate(p.title)} — {t.num(p.offline)}" for p in problems]
    return "\n".join(lines)


async def _paper_counts(filling: Filling, value: str) -> list[int]:
    _vote, problems = await flow.paper_problems(filling.context.db, filling.who,
                                                filling.ids["vote"])
    return flow.parse_counts(value, len(problems))


PAPER = VoteForm("voting.paper", [
    Question("counts", "", parse=str, ask=_paper_question, check=_paper_counts),  # asked by ask
], role="coordinator")


@command("paper", role="coordinator")
async def paper(turn: Said) -> None:
    """Paper stickers for the one sticker vote, or for the one the coordinator chooses."""
    found = await flow.paper_votes(turn.context.db, turn.who)
    if len(found) > 1:
        t = turn.t
        await turn.say(t._("Paper stickers for which vote?"), keyboard(
            *[[inline(_vote_choice(t, p), PaperVote(p.id))] for p in found]))
        return
    await PAPER.begin(turn, vote=found[0].id)


@tap(PaperVote)
async def paper_chosen(turn: Tap[PaperVote]) -> None:
    prioritisation, _problems = await flow.paper_problems(turn.context.db, turn.who,
                                                          turn.button.vote)
    await turn.answer()
    await turn.edit(turn.t._("Paper stickers for {title}.", title=isolate(prioritisation.title)))
    await PAPER.begin(turn, vote=prioritisation.id)


@PAPER.finisher
async def paper_counted(filling: Filling) -> None:
    db, who, t = filling.context.db, filling.who, filling.t
    prioritisation, total = await flow.set_paper(db, who, filling.ids["vote"],
                                                 filling.values["counts"])
    await filling.turn.say(t.ngettext("Saved {n} paper sticker.", "Saved {n} paper stickers.",
                                      total))
    _changed(filling.context, prioritisation.id)
    await _send_results(filling.turn, await flow.results_of(db, who, prioritisation.id))


# -- wiring --------------------------------------------------------------------------------


async def on_startup(app: MahfilApp) -> None:
    """Rebuilds closing and reminder jobs from the database; votes whose time passed while
    the bot was down close now."""
    for prioritisation in await flow.scheduled(app.bot_data.db):
        _schedule(app, prioritisation)
    for prioritisation in await flow.closing_windows(app.bot_data.db):
        at(app, f"vote-final-{prioritisation.id}", flow.final_at(prioritisation), _final_job,
           prioritisation.id)
    if app.job_queue is not None:
        app.job_queue.run_repeating(refresh_standings, interval=STANDINGS_EVERY,
                                    first=STANDINGS_EVERY, name="vote-standings")


def register(app: MahfilApp) -> None:
    # The sticker tap runs ahead of every other handler: a vote burst's hot path.
    app.add_handler(sticker.handler, group=-2)
    app.add_handlers([h.handler for h in (
        prioritise, paper, vote, results, closevote, standings, open_ballot, sticker_page,
        pair, rate, matrix_page, hint, results_page, results_tap, close, close_now, keep_open,
        reopen, tell_now, paper_chosen, standings_chosen)])
