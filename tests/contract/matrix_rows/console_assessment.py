"""Rows for the console's assessment screens: survey results, the indicators'
board and the monthly ranking with its comments (app/routers/console_assessment.py).
The records are C1's, as in the API rows; the ranking is S1's, commented by its office."""

from __future__ import annotations

from typing import Any

from app.models.indicator import IndicatorStatus
from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.contract.matrix_rows.indicators import TITLE as INDICATOR_TITLE
from tests.contract.matrix_rows.indicators import _item
from tests.contract.matrix_rows.surveys import TITLE as SURVEY_TITLE
from tests.contract.matrix_rows.surveys import _survey
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


ROWS: dict[tuple[str, str], Row] = {
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
