"""Volunteers (志愿者): registration by people on no roster, opting in by roster people,
review by the community's admins, and withdrawal of consent.

A registration keeps the consent it was given on: when, and the version of the text
(PIPL). Withdrawing consent takes the person off every volunteer list and ledger;
the row stays, with its history, for the record.

Who sees a registration: the person, and the admins whose reach covers its community
(not once withdrawn). The phone is shown masked; only its owner reads it whole (/me).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import paged_scalars, updated_one, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach
from app.core.security import PiiCipher, mask_phone, normalize_phone
from app.core.text import text_or_none
from app.core.wechat import WeChatGateway
from app.models.org import Org, OrgLevel
from app.models.user import ADMIN_ROLES, User
from app.models.volunteer import (
    CONSENT_VERSION,
    OpenTo,
    Volunteer,
    VolunteerAction,
    VolunteerEvent,
    VolunteerOptIn,
    VolunteerPublic,
    VolunteerRegister,
    VolunteerReview,
    VolunteerStatus,
)
from app.services import lifecycle, volunteers_messages
from app.services.lifecycle import Lifecycle, Transition
from app.services.users import entries_with_phone

STATUS_NAMES = {
    VolunteerStatus.pending: "待审核",
    VolunteerStatus.approved: "已通过",
    VolunteerStatus.rejected: "已驳回",
    VolunteerStatus.withdrawn: "已撤回同意",
}

LIFECYCLE = Lifecycle(
    name="volunteer",
    model=Volunteer,
    history=VolunteerEvent,
    org_key="community_id",
    code="invalid_volunteer_state",
    called="志愿者登记",
    names=STATUS_NAMES,
    transitions=(
        Transition(
            VolunteerAction.approve, {VolunteerStatus.pending}, VolunteerStatus.approved, "审核"
        ),
        Transition(
            VolunteerAction.reject, {VolunteerStatus.pending}, VolunteerStatus.rejected, "审核"
        ),
        # Registering again after a refusal or a withdrawal: reviewed again, unless a
        # roster person opts in (the roster already vouches for them).
        Transition(
            VolunteerAction.register,
            {VolunteerStatus.rejected, VolunteerStatus.withdrawn},
            VolunteerStatus.pending,
            "重新登记",
            refusals=dict.fromkeys(
                (VolunteerStatus.pending, VolunteerStatus.approved),
                ("already_volunteer", "您已登记为志愿者"),
            ),
        ),
        Transition(
            VolunteerAction.register,
            {VolunteerStatus.rejected, VolunteerStatus.withdrawn},
            VolunteerStatus.approved,
            "重新登记",
        ),
        Transition(
            VolunteerAction.withdraw,
            {VolunteerStatus.pending, VolunteerStatus.approved, VolunteerStatus.rejected},
            VolunteerStatus.withdrawn,
            "撤回同意",
        ),
    ),
)


# --- who sees what ------------------------------------------------------------------


def visible_volunteers(caller: Caller) -> ColumnElement[bool]:
    return or_(
        col(Volunteer.user_id) == caller.id,
        and_(
            col(Volunteer.status) != VolunteerStatus.withdrawn,
            in_reach(col(Volunteer.community_id), caller.paths(ADMIN_ROLES)),
        ),
    )


async def get_visible_volunteer(
    session: AsyncSession, caller: Caller, volunteer_id: int
) -> Volunteer:
    found = (
        await session.execute(
            select(Volunteer).where(Volunteer.id == volunteer_id, visible_volunteers(caller))
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


async def approved_community(session: AsyncSession, user_id: int) -> int | None:
    """The community of the person's approved volunteer registration, if any: where
    they may join what is open to everyone."""
    return (
        await session.execute(
            select(Volunteer.community_id).where(
                Volunteer.user_id == user_id, Volunteer.status == VolunteerStatus.approved
            )
        )
    ).scalar_one_or_none()


def open_to_everyone(open_to: OpenTo | str) -> bool:
    return open_to == OpenTo.everyone


async def to_public(
    session: AsyncSession, volunteers: Sequence[Volunteer]
) -> list[VolunteerPublic]:
    ids = {v.user_id for v in volunteers}
    people = {
        u.id: u
        for u in (await session.execute(select(User).where(col(User.id).in_(ids)))).scalars()
    }
    out = []
    for v in volunteers:
        assert v.id is not None
        person = people[v.user_id]
        out.append(
            VolunteerPublic(
                id=v.id,
                user_id=v.user_id,
                name=person.name,
                phone_masked=person.phone_masked,
                community_id=v.community_id,
                status=v.status,
                is_volunteer=v.status == VolunteerStatus.approved,
                skills=list(v.skills),
                on_roster=v.on_roster,
                consent_at=v.consent_at,
                consent_version=v.consent_version,
                withdrawn_at=v.withdrawn_at,
                reviewed_at=v.reviewed_at,
                created_at=v.created_at,
            )
        )
    return out


async def to_public_one(session: AsyncSession, volunteer: Volunteer) -> VolunteerPublic:
    (public,) = await to_public(session, [volunteer])
    return public


async def list_volunteers(
    session: AsyncSession,
    *,
    caller: Caller,
    org: Org | None,
    status: VolunteerStatus | None,
    offset: int,
    limit: int,
) -> tuple[list[Volunteer], int]:
    conditions = [
        visible_volunteers(caller),
        col(Volunteer.status) != VolunteerStatus.withdrawn,
    ]
    if org is not None:
        conditions.append(in_reach(col(Volunteer.community_id), [org.path]))
    if status is not None:
        conditions.append(col(Volunteer.status) == status)
    return await paged_scalars(
        session,
        select(Volunteer).where(*conditions).order_by(col(Volunteer.id).desc()),
        offset=offset,
        limit=limit,
    )


# --- registering ----------------------------------------------------------------------


def _require_consent(consent: bool) -> None:
    if consent is not True:
        raise Unprocessable("consent_required", "请阅读并同意个人信息处理规则后再登记")


def _skills(skills: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(s.strip() for s in skills if s.strip()))


async def _own(session: AsyncSession, user_id: int) -> Volunteer | None:
    return (
        await session.execute(select(Volunteer).where(Volunteer.user_id == user_id))
    ).scalar_one_or_none()


async def _enrol(
    session: AsyncSession,
    *,
    caller: Caller,
    community_id: int,
    skills: list[str],
    on_roster: bool,
) -> Volunteer:
    """The registration row: new, or the person's earlier one registered again."""
    status = VolunteerStatus.approved if on_roster else VolunteerStatus.pending
    now = utcnow()
    existing = await _own(session, caller.id)
    if existing is not None:
        LIFECYCLE.require(existing, VolunteerAction.register)
        await lifecycle.move(
            session,
            LIFECYCLE,
            existing,
            caller=caller,
            action=VolunteerAction.register,
            to=status,
            now=now,
            values={
                "consent_at": now,
                "consent_version": CONSENT_VERSION,
                "community_id": community_id,
                "skills": skills,
                "on_roster": on_roster,
                "withdrawn_at": None,
                "reviewed_at": now if on_roster else None,
            },
        )
        volunteer = existing
    else:
        volunteer = Volunteer(
            user_id=caller.id,
            community_id=community_id,
            status=status,
            skills=skills,
            on_roster=on_roster,
            reviewed_at=now if on_roster else None,
            consent_at=now,
            consent_version=CONSENT_VERSION,
        )
        try:
            async with session.begin_nested():
                session.add(volunteer)
                await session.flush()
        except IntegrityError:
            # The same person's second tap registered first.
            raise Conflict("already_volunteer", "您已登记为志愿者") from None
        assert volunteer.id is not None
        session.add(
            VolunteerEvent(
                volunteer_id=volunteer.id,
                action=VolunteerAction.register,
                to_status=status,
                actor_id=caller.id,
                note=f"同意个人信息处理规则（{CONSENT_VERSION}版）",
                at=now,
            )
        )
        await session.flush()
    if not on_roster:
        await volunteers_messages.volunteer_registered(session, volunteer=volunteer)
    return volunteer


async def register(
    session: AsyncSession,
    *,
    caller: Caller,
    gateway: WeChatGateway,
    cipher: PiiCipher,
    data: VolunteerRegister,
) -> Volunteer:
    """A WeChat account on no roster registers with its real name and the phone WeChat
    vouches for (getPhoneNumber); the community's admins review it."""
    _require_consent(data.consent)
    user = caller.user
    if user.community_id is not None or user.unit_id is not None:
        raise Conflict("on_roster", "您已在花名册中，请直接申请成为志愿者（POST /me/volunteer）")
    community = await session.get(Org, data.community_id)
    if community is None or community.level != OrgLevel.community:
        raise Unprocessable("invalid_community", "所选社区不存在")
    name = data.name.strip()
    if not name:
        raise Unprocessable("validation_error", "姓名不能为空")
    phone = normalize_phone(await gateway.phone_number(data.phone_code))
    others = [e for e in await entries_with_phone(session, cipher, phone) if e.id != user.id]
    if others:
        # Someone on a roster binds their phone instead (POST /auth/bind-phone).
        raise Conflict("phone_on_roster", "该手机号已在花名册中，请先绑定手机号")
    try:
        async with session.begin_nested():
            await updated_one(
                session,
                update(User)
                .where(col(User.id) == user.id)
                .values(
                    name=name,
                    phone_cipher=cipher.encrypt(phone),
                    phone_hash=cipher.lookup_hash(phone),
                    phone_masked=mask_phone(phone),
                    updated_at=utcnow(),
                ),
            )
    except IntegrityError:
        raise Conflict("phone_already_bound", "该手机号已绑定其他微信账号") from None
    await session.refresh(user)
    return await _enrol(
        session,
        caller=caller,
        community_id=data.community_id,
        skills=_skills(data.skills),
        on_roster=False,
    )


async def opt_in(session: AsyncSession, *, caller: Caller, data: VolunteerOptIn) -> Volunteer:
    """A roster person becomes a volunteer of their home community at once."""
    _require_consent(data.consent)
    if caller.user.community_id is None:
        raise Conflict("not_on_roster", "您不在社区花名册中，请先登记（POST /volunteers/register）")
    return await _enrol(
        session,
        caller=caller,
        community_id=caller.user.community_id,
        skills=_skills(data.skills),
        on_roster=True,
    )


async def withdraw(session: AsyncSession, *, caller: Caller) -> Volunteer:
    """Consent withdrawn: off every volunteer list from now on."""
    volunteer = await _own(session, caller.id)
    if volunteer is None:
        raise NotFound("您尚未登记为志愿者", code="not_volunteer")
    LIFECYCLE.require(volunteer, VolunteerAction.withdraw)
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        volunteer,
        caller=caller,
        action=VolunteerAction.withdraw,
        now=now,
        values={"withdrawn_at": now},
    )
    return volunteer


async def mine(session: AsyncSession, *, caller: Caller) -> Volunteer:
    volunteer = await _own(session, caller.id)
    if volunteer is None:
        raise NotFound("您尚未登记为志愿者", code="not_volunteer")
    return volunteer


async def review(
    session: AsyncSession, *, caller: Caller, volunteer: Volunteer, data: VolunteerReview
) -> Volunteer:
    community = await session.get(Org, volunteer.community_id)
    if community is None or not caller.reaches(community):
        raise Forbidden("forbidden", "只有该社区及上级的管理员可以审核")
    action = VolunteerAction.approve if data.approve else VolunteerAction.reject
    LIFECYCLE.require(volunteer, action)
    reason = text_or_none(data.reason)
    if not data.approve and reason is None:
        raise Unprocessable("reason_required", "驳回时请填写原因")
    await lifecycle.move(
        session,
        LIFECYCLE,
        volunteer,
        caller=caller,
        action=action,
        note=reason,
        values={"reviewed_at": utcnow()},
        notify=lambda: volunteers_messages.volunteer_reviewed(
            session, volunteer=volunteer, reason=reason
        ),
    )
    return volunteer
