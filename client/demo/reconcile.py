"""The demo's checks that the server's answers add up, as pure functions.

The server writes energies and money to the market's decimal places so that figures add up as
written (docs/profile.md, "Figures"), so sums are checked with ``==``. The one exception is the
market's balancing and cash-out money: each party's trade is rounded on its own, so the
parties' balancing and cash-out costs net to zero only to within the rounding of their trades
(:func:`trade_rounding`). Physical and financial positions are checked apart.
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
    financial_positions: tuple[Position, ...] = ()


@dataclass(frozen=True)
class Check:
    claim: str
    ok: bool
    detail: str


def trade_rounding(statements: Iterable[SettlementStatement], units: MarketUnits) -> Decimal:
    """The most the balancing trades' and cash-outs' amounts can be off their exact figures:
    half a unit of money each, and the price times half a unit of energy."""
    money = Decimal(1).scaleb(-units.money_decimals) / 2
    energy = Decimal(1).scaleb(-units.energy_decimals) / 2
    return sum(
        (
            money + abs(trade.price) * energy
            for s in statements
            for trade in (*s.balancing_trades, *s.cash_outs)
        ),
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
    index_prices: Mapping[Interval, Decimal],
    units: MarketUnits,
) -> tuple[Decimal, ...]:
    """Forward cost, balancing cost, premiums, financial cost and cash-out cost as
    :func:`temix.settlement.settle` makes them from the transactions the party made, its
    readings and the balancing and index prices.

    Settled hour by hour, each hour with the deals that deliver in it, so that a day of many
    small trades stays quick; an option's premium falls in the hour its delivery starts.
    """
    deals = [deal for record in records for deal in deals_of(record)]
    parts = [
        settle(
            _overlapping(deals, block),
            deliveries,
            party_id,
            interface,
            block,
            balancing_prices,
            index_prices={i: p for i, p in index_prices.items() if block.contains(i)},
            units=units,
        )
        for block in blocks
    ]
    return _figures(combined(parts, Interval.between(blocks[0].start, blocks[-1].end)))


def _figures(statement: SettlementStatement) -> tuple[Decimal, ...]:
    return (
        statement.forward_cost,
        statement.balancing_cost,
        statement.premiums,
        statement.financial_cost,
        statement.cash_out_cost,
    )


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
        financial_cost=sum((s.financial_cost for s in statements), Decimal(0)),
        cash_out_cost=sum((s.cash_out_cost for s in statements), Decimal(0)),
        cash_outs=tuple(t for s in statements for t in s.cash_outs),
    )


_POSITION_FIGURES = ("net_rate", "energy", "cost")


def _positions_net_to_zero(parties: Sequence[PartyFigures]) -> Check:
    unbalanced = []
    for kind, positions_of in (
        ("physical", lambda party: party.positions),
        ("financial", lambda party: party.financial_positions),
    ):
        for index in range(len(positions_of(parties[0]))):
            column = [positions_of(party)[index] for party in parties]
            if any(sum(getattr(p, figure) for p in column) != 0 for figure in _POSITION_FIGURES):
                unbalanced.append(f"{kind} {column[0].interval.start.isoformat()}")
    return Check(
        "in every interval, all parties' physical positions sum to zero, and so do their "
        "financial positions (rate, energy and cost)",
        not unbalanced,
        f"{len(parties[0].positions)} intervals x {len(parties)} parties"
        + (f"; not in {', '.join(unbalanced[:5])}" if unbalanced else ""),
    )


def _statements_add_up(parties: Sequence[PartyFigures]) -> Check:
    wrong = []
    for party in parties:
        statement = party.statement
        forward = sum((p.cost for p in party.positions), Decimal(0))
        financial = sum((p.cost for p in party.financial_positions), Decimal(0))
        if (
            statement.forward_cost != forward
            or statement.financial_cost != financial
            or statement.total != sum(_figures(statement), Decimal(0))
        ):
            wrong.append(party.party_id)
    return Check(
        "every settlement = forward cost (the cost of its physical positions) + balancing cost "
        "+ option premiums + financial cost (the cost of its financial positions) + cash-outs",
        not wrong,
        f"{len(parties)} statements" + (f"; not {', '.join(wrong[:5])}" if wrong else ""),
    )


def _statements_as_expected(
    parties: Sequence[PartyFigures], expected: Mapping[str, tuple[Decimal, ...]]
) -> Check:
    wrong = []
    for party in parties:
        if party.party_id not in expected:
            continue
        if _figures(party.statement) != expected[party.party_id]:
            wrong.append(party.party_id)
    return Check(
        "every customer's and the hedger's settlement is what temix.settlement makes of its "
        "own trades, meter readings and the balancing and index prices",
        not wrong,
        f"{len(expected)} parties" + (f"; not {', '.join(wrong[:5])}" if wrong else ""),
    )


def _books_balance(parties: Sequence[PartyFigures], units: MarketUnits) -> Check:
    statements = [party.statement for party in parties]
    rounding = trade_rounding(statements, units)

    def total(figure: str) -> Decimal:
        return sum((getattr(s, figure) for s in statements), Decimal(0))

    sums = {
        "forward": (total("forward_cost"), Decimal(0)),
        "premiums": (total("premiums"), Decimal(0)),
        "financial": (total("financial_cost"), Decimal(0)),
        "balancing and cash-outs": (total("balancing_cost") + total("cash_out_cost"), rounding),
        "total": (total("total"), rounding),
    }
    off = [f"{name} {value}" for name, (value, bound) in sums.items() if abs(value) > bound]
    return Check(
        "the market's books balance: forward costs, financial costs and premiums sum to zero "
        "over all parties, balancing and cash-out costs and totals to within their trades' "
        f"rounding ({rounding})",
        not off,
        f"{len(statements)} statements" + (f"; off: {', '.join(off)}" if off else ""),
    )


def reconcile(
    parties: Sequence[PartyFigures],
    expected: Mapping[str, tuple[Decimal, ...]],
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
