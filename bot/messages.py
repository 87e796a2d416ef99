"""Helpers for message text that Telegram limits: 4096 characters a message."""

from __future__ import annotations

MAX_MESSAGE = 4096


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut ``text`` into messages of at most ``limit`` characters.

    Cuts fall on line breaks where possible (so a list item or an HTML tag opened and
    closed on one line is never split), else on spaces, else anywhere.
    """
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:].lstrip("\n")
    if rest or not parts:
        parts.append(rest)
    return parts
