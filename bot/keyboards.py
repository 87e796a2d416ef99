"""Inline keyboards shared by several capabilities."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import Button, Key
from bot.callbacks import button as kind
from bot.i18n import LANGUAGES, Translator, language_name


def grid(buttons: Sequence[InlineKeyboardButton], per_row: int = 2) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]
    )


def choices(options: Sequence[tuple[str, str]], per_row: int = 2) -> InlineKeyboardMarkup:
    """Buttons from (label, callback data) pairs."""
    return grid([InlineKeyboardButton(label, callback_data=data) for label, data in options],
                per_row)


@kind("account", "language", role=None)
class Language(Button):
    """A language chosen from /start or /language (anyone may tap it, member or not)."""

    lang: Key


def language_keyboard() -> InlineKeyboardMarkup:
    """Every language in its own name."""
    return grid([inline(language_name(lang), Language(lang)) for lang in LANGUAGES])


# -- typed buttons -------------------------------------------------------------------------

T = TypeVar("T")


def inline(label: str, data: Button) -> InlineKeyboardButton:
    """An inline button carrying a typed button's packed data."""
    return InlineKeyboardButton(label, callback_data=data.pack())


def keyboard(*rows: Sequence[InlineKeyboardButton] | None) -> InlineKeyboardMarkup | None:
    """A keyboard of the rows given (empty rows and None left out); None when none is left."""
    kept = [list(row) for row in rows if row]
    return InlineKeyboardMarkup(kept) if kept else None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: the items shown, where it starts, and how many pages there are."""

    items: list[T]
    number: int  # from 0
    pages: int
    first: int  # position of items[0] in the whole list, from 0


def page_of(items: Sequence[T], number: int, size: int) -> Page[T]:
    """Page ``number`` of ``items`` (clamped to the pages there are)."""
    pages = max(1, -(-len(items) // size))
    number = min(max(number, 0), pages - 1)
    start = number * size
    return Page(list(items[start:start + size]), number, pages, start)


def pager(t: Translator, page: Page[Any], to: Callable[[int], Button],
          ) -> list[InlineKeyboardButton]:
    """‹ Back · 2/5 · Next › under a paged list; empty when it all fits on one page.

    ``to(n)`` is the button that shows page ``n``; the middle one shows the current page
    again (a refresh).
    """
    if page.pages <= 1:
        return []
    row = []
    if page.number > 0:
        row.append(inline(t._("‹ Back"), to(page.number - 1)))
    row.append(inline(f"{t.num(page.number + 1)}/{t.num(page.pages)}", to(page.number)))
    if page.number < page.pages - 1:
        row.append(inline(t._("Next ›"), to(page.number + 1)))
    return row
