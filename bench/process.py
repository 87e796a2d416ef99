"""The participation cycle over a big community: /process, a step's event, the standing.

    .venv/bin/python bench/process.py [--members 10000] [--calls 50] [--seed 19]

Builds (seeded, with bulk SQL that respects the schema) a community of ``--members``
members with everything open at once that /process looks at for one member: an open survey
nine in ten members answered, an open sticker vote in which nine in ten placed 3 stickers,
an open election nine in ten voted in, an open brainstorm of 500 cards with a "me too"
from every member, and a plan of 50 tasks (a tree, an indicator with readings) — and a
member who has done none of it. Then it prints, over ``--calls`` calls each (p50 and p99,
milliseconds; target: each ≤ 100 ms, the design's limit for what serves one person):

- ``summary``: /process for that member (every step's facts and their open items);
- ``standing``: what digests, the weekly note, the dashboard and the city ask;
- ``happened``: a step's event (a task changed), as every capability reports it;
- ``vote_closed``: the event after a vote closes, with its outcome computed beforehand.

Figures on the shared 2-core machine are noisy; run it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.flows import process as flow  # noqa: E402
from bot.flows import voting as voting_flow  # noqa: E402
from bot.flows.people import Member  # noqa: E402
from bot.i18n import Translator  # noqa: E402
from storage import brainstorm as brainstorm_store  # noqa: E402
from storage import committee as committee_store  # noqa: E402
from storage import community as community_store  # noqa: E402
from storage import plan as plan_store  # noqa: E402
from storage import survey as survey_store  # noqa: E402
from storage import voting as voting_store  # noqa: E402
from storage.community import DEFAULT_STAKEHOLDER_GROUPS  # noqa: E402
from storage.db import Database, to_db, utcnow  # noqa: E402

FIRST_ID = 2_000_000


async def build(db: Database, members: int, rng: random.Random) -> tuple[int, int, int, int]:
    """The community; returns (community, the idle member, the plan, the vote)."""
    community = await community_store.create_community(
        db, name="Bench district", default_language="en", timezone="Asia/Tehran",
        created_by=None)
    cid, now = community.id, to_db(utcnow())
    ids = list(range(FIRST_ID, FIRST_ID + members))
    active = ids[: members * 9 // 10]
    idle = ids[-1]
    groups = {u: rng.choice(DEFAULT_STAKEHOLDER_GROUPS) for u in ids}
    async with db.transaction():
        await db.executemany(
            "INSERT INTO users (id, first_name, language, current_community_id, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(u, f"Member {u}", rng.choice(("fa", "kk", "he", "en")), cid, now, now)
             for u in ids])
        await db.executemany(
            "INSERT INTO memberships (community_id, user_id, role, stakeholder_group,"
            " joined_at, privacy_accepted_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(cid, u, "coordinator" if u == ids[0] else "resident", groups[u], now, now)
             for u in ids])
    db.people_changed()
    survey = await survey_store.create(
        db, cid, ids[0], title={"en": "Needs", "fa": "نیازها"}, intro={}, anonymous=False,
        opens_at=None, closes_at=None,
        questions=[{"kind": "yesno", "prompt": {"en": "Safe at night?"}}])
    async with db.transaction():
        await db.executemany("INSERT INTO survey_participants (survey_id, user_id) VALUES"
                             " (?, ?)", [(survey.id, u) for u in active])
    vote = await voting_store.create(db, cid, title="Priorities", method="stickers",
                                     problems=[f"Problem {i}" for i in range(10)], stickers=3)
    problems = [p.id for p in await voting_store.problems(db, vote.id)]
    async with db.transaction():
        await db.executemany(
            "INSERT INTO stickers (prioritisation_id, user_id, slot, problem_id,"
            " stakeholder_group, placed_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(vote.id, u, slot, p, groups[u], now) for u in active
             for slot, p in enumerate(rng.sample(problems, 3), start=1)])
    election = await committee_store.create_election(
        db, cid, name="Committee", seats=9, approvals=9, nomination_days=3, voting_days=3,
        quotas={}, created_by=ids[0])
    await committee_store.advance(db, election.id, to="nominating")
    await committee_store.advance(db, election.id, to="voting")
    async with db.transaction():
        await db.executemany("INSERT INTO election_voters (election_id, user_id) VALUES (?, ?)",
                             [(election.id, u) for u in active])
    round_ = await brainstorm_store.open_round(db, cid, "What is hard here?", ids[0])
    assert round_ is not None
    cards = [await brainstorm_store.add_card(db, round_.id, ids[n % len(ids)], f"Card {n}",
                                             None) for n in range(500)]
    async with db.transaction():
        await db.executemany("INSERT OR IGNORE INTO card_supporters (card_id, user_id)"
                             " VALUES (?, ?)", [(rng.choice(cards), u) for u in ids[:-1]])
    plan = await plan_store.create_plan(db, cid, "Problem 0", ids[0])
    today = date.today()
    for n in range(50):
        await plan_store.add_task(db, plan.id, ids[0], title=f"Task {n}",
                                  responsible_id=idle if n % 10 == 0 else ids[n + 1],
                                  starts_on=today - timedelta(days=30),
                                  due_on=today + timedelta(days=n))
    for n in range(20):
        await plan_store.add_tree_item(db, plan.id, "cause" if n % 2 else "consequence",
                                       f"Branch {n}", ids[1], "accepted")
    indicator = await plan_store.add_indicator(db, plan.id, name="Lamps", unit="lamps",
                                               baseline=10, target=60, direction="up",
                                               task_id=None)
    for n in range(30):
        await plan_store.add_reading(db, indicator, 10 + n, today - timedelta(days=n), None,
                                     ids[0])
    for event, subject in (("survey_opened", survey.id), ("vote_opened", vote.id),
                           ("election_opened", election.id), ("plan_created", plan.id),
                           ("tree_changed", plan.id), ("resource_offered", 0)):
        await flow.happened(db, cid, event, subject)  # type: ignore[arg-type]
    return cid, idle, plan.id, vote.id


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


async def _time(calls: int, work: Callable[[], Awaitable[object]]) -> list[float]:
    spent = []
    for _ in range(calls):
        start = time.perf_counter()
        await work()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


async def main(members: int, calls: int, seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bench.sqlite3")
        started = time.perf_counter()
        cid, idle, plan_id, vote_id = await build(db, members, rng)
        print(f"built {members:,} members with an open survey, sticker vote, election and"
              f" brainstorm, and a plan of 50 tasks, in {time.perf_counter() - started:.1f} s")
        community = await community_store.get_community(db, cid)
        user = await community_store.get_user(db, idle)
        membership = await community_store.get_membership(db, cid, idle)
        assert community is not None and user is not None
        who = Member(user, community, membership, Translator("fa", community.timezone), False)
        found = await flow.summary(db, who)
        print(f"/process for a member who has done nothing yet: {len(found.mine)} open items")
        prioritisation = await voting_store.get(db, vote_id)
        assert prioritisation is not None
        outcome = await voting_flow.outcome(db, prioritisation)
        results = {
            "summary": await _time(calls, lambda: flow.summary(db, who)),
            "standing": await _time(calls, lambda: flow.standing(db, cid)),
            "happened": await _time(calls, lambda: flow.happened(db, cid, "task_changed",
                                                                 plan_id)),
            "vote_closed": await _time(calls, lambda: flow.happened(
                db, cid, "vote_closed", vote_id, outcome=outcome)),
        }
        print(f"{'call':<12} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
        for name, spent in results.items():
            print(f"{name:<12} {_p(spent, 0.5):8.1f} {_p(spent, 0.99):8.1f}"
                  f" {statistics.mean(spent):8.1f}")
        await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seed", type=int, default=19)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.members, arguments.calls, arguments.seed))
