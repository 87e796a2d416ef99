"""Telegram Mini App ``initData``: checking it (every request) and making it (sandbox, tests).

Telegram opens the dashboard with a query string signed by the bot's token
(https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app):
``secret = HMAC-SHA-256(key="WebAppData", msg=token)``, then ``hash`` is the hex
HMAC-SHA-256 of the *data-check-string* (every other field as ``key=value``, sorted by key,
joined by line feeds) under that secret. Only someone holding the token can produce it, so a
valid ``hash`` proves that Telegram (or our own sandbox) vouches for ``user.id``. Nothing
else about the request is trusted: the role is looked up afresh on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

MAX_AGE = 3600  # seconds: older initData is refused (the "older than an hour")
CLOCK_SKEW = 60  # seconds an auth_date may lie in the future (clocks differ a little)
MAX_LENGTH = 8192  # Telegram's initData is a few hundred bytes; refuse anything huge


class InitDataError(Exception):
    """initData is missing, malformed, forged or too old; ``reason`` says which (for logs)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WebAppUser:
    """Who opened the Mini App, as Telegram signed it."""

    id: int
    first_name: str
    language_code: str | None
    auth_date: int


def _secret(token: str) -> bytes:
    return hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()


def _check_string(fields: dict[str, str]) -> bytes:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash").encode()


def sign(fields: dict[str, str], token: str) -> str:
    """``fields`` as initData signed with ``token``, exactly as Telegram builds it."""
    digest = hmac.new(_secret(token), _check_string(fields), hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})


def init_data_for(user: dict[str, object], token: str, *, auth_date: int | None = None) -> str:
    """The initData Telegram would give ``user`` (a Bot API User object) opening the app."""
    return sign({
        "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")),
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
    }, token)


def verify(init_data: str, token: str, *, max_age: int = MAX_AGE,
           now: float | None = None) -> WebAppUser:
    """The user initData names, if it is signed with ``token`` and at most ``max_age`` old.

    Raises :class:`InitDataError` otherwise. The comparison is constant-time, and a field
    given twice is refused (which of the two would the signature have covered?).
    """
    if not init_data or len(init_data) > MAX_LENGTH:
        raise InitDataError("missing" if not init_data else "too long")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InitDataError("malformed") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataError("duplicate field")
    given = fields.get("hash", "")
    expected = hmac.new(_secret(token), _check_string(fields), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise InitDataError("bad signature")
    try:
        auth_date = int(fields["auth_date"])
    except (KeyError, ValueError):
        raise InitDataError("no auth_date") from None
    moment = time.time() if now is None else now
    if moment - auth_date > max_age:
        raise InitDataError("expired")
    if auth_date - moment > CLOCK_SKEW:
        raise InitDataError("from the future")
    try:
        user = json.loads(fields["user"])
        user_id = user["id"]
    except (KeyError, ValueError, TypeError):
        raise InitDataError("no user") from None
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise InitDataError("no user")
    language = user.get("language_code")
    return WebAppUser(id=user_id, first_name=str(user.get("first_name") or ""),
                      language_code=language if isinstance(language, str) else None,
                      auth_date=auth_date)
