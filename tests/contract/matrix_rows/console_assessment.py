"""Rows for the console's assessment screens: survey results and builder, the
indicators' board, the monthly ranking with its comments, the district's weights and
the household visits (app/routers/console_assessment.py). The records are C1's, as in
the API rows; the ranking is S1's, commented by its office; the weights are D's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.indicator import IndicatorStatus
from app.models.scoring import ScoreMetric
from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.contract.matrix_rows.indicators import TITLE as INDICATOR_TITLE
from tests.contract.matrix_rows.indicators import _item
from tests.contract.matrix_rows.surveys import TITLE as SURVEY_TITLE
from tests.contract.matrix_rows.surveys import _survey
from tests.factories.household_visits import insert_visit
from tests.factories.world import World

UNITS_403 = {"unit_admin": 403, "other_unit_admin": 403}


async def _surveys(world: World, caller: str) -> Req:
    await _survey(world)
    return Req(path="/console/surveys")


async def _results(world: World, caller: str) -> Req:
    survey = await _survey(world)
    return Req(path="/console/surveys", params={"survey_id": survey.id})


async def _board(world: World, caller: str) -> Req:
    await _item(world)
    return Req(path="/console/indicators")


async def _review(world: World, caller: str) -> Req:
    item = await _item(world, IndicatorStatus.submitted)
    return Req(path=f"/console/indicators/{item.id}/review", data={"decision": "approve"})


async def _scores(world: World, caller: str) -> Req:
    return Req(path="/console/scores", params={"org_id": world["S1"].id})


def _ranks_s1_children(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str) and f'data-org="{world["C1"].id}"' in page


async def _comment(world: World, caller: str) -> Req:
    form = {"org_id": str(world["C1"].id), "month": "2026-11", "comment": "整改偏慢"}
    return Req(path="/console/scores/reviews", data=form)


def _only_in_reach(title: str) -> Any:
    def check(world: World, caller: str, page: object) -> None:
        assert isinstance(page, str)
        assert (title in page) == (caller == "right"), caller

    return check


async def _builder(world: World, caller: str) -> Req:
    return Req(path="/console/surveys/new")


def _offers_c1(world: World, caller: str, page: object) -> None:
    # The builder's org picker holds the orgs in reach: C1 for its admin only.
    assert isinstance(page, str)
    assert (f'value="{world["C1"].id}"' in page) == (caller == "right"), caller


async def _build_survey(world: World, caller: str) -> Req:
    start = local(utcnow()).replace(tzinfo=None, second=0, microsecond=0)
    form = {
        "title": "垃圾分类应知应会",
        "org_id": str(world["C1"].id),
        "kind": "quiz",
        "audience": "members",
        "opens_at": start.isoformat(timespec="minutes"),
        "closes_at": (start + timedelta(days=3)).isoformat(timespec="minutes"),
        "q_text": ["厨余垃圾投放到哪个桶？"],
        "q_type": ["single"],
        "q_options": ["绿色桶\n灰色桶"],
        "q_answer": ["A"],
    }
    return Req(path="/console/surveys", data=form)


async def _weights(world: World, caller: str) -> Req:
    return Req(path="/console/scoring")


def _weights_of_d(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str) and world["D"].name in page and "data-weights" in page


async def _set_weights(world: World, caller: str) -> Req:
    metrics = [m.value for m in ScoreMetric]
    form = {
        "org_id": str(world["D"].id),
        "metric": metrics,
        "weight": ["2" if m == ScoreMetric.report_in_rate else "" for m in metrics],
    }
    return Req(path="/console/scoring", data=form)


VISITED = "矩阵里东关社区的一户"


async def _visits(world: World, caller: str) -> Req:
    await insert_visit(
        world.app, community=world["C1"], visitor=world.user("community_admin"), label=VISITED
    )
    return Req(path="/console/household-visits", params={"org_id": world["C1"].id})


async def _record_visit(world: World, caller: str) -> Req:
    form = {
        "community_id": str(world["C1"].id),
        "household_label": "5栋1单元302",
        "aware": "yes",
        "satisfaction": "4",
        "note": "",
        "back_org_id": "",
    }
    return Req(path="/console/household-visits", data=form)


ROWS: dict[tuple[str, str], Row] = {
    ("GET", "/console/surveys/new"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200, **UNITS_403),
        _builder,
        _offers_c1,
        console=True,
    ),
    ("POST", "/console/surveys"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 303, **UNITS_403),
        _build_survey,
        console=True,
    ),
    # The district's own: street and community admins are refused the screen (403).
    ("GET", "/console/scoring"): Row(
        "district_admin",
        statuses(401, 403, 403, 403, 200, **UNITS_403),
        _weights,
        _weights_of_d,
        console=True,
    ),
    ("POST", "/console/scoring"): Row(
        "district_admin",
        statuses(401, 403, 403, 403, 303, **UNITS_403),
        _set_weights,
        console=True,
    ),
    ("GET", "/console/household-visits"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, **UNITS_403),
        _visits,
        _only_in_reach(VISITED),
        console=True,
    ),
    ("POST", "/console/household-visits"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 303, **UNITS_403),
        _record_visit,
        console=True,
    ),
    ("GET", "/console/surveys"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200, **UNITS_403),
        _surveys,
        _only_in_reach(SURVEY_TITLE),
        console=True,
    ),
    ("GET", "/console/indicators"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200, **UNITS_403),
        _board,
        _only_in_reach(INDICATOR_TITLE),
        console=True,
    ),
    ("POST", "/console/indicators/{indicator_id}/review"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303, **UNITS_403), _review, console=True
    ),
    ("GET", "/console/scores"): Row(
        "street_admin",
        statuses(401, 403, 404, 404, 200, **UNITS_403),
        _scores,
        _ranks_s1_children,
        console=True,
    ),
    ("POST", "/console/scores/reviews"): Row(
        "street_admin", statuses(401, 403, 404, 404, 303, **UNITS_403), _comment, console=True
    ),
}
