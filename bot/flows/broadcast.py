"""Communication rules: audiences, language versions, quiet hours, retry back-off.

No Telegram here: what to send to whom and when. ``bot/delivery.py`` does the sending.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.flows.errors import Refused
from bot.i18n import N_
from storage import committee as committee_store
from storage import community as community_store
from storage import survey as survey_store
from storage import voting as voting_store
from storage.community import Community, User
from storage.db import Database

MAX_TEXT = 4096  # Telegram's limit for a message
MAX_CAPTION = 1024  # and for a photo's caption
MAX_ATTEMPTS = 8  # network errors and 5xx before a message counts as failed
NOT_AVAILABLE = N_("This audience is not available.")


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures: 2, 4, 8 … at most 5 minutes."""
    return float(min(300, 2 ** max(1, attempts)))


def quiet_until(now: datetime, community: Community) -> datetime | None:
    """When quiet hours end if ``now`` falls inside them (UTC), else None.

    Quiet hours run from ``quiet_start`` to ``quiet_end`` o'clock in the community's time
    zone and may cross midnight (22 → 8). Equal hours mean no quiet hours.
    """
    start, end = community.quiet_start, community.quiet_end
    if start == end:
        return None
    local = now.astimezone(ZoneInfo(community.timezone))
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return None
    day = local.date() if hour < end else local.date() + timedelta(days=1)
    wake = datetime.combine(day, time(end), tzinfo=local.tzinfo)
    return wake.astimezone(now.tzinfo)


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


async def recipients(db: Database, community: Community, audience: str) -> list[User]:
    """The reachable members an audience names.

    ``all``; ``group:<key>`` (a stakeholder group); ``committee:<id>`` (a committee or working
    group); ``novote:<id>`` (members who have not taken part in a priority vote);
    ``noballot:<id>`` (members who have not voted in a committee election);
    ``nosurvey:<id>`` (members who have not finished a survey).
    """
    members = [(m, u) for m, u in await community_store.members(db, community.id)
               if u.reachable]
    kind, _, value = audience.partition(":")
    if kind == "all":
        return [u for _m, u in members]
    if kind == "group":
        return [u for m, u in members if m.stakeholder_group == value]
    if not value.isdigit():
        raise Refused(NOT_AVAILABLE)
    if kind == "committee":
        committee = await committee_store.get_committee(db, int(value))
        if committee is None or committee.community_id != community.id:
            raise Refused(NOT_AVAILABLE)
        seated = {u.id for _m, u in await committee_store.committee_members(db, committee.id)}
        return [u for _m, u in members if u.id in seated]
    if kind == "novote":
        prioritisation = await voting_store.get(db, int(value))
        if prioritisation is None or prioritisation.community_id != community.id:
            raise Refused(NOT_AVAILABLE)
        done = set(await voting_store.participants(db, prioritisation))
        return [u for _m, u in members if u.id not in done]
    if kind == "noballot":
        election = await committee_store.get_election(db, int(value))
        if election is None or election.community_id != community.id:
            raise Refused(NOT_AVAILABLE)
        done = await committee_store.voters(db, election.id)
        return [u for _m, u in members if u.id not in done]
    if kind == "nosurvey":
        survey = await survey_store.get(db, int(value))
        if survey is None or survey.community_id != community.id:
            raise Refused(NOT_AVAILABLE)
        done = await survey_store.participants(db, survey.id)
        return [u for _m, u in members if u.id not in done]
    raise Refused(NOT_AVAILABLE)
