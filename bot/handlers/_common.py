"""Small helpers every capability's handlers share: who may act, replies, refusals, notices."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.actor import Actor, actor
from bot.app import Context
from bot.delivery import courier
from bot.flows.broadcast import MAX_CAPTION, quiet_until
from bot.flows.errors import Refused
from bot.i18n import N_, Translator
from bot.messages import split_text
from storage import broadcast as outbox
from storage import community as community_store
from storage.broadcast import Message as Outbound
from storage.community import Community, User
from storage.db import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

JOIN_FIRST = N_("Join a community first: open the invitation link your coordinator shared.")
ONLY_COORDINATORS = N_("Only coordinators of this community can do that.")


async def member(update: Update, context: Context) -> Actor:
    """The person behind the update, who must belong to a community (Refused otherwise)."""
    who = await actor(update, context)
    if who.community is None or not who.has_role("resident"):
        raise Refused(JOIN_FIRST)
    return who


async def coordinator(update: Update, context: Context) -> Actor:
    """The person behind the update, who must coordinate their current community."""
    who = await member(update, context)
    if not who.is_coordinator:
        raise Refused(ONLY_COORDINATORS)
    return who


async def edit_message(update: Update, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit the message whose button was tapped; a double tap's "not modified" is fine."""
    query = update.callback_query
    assert query is not None
    with contextlib.suppress(BadRequest):
        await query.edit_message_text(text, reply_markup=markup)


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


Render = Callable[[Translator, User], "tuple[str, InlineKeyboardMarkup | None]"]


async def notify(app: Application, community: Community, people: Iterable[User],  # type: ignore[type-arg]
                 render: Render, *, key: str | None,
                 photo: Callable[[Translator], str | None] | None = None) -> int:
    """Queue a notice to each person in their language, through the delivery outbox.

    Notices are not urgent: inside the community's quiet hours they wait until morning.
    ``key`` names the notice; a person never receives the same key twice, so a job that
    runs again after a restart cannot repeat it. With ``photo`` (a stored picture per
    language) the text becomes its caption. Returns how many messages were queued.
    """
    hold = quiet_until(utcnow(), community)
    courier_ = courier(app)
    messages = []
    for user in people:
        if not user.reachable:
            continue
        t = Translator(user.language, community.timezone)
        text, markup = render(t, user)
        picture = photo(t) if photo is not None else None
        parts = [text[:MAX_CAPTION]] if picture else split_text(text)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            messages.append(Outbound(
                chat_id=user.id, user_id=user.id, text=part, due_at=hold, paid=courier_.paid,
                photo=picture, markup=markup.to_dict() if markup is not None and last else None,
                dedupe=None if key is None else f"{key}:{user.id}:{index}"))
    queued = await outbox.enqueue(app.bot_data.db, messages)
    courier_.wake()
    return queued


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
