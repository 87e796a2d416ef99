"""The dashboard's rules: who may see which figures of which community, and the figures.

The Mini App (``bot/webapp``) asks here for one section at a time. Every figure is counted
in SQL (``storage/dashboard.py`` and the capabilities' own aggregates) and comes back as
plain JSON-ready data with its labels already in the viewer's language: numbers with Persian
digits for fa, Solar Hijri dates, translated group and status names. The page only draws;
text written by people travels as data and the page puts it in with ``textContent``.

What a role sees mirrors what the chat already shows it: residents and committee members
see the plan, the resource map, indicators, the brainstorm board and results of *closed*
votes (with the participation those results publish); coordinators see everything of their
community, open votes, surveys and members by group included. Nobody sees another
community: the viewer's membership is looked up afresh on every request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import repeat
from typing import Any

import jdatetime
from babel.dates import format_date

from bot.flows import plan as plan_rules
from bot.flows import process
from bot.flows import survey_export as export
from bot.flows import voting as voting_rules
from bot.flows.errors import Refused
from bot.flows.survey import SCALE, Summary, pick
from bot.i18n import N_, Translator, is_rtl
from bot.labels import group_label, role_label
from storage import brainstorm as brainstorm_store
from storage import committee as committee_store
from storage import community as community_store
from storage import dashboard as store
from storage import plan as plan_store
from storage import survey as survey_store
from storage import voting as voting_store
from storage.community import Community, StakeholderGroup, User
from storage.db import Database as Database  # re-exported: bot.webapp reaches storage only here
from storage.db import utcnow
from storage.survey import Question, Survey
from storage.voting import Prioritisation, Problem

Json = dict[str, Any]

RESIDENT_SECTIONS = ("participation", "priorities", "plan", "indicators")
COORDINATOR_SECTIONS = (*RESIDENT_SECTIONS, "surveys")
SECTION_LABELS = {
    "participation": N_("Participation"),
    "priorities": N_("Priorities"),
    "plan": N_("The plan"),
    "indicators": N_("Indicators"),
    "surveys": N_("Surveys"),
}
NOT_A_MEMBER = N_("You are not a member of this community.")
ONLY_COORDINATORS = N_("Only coordinators of this community can see this.")
NO_SUCH_SURVEY = N_("This survey is not available to you.")
METHOD_LABELS = {"stickers": N_("Stickers"), "pairwise": N_("Pairwise comparison"),
                 "matrix": N_("Priority matrix")}
TASK_STATUS = {"planned": N_("planned"), "in_progress": N_("in progress"),
               "blocked": N_("blocked"), "done": N_("done")}
RESOURCE_KINDS = {"skill": N_("Skill"), "place": N_("Place"), "equipment": N_("Equipment"),
                  "time": N_("Time"), "money": N_("Money")}
SECTORS = {"public": N_("Public body"), "private": N_("Business"), "ngo": N_("NGO"),
           "community": N_("Community group"), "media": N_("Media"),
           "academia": N_("Academia")}
INFLUENCE = {1: N_("Low influence"), 2: N_("Medium influence"), 3: N_("High influence")}
EVENT_KINDS = {"vote": N_("Vote"), "survey": N_("Survey"), "election": N_("Election")}

MAX_VOTES = 10  # the newest; older ones stay in the chat's /results
MAX_SURVEYS = 10
MAX_EVENTS = 12
MAX_PLANS = 5
MAX_CARDS = 30
MAX_TEXTS = 10  # free-text answers shown per question (exports have them all)
MAX_RESOURCES = 200


# -- who is asking -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Viewer:
    """A person looking at one community's dashboard, with the role they hold there now."""

    user: User
    community: Community
    role: str  # resident | committee | coordinator | admin
    t: Translator

    @property
    def coordinator(self) -> bool:
        return self.role in ("coordinator", "admin")

    @property
    def sections(self) -> tuple[str, ...]:
        return COORDINATOR_SECTIONS if self.coordinator else RESIDENT_SECTIONS


async def viewer(db: Database, user_id: int, *, admins: frozenset[int],
                 community_id: int | None = None) -> Viewer:
    """Who ``user_id`` is in ``community_id`` (default: their current community).

    Refused unless they are a member there now (or a bot admin): a signed initData proves
    who someone is, never what they may see.
    """
    user = await community_store.get_user(db, user_id)
    if user is None:
        raise Refused(NOT_A_MEMBER)
    wanted = community_id if community_id is not None else user.current_community_id
    community = await community_store.get_community(db, wanted) if wanted is not None else None
    if community is None:
        raise Refused(NOT_A_MEMBER)
    membership = await community_store.get_membership(db, community.id, user.id)
    if user.id in admins:
        role = "admin"
    elif membership is not None:
        role = membership.role
    else:
        raise Refused(NOT_A_MEMBER)
    return Viewer(user, community, role, Translator(user.language, community.timezone))


def require(viewer: Viewer, section: str) -> None:
    if section not in viewer.sections:
        raise Refused(ONLY_COORDINATORS)


# -- formatting helpers ------------------------------------------------------------------------


def short_date(t: Translator, day: date | datetime) -> str:
    """A date without the year, for chart axes: ``۱۵ آذر`` (fa), ``15 Dec`` (en)."""
    if isinstance(day, datetime):
        day = t.local(day).date()
    if t.lang == "fa":
        jalali = jdatetime.date.fromgregorian(date=day, locale="fa_IR")
        return t.digits(f"{jalali.day} {jalali.j_months_fa[jalali.month - 1]}")
    return format_date(day, format="d MMM", locale=t.lang)


def _series(label: str, data: Sequence[float | None], **extra: Any) -> Json:
    return {"label": label, "data": list(data), **extra}


def _group_name(t: Translator, groups: dict[str, StakeholderGroup], key: str | None) -> str:
    group = groups.get(key) if key is not None else None
    return group_label(t, group if group is not None else key, html=False)


def _share(t: Translator, part: int, whole: int) -> str:
    return t._("{part} of {whole} ({percent})", part=part, whole=whole,
               percent=t.percent(part / whole if whole else 0))


def _took_part(t: Translator, part: int, whole: int) -> str:
    return t.ngettext("{n} of {whole} members took part ({percent}).",
                      "{n} of {whole} members took part ({percent}).", whole, n=part,
                      whole=whole, percent=t.percent(part / whole if whole else 0))


def page_text(t: Translator) -> dict[str, str]:
    """The page's own words, in the viewer's language (the page has no catalog of its own)."""
    return {
        "title": t._("Dashboard"),
        "loading": t._("Loading…"),
        "failed": t._("This could not be loaded. Close the dashboard and open it again."),
        "empty": t._("Nothing here yet."),
        "members": t._("Members by stakeholder group"),
        "over_time": t._("Who took part, by group (share of the group's members)"),
        "events": t._("Surveys, votes and elections"),
        "brainstorm": t._("Brainstorm board"),
        "results": t._("Vote results"),
        "timeline": t._("Tasks on a timeline"),
        "tree": t._("Problem tree"),
        "causes": t._("Causes"),
        "consequences": t._("Consequences"),
        "resources": t._("Resource map"),
        "actors": t._("Organisations and people that matter"),
        "overdue": t._("overdue"),
        "chat_only": t._("Ranking from chat stickers only:"),
        "csv": t._("Download CSV"),
        "xlsx": t._("Download XLSX"),
        "no_step": t._("The step the community is in appears here once the participation"
                       " cycle is set up."),
    }


async def overview(db: Database, v: Viewer) -> Json:
    """What the page needs first: language, direction, community, role and its sections."""
    t = v.t
    return {
        "lang": t.lang, "dir": "rtl" if is_rtl(t.lang) else "ltr",
        "community": {"id": v.community.id, "name": v.community.name},
        "role": v.role, "role_label": role_label(t, v.role),
        "sections": [{"key": s, "label": t._(SECTION_LABELS[s])} for s in v.sections],
        # Which step of the participation cycle the community is in (None before any).
        "step": process.step_line(t, await process.standing(db, v.community.id)),
        "text": page_text(t),
    }


# -- participation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str
    at: datetime
    title: str
    by_group: dict[str | None, int]


async def participation(db: Database, v: Viewer) -> Json:
    """Members by group (coordinators), and who took part in each survey, vote and election
    by group against the group's membership, oldest first: the seeds' "broad and targeted"
    engagement, seen over time."""
    require(v, "participation")
    t, cid = v.t, v.community.id
    groups = await community_store.stakeholder_groups(db, cid)
    by_key = {g.key: g for g in groups}
    counts = await community_store.member_counts(db, cid)
    members: dict[str | None, int] = counts["by_group"]
    total = int(counts["total"])
    events: list[_Event] = []
    vote_counts = await store.vote_participation(db, cid)
    for p in await voting_store.list_for(db, cid):
        if v.coordinator or not p.is_open:
            events.append(_Event("vote", p.created_at, p.title, vote_counts.get(p.id, {})))
    if v.coordinator:
        survey_counts = await store.survey_participation(db, cid)
        for s in await _surveys(db, cid):
            events.append(_Event("survey", s.opens_at,
                                 pick(s.title, t.lang, v.community.default_language),
                                 survey_counts.get(s.id, {})))
    election_counts = await store.election_participation(db, cid)
    statuses = ("voting", "closed") if v.coordinator else ("closed",)
    for e in await committee_store.elections(db, cid, *statuses):
        events.append(_Event("election", e.voting_close_at or e.created_at, e.name,
                             election_counts.get(e.id, {})))
    events = sorted(events, key=lambda e: e.at)[-MAX_EVENTS:]
    keys: list[str | None] = [g.key for g in groups if members.get(g.key)]
    if members.get(None):
        keys.append(None)
    chart_series = [_series(t._("All members"), [
        sum(e.by_group.values()) / total if total else None for e in events])]
    chart_series += [_series(_group_name(t, by_key, key), [
        e.by_group.get(key, 0) / members[key] for e in events]) for key in keys]
    result: Json = {
        "total": total, "total_text": t.ngettext("{n} member", "{n} members", total),
        "over_time": {
            "labels": [[short_date(t, e.at), _cut(e.title, 24)] for e in events],
            "series": chart_series, "percent": True,
        },
        "events": [{
            "kind": e.kind, "kind_label": t._(EVENT_KINDS[e.kind]), "title": e.title,
            "date": t.date(e.at),
            "took_part": sum(e.by_group.values()),
            "summary": _took_part(t, sum(e.by_group.values()), total),
            "groups": [{"label": _group_name(t, by_key, key),
                        "text": _share(t, e.by_group.get(key, 0), members[key])}
                       for key in keys],
        } for e in reversed(events)],
        "members": None,
    }
    if v.coordinator:
        result["members"] = {
            "labels": [_group_name(t, by_key, key) for key in keys],
            "series": [_series(t._("Members"), [members[key] for key in keys])],
        }
    return result


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _surveys(db: Database, community_id: int) -> list[Survey]:
    return (await survey_store.of_community(db, community_id, ("open", "closed")))[:MAX_SURVEYS]


# -- priorities ------------------------------------------------------------------------------


async def priorities(db: Database, v: Viewer) -> Json:
    """Each vote's result as a chart (open ones for coordinators only), and the board of the
    latest brainstorm."""
    require(v, "priorities")
    t, cid = v.t, v.community.id
    vote_counts = await store.vote_participation(db, cid)
    members = int((await community_store.member_counts(db, cid))["total"])
    votes = []
    for p in (await voting_store.list_for(db, cid)):
        if not (v.coordinator or not p.is_open):
            continue
        voters = sum(vote_counts.get(p.id, {}).values())
        votes.append(await _vote(db, t, p, voters, members))
        if len(votes) >= MAX_VOTES:
            break
    board: Json | None = None
    round_ = await brainstorm_store.latest_round(db, cid)
    if round_ is not None:
        cards = (await brainstorm_store.cards(db, round_.id))[:MAX_CARDS]
        board = {
            "prompt": round_.prompt,
            "status": t._("open") if round_.status == "open" else t._("closed"),
            "labels": [c.text for c in cards],
            "series": [_series(t._("People behind it"), [c.support for c in cards])],
            "shortlisted": [c.shortlisted for c in cards],
        }
    return {"votes": votes, "brainstorm": board}


def _expand(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Aggregated (…, count) rows back to one row per vote, for the voting rules."""
    return [row for *values, n in rows for row in repeat(tuple(values), n)]


async def _vote(db: Database, t: Translator, p: Prioritisation, voters: int,
                members: int) -> Json:
    problems = await voting_store.problems(db, p.id)
    series: list[Json]
    if p.method == "stickers":
        tally = await voting_store.sticker_tally(db, p.id)
        outcome = voting_rules.sticker_outcome(problems, tally, voters)
        ranked = [s.problem for s in outcome.standings]
        series = [_series(t._("In chat"), [tally.get(q.id, 0) for q in ranked], stack="all")]
        if any(q.offline for q in problems):
            series.append(_series(t._("On paper"), [q.offline for q in ranked], stack="all"))
    elif p.method == "pairwise":
        pairs = await store.pairwise_counts(db, p.id)
        # Bradley–Terry iterates in Python: off the event loop, so chat updates go on.
        outcome = await asyncio.to_thread(
            lambda: voting_rules.pairwise_outcome(problems, _expand(pairs), voters))
        series = [_series(t._("Share of the preference (%)"),
                          [s.score for s in outcome.standings])]
    else:
        rated = await store.matrix_counts(db, p.id)
        outcome = await asyncio.to_thread(
            lambda: voting_rules.matrix_outcome(problems, _expand(rated), voters))
        series = [_series(t._("Mean score (1 to 5)"),
                          [round(s.score, 2) for s in outcome.standings])]
    standings = outcome.standings
    rows = [{"rank": t.num(s.rank), "title": s.problem.title,
             "score": voting_rules.score_text(t, p.method, s)} for s in standings]
    return {
        "id": p.id, "title": p.title, "method": p.method,
        "method_label": t._(METHOD_LABELS[p.method]),
        "status": t._("open") if p.is_open else t._("closed"),
        "voters": voters, "voters_text": _took_part(t, voters, members),
        "labels": [s.problem.title for s in standings], "series": series,
        "rows": rows, "winner": _winner(t, outcome.winners),
        "chat_only": _chat_only(t, problems, standings, voters),
    }


def _winner(t: Translator, winners: list[Problem]) -> str:
    if not winners:
        return t._("No votes yet.")
    if len(winners) == 1:
        return t._("First place: {problem}", problem=winners[0].title)
    return t._("Tie for first place: {problems}",
               problems=("، " if t.lang == "fa" else ", ").join(w.title for w in winners))


def _chat_only(t: Translator, problems: list[Problem], standings: list[voting_rules.Standing],
               voters: int) -> list[Json] | None:
    """With paper stickers, the ranking from chat stickers alone (paper and chat apart)."""
    if not any(s.offline for s in standings):
        return None
    online = voting_rules.sticker_outcome(problems, {s.problem.id: s.online for s in standings},
                                          voters, include_offline=False)
    return [{"rank": t.num(s.rank), "title": s.problem.title,
             "score": t.ngettext("{n} sticker", "{n} stickers", int(s.score))}
            for s in online.standings]


# -- the plan --------------------------------------------------------------------------------


async def plan(db: Database, v: Viewer) -> Json:
    """Each plan's tasks on a timeline, its problem tree, and the community's resource map."""
    require(v, "plan")
    t, cid = v.t, v.community.id
    today = t.local(utcnow()).date()
    plans = []
    for p in (await plan_store.plans(db, cid))[:MAX_PLANS]:
        tasks = await plan_store.tasks(db, p.id)
        names = await _names(db, [task.responsible_id for task in tasks])
        items = await plan_store.tree(db, p.id)
        plans.append({
            "id": p.id, "problem": p.problem,
            "status": t._("evaluated") if p.status == "evaluated" else t._("active"),
            "progress": plan_rules.plan_progress(tasks),
            "progress_text": t._("Progress: {percent}",
                                 percent=t.percent(plan_rules.plan_progress(tasks) / 100)),
            "timeline": _timeline(t, tasks, names, today),
            "tree": {"causes": _tree(plan_rules.layout(items, "cause")),
                     "consequences": _tree(plan_rules.layout(items, "consequence"))},
        })
    resources = (await plan_store.resources(db, cid))[:MAX_RESOURCES]
    offered_by = await _names(db, [r.user_id for r in resources])
    kinds = []
    for kind, label in RESOURCE_KINDS.items():
        mine = [r for r in resources if r.kind == kind]
        if mine:
            kinds.append({"label": t._(label), "items": [
                {"text": r.description, "who": offered_by.get(r.user_id, "—")} for r in mine]})
    actors = [{"name": a.name, "text": f"{t._(SECTORS[a.sector])} · {t._(INFLUENCE[a.influence])}",
               "role": a.role} for a in await plan_store.actors(db, cid)]
    return {"plans": plans, "resources": kinds, "actors": actors}


async def _names(db: Database, user_ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({u for u in user_ids if u is not None})
    users = await community_store.get_users(db, wanted) if wanted else {}
    return {user_id: user.display_name for user_id, user in users.items()}


def _timeline(t: Translator, tasks: list[plan_store.Task], names: dict[int, str],
              today: date) -> Json:
    """Tasks as bars from start to due (days from the earliest date shown), with progress."""
    if not tasks:
        return {"tasks": [], "ticks": [], "today": 0, "min": 0, "max": 1}
    first = min([*(task.starts_on for task in tasks), today])
    last = max([*(task.due_on for task in tasks), today])
    span = max((last - first).days + 1, 1)
    step = max(span // 3, 1)
    ticks = [{"value": d, "label": short_date(t, first + timedelta(days=d))}
             for d in range(0, span + 1, step)]
    return {
        "min": 0, "max": span, "today": (today - first).days, "ticks": ticks,
        "tasks": [{
            "title": task.title,
            "who": names.get(task.responsible_id, "—") if task.responsible_id else "—",
            "start": (task.starts_on - first).days, "end": (task.due_on - first).days + 1,
            "progress": task.progress, "overdue": plan_rules.overdue(task, today),
            "text": " · ".join([
                t.percent(task.progress / 100), t._(TASK_STATUS[task.status]),
                t._("{start} to {due}", start=t.date(task.starts_on), due=t.date(task.due_on)),
            ]),
        } for task in tasks],
    }


def _tree(outline: list[plan_rules.Branch]) -> list[Json]:
    """The outline (depth, item) as nested nodes ``{"text", "children"}``."""
    roots: list[Json] = []
    stack: list[tuple[int, Json]] = []
    for branch in outline:
        node: Json = {"text": branch.item.text, "children": []}
        while stack and stack[-1][0] >= branch.depth:
            stack.pop()
        (stack[-1][1]["children"] if stack else roots).append(node)
        stack.append((branch.depth, node))
    return roots


# -- indicators ------------------------------------------------------------------------------


async def indicators(db: Database, v: Viewer) -> Json:
    """Every indicator's readings as a line against its baseline and target."""
    require(v, "indicators")
    t = v.t
    found = []
    for p in (await plan_store.plans(db, v.community.id))[:MAX_PLANS]:
        for indicator in await plan_store.indicators(db, p.id):
            readings = await plan_store.readings(db, indicator.id)
            toward = plan_rules.toward_target(indicator, readings)
            days = [r.on_day for r in readings] or [t.local(utcnow()).date()]
            found.append({
                "name": indicator.name, "unit": indicator.unit, "plan": p.problem,
                "text": t._("Baseline {baseline}, target {target} {unit}",
                            baseline=t.num(indicator.baseline),
                            target=t.num(indicator.target), unit=indicator.unit),
                "latest": (t._("Latest: {value} on {day} — {percent} of the way to the"
                               " target", value=t.num(readings[-1].value),
                               day=t.date(readings[-1].on_day),
                               percent=t.percent(toward or 0))
                           if readings else t._("No readings yet.")),
                "labels": [short_date(t, d) for d in days],
                "series": [
                    _series(t._("Readings"), [r.value for r in readings], kind="line"),
                    _series(t._("Baseline"), [indicator.baseline] * len(days), kind="level"),
                    _series(t._("Target"), [indicator.target] * len(days), kind="level"),
                ],
            })
    return {"indicators": found}


# -- surveys -----------------------------------------------------------------------------------


def _option_labels(t: Translator, q: Question, default: str) -> list[str]:
    if q.kind in ("single", "multiple"):
        return [pick(o, t.lang, default) for o in q.options]
    if q.kind == "yesno":
        return [t._("No"), t._("Yes")]
    if q.kind == "scale":
        return [t.num(n) for n in SCALE]
    return []


def summaries(survey: Survey, counted: Iterable[tuple[int, str | None, int]],
              texts: dict[int, list[str]]) -> list[Summary]:
    """Per-question summaries, as ``bot.flows.survey.summarise`` makes them, from counts per
    stored answer value instead of every response (a survey may have 100,000). ``texts``:
    some stored values of each free-text question."""
    per_value: dict[int, list[tuple[Any, int]]] = {}
    for question_id, value, n in counted:
        per_value.setdefault(question_id, []).append(
            (None if value is None else json.loads(value), n))
    found = []
    for q in survey.questions:
        given = per_value.get(q.id, [])
        answered = sum(n for _value, n in given)
        if q.kind == "text":
            found.append(Summary(q, answered, texts=[str(json.loads(v))
                                                     for v in texts.get(q.id, [])]))
        elif q.kind == "scale":
            counts = [sum(n for value, n in given if int(value) == k) for k in SCALE]
            mean = sum(k * c for k, c in zip(SCALE, counts, strict=True)) / answered \
                if answered else None
            found.append(Summary(q, answered, counts=counts, mean=mean))
        elif q.kind == "yesno":
            found.append(Summary(q, answered, counts=[sum(n for value, n in given if not value),
                                                      sum(n for value, n in given if value)]))
        else:
            counts = [0] * len(q.options)
            for value, n in given:
                for index in (value if isinstance(value, list) else [value]):
                    if 0 <= int(index) < len(counts):
                        counts[int(index)] += n
            found.append(Summary(q, answered, counts=counts))
    return found


async def surveys(db: Database, v: Viewer) -> Json:
    """Coordinators: each survey's responses against members, by group, and a chart per
    question; links to the CSV and XLSX exports."""
    require(v, "surveys")
    t, cid = v.t, v.community.id
    default = v.community.default_language
    groups = await community_store.stakeholder_groups(db, cid)
    by_key = {g.key: g for g in groups}
    members: dict[str | None, int] = (await community_store.member_counts(db, cid))["by_group"]
    total = sum(members.values())
    taking_part = await store.survey_participation(db, cid)
    found = []
    for s in await _surveys(db, cid):
        done = taking_part.get(s.id, {})
        counted = await store.survey_answer_counts(db, s.id)
        texts = {q.id: await store.survey_texts(db, s.id, q.id, MAX_TEXTS)
                 for q in s.questions if q.kind == "text"}
        responses = await store.finished_count(db, s.id)
        questions = []
        for summary in summaries(s, counted, texts):
            q = summary.question
            item: Json = {
                "prompt": f"{t.num(q.position + 1)}. {pick(q.prompt, t.lang, default)}",
                "kind": q.kind,
                "answered": t.ngettext("{n} answer", "{n} answers", summary.answered),
                "texts": summary.texts,
                "labels": _option_labels(t, q, default),
                "series": [] if q.kind == "text" else [
                    _series(t._("Answers"), summary.counts)],
                "mean": (t._("Average: {mean}", mean=t.num(summary.mean, decimals=1))
                         if summary.mean is not None else None),
            }
            questions.append(item)
        found.append({
            "id": s.id, "title": pick(s.title, t.lang, default),
            "status": {"open": t._("open"), "closed": t._("closed")}.get(s.status, s.status),
            "anonymous": s.anonymous,
            "responses": t._("Responses: {n} of {members} members ({share})", n=responses,
                             members=total, share=t.percent(responses / total if total else 0)),
            "groups": [{"label": _group_name(t, by_key, key),
                        "text": _share(t, done.get(key, 0), count)}
                       for key, count in members.items() if count],
            "questions": questions,
        })
    return {"surveys": found}


async def survey_file(db: Database, v: Viewer, survey_id: int, kind: str,
                      ) -> tuple[bytes, str, str]:
    """A survey's responses as CSV or XLSX (the chat's export, ``bot.flows.survey_export``):
    (content, file name, media type). The responses are read and the file is built in
    worker threads: an export of 100,000 responses holds neither the event loop nor the
    bot's database connection."""
    require(v, "surveys")
    survey = await survey_store.get(db, survey_id)
    if survey is None or survey.community_id != v.community.id or kind not in ("csv", "xlsx"):
        raise Refused(NO_SUCH_SURVEY)
    t, community = v.t, v.community
    kept: list[survey_store.Row] = []
    if db.path == ":memory:":  # no second connection to an in-memory database
        people = {} if survey.anonymous else {
            u.id: (u.display_name, m.stakeholder_group)
            for m, u in await community_store.members(db, community.id)}
        kept = list(export.from_responses(
            await survey_store.finished_responses(db, survey.id), people))
    headings = {"number": t._("Response"), "name": t._("Name"), "group": t._("Group"),
                "language": t._("Language")}
    titles = {"responses": t._("Responses"), "summary": t._("Summary"), "mean": t._("Average")}
    yes_no = (t._("No"), t._("Yes"))
    default = community.default_language

    def build() -> bytes:
        # Rows streamed from a connection of its own (one snapshot), counted as they go.
        source = kept if db.path == ":memory:" else survey_store.read_counted(
            db.path, survey.id, community.id)
        tally = export.Tally(survey)
        rows = export.table(survey, export.labelled(
            source, lambda g: group_label(t, g, html=False)), t.lang, default, headings,
            yes_no, tally)
        if kind == "csv":
            return export.to_csv(rows)
        return export.to_xlsx(rows, lambda: tally.summaries(survey), t.lang, default, titles,
                              lambda s: _option_labels(t, s.question, default),
                              is_rtl(t.lang))

    data = await asyncio.to_thread(build)
    media = "text/csv; charset=utf-8" if kind == "csv" else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return data, f"survey-{survey.id}.{kind}", media


SECTIONS = {
    "participation": participation,
    "priorities": priorities,
    "plan": plan,
    "indicators": indicators,
    "surveys": surveys,
}
