"""Serving the emulator over HTTP on 127.0.0.1, for a bot in another process.

Tornado is already installed with PTB's webhook extra. The sandbox adds its own pages to
the same server through ``extra_handlers``, so there is one emulator, not two.
"""

from __future__ import annotations

from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot.emulator.core import Emulator
from bot.emulator.transport import respond


class _ApiHandler(RequestHandler):
    def initialize(self, emu: Emulator) -> None:
        self.emu = emu

    async def _serve(self) -> None:
        status, body, content_type = await respond(
            self.emu, self.request.method or "GET", self.request.path,
            self.request.headers.get("Content-Type", ""), self.request.body,
            self.request.query_arguments,
        )
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.finish(body)

    async def get(self, *args: Any) -> None:
        await self._serve()

    async def post(self, *args: Any) -> None:
        await self._serve()

    def check_xsrf_cookie(self) -> None:
        return None


class EmulatorServer:
    """``server = await EmulatorServer.start(emu)``; ``server.url`` is TELEGRAM_API_URL."""

    def __init__(self, server: HTTPServer, port: int, host: str) -> None:
        self._server = server
        self.port = port
        self.host = host

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/bot"

    @classmethod
    async def start(
        cls, emu: Emulator, *, host: str = "127.0.0.1", port: int = 0,
        extra_handlers: list[Any] | None = None,
    ) -> EmulatorServer:
        app = Application(
            [*(extra_handlers or []), (r"/(?:file/)?bot.*", _ApiHandler, {"emu": emu})],
        )
        sockets = bind_sockets(port, address=host)
        server = HTTPServer(app, max_body_size=60 * 1024 * 1024)
        server.add_sockets(sockets)
        return cls(server, sockets[0].getsockname()[1], host)

    async def stop(self) -> None:
        self._server.stop()
        await self._server.close_all_connections()
