"""Flaws in the position arithmetic."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from fractions import Fraction

from flaws import Flaw

DAYLIGHT_SAVING_DAYS = (timedelta(hours=23), timedelta(hours=25))


def _buyers_positive() -> None:
    from temix.server import services

    counted = services.positions

    def unsigned(*args, **kwargs):  # type: ignore[no-untyped-def]
        return tuple(
            replace(each, net_rate=abs(each.net_rate), energy=abs(each.energy), cost=abs(each.cost))
            for each in counted(*args, **kwargs)
        )

    services.positions = unsigned


def _whole_transaction_cost() -> None:
    from temix import positions

    priced = positions.priced_energy

    def over_the_whole_transaction(deal, seconds):  # type: ignore[no-untyped-def]
        return priced(deal, deal.product.interval.seconds if seconds else 0)

    positions.priced_energy = over_the_whole_transaction


def _each_interval_rounded_alone() -> None:
    from temix.model import Position
    from temix.positions import Holdings
    from temix.server import services

    def rounded_alone(deals, party_id, interface, intervals, *, units, settlement):  # type: ignore[no-untyped-def]
        holdings = Holdings(deals, party_id, interface, settlement)
        reported = []
        for interval in intervals:
            exact = holdings.exact(interval, units=units)
            energy, cost = units.written_energy(exact.energy), units.written_money(exact.cost)
            reported.append(Position(interval, units.written_energy(exact.net_rate), energy, cost))
        return tuple(reported)

    services.positions = rounded_alone


def _every_day_24_hours() -> None:
    from temix.model import Interval, as_decimal
    from temix.server import services

    counted = services.positions

    def on_the_wall_clock(deals, party_id, interface, intervals, **options):  # type: ignore[no-untyped-def]
        units = options["units"]
        reported = []
        for each in counted(deals, party_id, interface, intervals, **options):
            if each.interval.duration in DAYLIGHT_SAVING_DAYS:
                day = Interval(each.interval.start, timedelta(hours=24))
                each = replace(
                    each, energy=as_decimal(units.energy_over(Fraction(each.net_rate), day))
                )
            reported.append(each)
        return tuple(reported)

    services.positions = on_the_wall_clock


def _any_node() -> None:
    from temix import positions
    from temix.model import Location

    located = positions.leg_at

    def at_every_node(deal, interface):  # type: ignore[no-untyped-def]
        where = deal.product.description.interface
        if isinstance(where, Location) and isinstance(interface, Location):
            return located(deal, where)
        return located(deal, interface)

    positions.leg_at = at_every_node


def _truncates_running_totals() -> None:
    """Writes figures cut off at the market's decimal places instead of rounded half-even."""
    from decimal import ROUND_DOWN, Decimal

    from temix import positions

    def truncated(value, decimals):  # type: ignore[no-untyped-def]
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        return exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN).normalize()

    positions.written = truncated


def _positions_in_the_default_market() -> None:
    """Answers a position asked in an unknown market context from the default market."""
    from temix.model import DEVELOPMENT_MARKET
    from temix.responses import ResponseCode
    from temix.server import services

    market_for = services.Market._market_for

    def defaulting(self, party, requestor, uri, what):  # type: ignore[no-untyped-def]
        found = market_for(self, party, requestor, uri, what)
        if isinstance(found, services.Refusal) and found.code is ResponseCode.UNKNOWN:
            return DEVELOPMENT_MARKET
        return found

    services.Market._market_for = defaulting


FLAWS = [
    Flaw(
        "buyer-position-positive",
        "TMX-POS-001",
        "reports positions without their sign, so a buyer looks like a seller",
        _buyers_positive,
    ),
    Flaw(
        "sub-interval-whole-cost",
        "TMX-POS-003",
        "books a transaction's whole extended price in every interval it overlaps",
        _whole_transaction_cost,
    ),
    Flaw(
        "each-interval-rounded-alone",
        "TMX-POS-009",
        "rounds each interval's energy and cost on their own, so 5-minute figures do not add up",
        _each_interval_rounded_alone,
    ),
    Flaw(
        "dst-day-24-hours",
        "TMX-POS-006",
        "counts the energy of a 23- or 25-hour local day over 24 hours",
        _every_day_24_hours,
    ),
    Flaw(
        "position-any-node",
        "TMX-POS-005",
        "counts a power transaction at every node a position is asked for",
        _any_node,
    ),
    Flaw(
        "truncates-running-totals",
        "TMX-POS-010",
        "cuts figures off at the market's decimal places instead of rounding them half-even",
        _truncates_running_totals,
    ),
    Flaw(
        "dst-long-day-24-hours",
        "TMX-POS-007",
        "counts the energy of the 25-hour local day over 24 hours",
        _every_day_24_hours,
    ),
    Flaw(
        "positions-in-default-market",
        "TMX-POS-008",
        "answers a position asked in an unknown market context from the default market",
        _positions_in_the_default_market,
    ),
]
