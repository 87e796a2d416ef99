"""How the application is wired: no handler PTB would warn about, every button kind sound."""

from __future__ import annotations

import warnings
from pathlib import Path

from telegram.warnings import PTBUserWarning

from bot.app import build_application
from bot.callbacks import KINDS, MAX_BYTES, MAX_ID, Button
from bot.config import Config
from bot.handlers import handler_modules
from storage.db import Database


async def test_building_the_application_gives_no_ptb_warning(tmp_path: Path) -> None:
    """PTB warns about wiring that misbehaves (a CallbackQueryHandler in a per-chat
    conversation lets a button on an old message drive the current step): none at all."""
    db = await Database.open(tmp_path / "mahfil.sqlite3")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PTBUserWarning)
            build_application(Config(token="123:abcdef", database_path=tmp_path / "x"), db)
    finally:
        await db.close()


def test_every_button_kind_belongs_to_a_capability_and_fits_with_the_largest_ids() -> None:
    capabilities = {module.__name__.rsplit(".", 1)[-1] for module in handler_modules()}
    capabilities |= {"account", "form", "voting"}  # shared kinds: the language, form answers
    for prefix, kind in KINDS.items():
        assert prefix.split(":")[0] in capabilities, prefix
        assert kind.pattern.startswith("^")
        widest = kind(**{name: _widest(kind, name) for name in _fields(kind)})
        assert len(widest.pack().encode()) <= MAX_BYTES, prefix
        assert Button.parse(widest.pack()) == widest


def _fields(kind: type[Button]) -> list[str]:
    return [codec.name for codec in kind._codecs]


def _widest(kind: type[Button], name: str) -> object:
    """The longest value a field may hold: the largest id, the longest word."""
    from dataclasses import fields
    from typing import Annotated, Literal, get_args, get_origin, get_type_hints

    from bot.callbacks import Range, Word

    hint = get_type_hints(kind, include_extras=True)[name]
    assert name in {f.name for f in fields(kind)}  # type: ignore[arg-type]
    if hint is bool:
        return True
    if get_origin(hint) is Literal:
        return max((str(a) for a in get_args(hint)), key=len)
    if get_origin(hint) is Annotated:
        _base, *extras = get_args(hint)
        for extra in extras:
            if isinstance(extra, Range):
                return extra.high if extra.high >= -extra.low else extra.low
            if isinstance(extra, Word):
                return "w" * extra.limit
    if hint is int:
        return MAX_ID
    raise AssertionError(f"{kind.__name__}.{name}: an unknown field type")
