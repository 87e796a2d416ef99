"""Telegram's HTML parse mode: text and entities from markup, as the Bot API computes them.

Entity offsets and lengths are in UTF-16 code units, like Telegram's. Only the tags Telegram
accepts are allowed; anything else is refused with Telegram's wording, so a bot that sends
bad markup fails in tests the way it would in production.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


class EntityError(ValueError):
    """Markup Telegram would refuse: ``Bad Request: can't parse entities: …``."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.stack: list[tuple[str, int, dict[str, Any]]] = []
        self.entities: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TAGS:
            raise EntityError(f'Unsupported start tag "{tag}"')
        extra: dict[str, Any] = {}
        values = dict(attrs)
        if tag == "a":
            href = values.get("href") or ""
            if not href:
                raise EntityError("Can't find end of the entity starting at byte offset")
            extra["url"] = href
        if tag == "span" and values.get("class") != "tg-spoiler":
            raise EntityError('Unsupported start tag "span"')
        self.stack.append((tag, self.length, extra))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            raise EntityError(f'Unmatched end tag "{tag}"')
        _, start, extra = self.stack.pop()
        if self.length > start:
            self.entities.append(
                {"type": TAGS[tag], "offset": start, "length": self.length - start, **extra}
            )

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.length += utf16_len(data)


def parse_html(markup: str) -> tuple[str, list[dict[str, Any]]]:
    """(plain text, entities) of Telegram HTML; raises :class:`EntityError`."""
    parser = _Parser()
    parser.feed(markup)
    parser.close()
    if parser.stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{parser.stack[-1][0]}"')
    parser.entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(parser.parts), parser.entities
