"""Assessment readiness in the demo district, so that `make run` shows it: a quiz of
东关街道 and a satisfaction questionnaire of the district with answers, this month's
household visits in two communities, 东关社区's indicators in every state (one
overdue, one with a PDF as evidence), the district's weights of the composite score
and this month's comments (月点评) on a street and a community.

Through the services, as requests would, at the time given."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.scope import Caller
from app.core.storage import Storage
from app.core.timeutil import local, month_key
from app.edge.access import caller_for_person
from app.models.household_visit import HouseholdVisitCreate
from app.models.indicator import EvidenceCreate, IndicatorCreate, IndicatorReview
from app.models.org import Org
from app.models.scoring import MonthlyReviewCreate, ScoringUpdate
from app.models.survey import (
    Answer,
    QuestionType,
    ResponseCreate,
    SurveyAudience,
    SurveyCreate,
    SurveyKind,
    SurveyQuestion,
)
from app.models.user import User
from app.services import documents, household_visits, indicators, scoring, surveys

QUIZ = [
    SurveyQuestion(
        text="全国文明城市测评的“三率”不包括哪一项？",
        type=QuestionType.single,
        options=["知晓率", "参与率", "满意度", "出勤率"],
        answer=[3],
    ),
    SurveyQuestion(
        text="社会主义核心价值观中，个人层面的价值准则有哪些？",
        type=QuestionType.multi,
        options=["爱国", "敬业", "诚信", "友善", "富强"],
        answer=[0, 1, 2, 3],
    ),
]
QUESTIONNAIRE = [
    SurveyQuestion(text="你对小区环境卫生的满意程度", type=QuestionType.scale),
    SurveyQuestion(
        text="你是否参加过社区的志愿服务活动？",
        type=QuestionType.single,
        options=["参加过", "没参加过"],
    ),
    SurveyQuestion(text="你对创建文明城市有什么建议？", type=QuestionType.text),
]
# The district's composite score: the household survey's rates weigh most, as in
# the assessment itself.
DEMO_WEIGHTS = {
    "report_in_rate": 2.0,
    "rectification_rate": 2.0,
    "household_awareness_rate": 3.0,
    "household_satisfaction_rate": 3.0,
    "indicator_completion_rate": 1.0,
    "service_orders_on_time_rate": 1.0,
}
# A one-page PDF, as small as a real one gets.
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


async def seed_assessment(
    session: AsyncSession,
    *,
    orgs: dict[str, Org],
    people: list[User],
    now: datetime,
    storage: Storage | None = None,
) -> dict[str, int]:
    by_openid = {u.openid: u for u in people if u.openid}

    async def caller(user: User) -> Caller:
        return await caller_for_person(session, user)

    district = await caller(by_openid["demo-district-admin"])
    street = await caller(by_openid["demo-street-admin"])
    community = await caller(by_openid["demo-community-admin"])
    inspector = await caller(by_openid["demo-inspector"])
    member = by_openid["demo-member"]
    street_people = [
        u
        for u in people
        if u.community_id in {orgs[c].id for c in ("东关社区", "仓门社区", "广场社区")}
        and not u.openid
    ]

    quiz = await surveys.create_survey(
        session,
        caller=street,
        data=SurveyCreate(
            title="创文应知应会测试（第一期）",
            org_id=orgs["东关街道"].id or 0,
            kind=SurveyKind.quiz,
            audience=SurveyAudience.members,
            questions=QUIZ,
            opens_at=now - timedelta(days=3),
            closes_at=now + timedelta(days=11),
        ),
    )
    questionnaire = await surveys.create_survey(
        session,
        caller=district,
        data=SurveyCreate(
            title="文明城市创建满意度调查",
            org_id=district.grants[0].org_id,
            kind=SurveyKind.questionnaire,
            audience=SurveyAudience.everyone,
            questions=QUESTIONNAIRE,
            opens_at=now - timedelta(days=5),
            closes_at=now + timedelta(days=25),
        ),
    )
    responses = 0
    for i, person in enumerate(street_people[:12]):
        respondent = await caller(person)
        right = i % 3 != 0
        await surveys.respond(
            session,
            caller=respondent,
            survey=quiz,
            data=ResponseCreate(
                answers=[
                    Answer(question_id=0, choices=[3 if right else 1]),
                    Answer(question_id=1, choices=[0, 1, 2, 3] if right else [0, 4]),
                ]
            ),
            now=now - timedelta(hours=i + 1),
        )
        await surveys.respond(
            session,
            caller=respondent,
            survey=questionnaire,
            data=ResponseCreate(
                answers=[
                    Answer(question_id=0, scale=5 - i % 3),
                    Answer(question_id=1, choices=[i % 2]),
                    *(
                        [Answer(question_id=2, text="希望多设置垃圾分类指引牌")]
                        if i % 4 == 0
                        else []
                    ),
                ]
            ),
            now=now - timedelta(hours=i + 1),
        )
        responses += 2

    visits = 0
    for name, households in (("东关社区", 6), ("仓门社区", 3)):
        for n in range(households):
            await household_visits.record_visit(
                session,
                caller=inspector,
                data=HouseholdVisitCreate(
                    community_id=orgs[name].id or 0,
                    household_label=f"{n + 1}号楼{n % 3 + 1}单元{101 + n}",
                    aware=n % 4 != 3,
                    satisfaction=5 - n % 3,
                ),
                now=now - timedelta(hours=n),
            )
            visits += 1

    today = local(now).date()
    owner = await caller(member)
    items = []
    for code, title, due in (
        ("1.1.1", "公益广告刊播台账", 20),
        ("2.3.2", "志愿服务站点建设情况", 10),
        ("3.1.4", "背街小巷整治记录", 5),
        ("4.2.1", "未成年人思想道德建设活动", 12),
        ("5.1.3", "文明家庭评选材料", -3),
    ):
        items.append(
            await indicators.create_indicator(
                session,
                caller=community,
                data=IndicatorCreate(
                    code=code,
                    title=title,
                    org_id=orgs["东关社区"].id or 0,
                    owner_user_id=member.id or 0,
                    due_on=today + timedelta(days=due),
                ),
                now=now - timedelta(days=7),
            )
        )
    media_ids = []
    if storage is not None:
        pdf = await documents.store_document(storage, uploader_id=owner.id, raw=DEMO_PDF)
        session.add(pdf)
        await session.flush()
        media_ids = [pdf.id or 0]
    # Submitted (waiting for review), accepted, returned; the rest pending, one overdue.
    for item, note, verdict in (
        (items[1], "已上传站点照片和台账", None),
        (items[2], "整治前后对比记录", True),
        (items[3], "活动签到表", False),
    ):
        await indicators.submit_evidence(
            session,
            caller=owner,
            indicator=item,
            data=EvidenceCreate(note=note, media_ids=media_ids if item is items[1] else []),
            now=now - timedelta(days=2),
        )
        if verdict is not None:
            await indicators.review(
                session,
                caller=community,
                indicator=item,
                data=IndicatorReview(
                    approve=verdict, comment=None if verdict else "缺少活动照片，请补充"
                ),
                now=now - timedelta(days=1),
            )

    district_org = await session.get(Org, district.grants[0].org_id)
    assert district_org is not None
    await scoring.set_weights(
        session,
        caller=district,
        district=district_org,
        data=ScoringUpdate(weights=DEMO_WEIGHTS),
    )
    month = month_key(now)
    for reviewer, org_name, comment in (
        (district, "东关街道", "入户知晓率、满意率领先，申报材料进度需加快"),
        (street, "东关社区", "入户调查覆盖较好；文明家庭评选材料已逾期，请尽快补报"),
    ):
        await scoring.create_review(
            session,
            caller=reviewer,
            data=MonthlyReviewCreate(org_id=orgs[org_name].id or 0, month=month, comment=comment),
        )
    await session.flush()
    return {
        "surveys": 2,
        "survey_responses": responses,
        "household_visits": visits,
        "indicators": 5,
        "monthly_reviews": 2,
    }
