"""Survey results as files a coordinator opens in a spreadsheet: CSV and XLSX.

One row per counted response, one column per question, texts in the coordinator's language.
A named survey adds who answered and their stakeholder group; an anonymous one has nothing
that could point to a person. XLSX sheets read right to left for Persian and Hebrew.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from bot.flows.survey import Summary, pick
from storage.survey import Question, Response, Survey

Cell = str | int | float | None


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


def table(survey: Survey, responses: list[Response], lang: str, default: str,
          headings: dict[str, str], person: Callable[[int], tuple[str, str]],
          yes_no: tuple[str, str]) -> list[list[Cell]]:
    """The header row, then a row per response. ``person(user_id)`` gives (name, group)."""
    fixed = ["number"] + ([] if survey.anonymous else ["name", "group", "language"])
    header: list[Cell] = [headings[f] for f in fixed]
    header += [f"{q.position + 1}. {pick(q.prompt, lang, default)}" for q in survey.questions]
    rows: list[list[Cell]] = [header]
    for number, response in enumerate(responses, start=1):
        row: list[Cell] = [number]
        if not survey.anonymous:
            name, group = person(response.respondent_id or 0)
            row += [name, group, response.language]
        row += [value_text(q, response.answers.get(q.id), lang, default, yes_no)
                for q in survey.questions]
        rows.append(row)
    return rows


def to_csv(rows: list[list[Cell]]) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read Persian and Hebrew right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([["" if c is None else c for c in row] for row in rows])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(rows: list[list[Cell]], summaries: list[Summary], lang: str, default: str,
            titles: dict[str, str], labels: Callable[[Summary], list[str]],
            right_to_left: bool) -> bytes:
    """A workbook with the responses and a summary sheet (counts per option, scale means)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = titles["responses"][:31]
    for row in rows:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for column in sheet.columns:
        letter = column[0].column_letter
        sheet.column_dimensions[letter].width = min(
            60, max(10, *(len(str(c.value or "")) for c in column[:50])))
    sheet.freeze_panes = "A2"
    summary = book.create_sheet(titles["summary"][:31])
    for item in summaries:
        summary.append([f"{item.question.position + 1}. "
                        f"{pick(item.question.prompt, lang, default)}", item.answered])
        summary.cell(summary.max_row, 1).font = Font(bold=True)
        for label, count in zip(labels(item), item.counts, strict=True):
            summary.append([label, count])
        if item.mean is not None:
            summary.append([titles["mean"], round(item.mean, 2)])
        summary.append([])
    summary.column_dimensions["A"].width = 60
    for worksheet in (sheet, summary):
        worksheet.sheet_view.rightToLeft = right_to_left
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
