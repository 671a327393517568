"""Surveys and quizzes: setting one up, answering once, the key kept from those
answering, the refusals, and the office's figures."""

import asyncio
import io
from collections import Counter
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import func, select

from app.core.db import utcnow
from app.models.survey import SurveyKind, SurveyResponse
from tests.conftest import downgrade_and_back
from tests.factories.surveys import QUIZ, insert_survey, quiz_answers
from tests.factories.users import auth, make_user


def survey_body(world, **overrides):
    now = utcnow()
    body = {
        "title": "应知应会测试",
        "org_id": world["C1"].id,
        "kind": "quiz",
        "audience": "members",
        "questions": QUIZ,
        "opens_at": (now - timedelta(minutes=1)).isoformat(),
        "closes_at": (now + timedelta(days=3)).isoformat(),
    }
    return {**body, **overrides}


async def test_a_member_answers_a_quiz_once_is_scored_and_never_sees_the_key_while_open(
    client, world
):
    created = await client.post(
        "/surveys", json=survey_body(world), headers=world.headers("community_admin")
    )
    assert created.status_code == 201, created.text
    survey = created.json()
    assert survey["questions"][0]["answer"] == [1]  # the admin who set it sees the key
    listed = await client.get("/surveys?status=open", headers=world.headers("member"))
    (item,) = listed.json()["items"]
    assert item["can_answer"] and all(q["answer"] is None for q in item["questions"])
    path = f"/surveys/{survey['id']}/responses"
    first = await client.post(
        path, json={"answers": quiz_answers(right=False)}, headers=world.headers("member")
    )
    assert first.status_code == 201, first.text
    assert (first.json()["score"], first.json()["max_score"]) == (1, 2)
    again = await client.post(
        path, json={"answers": quiz_answers()}, headers=world.headers("member")
    )
    assert again.status_code == 409 and again.json()["code"] == "already_answered"
    after = await client.get(f"/surveys/{survey['id']}", headers=world.headers("member"))
    assert after.json()["answered"] and not after.json()["can_answer"]


async def test_bad_surveys_and_bad_answers_are_refused_with_codes(client, world):
    admin = world.headers("community_admin")
    keyed_questionnaire = await client.post(
        "/surveys", json=survey_body(world, kind="questionnaire"), headers=admin
    )
    assert keyed_questionnaire.status_code == 422
    survey = await insert_survey(world.app, org=world["C1"], creator=world.user("community_admin"))
    path = f"/surveys/{survey.id}/responses"
    member = world.headers("member")
    cases = {
        "invalid_option": [{"question_id": 0, "choices": [5]}],
        "scale_out_of_range": [*quiz_answers()[:2], {"question_id": 2, "scale": 6}],
        "answer_missing": quiz_answers()[:2],
        "invalid_answer": [*quiz_answers(), {"question_id": 0, "choices": [1]}],
    }
    for code, answers in cases.items():
        resp = await client.post(path, json={"answers": answers}, headers=member)
        assert (resp.status_code, resp.json()["code"]) == (422, code), resp.text
    closed = await insert_survey(
        world.app,
        org=world["C1"],
        creator=world.user("community_admin"),
        opens_at=utcnow() - timedelta(days=3),
        closes_at=utcnow() - timedelta(days=1),
    )
    late = await client.post(
        f"/surveys/{closed.id}/responses", json={"answers": quiz_answers()}, headers=member
    )
    assert (late.status_code, late.json()["code"]) == (422, "survey_not_open")
    # Once closed, the key may be shown to those who answered.
    shown = await client.get(f"/surveys/{closed.id}", headers=member)
    assert shown.json()["questions"][0]["answer"] == [1]
    async with world.app.state.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(SurveyResponse))).scalar() == 0


async def test_two_phones_answering_at_once_leave_one_response(client, world):
    for round_no in range(5):
        person = await make_user(world.app, f"居民{round_no}", community=world["C1"])
        survey = await insert_survey(
            world.app, org=world["C1"], creator=world.user("community_admin")
        )
        headers = auth(world.app, person)
        answers = await asyncio.gather(
            *(
                client.post(
                    f"/surveys/{survey.id}/responses",
                    json={"answers": quiz_answers()},
                    headers=headers,
                )
                for _ in range(2)
            )
        )
        assert Counter(r.status_code for r in answers) == {201: 1, 409: 1}, round_no
        async with world.app.state.sessionmaker() as s:
            stored = await s.execute(
                select(func.count())
                .select_from(SurveyResponse)
                .where(SurveyResponse.survey_id == survey.id)
            )
        assert stored.scalar_one() == 1


async def test_a_check_before_inserting_lets_both_phones_through(world):
    """The control: two phones that each look for an earlier response before writing
    both find none, so only the unique key can keep the second out."""
    survey = await insert_survey(world.app, org=world["C1"], creator=world.user("community_admin"))
    person = world.user("member")

    async def looks_first() -> int:
        async with world.app.state.sessionmaker() as s:
            found = await s.execute(
                select(func.count())
                .select_from(SurveyResponse)
                .where(SurveyResponse.survey_id == survey.id, SurveyResponse.user_id == person.id)
            )
            await asyncio.sleep(0.05)  # the phone's request is still on its way
            return found.scalar_one()

    assert await asyncio.gather(looks_first(), looks_first()) == [0, 0]


async def test_the_street_reads_response_rates_scores_and_answers_per_community(client, world):
    survey = await insert_survey(
        world.app, org=world["S1"], creator=world.user("street_admin"), kind=SurveyKind.quiz
    )
    path = f"/surveys/{survey.id}/responses"
    right = await client.post(
        path, json={"answers": quiz_answers()}, headers=world.headers("member")
    )
    wrong = await client.post(
        path,
        json={"answers": quiz_answers(right=False)},
        headers=world.headers("other_community_admin"),
    )
    assert (right.status_code, wrong.status_code) == (201, 201)
    resp = await client.get(f"/stats/surveys/{survey.id}", headers=world.headers("street_admin"))
    assert resp.status_code == 200, resp.text
    stats = resp.json()
    by_org = {c["org_id"]: c for c in stats["children"]}
    c1, c2 = by_org[world["C1"].id], by_org[world["C2"].id]
    # C1 is home to five of the world's cast, C2 to one.
    assert (c1["responses"], c1["members"], c1["average_score"]) == (1, 5, 2.0)
    assert (c2["responses"], c2["response_rate"], c2["average_score"]) == (1, 1.0, 1.0)
    assert stats["total"]["responses"] == 2 and stats["max_score"] == 2
    first = stats["questions"][0]
    assert [o["count"] for o in first["options"]] == [1, 1] and first["correct"] == 1
    assert stats["questions"][2]["scale_average"] == 4.0
    board = await client.get(
        "/dashboard", params={"org_id": world["S1"].id}, headers=world.headers("street_admin")
    )
    assert (board.json()["surveys_open"], board.json()["survey_responses"]) == (1, 2)
    neighbour = await client.get(
        f"/stats/surveys/{survey.id}?org_id={world['C1'].id}",
        headers=world.headers("other_community_admin"),
    )
    assert neighbour.status_code == 404


async def test_the_answers_ledger_shows_where_people_live_and_what_they_answered_not_who(
    client, world
):
    survey = await insert_survey(world.app, org=world["C1"], creator=world.user("community_admin"))
    answered = await client.post(
        f"/surveys/{survey.id}/responses",
        json={"answers": [*quiz_answers(), {"question_id": 3, "text": "多种树"}]},
        headers=world.headers("member"),
    )
    assert answered.status_code == 201
    admin = world.headers("street_admin")
    params = {"org_id": world["S1"].id, "survey_id": survey.id}
    resp = await client.get("/exports/survey-responses.xlsx", params=params, headers=admin)
    assert resp.status_code == 200, resp.text
    sheet = load_workbook(io.BytesIO(resp.content)).active
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    header, (line,) = rows[0], rows[1:]
    assert header[:5] == ("序号", "提交时间", "社区", "单位", "得分")
    assert line[2:] == ("东关社区", "东关小学", 2, "三年", "知晓率、参与率、满意度", 4, "多种树")
    assert "党员甲" not in str(rows)
    no_survey = await client.get(
        "/exports/survey-responses.xlsx", params={"org_id": world["S1"].id}, headers=admin
    )
    assert (no_survey.status_code, no_survey.json()["code"]) == (422, "survey_required")
    elsewhere = await client.get(
        "/exports/survey-responses.xlsx",
        params={"org_id": world["S2"].id, "survey_id": survey.id},
        headers=world.headers("other_street_admin"),
    )
    assert elsewhere.status_code == 404


async def test_each_child_orgs_participation_counts_the_surveys_for_its_people(client, world):
    """问卷参与率 on the dashboard: per child org, the responses of its people to the
    surveys of the month that were for them, against the roster those surveys were
    for; the same figures as GET /stats/surveys."""
    street_admin = world.headers("street_admin")
    for_street = await insert_survey(world.app, org=world["S1"], creator=world.user("street_admin"))
    for_c1 = await insert_survey(
        world.app, org=world["C1"], creator=world.user("community_admin"), title="社区问卷"
    )
    # Not for S1's people: another street's, and one closed two months ago.
    await insert_survey(world.app, org=world["S2"], creator=world.user("other_street_admin"))
    long_ago = utcnow() - timedelta(days=90)
    await insert_survey(
        world.app,
        org=world["S1"],
        creator=world.user("street_admin"),
        opens_at=long_ago,
        closes_at=long_ago + timedelta(days=7),
    )
    for survey, who in (
        (for_street, "member"),  # lives in C1, works at U1
        (for_street, "other_community_admin"),  # lives in C2
        (for_c1, "member"),
    ):
        resp = await client.post(
            f"/surveys/{survey.id}/responses",
            json={"answers": quiz_answers()},
            headers=world.headers(who),
        )
        assert resp.status_code == 201, resp.text

    board = await client.get("/dashboard", params={"org_id": world["S1"].id}, headers=street_admin)
    figures = board.json()
    # The street's survey is for its six people, C1's for C1's five.
    assert (figures["survey_respondents"], figures["survey_audience"]) == (3, 6 + 5)
    assert figures["survey_response_rate"] == round(3 / 11, 4)
    ranking = await client.get(
        "/dashboard/children", params={"org_id": world["S1"].id}, headers=street_admin
    )
    rows = {r["org_id"]: r for r in ranking.json()["items"]}
    c1, c2, u1 = rows[world["C1"].id], rows[world["C2"].id], rows[world["U1"].id]
    assert (c1["survey_respondents"], c1["survey_audience"], c1["survey_response_rate"]) == (
        2,
        10,
        0.2,
    )
    assert (c2["survey_respondents"], c2["survey_audience"]) == (1, 1)
    # The member works at U1: the street's survey counts for the unit too, C1's does not.
    assert (u1["survey_respondents"], u1["survey_audience"]) == (1, 1)

    stats = await client.get(f"/stats/surveys/{for_street.id}", headers=street_admin)
    by_org = {c["org_id"]: c for c in stats.json()["children"]}
    assert stats.json()["total"]["members"] == figures["members"] == 6
    assert by_org[world["C2"].id]["response_rate"] == c2["survey_response_rate"] == 1.0
    earlier = await client.get(
        "/dashboard", params={"org_id": world["S1"].id, "month": "2020-01"}, headers=street_admin
    )
    assert earlier.json()["survey_response_rate"] is None  # no survey that month


async def test_the_figures_survive_a_downgrade_and_are_rebuilt_from_the_responses(client, world):
    """survey_answers is filled from the responses kept so far when it is created."""
    survey = await insert_survey(world.app, org=world["S1"], creator=world.user("street_admin"))
    for who, right in (("member", True), ("other_community_admin", False)):
        resp = await client.post(
            f"/surveys/{survey.id}/responses",
            json={"answers": [*quiz_answers(right), {"question_id": 3, "text": "多种树"}]},
            headers=world.headers(who),
        )
        assert resp.status_code == 201, resp.text
    path, admin = f"/stats/surveys/{survey.id}", world.headers("street_admin")
    before = (await client.get(path, headers=admin)).json()
    assert [q["answered"] for q in before["questions"]] == [2, 2, 2, 2]
    assert [o["count"] for o in before["questions"][1]["options"]] == [2, 2, 2, 0]
    assert [q["correct"] for q in before["questions"]] == [1, 2, None, None]
    await downgrade_and_back(world.app, "e9a3af1f155a")
    assert (await client.get(path, headers=admin)).json() == before
