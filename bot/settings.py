"""Settings from the environment or `.env`; a bad value stops the start with one clear line."""

from __future__ import annotations

import json
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reports.model import DEFAULT_SPHERES

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
        return json.loads(text)
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

    @field_validator("timezone", mode="before")
    @classmethod
    def _zone(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return ZoneInfo(value.strip())
            except (ZoneInfoNotFoundError, ValueError) as error:
                raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Moscow)") from error
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
            raise ValueError("at least one sphere is needed")
        if len(set(names)) != len(names):
            raise ValueError("sphere names must be unique")
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
            raise ValueError("days before the deadline must be between 1 and 60")
        return sorted(set(value), reverse=True)

    @field_validator("redis_url", "webhook_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// (or rediss://, unix://) URL")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be the public https:// URL Telegram will call")
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
                raise ValueError("is required with WEBHOOK_URL (1-256 of A-Z a-z 0-9 _ -)")
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule)")
        return value

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or value == "/healthz":
            raise ValueError("must start with / (and not be /healthz)")
        return value

    @field_validator("telegram_request_timeout")
    @classmethod
    def _request_timeout(cls, value: float) -> float:
        # aiogram waits for a long poll int(this + its 10 s): below 1 s that is the poll's
        # own length, and every quiet poll would end in a timeout.
        if not 1 <= value <= 600:
            raise ValueError("must be between 1 and 600 seconds (long polling needs at least 1)")
        return value

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        token = value.get_secret_value().strip()
        head, _, tail = token.partition(":")
        if not head.isdigit() or len(tail) < 20:
            raise ValueError("does not look like a token from @BotFather (123456:ABC...)")
        return SecretStr(token)

    def sqlite_path(self) -> Path | None:
        """The database file for a SQLite URL, else None."""
        prefix = "sqlite+aiosqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url[len(prefix) :].split("?", 1)[0]
        return None if path in ("", ":memory:") else Path(path)


class SettingsError(RuntimeError):
    """A setting with a bad value; the message is one line naming it."""


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning a validation error into one line naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "?"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
    except json.JSONDecodeError as error:
        raise SettingsError(f"cannot read a list ({error})") from None
