"""One person floods the bot while twenty others ask for /help (not a test).

    .venv/bin/python bench/flood.py [--others 20] [--seconds 10] [--rounds 3] [--flood 500]

The emulator runs here, over HTTP on 127.0.0.1, enforcing Telegram's limits (30 messages a
second, one a second per chat after a burst of ``bot.ratelimit.CHAT_BURST``, the burst the
bot's account assumes Telegram tolerates); the bot runs as its own process, exactly as in
production (``python -m bot run``). Twenty people each send /help once a second, spread
evenly over the second, for ``--seconds``: first alone, then while one more person sends
500 messages as fast as the emulator takes them (all at once, 0.3 s before the first
/help of that phase); ``--rounds`` times, a new flooder each round, the latencies of each
kind of phase pooled (a p99 of a few hundred replies is one or two of them on a busy
machine). Printed: the others' reply latency (from their message reaching the emulator to
the bot's answer arriving there), p50 and p99, without and with the flood; what the
flooders got back; and the 429s the emulator answered.
Target (issue 16): p99 with the flood ≤ 2 × without, and ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.emulator import Emulator, EmulatorServer  # noqa: E402
from bot.emulator.core import Json, Limits  # noqa: E402
from bot.ratelimit import CHAT_BURST  # noqa: E402

FLOODER = 3_000_000  # the first round's; then 2_999_999, …
FIRST_OTHER = 3_000_001


def log_tail(path: Path) -> str:
    """The end of what the bot on database ``path`` logged (its stderr, a file beside it)."""
    return path.with_suffix(".log").read_text(errors="replace")[-2000:]


def start_bot(url: str, token: str, path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_URL": url,
           "DATABASE_PATH": str(path), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL,
                            # A file, not a pipe: a pipe nobody reads fills (a pause is
                            # logged at every 429) and the bot blocks on its next log line.
                            stderr=path.with_suffix(".log").open("ab"))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))]


class Clock:
    """When each /help reached the emulator and when its answer came back."""

    def __init__(self, others: list[int]) -> None:
        self.others = set(others)
        self.sent: dict[int, deque[float]] = {user: deque() for user in others}
        self.latencies: list[float] = []
        self.flooder_answers = 0

    def on_event(self, kind: str, payload: Json) -> None:
        if kind != "message":
            return
        chat = payload["chat"]["id"]
        if chat <= FLOODER:
            self.flooder_answers += 1
        elif chat in self.others and self.sent[chat]:
            self.latencies.append((time.monotonic() - self.sent[chat].popleft()) * 1000)


async def wait_for(condition: object, timeout: float, what: str,
                   bot: subprocess.Popen[bytes], path: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if bot.poll() is not None:
            raise SystemExit(f"the bot stopped: {log_tail(path)}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def phase(emu: Emulator, clock: Clock, others: list[int], seconds: float,
                flood: int, flooder: int) -> list[float]:
    clock.latencies = []
    begin = time.monotonic() + 0.5
    if flood:
        await asyncio.sleep(max(0.0, begin - 0.3 - time.monotonic()))
        for n in range(flood):
            emu.user_message(flooder, flooder, text=f"flood {n}")
    schedule = sorted((begin + k + i / len(others), user)
                      for k in range(int(seconds)) for i, user in enumerate(others))
    for due, user in schedule:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        clock.sent[user].append(time.monotonic())
        emu.user_message(user, user, text="/help",
                         entities=[{"type": "bot_command", "offset": 0, "length": 5}])
    deadline = time.monotonic() + 10
    while any(clock.sent.values()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return list(clock.latencies)


async def run(others_count: int, seconds: float, flood: int, rounds: int) -> None:
    emu = Emulator(limits=Limits(global_per_sec=30.0, per_chat_burst=CHAT_BURST))
    server = await EmulatorServer.start(emu)
    others = list(range(FIRST_OTHER, FIRST_OTHER + others_count))
    flooders = [FLOODER - n for n in range(rounds)]
    for flooder in flooders:
        emu.add_user(flooder, f"Flooder{flooder}", language_code="en")
    for user in others:
        emu.add_user(user, f"P{user}", language_code="en")
    clock = Clock(others)
    emu.listeners.append(clock.on_event)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "flood.sqlite3"
        bot = start_bot(server.url, emu.token, path)
        try:
            await wait_for(lambda: emu.stats["getupdates"] > 0, 60, "the bot to start", bot, path)
            # First contact stores each person: not what is measured.
            for user in others:
                clock.sent[user].append(time.monotonic())
                emu.user_message(user, user, text="/help",
                                 entities=[{"type": "bot_command", "offset": 0, "length": 5}])
            await wait_for(lambda: not any(clock.sent.values()), 60, "warm-up answers", bot, path)
            calm: list[float] = []
            stormy: list[float] = []
            for flooder in flooders:
                await asyncio.sleep(1.5)  # every chat's allowance whole again
                calm += await phase(emu, clock, others, seconds, 0, flooder)
                await asyncio.sleep(1.5)
                stormy += await phase(emu, clock, others, seconds, flood, flooder)
            flooder = clock.flooder_answers
            answered = sum(len(emu.messages(u)) for u in others)
            missing = sum(len(q) for q in clock.sent.values())
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=30)
            await server.stop()
    print(f"{others_count} people send /help once a second, {rounds} x {seconds:g} s without"
          f" and {rounds} x {seconds:g} s with one more person sending {flood} messages at"
          f" once\n")
    print(f"{'run':16} {'replies':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in (("without flood", calm), ("with flood", stormy)):
        print(f"{name:16} {len(values):8d} {statistics.median(values):8.1f}"
              f" {percentile(values, 0.99):8.1f} {max(values):8.1f}")
    ratio = percentile(stormy, 0.99) / percentile(calm, 0.99)
    print(f"\np99 with / without: {ratio:.2f} (target <= 2.0); p99 with the flood"
          f" {percentile(stormy, 0.99):.1f} ms (target <= 300)")
    print(f"each flooder: {flood} sent, {flooder / rounds:.0f} answers (those handled and one"
          f" 'slow down');"
          f" others unanswered: {missing}; 429s from the emulator: {emu.stats['429']}"
          f" (messages in the others' chats: {answered})")


def main() -> None:
    # Tornado logs every 4xx/5xx answer (the 429s asked for, the long poll cut at the end).
    logging.getLogger("tornado.access").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--others", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flood", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(args.others, args.seconds, args.flood, args.rounds))


if __name__ == "__main__":
    main()
