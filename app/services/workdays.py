"""Working days on the mainland China public-holiday calendar (国务院节假日安排).

Holidays and the weekends worked in exchange (调休) come from the `chinese-calendar`
package, which carries the State Council's published schedule year by year. A year
it has no schedule for yet is refused (422 `calendar_year_unknown`): a deadline
guessed from plain weekdays could land on a holiday nobody works.
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar

from app.core.errors import Unprocessable


class CalendarYearUnknown(Unprocessable):
    def __init__(self, year: int):
        super().__init__(
            "calendar_year_unknown",
            f"{year} 年的节假日安排尚未收录，请直接填写整改期限日期",
        )


def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        raise CalendarYearUnknown(day.year) from None


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start` (`start` itself never counts)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    day = start
    while n:
        day += timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day
