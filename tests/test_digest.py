"""Committee digests: in a group chat and in private chats, nothing twice after a restart,
one catch-up after downtime, and no digest when nothing changed."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from bot.flows.digest import current_period, worth_sending
from bot.handlers.broadcast import Cancel
from bot.handlers.digest import Frequency, Hour, Weekday, Where, send_due
from bot.i18n import Translator
from storage import committee as committee_store
from storage import voting as voting_store
from storage.digest import Change
from tests.harness import Harness, press, step, tr
from tests.test_brainstorm import mutated, real_buttons, refused_without_a_trace

LONG_AGO = "2000-01-01T00:00:00+00:00"
STALE = "This button no longer works."
NOT_AVAILABLE = "This committee is not available to you."


async def make_due(harness: Harness, committee_id: int, since: str = LONG_AGO) -> None:
    """As if the last digest went out long ago: the current period is due."""
    await harness.db.execute(
        "UPDATE digests SET last_period = 'long ago', since = ? WHERE committee_id = ?",
        (since, committee_id))


async def test_digests_in_a_group_chat_and_in_private_chats(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    maryam = await harness.resident(invitation, "fa", "vulnerable", name="مریم")
    noa = await harness.resident(invitation, "he", "business", name="נועה")
    committee = await committee_store.create_committee(harness.db, invitation.community.id,
                                                       "Green committee")
    for person in (maryam, noa):
        await committee_store.add_member(harness.db, committee.id, person.id, "co-opted")
    chat = harness.emu.group(-2001, "Green committee", [cora, maryam, noa])
    await committee_store.create_link_code(harness.db, committee.id, "code-123")
    await committee_store.use_link_code(harness.db, "code-123", chat.id)

    await cora.send("/digest")
    await harness.settle()
    await cora.tap("Daily")
    await harness.settle()
    six, seven = Translator("en").clock(18), Translator("en").clock(19)  # 6:00 PM, 7:00 PM
    assert cora.texts()[-1].splitlines()[-1] == f"On: daily at {six}, to the linked group chat."
    await cora.tap(f"{seven} ›")  # the hour buttons name the time they set
    await harness.settle()
    assert cora.texts()[-1].splitlines()[-1] == f"On: daily at {seven}, to the linked group chat."
    await cora.tap(f"‹ {six}")
    await harness.settle()
    assert cora.texts()[-1].splitlines()[-1] == f"On: daily at {six}, to the linked group chat."
    await voting_store.create(harness.db, invitation.community.id, title="Playground",
                              method="stickers", problems=["Swings", "Lights"], stickers=3)

    # Setting it up sends nothing at once; a restart after the period began catches up once.
    assert not chat.messages
    await make_due(harness, committee.id)
    await harness.restart()  # the look at start is the catch-up
    await harness.emu.until(lambda: len(chat.messages) > 0, 30)
    await harness.settle()
    assert len(chat.messages) == 1
    digest = chat.messages[0]["text"]
    assert "Digest for \u2068Green committee\u2069" in digest
    assert "New priority vote: \u2068Playground\u2069" in digest
    assert "Joined the group: \u2068مریم\u2069" in digest
    await harness.restart()  # the same period again: nothing
    assert await send_due(harness.app) == 0
    await harness.settle()
    assert len(chat.messages) == 1

    # To each member's private chat instead, in their language.
    await cora.send("/digest")
    await harness.settle()
    await cora.tap("Send to each member instead")
    await harness.settle()
    await make_due(harness, committee.id)
    await harness.restart()
    for person in (maryam, noa):
        await person.wait_for(tr(person, "New priority vote: {title}",
                                 title="\u2068Playground\u2069"))
    await harness.settle()
    assert len(chat.messages) == 1

    # Nothing changed since the last digest: no digest.
    before = len(maryam.texts())
    await make_due(harness, committee.id, since=datetime.now(UTC).isoformat())
    await harness.restart()
    assert await send_due(harness.app) == 0
    await harness.settle()
    assert len(maryam.texts()) == before

    # Forged settings change nothing.
    assert await press(harness, maryam, Frequency(committee.id, "off").pack()) == tr(
        maryam, "Only coordinators of this community can do that.")
    assert await harness.db.fetchval("SELECT frequency FROM digests") == "daily"


async def test_forged_and_foreign_settings_change_nothing(harness: Harness) -> None:
    green = await harness.new_community()
    blue = await harness.new_community("Blue Street")
    cora = await harness.coordinator(green, "en")
    committee = await committee_store.create_committee(harness.db, green.community.id,
                                                       "Green committee")
    quiet = await committee_store.create_committee(harness.db, green.community.id,
                                                   "Working group")
    theirs = await committee_store.create_committee(harness.db, blue.community.id,
                                                    "Blue committee")
    await cora.send("/digest")
    await harness.settle()
    card = next(m for m in cora.messages if "Green committee" in m.get("text", ""))
    await cora.tap("Daily", card)
    await harness.settle()
    before = [tuple(r) for r in await harness.db.fetchall("SELECT * FROM digests")]
    huge = 99999999999999999999
    for forged in (f"dg:f:{committee.id}:hourly", f"digest:frequency:{committee.id}:hourly",
                   f"digest:frequency:{huge}:daily", "digest:frequency:-1:daily",
                   f"digest:hour:{committee.id}:24", f"digest:hour:{committee.id}:-1",
                   f"digest:where:{committee.id}:yes", f"digest:weekday:{committee.id}",
                   f"digest:weekday:{committee.id}:7", "digest:frequency",
                   f"digest:frequency:{committee.id}:daily:1"):
        assert await press(harness, cora, forged) == STALE, forged
    for kind in (Frequency(theirs.id, "off"), Frequency(theirs.id, "weekly"),
                 Hour(theirs.id, 3), Frequency(2**63 - 1, "daily"),
                 Hour(quiet.id, 3),  # its digest is off: no hour to change
                 Weekday(committee.id, 3),  # a daily digest has no weekday
                 Where(committee.id, True)):  # no linked group chat
        assert await press(harness, cora, kind.pack()) == NOT_AVAILABLE, kind
    assert [tuple(r) for r in await harness.db.fetchall("SELECT * FROM digests")] == before


def test_periods() -> None:
    # Tehran is UTC+3:30: 2026-11-25 15:00 UTC is 18:30 local, after the 18:00 digest.
    key, at = current_period("daily", 18, 0, datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
                             "Asia/Tehran")
    assert key == "2026-11-25" and at == datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    key, _ = current_period("daily", 18, 0, datetime(2026, 11, 25, 14, 0, tzinfo=UTC),
                            "Asia/Tehran")
    assert key == "2026-11-24"  # before today's hour: yesterday's period
    key, at = current_period("weekly", 9, 0, datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "UTC")
    assert key == "2026-W48" and at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday
    assert not worth_sending([Change("vote_standing", "x", "y", 3)])
    assert worth_sending([Change("vote_standing", "x", "y", 3), Change("vote_closed", "x")])


async def test_mutated_buttons_are_refused_and_change_nothing(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Every real digest and broadcast button, mutated at random (seeded); another
    community's; and the Cancel of a broadcast already finished."""
    green = await harness.new_community()
    blue = await harness.new_community("Blue Street")
    cora = await harness.coordinator(green, "en")
    resident = await harness.resident(green, "he")
    other = await harness.coordinator(blue, "en")
    committee = await committee_store.create_committee(harness.db, green.community.id,
                                                       "Green committee")
    chat = harness.emu.group(-2002, "Green committee", [cora, resident])
    await committee_store.create_link_code(harness.db, committee.id, "code-456")
    await committee_store.use_link_code(harness.db, "code-456", chat.id)
    await committee_store.create_committee(harness.db, blue.community.id, "Blue committee")
    for person in (cora, other):
        await step(harness, person, "/digest", send=True)
        await step(harness, person, "Weekly")
    seen = {p: {d for d in real_buttons(p) if d.startswith("digest:")} for p in (cora, other)}
    await step(harness, cora, "Send to each member instead")
    seen[cora] |= {d for d in real_buttons(cora) if d.startswith("digest:")}
    for person in (cora, other):  # a broadcast sent and finished, then a draft on its card
        await step(harness, person, "/broadcast", send=True)
        await step(harness, person, "Hello", send=True)
        await step(harness, person, "Preview")
        await step(harness, person, lambda label: label.startswith("Send to "))
        await person.wait_for("Broadcast finished.")
        await step(harness, person, "/broadcast", send=True)
        await step(harness, person, "A draft", send=True)
        seen[person] |= {d for d in real_buttons(person) if d.startswith("form:")}
    await harness.settle()
    sent = [r["id"] for r in await harness.db.fetchall("SELECT id FROM broadcasts ORDER BY id")]
    seen[cora].add(Cancel(sent[0]).pack())
    seen[other].add(Cancel(sent[1]).pack())
    assert {":".join(d.split(":")[:2]) for d in seen[cora]} == {
        "digest:frequency", "digest:hour", "digest:weekday", "digest:where",
        "broadcast:cancel", "form:pick"}
    rng = random.Random(7)
    presses = [(p, mutated(d, rng)) for d in sorted(seen[cora]) for p in (cora, resident)
               for _ in range(2)]
    presses += [(p, d) for d in sorted(seen[other]) if not d.startswith("form:")
                for p in (cora, resident)]
    presses += [(cora, Cancel(sent[0]).pack())]  # finished: nothing left to cancel
    await refused_without_a_trace(harness, caplog, presses)
