"""A city's flows over a big tree: how long each holds the database for one person.

    .venv/bin/python bench/city.py [--districts 10] [--neighbourhoods 137] [--members 200]

Builds (seeded, with bulk SQL that respects the schema) a city with ``--districts``
districts and ``--neighbourhoods`` neighbourhoods spread over them, ``--members`` members in
each neighbourhood (in the eight default groups), and in every neighbourhood a closed
sticker vote of 10 problems in which each member placed 3 stickers. Then it times, with the
city's coordinator acting (the same calls the handlers make), and prints p50 and the worst
of ``--repeat`` runs in milliseconds:

- ``/city``: the view and the figures of the first page of districts;
- the figures of one neighbourhood, read from above;
- the merged list: its first gathering (every neighbourhood's newest vote), then as shown
  again; a merge;
- opening a vote of everyone below (its electorate: every member, each once) and the
  audience of a broadcast to everyone below;
- a sticker placed or taken back in that vote, and its result after every member voted.

The design's target: nothing that serves one person holds the loop or the database for
more than 100 ms. Figures on the shared 2-core machine are noisy; run it twice.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.flows import broadcast as broadcast_flow  # noqa: E402
from bot.flows import city as flow  # noqa: E402
from bot.flows.people import Member  # noqa: E402
from bot.i18n import Translator  # noqa: E402
from storage import city as store  # noqa: E402
from storage import community as community_store  # noqa: E402
from storage.community import DEFAULT_STAKEHOLDER_GROUPS  # noqa: E402
from storage.db import Database, to_db, utcnow  # noqa: E402

FIRST_ID = 1_000_000
PROBLEMS = [f"Problem {i}: a neighbourhood issue with a reasonably long title" for i in
            range(30)]


async def build(db: Database, args: argparse.Namespace, rng: random.Random,
                ) -> tuple[Member, list[int], list[int]]:
    now = to_db(utcnow())
    make = community_store.create_community
    city = await make(db, name="City", default_language="en", timezone="UTC", created_by=None)
    districts = [await make(db, name=f"District {d}", default_language="en", timezone="UTC",
                            created_by=None) for d in range(args.districts)]
    for district in districts:
        await store.set_parent(db, district.id, city.id, None)
    neighbourhoods = []
    for n in range(args.neighbourhoods):
        child = await make(db, name=f"Neighbourhood {n}", default_language="en",
                           timezone="UTC", created_by=None)
        await store.set_parent(db, child.id, districts[n % len(districts)].id, None)
        neighbourhoods.append(child.id)
    coordinator = FIRST_ID - 1
    await community_store.upsert_user(db, coordinator, first_name="Mina", last_name=None,
                                      username=None, language="en")
    await community_store.join(db, city.id, coordinator, role="coordinator",
                               stakeholder_group="ngo")
    next_id = FIRST_ID
    async with db.transaction():
        for community_id in neighbourhoods:
            people = list(range(next_id, next_id + args.members))
            next_id += args.members
            await db.executemany(
                "INSERT INTO users (id, first_name, language, current_community_id,"
                " created_at, updated_at) VALUES (?, ?, 'en', ?, ?, ?)",
                [(p, f"Resident {p}", community_id, now, now) for p in people])
            await db.executemany(
                "INSERT INTO memberships (community_id, user_id, role, stakeholder_group,"
                " joined_at, privacy_accepted_at) VALUES (?, ?, 'resident', ?, ?, ?)",
                [(community_id, p, rng.choice(DEFAULT_STAKEHOLDER_GROUPS), now, now)
                 for p in people])
            vote_id = await db.execute(
                "INSERT INTO prioritisations (community_id, title, method, created_at)"
                " VALUES (?, 'What matters most?', 'stickers', ?)", (community_id, now))
            titles = rng.sample(PROBLEMS, 10)
            problem_ids = [await db.execute(
                "INSERT INTO vote_problems (prioritisation_id, position, title)"
                " VALUES (?, ?, ?)", (vote_id, i, title)) for i, title in enumerate(titles, 1)]
            await db.executemany(
                "INSERT INTO stickers (prioritisation_id, user_id, slot, problem_id,"
                " stakeholder_group, placed_at) VALUES (?, ?, ?, ?, 'activist', ?)",
                [(vote_id, p, slot, problem, now) for p in people
                 for slot, problem in enumerate(rng.sample(problem_ids, 3), 1)])
            await db.execute("UPDATE prioritisations SET status = 'closed', closed_at = ?"
                             " WHERE id = ?", (now, vote_id))
    user = await community_store.get_user(db, coordinator)
    membership = await community_store.get_membership(db, city.id, coordinator)
    assert user is not None
    who = Member(user, city, membership, Translator("en"), False)
    return who, neighbourhoods, list(range(FIRST_ID, next_id))


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float, Any]:
    took, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = await call()
        took.append((time.perf_counter() - start) * 1000)
    return statistics.median(took), max(took), result


def line(name: str, p50: float, worst: float) -> None:
    print(f"| {name} | {p50:.0f} ms | {worst:.0f} ms |")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--districts", type=int, default=10)
    parser.add_argument("--neighbourhoods", type=int, default=137)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "city.sqlite3")
        try:
            started = time.perf_counter()
            who, neighbourhoods, voters = await build(db, args, rng)
            print(f"built {args.neighbourhoods} neighbourhoods, {len(voters)} members, "
                  f"{len(voters) * 3} stickers in {time.perf_counter() - started:.1f} s")
            print("| call | p50 | worst |\n|---|---|---|")
            runs = args.repeat
            line("/city: the view", *(await timed(runs, lambda: flow.view(db, who)))[:2])
            districts = [c.id for c in (await flow.view(db, who)).children][:8]
            line("/city: figures of a page of districts",
                 *(await timed(runs, lambda: flow.figures_below(db, who, districts)))[:2])
            line("one neighbourhood's figures", *(await timed(
                runs, lambda: flow.community_figures(db, who, neighbourhoods[0])))[:2])
            first = await timed(1, lambda: flow.merged_list(db, who))
            line("merged list, first gathering", *first[:2])
            again = await timed(runs, lambda: flow.merged_list(db, who))
            line("merged list, shown again", *again[:2])
            entries = again[2].entries
            line("a merge", *(await timed(1, lambda: flow.merge(
                db, who, entries[-1].problem.id, entries[0].problem.id)))[:2])
            opened = await timed(1, lambda: flow.open_vote(db, who, "below"))
            line(f"opening a vote of everyone below ({sum(len(u) for _c, u in opened[2].audience)}"
                 " people)", *opened[:2])
            line("a broadcast's audience: everyone below", *(await timed(
                runs, lambda: broadcast_flow.reach(db, who, "below")))[:2])
            vote = opened[2].vote
            users = await community_store.get_users(db, voters)
            items = await store.items(db, vote.id)
            took = []
            for user_id in voters:
                user = users[user_id]
                community = await community_store.get_community(db, user.current_community_id
                                                                or 0)
                assert community is not None
                membership = await community_store.get_membership(db, community.id, user_id)
                voter = Member(user, community, membership, Translator("en"), False)
                for position in rng.sample(range(1, len(items) + 1), 3):
                    start = time.perf_counter()
                    await flow.toggle(db, voter, vote.id, position)
                    took.append((time.perf_counter() - start) * 1000)
                if len(took) >= 3000:
                    break
            took.sort()
            line(f"a sticker in it ({len(took)} placed)", statistics.median(took), took[-1])
            line("its result", *(await timed(runs, lambda: flow.city_result(db, vote)))[:2])
        finally:
            await db.close()


if __name__ == "__main__":
    asyncio.run(main())
