"""Issue 16: one person's flood holds no capacity that others need; the excess is dropped
and counted, and the flooder is told once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update, User

from bot.app import PerUserUpdateProcessor
from tests.harness import Harness, tr


def _update(update_id: int, user_id: int) -> Update:
    user = User(user_id, f"U{user_id}", is_bot=False)
    chat = Chat(user_id, Chat.PRIVATE)
    return Update(update_id, message=Message(update_id, datetime.now(UTC), chat,
                                             from_user=user, text="hi"))


async def test_a_flood_holds_no_capacity_another_person_needs() -> None:
    """50 updates from one person whose first is stuck, on a processor with 4 slots: the
    next person's update runs anyway, the flooder keeps the queue's worth in order, the rest
    is dropped and counted, and the flooder is told once."""
    processor = PerUserUpdateProcessor(4, queue=5)
    told: list[int] = []
    processor.on_flood = lambda update: told.append(update.update_id)
    release = asyncio.Event()
    handled: list[tuple[int, int]] = []

    async def handle(update: Update) -> None:
        assert update.effective_user is not None
        handled.append((update.effective_user.id, update.update_id))
        if update.effective_user.id == 1:
            await release.wait()

    tasks = [asyncio.create_task(processor.process_update(u, handle(u)))
             for u in [*(_update(i, 1) for i in range(1, 51)), _update(99, 2)]]
    await asyncio.wait_for(tasks[-1], 10)  # the other person's update ran to its end
    assert handled == [(1, 1), (2, 99)]  # only the flooder's first had started
    assert processor.dropped == 50 - 6 and told == [7]
    release.set()
    await asyncio.gather(*tasks)
    assert [u for who, u in handled if who == 1] == [1, 2, 3, 4, 5, 6]  # in order
    assert processor.active == 0 and processor.running == 0


async def test_a_flooder_is_told_once_and_others_are_answered_meanwhile(
        harness: Harness) -> None:
    other = harness.person("en")
    flooder = harness.person("fa")
    answered_when_other_was: list[int] = []
    harness.emu.listeners.append(
        lambda kind, message: answered_when_other_was.append(len(flooder.texts()))
        if kind == "message" and message["chat"]["id"] == other.id else None)
    for n in range(60):
        await flooder.send(f"hello {n}")
    await other.send("/help")
    await harness.settle()
    slow_down = tr(flooder, "You are sending messages faster than I can read them, so I"
                            " skipped some. Please wait for my answer before sending more.")
    assert flooder.texts().count(slow_down) == 1
    stray = [t for t in flooder.texts() if t != slow_down]
    processor = harness.app.update_processor
    assert isinstance(processor, PerUserUpdateProcessor)
    assert len(stray) == 1 + processor.queue and processor.dropped == 60 - len(stray)
    # The other person was answered before the flooder's kept updates were all handled.
    assert answered_when_other_was and answered_when_other_was[0] < len(stray)
    assert tr(other, "You have not joined a community yet. Open the invitation link your"
                     " coordinator shared.") in other.texts()[-1]
