"""Mahfil: a Telegram bot for a neighbourhood's participation process.

PTB 22 still gives Telegram's ``retry_after`` (and other durations) as numbers, with a
deprecation warning on every read, and will give ``datetime.timedelta`` in its next major
version; ``PTB_TIMEDELTA`` opts in now. The bot reads both forms.
"""

import os

os.environ.setdefault("PTB_TIMEDELTA", "true")
