"""What every capability's handlers share: one shape for a command, a tap and a notice.

A handler is declared with the decorator for what it answers — :func:`command`, :func:`tap`
(a member's button), :func:`guest_tap` (a button anyone may press) or :func:`on_message` —
and receives a :class:`Turn`: who is acting (resolved once, role already checked), the
parsed button if it was a tap, and how to answer. The decorator answers every button tap
exactly once and turns a :class:`~bot.flows.errors.Refused` raised anywhere below — in the
handler or in a flow — into the localized refusal (an alert for a tap, a reply otherwise),
so a handler body reads as the rule it applies: parse, call a flow, render.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.actor import Actor, Member, actor
from bot.app import Context, MahfilApp
from bot.callbacks import Button
from bot.delivery import courier
from bot.flows import community as community_flow
from bot.flows import schedule, typed
from bot.flows.broadcast import MAX_CAPTION, Notice, enqueue_notices
from bot.flows.errors import Refused
from bot.flows.people import Community, Role, User, require
from bot.i18n import Translator
from bot.messages import split_text

log = logging.getLogger(__name__)
T = TypeVar("T")

ALERT_LIMIT = 200  # characters Telegram shows in the answer to a tap


async def member(update: Update, context: Context, role: Role = "resident") -> Member:
    """The person behind the update as a member of their current community, with at least
    ``role`` there (Refused otherwise)."""
    return require(await actor(update, context), role)


# -- turns: one update being handled -------------------------------------------------------

W = TypeVar("W", bound=Actor)
B = TypeVar("B", bound=Button)


class Turn(Generic[W]):
    """One update being handled: who sent it, and how to answer them."""

    def __init__(self, update: Update, context: Context, who: W) -> None:
        self.update = update
        self.context = context
        self.who = who

    @property
    def t(self) -> Translator:
        return self.who.t

    @property
    def app(self) -> MahfilApp:
        return self.context.application

    @property
    def args(self) -> list[str]:
        """A command's words after the command itself."""
        return list(self.context.args or [])

    @property
    def text(self) -> str:
        """What the person wrote (a command's text after the command), cleaned."""
        message = self.update.effective_message
        raw = (message.text or message.caption or "") if message is not None else ""
        if raw.startswith("/"):
            raw = raw.partition(" ")[2] if " " in raw else ""
        return typed.clean(raw)

    async def say(self, text: str, markup: InlineKeyboardMarkup | None = None,
                  **kwargs: Any) -> Message:
        """A new message in the chat the update came from."""
        chat = self.update.effective_chat
        assert chat is not None
        return await self.context.bot.send_message(chat.id, text, reply_markup=markup,
                                                   **kwargs)

    async def refuse(self, refused: Refused) -> None:
        await self.say(self.t._(refused.message, **refused.values))


class Tapped(Turn[W], Generic[B, W]):
    """A button tap: the parsed button, and its query answered exactly once."""

    def __init__(self, update: Update, context: Context, who: W, button: B) -> None:
        super().__init__(update, context, who)
        self.button = button
        self.answered = False

    async def answer(self, text: str | None = None, *, alert: bool = False) -> None:
        """Stop the button's spinner, with a short notice or an alert. A second answer, or
        one longer than Telegram shows, becomes a message instead."""
        query = self.update.callback_query
        assert query is not None
        if self.answered or (text is not None and len(text) > ALERT_LIMIT):
            if not self.answered:
                await self._answer(None, alert=False)
            if text:
                await self.say(text)
            return
        await self._answer(text, alert=alert)

    async def _answer(self, text: str | None, *, alert: bool) -> None:
        query = self.update.callback_query
        assert query is not None
        self.answered = True
        with contextlib.suppress(BadRequest):  # the query expired while we worked
            if alert:
                await query.answer(text, show_alert=True)
            else:  # (Telegram's default: one parameter fewer to encode on every tap)
                await query.answer(text)

    async def refuse(self, refused: Refused) -> None:
        await self.answer(self.t._(refused.message, **refused.values), alert=True)

    async def edit(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Show ``text`` in the tapped message; a double tap's "not modified" is fine, and a
        message Telegram no longer has is sent anew."""
        query = self.update.callback_query
        assert query is not None
        try:
            await query.edit_message_text(text, reply_markup=markup)
        except BadRequest as error:
            if "not modified" in str(error).lower():
                return
            await self.say(text, markup)

    async def edit_markup(self, markup: InlineKeyboardMarkup | None = None) -> None:
        """Change (or, with None, remove) the tapped message's buttons."""
        query = self.update.callback_query
        assert query is not None
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(markup)


Said = Turn[Member]  # a command or message from a member
Tap = Tapped[B, Member]  # a member's tap
GuestTap = Tapped[B, Actor]  # a tap by anyone, member or not


@dataclass(frozen=True, slots=True)
class Handling:
    """A decorated handler: ``handler`` is what ``register(app)`` adds."""

    callback: Callable[[Update, Context], Coroutine[Any, Any, None]]
    handler: BaseHandler[Update, Context, None]


def tap(kind: type[B], *, first: bool = False,
        ) -> Callable[[Callable[[Tap[B]], Awaitable[None]]], Handling]:
    """A handler for a member's tap on a ``kind`` button.

    Before the body runs: the person is resolved, must be a member of their current
    community with the role the kind declares, and the data must parse as ``kind`` —
    otherwise they get the localized refusal and nothing else happens. Whatever happens,
    the tap is answered once. ``first`` is for a hot path registered ahead of the other
    handlers (a vote burst): once it has run, no later handler group looks at the update.
    """
    role: Role = kind.role if kind.role is not None else "resident"
    return _tapping(kind, lambda who: require(who, role), first=first)


def guest_tap(kind: type[B]) -> Callable[[Callable[[GuestTap[B]], Awaitable[None]]],
                                            Handling]:
    """A handler for a tap anyone may make (a language, an invitation's steps)."""
    if kind.role is not None:
        raise TypeError(f"{kind.__name__} needs a role; use @tap")
    return _tapping(kind, lambda who: who, first=False)


def _tapping(kind: type[B], allowed: Callable[[Actor], Actor], *,
             first: bool) -> Callable[[Callable[[Any], Awaitable[None]]], Handling]:
    """``allowed`` turns the person into who the body acts as (a member with the button's
    role), or raises Refused."""

    def wrap(body: Callable[[Any], Awaitable[None]]) -> Handling:
        @functools.wraps(body)
        async def callback(update: Update, context: Context) -> None:
            # Resolved first, and once: a refusal of a malformed button is in the person's
            # language (a sticker tap in a burst pays for one lookup, not two).
            who = await actor(update, context)
            turn: Tapped[Any, Any] = Tapped(update, context, who, None)
            try:
                query = update.callback_query
                assert query is not None
                turn.button = kind.parse(query.data or "")
                turn.who = allowed(who)
                await body(turn)
            except Refused as refused:
                await turn.refuse(refused)
            finally:
                if not turn.answered:
                    await turn.answer()
            if first:
                raise ApplicationHandlerStop

        return Handling(callback, CallbackQueryHandler(callback, pattern=kind.pattern))

    return wrap


PRIVATE = filters.ChatType.PRIVATE


@overload
def command(name: str, *, role: None, chats: filters.BaseFilter = PRIVATE,
            ) -> Callable[[Callable[[Turn[Actor]], Awaitable[None]]], Handling]: ...
@overload
def command(name: str, *, role: Role = "resident", chats: filters.BaseFilter = PRIVATE,
            ) -> Callable[[Callable[[Said], Awaitable[None]]], Handling]: ...
def command(name: str, *, role: Role | None = "resident", chats: filters.BaseFilter = PRIVATE,
            ) -> Callable[[Callable[[Any], Awaitable[None]]], Handling]:
    """A handler for ``/name`` (in private chats unless ``chats`` says otherwise), by a
    member with at least ``role`` — or by anyone with ``role=None``."""

    def wrap(body: Callable[[Any], Awaitable[None]]) -> Handling:
        callback = _message_callback(body, role)
        return Handling(callback, CommandHandler(name, callback, filters=chats))

    return wrap


@overload
def on_message(accepts: filters.BaseFilter, *, role: None,
               ) -> Callable[[Callable[[Turn[Actor]], Awaitable[None]]], Handling]: ...
@overload
def on_message(accepts: filters.BaseFilter, *, role: Role = "resident",
               ) -> Callable[[Callable[[Said], Awaitable[None]]], Handling]: ...
def on_message(accepts: filters.BaseFilter, *, role: Role | None = "resident",
               ) -> Callable[[Callable[[Any], Awaitable[None]]], Handling]:
    """A handler for messages that ``accepts`` lets through (a file sent to the bot)."""

    def wrap(body: Callable[[Any], Awaitable[None]]) -> Handling:
        callback = _message_callback(body, role)
        return Handling(callback, MessageHandler(accepts, callback))

    return wrap


def _message_callback(body: Callable[[Any], Awaitable[None]], role: Role | None,
                      ) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
    @functools.wraps(body)
    async def callback(update: Update, context: Context) -> None:
        base = await actor(update, context)
        turn: Turn[Actor] = Turn(update, context, base)
        try:
            who = base if role is None else await member(update, context, role)
            await body(Turn(update, context, who))
        except Refused as refused:
            await turn.refuse(refused)

    return callback


def clock(t: Translator, moment: datetime) -> str:
    """When something happens soon: the time of day if it is today, else date and time."""
    today = datetime.now(t.tz).date()
    return t.time(moment) if t.local(moment).date() == today else t.datetime(moment)


def short(text: str, limit: int = 36) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def deliver(context: Context, user_id: int, text: str, **kwargs: Any) -> bool:
    """Send to one person; a person who blocked the bot is marked unreachable, not retried."""
    try:
        await context.bot.send_message(user_id, text, **kwargs)
    except Forbidden:
        await community_flow.mark_unreachable(context.db, user_id)
        return False
    except TelegramError:
        log.warning("could not deliver a message to a member")
        return False
    return True


Render = Callable[[Translator, User], "tuple[str, InlineKeyboardMarkup | None]"]
NOTICE_CHUNK = 500  # notices rendered before they are queued (see notify)


async def notify(app: MahfilApp, community: Community, people: Iterable[User],
                 render: Render, *, key: str | None,
                 photo: Callable[[Translator], str | None] | None = None,
                 not_before: datetime | None = None) -> int:
    """Queue a notice to each person in their language, through the delivery outbox.

    Notices are not urgent: inside the community's quiet hours they wait until morning.
    ``key`` names the notice; a person never receives the same key twice, so a job that
    runs again after a restart cannot repeat it. With ``photo`` (a stored picture per
    language) the text becomes its caption; with ``not_before`` none goes earlier (a
    result that may still be withdrawn). Returns how many messages were queued.
    """
    courier_ = courier(app)
    translators: dict[str, Translator] = {}
    notices: list[Notice] = []
    queued = 0
    for user in people:
        if not user.reachable:
            continue
        t = translators.get(user.language)
        if t is None:
            t = translators[user.language] = Translator(user.language, community.timezone)
        text, markup = render(t, user)
        picture = photo(t) if photo is not None else None
        parts = [text[:MAX_CAPTION]] if picture else split_text(text)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            notices.append(Notice(
                user.id, part, markup.to_dict() if markup is not None and last else None,
                picture, None if key is None else f"{key}:{user.id}:{index}"))
        if len(notices) >= NOTICE_CHUNK:
            # A notice to a city renders 100,000 messages: a chunk at a time, queued
            # between chunks, so the loop serves others meanwhile and memory stays small.
            queued += await enqueue_notices(app.bot_data.db, community, notices,
                                            paid=courier_.paid, not_before=not_before)
            notices = []
    if notices:
        queued += await enqueue_notices(app.bot_data.db, community, notices,
                                        paid=courier_.paid, not_before=not_before)
    courier_.wake()
    return queued


def at(app: MahfilApp, name: str, when: datetime | None,
       job: Callable[[Context], Coroutine[Any, Any, None]], data: int) -> None:
    """Run ``job`` once at ``when`` (at once if it has passed), replacing any job of that
    name; with ``when`` None only the old job goes. Jobs are rebuilt from the database at
    start (each capability's ``on_startup``), so none is lost to a restart."""
    queue = app.job_queue
    if queue is None:
        return
    for old in queue.get_jobs_by_name(name):
        old.schedule_removal()
    if when is not None:
        queue.run_once(job, when=schedule.not_before_now(when), data=data, name=name)
