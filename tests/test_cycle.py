"""The participation cycle end to end: one neighbourhood through seed 001's seven steps with
residents in Persian, Kazakh, Hebrew and English — each step moved by what happened (one by
hand, then undone), /process showing the step and each resident's own open items, a late
joiner shown the summary once, the coordinator's next-step buttons (the plan for the vote's
winner, the vote on a brainstorm's shortlist, a tie decided, the next cycle), restarts in
the middle, and forged or stale buttons refused with nothing changed."""

from __future__ import annotations

import json
import re

from bot.emulator import Person
from bot.flows import dashboard
from bot.flows import process as flow
from bot.handlers import process as handlers
from bot.handlers.brainstorm import Shortlist
from bot.handlers.process import MarkStep, NextCycle, PickProblem, StartPlan, Undo, UseStep
from bot.handlers.survey import Choose
from bot.i18n import Translator
from storage import brainstorm as brainstorm_store
from storage import committee as committee_store
from storage import plan as plan_store
from storage import process as store
from storage import survey as survey_store
from storage import voting as voting_store
from storage.db import Database
from tests.harness import Harness, Invitation, press, step, tr
from tests.test_committee import accept, set_up_election
from tests.test_voting import ballot, open_vote, problem_button

SURVEY = json.dumps({
    "title": {"en": "Our needs", "fa": "نیازهای ما", "kk": "Біздің қажеттіліктер",
              "he": "הצרכים שלנו"},
    "questions": [{"type": "yesno", "text": {"en": "Is the street safe at night?",
                                             "fa": "آیا خیابان شب‌ها امن است؟",
                                             "kk": "Түнде көше қауіпсіз бе?",
                                             "he": "האם הרחוב בטוח בלילה?"}}],
}).encode()


def _plain(text: str) -> str:
    """Text as a reader sees it: no isolates around names, no HTML tags."""
    return re.sub(r"</?b>", "", text.replace("\u2068", "").replace("\u2069", ""))


def ntr(person: Person, one: str, many: str, n: int, **values: object) -> str:
    return Translator(person.language_code or "en").ngettext(one, many, n, **values)


def step_label(person: Person, key: str) -> str:
    return tr(person, flow.STEP_LABELS[key])


def now_line(person: Person, number: int, key: str, status: str, total: int = 7) -> str:
    """The summary's second line: the step the community is in."""
    return tr(person, "Now: step {number} of {total}, {step} ({status}).", number=number,
              total=total, step=step_label(person, key),
              status=tr(person, handlers.STATUS_LABELS[status]))


async def next_step(person: Person, after: int = 0) -> dict[str, object]:
    """The newest "Next step" offer ``person`` has received (after message ``after``)."""
    heading = _plain(tr(person, "<b>Next step</b>"))
    return await person.wait_for(lambda m: (m.get("text") or "").startswith(heading),
                                 after=after)


def now_reads(person: Person, message: dict[str, object]) -> str:
    """A message as it reads now (edited in place, perhaps)."""
    found = next(m for m in person.messages if m["message_id"] == message["message_id"])
    return _plain(str(found.get("text") or ""))


def last_id(person: Person) -> int:
    return int(person.messages[-1]["message_id"]) if person.messages else 0


async def process(harness: Harness, person: Person) -> str:
    await step(harness, person, "/process", send=True)
    return _plain(person.texts()[-1])


async def states(harness: Harness, community_id: int) -> dict[str, str]:
    found = await flow.standing(harness.db, community_id)
    return {s.key: s.status for s in found.steps}


async def neighbourhood(harness: Harness) -> tuple[Invitation, Person, dict[str, Person]]:
    invitation = await harness.new_community("Chahar Bagh")
    cora = await harness.coordinator(invitation, "en", name="Cora")
    people = {
        "maryam": await harness.resident(invitation, "fa", "vulnerable", name="مریم"),
        "aigerim": await harness.resident(invitation, "kk", "activist", name="Әйгерім"),
        "noa": await harness.resident(invitation, "he", "business", name="נועה"),
        "sam": await harness.resident(invitation, "en", "activist", name="Sam Baker"),
    }
    return invitation, cora, people


async def test_one_neighbourhood_through_the_seven_steps(harness: Harness) -> None:
    invitation, cora, people = await neighbourhood(harness)
    cid = invitation.community.id
    maryam, aigerim, noa, sam = (people[k] for k in ("maryam", "aigerim", "noa", "sam"))

    # Nothing has happened: /process says so, in the reader's language.
    text = await process(harness, aigerim)
    assert text.splitlines()[:2] == [
        _plain(tr(aigerim, "<b>Where {community} stands</b> — cycle {cycle}",
                  community="Chahar Bagh", cycle=1)),
        tr(aigerim, "The cycle has not begun yet. It begins with the needs assessment: a"
                    " survey, a brainstorm or a priority vote.")]
    assert tr(aigerim, "Nothing is waiting for you right now.") in text
    assert await store.latest_cycle(harness.db, cid) is None  # reading writes nothing

    # Step 1, needs assessment: a survey opens it.
    await cora.send_document("needs.json", SURVEY)
    await harness.settle()
    await step(harness, cora, "Publish")
    assert (await states(harness, cid))["needs"] == "under_way"
    (survey,) = await survey_store.of_community(harness.db, cid)
    text = await process(harness, maryam)
    assert now_line(maryam, 1, "needs", "under_way") in text
    assert tr(maryam, "Answer the survey “{title}”", title="نیازهای ما") in text
    await step(harness, maryam, tr(maryam, "Answer: {title}", title="نیازهای ما"))
    await press(harness, maryam, Choose(survey.id, survey.questions[0].id, 1).pack())
    text = await process(harness, maryam)
    assert "نیازهای ما" not in text  # answered: no longer open for her
    assert tr(maryam, "Nothing is waiting for you right now.") in text

    # A brainstorm; its shortlist, once it closes, is offered to the coordinator as a vote.
    await step(harness, cora, "/brainstorm What makes life hard in our street?", send=True)
    for person, problem in ((maryam, "Potholes"), (noa, "Dark corners"),
                            (aigerim, "No playground"), (sam, "Litter")):
        await step(harness, person, "/problem", send=True)
        await step(harness, person, problem, send=True)
    (round_,) = [r for r in [await brainstorm_store.latest_round(harness.db, cid)] if r]
    for card in await brainstorm_store.cards(harness.db, round_.id):
        if card.text != "Litter":
            await press(harness, cora, Shortlist(card.id, 0).pack())
    await step(harness, cora, "/curate", send=True)
    seen = last_id(cora)
    await step(harness, cora, "Close the brainstorm")
    offer = await next_step(cora, seen)
    assert _plain(str(offer["text"])) == "Next step\n" + _plain(ntr(
        cora, "The brainstorm “{prompt}” closed with {n} problem on its shortlist. Set up the"
              " priority vote on it?",
        "The brainstorm “{prompt}” closed with {n} problems on its shortlist. Set up the"
        " priority vote on them?", 3, prompt="What makes life hard in our street?"))
    # The set-up starts with the brainstorm's question and shortlist: the method is asked.
    await step(harness, cora, "Set up the priority vote")
    assert cora.texts()[-1].startswith("Which method?")
    await harness.restart()  # a restart in the middle of the set-up resumes it
    await step(harness, cora, "Stickers")
    await step(harness, cora, lambda label: label.startswith("3"))
    await step(harness, cora, "No, one per problem")
    await step(harness, cora, "When I close it")
    preview = _plain(cora.texts()[-1])
    assert "What makes life hard in our street?" in preview
    assert all(p in preview for p in ("Potholes", "Dark corners", "No playground"))
    assert "Litter" not in preview
    await step(harness, cora, "Open the vote")
    vote = await voting_store.list_for(harness.db, cid, status="open")
    assert [v.title for v in vote] == ["What makes life hard in our street?"]
    text = await process(harness, cora)
    assert "Set up the priority vote" not in cora.buttons()  # the offer was taken

    # Each resident sees the vote among their own open items, then votes.
    text = await process(harness, noa)
    assert tr(noa, "Vote in “{title}”", title="What makes life hard in our street?") in text
    problems = {p.title: p.position for p in await voting_store.problems(harness.db,
                                                                          vote[0].id)}
    for person, picks in ((maryam, ("Potholes", "Dark corners")), (aigerim, ("Potholes",)),
                          (noa, ("Potholes", "No playground")), (sam, ("Dark corners",))):
        await ballot(harness, person)
        for title in picks:
            await person.tap(problem_button(person, problems[title]))
            await harness.settle()
    text = await process(harness, noa)
    assert "What makes life hard" not in text
    await step(harness, cora, "/closevote", send=True)
    seen = last_id(cora)
    await step(harness, cora, "What makes life hard in our street?")
    await step(harness, cora, "Yes, close it")  # asked first (issue 18)
    assert (await states(harness, cid))["needs"] != "done"  # it may still be reopened
    await step(harness, cora, "Send the result now")  # final: the cycle hears of it
    offer = await next_step(cora, seen)
    assert _plain(str(offer["text"])) == "Next step\n" + ntr(
        cora, "“{problem}” came first with {n} sticker", "“{problem}” came first with {n}"
        " stickers", 3, problem="Potholes") + ". Start the problem tree and action plan for it?"
    assert cora.buttons(offer) == ["Start the plan for “Potholes”"]
    assert (await states(harness, cid))["needs"] == "done"
    text = await process(harness, aigerim)
    assert now_line(aigerim, 2, "committee", "not_started") in text

    # A late joiner (Hebrew) is shown where the neighbourhood stands, once.
    lea = harness.person("he", name="לאה")
    await harness.join(lea, invitation.resident_code, "other")
    welcome = _plain(lea.texts()[-1])
    assert welcome.startswith(tr(lea, "You joined in the middle of the neighbourhood's"
                                      " process. This is where it stands; /process shows it"
                                      " again at any time."))
    assert now_line(lea, 2, "committee", "not_started") in welcome
    assert "✅ 1. " + step_label(lea, "needs") in welcome
    assert ntr(lea, "“{problem}” came first with {n} sticker",
               "“{problem}” came first with {n} stickers", 3, problem="Potholes") in welcome
    assert tr(lea, "Answer the survey “{title}”", title="הצרכים שלנו") in welcome
    assert lea.buttons() == [tr(lea, "Answer: {title}", title="הצרכים שלנו")]
    before = len(lea.messages)
    await step(harness, lea, f"/start {invitation.resident_code}", send=True)  # again: no
    assert len(lea.messages) == before + 1 and "/process" not in lea.texts()[-1]

    # Step 2, the committee: nominations open it, the count finishes it.
    await harness.restart()  # a restart between the steps: the plan offer still works later
    eid = await set_up_election(harness, cora, seats=2, minimums=())
    assert (await states(harness, cid))["committee"] == "under_way"
    text = await process(harness, sam)
    assert now_line(sam, 2, "committee", "under_way") in text
    assert "Nominate candidates for “Green committee”" in text
    for person, group in ((maryam, "vulnerable"), (noa, "business")):
        await step(harness, person, tr(person, "Nominate"))
        await step(harness, person, tr(person, "Myself"))
        await accept(harness, person, group, "Statement")
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, "Close nominations and open voting")
    text = await process(harness, aigerim)
    assert tr(aigerim, "Vote in the election “{name}”", name="Green committee") in text
    await step(harness, aigerim, tr(aigerim, "Ballot: {name}", name="Green committee"))
    assert "נועה" in aigerim.texts()[-1]  # the ballot itself
    await step(harness, cora, "/election", send=True)
    await step(harness, cora, "Close voting and count")
    await step(harness, cora, "Yes, close voting")  # asked first (issue 18)
    await step(harness, cora, "Count now")  # rather than after the window to reopen
    assert (await states(harness, cid))["committee"] == "done"
    text = await process(harness, aigerim)
    assert now_line(aigerim, 3, "analysis", "not_started") in text
    assert ntr(aigerim, "“{name}” elected, {n} seat filled", "“{name}” elected, {n} seats"
               " filled", 2, name="Green committee") in text
    assert eid

    # The coordinator's button on the vote's offer opens the plan for the winner, made once.
    await step(harness, cora, "Start the plan for “Potholes”", )
    (plan,) = await plan_store.plans(harness.db, cid)
    assert plan.problem == "Potholes"
    assert _plain(cora.texts()[-1]).startswith("Action plan: Potholes")
    await press(harness, cora, StartPlan(int(await harness.db.fetchval(
        "SELECT id FROM process_offers WHERE kind = 'plan'"))).pack())
    assert len(await plan_store.plans(harness.db, cid)) == 1  # the same plan, shown again
    assert _plain(cora.texts()[-1]).startswith("Action plan: Potholes")
    found = await states(harness, cid)
    assert (found["analysis"], found["plan"]) == ("under_way", "under_way")

    # Step 3, the problem tree: a cause and a consequence accepted finish it.
    await step(harness, sam, "/plan", send=True)
    await step(harness, sam, "Problem tree")
    await step(harness, sam, "Add a cause")
    await step(harness, sam, "Heavy trucks use the street", send=True)
    assert (await states(harness, cid))["analysis"] == "under_way"
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, "Problem tree")
    await step(harness, cora, "Review proposals")
    await step(harness, cora, "Accept")
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, "Problem tree")
    await step(harness, cora, "Add a consequence")
    await step(harness, cora, "Cars are damaged", send=True)
    assert (await states(harness, cid))["analysis"] == "done"

    # Step 4, resources — first marked done by hand, then undone, then done for real.
    await step(harness, cora, "/process", send=True)
    await step(harness, cora, "Mark steps by hand, choose the steps")
    await step(harness, cora, lambda label: label.endswith("4. Resources"))
    await step(harness, cora, "Mark as done")
    assert cora.last_answer == "Marked: Resources, completed."
    assert (await states(harness, cid))["resources"] == "done"
    text = await process(harness, noa)
    assert "✅ 4. " + step_label(noa, "resources") in text
    assert tr(noa, "(marked by hand)") in text
    assert now_line(noa, 5, "plan", "under_way") in text
    await step(harness, cora, "/process", send=True)
    await step(harness, cora, "Mark steps by hand, choose the steps")
    await step(harness, cora, "↶ Undo: Resources, completed")
    assert cora.last_answer == "Undone."
    assert (await states(harness, cid))["resources"] == "not_started"
    text = await process(harness, noa)
    assert "◻️ 4. " + step_label(noa, "resources") + "\n" in text
    assert tr(noa, "(marked by hand)") not in text
    await step(harness, sam, "/resources", send=True)
    await step(harness, sam, "Offer a resource")
    await step(harness, sam, "Skill")
    await step(harness, sam, "I can fill holes with gravel", send=True)
    assert (await states(harness, cid))["resources"] == "under_way"
    await step(harness, cora, "/resources", send=True)
    await step(harness, cora, "Add an organisation or person")
    await step(harness, cora, "District roads office", send=True)
    await step(harness, cora, "Public body")
    await step(harness, cora, "Repairs the roads", send=True)
    await step(harness, cora, "High influence")
    assert (await states(harness, cid))["resources"] == "done"
    text = await process(harness, maryam)
    assert tr(maryam, "{resources} and {organisations} on the resource map",
              resources=ntr(maryam, "{n} resource offered", "{n} resources offered", 1),
              organisations=ntr(maryam, "{n} organisation or person listed",
                                "{n} organisations or people listed", 1)) in text

    # Step 5, the plan: a task for Noa, who sees it among her open items and accepts it.
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, "Add a task")
    await step(harness, cora, "Fill the potholes on the main road", send=True)
    await step(harness, cora, "נועה", send=True)
    await step(harness, cora, "Yes")  # the one match, shown to confirm (issue 18)
    await step(harness, cora, "2026-01-01", send=True)
    await step(harness, cora, "2099-12-31", send=True)
    (task,) = await plan_store.tasks(harness.db, plan.id)
    assert task.responsible_id == noa.id
    text = await process(harness, noa)
    assert tr(noa, "Accept or decline your task “{title}”",
              title="Fill the potholes on the main road") in text
    await step(harness, noa, tr(noa, "Task: {title}", title="Fill the potholes on the main…"))
    await step(harness, noa, tr(noa, "Accept the task"))
    assert (await states(harness, cid))["plan"] == "under_way"
    text = await process(harness, noa)
    assert tr(noa, "Report on your task “{title}”",
              title="Fill the potholes on the main road") in text

    # Step 6, monitoring: her first update finishes the plan step and begins this one.
    await step(harness, noa, tr(noa, "Task: {title}", title="Fill the potholes on the main…"))
    await step(harness, noa, tr(noa, "Post an update"))
    await step(harness, noa, "Half the holes are filled", send=True)
    await step(harness, noa, "50", send=True)
    await step(harness, noa, tr(noa, "Skip"))
    found = await states(harness, cid)
    assert (found["plan"], found["monitoring"]) == ("done", "under_way")
    text = await process(harness, aigerim)
    assert now_line(aigerim, 6, "monitoring", "under_way") in text
    assert ntr(aigerim, "{done} of {n} task done, {percent} overall",
               "{done} of {n} tasks done, {percent} overall", 1, done=0, percent="50%") in text
    await step(harness, noa, "/plan", send=True)
    await step(harness, noa, lambda label: "Fill the potholes" in label)
    await step(harness, noa, tr(noa, "Post an update"))
    await step(harness, noa, "All done", send=True)
    await step(harness, noa, "100", send=True)
    await step(harness, noa, tr(noa, "Skip"))
    assert (await states(harness, cid))["monitoring"] == "done"
    text = await process(harness, noa)
    assert now_line(noa, 7, "evaluation", "not_started") in text
    assert tr(noa, "Nothing is waiting for you right now.") not in text  # the survey still

    # Step 7, the evaluation: it closes the cycle and offers the next one from "what next".
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, "Evaluation")
    await step(harness, cora, "Partly")
    await step(harness, cora, "4")
    await step(harness, cora, "Neighbours and the roads office worked together", send=True)
    seen = last_id(cora)
    await step(harness, cora, "Speed bumps\nA safe crossing at the school", send=True)
    assert all(s == "done" for s in (await states(harness, cid)).values())
    offer = await next_step(cora, seen)
    assert _plain(str(offer["text"])) == "Next step\n" + ntr(
        cora, "The evaluation of “{problem}” is done. Begin cycle {cycle} with a brainstorm of"
              " its {n} item for what comes next?",
        "The evaluation of “{problem}” is done. Begin cycle {cycle} with a brainstorm of its"
        " {n} items for what comes next?", 2, problem="Potholes", cycle=2)
    text = await process(harness, sam)
    assert tr(sam, "Every step of this cycle is done.") in text
    assert "goal reached? Partly; rating 4/5; 2 items for what comes next" in text

    await harness.restart()  # the offer survives a restart
    await cora.tap("Begin cycle 2", offer)
    await harness.settle()
    assert ntr(
        cora, "Cycle {cycle} has begun: a brainstorm is open with {n} problem from the"
              " evaluation. Members are being told; /curate to review it.",
        "Cycle {cycle} has begun: a brainstorm is open with {n} problems from the evaluation."
        " Members are being told; /curate to review it.", 2, cycle=2) in cora.texts()[-2:]
    told = await aigerim.wait_for(lambda m: "Speed bumps" not in (m.get("text") or "")
                                  and "brainstorm" in json.dumps(m.get("reply_markup")))
    assert aigerim.buttons(told) == [tr(aigerim, "Add a problem"), tr(aigerim, "Browse")]
    found = await flow.standing(harness.db, cid)
    assert found.cycle == 2 and found.current is not None
    assert (found.current.key, found.current.status) == ("needs", "under_way")
    round_ = await brainstorm_store.latest_round(harness.db, cid)
    assert round_ is not None and [c.text for c in await brainstorm_store.cards(
        harness.db, round_.id)] == ["Speed bumps", "A safe crossing at the school"]
    assert await press(harness, cora, NextCycle(int(await harness.db.fetchval(
        "SELECT id FROM process_offers WHERE kind = 'cycle'"))).pack()) == flow.TAKEN

    # Cycle 2 is where the neighbourhood stands now; cycle 1 stays readable.
    text = await process(harness, maryam)
    assert text.splitlines()[0] == _plain(tr(maryam, "<b>Where {community} stands</b> —"
                                                     " cycle {cycle}", community="Chahar Bagh",
                                             cycle=2))
    assert now_line(maryam, 1, "needs", "under_way") in text
    await step(harness, maryam, tr(maryam, "Cycle {cycle}", cycle=1))
    earlier = _plain(maryam.texts()[-1])
    assert tr(maryam, "An earlier cycle, as it ended.") in earlier
    assert earlier.count("✅") == 7
    assert tr(maryam, "<b>Open for you now</b>").strip("</b>") not in earlier
    await step(harness, maryam, tr(maryam, "Cycle {cycle}", cycle=2))
    assert now_line(maryam, 1, "needs", "under_way") in _plain(maryam.texts()[-1])


async def test_a_tie_is_decided_by_a_coordinator_and_the_plan_starts_from_it(
        harness: Harness) -> None:
    invitation, cora, people = await neighbourhood(harness)
    cid = invitation.community.id
    maryam, aigerim, noa, sam = (people[k] for k in ("maryam", "aigerim", "noa", "sam"))
    carl = await harness.coordinator(invitation, "kk", name="Қарлығаш")
    pid = await open_vote(harness, cora, problems=["Potholes", "Dark corners", "Litter"],
                          stickers=1, title="Priorities")
    for person, title in ((maryam, "Dark corners"), (aigerim, "Potholes"),
                          (noa, "Dark corners"), (sam, "Potholes")):
        await ballot(harness, person)
        await person.tap(problem_button(person, {"Potholes": 1, "Dark corners": 2,
                                                 "Litter": 3}[title]))
        await harness.settle()
    seen, seen_carl = last_id(cora), last_id(carl)
    await step(harness, cora, "/closevote", send=True)
    await step(harness, cora, "Priorities")
    await step(harness, cora, "Yes, close it")
    await step(harness, cora, "Send the result now")
    offer = await next_step(cora, seen)
    assert _plain(str(offer["text"])) == "Next step\n" + tr(
        cora, "The priority vote is tied for first place: {problems}. Which is the most"
              " pressing problem? The problem tree and action plan start from it.",
        problems="Potholes, Dark corners")
    assert cora.buttons(offer) == ["Potholes", "Dark corners"]
    other = await next_step(carl, seen_carl)  # every coordinator, in their language
    assert carl.buttons(other) == ["Potholes", "Dark corners"]
    assert (await states(harness, cid))["needs"] == "under_way"  # undecided yet
    tie_id = int(await harness.db.fetchval("SELECT id FROM process_offers WHERE kind = 'tie'"))

    # Residents cannot decide; a place that is not on the list is refused.
    assert await press(harness, sam, PickProblem(tie_id, 0).pack()) == tr(
        sam, "Only coordinators of this community can do that.")
    assert await press(harness, cora, PickProblem(tie_id, 7).pack()) == tr(
        cora, "This button no longer works.")
    await harness.restart()  # the question waits across a restart
    await cora.tap("Dark corners", offer)
    await harness.settle()
    decided = now_reads(cora, offer)
    assert decided == "Next step\n" + tr(
        cora, "“{problem}” is the most pressing problem.", problem="Dark corners") + " " + tr(
        cora, "Start the problem tree and action plan for it?")
    assert (await states(harness, cid))["needs"] == "done"
    text = await process(harness, noa)
    assert ntr(noa, "“{problem}”, chosen by the coordinators among {n} problems tied for first"
               " place", "“{problem}”, chosen by the coordinators among {n} problems tied for"
               " first place", 2, problem="Dark corners") in text
    # The other coordinator's question now shows what was chosen, not a second choice.
    await carl.tap("Potholes", other)
    await harness.settle()
    assert now_reads(carl, other).startswith(_plain(tr(carl, "<b>Next step</b>")) + "\n"
                                              + tr(carl, "“{problem}” is the most pressing"
                                                   " problem.", problem="Dark corners"))
    latest = await store.latest_cycle(harness.db, cid)
    assert latest is not None and latest.problem == "Dark corners"
    await step(harness, carl, tr(carl, "Start the plan for “{problem}”", problem="Dark corners"))
    (plan,) = await plan_store.plans(harness.db, cid)
    assert plan.problem == "Dark corners"
    assert pid


async def test_forged_and_stale_buttons_change_nothing_and_a_short_cycle(
        harness: Harness) -> None:
    invitation, cora, people = await neighbourhood(harness)
    cid = invitation.community.id
    sam = people["sam"]
    other = await harness.new_community("Blue Street")
    bob = await harness.coordinator(other, "en", name="Bob")
    await step(harness, bob, "/newplan Litter", send=True)  # Blue Street's cycle begins
    assert await store.numbers(harness.db, other.community.id) == [1]

    # Residents may look, not manage; nothing below changes the cycle's tables.
    tables = ("process_cycles", "process_steps", "process_marks", "process_offers")

    async def snapshot() -> list[list[tuple[object, ...]]]:
        return [[tuple(r) for r in await harness.db.fetchall(f"SELECT * FROM {table}")]
                for table in tables]

    blue = await store.latest_cycle(harness.db, other.community.id)
    assert blue is not None
    added = await store.add_offer(harness.db, other.community.id, blue.id, "plan", 999,
                                  {"problem": "Blue"}, sent=True)
    assert added is not None
    before = await snapshot()
    await process(harness, sam)
    assert sam.buttons() == []
    for data in (MarkStep("needs", "done").pack(), UseStep("committee", False).pack(),
                 Undo(1).pack(), StartPlan(1).pack(), NextCycle(1).pack()):
        assert await press(harness, sam, data) == tr(
            sam, "Only coordinators of this community can do that."), data
    # Hostile data is refused before any rule runs.
    for data in ("process:mark:needs:finished", "process:mark:sleeping:done",
                 "process:use:needs:2", "process:view:-1", "process:plan:abc",
                 "process:pick:1", "process:undo:99999999999999999999"):
        assert await press(harness, cora, data) == "This button no longer works.", data

    # Another community's offer is not available; nothing to undo yet.
    assert await press(harness, cora, StartPlan(added.id).pack()) == flow.NOT_AVAILABLE
    assert await press(harness, cora, Undo(1).pack()) == flow.NOTHING_TO_UNDO
    assert await snapshot() == before

    # A short cycle: the committee and resources left out; the steps renumber.
    await step(harness, cora, "/process", send=True)
    await step(harness, cora, "Mark steps by hand, choose the steps")
    for name in ("Representative committee", "Resources"):
        await step(harness, cora, lambda label, n=name: label.endswith(n))
        await step(harness, cora, "Leave this step out")
    manage = _plain(cora.texts()[-1])
    assert "➖ Representative committee — not used" in manage
    assert "◻️ 3. Joint action plan — not started" in manage
    found = await flow.standing(harness.db, cid)
    assert [s.key for s in found.steps] == ["needs", "analysis", "plan", "monitoring",
                                            "evaluation"]
    # An election still runs, but moves no step the cycle does not use.
    await set_up_election(harness, cora, seats=1, minimums=())
    assert "committee" not in await states(harness, cid)
    text = await process(harness, sam)
    assert "Representative committee" not in text
    # A step that has begun stays in the cycle; the same mark twice is refused.
    await step(harness, cora, "/newplan Potholes", send=True)
    assert await press(harness, cora, UseStep("plan", False).pack()) == flow.BEGUN
    assert await press(harness, cora, MarkStep("plan", "under_way").pack()) == flow.SAME
    # Marked by hand; the undo button of an older mark no longer works.
    await press(harness, cora, MarkStep("needs", "done").pack())
    first = int(await harness.db.fetchval("SELECT MAX(id) FROM process_marks"))
    await press(harness, cora, MarkStep("analysis", "done").pack())
    assert await press(harness, cora, Undo(first).pack()) == "This button no longer works."
    await step(harness, cora, "↶ Undo: Problem analysis, completed")
    await step(harness, cora, "↶ Undo: Needs assessment, completed")
    found_states = await states(harness, cid)
    assert (found_states["needs"], found_states["analysis"]) == ("not_started", "under_way")
    text = await process(harness, sam)
    assert now_line(sam, 2, "analysis", "under_way", total=5) in text
    # The committee added back is step 2 again.
    await press(harness, cora, UseStep("committee", True).pack())
    assert [s.key for s in (await flow.standing(harness.db, cid)).steps][:2] == [
        "needs", "committee"]


async def test_digests_the_weekly_note_and_the_dashboard_name_the_step(
        harness: Harness) -> None:
    invitation, cora, people = await neighbourhood(harness)
    cid = invitation.community.id
    maryam, noa = people["maryam"], people["noa"]
    committee = await committee_store.create_committee(harness.db, cid, "Green committee")
    await committee_store.add_member(harness.db, committee.id, maryam.id, "co-opted")
    await step(harness, cora, "/digest", send=True)
    await step(harness, cora, "Daily")
    await step(harness, cora, "/newplan Potholes", send=True)
    (plan,) = await plan_store.plans(harness.db, cid)
    await step(harness, noa, "/plan", send=True)
    await step(harness, noa, tr(noa, "Follow"))
    await harness.db.execute("UPDATE digests SET last_period = 'long ago', since = ?",
                             ("2000-01-01T00:00:00+00:00",))
    await harness.restart()  # the jobs look at start
    digest = await maryam.wait_for("Green committee")
    line = tr(maryam, "Cycle {cycle}, step {number} of {total}: {step} (under way).", cycle=1,
              number=3, total=7, step=step_label(maryam, "analysis"))
    assert _plain(str(digest["text"])).splitlines()[2] == line
    note = await noa.wait_for(tr(noa, "This week in the plan “{problem}”:", problem="")[:10])
    assert _plain(str(note["text"])).splitlines()[-1] == tr(
        noa, "Cycle {cycle}, step {number} of {total}: {step} (under way).", cycle=1,
        number=3, total=7, step=step_label(noa, "analysis"))

    # The dashboard's overview names it too, in the viewer's language.
    viewer = await dashboard.viewer(harness.db, maryam.id, admins=frozenset())
    overview = await dashboard.overview(harness.db, viewer)
    assert overview["step"] == line
    assert plan.problem == "Potholes"


async def test_an_offer_made_while_the_bot_was_down_goes_out_at_start(
        harness: Harness) -> None:
    invitation, cora, _people = await neighbourhood(harness)
    cid = invitation.community.id
    await harness.stop()
    db = await Database.open(harness.database_path)
    cycle = await store.begin_cycle(db, cid, flow.STEPS)
    await store.set_problem(db, cycle.id, problem="Potholes", vote=None, score=41,
                            method="stickers", tied=0)
    await store.add_offer(db, cid, cycle.id, "plan", 77, {"problem": "Potholes", "score": 41,
                                                           "method": "stickers", "tied": 0})
    await db.close()
    await harness.start()
    offer = await next_step(cora)
    assert _plain(str(offer["text"])).endswith("“Potholes” came first with 41 stickers. Start"
                                               " the problem tree and action plan for it?")
    await harness.restart()
    await harness.settle()
    assert sum(1 for m in cora.messages if "came first" in (m.get("text") or "")) == 1
    await step(harness, cora, "Start the plan for “Potholes”")
    assert [p.problem for p in await plan_store.plans(harness.db, cid)] == ["Potholes"]
