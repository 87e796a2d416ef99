"""LatestOnly (ballot redraws), Database.execute_each (the sticker group commit) and the
batched user lookup behind a burst of first taps."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.actor import Person, UserLoader
from bot.app import BURST_GAP, LatestOnly, PerUserUpdateProcessor
from storage import community as community_store
from storage.db import Database


def test_latest_only_runs_first_and_newest_job_per_key() -> None:
    async def run() -> list[str]:
        done: list[str] = []
        ran, idle = asyncio.Event(), asyncio.Event()
        background = LatestOnly(pause=0.05)
        background.on_idle = idle.set

        def job(name: str):  # type: ignore[no-untyped-def]
            async def work() -> None:
                done.append(name)
                ran.set()
            return work

        background.submit("a", job("a1"))
        await ran.wait()  # a1 has run; the key now pauses
        for name in ("a2", "a3"):
            background.submit("a", job(name))
        background.submit("b", job("b1"))
        await idle.wait()
        return done

    done = asyncio.run(run())
    # a1 runs at once, a2 is replaced by a3 during the pause; other keys are independent.
    assert sorted(done) == ["a1", "a3", "b1"]


def test_latest_only_yields_to_load_but_not_forever() -> None:
    async def run() -> tuple[bool, bool]:
        done: list[str] = []
        looked, ran = asyncio.Event(), asyncio.Event()
        looks = 0

        def loaded() -> bool:  # always loaded; the dispatcher looks once a tick
            nonlocal looks
            looks += 1
            if looks == 3:
                looked.set()
            return True

        background = LatestOnly(pause=0, loaded=loaded, patience=0.3)

        async def work() -> None:
            done.append("x")
            ran.set()

        background.submit("k", work)
        await looked.wait()
        waited = not done  # still loaded at the third look: the job waits
        await asyncio.wait_for(ran.wait(), timeout=10)
        ran_anyway = done == ["x"]  # patience ran out, though the load never ended
        await background.close()
        return waited, ran_anyway

    assert asyncio.run(run()) == (True, True)


def test_latest_only_failure_is_logged_and_later_jobs_still_run(caplog) -> None:  # type: ignore[no-untyped-def]
    async def run() -> list[str]:
        done: list[str] = []
        failed, idle = asyncio.Event(), asyncio.Event()
        background = LatestOnly(pause=0.05)
        background.on_idle = idle.set

        async def broken() -> None:
            failed.set()
            raise RuntimeError("boom")

        async def fine() -> None:
            done.append("fine")

        background.submit("k", broken)
        await failed.wait()
        background.submit("k", fine)
        await idle.wait()
        return done

    assert asyncio.run(run()) == ["fine"]
    assert "background job" in caplog.text


def test_execute_each_keeps_what_succeeded_and_reports_what_failed(tmp_path: Path) -> None:
    async def run() -> tuple[list[int | sqlite3.IntegrityError], list[int]]:
        db = await Database.open(tmp_path / "each.sqlite3", migrate=False)
        try:
            await db.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            outcomes = await db.execute_each([
                ("INSERT INTO t (x) VALUES (?)", (1,)),
                ("INSERT INTO t (x) VALUES (?)", (1,)),  # refused: duplicate
                ("INSERT INTO t (x) VALUES (?)", (2,)),
                ("DELETE FROM t WHERE x = ?", (9,)),  # matches nothing
            ])
            rows = [r[0] for r in await db.fetchall("SELECT x FROM t ORDER BY x")]
            return outcomes, rows
        finally:
            await db.close()

    outcomes, rows = asyncio.run(run())
    assert outcomes[0] == 1 and outcomes[2] == 1 and outcomes[3] == 0
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert rows == [1, 2]


def test_user_loader_finds_simultaneous_first_taps_in_few_queries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of people tapping for the first time at once: one query, not one each."""
    queries: list[int] = []
    real = community_store.get_people

    async def counted(db: Database, user_ids: list[int]) -> dict[int, Person]:
        queries.append(len(user_ids))
        return await real(db, user_ids)

    monkeypatch.setattr(community_store, "get_people", counted)

    async def run() -> tuple[list[Person | None], list[str]]:
        db = await Database.open(tmp_path / "users.sqlite3")
        try:
            for user_id in range(1, 301):
                await community_store.upsert_user(db, user_id, first_name=f"U{user_id}",
                                                  last_name=None, username=None,
                                                  language="fa")
            loader = UserLoader(db)
            found = await asyncio.gather(*(loader.get(i) for i in [*range(1, 301), 999]))
            # A failed query fails every lookup that waited for it, and the next works.
            monkeypatch.setattr(community_store, "get_people", _broken)
            failed = await asyncio.gather(loader.get(1), loader.get(2), return_exceptions=True)
            monkeypatch.setattr(community_store, "get_people", counted)
            again = await loader.get(3)
            return [*found, again], [type(f).__name__ for f in failed]
        finally:
            await db.close()

    found, failed = asyncio.run(run())
    assert [p[0].first_name if p else None for p in found] == (
        [f"U{i}" for i in range(1, 301)] + [None, "U3"])
    assert queries[0] == 301 and len(queries) == 2  # all 301 asked together, then U3 alone
    assert failed == ["OperationalError", "OperationalError"]


async def _broken(db: Database, user_ids: list[int]) -> dict[int, Person]:
    raise sqlite3.OperationalError("database is locked")


def test_processor_stays_busy_a_moment_after_a_batch_of_updates_ends() -> None:
    """The instant a group commit has answered a batch of taps, with the next updates not
    yet started, is not quiet: background redraws keep waiting."""

    async def run() -> tuple[bool, int, bool]:
        processor = PerUserUpdateProcessor(4)

        async def handled() -> None:  # a batch waiting longer than BURST_GAP for its commit
            await asyncio.sleep(BURST_GAP + 0.05)

        await processor.do_process_update(object(), handled())
        just_after = processor.busy
        await asyncio.sleep(BURST_GAP + 0.05)
        return just_after, processor.active, processor.busy

    assert asyncio.run(run()) == (True, 0, False)
