"""Creating communities, their invitations, and who belongs to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.flows.errors import Refused
from bot.flows.onboarding import new_code
from bot.i18n import N_
from storage import community as store
from storage.community import Community, Invite, Membership, User
from storage.db import Database

MAX_NAME = 100
NAME_NEEDED = N_("Please give the community a name, for example: /newcommunity Green Street")
NAME_TOO_LONG = N_("A community name can have at most {limit} characters.")
NOT_A_MEMBER = N_("You are not a member of that community.")


@dataclass(frozen=True, slots=True)
class Invites:
    resident: Invite
    coordinator: Invite


async def create_community(
    db: Database, name: str, *, created_by: int, language: str, timezone: str
) -> tuple[Community, Invites]:
    name = " ".join(name.split())
    if not name:
        raise Refused(NAME_NEEDED)
    if len(name) > MAX_NAME:
        raise Refused(NAME_TOO_LONG, limit=MAX_NAME)
    community = await store.create_community(
        db, name=name, default_language=language, timezone=timezone, created_by=created_by
    )
    # The admin who creates it can steer it straight away, without an invitation.
    await store.join(db, community.id, created_by, role="admin", stakeholder_group=None)
    return community, await invites(db, community.id, created_by=created_by)


async def invites(db: Database, community_id: int, *, created_by: int | None) -> Invites:
    """The community's active invitations, created if there are none yet."""
    found = {}
    for kind in ("resident", "coordinator"):
        invite = await store.active_invite(db, community_id, kind)
        if invite is None:
            invite = await store.create_invite(db, community_id, kind, new_code(), created_by)
        found[kind] = invite
    return Invites(**found)


async def rotate(db: Database, community_id: int, kind: str, *, by: int) -> Invite:
    """Revoke the current link of ``kind`` and make a new one: old links stop working."""
    async with db.transaction():
        await store.revoke_invites(db, community_id, kind)
        return await store.create_invite(db, community_id, kind, new_code(), by)


async def switch(db: Database, user_id: int, community_id: int) -> tuple[Membership, Community]:
    membership = await store.get_membership(db, community_id, user_id)
    community = await store.get_community(db, community_id)
    if membership is None or community is None:
        raise Refused(NOT_A_MEMBER)
    await store.set_current_community(db, user_id, community_id)
    return membership, community


def search_members(members: Sequence[tuple[Any, Any]], query: str,
                   limit: int = 8) -> list[tuple[Any, Any]]:
    """Members whose name or username contains ``query`` (any case, any script)."""
    needle = query.strip().casefold().lstrip("@")
    if not needle:
        return []
    found = [(m, u) for m, u in members
             if needle in u.display_name.casefold() or needle in (u.username or "").casefold()]
    return found[:limit]


async def find_members(db: Database, community_id: int, query: str, *,
                       limit: int = 8) -> list[User]:
    """Members of the community whose name or username contains ``query``, best first."""
    return [user for _m, user in search_members(await store.members(db, community_id), query,
                                                 limit=limit)]
