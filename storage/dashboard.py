"""Aggregates the dashboard needs over a whole community: SQL only, counted in SQLite.

A community may have 100,000 members; the dashboard must never fetch a row per member or per
ballot into Python. Each query here groups over indexed columns and returns a few rows per
event, per group or per answer value, so one request holds the connection for milliseconds
(``bench/dashboard.py`` measures it).
"""

from __future__ import annotations

from collections import defaultdict

from storage.db import Database

Counts = dict[int, dict[str | None, int]]  # event id → stakeholder group → people


def _nested(rows: list[tuple[int, str | None, int]]) -> Counts:
    found: Counts = defaultdict(dict)
    for event_id, group, count in rows:
        found[event_id][group] = count
    return dict(found)


async def vote_participation(db: Database, community_id: int) -> Counts:
    """Voters per prioritisation and stakeholder group (the group recorded with the vote).

    A voter who used /forgetme is still counted (their rows stay, without a user id), as
    ``storage.voting.participation_by_group`` counts them.
    """
    parts = []
    for method, table in (("stickers", "stickers"), ("pairwise", "comparisons"),
                          ("matrix", "ratings")):
        parts.append(
            f"SELECT v.prioritisation_id, v.stakeholder_group,"
            f" COUNT(DISTINCT COALESCE(v.user_id, -v.rowid)) FROM {table} v"
            f" JOIN prioritisations p ON p.id = v.prioritisation_id"
            f" WHERE p.community_id = ? AND p.method = '{method}'"
            f" GROUP BY v.prioritisation_id, v.stakeholder_group")
    rows = await db.fetchall(" UNION ALL ".join(parts), (community_id,) * 3)
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


async def survey_answer_counts(db: Database, survey_id: int) -> list[tuple[int, str, int]]:
    """(question, stored JSON value, how many counted responses gave it), text excluded."""
    rows = await db.fetchall(
        "SELECT a.question_id, a.value, COUNT(*) FROM survey_answers a"
        " JOIN survey_responses r ON r.id = a.response_id"
        " JOIN survey_questions q ON q.id = a.question_id"
        " WHERE r.survey_id = ? AND r.finished = 1 AND q.kind <> 'text'"
        " GROUP BY a.question_id, a.value", (survey_id,))
    return [(r[0], r[1], r[2]) for r in rows]


async def survey_texts(db: Database, survey_id: int, per_question: int,
                       ) -> list[tuple[int, str, int]]:
    """Up to ``per_question`` free-text answers per text question, with how many there are:
    (question, stored JSON value, total answers to that question)."""
    rows = await db.fetchall(
        "SELECT question_id, value, total FROM ("
        " SELECT a.question_id, a.value, COUNT(*) OVER (PARTITION BY a.question_id) AS total,"
        " ROW_NUMBER() OVER (PARTITION BY a.question_id ORDER BY a.response_id) AS n"
        " FROM survey_answers a JOIN survey_responses r ON r.id = a.response_id"
        " JOIN survey_questions q ON q.id = a.question_id"
        " WHERE r.survey_id = ? AND r.finished = 1 AND q.kind = 'text')"
        " WHERE n <= ?", (survey_id, per_question))
    return [(r[0], r[1], r[2]) for r in rows]


async def finished_count(db: Database, survey_id: int) -> int:
    """Counted responses of a survey (named and anonymous)."""
    return int(await db.fetchval(
        "SELECT COUNT(*) FROM survey_responses WHERE survey_id = ? AND finished = 1",
        (survey_id,)) or 0)
