"""What people type, refused and asked again: a too-long answer in every capability that takes
free text gets its hint and then the same question, always (issue 18 found it shown again
only sometimes). Each test ends by answering within the limit, so the question really was
still waiting for its answer."""

from __future__ import annotations

import json

from bot.emulator import Person
from bot.flows import brainstorm as brainstorm_flow
from bot.flows import committee as committee_flow
from bot.flows import survey as survey_flow
from bot.i18n import Translator
from storage import brainstorm as brainstorm_store
from storage import plan as plan_store
from tests.harness import Harness, step, tr
from tests.test_committee import set_up_election


def _asked(person: Person, prompt: str, **values: object) -> str:
    """A form's question as ``person`` reads it."""
    return tr(person, prompt, **values) + "\n" + tr(person, "(/cancel stops)")


async def test_a_survey_answer_too_long(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    rita = await harness.resident(invitation, "kk")
    await cora.send_document("s.json", json.dumps({
        "title": "Ideas", "questions": [{"type": "text", "text": "What would help?"}]}).encode())
    await harness.settle()
    await step(harness, cora, "Publish")
    await step(harness, rita, tr(rita, "Answer the survey"))
    question = rita.texts()[-1]
    await step(harness, rita, "x" * (survey_flow.MAX_ANSWER + 1), send=True)
    assert rita.texts()[-2:] == [
        tr(rita, "Your answer is {length} characters long; please keep it under {n}.",
           length=survey_flow.MAX_ANSWER + 1, n=survey_flow.MAX_ANSWER), question]
    await step(harness, rita, "More street lights", send=True)
    assert rita.texts()[-1] == tr(rita, "Thank you! Your answers are saved. You can change"
                                        " them until the survey closes: /surveys")


async def test_a_brainstorm_problem_too_long(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    noa = await harness.resident(invitation, "he")
    await step(harness, cora, "/brainstorm What makes life hard here?", send=True)
    await step(harness, noa, "/problem", send=True)
    question = noa.texts()[-1]
    await step(harness, noa, "y" * (brainstorm_flow.MAX_TEXT + 1), send=True)
    assert noa.texts()[-2:] == [
        tr(noa, "Please keep it under {n} characters.", n=brainstorm_flow.MAX_TEXT), question]
    await step(harness, noa, "The lamps are broken", send=True)
    round_ = await brainstorm_store.latest_round(harness.db, invitation.community.id)
    assert round_ is not None
    assert [c.text for c in await brainstorm_store.cards(harness.db, round_.id)] == [
        "The lamps are broken"]


async def test_a_plan_update_too_long(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    await step(harness, cora, "/newplan Dark streets", send=True)
    (plan,) = await plan_store.plans(harness.db, invitation.community.id)
    await plan_store.add_task(
        harness.db, plan.id, cora.id, title="Count the lamps", responsible_id=cora.id,
        starts_on=plan.created_at.date(), due_on=plan.created_at.date())
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, lambda label: "Count the lamps" in label)
    await step(harness, cora, "Post an update")
    await step(harness, cora, "z" * 1001, send=True)
    assert cora.texts()[-2:] == [
        "Please keep it under 1,000 characters.",
        _asked(cora, "What has been done? Write your update.")]
    await step(harness, cora, "Half of them counted", send=True)
    assert cora.texts()[-1] == _asked(cora, "Progress in percent (0–100)?")


async def test_a_committee_statement_too_long(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    maryam = await harness.resident(invitation, "fa", "vulnerable")
    await set_up_election(harness, cora, seats=1, minimums=())
    await step(harness, maryam, "/nominate", send=True)
    await step(harness, maryam, tr(maryam, "Myself"))
    await step(harness, maryam, tr(maryam, "Accept", "committee"))
    await step(harness, maryam, lambda text: tr(maryam, "Vulnerable groups") in text)
    question = maryam.texts()[-1]
    await step(harness, maryam, "ب" * (committee_flow.MAX_STATEMENT + 1), send=True)
    assert maryam.texts()[-2:] == [
        tr(maryam, committee_flow.TOO_LONG, n=committee_flow.MAX_STATEMENT), question]
    await step(harness, maryam, "برای پارک تلاش می‌کنم.", send=True)
    assert tr(maryam, "Thank you: you are a candidate. Voters will see your group and"
                      " statement.") in maryam.texts()[-1]


async def test_a_broadcast_too_long(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    await harness.resident(invitation, "fa")
    await step(harness, cora, "/broadcast", send=True)
    question = cora.texts()[-1]
    # A photo's caption may hold 2,048 characters for some Telegram users; a broadcast's
    # caption only 1,024.
    await cora.send_photo(b"\x89PNG fake", caption="c" * 1025)
    await harness.settle()
    assert cora.texts()[-2:] == [
        tr(cora, "That is too long for Telegram: at most {limit} characters.", limit=1024),
        question]
    await step(harness, cora, "The street party is on Saturday.", send=True)
    assert cora.texts()[-1] != question


def test_the_hints_name_their_limits_in_every_language() -> None:
    for lang in ("fa", "kk", "he"):
        t = Translator(lang)
        assert t.num(500) in t._("Please keep it under {n} characters.", n=500)


async def test_a_member_found_by_name_is_shown_before_it_is_taken(harness: Harness) -> None:
    """The person responsible for a task, typed by name: one match is confirmed with its
    group, several are offered with theirs, and "Someone else" asks the name again."""
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "he", name="Cora")
    await harness.resident(invitation, "en", "media", name="Dana Levi")
    dan = await harness.resident(invitation, "en", "business", name="Dan Cohen")
    await step(harness, cora, "/newplan Dark streets", send=True)
    await step(harness, cora, "/plan", send=True)
    await step(harness, cora, tr(cora, "Add a task"))
    await step(harness, cora, "Count the lamps", send=True)
    question = _asked(cora, "Who is responsible? Send their name (or part of it).")
    await step(harness, cora, "dan", send=True)
    assert cora.texts()[-1] == tr(cora, "Several members match. Which one?")
    assert cora.buttons() == [f"Dana Levi ({tr(cora, 'Media')})",
                              f"Dan Cohen ({tr(cora, 'Business')})", tr(cora, "Someone else")]
    await step(harness, cora, tr(cora, "Someone else"))
    assert cora.texts()[-1] == question
    await step(harness, cora, "cohen", send=True)
    assert cora.texts()[-1] == tr(cora, "Is this the person: {name} ({group})?",
                                  name="\u2068Dan Cohen\u2069", group=tr(cora, "Business"))
    await step(harness, cora, tr(cora, "Yes"))
    assert cora.buttons(cora.messages[-2]) == []  # the confirmed question keeps no buttons
    assert cora.texts()[-1].startswith(tr(cora, "When does it start? (for example {example})",
                                          example="")[:10])
    for day in ("היום", "מחר"):
        await step(harness, cora, day, send=True)
    (plan,) = await plan_store.plans(harness.db, invitation.community.id)
    (task,) = await plan_store.tasks(harness.db, plan.id)
    assert task.responsible_id == dan.id
    assert (task.due_on - task.starts_on).days == 1
