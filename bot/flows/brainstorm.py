"""Brainstorm rules: who may add what and how often, "me too", curation and its undo.

Every function takes the person acting (a :class:`Member`) and the ids a button or a form
carried, and checks them here: the round or card belongs to the person's community (a
missing or foreign id is refused the same way), the role (coordinators curate), and the
state (an open round, a visible card) — then writes. Handlers only render what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.flows import process, typed
from bot.flows.errors import STALE, Refused
from bot.flows.people import Member, require, taking_part
from bot.i18n import N_
from storage import brainstorm as store
from storage import community as community_store
from storage.brainstorm import Brainstorm, Card, Step
from storage.community import User
from storage.db import Database, utcnow

__all__ = ["Board", "Brainstorm", "Card", "Curation", "Step", "User"]

MAX_TEXT = 500
MAX_REASON = 300
PER_HOUR = 5  # problems one resident may submit in an hour
NOT_AVAILABLE = N_("This problem card is not available to you.")
CLOSED = N_("This brainstorm has closed.")
NO_ROUND = N_("There is no brainstorm yet. A coordinator opens one with /brainstorm.")
ALREADY_OPEN = N_("A brainstorm is already open. Close it from /curate first.")
NOTHING_TO_UNDO = N_("There is nothing to undo.")


def check_text(text: str, limit: int = MAX_TEXT) -> str:
    """A card's (or a reason's) text: cleaned (``typed.clean``: no control or direction
    override characters), spaces tidied, neither empty nor too long."""
    text = " ".join(typed.clean(text).split())
    if not text:
        raise Refused(N_("Please describe the problem in a few words."))
    if len(text) > limit:
        raise Refused(N_("Please keep it under {n} characters."), n=limit)
    return text


def check_reason(text: str) -> str:
    return check_text(text, MAX_REASON)


# -- rounds ----------------------------------------------------------------------------------


async def current_round(db: Database, who: Member) -> Brainstorm:
    """The community's open round, else its latest one."""
    brainstorm = await store.latest_round(db, who.community.id)
    if brainstorm is None:
        raise Refused(NO_ROUND)
    return brainstorm


async def round_of(db: Database, who: Member, round_id: int | None) -> Brainstorm:
    """The round ``round_id`` if it is in this person's community (None: the current one)."""
    if round_id is None:
        return await current_round(db, who)
    brainstorm = await store.get_round(db, round_id)
    if brainstorm is None or brainstorm.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    return brainstorm


async def open_round(db: Database, who: Member, prompt: str) -> tuple[Brainstorm, list[User]]:
    """A new round (one open at a time), and the members to tell about it."""
    require(who, "coordinator")
    if not " ".join(prompt.split()):
        raise Refused(N_("Write the question with the command, e.g. /brainstorm What makes"
                         " life hard in our street?"))
    brainstorm = await store.open_round(db, who.community.id, check_text(prompt),
                                        who.user.id)
    if brainstorm is None:
        raise Refused(ALREADY_OPEN)
    await process.happened(db, who.community.id, "brainstorm_opened", brainstorm.id)
    return brainstorm, await community_store.people(db, who.community.id)


async def close_round(db: Database, who: Member, round_id: int) -> Brainstorm:
    require(who, "coordinator")
    brainstorm = await round_of(db, who, round_id)
    if not await store.close_round(db, brainstorm.id):
        raise Refused(CLOSED)
    await process.happened(db, who.community.id, "brainstorm_closed", brainstorm.id)
    return await round_of(db, who, round_id)


# -- adding a problem ------------------------------------------------------------------------


async def open_for_problems(db: Database, who: Member, round_id: int | None) -> Brainstorm:
    """The round a new problem would go to; refused if it has closed."""
    brainstorm = await round_of(db, who, round_id)
    if brainstorm.status != "open":
        raise Refused(CLOSED)
    return brainstorm


async def submit(db: Database, who: Member, round_id: int, text: str,
                 photo: str | None) -> int:
    """A new card by ``who``: the round still open, at most five an hour per person."""
    taking_part(who)
    brainstorm = await open_for_problems(db, who, round_id)
    text = check_text(text)
    since = utcnow() - timedelta(hours=1)
    if await store.submitted_since(db, who.user.id, since) >= PER_HOUR:
        raise Refused(N_("You have added {n} problems in the last hour. Please wait a while"
                         " before adding more."), n=PER_HOUR)
    return await store.add_card(db, brainstorm.id, who.user.id, text, photo)


# -- the board and "me too" ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Board:
    """What a member sees: the round, its visible cards (best supported first), and which
    of them this member backs with a "me too"."""

    round: Brainstorm
    cards: list[Card]
    backed: set[int]


async def board(db: Database, who: Member, round_id: int | None) -> Board:
    brainstorm = await round_of(db, who, round_id)
    return Board(brainstorm, await store.cards(db, brainstorm.id),
                 await store.supported_by(db, brainstorm.id, who.user.id))


async def _card(db: Database, who: Member, card_id: int) -> tuple[Card, Brainstorm]:
    """The card and its round, if the round is in this person's community."""
    card = await store.get_card(db, card_id)
    if card is None:
        raise Refused(NOT_AVAILABLE)
    return card, await round_of(db, who, card.brainstorm_id)


async def me_too(db: Database, who: Member, card_id: int) -> tuple[bool, Brainstorm]:
    """Add or take back a "me too"; True if the person now backs the card."""
    taking_part(who)
    card, brainstorm = await _card(db, who, card_id)
    if brainstorm.status != "open":
        raise Refused(CLOSED)
    if card.status != "visible":
        raise Refused(NOT_AVAILABLE)
    if card.author_id == who.user.id:
        raise Refused(N_("You raised this problem, so it already counts you."))
    return await store.toggle_support(db, card.id, who.user.id), brainstorm


# -- curation (coordinators) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Curation:
    """What a coordinator curates: the round, its visible cards, and the step undo takes
    back (None: nothing to undo)."""

    round: Brainstorm
    cards: list[Card]
    last: Step | None


async def curation(db: Database, who: Member, round_id: int | None) -> Curation:
    require(who, "coordinator")
    brainstorm = await round_of(db, who, round_id)
    return Curation(brainstorm, await store.cards(db, brainstorm.id),
                    await store.last_step(db, brainstorm.id))


async def visible_card(db: Database, who: Member, card_id: int) -> tuple[Card, Brainstorm]:
    """A card a coordinator may work on: in their community and still on the board."""
    require(who, "coordinator")
    card, brainstorm = await _card(db, who, card_id)
    if card.status != "visible":
        raise Refused(NOT_AVAILABLE)
    return card, brainstorm


async def merge_targets(db: Database, who: Member, card_id: int) -> tuple[Card, list[Card]]:
    """The card to merge and the visible cards of its round it may go into."""
    card, brainstorm = await visible_card(db, who, card_id)
    return card, [c for c in await store.cards(db, brainstorm.id) if c.id != card.id]


async def merge(db: Database, who: Member, card_id: int, into_id: int) -> Brainstorm:
    """Fold a duplicate into another card; its supporters count there, each person once."""
    card, brainstorm = await visible_card(db, who, card_id)
    target, _ = await visible_card(db, who, into_id)
    if card.id == target.id or card.brainstorm_id != target.brainstorm_id:
        raise Refused(NOT_AVAILABLE)
    await store.curate(db, card, who.user.id, "merge", status="merged", merged_into=target.id)
    return brainstorm


async def hide(db: Database, who: Member, card_id: int,
               reason: str) -> tuple[Card, Brainstorm, User | None]:
    """Hide a card with a reason; returns its author (to be told why), if still known."""
    card, brainstorm = await visible_card(db, who, card_id)
    reason = check_reason(reason)
    await store.curate(db, card, who.user.id, "hide", status="hidden", hidden_reason=reason)
    author = (await community_store.get_user(db, card.author_id)
              if card.author_id is not None else None)
    return card, brainstorm, author


async def reword(db: Database, who: Member, card_id: int, text: str) -> Brainstorm:
    card, brainstorm = await visible_card(db, who, card_id)
    await store.curate(db, card, who.user.id, "edit", text=check_text(text))
    return brainstorm


async def toggle_shortlist(db: Database, who: Member, card_id: int) -> Brainstorm:
    card, brainstorm = await visible_card(db, who, card_id)
    await store.curate(db, card, who.user.id, "shortlist",
                       shortlisted=int(not card.shortlisted))
    return brainstorm


async def undo(db: Database, who: Member, round_id: int, step_id: int) -> Step:
    """Take back the round's latest curation step — the one the button named: a button
    shown before another step was taken no longer works."""
    require(who, "coordinator")
    brainstorm = await round_of(db, who, round_id)
    step = await store.last_step(db, brainstorm.id)
    if step is None:
        raise Refused(NOTHING_TO_UNDO)
    if step.id != step_id:
        raise Refused(STALE)
    if not await store.undo(db, step):
        raise Refused(NOTHING_TO_UNDO)
    return step


# -- for other capabilities -------------------------------------------------------------------


async def shortlist(db: Database, who: Member) -> list[Card]:
    """The shortlist of the community's latest round, best supported first: the problems a
    priority vote may start from (none without a round)."""
    brainstorm = await store.latest_round(db, who.community.id)
    if brainstorm is None:
        return []
    return await store.cards(db, brainstorm.id, shortlisted=True)


async def open_round_with(db: Database, who: Member, prompt: str,
                          problems: Sequence[str]) -> Brainstorm:
    """A new round whose first cards are ``problems`` (a plan evaluation's "what next"),
    by a coordinator; refused while another round is open."""
    require(who, "coordinator")
    brainstorm = await store.open_round(db, who.community.id, check_text(prompt),
                                        who.user.id)
    if brainstorm is None:
        raise Refused(ALREADY_OPEN)
    for problem in problems:
        text = " ".join(problem.split())[:MAX_TEXT]
        if text:
            await store.add_card(db, brainstorm.id, who.user.id, text, None)
    await process.happened(db, who.community.id, "brainstorm_opened", brainstorm.id)
    return brainstorm
