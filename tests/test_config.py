"""Configuration: good values load, bad ones stop start-up naming the variable."""

from pathlib import Path

import pytest

from bot.config import Config, ConfigError

TOKEN = "123456:ABC-def_ghi"


def test_defaults() -> None:
    config = Config.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert config.api_url == "https://api.telegram.org/bot"
    assert config.file_url == "https://api.telegram.org/file/bot"
    assert config.database_path == Path("data/mahfil.sqlite3")
    assert config.default_locale == "en" and config.timezone == "UTC"
    assert config.webhook_url is None


def test_everything_set() -> None:
    config = Config.from_env(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
            "DATABASE_PATH": "/tmp/x.sqlite3",
            "BOT_ADMINS": "42, 7",
            "BOT_DEFAULT_LOCALE": "fa",
            "BOT_TIMEZONE": "Asia/Tehran",
            "WEBHOOK_URL": "https://bot.example.org/hook",
            "WEBHOOK_SECRET": "s" * 20,
        }
    )
    assert config.api_url == "http://127.0.0.1:8081/bot"
    assert config.file_url == "http://127.0.0.1:8081/file/bot"
    assert config.admins == {42, 7}
    assert config.default_locale == "fa" and config.timezone == "Asia/Tehran"
    assert config.webhook_secret == "s" * 20


def test_no_token_is_allowed_until_run() -> None:
    assert Config.from_env({}).token is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TELEGRAM_BOT_TOKEN", "not-a-token"),
        ("TELEGRAM_API_URL", "ftp://x"),
        ("BOT_ADMINS", "42,alice"),
        ("BOT_DEFAULT_LOCALE", "de"),
        ("BOT_TIMEZONE", "Mars/Olympus"),
        ("WEBHOOK_URL", "http://insecure.example.org"),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, name: value}
    with pytest.raises(ConfigError, match=name):
        Config.from_env(env)


def test_webhook_needs_a_secret() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        Config.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://a.example/h"})


# -- the dashboard Mini App (issue 20) -------------------------------------------------------


def test_webapp_defaults_and_values() -> None:
    config = Config.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert config.webapp_url is None and config.webapp_port == 8444
    config = Config.from_env({"TELEGRAM_BOT_TOKEN": TOKEN,
                              "WEBAPP_URL": "https://bot.example.org/dashboard/",
                              "WEBAPP_LISTEN": "127.0.0.1", "WEBAPP_PORT": "9000"})
    assert config.webapp_url == "https://bot.example.org/dashboard/"
    assert (config.webapp_listen, config.webapp_port) == ("127.0.0.1", 9000)


@pytest.mark.parametrize(("name", "value"), [("WEBAPP_URL", "http://bot.example.org/"),
                                             ("WEBAPP_URL", "bot.example.org"),
                                             ("WEBAPP_PORT", "70000"),
                                             ("WEBAPP_PORT", "port")])
def test_bad_webapp_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, name: value})
