"""The old form engine, being replaced by bot/handlers/_forms.py (plan still uses it).

A form is a list of :class:`Field` — text, lines, a date, a percentage, a number, a member
found by name, a choice of buttons, a photo — each checked as it comes, so a bad value gets
a localized hint and is asked again, and nothing half-made is stored; a field's ``check``
adds the capability's own rule (a due date after the start, say). What was given so far lives
in ``user_data`` (persisted), so a restart resumes at the same field. When the last field is
in, the form's finisher gets everything at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ConversationHandler

from bot.actor import Actor, actor
from bot.app import Context
from bot.flows import typed
from bot.flows.community import search_members
from bot.flows.errors import Refused
from bot.handlers._common import member, refusals, refuse, say
from bot.i18n import N_
from storage import community as community_store

NOT_AVAILABLE = N_("This is not available to you.")
Check = Callable[[Context, Actor, dict[str, Any], Any], Awaitable[Any]]
Finish = Callable[[Update, Context, Actor, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    prompt: str  # msgid
    kind: str  # text | lines | day | percent | number | member | choice | photo
    limit: int = 300
    labels: dict[str, str] | None = None  # choice: value → msgid (or a number)
    optional: bool = False  # a Skip button gives None
    check: Check | None = None  # (context, who, form so far, value) → value, or Refused


class Choose(Exception):
    """Several members match a name: offer them as buttons."""

    def __init__(self, options: list[tuple[str, str]]) -> None:
        super().__init__("choose")
        self.options = options


class Forms:
    """The forms of one capability, in the conversation state ``state``."""

    def __init__(self, key: str, state: int, fields: dict[str, list[Field]]) -> None:
        self.key = key
        self.state = state
        self.fields = fields
        self.finish: dict[str, Finish] = {}
        self.fill = refusals(self._fill)

    def _form(self, context: Context) -> dict[str, Any]:
        return context.user_data.setdefault(self.key, {})  # type: ignore[union-attr, no-any-return]

    async def begin(self, update: Update, context: Context, who: Actor, name: str,
                    **ids: int) -> int:
        """Start form ``name``; ``ids`` (a plan, a task…) reach its checks and finisher."""
        form = self._form(context)
        form.clear()
        form.update(name=name, ids=ids, values={}, step=0)
        if update.callback_query is not None:
            await update.callback_query.answer()
        return await self._ask(update, who, form)

    async def _ask(self, update: Update, who: Actor, form: dict[str, Any]) -> int:
        field = self.fields[form["name"]][form["step"]]
        t = who.t
        rows = []
        if field.kind == "choice" and field.labels:
            rows = [[InlineKeyboardButton(t.num(int(label)) if label.isdigit() else t._(label),
                                          callback_data=f"pf:{value}")]
                    for value, label in field.labels.items()]
        if field.optional:
            rows.append([InlineKeyboardButton(t._("Skip"), callback_data="pf:-")])
        await say(update, t._(field.prompt) + "\n" + t._("(/cancel stops)"),
                  reply_markup=InlineKeyboardMarkup(rows) if rows else None)
        return self.state

    async def _parse(self, update: Update, context: Context, who: Actor,
                     field: Field) -> Any:
        """The typed (or tapped) value of ``field``; Refused with a hint when it does not
        fit."""
        query = update.callback_query
        message = update.effective_message
        raw = (query.data or "")[3:] if query is not None else (
            message.text or message.caption or "") if message is not None else ""
        if query is not None and raw == "-":
            if not field.optional:
                raise Refused(NOT_AVAILABLE)
            return None
        if field.kind == "photo":
            if message is None or not message.photo or query is not None:
                raise Refused(N_("Please send a photo, or tap Skip."))
            return message.photo[-1].file_id
        if field.kind == "choice":
            if query is None or field.labels is None or raw not in field.labels:
                raise Refused(N_("Please choose with the buttons."))
            return raw
        if field.kind == "member":
            return await self._member(context, who, raw, by_button=query is not None)
        if query is not None:
            raise Refused(NOT_AVAILABLE)
        parse: dict[str, Callable[[str], Any]] = {
            "text": lambda text: typed.words(text, field.limit),
            "lines": lambda text: typed.lines(text, field.limit),
            "percent": typed.to_percent, "number": typed.to_number, "day": typed.to_day}
        return parse[field.kind](raw)

    @staticmethod
    async def _member(context: Context, who: Actor, raw: str, *, by_button: bool) -> int:
        """A tapped member's id (the field's check decides who may be chosen), or one
        member found by name; several get buttons."""
        assert who.community is not None
        if by_button:
            user_id = typed.to_int(raw)
            if user_id is None:
                raise Refused(NOT_AVAILABLE)
            return user_id
        if not raw.strip():
            raise Refused(N_("Please send a name."))
        found = [u for _m, u in search_members(
            await community_store.members(context.db, who.community.id),
            " ".join(raw.split()), limit=9)]
        if len(found) == 1:
            return int(found[0].id)
        if not found:
            raise Refused(N_("No member of the community has that name. Try part of the"
                             " name."))
        raise Choose([(str(u.id), u.display_name) for u in found[:8]])

    async def _fill(self, update: Update, context: Context) -> int | None:
        """A value for the field being asked (typed, a photo, or a button under it)."""
        who = await member(update, context)
        form = self._form(context)
        if not form.get("name"):  # nothing being asked (an old button): say so
            await refuse(update, who.t, NOT_AVAILABLE)
            return ConversationHandler.END
        field = self.fields[form["name"]][form["step"]]
        try:
            value = await self._parse(update, context, who, field)
        except Choose as choose:
            await say(update, who.t._("Several members match. Which one?"),
                      reply_markup=InlineKeyboardMarkup([
                          [InlineKeyboardButton(label, callback_data=f"pf:{option}")]
                          for option, label in choose.options]))
            return None
        if field.check is not None and value is not None:
            value = await field.check(context, who, form, value)
        if update.callback_query is not None:
            await update.callback_query.answer()
        form["values"][field.key] = value.isoformat() if isinstance(value, date) else value
        form["step"] += 1
        if form["step"] < len(self.fields[form["name"]]):
            return await self._ask(update, who, form)
        name, ids, values = form["name"], dict(form["ids"]), dict(form["values"])
        form.clear()
        try:
            await self.finish[name](update, context, who, {**ids, **values, "form": name})
        except Refused as refused:  # something changed meanwhile (e.g. a plan was closed)
            await say(update, who.t._(refused.message, **refused.values))
        return ConversationHandler.END

    async def cancel(self, update: Update, context: Context) -> int:
        who = await actor(update, context)
        self._form(context).clear()
        await say(update, who.t._("Stopped. Nothing was changed."))
        return ConversationHandler.END
