from collections.abc import Iterable
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
    false,
)
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import (
    NEVER_REUSED_IDS,
    PhotoId,
    StrictInput,
    created_at_field,
    updated_at_field,
)
from app.models.user import MAX_ID


class ArticleStatus(StrEnum):
    draft = "draft"
    in_review = "in_review"
    returned = "returned"
    published = "published"


class ArticleImportance(StrEnum):
    """How far up the review ladder an article climbs (一般、重要、重大稿件)."""

    routine = "routine"  # its own org's admins
    important = "important"  # and the street's
    major = "major"  # up to the district


class ArticleAction(StrEnum):
    create = "create"
    edit = "edit"
    submit = "submit"
    approve = "approve"
    return_ = "return"


# States the author may still change the text in (and submit from).
EDITABLE_STATES = frozenset({ArticleStatus.draft, ArticleStatus.returned})


def _in(values: Iterable[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


class Article(SQLModel, table=True):
    """A publicity article (信息、稿件), reviewed level by level before it is published.

    `review_org_id` is the org whose admins must act next; it is set exactly while the
    article is in review. `first_submitted_at` and `published_at` feed the
    submission/acceptance statistics (投稿、用稿).
    """

    __tablename__ = "articles"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(ArticleStatus)})", name="status"),
        CheckConstraint(
            "(status = 'in_review') = (review_org_id IS NOT NULL)", name="review_level_in_review"
        ),
        CheckConstraint(
            "status <> 'published' OR published_at IS NOT NULL", name="published_at_present"
        ),
        Index("ix_articles_org_status", "org_id", "status"),
        Index("ix_articles_review_org_id", "review_org_id"),
        Index("ix_articles_first_submitted_at", "first_submitted_at"),
        Index("ix_articles_published_at", "published_at"),
        # Dashboards: an org's articles submitted and published in a month.
        Index("ix_articles_org_first_submitted_at", "org_id", "first_submitted_at"),
        Index("ix_articles_org_published_at", "org_id", "published_at"),
        CheckConstraint(f"importance IN ({_in(ArticleImportance)})", name="importance"),
        CheckConstraint(
            "status <> 'in_review' OR review_level_at IS NOT NULL", name="review_level_at_present"
        ),
        # The urgent scan: urgent articles waiting in review.
        Index("ix_articles_urgent_status", "urgent", "status"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=Column(String(100), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    author_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    status: ArticleStatus = Field(sa_column=Column(String(20), nullable=False))
    review_org_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=True),
    )
    # Rows from before graded review are `major`: they climbed to the district then.
    importance: ArticleImportance = Field(
        default=ArticleImportance.major,
        sa_column=Column(String(10), nullable=False, server_default=ArticleImportance.major.value),
    )
    urgent: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # The column (专栏) it runs in, at most one.
    column_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("article_columns.id", ondelete="RESTRICT"),
            nullable=True,
            index=True,
        ),
    )
    # When the article reached the level it waits at (set while in review, cleared by
    # the review that moves it on):
    # what URGENT_REVIEW_HOURS counts from.
    review_level_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # WeChat's content check answered "review": a person must look closely.
    content_flagged: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, default=False)
    )
    # WeChat could not check this text (the author has no WeChat account bound).
    needs_human_review: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, default=False)
    )
    first_submitted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    submitted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    published_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ArticleEvent(SQLModel, table=True):
    """The append-only history of an article: every step, who took it, at which level."""

    __tablename__ = "article_events"
    __table_args__ = (
        CheckConstraint(f"action IN ({_in(ArticleAction)})", name="action"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    action: ArticleAction = Field(sa_column=Column(String(20), nullable=False))
    from_status: ArticleStatus | None = Field(
        default=None, sa_column=Column(String(20), nullable=True)
    )
    to_status: ArticleStatus = Field(sa_column=Column(String(20), nullable=False))
    # The review level acted at (approve/return), or the level a submission went to.
    level_org_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=True),
    )
    actor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = created_at_field()


# --- API shapes ---------------------------------------------------------------


TITLE_MAX = 100
BODY_MAX = 20_000


IMPORTANCE_DESCRIPTION = (
    "routine 一般稿件：本组织管理员审核；important 重要稿件：再经街道审核；"
    "major 重大稿件：逐级审核至区。不填为 major（不减少任何一级审核）"
)
COLUMN_DESCRIPTION = "所属专栏（本组织或上级组织开设的专栏），至多一个"
URGENT_DESCRIPTION = "紧急稿件：每一级须在 URGENT_REVIEW_HOURS 小时内审核，否则提醒并报上一级"


class ArticleCreate(StrictInput):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    body: str = Field(min_length=1, max_length=BODY_MAX)
    org_id: int = Field(ge=1, le=MAX_ID, description="稿件所属组织（信息员或管理员所在范围内）")
    photo_ids: list[PhotoId] | None = Field(default=None, max_length=9)
    importance: ArticleImportance = Field(
        default=ArticleImportance.major, description=IMPORTANCE_DESCRIPTION
    )
    urgent: bool = Field(default=False, description=URGENT_DESCRIPTION)
    column_id: int | None = Field(default=None, ge=1, le=MAX_ID, description=COLUMN_DESCRIPTION)


class ArticleUpdate(StrictInput):
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    body: str | None = Field(default=None, min_length=1, max_length=BODY_MAX)
    photo_ids: list[PhotoId] | None = Field(
        default=None, max_length=9, description="给出时替换原有照片"
    )
    importance: ArticleImportance | None = Field(default=None, description=IMPORTANCE_DESCRIPTION)
    urgent: bool | None = Field(default=None, description=URGENT_DESCRIPTION)
    column_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description=f"{COLUMN_DESCRIPTION}；给出 null 移出专栏"
    )


class ArticleReview(StrictInput):
    approve: bool
    comment: str | None = Field(default=None, max_length=1000, description="退回时必填")


class ArticlePublic(SQLModel):
    id: int
    title: str
    body: str
    org_id: int
    author_id: int
    author_name: str
    status: ArticleStatus
    importance: ArticleImportance
    urgent: bool
    column_id: int | None
    review_org_id: int | None = Field(description="正在等待哪个组织的管理员审核（仅审核中）")
    review_level_at: datetime | None = Field(description="到达当前审核层级的时间（仅审核中）")
    content_flagged: bool = Field(description="微信内容安全检测建议人工复核")
    needs_human_review: bool = Field(description="内容未经微信检测（作者未绑定微信等），须人工把关")
    photo_ids: list[int]
    first_submitted_at: datetime | None
    submitted_at: datetime | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ArticleEventPublic(SQLModel):
    id: int
    action: ArticleAction
    from_status: ArticleStatus | None
    to_status: ArticleStatus
    level_org_id: int | None
    actor_id: int
    actor_name: str
    comment: str | None
    at: datetime


class ArticleDetail(ArticlePublic):
    history: list[ArticleEventPublic]


class ArticleStatsRow(SQLModel):
    org_id: int
    org_name: str
    submitted: int = Field(description="期间内首次提交审核的稿件数（投稿）")
    published: int = Field(description="期间内发布的稿件数（用稿）")
    acceptance_rate: float | None = Field(
        description="published / submitted；submitted 为 0 时为 null"
    )


class ArticleStats(SQLModel):
    org_id: int
    year: int
    quarter: int | None
    total: ArticleStatsRow = Field(description="org_id 本身（含整个下级范围）的合计")
    children: list[ArticleStatsRow] = Field(
        description="每个直属下级组织（含其整个下级范围），按用稿数、采用率从高到低"
    )
