"""Coordinators' broadcasts: /broadcast writes, targets, previews and sends; /quiethours.

The draft lives in the user's persisted data (a restart resumes it); sending writes one
outbox row per recipient in one transaction, and the delivery worker does the rest. The
coordinator's progress message (sent / failed / left) is edited at most every few seconds
and has a Cancel button while anything is left.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
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
from bot.commands import Command
from bot.delivery import courier
from bot.flows import broadcast as flow
from bot.flows.errors import Refused
from bot.flows.survey import pick
from bot.handlers._common import (
    callback_parts,
    coordinator,
    edit_message,
    refusals,
    say,
    short,
)
from bot.i18n import LANGUAGES, N_, Translator, isolate, language_name
from bot.labels import group_label
from storage import broadcast as store
from storage import committee as committee_store
from storage import community as community_store
from storage import survey as survey_store
from storage import voting as voting_store
from storage.broadcast import Message

COMMANDS = [
    Command("broadcast", N_("Send a message to members"), "coordinator"),
    Command("quiethours", N_("Hours when reminders and digests wait"), "coordinator"),
]

TEXT, CARD, VERSION = range(3)
DRAFT = "broadcast_draft"
PROGRESS_SLOWER = 3.0  # progress edits: three times the per-chat pause (every 3 s)

NOT_AVAILABLE = N_("This broadcast is not available to you.")



def _draft(context: Context) -> dict[str, Any]:
    draft = context.user_data.get(DRAFT) if context.user_data is not None else None
    if not isinstance(draft, dict) or not draft.get("texts"):
        raise Refused(N_("There is no broadcast being written. Start with /broadcast."))
    return draft


# -- audiences -----------------------------------------------------------------------------


async def _audiences(who: Actor, context: Context) -> list[tuple[str, str]]:
    """(audience, label) pairs a coordinator may choose in their community."""
    assert who.community is not None
    t = who.t
    options = [("all", t._("All members"))]
    for group in await community_store.stakeholder_groups(context.db, who.community.id):
        options.append((f"group:{group.key}", group_label(t, group, html=False)))
    for committee in await committee_store.committees(context.db, who.community.id):
        options.append((f"committee:{committee.id}", short(committee.name, 40)))
    for vote in await voting_store.list_for(context.db, who.community.id, status="open"):
        options.append((f"novote:{vote.id}",
                        t._("Not yet voted: {title}", title=short(vote.title, 30))))
    for election in await committee_store.elections(context.db, who.community.id, "voting"):
        options.append((f"noballot:{election.id}",
                        t._("Not yet voted: {title}", title=short(election.name, 30))))
    for survey in await survey_store.of_community(context.db, who.community.id, ("open",)):
        title = pick(survey.title, t.lang, who.community.default_language)
        options.append((f"nosurvey:{survey.id}",
                        t._("Not yet answered: {title}", title=short(title, 30))))
    return options


async def _audience_label(who: Actor, context: Context, audience: str) -> str:
    return dict(await _audiences(who, context)).get(audience, audience)


# -- the draft card ------------------------------------------------------------------------


async def _card(who: Actor, context: Context) -> tuple[str, InlineKeyboardMarkup]:
    assert who.community is not None
    t = who.t
    draft = _draft(context)
    recipients = await flow.recipients(context.db, who.community, draft["audience"])
    versions = ", ".join(language_name(lang) for lang in draft["texts"])
    lines = [
        t._("<b>Broadcast draft</b>"),
        "",
        isolate(short(draft["texts"][draft["first"]], 300)),
        "",
        t._("Photo: yes") if draft.get("photo") else t._("Photo: none"),
        t._("Versions: {languages}", languages=versions),
        t._("Audience: {audience}", audience=await _audience_label(who, context,
                                                                   draft["audience"])),
        t.ngettext("It will reach {n} member.", "It will reach {n} members.", len(recipients)),
    ]
    rows = [[InlineKeyboardButton(t._("Choose the audience"), callback_data="bc:aud")]]
    missing = [lang for lang in LANGUAGES if lang not in draft["texts"]]
    if missing:
        rows.append([InlineKeyboardButton(f"+ {language_name(lang)}",
                                          callback_data=f"bc:lang:{lang}") for lang in missing])
    rows.append([InlineKeyboardButton(t._("Preview"), callback_data="bc:prev"),
                 InlineKeyboardButton(t._("Discard"), callback_data="bc:drop")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)



def _content(update: Update) -> tuple[str, str | None]:
    """The text (or caption) and the photo's file id of the message just sent."""
    message = update.effective_message
    assert message is not None
    if message.photo:
        return flow.check_text(message.caption or "", caption=True), message.photo[-1].file_id
    return flow.check_text(message.text or "", caption=False), None


# -- the conversation ----------------------------------------------------------------------


@refusals
async def start(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)
    await say(update, who.t._(
        "Write the message for members. You may send a photo with a caption instead."
        " /cancel stops."))
    return TEXT


@refusals
async def first_text(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    text, photo = _content(update)
    assert context.user_data is not None
    context.user_data[DRAFT] = {"texts": {who.t.lang: text}, "first": who.t.lang,
                                "photo": photo, "audience": "all"}
    card, markup = await _card(who, context)
    await say(update, card, reply_markup=markup)
    return CARD


@refusals
async def audience_menu(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    _draft(context)
    assert update.callback_query is not None
    await update.callback_query.answer()
    rows = [[InlineKeyboardButton(label, callback_data=f"bc:a:{audience}")]
            for audience, label in await _audiences(who, context)]
    await edit_message(update, who.t._("Who should receive it?"), InlineKeyboardMarkup(rows))
    return CARD


@refusals
async def audience_tap(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    draft = _draft(context)
    audience = ":".join(callback_parts(update)[2:])
    if audience not in dict(await _audiences(who, context)):
        raise Refused(flow.NOT_AVAILABLE)
    draft["audience"] = audience
    assert update.callback_query is not None
    await update.callback_query.answer()
    card, markup = await _card(who, context)
    await edit_message(update, card, markup)
    return CARD


@refusals
async def version_tap(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    draft = _draft(context)
    lang = callback_parts(update)[2] if len(callback_parts(update)) == 3 else ""
    if lang not in LANGUAGES:
        raise Refused(NOT_AVAILABLE)
    draft["adding"] = lang
    assert update.callback_query is not None
    await update.callback_query.answer()
    await say(update, who.t._("Write the version in {language}.",
                              language=language_name(lang)))
    return VERSION


@refusals
async def version_text(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    draft = _draft(context)
    assert update.effective_message is not None
    text = flow.check_text(update.effective_message.text or "",
                           caption=bool(draft.get("photo")))
    lang = draft.pop("adding", None)
    if lang in LANGUAGES:
        draft["texts"][lang] = text
    card, markup = await _card(who, context)
    await say(update, card, reply_markup=markup)
    return CARD


@refusals
async def preview_tap(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    assert who.community is not None and update.effective_chat is not None
    draft = _draft(context)
    t = who.t
    assert update.callback_query is not None
    await update.callback_query.answer()
    recipients = await flow.recipients(context.db, who.community, draft["audience"])
    mine = flow.version_for(draft["texts"], t.lang, who.community.default_language,
                            draft["first"])
    if draft.get("photo"):
        await context.bot.send_photo(update.effective_chat.id, draft["photo"], caption=mine)
    else:
        await context.bot.send_message(update.effective_chat.id, mine)
    by_language = Counter(
        flow.version_language(draft["texts"], user.language, who.community.default_language,
                              draft["first"]) for user in recipients)
    lines = [t.ngettext("This is how it looks. It will reach {n} member:",
                        "This is how it looks. It will reach {n} members:", len(recipients))]
    lines += [f"• {language_name(lang)}: {t.num(n)}" for lang, n in sorted(by_language.items())]
    await say(update, "\n".join(lines), reply_markup=InlineKeyboardMarkup([[
        InlineKeyboardButton(t.ngettext("Send to {n} member", "Send to {n} members",
                                        len(recipients)), callback_data="bc:send"),
        InlineKeyboardButton(t._("Back"), callback_data="bc:back"),
    ]]))
    return CARD


@refusals
async def back_tap(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    assert update.callback_query is not None
    await update.callback_query.answer()
    card, markup = await _card(who, context)
    await edit_message(update, card, markup)
    return CARD


@refusals
async def send_tap(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    assert who.community is not None and update.effective_chat is not None
    assert context.user_data is not None
    draft = _draft(context)
    recipients = await flow.recipients(context.db, who.community, draft["audience"])
    if not recipients:
        raise Refused(N_("Nobody is in this audience. Choose another one."))
    paid = courier(context.application).paid
    messages = [Message(chat_id=u.id, user_id=u.id, photo=draft.get("photo"), paid=paid,
                        text=flow.version_for(draft["texts"], u.language,
                                              who.community.default_language, draft["first"]))
                for u in recipients]
    broadcast = await store.create_broadcast(
        context.db, who.community.id, who.user.id, draft["audience"], draft["texts"],
        draft.get("photo"), messages)
    context.user_data.pop(DRAFT, None)
    assert update.callback_query is not None
    await update.callback_query.answer()
    await edit_message(update, who.t._("Sending…"), None)
    text, markup = _progress_text(who.t, broadcast.status, store.Progress(0, 0, len(messages), 0),
                                  broadcast.id)
    sent = await context.bot.send_message(update.effective_chat.id, text, reply_markup=markup)
    await store.set_progress_message(context.db, broadcast.id, sent.chat_id, sent.message_id)
    courier(context.application).wake()
    return ConversationHandler.END


@refusals
async def discard_tap(update: Update, context: Context) -> int:
    who = await actor(update, context)
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)
    assert update.callback_query is not None
    await update.callback_query.answer()
    await edit_message(update, who.t._("Discarded. Nothing was sent."), None)
    return ConversationHandler.END


async def cancel_command(update: Update, context: Context) -> int:
    who = await actor(update, context)
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)
    await say(update, who.t._("Stopped. Nothing was sent."))
    return ConversationHandler.END


async def not_text(update: Update, context: Context) -> int | None:
    who = await actor(update, context)
    await say(update, who.t._("Please send text, or a photo with a caption."))
    return None


# -- progress and cancelling ---------------------------------------------------------------


def _progress_text(t: Translator, status: str, progress: store.Progress,
                   broadcast_id: int) -> tuple[str, InlineKeyboardMarkup | None]:
    counts = t._("Sent: {sent} · failed: {failed} · left: {left}", sent=progress.sent,
                 failed=progress.failed, left=progress.left)
    if status == "cancelled":
        title = t.ngettext("Broadcast cancelled; {n} message was not sent.",
                           "Broadcast cancelled; {n} messages were not sent.",
                           progress.cancelled)
    elif status == "done":
        title = t._("Broadcast finished.")
    else:
        title = t._("Broadcast in progress…")
    markup = None
    if status == "sending":
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(
            t._("Cancel the broadcast"), callback_data=f"bc:cancel:{broadcast_id}")]])
    return f"{title}\n{counts}", markup


def show_progress(app: Application, broadcast_id: int) -> None:  # type: ignore[type-arg]
    """Edit the sender's progress message, newest state only, every few seconds at most."""
    db = app.bot_data.db

    async def job() -> None:
        broadcast = await store.get_broadcast(db, broadcast_id)
        if broadcast is None or broadcast.progress_chat_id is None:
            return
        sender = await community_store.get_user(db, broadcast.created_by or 0)
        community = await community_store.get_community(db, broadcast.community_id)
        if sender is None or community is None:
            return
        t = Translator(sender.language, community.timezone)
        text, markup = _progress_text(t, broadcast.status, await store.progress(db, broadcast.id),
                                      broadcast.id)
        with contextlib.suppress(TelegramError):  # "not modified", or the chat is gone
            await app.bot.edit_message_text(text, broadcast.progress_chat_id,
                                            broadcast.progress_message_id, reply_markup=markup)

    app.bot_data.latest_only.submit(("broadcast-progress", broadcast_id), job,
                                    slower=PROGRESS_SLOWER)


@refusals
async def cancel_broadcast_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    parts = callback_parts(update)
    broadcast = await store.get_broadcast(context.db, int(parts[2])) if (
        len(parts) == 3 and parts[2].isdigit()) else None
    assert who.community is not None
    if broadcast is None or broadcast.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    courier(context.application).cancelled(broadcast.id)
    cancelled = await store.cancel(context.db, broadcast.id)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t.ngettext(
        "Cancelled: {n} message will not be sent.", "Cancelled: {n} messages will not be sent.",
        cancelled), show_alert=True)
    show_progress(context.application, broadcast.id)


# -- quiet hours ---------------------------------------------------------------------------


@refusals
async def quiet_hours_command(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert who.community is not None
    t = who.t
    args = context.args or []
    if not args:
        community = who.community
        if community.quiet_start == community.quiet_end:
            await say(update, t._("No quiet hours: reminders and digests go out at any time."))
        else:
            await say(update, t._("Quiet hours: from {start}:00 to {end}:00. Reminders and"
                                  " digests wait until they end; broadcasts do not.",
                                  start=community.quiet_start, end=community.quiet_end))
        await say(update, t._("Change them with /quiethours 22 8, or /quiethours off."))
        return
    if args == ["off"]:
        start, end = 0, 0
    elif len(args) == 2 and all(a.isdigit() and 0 <= int(a) <= 23 for a in args):
        start, end = int(args[0]), int(args[1])
    else:
        raise Refused(N_("Give two hours from 0 to 23, e.g. /quiethours 22 8, or off."))
    await community_store.set_quiet_hours(context.db, who.community.id, start, end)
    await say(update, t._("Saved.") if start != end else
              t._("No quiet hours: reminders and digests go out at any time."))


# -- wiring --------------------------------------------------------------------------------


async def on_startup(app: Application) -> None:  # type: ignore[type-arg]
    """Progress messages keep updating, also for broadcasts resumed after a restart."""
    courier(app).on_progress.append(lambda broadcast_id: show_progress(app, broadcast_id))


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    content = (filters.TEXT & ~filters.COMMAND) | filters.PHOTO
    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("broadcast", start, filters=private)],
        states={
            TEXT: [MessageHandler(content, first_text),
                   MessageHandler(~filters.COMMAND, not_text)],
            CARD: [CallbackQueryHandler(audience_menu, pattern=r"^bc:aud$"),
                   CallbackQueryHandler(audience_tap, pattern=r"^bc:a:"),
                   CallbackQueryHandler(version_tap, pattern=r"^bc:lang:"),
                   CallbackQueryHandler(preview_tap, pattern=r"^bc:prev$"),
                   CallbackQueryHandler(back_tap, pattern=r"^bc:back$"),
                   CallbackQueryHandler(send_tap, pattern=r"^bc:send$"),
                   CallbackQueryHandler(discard_tap, pattern=r"^bc:drop$")],
            VERSION: [MessageHandler(filters.TEXT & ~filters.COMMAND, version_text)],
        },
        fallbacks=[CommandHandler("cancel", cancel_command)],
        name="broadcast_setup", persistent=True, allow_reentry=True,
    ))
    app.add_handler(CallbackQueryHandler(cancel_broadcast_tap, pattern=r"^bc:cancel:"))
    app.add_handler(CommandHandler("quiethours", quiet_hours_command, filters=private))
