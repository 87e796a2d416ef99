"""Inline keyboards shared by several capabilities."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import LANGUAGES, language_name


def grid(buttons: Sequence[InlineKeyboardButton], per_row: int = 2) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]
    )


def choices(options: Sequence[tuple[str, str]], per_row: int = 2) -> InlineKeyboardMarkup:
    """Buttons from (label, callback data) pairs."""
    return grid([InlineKeyboardButton(label, callback_data=data) for label, data in options],
                per_row)


def language_keyboard() -> InlineKeyboardMarkup:
    """Every language in its own name; callback ``lang:<code>``."""
    return choices([(language_name(lang), f"lang:{lang}") for lang in LANGUAGES])
