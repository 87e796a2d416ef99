"""Problem brainstorming: /brainstorm opens a round, /problem adds a card, /problems browses
with "me too", /curate lets coordinators edit, merge, hide and shortlist — and undo.

The shortlist feeds /prioritise ("Use the brainstorm shortlist"). Every button carries the
round or card it acts on and the flow checks it again; typed input (a problem, a new
wording, a reason) is a form, so a restart resumes it.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup

from bot.app import MahfilApp
from bot.callbacks import Button, Id, Index, button
from bot.commands import Command
from bot.flows import brainstorm as flow
from bot.flows.brainstorm import Board, Card, Curation, User
from bot.flows.people import Member
from bot.handlers._common import (
    Said,
    Tap,
    Tapped,
    Turn,
    command,
    deliver,
    notify,
    short,
    tap,
)
from bot.handlers._forms import Field, Filling, Form
from bot.i18n import N_, Translator, isolate
from bot.keyboards import inline, keyboard, page_of, pager

COMMANDS = [
    Command("problem", N_("Add a local problem"), "resident"),
    Command("problems", N_("Browse the problems and say “me too”"), "resident"),
    Command("brainstorm", N_("Open a brainstorm of local problems"), "coordinator"),
    Command("curate", N_("Edit, merge, hide and shortlist problems"), "coordinator"),
]

BOARD_PAGE = 5  # cards per page of the board
CURATION_PAGE = 10  # cards per page of the curation list and of the merge targets
STEP_LABELS = {"edit": N_("new wording"), "merge": N_("merge"), "hide": N_("hiding"),
               "shortlist": N_("shortlist change")}


# -- buttons ---------------------------------------------------------------------------------


@button("brainstorm", "add")
class Add(Button):
    """Add a problem to this round (from the announcement)."""

    round: Id


@button("brainstorm", "browse")
class Browse(Button):
    """The round's board, as a new message (from the announcement)."""

    round: Id


@button("brainstorm", "board")
class BoardPage(Button):
    """Another page of the board, in place."""

    round: Id
    page: Index


@button("brainstorm", "metoo")
class MeToo(Button):
    """Say "me too" to a card (or take it back); the board stays on ``page``."""

    card: Id
    page: Index


@button("brainstorm", "curate", role="coordinator")
class Curate(Button):
    """The curation list of a round, at ``page``."""

    round: Id
    page: Index


@button("brainstorm", "card", role="coordinator")
class CardMenu(Button):
    """What a coordinator may do with one card (back to curation ``page``)."""

    card: Id
    page: Index


@button("brainstorm", "shortlist", role="coordinator")
class Shortlist(Button):
    """Put a card on the shortlist, or take it off."""

    card: Id
    page: Index


@button("brainstorm", "merge", role="coordinator")
class MergeMenu(Button):
    """The cards this one may be merged into, at ``page``."""

    card: Id
    page: Index


@button("brainstorm", "mergeinto", role="coordinator")
class MergeInto(Button):
    """Merge ``card`` into ``into``."""

    card: Id
    into: Id


@button("brainstorm", "reword", role="coordinator")
class Reword(Button):
    card: Id


@button("brainstorm", "hide", role="coordinator")
class Hide(Button):
    card: Id


@button("brainstorm", "undo", role="coordinator")
class Undo(Button):
    """Take back curation ``step``, the latest of the round when the button was shown."""

    round: Id
    step: Id


@button("brainstorm", "close", role="coordinator")
class Close(Button):
    round: Id


# -- forms -----------------------------------------------------------------------------------


class ProblemForm(Form):
    """A problem is a sentence or two, or a photo with them as its caption: one question
    that takes either. The engine's fields read one kind each, so the text is read as usual
    (a photo's caption is its text) and this form keeps the photo of the answer beside it."""

    def accept(self, filling: Filling, field: Field, value: Any) -> None:
        super().accept(filling, field, value)
        message = filling.turn.update.effective_message
        photo = message.photo[-1].file_id if message is not None and message.photo else None
        filling.values["photo"] = photo


PROBLEM = ProblemForm("brainstorm.problem", [
    Field("text", N_("Describe the problem in a sentence or two (you may send a photo with a"
                     " caption)."), parse=flow.check_text),
])
REWORD = Form("brainstorm.reword", [
    Field("text", N_("Send the new wording."), parse=flow.check_text),
], role="coordinator")
HIDE = Form("brainstorm.hide", [
    Field("reason", N_("Why is it hidden? The author will be told."), parse=flow.check_reason),
], role="coordinator")


# -- rendering -------------------------------------------------------------------------------


def _line(t: Translator, number: int, card: Card) -> str:
    marks = ("★ " if card.shortlisted else "") + ("📷 " if card.photo else "")
    return f"{t.num(number)}. {marks}{isolate(card.text)} — 👥 {t.num(card.support)}"


def _board(t: Translator, user: User, board: Board,
           page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    shown = page_of(board.cards, page, BOARD_PAGE)
    lines = [t._("Brainstorm: <b>{prompt}</b>", prompt=isolate(board.round.prompt)), ""]
    if not board.cards:
        lines.append(t._("No problems yet. Add the first with /problem."))
    lines += [_line(t, shown.first + i + 1, c) for i, c in enumerate(shown.items)]
    if shown.pages > 1:
        lines += ["", t._("Page {page} of {pages}", page=shown.number + 1, pages=shown.pages)]
    rows = [[inline(f"{'✅' if c.id in board.backed else '👍'} {t.num(shown.first + i + 1)}."
                    f" {short(c.text, 28)}", MeToo(c.id, shown.number))]
            for i, c in enumerate(shown.items) if c.author_id != user.id]
    return "\n".join(lines), keyboard(*rows, pager(t, shown,
                                                   lambda n: BoardPage(board.round.id, n)))


def _curation(t: Translator, curation: Curation,
              page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    brainstorm = curation.round
    shown = page_of(curation.cards, page, CURATION_PAGE)
    lines = [t._("Curating: <b>{prompt}</b>", prompt=isolate(brainstorm.prompt))]
    if brainstorm.status != "open":
        lines.append(t._("(closed)"))
    lines.append(t._("★ marks the shortlist for prioritisation. Tap a card to work on it."))
    lines.append("")
    lines += [_line(t, shown.first + i + 1, c) for i, c in enumerate(shown.items)]
    if shown.pages > 1:
        lines += ["", t._("Page {page} of {pages}", page=shown.number + 1, pages=shown.pages)]
    rows = [[inline(f"{t.num(shown.first + i + 1)}. {short(c.text, 34)}",
                    CardMenu(c.id, shown.number))] for i, c in enumerate(shown.items)]
    extra = []
    if curation.last is not None:
        extra.append(inline(t._("↶ Undo the last {step}",
                                step=t._(STEP_LABELS[curation.last.action])),
                            Undo(brainstorm.id, curation.last.id)))
    if brainstorm.status == "open":
        extra.append(inline(t._("Close the brainstorm"), Close(brainstorm.id)))
    return "\n".join(lines), keyboard(*rows, pager(t, shown,
                                                   lambda n: Curate(brainstorm.id, n)), extra)


async def _show_curation(turn: Turn[Member], round_id: int, page: int = 0) -> None:
    """The curation list in the tapped message, or as a new one after typed input."""
    text, markup = _curation(turn.t, await flow.curation(turn.context.db, turn.who, round_id),
                             page)
    if isinstance(turn, Tapped):
        await turn.edit(text, markup)
    else:
        await turn.say(text, markup)


# -- opening a round -------------------------------------------------------------------------


@command("brainstorm", role="coordinator")
async def brainstorm_command(turn: Said) -> None:
    brainstorm, people = await flow.open_round(turn.context.db, turn.who, turn.text)

    def render(t: Translator, _user: User) -> tuple[str, InlineKeyboardMarkup | None]:
        return "\n".join([
            t._("Brainstorm: <b>{prompt}</b>", prompt=isolate(brainstorm.prompt)),
            t._("Add the problems you see, and say “me too” to those others raised."),
        ]), keyboard([inline(t._("Add a problem"), Add(brainstorm.id)),
                      inline(t._("Browse"), Browse(brainstorm.id))])

    await notify(turn.app, turn.who.community, people, render,
                 key=f"brainstorm-open:{brainstorm.id}")
    await turn.say(turn.t._("The brainstorm is open; members are being told."))


# -- adding a problem ------------------------------------------------------------------------


@command("problem")
async def problem_command(turn: Said) -> None:
    brainstorm = await flow.open_for_problems(turn.context.db, turn.who, None)
    await PROBLEM.begin(turn, round=brainstorm.id)


@tap(Add)
async def add_tap(turn: Tap[Add]) -> None:
    brainstorm = await flow.open_for_problems(turn.context.db, turn.who, turn.button.round)
    await turn.answer()
    await PROBLEM.begin(turn, round=brainstorm.id)


@PROBLEM.finisher
async def problem_added(filling: Filling) -> None:
    await flow.submit(filling.context.db, filling.who, filling.ids["round"],
                      filling.values["text"], filling.values.get("photo"))
    await filling.turn.say(filling.t._("Thank you! Your problem is on the board. /problems"
                                       " shows them all."))


# -- browsing and "me too" -------------------------------------------------------------------


@command("problems")
async def problems_command(turn: Said) -> None:
    board = await flow.board(turn.context.db, turn.who, None)
    await turn.say(*_board(turn.t, turn.who.user, board, 0))


@tap(Browse)
async def browse_tap(turn: Tap[Browse]) -> None:
    """From the announcement: the board comes as a new message, the announcement stays."""
    board = await flow.board(turn.context.db, turn.who, turn.button.round)
    await turn.answer()
    await turn.say(*_board(turn.t, turn.who.user, board, 0))


@tap(BoardPage)
async def page_tap(turn: Tap[BoardPage]) -> None:
    board = await flow.board(turn.context.db, turn.who, turn.button.round)
    await turn.answer()
    await turn.edit(*_board(turn.t, turn.who.user, board, turn.button.page))


@tap(MeToo)
async def me_too_tap(turn: Tap[MeToo]) -> None:
    t = turn.t
    backs, brainstorm = await flow.me_too(turn.context.db, turn.who, turn.button.card)
    await turn.answer(t._("Me too!") if backs else t._("Taken back."))
    board = await flow.board(turn.context.db, turn.who, brainstorm.id)
    await turn.edit(*_board(t, turn.who.user, board, turn.button.page))


# -- curation --------------------------------------------------------------------------------


@command("curate", role="coordinator")
async def curate_command(turn: Said) -> None:
    curation = await flow.curation(turn.context.db, turn.who, None)
    await turn.say(*_curation(turn.t, curation, 0))


@tap(Curate)
async def curate_tap(turn: Tap[Curate]) -> None:
    await _show_curation(turn, turn.button.round, turn.button.page)


@tap(CardMenu)
async def card_tap(turn: Tap[CardMenu]) -> None:
    t, page = turn.t, turn.button.page
    card, _round = await flow.visible_card(turn.context.db, turn.who, turn.button.card)
    await turn.answer()
    text = "\n".join([isolate(card.text),
                      t.ngettext("{n} person raised or supports it.",
                                 "{n} people raised or support it.", card.support)])
    await turn.edit(text, keyboard(
        [inline(t._("Edit the wording"), Reword(card.id)),
         inline(t._("Merge into…"), MergeMenu(card.id, 0))],
        [inline(t._("Remove from the shortlist") if card.shortlisted
                else t._("Add to the shortlist"), Shortlist(card.id, page)),
         inline(t._("Hide"), Hide(card.id))],
        [inline(t._("Back"), Curate(card.brainstorm_id, page))],
    ))


@tap(Shortlist)
async def shortlist_tap(turn: Tap[Shortlist]) -> None:
    brainstorm = await flow.toggle_shortlist(turn.context.db, turn.who, turn.button.card)
    await turn.answer()
    await _show_curation(turn, brainstorm.id, turn.button.page)


@tap(MergeMenu)
async def merge_menu_tap(turn: Tap[MergeMenu]) -> None:
    t = turn.t
    card, targets = await flow.merge_targets(turn.context.db, turn.who, turn.button.card)
    shown = page_of(targets, turn.button.page, CURATION_PAGE)
    await turn.answer()
    await turn.edit(
        t._("Merge “{text}” into which card? Its supporters count there, each person once.",
            text=isolate(card.text)),
        keyboard(*[[inline(short(c.text, 40), MergeInto(card.id, c.id))] for c in shown.items],
                 pager(t, shown, lambda n: MergeMenu(card.id, n)),
                 [inline(t._("Back"), Curate(card.brainstorm_id, 0))]))


@tap(MergeInto)
async def merge_tap(turn: Tap[MergeInto]) -> None:
    brainstorm = await flow.merge(turn.context.db, turn.who, turn.button.card,
                                  turn.button.into)
    await turn.answer(turn.t._("Merged."))
    await _show_curation(turn, brainstorm.id)


@tap(Undo)
async def undo_tap(turn: Tap[Undo]) -> None:
    t = turn.t
    step = await flow.undo(turn.context.db, turn.who, turn.button.round, turn.button.step)
    await turn.answer(t._("Undone: {step}.", step=t._(STEP_LABELS[step.action])))
    await _show_curation(turn, turn.button.round)


@tap(Close)
async def close_tap(turn: Tap[Close]) -> None:
    brainstorm = await flow.close_round(turn.context.db, turn.who, turn.button.round)
    await turn.answer(turn.t._("The brainstorm is closed."))
    await _show_curation(turn, brainstorm.id)


# -- curation steps that need typing ---------------------------------------------------------


@tap(Reword)
async def reword_tap(turn: Tap[Reword]) -> None:
    card, _round = await flow.visible_card(turn.context.db, turn.who, turn.button.card)
    await turn.answer()
    await REWORD.begin(turn, card=card.id)


@REWORD.finisher
async def reworded(filling: Filling) -> None:
    brainstorm = await flow.reword(filling.context.db, filling.who, filling.ids["card"],
                                   filling.values["text"])
    await _show_curation(filling.turn, brainstorm.id)


@tap(Hide)
async def hide_tap(turn: Tap[Hide]) -> None:
    card, _round = await flow.visible_card(turn.context.db, turn.who, turn.button.card)
    await turn.answer()
    await HIDE.begin(turn, card=card.id)


@HIDE.finisher
async def hidden(filling: Filling) -> None:
    reason = filling.values["reason"]
    card, brainstorm, author = await flow.hide(filling.context.db, filling.who,
                                               filling.ids["card"], reason)
    if author is not None:
        t = Translator(author.language, filling.who.community.timezone)
        await deliver(filling.context, author.id, t._(
            "Your problem “{text}” was hidden by a coordinator. Reason: {reason}",
            text=isolate(card.text), reason=isolate(reason)))
    await _show_curation(filling.turn, brainstorm.id)


# -- wiring ----------------------------------------------------------------------------------


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (
        brainstorm_command, problem_command, add_tap, problems_command, browse_tap, page_tap,
        me_too_tap, curate_command, curate_tap, card_tap, shortlist_tap, merge_menu_tap,
        merge_tap, undo_tap, close_tap, reword_tap, hide_tap)])
