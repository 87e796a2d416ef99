"""Serving PTB in-process: an httpx transport that hands requests straight to the emulator.

``HTTPXRequest(httpx_kwargs={"transport": emu.transport()})`` makes PTB's own HTTP client
talk to the emulator with no socket, so tests exercise PTB's real request encoding.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import httpx
from tornado.httputil import HTTPFile, parse_body_arguments

from bot.emulator.core import Emulator, StoredFile

API_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
FILE_PATH = re.compile(r"^/file/bot(?P<token>[^/]+)/(?P<path>.+)$")


def parse_request(
    content_type: str, body: bytes, query: dict[str, list[bytes]]
) -> tuple[dict[str, Any], dict[str, StoredFile]]:
    """Form fields and uploads of a Bot API request (urlencoded, multipart or JSON)."""
    if content_type.startswith("application/json"):
        data = json.loads(body or b"{}")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}, {}
    arguments: dict[str, list[bytes]] = {k: list(v) for k, v in query.items()}
    uploads: dict[str, list[HTTPFile]] = {}
    if body:
        parse_body_arguments(content_type, body, arguments, uploads)
    params = {k: v[-1].decode() for k, v in arguments.items() if v}
    files = {
        k: StoredFile(v[-1].body, v[-1].filename or None, v[-1].content_type or None)
        for k, v in uploads.items() if v
    }
    return params, files


async def respond(emu: Emulator, method: str, path: str, content_type: str, body: bytes,
                  query: dict[str, list[bytes]]) -> tuple[int, bytes, str]:
    """(status, body, content type) for one HTTP request to the emulator."""
    path = unquote(path)
    match = API_PATH.match(path)
    if match:
        params, files = parse_request(content_type, body, query)
        status, answer = await emu.call(match["token"], match["method"], params, files)
        return status, json.dumps(answer, ensure_ascii=False).encode(), "application/json"
    match = FILE_PATH.match(path)
    if match and match["token"] == emu.token:
        file_id = match["path"].removeprefix("files/")
        stored = emu.files.get(file_id)
        if stored is not None:
            return 200, stored.data, stored.mime or "application/octet-stream"
    body = json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}).encode()
    return 404, body, "application/json"


class EmulatorTransport(httpx.AsyncBaseTransport):
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        query: dict[str, list[bytes]] = {}
        for key, value in request.url.params.multi_items():
            query.setdefault(key, []).append(value.encode())
        status, content, content_type = await respond(
            self.emu, request.method, request.url.path,
            request.headers.get("content-type", ""), body, query,
        )
        return httpx.Response(status, content=content, headers={"content-type": content_type})
