"""Cities end to end: a city with two districts and four neighbourhoods, in Persian, Kazakh,
Hebrew and English. An administrator builds the tree (no cycles); the city's coordinator
reads each community below, merges the problems the neighbourhoods prioritised (each
neighbourhood's support kept once, summed, with undo) and has everyone below vote on them
— the result checked against a tally kept here; a neighbourhood's plan goes up the chain,
is returned with a comment, submitted again, approved and carried up, every member told
in their language; parent broadcasts reach everyone below or one child. Forged taps on
another city's or a sibling's objects change nothing, and a restart in the middle of each
of these resumes it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from bot.emulator import Person
from bot.emulator.html import parse_html
from bot.flows import city as flow
from bot.flows import process
from bot.flows.errors import STALE
from bot.flows.people import JOIN_FIRST
from bot.handlers.city import (
    Approve,
    Ballot,
    Below,
    Close,
    Forward,
    GiveBack,
    Into,
    Merged,
    Move,
    OpenSubmission,
    PickMerge,
    Prioritise,
    Resubmit,
    Sticker,
    Submit,
    Tree,
    Under,
    Undo,
)
from bot.i18n import Translator, isolate
from storage import city as store
from storage import voting as voting_store
from storage.db import Database
from tests.harness import Harness, Invitation, press, step, tr


def plain(markup: str) -> str:
    """What a person reads of an HTML message: the text without its tags (and without the
    isolates around names, which nobody sees)."""
    return parse_html(markup)[0].replace("\u2068", "").replace("\u2069", "")


async def hears(person: Person, expected: str) -> None:
    """Wait until ``person`` receives a message that reads ``expected`` (isolates aside)."""
    await person.wait_for(lambda m: expected in plain_message(m))


def plain_message(message: dict[str, Any]) -> str:
    text = message.get("text") or message.get("caption") or ""
    return text.replace("\u2068", "").replace("\u2069", "")


def sticker_budget(person: Person, n: int) -> str:
    return Translator(person.language_code or "en").ngettext("You have {n} sticker.",
                                                             "You have {n} stickers.", n)


def said(person: Person, message: str, **values: Any) -> str:
    """``message`` as ``person`` reads it, tags stripped."""
    return plain(tr(person, message, **values))


@dataclass
class City:
    city: Invitation
    d1: Invitation
    d2: Invitation
    north: Invitation  # under d1
    east: Invitation  # under d1
    south: Invitation  # under d2
    west: Invitation  # under d2
    mayor: Person  # the city's coordinator
    d1c: Person
    d2c: Person
    coordinators: dict[str, Person]  # neighbourhood → its coordinator
    residents: dict[str, list[Person]]  # neighbourhood → its residents


async def _tree_by_hand(harness: Harness, c: City) -> None:
    """The administrator puts every community in its place, mostly by tapping."""
    admin = harness.admin
    await step(harness, admin, "/city", send=True)
    await step(harness, admin, "Arrange communities")
    await step(harness, admin, "District One")
    assert plain(admin.texts()[-1]).startswith("Put District One under which community?")
    await step(harness, admin, "Mashhad")
    assert admin.last_answer == "Saved."
    for child, parent in ((c.d2, c.city), (c.north, c.d1), (c.east, c.d1), (c.south, c.d2),
                          (c.west, c.d2)):
        await press(harness, admin, Under(child.community.id, parent.community.id).pack())
        assert admin.last_answer == "Saved."


async def build_city(harness: Harness) -> City:
    names = ("Mashhad", "District One", "District Two", "North", "East", "South", "West")
    made = [await harness.new_community(name) for name in names]
    city, d1, d2, north, east, south, west = made
    c = City(city, d1, d2, north, east, south, west,
             mayor=await harness.coordinator(city, "en", name="Mina"),
             d1c=await harness.coordinator(d1, "fa", name="Dariush"),
             d2c=await harness.coordinator(d2, "en", name="Dana"),
             coordinators={}, residents={})
    langs = {"north": ("fa", "kk", "he"), "east": ("en", "fa"), "south": ("en", "he"),
             "west": ("kk", "en")}
    for key, invitation in (("north", north), ("east", east), ("south", south),
                            ("west", west)):
        c.coordinators[key] = await harness.coordinator(invitation, "en",
                                                        name=f"{key.title()}Coord")
        c.residents[key] = [await harness.resident(invitation, lang, name=f"{key.title()}{n}")
                            for n, lang in enumerate(langs[key], start=1)]
    await _tree_by_hand(harness, c)
    return c


async def closed_vote(db: Database, community_id: int, problems: list[str],
                      stickers: dict[Person, list[int]]) -> int:
    """A neighbourhood's own sticker vote, cast and closed (its flows are tested elsewhere)."""
    vote = await voting_store.create(db, community_id, title="What matters most?",
                                     method="stickers", problems=problems, stickers=3)
    found = await voting_store.problems(db, vote.id)
    for person, picks in stickers.items():
        for slot, index in enumerate(picks, start=1):
            await voting_store.insert_sticker(db, vote.id, person.id, slot, found[index].id,
                                              "activist")
    assert await voting_store.close(db, vote.id)
    return vote.id


async def neighbourhood_votes(harness: Harness, c: City) -> None:
    db, r = harness.db, c.residents
    north, east, south, west = r["north"], r["east"], r["south"], r["west"]
    # North: Bad roads 3, Dark streets 1, No park 1 (and its cycle has begun).
    vote_id = await closed_vote(db, c.north.community.id, ["Bad roads", "Dark streets",
                                                          "No park"],
                                {north[0]: [0, 1], north[1]: [0, 2], north[2]: [0]})
    await process.happened(db, c.north.community.id, "vote_opened", vote_id)
    # East: Potholes 2, Broken pavement 1, Dark streets 1.
    await closed_vote(db, c.east.community.id, ["Potholes", "Broken pavement", "Dark streets"],
                      {east[0]: [0, 1], east[1]: [0, 2]})
    # South: Bad roads 2, Noise 1.
    await closed_vote(db, c.south.community.id, ["Bad roads", "Noise"],
                      {south[0]: [0, 1], south[1]: [0]})
    # West: Flooding 2, Dark streets 1.
    await closed_vote(db, c.west.community.id, ["Flooding", "Dark streets"],
                      {west[0]: [0], west[1]: [0, 1]})


async def city_state(db: Database) -> list[Any]:
    """Every row the city capability keeps, to show that a refused tap changed nothing."""
    tables = ("community_parents", "city_problems", "city_support", "city_merges",
              "city_votes", "city_vote_items", "city_stickers", "city_submissions",
              "city_submission_events")
    return [[tuple(row) for row in await db.fetchall(f"SELECT * FROM {table} ORDER BY 1, 2")]
            for table in tables]


# -- the tree --------------------------------------------------------------------------------


async def test_an_administrator_builds_the_tree_and_no_cycle_gets_in(harness: Harness) -> None:
    top = await harness.new_community("Mashhad")
    middle = await harness.new_community("District One")
    low = await harness.new_community("North")
    admin = harness.admin
    for child, parent in ((middle, top), (low, middle)):
        await press(harness, admin, Under(child.community.id, parent.community.id).pack())
        assert admin.last_answer == "Saved."
    await step(harness, admin, "/city", send=True)
    await step(harness, admin, "Arrange communities")
    assert plain(admin.texts()[-1]).splitlines()[3:] == [
        "• Mashhad", "    • District One", "        • North"]

    # The city cannot go under what lies below it, nor anything under itself.
    await step(harness, admin, "Mashhad")
    offered = admin.buttons()
    assert "North" not in offered and "District One" not in offered
    await harness.restart()  # the choice on screen still works after a restart
    await step(harness, admin, "At the top (under none)")
    assert admin.last_answer == "Saved."  # where it already was
    before = await city_state(harness.db)
    for child, parent in ((top, low), (top, middle), (middle, middle)):
        assert await press(harness, admin, Under(child.community.id,
                                                 parent.community.id).pack()) == tr(
            admin, flow.CYCLE)
    assert await city_state(harness.db) == before
    # The schema refuses it too, whatever writes the row.
    try:
        await store.set_parent(harness.db, top.community.id, low.community.id, None)
    except store.TreeRejected:
        pass
    else:
        raise AssertionError("a cycle was stored")
    assert await city_state(harness.db) == before

    # Moving a branch moves what lies below it; "at the top" clears the parent.
    await press(harness, admin, Under(middle.community.id, 0).pack())
    await step(harness, admin, "/city", send=True)
    await step(harness, admin, "Arrange communities")
    assert plain(admin.texts()[-1]).splitlines()[3:] == [
        "• District One", "    • North", "• Mashhad"]

    # Nobody else arranges communities, and forged ids are refused.
    arranged = await city_state(harness.db)
    coordinator = await harness.coordinator(top, "fa")
    assert await press(harness, coordinator, Under(top.community.id, low.community.id).pack()
                       ) == tr(coordinator, flow.ONLY_ADMINS)
    assert await press(harness, coordinator, Tree(0).pack()) == tr(coordinator,
                                                                   flow.ONLY_ADMINS)
    assert await press(harness, admin, Move(9_999_999, 0).pack()) == tr(admin,
                                                                       flow.NOT_AVAILABLE)
    assert await press(harness, admin, Under(low.community.id, 9_999_999).pack()) == tr(
        admin, flow.NOT_AVAILABLE)
    assert await press(harness, admin, "city:under:1:x") == tr(admin, STALE)
    stranger = harness.person("he")
    await step(harness, stranger, "/city", send=True)
    assert stranger.texts()[-1] == tr(stranger, JOIN_FIRST)
    assert await city_state(harness.db) == arranged


# -- reading below, the merged list and a vote of everyone below ------------------------------


def ids_by_source(problems: list[store.MergedProblem], support: list[store.Support],
                  ) -> dict[tuple[str, int], int]:
    """(title, community it came from) → the merged problem's id."""
    titles = {p.id: p.title for p in problems}
    return {(titles[s.problem_id], s.source_id): s.problem_id for s in support}


async def test_the_city_reads_below_merges_and_everyone_below_votes(harness: Harness) -> None:
    c = await build_city(harness)
    await neighbourhood_votes(harness, c)
    mayor = c.mayor
    city_id = c.city.community.id
    north, east, south, west = (c.north.community, c.east.community, c.south.community,
                                c.west.community)

    # What lies below, read by the city's coordinator.
    await step(harness, mayor, "/city", send=True)
    assert plain(mayor.texts()[-1]).splitlines() == [
        "🏙 Mashhad", "2 communities below.", "",
        "1. District One — 1 member", "    2 communities below it",
        "    No priority vote closed yet.",
        "2. District Two — 1 member", "    2 communities below it",
        "    No priority vote closed yet."]
    await step(harness, mayor, "1. District One")
    await step(harness, mayor, "North")
    text = plain(mayor.texts()[-1])
    assert text.splitlines()[:5] == [
        "North", "Cycle 1, step 1 of 7: Needs assessment (under way).", "", "4 members",
        "• Activists and leaders: 3 · voted: 3"]
    # The district's coordinator sees the step of each neighbourhood in /city, in Persian.
    await step(harness, c.d1c, "/city", send=True)
    fa = Translator("fa")
    assert "    " + fa._("Cycle {cycle}, step {number} of {total}: {step} (under way).",
                         cycle=1, number=1, total=7, step=fa._("Needs assessment")) in plain(
        c.d1c.texts()[-1]).splitlines()
    assert "• NGOs: 1 · voted: 0" in text
    assert "3 of 4 took part." in text
    assert text.split("Top priorities:\n")[1].splitlines() == [
        "1. Bad roads — 3 stickers", "2. Dark streets — 1 sticker", "2. No park — 1 sticker"]
    # Reading only: the city's coordinator cannot close a neighbourhood's vote.
    north_vote = (await voting_store.list_for(harness.db, north.id))[0]
    from bot.handlers.voting import Close as CloseVote
    assert await press(harness, mayor, CloseVote(north_vote.id).pack()) == tr(
        mayor, "This vote is not available to you.")
    # A sibling district and a sibling neighbourhood read nothing of each other.
    before = await city_state(harness.db)
    assert await press(harness, c.d2c, Below(north.id).pack()) == tr(c.d2c, flow.NOT_AVAILABLE)
    assert await press(harness, c.coordinators["north"], Below(east.id).pack()) == tr(
        c.coordinators["north"], flow.NOT_AVAILABLE)
    resident = c.residents["north"][0]
    assert await press(harness, resident, Below(north.id).pack()) == tr(
        resident, "Only coordinators of this community can do that.")
    assert await city_state(harness.db) == before

    # The merged list gathers the newest closed vote of every neighbourhood below.
    await step(harness, mayor, "/city", send=True)
    await step(harness, mayor, "Merged problems")
    listed = plain(mayor.texts()[-1]).splitlines()
    assert listed[:2] == ["Merged problems of Mashhad",
                          "From the latest closed votes of 4 communities below."]
    assert listed[4:8] == ["1. Bad roads — 3", "    North: 3 stickers",
                           "2. Potholes — 2", "    East: 2 stickers"]
    ids = ids_by_source(await store.merged_problems(harness.db, city_id),
                        await store.support(harness.db, city_id))
    assert len(ids) == 10
    # District One's own list holds its two neighbourhoods only.
    await press(harness, c.d1c, Merged(0).pack())
    assert {s.source_id for s in await store.support(harness.db, c.d1.community.id)} == {north.id,
                                                                                 east.id}

    # Merges: by label, and by kind — a restart between choosing and merging resumes it.
    await step(harness, mayor, "Merge 3 into another")  # South's Bad roads
    assert plain(mayor.texts()[-1]).startswith("Merge Bad roads into which problem?")
    await harness.restart()
    await step(harness, mayor, "Bad roads")
    assert mayor.last_answer == "Merged."
    bad, dark = ids[("Bad roads", north.id)], ids[("Dark streets", north.id)]
    for title, source, target in (("Potholes", east, bad), ("Broken pavement", east, bad),
                                  ("Dark streets", east, dark), ("Dark streets", west, dark)):
        await press(harness, mayor, Into(ids[(title, source.id)], target).pack())
        assert mayor.last_answer == "Merged."
    merged_text = plain(mayor.texts()[-1]).splitlines()
    # East backs Bad roads through two of its problems: its support counts once (2, not 3).
    assert merged_text[4:16] == [
        "1. Bad roads — 7", "    North: 3 stickers · East: 2 stickers · South: 2 stickers",
        "    merged: Potholes, Broken pavement, Bad roads",
        "2. Dark streets — 3", "    North: 1 sticker · East: 1 sticker · West: 1 sticker",
        "    merged: Dark streets, Dark streets",
        "3. Flooding — 2", "    West: 2 stickers",
        "4. No park — 1", "    North: 1 sticker",
        "5. Noise — 1", "    South: 1 sticker"]
    # Undo takes back the latest merge only; an older undo button no longer works.
    last = await store.last_merge(harness.db, city_id)
    assert last is not None
    await step(harness, mayor, "Undo the last merge")
    assert mayor.last_answer == "Undone."
    assert plain(mayor.texts()[-1]).splitlines()[7:9] == [
        "2. Dark streets — 2", "    North: 1 sticker · East: 1 sticker"]
    assert await press(harness, mayor, Undo(last.id).pack()) == tr(mayor, STALE)
    await press(harness, mayor, Into(ids[("Dark streets", west.id)], dark).pack())
    # Another city's coordinator, and a sibling district, change nothing of this list.
    other = await harness.new_community("Other Town")
    stranger = await harness.coordinator(other, "he")
    outsider = await harness.resident(other, "fa")
    before = await city_state(harness.db)
    assert await press(harness, stranger, Into(ids[("Noise", south.id)], bad).pack()) == tr(
        stranger, flow.NOT_AVAILABLE)
    assert await press(harness, stranger, PickMerge(bad).pack()) == tr(stranger,
                                                                         flow.NOT_AVAILABLE)
    assert await press(harness, c.d2c, Into(ids[("Noise", south.id)], bad).pack()) == tr(
        c.d2c, flow.NOT_AVAILABLE)
    assert await press(harness, c.d2c, Undo(last.id + 1).pack()) == tr(c.d2c,
                                                                       flow.NOTHING_TO_UNDO)
    assert await city_state(harness.db) == before

    # Prioritised again at the city's level: a sticker vote of everyone below.
    await step(harness, mayor, "/city", send=True)
    await step(harness, mayor, "Merged problems")
    await step(harness, mayor, "Vote by everyone below")
    assert "The vote is open. Announcing it to 16 people…" in mayor.texts()
    (vote,) = await store.votes_of(harness.db, [city_id])
    everyone = [*c.residents["north"], *c.residents["east"], *c.residents["south"],
                *c.residents["west"]]
    for person in everyone:
        await hears(person, sticker_budget(person, 3))
    notice = plain(c.residents["north"][0].texts()[-1])
    assert notice == plain(Translator("fa").ngettext(
        "{community} prioritises the problems of the communities below together: {n} problem,"
        " merged from their votes.", "{community} prioritises the problems of the communities"
        " below together: {n} problems, merged from their votes.", 5,
        community=isolate("Mashhad"))) + "\n" + sticker_budget(c.residents["north"][0], 3)

    placed: list[tuple[Person, str]] = []

    async def cast(person: Person, *titles: str) -> None:
        """Open the ballot from the announcement and tap the titles, keeping our own tally."""
        await step(harness, person, tr(person, "Vote now"))
        for title in titles:
            await step(harness, person, lambda label, title=title: label.endswith(title))
            mine = [p for p in placed if p[0] is person and p[1] == title]
            if mine:
                placed.remove(mine[0])
            else:
                placed.append((person, title))

    n, e, s, w = (c.residents["north"], c.residents["east"], c.residents["south"],
                  c.residents["west"])
    await cast(n[0], "Bad roads", "Flooding")
    await cast(n[1], "Dark streets")
    await cast(n[2], "Bad roads", "Bad roads", "No park")  # placed, taken back, another
    await cast(e[0], "Bad roads")
    await harness.restart()  # half-way: the vote goes on
    await cast(e[1], "Noise", "Bad roads", "Dark streets")
    await step(harness, e[1], lambda label: label.endswith("Flooding"))
    assert e[1].last_answer == tr(e[1], flow.FULL)
    await cast(s[0], "Flooding")
    await cast(w[1], "Flooding", "No park")
    await cast(c.d2c, "Bad roads")
    # Someone from another city cannot vote, nor can a forged position count.
    before = await city_state(harness.db)
    assert await press(harness, outsider, Sticker(vote.id, 1, 0).pack()) == tr(
        outsider, flow.NOT_BELOW, community="Mashhad")
    assert await press(harness, outsider, Ballot(vote.id, 0).pack()) == tr(
        outsider, flow.NOT_BELOW, community="Mashhad")
    assert await press(harness, n[0], Sticker(vote.id, 99, 0).pack()) == tr(
        n[0], flow.NOT_AVAILABLE)
    assert await press(harness, n[0], Close(vote.id).pack()) == tr(
        n[0], "Only coordinators of this community can do that.")
    assert await press(harness, c.d1c, Close(vote.id).pack()) == tr(c.d1c, flow.NOT_AVAILABLE)
    assert await press(harness, mayor, Prioritise("below").pack()) == tr(mayor, flow.VOTE_OPEN)
    assert await city_state(harness.db) == before

    # The tally kept here, independently of the bot.
    tally = Counter(title for _person, title in placed)
    assert tally == {"Bad roads": 4, "Flooding": 3, "Dark streets": 2, "No park": 2,
                     "Noise": 1}
    await step(harness, mayor, "/city", send=True)
    await step(harness, mayor, "Close the vote")
    assert mayor.last_answer == "The vote has closed."
    result = await flow.city_result(harness.db, (await store.votes_of(harness.db, [city_id]))[0])
    assert {s.problem.title: int(s.score) for s in result.outcome.standings} == tally
    assert [(s.rank, s.problem.title) for s in result.outcome.standings] == [
        (1, "Bad roads"), (2, "Flooding"), (3, "Dark streets"), (3, "No park"), (5, "Noise")]
    voter = e[0]
    text = plain((await voter.wait_for("The vote has closed."))["text"])
    assert text.splitlines()[2:11] == [
        "Result: the priorities of Mashhad", "by everyone in the communities below",
        "8 people voted.", "",
        "1. Bad roads — 4 stickers", "2. Flooding — 3 stickers", "3. Dark streets — 2 stickers",
        "3. No park — 2 stickers", "5. Noise — 1 sticker"]
    assert not any("The vote has closed." in t for t in w[0].texts())  # did not vote
    # Everyone below sees the city's priorities in /city.
    await step(harness, n[1], "/city", send=True)
    assert plain(n[1].texts()[-1]).splitlines()[:2] == [
        "🏙 North", said(n[1], "Part of: {chain}", chain="District One → Mashhad")]
    assert said(n[1], "Priorities of {community}, {electorate}:", community="Mashhad",
                electorate=tr(n[1], "by everyone in the communities below")) in plain(
        n[1].texts()[-1])


# -- approval up the chain, and broadcasts from a parent ---------------------------------------


def told(lang: str, message: str, **values: Any) -> str:
    """A notice as a member whose language is ``lang`` reads it."""
    t = Translator(lang)
    shown = {k: t._(v) if k == "kind" else isolate(v) for k, v in values.items()}
    return plain(t._(message, **shown))


RETURNED = "↩️ {parent} returned: {kind} — <b>{title}</b>. Their comment: {comment}"
APPROVED = "✅ {parent} approved: {kind} — <b>{title}</b>."


async def test_a_plan_goes_up_the_chain_and_every_member_is_told(harness: Harness) -> None:
    c = await build_city(harness)
    mayor, d1c = c.mayor, c.d1c
    nc = c.coordinators["north"]
    north = [nc, *c.residents["north"]]  # en, fa, kk, he
    east = [c.coordinators["east"], *c.residents["east"]]
    await step(harness, nc, "/newplan Repair the roads", send=True)
    (plan,) = await harness.db.fetchall("SELECT id FROM plans")
    plan_id = plan["id"]

    # North submits its plan to its district.
    await step(harness, nc, "/city", send=True)
    await step(harness, nc, "Submit to District One")
    assert plain(nc.texts()[-1]).splitlines()[0] == "Submit to District One"
    await step(harness, nc, "Action plan: Repair the roads")
    assert nc.last_answer == "Submitted to District One."
    await hears(d1c, told("fa", "{community} submitted for your approval: {kind} —"
                                  " <b>{title}</b>.", community="North", kind="Action plan",
                            title="Repair the roads"))
    (submission,) = await store.submissions_to(harness.db, c.d1.community.id)

    # Forged decisions: a sibling neighbourhood, the other district, another city, a
    # resident — none changes anything.
    other = await harness.new_community("Other Town")
    stranger = await harness.coordinator(other, "he")
    before = await city_state(harness.db)
    for person in (c.coordinators["east"], c.d2c, stranger, mayor):
        assert await press(harness, person, Approve(submission.id).pack()) == tr(
            person, flow.NOT_AVAILABLE)
        assert await press(harness, person, GiveBack(submission.id).pack()) == tr(
            person, flow.NOT_AVAILABLE)
        if person is not mayor:  # the city reads what lies below it
            assert await press(harness, person, OpenSubmission(submission.id).pack()) == tr(
                person, flow.NOT_AVAILABLE), person.name
    assert await press(harness, c.coordinators["east"], Resubmit(submission.id).pack()) == tr(
        c.coordinators["east"], flow.NOT_AVAILABLE)
    assert await press(harness, c.coordinators["east"], Submit("plan", plan_id).pack()) == tr(
        c.coordinators["east"], flow.NOTHING_TO_SUBMIT)
    resident = c.residents["north"][0]
    assert await press(harness, resident, Approve(submission.id).pack()) == tr(
        resident, "Only committee members and coordinators can do that.")
    assert await city_state(harness.db) == before

    # The district returns it with a comment; a restart in the middle of writing it resumes.
    await step(harness, d1c, tr(d1c, "Open"))
    await step(harness, d1c, tr(d1c, "Return with a comment"))
    assert d1c.texts()[-1].startswith(tr(d1c, "What should change? Write your comment; the"
                                             " members of the community that submitted it"
                                             " will read it."))
    await harness.restart()
    await step(harness, d1c, "Add a budget to every task", send=True)
    for person in north:
        await hears(person, told(person.language_code or "en", RETURNED, parent="District One",
                                   kind="Action plan", title="Repair the roads",
                                   comment="Add a budget to every task"))
    assert not any("Repair the roads" in t for p in east for t in p.texts())
    assert await press(harness, d1c, Approve(submission.id).pack()) == tr(
        d1c, flow.ALREADY_DECIDED)

    # North submits it again; the district approves; North hears it in its languages.
    await step(harness, nc, "/city", send=True)
    assert "↩️ Action plan: Repair the roads — returned" in plain(nc.texts()[-1])
    await step(harness, nc, "Submit to District One")
    await step(harness, nc, "↩️ Action plan: Repair the roads")
    assert "• " + said(nc, "{day}: returned by {name}: {comment}", day=Translator(
        "en", "Asia/Tehran").date(submission.created_at), name="Dariush",
        comment="Add a budget to every task") in plain(nc.texts()[-1])
    await step(harness, nc, "Submit again")
    assert nc.last_answer == "Submitted to District One."
    await step(harness, d1c, tr(d1c, "Open"))
    await step(harness, d1c, tr(d1c, "Approve"))
    assert d1c.last_answer == tr(d1c, "Approved. The members of {community} are told.",
                                 community="North")
    for person in north:
        await hears(person, told(person.language_code or "en", APPROVED,
                                   parent="District One", kind="Action plan",
                                   title="Repair the roads"))

    # Carried up to the city, which approves: North and District One are told.
    await step(harness, d1c, tr(d1c, "Carry it up"))
    assert d1c.last_answer == tr(d1c, "Submitted to {community}.", community="Mashhad")
    await step(harness, mayor, "Open")
    await step(harness, mayor, "Approve")
    for person in [d1c, *north]:
        await hears(person, told(person.language_code or "en", APPROVED, parent="Mashhad",
                                   kind="Action plan", title="Repair the roads"))
    assert await press(harness, d1c, Forward(submission.id).pack()) == tr(
        d1c, flow.ALREADY_SUBMITTED)

    # Marked at every level: North's /plan, and the history the city reads.
    history = {s.parent_id: await store.events(harness.db, s.id)
               for s in await store.submissions_of(harness.db, "plan", plan_id)}
    day = Translator("en", "Asia/Tehran").date
    await step(harness, nc, "/plan", send=True)
    assert plain(nc.texts()[-1]).splitlines()[2:4] == [
        f"✅ Approved by District One on {day(history[c.d1.community.id][-1].at)}",
        f"✅ Approved by Mashhad on {day(history[c.city.community.id][-1].at)}"]
    assert [e.status for e in history[c.d1.community.id]] == [
        "submitted", "returned", "submitted", "approved"]
    await step(harness, mayor, "/city", send=True)
    await step(harness, mayor, "1. District One")
    await step(harness, mayor, "North")
    assert "    ✅ Approved by Mashhad on" in plain(mayor.texts()[-1])

    # A vote's result goes up the same way, as it stood when submitted.
    await closed_vote(harness.db, c.east.community.id, ["Potholes", "Noise"],
                      {c.residents["east"][0]: [0, 1], c.residents["east"][1]: [0]})
    ec = c.coordinators["east"]
    await step(harness, ec, "/city", send=True)
    await step(harness, ec, "Submit to District One")
    await step(harness, ec, "Vote result: What matters most?")
    assert ec.last_answer == "Submitted to District One."
    await hears(d1c, told("fa", "{community} submitted for your approval: {kind} —"
                                " <b>{title}</b>.", community="East", kind="Vote result",
                          title="What matters most?"))
    await step(harness, d1c, tr(d1c, "Open"))
    t = Translator("fa")
    assert plain(d1c.texts()[-1]).splitlines()[4:7] == [
        t.ngettext("{n} person voted.", "{n} people voted.", 2),
        f"{t.num(1)}. Potholes — {t.ngettext('{n} sticker', '{n} stickers', 2)}",
        f"{t.num(2)}. Noise — {t.ngettext('{n} sticker', '{n} stickers', 1)}"]


async def test_a_parent_broadcasts_to_everyone_below_or_to_one_child(harness: Harness) -> None:
    c = await build_city(harness)
    everyone = [c.mayor, c.d1c, c.d2c, *c.coordinators.values(),
                *(p for people in c.residents.values() for p in people)]
    mayor = c.mayor
    await step(harness, mayor, "/broadcast", send=True)
    await step(harness, mayor, "The city meets on Friday.", send=True)
    await step(harness, mayor, "+ فارسی")
    await step(harness, mayor, "شهر جمعه جلسه دارد.", send=True)
    await step(harness, mayor, "Choose the audience")
    assert mayor.buttons()[:4] == ["All members", "Everyone in Mashhad and every community below",
                                   "Everyone in District One and below it",
                                   "Everyone in District Two and below it"]
    await step(harness, mayor, "Everyone in Mashhad and every community below")
    await step(harness, mayor, "Preview")
    await step(harness, mayor, "Send to 16 members")
    for person in everyone:
        await person.wait_for("شهر جمعه جلسه دارد." if person.language_code == "fa"
                              else "The city meets on Friday.")

    # A district to one of its neighbourhoods only (its coordinator writes in Persian).
    d1c = c.d1c
    await step(harness, d1c, "/broadcast", send=True)
    await step(harness, d1c, "آب فردا قطع است.", send=True)
    await step(harness, d1c, tr(d1c, "Choose the audience"))
    await step(harness, d1c, tr(d1c, flow.CHILD_AUDIENCE, community="North"))
    await step(harness, d1c, tr(d1c, "Preview"))
    await step(harness, d1c, Translator("fa").ngettext("Send to {n} member",
                                                       "Send to {n} members", 4))
    for person in [c.coordinators["north"], *c.residents["north"]]:
        await person.wait_for("آب فردا قطع است.")
    assert not any("آب فردا قطع است." in t for p in c.residents["east"] for t in p.texts())
    # A neighbourhood has no one below it; a forged audience is refused.
    nc = c.coordinators["north"]
    await step(harness, nc, "/broadcast", send=True)
    await step(harness, nc, "Hello", send=True)
    await step(harness, nc, "Choose the audience")
    assert not any("and below" in label for label in nc.buttons())
    from bot.flows import broadcast as broadcast_flow
    from bot.flows.errors import Refused
    actor = await _member(harness, d1c)
    for audience in (f"child:{c.south.community.id}", "child:x", f"child:{c.city.community.id}"):
        try:
            await broadcast_flow.reach(harness.db, actor, audience)
        except Refused as refused:
            assert refused.message == broadcast_flow.NOT_AVAILABLE
        else:
            raise AssertionError(f"{audience} reached someone")


async def _member(harness: Harness, person: Person) -> Any:
    """``person`` as the flows see them in their current community."""
    from bot.flows.people import Member
    from storage import community as community_store

    user = await community_store.get_user(harness.db, person.id)
    assert user is not None and user.current_community_id is not None
    community = await community_store.get_community(harness.db, user.current_community_id)
    membership = await community_store.get_membership(harness.db, community.id, user.id)
    assert community is not None
    return Member(user, community, membership, Translator(user.language), False)


# -- every city button, forged with another city's ids ---------------------------------------


async def _world(harness: Harness, name: str) -> dict[str, Any]:
    """A parent and a child, both with everything a city button can name."""
    db = harness.db
    parent = await harness.new_community(f"{name} City")
    child = await harness.new_community(f"{name} Quarter")
    await store.set_parent(db, child.community.id, parent.community.id, None)
    boss = await harness.coordinator(parent, "en", name=f"{name}Boss")
    local = await harness.coordinator(child, "en", name=f"{name}Local")
    residents = [await harness.resident(child, lang) for lang in ("fa", "he")]
    await closed_vote(db, child.community.id, ["Roads", "Light", "Water"],
                      {residents[0]: [0, 1], residents[1]: [2]})
    await flow.gather(db, parent.community.id)
    first, second, third = await store.merged_problems(db, parent.community.id)
    assert await store.merge(db, third, first, boss.id)
    merge = await store.last_merge(db, parent.community.id)
    vote = await store.open_vote(db, parent.community.id, "below", 3,
                                 [(first.id, first.title, 2), (second.id, second.title, 1)],
                                 boss.id)
    plan = await db.execute("INSERT INTO plans (community_id, problem, created_at)"
                            " VALUES (?, 'Fix it', '2026-01-01T00:00:00+00:00')",
                            (child.community.id,))
    done = await store.submit(db, child.community.id, parent.community.id, "plan", plan,
                              origin_id=None, title="Fix it", content={}, by=local.id)
    assert merge is not None and vote is not None and done is not None
    return {"boss": boss, "local": local, "resident": residents[0],
            "ids": {"community": child.community.id, "problem": second.id, "into": first.id,
                    "merge": merge.id, "vote": vote.id, "submission": done[0].id,
                    "ref": plan, "parent": parent.community.id}}


async def test_every_city_button_with_another_citys_ids_is_refused(harness: Harness) -> None:
    from dataclasses import fields as dataclass_fields

    from bot.callbacks import KINDS

    ours, theirs = await _world(harness, "Ours"), await _world(harness, "Theirs")
    def refusals(who: Person) -> set[str]:
        plain_ones = {flow.NOT_AVAILABLE, flow.ONLY_ADMINS, flow.ONLY_COORDINATORS, STALE,
                      flow.NOTHING_TO_SUBMIT, flow.NOTHING_TO_UNDO,
                      "Only coordinators of this community can do that.",
                      "Only committee members and coordinators can do that."}
        return {tr(who, msgid) for msgid in plain_ones} | {
            tr(who, flow.NO_PARENT, community="Ours City"),
            tr(who, flow.NOT_BELOW, community="Theirs City")}

    kinds = [kind for prefix, kind in sorted(KINDS.items()) if prefix.startswith("city:")]
    assert len(kinds) == 22
    before = await city_state(harness.db)
    pressed = 0
    for kind in kinds:
        names = [f.name for f in dataclass_fields(kind)]  # type: ignore[arg-type]
        if not set(names) & set(theirs["ids"]):
            continue  # nothing to forge: pages, a vote's electorate, the outbox
        others = {"kind": "plan", "position": 1}
        values = {name: theirs["ids"].get(name, others.get(name, 0)) for name in names}
        for who in (ours["boss"], ours["local"], ours["resident"]):
            answer = await press(harness, who, kind(**values).pack())
            assert answer in refusals(who), (kind.prefix, who.name, answer)
            pressed += 1
    assert pressed == 3 * 16  # every kind that names something
    assert await city_state(harness.db) == before


async def test_a_district_committee_prioritises_its_merged_list(harness: Harness) -> None:
    db = harness.db
    district = await harness.new_community("District One")
    north = await harness.new_community("North")
    east = await harness.new_community("East")
    for child in (north, east):
        await store.set_parent(db, child.community.id, district.community.id, None)
    chair = await harness.coordinator(district, "kk", name="Chair")
    member = await harness.resident(district, "he", name="Member")
    plain_resident = await harness.resident(district, "en", name="Plain")
    from storage import community as community_store
    await community_store.set_role(db, district.community.id, member.id, "committee")
    below = await harness.resident(north, "fa", name="Below")
    other = await harness.resident(east, "en", name="Other")
    await closed_vote(db, north.community.id, ["Roads", "Light"], {below: [0, 1]})
    await closed_vote(db, east.community.id, ["Water", "Roads"], {other: [0]})

    await press(harness, chair, Merged(0).pack())
    await step(harness, chair, tr(chair, "Vote by the committee"))
    assert Translator("kk").ngettext("The vote is open. Announcing it to {n} person…",
                                     "The vote is open. Announcing it to {n} people…",
                                     2) in chair.texts()
    (vote,) = await store.votes_of(db, [district.community.id])
    assert vote.electorate == "committee"
    await hears(member, sticker_budget(member, 3))
    before = await city_state(db)
    for outsider in (below, plain_resident):
        assert await press(harness, outsider, Sticker(vote.id, 1, 0).pack()) == tr(
            outsider, flow.NOT_IN_ELECTORATE, community="District One")
    assert await city_state(db) == before
    assert not any(tr(below, "Vote now") in below.buttons(m) for m in below.messages)
    await step(harness, member, tr(member, "Vote now"))
    await step(harness, member, lambda label: label.endswith("Water"))
    await step(harness, chair, tr(chair, "Close the vote"))
    result = await flow.city_result(db, (await store.votes_of(db, [district.community.id]))[0])
    assert [(s.problem.title, int(s.score)) for s in result.outcome.standings] == [
        ("Water", 1), ("Roads", 0), ("Light", 0)]
    # The result reaches who voted and the coordinators; the committee's vote is also what
    # the district may submit to its own parent once it has one.
    await hears(member, plain(tr(member, "The vote has closed.")))
    assert not any(tr(plain_resident, "The vote has closed.") in t
                   for t in plain_resident.texts())
