from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import NEVER_REUSED_IDS, StrictInput, created_at_field
from app.models.user import MAX_ID


class ApiScope(StrEnum):
    """What an integrator's key may read. Keys never write: no write scope exists
    until an integration needs one."""

    read_orgs = "read:orgs"
    read_tasks = "read:tasks"
    read_wishes = "read:wishes"
    read_problems = "read:problems"
    read_articles = "read:articles"
    read_stats = "read:stats"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = NEVER_REUSED_IDS

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    org_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    # Space-separated ApiScope values.
    scopes: str = Field(sa_column=Column(String(200), nullable=False))
    # The first characters of the key, shown in lists so people can tell keys apart.
    prefix: str = Field(sa_column=Column(String(16), nullable=False))
    # SHA-256 of the whole key: the key has 256 random bits, so a fast hash is enough
    # and a lookup is one indexed equality.
    key_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    rate_limit_per_minute: int = Field(sa_column=Column(Integer, nullable=False))
    created_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    created_at: datetime = created_at_field()
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class ApiKeyCreate(StrictInput):
    name: str = Field(min_length=1, max_length=100)
    org_id: int = Field(ge=1, le=MAX_ID)
    scopes: list[ApiScope] = Field(min_length=1, max_length=len(ApiScope))
    rate_limit_per_minute: int = Field(default=120, ge=1, le=6000)


class ApiKeyPublic(SQLModel):
    id: int
    name: str
    org_id: int
    scopes: list[ApiScope]
    prefix: str
    rate_limit_per_minute: int
    created_at: datetime
    revoked_at: datetime | None
    created_by_id: int | None = Field(description="签发人（人员 id）；签发人被删除时为空")
    issuer_active: bool = Field(
        description="签发人是否仍担任可为该组织签发密钥的角色（该组织或其上级的区、街道管理员）。"
        "为 false 的密钥照常可用，但应由本单位复核：继续使用，或撤销后重新签发"
    )


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="完整密钥，只在创建时显示这一次，请妥善保存")
