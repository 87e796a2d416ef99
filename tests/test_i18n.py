"""Numbers, dates and user text in each language."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bot.i18n import LANGUAGES, Translator, isolate, language_name, match_language
from bot.messages import split_text

MOMENT = datetime(2026, 11, 22, 20, 30, tzinfo=UTC)


def test_the_four_languages_are_there() -> None:
    assert set(LANGUAGES) >= {"en", "fa", "he", "kk"}


def test_persian_digits() -> None:
    t = Translator("fa")
    assert t.num(1234) == "۱٬۲۳۴"
    assert t.percent(0.25) == "۲۵٪"
    members = t.ngettext("{community}: {n} member", "{community}: {n} members", 3, community="X")
    assert "۳" in members and "3" not in members


def test_solar_hijri_date_in_community_time_zone() -> None:
    # 20:30 UTC is already the next day in Tehran (+03:30).
    assert Translator("fa", "Asia/Tehran").date(MOMENT) == "۲ آذر ۱۴۰۵"
    assert Translator("fa", "UTC").date(MOMENT) == "۱ آذر ۱۴۰۵"


def test_gregorian_month_names_for_kazakh_and_hebrew() -> None:
    assert "қараша" in Translator("kk", "Asia/Almaty").date(MOMENT)
    assert "בנובמבר" in Translator("he", "Asia/Jerusalem").date(MOMENT)
    assert Translator("en").date(MOMENT) == "November 22, 2026"


def test_hebrew_has_a_dual() -> None:
    t = Translator("he")
    forms = [t.ngettext("{community}: {n} member", "{community}: {n} members", n, community="X")
             for n in (1, 2, 5)]
    assert len(set(forms)) == 3


def test_language_matching() -> None:
    assert match_language("fa-IR", "en") == "fa"
    assert match_language("kk", "en") == "kk"
    assert match_language("de", "he") == "he"
    assert match_language(None, "fa") == "fa"
    assert language_name("fa") == "فارسی"


def test_isolate_escapes_and_wraps() -> None:
    assert isolate("<b>Ali</b>") == "\u2068&lt;b&gt;Ali&lt;/b&gt;\u2069"


@given(st.text(min_size=0, max_size=20000))
def test_split_text_keeps_everything_under_the_limit(text: str) -> None:
    parts = split_text(text, 4096)
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )


def test_command_lines_read_right_to_left_in_persian_and_hebrew() -> None:
    from bot.sandbox.web import is_rtl as reads_rtl

    for lang in ("fa", "he"):
        line = Translator(lang).command_line("help", Translator(lang)._("What you can do here"))
        assert reads_rtl(line) and "\u200e/help" in line
    assert Translator("kk").command_line("help", "x") == "/help — x"
