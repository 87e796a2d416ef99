"""Languages: gettext catalogs, localized numbers and dates, and bidi-safe user text.

Every user-facing string goes through a :class:`Translator` bound to one person's language
and their community's time zone. Catalogs live in ``locales/<lang>/LC_MESSAGES/<domain>.po``
(one domain per capability, so capabilities never edit each other's files). A new language
needs only its ``.po`` files: the list of languages is read from the ``locales`` folder.

Each text is translated in its own domain: the one whose ``locales/<domain>.cfg`` names the
source file that wrote it — the file calling ``t._("…")``, or the file where ``N_("…")``
marked a constant (a :class:`Msgid` carries that domain with it, so a flow's refusal
translated by the handler layer, or a label translated by the dashboard, still finds its
own translation). The same English word may be translated differently in two domains ("Accept" a
nomination, "Accept" a proposed cause); one never borrows another's.

Babel formats numbers with Latin digits and dates in the Gregorian calendar for every
locale, so Persian gets two additions here: Persian digits (۰–۹) and Solar Hijri dates via
jdatetime.
"""

from __future__ import annotations

import gettext
import html
import logging
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime
from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from babel.util import pathmatch

ROOT = Path(__file__).resolve().parent.parent
LOCALES_DIR = ROOT / "locales"
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
_LRM, _RLM = "\u200e", "\u200f"

# Tests set this: a text missing from its own domain raises instead of falling back.
STRICT = False
log = logging.getLogger(__name__)


# -- which domain a text belongs to --------------------------------------------------------


@cache
def _patterns() -> tuple[tuple[str, str], ...]:
    """(source pattern, domain) from every ``locales/<domain>.cfg`` — what extraction uses."""
    found = []
    for cfg in sorted(LOCALES_DIR.glob("*.cfg")):
        for line in cfg.read_text(encoding="utf-8").splitlines():
            match = re.fullmatch(r"\s*\[python:\s*(\S+)\s*\]\s*", line)
            if match:
                found.append((match.group(1), cfg.stem))
    return tuple(found)


@lru_cache(maxsize=1024)
def domain_of(filename: str) -> str | None:
    """The domain whose catalogs hold the texts written in ``filename`` (None: no domain).

    The patterns of ``locales/<domain>.cfg``; where two domains' patterns match, the one
    that names the file outright wins (``bot/delivery.py`` is broadcast's, though mahfil
    takes ``bot/*.py``). ``scripts/i18n.py`` extracts by this same rule, so a text is looked
    up in exactly the catalog it was extracted into.
    """
    try:
        relative = Path(os.path.relpath(filename, ROOT)).as_posix()
    except ValueError:  # another drive
        return None
    matches = [(pattern, domain) for pattern, domain in _patterns()
               if pathmatch(pattern, relative)]
    domains = {domain for _pattern, domain in matches}
    if len(domains) > 1:  # a file named outright wins over a wildcard (bot/*.py)
        named = {domain for pattern, domain in matches if not set(pattern) & set("*?[")}
        if len(named) != 1:
            raise RuntimeError(f"{relative} is mapped to several domains: {sorted(domains)}")
        domains = named
    return domains.pop() if domains else None


class Msgid(str):
    """A msgid marked with :func:`N_`: the text, and the domain of the module that marked it."""

    __slots__ = ("domain",)
    domain: str | None


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (module-level constants).

    It remembers its module's domain, so wherever it is translated later (a refusal in the
    handler layer, a label on the dashboard) it is translated as its own module wrote it.
    """
    marked = Msgid(message)
    marked.domain = domain_of(sys._getframe(1).f_code.co_filename)
    return marked


def isolate(text: str) -> str:
    """User-written text made safe to place inside a sentence of ours.

    HTML-escaped (all bot messages use HTML parse mode) and wrapped in First Strong Isolate
    … Pop Directional Isolate, so a Latin name or a number inside a Persian or Hebrew line
    keeps its own direction and does not scramble the words around it.
    """
    return f"{_FSI}{html.escape(text, quote=False)}{_PDI}"


# A /command where a word starts (not in a URL, a date or a closing HTML tag), with any
# direction marks a translator already put before it.
_COMMAND = re.compile(r"(?<![\w/.:<@\u200e\u200f])[\u200e\u200f]*(/[a-z][a-z0-9_]*)")


def bidi_commands(text: str) -> str:
    """``/commands`` in a right-to-left text made to read ``/cancel``, not ``cancel/``.

    A slash is neutral: between a Persian or Hebrew word and a Latin name it takes the
    sentence's direction and lands on the far side of the name. A right-to-left mark keeps
    the sentence (or a line that starts with the command) right to left; a left-to-right
    mark holds the slash to the name. Every catalog of a right-to-left language goes through
    this once when it is loaded, and :meth:`Translator.command_line` uses it too.
    """
    return _COMMAND.sub(lambda m: f"{_RLM}{_LRM}{m.group(1)}", text)


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


# -- catalogs ------------------------------------------------------------------------------

Texts = dict[Any, str]  # msgid or (msgid, plural index) -> translation


@dataclass(frozen=True, slots=True)
class Catalogs:
    """One language's compiled domains, each its own lookup table."""

    domains: dict[str, Texts]
    plural: Callable[[int], int]
    # A text's translation where every domain that has it agrees; None where they differ.
    agreed: dict[Any, str | None]


_NOTHING: Texts = {}
_WARNED: set[tuple[str, str | None, Any]] = set()


def _english_plural(n: int) -> int:
    return 0 if n == 1 else 1


@cache
def catalogs(lang: str) -> Catalogs:
    """The compiled domains of ``lang`` (``/commands`` made bidi-safe for RTL languages)."""
    folder = LOCALES_DIR / lang / "LC_MESSAGES"
    compiled = sorted(folder.glob("*.mo"))
    if lang != SOURCE_LANGUAGE and not compiled:
        raise RuntimeError(
            f"no compiled catalogs in {folder}; run `make i18n` (pybabel compile) first"
        )
    rtl = is_rtl(lang)
    domains: dict[str, Texts] = {}
    plural: Callable[[int], int] = _english_plural
    for path in compiled:
        with path.open("rb") as handle:
            translations = gettext.GNUTranslations(handle)
        texts: Texts = {k: v for k, v in translations._catalog.items() if k != ""}  # type: ignore[attr-defined]
        if rtl:
            texts = {k: bidi_commands(v) for k, v in texts.items()}
        domains[path.stem] = texts
        plural = translations.plural  # type: ignore[attr-defined]
    agreed: dict[Any, str | None] = {}
    for texts in domains.values():
        for key, text in texts.items():
            agreed[key] = text if agreed.get(key, text) == text else None
    return Catalogs(domains, plural, agreed)


def reload_catalogs() -> None:
    """Forget loaded catalogs (after ``pybabel compile`` in a running process)."""
    catalogs.cache_clear()


class TextMissing(LookupError):
    """A text is not in its own domain's catalog (or, asked from outside every domain, the
    domains translate it differently)."""


@lru_cache(maxsize=4096)
def _small_int(value: int, lang: str) -> str:
    text = format_decimal(value, locale=lang)
    return text.translate(_PERSIAN_DIGITS) if lang == "fa" else text


# Inside Translator, ``datetime`` names its method; annotations there use this alias.
Moment = datetime


class Translator:
    """Text, numbers and dates for one language and one time zone."""

    __slots__ = ("_catalogs", "lang", "tz")

    def __init__(self, lang: str, tz: str | tzinfo = "UTC") -> None:
        self.lang = lang if lang in LANGUAGES else SOURCE_LANGUAGE
        self.tz: tzinfo = ZoneInfo(tz) if isinstance(tz, str) else tz
        self._catalogs = catalogs(self.lang)

    @property
    def rtl(self) -> bool:
        return is_rtl(self.lang)

    # -- text ------------------------------------------------------------------------------

    def command_line(self, command: str, description: str) -> str:
        """``/command — description`` as one line of a list that reads right in RTL too
        (:func:`bidi_commands`: the line stays right to left although it starts with Latin
        letters, and the slash stays before the command's name)."""
        line = f"/{command} — {description}"
        return bidi_commands(line) if self.rtl else line

    def _(self, message: str, /, **values: Any) -> str:
        """Translate ``message`` in its domain and fill its ``{placeholders}``; numbers are
        localized. The domain is the one :func:`N_` gave ``message``, else the caller's."""
        # Inlined (every ballot line and sticker answer comes through here); domain_of is
        # cached, so the caller's domain costs one lookup.
        domain = (message.domain if type(message) is Msgid
                  else domain_of(sys._getframe(1).f_code.co_filename))
        found = self._catalogs.domains.get(domain or "", _NOTHING).get(message)
        if found is None:
            found = self._missing(domain, message, message)
        return self._fill(found, values) if values else found

    def dgettext(self, domain: str, message: str, /, **values: Any) -> str:
        """``message`` as ``domain`` translates it (for code outside every domain, e.g. the
        sandbox or a test, that names a text some domains translate differently)."""
        return self._fill(self._lookup(domain, message, message), values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: Any) -> str:
        """The plural form for ``n`` (Hebrew has a dual); ``{n}`` is filled in localized."""
        domain = (singular.domain if type(singular) is Msgid
                  else domain_of(sys._getframe(1).f_code.co_filename))
        return self.dngettext(domain, singular, plural, n, **values)

    def dngettext(self, domain: str | None, singular: str, plural: str, n: int, /,
                  **values: Any) -> str:
        values.setdefault("n", n)
        english = singular if n == 1 else plural
        return self._fill(self._lookup(domain, (singular, self._catalogs.plural(n)), english),
                          values)

    def _lookup(self, domain: str | None, key: Any, english: str) -> str:
        found = self._catalogs.domains.get(domain or "", _NOTHING).get(key)
        return found if found is not None else self._missing(domain, key, english)

    def _missing(self, domain: str | None, key: Any, english: str) -> str:
        """A text its domain lacks: an error in tests; in service, a warning and the one
        translation the other domains agree on (never one of several), else English."""
        agreed = self._catalogs.agreed.get(key)
        if domain is None and agreed is not None:
            return agreed  # code outside every domain, a text all domains translate alike
        msgid = key[0] if isinstance(key, tuple) else key
        if domain is None and key in self._catalogs.agreed:
            problem = f"{msgid!r} is translated differently in several domains: use dgettext"
        elif domain is None:
            problem = f"{msgid!r} is in no catalog"
        else:
            problem = f"{msgid!r} is not in the {domain!r} catalog"
        if STRICT:
            raise TextMissing(f"{self.lang}: {problem}")
        if self._catalogs.domains and (self.lang, domain, key) not in _WARNED:
            _WARNED.add((self.lang, domain, key))  # once, not on every message
            log.warning("%s: %s", self.lang, problem)
        return english if domain is None or agreed is None else agreed

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

    def datetime(self, moment: Moment) -> str:
        """A date and the time of day to the minute, in the community's time zone:
        ``۱ آذر ۱۴۰۵، ۲۳:۰۰`` (fa), ``22 בנובמבר 2026, 20:30`` (he), ``November 22, 2026,
        8:30 PM`` (en) — the long date and the short time, joined as the locale joins them."""
        local = self.local(moment)
        if self.lang == "fa":
            return f"{self.date(local)}، {self.time(local)}"
        return _joined(self.lang).format(self.time(local), self.date(local))

    def time(self, moment: Moment) -> str:
        """The time of day of ``moment`` (community time zone), to the minute."""
        local = self.local(moment)
        return self.clock(local.hour, local.minute)

    def clock(self, hour: int, minute: int = 0) -> str:
        """A time of day as this language writes it: ``۲۲:۰۰`` (fa), ``22:00`` (kk, he),
        ``10:00 PM`` (en) — for quiet hours, a digest's hour and every other time shown."""
        if self.lang == "fa":
            return self.digits(f"{hour:02d}:{minute:02d}")
        return _clock(hour, minute, self.lang)


@cache
def _joined(lang: str) -> str:
    """How ``lang`` joins a date ({1}) and a time ({0}): ``{1}, {0}``."""
    return str(Locale.parse(lang).datetime_formats["medium"])


@lru_cache(maxsize=1024)
def _clock(hour: int, minute: int, lang: str) -> str:
    return format_time(time(hour, minute), format="short", locale=lang)
