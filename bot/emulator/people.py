"""Acting as a person in the emulator: send text, tap buttons, read what the chat received."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.emulator.core import CallbackQuery, Emulator, Json


@dataclass
class Group:
    emu: Emulator
    id: int
    title: str

    @property
    def messages(self) -> list[Json]:
        return self.emu.messages(self.id)


class Person:
    """A Telegram user in a private chat with the bot (and optionally in groups)."""

    def __init__(self, emu: Emulator, user: Json) -> None:
        self.emu = emu
        self.user = user
        self.id: int = user["id"]
        self.last_query: CallbackQuery | None = None

    @property
    def language_code(self) -> str | None:
        return self.user.get("language_code")

    @property
    def name(self) -> str:
        return str(self.user["first_name"])

    # -- acting ----------------------------------------------------------------------------

    async def send(self, text: str, *, chat: Group | None = None) -> Json:
        """Write ``text``; a leading ``/command`` carries a bot_command entity like Telegram's."""
        content: Json = {"text": text}
        match = re.match(r"^/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
        if match:
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(match[0])}
            ]
        return self.emu.user_message(chat.id if chat else self.id, self.id, **content)

    async def send_document(self, name: str, data: bytes, mime: str = "application/octet-stream",
                            caption: str | None = None) -> Json:
        file_id = self.emu.store_file(data, name, mime)
        content: Json = {"document": {"file_id": file_id, "file_unique_id": f"u{file_id}",
                                      "file_name": name, "mime_type": mime,
                                      "file_size": len(data)}}
        if caption:
            content["caption"] = caption
        return self.emu.user_message(self.id, self.id, **content)

    async def send_photo(self, data: bytes, caption: str | None = None) -> Json:
        file_id = self.emu.store_file(data, "photo.jpg", "image/jpeg")
        content: Json = {"photo": [{"file_id": file_id, "file_unique_id": f"u{file_id}",
                                    "width": 800, "height": 600, "file_size": len(data)}]}
        if caption:
            content["caption"] = caption
        return self.emu.user_message(self.id, self.id, **content)

    async def tap(self, label: str | Callable[[str], bool], message: Json | None = None,
                  *, chat: Group | None = None) -> str | None:
        """Tap the inline button ``label`` on ``message`` (default: the newest that has it).

        Returns the URL for a URL button, else None. Fails with the buttons on offer if no
        message has such a button.
        """
        chat_id = chat.id if chat else self.id
        candidates = [message] if message else list(reversed(self.emu.messages(chat_id)))
        for candidate in candidates:
            for button in _buttons(candidate):
                text = button.get("text", "")
                if (label(text) if callable(label) else text == label):
                    if "url" in button:
                        return str(button["url"])
                    self.last_query = self.emu.press(
                        self.id, chat_id, candidate["message_id"], button["callback_data"]
                    )
                    return None
        if isinstance(label, str):  # a unique substring is accepted too
            matches = [
                (c, b) for c in candidates for b in _buttons(c) if label in b.get("text", "")
            ]
            if matches:
                candidate, button = matches[0]
                if "url" in button:
                    return str(button["url"])
                self.last_query = self.emu.press(
                    self.id, chat_id, candidate["message_id"], button["callback_data"]
                )
                return None
        offered = [b.get("text") for c in candidates[:3] for b in _buttons(c)]
        raise AssertionError(f"{self.name}: no button {label!r}; on offer: {offered}")

    async def press(self, data: str, message: Json | None = None) -> CallbackQuery:
        """Send callback data of one's own choosing, as a forged or stale button would."""
        target = message or next(
            (m for m in reversed(self.emu.messages(self.id)) if _from_bot(self.emu, m)), None
        )
        if target is None:
            raise AssertionError(f"{self.name} has no message to press a button on")
        self.last_query = self.emu.press(self.id, self.id, target["message_id"], data)
        return self.last_query

    async def tap_reply(self, label: str) -> Json:
        keyboard = self.emu.chats[self.id].reply_keyboard or []
        if not any(label in row for row in keyboard):
            raise AssertionError(f"{self.name}: no reply button {label!r}; on offer: {keyboard}")
        return await self.send(label)

    def block_bot(self) -> None:
        self.emu.blocked.add(self.id)

    def unblock_bot(self) -> None:
        self.emu.blocked.discard(self.id)

    # -- reading ---------------------------------------------------------------------------

    @property
    def messages(self) -> list[Json]:
        """What the bot sent to this person's private chat, oldest first (edits applied)."""
        return [m for m in self.emu.messages(self.id) if _from_bot(self.emu, m)]

    @property
    def last(self) -> Json:
        messages = self.messages
        if not messages:
            raise AssertionError(f"{self.name} has received nothing")
        return messages[-1]

    def texts(self) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.messages]

    def buttons(self, message: Json | None = None) -> list[str]:
        target = message if message is not None else (self.messages[-1] if self.messages else None)
        return [b.get("text", "") for b in _buttons(target)] if target else []

    @property
    def last_answer(self) -> str | None:
        """The text the bot answered the last tap with (None if unanswered or no text)."""
        if self.last_query is None or self.last_query.answer is None:
            return None
        return self.last_query.answer.get("text")

    @property
    def last_tap_answered(self) -> bool:
        return self.last_query is not None and self.last_query.answered is not None

    def document(self, message: Json) -> bytes:
        if "document" not in message:
            raise AssertionError(f"not a document: {message.get('text')!r}")
        return self.emu.file_bytes(message["document"]["file_id"])

    def photo(self, message: Json) -> bytes:
        if "photo" not in message:
            raise AssertionError(f"not a photo: {message.get('text')!r}")
        return self.emu.file_bytes(message["photo"][-1]["file_id"])

    async def wait_for(self, expected: str | Callable[[Json], bool], timeout: float = 10.0,
                       *, after: int | None = None) -> Json:
        """The first bot message (newer than ``after``) matching ``expected``; waits for the
        emulator's events (a message stored or edited), not on a clock."""
        since = after if after is not None else 0
        found: list[Json] = []

        def arrived() -> bool:
            for message in self.messages:
                if message["message_id"] <= since:
                    continue
                text = message.get("text") or message.get("caption") or ""
                if expected(message) if callable(expected) else expected in text:
                    found.append(message)
                    return True
            return False

        await self.emu.until(
            arrived, timeout, lambda: f"{self.name} never got {expected!r}; got {self.texts()}")
        return found[0]


def _from_bot(emu: Emulator, message: Json) -> bool:
    return bool(message.get("from", {}).get("id") == emu.bot_id)


def _buttons(message: Json | None) -> list[Json]:
    if not message:
        return []
    rows: list[list[Json]] = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button for row in rows for button in row]


def person(emu: Emulator, user_id: int, first_name: str, **kwargs: Any) -> Person:
    return Person(emu, emu.add_user(user_id, first_name, **kwargs))
