"""Column helpers shared by every table."""

from datetime import datetime

from pydantic import ConfigDict
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, utcnow

# Table arguments of every table with an integer id: the id of a deleted row is never
# handed out again. SQLite otherwise numbers a new row max(id) + 1, so deleting the
# newest row gives its id to the next one; ids stand in tokens, view links,
# idempotency records, audit rows and other systems' copies, which would then name a
# row they were never about (issue 15: a login token came to act as the next person
# put on the roster). PostgreSQL's sequences never go back; this is SQLite's
# AUTOINCREMENT, which also keeps the highest id ever used.
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


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
