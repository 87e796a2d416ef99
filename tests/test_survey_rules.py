"""Survey rules without Telegram: typed multilingual text, the file format and its faults,
answers that fit each kind of question, and the summaries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.flows import survey as flow
from bot.flows.errors import Refused
from bot.flows.survey import SpecError
from bot.flows.typed import to_int
from storage.db import utcnow
from storage.survey import Question, Response, Survey

README = Path(__file__).resolve().parent.parent / "README.md"


def _read(text: str, name: str = "s.yaml") -> flow.Spec:
    return flow.read_file(name, text.encode(), "fa", "Asia/Tehran")


def _fault(text: str, name: str = "s.yaml") -> SpecError:
    with pytest.raises(SpecError) as caught:
        _read(text, name)
    return caught.value


def test_readme_example_is_a_valid_survey() -> None:
    example = re.search(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert example is not None
    opens, closes = ((utcnow() + timedelta(days=d)).strftime("%Y-%m-%d") for d in (30, 40))
    text = re.sub(r"opens: \S+ \S+", f"opens: {opens}", example[1])
    text = re.sub(r"closes: \S+ \S+", f"closes: {closes}", text)
    spec = _read(text)
    assert spec.anonymous and set(spec.title) == {"fa", "kk", "he", "en"}
    assert [q["kind"] for q in spec.questions] == ["single", "multiple", "scale", "yesno",
                                                    "text"]
    assert spec.questions[1]["max_choices"] == 2 and spec.questions[4]["required"] is False


def test_faults_name_their_line_and_field() -> None:
    fault = _fault("title: T\nquestions:\n  - type: scale\n    text: Q\n    max: 3\n")
    assert (fault.line, fault.path) == (5, "questions[1].max")
    fault = _fault("title: {xx: T}\nquestions: []\n")
    assert (fault.line, fault.path) == (1, "title.xx")
    fault = _fault("title: T\nquestions:\n  - type: multiple\n    text: Q\n"
                   "    options: [a, b]\n    max: 5\n")
    assert (fault.line, fault.path, fault.values) == (6, "questions[1].max", {"n": 2})
    fault = _fault("title: T\nquestions:\n  - type: single\n    text: Q\n    options: [a]\n")
    assert fault.path == "questions[1].options" and fault.line == 5
    fault = _fault("questions:\n  - {type: yesno, text: Q}\n")
    assert fault.path == "title"
    fault = _fault("title: T\nquestions:\n  - {type: yesno, text: Q, required: maybe}\n")
    assert fault.path == "questions[1].required"
    fault = _fault("title: T\nopens: tomorrow\nquestions:\n  - {type: yesno, text: Q}\n")
    assert (fault.line, fault.path) == (2, "opens")
    fault = _fault('{"title": "T", "questions": [{"type": "text", "text": ""}]}', "s.json")
    assert fault.path.startswith("questions[1].text") and fault.line == 1
    assert _fault("- just\n- a list\n").message == (
        "The file must describe one survey: a title and questions.")
    assert _fault("title: [unclosed\n").line == 2
    assert _fault("x" * (flow.MAX_FILE + 1)).message.startswith("The file is too large")
    with pytest.raises(SpecError):
        flow.read_file("s.yaml", b"\xff\xfe title", "fa", "UTC")


def test_typed_multilingual_text_and_options() -> None:
    assert flow.texts_from_lines("en: Roads\nfa: جاده‌ها", "he") == {"en": "Roads",
                                                                    "fa": "جاده‌ها"}
    assert flow.texts_from_lines("Just  text", "he") == {"he": "Just text"}
    assert flow.options_from_lines("Bus\n\nClinic\n", "kk") == [{"kk": "Bus"}, {"kk": "Clinic"}]
    assert flow.options_from_lines("en: A; B\nfa: الف; ب", "en") == [
        {"en": "A", "fa": "الف"}, {"en": "B", "fa": "ب"}]
    with pytest.raises(Refused):
        flow.options_from_lines("only one", "en")
    with pytest.raises(Refused):
        flow.texts_from_lines("x" * 501, "en")
    assert to_int("۳") == 3 and to_int("٤") == 4 and to_int("three") is None
    assert flow.parse_when("۲۰۲۶-۱۲-۰۱ ۱۸:۰۰", "Asia/Tehran").hour == 18
    with pytest.raises(Refused):
        flow.parse_when("next week", "UTC")


def _question(kind: str, options: int = 0, max_choices: int | None = None,
              required: bool = True, qid: int = 1) -> Question:
    return Question(id=qid, position=qid - 1, kind=kind, prompt={"en": "Q"},
                    options=[{"en": f"o{i}"} for i in range(options)],
                    max_choices=max_choices, required=required)


def test_answers_must_fit_the_question() -> None:
    scale, text = _question("scale"), _question("text")
    assert flow.typed_value(scale, "۵") == 5
    for wrong in ("6", "0", "quite", ""):
        with pytest.raises(Refused):
            flow.typed_value(scale, wrong)
    with pytest.raises(Refused) as caught:
        flow.typed_value(text, "x" * 4001)
    assert caught.value.values == {"length": 4001, "n": 4000}
    with pytest.raises(Refused):
        flow.typed_value(_question("single", 3), "Roads")
    single, yesno = _question("single", 3), _question("yesno")
    assert flow.choice_value(single, 2) == 2 and flow.choice_value(yesno, 0) is False
    assert flow.choice_value(yesno, 1) is True and flow.choice_value(_question("scale"), 5) == 5
    for forged in (3, -1, 2**63 - 1):
        with pytest.raises(Refused):
            flow.choice_value(single, forged)
    for forged in (0, 6):
        with pytest.raises(Refused):
            flow.choice_value(_question("scale"), forged)
    with pytest.raises(Refused):
        flow.choice_value(yesno, 2)
    multiple = _question("multiple", 4, max_choices=2)
    assert flow.toggled(multiple, [0], 3) == [0, 3]
    assert flow.toggled(multiple, [0, 3], 0) == [3]
    with pytest.raises(Refused):
        flow.toggled(multiple, [0, 3], 1)
    for forged in (4, -1):
        with pytest.raises(Refused):
            flow.toggled(multiple, [], forged)


def test_summaries() -> None:
    questions = [_question("single", 3, qid=1), _question("multiple", 3, 2, qid=2),
                 _question("scale", qid=3), _question("yesno", qid=4),
                 _question("text", required=False, qid=5)]
    survey = Survey(id=1, community_id=1, title={"en": "S"}, intro={}, anonymous=False,
                    status="open", opens_at=utcnow(), closes_at=None, created_by=None,
                    questions=questions)
    answers: list[dict[int, Any]] = [{1: 0, 2: [0, 2], 3: 5, 4: True, 5: "hi"},
                                     {1: 2, 2: [2], 3: 2, 4: False}, {1: 0, 3: 4, 4: True}]
    responses = [Response(id=i, survey_id=1, respondent_id=i, language="en", position=5,
                          finished=True, answers=a) for i, a in enumerate(answers)]
    single, multiple, scale, yesno, text = flow.summarise(survey, responses)
    assert single.counts == [2, 0, 1] and single.answered == 3
    assert multiple.counts == [1, 0, 2] and multiple.answered == 2
    assert scale.counts == [0, 1, 0, 1, 1] and scale.mean == pytest.approx(11 / 3)
    assert yesno.counts == [1, 2]
    assert text.texts == ["hi"] and text.answered == 1
    assert flow.bar(4, 10) == "▓▓▓▓░░░░░░" and flow.bar(0, 0) == "░" * 10
    assert flow.pick({"en": "E", "fa": "F"}, "kk", "fa") == "F"
    assert flow.pick({"en": "E"}, "kk", "fa") == "E"


def _survey(opens: datetime, closes: datetime | None) -> Survey:
    return Survey(id=1, community_id=1, title={"en": "S"}, intro={}, anonymous=False,
                  status="open", opens_at=opens, closes_at=closes, created_by=None,
                  questions=[])


def test_reminder_a_day_before_closing_or_half_way() -> None:
    """The rhythm votes and elections keep (bot/flows/schedule.py)."""
    opens = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert flow.reminder_at(_survey(opens, opens + timedelta(days=14))) == (
        opens + timedelta(days=13))
    assert flow.reminder_at(_survey(opens, opens + timedelta(hours=10))) == (
        opens + timedelta(hours=5))
    assert flow.reminder_at(_survey(opens, None)) is None
    assert flow.closing_after(opens, 7) == opens + timedelta(days=7)
    assert flow.closing_after(opens, 0) is None
