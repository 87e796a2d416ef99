"""Communities: /newcommunity (admins), /invite and /members (coordinators), /community."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.actor import Actor, actor
from bot.app import Context
from bot.commands import Command, publish_user_commands
from bot.flows import community as flow
from bot.flows.errors import Refused
from bot.flows.onboarding import deep_link
from bot.i18n import N_, Translator, isolate
from bot.keyboards import choices, grid
from bot.labels import group_label, role_label
from storage import community as store

COMMANDS = [
    Command("community", N_("Switch between your communities"), "resident"),
    Command("members", N_("Members by role and group"), "coordinator"),
    Command("invite", N_("Show or renew the invitation links"), "coordinator"),
    Command("newcommunity", N_("Create a community"), "admin"),
]

ONLY_COORDINATORS = N_("Only coordinators of this community can do that.")
ONLY_ADMINS = N_("Only administrators of this bot can create communities.")


async def _refuse(update: Update, t: Translator, message: str, **values: object) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(t._(message, **values), show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(t._(message, **values))


def _links_text(t: Translator, bot_username: str, community: str, invites: flow.Invites) -> str:
    return "\n\n".join(
        [
            t._("Invitation links for {community}:", community=isolate(community)),
            t._("Residents: {link}", link=deep_link(bot_username, invites.resident.code)),
            t._("Coordinators (share only with your team): {link}",
                link=deep_link(bot_username, invites.coordinator.code)),
        ]
    )


def _rotate_keyboard(t: Translator) -> InlineKeyboardMarkup:
    return grid(
        [
            InlineKeyboardButton(t._("New resident link"), callback_data="invite:rotate:resident"),
            InlineKeyboardButton(
                t._("New coordinator link"), callback_data="invite:rotate:coordinator"
            ),
        ]
    )


async def new_community(update: Update, context: Context) -> None:
    who = await actor(update, context)
    t = who.t
    if not who.is_admin:
        await _refuse(update, t, ONLY_ADMINS)
        return
    name = " ".join(context.args or [])
    try:
        community, invites = await flow.create_community(
            context.db, name, created_by=who.user.id, language=who.user.language,
            timezone=context.config.timezone,
        )
    except Refused as refused:
        await _refuse(update, t, refused.message, **refused.values)
        return
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        t._("Community {community} created.", community=isolate(community.name))
        + "\n\n"
        + _links_text(t, context.bot.username, community.name, invites)
    )


async def invite(update: Update, context: Context) -> None:
    who = await actor(update, context)
    if not _coordinates(who):
        await _refuse(update, who.t, ONLY_COORDINATORS)
        return
    assert who.community is not None and update.effective_message is not None
    invites = await flow.invites(context.db, who.community.id, created_by=who.user.id)
    await update.effective_message.reply_text(
        _links_text(who.t, context.bot.username, who.community.name, invites)
        + "\n\n"
        + who.t._("A new link makes the old one stop working."),
        reply_markup=_rotate_keyboard(who.t),
    )


async def rotate(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    who = await actor(update, context)
    kind = query.data.removeprefix("invite:rotate:")
    if not _coordinates(who):
        await _refuse(update, who.t, ONLY_COORDINATORS)
        return
    if kind not in ("resident", "coordinator"):
        await query.answer(who.t._("This button no longer works."), show_alert=True)
        return
    assert who.community is not None
    await flow.rotate(context.db, who.community.id, kind, by=who.user.id)
    invites = await flow.invites(context.db, who.community.id, created_by=who.user.id)
    await query.answer(who.t._("New link made; the old one no longer works."))
    await query.edit_message_text(
        _links_text(who.t, context.bot.username, who.community.name, invites)
        + "\n\n"
        + who.t._("A new link makes the old one stop working."),
        reply_markup=_rotate_keyboard(who.t),  # type: ignore[arg-type]
    )


async def members(update: Update, context: Context) -> None:
    who = await actor(update, context)
    if not _coordinates(who):
        await _refuse(update, who.t, ONLY_COORDINATORS)
        return
    assert who.community is not None and update.effective_message is not None
    t = who.t
    counts = await store.member_counts(context.db, who.community.id)
    lines = [
        t.ngettext("{community}: {n} member", "{community}: {n} members", counts["total"],
                   community=isolate(who.community.name)),
        "",
        t._("<b>By role</b>"),
    ]
    lines += [
        f"• {role_label(t, role)}: {t.num(n)}" for role, n in sorted(counts["by_role"].items())
    ]
    lines += ["", t._("<b>By group</b>")]
    for group in await store.stakeholder_groups(context.db, who.community.id):
        lines.append(f"• {group_label(t, group)}: {t.num(counts['by_group'].get(group.key, 0))}")
    if counts["by_group"].get(None):
        lines.append(f"• {group_label(t, None)}: {t.num(counts['by_group'][None])}")
    await update.effective_message.reply_text("\n".join(lines))


async def community(update: Update, context: Context) -> None:
    who = await actor(update, context)
    t = who.t
    assert update.effective_message is not None
    mine = await store.memberships_of(context.db, who.user.id)
    if not mine:
        await update.effective_message.reply_text(
            t._("You have not joined a community yet. Open the invitation link your"
                " coordinator shared.")
        )
        return
    current = who.community.id if who.community else None
    options = [
        (("✓ " if c.id == current else "") + c.name, f"community:switch:{c.id}") for _, c in mine
    ]
    await update.effective_message.reply_text(
        t._("Your communities. Tap one to make it your current community:"),
        reply_markup=choices(options, per_row=1),
    )


async def switch(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    who = await actor(update, context)
    raw = query.data.removeprefix("community:switch:")
    try:
        membership, chosen = await flow.switch(
            context.db, who.user.id, int(raw) if raw.isdigit() else -1
        )
    except Refused as refused:
        await _refuse(update, who.t, refused.message, **refused.values)
        return
    t = Translator(who.user.language, chosen.timezone)
    await query.answer()
    await query.edit_message_text(
        t._("Your current community is now {community}, where you are a {role}.",
            community=isolate(chosen.name), role=role_label(t, membership.role))
    )
    await publish_user_commands(context.bot, who.user.id, t, membership.role)


def _coordinates(who: Actor) -> bool:
    return who.community is not None and who.membership is not None and who.is_coordinator


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("newcommunity", new_community, filters=private))
    app.add_handler(CommandHandler("invite", invite, filters=private))
    app.add_handler(CommandHandler("members", members, filters=private))
    app.add_handler(CommandHandler("community", community, filters=private))
    app.add_handler(CallbackQueryHandler(rotate, pattern=r"^invite:rotate:"))
    app.add_handler(CallbackQueryHandler(switch, pattern=r"^community:switch:"))
