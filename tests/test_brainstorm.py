"""Problem brainstorming end to end: 30 submissions in four languages, "me too", merges
(also of merges) without double counting, hides with the author told, shortlist, undo,
flood limits, and the shortlist feeding a priority vote."""

from __future__ import annotations

from storage import brainstorm as store
from storage import voting as voting_store
from tests.harness import Harness, press, step, tr


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
        assert tr(person, "Thank you! Your problem is on the board. /problems shows them"
                          " all.") in person.texts()[-1]
    round_ = await store.latest_round(harness.db, invitation.community.id)
    assert round_ is not None
    cards = {c.text: c for c in await store.cards(harness.db, round_.id)}
    assert len(cards) == 30 and all(c.support == 1 for c in cards.values())

    # Flooding and over-long text are refused with a localized hint; nothing is added.
    flooder = residents[0]
    await step(harness, flooder, "/problem", send=True)
    await step(harness, flooder, "One more", send=True)
    assert tr(flooder, "You have added {n} problems in the last hour. Please wait a while"
                       " before adding more.", n=5) in flooder.texts()[-1]
    await step(harness, flooder, "/cancel", send=True)
    newcomer = await harness.resident(invitation, "kk", name="New")
    await step(harness, newcomer, "/problem", send=True)
    await step(harness, newcomer, "ы" * 600, send=True)
    assert tr(newcomer, "Please keep it under {n} characters.", n=500) in newcomer.texts()[-1]
    await harness.restart()  # still waiting for the text after a restart
    await step(harness, newcomer, "Broken bench by the school", send=True)
    assert len(await store.cards(harness.db, round_.id)) == 31

    def card(n: int) -> int:
        return next(c.id for text, c in cards.items() if text.startswith(f"Problem {n} "))

    # "me too": R1..R3 back problem 1, R3 and R4 back problem 2, R5 backs problem 4.
    for person in residents[1:4]:
        assert await press(harness, person, f"bs:me:{card(1)}:0") == tr(person, "Me too!")
    for person in residents[3:5]:
        await press(harness, person, f"bs:me:{card(2)}:0")
    await press(harness, residents[5], f"bs:me:{card(4)}:0")
    # A double tap takes it back; the author cannot back their own card.
    await press(harness, residents[5], f"bs:me:{card(1)}:0")
    assert await press(harness, residents[5], f"bs:me:{card(1)}:0") == tr(residents[5],
                                                                         "Taken back.")
    assert await press(harness, residents[0], f"bs:me:{card(1)}:0") == tr(
        residents[0], "You raised this problem, so it already counts you.")

    # Curation: problem 2 (R0, R3, R4) merges into problem 1 (R0, R1, R2, R3): 5 people.
    await step(harness, cora, "/curate", send=True)
    await step(harness, cora, lambda text: text.startswith("2. Problem 2 ") or
               text.endswith("Problem 2 from R0"))
    await step(harness, cora, "Merge into…")
    await step(harness, cora, lambda text: text.startswith("Problem 1 "))
    assert (await store.get_card(harness.db, card(1))).support == 5  # type: ignore[union-attr]
    # Merges of merges: problem 4 (R0, R5) into 3, then 3 into 1: R5 is new → 6.
    assert await press(harness, cora, f"bs:mi:{card(4)}:{card(3)}") == "Merged."
    await press(harness, cora, f"bs:mi:{card(3)}:{card(1)}")
    assert (await store.get_card(harness.db, card(1))).support == 6  # type: ignore[union-attr]
    # Undo the last merge: problem 1 is back to 5, problem 3 visible with its own merge.
    await step(harness, cora, "/curate", send=True)
    await step(harness, cora, lambda text: text.startswith("↶"))
    assert (await store.get_card(harness.db, card(1))).support == 5  # type: ignore[union-attr]
    assert (await store.get_card(harness.db, card(3))).support == 2  # type: ignore[union-attr]

    # Hide an abusive card with a reason: its author is told.
    await press(harness, cora, f"bs:hd:{card(6)}")
    await step(harness, cora, "Personal attack", send=True)
    author = residents[1]
    assert "Personal attack" in author.texts()[-1]
    assert (await store.get_card(harness.db, card(6))).status == "hidden"  # type: ignore[union-attr]
    # Reword and shortlist.
    await press(harness, cora, f"bs:ed:{card(7)}")
    await step(harness, cora, "Street lights are broken at night", send=True)
    for n in (1, 7, 8, 9):
        await press(harness, cora, f"bs:sl:{card(n)}")
    await step(harness, cora, "/curate", send=True)
    await step(harness, cora, lambda text: text.startswith("↶"))  # undo shortlisting 9

    shortlist = await store.cards(harness.db, round_.id, shortlisted=True)
    assert [c.id for c in shortlist] == [card(1), card(7), card(8)]
    assert [c.support for c in shortlist] == [5, 1, 1]
    assert shortlist[1].text == "Street lights are broken at night"
    visible = await store.cards(harness.db, round_.id)
    assert len(visible) == 31 - 2 - 1  # two merged, one hidden

    # Forged or wrong buttons change nothing.
    resident = residents[2]
    assert await press(harness, resident, f"bs:sl:{card(10)}") == tr(
        resident, "Only coordinators of this community can do that.")
    assert await press(harness, cora, f"bs:mi:{card(10)}:{card(10)}") == \
        "This problem card is not available to you."
    assert await press(harness, resident, f"bs:me:{card(6)}:0") == tr(
        resident, "This problem card is not available to you.")
    assert await press(harness, resident, "bs:me:x:0") == tr(
        resident, "This problem card is not available to you.")
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
