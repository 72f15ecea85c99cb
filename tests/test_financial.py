"""Financial (cash-settled) deals, financial transport hedges and option availability schedules
through the SOAP application (TeMIX paper 2.5, 2.10, 2.11, 3.5 and table 4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from bindings import SERVICE_MATRIX
from market import (
    MARKET,
    NODE_A,
    NODE_B,
    Clock,
    TestMarket,
    acceptance,
    create_tender,
    create_transaction,
    option_terms,
    tender,
)
from temix import payloads as p
from temix import rules
from temix.model import (
    AvailabilitySchedule,
    AvailableWindow,
    Delivery,
    Interval,
    Location,
    MeterReading,
    Recurrence,
    Response,
    Settlement,
    SettlementTerm,
    Side,
    Transaction,
    TransportPath,
)
from temix.server.app import DEVELOPMENT_MARKET
from temix.settlement import PriceKind

pytestmark = SERVICE_MATRIX

RETAIL = replace(
    DEVELOPMENT_MARKET,
    uri="urn:temix:market:retail-financial",
    name="retail market with an index price",
    time_zone="America/Los_Angeles",
    balancing_price_source="urn:prices:real-time-5-minute",
    index_price_source="urn:prices:real-time-5-minute",
)


HOUR = Interval(datetime(2026, 7, 1, 15, 0, tzinfo=UTC), timedelta(hours=1))
FIVE_MINUTES = HOUR.split(timedelta(minutes=5))
# Multiples of 1.20 $/MWh, so that a rate with one decimal over five minutes costs whole cents.
PRICES_A = [
    Decimal(p)
    for p in ["36", "42", "48", "60", "30", "54", "66", "72", "38.4", "45.6", "50.4", "57.6"]
]
PRICES_B = [
    Decimal(p)
    for p in [
        "40.8",
        "43.2",
        "49.2",
        "62.4",
        "31.2",
        "56.4",
        "69.6",
        "75.6",
        "39.6",
        "48",
        "52.8",
        "60",
    ]
]
METERED = [
    Decimal(r)
    for r in ["1.2", "0.8", "1.0", "1.5", "0.6", "1.1", "0.9", "1.3", "1.0", "0.7", "1.4", "1.0"]
]

REP = "rep"
PHYSICAL_CUSTOMER = "customer-physical"
FINANCIAL_CUSTOMER = "customer-financial"


@pytest.fixture
def market(database_url: str, binding: str) -> TestMarket:
    opened = TestMarket(database_url, binding, Clock(datetime(2026, 3, 6, 12, 0, tzinfo=UTC)))
    with opened.store.transaction() as unit:
        unit.put_market_context(RETAIL, opened.clock.now)
        for kind in PriceKind:
            for interval, price in zip(FIVE_MINUTES, PRICES_A, strict=True):
                unit.set_price(kind, RETAIL.uri, NODE_A.id, interval, price)
        for interval, price in zip(FIVE_MINUTES, PRICES_B, strict=True):
            unit.set_price(PriceKind.INDEX, RETAIL.uri, NODE_B.id, interval, price)
    yield opened
    opened.close()


def _deal(market: TestMarket, buyer: str, tender_id: str, **product: object) -> Transaction:
    """``buyer`` accepts all of a tender ``REP`` sells it; the transaction as sent."""
    offered = tender(tender_id, side=Side.SELL, market=RETAIL.uri, **product)
    created = market.send(create_tender(f"c-{tender_id}", REP, buyer, offered))
    assert created.response.code == "200", created.response.description
    accepted = acceptance(offered, f"X-{tender_id}")
    made = market.send(create_transaction(f"a-{tender_id}", buyer, REP, accepted))
    assert made.response.code == "200", made.responses[0].description
    return accepted


def _financial_forward(market: TestMarket) -> Transaction:
    """The financial customer's forward: 1 MW over the hour at 50, cash-settled."""
    return _deal(
        market,
        FINANCIAL_CUSTOMER,
        "T-FIN",
        quantity="1",
        price="50",
        interval=HOUR,
        settlement=Settlement.FINANCIAL,
    )


def _metered(party: str, transaction_id: str | None = None) -> Delivery:
    readings = tuple(
        MeterReading(interval, rate, RETAIL.uri, NODE_A, transaction_id=transaction_id)
        for interval, rate in zip(FIVE_MINUTES, METERED, strict=True)
    )
    return Delivery(f"meter-{party}", False, readings)


def _settle(market: TestMarket, party: str, node: Location = NODE_A) -> p.ReplySettlement:
    reply = market.send(
        p.RequestSettlement(f"s-{party}-{node.id}", party, party, RETAIL.uri, node, HOUR)
    )
    assert reply.response.code == "200", reply.response.description
    return reply


def test_financial_forwards_cashed_out_at_the_5_minute_prices_cost_what_physical_ones_do(
    market,
) -> None:
    """TeMIX paper 3.5: forward transactions that are financial are cashed out at the 5-minute
    real-time prices and the proceeds offset the full cost of energy delivered at those prices;
    the customer ends where a physical forward balanced at the same prices leaves it."""
    physical = _deal(
        market, PHYSICAL_CUSTOMER, "T-PHY", quantity="1", price="50", interval=HOUR
    ).transaction_id
    _financial_forward(market)
    for party, against in ((PHYSICAL_CUSTOMER, physical), (FINANCIAL_CUSTOMER, None)):
        created = market.send(p.CreateDelivery(f"d-{party}", party, (_metered(party, against),)))
        assert created.response.code == "200", created.responses[0].description

    physical_statement = _settle(market, PHYSICAL_CUSTOMER).statement
    financial_statement = _settle(market, FINANCIAL_CUSTOMER).statement

    shortfall = sum(
        (
            Fraction(rate - 1) * Fraction(price) / 12
            for rate, price in zip(METERED, PRICES_A, strict=True)
        ),
        Fraction(0),
    )
    expected = Decimal(-50) - Decimal(shortfall.numerator) / Decimal(shortfall.denominator)
    assert expected == expected.quantize(Decimal("0.01"))
    assert physical_statement.total == financial_statement.total == expected

    assert physical_statement.forward_cost == Decimal(-50)
    assert physical_statement.financial_cost == physical_statement.cash_out_cost == 0
    assert physical_statement.cash_outs == ()

    assert financial_statement.forward_cost == 0
    assert financial_statement.financial_cost == Decimal(-50)
    delivered = sum(rate * price / 12 for rate, price in zip(METERED, PRICES_A, strict=True))
    assert financial_statement.balancing_cost == -delivered
    assert financial_statement.cash_out_cost == sum(PRICES_A) / 12
    assert [trade.side for trade in financial_statement.cash_outs] == [Side.SELL] * 12
    assert financial_statement.physical_total + financial_statement.financial_total == expected
    for statement in (physical_statement, financial_statement):
        for trade in statement.balancing_trades + statement.cash_outs:
            assert trade.amount == (trade.price * trade.energy).quantize(Decimal("0.01"))


def test_a_financial_transport_hedge_settles_at_the_node_price_difference(market) -> None:
    """Section 2.11: a financial transport deal from A to B pays its holder (index at B minus
    index at A) x energy, less the transport price; the writer has the opposite, exactly."""
    path = TransportPath(NODE_A.id, NODE_B.id)
    _deal(
        market,
        "hedger",
        "T-FTR",
        quantity="2",
        price="3",
        interval=HOUR,
        interface=path,
        settlement=Settlement.FINANCIAL,
    )
    difference = sum((b - a) * 2 / 12 for a, b in zip(PRICES_A, PRICES_B, strict=True))
    assert difference == Decimal("4.80")
    for party, sign in (("hedger", 1), (REP, -1)):
        at_a = _settle(market, party, NODE_A).statement
        at_b = _settle(market, party, NODE_B).statement
        assert at_a.financial_cost == 0
        assert at_b.financial_cost == sign * Decimal(-6)
        assert at_a.cash_out_cost + at_b.cash_out_cost == sign * difference
        assert at_a.total + at_b.total == sign * (difference - 6)
        assert at_a.forward_cost == at_a.balancing_cost == at_b.balancing_cost == 0


def test_financial_and_physical_positions_and_publications_are_reported_apart(market) -> None:
    _deal(market, PHYSICAL_CUSTOMER, "T-P", quantity="1", price="50", interval=HOUR)
    _deal(
        market,
        PHYSICAL_CUSTOMER,
        "T-F",
        quantity="3",
        price="40",
        interval=HOUR,
        settlement=Settlement.FINANCIAL,
    )
    figures = {}
    for settlement in Settlement:
        asked = p.RequestPosition(
            f"pos-{settlement}", REP, REP, RETAIL.uri, NODE_A, (HOUR,), settlement
        )
        reply = market.send(asked)
        assert reply.settlement is settlement
        (position,) = reply.positions
        published = market.send(
            p.RequestPublication(
                f"pub-{settlement}", "anyone", RETAIL.uri, NODE_A, (HOUR,), settlement
            )
        )
        assert published.settlement is settlement
        (publication,) = published.publications
        figures[settlement] = (position.net_rate, position.cost, publication.average_price)
    assert figures == {
        Settlement.PHYSICAL: (Decimal(1), Decimal(50), Decimal(50)),
        Settlement.FINANCIAL: (Decimal(3), Decimal(120), Decimal(40)),
    }


def test_a_delivery_reported_against_a_financial_deal_is_refused_and_stores_nothing(
    market,
) -> None:
    financial = _financial_forward(market).transaction_id
    refused = market.send(
        p.CreateDelivery("d-1", FINANCIAL_CUSTOMER, (_metered(FINANCIAL_CUSTOMER, financial),))
    )
    (answer,) = refused.responses
    assert answer.code == "422"
    assert "carries no delivery obligation" in answer.description
    assert [v.term for v in answer.terms_violated] == [SettlementTerm(Settlement.FINANCIAL)]
    assert refused.deliveries == ()
    assert market.send(p.RequestDelivery("d-2", FINANCIAL_CUSTOMER)).deliveries == ()
    unknown = market.send(
        p.CreateDelivery("d-3", FINANCIAL_CUSTOMER, (_metered(FINANCIAL_CUSTOMER, "X-NONE"),))
    )
    assert [item.code for item in unknown.responses] == ["404"]


def test_a_financial_deal_needs_a_market_with_an_index_price(market) -> None:
    offered = tender("T-1", side=Side.SELL, market=MARKET, settlement=Settlement.FINANCIAL)
    refused = market.send(create_tender("c-1", REP, PHYSICAL_CUSTOMER, offered))
    (answer,) = refused.responses
    assert answer.code == "422"
    assert "declares no index price" in answer.description
    assert [v.term for v in answer.terms_violated] == [SettlementTerm(Settlement.FINANCIAL)]


# March 8 2026 is the day Los Angeles moves from PST (UTC-8) to PDT (UTC-7).
OPTION_DAYS = Interval.between(
    datetime(2026, 3, 7, 8, 0, tzinfo=UTC), datetime(2026, 3, 9, 7, 0, tzinfo=UTC)
)
AFTERNOONS = AvailabilitySchedule(
    (AvailableWindow(datetime(2026, 3, 1, 14, 0), timedelta(hours=4), Recurrence.DAILY),)
)


def _exercise_at(market: TestMarket, option: Transaction, start: datetime, n: int) -> Response:
    exercise = rules.exercise(option, Interval(start, timedelta(hours=1)), Decimal(1), f"E-{n}")
    reply = market.send(create_transaction(f"e-{n}", "holder", REP, exercise))
    (answer,) = reply.responses
    return answer


def test_an_option_is_exercised_inside_its_availability_window_and_not_outside_on_a_dst_day(
    market,
) -> None:
    terms = replace(option_terms(), availability=AFTERNOONS)
    option = _deal(
        market, "holder", "T-OPT", quantity="2", price="50", interval=OPTION_DAYS, option=terms
    )
    tried = {
        "13:00 PST, Saturday": datetime(2026, 3, 7, 21, 0, tzinfo=UTC),
        "14:00 PST, Saturday": datetime(2026, 3, 7, 22, 0, tzinfo=UTC),
        "14:00 PDT, Sunday (DST)": datetime(2026, 3, 8, 21, 0, tzinfo=UTC),
        "17:00 PDT, Sunday (DST)": datetime(2026, 3, 9, 0, 0, tzinfo=UTC),
        "18:00 PDT, Sunday (DST)": datetime(2026, 3, 9, 1, 0, tzinfo=UTC),
    }
    answers = {
        name: _exercise_at(market, option, start, n)
        for n, (name, start) in enumerate(tried.items())
    }
    assert {name: answer.code for name, answer in answers.items()} == {
        "13:00 PST, Saturday": "422",
        "14:00 PST, Saturday": "200",
        "14:00 PDT, Sunday (DST)": "200",
        "17:00 PDT, Sunday (DST)": "200",
        "18:00 PDT, Sunday (DST)": "422",
    }
    refused = answers["13:00 PST, Saturday"]
    assert "outside the option's availability schedule" in refused.description
    assert "America/Los_Angeles" in refused.description
    assert [v.term for v in refused.terms_violated] == [AFTERNOONS]


def test_an_option_on_a_financial_transport_hedge_exercises_into_a_financial_deal(market) -> None:
    """Section 2.11: options on financial transport too; the exercise settles as its option
    does, so it moves the holder's financial positions at both nodes and no physical one."""
    option = _deal(
        market,
        "holder",
        "T-FTR-OPT",
        quantity="2",
        price="3",
        interval=HOUR,
        interface=TransportPath(NODE_A.id, NODE_B.id),
        option=option_terms(strike="3"),
        settlement=Settlement.FINANCIAL,
    )
    exercised = _exercise_at(market, option, HOUR.start, 0)
    assert exercised.code == "200", exercised.description
    (made,) = market.send(
        p.RequestTransaction("t-fo", "holder", "holder", transaction_ids=("E-0",))
    ).transactions
    assert made.product.settlement is Settlement.FINANCIAL
    for node, rate in ((NODE_A, Decimal(1)), (NODE_B, Decimal(-1))):
        for settlement, expected in ((Settlement.FINANCIAL, rate), (Settlement.PHYSICAL, 0)):
            asked = p.RequestPosition(
                f"p-{node.id}-{settlement}",
                "holder",
                "holder",
                RETAIL.uri,
                node,
                (HOUR,),
                settlement,
            )
            (position,) = market.send(asked).positions
            assert position.net_rate == expected, (node, settlement)
    at_a = _settle(market, "holder", NODE_A).statement
    at_b = _settle(market, "holder", NODE_B).statement
    difference = sum((b - a) / 12 for a, b in zip(PRICES_A, PRICES_B, strict=True))
    assert at_a.cash_out_cost + at_b.cash_out_cost == difference
