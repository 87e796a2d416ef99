"""What people type, cleaned once, and read where a number or a date is asked.

:func:`clean` is the one place typed text is made safe to store and show: every text input
goes through it (the form engine, :func:`words`, :func:`lines`, the guard before every
handler).

Persian and Arabic-Indic digits count as digits. Every question for a date (a task's start,
a reading's day, a survey's opening, a vote's closing) reads the answer with :func:`read`:
``2026-12-15``; a Solar Hijri ``1405-09-24`` (a year before 1700 is read as one); a day and
a month's name — Babel's names, full or abbreviated, in every language of the bot, the
Solar Hijri months as Persians write them, with or without a year (``۱۵ دی ۱۴۰۵``,
``15 Dec``, ``15 желтоқсан``, ``15 בדצמבר``); or a word for today, tomorrow or yesterday
(``فردا``, ``ертең``, ``מחר``), which are msgids, so a new language only needs its catalog.
A time of day (``18:00``, ``6 pm``) may follow. Faults raise :class:`Refused` with a hint
whose examples are today's date in the reader's calendar and digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import cast
from zoneinfo import ZoneInfo

import jdatetime
from babel import Locale

from bot.flows.errors import Refused
from bot.i18n import LANGUAGES, N_, Translator

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
DATE_HINT = N_("Please write a date and a time, for example {example} or {words}.")
DAY_HINT = N_("Please write a date, for example {example}, {named} or {today}.")
SOLAR_BEFORE = 1700  # a typed year below this is a Solar Hijri year


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


# -- dates -------------------------------------------------------------------------------------

# Words for days near today. Translators may give several, separated by commas.
RELATIVE = {
    # Translators: a word a person may type instead of a date (several: separate by commas).
    0: N_("today"),
    # Translators: a word a person may type instead of a date (several: separate by commas).
    1: N_("tomorrow"),
    # Translators: a word a person may type instead of a date (several: separate by commas).
    -1: N_("yesterday"),
}
# Words around a date that say nothing themselves ("on", Kazakh "ж." after a year, Persian
# "ساعت" before a time …).
_FILLER = {"on", "at", "the", "of", "ساعت", "در", "روز", "ж", "жыл", "жылы", "сағат", "ב",
           "ה", "בשעה", "-", "،"}
_NOISE = str.maketrans({",": " ", "،": " ", "\u200c": "", "\u200f": "", "\u200e": "",
                        "'": "", "\u05f3": "", "\u2019": "", "ي": "ی", "ك": "ک"})
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_ORDINAL = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")
_AT = {"at", "ساعت", "בשעה", "сағат"}  # words before a time of day ("at 6", "ساعت ۱۸")


def _fold(word: str) -> str:
    """A word as it is compared: lower case, without a final dot ("Dec." is "dec")."""
    return word.translate(_NOISE).casefold().strip().rstrip(".")


@cache
def _months() -> dict[str, tuple[str, int]]:
    """Every month name the bot accepts → (calendar, month): Babel's Gregorian names of
    each language (full and abbreviated, as written in a date and standing alone), and the
    Solar Hijri months."""
    names: dict[str, tuple[str, int]] = {}
    for lang in (*LANGUAGES, "en"):
        months = Locale.parse(lang).months
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for number, name in months[context][width].items():
                    names.setdefault(_fold(name), ("gregorian", number))
    for number, name in enumerate(jdatetime.date.j_months_fa, start=1):
        names[_fold(name)] = ("solar", number)
    return names


@cache
def _relative() -> dict[str, int]:
    """Every word for a day near today, in every language → days from today."""
    words: dict[str, int] = {}
    for lang in LANGUAGES:
        t = Translator(lang)
        for offset, msgid in RELATIVE.items():
            for word in (msgid, *t._(msgid).split(",")):
                if _fold(word):
                    words.setdefault(_fold(word), offset)
    return words


@dataclass(frozen=True, slots=True)
class Typed:
    """A date as typed, read: the day (Gregorian) and the time of day, if one was given."""

    day: date
    at: time | None = None


def read(text: str, today: date, *, ahead: bool = False, relative: bool = True,
         ) -> Typed | None:
    """The date (and time) in ``text``, or None if it is not one.

    A day and month without a year fall in the year that puts them nearest to ``today`` —
    or, with ``ahead``, on or after it (a deadline). Without ``relative``, words such as
    "tomorrow" are not dates (a survey file says the same whenever it is sent).
    """
    words = re.sub(r"(?<=\d)T(?=\d)", " ", latin(text)).translate(_NOISE).split()
    at: time | None = None
    rest: list[str] = []
    before = ""
    for word in words:
        folded = _fold(word)
        for prefix in ("ב-", "ה-", "ב", "ה"):  # Hebrew: "בדצמבר" (in December), "ב-18:00"
            tail = folded[len(prefix):]
            if folded.startswith(prefix) and (_TIME.fullmatch(tail) or tail.isdigit()
                                              or tail in _months()):
                folded = tail
                break
        if ordinal := _ORDINAL.fullmatch(folded):
            folded = ordinal[1]
        clock = _TIME.fullmatch(folded)
        if clock and at is None:
            hour, minute = int(clock[1]), int(clock[2])
            if hour > 23 or minute > 59:
                return None
            at = time(hour, minute)
        elif before in _AT and folded.isdigit() and len(folded) <= 2 and at is None:
            if int(folded) > 23:
                return None
            at = time(int(folded))
        elif folded in ("am", "pm", "a.m", "p.m"):
            if at is None and rest and rest[-1].isdigit() and len(rest[-1]) <= 2:
                at = time(int(rest.pop()) % 24)
            if at is None or not 1 <= at.hour <= 12:
                return None
            at = at.replace(hour=at.hour % 12 + (12 if folded.startswith("p") else 0))
        elif folded and folded not in _FILLER and folded not in _AT:
            rest.append(folded)
        before = folded
    day = _day(rest, today, ahead, relative)
    return None if day is None else Typed(day, at)


def _day(words: list[str], today: date, ahead: bool, relative: bool) -> date | None:
    if relative and len(words) == 1 and words[0] in _relative():
        return today + timedelta(days=_relative()[words[0]])
    if len(words) == 1 and (iso := _ISO.fullmatch(words[0])):
        return _date("solar" if int(iso[1]) < SOLAR_BEFORE else "gregorian",
                     int(iso[1]), int(iso[2]), int(iso[3]))
    named = [_months()[w] for w in words if w in _months()]
    numbers = [w for w in words if w.isascii() and w.isdigit()]
    if len(named) != 1 or len(numbers) not in (1, 2) or len(named) + len(numbers) != len(
            words):
        return None
    calendar, month = named[0]
    days = [int(n) for n in numbers if len(n) <= 2]
    years = [int(n) for n in numbers if 3 <= len(n) <= 4]
    if len(days) != 1 or len(years) > 1:
        return None
    if years:
        if (calendar == "solar") != (years[0] < SOLAR_BEFORE):  # a month of the other calendar
            return None
        return _date(calendar, years[0], month, days[0])
    return _without_year(calendar, month, days[0], today, ahead)


def _date(calendar: str, year: int, month: int, day: int) -> date | None:
    try:
        if calendar == "solar":
            return cast(date, jdatetime.date(year, month, day).togregorian())
        return date(year, month, day)
    except (ValueError, OverflowError):  # OverflowError: a year too large for C
        return None


def _without_year(calendar: str, month: int, day: int, today: date, ahead: bool,
                  ) -> date | None:
    year = (jdatetime.date.fromgregorian(date=today).year if calendar == "solar"
            else today.year)
    found = [d for d in (_date(calendar, y, month, day) for y in (year - 1, year, year + 1))
             if d is not None]
    if ahead:
        found = [d for d in found if d >= today]
    return min(found, key=lambda d: abs(d - today)) if found else None


def today_in(timezone: str | ZoneInfo, now: datetime | None = None) -> date:
    """Today's date in a community's time zone."""
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    return (now or datetime.now(zone)).astimezone(zone).date()


def day_example(t: Translator, day: date | None = None) -> str:
    """A date as the reader would type it: ``۱۴۰۵-۰۹-۱۰`` in Persian, ``2026-12-01`` else.
    Without ``day``: today, in the reader's (the community's) time zone."""
    day = day or today_in(cast(ZoneInfo, t.tz))
    if t.lang == "fa":
        solar = jdatetime.date.fromgregorian(date=day)
        return t.digits(f"{solar.year:04d}-{solar.month:02d}-{solar.day:02d}")
    return day.isoformat()


def moment_example(t: Translator, days: int = 7, hour: int = 18,
                   today: date | None = None) -> str:
    """A date and time as the reader would type it, ``days`` from today at ``hour``."""
    day = (today or today_in(cast(ZoneInfo, t.tz))) + timedelta(days=days)
    return f"{day_example(t, day)} {t.digits(f'{hour:02d}:00')}"


def _word(t: Translator, offset: int) -> str:
    """The reader's (first) word for a day near today."""
    return t._(RELATIVE[offset]).split(",")[0].strip()


def to_day(text: str, lang: str = "en", timezone: str = "UTC", *,
           now: datetime | None = None) -> date:
    """A day, typed in any way :func:`read` reads (a time of day is refused here)."""
    today = today_in(timezone, now)
    found = read(text, today)
    if found is None or found.at is not None:
        t = Translator(lang, timezone)
        raise Refused(DAY_HINT, example=day_example(t, today), named=t.date(today),
                      today=_word(t, 0))
    return found.day


def to_moment(text: str, timezone: str, lang: str = "en", *, now: datetime | None = None,
              hour: int = 0, relative: bool = True) -> datetime:
    """A date and time of day in community time (a date alone: at ``hour``). Days without a
    year fall on or after today: the moments asked are in the future."""
    today = today_in(timezone, now)
    found = read(text, today, ahead=True, relative=relative)
    if found is None:
        t = Translator(lang, timezone)
        raise Refused(DATE_HINT, example=moment_example(t, today=today),
                      words=f"{_word(t, 1)} {t.digits('18:00')}")
    return datetime.combine(found.day, found.at or time(hour), tzinfo=ZoneInfo(timezone))


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
