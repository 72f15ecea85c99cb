"""Net positions as a party relies on them: the seeds' numbers, nesting, transport, options."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from temix.model import (
    EnergyUnit,
    Interface,
    InterfaceKind,
    Interval,
    Location,
    ModelError,
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
    written,
)
from temix.positions import (
    Deal,
    MarketUnits,
    deals_of,
    exact_position,
    net_positions,
    position,
    positions,
)

MARKET = "http://market.example/retail"
TZ = "America/Chicago"
MW = PowerUnit(SiScale.MEGA)
KW = PowerUnit(SiScale.KILO)
MWH = EnergyUnit(SiScale.MEGA)
KWH = EnergyUnit(SiScale.KILO)
KILOWATT_MARKET = MarketUnits(KW, KWH)
NODE_A = Location("A")
NODE_B = Location("B")
A_TO_B = TransportPath("A", "B")
FIVE_MINUTES = timedelta(minutes=5)
_ids = itertools.count()


def _at(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 7, day, hour, minute, tzinfo=UTC)


def trade(
    seller: str,
    buyer: str,
    interval: Interval,
    rate: str,
    price: str,
    interface: Interface = NODE_A,
    *,
    power: PowerUnit = MW,
    energy: EnergyUnit = MWH,
) -> tuple[Deal, Deal]:
    """``buyer`` accepts ``seller``'s sell tender: the transaction is written from the buy side."""
    product = Product(
        uid=f"product-{next(_ids)}",
        interval=interval,
        description=PowerDescription(interface, Decimal(price), Decimal(rate), power, energy),
        state=TransactiveState.TRANSACTION,
        side=Side.BUY,
        market_context=MARKET,
    )
    transaction = Transaction(f"transaction-{next(_ids)}", product, tender_id="tender")
    return deals_of(TransactionRecord.written_by(transaction, buyer, seller))


def call_option(
    writer: str,
    holder: str,
    interval: Interval,
    rate: str,
    strike: str,
    premium: str,
    interface: Interface = NODE_A,
) -> tuple[Deal, Deal]:
    """``holder`` buys a call option from ``writer``: the right to buy ``rate`` at ``strike``."""
    terms = OptionTerms(
        OptionType.CALL,
        Side.BUY,
        Decimal(strike),
        Decimal(premium),
        timedelta(0),
        interval.duration,
    )
    product = Product(
        uid=f"option-{next(_ids)}",
        interval=interval,
        description=PowerDescription(interface, Decimal(strike), Decimal(rate)),
        state=TransactiveState.TRANSACTION,
        side=Side.BUY,
        market_context=MARKET,
        option=terms,
    )
    transaction = Transaction(f"option-transaction-{next(_ids)}", product, tender_id="tender")
    return deals_of(TransactionRecord.written_by(transaction, holder, writer))


def exercise(
    writer: str, holder: str, option: Deal, interval: Interval, rate: str
) -> tuple[Deal, Deal]:
    """``holder`` calls ``rate`` of ``option`` over ``interval``: it buys at the strike price."""
    product = Product(
        uid=f"exercise-{next(_ids)}",
        interval=interval,
        description=PowerDescription(NODE_A, option.product.description.price, Decimal(rate)),
        state=TransactiveState.EXERCISE,
        side=Side.BUY,
        market_context=MARKET,
        related_to=option.transaction.transaction_id,
    )
    transaction = Transaction(f"exercise-{next(_ids)}", product)
    return deals_of(TransactionRecord.written_by(transaction, holder, writer))


def _rounded(rate: Fraction | int, energy: Fraction | int, cost: Fraction | int) -> tuple:
    """Figures as written to the default 6 (energy, rate) and 2 (money) decimal places."""
    return written(Fraction(rate), 6), written(Fraction(energy), 6), written(Fraction(cost), 2)


def _figures(
    deals: tuple[Deal, ...], party: str, interface: Interface, interval: Interval
) -> tuple:
    held = position(deals, party, interface, interval)
    assert held.interval == interval
    return held.net_rate, held.energy, held.cost


def test_emix_377_one_mw_from_3_to_5_pm_at_80_is_2_mwh_and_160_dollars() -> None:
    block = Interval(_at(15), timedelta(hours=2))
    deals = trade("generator", "retailer", block, "1", "80")
    assert _figures(deals, "generator", NODE_A, block) == (1, 2, 160)
    for quarter in block.split(timedelta(minutes=15)):
        assert _figures(deals, "generator", NODE_A, quarter) == (1, Decimal("0.25"), 20)


def test_a_seller_holds_a_positive_position_and_its_buyer_the_same_negative_one() -> None:
    hour = Interval(_at(15), timedelta(hours=1))
    deals = trade("generator", "retailer", hour, "3", "50")
    assert _figures(deals, "generator", NODE_A, hour) == (3, 3, 150)
    assert _figures(deals, "retailer", NODE_A, hour) == (-3, -3, -150)


def test_a_generator_that_sells_2_mw_and_buys_back_half_a_mw_holds_1_5_mw() -> None:
    # TeMIX paper 2.1: the buy-back may be with another counterparty.
    hour = Interval(_at(15), timedelta(hours=1))
    deals = trade("generator", "retailer", hour, "2", "80") + trade(
        "trader", "generator", hour, "0.5", "60"
    )
    assert _figures(deals, "generator", NODE_A, hour) == (Decimal("1.5"), Decimal("1.5"), 130)


def test_one_kilowatt_over_a_day_is_24_kwh_and_a_twelfth_of_a_kwh_every_five_minutes() -> None:
    """Paper 2.4: "1 kWh in each of the 24 hours ... and 1/12 kWh in each 5-minute interval",
    written to 6 places so that the five-minute figures add up to the hours' exactly."""
    day = Interval.day(date(2026, 7, 1), TZ)
    deals = trade("generator", "home", day, "1", "0.1", power=KW, energy=KWH)
    assert position(deals, "home", NODE_A, day, units=KILOWATT_MARKET).energy == -24
    first = [
        position(deals, "home", NODE_A, five_minutes, units=KILOWATT_MARKET)
        for five_minutes in day.split(FIVE_MINUTES)[:3]
    ]
    assert [held.net_rate for held in first] == [-1, -1, -1]
    assert [held.energy for held in first] == [
        Decimal("-0.083333"),
        Decimal("-0.083334"),
        Decimal("-0.083333"),
    ]


@pytest.mark.parametrize(
    ("rate", "price", "energy_decimals", "money_decimals"),
    [("1", "42.5", 6, 2), ("1", "10", 3, 2), ("0.007", "0.37", 2, 0), ("1", "29.99", 0, 3)],
)
def test_the_five_minute_hourly_and_daily_figures_of_a_day_long_deal_add_up_as_written(
    rate: str, price: str, energy_decimals: int, money_decimals: int
) -> None:
    """A day-long deal (1 MW in the issue's example): the twelve written five-minute energies
    and costs of each hour add up exactly to the hour's as written, the hours to the day's, and
    the day's is the deal's whole energy and cost, rounded once."""
    units = MarketUnits(energy_decimals=energy_decimals, money_decimals=money_decimals)
    day = Interval.day(date(2026, 7, 1), TZ)
    deals = trade("generator", "retailer", day, rate, price)
    hours = day.split(timedelta(hours=1))
    whole = position(deals, "retailer", NODE_A, day, units=units)
    assert whole.energy == written(-24 * Fraction(rate), energy_decimals)
    assert whole.cost == written(-24 * Fraction(rate) * Fraction(price), money_decimals)
    hourly = positions(deals, "retailer", NODE_A, hours, units=units)
    for hour, held in zip(hours, hourly, strict=True):
        parts = positions(deals, "retailer", NODE_A, hour.split(FIVE_MINUTES), units=units)
        assert sum(part.energy for part in parts) == held.energy
        assert sum(part.cost for part in parts) == held.cost
    assert sum(held.energy for held in hourly) == whole.energy
    assert sum(held.cost for held in hourly) == whole.cost


@pytest.mark.parametrize("seconds", [4, 7, 300])
def test_short_intervals_of_a_day_long_deal_add_up_to_the_day_as_written(seconds: int) -> None:
    """Thirds and 4-second intervals: 1/3 MW over a day, asked in slices of a few seconds."""
    day = Interval(_at(0), timedelta(days=1))
    deals = trade("generator", "retailer", day, "0.333", "47.77")
    slices = day.split(timedelta(seconds=seconds)) if 86400 % seconds == 0 else None
    if slices is None:
        whole_slices = 86400 // seconds
        slices = [
            Interval(day.start + timedelta(seconds=seconds * n), timedelta(seconds=seconds))
            for n in range(whole_slices)
        ]
        slices.append(Interval(slices[-1].end, day.end - slices[-1].end))
    parts = positions(deals, "generator", NODE_A, slices)
    whole = position(deals, "generator", NODE_A, day)
    assert sum(part.energy for part in parts) == whole.energy == Decimal("7.992")
    assert sum(part.cost for part in parts) == whole.cost == Decimal("381.78")


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25), (date(2026, 7, 1), 24)],
    ids=["spring-forward", "fall-back", "ordinary"],
)
def test_one_kilowatt_over_a_daylight_saving_day_delivers_one_kwh_in_each_of_its_hours(
    day: date, hours: int
) -> None:
    whole_day = Interval.day(day, TZ)
    deals = trade("generator", "home", whole_day, "1", "0.1", power=KW, energy=KWH)
    held = position(deals, "generator", NODE_A, whole_day, units=KILOWATT_MARKET)
    assert (held.net_rate, held.energy) == (1, hours)
    assert held.cost == Decimal("0.1") * hours
    each_hour = positions(
        deals, "generator", NODE_A, whole_day.split(timedelta(hours=1)), units=KILOWATT_MARKET
    )
    assert len(each_hour) == hours
    assert {(h.net_rate, h.energy) for h in each_hour} == {(1, 1)}


def test_positions_at_every_nesting_level_include_the_longer_transactions() -> None:
    # Paper 2.4: month, day, hour and 5-minute transactions, and positions asked at each level.
    month = Interval.month(2026, 7, TZ)
    day = Interval.day(date(2026, 7, 1), TZ)
    hour = Interval(day.start + timedelta(hours=15), timedelta(hours=1))
    five_minutes = hour.split(FIVE_MINUTES)[1]
    deals = (
        trade("generator", "retailer", month, "10", "50")
        + trade("generator", "retailer", day, "2", "60")
        + trade("retailer", "generator", hour, "1", "80")
        + trade("generator", "trader", five_minutes, "3", "100")
    )

    def exact(interval: Interval) -> tuple[Fraction, Fraction, Fraction]:
        held = exact_position(deals, "generator", NODE_A, interval)
        return held.net_rate, held.energy, held.cost

    assert exact(five_minutes) == (14, Fraction(14, 12), Fraction(500 + 120 - 80 + 300, 12))
    assert exact(hour) == (Fraction("11.25"), Fraction("11.25"), 565)
    assert exact(day) == (
        Fraction(383, 32),
        Fraction(383 * 24, 32),
        500 * 24 + 120 * 24 - 80 + 25,
    )
    # July has 744 hours: 7440 + 48 - 1 + 0.25 MWh over the month.
    assert exact(month) == (
        Fraction("7487.25") / 744,
        Fraction("7487.25"),
        500 * 744 + 120 * 24 - 80 + 25,
    )
    assert _figures(deals, "generator", NODE_A, hour) == (Decimal("11.25"), Decimal("11.25"), 565)


def test_an_hour_over_twelve_five_minute_transactions_is_their_exact_average() -> None:
    hour = Interval(_at(15), timedelta(hours=1))
    deals = tuple(
        deal
        for index, five_minutes in enumerate(hour.split(FIVE_MINUTES), start=1)
        for deal in trade("generator", "retailer", five_minutes, str(index), "60")
    )
    assert _figures(deals, "generator", NODE_A, hour) == (Decimal("6.5"), Decimal("6.5"), 390)

    one_part = trade("generator", "retailer", hour.split(FIVE_MINUTES)[4], "1", "70")
    whole = exact_position(one_part, "generator", NODE_A, hour)
    assert whole.net_rate == Fraction(1, 12)
    parts = [exact_position(one_part, "generator", NODE_A, i) for i in hour.split(FIVE_MINUTES)]
    assert sum(part.energy for part in parts) == whole.energy == Fraction(1, 12)


def test_a_transaction_covering_part_of_the_interval_counts_for_the_part_it_covers() -> None:
    deals = trade("generator", "retailer", Interval(_at(15), timedelta(hours=1)), "1", "80")
    straddling = Interval(_at(15, 30), timedelta(hours=1))
    assert _figures(deals, "generator", NODE_A, straddling) == (
        Decimal("0.5"),
        Decimal("0.5"),
        40,
    )
    assert _figures(deals, "generator", NODE_A, Interval(_at(16), timedelta(hours=1))) == (0, 0, 0)


def test_a_party_without_transactions_there_and_then_holds_nothing() -> None:
    hour = Interval(_at(15), timedelta(hours=1))
    deals = trade("generator", "retailer", hour, "1", "80")
    assert _figures((), "generator", NODE_A, hour) == (0, 0, 0)
    assert _figures(deals, "home", NODE_A, hour) == (0, 0, 0)
    assert _figures(deals, "generator", NODE_B, hour) == (0, 0, 0)
    assert _figures(deals, "generator", Location("A", InterfaceKind.METER_ASSET), hour) == (0, 0, 0)


def test_energy_bought_at_a_and_moved_to_b_leaves_nothing_at_a_and_a_purchase_at_b() -> None:
    hour = Interval(_at(15), timedelta(hours=1))
    deals = trade("generator", "retailer", hour, "1", "80") + trade(
        "wires", "retailer", hour, "1", "5", A_TO_B
    )
    # The transport price is paid where the power arrives.
    assert _figures(deals, "retailer", NODE_A, hour) == (0, 0, -80)
    assert _figures(deals, "retailer", NODE_B, hour) == (-1, -1, -5)
    assert _figures(deals, "retailer", A_TO_B, hour) == (-1, -1, -5)
    # The transport seller takes the power in at A and delivers it at B.
    assert _figures(deals, "wires", NODE_A, hour) == (-1, -1, 0)
    assert _figures(deals, "wires", NODE_B, hour) == (1, 1, 5)
    assert _figures(deals, "wires", A_TO_B, hour) == (1, 1, 5)
    for node in (NODE_A, NODE_B):
        assert sum(p.net_rate for p in net_positions(deals, node, hour).values()) == 0


def test_a_path_position_counts_only_transport_on_exactly_that_path() -> None:
    hour = Interval(_at(15), timedelta(hours=1))
    deals = (
        trade("wires", "retailer", hour, "2", "5", A_TO_B)
        + trade("wires", "retailer", hour, "7", "5", TransportPath("B", "A"))
        + trade("generator", "retailer", hour, "3", "80", NODE_A)
    )
    assert _figures(deals, "retailer", A_TO_B, hour) == (-2, -2, -10)


def test_an_option_delivers_nothing_until_its_holder_exercises_it() -> None:
    day = Interval.day(date(2026, 7, 1), TZ)
    evening = Interval(day.start + timedelta(hours=18), timedelta(hours=1))
    options = call_option("retailer", "home", day, "2", "100", "1")
    assert _figures(options, "home", NODE_A, evening) == (0, 0, 0)
    deals = options + exercise("retailer", "home", options[0], evening, "1.5")
    assert _figures(deals, "home", NODE_A, evening) == (Decimal("-1.5"), Decimal("-1.5"), -150)
    assert _figures(deals, "retailer", NODE_A, evening) == (Decimal("1.5"), Decimal("1.5"), 150)


def test_kilowatt_transactions_priced_per_kwh_show_in_megawatt_market_units() -> None:
    hour = Interval(_at(15), timedelta(hours=1))
    deals = trade("home", "retailer", hour, "500", "0.08", power=KW, energy=KWH)
    assert _figures(deals, "home", NODE_A, hour) == (Decimal("0.5"), Decimal("0.5"), 40)


def test_each_party_sees_its_own_side_of_one_stored_transaction() -> None:
    hour = Interval(_at(15), timedelta(hours=1))
    acceptor, author = trade("generator", "retailer", hour, "1", "80")
    assert (acceptor.party_id, acceptor.counterparty_id, acceptor.side) == (
        "retailer",
        "generator",
        Side.BUY,
    )
    assert (author.party_id, author.counterparty_id, author.side) == (
        "generator",
        "retailer",
        Side.SELL,
    )
    assert acceptor.transaction is author.transaction
    with pytest.raises(ModelError, match="itself"):
        deals_of(TransactionRecord.written_by(acceptor.transaction, "retailer", "retailer"))


def test_positions_over_several_intervals_come_back_in_the_order_asked() -> None:
    first, second = Interval(_at(15), timedelta(hours=2)).split(timedelta(hours=1))
    deals = trade("generator", "retailer", first, "1", "80") + trade(
        "generator", "retailer", second, "2", "90"
    )
    asked = positions(deals, "generator", NODE_A, [second, first])
    assert [(p.interval, p.net_rate) for p in asked] == [(second, 2), (first, 1)]


# --- properties ---------------------------------------------------------------------------------

PARTIES = ("generator", "retailer", "home", "trader")
NODES = ("A", "B", "C")
SHORT_DAY = Interval.day(date(2026, 3, 8), TZ)
MONTH = Interval.month(2026, 3, TZ)
HOURS = SHORT_DAY.split(timedelta(hours=1))
PATHS = tuple(TransportPath(a, b) for a, b in itertools.permutations(NODES, 2))
INTERFACES: tuple[Interface, ...] = tuple(Location(node) for node in NODES) + PATHS


@st.composite
def nested_intervals(draw: st.DrawFn) -> Interval:
    """The month, the 23-hour day, one of its hours or 5-minute intervals, or any stretch of it."""
    level = draw(st.sampled_from(["month", "day", "hour", "five minutes", "any"]))
    if level == "month":
        return MONTH
    if level == "day":
        return SHORT_DAY
    hour = draw(st.sampled_from(HOURS))
    if level == "hour":
        return hour
    if level == "five minutes":
        return draw(st.sampled_from(hour.split(FIVE_MINUTES)))
    start = draw(st.integers(0, SHORT_DAY.seconds - 1))
    length = draw(st.integers(1, SHORT_DAY.seconds - start))
    return Interval(SHORT_DAY.start + timedelta(seconds=start), timedelta(seconds=length))


@st.composite
def market_deals(draw: st.DrawFn) -> tuple[Deal, ...]:
    """Power, transport, option and exercise transactions between random parties."""
    deals: list[Deal] = []
    for index in range(draw(st.integers(0, 8))):
        written_by, counterparty = draw(st.permutations(PARTIES))[:2]
        kind = draw(st.sampled_from(["power", "transport", "option", "exercise"]))
        if kind == "transport":
            interface: Interface = draw(st.sampled_from(PATHS))
        else:
            interface = Location(draw(st.sampled_from(NODES)))
        price = draw(st.decimals("-100", "1000", places=2))
        power_scale, energy_scale = draw(
            st.sampled_from(list(itertools.product((SiScale.KILO, SiScale.MEGA), repeat=2)))
        )
        option = None
        if kind == "option":
            option = OptionTerms(
                draw(st.sampled_from(list(OptionType))),
                draw(st.sampled_from(list(Side))),
                price,
                draw(st.decimals("0", "10", places=2)),
                timedelta(0),
                FIVE_MINUTES,
            )
        product = Product(
            uid=f"product-{index}",
            interval=draw(nested_intervals()),
            description=PowerDescription(
                interface,
                price,
                draw(st.decimals("0.001", "1000", places=3)),
                PowerUnit(power_scale),
                EnergyUnit(energy_scale),
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


@settings(max_examples=60, deadline=None)
@given(market_deals(), st.lists(nested_intervals(), max_size=4))
def test_positions_of_all_parties_sum_to_exactly_zero_at_every_node_path_and_interval(
    deals: tuple[Deal, ...], asked: list[Interval]
) -> None:
    intervals = {MONTH, SHORT_DAY, *HOURS, *asked, *(deal.product.interval for deal in deals)}
    for interface, interval in itertools.product(INTERFACES, intervals):
        held = net_positions(deals, interface, interval).values()
        assert sum(p.net_rate for p in held) == 0
        assert sum(p.energy for p in held) == 0
        assert sum(p.cost for p in held) == 0


@settings(max_examples=60, deadline=None)
@given(
    market_deals(),
    st.sampled_from(PARTIES),
    st.sampled_from(INTERFACES),
    st.sampled_from(HOURS),
)
def test_an_hour_position_is_the_exact_sum_of_its_twelve_five_minute_positions(
    deals: tuple[Deal, ...], party: str, interface: Interface, hour: Interval
) -> None:
    whole = exact_position(deals, party, interface, hour)
    parts = [exact_position(deals, party, interface, i) for i in hour.split(FIVE_MINUTES)]
    assert sum(part.net_rate for part in parts) / 12 == whole.net_rate
    assert sum(part.energy for part in parts) == whole.energy
    assert sum(part.cost for part in parts) == whole.cost
    held = position(deals, party, interface, hour)
    written_parts = positions(deals, party, interface, hour.split(FIVE_MINUTES))
    assert sum(part.energy for part in written_parts) == held.energy
    assert sum(part.cost for part in written_parts) == held.cost
    assert held.net_rate == written(whole.net_rate, 6)
    # Each deal's written figure is off its exact one by at most one unit of the last place.
    assert abs(Fraction(held.energy) - whole.energy) <= len(deals) * Fraction(1, 10**6)
    assert abs(Fraction(held.cost) - whole.cost) <= len(deals) * Fraction(1, 100)


@settings(max_examples=60, deadline=None)
@given(market_deals(), st.sampled_from(PARTIES), nested_intervals())
def test_transport_moves_power_and_money_between_nodes_without_creating_any(
    deals: tuple[Deal, ...], party: str, interval: Interval
) -> None:
    nodes = [Location(node) for node in NODES]
    power_only = [
        deal for deal in deals if isinstance(deal.product.description.interface, Location)
    ]
    everywhere = [exact_position(deals, party, node, interval) for node in nodes]
    power = [exact_position(power_only, party, node, interval) for node in nodes]
    transport = [exact_position(deals, party, path, interval) for path in PATHS]
    assert sum(p.net_rate for p in everywhere) == sum(p.net_rate for p in power)
    assert sum(p.cost for p in everywhere) == sum(p.cost for p in power + transport)
