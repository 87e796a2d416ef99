"""Webhook mode: Telegram's POSTs are accepted only with the secret token."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import httpx
from telegram.request import HTTPXRequest

from bot.app import build_application, serve
from bot.config import Config
from bot.emulator import Emulator
from storage.db import Database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_checks_the_secret_token(tmp_path: Path) -> None:
    emu = Emulator()
    person = emu.user(42, "Leila", language_code="fa")
    port = _free_port()
    config = Config(
        token=emu.token, api_url="http://emulator/bot", file_url="http://emulator/file/bot",
        database_path=tmp_path / "m.sqlite3", webhook_url="https://mahfil.example.org/hook",
        webhook_secret="s3cret-token-for-tests", webhook_listen="127.0.0.1", webhook_port=port,
    )
    db = await Database.open(config.database_path)
    app = build_application(
        config, db,
        request=HTTPXRequest(httpx_kwargs={"transport": emu.transport()}),
        get_updates_request=HTTPXRequest(httpx_kwargs={"transport": emu.transport()}),
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(app, stop, ready=ready))
    await ready.wait()
    assert emu.webhook["url"] == "https://mahfil.example.org/hook"
    assert emu.webhook["secret_token"] == "s3cret-token-for-tests"
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1, "date": 0, "text": "/start",
            "chat": {"id": 42, "type": "private", "first_name": "Leila"},
            "from": {"id": 42, "is_bot": False, "first_name": "Leila", "language_code": "fa"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            forged = await client.post("/hook", content=json.dumps(update),
                                       headers={"Content-Type": "application/json"})
            assert forged.status_code == 403
            real = await client.post(
                "/hook", content=json.dumps(update),
                headers={"Content-Type": "application/json",
                         "X-Telegram-Bot-Api-Secret-Token": "s3cret-token-for-tests"},
            )
            assert real.status_code == 200
        message = await person.wait_for("محفل")
        assert "/language" in message["text"]
    finally:
        stop.set()
        await task
        await db.close()
        await emu.close()
