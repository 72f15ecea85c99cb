"""Option availability schedules (emix:availabilitySchedule): which exercise intervals a window
holds, in the market context's wall-clock time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from temix.model import (
    AvailabilitySchedule,
    AvailableWindow,
    Interval,
    ModelError,
    Recurrence,
)

NEW_YORK = "America/New_York"
WEEKDAYS = frozenset(range(5))
# Weekdays 14:00-18:00 New York time, from Monday 2 March 2026.
WEEKDAY_AFTERNOONS = AvailableWindow(
    datetime(2026, 3, 2, 14, 0), timedelta(hours=4), Recurrence.WEEKLY, WEEKDAYS
)


def _hour(*start: int, hours: int = 1) -> Interval:
    return Interval(datetime(*start, tzinfo=UTC), timedelta(hours=hours))


@pytest.mark.parametrize(
    ("interval", "held"),
    [
        (_hour(2026, 3, 6, 19), True),  # Friday 14:00 EST
        (_hour(2026, 3, 6, 18), False),  # Friday 13:00 EST
        (_hour(2026, 3, 6, 22), True),  # Friday 17:00-18:00 EST, the window's last hour
        (_hour(2026, 3, 6, 22, hours=2), False),  # runs past 18:00
        (_hour(2026, 3, 7, 19), False),  # Saturday
        (_hour(2026, 3, 9, 18), True),  # Monday 14:00 EDT, the day after the clocks went forward
        (_hour(2026, 3, 9, 19), True),
        (_hour(2026, 3, 9, 22), False),  # Monday 18:00 EDT
        (_hour(2026, 2, 27, 19), False),  # before the first window
    ],
)
def test_a_weekday_window_holds_only_whole_exercises_inside_it(interval, held) -> None:
    assert WEEKDAY_AFTERNOONS.holds(interval, NEW_YORK) is held


def test_a_window_ends_on_its_until_and_a_single_window_opens_once() -> None:
    until = AvailableWindow(
        datetime(2026, 3, 2, 14, 0),
        timedelta(hours=4),
        Recurrence.DAILY,
        until=datetime(2026, 3, 4, 14, 0),
    )
    assert until.holds(_hour(2026, 3, 4, 19), NEW_YORK)
    assert not until.holds(_hour(2026, 3, 5, 19), NEW_YORK)
    once = AvailableWindow(datetime(2026, 3, 2, 14, 0), timedelta(hours=4))
    assert once.holds(_hour(2026, 3, 2, 19), NEW_YORK)
    assert not once.holds(_hour(2026, 3, 3, 19), NEW_YORK)


def test_a_window_may_cross_midnight_and_may_be_written_in_utc() -> None:
    nights = AvailableWindow(datetime(2026, 3, 2, 22, 0), timedelta(hours=8), Recurrence.DAILY)
    assert nights.holds(_hour(2026, 3, 4, 9), NEW_YORK)  # 04:00-05:00 EST
    assert not nights.holds(_hour(2026, 3, 4, 12), NEW_YORK)  # 07:00 EST
    utc = AvailableWindow(datetime(2026, 3, 2, 14, 0, tzinfo=UTC), timedelta(hours=4))
    assert utc.holds(_hour(2026, 3, 2, 14), NEW_YORK)
    assert not utc.holds(_hour(2026, 3, 2, 19), NEW_YORK)


def test_a_schedule_holds_what_any_of_its_windows_holds() -> None:
    mornings = AvailableWindow(datetime(2026, 3, 2, 6, 0), timedelta(hours=2), Recurrence.DAILY)
    schedule = AvailabilitySchedule((WEEKDAY_AFTERNOONS, mornings))
    assert schedule.holds(_hour(2026, 3, 7, 11), NEW_YORK)  # Saturday 06:00 EST
    assert schedule.holds(_hour(2026, 3, 6, 19), NEW_YORK)
    assert not schedule.holds(_hour(2026, 3, 7, 19), NEW_YORK)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((datetime(2026, 3, 2, 14), timedelta(0)), "must have a length"),
        ((datetime(2026, 3, 2, 14), timedelta(days=8)), "at most 7 days"),
        ((datetime(2026, 3, 2, 14), timedelta(hours=1), None, WEEKDAYS), "only a repeating"),
        (
            (datetime(2026, 3, 2, 14), timedelta(hours=1), Recurrence.WEEKLY, frozenset({7})),
            "numbered 0 to 6",
        ),
        (
            (
                datetime(2026, 3, 2, 14),
                timedelta(hours=1),
                Recurrence.DAILY,
                frozenset(),
                datetime(2026, 3, 9, tzinfo=UTC),
            ),
            "same clock",
        ),
    ],
)
def test_a_window_the_profile_cannot_read_is_refused(arguments, message) -> None:
    with pytest.raises(ModelError, match=message):
        AvailableWindow(*arguments)
    with pytest.raises(ModelError, match="at least one window"):
        AvailabilitySchedule(())
