"""Configuration from the environment, checked once at start.

A wrong value should stop the bot before it talks to anyone, with a message that names the
variable, rather than surface later as a confusing Telegram error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.i18n import LANGUAGES

DEFAULT_API_URL = "https://api.telegram.org/bot"
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{5,}$")


class ConfigError(ValueError):
    """A variable is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Config:
    token: str | None
    api_url: str = DEFAULT_API_URL
    file_url: str = "https://api.telegram.org/file/bot"
    database_path: Path = Path("data/mahfil.sqlite3")
    admins: frozenset[int] = field(default_factory=frozenset)
    default_locale: str = "en"
    timezone: str = "UTC"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    sandbox_port: int = 8080
    paid_broadcasts: bool = False
    # The dashboard Mini App (issue 20): its public https address, and where it listens.
    webapp_url: str | None = None
    webapp_listen: str = "0.0.0.0"
    webapp_port: int = 8444

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        token = get("TELEGRAM_BOT_TOKEN")
        if token is not None and not _TOKEN.match(token):
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then"
                " letters, digits, '_' or '-'); copy it again from @BotFather"
            )

        api_url = (get("TELEGRAM_API_URL") or DEFAULT_API_URL).rstrip("/")
        _check_url("TELEGRAM_API_URL", api_url)
        if not api_url.endswith("/bot"):
            api_url += "/bot"
        file_url = api_url[: -len("/bot")] + "/file/bot"

        admins: set[int] = set()
        for part in (get("BOT_ADMINS") or "").split(","):
            part = part.strip()
            if not part:
                continue
            if not part.lstrip("-").isdigit():
                raise ConfigError(
                    f"BOT_ADMINS must be comma-separated Telegram user ids; {part!r} is not one"
                )
            admins.add(int(part))

        locale = get("BOT_DEFAULT_LOCALE") or "en"
        if locale not in LANGUAGES:
            raise ConfigError(
                f"BOT_DEFAULT_LOCALE must be one of {', '.join(LANGUAGES)}; got {locale!r}"
            )

        timezone = get("BOT_TIMEZONE") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"BOT_TIMEZONE must be an IANA time zone such as Asia/Tehran; got {timezone!r}"
            ) from None

        webhook_url = get("WEBHOOK_URL")
        secret = get("WEBHOOK_SECRET")
        port = 8443
        if webhook_url is not None:
            _check_url("WEBHOOK_URL", webhook_url, https=True)
            if secret is None or not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
                raise ConfigError(
                    "WEBHOOK_SECRET must be set with WEBHOOK_URL: 16-256 characters of"
                    " A-Z, a-z, 0-9, '_' and '-'"
                )
            raw_port = get("WEBHOOK_PORT") or "8443"
            if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
                raise ConfigError(f"WEBHOOK_PORT must be a port number; got {raw_port!r}")
            port = int(raw_port)

        raw_sandbox = get("SANDBOX_PORT") or "8080"
        if not raw_sandbox.isdigit() or not 0 <= int(raw_sandbox) < 65536:
            raise ConfigError(
                f"SANDBOX_PORT must be a port number (0 picks a free one); got {raw_sandbox!r}"
            )

        raw_paid = (get("BOT_PAID_BROADCASTS") or "no").lower()
        if raw_paid not in ("yes", "no", "true", "false", "1", "0"):
            raise ConfigError(f"BOT_PAID_BROADCASTS must be yes or no; got {raw_paid!r}")

        webapp_url, webapp_port = _webapp(get)

        return cls(
            token=token,
            paid_broadcasts=raw_paid in ("yes", "true", "1"),
            api_url=api_url,
            file_url=file_url,
            database_path=Path(get("DATABASE_PATH") or "data/mahfil.sqlite3"),
            admins=frozenset(admins),
            default_locale=locale,
            timezone=timezone,
            webhook_url=webhook_url,
            webhook_secret=secret,
            webhook_listen=get("WEBHOOK_LISTEN") or "0.0.0.0",
            webhook_port=port,
            sandbox_port=int(raw_sandbox),
            webapp_url=webapp_url,
            webapp_listen=get("WEBAPP_LISTEN") or "0.0.0.0",
            webapp_port=webapp_port,
        )


def _check_url(name: str, value: str, *, https: bool = False) -> None:
    parsed = urlparse(value)
    schemes = ("https",) if https else ("http", "https")
    if parsed.scheme not in schemes or not parsed.netloc:
        raise ConfigError(f"{name} must be an {' or '.join(schemes)} URL; got {value!r}")


def _webapp(get: Callable[[str], str | None]) -> tuple[str | None, int]:
    """WEBAPP_URL (Telegram opens Mini Apps only over https) and WEBAPP_PORT."""
    url = get("WEBAPP_URL")
    if url is not None:
        _check_url("WEBAPP_URL", url, https=True)
    raw_port = get("WEBAPP_PORT") or "8444"
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ConfigError(f"WEBAPP_PORT must be a port number; got {raw_port!r}")
    return url, int(raw_port)
