"""Surveys at city scale (issue 17): results counted in SQL, exports streamed from their own
connection that still match the database cell for cell, the query plans of what serves one
person (no full scan of a table that grows with members), and a linear ``split_text``.

``build`` makes a community and a 10-question survey of every kind with bulk SQL that
respects the schema (the bench script uses it too); it is seeded, so each run is the same.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.flows import survey as flow
from bot.flows.people import Member
from bot.handlers import survey as handler
from bot.i18n import Translator
from bot.labels import group_label
from bot.messages import split_text
from storage import community as community_store
from storage import personal
from storage import survey as store
from storage.db import Database, to_db, utcnow

OPTIONS = [{"en": "Roads", "fa": "جاده‌ها"}, {"en": "Parks, and trees"},
           {"en": 'Bus "lines"'}, {"en": "Clinic; nurses"}, {"en": "Lights"}]
QUESTIONS: list[dict[str, Any]] = [
    {"kind": "text", "prompt": {"en": "What matters most?"}},
    {"kind": "single", "prompt": {"en": "Biggest problem?"}, "options": OPTIONS[:4]},
    {"kind": "multiple", "prompt": {"en": "Pick up to three"}, "options": OPTIONS,
     "max_choices": 3},
    {"kind": "scale", "prompt": {"en": "How safe is it?"}},
    {"kind": "yesno", "prompt": {"en": "Would you help?"}},
    {"kind": "text", "prompt": {"en": "Anything else?"}, "required": False},
    {"kind": "single", "prompt": {"en": "Best day?"}, "options": OPTIONS[:3],
     "required": False},
    {"kind": "scale", "prompt": {"en": "How clean?"}, "required": False},
    {"kind": "yesno", "prompt": {"en": "Lived here 5 years?"}, "required": False},
    {"kind": "multiple", "prompt": {"en": "Which services?"}, "options": OPTIONS[1:],
     "max_choices": 4, "required": False},
]
TEXTS = ["Fix the road, please", "آب لوله‌کشی، و برق", "Line one\nline two",
         'He said "no", twice', "Жол керек", "צריך גינה", "=1+1 is not a formula", " x "]


@dataclass
class Built:
    community_id: int
    coordinator: int
    survey: store.Survey
    members: int
    responses: int


def _value(rng: random.Random, q: store.Question, i: int) -> Any:
    if q.kind == "text":
        return f"{rng.choice(TEXTS)} #{i}"
    if q.kind == "single":
        return rng.randrange(len(q.options))
    if q.kind == "multiple":
        return sorted(rng.sample(range(len(q.options)), rng.randint(1, q.max_choices or 1)))
    if q.kind == "scale":
        return rng.randint(1, 5)
    return rng.random() < 0.6


async def build(db: Database, members: int, responses: int, *, anonymous: bool = False,
                drafts: int = 100, seed: int = 17, chunk: int = 5000) -> Built:
    """A community of ``members`` in the 8 default stakeholder groups (the coordinator is
    user 1), a 10-question survey of every kind with ``responses`` counted responses from
    the first members (some optional questions skipped), ``drafts`` unfinished ones, and a
    few participants who left the community since."""
    rng = random.Random(seed)
    await community_store.upsert_user(db, 1, first_name="Cora", last_name=None,
                                      username=None, language="en")
    community = await community_store.create_community(
        db, name="City", default_language="en", timezone="Asia/Tehran", created_by=1)
    groups = [g.key for g in await community_store.stakeholder_groups(db, community.id)]
    await community_store.join(db, community.id, 1, role="coordinator",
                               stakeholder_group=groups[0])
    start = utcnow() - timedelta(days=30)
    for low in range(2, members + 1, chunk):
        ids = range(low, min(low + chunk, members + 1))
        async with db.transaction():
            await db.executemany(
                "INSERT INTO users (id, first_name, last_name, username, language, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(i, f"R{i}", "Ahmadi" if i % 3 else None, f"r{i}" if i % 5 else None,
                  ("fa", "en", "kk", "he")[i % 4], to_db(start), to_db(start)) for i in ids])
            await db.executemany(
                "INSERT INTO memberships (community_id, user_id, role, stakeholder_group,"
                " joined_at, privacy_accepted_at) VALUES (?, ?, 'resident', ?, ?, ?)",
                [(community.id, i, groups[i % len(groups)] if i % 50 else None,
                  to_db(start + timedelta(seconds=i)), to_db(start)) for i in ids])
    survey = await store.create(db, community.id, 1, title={"en": "City survey"}, intro={},
                                anonymous=anonymous, opens_at=None, closes_at=None,
                                questions=QUESTIONS)
    # Respondents: members 2…, and (named surveys) a few who left the community since.
    drafts = max(0, min(drafts, members - 1 - responses))
    respondents = list(range(2, 2 + responses + drafts))
    for low in range(0, len(respondents), chunk):
        part = respondents[low:low + chunk]
        rows, answers, taken = [], [], []
        for i in part:
            finished = i < 2 + responses
            rid = rng.getrandbits(62) + 1 if anonymous and finished else i
            rows.append((rid, survey.id, None if anonymous and finished else i,
                         None if anonymous and finished else ("fa", "en", "kk", "he")[i % 4],
                         len(QUESTIONS) if finished else 3, int(finished),
                         None if anonymous and finished else to_db(
                             start + timedelta(seconds=(i * 7919) % 1_000_003))))
            for q in survey.questions:
                if (not finished and q.position >= 3) or (not q.required and rng.random() < .3):
                    continue
                answers.append((rid, q.id, json.dumps(_value(rng, q, i), ensure_ascii=False)))
            if finished:
                taken.append((survey.id, i))
        async with db.transaction():
            await db.executemany(
                "INSERT INTO survey_responses (id, survey_id, respondent_id, language,"
                " position, finished, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            await db.executemany("INSERT INTO survey_answers (response_id, question_id, value)"
                                 " VALUES (?, ?, ?)", answers)
            await db.executemany("INSERT INTO survey_participants (survey_id, user_id)"
                                 " VALUES (?, ?)", taken)
    # Two respondents left: their answers stay counted, without a name.
    await db.execute("DELETE FROM memberships WHERE community_id = ? AND user_id IN (3, 4)",
                     (community.id,))
    return Built(community.id, 1, survey, members - 2, responses)


async def coordinator(db: Database, built: Built, lang: str = "en") -> Member:
    user = await community_store.get_user(db, built.coordinator)
    community = await community_store.get_community(db, built.community_id)
    membership = await community_store.get_membership(db, built.community_id,
                                                      built.coordinator)
    assert user is not None and community is not None
    return Member(user, community, membership, Translator(lang, community.timezone), False)


@pytest.fixture
async def db(tmp_path: Path) -> Any:
    database = await Database.open(tmp_path / "scale.sqlite3")
    try:
        yield database
    finally:
        await database.close()


# -- what the database says, read independently of the code under test ---------------------


async def expected_table(db: Database, built: Built) -> list[list[str]]:
    """Header and rows as the export must show them (English), from plain SQL."""
    t = Translator("en")
    survey = built.survey
    questions = await db.fetchall("SELECT * FROM survey_questions WHERE survey_id = ?"
                                  " ORDER BY position", (survey.id,))
    header = ["Response"] + ([] if survey.anonymous else ["Name", "Group", "Language"])
    header += [f"{q['position'] + 1}. {json.loads(q['prompt'])['en']}" for q in questions]
    table = [header]
    responses = await db.fetchall(
        "SELECT * FROM survey_responses WHERE survey_id = ? AND finished = 1"
        " ORDER BY respondent_id IS NULL, updated_at, id", (survey.id,))
    answers: dict[int, dict[int, Any]] = {}
    for a in await db.fetchall("SELECT * FROM survey_answers"):
        answers.setdefault(a["response_id"], {})[a["question_id"]] = json.loads(a["value"])
    people = {r["id"]: r for r in await db.fetchall(
        "SELECT u.*, m.stakeholder_group FROM users u JOIN memberships m ON m.user_id = u.id"
        " WHERE m.community_id = ?", (built.community_id,))}
    for number, r in enumerate(responses, start=1):
        row = [str(number)]
        if not survey.anonymous:
            p = people.get(r["respondent_id"])
            name = "" if p is None else " ".join(
                x for x in (p["first_name"], p["last_name"]) if x) or p["username"] or ""
            row += [name, "" if p is None else group_label(t, p["stakeholder_group"],
                                                           html=False), r["language"]]
        mine = answers.get(r["id"], {})
        for q in questions:
            value = mine.get(q["id"])
            options = json.loads(q["options"])
            if value is None:
                row.append("")
            elif q["kind"] in ("single", "multiple"):
                row.append("; ".join(options[i].get("en") or next(iter(options[i].values()))
                                     for i in (value if isinstance(value, list) else [value])))
            elif q["kind"] == "yesno":
                row.append("Yes" if value else "No")
            else:
                row.append(str(value))
        table.append(row)
    return table


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@pytest.mark.parametrize("anonymous", [False, True])
async def test_exports_of_10000_responses_match_the_database(db: Database,
                                                             anonymous: bool) -> None:
    built = await build(db, 12_000, 10_000, anonymous=anonymous)
    who = await coordinator(db, built)
    found = await flow.export(db, who, built.survey.id)
    expected = await expected_table(db, built)
    assert len(expected) == 10_001
    community = who.community

    data, count = handler._export_file(who.t, community, found, "csv")
    assert count == 10_000
    assert data.startswith("\ufeff".encode())
    assert list(csv.reader(io.StringIO(data.decode("utf-8-sig")))) == expected

    data, count = handler._export_file(who.t, community, found, "xlsx")
    assert count == 10_000
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    sheet = book.worksheets[0]
    width = len(expected[0])
    got = [[_cell(c) for c in row] + [""] * (width - len(row))  # (empty trailing cells)
           for row in sheet.iter_rows(values_only=True)]
    assert got == expected
    # The summary sheet counts the same rows the database holds.
    summaries = await flow.summaries(db, built.survey)
    rows = list(book.worksheets[1].iter_rows(values_only=True))
    for s in summaries:
        heading = f"{s.question.position + 1}. {s.question.prompt['en']}"
        at = next(i for i, r in enumerate(rows) if r and r[0] == heading)
        assert rows[at][1] == s.answered
        assert [r[1] for r in rows[at + 1:at + 1 + len(s.counts)]] == s.counts
    book.close()


async def test_results_are_counted_in_sql_and_summarise_free_text(db: Database) -> None:
    built = await build(db, 3000, 2000)
    who = await coordinator(db, built)
    results = await flow.results(db, who, built.survey.id)
    # The same as counting the responses in memory.
    responses = await store.finished_responses(db, built.survey.id)
    assert len(responses) == 2000 == results.took_part
    by_hand = flow.summarise(built.survey, responses)
    for got, want in zip(results.summaries, by_hand, strict=True):
        assert got.answered == want.answered
        assert got.counts == want.counts
        assert (got.mean is None) == (want.mean is None)
        if got.mean is not None and want.mean is not None:
            assert abs(got.mean - want.mean) < 1e-9
        if got.question.kind == "text":
            # The newest answers, oldest of them first.
            newest = sorted((r for r in responses if got.question.id in r.answers),
                            key=lambda r: (r.respondent_id is None, r.id))
            assert len(got.texts) == flow.TEXTS_SHOWN
            assert set(got.texts) <= {str(r.answers[got.question.id]) for r in newest}
    members = await community_store.members(db, built.community_id)
    assert results.members == len(members)
    for share in results.groups:
        group = [u.id for m, u in members if m.stakeholder_group == share.group]
        assert share.members == len(group)
        done = await store.participants(db, built.survey.id)
        assert share.took_part == len(set(group) & done)
    # What the coordinator reads: a few messages, the rest pointed to the export.
    parts = handler._results_text(who.t, who.community, results)
    assert len(parts) <= 4
    text = "\n".join(parts)
    assert "more answers, in the export (CSV or XLSX)." in text
    # Who has not answered: the count of everyone, the first names listed.
    missing = await flow.missing(db, who, built.survey.id)
    done = await store.participants(db, built.survey.id)
    assert missing.count == sum(1 for _m, u in members if u.id not in done)
    assert [u.id for _m, u in missing.first] == sorted(
        u.id for _m, u in members if u.id not in done)[:flow.MISSING_SHOWN]


async def test_newest_text_answers_are_the_latest_responses(db: Database) -> None:
    built = await build(db, 400, 300)
    question = built.survey.questions[0]
    rows = await db.fetchall(
        "SELECT a.value FROM survey_responses r JOIN survey_answers a ON a.response_id = r.id"
        " WHERE r.survey_id = ? AND r.finished = 1 AND a.question_id = ?"
        " ORDER BY r.updated_at DESC, r.id DESC LIMIT 5", (built.survey.id, question.id))
    assert await store.newest_answers(db, built.survey.id, question.id, 5) == [
        json.loads(r[0]) for r in rows]


# -- query plans: what serves one person never scans a table that grows with members ------

GROWING = ("survey_responses", "survey_participants", "survey_answers", "memberships",
           "users")


async def plan(db: Database, sql: str, params: tuple[Any, ...]) -> list[str]:
    return [r["detail"] for r in await db.fetchall(f"EXPLAIN QUERY PLAN {sql}", params)]


def assert_no_scan(details: list[str], sql: str, *, one_person: bool = False) -> None:
    """No SCAN of a growing table; no temporary B-tree, except to order one person's few
    rows (``one_person``)."""
    for detail in details:
        words = detail.split()
        if words[:1] == ["SCAN"]:
            assert words[1] not in GROWING, (sql, details)
        if "TEMP B-TREE" in detail and not one_person:
            # A temporary B-tree is only allowed over a handful of rows (a few groups).
            assert "GROUP BY" not in detail and "ORDER BY" not in detail and (
                "DISTINCT" not in detail), (sql, details)


async def test_query_plans_search_by_index(db: Database) -> None:
    built = await build(db, 2000, 1000)
    sid, cid = built.survey.id, built.community_id
    qid = built.survey.questions[1].id
    statements: list[tuple[str, tuple[Any, ...]]] = [
        # results
        ("SELECT COUNT(*) FROM survey_responses WHERE survey_id = ? AND finished = 1", (sid,)),
        ("SELECT COUNT(*) FROM survey_participants WHERE survey_id = ?", (sid,)),
        (f"SELECT a.value, COUNT(*) FROM survey_answers a WHERE a.question_id = ?"
         f" AND {store._COUNTED} GROUP BY a.value", (qid,)),
        (f"SELECT COUNT(*) FROM survey_answers a WHERE a.question_id = ? AND {store._COUNTED}",
         (qid,)),
        ("SELECT a.value FROM survey_responses r JOIN survey_answers a"
         " ON a.response_id = r.id AND a.question_id = ? WHERE r.survey_id = ?"
         " AND r.finished = 1 ORDER BY r.respondent_id IS NULL DESC, r.updated_at DESC,"
         " r.id DESC LIMIT ?", (qid, sid, 20)),
        ("SELECT COUNT(*), COUNT(p.user_id), MIN(printf('%s %020d', m.joined_at, m.user_id))"
         " FROM memberships m"
         " LEFT JOIN survey_participants p"
         " ON p.survey_id = ? AND p.user_id = m.user_id WHERE m.community_id = ?"
         " AND m.stakeholder_group IS ?", (sid, cid, "activist")),
        ("SELECT key FROM stakeholder_groups WHERE community_id = ? ORDER BY position, key",
         (cid,)),
        # who has not finished
        ("SELECT COUNT(*) FROM memberships m WHERE m.community_id = ? AND NOT EXISTS"
         " (SELECT 1 FROM survey_participants p WHERE p.survey_id = ?"
         " AND p.user_id = m.user_id)", (cid, sid)),
        (f"SELECT {store._MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id"
         " WHERE m.community_id = ? AND m.user_id > ? AND NOT EXISTS"
         " (SELECT 1 FROM survey_participants p WHERE p.survey_id = ?"
         " AND p.user_id = m.user_id) ORDER BY m.user_id LIMIT ?", (cid, 0, sid, 200)),
        # /mydata
        ("SELECT r.survey_id, r.finished, a.question_id, a.value FROM survey_responses r"
         " LEFT JOIN survey_answers a ON a.response_id = r.id WHERE r.respondent_id = ?"
         " ORDER BY r.survey_id, a.question_id", (5,)),
        ("SELECT survey_id FROM survey_participants WHERE user_id = ?", (5,)),
        # /forgetme (named responses go by ON DELETE CASCADE on respondent_id)
        ("DELETE FROM survey_participants WHERE user_id = ?", (5,)),
        ("DELETE FROM survey_responses WHERE respondent_id = ?", (5,)),
        ("SELECT 1 FROM survey_responses WHERE respondent_id = ?", (5,)),
    ]
    for analyzed in (False, True):  # without statistics (a fresh file), then with them
        if analyzed:
            await db.execute("ANALYZE")
        for sql, params in statements:
            details = await plan(db, sql, params)
            # Ordering one person's rows, or the few stakeholder groups, may use a temporary
            # B-tree: neither grows with the members.
            assert_no_scan(details, sql, one_person=params in ((5,),)
                           or sql.startswith("SELECT key FROM stakeholder_groups"))
    # The statements in the code are the ones checked here.
    source = Path(store.__file__).read_text(encoding="utf-8")
    for fragment in ("r.respondent_id = ?", "FROM stakeholder_groups WHERE community_id = ?",
                     "FROM survey_participants WHERE user_id = ?",
                     "GROUP BY a.value", "m.stakeholder_group IS ?"):
        assert fragment in source
    # The export's one statement walks the counted responses in order by index.
    export_plan = await plan(
        db, "SELECT r.id FROM survey_responses r LEFT JOIN survey_answers a"
        " ON a.response_id = r.id WHERE r.survey_id = ? AND r.finished = 1"
        " ORDER BY r.respondent_id IS NULL, r.updated_at, r.id", (sid,))
    assert not any("TEMP B-TREE" in d for d in export_plan), export_plan


async def test_mydata_and_forgetme_still_reach_survey_rows(db: Database) -> None:
    built = await build(db, 300, 200)
    data = await personal.export_all(db, 5)
    assert data["surveys"]["took_part_in"] == [built.survey.id]
    assert data["surveys"]["responses"][built.survey.id]["finished"] is True
    await personal.erase_all(db, 5)
    await community_store.delete_user(db, 5)
    assert not await store.took_part(db, built.survey.id, 5)
    assert await store.response_of(db, built.survey.id, 5) is None


# -- split_text ---------------------------------------------------------------------------


def _split_quadratic(text: str, limit: int) -> list[str]:
    """The former implementation, the reference for the linear one."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:].lstrip("\n")
    if rest or not parts:
        parts.append(rest)
    return parts


def test_split_text_gives_what_it_gave_before() -> None:
    rng = random.Random(5)
    alphabet = ["a", "b", " ", "\n", "\n\n", "شما", "  "]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        for limit in (1, 2, 5, 17, 64):
            assert split_text(text, limit) == _split_quadratic(text, limit), (text, limit)


def test_split_text_of_a_million_characters() -> None:
    line = "— Fix the road in front of the school, please\n"
    text = line * (1_000_000 // len(line) + 1)
    assert len(text) >= 1_000_000
    parts = split_text(text)
    assert all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text  # each cut falls on a line break, which it drops
    assert parts == _split_quadratic(text, 4096)
    assert split_text("x" * 1_000_000) == ["x" * 4096] * 244 + ["x" * (1_000_000 - 244 * 4096)]


# -- the coordinator's side: a long export says it is coming --------------------------------


async def test_a_long_export_says_it_is_being_prepared(harness: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.handlers.survey import Export, NotAnswered
    from tests.harness import press, tr

    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "fa", name="Cora")
    rana = await harness.resident(invitation, "he", name="Rana")
    survey = await store.create(harness.db, invitation.community.id, cora.id,
                                title={"en": "Quick"}, intro={}, anonymous=False,
                                opens_at=None, closes_at=None,
                                questions=[{"kind": "text", "prompt": {"en": "Why?"}}])
    response = await store.start(harness.db, survey.id, rana.id, "he")
    await store.answer(harness.db, response.id, survey.questions[0].id, "Because", 1)
    finished = await store.response_of(harness.db, survey.id, rana.id)
    assert finished is not None
    await store.finish(harness.db, survey, finished)
    monkeypatch.setattr(handler, "EXPORT_PATIENCE", 0.0)  # as if it took long
    await press(harness, cora, Export(survey.id, "csv").pack())
    texts = cora.texts()
    # The notice became the caption once the file was sent.
    assert tr(cora, "Preparing the export…", "survey") not in texts
    assert texts.count(Translator("fa").dngettext("survey", "{n} response.",
                                                  "{n} responses.", 1)) == 2
    table = list(csv.reader(io.StringIO(cora.document(cora.last).decode("utf-8-sig"))))
    assert table[1][1] == "Rana" and table[1][4] == "Because"
    # Who has not answered: counted for everyone, in Persian digits.
    await press(harness, cora, NotAnswered(survey.id).pack())
    assert Translator("fa").dngettext("survey", "{n} member has not answered yet:",
                                      "{n} members have not answered yet:", 1) in cora.texts()[-1]


async def test_an_in_memory_database_exports_the_same() -> None:
    db = await Database.open(":memory:")
    try:
        built = await build(db, 300, 200)
        who = await coordinator(db, built)
        found = await flow.export(db, who, built.survey.id)
        data, count = handler._export_file(who.t, who.community, found, "csv")
        assert count == 200
        assert list(csv.reader(io.StringIO(data.decode("utf-8-sig")))) == (
            await expected_table(db, built))
    finally:
        await db.close()
