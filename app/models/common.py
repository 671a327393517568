"""Column helpers shared by every table."""

from datetime import datetime

from pydantic import ConfigDict
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, utcnow


def created_at_field() -> datetime:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def updated_at_field() -> datetime:
    return Field(
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False, onupdate=utcnow),
    )


class StrictInput(SQLModel):
    """Request bodies refuse unknown fields: a client setting `status` or `user_id`
    learns at once that it cannot, instead of having it silently ignored."""

    # SQLModel types model_config as its own TypedDict; pydantic's ConfigDict is the same shape.
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
