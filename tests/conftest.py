"""Fixtures shared by every test; the harness itself lives in ``tests/harness.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import i18n
from bot.config import Config
from bot.emulator import Emulator
from tests.harness import ADMIN_ID, Harness

# A text looked up outside its own domain fails the test instead of showing English.
i18n.STRICT = True


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    emu = Emulator()
    config = Config(
        token=emu.token,
        api_url="http://emulator/bot",
        file_url="http://emulator/file/bot",
        database_path=tmp_path / "mahfil.sqlite3",
        admins=frozenset({ADMIN_ID}),
        default_locale="en",
        timezone="Asia/Tehran",
    )
    h = Harness(emu=emu, database_path=config.database_path, config=config)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
        await emu.close()
