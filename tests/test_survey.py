"""Needs surveys end to end: one built in chat, one from a file; 20 residents in four
languages answer (back, skip, change, typed numbers in Persian digits, a restart mid-way);
results, who has not answered, CSV and XLSX exports; an anonymous survey whose answers the
database cannot link to anyone; the scheduler opening, reminding and closing; bad input."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.emulator import Person
from bot.flows import broadcast as broadcast_flow
from bot.flows import survey as flow
from bot.handlers.survey import (
    Answer,
    Back,
    Choose,
    Close,
    Export,
    Next,
    NotAnswered,
    Remind,
    ShowResults,
    Skip,
    Tick,
)
from bot.i18n import Translator
from storage import community as community_store
from storage import survey as store
from storage.db import to_db, utcnow
from tests.harness import Harness, Invitation, press, step, tr

LANGUAGES = ["fa", "kk", "he", "en"]
GROUPS = ["activist", "vulnerable", "authority", "business", "ngo", "media"]
OPTIONS = ["Roads", "Lighting", "Parks"]
SERVICES = ["Bus", "Clinic", "Library", "Market"]


async def _build_in_chat(harness: Harness, cora: Person) -> store.Survey:
    """Cora builds a five-question survey step by step, with some wrong input on the way."""
    c = cora
    await step(harness, c, "/newsurvey", send=True)
    await step(harness, c, "en: Our street in 2027\nfa: خیابان ما در ۱۴۰۶", send=True)
    await step(harness, c, "/skip", send=True)
    # 1: single choice in two languages.
    await step(harness, c, "Single choice")
    await step(harness, c, "en: What is the biggest problem?\nfa: بزرگ‌ترین مشکل چیست؟",
               send=True)
    await step(harness, c, "en: Roads; Lighting\nfa: جاده‌ها; روشنایی; پارک‌ها", send=True)
    assert "same number of options" in c.texts()[-2]  # the hint, then the question again
    assert c.texts()[-1].startswith("Send the options, one per line")
    await step(harness, c, "en: Roads; Lighting; Parks\nfa: جاده‌ها; روشنایی; پارک‌ها",
               send=True)
    await step(harness, c, "Required")
    # 2: multiple choice, at most two; a word where a number was asked gets a hint.
    await step(harness, c, "Multiple choice")
    await step(harness, c, "Which services do you use?", send=True)
    await step(harness, c, "\n".join(SERVICES), send=True)
    await step(harness, c, "a few", send=True)
    assert c.texts()[-2:] == ["Please send a number from 1 to 4.",
                              "At most how many options may a person choose? Send a number"
                              " from 1 to 4."]
    await step(harness, c, "2", send=True)
    await step(harness, c, "Optional")
    # 3: scale, 4: yes/no, 5: free text (optional).
    await step(harness, c, "Scale 1–5")
    await step(harness, c, "How safe do you feel at night?", send=True)
    await step(harness, c, "Required")
    await step(harness, c, "Yes / no")
    await step(harness, c, "Would you volunteer?", send=True)
    await step(harness, c, "Required")
    await step(harness, c, "Free text")
    await step(harness, c, "Anything else?", send=True)
    await step(harness, c, "Optional")
    # A mistake is undone: a sixth question added by accident is removed.
    await step(harness, c, "Yes / no")
    await step(harness, c, "Oops", send=True)
    await step(harness, c, "Optional")
    await step(harness, c, "↶ Remove the last question")
    assert c.last_answer == "Removed: Oops"
    await step(harness, c, "Done adding questions")
    await step(harness, c, "Named answers")
    await step(harness, c, "Open now")
    await step(harness, c, "I will close it by hand")
    preview = c.texts()[-1]
    assert "Preview — nothing is published yet." in preview
    assert "Which services do you use? — <i>Multiple choice (at most 2), optional</i>" \
        not in preview  # the preview is HTML-rendered by the emulator
    assert "Multiple choice (at most 2), optional" in preview
    assert "Languages: English, فارسی" in preview
    await step(harness, c, "Publish")
    found = await store.of_community(harness.db, (await _community_id(harness, c)))
    assert len(found) == 1 and found[0].status == "open"
    return found[0]


def _at(person: Person, position: int, questions: int) -> str:
    """"3/5" as the person reads it (Persian digits in Persian)."""
    t = Translator(person.language_code or "en")
    return f"{t.num(position)}/{t.num(questions)}"


def _plain(text: str) -> str:
    return text.replace("\u2068", "").replace("\u2069", "")


async def _community_id(harness: Harness, person: Person) -> int:
    return int(await harness.db.fetchval("SELECT current_community_id FROM users WHERE id = ?",
                                         (person.id,)))


async def _residents(harness: Harness, invitation: Invitation, n: int) -> list[Person]:
    return [await harness.resident(invitation, LANGUAGES[i % 4], GROUPS[i % 6], name=f"R{i}")
            for i in range(n)]


async def test_survey_built_in_chat_answered_by_twenty(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    residents = await _residents(harness, invitation, 20)
    survey = await _build_in_chat(harness, cora)
    q1, q2, q3, q4, _q5 = survey.questions

    # Everyone was told, in their language, with a button to start.
    for person in residents:
        assert tr(person, "Answer the survey") in person.buttons()
    fa = residents[0]
    assert "خیابان ما در ۱۴۰۶" in fa.texts()[-1]

    expected_q1 = [0, 0, 0]
    for i, person in enumerate(residents[:18]):
        await step(harness, person, tr(person, "Answer the survey"))
        assert _at(person, 1, 5) in person.texts()[-1]
        choice = i % 3
        await press(harness, person, Choose(survey.id, q1.id, choice).pack())
        if i == 3:  # a double tap changes nothing and is answered
            assert await press(harness, person, Choose(survey.id, q1.id, 2).pack()) == tr(
                person, "That answer is already recorded; go on from the newest question.")
        if i == 2:  # back to question 1, the answer is marked, "Next" keeps it
            await step(harness, person, tr(person, "‹ Back", "survey"))
            assert person.buttons()[:3] == ["Roads", "Lighting", "✅ Parks"]
            await step(harness, person, tr(person, "Next ›"))
        expected_q1[choice] += 1
        # Question 2: two services; a third is refused; person 5 skips it (optional).
        if i == 5:
            await step(harness, person, tr(person, "Skip ›"))
        else:
            await press(harness, person, Tick(survey.id, q2.id, i % 4).pack())
            await press(harness, person, Tick(survey.id, q2.id, (i + 1) % 4).pack())
            if i == 0:
                assert await press(harness, person, Tick(survey.id, q2.id, (i + 2) % 4).pack()
                                   ) == tr(person, "You can choose at most {n}. Untick one"
                                                   " first.", n=2)
            await step(harness, person, tr(person, "Done"))
        if i == 0:  # a restart in the middle: the typed answer reaches the same question
            await harness.restart()
        if i == 6:  # leaving and coming back resumes at the same question
            await step(harness, person, "/surveys", send=True)
            assert _at(person, 3, 5) in person.texts()[-1]
            start = tr(person, "Answer: {title}", title="")
            await step(harness, person, lambda label, start=start: label.startswith(start))
            assert _at(person, 3, 5) in person.texts()[-1]
        # Question 3: the scale, typed (Persian digits from Persian speakers) or tapped.
        if i == 0:
            await step(harness, person, "quite safe", send=True)
            assert tr(person, "Please answer with a number from 1 to 5, or tap one of the"
                              " buttons.") in person.texts()[-2]
            assert _at(person, 3, 5) in person.texts()[-1]
        value = i % 5 + 1
        if person.language_code == "fa":
            await step(harness, person, "۰۱۲۳۴۵"[value], send=True)
        else:
            await press(harness, person, Choose(survey.id, q3.id, value).pack())
        await press(harness, person, Choose(survey.id, q4.id, int(i % 2 == 0)).pack())
        # Question 5: free text for some; far too long is refused with a hint.
        if i == 4:
            await step(harness, person, "x" * 4050, send=True)
            assert tr(person, "Your answer is {length} characters long; please keep it under"
                              " {n}.", length=4050, n=4000) in person.texts()[-2]
        if i % 3 == 0:
            await step(harness, person, f"Note from {person.name}", send=True)
        else:
            await step(harness, person, tr(person, "Skip ›"))
        assert person.texts()[-1] == tr(person, "Thank you! Your answers are saved. You can"
                                                " change them until the survey closes:"
                                                " /surveys")

    # Resident 4 changes the first answer (from Lighting to Parks) before closing.
    r4 = residents[4]
    await step(harness, r4, "/surveys", send=True)
    await step(harness, r4, lambda label: label.startswith(tr(r4, "Change my answers: {title}",
                                                              title="")[:6]))
    await press(harness, r4, Choose(survey.id, q1.id, 2).pack())
    # Their answers are kept: Done under the ticks, Next under the rest; q5 was skipped.
    for label in ("Done", "Next ›", "Next ›", "Skip ›"):
        await step(harness, r4, tr(r4, label))
    assert r4.texts()[-1] == tr(r4, "Thank you! Your answers are saved. You can change them"
                                    " until the survey closes: /surveys")
    expected_q1[1] -= 1
    expected_q1[2] += 1

    # Past the last question with a required one unanswered (only a lost update could do
    # that): coming back leads to the question that still needs an answer.
    r17 = residents[17]
    response = await store.response_of(harness.db, survey.id, r17.id)
    assert response is not None
    await harness.db.execute("DELETE FROM survey_answers WHERE response_id = ?"
                             " AND question_id = ?", (response.id, q4.id))
    await harness.db.execute("UPDATE survey_responses SET finished = 0, position = 5"
                             " WHERE id = ?", (response.id,))
    await step(harness, r17, tr(r17, "Answer the survey"))
    assert r17.texts()[-2] == tr(r17, "Question {n} still needs an answer.", n=4)
    assert _at(r17, 4, 5) in r17.texts()[-1]
    await press(harness, r17, Choose(survey.id, q4.id, 0).pack())
    await step(harness, r17, tr(r17, "Skip ›"))
    assert r17.texts()[-1] == tr(r17, "Thank you! Your answers are saved. You can change"
                                      " them until the survey closes: /surveys")

    # Forged and stale callbacks are refused and change nothing.
    before = await store.finished_responses(harness.db, survey.id)
    r0 = residents[0]
    stale = tr(r0, "This button no longer works.")
    for forged, expected in (
        (Choose(survey.id, q1.id, 9).pack(), tr(r0, flow.ALREADY)),  # r0 has finished
        (Choose(999, 1, 0).pack(), tr(r0, flow.NOT_AVAILABLE)),
        (f"survey:choose:{survey.id}:x:0", stale), (f"survey:choose:{survey.id}", stale),
        ("survey:answer:abc", stale),
        # The old callback data, from messages sent before the update, are stale too.
        (f"sa:{survey.id}:{q1.id}:c:0", stale), (f"sv:go:{survey.id}", stale),
    ):
        assert await press(harness, r0, forged) == expected, forged
    assert await store.finished_responses(harness.db, survey.id) == before

    # Results: 18 of 22 members, the counts per option, the scale's mean.
    responses = await store.finished_responses(harness.db, survey.id)
    assert len(responses) == 18
    assert [sum(r.answers[q1.id] == k for r in responses) for k in range(3)] == expected_q1
    await step(harness, cora, "/surveyresults", send=True)
    await step(harness, cora, lambda label: label.startswith("Our street in 2027"))
    results = "\n".join(cora.texts()[-3:])
    # 21 members: the 20 residents and Cora (the admin who created the community never
    # joined it).
    assert "Responses: 18 of 21 members (86%)" in results
    for k, name in enumerate(OPTIONS):
        assert f" {expected_q1[k]} (" in results and name in results
    mean = sum(i % 5 + 1 for i in range(18)) / 18
    assert f"Average: {mean:.1f}" in results
    assert "Note from R0" in results and "Note from R15" in results
    assert "Activists and leaders: 3/4" in results  # R0, R6, R12 of R0, R6, R12, R18
    await step(harness, cora, "Who has not answered")
    missing = cora.texts()[-1]
    assert "3 members have not answered yet" in missing
    assert "R18" in missing and "R19" in missing and "Cora" in missing

    # CSV in the coordinator's language; XLSX for a Persian coordinator reads right to left.
    await step(harness, cora, "Export CSV")
    table = list(csv.reader(io.StringIO(cora.document(cora.last).decode("utf-8-sig"))))
    assert table[0][:4] == ["Response", "Name", "Group", "Language"]
    assert table[0][4] == "1. What is the biggest problem?"
    assert len(table) == 19
    by_name = {row[1]: row for row in table[1:]}
    assert by_name["R4"][4] == "Parks" and by_name["R0"][5] == "Bus; Clinic"
    assert by_name["R0"][7] == "Yes" and by_name["R0"][8] == "Note from R0"
    assert by_name["R5"][5] == "" and by_name["R1"][7] == "No"
    assert by_name["R0"][6] == "1"  # typed after the restart
    assert by_name["R1"][6] == "2"
    assert by_name["R3"][2] == "Business" and by_name["R3"][3] == "en"
    farid = await harness.coordinator(invitation, "fa", name="Farid")
    await step(harness, farid, "/surveyresults", send=True)
    await step(harness, farid, lambda label: label.startswith("خیابان ما"))
    await step(harness, farid, tr(farid, "Export XLSX"))
    book = openpyxl.load_workbook(io.BytesIO(farid.document(farid.last)))
    sheet = book.worksheets[0]
    assert sheet.sheet_view.rightToLeft is True
    assert sheet.cell(1, 5).value == "1. بزرگ‌ترین مشکل چیست؟"
    assert sheet.max_row == 19
    column = [sheet.cell(r, 5).value for r in range(2, 20)]
    assert column.count("پارک‌ها") == expected_q1[2]
    summary = book.worksheets[1]
    assert summary.sheet_view.rightToLeft is True
    assert [summary.cell(r, 2).value for r in range(2, 5)] == expected_q1

    # Closing: answers and changes after it are refused; nothing changes.
    await step(harness, cora, "/surveyresults", send=True)
    await step(harness, cora, lambda label: label.startswith("Our street in 2027"))
    await step(harness, cora, "Close the survey")
    await step(harness, cora, "Yes, close it")
    late = residents[18]
    await step(harness, late, tr(late, "Answer the survey"))
    assert late.last_answer == tr(late, flow.CLOSED)
    assert await press(harness, r0, Choose(survey.id, q1.id, 1).pack()) == tr(r0, flow.CLOSED)
    await step(harness, r0, "/surveys", send=True)
    assert r0.texts()[-1] == tr(r0, "No survey is open right now.")
    assert len(await store.finished_responses(harness.db, survey.id)) == 18


SURVEY_YAML = """\
# A needs survey in four languages.
title:
  en: Green Street needs
  fa: نیازهای خیابان سبز
  kk: Жасыл көше қажеттіліктері
  he: צרכי הרחוב הירוק
intro:
  en: Five minutes, anonymous.
  fa: پنج دقیقه، بی‌نام.
anonymous: true
closes: {closes}
questions:
  - type: single
    text:
      en: What should be fixed first?
      fa: چه چیزی اول باید درست شود؟
      kk: Алдымен не жөнделуі керек?
      he: מה צריך לתקן קודם?
    options:
      - {{en: Roads, fa: جاده‌ها, kk: Жолдар, he: כבישים}}
      - {{en: Lighting, fa: روشنایی, kk: Жарық, he: תאורה}}
  - type: scale
    text: How safe do you feel?
  - type: text
    required: false
    text:
      en: Anything else?
      he: עוד משהו?
"""


async def test_survey_from_file_anonymous(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    residents = await _residents(harness, invitation, 6)
    closes = (utcnow() + timedelta(days=10)).strftime("%Y-%m-%d %H:%M")

    # Malformed files: the answer names the line or the field; nothing is created.
    broken = SURVEY_YAML.format(closes=closes).replace("      - {en: Lighting", "    - {en: Li")
    await cora.send_document("survey.yaml", broken.encode())
    await harness.settle()
    assert "The survey file has a problem, so nothing was created." in cora.texts()[-1]
    assert "Line 21: This is not valid YAML" in cora.texts()[-1]
    no_options = SURVEY_YAML.format(closes=closes).replace("    options:", "    choices:")
    await cora.send_document("survey.yml", no_options.encode())
    await harness.settle()
    assert "Line 19, field questions[1].choices: Unknown field" in _plain(cora.texts()[-1])
    await cora.send_document("survey.json", b'{"title": "T",\n "questions": [\n  {"type": "x"'
                                            b', "text": "Q"}\n ]\n}')
    await harness.settle()
    assert "Line 3, field questions[1].type: The type must be one of" in _plain(
        cora.texts()[-1])
    await cora.send_document("survey.json", b'{"title": "T",\n "questions": [,]}')
    await harness.settle()
    assert "Line 2: This is not valid JSON" in cora.texts()[-1]
    await cora.send_document("survey.yaml", SURVEY_YAML.format(closes="2020-01-01").encode())
    await harness.settle()
    assert "Line 11, field closes: The closing time must be after" in _plain(
        cora.texts()[-1])
    assert await store.of_community(harness.db, invitation.community.id) == []

    # A good file gets the preview; publishing opens it.
    await cora.send_document("survey.yaml", SURVEY_YAML.format(closes=closes).encode())
    await harness.settle()
    assert "Languages: English, فارسی, עברית, Қазақ тілі" in cora.texts()[-1]
    await step(harness, cora, "Publish")
    (survey,) = await store.of_community(harness.db, invitation.community.id)
    assert survey.anonymous and survey.closes_at is not None
    q1, q2, q3 = survey.questions
    kk = residents[1]
    assert "Жасыл көше қажеттіліктері" in kk.texts()[-1]

    for i, person in enumerate(residents[:5]):
        await step(harness, person, tr(person, "Answer the survey"))
        if i == 1:
            assert "Алдымен не жөнделуі керек?" in person.texts()[-1]
        await press(harness, person, Choose(survey.id, q1.id, i % 2).pack())
        await press(harness, person, Choose(survey.id, q2.id, i + 1).pack())
        await step(harness, person, f"Secret {i}", send=True)
        assert person.texts()[-1] == tr(person, "Thank you! Your anonymous answers are saved.")

    # Nothing in the database links an answer to a person.
    rows = await harness.db.fetchall(
        "SELECT * FROM survey_responses WHERE survey_id = ?", (survey.id,))
    assert len(rows) == 5
    assert all(r["respondent_id"] is None and r["language"] is None and r["updated_at"] is None
               for r in rows)
    ids = {person.id for person in residents}
    for row in await harness.db.fetchall("SELECT * FROM survey_answers"):
        assert row["response_id"] not in ids
    assert await store.participants(harness.db, survey.id) == {p.id for p in residents[:5]}
    texts = sorted(r.answers[q3.id] for r in await store.finished_responses(harness.db,
                                                                             survey.id))
    assert texts == [f"Secret {i}" for i in range(5)]
    # It cannot be answered twice (nor changed).
    first = residents[0]
    await step(harness, first, tr(first, "Answer the survey"))
    assert first.last_answer == tr(first, "You have answered this anonymous survey. Its answers"
                                          " are not linked to you, so they cannot be changed.")
    assert len(await store.finished_responses(harness.db, survey.id)) == 5
    # A broadcast can address those who have not answered yet.
    community = invitation.community
    audience = await broadcast_flow.recipients(harness.db, community, f"nosurvey:{survey.id}")
    assert {u.id for u in audience} == {residents[5].id, cora.id}

    # The scheduler reminds the one who has not answered a day before closing, then closes
    # (here: open for ten days, five hours left; a shorter survey hears half-way).
    await harness.db.execute("UPDATE surveys SET opens_at = ?, closes_at = ? WHERE id = ?",
                             (to_db(utcnow() - timedelta(days=10)),
                              to_db(utcnow() + timedelta(hours=5)), survey.id))
    await harness.restart()
    last = residents[5]
    await last.wait_for(tr(last, "Reminder: the survey <b>{title}</b> closes on {when}. Your"
                                 " answers count.", title="", when="")[:10])
    assert all("Reminder" not in text for text in residents[0].texts())
    await harness.db.execute("UPDATE surveys SET closes_at = ? WHERE id = ?",
                             (to_db(utcnow() - timedelta(seconds=1)), survey.id))
    await harness.restart()
    await cora.wait_for("has closed with 5 responses")
    assert tr(cora, "Results") in cora.buttons()
    await last.wait_for(tr(last, "Thank you to everyone who took part."))
    closed = await store.get(harness.db, survey.id)
    assert closed is not None and closed.status == "closed"


async def test_scheduled_survey_opens_on_time(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "he", name="Cora")
    resident = await harness.resident(invitation, "kk", name="Aigerim")
    opens = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%d")
    await cora.send_document("s.json", json.dumps({
        "title": {"he": "סקר", "kk": "Сауалнама"}, "opens": opens,
        "questions": [{"type": "yesno", "text": {"he": "האם?", "kk": "Ма?"}}]}).encode())
    await harness.settle()
    await step(harness, cora, tr(cora, "Publish"))
    (survey,) = await store.of_community(harness.db, invitation.community.id)
    assert survey.status == "scheduled"
    await step(harness, resident, "/surveys", send=True)
    assert resident.texts()[-1] == tr(resident, "No survey is open right now.")
    await harness.db.execute("UPDATE surveys SET opens_at = ? WHERE id = ?",
                             (to_db(utcnow() - timedelta(minutes=1)), survey.id))
    await harness.restart()
    await resident.wait_for("Сауалнама")
    await step(harness, resident, tr(resident, "Answer the survey"))
    await step(harness, resident, tr(resident, "Yes"))
    assert resident.texts()[-1] == tr(resident, "Thank you! Your answers are saved. You can"
                                                " change them until the survey closes:"
                                                " /surveys")
    # A scheduled survey can be cancelled before it opens (here: a second one).
    await cora.send_document("s.json", json.dumps({
        "title": "Later", "opens": opens,
        "questions": [{"type": "yesno", "text": "?"}]}).encode())
    await harness.settle()
    await step(harness, cora, tr(cora, "Publish"))
    await step(harness, cora, "/surveyresults", send=True)
    await step(harness, cora, lambda label: label.startswith("Later"))
    await step(harness, cora, tr(cora, "Cancel the survey"))
    await step(harness, cora, tr(cora, "Yes, cancel it"))
    later = (await store.of_community(harness.db, invitation.community.id))[0]
    assert later.status == "closed"
    assert await press(harness, cora, Close(later.id).pack()) == tr(cora, flow.CLOSED)
    # A resident cannot build.
    await step(harness, resident, "/newsurvey", send=True)
    assert resident.texts()[-1] == tr(resident, "Only coordinators of this community can do"
                                                " that.")


# -- the interaction layer: stale, forged and foreign buttons ---------------------------------

EVERY_KIND: dict[str, Any] = {
    "title": "Every kind", "intro": "Hello.",
    "questions": [
        {"type": "single", "text": "One?", "options": ["a", "b", "c"]},
        {"type": "multiple", "text": "Some?", "options": ["a", "b", "c"], "max": 2},
        {"type": "scale", "text": "How much?"},
        {"type": "yesno", "text": "Yes?", "required": False},
        {"type": "text", "text": "Why?", "required": False},
    ],
}


async def _from_file(harness: Harness, coordinator: Person, survey: dict[str, Any],
                     ) -> store.Survey:
    """A survey published from a JSON file by ``coordinator``."""
    await coordinator.send_document("s.json", json.dumps(survey).encode())
    await harness.settle()
    await step(harness, coordinator, tr(coordinator, "Publish"))
    community = await _community_id(harness, coordinator)
    return (await store.of_community(harness.db, community))[0]


async def _snapshot(harness: Harness) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but PTB's own persistence (which rewrites what it holds)."""
    await harness.settle()
    tables = [r["name"] for r in await harness.db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'ptb_%'"
        " AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: sorted((tuple(r) for r in await harness.db.fetchall(
        f"SELECT * FROM {name}")), key=repr) for name in tables}


async def test_a_builder_button_of_an_older_message_never_drives_the_current_step(
        harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    await step(harness, cora, "/newsurvey", send=True)
    await step(harness, cora, "Title", send=True)
    await step(harness, cora, "/skip", send=True)
    kinds = cora.last
    yes_no = _data(kinds, "Yes / no")
    await step(harness, cora, "Single choice")
    assert cora.texts()[-2:] == ["Question 1: Single choice",
                                 "Send the question (one line per language if you like)."]
    await harness.restart()  # the draft is kept: the next answer reaches the same step
    await step(harness, cora, "Q?", send=True)
    await step(harness, cora, "a\nb", send=True)
    # The kinds were on an older message (a client may still show them): nothing changes.
    assert await press(harness, cora, yes_no) == tr(cora, "This button no longer works.")
    assert cora.texts()[-1] == "Must everyone answer this question?"
    await step(harness, cora, "Required")
    assert cora.last_answer == "Question added."
    await step(harness, cora, "Done adding questions")
    assert cora.texts()[-2:] == ["1 question.", tr(cora, ANONYMOUS_QUESTION)]
    # A new /newsurvey drops the draft; the buttons of the first stop working.
    anonymous = _data(cora.last, "Anonymous")
    await step(harness, cora, "/newsurvey", send=True)
    assert await press(harness, cora, anonymous) == tr(cora, "This button no longer works.")
    assert cora.texts()[-1].startswith("New survey. Send its title.")
    await step(harness, cora, "/cancel", send=True)
    assert cora.texts()[-1] == "Stopped. Nothing was published."
    assert await store.of_community(harness.db, invitation.community.id) == []


def _data(message: dict[str, Any], label: str) -> str:
    """The callback data of the button ``label`` on ``message``."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return str(next(b["callback_data"] for row in rows for b in row if b["text"] == label))


ANONYMOUS_QUESTION = ("Should answers be anonymous? Anonymous answers are stored with no link"
                      " to the person.")


async def test_every_builder_step_checks_the_role(harness: Harness) -> None:
    """Demoted half-way, a coordinator can neither type the next answer nor tap one."""
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "kk", name="Cora")
    await step(harness, cora, "/newsurvey", send=True)
    await step(harness, cora, "Title", send=True)
    await step(harness, cora, "/skip", send=True)
    await community_store.set_role(harness.db, invitation.community.id, cora.id, "resident")
    only = tr(cora, "Only coordinators of this community can do that.")
    await step(harness, cora, tr(cora, "Yes / no"))
    assert cora.last_answer == only
    await community_store.set_role(harness.db, invitation.community.id, cora.id, "coordinator")
    await step(harness, cora, tr(cora, "Yes / no"))
    await community_store.set_role(harness.db, invitation.community.id, cora.id, "resident")
    await step(harness, cora, "Q?", send=True)
    assert cora.texts()[-1] == only
    await cora.send_document("s.json", json.dumps(EVERY_KIND).encode())
    await harness.settle()
    assert cora.texts()[-1] == only
    assert await store.of_community(harness.db, invitation.community.id) == []


async def test_pausing_and_typing_while_answering(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    rita = await harness.resident(invitation, "he", name="Rita")
    survey = await _from_file(harness, cora, EVERY_KIND)
    q1 = survey.questions[0]
    await step(harness, rita, tr(rita, "Answer the survey"))
    assert rita.texts()[-1].startswith("\u2068Hello.\u2069\n\n")  # the introduction first
    await step(harness, rita, "b", send=True)  # typed where buttons are asked
    assert rita.texts()[-2] == tr(rita, "Please answer with the buttons under the question.")
    assert _at(rita, 1, 5) in rita.texts()[-1]
    await step(harness, rita, "/cancel", send=True)
    assert rita.texts()[-1] == tr(rita, "Paused. Your answers so far are kept; /surveys"
                                        " continues where you stopped.")
    await step(harness, rita, "b", send=True)  # nothing is being answered now
    assert rita.texts()[-1] == tr(rita, "I did not expect a message here. Send /help to see"
                                        " what you can do.")
    # The buttons still work after pausing (they carry their survey and question), and
    # typing works again once a question is shown.
    await press(harness, rita, Choose(survey.id, q1.id, 1).pack())
    assert _at(rita, 2, 5) in rita.texts()[-1]
    await press(harness, rita, Tick(survey.id, survey.questions[1].id, 0).pack())
    await step(harness, rita, tr(rita, "Done"))
    await step(harness, rita, "7", send=True)
    assert rita.texts()[-2] == tr(rita, "Please answer with a number from 1 to 5, or tap one of"
                                        " the buttons.")
    await step(harness, rita, "4", send=True)
    assert _at(rita, 4, 5) in rita.texts()[-1]
    response = await store.response_of(harness.db, survey.id, rita.id)
    assert response is not None and response.answers == {
        q1.id: 1, survey.questions[1].id: [0], survey.questions[2].id: 4}
    # Closed meanwhile: typed text is no longer taken as an answer.
    await harness.db.execute("UPDATE surveys SET status = 'closed' WHERE id = ?", (survey.id,))
    await step(harness, rita, "Because", send=True)
    assert rita.texts()[-1] == tr(rita, flow.NOT_ANSWERING)
    await step(harness, rita, "Because", send=True)
    assert rita.texts()[-1] == tr(rita, "I did not expect a message here. Send /help to see"
                                        " what you can do.")


async def test_forged_foreign_and_closed_buttons_are_refused(harness: Harness) -> None:
    green = await harness.new_community()
    cora = await harness.coordinator(green, "en", name="Cora")
    rita = await harness.resident(green, "en", name="Rita")
    blue = await harness.new_community("Blue Street")
    bob = await harness.coordinator(blue, "en", name="Bob")
    foreign = await _from_file(harness, bob, EVERY_KIND)
    ours = await _from_file(harness, cora, EVERY_KIND)
    closed = await _from_file(harness, cora, {**EVERY_KIND, "title": "Done"})
    await step(harness, cora, "/surveyresults", send=True)
    await step(harness, cora, lambda label: label.startswith("Done"))
    await step(harness, cora, "Close the survey")
    await step(harness, cora, "Yes, close it")
    before = await _snapshot(harness)
    q = ours.questions[0]
    stale, not_available = tr(rita, "This button no longer works."), tr(rita, flow.NOT_AVAILABLE)
    only = tr(rita, "Only coordinators of this community can do that.")
    for person, data, expected in (
        # Crafted but legal-looking data: huge, negative, missing or extra parts.
        (rita, "survey:choose:99999999999999999999:1:0", stale),
        (rita, f"survey:choose:{ours.id}:{q.id}:-1", stale),
        (rita, f"survey:choose:{ours.id}:{q.id}", stale),
        (rita, f"survey:choose:{ours.id}:{q.id}:0:0", stale),
        (rita, "survey:answer:", stale), (rita, "survey:answer", stale),
        (rita, f"survey:answer:{2**63}", stale), (rita, "survey:", stale),
        (cora, f"survey:export:{ours.id}:pdf", stale), (cora, "survey:results:0", stale),
        (cora, f"form:pick:xyz:1:{ours.id}", stale),
        # Valid shape, but ids that are not there or not ours.
        (rita, Answer(2**63 - 1).pack(), not_available),
        (rita, Answer(foreign.id).pack(), not_available),
        (rita, Choose(foreign.id, foreign.questions[0].id, 0).pack(), not_available),
        (rita, Choose(ours.id, q.id, 0).pack(), not_available),  # not begun yet
        (cora, ShowResults(foreign.id).pack(), not_available),
        (cora, NotAnswered(foreign.id).pack(), not_available),
        (cora, Remind(foreign.id).pack(), not_available),
        (cora, Close(foreign.id).pack(), not_available),
        (cora, Export(foreign.id, "csv").pack(), not_available),
        # Coordinators' buttons pressed by a resident.
        (rita, ShowResults(ours.id).pack(), only), (rita, Close(ours.id).pack(), only),
        (rita, Remind(ours.id).pack(), only), (rita, Export(ours.id, "xlsx").pack(), only),
        # A closed survey.
        (rita, Answer(closed.id).pack(), tr(rita, flow.CLOSED)),
        (rita, Choose(closed.id, closed.questions[0].id, 0).pack(), tr(rita, flow.CLOSED)),
        (cora, Remind(closed.id).pack(), tr(cora, flow.CLOSED)),
        (cora, Close(closed.id).pack(), tr(cora, flow.CLOSED)),
    ):
        assert await press(harness, person, data) == expected, data
        assert person.last_tap_answered, data
    # Once begun, a button under another question (or another survey's) is stale.
    await press(harness, rita, Answer(ours.id).pack())
    assert _at(rita, 1, 5) in rita.texts()[-1]
    already = tr(rita, flow.ALREADY)
    for data in (Choose(ours.id, ours.questions[1].id, 0).pack(),
                 Back(ours.id, foreign.questions[0].id).pack(),
                 Skip(ours.id, closed.questions[0].id).pack()):
        assert await press(harness, rita, data) == already, data
    # Out of range, or not the kind, for the question it is under.
    assert await press(harness, rita, Choose(ours.id, q.id, 3).pack()) == not_available
    assert await press(harness, rita, Tick(ours.id, q.id, 0).pack()) == not_available
    assert await press(harness, rita, Skip(ours.id, q.id).pack()) == tr(
        rita, "This question needs an answer.")
    after = await _snapshot(harness)
    assert {k: v for k, v in after.items() if k != "survey_responses"} == {
        k: v for k, v in before.items() if k != "survey_responses"}
    assert len(after["survey_responses"]) == len(before["survey_responses"]) + 1  # begun


def _mutations(real: list[str], ids: list[int]) -> st.SearchStrategy[str]:
    """Real callback data, broken: parts dropped or added, numbers made huge, negative or
    not numbers, ids swapped for another community's, a closed survey's or none at all."""
    bad = ["-1", "0x1", "", "1.5", "٣", "+1", "01", str(2**63), "99999999999999999999",
           str(2**63 - 1), "x" * 40]

    def mutate(data: str, how: str, index: int, other: str) -> str:
        head, verb, *fields = data.split(":")
        if how == "drop" and fields:
            del fields[index % len(fields)]
        elif how == "add" or not fields:
            fields.insert(index % (len(fields) + 1), other)
        elif how == "bad":
            fields[index % len(fields)] = other
        elif how == "prefix":
            head = {0: "surveys", 1: "Survey", 2: "sv", 3: "form"}[index % 4]
        return ":".join([head, verb, *fields])

    def swap(data: str, survey: int) -> str:  # another survey's id in the survey's place
        head, verb, *fields = data.split(":")
        if head != "survey" or not fields:
            return data + ":1"
        return ":".join([head, verb, str(survey), *fields[1:]])

    broken = st.builds(mutate, st.sampled_from(real),
                       st.sampled_from(["drop", "add", "bad", "prefix"]),
                       st.integers(0, 5), st.sampled_from(bad + [str(i) for i in ids]))
    swapped = st.builds(swap, st.sampled_from(real), st.sampled_from(ids))
    return st.one_of(broken, swapped).filter(lambda data: data not in real)


async def test_mutated_buttons_are_answered_and_change_nothing(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Every real button of the capability, broken at random: each tap is answered, nothing
    fails on our side, and the database does not change."""
    green = await harness.new_community()
    cora = await harness.coordinator(green, "en", name="Cora")
    rita = await harness.resident(green, "fa", name="Rita")
    blue = await harness.new_community("Blue Street")
    bob = await harness.coordinator(blue, "en", name="Bob")
    foreign = await _from_file(harness, bob, EVERY_KIND)
    closed = await _from_file(harness, cora, {**EVERY_KIND, "title": "Done"})
    await step(harness, cora, "/surveyresults", send=True)
    await step(harness, cora, lambda label: label.startswith("Done"))
    await step(harness, cora, "Close the survey")
    await step(harness, cora, "Yes, close it")
    ours = await _from_file(harness, cora, EVERY_KIND)
    seen: set[str] = set()

    def look(person: Person) -> None:  # the buttons on offer now (edits replace them)
        seen.update(b["callback_data"] for m in person.messages
                    for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
                    for b in row
                    if b.get("callback_data", "").startswith(("survey:", "form:pick:")))

    # Rita is half-way; Cora looks at the results and is building another survey.
    q1, q2, q3, _q4, _q5 = ours.questions
    await press(harness, rita, Answer(ours.id).pack())
    look(rita)
    await press(harness, rita, Choose(ours.id, q1.id, 2).pack())
    await press(harness, rita, Tick(ours.id, q2.id, 1).pack())
    look(rita)
    await press(harness, rita, Next(ours.id, q2.id).pack())
    await press(harness, rita, Choose(ours.id, q3.id, 3).pack())
    look(rita)
    await step(harness, cora, "/surveyresults", send=True)
    await step(harness, cora, lambda label: label.startswith("Every kind"))
    await step(harness, cora, "/newsurvey", send=True)
    await step(harness, cora, "Another", send=True)
    await step(harness, cora, "/skip", send=True)
    look(cora)
    real = sorted(seen)
    assert {data.split(":")[1] for data in real} >= {
        "answer", "choose", "tick", "next", "skip", "back", "results", "missing", "remind",
        "close", "export", "pick"}
    ids = [foreign.id, closed.id, foreign.questions[0].id, closed.questions[1].id, 2**62]
    samples: list[str] = []

    @settings(max_examples=160, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_mutations(real, ids))
    def collect(data: str) -> None:
        samples.append(data)

    collect()
    before = await _snapshot(harness)
    caplog.set_level(logging.ERROR)
    for index, data in enumerate(dict.fromkeys(samples)):
        person = (rita, cora)[index % 2]
        if len(data.encode()) > 64:
            continue  # Telegram never sends more
        await press(harness, person, data)
        assert person.last_tap_answered, data
        assert person.last_answer != tr(person, "Sorry, something went wrong on our side."
                                                " Please try again in a moment."), data
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert await _snapshot(harness) == before
