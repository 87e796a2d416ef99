"""The bot's aiohttp transport against the emulator over real HTTP: text, an uploaded file
and a photo (multipart), a file download, Telegram's errors, and a server that is gone."""

from __future__ import annotations

import socket

import pytest
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.emulator import Emulator, EmulatorServer
from bot.request import AiohttpRequest


async def test_aiohttp_request_speaks_the_bot_api() -> None:
    emu = Emulator()
    person = emu.user(7001, "Aigerim", language_code="kk")
    server = await EmulatorServer.start(emu)
    bot = Bot(emu.token, base_url=server.url, base_file_url=f"{server.base}/file/bot",
              request=AiohttpRequest(connection_pool_size=8))
    try:
        async with bot:
            await bot.send_message(person.id, "Сәлем, <b>әлем</b>", parse_mode="HTML")
            sent = await bot.send_document(person.id, b"a,b\n1,2\n", filename="r.csv",
                                           caption="Нәтиже")
            await bot.send_photo(person.id, b"\x89PNG fake", caption="сурет")
            assert [m.get("text") or m.get("caption") for m in person.messages] == [
                "Сәлем, әлем", "Нәтиже", "сурет"]
            assert person.document(person.messages[1]) == b"a,b\n1,2\n"
            assert sent.document is not None and sent.document.file_name == "r.csv"
            downloaded = await (await bot.get_file(sent.document.file_id)).download_as_bytearray()
            assert bytes(downloaded) == b"a,b\n1,2\n"
            with pytest.raises(BadRequest):
                await bot.send_message(person.id, "<b>unclosed", parse_mode="HTML")
            person.block_bot()
            with pytest.raises(Forbidden):
                await bot.send_message(person.id, "hello?")
            person.unblock_bot()
            emu.fail("sendMessage", 429, retry_after=3)
            with pytest.raises(RetryAfter):
                await bot.send_message(person.id, "too fast")
    finally:
        await server.stop()


async def test_aiohttp_request_reports_a_server_that_is_gone() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest(connect_timeout=1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await request.post(f"http://127.0.0.1:{port}/botX/getMe")
    finally:
        await request.shutdown()
