from datetime import datetime

from sqlalchemy import Column, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, utcnow
from app.models.common import NEVER_REUSED_IDS


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a creating POST, replayed when the phone retries.

    Written in the same transaction as what the request created, so a stored key
    always means the record exists and vice versa.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("principal", "key"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    principal: str = Field(sa_column=Column(String(80), nullable=False))
    key: str = Field(sa_column=Column(String(200), nullable=False))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    status_code: int = Field(sa_column=Column(Integer, nullable=False))
    response_body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
