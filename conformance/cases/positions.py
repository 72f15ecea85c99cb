"""Positions: what a party's transactions add up to at an interface over an interval (TeMIX
paper 2.5 and 2.10).

A position is sells minus buys: a net rate, the energy it delivers over the interval asked for
(rate x elapsed hours) and the money received minus the money paid (price x energy). An
endpoint may already hold other runs' transactions in the intervals these tests trade in, so
each test reads the positions before and after its own transactions and judges the change.

The helpers here (reading positions, trading, the expected change) serve the option and
settlement tests too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from temix.conformance.catalogue import Failed, MissingInput, NotApplicable, case
from temix.conformance.trial import Trial
from temix.model import Interface, Interval, MarketContext, Position, Settlement, Side, scale_factor
from temix.positions import MarketUnits
from temix.rules import acceptance

POSITION_AFTER_SALE = "TMX-POS-001"
DST_WINDOW_DAYS = 400
"""How far ahead the daylight-saving tests look for the market's next 23- and 25-hour days."""
TOLERANCE = Fraction(1, 10**9)
"""Relative slack when comparing a figure written to 34 significant digits (a published price,
an average): room for a last-digit rounding, far below any error of substance. Energies and money
of positions and settlement are compared exactly, as the profile writes them ("Figures")."""


@dataclass(frozen=True)
class Change:
    """A change of a position, or a position itself: net rate, energy and cost, exactly."""

    net_rate: Fraction = Fraction(0)
    energy: Fraction = Fraction(0)
    cost: Fraction = Fraction(0)

    @classmethod
    def between(cls, before: Position, after: Position) -> Change:
        return cls(
            Fraction(after.net_rate) - Fraction(before.net_rate),
            Fraction(after.energy) - Fraction(before.energy),
            Fraction(after.cost) - Fraction(before.cost),
        )

    def __add__(self, other: Change) -> Change:
        return Change(
            self.net_rate + other.net_rate, self.energy + other.energy, self.cost + other.cost
        )

    def __neg__(self) -> Change:
        return Change(-self.net_rate, -self.energy, -self.cost)


def close(found: Fraction, expected: Fraction) -> bool:
    """Equal but for a last-digit rounding of a figure written to 34 significant digits."""
    return abs(found - expected) <= TOLERANCE * max(Fraction(1), abs(expected))


def within_a_unit(found: Fraction, expected: Fraction, decimals: int) -> bool:
    """Equal but for one unit of the last of ``decimals`` places: how far a change of a written
    net rate (an average, rounded before and after) may be from the rate that changed it."""
    return abs(found - expected) <= Fraction(1, 10**decimals)


def show(value: Fraction) -> str:
    """A figure for a reason: exact when it has a short decimal form, else to nine places."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return f"{exact.normalize():f}" if len(str(exact)) < 20 else f"{float(value):.9f}"


def hours_of(seconds: int) -> Fraction:
    return Fraction(seconds, 3600)


def energy_scale(market: MarketContext) -> Fraction:
    """What a rate in the market's power unit times hours is multiplied by to be in its energy
    unit (1 for MW and MWh)."""
    return scale_factor(market.power_unit.scale, market.energy_unit.scale)


def expected_change(
    market: MarketContext,
    side: Side,
    quantity: str | Decimal,
    price: str | Decimal,
    traded: Interval,
    asked: Interval,
) -> Change:
    """How a transaction of ``quantity`` at ``price`` over ``traded`` moves the position over
    ``asked`` of the party on ``side``: its rate times the share of ``asked`` it covers, the
    energy of the time shared, and that energy's extended price (TeMIX paper 2.5, 2.11). The
    energy and money are as the profile writes them ("Figures"): the transaction's running
    totals from its start, rounded to the market's decimal places at each end of ``asked``,
    subtracted."""
    sign = 1 if side is Side.SELL else -1
    shared = traded.overlap(asked) // timedelta(seconds=1)
    rate = Fraction(quantity)
    units = MarketUnits.of(market)

    def delivered_by(moment: datetime) -> Fraction:
        elapsed = min(max(moment, traded.start), traded.end) - traded.start
        return rate * energy_scale(market) * hours_of(elapsed // timedelta(seconds=1))

    start, end = delivered_by(asked.start), delivered_by(asked.end)
    energy = Fraction(units.written_energy(end)) - Fraction(units.written_energy(start))
    cost = Fraction(units.written_money(Fraction(price) * end)) - Fraction(
        units.written_money(Fraction(price) * start)
    )
    share = Fraction(shared, asked.seconds)
    return Change(sign * rate * share, sign * energy, sign * cost)


def read_positions(
    trial: Trial,
    party: str,
    *intervals: Interval,
    interface: Interface | None = None,
    market: MarketContext | None = None,
    settlement: Settlement = Settlement.PHYSICAL,
) -> tuple[Position, ...]:
    """``party``'s positions of ``settlement`` over ``intervals``, one each and in order, as
    the endpoint reports them; fails when the reply does not answer exactly the intervals asked
    for, or answers for the other settlement."""
    market = market or trial.market
    interface = interface or trial.node
    reply = trial.succeeds(
        lambda: trial.client(party).request_position(
            market.uri, interface, *intervals, settlement=settlement
        ),
        f"{party} asking for its {settlement} position at {describe_interface(interface)}",
    )
    trial.expect(
        reply.settlement is settlement,
        f"asked for {party}'s {settlement} position, the reply is for its {reply.settlement} one",
    )
    answered = [position.interval for position in reply.positions]
    trial.expect(
        answered == list(intervals),
        f"asked for positions over {[describe(i) for i in intervals]}, the reply is over "
        f"{[describe(i) for i in answered]}",
    )
    return reply.positions


def expect_changes(
    trial: Trial,
    before: Iterable[Position],
    after: Iterable[Position],
    expected: Iterable[Change],
    whose: str,
    *,
    market: MarketContext | None = None,
) -> None:
    """Fail unless each position moved by its expected change, naming the first that did not:
    energy and cost exactly, the net rate to a unit of its last written place."""
    decimals = (market or trial.market).energy_decimals
    for old, new, change in zip(before, after, expected, strict=True):
        found = Change.between(old, new)
        where = f"{whose} position over {describe(new.interval)}"
        for name, got, wanted in (
            ("net rate", found.net_rate, change.net_rate),
            ("energy", found.energy, change.energy),
            ("cost", found.cost, change.cost),
        ):
            matches = within_a_unit(got, wanted, decimals) if name == "net rate" else got == wanted
            trial.expect(
                matches, f"the {name} of {where} changed by {show(got)}, not {show(wanted)}"
            )


def describe(interval: Interval) -> str:
    hours = interval.seconds / 3600
    return f"{interval.start.isoformat().replace('+00:00', 'Z')} for {hours:g} h"


def describe_interface(interface: Interface) -> str:
    return getattr(interface, "id", None) or (
        f"{interface.point_of_receipt}->{interface.point_of_delivery}"  # type: ignore[union-attr]
    )


def require_durations(market: MarketContext, *durations: timedelta) -> None:
    """NotApplicable when the market does not allow products of each of ``durations``."""
    missing = [
        duration
        for duration in durations
        if duration % market.interval_granularity
        or (market.allowed_durations and duration not in market.allowed_durations)
    ]
    if missing:
        listed = ", ".join(f"{duration}" for duration in missing)
        raise NotApplicable(f"market {market.uri} does not allow products lasting {listed}")


def trade(
    trial: Trial,
    seller: str,
    buyer: str,
    *,
    quantity: str,
    price: str,
    interval: Interval,
    interface: Interface | None = None,
    market: MarketContext | None = None,
    accepted: str | None = None,
    settlement: Settlement = Settlement.PHYSICAL,
) -> str:
    """``seller`` tenders ``quantity`` at ``price`` over ``interval`` to ``buyer``, who accepts
    ``accepted`` of it (default: all); the transaction id. A refusal fails the test."""
    tender = trial.tender(
        side=Side.SELL,
        quantity=quantity,
        price=price,
        interval=interval,
        interface=interface,
        market=market,
        settlement=settlement,
    )
    trial.offer(tender, author=seller, to=buyer)
    transaction_id = trial.new_id()
    rate = Decimal(accepted or quantity)
    trial.succeeds(
        lambda: trial.client(buyer).accept(tender, seller, rate, transaction_id=transaction_id),
        f"{buyer} accepting {rate} of {seller}'s tender over {describe(interval)}",
    )
    return transaction_id


@case(
    POSITION_AFTER_SALE,
    "A sale raises the seller's position and lowers the buyer's by its rate, energy (rate x "
    "hours) and extended price",
    "TeMIX paper 2.5, 2.10, 2.11; temix profile: docs/server.md EiRequestPosition",
    requires=["positions", "power"],
)
def position_after_sale(trial: Trial) -> None:
    hours = trial.interval(timedelta(hours=2))
    seller, buyer = trial.party, trial.counterparty
    before = {party: read_positions(trial, party, hours) for party in (seller, buyer)}
    trade(trial, seller, buyer, quantity="10", price="42.5", interval=hours)
    for party, side in ((seller, Side.SELL), (buyer, Side.BUY)):
        after = read_positions(trial, party, hours)
        change = expected_change(trial.market, side, "10", "42.5", hours, hours)
        expect_changes(trial, before[party], after, [change], f"the {side.value}er {party}'s")


@case(
    "TMX-POS-002",
    "A day, an hour and a quarter-hour position each include an hourly and a nested "
    "15-minute transaction by the share of the interval they cover",
    "TeMIX paper 2.4 (nested intervals), 2.5; temix profile: docs/server.md EiRequestPosition",
    requires=["positions", "power"],
    after=[POSITION_AFTER_SALE],
)
def nested_positions(trial: Trial) -> None:
    market = trial.market
    require_durations(market, timedelta(hours=1), timedelta(minutes=15))
    hour = trial.interval()
    quarter = Interval(hour.start + timedelta(minutes=15), timedelta(minutes=15))
    first_quarter = Interval(hour.start, timedelta(minutes=15))
    local_day = hour.start.astimezone(ZoneInfo(market.time_zone)).date()
    day = Interval.day(local_day, market.time_zone)
    asked = (day, hour, quarter, first_quarter)
    before = read_positions(trial, trial.party, *asked)
    trade(trial, trial.party, trial.counterparty, quantity="18", price="40", interval=hour)
    trade(trial, trial.party, trial.counterparty, quantity="24", price="50", interval=quarter)
    after = read_positions(trial, trial.party, *asked)
    expected = [
        expected_change(market, Side.SELL, "18", "40", hour, interval)
        + expected_change(market, Side.SELL, "24", "50", quarter, interval)
        for interval in asked
    ]
    expect_changes(trial, before, after, expected, f"the seller {trial.party}'s")


@case(
    "TMX-POS-003",
    "Each 15-minute position inside a 2-hour transaction of 1 MW at 80 holds the full rate, "
    "a quarter of its hourly energy and that quarter's extended price",
    "TeMIX paper 2.11 (the extended price of each 15-minute interval); EMIX-377",
    requires=["positions", "power"],
    after=[POSITION_AFTER_SALE],
)
def sub_interval_position(trial: Trial) -> None:
    market = trial.market
    require_durations(market, timedelta(hours=2))
    block = trial.interval(timedelta(hours=2))
    quarters = block.split(timedelta(minutes=15))
    asked = (block, *quarters)
    before = read_positions(trial, trial.counterparty, *asked)
    trade(trial, trial.party, trial.counterparty, quantity="1", price="80", interval=block)
    after = read_positions(trial, trial.counterparty, *asked)
    expected = [expected_change(market, Side.BUY, "1", "80", block, each) for each in asked]
    expect_changes(trial, before, after, expected, f"the buyer {trial.counterparty}'s")


@case(
    "TMX-POS-004",
    "A partly accepted sale and a purchase back over the same hour net to the difference of "
    "the accepted rates and of their extended prices",
    "TeMIX paper 2.5 (sells less buys), 2.10; temix profile: docs/server.md EiRequestPosition",
    requires=["positions", "power"],
    after=[POSITION_AFTER_SALE],
)
def opposite_transactions_net(trial: Trial) -> None:
    market = trial.market
    hour = trial.interval()
    parties = (trial.party, trial.counterparty)
    before = {party: read_positions(trial, party, hour) for party in parties}
    trade(
        trial,
        trial.party,
        trial.counterparty,
        quantity="10",
        price="42.5",
        interval=hour,
        accepted="7",
    )
    trade(trial, trial.counterparty, trial.party, quantity="4", price="45", interval=hour)
    net = expected_change(market, Side.SELL, "7", "42.5", hour, hour) + expected_change(
        market, Side.BUY, "4", "45", hour, hour
    )
    expect_changes(
        trial,
        before[trial.party],
        read_positions(trial, trial.party, hour),
        [net],
        f"{trial.party}'s",
    )
    expect_changes(
        trial,
        before[trial.counterparty],
        read_positions(trial, trial.counterparty, hour),
        [-net],
        f"{trial.counterparty}'s",
    )


@case(
    "TMX-POS-005",
    "A transaction at one node leaves the position at another node unchanged",
    "TeMIX paper 2.7 (EMIX interface), 2.11 (one node for power); temix profile: "
    "docs/server.md EiRequestPosition",
    requires=["positions", "power"],
    after=[POSITION_AFTER_SALE],
)
def other_node_unchanged(trial: Trial) -> None:
    hour = trial.interval()
    before = read_positions(trial, trial.party, hour, interface=trial.other_node)
    trade(trial, trial.party, trial.counterparty, quantity="5", price="41", interval=hour)
    after = read_positions(trial, trial.party, hour, interface=trial.other_node)
    expect_changes(trial, before, after, [Change()], f"{trial.party}'s {trial.other_node.id}")


@case(
    "TMX-POS-006",
    "A constant rate over the 23-hour local day on which daylight saving time starts delivers "
    "23 hours of energy to both parties' positions",
    "TeMIX paper 2.5 (a short daylight savings day of 23 hours delivers 23 kWh); temix profile: "
    "docs/profile.md Time",
    requires=["positions", "power"],
    after=[POSITION_AFTER_SALE],
)
def short_day_position(trial: Trial) -> None:
    daylight_saving_day(trial, timedelta(hours=23))


@case(
    "TMX-POS-007",
    "A constant rate over the 25-hour local day on which daylight saving time ends delivers "
    "25 hours of energy to both parties' positions",
    "TeMIX paper 2.5 (energy = rate x hours of the interval); temix profile: docs/profile.md Time",
    requires=["positions", "power"],
    after=[POSITION_AFTER_SALE],
)
def long_day_position(trial: Trial) -> None:
    daylight_saving_day(trial, timedelta(hours=25))


@case(
    "TMX-POS-008",
    "A position asked in an unknown market context is refused with 404",
    "TeMIX paper 2.12; temix profile: docs/server.md EiRequestPosition",
    requires=["positions"],
)
def position_in_unknown_market(trial: Trial) -> None:
    unknown = f"urn:temix:conformance:unknown:{trial.new_id()}"
    hour = trial.interval()
    trial.refused(
        lambda: trial.client().request_position(unknown, trial.node, hour),
        f"a position in {unknown}",
        "404",
    )


@case(
    "TMX-POS-009",
    "The twelve 5-minute positions inside an hour of 1 MW at 42.50 add up to the hour's "
    "exactly as written, each written from the transaction's rounded running totals",
    "TeMIX paper 2.4 (1/12 of the hour's energy in each 5-minute interval); temix profile: "
    "docs/profile.md Figures",
    requires=["positions", "power"],
    after=[POSITION_AFTER_SALE],
)
def five_minute_positions_add_up(trial: Trial) -> None:
    parts_add_up(trial, timedelta(minutes=5), "42.5", "twelve 5-minute")


def parts_add_up(trial: Trial, part: timedelta, price: str, what: str) -> None:
    """A 1 MW hour at ``price``: for the buyer and the seller, the positions over the hour's
    parts of length ``part`` add up to the hour's position exactly, each as the profile writes
    it."""
    market = trial.market
    require_durations(market, timedelta(hours=1), part)
    hour = trial.interval()
    asked = (hour, *hour.split(part))
    parties = {Side.BUY: trial.counterparty, Side.SELL: trial.party}
    before = {side: read_positions(trial, party, *asked) for side, party in parties.items()}
    trade(trial, trial.party, trial.counterparty, quantity="1", price=price, interval=hour)
    for side, party in parties.items():
        after = read_positions(trial, party, *asked)
        changes = [Change.between(old, new) for old, new in zip(before[side], after, strict=True)]
        for figure in ("energy", "cost"):
            total = sum((getattr(change, figure) for change in changes[1:]), Fraction(0))
            trial.expect(
                total == getattr(changes[0], figure),
                f"the {figure} of {party}'s {what} positions changed by {show(total)} in all, "
                f"the hour's by {show(getattr(changes[0], figure))}",
            )
        expected = [expected_change(market, side, "1", price, hour, each) for each in asked]
        expect_changes(trial, before[side], after, expected, f"the {side.value}er {party}'s")


@case(
    "TMX-POS-010",
    "The three 20-minute positions inside an hour of 1 MW at 37.37 (a third of a MWh, and of "
    "its cost, each) add up to the hour's exactly as written, for the seller and the buyer",
    "TeMIX paper 2.4 (nested intervals), 2.5 (sells less buys); temix profile: docs/profile.md "
    "Figures",
    requires=["positions", "power"],
    after=[POSITION_AFTER_SALE],
)
def third_hour_positions_add_up(trial: Trial) -> None:
    parts_add_up(trial, timedelta(minutes=20), "37.37", "three 20-minute")


def next_day_lasting(market: MarketContext, length: timedelta, after: date) -> Interval:
    """The first local day of the market after ``after`` that lasts ``length``."""
    for offset in range(1, DST_WINDOW_DAYS):
        day = Interval.day(after + timedelta(days=offset), market.time_zone)
        if day.duration == length:
            return day
    raise MissingInput(
        f"[inputs] dst-market-context {market.uri} keeps time in {market.time_zone}, which has "
        f"no {length.total_seconds() / 3600:g}-hour day in the next {DST_WINDOW_DAYS} days: "
        "name a market whose zone keeps daylight saving time"
    )


def day_products(market: MarketContext, day: Interval) -> list[Interval]:
    """The delivery intervals that cover ``day`` in ``market``: the day itself when the market
    allows a product that long, else its hours."""
    whole_day_listed = timedelta(days=1) in market.allowed_durations
    if day.duration % market.interval_granularity == timedelta(0) and (
        not market.allowed_durations or whole_day_listed or day.duration in market.allowed_durations
    ):
        return [day]
    require_durations(market, timedelta(hours=1))
    return list(day.split(timedelta(hours=1)))


def daylight_saving_day(trial: Trial, length: timedelta) -> None:
    """Sell a constant rate over the whole next local day lasting ``length`` in the
    daylight-saving market, and judge both parties' positions over that day."""
    market = trial.run.market(trial.input("dst-market-context"))
    zone = ZoneInfo(market.time_zone)
    today = trial.now().astimezone(zone).date()
    day = next_day_lasting(market, length, today + timedelta(days=2))
    parties = (trial.party, trial.counterparty)
    before = {party: read_positions(trial, party, day, market=market) for party in parties}
    tenders = [
        trial.tender(quantity="2", price="30", interval=interval, market=market)
        for interval in day_products(market, day)
    ]
    trial.offer(*tenders)
    accept = trial.client(trial.counterparty).create_transaction
    transactions = [acceptance(t, t.product.description.quantity, trial.new_id()) for t in tenders]
    trial.succeeds(
        lambda: accept(trial.party, *transactions),
        f"{trial.counterparty} accepting {len(tenders)} tender(s) over {describe(day)}",
    )
    for party, side in ((trial.party, Side.SELL), (trial.counterparty, Side.BUY)):
        after = read_positions(trial, party, day, market=market)
        change = expected_change(market, side, "2", "30", day, day)
        try:
            expect_changes(trial, before[party], after, [change], f"{party}'s", market=market)
        except Failed as failure:
            hours = length.total_seconds() / 3600
            local = day.start.astimezone(zone).date()
            raise Failed(f"{failure} (the local day {local} lasts {hours:g} h)") from None
