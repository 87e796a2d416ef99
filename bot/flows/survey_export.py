"""Survey results as files a coordinator opens in a spreadsheet: CSV and XLSX.

One row per counted response, one column per question, texts in the coordinator's language.
A named survey adds who answered and their stakeholder group; an anonymous one has nothing
that could point to a person. XLSX sheets read right to left for Persian and Hebrew.

Files are built from a stream of rows (:meth:`bot.flows.survey.Export.rows`) on a worker
thread: nothing holds the whole survey in memory but the finished file, and the XLSX
summary sheet is counted from the very rows written, so both sheets tell the same moment.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from itertools import islice
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from bot.flows.survey import Summary, pick, summary_of
from storage.survey import Question, Response, Row, Survey

Cell = str | int | float | None
WIDTH_SAMPLE = 50  # rows the XLSX column widths are measured on
_UNSEEN: Any = object()


def value_text(question: Question, value: Any, lang: str, default: str,
               yes_no: tuple[str, str]) -> Cell:
    """An answer as a spreadsheet cell: the option's text, a number, or what was typed."""
    if value is None:
        return None
    if question.kind in ("single", "multiple"):
        chosen = value if isinstance(value, list) else [value]
        return "; ".join(pick(question.options[i], lang, default) for i in chosen
                         if 0 <= i < len(question.options))
    if question.kind == "yesno":
        return yes_no[1] if value else yes_no[0]
    if question.kind == "scale":
        return int(value)
    return str(value)


class Tally:
    """Counts of each question's answers, kept as rows go by (for the summary sheet)."""

    def __init__(self, survey: Survey) -> None:
        self.questions = [q for q in survey.questions if q.kind != "text"]
        self.counts: dict[int, Counter[Any]] = {q.id: Counter() for q in self.questions}
        self.texts: Counter[int] = Counter()
        self.rows = 0

    def add(self, answers: dict[int, Any]) -> None:
        self.rows += 1
        for question_id, value in answers.items():
            if question_id in self.counts:
                self.counts[question_id][_key(value)] += 1
            else:
                self.texts[question_id] += 1

    def summaries(self, survey: Survey) -> list[Summary]:
        return [summary_of(q, [(list(v) if isinstance(v, tuple) else v, n)
                               for v, n in self.counts[q.id].items()])
                if q.kind != "text" else Summary(q, self.texts[q.id])
                for q in survey.questions]


def _key(value: Any) -> Any:
    """A choice, number or yes/no answer as a dictionary key (a multiple choice: a tuple)."""
    return tuple(value) if isinstance(value, list) else value


def labelled(rows: Iterable[Row], group: Callable[[str | None], str]) -> Iterator[Row]:
    """Rows with each member's stakeholder group key turned into its label."""
    for row in rows:
        yield row if row.name is None else replace(row, group=group(row.group))


def from_responses(responses: Iterable[Response],
                   people: dict[int, tuple[str, str | None]]) -> Iterator[Row]:
    """Rows from responses already in memory (a database with no second connection, such
    as an in-memory one); ``people``: name and group key by user id, for members."""
    for r in responses:
        person = people.get(r.respondent_id or 0) if r.respondent_id is not None else None
        yield Row(r.respondent_id, person[0] if person else None,
                  person[1] if person else None, r.language, r.answers)


def table(survey: Survey, responses: Iterable[Row], lang: str, default: str,
          headings: dict[str, str], yes_no: tuple[str, str],
          tally: Tally | None = None) -> Iterator[list[Cell]]:
    """The header row, then a row per response, one at a time (``tally`` counts them)."""
    fixed = ["number"] + ([] if survey.anonymous else ["name", "group", "language"])
    header: list[Cell] = [headings[f] for f in fixed]
    header += [f"{q.position + 1}. {pick(q.prompt, lang, default)}" for q in survey.questions]
    yield header
    # A choice's, number's or yes/no's cell, worked out once per distinct answer.
    cells: dict[int, dict[Any, Cell]] = {q.id: {} for q in survey.questions
                                         if q.kind != "text"}
    for number, response in enumerate(responses, start=1):
        row: list[Cell] = [number]
        if not survey.anonymous:
            row += [response.name or "", response.group or "", response.language]
        for q in survey.questions:
            value = response.answers.get(q.id)
            known = cells.get(q.id)
            if known is None or value is None:
                row.append(value_text(q, value, lang, default, yes_no))
                continue
            key = _key(value)
            cell = known.get(key, _UNSEEN)
            if cell is _UNSEEN:
                cell = known[key] = value_text(q, value, lang, default, yes_no)
            row.append(cell)
        if tally is not None:
            tally.add(response.answers)
        yield row


def to_csv(rows: Iterable[list[Cell]]) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read Persian and Hebrew right.

    Encoded a chunk of rows at a time: the text of the whole file is never held twice."""
    out = io.BytesIO()
    out.write("\ufeff".encode())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    rows = iter(rows)
    while chunk := list(islice(rows, 2000)):
        writer.writerows([["" if c is None else c for c in row] for row in chunk])
        out.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
    return out.getvalue()


def to_xlsx(rows: Iterable[list[Cell]], summaries: Callable[[], list[Summary]], lang: str,
            default: str, titles: dict[str, str], labels: Callable[[Summary], list[str]],
            right_to_left: bool) -> bytes:
    """A workbook with the responses and a summary sheet (counts per option, scale means).

    Written in openpyxl's write-only mode, row by row; ``summaries`` is asked once every
    row was written (a :class:`Tally` fed by ``rows`` gives the counts of those rows)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(titles["responses"][:31])
    sheet.sheet_view.rightToLeft = right_to_left
    rows = iter(rows)
    first = list(islice(rows, WIDTH_SAMPLE))  # the header and the rows widths come from
    for column in range(max((len(r) for r in first), default=0)):
        sheet.column_dimensions[get_column_letter(column + 1)].width = min(
            60, max(10, *(len(str(r[column] or "")) for r in first if column < len(r))))
    sheet.freeze_panes = "A2"
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    for index, row in enumerate(first):
        if index == 0:
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value)
                cell.font, cell.alignment = bold, wrap
                cells.append(cell)
            sheet.append(cells)
        else:
            sheet.append(row)
    for row in rows:
        sheet.append(row)
    summary = book.create_sheet(titles["summary"][:31])
    summary.sheet_view.rightToLeft = right_to_left
    summary.column_dimensions["A"].width = 60
    for item in summaries():
        heading = WriteOnlyCell(summary, f"{item.question.position + 1}. "
                                         f"{pick(item.question.prompt, lang, default)}")
        heading.font = bold
        summary.append([heading, item.answered])
        for label, count in zip(labels(item), item.counts, strict=True):
            summary.append([label, count])
        if item.mean is not None:
            summary.append([titles["mean"], round(item.mean, 2)])
        summary.append([])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
