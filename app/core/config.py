"""One Settings object, read from the environment (names as in shared/API.md)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Placeholders that make dev and tests work out of the box; production refuses them.
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789"
DEV_PII_KEY = "dev-only-pii-key-change-me-0123456789abcdef"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["dev", "test", "prod"] = "dev"

    database_url: str = "sqlite:///./var/app.db"
    # Seconds a SQLite writer waits for the lock before giving up.
    sqlite_busy_timeout_s: float = 15.0

    storage_backend: Literal["local", "s3"] = "local"
    storage_local_dir: str = "./var/media"
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "chuangwen"
    s3_secure: bool = True
    s3_region: str = ""
    s3_public_endpoint: str = ""

    wechat_appid: str = ""
    wechat_secret: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com/"
    wechat_timeout_s: float = 5.0
    # Serves a fake WeChat API under /dev/wechat/ so the demo can log in without a
    # real mini-program. Refused when APP_ENV=prod.
    wechat_dev_stub: bool = False

    jwt_secret: str = DEV_JWT_SECRET
    access_token_ttl_s: int = Field(default=2 * 3600, ge=60, le=7 * 24 * 3600)
    # Key for personal data at rest (phone numbers): encryption and the lookup hash.
    pii_key: str = DEV_PII_KEY

    redis_url: str | None = None

    # Browsers' origins allowed to call the API (a PC dashboard on another host); the
    # mini-program itself needs none.
    cors_allow_origins: list[str] = []

    # Per-minute budgets: WeChat logins per client address, photo uploads per person.
    login_rate_per_minute: int = Field(default=30, ge=1)
    upload_rate_per_minute: int = Field(default=60, ge=1)

    # When set, GET /metrics wants `Authorization: Bearer <METRICS_TOKEN>`; unset, it
    # is open (put it behind the network then: it shows counts, no personal data).
    metrics_token: str = ""

    # Photos: the upload cap is enforced while the body streams in; the pixel cap
    # refuses decompression bombs long before Pillow's own (~179 Mpx) would.
    media_max_bytes: int = 10 * 1024 * 1024
    media_max_pixels: int = 40_000_000
    media_thumbnail_px: int = 400
    media_url_ttl_s: int = Field(default=300, ge=30, le=7 * 24 * 3600)

    # Micro-wishes: unfulfilled claims one member may hold at once, and the
    # volunteer minutes a confirmed wish credits to its claimant (0: none).
    wish_max_open_claims: int = Field(default=3, ge=1)
    wish_confirm_minutes: int = Field(default=60, ge=0, le=24 * 60)

    # Supervision: an overdue problem is escalated to the street at once and to the
    # district after this many more days overdue.
    problem_district_escalation_days: int = Field(default=3, ge=0, le=365)

    # Articles: the WeChat content check (msg_sec_check v2) runs when WeChat is
    # configured; switched off, submissions skip it (dev without a stub).
    content_check_enabled: bool = True

    roster_import_max_bytes: int = 5 * 1024 * 1024
    roster_import_max_rows: int = 20_000
    idempotency_ttl_h: int = 48

    @model_validator(mode="after")
    def _enforce_production_safety(self) -> Self:
        if self.app_env != "prod":
            return self
        problems = []
        if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32:
            problems.append("JWT_SECRET must be set to a random value of 32+ characters")
        if self.pii_key == DEV_PII_KEY or len(self.pii_key) < 32:
            problems.append("PII_KEY must be set to a random value of 32+ characters")
        if self.wechat_dev_stub:
            problems.append("WECHAT_DEV_STUB cannot be switched on in production")
        if not (self.wechat_appid and self.wechat_secret):
            problems.append("WECHAT_APPID and WECHAT_SECRET are required in production")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def async_database_url(self) -> str:
        return to_async_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.async_database_url.startswith("sqlite")


def to_async_url(url: str) -> str:
    """Accept plain SQLAlchemy URLs and pick the async driver for them."""
    for plain, async_ in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return async_ + url[len(plain) :]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
