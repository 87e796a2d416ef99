"""What nothing else handled: group chats, over-long input, unknown commands, stale buttons,
stray text, and errors. Registered last, so every capability comes first."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import Forbidden
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.actor import actor
from bot.app import Context, MahfilApp
from bot.flows import community as community_flow
from bot.flows import typed
from bot.flows.typed import clean, has_controls
from bot.handlers import handler_modules
from bot.i18n import N_, Translator, match_language
from bot.messages import MAX_MESSAGE

log = logging.getLogger(__name__)

# Telegram itself caps a message at 4096 characters; anything longer is not from a client.
MAX_INPUT = MAX_MESSAGE


def group_commands() -> frozenset[str]:
    """Commands a capability serves inside group chats (``GROUP_COMMANDS`` in its module)."""
    names: set[str] = set()
    for module in handler_modules():
        names.update(getattr(module, "GROUP_COMMANDS", ()))
    return frozenset(names)


async def guard(update: Update, context: Context) -> None:
    """Runs before every handler: keeps group chats quiet and refuses input no handler
    should see — over-long, holding control characters (a NUL reached the database as an
    IntegrityError), or nothing at all once cleaned (``bot.flows.typed.clean``).

    PTB's messages are frozen, so what the guard cannot clean it refuses: control
    characters come from programs, not people, and refusing them costs nobody anything.
    Bidi overrides and surrounding spaces, which people do paste, are stripped where the
    text is read (``clean`` in the form engine, ``words``, ``lines``)."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None or update.callback_query is not None:
        return
    if chat.type != ChatType.PRIVATE:
        await _group_message(update, context)
        return
    text = message.text or message.caption or ""
    if not text:
        return
    refusal: str | None = None
    values: dict[str, object] = {}
    if has_controls(text):
        refusal = typed.CONTROL_CHARACTERS
    elif text.strip() and not clean(text):  # (blank text: the handler asks again)
        refusal = typed.NOTHING_LEFT
    elif len(clean(text)) > MAX_INPUT:
        refusal, values = N_("That message is too long: at most {limit} characters,"
                             " please."), {"limit": MAX_INPUT}
    if refusal is not None:
        who = await actor(update, context)
        await message.reply_text(who.t._(refusal, **values))
        raise ApplicationHandlerStop


async def slow_down(app: MahfilApp, update: Update) -> None:
    """Told once when someone sends more at once than the bot keeps for them (their
    excess updates are dropped unread: see ``bot.app.PerUserUpdateProcessor``)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return  # a group's chatter gets no answer anyway
    try:
        stored = await community_flow.user(app.bot_data.db, user.id)
        lang = stored.language if stored is not None else match_language(
            user.language_code, app.bot_data.config.default_locale)
        t = Translator(lang)
        await app.bot.send_message(chat.id, t._(
            "You are sending messages faster than I can read them, so I skipped some."
            " Please wait for my answer before sending more."))
    except Exception:  # a courtesy: it must never raise
        log.exception("could not ask user %s to slow down", user.id)


async def _group_message(update: Update, context: Context) -> None:
    """In groups only commands addressed to the bot get an answer: point to the private chat."""
    message = update.effective_message
    assert message is not None
    command = _command(message.text or "", context.bot.username)
    if command is None:
        raise ApplicationHandlerStop  # chatter in a group is not for us
    name, addressed = command
    if name in group_commands():
        return
    if addressed and update.effective_user is not None:
        t = Translator(match_language(update.effective_user.language_code,
                                      context.config.default_locale))
        await message.reply_text(
            t._("Let's talk in a private chat, so the group stays quiet."),
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton(t._("Open a private chat"),
                                       url=f"https://t.me/{context.bot.username}")]]
            ),
        )
    raise ApplicationHandlerStop


def _command(text: str, bot_username: str) -> tuple[str, bool] | None:
    """``("help", True)`` for ``/help@ourbot``; ``None`` if not a command for us."""
    if not text.startswith("/"):
        return None
    head = text.split()[0][1:]
    name, _, target = head.partition("@")
    if target and target.lower() != bot_username.lower():
        return None
    return name.lower(), bool(target)


async def unknown_command(update: Update, context: Context) -> None:
    who = await actor(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        who.t._("I don't know that command. Send /help to see what you can do.")
    )


async def stray_text(update: Update, context: Context) -> None:
    who = await actor(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        who.t._("I did not expect a message here. Send /help to see what you can do.")
    )


async def stale_button(update: Update, context: Context) -> None:
    """A button no handler claims: old, forged, or from a finished step."""
    query = update.callback_query
    assert query is not None
    who = await actor(update, context)
    await query.answer(who.t._("This button no longer works."), show_alert=True)


async def on_error(update: object, context: Context) -> None:
    """Log the failure (PTB logs no token; httpx is kept at WARNING) and tell the person."""
    error = context.error
    if isinstance(error, Forbidden) and isinstance(update, Update) and update.effective_user:
        await community_flow.mark_unreachable(context.db, update.effective_user.id)
        return
    log.error("update failed: %r", error, exc_info=error)
    if not isinstance(update, Update) or update.effective_user is None:
        return
    try:
        who = await actor(update, context)
        text = who.t._("Sorry, something went wrong on our side. Please try again in a moment.")
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, text)
    except Exception:  # the error report itself must never raise
        log.exception("could not tell the user about the error")


def register(app: MahfilApp) -> None:
    from bot.handlers import _forms

    app.add_handler(TypeHandler(Update, guard), group=-1)
    _forms.register(app)  # /cancel, /skip, answers to questions, and stray text
    private = filters.ChatType.PRIVATE
    app.add_handler(MessageHandler(private & filters.COMMAND, unknown_command))
    app.add_handler(CallbackQueryHandler(stale_button))
    app.add_error_handler(on_error)
