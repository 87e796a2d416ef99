"""Issue 16: typed text is cleaned in one place (``bot.flows.typed.clean``) and what
cannot be cleaned is refused before any handler sees it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.flows import typed
from bot.flows.errors import Refused
from storage import brainstorm as brainstorm_store
from tests.harness import Harness, step, tr


def test_clean_strips_controls_bidi_overrides_and_surrounding_space() -> None:
    assert typed.clean("  \x00Pot\x07holes\x1b \r\n on Main\u202e St\x85 ") == \
        "Potholes \n on Main St"
    assert typed.clean("a\tb\nc") == "a\tb\nc"  # tab and newline are typed
    assert typed.clean("\u2067نام\u2069 \u202bx\u202c") == "نام x"  # isolates, embeddings
    # Persian needs ZWNJ; Hebrew and Persian use the directional marks; emoji use ZWJ.
    assert typed.clean("می\u200cخواهم \u200fשלום\u200e 👩\u200d🔧") == \
        "می\u200cخواهم \u200fשלום\u200e 👩\u200d🔧"
    assert typed.clean("\x9b\x80\x9f") == ""  # C1 controls
    assert typed.has_controls("\x00abc") and typed.has_controls("a\x7fb")
    assert not typed.has_controls("line one\r\nline two\tend")


def test_required_refuses_text_that_is_nothing_once_cleaned() -> None:
    with pytest.raises(Refused) as refused:
        typed.required(" \u202e\x00 \u2066")
    assert refused.value.message == typed.NOTHING_LEFT
    assert typed.required(" ok\x00 ") == "ok"


def test_lengths_are_counted_after_cleaning() -> None:
    assert typed.words("x" * 10 + "\x00" * 50, 10) == "x" * 10
    with pytest.raises(Refused):
        typed.words("\u202e\u202d\x00", 10)
    assert typed.lines("one\x00\r\ntwo\u202e\r\n\x00", 10) == ["one", "two"]


@given(st.text())
def test_cleaned_text_holds_no_control_or_override_and_cleaning_again_changes_nothing(
        text: str) -> None:
    cleaned = typed.clean(text)
    assert typed.clean(cleaned) == cleaned
    assert not typed.has_controls(cleaned)
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069
                   or c == "\r" for c in cleaned)
    assert cleaned == cleaned.strip()


async def test_nul_in_a_brainstorm_problem_is_refused_not_a_database_error(
        harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "fa")
    await step(harness, cora, "/brainstorm What makes life hard here?", send=True)
    await step(harness, resident, "/problem", send=True)
    await step(harness, resident, "\x00Potholes", send=True)
    assert resident.texts()[-1] == tr(resident, typed.CONTROL_CHARACTERS)
    await step(harness, resident, "\u202e \u2066", send=True)
    assert resident.texts()[-1] == tr(resident, typed.NOTHING_LEFT)
    round_ = await brainstorm_store.latest_round(harness.db, invitation.community.id)
    assert round_ is not None and await brainstorm_store.cards(harness.db, round_.id) == []
    await step(harness, resident, "Potholes on Main Street", send=True)  # still asked
    assert len(await brainstorm_store.cards(harness.db, round_.id)) == 1
