"""One Settings object, read from the environment (names as in shared/API.md)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Placeholders that make dev and tests work out of the box; production refuses them.
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789"
DEV_PII_KEY = "dev-only-pii-key-change-me-0123456789abcdef"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["dev", "test", "prod"] = "dev"

    database_url: str = "sqlite:///./var/app.db"
    # Seconds a SQLite writer waits for the lock before giving up.
    sqlite_busy_timeout_s: float = 15.0
    # PostgreSQL connections a process may hold (opened as needed, then kept), and how
    # many more it may open under a burst, each closed again as it comes back. No
    # overflow by default: at the pool's edge, overflow connections were opened and
    # closed again many times a second, a connection's setup costing more CPU than
    # the check-ins it served (docs/PERFORMANCE.md).
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=0, ge=0)
    # What stands between the app and PostgreSQL. `pgbouncer`: PgBouncer in transaction
    # mode, where consecutive transactions of one client connection may run on
    # different server connections, so nothing may outlive a transaction on the server:
    # no prepared statement kept (asyncpg's and SQLAlchemy's caches off, statements
    # unnamed) and no startup parameters PgBouncer does not pass (jit and
    # max_parallel_workers_per_gather are set on the role or the database instead;
    # README "Scaling out").
    database_pooler: Literal["none", "pgbouncer"] = "none"
    # A streaming replica (PostgreSQL) for dashboards, rankings, statistics and
    # exports (app/core/replica.py); unset, they read the primary. Further behind the
    # primary than REPLICA_MAX_LAG_S seconds, or not answering, it is left alone.
    database_replica_url: str = ""
    replica_max_lag_s: float = Field(default=10.0, ge=0)

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

    # Seconds a request body may go without a byte arriving before the request is
    # cut with 408 (app/edge/admission.py): nothing is held while a body arrives,
    # but a stalled one still ties up its connection. A slow upload that keeps
    # moving is never cut.
    body_read_timeout_s: float = Field(default=15.0, gt=0, le=600)

    # Photos: the upload cap is enforced while the body streams in; the pixel cap
    # refuses decompression bombs long before Pillow's own (~179 Mpx) would.
    media_max_bytes: int = 10 * 1024 * 1024
    media_max_pixels: int = 40_000_000
    media_thumbnail_px: int = 400
    # Photos stored with their long edge at most this many pixels (0: as they came).
    # A 12 MP photo at 2560 px is a third of the bytes to store and send to phones,
    # but scaling it costs more CPU than re-encoding it whole saves (docs/PERFORMANCE.md
    # "Photo uploads"): off by default. The sha256 and perceptual hash are of the
    # original either way, so reuse detection does not change with it.
    media_photo_max_edge: int = Field(default=0, ge=0)
    # Short videos (MP4, H.264/AAC): streamed to a temporary file, never held in memory.
    media_video_max_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    media_video_max_seconds: float = Field(default=300, gt=0)
    media_url_ttl_s: int = Field(default=300, ge=30, le=7 * 24 * 3600)

    # Micro-wishes: unfulfilled claims one member may hold at once, and the
    # volunteer minutes a confirmed wish credits to its claimant (0: none).
    wish_max_open_claims: int = Field(default=3, ge=1)
    wish_confirm_minutes: int = Field(default=60, ge=0, le=24 * 60)

    # Supervision: an overdue problem is escalated to the street at once and to the
    # district after this many more days overdue.
    problem_district_escalation_days: int = Field(default=3, ge=0, le=365)
    # Inspections: leaders in liaison with a street or community visit this often.
    liaison_visits_per_week: int = Field(default=1, ge=0, le=50)
    # Residents' reports (随手拍) one person may send a minute: enough for a walk that
    # finds several things, too few to flood an admin's inbox.
    report_rate_per_minute: int = Field(default=5, ge=1)
    # Publicity: an urgent article waiting this long at one review level is chased
    # there and escalated to the level above (services/articles.py, the urgent scan).
    urgent_review_hours: float = Field(default=2, gt=0, le=72)
    # Points (积分超市): the most points one manual award may give, and how long a
    # shop reservation waits to be collected before it expires and gives all back.
    points_award_cap: int = Field(default=50, ge=1, le=100_000)
    shop_reservation_days: int = Field(default=7, ge=1, le=90)

    # WeChat content security: texts others will read go through msg_sec_check v2
    # when WeChat is configured; switched off, every check is skipped (dev without a
    # stub). See app/services/content_check.py.
    content_check_enabled: bool = True
    # The message push ("消息推送") of the mini-program, where WeChat sends the
    # verdicts of image checks: the Token, and the EncodingAESKey for safe mode
    # (unset: plaintext mode). Image checks need the token (no verdict arrives
    # without it) and S3 storage (WeChat fetches the image by URL).
    wechat_callback_token: str = ""
    wechat_callback_aes_key: str = Field(default="", pattern=r"^([A-Za-z0-9+/]{43})?$")

    roster_import_max_bytes: int = 5 * 1024 * 1024
    roster_import_max_rows: int = 20_000
    idempotency_ttl_h: int = 48

    # --- Notifications and the job queue ---------------------------------------
    # WeChat subscribe-message template ids by notification kind (the kinds of
    # app/models/notification.py), as JSON or `kind=id,kind=id`; several kinds may
    # share a template. A kind without one is an in-app message only.
    wechat_templates: Annotated[dict[str, str], NoDecode] = {}
    # The keyword names of a template whose fields are not the default layout
    # (subject thing1, status phrase2, time time3, note thing4), as JSON:
    # {"<template id>": {"subject": "thing2", "status": "phrase1", ...}}.
    wechat_template_keys: Annotated[dict[str, dict[str, str]], NoDecode] = {}
    # Which build of the mini-program a subscribe message opens, and the page it
    # opens (given `?id=<message id>`; unset: the mini-program's home page).
    wechat_subscribe_state: Literal["formal", "trial", "developer"] = "formal"
    wechat_message_page: str = ""
    # The mini-program page a console login code opens (its `scene` is the ticket):
    # it asks the admin to confirm and calls POST /auth/console-login/{ticket}/confirm.
    wechat_console_login_page: str = "pages/console-login/index"
    # Console (PC browser) sessions end after this much idle time, and in any case
    # this long after login.
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    console_max_hours: int = Field(default=12, ge=1, le=7 * 24)
    # The console's map picker (a task's place): an XYZ tile URL template with {z},
    # {x}, {y} and optionally {s} (subdomains 0-7), key included, e.g. Tianditu's
    # https://t{s}.tianditu.gov.cn/vec_w/wmts?...&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY.
    # Empty: no map is drawn; the place is typed or taken from "use my location".
    # The console's CSP admits images from its host alone.
    console_map_tiles_url: str = Field(
        default="", max_length=1000, pattern=r"^(https?://[^/\s]+/\S*\{z\}\S*)?$"
    )
    console_map_attribution: str = Field(default="", max_length=200)
    # Sends retried after transient WeChat errors, with exponential backoff.
    wechat_send_max_attempts: int = Field(default=5, ge=1, le=20)
    # The Redis stream the job queue uses when REDIS_URL is set.
    jobs_queue_name: str = "chuangwen:jobs"
    # The Shanghai hour at which the daily scans and reminders run.
    reminder_hour: int = Field(default=9, ge=0, le=23)
    # Problems due within this many working days get a "due soon" reminder.
    problem_due_soon_working_days: int = Field(default=1, ge=0, le=30)
    # From this day of each month, party members who have not reported in are
    # reminded (once a month; a day missed is made up the next day).
    report_in_reminder_day: int = Field(default=20, ge=1, le=28)
    # From this date in Q4, party members who have not claimed a wish this year are
    # reminded (once a year).
    wish_quota_reminder_month: int = Field(default=10, ge=10, le=12)
    wish_quota_reminder_day: int = Field(default=15, ge=1, le=28)

    @field_validator("wechat_templates", "wechat_template_keys", mode="before")
    @classmethod
    def _parse_mapping(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return {}
        if value.startswith("{"):
            return json.loads(value)
        return dict(pair.strip().split("=", 1) for pair in value.split(",") if pair.strip())

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
        if self.wechat_callback_token and self.storage_backend == "local":
            problems.append(
                "WECHAT_CALLBACK_TOKEN asks for image checks, which need STORAGE_BACKEND=s3:"
                " WeChat fetches images by URL and local storage has none to give"
            )
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
