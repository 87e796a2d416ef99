"""Seat allocation under stakeholder quotas: examples and properties (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.flows.committee import Candidate, allocate_seats, default_quotas
from bot.flows.community import search_members

GROUPS = ("activist", "vulnerable", "authority", "business", "ngo", "media", "other")


def test_quotas_first_then_votes() -> None:
    candidates = [
        Candidate(1, "activist", 30, 0), Candidate(2, "activist", 25, 1),
        Candidate(3, "media", 2, 2), Candidate(4, "business", 20, 3),
        Candidate(5, "activist", 24, 4),
    ]
    result = allocate_seats(3, {"media": 1, "business": 1}, candidates)
    assert [(s.candidate.id, s.reason, s.group) for s in result.seats] == [
        (3, "quota", "media"), (4, "quota", "business"), (1, "general", None)]
    assert result.shortfalls == {} and result.ties == []


def test_a_group_without_candidates_gives_its_seat_to_the_general_pool() -> None:
    candidates = [Candidate(i, "activist", 10 - i, i) for i in range(1, 5)]
    result = allocate_seats(3, {"vulnerable": 1, "activist": 1}, candidates)
    assert [s.candidate.id for s in result.seats] == [1, 2, 3]
    assert result.shortfalls == {"vulnerable": 1}


def test_ties_are_settled_by_who_accepted_first_and_recorded() -> None:
    candidates = [Candidate(10, "ngo", 5, 1), Candidate(11, "ngo", 5, 0),
                  Candidate(12, "ngo", 1, 2)]
    result = allocate_seats(1, {"ngo": 1}, candidates)
    assert [s.candidate.id for s in result.seats] == [11]
    assert len(result.ties) == 1
    assert result.ties[0].won == (11,) and result.ties[0].lost == (10,)


def test_default_quotas_follow_the_seeds() -> None:
    quotas = default_quotas(["activist", "vulnerable", "authority", "business", "ngo", "media",
                             "academia", "other"])
    assert [g for g, m in quotas.items() if m] == ["activist", "vulnerable", "authority",
                                                     "business", "ngo", "media"]


def test_search_members_any_script_and_username() -> None:
    class U:
        def __init__(self, name: str, username: str | None) -> None:
            self.display_name, self.username = name, username

    people = [(None, U("مریم احمدی", None)), (None, U("Әйгерім", "aigerim")),
              (None, U("Noa", None))]
    assert [u.display_name for _m, u in search_members(people, "مریم")] == ["مریم احمدی"]
    assert [u.display_name for _m, u in search_members(people, "@AIG")] == ["Әйгерім"]
    assert [u.display_name for _m, u in search_members(people, "әйгер")] == ["Әйгерім"]
    assert search_members(people, "  ") == []


candidate_lists = st.lists(
    st.tuples(st.sampled_from(GROUPS), st.integers(0, 20)), max_size=25,
).map(lambda rows: [Candidate(i + 1, g, v, i) for i, (g, v) in enumerate(rows)])
quota_maps = st.dictionaries(st.sampled_from(GROUPS), st.integers(0, 3), max_size=6)


@settings(max_examples=300, deadline=None)
@given(seats=st.integers(1, 15), minimums=quota_maps, candidates=candidate_lists)
def test_allocation_properties(seats: int, minimums: dict[str, int],
                               candidates: list[Candidate]) -> None:
    result = allocate_seats(seats, minimums, candidates)
    elected = [s.candidate.id for s in result.seats]
    # Never more seats than configured, nobody twice, all seats filled when possible.
    assert len(elected) == len(set(elected)) == min(seats, len(candidates))
    # Same input, same result (also with the candidates in another order).
    again = allocate_seats(seats, minimums, list(reversed(candidates)))
    assert [s.candidate.id for s in again.seats] == elected
    # Minimums met whenever the candidates and seats allow.
    if sum(minimums.values()) <= seats:
        for group, minimum in minimums.items():
            available = sum(c.group == group for c in candidates)
            seated = sum(1 for s in result.seats if s.candidate.group == group)
            assert seated >= min(minimum, available)
            assert result.shortfalls.get(group, 0) == max(minimum - available, 0)
    # General seats go by votes: no unelected candidate has more votes than a general seat.
    general = [s.candidate.votes for s in result.seats if s.reason == "general"]
    if general:
        left = [c.votes for c in candidates if c.id not in elected]
        assert all(v <= min(general) for v in left)
