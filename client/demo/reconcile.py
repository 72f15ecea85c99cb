"""The demo's checks that the server's answers add up, as pure functions.

The server writes energies and money to the market's decimal places so that figures add up as
written (docs/profile.md, "Figures"), so sums are checked with ``==``. The one exception is the
market's balancing money: each party's balancing trade is rounded on its own, so the parties'
balancing costs net to zero only to within the rounding of their trades
(:func:`balancing_rounding`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from temix.model import Delivery, Interface, Interval, Position, TransactionRecord
from temix.positions import Deal, MarketUnits, deals_of
from temix.settlement import SettlementStatement, settle


@dataclass(frozen=True)
class PartyFigures:
    """What the server answered one party at the end of the day."""

    party_id: str
    positions: tuple[Position, ...]
    statement: SettlementStatement


@dataclass(frozen=True)
class Check:
    claim: str
    ok: bool
    detail: str


def balancing_rounding(statements: Iterable[SettlementStatement], units: MarketUnits) -> Decimal:
    """The most the balancing trades' amounts can be off their exact figures: half a unit of
    money each, and the price times half a unit of energy."""
    money = Decimal(1).scaleb(-units.money_decimals) / 2
    energy = Decimal(1).scaleb(-units.energy_decimals) / 2
    return sum(
        (money + trade.price * energy for s in statements for trade in s.balancing_trades),
        Decimal(0),
    )


def _overlapping(deals: Iterable[Deal], period: Interval) -> list[Deal]:
    return [deal for deal in deals if deal.product.interval.overlap(period)]


def expected_statement(
    records: Sequence[TransactionRecord],
    deliveries: Sequence[Delivery],
    party_id: str,
    interface: Interface,
    blocks: Sequence[Interval],
    balancing_prices: Mapping[Interval, Decimal],
    units: MarketUnits,
) -> tuple[Decimal, Decimal, Decimal]:
    """Forward cost, balancing cost and premiums as :func:`temix.settlement.settle` makes them
    from the transactions the party made, its readings and the balancing prices.

    Settled hour by hour, each hour with the deals that deliver in it, so that a day of many
    small trades stays quick; an option's premium falls in the hour its delivery starts.
    """
    deals = [deal for record in records for deal in deals_of(record)]
    forward = balancing = premiums = Decimal(0)
    for block in blocks:
        statement = settle(
            _overlapping(deals, block),
            deliveries,
            party_id,
            interface,
            block,
            balancing_prices,
            units=units,
        )
        forward += statement.forward_cost
        balancing += statement.balancing_cost
        premiums += statement.premiums
    return forward, balancing, premiums


def combined(statements: Sequence[SettlementStatement], period: Interval) -> SettlementStatement:
    """Statements of consecutive parts of ``period``, for one party at one interface, as one."""
    first = statements[0]
    return SettlementStatement(
        first.party_id,
        first.interface,
        period,
        forward_cost=sum((s.forward_cost for s in statements), Decimal(0)),
        balancing_cost=sum((s.balancing_cost for s in statements), Decimal(0)),
        premiums=sum((s.premiums for s in statements), Decimal(0)),
        balancing_trades=tuple(t for s in statements for t in s.balancing_trades),
    )


_POSITION_FIGURES = ("net_rate", "energy", "cost")


def _positions_net_to_zero(parties: Sequence[PartyFigures]) -> Check:
    intervals = len(parties[0].positions)
    unbalanced = []
    for index in range(intervals):
        column = [party.positions[index] for party in parties]
        if any(sum(getattr(p, figure) for p in column) != 0 for figure in _POSITION_FIGURES):
            unbalanced.append(column[0].interval.start.isoformat())
    return Check(
        "in every interval, all parties' positions sum to zero (rate, energy and cost)",
        not unbalanced,
        f"{intervals} intervals x {len(parties)} parties"
        + (f"; not in {', '.join(unbalanced[:5])}" if unbalanced else ""),
    )


def _statements_add_up(parties: Sequence[PartyFigures]) -> Check:
    wrong = []
    for party in parties:
        statement = party.statement
        forward = sum((p.cost for p in party.positions), Decimal(0))
        parts = statement.forward_cost + statement.balancing_cost + statement.premiums
        if statement.forward_cost != forward or statement.total != parts:
            wrong.append(party.party_id)
    return Check(
        "every settlement = forward cost (the cost of its positions) + balancing cost "
        "+ option premiums",
        not wrong,
        f"{len(parties)} statements" + (f"; not {', '.join(wrong[:5])}" if wrong else ""),
    )


def _statements_as_expected(
    parties: Sequence[PartyFigures], expected: Mapping[str, tuple[Decimal, Decimal, Decimal]]
) -> Check:
    wrong = []
    for party in parties:
        if party.party_id not in expected:
            continue
        statement = party.statement
        answered = (statement.forward_cost, statement.balancing_cost, statement.premiums)
        if answered != expected[party.party_id]:
            wrong.append(party.party_id)
    return Check(
        "every customer's settlement is what temix.settlement makes of its own trades, "
        "meter readings and the balancing prices",
        not wrong,
        f"{len(expected)} customers" + (f"; not {', '.join(wrong[:5])}" if wrong else ""),
    )


def _books_balance(parties: Sequence[PartyFigures], units: MarketUnits) -> Check:
    statements = [party.statement for party in parties]
    rounding = balancing_rounding(statements, units)
    sums = {
        "forward": (sum((s.forward_cost for s in statements), Decimal(0)), Decimal(0)),
        "premiums": (sum((s.premiums for s in statements), Decimal(0)), Decimal(0)),
        "balancing": (sum((s.balancing_cost for s in statements), Decimal(0)), rounding),
        "total": (sum((s.total for s in statements), Decimal(0)), rounding),
    }
    off = [f"{name} {value}" for name, (value, bound) in sums.items() if abs(value) > bound]
    return Check(
        "the market's books balance: forward costs and premiums sum to zero over all parties, "
        f"balancing costs and totals to within their trades' rounding ({rounding})",
        not off,
        f"{len(statements)} statements" + (f"; off: {', '.join(off)}" if off else ""),
    )


def reconcile(
    parties: Sequence[PartyFigures],
    expected: Mapping[str, tuple[Decimal, Decimal, Decimal]],
    units: MarketUnits,
) -> tuple[Check, ...]:
    """The checks on every party's answered positions and settlement, in the market's ``units``;
    ``expected`` holds the statements recomputed for the parties whose trades the caller knows."""
    return (
        _positions_net_to_zero(parties),
        _statements_add_up(parties),
        _statements_as_expected(parties, expected),
        _books_balance(parties, units),
    )
