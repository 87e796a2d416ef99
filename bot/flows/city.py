"""City rules: communities under a parent, reading what lies below, the merged list of the
problems prioritised below, a vote at the parent's level, and approval up the chain.

Seed 004's city planning, in chat: working groups at district and neighbourhood level list
and prioritise their problems; the problems of every district are merged and prioritised
again centrally; the result goes up a chain of approvals. Here a community may have a
parent (an administrator builds the tree); what a parent may do with what lies below is
decided in this module only:

- **Reading.** A coordinator of a parent reads what lies below — figures, priorities, plans
  — through :func:`readable`, "may read community X". Reading never lets them act inside a
  child: ``people.require`` is untouched, so closing a child's vote or broadcasting as its
  coordinator stays refused. A parent acts below only through this module's own actions:
  approving or returning a submission, a parent broadcast, the parent-level vote.
- **The merged list.** Each community below contributes the standings of its newest closed
  priority vote, each problem once, with its score there (stickers, a pairwise share, a
  matrix score). Merging folds a problem into another; a community's support is counted
  once per merged problem — when two problems of the same community are merged, the larger
  of their two scores counts, since the same residents may have backed both — and the
  supports of different communities are summed. The latest merge can be undone.
- **The parent's prioritisation.** A sticker vote over the merged list, by the parent's
  committee (its members with the committee role or above) or by every member of the
  parent and of every community below — each person once, from the community they are in.
- **Approval.** A community's coordinator submits a vote's result, a brainstorm shortlist,
  the result of its own city vote or a plan to its parent; the parent's committee or
  coordinator approves it or returns it with a comment; approved, the parent may carry it
  up to its own parent. Every step is kept with who and when, and marked at every level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.flows import process, voting
from bot.flows.errors import STALE, Refused
from bot.flows.people import Actor, Member, require, taking_part
from bot.flows.voting import Outcome, Standing
from bot.i18n import N_
from storage import brainstorm as brainstorm_store
from storage import city as store
from storage import community as community_store
from storage import plan as plan_store
from storage import voting as voting_store
from storage.city import CityVote, Event, Item, Merge, MergedProblem, Submission, Support
from storage.community import Community, StakeholderGroup, User
from storage.db import Database
from storage.voting import Prioritisation, Problem

__all__ = ["CityVote", "Community", "Event", "Item", "Merge", "MergedProblem", "Outcome",
           "Prioritisation", "StakeholderGroup", "Standing", "Submission", "Support", "User"]

Electorate = Literal["committee", "below"]
Kind = Literal["vote", "cityvote", "shortlist", "plan"]
ELECTORATES: tuple[Electorate, ...] = ("committee", "below")
KINDS: tuple[Kind, ...] = ("vote", "cityvote", "shortlist", "plan")
STICKERS = 3  # the seeds' sticker method: the three most pressing problems
MAX_ITEMS = voting.MAX_PROBLEMS
MAX_COMMENT = 1000
TOP = 3  # a child's top priorities shown to its parent

NOT_AVAILABLE = N_("This is not available to you.")
ONLY_ADMINS = N_("Only administrators of this bot can arrange communities.")
ONLY_COORDINATORS = N_("Only coordinators can see the communities below theirs.")
NO_CHILDREN = N_("No community is under {community} yet. An administrator arranges them"
                 " with /city.")
NO_PARENT = N_("{community} is not under another community, so there is nobody to submit"
               " to.")
CYCLE = N_("A community cannot go under itself or under a community below it.")
NOTHING_TO_UNDO = N_("There is nothing to undo.")
TOO_FEW = N_("The merged list needs at least two problems before it can be prioritised.")
VOTE_OPEN = N_("A vote over the merged list is already open. Close it first.")
VOTE_CLOSED = N_("This vote has closed; changes are no longer possible.")
NOT_IN_ELECTORATE = N_("This vote is for the committee of {community}.")
NOT_BELOW = N_("This vote is for {community} and the communities below it. If you belong"
               " to one of them, make it your current community with /community.")
FULL = N_("All your stickers are placed. Tap a problem with your sticker to take it back.")
ONLY_DECIDERS = N_("Only the committee and the coordinators of {community} can decide on"
                   " this.")
ALREADY_DECIDED = N_("This has already been decided.")
ALREADY_SUBMITTED = N_("This is already waiting for a decision or approved.")
NOTHING_TO_SUBMIT = N_("There is nothing of that kind to submit yet.")
COMMENT_NEEDED = N_("Please write what should change.")
COMMENT_TOO_LONG = N_("Please keep the comment under {n} characters.")

# Audiences of a parent's broadcast (``bot/flows/broadcast.py``), named here so their
# labels live in this capability's catalog.
BELOW_AUDIENCE = N_("Everyone in {community} and every community below")
CHILD_AUDIENCE = N_("Everyone in {community} and below it")


# -- the tree (administrators) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Branch:
    """A community in the tree, with how deep it sits (0: at the top)."""

    community: Community
    depth: int
    parent_id: int | None


def layout(communities: Sequence[Community], parents: Mapping[int, int]) -> list[Branch]:
    """Every community once, each under its parent, siblings by name: an outline."""
    known = {c.id for c in communities}
    under: dict[int | None, list[Community]] = {}
    for community in communities:
        parent = parents.get(community.id)
        under.setdefault(parent if parent in known else None, []).append(community)
    for siblings in under.values():
        siblings.sort(key=lambda c: (c.name.casefold(), c.id))
    outline: list[Branch] = []
    placed: set[int] = set()

    def walk(parent: int | None, depth: int) -> None:
        for community in under.get(parent, []):
            if community.id in placed:
                continue
            placed.add(community.id)
            outline.append(Branch(community, depth, parents.get(community.id)))
            walk(community.id, depth + 1)

    walk(None, 0)
    for community in communities:  # a cycle cannot be stored, but never lose a row
        if community.id not in placed:
            outline.append(Branch(community, 0, parents.get(community.id)))
    return outline


def would_cycle(parents: Mapping[int, int], child: int, parent: int) -> bool:
    """Whether putting ``child`` under ``parent`` makes a cycle: ``parent`` is ``child``
    itself or lies below it."""
    cursor: int | None = parent
    seen: set[int] = set()
    while cursor is not None and cursor not in seen:
        if cursor == child:
            return True
        seen.add(cursor)
        cursor = parents.get(cursor)
    return False


def _admin(who: Actor) -> None:
    if not who.is_admin:
        raise Refused(ONLY_ADMINS)


async def tree(db: Database, who: Actor) -> list[Branch]:
    """The whole tree, for an administrator."""
    _admin(who)
    return layout(await community_store.list_communities(db), await store.parents(db))


@dataclass(frozen=True, slots=True)
class Moving:
    """A community an administrator is placing, and where it may go."""

    community: Community
    parent: Community | None
    options: list[Community]  # every community not itself nor below it


async def moving(db: Database, who: Actor, community_id: int) -> Moving:
    _admin(who)
    everyone = await community_store.list_communities(db)
    community = next((c for c in everyone if c.id == community_id), None)
    if community is None:
        raise Refused(NOT_AVAILABLE)
    parents = await store.parents(db)
    by_id = {c.id: c for c in everyone}
    current = parents.get(community.id)
    options = [c for c in layout(everyone, parents)
               if not would_cycle(parents, community.id, c.community.id)]
    return Moving(community, by_id.get(current) if current is not None else None,
                  [b.community for b in options])


async def set_parent(db: Database, who: Actor, community_id: int,
                     parent_id: int | None) -> Moving:
    """Put a community under another, or (``parent_id`` None) at the top; no cycles."""
    _admin(who)
    found = await store.communities(db, [community_id] + ([parent_id] if parent_id else []))
    if community_id not in found or (parent_id is not None and parent_id not in found):
        raise Refused(NOT_AVAILABLE)
    if parent_id is not None and would_cycle(await store.parents(db), community_id, parent_id):
        raise Refused(CYCLE)
    try:
        await store.set_parent(db, community_id, parent_id, who.user.id)
    except store.TreeRejected:  # the schema's own check: a cycle made meanwhile
        raise Refused(CYCLE) from None
    return await moving(db, who, community_id)


# -- reading what lies below ---------------------------------------------------------------


async def readable(db: Database, who: Member, community_id: int) -> Community:
    """"May read community X": ``who`` coordinates their current community and X is it or
    lies below it. Reading only — acting inside X still needs a role in X itself."""
    if not who.is_coordinator:
        raise Refused(ONLY_COORDINATORS)
    if community_id == who.community.id:
        return who.community
    if community_id not in await store.descendants(db, who.community.id):
        raise Refused(NOT_AVAILABLE)
    found = await community_store.get_community(db, community_id)
    if found is None:
        raise Refused(NOT_AVAILABLE)
    return found


@dataclass(frozen=True, slots=True)
class Figures:
    """What a parent's coordinator reads about one community below."""

    community: Community
    standing: process.Standing  # where its participation cycle is (``/process``)
    members: int
    members_by_group: dict[str | None, int]
    groups: list[StakeholderGroup]
    vote: Prioritisation | None  # its newest closed priority vote
    voters: int
    voters_by_group: dict[str | None, int]
    top: list[Standing]  # that vote's first places
    below: int  # communities under it
    plans: list[PlanLine]


@dataclass(frozen=True, slots=True)
class PlanLine:
    """A plan as a parent reads it: its problem, progress and approvals."""

    plan: plan_store.Plan
    progress: int
    marks: list[Mark]


async def figures(db: Database, community: Community) -> Figures:
    """The figures of one community (its reader was checked by the caller)."""
    by_group = await store.members_by_group(db, community.id)
    newest = (await store.newest_closed_votes(db, [community.id])).get(community.id)
    vote = await voting_store.get(db, newest) if newest is not None else None
    top: list[Standing] = []
    voters = 0
    voters_by_group: dict[str | None, int] = {}
    if vote is not None:
        outcome = await voting.outcome(db, vote)
        voters = outcome.voters
        top = [s for s in outcome.standings if s.score > 0][:TOP]
        voters_by_group = await voting_store.participation_by_group(db, vote)
    plans = []
    for plan in (await plan_store.plans(db, community.id))[:5]:
        tasks = await plan_store.tasks(db, plan.id)
        progress = round(sum(t.progress for t in tasks) / len(tasks)) if tasks else 0
        plans.append(PlanLine(plan, progress, await marks(db, "plan", plan.id)))
    return Figures(
        community=community, standing=await process.standing(db, community.id),
        members=sum(by_group.values()), members_by_group=by_group,
        groups=await community_store.stakeholder_groups(db, community.id),
        vote=vote, voters=voters, voters_by_group=voters_by_group, top=top,
        below=len(await store.descendants(db, community.id)), plans=plans)


async def community_figures(db: Database, who: Member, community_id: int) -> Figures:
    """One community below, read by a coordinator above it."""
    return await figures(db, await readable(db, who, community_id))


@dataclass(frozen=True, slots=True)
class CityView:
    """What ``/city`` shows this person: where their community stands in the tree, what
    lies below (for its coordinators), what waits for them, and votes they may take part
    in."""

    community: Community
    chain: list[Community]  # the parent, its parent … (nearest first)
    children: list[Community]
    coordinator: bool
    decider: bool  # may approve or return what is submitted here
    waiting: int  # submissions waiting for a decision here
    open_vote: CityVote | None  # this community's own vote over its merged list
    ballots: list[tuple[CityVote, Community]]  # open votes (here or above) they may vote in
    results: list[tuple[CityVote, Community, Outcome]]  # the newest closed vote here and above
    mine: list[Submission]  # what this community has submitted (for its coordinators)


async def view(db: Database, who: Member) -> CityView:
    community = who.community
    chain_ids = await store.ancestors(db, community.id)
    found = await store.communities(db, chain_ids)
    chain = [found[i] for i in chain_ids if i in found]
    decider = who.has_role("committee")
    children = await store.children(db, community.id)
    waiting = 0
    if decider and children:
        waiting = sum(s.status == "submitted" for s in await store.submissions_to(db, community.id))
    open_here = await store.votes_of(db, [community.id], status="open")
    ballots: list[tuple[CityVote, Community]] = []
    for vote in await store.votes_of(db, [community.id, *chain_ids], status="open"):
        if await _may_vote(db, who, vote) and who.membership is not None:
            ballots.append((vote, community if vote.community_id == community.id
                            else found[vote.community_id]))
    results: list[tuple[CityVote, Community, Outcome]] = []
    for place in [community, *chain]:
        closed = await store.votes_of(db, [place.id], status="closed")
        if closed:
            results.append((closed[0], place, (await city_result(db, closed[0])).outcome))
    return CityView(
        community=community, chain=chain, children=children,
        coordinator=who.is_coordinator, decider=decider, waiting=waiting,
        open_vote=open_here[0] if open_here else None, ballots=ballots, results=results,
        mine=await store.submissions_from(db, community.id) if who.is_coordinator else [])


async def figures_below(db: Database, who: Member, community_ids: Sequence[int],
                        ) -> list[Figures]:
    """The figures of some communities below the coordinator's (a page of them)."""
    if not who.is_coordinator:
        raise Refused(ONLY_COORDINATORS)
    below = set(await store.descendants(db, who.community.id))
    if any(community_id not in below for community_id in community_ids):
        raise Refused(NOT_AVAILABLE)
    found = await store.communities(db, list(community_ids))
    return [await figures(db, found[c]) for c in community_ids if c in found]


async def children_of(db: Database, who: Member, community_id: int) -> list[Community]:
    """The communities directly below one the coordinator may read."""
    community = await readable(db, who, community_id)
    return await store.children(db, community.id)


# -- the merged list -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """A problem of the merged list with everything folded into it."""

    problem: MergedProblem
    total: float  # the sum over communities of each one's support
    by_source: dict[int, float]  # community below → its support (counted once)
    folded: list[MergedProblem]  # the problems merged into it


def _root(problem: MergedProblem, by_id: Mapping[int, MergedProblem]) -> MergedProblem:
    """The visible problem ``problem`` ends up in, up the chain of merges."""
    cursor, seen = problem, {problem.id}
    while cursor.status == "merged" and cursor.merged_into is not None and (
            cursor.merged_into in by_id):
        cursor = by_id[cursor.merged_into]
        if cursor.id in seen:
            break
        seen.add(cursor.id)
    return cursor


def combine(problems: Sequence[MergedProblem], supports: Iterable[Support],
            current: Mapping[int, int]) -> list[Entry]:
    """The merged list: each visible problem with the support of everything merged into it,
    best supported first.

    ``current`` maps each community below to its newest closed vote: support from an older
    vote of that community no longer counts (it voted again), and a problem left with none
    is not listed. A community backs a merged problem once, with the largest score among
    its problems folded into it; different communities' supports are added up.
    """
    by_id = {p.id: p for p in problems}
    backing: dict[int, dict[int, float]] = {}
    for row in supports:
        problem = by_id.get(row.problem_id)
        if problem is None or current.get(row.source_id) != row.prioritisation_id:
            continue
        root = _root(problem, by_id)
        sources = backing.setdefault(root.id, {})
        sources[row.source_id] = max(sources.get(row.source_id, 0.0), row.score)
    folded: dict[int, list[MergedProblem]] = {}
    for problem in problems:
        root = _root(problem, by_id)
        if root.id != problem.id:
            folded.setdefault(root.id, []).append(problem)
    entries = [Entry(by_id[root_id], sum(sources.values()), dict(sources),
                     folded.get(root_id, []))
               for root_id, sources in backing.items() if sources]
    entries.sort(key=lambda e: (-e.total, e.problem.id))
    return entries


@dataclass(frozen=True, slots=True)
class MergedList:
    community: Community
    entries: list[Entry]
    sources: dict[int, Community]  # the communities below whose votes count
    methods: dict[int, str]  # how each of them voted: stickers, pairwise, matrix
    last: Merge | None  # the merge undo takes back
    open_vote: CityVote | None


def _coordinating(who: Member) -> None:
    if not who.is_coordinator:
        raise Refused(ONLY_COORDINATORS)


async def _sources(db: Database, community_id: int) -> dict[int, int]:
    """Each community below with a closed vote → its newest closed vote."""
    return await store.newest_closed_votes(db, await store.descendants(db, community_id))


async def gather(db: Database, community_id: int, current: Mapping[int, int] | None = None,
                 ) -> int:
    """Bring the newest closed vote of every community below (``current``: each one's, if
    known) into the parent's list — its problems with a score, each once. Returns how many
    problems were added."""
    if current is None:
        current = await _sources(db, community_id)
    done = {s.prioritisation_id for s in await store.support(db, community_id)}
    found: list[store.Gathered] = []
    for source_id, vote_id in sorted(current.items()):
        if vote_id in done:
            continue
        vote = await voting_store.get(db, vote_id)
        if vote is None:
            continue
        outcome = await voting.outcome(db, vote)
        found += [store.Gathered(source_id, vote.id, s.problem.id, vote.method,
                                 s.problem.title, s.score, s.rank)
                  for s in outcome.standings if s.score > 0]
    return await store.gather(db, community_id, found) if found else 0


async def merged_list(db: Database, who: Member) -> MergedList:
    """The merged list of the coordinator's community, brought up to date first."""
    _coordinating(who)
    community = who.community
    if not await store.children(db, community.id):
        raise Refused(NO_CHILDREN, community=community.name)
    current = await _sources(db, community.id)
    await gather(db, community.id, current)
    supports = await store.support(db, community.id)
    entries = combine(await store.merged_problems(db, community.id), supports, current)
    methods = {s.source_id: s.method for s in supports
               if current.get(s.source_id) == s.prioritisation_id}
    open_votes = await store.votes_of(db, [community.id], status="open")
    return MergedList(community, entries, await store.communities(db, list(current)),
                      methods, await store.last_merge(db, community.id),
                      open_votes[0] if open_votes else None)


async def _problem_here(db: Database, who: Member, problem_id: int) -> MergedProblem:
    _coordinating(who)
    problem = await store.get_problem(db, problem_id)
    if problem is None or problem.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    if problem.status != "visible":
        raise Refused(STALE)
    return problem


async def merge_targets(db: Database, who: Member, problem_id: int,
                        ) -> tuple[MergedProblem, list[Entry]]:
    """The problem to merge and the entries of the list it may go into."""
    problem = await _problem_here(db, who, problem_id)
    listed = await merged_list(db, who)
    return problem, [e for e in listed.entries if e.problem.id != problem.id]


async def merge(db: Database, who: Member, problem_id: int, into_id: int) -> MergedProblem:
    """Fold a problem into another of the same list: each community's support counts once
    in the result."""
    problem = await _problem_here(db, who, problem_id)
    into = await _problem_here(db, who, into_id)
    if problem.id == into.id:
        raise Refused(NOT_AVAILABLE)
    if not await store.merge(db, problem, into, who.user.id):
        raise Refused(STALE)
    return into


async def undo(db: Database, who: Member, merge_id: int) -> Merge:
    """Take back the latest merge — the one the button named."""
    _coordinating(who)
    last = await store.last_merge(db, who.community.id)
    if last is None:
        raise Refused(NOTHING_TO_UNDO)
    if last.id != merge_id:
        raise Refused(STALE)
    if not await store.undo_merge(db, last):
        raise Refused(NOTHING_TO_UNDO)
    return last


# -- the parent's vote over its merged list --------------------------------------------------


async def _grouped(db: Database, ids: list[int], people: list[tuple[int, User]],
                   ) -> list[tuple[Community, list[User]]]:
    """People by the community they are told in, in the order of ``ids``."""
    found = await store.communities(db, ids)
    grouped: dict[int, list[User]] = {}
    for community_id, user in people:
        grouped.setdefault(community_id, []).append(user)
    return [(found[c], grouped[c]) for c in ids if c in grouped and c in found]


async def electorate(db: Database, vote: CityVote) -> list[tuple[Community, list[User]]]:
    """Who may vote, by the community they are told in, each person once: the committee
    of the parent, or every member of the parent and of every community below."""
    if vote.electorate == "committee":
        ids = [vote.community_id]
        people = await store.people_in(db, ids, roles=("committee", "coordinator"))
    else:
        ids = [vote.community_id, *await store.descendants(db, vote.community_id)]
        people = await store.people_in(db, ids)
    return await _grouped(db, ids, people)


@dataclass(frozen=True, slots=True)
class Opened:
    vote: CityVote
    problems: int
    audience: list[tuple[Community, list[User]]]  # whom to tell, by community


async def open_vote(db: Database, who: Member, chosen: str) -> Opened:
    """A sticker vote over the merged list (best supported first, at most 60 problems), by
    the parent's committee or by everyone below; returns it with whom to tell."""
    _coordinating(who)
    if chosen not in ELECTORATES:
        raise Refused(STALE)
    listed = await merged_list(db, who)
    if listed.open_vote is not None:
        raise Refused(VOTE_OPEN)
    entries = listed.entries[:MAX_ITEMS]
    if len(entries) < 2:
        raise Refused(TOO_FEW)
    vote = await store.open_vote(db, who.community.id, chosen, STICKERS,
                                 [(e.problem.id, e.problem.title, e.total) for e in entries],
                                 who.user.id)
    if vote is None:
        raise Refused(VOTE_OPEN)
    return Opened(vote, len(entries), await electorate(db, vote))


async def _may_vote(db: Database, who: Member, vote: CityVote) -> bool:
    try:
        await _eligible(db, who, vote)
    except Refused:
        return False
    return True


async def _eligible(db: Database, who: Member, vote: CityVote) -> Community:
    """The community the vote is held in, if ``who`` may vote in it from where they are."""
    held = await community_store.get_community(db, vote.community_id)
    if held is None:
        raise Refused(NOT_AVAILABLE)
    if vote.electorate == "committee":
        if who.community.id != held.id or not who.has_role("committee"):
            raise Refused(NOT_IN_ELECTORATE, community=held.name)
    elif who.community.id != held.id and held.id not in await store.ancestors(db,
                                                                           who.community.id):
        raise Refused(NOT_BELOW, community=held.name)
    taking_part(who)
    return held


@dataclass(frozen=True, slots=True)
class Ballot:
    vote: CityVote
    community: Community  # where it is held
    items: list[Item]
    mine: dict[int, int]  # item → slot

    @property
    def left(self) -> int:
        return self.vote.stickers - len(self.mine)


async def _vote(db: Database, vote_id: int) -> CityVote:
    vote = await store.get_vote(db, vote_id)
    if vote is None:
        raise Refused(NOT_AVAILABLE)
    return vote


async def ballot(db: Database, who: Member, vote_id: int) -> Ballot:
    """The ballot of an open city vote ``who`` may vote in."""
    vote = await _vote(db, vote_id)
    held = await _eligible(db, who, vote)
    if not vote.is_open:
        raise Refused(VOTE_CLOSED)
    return Ballot(vote, held, await store.items(db, vote.id),
                  await store.my_stickers(db, vote.id, who.user.id))


async def toggle(db: Database, who: Member, vote_id: int, position: int,
                 ) -> tuple[Ballot, bool]:
    """Place a sticker on the problem at ``position``, or take it back; True when placed.
    The budget, one sticker per problem and "only while open" are the schema's too."""
    shown = await ballot(db, who, vote_id)
    item = next((i for i in shown.items if i.position == position), None)
    if item is None:
        raise Refused(NOT_AVAILABLE)
    if item.id not in shown.mine and shown.left <= 0:
        raise Refused(FULL)
    try:
        placed = await store.toggle_sticker(db, shown.vote, item, who.user.id,
                                            from_community=who.community.id, group=who.group)
    except store.StickerRejected as rejected:
        raise Refused(VOTE_CLOSED if rejected.reason == "closed" else FULL) from None
    return await ballot(db, who, vote_id), placed


@dataclass(frozen=True, slots=True)
class CityResult:
    vote: CityVote
    community: Community
    outcome: Outcome
    by_community: list[tuple[Community, int]]  # voters per community they voted from


async def city_result(db: Database, vote: CityVote) -> CityResult:
    """The standings of a city vote: stickers per problem, ranked as the communities' own
    sticker votes are (ties share a place; see docs/voting.md)."""
    listed = await store.items(db, vote.id)
    problems = [Problem(i.id, vote.id, i.position, i.title, 0) for i in listed]
    outcome = voting.sticker_outcome(problems, await store.tally(db, vote.id),
                                     await store.voters_count(db, vote.id))
    counts = await store.voters_by_community(db, vote.id)
    found = await store.communities(db, [c for c in counts if c is not None])
    held = await community_store.get_community(db, vote.community_id)
    assert held is not None  # communities are never deleted while their votes exist
    return CityResult(vote, held, outcome,
                      sorted(((found[c], n) for c, n in counts.items() if c in found),
                             key=lambda pair: (-pair[1], pair[0].name)))


async def results_of(db: Database, who: Member, vote_id: int) -> CityResult:
    """A city vote's result: once closed, for everyone in the community that held it and
    in every community below (whoever voted: the priorities are theirs); while open, for
    the coordinators of the community holding it."""
    vote = await _vote(db, vote_id)
    if vote.is_open:
        if vote.community_id != who.community.id:
            raise Refused(NOT_AVAILABLE)
        _coordinating(who)
    elif vote.community_id != who.community.id and vote.community_id not in (
            await store.ancestors(db, who.community.id)):
        raise Refused(NOT_AVAILABLE)
    return await city_result(db, vote)


async def close_vote(db: Database, who: Member, vote_id: int,
                     ) -> tuple[CityResult, list[tuple[Community, list[User]]]]:
    """A coordinator of the parent closes its vote; the result goes to everyone who voted
    and to the coordinators of the parent and of every community below."""
    _coordinating(who)
    vote = await _vote(db, vote_id)
    if vote.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    if not await store.close_vote(db, vote.id):
        raise Refused(VOTE_CLOSED)
    closed = await _vote(db, vote.id)
    voted = await store.voters(db, vote.id)
    ids = [vote.community_id, *await store.descendants(db, vote.community_id)]
    coordinators = {u.id for _c, u in await store.people_in(
        db, ids, roles=("coordinator", "admin"))}
    told = [(c, u) for c, u in await store.people_in(db, ids)
            if u.id in voted or u.id in coordinators]
    return await city_result(db, closed), await _grouped(db, ids, told)


# -- approval up the chain -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mark:
    """One level's decision on something submitted: who decided (the parent), how, when."""

    submission: Submission
    parent: Community
    status: str
    at: datetime
    comment: str | None


async def marks(db: Database, kind: str, ref_id: int) -> list[Mark]:
    """Every level's decision on one thing (a plan, a vote's result …), lowest first:
    "approved by the district, waiting at the city"."""
    found = await store.submissions_of(db, kind, ref_id)
    if not found:
        return []
    parents = await store.communities(db, sorted({s.parent_id for s in found}))
    result = []
    for submission in found:
        history = await store.events(db, submission.id)
        last = history[-1] if history else None
        result.append(Mark(submission, parents[submission.parent_id], submission.status,
                           last.at if last else submission.updated_at,
                           last.comment if last else None))
    return result


def check_comment(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise Refused(COMMENT_NEEDED)
    if len(text) > MAX_COMMENT:
        raise Refused(COMMENT_TOO_LONG, n=MAX_COMMENT)
    return text


@dataclass(frozen=True, slots=True)
class Submittable:
    """Something a community may submit to its parent."""

    kind: Kind
    ref_id: int
    title: str
    submission: Submission | None  # its submission to the parent, if there is one


@dataclass(frozen=True, slots=True)
class Outbox:
    """What a coordinator may submit to the parent, and what they may carry further up."""

    community: Community
    parent: Community
    things: list[Submittable]
    approved_below: list[Submission]  # approved here, not yet carried up


async def _parent(db: Database, community: Community) -> Community:
    parent_id = await store.parent_of(db, community.id)
    parent = await community_store.get_community(db, parent_id) if parent_id else None
    if parent is None:
        raise Refused(NO_PARENT, community=community.name)
    return parent


async def outbox(db: Database, who: Member) -> Outbox:
    """What the coordinator's community may submit to its parent."""
    require(who, "coordinator")
    community = who.community
    parent = await _parent(db, community)
    sent = {(s.kind, s.ref_id): s for s in await store.submissions_from(db, community.id)
            if s.parent_id == parent.id}
    things: list[Submittable] = []
    newest = (await store.newest_closed_votes(db, [community.id])).get(community.id)
    closed = await voting_store.get(db, newest) if newest is not None else None
    if closed is not None:
        things.append(Submittable("vote", closed.id, closed.title,
                                  sent.get(("vote", closed.id))))
    own = await store.votes_of(db, [community.id], status="closed")
    if own:
        things.append(Submittable("cityvote", own[0].id, community.name,
                                  sent.get(("cityvote", own[0].id))))
    brainstorm = await brainstorm_store.latest_round(db, community.id)
    if brainstorm is not None and await brainstorm_store.cards(db, brainstorm.id,
                                                               shortlisted=True):
        things.append(Submittable("shortlist", brainstorm.id, brainstorm.prompt,
                                  sent.get(("shortlist", brainstorm.id))))
    for plan in (await plan_store.plans(db, community.id))[:5]:
        things.append(Submittable("plan", plan.id, plan.problem, sent.get(("plan", plan.id))))
    approved = [s for s in await store.submissions_to(db, community.id)
                if s.status == "approved" and await store.carried(db, s.id) is None]
    return Outbox(community, parent, things, approved)


async def _snapshot(db: Database, community: Community, kind: str,
                    ref_id: int) -> tuple[str, dict[str, Any]]:
    """The thing as it is now, in no language: what the deciders read."""
    if kind == "vote":
        vote = await voting_store.get(db, ref_id)
        if vote is None or vote.community_id != community.id or vote.is_open:
            raise Refused(NOTHING_TO_SUBMIT)
        outcome = await voting.outcome(db, vote)
        return vote.title, {"method": vote.method, "voters": outcome.voters, "items": [
            {"title": s.problem.title, "rank": s.rank, "score": s.score}
            for s in outcome.standings]}
    if kind == "cityvote":
        city_vote = await store.get_vote(db, ref_id)
        if city_vote is None or city_vote.community_id != community.id or city_vote.is_open:
            raise Refused(NOTHING_TO_SUBMIT)
        result = await city_result(db, city_vote)
        return community.name, {"method": "stickers", "voters": result.outcome.voters,
                                "items": [{"title": s.problem.title, "rank": s.rank,
                                           "score": s.score}
                                          for s in result.outcome.standings]}
    if kind == "shortlist":
        brainstorm = await brainstorm_store.get_round(db, ref_id)
        if brainstorm is None or brainstorm.community_id != community.id:
            raise Refused(NOTHING_TO_SUBMIT)
        cards = await brainstorm_store.cards(db, brainstorm.id, shortlisted=True)
        if not cards:
            raise Refused(NOTHING_TO_SUBMIT)
        return brainstorm.prompt, {"items": [{"title": c.text, "score": c.support}
                                             for c in cards]}
    if kind == "plan":
        plan = await plan_store.get_plan(db, ref_id)
        if plan is None or plan.community_id != community.id:
            raise Refused(NOTHING_TO_SUBMIT)
        tasks = await plan_store.tasks(db, plan.id)
        people = await community_store.get_users(
            db, sorted({t.responsible_id for t in tasks if t.responsible_id is not None}))
        return plan.problem, {
            "progress": round(sum(t.progress for t in tasks) / len(tasks)) if tasks else 0,
            "tasks": [{"title": t.title, "status": t.status, "progress": t.progress,
                       "due_on": t.due_on.isoformat(),
                       "responsible": people[t.responsible_id].display_name
                       if t.responsible_id in people else None} for t in tasks]}
    raise Refused(STALE)


@dataclass(frozen=True, slots=True)
class Submitted:
    submission: Submission
    event: Event
    community: Community  # who submitted
    parent: Community
    deciders: list[User]  # the parent's committee and coordinators, to be told


async def _deciders(db: Database, parent: Community) -> list[User]:
    return [u for _m, u in await community_store.members(
        db, parent.id, roles=("committee", "coordinator"))]


async def submit(db: Database, who: Member, kind: str, ref_id: int) -> Submitted:
    """Submit (or, after a return, submit again) a thing of the coordinator's community to
    its parent, as it is now."""
    require(who, "coordinator")
    if kind not in KINDS:
        raise Refused(STALE)
    parent = await _parent(db, who.community)
    title, content = await _snapshot(db, who.community, kind, ref_id)
    done = await store.submit(db, who.community.id, parent.id, kind, ref_id, origin_id=None,
                              title=title, content=content, by=who.user.id)
    if done is None:
        raise Refused(ALREADY_SUBMITTED)
    return Submitted(done[0], done[1], who.community, parent, await _deciders(db, parent))


async def forward(db: Database, who: Member, submission_id: int) -> Submitted:
    """Carry something approved here further up, to this community's own parent."""
    require(who, "coordinator")
    origin = await store.get_submission(db, submission_id)
    if origin is None or origin.parent_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    if origin.status != "approved":
        raise Refused(STALE)
    parent = await _parent(db, who.community)
    done = await store.submit(db, who.community.id, parent.id, origin.kind, origin.ref_id,
                              origin_id=origin.id, title=origin.title, content=origin.content,
                              by=who.user.id)
    if done is None:
        raise Refused(ALREADY_SUBMITTED)
    return Submitted(done[0], done[1], who.community, parent, await _deciders(db, parent))


async def resubmit(db: Database, who: Member, submission_id: int) -> Submitted:
    """Submit a returned submission again: its own thing afresh, or what it carries."""
    require(who, "coordinator")
    submission = await store.get_submission(db, submission_id)
    if submission is None or submission.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    if submission.status != "returned":
        raise Refused(ALREADY_SUBMITTED)
    if submission.origin_id is not None:
        return await forward(db, who, submission.origin_id)
    return await submit(db, who, submission.kind, submission.ref_id)


@dataclass(frozen=True, slots=True)
class SubmissionView:
    submission: Submission
    community: Community  # who submitted it
    parent: Community
    events: list[Event]
    names: dict[int, str]
    chain: list[Mark]  # every level's decision on the same thing
    may_decide: bool
    may_resubmit: bool
    may_forward: bool


async def _readable_submission(db: Database, who: Member, submission_id: int) -> Submission:
    """A submission ``who`` may read: one their community made, one made to it (its
    committee and coordinators), or one below their community (its coordinators)."""
    submission = await store.get_submission(db, submission_id)
    if submission is None:
        raise Refused(NOT_AVAILABLE)
    here = who.community.id
    if submission.community_id == here and who.is_coordinator:
        return submission
    if submission.parent_id == here and who.has_role("committee"):
        return submission
    if who.is_coordinator and submission.parent_id in await store.descendants(db, here):
        return submission
    raise Refused(NOT_AVAILABLE)


async def submission(db: Database, who: Member, submission_id: int) -> SubmissionView:
    found = await _readable_submission(db, who, submission_id)
    history = await store.events(db, found.id)
    people = await community_store.get_users(
        db, sorted({e.by_id for e in history if e.by_id is not None}))
    both = await store.communities(db, [found.community_id, found.parent_id])
    here = who.community.id
    still_child = await store.parent_of(db, found.community_id) == found.parent_id
    forwardable = (found.parent_id == here and found.status == "approved" and who.is_coordinator
                   and await store.parent_of(db, here) is not None
                   and await store.carried(db, found.id) is None)
    return SubmissionView(
        submission=found, community=both[found.community_id], parent=both[found.parent_id],
        events=history, names={uid: u.display_name for uid, u in people.items()},
        chain=await marks(db, found.kind, found.ref_id),
        may_decide=(found.parent_id == here and found.status == "submitted"
                    and who.has_role("committee") and still_child),
        may_resubmit=(found.community_id == here and found.status == "returned"
                      and who.is_coordinator and still_child),
        may_forward=forwardable)


async def community_names(db: Database, community_ids: list[int]) -> dict[int, str]:
    return {c.id: c.name for c in (await store.communities(db, community_ids)).values()}


async def inbox(db: Database, who: Member) -> list[Submission]:
    """What the communities below have submitted to this one (its committee and
    coordinators), waiting first."""
    require(who, "committee")
    return await store.submissions_to(db, who.community.id)


@dataclass(frozen=True, slots=True)
class Decided:
    submission: Submission
    event: Event
    parent: Community
    told: list[tuple[Community, list[User]]]  # members of the submitting community and of
    # every community whose submission it carries, each person once


async def _decide(db: Database, who: Member, submission_id: int, status: str,
                  comment: str | None) -> Decided:
    found = await store.get_submission(db, submission_id)
    if found is None or found.parent_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    if not who.has_role("committee"):
        raise Refused(ONLY_DECIDERS, community=who.community.name)
    if await store.parent_of(db, found.community_id) != found.parent_id:
        raise Refused(NOT_AVAILABLE)  # the tree changed: no longer under this community
    done = await store.decide(db, found.id, status, comment, who.user.id)
    if done is None:
        raise Refused(ALREADY_DECIDED)
    told: list[tuple[Community, list[User]]] = []
    seen: set[int] = set()
    cursor: Submission | None = done[0]
    while cursor is not None:
        community = await community_store.get_community(db, cursor.community_id)
        if community is not None:
            people = [u for u in await community_store.people(db, community.id)
                      if u.id not in seen]
            seen.update(u.id for u in people)
            told.append((community, people))
        cursor = (await store.get_submission(db, cursor.origin_id)
                  if cursor.origin_id is not None else None)
    return Decided(done[0], done[1], who.community, told)


async def approve(db: Database, who: Member, submission_id: int) -> Decided:
    """The parent's committee or coordinator approves what was submitted to it."""
    return await _decide(db, who, submission_id, "approved", None)


async def give_back(db: Database, who: Member, submission_id: int, comment: str) -> Decided:
    """Return what was submitted, with a comment saying what should change."""
    return await _decide(db, who, submission_id, "returned", check_comment(comment))


async def may_return(db: Database, who: Member, submission_id: int) -> Submission:
    """The submission a "return with a comment" form is about, checked before it asks."""
    found = await store.get_submission(db, submission_id)
    if found is None or found.parent_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    if not who.has_role("committee"):
        raise Refused(ONLY_DECIDERS, community=who.community.name)
    if found.status != "submitted":
        raise Refused(ALREADY_DECIDED)
    return found
