"""Financial (cash-settled) deals (TeMIX paper 1.1, 2.5, 2.10, 2.11, 3.5).

"Forward TeMIX transactions accumulate in forward physical and financial positions. Financial,
hedge positions are cash-settled, perhaps based on an index of market clearing prices. Forward
physical positions are compared to metered delivery" (TeMIX paper 2.10). A financial deal
carries no delivery obligation: it is in the financial position and never in the physical one,
no delivery is reported against it, and settlement cashes its position out at the market's
index price in each index interval, as a physical position with nothing metered would be
balanced. "A Transport product is financial or physical" (2.11): a financial transport deal
from A to B is a position at both nodes, cashed out at each node's index price.

The tests trade in the market context the input ``financial-market-context`` names (one whose
terms declare an index price source) and settle in the ``settlement-day``, for which the
inputs ``index-price`` and ``other-index-price`` give the index price of every interval at the
node and at the other node. An endpoint may hold other runs' deals in that day, so the tests
recompute each statement from the financial positions the endpoint itself reports.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from temix.client import Refused
from temix.conformance.cases.positions import (
    Change,
    describe,
    expect_changes,
    expected_change,
    read_positions,
    require_durations,
    show,
    trade,
)
from temix.conformance.cases.settlement import (
    expect_total,
    judge_trades,
    published,
    settlement_day,
)
from temix.conformance.cases.transactions import transaction_seen
from temix.conformance.catalogue import Failed, case
from temix.conformance.trial import Trial
from temix.model import (
    Delivery,
    Interval,
    Location,
    MarketContext,
    MeterReading,
    Settlement,
    SettlementTerm,
    Side,
    TransportPath,
)
from temix.settlement import SettlementStatement

FINANCIAL_READ_BACK = "TMX-FIN-001"
FINANCIAL = Settlement.FINANCIAL
PHYSICAL = Settlement.PHYSICAL


def financial_market(trial: Trial) -> MarketContext:
    """The market context of the input ``financial-market-context``, which must declare where
    its index price comes from."""
    market = trial.run.market(trial.input("financial-market-context"))
    trial.expect(
        market.index_price_source is not None,
        f"market context {market.uri} declares no tmx:indexPriceSource: financial deals "
        "cannot be cashed out in it",
    )
    return market


def expect_settlement_term(trial: Trial, refusal: Refused, what: str) -> None:
    trial.expect(
        SettlementTerm(FINANCIAL) in refusal.violated_terms,
        f"{what} is refused without naming the tmx:settlement term in responseTermsViolated "
        f"(it names {refusal.violated_terms or 'none'})",
    )


@case(
    FINANCIAL_READ_BACK,
    "A financial tender reads back financial, and accepting it makes a financial transaction "
    "for both parties",
    "TeMIX paper 2.5 (positions can be physical or financial), 2.10; temix profile: "
    "docs/profile.md Physical and financial",
    requires=["financial", "power"],
)
def financial_read_back(trial: Trial) -> None:
    market = financial_market(trial)
    tender = trial.tender(
        side=Side.SELL, quantity="3", price="40", market=market, settlement=FINANCIAL
    )
    trial.offer(tender)
    listed = trial.succeeds(
        lambda: trial.client(trial.counterparty).request_tenders(tender_ids=(tender.tender_id,)),
        f"{trial.counterparty} reading tender {tender.tender_id}",
    )
    trial.expect(len(listed) == 1, f"{trial.counterparty} reads {len(listed)} tenders")
    trial.expect(
        listed[0].product.settlement is FINANCIAL,
        f"the financial tender {tender.tender_id} reads back {listed[0].product.settlement}",
    )
    transaction_id = trial.new_id()
    trial.succeeds(
        lambda: trial.client(trial.counterparty).accept(
            tender, trial.party, transaction_id=transaction_id
        ),
        f"{trial.counterparty} accepting the financial tender",
    )
    for party in (trial.party, trial.counterparty):
        seen = transaction_seen(trial, party, transaction_id)
        trial.expect(seen is not None, f"{party} does not read transaction {transaction_id}")
        trial.expect(
            seen.product.settlement is FINANCIAL,
            f"{party} reads the financial deal {transaction_id} as {seen.product.settlement}",
        )


@case(
    "TMX-FIN-002",
    "A financial deal moves both parties' financial positions and neither physical one",
    "TeMIX paper 2.10 (forward physical and financial positions), 2.5; temix profile: "
    "docs/server.md EiRequestPosition",
    requires=["financial", "positions", "power"],
    after=[FINANCIAL_READ_BACK],
)
def financial_positions_apart(trial: Trial) -> None:
    market = financial_market(trial)
    hour = trial.interval(market=market)
    seller, buyer = trial.party, trial.counterparty

    def positions(party: str, settlement: Settlement):
        return read_positions(trial, party, hour, market=market, settlement=settlement)

    before = {(p, s): positions(p, s) for p in (seller, buyer) for s in Settlement}
    trade(
        trial,
        seller,
        buyer,
        quantity="6",
        price="40",
        interval=hour,
        market=market,
        settlement=FINANCIAL,
    )
    for party, side in ((seller, Side.SELL), (buyer, Side.BUY)):
        moved = expected_change(market, side, "6", "40", hour, hour)
        whose = f"the {side.value}er {party}'s"
        expect_changes(
            trial,
            before[party, FINANCIAL],
            positions(party, FINANCIAL),
            [moved],
            f"{whose} financial",
            market=market,
        )
        expect_changes(
            trial,
            before[party, PHYSICAL],
            positions(party, PHYSICAL),
            [Change()],
            f"{whose} physical",
            market=market,
        )


@case(
    "TMX-FIN-003",
    "A delivery reported against a financial deal is refused naming the tmx:settlement term "
    "and stores nothing; one against a physical deal is stored",
    "TeMIX paper 2.10 (forward physical positions are compared to metered delivery; financial "
    "ones are cash-settled); temix profile: docs/server.md EiCreateDelivery",
    requires=["financial", "delivery", "power"],
    after=[FINANCIAL_READ_BACK],
)
def no_delivery_against_financial(trial: Trial) -> None:
    market = financial_market(trial)
    consumer = trial.counterparty
    deals = {}
    for settlement in Settlement:
        hour = trial.interval(market=market)
        transaction_id = trade(
            trial,
            trial.party,
            consumer,
            quantity="2",
            price="40",
            interval=hour,
            market=market,
            settlement=settlement,
        )
        reading = MeterReading(
            hour, Decimal(2), market.uri, trial.node, market.power_unit, transaction_id
        )
        deals[settlement] = (hour, Delivery(trial.new_id(), False, (reading,)))
    hour, delivery = deals[FINANCIAL]
    what = f"{consumer} reporting delivery against its financial deal"
    refusal = trial.refused(lambda: trial.client(consumer).report_delivery(delivery), what, "422")
    expect_settlement_term(trial, refusal, what)
    listed = trial.succeeds(
        lambda: trial.client(consumer).request_deliveries(
            market_contexts=(market.uri,), intervals=(hour,)
        ),
        f"{consumer} listing its deliveries over {describe(hour)}",
    )
    trial.expect(
        delivery.uid not in {each.uid for each in listed},
        f"the refused delivery {delivery.uid} against a financial deal was stored",
    )
    _, physical = deals[PHYSICAL]
    trial.succeeds(
        lambda: trial.client(consumer).report_delivery(physical),
        f"{consumer} reporting delivery against its physical deal",
    )


def statement_at(
    trial: Trial, party: str, market: MarketContext, node: Location, period: Interval
) -> SettlementStatement:
    reply = trial.succeeds(
        lambda: trial.client(party).request_settlement(market.uri, node, period),
        f"{party} asking for its settlement at {node.id} over {describe(period)}",
    )
    statement = reply.statement
    trial.expect(statement is not None, "the settlement reply holds no statement")
    return statement


def expect_cashed_out(
    trial: Trial,
    party: str,
    market: MarketContext,
    node: Location,
    period: Interval,
    price_input: str,
) -> SettlementStatement:
    """Fail unless ``party``'s statement at ``node`` over ``period`` books the financial
    positions the endpoint reports over each metering interval: their cost, and one cash-out
    per interval with a position, closing it at the index price (``price_input``)."""
    step = market.interval_granularity
    intervals = list(period.split(step))
    positions = read_positions(
        trial, party, *intervals, interface=node, market=market, settlement=FINANCIAL
    )
    statement = statement_at(trial, party, market, node, period)
    cost = sum((Fraction(position.cost) for position in positions), Fraction(0))
    trial.expect(
        Fraction(statement.financial_cost) == cost,
        f"{party}'s financial cost at {node.id} is {statement.financial_cost}, its financial "
        f"positions over {describe(period)} cost {show(cost)}",
    )
    held = {position.interval: -Fraction(position.net_rate) for position in positions}
    received = judge_trades(
        trial, statement.cash_outs, held, market, price_input=price_input, kind="cash-out"
    )
    trial.expect(
        Fraction(statement.cash_out_cost) == received,
        f"the cash-out cost is {statement.cash_out_cost}, its trades add up to {show(received)}",
    )
    trial.expect(
        not statement.balancing_trades,
        f"{party} metered nothing at {node.id} over {describe(period)}, yet its statement "
        f"holds {len(statement.balancing_trades)} balancing trade(s)",
    )
    expect_total(trial, statement)
    return statement


@case(
    "TMX-FIN-004",
    "Settlement cashes financial positions out at the index price in each interval, books "
    "no balancing trade for them, and adds up, for buyer and seller",
    "TeMIX paper 2.10 (financial, hedge positions are cash-settled, perhaps based on an index "
    "of market clearing prices), 3.5; temix profile: docs/profile.md Settlement",
    requires=["financial", "settlement", "positions", "power"],
    after=[FINANCIAL_READ_BACK],
)
def cashed_out_at_the_index(trial: Trial) -> None:
    market = financial_market(trial)
    require_durations(market, timedelta(hours=1))
    day = settlement_day(trial, market)
    hour = Interval(day.start + timedelta(hours=14), timedelta(hours=1))
    trade(
        trial,
        trial.party,
        trial.counterparty,
        quantity="12",
        price="40",
        interval=hour,
        market=market,
        settlement=FINANCIAL,
    )
    for party in (trial.party, trial.counterparty):
        expect_cashed_out(trial, party, market, trial.node, hour, "index-price")


@case(
    "TMX-FIN-005",
    "A financial transport deal from A to B is a financial position at both nodes, cashed out "
    "at each node's index price: the holder receives (index at B minus index at A) x energy",
    "TeMIX paper 2.11 (a Transport product is financial or physical), 1.1 (financial "
    "transport hedges); temix profile: docs/profile.md Settlement",
    requires=["financial", "settlement", "positions", "transport"],
    after=[FINANCIAL_READ_BACK],
)
def financial_transport_hedge(trial: Trial) -> None:
    market = financial_market(trial)
    require_durations(market, timedelta(hours=1))
    day = settlement_day(trial, market)
    hour = Interval(day.start + timedelta(hours=16), timedelta(hours=1))
    path = TransportPath(trial.node.id, trial.other_node.id)
    holder = trial.counterparty
    ends = {"receipt": trial.node, "delivery": trial.other_node}
    before = {
        end: read_positions(
            trial, holder, hour, interface=node, market=market, settlement=FINANCIAL
        )
        for end, node in ends.items()
    }
    trade(
        trial,
        trial.party,
        holder,
        quantity="12",
        price="3",
        interval=hour,
        interface=path,
        market=market,
        settlement=FINANCIAL,
    )
    moved = {
        "receipt": expected_change(market, Side.SELL, "12", "0", hour, hour),
        "delivery": expected_change(market, Side.BUY, "12", "3", hour, hour),
    }
    for end, node in ends.items():
        after = read_positions(
            trial, holder, hour, interface=node, market=market, settlement=FINANCIAL
        )
        expect_changes(
            trial,
            before[end],
            after,
            [moved[end]],
            f"the holder {holder}'s {node.id} financial",
            market=market,
        )
    prices = {"receipt": "index-price", "delivery": "other-index-price"}
    for end, node in ends.items():
        expect_cashed_out(trial, holder, market, node, hour, prices[end])


@case(
    "TMX-FIN-006",
    "Financial and physical transactions are published apart",
    "TeMIX paper 2.12 (publication of transacted prices and quantities), 2.10; temix "
    "profile: docs/server.md EiRequestPublication",
    requires=["financial", "publication", "power"],
    after=[FINANCIAL_READ_BACK],
)
def published_apart(trial: Trial) -> None:
    market = financial_market(trial)
    hour = trial.interval(market=market)
    reader = trial.third_party
    before = {
        settlement: published(trial, reader, (hour,), market=market, settlement=settlement)[0]
        for settlement in Settlement
    }
    trade(
        trial,
        trial.party,
        trial.counterparty,
        quantity="4",
        price="40",
        interval=hour,
        market=market,
        settlement=FINANCIAL,
    )
    for settlement, more in ((FINANCIAL, 1), (PHYSICAL, 0)):
        (after,) = published(trial, reader, (hour,), market=market, settlement=settlement)
        if after.count != before[settlement].count + more:
            raise Failed(
                f"after one financial transaction over {describe(hour)} the {settlement} "
                f"publication counts {after.count} transactions, {before[settlement].count} "
                "before"
            )
