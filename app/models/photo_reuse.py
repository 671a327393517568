"""Reused photos: each photo on a record, by its perceptual hash cut into bands, and
the records whose photos nearly match a photo on another record of the district."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.common import NEVER_REUSED_IDS, created_at_field

# 64-bit pHash = 5 bands (13, 13, 13, 13 and 12 bits). Two hashes within distance 4
# agree exactly on at least one band (pigeonhole: 4 differing bits touch at most 4
# bands), so five exact index probes find every match up to 4 (MAX_DISTANCE).
BAND_WIDTHS = (13, 13, 13, 13, 12)
BANDS = len(BAND_WIDTHS)


class PhotoPrint(SQLModel, table=True):
    __tablename__ = "photo_prints"
    __table_args__ = (
        UniqueConstraint("media_id", "record_type", "record_id"),
        # One index a band, led by the district: a lookup reads one short range of each.
        *(Index(f"ix_photo_prints_district_b{i}", "district_id", f"b{i}") for i in range(BANDS)),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    media_id: int = Field(
        sa_column=Column(Integer, ForeignKey("media.id", ondelete="CASCADE"), nullable=False)
    )
    record_type: str = Field(sa_column=Column(String(30), nullable=False))
    record_id: int = Field(sa_column=Column(Integer, nullable=False))
    district_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False)
    )
    phash: str = Field(sa_column=Column(String(16), nullable=False))
    b0: int = Field(sa_column=Column(Integer, nullable=False))
    b1: int = Field(sa_column=Column(Integer, nullable=False))
    b2: int = Field(sa_column=Column(Integer, nullable=False))
    b3: int = Field(sa_column=Column(Integer, nullable=False))
    b4: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = created_at_field()


class PossibleReuse(SQLModel, table=True):
    """A record one of whose photos nearly matches a photo on an earlier record."""

    __tablename__ = "possible_reuses"
    __table_args__ = (
        UniqueConstraint(
            "record_type",
            "record_id",
            "other_record_type",
            "other_record_id",
            # Leads with the record: its matches are read through this index.
            name="uq_possible_reuses_pair",
        ),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    record_type: str = Field(sa_column=Column(String(30), nullable=False))
    record_id: int = Field(sa_column=Column(Integer, nullable=False))
    other_record_type: str = Field(sa_column=Column(String(30), nullable=False))
    other_record_id: int = Field(sa_column=Column(Integer, nullable=False))
    distance: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = created_at_field()


class ReuseRef(SQLModel):
    record_type: str = Field(description="inspection 或 report")
    record_id: int
    distance: int = Field(description="感知哈希的汉明距离（0 为同一张照片）")
