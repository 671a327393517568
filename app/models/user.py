from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from app.models.common import (
    MAX_ID,
    NEVER_REUSED_IDS,
    StrictInput,
    created_at_field,
    updated_at_field,
)

__all__ = ["MAX_ID"]  # re-exported: routers name it beside the user models


class Role(StrEnum):
    district_admin = "district_admin"
    street_admin = "street_admin"
    community_admin = "community_admin"
    inspector = "inspector"
    info_officer = "info_officer"
    # A unit's party secretary: reaches the unit's members, not places (app.core.scope).
    unit_admin = "unit_admin"


# Roles that reach a place: every record of their org's subtree.
ADMIN_ROLES = frozenset({Role.district_admin, Role.street_admin, Role.community_admin})
# Roles that reach people by membership: the members of their unit's subtree, wherever
# they live, and those members' own records, never the places' other records.
MEMBER_ROLES = frozenset({Role.unit_admin})
# Roles that reach people, one way or the other.
PEOPLE_ROLES = ADMIN_ROLES | MEMBER_ROLES


# A roster entry not bound to WeChat (a tombstone is on no roster: merged_into_id).
UNBOUND = "openid IS NULL AND merged_into_id IS NULL"


class User(SQLModel, table=True):
    """A person: a roster entry, a WeChat account, or (once bound) both."""

    __tablename__ = "users"
    __table_args__ = (
        # Lookups by home community or unit; the other columns make the index cover
        # the dashboards' head counts, which then never read the table itself.
        Index("ix_users_community_id", "community_id", "unit_id", "is_party_member", "id"),
        Index("ix_users_unit_id", "unit_id", "community_id", "is_party_member", "id"),
        # The people on the roster not yet bound to WeChat, by home: the console's
        # to-do counts those an admin reaches from these alone (users.unbound_in_reach),
        # where the whole city's unbound were read before.
        Index(
            "ix_users_unbound_community",
            "community_id",
            sqlite_where=text(UNBOUND),
            postgresql_where=text(UNBOUND),
        ),
        Index(
            "ix_users_unbound_unit",
            "unit_id",
            "community_id",
            sqlite_where=text(UNBOUND),
            postgresql_where=text(UNBOUND),
        ),
        # One phone may stand on the rosters of offices that cannot see each other
        # (each refuses a duplicate only inside its own reach: issue 15, nothing
        # outside reach is revealed), but only one entry per phone is ever bound to
        # WeChat: the phone's owner is one person.
        Index("ix_users_phone_hash", "phone_hash"),
        Index(
            "uq_users_bound_phone_hash",
            "phone_hash",
            unique=True,
            sqlite_where=text("openid IS NOT NULL"),
            postgresql_where=text("openid IS NOT NULL"),
        ),
        # A tombstone is an account merged into a roster entry at bind: it keeps its
        # id (its tokens act as the entry) and holds nothing of its own, so it is on
        # no roster, in no count and no list, and can never be bound again.
        CheckConstraint(
            "merged_into_id IS NULL OR (openid IS NULL AND phone_hash IS NULL"
            " AND community_id IS NULL AND unit_id IS NULL)",
            name="tombstone_is_empty",
        ),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(50), nullable=False))
    # The phone is personal data: Fernet ciphertext plus an HMAC for exact lookup,
    # so a copy of the database alone does not reveal it.
    phone_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    phone_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # What everyone but the owner sees ("138****8000"), kept so lists need no decryption.
    phone_masked: str | None = Field(default=None, sa_column=Column(String(11), nullable=True))
    community_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT")),
    )
    unit_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT")),
    )
    is_party_member: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, default=False)
    )
    openid: str | None = Field(default=None, sa_column=Column(String(64), unique=True))
    # Access tokens carry the version they were issued under; raising it ends every
    # token issued before (app/core/security.py states the rule).
    token_version: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, default=0, server_default="0")
    )
    # Set on the account made at first login once it is bound to its roster entry
    # (app/services/auth.py); removing the entry removes it too, so its tokens then
    # name nobody.
    merged_into_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True),
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class RoleGrant(SQLModel, table=True):
    __tablename__ = "role_grants"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "org_id"),
        CheckConstraint(
            "role IN ('district_admin', 'street_admin', 'community_admin', "
            "'inspector', 'info_officer', 'unit_admin')",
            name="role",
        ),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    role: Role = Field(sa_column=Column(String(20), nullable=False))
    org_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    granted_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    created_at: datetime = created_at_field()


# --- API shapes ---------------------------------------------------------------

PHONE_DESCRIPTION = "中国大陆手机号，11 位；可带 +86、空格或短横线"


class UserCreate(StrictInput):
    name: str = Field(min_length=1, max_length=50)
    phone: str = Field(min_length=11, max_length=20, description=PHONE_DESCRIPTION)
    community_id: int = Field(ge=1, le=MAX_ID)
    unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    is_party_member: bool = False


class UserUpdate(StrictInput):
    name: str | None = Field(default=None, min_length=1, max_length=50)
    phone: str | None = Field(
        default=None, min_length=11, max_length=20, description=PHONE_DESCRIPTION
    )
    community_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    unit_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    is_party_member: bool | None = None


class RoleGrantCreate(StrictInput):
    role: Role
    org_id: int = Field(ge=1, le=MAX_ID)


class RolePublic(SQLModel):
    id: int
    role: Role
    org_id: int


class UserPublic(SQLModel):
    id: int
    name: str
    phone_masked: str | None = Field(description="138****8000；本人看到完整号码见 /me 的 phone")
    community_id: int | None
    unit_id: int | None
    is_party_member: bool
    wechat_bound: bool
    roles: list[RolePublic]


class MePublic(UserPublic):
    phone: str | None = Field(default=None, description="完整手机号，只返回给本人")


class RosterChoice(SQLModel):
    """One roster entry of a phone on several rosters, for its owner to pick."""

    user_id: int
    community_name: str


class ImportRowError(SQLModel):
    row: int
    message: str


class ImportResult(SQLModel):
    created: int
    updated: int
    errors: list[ImportRowError]
