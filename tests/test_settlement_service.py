"""Metered delivery, settlement and publication through the SOAP application."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from bindings import SERVICE_MATRIX
from market import (
    MARKET,
    NODE_A,
    TOMORROW_3PM,
    TestMarket,
    acceptance,
    create_tender,
    create_transaction,
    tender,
)
from temix import payloads as p
from temix.model import Delivery, Interval, MeterReading, Side, TransportPath
from temix.settlement import PriceKind

REP = "rep"
CUSTOMER = "customer"
FIRST_HOUR = Interval(TOMORROW_3PM.start, timedelta(hours=1))


pytestmark = SERVICE_MATRIX


@pytest.fixture
def market(database_url: str, binding: str) -> TestMarket:
    opened = TestMarket(database_url, binding)
    offered = tender("T-1", side=Side.SELL, quantity="4", price="40")
    opened.send(create_tender("r1", REP, CUSTOMER, offered))
    opened.send(create_transaction("r2", CUSTOMER, REP, acceptance(offered, "TX-1")))
    yield opened
    opened.close()


def _withdrawal(rate: str, uid: str = "M-1") -> Delivery:
    return Delivery(uid, False, (MeterReading(FIRST_HOUR, Decimal(rate), MARKET, NODE_A),))


def test_deliveries_are_stored_with_ids_and_read_back_by_their_party_only(market) -> None:
    created = market.send(p.CreateDelivery("r3", CUSTOMER, (_withdrawal("5"),)))
    assert created.response.code == "200"
    (stored,) = created.deliveries
    assert stored.delivery_id and stored.created == market.clock.now
    assert market.send(p.RequestDelivery("r4", CUSTOMER)).deliveries == (stored,)
    assert market.send(p.RequestDelivery("r5", REP)).deliveries == ()
    assert market.send(p.RequestDelivery("r6", REP, CUSTOMER)).response.code == "403"
    foreign = Delivery("M-2", True, (MeterReading(FIRST_HOUR, Decimal(1), "urn:unknown", NODE_A),))
    refused = market.send(p.CreateDelivery("r7", CUSTOMER, (foreign,)))
    assert [item.code for item in refused.responses] == ["404"]
    assert refused.deliveries == ()


def test_a_shortfall_is_bought_at_the_balancing_price(market) -> None:
    market.send(p.CreateDelivery("r3", CUSTOMER, (_withdrawal("5"),)))
    request = p.RequestSettlement("r4", CUSTOMER, CUSTOMER, MARKET, NODE_A, FIRST_HOUR)
    not_yet = market.send(request)
    assert not_yet.response.code == "409"
    assert "no balancing price" in not_yet.response.description
    assert not_yet.statement is None
    with market.store.transaction() as unit:
        unit.set_price(PriceKind.BALANCING, MARKET, NODE_A.id, FIRST_HOUR, Decimal("60"))
    reply = market.send(p.RequestSettlement("r5", CUSTOMER, CUSTOMER, MARKET, NODE_A, FIRST_HOUR))
    assert reply.response.code == "200", reply.response.description
    statement = reply.statement
    assert statement.forward_cost == Decimal("-160")
    assert statement.balancing_cost == Decimal("-60")
    assert statement.total == Decimal("-220")
    (trade,) = statement.balancing_trades
    assert (trade.side, trade.rate, trade.price, trade.amount) == (
        Side.BUY,
        Decimal(1),
        Decimal(60),
        Decimal(60),
    )
    assert reply.currency == "USD"


def test_settlement_is_private_and_at_a_node(market) -> None:
    other = market.send(p.RequestSettlement("r3", REP, CUSTOMER, MARKET, NODE_A, FIRST_HOUR))
    assert other.response.code == "403"
    path = TransportPath("NODE-A", "NODE-B")
    on_path = market.send(p.RequestSettlement("r4", CUSTOMER, CUSTOMER, MARKET, path, FIRST_HOUR))
    assert on_path.response.code == "400"


def test_transacted_prices_are_published_to_everyone(market) -> None:
    reply = market.send(p.RequestPublication("r3", "anyone", MARKET, NODE_A, (TOMORROW_3PM,)))
    assert reply.response.code == "200"
    (published,) = reply.publications
    assert (published.count, published.total_rate, published.average_price) == (
        1,
        Decimal(4),
        Decimal(40),
    )
    empty = market.send(p.RequestPublication("r4", "anyone", MARKET, NODE_A, (FIRST_HOUR,)))
    assert empty.publications[0].count == 0
    unknown = market.send(p.RequestPublication("r5", "anyone", "urn:x", NODE_A, (FIRST_HOUR,)))
    assert unknown.response.code == "404"
    assert unknown.publications == ()
