"""Working days on the mainland public-holiday calendar, checked against the schedule
the chinese-calendar package carries (the State Council's published notices)."""

from datetime import date, timedelta

import pytest
from chinese_calendar.constants import Holiday, holidays, workdays

from app.services.workdays import CalendarYearUnknown, add_working_days, is_working_day


def _holiday_days(year: int, name: Holiday) -> list[date]:
    return sorted(d for d, h in holidays.items() if d.year == year and h == name.value)


def _adjusted_workdays(year: int) -> list[date]:
    return sorted(d for d in workdays if d.year == year)


def test_national_day_week_2025_is_skipped_and_its_adjusted_sunday_and_saturday_count():
    golden_week = [d for d in holidays if date(2025, 10, 1) <= d <= date(2025, 10, 8)]
    assert len(golden_week) == 8  # Oct 1-8, National Day and Mid-autumn together
    assert date(2025, 9, 28) in workdays and date(2025, 10, 11) in workdays
    filed = date(2025, 9, 26)  # a Friday
    assert add_working_days(filed, 1) == date(2025, 9, 28)  # Sunday, worked
    assert add_working_days(filed, 3) == date(2025, 9, 30)
    assert add_working_days(filed, 4) == date(2025, 10, 9)  # after eight days off
    assert add_working_days(filed, 6) == date(2025, 10, 11)  # Saturday, worked
    assert add_working_days(filed, 7) == date(2025, 10, 13)  # the Sunday after is not


def test_spring_festival_2026_is_skipped_and_its_adjusted_saturdays_count():
    festival = _holiday_days(2026, Holiday.spring_festival)
    assert festival[0] == date(2026, 2, 15) and festival[-1] == date(2026, 2, 23)
    assert date(2026, 2, 14) in workdays and date(2026, 2, 28) in workdays
    filed = date(2026, 2, 12)  # a Thursday
    assert add_working_days(filed, 1) == date(2026, 2, 13)
    assert add_working_days(filed, 2) == date(2026, 2, 14)  # Saturday before, worked
    assert add_working_days(filed, 3) == date(2026, 2, 24)  # first day back
    assert add_working_days(filed, 7) == date(2026, 2, 28)  # Saturday after, worked
    assert add_working_days(filed, 8) == date(2026, 3, 2)


@pytest.mark.parametrize("year", [2025, 2026])
def test_every_adjusted_weekend_day_of_the_year_is_a_working_day(year):
    adjusted = _adjusted_workdays(year)
    assert adjusted, year
    for day in adjusted:
        assert day.weekday() >= 5, day  # these are the weekends worked in exchange
        # The day before a worked weekend day is a Friday or a day off: either way
        # the very next working day after it is that weekend day.
        assert add_working_days(day - timedelta(days=1), 1) == day


@pytest.mark.parametrize("year", [2025, 2026])
def test_no_public_holiday_of_the_year_is_ever_a_due_date(year):
    days_off = {d for d in holidays if d.year == year}
    assert days_off, year
    for day in sorted(days_off):
        due = add_working_days(day - timedelta(days=1), 1)
        assert due not in days_off and due > day, (day, due)


def test_counting_starts_the_day_after_filing():
    monday = date(2026, 11, 23)
    assert add_working_days(monday, 1) == date(2026, 11, 24)
    assert add_working_days(monday, 5) == date(2026, 11, 30)  # over the weekend


def test_a_year_without_a_published_schedule_is_refused_not_guessed():
    with pytest.raises(CalendarYearUnknown) as raised:
        is_working_day(date(2027, 1, 4))
    assert raised.value.code == "calendar_year_unknown"
    assert raised.value.status == 422
    # A count that runs from late 2026 into 2027 is refused as well.
    with pytest.raises(CalendarYearUnknown):
        add_working_days(date(2026, 12, 28), 5)
    assert add_working_days(date(2026, 12, 28), 3) == date(2026, 12, 31)


def test_a_count_below_one_is_a_programming_error():
    with pytest.raises(ValueError):
        add_working_days(date(2026, 11, 23), 0)
