"""``/start``: a welcome, the language choice, and joining a community by invite link.

Joining is a persistent conversation (stakeholder group → privacy notice), so a restart
half-way resumes at the same step. Nothing is stored about the person until they accept.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, Message, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.actor import Actor, actor
from bot.app import Context
from bot.commands import Command, publish_user_commands
from bot.flows import onboarding as flow
from bot.flows.errors import Refused
from bot.i18n import LANGUAGES, N_, Translator, isolate, language_name
from bot.keyboards import choices, grid, language_keyboard
from bot.labels import group_label, role_label
from storage import community as store

CHOOSE_GROUP, ACCEPT_PRIVACY = range(2)
CODE_KEY = "join_code"

COMMANDS = [
    Command("start", N_("Start, or join a community with an invitation link"), None),
    Command("cancel", N_("Stop what you are doing"), None),
]


async def welcome(update: Update, context: Context) -> None:
    """``/start`` without a code: hello, pick a language, and how to join."""
    who = await actor(update, context)
    t = who.t
    assert update.effective_message is not None
    if who.community is not None and who.membership is not None:
        text = t._(
            "Welcome back! You are a {role} in {community}. Send /help to see what you can do.",
            role=role_label(t, who.membership.role),
            community=isolate(who.community.name),
        )
    else:
        text = "\n\n".join(
            [
                t._("Salaam! I am Mahfil, the chat assistant of your neighbourhood's"
                    " participation process: surveys, priorities, committee elections and"
                    " the joint action plan."),
                t._("To join your community, open the invitation link your coordinator"
                    " shared. No link yet? Ask your coordinator for one."),
                t._("You can choose your language below, or later with /language."),
            ]
        )
    await update.effective_message.reply_text(text, reply_markup=language_keyboard())


async def choose_language(update: Update, context: Context) -> None:
    """A tap on a language button, from /start or /language."""
    query = update.callback_query
    assert query is not None and query.data is not None
    lang = query.data.removeprefix("lang:")
    who = await actor(update, context)
    if lang not in LANGUAGES:
        await query.answer(who.t._("This button no longer works."), show_alert=True)
        return
    await store.set_language(context.db, who.user.id, lang)
    t = Translator(lang, who.t.tz)
    await query.answer()
    await query.edit_message_text(
        t._("Language set to {language}.", language=language_name(lang))
        + "\n"
        + t._("Send /help to see what you can do.")
    )
    await publish_user_commands(context.bot, who.user.id, t, who.role)


async def start_join(update: Update, context: Context) -> int:
    """``/start <code>``: check the invitation, then ask for the stakeholder group."""
    who = await actor(update, context)
    t = who.t
    message = update.effective_message
    assert message is not None and context.args is not None
    code = context.args[0]
    try:
        invitation = await flow.open_invitation(context.db, code)
    except Refused as refused:
        await message.reply_text(t._(refused.message, **refused.values))
        return ConversationHandler.END
    existing = await store.get_membership(context.db, invitation.community.id, who.user.id)
    if existing is not None and existing.stakeholder_group is not None:
        membership, community, _ = await flow.complete_join(
            context.db, who.user.id, code, existing.stakeholder_group
        )
        await message.reply_text(
            t._("You are already a member of {community}, as a {role}.",
                community=isolate(community.name), role=role_label(t, membership.role))
        )
        await publish_user_commands(context.bot, who.user.id, t, membership.role)
        return ConversationHandler.END
    assert context.user_data is not None
    context.user_data[CODE_KEY] = code
    await _ask_group(message, t, context, invitation.community.id, invitation.community.name)
    return CHOOSE_GROUP


async def _ask_group(
    message: Message, t: Translator, context: Context, community_id: int, name: str
) -> None:
    groups = await store.stakeholder_groups(context.db, community_id)
    keyboard = choices([(group_label(t, g, html=False), f"join:group:{g.key}") for g in groups])
    await message.reply_text(
        t._("You are joining {community}.", community=isolate(name))
        + "\n\n"
        + t._("Which group do you belong to? This helps the community hear every part of"
              " the neighbourhood."),
        reply_markup=keyboard,
    )


async def choose_group(update: Update, context: Context) -> int:
    query = update.callback_query
    assert query is not None and query.data is not None and context.user_data is not None
    who = await actor(update, context)
    t = who.t
    code = context.user_data.get(CODE_KEY)
    try:
        invitation = await flow.open_invitation(context.db, code or "")
    except Refused as refused:
        await query.answer(t._(refused.message, **refused.values), show_alert=True)
        return ConversationHandler.END
    group = query.data.removeprefix("join:group:")
    groups = {g.key: g for g in await store.stakeholder_groups(context.db, invitation.community.id)}
    if group not in groups:
        await query.answer(t._(flow.UNKNOWN_GROUP), show_alert=True)
        return CHOOSE_GROUP
    context.user_data["join_group"] = group
    await query.answer()
    await query.edit_message_text(
        t._("Your group: {group}.", group=group_label(t, groups[group]))
    )
    assert isinstance(query.message, Message)
    await query.message.reply_text(
        _privacy_notice(t, invitation.community.name),
        reply_markup=grid(
            [
                InlineKeyboardButton(t._("I agree"), callback_data="join:accept"),
                InlineKeyboardButton(t._("I do not agree"), callback_data="join:decline"),
            ]
        ),
    )
    return ACCEPT_PRIVACY


def _privacy_notice(t: Translator, community: str) -> str:
    return "\n".join(
        [
            t._("<b>Privacy notice</b>"),
            t._("To take part in {community}, Mahfil stores your Telegram name and id, your"
                " language, your group, and what you answer, vote and write here.",
                community=isolate(community)),
            t._("Coordinators see results and counts. Secret ballots and anonymous surveys"
                " cannot be linked to you."),
            t._("You can download your data with /mydata and delete it with /forgetme at"
                " any time."),
        ]
    )


async def accept(update: Update, context: Context) -> int:
    query = update.callback_query
    assert query is not None and context.user_data is not None
    who = await actor(update, context)
    t = who.t
    code = context.user_data.get(CODE_KEY, "")
    group = context.user_data.get("join_group", "")
    try:
        membership, community, _ = await flow.complete_join(context.db, who.user.id, code, group)
    except Refused as refused:
        await query.answer(t._(refused.message, **refused.values), show_alert=True)
        context.user_data.pop(CODE_KEY, None)
        context.user_data.pop("join_group", None)
        return ConversationHandler.END
    context.user_data.pop(CODE_KEY, None)
    context.user_data.pop("join_group", None)
    await query.answer()
    await query.edit_message_text(
        t._("Welcome to {community}! You joined as a {role}.",
            community=isolate(community.name), role=role_label(t, membership.role))
        + "\n"
        + t._("Send /help to see what you can do.")
    )
    await publish_user_commands(context.bot, who.user.id, t, membership.role)
    return ConversationHandler.END


async def decline(update: Update, context: Context) -> int:
    query = update.callback_query
    assert query is not None and context.user_data is not None
    who = await actor(update, context)
    context.user_data.pop(CODE_KEY, None)
    context.user_data.pop("join_group", None)
    await query.answer()
    await query.edit_message_text(
        who.t._("You did not join, and nothing about you was stored for this community."
                " You can open the invitation link again whenever you like.")
    )
    return ConversationHandler.END


async def tap_a_button(update: Update, context: Context) -> None:
    """Text typed while a question with buttons is open: say so, keep the state."""
    who = await actor(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(who.t._("Please tap one of the buttons above."))


async def cancel(update: Update, context: Context) -> int:
    who: Actor = await actor(update, context)
    if context.user_data is not None:
        context.user_data.pop(CODE_KEY, None)
        context.user_data.pop("join_group", None)
    assert update.effective_message is not None
    await update.effective_message.reply_text(who.t._("Stopped. Nothing was changed."))
    return ConversationHandler.END


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start_join, filters=private, has_args=True)],
            states={
                CHOOSE_GROUP: [
                    CallbackQueryHandler(choose_group, pattern=r"^join:group:"),
                    MessageHandler(filters.TEXT & ~filters.COMMAND, tap_a_button),
                ],
                ACCEPT_PRIVACY: [
                    CallbackQueryHandler(accept, pattern=r"^join:accept$"),
                    CallbackQueryHandler(decline, pattern=r"^join:decline$"),
                    MessageHandler(filters.TEXT & ~filters.COMMAND, tap_a_button),
                ],
            },
            fallbacks=[CommandHandler("cancel", cancel)],
            name="onboarding_join",
            persistent=True,
            allow_reentry=True,
        )
    )
    app.add_handler(CommandHandler("start", welcome, filters=private))
    app.add_handler(CallbackQueryHandler(choose_language, pattern=r"^lang:"))
