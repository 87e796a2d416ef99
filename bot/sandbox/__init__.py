"""The sandbox: Mahfil on one machine, without Telegram.

``python -m bot run`` without ``TELEGRAM_BOT_TOKEN`` comes here. The built-in Bot API
emulator is served over HTTP on 127.0.0.1, the real bot talks to it exactly as it talks to
Telegram (same ``serve()``, same HTTP client), and a web chat on the same port lets a
visitor act as any of the demo people. Nothing leaves the machine; the sandbox's database is
its own file, started afresh each time, because the emulator's chats live in memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from bot.config import Config
from bot.emulator import Emulator, EmulatorServer, Person
from bot.emulator.core import Json
from bot.flows.onboarding import deep_link
from bot.i18n import Translator
from bot.labels import GROUP_LABELS
from bot.sandbox.web import DemoPerson, Sandbox, handlers
from bot.webapp.server import DashboardServer, Settings
from storage import community as store
from storage.db import Database

log = logging.getLogger(__name__)

ADMIN_ID = 1
COMMUNITY = "Demo neighbourhood"
DEMO_QUESTION = "What makes life hard in our neighbourhood?"
DEMO_PROBLEMS = ("The street lights on our lane are broken", "No safe place for children to play")
#: (user id, name, Telegram language, what they are for)
PEOPLE = [
    (ADMIN_ID, "Admin", "en", "admin"),
    (2, "Sara (coordinator)", "en", "coordinator"),
    (11, "مریم", "fa", "resident"),
    (12, "Әйгерім", "kk", "resident"),
    (13, "נועה", "he", "resident"),
    (14, "Sam", "en", "resident"),
]


async def _act(emu: Emulator, person: Person, *steps: str) -> None:
    """``person`` sends the first step, then taps the others; waits for the bot each time."""
    await person.send(steps[0])
    await emu.settle()
    for label in steps[1:]:
        await person.tap(label)
        await emu.settle()


async def _prepare(emu: Emulator, db: Database, sandbox: Sandbox) -> None:
    """The demo community, created and joined through the bot itself, as people would."""
    people = {user_id: emu.user(user_id, name, language_code=lang)
              for user_id, name, lang, _role in PEOPLE}
    sandbox.people = [DemoPerson(people[user_id], role) for user_id, _n, _l, role in PEOPLE]
    await _act(emu, people[ADMIN_ID], f"/newcommunity {COMMUNITY}")
    row = await db.fetchone("SELECT id FROM communities WHERE name = ?", (COMMUNITY,))
    if row is None:
        raise RuntimeError("the sandbox could not create its demo community")
    community_id = int(row["id"])
    sandbox.community = COMMUNITY

    async def invites() -> list[Json]:
        links = []
        for kind in ("resident", "coordinator"):
            invite = await store.active_invite(db, community_id, kind)
            if invite is not None:
                links.append({"kind": kind, "url": deep_link(emu.bot_username, invite.code)})
        return links

    sandbox.invites = invites
    coordinator_invite = await store.active_invite(db, community_id, "coordinator")
    assert coordinator_invite is not None
    coordinator = people[2]
    t = Translator(coordinator.language_code or "en")
    await _act(emu, coordinator, f"/start {coordinator_invite.code}",
               t._(GROUP_LABELS["ngo"]), t._("I agree"))
    # A demo is tried at any hour: its notices (a vote's announcement) must not wait for
    # the morning, as they would inside the default quiet hours (22 to 8).
    await _act(emu, coordinator, "/quiethours off")
    # Something to take part in: an open brainstorm with two problems on the board.
    await _act(emu, coordinator, f"/brainstorm {DEMO_QUESTION}")
    for problem in DEMO_PROBLEMS:
        await _act(emu, coordinator, "/problem")
        await _act(emu, coordinator, problem)
    # A plan for the dashboard to show, and the coordinator's menu button that opens it.
    await _act(emu, coordinator, f"/newplan {DEMO_PROBLEMS[1]}")
    await _act(emu, coordinator, "/dashboard")

    async def roles() -> dict[int, str]:
        found: dict[int, str] = {}
        for user_id, _name, _lang, intended in PEOPLE:
            membership = await store.get_membership(db, community_id, user_id)
            if intended == "admin":  # runs the bot's communities without joining them
                found[user_id] = membership.role if membership else "admin"
            else:
                found[user_id] = membership.role if membership else f"{intended}, not joined"
        return found

    sandbox.roles = roles


async def run(config: Config, stop: asyncio.Event) -> None:
    """Serve the sandbox until ``stop`` is set; prints the address to open."""
    from bot.app import build_application, serve

    emu = Emulator(bot_username="mahfil_sandbox_bot")
    sandbox = Sandbox(emu)
    server = await EmulatorServer.start(
        emu, host="127.0.0.1", port=config.sandbox_port, extra_handlers=handlers(sandbox)
    )
    path = config.database_path.with_name("sandbox.sqlite3")
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    bot_config = dataclasses.replace(
        config, token=emu.token, api_url=server.url, file_url=f"{server.base}/file/bot",
        database_path=path, admins=config.admins | {ADMIN_ID}, webhook_url=None,
    )
    db = await Database.open(path)
    dashboard = await _serve_dashboard(db, emu, bot_config, server.base)
    sandbox.webapp_base = f"{dashboard.base}/dashboard"
    try:
        app = build_application(bot_config, db)
        app.bot_data.webapp_url = f"{sandbox.webapp_base}/"
        processor, queue = app.update_processor, app.update_queue
        background = app.bot_data.latest_only
        courier = app.bot_data.courier
        emu.busy_checks.append(
            lambda: getattr(processor, "active", 0) > 0 or not queue.empty() or background.busy
            or courier.busy
        )
        ready = asyncio.Event()
        bot = asyncio.create_task(serve(app, stop, ready=ready, poll_timeout=5))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({bot, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if bot.done():
            waiter.cancel()
            bot.result()
            return
        await _prepare(emu, db, sandbox)
        print(
            f"Mahfil sandbox: open {server.base}/ in a browser.\n"
            "No TELEGRAM_BOT_TOKEN is set, so the bot talks to a built-in Telegram emulator on"
            " this machine; nothing is sent to Telegram.\n"
            f"Demo data: {path} (started afresh each time). Set TELEGRAM_BOT_TOKEN to run"
            " against Telegram. Stop with Ctrl+C.",
            flush=True,
        )
        await bot
    finally:
        await emu.close()
        await dashboard.stop()
        await server.stop()
        await db.close()


async def _serve_dashboard(db: Database, emu: Emulator, config: Config,
                           chat_origin: str) -> DashboardServer:
    """The dashboard Mini App on a free port of 127.0.0.1, signed with the sandbox's token.

    The same aiohttp application as in production (``bot.webapp.server``), without
    Telegram's script (no internet here); the web chat at ``chat_origin`` shows it in a
    panel (a frame), as Telegram's web client does.
    """
    settings = Settings(db=db, token=emu.token, admins=config.admins,
                        default_locale=config.default_locale, sandbox=True,
                        frame_origin=chat_origin)
    return await DashboardServer.start(settings, "127.0.0.1", 0)
