"""The TeMIX information model as immutable values.

Every value here is a frozen dataclass or an enum, holds no I/O and validates itself on
construction, so a value that exists is a value the profile allows. Quantities are rates of
delivery (power); prices are per unit of energy; money and quantities are ``Decimal``.

Arithmetic follows the TeMIX paper (section 2.5) and EMIX-377:
energy = rate x hours, extended price = unit energy price x energy. The rate's SI scale is
converted to the energy unit's scale first (1 MW over 1 hour is 1000 kWh).
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from fractions import Fraction
from zoneinfo import ZoneInfo

_REPORTED = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


class ModelError(ValueError):
    """A value that the TeMIX profile does not allow."""


class Side(StrEnum):
    """The side a party takes in one pairwise interaction."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class TransactiveState(StrEnum):
    """EMIX transactive states; TeMIX uses all but transportCommitment."""

    INDICATION_OF_INTEREST = "indicationOfInterest"
    TENDER = "tender"
    TRANSACTION = "transaction"
    EXERCISE = "exercise"
    DELIVERY = "delivery"
    TRANSPORT_COMMITMENT = "transportCommitment"
    PUBLICATION = "publication"


class OptionType(StrEnum):
    CALL = "call"
    PUT = "put"


class Settlement(StrEnum):
    """How a deal settles (TeMIX paper 2.5, 2.10, 2.11).

    A physical deal is an obligation to deliver: its position is compared with metered delivery
    and the difference balanced. A financial (cash-settled) deal delivers nothing: its position
    is cashed out at the market's index price, so it is a hedge, not a delivery.
    """

    PHYSICAL = "physical"
    FINANCIAL = "financial"


class ProductKind(StrEnum):
    """The four TeMIX products of EMIX-377."""

    POWER = "power"
    TRANSPORT = "transport"
    POWER_OPTION = "powerOption"
    TRANSPORT_OPTION = "transportOption"


class SiScale(Enum):
    """EMIX SI scale codes and the power of ten each stands for."""

    PICO = ("p", -12)
    NANO = ("n", -9)
    MICRO = ("micro", -6)
    MILLI = ("m", -3)
    CENTI = ("c", -2)
    DECI = ("d", -1)
    NONE = ("none", 0)
    KILO = ("k", 3)
    MEGA = ("M", 6)
    GIGA = ("G", 9)
    TERA = ("T", 12)

    def __init__(self, code: str, exponent: int) -> None:
        self.code = code
        self.exponent = exponent

    @classmethod
    def from_code(cls, code: str) -> SiScale:
        for scale in cls:
            if scale.code == code:
                return scale
        raise ModelError(f"unknown SI scale code {code!r}")

    @property
    def prefix(self) -> str:
        """The symbol prefix: 'k', 'M', 'µ', or '' for none."""
        return {"none": "", "micro": "µ"}.get(self.code, self.code)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ModelError(message)


def _decimal(value: Decimal, what: str) -> None:
    _require(isinstance(value, Decimal), f"{what} must be a Decimal, not {type(value).__name__}")
    _require(value.is_finite(), f"{what} must be finite")


@dataclass(frozen=True)
class PowerUnit:
    """Units of a rate of delivery: real power in watts at an SI scale, with its attributes."""

    scale: SiScale = SiScale.MEGA
    hertz: Decimal = Decimal(60)
    voltage: Decimal = Decimal(230)
    ac: bool = True

    def __post_init__(self) -> None:
        _decimal(self.hertz, "hertz")
        _decimal(self.voltage, "voltage")

    @property
    def symbol(self) -> str:
        return f"{self.scale.prefix}W"


@dataclass(frozen=True)
class EnergyUnit:
    """Units of energy that prices are quoted in: watt-hours at an SI scale."""

    scale: SiScale = SiScale.MEGA

    @property
    def symbol(self) -> str:
        return f"{self.scale.prefix}Wh"


class PartyRole(StrEnum):
    """What a registered party may do beyond trading."""

    PARTICIPANT = "participant"
    MARKET_OPERATOR = "marketOperator"
    METER_AGENT = "meterAgent"


@dataclass(frozen=True)
class Party:
    """A TeMIX party: anyone who tenders and transacts (TeMIX paper section 2.1)."""

    party_id: str
    name: str | None = None
    roles: frozenset[PartyRole] = frozenset({PartyRole.PARTICIPANT})

    def __post_init__(self) -> None:
        _require(bool(self.party_id.strip()), "a party needs a party id")


class InterfaceKind(StrEnum):
    """Single-point EMIX power interfaces (TeMIX paper table 2) and the element naming each."""

    PNODE = "pnode"
    AGGREGATED_PNODE = "aggregatedPnode"
    SERVICE_DELIVERY_POINT = "serviceDeliveryPoint"
    METER_ASSET = "meterAsset"
    END_DEVICE_ASSET = "endDeviceAsset"


@dataclass(frozen=True)
class Location:
    """A one-point EMIX interface: a node (pnode, aggregated pnode, service delivery point) or a
    device (meter asset, end device asset, identified by its MRID)."""

    id: str
    kind: InterfaceKind = InterfaceKind.PNODE

    def __post_init__(self) -> None:
        _require(bool(self.id.strip()), "an interface needs a non-empty id")


@dataclass(frozen=True)
class TransportPath:
    """A transport interface: power moves from the point of receipt to the point of delivery."""

    point_of_receipt: str
    point_of_delivery: str

    def __post_init__(self) -> None:
        _require(
            bool(self.point_of_receipt.strip()) and bool(self.point_of_delivery.strip()),
            "a transport interface needs both a point of receipt and a point of delivery",
        )
        _require(
            self.point_of_receipt != self.point_of_delivery,
            "a transport interface needs two different nodes",
        )


Interface = Location | TransportPath


FIRST_INSTANT = datetime.min.replace(tzinfo=UTC)
LAST_INSTANT = datetime.max.replace(tzinfo=UTC)
"""The range of instants: years 1 to 9999, as ``xs:dateTime`` without a sign writes them."""


def _utc(moment: datetime, what: str) -> datetime:
    _require(moment.tzinfo is not None, f"{what} must be time-zone aware")
    _require(moment.microsecond == 0, f"{what} must be a whole second")
    return moment.astimezone(UTC)


@dataclass(frozen=True, order=True)
class Interval:
    """A delivery interval: a start instant and a duration, both in whole seconds.

    The start is kept in UTC. Calendar intervals (a local day, month or year) are built by the
    class methods from a time zone, so a daylight-saving day has 23 or 25 hours.
    """

    start: datetime
    duration: timedelta

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start, "an interval start"))
        _require(self.duration > timedelta(0), "an interval needs a positive duration")
        _require(
            self.duration % timedelta(seconds=1) == timedelta(0),
            "an interval duration must be whole seconds",
        )
        _require(
            self.duration <= LAST_INSTANT - self.start,
            "an interval must end by the last instant of year 9999",
        )

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    @property
    def seconds(self) -> int:
        return self.duration // timedelta(seconds=1)

    @property
    def hours(self) -> Fraction:
        """The exact length in hours (5 minutes is 1/12)."""
        return Fraction(self.seconds, 3600)

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end

    def overlap(self, other: Interval) -> timedelta:
        """How long the two intervals share; zero when they are disjoint."""
        return max(timedelta(0), min(self.end, other.end) - max(self.start, other.start))

    def split(self, step: timedelta) -> tuple[Interval, ...]:
        """The consecutive sub-intervals of length ``step``; the step must divide the interval."""
        _require(step > timedelta(0), "a split step must be positive")
        _require(self.duration % step == timedelta(0), f"{step} does not divide {self.duration}")
        count = self.duration // step
        return tuple(Interval(self.start + index * step, step) for index in range(count))

    @classmethod
    def between(cls, start: datetime, end: datetime) -> Interval:
        """From ``start`` to ``end``, measured in elapsed time.

        Both are converted to UTC first: Python subtracts two times of the same zone on the
        wall clock, which would make every daylight-saving day 24 hours long.
        """
        return cls(start, _utc(end, "an interval end") - _utc(start, "an interval start"))

    @classmethod
    def day(cls, day: date, tz: str) -> Interval:
        zone = ZoneInfo(tz)
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        following = day + timedelta(days=1)
        end = datetime(following.year, following.month, following.day, tzinfo=zone)
        return cls.between(start, end)

    @classmethod
    def month(cls, year: int, month: int, tz: str) -> Interval:
        zone = ZoneInfo(tz)
        next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
        return cls.between(
            datetime(year, month, 1, tzinfo=zone), datetime(next_year, next_month, 1, tzinfo=zone)
        )

    @classmethod
    def year(cls, year: int, tz: str) -> Interval:
        zone = ZoneInfo(tz)
        return cls.between(datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone))


def as_decimal(value: Fraction) -> Decimal:
    """An exact figure that is not written to a market's decimal places (a rate of a balancing
    trade, a published average price, a single energy or price): rounded half-even to 34
    significant digits. Positions and settlement amounts use :func:`written`.
    """
    return _REPORTED.divide(Decimal(value.numerator), Decimal(value.denominator))


MAX_DECIMALS = 18
"""The most decimal places a market context may write its figures to."""


def written(value: Fraction, decimals: int) -> Decimal:
    """``value`` rounded half-even to ``decimals`` places, without trailing zeros: how positions
    and settlement write an energy or an amount of money (see docs/profile.md, "Figures")."""
    units = round(value * 10**decimals)
    places = decimals
    while places and units % 10 == 0:
        units //= 10
        places -= 1
    return Decimal(f"{units}E-{places}") if places else Decimal(units)


def decimal_sum(figures: Iterable[Decimal]) -> Decimal:
    """Written figures added up exactly (Decimal's default context rounds past 28 digits), and
    written without trailing zeros."""
    total, places = Fraction(0), 0
    for figure in figures:
        total += Fraction(figure)
        places = max(places, -int(figure.as_tuple().exponent))
    return written(total, places)


def scale_factor(source: SiScale, target: SiScale) -> Fraction:
    """What a quantity in ``source`` units is multiplied by to be in ``target`` units."""
    return Fraction(10) ** (source.exponent - target.exponent)


def exact_energy(
    rate: Decimal | Fraction, interval: Interval, power: PowerUnit, unit: EnergyUnit
) -> Fraction:
    """Energy delivered at a constant ``rate`` (in ``power``) over ``interval``, in ``unit``,
    exactly."""
    return Fraction(rate) * scale_factor(power.scale, unit.scale) * interval.hours


def energy(rate: Decimal, interval: Interval, power: PowerUnit, unit: EnergyUnit) -> Decimal:
    """Energy delivered at a constant ``rate`` over ``interval``, in ``unit``."""
    return as_decimal(exact_energy(rate, interval, power, unit))


def extended_price(unit_price: Decimal, energy_amount: Decimal) -> Decimal:
    """Price per unit of energy times the energy: what the buyer pays the seller."""
    return as_decimal(Fraction(unit_price) * Fraction(energy_amount))


@dataclass(frozen=True)
class PowerDescription:
    """``power:temixPower``: what is delivered where, at which unit price, at which rate."""

    interface: Interface
    price: Decimal
    quantity: Decimal
    power_unit: PowerUnit = field(default_factory=PowerUnit)
    energy_unit: EnergyUnit = field(default_factory=EnergyUnit)

    def __post_init__(self) -> None:
        _decimal(self.price, "a price")
        _decimal(self.quantity, "a quantity")
        _require(self.quantity > 0, "a quantity (rate of delivery) must be positive")

    @property
    def is_transport(self) -> bool:
        return isinstance(self.interface, TransportPath)


@dataclass(frozen=True)
class OptionTerms:
    """What makes a product a TeMIX option (EMIX-377 table X-2)."""

    option_type: OptionType
    holder_side: Side
    strike_price: Decimal
    premium: Decimal
    lead_time: timedelta
    granularity: timedelta
    availability: AvailabilitySchedule | None = None

    def __post_init__(self) -> None:
        _decimal(self.strike_price, "a strike price")
        _decimal(self.premium, "an option premium")
        _require(self.premium >= 0, "an option premium cannot be negative")
        _require(self.lead_time >= timedelta(0), "an exercise lead time cannot be negative")
        _require(self.granularity > timedelta(0), "an option granularity must be positive")
        for what, value in (("lead time", self.lead_time), ("granularity", self.granularity)):
            _require(value % timedelta(seconds=1) == timedelta(0), f"{what} must be whole seconds")


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
"""iCalendar weekday codes, Monday first, as ``date.weekday()`` numbers them."""


class Recurrence(StrEnum):
    """How often an availability window repeats (the iCalendar FREQ values the profile takes)."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"


@dataclass(frozen=True)
class AvailableWindow:
    """One ``xcal:available`` component: a window of time when an option may be exercised.

    ``start`` is the first window's opening as a wall-clock time in the market context's time
    zone (naive), or as a UTC instant (aware). The window lasts ``duration`` of elapsed time and
    opens once, or (``repeats``) every day or every week, on ``weekdays`` (``date.weekday()``
    numbers; none means every day, or the start's weekday for a weekly window), for windows
    opening on or before ``until`` (in the same clock as ``start``).
    """

    start: datetime
    duration: timedelta
    repeats: Recurrence | None = None
    weekdays: frozenset[int] = frozenset()
    until: datetime | None = None

    def __post_init__(self) -> None:
        _require(self.duration > timedelta(0), "an availability window must have a length")
        _require(self.duration <= timedelta(days=7), "an availability window is at most 7 days")
        _require(
            self.duration % timedelta(seconds=1) == timedelta(0),
            "an availability window is whole seconds long",
        )
        _require(all(day in range(7) for day in self.weekdays), "weekdays are numbered 0 to 6")
        _require(
            self.repeats is not None or not self.weekdays,
            "only a repeating availability window names weekdays",
        )
        if self.start.tzinfo is not None:
            object.__setattr__(self, "start", _utc(self.start, "an availability start"))
        if self.until is not None:
            _require(
                (self.until.tzinfo is None) == (self.start.tzinfo is None),
                "an availability window's until is on the same clock as its start",
            )
            if self.until.tzinfo is not None:
                object.__setattr__(self, "until", _utc(self.until, "an availability until"))

    def _opens_on(self, day: date) -> bool:
        first = self.start.date()
        if day < first:
            return False
        if self.repeats is None:
            return day == first
        if self.repeats is Recurrence.WEEKLY:
            return day.weekday() in (self.weekdays or {first.weekday()})
        return not self.weekdays or day.weekday() in self.weekdays

    def holds(self, interval: Interval, time_zone: str) -> bool:
        """Whether one of the windows, opened in ``time_zone`` (or UTC when ``start`` is an
        instant), contains the whole of ``interval``."""
        zone = UTC if self.start.tzinfo is not None else ZoneInfo(time_zone)
        clock_start = self.start.replace(tzinfo=None)
        clock_until = None if self.until is None else self.until.replace(tzinfo=None)
        latest = interval.start.astimezone(zone).date()
        for back in range(self.duration.days + 2):
            day = latest - timedelta(days=back)
            if not self._opens_on(day):
                continue
            opening = datetime.combine(day, clock_start.time())
            if clock_until is not None and opening > clock_until:
                continue
            opens = opening.replace(tzinfo=zone).astimezone(UTC)
            if opens <= interval.start and interval.end <= opens + self.duration:
                return True
        return False


@dataclass(frozen=True)
class AvailabilitySchedule:
    """The ``emix:availabilitySchedule`` term: an option may be exercised only for times that
    lie wholly inside one of its windows (TeMIX paper table 4, "Option Exercise")."""

    windows: tuple[AvailableWindow, ...]

    def __post_init__(self) -> None:
        _require(len(self.windows) > 0, "an availability schedule has at least one window")

    def holds(self, interval: Interval, time_zone: str) -> bool:
        return any(window.holds(interval, time_zone) for window in self.windows)


def _currency(code: str | None) -> None:
    _require(
        code is None or bool(_CURRENCY_CODE.match(code)),
        f"currency {code!r} is not an ISO 4217 code",
    )


@dataclass(frozen=True)
class Product:
    """One TeMIX product over one delivery interval, in one transactive state.

    ``side`` is the side of the party that wrote it. ``option`` makes it an option product;
    ``related_to`` names the option transaction an exercise belongs to. ``settlement`` says
    whether the deal delivers (physical) or is cashed out (financial); an option's exercises
    settle as the option does.
    """

    uid: str
    interval: Interval
    description: PowerDescription
    state: TransactiveState
    side: Side
    market_context: str
    currency: str | None = "USD"
    expires: datetime | None = None
    integral_only: bool | None = None
    option: OptionTerms | None = None
    related_to: str | None = None
    settlement: Settlement = Settlement.PHYSICAL

    def __post_init__(self) -> None:
        _require(bool(self.uid.strip()), "a product needs a uid")
        _require(bool(self.market_context.strip()), "a product needs a market context")
        _currency(self.currency)
        if self.expires is not None:
            object.__setattr__(self, "expires", _utc(self.expires, "an expiration date"))
        if self.option is not None:
            _require(
                self.state is not TransactiveState.EXERCISE,
                "an exercise is written as the underlying product, not as an option",
            )
            _require(
                self.description.price == self.option.strike_price,
                "an option's unit price is its strike price",
            )
        _require(
            self.related_to is None or self.state is TransactiveState.EXERCISE,
            "only an exercise relates to an option transaction",
        )

    @property
    def kind(self) -> ProductKind:
        transport = self.description.is_transport
        if self.option is None:
            return ProductKind.TRANSPORT if transport else ProductKind.POWER
        return ProductKind.TRANSPORT_OPTION if transport else ProductKind.POWER_OPTION

    @property
    def energy(self) -> Decimal:
        d = self.description
        return energy(d.quantity, self.interval, d.power_unit, d.energy_unit)

    @property
    def extended_price(self) -> Decimal:
        """Quantity x hours x unit price: the cost of the product to its buyer.

        For an option this is the cost of exercising all of it at the strike price; the
        premium is ``premium_cost``.
        """
        return self._priced(self.description.price)

    @property
    def premium_cost(self) -> Decimal:
        _require(self.option is not None, "only an option has a premium")
        assert self.option is not None
        return self._priced(self.option.premium)

    def _priced(self, unit_price: Decimal) -> Decimal:
        d = self.description
        exact = exact_energy(d.quantity, self.interval, d.power_unit, d.energy_unit)
        return as_decimal(Fraction(unit_price) * exact)


@dataclass(frozen=True)
class Tender:
    """``ei:eiTender``: an actionable offer, live until it expires."""

    tender_id: str
    product: Product

    def __post_init__(self) -> None:
        _require(bool(self.tender_id.strip()), "a tender needs a tender id")
        _require(
            self.product.state is TransactiveState.TENDER,
            f"a tender's product must be in state tender, not {self.product.state}",
        )


@dataclass(frozen=True)
class Quote:
    """``ei:eiQuote``: a priced indication of interest; never actionable."""

    quote_id: str
    products: tuple[Product, ...]

    def __post_init__(self) -> None:
        _require(bool(self.quote_id.strip()), "a quote needs a quote id")
        _require(len(self.products) > 0, "a quote needs at least one product")
        for product in self.products:
            _require(
                product.state is TransactiveState.INDICATION_OF_INTEREST,
                f"a quote's products must be indications of interest, not {product.state}",
            )


@dataclass(frozen=True)
class Transaction:
    """``ei:eiTransaction``: an accepted tender (with its id), or an option exercise."""

    transaction_id: str
    product: Product
    tender_id: str | None = None

    def __post_init__(self) -> None:
        _require(bool(self.transaction_id.strip()), "a transaction needs a transaction id")
        _require(
            self.product.state in (TransactiveState.TRANSACTION, TransactiveState.EXERCISE),
            f"a transaction's product must be a transaction or an exercise, "
            f"not {self.product.state}",
        )


@dataclass(frozen=True)
class TransactionRecord:
    """A stored transaction and its two parties.

    A transaction's product is written from one party's side (the acceptor of a tender, or
    the holder exercising an option); ``written_by`` turns that into buyer and seller.
    """

    transaction: Transaction
    buyer: str
    seller: str

    def __post_init__(self) -> None:
        _require(self.buyer != self.seller, f"party {self.buyer!r} cannot transact with itself")

    @classmethod
    def written_by(
        cls, transaction: Transaction, writer: str, counterparty: str
    ) -> TransactionRecord:
        if transaction.product.side is Side.BUY:
            return cls(transaction, buyer=writer, seller=counterparty)
        return cls(transaction, buyer=counterparty, seller=writer)

    def party_on(self, side: Side) -> str:
        return self.buyer if side is Side.BUY else self.seller


@dataclass(frozen=True)
class MeterReading:
    """One metered interval of a delivery: the average rate measured at an interface.

    ``transaction_id`` names the transaction the reading delivers against, when the reporter
    says so (``xcal:related-to``); settlement nets readings at the interface either way.
    """

    interval: Interval
    quantity: Decimal
    market_context: str
    interface: Interface
    power_unit: PowerUnit = field(default_factory=PowerUnit)
    transaction_id: str | None = None

    def __post_init__(self) -> None:
        _decimal(self.quantity, "a metered quantity")
        _require(self.quantity >= 0, "a metered quantity cannot be negative")


@dataclass(frozen=True)
class Delivery:
    """``emix:delivery`` (and, once stored, ``ei:eiDelivery``): metered delivery.

    ``injection`` is true for power put into the grid, false for power taken from it.
    """

    uid: str
    injection: bool
    readings: tuple[MeterReading, ...]
    delivery_id: str | None = None
    created: datetime | None = None

    def __post_init__(self) -> None:
        _require(bool(self.uid.strip()), "a delivery needs a uid")
        _require(len(self.readings) > 0, "a delivery needs at least one metered interval")
        _require(
            (self.delivery_id is None) == (self.created is None),
            "a stored delivery has both a delivery id and a creation time",
        )
        if self.created is not None:
            object.__setattr__(self, "created", _utc(self.created, "a creation time"))


@dataclass(frozen=True)
class MarketContext:
    """``ei:eiMarketContext``: the standard terms every product in the market follows."""

    uri: str
    name: str
    currency: str = "USD"
    power_unit: PowerUnit = field(default_factory=PowerUnit)
    energy_unit: EnergyUnit = field(default_factory=EnergyUnit)
    quantity_step: Decimal = Decimal("0.001")
    time_zone: str = "UTC"
    interval_granularity: timedelta = timedelta(minutes=5)
    allowed_products: frozenset[ProductKind] = frozenset(ProductKind)
    allowed_durations: tuple[timedelta, ...] = ()
    balancing_price_source: str | None = None
    index_price_source: str | None = None
    energy_decimals: int = 6
    money_decimals: int = 2
    created: datetime | None = None

    def __post_init__(self) -> None:
        _require(bool(self.uri.strip()), "a market context needs a URI")
        for what, decimals in (("energy", self.energy_decimals), ("money", self.money_decimals)):
            _require(
                isinstance(decimals, int) and 0 <= decimals <= MAX_DECIMALS,
                f"{what} figures are written to 0 to {MAX_DECIMALS} decimal places, not {decimals}",
            )
        _currency(self.currency)
        _decimal(self.quantity_step, "a quantity step")
        _require(self.quantity_step > 0, "a quantity step must be positive")
        _require(len(self.allowed_products) > 0, "a market context allows at least one product")
        _require(
            self.interval_granularity > timedelta(0), "an interval granularity must be positive"
        )
        ZoneInfo(self.time_zone)
        if self.created is not None:
            object.__setattr__(self, "created", _utc(self.created, "a creation time"))


@dataclass(frozen=True)
class MinimumNotification:
    """The ``emix:minimumNotificationDuration`` term."""

    duration: timedelta


@dataclass(frozen=True)
class MarketGranularity:
    """The ``emix:marketGranularity`` term: quantities come in steps of ``quantity``."""

    quantity: Decimal
    power_unit: PowerUnit = field(default_factory=PowerUnit)


@dataclass(frozen=True)
class SettlementTerm:
    """The ``tmx:settlement`` term: how a product settles (see :class:`Settlement`)."""

    settlement: Settlement


Term = MinimumNotification | MarketGranularity | AvailabilitySchedule | SettlementTerm


@dataclass(frozen=True)
class TermViolation:
    description: str
    term: Term


@dataclass(frozen=True)
class Response:
    """``ei:eiResponse``: a three-digit code, a description and the id it answers."""

    code: str
    ref_id: str
    description: str | None = None
    terms_violated: tuple[TermViolation, ...] = ()
    created: datetime | None = None

    def __post_init__(self) -> None:
        _require(
            len(self.code) == 3 and self.code.isascii() and self.code.isdigit(),
            f"a response code has three digits, not {self.code!r}",
        )
        if self.created is not None:
            object.__setattr__(self, "created", _utc(self.created, "a creation time"))

    @property
    def ok(self) -> bool:
        return self.code.startswith("2")


@dataclass(frozen=True)
class Position:
    """A party's net position at an interface over one interval.

    ``net_rate`` is sells minus buys (positive: the party is a net seller), ``energy`` the
    same over the interval, ``cost`` the money received for sells minus the money paid for
    buys. A position is of one ``settlement``: physical and financial deals are never netted
    together.
    """

    interval: Interval
    net_rate: Decimal
    energy: Decimal
    cost: Decimal


@dataclass(frozen=True)
class Target:
    """``ei:eiTarget``: whom a distributed tender goes to."""

    interfaces: tuple[Interface, ...] = ()
    group_ids: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    party_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(
            bool(self.interfaces or self.group_ids or self.group_names or self.party_ids),
            "a target names at least one interface, group or party",
        )


DEVELOPMENT_MARKET = MarketContext(
    uri="urn:temix:market:development",
    name="temix development market (MW, MWh, USD, UTC, 5-minute intervals)",
    quantity_step=Decimal("0.001"),
)
"""The market context a new store starts with, so that a first exchange needs no set-up."""
