"""Dates as people type them and as the bot shows them, in every language and calendar.

One parser (``bot.flows.typed.read``) reads every date question: ISO, Solar Hijri, a day and
a month's name (Babel's, full or abbreviated; the Solar Hijri months; with or without a
year), words for today and tomorrow from the catalogs, and a time of day. Whatever the bot
writes as a date, it reads back. Dates with a time are shown to the minute.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import jdatetime
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.flows import typed
from bot.flows import voting as voting_flow
from bot.flows.errors import Refused
from bot.i18n import Translator

TODAY = date(2026, 12, 2)  # 11 Azar 1405
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-15", date(2026, 12, 15)),
    ("2026/12/15", date(2026, 12, 15)),
    ("۱۴۰۵-۰۹-۲۴", date(2026, 12, 15)),         # Solar Hijri, Persian digits
    ("١٤٠٥/٠٩/٢٤", date(2026, 12, 15)),         # Arabic-Indic digits
    ("۱۵ دی ۱۴۰۵", date(2027, 1, 5)),           # a Solar Hijri month's name
    ("۱۵ دی", date(2027, 1, 5)),                # … without a year: the nearest
    ("۱۵ دسامبر ۲۰۲۶", date(2026, 12, 15)),     # a Gregorian month as Persians write it
    ("15 Dec", date(2026, 12, 15)),
    ("Dec 15th", date(2026, 12, 15)),
    ("December 15, 2026", date(2026, 12, 15)),
    ("15 желтоқсан", date(2026, 12, 15)),
    ("2026 ж. 15 желтоқсан", date(2026, 12, 15)),  # Kazakh's own order
    ("15 жел.", date(2026, 12, 15)),
    ("15 בדצמבר 2026", date(2026, 12, 15)),     # Hebrew writes "in December"
    ("15 דצמ׳", date(2026, 12, 15)),
    ("5 Jan", date(2027, 1, 5)),                # nearer next year than this one
    ("20 Nov", date(2026, 11, 20)),             # nearer this year
    ("today", TODAY), ("Tomorrow", TODAY + timedelta(days=1)),
    ("yesterday", TODAY - timedelta(days=1)),
    ("امروز", TODAY), ("فردا", TODAY + timedelta(days=1)),
    ("бүгін", TODAY), ("ертең", TODAY + timedelta(days=1)),
    ("היום", TODAY), ("מחר", TODAY + timedelta(days=1)),
])
def test_every_way_of_writing_a_day(text: str, expected: date) -> None:
    found = typed.read(text, TODAY)
    assert found is not None and (found.day, found.at) == (expected, None), text


@pytest.mark.parametrize(("text", "day", "at"), [
    ("2026-12-15 18:00", date(2026, 12, 15), time(18)),
    ("2026-12-15T18:30", date(2026, 12, 15), time(18, 30)),
    ("۱۴۰۵-۰۹-۲۴ ۱۸:۰۰", date(2026, 12, 15), time(18)),
    ("فردا ساعت ۱۸", TODAY + timedelta(days=1), time(18)),
    ("ертең 18:00", TODAY + timedelta(days=1), time(18)),
    ("מחר ב-18:00", TODAY + timedelta(days=1), time(18)),
    ("tomorrow at 6 pm", TODAY + timedelta(days=1), time(18)),
    ("Dec 9, 2026, 3:49 PM", date(2026, 12, 9), time(15, 49)),
])
def test_a_day_and_a_time(text: str, day: date, at: time) -> None:
    assert typed.read(text, TODAY) == typed.Typed(day, at), text


@pytest.mark.parametrize("text", [
    "", "some day", "2026-13-01", "1405-13-40", "99999999999999999999-01-01", "31 Feb",
    "15 دی 2026", "15 December 1405", "tomorrow 25:00", "15 Dec Jan", "13 pm",
])
def test_what_is_not_a_date(text: str) -> None:
    assert typed.read(text, TODAY) is None, text


def test_a_deadline_without_a_year_is_ahead() -> None:
    """"20 Nov" typed on 2 December is last month for a reading, next year for a deadline."""
    assert typed.read("20 Nov", TODAY, ahead=True) == typed.Typed(date(2027, 11, 20))
    moment = voting_flow.parse_deadline("20 Nov", "Asia/Tehran", NOW, lang="en")
    assert moment == datetime(2027, 11, 20, 16, 30, tzinfo=UTC)  # 20:00 in Tehran
    assert voting_flow.parse_deadline("فردا ساعت ۱۸", "Asia/Tehran", NOW, lang="fa") == \
        datetime(2026, 12, 3, 14, 30, tzinfo=UTC)
    with pytest.raises(Refused) as refused:
        voting_flow.parse_deadline("yesterday", "Asia/Tehran", NOW)
    assert refused.value.message == voting_flow.PASSED


@given(st.dates(date(2000, 1, 1), date(2099, 12, 31)), st.sampled_from(["fa", "kk", "he", "en"]))
def test_every_date_the_bot_writes_it_reads_back(day: date, lang: str) -> None:
    t = Translator(lang, "UTC")
    for written in (t.date(day), typed.day_example(t, day)):
        assert typed.read(written, day) == typed.Typed(day), written
    moment = datetime.combine(day, time(15, 49), tzinfo=UTC)
    assert typed.read(t.datetime(moment), day) == typed.Typed(day, time(15, 49))


def test_hints_and_examples_are_today_in_the_readers_calendar() -> None:
    fa, he = Translator("fa", "Asia/Tehran"), Translator("he", "Asia/Jerusalem")
    solar = jdatetime.date.fromgregorian(date=TODAY)
    assert typed.day_example(fa, TODAY) == fa.digits(f"{solar.year}-{solar.month:02d}-"
                                                     f"{solar.day:02d}") == "۱۴۰۵-۰۹-۱۱"
    assert typed.day_example(he, TODAY) == "2026-12-02"
    with pytest.raises(Refused) as refused:
        typed.to_day("some day", "fa", "Asia/Tehran", now=NOW)
    assert fa._(refused.value.message, **refused.value.values) == fa._(
        typed.DAY_HINT, example="۱۴۰۵-۰۹-۱۱", named="۱۱ آذر ۱۴۰۵", today="امروز")
    with pytest.raises(Refused) as refused:
        typed.to_moment("some day", "Asia/Jerusalem", "he", now=NOW)
    assert refused.value.values == {"example": "2026-12-09 18:00", "words": "מחר 18:00"}
    with pytest.raises(Refused):
        typed.to_day("tomorrow 18:00", "en", "UTC", now=NOW)  # a day was asked, not a time


def test_a_date_and_time_is_shown_to_the_minute_in_every_language() -> None:
    moment = datetime(2026, 12, 9, 12, 19, 14, tzinfo=UTC)  # 15:49:14 in Tehran
    shown = {lang: Translator(lang, "Asia/Tehran").datetime(moment)
             for lang in ("en", "kk", "he", "fa")}
    assert shown["en"] == "December 9, 2026, 3:49\u202fPM"  # CLDR: a narrow space before PM
    assert shown["kk"] == "2026\u202fж. 9 желтоқсан, 15:49"
    assert shown["he"] == "9 בדצמבר 2026, 15:49"
    assert shown["fa"] == "۱۸ آذر ۱۴۰۵، ۱۵:۴۹"
    assert not any(":14" in text or "۱۴" in text.split("،")[-1] for text in shown.values())
