"""Problem brainstorming end to end: 30 submissions in four languages, "me too", merges
(also of merges) without double counting, hides with the author told, shortlist, undo,
flood limits, and the shortlist feeding a priority vote."""

from __future__ import annotations

import logging
import random

import pytest

from bot.emulator import Person
from bot.handlers.brainstorm import (
    Add,
    CardMenu,
    Close,
    Curate,
    Hide,
    MergeInto,
    MeToo,
    Reword,
    Shortlist,
    Undo,
)
from storage import brainstorm as store
from storage import voting as voting_store
from storage.brainstorm import Card
from tests.harness import Harness, press, step, tr

STALE = "This button no longer works."
NOT_AVAILABLE = "This problem card is not available to you."


def problem_prompt(person: Person) -> str:
    return (tr(person, "Describe the problem in a sentence or two (you may send a photo with"
                       " a caption).") + "\n" + tr(person, "(/cancel stops)"))


# Field values no real button carries: too big, negative, not numbers, not words.
HOSTILE = ["99999999999999999999", str(2**63), str(2**63 - 1), "-1", "-99999999999999999999",
           "x", "", "1.5", "١٢", "+1", "01", "0x1f", " 1", "1e3", "ы" * 30, "None"]
SORRY = "Sorry, something went wrong on our side. Please try again in a moment."


def real_buttons(person: Person) -> set[str]:
    """The callback data of every button now on ``person``'s messages."""
    return {b["callback_data"] for m in person.messages
            for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row if "callback_data" in b}


def mutated(data: str, rng: random.Random) -> str:
    """``data`` with a part dropped, added, or replaced by a hostile value — never another
    legal value, so the answer must be a refusal and nothing may change."""
    head, _, rest = data.partition(":")
    verb, _, rest = rest.partition(":")
    parts = rest.split(":") if rest else []
    how = rng.randrange(4)
    if how == 0 and parts:
        parts.pop(rng.randrange(len(parts)))
    elif how == 1:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice([*HOSTILE, "0", "1"]))
    elif how == 2 and parts:
        parts[rng.randrange(len(parts))] = rng.choice(HOSTILE)
    else:
        parts = [rng.choice(HOSTILE) for _ in parts] or [rng.choice(HOSTILE)]
    return ":".join([head, verb, *parts]).encode()[:64].decode(errors="ignore")


async def dump(harness: Harness) -> dict[str, list[tuple[object, ...]]]:
    """Every table but PTB's own (persistence) and the schema version."""
    tables = [r["name"] for r in await harness.db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'ptb_%'"
        " AND name NOT LIKE 'sqlite_%' AND name <> 'schema_version' ORDER BY name")]
    return {t: [tuple(r) for r in await harness.db.fetchall(f"SELECT * FROM {t}")]
            for t in tables}


async def refused_without_a_trace(harness: Harness, caplog: pytest.LogCaptureFixture,
                                  presses: list[tuple[Person, str]]) -> None:
    """Each press is answered (never with the error apology), nothing is logged as an
    error, and the database is exactly as before."""
    before = await dump(harness)
    caplog.set_level(logging.ERROR)
    for person, data in presses:
        query = await person.press(data)
        await harness.settle()
        assert query.answered is not None, data
        assert person.last_answer != tr(person, SORRY), data
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert await dump(harness) == before


async def snapshot(harness: Harness) -> list[object]:
    """Everything the brainstorm stores, to show that a forged button changed nothing."""
    found: list[object] = []
    for table in ("brainstorms", "problem_cards", "card_supporters", "curation_log"):
        found.append([tuple(r) for r in await harness.db.fetchall(f"SELECT * FROM {table}")])
    return found


async def test_brainstorm_to_shortlist(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en", name="Cora")
    languages = ["fa", "kk", "he", "en", "fa", "he"]
    residents = [await harness.resident(invitation, lang, name=f"R{i}")
                 for i, lang in enumerate(languages)]
    await step(harness, cora, "/brainstorm What makes life hard in our street?", send=True)
    for person in residents:
        assert tr(person, "Add a problem") in person.buttons()

    # 30 problems: five from each resident (the first through the announcement's button).
    for i, person in enumerate(residents):
        for k in range(5):
            if k == 0:
                await step(harness, person, tr(person, "Add a problem"))
            else:
                await step(harness, person, "/problem", send=True)
            await step(harness, person, f"Problem {i * 5 + k + 1} from {person.name}",
                       send=True)
        assert person.texts()[-1] == tr(person, "Thank you! Your problem is on the board."
                                                " /problems shows them all.")
    round_ = await store.latest_round(harness.db, invitation.community.id)
    assert round_ is not None
    cards = {c.text: c for c in await store.cards(harness.db, round_.id)}
    assert len(cards) == 30 and all(c.support == 1 for c in cards.values())

    # Flooding and over-long text are refused with a localized hint; nothing is added.
    flooder = residents[0]
    await step(harness, flooder, "/problem", send=True)
    await step(harness, flooder, "One more", send=True)
    assert flooder.texts()[-1] == tr(flooder, "You have added {n} problems in the last hour."
                                              " Please wait a while before adding more.", n=5)
    await step(harness, flooder, "/cancel", send=True)
    newcomer = await harness.resident(invitation, "kk", name="New")
    await step(harness, newcomer, "/problem", send=True)
    await step(harness, newcomer, "ы" * 600, send=True)
    # The hint, then the question again (the form engine's way).
    assert newcomer.texts()[-2] == tr(newcomer, "Please keep it under {n} characters.", n=500)
    assert newcomer.texts()[-1] == problem_prompt(newcomer)
    await harness.restart()  # still waiting for the text after a restart
    await step(harness, newcomer, "Broken bench by the school", send=True)
    assert len(await store.cards(harness.db, round_.id)) == 31

    def card(n: int) -> int:
        return next(c.id for text, c in cards.items() if text.startswith(f"Problem {n} "))

    async def stored(n: int) -> Card:
        found = await store.get_card(harness.db, card(n))
        assert found is not None
        return found

    # "me too": R1..R3 back problem 1, R3 and R4 back problem 2, R5 backs problem 4.
    for person in residents[1:4]:
        assert await press(harness, person, MeToo(card(1), 0).pack()) == tr(person, "Me too!")
    for person in residents[3:5]:
        await press(harness, person, MeToo(card(2), 0).pack())
    await press(harness, residents[5], MeToo(card(4), 0).pack())
    # A double tap takes it back; the author cannot back their own card.
    await press(harness, residents[5], MeToo(card(1), 0).pack())
    assert await press(harness, residents[5], MeToo(card(1), 0).pack()) == tr(residents[5],
                                                                         "Taken back.")
    assert await press(harness, residents[0], MeToo(card(1), 0).pack()) == tr(
        residents[0], "You raised this problem, so it already counts you.")

    # Curation: problem 2 (R0, R3, R4) merges into problem 1 (R0, R1, R2, R3): 5 people.
    await step(harness, cora, "/curate", send=True)
    await step(harness, cora, "2. Problem 2 from R0")
    await step(harness, cora, "Merge into…")
    await step(harness, cora, "Problem 1 from R0")
    assert (await stored(1)).support == 5
    # Merges of merges: problem 4 (R0, R5) into 3, then 3 into 1: R5 is new → 6.
    assert await press(harness, cora, MergeInto(card(4), card(3)).pack()) == "Merged."
    await press(harness, cora, MergeInto(card(3), card(1)).pack())
    assert (await stored(1)).support == 6
    # Undo the last merge: problem 1 is back to 5, problem 3 visible with its own merge.
    await step(harness, cora, "/curate", send=True)
    await step(harness, cora, "↶ Undo the last merge")
    assert (await stored(1)).support == 5
    assert (await stored(3)).support == 2

    # Hide an abusive card with a reason: its author is told.
    await press(harness, cora, Hide(card(6)).pack())
    await step(harness, cora, "Personal attack", send=True)
    author = residents[1]
    assert author.texts()[-1] == tr(
        author, "Your problem “{text}” was hidden by a coordinator. Reason: {reason}",
        text="\u2068Problem 6 from R1\u2069", reason="\u2068Personal attack\u2069")
    assert (await stored(6)).status == "hidden"
    # Reword and shortlist.
    await press(harness, cora, Reword(card(7)).pack())
    await step(harness, cora, "Street lights are broken at night", send=True)
    for n in (1, 7, 8, 9):
        await press(harness, cora, Shortlist(card(n), 0).pack())
    await step(harness, cora, "/curate", send=True)
    await step(harness, cora, "↶ Undo the last shortlist change")  # shortlisting 9

    shortlist = await store.cards(harness.db, round_.id, shortlisted=True)
    assert [c.id for c in shortlist] == [card(1), card(7), card(8)]
    assert [c.support for c in shortlist] == [5, 1, 1]
    assert shortlist[1].text == "Street lights are broken at night"
    visible = await store.cards(harness.db, round_.id)
    assert len(visible) == 31 - 2 - 1  # two merged, one hidden

    # Forged or wrong buttons change nothing.
    resident = residents[2]
    assert await press(harness, resident, Shortlist(card(10), 0).pack()) == tr(
        resident, "Only coordinators of this community can do that.")
    assert await press(harness, cora, MergeInto(card(10), card(10)).pack()) == NOT_AVAILABLE
    assert await press(harness, resident, MeToo(card(6), 0).pack()) == tr(resident,
                                                                          NOT_AVAILABLE)
    for forged in ("bs:me:x:0", "brainstorm:metoo:x:0", "brainstorm:metoo:1",
                   "brainstorm:metoo:1:0:0", "brainstorm:metoo:-1:0"):
        assert await press(harness, resident, forged) == tr(resident, STALE)
    assert len(await store.cards(harness.db, round_.id, shortlisted=True)) == 3

    # The shortlist feeds prioritisation.
    await step(harness, cora, "/prioritise", send=True)
    await step(harness, cora, "Street priorities", send=True)
    await step(harness, cora, "Stickers")
    await step(harness, cora, "Use the brainstorm shortlist (3 problems)")
    await step(harness, cora, lambda text: text.startswith("3"))
    await step(harness, cora, "No, one per problem")
    await step(harness, cora, "When I close it")
    await step(harness, cora, "Open the vote")
    vote_id = int(await harness.db.fetchval("SELECT MAX(id) FROM prioritisations"))
    titles = [p.title for p in await voting_store.problems(harness.db, vote_id)]
    assert titles == [c.text for c in shortlist]


async def test_a_problem_with_a_photo(harness: Harness) -> None:
    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    noa = await harness.resident(invitation, "he")
    await step(harness, cora, "/brainstorm What is broken?", send=True)
    await step(harness, noa, "/problem", send=True)
    assert noa.texts()[-1] == problem_prompt(noa)
    # A photo alone is not a problem yet: the hint, and the question again.
    await noa.send_photo(b"jpeg", caption=None)
    await harness.settle()
    assert noa.texts()[-2:] == [tr(noa, "Please describe the problem in a few words."),
                                problem_prompt(noa)]
    await noa.send_photo(b"jpeg", caption="  The bus stop   roof is broken ")
    await harness.settle()
    assert noa.texts()[-1] == tr(noa, "Thank you! Your problem is on the board. /problems"
                                      " shows them all.")
    round_ = await store.latest_round(harness.db, invitation.community.id)
    assert round_ is not None
    (card,) = await store.cards(harness.db, round_.id)
    assert card.text == "The bus stop roof is broken" and card.photo is not None
    await step(harness, cora, "/problems", send=True)
    assert "1. 📷 \u2068The bus stop roof is broken\u2069 — 👥 1" in cora.texts()[-1]


async def test_forged_stale_and_foreign_buttons_change_nothing(harness: Harness) -> None:
    """Huge, negative, missing and extra parts, another community's cards and rounds, a
    closed round, an undo shown before another step: each answered, nothing changed."""
    green = await harness.new_community()
    blue = await harness.new_community("Blue Street")
    cora = await harness.coordinator(green, "en")
    resident = await harness.resident(green, "fa")
    other = await harness.coordinator(blue, "en")
    await step(harness, other, "/brainstorm Blue street problems?", send=True)
    await step(harness, other, "/problem", send=True)
    await step(harness, other, "A blue problem", send=True)
    await step(harness, cora, "/brainstorm Green street problems?", send=True)
    await step(harness, resident, "/problem", send=True)
    await step(harness, resident, "A green problem", send=True)
    await step(harness, cora, "/problem", send=True)
    await step(harness, cora, "Another green problem", send=True)
    blue_round = await store.latest_round(harness.db, blue.community.id)
    green_round = await store.latest_round(harness.db, green.community.id)
    assert blue_round is not None and green_round is not None
    (blue_card,) = await store.cards(harness.db, blue_round.id)
    mine, theirs = sorted(await store.cards(harness.db, green_round.id),
                          key=lambda c: c.author_id != resident.id)
    # Two curation steps: the undo button of the first no longer undoes the second.
    await step(harness, cora, "/curate", send=True)
    await press(harness, cora, Shortlist(mine.id, 0).pack())
    stale_undo = Undo(green_round.id, int(await harness.db.fetchval(
        "SELECT MAX(id) FROM curation_log")))
    await step(harness, cora, "/curate", send=True)
    first_list = cora.last  # offers to undo the first step
    await step(harness, cora, "/curate", send=True)
    await press(harness, cora, Shortlist(theirs.id, 0).pack())
    before = await snapshot(harness)

    huge = 99999999999999999999
    forged = {
        resident: ["bs:me:99999999999999999999:0", f"brainstorm:metoo:{huge}:0",
                   f"brainstorm:metoo:{theirs.id}:{huge}", f"brainstorm:metoo:-{theirs.id}:0",
                   f"brainstorm:metoo:{theirs.id}", f"brainstorm:metoo:{theirs.id}:0:0",
                   "brainstorm:metoo::0", "brainstorm:metoo", "brainstorm:add:0",
                   f"brainstorm:board:{green_round.id}:x"],
        cora: [f"brainstorm:mergeinto:{mine.id}:{huge}", f"brainstorm:undo:{huge}:1",
               f"brainstorm:card:{mine.id}:-1", f"brainstorm:shortlist:{mine.id}"],
    }
    for person, datas in forged.items():
        for data in datas:
            assert await press(harness, person, data) == tr(person, STALE), data
    not_available = {
        resident: [MeToo(blue_card.id, 0), Add(blue_round.id), MeToo(2**63 - 1, 0)],
        cora: [MergeInto(mine.id, blue_card.id), Shortlist(blue_card.id, 0),
               CardMenu(blue_card.id, 0), Curate(blue_round.id, 0), Hide(blue_card.id),
               Reword(blue_card.id), Close(blue_round.id), Undo(blue_round.id, 1)],
    }
    for person, kinds in not_available.items():
        for kind in kinds:
            assert await press(harness, person, kind.pack()) == tr(person, NOT_AVAILABLE), kind
    assert await press(harness, resident, Shortlist(theirs.id, 0).pack()) == tr(
        resident, "Only coordinators of this community can do that.")
    assert await press(harness, cora, stale_undo.pack()) == STALE
    await cora.tap("↶ Undo the last shortlist change", first_list)
    await harness.settle()
    assert cora.last_answer == STALE
    assert await snapshot(harness) == before

    # A closed round takes no new problems and no "me too".
    await press(harness, cora, Close(green_round.id).pack())
    closed = await snapshot(harness)
    assert await press(harness, resident, Add(green_round.id).pack()) == tr(
        resident, "This brainstorm has closed.")
    assert await press(harness, resident, MeToo(theirs.id, 0).pack()) == tr(
        resident, "This brainstorm has closed.")
    assert await press(harness, cora, Close(green_round.id).pack()) == \
        "This brainstorm has closed."
    await step(harness, resident, "/problem", send=True)
    assert resident.texts()[-1] == tr(resident, "This brainstorm has closed.")
    assert await snapshot(harness) == closed


async def test_mutated_buttons_are_refused_and_change_nothing(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Every real brainstorm button of a coordinator and a resident, mutated at random
    (seeded), and the real buttons of another community and of a closed round."""
    green = await harness.new_community()
    blue = await harness.new_community("Blue Street")
    cora = await harness.coordinator(green, "en")
    resident = await harness.resident(green, "kk")
    other = await harness.coordinator(blue, "en")
    await step(harness, cora, "/brainstorm An old question?", send=True)
    await step(harness, resident, tr(resident, "Add a problem"))
    await step(harness, resident, "An old problem", send=True)
    await step(harness, resident, "/problems", send=True)
    closed = real_buttons(resident)  # "add" and "me too" of a round about to close
    await step(harness, cora, "/curate", send=True)
    await step(harness, cora, "Close the brainstorm")
    await step(harness, cora, "/brainstorm Green street problems?", send=True)
    await step(harness, other, "/brainstorm Blue street problems?", send=True)
    for person, text in ((resident, "Broken swings"), (cora, "No bus shelter"),
                         (cora, "Dark corners"), (other, "A blue problem")):
        await step(harness, person, "/problem", send=True)
        await step(harness, person, text, send=True)
    seen: dict[Person, set[str]] = {cora: set(), resident: set(), other: set()}

    def collect() -> None:  # messages are edited in place: keep what each step showed
        for person, found in seen.items():
            found |= {d for d in real_buttons(person) if d.startswith("brainstorm:")}

    for person in (cora, other):
        await step(harness, person, "/curate", send=True)
        await step(harness, person, lambda label: label.startswith("1. "))
        collect()
        await step(harness, person, "Add to the shortlist")
        await step(harness, person, lambda label: label.startswith("1. "))
        await step(harness, person, "Merge into…")
        collect()
        await step(harness, person, "/curate", send=True)  # with its undo
        collect()
    await step(harness, cora, "/problems", send=True)
    await step(harness, resident, "/problems", send=True)
    await step(harness, resident, "/problem", send=True)  # a form waiting for its answer
    collect()
    ours = {(p, d) for p in (cora, resident) for d in seen[p]}
    assert {d.split(":")[1] for _p, d in ours} == {
        "add", "browse", "metoo", "curate", "card", "shortlist", "merge", "mergeinto",
        "reword", "hide", "close", "undo"}
    rng = random.Random(15)
    presses = [(p, mutated(d, rng)) for p, d in sorted(ours, key=lambda x: x[1])
               for _ in range(3)]
    presses += [(p, d) for d in sorted(seen[other]) for p in (cora, resident)]
    presses += [(resident, d) for d in sorted(closed) if d.startswith("brainstorm:")]
    await refused_without_a_trace(harness, caplog, presses)


async def test_what_other_capabilities_use(harness: Harness) -> None:
    """A round seeded with a plan evaluation's "what next", and the shortlist a priority
    vote starts from, both through the brainstorm's flows."""
    from bot.flows import brainstorm as flow
    from bot.flows.errors import Refused
    from bot.flows.people import Member
    from bot.i18n import Translator
    from storage import community as community_store

    invitation = await harness.new_community()
    cora = await harness.coordinator(invitation, "en")
    user = await community_store.get_user(harness.db, cora.id)
    membership = await community_store.get_membership(harness.db, invitation.community.id,
                                                      cora.id)
    assert user is not None and membership is not None
    who = Member(user, invitation.community, membership, Translator("en"), False)
    assert await flow.shortlist(harness.db, who) == []
    seeded = await flow.open_round_with(harness.db, who, "What next?",
                                        ["  More   lights ", "", "Benches"])
    assert [c.text for c in await store.cards(harness.db, seeded.id)] == ["More lights",
                                                                          "Benches"]
    with pytest.raises(Refused) as refused:
        await flow.open_round_with(harness.db, who, "Again?", ["x"])
    assert refused.value.message == flow.ALREADY_OPEN
    benches = next(c for c in await store.cards(harness.db, seeded.id) if c.text == "Benches")
    await flow.toggle_shortlist(harness.db, who, benches.id)
    assert [c.text for c in await flow.shortlist(harness.db, who)] == ["Benches"]
