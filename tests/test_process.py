"""`python -m bot run` as a separate process, talking HTTP to the emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from bot.emulator import Emulator, EmulatorServer
from bot.i18n import Translator
from bot.labels import GROUP_LABELS
from storage import community as store
from storage.db import Database

ROOT = Path(__file__).resolve().parent.parent


async def test_the_real_process_completes_a_join(tmp_path: Path) -> None:
    emu = Emulator()
    server = await EmulatorServer.start(emu, host="127.0.0.1", port=0)
    database = tmp_path / "mahfil.sqlite3"
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": emu.token,
        "TELEGRAM_API_URL": server.url,
        "DATABASE_PATH": str(database),
        "BOT_ADMINS": "77",
        "BOT_DEFAULT_LOCALE": "fa",
        "BOT_TIMEZONE": "Asia/Tehran",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        admin = emu.user(77, "Admin", language_code="en")
        await admin.send("/newcommunity Chahar Bagh")
        await admin.wait_for("https://t.me/", timeout=60)
        link = re.findall(r"https://t\.me/\S+\?start=(\S+)", admin.last["text"])[0]

        resident = emu.user(78, "Maryam", language_code="fa-IR")
        await resident.send(f"/start {link}")
        await emu.settle()
        fa = Translator("fa")
        await resident.tap(fa._(GROUP_LABELS["vulnerable"]))
        await emu.settle()
        await resident.tap(fa._("I agree"))
        await emu.settle()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        await server.stop()
        await emu.close()
    log = output.decode()
    assert process.returncode == 0, log
    assert emu.token not in log and emu.token.split(":")[1] not in log  # never log the token
    db = await Database.open(database)
    try:
        members = await store.members(db, 1)
        assert [(m.role, m.stakeholder_group) for m, u in members if u.id == 78] == [
            ("resident", "vulnerable")
        ]
    finally:
        await db.close()


async def test_bad_configuration_names_the_variable(tmp_path: Path) -> None:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123456:ABCDEF", "BOT_TIMEZONE": "Nowhere/Land"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2 and b"BOT_TIMEZONE" in err
