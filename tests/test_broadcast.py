"""Broadcasts end to end: audiences, language versions, blocked users, 429 and 500 answers,
cancelling, a restart in the middle, and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.delivery import courier
from bot.emulator import Person
from bot.flows.broadcast import quiet_until, version_for
from storage import broadcast as store
from storage import community as community_store
from storage.community import Community
from tests.harness import Harness, Invitation, step, tr


async def crowd(harness: Harness, invitation: Invitation, n: int,
                group: str = "other") -> list[Person]:
    """``n`` residents joined straight in the database (the joining flow has its own tests)."""
    people = []
    for _ in range(n):
        person = harness.person("en")
        await community_store.upsert_user(harness.db, person.id, first_name=person.name,
                                          last_name=None, username=None, language="en")
        await community_store.join(harness.db, invitation.community.id, person.id,
                                   role="resident", stakeholder_group=group)
        people.append(person)
    return people


def progress_of(person: Person) -> str:
    """The sender's progress message (the sender may be in the audience too)."""
    return next(t for t in reversed(person.texts()) if "Sent:" in t)


async def write_broadcast(harness: Harness, cora: Person, text: str) -> None:
    await step(harness, cora, "/broadcast", send=True)
    await step(harness, cora, text, send=True)
    assert tr(cora, "<b>Broadcast draft</b>").replace("<b>", "").replace("</b>", "") \
        in cora.texts()[-1]


async def test_audience_and_language_versions(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    maryam = await harness.resident(invitation, "fa", "activist", name="مریم")
    aigerim = await harness.resident(invitation, "kk", "activist", name="Әйгерім")
    noa = await harness.resident(invitation, "he", "business", name="נועה")
    blocked = await harness.resident(invitation, "en", "activist", name="Blocked")
    blocked.block_bot()

    await write_broadcast(harness, cora, "Clean-up day on Saturday at 10.")
    # A Persian version; Kazakh speakers get the community's default (English).
    await step(harness, cora, "+ فارسی")
    await step(harness, cora, "روز پاکسازی، شنبه ساعت ۱۰.", send=True)
    await step(harness, cora, tr(cora, "Choose the audience"))
    await step(harness, cora, "Activists and leaders")
    card = cora.texts()[-1]
    assert "Audience: Activists and leaders" in card and "It will reach 3 members." in card
    await step(harness, cora, tr(cora, "Preview"))
    assert cora.texts()[-2] == "Clean-up day on Saturday at 10."  # as members will see it
    assert "• English: 2" in cora.texts()[-1] and "• فارسی: 1" in cora.texts()[-1]
    await step(harness, cora, "Send to 3 members")

    assert maryam.texts()[-1] == "روز پاکسازی، شنبه ساعت ۱۰."
    assert aigerim.texts()[-1] == "Clean-up day on Saturday at 10."
    assert "Clean-up" not in " ".join(noa.texts())  # business is not in the audience
    progress = progress_of(cora)
    assert "Broadcast finished." in progress
    assert "Sent: 2 · failed: 1 · left: 0" in progress
    user = await community_store.get_user(harness.db, blocked.id)
    assert user is not None and not user.reachable  # not retried forever
    # The outbox holds one row per recipient, each in its final state.
    states = [r["state"] for r in await harness.db.fetchall("SELECT state FROM outbox")]
    assert sorted(states) == ["failed", "sent", "sent"]


async def test_429_and_500_are_retried_and_nothing_is_lost(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    people = await crowd(harness, invitation, 5)
    harness.emu.fail("sendMessage", 429, retry_after=1, times=1, chat_id=people[0].id)
    harness.emu.fail("sendMessage", 500, times=2, chat_id=people[1].id)
    await write_broadcast(harness, cora, "Water is off tomorrow 9-12.")
    await step(harness, cora, tr(cora, "Preview"))
    await step(harness, cora, "Send to 7 members")
    for person in people:  # one after a 429, one after the back-off from two 500s
        await person.wait_for("Water is off tomorrow 9-12.")
    await harness.settle()
    for person in people:
        assert harness.emu.delivered[person.id] == 1, person.name
        assert person.texts()[-1] == "Water is off tomorrow 9-12."
    assert "Sent: 7 · failed: 0 · left: 0" in progress_of(cora)
    assert harness.emu.stats["429"] >= 1


async def test_cancel_stops_what_is_not_yet_sent(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    people = await crowd(harness, invitation, 90)  # about three seconds at 29 a second
    await write_broadcast(harness, cora, "Meeting moved to Monday.")
    await step(harness, cora, tr(cora, "Preview"))
    await cora.tap("Send to 92 members")
    await harness.emu.until(lambda: sum(harness.emu.delivered[p.id] for p in people) >= 10)
    await cora.tap(tr(cora, "Cancel the broadcast"))
    await harness.settle()
    delivered = sum(harness.emu.delivered[p.id] for p in people)
    assert 0 < delivered < 90
    assert cora.last_answer is not None and "Cancelled" in cora.last_answer
    broadcast_id = int(await harness.db.fetchval("SELECT MAX(id) FROM broadcasts"))
    progress = await store.progress(harness.db, broadcast_id)
    assert progress.left == 0 and progress.sent + progress.cancelled + progress.failed == 92
    assert "Broadcast cancelled" in progress_of(cora)
    courier(harness.app).wake()  # one more look at the outbox
    await harness.settle()
    assert sum(harness.emu.delivered[p.id] for p in people) == delivered  # nothing more


async def test_a_restart_in_the_middle_resumes_without_loss(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    people = await crowd(harness, invitation, 80)
    await write_broadcast(harness, cora, "Survey results are out.")
    await step(harness, cora, tr(cora, "Preview"))
    await cora.tap("Send to 82 members")
    await harness.emu.until(lambda: sum(harness.emu.delivered[p.id] for p in people) >= 10)
    await harness.restart()  # a redeploy in the middle of sending
    before = sum(1 for p in people if harness.emu.delivered[p.id])
    assert 0 < before < 80
    await harness.emu.until(lambda: all(harness.emu.delivered[p.id] for p in people))
    await harness.settle()
    assert all(harness.emu.delivered[p.id] == 1 for p in people)  # none lost, none twice
    assert "Sent: 82 · failed: 0 · left: 0" in progress_of(cora)


async def test_bad_input_changes_nothing(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "fa")
    await step(harness, resident, "/broadcast", send=True)
    assert tr(resident, "Only coordinators of this community can do that.") \
        in resident.texts()[-1]
    await step(harness, cora, "/broadcast", send=True)
    await step(harness, cora, "x" * 4097, send=True)
    assert "too long" in cora.texts()[-1]
    await step(harness, cora, "Hello", send=True)
    await cora.press("bc:a:committee:999")
    await harness.settle()
    assert cora.last_answer == "This audience is not available."
    await cora.press("bc:cancel:abc")
    await harness.settle()
    assert cora.last_tap_answered
    await resident.press("bc:send")
    await harness.settle()
    assert await harness.db.fetchval("SELECT COUNT(*) FROM outbox") == 0
    # The draft survives a restart.
    await harness.restart()
    await step(harness, cora, tr(cora, "Preview"))
    assert cora.texts()[-2] == "Hello"


async def test_quiet_hours() -> None:
    tehran = Community(1, "c", "fa", "Asia/Tehran", None, datetime.now(UTC), 22, 8)
    # 23:30 in Tehran (UTC+3:30) is 20:00 UTC: held until 08:00 Tehran = 04:30 UTC.
    held = quiet_until(datetime(2026, 11, 25, 20, 0, tzinfo=UTC), tehran)
    assert held == datetime(2026, 11, 26, 4, 30, tzinfo=UTC)
    # 03:30 in Tehran: held until 08:00 the same day.
    assert quiet_until(datetime(2026, 11, 25, 0, 0, tzinfo=UTC), tehran) == \
        datetime(2026, 11, 25, 4, 30, tzinfo=UTC)
    assert quiet_until(datetime(2026, 11, 25, 10, 0, tzinfo=UTC), tehran) is None
    daytime = Community(1, "c", "fa", "UTC", None, datetime.now(UTC), 13, 15)
    assert quiet_until(datetime(2026, 11, 25, 14, 0, tzinfo=UTC), daytime) == \
        datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    off = Community(1, "c", "fa", "UTC", None, datetime.now(UTC), 0, 0)
    assert quiet_until(datetime(2026, 11, 25, 3, 0, tzinfo=UTC), off) is None
    assert version_for({"en": "E", "fa": "F"}, "he", "fa", "en") == "F"
    assert version_for({"en": "E"}, "he", "fa", "en") == "E"


async def test_quiet_hours_command(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    await step(harness, cora, "/quiethours", send=True)
    assert "No quiet hours" in cora.texts()[-2]
    await step(harness, cora, "/quiethours 21 7", send=True)
    await step(harness, cora, "/quiethours", send=True)
    assert "from 21:00 to 7:00" in cora.texts()[-2]
    community = await community_store.get_community(harness.db, invitation.community.id)
    assert community is not None and (community.quiet_start, community.quiet_end) == (21, 7)
    await step(harness, cora, "/quiethours 25 7", send=True)
    assert "from 0 to 23" in cora.texts()[-1]
    await step(harness, cora, "/quiethours off", send=True)
    community = await community_store.get_community(harness.db, invitation.community.id)
    assert community is not None and community.quiet_start == community.quiet_end


async def test_notices_wait_for_the_end_of_quiet_hours(harness: Harness) -> None:
    from tests.test_voting import open_vote

    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "fa")
    # Quiet hours that cover this very hour in the community's time zone.
    hour = datetime.now(ZoneInfo(invitation.community.timezone)).hour
    await community_store.set_quiet_hours(harness.db, invitation.community.id, hour,
                                          (hour + 2) % 24)
    await open_vote(harness, cora)
    assert tr(resident, "Vote now") not in resident.buttons()  # held until morning
    row = await harness.db.fetchone("SELECT due_at FROM outbox WHERE user_id = ?",
                                    (resident.id,))
    assert row is not None and row["due_at"] > datetime.now(UTC).isoformat()
    # Morning comes (the hold is moved to now): the notice goes out, once.
    await harness.db.execute("UPDATE outbox SET due_at = ?", (datetime.now(UTC).isoformat(),))
    await harness.restart()  # the worker looks at the outbox at once
    await harness.settle()
    assert tr(resident, "Vote now") in resident.buttons()
    announcements = [t for t in resident.texts() if tr(resident, "Method: {method}",
                                                        method="")[:5] in t]
    assert len(announcements) == 1


async def test_reminder_before_closing_goes_to_those_who_have_not_voted(
        harness: Harness) -> None:
    from tests.test_voting import ballot, open_vote, problem_button

    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    voter = await harness.resident(invitation, "fa")
    waiting = await harness.resident(invitation, "he")
    pid = await open_vote(harness, cora, close="In 3 days")
    await ballot(harness, voter)
    await voter.tap(problem_button(voter, 1))
    await harness.settle()
    # A day before closing is now: the vote opened days ago and closes in an hour.
    await harness.db.execute(
        "UPDATE prioritisations SET created_at = ?, closes_at = ? WHERE id = ?",
        ("2026-01-01T00:00:00+00:00",
         datetime.fromtimestamp(datetime.now(UTC).timestamp() + 3600, UTC).isoformat(), pid))
    await harness.restart()  # the reminder job is due at once; settle waits for it
    await harness.settle()
    reminder = tr(waiting, "Reminder: the vote <b>{title}</b> closes {when}, and you have not"
                           " voted yet.", title="\u2068Our street\u2069", when="")
    assert reminder.split("<b>")[0] in waiting.texts()[-1]
    assert not any(reminder.split("<b>")[0] in text for text in voter.texts())
    count = len(waiting.texts())
    await harness.restart()  # the reminder job runs again at start: no second reminder
    await harness.settle()
    assert len(waiting.texts()) == count
