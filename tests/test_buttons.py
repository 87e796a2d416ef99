"""Every button of every capability, forged: random data, and every real kind with its parts
dropped or added, ids huge, negative, foreign (another community's objects) or of closed
objects — pressed through the emulator by a resident and by a coordinator.

Hypothesis draws 2,000 presses (seeded: the same ones on every run). For each: the tap is
answered, never with the apology for an error of ours, and nothing reaches the error
handler; after all of them, no row of the database has changed. Each capability's own
tests check the exact refusals; this one checks that nothing anywhere slips through.

The world is built so that no press can be legitimate: the community the presser belongs to
holds only closed things (a closed vote, election, survey, brainstorm, an evaluated plan),
and every open thing belongs to another community.
"""

from __future__ import annotations

import asyncio
import logging
import string
from collections.abc import Iterator
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bot.callbacks import KINDS, Button, Range, Word
from bot.config import Config
from bot.emulator import Emulator, Person
from bot.handlers import handler_modules
from bot.i18n import LANGUAGES
from storage import brainstorm as brainstorm_store
from storage import committee as committee_store
from storage import plan as plan_store
from storage import survey as survey_store
from storage import voting as voting_store
from storage.db import to_db, utcnow
from tests.harness import ADMIN_ID, Harness, tr

EXAMPLES = 2_000
# Legitimate on the presser's own community's things even when closed: following a finished
# plan; making one's own community the current one.
ALLOWED_WHEN_CLOSED = {"plan:follow", "community:switch"}
SORRY = "Sorry, something went wrong on our side. Please try again in a moment."
HOSTILE = ["0", "-1", "99999999999999999999", str(2**63), str(2**63 - 1), "01", "+1", "1.5",
           "١٢", " 1", "", "x", "None", "ы" * 20]


class World:
    """The bot, two communities, and who presses."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.foreign: list[int] = []  # ids of the other community's things (all open)
        self.closed: list[int] = []  # ids of the presser's community's things (all closed)
        self.errors: list[BaseException] = []
        self.pressers: list[Person] = []

    async def build(self) -> None:
        h = self.harness
        ours = await h.new_community("Ours")
        theirs = await h.new_community("Theirs")
        cora = await h.coordinator(ours, name="Cora")
        rhea = await h.resident(ours, name="Rhea")
        owner = await h.coordinator(theirs, name="Tom")
        self.pressers = [rhea, cora]
        db = h.db
        for community, by, close in ((theirs, owner, False), (ours, cora, True)):
            cid = community.community.id
            vote = await voting_store.create(db, cid, title="Lamps", method="stickers",
                                             problems=["Dark lane", "Broken lamp"])
            pair = await voting_store.create(db, cid, title="Pairs", method="pairwise",
                                             problems=["One", "Two"])
            election = await committee_store.create_election(
                db, cid, name="Committee", seats=3, approvals=2, nomination_days=3,
                voting_days=3, quotas={}, created_by=by.id)
            nomination, _new = await committee_store.nominate(db, election.id, by.id, by.id)
            committee = await committee_store.create_committee(db, cid, "Board")
            survey = await survey_store.create(
                db, cid, by.id, title={"en": "Needs"}, intro={}, anonymous=False,
                opens_at=None, closes_at=None, questions=[
                    {"kind": "single", "prompt": {"en": "Which?"},
                     "options": [{"en": "Roads"}, {"en": "Lights"}]},
                    {"kind": "text", "prompt": {"en": "Else?"}, "required": False}])
            brainstorm = await brainstorm_store.open_round(db, cid, "What is hard?", by.id)
            assert brainstorm is not None
            card = await brainstorm_store.add_card(db, brainstorm.id, by.id, "Dark", None)
            plan = await plan_store.create_plan(db, cid, "Dark lane", by.id)
            today = date.today()
            task = await plan_store.add_task(db, plan.id, by.id, title="Lamps",
                                             responsible_id=by.id, starts_on=today,
                                             due_on=today + timedelta(days=3))
            item = await plan_store.add_tree_item(db, plan.id, "cause", "No money", by.id)
            indicator = await plan_store.add_indicator(
                db, plan.id, name="Lamps", unit="lamps", baseline=1, target=5,
                direction="up", task_id=task.id)
            resource = await plan_store.add_resource(db, cid, by.id, "skill", "Wiring")
            organisation = await plan_store.add_actor(db, cid, by.id, "City", "public",
                                                      "Owns the lamps", 3)
            found = [vote.id, pair.id, election.id, nomination.id, committee.id, survey.id,
                     brainstorm.id, card, plan.id, task.id, item, indicator, resource,
                     organisation, cid]
            found += [p.id for p in await voting_store.problems(db, vote.id)]
            found += [q.id for q in survey.questions]
            if close:
                await voting_store.close(db, vote.id)
                await voting_store.close(db, pair.id)
                await committee_store.advance(db, election.id, to="nominating")
                await committee_store.advance(db, election.id, to="voting")
                await committee_store.advance(db, election.id, to="closed", result={})
                await survey_store.set_status(db, survey.id, "closed", was="open")
                await brainstorm_store.close_round(db, brainstorm.id)
                await plan_store.evaluate(db, plan.id, by.id, reached="yes", rating=5,
                                          worked="All of it", next_steps=["More"])
                self.closed = found
            else:
                self.foreign = found
        # Closed long ago: nothing can be reopened "within a moment" either.
        long_ago = to_db(utcnow() - timedelta(days=30))
        for table in ("prioritisations", "surveys", "brainstorms"):
            await db.execute(f"UPDATE {table} SET closed_at = ? WHERE community_id = ?",
                             (long_ago, ours.community.id))
        await h.settle()

    def ids(self, who: int, kind: type[Button]) -> list[int]:
        """Ids a press by ``self.pressers[who]`` on ``kind`` may carry, none legitimate: the
        other community's things, and none at all; for the resident also their own
        community's closed things (a coordinator may still read, export or follow up on
        those, and a resident may follow a finished plan: not for them)."""
        nothing = {ADMIN_ID, 10**9, 2**63 - 1}
        mine = (set(self.closed) if who == 0 and kind.prefix not in ALLOWED_WHEN_CLOSED
                else set())
        return sorted(set(self.foreign) - set(self.closed) | mine | nothing)

    async def press(self, person: Person, data: str) -> None:
        query = await person.press(data)
        await self.harness.settle()
        assert query.answered is not None, f"{data!r} was not answered"
        assert person.last_answer != tr(person, SORRY), f"{data!r} failed on our side"
        assert not self.errors, f"{data!r}: {self.errors!r}"


def _kinds() -> list[type[Button]]:
    handler_modules()  # every capability's kinds are declared when its module is imported
    return [KINDS[prefix] for prefix in sorted(KINDS)]


def _has_id(kind: type[Button]) -> bool:
    hints = get_type_hints(kind, include_extras=True)
    return any(isinstance(extra, Range) and extra.high > 1_000_000
               for f in fields(kind)  # type: ignore[arg-type]  # a dataclass
               if get_origin(hints[f.name]) is Annotated
               for extra in get_args(hints[f.name])[1:])


def _field_values(kind: type[Button], name: str, ids: list[int], *, hostile_too: bool = True,
                  ) -> st.SearchStrategy[str]:
    """What a press may put in one field of ``kind``: never a value that could act."""
    hint = get_type_hints(kind, include_extras=True)[name]
    hostile = st.sampled_from(HOSTILE) if hostile_too else st.nothing()
    words = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=30)
    # Mostly well-formed values, so that most presses get past the codec to the flows'
    # own checks (scope, role, state); now and then a malformed one.
    if hint is bool:
        return st.sampled_from(["0", "1"] + (["2", ""] if hostile_too else []))
    if get_origin(hint) is Literal:
        legal = st.sampled_from([str(a) for a in get_args(hint)])
        return st.one_of(legal, legal, legal, words, hostile)
    if get_origin(hint) is Annotated:
        _base, *extras = get_args(hint)
        for extra in extras:
            if isinstance(extra, Range) and extra.high > 1_000_000:  # an id
                named = st.sampled_from([str(i) for i in ids])
                return st.one_of(named, named, named, named, hostile)
            if isinstance(extra, Range):  # a page, a place, a rating: any, or hostile
                legal_int = st.integers(extra.low, min(extra.high, extra.low + 5)).map(str)
                return st.one_of(legal_int, legal_int, legal_int,
                                 st.integers(extra.low - 1, extra.high + 1).map(str), hostile)
            if isinstance(extra, Word):  # a key: never one of the bot's languages
                return st.one_of(words.filter(lambda w: w not in LANGUAGES), hostile)
    return hostile


def _data(world: World, who: int) -> st.SearchStrategy[str]:
    """Random callback data, and every kind's data with each field drawn as above and parts
    dropped or added; at most 64 bytes, as Telegram allows. A kind that names no id (Keep,
    Forget, Offer…) is always spoiled: as it is, it would be a legitimate tap."""
    kinds = _kinds()

    @st.composite
    def of_a_kind(draw: st.DrawFn) -> str:
        kind = draw(st.sampled_from(kinds))
        names = [f.name for f in fields(kind)]  # type: ignore[arg-type]  # a dataclass
        ids = world.ids(who, kind)
        how = draw(st.sampled_from(["well formed"] * 6 + ["hostile", "drop", "add"]
                                   if _has_id(kind) else ["drop", "add"] if names else ["add"]))
        parts = [draw(_field_values(kind, name, ids, hostile_too=how == "hostile"))
                 for name in names]
        if how == "drop" and parts:
            parts.pop(draw(st.integers(0, len(parts) - 1)))
        elif how == "add":
            parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(HOSTILE)))
        return ":".join([kind.prefix, *parts])

    noise = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                    max_size=64)
    prefixed = st.builds(lambda kind, rest: f"{kind.prefix}:{rest}", st.sampled_from(kinds),
                         st.text(string.printable, max_size=40))
    mixed = st.integers(0, 9).flatmap(
        lambda i: noise if i == 0 else prefixed if i == 1 else of_a_kind())
    return mixed.map(
        lambda data: data.encode()[:64].decode(errors="ignore")).filter(bool)


async def _dump(harness: Harness) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but PTB's own (a form begun by a press lives there)."""
    tables = [r["name"] for r in await harness.db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'ptb_%'"
        " AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {t: sorted(repr(tuple(r)) for r in await harness.db.fetchall(f"SELECT * FROM {t}"))
            for t in tables}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, World]]:
    """The bot on its own event loop, so that Hypothesis (which runs examples one by one,
    synchronously) can drive it press by press."""
    loop = asyncio.new_event_loop()
    emu = Emulator()
    config = Config(token=emu.token, api_url="http://emulator/bot",
                    file_url="http://emulator/file/bot",
                    database_path=tmp_path / "mahfil.sqlite3", admins=frozenset({ADMIN_ID}),
                    default_locale="en", timezone="Asia/Tehran")
    harness = Harness(emu=emu, database_path=config.database_path, config=config)
    found = World(harness)

    async def start() -> None:
        await harness.start()

        async def spy(update: object, context: Any) -> None:
            found.errors.append(context.error)

        harness.app.add_error_handler(spy)
        await found.build()

    loop.run_until_complete(start())
    try:
        yield loop, found
    finally:
        loop.run_until_complete(harness.stop())
        loop.run_until_complete(emu.close())
        loop.close()


def test_forged_buttons_of_every_kind_are_answered_and_change_nothing(
        world: tuple[asyncio.AbstractEventLoop, World], caplog: pytest.LogCaptureFixture,
) -> None:
    loop, found = world
    before = loop.run_until_complete(_dump(found.harness))
    caplog.set_level(logging.ERROR)
    pressed: list[str] = []

    @seed(15)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, 1).flatmap(lambda who: st.tuples(st.just(who), _data(found, who))))
    def press(drawn: tuple[int, str]) -> None:
        who, data = drawn
        pressed.append(data)
        loop.run_until_complete(found.press(found.pressers[who], data))

    press()
    assert len(pressed) >= EXAMPLES
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert loop.run_until_complete(_dump(found.harness)) == before
