"""The dashboard's data requests over a big community, with the bot serving chat meanwhile.

    .venv/bin/python bench/dashboard.py [--members 10000] [--requests 30] [--seed 20]

Builds (seeded, with the project's storage functions and bulk SQL that respects the schema)
a community of ``--members`` members in the eight default groups, a closed sticker vote in
which every member placed 3 stickers, with paper stickers, a survey every member answered,
a plan with 20 tasks, a problem tree and an indicator, and a brainstorm board. Then it runs
the real bot (``bot.app.serve`` against the in-process emulator) and the dashboard server
(``bot.webapp.server`` on 127.0.0.1), and prints:

- per endpoint, the latency of ``--requests`` sequential requests made from another thread
  (p50 and p99, milliseconds; target: every request ≤ 200 ms);
- the longest the event loop was blocked while the requests were served: the lateness of a
  1 ms timer (target: ≤ 50 ms);
- a chat update's delay: a resident's ``/help`` sent while the dashboard is being asked,
  from the update reaching the emulator to the bot's answer, against the same without the
  dashboard's load (median and worst).

Figures on the shared 2-core machine are noisy; run it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telegram.request import HTTPXRequest  # noqa: E402

from bot.app import build_application, serve  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.emulator import Emulator  # noqa: E402
from bot.webapp.auth import init_data_for  # noqa: E402
from bot.webapp.server import DashboardServer, Settings  # noqa: E402
from storage import brainstorm as brainstorm_store  # noqa: E402
from storage import community as community_store  # noqa: E402
from storage import plan as plan_store  # noqa: E402
from storage import survey as survey_store  # noqa: E402
from storage import voting as voting_store  # noqa: E402
from storage.community import DEFAULT_STAKEHOLDER_GROUPS  # noqa: E402
from storage.db import Database, to_db, utcnow  # noqa: E402

FIRST_ID = 1_000_000
ENDPOINTS = ["overview", "section/participation", "section/priorities", "section/plan",
             "section/indicators", "section/surveys"]
PROBLEMS = [f"Problem {i}: a neighbourhood issue with a reasonably long title"
            for i in range(1, 11)]


async def build(db: Database, members: int, rng: random.Random) -> tuple[int, int, int]:
    """The community; returns (community id, a coordinator's id, a resident's id)."""
    community = await community_store.create_community(
        db, name="Bench district", default_language="en", timezone="Asia/Tehran",
        created_by=None)
    now = to_db(utcnow())
    ids = list(range(FIRST_ID, FIRST_ID + members))
    groups = {user_id: rng.choice(DEFAULT_STAKEHOLDER_GROUPS) for user_id in ids}
    async with db.transaction():
        await db.executemany(
            "INSERT INTO users (id, first_name, language, current_community_id, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(u, f"Member {u}", rng.choice(("fa", "kk", "he", "en")), community.id, now, now)
             for u in ids])
        await db.executemany(
            "INSERT INTO memberships (community_id, user_id, role, stakeholder_group,"
            " joined_at, privacy_accepted_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(community.id, u, "coordinator" if u == ids[0] else "resident", groups[u], now,
              now) for u in ids])
    db.people_changed()
    vote = await voting_store.create(db, community.id, title="Our priorities",
                                     method="stickers", problems=PROBLEMS, stickers=3)
    problems = [p.id for p in await voting_store.problems(db, vote.id)]
    async with db.transaction():
        await db.executemany(
            "INSERT INTO stickers (prioritisation_id, user_id, slot, problem_id,"
            " stakeholder_group, placed_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(vote.id, u, slot, problem, groups[u], now) for u in ids
             for slot, problem in enumerate(rng.sample(problems, 3), start=1)])
    await voting_store.set_offline(db, vote.id, {problems[0]: 40, problems[3]: 25})
    await voting_store.close(db, vote.id)
    survey = await survey_store.create(
        db, community.id, ids[0], title={"en": "Needs"}, intro={}, anonymous=True,
        opens_at=None, closes_at=None, questions=[
            {"kind": "single", "prompt": {"en": "Which problem?"},
             "options": [{"en": f"Option {i}"} for i in range(5)]},
            {"kind": "scale", "prompt": {"en": "How safe?"}},
            {"kind": "text", "prompt": {"en": "Anything else?"}, "required": False}])
    q1, q2, q3 = (q.id for q in survey.questions)
    async with db.transaction():
        await db.executemany(
            "INSERT INTO survey_responses (id, survey_id, finished) VALUES (?, ?, 1)",
            [(u, survey.id) for u in ids])
        await db.executemany(
            "INSERT INTO survey_answers (response_id, question_id, value) VALUES (?, ?, ?)",
            [row for u in ids for row in (
                (u, q1, json.dumps(rng.randrange(5))), (u, q2, json.dumps(rng.randint(1, 5))),
                (u, q3, json.dumps(f"Text answer {u}")))])
        await db.executemany(
            "INSERT INTO survey_participants (survey_id, user_id) VALUES (?, ?)",
            [(survey.id, u) for u in ids])
    await survey_store.set_status(db, survey.id, "closed", was="open")
    plan = await plan_store.create_plan(db, community.id, PROBLEMS[0], ids[0])
    today = date.today()
    for n in range(20):
        await plan_store.add_task(db, plan.id, ids[0], title=f"Task {n}",
                                  responsible_id=ids[n + 1],
                                  starts_on=today - timedelta(days=30 - n),
                                  due_on=today + timedelta(days=n - 5))
    for n in range(10):
        await plan_store.add_tree_item(db, plan.id, "cause" if n % 2 else "consequence",
                                       f"Branch {n}", ids[1], "accepted")
    indicator = await plan_store.add_indicator(db, plan.id, name="Lights working",
                                               unit="lamps", baseline=10, target=60,
                                               direction="up", task_id=None)
    for n in range(12):
        await plan_store.add_reading(db, indicator, 10 + 4 * n, today - timedelta(days=90 - 7 * n),
                                     None, ids[0])
    round_ = await brainstorm_store.open_round(db, community.id, "What is hard here?", ids[0])
    assert round_ is not None
    for n in range(20):
        await brainstorm_store.add_card(db, round_.id, ids[n], f"Card {n}", None)
    return community.id, ids[0], ids[1]


def _client(base: str, init_data: str, requests: int, results: dict[str, list[float]],
            done: threading.Event) -> None:
    """Sequential requests from another thread, as a phone would make them."""
    try:
        for endpoint in ENDPOINTS:
            for _ in range(requests):
                request = Request(f"{base}/dashboard/api/{endpoint}",
                                  headers={"Authorization": "tma " + init_data})
                start = time.perf_counter()
                with urlopen(request, timeout=30) as response:
                    response.read()
                results.setdefault(endpoint, []).append((time.perf_counter() - start) * 1000)
    finally:
        done.set()


async def _blocked(stop: asyncio.Event, worst: list[float]) -> None:
    """The event loop's longest stall: how late a 1 ms timer fires."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(0.001)
        worst.append((loop.time() - start - 0.001) * 1000)


async def _chat_delays(emu: Emulator, user_id: int, stop: threading.Event | None,
                       count: int) -> list[float]:
    """/help from one resident, again and again: ms from sending to the bot's answer."""
    delays: list[float] = []
    person = emu.user(user_id, "Resident", language_code="en")
    for _ in range(count):
        if stop is not None and stop.is_set():
            break
        before = len(emu.messages(user_id))
        start = time.perf_counter()
        await person.send("/help")
        while len(emu.messages(user_id)) < before + 2:
            await asyncio.sleep(0.0005)
        delays.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.05)
    return delays


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


async def main(members: int, requests: int, seed: int) -> None:
    rng = random.Random(seed)
    emu = Emulator()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite3"
        db = await Database.open(path)
        started = time.perf_counter()
        community_id, coordinator, resident = await build(db, members, rng)
        print(f"built {members:,} members, a closed sticker vote ({3 * members:,} stickers),"
              f" a survey with {members:,} responses, a plan, in"
              f" {time.perf_counter() - started:.1f} s")
        config = Config(token=emu.token, database_path=path, timezone="Asia/Tehran")
        requests_kwargs: dict[str, Any] = {
            "request": HTTPXRequest(httpx_kwargs={"transport": emu.transport()}),
            "get_updates_request": HTTPXRequest(httpx_kwargs={"transport": emu.transport()}),
        }
        app = build_application(config, db, **requests_kwargs)
        stop = asyncio.Event()
        ready = asyncio.Event()
        bot = asyncio.create_task(serve(app, stop, ready=ready, poll_timeout=1))
        await ready.wait()
        server = await DashboardServer.start(
            Settings(db=db, token=emu.token, admins=frozenset()), "127.0.0.1", 0)
        emu.user(coordinator, "Coordinator", language_code="fa")
        init_data = init_data_for({"id": coordinator, "first_name": "C", "language_code": "fa"},
                                  emu.token)
        await _chat_delays(emu, resident, None, 3)  # warm the bot's caches
        quiet = await _chat_delays(emu, resident, None, 20)

        results: dict[str, list[float]] = {}
        done = threading.Event()
        lateness: list[float] = []
        stop_watch = asyncio.Event()
        watcher = asyncio.create_task(_blocked(stop_watch, lateness))
        thread = threading.Thread(target=_client, args=(server.base, init_data, requests,
                                                        results, done))
        thread.start()
        loaded = await _chat_delays(emu, resident, done, 10_000)
        while not done.is_set():
            await asyncio.sleep(0.01)
        thread.join()
        stop_watch.set()
        await watcher

        timings = {}
        survey_id = await db.fetchval("SELECT id FROM surveys WHERE community_id = ?",
                                      (community_id,))
        exported = threading.Event()

        def exports() -> None:
            try:
                for kind in ("csv", "xlsx"):
                    request = Request(
                        f"{server.base}/dashboard/api/surveys/{survey_id}/export.{kind}",
                        headers={"Authorization": "tma " + init_data})
                    start = time.perf_counter()
                    with urlopen(request, timeout=120) as response:
                        size = len(response.read())
                    timings[kind] = ((time.perf_counter() - start) * 1000, size)
            finally:
                exported.set()

        lateness_exports: list[float] = []
        stop_watch = asyncio.Event()
        watcher = asyncio.create_task(_blocked(stop_watch, lateness_exports))
        thread = threading.Thread(target=exports)
        thread.start()
        during_exports = await _chat_delays(emu, resident, exported, 10_000)
        while not exported.is_set():
            await asyncio.sleep(0.01)
        thread.join()
        stop_watch.set()
        await watcher

        await server.stop()
        stop.set()
        await bot
        await db.close()

    print(f"\n{requests} requests per endpoint, coordinator in fa (figures in ms)\n")
    print(f"{'endpoint':24} {'p50':>7} {'p99':>7} {'max':>7}")
    for endpoint in ENDPOINTS:
        values = results[endpoint]
        print(f"{endpoint:24} {_p(values, 0.5):7.1f} {_p(values, 0.99):7.1f}"
              f" {max(values):7.1f}")
    worst = max(lateness)
    every = [v for values in results.values() for v in values]
    print(f"\nslowest request: {max(every):.1f} ms (target <= 200)")
    print(f"event loop blocked at most {worst:.1f} ms while serving (1 ms timer's lateness;"
          f" target <= 50); p99 {_p(lateness, 0.99):.1f} ms")
    print(f"chat update (/help) answered in: quiet median {statistics.median(quiet):.1f} ms,"
          f" worst {max(quiet):.1f}; during dashboard requests median"
          f" {statistics.median(loaded):.1f} ms, worst {max(loaded):.1f} ms"
          f" ({len(loaded)} updates); added worst {max(loaded) - max(quiet):.1f} ms")
    for kind, (ms, size) in timings.items():
        print(f"export.{kind}: {ms:.0f} ms, {size / 1024:.0f} KiB (built in a worker thread)")
    print(f"during the exports: event loop blocked at most {max(lateness_exports):.1f} ms;"
          f" chat update worst {max(during_exports):.1f} ms, median"
          f" {statistics.median(during_exports):.1f} ms ({len(during_exports)} updates)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.members, args.requests, args.seed))
