"""A person's own settings and data: /language, /help, /mydata, /forgetme."""

from __future__ import annotations

from telegram import InlineKeyboardButton, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.actor import actor
from bot.app import Context
from bot.commands import Command, commands_for
from bot.flows import account as flow
from bot.i18n import N_, isolate
from bot.keyboards import grid, language_keyboard
from bot.labels import role_label

COMMANDS = [
    Command("help", N_("What you can do here"), None),
    Command("language", N_("Change the language"), None),
    Command("mydata", N_("Download the data stored about you"), None),
    Command("forgetme", N_("Delete your data"), None),
]


async def language(update: Update, context: Context) -> None:
    who = await actor(update, context)
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        who.t._("Choose your language:"), reply_markup=language_keyboard()
    )


async def help_command(update: Update, context: Context) -> None:
    """The commands this person's role may use, in their language."""
    who = await actor(update, context)
    t = who.t
    lines = []
    if who.community is not None and who.role is not None:
        lines.append(t._("You are a {role} in {community}.", role=role_label(t, who.role),
                         community=isolate(who.community.name)))
    elif who.is_admin:
        lines.append(t._("You are an administrator of this bot."))
    else:
        lines.append(t._("You have not joined a community yet. Open the invitation link your"
                         " coordinator shared."))
    lines.append("")
    lines.extend(t.command_line(c.name, t._(c.description)) for c in commands_for(who.role))
    assert update.effective_message is not None
    await update.effective_message.reply_text("\n".join(lines))


async def mydata(update: Update, context: Context) -> None:
    who = await actor(update, context)
    document = await flow.export(context.db, who.user.id)
    assert update.effective_message is not None
    await update.effective_message.reply_document(
        document,
        filename=f"mahfil-data-{who.user.id}.json",
        caption=who.t._("This is everything Mahfil stores about you."),
    )


async def forgetme(update: Update, context: Context) -> None:
    who = await actor(update, context)
    t = who.t
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        t._("Delete your data? You will leave every community. Counts others rely on (votes,"
            " supporters) stay, without your name. This cannot be undone."),
        reply_markup=grid(
            [
                InlineKeyboardButton(t._("Delete my data"), callback_data="account:forget"),
                InlineKeyboardButton(t._("Keep my data"), callback_data="account:keep"),
            ]
        ),
    )


async def forget_confirmed(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    who = await actor(update, context)
    await flow.forget(context.db, who.user.id)
    if context.user_data is not None:
        context.user_data.clear()
    context.application.drop_user_data(who.user.id)
    await query.answer()
    await query.edit_message_text(
        who.t._("Your data was deleted. Goodbye! You can join again with an invitation link.")
    )


async def forget_cancelled(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    who = await actor(update, context)
    await query.answer()
    await query.edit_message_text(who.t._("Nothing was deleted."))


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("language", language, filters=private))
    app.add_handler(CommandHandler("help", help_command, filters=private))
    app.add_handler(CommandHandler("mydata", mydata, filters=private))
    app.add_handler(CommandHandler("forgetme", forgetme, filters=private))
    app.add_handler(CallbackQueryHandler(forget_confirmed, pattern=r"^account:forget$"))
    app.add_handler(CallbackQueryHandler(forget_cancelled, pattern=r"^account:keep$"))
