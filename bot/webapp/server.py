"""The dashboard's web server: an aiohttp application inside the bot's process.

Routes, under a prefix (the path of ``WEBAPP_URL``, ``/dashboard`` by default):

``/``                            the page (``static/index.html``)
``/static/…``                    its script, style sheet and the vendored Chart.js
``/api/overview``                language, direction, community, role, sections, page words
``/api/section/<name>``          one section's figures (``bot.flows.dashboard.SECTIONS``)
``/api/surveys/<id>/export.<k>`` a survey's CSV or XLSX (coordinators)
``/api/surveys/<id>/link.<k>``   a one-time download link for Telegram's ``downloadFile``
``/download/<token>``            that link

Every API request carries Telegram's ``initData`` in ``Authorization: tma <initData>``; it is
checked against the bot token (``bot.webapp.auth``) and then the person's role in the
community is looked up again (``bot.flows.dashboard.viewer``): a forged, expired or foreign
initData gets 401, a role that may not see the data 403 — with no figures in either body.
Nothing is remembered between requests (no cookies, no sessions), and every response says
``Cache-Control: no-store`` and carries a strict Content-Security-Policy: scripts and styles
only from this server (and Telegram's own ``telegram-web-app.js``, which Telegram requires
from telegram.org), no inline script, nothing else from anywhere.

The server calls flows only, never storage.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from aiohttp import web

from bot.config import Config
from bot.flows import dashboard as flow
from bot.flows.errors import Refused
from bot.i18n import Translator, match_language
from bot.webapp.auth import InitDataError, WebAppUser, verify

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
TELEGRAM_SCRIPT = '<script src="https://telegram.org/js/telegram-web-app.js?56"></script>'
TELEGRAM_WEB = "https://web.telegram.org"  # Telegram's web clients show Mini Apps in a frame
MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".md": "text/markdown; charset=utf-8", ".html": "text/html; charset=utf-8"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Settings:
    """What the server needs to know; ``sandbox`` drops Telegram's script (no internet) and
    lets the sandbox's own page (``frame_origin``) show the dashboard in a frame."""

    db: flow.Database  # the server reaches storage only through bot.flows
    token: str
    admins: frozenset[int]
    default_locale: str = "en"
    prefix: str = "/dashboard"
    sandbox: bool = False
    frame_origin: str | None = None


SETTINGS = web.AppKey("settings", Settings)
LINK_SECONDS = 300  # how long a download link lives (Telegram fetches it at once)
MAX_LINKS = 1000


@dataclass(frozen=True, slots=True)
class _Link:
    user_id: int
    community_id: int
    survey_id: int
    kind: str
    expires: float


LINKS = web.AppKey("links", dict[str, _Link])


def content_security_policy(settings: Settings) -> str:
    scripts = "'self'" if settings.sandbox else "'self' https://telegram.org"
    frames = " ".join(filter(None, [TELEGRAM_WEB, settings.frame_origin]))
    return "; ".join([
        "default-src 'none'", f"script-src {scripts}", "style-src 'self'",
        "img-src 'self' data:", "connect-src 'self'", "font-src 'self'", "base-uri 'none'",
        "form-action 'none'", f"frame-ancestors {frames}",
    ])


def create_app(settings: Settings) -> web.Application:
    """The dashboard as an aiohttp application (served by :func:`start`, or tested as is)."""
    app = web.Application(middlewares=[_headers])
    app[SETTINGS] = settings
    prefix = settings.prefix.rstrip("/")
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    if settings.sandbox:
        page = page.replace(TELEGRAM_SCRIPT, "")
    page_bytes = page.encode()

    async def index(request: web.Request) -> web.Response:
        return web.Response(body=page_bytes, content_type="text/html", charset="utf-8")

    async def to_index(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{prefix}/")

    app.router.add_get(f"{prefix}/", index)
    if prefix:
        app.router.add_get(prefix, to_index)
    app.router.add_get(prefix + "/static/{path:.+}", _static)
    app.router.add_get(f"{prefix}/api/overview", _overview)
    app.router.add_get(prefix + "/api/section/{name}", _section)
    app.router.add_get(prefix + r"/api/surveys/{survey:\d+}/export.{kind:csv|xlsx}", _export)
    app.router.add_get(prefix + r"/api/surveys/{survey:\d+}/link.{kind:csv|xlsx}", _link)
    app.router.add_get(prefix + "/download/{token}", _download)
    app[LINKS] = {}
    return app


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The same protective headers on every answer, refusals included."""
    settings = request.app[SETTINGS]
    try:
        response = await handler(request)
    except web.HTTPException as error:
        _protect(error.headers, settings)
        raise
    _protect(response.headers, settings)
    return response


def _protect(headers: Any, settings: Settings) -> None:
    headers["Cache-Control"] = "no-store"
    headers["Content-Security-Policy"] = content_security_policy(settings)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"


async def _static(request: web.Request) -> web.Response:
    wanted = (STATIC / request.match_info["path"]).resolve()
    if STATIC.resolve() not in wanted.parents or not wanted.is_file() \
            or wanted.name == "index.html":
        raise web.HTTPNotFound()
    media = MEDIA.get(wanted.suffix, "application/octet-stream")
    return web.Response(body=wanted.read_bytes(), headers={"Content-Type": media})


# -- who is asking ---------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status,
                        content_type="application/json")


def _signed_user(request: web.Request) -> WebAppUser:
    """The Telegram user of the request's initData, or 401."""
    settings = request.app[SETTINGS]
    header = request.headers.get("Authorization", "")
    scheme, _, init_data = header.partition(" ")
    try:
        if scheme.lower() != "tma":
            raise InitDataError("no tma authorization")
        return verify(init_data.strip(), settings.token)
    except InitDataError as error:
        log.info("dashboard request refused: %s", error.reason)
        raise web.HTTPUnauthorized(text=json.dumps({"error": "unauthorized"}),
                                   content_type="application/json") from None


async def _viewer(request: web.Request) -> flow.Viewer:
    """The signed user as a viewer of the community asked for (or their current one)."""
    settings = request.app[SETTINGS]
    user = _signed_user(request)
    raw = request.query.get("community")
    community_id = int(raw) if raw is not None and raw.isdigit() else None
    if raw is not None and community_id is None:
        raise _forbidden(user, settings, flow.NOT_A_MEMBER)
    try:
        return await flow.viewer(settings.db, user.id, admins=settings.admins,
                                 community_id=community_id)
    except Refused as refused:
        raise _forbidden(user, settings, refused.message) from None


def _forbidden(user: WebAppUser, settings: Settings, message: str) -> web.HTTPForbidden:
    t = Translator(match_language(user.language_code, settings.default_locale))
    return web.HTTPForbidden(text=json.dumps({"error": "forbidden", "message": t._(message)},
                                             ensure_ascii=False),
                             content_type="application/json")


def _refused(v: flow.Viewer, refused: Refused) -> web.HTTPForbidden:
    return web.HTTPForbidden(
        text=json.dumps({"error": "forbidden", "message": v.t._(refused.message,
                                                                **refused.values)},
                        ensure_ascii=False), content_type="application/json")


# -- the API -----------------------------------------------------------------------------------


async def _overview(request: web.Request) -> web.Response:
    v = await _viewer(request)
    return _json(await flow.overview(request.app[SETTINGS].db, v))


async def _section(request: web.Request) -> web.Response:
    v = await _viewer(request)
    figures = flow.SECTIONS.get(request.match_info["name"])
    if figures is None:
        raise web.HTTPNotFound()
    try:
        return _json(await figures(request.app[SETTINGS].db, v))
    except Refused as refused:
        raise _refused(v, refused) from None


async def _export(request: web.Request) -> web.Response:
    v = await _viewer(request)
    try:
        data, name, media = await flow.survey_file(
            request.app[SETTINGS].db, v, int(request.match_info["survey"]),
            request.match_info["kind"])
    except Refused as refused:
        raise _refused(v, refused) from None
    return web.Response(body=data, headers={
        "Content-Type": media,
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
    })


async def _link(request: web.Request) -> web.Response:
    """A one-time address for the export, for ``Telegram.WebApp.downloadFile``.

    Telegram's apps fetch the file themselves and cannot send initData with it, so the
    page asks for a link first (with initData, role checked) and gets a random token that
    works once, for five minutes, and only for this person, survey and format; the role is
    checked again when it is used.
    """
    v = await _viewer(request)
    survey_id, kind = int(request.match_info["survey"]), request.match_info["kind"]
    try:
        flow.require(v, "surveys")
    except Refused as refused:
        raise _refused(v, refused) from None
    links = request.app[LINKS]
    now = time.monotonic()
    for stale in [token for token, link in links.items() if link.expires < now]:
        del links[stale]
    while len(links) >= MAX_LINKS:  # a bound on memory, whatever a client does
        del links[next(iter(links))]
    token = secrets.token_urlsafe(32)
    links[token] = _Link(v.user.id, v.community.id, survey_id, kind, now + LINK_SECONDS)
    return _json({"path": f"download/{token}", "name": f"survey-{survey_id}.{kind}"})


async def _download(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    link = request.app[LINKS].pop(request.match_info["token"], None)
    if link is None or link.expires < time.monotonic():
        raise web.HTTPNotFound()
    try:
        v = await flow.viewer(settings.db, link.user_id, admins=settings.admins,
                              community_id=link.community_id)
        data, name, media = await flow.survey_file(settings.db, v, link.survey_id, link.kind)
    except Refused:
        raise web.HTTPForbidden() from None
    return web.Response(body=data, headers={
        "Content-Type": media,
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
    })


# -- serving -----------------------------------------------------------------------------------


class DashboardServer:
    """``server = await DashboardServer.start(settings, host, port)``; ``await server.stop()``."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self._runner = runner
        self.host = host
        self.port = port

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    async def start(cls, settings: Settings, host: str, port: int) -> DashboardServer:
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        return cls(runner, host, bound)

    async def stop(self) -> None:
        await self._runner.cleanup()


async def serve_dashboard(db: flow.Database, config: Config) -> DashboardServer:
    """The production dashboard: under ``WEBAPP_URL``'s path, on WEBAPP_LISTEN:WEBAPP_PORT.

    A TLS proxy in front forwards ``WEBAPP_URL`` here (Telegram opens Mini Apps only over
    https); with ``WEBHOOK_URL`` the same proxy forwards the webhook's path to its port.
    """
    assert config.token is not None and config.webapp_url is not None
    settings = Settings(db=db, token=config.token, admins=config.admins,
                        default_locale=config.default_locale,
                        prefix=urlparse(config.webapp_url).path.rstrip("/"))
    server = await DashboardServer.start(settings, config.webapp_listen, config.webapp_port)
    log.info("dashboard listening on %s:%s", config.webapp_listen, server.port)
    return server
