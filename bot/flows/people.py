"""Who is acting: anyone who writes to the bot, and a member acting in their community.

Handlers find out who is behind an update (``bot.actor``); flows receive these plain values
to decide what that person may do — and say why not with :func:`require`, the one place
that turns a role into a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.flows.errors import Refused
from bot.i18n import N_, Translator
from storage.community import ROLE_RANK
from storage.community import Community as Community  # re-exported for handlers
from storage.community import Membership as Membership
from storage.community import User as User

JOIN_FIRST = N_("Join a community first: open the invitation link your coordinator shared.")
ONLY_COORDINATORS = N_("Only coordinators of this community can do that.")
ONLY_COMMITTEE = N_("Only committee members and coordinators can do that.")
ONLY_ADMINS = N_("Only administrators of this bot can create communities.")

Role = Literal["resident", "committee", "coordinator", "admin"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Anyone who sends the bot an update, member or not."""

    user: User
    community: Community | None
    membership: Membership | None
    t: Translator
    is_admin: bool  # listed in BOT_ADMINS

    @property
    def role(self) -> str | None:
        if self.is_admin:
            return "admin"
        return self.membership.role if self.membership else None

    def has_role(self, role: str) -> bool:
        """At least ``role`` in the current community (admins and coordinators rank above)."""
        mine = self.role
        return mine is not None and ROLE_RANK[mine] >= ROLE_RANK[role]

    @property
    def is_coordinator(self) -> bool:
        return self.has_role("coordinator") and (self.membership is not None or self.is_admin)

    @property
    def group(self) -> str | None:
        """The stakeholder group this person joined with (None for an administrator)."""
        return self.membership.stakeholder_group if self.membership is not None else None

    def as_member(self) -> Member | None:
        """This person as a member of their current community, if they are one."""
        if self.community is None or not self.has_role("resident"):
            return None
        return Member(self.user, self.community, self.membership, self.t, self.is_admin)


@dataclass(frozen=True, slots=True)
class Member(Actor):
    """Someone acting inside their current community, which is therefore never missing.

    ``membership`` is None only for an administrator (``BOT_ADMINS``) acting in a community
    they created without joining it: they may run it, but they are not counted as a member
    and receive none of its messages.
    """

    community: Community


def require(who: Actor, role: Role = "resident") -> Member:
    """``who`` as a member of their current community with at least ``role``, or Refused."""
    member = who.as_member()
    if member is None:
        raise Refused(JOIN_FIRST)
    if role == "committee" and not member.has_role("committee"):
        raise Refused(ONLY_COMMITTEE)
    if role == "coordinator" and not member.is_coordinator:
        raise Refused(ONLY_COORDINATORS)
    if role == "admin" and not member.is_admin:
        raise Refused(ONLY_ADMINS)
    return member


def taking_part(who: Member) -> Membership:
    """``who``'s membership, needed to take part (a sticker, a ballot, an answer, a problem).

    An administrator who created the community without joining it may run it, but is no
    member: they vote, answer and are counted only once they open one of its links.
    """
    if who.membership is None:
        raise Refused(JOIN_FIRST)
    return who.membership
