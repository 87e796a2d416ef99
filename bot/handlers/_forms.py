"""Typed input, asked one field at a time: the forms of every capability.

Telegram has no form widget: the bot asks, the person types (or taps) an answer. A
:class:`Form` is a list of :class:`Field` — text, lines, a date (read as
``bot.flows.typed.read`` reads every date), a number, a member found by name (shown with their
stakeholder group to confirm, or offered as buttons when several match), a choice of
buttons, a photo, a file — asked in turn. Each value is checked as it
comes, so a bad one gets a localized hint and the field is asked again, and nothing
half-made is stored: when the last field is in, the form's finisher gets everything at once
and calls the flow that applies the rules and writes.

What was given so far lives in the person's ``user_data`` (persisted in SQLite), so a
restart resumes at the same field. Every question has a number, and the buttons under it
carry the form's nonce and that number: a button on an older message, or under a question
already answered, never drives the current step — it gets "This button no longer works".

One handler receives every typed text for the whole bot (:func:`receive`) and passes it to
the form being filled, if any. PTB's ``ConversationHandler`` cannot be entered from a
button without a ``CallbackQueryHandler`` keyed by chat alone — which is what let a button
on an old message drive the current step — so forms keep their own state.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from telegram import InlineKeyboardButton, Update
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.actor import Member
from bot.app import Context, MahfilApp
from bot.callbacks import STALE, Button, Range, Word, button
from bot.flows import typed
from bot.flows.community import find_members, groups_of
from bot.flows.errors import Refused
from bot.flows.people import Role, User
from bot.handlers._common import PRIVATE, Said, Tap, Tapped, Turn, member, tap
from bot.i18n import N_, Translator, isolate
from bot.keyboards import keyboard
from bot.labels import group_label

STATE = "form"  # the user_data key of the form being filled
PAUSED = "forms_paused"  # forms set aside for a newer one, newest last
DEPTH = 3  # forms kept aside at most
SKIP = "-"
OTHER = "other"  # "Someone else" under the members a name matched

Kind = Literal["text", "lines", "day", "moment", "percent", "number", "int", "member",
               "choice", "photo", "document"]


@button("form", "pick")
class Pick(Button):
    """A button under a question: the form it belongs to, the question, the value."""

    nonce: Annotated[str, Word(8)]  # secrets.token_urlsafe(6)
    step: Annotated[int, Range(0, 9_999)]
    value: Annotated[str, Word(24)]  # an option's value, or a member's id


@dataclass(frozen=True, slots=True)
class Option:
    value: str  # letters, digits, _ and - (it travels in the button)
    label: str  # already in the reader's language


Check = Callable[["Filling", Any], Awaitable[Any]]
Options = Callable[["Filling"], Awaitable[list[Option]]]
Prompt = str | Callable[[Translator, dict[str, Any]], str]


@dataclass(frozen=True, slots=True)
class Field:
    """One question of a form.

    ``kind`` says how a typed answer is read; ``labels`` (value → msgid, or digits) or
    ``options`` give buttons — with a typed kind both are accepted (a deadline: "in a week"
    or a typed date), with ``choice`` only buttons. ``parse`` replaces the kind's reading
    with a flow's own (``flow.parse_problems``); ``check`` adds a rule that needs what was
    given before (a due date after the start). ``when`` asks the field only if it says so.
    """

    key: str
    prompt: Prompt  # a msgid, or (t, values) -> text
    kind: Kind = "text"
    limit: int = 300
    labels: Mapping[str, str] | None = None
    options: Options | None = None
    optional: bool = False  # a Skip button (and /skip) give None
    parse: Callable[[str], Any] | None = None
    check: Check | None = None
    when: Callable[[dict[str, Any]], bool] | None = None
    echo: str | None = None  # after a tap: the question becomes this msgid ({choice})


class Filling:
    """A form being filled: what its checks and finisher see."""

    def __init__(self, form: Form, turn: Turn[Member], state: dict[str, Any]) -> None:
        self.form = form
        self.turn = turn
        self.state = state

    @property
    def who(self) -> Member:
        return self.turn.who

    @property
    def t(self) -> Translator:
        return self.turn.t

    @property
    def context(self) -> Context:
        return self.turn.context

    @property
    def ids(self) -> dict[str, int]:
        """What the form is about (a plan, a task…), given when it began."""
        ids: dict[str, int] = self.state["ids"]
        return ids

    @property
    def values(self) -> dict[str, Any]:
        """The answers so far, by field key (dates as ISO text, skipped fields as None)."""
        values: dict[str, Any] = self.state["values"]
        return values


Finish = Callable[[Filling], Awaitable[None]]
FORMS: dict[str, Form] = {}


class Form:
    """A named form: its fields in order, who may fill it, and its finisher.

    A form whose questions depend on earlier answers in ways ``when`` cannot say (a survey
    being built: questions until the coordinator says done) overrides :meth:`next` and
    :meth:`accept`.
    """

    stopped = N_("Stopped. Nothing was changed.")  # what /cancel says; a form may say more

    def __init__(self, name: str, fields: list[Field], *, role: Role = "resident") -> None:
        if name in FORMS:
            raise ValueError(f"two forms are named {name!r}")
        self.name = name
        self.fields = {f.key: f for f in fields}
        self.order = list(fields)
        self.role = role
        self._finish: Finish | None = None
        FORMS[name] = self

    def finisher(self, finish: Finish) -> Finish:
        """Decorator: what to do with the complete form (call a flow, render)."""
        self._finish = finish
        return finish

    async def next(self, filling: Filling) -> Field | None:
        """The next field to ask, or None when the form is complete."""
        values = filling.values
        return next((f for f in self.order if f.key not in values
                     and (f.when is None or f.when(values))), None)

    def accept(self, filling: Filling, field: Field, value: Any) -> None:
        """Keep ``value`` (already checked) as the answer to ``field``."""
        stored = value.isoformat() if isinstance(value, date | datetime) else value
        filling.values[field.key] = stored

    async def begin(self, turn: Turn[Member], *, values: Mapping[str, Any] | None = None,
                    **ids: int) -> None:
        """Start the form; ``ids`` (a plan, a task…) reach its checks and finisher.
        ``values`` are answers known before it starts (a survey read from a file): only what
        they leave is asked.

        Another form being filled is set aside, not lost: when this one is done or stopped,
        the bot asks that one's question again (see :func:`end`). The same form begun again
        starts afresh.
        """
        await member(turn.update, turn.context, self.role)
        data = _user_data(turn.context)
        current = data.get(STATE)
        if isinstance(current, dict) and current.get("name") != self.name:
            paused = [s for s in data.get(PAUSED) or [] if s.get("name") != self.name]
            data[PAUSED] = [*paused, current][-DEPTH:]
        state = {"name": self.name, "nonce": secrets.token_urlsafe(6), "step": 0,
                 "field": None, "ids": ids, "values": dict(values or {})}
        data[STATE] = state
        await self._advance(Filling(self, turn, state))

    async def _advance(self, filling: Filling) -> None:
        """Ask the next field, or finish."""
        nxt = await self.next(filling)
        if nxt is not None:
            filling.state["field"] = nxt.key
            filling.state["step"] += 1
            await self._ask(filling, nxt)
            return
        data = _user_data(filling.context)
        data.pop(STATE, None)
        if self._finish is None:
            raise RuntimeError(f"form {self.name!r} has no finisher")
        try:
            await self._finish(filling)
        except Refused as refused:  # something changed meanwhile (e.g. a plan was closed)
            await filling.turn.say(filling.t._(refused.message, **refused.values))
        if data.get(STATE) is None:  # the finisher began no new form
            await _resume(filling.turn)

    async def _ask(self, filling: Filling, field: Field) -> None:
        t = filling.t
        prompt = field.prompt(t, filling.values) if callable(field.prompt) else t._(field.prompt)
        options = await self._options(filling, field)
        rows = [[self._button(filling, option.label, option.value)] for option in options]
        if field.optional:
            rows.append([self._button(filling, t._("Skip"), SKIP)])
        await filling.turn.say(prompt + "\n" + t._("(/cancel stops)"), keyboard(*rows))

    @staticmethod
    async def _options(filling: Filling, field: Field) -> list[Option]:
        if field.options is not None:
            return await field.options(filling)
        t = filling.t
        return [Option(value, t.num(int(label)) if label.isdigit() else t._(label))
                for value, label in (field.labels or {}).items()]

    @staticmethod
    def _button(filling: Filling, label: str, value: str) -> InlineKeyboardButton:
        data = Pick(filling.state["nonce"], filling.state["step"], value)
        return InlineKeyboardButton(label, callback_data=data.pack())

    # -- answers ---------------------------------------------------------------------------

    async def typed(self, filling: Filling, field: Field) -> None:
        """A typed answer (text, photo or file) to ``field``."""
        message = filling.turn.update.effective_message
        assert message is not None
        if field.kind == "photo":
            if not message.photo:
                raise Refused(N_("Please send a photo, or tap Skip."))
            return await self._take(filling, field, message.photo[-1].file_id)
        if field.kind == "document":
            if message.document is None:
                raise Refused(N_("Please send the file."))
            return await self._take(filling, field, message.document.file_id)
        if field.kind == "choice":
            raise Refused(N_("Please choose with the buttons."))
        text = filling.turn.text
        if field.kind == "member":
            return await self._take(filling, field, await self._member(filling, field, text))
        await self._take(filling, field, self._read(filling, field, text))

    async def tapped(self, filling: Filling, field: Field, value: str) -> None:
        """A button under ``field``: Skip, one of its options, or a member offered."""
        tap_ = filling.turn
        assert isinstance(tap_, Tapped)
        if value == SKIP:
            if not field.optional:
                raise Refused(STALE)
            await tap_.answer()
            return await self._take(filling, field, None)
        echo = None
        if field.kind == "member":
            if value == OTHER:  # not the one matched: the question again
                await tap_.answer()
                await tap_.edit_markup(None)
                return await self._ask(filling, field)
            user_id = typed.to_int(value)
            if user_id is None:
                raise Refused(STALE)
            chosen: Any = user_id
            await tap_.edit_markup(None)
        else:
            offered = {o.value: o.label for o in await self._options(filling, field)}
            if value not in offered:
                raise Refused(STALE)
            chosen = value
            if field.echo is not None:
                echo = filling.t._(field.echo, choice=offered[value])
        chosen = await self._checked(filling, field, chosen)  # a refusal is the tap's alert
        if echo is not None:
            await tap_.edit(echo)
        await tap_.answer()
        self.accept(filling, field, chosen)
        await self._advance(filling)

    async def _take(self, filling: Filling, field: Field, value: Any) -> None:
        self.accept(filling, field, await self._checked(filling, field, value))
        await self._advance(filling)

    @staticmethod
    async def _checked(filling: Filling, field: Field, value: Any) -> Any:
        """``value`` after the field's own rule (None, a skipped field, needs none)."""
        if field.check is not None and value is not None:
            return await field.check(filling, value)
        return value

    @staticmethod
    def _read(filling: Filling, field: Field, text: str) -> Any:
        if field.parse is not None:
            return field.parse(text)
        timezone = filling.who.community.timezone
        readers: dict[str, Callable[[str], Any]] = {
            "text": lambda raw: typed.words(raw, field.limit),
            "lines": lambda raw: typed.lines(raw, field.limit),
            "day": lambda raw: typed.to_day(raw, filling.t.lang, timezone),
            "percent": typed.to_percent, "number": typed.to_number,
            "moment": lambda raw: typed.to_moment(raw, timezone, filling.t.lang),
            "int": _whole,
        }
        return readers[field.kind](text)

    async def _member(self, filling: Filling, field: Field, text: str) -> int:
        """A member found by name, never taken without the person seeing whom: one match is
        shown with its stakeholder group to confirm ("Yes" / "Someone else"), several are
        offered as buttons with their groups."""
        name = " ".join(text.split())
        if not name:
            raise Refused(N_("Please send a name."))
        db, community_id = filling.context.db, filling.who.community.id
        found = await find_members(db, community_id, name, limit=9)
        if not found:
            raise Refused(N_("No member of the community has that name. Try part of the"
                             " name."))
        t = filling.t
        groups = await groups_of(db, community_id, [user.id for user in found])
        other = [self._button(filling, t._("Someone else"), OTHER)]
        if len(found) == 1:
            user = found[0]
            await self._checked(filling, field, user.id)  # refused: said before asking
            await filling.turn.say(
                t._("Is this the person: {name} ({group})?", name=isolate(user.display_name),
                    group=group_label(t, groups.get(user.id))),
                keyboard([self._button(filling, t._("Yes"), str(user.id)), *other]))
            raise _Asked
        await filling.turn.say(t._("Several members match. Which one?"), keyboard(
            *[[self._button(filling, _matched(t, user, groups), str(user.id))]
              for user in found[:8]], other))
        raise _Asked


def _matched(t: Translator, user: User, groups: Mapping[int, str | None]) -> str:
    """A member found by name, as a button shows them: the name and the group."""
    return f"{user.display_name} ({group_label(t, groups.get(user.id), html=False)})"


class _Asked(Exception):
    """The answer needs one more choice (several members matched); nothing is kept yet."""


def _whole(text: str) -> int:
    number = typed.to_int(text)
    if number is None:
        raise Refused(N_("Please send a whole number."))
    return number


def _user_data(context: Context) -> dict[str, Any]:
    assert context.user_data is not None
    return context.user_data


def filling(turn: Turn[Member]) -> tuple[Filling, Field] | None:
    """The form this person is filling and the field being asked, if any."""
    state = _user_data(turn.context).get(STATE)
    form = FORMS.get(state.get("name", "")) if isinstance(state, dict) else None
    if form is None or state is None:
        return None
    field_ = form.fields.get(state.get("field") or "")
    if field_ is None:
        return None
    return Filling(form, turn, state), field_


# -- the handlers every form shares ---------------------------------------------------------


async def receive(update: Update, context: Context) -> None:
    """Any typed text, photo or file in a private chat that no command took."""
    from bot.handlers.fallback import stray_text

    who = await member_or_none(update, context)
    turn: Said | None = Turn(update, context, who) if who is not None else None
    current = filling(turn) if turn is not None else None
    if turn is None or current is None:
        return await stray_text(update, context)
    form_filling, field_ = current
    try:  # roles change: a coordinator demoted half-way is refused (and not asked again)
        await member(update, context, form_filling.form.role)
    except Refused as refused:
        await turn.refuse(refused)
        return
    try:
        await form_filling.form.typed(form_filling, field_)
    except _Asked:
        return
    except Refused as refused:
        await turn.say(turn.t._(refused.message, **refused.values))
        if _still_asking(form_filling, field_):
            await form_filling.form._ask(form_filling, field_)


def _still_asking(form_filling: Filling, field_: Field) -> bool:
    return bool(_user_data(form_filling.context).get(STATE) is form_filling.state
                and form_filling.state.get("field") == field_.key)


async def member_or_none(update: Update, context: Context) -> Member | None:
    try:
        return await member(update, context)
    except Refused:
        return None


@tap(Pick)
async def pick(turn: Tap[Pick]) -> None:
    """A button under a question: only the current question of the current form."""
    current = filling(turn)
    chosen = turn.button
    if current is None or current[0].state["nonce"] != chosen.nonce or (
            current[0].state["step"] != chosen.step):
        raise Refused(STALE)
    form_filling, field_ = current
    await member(turn.update, turn.context, form_filling.form.role)
    try:
        await form_filling.form.tapped(form_filling, field_, chosen.value)
    except _Asked:
        return


async def end(turn: Turn[Any], form: Form | None = None) -> None:
    """The form being filled is over (if it is ``form``, when given): the one set aside for
    it, if any, is asked again where it stopped."""
    data = _user_data(turn.context)
    current = data.get(STATE)
    if current is None or (form is not None and (
            not isinstance(current, dict) or current.get("name") != form.name)):
        return
    data.pop(STATE, None)
    await _resume(turn)


async def _resume(turn: Turn[Any]) -> None:
    data = _user_data(turn.context)
    paused: list[dict[str, Any]] = data.get(PAUSED) or []
    while paused:
        state = paused.pop()
        form = FORMS.get(state.get("name", ""))
        field_ = form.fields.get(state.get("field") or "") if form is not None else None
        if form is None or field_ is None:
            continue
        data[STATE] = state
        data[PAUSED] = paused
        who = await member_or_none(turn.update, turn.context)
        if who is not None:
            await form._ask(Filling(form, Turn(turn.update, turn.context, who), state), field_)
        return
    data.pop(PAUSED, None)


async def cancel(update: Update, context: Context) -> None:
    """``/cancel``: stop the form being filled (one set aside before it comes back) — or
    say there was nothing to stop."""
    from bot.actor import actor

    who = await actor(update, context)
    turn = Turn(update, context, who)
    state = _user_data(context).pop(STATE, None)
    if state is None:
        await turn.say(who.t._("There is nothing to stop right now."))
        return
    form = FORMS.get(state.get("name", "")) if isinstance(state, dict) else None
    await turn.say(who.t._(form.stopped if form is not None else Form.stopped))
    await _resume(turn)


async def skip(update: Update, context: Context) -> None:
    """``/skip``: the same as the Skip button, for an optional question."""
    who = await member_or_none(update, context)
    if who is None:
        return await cancel_nothing(update, context)
    turn: Said = Turn(update, context, who)
    current = filling(turn)
    if current is None or not current[1].optional:
        await turn.say(who.t._("There is nothing to skip here."))
        return
    form_filling, field_ = current
    try:
        await form_filling.form._take(form_filling, field_, None)
    except Refused as refused:
        await turn.refuse(refused)


async def cancel_nothing(update: Update, context: Context) -> None:
    from bot.handlers.fallback import unknown_command

    await unknown_command(update, context)


def register(app: MahfilApp) -> None:
    """Added by ``fallback`` after every capability's own handlers."""
    app.add_handler(CommandHandler("cancel", cancel, filters=PRIVATE))
    app.add_handler(CommandHandler("skip", skip, filters=PRIVATE))
    app.add_handler(pick.handler)
    app.add_handler(MessageHandler(PRIVATE & ~filters.COMMAND, receive))


