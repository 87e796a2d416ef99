"""Issue 16: one account of Telegram's limits; a 429 pauses every sender, calls already
waiting included, and sending resumes paced."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from telegram.error import RetryAfter

from bot.emulator.core import SEND_METHODS
from bot.ratelimit import BACKGROUND, BULK, LATER, URGENT, Account, Paced, RateLimiter
from tests.harness import Harness, step, tr
from tests.test_broadcast import crowd, progress_of, write_broadcast


async def test_account_holds_every_call_through_a_429_and_resumes_paced() -> None:
    account = Account(rate=50.0)
    limiter = RateLimiter(account)
    loop = asyncio.get_running_loop()
    started: list[tuple[str, float]] = []
    refused = {"done": False}

    async def call(endpoint: str) -> bool:
        started.append((endpoint, loop.time()))
        if endpoint == "sendMessage" and not refused["done"]:
            refused["done"] = True
            raise RetryAfter(1)
        return True

    async def send(endpoint: str, chat_id: int | None, bulk: bool = False) -> Any:
        data: dict[str, Any] = {} if chat_id is None else {"chat_id": chat_id}
        if bulk:
            await account.turn()
        return await limiter.process_request(call, (endpoint,), {}, endpoint, data,
                                             Paced.BULK if bulk else None)

    first = asyncio.create_task(send("sendMessage", 1))  # answered 429, then retried
    while account.pauses == 0:
        await asyncio.sleep(0)
    pause_end = account.paused_until
    waiting = [asyncio.create_task(send("sendMessage", 10 + i)) for i in range(10)]
    waiting.append(asyncio.create_task(send("answerCallbackQuery", None)))
    waiting.append(asyncio.create_task(send("editMessageText", 30)))
    waiting.extend(asyncio.create_task(send("sendMessage", 40 + i, bulk=True))
                   for i in range(3))
    await asyncio.gather(first, *waiting)
    after = sorted(at for endpoint, at in started[1:])
    assert after and all(at >= pause_end for at in after)  # nothing inside the pause
    messages = sorted(at for endpoint, at in started[1:] if endpoint != "answerCallbackQuery")
    gaps = [b - a for a, b in itertools.pairwise(messages)]
    # Paced afterwards, never a burst: the lane's 20 ms apart, less the loop's wake-up error.
    assert min(gaps) >= 0.75 / 50
    assert len(messages) == 15  # every one went, once


async def test_a_429_pauses_the_outbox_and_the_replies_alike(harness: Harness) -> None:
    harness.emu.call_log = []
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    people = await crowd(harness, invitation, 4)
    resident = await harness.resident(invitation, "kk")
    harness.emu.fail("sendMessage", 429, retry_after=1, times=1, chat_id=people[0].id)
    await write_broadcast(harness, cora, "Bins are collected on Tuesday now.")
    await step(harness, cora, tr(cora, "Preview"))
    await cora.tap("Send to 6 members")
    while harness.emu.stats["429"] == 0:
        await asyncio.sleep(0.01)
    await resident.send("/help")  # a reply asked for during the pause
    await people[0].wait_for("Bins are collected on Tuesday now.")
    await harness.settle()
    assert all(harness.emu.delivered[p.id] == 1 for p in people)
    assert "Sent: 6 · failed: 0 · left: 0" in progress_of(cora)
    assert harness.emu.calls_during_pauses() == []
    sends = [c for c in harness.emu.call_log if c.method in SEND_METHODS]
    refused = next(c for c in sends if c.status == 429)
    assert any(c.chat_id == resident.id and c.started >= refused.ended + 1 for c in sends)


async def test_waiting_calls_leave_by_priority_replies_first() -> None:
    """Held by a pause: the outbox, a background redraw, a busy chat's message and a reply
    to a quiet chat. They leave in that order reversed, one slot apart."""
    account = Account(rate=100.0)
    account.pause(0.05)
    order: list[str] = []

    async def wait(name: str, priority: int) -> None:
        await account.lanes[False].turn(priority)
        order.append(name)

    tasks = [asyncio.create_task(wait(name, priority)) for name, priority in
             (("outbox", BULK), ("redraw", BACKGROUND), ("busy chat", LATER),
              ("reply", URGENT))]
    await asyncio.gather(*tasks)
    assert order == ["reply", "busy chat", "redraw", "outbox"]


async def test_a_chat_bursts_then_keeps_its_pace_and_so_does_a_group() -> None:
    account = Account(chat_gap=1.0, chat_burst=3, group_gap=3.0, group_burst=2)
    now = asyncio.get_running_loop().time()
    private = [account.take_chat(7) for _ in range(5)]
    assert [round(at - now, 1) for at, _ in private] == [0.0, 0.0, 0.0, 1.0, 2.0]
    assert [busy for _, busy in private] == [False, False, True, True, True]
    group = [account.take_chat(-100) for _ in range(3)]
    assert [round(at - now, 1) for at, _ in group] == [0.0, 0.0, 3.0]
    assert round(account.chat_wait(7), 1) == 3.0 and account.chat_wait(8) == 0.0


async def test_a_busy_chats_messages_leave_room_for_replies_to_quiet_chats() -> None:
    """A flooder's replies (LATER) never fill the lane's second: at most ``rate - 2`` of
    them leave in any second, so a reply to a quiet chat asked for meanwhile goes ahead of
    the busy chat's next message instead of queueing behind it (bench/flood.py)."""
    account = Account(rate=20.0)  # headroom: 18 a second
    lane = account.lanes[False]
    loop = asyncio.get_running_loop()
    left: list[tuple[str, float]] = []

    async def send(name: str, priority: int) -> None:
        await lane.turn(priority)
        left.append((name, loop.time()))

    busy = [asyncio.create_task(send(f"busy {n}", LATER)) for n in range(24)]
    while len(left) < 18:
        await asyncio.sleep(0.01)
    reply = asyncio.create_task(send("reply", URGENT))
    await asyncio.gather(reply, *busy)
    names = [name for name, _ in left]
    assert names.index("reply") < names.index("busy 18")
    busy_times = [at for name, at in left if name != "reply"]
    assert max(sum(1 for t in busy_times if start <= t < start + 1.0)
               for start in busy_times) <= 18
