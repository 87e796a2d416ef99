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
from bot.flows import process as flow
from bot.handlers import process as handlers
from bot.handlers.brainstorm import Shortlist
from bot.handlers.plan import OpenTask
from bot.handlers.process import MarkStep, NextCycle, PickProblem, StartPlan, Undo, UseStep
from bot.handlers.survey import Choose
from bot.i18n import Translator
from storage import brainstorm as brainstorm_store
from storage import community as community_store
from storage import plan as plan_store
from storage import process as store
from storage import survey as survey_store
from storage import voting as voting_store
from tests.harness import Harness, Invitation, press, step, tr
from tests.test_committee import accept, set_up_election
from tests.test_voting import ballot, problem_button

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
    assert cora.last_answer == "Marked: Resources, done."
    assert (await states(harness, cid))["resources"] == "done"
    text = await process(harness, noa)
    assert "✅ 4. " + step_label(noa, "resources") in text
    assert tr(noa, "(marked by hand)") in text
    assert now_line(noa, 5, "plan", "under_way") in text
    await step(harness, cora, "/process", send=True)
    await step(harness, cora, "Mark steps by hand, choose the steps")
    await step(harness, cora, "↶ Undo: Resources, done")
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
    await step(harness, cora, "2026-01-01", send=True)
    await step(harness, cora, "2099-12-31", send=True)
    (task,) = await plan_store.tasks(harness.db, plan.id)
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
