"""The end-to-end harness: the real Application, a real SQLite file, the emulator as Telegram.

``harness`` starts the bot exactly as ``python -m bot run`` does (``bot.app.serve``) with
PTB's requests going to the in-process emulator. People act through ``bot.emulator``'s
``Person``: they send commands, tap buttons and read what their chat received.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.triggers.interval import IntervalTrigger
from telegram.request import HTTPXRequest

from bot.app import MahfilApp, build_application, serve
from bot.config import Config
from bot.emulator import Emulator, Person
from bot.emulator.watch import watch
from bot.i18n import Translator
from bot.labels import GROUP_LABELS
from storage import community as store
from storage.community import Community
from storage.db import Database

ADMIN_ID = 1000
_ids = itertools.count(5000)
# The bot's own waits, shortened: Telegram's pace of one edit a second per chat for ballot
# redraws, the dispatcher's look at waiting redraws, the moment after an update during which
# redraws yield, and the delivery worker's polls, commits, gaps per chat and back-off.
REDRAW_PAUSE, REDRAW_TICK, BURST_GAP = 0.02, 0.005, 0.01
DELIVERY_TIME_SCALE = 0.05
# Repeating jobs first due this soon after start are the catch-up look at start-up (digests,
# surveys, task reminders): in tests it happens at once, and settle waits for it.
STARTUP_LOOK = timedelta(seconds=3)


@dataclass
class Invitation:
    community: Community
    resident_code: str
    coordinator_code: str


@dataclass
class Harness:
    emu: Emulator
    database_path: Path
    config: Config
    db: Database = field(init=False)
    app: MahfilApp = field(init=False)
    _stop: asyncio.Event = field(init=False)
    _task: asyncio.Task[None] | None = None

    # -- the bot's lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        self.db = await Database.open(self.database_path)
        self.app = build_application(
            self.config,
            self.db,
            request=HTTPXRequest(httpx_kwargs={"transport": self.emu.transport()}),
            get_updates_request=HTTPXRequest(httpx_kwargs={"transport": self.emu.transport()}),
        )
        background = self.app.bot_data.latest_only
        background.pause, background.tick = REDRAW_PAUSE, REDRAW_TICK
        processor = self.app.update_processor
        processor.burst_gap = BURST_GAP  # type: ignore[attr-defined]
        courier = self.app.bot_data.courier
        courier.time_scale = DELIVERY_TIME_SCALE
        courier.account.scale(DELIVERY_TIME_SCALE)  # one message a second per chat, faster
        watch(self.emu, self.app)  # settle waits for updates, redraws, deliveries and jobs
        self._stop = asyncio.Event()
        ready = asyncio.Event()
        self._task = asyncio.create_task(serve(self.app, self._stop, ready=ready, poll_timeout=1))
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiter.cancel()
            self._task.result()  # raises what start-up raised
        self._look_at_once()
        courier.wake()  # its first look at the outbox counts as busy, so settle waits for it

    def _look_at_once(self) -> None:
        """Run the catch-up look at start-up now rather than a second or two later."""
        assert self.app.job_queue is not None
        now = datetime.now(UTC)
        for job in self.app.job_queue.scheduler.get_jobs():
            if isinstance(job.trigger, IntervalTrigger) and job.next_run_time - now < STARTUP_LOOK:
                job.modify(next_run_time=now)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        await self._task
        self._task = None
        await self.db.close()

    async def restart(self) -> None:
        """Stop the bot and start a new one on the same database file, as a redeploy would."""
        await self.stop()
        await self.start()

    async def settle(self) -> None:
        await self.emu.settle()

    # -- people ----------------------------------------------------------------------------

    def person(
        self, lang: str = "en", *, name: str | None = None, user_id: int | None = None
    ) -> Person:
        user_id = user_id if user_id is not None else next(_ids)
        return self.emu.user(user_id, name or f"Person{user_id}", language_code=lang)

    @property
    def admin(self) -> Person:
        return self.emu.user(ADMIN_ID, "Admin", language_code="en")

    async def new_community(self, name: str = "Green Street") -> Invitation:
        """Created by the admin through ``/newcommunity``, as in production."""
        await self.admin.send(f"/newcommunity {name}")
        await self.settle()
        rows = await self.db.fetchall(
            "SELECT c.id, i.kind, i.code FROM communities c JOIN invites i"
            " ON i.community_id = c.id WHERE c.name = ? AND i.revoked_at IS NULL"
            " ORDER BY c.id DESC",
            (name,),
        )
        assert rows, f"/newcommunity did not create {name!r}: {self.admin.texts()[-3:]}"
        # No quiet hours in tests, so notices do not wait for the morning whatever the time.
        await store.set_quiet_hours(self.db, rows[0]["id"], 0, 0)
        community = await store.get_community(self.db, rows[0]["id"])
        assert community is not None
        codes = {r["kind"]: r["code"] for r in rows if r["id"] == community.id}
        return Invitation(community, codes["resident"], codes["coordinator"])

    async def join(self, person: Person, code: str, group: str = "activist") -> None:
        """Open the invitation link, pick the group and accept the privacy notice."""
        t = Translator(person.language_code or "en")
        await person.send(f"/start {code}")
        await self.settle()
        await person.tap(t._(GROUP_LABELS[group]))
        await self.settle()
        await person.tap(t._("I agree"))
        await self.settle()

    async def resident(
        self, invitation: Invitation, lang: str = "en", group: str = "activist",
        name: str | None = None,
    ) -> Person:
        person = self.person(lang, name=name)
        await self.join(person, invitation.resident_code, group)
        return person

    async def coordinator(
        self, invitation: Invitation, lang: str = "en", group: str = "ngo", name: str | None = None
    ) -> Person:
        person = self.person(lang, name=name)
        await self.join(person, invitation.coordinator_code, group)
        return person




# -- small helpers the end-to-end tests share ----------------------------------------------


def tr(person: Person, message: str, domain: str | None = None, **values: object) -> str:
    """``message`` as ``person`` sees it, in their Telegram language (as ``domain`` translates
    it, for a text that domains translate differently)."""
    t = Translator(person.language_code or "en")
    return t.dgettext(domain, message, **values) if domain else t._(message, **values)


async def step(harness: Harness, person: Person, action: object, *, send: bool = False) -> None:
    """Send a text (``send=True``) or tap a button by its label, then let the bot settle."""
    if send:
        await person.send(str(action))
    else:
        await person.tap(action)  # type: ignore[arg-type]
    await harness.settle()


async def press(harness: Harness, person: Person, data: str) -> str | None:
    """Send callback data of one's own choosing (forged or stale); returns the answer."""
    await person.press(data)
    await harness.settle()
    return person.last_answer
