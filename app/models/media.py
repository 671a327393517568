from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.common import created_at_field


class Media(SQLModel, table=True):
    """An uploaded photo, re-encoded without EXIF, with its thumbnail."""

    __tablename__ = "media"

    id: int | None = Field(default=None, primary_key=True)
    uploader_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    storage_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    thumbnail_key: str = Field(sa_column=Column(String(200), nullable=False))
    content_type: str = Field(sa_column=Column(String(30), nullable=False))
    size: int = Field(sa_column=Column(Integer, nullable=False))
    width: int = Field(sa_column=Column(Integer, nullable=False))
    height: int = Field(sa_column=Column(Integer, nullable=False))
    # Of the bytes as uploaded: the same file sent again is the same photo.
    sha256: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    # Perceptual hash (imagehash.phash, 16 hex digits): the same picture re-saved
    # or resized still matches, a cheap signal of reused photos.
    phash: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    created_at: datetime = created_at_field()


class MediaAttachment(SQLModel, table=True):
    """A photo used on a record (check-in, wish, problem...); whoever may see the
    record may see the photo."""

    __tablename__ = "media_attachments"
    __table_args__ = (
        UniqueConstraint("media_id", "record_type", "record_id"),
        Index("ix_media_attachments_record", "record_type", "record_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    media_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("media.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    record_type: str = Field(sa_column=Column(String(30), nullable=False))
    record_id: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = created_at_field()


class MediaPublic(SQLModel):
    id: int
    content_type: str
    size: int
    width: int
    height: int
    sha256: str
    url: str
    thumbnail_url: str
