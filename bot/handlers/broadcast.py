"""Coordinators' broadcasts: /broadcast writes, targets, previews and sends; /quiethours.

Writing a broadcast is a form (its state in the user's persisted data, so a restart resumes
it): the message or photo first, then a card with buttons — the audience, a version in
another language, a preview, discard — until it is sent. Every button carries the form's
nonce and the question it answers, so a button on an older card never drives the current
one. Sending writes one outbox row per recipient in one transaction, and the delivery
worker does the rest. The coordinator's progress message (sent / failed / left) is edited
at most every few seconds and has a Cancel button while anything is left.
"""

from __future__ import annotations

import contextlib
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.app import MahfilApp
from bot.callbacks import Button, Id, button
from bot.commands import Command
from bot.delivery import courier
from bot.flows import broadcast as flow
from bot.flows import city
from bot.flows.broadcast import Audience, Draft, Progress
from bot.flows.errors import Refused
from bot.flows.people import Member
from bot.handlers._common import Said, Tap, Tapped, command, short, tap
from bot.handlers._forms import Field, Filling, Form, Option, Pick
from bot.i18n import N_, Translator, isolate, language_name
from bot.keyboards import inline, keyboard
from bot.labels import group_label

COMMANDS = [
    Command("broadcast", N_("Send a message to members"), "coordinator"),
    Command("quiethours", N_("Hours when reminders and digests wait"), "coordinator"),
]

PROGRESS_SLOWER = 3.0  # progress edits: three times the per-chat pause (every 3 s)


@button("broadcast", "cancel", role="coordinator")
class Cancel(Button):
    """Stop a broadcast being sent: what is not yet sent stays unsent."""

    broadcast: Id


# -- audiences -------------------------------------------------------------------------------


def _audience_label(t: Translator, who: Member, audience: Audience) -> str:
    default = who.community.default_language
    if audience.kind == "all":
        return t._("All members")
    if audience.group is not None:
        return group_label(t, audience.group, html=False)
    if audience.kind == "committee":
        return short(audience.name, 40)
    if audience.kind == "below":
        return t._(city.BELOW_AUDIENCE, community=short(audience.name, 30))
    if audience.kind == "child":
        return t._(city.CHILD_AUDIENCE, community=short(audience.name, 30))
    if audience.kind == "nosurvey":
        return t._("Not yet answered: {title}", title=short(audience.title(t.lang, default), 30))
    return t._("Not yet voted: {title}", title=short(audience.title(t.lang, default), 30))


def _value(audience: str) -> str:
    """An audience as a button value (letters, digits, - and _): ``group-activist``."""
    return audience.replace(":", "-", 1)


def _audience(value: str) -> str:
    return value.replace("-", ":", 1)


# -- the form --------------------------------------------------------------------------------


def _draft(filling: Filling) -> Draft:
    return Draft.load(filling.values)


def _photo(filling: Filling) -> str | None:
    message = filling.turn.update.effective_message
    return message.photo[-1].file_id if message is not None and message.photo else None


async def _check_content(filling: Filling, text: str) -> str:
    message = filling.turn.update.effective_message
    if message is None or not (message.text or message.photo):
        raise Refused(N_("Please send text, or a photo with a caption."))
    return flow.check_text(text, caption=_photo(filling) is not None)


async def _check_version(filling: Filling, text: str) -> str:
    return flow.check_text(text, caption=_draft(filling).photo is not None)


async def _check_audience(filling: Filling, value: str) -> str:
    draft = await flow.choose_audience(filling.context.db, filling.who, _draft(filling),
                                       _audience(value))
    return draft.audience


async def _check_preview(filling: Filling, value: str) -> str:
    if value == "send":
        await flow.check_sendable(filling.context.db, filling.who, _draft(filling))
    return value


async def _card_options(filling: Filling) -> list[Option]:
    t = filling.t
    return ([Option("audiences", t._("Choose the audience"))]
            + [Option(f"lang-{lang}", f"+ {language_name(lang)}")
               for lang in _draft(filling).missing]
            + [Option("preview", t._("Preview")), Option("discard", t._("Discard"))])


async def _audience_options(filling: Filling) -> list[Option]:
    return [Option(_value(a.key), _audience_label(filling.t, filling.who, a))
            for a in await flow.audiences(filling.context.db, filling.who)]


async def _preview_options(filling: Filling) -> list[Option]:
    t = filling.t
    reached = await flow.reach_count(filling.context.db, filling.who,
                                     _draft(filling).audience)
    return [Option("send", t.ngettext("Send to {n} member", "Send to {n} members", reached)),
            Option("back", t._("Back"))]


class BroadcastForm(Form):
    """The broadcast wizard: after the first message, the card is asked again after every
    step until the coordinator sends or discards; the draft lives in the form's values.

    The engine asks fields in order; here the next question depends on the card's last
    answer (``mode``), and each question is shown as before the engine: the card and the
    audience list in place of the tapped message, the preview as new messages.
    """

    async def next(self, filling: Filling) -> Field | None:
        return self.fields.get(filling.values.get("mode", "content"))  # send, discard: done

    def accept(self, filling: Filling, field: Field, value: Any) -> None:
        values = filling.values
        mode = "card"
        if field.key == "content":
            values.update(flow.new_draft(value, _photo(filling), filling.t.lang).dump())
        elif field.key == "card":
            if value.startswith("lang-"):
                values["adding"], mode = value.removeprefix("lang-"), "version"
            else:
                mode = {"audiences": "audience", "preview": "preview",
                        "discard": "discard"}.get(value, "card")
        elif field.key == "audience":
            values["audience"] = value
        elif field.key == "version":
            values.update(flow.add_version(_draft(filling), values["adding"], value).dump())
            values.pop("adding")
        elif field.key == "preview" and value == "send":
            mode = "send"
        values["mode"] = mode

    async def _ask(self, filling: Filling, field: Field) -> None:
        turn, t = filling.turn, filling.t
        tapped = isinstance(turn, Tapped)
        if field.key == "content":
            await turn.say(t._("Write the message for members. You may send a photo with a"
                               " caption instead. /cancel stops."))
        elif field.key == "version":
            await turn.say(t._("Write the version in {language}.",
                               language=language_name(filling.values["adding"])))
        elif field.key == "preview":
            await self._preview(filling, field, send_it=tapped)
        else:
            if field.key == "card":
                text, markup = await self._card(filling, field)
            else:
                text = t._("Who should receive it?")
                markup = keyboard(*[[self._pick(filling, o)]
                                    for o in await _audience_options(filling)])
            if isinstance(turn, Tapped):
                await turn.edit(text, markup)
            else:
                await turn.say(text, markup)

    @staticmethod
    def _pick(filling: Filling, option: Option) -> InlineKeyboardButton:
        return inline(option.label, Pick(filling.state["nonce"], filling.state["step"],
                                         option.value))

    async def _card(self, filling: Filling,
                    field: Field) -> tuple[str, InlineKeyboardMarkup | None]:
        t, draft = filling.t, _draft(filling)
        reached = await flow.reach_count(filling.context.db, filling.who, draft.audience)
        chosen = next((a for a in await flow.audiences(filling.context.db, filling.who)
                       if a.key == draft.audience), None)
        lines = [
            t._("<b>Broadcast draft</b>"),
            "",
            isolate(short(draft.texts[draft.first], 300)),
            "",
            t._("Photo: yes") if draft.photo else t._("Photo: none"),
            t._("Versions: {languages}",
                languages=", ".join(language_name(lang) for lang in draft.texts)),
            t._("Audience: {audience}", audience=_audience_label(t, filling.who, chosen)
                if chosen is not None else draft.audience),
            t.ngettext("It will reach {n} member.", "It will reach {n} members.", reached),
        ]
        buttons = [self._pick(filling, o) for o in await _card_options(filling)]
        return "\n".join(lines), keyboard(buttons[:1], buttons[1:-2], buttons[-2:])

    async def _preview(self, filling: Filling, field: Field, *, send_it: bool) -> None:
        """The broadcast as the coordinator's language receives it, then who gets which
        version, with Send and Back."""
        turn, t = filling.turn, filling.t
        draft = _draft(filling)
        shown = await flow.preview(filling.context.db, filling.who, draft)
        chat = turn.update.effective_chat
        if send_it and chat is not None:
            if draft.photo:
                await turn.context.bot.send_photo(chat.id, draft.photo, caption=shown.text)
            else:
                await turn.context.bot.send_message(chat.id, shown.text)
        lines = [t.ngettext("This is how it looks. It will reach {n} member:",
                            "This is how it looks. It will reach {n} members:",
                            shown.recipients)]
        lines += [f"• {language_name(lang)}: {t.num(n)}" for lang, n in shown.by_language.items()]
        await turn.say("\n".join(lines), keyboard(
            [self._pick(filling, o) for o in await _preview_options(filling)]))


BROADCAST = BroadcastForm("broadcast.write", [
    Field("content", "", parse=str, check=_check_content),
    Field("card", "", kind="choice", options=_card_options),
    Field("audience", "", kind="choice", options=_audience_options, check=_check_audience),
    Field("version", "", parse=str, check=_check_version),
    Field("preview", "", kind="choice", options=_preview_options, check=_check_preview),
], role="coordinator")


@command("broadcast", role="coordinator")
async def broadcast_command(turn: Said) -> None:
    await BROADCAST.begin(turn)


@BROADCAST.finisher
async def finished(filling: Filling) -> None:
    """Sent or discarded (both come from a tap on the draft's last question)."""
    turn, t = filling.turn, filling.t
    if not isinstance(turn, Tapped):
        return
    if filling.values.get("mode") != "send":
        await turn.edit(t._("Discarded. Nothing was sent."))
        return
    app = turn.app
    broadcast, count = await flow.send(turn.context.db, filling.who, _draft(filling),
                                       paid=courier(app).paid)
    await turn.edit(t._("Sending…"))
    sent = await turn.say(*_progress_text(t, broadcast.status, Progress(0, 0, count, 0),
                                          broadcast.id))
    await flow.track(turn.context.db, filling.who, broadcast.id, sent.chat_id, sent.message_id)
    courier(app).wake()


# -- progress and cancelling -----------------------------------------------------------------


def _progress_text(t: Translator, status: str, progress: Progress,
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
        markup = keyboard([inline(t._("Cancel the broadcast"), Cancel(broadcast_id))])
    return f"{title}\n{counts}", markup


def show_progress(app: MahfilApp, broadcast_id: int) -> None:
    """Edit the sender's progress message, newest state only, every few seconds at most."""
    db = app.bot_data.db

    async def job() -> None:
        found = await flow.tracked(db, broadcast_id)
        if found is None:
            return
        t = Translator(found.sender.language, found.community.timezone)
        text, markup = _progress_text(t, found.broadcast.status, found.progress,
                                      found.broadcast.id)
        with contextlib.suppress(TelegramError):  # "not modified", or the chat is gone
            await app.bot.edit_message_text(text, found.chat_id, found.message_id,
                                            reply_markup=markup)

    app.bot_data.latest_only.submit(("broadcast-progress", broadcast_id), job,
                                    slower=PROGRESS_SLOWER)


@tap(Cancel)
async def cancel_tap(turn: Tap[Cancel]) -> None:
    app = turn.app
    cancelled = await flow.cancel(turn.context.db, turn.who, turn.button.broadcast,
                                  stopping=courier(app).cancelled)
    await turn.answer(turn.t.ngettext("Cancelled: {n} message will not be sent.",
                                      "Cancelled: {n} messages will not be sent.", cancelled),
                      alert=True)
    show_progress(app, turn.button.broadcast)


# -- quiet hours -----------------------------------------------------------------------------


@command("quiethours", role="coordinator")
async def quiet_hours_command(turn: Said) -> None:
    t = turn.t
    if not turn.args:
        hours = flow.quiet_hours(turn.who.community)
        if hours is None:
            await turn.say(t._("No quiet hours: reminders and digests go out at any time."))
        else:
            await turn.say(t._("Quiet hours: from {start} to {end}. Reminders and"
                               " digests wait until they end; broadcasts do not.",
                               start=t.clock(hours[0]), end=t.clock(hours[1])))
        await turn.say(t._("Change them with /quiethours 22 8, or /quiethours off."))
        return
    start, end = flow.parse_quiet_hours(turn.args)
    await flow.set_quiet_hours(turn.context.db, turn.who, start, end)
    await turn.say(t._("Saved.") if start != end else
                   t._("No quiet hours: reminders and digests go out at any time."))


# -- wiring ----------------------------------------------------------------------------------


async def on_startup(app: MahfilApp) -> None:
    """Progress messages keep updating, also for broadcasts resumed after a restart."""
    courier(app).on_progress.append(lambda broadcast_id: show_progress(app, broadcast_id))


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (broadcast_command, cancel_tap,
                                          quiet_hours_command)])
