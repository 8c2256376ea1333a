"""Typed settings for the API and the `coffer` CLI, read from COFFER_* environment variables.

DATABASE_URL is also accepted without the prefix, as the CLI and the test suite use it.
Unsafe values fail at start-up with one line that says what to fix.
"""

import ipaddress
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COFFER_", env_file=".env", extra="ignore")

    database_url: SecretStr = Field(validation_alias=AliasChoices("COFFER_DATABASE_URL", "DATABASE_URL"))
    db_pool_min_size: int = Field(default=2, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=100)
    # How long a request may wait for a free database connection before it is refused with 503.
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Statement timeout for request queries, so a stuck database turns into a 503, not a hang.
    db_statement_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    workers: int = Field(default=2, ge=1, le=64)

    rate_limit_per_minute: int = Field(default=3000, ge=1)
    rate_limit_sync_seconds: float = Field(default=1.0, gt=0, le=60)
    key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    idempotency_retention_days: int = Field(default=30, ge=30)
    log_level: str = "INFO"

    roblox_webhook_secret: SecretStr | None = None
    opencloud_api_key: SecretStr | None = None
    opencloud_universe_id: int | None = None
    opencloud_topic: str = Field(default="coffer-balances", min_length=1, max_length=80)
    opencloud_base_url: str = "https://apis.roblox.com"

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().split("://", 1)[0]
        if scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql://user:password@host:port/database URL")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            if network == "*":
                raise ValueError("'*' would trust X-Forwarded-* from anyone; list the load balancer's CIDRs")
            ipaddress.ip_network(network, strict=False)
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return value
