"""How a flow refuses: with a message id the handler translates, never with Telegram text.

Flows know the rules but not the language of the person asking, so they raise
:class:`Refused` carrying an ``N_``-marked msgid and its values; the handler renders it with
the user's :class:`~bot.i18n.Translator`.
"""

from __future__ import annotations

from typing import Any

from bot.i18n import N_

# What a forged, stale or no longer valid button (or choice) gets.
STALE = N_("This button no longer works.")


class Refused(Exception):
    """The request breaks a rule; nothing was changed."""

    def __init__(self, message: str, /, **values: Any) -> None:
        super().__init__(message)
        self.message = message
        self.values = values
