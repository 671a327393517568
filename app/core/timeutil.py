"""Calendar arithmetic in the campaign's time zone.

"Today", "this month" and "this year" are reckoned in Asia/Shanghai (API.md); the
database stores UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(dt: datetime) -> datetime:
    return dt.astimezone(SHANGHAI)


def month_key(dt: datetime) -> str:
    """'YYYY-MM' of the Shanghai calendar month `dt` falls in."""
    return local(dt).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a 'YYYY-MM' Shanghai month."""
    year, mon = (int(x) for x in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=SHANGHAI)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_month(month: str) -> str:
    """The 'YYYY-MM' before a 'YYYY-MM'."""
    year, mon = (int(x) for x in month.split("-"))
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a Shanghai calendar year."""
    start = datetime(year, 1, 1, tzinfo=SHANGHAI)
    end = datetime(year + 1, 1, 1, tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=SHANGHAI).astimezone(UTC)


def current_year(now: datetime | None = None) -> int:
    return local(now or datetime.now(UTC)).year


def parse_week(week: str) -> date:
    """The Monday of an ISO week written '2026-W47' (app.models.common.IsoWeek)."""
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def week_of(now: datetime) -> str:
    """The ISO week (Shanghai) of an instant, written '2026-W47'."""
    year, week, _ = local(now).isocalendar()
    return f"{year}-W{week:02d}"
