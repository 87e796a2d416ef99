"""Broadcasts end to end: audiences, language versions, blocked users, 429 and 500 answers,
cancelling, a restart in the middle, and quiet hours."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.callbacks import Button
from bot.emulator import Person
from bot.emulator.core import Json
from bot.flows.broadcast import quiet_until, version_for
from bot.handlers._forms import Pick
from bot.handlers.broadcast import Cancel
from bot.i18n import Translator
from storage import broadcast as store
from storage import community as community_store
from storage.community import Community
from tests.harness import Harness, Invitation, press, step, tr

STALE = "This button no longer works."


def jobs_due_now_ran(harness: Harness) -> Callable[[], bool]:
    """True once every job due in the next few seconds (those run at start) has run."""
    horizon = datetime.now(UTC) + timedelta(seconds=5)

    def check() -> bool:
        queue = harness.app.job_queue
        return queue is not None and not any(
            job.next_t is not None and job.next_t < horizon for job in queue.jobs())

    return check


def has_button(label: str) -> Callable[[Json], bool]:
    def check(message: Json) -> bool:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return any(b.get("text") == label for row in rows for b in row)

    return check


def delivered(harness: Harness, people: list[Person]) -> int:
    return sum(harness.emu.delivered[p.id] for p in people)


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
    assert cora.texts()[-1].splitlines()[0] == tr(cora, "<b>Broadcast draft</b>").replace(
        "<b>", "").replace("</b>", "")


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
    await step(harness, cora, "Send to 6 members")
    # The back-off after two 500s: 2 s, then 4 s.
    await harness.emu.until(lambda: all(harness.emu.delivered[p.id] for p in people), 30)
    await cora.wait_for("Sent: 6 · failed: 0 · left: 0")
    await harness.settle()
    for person in people:
        assert harness.emu.delivered[person.id] == 1, person.name
        assert person.texts()[-1] == "Water is off tomorrow 9-12."
    assert "Sent: 6 · failed: 0 · left: 0" in progress_of(cora)
    assert harness.emu.stats["429"] >= 1


async def test_cancel_stops_what_is_not_yet_sent(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    people = await crowd(harness, invitation, 90)  # about three seconds at 29 a second
    await write_broadcast(harness, cora, "Meeting moved to Monday.")
    await step(harness, cora, tr(cora, "Preview"))
    await cora.tap("Send to 91 members")
    await harness.emu.until(lambda: delivered(harness, people) > 0, 30)
    await cora.tap(tr(cora, "Cancel the broadcast"))
    await harness.settle()
    sent = delivered(harness, people)
    assert 0 < sent < 90
    answer = cora.last_answer or ""
    assert answer.startswith("Cancelled: ") and answer.endswith(" will not be sent.")
    broadcast_id = int(await harness.db.fetchval("SELECT MAX(id) FROM broadcasts"))
    progress = await store.progress(harness.db, broadcast_id)
    assert progress.left == 0 and progress.sent + progress.cancelled + progress.failed == 91
    assert progress_of(cora).splitlines()[0] == Translator("en").ngettext(
        "Broadcast cancelled; {n} message was not sent.",
        "Broadcast cancelled; {n} messages were not sent.", progress.cancelled)
    await harness.settle()
    assert delivered(harness, people) == sent  # nothing more


async def test_a_restart_in_the_middle_resumes_without_loss(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    people = await crowd(harness, invitation, 80)
    await write_broadcast(harness, cora, "Survey results are out.")
    await step(harness, cora, tr(cora, "Preview"))
    await cora.tap("Send to 81 members")
    await harness.emu.until(lambda: delivered(harness, people) > 0, 30)
    await harness.restart()  # a redeploy in the middle of sending
    before = sum(1 for p in people if harness.emu.delivered[p.id])
    assert 0 < before < 80
    await harness.emu.until(lambda: all(harness.emu.delivered[p.id] for p in people), 30)
    await cora.wait_for("Sent: 81 · failed: 0 · left: 0")
    await harness.settle()
    assert all(harness.emu.delivered[p.id] == 1 for p in people)  # none lost, none twice
    assert "Sent: 81 · failed: 0 · left: 0" in progress_of(cora)


async def test_bad_input_changes_nothing(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    resident = await harness.resident(invitation, "fa")
    await step(harness, resident, "/broadcast", send=True)
    assert resident.texts()[-1] == tr(resident, "Only coordinators of this community can do"
                                                " that.")
    await step(harness, cora, "/broadcast", send=True)
    await step(harness, cora, "x" * 4097, send=True)
    assert cora.texts()[-1] == tr(cora, "That message is too long: at most {limit} characters,"
                                        " please.", limit=4096)
    await cora.send_document("notes.txt", b"hello")  # neither text nor a photo
    await harness.settle()
    assert cora.texts()[-2] == "Please send text, or a photo with a caption."
    await step(harness, cora, "Hello", send=True)
    card = Button.parse(cora.last["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    assert isinstance(card, Pick)
    huge = 99999999999999999999
    for forged in ("bc:a:committee:999", Pick(card.nonce, card.step, "committee-999").pack(),
                   Pick(card.nonce, card.step + 1, "preview").pack(),
                   Pick("oldnonce", card.step, "preview").pack(), "bc:cancel:abc",
                   "broadcast:cancel:abc", f"broadcast:cancel:{huge}", "broadcast:cancel",
                   "broadcast:cancel:1:2", "broadcast:cancel:-1"):
        assert await press(harness, cora, forged) == STALE, forged
    assert await press(harness, cora, Cancel(999).pack()) == \
        "This broadcast is not available to you."
    for forged in ("bc:send", Pick(card.nonce, card.step, "preview").pack()):
        assert await press(harness, resident, forged) == tr(resident, STALE), forged
    assert await press(harness, resident, Cancel(1).pack()) == tr(
        resident, "Only coordinators of this community can do that.")
    assert await harness.db.fetchval("SELECT COUNT(*) FROM outbox") == 0
    assert await harness.db.fetchval("SELECT COUNT(*) FROM broadcasts") == 0
    # The draft survives a restart.
    await harness.restart()
    await step(harness, cora, tr(cora, "Preview"))
    assert cora.texts()[-2] == "Hello"


async def test_a_button_on_an_older_card_never_drives_the_current_one(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    await harness.resident(invitation, "fa", "activist")
    await write_broadcast(harness, cora, "The first draft.")
    old_card = cora.last
    await write_broadcast(harness, cora, "The second draft.")  # /broadcast drops the first
    new_card = cora.last
    for label in ("Preview", "Choose the audience", "+ فارسی", "Discard"):
        await cora.tap(label, old_card)
        await harness.settle()
        assert cora.last_answer == STALE, label
    assert cora.last["message_id"] == new_card["message_id"]
    assert cora.last["text"] == new_card["text"]

    # Within one draft, the card's buttons work only while the card is the question asked.
    await step(harness, cora, "Preview")
    assert cora.texts()[-2] == "The second draft."
    await cora.tap("Choose the audience", new_card)
    await harness.settle()
    assert cora.last_answer == STALE
    send = next(b["callback_data"] for row in cora.last["reply_markup"]["inline_keyboard"]
                for b in row if b["text"] == "Send to 2 members")
    await step(harness, cora, "Send to 2 members")
    await cora.wait_for("Sent: 2 · failed: 0 · left: 0")
    for _again in range(2):  # the Send button once more (a double tap, a forged repeat)
        assert await press(harness, cora, send) == STALE
    assert await harness.db.fetchval("SELECT COUNT(*) FROM broadcasts") == 1
    texts = [r["text"] for r in await harness.db.fetchall("SELECT text FROM outbox")]
    assert texts == ["The second draft.", "The second draft."]


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
    resident = await harness.resident(invitation, "fa")
    await step(harness, cora, "/quiethours", send=True)
    assert cora.texts()[-2:] == [
        "No quiet hours: reminders and digests go out at any time.",
        "Change them with /quiethours 22 8, or /quiethours off."]
    await step(harness, cora, "/quiethours 21 7", send=True)
    assert cora.texts()[-1] == "Saved."
    await step(harness, cora, "/quiethours", send=True)
    en = Translator("en")
    assert cora.texts()[-2] == (f"Quiet hours: from {en.clock(21)} to {en.clock(7)}. Reminders and"
                                " digests wait until they end; broadcasts do not.")
    community = await community_store.get_community(harness.db, invitation.community.id)
    assert community is not None and (community.quiet_start, community.quiet_end) == (21, 7)
    for wrong in ("25 7", "21", "21 7 8", "x y", "-1 7"):
        await step(harness, cora, f"/quiethours {wrong}", send=True)
        assert cora.texts()[-1] == ("Give two hours from 0 to 23, e.g. /quiethours 22 8,"
                                    " or off."), wrong
    await step(harness, resident, "/quiethours off", send=True)
    assert resident.texts()[-1] == tr(resident, "Only coordinators of this community can do"
                                                " that.")
    community = await community_store.get_community(harness.db, invitation.community.id)
    assert community is not None and (community.quiet_start, community.quiet_end) == (21, 7)
    await step(harness, cora, "/quiethours ۲۲ ۸", send=True)  # Persian digits
    community = await community_store.get_community(harness.db, invitation.community.id)
    assert community is not None and (community.quiet_start, community.quiet_end) == (22, 8)
    await step(harness, cora, "/quiethours off", send=True)
    assert cora.texts()[-1] == "No quiet hours: reminders and digests go out at any time."
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
    await harness.restart()
    await resident.wait_for(has_button(tr(resident, "Vote now")))
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
    await harness.restart()
    reminder = tr(waiting, "Reminder: the vote <b>{title}</b> closes {when}, and you have not"
                           " voted yet.", title="\u2068Our street\u2069", when="")
    await waiting.wait_for(reminder.split("<b>")[0])
    await harness.settle()
    assert reminder.split("<b>")[0] in waiting.texts()[-1]
    assert not any(reminder.split("<b>")[0] in text for text in voter.texts())
    count = len(waiting.texts())
    await harness.restart()  # the reminder job runs again at start: no second reminder
    await harness.emu.until(jobs_due_now_ran(harness), 30)
    await harness.settle()
    assert len(waiting.texts()) == count
