"""Languages: gettext catalogs, localized numbers and dates, and bidi-safe user text.

Every user-facing string goes through a :class:`Translator` bound to one person's language
and their community's time zone. Catalogs live in ``locales/<lang>/LC_MESSAGES/<domain>.po``
(one domain per capability, so capabilities never edit each other's files); all domains of a
language are merged. A new language needs only its ``.po`` files: the list of languages is
read from the ``locales`` folder.

Babel formats numbers with Latin digits and dates in the Gregorian calendar for every
locale, so Persian gets two additions here: Persian digits (۰–۹) and Solar Hijri dates via
jdatetime.
"""

from __future__ import annotations

import gettext
import html
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime
from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from babel.numbers import format_decimal

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
SOURCE_LANGUAGE = "en"

LANGUAGES: tuple[str, ...] = tuple(
    sorted(
        p.name
        for p in LOCALES_DIR.iterdir()
        if p.is_dir() and (p / "LC_MESSAGES").is_dir() and any((p / "LC_MESSAGES").glob("*.po"))
    )
) if LOCALES_DIR.is_dir() else (SOURCE_LANGUAGE,)

_PERSIAN_DIGITS = str.maketrans("0123456789.,%", "۰۱۲۳۴۵۶۷۸۹٫٬٪")
_LRI, _RLI, _FSI, _PDI = "\u2066", "\u2067", "\u2068", "\u2069"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (module-level constants)."""
    return message


def isolate(text: str) -> str:
    """User-written text made safe to place inside a sentence of ours.

    HTML-escaped (all bot messages use HTML parse mode) and wrapped in First Strong Isolate
    … Pop Directional Isolate, so a Latin name or a number inside a Persian or Hebrew line
    keeps its own direction and does not scramble the words around it.
    """
    return f"{_FSI}{html.escape(text, quote=False)}{_PDI}"


def match_language(code: str | None, default: str) -> str:
    """The supported language for a Telegram ``language_code`` such as ``fa-IR``."""
    if code:
        base = code.replace("_", "-").split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return default if default in LANGUAGES else SOURCE_LANGUAGE


def language_name(lang: str) -> str:
    """The language's own name for itself (فارسی, қазақ тілі, עברית, English)."""
    name = Locale.parse(lang).display_name or lang
    return name[:1].upper() + name[1:]


def is_rtl(lang: str) -> bool:
    return Locale.parse(lang).character_order == "right-to-left"


@cache
def _catalog(lang: str) -> gettext.NullTranslations:
    """All compiled domains of one language chained into one translations object."""
    folder = LOCALES_DIR / lang / "LC_MESSAGES"
    compiled = sorted(folder.glob("*.mo"))
    if lang != SOURCE_LANGUAGE and not compiled:
        raise RuntimeError(
            f"no compiled catalogs in {folder}; run `make i18n` (pybabel compile) first"
        )
    chain: gettext.NullTranslations = gettext.NullTranslations()
    for path in compiled:
        with path.open("rb") as handle:
            domain = gettext.GNUTranslations(handle)
        domain.add_fallback(chain)
        chain = domain
    return chain


def reload_catalogs() -> None:
    """Forget loaded catalogs (after ``pybabel compile`` in a running process)."""
    _catalog.cache_clear()


@lru_cache(maxsize=4096)
def _small_int(value: int, lang: str) -> str:
    text = format_decimal(value, locale=lang)
    return text.translate(_PERSIAN_DIGITS) if lang == "fa" else text


# Inside Translator, ``datetime`` names its method; annotations there use this alias.
Moment = datetime


class Translator:
    """Text, numbers and dates for one language and one time zone."""

    __slots__ = ("_catalog", "lang", "tz")

    def __init__(self, lang: str, tz: str | tzinfo = "UTC") -> None:
        self.lang = lang if lang in LANGUAGES else SOURCE_LANGUAGE
        self.tz: tzinfo = ZoneInfo(tz) if isinstance(tz, str) else tz
        self._catalog = _catalog(self.lang)

    @property
    def rtl(self) -> bool:
        return is_rtl(self.lang)

    # -- text ------------------------------------------------------------------------------

    def command_line(self, command: str, description: str) -> str:
        """``/command — description`` as one line of a list that reads right in RTL too.

        In a Persian or Hebrew list the line must be right-to-left although it starts with
        Latin letters, and the slash must stay before the command's name: a right-to-left
        mark opens the line and a left-to-right mark holds the slash to the name.
        """
        if self.rtl:
            return f"\u200f\u200e/{command} — {description}"
        return f"/{command} — {description}"

    def _(self, message: str, /, **values: Any) -> str:
        """Translate ``message`` and fill its ``{placeholders}``; numbers are localized."""
        return self._fill(self._catalog.gettext(message), values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: Any) -> str:
        """The plural form for ``n`` (Hebrew has a dual); ``{n}`` is filled in localized."""
        values.setdefault("n", n)
        return self._fill(self._catalog.ngettext(singular, plural, n), values)

    def _fill(self, text: str, values: dict[str, Any]) -> str:
        if not values:
            return text
        shown = {
            k: self.num(v) if isinstance(v, int | float | Decimal) and not isinstance(v, bool)
            else v
            for k, v in values.items()
        }
        return text.format(**shown)

    # -- numbers ---------------------------------------------------------------------------

    def num(self, value: int | float | Decimal, *, decimals: int | None = None) -> str:
        """A number as this language writes it (Persian digits for fa)."""
        if decimals is None and isinstance(value, int) and 0 <= value < 1000:
            return _small_int(value, self.lang)  # ballots number every line: keep it cheap
        pattern = None if decimals is None else "#,##0." + "0" * decimals if decimals else "#,##0"
        text = format_decimal(value, format=pattern, locale=self.lang)
        return self.digits(text)

    def digits(self, text: str) -> str:
        """Latin digits in ``text`` as this language writes them."""
        return text.translate(_PERSIAN_DIGITS) if self.lang == "fa" else text

    def percent(self, value: float) -> str:
        """``0.25`` → ``25%`` (``۲۵٪`` in Persian)."""
        return self.digits(f"{round(value * 100):d}%")

    # -- dates -----------------------------------------------------------------------------

    def local(self, moment: datetime) -> datetime:
        """An aware datetime in this translator's (the community's) time zone."""
        if moment.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        return moment.astimezone(self.tz)

    def date(self, moment: datetime | date) -> str:
        """A date, long form: ``۱ آذر ۱۴۰۵`` (fa), ``22 בנובמבר 2026`` (he)."""
        day = self.local(moment).date() if isinstance(moment, datetime) else moment
        if self.lang == "fa":
            jalali = jdatetime.date.fromgregorian(date=day, locale="fa_IR")
            return self.digits(f"{jalali.day} {jalali.j_months_fa[jalali.month - 1]} {jalali.year}")
        return format_date(day, format="long", locale=self.lang)

    def datetime(self, moment: datetime) -> str:
        """A date and time of day in the community's time zone, to the minute (Babel's
        medium date with its short time: nobody schedules to the second)."""
        local = self.local(moment)
        if self.lang == "fa":
            return f"{self.date(local)}، {self.time(local)}"
        pattern = str(get_datetime_format("medium", locale=self.lang)).replace("'", "")
        day = format_date(local, format="medium", locale=self.lang)
        return pattern.replace("{0}", self.time(local)).replace("{1}", day)

    def time(self, moment: Moment) -> str:
        local = self.local(moment)
        if self.lang == "fa":
            return self.digits(local.strftime("%H:%M"))
        return format_time(local, format="short", tzinfo=self.tz, locale=self.lang)
