"""Settings from the environment or `.env`; a bad value stops the start with one clear line."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot import texts
from reports.model import DEFAULT_SPHERES
from reports.quarters import Quarter

DEFAULT_REGION_PHRASE = (
    "исполнительными органами Смоленской области и подведомственными им учреждениями"
)
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/bot.db"


def _split_list(value: Any, separators: str) -> Any:
    """Read a list written as JSON (`["a", "b"]`) or separated by one of `separators`."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(
                texts.SETTING_JSON_LIST.format(line=error.lineno, column=error.colno)
            ) from None
    for separator in separators:
        if separator in text:
            return [part.strip() for part in text.split(separator) if part.strip()]
    return [text]


class Settings(BaseSettings):
    """Everything the deployment decides; read once at start."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    bot_token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_url: str | None = None
    telegram_request_timeout: float = 60.0  # seconds a Bot API request may take
    timezone: ZoneInfo = ZoneInfo("Europe/Moscow")
    region_phrase: str = Field(default=DEFAULT_REGION_PHRASE, min_length=3)
    spheres: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_SPHERES))
    coordinator_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    deadline_day: int = Field(default=5, ge=1, le=28)
    deadline_time: time = time(18, 0)
    default_organisation: str = "Импортированные мероприятия"
    join_code_days: int = Field(default=14, ge=1, le=365)
    # Reminders (bot/scheduler.py): days before the deadline, local times, Telegram's limits.
    reminder_days_before: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [7, 3, 1])
    reminder_time: time = time(10, 0)
    digest_time: time = time(10, 0)
    send_rate_per_second: float = Field(default=30.0, gt=0, le=1000)
    send_per_chat_interval: float = Field(default=1.0, ge=0, le=60)
    scheduler_enabled: bool = True
    # Nightly SQLite copies (bot/backup.py), taken by the scheduler: the folder (blank: a
    # `backups` folder beside the database), the local time, how many to keep (0: none).
    backup_dir: Path | None = None
    backup_time: time = time(3, 0)
    backup_keep: int = Field(default=7, ge=0, le=1000)
    # Connection pools: an update waits its turn for a connection (at most the timeout,
    # seconds); a wait longer than POOL_SLOW_WAIT seconds is logged and counted (/metrics).
    # The size and overflow are PostgreSQL's (a SQLite file has one writer connection).
    db_pool_size: int = Field(default=20, ge=1, le=1000)
    db_max_overflow: int = Field(default=0, ge=0, le=1000)
    db_pool_timeout: float = Field(default=120.0, gt=0, le=3600)
    redis_max_connections: int = Field(default=64, ge=1, le=10000)
    redis_pool_timeout: float = Field(default=120.0, gt=0, le=3600)
    pool_slow_wait: float = Field(default=1.0, ge=0, le=3600)
    # Updates handled at once by one process; more wait their turn (bot/middlewares.py).
    updates_in_hand: int = Field(default=16, ge=1, le=10000)
    # Prometheus /metrics beside long polling and in the scheduler process; a webhook
    # worker serves it on its webhook port instead (METRICS_PORT is not used there).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # Production mode: aiogram's FSM in Redis, webhooks behind a load balancer.
    redis_url: str | None = None
    webhook_url: str | None = None  # the public https URL Telegram calls; set → webhook mode
    webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_path: str = "/webhook"
    webhook_register: bool = True  # setWebhook at start; false for extra workers
    shutdown_timeout: float = Field(default=30.0, gt=0, le=600)  # to finish in-flight updates
    # The outbox (bot/outbox.py): a message owed is left to its sender for OUTBOX_LEASE
    # seconds, and rows past their lease are delivered every OUTBOX_EVERY seconds.
    outbox_lease: float = Field(default=150.0, ge=0, le=3600)
    outbox_every: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        try:
            url = make_url(value.strip())
        except ArgumentError:
            raise ValueError(texts.SETTING_DATABASE_URL) from None
        backend, driver = url.get_backend_name(), url.get_driver_name()
        if backend == "sqlite" and driver != "aiosqlite":
            raise ValueError(
                texts.SETTING_SQLITE_DRIVER.format(database=url.database or "data/bot.db")
            )
        if backend == "postgresql" and driver != "asyncpg":
            raise ValueError(texts.SETTING_POSTGRES_DRIVER)
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(texts.SETTING_DATABASE_UNSUPPORTED.format(backend=backend))
        return value.strip()

    @field_validator("timezone", mode="before")
    @classmethod
    def _zone(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return ZoneInfo(value.strip())
            except (ZoneInfoNotFoundError, ValueError) as error:
                raise ValueError(texts.SETTING_TIMEZONE.format(value=value)) from error
        return value

    @field_validator("spheres", mode="before")
    @classmethod
    def _spheres(cls, value: Any) -> Any:
        return _split_list(value, ";\n")

    @field_validator("spheres")
    @classmethod
    def _spheres_unique(cls, value: list[str]) -> list[str]:
        names = [name.strip() for name in value if name.strip()]
        if not names:
            raise ValueError(texts.SETTING_NO_SPHERES)
        if len(set(names)) != len(names):
            raise ValueError(texts.SETTING_SPHERES_REPEATED)
        return names

    @field_validator("coordinator_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return _split_list(value, ",; ")

    @field_validator("reminder_days_before", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [part for part in re.split(r"[,;\s]+", value) if part]
        return _split_list(value, ",; ")

    @field_validator("reminder_days_before")
    @classmethod
    def _days_range(cls, value: list[int]) -> list[int]:
        if any(not 1 <= days <= 60 for days in value):
            raise ValueError(texts.SETTING_REMINDER_DAYS)
        return sorted(set(value), reverse=True)

    @field_validator("redis_url", "webhook_url", "metrics_port", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(texts.SETTING_REDIS_URL)
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(texts.SETTING_WEBHOOK_URL)
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _blank_secret(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if info.data.get("webhook_url"):
                raise ValueError(texts.SETTING_WEBHOOK_SECRET_MISSING)
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError(texts.SETTING_WEBHOOK_SECRET)
        return value

    @field_validator("backup_dir", mode="before")
    @classmethod
    def _blank_folder(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or value == "/healthz":
            raise ValueError(texts.SETTING_WEBHOOK_PATH)
        return value

    @field_validator("telegram_request_timeout")
    @classmethod
    def _request_timeout(cls, value: float) -> float:
        # aiogram waits for a long poll int(this + its 10 s): below 1 s that is the poll's
        # own length, and every quiet poll would end in a timeout.
        if not 1 <= value <= 600:
            raise ValueError(texts.SETTING_REQUEST_TIMEOUT)
        return value

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        token = value.get_secret_value().strip()
        head, _, tail = token.partition(":")
        if not head.isdigit() or len(tail) < 20:
            raise ValueError(texts.SETTING_TOKEN)
        return SecretStr(token)

    def sqlite_path(self) -> Path | None:
        """The database file for a SQLite URL, else None."""
        prefix = "sqlite+aiosqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url[len(prefix) :].split("?", 1)[0]
        return None if path in ("", ":memory:") else Path(path)

    def backup_folder(self) -> Path | None:
        """Where the nightly copies go; None when there are none (PostgreSQL, or
        BACKUP_KEEP=0)."""
        database = self.sqlite_path()
        if database is None or self.backup_keep == 0:
            return None
        return self.backup_dir or database.parent / "backups"

    def default_deadline(self, quarter: Quarter) -> datetime:
        """A quarter's deadline when none is stored: DEADLINE_DAY of the month after it at
        DEADLINE_TIME, local time, or the next working day in Russia if that day is not one
        (reports/workdays.py)."""
        return quarter.deadline(self.timezone, day=self.deadline_day, at=self.deadline_time)


class StartupError(RuntimeError):
    """Something the person running the bot must fix; the message is one Russian line."""


class SettingsError(StartupError):
    """A setting with a bad value; the message is one line naming it."""


def _russian(error: Mapping[str, Any]) -> str:
    """One pydantic error as a Russian phrase; our own validators' messages pass through."""
    kind = str(error.get("type", ""))
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    template = texts.SETTING_ERRORS.get(kind, texts.SETTING_INVALID)
    context = error.get("ctx") or {}
    try:
        return template.format(**context)
    except (KeyError, IndexError):
        return texts.SETTING_INVALID


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning a validation error into one Russian line naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "?"
        raise SettingsError(f"{name}: {_russian(first)}") from None
    except json.JSONDecodeError as error:
        raise SettingsError(
            texts.SETTING_JSON_FILE.format(line=error.lineno, column=error.colno)
        ) from None
