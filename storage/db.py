"""One SQLite file behind one aiosqlite connection.

SQLite allows one writer at a time, and aiosqlite runs every statement of a connection on a
single thread. Coroutines still interleave between statements, so a transaction begun by one
coroutine could swallow another's statement. An asyncio lock therefore serialises access:
plain helpers hold it for one statement (autocommit), :meth:`Database.transaction` holds it
until commit or rollback. That keeps multi-step rules (a sticker budget, one ballot per voter)
atomic without a connection pool.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, overload

import aiosqlite

Params = Sequence[Any] | dict[str, Any]

SYNCHRONOUS = "FULL"  # see Database.open: acknowledged means on the disk
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def utcnow() -> datetime:
    """Now, in UTC, to the second: what every timestamp column stores."""
    return datetime.now(UTC).replace(microsecond=0)


def to_db(moment: datetime | None) -> str | None:
    """A timezone-aware datetime as the ISO text stored in the database (UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware one")
    return moment.astimezone(UTC).isoformat()


@overload
def from_db(text: str) -> datetime: ...
@overload
def from_db(text: None) -> None: ...
def from_db(text: str | None) -> datetime | None:
    """The stored ISO text back as an aware UTC datetime (None stays None)."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Database:
    """The project's single database handle; open it with :meth:`open`."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._in_transaction: asyncio.Task[Any] | None = None
        self.path = path
        self.people_version = 0

    @classmethod
    async def open(cls, path: str | Path, *, migrate: bool = True,
                   synchronous: str = SYNCHRONOUS) -> Database:
        """Connect, switch on WAL and foreign keys, and apply pending migrations.

        ``synchronous=FULL``: with WAL, every commit is flushed to the disk (fsync of the
        log) before it returns, so a sticker, ballot or answer the resident saw
        acknowledged survives power loss and an OS crash, not only a killed process (which
        NORMAL already survives). Group commits (``execute_each``) keep that to one flush
        per batch; bench/vote_burst.py ``--synchronous`` measures the difference."""
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"unknown synchronous setting {synchronous!r}")
        await conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        # Deleted rows are overwritten, not left in free pages: a cast ballot's draft (who
        # was choosing whom) must not be readable from the file afterwards.
        await conn.execute("PRAGMA secure_delete=ON")
        # A placement fires the counting triggers (0017), so each statement keeps a
        # statement journal; in memory rather than a temporary file it costs a third less
        # (31 → 19 µs a sticker, measured in SQLite alone). Nothing durable lives there: the
        # write-ahead log is what commits.
        await conn.execute("PRAGMA temp_store=MEMORY")
        db = cls(conn, path)
        if migrate:
            await db.migrate()
        return db

    def people_changed(self) -> None:
        """Called by every write to users, communities or memberships (storage/community.py).

        Caches of who someone is (``bot.actor``) compare :attr:`people_version` to know
        they are still current, so a vote burst needs no lookup per tap.
        """
        self.people_version += 1

    async def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file and empty it.

        The log keeps old page images until a checkpoint; after an election closes they
        are folded in (and, with ``secure_delete``, the deleted drafts zeroed)."""
        async with self._access() as conn:
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        await self._conn.close()

    async def backup(self, target: str | Path) -> None:
        """A consistent copy of the database at ``target``, safe while the bot runs.

        SQLite's online backup API copies every page inside one read transaction, so the
        copy is one moment of the database: with WAL, writers go on meanwhile and are not
        in it. It runs on a connection and thread of its own, not the bot's one connection:
        copying a large file there would hold every update behind it. The copy is written
        beside ``target`` and renamed into place only once complete and checked, so a
        failed backup never leaves half a file under that name."""
        if self.path == ":memory:":
            raise ValueError("an in-memory database has no file to back up")
        await asyncio.to_thread(backup_file, self.path, target)

    # -- statements ------------------------------------------------------------------------

    @asynccontextmanager
    async def _access(self) -> AsyncIterator[aiosqlite.Connection]:
        # Inside our own transaction the lock is already held by this task.
        if self._in_transaction is not None and self._in_transaction is asyncio.current_task():
            yield self._conn
            return
        async with self._lock:
            yield self._conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the last inserted row id (or 0)."""
        async with self._access() as conn:
            cursor = await conn.execute(sql, params)
            rowid = cursor.lastrowid or 0
            await cursor.close()
            return rowid

    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns how many rows it changed."""
        async with self._access() as conn:
            cursor = await conn.execute(sql, params)
            count = cursor.rowcount
            await cursor.close()
            return count

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._access() as conn:
            await conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        async with self._access() as conn, conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        async with self._access() as conn, conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def execute_each(self, statements: Sequence[tuple[str, Params]],
                           ) -> list[int | sqlite3.IntegrityError]:
        """Run statements in one ``BEGIN IMMEDIATE`` … ``COMMIT``, in one trip to SQLite.

        Inside :meth:`transaction` it joins that transaction instead. Each statement may be
        refused on its own (a constraint or trigger) without undoing the others; the list
        holds, per statement, its row count or the refusal. This is the group commit under a
        vote burst or a broadcast: hundreds of rows cost one transaction and one thread hop,
        not one each.
        """

        joined = self._in_transaction is not None and (
            self._in_transaction is asyncio.current_task())

        def run(conn: sqlite3.Connection) -> list[int | sqlite3.IntegrityError]:
            outcomes: list[int | sqlite3.IntegrityError] = []
            if not joined:
                conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    try:
                        outcomes.append(conn.execute(sql, params).rowcount)
                    except sqlite3.IntegrityError as error:
                        outcomes.append(error)
                if not joined:
                    conn.execute("COMMIT")
            except BaseException:
                if not joined:
                    conn.execute("ROLLBACK")
                raise
            return outcomes

        async with self._access() as conn:
            # aiosqlite runs ``run`` on its own thread, where the sqlite3 connection lives.
            return await conn._execute(run, conn._conn)  # type: ignore[no-untyped-call, no-any-return]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back if the block raises.

        Calls on this same object inside the block join the transaction; other coroutines
        wait for it to end. Nested use joins the outer transaction.
        """
        if self._in_transaction is not None and self._in_transaction is asyncio.current_task():
            yield self
            return
        async with self._lock:
            self._in_transaction = asyncio.current_task()
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                await self._conn.execute("COMMIT")
            finally:
                self._in_transaction = None

    # -- migrations ------------------------------------------------------------------------

    @staticmethod
    def migrations() -> list[tuple[int, str, str]]:
        """(version, name, sql) of every file in ``storage/migrations``, in order."""
        found = []
        for entry in resources.files("storage").joinpath("migrations").iterdir():
            match = _MIGRATION_NAME.match(entry.name)
            if match:
                found.append((int(match[1]), match[2], entry.read_text(encoding="utf-8")))
        found.sort()
        versions = [v for v, _, _ in found]
        if len(versions) != len(set(versions)):
            raise RuntimeError(f"two migrations share a number: {versions}")
        return found

    async def schema_version(self) -> int:
        """The newest migration applied (0 for a new file)."""
        applied = await self.applied_migrations()
        return max(applied, default=0)

    async def applied_migrations(self) -> set[int]:
        async with self._access() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            async with conn.execute("SELECT version FROM schema_version") as cursor:
                rows = await cursor.fetchall()
        return {int(row[0]) for row in rows}

    async def migrate(self) -> list[int]:
        """Apply every migration not yet applied, in order, each in its own transaction.

        Capabilities number their migrations after their issue, so numbers have gaps and a
        lower number may land after a higher one: what counts is whether each was applied,
        not the highest number.

        ``executescript`` would commit on its own, so each script is wrapped in an explicit
        BEGIN/COMMIT and rolled back if any statement fails: a half-applied migration never
        stays behind.
        """
        done = await self.applied_migrations()
        applied = []
        async with self._lock:
            for version, name, sql in self.migrations():
                if version in done:
                    continue
                stamp = to_db(utcnow())
                script = (
                    f"BEGIN IMMEDIATE;\n{sql}\n;\n"
                    f"INSERT INTO schema_version (version, name, applied_at) "
                    f"VALUES ({version}, '{name}', '{stamp}');\nCOMMIT;"
                )
                try:
                    await self._conn.executescript(script)
                except sqlite3.Error as exc:
                    if self._conn.in_transaction:
                        await self._conn.execute("ROLLBACK")
                    raise RuntimeError(f"migration {version:04d}_{name} failed: {exc}") from exc
                applied.append(version)
            # Foreign keys are switched off by nothing above, but a script may do so.
            await self._conn.execute("PRAGMA foreign_keys=ON")
        return applied


def backup_file(source: str | Path, target: str | Path) -> None:
    """Copy the SQLite file ``source`` to ``target`` with the online backup API (blocking)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source)  # (read-write: a read-only one cannot open a WAL file
    # whose -shm is missing; nothing is written through it)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # every page in one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its integrity check: {verdict}")
        finally:
            dst.close()
    finally:
        src.close()
    partial.replace(target)
