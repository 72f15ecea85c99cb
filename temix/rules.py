"""The TeMIX market rules as pure functions over model values.

Each rule gets the values as they are stored and the current time as an argument (nothing here
reads a clock, a database or the network) and returns its result or a :class:`Refusal`. A
business refusal is a value, not an exception, so the server writes it into an eiResponse;
exceptions are left for programming errors. State changes go through :mod:`temix.states`.

What the server adapter owes these rules:

* It runs :func:`check_fits_market` on every product before storing it, including the
  transaction and exercise products made here: that is where an accepted or exercised rate
  meets the market's quantity step.
* Atomicity is the store's. :func:`accept_tender` and :func:`cancel_tender` get the tender
  record as currently stored and return the record to store; the adapter reads the record with
  a row lock (``SELECT ... FOR UPDATE``; SQLite serialises writing transactions instead) in the
  database transaction that stores the new transaction. When two parties race for the last
  megawatt, the second waits, reads what the first wrote, runs the rule again and is refused
  with 410 (filled) or 409 (not enough remains).
* An option's exercises are serialised the same way (a lock on the option's row), and the
  earlier exercises given to :func:`exercise_option` are read under that lock.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Literal
from zoneinfo import ZoneInfo

from temix.codec import format_decimal, format_duration, format_instant
from temix.model import (
    Interval,
    MarketContext,
    MarketGranularity,
    MinimumNotification,
    ModelError,
    OptionTerms,
    OptionType,
    PowerUnit,
    Product,
    Quote,
    Response,
    Settlement,
    SettlementTerm,
    Side,
    Tender,
    TermViolation,
    Transaction,
    TransactionRecord,
    TransactiveState,
)
from temix.responses import ResponseCode, response
from temix.states import (
    OPEN_STATUSES,
    TENDERS,
    DealEvent,
    TenderEvent,
    TenderStatus,
    TransitionRefused,
    next_state,
    next_status,
)


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: an eiResponse code, a description naming what is wrong, and
    the EMIX terms it violates where EMIX has an element for them."""

    code: ResponseCode
    description: str
    terms_violated: tuple[TermViolation, ...] = ()

    def response(self, ref_id: str, created: datetime | None = None) -> Response:
        return response(self.code, ref_id, self.description, self.terms_violated, created)


class Audience(Enum):
    """Whom a tender is offered to when that is not a list of parties."""

    WHOLE_MARKET_CONTEXT = "wholeMarketContext"


WHOLE_MARKET_CONTEXT = Audience.WHOLE_MARKET_CONTEXT

OfferedTo = frozenset[str] | Literal[Audience.WHOLE_MARKET_CONTEXT]


@dataclass(frozen=True)
class TenderRecord:
    """A stored tender: who wrote it, who may accept it, how much is left, its status."""

    tender: Tender
    author: str
    offered_to: OfferedTo
    remaining: Decimal
    status: TenderStatus

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.remaining <= self.tender.product.description.quantity:
            raise ModelError(
                f"remaining {self.remaining} is outside 0 to the tendered "
                f"{self.tender.product.description.quantity}"
            )
        if (self.remaining == 0) != (self.status is TenderStatus.FILLED):
            raise ModelError(
                f"a tender with {self.remaining} remaining cannot be {self.status}: "
                "a tender is filled exactly when nothing remains"
            )

    def is_offered_to(self, party: str) -> bool:
        if party == self.author:
            return False
        return self.offered_to is WHOLE_MARKET_CONTEXT or party in self.offered_to


def _describe_power(unit: PowerUnit) -> str:
    current = "AC" if unit.ac else "DC"
    return f"{unit.symbol} at {unit.hertz} Hz, {unit.voltage} V {current}"


def _rate(quantity: Decimal, unit: PowerUnit) -> str:
    return f"{format_decimal(quantity)} {unit.symbol}"


_EXACT = decimal.Context(prec=decimal.MAX_PREC)
"""Adds and subtracts rates without rounding: the default context keeps 28 digits."""


def _is_multiple(quantity: Decimal, step: Decimal) -> bool:
    """Exact, whatever the size: Decimal's remainder fails beyond its context's precision."""
    return Fraction(quantity) % Fraction(step) == 0


def _local_midnight(moment: datetime, zone: ZoneInfo) -> datetime:
    return datetime.combine(moment.astimezone(zone).date(), time(0), tzinfo=zone)


def _is_local_day(interval: Interval, zone: ZoneInfo) -> bool:
    """Whether ``interval`` is one whole calendar day in ``zone`` (23, 24 or 25 hours)."""
    day = interval.start.astimezone(zone).date()
    return interval == Interval.day(day, zone.key)


def _duration_allowed(interval: Interval, market: MarketContext, zone: ZoneInfo) -> bool:
    """A listed duration, where a listed day also allows a 23- or 25-hour daylight-saving day."""
    if interval.duration in market.allowed_durations:
        return True
    return timedelta(days=1) in market.allowed_durations and _is_local_day(interval, zone)


def _interval_violations(product: Product, market: MarketContext) -> list[str]:
    zone = ZoneInfo(market.time_zone)
    granularity = market.interval_granularity
    interval = product.interval
    violations = []
    if (interval.start - _local_midnight(interval.start, zone)) % granularity:
        local_start = interval.start.astimezone(zone).isoformat()
        violations.append(
            f"the interval starts at {local_start}, not on a {format_duration(granularity)} "
            f"boundary from midnight in {market.time_zone}"
        )
    if interval.duration % granularity:
        violations.append(
            f"the interval lasts {format_duration(interval.duration)}, not a multiple of the "
            f"market's interval granularity {format_duration(granularity)}"
        )
    if market.allowed_durations and not _duration_allowed(interval, market, zone):
        allowed = ", ".join(format_duration(duration) for duration in market.allowed_durations)
        violations.append(
            f"the interval lasts {format_duration(interval.duration)}; the market allows {allowed}"
        )
    if product.option is not None and product.option.granularity % granularity:
        violations.append(
            f"the option's temporal granularity {format_duration(product.option.granularity)} "
            f"is not a multiple of the market's interval granularity "
            f"{format_duration(granularity)}"
        )
    return violations


def check_fits_market(product: Product, market: MarketContext | None) -> Refusal | None:
    """None when ``product`` fits ``market``; otherwise a refusal naming every term it breaks.

    ``market`` is the market context registered under the product's market context URI, or
    None when no market context is (404). Every other misfit is a 422: the market context URI,
    currency (a product without one uses the market's), power and energy units, product kind,
    interval alignment and duration in the market's time zone, quantity step (reported as
    the EMIX ``marketGranularity`` term), and a financial product in a market that declares no
    index price to cash it out at (reported as the ``tmx:settlement`` term).
    """
    if market is None:
        return Refusal(ResponseCode.UNKNOWN, f"unknown market context {product.market_context}")
    description = product.description
    violations: list[str] = []
    if product.market_context != market.uri:
        violations.append(f"the product names another market context, {product.market_context}")
    if product.currency is not None and product.currency != market.currency:
        violations.append(f"currency {product.currency}; the market trades in {market.currency}")
    if description.power_unit != market.power_unit:
        violations.append(
            f"power units {_describe_power(description.power_unit)}; the market's are "
            f"{_describe_power(market.power_unit)}"
        )
    if description.energy_unit != market.energy_unit:
        violations.append(
            f"prices per {description.energy_unit.symbol}; the market's are per "
            f"{market.energy_unit.symbol}"
        )
    if product.kind not in market.allowed_products:
        allowed = ", ".join(sorted(market.allowed_products))
        violations.append(f"{product.kind} products are not traded here (allowed: {allowed})")
    violations += _interval_violations(product, market)
    terms = []
    if not _is_multiple(description.quantity, market.quantity_step):
        step = _rate(market.quantity_step, market.power_unit)
        terms.append(
            TermViolation(
                f"quantity {_rate(description.quantity, description.power_unit)} is not a "
                f"multiple of the market granularity {step}",
                MarketGranularity(market.quantity_step, market.power_unit),
            )
        )
    if product.settlement is Settlement.FINANCIAL and market.index_price_source is None:
        terms.append(
            TermViolation(
                f"market context {market.uri} declares no index price, so a financial "
                "(cash-settled) product cannot be cashed out in it",
                SettlementTerm(Settlement.FINANCIAL),
            )
        )
    if not violations and not terms:
        return None
    described = violations + [term.description for term in terms]
    return Refusal(
        ResponseCode.TERMS_VIOLATED,
        f"does not fit market context {market.uri}: " + "; ".join(described),
        tuple(terms),
    )


def _expired_at(record: TenderRecord, now: datetime) -> datetime | None:
    """When the tender expired, if it has by ``now``."""
    expires = record.tender.product.expires
    return expires if expires is not None and now >= expires else None


def _tender_transition(
    record: TenderRecord, event: TenderEvent, now: datetime
) -> TenderStatus | Refusal:
    """The status ``event`` leads to, refusing a tender that is over or past its expiry."""
    tender_id = record.tender.tender_id
    expired_at = _expired_at(record, now)
    if record.status in OPEN_STATUSES and expired_at is not None:
        return Refusal(
            ResponseCode.GONE, f"tender {tender_id} expired at {format_instant(expired_at)}"
        )
    try:
        return next_status(record.status, event)
    except TransitionRefused as refused:
        return Refusal(refused.code, f"tender {tender_id}: {refused.description}")


def create_tender(
    tender: Tender, author: str, offered_to: OfferedTo, now: datetime
) -> TenderRecord | Refusal:
    """The record of a new live tender offered to ``offered_to`` by ``author``."""
    if offered_to is not WHOLE_MARKET_CONTEXT:
        if not offered_to:
            return Refusal(
                ResponseCode.BAD_REQUEST, f"tender {tender.tender_id} is offered to nobody"
            )
        if author in offered_to:
            return Refusal(
                ResponseCode.BAD_REQUEST,
                f"tender {tender.tender_id} is offered to its own author {author}",
            )
    record = TenderRecord(
        tender=tender,
        author=author,
        offered_to=offered_to,
        remaining=tender.product.description.quantity,
        status=TENDERS.starts[0],
    )
    expired_at = _expired_at(record, now)
    if expired_at is not None:
        return Refusal(
            ResponseCode.BAD_REQUEST,
            f"tender {tender.tender_id} expired at {format_instant(expired_at)}, before it arrived",
        )
    return record


def cancel_tender(record: TenderRecord, party: str, now: datetime) -> TenderRecord | Refusal:
    """The cancelled record; only its author may cancel, and only while it is open."""
    if party != record.author:
        return Refusal(
            ResponseCode.NOT_AUTHORISED,
            f"only the author of tender {record.tender.tender_id} can cancel it",
        )
    status = _tender_transition(record, TenderEvent.CANCEL, now)
    if isinstance(status, Refusal):
        return status
    return replace(record, status=status)


def expire_if_due(record: TenderRecord, now: datetime) -> TenderRecord:
    """The record with status expired if it is open and past its expiry at ``now``."""
    if record.status in OPEN_STATUSES and _expired_at(record, now) is not None:
        return replace(record, status=next_status(record.status, TenderEvent.EXPIRE))
    return record


def accept_tender(
    record: TenderRecord, acceptor: str, quantity: Decimal, transaction_id: str, now: datetime
) -> tuple[TenderRecord, TransactionRecord] | Refusal:
    """Accept ``quantity`` of the tender: the updated record and the new transaction.

    The transaction's product is the tender's, written from the acceptor's side (accepting a
    sell tender is a buy), at the accepted rate, with ``transaction_id`` as its uid. Less than
    the remaining rate may be accepted unless the tender is integral-only.
    """
    tender = record.tender
    if acceptor == record.author:
        return Refusal(
            ResponseCode.NOT_AUTHORISED,
            f"{acceptor} cannot accept its own tender {tender.tender_id}",
        )
    if not record.is_offered_to(acceptor):
        return Refusal(
            ResponseCode.NOT_AUTHORISED, f"tender {tender.tender_id} is not offered to {acceptor}"
        )
    if quantity <= 0:
        return Refusal(
            ResponseCode.BAD_REQUEST, f"the accepted quantity {quantity} is not positive"
        )
    full = quantity == record.remaining
    status = _tender_transition(
        record, TenderEvent.FULL_ACCEPT if full else TenderEvent.PARTIAL_ACCEPT, now
    )
    if isinstance(status, Refusal):
        return status
    unit = tender.product.description.power_unit
    if quantity > record.remaining:
        return Refusal(
            ResponseCode.CONFLICT,
            f"only {_rate(record.remaining, unit)} of tender {tender.tender_id} remains, "
            f"not {_rate(quantity, unit)}",
        )
    if tender.product.integral_only and not full:
        return Refusal(
            ResponseCode.TERMS_VIOLATED,
            f"tender {tender.tender_id} is integral-only: accept all "
            f"{_rate(record.remaining, unit)} or none",
        )
    return (
        replace(record, remaining=_EXACT.subtract(record.remaining, quantity), status=status),
        TransactionRecord.written_by(
            acceptance(tender, quantity, transaction_id), acceptor, record.author
        ),
    )


def acceptance(tender: Tender, quantity: Decimal, transaction_id: str) -> Transaction:
    """The transaction that accepts ``quantity`` of ``tender``, as the acceptor submits it and
    :func:`accept_tender` makes it: the tender's product from the acceptor's side (accepting a
    sell tender is a buy), in state transaction, at the accepted rate, with ``transaction_id``
    as its uid and no expiry or integral-only flag."""
    product = replace(
        tender.product,
        uid=transaction_id,
        state=TransactiveState.TRANSACTION,
        side=tender.product.side.opposite,
        description=replace(tender.product.description, quantity=quantity),
        expires=None,
        integral_only=None,
    )
    return Transaction(transaction_id, product, tender_id=tender.tender_id)


def accept_quote(quote: Quote) -> Refusal:
    """Always refused: a quote is an indication of interest, which the deal table never lets
    be accepted (see :mod:`temix.states`)."""
    return Refusal(
        ResponseCode.NOT_ACTIONABLE,
        f"quote {quote.quote_id} is an indication of interest and is not actionable; "
        "accept a tender instead",
    )


def _exercised_rate(granule: Interval, earlier_exercises: Sequence[Transaction]) -> Decimal:
    total = Decimal(0)
    for exercise in earlier_exercises:
        if exercise.product.interval.overlap(granule):
            total = _EXACT.add(total, exercise.product.description.quantity)
    return total


def _exercise_timing_refusal(
    delivery: Interval, terms: OptionTerms, sub_interval: Interval, now: datetime, time_zone: str
) -> Refusal | None:
    granularity = terms.granularity
    lead_time = terms.lead_time
    if not delivery.contains(sub_interval):
        return Refusal(
            ResponseCode.TERMS_VIOLATED,
            f"{format_instant(sub_interval.start)} for {format_duration(sub_interval.duration)} "
            f"is not within the option's delivery interval {format_instant(delivery.start)} "
            f"for {format_duration(delivery.duration)}",
        )
    if (sub_interval.start - delivery.start) % granularity:
        return Refusal(
            ResponseCode.TERMS_VIOLATED,
            f"an exercise starting {format_instant(sub_interval.start)} is not on a "
            f"{format_duration(granularity)} boundary from the option's start "
            f"{format_instant(delivery.start)}",
        )
    if sub_interval.duration % granularity:
        return Refusal(
            ResponseCode.TERMS_VIOLATED,
            f"an exercise of {format_duration(sub_interval.duration)} is not a whole number of "
            f"the option's temporal granularity {format_duration(granularity)}",
        )
    availability = terms.availability
    if availability is not None and not availability.holds(sub_interval, time_zone):
        description = (
            f"an exercise from {format_instant(sub_interval.start)} for "
            f"{format_duration(sub_interval.duration)} is outside the option's availability "
            f"schedule (its wall-clock times are in {time_zone})"
        )
        return Refusal(
            ResponseCode.TERMS_VIOLATED, description, (TermViolation(description, availability),)
        )
    deadline = sub_interval.start - lead_time
    if now > deadline:
        description = (
            f"an exercise from {format_instant(sub_interval.start)} needs notice by "
            f"{format_instant(deadline)} ({format_duration(lead_time)} ahead); it came at "
            f"{format_instant(now)}"
        )
        return Refusal(
            ResponseCode.TERMS_VIOLATED,
            description,
            (TermViolation(description, MinimumNotification(lead_time)),),
        )
    return None


def exercise_option(
    option: TransactionRecord,
    party: str,
    sub_interval: Interval,
    rate: Decimal,
    transaction_id: str,
    now: datetime,
    earlier_exercises: Sequence[Transaction] = (),
    *,
    time_zone: str = "UTC",
) -> TransactionRecord | Refusal:
    """The underlying transaction made when ``party`` exercises ``option`` at ``now``.

    Only the holder (the party on the option's holder side) exercises, within the option's
    delivery interval, for sub-intervals that are whole multiples of its temporal granularity
    counted from its start, wholly inside its availability schedule when it has one (wall-clock
    times in ``time_zone``, the market context's), at least its lead time ahead
    (``now <= start - lead time``), at up to its rate, counting ``earlier_exercises`` of this
    option in every granule. The result is
    the underlying power or transport product at the strike price between holder and writer,
    written from the holder's side: in a call the holder buys, in a put it sells.
    """
    product = option.transaction.product
    option_id = option.transaction.transaction_id
    try:
        next_state(product.state, DealEvent.EXERCISE, option=product.option is not None)
    except TransitionRefused as refused:
        return Refusal(refused.code, f"transaction {option_id}: {refused.description}")
    terms = product.option
    assert terms is not None, "the deal table lets only an option be exercised"
    holder = option.party_on(terms.holder_side)
    writer = option.party_on(terms.holder_side.opposite)
    if party != holder:
        return Refusal(
            ResponseCode.NOT_AUTHORISED, f"only the holder of option {option_id} can exercise it"
        )
    if rate <= 0:
        return Refusal(ResponseCode.BAD_REQUEST, f"the exercised rate {rate} is not positive")
    timing = _exercise_timing_refusal(product.interval, terms, sub_interval, now, time_zone)
    if timing is not None:
        return timing
    unit = product.description.power_unit
    option_rate = product.description.quantity
    if rate > option_rate:
        return Refusal(
            ResponseCode.TERMS_VIOLATED,
            f"{_rate(rate, unit)} exceeds option {option_id}'s rate {_rate(option_rate, unit)}",
        )
    for granule in sub_interval.split(terms.granularity):
        left = _EXACT.subtract(option_rate, _exercised_rate(granule, earlier_exercises))
        if rate > left:
            return Refusal(
                ResponseCode.CONFLICT,
                f"only {_rate(left, unit)} of option {option_id} is left to exercise from "
                f"{format_instant(granule.start)}, not {_rate(rate, unit)}",
            )
    return TransactionRecord.written_by(
        exercise(option.transaction, sub_interval, rate, transaction_id), holder, writer
    )


def exercise(
    option: Transaction, sub_interval: Interval, rate: Decimal, transaction_id: str
) -> Transaction:
    """The exercise of ``rate`` of ``option`` over ``sub_interval``, as the holder submits it
    and :func:`exercise_option` makes it: the underlying power or transport product at the
    strike price, in state exercise, from the holder's side (in a call the holder buys, in a
    put it sells), related to the option transaction, settling as the option does."""
    product = option.product
    terms = product.option
    if terms is None:
        raise ModelError(f"transaction {option.transaction_id} is not an option")
    holder_side = Side.BUY if terms.option_type is OptionType.CALL else Side.SELL
    underlying = replace(
        product,
        uid=transaction_id,
        interval=sub_interval,
        description=replace(product.description, quantity=rate, price=terms.strike_price),
        state=TransactiveState.EXERCISE,
        side=holder_side,
        expires=None,
        integral_only=None,
        option=None,
        related_to=option.transaction_id,
    )
    return Transaction(transaction_id, underlying)


def check_delivered_against(
    transaction_id: str, record: TransactionRecord | None, party: str
) -> Refusal | None:
    """None when ``party`` may report metered delivery against the transaction it names.

    A financial (cash-settled) deal carries no delivery obligation and an option delivers only
    through its exercises, so readings naming either are refused, as are readings naming a
    transaction the reporter is not a party to.
    """
    if record is None or party not in (record.buyer, record.seller):
        return Refusal(ResponseCode.UNKNOWN, f"{party} holds no transaction {transaction_id}")
    product = record.transaction.product
    if product.settlement is Settlement.FINANCIAL:
        description = (
            f"transaction {transaction_id} is financial (cash-settled): it carries no delivery "
            "obligation, so no delivery is reported against it"
        )
        return Refusal(
            ResponseCode.TERMS_VIOLATED,
            description,
            (TermViolation(description, SettlementTerm(Settlement.FINANCIAL)),),
        )
    if product.option is not None:
        return Refusal(
            ResponseCode.TERMS_VIOLATED,
            f"transaction {transaction_id} is an option: it delivers only through its exercises",
        )
    return None
