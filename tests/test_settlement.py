"""Settlement and publication as a party relies on them: balancing, premiums, reconciliation."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_positions import KW, KWH, MARKET, MW, NODE_A, NODE_B, TZ, call_option, exercise, trade

from temix.model import (
    Delivery,
    Interval,
    Location,
    MeterReading,
    OptionTerms,
    OptionType,
    PowerDescription,
    PowerUnit,
    Product,
    Side,
    SiScale,
    Transaction,
    TransactionRecord,
    TransactiveState,
    TransportPath,
)
from temix.positions import Deal, deals_of, position
from temix.settlement import (
    Publication,
    SettlementError,
    SettlementTrade,
    publication,
    settle,
)

QUARTER = timedelta(minutes=15)
BLOCK = Interval(datetime(2026, 7, 1, 15, tzinfo=UTC), timedelta(hours=2))
QUARTERS = BLOCK.split(QUARTER)
HOURS = BLOCK.split(timedelta(hours=1))
_ids = itertools.count()


def metered(
    injection: bool,
    *readings: tuple[Interval, str],
    power: PowerUnit = MW,
    where: Location = NODE_A,
) -> Delivery:
    """A metered delivery of the average rates ``readings`` (power put in if ``injection``)."""
    return Delivery(
        f"delivery-{next(_ids)}",
        injection,
        tuple(MeterReading(i, Decimal(rate), MARKET, where, power) for i, rate in readings),
    )


def test_emix_377_a_quarter_hour_surplus_of_0_05_mwh_is_sold_at_the_balancing_price() -> None:
    # 1 MW from 3 to 5 PM at $80; the first quarter hour delivers 0.3 MWh instead of 0.25.
    deals = trade("generator", "retailer", BLOCK, "1", "80")
    delivery = metered(True, (QUARTERS[0], "1.2"), *((q, "1") for q in QUARTERS[1:]))
    statement = settle(deals, [delivery], "generator", NODE_A, BLOCK, {QUARTERS[0]: Decimal(90)})
    assert statement.balancing_trades == (
        SettlementTrade(
            QUARTERS[0], Side.SELL, Decimal("0.2"), Decimal(90), Decimal("0.05"), Decimal("4.5")
        ),
    )
    assert (statement.forward_cost, statement.balancing_cost, statement.premiums) == (160, 4.5, 0)
    assert statement.total == Decimal("164.5")


def test_a_customer_that_takes_more_than_it_bought_buys_the_shortfall() -> None:
    period = HOURS[0]
    deals = trade("generator", "retailer", period, "1", "80")
    quarters = period.split(QUARTER)
    delivery = metered(False, (quarters[0], "1200"), *((q, "1000") for q in quarters[1:]), power=KW)
    statement = settle(deals, [delivery], "retailer", NODE_A, period, {quarters[0]: Decimal(100)})
    (shortfall,) = statement.balancing_trades
    assert (shortfall.side, shortfall.rate, shortfall.energy, shortfall.amount) == (
        Side.BUY,
        Decimal("0.2"),
        Decimal("0.05"),
        5,
    )
    assert shortfall.money_received == -5
    assert (statement.forward_cost, statement.balancing_cost, statement.total) == (-80, -5, -85)


def test_a_generator_that_delivers_less_than_it_sold_buys_the_difference() -> None:
    deals = trade("generator", "retailer", QUARTERS[0], "1", "80")
    delivery = metered(True, (QUARTERS[0], "0.8"))
    statement = settle(deals, [delivery], "generator", NODE_A, BLOCK, {QUARTERS[0]: Decimal(120)})
    (shortfall,) = statement.balancing_trades
    assert (shortfall.side, shortfall.rate, shortfall.money_received) == (
        Side.BUY,
        Decimal("0.2"),
        -6,
    )
    assert statement.total == 20 - 6


def test_delivery_that_matches_the_position_needs_no_balancing_and_no_price() -> None:
    deals = trade("generator", "retailer", BLOCK, "1", "80")
    delivery = metered(True, *((q, "1") for q in QUARTERS))
    statement = settle(deals, [delivery], "generator", NODE_A, BLOCK, {})
    assert statement.balancing_trades == ()
    assert (statement.forward_cost, statement.balancing_cost, statement.total) == (160, 0, 160)


def test_injection_and_withdrawal_meters_of_one_interval_net_out() -> None:
    deliveries = [metered(True, (QUARTERS[0], "0.5")), metered(False, (QUARTERS[0], "2"))]
    statement = settle((), deliveries, "home", NODE_A, BLOCK, {QUARTERS[0]: Decimal(100)})
    (shortfall,) = statement.balancing_trades
    assert (shortfall.side, shortfall.rate, shortfall.energy, shortfall.amount) == (
        Side.BUY,
        Decimal("1.5"),
        Decimal("0.375"),
        Decimal("37.5"),
    )


def test_only_metered_intervals_at_the_interface_inside_the_period_are_settled() -> None:
    deals = trade("generator", "retailer", BLOCK, "1", "80")
    deliveries = [
        metered(True, (QUARTERS[0], "1")),
        metered(True, (QUARTERS[1], "5"), where=NODE_B),
        metered(True, (Interval(BLOCK.end, QUARTER), "5")),
    ]
    statement = settle(deals, deliveries, "generator", NODE_A, BLOCK, {})
    assert (statement.forward_cost, statement.balancing_trades) == (20, ())


def test_a_missing_balancing_price_is_refused_naming_the_interval() -> None:
    delivery = metered(True, (QUARTERS[2], "1"))
    with pytest.raises(SettlementError, match=r"no balancing price .*15:30:00"):
        settle((), [delivery], "generator", NODE_A, BLOCK, {QUARTERS[0]: Decimal(90)})


@pytest.mark.parametrize(
    ("readings", "message"),
    [
        (((QUARTERS[0], "1"), (Interval(BLOCK.start, timedelta(hours=1)), "1")), "overlaps"),
        (((Interval(BLOCK.end - QUARTER, 2 * QUARTER), "1"),), "straddles the period"),
    ],
    ids=["overlapping", "straddling"],
)
def test_metered_intervals_that_would_settle_time_twice_or_half_are_refused(
    readings: tuple[tuple[Interval, str], ...], message: str
) -> None:
    with pytest.raises(SettlementError, match=message):
        settle((), [metered(True, *readings)], "generator", NODE_A, BLOCK, {})


def test_the_holder_pays_the_premium_and_its_exercise_settles_like_a_purchase() -> None:
    day = Interval.day(date(2026, 7, 1), TZ)
    evening = Interval(day.start + timedelta(hours=18), timedelta(hours=1))
    options = call_option("retailer", "home", day, "2", "100", "1")
    deals = options + exercise("retailer", "home", options[0], evening, "1.5")
    delivery = metered(False, (evening, "1.5"))

    home = settle(deals, [delivery], "home", NODE_A, day, {})
    # The premium is $1 per MWh of the whole option: 2 MW over 24 hours.
    assert (home.forward_cost, home.balancing_cost, home.premiums, home.total) == (
        -150,
        0,
        -48,
        -198,
    )
    retailer = settle(deals, [], "retailer", NODE_A, day, {})
    assert (retailer.forward_cost, retailer.premiums, retailer.total) == (0, 48, 48)
    next_day = Interval.day(date(2026, 7, 2), TZ)
    assert settle(deals, [], "home", NODE_A, next_day, {}).premiums == 0


def test_a_transport_option_premium_is_booked_where_the_power_is_delivered() -> None:
    hour = HOURS[0]
    options = call_option("wires", "retailer", hour, "2", "5", "3", TransportPath("A", "B"))
    for where, premiums in ((NODE_A, 0), (NODE_B, -6), (TransportPath("A", "B"), -6)):
        assert settle(options, [], "retailer", where, hour, {}).premiums == premiums


def test_publication_reports_each_transaction_once_with_its_volume_weighted_price() -> None:
    hour = Interval(BLOCK.start, timedelta(hours=1))
    deals = (
        trade("generator", "retailer", hour, "1", "80")
        + trade("trader", "retailer", hour, "3", "60")
        + trade("home", "retailer", hour, "500", "0.1", power=KW, energy=KWH)
        + trade("generator", "retailer", BLOCK, "9", "10")
        + trade("generator", "retailer", hour, "9", "10", NODE_B)
        + call_option("retailer", "home", hour, "9", "10", "1")
    )
    assert publication(deals, hour, NODE_A) == Publication(
        hour,
        NODE_A,
        count=3,
        total_rate=Decimal("4.5"),
        average_price=Decimal("68.88888888888888888888888888888889"),  # 310 / 4.5
        min_price=Decimal(60),
        max_price=Decimal(100),
    )


def test_a_publication_of_an_interval_without_transactions_has_no_prices() -> None:
    published = publication((), QUARTERS[0], NODE_A)
    assert (published.count, published.total_rate, published.average_price) == (0, 0, None)
    assert (published.min_price, published.max_price) == (None, None)


# --- reconciliation -----------------------------------------------------------------------------

PARTIES = ("generator", "retailer", "home", "trader")
ALIGNED = (*QUARTERS, *HOURS, BLOCK, Interval.day(date(2026, 7, 1), "UTC"))
INTERFACES = (NODE_A, TransportPath("A", "B"), TransportPath("B", "A"))
rates = st.decimals("0", "50", places=3)


@st.composite
def aligned_deals(draw: st.DrawFn) -> tuple[Deal, ...]:
    """Transactions on quarter hours, hours, the block or the whole day, so every metered
    quarter hour lies wholly inside or outside each one and every figure is exact."""
    deals: list[Deal] = []
    for index in range(draw(st.integers(0, 10))):
        written_by, counterparty = draw(st.permutations(PARTIES))[:2]
        kind = draw(st.sampled_from(["power", "option", "exercise"]))
        price = draw(st.decimals("-50", "500", places=2))
        option = None
        if kind == "option":
            option = OptionTerms(
                OptionType.CALL,
                draw(st.sampled_from(list(Side))),
                price,
                draw(st.decimals("0", "5", places=2)),
                timedelta(0),
                QUARTER,
            )
        product = Product(
            uid=f"product-{index}",
            interval=draw(st.sampled_from(ALIGNED)),
            description=PowerDescription(
                draw(st.sampled_from(INTERFACES)),
                price,
                draw(st.decimals("0.001", "50", places=3)),
                PowerUnit(draw(st.sampled_from([SiScale.KILO, SiScale.MEGA]))),
            ),
            state=TransactiveState.EXERCISE if kind == "exercise" else TransactiveState.TRANSACTION,
            side=draw(st.sampled_from(list(Side))),
            market_context=MARKET,
            option=option,
            related_to="an-option" if kind == "exercise" else None,
        )
        transaction = Transaction(f"transaction-{index}", product)
        deals.extend(deals_of(TransactionRecord.written_by(transaction, written_by, counterparty)))
    return tuple(deals)


meter_data = st.fixed_dictionaries(
    {party: st.lists(st.tuples(rates, rates), min_size=8, max_size=8) for party in PARTIES}
)
balancing_prices = st.lists(st.decimals("-50", "500", places=2), min_size=8, max_size=8)


@settings(max_examples=80, deadline=None)
@given(aligned_deals(), meter_data, balancing_prices)
def test_every_settlement_reconciles_with_positions_metering_and_the_other_parties(
    deals: tuple[Deal, ...],
    meters: dict[str, list[tuple[Decimal, Decimal]]],
    prices: list[Decimal],
) -> None:
    price_of = dict(zip(QUARTERS, prices, strict=True))
    statements = {}
    for party, quarters in meters.items():
        readings = list(zip(QUARTERS, quarters, strict=True))
        injected = metered(True, *((q, str(i)) for q, (i, _) in readings))
        withdrawn = metered(False, *((q, str(w)) for q, (_, w) in readings))
        statement = settle(deals, [injected, withdrawn], party, NODE_A, BLOCK, price_of)
        statements[party] = statement
        held = {q: position(deals, party, NODE_A, q) for q in QUARTERS}
        traded = {t.interval: t for t in statement.balancing_trades}

        assert statement.forward_cost == sum(p.cost for p in held.values())
        for quarter, (injection, withdrawal) in readings:
            balanced = held[quarter].net_rate
            if quarter in traded:
                balancing = traded[quarter]
                assert balancing.price == price_of[quarter]
                balanced += balancing.rate if balancing.side is Side.SELL else -balancing.rate
            assert balanced == injection - withdrawal
        assert statement.balancing_cost == sum(t.money_received for t in traded.values())
        assert statement.total == (
            statement.forward_cost + statement.balancing_cost + statement.premiums
        )

    # Forward deals and premiums only move money between parties; what the parties balance
    # together is what they metered together.
    assert sum(s.forward_cost for s in statements.values()) == 0
    assert sum(s.premiums for s in statements.values()) == 0
    for index, quarter in enumerate(QUARTERS):
        balanced = sum(
            t.rate if t.side is Side.SELL else -t.rate
            for s in statements.values()
            for t in s.balancing_trades
            if t.interval == quarter
        )
        assert balanced == sum(meters[p][index][0] - meters[p][index][1] for p in PARTIES)


def test_a_day_settled_in_five_minute_intervals_adds_up_to_the_day_as_written() -> None:
    """A day-long 1 MW sale at 42.50 metered every five minutes, a third of a MW short in each
    one: the hourly statements add up to the day's exactly as written, each figure to the cent,
    and the forward cost is the day's written position cost."""
    day = Interval.day(date(2026, 7, 1), TZ)
    deals = trade("generator", "retailer", day, "1", "42.5")
    five_minutes = day.split(timedelta(minutes=5))
    delivery = metered(True, *((interval, "0.666") for interval in five_minutes))
    prices = {interval: Decimal("51.37") for interval in five_minutes}
    whole = settle(deals, [delivery], "generator", NODE_A, day, prices)
    hourly = [
        settle(deals, [delivery], "generator", NODE_A, hour, prices)
        for hour in day.split(timedelta(hours=1))
    ]
    assert whole.forward_cost == position(deals, "generator", NODE_A, day).cost == 1020
    for figure in ("forward_cost", "balancing_cost", "premiums", "total"):
        assert sum(getattr(statement, figure) for statement in hourly) == getattr(whole, figure)
    for trade_ in whole.balancing_trades:
        assert trade_.energy == Decimal("0.027833")
        assert trade_.amount == Decimal("1.43")
        assert trade_.amount.as_tuple().exponent >= -2
    assert whole.balancing_cost == Decimal("-411.84")
    assert whole.total == whole.forward_cost + whole.balancing_cost + whole.premiums
