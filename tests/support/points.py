"""The points ledger's invariants, checked from the rows (app/models/points.py)."""

from collections import Counter, defaultdict

from sqlalchemy import select

from app.models.points import AccountKind, EntryKind, PointsAccount, PointsEntry, ShopItem


async def assert_ledger_is_exact(app) -> None:
    """Every kept balance equals the sum of its account's entries, the ledger sums to
    zero, no person's or shop's balance and no stock is negative, every source was
    granted at most once and every entry reversed at most once."""
    async with app.state.sessionmaker() as s:
        accounts = (await s.execute(select(PointsAccount))).scalars().all()
        entries = (await s.execute(select(PointsEntry))).scalars().all()
        stocks = (await s.execute(select(ShopItem.stock))).scalars().all()
    summed: dict[int, int] = defaultdict(int)
    for e in entries:
        summed[e.from_account_id] -= e.amount
        summed[e.to_account_id] += e.amount
    assert {a.id: a.balance for a in accounts} == {a.id: summed[a.id] for a in accounts}
    assert sum(a.balance for a in accounts) == 0
    assert all(a.balance >= 0 for a in accounts if a.kind != AccountKind.issuing)
    assert all(stock >= 0 for stock in stocks)
    grants = Counter((e.source_kind, e.source_id) for e in entries if e.kind == EntryKind.grant)
    assert all(n == 1 for n in grants.values()), grants
    reversed_ = Counter(e.reverses_id for e in entries if e.reverses_id is not None)
    assert all(n == 1 for n in reversed_.values()), reversed_
