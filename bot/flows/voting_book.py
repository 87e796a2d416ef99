"""Open sticker votes held in memory and written to SQLite in group commits.

A vote burst (2,000 residents tapping at once) must be answered about as fast as Telegram
delivers it. Checking a tap needs the vote, its problems and the voter's stickers: the vote
and its problems are loaded once per vote, a voter's stickers on their first tap — the
first taps that arrive together are loaded in one query, as ``bot.actor.UserLoader`` does
for users — so the first tap after a restart never waits for the whole vote (a million
stickers at city scale). At most ``MAX_VOTERS`` voters are kept per vote, the least
recently seen going first (never one with a write still being committed), so memory does
not grow with the community. Writes are queued and committed together — one transaction
for every tap that arrived meanwhile — and each tap is acknowledged only after the commit
that holds it, so nothing acknowledged is ever lost. The database's triggers and unique
slot stay the last word: a write they refuse is undone here and refused to the user.

One process owns the database (the design's single-instance rule), so the memory copy
cannot be changed behind its back; closing a vote or a restart drops it (``forget``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from bot.flows.errors import Refused
from bot.i18n import N_
from storage import voting as store
from storage.db import Database
from storage.voting import Prioritisation, Problem

CLOSED = N_("This vote has closed; changes are no longer possible.")
NOT_AVAILABLE = N_("This vote is not available to you.")
NOT_IN_VOTE = N_("This problem is not part of the vote.")
FULL = N_("All your stickers are placed. Tap a problem with your sticker to take it back.")
NONE_HERE = N_("You have no sticker on this problem.")

MAX_VOTERS = 10_000  # voters whose stickers are kept per vote (a burst's worth and more)


@dataclass
class _Vote:
    prioritisation: Prioritisation
    problems: dict[int, Problem]
    # voter -> slot -> problem, least recently seen first; a voter absent is not loaded yet
    stickers: OrderedDict[int, dict[int, int]] = field(default_factory=OrderedDict)
    asked: dict[int, asyncio.Future[dict[int, int]]] = field(default_factory=dict)
    loading: asyncio.Task[None] | None = None


@dataclass
class _Write:
    place: bool
    prioritisation_id: int
    user_id: int
    slot: int
    problem_id: int
    group: str | None
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop()
                                       .create_future())


class StickerBook:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._votes: dict[int, _Vote] = {}
        self._loading: dict[int, asyncio.Task[_Vote | None]] = {}
        self._queue: list[_Write] = []
        self._flushing: asyncio.Task[None] | None = None
        self._pending: Counter[tuple[int, int]] = Counter()  # (vote, voter): writes queued
        self.max_voters = MAX_VOTERS

    async def _vote(self, prioritisation_id: int) -> _Vote | None:
        vote = self._votes.get(prioritisation_id)
        if vote is not None:
            return vote
        task = self._loading.get(prioritisation_id)
        if task is None:
            task = asyncio.ensure_future(self._load(prioritisation_id))
            self._loading[prioritisation_id] = task
        try:
            return await asyncio.shield(task)
        finally:
            self._loading.pop(prioritisation_id, None)

    async def _load(self, prioritisation_id: int) -> _Vote | None:
        prioritisation = await store.get(self.db, prioritisation_id)
        if prioritisation is None:
            return None
        problems = {p.id: p for p in await store.problems(self.db, prioritisation_id)}
        vote = _Vote(prioritisation, problems)
        if prioritisation.is_open:
            self._votes[prioritisation_id] = vote
        return vote

    async def _mine(self, vote: _Vote, user_id: int) -> dict[int, int]:
        """This voter's slot -> problem, loaded on first use (batched with other voters')."""
        mine = vote.stickers.get(user_id)
        if mine is not None:
            vote.stickers.move_to_end(user_id)
            return mine
        found = vote.asked.get(user_id)
        if found is None:
            found = vote.asked[user_id] = asyncio.get_running_loop().create_future()
            if vote.loading is None or vote.loading.done():
                vote.loading = asyncio.ensure_future(self._load_voters(vote))
        return await asyncio.shield(found)

    async def _load_voters(self, vote: _Vote) -> None:
        pid = vote.prioritisation.id
        while vote.asked:
            asked, vote.asked = vote.asked, {}
            try:
                found = await store.stickers_of(self.db, pid, list(asked))
            except Exception as error:  # each asker gets the failure, as a lone query would
                for future in asked.values():
                    if not future.done():
                        future.set_exception(error)
                continue
            for user_id, future in asked.items():
                mine = vote.stickers.setdefault(user_id, found.get(user_id, {}))
                if not future.done():
                    future.set_result(mine)
            self._trim(vote)

    def _trim(self, vote: _Vote) -> None:
        """Drop the least recently seen voters beyond the bound (none with a write queued:
        their memory copy is ahead of the database until it commits)."""
        pid = vote.prioritisation.id
        kept = 0  # voters skipped because a write of theirs is still queued
        while len(vote.stickers) > self.max_voters and kept < len(vote.stickers):
            user_id, mine = vote.stickers.popitem(last=False)
            if (pid, user_id) in self._pending:
                vote.stickers[user_id] = mine  # to the end: it is being committed
                kept += 1

    def forget(self, prioritisation_id: int) -> None:
        """Drop the memory copy (the vote closed or changed): the next tap reloads it."""
        self._votes.pop(prioritisation_id, None)

    async def problems(self, prioritisation_id: int) -> list[Problem]:
        """The vote's problems in ballot order, from memory while the vote is open."""
        vote = await self._vote(prioritisation_id)
        if vote is None:
            return []
        return sorted(vote.problems.values(), key=lambda p: p.position)

    async def mine(self, prioritisation_id: int, user_id: int) -> dict[int, int]:
        """Problem -> this voter's stickers on it (committed and being committed)."""
        vote = await self._vote(prioritisation_id)
        counts: dict[int, int] = {}
        if vote is not None:
            for problem_id in (await self._mine(vote, user_id)).values():
                counts[problem_id] = counts.get(problem_id, 0) + 1
        return counts

    async def tap(self, prioritisation_id: int, community_id: int, problem_id: int,
                  user_id: int, group: str | None, *, remove: bool = False,
                  ) -> tuple[Prioritisation, int]:
        """Place or take back a sticker; returns the vote and how many stickers are left.

        The check and the change to memory happen without an ``await`` between them, so
        simultaneous taps cannot both take the last sticker.
        """
        while True:
            vote = self._votes.get(prioritisation_id) or await self._vote(prioritisation_id)
            if vote is None or vote.prioritisation.community_id != community_id or (
                    vote.prioritisation.method != "stickers"):
                raise Refused(NOT_AVAILABLE)
            prioritisation = vote.prioritisation
            if not prioritisation.is_open or self._votes.get(prioritisation_id) is not vote:
                raise Refused(CLOSED)
            if problem_id not in vote.problems:
                raise Refused(NOT_IN_VOTE)
            mine = vote.stickers.get(user_id)
            if mine is not None:
                vote.stickers.move_to_end(user_id)
                break
            # (kept, even if a huge batch of first taps pushed it out meanwhile)
            mine = vote.stickers.setdefault(user_id, await self._mine(vote, user_id))
            if self._votes.get(prioritisation_id) is vote:
                break
            # The vote was closed or reopened while this voter's stickers loaded: look again.
        on_it = [slot for slot, p in mine.items() if p == problem_id]
        if remove or (on_it and not prioritisation.allow_stacking):
            if not on_it:
                raise Refused(NONE_HERE)
            slot = max(on_it)
            del mine[slot]
            write = _Write(False, prioritisation_id, user_id, slot, problem_id, group)
        else:
            if len(mine) >= prioritisation.stickers:
                raise Refused(FULL)
            slot = next(i for i in range(1, prioritisation.stickers + 1) if i not in mine)
            mine[slot] = problem_id
            write = _Write(True, prioritisation_id, user_id, slot, problem_id, group)
        self._queue.append(write)
        self._pending[(prioritisation_id, user_id)] += 1
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush())
        try:
            # Not shielded: if this tap's handler is cancelled, the write still goes out
            # with its batch (the flush skips a future that is already done), and the memory
            # change above stays, matching what is committed.
            await write.done
        except Exception as error:
            # Not committed: undo the memory change, and tell the voter why if we know.
            if write.place:
                mine.pop(slot, None)
            else:
                mine[slot] = problem_id
            if not isinstance(error, store.VoteRejected):
                raise
            if error.reason == "closed":
                self.forget(prioritisation_id)
                raise Refused(CLOSED) from None
            raise Refused(FULL) from None
        return prioritisation, prioritisation.stickers - len(mine)

    async def _flush(self) -> None:
        """Commits everything queued, in order, one transaction per round."""
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                outcomes = await store.write_stickers(self.db, [
                    store.StickerWrite(w.prioritisation_id, w.user_id, w.slot,
                                       w.problem_id if w.place else None, w.group)
                    for w in batch
                ])
            except (sqlite3.Error, OSError) as error:
                for write in batch:
                    self._settled(write)
                    if not write.done.done():
                        write.done.set_exception(error)
                self._trim_after(batch)
                continue
            for write, outcome in zip(batch, outcomes, strict=True):
                self._settled(write)
                if write.done.done():
                    continue
                if outcome is None:
                    write.done.set_result(None)
                else:
                    write.done.set_exception(outcome)
            self._trim_after(batch)

    def _trim_after(self, batch: list[_Write]) -> None:
        """Voters kept beyond the bound while their writes were queued may go now."""
        for prioritisation_id in {w.prioritisation_id for w in batch}:
            vote = self._votes.get(prioritisation_id)
            if vote is not None and len(vote.stickers) > self.max_voters:
                self._trim(vote)

    def _settled(self, write: _Write) -> None:
        key = (write.prioritisation_id, write.user_id)
        self._pending[key] -= 1
        if self._pending[key] <= 0:
            del self._pending[key]
