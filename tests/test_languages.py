"""What native readers of Persian, Kazakh and Hebrew check: each text in its own domain, one
word per idea (``locales/GLOSSARY.md``), the register, commands and times in right-to-left
sentences."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.pofile import read_po

from bot import i18n
from bot.i18n import Msgid, TextMissing, Translator, catalogs, domain_of
from tests.harness import Harness, step

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import i18n as tool  # noqa: E402

RLM_LRM = "\u200f\u200e"
COMMAND = re.compile(r"(?<![\w/.:<@\u200e\u200f])/[a-z][a-z0-9_]*")


def _msgstrs(lang: str) -> list[tuple[str, str, str]]:
    """(domain, msgid, msgstr) for every translation in ``lang``'s catalogs."""
    found = []
    for path in sorted((ROOT / "locales" / lang / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle):
                if not message.id:
                    continue
                msgid = message.id if isinstance(message.id, str) else message.id[0]
                strings = message.string if isinstance(message.string, tuple | list) else (
                    message.string,)
                found += [(path.stem, msgid, s) for s in strings]
    return found


def _translated_differently() -> dict[str, set[str]]:
    """msgid -> the domains that have it, where two domains translate it differently."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for lang in ("fa", "kk", "he"):
        for domain, msgid, text in _msgstrs(lang):
            seen.setdefault((lang, msgid), {})[domain] = text
    clashes: dict[str, set[str]] = {}
    for (_lang, msgid), by_domain in seen.items():
        if len(set(by_domain.values())) > 1:
            clashes.setdefault(msgid, set()).update(by_domain)
    return clashes


def _compiled(code: str, filename: str, **names: Any) -> Any:
    """Evaluate ``code`` as if it stood in ``filename`` (so it belongs to that file's domain)."""
    return eval(compile(code, str(ROOT / filename), "eval"),
                {"N_": i18n.N_, **names})


# -- each text in its own domain -----------------------------------------------------------


def test_every_source_file_belongs_to_at_most_one_domain() -> None:
    for path in sorted((ROOT / "bot").rglob("*.py")):
        domain_of(str(path))  # raises when two locales/<domain>.cfg claim the file


@pytest.mark.parametrize("domain", tool.domains())
def test_lookup_uses_the_domain_extraction_put_each_text_in(domain: str) -> None:
    """The runtime reads the same ``locales/<domain>.cfg`` patterns Babel extracts with, so a
    text written in a file is looked up in exactly the catalog it was extracted into."""
    for message in tool.template(domain):
        for filename, _line in message.locations:
            assert domain_of(str(ROOT / filename)) == domain, (filename, message.id)


def test_texts_translated_differently_in_two_domains_are_told_apart() -> None:
    """Where two domains translate one English text differently, every place that uses it
    resolves to one domain — and code outside every domain cannot get either by chance."""
    clashes = _translated_differently()
    assert {"Accept", "Decline"} <= set(clashes)  # the committee's buttons and the plan's
    used: dict[str, set[str]] = {}
    for domain in tool.domains():
        for message in tool.template(domain):
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            for filename, _line in message.locations:
                used.setdefault(msgid, set()).add(domain_of(str(ROOT / filename)) or "?")
    for msgid, domains in clashes.items():
        assert used[msgid] <= domains, (msgid, used[msgid])
        for lang in ("fa", "kk", "he"):
            t = Translator(lang)
            if len({t.dgettext(d, msgid) for d in domains}) > 1:
                with pytest.raises(TextMissing):
                    t._(msgid)  # from this test: no domain, and the domains disagree


def test_the_committee_and_the_plan_keep_their_own_accept_and_decline() -> None:
    from bot.handlers.committee import _invitation
    from bot.handlers.plan import _proposals_view

    for lang, committee, plan in (("fa", ["می‌پذیرم", "نمی‌پذیرم"], "پذیرفتن"),
                                  ("he", ["אישור המועמדות", "דחיית המועמדות"], "אישור ההצעה")):
        t = Translator(lang)
        _text, markup = _invitation(t, SimpleNamespace(name="Green"), 7, None)  # type: ignore[arg-type]
        assert markup is not None
        assert [b.text for b in markup.inline_keyboard[0]] == committee
        item = SimpleNamespace(id=3, kind="cause", text="Dark street")
        _text, markup = _proposals_view(t, SimpleNamespace(  # type: ignore[arg-type]
            plan=SimpleNamespace(id=1), items=[item]))
        assert markup is not None and markup.inline_keyboard[0][0].text == plan


def test_a_refusal_is_translated_in_the_domain_that_raised_it() -> None:
    """A flow's ``Refused`` is rendered by the handler layer (``_common``, domain mahfil):
    the msgid carries the flow's domain, so the flow's own translation is shown."""
    saved = _compiled('N_("Saved.")', "bot/flows/voting.py")
    assert isinstance(saved, Msgid) and saved.domain == "voting"
    fa = Translator("fa")
    shown = _compiled("t._(message)", "bot/handlers/_common.py", t=fa, message=saved)
    assert shown == fa.dgettext("voting", "Saved.") != fa.dgettext("broadcast", "Saved.")
    # Written plainly in the handler layer instead, it is that module's text.
    assert _compiled('t._("Please choose with the buttons.")', "bot/handlers/_forms.py",
                     t=fa) == fa.dgettext("mahfil", "Please choose with the buttons.")


def test_in_service_a_text_never_borrows_another_domains_translation(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(i18n, "STRICT", False)
    fa = Translator("fa")
    assert fa._("Accept") == "Accept"  # outside every domain, domains disagree: English
    assert "several domains" in caplog.text
    # Missing from its own domain: the translation every other domain agrees on.
    assert fa.dgettext("survey", "Follow") == fa.dgettext("plan", "Follow") != "Follow"
    monkeypatch.setattr(i18n, "STRICT", True)
    with pytest.raises(TextMissing, match="not in the 'survey' catalog"):
        fa.dgettext("survey", "Follow")


# -- one word per idea ---------------------------------------------------------------------


def _glossary() -> dict[str, dict[str, list[str]]]:
    """term -> language -> the words the glossary rules out."""
    table: dict[str, dict[str, list[str]]] = {}
    header: list[str] = []
    for line in (ROOT / "locales" / "GLOSSARY.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not header:
            header = cells
            continue
        row = dict(zip(header, cells, strict=True))
        table[row["en"]] = {
            lang: [w.strip() for w in m.group(1).split(",")] if (
                m := re.search(r"\(not: ([^)]*)\)", row[lang])) else []
            for lang in ("fa", "kk", "he")}
    return table


def _rules_out(word: str) -> re.Pattern[str]:
    """A whole word, or a word's start for ``stem…``; ignoring case unless written with a
    capital (the Kazakh button «Тастау», not «алып тастау»)."""
    flags = 0 if word[:1].isupper() else re.IGNORECASE
    body = re.escape(word.rstrip("…"))
    return re.compile(rf"(?<!\w){body}" + ("" if word.endswith("…") else r"(?!\w)"), flags)


def test_the_glossary_names_every_term_the_issue_asks_for() -> None:
    assert {"problem", "survey", "task", "committee", "working group", "stakeholder group",
            "nomination", "baseline", "target (of an indicator)", "button", "bot",
            "discard (a draft)"} <= set(_glossary())


@pytest.mark.parametrize("lang", ["fa", "kk", "he"])
def test_catalogs_follow_the_glossary(lang: str) -> None:
    texts = _msgstrs(lang)
    problems = [f"{term}: {word!r} in {domain} {msgid!r}"
                for term, by_lang in _glossary().items() for word in by_lang[lang]
                for domain, msgid, text in texts if _rules_out(word).search(text)]
    assert not problems, "\n".join(problems)


# -- register ------------------------------------------------------------------------------


def test_persian_buttons_do_not_order_the_bot_about() -> None:
    """شما throughout: no singular imperative («…ثبت کن», «…بفرست») anywhere."""
    singular = re.compile(r"(?<!\w)(?:کن|بفرست|بزن|بگذار|بنویس|بده|ببین)(?!\w)")
    assert not [t for _d, _m, t in _msgstrs("fa") if singular.search(t)]


def test_kazakh_is_polite_and_gives_no_placeholder_a_case_ending() -> None:
    texts = [t for _d, _m, t in _msgstrs("kk")]
    assert not [t for t in texts if "ғой" in t]
    # "{when} дейін", "{n}-ге", "{members} мүшенің {n}-і": the code cannot pick the ending.
    # An ordinal ("{n}-сұрақ", "{line}-жол") takes the noun's suffix, not the number's.
    ordinal = r"(?:сұрақ|жол|бет|мәселе|жұп)"
    case = re.compile(rf"\}}-(?!{ordinal})|\}}\s+(?:дейін|бастап|кейін|алдында)\b")
    assert not [t for t in texts if case.search(t)]


def test_hebrew_addresses_nobody_with_slashes_or_glued_prefixes() -> None:
    texts = [t for _d, _m, t in _msgstrs("he")]
    slashed = re.compile(r"[\u05d0-\u05ea]/[\u05d0-\u05ea]")
    assert not [t for t in texts if slashed.search(t) and not re.search(r"\{(name|person|by)\}", t)]
    # A prefix letter glued to a name, title or date; before a number a maqaf is right.
    glued = re.compile(r"(?<![\u05d0-\u05ea])[בלמהוכש]\u05be?(?:<b>|„|\")?\{(?!n\}|limit\}|count\}|"
                       r"votes\}|start\}|end\})[a-z_]+\}")
    assert not [t for t in texts if glued.search(t)]
    assert not [t for t in texts if re.search(r"[\u05d0-\u05ea]'", t)]  # a geresh, not '
    singular = re.compile(r"(?<![\u05d0-\u05ea])(?:שלך|לך|אותך|עצמך|הצבעת|שלחת|הוספת|בחרת)"
                          r"(?![\u05d0-\u05ea])")
    nouns = re.compile(r"(?:הצבעת|הוספת)\s+[\u05d0-\u05ea]")  # "הצבעת עדיפויות": a noun
    assert not [t for t in texts if singular.search(nouns.sub("", t))]


# -- commands and times in right-to-left sentences -----------------------------------------


@pytest.mark.parametrize("lang", ["fa", "he"])
def test_every_command_in_a_right_to_left_catalog_keeps_its_slash_before_the_name(
        lang: str) -> None:
    """A ``/command`` in a Persian or Hebrew sentence reads ``cancel/`` unless marks hold it:
    every one, in every text as the bot loads it, gets the marks ``command_line`` uses."""
    raw = [t for _d, _m, t in _msgstrs(lang)]
    assert sum(len(COMMAND.findall(t)) for t in raw) > 30  # there is something to check
    assert not [t for t in raw if re.search(r"[\u200e\u200f]/[a-z]", t)], \
        "write /commands plainly in the catalog; bidi_commands adds the marks"
    loaded = catalogs(lang)
    unwrapped = [text for texts in loaded.domains.values() for text in texts.values()
                 for m in re.finditer(r"(?<![\w/.:<@])/[a-z][a-z0-9_]*", text.replace(
                     RLM_LRM + "/", "\x00"))]
    assert not unwrapped, unwrapped[:3]
    line = Translator(lang).command_line("help", "x")
    assert line.startswith(RLM_LRM + "/help")
    assert Translator("kk").command_line("help", "x") == "/help — x"
    assert "\u200e" not in "".join(catalogs("kk").domains["mahfil"].values())


async def test_an_unknown_command_in_persian_points_to_help_the_right_way_round(
        harness: Harness) -> None:
    invitation = await harness.new_community()
    maryam = await harness.resident(invitation, "fa")
    await step(harness, maryam, "/nonsense", send=True)
    assert RLM_LRM + "/help" in maryam.texts()[-1]


def test_times_of_day_to_the_minute_in_each_language() -> None:
    moment = datetime(2026, 11, 22, 18, 30, 45, tzinfo=UTC)
    assert Translator("fa").clock(22) == "۲۲:۰۰"
    assert Translator("fa", "UTC").time(moment) == "۱۸:۳۰"
    assert Translator("fa", "UTC").datetime(moment) == "۱ آذر ۱۴۰۵، ۱۸:۳۰"
    assert Translator("kk", "UTC").datetime(moment).replace("\u202f", " ") == \
        "2026 ж. 22 қараша, 18:30"
    assert Translator("he", "UTC").datetime(moment) == "22 בנובמבר 2026, 18:30"
    assert Translator("en", "UTC").datetime(moment).replace("\u202f", " ") == \
        "November 22, 2026, 6:30 PM"
    for lang in ("fa", "kk", "he", "en"):
        assert not re.search(r"\d:\d\d:\d\d|[۰-۹]:[۰-۹]{2}:", Translator(lang).datetime(moment))


def test_a_digest_card_in_persian_shows_its_hour_in_persian_digits() -> None:
    from bot.handlers.digest import _card

    setting = SimpleNamespace(
        committee=SimpleNamespace(id=4, name="Green", chat_id=-100), to_group_chat=True,
        digest=SimpleNamespace(hour=18, frequency="daily", weekday=0, to_chat=True))
    text, markup = _card(Translator("fa"), setting)  # type: ignore[arg-type]
    assert "هر روز ساعت ۱۸:۰۰" in text and not re.search(r"[0-9]", text)
    assert markup is not None
    labels = [b.text for row in markup.inline_keyboard for b in row]
    assert "‹ ۱۷:۰۰" in labels and "۱۹:۰۰ ›" in labels


async def test_quiet_hours_in_persian_are_persian_digits_to_the_minute(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "fa")
    await step(harness, cora, "/quiethours 22 7", send=True)
    await step(harness, cora, "/quiethours", send=True)
    shown = cora.texts()[-2]
    assert "از ۲۲:۰۰ تا ۰۷:۰۰" in shown and not re.search(r"[0-9]", shown)
