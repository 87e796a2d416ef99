"""What people type, cleaned once, and read where a number or a date is asked.

:func:`clean` is the one place typed text is made safe to store and show: every text input
goes through it (the form engine, :func:`words`, :func:`lines`, the guard before every
handler). Persian and Arabic-Indic digits count as digits; a Persian speaker may type a
Solar Hijri date (a year before 1700 is read as one). Faults raise :class:`Refused` with a
hint.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast
from zoneinfo import ZoneInfo

import jdatetime

from bot.flows.errors import Refused
from bot.i18n import N_

# Other line breaks become "\n"; C0 and C1 control characters (NUL among them: SQLite's
# length() stops at it) and the bidi embeddings, overrides and isolates that could make a
# name read as something else go. Tab stays; so do the marks LRM, RLM and ALM and the joiners
# ZWNJ and ZWJ, which Persian, Hebrew and emoji need.
_LINE_BREAKS = {"\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x85": "\n", "\u2028": "\n",
                "\u2029": "\n"}
_CONTROLS = {*range(0x00, 0x20), *range(0x7F, 0xA0)} - {ord("\t"), ord("\n")}
_BIDI = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}
_CLEAN = str.maketrans({**{c: None for c in _CONTROLS | _BIDI},
                        **{ord(k): v for k, v in _LINE_BREAKS.items()}})
NOTHING_LEFT = N_("That message holds only invisible characters. Please write it in words.")
CONTROL_CHARACTERS = N_("That message holds invisible control characters, which I cannot"
                        " keep. Please type it again.")


def clean(text: str) -> str:
    """``text`` as it is kept: one kind of line break ("\r\n" becomes "\n"), no control or
    bidi override characters, no surrounding whitespace. Pure; lengths are counted on this.
    """
    return text.replace("\r\n", "\n").translate(_CLEAN).strip()


def has_controls(text: str) -> bool:
    """Whether ``text`` holds a control character no person types (carriage returns,
    tabs and newlines are typed; NUL and its kind come only from programs)."""
    return any(ord(c) in _CONTROLS and c not in _LINE_BREAKS for c in text)


def required(text: str) -> str:
    """:func:`clean` text that must not be empty: refused with :data:`NOTHING_LEFT`."""
    cleaned = clean(text)
    if not cleaned:
        raise Refused(NOTHING_LEFT)
    return cleaned


_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩٫", "01234567890123456789.")
DATE_HINT = N_("Please write the date as 2026-12-01 or 2026-12-01 18:00.")
DAY_HINT = N_("Please write the date as 2026-12-01 (or 1405-09-10 in the Solar Hijri"
              " calendar).")


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
    """Some text, cleaned and spaces tidied: neither empty nor over ``limit`` characters."""
    value = " ".join(clean(value).split())
    if not value:
        raise Refused(N_("Please write a few words."))
    if len(value) > limit:
        raise Refused(N_("Please keep it under {n} characters."), n=limit)
    return value


def lines(value: str, limit: int) -> list[str]:
    """One item per line (e.g. "what next"), each checked; at most 20."""
    items = [words(line, limit) for line in clean(value).splitlines() if line.strip()]
    if not items:
        raise Refused(N_("Please write a few words."))
    return items[:20]
