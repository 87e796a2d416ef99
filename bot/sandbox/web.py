"""The sandbox's web chat: JSON endpoints over the emulator, plus the static page.

The page is plain HTML/CSS/JS (``static/``). Everything it shows comes from the emulator's
own records of what the bot sent, so the sandbox displays exactly what Telegram would have
received — and what a person does in the page goes to the bot as a real update.
"""

from __future__ import annotations

import html
import json
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from tornado.web import RequestHandler, StaticFileHandler

from bot.emulator import Emulator, Person
from bot.emulator.core import Json
from bot.i18n import is_rtl as language_is_rtl

STATIC = Path(__file__).with_name("static")
#: Telegram's light theme, as a Mini App receives it in ``themeParams``.
SANDBOX_THEME = {"bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#707579",
                 "link_color": "#3390ec", "button_color": "#3390ec",
                 "button_text_color": "#ffffff", "secondary_bg_color": "#f4f4f5",
                 "section_bg_color": "#ffffff", "accent_text_color": "#3390ec",
                 "destructive_text_color": "#e53935"}

#: Telegram's HTML subset (https://core.telegram.org/bots/api#html-style); nothing else passes.
_ALLOWED = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre",
            "a", "blockquote", "tg-spoiler", "span", "tg-emoji"}
_URL = re.compile(r"https?://[^\s<>\"'\u2066-\u2069]+[^\s<>\"'.,;:!?)\u2066-\u2069]")
_ISOLATED = re.compile("[\u2066\u2067\u2068][^\u2069]*\u2069?")


class _Sanitizer(HTMLParser):
    """Re-emits Telegram's tag subset (``a`` keeps only an http(s)/tg href) and escapes the rest.

    Bare URLs in text become links, as Telegram's clients do, so the invitation links the
    bot sends are clickable in the page.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED:
            return
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if not href.startswith(("http://", "https://", "tg://")):
                href = "#"
            self.out.append(f'<a href="{html.escape(href)}" target="_blank" rel="noopener">')
        elif tag == "span":
            if dict(attrs).get("class") != "tg-spoiler":
                return
            self.out.append('<span class="tg-spoiler">')
        else:
            self.out.append(f"<{tag}>")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open:
                closing = self.open.pop()
                self.out.append(f"</{closing}>")
                if closing == tag:
                    break

    def handle_data(self, data: str) -> None:
        if "a" in self.open:
            self.out.append(html.escape(data))
            return
        position = 0
        for match in _URL.finditer(data):
            self.out.append(html.escape(data[position:match.start()]))
            url = html.escape(match[0])
            self.out.append(f'<a href="{url}" target="_blank" rel="noopener">{url}</a>')
            position = match.end()
        self.out.append(html.escape(data[position:]))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def sanitize(source: str) -> str:
    """Telegram-style HTML from the bot, safe to put in the page's ``innerHTML``."""
    parser = _Sanitizer()
    parser.feed(source)
    return parser.result()


def is_rtl(text: str) -> bool:
    """Whether the first strong character (outside isolated user text) is right-to-left.

    Text written by people sits inside Unicode isolates in our sentences; it must not decide
    the direction of the whole message, just as it does not in Telegram's clients.
    """
    for char in _ISOLATED.sub("", text):
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return False
        if kind in ("R", "AL"):
            return True
    return False


@dataclass
class DemoPerson:
    person: Person
    role: str  # what the person is for in the demo, shown in the list


@dataclass
class Sandbox:
    """What the web chat needs: the emulator, the demo people and the demo community."""

    emu: Emulator
    people: list[DemoPerson] = field(default_factory=list)
    community: str = ""
    #: Current roles by user id and the community's live invitation links
    #: (``[{"kind", "url"}]``), read from the database each time so rotated links show.
    roles: Callable[[], Awaitable[dict[int, str]]] | None = None
    invites: Callable[[], Awaitable[list[Json]]] | None = None
    #: The dashboard Mini App's address (``http://127.0.0.1:<port>/dashboard``), if served.
    webapp_base: str | None = None

    def find(self, user_id: int) -> Person | None:
        return next((d.person for d in self.people if d.person.id == user_id), None)

    async def people_json(self) -> list[Json]:
        """The demo people, with their role now and how many messages the bot sent them
        (the page compares it with what it showed, for the unread badge)."""
        current = await self.roles() if self.roles is not None else {}
        return [
            {"id": d.person.id, "name": d.person.name, "language": d.person.language_code,
             "role": current.get(d.person.id, d.role), "received": self.received(d.person),
             "joined": not current.get(d.person.id, d.role).endswith("not joined")}
            for d in self.people
        ]

    def received(self, person: Person) -> int:
        chat = self.emu.chats.get(person.id)
        if chat is None:
            return 0
        return sum(1 for m in chat.messages.values()
                   if m.get("from", {}).get("id") == self.emu.bot_id)

    def chat_json(self, person: Person) -> Json:
        chat = self.emu.chats[person.id]
        return {
            "title": person.name,
            "language": person.language_code,
            # The pane is laid out as Telegram lays it out in the person's language: right to
            # left for Persian and Hebrew (the bot's bubbles on the right).
            "rtl": language_is_rtl(person.language_code or "en"),
            "received": self.received(person),
            "messages": [self.message_json(m) for m in chat.messages.values()],
            "reply_keyboard": chat.reply_keyboard or [],
            "menu_button": self._menu_button(person.id),
        }

    def _menu_button(self, user_id: int) -> Json | None:
        button = self.emu.menu_buttons.get(user_id) or {}
        if button.get("type") != "web_app":
            return None
        return {"text": button.get("text", ""), "url": button["web_app"]["url"]}

    def web_app_launch(self, person: Person, url: str) -> str | None:
        """``url`` (a web_app button's) opened by ``person``, as Telegram opens a Mini App:
        signed initData and theme colours in the fragment. Only the sandbox's own dashboard."""
        if self.webapp_base is None or not url.startswith(self.webapp_base + "/"):
            return None
        from bot.webapp.auth import init_data_for

        user = {k: v for k, v in self.emu.users[person.id].items() if k != "is_bot"}
        fragment = urlencode({
            "tgWebAppData": init_data_for(user, self.emu.token),
            "tgWebAppVersion": "8.0", "tgWebAppPlatform": "web",
            "tgWebAppThemeParams": json.dumps(SANDBOX_THEME),
        })
        return f"{url.split('#')[0]}#{fragment}"

    def message_json(self, message: Json) -> Json:
        from_bot = message.get("from", {}).get("id") == self.emu.bot_id
        text = message.get("text") or message.get("caption") or ""
        source = message.get("_html") if from_bot else None
        body = sanitize(source) if source is not None else sanitize(html.escape(text))
        data: Json = {
            "id": message["message_id"], "chat_id": message["chat"]["id"],
            "from_bot": from_bot, "html": body, "rtl": is_rtl(text),
            "edited": "edit_date" in message, "keyboard": [],
        }
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            data["keyboard"].append([
                {"text": b["text"], "url": b["url"]} if "url" in b
                else {"text": b["text"], "web_app": b["web_app"].get("url", "")}
                if "web_app" in b
                else {"text": b["text"], "data": b.get("callback_data", "")}
                for b in row
            ])
        if message.get("photo"):
            data["photo"] = f"/sandbox/file/{message['photo'][-1]['file_id']}"
        if message.get("document"):
            document = message["document"]
            data["document"] = {"name": document.get("file_name") or "file",
                                "url": f"/sandbox/file/{document['file_id']}"}
        return data


class _Json(RequestHandler):
    def initialize(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def check_xsrf_cookie(self) -> None:
        return None

    def reply(self, data: Json, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(data, ensure_ascii=False))

    def body(self) -> Json:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            data = None
        return data if isinstance(data, dict) else {}

    def person(self, value: Any) -> Person | None:
        try:
            return self.sandbox.find(int(value))
        except (TypeError, ValueError):
            return None


class PeopleHandler(_Json):
    async def get(self) -> None:
        self.reply({
            "people": await self.sandbox.people_json(),
            "bot_username": self.sandbox.emu.bot_username,
            "community": self.sandbox.community,
            "invites": await self.sandbox.invites() if self.sandbox.invites else [],
        })


class ChatHandler(_Json):
    async def get(self, user_id: str) -> None:
        person = self.person(user_id)
        if person is None:
            self.reply({"error": "no such person"}, 404)
            return
        self.reply(self.sandbox.chat_json(person))


class SendHandler(_Json):
    async def post(self) -> None:
        data = self.body()
        person = self.person(data.get("user_id"))
        text = data.get("text")
        if person is None or not isinstance(text, str) or not text.strip():
            self.reply({"error": "user_id and text are required"}, 400)
            return
        message = await person.send(text)
        self.reply({"message_id": message["message_id"]})


class TapHandler(_Json):
    async def post(self) -> None:
        """A tap on an inline button; answers with the bot's callback answer (a toast)."""
        data = self.body()
        person = self.person(data.get("user_id"))
        chat = self.sandbox.emu.chats.get(person.id) if person else None
        try:
            message_id = int(data.get("message_id", 0))
        except (TypeError, ValueError):
            message_id = 0
        if person is None or chat is None or message_id not in chat.messages:
            self.reply({"error": "no such message"}, 400)
            return
        query = self.sandbox.emu.press(person.id, chat.id, message_id, str(data.get("data", "")))
        deadline = time.monotonic() + 5
        since = self.sandbox.emu.version
        while query.answered is None and time.monotonic() < deadline:
            since = await self.sandbox.emu.changed(since, deadline - time.monotonic())
        self.reply({"answer": query.answer})


class ChangesHandler(_Json):
    async def get(self) -> None:
        """Long poll: answers when the emulator changed after ``since`` (or after 25 s)."""
        try:
            since = int(self.get_query_argument("since", "-1"))
        except ValueError:
            since = -1
        version = await self.sandbox.emu.changed(since, 25)
        self.reply({"version": version, "people": await self.sandbox.people_json()})


class WebAppHandler(_Json):
    async def post(self) -> None:
        """A tap on a web_app button (or the menu button): the address to show in the panel."""
        data = self.body()
        person = self.person(data.get("user_id"))
        url = data.get("url")
        launch = (self.sandbox.web_app_launch(person, url)
                  if person is not None and isinstance(url, str) else None)
        if launch is None:
            self.reply({"error": "not the sandbox's dashboard"}, 400)
            return
        self.reply({"url": launch})


class FileHandler(_Json):
    async def get(self, file_id: str) -> None:
        stored = self.sandbox.emu.files.get(file_id)
        if stored is None:
            self.reply({"error": "no such file"}, 404)
            return
        self.set_header("Content-Type", stored.mime or "application/octet-stream")
        if stored.name:
            self.set_header("Content-Disposition", f"inline; filename*=UTF-8''{quote(stored.name)}")
        self.finish(stored.data)


class IndexHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish((STATIC / "index.html").read_bytes())


class FaviconHandler(RequestHandler):
    """Browsers ask for ``/favicon.ico`` whatever the page says."""

    def get(self) -> None:
        self.set_header("Content-Type", "image/x-icon")
        self.set_header("Cache-Control", "max-age=86400")
        self.finish((STATIC / "favicon.ico").read_bytes())


def handlers(sandbox: Sandbox) -> list[Any]:
    """Routes to add to the emulator's HTTP server (``EmulatorServer.start(extra_handlers=)``)."""
    args = {"sandbox": sandbox}
    return [
        (r"/", IndexHandler),
        (r"/favicon\.ico", FaviconHandler),
        (r"/sandbox/static/(.*)", StaticFileHandler, {"path": str(STATIC)}),
        (r"/sandbox/api/people", PeopleHandler, args),
        (r"/sandbox/api/chat/(-?\d+)", ChatHandler, args),
        (r"/sandbox/api/send", SendHandler, args),
        (r"/sandbox/api/tap", TapHandler, args),
        (r"/sandbox/api/changes", ChangesHandler, args),
        (r"/sandbox/file/([^/]+)", FileHandler, args),
        (r"/sandbox/api/webapp", WebAppHandler, args),
    ]
