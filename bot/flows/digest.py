"""Committee digests: their settings, when one is due, and whether there is anything to say.

A digest belongs to a period — a local date (daily) or an ISO week (weekly) — and goes out
at the set local hour. The period key is stored once handled, so the scheduler may look as
often as it likes, and after downtime the current period yields exactly one catch-up.

Coordinators change the settings with buttons that carry the committee and the value they
set (not "one hour later", but "18:00"), so tapping an old card twice sets the same thing;
every change checks here that the committee is in the coordinator's community.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.flows import process
from bot.flows.broadcast import quiet_until
from bot.flows.errors import Refused
from bot.flows.people import Member, require
from bot.i18n import N_
from storage import broadcast as outbox
from storage import committee as committee_store
from storage import community as community_store
from storage import digest as store
from storage.broadcast import Message
from storage.committee import Committee
from storage.community import Community, User
from storage.db import Database, utcnow
from storage.digest import Change, Digest

__all__ = ["Change", "Committee", "Community", "Digest", "Due", "Setting", "User"]

FREQUENCIES = ("daily", "weekly")
Frequency = Literal["daily", "weekly"]
DEFAULT_HOUR = 18  # a new digest goes out at 18:00 local time …
DEFAULT_WEEKDAY = 0  # … on Mondays when weekly
# Shown in a digest, but never a reason to send one: states, not changes.
CONTEXT_ONLY = {"vote_standing", "task_overdue"}
NOT_AVAILABLE = N_("This committee is not available to you.")


def current_period(frequency: str, hour: int, weekday: int, now: datetime,
                   timezone: str) -> tuple[str, datetime]:
    """The latest period whose send time has passed: (key, send time in UTC)."""
    local = now.astimezone(ZoneInfo(timezone))
    day = local.date()
    if frequency == "weekly":
        day -= timedelta(days=(day.weekday() - weekday) % 7)
    moment = datetime.combine(day, time(hour), tzinfo=local.tzinfo)
    if moment > local:
        moment -= timedelta(days=7 if frequency == "weekly" else 1)
    if frequency == "weekly":
        year, week, _ = moment.isocalendar()
        key = f"{year}-W{week:02d}"
    else:
        key = moment.date().isoformat()
    return key, moment.astimezone(now.tzinfo)


def due(digest: Digest, now: datetime, timezone: str) -> str | None:
    """The period to handle now, or None when the latest one is already done."""
    key, _at = current_period(digest.frequency, digest.hour, digest.weekday, now,
                              timezone)
    return None if key == digest.last_period else key


def worth_sending(changes: list[Change]) -> bool:
    """No digest when nothing changed (live standings alone are not news)."""
    return any(c.kind not in CONTEXT_ONLY for c in changes)


# -- settings (coordinators) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """A committee and its digest (None: off)."""

    committee: Committee
    digest: Digest | None

    @property
    def to_group_chat(self) -> bool:
        """Whether the digest goes to the committee's group chat (else to each member)."""
        return bool(self.digest is not None and self.digest.to_chat
                    and self.committee.chat_id)


async def settings(db: Database, who: Member) -> list[Setting]:
    """Every committee of the coordinator's community with its digest, oldest first."""
    require(who, "coordinator")
    return [Setting(committee, await store.get(db, committee.id))
            for committee in await committee_store.committees(db, who.community.id)]


async def setting(db: Database, who: Member, committee_id: int) -> Setting:
    """The committee's digest, if the committee is in the coordinator's community."""
    require(who, "coordinator")
    committee = await committee_store.get_committee(db, committee_id)
    if committee is None or committee.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    return Setting(committee, await store.get(db, committee.id))


async def turn_off(db: Database, who: Member, committee_id: int) -> Setting:
    found = await setting(db, who, committee_id)
    await store.remove(db, found.committee.id)
    return Setting(found.committee, None)


async def set_frequency(db: Database, who: Member, committee_id: int,
                        frequency: Frequency) -> Setting:
    """Daily or weekly; a digest turned on goes to the group chat at 18:00 (Mondays)."""
    if frequency not in FREQUENCIES:
        raise Refused(NOT_AVAILABLE)
    found = await setting(db, who, committee_id)
    return await _configure(db, who, found, frequency=frequency)


async def set_hour(db: Database, who: Member, committee_id: int, hour: int) -> Setting:
    if not 0 <= hour <= 23:
        raise Refused(NOT_AVAILABLE)
    return await _configure(db, who, await _on(db, who, committee_id), hour=hour)


async def set_weekday(db: Database, who: Member, committee_id: int, weekday: int) -> Setting:
    found = await _on(db, who, committee_id)
    if not 0 <= weekday <= 6 or found.digest is None or found.digest.frequency != "weekly":
        raise Refused(NOT_AVAILABLE)
    return await _configure(db, who, found, weekday=weekday)


async def set_destination(db: Database, who: Member, committee_id: int,
                          to_chat: bool) -> Setting:
    """To the linked group chat (there must be one) or to each member's private chat."""
    found = await _on(db, who, committee_id)
    if to_chat and not found.committee.chat_id:
        raise Refused(NOT_AVAILABLE)
    return await _configure(db, who, found, to_chat=to_chat)


async def _on(db: Database, who: Member, committee_id: int) -> Setting:
    """A committee whose digest is on (only then are its hour and place shown)."""
    found = await setting(db, who, committee_id)
    if found.digest is None:
        raise Refused(NOT_AVAILABLE)
    return found


async def _configure(db: Database, who: Member, found: Setting, *,
                     frequency: str | None = None, hour: int | None = None,
                     weekday: int | None = None, to_chat: bool | None = None) -> Setting:
    """Write the changed settings; the current period counts as handled (no instant
    digest for what happened before)."""
    old = found.digest
    frequency = frequency or (old.frequency if old else "daily")
    hour = hour if hour is not None else (old.hour if old else DEFAULT_HOUR)
    weekday = weekday if weekday is not None else (old.weekday if old else DEFAULT_WEEKDAY)
    to_chat = to_chat if to_chat is not None else (old.to_chat if old else True)
    now = utcnow()
    period, _at = current_period(frequency, hour, weekday, now, who.community.timezone)
    await store.configure(db, found.committee.id, frequency=frequency, hour=hour,
                          weekday=weekday, to_chat=to_chat, since=now, period=period)
    return Setting(found.committee, await store.get(db, found.committee.id))


# -- sending (the scheduler) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """A digest to send now: for whom, the period it covers, and what changed."""

    community: Community
    committee: Committee
    digest: Digest
    period: str
    changes: list[Change]
    now: datetime
    standing: process.Standing | None = None  # the participation cycle's step

    @property
    def key(self) -> str:
        """Names this digest in the outbox: queued twice, it is still sent once."""
        return f"digest:{self.committee.id}:{self.period}"

    @property
    def to_group_chat(self) -> bool:
        return bool(self.digest.to_chat and self.committee.chat_id)


async def due_now(db: Database, now: datetime | None = None) -> list[Due]:
    """The digests whose period has come and that have news; a period without news is
    marked handled here and sends nothing."""
    now = now or utcnow()
    found = []
    for digest in await store.all_digests(db):
        committee = await committee_store.get_committee(db, digest.committee_id)
        community = (await community_store.get_community(db, committee.community_id)
                     if committee else None)
        if committee is None or community is None:
            continue
        period = due(digest, now, community.timezone)
        if period is None:
            continue
        today = now.astimezone(ZoneInfo(community.timezone)).date()
        changes = await store.changes(db, community.id, committee.id, digest.since, today)
        if not worth_sending(changes):
            await store.handled(db, committee.id, period, sent_at=None)
            continue
        found.append(Due(community, committee, digest, period, changes, now,
                         await process.standing(db, community.id)))
    return found


async def members(db: Database, due_: Due) -> list[User]:
    """Who receives a digest sent to each member: the committee's current members."""
    return [user for _m, user in await committee_store.committee_members(db,
                                                                         due_.committee.id)]


async def queue_to_chat(db: Database, due_: Due, parts: Sequence[str]) -> int:
    """Queue a digest (already split) for the committee's group chat; inside the
    community's quiet hours it waits until they end."""
    assert due_.committee.chat_id is not None
    hold = quiet_until(utcnow(), due_.community)
    return await outbox.enqueue(db, [
        Message(chat_id=due_.committee.chat_id, text=part, due_at=hold,
                dedupe=f"{due_.key}:chat:{index}") for index, part in enumerate(parts)])


async def sent(db: Database, due_: Due) -> None:
    """The digest is queued: its period is handled and the next one reports from now.

    Queued first, then marked: a crash in between queues it again at the next look, and
    the outbox's keys turn that into nothing.
    """
    await store.handled(db, due_.committee.id, due_.period, sent_at=due_.now)
