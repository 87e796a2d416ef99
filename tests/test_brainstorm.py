"""Problem brainstorming end to end: 30 submissions in four languages, "me too", merges
(also of merges) without double counting, hides with the author told, shortlist, undo,
flood limits, and the shortlist feeding a priority vote."""

from __future__ import annotations

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
from tests.harness import Harness, press, step, tr

STALE = "This button no longer works."
NOT_AVAILABLE = "This problem card is not available to you."


def problem_prompt(person: Person) -> str:
    return (tr(person, "Describe the problem in a sentence or two (you may send a photo with"
                       " a caption).") + "\n" + tr(person, "(/cancel stops)"))


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
    assert (await store.get_card(harness.db, card(1))).support == 5  # type: ignore[union-attr]
    # Merges of merges: problem 4 (R0, R5) into 3, then 3 into 1: R5 is new → 6.
    assert await press(harness, cora, MergeInto(card(4), card(3)).pack()) == "Merged."
    await press(harness, cora, MergeInto(card(3), card(1)).pack())
    assert (await store.get_card(harness.db, card(1))).support == 6  # type: ignore[union-attr]
    # Undo the last merge: problem 1 is back to 5, problem 3 visible with its own merge.
    await step(harness, cora, "/curate", send=True)
    await step(harness, cora, "↶ Undo the last merge")
    assert (await store.get_card(harness.db, card(1))).support == 5  # type: ignore[union-attr]
    assert (await store.get_card(harness.db, card(3))).support == 2  # type: ignore[union-attr]

    # Hide an abusive card with a reason: its author is told.
    await press(harness, cora, Hide(card(6)).pack())
    await step(harness, cora, "Personal attack", send=True)
    author = residents[1]
    assert author.texts()[-1] == tr(
        author, "Your problem “{text}” was hidden by a coordinator. Reason: {reason}",
        text="\u2068Problem 6 from R1\u2069", reason="\u2068Personal attack\u2069")
    assert (await store.get_card(harness.db, card(6))).status == "hidden"  # type: ignore[union-attr]
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
