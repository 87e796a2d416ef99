"""Committee rules: defaults from the seeds, seat allocation under quotas, the election's steps.

The seeds say the representative group is elected by vote, candidates are nominated by
members themselves, and the group *must* include activists and leaders, vulnerable groups,
local authority, business, NGOs and media. :func:`allocate_seats` is the pure rule that
makes that so; everything else here moves an election through its steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.flows.errors import Refused
from bot.i18n import N_
from storage import committee as store
from storage import community as community_store
from storage.committee import Election, Nomination
from storage.db import Database, utcnow

# The six groups the seeds require, one seat each by default; three more seats by votes.
REQUIRED_GROUPS = ("activist", "vulnerable", "authority", "business", "ngo", "media")
DEFAULT_SEATS = 9
DEFAULT_DAYS = 7
MAX_SEATS = 50
MAX_STATEMENT = 500
TIE_RULE = N_("Equal votes: the candidate who accepted the nomination first ranks higher.")

NOT_AVAILABLE = N_("This election is not available to you.")
NOT_NOMINATING = N_("Nominations for this election are not open.")
NOT_VOTING = N_("Voting in this election is not open.")
ALREADY_VOTED = N_("You have already voted in this election. Each member votes once.")
NOT_A_MEMBER = N_("That person is not a member of this community.")
NOT_YOUR_NOMINATION = N_("This nomination is not yours to answer.")
TOO_LONG = N_("Please keep it under {n} characters.")
QUOTAS_TOO_MANY = N_("The group minimums add up to more than the seats.")


# -- seat allocation (pure) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    group: str | None
    votes: int
    order: int  # tie-break: lower ranks higher (the order in which nominations were accepted)


@dataclass(frozen=True, slots=True)
class Seat:
    candidate: Candidate
    reason: str  # "quota" or "general"
    group: str | None  # the quota's group, for quota seats


@dataclass(frozen=True, slots=True)
class Tie:
    """Candidates with equal votes on both sides of a seat's line, settled by the tie rule."""

    votes: int
    won: tuple[int, ...]
    lost: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Allocation:
    seats: list[Seat]
    shortfalls: dict[str, int] = field(default_factory=dict)  # group -> seats it could not fill
    ties: list[Tie] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "seats": [{"nomination": s.candidate.id, "reason": s.reason, "group": s.group,
                       "votes": s.candidate.votes} for s in self.seats],
            "shortfalls": self.shortfalls,
            "ties": [{"votes": t.votes, "won": list(t.won), "lost": list(t.lost)}
                     for t in self.ties],
            "tie_rule": TIE_RULE,
        }


def _rank(candidates: Sequence[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (-c.votes, c.order, c.id))


def _tie(chosen: Sequence[Candidate], passed: Sequence[Candidate]) -> Tie | None:
    """A tie at the line between the last chosen and the first passed over, if any."""
    if not chosen or not passed or chosen[-1].votes != passed[0].votes:
        return None
    votes = chosen[-1].votes
    return Tie(votes, tuple(c.id for c in chosen if c.votes == votes),
               tuple(c.id for c in passed if c.votes == votes))


def allocate_seats(seats: int, minimums: Mapping[str, int],
                   candidates: Sequence[Candidate]) -> Allocation:
    """Fill ``seats`` from ``candidates``: group minimums first, then by votes.

    1. For each group with a minimum (in the order given), its best-voted candidates take
       that many seats ("quota"). A group with too few candidates takes what it has; the
       rest of its minimum goes to the general pool and is reported as a shortfall.
    2. The remaining seats go to the best-voted remaining candidates ("general").
    Ranking is by votes, then by ``order`` (the tie rule: who accepted first), then id, so
    the same input always gives the same result. If minimums add up to more than the seats,
    quotas are served in the order given until the seats run out.
    """
    ranked = _rank(candidates)
    taken: list[Seat] = []
    used: set[int] = set()
    shortfalls: dict[str, int] = {}
    ties: list[Tie] = []
    for group, minimum in minimums.items():
        room = seats - len(taken)
        want = min(minimum, room)
        if want <= 0:
            if minimum > 0 and room <= 0:
                shortfalls[group] = minimum
            continue
        pool = [c for c in ranked if c.group == group and c.id not in used]
        chosen, passed = pool[:want], pool[want:]
        taken.extend(Seat(c, "quota", group) for c in chosen)
        used.update(c.id for c in chosen)
        if len(chosen) < minimum:
            shortfalls[group] = minimum - len(chosen)
        if tie := _tie(chosen, passed):
            ties.append(tie)
    pool = [c for c in ranked if c.id not in used]
    room = max(seats - len(taken), 0)
    chosen, passed = pool[:room], pool[room:]
    taken.extend(Seat(c, "general", None) for c in chosen)
    if tie := _tie(chosen, passed):
        ties.append(tie)
    return Allocation(taken, shortfalls, ties)


# -- set-up ------------------------------------------------------------------------------------


def default_quotas(groups: Sequence[str]) -> dict[str, int]:
    """One seat for each group the seeds require, if the community has it; 0 for others."""
    return {g: (1 if g in REQUIRED_GROUPS else 0) for g in groups}


async def create(db: Database, community_id: int, name: str, created_by: int) -> Election:
    name = " ".join(name.split())
    if not name:
        raise Refused(N_("Give the committee a name, e.g. /election Neighbourhood committee"))
    if len(name) > 200:
        raise Refused(TOO_LONG, n=200)
    groups = [g.key for g in await community_store.stakeholder_groups(db, community_id)]
    quotas = default_quotas(groups)
    seats = max(DEFAULT_SEATS, sum(quotas.values()))
    return await store.create_election(
        db, community_id, name=name, seats=seats, approvals=seats,
        nomination_days=DEFAULT_DAYS, voting_days=DEFAULT_DAYS, quotas=quotas,
        created_by=created_by)


async def change(db: Database, election: Election, field_name: str, delta: int) -> None:
    """Step a setting up or down within its bounds, keeping minimums ≤ seats ≥ approvals."""
    if election.status != "draft":
        raise Refused(N_("The settings can only change before nominations open."))
    if field_name in store.SETTINGS:
        value = getattr(election, field_name) + delta
        upper = {"seats": MAX_SEATS, "approvals": election.seats}.get(field_name, 60)
        value = max(1, min(upper, value))
        if field_name == "seats":
            quotas = await store.quotas(db, election.id)
            if value < sum(quotas.values()):
                raise Refused(QUOTAS_TOO_MANY)
            # Approvals follow the seats while they were equal (the default).
            if election.approvals == election.seats or election.approvals > value:
                await store.change_setting(db, election.id, "approvals", value)
        await store.change_setting(db, election.id, field_name, value)
        return
    quotas = await store.quotas(db, election.id)
    if field_name not in quotas:
        raise Refused(NOT_AVAILABLE)
    value = max(0, quotas[field_name] + delta)
    if sum(quotas.values()) - quotas[field_name] + value > election.seats:
        raise Refused(QUOTAS_TOO_MANY)
    await store.set_quota(db, election.id, field_name, value)


async def open_nominations(db: Database, election: Election) -> Election:
    if not await store.advance(db, election.id, to="nominating",
                               closes_at=utcnow() + timedelta(days=election.nomination_days)):
        raise Refused(N_("This election has already started."))
    updated = await store.get_election(db, election.id)
    assert updated is not None
    return updated


async def open_voting(db: Database, election: Election) -> Election | None:
    """Nominations → voting; None if that already happened."""
    if not await store.advance(db, election.id, to="voting",
                               closes_at=utcnow() + timedelta(days=election.voting_days)):
        return None
    # Nominations nobody answered lapse: only accepted candidates stand.
    return await store.get_election(db, election.id)


async def candidates(db: Database, election_id: int) -> list[tuple[Nomination, Any]]:
    """Accepted candidates in ballot order (by group, then by acceptance)."""
    accepted = await store.nominations(db, election_id, "accepted")
    return sorted(accepted, key=lambda pair: (pair[0].stakeholder_group or "",
                                              pair[0].accepted_at or pair[0].created_at,
                                              pair[0].id))


async def close(db: Database, election: Election) -> tuple[Election, Allocation] | None:
    """Count, allocate seats, record the result and create the committee (once)."""
    votes = await store.tally(db, election.id)
    accepted = await store.nominations(db, election.id, "accepted")
    order = sorted(accepted, key=lambda p: (p[0].accepted_at or p[0].created_at, p[0].id))
    pool = [Candidate(n.id, n.stakeholder_group, votes.get(n.id, 0), index)
            for index, (n, _user) in enumerate(order)]
    minimums = {g: m for g, m in (await store.quotas(db, election.id)).items() if m > 0}
    group_order = [g.key for g in await community_store.stakeholder_groups(
        db, election.community_id)]
    minimums = dict(sorted(minimums.items(), key=lambda item: (
        group_order.index(item[0]) if item[0] in group_order else len(group_order), item[0])))
    allocation = allocate_seats(election.seats, minimums, pool)
    async with db.transaction():
        if not await store.advance(db, election.id, to="closed", result=allocation.to_json()):
            return None
        committee = await store.create_committee(db, election.community_id, election.name,
                                                 election_id=election.id)
        nominees = {n.id: n.nominee_id for n, _user in accepted}
        for seat in allocation.seats:
            user_id = nominees[seat.candidate.id]
            where = f"quota:{seat.group}" if seat.reason == "quota" else "general"
            await store.add_member(db, committee.id, user_id, "elected", where)
            await _raise_to_committee(db, election.community_id, user_id)
    await db.checkpoint()  # no trace of ballot drafts left in the write-ahead log
    closed = await store.get_election(db, election.id)
    assert closed is not None
    return closed, allocation


async def _raise_to_committee(db: Database, community_id: int, user_id: int) -> None:
    membership = await community_store.get_membership(db, community_id, user_id)
    if membership is not None and membership.role == "resident":
        await community_store.set_role(db, community_id, user_id, "committee")


async def add_to_committee(db: Database, committee_id: int, community_id: int,
                           user_id: int, how: str) -> None:
    if await community_store.get_membership(db, community_id, user_id) is None:
        raise Refused(NOT_A_MEMBER)
    await store.add_member(db, committee_id, user_id, how)
    await _raise_to_committee(db, community_id, user_id)


async def remove_from_committee(db: Database, committee_id: int, community_id: int,
                                user_id: int, reason: str) -> None:
    """Remove with a reason; the committee role goes if they sit nowhere else."""
    reason = reason.strip()
    if not reason:
        raise Refused(N_("Please write the reason."))
    if len(reason) > MAX_STATEMENT:
        raise Refused(TOO_LONG, n=MAX_STATEMENT)
    if not await store.remove_member(db, committee_id, user_id, reason):
        raise Refused(N_("That person is not a member of this committee."))
    membership = await community_store.get_membership(db, community_id, user_id)
    if (membership is not None and membership.role == "committee"
            and not await store.sits_anywhere(db, community_id, user_id)):
        await community_store.set_role(db, community_id, user_id, "resident")


def check_statement(text: str) -> str:
    text = text.strip()
    if not text:
        raise Refused(N_("Please write a short statement."))
    if len(text) > MAX_STATEMENT:
        raise Refused(TOO_LONG, n=MAX_STATEMENT)
    return text
