"""A person's own settings and data: /language, /help, /mydata, /forgetme."""

from __future__ import annotations

from bot.app import MahfilApp
from bot.callbacks import Button, button
from bot.commands import Command, commands_for, publish_user_commands
from bot.flows import account as flow
from bot.flows.people import Actor
from bot.handlers._common import GuestTap, Turn, command, guest_tap
from bot.i18n import N_, Translator, isolate, language_name
from bot.keyboards import Language, grid, inline, language_keyboard
from bot.labels import role_label

COMMANDS = [
    Command("help", N_("What you can do here"), None),
    Command("language", N_("Change the language"), None),
    Command("mydata", N_("Download the data stored about you"), None),
    Command("forgetme", N_("Delete your data"), None),
]


@button("account", "forget", role=None)
class Forget(Button):
    """Delete my data (after /forgetme asked)."""


@button("account", "keep", role=None)
class Keep(Button):
    """Keep my data (after /forgetme asked)."""


@command("language", role=None)
async def language(turn: Turn[Actor]) -> None:
    await turn.say(turn.t._("Choose your language:"), language_keyboard())


@guest_tap(Language)
async def choose_language(turn: GuestTap[Language]) -> None:
    """A language button, from /start or /language."""
    who = turn.who
    await flow.set_language(turn.context.db, who.user.id, turn.button.lang)
    t = Translator(turn.button.lang, who.t.tz)
    await turn.answer()
    await turn.edit(t._("Language set to {language}.", language=language_name(t.lang))
                    + "\n" + t._("Send /help to see what you can do."))
    await publish_user_commands(turn.context.bot, who.user.id, t, who.role)


@command("help", role=None)
async def help_command(turn: Turn[Actor]) -> None:
    """The commands this person's role may use, in their language."""
    who, t = turn.who, turn.t
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
    await turn.say("\n".join(lines))


@command("mydata", role=None)
async def mydata(turn: Turn[Actor]) -> None:
    document = await flow.export(turn.context.db, turn.who.user.id)
    chat = turn.update.effective_chat
    assert chat is not None
    await turn.context.bot.send_document(
        chat.id, document, filename=f"mahfil-data-{turn.who.user.id}.json",
        caption=turn.t._("This is everything Mahfil stores about you."))


@command("forgetme", role=None)
async def forgetme(turn: Turn[Actor]) -> None:
    t = turn.t
    await turn.say(
        t._("Delete your data? You will leave every community. Counts others rely on (votes,"
            " supporters) stay, without your name. This cannot be undone."),
        grid([inline(t._("Delete my data"), Forget()), inline(t._("Keep my data"), Keep())]))


@guest_tap(Forget)
async def forget_confirmed(turn: GuestTap[Forget]) -> None:
    who = turn.who
    await flow.forget(turn.context.db, who.user.id)
    if turn.context.user_data is not None:
        turn.context.user_data.clear()
    turn.app.drop_user_data(who.user.id)
    await turn.answer()
    await turn.edit(who.t._("Your data was deleted. Goodbye! You can join again with an"
                            " invitation link."))


@guest_tap(Keep)
async def forget_cancelled(turn: GuestTap[Keep]) -> None:
    await turn.answer()
    await turn.edit(turn.t._("Nothing was deleted."))


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (language, choose_language, help_command, mydata,
                                          forgetme, forget_confirmed, forget_cancelled)])
