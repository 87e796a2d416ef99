"""Helpers for message text that Telegram limits: 4096 characters a message."""

from __future__ import annotations

MAX_MESSAGE = 4096


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut ``text`` into messages of at most ``limit`` characters.

    Cuts fall on line breaks where possible (so a list item or an HTML tag opened and
    closed on one line is never split), else on spaces, else anywhere.

    Linear in the length of ``text``: it walks an offset instead of slicing off the rest
    (which copied what was left at every cut).
    """
    parts: list[str] = []
    start, end = 0, len(text)
    while end - start > limit:
        cut = text.rfind("\n", start, start + limit + 1) - start
        if cut <= 0:
            cut = text.rfind(" ", start, start + limit + 1) - start
        if cut <= 0:
            cut = limit
        parts.append(text[start:start + cut].rstrip("\n"))
        start += cut
        while start < end and text[start] == "\n":
            start += 1
    if start < end or not parts:
        parts.append(text[start:])
    return parts
