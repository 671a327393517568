"""Surveys and quizzes (问卷、应知应会): an admin sets one up for an org; the people it
is for answer it once each in the mini-program; the office reads the figures.

Who does what:
- an admin whose reach covers the org creates it (kind quiz or questionnaire,
  audience members or everyone, the questions, when it opens and closes);
- who may answer: `members`, the people whose home community or unit lies in the
  org's subtree (the roster the dashboards count); `everyone`, those and anyone
  logged in with no roster home (a resident answering from a shared code);
- they answer once, while it is open: a second response is 409 `already_answered`,
  settled by the unique key (survey, person), however many phones send at once;
- a quiz is scored on its single and multi questions (a point each: all the right
  options and none other); the key is shown only to the admins over the org, and
  to the people answering once it has closed;
- admins over the org (or an org above or inside it) read the figures: response
  rate against the people of each child org, average score, answers per question,
  all counted by the database (`survey_stats`): a response's answers are also kept
  as survey_answers rows (`answer_rows`), written with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, insert, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import paged_scalars, table_of, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, is_within, org_in_reach, path_ids
from app.models.org import Org
from app.models.survey import (
    NO_CHOICE,
    SCALE_MAX,
    Answer,
    OptionCount,
    QuestionPublic,
    QuestionStats,
    QuestionType,
    ResponseCreate,
    ResponsePublic,
    Survey,
    SurveyAnswer,
    SurveyAudience,
    SurveyCreate,
    SurveyKind,
    SurveyOrgStats,
    SurveyPublic,
    SurveyResponse,
    SurveyStats,
    SurveyStatus,
)
from app.services import audit, dashboard


def status_of(survey: Survey, now: datetime) -> SurveyStatus:
    if now < survey.opens_at:
        return SurveyStatus.upcoming
    return SurveyStatus.open if now < survey.closes_at else SurveyStatus.closed


def _status_condition(status: SurveyStatus, now: datetime) -> ColumnElement[bool]:
    if status == SurveyStatus.upcoming:
        return col(Survey.opens_at) > now
    if status == SurveyStatus.closed:
        return col(Survey.closes_at) <= now
    return and_(col(Survey.opens_at) <= now, col(Survey.closes_at) > now)


# --- who sees and who answers ---------------------------------------------------------


async def _homes(session: AsyncSession, caller: Caller) -> list[int]:
    """The ids of the caller's home community and unit and of all their ancestors:
    the orgs whose `members` surveys are for them."""
    ids: list[int] = []
    if caller.home is not None:
        ids += path_ids(caller.home[1])
    elif caller.user.community_id is not None:
        community = await session.get(Org, caller.user.community_id)
        ids += path_ids(community.path) if community else []
    if caller.user.unit_id is not None:
        unit = await session.get(Org, caller.user.unit_id)
        ids += path_ids(unit.path) if unit else []
    return ids


def _answerable(caller: Caller, homes: list[int]) -> ColumnElement[bool]:
    if caller.is_api_key:
        return false()
    for_members = col(Survey.org_id).in_(homes) if homes else false()
    if homes:
        return for_members
    # Nobody's roster: only surveys for everyone.
    return col(Survey.audience) == SurveyAudience.everyone


def _visible(caller: Caller, homes: list[int]) -> ColumnElement[bool]:
    return or_(in_reach(col(Survey.org_id), caller.paths()), _answerable(caller, homes))


async def get_visible_survey(session: AsyncSession, caller: Caller, survey_id: int) -> Survey:
    homes = await _homes(session, caller)
    found = (
        await session.execute(
            select(Survey).where(col(Survey.id) == survey_id, _visible(caller, homes))
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


async def _may_answer(session: AsyncSession, caller: Caller, survey: Survey) -> bool:
    homes = await _homes(session, caller)
    if homes:
        return survey.org_id in homes
    return survey.audience == SurveyAudience.everyone and not caller.is_api_key


async def _administers(session: AsyncSession, caller: Caller, survey: Survey) -> bool:
    org = await session.get(Org, survey.org_id)
    return org is not None and caller.reaches(org)


# --- creating and answering -------------------------------------------------------------


async def create_survey(session: AsyncSession, *, caller: Caller, data: SurveyCreate) -> Survey:
    if not caller.is_admin:
        raise Forbidden("forbidden", "只有管理员可以发起问卷和测试")
    org = await org_in_reach(session, caller, data.org_id)
    assert org.id is not None
    survey = Survey(
        org_id=org.id,
        title=data.title,
        kind=data.kind,
        audience=data.audience,
        questions=[q.model_dump() for q in data.questions],
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        created_by_id=caller.id,
    )
    session.add(survey)
    await session.flush()
    await audit.record(
        session,
        caller=caller,
        action="survey.create",
        target_type="survey",
        target_id=survey.id,
        org_id=org.id,
    )
    return survey


def _checked(survey: Survey, answers: Sequence[Answer]) -> list[dict[str, Any]]:
    """The answers as stored, each held to its question; 422 with a code otherwise.
    Every question but a text one must be answered."""
    questions = survey.questions
    seen: dict[int, dict[str, Any]] = {}
    for a in answers:
        if a.question_id >= len(questions) or a.question_id in seen:
            raise Unprocessable("invalid_answer", f"第 {a.question_id + 1} 题不存在或答了两次")
        q = questions[a.question_id]
        kind = QuestionType(q["type"])
        label = f"第 {a.question_id + 1} 题"
        if kind in (QuestionType.single, QuestionType.multi):
            if a.choices is None or a.scale is not None or a.text is not None:
                raise Unprocessable("invalid_answer", f"{label}是选择题，请选择选项")
            choices = sorted(set(a.choices))
            if any(c >= len(q["options"]) for c in choices) or len(choices) != len(a.choices):
                raise Unprocessable("invalid_option", f"{label}所选的选项不在题目中")
            if not choices or (kind == QuestionType.single and len(choices) != 1):
                raise Unprocessable("invalid_answer", f"{label}须选择一个选项")
            seen[a.question_id] = {"question_id": a.question_id, "choices": choices}
        elif kind == QuestionType.scale:
            if a.scale is None or a.choices is not None or a.text is not None:
                raise Unprocessable("invalid_answer", f"{label}是量表题，请打分")
            if not 1 <= a.scale <= SCALE_MAX:
                raise Unprocessable("scale_out_of_range", f"{label}的分值应为 1 至 {SCALE_MAX}")
            seen[a.question_id] = {"question_id": a.question_id, "scale": a.scale}
        else:
            if a.text is None or a.choices is not None or a.scale is not None:
                raise Unprocessable("invalid_answer", f"{label}是填空题，请填写文字")
            seen[a.question_id] = {"question_id": a.question_id, "text": a.text}
    missing = [
        i + 1 for i, q in enumerate(questions) if i not in seen and q["type"] != QuestionType.text
    ]
    if missing:
        raise Unprocessable("answer_missing", f"第 {missing[0]} 题还没有作答")
    return [seen[i] for i in sorted(seen)]


def _keys(survey: Survey) -> dict[int, list[int]]:
    """A quiz's key: the right options of each keyed question (none for a questionnaire)."""
    if survey.kind != SurveyKind.quiz:
        return {}
    return {i: sorted(q["answer"]) for i, q in enumerate(survey.questions) if q.get("answer")}


def _score(survey: Survey, answers: list[dict[str, Any]]) -> tuple[int | None, int | None]:
    if survey.kind != SurveyKind.quiz:
        return None, None
    keyed = _keys(survey)
    given = {a["question_id"]: a.get("choices") for a in answers}
    return sum(given.get(i) == key for i, key in keyed.items()), len(keyed)


def answer_rows(
    survey: Survey, response_id: int, answers: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The survey_answers rows of checked answers (app/models/survey.SurveyAnswer)."""
    assert survey.id is not None
    keyed = _keys(survey)
    rows = []
    for a in answers:
        i = a["question_id"]
        key = keyed.get(i)
        base = {
            "response_id": response_id,
            "survey_id": survey.id,
            "question_id": i,
            "correct": None if key is None else a.get("choices") == key,
        }
        if "choices" in a:
            rows += [{**base, "choice": c, "scale": None} for c in a["choices"]]
        else:
            rows.append({**base, "choice": NO_CHOICE, "scale": a.get("scale")})
    return rows


async def respond(
    session: AsyncSession,
    *,
    caller: Caller,
    survey: Survey,
    data: ResponseCreate,
    now: datetime | None = None,
) -> SurveyResponse:
    now = now or utcnow()
    if not await _may_answer(session, caller, survey):
        raise Forbidden("not_in_audience", "你不在该问卷的作答范围内")
    if status_of(survey, now) != SurveyStatus.open:
        raise Unprocessable("survey_not_open", "该问卷不在作答时间内")
    answers = _checked(survey, data.answers)
    score, max_score = _score(survey, answers)
    assert survey.id is not None
    response = SurveyResponse(
        survey_id=survey.id,
        user_id=caller.id,
        community_id=caller.user.community_id,
        unit_id=caller.user.unit_id,
        answers=answers,
        score=score,
        max_score=max_score,
        submitted_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(response)
            await session.flush()
    except IntegrityError:
        raise Conflict("already_answered", "你已经提交过这份问卷") from None
    assert response.id is not None
    if rows := answer_rows(survey, response.id, answers):
        await session.execute(insert(SurveyAnswer), rows)
    return response


def response_public(response: SurveyResponse) -> ResponsePublic:
    assert response.id is not None
    return ResponsePublic(
        id=response.id,
        survey_id=response.survey_id,
        answers=response.answers,
        score=response.score,
        max_score=response.max_score,
        submitted_at=response.submitted_at,
    )


# --- reading -------------------------------------------------------------------------------


async def list_surveys(
    session: AsyncSession,
    *,
    caller: Caller,
    org: Org | None,
    status: SurveyStatus | None,
    offset: int,
    limit: int,
    now: datetime | None = None,
) -> tuple[list[Survey], int]:
    """The surveys the caller may answer, and those of the orgs they administer.
    `status=open`: what is open now (for a respondent, what they may answer)."""
    now = now or utcnow()
    conditions = [_visible(caller, await _homes(session, caller))]
    if org is not None:
        conditions.append(in_reach(col(Survey.org_id), [org.path]))
    if status is not None:
        conditions.append(_status_condition(status, now))
    return await paged_scalars(
        session,
        select(Survey).where(*conditions).order_by(col(Survey.closes_at), col(Survey.id)),
        offset=offset,
        limit=limit,
    )


async def surveys_public(
    session: AsyncSession, surveys: Sequence[Survey], *, caller: Caller, now: datetime | None = None
) -> list[SurveyPublic]:
    now = now or utcnow()
    ids = [s.id for s in surveys if s.id is not None]
    answered = (
        set(
            (
                await session.execute(
                    select(SurveyResponse.survey_id).where(
                        col(SurveyResponse.survey_id).in_(ids),
                        col(SurveyResponse.user_id) == caller.id,
                    )
                )
            ).scalars()
        )
        if ids and not caller.is_api_key
        else set()
    )
    homes = await _homes(session, caller)
    paths: dict[int, str] = (
        dict(
            (
                await session.execute(
                    select(Org.id, Org.path).where(col(Org.id).in_({s.org_id for s in surveys}))
                )
            ).all()
        )
        if surveys
        else {}
    )
    admin_paths = caller.paths()
    out = []
    for s in surveys:
        assert s.id is not None
        status = status_of(s, now)
        administers = any(is_within(paths[s.org_id], p) for p in admin_paths)
        # The key only to those who set it, or once nobody can answer any more.
        key_shown = administers or status == SurveyStatus.closed
        may = (s.org_id in homes) if homes else s.audience == SurveyAudience.everyone
        out.append(
            SurveyPublic(
                id=s.id,
                org_id=s.org_id,
                title=s.title,
                kind=s.kind,
                audience=s.audience,
                status=status,
                opens_at=s.opens_at,
                closes_at=s.closes_at,
                questions=[
                    QuestionPublic(
                        id=i,
                        text=q["text"],
                        type=q["type"],
                        options=q.get("options"),
                        answer=q.get("answer") if key_shown else None,
                    )
                    for i, q in enumerate(s.questions)
                ],
                can_answer=may and not caller.is_api_key and s.id not in answered,
                answered=s.id in answered,
                created_at=s.created_at,
            )
        )
    return out


# --- figures ------------------------------------------------------------------------------


async def response_counts(
    session: AsyncSession, surveys: Sequence[Survey], *, caller: Caller
) -> dict[int, int]:
    """How many answered each survey the caller administers (its org in their reach:
    a survey from above that they may answer counts people outside their reach); the
    others are left out."""
    orgs = {
        o.id: o
        for o in (
            await session.execute(select(Org).where(col(Org.id).in_({s.org_id for s in surveys})))
        ).scalars()
    }
    ids = [
        s.id
        for s in surveys
        if s.id is not None and s.org_id in orgs and caller.reaches(orgs[s.org_id])
    ]
    if not ids:
        return {}
    rows = await session.execute(
        select(SurveyResponse.survey_id, func.count())
        .where(col(SurveyResponse.survey_id).in_(ids))
        .group_by(col(SurveyResponse.survey_id))
    )
    return {i: 0 for i in ids} | {survey_id: int(n) for survey_id, n in rows.all()}


async def stats_org(
    session: AsyncSession, caller: Caller, survey: Survey, org_id: int | None
) -> Org:
    """The org the figures are for: the survey's own by default; one the caller's admin
    roles reach, above or inside the survey's org (404 otherwise)."""
    org = await org_in_reach(session, caller, org_id or survey.org_id)
    own = await session.get(Org, survey.org_id)
    assert own is not None
    if not (is_within(org.path, own.path) or is_within(own.path, org.path)):
        raise NotFound()
    return org


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def survey_stats(session: AsyncSession, *, survey: Survey, org: Org) -> SurveyStats:
    """The figures, counted by the database: responses per home pair (for each child
    org's rate and average score), answers per question and per option from
    survey_answers. Nothing reads the responses themselves."""
    assert survey.id is not None and org.id is not None
    children = list((await session.execute(select(Org).where(Org.parent_id == org.id))).scalars())
    buckets = await dashboard.subtrees(session, org, [org, *children])
    members = await dashboard.members_of_buckets(session, buckets)
    subtree = buckets[org.id]
    pairs = (await dashboard.response_pairs(session, [survey.id], subtree)).get(survey.id, {})

    def figures(o: Org) -> SurveyOrgStats:
        assert o.id is not None
        responses, points, scored = dashboard.in_bucket(pairs, set(buckets[o.id]))
        return SurveyOrgStats(
            org_id=o.id,
            org_name=o.name,
            members=members[o.id],
            responses=responses,
            response_rate=_rate(responses, members[o.id]),
            average_score=round(points / scored, 2) if scored else None,
        )

    answer = table_of(SurveyAnswer)
    mine = and_(
        answer.c.survey_id == survey.id,
        answer.c.response_id.in_(
            select(col(SurveyResponse.id)).where(
                col(SurveyResponse.survey_id) == survey.id, dashboard.held_by_homes(subtree)
            )
        ),
    )
    per_question = {
        q: numbers
        for q, *numbers in (
            await session.execute(
                sa_select(
                    answer.c.question_id,
                    func.count(func.distinct(answer.c.response_id)),
                    func.count(func.distinct(case((answer.c.correct, answer.c.response_id)))),
                    func.sum(answer.c.scale),
                    func.count(answer.c.scale),
                )
                .where(mine)
                .group_by(answer.c.question_id)
            )
        ).all()
    }
    chosen = {
        (q, c): n
        for q, c, n in (
            await session.execute(
                sa_select(answer.c.question_id, answer.c.choice, func.count())
                .where(mine, answer.c.choice != NO_CHOICE)
                .group_by(answer.c.question_id, answer.c.choice)
            )
        ).all()
    }

    questions = []
    for i, q in enumerate(survey.questions):
        answered, correct, scale_sum, scales = per_question.get(i, (0, 0, None, 0))
        options = (
            [OptionCount(option=t, count=chosen.get((i, k), 0)) for k, t in enumerate(q["options"])]
            if q.get("options") is not None
            else None
        )
        questions.append(
            QuestionStats(
                id=i,
                text=q["text"],
                type=q["type"],
                answered=answered,
                options=options,
                correct=correct if q.get("answer") else None,
                scale_average=round(int(scale_sum or 0) / scales, 2) if scales else None,
            )
        )
    keyed = sum(1 for q in survey.questions if q.get("answer"))
    return SurveyStats(
        survey_id=survey.id,
        org_id=org.id,
        max_score=keyed if survey.kind == SurveyKind.quiz else None,
        total=figures(org),
        children=[figures(c) for c in children],
        questions=questions,
    )
