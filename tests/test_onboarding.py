"""Joining a community, in four languages, through the real Application and the emulator."""

from __future__ import annotations

import json
import re

import pytest

from bot.emulator import Person
from bot.i18n import Translator, isolate
from bot.labels import GROUP_LABELS
from storage import community as store
from tests.harness import Harness

PAYLOAD = re.compile(r"^https://t\.me/\w+\?start=([A-Za-z0-9_-]{1,64})$")
SCRIPT = {
    "fa": re.compile(r"[\u0600-\u06FF]"),
    "he": re.compile(r"[\u0590-\u05FF]"),
    "kk": re.compile(r"[\u0400-\u04FF]"),
    "en": re.compile(r"[A-Za-z]"),
}


def _ours(text: str) -> str:
    """The bot's own words: without isolated user text, links and /commands."""
    text = re.sub("\u2068[^\u2069]*\u2069", "", text)
    text = re.sub(r"https?://\S+", "", text)
    return re.sub(r"/[a-z_]+", "", text)


def assert_in_language(person: Person, lang: str) -> None:
    """Every message and button the person got is in ``lang`` (Persian digits for fa)."""
    assert person.messages, "no messages"
    for message in person.messages:
        texts = [message.get("text") or message.get("caption") or ""]
        texts += person.buttons(message)
        for text in texts:
            own = _ours(text)
            assert SCRIPT[lang].search(own), f"{lang}: {text!r}"
            if lang != "en":
                assert not re.search(r"[A-Za-z]{3,}", own), f"English in {lang}: {text!r}"
            if lang == "fa":
                assert not re.search(r"\d", own.translate({0x2068: None})) or all(
                    "\u06f0" <= ch <= "\u06f9" for ch in re.findall(r"\d", own)
                ), f"Latin digits in fa: {text!r}"


async def test_admin_creates_a_community_with_two_deep_links(harness: Harness) -> None:
    invitation = await harness.new_community("Green Street")
    text = harness.admin.last["text"]
    links = re.findall(r"https://t\.me/\S+", text)
    assert len(links) == 2
    for link in links:
        assert PAYLOAD.match(link), link
    assert {PAYLOAD.match(link)[1] for link in links} == {  # type: ignore[index]
        invitation.resident_code,
        invitation.coordinator_code,
    }


@pytest.mark.parametrize("lang", ["fa", "kk", "he", "en"])
async def test_resident_joins_in_their_language(harness: Harness, lang: str) -> None:
    invitation = await harness.new_community("Green Street")
    person = harness.person(lang)
    await harness.join(person, invitation.resident_code, "vulnerable")
    await person.send("/help")
    await harness.settle()
    membership = await store.get_membership(harness.db, invitation.community.id, person.id)
    assert membership is not None
    assert membership.role == "resident" and membership.stakeholder_group == "vulnerable"
    assert_in_language(person, lang)
    assert Translator(lang)._("Send /help to see what you can do.") in person.texts()[-2]


async def test_coordinator_joins_by_the_coordinator_link(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "fa", group="ngo")
    resident = await harness.resident(invitation, "he", group="media")
    membership = await store.get_membership(harness.db, invitation.community.id, coordinator.id)
    assert membership is not None and membership.role == "coordinator"

    await coordinator.send("/members")
    await harness.settle()
    # The coordinator and the resident: the admin who created the community never joined it.
    assert coordinator.last["text"].splitlines()[0] == Translator("fa").ngettext(
        "{community}: {n} member", "{community}: {n} members", 2,
        community=isolate("Green Street"))
    assert_in_language(coordinator, "fa")

    await resident.send("/members")
    await harness.settle()
    assert resident.last["text"] == Translator("he")._(
        "Only coordinators of this community can do that."
    )


async def test_rejoining_is_harmless(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation)
    await coordinator.send(f"/start {invitation.resident_code}")
    await harness.settle()
    assert "already a member" in coordinator.last["text"]
    membership = await store.get_membership(harness.db, invitation.community.id, coordinator.id)
    assert membership is not None and membership.role == "coordinator"


async def test_restart_in_the_middle_of_joining_resumes_at_the_same_step(
    harness: Harness,
) -> None:
    invitation = await harness.new_community()
    person = harness.person("kk")
    t = Translator("kk")
    await person.send(f"/start {invitation.resident_code}")
    await harness.settle()
    await harness.restart()
    await person.tap(t._(GROUP_LABELS["business"]))
    await harness.settle()
    assert t._("I agree") in person.buttons()
    await harness.restart()
    await person.tap(t._("I agree"))
    await harness.settle()
    membership = await store.get_membership(harness.db, invitation.community.id, person.id)
    assert membership is not None and membership.stakeholder_group == "business"


async def test_declining_the_privacy_notice_stores_nothing(harness: Harness) -> None:
    invitation = await harness.new_community()
    person = harness.person("en")
    await person.send(f"/start {invitation.resident_code}")
    await harness.settle()
    await person.tap("NGOs")
    await harness.settle()
    await person.tap("I do not agree")
    await harness.settle()
    assert await store.get_membership(harness.db, invitation.community.id, person.id) is None
    assert "nothing about you was stored" in person.last["text"]


@pytest.mark.parametrize("payload", ["not*a*code", "x" * 65, "AAAAAAAAAAAAAAAA"])
async def test_unknown_or_malformed_codes_are_refused(harness: Harness, payload: str) -> None:
    await harness.new_community()
    person = harness.person("fa")
    await person.send(f"/start {payload}")
    await harness.settle()
    assert person.last["text"] == Translator("fa")._(
        "This link is not a valid invitation. Ask your coordinator for a new one."
    )
    assert await harness.db.fetchval("SELECT COUNT(*) FROM memberships WHERE user_id = ?",
                                     (person.id,)) == 0


async def test_a_rotated_link_stops_working(harness: Harness) -> None:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation)
    await coordinator.send("/invite")
    await harness.settle()
    await coordinator.tap("New resident link")
    await harness.settle()
    late = harness.person("en")
    await late.send(f"/start {invitation.resident_code}")
    await harness.settle()
    assert "no longer valid" in late.last["text"]
    new_code = PAYLOAD.match(re.findall(r"https://t\.me/\S+", coordinator.last["text"])[0])
    assert new_code is not None and new_code[1] != invitation.resident_code
    await harness.join(late, new_code[1])
    assert await store.get_membership(harness.db, invitation.community.id, late.id)


async def test_link_revoked_between_start_and_accept(harness: Harness) -> None:
    invitation = await harness.new_community()
    person = harness.person("en")
    await person.send(f"/start {invitation.resident_code}")
    await harness.settle()
    await person.tap("Media")
    await harness.settle()
    await store.revoke_invites(harness.db, invitation.community.id, "resident")
    await person.tap("I agree")
    await harness.settle()
    assert "no longer valid" in (person.last_answer or "")
    assert await store.get_membership(harness.db, invitation.community.id, person.id) is None


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(harness: Harness) -> None:
    invitation = await harness.new_community()
    person = await harness.resident(invitation, "he")
    t = Translator("he")
    before = await harness.db.fetchall("SELECT * FROM memberships ORDER BY user_id")

    await person.send("/teleport")
    await harness.settle()
    assert person.last["text"] == t._(
        "I don't know that command. Send /help to see what you can do."
    )
    await person.send("x" * 5000)
    await harness.settle()
    assert person.last["text"] == t._(
        "That message is too long: at most {limit} characters, please.", limit=4096
    )
    for forged in ("join:group:pirates", "community:switch:999", "invite:rotate:resident",
                   "lang:xx", "nonsense", f"onboarding:group:{invitation.resident_code}:pirates",
                   "community:renew:resident", "account:language:xx",
                   "onboarding:agree:nocode:activist", "community:switch:99999999999999999999"):
        await person.press(forged)
        await harness.settle()
        assert person.last_answer, f"{forged} was not answered"
    after = await harness.db.fetchall("SELECT * FROM memberships ORDER BY user_id")
    assert [tuple(r) for r in before] == [tuple(r) for r in after]
    active = await store.active_invite(harness.db, invitation.community.id, "resident")
    assert active is not None and active.code == invitation.resident_code


async def test_language_can_be_changed(harness: Harness) -> None:
    invitation = await harness.new_community()
    person = await harness.resident(invitation, "en")
    await person.send("/language")
    await harness.settle()
    await person.tap("فارسی")
    await harness.settle()
    await person.send("/help")
    await harness.settle()
    assert "/members" not in person.last["text"]
    assert re.search(r"[\u0600-\u06FF]", person.last["text"])
    user = await store.get_user(harness.db, person.id)
    assert user is not None and user.language == "fa" and user.language_chosen


async def test_switching_communities(harness: Harness) -> None:
    first = await harness.new_community("First")
    second = await harness.new_community("Second")
    person = await harness.resident(first, "en")
    await harness.join(person, second.coordinator_code)
    await person.send("/community")
    await harness.settle()
    assert person.buttons() == ["First", "✓ Second"]
    await person.tap("First")
    await harness.settle()
    user = await store.get_user(harness.db, person.id)
    assert user is not None and user.current_community_id == first.community.id
    await person.send("/members")
    await harness.settle()
    assert "Only coordinators" in person.last["text"]  # a resident in First


async def test_mydata_and_forgetme(harness: Harness) -> None:
    invitation = await harness.new_community()
    person = await harness.resident(invitation, "en", group="business")
    await person.send("/mydata")
    await harness.settle()
    data = json.loads(person.document(person.last))
    assert data["user"]["id"] == person.id
    assert data["memberships"][0]["stakeholder_group"] == "business"

    await person.send("/forgetme")
    await harness.settle()
    await person.tap("Keep my data")
    await harness.settle()
    assert await store.get_user(harness.db, person.id) is not None
    await person.send("/forgetme")
    await harness.settle()
    await person.tap("Delete my data")
    await harness.settle()
    assert await store.get_membership(harness.db, invitation.community.id, person.id) is None
    assert await harness.db.fetchval("SELECT COUNT(*) FROM users WHERE id = ?", (person.id,)) == 0


async def test_group_chats_get_pointed_to_the_private_chat(harness: Harness) -> None:
    invitation = await harness.new_community()
    person = await harness.resident(invitation, "en")
    group = harness.emu.group(-100123, "Street chat", members=[person])

    def from_bot() -> list[str]:
        return [m["text"] for m in group.messages if m["from"]["id"] == harness.emu.bot_id]

    await person.send("hello everyone", chat=group)
    await person.send("/help", chat=group)  # not addressed to us: silence
    await harness.settle()
    assert from_bot() == []
    await person.send(f"/help@{harness.emu.bot_username}", chat=group)
    await harness.settle()
    assert from_bot() == ["Let's talk in a private chat, so the group stays quiet."]


async def test_blocked_user_is_marked_unreachable(harness: Harness) -> None:
    invitation = await harness.new_community()
    person = await harness.resident(invitation, "en")
    person.block_bot()
    await person.send("/help")
    await harness.settle()
    user = await store.get_user(harness.db, person.id)
    assert user is not None and not user.reachable


async def test_telegram_429_is_retried_and_500_gets_an_apology(harness: Harness) -> None:
    invitation = await harness.new_community()
    person = await harness.resident(invitation, "en")
    harness.emu.fail("sendMessage", 429, retry_after=1, times=1, chat_id=person.id)
    await person.send("/help")
    await harness.settle()
    assert "/language" in person.last["text"]  # delivered after the retry

    harness.emu.fail("sendMessage", 500, times=1, chat_id=person.id)
    await person.send("/help")
    await harness.settle()
    assert "something went wrong" in person.last["text"]


async def test_command_menus_in_every_language(harness: Harness) -> None:
    menus = {lang: harness.emu.commands[('{"type": "default"}', lang)]
             for lang in ("fa", "kk", "he", "en")}
    assert {c["command"] for c in menus["fa"]} >= {"start", "help", "language", "mydata"}
    assert "/newcommunity" not in str(menus["en"])  # admins' commands are not advertised
    assert menus["fa"][0]["description"] == Translator("fa")._(
        "Start, or join a community with an invitation link")
    assert menus["he"] != menus["kk"]
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "kk")
    personal = harness.emu.commands[(f'{{"chat_id": {coordinator.id}, "type": "chat"}}', "")]
    assert "invite" in {c["command"] for c in personal}


async def test_the_admin_runs_a_community_without_being_its_member(harness: Harness) -> None:
    """The admin who created a community steers it (links, members) but is no member: not
    counted, told nothing, and taking part needs joining by a link like everyone else."""
    from bot.handlers.voting import Sticker
    from storage import voting as voting_store
    from tests.harness import press

    invitation = await harness.new_community()
    community_id = invitation.community.id
    assert await store.get_membership(harness.db, community_id, harness.admin.id) is None
    resident = await harness.resident(invitation, "en")
    vote = await voting_store.create(harness.db, community_id, title="Lights",
                                     method="stickers", problems=["Lamps", "Bins"])
    problem = (await voting_store.problems(harness.db, vote.id))[0]
    admin = harness.admin
    await admin.send("/members")
    await harness.settle()
    assert admin.last["text"].splitlines()[0] == Translator("en").ngettext(
        "{community}: {n} member", "{community}: {n} members", 1,
        community=isolate("Green Street"))
    before = await harness.db.fetchval("SELECT COUNT(*) FROM stickers")
    join_first = "Join a community first: open the invitation link your coordinator shared."
    assert await press(harness, admin, Sticker(vote.id, problem.id, 0, False).pack()) == \
        join_first
    assert await harness.db.fetchval("SELECT COUNT(*) FROM stickers") == before
    await harness.join(admin, invitation.resident_code)
    assert await press(harness, admin, Sticker(vote.id, problem.id, 0, False).pack()) == \
        Translator("en").ngettext("{n} sticker left", "{n} stickers left", 2)
    assert await harness.db.fetchval("SELECT COUNT(*) FROM stickers") == before + 1
    assert len(resident.messages) == 2  # the welcome and the group; nothing about the admin


async def test_the_admin_is_in_no_count_and_hears_no_announcement(harness: Harness) -> None:
    """Issue 18: "4 of 6 members", "no group: 0/1" — the admin who created the community
    was counted. Since the interaction layer the admin is no member: results count the
    members who joined, no line stands for "no group", and announcements skip the admin."""
    from tests.harness import step, tr
    from tests.test_survey import EVERY_KIND, _from_file
    from tests.test_voting import open_vote

    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    rita = await harness.resident(invitation, "fa", "vulnerable", name="Rita")
    admin = harness.admin
    admin_saw = len(admin.messages)
    await _from_file(harness, cora, EVERY_KIND)
    await open_vote(harness, cora)
    assert tr(rita, "Answer the survey") in rita.buttons(rita.messages[-2])
    assert len(admin.messages) == admin_saw  # neither announcement reached the admin

    await step(harness, cora, "/surveyresults", send=True)
    await step(harness, cora, lambda label: label.startswith("Every kind"))
    survey = cora.texts()[-1]
    assert "Responses: 0 of 2 members (0%)" in survey
    assert "no group" not in survey
    assert [line.split(":")[0] for line in survey.splitlines()
            if line.endswith("░░░░░░░░░░")] == ["NGOs", "Vulnerable groups"]
    await step(harness, cora, "/results", send=True)
    vote = cora.texts()[-1]
    assert "0 members took part, of 2 (0%)." in vote
    assert "no group" not in vote
    assert vote.splitlines()[-2:] == ["• Vulnerable groups: 0 / 1", "• NGOs: 0 / 1"]
