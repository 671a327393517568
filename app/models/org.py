from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.common import NEVER_REUSED_IDS, StrictInput, created_at_field, updated_at_field


class OrgLevel(StrEnum):
    district = "district"
    street = "street"
    community = "community"
    unit = "unit"


# Which levels may hang under which parent level (None: a root).
ALLOWED_PARENT_LEVELS: dict[OrgLevel, frozenset[OrgLevel | None]] = {
    OrgLevel.district: frozenset({None}),
    OrgLevel.street: frozenset({OrgLevel.district}),
    OrgLevel.community: frozenset({OrgLevel.street}),
    OrgLevel.unit: frozenset({OrgLevel.district, OrgLevel.street}),
}

# Collation "C" on PostgreSQL so path ranges compare byte-wise, as on SQLite.
PATH_TYPE = String(255).with_variant(String(255, collation="C"), "postgresql")


class OrgBase(SQLModel):
    name: str = Field(min_length=1, max_length=100)
    code: str | None = Field(default=None, max_length=50, description="外部编码，如行政区划代码")


class OrgCreate(OrgBase, StrictInput):
    level: OrgLevel
    parent_id: int = Field(ge=1, le=2**31 - 1)


class OrgUpdate(StrictInput):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    code: str | None = Field(default=None, max_length=50)
    population: int | None = Field(
        default=None,
        ge=0,
        le=10_000_000,
        description="常住人口（社区、街道、区），用于每千人志愿者数",
    )


class Org(OrgBase, table=True):
    __tablename__ = "orgs"
    __table_args__ = (
        UniqueConstraint("parent_id", "name"),
        CheckConstraint("level IN ('district', 'street', 'community', 'unit')", name="level"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    level: OrgLevel = Field(sa_column=Column(String(20), nullable=False))
    parent_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    # "/<district id>/<street id>/.../<own id>/": X is inside Y iff X.path starts with Y.path.
    path: str = Field(sa_column=Column(PATH_TYPE, nullable=False, unique=True))
    # Residents, set by the org's admins: the base of "volunteers per 1,000 residents".
    population: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, CheckConstraint("population >= 0", name="population"), nullable=True
        ),
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class OrgLike(Protocol):
    """What a ranking or a score table needs of an org: an `Org`, or a row read
    without building one (app/services/dashboard.py)."""

    @property
    def id(self) -> int | None: ...

    @property
    def name(self) -> str: ...

    @property
    def level(self) -> OrgLevel: ...


class OrgPublic(OrgBase):
    id: int
    level: OrgLevel
    parent_id: int | None
    population: int | None = None
