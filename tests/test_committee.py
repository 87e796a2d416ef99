"""Committee end to end: nominations, a secret ballot, seats under quotas, the committee.

A coordinator sets up an election in chat; residents in Persian, Hebrew, Kazakh and English
nominate, accept or decline, and vote; seats go to group minimums first; the committee is
created with roles; coordinators co-opt, remove with a reason, add working groups and link
a group chat. Bad input, double votes and forged buttons change nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from typing import Literal, get_args, get_origin, get_type_hints

import pytest

from bot.callbacks import KINDS, Button
from bot.emulator import Person
from bot.handlers._forms import Pick
from bot.handlers.committee import (
    Accept,
    BallotPage,
    Cast,
    Choose,
    Count,
    CountNow,
    Decline,
    Discard,
    KeepVoting,
    Nominate,
    NominateOther,
    NominateSelf,
    OpenNominations,
    OpenVoting,
    Remind,
    ReopenVoting,
    Review,
    Setting,
    StopVoting,
    Vote,
)
from bot.i18n import Translator
from bot.labels import GROUP_LABELS
from storage import committee as store
from storage import community as community_store
from storage.db import to_db, utcnow
from tests.harness import Harness, Invitation, press, step, tr


def ntr(person: Person, singular: str, plural: str, n: int, **values: object) -> str:
    """A plural message as ``person`` sees it."""
    return Translator(person.language_code or "en").ngettext(singular, plural, n, **values)


def asked(person: Person, question: str) -> str:
    """A form's question as ``person`` sees it."""
    return tr(person, question) + "\n" + tr(person, "(/cancel stops)")


async def community_of(harness: Harness, person: Person) -> int:
    user = await community_store.get_user(harness.db, person.id)
    assert user is not None and user.current_community_id is not None
    return user.current_community_id


async def set_up_election(harness: Harness, coordinator: Person, *, seats: int = 3,
                          minimums: tuple[str, ...] = ("vulnerable", "business")) -> int:
    """/election with seats and minimums changed by the − buttons, then nominations open."""
    await step(harness, coordinator, "/election Green committee", send=True)
    eid = int(await harness.db.fetchval("SELECT MAX(id) FROM elections"))
    for group in ("activist", "vulnerable", "authority", "business", "ngo", "media"):
        if group not in minimums:
            await press(harness, coordinator, Setting(eid, group, "down").pack())
    for _ in range(9 - seats):
        await press(harness, coordinator, Setting(eid, "seats", "down").pack())
    card = coordinator.texts()[-1]
    assert tr(coordinator, "Seats: {n}", n=seats) in card, card
    await step(harness, coordinator, tr(coordinator, "Open nominations"))
    return eid


async def accept(harness: Harness, person: Person, group: str, statement: str) -> None:
    await step(harness, person, tr(person, "Accept", "committee"))
    label = tr(person, GROUP_LABELS[group])
    await step(harness, person, lambda text: text.removeprefix("✓ ") == label)
    await step(harness, person, statement, send=True)
    assert tr(person, "Thank you: you are a candidate. Voters will see your group and"
                      " statement.") in person.texts()[-1]


async def people(harness: Harness) -> tuple[Invitation, Person, dict[str, Person]]:
    invitation = await harness.new_community()
    coordinator = await harness.coordinator(invitation, "en", name="Cora")
    residents = {
        "maryam": await harness.resident(invitation, "fa", "vulnerable", name="مریم"),
        "noa": await harness.resident(invitation, "he", "activist", name="נועה"),
        "aigerim": await harness.resident(invitation, "kk", "activist", name="Әйгерім"),
        "sam": await harness.resident(invitation, "en", "activist", name="Sam Baker"),
        "lee": await harness.resident(invitation, "en", "other", name="Lee Stone"),
    }
    return invitation, coordinator, residents


async def nominate_and_vote(harness: Harness) -> tuple[int, Person, dict[str, Person]]:
    _inv, cora, r = await people(harness)
    eid = await set_up_election(harness, cora)
    maryam, noa, aigerim, sam, lee = (r[k] for k in ("maryam", "noa", "aigerim", "sam", "lee"))
    # Every member hears that nominations are open, in their language.
    for person in (maryam, noa, aigerim, sam, lee, cora):
        assert tr(person, "Nominate") in person.buttons(), person.texts()[-2:]

    # Maryam (fa) nominates herself for the vulnerable groups.
    await step(harness, maryam, tr(maryam, "Nominate"))
    await step(harness, maryam, tr(maryam, "Myself"))
    await accept(harness, maryam, "vulnerable", "برای دسترسی بهتر سالمندان به پارک تلاش می‌کنم.")

    # Noa (he) nominates Lee by name search; Lee accepts for business.
    await step(harness, noa, tr(noa, "Nominate"))
    await step(harness, noa, tr(noa, "Another member"))
    assert noa.texts()[-1] == asked(noa, "Type part of their name.")
    await step(harness, noa, "zzz", send=True)
    # No match: a hint, and the question again.
    assert noa.texts()[-2:] == [
        tr(noa, "No member of the community has that name. Try part of the name."),
        asked(noa, "Type part of their name.")]
    await step(harness, noa, "stone", send=True)  # one match: shown to confirm
    assert noa.texts()[-1] == tr(noa, "Is this the person: {name} ({group})?",
                                 name="\u2068Lee Stone\u2069", group=tr(noa, "Other residents"))
    await step(harness, noa, tr(noa, "Yes"))
    assert noa.texts()[-1] == tr(noa, "You nominated {name}. They will be asked to accept.",
                                 name="\u2068Lee Stone\u2069")
    await accept(harness, lee, "business", "I run the bakery on the corner.")
    assert "Lee Stone" in noa.texts()[-1]  # told that Lee accepted
    # Nominating Lee again is harmless: Sam is told, and may name someone else.
    await step(harness, sam, tr(sam, "Nominate"))
    await step(harness, sam, tr(sam, "Another member"))
    await step(harness, sam, "Lee", send=True)
    assert sam.texts()[-2:] == [
        tr(sam, "{name} is already nominated.", name="\u2068Lee Stone\u2069"),
        asked(sam, "Type part of their name.")]

    # Sam nominates Aigerim (kk), who declines; Sam is told.
    await step(harness, sam, "/nominate", send=True)
    await step(harness, sam, tr(sam, "Another member"))
    await step(harness, sam, "әйгер", send=True)
    await step(harness, sam, tr(sam, "Yes", "mahfil"))
    await step(harness, aigerim, tr(aigerim, "Decline", "committee"))
    assert tr(sam, "{name} declined your nomination.", name="\u2068Әйгерім\u2069") in sam.texts()

    # Noa and Sam stand for the activists.
    for person in (noa, sam):
        await step(harness, person, "/nominate", send=True)
        await step(harness, person, tr(person, "Myself"))
        await accept(harness, person, "activist", "Statement of " + person.name)

    # The coordinator sees candidates per group, then opens voting.
    await step(harness, cora, "/election", send=True)
    card = cora.texts()[-1]
    assert "Vulnerable groups: 1 / 1" in card and "Business: 1 / 1" in card, card
    assert "Activists and leaders: 2 / 0" in card
    await step(harness, cora, tr(cora, "Close nominations and open voting"))
    for person in (maryam, noa, aigerim, sam, lee):
        assert tr(person, "Vote") in person.buttons(), person.texts()[-2:]

    async def vote(person: Person, names: list[str]) -> None:
        await step(harness, person, tr(person, "Vote"))
        for name in names:
            await step(harness, person, lambda text, n=name: text.endswith(n)
                       and text[0] in "☐☑")
        await step(harness, person, lambda text: text.startswith(
            tr(person, "Review and cast ({chosen}/{n})", chosen=len(names), n=3)[:6]))
        for name in names:
            assert name in person.texts()[-1]
        await step(harness, person, tr(person, "Cast my vote"))
        assert person.last_answer == tr(person, "Your vote is cast.")

    await vote(maryam, ["נועה", "مریم"])
    await vote(noa, ["נועה"])
    await vote(aigerim, ["Sam Baker"])
    await vote(sam, ["Sam Baker", "נועה"])
    return eid, cora, r


async def test_election_end_to_end(harness: Harness) -> None:
    eid, cora, r = await nominate_and_vote(harness)
    maryam, noa, aigerim, sam, lee = (r[k] for k in ("maryam", "noa", "aigerim", "sam", "lee"))

    # One ballot each: a second try is refused and counts nothing.
    await step(harness, maryam, "/ballot", send=True)
    assert tr(maryam, "You have already voted in this election. Each member votes once.") \
        in maryam.texts()[-1]
    # The secret ballot: who voted and what was chosen are never in one row.
    assert await harness.db.fetchval("SELECT COUNT(*) FROM ballot_drafts") == 0
    columns = {r["name"] for r in await harness.db.fetchall(
        "SELECT name FROM pragma_table_info('election_tally')")}
    assert columns == {"nomination_id", "votes"}
    columns = {r["name"] for r in await harness.db.fetchall(
        "SELECT name FROM pragma_table_info('election_voters')")}
    assert columns == {"election_id", "user_id"}
    assert await store.voters(harness.db, eid) == {maryam.id, noa.id, aigerim.id, sam.id}
    assert sum((await store.tally(harness.db, eid)).values()) == 6

    # Counting: quotas for vulnerable (Maryam, 1 vote) and business (Lee, 0 votes), then
    # the best-voted remaining candidate (Noa, 3) before Sam (2).
    await step(harness, cora, "/election", send=True)
    assert "4 of 6 members have voted." in cora.texts()[-1]
    await step(harness, cora, tr(cora, "Close voting and count"))
    await step(harness, cora, tr(cora, "Yes, close voting"))  # asked first
    await step(harness, cora, tr(cora, "Count now"))  # rather than after the window
    # Deleted drafts are overwritten in the file, not left in free pages.
    assert await harness.db.fetchval("PRAGMA secure_delete") == 1
    result = cora.texts()[-1]
    assert "✅ \u2068مریم\u2069 (Vulnerable groups): 1 vote — seat for Vulnerable groups" in result
    assert "✅ \u2068Lee Stone\u2069 (Business): 0 votes — seat for Business" in result
    assert "✅ \u2068נועה\u2069 (Activists and leaders): 3 votes — seat by votes" in result
    assert "• \u2068Sam Baker\u2069 (Activists and leaders): 2 votes" in result
    fa = maryam.texts()[-1]
    assert tr(maryam, "Election results: <b>{name}</b>", name="\u2068Green committee\u2069") \
        .replace("<b>", "").replace("</b>", "") in fa
    assert tr(maryam, "You were elected. Welcome to the committee! /committee") in fa
    assert "✅ " + tr(noa, "{name} ({group}): {votes}", name="\u2068נועה\u2069",
                     group=tr(noa, GROUP_LABELS["activist"]),
                     votes=ntr(noa, "{n} vote", "{n} votes", 3)) \
        + " — " + tr(noa, "seat by votes") in noa.texts()[-1]
    assert tr(aigerim, "seat by votes") in aigerim.texts()[-1]

    community = await community_of(harness, maryam)
    roles = {u.id: m.role for m, u in await community_store.members(harness.db, community)}
    assert roles[maryam.id] == roles[noa.id] == roles[lee.id] == "committee"
    assert roles[sam.id] == roles[aigerim.id] == "resident" and roles[cora.id] == "coordinator"
    # Closing again (a late job, a double tap) changes nothing.
    assert await press(harness, cora, Count(eid).pack()) == tr(
        cora, "Voting in this election is not open.")
    assert await harness.db.fetchval("SELECT COUNT(*) FROM committees") == 1

    # The committee: co-opt Aigerim, remove Lee with a reason, add a working group.
    await step(harness, cora, "/committee", send=True)
    assert "seat for Business" in cora.texts()[-1]
    await step(harness, cora, tr(cora, "Co-opt a member"))
    await step(harness, cora, "Әйгерім", send=True)
    assert cora.texts()[-1] == "Is this the person: \u2068Әйгерім\u2069 (Activists and leaders)?"
    await step(harness, cora, "Yes")
    assert cora.texts()[-1] == "\u2068Әйгерім\u2069 is now a member of \u2068Green committee\u2069."
    assert tr(aigerim, "You are now a member of {name}. /committee",
              name="\u2068Green committee\u2069") in aigerim.texts()[-1]
    await step(harness, cora, tr(cora, "Remove a member"))
    await step(harness, cora, "Lee Stone")
    await step(harness, cora, "   ", send=True)
    assert cora.texts()[-2:] == [tr(cora, "Please write the reason."),
                                 asked(cora, "Why? The member will be told the reason.")]
    await step(harness, cora, "Moved to another city", send=True)
    assert "Moved to another city" in lee.texts()[-1]
    roles = {u.id: m.role for m, u in await community_store.members(harness.db, community)}
    assert roles[lee.id] == "resident" and roles[aigerim.id] == "committee"
    await step(harness, maryam, "/committee", send=True)
    card = maryam.texts()[-1]
    assert "Әйгерім" in card and "Lee Stone" not in card
    assert maryam.buttons() == []  # residents see the committee, not the controls

    await step(harness, cora, "/committee", send=True)
    await step(harness, cora, tr(cora, "New working group"))
    await step(harness, cora, "Playground team", send=True)
    assert "Playground team" in cora.texts()[-1]
    await step(harness, cora, tr(cora, "Add a member"))
    await step(harness, cora, "Sam", send=True)
    await step(harness, cora, "Yes")
    group = await harness.db.fetchone("SELECT id FROM committees WHERE name = 'Playground team'")
    assert group is not None
    members = await store.committee_members(harness.db, group["id"])
    assert [(m.how, u.id) for m, u in members] == [("added", sam.id)]

    # Linking the working group's Telegram group with a one-time code.
    await step(harness, cora, "/committee", send=True)  # the working group's card comes last
    assert "Playground team" in cora.texts()[-1]
    await step(harness, cora, tr(cora, "Link a group chat"))
    code = cora.texts()[-1].split("/link ")[1].split("<")[0].strip()
    chat = harness.emu.group(-1001, "Playground", [cora, sam])
    await cora.send(f"/link {code}", chat=chat)
    await harness.settle()
    assert "Playground team" in chat.messages[-1]["text"]
    assert await harness.db.fetchval(
        "SELECT chat_id FROM committees WHERE name = 'Playground team'") == -1001
    await cora.send(f"/link {code}", chat=chat)  # the code works once
    await harness.settle()
    assert "already used" in chat.messages[-1]["text"]
    await step(harness, cora, f"/link {code}", send=True)  # in the private chat
    assert cora.texts()[-1] == tr(cora, "Send this command in the group chat you want to link.")
    # The linked chat hears about its members.
    await step(harness, cora, "/committee", send=True)
    await step(harness, cora, tr(cora, "Add a member"))
    await step(harness, cora, "مریم", send=True)
    await step(harness, cora, "Yes")
    assert chat.messages[-1]["text"] == (
        "\u2068مریم\u2069 is now a member of \u2068Playground team\u2069.")


async def test_bad_input_and_forged_buttons_change_nothing(harness: Harness) -> None:
    invitation, cora, r = await people(harness)
    eid = await set_up_election(harness, cora)
    maryam, noa, sam = r["maryam"], r["noa"], r["sam"]
    outsider = harness.person("en", name="Outsider")

    # A statement that is too long is refused with a hint; the question stays open, also
    # across a restart.
    await step(harness, maryam, "/nominate", send=True)
    await step(harness, maryam, tr(maryam, "Myself"))
    await step(harness, maryam, tr(maryam, "Accept", "committee"))
    await step(harness, maryam, lambda text: text.startswith("✓ "))
    await step(harness, maryam, "ب" * 600, send=True)
    assert maryam.texts()[-2] == tr(maryam, "Please keep it under {n} characters.", n=500)
    await harness.restart()
    await step(harness, maryam, "بیانیهٔ کوتاه", send=True)
    nomination = (await store.nominations(harness.db, eid))[0][0]
    assert nomination.status == "accepted" and nomination.statement == "بیانیهٔ کوتاه"

    # Someone else's nomination cannot be answered; unknown members cannot be nominated.
    assert await press(harness, noa, Accept(nomination.id).pack()) == tr(
        noa, "This nomination is not yours to answer.")
    # A member found by a forged choice under the name question is checked too.
    await step(harness, noa, "/nominate", send=True)
    await step(harness, noa, tr(noa, "Another member"))
    form = harness.app.user_data[noa.id]["form"]
    answer = await press(harness, noa, Pick(form["nonce"], form["step"], str(outsider.id)).pack())
    assert answer == tr(noa, "That person is not a member of this community.")
    # A button under an older question never answers a newer one.
    await step(harness, noa, "a", send=True)  # Cora and Sam Baker
    assert noa.texts()[-1] == tr(noa, "Several members match. Which one?")
    several = noa.messages[-1]
    assert noa.buttons(several) == [  # with their groups, and a way out
        f"Cora ({tr(noa, 'NGOs')})", f"Sam Baker ({tr(noa, 'Activists and leaders')})",
        tr(noa, "Someone else")]
    await step(harness, noa, tr(noa, "Another member"))  # a new form, a new question
    await noa.tap(lambda label: label.startswith("Sam Baker"), several)
    await harness.settle()
    assert noa.last_answer == tr(noa, "This button no longer works.")
    assert [n.nominee_id for n, _u in await store.nominations(harness.db, eid)] == [maryam.id]
    await step(harness, noa, "Sam", send=True)  # the new question still waits for its answer
    await step(harness, noa, tr(noa, "Yes"))
    assert noa.texts()[-1] == tr(noa, "You nominated {name}. They will be asked to accept.",
                                 name="\u2068Sam Baker\u2069")
    # Residents cannot run the election; an outsider cannot even nominate.
    assert await press(harness, noa, OpenVoting(eid).pack()) == tr(
        noa, "Only coordinators of this community can do that.")
    await step(harness, outsider, "/start", send=True)
    assert await press(harness, outsider, NominateSelf(eid).pack()) == tr(
        outsider, "Join a community first: open the invitation link your coordinator shared.")
    # Forged data: old-style strings, and new kinds with parts missing, extra or out of range.
    for data in (f"cm:b:{eid}:x:0", "cm:cast:", f"cm:s:{eid}:seats:7", "cm:b:999:1:0",
                 "committee:cast", f"committee:cast:{eid}:1", "committee:cast:-1",
                 "committee:cast:99999999999999999999", f"committee:setting:{eid}:seats:7",
                 f"committee:choose:{eid}:x:0", "committee:accept:0"):
        assert await press(harness, noa, data) == tr(noa, "This button no longer works."), data
    # Voting is not open yet.
    assert await press(harness, noa, Cast(eid).pack()) == tr(
        noa, "Voting in this election is not open.")

    await step(harness, cora, "/election", send=True)
    await step(harness, cora, tr(cora, "Close nominations and open voting"))
    # A candidate from another election (another community) cannot be chosen.
    other = await harness.new_community("Elsewhere")
    other_coordinator = await harness.coordinator(other, "en")
    await step(harness, other_coordinator, "/election Other", send=True)
    # Not their community's election.
    assert await press(harness, other_coordinator, OpenNominations(eid).pack()) == tr(
        other_coordinator, "This election is not available to you.")
    # Simultaneous casts by one member count once.
    await step(harness, sam, "/ballot", send=True)
    await step(harness, sam, lambda text: text.startswith("☐"))
    review = tr(sam, "Review and cast ({chosen}/{n})", chosen=0, n=0)[:6]
    await step(harness, sam, lambda text: text.startswith(review))
    review = sam.messages[-1]
    first = await sam.press(Cast(eid).pack(), review)
    second = await sam.press(Cast(eid).pack(), review)
    await harness.settle()
    assert first.answered and second.answered
    results = await asyncio.gather(*(store.cast(harness.db, eid, noa.id) for _ in range(5)),
                                   return_exceptions=True)
    assert sum(not isinstance(x, Exception) for x in results) == 1
    assert await store.voters(harness.db, eid) == {sam.id, noa.id}
    assert sum((await store.tally(harness.db, eid)).values()) == 1  # Sam's one choice

    # After closing nothing more is counted.
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, tr(cora, "Close voting and count"))
    await step(harness, cora, tr(cora, "Yes, close voting"))
    await step(harness, maryam, "/ballot", send=True)
    assert tr(maryam, "Voting in this election is not open.") in maryam.texts()[-1]
    assert await press(harness, maryam, Cast(eid).pack()) == tr(
        maryam, "Voting in this election is not open.")
    assert await store.voters(harness.db, eid) == {sam.id, noa.id}
    assert invitation.community.id != other.community.id


async def test_deadlines_run_on_their_own_also_after_a_restart(harness: Harness) -> None:
    _inv, cora, r = await people(harness)
    eid = await set_up_election(harness, cora, seats=1, minimums=())
    maryam = r["maryam"]
    await step(harness, maryam, "/nominate", send=True)
    await step(harness, maryam, tr(maryam, "Myself"))
    await accept(harness, maryam, "vulnerable", "سلام")
    past = to_db(utcnow())
    # The deadline passes while the bot is down (moved into the past, then a restart).
    await harness.db.execute("UPDATE elections SET nominations_close_at = ? WHERE id = ?",
                             (past, eid))
    await harness.restart()
    await maryam.wait_for(tr(maryam, "Your ballot is secret: nobody can see whom you chose."))
    election = await store.get_election(harness.db, eid)
    assert election is not None and election.status == "voting"
    assert tr(maryam, "Vote") in maryam.buttons()
    await harness.db.execute("UPDATE elections SET voting_close_at = ? WHERE id = ?",
                             (past, eid))
    await harness.restart()
    await maryam.wait_for(tr(maryam, "You were elected. Welcome to the committee! /committee"))
    election = await store.get_election(harness.db, eid)
    assert election is not None and election.status == "closed"
    assert tr(maryam, "You were elected. Welcome to the committee! /committee") \
        in maryam.texts()[-1]


async def test_many_candidates_in_pages_and_the_approval_limit(harness: Harness) -> None:
    _inv, cora, r = await people(harness)
    eid = await set_up_election(harness, cora, seats=2, minimums=())
    noa = r["noa"]
    # The coordinator reminds members; everyone hears again.
    before = len(noa.messages)
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, tr(cora, "Remind members to nominate"))
    assert len(noa.messages) == before + 1 and tr(noa, "Nominate") in noa.buttons()
    # Eight candidates (written straight to the database to keep the test short).
    noa_user = await community_store.get_user(harness.db, noa.id)
    assert noa_user is not None and noa_user.current_community_id is not None
    for i in range(8):
        user_id = 900 + i
        await community_store.upsert_user(harness.db, user_id, first_name=f"Candidate {i}",
                                          last_name=None, username=None, language="en")
        await community_store.join(harness.db, noa_user.current_community_id, user_id,
                                   role="resident", stakeholder_group="other")
        nomination, _created = await store.nominate(harness.db, eid, user_id, user_id)
        await store.answer_nomination(harness.db, nomination.id, accept=True, group="other",
                                      statement=f"Plan {i}")
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, tr(cora, "Close nominations and open voting"))

    await step(harness, noa, "/ballot", send=True)
    first_page = noa.texts()[-1]
    assert "Candidate 0" in first_page and "Candidate 7" not in first_page
    assert "Plan 0" in first_page  # statements are shown
    assert tr(noa, "Page {page} of {pages}", page=1, pages=2) in first_page
    await step(harness, noa, tr(noa, "Next ›"))
    assert "Candidate 7" in noa.texts()[-1] and "Candidate 0" not in noa.texts()[-1]
    await step(harness, noa, lambda text: text.endswith("Candidate 6"))
    await step(harness, noa, lambda text: text.endswith("Candidate 7"))
    await step(harness, noa, tr(noa, "‹ Back", "mahfil"))
    assert "Candidate 0" in noa.texts()[-1]
    first = (await store.nominations(harness.db, eid))[0][0].id
    assert await press(harness, noa, Choose(eid, first, 0).pack()) == tr(
        noa, "You have chosen as many candidates as allowed ({n}). Untick one first.", n=2)
    assert len(await store.draft(harness.db, eid, noa.id)) == 2
    # Noa never casts: at the count her unsent choices are forgotten with the rest.
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, tr(cora, "Close voting and count"))
    await step(harness, cora, tr(cora, "Yes, close voting"))
    assert len(await store.draft(harness.db, eid, noa.id)) == 2  # kept while it may reopen
    await step(harness, cora, tr(cora, "Count now"))
    assert await harness.db.fetchval("SELECT COUNT(*) FROM ballot_drafts") == 0
    assert await store.voters(harness.db, eid) == set()


# -- every committee button, forged -------------------------------------------------------

TABLES = ("elections", "election_quotas", "nominations", "election_voters", "election_tally",
          "ballot_drafts", "committees", "committee_members", "chat_link_codes", "memberships",
          "outbox")
BAD_IDS = ("0", "-1", "-99999999999999999999", str(2**63 - 1), str(2**63),
           "99999999999999999999", "1e3", "x", "")


async def snapshot(harness: Harness) -> dict[str, list[tuple[object, ...]]]:
    return {table: [tuple(row) for row in await harness.db.fetchall(
        f"SELECT * FROM {table} ORDER BY 1, 2")] for table in TABLES}


def forgeries(kind: type[Button], ids: dict[str, list[int]], rng: random.Random,
              count: int) -> list[str]:
    """Callback data shaped like ``kind``'s: odd values, parts dropped or added."""
    hints = get_type_hints(kind, include_extras=True)
    choices: list[list[str]] = []
    for field in dataclasses.fields(kind):
        hint = hints[field.name]
        if get_origin(hint) is Literal:
            values = [str(a) for a in get_args(hint)] + ["sideways"]
        elif get_args(hint) and get_args(hint)[0] is str:
            values = ["seats", "activist", "x" * 40, "a b", ""]
        elif field.name == "page":
            values = ["0", "1", "100001", "-1"]
        else:
            values = [str(i) for i in ids.get(field.name, [])] + list(BAD_IDS)
        choices.append(values)
    found = {kind.prefix, kind.prefix + ":", kind.prefix + ":" + ":".join("1" * 70)}
    for _attempt in range(count * 20):  # a kind with few fields has few forgeries
        if len(found) >= count:
            break
        parts = [rng.choice(values) for values in choices]
        mutation = rng.random()
        if mutation < 0.2 and parts:
            parts.pop(rng.randrange(len(parts)))
        elif mutation < 0.4:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(BAD_IDS[:6]))
        found.add(":".join([kind.prefix, *parts]))
    return sorted(found)


async def test_forged_committee_buttons_are_answered_and_change_nothing(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Every committee button kind, with data that is malformed, out of range, about a
    closed election, or about another community's objects: each tap is answered, nothing
    raises, and the database stays as it was."""
    _inv, cora, r = await people(harness)
    eid = await set_up_election(harness, cora, seats=1, minimums=())
    maryam = r["maryam"]
    await step(harness, maryam, "/nominate", send=True)
    await step(harness, maryam, tr(maryam, "Myself"))
    await accept(harness, maryam, "vulnerable", "سلام")
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, tr(cora, "Close nominations and open voting"))
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, tr(cora, "Close voting and count"))  # the election is closed
    await step(harness, cora, tr(cora, "Yes, close voting"))
    await step(harness, cora, tr(cora, "Count now"))
    await step(harness, cora, "/committee", send=True)
    nomination = (await store.nominations(harness.db, eid))[0][0].id
    committee = int(await harness.db.fetchval("SELECT MAX(id) FROM committees"))
    other = await harness.new_community("Elsewhere")
    stranger = await harness.coordinator(other, "kk")  # coordinates another community
    await step(harness, stranger, "/help", send=True)
    ids = {"election": [eid], "nomination": [nomination], "committee": [committee],
           "person": [maryam.id, stranger.id]}
    kinds = [kind for prefix, kind in sorted(KINDS.items()) if prefix.startswith("committee:")]
    assert len(kinds) == 26
    await harness.settle()
    before = await snapshot(harness)
    rng = random.Random(15)
    caplog.set_level(logging.ERROR)
    queries = []
    for kind in kinds:
        # The stranger presses this community's real ids; its own coordinator and a
        # resident press ids that exist nowhere (so nothing they press may really act).
        for presser, known in ((stranger, ids), (cora, {}), (maryam, {})):
            for data in forgeries(kind, known, rng, 10):
                queries.append((data, await presser.press(data)))
        await harness.settle()
    # The closed election, by its own coordinator and by a resident who was elected.
    for kind in (Setting, Discard, OpenNominations, Remind, OpenVoting, Count, StopVoting,
                 KeepVoting, ReopenVoting, CountNow, Nominate, NominateSelf, NominateOther,
                 Vote, BallotPage, Review, Cast):
        for presser in (cora, maryam):
            data = forgeries(kind, {"election": [eid], "nomination": [nomination]}, rng, 4)
            for one in data:
                queries.append((one, await presser.press(one)))
        await harness.settle()  # (a person's updates beyond 20 waiting are dropped unread)
    for presser in (cora, maryam):
        for data in (Accept(nomination).pack(), Decline(nomination).pack(),
                     Choose(eid, nomination, 0).pack()):
            queries.append((data, await presser.press(data)))
    await harness.settle()
    unanswered = [data for data, query in queries if query.answered is None]
    assert unanswered == []
    assert [record.getMessage() for record in caplog.records] == []
    assert await snapshot(harness) == before


async def test_equal_votes_go_to_who_accepted_first_even_within_a_second(
        harness: Harness) -> None:
    """The tie rule is the order of acceptance, stored exactly: Lee was nominated first,
    Maryam accepted first — in the same second — so Maryam ranks higher."""
    _inv, cora, r = await people(harness)
    maryam, lee, sam = r["maryam"], r["lee"], r["sam"]
    eid = await set_up_election(harness, cora, seats=1, minimums=())
    await step(harness, sam, "/nominate", send=True)
    await step(harness, sam, tr(sam, "Another member"))
    await step(harness, sam, "Lee", send=True)
    await step(harness, sam, tr(sam, "Yes"))
    await step(harness, maryam, "/nominate", send=True)
    await step(harness, maryam, tr(maryam, "Myself"))
    await accept(harness, maryam, "vulnerable", "سلام")
    await accept(harness, lee, "business", "Hello")
    found = {u.id: n for n, u in await store.nominations(harness.db, eid)}
    assert found[lee.id].id < found[maryam.id].id  # Lee's nomination came first
    assert (found[maryam.id].accepted_seq, found[lee.id].accepted_seq) == (1, 2)
    same_second = to_db(utcnow())
    await harness.db.execute("UPDATE nominations SET accepted_at = ? WHERE election_id = ?",
                             (same_second, eid))
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, tr(cora, "Close nominations and open voting"))
    for voter, nominee in ((sam, lee), (r["noa"], maryam)):
        await store.toggle_draft(harness.db, eid, voter.id, found[nominee.id].id, 1)
        await store.cast(harness.db, eid, voter.id)
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, tr(cora, "Close voting and count"))
    await step(harness, cora, tr(cora, "Yes, close voting"))
    await step(harness, cora, tr(cora, "Count now"))
    election = await store.get_election(harness.db, eid)
    assert election is not None and election.result is not None
    assert [s["nomination"] for s in election.result["seats"]] == [found[maryam.id].id]
    assert election.result["ties"] == [{"votes": 1, "won": [found[maryam.id].id],
                                        "lost": [found[lee.id].id]}]
    await maryam.wait_for(tr(maryam, "You were elected. Welcome to the committee! /committee"))
