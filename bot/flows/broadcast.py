"""Communication rules: audiences, language versions, quiet hours, retry back-off.

No Telegram here: what to send to whom and when. ``bot/delivery.py`` does the sending.
A coordinator's broadcast is a :class:`Draft` until it is sent; everything done with it —
choosing the audience, adding a version, previewing, sending, cancelling — is checked
here: the coordinator's role, and that what it names belongs to their community.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.flows import typed
from bot.flows.errors import STALE, Refused
from bot.flows.people import Member, require
from bot.flows.schedule import hold_until, quiet_until
from bot.flows.survey import pick
from bot.i18n import LANGUAGES, N_
from storage import broadcast as store
from storage import city as city_store
from storage import committee as committee_store
from storage import community as community_store
from storage import survey as survey_store
from storage import voting as voting_store
from storage.broadcast import Broadcast, Progress, Recipient
from storage.community import Community, StakeholderGroup, User
from storage.db import Database

__all__ = ["Audience", "Broadcast", "Community", "Draft", "Preview", "Progress", "Recipient",
           "Tracked", "User", "hold_until", "quiet_until"]

MAX_TEXT = 4096  # Telegram's limit for a message
MAX_CAPTION = 1024  # and for a photo's caption
MAX_ATTEMPTS = 8  # network errors and 5xx before a message counts as failed
NOT_AVAILABLE = N_("This audience is not available.")
BROADCAST_NOT_AVAILABLE = N_("This broadcast is not available to you.")
NOBODY = N_("Nobody is in this audience. Choose another one.")
QUIET_HOURS_HINT = N_("Give two hours from 0 to 23, e.g. /quiethours 22 8, or off.")


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures: 2, 4, 8 … at most 5 minutes."""
    return float(min(300, 2 ** max(1, attempts)))


def check_text(text: str, *, caption: bool) -> str:
    text = text.strip()
    limit = MAX_CAPTION if caption else MAX_TEXT
    if not text:
        raise Refused(N_("Please write the message."))
    if len(text) > limit:
        raise Refused(N_("That is too long for Telegram: at most {limit} characters."),
                      limit=limit)
    return text


def version_language(texts: dict[str, str], language: str, default_language: str,
                     first: str) -> str:
    """Which version a person receives: theirs, else the community's default, else the first."""
    for candidate in (language, default_language):
        if texts.get(candidate):
            return candidate
    return first


def version_for(texts: dict[str, str], language: str, default_language: str,
                first: str) -> str:
    """The text a person receives (see :func:`version_language`)."""
    return texts[version_language(texts, language, default_language, first)]


async def resolve(db: Database, community: Community, audience: str) -> store.Audience:
    """Whom an audience names, checked and resolved for the SQL that reads it.

    ``all``; ``group:<key>`` (a stakeholder group); ``committee:<id>`` (a committee or working
    group); ``novote:<id>`` (members who have not taken part in a priority vote);
    ``noballot:<id>`` (members who have not voted in a committee election);
    ``nosurvey:<id>`` (members who have not finished a survey); and from a parent
    (``bot/flows/city.py``) ``below`` (every member of the community and of every community
    below it) and ``child:<id>`` (every member of one community below it and of what lies
    below that), each person once.
    """
    kind, _, value = audience.partition(":")
    if kind == "below":
        return store.Audience((community.id,
                               *await city_store.descendants(db, community.id)))
    if kind == "child":
        below = await city_store.descendants(db, community.id)
        if not value.isdigit() or int(value) not in below:
            raise Refused(NOT_AVAILABLE)
        return store.Audience((int(value), *await city_store.descendants(db, int(value))))
    if kind == "all":
        return store.Audience((community.id,))
    if kind == "group":
        return store.Audience((community.id,), "group", value)
    if not value.isdigit():
        raise Refused(NOT_AVAILABLE)
    if kind == "committee":
        committee = await committee_store.get_committee(db, int(value))
        if committee is None or committee.community_id != community.id:
            raise Refused(NOT_AVAILABLE)
        return store.Audience((community.id,), "committee", committee.id)
    if kind == "novote":
        prioritisation = await voting_store.get(db, int(value))
        if prioritisation is None or prioritisation.community_id != community.id:
            raise Refused(NOT_AVAILABLE)
        return store.Audience((community.id,), "novote", prioritisation.id,
                              prioritisation.method)
    if kind == "noballot":
        election = await committee_store.get_election(db, int(value))
        if election is None or election.community_id != community.id:
            raise Refused(NOT_AVAILABLE)
        return store.Audience((community.id,), "noballot", election.id)
    if kind == "nosurvey":
        survey = await survey_store.get(db, int(value))
        if survey is None or survey.community_id != community.id:
            raise Refused(NOT_AVAILABLE)
        return store.Audience((community.id,), "nosurvey", survey.id)
    raise Refused(NOT_AVAILABLE)


async def recipients(db: Database, community: Community, audience: str) -> list[Recipient]:
    """The reachable members an audience names (see :func:`resolve`): id and language only,
    read from SQL a chunk at a time, each person once."""
    return await store.recipients(db, await resolve(db, community, audience))


# -- audiences -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """An audience a coordinator may choose: its key (``group:activist``, ``novote:3`` …,
    see :func:`recipients`) and what names it."""

    key: str
    group: StakeholderGroup | None = None
    name: str = ""  # a committee's, a vote's, an election's or a community's
    titles: Mapping[str, str] = field(default_factory=dict)  # a survey's, by language

    @property
    def kind(self) -> str:
        return self.key.partition(":")[0]

    def title(self, lang: str, default: str) -> str:
        """The name in ``lang`` (a survey's title has one per language)."""
        return pick(dict(self.titles), lang, default) if self.titles else self.name


async def audiences(db: Database, who: Member) -> list[Audience]:
    """What a coordinator may address in their community: everyone, a stakeholder group, a
    committee, or those who have not yet voted or answered in something open — and, when
    communities lie below theirs, everyone below or one community below with its own."""
    require(who, "coordinator")
    community_id = who.community.id
    found = [Audience("all")]
    children = await city_store.children(db, community_id)
    if children:
        found.append(Audience("below", name=who.community.name))
        found += [Audience(f"child:{c.id}", name=c.name) for c in children]
    found += [Audience(f"group:{g.key}", group=g)
              for g in await community_store.stakeholder_groups(db, community_id)]
    found += [Audience(f"committee:{c.id}", name=c.name)
              for c in await committee_store.committees(db, community_id)]
    found += [Audience(f"novote:{v.id}", name=v.title)
              for v in await voting_store.list_for(db, community_id, status="open")]
    found += [Audience(f"noballot:{e.id}", name=e.name)
              for e in await committee_store.elections(db, community_id, "voting")]
    found += [Audience(f"nosurvey:{s.id}", titles=s.title)
              for s in await survey_store.of_community(db, community_id, ("open",))]
    return found


async def reach(db: Database, who: Member, audience: str) -> list[Recipient]:
    """The reachable members a coordinator's audience names in their community."""
    require(who, "coordinator")
    return await recipients(db, who.community, audience)


async def reach_count(db: Database, who: Member, audience: str) -> int:
    """How many people the audience reaches (what the draft card and Send button show)."""
    return len(await reach(db, who, audience))


# -- drafts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draft:
    """A broadcast being written: a text per language (``first`` is the one written first),
    an optional photo (the texts are then its caption) and the audience."""

    texts: dict[str, str]
    first: str
    photo: str | None = None
    audience: str = "all"

    @classmethod
    def load(cls, values: Mapping[str, Any]) -> Draft:
        """A draft kept as plain values (in a form, across a restart)."""
        return cls(dict(values["texts"]), values["first"], values.get("photo"),
                   values.get("audience", "all"))

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def missing(self) -> list[str]:
        """The languages it has no version in yet."""
        return [lang for lang in LANGUAGES if lang not in self.texts]


def new_draft(text: str, photo: str | None, lang: str) -> Draft:
    """The draft a coordinator's first message makes, in their language, to everyone."""
    return Draft({lang: check_text(text, caption=photo is not None)}, lang, photo)


def add_version(draft: Draft, lang: str, text: str) -> Draft:
    if lang not in LANGUAGES:
        raise Refused(STALE)
    text = check_text(text, caption=draft.photo is not None)
    return replace(draft, texts={**draft.texts, lang: text})


async def choose_audience(db: Database, who: Member, draft: Draft, audience: str) -> Draft:
    if audience not in {a.key for a in await audiences(db, who)}:
        raise Refused(NOT_AVAILABLE)
    return replace(draft, audience=audience)


@dataclass(frozen=True, slots=True)
class Preview:
    """What the coordinator's own version looks like, and how many get each version."""

    text: str
    recipients: int
    by_language: dict[str, int]


async def preview(db: Database, who: Member, draft: Draft) -> Preview:
    require(who, "coordinator")
    audience = await resolve(db, who.community, draft.audience)
    default = who.community.default_language
    by_language: Counter[str] = Counter()
    for language, n in (await store.by_language(db, audience)).items():
        by_language[version_language(draft.texts, language, default, draft.first)] += n
    return Preview(version_for(draft.texts, who.t.lang, default, draft.first),
                   sum(by_language.values()), dict(sorted(by_language.items())))


async def check_sendable(db: Database, who: Member, draft: Draft) -> None:
    """Refused while nobody is in the audience (the draft stays as it is)."""
    require(who, "coordinator")
    if not await store.anyone_in(db, await resolve(db, who.community, draft.audience)):
        raise Refused(NOBODY)


async def send(db: Database, who: Member, draft: Draft, *,
               paid: bool) -> tuple[Broadcast, int]:
    """The broadcast and a queued message per recipient, each in their version; returns it
    with the number of messages.

    The outbox is filled a chunk of recipients at a time, each chunk its own short
    transaction that also moves the broadcast's cursor, so a broadcast to a city neither
    holds the connection nor the loop; a restart in between resumes (:func:`resume`), and
    the broadcast is not done before the last chunk is in."""
    require(who, "coordinator")
    audience = await resolve(db, who.community, draft.audience)
    if not await store.anyone_in(db, audience):
        raise Refused(NOBODY)
    broadcast = await store.begin_broadcast(
        db, who.community.id, who.user.id, draft.audience, draft.texts, draft.first,
        draft.photo, paid=paid, start_in=audience.community_ids[0])
    await _queue(db, broadcast, audience, 0, 0, draft.texts, draft.first,
                 who.community.default_language)
    return broadcast, await store.queued(db, broadcast.id)


async def _queue(db: Database, broadcast: Broadcast, audience: store.Audience, position: int,
                 after: int, texts: dict[str, str], first: str, default: str) -> None:
    text_for = {lang: version_for(texts, lang, default, first) for lang in LANGUAGES}
    fallback = version_for(texts, "", default, first)
    while position < len(audience.community_ids):
        last = await store.queue_chunk(db, broadcast, audience, position, after, text_for,
                                       fallback)
        if last is None:
            position, after = position + 1, 0
            if await store.is_cancelled(db, broadcast.id):
                break
        else:
            after = last
    await store.finish_if_done(db, broadcast.id)


async def resume(db: Database) -> int:
    """At start: finish queuing the broadcasts a restart interrupted; returns how many.

    The audience is read again (whoever joined meanwhile is in it); the rows already queued
    stay, and the cursor says where to go on."""
    resumed = 0
    for found in await store.queuing(db):
        broadcast = found.broadcast
        community = await community_store.get_community(db, broadcast.community_id)
        try:
            if community is None:
                raise Refused(NOT_AVAILABLE)
            audience = await resolve(db, community, broadcast.audience)
        except Refused:
            await store.stop_queuing(db, broadcast.id)
            await store.finish_if_done(db, broadcast.id)
            continue
        ids = audience.community_ids
        position = ids.index(found.queued_in) if found.queued_in in ids else 0
        after = found.queued_upto if found.queued_in in ids else 0
        await _queue(db, broadcast, audience, position, after, found.texts, found.first,
                     community.default_language)
        resumed += 1
    return resumed


# -- a broadcast on its way ------------------------------------------------------------------


async def _own(db: Database, who: Member, broadcast_id: int) -> Broadcast:
    require(who, "coordinator")
    broadcast = await store.get_broadcast(db, broadcast_id)
    if broadcast is None or broadcast.community_id != who.community.id:
        raise Refused(BROADCAST_NOT_AVAILABLE)
    return broadcast


async def track(db: Database, who: Member, broadcast_id: int, chat_id: int,
                message_id: int) -> None:
    """The message that shows the sender how far the broadcast has got."""
    broadcast = await _own(db, who, broadcast_id)
    await store.set_progress_message(db, broadcast.id, chat_id, message_id)


async def cancel(db: Database, who: Member, broadcast_id: int, *,
                 stopping: Callable[[int], None]) -> int:
    """Stop a broadcast of the coordinator's community; returns how many messages will not
    be sent. ``stopping`` hears of it first, so messages already handed to the sender are
    held back too."""
    broadcast = await _own(db, who, broadcast_id)
    stopping(broadcast.id)
    return await store.cancel(db, broadcast.id)


@dataclass(frozen=True, slots=True)
class Tracked:
    """A broadcast's progress as its sender sees it."""

    broadcast: Broadcast
    sender: User
    community: Community
    progress: Progress
    chat_id: int
    message_id: int


async def tracked(db: Database, broadcast_id: int) -> Tracked | None:
    """The progress to show, if the broadcast has a progress message and its sender."""
    broadcast = await store.get_broadcast(db, broadcast_id)
    if (broadcast is None or broadcast.progress_chat_id is None
            or broadcast.progress_message_id is None or broadcast.created_by is None):
        return None
    sender = await community_store.get_user(db, broadcast.created_by)
    community = await community_store.get_community(db, broadcast.community_id)
    if sender is None or community is None:
        return None
    return Tracked(broadcast, sender, community, await store.progress(db, broadcast.id),
                   broadcast.progress_chat_id, broadcast.progress_message_id)


# -- quiet hours -----------------------------------------------------------------------------


def quiet_hours(community: Community) -> tuple[int, int] | None:
    """The community's quiet hours (from, to), or None when there are none."""
    if community.quiet_start == community.quiet_end:
        return None
    return community.quiet_start, community.quiet_end


def parse_quiet_hours(args: Sequence[str]) -> tuple[int, int]:
    """``22 8`` (from 22:00 to 08:00; any digits) or ``off`` (start == end: none)."""
    if [a.lower() for a in args] == ["off"]:
        return 0, 0
    if len(args) == 2:
        start, end = typed.to_int(args[0]), typed.to_int(args[1])
        if start is not None and end is not None and 0 <= start <= 23 and 0 <= end <= 23:
            return start, end
    raise Refused(QUIET_HOURS_HINT)


async def set_quiet_hours(db: Database, who: Member, start: int, end: int) -> None:
    require(who, "coordinator")
    if not (0 <= start <= 23 and 0 <= end <= 23):
        raise Refused(QUIET_HOURS_HINT)
    await community_store.set_quiet_hours(db, who.community.id, start, end)


@dataclass(frozen=True, slots=True)
class Notice:
    """One message of a notice to one person, already in their language."""

    user_id: int
    text: str
    markup: dict[str, Any] | None  # Telegram's inline keyboard, as the Bot API spells it
    photo: str | None  # a stored picture (its text becomes the caption)
    dedupe: str | None  # never queued twice under the same key


async def enqueue_notices(db: Database, community: Community, notices: Sequence[Notice], *,
                          paid: bool, not_before: datetime | None = None) -> int:
    """Queue notices in the outbox; inside the community's quiet hours they wait until the
    morning, and none goes before ``not_before`` (a closing that may still be undone).
    Returns how many rows were queued (a key already used queues nothing)."""
    hold = hold_until(community, not_before)
    return await store.enqueue(db, [
        store.Message(chat_id=n.user_id, user_id=n.user_id, text=n.text, due_at=hold,
                      paid=paid, photo=n.photo, markup=n.markup, dedupe=n.dedupe)
        for n in notices])
