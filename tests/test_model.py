"""The TeMIX arithmetic and rules a user relies on, checked on the seeds' own examples."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from temix.model import (
    EnergyUnit,
    Interval,
    Location,
    ModelError,
    OptionTerms,
    OptionType,
    PowerDescription,
    PowerUnit,
    Product,
    ProductKind,
    Quote,
    Side,
    SiScale,
    Tender,
    TransactiveState,
    TransportPath,
    energy,
    extended_price,
)

MW = PowerUnit(SiScale.MEGA)
KW = PowerUnit(SiScale.KILO)
MWH = EnergyUnit(SiScale.MEGA)
KWH = EnergyUnit(SiScale.KILO)
MARKET = "http://market.example/retail"


def _product(interval: Interval, rate: str, price: str = "80", **changes: object) -> Product:
    fields: dict[str, object] = {
        "uid": "p-1",
        "interval": interval,
        "description": PowerDescription(Location("NODE-A"), Decimal(price), Decimal(rate)),
        "state": TransactiveState.TENDER,
        "side": Side.SELL,
        "market_context": MARKET,
    }
    fields.update(changes)
    return Product(**fields)  # type: ignore[arg-type]


def test_emix_377_two_hour_block_costs_160_and_each_quarter_hour_20() -> None:
    # EMIX-377: 1 MW tomorrow 3-5 PM at $80/MWh is 2 MWh and $160; each 15 minutes 0.25 MWh, $20.
    block = Interval(datetime(2026, 7, 1, 15, tzinfo=UTC), timedelta(hours=2))
    product = _product(block, "1")
    assert product.energy == Decimal(2)
    assert product.extended_price == Decimal(160)
    quarters = block.split(timedelta(minutes=15))
    assert len(quarters) == 8
    for quarter in quarters:
        quarter_energy = energy(Decimal(1), quarter, MW, MWH)
        assert quarter_energy == Decimal("0.25")
        assert extended_price(Decimal(80), quarter_energy) == Decimal(20)


def test_one_kilowatt_over_a_day_is_24_kwh_and_a_twelfth_per_five_minutes() -> None:
    day = Interval.day(date(2026, 7, 1), "America/Chicago")
    assert energy(Decimal(1), day, KW, KWH) == Decimal(24)
    five_minutes = day.split(timedelta(minutes=5))[0]
    assert five_minutes.hours == Fraction(1, 12)
    assert energy(Decimal(1), five_minutes, KW, KWH) * 12 == pytest.approx(Decimal(1))


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25), (date(2026, 7, 1), 24)],
    ids=["spring-forward", "fall-back", "ordinary"],
)
def test_daylight_saving_days_have_23_and_25_hours(day: date, hours: int) -> None:
    interval = Interval.day(day, "America/Chicago")
    assert interval.hours == hours
    assert energy(Decimal(1), interval, KW, KWH) == Decimal(hours)
    assert len(interval.split(timedelta(hours=1))) == hours


def test_scales_convert_between_rate_and_energy_units() -> None:
    hour = Interval(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1))
    assert energy(Decimal(1), hour, MW, KWH) == Decimal(1000)
    assert energy(Decimal(500), hour, KW, MWH) == Decimal("0.5")


def test_intervals_nest_from_year_to_four_seconds() -> None:
    year = Interval.year(2026, "Europe/Paris")
    month = Interval.month(2026, 3, "Europe/Paris")
    day = Interval.day(date(2026, 3, 29), "Europe/Paris")
    hour = Interval(day.start + timedelta(hours=5), timedelta(hours=1))
    five_minutes = hour.split(timedelta(minutes=5))[3]
    four_seconds = five_minutes.split(timedelta(seconds=4))[-1]
    chain = [year, month, day, hour, five_minutes, four_seconds]
    for outer, inner in itertools.pairwise(chain):
        assert outer.contains(inner)
        assert not inner.contains(outer)
    assert month.hours == 31 * 24 - 1  # March in Paris loses an hour
    assert year.hours == 365 * 24


def test_interval_start_is_kept_in_utc_and_must_be_aware() -> None:
    interval = Interval.day(date(2026, 7, 1), "America/Chicago")
    assert interval.start == datetime(2026, 7, 1, 5, tzinfo=UTC)
    assert interval.start.utcoffset() == timedelta(0)
    with pytest.raises(ModelError, match="time-zone aware"):
        Interval(datetime(2026, 7, 1), timedelta(hours=1))
    with pytest.raises(ModelError, match="positive"):
        Interval(datetime(2026, 7, 1, tzinfo=UTC), timedelta(0))


def test_overlap_and_split_refuse_what_does_not_fit() -> None:
    hour = Interval(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1))
    later = Interval(datetime(2026, 1, 1, 0, 30, tzinfo=UTC), timedelta(hours=1))
    assert hour.overlap(later) == timedelta(minutes=30)
    assert hour.overlap(Interval(hour.end, timedelta(hours=1))) == timedelta(0)
    with pytest.raises(ModelError, match="does not divide"):
        hour.split(timedelta(minutes=7))


def test_side_opposite_and_product_kinds() -> None:
    hour = Interval(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1))
    assert Side.BUY.opposite is Side.SELL and Side.SELL.opposite is Side.BUY
    transport = PowerDescription(TransportPath("A", "B"), Decimal(3), Decimal(1))
    option = OptionTerms(
        OptionType.CALL,
        Side.BUY,
        Decimal(80),
        Decimal(2),
        timedelta(minutes=30),
        timedelta(hours=1),
    )
    assert _product(hour, "1").kind is ProductKind.POWER
    assert _product(hour, "1", description=transport).kind is ProductKind.TRANSPORT
    assert _product(hour, "1", option=option).kind is ProductKind.POWER_OPTION
    transport_option = _product(
        hour,
        "1",
        description=transport,
        option=option.__class__(
            OptionType.PUT, Side.SELL, Decimal(3), Decimal(1), timedelta(0), timedelta(hours=1)
        ),
    )
    assert transport_option.kind is ProductKind.TRANSPORT_OPTION


def test_option_premium_is_paid_on_the_whole_option_energy() -> None:
    # TeMIX paper 2.2: a 10 MW call option for a day, 1-hour granularity, 30-minute lead time.
    day = Interval.day(date(2026, 7, 1), "America/Chicago")
    option = OptionTerms(
        OptionType.CALL,
        Side.BUY,
        Decimal(120),
        Decimal("1.5"),
        timedelta(minutes=30),
        timedelta(hours=1),
    )
    product = _product(day, "10", price="120", option=option)
    assert product.energy == Decimal(240)
    assert product.premium_cost == Decimal(360)
    assert product.extended_price == Decimal(28800)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda hour: _product(hour, "0"), "must be positive"),
        (lambda hour: _product(hour, "1", currency="usd"), "ISO 4217"),
        (lambda hour: _product(hour, "1", uid=" "), "needs a uid"),
        (lambda hour: _product(hour, "1", related_to="tx-1"), "only an exercise"),
        (lambda hour: _product(hour, "1", expires=datetime(2026, 1, 1)), "time-zone aware"),
        (
            lambda hour: _product(
                hour,
                "1",
                option=OptionTerms(
                    OptionType.CALL,
                    Side.BUY,
                    Decimal(99),
                    Decimal(1),
                    timedelta(0),
                    timedelta(hours=1),
                ),
            ),
            "strike price",
        ),
        (
            lambda hour: Tender("t-1", _product(hour, "1", state=TransactiveState.TRANSACTION)),
            "state tender",
        ),
        (lambda hour: Quote("q-1", (_product(hour, "1"),)), "indications of interest"),
        (lambda hour: TransportPath("A", "A"), "two different nodes"),
    ],
    ids=[
        "zero-rate",
        "lowercase-currency",
        "blank-uid",
        "related-to-outside-exercise",
        "naive-expiry",
        "option-price-not-strike",
        "tender-not-in-tender-state",
        "quote-of-a-tender",
        "transport-to-itself",
    ],
)
def test_values_the_profile_does_not_allow_are_refused(build, message: str) -> None:
    hour = Interval(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1))
    with pytest.raises(ModelError, match=message):
        build(hour)


def test_a_party_is_a_participant_unless_told_otherwise() -> None:
    from temix.model import Party, PartyRole

    assert Party("rep").roles == frozenset({PartyRole.PARTICIPANT})
    operator = Party("iso", "Market operator", frozenset({PartyRole.MARKET_OPERATOR}))
    assert PartyRole.MARKET_OPERATOR in operator.roles
    with pytest.raises(ModelError, match="party id"):
        Party("  ")
