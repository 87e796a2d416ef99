"""When the bot acts on its own: reminders before a deadline, and deadlines already past.

Votes, elections and surveys follow the same rhythm, so the rule is written once: members
who have not taken part hear a day before the end — half-way through anything that is open
for less than two days — and a deadline that passed while the bot was down is acted on at
once, not skipped.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from storage.db import utcnow

REMIND_BEFORE = timedelta(days=1)
AT_ONCE = timedelta(seconds=0.1)


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
