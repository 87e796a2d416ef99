"""What the running bot keeps beside PTB, typed: the ``bot_data`` of every callback context.

PTB's ``bot_data`` is a plain dict by default, and string keys spread over a dozen modules
were read back with ``# type: ignore``. Here each service is one attribute, built once in
:func:`bot.app.build_application`. Nothing in it is state that must survive a restart — that
lives in the database — so PTB's persistence does not store it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.actor import People
    from bot.app import LatestOnly
    from bot.config import Config
    from bot.delivery import Courier
    from bot.flows.voting_book import StickerBook
    from storage.db import Database


class BotData:
    """The bot's services. PTB creates it empty; ``build_application`` fills it in."""

    config: Config
    db: Database
    people: People  # who someone is, cached per update burst (bot.actor)
    latest_only: LatestOnly  # background redraws, newest only (ballots, progress)
    courier: Courier  # the outbox's delivery worker
    stickers: StickerBook  # open sticker votes in memory, written in group commits
    webapp_url: str | None  # the dashboard's address when the sandbox serves it itself

    def __init__(self) -> None:
        self.webapp_url = None
        self.standings_dirty: set[int] = set()  # votes whose live standings need an edit
