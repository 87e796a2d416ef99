"""Brainstorm rules: who may add what and how often, "me too", curation and its undo."""

from __future__ import annotations

from datetime import timedelta

from bot.flows.errors import Refused
from bot.i18n import N_
from storage import brainstorm as store
from storage.brainstorm import Brainstorm, Card, Step
from storage.db import Database, utcnow

MAX_TEXT = 500
PER_HOUR = 5  # problems one resident may submit in an hour
NOT_AVAILABLE = N_("This problem card is not available to you.")
CLOSED = N_("This brainstorm has closed.")


def check_text(text: str, limit: int = MAX_TEXT) -> str:
    text = " ".join(text.split())
    if not text:
        raise Refused(N_("Please describe the problem in a few words."))
    if len(text) > limit:
        raise Refused(N_("Please keep it under {n} characters."), n=limit)
    return text


async def submit(db: Database, brainstorm: Brainstorm, author_id: int, text: str,
                 photo: str | None) -> int:
    if brainstorm.status != "open":
        raise Refused(CLOSED)
    text = check_text(text)
    if await store.submitted_since(db, author_id, utcnow() - timedelta(hours=1)) >= PER_HOUR:
        raise Refused(N_("You have added {n} problems in the last hour. Please wait a while"
                         " before adding more."), n=PER_HOUR)
    return await store.add_card(db, brainstorm.id, author_id, text, photo)


async def me_too(db: Database, brainstorm: Brainstorm, card: Card, user_id: int) -> bool:
    if brainstorm.status != "open":
        raise Refused(CLOSED)
    if card.status != "visible":
        raise Refused(NOT_AVAILABLE)
    if card.author_id == user_id:
        raise Refused(N_("You raised this problem, so it already counts you."))
    return await store.toggle_support(db, card.id, user_id)


async def merge(db: Database, card: Card, target: Card, actor_id: int) -> None:
    """Fold a duplicate into another card; its supporters count there, each person once."""
    if card.id == target.id or card.brainstorm_id != target.brainstorm_id or (
        card.status != "visible" or target.status != "visible"
    ):
        raise Refused(NOT_AVAILABLE)
    await store.curate(db, card, actor_id, "merge", status="merged", merged_into=target.id)


async def hide(db: Database, card: Card, actor_id: int, reason: str) -> None:
    if card.status != "visible":
        raise Refused(NOT_AVAILABLE)
    reason = check_text(reason, 300)
    await store.curate(db, card, actor_id, "hide", status="hidden", hidden_reason=reason)


async def reword(db: Database, card: Card, actor_id: int, text: str) -> None:
    await store.curate(db, card, actor_id, "edit", text=check_text(text))


async def toggle_shortlist(db: Database, card: Card, actor_id: int) -> None:
    if card.status != "visible":
        raise Refused(NOT_AVAILABLE)
    await store.curate(db, card, actor_id, "shortlist", shortlisted=int(not card.shortlisted))


async def undo_last(db: Database, brainstorm: Brainstorm) -> Step:
    step = await store.last_step(db, brainstorm.id)
    if step is None or not await store.undo(db, step):
        raise Refused(N_("There is nothing to undo."))
    return step
