"""The commands each capability offers, for ``/help`` and Telegram's command menu.

Every handler module lists its commands in ``COMMANDS``; this module gathers them, so /help
and ``set_my_commands`` never drift from what is really registered.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from bot.i18n import LANGUAGES, Translator
from storage.community import ROLE_RANK


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command: its name, a description (an ``N_``-marked msgid), and who sees it.

    ``role`` is the least role that may use it: ``None`` for anyone (even before joining),
    else ``resident``, ``committee``, ``coordinator`` or ``admin``.
    """

    name: str
    description: str
    role: str | None = "resident"

    def visible_to(self, role: str | None) -> bool:
        if self.role is None:
            return True
        return role is not None and ROLE_RANK[role] >= ROLE_RANK[self.role]


def all_commands() -> list[Command]:
    from bot.handlers import handler_modules

    seen: dict[str, Command] = {}
    for module in handler_modules():
        for command in getattr(module, "COMMANDS", ()):
            seen.setdefault(command.name, command)
    return list(seen.values())


def commands_for(role: str | None) -> list[Command]:
    return [c for c in all_commands() if c.visible_to(role)]


def bot_commands(t: Translator, role: str | None) -> list[BotCommand]:
    return [BotCommand(c.name, t._(c.description)[:256]) for c in commands_for(role)]


async def publish_default_commands(bot: Bot) -> None:
    """The menu a newcomer sees, once per language (Telegram picks by the user's language)."""
    for lang in LANGUAGES:
        await bot.set_my_commands(
            bot_commands(Translator(lang), "resident"),
            scope=BotCommandScopeDefault(),
            language_code=lang,
        )
    await bot.set_my_commands(bot_commands(Translator("en"), "resident"))


async def publish_user_commands(bot: Bot, user_id: int, t: Translator, role: str | None) -> None:
    """A menu for one private chat: in the user's chosen language, with their role's commands.

    Telegram's per-language menus follow the app's language, not the one chosen in the bot,
    so a chat-scoped menu keeps them in step. A failure here is cosmetic and is ignored.
    """
    try:
        await bot.set_my_commands(bot_commands(t, role), scope=BotCommandScopeChat(user_id))
    except TelegramError:
        return
