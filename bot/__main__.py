"""``python -m bot run`` starts the bot; ``python -m bot migrate`` only prepares the database;
``python -m bot backup PATH`` copies the database to PATH, safely while the bot runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.config import Config, ConfigError
from storage.db import Database

log = logging.getLogger("bot")

NO_TOKEN = """\
No TELEGRAM_BOT_TOKEN is set: starting the sandbox (Mahfil without Telegram).

To run against Telegram instead:
  1. Open Telegram, talk to @BotFather, send /newbot and follow the steps.
  2. Put the token it gives you in the environment:
       export TELEGRAM_BOT_TOKEN=123456789:AA...
  3. Run this command again.
To use a self-hosted Bot API server, also set TELEGRAM_API_URL.
"""


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _run(config: Config) -> None:
    from bot.app import build_application, serve

    db = await Database.open(config.database_path)
    try:
        app = build_application(config, db)
        await serve(app, _stop_on_signals())
    finally:
        await db.close()


async def _sandbox(config: Config) -> None:
    from bot import sandbox

    await sandbox.run(config, _stop_on_signals())


async def _migrate(config: Config) -> None:
    db = await Database.open(config.database_path, migrate=False)
    try:
        applied = await db.migrate()
        version = await db.schema_version()
        print(f"database {config.database_path}: schema version {version}"
              f" ({len(applied)} migration(s) applied now)")
    finally:
        await db.close()


async def _backup(config: Config, target: str) -> None:
    db = await Database.open(config.database_path, migrate=False)
    try:
        await db.backup(target)
    finally:
        await db.close()
    print(f"database {config.database_path} copied to {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("command", choices=("run", "migrate", "backup"))
    parser.add_argument("path", nargs="?", help="backup: the file to write")
    args = parser.parse_args(argv)
    if args.command == "backup" and not args.path:
        parser.error("backup needs a PATH to write the copy to")
    configure_logging()
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        asyncio.run(_migrate(config))
        return 0
    if args.command == "backup":
        if not config.database_path.exists():
            print(f"no database at {config.database_path}", file=sys.stderr)
            return 1
        asyncio.run(_backup(config, args.path))
        return 0
    if config.token is None:
        print(NO_TOKEN, file=sys.stderr, flush=True)
        asyncio.run(_sandbox(config))
        return 0
    asyncio.run(_run(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
