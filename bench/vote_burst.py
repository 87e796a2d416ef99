"""Sticker-vote burst through the emulator: Mahfil against a minimal PTB bot (not a test).

    .venv/bin/python bench/vote_burst.py [--residents 2000] [--rate 200] [--seconds 10]
                                         [--runs 1] [--synchronous FULL]

Each bot runs in its own process (so peak memory is its own) with the in-process emulator
as Telegram. Three figures per bot:
- burst: every resident places 3 stickers at once; sticker taps answered per second;
- steady: taps arrive at ``--rate`` per second; latency from a tap's arrival at the emulator
  (what the bot fetches with getUpdates) to its answered callback, p50 and p99;
- peak memory (max RSS) of the process.
The minimal bot only answers the callback. Target (issue 4): Mahfil's burst throughput
≥ 0.8 × the minimal bot's, and p99 ≤ 50 ms. ``--runs 3`` repeats the pair (issue 16: the
target must hold run after run); ``--synchronous NORMAL`` measures what durable commits
(SQLite's ``synchronous=FULL``, the bot's setting) cost against the older setting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telegram import Update  # noqa: E402
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.app import build_application, serve  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.emulator import CallbackQuery, Emulator  # noqa: E402
from bot.handlers.voting import Sticker  # noqa: E402
from storage import community as community_store  # noqa: E402
from storage import voting as store  # noqa: E402
from storage.db import Database  # noqa: E402

PROBLEMS = [f"Problem {i}: a neighbourhood issue with a reasonably long title" for i in
            range(1, 11)]


def _requests(emu: Emulator) -> dict[str, Any]:
    return {
        "request": HTTPXRequest(connection_pool_size=64,
                                httpx_kwargs={"transport": emu.transport()}),
        "get_updates_request": HTTPXRequest(httpx_kwargs={"transport": emu.transport()}),
    }


async def _ballots(emu: Emulator, residents: list[int]) -> dict[int, int]:
    """A ballot message in each resident's chat to tap on (written straight to the emulator)."""
    messages = {}
    for user_id in residents:
        emu.add_user(user_id, f"R{user_id}", language_code="en")
        _, body = await emu.call(emu.token, "sendMessage", {"chat_id": user_id, "text": "Vote"})
        messages[user_id] = body["result"]["message_id"]
    return messages


async def _wait(queries: list[CallbackQuery], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while any(q.answered is None for q in queries):
        if time.monotonic() > deadline:
            missing = sum(q.answered is None for q in queries)
            raise SystemExit(f"{missing} taps were never answered")
        await asyncio.sleep(0.01)


def _answered(query: CallbackQuery) -> float:
    assert query.answered is not None  # _wait waited for it
    return query.answered


async def _measure(emu: Emulator, residents: list[int], messages: dict[int, int],
                   data: Any, rate: float, seconds: float) -> dict[str, float]:
    # Burst: 3 stickers each, all at once.
    burst = []
    start = time.monotonic()
    for sticker in range(3):
        for user_id in residents:
            burst.append(emu.press(user_id, user_id, messages[user_id], data(user_id, sticker)))
    await _wait(burst)
    elapsed = max(_answered(q) for q in burst) - start
    throughput = len(burst) / elapsed
    await asyncio.sleep(1)
    # Steady: ``rate`` taps per second (taking stickers back and placing them again).
    steady = []
    total = int(rate * seconds)
    begin = time.monotonic()
    for i in range(total):
        due = begin + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        user_id = residents[i % len(residents)]
        steady.append(emu.press(user_id, user_id, messages[user_id], data(user_id, 0)))
    await _wait(steady)
    latencies = sorted((_answered(q) - q.created) * 1000 for q in steady)
    return {
        "taps": len(burst), "burst_seconds": elapsed, "taps_per_second": throughput,
        "steady_rate": total / (time.monotonic() - begin),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
    }


async def run_mahfil(residents_count: int, rate: float, seconds: float,
                     synchronous: str = "FULL") -> dict[str, float]:
    emu = Emulator()
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bench.sqlite3", synchronous=synchronous)
        community = await community_store.create_community(
            db, name="Bench", default_language="en", timezone="UTC", created_by=None)
        residents = list(range(100_000, 100_000 + residents_count))
        for user_id in residents:
            await community_store.upsert_user(db, user_id, first_name=f"R{user_id}",
                                              last_name=None, username=None, language="en")
            await community_store.join(db, community.id, user_id, role="resident",
                                       stakeholder_group="activist")
            await community_store.set_current_community(db, user_id, community.id)
        vote = await store.create(db, community.id, title="Bench", method="stickers",
                                  problems=PROBLEMS, stickers=3)
        problems = [p.id for p in await store.problems(db, vote.id)]
        config = Config(token=emu.token, database_path=Path(folder) / "bench.sqlite3")
        app = build_application(config, db, **_requests(emu))
        stop = asyncio.Event()
        ready = asyncio.Event()
        task = asyncio.create_task(serve(app, stop, ready=ready, poll_timeout=1))
        await ready.wait()
        messages = await _ballots(emu, residents)

        def data(user_id: int, sticker: int) -> str:
            return Sticker(vote.id, problems[(user_id + sticker) % len(problems)], 0).pack()

        result = await _measure(emu, residents, messages, data, rate, seconds)
        stored = await db.fetchval("SELECT COUNT(*) FROM stickers")
        over = await db.fetchval(
            "SELECT COUNT(*) FROM (SELECT user_id FROM stickers GROUP BY user_id"
            " HAVING COUNT(*) > 3)")
        result.update({"stickers_stored": stored, "voters_over_budget": over})
        stop.set()
        await task
        await db.close()
    return result


async def run_minimal(residents_count: int, rate: float, seconds: float,
                      synchronous: str = "FULL") -> dict[str, float]:
    emu = Emulator()

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("ok")

    requests = _requests(emu)
    app = (ApplicationBuilder().token(emu.token).request(requests["request"])
           .get_updates_request(requests["get_updates_request"]).concurrent_updates(256)
           .build())
    app.add_handler(CallbackQueryHandler(answer))
    residents = list(range(100_000, 100_000 + residents_count))
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        await app.start()
        messages = await _ballots(emu, residents)
        result = await _measure(emu, residents, messages, lambda u, s: f"x:{u}:{s}", rate,
                                seconds)
        await app.updater.stop()
        await app.stop()
    return result


def child(which: str, residents: int, rate: float, seconds: float, synchronous: str) -> None:
    runner = run_mahfil if which == "mahfil" else run_minimal
    result = asyncio.run(runner(residents, rate, seconds, synchronous))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--synchronous", default="FULL", choices=("FULL", "NORMAL"))
    parser.add_argument("--child", choices=("mahfil", "minimal"))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.residents, args.rate, args.seconds, args.synchronous)
        return
    print(f"{args.residents} residents x 3 stickers; steady phase {args.rate:g} taps/s"
          f" for {args.seconds:g} s; SQLite synchronous={args.synchronous}")
    for run in range(1, args.runs + 1):
        results = {}
        for which in ("minimal", "mahfil"):
            output = subprocess.run(
                [sys.executable, __file__, "--child", which, "--residents",
                 str(args.residents), "--rate", str(args.rate), "--seconds", str(args.seconds),
                 "--synchronous", args.synchronous],
                check=True, capture_output=True, text=True,
            ).stdout
            results[which] = json.loads(output.strip().splitlines()[-1])
        print(f"\nrun {run}")
        print(f"{'':10} {'taps/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'steady/s':>9}"
              f" {'peak MB':>8}")
        for which, r in results.items():
            print(f"{which:10} {r['taps_per_second']:9.0f} {r['p50_ms']:8.1f}"
                  f" {r['p99_ms']:8.1f} {r['steady_rate']:9.0f} {r['peak_rss_mb']:8.0f}")
        ratio = results["mahfil"]["taps_per_second"] / results["minimal"]["taps_per_second"]
        print(f"throughput ratio mahfil/minimal: {ratio:.2f} (target >= 0.80);"
              f" mahfil p99 {results['mahfil']['p99_ms']:.1f} ms (target <= 50)")
        print(f"mahfil stored {results['mahfil']['stickers_stored']} stickers;"
              f" voters over budget: {results['mahfil']['voters_over_budget']}", flush=True)


if __name__ == "__main__":
    main()
