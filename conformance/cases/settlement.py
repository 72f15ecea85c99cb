"""Delivery, settlement and publication (TeMIX paper 2.9, 2.10, 3.5; EMIX-377).

A party reports metered delivery; the endpoint settles it against the party's forward
position: in each metered interval the difference between the metered rate and the position is
a balancing trade at that interval's balancing price (TeMIX paper 3.5: "default 5-minute
transactions ... for any difference between the 5-minute position in each interval and the
measured delivery at a real-time price"). Publication tells the market what was transacted.

An endpoint may hold other runs' transactions and deliveries in the settlement day, so the
settlement test recomputes the statement from what the endpoint itself lists: the party's
deliveries and its positions over the metered intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from temix.conformance.cases.positions import (
    close,
    describe,
    energy_scale,
    hours_of,
    read_positions,
    require_durations,
    show,
    trade,
    within_a_unit,
)
from temix.conformance.catalogue import Failed, MissingInput, case
from temix.conformance.trial import Trial
from temix.model import (
    Delivery,
    Interval,
    MarketContext,
    MeterReading,
    OptionTerms,
    OptionType,
    Settlement,
    Side,
)
from temix.positions import MarketUnits
from temix.settlement import (
    Publication,
    SettlementError,
    SettlementStatement,
    SettlementTrade,
    metered_net_rates,
)

DELIVERY_READ_BACK = "TMX-DLV-001"
SETTLED = "TMX-DLV-004"
CLOCK_SKEW = timedelta(minutes=5)
"""How far a delivery's creation time may be from the suite's clock."""


def settlement_day(trial: Trial, market: MarketContext | None = None) -> Interval:
    """The ``settlement-day`` input as an interval of the local day of ``market`` (default:
    the market the tests trade in)."""
    text = trial.input("settlement-day")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise MissingInput(f"[inputs] settlement-day {text!r} is not a date (YYYY-MM-DD)") from None
    return Interval.day(day, (market or trial.market).time_zone)


def granules(trial: Trial, start: Interval, count: int) -> list[Interval]:
    """The first ``count`` metering intervals (the market's interval granularity) of
    ``start``."""
    step = trial.market.interval_granularity
    return [Interval(start.start + index * step, step) for index in range(count)]


def report(
    trial: Trial, party: str, rates: dict[Interval, str], *, injection: bool = False
) -> Delivery:
    """``party`` reports metered delivery at the node (a withdrawal unless ``injection``): one
    reading per interval at its rate; the delivery as the endpoint stored it."""
    market = trial.market
    readings = tuple(
        MeterReading(interval, Decimal(rate), market.uri, trial.node, market.power_unit)
        for interval, rate in rates.items()
    )
    sent = Delivery(trial.new_id(), injection, readings)
    reply = trial.succeeds(
        lambda: trial.client(party).report_delivery(sent),
        f"{party} reporting {len(readings)} metered interval(s)",
    )
    trial.expect(
        len(reply.deliveries) == 1,
        f"reporting one delivery, the reply holds {len(reply.deliveries)} stored deliveries",
    )
    stored = reply.deliveries[0]
    trial.expect(stored.uid == sent.uid, f"the stored delivery is {stored.uid}, not {sent.uid}")
    return stored


def same_readings(one: Delivery, other: Delivery) -> bool:
    return sorted(one.readings, key=lambda r: r.interval) == sorted(
        other.readings, key=lambda r: r.interval
    )


def statement_of(trial: Trial, party: str, period: Interval) -> SettlementStatement:
    reply = trial.succeeds(
        lambda: trial.client(party).request_settlement(trial.market.uri, trial.node, period),
        f"{party} asking for its settlement over {describe(period)}",
    )
    statement = reply.statement
    trial.expect(statement is not None, "the settlement reply holds no statement")
    trial.expect(
        statement.period == period and statement.interface == trial.node,
        f"asked to settle {describe(period)} at {trial.node.id}, the statement is for "
        f"{describe(statement.period)} at {statement.interface}",
    )
    return statement


@case(
    DELIVERY_READ_BACK,
    "A reported metered delivery is stored with a server-assigned id and creation time, and "
    "its reporter reads it back by id",
    "TeMIX paper 2.9 (Delivery is the metered quantity delivered); EI 1.0 EiCreateDelivery; "
    "temix profile: docs/server.md EiCreateDelivery, EiRequestDelivery",
    requires=["delivery"],
)
def delivery_read_back(trial: Trial) -> None:
    readings = granules(trial, trial.interval(), 4)
    rates = {interval: f"{index + 1}.5" for index, interval in enumerate(readings)}
    stored = report(trial, trial.party, rates, injection=True)
    trial.expect(bool(stored.delivery_id), "the stored delivery has no ei:eiDeliveryID")
    created = stored.created
    trial.expect(created is not None, "the stored delivery has no creation time")
    trial.expect(
        abs(created - trial.now()) <= CLOCK_SKEW,
        f"the delivery was created at {created.isoformat()}, the suite's clock says "
        f"{trial.now().isoformat()}",
    )
    trial.expect(stored.injection, "the stored delivery is no longer an injection")
    read = trial.succeeds(
        lambda: trial.client(trial.party).request_deliveries(delivery_ids=(stored.delivery_id,)),
        f"reading delivery {stored.delivery_id} back",
    )
    trial.expect(
        [each.delivery_id for each in read] == [stored.delivery_id],
        f"asked for delivery {stored.delivery_id}, read {[each.delivery_id for each in read]}",
    )
    trial.expect(
        same_readings(read[0], stored) and read[0].uid == stored.uid,
        f"delivery {stored.delivery_id} reads back with other readings than were reported",
    )


@case(
    "TMX-DLV-002",
    "Another party neither reads a party's delivery by id or interval nor may ask for that "
    "party's deliveries (403)",
    "temix profile: docs/server.md EiRequestDelivery (a party reads only its own)",
    requires=["delivery"],
    after=[DELIVERY_READ_BACK],
)
def delivery_private(trial: Trial) -> None:
    hour = trial.interval()
    stored = report(trial, trial.party, {hour: "3"})
    other = trial.client(trial.counterparty)
    by_id = trial.succeeds(
        lambda: other.request_deliveries(delivery_ids=(stored.delivery_id,)),
        f"{trial.counterparty} asking for {trial.party}'s delivery by id",
    )
    trial.expect(
        not by_id, f"{trial.counterparty} reads {trial.party}'s delivery {stored.delivery_id}"
    )
    by_interval = trial.succeeds(
        lambda: other.request_deliveries(intervals=(hour,)),
        f"{trial.counterparty} asking for its deliveries over {describe(hour)}",
    )
    trial.expect(
        stored.delivery_id not in {each.delivery_id for each in by_interval},
        f"{trial.counterparty}'s deliveries over {describe(hour)} include {trial.party}'s",
    )
    trial.refused(
        lambda: other.request_deliveries(party=trial.party),
        f"{trial.counterparty} asking for {trial.party}'s deliveries",
        "403",
    )


@case(
    "TMX-DLV-003",
    "A delivery metered in an unknown market context is refused with 404",
    "TeMIX paper 2.12; EI 1.0 EiCreateDelivery; temix profile: docs/server.md",
    requires=["delivery"],
)
def delivery_in_unknown_market(trial: Trial) -> None:
    unknown = f"urn:temix:conformance:unknown:{trial.new_id()}"
    reading = MeterReading(trial.interval(), Decimal(1), unknown, trial.node)
    trial.refused(
        lambda: trial.client().report_delivery(Delivery(trial.new_id(), False, (reading,))),
        f"a delivery metered in {unknown}",
        "404",
    )


@case(
    SETTLED,
    "Settlement in the settlement day books the position's forward cost and one balancing "
    "trade per imbalanced metered interval at its balancing price, and adds up",
    "TeMIX paper 2.10 (differences settled by real-time transactions), 3.5; EMIX-377 "
    "(balancing transaction); temix profile: docs/server.md EiRequestSettlement, "
    "docs/profile.md Settlement",
    requires=["delivery", "settlement", "power", "positions"],
)
def settlement_adds_up(trial: Trial) -> None:
    market = trial.market
    require_durations(market, timedelta(hours=1))
    day = settlement_day(trial)
    hour = Interval(day.start + timedelta(hours=13), timedelta(hours=1))
    consumer = trial.counterparty
    trade(trial, trial.party, consumer, quantity="4", price="40", interval=hour)
    metered = dict(zip(granules(trial, hour, 3), ("6", "3", "4"), strict=True))
    stored = report(trial, consumer, metered)
    listed = trial.succeeds(
        lambda: trial.client(consumer).request_deliveries(
            market_contexts=(market.uri,), intervals=(hour,)
        ),
        f"{consumer} listing its deliveries over {describe(hour)}",
    )
    trial.expect(
        stored.delivery_id in {each.delivery_id for each in listed},
        f"{consumer}'s deliveries over {describe(hour)} omit {stored.delivery_id}",
    )
    units = MarketUnits.of(market)
    try:
        metered_rates = metered_net_rates(listed, trial.node, hour, units=units)
    except SettlementError as error:
        raise Failed(f"the deliveries the endpoint lists cannot be settled: {error}") from None
    positions = read_positions(trial, consumer, *metered_rates)
    statement = statement_of(trial, consumer, hour)
    forward = sum((Fraction(each.cost) for each in positions), Fraction(0))
    trial.expect(
        Fraction(statement.forward_cost) == forward,
        f"the forward cost is {statement.forward_cost}, the positions over the metered "
        f"intervals cost {show(forward)}",
    )
    imbalances = {
        position.interval: metered_rates[position.interval] - Fraction(position.net_rate)
        for position in positions
    }
    balancing = judge_trades(trial, statement.balancing_trades, imbalances, market)
    trial.expect(
        Fraction(statement.balancing_cost) == balancing,
        f"the balancing cost is {statement.balancing_cost}, its trades add up to {show(balancing)}",
    )
    expect_total(trial, statement)


def expect_total(trial: Trial, statement: SettlementStatement) -> None:
    """Fail unless the statement's total is the sum of its five parts."""
    parts = (
        statement.forward_cost,
        statement.balancing_cost,
        statement.premiums,
        statement.financial_cost,
        statement.cash_out_cost,
    )
    added = sum((Fraction(part) for part in parts), Fraction(0))
    trial.expect(
        Fraction(statement.total) == added,
        f"the total {statement.total} is not forward + balancing + premiums + financial + "
        f"cash-out = {show(added)}",
    )


def judge_trades(
    trial: Trial,
    trades: Sequence[SettlementTrade],
    to_settle: Mapping[Interval, Fraction],
    market: MarketContext,
    *,
    price_input: str = "balancing-price",
    kind: str = "balancing trade",
) -> Fraction:
    """Fail unless ``trades`` hold one trade (see :func:`judge_trade`) for each interval of
    ``to_settle`` with something to settle, and none for any other interval; the money the
    party receives for them."""
    by_interval = {each.interval: each for each in trades}
    trial.expect(
        len(by_interval) == len(trades), f"the statement holds two {kind}s for one interval"
    )
    received = Fraction(0)
    for interval, amount in to_settle.items():
        found = by_interval.pop(interval, None)
        if amount == 0:
            trial.expect(found is None, f"a {kind} over {describe(interval)}, where nothing is due")
            continue
        trial.expect(
            found is not None, f"no {kind} over {describe(interval)}, where {show(amount)} is due"
        )
        received += judge_trade(trial, found, amount, market, price_input=price_input, kind=kind)
    trial.expect(
        not by_interval,
        f"{kind}s over intervals where nothing is due: {[describe(i) for i in by_interval]}",
    )
    return received


def judge_trade(
    trial: Trial,
    found: SettlementTrade,
    imbalance: Fraction,
    market: MarketContext,
    *,
    price_input: str = "balancing-price",
    kind: str = "balancing trade",
) -> Fraction:
    """Fail unless ``found`` settles ``imbalance`` (a surplus sold when positive; for a
    balancing trade, metered minus the written position rate, so to a unit of the market's last
    energy place) at the price the input ``price_input`` gives (when given), its energy and
    amount written as the profile writes them ("Figures"); the money the party receives for it
    (negative when it pays)."""
    units = MarketUnits.of(market)
    where = describe(found.interval)
    side = Side.SELL if imbalance > 0 else Side.BUY
    trial.expect(
        found.side is side,
        f"the {kind} over {where} is a {found.side}; it settles {show(imbalance)}, a {side}",
    )
    trial.expect(
        within_a_unit(Fraction(found.rate), abs(imbalance), market.energy_decimals),
        f"the {kind} over {where} is for {found.rate}, not {show(abs(imbalance))}",
    )
    registered = trial.capabilities.inputs.get(price_input)
    if registered is None:
        trial.warn(
            f"without [inputs] {price_input} the {kind}s' price is not compared with the market's"
        )
    else:
        trial.expect(
            Fraction(found.price) == Fraction(Decimal(registered)),
            f"the {kind} over {where} is priced {found.price}, not the market's "
            f"{price_input} {registered}",
        )
    exact = Fraction(found.rate) * energy_scale(market) * hours_of(found.interval.seconds)
    energy = Fraction(units.written_energy(exact))
    trial.expect(
        Fraction(found.energy) == energy,
        f"the {kind} over {where} delivers {found.energy}, not rate x hours = {show(energy)}",
    )
    amount = Fraction(units.written_money(Fraction(found.price) * energy))
    trial.expect(
        Fraction(found.amount) == amount,
        f"the {kind} over {where} amounts to {found.amount}, not price x energy = {show(amount)}",
    )
    return amount if side is Side.SELL else -amount


@case(
    "TMX-DLV-005",
    "An option's premium is booked once in the settlement of the period holding its start: "
    "paid by the holder, received by the writer",
    "TeMIX paper 2.2 (for a premium payment), 3.7; EMIX-377 table X-2; temix profile: "
    "docs/server.md EiRequestSettlement",
    requires=["settlement", "powerOption"],
    after=[SETTLED],
)
def premium_settled(trial: Trial) -> None:
    require_durations(trial.market, timedelta(hours=1))
    day = settlement_day(trial)
    hour = Interval(day.start + timedelta(hours=15), timedelta(hours=1))
    holder, writer = trial.counterparty, trial.party
    later_half = Interval(hour.start + hour.duration / 2, hour.duration / 2)
    before = {party: statement_of(trial, party, hour) for party in (holder, writer)}
    before_later = {party: statement_of(trial, party, later_half) for party in (holder, writer)}
    option = OptionTerms(
        option_type=OptionType.CALL,
        holder_side=Side.BUY,
        strike_price=Decimal("60"),
        premium=Decimal("3"),
        lead_time=timedelta(hours=1),
        granularity=hour.duration,
    )
    tender = trial.tender(quantity="2", price="60", interval=hour, option=option)
    trial.offer(tender, author=writer, to=holder)
    trial.succeeds(
        lambda: trial.client(holder).accept(tender, writer), f"{holder} buying the option"
    )
    premium = Fraction(
        MarketUnits.of(trial.market).written_money(3 * 2 * energy_scale(trial.market))
    )
    for party, sign in ((holder, -1), (writer, 1)):
        after = statement_of(trial, party, hour)
        change = Fraction(after.premiums) - Fraction(before[party].premiums)
        trial.expect(
            change == sign * premium,
            f"{party}'s premiums over {describe(hour)} changed by {show(change)}, not "
            f"{show(sign * premium)}",
        )
        parts = after.forward_cost + after.balancing_cost + after.premiums
        trial.expect(
            Fraction(after.total) == Fraction(parts),
            f"{party}'s total {after.total} is not forward + balancing + premiums = {parts}",
        )
        later = statement_of(trial, party, later_half)
        trial.expect(
            later.premiums == before_later[party].premiums,
            f"{party}'s premiums over {describe(later_half)}, which does not hold the option's "
            f"start, changed from {before_later[party].premiums} to {later.premiums}",
        )


@case(
    "TMX-DLV-006",
    "Settling an imbalance where no balancing price is registered is refused with 409 naming "
    "the interval",
    "TeMIX paper 3.5 (balancing at a real-time price); temix profile: docs/server.md "
    "EiRequestSettlement",
    requires=["delivery", "settlement"],
)
def settlement_without_price(trial: Trial) -> None:
    priced = settlement_day(trial) if "settlement-day" in trial.capabilities.inputs else None
    metered = granules(trial, trial.interval(), 1)[0]
    while priced is not None and priced.overlap(metered):
        metered = granules(trial, trial.interval(), 1)[0]
    report(trial, trial.counterparty, {metered: "2"})
    refusal = trial.refused(
        lambda: trial.client(trial.counterparty).request_settlement(
            trial.market.uri, trial.node, metered
        ),
        f"settling {describe(metered)}, which has no balancing price",
        "409",
    )
    description = refusal.description or ""
    utc = metered.start.strftime("%Y-%m-%dT%H:%M")
    zone = ZoneInfo(trial.market.time_zone)
    local = metered.start.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    if utc not in description and local not in description:
        trial.warn(f"the refusal does not name the interval from {utc}Z: {description!r}")


@case(
    "TMX-DLV-007",
    "Publication gives the count, total rate and rate-weighted average, minimum and maximum "
    "price of the transactions for exactly the interval and node asked for",
    "TeMIX paper 2.9 (Publication communicates transacted prices, quantities); temix profile: "
    "docs/server.md EiRequestPublication, docs/profile.md Settlement and publication",
    requires=["publication", "power"],
)
def publication_of_transactions(trial: Trial) -> None:
    require_durations(trial.market, timedelta(hours=1))
    hour = trial.interval()
    asked = (
        hour,
        Interval(hour.start, timedelta(minutes=30)),
        Interval(hour.start, timedelta(hours=2)),
    )
    reader = trial.capabilities.inputs.get("third-party") or trial.counterparty
    before = published(trial, reader, asked)
    trade(trial, trial.party, trial.counterparty, quantity="6", price="40", interval=hour)
    trade(trial, trial.party, trial.counterparty, quantity="2", price="48", interval=hour)
    after = published(trial, reader, asked)
    old, new = before[0], after[0]
    trial.expect(
        new.count - old.count == 2,
        f"the publication over {describe(hour)} counts {new.count - old.count} new "
        "transactions, not 2",
    )
    total = Fraction(new.total_rate) - Fraction(old.total_rate)
    trial.expect(close(total, Fraction(8)), f"the total rate rose by {show(total)}, not 8")
    weighted = Fraction(old.average_price or 0) * Fraction(old.total_rate) + 6 * 40 + 2 * 48
    average = weighted / Fraction(new.total_rate)
    earlier = [Fraction(old.min_price), Fraction(old.max_price)] if old.count else []
    lowest = min([Fraction(40), *earlier])
    highest = max([Fraction(48), *earlier])
    for name, found, wanted in (
        ("average", new.average_price, average),
        ("minimum", new.min_price, lowest),
        ("maximum", new.max_price, highest),
    ):
        trial.expect(
            found is not None and close(Fraction(found), wanted),
            f"the published {name} price over {describe(hour)} is {found}, not {show(wanted)}",
        )
    for old_other, new_other in zip(before[1:], after[1:], strict=True):
        trial.expect(
            new_other.count == old_other.count,
            f"the publication over {describe(new_other.interval)} counts the transactions "
            f"over {describe(hour)}: only those for exactly the interval asked for count",
        )


def published(
    trial: Trial,
    reader: str,
    asked: tuple[Interval, ...],
    *,
    market: MarketContext | None = None,
    settlement: Settlement = Settlement.PHYSICAL,
) -> list[Publication]:
    """The publications of ``settlement`` at the node over ``asked`` in ``market`` (default:
    the market the tests trade in), one per interval asked for, as ``reader`` reads them."""
    uri = (market or trial.market).uri
    reply = trial.succeeds(
        lambda: trial.client(reader).request_publication(
            uri, trial.node, *asked, settlement=settlement
        ),
        f"{reader} asking for the {settlement} publication at {trial.node.id}",
    )
    trial.expect(
        reply.settlement is settlement,
        f"asked for the {settlement} publication, the reply publishes {reply.settlement} deals",
    )
    found = list(reply.publications)
    trial.expect(
        [each.interval for each in found] == list(asked),
        f"asked for publications over {[describe(i) for i in asked]}, got "
        f"{[describe(each.interval) for each in found]}",
    )
    return found
