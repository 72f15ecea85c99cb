"""The TeMIX market rules, on the paper's and EMIX-377's own numbers where they give some."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from temix.model import (
    EnergyUnit,
    Interval,
    Location,
    MarketContext,
    MarketGranularity,
    MinimumNotification,
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
    Transaction,
    TransactiveState,
    TransportPath,
)
from temix.responses import ResponseCode, response, response_table
from temix.rules import (
    WHOLE_MARKET_CONTEXT,
    Refusal,
    TenderRecord,
    TransactionRecord,
    accept_quote,
    accept_tender,
    cancel_tender,
    check_fits_market,
    create_tender,
    exercise_option,
    expire_if_due,
)
from temix.states import DealEvent, TenderStatus, TransitionRefused, next_state

MW = PowerUnit(SiScale.MEGA)
MWH = EnergyUnit(SiScale.MEGA)
URI = "http://market.example/retail"
PACIFIC = "America/Los_Angeles"
MARKET = MarketContext(
    uri=URI, name="Retail", quantity_step=Decimal("0.1"), time_zone=PACIFIC, power_unit=MW
)
REP = "rep"
CUSTOMER = "customer"
NEIGHBOUR = "neighbour"

DOCS = Path(__file__).parents[1] / "docs" / "responses.md"
GENERATED = re.compile(
    r"<!-- BEGIN GENERATED: python -m temix\.responses -->\n(.*)<!-- END GENERATED -->",
    re.DOTALL,
)


def _pacific(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(PACIFIC))


TOMORROW = date(2026, 7, 1)
THREE_TO_FIVE_PM = Interval(_pacific(TOMORROW, 15), timedelta(hours=2))
NOW = _pacific(date(2026, 6, 30), 12)


def _product(
    interval: Interval = THREE_TO_FIVE_PM,
    rate: str = "1",
    *,
    side: Side = Side.SELL,
    state: TransactiveState = TransactiveState.TENDER,
    **changes: object,
) -> Product:
    fields: dict[str, object] = {
        "uid": "product-1",
        "interval": interval,
        "description": PowerDescription(Location("NODE-A"), Decimal(80), Decimal(rate), MW),
        "state": state,
        "side": side,
        "market_context": URI,
        "expires": _pacific(TOMORROW, 14),
    }
    fields.update(changes)
    return Product(**fields)  # type: ignore[arg-type]


def _record(rate: str = "10", *, side: Side = Side.SELL, **changes: object) -> TenderRecord:
    record = create_tender(
        Tender("tender-1", _product(rate=rate, side=side, **changes)),
        REP,
        frozenset({CUSTOMER, NEIGHBOUR}),
        NOW,
    )
    assert isinstance(record, TenderRecord)
    return record


def _accepted(
    record: TenderRecord, quantity: str, acceptor: str = CUSTOMER, now: datetime = NOW
) -> tuple[TenderRecord, TransactionRecord]:
    result = accept_tender(record, acceptor, Decimal(quantity), "transaction-1", now)
    assert not isinstance(result, Refusal), result
    return result


def _refused(result: object, code: ResponseCode, *words: str) -> Refusal:
    assert isinstance(result, Refusal), result
    assert result.code is code, result
    for word in words:
        assert word in result.description, result.description
    return result


# --- eiResponse codes ------------------------------------------------------------------------


def test_response_docs_show_the_current_table() -> None:
    found = GENERATED.search(DOCS.read_text(encoding="utf-8"))
    assert found, f"{DOCS} lost its BEGIN/END GENERATED markers"
    printed = subprocess.run(
        [sys.executable, "-m", "temix.responses"], capture_output=True, text=True, check=True
    ).stdout
    assert printed == response_table()
    assert found.group(1) == printed, (
        f"{DOCS} is out of date: replace the block between its markers with the output of "
        "`python -m temix.responses`"
    )


def test_every_code_is_a_distinct_eiresponse_code() -> None:
    codes = [member.code for member in ResponseCode]
    assert len(set(codes)) == len(codes)
    for member in ResponseCode:
        built = response(member, "request-1")
        assert built.code == member.code
        assert built.description == member.title
        assert built.ok is member.code.startswith("2")  # 200, and 206 for an item not listed
        assert ResponseCode.from_code(member.code) is member
    with pytest.raises(ModelError):
        ResponseCode.from_code("418")


def test_a_refusal_becomes_the_eiresponse_it_describes() -> None:
    refusal = check_fits_market(_product(rate="1.05"), MARKET)
    assert refusal is not None
    answer = refusal.response("request-7")
    assert (answer.code, answer.ref_id) == ("422", "request-7")
    assert answer.description == refusal.description
    assert answer.terms_violated == refusal.terms_violated


# --- fitting the market context --------------------------------------------------------------


def test_emix_377_block_fits_the_market() -> None:
    assert check_fits_market(_product(), MARKET) is None


def test_an_unknown_market_context_is_404() -> None:
    _refused(check_fits_market(_product(), None), ResponseCode.UNKNOWN, URI)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"market_context": "http://market.example/other"}, ("market.example/other",)),
        ({"currency": "EUR"}, ("currency EUR", "USD")),
        (
            {
                "description": PowerDescription(
                    Location("N"), Decimal(80), Decimal(1000), PowerUnit(SiScale.KILO)
                )
            },
            ("power units kW",),
        ),
        (
            {
                "description": PowerDescription(
                    Location("N"), Decimal(80), Decimal(1), PowerUnit(hertz=Decimal(50))
                )
            },
            ("50 Hz",),
        ),
        (
            {
                "description": PowerDescription(
                    Location("N"), Decimal(80), Decimal(1), MW, EnergyUnit(SiScale.KILO)
                )
            },
            ("per kWh", "per MWh"),
        ),
        ({"interval": Interval(_pacific(TOMORROW, 15, 2), timedelta(hours=1))}, ("15:02",)),
        ({"interval": Interval(_pacific(TOMORROW, 15), timedelta(minutes=7))}, ("PT7M",)),
    ],
)
def test_each_market_term_is_refused_as_terms_violated(
    changes: dict[str, object], words: tuple[str, ...]
) -> None:
    refusal = _refused(
        check_fits_market(_product(**changes), MARKET), ResponseCode.TERMS_VIOLATED, *words
    )
    assert refusal.terms_violated == ()


def test_a_product_the_market_does_not_trade_is_refused() -> None:
    power_only = replace(MARKET, allowed_products=frozenset({ProductKind.POWER}))
    transport = _product(
        description=PowerDescription(TransportPath("NODE-A", "NODE-B"), Decimal(5), Decimal(1), MW)
    )
    _refused(
        check_fits_market(transport, power_only), ResponseCode.TERMS_VIOLATED, "transport products"
    )
    assert check_fits_market(_product(), power_only) is None


def test_the_quantity_step_is_reported_as_the_market_granularity_term() -> None:
    refusal = _refused(
        check_fits_market(_product(rate="1.05"), MARKET), ResponseCode.TERMS_VIOLATED, "1.05 MW"
    )
    assert [violation.term for violation in refusal.terms_violated] == [
        MarketGranularity(Decimal("0.1"), MW)
    ]
    assert check_fits_market(_product(rate="123456789012345678901234567890.1"), MARKET) is None


def test_every_violation_is_named_at_once() -> None:
    product = _product(
        rate="1.05",
        currency="EUR",
        interval=Interval(_pacific(TOMORROW, 15, 1), timedelta(hours=1)),
    )
    refusal = _refused(
        check_fits_market(product, MARKET), ResponseCode.TERMS_VIOLATED, "EUR", "15:01", "1.05"
    )
    assert len(refusal.terms_violated) == 1


def test_interval_alignment_counts_from_local_midnight() -> None:
    # India is 5 hours 30 minutes ahead of UTC: its hours start at half past in UTC.
    hourly = replace(MARKET, time_zone="Asia/Kolkata", interval_granularity=timedelta(hours=1))
    local_hour = Interval(datetime(2026, 7, 1, 3, 30, tzinfo=UTC), timedelta(hours=1))
    utc_hour = Interval(datetime(2026, 7, 1, 3, tzinfo=UTC), timedelta(hours=1))
    assert check_fits_market(_product(local_hour), hourly) is None
    _refused(check_fits_market(_product(utc_hour), hourly), ResponseCode.TERMS_VIOLATED, "08:30")


def test_allowed_durations_allow_a_daylight_saving_day_when_they_allow_a_day() -> None:
    daily = replace(
        MARKET,
        interval_granularity=timedelta(hours=1),
        allowed_durations=(timedelta(hours=1), timedelta(days=1)),
    )
    spring_forward = Interval.day(date(2026, 3, 8), PACIFIC)
    assert spring_forward.duration == timedelta(hours=23)
    assert check_fits_market(_product(spring_forward), daily) is None
    assert check_fits_market(_product(Interval.day(TOMORROW, PACIFIC)), daily) is None
    not_a_day = Interval(_pacific(TOMORROW, 1), timedelta(hours=23))
    _refused(
        check_fits_market(_product(not_a_day), daily), ResponseCode.TERMS_VIOLATED, "PT23H", "PT24H"
    )
    _refused(check_fits_market(_product(), daily), ResponseCode.TERMS_VIOLATED, "lasts PT2H")


def _option_terms(**changes: object) -> OptionTerms:
    fields: dict[str, object] = {
        "option_type": OptionType.CALL,
        "holder_side": Side.BUY,
        "strike_price": Decimal(80),
        "premium": Decimal(5),
        "lead_time": timedelta(minutes=30),
        "granularity": timedelta(hours=1),
    }
    fields.update(changes)
    return OptionTerms(**fields)  # type: ignore[arg-type]


def test_an_option_granularity_must_be_whole_market_intervals() -> None:
    fits = _product(option=_option_terms())
    assert check_fits_market(fits, MARKET) is None
    odd = _product(option=_option_terms(granularity=timedelta(minutes=7)))
    _refused(check_fits_market(odd, MARKET), ResponseCode.TERMS_VIOLATED, "PT7M", "PT5M")


@given(
    zone=st.sampled_from(["UTC", PACIFIC, "Asia/Kolkata", "Australia/Lord_Howe", "Europe/Paris"]),
    day=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    granularity_minutes=st.sampled_from([5, 15, 30, 60]),
    offset=st.integers(0, 20),
    length=st.integers(1, 24),
)
def test_whole_granules_from_local_midnight_always_fit(
    zone: str, day: date, granularity_minutes: int, offset: int, length: int
) -> None:
    granularity = timedelta(minutes=granularity_minutes)
    market = replace(MARKET, time_zone=zone, interval_granularity=granularity)
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    interval = Interval(midnight + offset * granularity, length * granularity)
    assert check_fits_market(_product(interval), market) is None
    shifted = Interval(interval.start + timedelta(minutes=1), interval.duration)
    assert check_fits_market(_product(shifted), market) is not None


# --- tenders ---------------------------------------------------------------------------------


def test_a_new_tender_is_live_with_all_of_its_rate_remaining() -> None:
    record = _record("10")
    assert (record.status, record.remaining, record.author) == (TenderStatus.LIVE, Decimal(10), REP)


@pytest.mark.parametrize(
    ("offered_to", "words"),
    [(frozenset(), ("nobody",)), (frozenset({REP, CUSTOMER}), ("own author",))],
)
def test_a_tender_is_offered_to_someone_other_than_its_author(
    offered_to: frozenset[str], words: tuple[str, ...]
) -> None:
    tender = Tender("tender-1", _product())
    _refused(create_tender(tender, REP, offered_to, NOW), ResponseCode.BAD_REQUEST, *words)


def test_a_tender_that_arrives_expired_is_refused() -> None:
    tender = Tender("tender-1", _product())
    expires = tender.product.expires
    assert expires is not None
    _refused(
        create_tender(tender, REP, WHOLE_MARKET_CONTEXT, expires),
        ResponseCode.BAD_REQUEST,
        "expired",
    )
    assert isinstance(
        create_tender(tender, REP, WHOLE_MARKET_CONTEXT, expires - timedelta(seconds=1)),
        TenderRecord,
    )


def test_a_record_keeps_remaining_and_status_consistent() -> None:
    record = _record("10")
    with pytest.raises(ModelError):
        replace(record, remaining=Decimal(11))
    with pytest.raises(ModelError):
        replace(record, remaining=Decimal(-1))
    with pytest.raises(ModelError):
        replace(record, status=TenderStatus.FILLED)
    with pytest.raises(ModelError):
        replace(record, remaining=Decimal(0))


def test_accepting_a_sell_tender_makes_the_acceptor_the_buyer() -> None:
    record = _record("10")
    _, made = _accepted(record, "4")
    tendered = record.tender.product
    product = made.transaction.product
    assert (made.buyer, made.seller) == (CUSTOMER, REP)
    assert made.transaction.tender_id == "tender-1"
    assert product.side is Side.BUY
    assert product.state is TransactiveState.TRANSACTION
    assert product.description.quantity == Decimal(4)
    assert product.uid == "transaction-1"
    assert (product.interval, product.description.price, product.description.interface) == (
        tendered.interval,
        tendered.description.price,
        tendered.description.interface,
    )
    assert (product.description.power_unit, product.description.energy_unit) == (
        tendered.description.power_unit,
        tendered.description.energy_unit,
    )
    assert product.expires is None
    assert product.extended_price == Decimal(640)  # 4 MW x 2 h x $80/MWh


def test_accepting_a_buy_tender_makes_the_acceptor_the_seller() -> None:
    _, made = _accepted(_record("10", side=Side.BUY), "10")
    assert made.transaction.product.side is Side.SELL
    assert (made.buyer, made.seller) == (REP, CUSTOMER)


def test_partial_fills_run_down_to_zero_and_then_the_tender_is_gone() -> None:
    record = _record("10")
    record, _ = _accepted(record, "3")
    assert (record.status, record.remaining) == (TenderStatus.PARTIALLY_FILLED, Decimal(7))
    record, _ = _accepted(record, "2.5", acceptor=NEIGHBOUR)
    assert (record.status, record.remaining) == (TenderStatus.PARTIALLY_FILLED, Decimal("4.5"))
    record, made = _accepted(record, "4.5")
    assert (record.status, record.remaining) == (TenderStatus.FILLED, Decimal(0))
    assert made.transaction.product.description.quantity == Decimal("4.5")
    _refused(
        accept_tender(record, NEIGHBOUR, Decimal(1), "transaction-9", NOW),
        ResponseCode.GONE,
        "filled",
    )


def test_of_two_parties_racing_for_the_last_megawatt_the_second_is_refused() -> None:
    stored = _record("1")
    stored, _ = _accepted(stored, "1", acceptor=CUSTOMER)
    second = accept_tender(stored, NEIGHBOUR, Decimal(1), "transaction-2", NOW)
    _refused(second, ResponseCode.GONE, "filled")


def test_remaining_is_exact_however_many_digits_the_rate_has() -> None:
    record, _ = _accepted(_record("123456789012345678901234567890.1"), "0.1")
    assert record.remaining == Decimal("123456789012345678901234567890")


def test_more_than_remains_is_a_conflict() -> None:
    record, _ = _accepted(_record("10"), "8")
    _refused(
        accept_tender(record, NEIGHBOUR, Decimal(3), "transaction-2", NOW),
        ResponseCode.CONFLICT,
        "only 2 MW",
        "not 3 MW",
    )


def test_an_integral_only_tender_is_taken_whole_or_not_at_all() -> None:
    record = _record("10", integral_only=True)
    _refused(
        accept_tender(record, CUSTOMER, Decimal(4), "transaction-1", NOW),
        ResponseCode.TERMS_VIOLATED,
        "integral-only",
    )
    record, made = _accepted(record, "10")
    assert record.status is TenderStatus.FILLED
    assert made.transaction.product.integral_only is None


def test_nobody_accepts_their_own_tender() -> None:
    _refused(
        accept_tender(_record(), REP, Decimal(1), "t", NOW),
        ResponseCode.NOT_AUTHORISED,
        "own tender",
    )
    whole_market = replace(_record(), offered_to=WHOLE_MARKET_CONTEXT)
    _refused(accept_tender(whole_market, REP, Decimal(1), "t", NOW), ResponseCode.NOT_AUTHORISED)


def test_only_a_party_it_was_offered_to_accepts_a_tender() -> None:
    record = replace(_record(), offered_to=frozenset({CUSTOMER}))
    _refused(
        accept_tender(record, NEIGHBOUR, Decimal(1), "t", NOW),
        ResponseCode.NOT_AUTHORISED,
        "not offered to neighbour",
    )
    whole_market = replace(record, offered_to=WHOLE_MARKET_CONTEXT)
    _accepted(whole_market, "1", acceptor="anyone-in-the-market")


@pytest.mark.parametrize("quantity", ["0", "-1"])
def test_a_quantity_that_is_not_positive_is_a_bad_request(quantity: str) -> None:
    _refused(
        accept_tender(_record(), CUSTOMER, Decimal(quantity), "t", NOW), ResponseCode.BAD_REQUEST
    )


def test_an_expired_tender_is_gone_from_its_expiry_on() -> None:
    record = _record()
    expires = record.tender.product.expires
    assert expires is not None
    _accepted(record, "1", now=expires - timedelta(seconds=1))
    _refused(
        accept_tender(record, CUSTOMER, Decimal(1), "t", expires), ResponseCode.GONE, "expired at"
    )
    _refused(cancel_tender(record, REP, expires), ResponseCode.GONE, "expired at")


def test_a_cancelled_tender_is_gone() -> None:
    cancelled = cancel_tender(_record(), REP, NOW)
    assert isinstance(cancelled, TenderRecord)
    assert cancelled.status is TenderStatus.CANCELLED
    _refused(
        accept_tender(cancelled, CUSTOMER, Decimal(1), "t", NOW), ResponseCode.GONE, "cancelled"
    )
    _refused(cancel_tender(cancelled, REP, NOW), ResponseCode.GONE, "cancelled")


def test_only_the_author_cancels_and_a_partly_filled_tender_keeps_what_was_taken() -> None:
    record, _ = _accepted(_record("10"), "4")
    _refused(cancel_tender(record, CUSTOMER, NOW), ResponseCode.NOT_AUTHORISED, "only the author")
    cancelled = cancel_tender(record, REP, NOW)
    assert isinstance(cancelled, TenderRecord)
    assert (cancelled.status, cancelled.remaining) == (TenderStatus.CANCELLED, Decimal(6))


def test_expire_if_due_expires_only_an_open_tender_past_its_expiry() -> None:
    record = _record()
    expires = record.tender.product.expires
    assert expires is not None
    assert expire_if_due(record, expires - timedelta(seconds=1)) is record
    assert expire_if_due(record, expires).status is TenderStatus.EXPIRED
    filled, _ = _accepted(record, "10")
    assert expire_if_due(filled, expires) is filled
    assert (
        expire_if_due(_record(expires=None), NOW + timedelta(days=3650)).status is TenderStatus.LIVE
    )


def test_an_accepted_quantity_off_the_market_step_is_caught_when_the_transaction_is_stored() -> (
    None
):
    _, made = _accepted(_record("10"), "0.05")
    _refused(
        check_fits_market(made.transaction.product, MARKET), ResponseCode.TERMS_VIOLATED, "0.05"
    )


@given(takes=st.lists(st.integers(1, 40), max_size=15))
def test_random_partial_accepts_never_overdraw_a_tender(takes: list[int]) -> None:
    record = _record("25.0")
    taken = Decimal(0)
    for tenths in takes:
        quantity = Decimal(tenths) / 10
        result = accept_tender(record, CUSTOMER, quantity, f"t-{len(takes)}", NOW)
        if isinstance(result, Refusal):
            assert result.code in (ResponseCode.CONFLICT, ResponseCode.GONE)
            assert quantity > record.remaining
            continue
        record, made = result
        assert record.remaining >= 0
        taken += made.transaction.product.description.quantity
        assert (record.status is TenderStatus.FILLED) is (record.remaining == 0)
    assert taken == Decimal(25) - record.remaining


# --- quotes ----------------------------------------------------------------------------------


def test_a_quote_is_never_actionable() -> None:
    quote = Quote(
        "quote-1", (_product(state=TransactiveState.INDICATION_OF_INTEREST, expires=None),)
    )
    refusal = _refused(
        accept_quote(quote), ResponseCode.NOT_ACTIONABLE, "quote-1", "not actionable"
    )
    with pytest.raises(TransitionRefused) as table:
        next_state(TransactiveState.INDICATION_OF_INTEREST, DealEvent.ACCEPT)
    assert table.value.code is refusal.code


# --- options ---------------------------------------------------------------------------------

DAY = Interval(datetime(2026, 7, 1, tzinfo=UTC), timedelta(days=1))


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 7, 1, hour, minute, tzinfo=UTC)


NODE_A = Location("NODE-A")
NINE_AM = _at(9)


def _hours(start: int, end: int) -> Interval:
    return Interval.between(_at(start), _at(end))


def _option(*, interface: Location | TransportPath = NODE_A, **terms: object) -> TransactionRecord:
    """The paper's option: 10 MW for a day, 1-hour granularity, 30 minutes' lead time; the
    customer bought it from the REP."""
    product = _product(
        DAY,
        state=TransactiveState.TRANSACTION,
        side=Side.BUY,
        description=PowerDescription(interface, Decimal(80), Decimal(10), MW),
        option=_option_terms(**terms),
        expires=None,
    )
    return TransactionRecord(
        Transaction("option-1", product, "tender-1"), buyer=CUSTOMER, seller=REP
    )


def _exercise(
    option: TransactionRecord,
    sub_interval: Interval,
    rate: str = "10",
    now: datetime = NINE_AM,
    party: str = CUSTOMER,
    earlier: tuple[Transaction, ...] = (),
) -> TransactionRecord | Refusal:
    return exercise_option(option, party, sub_interval, Decimal(rate), "exercise-1", now, earlier)


def _exercised(*args: object, **kwargs: object) -> TransactionRecord:
    result = _exercise(*args, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, TransactionRecord), result
    return result


def test_the_papers_call_exercised_for_ten_to_eleven_at_nine_twenty_nine() -> None:
    made = _exercised(_option(), _hours(10, 11), now=_at(9, 29))
    product = made.transaction.product
    assert (made.buyer, made.seller) == (CUSTOMER, REP)
    assert made.transaction.tender_id is None
    assert product.state is TransactiveState.EXERCISE
    assert product.related_to == "option-1"
    assert product.option is None
    assert product.kind is ProductKind.POWER
    assert product.side is Side.BUY
    assert product.interval == _hours(10, 11)
    assert (product.description.quantity, product.description.price) == (Decimal(10), Decimal(80))
    assert product.extended_price == Decimal(800)


def test_notice_exactly_the_lead_time_ahead_is_in_time() -> None:
    _exercised(_option(), _hours(10, 11), now=_at(9, 30))


def test_the_papers_call_exercised_at_nine_thirty_one_is_too_late() -> None:
    refusal = _refused(
        _exercise(_option(), _hours(10, 11), now=_at(9, 31)),
        ResponseCode.TERMS_VIOLATED,
        "2026-07-01T09:30:00Z",
        "PT30M",
    )
    assert [violation.term for violation in refusal.terms_violated] == [
        MinimumNotification(timedelta(minutes=30))
    ]


def test_an_exercise_off_the_hour_is_refused() -> None:
    off_hour = Interval(_at(10, 15), timedelta(hours=1))
    _refused(_exercise(_option(), off_hour), ResponseCode.TERMS_VIOLATED, "boundary")


def test_an_exercise_shorter_than_the_granularity_is_refused() -> None:
    half_hour = Interval(_at(10), timedelta(minutes=30))
    _refused(_exercise(_option(), half_hour), ResponseCode.TERMS_VIOLATED, "PT30M", "PT1H")
    ninety = Interval(_at(10), timedelta(minutes=90))
    _refused(_exercise(_option(), ninety), ResponseCode.TERMS_VIOLATED, "PT1H30M")


def test_more_than_the_options_rate_is_refused() -> None:
    _refused(
        _exercise(_option(), _hours(10, 11), rate="11"),
        ResponseCode.TERMS_VIOLATED,
        "11 MW",
        "10 MW",
    )


@pytest.mark.parametrize("rate", ["0", "-2"])
def test_an_exercised_rate_that_is_not_positive_is_a_bad_request(rate: str) -> None:
    _refused(_exercise(_option(), _hours(10, 11), rate=rate), ResponseCode.BAD_REQUEST)


def test_an_exercise_outside_the_delivery_interval_is_refused() -> None:
    next_day = Interval(datetime(2026, 7, 2, tzinfo=UTC), timedelta(hours=1))
    _refused(_exercise(_option(), next_day), ResponseCode.TERMS_VIOLATED, "not within")
    overhanging = Interval(_at(23), timedelta(hours=2))
    _refused(_exercise(_option(), overhanging), ResponseCode.TERMS_VIOLATED, "not within")


def test_any_run_of_whole_hours_may_be_exercised_at_part_of_the_rate() -> None:
    made = _exercised(_option(), _hours(10, 13), rate="4")
    assert made.transaction.product.energy == Decimal(12)


@pytest.mark.parametrize("party", [REP, NEIGHBOUR])
def test_only_the_holder_exercises(party: str) -> None:
    _refused(
        _exercise(_option(), _hours(10, 11), party=party), ResponseCode.NOT_AUTHORISED, "holder"
    )


def test_the_holder_is_the_party_on_the_holder_side() -> None:
    sold_by_holder = _option(holder_side=Side.SELL)
    _refused(_exercise(sold_by_holder, _hours(10, 11), party=CUSTOMER), ResponseCode.NOT_AUTHORISED)
    made = _exercised(sold_by_holder, _hours(10, 11), party=REP)
    assert (made.buyer, made.seller) == (REP, CUSTOMER)


def test_the_holder_of_a_put_sells_the_underlying() -> None:
    made = _exercised(_option(option_type=OptionType.PUT), _hours(10, 11))
    assert made.transaction.product.side is Side.SELL
    assert (made.buyer, made.seller) == (REP, CUSTOMER)


def test_a_transport_option_makes_a_transport_transaction() -> None:
    made = _exercised(_option(interface=TransportPath("NODE-A", "NODE-B")), _hours(10, 11))
    assert made.transaction.product.kind is ProductKind.TRANSPORT


def test_a_power_transaction_cannot_be_exercised() -> None:
    power = _product(DAY, state=TransactiveState.TRANSACTION, side=Side.BUY, expires=None)
    record = TransactionRecord(Transaction("power-1", power), buyer=CUSTOMER, seller=REP)
    _refused(_exercise(record, _hours(10, 11)), ResponseCode.NOT_ACTIONABLE, "power-1", "option")


def test_earlier_exercises_count_against_the_rate_in_every_hour() -> None:
    option = _option()
    first = _exercised(option, _hours(10, 11), rate="6").transaction
    _refused(
        _exercise(option, _hours(10, 12), rate="5", earlier=(first,)),
        ResponseCode.CONFLICT,
        "only 4 MW",
        "2026-07-01T10:00:00Z",
    )
    _exercised(option, _hours(10, 12), rate="4", earlier=(first,))
    _exercised(option, _hours(11, 12), rate="10", earlier=(first,))


@given(
    requests=st.lists(
        st.tuples(st.integers(0, 23), st.integers(1, 6), st.integers(1, 10)), max_size=12
    )
)
def test_exercises_never_add_up_to_more_than_the_option_in_any_hour(
    requests: list[tuple[int, int, int]],
) -> None:
    option = _option()
    made: list[Transaction] = []
    for first_hour, hours, rate in requests:
        sub_interval = Interval(_at(first_hour), timedelta(hours=hours))
        result = exercise_option(
            option,
            CUSTOMER,
            sub_interval,
            Decimal(rate),
            f"e-{len(made)}",
            _at(0) - timedelta(hours=1),
            made,
        )
        if isinstance(result, TransactionRecord):
            made.append(result.transaction)
        else:
            assert result.code in (ResponseCode.CONFLICT, ResponseCode.TERMS_VIOLATED)
    for hour in DAY.split(timedelta(hours=1)):
        exercised = sum(
            (e.product.description.quantity for e in made if e.product.interval.overlap(hour)),
            Decimal(0),
        )
        assert exercised <= Decimal(10)
