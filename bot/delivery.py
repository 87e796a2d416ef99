"""The delivery worker: sends the outbox within Telegram's limits and loses nothing.

Telegram allows about 30 messages a second overall (1,000 with paid broadcasts), one a
second in a chat and 20 a minute in a group. The worker claims due rows from the outbox and
sends each in its turn of the bot's one account of those limits (:mod:`bot.ratelimit`,
shared with replies and edits): a steady pace, not bursts, so a sliding one-second window
never overflows and Telegram never has to answer 429. It takes one turn at a time, so a
reply waits for at most one outbox message. Each outcome is recorded:

- sent; or failed for good (the person blocked the bot — then marked unreachable — or
  Telegram refused the message);
- ``RetryAfter``: every sender pauses for the time Telegram asks (the account's pause), the
  row is due again then;
- network errors and 5xx: due again after a back-off (2, 4, 8 … s), failed after 8 tries.

Outcomes are committed in groups every fraction of a second. Rows are claimed ("sending")
before they are sent, so after a crash exactly the rows in flight are sent again; nothing
else is lost or repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.flows.broadcast import MAX_ATTEMPTS, backoff, resume
from bot.ratelimit import Account, Paced, RateLimiter, seconds_of
from storage import broadcast as store
from storage import community as community_store
from storage.broadcast import Outcome, Outgoing
from storage.db import Database, utcnow

if TYPE_CHECKING:
    from bot.app import MahfilApp

log = logging.getLogger(__name__)

FLUSH_EVERY = 0.2  # seconds between group commits of outcomes
CLAIM_FREE, CLAIM_PAID = 30, 500  # rows taken from the outbox at a time
POLL = 1.0  # seconds between looks at the outbox when nothing woke the worker


class Courier:
    """One per application: started at start-up, stopped at shutdown."""

    def __init__(self, app: MahfilApp, *, paid: bool = False, account: Account | None = None,
                 concurrency: int = 16) -> None:
        self.app = app
        self.db: Database = app.bot_data.db
        self.paid = paid  # queue new mass messages as paid broadcasts
        # The same account as replies and edits (bot.ratelimit): one pace, one pause.
        limiter = app.bot.rate_limiter
        self.account = account or (limiter.account if isinstance(limiter, RateLimiter)
                                   else Account())
        self.on_progress: list[Callable[[int], None]] = []  # called with a broadcast id
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._outcomes: list[Outcome] = []
        self._touched: set[int] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._flushing = False
        self._cancelled: set[int] = set()
        self._file_ids: dict[str, str] = {}  # stored picture -> Telegram's file id
        self._deferred_until = 0.0  # loop time by which rows put off for a moment are due
        self._tasks: list[asyncio.Task[None]] = []
        # The worker's own waits (polls, commits, gaps per chat, back-off) are multiplied by
        # this; the tests' harness shortens them. Telegram's retry_after is never scaled.
        self.time_scale = 1.0
        self.on_idle: Callable[[], None] = lambda: None  # tests' harness: look again now

    @property
    def busy(self) -> bool:
        """Sending, or outcomes not yet written (tests wait for this to clear)."""
        return bool(self._in_flight or self._outcomes or self._touched or self._flushing
                    or self._wake.is_set()
                    or asyncio.get_running_loop().time() < self._deferred_until)

    def cancelled(self, broadcast_id: int) -> None:
        """A broadcast was cancelled: rows of it already in hand are not sent either."""
        self._cancelled.add(broadcast_id)

    def wake(self) -> None:
        """New rows were queued: look now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        recovered = await store.recover(self.db)
        if recovered:
            log.info("resuming delivery: %d messages were in flight at the last stop",
                     recovered)
        if await resume(self.db):  # broadcasts a restart caught while queuing
            log.info("resumed queuing broadcasts interrupted by the last stop")
        self._stopping = False
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._flusher())]

    async def stop(self) -> None:
        """Stop claiming, let sends in flight finish (briefly), and write every outcome."""
        self._stopping = True
        self._wake.set()
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=5)
        # Both loops end by themselves at their next turn: cancelled while beginning a
        # transaction (a claim, a commit), one could leave it open on the shared connection.
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=POLL)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self._flush()
        await store.recover(self.db, wait=0)  # claimed, never sent: due at the next start

    # -- the loop --------------------------------------------------------------------------

    async def _claim(self) -> list[Outgoing]:
        try:
            # About a second's worth at a time: a cancel or a crash catches few in hand.
            return await store.claim(self.db, CLAIM_PAID if self.paid else CLAIM_FREE)
        except Exception:
            log.exception("could not read the outbox")
            return []

    async def _run(self) -> None:
        upcoming: asyncio.Task[list[Outgoing]] | None = None
        while not self._stopping:
            rows = await (upcoming or self._claim())
            upcoming = None
            if not rows:
                self._wake.clear()
                self.on_idle()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=POLL * self.time_scale)
                continue
            self._wake.set()  # (busy until a look finds nothing, also between paced sends)
            for index, row in enumerate(rows):
                if self._stopping:
                    self._outcomes.extend(Outcome(r.id, "pending") for r in rows[index:])
                    break
                if index == len(rows) // 2:
                    # The next batch is read while this one is paced out, so reading the
                    # outbox never leaves a gap in the sending (3% of the paid rate).
                    upcoming = asyncio.create_task(self._claim())
                await self._dispatch(row)
        if upcoming is not None:  # read just before stopping: back to the queue
            self._outcomes.extend(Outcome(r.id, "pending") for r in await upcoming)

    async def _dispatch(self, row: Outgoing) -> None:
        if row.broadcast_id in self._cancelled:
            self._outcomes.append(Outcome(row.id, "cancelled"))
            self._touched.add(row.broadcast_id)
            return
        loop = asyncio.get_running_loop()
        wait = self.account.chat_wait(row.chat_id)
        if wait > 0:
            # Too soon for this chat (a reply or an earlier row just went there): due again
            # when it may be sent; others go first.
            delay = wait + 1.0 * self.time_scale  # due_at is to the second
            # (busy until then, plus one poll of the outbox)
            self._deferred_until = max(self._deferred_until,
                                       loop.time() + delay + (POLL + 0.5) * self.time_scale)
            self._outcomes.append(Outcome(row.id, "pending", due_at=utcnow() + timedelta(
                seconds=delay)))
            return
        await self.account.turn(row.paid)
        await self._slots.acquire()
        self.account.take_chat(row.chat_id)  # (the worker deferred it if too soon)
        task = asyncio.create_task(self._send(row))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send(self, row: Outgoing) -> None:
        # The raw Bot API call: the reply is not turned into a Message object, which at
        # hundreds of messages a second is a large share of the cost.
        params: dict[str, object] = {"chat_id": row.chat_id, "parse_mode": ParseMode.HTML}
        if row.markup:
            params["reply_markup"] = row.markup
        if row.paid:
            params["allow_paid_broadcast"] = True
        if row.photo:
            # Bot API method names are case-insensitive; PTB warns about its own camelCase
            # names in a raw call, which is raw on purpose (no Message object is built).
            method, params["photo"], params["caption"] = "sendphoto", row.photo, row.text
        else:
            method, params["text"] = "sendmessage", row.text
            params["link_preview_options"] = {"is_disabled": True}
        try:
            if row.photo and row.photo.startswith(store.FILE_PREFIX):
                await self._send_stored_photo(row, params)
            else:
                await self._call(method, params)
            outcome = Outcome(row.id, "sent")
        except RetryAfter as error:
            seconds = seconds_of(error)
            self.account.pause(seconds)  # (again, if the rate limiter already did: harmless)
            outcome = Outcome(row.id, "pending", "429",
                              utcnow() + timedelta(seconds=seconds))
        except Forbidden as error:
            if row.user_id is not None:
                await community_store.set_reachable(self.db, row.user_id, False)
            outcome = Outcome(row.id, "failed", f"forbidden: {error.message}")
        except BadRequest as error:
            outcome = Outcome(row.id, "failed", error.message)
        except NetworkError as error:  # also Telegram's 5xx answers and timeouts
            if row.attempts + 1 >= MAX_ATTEMPTS:
                outcome = Outcome(row.id, "failed", error.message)
            else:
                outcome = Outcome(row.id, "pending", error.message, utcnow() + timedelta(
                    seconds=backoff(row.attempts + 1) * self.time_scale))
        except asyncio.CancelledError:
            self._outcomes.append(Outcome(row.id, "pending"))
            raise
        except Exception as error:
            log.exception("unexpected error while sending outbox row %s", row.id)
            outcome = Outcome(row.id, "pending", repr(error), utcnow() + timedelta(
                seconds=backoff(row.attempts + 1) * self.time_scale))
        finally:
            self._slots.release()
        self._outcomes.append(outcome)
        if row.broadcast_id is not None:
            self._touched.add(row.broadcast_id)

    async def _call(self, method: str, params: dict[str, object]) -> None:
        """A raw Bot API call that has had its turn: the rate limiter neither paces it again
        nor retries it (a 429 is recorded on the row, which is due again after the pause)."""
        bot = self.app.bot
        if isinstance(bot.rate_limiter, RateLimiter):
            await bot.do_api_request(method, api_kwargs=params, rate_limit_args=Paced.BULK)
        else:
            await bot.do_api_request(method, api_kwargs=params)

    async def _send_stored_photo(self, row: Outgoing, params: dict[str, object]) -> None:
        """A picture kept in the outbox: uploaded the first time, then sent by file id."""
        assert row.photo is not None
        file_id = self._file_ids.get(row.photo)
        if file_id is None:
            stored = await store.stored_file(self.db, row.photo)
            if stored is None:
                raise BadRequest("the picture is gone")
            data, file_id = stored
        if file_id is not None:
            await self._call("sendphoto", {**params, "photo": file_id})
            return
        paced: dict[str, Paced] = ({"rate_limit_args": Paced.BULK}
                 if isinstance(self.app.bot.rate_limiter, RateLimiter) else {})
        message = await self.app.bot.send_photo(
            row.chat_id, data, caption=row.text, **paced,  # type: ignore[arg-type]
            reply_markup=InlineKeyboardMarkup.de_json(row.markup, self.app.bot)
            if row.markup else None)
        if message.photo:
            self._file_ids[row.photo] = message.photo[-1].file_id
            await store.uploaded(self.db, row.photo, message.photo[-1].file_id)

    # -- group commits ---------------------------------------------------------------------

    async def _flusher(self) -> None:
        while not self._stopping:
            await asyncio.sleep(FLUSH_EVERY * self.time_scale)
            try:
                await self._flush()
            except Exception:
                log.exception("could not record delivery outcomes")

    async def _flush(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        touched, self._touched = self._touched, set()
        self._flushing = True
        try:
            if outcomes:
                await store.record(self.db, outcomes)
                if any(o.state == "pending" for o in outcomes):
                    self._wake.set()
            for broadcast_id in touched:
                await store.finish_if_done(self.db, broadcast_id)
                for callback in self.on_progress:
                    callback(broadcast_id)
        finally:
            self._flushing = False
            if outcomes or touched:
                self.on_idle()


def courier(app: MahfilApp) -> Courier:
    return app.bot_data.courier
