"""Users, communities, stakeholder groups, memberships and invites: SQL only.

Every capability scopes its queries by community; these are the rows that scope them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import aiosqlite

from storage.db import Database, from_db, to_db, utcnow

P = ParamSpec("P")
T = TypeVar("T")

ROLES = ("resident", "coordinator", "committee", "admin")
INVITE_KINDS = ("resident", "coordinator")
# The seeds' list: activists and leaders, vulnerable groups, local authority, business,
# NGOs, media — plus academia (collective impact's "experts") and a catch-all.
DEFAULT_STAKEHOLDER_GROUPS = (
    "activist",
    "vulnerable",
    "authority",
    "business",
    "ngo",
    "media",
    "academia",
    "other",
)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    first_name: str
    last_name: str | None
    username: str | None
    language: str
    language_chosen: bool
    reachable: bool
    current_community_id: int | None
    created_at: datetime

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or (
            self.username or str(self.id)
        )


@dataclass(frozen=True, slots=True)
class Community:
    id: int
    name: str
    default_language: str
    timezone: str
    created_by: int | None
    created_at: datetime
    quiet_start: int = 22  # local hours during which non-urgent messages wait
    quiet_end: int = 8


@dataclass(frozen=True, slots=True)
class StakeholderGroup:
    community_id: int
    key: str
    label: str | None  # None: a default group, named by the catalogs
    position: int


@dataclass(frozen=True, slots=True)
class Membership:
    community_id: int
    user_id: int
    role: str
    stakeholder_group: str | None
    joined_at: datetime

    @property
    def is_coordinator(self) -> bool:
        return self.role in ("coordinator", "admin")


@dataclass(frozen=True, slots=True)
class Invite:
    code: str
    community_id: int
    kind: str
    created_at: datetime
    revoked_at: datetime | None


def _people_write(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Marks the database's people as changed once the write is done (see ``bot.actor``)."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await function(*args, **kwargs)
        finally:
            db = args[0]
            assert isinstance(db, Database)
            db.people_changed()

    return wrapper


def user_of(row: aiosqlite.Row) -> User:
    """A user from a row with the users table's columns (other capabilities join on it)."""
    return User(
        id=row["id"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        username=row["username"],
        language=row["language"],
        language_chosen=bool(row["language_chosen"]),
        reachable=bool(row["reachable"]),
        current_community_id=row["current_community_id"],
        created_at=from_db(row["created_at"]),
    )


def community_of(row: aiosqlite.Row) -> Community:
    """A community from a row with the communities table's columns."""
    return Community(
        id=row["id"],
        name=row["name"],
        default_language=row["default_language"],
        timezone=row["timezone"],
        created_by=row["created_by"],
        created_at=from_db(row["created_at"]),
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
    )


def _membership(row: aiosqlite.Row) -> Membership:
    return Membership(
        community_id=row["community_id"],
        user_id=row["user_id"],
        role=row["role"],
        stakeholder_group=row["stakeholder_group"],
        joined_at=from_db(row["joined_at"]),
    )


def _invite(row: aiosqlite.Row) -> Invite:
    return Invite(
        code=row["code"],
        community_id=row["community_id"],
        kind=row["kind"],
        created_at=from_db(row["created_at"]),
        revoked_at=from_db(row["revoked_at"]),
    )


# -- users ---------------------------------------------------------------------------------


async def get_user(db: Database, user_id: int) -> User | None:
    row = await db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
    return user_of(row) if row else None


async def get_users(db: Database, user_ids: Sequence[int]) -> dict[int, User]:
    """Several users in one query, by id (the ids travel as one JSON array)."""
    rows = await db.fetchall(
        "SELECT * FROM users WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(user_ids)),),
    )
    return {row["id"]: user_of(row) for row in rows}


async def get_people(db: Database, user_ids: Sequence[int],
                     ) -> dict[int, tuple[User, Membership | None]]:
    """Several users by id, each with their membership of their current community, in one
    query (the ids travel as one JSON array): who is tapping, without reading the
    community they belong to (``bot.actor``)."""
    rows = await db.fetchall(
        "SELECT m.community_id, m.user_id, m.role, m.stakeholder_group, m.joined_at, u.*"
        " FROM users u LEFT JOIN memberships m"
        " ON m.community_id = u.current_community_id AND m.user_id = u.id"
        " WHERE u.id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(user_ids)),),
    )
    return {row["id"]: (user_of(row),
                        _membership(row) if row["user_id"] is not None else None)
            for row in rows}


@_people_write
async def upsert_user(
    db: Database,
    user_id: int,
    *,
    first_name: str,
    last_name: str | None,
    username: str | None,
    language: str,
) -> User:
    """Record a Telegram user on contact; names follow Telegram, the language stays ours."""
    now = to_db(utcnow())
    await db.execute(
        "INSERT INTO users (id, first_name, last_name, username, language, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET first_name = excluded.first_name,"
        " last_name = excluded.last_name, username = excluded.username,"
        " reachable = 1, updated_at = excluded.updated_at"
        " WHERE users.first_name IS NOT excluded.first_name"
        " OR users.last_name IS NOT excluded.last_name"
        " OR users.username IS NOT excluded.username OR users.reachable = 0",
        (user_id, first_name, last_name, username, language, now, now),
    )
    user = await get_user(db, user_id)
    assert user is not None
    return user


@_people_write
async def set_language(db: Database, user_id: int, language: str) -> None:
    await db.execute(
        "UPDATE users SET language = ?, language_chosen = 1, updated_at = ? WHERE id = ?",
        (language, to_db(utcnow()), user_id),
    )


@_people_write
async def set_reachable(db: Database, user_id: int, reachable: bool) -> None:
    """Telegram said the user blocked the bot (or wrote again): stop or resume sending."""
    await db.execute(
        "UPDATE users SET reachable = ?, updated_at = ? WHERE id = ?",
        (int(reachable), to_db(utcnow()), user_id),
    )


@_people_write
async def set_current_community(db: Database, user_id: int, community_id: int) -> None:
    await db.execute(
        "UPDATE users SET current_community_id = ?, updated_at = ? WHERE id = ?",
        (community_id, to_db(utcnow()), user_id),
    )


@_people_write
async def delete_user(db: Database, user_id: int) -> None:
    """Remove the user row; memberships and the user's conversation data go with it.

    Capability tables that must keep counts others rely on reference users with
    ``ON DELETE SET NULL`` (or keep no user id at all), so tallies survive.
    """
    async with db.transaction():
        await db.execute("DELETE FROM ptb_user_data WHERE user_id = ?", (user_id,))
        await db.execute("DELETE FROM ptb_chat_data WHERE chat_id = ?", (user_id,))
        await db.execute(
            "DELETE FROM ptb_conversations WHERE key LIKE ? OR key LIKE ?",
            (f"[{user_id},%", f"%, {user_id}]"),
        )
        await db.execute("DELETE FROM users WHERE id = ?", (user_id,))


# -- communities ---------------------------------------------------------------------------


@_people_write
async def create_community(
    db: Database,
    *,
    name: str,
    default_language: str,
    timezone: str,
    created_by: int | None,
    groups: tuple[str, ...] = DEFAULT_STAKEHOLDER_GROUPS,
) -> Community:
    async with db.transaction():
        community_id = await db.execute(
            "INSERT INTO communities (name, default_language, timezone, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, default_language, timezone, created_by, to_db(utcnow())),
        )
        await db.executemany(
            "INSERT INTO stakeholder_groups (community_id, key, position) VALUES (?, ?, ?)",
            [(community_id, key, i) for i, key in enumerate(groups)],
        )
    community = await get_community(db, community_id)
    assert community is not None
    return community


async def get_community(db: Database, community_id: int) -> Community | None:
    row = await db.fetchone("SELECT * FROM communities WHERE id = ?", (community_id,))
    return community_of(row) if row else None


@_people_write
async def set_quiet_hours(db: Database, community_id: int, start: int, end: int) -> None:
    """Local hours [start, end) in which non-urgent messages wait; start == end: none."""
    await db.execute("UPDATE communities SET quiet_start = ?, quiet_end = ? WHERE id = ?",
                     (start, end, community_id))


async def list_communities(db: Database) -> list[Community]:
    return [community_of(r) for r in await db.fetchall("SELECT * FROM communities ORDER BY id")]


async def stakeholder_groups(db: Database, community_id: int) -> list[StakeholderGroup]:
    rows = await db.fetchall(
        "SELECT * FROM stakeholder_groups WHERE community_id = ? ORDER BY position, key",
        (community_id,),
    )
    return [StakeholderGroup(r["community_id"], r["key"], r["label"], r["position"]) for r in rows]


# -- memberships ---------------------------------------------------------------------------


async def get_membership(db: Database, community_id: int, user_id: int) -> Membership | None:
    row = await db.fetchone(
        "SELECT * FROM memberships WHERE community_id = ? AND user_id = ?",
        (community_id, user_id),
    )
    return _membership(row) if row else None


async def memberships_of(db: Database, user_id: int) -> list[tuple[Membership, Community]]:
    rows = await db.fetchall(
        "SELECT m.*, c.id AS c_id, c.name, c.default_language, c.timezone, c.created_by,"
        " c.created_at FROM memberships m JOIN communities c ON c.id = m.community_id"
        " WHERE m.user_id = ? ORDER BY c.name, c.id",
        (user_id,),
    )
    return [
        (
            _membership(r),
            Community(
                id=r["c_id"],
                name=r["name"],
                default_language=r["default_language"],
                timezone=r["timezone"],
                created_by=r["created_by"],
                created_at=from_db(r["created_at"]),
            ),
        )
        for r in rows
    ]


@_people_write
async def join(
    db: Database, community_id: int, user_id: int, *, role: str, stakeholder_group: str | None
) -> tuple[Membership, bool]:
    """Add a member, or update an existing one; returns (membership, newly joined).

    Re-joining never demotes: a coordinator who opens a resident link stays coordinator.
    The user's current community becomes this one.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    now = to_db(utcnow())
    async with db.transaction():
        existing = await get_membership(db, community_id, user_id)
        if existing is None:
            await db.execute(
                "INSERT INTO memberships (community_id, user_id, role, stakeholder_group,"
                " joined_at, privacy_accepted_at) VALUES (?, ?, ?, ?, ?, ?)",
                (community_id, user_id, role, stakeholder_group, now, now),
            )
        else:
            new_role = role if ROLE_RANK[role] > ROLE_RANK[existing.role] else existing.role
            await db.execute(
                "UPDATE memberships SET role = ?, stakeholder_group = ?"
                " WHERE community_id = ? AND user_id = ?",
                (new_role, stakeholder_group, community_id, user_id),
            )
        await db.execute(
            "UPDATE users SET current_community_id = ?, updated_at = ? WHERE id = ?",
            (community_id, now, user_id),
        )
        membership = await get_membership(db, community_id, user_id)
    assert membership is not None
    return membership, existing is None


ROLE_RANK = {"resident": 0, "committee": 1, "coordinator": 2, "admin": 3}


@_people_write
async def set_role(db: Database, community_id: int, user_id: int, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    await db.execute(
        "UPDATE memberships SET role = ? WHERE community_id = ? AND user_id = ?",
        (role, community_id, user_id),
    )


async def member_counts(db: Database, community_id: int) -> dict[str, Any]:
    """Members by role and by stakeholder group (``None`` for no group)."""
    by_role = {
        r["role"]: r["n"]
        for r in await db.fetchall(
            "SELECT role, COUNT(*) AS n FROM memberships WHERE community_id = ? GROUP BY role",
            (community_id,),
        )
    }
    by_group = {
        r["stakeholder_group"]: r["n"]
        for r in await db.fetchall(
            "SELECT stakeholder_group, COUNT(*) AS n FROM memberships WHERE community_id = ?"
            " GROUP BY stakeholder_group",
            (community_id,),
        )
    }
    return {"by_role": by_role, "by_group": by_group, "total": sum(by_role.values())}


async def members(
    db: Database, community_id: int, *, roles: tuple[str, ...] | None = None
) -> list[tuple[Membership, User]]:
    """Members with their user rows, oldest first; optionally only some roles.

    With ``roles`` this reads the few rows of the index on (community, role); without, it
    is the whole community at once: for what truly needs everyone, off the hot path
    (:func:`search_members`, :func:`count_members`, :func:`people` and
    :func:`members_page` serve the rest)."""
    sql = (
        f"SELECT {_MEMBER_COLUMNS}"
        " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.community_id = ?"
    )
    params: list[Any] = [community_id]
    order = " ORDER BY m.joined_at, m.user_id"
    if roles:
        sql += f" AND m.role IN ({','.join('?' * len(roles))})"
        params.extend(roles)
        # (unary +: sort the few rows of the role index, not walk the community in order)
        order = " ORDER BY +m.joined_at, +m.user_id"
    rows = await db.fetchall(sql + order, params)
    return [(_membership(r), user_of(r)) for r in rows]


_MEMBER_COLUMNS = (
    "m.*, u.id, u.first_name, u.last_name, u.username, u.language, u.language_chosen,"
    " u.reachable, u.current_community_id, u.created_at"
)
SEARCH_PAGE = 500  # members read per step of a short needle's walk


def _matches(row: aiosqlite.Row, needle: str) -> bool:
    """:class:`User`'s display name or username contains ``needle`` (read off the row: no
    object is made for the many that do not match)."""
    first, last, username = row["first_name"], row["last_name"], row["username"]
    shown = " ".join(p for p in (first, last) if p) or username or str(row["id"])
    return needle in shown.casefold() or needle in (username or "").casefold()


async def search_members(db: Database, community_id: int, query: str, *, limit: int = 8,
                         ) -> list[tuple[Membership, User]]:
    """Members whose name or username contains ``query`` (any case, any script), at most
    ``limit``.

    Three characters or more: the trigram index ``member_names`` yields the users whose name
    or username contains them (case folded by Unicode) in user id order, each probed for
    membership, until ``limit`` are found. Shorter: few names lack one or two letters, so
    the community is read in joining order a page at a time until ``limit`` are found (the
    connection is free between pages)."""
    stripped = query.strip().lstrip("@")
    needle = stripped.casefold().lstrip("@")
    if not needle or limit <= 0:
        return []
    if len(stripped) >= 3:
        rows = await db.fetchall(
            # CROSS JOIN: SQLite keeps this order, the index's few matches outside; else it
            # may walk the whole community and probe the index once per member.
            # In the index's order (user id), so it stops at the limit: a needle every
            # member's name contains is no slower than a rare one.
            f"SELECT {_MEMBER_COLUMNS} FROM member_names n"
            " CROSS JOIN memberships m ON m.community_id = ? AND m.user_id = n.rowid"
            " CROSS JOIN users u ON u.id = n.rowid WHERE member_names MATCH ?"
            " ORDER BY n.rowid LIMIT ?",
            (community_id, '"' + stripped.replace('"', '""') + '"', limit))
        return [(_membership(r), user_of(r)) for r in rows]
    found: list[tuple[Membership, User]] = []
    joined, after = "", 0
    while len(found) < limit:
        rows = await db.fetchall(
            f"SELECT {_MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id"
            " WHERE m.community_id = ? AND (m.joined_at, m.user_id) > (?, ?)"
            " ORDER BY m.joined_at, m.user_id LIMIT ?",
            (community_id, joined, after, SEARCH_PAGE))
        for row in rows:
            if _matches(row, needle):
                found.append((_membership(row), user_of(row)))
                if len(found) == limit:
                    break
        if len(rows) < SEARCH_PAGE:
            break
        joined, after = rows[-1]["joined_at"], rows[-1]["user_id"]
    return found


async def count_members(db: Database, community_id: int) -> int:
    """How many members the community has (the index counts; no row is read)."""
    return int(await db.fetchval(
        "SELECT COUNT(*) FROM memberships WHERE community_id = ?", (community_id,)))


async def is_member(db: Database, community_id: int, user_id: int) -> bool:
    return await db.fetchval("SELECT 1 FROM memberships WHERE community_id = ? AND user_id = ?",
                             (community_id, user_id)) is not None


async def members_page(db: Database, community_id: int, *, after: tuple[str, int] | None = None,
                       limit: int = 50) -> list[tuple[Membership, User]]:
    """A page of members in joining order, after the (joined_at, user id) of the last one
    shown: what a list shown to a person reads, never the whole community."""
    joined, user_id = after or ("", 0)
    rows = await db.fetchall(
        f"SELECT {_MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.community_id = ? AND (m.joined_at, m.user_id) > (?, ?)"
        " ORDER BY m.joined_at, m.user_id LIMIT ?", (community_id, joined, user_id, limit))
    return [(_membership(r), user_of(r)) for r in rows]


async def people(db: Database, community_id: int, *, reachable: bool = False,
                 ) -> list[User]:
    """Every member's user row, read a chunk at a time by user id (the connection is free
    between chunks): for telling the whole community something."""
    found: list[User] = []
    after = 0
    while True:
        rows = await db.fetchall(
            "SELECT u.* FROM memberships m JOIN users u ON u.id = m.user_id"
            " WHERE m.community_id = ? AND m.user_id > ?"
            + (" AND u.reachable = 1" if reachable else "")
            + " ORDER BY m.user_id LIMIT 2000", (community_id, after))
        found += [user_of(r) for r in rows]
        if len(rows) < 2000:
            return found
        after = rows[-1]["id"]


# -- invites -------------------------------------------------------------------------------


async def create_invite(
    db: Database, community_id: int, kind: str, code: str, created_by: int | None
) -> Invite:
    if kind not in INVITE_KINDS:
        raise ValueError(f"unknown invite kind {kind!r}")
    await db.execute(
        "INSERT INTO invites (code, community_id, kind, created_by, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (code, community_id, kind, created_by, to_db(utcnow())),
    )
    invite = await get_invite(db, code)
    assert invite is not None
    return invite


async def get_invite(db: Database, code: str) -> Invite | None:
    row = await db.fetchone("SELECT * FROM invites WHERE code = ?", (code,))
    return _invite(row) if row else None


async def active_invite(db: Database, community_id: int, kind: str) -> Invite | None:
    row = await db.fetchone(
        "SELECT * FROM invites WHERE community_id = ? AND kind = ? AND revoked_at IS NULL"
        " ORDER BY created_at DESC, rowid DESC LIMIT 1",
        (community_id, kind),
    )
    return _invite(row) if row else None


async def revoke_invites(db: Database, community_id: int, kind: str) -> int:
    return await db.execute_rowcount(
        "UPDATE invites SET revoked_at = ? WHERE community_id = ? AND kind = ?"
        " AND revoked_at IS NULL",
        (to_db(utcnow()), community_id, kind),
    )


# -- personal data -------------------------------------------------------------------------


async def personal_data(db: Database, user_id: int) -> dict[str, Any]:
    """Everything the foundation stores about one user, for /mydata."""
    user = await db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
    memberships = await db.fetchall(
        "SELECT m.community_id, c.name AS community, m.role, m.stakeholder_group,"
        " m.joined_at, m.privacy_accepted_at FROM memberships m"
        " JOIN communities c ON c.id = m.community_id WHERE m.user_id = ?",
        (user_id,),
    )
    return {
        "user": dict(user) if user else None,
        "memberships": [dict(r) for r in memberships],
    }
