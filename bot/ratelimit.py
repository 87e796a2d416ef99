"""One account of Telegram's flood limits for every call the bot makes.

Telegram allows about 30 messages a second overall (1,000 a second for paid broadcasts),
one a second in a chat (short bursts tolerated) and 20 a minute in a group, and answers a
sender that goes over with 429 ``retry_after``; a sender that keeps going during that pause
is given longer and longer pauses. Replies, edits, answers to taps and the outbox all spend
the same allowance, so they are paced by one :class:`Account`:

- **lanes**: every message (send, edit, copy…) takes the next slot of its lane, 29 a second
  or 970 a second with ``allow_paid_broadcast`` — evenly spaced, a little under the limit,
  so no sliding second ever holds more than the limit. Waiting calls are served by
  priority: a reply to a quiet chat, more messages to a busy chat, background redraws
  (ballots, progress), then the outbox; a reply to a quiet chat may also leave a little
  before its slot (see :class:`Lane`), and a busy chat's messages never fill the last
  second, so a reply to a quiet chat never queues behind a flooder's message;
- **chats**: a private chat takes a burst of :data:`CHAT_BURST` and then one message every
  :data:`CHAT_GAP` seconds; a group a burst of :data:`GROUP_BURST`, then one every
  :data:`GROUP_GAP` seconds (never more than 20 in a minute). This is GCRA: one number per
  chat, the time its allowance is next whole again;
- **pause**: a 429 holds *every* call — messages, answers to taps, everything — until
  ``retry_after`` has passed, including calls that already had a slot; those then take new
  slots after the pause, one interval apart, so sending resumes at the paced rate and never
  as a burst. A 429 during the recovery extends the pause.

Interactive replies keep priority over mass messages: the delivery worker takes one slot at
a time (:meth:`Account.turn`), at the lowest priority, so a reply waits at most for the one
outbox message whose slot has come, never for a queue of them; and a flooder's replies,
paced by their chat, yield to everyone else's.

:class:`RateLimiter` plugs the account into PTB as its ``BaseRateLimiter``. It replaces
PTB's ``AIORateLimiter``, which holds calls during a 429 behind one event and then releases
all of them at once (17–19 sends within 50 ms were measured), knows no per-chat limit, and
paced beside the delivery worker's own pacer instead of with it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

FREE_RATE = 29.0  # messages a second: a little under Telegram's 30
PAID_RATE = 970.0  # a little under 1,000 a second with paid broadcasts
CHAT_GAP = 1.05  # seconds between two messages to one person, once the burst is spent
CHAT_BURST = 20  # messages a private chat may receive at once before the 1/s pace
# A group takes a burst of GROUP_BURST and then one every GROUP_GAP: in any minute at most
# GROUP_BURST + 60 / GROUP_GAP = 5 + 14 < 20, Telegram's limit, however the minute is cut.
GROUP_GAP = 4.05
GROUP_BURST = 5
MAX_RETRIES = 3  # an interactive call answered 429 is tried again this often
# Calls that put a message in a chat: they spend a lane's slot and the chat's allowance.
# Bot API method names are case-insensitive (raw calls use lower case), so these are too.
MESSAGE_METHODS = frozenset(name.lower() for name in (
    "sendMessage", "sendPhoto", "sendDocument", "sendVideo", "sendAnimation", "sendAudio",
    "sendVoice", "sendSticker", "sendLocation", "sendContact", "sendPoll", "sendMediaGroup",
    "copyMessage", "copyMessages", "forwardMessage", "forwardMessages",
    "editMessageText", "editMessageCaption", "editMessageReplyMarkup", "editMessageMedia",
))
_PRUNE_AT = 4096  # chats remembered before the ones whose allowance is whole are dropped


class Paced(enum.Enum):
    """``rate_limit_args`` of a call whose sender already took its turn (the outbox).

    Such a call is not paced again and not retried: the delivery worker records a 429 on
    the outbox row and sends it again when it is due."""

    BULK = "bulk"


def seconds_of(error: RetryAfter) -> float:
    wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


URGENT, LATER, BACKGROUND, BULK = 0, 1, 2, 3  # a lane's waiting calls, served in this order
# Set in the tasks of background redraws (bot.app.LatestOnly): their edits yield to replies.
in_background: ContextVar[bool] = ContextVar("in_background", default=False)


class Lane:
    """Evenly spaced slots at ``rate`` a second, given to the waiting calls by priority.

    Priorities: a reply to a chat that has received little lately (``URGENT``), further
    messages to a chat that is receiving many (``LATER``: a flooder's replies, the second
    part of a long answer), background redraws (``BACKGROUND``: ballots, progress), then the
    outbox (``BULK``). A call that finds the lane free and nobody of its priority or a
    higher one waiting goes at once without a task switch.

    A sleep that overran is made up for by the slots after it: at a thousand a second the
    interval (1 ms) is as long as the event loop's wake-up error, so by up to 10 ms' worth
    of calls (no second then holds more than ``rate × 1.01``); at 30 a second by up to a
    quarter of an interval, so the pace holds at 29 while two messages are never closer
    than three quarters of an interval.
    """

    def __init__(self, rate: float, account: Account) -> None:
        self.interval = 1.0 / rate
        self.slack = 0.01 if rate >= 100 else 0.0
        self.catch_up = max(self.slack, self.interval / 4)
        # A reply to a quiet chat may go up to half an interval before its slot (pushing the
        # slots after it back), or a whole one while the last second held at most
        # ``rate - 2`` messages: it waits little or not at all behind another chat's message
        # (a flooder's, the outbox's), and no second holds more than one above the pace.
        self.early = (self.interval / 2, 0.0, 0.0, 0.0)
        self._headroom = int(rate) - 2 if rate < 100 else 0  # (fast lanes carry no replies)
        self._released: deque[float] = deque()  # release times of the last second
        self.next = 0.0  # loop time of the next free slot
        self._account = account
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = tuple(
            deque() for _ in range(BULK + 1))
        self._dispatcher: asyncio.Task[None] | None = None
        self._sleeping_for = BULK + 1  # the priority the dispatcher's sleep is for

    def _last_second(self, now: float) -> int:
        released = self._released
        while released and released[0] <= now - 1.0:
            released.popleft()
        return len(released)

    def _early(self, now: float, priority: int) -> float:
        if priority != URGENT or not self._headroom:
            return self.early[priority]
        return (self.interval if self._last_second(now) < self._headroom
                else self.early[URGENT])

    def _held_back(self, now: float, priority: int) -> float:
        """Until when a busy chat's message waits so that replies to quiet chats keep their
        headroom (0: it need not).

        A flooder's replies (``LATER``) would otherwise fill every slot of the second after
        the flood, and each quiet person's reply would then wait up to half an interval for
        its slot (bench/flood.py: p99 8.6 → 20.6 ms). Held below the headroom, they leave
        the lane's last second short of ``rate - 2``, so a reply to a quiet chat still goes
        a whole interval early — at once. The outbox is not held back: a broadcast keeps
        the full pace."""
        if priority != LATER or not self._headroom:
            return 0.0
        if self._last_second(now) < self._headroom:
            return 0.0
        return self._released[-self._headroom] + 1.0  # when the window has room again

    def _take(self, now: float, priority: int) -> bool:
        """Take a slot if one is due for ``priority`` and no pause holds."""
        if max(self.next - self._early(now, priority), self._account.paused_until,
               self._held_back(now, priority)) > now:
            return False
        if self._headroom:
            self._released.append(now)
        # From the slot's own time, not the moment the dispatcher woke: a sleep that overran
        # is made up for by the next slot (bounded by ``catch_up``), or the lane would run
        # a few percent slow (27.8 a second instead of 29 was measured).
        self.next = max(now - self.catch_up, self.next) + self.interval
        return True

    async def turn(self, priority: int = URGENT) -> None:
        """Return when this call may be sent: its slot has come and no pause holds."""
        loop = asyncio.get_running_loop()
        if not any(self._waiting[:priority + 1]) and self._take(loop.time(), priority):
            return
        future: asyncio.Future[None] = loop.create_future()
        self._waiting[priority].append(future)
        if self._dispatcher is not None and not self._dispatcher.done():
            if priority >= self._sleeping_for:
                await future
                return
            self._dispatcher.cancel()  # asleep for a later call: this one may go sooner
        self._dispatcher = asyncio.create_task(self._dispatch())
        await future

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            priority = next((p for p, q in enumerate(self._waiting) if q), None)
            if priority is None:
                return
            queue = self._waiting[priority]
            if queue[0].done():  # its caller was cancelled
                queue.popleft()
                continue
            now = loop.time()
            if self._take(now, priority):
                queue.popleft().set_result(None)
                continue
            # Until the slot, or the end of the pause (which a 429 may extend meanwhile).
            at = max(self.next - self._early(now, priority), self._account.paused_until,
                     self._held_back(now, priority))
            self._sleeping_for = priority
            try:
                await asyncio.sleep(at - now)
            finally:
                self._sleeping_for = BULK + 1


class Account:
    """Telegram's limits as one bot spends them; see the module's docstring."""

    def __init__(self, *, rate: float = FREE_RATE, paid_rate: float = PAID_RATE,
                 chat_gap: float = CHAT_GAP, chat_burst: int = CHAT_BURST,
                 group_gap: float = GROUP_GAP, group_burst: int = GROUP_BURST) -> None:
        self.paused_until = 0.0  # loop time before which nothing may be sent
        self.pauses = 0  # 429s received (for logs and benches)
        self.lanes = {False: Lane(rate, self), True: Lane(paid_rate, self)}
        self.chat_gap = chat_gap
        self.chat_tolerance = chat_gap * (chat_burst - 1)
        self.group_gap = group_gap
        self.group_tolerance = group_gap * (group_burst - 1)
        self._chats: dict[int, float] = {}  # chat -> time its allowance is whole again

    def scale(self, factor: float) -> None:
        """Shorten (or lengthen) the per-chat and per-group gaps: the tests' harness runs a
        conversation of many messages in a fraction of Telegram's real pace. The overall
        rate stays as it is."""
        self.chat_gap *= factor
        self.chat_tolerance *= factor
        self.group_gap *= factor
        self.group_tolerance *= factor

    # -- the pause -------------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Telegram answered 429: nothing is sent for ``seconds`` from now.

        Calls waiting in a lane stay there; the lanes' next slots move past the pause, so
        afterwards they leave one interval apart."""
        now = asyncio.get_running_loop().time()
        self.pauses += 1
        if now + seconds > self.paused_until:
            self.paused_until = now + seconds
            log.info("Telegram asked for a pause of %.1f s: every call waits", seconds)
        for lane in self.lanes.values():
            # (A reply's early start is spent at the pause's end: the first leaves then, the
            # next a whole interval later; other calls wait that one interval more.)
            lane.next = max(lane.next, self.paused_until + lane.interval)

    async def unpaused(self) -> None:
        """Return once no pause holds (at once, almost always)."""
        loop = asyncio.get_running_loop()
        while (left := self.paused_until - loop.time()) > 0:
            await asyncio.sleep(left)

    # -- lanes -----------------------------------------------------------------------------

    async def turn(self, paid: bool = False, priority: int = BULK) -> None:
        """Wait for a slot in the lane (the outbox's turn by default) outside any pause."""
        await self.lanes[paid].turn(priority)

    # -- chats -----------------------------------------------------------------------------

    def _gap(self, chat_id: int) -> tuple[float, float]:
        if chat_id < 0:
            return self.group_gap, self.group_tolerance
        return self.chat_gap, self.chat_tolerance

    def chat_wait(self, chat_id: int) -> float:
        """Seconds until ``chat_id`` may receive a message (0: now)."""
        _, tolerance = self._gap(chat_id)
        full = self._chats.get(chat_id)
        if full is None:
            return 0.0
        return max(0.0, full - tolerance - asyncio.get_running_loop().time())

    def take_chat(self, chat_id: int) -> tuple[float, bool]:
        """Spend one of the chat's messages: the loop time it may be sent, and whether the
        chat has had more than one message lately (its next ones yield to other chats)."""
        now = asyncio.get_running_loop().time()
        gap, tolerance = self._gap(chat_id)
        full = max(self._chats.get(chat_id, now), now)
        self._chats[chat_id] = full + gap
        if len(self._chats) > _PRUNE_AT:
            self._prune(now)
        return max(now, full - tolerance), full - now > gap

    def _prune(self, now: float) -> None:
        self._chats = {chat: full for chat, full in self._chats.items() if full > now}

    async def send_slot(self, chat_id: int | None, paid: bool) -> None:
        """An interactive message's turn: the chat's allowance, then the lane's slot."""
        busy = False
        if chat_id is not None:
            at, busy = self.take_chat(chat_id)
            delay = at - asyncio.get_running_loop().time()
            if delay > 0:
                await asyncio.sleep(delay)
        priority = BACKGROUND if in_background.get() else LATER if busy else URGENT
        await self.lanes[paid].turn(priority)


def _chat_id(data: dict[str, Any]) -> int | None:
    value = data.get("chat_id")
    if isinstance(value, int):
        return value
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return -1  # "@channel": treated as a group


class RateLimiter(BaseRateLimiter[Paced]):
    """PTB's rate-limiter hook on the shared :class:`Account`.

    Messages wait for their chat and their lane; every other call (answers to taps, menus,
    files) only for a pause, so the answer to a sticker tap costs one comparison here.
    """

    def __init__(self, account: Account | None = None, *, max_retries: int = MAX_RETRIES
                 ) -> None:
        self.account = account if account is not None else Account()
        self.max_retries = max_retries

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Paced | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        account = self.account
        message = endpoint.lower() in MESSAGE_METHODS
        paid = bool(data.get("allow_paid_broadcast")) if message else False
        loop = asyncio.get_running_loop()
        if rate_limit_args is Paced.BULK:
            # The worker took its turn; a pause that began since means a new one.
            if loop.time() < account.paused_until:
                await account.turn(paid)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                account.pause(seconds_of(error))
                raise
        tries = 0
        while True:
            if message:
                await account.send_slot(_chat_id(data), paid)
            elif loop.time() < account.paused_until:
                await account.unpaused()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                account.pause(seconds_of(error))
                tries += 1
                if tries > self.max_retries:
                    raise
