"""The participation cycle of one community: seed 001's seven steps as one journey.

needs → committee → analysis → resources → plan → monitoring → evaluation. Each step is not
started, under way or done, with its dates, and is linked to what made it: the surveys,
brainstorms and priority votes of step 1 and the most pressing problem they led to, the
elected committee, the plan's problem tree, the resource map, the plan and its tasks, their
progress and indicators, and the evaluation.

Steps move **from what happens**: every capability's flow calls :func:`happened` once when
one of its events happens (a vote closed with its outcome, an election counted, a tree item
accepted…). Events only move steps forward; a coordinator may also mark a step by hand —
any way — and undo the latest mark. Which steps a cycle uses is a coordinator's choice
(seed 001's seven by default; the choice carries into the next cycle). When the last step
of a cycle is done, the next thing a coordinator starts (a survey, a brainstorm, a vote, an
election, a plan) begins the next cycle; earlier cycles stay readable.

When a step finishes, the next one is **offered** to the community's coordinators (a plan
for the vote's winner, a choice among tied first places, a vote on a brainstorm's
shortlist, the next cycle from the evaluation's "what next"): the offer is stored here, and
the handlers — woken through :func:`on_offer` — send it through the outbox.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, cast
from weakref import WeakKeyDictionary

from bot.flows.errors import STALE, Refused
from bot.flows.people import Member, require
from bot.i18n import N_, Translator
from storage import community as community_store
from storage import process as store
from storage.community import Community, User
from storage.db import Database, utcnow
from storage.process import Cycle, Mark, Offer, Step

if TYPE_CHECKING:
    from bot.flows.voting import Outcome

__all__ = ["STEPS", "Community", "Line", "Manage", "Mark", "Mine", "NewCycle", "Next",
           "Outgoing", "Standing", "StepState", "Summary", "User", "VoteSetup", "happened",
           "standing", "step_line"]

log = logging.getLogger(__name__)

STEPS: tuple[str, ...] = ("needs", "committee", "analysis", "resources", "plan", "monitoring",
                          "evaluation")
StepKey = Literal["needs", "committee", "analysis", "resources", "plan", "monitoring",
                  "evaluation"]
KEYS: tuple[StepKey, ...] = ("needs", "committee", "analysis", "resources", "plan",
                             "monitoring", "evaluation")
assert STEPS == KEYS == store.STEPS
Status = Literal["not_started", "under_way", "done"]
STATUSES: tuple[Status, ...] = ("not_started", "under_way", "done")
_RANK = {status: rank for rank, status in enumerate(STATUSES)}

STEP_LABELS = {
    "needs": N_("Needs assessment"),
    "committee": N_("Representative committee"),
    "analysis": N_("Problem analysis"),
    "resources": N_("Resources"),
    "plan": N_("Joint action plan"),
    "monitoring": N_("Implementation and monitoring"),
    "evaluation": N_("Joint evaluation and next steps"),
}

NOT_AVAILABLE = N_("This is not available to you.")
NOT_USED = N_("This cycle does not use that step. Add it back first.")
BEGUN = N_("This step has begun, so it stays in the cycle.")
LAST_STEP = N_("A cycle needs at least one step.")
SAME = N_("The step is already marked so.")
NOTHING_TO_UNDO = N_("There is nothing to undo.")
TAKEN = N_("This was done already.")
EARLIER_CYCLE = N_("This belongs to an earlier cycle.")
NO_SHORTLIST = N_("The brainstorm's shortlist needs at least two problems.")

Event = Literal[
    "survey_opened", "brainstorm_opened", "brainstorm_closed", "vote_opened", "vote_closed",
    "election_opened", "election_counted", "plan_created", "tree_changed", "task_added",
    "task_changed", "reading_added", "plan_evaluated", "resource_offered",
    "organisation_listed"]

# What an event's subject id names, so it is linked to (and later found in) its cycle.
_SUBJECTS = {
    "survey_opened": "survey", "brainstorm_opened": "brainstorm",
    "brainstorm_closed": "brainstorm", "vote_opened": "vote", "vote_closed": "vote",
    "election_opened": "election", "election_counted": "election", "plan_created": "plan",
    "tree_changed": "plan", "task_added": "plan", "task_changed": "plan",
    "reading_added": "plan", "plan_evaluated": "plan"}
# Once a cycle is over, only a coordinator starting something new begins the next one (a
# resident offering a resource afterwards does not).
_STARTS = {"survey_opened", "brainstorm_opened", "vote_opened", "election_opened",
           "plan_created"}


# == the public shape: where a community stands ================================================


@dataclass(frozen=True, slots=True)
class StepState:
    key: str
    status: Status
    started_at: datetime | None
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class Standing:
    """A community's latest cycle: its steps in order (those it uses) and the current one —
    the first under way, else the first not started; None when every step is done."""

    cycle: int
    steps: list[StepState]
    current: StepState | None

    @property
    def begun(self) -> bool:
        """Whether anything has happened yet (a second cycle always has)."""
        return self.cycle > 1 or any(s.status != "not_started" for s in self.steps)

    def number(self, key: str) -> int:
        """The step's place in this cycle, from 1."""
        return [s.key for s in self.steps].index(key) + 1


def _status(text: str) -> Status:
    for status in STATUSES:
        if status == text:
            return status
    raise ValueError(f"unknown step status {text!r}")


def _standing(cycle: Cycle | None, states: dict[str, Step]) -> Standing:
    if cycle is None:
        steps = [StepState(key, "not_started", None, None) for key in STEPS]
    else:
        steps = [StepState(key, _status(states[key].status), states[key].started_at,
                           states[key].done_at) for key in cycle.steps]
    current = next((s for s in steps if s.status == "under_way"), None) or next(
        (s for s in steps if s.status == "not_started"), None)
    return Standing(cycle.number if cycle is not None else 1, steps, current)


async def standing(db: Database, community_id: int) -> Standing:
    """Where the community's latest cycle stands (cycle 1, nothing started, if none yet)."""
    cycle = await store.latest_cycle(db, community_id)
    return _standing(cycle, await store.steps(db, cycle.id) if cycle is not None else {})


def step_line(t: Translator, found: Standing) -> str | None:
    """One line naming the step the community is in (digests, the weekly plan note, the
    dashboard); None before anything has happened."""
    if not found.begun:
        return None
    current, total = found.current, len(found.steps)
    if current is None:
        return t._("Cycle {cycle}: every step is done.", cycle=found.cycle)
    values = {"cycle": found.cycle, "number": found.number(current.key), "total": total,
              "step": t._(STEP_LABELS[current.key])}
    if current.status == "under_way":
        return t._("Cycle {cycle}, step {number} of {total}: {step} (under way).", **values)
    return t._("Cycle {cycle}, step {number} of {total}: {step} (next).", **values)


def _complete(cycle: Cycle, states: dict[str, Step]) -> bool:
    """A cycle is over once its last step is done."""
    return states[cycle.steps[-1]].status == "done"


# == events: the one call every capability makes ================================================

_wakers: WeakKeyDictionary[Database, Callable[[], None]] = WeakKeyDictionary()


def on_offer(db: Database, wake: Callable[[], None]) -> None:
    """The handlers' hook, set at start: called when a next step waits to be offered."""
    _wakers[db] = wake


def _wake(db: Database) -> None:
    wake = _wakers.get(db)
    if wake is not None:
        wake()


async def happened(db: Database, community_id: int, event: Event, subject: int = 0, *,
                   outcome: Outcome | None = None) -> None:
    """``event`` happened to ``subject`` (a survey, round, vote, election or plan id) in the
    community: move the cycle's steps on and offer what comes next.

    Called by the capabilities' flows after their own write. A fault here is logged and
    swallowed: the cycle's bookkeeping never stops the vote, count or plan it follows.
    """
    try:
        if event == "survey_opened" and await store.survey_status(db, subject) != "open":
            return  # a survey scheduled for later counts when it opens
        async with db.transaction():
            cycle = await _cycle_for(db, community_id, event, subject)
            offered = False
            if cycle is not None:
                states = await store.steps(db, cycle.id)
                offered = await _apply(db, cycle, states, event, subject, outcome)
        if offered:
            _wake(db)
    except Exception:
        log.exception("the participation cycle could not follow %s %s", event, subject)


async def _cycle_for(db: Database, community_id: int, event: Event, subject: int,
                     ) -> Cycle | None:
    """The cycle ``event`` belongs to: its subject's cycle if it has one (None if that is an
    earlier cycle), else the latest — or a new one when the latest is over and a coordinator
    started something new. The subject is linked to it."""
    kind = _SUBJECTS.get(event)
    latest = await store.latest_cycle(db, community_id)
    if kind is not None:
        owner = await store.linked_cycle(db, kind, subject)
        if owner is not None:
            return latest if latest is not None and latest.id == owner else None
    if latest is None:
        latest = await store.begin_cycle(db, community_id, STEPS)
    elif _complete(latest, await store.steps(db, latest.id)):
        if event not in _STARTS:
            return None
        latest = await store.begin_cycle(db, community_id, latest.steps)
    if kind is not None:
        await store.link(db, latest.id, kind, subject)
    return latest


async def _move(db: Database, cycle: Cycle, states: dict[str, Step], key: str,
                to: Status) -> None:
    """Forward only, and only steps the cycle uses."""
    if key not in cycle.steps:
        return
    step = states[key]
    if _RANK[_status(step.status)] >= _RANK[to]:
        return
    now = utcnow()
    moved = Step(key, to, step.started_at or now, now if to == "done" else None, False)
    await store.set_step(db, cycle.id, moved)
    states[key] = moved


async def _apply(db: Database, cycle: Cycle, states: dict[str, Step], event: Event,
                 subject: int, outcome: Outcome | None) -> bool:
    """The rules: what each event does to the steps; True if something is to be offered."""
    if event in ("survey_opened", "brainstorm_opened", "vote_opened"):
        await _move(db, cycle, states, "needs", "under_way")
        if event == "vote_opened":  # the shortlist's vote, however it was set up
            await store.take_offers(db, cycle.id, "vote", subject)
    elif event == "brainstorm_closed":
        shortlisted = await store.shortlist(db, subject)
        if len(shortlisted) >= 2:
            return await _offer(db, cycle, "vote", subject, {
                "problem": await store.round_prompt(db, subject), "count": len(shortlisted)})
    elif event == "vote_closed" and outcome is not None:
        return await _vote_closed(db, cycle, states, subject, outcome)
    elif event == "election_opened":
        await _move(db, cycle, states, "committee", "under_way")
    elif event == "election_counted":
        await _move(db, cycle, states, "committee", "done")
    elif event in ("plan_created", "task_added"):
        if event == "plan_created":
            await _move(db, cycle, states, "analysis", "under_way")  # the tree opens with it
            await store.take_offers(db, cycle.id, "plan", subject)  # also by /newplan
        await _move(db, cycle, states, "plan", "under_way")
    elif event == "tree_changed":
        counts = await store.plan_counts(db, subject)
        await _move(db, cycle, states, "analysis", "under_way")
        if counts.causes and counts.consequences:
            await _move(db, cycle, states, "analysis", "done")
    elif event in ("task_changed", "reading_added"):
        counts = await store.plan_counts(db, subject)
        if counts.working or counts.readings:  # the work has begun: the plan is made
            await _move(db, cycle, states, "plan", "done")
            await _move(db, cycle, states, "monitoring", "under_way")
        if counts.tasks and counts.done == counts.tasks:
            await _move(db, cycle, states, "monitoring", "done")
    elif event in ("resource_offered", "organisation_listed"):
        await _move(db, cycle, states, "resources", "under_way")
        offered, listed = await store.map_counts(db, cycle.community_id)
        if offered and listed:  # the resource map and the institutional diagram
            await _move(db, cycle, states, "resources", "done")
    elif event == "plan_evaluated" and "evaluation" in cycle.steps:
        await _move(db, cycle, states, "evaluation", "done")
        for key in cycle.steps:  # the evaluation closes what was still under way
            if states[key].status == "under_way":
                await _move(db, cycle, states, key, "done")
        found = await store.evaluation(db, subject)
        planned = await store.plan_problem(db, subject)
        if found is not None and found.next and planned is not None:
            return await _offer(db, cycle, "cycle", subject, {
                "problem": planned[0], "count": len(found.next), "cycle": cycle.number + 1})
    return False


async def _vote_closed(db: Database, cycle: Cycle, states: dict[str, Step], vote_id: int,
                       outcome: Outcome) -> bool:
    """Step 1's result: the winner is the most pressing problem (needs done); tied first
    places wait for the coordinators to choose. A vote nobody voted in decides nothing."""
    if not outcome.winners:
        return False
    await _move(db, cycle, states, "needs", "under_way")
    method = await db.fetchval("SELECT method FROM prioritisations WHERE id = ?", (vote_id,))
    score = outcome.standings[0].score
    if len(outcome.winners) > 1:
        return await _offer(db, cycle, "tie", vote_id, {
            "problems": [p.title for p in outcome.winners], "score": score, "method": method})
    problem = outcome.winners[0].title
    await store.set_problem(db, cycle.id, problem=problem, vote=vote_id, score=score,
                            method=str(method), tied=0)
    await _move(db, cycle, states, "needs", "done")
    return await _offer(db, cycle, "plan", vote_id, {
        "problem": problem, "score": score, "method": method, "tied": 0})


async def _offer(db: Database, cycle: Cycle, kind: str, subject: int,
                 payload: dict[str, Any], *, sent: bool = False) -> bool:
    return await store.add_offer(db, cycle.community_id, cycle.id, kind, subject, payload,
                                 sent=sent) is not None


# == the next steps offered to coordinators =======================================================


@dataclass(frozen=True, slots=True)
class Next:
    """A next step offered: what it says and what its button does."""

    id: int
    kind: Literal["plan", "tie", "vote", "cycle"]
    problem: str  # plan: the problem; vote: the brainstorm's question; cycle: the old plan's
    problems: tuple[str, ...]  # tie: the tied problems, in ranking order
    method: str | None  # plan, tie: how the vote was run
    score: float  # plan, tie: the first place's score
    tied: int  # plan: chosen among this many tied problems (0: a clear winner)
    count: int  # vote: problems shortlisted; cycle: "what next" items
    cycle: int  # cycle: the number of the cycle it begins
    taken: bool


def _next(offer: Offer) -> Next:
    data = offer.payload
    return Next(id=offer.id, kind=cast(Literal["plan", "tie", "vote", "cycle"], offer.kind),
                problem=str(data.get("problem") or ""),
                problems=tuple(str(p) for p in data.get("problems", ())),
                method=data.get("method"), score=float(data.get("score") or 0),
                tied=int(data.get("tied") or 0), count=int(data.get("count") or 0),
                cycle=int(data.get("cycle") or 0), taken=offer.taken_at is not None)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An offer to send: to the community's coordinators, each in their language."""

    next: Next
    community: Community
    coordinators: list[User]


async def unsent(db: Database) -> list[Outgoing]:
    """Offers not yet queued, in every community (at start, and when one is made)."""
    found = []
    for offer in await store.unsent_offers(db):
        community = await community_store.get_community(db, offer.community_id)
        if community is None:
            continue
        people = await community_store.members(db, community.id,
                                               roles=("coordinator", "admin"))
        found.append(Outgoing(_next(offer), community, [user for _m, user in people]))
    return found


async def sent(db: Database, offer_id: int) -> None:
    """The offer is in the outbox (its notice keys make a second queueing harmless)."""
    await store.offer_sent(db, offer_id)


async def _offer_of(db: Database, who: Member, offer_id: int, kind: str) -> Offer:
    require(who, "coordinator")
    offer = await store.get_offer(db, offer_id)
    if offer is None or offer.community_id != who.community.id or offer.kind != kind:
        raise Refused(NOT_AVAILABLE)
    return offer


async def choose(db: Database, who: Member, offer_id: int, index: int) -> Next:
    """A coordinator names the most pressing problem among those tied for first place:
    step 1 is done, and the plan for it is offered (the returned offer)."""
    async with db.transaction():
        offer = await _offer_of(db, who, offer_id, "tie")
        tie = _next(offer)
        already = await store.offer_for(db, "plan", offer.subject)
        if already is not None:  # chosen already (by this coordinator or another)
            return _next(already)
        if not 0 <= index < len(tie.problems):
            raise Refused(STALE)
        cycle = await store.get_cycle(db, offer.cycle_id)
        latest = await store.latest_cycle(db, who.community.id)
        if cycle is None or latest is None or latest.id != cycle.id:
            raise Refused(EARLIER_CYCLE)
        problem = tie.problems[index]
        await store.set_problem(db, cycle.id, problem=problem, vote=offer.subject,
                                score=tie.score, method=str(tie.method),
                                tied=len(tie.problems))
        states = await store.steps(db, cycle.id)
        await _move(db, cycle, states, "needs", "done")
        await store.take_offer(db, offer.id, who.user.id, index)
        await store.add_offer(db, who.community.id, cycle.id, "plan", offer.subject, {
            "problem": problem, "score": tie.score, "method": tie.method,
            "tied": len(tie.problems)}, sent=True)  # shown at once, in place of the tie
        chosen = await store.offer_for(db, "plan", offer.subject)
    assert chosen is not None  # written just now
    return _next(chosen)


async def plan_for(db: Database, who: Member, offer_id: int,
                   create: Callable[[str], Awaitable[int]]) -> int:
    """The plan for the vote's winner: made on the first tap with ``create(problem)`` (the
    plan capability's own /newplan), the same plan on every later tap. Returns its id."""
    async with db.transaction():  # two coordinators tapping at once make one plan
        offer = await _offer_of(db, who, offer_id, "plan")
        if offer.taken_by is not None and offer.result is not None and (
                await store.plan_problem(db, offer.result)):
            return offer.result
        plan_id = await create(_next(offer).problem)
        await store.take_offer(db, offer.id, who.user.id, plan_id)
    return plan_id


@dataclass(frozen=True, slots=True)
class VoteSetup:
    """What the priority vote's set-up starts with: the brainstorm's question (None when
    too long for a vote's title: then it is asked) and its shortlist."""

    title: str | None
    problems: list[str]


MAX_TITLE = 200  # a vote's title (bot.flows.voting.MAX_TITLE)
MAX_PROBLEMS = 60  # problems on one ballot (bot.flows.voting.MAX_PROBLEMS)


async def vote_setup(db: Database, who: Member, offer_id: int) -> VoteSetup:
    """What the set-up begins with; the offer is taken once the vote opens (a set-up given
    up leaves it offered)."""
    offer = await _offer_of(db, who, offer_id, "vote")
    problems = (await store.shortlist(db, offer.subject))[:MAX_PROBLEMS]
    if len(problems) < 2:
        raise Refused(NO_SHORTLIST)
    prompt = " ".join((await store.round_prompt(db, offer.subject) or "").split())
    return VoteSetup(prompt if 0 < len(prompt) <= MAX_TITLE else None, problems)


@dataclass(frozen=True, slots=True)
class NewCycle:
    """A cycle begun from an evaluation: its brainstorm, and the members to tell."""

    number: int
    cards: int  # the "what next" items on the board
    round: int | None
    prompt: str
    members: list[User]


async def next_cycle(db: Database, who: Member, offer_id: int,
                     seed: Callable[[int], Awaitable[int]]) -> NewCycle:
    """The next cycle, its step 1 a brainstorm of the evaluation's "what next" (``seed``:
    the plan capability's, given the evaluated plan; it returns how many cards)."""
    async with db.transaction():
        offer = await _offer_of(db, who, offer_id, "cycle")
        if offer.taken_at is not None:
            raise Refused(TAKEN)
        latest = await store.latest_cycle(db, who.community.id)
        if latest is None or latest.id != offer.cycle_id:
            raise Refused(EARLIER_CYCLE)
        cycle = await store.begin_cycle(db, who.community.id, latest.steps)
        cards = await seed(offer.subject)  # its brainstorm is linked to the new cycle
        await store.take_offer(db, offer.id, who.user.id, cycle.number)
    rounds = await store.links(db, cycle.id, "brainstorm")
    prompt = await store.round_prompt(db, rounds[-1]) if rounds else None
    members = await community_store.people(db, who.community.id)
    return NewCycle(cycle.number, cards, rounds[-1] if rounds else None, prompt or "",
                    members)


# == the summary: /process, and a late joiner's first look ========================================


@dataclass(frozen=True, slots=True)
class Facts:
    """What a step decided or holds so far, for its one line."""

    problem: str | None = None  # needs: the most pressing problem; later: the plan's
    method: str | None = None  # needs: how the vote was run
    score: float = 0
    tied: int = 0  # needs: chosen by coordinators among this many tied
    surveys: int = 0
    brainstorms: int = 0
    votes: int = 0
    name: str | None = None  # committee: the election
    seats: int = 0
    causes: int = 0
    consequences: int = 0
    resources: int = 0
    organisations: int = 0
    tasks: int = 0
    done: int = 0
    progress: int = 0
    readings: int = 0
    reached: str | None = None  # evaluation: yes | partly | no
    rating: int = 0
    next: int = 0


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    state: StepState
    by_hand: bool  # last set by a coordinator
    facts: Facts


MineKind = Literal["survey", "vote", "nominate", "ballot", "accept", "task", "brainstorm"]


@dataclass(frozen=True, slots=True)
class Mine:
    """Something open for this member now."""

    kind: MineKind
    id: int
    title: str
    closes: datetime | None
    due: date | None


@dataclass(frozen=True, slots=True)
class Summary:
    community: Community
    standing: Standing
    lines: list[Line]
    latest: bool  # the community's current cycle (else an earlier one, read only)
    mine: list[Mine]  # open for this member (the current cycle only)
    next: Next | None  # coordinators: the next step offered and not yet taken
    cycles: list[int]  # every cycle's number, oldest first
    may_manage: bool


async def _facts(db: Database, cycle: Cycle) -> dict[str, Facts]:
    surveys = await store.links(db, cycle.id, "survey")
    rounds = await store.links(db, cycle.id, "brainstorm")
    votes = await store.links(db, cycle.id, "vote")
    facts = {"needs": Facts(problem=cycle.problem, method=cycle.problem_method,
                            score=cycle.problem_score or 0, tied=cycle.problem_tied,
                            surveys=len(surveys), brainstorms=len(rounds), votes=len(votes))}
    elections = await store.links(db, cycle.id, "election")
    counted = await store.election_result(db, elections[-1]) if elections else None
    if counted is not None:
        facts["committee"] = Facts(name=counted[0], seats=counted[1])
    offered, listed = await store.map_counts(db, cycle.community_id)
    facts["resources"] = Facts(resources=offered, organisations=listed)
    plans = await store.links(db, cycle.id, "plan")
    planned = await store.plan_problem(db, plans[-1]) if plans else None
    if plans and planned is not None:
        counts = await store.plan_counts(db, plans[-1])
        problem = planned[0]
        facts["analysis"] = Facts(problem=problem, causes=counts.causes,
                                  consequences=counts.consequences)
        facts["plan"] = Facts(problem=problem, tasks=counts.tasks)
        facts["monitoring"] = Facts(tasks=counts.tasks, done=counts.done,
                                    progress=counts.progress, readings=counts.readings)
        evaluation = await store.evaluation(db, plans[-1])
        if evaluation is not None:
            facts["evaluation"] = Facts(problem=problem, reached=evaluation.reached,
                                        rating=evaluation.rating, next=len(evaluation.next))
    return facts


def _title(texts: str, lang: str, default: str) -> str:
    """A survey's title in the reader's language, else the community's, else any."""
    try:
        found = json.loads(texts)
    except ValueError:
        return texts
    if not isinstance(found, dict):
        return str(found)
    return str(found.get(lang) or found.get(default) or next(iter(found.values()), ""))


async def _summary(db: Database, community: Community, user: User, lang: str, *,
                   coordinator: bool, number: int | None) -> Summary:
    latest = await store.latest_cycle(db, community.id)
    cycle = latest if number is None or (latest is not None and latest.number == number) \
        else await store.cycle_numbered(db, community.id, number)
    if number is not None and cycle is None:
        raise Refused(NOT_AVAILABLE)
    states = await store.steps(db, cycle.id) if cycle is not None else {}
    found = _standing(cycle, states)
    facts = await _facts(db, cycle) if cycle is not None else {}
    lines = [Line(index, state, states[state.key].by_hand if states else False,
                  facts.get(state.key, Facts()))
             for index, state in enumerate(found.steps, start=1)]
    is_latest = cycle is None or latest is None or cycle.id == latest.id
    mine = [Mine(cast(MineKind, o.kind), o.id, _title(o.title, lang, community.default_language)
                 if o.kind == "survey" else o.title, o.closes, o.due)
            for o in await store.open_for(db, community.id, user.id)] if is_latest else []
    offer = await store.open_offer(db, cycle.id) if cycle is not None and is_latest \
        and coordinator else None
    return Summary(community, found, lines, is_latest, mine,
                   _next(offer) if offer is not None else None,
                   await store.numbers(db, community.id) or [1],
                   may_manage=coordinator and is_latest)


async def summary(db: Database, who: Member, number: int | None = None) -> Summary:
    """Where the community stands (or stood, in an earlier cycle ``number``): each step with
    what it decided, and what is open for this member now."""
    return await _summary(db, who.community, who.user, who.t.lang,
                          coordinator=who.is_coordinator, number=number)


async def welcome(db: Database, community_id: int, user_id: int) -> Summary | None:
    """For someone who just joined: the summary, once, if the cycle has begun."""
    community = await community_store.get_community(db, community_id)
    user = await community_store.get_user(db, user_id)
    if community is None or user is None or not (await standing(db, community_id)).begun:
        return None
    if not await store.welcome_once(db, community_id, user_id):
        return None
    return await _summary(db, community, user, user.language, coordinator=False, number=None)


# == coordinators: steps by hand, undo, the steps used ===========================================


@dataclass(frozen=True, slots=True)
class Manage:
    """The steps of the current cycle as a coordinator changes them: each of the seven with
    its state if the cycle uses it (None if not), and the mark undo takes back."""

    cycle: int
    steps: list[tuple[StepKey, StepState | None]]
    last: Mark | None


async def _current(db: Database, who: Member) -> Cycle:
    """The community's latest cycle (the first one is made when first changed by hand)."""
    require(who, "coordinator")
    cycle = await store.latest_cycle(db, who.community.id)
    return cycle if cycle is not None else await store.begin_cycle(db, who.community.id, STEPS)


async def _manage(db: Database, cycle: Cycle) -> Manage:
    states = await store.steps(db, cycle.id)
    found = {s.key: s for s in _standing(cycle, states).steps}
    return Manage(cycle.number, [(key, found.get(key)) for key in KEYS],
                  await store.last_mark(db, cycle.id))


async def manage(db: Database, who: Member) -> Manage:
    require(who, "coordinator")
    cycle = await store.latest_cycle(db, who.community.id)
    if cycle is None:
        return Manage(1, [(key, StepState(key, "not_started", None, None)) for key in KEYS],
                      None)
    return await _manage(db, cycle)


def _check_step(step: str) -> None:
    if step not in STEPS:
        raise Refused(STALE)


async def mark(db: Database, who: Member, step: str, status: str) -> Manage:
    """A coordinator marks a step of the current cycle by hand (what happened outside the
    chat, or a correction); undo takes it back."""
    _check_step(step)
    if status not in _RANK:
        raise Refused(STALE)
    async with db.transaction():
        cycle = await _current(db, who)
        if step not in cycle.steps:
            raise Refused(NOT_USED)
        before = (await store.steps(db, cycle.id))[step]
        if before.status == status:
            raise Refused(SAME)
        now = utcnow()
        started = None if status == "not_started" else before.started_at or now
        await store.add_mark(db, cycle.id, status, before, who.user.id)
        await store.set_step(db, cycle.id, Step(step, status, started,
                                                now if status == "done" else None, True))
    return await _manage(db, cycle)


async def undo(db: Database, who: Member, mark_id: int) -> Manage:
    """Take back the latest mark — the one the button named (an older button is stale)."""
    require(who, "coordinator")
    cycle = await store.latest_cycle(db, who.community.id)
    last = await store.last_mark(db, cycle.id) if cycle is not None else None
    if last is None:
        raise Refused(NOTHING_TO_UNDO)
    if last.id != mark_id:
        raise Refused(STALE)
    if cycle is None or not await store.undo_mark(db, last):
        raise Refused(NOTHING_TO_UNDO)
    return await _manage(db, cycle)


async def use(db: Database, who: Member, step: str, used: bool) -> Manage:
    """Use a step in the current cycle (and the next ones), or leave it out: a short cycle.
    A step that has begun stays."""
    _check_step(step)
    async with db.transaction():
        cycle = await _current(db, who)
        chosen = set(cycle.steps)
        if used:
            chosen.add(step)
        elif step in chosen:
            if (await store.steps(db, cycle.id))[step].status != "not_started":
                raise Refused(BEGUN)
            if len(chosen) == 1:
                raise Refused(LAST_STEP)
            chosen.discard(step)
        await store.set_steps_used(db, cycle.id, tuple(s for s in STEPS if s in chosen))
    reloaded = await store.get_cycle(db, cycle.id)
    assert reloaded is not None
    return await _manage(db, reloaded)
