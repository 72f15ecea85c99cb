"""Flaws in delivery, settlement and publication."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

from flaws import Flaw


def _no_balancing_cost() -> None:
    from temix.server import services

    settled = services.settle

    def without_balancing(*args, **kwargs):  # type: ignore[no-untyped-def]
        return replace(settled(*args, **kwargs), balancing_cost=Decimal(0))

    services.settle = without_balancing


class _FreeBalancing(dict):
    """Balancing prices where every interval without one is free."""

    def get(self, interval, default=None):  # type: ignore[no-untyped-def, override]
        return super().get(interval, Decimal(0))


def _missing_price_is_zero() -> None:
    from temix.server import services

    settled = services.settle

    def at_zero(deals, deliveries, party_id, interface, period, prices, **kwargs):  # type: ignore[no-untyped-def]
        free = _FreeBalancing(prices)
        return settled(deals, deliveries, party_id, interface, period, free, **kwargs)

    services.settle = at_zero


def _first_interval_only() -> None:
    """Settles the first metered interval of the period and leaves the others out."""
    from temix import settlement

    metered = settlement.metered_net_rates

    def first_only(deliveries, interface, period, **kwargs):  # type: ignore[no-untyped-def]
        rates = metered(deliveries, interface, period, **kwargs)
        return dict(list(rates.items())[:1])

    settlement.metered_net_rates = first_only


def _balances_at_the_contract_price() -> None:
    """Prices every balancing trade at the forward contract's price, not the market's
    balancing price for the interval."""
    from temix.server import services

    settled = services.settle

    def at_contract(deals, deliveries, party_id, interface, period, prices, **kwargs):  # type: ignore[no-untyped-def]
        deals = tuple(deals)
        contract = next(
            (deal.transaction.product.description.price for deal in deals),
            None,
        )
        if contract is not None:
            prices = {interval: contract for interval in prices}
        return settled(deals, deliveries, party_id, interface, period, prices, **kwargs)

    services.settle = at_contract


def _premium_in_every_period() -> None:
    """Books an option's premium in the settlement of every period its delivery overlaps, not
    only the period holding its start."""
    from temix import settlement
    from temix.model import Interval, decimal_sum

    premiums = settlement._premiums

    def every_period(deals, party_id, interface, period, units):  # type: ignore[no-untyped-def]
        booked = []
        for deal in deals:
            delivery = deal.product.interval
            shifted = period
            if delivery.overlap(period) and not period.start <= delivery.start < period.end:
                shifted = Interval(delivery.start, period.duration)
            booked.append(premiums([deal], party_id, interface, shifted, units))
        return decimal_sum(booked)

    settlement._premiums = every_period


def _deliveries_for_everyone() -> None:
    from temix.server.store import Unit

    listed = Unit.deliveries

    def of_every_party(self, *, party, **filters):  # type: ignore[no-untyped-def]
        return [
            delivery
            for record in self.all_parties()
            for delivery in listed(self, party=record.party_id, **filters)
        ]

    Unit.deliveries = of_every_party


def _unweighted_average() -> None:
    from temix.model import as_decimal
    from temix.server import services

    published = services.publication

    def averaging_prices(deals, interval, interface, **kwargs):  # type: ignore[no-untyped-def]
        deals = list(deals)
        found = published(deals, interval, interface, **kwargs)
        prices = {
            deal.transaction.transaction_id: Fraction(deal.product.description.price)
            for deal in deals
            if deal.product.interval == interval and deal.product.description.interface == interface
        }
        if not prices:
            return found
        return replace(found, average_price=as_decimal(sum(prices.values()) / len(prices)))

    services.publication = averaging_prices


FLAWS = [
    Flaw(
        "settlement-drops-balancing",
        "TMX-DLV-004",
        "leaves the balancing trades' money out of a statement's balancing cost",
        _no_balancing_cost,
    ),
    Flaw(
        "missing-balancing-price-free",
        "TMX-DLV-006",
        "settles an imbalance without a balancing price at a price of zero",
        _missing_price_is_zero,
    ),
    Flaw(
        "deliveries-visible-to-all",
        "TMX-DLV-002",
        "lists every party's deliveries to whoever asks",
        _deliveries_for_everyone,
    ),
    Flaw(
        "publication-unweighted-average",
        "TMX-DLV-007",
        "publishes the plain average of the transacted prices instead of weighting by rate",
        _unweighted_average,
    ),
    Flaw(
        "settles-first-interval",
        "TMX-DLV-004",
        "settles only the first metered interval of the period",
        _first_interval_only,
    ),
    Flaw(
        "balances-at-contract-price",
        "TMX-DLV-004",
        "prices balancing trades at the forward contract's price, not the balancing price",
        _balances_at_the_contract_price,
    ),
    Flaw(
        "premium-every-period",
        "TMX-DLV-005",
        "books an option's premium in every period its delivery overlaps",
        _premium_in_every_period,
    ),
]
