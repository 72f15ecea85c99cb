"""Net positions: what a party's transactions add up to at an interface over an interval.

Sign convention: a position is **sells minus buys**. A positive net rate means the party is a net
seller (it owes the market power: a generator's forward sale); a negative one means it is a net
buyer (a customer's forward purchase). ``cost`` follows the money the same way: money received
for sells minus money paid for buys, so a positive cost is income.

Nested intervals (TeMIX paper 2.4, 2.5): every transaction delivers at a constant rate over its
interval, so a transaction covering part of the asked interval contributes its rate times the
share of the interval it covers. A 5-minute position nested in an hour or a month includes those
longer transactions at their full rate; an hour position over twelve 5-minute transactions is
their average. Shares are measured in elapsed seconds, so a daylight-saving day has 23 or 25 hours.

Transport: a transport transaction on the path A->B moves power from A to B. Its buyer has
+rate at A (power leaves A for it, like selling at A) and -rate at B (like buying at B); its
seller the opposite, so every node still sums to zero over all parties. The transport price is
booked in the cost at the point of delivery B only. A position asked for a ``TransportPath``
sums the transport transactions on exactly that path, sells minus buys, with their cost. A
transport path names nodes by id, so its ends match any ``Location`` with that id; a power
transaction matches only the very same ``Location`` (id and kind).

Physical and financial (TeMIX paper 2.5, 2.10): a party's physical deals and its financial
(cash-settled) deals are separate positions, never netted together; each is asked for by its
``Settlement``, physical by default. Only the physical position is compared with metered
delivery (``temix.settlement``).

Options deliver nothing until exercised: an option transaction is not in any position, its
exercises count like power or transport transactions, and premiums belong to settlement.

Figures (docs/profile.md, "Figures"): arithmetic is exact (``Fraction``), and a position is
written so that nested intervals add up as written. Each deal's energy delivered from its start
to an instant, and the money for it, are rounded half-even to the market's decimal places
(``MarketUnits.energy_decimals`` and ``money_decimals``); a deal's figure over an interval is
that rounded figure at the interval's end minus the one at its start, and a position's figure is
the sum over its deals. The differences telescope: the twelve 5-minute energies of an hour add
up to the hour's exactly as written, the hours to the day's, whatever the deals. The net rate
is not additive (it averages) and is written to ``energy_decimals`` places. ``ExactPosition``
keeps the exact figures for callers that check them with ``==``, such as the market-wide
reconciliation in ``net_positions``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from temix.model import (
    FIRST_INSTANT,
    EnergyUnit,
    Interface,
    Interval,
    Location,
    MarketContext,
    Position,
    PowerUnit,
    Product,
    Settlement,
    Side,
    Transaction,
    TransactionRecord,
    TransportPath,
    exact_energy,
    scale_factor,
    written,
)

_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class MarketUnits:
    """The units a market reports in, rates in ``power`` and energy (and prices per) in
    ``energy``, and the decimal places its energies and money are written to."""

    power: PowerUnit = field(default_factory=PowerUnit)
    energy: EnergyUnit = field(default_factory=EnergyUnit)
    energy_decimals: int = 6
    money_decimals: int = 2

    @classmethod
    def of(cls, market: MarketContext) -> MarketUnits:
        return cls(
            market.power_unit, market.energy_unit, market.energy_decimals, market.money_decimals
        )

    def written_energy(self, value: Fraction) -> Decimal:
        return written(value, self.energy_decimals)

    def written_money(self, value: Fraction) -> Decimal:
        return written(value, self.money_decimals)

    def rate(self, quantity: Decimal, unit: PowerUnit) -> Fraction:
        """A rate given in ``unit``, exactly, in the market's power unit."""
        return Fraction(quantity) * scale_factor(unit.scale, self.power.scale)

    def energy_over(self, rate: Fraction, interval: Interval) -> Fraction:
        """Energy at a constant ``rate`` (in the market's power unit) over ``interval``."""
        return exact_energy(rate, interval, self.power, self.energy)


DEFAULT_UNITS = MarketUnits()
"""MW and MWh, the model's default units, written to 6 and 2 decimal places."""


@dataclass(frozen=True)
class Deal:
    """One party's view of one transaction: the side it took and with whom."""

    party_id: str
    counterparty_id: str
    side: Side
    transaction: Transaction

    @property
    def product(self) -> Product:
        return self.transaction.product

    @property
    def is_option(self) -> bool:
        """An option transaction: a right to transact later, not a delivery."""
        return self.product.option is not None


def deals_of(record: TransactionRecord) -> tuple[Deal, Deal]:
    """Both parties' views of one stored transaction: the buyer's, then the seller's."""
    transaction = record.transaction
    return (
        Deal(record.buyer, record.seller, Side.BUY, transaction),
        Deal(record.seller, record.buyer, Side.SELL, transaction),
    )


@dataclass(frozen=True)
class ExactPosition:
    """A position in exact arithmetic."""

    interval: Interval
    net_rate: Fraction
    energy: Fraction
    cost: Fraction


class Leg(NamedTuple):
    """How a deal shows at one interface.

    ``direction`` is +1 when the deal adds its rate there (like a sale) and -1 when it takes it
    away (like a purchase); ``priced`` tells whether the deal's money is booked there.
    """

    direction: int
    priced: bool


def leg_at(deal: Deal, interface: Interface) -> Leg | None:
    """How ``deal`` shows at ``interface`` (sells minus buys), or None when it does not.

    Options are not told apart here: positions skip them, and settlement books an option's
    premium where the leg of its price is.
    """
    sells = 1 if deal.side is Side.SELL else -1
    where = deal.product.description.interface
    if isinstance(where, TransportPath) and isinstance(interface, Location):
        if where.point_of_delivery == interface.id:
            return Leg(sells, priced=True)
        if where.point_of_receipt == interface.id:
            return Leg(-sells, priced=False)
        return None
    return Leg(sells, priced=True) if where == interface else None


def _shared_seconds(deal: Deal, interval: Interval) -> int:
    return deal.product.interval.overlap(interval) // _SECOND


def priced_energy(deal: Deal, seconds: int) -> Fraction:
    """The energy ``deal`` delivers in ``seconds``, in the unit its own price is quoted in."""
    description = deal.product.description
    scale = scale_factor(description.power_unit.scale, description.energy_unit.scale)
    return Fraction(description.quantity) * scale * Fraction(seconds, 3600)


class Holdings:
    """A party's deals of one settlement that show at one interface (options left out), sorted
    by start: looked at once, then asked for any number of intervals. An interval reads only the
    deals that start before it ends and after it starts less the longest deal's duration, so a
    day of 288 five-minute positions does not weigh every deal 288 times."""

    def __init__(
        self,
        deals: Iterable[Deal],
        party_id: str,
        interface: Interface,
        settlement: Settlement = Settlement.PHYSICAL,
    ) -> None:
        held = []
        for deal in deals:
            if (
                deal.party_id != party_id
                or deal.is_option
                or deal.product.settlement is not settlement
            ):
                continue
            leg = leg_at(deal, interface)
            if leg is not None:
                held.append((deal, leg))
        held.sort(key=lambda item: item[0].product.interval.start)
        self._held = held
        self._starts = [deal.product.interval.start for deal, _ in held]
        self._longest = max((deal.product.interval.duration for deal, _ in held), default=_SECOND)

    def __bool__(self) -> bool:
        return bool(self._held)

    def spans(self, period: Interval) -> list[Interval]:
        """The parts of ``period`` in which each held deal delivers, one per deal."""
        return [
            Interval.between(
                max(deal.product.interval.start, period.start),
                min(deal.product.interval.end, period.end),
            )
            for deal, _ in self._overlapping(period)
        ]

    def _overlapping(self, interval: Interval) -> list[tuple[Deal, Leg]]:
        first = bisect_right(self._starts, _earlier(interval.start, self._longest))
        return [
            (deal, leg)
            for deal, leg in self._held[first : bisect_left(self._starts, interval.end)]
            if _shared_seconds(deal, interval)
        ]

    def exact(self, interval: Interval, *, units: MarketUnits = DEFAULT_UNITS) -> ExactPosition:
        """The exact net position over ``interval``, in the market's ``units``; each deal's
        price applies to the energy unit of its own product."""
        net_rate = Fraction(0)
        cost = Fraction(0)
        for deal, leg in self._overlapping(interval):
            seconds = _shared_seconds(deal, interval)
            description = deal.product.description
            rate = units.rate(description.quantity, description.power_unit)
            net_rate += leg.direction * rate * Fraction(seconds, interval.seconds)
            if leg.priced:
                cost += leg.direction * Fraction(description.price) * priced_energy(deal, seconds)
        return ExactPosition(interval, net_rate, units.energy_over(net_rate, interval), cost)

    def over(self, interval: Interval, *, units: MarketUnits = DEFAULT_UNITS) -> Position:
        """The written net position over ``interval`` (see the module docstring, "Figures")."""
        energy = Fraction(0)
        cost = Fraction(0)
        for deal, leg in self._overlapping(interval):
            start, end = _elapsed(deal, interval.start), _elapsed(deal, interval.end)
            description = deal.product.description
            rate = units.rate(description.quantity, description.power_unit)
            to_energy = rate * scale_factor(units.power.scale, units.energy.scale) / 3600
            energy += leg.direction * (
                Fraction(units.written_energy(to_energy * end))
                - Fraction(units.written_energy(to_energy * start))
            )
            if leg.priced:
                price = Fraction(description.price)
                cost += leg.direction * (
                    Fraction(units.written_money(price * priced_energy(deal, end)))
                    - Fraction(units.written_money(price * priced_energy(deal, start)))
                )
        net_rate = self.exact(interval, units=units).net_rate
        return Position(
            interval,
            units.written_energy(net_rate),
            units.written_energy(energy),
            units.written_money(cost),
        )


def _elapsed(deal: Deal, moment: datetime) -> int:
    """Seconds of ``deal``'s delivery before ``moment``."""
    delivery = deal.product.interval
    if moment <= delivery.start:
        return 0
    return (min(moment, delivery.end) - delivery.start) // _SECOND


def _earlier(moment: datetime, duration: timedelta) -> datetime:
    """``moment - duration``, or the first instant there is when that is before it."""
    return FIRST_INSTANT if moment - FIRST_INSTANT < duration else moment - duration


def exact_position(
    deals: Iterable[Deal],
    party_id: str,
    interface: Interface,
    interval: Interval,
    *,
    units: MarketUnits = DEFAULT_UNITS,
) -> ExactPosition:
    """The net physical position of ``party_id`` at ``interface`` over ``interval``, exactly."""
    return Holdings(deals, party_id, interface).exact(interval, units=units)


def position(
    deals: Iterable[Deal],
    party_id: str,
    interface: Interface,
    interval: Interval,
    *,
    units: MarketUnits = DEFAULT_UNITS,
) -> Position:
    """The written net physical position of ``party_id`` at ``interface`` over ``interval``."""
    return Holdings(deals, party_id, interface).over(interval, units=units)


def positions(
    deals: Iterable[Deal],
    party_id: str,
    interface: Interface,
    intervals: Iterable[Interval],
    *,
    units: MarketUnits = DEFAULT_UNITS,
    settlement: Settlement = Settlement.PHYSICAL,
) -> tuple[Position, ...]:
    """The written net positions over each of ``intervals``, in order."""
    holdings = Holdings(deals, party_id, interface, settlement)
    return tuple(holdings.over(interval, units=units) for interval in intervals)


def net_positions(
    deals: Iterable[Deal],
    interface: Interface,
    interval: Interval,
    *,
    units: MarketUnits = DEFAULT_UNITS,
) -> dict[str, ExactPosition]:
    """Every dealing party's exact physical position, by party id.

    Each transaction's two deals cancel, so rates, energies and costs sum to exactly zero over
    the parties. They are exact so that a reconciliation can check that with ``==``; rounding
    each party's figure separately could leave a last-digit residue.
    """
    stored: Sequence[Deal] = tuple(deals)
    return {
        party_id: exact_position(stored, party_id, interface, interval, units=units)
        for party_id in sorted({deal.party_id for deal in stored})
    }
