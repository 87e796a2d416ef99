"""A Telegram Bot API emulator: chats, messages, keyboards and callback queries in memory.

It answers the Bot API methods the bot uses with Telegram's shapes and Telegram's errors
(message too long, button data invalid, not modified, blocked by the user, 429 with
``retry_after``), so end-to-end tests, benchmarks and the sandbox exercise the real
python-telegram-bot ``Application`` without a token or a network. Transports
(``transport.py`` in-process, ``server.py`` over HTTP) only move requests to :meth:`call`.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.emulator.html import EntityError, parse_html, utf16_len

MAX_TEXT = 4096
MAX_CAPTION = 1024
SEND_METHODS = {"sendmessage", "sendphoto", "senddocument", "copymessage"}
# Fields the Bot API types as strings: never JSON-decode them ("123" stays text).
STRING_FIELDS = {
    "text", "caption", "parse_mode", "callback_query_id", "data", "url", "secret_token",
    "description", "short_description", "name", "file_id", "action", "inline_message_id",
    "title", "emoji", "language_code", "ip_address",
}
# Loop turns everything must stay idle before ``settle`` believes it: a task that is about
# to make a call (a job just submitted, an update just taken from the queue) gets its turn.
CALM_TURNS = 10
# Longest wait in ``settle`` without an event; only a busy hook that never calls ``wake``
# (or a state that ends by the clock) is seen this late, by one look every so often.
RECHECK = 0.05

if TYPE_CHECKING:
    from bot.emulator.people import Group, Person
    from bot.emulator.transport import EmulatorTransport

Json = dict[str, Any]


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> Json:
        body: Json = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class Limits:
    """Telegram's flood limits; exceeding one answers 429 with ``retry_after``."""

    global_per_sec: float = 30.0
    paid_per_sec: float = 1000.0  # messages sent with allow_paid_broadcast
    per_chat_per_sec: float = 1.0
    per_group_per_min: float = 20.0
    # Bursts Telegram tolerates before it starts answering 429.
    per_chat_burst: int = 1


@dataclass
class Fault:
    method: str
    error_code: int
    description: str
    retry_after: int | None
    times: int
    chat_id: int | None


@dataclass
class RandomFaults:
    """429s at random: each call of ``methods`` is refused with this probability."""

    rate: float
    retry_after: tuple[int, int]
    methods: frozenset[str]
    rng: random.Random
    strict: bool  # a call during a pause it asked for is refused too, as Telegram does


@dataclass(frozen=True)
class Call:
    """One Bot API call as the emulator saw it (recorded when ``call_log`` is a list)."""

    method: str  # lower case, as in SEND_METHODS
    chat_id: int | None
    started: float  # time.monotonic() when the call reached the emulator
    ended: float  # when its answer left
    status: int
    retry_after: int | None = None  # of a 429 answer


@dataclass
class Chat:
    id: int
    type: str
    title: str | None = None
    user: Json | None = None
    messages: dict[int, Json] = field(default_factory=dict)
    message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    members: set[int] = field(default_factory=set)
    reply_keyboard: list[list[str]] | None = None

    def as_api(self) -> Json:
        if self.type == "private" and self.user is not None:
            data = {"id": self.id, "type": "private", "first_name": self.user["first_name"]}
            for key in ("last_name", "username"):
                if self.user.get(key):
                    data[key] = self.user[key]
            return data
        return {"id": self.id, "type": self.type, "title": self.title or ""}


@dataclass
class CallbackQuery:
    id: str
    user_id: int
    chat_id: int | None
    message_id: int | None
    data: str
    created: float
    answered: float | None = None
    answer: Json | None = None


@dataclass
class StoredFile:
    data: bytes
    name: str | None
    mime: str | None


class Emulator:
    """One bot's view of Telegram. All methods run on the caller's event loop."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "mahfil_test_bot",
        bot_name: str = "Mahfil",
        limits: Limits | None = None,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":")[0])
        self.bot_username = bot_username
        self.bot_user: Json = {
            "id": self.bot_id, "is_bot": True, "first_name": bot_name, "username": bot_username,
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.limits = limits
        self.users: dict[int, Json] = {}
        self._people: dict[int, Person] = {}
        self.chats: dict[int, Chat] = {}
        self.blocked: set[int] = set()
        self.files: dict[str, StoredFile] = {}
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self.settings: dict[str, Any] = {}
        self.menu_buttons: dict[int, Json] = {}  # setChatMenuButton, per private chat
        self.webhook: Json = {"url": ""}
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.stats: Counter[str] = Counter()
        self.delivered: Counter[int] = Counter()  # messages the bot sent, per chat
        # The bot's own view of being busy (updates being processed, background redraws,
        # the delivery worker), added by the harness; the bot calls ``wake`` when one may
        # have become idle, so ``settle`` looks again at once.
        self.busy_checks: list[Callable[[], bool]] = []
        # Seconds until the bot acts on its own (a scheduled job), or None: ``settle`` waits
        # for what is due within ``soon`` seconds.
        self.timers: list[Callable[[], float | None]] = []
        self.soon = 0.25
        self.listeners: list[Callable[[str, Json], None]] = []
        self._faults: list[Fault] = []
        self._random: RandomFaults | None = None
        # Every call with its times, when set to a list (benches and tests that check pacing).
        self.call_log: list[Call] | None = None
        self.paused_until = 0.0  # time.monotonic() before which a 429 asked for no calls
        self._updates: deque[Json] = deque()
        self._update_ids = itertools.count(1)
        self._delivered_update = 0
        self._confirmed_update = 0  # the bot asked for updates after this one (``offset``)
        self._newest_update = 0
        self._file_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._changed = asyncio.Event()
        self._inflight = 0
        self._last_activity = time.monotonic()
        self._generation = 0  # grows with every event ``settle`` and ``until`` wait for
        self._stirred: asyncio.Future[None] | None = None
        self._long_polls = 0
        self._sends: deque[float] = deque()
        self._paid_sends: deque[float] = deque()
        self._chat_sends: dict[int, deque[float]] = {}
        self._closed = False
        self.version = 0  # grows with every visible change (for the sandbox)

    # -- people and chats (used by people.py and the sandbox) ------------------------------

    def add_user(
        self, user_id: int, first_name: str, *, language_code: str | None = "en",
        username: str | None = None, last_name: str | None = None,
    ) -> Json:
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        if user_id not in self.chats:
            self.chats[user_id] = Chat(id=user_id, type="private", user=user)
        else:
            self.chats[user_id].user = user
        return user

    def user(
        self, user_id: int, first_name: str, *, language_code: str | None = "en",
        username: str | None = None, last_name: str | None = None,
    ) -> Person:
        """The person with this id, created on first use (later calls return the same one)."""
        from bot.emulator.people import Person

        known = self._people.get(user_id)
        if known is not None:
            return known
        user = self.add_user(user_id, first_name, language_code=language_code,
                             username=username, last_name=last_name)
        self._people[user_id] = Person(self, user)
        return self._people[user_id]

    def group(self, chat_id: int, title: str, members: list[Person] | None = None) -> Group:
        from bot.emulator.people import Group

        self.add_group(chat_id, title, [p.id for p in members or []])
        return Group(self, chat_id, title)

    def transport(self) -> EmulatorTransport:
        """An httpx transport for PTB's ``HTTPXRequest(httpx_kwargs={"transport": ...})``."""
        from bot.emulator.transport import EmulatorTransport

        return EmulatorTransport(self)

    def add_group(self, chat_id: int, title: str, member_ids: list[int]) -> Chat:
        kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
        chat = self.chats.get(chat_id) or Chat(id=chat_id, type=kind, title=title)
        chat.members.update(member_ids)
        self.chats[chat_id] = chat
        return chat

    def messages(self, chat_id: int) -> list[Json]:
        chat = self.chats.get(chat_id)
        return list(chat.messages.values()) if chat else []

    def user_message(self, chat_id: int, user_id: int, **content: Any) -> Json:
        """A message a person writes: stored in the chat and queued as an update."""
        chat = self.chats[chat_id]
        message: Json = {
            "message_id": next(chat.message_ids), "date": int(time.time()),
            "chat": chat.as_api(), "from": self.users[user_id], **content,
        }
        chat.messages[message["message_id"]] = message
        self.push_update({"message": message})
        return message

    def push_update(self, body: Json) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **body})
        self._newest_update = update_id
        self._touch()
        self._new_update.set()
        return update_id

    def press(self, user_id: int, chat_id: int, message_id: int, data: str) -> CallbackQuery:
        """A tap on an inline button (or forged callback data): queued as an update."""
        chat = self.chats[chat_id]
        query = CallbackQuery(
            id=str(next(self._query_ids) * 7919 + 1_000_000), user_id=user_id, chat_id=chat_id,
            message_id=message_id, data=data, created=time.monotonic(),
        )
        self.callback_queries[query.id] = query
        self.push_update({
            "callback_query": {
                "id": query.id, "from": self.users[user_id],
                "message": _public(chat.messages[message_id]), "chat_instance": str(chat_id),
                "data": data,
            }
        })
        return query

    def add_bot_to_group(self, chat_id: int, by_user_id: int) -> None:
        chat = self.chats[chat_id]
        now = int(time.time())
        self.push_update({
            "my_chat_member": {
                "chat": chat.as_api(), "from": self.users[by_user_id], "date": now,
                "old_chat_member": {"status": "left", "user": self.bot_user},
                "new_chat_member": {"status": "member", "user": self.bot_user},
            }
        })

    def fail(
        self, method: str, error_code: int, description: str | None = None, *,
        retry_after: int | None = None, times: int = 1, chat_id: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (for ``chat_id``) fail like Telegram."""
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after or 1}",
                500: "Internal Server Error",
                502: "Bad Gateway",
                403: "Forbidden: bot was blocked by the user",
            }.get(error_code, "Bad Request: injected")
        if error_code == 429 and retry_after is None:
            retry_after = 1
        self._faults.append(Fault(method.lower(), error_code, description, retry_after, times,
                                  chat_id))

    def random_429(self, rate: float = 0.02, retry_after: tuple[int, int] = (1, 3), *,
                   seed: int = 16, methods: frozenset[str] = frozenset(SEND_METHODS),
                   strict: bool = True) -> None:
        """Answer 429 to about ``rate`` of the calls of ``methods``, with a ``retry_after``
        drawn from ``retry_after`` (seconds, inclusive), from a seeded generator.

        With ``strict``, a call that arrives before such a pause has ended is refused too
        (with the seconds left), as Telegram answers a sender that keeps sending."""
        self._random = RandomFaults(rate, retry_after, methods, random.Random(seed), strict)

    def calls_during_pauses(self, methods: frozenset[str] | None = None, *,
                            in_flight: float = 0.0) -> list[Call]:
        """Recorded calls that reached the emulator after a 429 had been answered and before
        its ``retry_after`` had passed (needs ``call_log``).

        ``in_flight``: leave out calls that arrived within that many seconds of the 429's
        answer — sent before the bot could have read it (at 1,000 a second several calls
        are on the wire at any moment)."""
        assert self.call_log is not None, "set call_log = [] before the calls"
        pauses = sorted((c.ended, c.ended + c.retry_after) for c in self.call_log
                        if c.status == 429 and c.retry_after)
        starts = [start for start, _ in pauses]
        found = []
        for call in self.call_log:
            if (methods is not None and call.method not in methods) \
                    or call.method == "getupdates":
                continue
            # Pauses that began before this call arrived: is it inside one of them?
            for start, end in pauses[:bisect.bisect_left(starts, call.started)]:
                if start + in_flight < call.started < end:
                    found.append(call)
                    break
        return found

    async def close(self) -> None:
        """Release long-polling waiters so a bot shuts down promptly."""
        self._closed = True
        self._new_update.set()
        self._changed.set()
        self.wake()

    # -- waiting ---------------------------------------------------------------------------

    def _touch(self) -> None:
        self._last_activity = time.monotonic()
        self.version += 1
        self._changed.set()
        self.wake()

    def wake(self) -> None:
        """Something changed: whoever waits in ``settle`` or ``until`` looks again.

        The emulator calls it on its own events (an update pushed or fetched, a call begun
        or ended, a message stored); the bot side calls it when it may have gone idle.
        """
        self._generation += 1
        stirred, self._stirred = self._stirred, None
        if stirred is not None and not stirred.done():
            stirred.set_result(None)

    async def _next_event(self, generation: int, timeout: float) -> None:
        """Return at the first event after ``generation`` or after ``timeout`` seconds."""
        if self._generation != generation or timeout <= 0:
            return
        if self._stirred is None:
            self._stirred = asyncio.get_running_loop().create_future()
        # wait() leaves the shared future alone on a timeout (wait_for would cancel it).
        await asyncio.wait({self._stirred}, timeout=timeout)

    @property
    def pending_updates(self) -> int:
        return self._newest_update - self._delivered_update

    @property
    def long_polls(self) -> int:
        """getUpdates calls waiting for an update right now."""
        return self._long_polls

    def _busy(self, quiet: float) -> float | None:
        """None if the bot looks idle, else how long to wait at most before looking again."""
        # A batch fetched but not yet asked past (the next offset) is still on its way into
        # the bot's update queue, where no busy hook sees it yet.
        if (self.pending_updates or self._confirmed_update < self._delivered_update
                or self._inflight or any(check() for check in self.busy_checks)):
            return RECHECK
        if quiet > 0:
            silent = time.monotonic() - self._last_activity
            if silent < quiet:
                return quiet - silent
        due = [d for d in (timer() for timer in self.timers) if d is not None and d <= self.soon]
        if due:
            return max(min(due), 0.005)
        return None

    async def settle(self, timeout: float = 15.0, quiet: float | None = None) -> None:
        """Wait until the bot has handled every update and has nothing left to do.

        Idle means: every update fetched and confirmed (the bot asked for the next ones), no
        Bot API call in progress, every ``busy_checks`` hook idle and no ``timers`` hook due
        within ``soon`` seconds. There is no quiet period to sit out: the emulator's own
        events and the bot's ``wake`` calls make it look again (a busy hook that never wakes
        it is looked at every ``RECHECK`` seconds). Once all is idle it lets the loop run
        ``CALM_TURNS`` more turns and looks again, so a task about to make a call (the
        delivery worker woken, an update taken from the queue, a job just submitted) is not
        missed. A bot in another process tells nothing, so without ``busy_checks`` idle also
        needs ``quiet`` seconds (default 0.05) without a call.
        """
        loop = asyncio.get_running_loop()
        if quiet is None:
            quiet = 0.0 if self.busy_checks else 0.05
        deadline = loop.time() + timeout
        calm, seen = 0, -1
        while True:
            generation = self._generation
            wait = self._busy(quiet)
            if wait is None:
                calm = calm + 1 if generation == seen else 1
                seen = generation
                if calm > CALM_TURNS:
                    return
                await asyncio.sleep(0)
                continue
            calm = 0
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"the bot did not settle in {timeout}s: {self.pending_updates} updates"
                    f" unfetched, {self._inflight} calls in progress"
                )
            await self._next_event(generation, min(wait, remaining))

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0,
                    failure: Callable[[], str] | None = None) -> None:
        """Wait for ``condition()`` on what the emulator sees (messages, calls, deliveries)
        to hold, looking again at every event rather than on a clock; on a timeout, raise
        AssertionError with ``failure()``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            generation = self._generation
            if condition():
                return
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closed:
                raise AssertionError(failure() if failure is not None else
                                     f"the condition did not hold within {timeout}s")
            await self._next_event(generation, remaining)

    async def changed(self, since: int, timeout: float) -> int:
        """Wait until :attr:`version` passes ``since`` (the sandbox's long poll)."""
        deadline = time.monotonic() + timeout
        while self.version <= since and not self._closed:
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break
        return self.version

    # -- the Bot API -----------------------------------------------------------------------

    async def call(self, token: str, method: str, params: Json,
                   files: dict[str, StoredFile] | None = None) -> tuple[int, Json]:
        """Answer one Bot API request: (HTTP status, JSON body)."""
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        name = method.lower()
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        self.stats[name] += 1
        started = time.monotonic()
        status, retry_after = 200, None
        long_poll = name == "getupdates"
        if not long_poll:
            self._inflight += 1
            self._touch()
        try:
            params = decode_params(params)
            self._inject_fault(name, params)
            if self._random is not None:
                self._random_fault(name)
            if name in SEND_METHODS:
                self._check_limits(params)
            result = await handler(params, files or {})
            return 200, {"ok": True, "result": result}
        except ApiError as error:
            status, retry_after = error.code, error.retry_after
            if error.code == 429:
                self.stats["429"] += 1
                self.paused_until = max(self.paused_until,
                                        time.monotonic() + (error.retry_after or 0))
            return error.code, error.body()
        finally:
            if self.call_log is not None and not long_poll:
                chat = str(params.get("chat_id", ""))
                self.call_log.append(Call(
                    name, int(chat) if chat.lstrip("-").isdigit() else None, started,
                    time.monotonic(), status, retry_after))
            if not long_poll:
                self._inflight -= 1
                self._touch()

    def _inject_fault(self, name: str, params: Json) -> None:
        for fault in self._faults:
            if fault.method != name or fault.times <= 0:
                continue
            if fault.chat_id is not None and _int(params.get("chat_id")) != fault.chat_id:
                continue
            fault.times -= 1
            self._faults = [f for f in self._faults if f.times > 0]
            raise ApiError(fault.error_code, fault.description, fault.retry_after)

    def _random_fault(self, name: str) -> None:
        faults = self._random
        assert faults is not None
        if name not in faults.methods:
            return
        left = self.paused_until - time.monotonic()
        if faults.strict and left > 0:
            self.stats["during_pause"] += 1
            wait = math.ceil(left)
            raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)
        if faults.rng.random() < faults.rate:
            wait = faults.rng.randint(*faults.retry_after)
            raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)

    def _check_limits(self, params: Json) -> None:
        if self.limits is None:
            return
        now = time.monotonic()
        chat_id = _int(params.get("chat_id"))
        paid = str(params.get("allow_paid_broadcast", "")).lower() in ("true", "1")
        window = self._paid_sends if paid else self._sends
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= (self.limits.paid_per_sec if paid else self.limits.global_per_sec):
            raise ApiError(429, "Too Many Requests: retry after 1", 1)
        is_group = chat_id is not None and chat_id < 0
        span, allowed = (60.0, self.limits.per_group_per_min) if is_group else (
            1.0, self.limits.per_chat_per_sec * self.limits.per_chat_burst)
        chat_window = self._chat_sends.setdefault(chat_id or 0, deque())
        while chat_window and now - chat_window[0] >= span:
            chat_window.popleft()
        if len(chat_window) >= allowed:
            wait = max(1, math.ceil(span - (now - chat_window[0])))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)
        window.append(now)
        chat_window.append(now)

    # -- method handlers -------------------------------------------------------------------

    async def _m_getme(self, params: Json, files: dict[str, StoredFile]) -> Json:
        return self.bot_user

    async def _m_logout(self, params: Json, files: dict[str, StoredFile]) -> bool:
        return True

    _m_close = _m_logout

    async def _m_deletewebhook(self, params: Json, files: dict[str, StoredFile]) -> bool:
        self.webhook = {"url": ""}
        if params.get("drop_pending_updates"):
            self._updates.clear()
            self._delivered_update = self._confirmed_update = self._newest_update
        return True

    async def _m_setwebhook(self, params: Json, files: dict[str, StoredFile]) -> bool:
        self.webhook = {"url": params.get("url", ""), "secret_token": params.get("secret_token")}
        return True

    async def _m_getwebhookinfo(self, params: Json, files: dict[str, StoredFile]) -> Json:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    async def _m_getupdates(self, params: Json, files: dict[str, StoredFile]) -> list[Json]:
        offset = _int(params.get("offset")) or 0
        limit = min(max(_int(params.get("limit")) or 100, 1), 100)
        timeout = float(params.get("timeout") or 0)
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()
        if offset > self._confirmed_update + 1:
            self._confirmed_update = min(offset - 1, self._delivered_update)
            self.wake()
        if not self._updates and timeout > 0 and not self._closed:
            self._new_update.clear()
            self._long_polls += 1
            self.wake()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), timeout)
            finally:
                self._long_polls -= 1
        batch = list(itertools.islice(self._updates, 0, limit))
        if batch:
            self._delivered_update = max(self._delivered_update, batch[-1]["update_id"])
            self._touch()
        return batch

    async def _m_sendmessage(self, params: Json, files: dict[str, StoredFile]) -> Json:
        chat = self._writable_chat(params)
        text, entities, source = self._format(params, "text", MAX_TEXT)
        return self._bot_message(chat, params, {"text": text, **entities}, source)

    async def _m_sendphoto(self, params: Json, files: dict[str, StoredFile]) -> Json:
        chat = self._writable_chat(params)
        file_id = self._store_upload(params, files, "photo")
        stored = self.files[file_id]
        content: Json = {"photo": [{"file_id": file_id, "file_unique_id": f"u{file_id}",
                                    "width": 800, "height": 600,
                                    "file_size": len(stored.data)}]}
        source = None
        if params.get("caption"):
            caption, entities, source = self._format(params, "caption", MAX_CAPTION)
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities["entities"]
        return self._bot_message(chat, params, content, source)

    async def _m_senddocument(self, params: Json, files: dict[str, StoredFile]) -> Json:
        chat = self._writable_chat(params)
        file_id = self._store_upload(params, files, "document")
        stored = self.files[file_id]
        document: Json = {"file_id": file_id, "file_unique_id": f"u{file_id}",
                          "file_size": len(stored.data)}
        if stored.name:
            document["file_name"] = stored.name
        if stored.mime:
            document["mime_type"] = stored.mime
        content: Json = {"document": document}
        source = None
        if params.get("caption"):
            caption, entities, source = self._format(params, "caption", MAX_CAPTION)
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities["entities"]
        return self._bot_message(chat, params, content, source)

    async def _m_copymessage(self, params: Json, files: dict[str, StoredFile]) -> Json:
        chat = self._writable_chat(params)
        source_chat = self._chat(params.get("from_chat_id"))
        original = source_chat.messages.get(_int(params.get("message_id")) or 0)
        if original is None:
            raise bad_request("message to copy not found")
        content = {k: v for k, v in original.items()
                   if k in ("text", "entities", "photo", "document", "caption")}
        message = self._bot_message(chat, params, content, None)
        return {"message_id": message["message_id"]}

    async def _m_editmessagetext(self, params: Json, files: dict[str, StoredFile]) -> Json:
        _chat, message = self._editable(params)
        text, entities, source = self._format(params, "text", MAX_TEXT)
        markup = params.get("reply_markup")
        self._check_markup(markup)
        if (message.get("text") == text and message.get("entities") == entities.get("entities")
                and message.get("reply_markup") == _inline(markup)):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are"
                " exactly the same as a current content and reply markup of the message"
            )
        message.pop("entities", None)
        message.update({"text": text, **entities, "edit_date": int(time.time())})
        self._set_markup(message, markup)
        message["_html"] = source
        self._notify("edit", message)
        return _public(message)

    async def _m_editmessagecaption(self, params: Json, files: dict[str, StoredFile]) -> Json:
        _chat, message = self._editable(params)
        caption, _entities, _source = self._format(params, "caption", MAX_CAPTION)
        message["caption"] = caption
        message["edit_date"] = int(time.time())
        self._set_markup(message, params.get("reply_markup"))
        self._notify("edit", message)
        return _public(message)

    async def _m_editmessagereplymarkup(self, params: Json, files: dict[str, StoredFile]) -> Json:
        _chat, message = self._editable(params)
        markup = params.get("reply_markup")
        self._check_markup(markup)
        if message.get("reply_markup") == _inline(markup):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are"
                " exactly the same as a current content and reply markup of the message"
            )
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        self._notify("edit", message)
        return _public(message)

    async def _m_deletemessage(self, params: Json, files: dict[str, StoredFile]) -> bool:
        chat = self._chat(params.get("chat_id"))
        message_id = _int(params.get("message_id")) or 0
        if message_id not in chat.messages:
            raise bad_request("message to delete not found")
        del chat.messages[message_id]
        self._notify("delete", {"chat": chat.as_api(), "message_id": message_id})
        return True

    async def _m_answercallbackquery(self, params: Json, files: dict[str, StoredFile]) -> bool:
        query = self.callback_queries.get(str(params.get("callback_query_id")))
        if query is None or query.answered is not None:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answered = time.monotonic()
        query.answer = {"text": text, "show_alert": bool(params.get("show_alert")),
                        "url": params.get("url")}
        self._notify("answer", {"id": query.id, **query.answer})
        return True

    async def _m_setmycommands(self, params: Json, files: dict[str, StoredFile]) -> bool:
        commands = params.get("commands") or []
        if len(commands) > 100:
            raise bad_request("too many commands")
        for command in commands:
            name = command.get("command", "")
            if not (1 <= len(name) <= 32) or not name.replace("_", "").isalnum() \
                    or name.lower() != name:
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[(json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True),
                       params.get("language_code") or "")] = commands
        return True

    async def _m_getmycommands(self, params: Json, files: dict[str, StoredFile]) -> list[Json]:
        scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
        return self.commands.get((scope, params.get("language_code") or ""), [])

    async def _m_deletemycommands(self, params: Json, files: dict[str, StoredFile]) -> bool:
        scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
        self.commands.pop((scope, params.get("language_code") or ""), None)
        return True

    async def _m_setchatmenubutton(self, params: Json, files: dict[str, StoredFile]) -> bool:
        # Kept per chat (a web_app menu button opens the dashboard in the sandbox).
        button = params.get("menu_button") or {"type": "default"}
        if button.get("type") == "web_app" and not (button.get("web_app") or {}).get("url"):
            raise bad_request("web app URL is required")
        chat_id = _int(params.get("chat_id"))
        if chat_id is None:
            self.settings["menu_button"] = button
        else:
            self._chat(chat_id)
            self.menu_buttons[chat_id] = button
        self._touch()
        return True

    async def _m_getchatmenubutton(self, params: Json, files: dict[str, StoredFile]) -> Json:
        chat_id = _int(params.get("chat_id"))
        default: Json = self.settings.get("menu_button") or {"type": "commands"}
        return self.menu_buttons.get(chat_id, default) if chat_id is not None else default

    async def _m_setmydescription(self, params: Json, files: dict[str, StoredFile]) -> bool:
        self.settings[f"description:{params.get('language_code', '')}"] = params.get(
            "description")
        return True

    async def _m_setmyshortdescription(self, params: Json, files: dict[str, StoredFile]) -> bool:
        self.settings[f"short_description:{params.get('language_code', '')}"] = params.get(
            "short_description")
        return True

    async def _m_setmyname(self, params: Json, files: dict[str, StoredFile]) -> bool:
        self.settings[f"name:{params.get('language_code', '')}"] = params.get("name")
        return True

    async def _m_sendchataction(self, params: Json, files: dict[str, StoredFile]) -> bool:
        self._writable_chat(params)
        return True

    async def _m_getfile(self, params: Json, files: dict[str, StoredFile]) -> Json:
        file_id = str(params.get("file_id"))
        stored = self.files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}",
                "file_size": len(stored.data), "file_path": f"files/{file_id}"}

    async def _m_getchat(self, params: Json, files: dict[str, StoredFile]) -> Json:
        chat = self._chat(params.get("chat_id"))
        return {**chat.as_api(), "accent_color_id": 0, "max_reaction_count": 11}

    async def _m_getchatmember(self, params: Json, files: dict[str, StoredFile]) -> Json:
        chat = self._chat(params.get("chat_id"))
        user_id = _int(params.get("user_id")) or 0
        if user_id == self.bot_id:
            return {"status": "member", "user": self.bot_user}
        user = self.users.get(user_id)
        if user is None:
            raise bad_request("user not found")
        member = (chat.type == "private" and chat.id == user_id) or user_id in chat.members
        return {"status": "member" if member else "left", "user": user}

    async def _m_leavechat(self, params: Json, files: dict[str, StoredFile]) -> bool:
        self._chat(params.get("chat_id"))
        return True

    # -- helpers ---------------------------------------------------------------------------

    def file_bytes(self, file_id: str) -> bytes:
        return self.files[file_id].data

    def store_file(self, data: bytes, name: str | None, mime: str | None) -> str:
        file_id = f"F{next(self._file_ids):06d}"
        self.files[file_id] = StoredFile(data, name, mime)
        return file_id

    def _chat(self, chat_id: Any) -> Chat:
        chat = self.chats.get(_int(chat_id) or 0) if chat_id is not None else None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _writable_chat(self, params: Json) -> Chat:
        chat = self._chat(params.get("chat_id"))
        if chat.type == "private" and chat.id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _editable(self, params: Json) -> tuple[Chat, Json]:
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not emulated")
        chat = self._chat(params.get("chat_id"))
        message = chat.messages.get(_int(params.get("message_id")) or 0)
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise bad_request("message can't be edited")
        return chat, message

    def _format(self, params: Json, key: str, limit: int) -> tuple[str, Json, str | None]:
        raw = params.get(key)
        if raw is None or raw == "":
            raise bad_request("message text is empty")
        raw = str(raw)
        mode = (params.get("parse_mode") or "").lower()
        entities: Json = {}
        source = None
        if mode == "html":
            try:
                text, found = parse_html(raw)
            except EntityError as error:
                raise bad_request(f"can't parse entities: {error}") from None
            source = raw
            if found:
                entities["entities" if key == "text" else "caption_entities"] = found
        elif mode:
            raise bad_request(f"unsupported parse_mode {mode!r} in the emulator")
        else:
            text = raw
            if params.get("entities"):
                entities["entities"] = params["entities"]
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > limit:
            raise bad_request("message is too long" if key == "text" else
                              "message caption is too long")
        return text, entities, source

    def _check_markup(self, markup: Any) -> None:
        if not isinstance(markup, dict):
            return
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if "callback_data" in button:
                    size = len(str(button["callback_data"]).encode())
                    if not 1 <= size <= 64:
                        raise bad_request("BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise bad_request("text buttons are unallowed in the inline keyboard")

    def _set_markup(self, message: Json, markup: Any) -> None:
        inline = _inline(markup)
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline

    def _bot_message(self, chat: Chat, params: Json, content: Json, source: str | None) -> Json:
        markup = params.get("reply_markup")
        self._check_markup(markup)
        message: Json = {
            "message_id": next(chat.message_ids), "date": int(time.time()),
            "chat": chat.as_api(), "from": self.bot_user, **content,
        }
        if isinstance(markup, dict):
            if "inline_keyboard" in markup:
                message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
            elif "keyboard" in markup:
                chat.reply_keyboard = [
                    [b["text"] if isinstance(b, dict) else str(b) for b in row]
                    for row in markup["keyboard"]
                ]
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        message["_html"] = source
        chat.messages[message["message_id"]] = message
        self.delivered[chat.id] += 1
        self._notify("message", message)
        return _public(message)

    def _store_upload(self, params: Json, files: dict[str, StoredFile], key: str) -> str:
        if key in files:
            upload = files[key]
            return self.store_file(upload.data, upload.name, upload.mime)
        value = params.get(key)
        if isinstance(value, str) and value.startswith("attach://"):
            attached = files.get(value.removeprefix("attach://"))
            if attached is not None:
                return self.store_file(attached.data, attached.name, attached.mime)
        if isinstance(value, str) and value in self.files:
            return value
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self.store_file(value.encode(), value.rsplit("/", 1)[-1], None)
        raise bad_request(f"there is no {key} in the request")

    def _notify(self, kind: str, payload: Json) -> None:
        self._touch()
        for listener in list(self.listeners):
            listener(kind, payload)


def _inline(markup: Any) -> Json | None:
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None


def _public(message: Json) -> Json:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise bad_request(f"invalid number {value!r}") from None


def decode_params(params: Json) -> Json:
    """Form values as PTB sends them (JSON-encoded unless a string field) back to objects."""
    decoded: Json = {}
    for key, value in params.items():
        if isinstance(value, str) and key not in STRING_FIELDS:
            try:
                decoded[key] = json.loads(value)
                continue
            except ValueError:
                pass
        decoded[key] = value
    return decoded


def text_length(text: str) -> int:
    """Telegram counts UTF-16 code units for entity offsets."""
    return utf16_len(text)
