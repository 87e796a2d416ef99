"""Closing by hand is confirmed first and may be undone for a while: surveys, votes and
committee elections.

A coordinator's "Close" asks before it acts. Once closed, members hear of it only after the
window to reopen (``schedule.REOPEN_WINDOW``) has passed — their notices wait in the
outbox — so reopening within it loses nothing: nobody was told, answers and ballots are as
they were. "Tell members now" gives the window up. Time passing is simulated by moving the
stored moments into the past (tests never wait on the clock).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.emulator import Person
from bot.flows import committee as committee_flow
from bot.flows import schedule
from bot.flows import survey as survey_flow
from bot.flows import voting as voting_flow
from bot.handlers.committee import CountNow, ReopenVoting
from bot.handlers.survey import CloseNow, KeepOpen, Reopen, TellNow
from bot.handlers.voting import Reopen as VoteReopen
from bot.i18n import Translator
from storage import committee as committee_store
from storage import survey as survey_store
from storage import voting as voting_store
from storage.db import to_db, utcnow
from tests.harness import Harness, press, step, tr
from tests.test_committee import accept, people, set_up_election
from tests.test_cycle import states
from tests.test_voting import ballot, community_with_people, open_vote, problem_button

SURVEY: dict[str, Any] = {
    "title": "Street lights",
    "questions": [
        {"type": "yesno", "text": "Is your street lit at night?"},
        {"type": "scale", "text": "How safe do you feel?"},
    ],
}


async def _queued(harness: Harness, prefix: str) -> list[tuple[int, str, str]]:
    """The outbox rows of one notice: (recipient, state, due)."""
    rows = await harness.db.fetchall(
        "SELECT user_id, state, due_at FROM outbox WHERE dedupe LIKE ? ORDER BY user_id",
        (prefix + "%",))
    return [(r["user_id"], r["state"], r["due_at"]) for r in rows]


async def _window_passes(harness: Harness, table: str, row_id: int) -> None:
    """Ten minutes later, as far as the bot can tell: the window and the notices are due."""
    past = to_db(utcnow() - timedelta(seconds=1))
    await harness.db.execute(f"UPDATE {table} SET reopen_until = ? WHERE id = ?",
                             (past, row_id))
    await harness.db.execute("UPDATE outbox SET due_at = ? WHERE state = 'pending'", (past,))
    harness.app.bot_data.courier.wake()
    await harness.settle()


async def _publish(harness: Harness, cora: Person) -> survey_store.Survey:
    await cora.send_document("s.json", json.dumps(SURVEY).encode())
    await harness.settle()
    await step(harness, cora, "Publish")
    community = int(await harness.db.fetchval(
        "SELECT current_community_id FROM users WHERE id = ?", (cora.id,)))
    return (await survey_store.of_community(harness.db, community))[0]


def _closed_notice(person: Person, responses: int) -> str:
    t = Translator(person.language_code or "en")
    return (t.ngettext("The survey <b>{title}</b> has closed with {n} response.",
                       "The survey <b>{title}</b> has closed with {n} responses.", responses,
                       title="\u2068Street lights\u2069").replace("<b>", "").replace("</b>", "")
            + "\n" + t._("Thank you to everyone who took part."))


async def _survey_card(harness: Harness, cora: Person) -> None:
    await step(harness, cora, "/surveyresults", send=True)
    await step(harness, cora, lambda label: label.startswith("Street lights"))


async def test_closing_a_survey_is_confirmed_and_can_be_undone(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    rita = await harness.resident(invitation, "fa", name="Rita")
    survey = await _publish(harness, cora)
    await step(harness, rita, tr(rita, "Answer the survey"))
    await step(harness, rita, tr(rita, "Yes"))  # question 1 answered; question 2 waits

    # "Close the survey" asks first; "No" changes nothing.
    await _survey_card(harness, cora)
    await step(harness, cora, "Close the survey")
    assert cora.texts()[-1] == (
        "Close the survey <b>Street lights</b> now? Residents can no longer answer it."
        " Members are told 10 minutes later; until then you can reopen it.").replace(
        "<b>Street lights</b>", "\u2068Street lights\u2069")
    await step(harness, cora, "No, leave it")
    assert cora.texts()[-1] == "Nothing changed."
    assert (await survey_store.get(harness.db, survey.id)).status == "open"

    # Closed: nobody is told yet; the notices wait in the outbox for the window.
    await step(harness, cora, "Close the survey")
    rita_saw = len(rita.texts())
    await step(harness, cora, "Yes, close it")
    closed = await survey_store.get(harness.db, survey.id)
    assert closed.status == "closed" and closed.reopen_until is not None
    queued = await _queued(harness, survey_flow.closed_key(survey.id) + ":")
    assert {(user, state) for user, state, _due in queued} == {(cora.id, "pending"),
                                                              (rita.id, "pending")}
    assert all(due >= to_db(closed.reopen_until) for _u, _s, due in queued)
    assert cora.texts()[-1].startswith("The survey is closed. Members are told at ")
    assert len(rita.texts()) == rita_saw
    assert await press(harness, rita, f"survey:choose:{survey.id}:"
                       f"{survey.questions[1].id}:4") == tr(rita, survey_flow.CLOSED)

    # Reopened within the window: the notices are gone, Rita goes on where she stopped.
    await step(harness, cora, "Reopen the survey")
    assert cora.texts()[-1] == "The survey is open again; members were told nothing."
    assert await _queued(harness, survey_flow.closed_key(survey.id) + ":") == []
    assert (await survey_store.get(harness.db, survey.id)).status == "open"
    await step(harness, rita, "/surveys", send=True)
    await step(harness, rita, lambda label: "Street lights" in label)
    assert "How safe do you feel?" in rita.texts()[-1]
    assert len(rita.texts()) == rita_saw + 2  # the list and her question: nothing else

    # Closed again, and this time the coordinator tells members at once.
    await _survey_card(harness, cora)
    await step(harness, cora, "Close the survey")
    await step(harness, cora, "Yes, close it")
    await step(harness, cora, "Tell members now")
    assert "The survey is closed; members are being told." in cora.texts()  # edited in place
    await harness.emu.until(lambda: _closed_notice(rita, 0) in rita.texts())
    assert await press(harness, cora, Reopen(survey.id).pack()) == tr(
        cora, survey_flow.NOT_REOPENABLE, n=10)
    assert (await survey_store.get(harness.db, survey.id)).status == "closed"


async def test_a_survey_stays_closed_once_members_were_told_or_the_window_passed(
        harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    rita = await harness.resident(invitation, "he", name="Rita")
    first = await _publish(harness, cora)
    await press(harness, cora, CloseNow(first.id).pack())
    # One notice went out already (say, a row sent just now): the closing stays.
    await harness.db.execute(
        "UPDATE outbox SET state = 'sent' WHERE dedupe LIKE ? AND user_id = ?",
        (survey_flow.closed_key(first.id) + ":%", rita.id))
    assert await press(harness, cora, Reopen(first.id).pack()) == tr(
        cora, survey_flow.ALREADY_TOLD)
    assert (await survey_store.get(harness.db, first.id)).status == "closed"

    # The window passed: members are told by themselves, and it can no longer be reopened.
    second = await _publish(harness, cora)
    await press(harness, cora, CloseNow(second.id).pack())
    told = len(rita.texts())
    await _window_passes(harness, "surveys", second.id)
    await harness.emu.until(lambda: len(rita.texts()) > told)
    assert rita.texts()[-1] == _closed_notice(rita, 0)
    assert await press(harness, cora, Reopen(second.id).pack()) == tr(
        cora, survey_flow.NOT_REOPENABLE, n=schedule.window_minutes())
    # Its buttons stay a coordinator's, of this community.
    for data in (CloseNow(second.id), KeepOpen(second.id), Reopen(second.id),
                 TellNow(second.id)):
        assert await press(harness, rita, data.pack()) == tr(
            rita, "Only coordinators of this community can do that.")


# -- votes ---------------------------------------------------------------------------------


async def test_closing_a_vote_is_confirmed_and_can_be_undone(harness: Harness) -> None:
    invitation, cora, residents = await community_with_people(harness)
    fa = residents[0]
    pid = await open_vote(harness, cora)
    cid = invitation.community.id
    await ballot(harness, fa)
    for position in (1, 2):
        await step(harness, fa, problem_button(fa, position))

    await step(harness, cora, "/closevote", send=True)
    await step(harness, cora, "Our street")
    assert cora.texts()[-1] == (
        "Close the vote \u2068Our street\u2069 now? Residents can no longer change their votes."
        " Members receive the result 10 minutes later; until then you can reopen it.")
    await step(harness, cora, "No, leave it open")
    assert cora.texts()[-1] == "Nothing changed: the vote stays open."
    assert (await voting_store.get(harness.db, pid)).is_open

    await step(harness, cora, "/closevote", send=True)
    await step(harness, cora, "Our street")
    fa_saw = len(fa.texts())
    await step(harness, cora, "Yes, close it")
    closed = await voting_store.get(harness.db, pid)
    assert not closed.is_open and closed.reopen_until is not None
    result_key, _chart_key = voting_flow.result_keys(pid)
    queued = await _queued(harness, result_key + ":")
    assert {user for user, _s, _d in queued} == {fa.id, cora.id}  # voters and coordinators
    assert all(state == "pending" and due >= to_db(closed.reopen_until)
               for _u, state, due in queued)
    assert cora.texts()[-1].startswith("The vote \u2068Our street\u2069 is closed. Members"
                                       " receive the result at ")
    assert len(fa.texts()) == fa_saw
    await fa.tap(problem_button(fa, 3))
    await harness.settle()
    assert fa.last_answer == tr(fa, "This vote has closed; changes are no longer possible.")
    # The participation cycle hears of it only once the closing is final.
    assert (await states(harness, cid))["needs"] == "under_way"
    assert await harness.db.fetchval("SELECT COUNT(*) FROM process_offers") == 0

    # Reopened: nothing was sent, and Fa places her third sticker where she left off.
    await step(harness, cora, "Reopen the vote")
    assert cora.texts()[-1] == ("The vote \u2068Our street\u2069 is open again; members were"
                                " told nothing.")
    assert await _queued(harness, result_key + ":") == []
    await fa.tap(problem_button(fa, 3))
    await harness.settle()
    assert "●●●" in fa.last["text"]

    # Closed again; the window passes and the result reaches Fa by itself.
    await step(harness, cora, "/closevote", send=True)
    await step(harness, cora, "Our street")
    await step(harness, cora, "Yes, close it")
    await _window_passes(harness, "prioritisations", pid)
    await fa.wait_for(lambda m: tr(fa, "The vote has closed.") in (m.get("text") or ""))
    assert await harness.db.fetchval("SELECT COUNT(*) FROM process_offers") == 0
    await harness.restart()  # the window's end passed while the bot was down: final at start
    await harness.settle()
    # Fa's three stickers tie three problems: the cycle asks the coordinators to choose.
    assert [r["kind"] for r in await harness.db.fetchall(
        "SELECT kind FROM process_offers")] == ["tie"]
    assert (await states(harness, cid))["needs"] == "under_way"
    assert (await voting_store.get(harness.db, pid)).reopen_until is None
    assert await press(harness, cora, VoteReopen(pid).pack()) == tr(
        cora, voting_flow.NOT_REOPENABLE, n=10)
    assert await press(harness, fa, VoteReopen(pid).pack()) == tr(
        fa, "Only coordinators of this community can do that.")


# -- elections -----------------------------------------------------------------------------


async def test_closing_voting_is_confirmed_and_reopened_before_anything_is_counted(
        harness: Harness) -> None:
    _inv, cora, r = await people(harness)
    maryam, noa = r["maryam"], r["noa"]
    eid = await set_up_election(harness, cora, seats=1, minimums=())
    for person, group in ((maryam, "vulnerable"), (noa, "activist")):
        await step(harness, person, "/nominate", send=True)
        await step(harness, person, tr(person, "Myself"))
        await accept(harness, person, group, "Hello")
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, "Close nominations and open voting")
    nominations = {n.nominee_id: n.id for n, _u in await committee_store.nominations(
        harness.db, eid)}
    await committee_store.toggle_draft(harness.db, eid, maryam.id, nominations[maryam.id], 1)
    await committee_store.cast(harness.db, eid, maryam.id)
    await committee_store.toggle_draft(harness.db, eid, noa.id, nominations[noa.id], 1)

    await step(harness, cora, "/election", send=True)
    await step(harness, cora, "Close voting and count")
    assert cora.texts()[-1] == (
        "Close voting for \u2068Green committee\u2069 and count? Members can no longer vote."
        " The votes are counted 10 minutes later and members hear the result then; until"
        " then you can reopen voting.")
    await step(harness, cora, "No, leave it open")
    assert cora.texts()[-1] == "Nothing changed: voting stays open."
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, "Close voting and count")
    maryam_saw = len(maryam.texts())
    await step(harness, cora, "Yes, close voting")
    stopped = await committee_store.get_election(harness.db, eid)
    assert (stopped.status, stopped.result) == ("closed", None)
    # Nothing counted, nobody told, and Noa's unsent ballot is kept; she cannot cast it now.
    assert await harness.db.fetchval("SELECT COUNT(*) FROM committees") == 0
    assert await committee_store.draft(harness.db, eid, noa.id) == {nominations[noa.id]}
    assert len(maryam.texts()) == maryam_saw
    await step(harness, noa, "/ballot", send=True)
    assert noa.texts()[-1] == tr(noa, "Voting in this election is not open.")
    # The count waits for the window, also across a restart; the card says when.
    await harness.restart()
    assert harness.app.job_queue.get_jobs_by_name(f"election-{eid}-count")
    await step(harness, cora, "/election", send=True)
    assert "Voting has closed; the votes are counted at " in cora.texts()[-1]

    await step(harness, cora, "Reopen voting")
    assert cora.texts()[-1].startswith("Voting is open again until ")
    assert (await committee_store.get_election(harness.db, eid)).status == "voting"
    assert not harness.app.job_queue.get_jobs_by_name(f"election-{eid}-count")
    await committee_store.cast(harness.db, eid, noa.id)  # her ballot, as she left it
    assert await committee_store.voters(harness.db, eid) == {maryam.id, noa.id}

    # Closed again; the window passes while the bot is down: counted at start, told.
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, "Close voting and count")
    await step(harness, cora, "Yes, close voting")
    await harness.db.execute("UPDATE elections SET reopen_until = ? WHERE id = ?",
                             (to_db(utcnow() - timedelta(seconds=1)), eid))
    await harness.restart()
    # One vote each: the tie goes to Maryam, who accepted her nomination first.
    await maryam.wait_for(lambda m: tr(maryam, "You were elected. Welcome to the committee!"
                                               " /committee") in (m.get("text") or ""))
    counted = await committee_store.get_election(harness.db, eid)
    assert counted.result is not None and counted.reopen_until is None
    assert await harness.db.fetchval("SELECT COUNT(*) FROM ballot_drafts") == 0
    assert await press(harness, cora, ReopenVoting(eid).pack()) == tr(
        cora, committee_flow.NOT_REOPENABLE, n=10)
    assert await press(harness, cora, CountNow(eid).pack()) == tr(
        cora, committee_flow.ALREADY_COUNTED)
    assert await harness.db.fetchval("SELECT COUNT(*) FROM committees") == 1


async def test_cancelling_a_scheduled_survey_can_be_undone(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "kk", name="Cora")
    opens = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%d 09:00")
    await cora.send_document("s.json", json.dumps({**SURVEY, "opens": opens}).encode())
    await harness.settle()
    await step(harness, cora, tr(cora, "Publish"))
    (survey,) = await survey_store.of_community(harness.db, invitation.community.id)
    assert survey.status == "scheduled"
    await _survey_card(harness, cora)
    await step(harness, cora, tr(cora, "Cancel the survey"))
    await step(harness, cora, tr(cora, "Yes, cancel it"))
    assert (await survey_store.get(harness.db, survey.id)).status == "closed"
    assert not harness.app.job_queue.get_jobs_by_name(f"survey-open:{survey.id}")
    assert await _queued(harness, survey_flow.closed_key(survey.id) + ":") == []  # no notice
    await step(harness, cora, tr(cora, "Undo"))
    assert (await survey_store.get(harness.db, survey.id)).status == "scheduled"
    (job,) = harness.app.job_queue.get_jobs_by_name(f"survey-open:{survey.id}")
    assert job.next_t == survey.opens_at


async def test_a_city_takes_a_vote_closed_by_hand_once_it_is_final(harness: Harness) -> None:
    """What goes up to a district (the newest closed vote) is never one still reopenable."""
    from storage import city as city_store

    invitation = await harness.new_community()
    cid = invitation.community.id
    vote = await voting_store.create(harness.db, cid, title="Lights", method="stickers",
                                     problems=["Lamps", "Bins"])
    assert await voting_store.close(harness.db, vote.id,
                                    reopen_until=utcnow() + timedelta(minutes=10))
    assert await city_store.newest_closed_votes(harness.db, [cid]) == {}
    assert await voting_store.keep_closed(harness.db, vote.id)
    assert await city_store.newest_closed_votes(harness.db, [cid]) == {cid: vote.id}
