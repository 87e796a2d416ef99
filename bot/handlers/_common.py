"""Small helpers every capability's handlers share (no user-facing text lives here)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from telegram import Message, Update
from telegram.error import Forbidden, TelegramError

from bot.actor import actor
from bot.app import Context
from bot.flows.errors import Refused
from bot.i18n import Translator
from storage import community as community_store

log = logging.getLogger(__name__)
T = TypeVar("T")


async def say(update: Update, text: str, **kwargs: Any) -> Message:
    """Reply in the chat the update came from."""
    message = update.effective_message
    assert message is not None
    return await message.reply_text(text, **kwargs)


async def refuse(update: Update, t: Translator, message: str, **values: Any) -> None:
    """A localized refusal: an alert on a button tap, a reply to a message."""
    if update.callback_query is not None:
        await update.callback_query.answer(t._(message, **values), show_alert=True)
    else:
        await say(update, t._(message, **values))


def callback_parts(update: Update) -> list[str]:
    query = update.callback_query
    assert query is not None and query.data is not None
    return query.data.split(":")


def callback_ints(parts: list[str], refusal: str) -> list[int]:
    """Callback fields as numbers; forged text raises Refused(refusal) instead of crashing."""
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise Refused(refusal) from None


def short(text: str, limit: int = 36) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def deliver(context: Context, user_id: int, text: str, **kwargs: Any) -> bool:
    """Send to one person; a person who blocked the bot is marked unreachable, not retried."""
    try:
        await context.bot.send_message(user_id, text, **kwargs)
    except Forbidden:
        await community_store.set_reachable(context.db, user_id, False)
        return False
    except TelegramError:
        log.warning("could not deliver a message to a member")
        return False
    return True


def refusals(handler: Callable[[Update, Context], Coroutine[Any, Any, T]],
             ) -> Callable[[Update, Context], Coroutine[Any, Any, T | None]]:
    """Turns a :class:`Refused` raised anywhere in ``handler`` into the localized refusal.

    Handlers then read as the happy path: check, raise, go on. The refusal is an alert on a
    button tap and a reply to a message; nothing else happens. Returning None keeps a
    conversation in its state, so a refused answer is simply asked again.
    """

    @functools.wraps(handler)
    async def wrapper(update: Update, context: Context) -> T | None:
        try:
            return await handler(update, context)
        except Refused as refused:
            who = await actor(update, context)
            await refuse(update, who.t, refused.message, **refused.values)
            return None

    return wrapper
