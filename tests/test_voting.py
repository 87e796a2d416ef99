"""Prioritisation end to end: stickers, pairwise and matrix through the emulator.

Coordinators open votes in chat; residents in several languages vote with buttons; results,
charts, paper stickers, closing (by hand and on time, also after a restart) and bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.callbacks import MAX_ID, STALE, Button
from bot.emulator import Person
from bot.flows import schedule
from bot.flows import voting as flow
from bot.flows.errors import Refused
from bot.flows.people import JOIN_FIRST, ONLY_COORDINATORS
from bot.flows.voting_book import CLOSED, NOT_AVAILABLE, NOT_IN_VOTE, StickerBook
from bot.handlers.voting import Ballot, Close, Pair, Rate, Results, Sticker
from bot.i18n import Translator, isolate
from storage import community as community_store
from storage import voting as store
from tests.harness import Harness, Invitation, press, tr

PROBLEMS = ["Street lights are broken", "Rubbish is not collected", "No playground",
            "Traffic near the school"]


async def open_vote(harness: Harness, coordinator: Person, *, method: str = "Stickers",
                    problems: list[str] = PROBLEMS, stickers: int = 3, stacking: bool = False,
                    close: str = "When I close it", title: str = "Our street") -> int:
    t = Translator(coordinator.language_code or "en")
    await coordinator.send("/prioritise")
    await harness.settle()
    await coordinator.send(title)
    await harness.settle()
    await coordinator.tap(t._(method))
    await harness.settle()
    await coordinator.send("\n".join(problems))
    await harness.settle()
    if method == "Stickers":
        await coordinator.tap(lambda label: label.startswith(t.num(stickers)))
        await harness.settle()
        await coordinator.tap(t._("Yes") if stacking else t._("No, one per problem"))
        await harness.settle()
    if close.startswith("20"):
        await coordinator.send(close)
    else:
        await coordinator.tap(t._(close) if close == "When I close it" else close)
    await harness.settle()
    await coordinator.tap(t._("Open the vote"))
    await harness.settle()
    row = await harness.db.fetchone("SELECT MAX(id) AS id FROM prioritisations")
    assert row is not None and row["id"] is not None, coordinator.texts()[-3:]
    return int(row["id"])


async def is_open(harness: Harness, pid: int) -> bool:
    vote = await store.get(harness.db, pid)
    assert vote is not None
    return vote.is_open


async def ballot(harness: Harness, person: Person) -> None:
    t = Translator(person.language_code or "en")
    await person.tap(t._("Vote now"))
    await harness.settle()


def problem_button(person: Person, position: int) -> object:
    t = Translator(person.language_code or "en")
    return lambda label: f" {t.num(position)}. " in label


async def community_with_people(harness: Harness) -> tuple[Invitation, Person, list[Person]]:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    residents = [
        await harness.resident(invitation, "fa", group="vulnerable"),
        await harness.resident(invitation, "he", group="business"),
        await harness.resident(invitation, "kk", group="activist"),
        await harness.resident(invitation, "en", group="activist"),
    ]
    return invitation, coordinator, residents


async def test_sticker_vote_end_to_end(harness: Harness) -> None:
    _inv, coordinator, residents = await community_with_people(harness)
    pid = await open_vote(harness, coordinator)
    fa, he, kk, en = residents
    # Everyone was told where to vote, in their own language.
    for person in residents:
        t = Translator(person.language_code or "en")
        assert t._("Vote now") in person.buttons(), person.texts()[-2:]

    await ballot(harness, fa)
    assert "○○○" in fa.last["text"]
    for position in (1, 2, 3):
        await fa.tap(problem_button(fa, position))
        await harness.settle()
    assert "●●●" in fa.last["text"]
    # A fourth sticker is refused with a localized message; nothing changes.
    await fa.tap(problem_button(fa, 4))
    await harness.settle()
    assert fa.last_answer == Translator("fa")._(
        "All your stickers are placed. Tap a problem with your sticker to take it back.")
    # Tapping a problem again takes the sticker back.
    await fa.tap(problem_button(fa, 3))
    await harness.settle()
    await fa.tap(problem_button(fa, 1))  # 1 already has one: taken back too
    await harness.settle()
    assert await store.my_stickers(harness.db, pid, fa.id) == {
        (await store.problems(harness.db, pid))[1].id: 1
    }
    for person, positions in ((he, (1, 2)), (kk, (1, 4, 2)), (en, (1,))):
        await ballot(harness, person)
        for position in positions:
            await person.tap(problem_button(person, position))
            await harness.settle()

    # Coordinators see standings; residents see results only after closing.
    await en.send("/results")
    await harness.settle()
    assert en.last["text"] == Translator("en")._(
        "No results yet: votes show results when they close.")
    await coordinator.send("/closevote")
    await harness.settle()
    await coordinator.tap("Our street")
    await harness.settle()
    await coordinator.tap("Yes, close it")  # closing is confirmed first
    await harness.settle()
    await coordinator.tap("Send the result now")  # rather than after the window to reopen
    await harness.settle()

    # Problem 2 has 3 stickers (fa, he, kk); problem 1 has 3 (he, kk, en)... tie.
    results = [m for m in en.messages if "Results: " in (m.get("text") or "")][-1]["text"]
    assert "Tie for first place: ⁨Street lights are broken⁩, ⁨Rubbish is not collected⁩" \
        " have the same score." in results
    assert "1. ⁨Street lights are broken⁩\n    ██████████ 3 stickers" in results
    assert "1. ⁨Rubbish is not collected⁩\n    ██████████ 3 stickers" in results
    assert "Participation by group (voters / members):" in results
    assert any("photo" in m for m in en.messages)  # the chart
    fa_results = [m for m in fa.messages if "photo" not in m][-1]["text"]
    fa_t = Translator("fa")
    assert fa_t.ngettext("{n} sticker", "{n} stickers", 3) in fa_results  # Persian digits
    assert fa_t.ngettext("{n} sticker", "{n} stickers", 3) == "۳ برچسب"
    # After closing, taps change nothing and are answered.
    await kk.tap(problem_button(kk, 3))
    await harness.settle()
    assert kk.last_answer == Translator("kk")._(
        "This vote has closed; changes are no longer possible.")
    assert len(await store.sticker_rows(harness.db, pid)) == 7


async def test_many_problems_page_and_long_titles(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "he")
    resident = await harness.resident(invitation, "fa")
    problems = [f"Problem number {i} " + "with a long description " * 2 for i in range(1, 36)]
    pid = await open_vote(harness, coordinator, problems=problems, stickers=2)
    await ballot(harness, resident)
    assert len(resident.buttons()) == 8 + 2  # a page of problems, then the pager
    await resident.tap(Translator("fa")._("Next ›"))
    await harness.settle()
    await resident.tap(problem_button(resident, 9))
    await harness.settle()
    assert "●" in resident.last["text"]
    placed = await store.my_stickers(harness.db, pid, resident.id)
    assert list(placed.values()) == [1]
    assert all(len(b) <= 60 for b in resident.buttons())


async def test_stacking_allows_several_on_one_problem(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "kk")
    pid = await open_vote(harness, coordinator, stacking=True)
    await ballot(harness, resident)
    for _ in range(3):
        await resident.tap(problem_button(resident, 2))
        await harness.settle()
    assert "●●●" in resident.last["text"]
    await resident.tap("−")
    await harness.settle()
    assert sum((await store.my_stickers(harness.db, pid, resident.id)).values()) == 2


async def test_simultaneous_taps_never_exceed_the_budget(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "en")
    pid = await open_vote(harness, coordinator, stacking=True, problems=PROBLEMS)
    await ballot(harness, resident)
    problems = await store.problems(harness.db, pid)
    # Ten taps arrive at once (a double-tapping, impatient resident).
    for i in range(10):
        await resident.press(Sticker(pid, problems[i % 4].id, 0).pack())
    await harness.settle()
    assert len(await store.sticker_rows(harness.db, pid)) == 3
    # And straight at the sticker book, bypassing the per-user ordering: 12 taps at once.
    other = await harness.resident(invitation, "en")
    book = StickerBook(harness.db)

    async def tap(problem_id: int) -> None:
        with contextlib.suppress(Refused):
            await book.tap(pid, invitation.community.id, problem_id, other.id, None)

    await asyncio.gather(*(tap(problems[i % 4].id) for i in range(12)))
    assert sum((await store.my_stickers(harness.db, pid, other.id)).values()) == 3
    # The database itself refuses a slot past the budget, whoever writes it.
    with pytest.raises(store.VoteRejected):
        await store.insert_sticker(harness.db, pid, other.id, 4, problems[0].id, None)


async def test_forged_callbacks_change_nothing(harness: Harness) -> None:
    first = await harness.new_community("First")
    second = await harness.new_community("Second")
    coordinator = await harness.coordinator(first, "en")
    resident_first = await harness.resident(first, "en")
    outsider = await harness.resident(second, "fa")
    pid = await open_vote(harness, coordinator)
    problems = await store.problems(harness.db, pid)
    other_vote = await store.create(harness.db, second.community.id, title="x",
                                    method="stickers", problems=["a", "b"])
    other_problem = (await store.problems(harness.db, other_vote.id))[0]
    a = problems[0].id
    en, fa = Translator("en"), Translator("fa")
    forged = [
        # Another community's vote, and a problem that is not in the vote.
        (outsider, Sticker(pid, a, 0).pack(), fa._(NOT_AVAILABLE)),
        (resident_first, Sticker(pid, other_problem.id, 0).pack(), en._(NOT_IN_VOTE)),
        (resident_first, Sticker(pid, 999999, 0).pack(), en._(NOT_IN_VOTE)),
        (resident_first, Sticker(MAX_ID, a, 0).pack(), en._(NOT_AVAILABLE)),
        # Not numbers, out of range, parts missing or added, and the old "vote:" data.
        (resident_first, "vote:st:abc:def:0", en._(STALE)),
        (resident_first, "vote:st:1", en._(STALE)),
        (resident_first, f"voting:sticker:{pid}:{a}:0:0:7", en._(STALE)),
        (resident_first, f"voting:sticker:{pid}:{a}", en._(STALE)),
        (resident_first, f"voting:sticker:{pid}:-{a}:0:0", en._(STALE)),
        (resident_first, f"voting:sticker:99999999999999999999:{a}:0:0", en._(STALE)),
        # A pairwise answer on a sticker vote, and a rating of a problem of it.
        (resident_first, Pair(pid, 1, 2, "a").pack(), en._(NOT_AVAILABLE)),
        (resident_first, f"voting:pair:{pid}:1:2:3", en._(STALE)),
        (resident_first, Rate(pid, 1, "importance", 3).pack(), en._(NOT_AVAILABLE)),
        (resident_first, f"voting:rate:{pid}:1:importance:9", en._(STALE)),
        (outsider, Close(pid).pack(), fa._(ONLY_COORDINATORS)),
        (resident_first, Close(pid).pack(), en._(ONLY_COORDINATORS)),
        (outsider, Ballot(pid).pack(), fa._(NOT_AVAILABLE)),
        (outsider, Results(pid).pack(), fa._(NOT_AVAILABLE)),
        (resident_first, Results(pid).pack(),
         en._("Results are shown when the vote closes.")),
    ]
    await resident_first.send("/vote")
    await harness.settle()
    for person, data, expected in forged:
        if not person.messages:
            await person.send("/help")
            await harness.settle()
        assert await press(harness, person, data) == expected, data
    assert await store.sticker_rows(harness.db, pid) == []
    assert await is_open(harness, pid)
    await store.close(harness.db, pid)
    await resident_first.press(Sticker(pid, a, 0).pack())
    await harness.settle()
    assert resident_first.last_answer == en._(CLOSED)
    assert await store.sticker_rows(harness.db, pid) == []


VOTE_TABLES = ("prioritisations", "vote_problems", "stickers", "comparisons", "ratings",
               "standings_messages", "outbox")


async def _snapshot(harness: Harness) -> dict[str, list[tuple[Any, ...]]]:
    return {table: [tuple(row) for row in await harness.db.fetchall(
        f"SELECT * FROM {table} ORDER BY rowid")] for table in VOTE_TABLES}


def _mutations(data: str, foreign_vote: int, foreign_problems: list[int],
               closed: int) -> list[str]:
    """Every way to spoil one real button: parts dropped or added, each field made huge,
    negative or nonsense, each id replaced by another community's or a closed vote's."""
    kind = Button.parse(data)
    head = kind.prefix
    values = data.split(":")[2:]
    spoiled = [head, data + ":1", ":".join(data.split(":")[:-1]) if values else data + ":x"]
    for i, codec in enumerate(kind._codecs):
        ints = values[i].lstrip("-").isdigit()
        replacements = (["-1", str(2**63), "99999999999999999999", "x", ""] if ints
                        else ["x", "", "2"])
        if codec.name == "vote":
            replacements += [str(MAX_ID), str(foreign_vote), str(closed)]
        if codec.name in ("problem", "a", "b") and head in ("voting:pair", "voting:rate"):
            replacements += ["0", "61", str(MAX_ID)]  # a place on the ballot: 1 to 60
        elif codec.name in ("problem", "a", "b"):
            replacements += [str(MAX_ID), *map(str, foreign_problems)]
        for value in replacements:
            spoiled.append(":".join([head, *values[:i], value, *values[i + 1:]]))
    return [m for m in spoiled if m != data]


async def test_spoiled_buttons_of_every_kind_are_answered_and_change_nothing(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 15's crash cases, for every button the capability sends: each spoiled copy is
    answered with a refusal, nothing raises, and not one row changes."""
    first = await harness.new_community("First")
    second = await harness.new_community("Second")
    coordinator = await harness.coordinator(first, "en")
    resident = await harness.resident(first, "en")
    outsider = await harness.resident(second, "en")
    await harness.coordinator(second, "en")
    closed = await open_vote(harness, coordinator, title="Closed one")
    await store.close(harness.db, closed)
    await open_vote(harness, coordinator, stacking=True, title="Stickers")
    await open_vote(harness, coordinator, method="Pairwise comparison", title="Pairs")
    await open_vote(harness, coordinator, method="Priority matrix", title="Matrix")
    foreign_vote = await store.create(harness.db, second.community.id, title="Theirs",
                                      method="stickers", problems=["a", "b"])
    foreign = [p.id for p in await store.problems(harness.db, foreign_vote.id)]
    # Buttons of every kind reach the resident's and the coordinator's chats.
    await resident.send("/vote")
    await harness.settle()
    for title in ("Stickers", "Pairs", "Matrix"):
        await resident.tap(title)
        await harness.settle()
    await resident.tap(problem_button(resident, 1), next(
        m for m in reversed(resident.messages) if "Stickers" in (m.get("text") or "")))
    await harness.settle()
    await coordinator.send("/results")
    await harness.settle()
    await coordinator.send("/closevote")
    await harness.settle()
    real = sorted({b["callback_data"] for person in (resident, coordinator)
                   for m in person.messages
                   for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
                   for b in row if b.get("callback_data", "").startswith("voting:")})
    kinds = {data.split(":")[1] for data in real}
    assert kinds == {"ballot", "sticker", "pair", "rate", "hint", "matrix", "results",
                     "close"}
    before = await _snapshot(harness)
    assert len(before["stickers"]) == 1
    queries = []
    caplog.set_level(logging.ERROR)
    for data in real:
        queries.append(await outsider.press(data))  # all of it from another community
        for number, spoiled in enumerate(_mutations(data, foreign_vote.id, foreign, closed)):
            for person in (resident, coordinator):
                queries.append(await person.press(spoiled))
            if number % 10 == 9:
                # A person's updates beyond the bot's queue for them (20) are dropped unread,
                # as a flood: a few at a time, as a person taps.
                await harness.settle()
        await harness.settle()
    assert await _snapshot(harness) == before
    assert all(q.answered is not None for q in queries)
    # Each is refused — but for the result of the closed vote, which anyone may see.
    shown = Results(closed).pack()
    assert [q.data for q in queries
            if not (q.answer or {}).get("text") and q.data != shown] == []
    sorry = tr(resident, "Sorry, something went wrong on our side. Please try again in a"
                         " moment.")
    assert [q.data for q in queries if (q.answer or {}).get("text") == sorry] == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_pairwise_vote(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "fa")
    residents = [await harness.resident(invitation, lang) for lang in ("fa", "he", "en")]
    pid = await open_vote(harness, coordinator, method="Pairwise comparison",
                          problems=PROBLEMS[:3])
    problems = {p.title: p.id for p in await store.problems(harness.db, pid)}
    lights = problems["Street lights are broken"]
    for person in residents:
        await ballot(harness, person)
        for _ in range(3):  # three problems: three pairs each
            message = person.last
            buttons = person.buttons()
            # Everyone prefers the street lights; otherwise can't decide.
            choice = next((b for b in buttons if "Street lights" in b), None)
            t = Translator(person.language_code or "en")
            await person.tap(choice or t._("Can't decide"), message)
            await harness.settle()
        assert Translator(person.language_code or "en")._(
            "Thank you! You have compared all your pairs.") in person.last["text"]
    assert len(await store.comparisons(harness.db, pid)) == 9
    await coordinator.send("/results")
    await harness.settle()
    results = [m for m in coordinator.messages if "text" in m][-1]["text"]
    lead = tr(coordinator, "In the lead: <b>{problem}</b>.",
              problem=isolate("Street lights are broken"))
    assert lead.replace("<b>", "").replace("</b>", "") in results  # shown as text, not HTML
    outcome = await flow.outcome(harness.db, await store.get(harness.db, pid))
    assert outcome.winners[0].id == lights


async def test_matrix_vote(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    he = await harness.resident(invitation, "he")
    kk = await harness.resident(invitation, "kk")
    await open_vote(harness, coordinator, method="Priority matrix", problems=PROBLEMS[:2])
    for person, values in ((he, [(3, 3), (1, 2)]), (kk, [(3, 2), (2, 2)])):
        await ballot(harness, person)
        t = Translator(person.language_code or "en")
        for importance, urgency in values:
            message = person.last
            rows = message["reply_markup"]["inline_keyboard"]
            # Rows: [Importance, 1, 2, 3], [Urgency, 1, 2, 3]; labels repeat, so press by row.
            await person.press(rows[0][importance]["callback_data"], message)
            await harness.settle()
            await person.press(rows[1][urgency]["callback_data"], message)
            await harness.settle()
        assert t._("All problems are rated. Thank you! You can change a rating until the"
                   " vote closes.") in person.last["text"]
    await coordinator.send("/closevote")
    await harness.settle()
    await coordinator.tap("Our street")
    await harness.settle()
    await coordinator.tap("Yes, close it")  # closing is confirmed first
    await harness.settle()
    await coordinator.tap("Send the result now")  # rather than after the window to reopen
    await harness.settle()
    results = next(m["text"] for m in reversed(coordinator.messages)
                   if "Results: " in (m.get("text") or ""))
    # Lights: (5 + 4) / 2 = 4.5; rubbish: (2 + 3) / 2 = 2.5.
    assert "mean score 4.50 of 5" in results and "mean score 2.50 of 5" in results
    assert "The community's priority: <b>" not in results  # text, not HTML source
    assert "The community's priority: ⁨Street lights are broken⁩." in results


async def test_paper_stickers_shown_apart_and_combined(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "fa")
    pid = await open_vote(harness, coordinator)
    await ballot(harness, resident)
    await resident.tap(problem_button(resident, 1))
    await harness.settle()
    await coordinator.send("/paper")
    await harness.settle()
    question = coordinator.last["text"]
    await coordinator.send("0 2 five 1")
    await harness.settle()
    # The hint, then the question again (the form engine's way).
    assert coordinator.texts()[-2:] == [
        "five is not a whole number; send one number per problem.", question]
    await coordinator.send("0\n2\n1")
    await harness.settle()
    assert coordinator.texts()[-2] == ("Send exactly 4 numbers, one per problem in the list"
                                       " order; you sent 3.")
    await coordinator.send("0\n۲\n1\n0")  # Persian digits are understood
    await harness.settle()
    texts = coordinator.texts()
    assert any("Saved 3 paper stickers." in t for t in texts)
    results = next(t for t in reversed(texts) if "Standings so far" in t)
    assert "(0 in chat + 2 on paper)" in results
    assert "Ranking from chat stickers only:" in results
    problems = await store.problems(harness.db, pid)
    assert [p.offline for p in problems] == [0, 2, 1, 0]


async def test_closes_on_time_also_after_a_restart(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "he")
    pid = await open_vote(harness, coordinator, close="In 1 day")
    await ballot(harness, resident)
    await resident.tap(problem_button(resident, 2))
    await harness.settle()
    await harness.stop()
    # While the bot was down, the closing time passed.
    from storage.db import Database, to_db, utcnow

    db = await Database.open(harness.database_path)
    await db.execute("UPDATE prioritisations SET closes_at = ? WHERE id = ?",
                     (to_db(utcnow()), pid))
    await db.close()
    await harness.start()
    t = Translator("he")
    await resident.wait_for(t._("The vote has closed."))
    await resident.wait_for(lambda message: "photo" in message)  # the chart
    assert not await is_open(harness, pid)
    assert any(t._("Results: {title}", title="⁨Our street⁩") in x for x in resident.texts())


async def test_setup_rejects_bad_input_and_resumes_after_restart(harness: Harness) -> None:
    """Each refused answer gets its hint, then the question again (the form engine's way)."""
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "en")
    await resident.send("/prioritise")
    await harness.settle()
    assert resident.last["text"] == tr(resident, ONLY_COORDINATORS)
    await coordinator.send("/prioritise")
    await harness.settle()
    title_question = coordinator.last["text"]
    assert title_question == ("New priority vote. What is it about? Send a short title.\n"
                              "(/cancel stops)")
    await coordinator.send("x" * 300)
    await harness.settle()
    assert coordinator.texts()[-2:] == [
        "The title is longer than 200 characters; please shorten it.", title_question]
    await coordinator.send("Our street")
    await harness.settle()
    await coordinator.send("Stickers")  # typed instead of tapped
    await harness.settle()
    assert coordinator.texts()[-2:] == ["Please choose with the buttons.",
                                        "Which method?\n(/cancel stops)"]
    await coordinator.tap("Stickers")
    await harness.settle()
    await coordinator.send("only one")
    await harness.settle()
    assert coordinator.texts()[-2] == "Send at least two problems, one per line."
    await harness.restart()
    await coordinator.send("a\nb\nA")
    await harness.settle()
    assert coordinator.texts()[-2] == ("Problem 3 appears twice; please send each problem"
                                       " once.")
    await coordinator.send("a\nb")
    await harness.settle()
    await coordinator.tap(lambda label: label.startswith("3"))
    await harness.settle()
    await coordinator.tap("No, one per problem")
    await harness.settle()
    await coordinator.send("2020-01-01 10:00")
    await harness.settle()
    assert coordinator.texts()[-2] == ("That time has already passed; please send a time in"
                                       " the future.")
    await coordinator.send("some day")
    await harness.settle()
    week = (datetime.now(ZoneInfo("Asia/Tehran")).date() + timedelta(days=7)).isoformat()
    assert coordinator.texts()[-2] == ("Please write a date and a time, for example"
                                       f" {week} 18:00 or tomorrow 18:00.")
    await coordinator.send("2099-01-01 10:00")
    await harness.settle()
    assert coordinator.last["text"].startswith("Preview:\n")
    await coordinator.tap("Cancel")
    await harness.settle()
    assert coordinator.last["text"] == "Cancelled. Nothing was opened."
    assert await harness.db.fetchval("SELECT COUNT(*) FROM prioritisations") == 0


async def test_setup_messages_and_echoes(harness: Harness) -> None:
    """What the coordinator sees at each step: each choice replaces its question."""
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    await harness.resident(invitation, "fa")
    await coordinator.send("/prioritise")
    await harness.settle()
    await coordinator.send("Our street")
    await harness.settle()
    assert coordinator.buttons() == ["Stickers", "Pairwise comparison", "Priority matrix"]
    await coordinator.tap("Stickers")
    await harness.settle()
    assert coordinator.texts()[-2:] == [
        "Method: Stickers", "Send the problems, one per line (2 to 60).\n(/cancel stops)"]
    await coordinator.send("Lights\nRubbish")
    await harness.settle()
    assert coordinator.buttons() == ["1", "2 ✓", "3", "4", "5"]  # never more than problems
    assert len(coordinator.last["reply_markup"]["inline_keyboard"]) == 1  # one row
    await coordinator.tap("2")
    await harness.settle()
    assert coordinator.texts()[-2:] == [
        "2 stickers per resident.",
        "May a resident put several stickers on one problem?\n(/cancel stops)"]
    await coordinator.tap("Yes")
    await harness.settle()
    assert coordinator.texts()[-2] == "Several stickers may go on one problem."
    assert [[b["text"] for b in row]
            for row in coordinator.last["reply_markup"]["inline_keyboard"]] == [
        ["In 1 day", "In 3 days", "In 7 days"], ["When I close it"]]
    await coordinator.tap("When I close it")
    await harness.settle()
    assert coordinator.last["text"] == "\n".join([
        "Preview:", "⁨Our street⁩", "Method: Stickers", "2 stickers per resident.",
        "Closes when a coordinator closes it.", "", "1. ⁨Lights⁩", "2. ⁨Rubbish⁩",
        "(/cancel stops)"])
    assert coordinator.buttons() == ["Open the vote", "Cancel"]
    await coordinator.tap("Open the vote")
    await harness.settle()
    # The coordinator is told, then announced to like every member.
    assert coordinator.texts()[-2:] == [
        "The vote is open. Announcing it to 2 members…",
        "New priority vote in ⁨Green Street⁩: ⁨Our street⁩\nMethod: Stickers\n"
        "Closes when a coordinator closes it."]
    assert coordinator.buttons(coordinator.messages[-3]) == []  # the preview's buttons went
    vote = (await store.list_for(harness.db, invitation.community.id))[0]
    assert (vote.title, vote.method, vote.stickers, vote.allow_stacking, vote.closes_at) == (
        "Our street", "stickers", 2, True, None)


async def test_no_budget_is_ever_impossible(harness: Harness) -> None:
    """3 stickers, one per problem, over 2 problems would leave a sticker that fits nowhere:
    the budget is capped at the number of problems, and the preview says so."""
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "he")
    await coordinator.send("/prioritise")
    await harness.settle()
    await coordinator.send("Our street")
    await harness.settle()
    await coordinator.tap("Stickers")
    await harness.settle()
    await coordinator.send("Lights\nRubbish")
    await harness.settle()
    await coordinator.tap("3")
    await harness.settle()
    await coordinator.tap("No, one per problem")
    await harness.settle()
    await coordinator.tap("When I close it")
    await harness.settle()
    preview = coordinator.last["text"].splitlines()
    assert preview[3:5] == [
        "2 stickers per resident.",
        "(Not 3: with one sticker per problem, a resident can place at most 2, one on each"
        " problem.)"]
    await coordinator.tap("Open the vote")
    await harness.settle()
    vote = (await store.list_for(harness.db, invitation.community.id))[0]
    assert (vote.stickers, vote.allow_stacking) == (2, False)
    # Both stickers can be placed, and then none is left.
    await ballot(harness, resident)
    for position in (1, 2):
        await resident.tap(problem_button(resident, position))
        await harness.settle()
    assert resident.last_answer == Translator("he").ngettext(
        "{n} sticker left", "{n} stickers left", 0)


async def test_paper_and_standings_ask_which_vote_when_there_are_several(
        harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    first = await open_vote(harness, coordinator, title="Lights")
    second = await open_vote(harness, coordinator, title="Parks")
    await store.close(harness.db, first)
    third = await open_vote(harness, coordinator, title="Roads")
    # /paper: open sticker votes first, then closed ones (marked), newest first.
    await coordinator.send("/paper")
    await harness.settle()
    assert coordinator.texts()[-1] == "Paper stickers for which vote?"
    assert coordinator.buttons() == ["Roads", "Parks", "Lights (closed)"]
    await coordinator.tap("Parks")
    await harness.settle()
    assert coordinator.texts()[-2] == "Paper stickers for \u2068Parks\u2069."
    assert "Paper stickers for \u2068Parks\u2069: send the count" in coordinator.texts()[-1]
    await coordinator.send("1\n0\n0\n0")
    await harness.settle()
    assert [p.offline for p in await store.problems(harness.db, second)] == [1, 0, 0, 0]
    assert [p.offline for p in await store.problems(harness.db, third)] == [0, 0, 0, 0]
    # /standings: the open votes only; the question becomes the live standings.
    group = harness.emu.group(-100778, "Street chat", [coordinator])
    await coordinator.send("/standings", chat=group)
    await harness.settle()
    question = group.messages[-1]
    assert question["text"] == "Live standings of which vote?"
    assert coordinator.buttons(question) == ["Roads", "Parks"]
    await coordinator.tap("Roads", question, chat=group)
    await harness.settle()
    edited = next(m for m in group.messages if m["message_id"] == question["message_id"])
    assert edited["text"].startswith("Standings so far: \u2068Roads\u2069")
    assert [tuple(r) for r in await harness.db.fetchall(
        "SELECT prioritisation_id, chat_id, message_id FROM standings_messages")] == [
        (third, group.id, question["message_id"])]
    # With one open vote left, /standings posts it without asking.
    assert await store.close(harness.db, second)
    await coordinator.send("/standings")
    await harness.settle()
    assert coordinator.texts()[-1].startswith("Standings so far: \u2068Roads\u2069")


async def test_setup_offers_the_brainstorm_shortlist(harness: Harness) -> None:
    from storage import brainstorm as brainstorm_store

    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    brainstorm = await brainstorm_store.open_round(harness.db, invitation.community.id,
                                                   "What bothers you?", coordinator.id)
    assert brainstorm is not None
    for text in ("Dark street", "Full bins", "Not shortlisted"):
        card_id = await brainstorm_store.add_card(harness.db, brainstorm.id, coordinator.id,
                                                  text, None)
        card = await brainstorm_store.get_card(harness.db, card_id)
        assert card is not None
        if text != "Not shortlisted":
            await brainstorm_store.curate(harness.db, card, coordinator.id, "shortlist",
                                          shortlisted=1)
    await coordinator.send("/prioritise")
    await harness.settle()
    await coordinator.send("From the brainstorm")
    await harness.settle()
    await coordinator.tap("Pairwise comparison")
    await harness.settle()
    await coordinator.tap("Use the brainstorm shortlist (2 problems)")
    await harness.settle()
    assert coordinator.texts()[-2] == "• ⁨Dark street⁩\n• ⁨Full bins⁩"
    await coordinator.tap("When I close it")
    await harness.settle()
    await coordinator.tap("Open the vote")
    await harness.settle()
    vote = (await store.list_for(harness.db, invitation.community.id))[0]
    assert [p.title for p in await store.problems(harness.db, vote.id)] == [
        "Dark street", "Full bins"]


async def test_an_older_question_never_drives_the_current_form(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    await coordinator.send("/prioritise")
    await harness.settle()
    await coordinator.send("First try")
    await harness.settle()
    old_question = coordinator.last
    await coordinator.send("/prioritise")  # starts afresh
    await harness.settle()
    await coordinator.send("Second try")
    await harness.settle()
    await coordinator.tap("Stickers", old_question)
    await harness.settle()
    assert coordinator.last_answer == tr(coordinator, STALE)
    assert coordinator.messages[-1]["text"] == "Which method?\n(/cancel stops)"
    assert old_question["text"] == "Which method?\n(/cancel stops)"  # not echoed either
    # The current question's own button works; the one above it no longer does.
    await coordinator.tap("Priority matrix")
    await harness.settle()
    assert coordinator.texts()[-2] == "Method: Priority matrix"
    await coordinator.tap("Stickers", old_question)
    await harness.settle()
    assert coordinator.last_answer == tr(coordinator, STALE)
    await coordinator.send("a\nb")
    await harness.settle()
    assert coordinator.last["text"].startswith("When does the vote close?")
    await coordinator.send("/cancel")
    await harness.settle()
    assert coordinator.last["text"] == "Stopped. Nothing was changed."
    assert await harness.db.fetchval("SELECT COUNT(*) FROM prioritisations") == 0


async def test_every_setup_step_checks_the_coordinator_again(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    await coordinator.send("/prioritise")
    await harness.settle()
    await coordinator.send("Our street")
    await harness.settle()
    await community_store.set_role(harness.db, invitation.community.id, coordinator.id,
                                   "resident")
    await coordinator.tap("Stickers")
    await harness.settle()
    assert coordinator.last_answer == tr(coordinator, ONLY_COORDINATORS)
    assert coordinator.last["text"] == "Which method?\n(/cancel stops)"  # nothing moved on
    await coordinator.send("Stickers")
    await harness.settle()
    assert coordinator.texts()[-1] == tr(coordinator, ONLY_COORDINATORS)
    assert await harness.db.fetchval("SELECT COUNT(*) FROM prioritisations") == 0


async def test_paper_needs_a_sticker_vote_and_a_coordinator(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "en")
    await coordinator.send("/paper")
    await harness.settle()
    assert coordinator.last["text"] == "There is no sticker vote to add paper stickers to."
    await resident.send("/paper")
    await harness.settle()
    assert resident.last["text"] == tr(resident, ONLY_COORDINATORS)
    await open_vote(harness, coordinator, method="Pairwise comparison")
    await coordinator.send("/paper")
    await harness.settle()
    assert coordinator.last["text"] == "There is no sticker vote to add paper stickers to."


async def test_reminder_comes_half_way_through_a_short_vote(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    pid = await open_vote(harness, coordinator, close="In 1 day")
    vote = await store.get(harness.db, pid)
    assert vote is not None and vote.closes_at is not None
    queue = harness.app.job_queue
    assert queue is not None
    [remind] = queue.get_jobs_by_name(f"vote-remind-{pid}")
    [close] = queue.get_jobs_by_name(f"vote-close-{pid}")
    assert remind.next_t == schedule.reminder_time(vote.created_at, vote.closes_at)
    assert abs(vote.closes_at - remind.next_t - timedelta(hours=12)) < timedelta(seconds=1)
    assert close.next_t == vote.closes_at
    await harness.restart()  # rebuilt from the database
    queue = harness.app.job_queue
    assert queue is not None
    [remind] = queue.get_jobs_by_name(f"vote-remind-{pid}")
    assert remind.next_t == schedule.reminder_time(vote.created_at, vote.closes_at)


async def test_live_standings_keep_their_language_across_a_restart(harness: Harness) -> None:
    invitation = await harness.new_community()  # its default language: English
    coordinator = await harness.coordinator(invitation, "fa")
    resident = await harness.resident(invitation, "en")
    await resident.send("/standings")
    await harness.settle()
    assert resident.last["text"] == tr(resident, ONLY_COORDINATORS)
    await coordinator.send("/standings")
    await harness.settle()
    assert coordinator.last["text"] == tr(coordinator, "There is no open vote right now.")
    pid = await open_vote(harness, coordinator)
    await coordinator.send("/standings")
    await harness.settle()
    standings = coordinator.last
    fa = Translator("fa")
    assert standings["text"].startswith(fa._("Standings so far: {title}",
                                             title=isolate("Our street")))
    group = harness.emu.group(-100777, "Street chat", [coordinator])
    await coordinator.send("/standings", chat=group)
    await harness.settle()
    in_group = group.messages[-1]
    assert in_group["text"].startswith("Standings so far: ⁨Our street⁩")
    assert [tuple(row) for row in await harness.db.fetchall(
        "SELECT chat_id, language FROM standings_messages ORDER BY chat_id")] == [
        (-100777, "en"), (coordinator.id, "fa")]
    await harness.restart()
    await ballot(harness, resident)
    await resident.tap(problem_button(resident, 2))
    await harness.settle()
    queue = harness.app.job_queue
    assert queue is not None
    [refresh] = queue.get_jobs_by_name("vote-standings")
    await refresh.run(harness.app)
    await harness.settle()
    edited = next(m for m in coordinator.messages
                  if m["message_id"] == standings["message_id"])["text"]
    assert edited.startswith(fa._("Standings so far: {title}", title=isolate("Our street")))
    assert fa.ngettext("{n} member took part, of {members} ({percent}).",
                       "{n} members took part, of {members} ({percent}).", 1, members=2,
                       percent=fa.percent(0.5)) in edited
    edited_group = next(m for m in group.messages
                        if m["message_id"] == in_group["message_id"])["text"]
    assert "1 member took part, of 2 (50%)." in edited_group
    assert await is_open(harness, pid)


async def test_results_wait_for_the_close_except_for_coordinators(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "en")
    await resident.send("/results")
    await harness.settle()
    assert resident.last["text"] == "No results yet: votes show results when they close."
    await resident.send("/vote")
    await harness.settle()
    assert resident.last["text"] == "There is no open vote right now."
    await resident.send("/closevote")
    await harness.settle()
    assert resident.last["text"] == tr(resident, ONLY_COORDINATORS)
    first = await open_vote(harness, coordinator, title="First")
    await store.close(harness.db, first)
    second = await open_vote(harness, coordinator, title="Second")
    await resident.send("/results")  # only the closed one: shown at once
    await harness.settle()
    assert resident.texts()[-1].startswith("Results: ⁨First⁩")
    assert await press(harness, resident, Results(second).pack()) == (
        "Results are shown when the vote closes.")
    await coordinator.send("/results")
    await harness.settle()
    assert coordinator.buttons() == ["Second", "First"]
    await coordinator.tap("Second")
    await harness.settle()
    assert coordinator.texts()[-1].startswith("Standings so far: ⁨Second⁩")
    outsider = await harness.resident(await harness.new_community("Elsewhere"), "en")
    await outsider.send("/results")
    await harness.settle()
    assert outsider.last["text"] == "No results yet: votes show results when they close."
    stranger = harness.person("en")
    await stranger.send("/vote")
    await harness.settle()
    assert stranger.last["text"] == tr(stranger, JOIN_FIRST)


async def test_results_list_pages_past_twenty_votes(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    for n in range(1, 23):
        vote = await store.create(harness.db, invitation.community.id, title=f"Vote {n}",
                                  method="stickers", problems=["a", "b"])
        await store.close(harness.db, vote.id)
    await coordinator.send("/results")
    await harness.settle()
    assert coordinator.buttons() == [f"Vote {n}" for n in range(22, 2, -1)] + ["1/2", "Next ›"]
    await coordinator.tap("Next ›")
    await harness.settle()
    assert coordinator.buttons() == ["Vote 2", "Vote 1", "‹ Back", "2/2"]
    await coordinator.tap("Vote 1")
    await harness.settle()
    assert coordinator.texts()[-1].startswith("Results: ⁨Vote 1⁩")


def test_chart_in_persian_hebrew_and_kazakh(tmp_path: Path) -> None:
    from bot.flows.voting_chart import bar_chart

    out = Path(__import__("os").environ.get("CHART_DIR") or tmp_path)
    samples = {
        "fa": ("نتیجه: مشکلات محله", ["روشنایی خیابان ۱۲ متری", "جمع‌آوری زباله", "پارک"]),
        "he": ("תוצאות: בעיות השכונה", ["תאורת רחוב", "איסוף אשפה", "גן משחקים"]),
        "kk": ("Нәтиже: ауладағы мәселелер", ["Көше жарығы", "Қоқыс шығару", "Балалар алаңы"]),
    }
    for lang, (title, labels) in samples.items():
        t = Translator(lang)
        png = bar_chart(title, labels, [12, 7, 3], rtl=t.rtl,
                        value_labels=[t.num(v) for v in (12, 7, 3)])
        assert png.startswith(b"\x89PNG") and len(png) > 5_000
        (out / f"chart-{lang}.png").write_bytes(png)
