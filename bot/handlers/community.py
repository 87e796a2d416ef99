"""Communities: /newcommunity (admins), /invite and /members (coordinators), /community."""

from __future__ import annotations

from typing import Literal

from telegram import InlineKeyboardMarkup

from bot.app import MahfilApp
from bot.callbacks import Button, Id, button
from bot.commands import Command, publish_user_commands
from bot.flows import community as flow
from bot.flows.onboarding import deep_link
from bot.flows.people import Actor
from bot.handlers._common import GuestTap, Said, Tap, Turn, command, guest_tap, tap
from bot.i18n import N_, Translator, isolate
from bot.keyboards import grid, inline, keyboard
from bot.labels import group_label, role_label

COMMANDS = [
    Command("community", N_("Switch between your communities"), "resident"),
    Command("members", N_("Members by role and group"), "coordinator"),
    Command("invite", N_("Show or renew the invitation links"), "coordinator"),
    Command("newcommunity", N_("Create a community"), "admin"),
]


@button("community", "renew", role="coordinator")
class Renew(Button):
    """Make a new invitation link of this kind; the old one stops working."""

    kind: Literal["resident", "coordinator"]


@button("community", "switch", role=None)
class Switch(Button):
    """Make this community the current one (its member's choice, checked by the flow)."""

    community: Id


def _links_text(t: Translator, bot_username: str, community: str, invites: flow.Invites) -> str:
    return "\n\n".join([
        t._("Invitation links for {community}:", community=isolate(community)),
        t._("Residents: {link}", link=deep_link(bot_username, invites.resident.code)),
        t._("Coordinators (share only with your team): {link}",
            link=deep_link(bot_username, invites.coordinator.code)),
    ])


def _renew_keyboard(t: Translator) -> InlineKeyboardMarkup:
    return grid([inline(t._("New resident link"), Renew("resident")),
                 inline(t._("New coordinator link"), Renew("coordinator"))])


@command("newcommunity", role=None)
async def new_community(turn: Turn[Actor]) -> None:
    community, invites = await flow.create_community(
        turn.context.db, turn.who, turn.text, timezone=turn.context.config.timezone)
    t = turn.t
    await turn.say(t._("Community {community} created.", community=isolate(community.name))
                   + "\n\n" + _links_text(t, turn.context.bot.username, community.name, invites))


@command("invite", role="coordinator")
async def invite(turn: Said) -> None:
    invites = await flow.links(turn.context.db, turn.who)
    t = turn.t
    await turn.say(_links_text(t, turn.context.bot.username, turn.who.community.name, invites)
                   + "\n\n" + t._("A new link makes the old one stop working."),
                   _renew_keyboard(t))


@tap(Renew)
async def renew(turn: Tap[Renew]) -> None:
    invites = await flow.renew_link(turn.context.db, turn.who, turn.button.kind)
    t = turn.t
    await turn.answer(t._("New link made; the old one no longer works."))
    await turn.edit(_links_text(t, turn.context.bot.username, turn.who.community.name, invites)
                    + "\n\n" + t._("A new link makes the old one stop working."),
                    _renew_keyboard(t))


@command("members", role="coordinator")
async def members(turn: Said) -> None:
    counts = await flow.counts(turn.context.db, turn.who)
    t = turn.t
    lines = [
        t.ngettext("{community}: {n} member", "{community}: {n} members", counts.total,
                   community=isolate(turn.who.community.name)),
        "",
        t._("<b>By role</b>"),
    ]
    lines += [f"• {role_label(t, role)}: {t.num(n)}" for role, n in sorted(counts.by_role.items())]
    lines += ["", t._("<b>By group</b>")]
    lines += [f"• {group_label(t, group)}: {t.num(counts.by_group.get(group.key, 0))}"
              for group in counts.groups]
    if counts.by_group.get(None):
        lines.append(f"• {group_label(t, None)}: {t.num(counts.by_group[None])}")
    await turn.say("\n".join(lines))


@command("community", role=None)
async def community(turn: Turn[Actor]) -> None:
    t = turn.t
    mine = await flow.communities_of(turn.context.db, turn.who.user.id)
    if not mine:
        await turn.say(t._("You have not joined a community yet. Open the invitation link your"
                           " coordinator shared."))
        return
    current = turn.who.community.id if turn.who.community else None
    await turn.say(t._("Your communities. Tap one to make it your current community:"),
                   keyboard(*[[inline(("✓ " if c.id == current else "") + c.name, Switch(c.id))]
                              for c in mine]))


@guest_tap(Switch)
async def switch(turn: GuestTap[Switch]) -> None:
    who = turn.who
    membership, chosen = await flow.switch(turn.context.db, who.user.id, turn.button.community)
    t = Translator(who.user.language, chosen.timezone)
    await turn.answer()
    await turn.edit(t._("Your current community is now {community}, where you are a {role}.",
                        community=isolate(chosen.name), role=role_label(t, membership.role)))
    await publish_user_commands(turn.context.bot, who.user.id, t, membership.role)


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (new_community, invite, renew, members, community,
                                          switch)])
