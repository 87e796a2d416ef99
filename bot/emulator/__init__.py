"""A Telegram Bot API emulator for tests, benchmarks and the sandbox (see ``core.py``)."""

from bot.emulator.core import ApiError, CallbackQuery, Emulator, Limits
from bot.emulator.people import Group, Person
from bot.emulator.server import EmulatorServer
from bot.emulator.transport import EmulatorTransport

__all__ = [
    "ApiError",
    "CallbackQuery",
    "Emulator",
    "EmulatorServer",
    "EmulatorTransport",
    "Group",
    "Limits",
    "Person",
]
