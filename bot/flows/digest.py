"""Committee digests: when one is due, and whether there is anything to say.

A digest belongs to a period — a local date (daily) or an ISO week (weekly) — and goes out
at the set local hour. The period key is stored once handled, so the scheduler may look as
often as it likes, and after downtime the current period yields exactly one catch-up.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.digest import Change, Digest

FREQUENCIES = ("daily", "weekly")
# Shown in a digest, but never a reason to send one: states, not changes.
CONTEXT_ONLY = {"vote_standing", "task_overdue"}


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
