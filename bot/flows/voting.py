"""Prioritisation rules: who may do what with a vote, tallies, rankings, pair choice, and the
checks on coordinators' input.

Every change a person makes goes through one function here that checks scope (the vote
belongs to their community — a missing or foreign id is refused alike), permission (a
coordinator opens, closes, counts paper stickers and sees standings while a vote is open),
preconditions (still open, the problem is on this ballot, a sticker left) and then writes.
The tallies are pure functions over plain values, tested without Telegram. The three
methods come from the seeds (step 1): stickers on the most pressing problems, pairwise
comparison, and the 3×3 priority matrix whose cell is the score (importance + urgency − 1:
1 2 3 / 2 3 4 / 3 4 5).
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.flows import process, schedule
from bot.flows.errors import STALE, Refused
from bot.flows.people import Member, require, taking_part
from bot.flows.typed import to_moment
from bot.flows.voting_book import CLOSED, NOT_AVAILABLE, NOT_IN_VOTE, StickerBook
from bot.i18n import N_, Translator
from storage import brainstorm as brainstorm_store
from storage import broadcast as outbox
from storage import community as community_store
from storage import voting as store
from storage.community import Community as Community
from storage.community import StakeholderGroup as StakeholderGroup
from storage.community import User as User
from storage.db import Database, utcnow
from storage.voting import Prioritisation as Prioritisation
from storage.voting import Problem as Problem

METHODS = store.METHODS
MAX_PROBLEMS = 60
MAX_TITLE = 200
MAX_STICKERS = 10


@dataclass(frozen=True, slots=True)
class Standing:
    """One problem's place in the result. ``rank`` is shared by tied problems."""

    problem: Problem
    rank: int
    score: float  # stickers (online + offline), BT share in %, or mean matrix score
    online: int = 0
    offline: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    standings: list[Standing]
    winners: list[Problem]  # one problem, or the tied first places; empty when no votes
    voters: int


# -- checking what coordinators type ------------------------------------------------------


def parse_problems(text: str) -> list[str]:
    """One problem per line; numbering and bullets are dropped; 2 to 60 distinct problems."""
    lines = []
    for raw in text.splitlines():
        line = raw.strip().lstrip("-•*·").strip()
        head, _, rest = line.partition(".")
        if head.strip().isdigit() and rest:
            line = rest.strip()
        if line:
            lines.append(line)
    return check_problems(lines)


def check_problems(lines: list[str]) -> list[str]:
    """2 to 60 distinct problems, none over the length limit (typed or from a brainstorm)."""
    if len(lines) < 2:
        raise Refused(N_("Send at least two problems, one per line."))
    if len(lines) > MAX_PROBLEMS:
        raise Refused(N_("At most {limit} problems, please; you sent {count}."),
                      limit=MAX_PROBLEMS, count=len(lines))
    too_long = next((i for i, line in enumerate(lines, 1) if len(line) > MAX_TITLE), None)
    if too_long is not None:
        raise Refused(N_("Problem {number} is longer than {limit} characters; please shorten"
                         " it."), number=too_long, limit=MAX_TITLE)
    seen: set[str] = set()
    for i, line in enumerate(lines, 1):
        key = line.casefold()
        if key in seen:
            raise Refused(N_("Problem {number} appears twice; please send each problem once."),
                          number=i)
        seen.add(key)
    return lines


def parse_title(text: str) -> str:
    title = " ".join(text.split())
    if not title:
        raise Refused(N_("Please send a short title."))
    if len(title) > MAX_TITLE:
        raise Refused(N_("The title is longer than {limit} characters; please shorten it."),
                      limit=MAX_TITLE)
    return title


PASSED = N_("That time has already passed; please send a time in the future.")
DEFAULT_HOUR = 20  # a closing day typed without a time closes at 20:00 community time


def parse_deadline(text: str, tz: str, now: datetime | None = None, *,
                   lang: str = "en") -> datetime:
    """A closing time typed as every date question reads it (``typed.to_moment``: a Solar
    Hijri date, a month's name, "tomorrow 18:00" …; a date alone closes at 20:00) in the
    community's time zone → UTC; it must be in the future."""
    now = now or datetime.now(UTC)
    moment = to_moment(text, tz, lang, now=now, hour=DEFAULT_HOUR).astimezone(UTC)
    if moment <= now:
        raise Refused(PASSED)
    return moment


def deadline_in(days: int, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) + timedelta(days=days)


def to_ascii_digits(text: str) -> str:
    """Persian and Arabic-Indic digits → ASCII, so "۱۲" counts as 12."""
    table = {ord(c): str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")}
    table.update({ord(c): str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")})
    return text.translate(table)


def parse_counts(text: str, count: int) -> list[int]:
    """Paper sticker counts: ``count`` whole numbers ≥ 0, one per line (or separated by spaces)."""
    parts = to_ascii_digits(text).replace(",", " ").split()
    numbers: list[int] = []
    for part in parts:
        if not part.isdigit():
            raise Refused(N_("{value} is not a whole number; send one number per problem."),
                          value=part[:20])
        numbers.append(int(part))
    return check_counts(numbers, count)


def check_counts(numbers: list[int], count: int) -> list[int]:
    """One count per problem, none negative, none beyond what a meeting can hold."""
    if any(n < 0 for n in numbers):
        raise Refused(STALE)
    if len(numbers) != count:
        raise Refused(N_("Send exactly {count} numbers, one per problem in the list order;"
                         " you sent {given}."), count=count, given=len(numbers))
    if any(n > 100_000 for n in numbers):
        raise Refused(N_("These counts look too large for a meeting; please check them."))
    return numbers


# -- voting ---------------------------------------------------------------------------------


async def open_problem(db: Database, prioritisation_id: int, problem_id: int,
                       community_id: int, method: str | None = None,
                       ) -> tuple[Prioritisation, Problem]:
    """The prioritisation and problem a button names, checked: same community, the method
    the button is for, still open.

    Callback data are untrusted: a forged id from another community, an unknown problem or
    a closed vote is refused here before anything is written.
    """
    prioritisation = await store.get(db, prioritisation_id)
    if prioritisation is None or prioritisation.community_id != community_id or (
            method is not None and prioritisation.method != method):
        raise Refused(NOT_AVAILABLE)
    if not prioritisation.is_open:
        raise Refused(CLOSED)
    problem = next((p for p in await store.problems(db, prioritisation_id)
                    if p.id == problem_id), None)
    if problem is None:
        raise Refused(NOT_IN_VOTE)
    return prioritisation, problem


def next_pair(problem_ids: Sequence[int], counts: Counter[tuple[int, int]],
              done: set[tuple[int, int]], rng: random.Random | None = None,
              ) -> tuple[int, int] | None:
    """The pair this voter should compare next: the least-compared pair they have not seen.

    Choosing the globally least-compared pair spreads comparisons so that every problem is
    compared about equally often, which is what the ranking needs to be sound.
    """
    rng = rng or random.Random()
    ids = sorted(problem_ids)
    candidates = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:] if (a, b) not in done]
    if not candidates:
        return None
    fewest = min(counts[pair] for pair in candidates)
    pair = rng.choice([p for p in candidates if counts[p] == fewest])
    return pair if rng.random() < 0.5 else (pair[1], pair[0])


def pairs_per_voter(problem_count: int) -> int:
    """How many pairs one voter is asked: every pair for small lists, else 3 per problem."""
    return min(problem_count * (problem_count - 1) // 2, 3 * problem_count)


# -- results ----------------------------------------------------------------------------------


def _ranked(items: list[tuple[Problem, float, int, int]]) -> list[Standing]:
    items.sort(key=lambda item: (-item[1], item[0].position))
    standings: list[Standing] = []
    for index, (problem, score, online, offline) in enumerate(items):
        tied = standings and math.isclose(standings[-1].score, score, abs_tol=1e-9)
        rank = standings[-1].rank if tied else index + 1
        standings.append(Standing(problem, rank, score, online, offline))
    return standings


def _outcome(standings: list[Standing], voters: int) -> Outcome:
    top = [s.problem for s in standings if s.rank == 1 and s.score > 0]
    return Outcome(standings, top, voters)


def sticker_outcome(problems: Iterable[Problem], tally: dict[int, int], voters: int,
                    *, include_offline: bool = True) -> Outcome:
    items = [
        (p, float(tally.get(p.id, 0) + (p.offline if include_offline else 0)),
         tally.get(p.id, 0), p.offline)
        for p in problems
    ]
    return _outcome(_ranked(items), voters)


def matrix_score(importance: int, urgency: int) -> int:
    """The seeds' grid: 1 2 3 / 2 3 4 / 3 4 5."""
    if not (1 <= importance <= 3 and 1 <= urgency <= 3):
        raise ValueError("importance and urgency are 1 to 3")
    return importance + urgency - 1


def matrix_outcome(problems: Iterable[Problem], rows: Iterable[tuple[int, int, int]],
                   voters: int) -> Outcome:
    scores: dict[int, list[int]] = {}
    for problem_id, importance, urgency in rows:
        scores.setdefault(problem_id, []).append(matrix_score(importance, urgency))
    items = [
        (p, (sum(scores[p.id]) / len(scores[p.id])) if scores.get(p.id) else 0.0,
         len(scores.get(p.id, [])), 0)
        for p in problems
    ]
    return _outcome(_ranked(items), voters)


def bradley_terry(ids: Sequence[int], results: Iterable[tuple[int, int, int | None]],
                  iterations: int = 500) -> dict[int, float]:
    """Strengths (summing to 1) from pairwise results, by Hunter's MM algorithm.

    A "can't decide" counts as half a win for each side. Every problem also gets one virtual
    win and one virtual loss against an average opponent, so a problem that always wins (or
    never does) still has a finite strength, and problems nobody compared stay equal.
    """
    wins: defaultdict[int, float] = defaultdict(float)
    games: Counter[tuple[int, int]] = Counter()
    for a, b, winner in results:
        games[(min(a, b), max(a, b))] += 1
        if winner is None:
            wins[a] += 0.5
            wins[b] += 0.5
        else:
            wins[winner] += 1
    strength = dict.fromkeys(ids, 1.0)
    for _ in range(iterations):
        updated = {}
        for i in ids:
            denominator = 2 / (strength[i] + 1.0)  # the virtual games against strength 1
            for (a, b), n in games.items():
                if i in (a, b):
                    other = b if i == a else a
                    denominator += n / (strength[i] + strength[other])
            updated[i] = (wins[i] + 1.0) / denominator
        scale = len(ids) / sum(updated.values())
        change = max(abs(updated[i] * scale - strength[i]) for i in ids)
        strength = {i: updated[i] * scale for i in ids}
        if change < 1e-10:
            break
    total = sum(strength.values())
    return {i: strength[i] / total for i in ids}


def pairwise_outcome(problems: Sequence[Problem], results: list[tuple[int, int, int | None]],
                     voters: int) -> Outcome:
    if not results:
        return _outcome(_ranked([(p, 0.0, 0, 0) for p in problems]), voters)
    strengths = bradley_terry([p.id for p in problems], results)
    compared: Counter[int] = Counter()
    for a, b, _winner in results:
        compared[a] += 1
        compared[b] += 1
    items = [(p, round(strengths[p.id] * 100, 1), compared[p.id], 0) for p in problems]
    return _outcome(_ranked(items), voters)


async def outcome(db: Database, prioritisation: Prioritisation, *,
                  include_offline: bool = True) -> Outcome:
    problems = await store.problems(db, prioritisation.id)
    voters = await store.voter_count(db, prioritisation)
    if prioritisation.method == "stickers":
        tally = await store.sticker_tally(db, prioritisation.id)
        return sticker_outcome(problems, tally, voters, include_offline=include_offline)
    if prioritisation.method == "matrix":
        return matrix_outcome(problems, await store.ratings(db, prioritisation.id), voters)
    return pairwise_outcome(problems, await store.comparisons(db, prioritisation.id), voters)


def bar(value: float, maximum: float, width: int = 10) -> str:
    """A text bar: ``█████░░░░░``."""
    filled = 0 if maximum <= 0 else round(width * value / maximum)
    return "█" * filled + "░" * (width - filled)


# -- who may do what: every tap and command of the capability goes through one of these ------

NO_OPEN_VOTE = N_("There is no open vote right now.")
NO_RESULTS = N_("No results yet: votes show results when they close.")
HIDDEN_UNTIL_CLOSED = N_("Results are shown when the vote closes.")
NO_STICKER_VOTE = N_("There is no sticker vote to add paper stickers to.")

Choice = Literal["a", "b", "neither"]  # a pairwise answer: 🅰, 🅱 or "can't decide"
Aspect = Literal["importance", "urgency"]


async def find(db: Database, who: Member, vote_id: int, *, method: str | None = None,
               ) -> Prioritisation:
    """A vote of the member's community, open or closed (a ballot's page, a result);
    a missing, foreign or — with ``method`` — other kind of vote is refused alike."""
    prioritisation = await store.get(db, vote_id)
    if prioritisation is None or prioritisation.community_id != who.community.id or (
            method is not None and prioritisation.method != method):
        raise Refused(NOT_AVAILABLE)
    return prioritisation


async def ballot(db: Database, who: Member, vote_id: int) -> Prioritisation:
    """A vote the member may vote in now: in their community, and open."""
    taking_part(who)
    prioritisation = await find(db, who, vote_id)
    if not prioritisation.is_open:
        raise Refused(CLOSED)
    return prioritisation


async def open_votes(db: Database, who: Member) -> list[Prioritisation]:
    """The community's open votes, newest first (refused when there is none)."""
    found = await store.list_for(db, who.community.id, status="open")
    if not found:
        raise Refused(NO_OPEN_VOTE)
    return found


async def place_sticker(book: StickerBook, who: Member, vote_id: int, problem_id: int, *,
                        back: bool = False) -> tuple[Prioritisation, int]:
    """Place a sticker (or, with ``back``, take one back): the hot path of a vote burst,
    checked and held in memory by the sticker book, answered once committed. Returns the
    vote and how many stickers the voter has left."""
    taking_part(who)
    return await book.tap(vote_id, who.community.id, problem_id, who.user.id, who.group,
                          remove=back)


async def _problem_at(db: Database, who: Member, vote_id: int, position: int, method: str,
                      ) -> tuple[Prioritisation, Problem]:
    """The problem at ``position`` on the ballot of an open vote of ``who``'s community.

    Ballot buttons name problems by their place (1 to 60), which keeps a pair of them and
    the vote within Telegram's 64 bytes whatever the ids."""
    found = next((p for p in await store.problems(db, vote_id) if p.position == position),
                 None)
    return await open_problem(db, vote_id, found.id if found is not None else 0,
                              who.community.id, method)


async def compare(db: Database, who: Member, vote_id: int, a: int, b: int,
                  choice: Choice) -> Prioritisation:
    """One pairwise answer between the problems at places ``a`` and ``b`` (a change of mind
    replaces the earlier one)."""
    taking_part(who)
    prioritisation, first = await _problem_at(db, who, vote_id, a, "pairwise")
    _, second = await _problem_at(db, who, vote_id, b, "pairwise")
    a_id, b_id = first.id, second.id
    if a_id == b_id or choice not in ("a", "b", "neither"):
        raise Refused(NOT_AVAILABLE)
    winner = a_id if choice == "a" else b_id if choice == "b" else None
    try:
        await store.record_comparison(db, vote_id, who.user.id, a_id, b_id, winner, who.group)
    except store.VoteRejected:
        raise Refused(CLOSED) from None
    return prioritisation


async def rate(db: Database, who: Member, vote_id: int, position: int, aspect: Aspect,
               value: int) -> tuple[Prioritisation, int]:
    """Rate the importance or urgency (1–3) of the problem at ``position``. Returns the vote
    and the index of the problem to show next: the same one until both values are given,
    then the next one still to rate."""
    taking_part(who)
    prioritisation, problem = await _problem_at(db, who, vote_id, position, "matrix")
    problem_id = problem.id
    index = [p.id for p in await store.problems(db, vote_id)].index(problem_id)
    if aspect not in ("importance", "urgency") or not 1 <= value <= 3:
        raise Refused(NOT_AVAILABLE)
    try:
        await store.rate(db, vote_id, who.user.id, problem_id,
                         importance=value if aspect == "importance" else None,
                         urgency=value if aspect == "urgency" else None, group=who.group)
    except store.VoteRejected:
        raise Refused(CLOSED) from None
    rated = await store.my_ratings(db, vote_id, who.user.id)
    if None not in rated.get(problem_id, (None, None)):
        problems = await store.problems(db, vote_id)
        index = next((i for i, p in enumerate(problems)
                      if None in rated.get(p.id, (None, None))), index)
    return prioritisation, index


# -- what a ballot shows -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairBallot:
    """The next pair a voter compares, or that they are done."""

    pair: tuple[Problem, Problem] | None  # None: nothing left to compare
    number: int  # of the pair shown, from 1
    total: int  # pairs this voter is asked
    finished: bool  # they compared all the pairs they are asked


async def pairwise_ballot(db: Database, who: Member, prioritisation: Prioritisation,
                          ) -> PairBallot:
    problems = await store.problems(db, prioritisation.id)
    by_id = {p.id: p for p in problems}
    done = await store.compared_by(db, prioritisation.id, who.user.id)
    wanted = pairs_per_voter(len(problems))
    if len(done) >= wanted:
        return PairBallot(None, len(done), wanted, True)
    counts: Counter[tuple[int, int]] = Counter(
        (a, b) for a, b, _w in await store.comparisons(db, prioritisation.id))
    pair = next_pair(list(by_id), counts, done)
    if pair is None:
        return PairBallot(None, len(done), wanted, False)
    return PairBallot((by_id[pair[0]], by_id[pair[1]]), len(done) + 1, wanted, False)


@dataclass(frozen=True, slots=True)
class MatrixBallot:
    """A voter's ratings so far and the problem to show."""

    problems: list[Problem]
    rated: dict[int, tuple[int | None, int | None]]  # problem -> (importance, urgency)
    index: int  # the problem shown, from 0

    @property
    def complete(self) -> int:
        """How many problems have both values."""
        return sum(1 for p in self.problems if None not in self.rated.get(p.id, (None, None)))


async def matrix_ballot(db: Database, who: Member, prioritisation: Prioritisation,
                        index: int | None = None) -> MatrixBallot:
    """The ballot at problem ``index`` (clamped), or at the first problem still to rate."""
    problems = await store.problems(db, prioritisation.id)
    if not problems:
        raise Refused(NOT_AVAILABLE)
    rated = await store.my_ratings(db, prioritisation.id, who.user.id)
    if index is None:
        index = next((i for i, p in enumerate(problems)
                      if None in rated.get(p.id, (None, None))), 0)
    return MatrixBallot(problems, rated, min(max(index, 0), len(problems) - 1))


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a result shows, in no language yet."""

    prioritisation: Prioritisation
    outcome: Outcome
    chat_only: Outcome | None  # the ranking from chat stickers alone, when paper ones count
    members: int
    members_by_group: dict[str | None, int]
    groups: list[StakeholderGroup]
    voters_by_group: dict[str | None, int]

    @property
    def has_chart(self) -> bool:
        """A chart is worth sending once someone voted (in chat or on paper)."""
        return bool(self.outcome.voters or any(s.offline for s in self.outcome.standings))


async def visible_results(db: Database, who: Member) -> list[Prioritisation]:
    """The votes whose results this member may see: closed ones, and for coordinators the
    open ones too (standings so far)."""
    visible = [p for p in await store.list_for(db, who.community.id)
               if not p.is_open or who.is_coordinator]
    if not visible:
        raise Refused(NO_RESULTS)
    return visible


async def results_of(db: Database, who: Member, vote_id: int) -> Report:
    """One vote's result, if this member may see it now."""
    prioritisation = await find(db, who, vote_id)
    if prioritisation.is_open and not who.is_coordinator:
        raise Refused(HIDDEN_UNTIL_CLOSED)
    return await report(db, prioritisation)


async def report(db: Database, prioritisation: Prioritisation) -> Report:
    counts = await community_store.member_counts(db, prioritisation.community_id)
    result = await outcome(db, prioritisation)
    chat_only = None
    if any(s.offline for s in result.standings):
        chat_only = sticker_outcome([s.problem for s in result.standings],
                                    {s.problem.id: s.online for s in result.standings},
                                    result.voters, include_offline=False)
    return Report(prioritisation, result, chat_only, counts["total"], counts["by_group"],
                  await community_store.stakeholder_groups(db, prioritisation.community_id),
                  await store.participation_by_group(db, prioritisation))


async def keep_chart(db: Database, png: bytes) -> str:
    """Store a result chart for the outbox to send; returns its reference."""
    return await outbox.store_file(db, png)


# -- live standings --------------------------------------------------------------------------------


async def standings_votes(db: Database, who: Member) -> list[Prioritisation]:
    """The votes a coordinator's ``/standings`` may show: the open ones, newest first (asked
    which when there are several)."""
    require(who, "coordinator")
    return await open_votes(db, who)


async def standings_vote(db: Database, who: Member, vote_id: int) -> Prioritisation:
    """The open vote a coordinator chose for live standings."""
    require(who, "coordinator")
    prioritisation = await find(db, who, vote_id)
    if not prioritisation.is_open:
        raise Refused(CLOSED)
    return prioritisation


async def keep_standings(db: Database, who: Member, vote_id: int, chat_id: int,
                         message_id: int, language: str) -> None:
    """Remember a posted standings message, and its language, to keep it up to date."""
    require(who, "coordinator")
    prioritisation = await find(db, who, vote_id)
    await store.add_standings_message(db, prioritisation.id, chat_id, message_id, language)


@dataclass(frozen=True, slots=True)
class Standings:
    """A vote's live standings messages, each with the language it is written in."""

    prioritisation: Prioritisation
    community: Community
    messages: list[tuple[int, int, str]]  # (chat, message, language)


async def standings(db: Database, vote_id: int) -> Standings | None:
    prioritisation = await store.get(db, vote_id)
    if prioritisation is None:
        return None
    community = await _community(db, prioritisation)
    return Standings(prioritisation, community, [
        (chat_id, message_id, language or community.default_language)
        for chat_id, message_id, language in await store.standings_messages(db, vote_id)])


async def drop_standings(db: Database, chat_id: int, message_id: int) -> None:
    """A standings message that can no longer be edited (deleted, bot removed)."""
    await store.drop_standings_message(db, chat_id, message_id)


# -- opening, reminding, closing ---------------------------------------------------------------


async def shortlist(db: Database, who: Member) -> list[str]:
    """The shortlisted problem cards of the community's latest brainstorm, best supported
    first: step 1's brainstorm feeds step 1's prioritisation."""
    require(who, "coordinator")
    brainstorm = await brainstorm_store.latest_round(db, who.community.id)
    if brainstorm is None:
        return []
    return [card.text for card in await brainstorm_store.cards(
        db, brainstorm.id, shortlisted=True)][:MAX_PROBLEMS]


DEFAULT_STICKERS = 3


def sticker_budget(stickers: int, problems: int, stacking: bool) -> int:
    """A budget every resident can spend: with one sticker per problem, no more stickers
    than there are problems (3 stickers over 2 problems would leave one that fits nowhere)."""
    return stickers if stacking else max(1, min(stickers, problems))


async def create(db: Database, who: Member, *, community_id: int, title: str, method: str,
                 problems: list[str], stickers: int = 3, stacking: bool = False,
                 closes_at: datetime | None = None) -> Prioritisation:
    """Open a vote, as its coordinator set it up (everything is checked again here: the
    set-up took several messages, and the coordinator may have changed community)."""
    require(who, "coordinator")
    if community_id != who.community.id or method not in METHODS or (
            not 1 <= stickers <= MAX_STICKERS):
        raise Refused(STALE)
    if closes_at is not None and closes_at <= utcnow():
        raise Refused(PASSED)
    problems = check_problems(problems)
    stickers = sticker_budget(stickers, len(problems), stacking)
    created = await store.create(db, who.community.id, title=parse_title(title), method=method,
                                 problems=problems, stickers=stickers,
                                 allow_stacking=stacking, closes_at=closes_at,
                                 created_by=who.user.id)
    await process.happened(db, who.community.id, "vote_opened", created.id)
    return created


async def _community(db: Database, prioritisation: Prioritisation) -> Community:
    community = await community_store.get_community(db, prioritisation.community_id)
    if community is None:  # communities are never deleted; a vote always has one
        raise Refused(NOT_AVAILABLE)
    return community


async def audience(db: Database, prioritisation: Prioritisation,
                   ) -> tuple[Community, list[User]]:
    """Everyone a new vote is announced to: every member of its community (read a chunk at
    a time)."""
    community = await _community(db, prioritisation)
    return community, await community_store.people(db, community.id)


async def not_voted(db: Database, vote_id: int) -> tuple[Prioritisation, Community,
                                                         list[User]] | None:
    """Whom a reminder goes to: members who have not voted in a vote still open and not
    yet past its closing time (None: no reminder is due)."""
    prioritisation = await store.get(db, vote_id)
    if prioritisation is None or not prioritisation.is_open or (
            prioritisation.closes_at is None or prioritisation.closes_at <= utcnow()):
        return None
    community, members = await audience(db, prioritisation)
    done = set(await store.participants(db, prioritisation))
    return prioritisation, community, [u for u in members if u.id not in done]


async def scheduled(db: Database) -> list[Prioritisation]:
    """Open votes with a closing time, in every community: their jobs are rebuilt at start."""
    return await store.open_with_deadline(db)


async def closable(db: Database, who: Member) -> list[Prioritisation]:
    """The votes a coordinator may close now."""
    require(who, "coordinator")
    return await open_votes(db, who)


NOT_REOPENABLE = N_("Only a vote closed by hand in the last {n} minutes can be reopened.")
ALREADY_TOLD = N_("Members have already received the result, so the vote stays closed.")
PAST_ITS_TIME = N_("Its closing time has passed meanwhile, so the vote stays closed.")


def result_keys(vote_id: int) -> list[str]:
    """The outbox keys of a vote's result (text and chart): withdrawn when it is reopened."""
    return [f"vote-result:{vote_id}", f"vote-chart:{vote_id}"]


async def closing(db: Database, who: Member, vote_id: int) -> Prioritisation:
    """A vote a coordinator may close now (asked before it is done)."""
    require(who, "coordinator")
    prioritisation = await find(db, who, vote_id)
    if not prioritisation.is_open:
        raise Refused(CLOSED)
    return prioritisation


async def close(db: Database, who: Member, vote_id: int, book: StickerBook) -> Prioritisation:
    """A coordinator closes a vote of their community early (after confirming). Its result
    waits until the window to reopen it has passed (``result_due``)."""
    prioritisation = await closing(db, who, vote_id)
    closed = await close_due(db, prioritisation.id, book,
                             reopen_until=schedule.reopen_until())
    if closed is None:
        raise Refused(CLOSED)
    return closed


async def close_due(db: Database, vote_id: int, book: StickerBook, *,
                    reopen_until: datetime | None = None) -> Prioritisation | None:
    """Close a vote whose time has come; None if it was closed already (so its result is
    announced once). The sticker book's copy goes: the next tap is refused as closed."""
    if not await store.close(db, vote_id, reopen_until=reopen_until):
        return None
    book.forget(vote_id)
    closed = await store.get(db, vote_id)
    if closed is not None and reopen_until is None:  # closed for good: the cycle hears now
        await _tell_cycle(db, closed)
    return closed


async def _tell_cycle(db: Database, closed: Prioritisation) -> None:
    """Step 1 of the participation cycle has its result — once the closing is final (a vote
    closed by hand is, once the window to reopen it has passed)."""
    await process.happened(db, closed.community_id, "vote_closed", closed.id,
                           outcome=await outcome(db, closed))


def final_at(prioritisation: Prioritisation) -> datetime | None:
    """When a vote closed by hand is closed for good: the end of its window to reopen
    (None: open, or final already)."""
    return None if prioritisation.is_open else prioritisation.reopen_until


async def closing_windows(db: Database) -> list[Prioritisation]:
    """Votes closed by hand whose window to reopen has not been closed yet (their jobs are
    rebuilt at start)."""
    return await store.reopenable(db)


async def finalize_due(db: Database, vote_id: int) -> Prioritisation | None:
    """The window to reopen has passed: the closing is final, and the cycle hears of it
    (None: nothing to do — reopened, or final already)."""
    prioritisation = await store.get(db, vote_id)
    when = final_at(prioritisation) if prioritisation is not None else None
    if prioritisation is None or when is None or when > utcnow() + timedelta(seconds=5):
        return None
    if not await store.keep_closed(db, vote_id):
        return None
    await _tell_cycle(db, prioritisation)
    return prioritisation


async def result_due(db: Database, prioritisation: Prioritisation) -> datetime | None:
    """When members receive the result of a closed vote: after the window to reopen it,
    and never in quiet hours (None: at once)."""
    return schedule.hold_until(await _community(db, prioritisation),
                               prioritisation.reopen_until)


async def reopen(db: Database, who: Member, vote_id: int, book: StickerBook) -> Prioritisation:
    """Undo a closing by hand while nothing was lost: within the window, before any member
    received the result, and before the vote's own closing time. Stickers, comparisons and
    ratings were never touched; residents vote on where they were."""
    require(who, "coordinator")
    prioritisation = await find(db, who, vote_id)
    if prioritisation.is_open or not schedule.may_reopen(prioritisation.reopen_until):
        raise Refused(NOT_REOPENABLE, n=schedule.window_minutes())
    if prioritisation.closes_at is not None and prioritisation.closes_at <= utcnow():
        raise Refused(PAST_ITS_TIME)
    async with db.transaction():
        if not await outbox.withdraw(db, [key + ":" for key in result_keys(vote_id)]):
            raise Refused(ALREADY_TOLD)
        if not await store.reopen(db, prioritisation.id):
            raise Refused(NOT_REOPENABLE, n=schedule.window_minutes())
    book.forget(vote_id)
    reopened = await store.get(db, vote_id)
    assert reopened is not None
    return reopened


async def tell_now(db: Database, who: Member, vote_id: int) -> Prioritisation:
    """The coordinator will not reopen it: the result goes to members now (outside quiet
    hours)."""
    require(who, "coordinator")
    prioritisation = await find(db, who, vote_id)
    if prioritisation.is_open or not await store.keep_closed(db, prioritisation.id):
        raise Refused(NOT_REOPENABLE, n=schedule.window_minutes())
    await outbox.release(db, [key + ":" for key in result_keys(vote_id)],
                         schedule.hold_until(await _community(db, prioritisation)))
    await _tell_cycle(db, prioritisation)
    return prioritisation


async def result_audience(db: Database, prioritisation: Prioritisation,
                          ) -> tuple[Community, list[User]]:
    """Who hears the result: those who took part, and the coordinators."""
    community = await _community(db, prioritisation)
    voted = set(await store.participants(db, prioritisation))
    voted.update(u.id for _m, u in await community_store.members(
        db, community.id, roles=("coordinator", "admin")))
    return community, [u for u in await community_store.people(db, community.id)
                       if u.id in voted]


# -- paper stickers ------------------------------------------------------------------------------


PAPER_CHOICES = 10  # sticker votes /paper offers at most


async def paper_votes(db: Database, who: Member) -> list[Prioritisation]:
    """The sticker votes a coordinator's ``/paper`` counts may go to: open ones first, then
    closed ones (a meeting counted after the vote closed), newest first — asked which when
    there are several."""
    require(who, "coordinator")
    found = [p for p in await store.list_for(db, who.community.id) if p.method == "stickers"]
    if not found:
        raise Refused(NO_STICKER_VOTE)
    return sorted(found, key=lambda p: not p.is_open)[:PAPER_CHOICES]


async def paper_problems(db: Database, who: Member, vote_id: int,
                         ) -> tuple[Prioritisation, list[Problem]]:
    require(who, "coordinator")
    prioritisation = await find(db, who, vote_id, method="stickers")
    return prioritisation, await store.problems(db, prioritisation.id)


async def set_paper(db: Database, who: Member, vote_id: int, counts: list[int],
                    ) -> tuple[Prioritisation, int]:
    """Paper stickers from a meeting, one count per problem in ballot order (they replace
    earlier counts). Returns the vote and how many paper stickers there are now."""
    prioritisation, problems = await paper_problems(db, who, vote_id)
    counts = check_counts(counts, len(problems))
    await store.set_offline(db, prioritisation.id,
                            {p.id: n for p, n in zip(problems, counts, strict=True)})
    return prioritisation, sum(counts)


def score_text(t: Translator, method: str, standing: Standing) -> str:
    """A problem's score as people read it: stickers (chat and paper), a share of the
    pairwise preference, or the matrix's mean score — in the chat and on the dashboard."""
    if method == "stickers":
        text = t.ngettext("{n} sticker", "{n} stickers", int(standing.score))
        if standing.offline:
            text += " " + t._("({online} in chat + {offline} on paper)",
                              online=standing.online, offline=standing.offline)
        return text
    if method == "pairwise":
        return t._("{share}% of the preference", share=t.num(standing.score, decimals=1))
    return t._("mean score {score} of 5", score=t.num(standing.score, decimals=2))
