"""The emulator answers like Telegram: shapes, errors and limits, checked through PTB itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.request import HTTPXRequest

from bot.emulator import Emulator, EmulatorServer, Limits
from bot.emulator.html import EntityError, parse_html


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator()
    yield emulator
    await emulator.close()


def _bot(emu: Emulator, base: str = "http://emulator") -> Bot:
    return Bot(emu.token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot",
               request=HTTPXRequest(httpx_kwargs={"transport": emu.transport()}),
               get_updates_request=HTTPXRequest(httpx_kwargs={"transport": emu.transport()}))


async def test_messages_keyboards_and_edits(emu: Emulator) -> None:
    person = emu.user(1, "Ana")
    async with _bot(emu) as bot:
        assert bot.username == emu.bot_username
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="y")]])
        sent = await bot.send_message(1, "<b>Hi</b> &amp; welcome", parse_mode="HTML",
                                      reply_markup=keyboard)
        assert sent.text == "Hi & welcome"
        assert sent.entities[0].type == "bold" and sent.entities[0].length == 2
        assert person.buttons() == ["Yes"]
        with pytest.raises(BadRequest, match=r"(?i)not modified"):
            await bot.edit_message_text("<b>Hi</b> &amp; welcome", 1, sent.message_id,
                                        parse_mode="HTML", reply_markup=keyboard)
        await bot.edit_message_text("Bye", 1, sent.message_id)
        assert person.texts() == ["Bye"] and person.buttons() == []


async def test_telegram_errors(emu: Emulator) -> None:
    emu.user(1, "Ana")
    async with _bot(emu) as bot:
        with pytest.raises(BadRequest, match=r"(?i)too long"):
            await bot.send_message(1, "x" * 4097)
        with pytest.raises(BadRequest, match=r"(?i)empty"):
            await bot.send_message(1, " ")
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(999, "hello")
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(1, "x", reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("b", callback_data="é" * 33)]]))
        with pytest.raises(BadRequest, match=r"(?i)parse entities"):
            await bot.send_message(1, "<blink>x</blink>", parse_mode="HTML")
        emu.blocked.add(1)
        with pytest.raises(Forbidden):
            await bot.send_message(1, "hello")


async def test_injected_faults(emu: Emulator) -> None:
    emu.user(1, "Ana")
    async with _bot(emu) as bot:
        emu.fail("sendMessage", 429, retry_after=3)
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(1, "x")
        assert caught.value.retry_after in (3, 3.0) or caught.value.retry_after.seconds == 3
        emu.fail("sendMessage", 500)
        with pytest.raises(NetworkError):
            await bot.send_message(1, "x")
        await bot.send_message(1, "after the faults")
    assert emu.stats["429"] == 1


async def test_callback_queries_are_answered_once(emu: Emulator) -> None:
    person = emu.user(1, "Ana")
    async with _bot(emu) as bot:
        await bot.send_message(1, "pick", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("A", callback_data="a")]]))
        await person.tap("A")
        updates = await bot.get_updates(timeout=0)
        query = updates[0].callback_query
        assert query is not None and query.data == "a" and query.from_user.id == 1
        await query.answer("noted")
        assert person.last_answer == "noted"
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await query.answer("again")


async def test_get_updates_offset_and_long_poll(emu: Emulator) -> None:
    person = emu.user(1, "Ana")
    async with _bot(emu) as bot:
        await person.send("/start")
        first = await bot.get_updates(timeout=0)
        assert first[0].message.text == "/start"
        assert first[0].message.entities[0].type == "bot_command"
        assert await bot.get_updates(offset=first[0].update_id + 1, timeout=0) == ()
        waiting = asyncio.create_task(bot.get_updates(offset=first[0].update_id + 1, timeout=5))
        await emu.until(lambda: emu.long_polls == 1)
        await person.send("later")
        later = await waiting
        assert [u.message.text for u in later] == ["later"]


async def test_documents_round_trip_over_http(emu: Emulator) -> None:
    person = emu.user(1, "Ana")
    server = await EmulatorServer.start(emu)
    try:
        bot = Bot(emu.token, base_url=server.url, base_file_url=server.base + "/file/bot")
        async with bot:
            await bot.send_document(1, b'{"a": 1}', filename="data.json", caption="yours")
            assert person.document(person.last) == b'{"a": 1}'
            assert person.last["document"]["file_name"] == "data.json"
            upload = await person.send_document("survey.yaml", b"title: x\n", "text/yaml")
            file = await bot.get_file(upload["document"]["file_id"])
            assert bytes(await file.download_as_bytearray()) == b"title: x\n"
    finally:
        await server.stop()


async def test_flood_limits_answer_429(emu: Emulator) -> None:
    emu.limits = Limits(global_per_sec=30, per_chat_per_sec=1, per_group_per_min=20)
    for user_id in range(1, 40):
        emu.user(user_id, f"U{user_id}")
    async with _bot(emu) as bot:
        await bot.send_message(1, "one")
        with pytest.raises(RetryAfter):
            await bot.send_message(1, "two, in the same second")
        for user_id in range(2, 31):
            await bot.send_message(user_id, "hi")
        with pytest.raises(RetryAfter):
            await bot.send_message(31, "the 31st this second")
    assert emu.stats["429"] == 2


def test_html_entities_use_utf16_offsets() -> None:
    text, entities = parse_html("😀 <i>سلام</i>")
    assert text == "😀 سلام"
    assert entities == [{"type": "italic", "offset": 3, "length": 4}]
    with pytest.raises(EntityError):
        parse_html("<b>open")


async def test_settle_waits_for_the_bot_to_say_it_is_idle(emu: Emulator) -> None:
    """The bot side's busy hook and ``wake``: settle returns once the work is done."""
    state = {"busy": True}
    emu.busy_checks.append(lambda: state["busy"])

    async def work() -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        state["busy"] = False
        emu.wake()

    task = asyncio.create_task(work())
    await emu.settle()
    assert not state["busy"]
    await task


async def test_settle_sees_a_task_that_gets_busy_a_few_turns_later(emu: Emulator) -> None:
    """Idle is believed only after the loop has turned a few more times."""
    state = {"busy": False, "done": False}
    emu.busy_checks.append(lambda: state["busy"])

    async def about_to_call() -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        state["busy"] = True
        emu.wake()
        for _ in range(3):
            await asyncio.sleep(0)
        state.update(busy=False, done=True)
        emu.wake()

    task = asyncio.create_task(about_to_call())
    await emu.settle()
    assert state["done"]
    await task


async def test_settle_waits_for_what_is_due_soon(emu: Emulator) -> None:
    """A timers hook (a job due in a moment) holds settle until it has run."""
    loop = asyncio.get_running_loop()
    fired = asyncio.Event()
    at = loop.time() + 0.05
    emu.timers.append(lambda: None if fired.is_set() else at - loop.time())
    loop.call_at(at, lambda: (fired.set(), emu.wake()))
    await emu.settle()
    assert fired.is_set()


async def test_settle_gives_up_and_says_what_is_pending(emu: Emulator) -> None:
    await emu.user(1, "Ana").send("nobody fetches this")
    with pytest.raises(AssertionError, match=r"did not settle in 0.1s: 1 updates unfetched,"
                                             r" 0 calls in progress"):
        await emu.settle(timeout=0.1)


async def test_updates_count_as_handled_once_the_bot_asks_past_them(emu: Emulator) -> None:
    """Fetched but not confirmed by the next offset, a batch is still on its way in."""
    person = emu.user(1, "Ana")
    emu.busy_checks.append(lambda: False)  # an in-process bot: no quiet period
    async with _bot(emu) as bot:
        await person.send("/start")
        (update,) = await bot.get_updates(timeout=0)
        with pytest.raises(AssertionError, match="0 updates unfetched"):
            await emu.settle(timeout=0.1)
        assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
        await emu.settle()
