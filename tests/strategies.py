"""Hypothesis strategies that generate every TeMIX value the model allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from temix import payloads as p
from temix.model import (
    AvailabilitySchedule,
    AvailableWindow,
    Delivery,
    EnergyUnit,
    Interface,
    InterfaceKind,
    Interval,
    Location,
    MarketContext,
    MarketGranularity,
    MeterReading,
    MinimumNotification,
    OptionTerms,
    OptionType,
    Position,
    PowerDescription,
    PowerUnit,
    Product,
    ProductKind,
    Quote,
    Recurrence,
    Response,
    Settlement,
    Side,
    SiScale,
    Target,
    Tender,
    TermViolation,
    Transaction,
    TransactiveState,
    TransportPath,
)
from temix.settlement import Publication, SettlementStatement, SettlementTrade

identifiers = st.from_regex(r"[A-Za-z][A-Za-z0-9._:-]{0,20}", fullmatch=True)
uris = st.builds(lambda name: f"http://market.example/{name}", identifiers)
currencies = st.sampled_from(["USD", "EUR", "CAD", "GBP", "AUD", "JPY"])


def _decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(Decimal(low), Decimal(high), places=places, allow_nan=False)


prices = _decimals("-500", "10000", 4)
rates = _decimals("0.001", "100000", 3)
instants = st.datetimes(datetime(2020, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)).map(
    lambda moment: moment.replace(microsecond=0)
)
durations = st.integers(1, 400 * 24 * 3600).map(lambda seconds: timedelta(seconds=seconds))
intervals = st.builds(Interval, instants, durations)

power_units = st.builds(
    PowerUnit,
    st.sampled_from(list(SiScale)),
    _decimals("0", "400", 2),
    _decimals("0", "800000", 1),
    st.booleans(),
)
energy_units = st.builds(EnergyUnit, st.sampled_from(list(SiScale)))
locations = st.builds(Location, identifiers, st.sampled_from(list(InterfaceKind)))
transport_paths = (
    st.tuples(identifiers, identifiers)
    .filter(lambda pair: pair[0] != pair[1])
    .map(lambda pair: TransportPath(*pair))
)
interfaces = st.one_of(locations, transport_paths)


settlements = st.sampled_from(list(Settlement))
wall_clock_starts = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)
).map(lambda moment: moment.replace(microsecond=0))


@st.composite
def available_windows(draw: st.DrawFn) -> AvailableWindow:
    """Windows on the wall clock or in UTC, once, daily or weekly, with or without an until."""
    utc = draw(st.booleans())
    start = draw(wall_clock_starts)
    repeats = draw(st.none() | st.sampled_from(list(Recurrence)))
    until = draw(st.none() | wall_clock_starts) if repeats else None
    if utc:
        start = start.replace(tzinfo=UTC)
        until = None if until is None else until.replace(tzinfo=UTC)
    return AvailableWindow(
        start,
        draw(st.integers(1, 7 * 24 * 3600).map(lambda s: timedelta(seconds=s))),
        repeats,
        draw(st.frozensets(st.integers(0, 6), max_size=7)) if repeats else frozenset(),
        until,
    )


availability_schedules = st.lists(available_windows(), min_size=1, max_size=3).map(
    lambda windows: AvailabilitySchedule(tuple(windows))
)


@st.composite
def products(draw: st.DrawFn, state: TransactiveState | None = None) -> Product:
    interval = draw(intervals)
    option = None
    related_to = None
    chosen_state = state or draw(st.sampled_from(list(TransactiveState)))
    price = draw(prices)
    if chosen_state is TransactiveState.EXERCISE:
        related_to = draw(identifiers)
    elif draw(st.booleans()):
        option = OptionTerms(
            draw(st.sampled_from(list(OptionType))),
            draw(st.sampled_from(list(Side))),
            price,
            draw(_decimals("0", "100", 4)),
            draw(st.integers(0, 24 * 3600).map(lambda s: timedelta(seconds=s))),
            draw(st.integers(1, 24 * 3600).map(lambda s: timedelta(seconds=s))),
            draw(st.none() | availability_schedules),
        )
    return Product(
        uid=draw(identifiers),
        interval=interval,
        description=PowerDescription(
            draw(interfaces), price, draw(rates), draw(power_units), draw(energy_units)
        ),
        state=chosen_state,
        side=draw(st.sampled_from(list(Side))),
        market_context=draw(uris),
        currency=draw(st.one_of(st.none(), currencies)),
        expires=draw(st.one_of(st.none(), instants)),
        integral_only=draw(st.one_of(st.none(), st.booleans())),
        option=option,
        related_to=related_to,
        settlement=draw(settlements),
    )


tenders = st.builds(Tender, identifiers, products(TransactiveState.TENDER))
quotes = st.builds(
    Quote,
    identifiers,
    st.lists(products(TransactiveState.INDICATION_OF_INTEREST), min_size=1, max_size=3).map(tuple),
)
transactions = st.one_of(
    st.builds(
        Transaction, identifiers, products(TransactiveState.TRANSACTION), st.none() | identifiers
    ),
    st.builds(Transaction, identifiers, products(TransactiveState.EXERCISE), st.none()),
)
readings = st.builds(
    MeterReading,
    intervals,
    _decimals("0", "100000", 3),
    uris,
    interfaces,
    power_units,
    st.none() | identifiers,
)
new_deliveries = st.builds(
    Delivery, identifiers, st.booleans(), st.lists(readings, min_size=1, max_size=4).map(tuple)
)
stored_deliveries = st.builds(
    Delivery,
    identifiers,
    st.booleans(),
    st.lists(readings, min_size=1, max_size=4).map(tuple),
    identifiers,
    instants,
)
terms = st.one_of(
    st.builds(MinimumNotification, durations),
    st.builds(MarketGranularity, _decimals("0.001", "10", 3), power_units),
)
responses = st.builds(
    Response,
    st.from_regex(r"[0-9]{3}", fullmatch=True),
    identifiers,
    st.none() | st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1),
    st.lists(st.builds(TermViolation, identifiers, terms), max_size=2).map(tuple),
    st.none() | instants,
)
market_contexts = st.builds(
    MarketContext,
    uri=uris,
    name=identifiers,
    currency=currencies,
    power_unit=power_units,
    energy_unit=energy_units,
    quantity_step=_decimals("0.001", "10", 3),
    time_zone=st.sampled_from(["UTC", "America/Chicago", "Europe/Paris", "Australia/Sydney"]),
    interval_granularity=durations,
    allowed_products=st.frozensets(st.sampled_from(list(ProductKind)), min_size=1),
    allowed_durations=st.lists(durations, max_size=3).map(tuple),
    balancing_price_source=st.none() | uris,
    index_price_source=st.none() | uris,
    created=st.none() | instants,
)
positions = st.builds(
    Position, intervals, _decimals("-1000", "1000", 3), prices, _decimals("-100000", "100000", 4)
)
targets = st.builds(
    Target,
    st.lists(interfaces, max_size=2).map(tuple),
    st.lists(identifiers, max_size=2).map(tuple),
    st.lists(identifiers, max_size=2).map(tuple),
    st.lists(identifiers, min_size=1, max_size=2).map(tuple),
)


def _some(strategy: st.SearchStrategy, low: int = 1) -> st.SearchStrategy[tuple]:
    return st.lists(strategy, min_size=low, max_size=3).map(tuple)


def _many(strategy: st.SearchStrategy) -> st.SearchStrategy[tuple]:
    return _some(strategy, 0)


optional_id = st.none() | identifiers

money = _decimals("-1000000", "1000000", 4)
balancing_trades = st.builds(
    SettlementTrade,
    intervals,
    st.sampled_from(list(Side)),
    rates,
    prices,
    _decimals("0", "100000", 3),
    money,
)
statements = st.builds(
    SettlementStatement,
    identifiers,
    interfaces,
    intervals,
    money,
    money,
    money,
    _many(balancing_trades),
    money,
    money,
    _many(balancing_trades),
)
settlement_replies = st.builds(p.ReplySettlement, responses) | st.builds(
    p.ReplySettlement, responses, statements, uris, power_units, energy_units, currencies
)


def publications(interface: Interface) -> st.SearchStrategy[Publication]:
    """Publications at ``interface``: with all three prices, or none when nothing traded."""
    return st.builds(
        lambda interval, count, total_rate, published: Publication(
            interval, interface, count, total_rate, *published
        ),
        intervals,
        st.integers(0, 10_000),
        _decimals("0", "100000", 3),
        st.just((None, None, None)) | st.tuples(prices, prices, prices),
    )


publication_replies = interfaces.flatmap(
    lambda interface: st.builds(
        p.ReplyPublication,
        responses,
        uris,
        st.just(interface),
        power_units,
        energy_units,
        currencies,
        _many(publications(interface)),
        settlements,
    )
)

#: What the server stores: every kind of value ``temix.codec.encode_item`` writes.
items = st.one_of(tenders, quotes, transactions, stored_deliveries, market_contexts)

payloads = st.one_of(
    st.builds(p.CreateTender, identifiers, identifiers, identifiers, _some(tenders)),
    st.builds(
        p.CreatedTender, responses, _many(responses), identifiers, optional_id, _many(identifiers)
    ),
    st.builds(p.CancelTender, identifiers, identifiers, _some(identifiers), optional_id),
    st.builds(p.CanceledTender, responses, identifiers, _many(responses), optional_id),
    st.builds(
        p.RequestTender,
        identifiers,
        identifiers,
        identifiers,
        _many(identifiers),
        _many(uris),
        _many(identifiers),
        _many(intervals),
    ),
    st.builds(p.ReplyTender, responses, _many(responses), _many(tenders)),
    st.builds(p.DistributeTender, identifiers, identifiers, targets, _some(tenders)),
    st.builds(p.CreateQuote, identifiers, identifiers, identifiers, _some(quotes)),
    st.builds(
        p.CreatedQuote, responses, identifiers, _many(responses), optional_id, _many(identifiers)
    ),
    st.builds(p.CancelQuote, identifiers, identifiers, _some(identifiers), optional_id),
    st.builds(p.CanceledQuote, responses, _many(responses), optional_id, optional_id),
    st.builds(
        p.RequestQuote,
        identifiers,
        identifiers,
        identifiers,
        _many(uris),
        _many(identifiers),
        _many(intervals),
    ),
    st.builds(p.ReplyQuote, responses, _many(responses), _many(quotes)),
    st.builds(p.CreateTransaction, identifiers, identifiers, identifiers, _some(transactions)),
    st.builds(
        p.CreatedTransaction,
        identifiers,
        identifiers,
        responses,
        _many(responses),
        _many(identifiers),
    ),
    st.builds(
        p.RequestTransaction,
        identifiers,
        identifiers,
        identifiers,
        _many(identifiers),
        _many(uris),
        _many(identifiers),
        _many(intervals),
    ),
    st.builds(p.ReplyTransaction, responses, _many(responses), _many(transactions)),
    st.builds(p.CreateDelivery, identifiers, identifiers, _some(new_deliveries)),
    st.builds(p.CreatedDelivery, responses, _many(responses), _many(stored_deliveries)),
    st.builds(
        p.RequestDelivery,
        identifiers,
        identifiers,
        optional_id,
        _many(uris),
        _many(identifiers),
        _many(intervals),
    ),
    st.builds(p.ReplyDelivery, responses, _many(responses), _many(stored_deliveries)),
    st.builds(p.RequestMarketContext, identifiers, _some(uris), optional_id),
    st.builds(p.ReplyEiMarketContext, responses, _many(responses)),
    st.builds(p.ReplyMarketContext, responses, _many(market_contexts)),
    st.builds(
        p.RequestPosition,
        identifiers,
        identifiers,
        identifiers,
        uris,
        interfaces,
        _some(intervals),
        settlements,
    ),
    st.builds(
        p.ReplyPosition,
        responses,
        identifiers,
        uris,
        interfaces,
        power_units,
        energy_units,
        currencies,
        _many(positions),
        settlements,
    ),
    st.builds(
        p.RequestSettlement, identifiers, identifiers, identifiers, uris, interfaces, intervals
    ),
    settlement_replies,
    st.builds(
        p.RequestPublication,
        identifiers,
        identifiers,
        uris,
        interfaces,
        _some(intervals),
        settlements,
    ),
    publication_replies,
)
