"""Flaws in the option exercise rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from flaws import Flaw

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def _no_lead_time() -> None:
    from temix.server import services

    checked = services.exercise_option

    def at_any_notice(option, party, sub_interval, rate, transaction_id, now, earlier=(), **more):  # type: ignore[no-untyped-def]
        return checked(option, party, sub_interval, rate, transaction_id, LONG_AGO, earlier, **more)

    services.exercise_option = at_any_notice


def _writer_exercises() -> None:
    from temix.server import services

    checked = services.exercise_option

    def by_either_party(option, party, sub_interval, rate, transaction_id, now, earlier=(), **more):  # type: ignore[no-untyped-def]
        holder = option.party_on(option.transaction.product.option.holder_side)
        return checked(option, holder, sub_interval, rate, transaction_id, now, earlier, **more)

    services.exercise_option = by_either_party


def _forgets_exercises() -> None:
    from temix.server import services

    checked = services.exercise_option

    def counting_none(option, party, sub_interval, rate, transaction_id, now, earlier=(), **more):  # type: ignore[no-untyped-def]
        return checked(option, party, sub_interval, rate, transaction_id, now, (), **more)

    services.exercise_option = counting_none


def _any_exercise_price() -> None:
    from temix.model import TransactiveState
    from temix.server import services

    checked = services._check_product

    def ignoring_price(submitted, expected, what):  # type: ignore[no-untyped-def]
        if submitted.state is TransactiveState.EXERCISE:
            price = expected.description.price
            submitted = replace(submitted, description=replace(submitted.description, price=price))
        return checked(submitted, expected, what)

    services._check_product = ignoring_price


def _lead_time_from_the_option_start() -> None:
    """Counts the exercise lead time back from the start of the option's delivery interval,
    whichever quarter is exercised."""
    from temix.server import services

    checked = services.exercise_option

    def from_the_start(option, party, sub_interval, rate, transaction_id, now, earlier=(), **more):  # type: ignore[no-untyped-def]
        delivery = option.transaction.product.interval
        early = now + (sub_interval.start - delivery.start)
        refused = checked(option, party, sub_interval, rate, transaction_id, early, earlier, **more)
        return (
            refused
            if isinstance(refused, services.Refusal)
            else checked(option, party, sub_interval, rate, transaction_id, now, earlier, **more)
        )

    services.exercise_option = from_the_start


def _exercise_anywhere() -> None:
    """Takes an exercise of any quarter, inside the option's delivery interval or not."""
    from temix import rules
    from temix.model import Interval

    timing = rules._exercise_timing_refusal

    def stretched(delivery, terms, sub_interval, now, time_zone):  # type: ignore[no-untyped-def]
        if not delivery.contains(sub_interval):
            delivery = Interval.between(
                min(delivery.start, sub_interval.start), max(delivery.end, sub_interval.end)
            )
        return timing(delivery, terms, sub_interval, now, time_zone)

    rules._exercise_timing_refusal = stretched


def _exercise_any_granule() -> None:
    """Takes an exercise of any length from any instant, whatever the option's granularity."""
    from datetime import timedelta

    from temix import rules

    timing = rules._exercise_timing_refusal

    def to_the_second(delivery, terms, sub_interval, now, time_zone):  # type: ignore[no-untyped-def]
        every_second = replace(terms, granularity=timedelta(seconds=1))
        return timing(delivery, every_second, sub_interval, now, time_zone)

    rules._exercise_timing_refusal = to_the_second


FLAWS = [
    Flaw(
        "exercise-without-notice",
        "TMX-OPT-004",
        "takes an option's exercise however little ahead it comes (no lead time)",
        _no_lead_time,
    ),
    Flaw(
        "writer-exercises",
        "TMX-OPT-008",
        "lets the writer of an option exercise it as if it were the holder",
        _writer_exercises,
    ),
    Flaw(
        "over-exercise",
        "TMX-OPT-007",
        "checks each exercise against the option's rate without counting earlier exercises",
        _forgets_exercises,
    ),
    Flaw(
        "exercise-at-any-price",
        "TMX-OPT-010",
        "stores an exercise at the price it names instead of refusing one off the strike",
        _any_exercise_price,
    ),
    Flaw(
        "lead-time-from-option-start",
        "TMX-OPT-013",
        "counts the exercise lead time from the option's start, not the exercised quarter's",
        _lead_time_from_the_option_start,
    ),
    Flaw(
        "exercise-anywhere",
        "TMX-OPT-005",
        "takes an exercise outside the option's delivery interval",
        _exercise_anywhere,
    ),
    Flaw(
        "exercise-any-granule",
        "TMX-OPT-006",
        "takes an exercise off the option's temporal granularity",
        _exercise_any_granule,
    ),
]
