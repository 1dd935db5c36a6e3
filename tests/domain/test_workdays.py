from datetime import date

from domain.workdays import add_working_days, is_working_day, working_days_between, working_days_used


def test_national_day_holidays_and_make_up_days():
    assert not is_working_day(date(2025, 10, 1))  # 国庆节
    assert is_working_day(date(2025, 9, 28))  # a Sunday made a working day (调休)
    assert not is_working_day(date(2025, 9, 27))  # an ordinary Saturday


def test_add_and_count_are_inverse():
    start = date(2025, 9, 26)
    end = add_working_days(start, 5)
    assert working_days_between(start, end) == 5
    assert add_working_days(end, -5) == start


def test_paused_periods_do_not_count():
    start, end = date(2025, 11, 3), date(2025, 11, 28)
    full = working_days_used(start, end)
    paused = working_days_used(start, end, [(date(2025, 11, 7), date(2025, 11, 14))])
    assert full - paused == working_days_between(date(2025, 11, 7), date(2025, 11, 14)) == 5


def test_unknown_year_falls_back_to_weekends_and_fixed_holidays():
    assert not is_working_day(date(2031, 1, 1))
    assert not is_working_day(date(2031, 1, 4))  # Saturday
    assert is_working_day(date(2031, 1, 6))
