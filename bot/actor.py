"""Who is behind an update, and what they may do: the first thing every handler asks.

Handlers call :func:`actor` once; it records the Telegram user on first contact (language
from ``language_code``), loads the current community and membership, and returns a
:class:`Translator` in the user's language and the community's time zone.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from telegram import Update

from bot.flows.people import Actor, Member
from bot.i18n import Translator, match_language
from storage import community as store
from storage.community import Community, Membership, User
from storage.db import Database

if TYPE_CHECKING:
    from bot.app import Context

__all__ = ["Actor", "Member", "People", "actor"]


async def actor(update: Update, context: Context) -> Actor:
    """The person behind ``update``, created on first contact.

    Who someone is (user, current community, membership, their translator) is cached per
    application as one immutable :class:`Actor` and dropped whenever ``storage.community``
    writes anything (``db.people_version``): a vote burst then costs no lookups and builds
    nothing, and a role change is seen by the very next update.
    """
    tg_user = update.effective_user
    if tg_user is None:
        raise ValueError("update has no user")
    db = context.db
    config = context.config
    people = context.bot_data.people
    cached = people.known.get(tg_user.id)
    if (cached is not None and cached[0] == db.people_version and cached[1].user.reachable
            and not _names_changed(cached[1].user, tg_user)):
        return cached[1]  # the same (immutable) Actor as the person's last update
    version = db.people_version
    found = await people.loader.get(tg_user.id)
    stored, membership = found if found is not None else (None, None)
    if stored is not None and stored.reachable and not _names_changed(stored, tg_user):
        user = stored
    else:
        language = (
            stored.language
            if stored is not None
            else match_language(tg_user.language_code, config.default_locale)
        )
        user = await store.upsert_user(
            db,
            tg_user.id,
            first_name=tg_user.first_name,
            last_name=tg_user.last_name,
            username=tg_user.username,
            language=language,
        )
        version = db.people_version
    community = None
    if user.current_community_id is not None:
        community = await people.community(user.current_community_id)
    if community is None:
        membership = None
    tz = community.timezone if community else config.timezone
    who = Actor(
        user=user,
        community=community,
        membership=membership,
        t=Translator(user.language, tz),
        is_admin=tg_user.id in config.admins,
    )
    people.remember(tg_user.id, (version, who))
    return who


Known = tuple[int, Actor]  # (people version it was read at, who the person is)


class People:
    """Who someone is, cached for the whole application.

    Entries carry the database's ``people_version`` and are trusted only while it is
    current: a role change is seen by the very next update, and a vote burst costs no
    lookups. A lookup reads only the people asking (batched by :class:`UserLoader`), never
    their whole community: in a community of 100,000 every join changes the version, and
    reading everyone again held the one connection for over a second (bench/scale.py).
    """

    LIMIT = 50_000  # entries kept before the cache starts afresh

    def __init__(self, db: Database) -> None:
        self.db = db
        self.known: dict[int, Known] = {}
        self.loader = UserLoader(db)
        self._communities: dict[int, tuple[int, Community]] = {}  # id -> (version, community)
        self._finding: dict[int, asyncio.Task[Community | None]] = {}

    def remember(self, user_id: int, known: Known) -> None:
        if len(self.known) > self.LIMIT:
            self.known.clear()
        self.known[user_id] = known

    async def community(self, community_id: int) -> Community | None:
        """A community by id, read once per people version however many ask at once (a
        vote burst's first taps all ask for the same one)."""
        version = self.db.people_version
        kept = self._communities.get(community_id)
        if kept is not None and kept[0] == version:
            return kept[1]
        task = self._finding.get(community_id)
        if task is None:
            task = asyncio.ensure_future(self._find(community_id, version))
            self._finding[community_id] = task
            task.add_done_callback(lambda _task: self._finding.pop(community_id, None))
        return await asyncio.shield(task)

    async def _find(self, community_id: int, version: int) -> Community | None:
        found = await store.get_community(self.db, community_id)
        if found is not None:
            if len(self._communities) > self.LIMIT:
                self._communities.clear()
            self._communities[community_id] = (version, found)
        return found


Person = tuple[User, Membership | None]  # a user and their membership of their community


class UserLoader:
    """Finds users by id, each with the membership of their current community, in
    batches: every lookup asked while one query runs goes into the next, single query.

    After a restart, or once anyone's membership changes (the cache is dropped), each
    voter's next tap must find them again. A vote burst brings hundreds of such first taps
    at once: one query each meant 256 queries queued on the one connection, each a thread
    hop behind a busy event loop (bench/vote_burst.py); now it is one or two.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._asked: dict[int, asyncio.Future[Person | None]] = {}
        self._running: asyncio.Task[None] | None = None

    async def get(self, user_id: int) -> Person | None:
        found = self._asked.get(user_id)
        if found is None:
            found = self._asked[user_id] = asyncio.get_running_loop().create_future()
            if self._running is None or self._running.done():
                self._running = asyncio.ensure_future(self._run())
        return await asyncio.shield(found)

    async def _run(self) -> None:
        while self._asked:
            asked, self._asked = self._asked, {}
            try:
                people = await store.get_people(self.db, list(asked))
            except Exception as error:  # each asker gets the failure, as a lone query would
                for future in asked.values():
                    future.set_exception(error)
                continue
            for user_id, future in asked.items():
                future.set_result(people.get(user_id))


def _names_changed(user: User, tg_user: object) -> bool:
    return (
        user.first_name != getattr(tg_user, "first_name", user.first_name)
        or user.last_name != getattr(tg_user, "last_name", user.last_name)
        or user.username != getattr(tg_user, "username", user.username)
    )
