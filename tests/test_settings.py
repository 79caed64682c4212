"""Settings from the environment: defaults, lists, and one clear line for a bad value."""

from __future__ import annotations

import re
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION

from bot.app import build_bot
from bot.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings
from reports.model import DEFAULT_SPHERES
from reports.quarters import Quarter

TOKEN = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in (
        "BOT_TOKEN",
        "DATABASE_URL",
        "TIMEZONE",
        "SPHERES",
        "COORDINATOR_IDS",
        "TELEGRAM_REQUEST_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)


def test_it_starts_from_sensible_defaults() -> None:
    settings = load_settings()

    assert settings.bot_token is None
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.timezone == ZoneInfo("Europe/Moscow")
    assert settings.spheres == list(DEFAULT_SPHERES)
    assert settings.coordinator_ids == []
    assert (settings.deadline_day, settings.deadline_time) == (5, time(18, 0))
    assert settings.sqlite_path() == Path("data/bot.db")
    assert settings.telegram_request_timeout == 60  # aiogram's own default


def test_it_reads_lists_and_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("COORDINATOR_IDS", "111, 222")
    monkeypatch.setenv("SPHERES", "Сфера здравоохранения; Общие направления сотрудничества")

    settings = load_settings()

    assert settings.bot_token is not None
    assert settings.bot_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert settings.coordinator_ids == [111, 222]
    assert settings.spheres == ["Сфера здравоохранения", "Общие направления сотрудничества"]


def test_it_reads_a_dot_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('SPHERES=["А", "Б"]\nTIMEZONE=Asia/Yekaterinburg\n')

    settings = load_settings()

    assert settings.spheres == ["А", "Б"]
    assert settings.timezone == ZoneInfo("Asia/Yekaterinburg")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("TIMEZONE", "Mars/Olympus", "TIMEZONE: неизвестный часовой пояс «Mars/Olympus»"),
        ("BOT_TOKEN", "not-a-token", "BOT_TOKEN: не похож на токен от @BotFather"),
        ("COORDINATOR_IDS", "12, abc", "COORDINATOR_IDS: нужно целое число"),
        ("SPHERES", "А; А", "SPHERES: названия сфер должны быть разными"),
        ("DEADLINE_DAY", "31", "DEADLINE_DAY: должно быть не больше 28"),
        ("TELEGRAM_REQUEST_TIMEOUT", "0", "TELEGRAM_REQUEST_TIMEOUT: допустимо от 1 до 600"),
        ("TELEGRAM_REQUEST_TIMEOUT", "0.5", "TELEGRAM_REQUEST_TIMEOUT: допустимо от 1 до 600"),
        ("TELEGRAM_REQUEST_TIMEOUT", "-5", "TELEGRAM_REQUEST_TIMEOUT: допустимо от 1 до 600"),
        ("TELEGRAM_REQUEST_TIMEOUT", "soon", "TELEGRAM_REQUEST_TIMEOUT: нужно число"),
        ("SCHEDULER_ENABLED", "maybe", "SCHEDULER_ENABLED: нужно true или false"),
        ("REMINDER_TIME", "at ten", "REMINDER_TIME: нужно время в виде ЧЧ:ММ"),
        ("REGION_PHRASE", "ab", "REGION_PHRASE: слишком короткое значение"),
        ("SPHERES", '["А",', "SPHERES: не удалось прочитать список"),
        ("DB_POOL_SIZE", "0", "DB_POOL_SIZE: должно быть не меньше 1"),
        ("DB_MAX_OVERFLOW", "-1", "DB_MAX_OVERFLOW: должно быть не меньше 0"),
        ("DB_POOL_TIMEOUT", "0", "DB_POOL_TIMEOUT: должно быть больше 0"),
        ("REDIS_MAX_CONNECTIONS", "many", "REDIS_MAX_CONNECTIONS: нужно целое число"),
        ("REDIS_POOL_TIMEOUT", "soon", "REDIS_POOL_TIMEOUT: нужно число"),
        ("POOL_SLOW_WAIT", "-1", "POOL_SLOW_WAIT: должно быть не меньше 0"),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)
    assert not re.search("[A-Za-z]{3,} [a-z]{3,}", str(caught.value).partition(":")[2])
    assert value not in str(caught.value) or name != "BOT_TOKEN"


def test_production_settings_default_to_polling_without_redis() -> None:
    settings = load_settings()

    assert settings.redis_url is None and settings.webhook_url is None
    assert (settings.webhook_host, settings.webhook_port) == ("127.0.0.1", 8080)
    assert settings.webhook_register is True


def test_a_webhook_needs_its_secret() -> None:
    with pytest.raises(SettingsError, match=r"^WEBHOOK_SECRET: обязателен при WEBHOOK_URL"):
        load_settings(webhook_url="https://bot.example.org/hook")


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"webhook_url": "https://x.org/h", "webhook_secret": "has space"}, "WEBHOOK_SECRET"),
        ({"webhook_url": "bot.example.org/hook", "webhook_secret": "ok"}, "WEBHOOK_URL"),
        ({"redis_url": "127.0.0.1:6379"}, "REDIS_URL"),
        ({"webhook_path": "/healthz"}, "WEBHOOK_PATH"),
    ],
)
def test_a_bad_production_setting_is_named(overrides: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}: "):
        load_settings(**overrides)


def test_the_webhook_secret_is_never_printed() -> None:
    settings = load_settings(webhook_url="https://x.org/h", webhook_secret="s3cr3t-value")

    assert "s3cr3t-value" not in repr(settings) + str(settings)


def test_the_request_timeout_is_read_in_seconds_and_given_to_the_bots_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_REQUEST_TIMEOUT", "2.5")
    settings = load_settings(bot_token=TOKEN, telegram_api_url="http://127.0.0.1:8081")
    given = AiohttpSession(timeout=300)

    own = build_bot(settings).session
    passed = build_bot(settings, session=given).session
    production = build_bot(settings.model_copy(update={"telegram_api_url": None})).session

    assert settings.telegram_request_timeout == 2.5
    assert isinstance(own, AiohttpSession)
    assert own.timeout == 2.5
    assert own.api.base == "http://127.0.0.1:8081/bot{token}/{method}"
    assert passed is given and given.timeout == 2.5
    assert (production.api, production.timeout) == (PRODUCTION, 2.5)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "sqlite:///data/bot.db",
            "DATABASE_URL: для SQLite нужен драйвер aiosqlite: sqlite+aiosqlite:///data/bot.db",
        ),
        ("postgresql://root@db/reports", "DATABASE_URL: для PostgreSQL нужен драйвер asyncpg"),
        ("mysql://root@db/reports", "DATABASE_URL: база данных «mysql» не поддерживается"),
        ("data/bot.db", "DATABASE_URL: адрес не распознан"),
    ],
)
def test_an_unsupported_or_malformed_database_url_says_what_to_write(
    url: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(database_url=url)

    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(
    "url",
    ["sqlite+aiosqlite:///data/bot.db", "postgresql+asyncpg://root@127.0.0.1:5432/test"],
)
def test_the_supported_database_urls_are_accepted(url: str) -> None:
    assert load_settings(database_url=url).database_url == url


@pytest.mark.parametrize(
    ("day", "quarter", "deadline"),
    [
        ("5", Quarter(2026, 4), datetime(2027, 1, 11, 18, 0)),  # the New Year holidays
        ("4", Quarter(2026, 2), datetime(2026, 7, 6, 18, 0)),  # Saturday 4 July 2026
        ("5", Quarter(2026, 3), datetime(2026, 10, 5, 18, 0)),  # a working Monday stays
    ],
)
def test_the_default_deadline_falls_on_a_working_day(
    monkeypatch: pytest.MonkeyPatch, day: str, quarter: Quarter, deadline: datetime
) -> None:
    monkeypatch.setenv("DEADLINE_DAY", day)

    settings = load_settings()

    assert settings.default_deadline(quarter) == deadline.replace(tzinfo=settings.timezone)
