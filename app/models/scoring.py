"""The composite score (综合评分) of the monthly ranking and the office's monthly
comments (月点评). The components are the dashboard's figures (app/models/dashboard.py),
never counted again; what each component is and how the score is formed is written
in app/services/scoring.py."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.models.common import NEVER_REUSED_IDS, Month, StrictInput, created_at_field
from app.models.org import OrgLevel
from app.models.user import MAX_ID


class ScoreMetric(StrEnum):
    """The components a district may weigh, each a value from 0 to 1 (services/scoring.py)."""

    report_in_rate = "report_in_rate"
    rectification_rate = "rectification_rate"
    reports_accepted_rate = "reports_accepted_rate"
    wish_quota_rate = "wish_quota_rate"
    household_awareness_rate = "household_awareness_rate"
    household_satisfaction_rate = "household_satisfaction_rate"
    indicator_completion_rate = "indicator_completion_rate"
    service_orders_on_time_rate = "service_orders_on_time_rate"
    service_order_rating = "service_order_rating"
    volunteers_per_1000 = "volunteers_per_1000"
    points_pass_rate = "points_pass_rate"
    survey_response_rate = "survey_response_rate"


METRIC_NAMES = {
    ScoreMetric.report_in_rate: "党员报到率",
    ScoreMetric.rectification_rate: "问题整改率",
    ScoreMetric.reports_accepted_rate: "随手拍受理率",
    ScoreMetric.wish_quota_rate: "党员认领心愿率",
    ScoreMetric.household_awareness_rate: "入户知晓率",
    ScoreMetric.household_satisfaction_rate: "入户满意率",
    ScoreMetric.indicator_completion_rate: "申报指标完成率",
    ScoreMetric.service_orders_on_time_rate: "服务订单按时完成率",
    ScoreMetric.service_order_rating: "服务订单评分",
    ScoreMetric.volunteers_per_1000: "每千人志愿者数",
    ScoreMetric.points_pass_rate: "点位达标率",
    ScoreMetric.survey_response_rate: "问卷参与率",
}


class ScoringWeights(SQLModel, table=True):
    """One version of a district's weights: every PUT /scoring adds a row and none is
    changed, so the score of a past month is computed, and explained, with the
    version that was in force at the month's end."""

    __tablename__ = "scoring_weights"
    __table_args__ = (
        Index("ix_scoring_weights_district_id_set_at", "district_id", "set_at"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    # {metric: weight}: only positive weights are kept (a zero weight is no component).
    weights: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    set_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    set_at: datetime = created_at_field()


class ScoringUpdate(StrictInput):
    weights: dict[str, float] = Field(
        min_length=1,
        max_length=len(ScoreMetric),
        description="指标 → 权重（≥0，至少一项 >0）；指标为 "
        + "、".join(m.value for m in ScoreMetric)
        + "；未列出的指标不计分（整体替换上一版）",
    )


class MetricInfo(SQLModel):
    metric: ScoreMetric
    name: str


class ScoringPublic(SQLModel):
    district_id: int
    version: int | None = Field(description="权重版本（每次设定一版）；未设定为 null")
    weights: dict[ScoreMetric, float]
    set_by_id: int | None
    set_at: datetime | None
    metrics: list[MetricInfo] = Field(description="可以加权的全部指标")


class ScoreRow(SQLModel):
    org_id: int
    org_name: str
    org_level: OrgLevel
    components: dict[ScoreMetric, float | None] = Field(
        description="各加权指标折算为 0–1 的值；本月无数据为 null（不计入）"
    )
    score: float | None = Field(
        description="0–100：有值指标的加权平均 × 100（权重在有值指标间重新归一）；全无值为 null"
    )
    rank: int | None = Field(description="名次（并列同名次 1, 2, 2, 4）；无得分为 null，排在最后")
    last_month_score: float | None = Field(description="上月得分（同一版权重）")
    change: float | None = Field(description="较上月变化 = score − last_month_score")


class ScoreTable(SQLModel):
    org_id: int
    org_name: str
    month: str
    version: int | None = Field(description="所用权重版本：该月月底时有效的一版（无则为最早一版）")
    weights: dict[ScoreMetric, float]
    items: list[ScoreRow] = Field(
        description="每个直属下级组织一项，按得分排名；街道、社区在前，单位在后，各自排名"
    )


# --- monthly comments (月点评) ---------------------------------------------------------------


class MonthlyReview(SQLModel, table=True):
    """An office's comment on one org's month: written by an admin of an org above it."""

    __tablename__ = "monthly_reviews"
    __table_args__ = (Index("ix_monthly_reviews_org_id_month", "org_id", "month"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    month: str = Field(sa_column=Column(String(7), nullable=False))
    comment: str = Field(sa_column=Column(Text, nullable=False))
    author_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = created_at_field()


class MonthlyReviewCreate(StrictInput):
    org_id: int = Field(ge=1, le=MAX_ID, description="被点评的组织（本人须是其上级组织的管理员）")
    month: Month = Field(description="YYYY-MM")
    comment: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(description="点评内容")


class MonthlyReviewPublic(SQLModel):
    id: int
    org_id: int
    org_name: str
    month: str
    comment: str
    author_id: int
    author_name: str
    created_at: datetime
