"""/dashboard: a button that opens the community's dashboard, a Telegram Mini App.

The dashboard itself is a web page served by the bot's process (``bot/webapp``); this
handler only hands out the way in: an inline ``web_app`` button for everyone, and for
coordinators also the chat's menu button, so the dashboard is one tap away in their private
chat. Without ``WEBAPP_URL`` it explains what whoever runs the bot must set.
"""

from __future__ import annotations

import contextlib

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MenuButtonWebApp, WebAppInfo
from telegram.error import TelegramError

from bot.app import Context, MahfilApp
from bot.commands import Command
from bot.handlers._common import Said, command
from bot.i18n import N_, isolate

COMMANDS = [
    Command("dashboard", N_("Results, participation and the plan at a glance"), "resident"),
]


def dashboard_url(context: Context) -> str | None:
    """``WEBAPP_URL``, or the sandbox's own dashboard address."""
    return context.config.webapp_url or context.bot_data.webapp_url


@command("dashboard")  # Telegram allows web_app buttons only in private chats
async def dashboard_command(turn: Said) -> None:
    t, who = turn.t, turn.who
    url = dashboard_url(turn.context)
    if url is None:
        await turn.say(t._(
            "The dashboard is not set up on this bot yet. Whoever runs the bot sets"
            " WEBAPP_URL to the public https address of the bot's dashboard (a TLS proxy"
            " forwards it to WEBAPP_PORT) and restarts it; the README explains the steps."))
        return
    app = WebAppInfo(url)
    chat = turn.update.effective_chat
    if who.is_coordinator and chat is not None:
        # The inline button below works anyway; the menu button is a convenience.
        with contextlib.suppress(TelegramError):
            await turn.context.bot.set_chat_menu_button(
                chat_id=chat.id, menu_button=MenuButtonWebApp(t._("Dashboard"), app))
    await turn.say(t._("Results, participation, the plan and its indicators, drawn for"
                       " {community}:", community=isolate(who.community.name)),
                   InlineKeyboardMarkup([[InlineKeyboardButton(t._("Open the dashboard"),
                                                               web_app=app)]]))


def register(app: MahfilApp) -> None:
    app.add_handler(dashboard_command.handler)
