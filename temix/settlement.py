"""Settlement of metered delivery against forward positions, and publication of transacted prices.

Signs follow ``temix.positions``: a metered injection is +rate (the party delivered power, like a
sale), a withdrawal -rate. In each metered interval the imbalance is the metered net rate minus
the position's net rate. A balancing transaction settles it at that interval's balancing price
(per unit of the market's energy): a positive imbalance is a surplus the party sells, a negative
one a shortfall it buys (TeMIX paper 3.5, EMIX-377).

A statement covers the metered intervals in its period: the forward cost is the sum of the
party's physical position costs over those intervals; unmetered time is not settled yet. Money
received is positive, money paid negative.

Financial (cash-settled) deals (TeMIX paper 2.10, 3.5) deliver nothing, so they are never
compared with metered delivery. They are cashed out per index-price interval at the market's
index price: a financial position is settled exactly as a physical position with nothing
metered, a net financial seller buying its position back at the index and a net buyer selling
it. The statement shows the two parts apart: the financial cost (the deals' own money over the
index intervals) and the cash-out cost (the cash-out trades). Every moment of a financial deal
in the period must have an index price. A financial transport deal from A to B shows at A like
a sale and at B like a purchase, so its holder's cash-outs at the two nodes add up to (index at
B minus index at A) times the energy.

An option's premium (its premium price times the energy of the whole option) is paid by the
holder to the writer once; the model records no time of payment, so it is booked in the
statement whose period contains the start of the option's delivery interval, at the interface
where the option's price would be booked (``temix.positions.leg_at``).

Figures (docs/profile.md, "Figures"): the forward cost of each metered interval is the
position's as written (``temix.positions``), so interval statements add up to the period's. A
balancing trade's energy is the exact imbalance energy written to the market's energy decimal
places, and its amount is the price times that written energy, written to the money decimal
places, so each trade can be checked as printed; a premium is written to the money places. A
statement's figures are sums of written figures, exact, so it adds up as printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise

from temix.model import (
    Delivery,
    Interface,
    Interval,
    Settlement,
    Side,
    as_decimal,
    decimal_sum,
    scale_factor,
)
from temix.positions import (
    DEFAULT_UNITS,
    Deal,
    Holdings,
    MarketUnits,
    leg_at,
    priced_energy,
)


class PriceKind(StrEnum):
    """The two price series settlement reads, each loaded per market context, node and
    interval: balancing prices settle metered imbalances, index prices cash out financial
    positions."""

    BALANCING = "balancing"
    INDEX = "index"


class SettlementError(ValueError):
    """Metered delivery or prices that cannot be settled as given."""


@dataclass(frozen=True)
class SettlementTrade:
    """The trade that settles one interval: a balancing trade for a metered imbalance, or the
    cash-out of a financial position at the index price.

    ``rate`` and ``energy`` are magnitudes in the market's units; ``side`` is the party's side.
    ``amount`` is the extended price (price x energy), which the buyer pays the seller.
    """

    interval: Interval
    side: Side
    rate: Decimal
    price: Decimal
    energy: Decimal
    amount: Decimal

    @property
    def money_received(self) -> Decimal:
        """The amount as the party sees it: received when it sells, paid (negative) when it buys."""
        return self.amount if self.side is Side.SELL else self.amount.copy_negate()


@dataclass(frozen=True)
class SettlementStatement:
    """What one party is owed (positive) or owes (negative) at one interface over a period."""

    party_id: str
    interface: Interface
    period: Interval
    forward_cost: Decimal
    balancing_cost: Decimal
    premiums: Decimal
    balancing_trades: tuple[SettlementTrade, ...] = ()
    financial_cost: Decimal = Decimal(0)
    cash_out_cost: Decimal = Decimal(0)
    cash_outs: tuple[SettlementTrade, ...] = ()

    @property
    def physical_total(self) -> Decimal:
        return decimal_sum((self.forward_cost, self.balancing_cost))

    @property
    def financial_total(self) -> Decimal:
        return decimal_sum((self.financial_cost, self.cash_out_cost))

    @property
    def total(self) -> Decimal:
        """The figures above added up, so that a statement always adds up as printed."""
        return decimal_sum(
            (
                self.forward_cost,
                self.balancing_cost,
                self.premiums,
                self.financial_cost,
                self.cash_out_cost,
            )
        )


def metered_net_rates(
    deliveries: Iterable[Delivery],
    interface: Interface,
    period: Interval,
    *,
    units: MarketUnits = DEFAULT_UNITS,
) -> dict[Interval, Fraction]:
    """Injections minus withdrawals at ``interface``, per metered interval in ``period``.

    Readings of the same interval (an injection and a withdrawal meter) add up. Metered
    intervals must not straddle the period or overlap each other: that would settle the same
    time twice or half.
    """
    rates: dict[Interval, Fraction] = {}
    for delivery in deliveries:
        direction = 1 if delivery.injection else -1
        for reading in delivery.readings:
            if reading.interface != interface or not reading.interval.overlap(period):
                continue
            if not period.contains(reading.interval):
                raise SettlementError(f"{_describe(reading.interval)} straddles the period")
            rate = units.rate(reading.quantity, reading.power_unit)
            rates[reading.interval] = rates.get(reading.interval, Fraction(0)) + direction * rate
    ordered = sorted(rates)
    for earlier, later in pairwise(ordered):
        if earlier.end > later.start:
            raise SettlementError(f"{_describe(earlier)} overlaps {_describe(later)}")
    return {interval: rates[interval] for interval in ordered}


def _describe(interval: Interval) -> str:
    return f"the metered interval from {interval.start.isoformat()} for {interval.duration}"


def _balancing(
    interval: Interval, imbalance: Fraction, price: Decimal, units: MarketUnits
) -> SettlementTrade:
    """The trade that settles ``imbalance`` (a surplus sold when positive), as written."""
    rate = abs(imbalance)
    energy = units.written_energy(units.energy_over(rate, interval))
    amount = units.written_money(Fraction(price) * Fraction(energy))
    side = Side.SELL if imbalance > 0 else Side.BUY
    return SettlementTrade(interval, side, as_decimal(rate), price, energy, amount)


def _premiums(
    deals: Iterable[Deal], party_id: str, interface: Interface, period: Interval, units: MarketUnits
) -> Decimal:
    premiums: list[Decimal] = []
    for deal in deals:
        option = deal.product.option
        if deal.party_id != party_id or option is None:
            continue
        delivery = deal.product.interval
        leg = leg_at(deal, interface)
        if leg is None or not leg.priced or not period.start <= delivery.start < period.end:
            continue
        exact = Fraction(option.premium) * priced_energy(deal, delivery.seconds)
        premium = units.written_money(exact)
        premiums.append(premium.copy_negate() if deal.side is option.holder_side else premium)
    return decimal_sum(premiums)


def _uncovered(span: Interval, covered: Iterable[Interval]) -> datetime | None:
    """The first instant of ``span`` that none of the sorted ``covered`` intervals holds."""
    reached = span.start
    for interval in covered:
        if interval.start > reached:
            break
        reached = max(reached, interval.end)
        if reached >= span.end:
            return None
    return reached if reached < span.end else None


def _index_intervals(index_prices: Mapping[Interval, Decimal], period: Interval) -> list[Interval]:
    """The index-price intervals in ``period``, sorted; none may straddle it or overlap."""
    inside = []
    for interval in sorted(index_prices):
        if not interval.overlap(period):
            continue
        if not period.contains(interval):
            raise SettlementError(
                f"the index price {_describe_index(interval)} straddles the period"
            )
        inside.append(interval)
    for earlier, later in pairwise(inside):
        if earlier.end > later.start:
            raise SettlementError(
                f"the index price {_describe_index(earlier)} overlaps {_describe_index(later)}"
            )
    return inside


def _describe_index(interval: Interval) -> str:
    return f"from {interval.start.isoformat()} for {interval.duration}"


def _cash_outs(
    holdings: Holdings,
    period: Interval,
    index_prices: Mapping[Interval, Decimal],
    units: MarketUnits,
) -> tuple[list[Decimal], list[SettlementTrade]]:
    """The financial cost of each index interval and the trades that cash the position out."""
    if not holdings:
        return [], []
    intervals = _index_intervals(index_prices, period)
    for span in holdings.spans(period):
        missing = _uncovered(span, intervals)
        if missing is not None:
            raise SettlementError(
                f"no index price from {missing.isoformat()}, where a financial deal delivers"
            )
    costs: list[Decimal] = []
    trades: list[SettlementTrade] = []
    for interval in intervals:
        costs.append(holdings.over(interval, units=units).cost)
        net_rate = holdings.exact(interval, units=units).net_rate
        if net_rate != 0:
            trades.append(_balancing(interval, -net_rate, index_prices[interval], units))
    return costs, trades


def settle(
    deals: Iterable[Deal],
    deliveries: Iterable[Delivery],
    party_id: str,
    interface: Interface,
    period: Interval,
    balancing_prices: Mapping[Interval, Decimal],
    *,
    index_prices: Mapping[Interval, Decimal] | None = None,
    units: MarketUnits = DEFAULT_UNITS,
) -> SettlementStatement:
    """Settle ``party_id``'s metered delivery at ``interface`` in ``period`` against its
    physical deals, and cash out its financial deals.

    ``deliveries`` are the party's metered deliveries; ``balancing_prices`` gives the balancing
    price of each metered interval (needed only where there is an imbalance); ``index_prices``
    gives the index price of each cash-out interval (needed only when the party holds a
    financial deal in the period).
    """
    stored = tuple(deals)
    holdings = Holdings(stored, party_id, interface)
    forward: list[Decimal] = []
    trades: list[SettlementTrade] = []
    for interval, metered in metered_net_rates(deliveries, interface, period, units=units).items():
        forward.append(holdings.over(interval, units=units).cost)
        imbalance = metered - holdings.exact(interval, units=units).net_rate
        if imbalance == 0:
            continue
        price = balancing_prices.get(interval)
        if price is None:
            raise SettlementError(f"no balancing price for {_describe(interval)}")
        trades.append(_balancing(interval, imbalance, price, units))
    financial = Holdings(stored, party_id, interface, Settlement.FINANCIAL)
    financial_costs, cash_outs = _cash_outs(financial, period, index_prices or {}, units)
    return SettlementStatement(
        party_id,
        interface,
        period,
        forward_cost=decimal_sum(forward),
        balancing_cost=decimal_sum(trade.money_received for trade in trades),
        premiums=_premiums(stored, party_id, interface, period, units),
        balancing_trades=tuple(trades),
        financial_cost=decimal_sum(financial_costs),
        cash_out_cost=decimal_sum(trade.money_received for trade in cash_outs),
        cash_outs=tuple(cash_outs),
    )


@dataclass(frozen=True)
class Publication:
    """Transacted prices and quantities of one product: an interface over a delivery interval.

    ``total_rate`` is in the market's power unit and prices per unit of its energy; the prices
    are None when nothing was transacted.
    """

    interval: Interval
    interface: Interface
    count: int
    total_rate: Decimal
    average_price: Decimal | None
    min_price: Decimal | None
    max_price: Decimal | None


def publication(
    deals: Iterable[Deal],
    interval: Interval,
    interface: Interface,
    *,
    units: MarketUnits = DEFAULT_UNITS,
    settlement: Settlement = Settlement.PHYSICAL,
) -> Publication:
    """Publish the transactions of one ``settlement`` for exactly ``interval`` at exactly
    ``interface``: physical and financial prices are published apart.

    Each transaction counts once although both parties' deals are given. Power and transport
    transactions and option exercises are published; option transactions are not (their
    transacted price is a premium, not a price of energy). The average is volume-weighted.
    """
    transactions = {
        deal.transaction.transaction_id: deal.transaction
        for deal in deals
        if not deal.is_option
        and deal.product.settlement is settlement
        and deal.product.interval == interval
        and deal.product.description.interface == interface
    }
    rates: list[Fraction] = []
    prices: list[Fraction] = []
    for transaction in transactions.values():
        description = transaction.product.description
        rates.append(units.rate(description.quantity, description.power_unit))
        prices.append(
            Fraction(description.price)
            * scale_factor(units.energy.scale, description.energy_unit.scale)
        )
    if not transactions:
        return Publication(interval, interface, 0, Decimal(0), None, None, None)
    total_rate = sum(rates, Fraction(0))
    weighted = sum((price * rate for price, rate in zip(prices, rates, strict=True)), Fraction(0))
    return Publication(
        interval,
        interface,
        len(transactions),
        as_decimal(total_rate),
        as_decimal(weighted / total_rate),
        as_decimal(min(prices)),
        as_decimal(max(prices)),
    )
