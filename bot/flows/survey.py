"""Survey rules: what a survey may contain (built in chat or read from a file), what counts as
an answer to each kind of question, where answering goes next, who may see results, and
when a survey opens, reminds and closes.

A survey's texts are ``{language: text}``; a person reads their language, else the
community's default, else any the author gave. Everything here is plain data — the handler
renders it; the file reader reports faults as :class:`SpecError` with the line and field.

Every change a person asks for is one function here, ``verb(db, who, …)``: it checks that
the survey belongs to ``who``'s community (a missing or foreign id is refused the same way),
the role, that the survey is open and the question the button was under is the one the
person is on — and only then writes. Buttons carry ids, never state, so each of these checks
runs again on every tap.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import yaml

from bot.flows import process, schedule
from bot.flows.errors import Refused
from bot.flows.people import Member, require, taking_part
from bot.flows.typed import moment_example, to_int, to_moment
from bot.i18n import LANGUAGES, N_, Translator
from storage import broadcast as outbox
from storage import community as community_store
from storage import survey as store
from storage.community import Community as Community
from storage.community import Membership as Membership
from storage.community import User as User
from storage.db import Database, utcnow
from storage.survey import Question as Question
from storage.survey import Response as Response
from storage.survey import Survey as Survey
from storage.survey import Texts as Texts

KINDS = ("text", "single", "multiple", "scale", "yesno")
MAX_TITLE = 200
MAX_PROMPT = 500
MAX_OPTION = 100
MAX_OPTIONS = 10
MAX_QUESTIONS = 30
MAX_ANSWER = 4000
MAX_FILE = 200_000
SCALE = range(1, 6)
RECENT = 10  # surveys /surveyresults offers
NOT_AVAILABLE = N_("This survey is not available to you.")
CLOSED = N_("This survey has closed; answers can no longer be given or changed.")
NOT_OPEN_YET = N_("This survey has not opened yet.")
ALREADY = N_("That answer is already recorded; go on from the newest question.")
NOT_ANSWERING = N_("You are not in the middle of a survey. /surveys lists the open ones.")
NEEDS_ANSWER = N_("This question needs an answer.")
STILL_NEEDED = N_("Question {n} still needs an answer.")
FILE_DATE = N_("Please write the date and time as {example} (the community's time).")
NOT_REOPENABLE = N_("Only a survey closed by hand in the last {n} minutes can be reopened.")
ALREADY_TOLD = N_("Members have already been told that it closed, so it stays closed.")
PAST_ITS_TIME = N_("Its closing time has passed meanwhile, so it stays closed.")
ANSWERED_ANONYMOUSLY = N_("You have answered this anonymous survey. Its answers are not linked"
                          " to you, so they cannot be changed.")
TOO_LARGE = N_("The file is too large (at most {n} KB).")


def pick(texts: Texts, lang: str, default: str) -> str:
    """The text in ``lang``, else the community's default language, else any given."""
    return texts.get(lang) or texts.get(default) or next(iter(texts.values()), "")


# -- building: the same rules for the guided flow and for files ----------------------------


@dataclass
class Spec:
    """A survey before it is stored: what the guided flow collects or a file describes."""

    title: Texts
    intro: Texts = field(default_factory=dict)
    anonymous: bool = False
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    questions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """For the conversation's persisted state (a restart keeps the draft)."""
        return {"title": self.title, "intro": self.intro, "anonymous": self.anonymous,
                "opens_at": self.opens_at.isoformat() if self.opens_at else None,
                "closes_at": self.closes_at.isoformat() if self.closes_at else None,
                "questions": self.questions}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Spec:
        return cls(title=data["title"], intro=data.get("intro") or {},
                   anonymous=bool(data.get("anonymous")),
                   opens_at=datetime.fromisoformat(data["opens_at"]) if data.get("opens_at")
                   else None,
                   closes_at=datetime.fromisoformat(data["closes_at"])
                   if data.get("closes_at") else None,
                   questions=list(data.get("questions") or []))


class SpecError(Refused):
    """A fault in a survey file: the message, and where (``line`` 1-based, ``field`` path)."""

    def __init__(self, message: str, /, *, path: str, line: int | None, **values: Any) -> None:
        super().__init__(message, **values)
        self.path = path
        self.line = line


_LANGUAGE_LINE = re.compile(r"^\s*([a-z]{2})\s*:\s*(.*)$")


def texts_from_lines(text: str, lang: str, limit: int = MAX_PROMPT) -> Texts:
    """What a coordinator typed: lines ``fa: …``, ``en: …`` give one text per language;
    text without such prefixes is in ``lang``."""
    found: Texts = {}
    for line in text.splitlines():
        match = _LANGUAGE_LINE.match(line)
        if match and match[1] in LANGUAGES:
            found[match[1]] = match[2].strip()
    result = found or {lang: " ".join(text.split())}
    for value in result.values():
        _check_length(value, limit)
    return result


def options_from_lines(text: str, lang: str) -> list[Texts]:
    """One option per line; or, with language prefixes, ``en: Roads; Lights`` per language,
    every language listing the same number of options."""
    lines = [line for line in text.splitlines() if line.strip()]
    per_language = {m[1]: [o.strip() for o in m[2].split(";") if o.strip()]
                    for m in (_LANGUAGE_LINE.match(line) for line in lines)
                    if m and m[1] in LANGUAGES}
    if per_language:
        counts = {len(v) for v in per_language.values()}
        if len(counts) != 1:
            raise Refused(N_("Every language must list the same number of options."))
        options = [{lang_: values[i] for lang_, values in per_language.items()}
                   for i in range(counts.pop())]
    else:
        options = [{lang: " ".join(line.split())} for line in lines]
    _check_options(options)
    return options


def _check_length(value: str, limit: int) -> None:
    if not value.strip():
        raise Refused(N_("This text is empty."))
    if len(value) > limit:
        raise Refused(N_("Please keep it under {n} characters."), n=limit)


def _check_options(options: list[Texts]) -> None:
    if not 2 <= len(options) <= MAX_OPTIONS:
        raise Refused(N_("A choice question needs between 2 and {n} options."), n=MAX_OPTIONS)
    for option in options:
        for value in option.values():
            _check_length(value, MAX_OPTION)


def check_max(text: str, options: int) -> int:
    """How many choices a multiple-choice question allows, as the coordinator typed it."""
    number = to_int(text)
    if number is None or not 1 <= number <= options:
        raise Refused(N_("Please send a number from 1 to {n}."), n=options)
    return number


def parse_when(text: str, timezone: str, lang: str = "en", *, relative: bool = True,
               ) -> datetime:
    """A date and time as :func:`~bot.flows.typed.read` reads them, in community time."""
    return to_moment(text, timezone, lang, relative=relative)


def check_dates(opens_at: datetime | None, closes_at: datetime | None) -> None:
    now = utcnow()
    if closes_at is not None and closes_at <= max(opens_at or now, now):
        raise Refused(N_("The closing time must be after the opening time and in the future."))


# -- reading a file --------------------------------------------------------------------------


def read_file(name: str, data: bytes, default_language: str, timezone: str) -> Spec:
    """A survey described in YAML or JSON; faults raise :class:`SpecError`."""
    if len(data) > MAX_FILE:
        raise SpecError(TOO_LARGE, path="", line=None, n=MAX_FILE // 1000)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(N_("The file is not UTF-8 text."), path="", line=None) from None
    lines: dict[str, int] = {}
    if name.lower().endswith(".json"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise SpecError(N_("This is not valid JSON: {problem}."), path="",
                            line=error.lineno, problem=error.msg) from None
        with contextlib.suppress(yaml.YAMLError):  # JSON is YAML: its nodes give the lines
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            if node is not None:
                _walk(node, "", lines)
    else:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            raise SpecError(N_("This is not valid YAML: {problem}."), path="",
                            line=mark.line + 1 if mark else None,
                            problem=getattr(error, "problem", None) or str(error)) from None
        value = _walk(node, "", lines) if node is not None else None
    return _spec(value, lines, default_language, timezone)


def _walk(node: yaml.Node, path: str, lines: dict[str, int], line: int | None = None) -> Any:
    """Plain values from a YAML node tree (scalars stay text), noting each field's line
    (a mapping's field: the line of its key)."""
    lines[path] = line or node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key, child in node.value:
            name = str(key.value)
            result[name] = _walk(child, f"{path}.{name}" if path else name, lines,
                                 key.start_mark.line + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(child, f"{path}[{i + 1}]", lines) for i, child in enumerate(node.value)]
    if node.tag.endswith(":null"):
        return None
    return node.value


class _Reader:
    """Checks a decoded file field by field, so every fault names its place."""

    def __init__(self, lines: dict[str, int], default_language: str) -> None:
        self.lines = lines
        self.default = default_language

    def fail(self, path: str, message: str, **values: Any) -> SpecError:
        line = self.lines.get(path)
        probe = path
        while line is None and probe:  # a missing field: the line of its parent
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
            line = self.lines.get(probe)
        return SpecError(message, path=path, line=line, **values)

    def texts(self, value: Any, path: str, limit: int) -> Texts:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            value = {self.default: str(value)}
        if not isinstance(value, dict) or not value:
            raise self.fail(path, N_("Give a text, or one text per language (fa, kk, he, en)."))
        result: Texts = {}
        for lang, text in value.items():
            where = f"{path}.{lang}"
            if lang not in LANGUAGES:
                raise self.fail(where, N_("“{lang}” is not a language of this bot; use one of"
                                          " {languages}."), lang=lang,
                                languages=", ".join(LANGUAGES))
            if not isinstance(text, str | int | float) or not str(text).strip():
                raise self.fail(where, N_("This text is empty."))
            if len(str(text)) > limit:
                raise self.fail(where, N_("Please keep it under {n} characters."), n=limit)
            result[lang] = " ".join(str(text).split())
        return result

    def flag(self, value: Any, path: str, default: bool) -> bool:
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "on"):
            return True
        if str(value).lower() in ("false", "no", "off"):
            return False
        raise self.fail(path, N_("Write true or false."))


def _spec(value: Any, lines: dict[str, int], default_language: str, timezone: str) -> Spec:
    read = _Reader(lines, default_language)
    if not isinstance(value, dict):
        raise read.fail("", N_("The file must describe one survey: a title and questions."))
    known = {"title", "intro", "anonymous", "opens", "closes", "questions"}
    for key in value:
        if key not in known:
            raise read.fail(key, N_("Unknown field; the fields are {fields}."),
                            fields=", ".join(sorted(known)))
    if "title" not in value:
        raise read.fail("title", N_("The survey needs a title."))
    spec = Spec(title=read.texts(value["title"], "title", MAX_TITLE),
                intro=read.texts(value["intro"], "intro", MAX_PROMPT)
                if value.get("intro") is not None else {},
                anonymous=read.flag(value.get("anonymous"), "anonymous", False))
    for key in ("opens", "closes"):
        if value.get(key) is not None:
            try:
                moment = parse_when(str(value[key]), timezone, relative=False)
            except Refused:
                raise read.fail(key, FILE_DATE, example=moment_example(
                    Translator("en", timezone))) from None
            setattr(spec, f"{key}_at", moment)
    try:
        check_dates(spec.opens_at, spec.closes_at)
    except Refused as refused:
        raise read.fail("closes", refused.message) from None
    questions = value.get("questions")
    if not isinstance(questions, list) or not questions:
        raise read.fail("questions", N_("The survey needs a list of questions."))
    if len(questions) > MAX_QUESTIONS:
        raise read.fail("questions", N_("At most {n} questions."), n=MAX_QUESTIONS)
    for number, item in enumerate(questions, start=1):
        spec.questions.append(_question(read, item, f"questions[{number}]"))
    return spec


def _question(read: _Reader, item: Any, path: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise read.fail(path, N_("A question needs a type and a text."))
    for key in item:
        if key not in ("type", "text", "options", "max", "required"):
            raise read.fail(f"{path}.{key}", N_("Unknown field; the fields are {fields}."),
                            fields="type, text, options, max, required")
    kind = str(item.get("type", "")).strip().lower()
    if kind not in KINDS:
        raise read.fail(f"{path}.type", N_("The type must be one of {kinds}."),
                        kinds=", ".join(KINDS))
    if "text" not in item:
        raise read.fail(f"{path}.text", N_("The question needs a text."))
    question: dict[str, Any] = {
        "kind": kind, "prompt": read.texts(item["text"], f"{path}.text", MAX_PROMPT),
        "required": read.flag(item.get("required"), f"{path}.required", True),
        "options": [], "max_choices": None}
    if kind in ("single", "multiple"):
        options = item.get("options")
        if not isinstance(options, list) or not 2 <= len(options) <= MAX_OPTIONS:
            raise read.fail(f"{path}.options", N_("A choice question needs between 2 and {n}"
                                                  " options."), n=MAX_OPTIONS)
        question["options"] = [read.texts(o, f"{path}.options[{i + 1}]", MAX_OPTION)
                               for i, o in enumerate(options)]
    elif item.get("options") is not None:
        raise read.fail(f"{path}.options", N_("Only choice questions have options."))
    if kind == "multiple":
        limit = item.get("max", len(question["options"]))
        number = to_int(str(limit)) if limit is not None else None
        if number is None or not 1 <= number <= len(question["options"]):
            raise read.fail(f"{path}.max", N_("Please send a number from 1 to {n}."),
                            n=len(question["options"]))
        question["max_choices"] = number
    elif item.get("max") is not None:
        raise read.fail(f"{path}.max", N_("Only multiple-choice questions have a maximum."))
    return question


def closing_after(opens_at: datetime | None, days: int) -> datetime | None:
    """A closing time ``days`` after the opening (or now); 0 days: closed by hand."""
    return (opens_at or utcnow()) + timedelta(days=days) if days else None


def check_upload(size: int | None) -> None:
    """A survey file is read whole, so a very large one is refused before it is fetched."""
    if (size or 0) > MAX_FILE:
        raise Refused(TOO_LARGE, n=MAX_FILE // 1000)


def spec_from_file(who: Member, name: str, data: bytes) -> Spec:
    """A coordinator's survey file, read with the community's language and time zone."""
    require(who, "coordinator")
    return read_file(name, data, who.community.default_language, who.community.timezone)


# -- publishing, closing and the scheduler -----------------------------------------------------


async def _survey(db: Database, who: Member, survey_id: int) -> Survey:
    """The survey, if it belongs to ``who``'s community; a missing id reads the same."""
    survey = await store.get(db, survey_id)
    if survey is None or survey.community_id != who.community.id:
        raise Refused(NOT_AVAILABLE)
    return survey


async def publish(db: Database, who: Member, spec: Spec) -> Survey:
    """Store the survey a coordinator built or sent: open at once, or scheduled."""
    require(who, "coordinator")
    check_dates(spec.opens_at, spec.closes_at)
    if not spec.questions:
        raise Refused(N_("Add at least one question first."))
    survey = await store.create(db, who.community.id, who.user.id, title=spec.title,
                                intro=spec.intro, anonymous=spec.anonymous,
                                opens_at=spec.opens_at, closes_at=spec.closes_at,
                                questions=spec.questions)
    await process.happened(db, who.community.id, "survey_opened", survey.id)
    return survey


def closed_key(survey_id: int) -> str:
    """The outbox key of the notices that a survey closed (withdrawn when it is reopened)."""
    return f"survey-closed:{survey_id}"


async def closable(db: Database, who: Member, survey_id: int) -> Survey:
    """A survey a coordinator may close (or cancel) now: asked before it is done."""
    require(who, "coordinator")
    survey = await _survey(db, who, survey_id)
    if survey.status == "closed":
        raise Refused(CLOSED)
    return survey


@dataclass(frozen=True, slots=True)
class Closed:
    """A survey closed by hand: as it was before (its status says whether members are to
    hear that it closed), and until when it may be reopened."""

    survey: Survey
    reopen_until: datetime
    told_at: datetime  # when members hear it (after the window, and not in quiet hours)


async def close(db: Database, who: Member, survey_id: int) -> Closed:
    """Close an open survey, or cancel one not yet open, by hand (after the coordinator
    confirmed). Members are told only once the window to reopen it has passed."""
    survey = await closable(db, who, survey_id)
    until = schedule.reopen_until()
    if not await store.close_by_hand(db, survey.id, was=survey.status, reopen_until=until):
        raise Refused(CLOSED)
    community = await community_store.get_community(db, survey.community_id)
    assert community is not None  # a survey goes with its community (ON DELETE CASCADE)
    return Closed(survey, until, schedule.hold_until(community, until) or until)


async def reopen(db: Database, who: Member, survey_id: int) -> Survey:
    """Undo a closing by hand, while nothing was lost: within the window, before any member
    was told, and before its own closing time (answers given so far were never touched)."""
    require(who, "coordinator")
    survey = await _survey(db, who, survey_id)
    if survey.status != "closed" or not schedule.may_reopen(survey.reopen_until):
        raise Refused(NOT_REOPENABLE, n=schedule.window_minutes())
    was_open = survey.closed_at is not None and survey.opens_at <= survey.closed_at
    if was_open and survey.closes_at is not None and survey.closes_at <= utcnow():
        raise Refused(PAST_ITS_TIME)
    async with db.transaction():
        if not await outbox.withdraw(db, [closed_key(survey.id) + ":"]):
            raise Refused(ALREADY_TOLD)
        if not await store.reopen(db, survey.id, "open" if was_open else "scheduled"):
            raise Refused(NOT_REOPENABLE, n=schedule.window_minutes())
    reopened = await store.get(db, survey.id)
    assert reopened is not None
    return reopened


async def tell_now(db: Database, who: Member, survey_id: int) -> Survey:
    """The coordinator will not reopen it: members are told now (outside quiet hours)."""
    require(who, "coordinator")
    survey = await _survey(db, who, survey_id)
    if survey.status != "closed" or not await store.keep_closed(db, survey.id):
        raise Refused(NOT_REOPENABLE, n=schedule.window_minutes())
    community = await community_store.get_community(db, survey.community_id)
    assert community is not None  # a survey goes with its community (ON DELETE CASCADE)
    await outbox.release(db, [closed_key(survey.id) + ":"], schedule.hold_until(community))
    return survey


async def _close(db: Database, survey: Survey) -> bool:
    """False if it was already closed (by hand, or by its time, a moment ago)."""
    return survey.status != "closed" and await store.set_status(db, survey.id, "closed",
                                                                was=survey.status)


async def pending(db: Database) -> list[Survey]:
    """Every survey still to open or to close, in every community (rebuilt after a start)."""
    return await store.unclosed(db)


def reminder_at(survey: Survey) -> datetime | None:
    """When those who have not answered hear about it: the rhythm votes and elections keep."""
    return schedule.reminder_time(survey.opens_at, survey.closes_at)


SLACK = timedelta(seconds=5)  # a job may fire a moment before the clock says it is due


async def open_due(db: Database, survey_id: int) -> Survey | None:
    """A scheduled survey whose time has come, now open; None if nothing was to be done."""
    survey = await store.get(db, survey_id)
    if survey is None or survey.status != "scheduled" or survey.opens_at > utcnow() + SLACK:
        return None
    if not await store.set_status(db, survey_id, "open", was="scheduled"):
        return None
    await process.happened(db, survey.community_id, "survey_opened", survey_id)
    return await store.get(db, survey_id)


async def remind_due(db: Database, survey_id: int) -> Audience | None:
    """Those who have not answered a survey about to close — once per survey."""
    survey = await store.get(db, survey_id)
    now = utcnow()
    when = reminder_at(survey) if survey is not None else None
    if (survey is None or survey.status != "open" or survey.closes_at is None
            or survey.closes_at <= now or when is None or when > now + SLACK):
        return None
    if not await store.mark_reminded(db, survey_id):
        return None
    return await reminder(db, survey)


async def close_due(db: Database, survey_id: int) -> Survey | None:
    """An open survey whose closing time has passed, now closed."""
    survey = await store.get(db, survey_id)
    if (survey is None or survey.status != "open" or survey.closes_at is None
            or survey.closes_at > utcnow() + SLACK):
        return None
    return survey if await _close(db, survey) else None


# -- who hears about a survey --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """Who is told about a survey: its community's members (or some of them); on closing,
    which of them coordinate and how many took part."""

    survey: Survey
    community: Community
    people: list[User]
    coordinators: frozenset[int] = frozenset()
    took_part: int = 0


async def _community(db: Database, survey: Survey) -> Community:
    community = await community_store.get_community(db, survey.community_id)
    assert community is not None  # a survey goes with its community (ON DELETE CASCADE)
    return community


async def announcement(db: Database, survey: Survey) -> Audience:
    """Every member hears that a survey opened (read a chunk at a time)."""
    community = await _community(db, survey)
    return Audience(survey, community, await community_store.people(db, community.id))


REMINDER_PAGE = 2000  # members read per statement when finding who has not finished


async def reminder(db: Database, survey: Survey) -> Audience:
    """The members who have not finished the survey: found in SQL a page at a time (the
    connection is free between pages), not by loading every member and every participant."""
    community = await community_store.get_community(db, survey.community_id)
    assert community is not None  # a survey goes with its community (ON DELETE CASCADE)
    people: list[User] = []
    after = 0
    while page := await store.not_finished(db, community.id, survey.id, after=after,
                                           limit=REMINDER_PAGE):
        people += [u for _m, u in page]
        after = page[-1][1].id
    return Audience(survey, community, people)


async def closing(db: Database, survey: Survey) -> Audience:
    """Every member hears that it closed and how many took part; coordinators get results."""
    community = await _community(db, survey)
    coordinators = await community_store.members(db, community.id,
                                                 roles=("coordinator", "admin"))
    return Audience(survey, community, await community_store.people(db, community.id),
                    frozenset(u.id for _m, u in coordinators),
                    await store.participant_count(db, survey.id))


async def remind(db: Database, who: Member, survey_id: int) -> tuple[Audience, str]:
    """A coordinator's reminder to those who have not answered, with the key that lets it
    go out once a day at most, whoever asks."""
    require(who, "coordinator")
    survey = await _survey(db, who, survey_id)
    ensure_open(survey)
    return await reminder(db, survey), f"survey-nudge:{survey.id}:{utcnow().date().isoformat()}"


# -- results, for coordinators ---------------------------------------------------------------


async def recent(db: Database, who: Member) -> list[Survey]:
    """The community's latest surveys, newest first, whatever their status."""
    require(who, "coordinator")
    return (await store.of_community(db, who.community.id))[:RECENT]


@dataclass(frozen=True, slots=True)
class Share:
    """How much of one stakeholder group took part."""

    group: str | None
    took_part: int
    members: int


@dataclass(frozen=True, slots=True)
class Results:
    survey: Survey
    took_part: int
    members: int
    groups: list[Share]  # the largest group first
    summaries: list[Summary]


async def results(db: Database, who: Member, survey_id: int) -> Results:
    """Responses against members, participation by group, and each question's summary:
    counted in SQL, one short statement at a time, never by loading the responses."""
    require(who, "coordinator")
    survey = await _survey(db, who, survey_id)
    found = [(group, *await store.group_share(db, who.community.id, survey.id, group))
             for group in await store.groups(db, who.community.id)]
    # The groups that have members, the largest first (ties: the group whose first member
    # joined first, as the members list orders them).
    found.sort(key=lambda g: (-g[2], g[3] or ""))
    shares = [Share(group, took, members) for group, took, members, _first in found
              if members]
    return Results(survey, await store.participant_count(db, survey.id),
                   sum(s.members for s in shares), shares, await summaries(db, survey))


MISSING_SHOWN = 200  # names "who has not answered" lists; the count covers everyone


@dataclass(frozen=True, slots=True)
class Missing:
    """Who has not finished a survey: how many, and the first of them by user id."""

    count: int
    first: list[tuple[Membership, User]]


async def missing(db: Database, who: Member, survey_id: int,
                  limit: int = MISSING_SHOWN) -> Missing:
    """The members who have not finished the survey: their number and the first ``limit``."""
    require(who, "coordinator")
    survey = await _survey(db, who, survey_id)
    return Missing(await store.not_finished_count(db, who.community.id, survey.id),
                   await store.not_finished(db, who.community.id, survey.id, limit=limit))


@dataclass(frozen=True, slots=True)
class Export:
    """What an export file is built from: the survey, and where to read its counted
    responses (:meth:`rows`, blocking: run it on a worker thread). Named surveys' rows say
    who answered while they are a member; anonymous ones have no person."""

    survey: Survey
    path: str
    kept: list[store.Row] | None = None  # read already (an in-memory database)

    def rows(self) -> Iterator[store.Row]:
        if self.kept is not None:
            return iter(self.kept)
        return store.read_counted(self.path, self.survey.id, self.survey.community_id)


async def export(db: Database, who: Member, survey_id: int) -> Export:
    require(who, "coordinator")
    survey = await _survey(db, who, survey_id)
    if db.path != ":memory:":
        return Export(survey, db.path)
    # No second connection reaches an in-memory database: read it here (tests only).
    people = {u.id: (u.display_name, m.stakeholder_group)
              for m, u in await community_store.members(db, who.community.id)}
    kept = []
    for r in await store.finished_responses(db, survey.id):
        person = people.get(r.respondent_id) if r.respondent_id is not None else None
        kept.append(store.Row(r.respondent_id, person[0] if person else None,
                              person[1] if person else None, r.language, r.answers))
    return Export(survey, db.path, kept)


# -- answering -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a person is: the question shown (None when past the last) and the response."""

    response: Response
    question: Question | None


@dataclass(frozen=True, slots=True)
class Step:
    """What a person sees after an answer: the question they are on now — or, past the
    last one, that their response was counted (``finished``). ``missing`` is the number of
    a required question found unanswered at the end: they are taken back to it."""

    survey: Survey
    progress: Progress
    finished: bool = False
    missing: int | None = None


@dataclass(frozen=True, slots=True)
class Listed:
    """An open survey as /surveys shows it to one person."""

    survey: Survey
    answered: bool
    at: int | None  # the question a response in progress is on (0-based)


def ensure_open(survey: Survey) -> None:
    if survey.status != "open":
        raise Refused(CLOSED if survey.status == "closed" else NOT_OPEN_YET)


async def open_surveys(db: Database, who: Member) -> list[Listed]:
    """The community's open surveys, and how far this person is in each."""
    listed = []
    for survey in await store.of_community(db, who.community.id, ("open",)):
        answered = await store.took_part(db, survey.id, who.user.id)
        response = None if answered else await store.response_of(db, survey.id, who.user.id)
        listed.append(Listed(survey, answered, response.position if response else None))
    return listed


async def begin(db: Database, who: Member, survey_id: int) -> Step:
    """Start, resume where the person stopped, or (named surveys) go over one's answers."""
    taking_part(who)
    survey = await _survey(db, who, survey_id)
    ensure_open(survey)
    if survey.anonymous and await store.took_part(db, survey.id, who.user.id):
        raise Refused(ANSWERED_ANONYMOUSLY)
    response = await store.start(db, survey.id, who.user.id, who.t.lang)
    if response.finished and response.position >= len(survey.questions):
        await store.move(db, response.id, 0)  # going over one's answers from the start
    return await _step(db, survey, who.user.id)


async def where(db: Database, who: Member, survey_id: int) -> Step | None:
    """The question this person is on in the survey, if they are answering it now."""
    try:
        survey = await _survey(db, who, survey_id)
        progress = await _current(db, survey, who.user.id)
    except Refused:
        return None
    return Step(survey, progress) if progress.question is not None else None


async def choose(db: Database, who: Member, survey_id: int, question_id: int,
                 value: int) -> Step:
    """A tapped choice, number on the scale, or yes/no; then the next question."""
    survey, progress = await _on(db, who, survey_id, question_id)
    assert progress.question is not None
    return await _answer(db, survey, progress, choice_value(progress.question, value))


async def tick(db: Database, who: Member, survey_id: int, question_id: int,
               option: int) -> Step:
    """Multiple choice: pick or unpick an option; the person stays on the question."""
    survey, progress = await _on(db, who, survey_id, question_id)
    question = progress.question
    assert question is not None
    chosen = toggled(question, list(progress.response.answers.get(question.id, [])), option)
    try:
        await store.answer(db, progress.response.id, question.id, chosen or None,
                           question.position)
    except sqlite3.IntegrityError:  # the survey closed a moment ago
        raise Refused(CLOSED) from None
    return await _step(db, survey, who.user.id)


async def go_on(db: Database, who: Member, survey_id: int, question_id: int) -> Step:
    """"Next" (or "Done" after ticking): keep the answer given and go on."""
    survey, progress = await _on(db, who, survey_id, question_id)
    question = progress.question
    assert question is not None
    if question.id not in progress.response.answers and question.required:
        raise Refused(NEEDS_ANSWER)
    await store.move(db, progress.response.id, question.position + 1)
    return await _step(db, survey, who.user.id)


async def skip(db: Database, who: Member, survey_id: int, question_id: int) -> Step:
    """Leave an optional question unanswered (a required one is refused)."""
    survey, progress = await _on(db, who, survey_id, question_id)
    return await _answer(db, survey, progress, None)


async def back(db: Database, who: Member, survey_id: int, question_id: int) -> Step:
    """The question before (the first one stays)."""
    survey, progress = await _on(db, who, survey_id, question_id)
    assert progress.question is not None
    await store.move(db, progress.response.id, max(progress.question.position - 1, 0))
    return await _step(db, survey, who.user.id)


async def answer_typed(db: Database, who: Member, survey_id: int, text: str) -> Step:
    """What a person typed, for the question they are on; a hint when it does not fit."""
    step = await where(db, who, survey_id)
    if step is None:
        raise Refused(NOT_ANSWERING)
    assert step.progress.question is not None
    value = typed_value(step.progress.question, text)
    return await _answer(db, step.survey, step.progress, value)


async def _current(db: Database, survey: Survey, user_id: int) -> Progress:
    """The question a person is on; Refused when they are not answering this survey."""
    ensure_open(survey)
    response = await store.response_of(db, survey.id, user_id)
    if response is None:
        raise Refused(NOT_AVAILABLE)
    return _at(survey, response)


async def _on(db: Database, who: Member, survey_id: int,
              question_id: int) -> tuple[Survey, Progress]:
    """The survey and where the person is, if the button was under that very question."""
    survey = await _survey(db, who, survey_id)
    progress = await _current(db, survey, who.user.id)
    if progress.question is None or progress.question.id != question_id:
        # A double tap, or a button of an earlier message: nothing changes.
        raise Refused(ALREADY)
    return survey, progress


def _at(survey: Survey, response: Response) -> Progress:
    position = response.position
    question = survey.questions[position] if position < len(survey.questions) else None
    return Progress(response, question)


def choice_value(question: Question, value: int) -> int | bool:
    """A tapped button's value for a single choice, scale or yes/no question."""
    if question.kind == "single" and 0 <= value < len(question.options):
        return value
    if question.kind == "scale" and value in SCALE:
        return value
    if question.kind == "yesno" and value in (0, 1):
        return value == 1
    raise Refused(NOT_AVAILABLE)


def typed_value(question: Question, text: str) -> Any:
    """What a person typed, for the question they are on; a hint when it does not fit."""
    if question.kind == "text":
        text = text.strip()
        if not text:
            raise Refused(N_("Please type your answer."))
        if len(text) > MAX_ANSWER:
            raise Refused(N_("Your answer is {length} characters long; please keep it under"
                             " {n}."), length=len(text), n=MAX_ANSWER)
        return text
    if question.kind == "scale":
        number = to_int(text)
        if number not in SCALE:
            raise Refused(N_("Please answer with a number from 1 to 5, or tap one of the"
                             " buttons."))
        return number
    raise Refused(N_("Please answer with the buttons under the question."))


def toggled(question: Question, chosen: list[int], option: int) -> list[int]:
    """Multiple choice: tap to pick or unpick; more than the maximum is refused."""
    if question.kind != "multiple" or not 0 <= option < len(question.options):
        raise Refused(NOT_AVAILABLE)
    if option in chosen:
        return [c for c in chosen if c != option]
    if len(chosen) >= (question.max_choices or len(question.options)):
        raise Refused(N_("You can choose at most {n}. Untick one first."),
                      n=question.max_choices or len(question.options))
    return sorted([*chosen, option])


async def _answer(db: Database, survey: Survey, progress: Progress, value: Any) -> Step:
    """Record the answer to the current question and go to the next."""
    question = progress.question
    assert question is not None
    if value is None or value == []:
        if question.required:
            raise Refused(NEEDS_ANSWER)
        value = None
    try:
        await store.answer(db, progress.response.id, question.id, value,
                           question.position + 1)
    except sqlite3.IntegrityError:  # the survey closed a moment ago
        raise Refused(CLOSED) from None
    assert progress.response.respondent_id is not None
    return await _step(db, survey, progress.response.respondent_id)


async def _step(db: Database, survey: Survey, user_id: int) -> Step:
    """Where the person is now; past the last question their response is counted — or,
    with a required question unanswered (only a lost update leaves one), they go back to it."""
    response = await store.response_of(db, survey.id, user_id)
    assert response is not None
    progress = _at(survey, response)
    if progress.question is not None:
        return Step(survey, progress)
    ensure_open(survey)
    unanswered = [q for q in survey.questions if q.required and q.id not in response.answers]
    if unanswered:
        await store.move(db, response.id, unanswered[0].position)
        moved = await store.response_of(db, survey.id, user_id)
        assert moved is not None
        return Step(survey, _at(survey, moved), missing=unanswered[0].position + 1)
    try:
        await store.finish(db, survey, response)
    except sqlite3.IntegrityError:
        raise Refused(CLOSED) from None
    return Step(survey, progress, finished=True)


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """One question's answers: counts per option (choices, yes/no as [no, yes], scale 1–5),
    the scale's mean, or the free texts; ``answered`` counts who answered it."""

    question: Question
    answered: int
    counts: list[int] = field(default_factory=list)
    mean: float | None = None
    texts: list[str] = field(default_factory=list)


TEXTS_SHOWN = 20  # free-text answers the results show (the newest); the rest: the export


def summarise(survey: Survey, responses: list[Response]) -> list[Summary]:
    """Summaries from responses in memory (a few: the results themselves use SQL)."""
    summaries = []
    for q in survey.questions:
        given = [r.answers[q.id] for r in responses if q.id in r.answers]
        if q.kind == "text":
            summaries.append(Summary(q, len(given), texts=[str(v) for v in given]))
        else:
            tally = Counter(json.dumps(v) for v in given)
            summaries.append(summary_of(q, [(json.loads(v), n) for v, n in tally.items()]))
    return summaries


def summary_of(q: Question, tally: list[tuple[Any, int]]) -> Summary:
    """A choice, scale or yes/no question's summary from its distinct answers and their
    counts (a multiple choice's combinations count for each option in them)."""
    decoded = tally
    answered = sum(n for _v, n in decoded)
    if q.kind == "scale":
        per = Counter[int]()
        for v, n in decoded:
            per[int(v)] += n
        return Summary(q, answered, counts=[per[k] for k in SCALE],
                       mean=sum(k * n for k, n in per.items()) / answered if answered
                       else None)
    if q.kind == "yesno":
        return Summary(q, answered, counts=[sum(n for v, n in decoded if not v),
                                            sum(n for v, n in decoded if v)])
    picks = Counter[int]()
    for v, n in decoded:
        for c in v if isinstance(v, list) else [v]:
            picks[c] += n
    return Summary(q, answered, counts=[picks[i] for i in range(len(q.options))])


async def summaries(db: Database, survey: Survey) -> list[Summary]:
    """Every question's summary, counted in SQL one question at a time; free text: how many
    answered and the newest :data:`TEXTS_SHOWN` (oldest of them first)."""
    found = []
    for q in survey.questions:
        if q.kind == "text":
            newest = await store.newest_answers(db, survey.id, q.id, TEXTS_SHOWN)
            found.append(Summary(q, await store.answer_count(db, q.id),
                                 texts=[str(v) for v in reversed(newest)]))
        else:
            found.append(summary_of(q, await store.tally(db, q.id)))
    return found


def bar(part: int, whole: int, width: int = 10) -> str:
    """A text bar: ``▓▓▓▓░░░░░░`` for 4 of 10."""
    filled = round(width * part / whole) if whole else 0
    return "▓" * filled + "░" * (width - filled)
