"""When the bot acts on its own: reminders before a deadline, and deadlines already past.

Votes, elections and surveys follow the same rhythm, so the rule is written once: members
who have not taken part hear a day before the end — half-way through anything that is open
for less than two days — and a deadline that passed while the bot was down is acted on at
once, not skipped. Quiet hours (when notices wait for the morning) and the window in which
something closed by hand may be reopened are time rules of the same kind.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.community import Community
from storage.db import utcnow

REMIND_BEFORE = timedelta(days=1)
AT_ONCE = timedelta(seconds=0.1)
# A survey, vote or election closed by hand may be reopened for this long: members hear that
# it closed only afterwards, so a mistaken tap (or "two more people are still voting") is
# undone before anyone was told anything. Long enough to notice, short enough that a result
# is not held back for long.
REOPEN_WINDOW = timedelta(minutes=10)


def reminder_time(opened: datetime, closes: datetime | None) -> datetime | None:
    """When to remind those who have not taken part (None: nothing closes, no reminder)."""
    if closes is None:
        return None
    return closes - min(REMIND_BEFORE, (closes - opened) / 2)


def not_before_now(moment: datetime, now: datetime | None = None) -> datetime:
    """``moment``, or a moment from now if it has already passed."""
    soon = (now or utcnow()) + AT_ONCE
    return max(moment, soon)


def due_days(today: date) -> tuple[date, date]:
    """The due dates whose tasks are recalled to their responsible person today: tomorrow's
    (a day before, as for every deadline) and, if still not done, yesterday's."""
    return today + REMIND_BEFORE, today - REMIND_BEFORE


def reopen_until(now: datetime | None = None) -> datetime:
    """Until when something closed by hand now may be reopened."""
    return (now or utcnow()) + REOPEN_WINDOW


def may_reopen(until: datetime | None, now: datetime | None = None) -> bool:
    """Whether the window to reopen (None: there was none) is still open."""
    return until is not None and (now or utcnow()) < until


def window_minutes() -> int:
    """The window in whole minutes, as people are told it."""
    return int(REOPEN_WINDOW.total_seconds() // 60)


def quiet_until(now: datetime, community: Community) -> datetime | None:
    """When quiet hours end if ``now`` falls inside them (UTC), else None.

    Quiet hours run from ``quiet_start`` to ``quiet_end`` o'clock in the community's time
    zone and may cross midnight (22 → 8). Equal hours mean no quiet hours.
    """
    start, end = community.quiet_start, community.quiet_end
    if start == end:
        return None
    local = now.astimezone(ZoneInfo(community.timezone))
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return None
    day = local.date() if hour < end else local.date() + timedelta(days=1)
    wake = datetime.combine(day, time(end), tzinfo=local.tzinfo)
    return wake.astimezone(now.tzinfo)


def hold_until(community: Community, not_before: datetime | None = None) -> datetime | None:
    """When a notice may go: at once (None), at ``not_before``, and in either case not
    inside the community's quiet hours (then when they end)."""
    now = utcnow()
    start = not_before if not_before is not None and not_before > now else now
    return quiet_until(start, community) or (start if start > now else None)
