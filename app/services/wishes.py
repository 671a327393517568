"""Micro-wishes (微心愿): posting, review, claiming, fulfilment, confirmation, and the
yearly quota of party members who have claimed one.

Every transition is one conditional UPDATE on the state it was checked against, so
two people acting at once cannot both move the same wish, and each one is written
to wish_events with who, when and why.

Who sees a wish:
- admins (district/street/community) whose reach covers its community: every state;
- everyone whose home lies in the wish's district: open wishes, to claim them. Admins
  are members too, so an admin sees the open wishes of their district outside their
  reach, but no other state there;
- the current claimant and the person who posted it: that wish, in every state.
The beneficiary's name and phone are shown whole only to the admins in reach, the
claimant and the poster (who typed them in); everyone else sees the surname and no
phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, and_, bindparam, false, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import table_of, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, by_members, in_reach, is_within, org_ids_within
from app.core.security import PiiCipher, mask_phone, normalize_phone
from app.core.text import text_or_none
from app.core.timeutil import local
from app.core.wechat import SCENE_COMMENT, WeChatGateway
from app.models.org import Org, OrgLevel
from app.models.points import SourceKind
from app.models.user import ADMIN_ROLES, Role, User
from app.models.volunteer import OpenTo
from app.models.volunteer_hours import HourSource
from app.models.wish import (
    CLAIMANT_STATES,
    OwingMember,
    Wish,
    WishAction,
    WishCancel,
    WishCreate,
    WishEvent,
    WishEventPublic,
    WishFulfill,
    WishPublic,
    WishQuota,
    WishReview,
    WishStatus,
    WishUnconfirm,
)
from app.services import (
    content_check,
    lifecycle,
    points,
    volunteer_hours,
    volunteers,
    wishes_messages,
)
from app.services.lifecycle import Lifecycle, Transition
from app.services.notifications import scans
from app.services.people_counts import lock_roster_shared
from app.services.photos import (
    PhotoPage,
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
)
from app.services.users import homes_in
from app.services.wish_quota import kept_claimers, rederive_latest_claim

RECORD_TYPE = "wish"

STATUS_NAMES = {
    WishStatus.pending_review: "待审核",
    WishStatus.open: "待认领",
    WishStatus.claimed: "已认领",
    WishStatus.fulfilled: "已完成待确认",
    WishStatus.confirmed: "已确认",
    WishStatus.rejected: "已驳回",
    WishStatus.cancelled: "已取消",
}

# Kept whole when a name is masked, so "欧阳娜娜" reads "欧阳**" rather than "欧***".
_COMPOUND_SURNAMES = (
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 令狐 夏侯 轩辕 端木 "
    "独孤 南宫 西门 百里 呼延 澹台 公冶 太史 申屠 万俟 闻人 赫连 濮阳 钟离 宗政 拓跋"
)
COMPOUND_SURNAMES = frozenset(_COMPOUND_SURNAMES.split())


def mask_name(name: str) -> str:
    keep = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    return name[:keep] + "*" * (len(name) - keep)


def _district_root(path: str) -> str:
    return "/" + path.strip("/").split("/")[0] + "/"


async def home_district(session: AsyncSession, user: User) -> str | None:
    """The path of the district the person's home community (or unit) lies in."""
    home_id = user.community_id or user.unit_id
    home = await session.get(Org, home_id) if home_id is not None else None
    return _district_root(home.path) if home is not None else None


async def caller_district(session: AsyncSession, caller: Caller) -> str | None:
    """`home_district` of the caller, from the home community read with their roles
    when it was (no query)."""
    user = caller.user
    if caller.home is not None and caller.home[0] == user.community_id:
        return _district_root(caller.home[1])
    return await home_district(session, user)


async def volunteer_district(session: AsyncSession, user: User) -> str | None:
    """For a volunteer on no roster: the district of their approved community, whose
    open wishes open to everyone are theirs to see and claim."""
    if user.community_id is not None or user.unit_id is not None or user.id is None:
        return None
    community_id = await volunteers.approved_community(session, user.id)
    community = await session.get(Org, community_id) if community_id is not None else None
    return _district_root(community.path) if community is not None else None


@dataclass(frozen=True)
class _Reach:
    """The places and people whose wishes a caller sees besides their own (`_visible`):
    what the statements of the list are built for, once each (`_list_statements`)."""

    admin: tuple[str, ...]
    members: tuple[str, ...]
    district: str | None
    volunteers_district: str | None


async def _reach(session: AsyncSession, caller: Caller) -> _Reach:
    return _Reach(
        admin=tuple(caller.paths(ADMIN_ROLES)),
        members=tuple(caller.member_paths()),
        district=await caller_district(session, caller),
        volunteers_district=await volunteer_district(session, caller.user),
    )


def _open_to_volunteers(district: str | None) -> ColumnElement[bool]:
    if district is None:
        return false()
    return and_(
        col(Wish.status) == WishStatus.open,
        col(Wish.open_to) == OpenTo.everyone,
        in_reach(col(Wish.community_id), [district]),
    )


async def get_org_of_wishes(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    """An org whose wishes the caller sees (the `?community_id=` of GET /wishes): one in
    their admin reach, or one of their home district, whose open wishes they see."""
    org = await session.get(Org, org_id)
    if org is None:
        raise NotFound()
    if not caller.reaches(org):
        district = await caller_district(session, caller)
        if district is None or not is_within(org.path, district):
            raise NotFound()
    return org


def _visible(reach: _Reach, me: int | ColumnElement[int]) -> ColumnElement[bool]:
    """The wishes `me` (the caller's id, or a bound parameter for it) sees."""
    conditions = [
        _open_to_volunteers(reach.volunteers_district),
        in_reach(col(Wish.community_id), list(reach.admin)),
        col(Wish.claimed_by_id) == me,
        col(Wish.created_by_id) == me,
        # A unit's party secretary: the wishes its members claimed (what they did).
        by_members(col(Wish.claimed_by_id), list(reach.members)),
    ]
    if reach.district is not None:
        conditions.append(
            and_(
                col(Wish.status) == WishStatus.open,
                in_reach(col(Wish.community_id), [reach.district]),
            )
        )
    return or_(*conditions)


async def get_visible_wish(session: AsyncSession, caller: Caller, wish_id: int) -> Wish:
    reach = await _reach(session, caller)
    wish = (
        await session.execute(select(Wish).where(Wish.id == wish_id, _visible(reach, caller.id)))
    ).scalar_one_or_none()
    if wish is None:
        raise NotFound()
    return wish


async def get_claimable_wish(session: AsyncSession, caller: Caller, wish_id: int) -> Wish:
    """Any wish of the caller's home district, whatever its state.

    Not only the open ones: someone who pressed "claim" a moment after the winner
    must learn that it was claimed (409), not that it vanished (404).
    """
    reach = await _reach(session, caller)
    district, volunteers_district = reach.district, reach.volunteers_district
    in_district = in_reach(col(Wish.community_id), [district]) if district else false()
    if volunteers_district is not None:
        # A volunteer on no roster: the wishes open to everyone, in whatever state.
        in_district = and_(
            col(Wish.open_to) == OpenTo.everyone,
            in_reach(col(Wish.community_id), [volunteers_district]),
        )
    wish = (
        await session.execute(select(Wish).where(Wish.id == wish_id, in_district))
    ).scalar_one_or_none()
    if wish is None:
        raise NotFound()
    return wish


async def _can_see_wish(session: AsyncSession, caller: Caller, wish_id: int) -> bool:
    reach = await _reach(session, caller)
    found = await session.execute(
        select(Wish.id).where(Wish.id == wish_id, _visible(reach, caller.id))
    )
    return found.first() is not None


register_record_type(RECORD_TYPE, _can_see_wish)


async def _admin_reaches(session: AsyncSession, caller: Caller, wish: Wish) -> bool:
    community = await session.get(Org, wish.community_id)
    return community is not None and caller.reaches(community)


# --- public shape ------------------------------------------------------------------


def today_in_shanghai() -> date:
    return local(utcnow()).date()


def is_overdue(wish: Wish | Any, today: date) -> bool:
    return (
        wish.deadline is not None
        and wish.status in (WishStatus.open, WishStatus.claimed)
        and today > wish.deadline
    )


async def to_public(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, wishes: Sequence[Wish]
) -> list[WishPublic]:
    ids = [w.id for w in wishes if w.id is not None]
    photos = await photo_ids_by_record(session, RECORD_TYPE, ids, viewer_id=caller.id)
    community_ids = {w.community_id for w in wishes}
    paths: dict[int, str] = dict(
        (
            await session.execute(select(Org.id, Org.path).where(col(Org.id).in_(community_ids)))
        ).all()
    )
    admin_paths = caller.paths(ADMIN_ROLES)
    today = today_in_shanghai()
    return [
        _public(
            w,
            caller=caller,
            cipher=cipher,
            admin_paths=admin_paths,
            community_path=paths.get(w.community_id, ""),
            photo_ids=photos.get(w.id or 0, []),
            today=today,
        )
        for w in wishes
    ]


def _public(
    w: Wish | Any,
    *,
    caller: Caller,
    cipher: PiiCipher,
    admin_paths: list[str],
    community_path: str,
    photo_ids: list[int],
    today: date,
) -> WishPublic:
    """A wish (a Wish, or a row of its columns) as the caller is shown it: the
    beneficiary whole to its claimant, its poster and the admins in reach, masked
    to everyone else."""
    assert w.id is not None
    whole = caller.sees_personal_data and (
        caller.id in (w.claimed_by_id, w.created_by_id)
        or any(is_within(community_path, p) for p in admin_paths)
    )
    phone = (
        cipher.decrypt(w.beneficiary_phone_cipher) if whole and w.beneficiary_phone_cipher else None
    )
    return WishPublic(
        id=w.id,
        title=w.title,
        description=w.description,
        community_id=w.community_id,
        status=w.status,
        beneficiary_name=w.beneficiary_name if whole else mask_name(w.beneficiary_name),
        beneficiary_phone=phone,
        beneficiary_details_visible=whole,
        deadline=w.deadline,
        overdue=is_overdue(w, today),
        created_by_id=w.created_by_id,
        claimed_by_id=w.claimed_by_id,
        claimed_at=w.claimed_at,
        fulfilled_at=w.fulfilled_at,
        fulfil_note=w.fulfil_note,
        confirmed_at=w.confirmed_at,
        open_to=w.open_to,
        photo_ids=photo_ids,
        created_at=w.created_at,
        updated_at=w.updated_at,
    )


async def to_public_one(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, wish: Wish
) -> WishPublic:
    (public,) = await to_public(session, caller=caller, cipher=cipher, wishes=[wish])
    return public


# --- reading --------------------------------------------------------------------------


_WISHES = table_of(Wish)
_ORGS = table_of(Org)


@lru_cache(maxsize=256)
def _list_statements(reach: _Reach, by_status: bool, by_community: bool) -> PhotoPage:
    """GET /wishes' statements for callers of one reach, built and compiled once (a
    district's members share one reach; an admin's is their subtrees): the caller,
    the filters and the page are parameters. Bounded: a reach not listed lately is
    built again when it comes back."""
    me = bindparam("me", type_=Integer)
    conditions = [_visible(reach, me)]
    if by_status:
        conditions.append(col(Wish.status) == bindparam("status", type_=String))
    if by_community:
        conditions.append(col(Wish.community_id) == bindparam("community_id", type_=Integer))
    # Each wish with its community's path (whose admins see the beneficiary whole).
    records = (
        sa_select(_WISHES, _ORGS.c.path)
        .join(_ORGS, _ORGS.c.id == _WISHES.c.community_id)
        .where(*conditions)
    )
    return PhotoPage.of(records, record_type=RECORD_TYPE, viewer=me)


async def list_wishes(
    session: AsyncSession,
    *,
    caller: Caller,
    cipher: PiiCipher,
    status: WishStatus | None,
    community_id: int | None,
    offset: int,
    limit: int,
) -> tuple[list[WishPublic], int]:
    """A page of the wishes the caller sees, newest first, and how many there are: one
    statement (two for a page past the end), rows rather than Wish objects, the photos
    and masking as `to_public` gives them."""
    statements = _list_statements(
        await _reach(session, caller), status is not None, community_id is not None
    )
    params: dict[str, Any] = {"me": caller.id, "offset": offset, "limit": limit}
    if status is not None:
        params["status"] = status.value
    if community_id is not None:
        params["community_id"] = community_id
    listed, total = await statements.read(session, params)
    admin_paths = caller.paths(ADMIN_ROLES)
    today = today_in_shanghai()
    return [
        _public(
            w,
            caller=caller,
            cipher=cipher,
            admin_paths=admin_paths,
            community_path=w.path,
            photo_ids=photo_ids,
            today=today,
        )
        for w, photo_ids in listed
    ], total


async def history(session: AsyncSession, *, caller: Caller, wish: Wish) -> list[WishEventPublic]:
    if wish.claimed_by_id != caller.id and not await _admin_reaches(session, caller, wish):
        raise Forbidden("forbidden", "只有认领人和管理范围内的管理员可以查看心愿的处理记录")
    rows = await session.execute(
        select(WishEvent, User.name)
        .join(User, col(User.id) == col(WishEvent.actor_id))
        .where(WishEvent.wish_id == wish.id)
        .order_by(col(WishEvent.id))
    )
    out = []
    for event, actor_name in rows.all():
        assert event.id is not None
        out.append(
            WishEventPublic(
                id=event.id,
                action=event.action,
                from_status=event.from_status,
                to_status=event.to_status,
                actor_id=event.actor_id,
                actor_name=actor_name,
                note=event.note,
                at=event.at,
            )
        )
    return out


# --- transitions ------------------------------------------------------------------------


async def _quota_follows(session: AsyncSession, wish: Wish, read: str, landed: str) -> None:
    # A claim, and a release or cancellation of it, may change its place in the yearly
    # quota (app/services/wish_quota.py).
    if WishStatus.claimed in (read, landed):
        assert wish.id is not None
        await rederive_latest_claim(session, wish.id)


# Every transition goes to the audit log too (reviews, confirmations and cancellations
# are admin actions; fulfilments complete the picture), except the claim, which never did.
LIFECYCLE = Lifecycle(
    name="wish",
    model=Wish,
    history=WishEvent,
    org_key="community_id",
    code="invalid_wish_state",
    called="心愿",
    names=STATUS_NAMES,
    on_move=_quota_follows,
    transitions=(
        Transition(WishAction.approve, {WishStatus.pending_review}, WishStatus.open, "审核"),
        Transition(WishAction.reject, {WishStatus.pending_review}, WishStatus.rejected, "审核"),
        Transition(
            WishAction.claim,
            {WishStatus.open},
            WishStatus.claimed,
            "认领",
            audited=False,
            refusals=dict.fromkeys(
                CLAIMANT_STATES, ("wish_already_claimed", "该心愿已被其他党员认领")
            ),
        ),
        Transition(WishAction.release, {WishStatus.claimed}, WishStatus.open, "放弃认领"),
        Transition(WishAction.fulfill, {WishStatus.claimed}, WishStatus.fulfilled, "提交完成"),
        Transition(WishAction.confirm, {WishStatus.fulfilled}, WishStatus.confirmed, "确认完成"),
        # The confirmer, or the community's admin, within UNCONFIRM_WINDOW (unconfirm_wish).
        Transition(WishAction.unconfirm, {WishStatus.confirmed}, WishStatus.fulfilled, "撤回确认"),
        # The poster alone may cancel only before anyone claims it (cancel_wish).
        Transition(
            WishAction.cancel,
            {WishStatus.pending_review, WishStatus.open, WishStatus.claimed},
            WishStatus.cancelled,
            "取消",
        ),
    ),
)
POSTER_CANCELS_FROM = frozenset({WishStatus.pending_review, WishStatus.open})


async def create_wish(
    session: AsyncSession,
    *,
    caller: Caller,
    cipher: PiiCipher,
    data: WishCreate,
    checker: WeChatGateway | None,
) -> Wish:
    """A community admin's wish is open at once; anyone else's waits for review.

    The text goes through WeChat's content check first (see `_check_wish_text`)."""
    community = await session.get(Org, data.community_id)
    district = await home_district(session, caller.user)
    if community is None or community.level != OrgLevel.community:
        raise Unprocessable("invalid_community", "所选社区不存在")
    if caller.reaches(community):
        status = WishStatus.open
    elif district is not None and is_within(community.path, district):
        status = WishStatus.pending_review
    else:
        raise Unprocessable("invalid_community", "只能为本区的社区发布心愿")
    if data.deadline is not None and data.deadline < today_in_shanghai():
        raise Unprocessable("invalid_deadline", "最后期限不能早于今天")
    title, description, name = (
        text_or_none(data.title),
        text_or_none(data.description),
        text_or_none(data.beneficiary_name),
    )
    if not (title and description and name):
        raise Unprocessable("validation_error", "标题、内容和受助人姓名不能为空")
    status, check_note = await _check_wish_text(
        checker, caller=caller, title=title, description=description, status=status
    )
    wish = Wish(
        title=title,
        description=description,
        community_id=data.community_id,
        beneficiary_name=name,
        deadline=data.deadline,
        open_to=data.open_to,
        status=status,
        created_by_id=caller.id,
    )
    if data.beneficiary_phone:
        phone = normalize_phone(data.beneficiary_phone)
        wish.beneficiary_phone_cipher = cipher.encrypt(phone)
        wish.beneficiary_phone_masked = mask_phone(phone)
    session.add(wish)
    await session.flush()
    assert wish.id is not None
    session.add(
        WishEvent(
            wish_id=wish.id,
            action=WishAction.create,
            to_status=status,
            actor_id=caller.id,
            note=check_note,
        )
    )
    await session.flush()
    return wish


async def _check_wish_text(
    checker: WeChatGateway | None,
    *,
    caller: Caller,
    title: str,
    description: str,
    status: WishStatus,
) -> tuple[WishStatus, str | None]:
    """WeChat's msg_sec_check of a new wish, checked when it is written: the writer has
    the mini-program open then (WeChat checks only for users seen lately), and the text
    never changes afterwards, so approval needs no second check. `risky` is 422
    `content_rejected`; `review`, or a writer WeChat would not check, sends an admin's
    wish to review instead of opening it (as articles go to their reviewers flagged),
    with the reason in the history for the reviewer."""
    verdict = await content_check.check_text(
        checker,
        author=caller.user,
        title=title,
        content=description,
        refusal="心愿内容未通过微信内容安全检测，请修改后再提交",
    )
    if verdict == content_check.TextVerdict.passed:
        return status, None
    note = (
        "微信内容安全检测建议人工复核"
        if verdict == content_check.TextVerdict.review
        else "未经微信内容安全检测，请人工复核"
    )
    return WishStatus.pending_review, note


async def _require_admin_in_reach(session: AsyncSession, caller: Caller, wish: Wish) -> None:
    if not await _admin_reaches(session, caller, wish):
        raise Forbidden("forbidden", "只有该社区及上级的管理员可以进行此操作")


async def review_wish(
    session: AsyncSession, *, caller: Caller, wish: Wish, data: WishReview
) -> Wish:
    await _require_admin_in_reach(session, caller, wish)
    action = WishAction.approve if data.approve else WishAction.reject
    LIFECYCLE.require(wish, action)
    reason = text_or_none(data.reason)
    if not data.approve and reason is None:
        raise Unprocessable("reason_required", "驳回时请填写原因")
    await lifecycle.move(session, LIFECYCLE, wish, caller=caller, action=action, note=reason)
    return wish


async def claim_wish(
    session: AsyncSession, *, caller: Caller, wish: Wish, max_open_claims: int
) -> Wish:
    """Exactly one of any number of simultaneous claimers wins.

    The claim itself is `UPDATE ... WHERE status = 'open'`: whoever's update lands
    first takes the row, every later one matches nothing. The per-person limit is a
    count, which two of the same person's claims could both pass at once, so the
    person's own users row is locked first: their claims queue behind each other and
    each counts what the previous one committed.
    """
    LIFECYCLE.require(wish, WishAction.claim)
    # The quota's sums move with the claim (wish_quota.rederive): the roster lock comes
    # before the person's row, as for every writer of them.
    await lock_roster_shared(session)
    await session.execute(select(User.id).where(User.id == caller.id).with_for_update())
    held = (
        await session.execute(
            select(func.count())
            .select_from(Wish)
            .where(Wish.claimed_by_id == caller.id, Wish.status == WishStatus.claimed)
        )
    ).scalar_one()
    if held >= max_open_claims:
        raise Conflict(
            "claim_limit_reached",
            f"您已认领 {held} 个尚未完成的心愿，请先完成后再认领新的心愿",
        )
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        wish,
        caller=caller,
        action=WishAction.claim,
        now=now,
        values={"claimed_by_id": caller.id, "claimed_at": now},
        notify=lambda: wishes_messages.wish_claimed(session, wish=wish, claimant=caller.user),
    )
    return wish


def _require_claimant(caller: Caller, wish: Wish) -> None:
    if wish.claimed_by_id != caller.id:
        raise Forbidden("forbidden", "只有认领人可以进行此操作")


async def release_wish(session: AsyncSession, *, caller: Caller, wish: Wish) -> Wish:
    """Back to open for someone else; the history keeps who had claimed it."""
    _require_claimant(caller, wish)
    LIFECYCLE.require(wish, WishAction.release)
    await lifecycle.move(
        session,
        LIFECYCLE,
        wish,
        caller=caller,
        action=WishAction.release,
        guard=[col(Wish.claimed_by_id) == caller.id],
        values={"claimed_by_id": None, "claimed_at": None},
    )
    return wish


async def fulfill_wish(
    session: AsyncSession,
    *,
    caller: Caller,
    wish: Wish,
    data: WishFulfill,
    checker: WeChatGateway | None,
) -> Wish:
    """The claimant reports the wish done. The note is read by the poster and the
    admins: WeChat's content check refuses a risky one (422 `content_rejected`); one to
    review goes on, since an admin reads it before confirming anyway."""
    _require_claimant(caller, wish)
    LIFECYCLE.require(wish, WishAction.fulfill)
    note = text_or_none(data.note)
    if note is None:
        raise Unprocessable("note_required", "请填写完成情况说明")
    if not data.photo_ids:
        raise Unprocessable("photo_required", "请至少上传一张完成照片")
    media = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    await content_check.check_text(
        checker,
        author=caller.user,
        title=wish.title,
        content=note,
        scene=SCENE_COMMENT,
        refusal="完成情况说明未通过微信内容安全检测，请修改后再提交",
    )
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        wish,
        caller=caller,
        action=WishAction.fulfill,
        note=note,
        now=now,
        guard=[col(Wish.claimed_by_id) == caller.id],
        values={"fulfilled_at": now, "fulfil_note": note},
        notify=lambda: wishes_messages.wish_fulfilled(session, wish=wish, claimant=caller.user),
    )
    assert wish.id is not None
    await attach_photos(session, media=media, record_type=RECORD_TYPE, record_id=wish.id)
    return wish


async def confirm_wish(
    session: AsyncSession, *, caller: Caller, wish: Wish, credit_minutes: int
) -> Wish:
    """fulfilled → confirmed, crediting `credit_minutes` of volunteer time to the claimant.

    The ledger wants a span; a wish has no natural one, so the credit is the
    `credit_minutes` ending at the moment the claimant reported it fulfilled. An
    admin who is also the claimant cannot confirm their own wish.
    """
    await _require_admin_in_reach(session, caller, wish)
    if wish.claimed_by_id == caller.id:
        raise Forbidden("cannot_confirm_own_wish", "不能确认自己认领的心愿，请由其他管理员确认")
    LIFECYCLE.require(wish, WishAction.confirm)
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        wish,
        caller=caller,
        action=WishAction.confirm,
        now=now,
        values={"confirmed_at": now},
        notify=lambda: wishes_messages.wish_confirmed(
            session, wish=wish, credit_minutes=credit_minutes
        ),
    )
    assert wish.id is not None and wish.claimed_by_id is not None
    assert wish.fulfilled_at is not None
    await volunteer_hours.credit(
        session,
        user_id=wish.claimed_by_id,
        org_id=wish.community_id,
        activity=f"微心愿：{wish.title}",
        started_at=wish.fulfilled_at - timedelta(minutes=credit_minutes),
        ended_at=wish.fulfilled_at,
        minutes=credit_minutes,
        source=HourSource.wish,
        source_id=wish.id,
    )
    granted = await points.grant_for(
        session,
        source_kind=SourceKind.wish,
        source_id=wish.id,
        user_id=wish.claimed_by_id,
        org_id=wish.community_id,
        note=f"完成微心愿「{wish.title}」",
    )
    if granted is None:
        # Confirmed again after a withdrawal: the wish's one grant stands again.
        await points.regrant_for(
            session, source_kind=SourceKind.wish, source_id=wish.id, by_id=caller.id
        )
    return wish


# How long a confirmation may be withdrawn: long enough for a beneficiary's complaint
# to reach the office, short enough that a month's figures settle.
UNCONFIRM_WINDOW = timedelta(days=7)


async def unconfirm_wish(
    session: AsyncSession, *, caller: Caller, wish: Wish, data: WishUnconfirm
) -> Wish:
    """confirmed → fulfilled: a confirmation withdrawn (the wish was not really done),
    by whoever confirmed it or the community's admin, within UNCONFIRM_WINDOW.

    The points the confirmation granted are reversed in the same transaction, once (the
    lifecycle's conditional UPDATE lets one withdrawal through; the ledger's unique
    `reverses_id` backs it). The hours credited at confirmation stay: they are the
    claimant's service, credited once per wish (a confirmation again credits none);
    an admin who finds the service never happened revokes that entry
    (POST /volunteer-hours/{id}/revoke)."""
    await _require_admin_in_reach(session, caller, wish)
    LIFECYCLE.require(wish, WishAction.unconfirm)
    assert wish.id is not None
    community = await session.get(Org, wish.community_id)
    assert community is not None
    if not caller.reaches(community, [Role.community_admin]):
        confirmer = (
            await session.execute(
                select(WishEvent.actor_id)
                .where(WishEvent.wish_id == wish.id, WishEvent.action == WishAction.confirm)
                .order_by(col(WishEvent.id).desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if confirmer != caller.id:
            raise Forbidden("forbidden", "只有确认人或社区管理员可以撤回确认")
    reason = data.reason.strip()
    if not reason:
        raise Unprocessable("reason_required", "请填写撤回确认的原因")
    now = utcnow()
    since = now - UNCONFIRM_WINDOW
    if wish.confirmed_at is None or wish.confirmed_at < since:
        raise _unconfirm_too_late()
    try:
        await lifecycle.move(
            session,
            LIFECYCLE,
            wish,
            caller=caller,
            action=WishAction.unconfirm,
            note=reason,
            now=now,
            guard=[col(Wish.confirmed_at) >= since],
            values={"confirmed_at": None},
            notify=lambda: wishes_messages.wish_unconfirmed(session, wish=wish, reason=reason),
        )
    except Conflict as refused:
        # Still confirmed: the window closed between our read and the UPDATE.
        status = (await session.execute(select(Wish.status).where(Wish.id == wish.id))).scalar_one()
        if status == WishStatus.confirmed:
            raise _unconfirm_too_late() from refused
        raise
    await points.reverse_for(
        session, source_kind=SourceKind.wish, source_id=wish.id, reason=reason, by_id=caller.id
    )
    return wish


def _unconfirm_too_late() -> Conflict:
    return Conflict("unconfirm_window_closed", f"确认已超过 {UNCONFIRM_WINDOW.days} 天，不能再撤回")


async def cancel_wish(
    session: AsyncSession, *, caller: Caller, wish: Wish, data: WishCancel | None
) -> Wish:
    """Admins in reach cancel until fulfilment; the poster only before anyone claims it."""
    if await _admin_reaches(session, caller, wish):
        LIFECYCLE.require(wish, WishAction.cancel)
    elif wish.created_by_id == caller.id:
        if wish.status not in POSTER_CANCELS_FROM:
            raise LIFECYCLE.refusal(wish.status, WishAction.cancel)
    else:
        raise Forbidden("forbidden", "只有发布人或管理范围内的管理员可以取消心愿")
    await lifecycle.move(
        session,
        LIFECYCLE,
        wish,
        caller=caller,
        action=WishAction.cancel,
        note=text_or_none(data.reason) if data else None,
        values={"claimed_by_id": None, "claimed_at": None},
    )
    return wish


# --- the yearly quota ---------------------------------------------------------------------


async def wish_quota(session: AsyncSession, *, org: Org, year: int) -> WishQuota:
    """Party members of an org (home community or unit in its subtree, as for the
    roster) who have and have not claimed a wish this year."""
    members = and_(
        col(User.is_party_member).is_(True), homes_in(await org_ids_within(session, [org.path]))
    )
    claimed_this_year = col(User.id).in_(kept_claimers(year))
    party_members = (
        await session.execute(select(func.count()).select_from(User).where(members))
    ).scalar_one()
    claimed = (
        await session.execute(
            select(func.count()).select_from(User).where(members, claimed_this_year)
        )
    ).scalar_one()
    owing = await session.execute(
        select(User)
        .where(members, ~claimed_this_year)
        .order_by(col(User.community_id), col(User.id))
    )
    owing_members = [
        OwingMember(id=u.id or 0, name=u.name, community_id=u.community_id, unit_id=u.unit_id)
        for u in owing.scalars()
    ]
    assert org.id is not None
    return WishQuota(
        year=year,
        org_id=org.id,
        party_members=party_members,
        claimed=claimed,
        owing=len(owing_members),
        owing_members=owing_members,
    )


# --- the yearly wish-quota reminder (app/services/notifications/scans.py) ----------------


def _quota_reminder_due(now: datetime, settings: Settings) -> bool:
    t, start = local(now), (settings.wish_quota_reminder_month, settings.wish_quota_reminder_day)
    return (t.month, t.day) >= start


async def _remind_quota(session: AsyncSession, settings: Settings, now: datetime) -> int:
    return await wishes_messages.wish_quota_reminder(session, now=now)


# From the configured date in Q4 on, once a year (wishes_messages says to whom).
SCANS = (
    scans.Scan(
        job="wish_quota_reminders",
        period=lambda now, settings: str(local(now).year),
        due=_quota_reminder_due,
        work=_remind_quota,
    ),
)
