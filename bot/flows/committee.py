"""Committee rules: defaults from the seeds, seat allocation under quotas, the election's steps.

The seeds say the representative group is elected by vote, candidates are nominated by
members themselves, and the group *must* include activists and leaders, vulnerable groups,
local authority, business, NGOs and media. :func:`allocate_seats` is the pure rule that
makes that so; everything else here moves an election through its steps and runs the
committee it elects.

Every function that acts for a person takes the :class:`~bot.flows.people.Member` acting
and checks, before it writes: scope (the election, nomination or committee belongs to
their community — a missing or foreign id is refused the same way), permission (a
coordinator; the nominee for their own nomination) and the step (nominations open, voting
open, not voted yet, at least one candidate). Handlers parse, call one of these, render.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.flows import process, schedule, typed
from bot.flows.errors import Refused
from bot.flows.people import Member, require, taking_part
from bot.i18n import N_, isolate
from storage import committee as store
from storage import community as community_store
from storage.committee import Committee, CommitteeMember, Election, Nomination
from storage.community import Community, StakeholderGroup, User
from storage.db import Database, utcnow

__all__ = [
    "Allocation", "Answered", "Audience", "Ballot", "Candidate", "Card", "Committee",
    "CommitteeMember", "Community", "Election", "Linked", "Nominated", "Nomination",
    "Progress", "Result", "Settings", "StakeholderGroup", "User",
]

# The six groups the seeds require, one seat each by default; three more seats by votes.
REQUIRED_GROUPS = ("activist", "vulnerable", "authority", "business", "ngo", "media")
DEFAULT_SEATS = 9
DEFAULT_DAYS = 7
MAX_SEATS = 50
MAX_DAYS = 60
MAX_NAME = 200
MAX_STATEMENT = 500
MAX_CODE = 64
TIE_RULE = N_("Equal votes: the candidate who accepted the nomination first ranks higher.")

NOT_AVAILABLE = N_("This election is not available to you.")
NOT_NOMINATING = N_("Nominations for this election are not open.")
NOT_VOTING = N_("Voting in this election is not open.")
ALREADY_VOTED = N_("You have already voted in this election. Each member votes once.")
ALREADY_STARTED = N_("This election has already started.")
NO_CANDIDATES = N_("No candidate has accepted yet; voting needs at least one.")
TOO_MANY = N_("You have chosen as many candidates as allowed ({n}). Untick one first.")
NOT_A_MEMBER = N_("That person is not a member of this community.")
NOT_YOUR_NOMINATION = N_("This nomination is not yours to answer.")
ALREADY_NOMINATED = N_("{name} is already nominated.")
NOT_IN_COMMITTEE = N_("That person is not a member of this committee.")
ALREADY_IN_COMMITTEE = N_("{person} is already a member of {name}.")
NO_MEMBERS = N_("This group has no members.")
TOO_LONG = N_("Please keep it under {n} characters.")
QUOTAS_TOO_MANY = N_("The group minimums add up to more than the seats.")
SEND_IN_GROUP = N_("Send this command in the group chat you want to link.")
UNKNOWN_CODE = N_("This code is unknown or already used. Ask a coordinator for a new one.")


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


# -- what belongs to whom ---------------------------------------------------------------------


async def _election(db: Database, who: Member, election_id: int, status: str | None = None,
                    refusal: str = NOT_AVAILABLE) -> Election:
    """The election ``election_id`` if it is in ``who``'s community (and at ``status``)."""
    election = await store.get_election(db, election_id)
    if election is None or election.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    if status is not None and election.status != status:
        raise Refused(refusal)
    return election


async def _committee(db: Database, who: Member, committee_id: int) -> Committee:
    committee = await store.get_committee(db, committee_id)
    if committee is None or committee.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    return committee


async def _in_community(db: Database, community_id: int, user_id: int) -> User:
    """A member of the community (anyone else is refused, whatever the id)."""
    if await community_store.get_membership(db, community_id, user_id) is None:
        raise Refused(NOT_A_MEMBER)
    user = await community_store.get_user(db, user_id)
    if user is None:
        raise Refused(NOT_A_MEMBER)
    return user


# -- set-up ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    """An election before nominations open, as its coordinator adjusts it."""

    election: Election
    quotas: dict[str, int]  # group -> minimum seats, in the community's group order


def default_quotas(groups: Sequence[str]) -> dict[str, int]:
    """One seat for each group the seeds require, if the community has it; 0 for others."""
    return {g: (1 if g in REQUIRED_GROUPS else 0) for g in groups}


async def create(db: Database, who: Member, name: str) -> Settings:
    """``/election NAME``: a draft with the seeds' defaults, for the coordinator to adjust."""
    require(who, "coordinator")
    name = " ".join(name.split())
    if not name:
        raise Refused(N_("Give the committee a name, e.g. /election Neighbourhood committee"))
    if len(name) > MAX_NAME:
        raise Refused(TOO_LONG, n=MAX_NAME)
    groups = [g.key for g in await community_store.stakeholder_groups(db, who.community.id)]
    quotas = default_quotas(groups)
    seats = max(DEFAULT_SEATS, sum(quotas.values()))
    election = await store.create_election(
        db, who.community.id, name=name, seats=seats, approvals=seats,
        nomination_days=DEFAULT_DAYS, voting_days=DEFAULT_DAYS, quotas=quotas,
        created_by=who.user.id)
    return Settings(election, await store.quotas(db, election.id))


async def running(db: Database, who: Member) -> Election | None:
    """The coordinator's election that is not over yet (the newest), for ``/election``: one
    whose voting closed is over only once counted."""
    require(who, "coordinator")
    found = [e for e in await store.elections(db, who.community.id, "draft", "nominating",
                                              "voting", "closed")
             if e.status != "closed" or e.result is None]
    return found[0] if found else None


async def settings(db: Database, who: Member, election_id: int) -> Settings:
    require(who, "coordinator")
    election = await _election(db, who, election_id)
    return Settings(election, await store.quotas(db, election.id))


async def change(db: Database, who: Member, election_id: int, setting: str,
                 delta: int) -> Settings:
    """Step a setting (or a group's minimum) one up or down within its bounds, keeping
    minimums ≤ seats ≥ approvals; only before nominations open."""
    require(who, "coordinator")
    if delta not in (-1, 1):
        raise Refused(NOT_AVAILABLE)
    election = await _election(db, who, election_id)
    if election.status != "draft":
        raise Refused(N_("The settings can only change before nominations open."))
    quotas = await store.quotas(db, election.id)
    if setting in store.SETTINGS:
        value = getattr(election, setting) + delta
        upper = {"seats": MAX_SEATS, "approvals": election.seats}.get(setting, MAX_DAYS)
        value = max(1, min(upper, value))
        if setting == "seats":
            if value < sum(quotas.values()):
                raise Refused(QUOTAS_TOO_MANY)
            # Approvals follow the seats while they were equal (the default).
            if election.approvals == election.seats or election.approvals > value:
                await store.change_setting(db, election.id, "approvals", value)
        await store.change_setting(db, election.id, setting, value)
    elif setting in quotas:
        value = max(0, quotas[setting] + delta)
        if sum(quotas.values()) - quotas[setting] + value > election.seats:
            raise Refused(QUOTAS_TOO_MANY)
        await store.set_quota(db, election.id, setting, value)
    else:
        raise Refused(NOT_AVAILABLE)
    return await settings(db, who, election.id)


async def discard(db: Database, who: Member, election_id: int) -> None:
    """Delete a draft nobody has heard of yet (a coordinator's mistake)."""
    require(who, "coordinator")
    election = await _election(db, who, election_id, "draft", ALREADY_STARTED)
    if not await store.discard_draft(db, election.id):
        raise Refused(ALREADY_STARTED)


async def open_nominations(db: Database, who: Member, election_id: int) -> Election:
    require(who, "coordinator")
    election = await _election(db, who, election_id)
    if not await store.advance(db, election.id, to="nominating",
                               closes_at=utcnow() + timedelta(days=election.nomination_days)):
        raise Refused(ALREADY_STARTED)
    await process.happened(db, election.community_id, "election_opened", election.id)
    return await _reloaded(db, election.id)


async def _reloaded(db: Database, election_id: int) -> Election:
    election = await store.get_election(db, election_id)
    if election is None:  # deleted meanwhile (its community was)
        raise Refused(NOT_AVAILABLE)
    return election


# -- how it is going ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    """A running election as its coordinator follows it."""

    election: Election
    quotas: dict[str, int]
    nominations: list[tuple[Nomination, User]]
    members: int
    voted: int


async def progress(db: Database, who: Member, election_id: int) -> Progress:
    require(who, "coordinator")
    election = await _election(db, who, election_id)
    return Progress(
        election, await store.quotas(db, election.id), await store.nominations(db, election.id),
        await community_store.count_members(db, election.community_id),
        len(await store.voters(db, election.id)))


async def remind(db: Database, who: Member, election_id: int) -> Election:
    """A coordinator's "remind members to nominate": only while nominations are open."""
    require(who, "coordinator")
    return await _election(db, who, election_id, "nominating", NOT_NOMINATING)


@dataclass(frozen=True, slots=True)
class Audience:
    """Who hears about an election's step."""

    community: Community
    people: list[User]


async def audience(db: Database, election: Election, *, not_voted: bool = False) -> Audience:
    """Every member of the election's community — or only those who have not voted."""
    community = await community_store.get_community(db, election.community_id)
    if community is None:
        raise Refused(NOT_AVAILABLE)
    people = await community_store.people(db, community.id)
    if not_voted:
        done = await store.voters(db, election.id)
        people = [u for u in people if u.id not in done]
    return Audience(community, people)


async def coordinators(db: Database, election: Election) -> Audience:
    """The coordinators of the election's community (told when a step could not happen)."""
    community = await community_store.get_community(db, election.community_id)
    if community is None:
        raise Refused(NOT_AVAILABLE)
    found = await community_store.members(db, community.id, roles=("coordinator",))
    return Audience(community, [u for _m, u in found])


# -- the steps on their own: deadlines and reminders -------------------------------------------


async def running_elections(db: Database) -> list[Election]:
    """Every election with a deadline ahead (or passed while the bot was down)."""
    return await store.running_elections(db)


async def get(db: Database, election_id: int) -> Election | None:
    """An election by id, for the bot's own jobs (no person, so no scope to check)."""
    return await store.get_election(db, election_id)


def deadline(election: Election) -> datetime | None:
    """When the current step ends by itself: nominations, then voting."""
    if election.status == "nominating":
        return election.nominations_close_at
    if election.status == "voting":
        return election.voting_close_at
    return None


def reminder_at(election: Election, now: datetime | None = None) -> datetime | None:
    """When those who have not voted hear again (the shared rule of every capability);
    None outside voting or once the deadline has passed."""
    closes = election.voting_close_at
    opened = election.nominations_close_at  # voting opens when nominations close
    if election.status != "voting" or closes is None or opened is None:
        return None
    if closes <= (now or utcnow()):
        return None
    return schedule.reminder_time(opened, closes)


async def reminder_due(db: Database, election_id: int) -> Election | None:
    """The election whose voting reminder is due, if voting is still open."""
    election = await store.get_election(db, election_id)
    if (election is None or election.status != "voting" or election.voting_close_at is None
            or election.voting_close_at <= utcnow()):
        return None
    return election


async def open_voting(db: Database, election: Election) -> Election | None:
    """Nominations → voting, for the coordinator's button and the deadline alike.

    The one rule for both: voting needs at least one accepted candidate (Refused
    otherwise). Nominations nobody answered lapse: only accepted candidates stand. None if
    voting had already opened (a double tap, a job after the coordinator's tap).
    """
    async with db.transaction():
        if not await store.nominations(db, election.id, "accepted"):
            raise Refused(NO_CANDIDATES)
        if not await store.advance(db, election.id, to="voting",
                                   closes_at=utcnow() + timedelta(days=election.voting_days)):
            return None
    return await store.get_election(db, election.id)


async def start_voting(db: Database, who: Member, election_id: int) -> Election | None:
    """The coordinator closes nominations early and opens voting."""
    require(who, "coordinator")
    election = await _election(db, who, election_id, "nominating", NOT_NOMINATING)
    return await open_voting(db, election)


# -- nominations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Nominated:
    election: Election
    nomination: Nomination
    nominee: User
    created: bool  # False: they had been nominated before


async def current(db: Database, who: Member, status: str) -> Election | None:
    """The newest election of ``who``'s community at ``status``."""
    found = await store.elections(db, who.community.id, status)
    return found[0] if found else None


async def nominating(db: Database, who: Member, election_id: int) -> Election:
    """The election ``who`` wants to nominate someone for, if nominations are open."""
    return await _election(db, who, election_id, "nominating", NOT_NOMINATING)


async def check_nominee(db: Database, who: Member, election_id: int, user_id: int) -> User:
    """Whom ``who`` may nominate: a member of the community, not nominated yet (themselves
    always: their own nomination is offered again)."""
    election = await nominating(db, who, election_id)
    nominee = await _in_community(db, election.community_id, user_id)
    if user_id != who.user.id and any(
            n.nominee_id == user_id for n, _u in await store.nominations(db, election.id)):
        raise Refused(ALREADY_NOMINATED, name=isolate(nominee.display_name))
    return nominee


async def nominate(db: Database, who: Member, election_id: int, nominee_id: int) -> Nominated:
    """Nominate a member (or oneself); nominating someone twice is harmless."""
    election = await nominating(db, who, election_id)
    nominee = await _in_community(db, election.community_id, nominee_id)
    nomination, created = await store.nominate(db, election.id, nominee_id, who.user.id)
    return Nominated(election, nomination, nominee, created)


async def own_nomination(db: Database, who: Member, nomination_id: int,
                         ) -> tuple[Nomination, Election]:
    """A nomination only its nominee may answer, while nominations are open."""
    nomination = await store.get_nomination(db, nomination_id)
    if nomination is None or nomination.nominee_id != who.user.id:
        raise Refused(NOT_YOUR_NOMINATION)
    election = await store.get_election(db, nomination.election_id)
    if election is None or election.community_id != who.community.id:
        raise Refused(NOT_YOUR_NOMINATION)
    if election.status != "nominating":
        raise Refused(NOT_NOMINATING)
    return nomination, election


async def group_choices(db: Database, who: Member, nomination_id: int,
                        ) -> tuple[list[StakeholderGroup], str | None]:
    """The groups a nominee may stand for, and the one they would likely pick."""
    nomination, election = await own_nomination(db, who, nomination_id)
    groups = await community_store.stakeholder_groups(db, election.community_id)
    return groups, nomination.stakeholder_group or who.group


def check_statement(text: str) -> str:
    text = text.strip()
    if not text:
        raise Refused(N_("Please write a short statement."))
    if len(text) > MAX_STATEMENT:
        raise Refused(TOO_LONG, n=MAX_STATEMENT)
    return text


@dataclass(frozen=True, slots=True)
class Answered:
    """A nomination answered, and whom to tell (the nominator, unless it was oneself)."""

    nomination: Nomination
    nominee: User
    nominator: User | None


async def accept(db: Database, who: Member, nomination_id: int, group: str,
                 statement: str) -> Answered:
    nomination, election = await own_nomination(db, who, nomination_id)
    groups = {g.key for g in await community_store.stakeholder_groups(db,
                                                                      election.community_id)}
    if group not in groups:
        raise Refused(NOT_AVAILABLE)
    if not await store.answer_nomination(db, nomination.id, accept=True, group=group,
                                         statement=check_statement(statement)):
        raise Refused(NOT_NOMINATING)
    return await _answered(db, nomination, who.user)


async def decline(db: Database, who: Member, nomination_id: int) -> Answered:
    nomination, _election = await own_nomination(db, who, nomination_id)
    if not await store.answer_nomination(db, nomination.id, accept=False):
        raise Refused(NOT_NOMINATING)
    return await _answered(db, nomination, who.user)


async def _answered(db: Database, nomination: Nomination, nominee: User) -> Answered:
    nominator = None
    if nomination.nominated_by is not None and nomination.nominated_by != nominee.id:
        nominator = await community_store.get_user(db, nomination.nominated_by)
    return Answered(nomination, nominee, nominator)


def acceptance(nomination: Nomination) -> tuple[int, int]:
    """Where a nomination stands in the order of acceptance (the tie rule's order): the
    number its acceptance took, exact even for acceptances in the same second."""
    if nomination.accepted_seq is None:  # not accepted: after every accepted one
        return (1, nomination.id)
    return (0, nomination.accepted_seq)


async def candidates(db: Database, election_id: int) -> list[tuple[Nomination, User]]:
    """Accepted candidates in ballot order (by group, then by acceptance)."""
    accepted = await store.nominations(db, election_id, "accepted")
    return sorted(accepted, key=lambda pair: (pair[0].stakeholder_group or "",
                                              acceptance(pair[0])))


# -- the secret ballot -------------------------------------------------------------------------
#
# Choices being made live in ``ballot_drafts`` until the ballot is cast; casting deletes
# them in the transaction that records the voter and adds to the counts, and the count
# deletes any draft never cast and folds the write-ahead log into the (securely deleting)
# database file. Nothing here keeps a choice anywhere else.


@dataclass(frozen=True, slots=True)
class Ballot:
    """One voter's unsent ballot: the candidates and what they have ticked so far."""

    election: Election
    candidates: list[tuple[Nomination, User]]
    chosen: set[int]  # nomination ids


async def ballot(db: Database, who: Member, election_id: int) -> Ballot:
    """The ballot of an open election ``who`` has not voted in yet."""
    taking_part(who)
    election = await _election(db, who, election_id, "voting", NOT_VOTING)
    if await store.has_voted(db, election.id, who.user.id):
        raise Refused(ALREADY_VOTED)
    return Ballot(election, await candidates(db, election.id),
                  await store.draft(db, election.id, who.user.id))


async def current_ballot(db: Database, who: Member) -> Ballot:
    """``/ballot``: the ballot of the community's open election."""
    election = await current(db, who, "voting")
    if election is None:
        raise Refused(NOT_VOTING)
    return await ballot(db, who, election.id)


async def choose(db: Database, who: Member, election_id: int, nomination_id: int) -> Ballot:
    """Tick or untick a candidate, up to the election's approvals."""
    unsent = await ballot(db, who, election_id)
    if nomination_id not in {n.id for n, _u in unsent.candidates}:
        raise Refused(NOT_AVAILABLE)
    chosen = await store.toggle_draft(db, election_id, who.user.id, nomination_id,
                                      unsent.election.approvals)
    if chosen is None:
        raise Refused(TOO_MANY, n=unsent.election.approvals)
    return Ballot(unsent.election, unsent.candidates, chosen)


async def cast(db: Database, who: Member, election_id: int) -> int:
    """Cast the ballot; the database refuses a second one and one outside voting."""
    taking_part(who)
    election = await _election(db, who, election_id)
    try:
        return await store.cast(db, election.id, who.user.id)
    except store.BallotRejected as rejected:
        raise Refused(ALREADY_VOTED if rejected.reason == "voted" else NOT_VOTING) from None


# -- the count ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    """A closed election: what every member is told."""

    election: Election
    allocation: Allocation
    community: Community
    members: list[User]
    voted: int
    votes: dict[int, int]  # nomination id -> votes
    candidates: list[tuple[Nomination, User]]

    @property
    def elected(self) -> set[int]:
        """User ids of those who won a seat."""
        won = {s.candidate.id for s in self.allocation.seats}
        return {n.nominee_id for n, _u in self.candidates if n.id in won}


NOT_REOPENABLE = N_("Only voting closed by hand in the last {n} minutes can be reopened.")
PAST_ITS_TIME = N_("Voting's closing time has passed meanwhile, so it stays closed.")
ALREADY_COUNTED = N_("This election has been counted already.")


async def closing(db: Database, who: Member, election_id: int) -> Election:
    """An election whose voting a coordinator may close now (asked before it is done)."""
    require(who, "coordinator")
    return await _election(db, who, election_id, "voting", NOT_VOTING)


async def stop(db: Database, who: Member, election_id: int) -> Election:
    """The coordinator closes voting (after confirming). The count waits until the window
    to reopen has passed (or "Count now"): until then nobody — coordinators included —
    has seen a result, so reopening voting undoes nothing anyone knows of."""
    election = await closing(db, who, election_id)
    if not await store.stop_voting(db, election.id, reopen_until=schedule.reopen_until()):
        raise Refused(NOT_VOTING)
    return await _reloaded(db, election.id)


async def reopen(db: Database, who: Member, election_id: int) -> Election:
    """Voting again, while nothing was lost: closed by hand within the window, not counted
    (so ballots cast and ballots being filled in are as they were), and before its own
    closing time."""
    require(who, "coordinator")
    election = await _election(db, who, election_id)
    if (election.status != "closed" or election.result is not None
            or not schedule.may_reopen(election.reopen_until)):
        raise Refused(NOT_REOPENABLE, n=schedule.window_minutes())
    if election.voting_close_at is not None and election.voting_close_at <= utcnow():
        raise Refused(PAST_ITS_TIME)
    if not await store.reopen_voting(db, election.id):
        raise Refused(NOT_REOPENABLE, n=schedule.window_minutes())
    return await _reloaded(db, election.id)


def count_at(election: Election) -> datetime | None:
    """When a closed election waiting for its count is counted (None: it is not waiting)."""
    if election.status != "closed" or election.result is not None:
        return None
    return election.reopen_until or utcnow()


async def count(db: Database, who: Member, election_id: int) -> Result | None:
    """"Count now": the coordinator gives up the window to reopen voting."""
    require(who, "coordinator")
    election = await _election(db, who, election_id)
    if election.status != "closed" or election.result is not None:
        raise Refused(ALREADY_COUNTED if election.status == "closed" else NOT_VOTING)
    return await _count(db, election.id)


async def count_due(db: Database, election_id: int) -> Result | None:
    """The bot's own count once the window has passed (None: nothing to count now)."""
    election = await store.get_election(db, election_id)
    when = count_at(election) if election is not None else None
    if when is None or when > utcnow() + timedelta(seconds=5):
        return None
    return await _count(db, election_id)


async def waiting_count(db: Database) -> list[Election]:
    """Elections whose voting closed and whose count is still to come (jobs after a start)."""
    return await store.uncounted(db)


async def close(db: Database, election: Election) -> Result | None:
    """Voting's closing time: close and count at once (None: it was closed already)."""
    if not await store.stop_voting(db, election.id):
        return None
    return await _count(db, election.id)


async def _count(db: Database, election_id: int) -> Result | None:
    """Count, allocate seats, record the result and create the committee (once)."""
    election = await _reloaded(db, election_id)
    votes = await store.tally(db, election.id)
    accepted = await store.nominations(db, election.id, "accepted")
    order = sorted(accepted, key=lambda p: acceptance(p[0]))
    pool = [Candidate(n.id, n.stakeholder_group, votes.get(n.id, 0), index)
            for index, (n, _user) in enumerate(order)]
    minimums = {g: m for g, m in (await store.quotas(db, election.id)).items() if m > 0}
    group_order = [g.key for g in await community_store.stakeholder_groups(
        db, election.community_id)]
    minimums = dict(sorted(minimums.items(), key=lambda item: (
        group_order.index(item[0]) if item[0] in group_order else len(group_order), item[0])))
    allocation = allocate_seats(election.seats, minimums, pool)
    async with db.transaction():
        if not await store.record_result(db, election.id, allocation.to_json()):
            return None
        await store.discard_drafts(db, election.id)  # ballots begun and never cast
        committee = await store.create_committee(db, election.community_id, election.name,
                                                 election_id=election.id)
        nominees = {n.id: n.nominee_id for n, _user in accepted}
        for seat in allocation.seats:
            user_id = nominees[seat.candidate.id]
            where = f"quota:{seat.group}" if seat.reason == "quota" else "general"
            await store.add_member(db, committee.id, user_id, "elected", where)
            await _raise_to_committee(db, election.community_id, user_id)
    await db.checkpoint()  # no trace of ballot drafts left in the write-ahead log
    await process.happened(db, election.community_id, "election_counted", election.id)
    closed = await _reloaded(db, election.id)
    community = await community_store.get_community(db, closed.community_id)
    if community is None:
        return None
    members = await community_store.people(db, community.id)
    ranked = sorted(await candidates(db, closed.id),
                    key=lambda p: (-votes.get(p[0].id, 0), p[0].id))
    return Result(closed, allocation, community, members, len(await store.voters(db, closed.id)),
                  votes, ranked)


async def _raise_to_committee(db: Database, community_id: int, user_id: int) -> None:
    membership = await community_store.get_membership(db, community_id, user_id)
    if membership is not None and membership.role == "resident":
        await community_store.set_role(db, community_id, user_id, "committee")


# -- the committee and its working groups ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Card:
    """A committee or working group with its current members."""

    committee: Committee
    members: list[tuple[CommitteeMember, User]]


async def committees(db: Database, who: Member) -> list[Card]:
    """The community's committees and working groups, oldest first (``/committee``)."""
    return [Card(c, await store.committee_members(db, c.id))
            for c in await store.committees(db, who.community.id)]


async def managed(db: Database, who: Member, committee_id: int) -> Committee:
    """A committee of the coordinator's community, to add members to or to link a chat."""
    require(who, "coordinator")
    return await _committee(db, who, committee_id)


async def check_newcomer(db: Database, who: Member, committee_id: int, user_id: int) -> User:
    """Whom a coordinator may add: a member of the community not yet on this committee."""
    committee = await managed(db, who, committee_id)
    user = await _in_community(db, who.community.id, user_id)
    if user_id in {u.id for _m, u in await store.committee_members(db, committee.id)}:
        raise Refused(ALREADY_IN_COMMITTEE, person=isolate(user.display_name),
                      name=isolate(committee.name))
    return user


async def coopt(db: Database, who: Member, committee_id: int,
                user_id: int) -> tuple[Committee, User]:
    """Co-opt onto the committee (or add to a working group); they get the committee role."""
    user = await check_newcomer(db, who, committee_id, user_id)
    committee = await _committee(db, who, committee_id)
    how = "added" if committee.parent_id is not None else "co-opted"
    await store.add_member(db, committee.id, user.id, how)
    await _raise_to_committee(db, who.community.id, user.id)
    return committee, user


async def removable(db: Database, who: Member, committee_id: int) -> Card:
    """The members a coordinator may remove from a committee (it must have some)."""
    require(who, "coordinator")
    committee = await _committee(db, who, committee_id)
    members = await store.committee_members(db, committee.id)
    if not members:
        raise Refused(NO_MEMBERS)
    return Card(committee, members)


async def sitting(db: Database, who: Member, committee_id: int,
                  user_id: int) -> tuple[Committee, User]:
    """A current member of the committee, about to be removed."""
    card = await removable(db, who, committee_id)
    for _m, user in card.members:
        if user.id == user_id:
            return card.committee, user
    raise Refused(NOT_IN_COMMITTEE)


def check_reason(text: str) -> str:
    reason = " ".join(text.split())
    if not reason:
        raise Refused(N_("Please write the reason."))
    if len(reason) > MAX_STATEMENT:
        raise Refused(TOO_LONG, n=MAX_STATEMENT)
    return reason


async def remove(db: Database, who: Member, committee_id: int, user_id: int,
                 reason: str) -> tuple[Committee, User, str]:
    """Remove with a reason; the committee role goes if they sit nowhere else."""
    reason = check_reason(reason)
    committee, user = await sitting(db, who, committee_id, user_id)
    if not await store.remove_member(db, committee.id, user.id, reason):
        raise Refused(NOT_IN_COMMITTEE)
    membership = await community_store.get_membership(db, who.community.id, user.id)
    if (membership is not None and membership.role == "committee"
            and not await store.sits_anywhere(db, who.community.id, user.id)):
        await community_store.set_role(db, who.community.id, user.id, "resident")
    return committee, user, reason


async def parent(db: Database, who: Member, committee_id: int) -> Committee:
    """A committee that may get a working group (working groups have none of their own)."""
    require(who, "coordinator")
    committee = await _committee(db, who, committee_id)
    if committee.parent_id is not None:
        raise Refused(NOT_AVAILABLE)
    return committee


async def create_working_group(db: Database, who: Member, parent_id: int, name: str) -> Card:
    above = await parent(db, who, parent_id)
    name = typed.words(name, MAX_NAME)
    group = await store.create_committee(db, who.community.id, name, parent_id=above.id)
    return Card(group, [])


async def link_code(db: Database, who: Member, committee_id: int) -> tuple[Committee, str]:
    """A one-time code that links a group chat to the committee when sent there."""
    committee = await managed(db, who, committee_id)
    code = secrets.token_urlsafe(9)
    await store.create_link_code(db, committee.id, code)
    return committee, code


@dataclass(frozen=True, slots=True)
class Linked:
    committee: Committee
    community: Community


async def link_chat(db: Database, code: str, chat_id: int, *, private: bool) -> Linked:
    """``/link CODE``, sent in a group chat: that chat now hears the committee. The code
    works once; whoever holds it got it from a coordinator."""
    if private:
        raise Refused(SEND_IN_GROUP)
    committee = None
    if code and len(code) <= MAX_CODE:
        committee = await store.use_link_code(db, code, chat_id)
    if committee is None:
        raise Refused(UNKNOWN_CODE)
    community = await community_store.get_community(db, committee.community_id)
    if community is None:
        raise Refused(UNKNOWN_CODE)
    return Linked(committee, community)
