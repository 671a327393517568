"""The console's assessment screens without a browser: a survey's results per child
org, and the indicators' board with its review (who reaches which screen is the
authorization matrix's)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.audit import AuditEntry
from app.models.indicator import IndicatorStatus
from app.models.org import OrgLevel
from app.models.scoring import ScoreMetric, ScoringWeights
from app.models.survey import Survey
from app.models.user import Role
from tests.factories.console import console_headers
from tests.factories.indicators import insert_indicator
from tests.factories.orgs import make_org
from tests.factories.surveys import insert_survey, quiz_answers
from tests.factories.users import make_user

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


# --- the survey builder --------------------------------------------------------------------


def _builder_form(world, **changes):
    start = local(utcnow()).replace(tzinfo=None, second=0, microsecond=0)
    form = {
        "title": "垃圾分类应知应会",
        "org_id": str(world["S1"].id),
        "kind": "quiz",
        "audience": "members",
        "opens_at": start.isoformat(timespec="minutes"),
        "closes_at": (start + timedelta(days=3)).isoformat(timespec="minutes"),
        # Four slots as the page sends them, the last left blank.
        "q_text": ["厨余垃圾投放到哪个桶？", "“三率”包括哪些？", "您对社区环境的满意程度", ""],
        "q_type": ["single", "multi", "scale", "single"],
        "q_options": ["绿色桶\r\n灰色桶", "知晓率\r\n出勤率\r\n满意度", "", ""],
        "q_answer": ["a", "A，C", "", ""],
    }
    return {**form, **changes}


async def _surveys_in_db(world) -> list[Survey]:
    async with world.app.state.sessionmaker() as s:
        return list((await s.execute(select(Survey))).scalars())


async def test_the_street_builds_a_quiz_on_the_console_and_finds_it_with_its_response_count(
    client, world
):
    admin = world.user("street_admin")
    headers = await console_headers(world.app, admin)
    blank = await client.get("http://test/console/surveys/new?questions=4", headers=headers)
    assert blank.status_code == 200 and blank.text.count('name="q_text"') == 4
    resp = await client.post(
        "http://test/console/surveys", data=_builder_form(world), headers=headers
    )
    assert resp.status_code == 303, resp.text
    (survey,) = await _surveys_in_db(world)
    assert resp.headers["location"].endswith(f"/console/surveys?survey_id={survey.id}&done=created")
    assert survey.org_id == world["S1"].id and survey.kind == "quiz"
    assert [(q["type"], q["options"], q["answer"]) for q in survey.questions] == [
        ("single", ["绿色桶", "灰色桶"], [0]),
        ("multi", ["知晓率", "出勤率", "满意度"], [0, 2]),
        ("scale", None, None),
    ]
    # The respondents get the API's survey without the key while it is open.
    shown = await client.get(f"/surveys/{survey.id}", headers=world.headers("member"))
    assert shown.status_code == 200 and shown.json()["can_answer"]
    assert [q["answer"] for q in shown.json()["questions"]] == [None, None, None]
    answered = await client.post(
        f"/surveys/{survey.id}/responses",
        json={
            "answers": [
                {"question_id": 0, "choices": [0]},
                {"question_id": 1, "choices": [0, 2]},
                {"question_id": 2, "scale": 5},
            ]
        },
        headers=world.headers("member"),
    )
    assert answered.status_code == 201, answered.text
    page = (await client.get("http://test/console/surveys", headers=headers)).text
    assert f'data-survey="{survey.id}"' in page
    assert (
        page.split(f'data-survey="{survey.id}"')[1]
        .split("</tr>")[0]
        .count("<td data-responses>1</td>")
        == 1
    )
    # C1's secretary may answer the street's quiz but does not administer it: no count.
    c1 = await console_headers(world.app, world.user("community_admin"))
    theirs = (await client.get("http://test/console/surveys", headers=c1)).text
    assert "<td data-responses>—</td>" in theirs
    async with world.app.state.sessionmaker() as s:
        audited = (
            await s.execute(select(AuditEntry.actor_id).where(AuditEntry.action == "survey.create"))
        ).scalar_one()
    assert audited == admin.id


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"q_answer": ["", "AC", "", ""]}, "测试的单选、多选题须给出正确答案"),
        ({"q_answer": ["C", "AC", "", ""]}, "第 1 题：正确答案须是题目中的选项"),
        ({"q_answer": ["1", "AC", "", ""]}, "第 1 题的正确答案请填选项字母"),
        ({"q_answer": ["AB", "AC", "", ""]}, "第 1 题：单选题的正确答案只有一个"),
        (
            {"q_options": ["绿色桶", "知晓率\n出勤率", "", ""]},
            "第 1 题：单选、多选题须有至少两个选项",
        ),
        (
            {"q_options": ["绿色桶\n灰色桶", "知晓率\n出勤率\n满意度", "1\n2", ""]},
            "第 3 题：量表题和填空题没有选项",
        ),
        (
            {
                "q_text": ["", "", "", ""],
                "q_answer": ["", "", "", ""],
                "q_options": ["", "", "", ""],
            },
            "请至少填写一道题",
        ),
        (
            {
                "q_text": ["题", "", "", ""],
                "q_options": ["甲\n乙", "", "", "丙\n丁"],
                "q_answer": ["A", "", "", ""],
            },
            "第 4 题没有填写题目",
        ),
        ({"kind": "questionnaire"}, "问卷没有正确答案"),
        ({"closes_at": "2020-01-01T00:00"}, "截止时间须晚于开始时间"),
        ({"q_type": ["single", "multi"]}, "题目各栏不齐"),
    ],
)
async def test_a_survey_the_api_would_refuse_is_refused_with_its_reason_and_nothing_written(
    client, world, changes, said
):
    headers = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    resp = await client.post(
        "http://test/console/surveys", data=_builder_form(world, **changes), headers=headers
    )
    assert resp.status_code == 422, resp.text
    assert said in resp.text
    assert await _surveys_in_db(world) == []


async def test_a_survey_for_an_org_outside_reach_is_404_and_not_written(client, world):
    headers = await console_headers(world.app, world.user("other_street_admin"))
    resp = await client.post(
        "http://test/console/surveys", data=_builder_form(world), headers=headers
    )
    assert resp.status_code == 404
    assert await _surveys_in_db(world) == []


# --- the composite score's weights ---------------------------------------------------------


def _weights_form(world, weights: dict[str, str], org: str = "D") -> dict:
    metrics = [m.value for m in ScoreMetric]
    return {
        "org_id": str(world[org].id),
        "metric": metrics,
        "weight": [weights.get(m, "") for m in metrics],
    }


async def _versions(world) -> int:
    async with world.app.state.sessionmaker() as s:
        return len((await s.execute(select(ScoringWeights))).scalars().all())


async def test_the_district_sets_weights_as_a_new_version_seen_by_the_api_and_the_ranking(
    client, world
):
    admin = world.user("district_admin")
    headers = await console_headers(world.app, admin)
    first = (await client.get("http://test/console/scoring", headers=headers)).text
    assert "尚未设定权重" in first and first.count('name="weight"') == len(ScoreMetric)
    form = _weights_form(world, {"report_in_rate": "2", "household_satisfaction_rate": "1.5"})
    resp = await client.post("http://test/console/scoring", data=form, headers=headers)
    assert resp.status_code == 303, resp.text
    api = (
        await client.get(
            "/scoring", params={"org_id": world["D"].id}, headers=world.headers("district_admin")
        )
    ).json()
    assert api["weights"] == {"report_in_rate": 2.0, "household_satisfaction_rate": 1.5}
    page = (await client.get(resp.headers["location"], headers=headers)).text
    assert f"已保存为第 {api['version']} 版" in page and f"现行第 {api['version']} 版" in page
    assert 'value="1.5"' in page
    # A second save is another version; the first stays for the months it scored.
    again = _weights_form(world, {"report_in_rate": "1"})
    assert (
        await client.post("http://test/console/scoring", data=again, headers=headers)
    ).status_code == 303
    assert await _versions(world) == 2
    async with world.app.state.sessionmaker() as s:
        actors = (
            (
                await s.execute(
                    select(AuditEntry.actor_id).where(AuditEntry.action == "scoring.weights")
                )
            )
            .scalars()
            .all()
        )
    assert actors == [admin.id, admin.id]


@pytest.mark.parametrize(
    ("weights", "code"),
    [
        ({}, "weights_all_zero"),
        ({"report_in_rate": "0"}, "weights_all_zero"),
        ({"report_in_rate": "-1"}, "invalid_weight"),
        ({"report_in_rate": "1001"}, "invalid_weight"),
        ({"report_in_rate": "nan"}, "invalid_weight"),
    ],
)
async def test_weights_the_api_would_refuse_are_refused_with_its_code(client, world, weights, code):
    headers = await console_headers(world.app, world.user("district_admin"))
    resp = await client.post(
        "http://test/console/scoring", data=_weights_form(world, weights), headers=headers
    )
    assert (resp.status_code, resp.json()["code"]) == (422, code)
    assert await _versions(world) == 0


async def test_an_unknown_metric_is_refused_and_other_offices_may_not_set_weights(client, world):
    headers = await console_headers(world.app, world.user("district_admin"))
    form = {"org_id": str(world["D"].id), "metric": ["likes"], "weight": ["1"]}
    resp = await client.post("http://test/console/scoring", data=form, headers=headers)
    assert (resp.status_code, resp.json()["code"]) == (422, "unknown_metric")
    other = await make_org(world.app, "邻区", OrgLevel.district)
    other_admin = await make_user(world.app, "邻区管理员", roles=[(Role.district_admin, other)])
    theirs = await console_headers(world.app, other_admin)
    resp = await client.post(
        "http://test/console/scoring",
        data=_weights_form(world, {"report_in_rate": "1"}),
        headers=theirs,
    )
    assert resp.status_code == 404
    page = await client.get(f"http://test/console/scoring?org_id={world['D'].id}", headers=theirs)
    assert page.status_code == 404
    inspector = await console_headers(world.app, world.user("inspector"))
    assert (await client.get("http://test/console/scoring", headers=inspector)).status_code == 403
    assert await _versions(world) == 0


# --- household visits (入户调查) -------------------------------------------------------------


async def test_a_secretary_records_visits_and_the_street_reads_the_months_rates(client, world):
    secretary = await console_headers(world.app, world.user("community_admin"))
    for label, aware, satisfaction in (("3栋501", "yes", "5"), ("4栋302", "no", "3")):
        resp = await client.post(
            "http://test/console/household-visits",
            data={
                "community_id": str(world["C1"].id),
                "household_label": label,
                "aware": aware,
                "satisfaction": satisfaction,
                "note": "",
                "back_org_id": str(world["C1"].id),
            },
            headers=secretary,
        )
        assert resp.status_code == 303, resp.text
    twice = await client.post(
        "http://test/console/household-visits",
        data={
            "community_id": str(world["C1"].id),
            "household_label": "3栋501",
            "aware": "yes",
            "satisfaction": "5",
        },
        headers=secretary,
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "household_already_visited")

    street = await console_headers(world.app, world.user("street_admin"))
    page = (
        await client.get(
            f"http://test/console/household-visits?org_id={world['S1'].id}", headers=street
        )
    ).text
    c1_row = page.split(f'data-org="{world["C1"].id}"')[1].split("</tr>")[0]
    assert "2" in c1_row and "50.0%" in c1_row and "1 / 1" in c1_row
    total_row = page.split(f'data-org="{world["S1"].id}"')[1].split("</tr>")[0]
    assert "1 / 2" in total_row  # C2 not visited yet
    assert page.count("data-visit=") == 2 and "4栋302" in page and "社区书记" in page
    api = (
        await client.get(
            "/stats/household-visits",
            params={"org_id": world["S1"].id},
            headers=world.headers("street_admin"),
        )
    ).json()
    assert (api["total"]["visits"], api["total"]["awareness_rate"]) == (2, 0.5)

    neighbour = await console_headers(world.app, world.user("other_street_admin"))
    outside = await client.get(
        f"http://test/console/household-visits?org_id={world['C1'].id}", headers=neighbour
    )
    assert outside.status_code == 404
    own = (await client.get("http://test/console/household-visits", headers=neighbour)).text
    assert "3栋501" not in own


async def test_another_district_and_an_inspector_reach_no_visit_and_build_no_survey_here(
    client, world
):
    other = await make_org(world.app, "邻区", OrgLevel.district)
    other_admin = await make_user(world.app, "邻区管理员", roles=[(Role.district_admin, other)])
    theirs = await console_headers(world.app, other_admin)
    c1 = world["C1"].id
    assert (
        await client.get(f"http://test/console/household-visits?org_id={c1}", headers=theirs)
    ).status_code == 404
    visit = {
        "community_id": str(c1),
        "household_label": "1栋101",
        "aware": "no",
        "satisfaction": "2",
    }
    resp = await client.post("http://test/console/household-visits", data=visit, headers=theirs)
    assert resp.status_code == 404
    built = await client.post(
        "http://test/console/surveys", data=_builder_form(world), headers=theirs
    )
    assert built.status_code == 404
    inspector = await console_headers(world.app, world.user("inspector"))
    for path in ("/console/household-visits", "/console/surveys/new"):
        assert (await client.get(f"http://test{path}", headers=inspector)).status_code == 403
    assert await _surveys_in_db(world) == []
    stats = await client.get(
        "/stats/household-visits", params={"org_id": c1}, headers=world.headers("community_admin")
    )
    assert stats.json()["total"]["visits"] == 0
