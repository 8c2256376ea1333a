"""Typed settings of the bot, read from COFFER_BOT_* environment variables (and a .env file).

Secrets (the Discord token, the API key, the database URL) are SecretStr: never printed or logged.
"""

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COFFER_BOT_", env_file=".env", extra="ignore")

    # Required; checked by main() so that a missing token is one clear line and exit code 2.
    discord_token: SecretStr | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    # Guilds to register the commands in at once; empty: global commands (Discord may take a while).
    guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)

    api_url: str = "http://127.0.0.1:8000"
    api_key: SecretStr | None = None
    api_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # The read-only login user (granted coffer_bot_read), e.g. postgresql://coffer_bot:...@db:5432/coffer
    database_url: SecretStr | None = None
    db_pool_max_size: int = Field(default=5, ge=1, le=50)
    db_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    # Work still running after this long is deferred (Discord's deadline for the first answer is 3 s).
    defer_after_seconds: float = Field(default=1.5, ge=0, lt=3)
    default_currency: str = Field(default="coins", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    log_level: str = "INFO"

    @field_validator("guild_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("discord_api_base", "api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().split("://", 1)[0] not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql://user:password@host:port/database URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return value

    def missing(self) -> list[str]:
        """The required settings that are not set, by environment variable name."""
        required = {
            "COFFER_BOT_DISCORD_TOKEN": self.discord_token,
            "COFFER_BOT_API_KEY": self.api_key,
            "COFFER_BOT_DATABASE_URL": self.database_url,
        }
        return [name for name, value in required.items() if value is None or not value.get_secret_value().strip()]
