"""Joining a community by invite link: the rules, without Telegram.

An invite code is a random deep-link payload (``A-Za-z0-9_-``, well under Telegram's 64
characters). Its kind decides the role. Nothing is stored about the person until they have
chosen a stakeholder group and accepted the privacy notice.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from bot.flows.errors import Refused
from bot.i18n import N_
from storage import community as store
from storage.community import Community, Invite, Membership, StakeholderGroup
from storage.db import Database

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

NOT_A_CODE = N_("This link is not a valid invitation. Ask your coordinator for a new one.")
REVOKED = N_("This invitation link is no longer valid. Ask your coordinator for a new one.")
UNKNOWN_GROUP = N_("Please choose one of the groups offered.")


def new_code() -> str:
    """16 random URL-safe characters: unguessable, and fits a deep link."""
    return secrets.token_urlsafe(12)


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


@dataclass(frozen=True, slots=True)
class Invitation:
    invite: Invite
    community: Community


async def open_invitation(db: Database, code: str) -> Invitation:
    """The community and kind behind a ``/start`` payload, or :class:`Refused`."""
    if not CODE_PATTERN.match(code):
        raise Refused(NOT_A_CODE)
    invite = await store.get_invite(db, code)
    if invite is None:
        raise Refused(NOT_A_CODE)
    if invite.revoked_at is not None:
        raise Refused(REVOKED)
    community = await store.get_community(db, invite.community_id)
    if community is None:
        raise Refused(NOT_A_CODE)
    return Invitation(invite, community)


async def complete_join(
    db: Database, user_id: int, code: str, group: str
) -> tuple[Membership, Community, bool]:
    """Join after the privacy notice was accepted; the invite is checked again, now.

    Returns (membership, community, newly joined). A coordinator code makes a coordinator;
    re-joining keeps the higher of the old and new roles.
    """
    invitation = await open_invitation(db, code)
    groups = {g.key for g in await store.stakeholder_groups(db, invitation.community.id)}
    if group not in groups:
        raise Refused(UNKNOWN_GROUP)
    membership, new = await store.join(
        db,
        invitation.community.id,
        user_id,
        role=invitation.invite.kind,
        stakeholder_group=group,
    )
    return membership, invitation.community, new


@dataclass(frozen=True, slots=True)
class Opened:
    """What opening an invitation link leads to: the groups to choose from, or — for a
    member who already chose one — the membership, renewed (the role never goes down)."""

    invitation: Invitation
    groups: list[StakeholderGroup]
    membership: Membership | None


async def open_link(db: Database, user_id: int, code: str) -> Opened:
    """``/start <code>``: check the invitation; a member opening it again is joined again
    (harmless), anyone else chooses a group next. Nothing is stored for a newcomer yet."""
    invitation = await open_invitation(db, code)
    existing = await store.get_membership(db, invitation.community.id, user_id)
    if existing is not None and existing.stakeholder_group is not None:
        membership, _community, _new = await complete_join(
            db, user_id, code, existing.stakeholder_group)
        return Opened(invitation, [], membership)
    return Opened(invitation, await store.stakeholder_groups(db, invitation.community.id), None)


async def choose_group(db: Database, code: str, group: str) -> tuple[Invitation,
                                                                      StakeholderGroup]:
    """The group a newcomer tapped, if the invitation still works and offers it."""
    invitation = await open_invitation(db, code)
    groups = {g.key: g for g in await store.stakeholder_groups(db, invitation.community.id)}
    if group not in groups:
        raise Refused(UNKNOWN_GROUP)
    return invitation, groups[group]
