"""City scale (issue 17): everyday work over one community of 100,000 members.

    .venv/bin/python bench/scale.py [--members 10000,100000] [--runs 3] [--seed 17]
                                    [--db PATH] [--only NAME,...]

For each ``--members`` size it builds (seeded, with the project's storage functions and
bulk SQL that respects the schema: every sticker passes the budget, stacking and
only-while-open triggers, every answer the survey's trigger) one community of N members in
the eight default stakeholder groups (names in Persian, Kazakh, Hebrew and English, some
mixed, some with usernames, languages mixed, 3 % unreachable), and in it:

- a closed sticker vote of 10 problems: 0.8·N voters × 3 stickers (240,000 at 100k);
- an open sticker vote of 12 problems with a budget of 10 (the schema's maximum, no
  stacking): every member places all 10, each on a different problem: 10·N stickers
  (1,000,000 at 100k);
- a named 10-question survey (single, multiple, scale, yes/no and free text, two of each)
  with 0.5·N finished responses, then closed;
- a past broadcast to everyone, sent (N outbox rows), a committee of 9 with a weekly
  digest, a plan with 30 tasks (some changed this week) and an indicator.

Then it runs each operation below ``--runs`` times (the median is shown) through the same
storage and flow functions the handlers call, each in a fresh state where that matters (a
new StickerBook for the first tap after a restart, the broadcast's outbox rows deleted
between runs, a different member for each /forgetme), and prints per operation and size:

- time: wall time of the call, ms;
- loop: the longest the event loop was blocked meanwhile (how late a 1 ms timer fired), ms;
- wait: the longest a concurrent ``SELECT 1`` through the same Database waited, ms;
- peak: the process's peak RSS during the call (VmHWM, reset before it), MB;
- added: RSS just after the call (its result still held) minus RSS before, MB;
- growth: time at the largest size over time at the smallest (for 10k → 100k).

Targets (issue 17), checked at the largest size: loop and wait ≤ 100 ms, peak RSS ≤ 500 MB,
growth ≤ 12× for 10× the data; a row that misses one is marked ✗. A markdown table for
docs/scale.md follows. Figures on the shared 2-core machine are noisy; run it twice.

The operations are one table, ``OPERATIONS`` (name → an async callable taking the built
``City``): when a function is renamed, its row is the one line to change.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.actor import People  # noqa: E402
from bot.flows import account as account_flow  # noqa: E402
from bot.flows import broadcast as broadcast_flow  # noqa: E402
from bot.flows import community as community_flow  # noqa: E402
from bot.flows import digest as digest_flow  # noqa: E402
from bot.flows import survey as survey_flow  # noqa: E402
from bot.flows import voting as voting_flow  # noqa: E402
from bot.flows.people import Member  # noqa: E402
from bot.flows.voting_book import StickerBook  # noqa: E402
from bot.handlers import handler_modules  # noqa: E402
from bot.handlers import survey as survey_handlers  # noqa: E402
from bot.handlers import voting as voting_handlers  # noqa: E402
from bot.i18n import Translator  # noqa: E402
from bot.messages import split_text  # noqa: E402
from storage import committee as committee_store  # noqa: E402
from storage import community as community_store  # noqa: E402
from storage import digest as digest_store  # noqa: E402
from storage import plan as plan_store  # noqa: E402
from storage import survey as survey_store  # noqa: E402
from storage import voting as voting_store  # noqa: E402
from storage.community import DEFAULT_STAKEHOLDER_GROUPS  # noqa: E402
from storage.db import Database, to_db, utcnow  # noqa: E402
from storage.voting import Prioritisation  # noqa: E402

FIRST_ID = 1_000_000
TARGET_MS = 100.0
TARGET_RSS_MB = 500.0
TARGET_GROWTH = 12.0

FIRST_NAMES = {
    "fa": ["علی", "محمد", "زهرا", "فاطمه", "رضا", "مریم", "حسین", "سارا", "مهدی", "نرگس",
           "امیر", "لیلا", "حمید", "شیرین", "کاوه", "مینا"],
    "kk": ["Айгүл", "Нұрлан", "Әсел", "Ерлан", "Динара", "Бауыржан", "Гүлнар", "Асқар",
           "Айжан", "Серік"],
    "he": ["נועה", "יוסף", "מרים", "דוד", "תמר", "אבי", "רחל", "משה", "שירה", "איתן"],
    "en": ["Ali", "Reza", "Sara", "Maryam", "Aigul", "Nurlan", "Noa", "David", "Mina",
           "Omid", "Dana", "Sam", "Leila", "Yosef"],
}
LAST_NAMES = {
    "fa": ["رضایی", "محمدی", "حسینی", "احمدی", "کریمی", "موسوی", "جعفری", "صادقی", "رحیمی",
           "نوری"],
    "kk": ["Сейітов", "Нұрланова", "Жұмабаев", "Оспанова", "Төлеуов", "Әбенова"],
    "he": ["כהן", "לוי", "מזרחי", "פרץ", "ביטון", "אברהם"],
    "en": ["Rezaei", "Karimi", "Mousavi", "Seitov", "Cohen", "Levi", "Smith", "Ahmadi"],
}
LANGUAGES = ("fa", "fa", "fa", "fa", "kk", "kk", "he", "en", "en", "en")
WORDS = ("خیابان", "چراغ", "پارک", "مدرسه", "آب", "جوی", "кеш", "жол", "мектеп", "саябақ",
         "רחוב", "גן", "אור", "street", "lights", "bus", "trees", "bench", "water", "noise",
         "the", "is", "broken", "since", "months", "please", "fix", "near", "school")
PROBLEMS = [f"Problem {i}: a neighbourhood issue with a reasonably long title"
            for i in range(1, 13)]


# -- the dataset ------------------------------------------------------------------------------


@dataclass
class City:
    """The built community and what the operations need of it."""

    db: Database
    members: int
    community_id: int
    coordinator: Member
    small_vote: Prioritisation  # 0.8·N voters × 3 stickers, closed
    big_vote: Prioritisation  # N voters × 10 stickers, open
    survey_id: int
    committee_id: int
    digest_since: datetime
    ordinary: list[int]  # residents who voted, answered and were sent to: /mydata, /forgetme
    rng: random.Random
    state: dict[str, Any] = field(default_factory=dict)  # what a run leaves for its undo

    async def member(self, user_id: int) -> Member:
        return await _member(self.db, self.community_id, user_id)

    def next_ordinary(self) -> int:
        """A different ordinary member each time (forgotten ones do not come back)."""
        return self.ordinary.pop()


def _name(rng: random.Random) -> tuple[str, str | None, str | None]:
    script = rng.choice(("fa", "fa", "fa", "kk", "he", "en", "en"))
    first = rng.choice(FIRST_NAMES[script])
    if rng.random() < 0.1:  # mixed: a name in one script, the surname in another
        script = rng.choice(tuple(LAST_NAMES))
    last = rng.choice(LAST_NAMES[script]) if rng.random() < 0.8 else None
    username = (f"{rng.choice(FIRST_NAMES['en']).lower()}_{rng.randrange(10**6)}"
                if rng.random() < 0.4 else None)
    return first, last, username


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 25)))


def _stamp(moment: datetime) -> str:
    text = to_db(moment)
    assert text is not None
    return text


async def build(db: Database, members: int, rng: random.Random) -> City:
    now = utcnow()
    stamp = _stamp(now)
    community = await community_store.create_community(
        db, name="Mashhad, district 9", default_language="fa", timezone="Asia/Tehran",
        created_by=None)
    cid = community.id
    ids = list(range(FIRST_ID, FIRST_ID + members))
    groups = [rng.choice(DEFAULT_STAKEHOLDER_GROUPS) for _ in ids]
    group_of = dict(zip(ids, groups, strict=True))

    def users() -> Iterator[tuple[Any, ...]]:
        for user_id in ids:
            first, last, username = _name(rng)
            joined = _stamp(now - timedelta(seconds=rng.randrange(120 * 86400)))
            yield (user_id, first, last, username, rng.choice(LANGUAGES),
                   int(rng.random() < 0.3), int(rng.random() >= 0.03), cid, joined, joined)

    def memberships() -> Iterator[tuple[Any, ...]]:
        for index, user_id in enumerate(ids):
            role = "coordinator" if index < 3 else "committee" if index < 23 else "resident"
            joined = _stamp(now - timedelta(seconds=rng.randrange(120 * 86400)))
            yield (cid, user_id, role, groups[index], joined, joined)

    async with db.transaction():
        await db.executemany(
            "INSERT INTO users (id, first_name, last_name, username, language,"
            " language_chosen, reachable, current_community_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", users())
        await db.executemany(
            "INSERT INTO memberships (community_id, user_id, role, stakeholder_group,"
            " joined_at, privacy_accepted_at) VALUES (?, ?, ?, ?, ?, ?)", memberships())
        # The coordinator reaches everyone in chat.
        await db.execute("UPDATE users SET reachable = 1, language = 'fa' WHERE id = ?",
                         (ids[0],))
    db.people_changed()

    # The closed vote: 0.8·N voters, 3 stickers each on 3 different problems.
    small = await voting_store.create(db, cid, title="What matters most? (spring)",
                                      method="stickers", problems=PROBLEMS[:10], stickers=3,
                                      created_by=ids[0])
    small_problems = [p.id for p in await voting_store.problems(db, small.id)]
    small_voters = rng.sample(ids, int(0.8 * members))

    def small_stickers() -> Iterator[tuple[Any, ...]]:
        for user_id in small_voters:
            for slot, problem in enumerate(rng.sample(small_problems, 3), start=1):
                yield (small.id, user_id, slot, problem, group_of[user_id], stamp)

    insert = ("INSERT INTO stickers (prioritisation_id, user_id, slot, problem_id,"
              " stakeholder_group, placed_at) VALUES (?, ?, ?, ?, ?, ?)")
    async with db.transaction():
        await db.executemany(insert, small_stickers())
    await voting_store.set_offline(db, small.id, {small_problems[0]: 40})
    await voting_store.close(db, small.id)

    # The open vote: a budget of 10 on 12 problems, no stacking; every member places all 10.
    big = await voting_store.create(db, cid, title="What matters most? (autumn)",
                                    method="stickers", problems=PROBLEMS, stickers=10,
                                    created_by=ids[0])
    big_problems = [p.id for p in await voting_store.problems(db, big.id)]
    weights = [rng.random() + 0.2 for _ in big_problems]

    def big_stickers() -> Iterator[tuple[Any, ...]]:
        for user_id in ids:
            skipped: set[int] = set()
            while len(skipped) < 2:  # the two problems this voter leaves out, by weight
                skipped.add(rng.choices(range(len(big_problems)), weights)[0])
            chosen = [p for i, p in enumerate(big_problems) if i not in skipped]
            rng.shuffle(chosen)
            for slot, problem in enumerate(chosen, start=1):
                yield (big.id, user_id, slot, problem, group_of[user_id], stamp)

    async with db.transaction():
        await db.executemany(insert, big_stickers())

    # The survey: named, ten questions, half the members finished it.
    options = [{"fa": f"گزینه {i}", "en": f"Option {i}"} for i in range(1, 6)]
    survey = await survey_store.create(
        db, cid, ids[0], title={"fa": "نیازهای محله", "en": "Our needs"}, intro={},
        anonymous=False, opens_at=None, closes_at=None, questions=[
            {"kind": "single", "prompt": {"en": "Which problem first?"}, "options": options},
            {"kind": "multiple", "prompt": {"en": "What do you use?"}, "options": options,
             "max_choices": 3},
            {"kind": "scale", "prompt": {"en": "How safe do you feel?"}},
            {"kind": "yesno", "prompt": {"en": "Do you walk to work?"}},
            {"kind": "text", "prompt": {"en": "What should change?"}},
            {"kind": "single", "prompt": {"en": "How long have you lived here?"},
             "options": options},
            {"kind": "multiple", "prompt": {"en": "Which services are missing?"},
             "options": options, "required": False},
            {"kind": "scale", "prompt": {"en": "How clean is the street?"}},
            {"kind": "yesno", "prompt": {"en": "Would you volunteer?"}, "required": False},
            {"kind": "text", "prompt": {"en": "Anything else?"}, "required": False}])
    questions = survey.questions
    respondents = rng.sample(ids, members // 2)
    first_response = 1

    def value(kind: str, required: bool) -> str | None:
        if not required and rng.random() < 0.4:
            return None
        if kind == "single":
            return json.dumps(rng.randrange(5))
        if kind == "multiple":
            return json.dumps(sorted(rng.sample(range(5), rng.randint(1, 3))))
        if kind == "scale":
            return json.dumps(rng.randint(1, 5))
        if kind == "yesno":
            return json.dumps(rng.random() < 0.5)
        return json.dumps(_text(rng), ensure_ascii=False)

    def answers() -> Iterator[tuple[Any, ...]]:
        for index in range(len(respondents)):
            for q in questions:
                given = value(q.kind, q.required)
                if given is not None:
                    yield (first_response + index, q.id, given)

    async with db.transaction():
        await db.executemany(
            "INSERT INTO survey_responses (id, survey_id, respondent_id, language, position,"
            " finished, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?)",
            ((first_response + index, survey.id, user_id, rng.choice(LANGUAGES),
              len(questions), _stamp(now - timedelta(seconds=rng.randrange(20 * 86400))))
             for index, user_id in enumerate(respondents)))
        await db.executemany(
            "INSERT INTO survey_answers (response_id, question_id, value) VALUES (?, ?, ?)",
            answers())
        await db.executemany(
            "INSERT INTO survey_participants (survey_id, user_id) VALUES (?, ?)",
            ((survey.id, user_id) for user_id in respondents))
    await survey_store.set_status(db, survey.id, "closed", was="open")

    # A past broadcast to everyone, delivered: the outbox as it stands after one.
    sent = _stamp(now - timedelta(days=10))
    async with db.transaction():
        past = await db.execute(
            "INSERT INTO broadcasts (community_id, created_by, audience, status, created_at,"
            " finished_at) VALUES (?, ?, 'all', 'done', ?, ?)", (cid, ids[0], sent, sent))
        await db.execute(
            "INSERT INTO broadcast_texts (broadcast_id, lang, text) VALUES (?, 'fa', ?)",
            (past, "جلسه محله پنجشنبه ساعت ۶"))
        await db.execute(
            "INSERT INTO outbox (broadcast_id, chat_id, user_id, text, state, attempts,"
            " due_at, created_at, sent_at) SELECT ?, u.id, u.id, ?, 'sent', 1, ?, ?, ?"
            " FROM memberships m JOIN users u ON u.id = m.user_id"
            " WHERE m.community_id = ? AND u.reachable = 1",
            (past, "جلسه محله پنجشنبه ساعت ۶", sent, sent, sent, cid))

    # A committee of nine with a weekly digest; a plan with tasks, some changed this week.
    committee = await committee_store.create_committee(db, cid, "Neighbourhood committee")
    for user_id in ids[3:12]:
        await committee_store.add_member(db, committee.id, user_id, "elected", "general")
    since = now - timedelta(days=7)
    period, _at = digest_flow.current_period("weekly", 18, 0, now, "Asia/Tehran")
    await digest_store.configure(db, committee.id, frequency="weekly", hour=18, weekday=0,
                                 to_chat=False, since=since, period=period)
    plan = await plan_store.create_plan(db, cid, PROBLEMS[0], ids[0])
    today = now.date()
    for n in range(30):
        task = await plan_store.add_task(
            db, plan.id, ids[0], title=f"Task {n}", responsible_id=ids[n + 3],
            starts_on=today - timedelta(days=40 - n), due_on=today + timedelta(days=n - 10))
        if n % 3 == 0:
            await plan_store.change_task(db, task, ids[0], status="in_progress",
                                         progress=10 * (n % 10))
    indicator = await plan_store.add_indicator(db, plan.id, name="Lights working",
                                               unit="lamps", baseline=10, target=60,
                                               direction="up", task_id=None)
    for n in range(12):
        await plan_store.add_reading(db, indicator, 10 + 4 * n,
                                     today - timedelta(days=90 - 7 * n), None, ids[0])

    # Residents for /mydata and /forgetme: voted in both votes, answered, were sent to.
    answered = set(respondents)
    voted = set(small_voters)
    ordinary = [u for u in ids[100:] if u in answered and u in voted][:64]
    city = City(db, members, cid, await _member(db, cid, ids[0]), small, big, survey.id,
                committee.id, since, ordinary, rng)
    city.state["tappers"] = ids[200:264]
    return city


async def _member(db: Database, community_id: int, user_id: int) -> Member:
    user = await community_store.get_user(db, user_id)
    community = await community_store.get_community(db, community_id)
    membership = await community_store.get_membership(db, community_id, user_id)
    assert user is not None and community is not None and membership is not None
    return Member(user, community, membership, Translator(user.language, community.timezone),
                  False)


# -- the operations ---------------------------------------------------------------------------
# Each is what a handler does, through the same flow and storage calls, ending where the
# handler would hand text or a file to Telegram.


async def survey_export(city: City, kind: str) -> bytes:
    """Export CSV / Export XLSX (bot/handlers/survey.py ``export``)."""
    who = city.coordinator
    found = await survey_flow.export(city.db, who, city.survey_id)
    return await asyncio.to_thread(survey_handlers._export_file, who.t, who.community, found,
                                   "xlsx" if kind == "xlsx" else "csv")


async def survey_results_text(city: City) -> list[str]:
    """A survey's results (bot/handlers/survey.py ``results``): the messages it sends."""
    who = city.coordinator
    found = await survey_flow.results(city.db, who, city.survey_id)
    return survey_handlers._results_text(who.t, who.community, found)


async def broadcast_to_all(city: City) -> int:
    """A broadcast to everyone, sent: the outbox filled (bot/flows/broadcast.py ``send``)."""
    draft = broadcast_flow.new_draft("جلسه محله پنجشنبه ساعت ۶ در مسجد", None, "fa")
    broadcast, count = await broadcast_flow.send(city.db, city.coordinator, draft, paid=False)
    city.state["broadcast"] = broadcast.id
    return count


async def undo_broadcast(city: City) -> None:
    broadcast_id = city.state.pop("broadcast", None)
    if broadcast_id is not None:
        await city.db.execute("DELETE FROM outbox WHERE broadcast_id = ?", (broadcast_id,))
        await city.db.execute("DELETE FROM broadcasts WHERE id = ?", (broadcast_id,))


async def restart_sticker_book(city: City) -> None:
    """A fresh StickerBook, as after a restart, and a voter who has not tapped since."""
    city.state["book"] = StickerBook(city.db)
    voter = await city.member(city.state["tappers"].pop())
    mine = await voting_store.my_stickers(city.db, city.big_vote.id, voter.user.id)
    city.state["tap"] = (voter, next(iter(mine)))


async def first_tap(city: City) -> Any:
    """The first tap after a restart (bot/flows/voting.py ``place_sticker``): taking back a
    sticker, as every member's 10 are placed."""
    voter, problem = city.state["tap"]
    return await voting_flow.place_sticker(city.state["book"], voter, city.big_vote.id,
                                           problem, back=True)


async def undo_tap(city: City) -> None:
    voter, problem = city.state.pop("tap")
    await voting_flow.place_sticker(city.state.pop("book"), voter, city.big_vote.id, problem)


async def vote_results_text(city: City) -> list[str]:
    """A vote's results (bot/handlers/voting.py ``_send_results``, without the chart)."""
    who = city.coordinator
    report = await voting_flow.results_of(city.db, who, city.big_vote.id)
    return split_text(voting_handlers.results_text(who.t, report))


async def digest_changes(city: City) -> Any:
    """What the committee's digest reports (bot/flows/digest.py ``due_now``)."""
    return await digest_store.changes(city.db, city.community_id, city.committee_id,
                                      city.digest_since, utcnow().date())


async def choose_ordinary(city: City) -> None:
    city.state["person"] = city.next_ordinary()


async def my_data(city: City) -> bytes:
    return await account_flow.export(city.db, city.state["person"])


async def forget_me(city: City) -> None:
    await account_flow.forget(city.db, city.state["person"])


async def survey_missing(city: City) -> Any:
    """Who has not answered (bot/handlers/survey.py ``missing``): the count and the first
    names; what /results used to build from ``finished_responses``."""
    return await survey_flow.missing(city.db, city.coordinator, city.survey_id)


async def who_taps(city: City) -> Any:
    """Who is behind a tap, after a restart (bot/actor.py): the user, their membership and
    community — formerly a load of the whole community on the first tap."""
    people = People(city.db)
    person = await people.loader.get(city.ordinary[0])
    assert person is not None and person[1] is not None
    return await people.community(city.community_id)


async def vote_announcement(city: City) -> Any:
    """Everyone a new vote is announced to (bot/flows/voting.py ``audience``)."""
    return await voting_flow.audience(city.db, city.big_vote)


@dataclass(frozen=True)
class Operation:
    """One row: the timed call, and untimed steps that give each run a fresh state."""

    run: Callable[[City], Awaitable[Any]]
    before: Callable[[City], Awaitable[None]] | None = None
    after: Callable[[City], Awaitable[None]] | None = None


OPERATIONS: dict[str, Operation] = {
    "survey XLSX export": Operation(lambda c: survey_export(c, "xlsx")),
    "survey CSV export": Operation(lambda c: survey_export(c, "csv")),
    "survey results text": Operation(survey_results_text),
    "broadcast enqueue, all": Operation(broadcast_to_all, after=undo_broadcast),
    "StickerBook first tap after restart, 10N": Operation(
        first_tap, before=restart_sticker_book, after=undo_tap),
    "who has not answered the survey": Operation(survey_missing),
    "who taps, first tap after restart": Operation(who_taps),
    "coordinators (members by role)": Operation(
        lambda c: community_store.members(c.db, c.community_id, roles=("coordinator",))),
    "vote announcement audience, all": Operation(vote_announcement),
    "member search": Operation(  # part of a common surname (کریمی), as a coordinator types
        lambda c: community_flow.find_members(c.db, c.community_id, "کریم", limit=9)),
    "member search, nobody matches": Operation(  # a typo: every name looked at
        lambda c: community_flow.find_members(c.db, c.community_id, "qqzx", limit=9)),
    "voting results text, 10N": Operation(vote_results_text),
    "digest changes": Operation(digest_changes),
    "participation_by_group, 10N": Operation(
        lambda c: voting_store.participation_by_group(c.db, c.big_vote)),
    "sticker_tally, 10N": Operation(lambda c: voting_store.sticker_tally(c.db, c.big_vote.id)),
    "/mydata, one member": Operation(my_data, before=choose_ordinary),
    "/forgetme, one member": Operation(forget_me, before=choose_ordinary),
}


# -- measuring --------------------------------------------------------------------------------


def _status_mb(key: str) -> float:
    """VmRSS or VmHWM of this process, MB (Linux); ru_maxrss as the fallback for the peak."""
    with suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux ≥ 4.0): each call's own peak."""
    with suppress(OSError), open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


@dataclass
class Figures:
    time: float
    loop: float
    wait: float
    peak: float
    added: float


async def _lateness(stop: asyncio.Event, worst: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(0.001)
        worst[0] = max(worst[0], (loop.time() - start - 0.001) * 1000)


async def _others(db: Database, stop: asyncio.Event, worst: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await db.fetchval("SELECT 1")
        worst[0] = max(worst[0], (time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.001)


async def measure(city: City, operation: Operation) -> Figures:
    if operation.before is not None:
        await operation.before(city)
    gc.collect()
    before = _status_mb("VmRSS")
    _reset_peak()
    stop = asyncio.Event()
    late, waited = [0.0], [0.0]
    probes = [asyncio.create_task(_lateness(stop, late)),
              asyncio.create_task(_others(city.db, stop, waited))]
    await asyncio.sleep(0)  # both probes running before the call starts
    start = time.perf_counter()
    result = await operation.run(city)
    took = (time.perf_counter() - start) * 1000
    stop.set()
    await asyncio.gather(*probes)
    peak, after = _status_mb("VmHWM"), _status_mb("VmRSS")
    del result
    if operation.after is not None:
        await operation.after(city)
    return Figures(took, late[0], waited[0], peak, after - before)


def _median(runs: Sequence[Figures]) -> Figures:
    return Figures(*(statistics.median(getattr(r, f) for r in runs)
                     for f in ("time", "loop", "wait", "peak", "added")))


async def measure_size(members: int, args: argparse.Namespace,
                       names: Sequence[str]) -> dict[str, Figures]:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"scale-{members}.sqlite3"
        if args.db:
            path = Path(args.db)
            if len(args.sizes) > 1:
                path = path.with_name(f"{path.stem}-{members}{path.suffix}")
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
        db = await Database.open(path)
        try:
            started = time.perf_counter()
            gc.collect()
            _reset_peak()
            city = await build(db, members, rng)
            await db.checkpoint()
            print(f"\nbuilt {members:,} members, {int(0.8 * members) * 3:,} + {10 * members:,}"
                  f" stickers, {members // 2:,} survey responses in"
                  f" {time.perf_counter() - started:.1f} s (peak RSS while building"
                  f" {_status_mb('VmHWM'):.0f} MB)", flush=True)
            figures: dict[str, Figures] = {}
            for name in names:
                runs = [await measure(city, OPERATIONS[name]) for _ in range(args.runs)]
                figures[name] = _median(runs)
                f = figures[name]
                print(f"  {name:42} {f.time:9.1f} ms  loop {f.loop:8.1f}  wait {f.wait:8.1f}"
                      f"  peak {f.peak:6.0f} MB  added {f.added:+6.0f} MB", flush=True)
            return figures
        finally:
            await db.close()


def _misses(f: Figures, growth: float | None) -> list[str]:
    missed = []
    if f.loop > TARGET_MS:
        missed.append("loop")
    if f.wait > TARGET_MS:
        missed.append("wait")
    if f.peak > TARGET_RSS_MB:
        missed.append("peak")
    if growth is not None and growth > TARGET_GROWTH:
        missed.append("growth")
    return missed


def _size(members: int) -> str:
    return f"{members // 1000}k" if members % 1000 == 0 and members >= 1000 else str(members)


def report(results: dict[int, dict[str, Figures]], names: Sequence[str],
           runs: int) -> list[str]:
    """The summary table and the markdown one; returns the markdown lines."""
    sizes = sorted(results)
    small, large = sizes[0], sizes[-1]
    scale = large / small if large != small else None
    goal = (f", growth {_size(small)} → {_size(large)} <= {TARGET_GROWTH:.0f}x"
              f" ({scale:.0f}x the data)" if scale else "")
    print(f"\nmedian of {runs} run(s); loop, wait, peak and added at {large:,} members;"
          f" targets: loop and wait <= {TARGET_MS:.0f} ms, peak RSS <= {TARGET_RSS_MB:.0f} MB"
          f"{goal}")
    head = (["operation"] + [f"time {_size(s)}" for s in sizes]
            + ["loop blocked", "others wait", "peak RSS", "memory added"]
            + (["growth"] if scale else []) + ["targets"])
    markdown = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        f = results[large][name]
        growth = (results[large][name].time / max(results[small][name].time, 0.01)
                  if scale else None)
        missed = _misses(f, growth)
        cells = ([name] + [f"{results[s][name].time:,.0f} ms" for s in sizes]
                 + [f"{f.loop:,.0f} ms", f"{f.wait:,.0f} ms", f"{f.peak:,.0f} MB",
                    f"{f.added:+,.0f} MB"]
                 + ([f"{growth:.1f}×"] if growth is not None else [])
                 + ["✗ " + ", ".join(missed) if missed else "✓"])
        markdown.append("| " + " | ".join(cells) + " |")
    print()
    print("\n".join(markdown))
    return markdown


async def run(argv: Sequence[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", default="10000,100000",
                        help="community sizes, comma-separated (default 10000,100000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per operation (median)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--db", help="keep the database here (suffixed by size when several)")
    parser.add_argument("--only", help="operations to run, comma-separated names")
    args = parser.parse_args(argv)
    args.sizes = sorted(int(s) for s in args.members.replace("_", "").split(","))
    if args.sizes[0] < 300:
        parser.error("--members: at least 300 (the dataset picks residents beyond the 200th)")
    names = list(OPERATIONS)
    if args.only:
        names = [n for n in names if any(part.strip() in n for part in args.only.split(","))]
    handler_modules()  # every capability's /mydata and /forgetme part, as in the bot
    results = {size: await measure_size(size, args, names) for size in args.sizes}
    return report(results, names, args.runs)


if __name__ == "__main__":
    asyncio.run(run())
