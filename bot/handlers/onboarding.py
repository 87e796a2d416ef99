"""``/start``: a welcome, the language choice, and joining a community by invite link.

Joining takes two taps — the stakeholder group, then the privacy notice — and every button
carries the invitation code and the choice so far, so nothing is kept between the taps: a
restart half-way changes nothing, a button of an older invitation joins that invitation's
community or none, and nothing is stored about the person until they accept.
"""

from __future__ import annotations

from typing import Annotated

from bot.app import MahfilApp
from bot.callbacks import Button, Word, button
from bot.commands import Command, publish_user_commands
from bot.flows import onboarding as flow
from bot.flows.people import Actor
from bot.handlers._common import GuestTap, Turn, command, guest_tap
from bot.handlers.process import welcome
from bot.i18n import N_, Translator, isolate
from bot.keyboards import grid, inline, language_keyboard
from bot.labels import group_label, role_label

COMMANDS = [
    Command("start", N_("Start, or join a community with an invitation link"), None),
    Command("cancel", N_("Stop what you are doing"), None),
]

Code = Annotated[str, Word(22)]  # an invitation code (16 characters when we make one)


@button("onboarding", "group", role=None)
class Group(Button):
    """A newcomer's stakeholder group, for the invitation ``code``."""

    code: Code
    group: Annotated[str, Word(24)]


@button("onboarding", "agree", role=None)
class Agree(Button):
    """The privacy notice accepted: join ``code``'s community in ``group``."""

    code: Code
    group: Annotated[str, Word(24)]


@button("onboarding", "decline", role=None)
class Decline(Button):
    """The privacy notice declined: nothing is stored."""

    code: Code


@command("start", role=None)
async def start(turn: Turn[Actor]) -> None:
    """``/start <code>`` opens an invitation; ``/start`` alone says hello."""
    if turn.args:
        await _open_link(turn, turn.args[0])
    else:
        await _welcome(turn)


async def _welcome(turn: Turn[Actor]) -> None:
    who, t = turn.who, turn.t
    if who.community is not None and who.membership is not None:
        text = t._(
            "Welcome back! You are a {role} in {community}. Send /help to see what you can do.",
            role=role_label(t, who.membership.role), community=isolate(who.community.name))
    else:
        text = "\n\n".join([
            t._("Salaam! I am Mahfil, the chat assistant of your neighbourhood's"
                " participation process: surveys, priorities, committee elections and"
                " the joint action plan."),
            t._("To join your community, open the invitation link your coordinator"
                " shared. No link yet? Ask your coordinator for one."),
            t._("You can choose your language below, or later with /language."),
        ])
    await turn.say(text, language_keyboard())


async def _open_link(turn: Turn[Actor], code: str) -> None:
    t = turn.t
    opened = await flow.open_link(turn.context.db, turn.who.user.id, code)
    community = opened.invitation.community
    if opened.membership is not None:
        await turn.say(t._("You are already a member of {community}, as a {role}.",
                           community=isolate(community.name),
                           role=role_label(t, opened.membership.role)))
        await publish_user_commands(turn.context.bot, turn.who.user.id, t,
                                    opened.membership.role)
        return
    await turn.say(
        t._("You are joining {community}.", community=isolate(community.name)) + "\n\n"
        + t._("Which group do you belong to? This helps the community hear every part of"
              " the neighbourhood."),
        grid([inline(group_label(t, g, html=False), Group(code, g.key))
              for g in opened.groups]))


@guest_tap(Group)
async def choose_group(turn: GuestTap[Group]) -> None:
    t, chosen = turn.t, turn.button
    invitation, group = await flow.choose_group(turn.context.db, chosen.code, chosen.group)
    await turn.answer()
    await turn.edit(t._("Your group: {group}.", group=group_label(t, group)))
    await turn.say(_privacy_notice(t, invitation.community.name), grid([
        inline(t._("I agree"), Agree(chosen.code, chosen.group)),
        inline(t._("I do not agree"), Decline(chosen.code)),
    ]))


def _privacy_notice(t: Translator, community: str) -> str:
    return "\n".join([
        t._("<b>Privacy notice</b>"),
        t._("To take part in {community}, Mahfil stores your Telegram name and id, your"
            " language, your group, and what you answer, vote and write here.",
            community=isolate(community)),
        t._("Coordinators see results and counts. Secret ballots and anonymous surveys"
            " cannot be linked to you."),
        t._("You can download your data with /mydata and delete it with /forgetme at"
            " any time."),
    ])


@guest_tap(Agree)
async def agree(turn: GuestTap[Agree]) -> None:
    t, who = turn.t, turn.who
    membership, community, _new = await flow.complete_join(
        turn.context.db, who.user.id, turn.button.code, turn.button.group)
    await turn.answer()
    await turn.edit(t._("Welcome to {community}! You joined as a {role}.",
                        community=isolate(community.name), role=role_label(t, membership.role))
                    + "\n" + t._("Send /help to see what you can do."))
    await publish_user_commands(turn.context.bot, who.user.id, t, membership.role)
    await welcome(turn, community.id, who.user.id)  # joined mid-cycle: where it stands, once


@guest_tap(Decline)
async def decline(turn: GuestTap[Decline]) -> None:
    await turn.answer()
    await turn.edit(turn.t._("You did not join, and nothing about you was stored for this"
                             " community. You can open the invitation link again whenever"
                             " you like."))


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (start, choose_group, agree, decline)])
