"""Prioritisation end to end: stickers, pairwise and matrix through the emulator.

Coordinators open votes in chat; residents in several languages vote with buttons; results,
charts, paper stickers, closing (by hand and on time, also after a restart) and bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from bot.emulator import Person
from bot.flows.errors import Refused
from bot.flows.voting_book import StickerBook
from bot.i18n import Translator
from storage import voting as store
from tests.harness import Harness, Invitation

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
        await coordinator.tap(t._(close) if "{n}" not in close else close)
    await harness.settle()
    await coordinator.tap(t._("Open the vote"))
    await harness.settle()
    row = await harness.db.fetchone("SELECT MAX(id) AS id FROM prioritisations")
    assert row is not None and row["id"] is not None, coordinator.texts()[-3:]
    return int(row["id"])


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

    # Problem 2 has 3 stickers (fa, he, kk); problem 1 has 3 (he, kk, en)... tie.
    results = [m for m in en.messages if "Results: " in (m.get("text") or "")][-1]["text"]
    assert "Tie for first place" in results
    assert "Street lights are broken" in results and "3 stickers" in results
    assert "Participation by group" in results
    assert any("photo" in m for m in en.messages)  # the chart
    fa_results = [m for m in fa.messages if "photo" not in m][-1]["text"]
    assert "۳" in fa_results  # Persian digits
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
        await resident.press(f"vote:st:{pid}:{problems[i % 4].id}:0")
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
    forged = [
        (outsider, f"vote:st:{pid}:{problems[0].id}:0"),  # another community's vote
        (resident_first, f"vote:st:{pid}:{other_problem.id}:0"),  # a problem not in it
        (resident_first, f"vote:st:{pid}:999999:0"),  # unknown problem
        (resident_first, "vote:st:abc:def:0"),  # not numbers
        (resident_first, f"vote:pw:{pid}:{problems[0].id}:{problems[1].id}:{problems[2].id}"),
        (resident_first, f"vote:mx:{pid}:{problems[0].id}:0:x9"),
        (outsider, f"vote:close:{pid}"),
    ]
    await resident_first.send("/vote")
    await harness.settle()
    for person, data in forged:
        if not person.messages:
            await person.send("/help")
            await harness.settle()
        await person.press(data)
        await harness.settle()
        assert person.last_tap_answered and person.last_answer, data
    assert await store.sticker_rows(harness.db, pid) == []
    assert (await store.get(harness.db, pid)).is_open  # type: ignore[union-attr]
    await store.close(harness.db, pid)
    await resident_first.press(f"vote:st:{pid}:{problems[0].id}:0")
    await harness.settle()
    assert resident_first.last_answer == Translator("en")._(
        "This vote has closed; changes are no longer possible.")
    assert await store.sticker_rows(harness.db, pid) == []


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
    t = Translator("fa")
    assert t._("In the lead: <b>{problem}</b>.", problem="X").split("<b>")[0].strip() in results
    outcome = await __import__("bot.flows.voting", fromlist=["outcome"]).outcome(
        harness.db, await store.get(harness.db, pid))
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
    await coordinator.send("0 2 five 1")
    await harness.settle()
    assert "five" in coordinator.last["text"]  # named in the hint
    await coordinator.send("0\n2\n1")
    await harness.settle()
    assert "Send exactly 4 numbers" in coordinator.last["text"]
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
    await resident.wait_for(lambda message: "photo" in message)  # the results chart
    await harness.settle()
    assert not (await store.get(harness.db, pid)).is_open  # type: ignore[union-attr]
    assert any("photo" in m for m in resident.messages)
    assert any(t._("Results: {title}", title="⁨Our street⁩") in x for x in resident.texts())


async def test_setup_rejects_bad_input_and_resumes_after_restart(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "en")
    await resident.send("/prioritise")
    await harness.settle()
    assert "Only coordinators" in resident.last["text"]
    await coordinator.send("/prioritise")
    await harness.settle()
    await coordinator.send("x" * 300)
    await harness.settle()
    assert "longer than 200" in coordinator.last["text"]
    await coordinator.send("Our street")
    await harness.settle()
    await coordinator.tap("Stickers")
    await harness.settle()
    await coordinator.send("only one")
    await harness.settle()
    assert "at least two" in coordinator.last["text"]
    await harness.restart()
    await coordinator.send("a\nb\nA")
    await harness.settle()
    assert "appears twice" in coordinator.last["text"]
    await coordinator.send("a\nb")
    await harness.settle()
    await coordinator.tap(lambda label: label.startswith("3"))
    await harness.settle()
    await coordinator.tap("No, one per problem")
    await harness.settle()
    await coordinator.send("2020-01-01 10:00")
    await harness.settle()
    assert "already passed" in coordinator.last["text"]
    await coordinator.send("tomorrow")
    await harness.settle()
    assert "YYYY-MM-DD HH:MM" in coordinator.last["text"]
    await coordinator.send("2099-01-01 10:00")
    await harness.settle()
    assert "Preview:" in coordinator.last["text"]
    await coordinator.tap("Cancel")
    await harness.settle()
    assert await harness.db.fetchval("SELECT COUNT(*) FROM prioritisations") == 0


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
