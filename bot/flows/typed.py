"""What people type where a number or a date is asked, in any of the bot's languages.

Persian and Arabic-Indic digits count as digits; a Persian speaker may type a Solar Hijri
date (a year before 1700 is read as one). Faults raise :class:`Refused` with a hint.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast
from zoneinfo import ZoneInfo

import jdatetime

from bot.flows.errors import Refused
from bot.i18n import N_

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩٫", "01234567890123456789.")
DATE_HINT = N_("Please write the date as 2026-12-01 or 2026-12-01 18:00.")
DAY_HINT = N_("Please write the date as 2026-12-01 (or 1405-09-10 in the Solar Hijri"
              " calendar).")


_CONTROLS = dict.fromkeys(
    [c for c in range(0x20) if c not in (0x09, 0x0A)] + list(range(0x7F, 0xA0))
    + [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069])


def clean(text: str) -> str:
    """Typed text as the bot keeps it: control characters (but newline and tab) and
    direction overrides that could disguise a name removed, outer whitespace trimmed.

    Every text a person types reaches handlers through this function, so lengths and
    emptiness are judged on what will really be stored and shown.
    """
    return text.translate(_CONTROLS).strip()


def latin(text: str) -> str:
    """``text`` with Persian and Arabic-Indic digits (and decimal sign) made Latin."""
    return text.strip().translate(_DIGITS)


def to_int(text: str) -> int | None:
    """A whole number typed in Latin, Persian or Arabic-Indic digits; None otherwise."""
    cleaned = latin(text)
    return int(cleaned) if cleaned.isascii() and cleaned.isdigit() else None


def to_number(text: str) -> float:
    """A number such as ``12``, ``-3.5``, ``۱۲٫۵`` or ``12,5``."""
    cleaned = latin(text).replace(",", ".").replace(" ", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise Refused(N_("Please send a number, like 12 or 3.5.")) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Refused(N_("Please send a number, like 12 or 3.5."))
    return value


def to_percent(text: str) -> int:
    number = to_int(text.rstrip("%٪ "))
    if number is None or not 0 <= number <= 100:
        raise Refused(N_("Please send a whole number from 0 to 100."))
    return number


def to_day(text: str) -> date:
    """``2026-12-01``, or a Solar Hijri ``1405-09-10``."""
    cleaned = latin(text).replace("/", "-")
    try:
        year, month, day = (int(p) for p in cleaned.split("-"))
        if year < 1700:
            return cast(date, jdatetime.date(year, month, day).togregorian())
        return date(year, month, day)
    except (ValueError, OverflowError):  # OverflowError: a year too large for C
        raise Refused(DAY_HINT) from None


def to_moment(text: str, timezone: str) -> datetime:
    """``2026-12-01 18:00`` or ``2026-12-01`` in community time."""
    cleaned = " ".join(latin(text).replace("T", " ").split())
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            local = datetime.strptime(cleaned, pattern)
        except ValueError:
            continue
        return local.replace(tzinfo=ZoneInfo(timezone))
    raise Refused(DATE_HINT)


def words(value: str, limit: int) -> str:
    """Some text, spaces tidied: neither empty nor over ``limit`` characters."""
    value = " ".join(value.split())
    if not value:
        raise Refused(N_("Please write a few words."))
    if len(value) > limit:
        raise Refused(N_("Please keep it under {n} characters."), n=limit)
    return value


def lines(value: str, limit: int) -> list[str]:
    """One item per line (e.g. "what next"), each checked; at most 20."""
    items = [words(line, limit) for line in value.splitlines() if line.strip()]
    if not items:
        raise Refused(N_("Please write a few words."))
    return items[:20]
