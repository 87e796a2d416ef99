"""Aggregates the dashboard needs over a whole community: SQL only, counted in SQLite.

A community may have 100,000 members; the dashboard must never fetch a row per member or per
ballot into Python. Each query here groups over indexed columns and returns a few rows per
event, per group or per answer value, so one request holds the connection for milliseconds
(``bench/dashboard.py`` measures it).
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from typing import Any

from storage.db import Database
from storage.survey import Response

Counts = dict[int, dict[str | None, int]]  # event id → stakeholder group → people


def _nested(rows: list[tuple[int, str | None, int]]) -> Counts:
    found: Counts = defaultdict(dict)
    for event_id, group, count in rows:
        found[event_id][group] = found[event_id].get(group, 0) + count
    return dict(found)


async def vote_participation(db: Database, community_id: int) -> Counts:
    """Voters per prioritisation and stakeholder group (the group recorded with the vote).

    Voters are enumerated in the order of each table's unique (vote, voter, …) index, which
    makes DISTINCT cheap (half the time of ``COUNT(DISTINCT …)`` over 30,000 stickers). A
    voter who used /forgetme left rows without a user id; each such row counts as one
    voter, as ``storage.voting.participation_by_group`` counts them.
    """
    parts = []
    for method, table in (("stickers", "stickers"), ("pairwise", "comparisons"),
                          ("matrix", "ratings")):
        votes = (f"SELECT id FROM prioritisations WHERE community_id = ?"
                 f" AND method = '{method}'")
        parts.append(
            f"SELECT prioritisation_id, stakeholder_group, COUNT(*) FROM"
            f" (SELECT DISTINCT prioritisation_id, user_id, stakeholder_group FROM {table}"
            f" WHERE prioritisation_id IN ({votes}) AND user_id IS NOT NULL)"
            f" GROUP BY prioritisation_id, stakeholder_group")
        parts.append(
            f"SELECT prioritisation_id, stakeholder_group, COUNT(*) FROM {table}"
            f" WHERE prioritisation_id IN ({votes}) AND user_id IS NULL"
            f" GROUP BY prioritisation_id, stakeholder_group")
    rows = await db.fetchall(" UNION ALL ".join(parts), (community_id,) * len(parts))
    return _nested([(r[0], r[1], r[2]) for r in rows])


async def survey_participation(db: Database, community_id: int) -> Counts:
    """People who finished each survey, per their stakeholder group in the community now."""
    rows = await db.fetchall(
        "SELECT p.survey_id, m.stakeholder_group, COUNT(*) FROM survey_participants p"
        " JOIN surveys s ON s.id = p.survey_id"
        " JOIN memberships m ON m.community_id = s.community_id AND m.user_id = p.user_id"
        " WHERE s.community_id = ? GROUP BY p.survey_id, m.stakeholder_group",
        (community_id,))
    return _nested([(r[0], r[1], r[2]) for r in rows])


async def election_participation(db: Database, community_id: int) -> Counts:
    """People who cast a ballot in each election, per their stakeholder group now.

    Who voted is public within the community (the ballot is secret, not the turnout).
    """
    rows = await db.fetchall(
        "SELECT v.election_id, m.stakeholder_group, COUNT(*) FROM election_voters v"
        " JOIN elections e ON e.id = v.election_id"
        " JOIN memberships m ON m.community_id = e.community_id AND m.user_id = v.user_id"
        " WHERE e.community_id = ? GROUP BY v.election_id, m.stakeholder_group",
        (community_id,))
    return _nested([(r[0], r[1], r[2]) for r in rows])


async def pairwise_counts(db: Database, prioritisation_id: int,
                          ) -> list[tuple[int, int, int | None, int]]:
    """(a, b, winner or None, how many voters answered so) for a pairwise vote."""
    rows = await db.fetchall(
        "SELECT a_id, b_id, winner_id, COUNT(*) FROM comparisons WHERE prioritisation_id = ?"
        " GROUP BY a_id, b_id, winner_id", (prioritisation_id,))
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def matrix_counts(db: Database, prioritisation_id: int,
                        ) -> list[tuple[int, int, int, int]]:
    """(problem, importance, urgency, how many voters rated so) for complete ratings."""
    rows = await db.fetchall(
        "SELECT problem_id, importance, urgency, COUNT(*) FROM ratings"
        " WHERE prioritisation_id = ? AND importance IS NOT NULL AND urgency IS NOT NULL"
        " GROUP BY problem_id, importance, urgency", (prioritisation_id,))
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def survey_answer_counts(db: Database, survey_id: int,
                               ) -> list[tuple[int, str | None, int]]:
    """(question, stored JSON value, how many counted responses gave it), in one pass over
    the answers; free-text questions come once, with value None and their answer count."""
    rows = await db.fetchall(
        "SELECT a.question_id, CASE WHEN q.kind = 'text' THEN NULL ELSE a.value END AS v,"
        " COUNT(*) FROM survey_answers a JOIN survey_responses r ON r.id = a.response_id"
        " JOIN survey_questions q ON q.id = a.question_id"
        " WHERE r.survey_id = ? AND r.finished = 1 GROUP BY a.question_id, v", (survey_id,))
    return [(r[0], r[1], r[2]) for r in rows]


async def survey_texts(db: Database, survey_id: int, question_id: int,
                       limit: int) -> list[str]:
    """Up to ``limit`` stored JSON values of a free-text question (the scan stops there)."""
    rows = await db.fetchall(
        "SELECT a.value FROM survey_responses r JOIN survey_answers a"
        " ON a.response_id = r.id AND a.question_id = ?"
        " WHERE r.survey_id = ? AND r.finished = 1 LIMIT ?", (question_id, survey_id, limit))
    return [r[0] for r in rows]


async def finished_count(db: Database, survey_id: int) -> int:
    """Counted responses of a survey (named and anonymous)."""
    return int(await db.fetchval(
        "SELECT COUNT(*) FROM survey_responses WHERE survey_id = ? AND finished = 1",
        (survey_id,)) or 0)


# -- exports: read in a worker thread --------------------------------------------------------


def read_for_export(path: str, survey_id: int, community_id: int | None,
                    ) -> tuple[list[Response], dict[int, tuple[str, str | None]]]:
    """A survey's counted responses (as ``storage.survey.finished_responses`` gives them) and,
    with ``community_id``, every member's (display name, stakeholder group).

    Synchronous, on a read-only connection of its own: an export of 100,000 responses is
    read and decoded in a worker thread, so it holds neither the event loop nor the bot's
    connection (WAL lets readers run beside the writer).
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT id, respondent_id, language, position FROM survey_responses"
            " WHERE survey_id = ? AND finished = 1 ORDER BY respondent_id IS NULL, updated_at,"
            " id", (survey_id,)).fetchall()
        answers: dict[int, dict[int, Any]] = {r[0]: {} for r in rows}
        for response_id, question_id, value in conn.execute(
                "SELECT a.response_id, a.question_id, a.value FROM survey_answers a"
                " JOIN survey_responses r ON r.id = a.response_id"
                " WHERE r.survey_id = ? AND r.finished = 1", (survey_id,)):
            answers[response_id][question_id] = json.loads(value)
        responses = [Response(id=r[0], survey_id=survey_id, respondent_id=r[1], language=r[2],
                              position=r[3], finished=True, answers=answers[r[0]])
                     for r in rows]
        people: dict[int, tuple[str, str | None]] = {}
        if community_id is not None:
            for user_id, first, last, username, group in conn.execute(
                    "SELECT u.id, u.first_name, u.last_name, u.username, m.stakeholder_group"
                    " FROM memberships m JOIN users u ON u.id = m.user_id"
                    " WHERE m.community_id = ?", (community_id,)):
                name = " ".join(p for p in (first, last) if p) or username or str(user_id)
                people[user_id] = (name, group)
        return responses, people
    finally:
        conn.close()
