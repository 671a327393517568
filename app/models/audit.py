from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, utcnow
from app.models.common import NEVER_REUSED_IDS


class AuditEntry(SQLModel, table=True):
    """Who did what to which record, when and from where: every admin action.

    Written in the same transaction as the action, so an action that rolled back
    leaves no entry and a committed one always has its entry. No route edits or
    deletes entries.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_at", "org_id", "at"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    actor_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    actor_name: str = Field(sa_column=Column(String(100), nullable=False))
    action: str = Field(sa_column=Column(String(50), nullable=False, index=True))
    target_type: str = Field(sa_column=Column(String(30), nullable=False))
    target_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    # The org the record belongs to: who may read the entry follows from it.
    org_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="SET NULL"))
    )
    # A short JSON object of what was decided (approve, reason, role...), never
    # phones or other personal data.
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    client_ip: str | None = Field(default=None, sa_column=Column(String(45), nullable=True))


class AuditEntryPublic(SQLModel):
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    target_type: str
    target_id: int | None
    org_id: int | None
    detail: dict[str, object] | None
    client_ip: str | None
