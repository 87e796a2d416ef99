"""Prioritisation rules: tallies, rankings, pair choice, and the checks on coordinators' input.

Pure functions over plain values, tested without Telegram. The three methods come from the
seeds (step 1): stickers on the most pressing problems, pairwise comparison, and the 3×3
priority matrix whose cell is the score (importance + urgency − 1: 1 2 3 / 2 3 4 / 3 4 5).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import jdatetime

from bot.flows.errors import Refused
from bot.i18n import N_
from storage import voting as store
from storage.db import Database
from storage.voting import Prioritisation, Problem

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


DEADLINE_FORMAT = "YYYY-MM-DD HH:MM"


def deadline_example(persian: bool) -> str:
    """What to show as an example: Solar Hijri for Persian speakers, else Gregorian."""
    return "1405-09-15 18:00" if persian else "2026-12-06 18:00"


def parse_deadline(text: str, tz: str, now: datetime | None = None, *,
                   persian: bool = False) -> datetime:
    """``YYYY-MM-DD HH:MM`` (or a date: 20:00 that day) in the community's time zone → UTC.

    A year before 1700 is a Solar Hijri date (Persian speakers write 1405-09-15), converted
    with jdatetime; Persian digits are accepted.
    """
    now = now or datetime.now(UTC)
    cleaned = to_ascii_digits(text.strip())
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            local = datetime.strptime(cleaned, pattern)
            break
        except ValueError:
            continue
    else:
        raise Refused(N_("Please send the closing time as {format}, for example {example}."),
                      format=DEADLINE_FORMAT, example=deadline_example(persian))
    if len(cleaned) <= 10:
        local = local.replace(hour=20)
    if local.year < 1700:
        try:
            local = jdatetime.datetime(local.year, local.month, local.day, local.hour,
                                       local.minute).togregorian()
        except ValueError:
            raise Refused(N_("Please send the closing time as {format}, for example"
                             " {example}."), format=DEADLINE_FORMAT,
                          example=deadline_example(persian)) from None
    moment = local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
    if moment <= now:
        raise Refused(N_("That time has already passed; please send a time in the future."))
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
    if len(numbers) != count:
        raise Refused(N_("Send exactly {count} numbers, one per problem in the list order;"
                         " you sent {given}."), count=count, given=len(numbers))
    if any(n > 100_000 for n in numbers):
        raise Refused(N_("These counts look too large for a meeting; please check them."))
    return numbers


# -- voting ---------------------------------------------------------------------------------


async def open_problem(db: Database, prioritisation_id: int, problem_id: int,
                       community_id: int) -> tuple[Prioritisation, Problem]:
    """The prioritisation and problem a button names, checked: same community, still open.

    Callback data are untrusted: a forged id from another community, an unknown problem or
    a closed vote is refused here before anything is written.
    """
    prioritisation = await store.get(db, prioritisation_id)
    if prioritisation is None or prioritisation.community_id != community_id:
        raise Refused(N_("This vote is not available to you."))
    if not prioritisation.is_open:
        raise Refused(N_("This vote has closed; changes are no longer possible."))
    problem = next((p for p in await store.problems(db, prioritisation_id)
                    if p.id == problem_id), None)
    if problem is None:
        raise Refused(N_("This problem is not part of the vote."))
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
    wins: Counter[int] = Counter()
    games: Counter[tuple[int, int]] = Counter()
    for a, b, winner in results:
        games[(min(a, b), max(a, b))] += 1
        if winner is None:
            wins[a] += 0.5  # type: ignore[assignment]
            wins[b] += 0.5  # type: ignore[assignment]
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
    voters = len(await store.participants(db, prioritisation))
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
