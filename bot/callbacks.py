"""Typed buttons: every kind of inline button is a small frozen dataclass.

Telegram gives a button 1–64 bytes of data and sends them back as they were — from the person
who tapped, or from anyone who crafts an update. Callback data is therefore untrusted input:
:meth:`Button.parse` checks its shape, types and ranges before a handler sees it and raises
:class:`~bot.flows.errors.Refused` with "This button no longer works" otherwise; the flow then
re-checks on the server that this person may do this, in this community, now.

A button kind is declared once, with the capability's own name and a verb::

    @button("voting", "sticker")
    class Sticker(Button):
        vote: Id
        problem: Id
        page: Index

``Sticker(vote=3, problem=12, page=0).pack()`` gives ``"voting:sticker:3:12:0"`` (refused
over 64 bytes); ``Sticker.pattern`` is what the handler matches; ``Button.parse(data)`` returns
a ``Sticker`` — or refuses. Field types say what a field may hold: :data:`Id` (a row id or a
Telegram user id, within SQLite's 64-bit range), :data:`Index` (a page or position),
:data:`Key` (a short word such as a language or a group), ``bool``, or a ``Literal`` of words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import (
    Annotated,
    Any,
    ClassVar,
    Literal,
    Self,
    TypeVar,
    cast,
    dataclass_transform,
    get_args,
    get_origin,
    get_type_hints,
)

from bot.flows.errors import STALE, Refused
from bot.flows.people import Role

MAX_BYTES = 64  # Telegram's limit for callback data
MAX_ID = 2**63 - 1  # SQLite's INTEGER
__all__ = ["KINDS", "STALE", "Amount", "Button", "ChatId", "Id", "Index", "Key", "Range",
           "Word", "button"]

_WORD = re.compile(r"[A-Za-z0-9_-]+")
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,18})")


@dataclass(frozen=True, slots=True)
class Range:
    """An integer field's allowed values, both ends included."""

    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Word:
    """A text field: letters, digits, ``_`` and ``-``, at most ``limit`` of them."""

    limit: int


Id = Annotated[int, Range(1, MAX_ID)]
Index = Annotated[int, Range(0, 100_000)]
Amount = Annotated[int, Range(0, 1_000_000)]
ChatId = Annotated[int, Range(-MAX_ID, MAX_ID)]  # group chats have negative ids
Key = Annotated[str, Word(32)]


@dataclass(frozen=True, slots=True)
class _Codec:
    name: str
    dump: Callable[[Any], str]
    load: Callable[[str], Any]


def _int_codec(name: str, bounds: Range) -> _Codec:
    def load(text: str) -> int:
        if not _INT.fullmatch(text):
            raise ValueError(text)
        value = int(text)
        if not bounds.low <= value <= bounds.high:
            raise ValueError(text)
        return value

    def dump(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int")
        if not bounds.low <= value <= bounds.high:
            raise ValueError(f"{name}={value} is outside {bounds.low}..{bounds.high}")
        return str(value)

    return _Codec(name, dump, load)


def _word_codec(name: str, word: Word, allowed: frozenset[str] | None = None) -> _Codec:
    def check(text: Any) -> str:
        if not isinstance(text, str) or len(text) > word.limit or not _WORD.fullmatch(text):
            raise ValueError(f"{name}={text!r} is not a word of at most {word.limit}")
        if allowed is not None and text not in allowed:
            raise ValueError(f"{name}={text!r} is not one of {sorted(allowed)}")
        return text

    return _Codec(name, check, check)


def _bool_codec(name: str) -> _Codec:
    def load(text: str) -> bool:
        if text not in ("0", "1"):
            raise ValueError(text)
        return text == "1"

    def dump(value: Any) -> str:
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool")
        return "1" if value else "0"

    return _Codec(name, dump, load)


def _codec(name: str, hint: Any) -> _Codec:
    if get_origin(hint) is Annotated:
        base, *extras = get_args(hint)
        for extra in extras:
            if isinstance(extra, Range) and base is int:
                return _int_codec(name, extra)
            if isinstance(extra, Word) and base is str:
                return _word_codec(name, extra)
    if hint is bool:
        return _bool_codec(name)
    if hint is int:
        return _int_codec(name, Range(0, MAX_ID))
    if get_origin(hint) is Literal:
        words = frozenset(str(arg) for arg in get_args(hint))
        return _word_codec(name, Word(max(len(w) for w in words)), words)
    raise TypeError(f"button field {name}: use Id, Index, Key, bool, int or a Literal")


class Button:
    """Base of every button kind. Declare kinds with :func:`button`."""

    prefix: ClassVar[str]
    pattern: ClassVar[str]
    role: ClassVar[Role | None]
    _codecs: ClassVar[tuple[_Codec, ...]]

    def pack(self) -> str:
        """The callback data; a kind whose values do not fit in 64 bytes is a bug here."""
        parts = [self.prefix]
        parts += [codec.dump(getattr(self, codec.name)) for codec in self._codecs]
        data = ":".join(parts)
        if len(data.encode()) > MAX_BYTES:
            raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
        return data

    @classmethod
    def parse(cls, data: str) -> Self:
        """The button ``data`` stands for, if it is one of this kind (or a subkind when
        called on :class:`Button`); anything else is refused as a stale button."""
        head, _, rest = data.partition(":")
        verb, _, rest = rest.partition(":")
        kind = KINDS.get(f"{head}:{verb}")
        if kind is None or not issubclass(kind, cls):
            raise Refused(STALE)
        parts = rest.split(":") if rest else []
        if len(parts) != len(kind._codecs) or ":".join([kind.prefix, *parts]) != data:
            raise Refused(STALE)  # (the join also refuses "account:keep:", a stray colon)
        try:
            values = {c.name: c.load(p) for c, p in zip(kind._codecs, parts, strict=True)}
        except ValueError:
            raise Refused(STALE) from None
        return kind(**values)  # the kind is a subclass of cls


KINDS: dict[str, type[Button]] = {}
B = TypeVar("B", bound=type[Button])


@dataclass_transform(frozen_default=True)
def button(capability: str, verb: str, *, role: Role | None = "resident",
           ) -> Callable[[B], B]:
    """Declare a button kind: a frozen dataclass whose data starts ``capability:verb``.

    ``role`` is the least role that may tap it (None: anyone, even before joining); the tap
    decorator checks it before the handler runs.
    """

    def declare(cls: B) -> B:
        prefix = f"{capability}:{verb}"
        if prefix in KINDS:
            raise ValueError(f"two button kinds share {prefix!r}")
        if not (_WORD.fullmatch(capability) and _WORD.fullmatch(verb)):
            raise ValueError(f"bad button prefix {prefix!r}")
        kind: Any = dataclass(frozen=True, slots=True)(cls)
        hints = get_type_hints(kind, include_extras=True)
        kind.prefix = prefix
        kind.pattern = f"^{re.escape(prefix)}(?::|$)"
        kind.role = role
        kind._codecs = tuple(_codec(f.name, hints[f.name]) for f in fields(kind))
        KINDS[prefix] = kind
        return cast(B, kind)  # the dataclass made of cls

    return declare
