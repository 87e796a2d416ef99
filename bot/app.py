"""The PTB ``Application``: built in one place so the bot, the tests and the sandbox agree.

``build_application`` wires configuration, the database, persistence, the rate limiter and
every capability's handlers. Tests and the sandbox pass their own ``request`` objects to
point PTB at the emulator; nothing else differs from production.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any
from urllib.parse import urlparse

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackContext,
    ContextTypes,
    Defaults,
    ExtBot,
)
from telegram.request import BaseRequest

from bot.commands import publish_default_commands
from bot.config import Config
from bot.handlers import handler_modules
from bot.persistence import SQLitePersistence
from bot.ratelimit import Account, RateLimiter, in_background
from bot.request import AiohttpRequest
from bot.services import BotData
from storage.db import Database

log = logging.getLogger(__name__)
GC_GEN0 = 50_000  # allocations between young-generation collections (see serve)


class Context(CallbackContext[ExtBot[None], dict[str, Any], dict[str, Any], BotData]):
    """PTB's callback context with the project's services one attribute away."""

    @property
    def db(self) -> Database:
        return self.bot_data.db

    @property
    def config(self) -> Config:
        return self.bot_data.config


# The application as every part of the bot sees it: PTB types ``context.application``
# without naming the context class, so that stays open here.
MahfilApp = Application[ExtBot[None], Any, dict[str, Any], dict[str, Any], BotData, Any]


def build_application(
    config: Config,
    db: Database,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: bool = True,
    persistence_interval: float = 2.0,
) -> MahfilApp:
    """The bot, ready for ``run_polling``/``run_webhook`` or manual start in tests.

    ``db`` is opened (and migrated) by the caller, who also closes it: persistence reads it
    while PTB initialises, and a restart in a test reuses the same file.
    """
    if config.token is None:
        raise ValueError("a bot token is required to build the application")
    processor = PerUserUpdateProcessor()
    account = Account()
    builder = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.api_url)
        .base_file_url(config.file_url)
        .context_types(ContextTypes(context=Context, bot_data=BotData))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .persistence(SQLitePersistence(db, update_interval=persistence_interval))
        .concurrent_updates(processor)
    )
    if rate_limiter:
        # One account of Telegram's limits for replies, edits, taps and the outbox
        # (bot/ratelimit.py says why it replaces PTB's AIORateLimiter).
        builder = builder.rate_limiter(RateLimiter(account))  # type: ignore[arg-type]
    # PTB's default transport (httpx) costs ~1.5 ms of CPU a call; see bot/request.py.
    builder = builder.request(request if request is not None else AiohttpRequest())
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    app: MahfilApp = builder.build()
    from bot.actor import People
    from bot.delivery import Courier  # the worker imports flows; build the app first
    from bot.flows.voting_book import StickerBook
    from bot.handlers.fallback import slow_down

    services = app.bot_data
    services.config = config
    services.db = db
    services.people = People(db)
    queue = app.update_queue
    services.latest_only = LatestOnly(loaded=lambda: processor.busy or not queue.empty())
    services.courier = Courier(app, paid=config.paid_broadcasts, account=account)
    processor.on_flood = lambda update: _background(slow_down(app, update))
    services.stickers = StickerBook(db)
    for module in handler_modules():
        module.register(app)
    return app


_notices: set[asyncio.Task[None]] = set()


def _background(job: Awaitable[None]) -> None:
    """Run ``job`` on its own, holding a reference until it ends (asyncio keeps none)."""
    task = asyncio.ensure_future(job)
    _notices.add(task)
    task.add_done_callback(_notices.discard)


BURST_GAP = 0.25  # seconds after an update began or ended during which the bot counts as busy


class LatestOnly:
    """Runs the newest job per key in the background; a job still waiting is replaced.

    A ballot message is re-rendered after every tap, but Telegram allows about one message
    (edits included) per second in a chat. Answering the tap at once and editing later —
    rendering when the edit's turn comes, at most once per ``pause`` per message however
    many taps arrived meanwhile — keeps taps fast under a vote burst, the message current,
    and the chat within Telegram's pace. While updates are waiting (``loaded``), a job
    yields to them for up to ``patience`` seconds after it was first submitted: the tap's
    answer is the acknowledgement a voter waits for, the ballot's redraw can come a moment
    later.

    One dispatcher looks at the load every ``tick`` for all waiting keys: a burst leaves a
    waiting redraw for each of 2,000 voters, and one task polling for each of them cost a
    tenth of the burst's time (bench/vote_burst.py).
    """

    def __init__(self, pause: float = 1.0, *, loaded: Callable[[], bool] = lambda: False,
                 patience: float = 5.0, tick: float = 0.05) -> None:
        self.pause = pause
        self.patience = patience
        self.tick = tick
        self._loaded = loaded
        # key -> (newest job, loop time after which it runs even under load). Insertion
        # order is deadline order: a replaced job keeps its place and its deadline.
        self._waiting: dict[Hashable, tuple[Callable[[], Awaitable[None]], float]] = {}
        self._running: dict[Hashable, asyncio.Task[None]] = {}  # a job, or the pause after it
        self._slower: dict[Hashable, float] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self.on_idle: Callable[[], None] = lambda: None  # tests' harness: look again now

    @property
    def busy(self) -> bool:
        return bool(self._waiting or self._running)

    def submit(self, key: Hashable, job: Callable[[], Awaitable[None]], *,
               slower: float = 1.0) -> None:
        """Run ``job`` soon; ``slower`` stretches this key's pause (progress every 3 s)."""
        waiting = self._waiting.get(key)
        deadline = (waiting[1] if waiting is not None
                    else asyncio.get_running_loop().time() + self.patience)
        self._waiting[key] = (job, deadline)
        self._slower[key] = slower
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            now = loop.time()
            loaded = self._loaded()
            if not loaded or next(iter(self._waiting.values()))[1] <= now:
                for key, (job, deadline) in list(self._waiting.items()):
                    if loaded and deadline > now:
                        break  # the rest are younger still
                    if key not in self._running:
                        del self._waiting[key]
                        self._running[key] = asyncio.create_task(self._run(key, job))
            await asyncio.sleep(self.tick)

    async def _run(self, key: Hashable, job: Callable[[], Awaitable[None]]) -> None:
        in_background.set(True)  # this task's messages yield to replies (bot.ratelimit)
        try:
            try:
                await job()
            except Exception:
                log.exception("background job %r failed", key)
            # Newer jobs for this key gather meanwhile.
            await asyncio.sleep(self.pause * self._slower.get(key, 1.0))
        finally:
            self._running.pop(key, None)
            if key not in self._waiting:
                self._slower.pop(key, None)
            if not self.busy:
                self.on_idle()

    async def close(self) -> None:
        self._waiting.clear()
        tasks = list(self._running.values())
        if self._dispatcher is not None:
            tasks.append(self._dispatcher)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


PER_PERSON_QUEUE = 20  # one person's updates waiting behind the one being handled
MAX_CONCURRENT = 256  # updates handled at once, all people together
_WIDE = 1 << 30  # PTB's own limit, opened wide: ours is taken after the person's turn


class _Queue:
    """Waiting in arrival order for something handed over one at a time (a slot, a turn).

    asyncio's ``Semaphore`` and ``Lock`` do the same, but a vote burst keeps thousands of
    updates waiting for the 256 slots, and 3.11's ``Semaphore`` looks through the waiters it
    already woke on every release (a hundred futures a tap were measured): here a release
    hands the slot to the first waiter still waiting, in O(1).
    """

    __slots__ = ("free", "waiting")

    def __init__(self, free: int) -> None:
        self.free = free
        self.waiting: deque[asyncio.Future[None]] = deque()

    async def take(self) -> None:
        if self.free > 0 and not self.waiting:
            self.free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give()  # handed over just as the waiter was cancelled: pass it on
            raise

    def give(self) -> None:
        waiting = self.waiting
        while waiting:
            future = waiting.popleft()
            if not future.done():  # (a cancelled waiter is done)
                future.set_result(None)
                return
        self.free += 1


class _Turns:
    """One person's updates in the processor: held (handled or waiting) and their turn."""

    __slots__ = ("held", "turn", "warned")

    def __init__(self) -> None:
        self.turn = _Queue(1)  # FIFO: updates run in the order they arrived
        self.held = 0
        self.warned = False  # told to slow down during this flood


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Updates from different people run concurrently; one person's run in order.

    A resident's double tap or two quick answers must not race each other through a
    conversation, while a vote burst from 2,000 residents must not queue behind one.

    Fairness: an update first waits for its person's turn and only then takes one of the
    ``max_concurrent_updates`` slots, so a person's waiting updates hold no capacity that
    others need. PTB's ``process_update`` takes its own semaphore *before* calling
    :meth:`do_process_update` (and is final), so that one is opened wide and the real limit
    is ours. One person may have at most ``queue`` updates waiting: beyond that they are
    dropped and counted (:attr:`dropped`) — never an update already being handled, so
    nothing acknowledged is lost — and ``on_flood`` is called once per flood (until the
    person's queue has drained) to tell them to slow down. Measured by bench/flood.py.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT, *,
                 queue: int = PER_PERSON_QUEUE,
                 on_flood: Callable[[Update], None] | None = None) -> None:
        super().__init__(_WIDE)
        self._max_concurrent_updates = max_concurrent_updates
        self._slots = _Queue(max_concurrent_updates)
        self.queue = queue
        self.on_flood = on_flood
        self._turns: dict[int, _Turns] = {}
        self.active = 0  # updates being processed or waiting for their turn (tests wait for 0)
        self.running = 0  # updates holding a slot now
        self.dropped = 0  # updates refused because their person's queue was full
        self.last_seen = 0.0  # loop time an update last began or ended
        self.burst_gap = BURST_GAP  # shortened by the tests' harness
        self.on_idle: Callable[[], None] = lambda: None  # tests' harness: look again now

    @property
    def current_concurrent_updates(self) -> int:
        return self.running

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            await self._run(coroutine)
            return
        turns = self._turns.get(user.id)
        if turns is None:
            turns = self._turns[user.id] = _Turns()
        elif turns.held > self.queue:
            self._drop(update, turns, coroutine)  # type: ignore[arg-type]
            return
        turns.held += 1
        self.active += 1
        try:
            await turns.turn.take()
            try:
                await self._run(coroutine, counted=True)
            finally:
                turns.turn.give()
        finally:
            self.active -= 1
            turns.held -= 1
            if turns.held == 0:
                del self._turns[user.id]
            if not self.active:
                self.on_idle()

    async def _run(self, coroutine: Awaitable[Any], *, counted: bool = False) -> None:
        loop = asyncio.get_running_loop()
        if not counted:
            self.active += 1
        self.last_seen = loop.time()
        try:
            await self._slots.take()
            self.running += 1
            try:
                await coroutine
            finally:
                self.running -= 1
                self._slots.give()
        finally:
            if not counted:
                self.active -= 1
            self.last_seen = loop.time()
            if not counted and not self.active:
                self.on_idle()

    def _drop(self, update: Update, turns: _Turns, coroutine: Awaitable[Any]) -> None:
        self.dropped += 1
        if inspect.iscoroutine(coroutine):
            coroutine.close()  # never started: nothing to undo
        if not turns.warned:
            turns.warned = True
            log.info("user %s sent more than %d updates at once; dropping the excess",
                     update.effective_user.id if update.effective_user else None, self.queue)
            if self.on_flood is not None:
                self.on_flood(update)

    @property
    def busy(self) -> bool:
        """Updates are being processed, or one began or ended a moment ago: a burst's gaps
        between two fetches of updates are not quiet, nor is the instant after a group
        commit, when a batch of taps has just been answered and the updates waiting for
        their slots have not started yet."""
        return self.active > 0 or (
            asyncio.get_running_loop().time() - self.last_seen < self.burst_gap)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


async def startup(app: MahfilApp) -> None:
    """What must happen once the bot is initialised and before updates flow."""
    await publish_default_commands(app.bot)
    for module in handler_modules():
        hook = getattr(module, "on_startup", None)
        if hook is not None:
            await hook(app)
    log.info("Mahfil is up as @%s", app.bot.username)


async def serve(
    app: MahfilApp,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
    poll_timeout: int = 10,
) -> None:
    """Run until ``stop`` is set: polling, or a webhook with a secret token if configured.

    Used by ``python -m bot run``, the tests and the sandbox alike, so all three exercise
    the same start-up and shutdown path.
    """
    config = app.bot_data.config
    # Every update allocates thousands of short-lived objects (PTB parses each into a tree
    # of TelegramObjects). With CPython's default gen-0 threshold of 700 the cyclic
    # collector ran ~750 times during a 6,000-tap vote burst and took 22% of its time;
    # at 50,000 it runs a handful of times (bench/vote_burst.py: 1,514 → ~1,900 taps/s).
    # Young objects are still freed by reference counting the moment they are dropped.
    gc.set_threshold(GC_GEN0, 20, 100)
    async with app:
        await startup(app)
        assert app.updater is not None
        if config.webhook_url:
            await app.updater.start_webhook(
                listen=config.webhook_listen,
                port=config.webhook_port,
                url_path=urlparse(config.webhook_url).path.lstrip("/"),
                webhook_url=config.webhook_url,
                secret_token=config.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            await app.updater.start_polling(
                poll_interval=0.0, timeout=poll_timeout, allowed_updates=Update.ALL_TYPES
            )
        await app.start()
        courier = app.bot_data.courier
        await courier.start()
        dashboard = await _start_dashboard(app, config)
        if ready is not None:
            ready.set()
        try:
            await stop.wait()
        finally:
            if dashboard is not None:
                await dashboard.stop()
            await courier.stop()
            await app.bot_data.latest_only.close()
            if app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()


async def _start_dashboard(app: MahfilApp, config: Config) -> Any:
    """The dashboard Mini App's web server (issue 20), when ``WEBAPP_URL`` is set.

    The sandbox serves its own (``bot_data.webapp_url``), so it is not started twice.
    """
    if not config.webapp_url or app.bot_data.webapp_url is not None:
        return None
    from bot.webapp.server import serve_dashboard

    return await serve_dashboard(app.bot_data.db, config)
