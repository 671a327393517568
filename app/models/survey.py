"""Surveys and quizzes (问卷、应知应会测试) answered in the mini-program, one response
per person; a quiz's answers are scored against its key."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import StringConstraints, model_validator
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import NEVER_REUSED_IDS, StrictInput, WrittenOut, created_at_field
from app.models.problem import _in
from app.models.user import MAX_ID

# A scale question is answered 1 (least) to SCALE_MAX (most), as the assessment's
# satisfaction questions are (非常不满意 … 非常满意).
SCALE_MAX = 5
MAX_QUESTIONS = 50
MAX_OPTIONS = 20


class SurveyKind(StrEnum):
    quiz = "quiz"  # 应知应会: single and multi questions carry the right answer
    questionnaire = "questionnaire"  # 问卷: no right answers


class SurveyAudience(StrEnum):
    # The roster of the survey's org: people whose home community or unit lies in it.
    members = "members"
    # Anyone logged in, residents without a roster entry included; people on a
    # roster answer only their own district's surveys.
    everyone = "everyone"


class QuestionType(StrEnum):
    single = "single"
    multi = "multi"
    scale = "scale"
    text = "text"


class SurveyStatus(StrEnum):
    """Reckoned from the times, not stored: upcoming before opens_at, closed from closes_at."""

    upcoming = "upcoming"
    open = "open"
    closed = "closed"


class Survey(SQLModel, table=True):
    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(SurveyKind)})", name="kind"),
        CheckConstraint(f"audience IN ({_in(SurveyAudience)})", name="audience"),
        CheckConstraint("closes_at > opens_at", name="period"),
        Index("ix_surveys_org_closes_at", "org_id", "closes_at"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    title: str = Field(sa_column=Column(String(100), nullable=False))
    kind: SurveyKind = Field(sa_column=Column(String(20), nullable=False))
    audience: SurveyAudience = Field(sa_column=Column(String(20), nullable=False))
    # [{text, type, options, answer}], as SurveyQuestion; a question's id is its index.
    # Fixed once created: responses refer to questions and options by index.
    questions: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    opens_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closes_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = created_at_field()


class SurveyResponse(SQLModel, table=True):
    """One person's answers to one survey: the unique key is the "once per person",
    however many phones press at once."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("survey_id", "user_id", name="uq_survey_responses_once"),
        CheckConstraint("score IS NULL OR score BETWEEN 0 AND max_score", name="score"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(
        sa_column=Column(Integer, ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    # The respondent's home when answering: what the figures per child org count by.
    community_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=True),
    )
    unit_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=True),
    )
    # [{question_id, choice, choices, scale, text}], as Answer, checked against the questions.
    answers: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    # Quizzes: right answers of the keyed questions, and how many were keyed.
    score: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    max_score: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


# The `choice` of an answer row that is no option (a scale or text answer): the key
# has no NULLs, as people_counts' NO_ORG.
NO_CHOICE = -1


class SurveyAnswer(SQLModel, table=True):
    """A response's answers as rows, written with it, so that the figures are counted
    by the database (GROUP BY) rather than by reading every response's JSON: one row
    per option chosen, and one per scale or text answer (choice NO_CHOICE). The
    response's `answers` stays what the respondent reads back; these rows are
    derived from it once, never changed (responses are never edited)."""

    __tablename__ = "survey_answers"
    __table_args__ = (
        PrimaryKeyConstraint("response_id", "question_id", "choice"),
        # The figures of a survey: its rows per question (and option).
        Index("ix_survey_answers_survey_question", "survey_id", "question_id", "choice"),
    )

    response_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("survey_responses.id", ondelete="CASCADE"), nullable=False
        )
    )
    survey_id: int = Field(
        sa_column=Column(Integer, ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False)
    )
    question_id: int = Field(sa_column=Column(Integer, nullable=False))
    choice: int = Field(sa_column=Column(Integer, nullable=False))
    scale: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    # A quiz's keyed question: whether this response answered it right (all the right
    # options and none other), on every row of the answer; NULL where unkeyed.
    correct: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))


# --- API shapes ---------------------------------------------------------------

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
OptionText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SurveyQuestion(StrictInput):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    type: QuestionType
    options: list[OptionText] | None = Field(
        default=None, max_length=MAX_OPTIONS, description="single、multi 题的选项（2 至 20 个）"
    )
    answer: list[Annotated[int, Field(ge=0, lt=MAX_OPTIONS)]] | None = Field(
        default=None,
        max_length=MAX_OPTIONS,
        description="仅测试（quiz）的 single、multi 题：正确选项的序号（从 0 起）；"
        "single 题一个。答题人在截止前看不到",
    )

    @model_validator(mode="after")
    def _shape(self) -> Self:
        choice = self.type in (QuestionType.single, QuestionType.multi)
        if choice and (self.options is None or len(self.options) < 2):
            raise ValueError("单选、多选题须有至少两个选项")
        if not choice and self.options is not None:
            raise ValueError("量表题和填空题没有选项")
        if choice and self.options is not None and len(set(self.options)) != len(self.options):
            raise ValueError("选项不能重复")
        if self.answer is not None:
            if not choice:
                raise ValueError("只有单选、多选题有正确答案")
            assert self.options is not None
            if not self.answer or len(set(self.answer)) != len(self.answer):
                raise ValueError("正确答案须是不重复的选项序号")
            if max(self.answer) >= len(self.options):
                raise ValueError("正确答案须是题目中的选项")
            if self.type == QuestionType.single and len(self.answer) != 1:
                raise ValueError("单选题的正确答案只有一个")
        return self


class SurveyCreate(StrictInput):
    title: Title
    org_id: int = Field(ge=1, le=MAX_ID, description="发起的组织；其范围内的人作答")
    kind: SurveyKind
    audience: SurveyAudience
    questions: list[SurveyQuestion] = Field(min_length=1, max_length=MAX_QUESTIONS)
    opens_at: Annotated[datetime, WrittenOut]
    closes_at: Annotated[datetime, WrittenOut]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.opens_at.tzinfo is None or self.closes_at.tzinfo is None:
            raise ValueError("时间须带时区（如 +08:00）")
        if self.closes_at <= self.opens_at:
            raise ValueError("截止时间须晚于开始时间")
        keyed = [q for q in self.questions if q.answer is not None]
        if self.kind == SurveyKind.questionnaire and keyed:
            raise ValueError("问卷没有正确答案；有正确答案的请选 quiz")
        if self.kind == SurveyKind.quiz:
            choice = (QuestionType.single, QuestionType.multi)
            if any(q.answer is None for q in self.questions if q.type in choice):
                raise ValueError("测试的单选、多选题须给出正确答案")
            if not keyed:
                raise ValueError("测试须至少有一道单选或多选题")
        return self


class Answer(StrictInput):
    question_id: int = Field(ge=0, lt=MAX_QUESTIONS, description="题目序号（从 0 起）")
    choices: list[Annotated[int, Field(ge=0, lt=MAX_OPTIONS)]] | None = Field(
        default=None, max_length=MAX_OPTIONS, description="single、multi 题：所选选项的序号"
    )
    scale: int | None = Field(default=None, description=f"scale 题：1 至 {SCALE_MAX}")
    text: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
        | None
    ) = None


class ResponseCreate(StrictInput):
    answers: list[Answer] = Field(min_length=1, max_length=MAX_QUESTIONS)


class QuestionPublic(SQLModel):
    id: int
    text: str
    type: QuestionType
    options: list[str] | None
    answer: list[int] | None = Field(description="正确答案：仅发起方管理员可见，答题人在截止后可见")


class SurveyPublic(SQLModel):
    id: int
    org_id: int
    title: str
    kind: SurveyKind
    audience: SurveyAudience
    status: SurveyStatus
    opens_at: Annotated[datetime, WrittenOut]
    closes_at: Annotated[datetime, WrittenOut]
    questions: list[QuestionPublic]
    can_answer: bool = Field(description="本人在作答范围内且尚未作答")
    answered: bool
    created_at: datetime


class ResponsePublic(SQLModel):
    id: int
    survey_id: int
    answers: list[dict[str, Any]]
    score: int | None
    max_score: int | None
    submitted_at: datetime


class OptionCount(SQLModel):
    option: str
    count: int


class QuestionStats(SQLModel):
    id: int
    text: str
    type: QuestionType
    answered: int
    options: list[OptionCount] | None = Field(description="single、multi：各选项被选次数")
    correct: int | None = Field(description="测试：答对的人数")
    scale_average: float | None = Field(description="scale：平均分")


class SurveyOrgStats(SQLModel):
    org_id: int
    org_name: str
    members: int = Field(description="该组织的人员（花名册，按现住社区和单位）")
    responses: int
    response_rate: float | None = Field(description="responses / members；无人员时为 null")
    average_score: float | None = Field(description="测试：平均得分")


class SurveyStats(SQLModel):
    survey_id: int
    org_id: int
    max_score: int | None
    total: SurveyOrgStats
    children: list[SurveyOrgStats]
    questions: list[QuestionStats]
