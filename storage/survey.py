"""Surveys, their questions, responses and answers: SQL only."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiosqlite

from storage import personal
from storage.community import Membership, User, user_of
from storage.db import Database, from_db, to_db, utcnow

Texts = dict[str, str]  # language → text


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    position: int
    kind: str  # text | single | multiple | scale | yesno
    prompt: Texts
    options: list[Texts] = field(default_factory=list)
    max_choices: int | None = None
    required: bool = True


@dataclass(frozen=True, slots=True)
class Survey:
    id: int
    community_id: int
    title: Texts
    intro: Texts
    anonymous: bool
    status: str  # scheduled | open | closed
    opens_at: datetime
    closes_at: datetime | None
    created_by: int | None
    questions: list[Question]
    closed_at: datetime | None = None
    reopen_until: datetime | None = None  # closed by hand: it may be reopened until then


@dataclass(frozen=True, slots=True)
class Response:
    id: int
    survey_id: int
    respondent_id: int | None
    language: str | None
    position: int
    finished: bool
    answers: dict[int, Any]  # question id → value


def _question(row: aiosqlite.Row) -> Question:
    return Question(id=row["id"], position=row["position"], kind=row["kind"],
                    prompt=json.loads(row["prompt"]), options=json.loads(row["options"]),
                    max_choices=row["max_choices"], required=bool(row["required"]))


async def _survey(db: Database, row: aiosqlite.Row) -> Survey:
    questions = [_question(q) for q in await db.fetchall(
        "SELECT * FROM survey_questions WHERE survey_id = ? ORDER BY position", (row["id"],))]
    opens_at = from_db(row["opens_at"])
    assert opens_at is not None  # NOT NULL in the schema
    return Survey(id=row["id"], community_id=row["community_id"], title=json.loads(row["title"]),
                  intro=json.loads(row["intro"]), anonymous=bool(row["anonymous"]),
                  status=row["status"], opens_at=opens_at,
                  closes_at=from_db(row["closes_at"]), created_by=row["created_by"],
                  questions=questions, closed_at=from_db(row["closed_at"]),
                  reopen_until=from_db(row["reopen_until"]))


async def create(db: Database, community_id: int, created_by: int, *, title: Texts,
                 intro: Texts, anonymous: bool, opens_at: datetime | None,
                 closes_at: datetime | None, questions: list[dict[str, Any]]) -> Survey:
    """A survey with its questions; open at once unless ``opens_at`` is in the future."""
    now = utcnow()
    scheduled = opens_at is not None and opens_at > now
    async with db.transaction():
        survey_id = await db.execute(
            "INSERT INTO surveys (community_id, title, intro, anonymous, status, opens_at,"
            " closes_at, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (community_id, json.dumps(title, ensure_ascii=False),
             json.dumps(intro, ensure_ascii=False), int(anonymous),
             "scheduled" if scheduled else "open", to_db(opens_at if scheduled else now),
             to_db(closes_at), created_by, to_db(now)))
        await db.executemany(
            "INSERT INTO survey_questions (survey_id, position, kind, prompt, options,"
            " max_choices, required) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(survey_id, position, q["kind"], json.dumps(q["prompt"], ensure_ascii=False),
              json.dumps(q.get("options", []), ensure_ascii=False), q.get("max_choices"),
              int(q.get("required", True))) for position, q in enumerate(questions)])
    survey = await get(db, survey_id)
    assert survey is not None
    return survey


async def get(db: Database, survey_id: int) -> Survey | None:
    row = await db.fetchone("SELECT * FROM surveys WHERE id = ?", (survey_id,))
    return None if row is None else await _survey(db, row)


async def of_community(db: Database, community_id: int,
                       statuses: tuple[str, ...] = ("scheduled", "open", "closed"),
                       ) -> list[Survey]:
    """Newest first."""
    rows = await db.fetchall(
        f"SELECT * FROM surveys WHERE community_id = ? AND status IN"
        f" ({','.join('?' * len(statuses))}) ORDER BY id DESC", (community_id, *statuses))
    return [await _survey(db, r) for r in rows]


async def unclosed(db: Database) -> list[Survey]:
    """Surveys still to open or to close, in every community: their jobs after a start."""
    rows = await db.fetchall("SELECT * FROM surveys WHERE status IN ('scheduled', 'open')"
                             " ORDER BY id")
    return [await _survey(db, r) for r in rows]


async def mark_reminded(db: Database, survey_id: int) -> bool:
    return await db.execute_rowcount(
        "UPDATE surveys SET reminded = 1 WHERE id = ? AND reminded = 0", (survey_id,)) == 1


async def set_status(db: Database, survey_id: int, status: str, *, was: str) -> bool:
    """Move from ``was`` to ``status``; False when another step got there first."""
    return await db.execute_rowcount(
        "UPDATE surveys SET status = ?, closed_at = CASE WHEN ? = 'closed' THEN ? END,"
        " opens_at = CASE WHEN ? = 'open' AND opens_at > ? THEN ? ELSE opens_at END"
        " WHERE id = ? AND status = ?",
        (status, status, to_db(utcnow()), status, to_db(utcnow()), to_db(utcnow()),
         survey_id, was)) == 1


async def close_by_hand(db: Database, survey_id: int, *, was: str,
                        reopen_until: datetime) -> bool:
    """A coordinator closes it (or cancels it before it opened); it may be reopened until
    ``reopen_until``. False when it was no longer ``was``."""
    return await db.execute_rowcount(
        "UPDATE surveys SET status = 'closed', closed_at = ?, reopen_until = ?"
        " WHERE id = ? AND status = ?",
        (to_db(utcnow()), to_db(reopen_until), survey_id, was)) == 1


async def reopen(db: Database, survey_id: int, status: str) -> bool:
    """Back to ``status`` (open or scheduled) while the window to reopen lasts."""
    return await db.execute_rowcount(
        "UPDATE surveys SET status = ?, closed_at = NULL, reopen_until = NULL"
        " WHERE id = ? AND status = 'closed' AND reopen_until > ?",
        (status, survey_id, to_db(utcnow()))) == 1


async def keep_closed(db: Database, survey_id: int) -> bool:
    """No reopening any more (its closing is being announced now)."""
    return await db.execute_rowcount(
        "UPDATE surveys SET reopen_until = NULL WHERE id = ? AND status = 'closed'"
        " AND reopen_until IS NOT NULL", (survey_id,)) == 1


# -- answering ----------------------------------------------------------------------------


async def _answers(db: Database, response_id: int) -> dict[int, Any]:
    return {r["question_id"]: json.loads(r["value"]) for r in await db.fetchall(
        "SELECT question_id, value FROM survey_answers WHERE response_id = ?", (response_id,))}


async def response_of(db: Database, survey_id: int, user_id: int) -> Response | None:
    """The person's response (a named one, or the draft of an anonymous one)."""
    row = await db.fetchone("SELECT * FROM survey_responses WHERE survey_id = ?"
                            " AND respondent_id = ?", (survey_id, user_id))
    if row is None:
        return None
    return Response(id=row["id"], survey_id=survey_id, respondent_id=user_id,
                    language=row["language"], position=row["position"],
                    finished=bool(row["finished"]), answers=await _answers(db, row["id"]))


async def start(db: Database, survey_id: int, user_id: int, language: str) -> Response:
    await db.execute(
        "INSERT INTO survey_responses (survey_id, respondent_id, language, updated_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (survey_id, respondent_id) DO NOTHING",
        (survey_id, user_id, language, to_db(utcnow())))
    response = await response_of(db, survey_id, user_id)
    assert response is not None
    return response


async def move(db: Database, response_id: int, position: int) -> None:
    await db.execute("UPDATE survey_responses SET position = ?, updated_at = ? WHERE id = ?",
                     (position, to_db(utcnow()), response_id))


async def answer(db: Database, response_id: int, question_id: int, value: Any,
                 position: int) -> None:
    """Record (or replace) one answer, ``None`` clearing it, and move to ``position``."""
    async with db.transaction():
        if value is None:
            await db.execute("DELETE FROM survey_answers WHERE response_id = ?"
                             " AND question_id = ?", (response_id, question_id))
        else:
            await db.execute(
                "INSERT OR REPLACE INTO survey_answers (response_id, question_id, value)"
                " VALUES (?, ?, ?)", (response_id, question_id, json.dumps(value,
                                                                       ensure_ascii=False)))
        await move(db, response_id, position)


async def finish(db: Database, survey: Survey, response: Response) -> None:
    """Count the response and record participation. An anonymous survey's draft moves to a
    response with a random id and no person, and is deleted, in the same transaction."""
    assert response.respondent_id is not None
    async with db.transaction():
        if survey.anonymous:
            kept = secrets.randbits(62) + 1
            await db.execute("INSERT INTO survey_responses (id, survey_id, finished)"
                             " VALUES (?, ?, 1)", (kept, survey.id))
            await db.execute("INSERT INTO survey_answers (response_id, question_id, value)"
                             " SELECT ?, question_id, value FROM survey_answers"
                             " WHERE response_id = ?", (kept, response.id))
            await db.execute("DELETE FROM survey_responses WHERE id = ?", (response.id,))
        else:
            await db.execute("UPDATE survey_responses SET finished = 1, position = ?,"
                             " updated_at = ? WHERE id = ?",
                             (len(survey.questions), to_db(utcnow()), response.id))
        await db.execute("INSERT OR IGNORE INTO survey_participants (survey_id, user_id)"
                         " VALUES (?, ?)", (survey.id, response.respondent_id))


async def participants(db: Database, survey_id: int) -> set[int]:
    return {r["user_id"] for r in await db.fetchall(
        "SELECT user_id FROM survey_participants WHERE survey_id = ?", (survey_id,))}


async def took_part(db: Database, survey_id: int, user_id: int) -> bool:
    """Whether this person has finished the survey (one indexed row, not the whole list)."""
    return await db.fetchval("SELECT 1 FROM survey_participants WHERE survey_id = ?"
                             " AND user_id = ?", (survey_id, user_id)) is not None


async def finished_responses(db: Database, survey_id: int) -> list[Response]:
    """Every counted response with its answers, named ones first in the order given."""
    rows = await db.fetchall(
        "SELECT * FROM survey_responses WHERE survey_id = ? AND finished = 1"
        " ORDER BY respondent_id IS NULL, updated_at, id", (survey_id,))
    answers: dict[int, dict[int, Any]] = {r["id"]: {} for r in rows}
    for a in await db.fetchall(
            "SELECT a.response_id, a.question_id, a.value FROM survey_answers a"
            " JOIN survey_responses r ON r.id = a.response_id"
            " WHERE r.survey_id = ? AND r.finished = 1", (survey_id,)):
        answers[a["response_id"]][a["question_id"]] = json.loads(a["value"])
    return [Response(id=r["id"], survey_id=survey_id, respondent_id=r["respondent_id"],
                     language=r["language"], position=r["position"], finished=True,
                     answers=answers[r["id"]]) for r in rows]


# -- results at scale: aggregates in SQL, exports streamed -----------------------------------
#
# Nothing here loads a whole survey: counts are grouped in SQL over the answers' index (one
# statement per question, so the connection is released between them), and an export reads
# its rows from a cursor on a connection of its own, off the event loop.

_COUNTED = ("EXISTS (SELECT 1 FROM survey_responses r WHERE r.id = a.response_id"
            " AND r.finished = 1)")


async def counted(db: Database, survey_id: int) -> int:
    """How many responses were counted (finished)."""
    return int(await db.fetchval("SELECT COUNT(*) FROM survey_responses WHERE survey_id = ?"
                                 " AND finished = 1", (survey_id,)))


async def participant_count(db: Database, survey_id: int) -> int:
    """How many have finished the survey (members or not any more)."""
    return int(await db.fetchval("SELECT COUNT(*) FROM survey_participants"
                                 " WHERE survey_id = ?", (survey_id,)))


async def tally(db: Database, question_id: int) -> list[tuple[Any, int]]:
    """Each distinct answer given to a question in a counted response, decoded, with how
    many gave it (a multiple choice's distinct combinations, not its options)."""
    rows = await db.fetchall(
        f"SELECT a.value, COUNT(*) FROM survey_answers a WHERE a.question_id = ?"
        f" AND {_COUNTED} GROUP BY a.value", (question_id,))
    return [(json.loads(r[0]), int(r[1])) for r in rows]


async def answer_count(db: Database, question_id: int) -> int:
    """How many counted responses answered a question."""
    return int(await db.fetchval(
        f"SELECT COUNT(*) FROM survey_answers a WHERE a.question_id = ? AND {_COUNTED}",
        (question_id,)))


async def newest_answers(db: Database, survey_id: int, question_id: int,
                         limit: int) -> list[Any]:
    """Up to ``limit`` answers to a question from the latest counted named responses (an
    anonymous survey has no times: a few of its answers, in no meaningful order)."""
    rows = await db.fetchall(
        "SELECT a.value FROM survey_responses r JOIN survey_answers a"
        " ON a.response_id = r.id AND a.question_id = ?"
        " WHERE r.survey_id = ? AND r.finished = 1"
        " ORDER BY r.respondent_id IS NULL DESC, r.updated_at DESC, r.id DESC LIMIT ?",
        (question_id, survey_id, limit))
    return [json.loads(r[0]) for r in rows]


async def groups(db: Database, community_id: int) -> list[str | None]:
    """The community's stakeholder groups in display order, then None (members in none):
    read from the short list of groups, not from the members."""
    return [r[0] for r in await db.fetchall(
        "SELECT key FROM stakeholder_groups WHERE community_id = ? ORDER BY position, key",
        (community_id,))] + [None]


async def group_share(db: Database, community_id: int, survey_id: int,
                      group: str | None) -> tuple[int, int, str | None]:
    """(took part, members, its first member: when they joined and their id, as sortable
    text) of one stakeholder group of the community (None: no group)."""
    row = await db.fetchone(
        "SELECT COUNT(*), COUNT(p.user_id), MIN(printf('%s %020d', m.joined_at, m.user_id))"
        " FROM memberships m"
        " LEFT JOIN survey_participants p ON p.survey_id = ? AND p.user_id = m.user_id"
        " WHERE m.community_id = ? AND m.stakeholder_group IS ?",
        (survey_id, community_id, group))
    assert row is not None
    return int(row[1]), int(row[0]), row[2]


async def not_finished_count(db: Database, community_id: int, survey_id: int) -> int:
    """How many members have not finished the survey."""
    return int(await db.fetchval(
        "SELECT COUNT(*) FROM memberships m WHERE m.community_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM survey_participants p WHERE p.survey_id = ? AND p.user_id = m.user_id)",
        (community_id, survey_id)))


_MEMBER_COLUMNS = ("m.community_id, m.user_id, m.role, m.stakeholder_group, m.joined_at,"
                   " u.id, u.first_name, u.last_name, u.username, u.language,"
                   " u.language_chosen, u.reachable, u.current_community_id, u.created_at")


async def not_finished(db: Database, community_id: int, survey_id: int, *, after: int = 0,
                       limit: int = 1000) -> list[tuple[Membership, User]]:
    """Members who have not finished the survey, by user id, ``limit`` after user ``after``
    (a page: call again with the last id for the next)."""
    rows = await db.fetchall(
        f"SELECT {_MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.community_id = ? AND m.user_id > ? AND NOT EXISTS"
        " (SELECT 1 FROM survey_participants p WHERE p.survey_id = ? AND p.user_id = m.user_id)"
        " ORDER BY m.user_id LIMIT ?", (community_id, after, survey_id, limit))
    return [(Membership(community_id=r["community_id"], user_id=r["user_id"], role=r["role"],
                        stakeholder_group=r["stakeholder_group"],
                        joined_at=from_db(r["joined_at"])), user_of(r)) for r in rows]


@dataclass(frozen=True, slots=True)
class Row:
    """One counted response as an export reads it: who (named surveys, while a member:
    their name and group), their language, and the answers by question id."""

    respondent_id: int | None
    name: str | None
    group: str | None
    language: str | None
    answers: dict[int, Any]


def read_counted(path: str, survey_id: int, community_id: int) -> Iterator[Row]:
    """Every counted response in export order (named ones by time, then anonymous ones),
    streamed from one statement on a connection of its own: blocking, for a worker thread.
    One statement reads one snapshot of the database (WAL), whatever the bot writes
    meanwhile; memory holds one response at a time, not the survey."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA query_only=ON")
        cursor = conn.execute(
            "SELECT r.id, r.respondent_id, r.language, m.user_id, u.first_name, u.last_name,"
            " u.username, m.stakeholder_group, a.question_id, a.value"
            " FROM survey_responses r"
            " LEFT JOIN memberships m ON m.community_id = ? AND m.user_id = r.respondent_id"
            " LEFT JOIN users u ON u.id = m.user_id"
            " LEFT JOIN survey_answers a ON a.response_id = r.id"
            " WHERE r.survey_id = ? AND r.finished = 1"
            " ORDER BY r.respondent_id IS NULL, r.updated_at, r.id", (community_id, survey_id))
        cursor.arraysize = 2000
        current: int | None = None
        row: Row | None = None
        known: dict[str, Any] = {}
        while batch := cursor.fetchmany():
            for (rid, respondent, language, member, first, last, username, group,
                 question_id, value) in batch:
                if rid != current:
                    if row is not None:
                        yield row
                    current = rid
                    name = None if member is None else (
                        " ".join(p for p in (first, last) if p) or username or str(member))
                    row = Row(respondent, name, group, language, {})
                assert row is not None
                if question_id is not None:
                    # Choices, numbers and yes/no repeat: each distinct one is decoded once
                    # (the rows share it, so a reader must not change it).
                    decoded = known.get(value) if value[:1] != '"' else None
                    if decoded is None:
                        decoded = json.loads(value)
                        if value[:1] != '"' and len(known) < 10_000:
                            known[value] = decoded
                    row.answers[question_id] = decoded
        if row is not None:
            yield row
    finally:
        conn.close()


# -- personal data ---------------------------------------------------------------------------


async def _personal(db: Database, user_id: int) -> dict[str, Any]:
    rows = await db.fetchall(
        "SELECT r.survey_id, r.finished, a.question_id, a.value FROM survey_responses r"
        " LEFT JOIN survey_answers a ON a.response_id = r.id WHERE r.respondent_id = ?"
        " ORDER BY r.survey_id, a.question_id", (user_id,))
    answers: dict[int, dict[str, Any]] = {}
    for r in rows:
        entry = answers.setdefault(r["survey_id"], {"finished": bool(r["finished"]),
                                                    "answers": {}})
        if r["question_id"] is not None:
            entry["answers"][str(r["question_id"])] = json.loads(r["value"])
    taken = [r["survey_id"] for r in await db.fetchall(
        "SELECT survey_id FROM survey_participants WHERE user_id = ?", (user_id,))]
    return {"responses": answers, "took_part_in": taken}


async def _erase(db: Database, user_id: int) -> None:
    """Named responses go with the user row (ON DELETE CASCADE); participation goes here.
    Anonymous answers stay: nothing links them to the person."""
    await db.execute("DELETE FROM survey_participants WHERE user_id = ?", (user_id,))


personal.register("surveys", _personal, _erase)
