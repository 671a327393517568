"""The console's assessment screens without a browser: a survey's results per child
org, and the indicators' board with its review (who reaches which screen is the
authorization matrix's)."""

from __future__ import annotations

from app.models.indicator import IndicatorStatus
from tests.factories.console import console_headers
from tests.factories.indicators import insert_indicator
from tests.factories.surveys import insert_survey, quiz_answers

HTML = {"Accept": "text/html"}


async def test_the_street_reads_a_quizs_results_and_reviews_an_indicator_on_the_console(
    client, world
):
    survey = await insert_survey(world.app, org=world["S1"], creator=world.user("street_admin"))
    answered = await client.post(
        f"/surveys/{survey.id}/responses",
        json={"answers": quiz_answers()},
        headers=world.headers("other_community_admin"),
    )
    assert answered.status_code == 201
    headers = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    page = (
        await client.get(f"http://test/console/surveys?survey_id={survey.id}", headers=headers)
    ).text
    assert "应知应会测试" in page and "仓门社区" in page and "100.0%" in page
    item = await insert_indicator(
        world.app,
        org=world["C1"],
        owner=world.user("member"),
        creator=world.user("community_admin"),
        status=IndicatorStatus.submitted,
        title="文明家庭评选材料",
    )
    board = (await client.get("http://test/console/indicators", headers=headers)).text
    assert "文明家庭评选材料" in board and "待审核" in board
    resp = await client.post(
        f"http://test/console/indicators/{item.id}/review",
        data={"decision": "return", "reason": "缺少照片"},
        headers=headers,
    )
    assert resp.status_code == 303, resp.text
    shown = await client.get(f"/indicators/{item.id}", headers=world.headers("member"))
    assert (shown.json()["status"], shown.json()["review_comment"]) == ("returned", "缺少照片")
