"""Needs surveys: /newsurvey builds one step by step (or a YAML/JSON file describes it),
/surveys lets residents answer one question at a time, /surveyresults shows coordinators the
summaries, who has not answered, and CSV/XLSX exports.

Where a person is in a survey lives in SQLite (the response's position), so leaving, coming
back or a restart resumes at the same question; the two conversations (building, answering)
are persistent too, so typed input after a restart still reaches the right step.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
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
from bot.flows import survey as flow
from bot.flows import survey_export as export
from bot.flows.errors import Refused
from bot.flows.survey import Progress, Spec, SpecError, Summary, pick
from bot.handlers._common import (
    callback_ints,
    callback_parts,
    coordinator,
    edit_message,
    member,
    notify,
    refusals,
    say,
    short,
)
from bot.i18n import N_, Translator, is_rtl, isolate, language_name
from bot.labels import group_label
from bot.messages import split_text
from storage import community as community_store
from storage import survey as store
from storage.community import Community, User
from storage.db import utcnow
from storage.survey import Question, Survey

COMMANDS = [
    Command("surveys", N_("Answer the open surveys"), "resident"),
    Command("newsurvey", N_("Create a survey (or send a YAML/JSON file)"), "coordinator"),
    Command("surveyresults", N_("Survey results, reminders and exports"), "coordinator"),
]

# Building: one state per thing asked.
TITLE, INTRO, KIND, PROMPT, OPTIONS, MAX, REQUIRED, ANONYMOUS, OPENS, CLOSES, PREVIEW = range(11)
ANSWERING = 20
DRAFT = "survey_draft"
TICK = 30  # seconds between looks for surveys to open, close or remind about
KIND_LABELS = {"text": N_("Free text"), "single": N_("Single choice"),
               "multiple": N_("Multiple choice"), "scale": N_("Scale 1–5"),
               "yesno": N_("Yes / no")}
FILE_TYPES = ("yaml", "yml", "json")


def _draft(context: Context) -> dict[str, Any]:
    return context.user_data.setdefault(DRAFT, {})  # type: ignore[union-attr, no-any-return]


def _text(update: Update) -> str:
    message = update.effective_message
    return (message.text or "") if message is not None else ""


def _ints(parts: list[str]) -> list[int]:
    return callback_ints(parts, flow.NOT_AVAILABLE)


async def _survey(who: Actor, context: Context, survey_id: int) -> Survey:
    """The survey, if it belongs to this person's community."""
    assert who.community is not None
    survey = await store.get(context.db, survey_id)
    if survey is None or survey.community_id != who.community.id:
        raise Refused(flow.NOT_AVAILABLE)
    return survey


def _pick(t: Translator, texts: dict[str, str], community: Community) -> str:
    return pick(texts, t.lang, community.default_language)


# == building a survey ======================================================================


@refusals
async def new_command(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    _draft(context).clear()
    await say(update, who.t._(
        "New survey. Send its title.\nTo give a text in several languages, write one line"
        " per language, e.g.\n<code>fa: …</code>\n<code>en: …</code>\n/cancel stops."))
    return TITLE


@refusals
async def title_text(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    title = flow.texts_from_lines(_text(update), who.t.lang, flow.MAX_TITLE)
    _draft(context).update(Spec(title=title).to_json())
    await say(update, who.t._("Send a short introduction residents see first, or /skip."))
    return INTRO


@refusals
async def intro_text(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    if _text(update).strip() != "/skip":
        _draft(context)["intro"] = flow.texts_from_lines(_text(update), who.t.lang)
    return await _ask_kind(update, who, context)


async def _ask_kind(update: Update, who: Actor, context: Context) -> int:
    t = who.t
    count = len(_draft(context).get("questions", []))
    rows = [[InlineKeyboardButton(t._(label), callback_data=f"svb:k:{kind}")]
            for kind, label in KIND_LABELS.items()]
    if count:
        rows.append([InlineKeyboardButton(t._("↶ Remove the last question"),
                                           callback_data="svb:k:undo"),
                     InlineKeyboardButton(t._("Done adding questions"),
                                          callback_data="svb:k:done")])
    await say(update, t._("Question {n}: what kind?", n=count + 1),
              reply_markup=InlineKeyboardMarkup(rows))
    return KIND


@refusals
async def kind_tap(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    kind = callback_parts(update)[2]
    assert update.callback_query is not None
    draft = _draft(context)
    if kind == "done" and draft.get("questions"):
        await update.callback_query.answer()
        await edit_message(update, who.t.ngettext("{n} question.", "{n} questions.",
                                                   len(draft["questions"])), None)
        return await _ask_anonymous(update, who)
    if kind == "undo" and draft.get("questions"):
        removed = draft["questions"].pop()
        await update.callback_query.answer(who.t._("Removed: {question}", question=short(
            pick(removed["prompt"], who.t.lang, who.t.lang), 60)))
        await edit_message(update, who.t._("Question removed."), None)
        return await _ask_kind(update, who, context)
    if kind not in flow.KINDS:
        raise Refused(flow.NOT_AVAILABLE)
    await update.callback_query.answer()
    draft["question"] = {"kind": kind, "options": [], "max_choices": None}
    await edit_message(update, who.t._("Question {n}: {kind}", n=len(draft.get(
        "questions", [])) + 1, kind=who.t._(KIND_LABELS[kind])), None)
    await say(update, who.t._("Send the question (one line per language if you like)."))
    return PROMPT


@refusals
async def prompt_text(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    question = _draft(context)["question"]
    question["prompt"] = flow.texts_from_lines(_text(update), who.t.lang)
    if question["kind"] in ("single", "multiple"):
        await say(update, who.t._(
            "Send the options, one per line — or, in several languages, one line per"
            " language with the options separated by “;”:\n<code>en: Roads; Lighting</code>"))
        return OPTIONS
    return await _ask_required(update, who)


@refusals
async def options_text(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    question = _draft(context)["question"]
    question["options"] = flow.options_from_lines(_text(update), who.t.lang)
    if question["kind"] == "multiple":
        await say(update, who.t._("At most how many options may a person choose? Send a"
                                  " number from 1 to {n}.", n=len(question["options"])))
        return MAX
    return await _ask_required(update, who)


@refusals
async def max_text(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    question = _draft(context)["question"]
    question["max_choices"] = flow.check_max(_text(update), len(question["options"]))
    return await _ask_required(update, who)


async def _ask(update: Update, who: Actor, question: str, state: int,
               buttons: list[tuple[str, str]]) -> int:
    """A builder question answered with buttons: (label msgid, callback data) pairs."""
    await say(update, who.t._(question), reply_markup=InlineKeyboardMarkup([[
        InlineKeyboardButton(who.t._(label), callback_data=data) for label, data in buttons]]))
    return state


async def _ask_required(update: Update, who: Actor) -> int:
    return await _ask(update, who, N_("Must everyone answer this question?"), REQUIRED,
                      [(N_("Required"), "svb:r:1"), (N_("Optional"), "svb:r:0")])


@refusals
async def required_tap(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    draft = _draft(context)
    question = draft.pop("question", None)
    if question is None or "prompt" not in question:
        raise Refused(flow.NOT_AVAILABLE)
    question["required"] = callback_parts(update)[2] == "1"
    draft.setdefault("questions", []).append(question)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("Question added."))
    await edit_message(update, who.t._("Required") if question["required"]
                       else who.t._("Optional"), None)
    if len(draft["questions"]) >= flow.MAX_QUESTIONS:
        await say(update, who.t._("That is the most questions a survey may have."))
        return await _ask_anonymous(update, who)
    return await _ask_kind(update, who, context)


async def _ask_anonymous(update: Update, who: Actor) -> int:
    return await _ask(update, who, N_("Should answers be anonymous? Anonymous answers are"
                                      " stored with no link to the person."), ANONYMOUS,
                      [(N_("Named answers"), "svb:a:0"), (N_("Anonymous"), "svb:a:1")])


@refusals
async def anonymous_tap(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    _draft(context)["anonymous"] = callback_parts(update)[2] == "1"
    assert update.callback_query is not None
    await update.callback_query.answer()
    await edit_message(update, who.t._("Anonymous") if _draft(context)["anonymous"]
                       else who.t._("Named answers"), None)
    await say(update, who.t._("When does it open? Tap “Open now” or send a date and time"
                              " (2026-12-01 18:00)."),
              reply_markup=InlineKeyboardMarkup([[
                  InlineKeyboardButton(who.t._("Open now"), callback_data="svb:o:now")]]))
    return OPENS


@refusals
async def opens_input(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    assert who.community is not None
    draft = _draft(context)
    if update.callback_query is not None:
        await update.callback_query.answer()
        draft["opens_at"] = None
        await edit_message(update, who.t._("Opens now."), None)
    else:
        moment = flow.parse_when(_text(update), who.community.timezone)
        flow.check_dates(moment, None)
        draft["opens_at"] = moment.isoformat()
    await say(update, who.t._("When does it close? Tap a choice or send a date and time."),
              reply_markup=InlineKeyboardMarkup([
                  [InlineKeyboardButton(who.t._("In a week"), callback_data="svb:c:7"),
                   InlineKeyboardButton(who.t._("In two weeks"), callback_data="svb:c:14")],
                  [InlineKeyboardButton(who.t._("I will close it by hand"),
                                        callback_data="svb:c:0")]]))
    return CLOSES


@refusals
async def closes_input(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    assert who.community is not None
    spec = Spec.from_json(_draft(context))
    if update.callback_query is not None:
        (days,) = _ints(callback_parts(update)[2:3])
        await update.callback_query.answer()
        spec.closes_at = (spec.opens_at or utcnow()) + timedelta(days=days) if days else None
    else:
        spec.closes_at = flow.parse_when(_text(update), who.community.timezone)
    flow.check_dates(spec.opens_at, spec.closes_at)
    _draft(context).update(spec.to_json())
    return await _preview(update, who, context, spec)


async def _preview(update: Update, who: Actor, context: Context, spec: Spec) -> int:
    t = who.t
    assert who.community is not None
    default = who.community.default_language
    languages = sorted({lang for q in spec.questions for lang in q["prompt"]} | set(spec.title))
    lines = [t._("Preview — nothing is published yet."), "",
             f"<b>{isolate(pick(spec.title, t.lang, default))}</b>"]
    if spec.intro:
        lines.append(isolate(pick(spec.intro, t.lang, default)))
    lines += ["", t._("Anonymous") if spec.anonymous else t._("Named answers"),
              t._("Opens: {when}", when=t.datetime(spec.opens_at) if spec.opens_at
                  else t._("now")),
              t._("Closes: {when}", when=t.datetime(spec.closes_at) if spec.closes_at
                  else t._("by hand")),
              t._("Languages: {languages}",
                  languages=", ".join(language_name(lang) for lang in languages)), ""]
    for number, q in enumerate(spec.questions, start=1):
        label = KIND_LABELS[q["kind"]]
        kind = t._(label)
        if q["kind"] == "multiple":
            kind += " " + t._("(at most {n})", n=q["max_choices"])
        need = t._("required") if q["required"] else t._("optional")
        prompt = isolate(pick(q["prompt"], t.lang, default))
        lines.append(f"{t.num(number)}. {prompt} — <i>{kind}, {need}</i>")
        lines += [f"    • {isolate(pick(o, t.lang, default))}" for o in q["options"]]
    parts = split_text("\n".join(lines))
    for part in parts[:-1]:
        await say(update, part)
    await say(update, parts[-1], reply_markup=InlineKeyboardMarkup([[
        InlineKeyboardButton(t._("Publish"), callback_data="svb:p:go"),
        InlineKeyboardButton(t._("Discard"), callback_data="svb:p:no")]]))
    return PREVIEW


@refusals
async def preview_tap(update: Update, context: Context) -> int:
    who = await coordinator(update, context)
    assert update.callback_query is not None and who.community is not None
    if callback_parts(update)[2] != "go":
        _draft(context).clear()
        await update.callback_query.answer()
        await edit_message(update, who.t._("Discarded. Nothing was published."), None)
        return ConversationHandler.END
    survey = await flow.publish(context.db, who.community.id, who.user.id,
                                Spec.from_json(_draft(context)))
    _draft(context).clear()
    await update.callback_query.answer(who.t._("Published."))
    await edit_message(update, who.t._("Published."), None)
    if survey.status == "open":
        await _announce(context.application, survey)
        await say(update, who.t._("The survey is open; members are being told. /surveyresults"
                                  " follows the answers."))
    else:
        await say(update, who.t._("The survey opens on {when}; members will be told then.",
                                  when=who.t.datetime(survey.opens_at)))
    return ConversationHandler.END


@refusals
async def file_received(update: Update, context: Context) -> int | None:
    """A survey described in a YAML or JSON file: checked whole, then the same preview."""
    who = await coordinator(update, context)
    assert who.community is not None
    message = update.effective_message
    assert message is not None and message.document is not None
    document = message.document
    if (document.file_size or 0) > flow.MAX_FILE:
        raise Refused(N_("The file is too large (at most {n} KB)."), n=flow.MAX_FILE // 1000)
    data = bytes(await (await document.get_file()).download_as_bytearray())
    try:
        spec = flow.read_file(document.file_name or "survey.yaml", data,
                              who.community.default_language, who.community.timezone)
    except SpecError as error:
        await say(update, _spec_error(who.t, error))
        return ConversationHandler.END
    _draft(context).clear()
    _draft(context).update(spec.to_json())
    return await _preview(update, who, context, spec)


def _spec_error(t: Translator, error: SpecError) -> str:
    problem = t._(error.message, **{k: html.escape(v) if isinstance(v, str) else v
                                     for k, v in error.values.items()})
    if error.line is not None and error.path:
        where = t._("Line {line}, field {field}: {problem}", line=error.line,
                    field=f"<code>{isolate(error.path)}</code>", problem=problem)
    elif error.line is not None:
        where = t._("Line {line}: {problem}", line=error.line, problem=problem)
    elif error.path:
        where = t._("Field {field}: {problem}", field=f"<code>{isolate(error.path)}</code>",
                    problem=problem)
    else:
        where = problem
    return "\n".join([t._("The survey file has a problem, so nothing was created."), where])


async def cancel_building(update: Update, context: Context) -> int:
    who = await actor(update, context)
    _draft(context).clear()
    await say(update, who.t._("Stopped. Nothing was published."))
    return ConversationHandler.END


# == announcing, reminding, closing =========================================================


async def _announce(app: Application, survey: Survey) -> None:  # type: ignore[type-arg]
    db = app.bot_data.db
    community = await community_store.get_community(db, survey.community_id)
    assert community is not None
    people = [u for _m, u in await community_store.members(db, community.id)]

    def render(t: Translator, _user: User) -> tuple[str, InlineKeyboardMarkup]:
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

    await notify(app, community, people, render, key=f"survey-open:{survey.id}")


def _answer_button(t: Translator, survey: Survey) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(
        t._("Answer the survey"), callback_data=f"sv:go:{survey.id}")]])


async def _remind(app: Application, survey: Survey, key: str) -> int:  # type: ignore[type-arg]
    """A reminder to every member who has not finished the survey."""
    db = app.bot_data.db
    community = await community_store.get_community(db, survey.community_id)
    assert community is not None
    done = await store.participants(db, survey.id)
    people = [u for _m, u in await community_store.members(db, community.id)
              if u.id not in done]

    def render(t: Translator, _user: User) -> tuple[str, InlineKeyboardMarkup]:
        title = isolate(_pick(t, survey.title, community))
        text = (t._("Reminder: the survey <b>{title}</b> closes on {when}. Your answers"
                    " count.", title=title, when=t.datetime(survey.closes_at))
                if survey.closes_at is not None else
                t._("Reminder: the survey <b>{title}</b> is waiting for your answers.",
                    title=title))
        return text, _answer_button(t, survey)

    return await notify(app, community, people, render, key=key)


async def check_due(app: Application) -> None:  # type: ignore[type-arg]
    """Open scheduled surveys, remind a day before closing, close those whose time is up."""
    db = app.bot_data.db
    opening, closing, reminding = await store.due(db, utcnow(), flow.REMIND_BEFORE)
    for survey_id in opening:
        if await store.set_status(db, survey_id, "open", was="scheduled"):
            survey = await store.get(db, survey_id)
            assert survey is not None
            await _announce(app, survey)
    for survey_id in reminding:
        if await store.mark_reminded(db, survey_id):
            survey = await store.get(db, survey_id)
            assert survey is not None
            await _remind(app, survey, key=f"survey-remind:{survey_id}")
    for survey_id in closing:
        survey = await store.get(db, survey_id)
        if survey is not None and await flow.close(db, survey):
            await _tell_closed(app, survey)


async def _tell_closed(app: Application, survey: Survey) -> None:  # type: ignore[type-arg]
    """Members hear that the survey closed and how many took part; coordinators also get
    the results. Answers themselves are not sent round: free text may be personal."""
    db = app.bot_data.db
    community = await community_store.get_community(db, survey.community_id)
    if community is None:
        return
    count = len(await store.participants(db, survey.id))
    members = await community_store.members(db, community.id)

    def render(t: Translator, user: User) -> tuple[str, InlineKeyboardMarkup | None]:
        title = isolate(_pick(t, survey.title, community))
        text = t.ngettext("The survey <b>{title}</b> has closed with {n} response.",
                          "The survey <b>{title}</b> has closed with {n} responses.", count,
                          title=title)
        if user.id not in coordinators:
            return text + "\n" + t._("Thank you to everyone who took part."), None
        return text, InlineKeyboardMarkup([[InlineKeyboardButton(
            t._("Results"), callback_data=f"sv:res:{survey.id}")]])

    coordinators = {u.id for m, u in members if m.is_coordinator}
    await notify(app, community, [u for _m, u in members], render,
                 key=f"survey-closed:{survey.id}")


async def _tick(context: Context) -> None:
    await check_due(context.application)


# == answering ==============================================================================


@refusals
async def surveys_command(update: Update, context: Context) -> None:
    who = await member(update, context)
    assert who.community is not None
    t = who.t
    found = await store.of_community(context.db, who.community.id, ("open",))
    if not found:
        await say(update, t._("No survey is open right now."))
        return
    done = {s.id for s in found
            if who.user.id in await store.participants(context.db, s.id)}
    lines, rows = [t._("Open surveys:")], []
    for survey in found:
        title = _pick(t, survey.title, who.community)
        response = await store.response_of(context.db, survey.id, who.user.id)
        if survey.id in done:
            state = t._("answered")
        elif response is not None:
            state = t._("in progress: {at}/{of}", at=response.position + 1,
                        of=len(survey.questions))
        else:
            state = t.ngettext("{n} question", "{n} questions", len(survey.questions))
        if survey.closes_at is not None:
            state += " · " + t._("until {when}", when=t.date(survey.closes_at))
        lines.append(f"• {isolate(title)} — {state}")
        if survey.id in done and survey.anonymous:
            continue
        label = t._("Change my answers: {title}") if survey.id in done else t._(
            "Answer: {title}")
        rows.append([InlineKeyboardButton(label.format(title=short(title, 40)),
                                          callback_data=f"sv:go:{survey.id}")])
    await say(update, "\n".join(lines), reply_markup=InlineKeyboardMarkup(rows))


@refusals
async def go_tap(update: Update, context: Context) -> int:
    """Start a survey, resume it where one stopped, or go over one's answers."""
    who = await member(update, context)
    (survey_id,) = _ints(callback_parts(update)[2:3])
    survey = await _survey(who, context, survey_id)
    progress = await flow.begin(context.db, survey, who.user.id, who.t.lang)
    assert update.callback_query is not None
    await update.callback_query.answer()
    if progress.question is None:  # past the last question but not counted: finish now
        return await _show(update, who, context, survey, progress, new_message=True)
    text, markup = _question_view(who, survey, progress)
    if progress.question.position == 0 and survey.intro:
        assert who.community is not None
        text = isolate(_pick(who.t, survey.intro, who.community)) + "\n\n" + text
    await say(update, text, reply_markup=markup)
    return ANSWERING


def _question_view(who: Actor, survey: Survey,
                   progress: Progress) -> tuple[str, InlineKeyboardMarkup | None]:
    t = who.t
    community = who.community
    assert community is not None
    question = progress.question
    if question is None:
        return t._("All questions are answered."), None
    answers = progress.response.answers
    given = answers.get(question.id)
    lines = [f"<b>{isolate(_pick(t, survey.title, community))}</b> — "
             f"{t.num(question.position + 1)}/{t.num(len(survey.questions))}", "",
             isolate(_pick(t, question.prompt, community))]
    if not question.required:
        lines.append(t._("(optional)"))
    lines.append("")
    lines.append(_hint(t, question))
    if given is not None and question.kind == "text":
        lines += ["", t._("Your answer: {answer}", answer=isolate(short(str(given), 300)))]
    base = f"sa:{survey.id}:{question.id}"
    rows: list[list[InlineKeyboardButton]] = []
    if question.kind == "single":
        rows += [[InlineKeyboardButton(("✅ " if given == i else "") + short(
            _pick(t, option, community), 60), callback_data=f"{base}:c:{i}")]
            for i, option in enumerate(question.options)]
    elif question.kind == "multiple":
        chosen = given or []
        rows += [[InlineKeyboardButton(("☑ " if i in chosen else "☐ ") + short(
            _pick(t, option, community), 60), callback_data=f"{base}:t:{i}")]
            for i, option in enumerate(question.options)]
        rows.append([InlineKeyboardButton(t._("Done"), callback_data=f"{base}:d:0")])
    elif question.kind == "scale":
        rows.append([InlineKeyboardButton(("✅" if given == n else "") + t.num(n),
                                          callback_data=f"{base}:c:{n}") for n in flow.SCALE])
    elif question.kind == "yesno":
        rows.append([InlineKeyboardButton(("✅ " if given is True else "") + t._("Yes"),
                                          callback_data=f"{base}:c:1"),
                     InlineKeyboardButton(("✅ " if given is False else "") + t._("No"),
                                          callback_data=f"{base}:c:0")])
    nav = []
    if question.position > 0:
        nav.append(InlineKeyboardButton(t._("‹ Back"), callback_data=f"{base}:b:0"))
    if given is not None and question.kind != "multiple":
        nav.append(InlineKeyboardButton(t._("Next ›"), callback_data=f"{base}:n:0"))
    elif not question.required and given is None:
        nav.append(InlineKeyboardButton(t._("Skip ›"), callback_data=f"{base}:s:0"))
    if nav:
        rows.append(nav)
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None


def _hint(t: Translator, question: Question) -> str:
    if question.kind == "text":
        return t._("Type your answer.")
    if question.kind == "scale":
        return t._("Tap a number from 1 (least) to 5 (most), or type it.")
    if question.kind == "multiple":
        return t._("Choose up to {n}, then tap Done.",
                   n=question.max_choices or len(question.options))
    return t._("Tap your answer.")


async def _show(update: Update, who: Actor, context: Context, survey: Survey,
                progress: Progress, *, new_message: bool) -> int:
    """The question the person is on now — or, past the last one, the thanks."""
    if progress.question is None:
        try:
            await flow.complete(context.db, survey, progress)
        except Refused as refused:  # a required question left unanswered: go there
            await say(update, who.t._(refused.message, **refused.values))
            progress = await flow.current(context.db, survey, who.user.id)
            new_message = True
        else:
            text = (who.t._("Thank you! Your anonymous answers are saved.") if survey.anonymous
                    else who.t._("Thank you! Your answers are saved. You can change them"
                                 " until the survey closes: /surveys"))
            if new_message:
                await say(update, text)
            else:
                await edit_message(update, text, None)
            return ConversationHandler.END
    text, markup = _question_view(who, survey, progress)
    if new_message:
        await say(update, text, reply_markup=markup)
    else:
        await edit_message(update, text, markup)
    return ANSWERING


@refusals
async def answer_tap(update: Update, context: Context) -> int | None:
    """A button under a question: sa:<survey>:<question>:<action>:<value>."""
    who = await member(update, context)
    parts = callback_parts(update)
    if len(parts) != 5:
        raise Refused(flow.NOT_AVAILABLE)
    survey_id, question_id = _ints(parts[1:3])
    action, raw = parts[3], parts[4]
    survey = await _survey(who, context, survey_id)
    progress = await flow.current(context.db, survey, who.user.id)
    assert update.callback_query is not None
    if progress.question is None or progress.question.id != question_id:
        # A double tap, or a button of an earlier message: nothing changes.
        raise Refused(N_("That answer is already recorded; go on from the newest question."))
    if action == "c":
        progress = await flow.answer(context.db, survey, progress,
                                     flow.choice_value(progress.question, raw))
    elif action == "t":
        progress = await flow.tick(context.db, survey, progress, raw)
    elif action in ("d", "n"):  # multiple choice done, or keep the answer given
        progress = await flow.keep(context.db, survey, progress)
    elif action == "s":
        progress = await flow.answer(context.db, survey, progress, None)
    elif action == "b":
        progress = await flow.back(context.db, survey, progress)
    else:
        raise Refused(flow.NOT_AVAILABLE)
    await update.callback_query.answer()
    return await _show(update, who, context, survey, progress, new_message=False)


@refusals
async def answer_text(update: Update, context: Context) -> int | None:
    """Typed input while answering: a free-text answer or a number on the scale."""
    who = await member(update, context)
    assert who.community is not None
    response_survey = await _answering(who, context)
    if response_survey is None:
        await say(update, who.t._("You are not in the middle of a survey. /surveys lists the"
                                  " open ones."))
        return ConversationHandler.END
    survey, progress = response_survey
    assert progress.question is not None
    try:
        value = flow.typed_value(progress.question, _text(update))
    except Refused as refused:  # the hint, then the question again
        await say(update, who.t._(refused.message, **refused.values))
        return await _show(update, who, context, survey, progress, new_message=True)
    progress = await flow.answer(context.db, survey, progress, value)
    return await _show(update, who, context, survey, progress, new_message=True)


async def _answering(who: Actor, context: Context) -> tuple[Survey, Progress] | None:
    """The survey this person is in the middle of, at the question they are on."""
    assert who.community is not None
    survey_id = await store.in_progress(context.db, who.user.id, who.community.id)
    if survey_id is None:
        return None
    survey = await _survey(who, context, survey_id)
    progress = await flow.current(context.db, survey, who.user.id)
    return (survey, progress) if progress.question is not None else None


async def pause_answering(update: Update, context: Context) -> int:
    who = await actor(update, context)
    await say(update, who.t._("Paused. Your answers so far are kept; /surveys continues where"
                              " you stopped."))
    return ConversationHandler.END


# == results ================================================================================


@refusals
async def results_command(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert who.community is not None
    found = (await store.of_community(context.db, who.community.id))[:10]
    if not found:
        await say(update, who.t._("There are no surveys yet. /newsurvey creates one."))
        return
    status = {"scheduled": N_("scheduled"), "open": N_("open"), "closed": N_("closed")}
    await say(update, who.t._("Which survey?"), reply_markup=InlineKeyboardMarkup([[
        InlineKeyboardButton(f"{short(_pick(who.t, s.title, who.community), 40)} "
                             f"({who.t._(status[s.status])})",
                             callback_data=f"sv:res:{s.id}")] for s in found]))


async def _results_text(who: Actor, context: Context, survey: Survey) -> list[str]:
    t = who.t
    community = who.community
    assert community is not None
    responses = await store.finished_responses(context.db, survey.id)
    done = await store.participants(context.db, survey.id)
    members = await community_store.members(context.db, community.id)
    groups = Counter(m.stakeholder_group for m, _u in members)
    taking_part = Counter(m.stakeholder_group for m, u in members if u.id in done)
    lines = [f"<b>{isolate(_pick(t, survey.title, community))}</b>",
             t._("Responses: {n} of {members} members ({share})", n=len(done),
                 members=len(members), share=t.percent(len(done) / max(len(members), 1))),
             "", t._("<b>Participation by group</b> (took part / members):")]
    for group, count in groups.most_common():
        lines.append(f"{group_label(t, group)}: {t.num(taking_part[group])}/{t.num(count)}"
                     f" ({t.percent(taking_part[group] / count)}) "
                     f"{flow.bar(taking_part[group], count)}")
    for summary in flow.summarise(survey, responses):
        lines += ["", _summary_text(t, community, summary)]
    return split_text("\n".join(lines))


def _labels(t: Translator, community: Community, summary: Summary) -> list[str]:
    q = summary.question
    if q.kind in ("single", "multiple"):
        return [_pick(t, o, community) for o in q.options]
    if q.kind == "yesno":
        return [t._("No"), t._("Yes")]
    if q.kind == "scale":
        return [t.num(n) for n in flow.SCALE]
    return []


def _summary_text(t: Translator, community: Community, summary: Summary) -> str:
    q = summary.question
    lines = [f"<b>{t.num(q.position + 1)}. {isolate(_pick(t, q.prompt, community))}</b>",
             t.ngettext("{n} answer", "{n} answers", summary.answered)]
    if q.kind == "text":
        lines += [f"— {isolate(text)}" for text in summary.texts]
        return "\n".join(lines)
    if q.kind == "scale" and summary.mean is not None:
        lines.append(t._("Average: {mean}", mean=t.num(summary.mean, decimals=1)))
    for label, count in zip(_labels(t, community, summary), summary.counts, strict=True):
        lines.append(f"{flow.bar(count, summary.answered)} {t.num(count)} "
                     f"({t.percent(count / max(summary.answered, 1))}) {isolate(label)}")
    return "\n".join(lines)


@refusals
async def results_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (survey_id,) = _ints(callback_parts(update)[2:3])
    survey = await _survey(who, context, survey_id)
    assert update.callback_query is not None
    await update.callback_query.answer()
    t = who.t
    parts = await _results_text(who, context, survey)
    rows = [[InlineKeyboardButton(t._("Export CSV"), callback_data=f"sv:csv:{survey.id}"),
             InlineKeyboardButton(t._("Export XLSX"), callback_data=f"sv:xlsx:{survey.id}")],
            [InlineKeyboardButton(t._("Who has not answered"),
                                  callback_data=f"sv:who:{survey.id}")]]
    if survey.status == "open":
        rows.append([InlineKeyboardButton(t._("Remind them"),
                                          callback_data=f"sv:nudge:{survey.id}"),
                     InlineKeyboardButton(t._("Close the survey"),
                                          callback_data=f"sv:end:{survey.id}")])
    elif survey.status == "scheduled":
        rows.append([InlineKeyboardButton(t._("Cancel the survey"),
                                          callback_data=f"sv:end:{survey.id}")])
    for part in parts[:-1]:
        await say(update, part)
    await say(update, parts[-1], reply_markup=InlineKeyboardMarkup(rows))


@refusals
async def missing_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert who.community is not None
    (survey_id,) = _ints(callback_parts(update)[2:3])
    survey = await _survey(who, context, survey_id)
    done = await store.participants(context.db, survey.id)
    missing = [(m, u) for m, u in await community_store.members(context.db, who.community.id)
               if u.id not in done]
    assert update.callback_query is not None
    await update.callback_query.answer()
    t = who.t
    lines = [t.ngettext("{n} member has not answered yet:", "{n} members have not answered"
                        " yet:", len(missing))]
    lines += [f"• {isolate(u.display_name)} — {group_label(t, m.stakeholder_group)}"
              for m, u in missing]
    for part in split_text("\n".join(lines)):
        await say(update, part)


@refusals
async def nudge_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (survey_id,) = _ints(callback_parts(update)[2:3])
    survey = await _survey(who, context, survey_id)
    flow.ensure_open(survey)
    # One reminder a day at most, whoever taps: the key carries the date.
    queued = await _remind(context.application, survey,
                           key=f"survey-nudge:{survey.id}:{utcnow().date().isoformat()}")
    assert update.callback_query is not None
    await update.callback_query.answer(who.t.ngettext(
        "A reminder is on its way to {n} member.", "A reminder is on its way to {n} members.",
        queued), show_alert=True)


@refusals
async def end_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    (survey_id,) = _ints(callback_parts(update)[2:3])
    survey = await _survey(who, context, survey_id)
    if not await flow.close(context.db, survey):
        raise Refused(flow.CLOSED)
    if survey.status == "open":
        await _tell_closed(context.application, survey)
    assert update.callback_query is not None
    await update.callback_query.answer(who.t._("The survey is closed."), show_alert=True)


@refusals
async def export_tap(update: Update, context: Context) -> None:
    who = await coordinator(update, context)
    assert who.community is not None
    parts = callback_parts(update)
    (survey_id,) = _ints(parts[2:3])
    survey = await _survey(who, context, survey_id)
    assert update.callback_query is not None
    await update.callback_query.answer()
    t, community = who.t, who.community
    responses = await store.finished_responses(context.db, survey.id)
    people = {u.id: (u.display_name, group_label(t, m.stakeholder_group, html=False))
              for m, u in await community_store.members(context.db, community.id)}
    rows = export.table(
        survey, responses, t.lang, community.default_language,
        {"number": t._("Response"), "name": t._("Name"), "group": t._("Group"),
         "language": t._("Language")},
        lambda user_id: people.get(user_id, ("", "")), (t._("No"), t._("Yes")))
    name = f"survey-{survey.id}"
    if parts[1] == "csv":
        data, filename = export.to_csv(rows), f"{name}.csv"
    else:
        data = export.to_xlsx(
            rows, flow.summarise(survey, responses), t.lang, community.default_language,
            {"responses": t._("Responses"), "summary": t._("Summary"),
             "mean": t._("Average")},
            lambda s: _labels(t, community, s), is_rtl(t.lang))
        filename = f"{name}.xlsx"
    assert update.effective_chat is not None
    await context.bot.send_document(
        update.effective_chat.id, InputFile(data, filename=filename),
        caption=t.ngettext("{n} response.", "{n} responses.", len(responses)))


# == wiring =================================================================================


async def on_startup(app: Application) -> None:  # type: ignore[type-arg]
    """Look at once (a restart catches up on what came due while down), then regularly."""
    if app.job_queue is not None:
        app.job_queue.run_repeating(_tick, interval=TICK, first=timedelta(seconds=1),
                                    name="surveys")


def register(app: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    text = filters.TEXT & ~filters.COMMAND
    survey_file = private & filters.Document.FileExtension(FILE_TYPES[0])
    for extension in FILE_TYPES[1:]:
        survey_file = survey_file | (private & filters.Document.FileExtension(extension))
    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("newsurvey", new_command, filters=private),
                      MessageHandler(survey_file, file_received)],
        states={
            TITLE: [MessageHandler(text, title_text)],
            INTRO: [MessageHandler(text | filters.Regex(r"^/skip$"), intro_text)],
            KIND: [CallbackQueryHandler(kind_tap, pattern=r"^svb:k:")],
            PROMPT: [MessageHandler(text, prompt_text)],
            OPTIONS: [MessageHandler(text, options_text)],
            MAX: [MessageHandler(text, max_text)],
            REQUIRED: [CallbackQueryHandler(required_tap, pattern=r"^svb:r:")],
            ANONYMOUS: [CallbackQueryHandler(anonymous_tap, pattern=r"^svb:a:")],
            OPENS: [CallbackQueryHandler(opens_input, pattern=r"^svb:o:"),
                    MessageHandler(text, opens_input)],
            CLOSES: [CallbackQueryHandler(closes_input, pattern=r"^svb:c:"),
                     MessageHandler(text, closes_input)],
            PREVIEW: [CallbackQueryHandler(preview_tap, pattern=r"^svb:p:")],
        },
        fallbacks=[CommandHandler("cancel", cancel_building)],
        name="survey_builder", persistent=True, allow_reentry=True,
    ))
    app.add_handler(ConversationHandler(
        entry_points=[CallbackQueryHandler(go_tap, pattern=r"^sv:go:"),
                      CallbackQueryHandler(answer_tap, pattern=r"^sa:")],
        states={ANSWERING: [CallbackQueryHandler(go_tap, pattern=r"^sv:go:"),
                            CallbackQueryHandler(answer_tap, pattern=r"^sa:"),
                            MessageHandler(text, answer_text)]},
        fallbacks=[CommandHandler("cancel", pause_answering)],
        name="survey_answer", persistent=True, allow_reentry=True,
    ))
    app.add_handler(CommandHandler("surveys", surveys_command, filters=private))
    app.add_handler(CommandHandler("surveyresults", results_command, filters=private))
    for pattern, callback in (
        (r"^sv:res:", results_tap), (r"^sv:who:", missing_tap), (r"^sv:nudge:", nudge_tap),
        (r"^sv:end:", end_tap), (r"^sv:(csv|xlsx):", export_tap),
    ):
        app.add_handler(CallbackQueryHandler(callback, pattern=pattern))
