"""Committee digests: in a group chat and in private chats, nothing twice after a restart,
one catch-up after downtime, and no digest when nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.flows.digest import current_period, worth_sending
from storage import committee as committee_store
from storage import voting as voting_store
from storage.digest import Change
from tests.harness import Harness, tr

LONG_AGO = "2000-01-01T00:00:00+00:00"



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
    assert "On: daily at 18:00, to the linked group chat." in cora.texts()[-1]
    await voting_store.create(harness.db, invitation.community.id, title="Playground",
                              method="stickers", problems=["Swings", "Lights"], stickers=3)

    # Setting it up sends nothing at once; a restart after the period began catches up once.
    assert not chat.messages
    await make_due(harness, committee.id)
    await harness.restart()  # the digest job's look at start-up; settle waits for it
    await harness.settle()
    assert len(chat.messages) == 1
    digest = chat.messages[0]["text"]
    assert "Digest for \u2068Green committee\u2069" in digest
    assert "New priority vote: \u2068Playground\u2069" in digest
    assert "Joined the group: \u2068مریم\u2069" in digest
    await harness.restart()  # the same period again: nothing
    await harness.settle()
    assert len(chat.messages) == 1

    # To each member's private chat instead, in their language.
    await cora.send("/digest")
    await harness.settle()
    await cora.tap("Send to each member instead")
    await harness.settle()
    await make_due(harness, committee.id)
    await harness.restart()  # the digest job's look at start-up; settle waits for it
    await harness.settle()
    assert tr(maryam, "New priority vote: {title}", title="\u2068Playground\u2069") \
        in maryam.texts()[-1]
    assert tr(noa, "New priority vote: {title}", title="\u2068Playground\u2069") \
        in noa.texts()[-1]
    assert len(chat.messages) == 1

    # Nothing changed since the last digest: no digest.
    before = len(maryam.texts())
    await make_due(harness, committee.id, since=datetime.now(UTC).isoformat())
    await harness.restart()  # the digest job's look at start-up; settle waits for it
    await harness.settle()
    assert len(maryam.texts()) == before

    # Forged settings change nothing.
    await cora.press(f"dg:f:{committee.id}:hourly")
    await harness.settle()
    await maryam.press(f"dg:f:{committee.id}:off")
    await harness.settle()
    assert maryam.last_answer == tr(maryam, "Only coordinators of this community can do that.")
    assert await harness.db.fetchval("SELECT frequency FROM digests") == "daily"


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
