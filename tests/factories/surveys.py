"""Factories for surveys: one straight in the database, open now unless told."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI

from app.core.db import utcnow
from app.models.org import Org
from app.models.survey import Survey, SurveyAudience, SurveyKind
from app.models.user import User

QUIZ = [
    {
        "text": "创建全国文明城市每几年测评一次？",
        "type": "single",
        "options": ["一年", "三年"],
        "answer": [1],
    },
    {
        "text": "“三率”包括哪些？",
        "type": "multi",
        "options": ["知晓率", "参与率", "满意度", "出勤率"],
        "answer": [0, 1, 2],
    },
    {"text": "你对社区环境的满意程度", "type": "scale", "options": None, "answer": None},
    {"text": "你的建议", "type": "text", "options": None, "answer": None},
]


async def insert_survey(
    app: FastAPI,
    *,
    org: Org,
    creator: User,
    kind: SurveyKind = SurveyKind.quiz,
    audience: SurveyAudience = SurveyAudience.members,
    questions: list[dict[str, Any]] | None = None,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    title: str = "应知应会测试",
) -> Survey:
    now = utcnow()
    async with app.state.sessionmaker() as session, session.begin():
        survey = Survey(
            org_id=org.id,
            title=title,
            kind=kind,
            audience=audience,
            questions=questions if questions is not None else QUIZ,
            opens_at=opens_at or now - timedelta(days=1),
            closes_at=closes_at or now + timedelta(days=7),
            created_by_id=creator.id,
        )
        session.add(survey)
        return survey


def quiz_answers(right: bool = True) -> list[dict[str, Any]]:
    return [
        {"question_id": 0, "choices": [1 if right else 0]},
        {"question_id": 1, "choices": [0, 1, 2]},
        {"question_id": 2, "scale": 4},
    ]
