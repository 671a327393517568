"""The community shop (积分超市): items, redemptions, collection, cancellation, expiry.

A redemption takes the stock and holds the points in one transaction, both settled
in SQL: `stock = stock - q WHERE stock >= q` (409 `out_of_stock`), then the ledger's
conditional debit of the person (409 `insufficient_points`, app/services/points.py);
either refusal rolls the whole request back. The held points sit in the community's
shop account; collecting leaves them there (spent), cancelling or expiring reverses
the entry and puts the stock back, each once (a conditional UPDATE on the status).

Who sees a shop: its residents (home community) and admins over it. A redemption:
its person and admins over its community.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import paged_scalars, updated_one, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach
from app.models.org import Org, OrgLevel
from app.models.points import (
    AccountKind,
    EntryKind,
    PointsEntry,
    Redemption,
    RedemptionCreate,
    RedemptionPublic,
    RedemptionStatus,
    ShopItem,
    ShopItemCreate,
    ShopItemPublic,
)
from app.models.user import ADMIN_ROLES
from app.services import audit, points
from app.services.notifications import scans
from app.services.orgs import org_names
from app.services.photos import (
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
)

ITEM_RECORD = "shop_item"


def _sees_shop(caller: Caller, community: Org) -> bool:
    return caller.user.community_id == community.id or caller.reaches(community)


async def shop_in_view(session: AsyncSession, caller: Caller, community_id: int) -> Org:
    community = await session.get(Org, community_id)
    if community is None or community.level != OrgLevel.community:
        raise NotFound()
    if not _sees_shop(caller, community):
        raise NotFound()
    return community


async def _can_see_item(session: AsyncSession, caller: Caller, item_id: int) -> bool:
    item = await session.get(ShopItem, item_id)
    if item is None:
        return False
    community = await session.get(Org, item.community_id)
    return community is not None and _sees_shop(caller, community)


register_record_type(ITEM_RECORD, _can_see_item)


async def create_item(session: AsyncSession, *, caller: Caller, data: ShopItemCreate) -> ShopItem:
    community = await session.get(Org, data.community_id)
    if community is None or not caller.reaches(community):
        raise NotFound()
    if community.level != OrgLevel.community:
        raise Unprocessable("not_a_community", "积分超市设在社区")
    if data.donor_org_id is not None and await session.get(Org, data.donor_org_id) is None:
        raise Unprocessable("invalid_donor", "捐赠单位不存在")
    name = data.name.strip()
    if not name:
        raise Unprocessable("validation_error", "请填写物品名称")
    media = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    item = ShopItem(
        community_id=data.community_id,
        name=name,
        points=data.points,
        stock=data.stock,
        donor_org_id=data.donor_org_id,
        created_by_id=caller.id,
    )
    session.add(item)
    await session.flush()
    assert item.id is not None
    await attach_photos(session, media=media, record_type=ITEM_RECORD, record_id=item.id)
    await audit.record(
        session,
        caller=caller,
        action="shop.item",
        target_type="shop_item",
        target_id=item.id,
        org_id=item.community_id,
        stock=item.stock,
        points=item.points,
    )
    return item


async def items_public(
    session: AsyncSession, items: Sequence[ShopItem], *, viewer_id: int
) -> list[ShopItemPublic]:
    photos = await photo_ids_by_record(
        session, ITEM_RECORD, (i.id for i in items), viewer_id=viewer_id
    )
    donors = await org_names(session, (i.donor_org_id for i in items))
    return [
        ShopItemPublic(
            id=i.id or 0,
            community_id=i.community_id,
            name=i.name,
            points=i.points,
            stock=i.stock,
            donor_org_id=i.donor_org_id,
            donor_name=donors.get(i.donor_org_id) if i.donor_org_id else None,
            photo_ids=photos.get(i.id or 0, []),
            created_at=i.created_at,
        )
        for i in items
    ]


async def list_items(session: AsyncSession, *, community: Org) -> list[ShopItem]:
    rows = await session.execute(
        select(ShopItem)
        .where(ShopItem.community_id == community.id)
        .order_by(col(ShopItem.id).desc())
    )
    return list(rows.scalars())


# --- redemptions ---------------------------------------------------------------------------


def _visible(caller: Caller) -> ColumnElement[bool]:
    return or_(
        col(Redemption.user_id) == caller.id,
        in_reach(col(Redemption.community_id), caller.paths(ADMIN_ROLES)),
    )


async def get_visible_redemption(
    session: AsyncSession, caller: Caller, redemption_id: int
) -> Redemption:
    found = (
        await session.execute(
            select(Redemption).where(Redemption.id == redemption_id, _visible(caller))
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


def _pickup_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


async def redeem(
    session: AsyncSession, *, caller: Caller, data: RedemptionCreate, reservation_days: int
) -> Redemption:
    item = await session.get(ShopItem, data.item_id)
    if item is None or not await _can_see_item(session, caller, data.item_id):
        raise NotFound()
    assert item.id is not None
    if not await updated_one(
        session,
        update(ShopItem)
        .where(col(ShopItem.id) == item.id, col(ShopItem.stock) >= data.quantity)
        .values(stock=col(ShopItem.stock) - data.quantity),
    ):
        raise Conflict("out_of_stock", "库存不足")
    cost = item.points * data.quantity
    person = await points.account_id(session, AccountKind.person, user_id=caller.id)
    shop = await points.account_id(session, AccountKind.shop, org_id=item.community_id)
    entry = await points.transfer(
        session,
        from_id=person,
        to_id=shop,
        amount=cost,
        kind=EntryKind.redeem,
        user_id=caller.id,
        org_id=item.community_id,
        note=f"兑换 {item.name} ×{data.quantity}",
    )
    now = utcnow()
    assert entry.id is not None
    redemption = Redemption(
        item_id=item.id,
        user_id=caller.id,
        community_id=item.community_id,
        quantity=data.quantity,
        points=cost,
        status=RedemptionStatus.reserved,
        pickup_code=_pickup_code(),
        entry_id=entry.id,
        reserved_at=now,
        expires_at=now + timedelta(days=reservation_days),
    )
    session.add(redemption)
    await session.flush()
    return redemption


async def _admin_over(session: AsyncSession, caller: Caller, redemption: Redemption) -> bool:
    community = await session.get(Org, redemption.community_id)
    return community is not None and caller.reaches(community)


async def collect(
    session: AsyncSession, *, caller: Caller, redemption: Redemption, pickup_code: str
) -> Redemption:
    if not await _admin_over(session, caller, redemption):
        raise Forbidden("forbidden", "只有社区管理员可以核销兑换")
    if not secrets.compare_digest(pickup_code, redemption.pickup_code):
        raise Unprocessable("wrong_pickup_code", "取货码不正确")
    if not await updated_one(
        session,
        update(Redemption)
        .where(
            col(Redemption.id) == redemption.id,
            col(Redemption.status) == RedemptionStatus.reserved,
        )
        .values(status=RedemptionStatus.collected, closed_at=utcnow(), closed_by_id=caller.id),
    ):
        raise Conflict("redemption_not_reserved", "该兑换已核销、取消或过期")
    await audit.record(
        session,
        caller=caller,
        action="shop.collect",
        target_type="shop_redemption",
        target_id=redemption.id,
        org_id=redemption.community_id,
    )
    await session.refresh(redemption)
    return redemption


async def _give_back(
    session: AsyncSession,
    redemptions: Sequence[Redemption],
    *,
    status: RedemptionStatus,
    by_id: int | None,
    now: datetime,
) -> int:
    """Each reservation still `reserved` → `status`, its stock and points back; how
    many moved (one that left `reserved` already, collected or cancelled by a twin,
    is left alone).

    Locks are taken in the order every shop transaction takes them: items, then
    accounts, each in id order (a redemption takes its item, then its accounts), so
    an expiry of many reservations never deadlocks with a redemption or a cancel.
    """
    if not redemptions:
        return 0
    await session.execute(
        select(ShopItem.id)
        .where(col(ShopItem.id).in_(sorted({r.item_id for r in redemptions})))
        .order_by(col(ShopItem.id))
        .with_for_update(key_share=True)
    )
    entries = {
        e.id: e
        for e in (
            await session.execute(
                select(PointsEntry).where(
                    col(PointsEntry.id).in_([r.entry_id for r in redemptions])
                )
            )
        ).scalars()
    }
    await points.lock_accounts(
        session,
        [a for e in entries.values() for a in (e.from_account_id, e.to_account_id)],
    )
    why = (
        "兑换已取消，积分退回" if status == RedemptionStatus.cancelled else "兑换逾期未取，积分退回"
    )
    moved = 0
    for redemption in redemptions:
        if not await updated_one(
            session,
            update(Redemption)
            .where(
                col(Redemption.id) == redemption.id,
                col(Redemption.status) == RedemptionStatus.reserved,
            )
            .values(status=status, closed_at=now, closed_by_id=by_id),
        ):
            continue
        await session.execute(
            update(ShopItem)
            .where(col(ShopItem.id) == redemption.item_id)
            .values(stock=col(ShopItem.stock) + redemption.quantity),
            execution_options={"synchronize_session": False},
        )
        await points.reverse(session, entries[redemption.entry_id], note=why, by_id=by_id)
        moved += 1
    return moved


async def cancel(session: AsyncSession, *, caller: Caller, redemption: Redemption) -> Redemption:
    if redemption.user_id != caller.id and not await _admin_over(session, caller, redemption):
        raise Forbidden("forbidden", "只有本人或社区管理员可以取消兑换")
    if not await _give_back(
        session, [redemption], status=RedemptionStatus.cancelled, by_id=caller.id, now=utcnow()
    ):
        raise Conflict("redemption_not_reserved", "该兑换已核销、取消或过期")
    await session.refresh(redemption)
    return redemption


async def expire_reservations(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Reservations not collected by their expiry: expired, stock and points back."""
    due = await session.execute(
        select(Redemption).where(
            Redemption.status == RedemptionStatus.reserved, col(Redemption.expires_at) <= now
        )
    )
    return await _give_back(
        session, due.scalars().all(), status=RedemptionStatus.expired, by_id=None, now=now
    )


SCANS = (scans.Scan(job="shop_reservations_expire", period=scans.daily, work=expire_reservations),)


async def list_redemptions(
    session: AsyncSession,
    *,
    caller: Caller,
    community: Org | None,
    status: RedemptionStatus | None,
    offset: int,
    limit: int,
) -> tuple[list[Redemption], int]:
    conditions = [_visible(caller)]
    if community is not None:
        conditions.append(col(Redemption.community_id) == community.id)
    if status is not None:
        conditions.append(col(Redemption.status) == status)
    return await paged_scalars(
        session,
        select(Redemption).where(*conditions).order_by(col(Redemption.id).desc()),
        offset=offset,
        limit=limit,
    )


async def redemptions_public(
    session: AsyncSession, redemptions: Sequence[Redemption], *, viewer_id: int
) -> list[RedemptionPublic]:
    if not redemptions:
        return []  # an empty page reads nothing
    ids = {r.item_id for r in redemptions}
    names: dict[int, str] = dict(
        (
            await session.execute(
                select(ShopItem.id, ShopItem.name).where(col(ShopItem.id).in_(ids))
            )
        ).all()
    )
    return [
        RedemptionPublic(
            id=r.id or 0,
            item_id=r.item_id,
            item_name=names.get(r.item_id, ""),
            user_id=r.user_id,
            community_id=r.community_id,
            quantity=r.quantity,
            points=r.points,
            status=r.status,
            # The code is the person's to show at the counter; the shopkeeper asks for it.
            pickup_code=r.pickup_code if r.user_id == viewer_id else None,
            reserved_at=r.reserved_at,
            expires_at=r.expires_at,
            closed_at=r.closed_at,
        )
        for r in redemptions
    ]
