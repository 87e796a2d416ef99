"""Needs surveys: /newsurvey builds one step by step (or a YAML/JSON file describes it),
/surveys lets residents answer one question at a time, /surveyresults shows coordinators the
summaries, who has not answered, and CSV/XLSX exports.

Building is a form (``survey.build``): what was given so far is in the coordinator's
persisted ``user_data``, and its buttons carry the form's nonce and step, so a button of an
older message never drives the current step. Answering needs no such state: where a person
is in a survey lives in SQLite (the response's position), every answer button carries its
survey and question, and the flow checks them again — a button under an earlier question is
refused. Typed answers reach the form ``survey.answer``, begun whenever a question is shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from datetime import datetime
from typing import Any, Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest
from telegram.ext import filters

from bot.app import Context, MahfilApp
from bot.callbacks import STALE, Button, Id, Index, button
from bot.commands import Command
from bot.flows import schedule, typed
from bot.flows import survey as flow
from bot.flows import survey_export as exports
from bot.flows.errors import Refused
from bot.flows.survey import (
    Audience,
    Community,
    Question,
    Spec,
    SpecError,
    Step,
    Summary,
    Survey,
    User,
)
from bot.handlers import _forms as forms
from bot.handlers._common import (
    Said,
    Tap,
    Tapped,
    Turn,
    at,
    clock,
    command,
    notify,
    on_message,
    short,
    tap,
)
from bot.handlers._forms import Field, Filling, Form
from bot.i18n import N_, Translator, is_rtl, isolate, language_name
from bot.keyboards import inline, keyboard
from bot.labels import group_label
from bot.messages import split_text

COMMANDS = [
    Command("surveys", N_("Answer the open surveys"), "resident"),
    Command("newsurvey", N_("Create a survey (or send a YAML/JSON file)"), "coordinator"),
    Command("surveyresults", N_("Survey results, reminders and exports"), "coordinator"),
]

KIND_LABELS = {"text": N_("Free text"), "single": N_("Single choice"),
               "multiple": N_("Multiple choice"), "scale": N_("Scale 1–5"),
               "yesno": N_("Yes / no")}
CHOICES = ("single", "multiple")
CLOSING_DAYS = {"week": 7, "fortnight": 14, "hand": 0}
FILE_TYPES = ("yaml", "yml", "json")
STATUS = {"scheduled": N_("scheduled"), "open": N_("open"), "closed": N_("closed")}


# -- buttons -------------------------------------------------------------------------------


@button("survey", "answer")
class Answer(Button):
    """Start a survey, resume it where one stopped, or go over one's answers."""

    survey: Id


@button("survey", "choose")
class Choose(Button):
    """A single choice (the option's index), a number on the scale, or yes (1) / no (0)."""

    survey: Id
    question: Id
    value: Index


@button("survey", "tick")
class Tick(Button):
    """Multiple choice: pick or unpick the option."""

    survey: Id
    question: Id
    option: Index


@button("survey", "next")
class Next(Button):
    """Keep the answer given and go on ("Next ›", or "Done" after ticking)."""

    survey: Id
    question: Id


@button("survey", "skip")
class Skip(Button):
    """Leave an optional question unanswered."""

    survey: Id
    question: Id


@button("survey", "back")
class Back(Button):
    """The question before."""

    survey: Id
    question: Id


@button("survey", "results", role="coordinator")
class ShowResults(Button):
    survey: Id


@button("survey", "missing", role="coordinator")
class NotAnswered(Button):
    """Who has not answered yet."""

    survey: Id


@button("survey", "remind", role="coordinator")
class Remind(Button):
    survey: Id


@button("survey", "close", role="coordinator")
class Close(Button):
    """Close an open survey, or cancel a scheduled one: asks first."""

    survey: Id


@button("survey", "closenow", role="coordinator")
class CloseNow(Button):
    """Yes, close it (or cancel it)."""

    survey: Id


@button("survey", "keep", role="coordinator")
class KeepOpen(Button):
    """No, leave it as it is."""

    survey: Id


@button("survey", "reopen", role="coordinator")
class Reopen(Button):
    """Undo a closing by hand, within the window and before members were told."""

    survey: Id


@button("survey", "tellnow", role="coordinator")
class TellNow(Button):
    """Do not wait for the window: members are told now."""

    survey: Id


@button("survey", "export", role="coordinator")
class Export(Button):
    survey: Id
    format: Literal["csv", "xlsx"]


def _pick(t: Translator, texts: dict[str, str], community: Community) -> str:
    return flow.pick(texts, t.lang, community.default_language)


# == building a survey ======================================================================


TITLE = Field("title", N_(
    "New survey. Send its title.\nTo give a text in several languages, write one line"
    " per language, e.g.\n<code>fa: …</code>\n<code>en: …</code>\n/cancel stops."))
INTRO = Field("intro", N_("Send a short introduction residents see first, or /skip."),
              optional=True)
KIND = Field("kind", N_("Question {n}: what kind?"), kind="choice")
PROMPT = Field("prompt", N_("Send the question (one line per language if you like)."))
OPTIONS = Field("options", N_(
    "Send the options, one per line — or, in several languages, one line per"
    " language with the options separated by “;”:\n<code>en: Roads; Lighting</code>"))
MAX = Field("max", N_("At most how many options may a person choose? Send a number from 1"
                      " to {n}."), kind="int")
REQUIRED = Field("required", N_("Must everyone answer this question?"), kind="choice",
                 labels={"required": N_("Required"), "optional": N_("Optional")})
ANONYMOUS = Field("anonymous", N_("Should answers be anonymous? Anonymous answers are stored"
                                  " with no link to the person."), kind="choice",
                  labels={"named": N_("Named answers"), "anonymous": N_("Anonymous")})
OPENS = Field("opens", N_("When does it open? Tap “Open now” or send a date and time (for"
                          " example {example})."), kind="moment",
              labels={"now": N_("Open now")})
CLOSES = Field("closes", N_("When does it close? Tap a choice or send a date and time."),
               kind="moment", labels={"week": N_("In a week"), "fortnight": N_("In two weeks"),
                                      "hand": N_("I will close it by hand")})
PREVIEW = Field("preview", N_("Preview — nothing is published yet."), kind="choice",
                labels={"publish": N_("Publish"), "discard": N_("Discard")})
ECHO = {"required": N_("Required"), "optional": N_("Optional"), "named": N_("Named answers"),
        "anonymous": N_("Anonymous"), "now": N_("Opens now.")}


class Builder(Form):
    """The survey builder: title, introduction, then questions until the coordinator says
    done (each: kind, text, options, a maximum for multiple choice, required or not), then
    anonymous or named, opening, closing, and the preview with Publish and Discard.

    The questions repeat, so :meth:`next` reads what was given instead of a fixed order. A
    typed answer that does not fit gets its hint and the question again; a survey file
    gives everything at once and goes straight to the preview.
    """

    stopped = N_("Stopped. Nothing was published.")

    async def next(self, filling: Filling) -> Field | None:
        given = filling.values
        if "title" not in given:
            return TITLE
        if "intro" not in given:
            return INTRO
        if not given.get("done"):
            question = given.get("question")
            if question is None:
                return KIND
            if "prompt" not in question:
                return PROMPT
            if question["kind"] in CHOICES and not question["options"]:
                return OPTIONS
            if question["kind"] == "multiple" and question["max_choices"] is None:
                return MAX
            return REQUIRED
        for field in (ANONYMOUS, OPENS, CLOSES, PREVIEW):
            if _GIVES[field.key] not in given:
                return field
        return None

    def accept(self, filling: Filling, field: Field, value: Any) -> None:
        given = filling.values
        question: dict[str, Any] = given.get("question") or {}
        key = field.key
        if key == "title":
            given.update(title=value, questions=[])
        elif key == "intro":
            given["intro"] = value
        elif key == "kind":
            if value == "done":
                given["done"] = True
            elif value == "undo":
                given["questions"].pop()
            else:
                given["question"] = {"kind": value, "options": [], "max_choices": None}
        elif key in ("prompt", "options", "max"):
            question[_GIVES[key]] = value
        elif key == "required":
            question["required"] = value
            given["questions"].append(question)
            given["question"] = None
            given["done"] = len(given["questions"]) >= flow.MAX_QUESTIONS
        else:
            given[_GIVES[key]] = value.isoformat() if isinstance(value, datetime) else value

    async def _ask(self, filling: Filling, field: Field) -> None:
        t, turn = filling.t, filling.turn
        assert isinstance(field.prompt, str)
        if field is PREVIEW:
            return await _preview(filling)
        if field is KIND:
            count = len(filling.values["questions"])
            rows = [[self._button(filling, t._(label), kind)]
                    for kind, label in KIND_LABELS.items()]
            if count:
                rows.append([self._button(filling, t._("↶ Remove the last question"), "undo"),
                             self._button(filling, t._("Done adding questions"), "done")])
            await turn.say(t._(field.prompt, n=count + 1), keyboard(*rows))
            return
        if field is MAX:
            prompt = t._(field.prompt, n=len(filling.values["question"]["options"]))
        elif field is OPENS:
            prompt = t._(field.prompt, example=typed.moment_example(t, days=1, hour=9))
        else:
            prompt = t._(field.prompt)
        buttons = [self._button(filling, t._(label), value)
                   for value, label in (field.labels or {}).items()]
        rows = [buttons[:2], buttons[2:]]
        await turn.say(prompt, keyboard(*rows))

    async def typed(self, filling: Filling, field: Field) -> None:
        """Typed text for the field asked, read by the survey rules; one that does not fit
        gets its hint and the question again, as in every form."""
        await self._take(filling, field, _read(filling, field, filling.turn.text))

    async def tapped(self, filling: Filling, field: Field, value: str) -> None:
        """A button under the question asked: the tapped message shows what was chosen."""
        turn = filling.turn
        assert isinstance(turn, Tapped)
        t, given = filling.t, filling.values
        if field is KIND:
            await _kind_tapped(turn, given, value)
            return await self._take(filling, field, value)
        if field.labels is None or value not in field.labels:
            raise Refused(STALE)
        if field is CLOSES:
            opens = given.get("opens_at")
            closes = flow.closing_after(datetime.fromisoformat(opens) if opens else None,
                                        CLOSING_DAYS[value])
            flow.check_dates(datetime.fromisoformat(opens) if opens else None, closes)
            await turn.answer()
            return await self._take(filling, field, closes)
        if field is PREVIEW:  # the finisher answers the tap, once it has published
            return await self._take(filling, field, value)
        await turn.answer(t._("Question added.") if field is REQUIRED else None)
        await turn.edit(t._(ECHO[value]))
        if field is REQUIRED and len(given["questions"]) + 1 >= flow.MAX_QUESTIONS:
            await turn.say(t._("That is the most questions a survey may have."))
        chosen = {"required": True, "optional": False, "named": False, "anonymous": True,
                  "now": None}[value]
        await self._take(filling, field, chosen)


# Where each builder field keeps its answer (the names a survey file's Spec uses).
_GIVES = {"prompt": "prompt", "options": "options", "max": "max_choices",
          "anonymous": "anonymous", "opens": "opens_at", "closes": "closes_at",
          "preview": "preview"}


def _read(filling: Filling, field: Field, text: str) -> Any:
    """A typed builder answer, read by the survey rules (one line per language allowed)."""
    lang, timezone = filling.t.lang, filling.who.community.timezone
    if field is TITLE:
        return flow.texts_from_lines(text, lang, flow.MAX_TITLE)
    if field in (INTRO, PROMPT):
        return flow.texts_from_lines(text, lang)
    if field is OPTIONS:
        return flow.options_from_lines(text, lang)
    if field is MAX:
        return flow.check_max(text, len(filling.values["question"]["options"]))
    if field is OPENS:
        moment = flow.parse_when(text, timezone, lang)
        flow.check_dates(moment, None)
        return moment
    if field is CLOSES:
        opens = filling.values.get("opens_at")
        moment = flow.parse_when(text, timezone, lang)
        flow.check_dates(datetime.fromisoformat(opens) if opens else None, moment)
        return moment
    raise Refused(N_("Please choose with the buttons."))


async def _kind_tapped(turn: Tap[Any], given: dict[str, Any], value: str) -> None:
    """A kind, "remove the last question" or "done": the tapped message says which."""
    t = turn.t
    count = len(given["questions"])
    if value in flow.KINDS:
        await turn.answer()
        await turn.edit(t._("Question {n}: {kind}", n=count + 1, kind=t._(KIND_LABELS[value])))
    elif value == "done" and count:
        await turn.answer()
        await turn.edit(t.ngettext("{n} question.", "{n} questions.", count))
    elif value == "undo" and count:
        removed = given["questions"][-1]
        await turn.answer(t._("Removed: {question}", question=short(
            flow.pick(removed["prompt"], t.lang, t.lang), 60)))
        await turn.edit(t._("Question removed."))
    else:
        raise Refused(STALE)


async def _preview(filling: Filling) -> None:
    t, turn = filling.t, filling.turn
    spec = Spec.from_json(filling.values)
    default = filling.who.community.default_language
    languages = sorted({lang for q in spec.questions for lang in q["prompt"]} | set(spec.title))
    lines = [t._(str(PREVIEW.prompt)), "",
             f"<b>{isolate(flow.pick(spec.title, t.lang, default))}</b>"]
    if spec.intro:
        lines.append(isolate(flow.pick(spec.intro, t.lang, default)))
    lines += ["", t._("Anonymous") if spec.anonymous else t._("Named answers"),
              t._("Opens: {when}", when=t.datetime(spec.opens_at) if spec.opens_at
                  else t._("now")),
              t._("Closes: {when}", when=t.datetime(spec.closes_at) if spec.closes_at
                  else t._("by hand")),
              t._("Languages: {languages}",
                  languages=", ".join(language_name(lang) for lang in languages)), ""]
    for number, q in enumerate(spec.questions, start=1):
        kind = t._(KIND_LABELS[q["kind"]])
        if q["kind"] == "multiple":
            kind += " " + t._("(at most {n})", n=q["max_choices"])
        need = t._("required") if q["required"] else t._("optional")
        prompt = isolate(flow.pick(q["prompt"], t.lang, default))
        lines.append(f"{t.num(number)}. {prompt} — <i>{kind}, {need}</i>")
        lines += [f"    • {isolate(flow.pick(o, t.lang, default))}" for o in q["options"]]
    parts = split_text("\n".join(lines))
    for part in parts[:-1]:
        await turn.say(part)
    await turn.say(parts[-1], keyboard([
        Form._button(filling, t._(label), value) for value, label in (PREVIEW.labels or {}).items()
    ]))


BUILD = Builder("survey.build", [TITLE, INTRO, KIND, PROMPT, OPTIONS, MAX, REQUIRED, ANONYMOUS,
                                 OPENS, CLOSES, PREVIEW], role="coordinator")


@BUILD.finisher
async def _finish(filling: Filling) -> None:
    """Publish (or discard) what the preview showed; members hear when it opens."""
    turn = filling.turn
    assert isinstance(turn, Tapped)
    t = turn.t
    if filling.values.get("preview") != "publish":
        await turn.answer()
        await turn.edit(t._("Discarded. Nothing was published."))
        return
    survey = await flow.publish(turn.context.db, turn.who, Spec.from_json(filling.values))
    await turn.answer(t._("Published."))
    await turn.edit(t._("Published."))
    _schedule(turn.app, survey)
    if survey.status == "open":
        await _announce(turn.app, await flow.announcement(turn.context.db, survey))
        await turn.say(t._("The survey is open; members are being told. /surveyresults"
                           " follows the answers."))
    else:
        await turn.say(t._("The survey opens on {when}; members will be told then.",
                           when=t.datetime(survey.opens_at)))


@command("newsurvey", role="coordinator")
async def new_survey(turn: Said) -> None:
    await BUILD.begin(turn)


SURVEY_FILE = filters.ChatType.PRIVATE & (
    filters.Document.FileExtension("yaml") | filters.Document.FileExtension("yml")
    | filters.Document.FileExtension("json"))


@on_message(SURVEY_FILE, role="coordinator")
async def file_received(turn: Said) -> None:
    """A survey described in a YAML or JSON file: checked whole, then the same preview."""
    message = turn.update.effective_message
    assert message is not None and message.document is not None
    document = message.document
    flow.check_upload(document.file_size)
    data = bytes(await (await document.get_file()).download_as_bytearray())
    try:
        spec = flow.spec_from_file(turn.who, document.file_name or "survey.yaml", data)
    except SpecError as error:
        await turn.say(_spec_error(turn.t, error))
        return
    await BUILD.begin(turn, values={**spec.to_json(), "done": True})


def _spec_error(t: Translator, error: SpecError) -> str:
    problem = t._(error.message, **{k: html.escape(v) if isinstance(v, str) else v
                                     for k, v in error.values.items()})
    field = f"<code>{isolate(error.path)}</code>"
    if error.line is not None and error.path:
        where = t._("Line {line}, field {field}: {problem}", line=error.line, field=field,
                    problem=problem)
    elif error.line is not None:
        where = t._("Line {line}: {problem}", line=error.line, problem=problem)
    elif error.path:
        where = t._("Field {field}: {problem}", field=field, problem=problem)
    else:
        where = problem
    return "\n".join([t._("The survey file has a problem, so nothing was created."), where])


# == announcing, reminding, closing =========================================================


def _answer_button(t: Translator, survey: Survey) -> InlineKeyboardMarkup | None:
    return keyboard([inline(t._("Answer the survey"), Answer(survey.id))])


async def _announce(app: MahfilApp, audience: Audience) -> None:
    survey, community = audience.survey, audience.community

    def render(t: Translator, _user: User) -> tuple[str, InlineKeyboardMarkup | None]:
        lines = [t._("New survey: <b>{title}</b>", title=isolate(_pick(t, survey.title,
                                                                        community)))]
        if survey.intro:
            lines.append(isolate(_pick(t, survey.intro, community)))
        lines.append(t.ngettext("{n} question.", "{n} questions.", len(survey.questions)))
        if survey.anonymous:
            lines.append(t._("Answers are anonymous."))
        if survey.closes_at is not None:
            lines.append(t._("Open until {when}.", when=t.datetime(survey.closes_at)))
        return "\n".join(lines), _answer_button(t, survey)

    await notify(app, community, audience.people, render, key=f"survey-open:{survey.id}")


async def _remind(app: MahfilApp, audience: Audience, key: str) -> int:
    """A reminder to every member who has not finished the survey."""
    survey, community = audience.survey, audience.community

    def render(t: Translator, _user: User) -> tuple[str, InlineKeyboardMarkup | None]:
        title = isolate(_pick(t, survey.title, community))
        text = (t._("Reminder: the survey <b>{title}</b> closes on {when}. Your answers"
                    " count.", title=title, when=t.datetime(survey.closes_at))
                if survey.closes_at is not None else
                t._("Reminder: the survey <b>{title}</b> is waiting for your answers.",
                    title=title))
        return text, _answer_button(t, survey)

    return await notify(app, community, audience.people, render, key=key)


async def _tell_closed(app: MahfilApp, audience: Audience,
                       not_before: datetime | None = None) -> None:
    """Members hear that the survey closed and how many took part; coordinators also get
    the results. Answers themselves are not sent round: free text may be personal."""
    survey, community = audience.survey, audience.community

    def render(t: Translator, user: User) -> tuple[str, InlineKeyboardMarkup | None]:
        title = isolate(_pick(t, survey.title, community))
        text = t.ngettext("The survey <b>{title}</b> has closed with {n} response.",
                          "The survey <b>{title}</b> has closed with {n} responses.",
                          audience.took_part, title=title)
        if user.id not in audience.coordinators:
            return text + "\n" + t._("Thank you to everyone who took part."), None
        return text, keyboard([inline(t._("Results"), ShowResults(survey.id))])

    await notify(app, community, audience.people, render, key=flow.closed_key(survey.id),
                 not_before=not_before)


def _schedule(app: MahfilApp, survey: Survey) -> None:
    """The survey's next moments as jobs: opening; or the reminder and the closing."""
    if survey.status == "scheduled":
        at(app, f"survey-open:{survey.id}", survey.opens_at, _open_job, survey.id)
    elif survey.status == "open":
        at(app, f"survey-remind:{survey.id}", flow.reminder_at(survey), _remind_job, survey.id)
        at(app, f"survey-close:{survey.id}", survey.closes_at, _close_job, survey.id)


def _unschedule(app: MahfilApp, survey_id: int) -> None:
    for name, job in (("open", _open_job), ("remind", _remind_job), ("close", _close_job)):
        at(app, f"survey-{name}:{survey_id}", None, job, survey_id)


def _job_survey(context: Context) -> int:
    job = context.job
    assert job is not None and isinstance(job.data, int)
    return job.data


async def _open_job(context: Context) -> None:
    survey = await flow.open_due(context.db, _job_survey(context))
    if survey is not None:
        _schedule(context.application, survey)
        await _announce(context.application, await flow.announcement(context.db, survey))


async def _remind_job(context: Context) -> None:
    survey_id = _job_survey(context)
    audience = await flow.remind_due(context.db, survey_id)
    if audience is not None:
        await _remind(context.application, audience, key=f"survey-remind:{survey_id}")


async def _close_job(context: Context) -> None:
    survey = await flow.close_due(context.db, _job_survey(context))
    if survey is not None:
        await _tell_closed(context.application, await flow.closing(context.db, survey))


# == answering ==============================================================================


@command("surveys")
async def surveys(turn: Said) -> None:
    t, community = turn.t, turn.who.community
    found = await flow.open_surveys(turn.context.db, turn.who)
    if not found:
        await turn.say(t._("No survey is open right now."))
        return
    lines, rows = [t._("Open surveys:")], []
    for listed in found:
        survey = listed.survey
        title = _pick(t, survey.title, community)
        if listed.answered:
            state = t._("answered")
        elif listed.at is not None:
            state = t._("in progress: {at}/{of}", at=listed.at + 1, of=len(survey.questions))
        else:
            state = t.ngettext("{n} question", "{n} questions", len(survey.questions))
        if survey.closes_at is not None:
            state += " · " + t._("until {when}", when=t.date(survey.closes_at))
        lines.append(f"• {isolate(title)} — {state}")
        if listed.answered and survey.anonymous:
            continue
        label = t._("Change my answers: {title}") if listed.answered else t._(
            "Answer: {title}")
        rows.append([inline(label.format(title=short(title, 40)), Answer(survey.id))])
    await turn.say("\n".join(lines), keyboard(*rows))


@tap(Answer)
async def answer(turn: Tap[Answer]) -> None:
    """Start a survey, resume it where one stopped, or go over one's answers."""
    step = await flow.begin(turn.context.db, turn.who, turn.button.survey)
    await turn.answer()
    await _show(turn, step, new_message=True, start=True)


@tap(Choose)
async def choose(turn: Tap[Choose]) -> None:
    b = turn.button
    await _tapped(turn, await flow.choose(turn.context.db, turn.who, b.survey, b.question,
                                          b.value))


@tap(Tick)
async def tick(turn: Tap[Tick]) -> None:
    b = turn.button
    await _tapped(turn, await flow.tick(turn.context.db, turn.who, b.survey, b.question,
                                        b.option))


@tap(Next)
async def go_on(turn: Tap[Next]) -> None:
    b = turn.button
    await _tapped(turn, await flow.go_on(turn.context.db, turn.who, b.survey, b.question))


@tap(Skip)
async def skip(turn: Tap[Skip]) -> None:
    b = turn.button
    await _tapped(turn, await flow.skip(turn.context.db, turn.who, b.survey, b.question))


@tap(Back)
async def back(turn: Tap[Back]) -> None:
    b = turn.button
    await _tapped(turn, await flow.back(turn.context.db, turn.who, b.survey, b.question))


async def _tapped(turn: Tap[Any], step: Step) -> None:
    """An answer given with a button: the same message shows what comes next."""
    await turn.answer()
    await _show(turn, step, new_message=False)


async def _show(turn: Turn[Any], step: Step, *, new_message: bool, start: bool = False,
                ) -> None:
    """The question the person is on now — or, past the last one, the thanks. ``start``:
    the person asked for the survey (its introduction comes before the first question)."""
    t, survey = turn.t, step.survey
    if step.finished:
        await forms.end(turn, ANSWERING)
        text = (t._("Thank you! Your anonymous answers are saved.") if survey.anonymous
                else t._("Thank you! Your answers are saved. You can change them until the"
                         " survey closes: /surveys"))
        if new_message or not isinstance(turn, Tapped):
            await turn.say(text)
        else:
            await turn.edit(text)
        return
    if step.missing is not None:
        await turn.say(t._(flow.STILL_NEEDED, n=step.missing))
        new_message = True
    text, markup = _question_view(t, turn.who.community, survey, step.progress)
    question = step.progress.question
    if (start and step.missing is None and question is not None and question.position == 0
            and survey.intro):
        text = isolate(_pick(t, survey.intro, turn.who.community)) + "\n\n" + text
    if new_message or not isinstance(turn, Tapped):
        await turn.say(text, markup)
    else:
        await turn.edit(text, markup)
    await _keep_answering(turn, survey.id, start=start)


def _question_view(t: Translator, community: Community, survey: Survey,
                   progress: flow.Progress) -> tuple[str, InlineKeyboardMarkup | None]:
    question = progress.question
    if question is None:
        return t._("All questions are answered."), None
    given = progress.response.answers.get(question.id)
    lines = [f"<b>{isolate(_pick(t, survey.title, community))}</b> — "
             f"{t.num(question.position + 1)}/{t.num(len(survey.questions))}", "",
             isolate(_pick(t, question.prompt, community))]
    if not question.required:
        lines.append(t._("(optional)"))
    lines.append("")
    lines.append(_hint(t, question))
    if given is not None and question.kind == "text":
        lines += ["", t._("Your answer: {answer}", answer=isolate(short(str(given), 300)))]
    ids = {"survey": survey.id, "question": question.id}
    rows: list[list[InlineKeyboardButton]] = []
    if question.kind == "single":
        rows += [[inline(("✅ " if given == i else "") + short(_pick(t, option, community), 60),
                         Choose(**ids, value=i))] for i, option in enumerate(question.options)]
    elif question.kind == "multiple":
        chosen = given or []
        rows += [[inline(("☑ " if i in chosen else "☐ ") + short(_pick(t, option, community),
                                                                60), Tick(**ids, option=i))]
                 for i, option in enumerate(question.options)]
        rows.append([inline(t._("Done"), Next(**ids))])
    elif question.kind == "scale":
        rows.append([inline(("✅" if given == n else "") + t.num(n), Choose(**ids, value=n))
                     for n in flow.SCALE])
    elif question.kind == "yesno":
        rows.append([inline(("✅ " if given is True else "") + t._("Yes"), Choose(**ids, value=1)),
                     inline(("✅ " if given is False else "") + t._("No"),
                            Choose(**ids, value=0))])
    nav = []
    if question.position > 0:
        nav.append(inline(t._("‹ Back"), Back(**ids)))
    if given is not None and question.kind != "multiple":
        nav.append(inline(t._("Next ›"), Next(**ids)))
    elif not question.required and given is None:
        nav.append(inline(t._("Skip ›"), Skip(**ids)))
    rows.append(nav)
    return "\n".join(lines), keyboard(*rows)


def _hint(t: Translator, question: Question) -> str:
    if question.kind == "text":
        return t._("Type your answer.")
    if question.kind == "scale":
        return t._("Tap a number from 1 (least) to 5 (most), or type it.")
    if question.kind == "multiple":
        return t._("Choose up to {n}, then tap Done.",
                   n=question.max_choices or len(question.options))
    return t._("Tap your answer.")


class Answering(Form):
    """Typed answers (free text, a number on the scale) to the question a person is on.

    The question itself lives in SQLite, not here: the form only says which survey typed
    text is for. It is begun, silently, each time a question is shown — the question is
    already on screen — and ends when the response is counted.
    """

    stopped = N_("Paused. Your answers so far are kept; /surveys continues where you"
                 " stopped.")

    async def _advance(self, filling: Filling) -> None:
        filling.state["field"] = TYPED.key
        filling.state["step"] += 1

    async def _ask(self, filling: Filling, field: Field) -> None:
        """After a hint: the question again — or, if there is none to answer, nothing."""
        step = await flow.where(filling.context.db, filling.who, filling.ids["survey"])
        if step is None:
            await forms.end(filling.turn, ANSWERING)
            return
        await _show(filling.turn, step, new_message=True)

    async def typed(self, filling: Filling, field: Field) -> None:
        turn = filling.turn
        try:
            step = await flow.answer_typed(turn.context.db, turn.who, filling.ids["survey"],
                                           turn.text)
        except Refused as refused:
            if refused.message == flow.NOT_ANSWERING:
                await forms.end(turn, ANSWERING)
            raise
        await _show(turn, step, new_message=True)

    async def tapped(self, filling: Filling, field: Field, value: str) -> None:
        raise Refused(STALE)  # its question's buttons are the survey's own


TYPED = Field("answer", N_("Type your answer."))
ANSWERING = Answering("survey.answer", [TYPED])


async def _keep_answering(turn: Turn[Any], survey_id: int, *, start: bool) -> None:
    """Typed text goes to this survey from now on — unless the person is filling another
    form and only tapped an answer. Starting a survey sets another form aside until the
    survey is done (``forms.end``)."""
    current = forms.filling(turn)
    if start or current is None or current[0].form is ANSWERING:
        await ANSWERING.begin(turn, survey=survey_id)


# == results ================================================================================


@command("surveyresults", role="coordinator")
async def results_command(turn: Said) -> None:
    t, community = turn.t, turn.who.community
    found = await flow.recent(turn.context.db, turn.who)
    if not found:
        await turn.say(t._("There are no surveys yet. /newsurvey creates one."))
        return
    await turn.say(t._("Which survey?"), keyboard(*[
        [inline(f"{short(_pick(t, s.title, community), 40)} ({t._(STATUS[s.status])})",
                ShowResults(s.id))] for s in found]))


@tap(ShowResults)
async def results(turn: Tap[ShowResults]) -> None:
    found = await flow.results(turn.context.db, turn.who, turn.button.survey)
    await turn.answer()
    t, survey = turn.t, found.survey
    parts = _results_text(t, turn.who.community, found)
    rows = [[inline(t._("Export CSV"), Export(survey.id, "csv")),
             inline(t._("Export XLSX"), Export(survey.id, "xlsx"))],
            [inline(t._("Who has not answered"), NotAnswered(survey.id))]]
    if survey.status == "open":
        rows.append([inline(t._("Remind them"), Remind(survey.id)),
                     inline(t._("Close the survey"), Close(survey.id))])
    elif survey.status == "scheduled":
        rows.append([inline(t._("Cancel the survey"), Close(survey.id))])
    for part in parts[:-1]:
        await turn.say(part)
    await turn.say(parts[-1], keyboard(*rows))


def _results_text(t: Translator, community: Community, found: flow.Results) -> list[str]:
    lines = [f"<b>{isolate(_pick(t, found.survey.title, community))}</b>",
             t._("Responses: {n} of {members} members ({share})", n=found.took_part,
                 members=found.members, share=t.percent(found.took_part / max(found.members,
                                                                              1))),
             "", t._("<b>Participation by group</b> (took part / members):")]
    for share in found.groups:
        lines.append(f"{group_label(t, share.group)}: {t.num(share.took_part)}/"
                     f"{t.num(share.members)} ({t.percent(share.took_part / share.members)}) "
                     f"{flow.bar(share.took_part, share.members)}")
    for summary in found.summaries:
        lines += ["", _summary_text(t, community, summary)]
    return split_text("\n".join(lines))


def _labels(t: Translator, community: Community, summary: Summary) -> list[str]:
    q = summary.question
    if q.kind in CHOICES:
        return [_pick(t, o, community) for o in q.options]
    if q.kind == "yesno":
        return [t._("No"), t._("Yes")]
    if q.kind == "scale":
        return [t.num(n) for n in flow.SCALE]
    return []


TEXT_SHOWN = 300  # characters of each free-text answer the results show (the export: all)


def _summary_text(t: Translator, community: Community, summary: Summary) -> str:
    q = summary.question
    lines = [f"<b>{t.num(q.position + 1)}. {isolate(_pick(t, q.prompt, community))}</b>",
             t.ngettext("{n} answer", "{n} answers", summary.answered)]
    if q.kind == "text":
        lines += [f"— {isolate(short(text, TEXT_SHOWN))}" for text in summary.texts]
        if summary.answered > len(summary.texts):
            rest = summary.answered - len(summary.texts)
            lines.append(t.ngettext("…and {n} more answer, in the export (CSV or XLSX).",
                                    "…and {n} more answers, in the export (CSV or XLSX).",
                                    rest))
        return "\n".join(lines)
    if q.kind == "scale" and summary.mean is not None:
        lines.append(t._("Average: {mean}", mean=t.num(summary.mean, decimals=1)))
    for label, count in zip(_labels(t, community, summary), summary.counts, strict=True):
        lines.append(f"{flow.bar(count, summary.answered)} {t.num(count)} "
                     f"({t.percent(count / max(summary.answered, 1))}) {isolate(label)}")
    return "\n".join(lines)


@tap(NotAnswered)
async def not_answered(turn: Tap[NotAnswered]) -> None:
    missing = await flow.missing(turn.context.db, turn.who, turn.button.survey)
    await turn.answer()
    t = turn.t
    lines = [t.ngettext("{n} member has not answered yet:", "{n} members have not answered"
                        " yet:", missing.count)]
    lines += [f"• {isolate(u.display_name)} — {group_label(t, m.stakeholder_group)}"
              for m, u in missing.first]
    if missing.count > len(missing.first):
        rest = missing.count - len(missing.first)
        lines.append(t.ngettext("…and {n} other member.", "…and {n} other members.", rest))
    for part in split_text("\n".join(lines)):
        await turn.say(part)


@tap(Remind)
async def remind(turn: Tap[Remind]) -> None:
    audience, key = await flow.remind(turn.context.db, turn.who, turn.button.survey)
    queued = await _remind(turn.app, audience, key=key)
    await turn.answer(turn.t.ngettext(
        "A reminder is on its way to {n} member.", "A reminder is on its way to {n} members.",
        queued), alert=True)


@tap(Close)
async def close(turn: Tap[Close]) -> None:
    """Closing is asked first: residents can no longer answer afterwards."""
    survey = await flow.closable(turn.context.db, turn.who, turn.button.survey)
    t, sid = turn.t, survey.id
    title = isolate(_pick(t, survey.title, turn.who.community))
    minutes = schedule.window_minutes()
    if survey.status == "open":
        text = t._("Close the survey <b>{title}</b> now? Residents can no longer answer it."
                   " Members are told {n} minutes later; until then you can reopen it.",
                   title=title, n=minutes)
        yes = t._("Yes, close it")
    else:
        text = t._("Cancel the survey <b>{title}</b>? It will not open. You can undo this"
                   " within {n} minutes.", title=title, n=minutes)
        yes = t._("Yes, cancel it")
    await turn.answer()
    await turn.say(text, keyboard([inline(yes, CloseNow(sid)),
                                   inline(t._("No, leave it"), KeepOpen(sid))]))


@tap(CloseNow)
async def close_now(turn: Tap[CloseNow]) -> None:
    closed = await flow.close(turn.context.db, turn.who, turn.button.survey)
    survey, t = closed.survey, turn.t
    _unschedule(turn.app, survey.id)
    sid, until = survey.id, closed.reopen_until
    if survey.status == "open":
        audience = await flow.closing(turn.context.db, survey)
        await _tell_closed(turn.app, audience, not_before=until)
        text = t._("The survey is closed. Members are told at {when}; you can reopen it"
                   " until {until}.", when=clock(t, closed.told_at), until=clock(t, until))
        rows = [[inline(t._("Reopen the survey"), Reopen(sid)),
                 inline(t._("Tell members now"), TellNow(sid))]]
    else:
        text = t._("The survey is cancelled. You can undo this until {when}.",
                   when=clock(t, until))
        rows = [[inline(t._("Undo"), Reopen(sid))]]
    await turn.answer(t._("The survey is closed.") if survey.status == "open" else None)
    await turn.edit(text, keyboard(*rows))


@tap(KeepOpen)
async def keep_open(turn: Tap[KeepOpen]) -> None:
    await turn.answer()
    await turn.edit(turn.t._("Nothing changed."))


@tap(Reopen)
async def reopen(turn: Tap[Reopen]) -> None:
    survey = await flow.reopen(turn.context.db, turn.who, turn.button.survey)
    _schedule(turn.app, survey)
    t = turn.t
    await turn.answer()
    await turn.edit(t._("The survey is open again; members were told nothing.")
                    if survey.status == "open" else
                    t._("The survey is scheduled again; it opens on {when}.",
                        when=t.datetime(survey.opens_at)))


@tap(TellNow)
async def tell_now(turn: Tap[TellNow]) -> None:
    await flow.tell_now(turn.context.db, turn.who, turn.button.survey)
    turn.context.bot_data.courier.wake()
    await turn.answer()
    await turn.edit(turn.t._("The survey is closed; members are being told."))


EXPORT_PATIENCE = 3.0  # seconds an export may take before the coordinator hears it is coming


@tap(Export)
async def export(turn: Tap[Export]) -> None:
    """CSV or XLSX in the coordinator's language, built off the event loop from rows read
    on a connection of its own; a long one first says that it is being prepared."""
    found = await flow.export(turn.context.db, turn.who, turn.button.survey)
    await turn.answer()
    t, community = turn.t, turn.who.community
    build = asyncio.ensure_future(asyncio.to_thread(_export_file, t, community, found,
                                                    turn.button.format))
    progress = None
    if not (await asyncio.wait({build}, timeout=EXPORT_PATIENCE))[0]:
        progress = await turn.say(t._("Preparing the export…"))
    data, count = await build
    chat = turn.update.effective_chat
    assert chat is not None
    caption = t.ngettext("{n} response.", "{n} responses.", count)
    await turn.context.bot.send_document(
        chat.id, InputFile(data, filename=f"survey-{found.survey.id}.{turn.button.format}"),
        caption=caption)
    if progress is not None:
        with contextlib.suppress(BadRequest):
            await progress.edit_text(caption)


def _export_file(t: Translator, community: Community, found: flow.Export,
                 kind: Literal["csv", "xlsx"]) -> tuple[bytes, int]:
    """The file and how many responses it holds (blocking: a worker thread runs it)."""
    survey = found.survey
    tally = exports.Tally(survey)
    rows = exports.table(
        survey, exports.labelled(found.rows(), lambda g: group_label(t, g, html=False)),
        t.lang, community.default_language,
        {"number": t._("Response"), "name": t._("Name"), "group": t._("Group"),
         "language": t._("Language")}, (t._("No"), t._("Yes")), tally)
    if kind == "csv":
        return exports.to_csv(rows), tally.rows
    data = exports.to_xlsx(
        rows, lambda: tally.summaries(survey), t.lang, community.default_language,
        {"responses": t._("Responses"), "summary": t._("Summary"), "mean": t._("Average")},
        lambda s: _labels(t, community, s), is_rtl(t.lang))
    return data, tally.rows


# == wiring =================================================================================


async def on_startup(app: MahfilApp) -> None:
    """Every survey's jobs again; what came due while the bot was down happens now."""
    for survey in await flow.pending(app.bot_data.db):
        _schedule(app, survey)


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (
        new_survey, file_received, surveys, answer, choose, tick, go_on, skip, back,
        results_command, results, not_answered, remind, close, close_now, keep_open, reopen,
        tell_now, export)])
