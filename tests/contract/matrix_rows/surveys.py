"""Rows for surveys and quizzes (assessment readiness).

The survey under test belongs to community C1 and is for its members: the member
(living in C1) answers it; the neighbours' admins neither see nor answer it (404),
nor does UD's secretary. U1's secretary lives nowhere: they may see it only if it
were for everyone (it is not: 404).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.db import utcnow
from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.factories.surveys import QUIZ, insert_survey, quiz_answers
from tests.factories.world import World

TITLE = "矩阵里东关社区的测试"


async def _create(world: World, caller: str) -> Req:
    now = utcnow()
    return Req(
        path="/api/v1/surveys",
        json={
            "title": "新的测试",
            "org_id": world["C1"].id,
            "kind": "quiz",
            "audience": "members",
            "questions": QUIZ,
            "opens_at": now.isoformat(),
            "closes_at": (now + timedelta(days=3)).isoformat(),
        },
    )


async def _survey(world: World) -> Any:
    return await insert_survey(
        world.app, org=world["C1"], creator=world.user("community_admin"), title=TITLE
    )


async def _listed(world: World, caller: str) -> Req:
    await _survey(world)
    return Req(path="/api/v1/surveys", params={"status": "open"})


def _seen_check(world: World, caller: str, body: Any) -> None:
    titles = [s["title"] for s in body["items"]]
    assert (TITLE in titles) == (caller in ("right", "member")), caller


def _one(suffix: str, json: Any = None, stats: bool = False) -> Any:
    async def build(world: World, caller: str) -> Req:
        survey = await _survey(world)
        path = f"/api/v1/stats/surveys/{survey.id}" if stats else f"/api/v1/surveys/{survey.id}"
        return Req(path=path + suffix, json=json)

    return build


ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/surveys"): Row("community_admin", statuses(401, 403, 404, 404, 201), _create),
    ("GET", "/api/v1/surveys"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _listed, _seen_check
    ),
    # The member answers it; so do the admins whose home is C1 ("right" is C1's secretary).
    ("GET", "/api/v1/surveys/{survey_id}"): Row(
        "community_admin",
        statuses(401, 200, 404, 404, 200, unit_admin=404, other_unit_admin=404),
        _one(""),
    ),
    ("POST", "/api/v1/surveys/{survey_id}/responses"): Row(
        "member",
        statuses(401, 201, 404, 404, 201, unit_admin=404, other_unit_admin=404),
        _one("/responses", {"answers": quiz_answers()}),
    ),
    ("GET", "/api/v1/stats/surveys/{survey_id}"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=404, other_unit_admin=404),
        _one("", stats=True),
    ),
}
