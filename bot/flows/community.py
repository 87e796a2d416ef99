"""Creating communities, their invitations, and who belongs to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.flows.errors import STALE, Refused
from bot.flows.onboarding import new_code
from bot.flows.people import ONLY_ADMINS, Actor, Member, require
from bot.i18n import N_
from storage import community as store
from storage.community import Community, Invite, Membership, StakeholderGroup, User
from storage.db import Database

MAX_NAME = 100
NAME_NEEDED = N_("Please give the community a name, for example: /newcommunity Green Street")
NAME_TOO_LONG = N_("A community name can have at most {limit} characters.")
NOT_A_MEMBER = N_("You are not a member of that community.")


@dataclass(frozen=True, slots=True)
class Invites:
    resident: Invite
    coordinator: Invite


async def create_community(db: Database, who: Actor, name: str, *, timezone: str,
                           ) -> tuple[Community, Invites]:
    """A new community, by an administrator, with its two invitation links.

    The administrator steers it straight away (it becomes their current community) but
    does not join it: they are counted as a member, and receive its messages, only once
    they open one of its links like everyone else.
    """
    if not who.is_admin:
        raise Refused(ONLY_ADMINS)
    name = " ".join(name.split())
    if not name:
        raise Refused(NAME_NEEDED)
    if len(name) > MAX_NAME:
        raise Refused(NAME_TOO_LONG, limit=MAX_NAME)
    community = await store.create_community(
        db, name=name, default_language=who.user.language, timezone=timezone,
        created_by=who.user.id)
    await store.set_current_community(db, who.user.id, community.id)
    return community, await invites(db, community.id, created_by=who.user.id)


async def links(db: Database, who: Member) -> Invites:
    """The invitation links of the coordinator's community (made if there are none)."""
    require(who, "coordinator")
    return await invites(db, who.community.id, created_by=who.user.id)


async def renew_link(db: Database, who: Member, kind: str) -> Invites:
    """A new link of ``kind`` for the coordinator's community; the old one stops working."""
    require(who, "coordinator")
    if kind not in ("resident", "coordinator"):
        raise Refused(STALE)
    await rotate(db, who.community.id, kind, by=who.user.id)
    return await invites(db, who.community.id, created_by=who.user.id)


@dataclass(frozen=True, slots=True)
class Counts:
    """Who belongs to a community, counted: what /members shows coordinators."""

    total: int
    by_role: dict[str, int]
    by_group: dict[str | None, int]
    groups: list[StakeholderGroup]


async def counts(db: Database, who: Member) -> Counts:
    require(who, "coordinator")
    found = await store.member_counts(db, who.community.id)
    return Counts(found["total"], found["by_role"], found["by_group"],
                  await store.stakeholder_groups(db, who.community.id))


async def communities_of(db: Database, user_id: int) -> list[Community]:
    """The communities this person belongs to, for /community."""
    return [community for _m, community in await store.memberships_of(db, user_id)]


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
    """Of members already in hand, those whose name or username contains ``query`` (any
    case, any script); a community's members are searched by :func:`find_members`."""
    needle = query.strip().casefold().lstrip("@")
    if not needle:
        return []
    found = [(m, u) for m, u in members
             if needle in u.display_name.casefold() or needle in (u.username or "").casefold()]
    return found[:limit]


async def find_members(db: Database, community_id: int, query: str, *,
                       limit: int = 8) -> list[User]:
    """Members of the community whose name or username contains ``query`` (any case, any
    script), oldest member first: found in SQL, at most ``limit`` rows read."""
    return [user for _m, user in await store.search_members(db, community_id, query,
                                                             limit=limit)]


async def groups_of(db: Database, community_id: int,
                    user_ids: Sequence[int]) -> dict[int, str | None]:
    """The stakeholder group of each of a few members (a name search's matches)."""
    found: dict[int, str | None] = {}
    for user_id in user_ids:
        membership = await store.get_membership(db, community_id, user_id)
        if membership is not None:
            found[user_id] = membership.stakeholder_group
    return found


async def mark_unreachable(db: Database, user_id: int) -> None:
    """Telegram said this person blocked the bot: send them nothing more until they write."""
    await store.set_reachable(db, user_id, False)


async def user(db: Database, user_id: int) -> User | None:
    """The person as stored (their language, whether they can be reached), if known."""
    return await store.get_user(db, user_id)
