"""Cities: /city shows a community among the others — the city, district or neighbourhood it
belongs to and what lies below it — and everything a parent does with what lies below.

For an administrator, the tree (put a community under another, or at the top). For a
coordinator of a parent, each community below with its figures (members and participation
by stakeholder group, its top priorities, its plans), the merged list of the problems
prioritised below (merge, undo, and a vote over it by the committee or by everyone below),
and what was submitted for approval. For a coordinator of a child, what it may submit to
its parent. For everyone, a vote over the merged list they may take part in, and the
priorities decided above them. The rules are all in ``bot/flows/city.py``; this module
parses, calls one flow, renders.
"""

from __future__ import annotations

from datetime import date

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.app import MahfilApp
from bot.callbacks import Button, Id, Index, button
from bot.commands import Command
from bot.flows import city as flow
from bot.flows.errors import Refused
from bot.flows.people import JOIN_FIRST, Actor, Member
from bot.flows.process import step_line
from bot.flows.voting import score_text
from bot.handlers._common import (
    GuestTap,
    Tap,
    Tapped,
    Turn,
    command,
    guest_tap,
    notify,
    short,
    tap,
)
from bot.handlers._forms import Field, Filling, Form
from bot.i18n import N_, Translator, isolate
from bot.keyboards import inline, keyboard, page_of, pager
from bot.labels import group_label
from bot.messages import split_text

COMMANDS = [
    Command("city", N_("Your community among the others: above it, below it, and the"
                       " priorities decided together"), "resident"),
]

PAGE = 8  # communities, problems or submissions on a page
TREE_PAGE = 10
MAX_TARGETS = 40  # problems offered to merge into

KIND_LABELS = {"vote": N_("Vote result"), "cityvote": N_("Merged priorities"),
               "shortlist": N_("Brainstorm shortlist"), "plan": N_("Action plan")}
STATUS_MARKS = {"submitted": "⏳", "returned": "↩️", "approved": "✅"}
STATUS_LABELS = {"submitted": N_("waiting for a decision"), "returned": N_("returned"),
                 "approved": N_("approved")}
ELECTORATE_LABELS = {"committee": N_("by the committee"),
                     "below": N_("by everyone in the communities below")}


# == the buttons ================================================================================


@button("city", "home")
class Home(Button):
    """/city again (another page of the communities below)."""

    page: Index


@button("city", "tree", role=None)
class Tree(Button):
    """The administrator's tree of communities."""

    page: Index


@button("city", "move", role=None)
class Move(Button):
    """Choose where a community goes in the tree (a page of the places it may go)."""

    community: Id
    page: Index


@button("city", "under", role=None)
class Under(Button):
    """Put ``community`` under ``parent`` (0: at the top)."""

    community: Id
    parent: int


@button("city", "below", role="coordinator")
class Below(Button):
    """The figures of one community below the coordinator's."""

    community: Id


@button("city", "merged", role="coordinator")
class Merged(Button):
    """The merged list of the problems prioritised below."""

    page: Index


@button("city", "pick", role="coordinator")
class PickMerge(Button):
    """Merge this problem into another: choose which."""

    problem: Id


@button("city", "into", role="coordinator")
class Into(Button):
    problem: Id
    into: Id


@button("city", "undo", role="coordinator")
class Undo(Button):
    """Take back the latest merge (the one named)."""

    merge: Id


@button("city", "prioritise", role="coordinator")
class Prioritise(Button):
    """Open a sticker vote over the merged list, by the committee or by everyone below."""

    electorate: flow.Electorate


@button("city", "ballot")
class Ballot(Button):
    vote: Id
    page: Index


@button("city", "sticker")
class Sticker(Button):
    """Place (or take back) a sticker on the problem at ``position`` of a city vote."""

    vote: Id
    position: Index
    page: Index


@button("city", "close", role="coordinator")
class Close(Button):
    vote: Id


@button("city", "result")
class Result(Button):
    vote: Id


@button("city", "inbox", role="committee")
class Inbox(Button):
    """What the communities below submitted for approval."""

    page: Index


@button("city", "open")
class OpenSubmission(Button):
    submission: Id


@button("city", "approve", role="committee")
class Approve(Button):
    submission: Id


@button("city", "giveback", role="committee")
class GiveBack(Button):
    """Return a submission with a comment (a form)."""

    submission: Id


@button("city", "outbox", role="coordinator")
class Outbox(Button):
    """What this community may submit to its parent."""


@button("city", "submit", role="coordinator")
class Submit(Button):
    kind: flow.Kind
    ref: Id


@button("city", "resubmit", role="coordinator")
class Resubmit(Button):
    submission: Id


@button("city", "forward", role="coordinator")
class Forward(Button):
    """Carry something approved here up to this community's own parent."""

    submission: Id


# == small pieces ===============================================================================

Drawn = tuple[str, InlineKeyboardMarkup | None]


def _amount(t: Translator, value: float) -> str:
    return t.num(int(value)) if float(value).is_integer() else t.num(value, decimals=1)


def _score(t: Translator, method: str, score: float) -> str:
    """A score without a standing (a community's support, a snapshot's line), read as
    ``bot.flows.voting.score_text`` reads a standing's."""
    if method == "stickers":
        return t.ngettext("{n} sticker", "{n} stickers", int(score))
    if method == "pairwise":
        return t._("{share}% of the preference", share=t.num(score, decimals=1))
    return t._("mean score {score} of 5", score=t.num(score, decimals=2))


def _listed(t: Translator, items: list[str]) -> str:
    """Items in a line, with Persian's own comma."""
    return ("، " if t.lang == "fa" else ", ").join(items)


def _kind(t: Translator, kind: str) -> str:
    return t._(KIND_LABELS.get(kind, kind))


def _mark_line(t: Translator, mark: flow.Mark) -> str:
    parent = isolate(mark.parent.name)
    if mark.status == "approved":
        return t._("✅ Approved by {community} on {day}", community=parent, day=t.date(mark.at))
    if mark.status == "returned":
        return t._("↩️ Returned by {community} on {day}: {comment}", community=parent,
                   day=t.date(mark.at), comment=isolate(mark.comment or ""))
    return t._("⏳ Waiting for {community} since {day}", community=parent, day=t.date(mark.at))


def approval_lines(t: Translator, marks: list[flow.Mark]) -> list[str]:
    """Every level's decision on a plan, for /plan (``bot/handlers/plan.py``)."""
    return [_mark_line(t, mark) for mark in marks]


def _chain(t: Translator, view: flow.CityView) -> str | None:
    if not view.chain:
        return None
    return t._("Part of: {chain}", chain=" → ".join(isolate(c.name) for c in view.chain))


def _top_line(t: Translator, figures: flow.Figures) -> str:
    if figures.vote is None:
        return t._("No priority vote closed yet.")
    top = _listed(t, [isolate(s.problem.title) for s in figures.top]) or "—"
    return t._("Latest vote: {voters} of {members} took part · top: {top}",
               voters=figures.voters, members=figures.members, top=top)


# == /city ======================================================================================


@command("city", role=None)
async def city_command(turn: Turn[Actor]) -> None:
    who = turn.who
    member = who.as_member()
    if member is None:
        if not who.is_admin:
            raise Refused(JOIN_FIRST)
        await turn.say(*_tree_view(turn.t, await flow.tree(turn.context.db, who), 0))
        return
    for part in await _home(Turn(turn.update, turn.context, member), 0):
        await turn.say(*part)


async def _home(turn: Turn[Member], page_number: int) -> list[Drawn]:
    """The /city view, split if long (the buttons go under the last part)."""
    db, who, t = turn.context.db, turn.who, turn.t
    view = await flow.view(db, who)
    lines = [f"🏙 <b>{isolate(view.community.name)}</b>"]
    chain = _chain(t, view)
    if chain:
        lines.append(chain)
    rows: list[list[InlineKeyboardButton]] = []
    if view.children:
        lines.append(t.ngettext("{n} community below.", "{n} communities below.",
                                len(view.children)))
    if view.coordinator and view.children:
        page = page_of(view.children, page_number, PAGE)
        shown = await flow.figures_below(db, who, [c.id for c in page.items])
        lines.append("")
        for number, figures in enumerate(shown, start=page.first + 1):
            lines.append(f"{t.num(number)}. <b>{isolate(figures.community.name)}</b> — "
                         + t.ngettext("{n} member", "{n} members", figures.members))
            step = step_line(t, figures.standing)
            if step is not None:
                lines.append("    " + step)
            if figures.below:
                lines.append("    " + t.ngettext("{n} community below it",
                                                 "{n} communities below it", figures.below))
            lines.append("    " + _top_line(t, figures))
        rows += [[inline(f"{t.num(n)}. {short(c.name, 30)}", Below(c.id))]
                 for n, c in enumerate(page.items, start=page.first + 1)]
        rows.append(pager(t, page, Home))
        rows.append([inline(t._("Merged problems"), Merged(0))])
    if view.open_vote is not None and view.coordinator:
        lines += ["", t._("The vote over the merged list is open ({electorate}).",
                          electorate=t._(ELECTORATE_LABELS[view.open_vote.electorate]))]
        rows.append([inline(t._("Standings so far"), Result(view.open_vote.id)),
                     inline(t._("Close the vote"), Close(view.open_vote.id))])
    if view.decider and view.children:
        if view.waiting:
            lines += ["", t.ngettext("{n} submission waits for your decision.",
                                     "{n} submissions wait for your decision.", view.waiting)]
        rows.append([inline(t._("Submitted for approval") + (
            f" ({t.num(view.waiting)})" if view.waiting else ""), Inbox(0))])
    for vote, held in view.ballots:
        lines += ["", t._("Vote open: the priorities of {community}, {electorate}.",
                          community=isolate(held.name),
                          electorate=t._(ELECTORATE_LABELS[vote.electorate]))]
        rows.append([inline(t._("Vote: {community}", community=short(held.name, 30)),
                            Ballot(vote.id, 0))])
    for vote, held, outcome in view.results:
        lines += ["", t._("Priorities of {community}, {electorate}:",
                          community=isolate(held.name),
                          electorate=t._(ELECTORATE_LABELS[vote.electorate]))]
        lines += [f"{t.num(s.rank)}. {isolate(s.problem.title)} — {_score(t, 'stickers', s.score)}"
                  for s in outcome.standings[:3]]
        rows.append([inline(t._("Full result: {community}", community=short(held.name, 30)),
                            Result(vote.id))])
    if view.coordinator and view.chain:
        parent = view.chain[0]
        for submission in view.mine[:5]:
            lines.append(f"{STATUS_MARKS[submission.status]} {_kind(t, submission.kind)}: "
                         f"{isolate(short(submission.title, 60))} — "
                         + t._(STATUS_LABELS[submission.status]))
        rows.append([inline(t._("Submit to {community}", community=short(parent.name, 30)),
                            Outbox())])
    if who.is_admin:
        rows.append([inline(t._("Arrange communities"), Tree(0))])
    if len(lines) == 1:
        lines.append(t._("{community} is not under another community, and none is under it.",
                         community=isolate(view.community.name)))
    parts = split_text("\n".join(lines))
    return [(part, None) for part in parts[:-1]] + [(parts[-1], keyboard(*rows))]


@tap(Home)
async def home(turn: Tap[Home]) -> None:
    parts = await _home(turn, turn.button.page)
    await turn.answer()
    for text, markup in parts[:-1]:
        await turn.say(text, markup)
    await turn.edit(*parts[-1])


# == the tree (administrators) ==================================================================


def _tree_view(t: Translator, branches: list[flow.Branch], number: int) -> Drawn:
    lines = [t._("<b>Communities</b>"),
             t._("Tap a community to put it under another (a city, a district…).")]
    page = page_of(branches, number, TREE_PAGE)
    lines.append("")
    lines += [f"{'    ' * b.depth}• {isolate(b.community.name)}" for b in page.items]
    rows = [[inline(("    " * min(b.depth, 3)) + short(b.community.name, 30),
                    Move(b.community.id, 0))] for b in page.items]
    rows.append(pager(t, page, Tree))
    return "\n".join(lines), keyboard(*rows)


@guest_tap(Tree)
async def tree(turn: GuestTap[Tree]) -> None:
    branches = await flow.tree(turn.context.db, turn.who)
    await turn.answer()
    await turn.edit(*_tree_view(turn.t, branches, turn.button.page))


def _move_view(t: Translator, moving: flow.Moving, number: int) -> Drawn:
    community = isolate(moving.community.name)
    lines = [t._("Put <b>{community}</b> under which community?", community=community)]
    lines.append(t._("Now under {parent}.", parent=isolate(moving.parent.name))
                 if moving.parent is not None else t._("Now at the top."))
    page = page_of(moving.options, number, TREE_PAGE)
    rows = [[inline(("✓ " if moving.parent is not None and c.id == moving.parent.id else "")
                    + short(c.name, 40), Under(moving.community.id, c.id))]
            for c in page.items]
    rows.append(pager(t, page, lambda n: Move(moving.community.id, n)))
    rows.append([inline(t._("At the top (under none)"), Under(moving.community.id, 0))])
    rows.append([inline(t._("Back"), Tree(0))])
    return "\n".join(lines), keyboard(*rows)


@guest_tap(Move)
async def move(turn: GuestTap[Move]) -> None:
    moving = await flow.moving(turn.context.db, turn.who, turn.button.community)
    await turn.answer()
    await turn.edit(*_move_view(turn.t, moving, turn.button.page))


@guest_tap(Under)
async def under(turn: GuestTap[Under]) -> None:
    chosen = turn.button
    await flow.set_parent(turn.context.db, turn.who, chosen.community, chosen.parent or None)
    branches = await flow.tree(turn.context.db, turn.who)
    await turn.answer(turn.t._("Saved."))
    await turn.edit(*_tree_view(turn.t, branches, 0))


# == one community below ========================================================================


def _figures_view(t: Translator, figures: flow.Figures, below: list[flow.Community]) -> Drawn:
    lines = [f"<b>{isolate(figures.community.name)}</b>"]
    step = step_line(t, figures.standing)
    if step is not None:
        lines.append(step)
    lines += ["", t.ngettext("{n} member", "{n} members", figures.members)]
    voted = figures.voters_by_group
    for group in figures.groups:
        members = figures.members_by_group.get(group.key, 0)
        if members or voted.get(group.key):
            line = f"• {group_label(t, group)}: {t.num(members)}"
            if figures.vote is not None:
                line += " · " + t._("voted: {n}", n=voted.get(group.key, 0))
            lines.append(line)
    lines.append("")
    if figures.vote is None:
        lines.append(t._("No priority vote closed yet."))
    else:
        vote = figures.vote
        lines.append(t._("Latest vote: <b>{title}</b>, closed {day}", title=isolate(vote.title),
                         day=t.date(vote.closed_at or vote.created_at)))
        lines.append(t._("{voters} of {members} took part.", voters=figures.voters,
                         members=figures.members))
        lines.append(t._("Top priorities:"))
        lines += [f"{t.num(s.rank)}. {isolate(s.problem.title)} — "
                  f"{score_text(t, vote.method, s)}" for s in figures.top] or ["—"]
    if figures.plans:
        lines += ["", t._("Plans:")]
        for plan in figures.plans:
            lines.append(f"• {isolate(plan.plan.problem)} — {t.percent(plan.progress / 100)}")
            lines += ["    " + _mark_line(t, mark) for mark in plan.marks]
    rows = [[inline(short(c.name, 40), Below(c.id))] for c in below]
    rows.append([inline(t._("Back"), Home(0))])
    return "\n".join(lines), keyboard(*rows)


@tap(Below)
async def below(turn: Tap[Below]) -> None:
    db = turn.context.db
    figures = await flow.community_figures(db, turn.who, turn.button.community)
    text, markup = _figures_view(turn.t, figures,
                                 await flow.children_of(db, turn.who, turn.button.community))
    await turn.answer()
    await turn.edit(text, markup)


# == the merged list ============================================================================


def _sources_line(t: Translator, listed: flow.MergedList, entry: flow.Entry) -> str:
    parts = []
    for source_id, value in sorted(entry.by_source.items(), key=lambda kv: (-kv[1], kv[0])):
        community = listed.sources.get(source_id)
        method = listed.methods.get(source_id)
        if community is not None and method is not None:
            parts.append(f"{isolate(community.name)}: {_score(t, method, value)}")
    return " · ".join(parts)


def _merged_view(t: Translator, listed: flow.MergedList, number: int) -> Drawn:
    lines = [t._("<b>Merged problems of {community}</b>",
                 community=isolate(listed.community.name)),
             t.ngettext("From the latest closed vote of {n} community below.",
                        "From the latest closed votes of {n} communities below.",
                        len(listed.sources)),
             t._("The same problem from several communities: merge it, and each community's"
                 " support is kept and added up."), ""]
    page = page_of(listed.entries, number, PAGE)
    if not listed.entries:
        lines.append(t._("No community below has closed a priority vote yet."))
    for n, entry in enumerate(page.items, start=page.first + 1):
        lines.append(f"{t.num(n)}. <b>{isolate(entry.problem.title)}</b> — "
                     f"{_amount(t, entry.total)}")
        lines.append("    " + _sources_line(t, listed, entry))
        if entry.folded:
            lines.append("    " + t._("merged: {problems}", problems=_listed(
                t, [isolate(p.title) for p in entry.folded])))
    rows = [[inline(t._("Merge {number} into another", number=t.num(n)),
                    PickMerge(e.problem.id))]
            for n, e in enumerate(page.items, start=page.first + 1)] if len(
        listed.entries) > 1 else []
    rows.append(pager(t, page, Merged))
    if listed.last is not None:
        rows.append([inline(t._("Undo the last merge"), Undo(listed.last.id))])
    if listed.open_vote is not None:
        rows.append([inline(t._("Standings so far"), Result(listed.open_vote.id)),
                     inline(t._("Close the vote"), Close(listed.open_vote.id))])
    elif len(listed.entries) > 1:
        lines += ["", t._("Prioritise them again here: a sticker vote by the committee of"
                          " {community}, or by everyone in the communities below.",
                          community=isolate(listed.community.name))]
        rows.append([inline(t._("Vote by the committee"), Prioritise("committee")),
                     inline(t._("Vote by everyone below"), Prioritise("below"))])
    rows.append([inline(t._("Back"), Home(0))])
    return "\n".join(lines), keyboard(*rows)


async def _show_merged(turn: Tap[Merged] | Tap[Into] | Tap[Undo], number: int,
                       answer: str | None = None) -> None:
    listed = await flow.merged_list(turn.context.db, turn.who)
    text, markup = _merged_view(turn.t, listed, number)
    await turn.answer(answer)
    parts = split_text(text)
    for part in parts[:-1]:
        await turn.say(part)
    await turn.edit(parts[-1], markup)


@tap(Merged)
async def merged(turn: Tap[Merged]) -> None:
    await _show_merged(turn, turn.button.page)


@tap(PickMerge)
async def pick_merge(turn: Tap[PickMerge]) -> None:
    t = turn.t
    problem, targets = await flow.merge_targets(turn.context.db, turn.who, turn.button.problem)
    await turn.answer()
    await turn.edit(
        t._("Merge <b>{problem}</b> into which problem? Its support moves there; each"
            " community counts once.", problem=isolate(problem.title)),
        keyboard(*[[inline(short(e.problem.title, 50), Into(problem.id, e.problem.id))]
                   for e in targets[:MAX_TARGETS]],
                 [inline(t._("Back"), Merged(0))]))


@tap(Into)
async def into(turn: Tap[Into]) -> None:
    await flow.merge(turn.context.db, turn.who, turn.button.problem, turn.button.into)
    await _show_merged(turn, 0, turn.t._("Merged."))


@tap(Undo)
async def undo(turn: Tap[Undo]) -> None:
    await flow.undo(turn.context.db, turn.who, turn.button.merge)
    await _show_merged(turn, 0, turn.t._("Undone."))


# == the vote over the merged list ==============================================================


def _dots(used: int, budget: int) -> str:
    return "●" * used + "○" * max(budget - used, 0)


def _ballot_view(t: Translator, shown: flow.Ballot, number: int) -> Drawn:
    vote = shown.vote
    used = len(shown.mine)
    page = page_of(shown.items, number, PAGE)
    lines = [
        t._("<b>Priorities of {community}</b>", community=isolate(shown.community.name)),
        t._("The problems the communities below prioritised, merged. Which matter most?"),
        t.ngettext("Place your {n} sticker on the most pressing problem.",
                   "Place your {n} stickers on the most pressing problems.", vote.stickers),
        t._("Tap a problem to place a sticker; tap it again to take the sticker back."),
        "",
        t._("Your stickers: {dots}", dots=_dots(used, vote.stickers))
        + " " + t.ngettext("({n} left)", "({n} left)", shown.left),
        "",
    ]
    for item in page.items:
        mark = " ●" if item.id in shown.mine else ""
        lines.append(f"{t.num(item.position)}. {isolate(item.title)}{mark}")
    lines += ["", t._("Closes when a coordinator closes it.")]
    rows = [[inline(f"{'●' if item.id in shown.mine else '○'} {t.num(item.position)}. "
                    f"{short(item.title)}", Sticker(vote.id, item.position, page.number))]
            for item in page.items]
    rows.append(pager(t, page, lambda n: Ballot(vote.id, n)))
    return "\n".join(lines), keyboard(*rows)


@tap(Prioritise)
async def prioritise(turn: Tap[Prioritise]) -> None:
    t = turn.t
    opened = await flow.open_vote(turn.context.db, turn.who, turn.button.electorate)
    vote, held = opened.vote, turn.who.community
    people = sum(len(users) for _c, users in opened.audience)
    await turn.answer()
    await turn.edit(t.ngettext("The vote is open. Announcing it to {n} person…",
                               "The vote is open. Announcing it to {n} people…", people),
                    keyboard([inline(t._("Standings so far"), Result(vote.id)),
                              inline(t._("Close the vote"), Close(vote.id))]))

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup | None]:
        return "\n".join([
            t.ngettext("{community} prioritises the problems of the communities below"
                       " together: {n} problem, merged from their votes.",
                       "{community} prioritises the problems of the communities below"
                       " together: {n} problems, merged from their votes.",
                       opened.problems, community=isolate(held.name)),
            t.ngettext("You have {n} sticker.", "You have {n} stickers.", vote.stickers),
        ]), keyboard([inline(t._("Vote now"), Ballot(vote.id, 0))])

    for community, users in opened.audience:
        await notify(turn.app, community, users, render, key=f"city-vote:{vote.id}")


@tap(Ballot)
async def ballot(turn: Tap[Ballot]) -> None:
    shown = await flow.ballot(turn.context.db, turn.who, turn.button.vote)
    await turn.answer()
    await turn.edit(*_ballot_view(turn.t, shown, turn.button.page))


@tap(Sticker)
async def sticker(turn: Tap[Sticker]) -> None:
    chosen = turn.button
    shown, _placed = await flow.toggle(turn.context.db, turn.who, chosen.vote, chosen.position)
    await turn.answer(turn.t.ngettext("{n} sticker left", "{n} stickers left", shown.left))
    await turn.edit(*_ballot_view(turn.t, shown, chosen.page))


def _result_text(t: Translator, result: flow.CityResult) -> str:
    vote, outcome = result.vote, result.outcome
    head = (t._("Result: the priorities of {community}", community=isolate(result.community.name))
            if not vote.is_open else
            t._("Standings so far: the priorities of {community}",
                community=isolate(result.community.name)))
    lines = [f"<b>{head}</b>", t._(ELECTORATE_LABELS[vote.electorate]),
             t.ngettext("{n} person voted.", "{n} people voted.", outcome.voters), ""]
    lines += [f"{t.num(s.rank)}. {isolate(s.problem.title)} — {_score(t, 'stickers', s.score)}"
              for s in outcome.standings]
    if result.by_community:
        lines += ["", t._("Voters by community:")]
        lines += [f"• {isolate(c.name)}: {t.num(n)}" for c, n in result.by_community]
    return "\n".join(lines)


@tap(Result)
async def result(turn: Tap[Result]) -> None:
    found = await flow.results_of(turn.context.db, turn.who, turn.button.vote)
    await turn.answer()
    for part in split_text(_result_text(turn.t, found)):
        await turn.say(part)


@tap(Close)
async def close(turn: Tap[Close]) -> None:
    found, told = await flow.close_vote(turn.context.db, turn.who, turn.button.vote)
    await turn.answer(turn.t._("The vote has closed."))
    await turn.edit_markup(None)

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup | None]:
        return t._("The vote has closed.") + "\n\n" + _result_text(t, found), None

    for community, users in told:
        await notify(turn.app, community, users, render, key=f"city-result:{found.vote.id}")


# == approval up the chain ======================================================================


def _content_lines(t: Translator, submission: flow.Submission) -> list[str]:
    content = submission.content
    if submission.kind == "plan":
        lines = [t._("Progress: {percent}", percent=t.percent(content.get("progress", 0) / 100))]
        for n, task in enumerate(content.get("tasks", []), start=1):
            who = task.get("responsible") or "—"
            lines.append(f"{t.num(n)}. {isolate(task['title'])} — {isolate(who)} · "
                         f"{t.percent(task['progress'] / 100)} · "
                         + t._("due {day}", day=t.date(date.fromisoformat(task["due_on"]))))
        return lines or [t._("No tasks yet.")]
    if submission.kind == "shortlist":
        return [f"{t.num(n)}. {isolate(item['title'])} — "
                + t.ngettext("{n} supporter", "{n} supporters", int(item["score"]))
                for n, item in enumerate(content.get("items", []), start=1)]
    method = content.get("method", "stickers")
    lines = [t.ngettext("{n} person voted.", "{n} people voted.", int(content.get("voters", 0)))]
    lines += [f"{t.num(item['rank'])}. {isolate(item['title'])} — "
              f"{_score(t, method, item['score'])}" for item in content.get("items", [])]
    return lines


def _event_line(t: Translator, event: flow.Event, names: dict[int, str]) -> str:
    name = isolate(names.get(event.by_id, "—") if event.by_id is not None else "—")
    day = t.date(event.at)
    if event.status == "approved":
        return t._("{day}: approved by {name}", day=day, name=name)
    if event.status == "returned":
        return t._("{day}: returned by {name}: {comment}", day=day, name=name,
                   comment=isolate(event.comment or ""))
    return t._("{day}: submitted by {name}", day=day, name=name)


def _submission_view(t: Translator, view: flow.SubmissionView) -> Drawn:
    submission = view.submission
    lines = [f"<b>{_kind(t, submission.kind)}: {isolate(submission.title)}</b>",
             t._("From {community} to {parent}", community=isolate(view.community.name),
                 parent=isolate(view.parent.name)),
             t._("Status: {status}", status=t._(STATUS_LABELS[submission.status])), ""]
    lines += _content_lines(t, submission)
    lines += ["", t._("History:")]
    lines += ["• " + _event_line(t, e, view.names) for e in view.events]
    others = [m for m in view.chain if m.submission.id != submission.id]
    if others:
        lines += ["", t._("At every level:")]
        lines += [_mark_line(t, m) for m in view.chain]
    rows: list[list[InlineKeyboardButton]] = []
    if view.may_decide:
        rows.append([inline(t._("Approve"), Approve(submission.id)),
                     inline(t._("Return with a comment"), GiveBack(submission.id))])
    if view.may_resubmit:
        rows.append([inline(t._("Submit again"), Resubmit(submission.id))])
    if view.may_forward:
        rows.append([inline(t._("Carry it up"), Forward(submission.id))])
    rows.append([inline(t._("Back"), Home(0))])
    return "\n".join(lines), keyboard(*rows)


async def _show_submission(turn: Turn[Member], submission_id: int, *, edit: bool,
                           answer: str | None = None) -> None:
    """The submission, in place of the tapped message (a long one as new messages); a tap
    is answered with ``answer`` once it is known the person may read it."""
    view = await flow.submission(turn.context.db, turn.who, submission_id)
    text, markup = _submission_view(turn.t, view)
    parts = split_text(text)
    if isinstance(turn, Tapped):
        await turn.answer(answer)
    if isinstance(turn, Tapped) and edit and len(parts) == 1:
        await turn.edit(text, markup)
        return
    for part in parts[:-1]:
        await turn.say(part)
    await turn.say(parts[-1], markup)


@tap(OpenSubmission)
async def open_submission(turn: Tap[OpenSubmission]) -> None:
    await _show_submission(turn, turn.button.submission, edit=True)


@tap(Inbox)
async def inbox(turn: Tap[Inbox]) -> None:
    t = turn.t
    found = await flow.inbox(turn.context.db, turn.who)
    page = page_of(found, turn.button.page, PAGE)
    lines = [t._("<b>Submitted to {community} for approval</b>",
                 community=isolate(turn.who.community.name)), ""]
    if not found:
        lines.append(t._("Nothing has been submitted yet."))
    names = await flow.community_names(turn.context.db, [s.community_id for s in page.items])
    rows = []
    for submission in page.items:
        source = names.get(submission.community_id, "—")
        lines.append(f"{STATUS_MARKS[submission.status]} {isolate(source)} — "
                     f"{_kind(t, submission.kind)}: {isolate(short(submission.title, 60))}")
        rows.append([inline(f"{STATUS_MARKS[submission.status]} {short(source, 20)}: "
                            f"{short(submission.title, 30)}", OpenSubmission(submission.id))])
    rows.append(pager(t, page, Inbox))
    rows.append([inline(t._("Back"), Home(0))])
    await turn.answer()
    await turn.edit("\n".join(lines), keyboard(*rows))


async def _tell_deciders(app: MahfilApp, done: flow.Submitted) -> None:
    submission = done.submission

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup | None]:
        return t._("{community} submitted for your approval: {kind} — <b>{title}</b>.",
                   community=isolate(done.community.name), kind=_kind(t, submission.kind),
                   title=isolate(submission.title)), keyboard(
            [inline(t._("Open"), OpenSubmission(submission.id))])

    await notify(app, done.parent, done.deciders, render,
                 key=f"city-submitted:{submission.id}:{done.event.id}")


async def _submitted(turn: Tap[Submit] | Tap[Resubmit] | Tap[Forward],
                     done: flow.Submitted) -> None:
    await _tell_deciders(turn.app, done)
    await _show_submission(turn, done.submission.id, edit=True, answer=turn.t._(
        "Submitted to {community}.", community=short(done.parent.name, 40)))


@tap(Outbox)
async def outbox(turn: Tap[Outbox]) -> None:
    t = turn.t
    found = await flow.outbox(turn.context.db, turn.who)
    lines = [t._("<b>Submit to {community}</b>", community=isolate(found.parent.name)),
             t._("Choose what {community} submits for approval. Its committee or its"
                 " coordinators approve it or return it with a comment; the members of"
                 " {child} are told either way.", community=isolate(found.parent.name),
                 child=isolate(found.community.name))]
    rows: list[list[InlineKeyboardButton]] = []
    for thing in found.things:
        label = f"{_kind(t, thing.kind)}: {short(thing.title, 36)}"
        if thing.submission is None:
            rows.append([inline(label, Submit(thing.kind, thing.ref_id))])
        else:
            rows.append([inline(f"{STATUS_MARKS[thing.submission.status]} {label}",
                                OpenSubmission(thing.submission.id))])
    if not found.things:
        lines += ["", t._("Nothing to submit yet: a closed priority vote, a brainstorm"
                          " shortlist or an action plan.")]
    if found.approved_below:
        lines += ["", t._("Approved here and not yet carried up to {community}:",
                          community=isolate(found.parent.name))]
        rows += [[inline(f"⬆️ {short(s.title, 40)}", OpenSubmission(s.id))]
                 for s in found.approved_below]
    rows.append([inline(t._("Back"), Home(0))])
    await turn.answer()
    await turn.edit("\n".join(lines), keyboard(*rows))


@tap(Submit)
async def submit(turn: Tap[Submit]) -> None:
    await _submitted(turn, await flow.submit(turn.context.db, turn.who, turn.button.kind,
                                             turn.button.ref))


@tap(Resubmit)
async def resubmit(turn: Tap[Resubmit]) -> None:
    await _submitted(turn, await flow.resubmit(turn.context.db, turn.who,
                                               turn.button.submission))


@tap(Forward)
async def forward(turn: Tap[Forward]) -> None:
    await _submitted(turn, await flow.forward(turn.context.db, turn.who,
                                              turn.button.submission))


async def _tell_members(app: MahfilApp, decided: flow.Decided) -> None:
    """Everyone in the submitting community (and in those whose submission it carries)
    hears the decision, in their language."""
    submission, parent = decided.submission, decided.parent

    def render(t: Translator, _user: flow.User) -> tuple[str, InlineKeyboardMarkup | None]:
        what = dict(kind=_kind(t, submission.kind), title=isolate(submission.title),
                    parent=isolate(parent.name))
        if submission.status == "approved":
            return t._("✅ {parent} approved: {kind} — <b>{title}</b>.", **what), None
        return t._("↩️ {parent} returned: {kind} — <b>{title}</b>. Their comment: {comment}",
                   comment=isolate(decided.event.comment or ""), **what), None

    for community, people in decided.told:
        await notify(app, community, people, render,
                     key=f"city-decided:{submission.id}:{decided.event.id}")


@tap(Approve)
async def approve(turn: Tap[Approve]) -> None:
    decided = await flow.approve(turn.context.db, turn.who, turn.button.submission)
    await _tell_members(turn.app, decided)
    await _show_submission(turn, decided.submission.id, edit=True, answer=turn.t._(
        "Approved. The members of {community} are told.",
        community=short(decided.told[0][0].name, 40) if decided.told else "—"))


async def _returnable(filling: Filling, text: str) -> str:
    return flow.check_comment(text)


RETURN = Form("city.return", [
    Field("comment", N_("What should change? Write your comment; the members of the"
                        " community that submitted it will read it."), "text",
          limit=flow.MAX_COMMENT, check=_returnable)], role="committee")


@tap(GiveBack)
async def give_back(turn: Tap[GiveBack]) -> None:
    found = await flow.may_return(turn.context.db, turn.who, turn.button.submission)
    await turn.answer()
    await RETURN.begin(turn, submission=found.id)


@RETURN.finisher
async def _returned(filling: Filling) -> None:
    turn, t = filling.turn, filling.t
    decided = await flow.give_back(filling.context.db, filling.who, filling.ids["submission"],
                                   filling.values["comment"])
    await turn.say(t._("Returned with your comment. The members of {community} are told.",
                       community=isolate(decided.told[0][0].name) if decided.told else "—"))
    await _tell_members(turn.app, decided)
    await _show_submission(turn, decided.submission.id, edit=False)


# == wiring =====================================================================================


def register(app: MahfilApp) -> None:
    app.add_handlers([h.handler for h in (
        city_command, home, tree, move, under, below, merged, pick_merge, into, undo,
        prioritise, ballot, sticker, result, close, open_submission, inbox, outbox, submit,
        resubmit, forward, approve, give_back)])

