"""Problem brainstorming: /brainstorm opens a round, /problem adds a card, /problems browses
with "me too", /curate lets coordinators edit, merge, hide and shortlist — and undo.

The shortlist feeds /prioritise ("Use the brainstorm shortlist"). Typed input (a problem, a
new wording, a reason) goes through one persistent conversation, so a restart resumes it.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
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
from bot.flows import brainstorm as flow
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
    say,
    short,
)
from bot.i18n import N_, Translator, isolate
from storage import brainstorm as store
from storage import community as community_store
from storage.brainstorm import Brainstorm, Card

COMMANDS = [
    Command("problem", N_("Add a local problem"), "resident"),
    Command("problems", N_("Browse the problems and say “me too”"), "resident"),
    Command("brainstorm", N_("Open a brainstorm of local problems"), "coordinator"),
    Command("curate", N_("Edit, merge, hide and shortlist problems"), "coordinator"),
]

TEXT, REWORD, REASON = range(3)
INPUT = "brainstorm_input"
PAGE = 5
NO_ROUND = N_("There is no brainstorm yet. A coordinator opens one with /brainstorm.")
STEP_LABELS = {"edit": N_("new wording"), "merge": N_("merge"), "hide": N_("hiding"),
               "shortlist": N_("shortlist change")}


def _ints(parts: list[str]) -> list[int]:
    return callback_ints(parts, flow.NOT_AVAILABLE)


def _input(context: Context) -> dict[str, Any]:
    return context.user_data.setdefault(INPUT, {})  # type: ignore[union-attr, no-any-return]


async def _round(who: Actor, context: Context, round_id: int | None = None) -> Brainstorm:
    """The named round if it is in this person's community, else the current one."""
    assert who.community is not None
    brainstorm = (await store.get_round(context.db, round_id) if round_id is not None
                  else await store.latest_round(context.db, who.community.id))
    if brainstorm is None or brainstorm.community_id != who.community.id:
        raise Refused(NO_ROUND if round_id is None else flow.NOT_AVAILABLE)
    return brainstorm


async def _card(who: Actor, context: Context, card_id: int) -> tuple[Card, Brainstorm]:
    card = await store.get_card(context.db, card_id)
    if card is None:
        raise Refused(flow.NOT_AVAILABLE)
    return card, await _round(who, context, card.brainstorm_id)


def _line(t: Translator, number: int, card: Card) -> str:
    marks = ("★ " if card.shortlisted else "") + ("📷 " if card.photo else "")
    return f"{t.num(number)}. {marks}{isolate(card.text)} — 👥 {t.num(card.support)}"


# -- opening a round -------------------------------------------------------------------------


@refusals
async def brainstorm_command(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert who.community is not None
    prompt = " ".join(context.args or [])
    if not prompt:
        raise Refused(N_("Write the question with the command, e.g. /brainstorm What makes"
                         " life hard in our street?"))
    brainstorm = await store.open_round(context.db, who.community.id,
                                        flow.check_text(prompt), who.user.id)
    if brainstorm is None:
        raise Refused(N_("A brainstorm is already open. Close it from /curate first."))
    people = [u for _m, u in await community_store.members(context.db, who.community.id)]

    def render(t: Translator, _user: object) -> tuple[str, InlineKeyboardMarkup]:
        return "\n".join([
            t._("Brainstorm: <b>{prompt}</b>", prompt=isolate(brainstorm.prompt)),
            t._("Add the problems you see, and say “me too” to those others raised."),
        ]), InlineKeyboardMarkup([[
            InlineKeyboardButton(t._("Add a problem"), callback_data=f"bs:add:{brainstorm.id}"),
            InlineKeyboardButton(t._("Browse"), callback_data=f"bs:pg:{brainstorm.id}:0"),
        ]])

    await notify(context.application, who.community, people, render,
                 key=f"brainstorm-open:{brainstorm.id}")
    await say(update, who.t._("The brainstorm is open; members are being told."))


# -- adding a problem ------------------------------------------------------------------------


@refusals
async def add_start(update: Update, context: Context) -> int:
    who = await member(update, context)
    if update.callback_query is not None:
        (round_id,) = _ints(callback_parts(update)[2:3])
        brainstorm = await _round(who, context, round_id)
        await update.callback_query.answer()
    else:
        brainstorm = await _round(who, context)
    if brainstorm.status != "open":
        raise Refused(flow.CLOSED)
    _input(context).clear()
    _input(context).update(id=brainstorm.id)
    await say(update, who.t._("Describe the problem in a sentence or two (you may send a"
                              " photo with a caption). /cancel stops."))
    return TEXT


@refusals
async def add_text(update: Update, context: Context) -> int | None:
    who = await member(update, context)
    message = update.effective_message
    assert message is not None
    brainstorm = await _round(who, context, int(_input(context).get("id", 0)))
    photo = message.photo[-1].file_id if message.photo else None
    await flow.submit(context.db, brainstorm, who.user.id, message.caption or message.text
                      or "", photo)
    _input(context).clear()
    await say(update, who.t._("Thank you! Your problem is on the board. /problems shows them"
                              " all."))
    return ConversationHandler.END


# -- browsing and "me too" ---------------------------------------------------------------------


async def _board(who: Actor, context: Context, brainstorm: Brainstorm,
                 page: int) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    found = await store.cards(context.db, brainstorm.id)
    backed = {c.id for c in found if who.user.id in await store.supporters(context.db, c.id)}
    pages = max(1, -(-len(found) // PAGE))
    page = min(max(page, 0), pages - 1)
    shown = found[page * PAGE:(page + 1) * PAGE]
    lines = [t._("Brainstorm: <b>{prompt}</b>", prompt=isolate(brainstorm.prompt)), ""]
    if not found:
        lines.append(t._("No problems yet. Add the first with /problem."))
    lines += [_line(t, page * PAGE + i + 1, c) for i, c in enumerate(shown)]
    if pages > 1:
        lines += ["", t._("Page {page} of {pages}", page=page + 1, pages=pages)]
    rows = [[InlineKeyboardButton(
        f"{'✅' if c.id in backed else '👍'} {t.num(page * PAGE + i + 1)}. {short(c.text, 28)}",
        callback_data=f"bs:me:{c.id}:{page}")]
        for i, c in enumerate(shown) if c.author_id != who.user.id]
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("‹", callback_data=f"bs:pg:{brainstorm.id}:{page - 1}"))
    if page < pages - 1:
        nav.append(InlineKeyboardButton("›", callback_data=f"bs:pg:{brainstorm.id}:{page + 1}"))
    if nav:
        rows.append(nav)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@refusals
async def problems_command(update: Update, context: Context) -> None:
    who = await member(update, context)
    text, markup = await _board(who, context, await _round(who, context), 0)
    await say(update, text, reply_markup=markup)


@refusals
async def page_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    round_id, page = _ints(callback_parts(update)[2:4])
    text, markup = await _board(who, context, await _round(who, context, round_id), page)
    assert update.callback_query is not None
    await update.callback_query.answer()
    # The board turns its own pages; the announcement keeps its buttons and gets a board.
    keyboard = getattr(update.callback_query.message, "reply_markup", None)
    announcement = keyboard is not None and any(
        str(b.callback_data).startswith("bs:add:") for row in keyboard.inline_keyboard
        for b in row)
    if announcement:
        await say(update, text, reply_markup=markup)
    else:
        await edit_message(update, text, markup)


@refusals
async def me_too_tap(update: Update, context: Context) -> None:
    who = await member(update, context)
    card_id, page = _ints(callback_parts(update)[2:4])
    card, brainstorm = await _card(who, context, card_id)
    now = await flow.me_too(context.db, brainstorm, card, who.user.id)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("Me too!") if now else who.t._("Taken back."))
    text, markup = await _board(who, context, brainstorm, page)
    await edit_message(update, text, markup)


# -- curation ------------------------------------------------------------------------------


async def _curation(who: Actor, context: Context,
                    brainstorm: Brainstorm) -> tuple[str, InlineKeyboardMarkup]:
    t = who.t
    found = await store.cards(context.db, brainstorm.id)
    lines = [t._("Curating: <b>{prompt}</b>", prompt=isolate(brainstorm.prompt))]
    if brainstorm.status != "open":
        lines.append(t._("(closed)"))
    lines.append(t._("★ marks the shortlist for prioritisation. Tap a card to work on it."))
    lines.append("")
    lines += [_line(t, i + 1, c) for i, c in enumerate(found)]
    rows = [[InlineKeyboardButton(f"{t.num(i + 1)}. {short(c.text, 34)}",
                                  callback_data=f"bs:c:{c.id}")] for i, c in enumerate(found)]
    step = await store.last_step(context.db, brainstorm.id)
    extra = []
    if step is not None:
        extra.append(InlineKeyboardButton(
            t._("↶ Undo the last {step}", step=t._(STEP_LABELS[step.action])),
            callback_data=f"bs:undo:{brainstorm.id}"))
    if brainstorm.status == "open":
        extra.append(InlineKeyboardButton(t._("Close the brainstorm"),
                                          callback_data=f"bs:end:{brainstorm.id}"))
    if extra:
        rows.append(extra)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@refusals
async def curate_command(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    text, markup = await _curation(who, context, await _round(who, context))
    await say(update, text, reply_markup=markup)


async def _show_curation(update: Update, context: Context, who: Actor,
                         brainstorm: Brainstorm) -> None:
    text, markup = await _curation(who, context, brainstorm)
    if update.callback_query is not None:
        await edit_message(update, text, markup)
    else:
        await say(update, text, reply_markup=markup)


@refusals
async def card_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    t = who.t
    (card_id,) = _ints(callback_parts(update)[2:3])
    card, _brainstorm = await _card(who, context, card_id)
    if card.status != "visible":
        raise Refused(flow.NOT_AVAILABLE)
    assert update.callback_query is not None
    await update.callback_query.answer()
    text = "\n".join([isolate(card.text),
                      t.ngettext("{n} person raised or supports it.",
                                 "{n} people raised or support it.", card.support)])
    await edit_message(update, text, InlineKeyboardMarkup([
        [InlineKeyboardButton(t._("Edit the wording"), callback_data=f"bs:ed:{card.id}"),
         InlineKeyboardButton(t._("Merge into…"), callback_data=f"bs:mg:{card.id}")],
        [InlineKeyboardButton(t._("Remove from the shortlist") if card.shortlisted
                              else t._("Add to the shortlist"),
                              callback_data=f"bs:sl:{card.id}"),
         InlineKeyboardButton(t._("Hide"), callback_data=f"bs:hd:{card.id}")],
        [InlineKeyboardButton(t._("Back"), callback_data=f"bs:back:{card.brainstorm_id}")],
    ]))


@refusals
async def back_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (round_id,) = _ints(callback_parts(update)[2:3])
    brainstorm = await _round(who, context, round_id)
    assert update.callback_query is not None
    await update.callback_query.answer()
    await _show_curation(update, context, who, brainstorm)


@refusals
async def shortlist_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (card_id,) = _ints(callback_parts(update)[2:3])
    card, brainstorm = await _card(who, context, card_id)
    await flow.toggle_shortlist(context.db, card, who.user.id)
    assert update.callback_query is not None
    await update.callback_query.answer()
    await _show_curation(update, context, who, brainstorm)


@refusals
async def merge_menu_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (card_id,) = _ints(callback_parts(update)[2:3])
    card, brainstorm = await _card(who, context, card_id)
    others = [c for c in await store.cards(context.db, brainstorm.id) if c.id != card.id]
    assert update.callback_query is not None
    await update.callback_query.answer()
    await edit_message(update, who.t._("Merge “{text}” into which card? Its supporters count"
                                       " there, each person once.", text=isolate(card.text)),
                       InlineKeyboardMarkup(
                           [[InlineKeyboardButton(short(c.text, 40),
                                                  callback_data=f"bs:mi:{card.id}:{c.id}")]
                            for c in others]
                           + [[InlineKeyboardButton(who.t._("Back"),
                                                    callback_data=f"bs:back:{brainstorm.id}")]]))


@refusals
async def merge_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    card_id, target_id = _ints(callback_parts(update)[2:4])
    card, brainstorm = await _card(who, context, card_id)
    target, _ = await _card(who, context, target_id)
    await flow.merge(context.db, card, target, who.user.id)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("Merged."))
    await _show_curation(update, context, who, brainstorm)


@refusals
async def undo_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (round_id,) = _ints(callback_parts(update)[2:3])
    brainstorm = await _round(who, context, round_id)
    step = await flow.undo_last(context.db, brainstorm)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("Undone: {step}.",
                                               step=who.t._(STEP_LABELS[step.action])))
    await _show_curation(update, context, who, brainstorm)


@refusals
async def end_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (round_id,) = _ints(callback_parts(update)[2:3])
    brainstorm = await _round(who, context, round_id)
    await store.close_round(context.db, brainstorm.id)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("The brainstorm is closed."))
    await _show_curation(update, context, who, await _round(who, context, round_id))


# -- curation steps that need typing ---------------------------------------------------------


async def _ask_about_card(update: Update, context: Context, question: str, state: int) -> int:
    """A curation step that needs typing: remember the card, ask, wait in ``state``."""
    who = await coordinator(update, context)
    (card_id,) = _ints(callback_parts(update)[2:3])
    card, _ = await _card(who, context, card_id)
    assert update.callback_query is not None
    await update.callback_query.answer()
    _input(context).clear()
    _input(context).update(id=card.id)
    await say(update, who.t._(question))
    return state


@refusals
async def reword_start(update: Update, context: Context) -> int:
    return await _ask_about_card(update, context, N_("Send the new wording (or /cancel)."),
                                 REWORD)


@refusals
async def reword_text(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    card, brainstorm = await _card(who, context, int(_input(context).get("id", 0)))
    assert update.effective_message is not None
    await flow.reword(context.db, card, who.user.id, update.effective_message.text or "")
    _input(context).clear()
    await _show_curation(update, context, who, brainstorm)
    return ConversationHandler.END


@refusals
async def hide_start(update: Update, context: Context) -> int:
    return await _ask_about_card(
        update, context, N_("Why is it hidden? The author will be told (or /cancel)."), REASON)


@refusals
async def hide_reason(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    card, brainstorm = await _card(who, context, int(_input(context).get("id", 0)))
    assert update.effective_message is not None and who.community is not None
    reason = update.effective_message.text or ""
    await flow.hide(context.db, card, who.user.id, reason)
    _input(context).clear()
    author = await community_store.get_user(context.db, card.author_id or 0)
    if author is not None:
        t = Translator(author.language, who.community.timezone)
        await deliver(context, author.id, t._(
            "Your problem “{text}” was hidden by a coordinator. Reason: {reason}",
            text=isolate(card.text), reason=isolate(" ".join(reason.split()))))
    await _show_curation(update, context, who, brainstorm)
    return ConversationHandler.END


async def cancel(update: Update, context: Context) -> int:
    who = await actor(update, context)
    _input(context).clear()
    await say(update, who.t._("Stopped. Nothing was changed."))
    return ConversationHandler.END


# -- wiring --------------------------------------------------------------------------------


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("problem", add_start, filters=private),
                      CallbackQueryHandler(add_start, pattern=r"^bs:add:"),
                      CallbackQueryHandler(reword_start, pattern=r"^bs:ed:"),
                      CallbackQueryHandler(hide_start, pattern=r"^bs:hd:")],
        states={
            TEXT: [MessageHandler(text | filters.PHOTO, add_text)],
            REWORD: [MessageHandler(text, reword_text)],
            REASON: [MessageHandler(text, hide_reason)],
        },
        fallbacks=[CommandHandler("cancel", cancel)],
        name="brainstorm_input", persistent=True, allow_reentry=True,
    ))
    app.add_handler(CommandHandler("brainstorm", brainstorm_command, filters=private))
    app.add_handler(CommandHandler("problems", problems_command, filters=private))
    app.add_handler(CommandHandler("curate", curate_command, filters=private))
    for pattern, callback in (
        (r"^bs:pg:", page_tap), (r"^bs:me:", me_too_tap), (r"^bs:c:", card_tap),
        (r"^bs:back:", back_tap), (r"^bs:sl:", shortlist_tap), (r"^bs:mg:", merge_menu_tap),
        (r"^bs:mi:", merge_tap), (r"^bs:undo:", undo_tap), (r"^bs:end:", end_tap),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=pattern))
