"""Encode TeMIX payloads to XML and decode them back.

``encode`` writes a payload value as an lxml element: always the same prefixes, declared once
on the root, and elements in schema order, so equal values give equal bytes. ``decode`` reads
an element back into a value and raises :class:`DecodeError` naming the path and the reason
for anything the TeMIX profile does not allow. Neither does any I/O; parse untrusted bytes
with :mod:`temix.xmlsafe` and check them with :mod:`temix.validation` first.

The wire shapes are described in docs/profile.md; each payload's element and the order of its
fields are the table ``_PAYLOADS`` at the bottom of this module.

``encode_item`` and ``decode_item`` write and read one stored tender, quote, transaction,
delivery or market context as bytes: the same element a payload carries it in.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, NamedTuple, TypeVar

from lxml import etree

from temix import payloads as p
from temix.model import (
    WEEKDAYS,
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
    ModelError,
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
    SettlementTerm,
    Side,
    SiScale,
    Target,
    Tender,
    Term,
    TermViolation,
    Transaction,
    TransactiveState,
    TransportPath,
)
from temix.namespaces import (
    EI,
    EMIX,
    POWER,
    PREFIXES,
    PYLD,
    SISCALE,
    STRM,
    TEMIX_EXT,
    XCAL,
    XSI,
    prefixed,
)
from temix.settlement import Publication, SettlementStatement, SettlementTrade
from temix.xmlsafe import XmlRejected, parse_bytes

_E = TypeVar("_E", bound=Enum)


class DecodeError(ValueError):
    """A document the TeMIX profile cannot read; ``path`` says where, ``reason`` why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


# ---------------------------------------------------------------------------------------------
# Lexical forms


def format_decimal(value: Decimal) -> str:
    """Plain decimal notation, which both xs:decimal and xs:float accept."""
    return format(value, "f")


def format_instant(moment: datetime) -> str:
    """A UTC instant as xcal:date-time wants it: no offset but ``Z``."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def format_duration(duration: timedelta) -> str:
    """An exact iCalendar duration in hours, minutes and seconds (``PT23H``, ``PT1H0M30S``).

    RFC 5545 lets a duration drop only leading and trailing units, so a zero between two
    others is written (``PT18H0M14S``, never ``PT18H14S``).
    """
    total = duration // timedelta(seconds=1)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    units = [(hours, "H"), (minutes, "M"), (seconds, "S")]
    used = [index for index, (value, _) in enumerate(units) if value]
    if not used:
        return "PT0S"
    return "PT" + "".join(f"{value}{unit}" for value, unit in units[used[0] : used[-1] + 1])


_DURATION = re.compile(r"^P(?:(?P<days>\d+)D(?:T(?P<time>.+))?|T(?P<only_time>.+))$")
_DURATION_TIME = re.compile(
    r"^(?:(?P<h>\d+)H(?:(?P<hm>\d+)M(?:(?P<hms>\d+)S)?)?|(?P<m>\d+)M(?:(?P<ms>\d+)S)?|(?P<s>\d+)S)$"
)


def parse_duration(text: str, path: str) -> timedelta:
    """An iCalendar duration as the schema allows it (no sign, no weeks); a day is exactly 24
    hours, since every start is in UTC."""
    value = text.strip()
    match = _DURATION.match(value)
    time_text = match and (match["time"] or match["only_time"])
    time_match = _DURATION_TIME.match(time_text) if time_text else None
    if match is None or (time_text and time_match is None):
        raise DecodeError(path, f"{value!r} is not an unsigned iCalendar duration")
    parts = {
        name: int(number)
        for name, number in (time_match.groupdict() if time_match else {}).items()
        if number
    }
    try:
        return timedelta(
            days=int(match["days"] or 0),
            hours=parts.get("h", 0),
            minutes=parts.get("hm", 0) + parts.get("m", 0),
            seconds=parts.get("hms", 0) + parts.get("ms", 0) + parts.get("s", 0),
        )
    except OverflowError:
        raise DecodeError(path, f"{value!r} is longer than any interval can be") from None


def _parse_datetime(text: str, path: str, *, utc_only: bool) -> datetime:
    value = text.strip()
    if utc_only and not value.endswith("Z"):
        raise DecodeError(path, f"{value!r} must be a UTC time ending in Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DecodeError(path, f"{value!r} is not a date-time") from None
    if moment.tzinfo is None:
        raise DecodeError(path, f"{value!r} has no time zone")
    if moment.microsecond:
        raise DecodeError(path, f"{value!r} must be a whole second")
    return moment.astimezone(UTC)


def _parse_decimal(text: str, path: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise DecodeError(path, f"{text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise DecodeError(path, f"{text.strip()!r} is not a finite number")
    return value


def _parse_bool(text: str, path: str) -> bool:
    value = text.strip()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise DecodeError(path, f"{value!r} is not a boolean")


_COUNT = re.compile(r"\+?[0-9]+")


def _parse_count(text: str, path: str) -> int:
    value = text.strip()
    if _COUNT.fullmatch(value) is None:
        raise DecodeError(path, f"{value!r} is not a count (a whole number, not negative)")
    return int(value)


def _parse_enum(enum: type[_E], text: str, path: str) -> _E:
    try:
        return enum(text.strip())
    except ValueError:
        allowed = ", ".join(str(member.value) for member in enum)
        raise DecodeError(path, f"{text.strip()!r} is not one of {allowed}") from None


# ---------------------------------------------------------------------------------------------
# Reading children in schema order


class _Children:
    """The element children of one element, consumed in order as the schema sequence reads."""

    def __init__(self, element: etree._Element, path: str) -> None:
        self.path = path
        self._items = [child for child in element if isinstance(child.tag, str)]
        self._position = 0
        counts: dict[str, int] = {}
        for child in self._items:
            counts[child.tag] = counts.get(child.tag, 0) + 1
        seen: dict[str, int] = {}
        self._paths = []
        for child in self._items:
            seen[child.tag] = seen.get(child.tag, 0) + 1
            index = f"[{seen[child.tag]}]" if counts[child.tag] > 1 else ""
            self._paths.append(f"{path}/{prefixed(child.tag)}{index}")

    def _next_if(self, tags: Iterable[str]) -> tuple[etree._Element, str] | None:
        if self._position < len(self._items) and self._items[self._position].tag in tags:
            found = self._items[self._position], self._paths[self._position]
            self._position += 1
            return found
        return None

    def take(self, tag: str) -> tuple[etree._Element, str] | None:
        return self._next_if((tag,))

    def next_is(self, tags: Iterable[str]) -> bool:
        return self._position < len(self._items) and self._items[self._position].tag in tags

    def need(self, tag: str) -> tuple[etree._Element, str]:
        return self.need_one_of((tag,), prefixed(tag))

    def need_one_of(self, tags: Iterable[str], what: str) -> tuple[etree._Element, str]:
        found = self._next_if(tuple(tags))
        if found is None:
            raise DecodeError(self.here(), f"expected {what}")
        return found

    def take_all(self, tags: Iterable[str]) -> list[tuple[etree._Element, str]]:
        accepted = tuple(tags)
        found = []
        while (item := self._next_if(accepted)) is not None:
            found.append(item)
        return found

    def done(self) -> None:
        if self._position < len(self._items):
            path = self._paths[self._position]
            raise DecodeError(path, "unexpected element here")

    def here(self) -> str:
        """The path of the next unread child, or of the parent when none is left."""
        if self._position < len(self._items):
            return self._paths[self._position]
        return self.path


def _text(element: etree._Element, path: str) -> str:
    if any(isinstance(child.tag, str) for child in element):
        raise DecodeError(path, "expected text, found child elements")
    value = element.text or ""
    if not value.strip():
        raise DecodeError(path, "must not be empty")
    return value


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


# ---------------------------------------------------------------------------------------------
# xCal pieces


def _encode_property(parent: etree._Element, tag: str, value_tag: str, text: str) -> None:
    _sub(_sub(parent, _q(XCAL, tag)), _q(XCAL, value_tag), text)


def _decode_property(element: etree._Element, path: str, value_tag: str) -> tuple[str, str]:
    children = _Children(element, path)
    value, value_path = children.need(_q(XCAL, value_tag))
    children.done()
    return _text(value, value_path), value_path


def _encode_start_and_duration(parent: etree._Element, interval: Interval) -> None:
    _encode_property(parent, "dtstart", "date-time", format_instant(interval.start))
    _encode_property(parent, "duration", "duration", format_duration(interval.duration))


def _decode_interval(
    start: tuple[etree._Element, str], length: tuple[etree._Element, str]
) -> Interval:
    start_text, start_path = _decode_property(*start, "date-time")
    duration_text, duration_path = _decode_property(*length, "duration")
    moment = _parse_datetime(start_text, start_path, utc_only=True)
    duration = parse_duration(duration_text, duration_path)
    return _model(duration_path, lambda: Interval(moment, duration))


def _decode_start_and_duration(children: _Children) -> Interval:
    return _decode_interval(children.need(_q(XCAL, "dtstart")), children.need(_q(XCAL, "duration")))


def _decode_duration_property(element: etree._Element, path: str) -> timedelta:
    return parse_duration(*_decode_property(element, path, "duration"))


# ---------------------------------------------------------------------------------------------
# EMIX interfaces, units, power descriptions

_NODE_KINDS = (
    InterfaceKind.PNODE,
    InterfaceKind.AGGREGATED_PNODE,
    InterfaceKind.SERVICE_DELIVERY_POINT,
)
_TRANSPORT_INTERFACE = _q(POWER, "transportInterface")
_INTERFACE_TAGS = frozenset(
    {_q(POWER, kind.value) for kind in InterfaceKind} | {_TRANSPORT_INTERFACE}
)


def _encode_interface(parent: etree._Element, interface: Interface) -> None:
    if isinstance(interface, TransportPath):
        element = _sub(parent, _TRANSPORT_INTERFACE)
        _sub(element, _q(POWER, "pointOfReceipt"), interface.point_of_receipt)
        _sub(element, _q(POWER, "pointOfDelivery"), interface.point_of_delivery)
        return
    element = _sub(parent, _q(POWER, interface.kind.value))
    id_tag = "node" if interface.kind in _NODE_KINDS else "mrid"
    _sub(element, _q(POWER, id_tag), interface.id)


def _decode_interface(element: etree._Element, path: str) -> Interface:
    children = _Children(element, path)
    if element.tag == _TRANSPORT_INTERFACE:
        receipt = children.need(_q(POWER, "pointOfReceipt"))
        delivery = children.need(_q(POWER, "pointOfDelivery"))
        children.done()
        try:
            return TransportPath(_text(*receipt), _text(*delivery))
        except ModelError as error:
            raise DecodeError(path, str(error)) from None
    kind = InterfaceKind(etree.QName(element).localname)
    id_tag = "node" if kind in _NODE_KINDS else "mrid"
    identifier = _text(*children.need(_q(POWER, id_tag)))
    children.done()
    return Location(identifier, kind)


def _encode_power_unit(parent: etree._Element, unit: PowerUnit) -> None:
    element = _sub(parent, _q(POWER, "powerReal"))
    _sub(element, _q(POWER, "itemDescription"), "RealPower")
    _sub(element, _q(POWER, "itemUnits"), "W")
    _sub(element, _q(SISCALE, "siScaleCode"), unit.scale.code)
    attributes = _sub(element, _q(POWER, "powerAttributes"))
    _sub(attributes, _q(POWER, "hertz"), format_decimal(unit.hertz))
    _sub(attributes, _q(POWER, "voltage"), format_decimal(unit.voltage))
    _sub(attributes, _q(POWER, "ac"), "true" if unit.ac else "false")


def _decode_scale(children: _Children) -> SiScale:
    element, path = children.need(_q(SISCALE, "siScaleCode"))
    try:
        return SiScale.from_code(_text(element, path).strip())
    except ModelError as error:
        raise DecodeError(path, str(error)) from None


def _decode_units(children: _Children, allowed: tuple[str, ...]) -> None:
    children.need(_q(POWER, "itemDescription"))
    element, path = children.need(_q(POWER, "itemUnits"))
    units = _text(element, path).strip()
    if units not in allowed:
        raise DecodeError(path, f"units {units!r} are not {' or '.join(allowed)}")


def _decode_power_unit(element: etree._Element, path: str) -> PowerUnit:
    children = _Children(element, path)
    _decode_units(children, ("W", "J/s"))
    scale = _decode_scale(children)
    attributes, attributes_path = children.need(_q(POWER, "powerAttributes"))
    children.done()
    inner = _Children(attributes, attributes_path)
    hertz = _parse_decimal(_text(*inner.need(_q(POWER, "hertz"))), attributes_path)
    voltage = _parse_decimal(_text(*inner.need(_q(POWER, "voltage"))), attributes_path)
    ac = _parse_bool(_text(*inner.need(_q(POWER, "ac"))), attributes_path)
    inner.done()
    return PowerUnit(scale, hertz, voltage, ac)


def _encode_energy_unit(parent: etree._Element, unit: EnergyUnit) -> None:
    element = _sub(parent, _q(POWER, "energyReal"))
    _sub(element, _q(POWER, "itemDescription"), "RealEnergy")
    _sub(element, _q(POWER, "itemUnits"), "Wh")
    _sub(element, _q(SISCALE, "siScaleCode"), unit.scale.code)


def _decode_energy_unit(element: etree._Element, path: str) -> EnergyUnit:
    children = _Children(element, path)
    _decode_units(children, ("Wh",))
    scale = _decode_scale(children)
    children.done()
    return EnergyUnit(scale)


def _encode_price(parent: etree._Element, tag: str, value: Decimal) -> None:
    _sub(_sub(parent, tag), _q(EMIX, "value"), format_decimal(value))


def _decode_price(element: etree._Element, path: str) -> Decimal:
    children = _Children(element, path)
    value, value_path = children.need(_q(EMIX, "value"))
    children.done()
    return _parse_decimal(_text(value, value_path), value_path)


FLOAT_MAX = Decimal("3.4028234663852886e38")
"""The largest finite ``xs:float``: an ``emix:quantity`` beyond it is ``INF``, not a number."""


def _decode_number(found: tuple[etree._Element, str]) -> Decimal:
    element, path = found
    return _parse_decimal(_text(element, path), path)


def _decode_quantity(found: tuple[etree._Element, str]) -> Decimal:
    """An ``emix:quantity`` (``xs:float``): a finite number within the float range."""
    value = _decode_number(found)
    if abs(value) > FLOAT_MAX:
        raise DecodeError(found[1], f"{format_decimal(value)} is beyond the range of xs:float")
    return value


def _encode_power_description(parent: etree._Element, description: PowerDescription) -> None:
    element = _sub(parent, _q(POWER, "temixPower"))
    _encode_interface(element, description.interface)
    _encode_price(element, _q(EMIX, "price"), description.price)
    _encode_power_unit(element, description.power_unit)
    _encode_energy_unit(element, description.energy_unit)
    _sub(element, _q(EMIX, "quantity"), format_decimal(description.quantity))


def _decode_power_description(element: etree._Element, path: str) -> PowerDescription:
    children = _Children(element, path)
    interface = _decode_interface(*children.need_one_of(_INTERFACE_TAGS, "an EMIX interface"))
    price = _decode_price(*children.need(_q(EMIX, "price")))
    power_unit = _decode_power_unit(*_need_units(children, "powerReal", "the rate"))
    energy_unit = _decode_energy_unit(*_need_units(children, "energyReal", "the price"))
    quantity = _decode_quantity(children.need(_q(EMIX, "quantity")))
    children.done()
    try:
        return PowerDescription(interface, price, quantity, power_unit, energy_unit)
    except ModelError as error:
        raise DecodeError(path, str(error)) from None


def _need_units(children: _Children, local: str, what: str) -> tuple[etree._Element, str]:
    found = children.take(_q(POWER, local))
    if found is None:
        raise DecodeError(
            children.path, f"the TeMIX profile needs power:{local}: the units of {what}"
        )
    return found


# ---------------------------------------------------------------------------------------------
# Products


_EMIX_BASE = _q(EMIX, "emixBase")
_XSI_TYPE = _q(XSI, "type")
_PRODUCT_TYPE = _q(EMIX, "ProductType")
_OPTION_TYPE = _q(EMIX, "EmixOptionType")


def _encode_product(parent: etree._Element, product: Product) -> None:
    element = _sub(parent, _EMIX_BASE)
    option = product.option
    element.set(_XSI_TYPE, "emix:EmixOptionType" if option else "emix:ProductType")
    if option is not None or product.related_to is not None:
        calendar_properties = _sub(element, _q(XCAL, "properties"))
        if option is not None:
            _encode_property(
                calendar_properties, "granularity", "duration", format_duration(option.granularity)
            )
        if product.related_to is not None:
            _encode_property(calendar_properties, "related-to", "uid", product.related_to)
    interval = _sub(_sub(element, _q(XCAL, "components")), _q(XCAL, "interval"))
    properties = _sub(interval, _q(XCAL, "properties"))
    _encode_start_and_duration(properties, product.interval)
    attach = _sub(properties, _q(XCAL, "x-wsCalendar-attach"))
    _encode_power_description(attach, product.description)
    _sub(element, _q(EMIX, "uid"), product.uid)
    _sub(element, _q(EMIX, "transactiveState"), product.state.value)
    if product.expires is not None:
        _sub(element, _q(EMIX, "expirationDate"), format_instant(product.expires))
    if product.integral_only is not None:
        _sub(element, _q(EMIX, "integralOnly"), "true" if product.integral_only else "false")
    if option is None:
        if product.currency is not None:
            _sub(element, _q(EMIX, "currency"), product.currency)
        _sub(element, _q(EMIX, "marketContext"), product.market_context)
        _sub(element, _q(EMIX, "side"), product.side.value)
    else:
        _sub(element, _q(EMIX, "optionHolderSide"), option.holder_side.value)
        _encode_price(element, _q(EMIX, "optionPremium"), option.premium)
        _encode_price(element, _q(EMIX, "optionStrikePrice"), option.strike_price)
        _sub(element, _q(EMIX, "optionType"), option.option_type.value)
        _sub(element, _q(EMIX, "side"), product.side.value)
        _sub(element, _q(EMIX, "marketContext"), product.market_context)
        if product.currency is not None:
            _sub(element, _q(EMIX, "currency"), product.currency)
    _encode_product_terms(element, product)


def _encode_product_terms(element: etree._Element, product: Product) -> None:
    """``emix:terms``: an option's lead time and availability, and a financial settlement."""
    option = product.option
    financial = product.settlement is Settlement.FINANCIAL
    if option is None and not financial:
        return
    terms = _sub(element, _q(EMIX, "terms"))
    if option is not None:
        _encode_term(terms, MinimumNotification(option.lead_time))
        if option.availability is not None:
            _encode_term(terms, option.availability)
    if financial:
        _encode_term(terms, SettlementTerm(product.settlement))


@dataclass
class _ProductTerms:
    lead_time: timedelta = timedelta(0)
    availability: AvailabilitySchedule | None = None
    settlement: Settlement = Settlement.PHYSICAL


_MINIMUM_NOTIFICATION = _q(EMIX, "minimumNotificationDuration")
_AVAILABILITY_SCHEDULE = _q(EMIX, "availabilitySchedule")
_SETTLEMENT_TERM = _q(TEMIX_EXT, "settlement")
_OPTION_TERMS = (_MINIMUM_NOTIFICATION, _AVAILABILITY_SCHEDULE)


def _decode_product_terms(
    found: tuple[etree._Element, str] | None, *, option: bool
) -> _ProductTerms:
    """A product's ``emix:terms``, in any order, each at most once; the option terms only on an
    option."""
    result = _ProductTerms()
    if found is None:
        return result
    terms = _Children(*found)
    seen: set[str] = set()
    for element, path in terms.take_all((*_OPTION_TERMS, _SETTLEMENT_TERM)):
        if element.tag in seen:
            raise DecodeError(path, f"a product has one {prefixed(element.tag)}")
        seen.add(element.tag)
        if element.tag in _OPTION_TERMS and not option:
            raise DecodeError(path, f"only an option has {prefixed(element.tag)}")
        term = _decode_term(element, path)
        if isinstance(term, MinimumNotification):
            result.lead_time = term.duration
        elif isinstance(term, AvailabilitySchedule):
            result.availability = term
        elif isinstance(term, SettlementTerm):
            result.settlement = term.settlement
    terms.done()
    return result


def _resolve_xsi_type(element: etree._Element, path: str) -> str:
    value = element.get(_XSI_TYPE)
    if value is None:
        raise DecodeError(path, "emix:emixBase needs xsi:type: EmixBaseType is abstract")
    prefix, _, local = value.strip().rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    if namespace is None:
        raise DecodeError(path, f"xsi:type {value!r} uses an undeclared prefix")
    return _q(namespace, local)


@dataclass
class _CalendarProperties:
    granularity: timedelta | None = None
    related_to: str | None = None


def _decode_calendar_properties(found: tuple[etree._Element, str] | None) -> _CalendarProperties:
    result = _CalendarProperties()
    if found is None:
        return result
    element, path = found
    children = _Children(element, path)
    granularity = children.take(_q(XCAL, "granularity"))
    if granularity is not None:
        result.granularity = _decode_duration_property(*granularity)
    related = children.take(_q(XCAL, "related-to"))
    if related is not None:
        result.related_to = _decode_property(*related, "uid")[0]
    children.done()
    return result


def _decode_single_interval(children: _Children) -> tuple[Interval, PowerDescription]:
    components, components_path = children.need(_q(XCAL, "components"))
    intervals = _Children(components, components_path)
    interval = intervals.need(_q(XCAL, "interval"))
    if intervals.take(_q(XCAL, "interval")) is not None:
        raise DecodeError(components_path, "a TeMIX product covers exactly one delivery interval")
    intervals.done()
    properties = _interval_properties(*interval)
    attach = properties.pop("x-wsCalendar-attach")
    artifacts = _Children(*attach)
    description = _decode_power_description(*artifacts.need(_q(POWER, "temixPower")))
    artifacts.done()
    return _decode_interval(properties["dtstart"], properties["duration"]), description


def _interval_properties(
    element: etree._Element, path: str, *also: str
) -> dict[str, tuple[etree._Element, str]]:
    """The properties of an ``xcal:interval`` by local name (their order is free): the start,
    duration, uid and attachment, and the properties named in ``also``."""
    children = _Children(element, path)
    properties, properties_path = children.need(_q(XCAL, "properties"))
    children.done()
    found: dict[str, tuple[etree._Element, str]] = {}
    items = _Children(properties, properties_path)
    names = ("dtstart", "duration", "uid", "x-wsCalendar-attach", *also)
    wanted = {_q(XCAL, name) for name in names}
    for child, child_path in items.take_all(wanted):
        name = etree.QName(child).localname
        if name in found:
            raise DecodeError(child_path, f"an interval has one xcal:{name}")
        found[name] = (child, child_path)
    items.done()
    for name in ("dtstart", "duration", "x-wsCalendar-attach"):
        if name not in found:
            raise DecodeError(properties_path, f"an interval needs xcal:{name}")
    found.pop("uid", None)
    return found


def _optional_text(children: _Children, tag: str) -> str | None:
    found = children.take(tag)
    return None if found is None else _text(*found)


def _decode_product(element: etree._Element, path: str) -> Product:
    concrete = _resolve_xsi_type(element, path)
    if concrete not in (_PRODUCT_TYPE, _OPTION_TYPE):
        raise DecodeError(
            path, f"xsi:type {prefixed(concrete)} is not emix:ProductType or emix:EmixOptionType"
        )
    children = _Children(element, path)
    calendar = _decode_calendar_properties(children.take(_q(XCAL, "properties")))
    interval, description = _decode_single_interval(children)
    uid = _text(*children.need(_q(EMIX, "uid")))
    state_element, state_path = children.need(_q(EMIX, "transactiveState"))
    state = _parse_enum(TransactiveState, _text(state_element, state_path), state_path)
    expires_found = children.take(_q(EMIX, "expirationDate"))
    expires = None
    if expires_found is not None:
        expires = _parse_datetime(_text(*expires_found), expires_found[1], utc_only=False)
    integral_found = children.take(_q(EMIX, "integralOnly"))
    integral_only = None if integral_found is None else _parse_bool(_text(*integral_found), path)
    option = None
    if concrete == _OPTION_TYPE:
        holder_element, holder_path = children.need(_q(EMIX, "optionHolderSide"))
        holder = _parse_enum(Side, _text(holder_element, holder_path), holder_path)
        premium = _decode_price(*children.need(_q(EMIX, "optionPremium")))
        strike = _decode_price(*children.need(_q(EMIX, "optionStrikePrice")))
        kind_element, kind_path = children.need(_q(EMIX, "optionType"))
        option_type = _parse_enum(OptionType, _text(kind_element, kind_path), kind_path)
        side = _decode_side(children)
        market_context = _text(*children.need(_q(EMIX, "marketContext")))
        currency = _optional_text(children, _q(EMIX, "currency"))
        terms = _decode_product_terms(children.take(_q(EMIX, "terms")), option=True)
        try:
            option = OptionTerms(
                option_type,
                holder,
                strike,
                premium,
                terms.lead_time,
                calendar.granularity or interval.duration,
                terms.availability,
            )
        except ModelError as error:
            raise DecodeError(path, str(error)) from None
    else:
        if calendar.granularity is not None:
            raise DecodeError(path, "only an option has a temporal granularity")
        currency = _optional_text(children, _q(EMIX, "currency"))
        market_context = _text(*children.need(_q(EMIX, "marketContext")))
        side = _decode_side(children)
        terms = _decode_product_terms(children.take(_q(EMIX, "terms")), option=False)
    children.done()
    try:
        return Product(
            uid=uid,
            interval=interval,
            description=description,
            state=state,
            side=side,
            market_context=market_context.strip(),
            currency=None if currency is None else currency.strip(),
            expires=expires,
            integral_only=integral_only,
            option=option,
            related_to=calendar.related_to,
            settlement=terms.settlement,
        )
    except ModelError as error:
        raise DecodeError(path, str(error)) from None


def _decode_side(children: _Children) -> Side:
    element, path = children.need(_q(EMIX, "side"))
    return _parse_enum(Side, _text(element, path), path)


# ---------------------------------------------------------------------------------------------
# EI classes: tenders, quotes, transactions, deliveries, market contexts, responses


def _model(path: str, build: Callable[[], Any]) -> Any:
    try:
        return build()
    except ModelError as error:
        raise DecodeError(path, str(error)) from None


def _encode_tender(element: etree._Element, tender: Tender) -> None:
    _sub(element, _q(EI, "tenderID"), tender.tender_id)
    _encode_product(element, tender.product)


def _decode_tender(element: etree._Element, path: str) -> Tender:
    children = _Children(element, path)
    tender_id = _text(*children.need(_q(EI, "tenderID")))
    product = _decode_product(*children.need(_EMIX_BASE))
    children.done()
    return _model(path, lambda: Tender(tender_id, product))


def _encode_quote(element: etree._Element, quote: Quote) -> None:
    _sub(element, _q(EI, "quoteID"), quote.quote_id)
    for product in quote.products:
        _encode_product(element, product)


def _decode_quote(element: etree._Element, path: str) -> Quote:
    children = _Children(element, path)
    quote_id = _text(*children.need(_q(EI, "quoteID")))
    products = tuple(_decode_product(*found) for found in children.take_all((_EMIX_BASE,)))
    children.done()
    return _model(path, lambda: Quote(quote_id, products))


def _encode_transaction(element: etree._Element, transaction: Transaction) -> None:
    _sub(element, _q(EI, "transactionID"), transaction.transaction_id)
    if transaction.tender_id is not None:
        _sub(element, _q(EI, "tenderID"), transaction.tender_id)
    _encode_product(element, transaction.product)


def _decode_transaction(element: etree._Element, path: str) -> Transaction:
    children = _Children(element, path)
    transaction_id = _text(*children.need(_q(EI, "transactionID")))
    tender_id = _optional_text(children, _q(EI, "tenderID"))
    product = _decode_product(*children.need(_EMIX_BASE))
    children.done()
    return _model(path, lambda: Transaction(transaction_id, product, tender_id))


def _encode_delivery_content(element: etree._Element, delivery: Delivery) -> None:
    components = _sub(element, _q(XCAL, "components"))
    for reading in delivery.readings:
        properties = _sub(_sub(components, _q(XCAL, "interval")), _q(XCAL, "properties"))
        _encode_start_and_duration(properties, reading.interval)
        if reading.transaction_id is not None:
            _encode_property(properties, "related-to", "uid", reading.transaction_id)
        attach = _sub(properties, _q(XCAL, "x-wsCalendar-attach"))
        measurement = _sub(attach, _q(EMIX, "measurement"))
        _sub(measurement, _q(EMIX, "quantity"), format_decimal(reading.quantity))
        _encode_power_unit(measurement, reading.power_unit)
        point = _sub(attach, _q(TEMIX_EXT, "deliveryPoint"))
        _sub(point, _q(EMIX, "marketContext"), reading.market_context)
        _encode_interface(point, reading.interface)
    _sub(element, _q(EMIX, "uid"), delivery.uid)
    _sub(element, _q(EMIX, "injection"), "true" if delivery.injection else "false")


def _encode_delivery(element: etree._Element, delivery: Delivery) -> None:
    if delivery.delivery_id is not None:
        raise ModelError("a delivery being reported has no delivery id yet")
    _encode_delivery_content(element, delivery)


def _encode_stored_delivery(element: etree._Element, delivery: Delivery) -> None:
    if delivery.delivery_id is None or delivery.created is None:
        raise ModelError("an ei:eiDelivery needs its delivery id and creation time")
    _encode_delivery_content(element, delivery)
    _sub(element, _q(EI, "eiDeliveryID"), delivery.delivery_id)
    _sub(element, _q(EI, "createdDateTime"), format_instant(delivery.created))


def _decode_reading(element: etree._Element, path: str) -> MeterReading:
    properties = _interval_properties(element, path, "related-to")
    interval = _decode_interval(properties["dtstart"], properties["duration"])
    related = properties.get("related-to")
    transaction_id = None if related is None else _decode_property(*related, "uid")[0].strip()
    artifacts = _Children(*properties["x-wsCalendar-attach"])
    measurement = _Children(*artifacts.need(_q(EMIX, "measurement")))
    quantity = _decode_quantity(measurement.need(_q(EMIX, "quantity")))
    power_unit = _decode_power_unit(*_need_units(measurement, "powerReal", "the rate"))
    measurement.done()
    point = _Children(*artifacts.need(_q(TEMIX_EXT, "deliveryPoint")))
    market_context = _text(*point.need(_q(EMIX, "marketContext"))).strip()
    interface = _decode_interface(*point.need_one_of(_INTERFACE_TAGS, "an EMIX interface"))
    point.done()
    artifacts.done()
    return _model(
        path,
        lambda: MeterReading(
            interval, quantity, market_context, interface, power_unit, transaction_id
        ),
    )


def _decode_delivery_content(children: _Children) -> tuple[tuple[MeterReading, ...], str, bool]:
    components, components_path = children.need(_q(XCAL, "components"))
    intervals = _Children(components, components_path)
    readings = tuple(
        _decode_reading(*found) for found in intervals.take_all((_q(XCAL, "interval"),))
    )
    intervals.done()
    uid = _text(*children.need(_q(EMIX, "uid")))
    injection_element, injection_path = children.need(_q(EMIX, "injection"))
    return readings, uid, _parse_bool(_text(injection_element, injection_path), injection_path)


def _decode_delivery(element: etree._Element, path: str) -> Delivery:
    children = _Children(element, path)
    readings, uid, injection = _decode_delivery_content(children)
    children.done()
    return _model(path, lambda: Delivery(uid, injection, readings))


def _decode_stored_delivery(element: etree._Element, path: str) -> Delivery:
    children = _Children(element, path)
    readings, uid, injection = _decode_delivery_content(children)
    delivery_id = _text(*children.need(_q(EI, "eiDeliveryID")))
    created_found = children.need(_q(EI, "createdDateTime"))
    created = _parse_datetime(_text(*created_found), created_found[1], utc_only=False)
    children.done()
    return _model(path, lambda: Delivery(uid, injection, readings, delivery_id, created))


def _encode_market_context(element: etree._Element, context: MarketContext) -> None:
    _sub(element, _q(EMIX, "marketContext"), context.uri)
    _sub(element, _q(EI, "marketName"), context.name)
    standard = _sub(element, _q(EMIX, "standardTerms"))
    _sub(standard, _q(EMIX, "marketContext"), context.uri)
    terms_set = _sub(standard, _q(EMIX, "standardTermsSet"))
    terms = _sub(terms_set, _q(EMIX, "terms"))
    _encode_term(terms, MarketGranularity(context.quantity_step, context.power_unit))
    _sub(terms_set, _q(EMIX, "nonStandardTermsHandling"), "reject")
    _encode_property(
        standard, "granularity", "duration", format_duration(context.interval_granularity)
    )
    _encode_property(standard, "tzid", "text", context.time_zone)
    _sub(standard, _q(EMIX, "currency"), context.currency)
    extension = _sub(element, _q(TEMIX_EXT, "temixMarketTerms"))
    _encode_energy_unit(extension, context.energy_unit)
    for kind in ProductKind:
        if kind in context.allowed_products:
            _sub(extension, _q(TEMIX_EXT, "allowedProduct"), kind.value)
    for duration in context.allowed_durations:
        _sub(extension, _q(TEMIX_EXT, "allowedDuration"), format_duration(duration))
    if context.balancing_price_source is not None:
        _sub(extension, _q(TEMIX_EXT, "balancingPriceSource"), context.balancing_price_source)
    if context.index_price_source is not None:
        _sub(extension, _q(TEMIX_EXT, "indexPriceSource"), context.index_price_source)
    _sub(extension, _q(TEMIX_EXT, "energyDecimals"), str(context.energy_decimals))
    _sub(extension, _q(TEMIX_EXT, "moneyDecimals"), str(context.money_decimals))
    if context.created is not None:
        _sub(element, _q(EI, "createdDateTime"), format_instant(context.created))


def _decode_market_context(element: etree._Element, path: str) -> MarketContext:
    children = _Children(element, path)
    uri = _text(*children.need(_q(EMIX, "marketContext"))).strip()
    name = _text(*children.need(_q(EI, "marketName")))
    standard = _Children(*children.need(_q(EMIX, "standardTerms")))
    standard_uri_element, standard_uri_path = standard.need(_q(EMIX, "marketContext"))
    if _text(standard_uri_element, standard_uri_path).strip() != uri:
        raise DecodeError(standard_uri_path, "the standard terms name another market context")
    terms_set = _Children(*standard.need(_q(EMIX, "standardTermsSet")))
    terms = _Children(*terms_set.need(_q(EMIX, "terms")))
    granularity_term = _decode_term(*terms.need(_q(EMIX, "marketGranularity")))
    terms.done()
    terms_set.need(_q(EMIX, "nonStandardTermsHandling"))
    terms_set.done()
    assert isinstance(granularity_term, MarketGranularity)
    interval_granularity = _decode_duration_property(*standard.need(_q(XCAL, "granularity")))
    time_zone = _decode_property(*standard.need(_q(XCAL, "tzid")), "text")[0].strip()
    currency = _text(*standard.need(_q(EMIX, "currency"))).strip()
    standard.done()
    extension = _Children(*children.need(_q(TEMIX_EXT, "temixMarketTerms")))
    energy_unit = _decode_energy_unit(*extension.need(_q(POWER, "energyReal")))
    allowed = frozenset(
        _parse_enum(ProductKind, _text(*found), found[1])
        for found in extension.take_all((_q(TEMIX_EXT, "allowedProduct"),))
    )
    durations = tuple(
        parse_duration(_text(*found), found[1])
        for found in extension.take_all((_q(TEMIX_EXT, "allowedDuration"),))
    )
    balancing = _optional_text(extension, _q(TEMIX_EXT, "balancingPriceSource"))
    index = _optional_text(extension, _q(TEMIX_EXT, "indexPriceSource"))
    decimals = {}
    for local, what in (("energyDecimals", "energy_decimals"), ("moneyDecimals", "money_decimals")):
        found = extension.take(_q(TEMIX_EXT, local))
        if found is not None:
            decimals[what] = _parse_count(_text(*found), found[1])
    extension.done()
    created_found = children.take(_q(EI, "createdDateTime"))
    created = None
    if created_found is not None:
        created = _parse_datetime(_text(*created_found), created_found[1], utc_only=False)
    children.done()
    return _model(
        path,
        lambda: MarketContext(
            uri=uri,
            name=name,
            currency=currency,
            power_unit=granularity_term.power_unit,
            energy_unit=energy_unit,
            quantity_step=granularity_term.quantity,
            time_zone=time_zone,
            interval_granularity=interval_granularity,
            allowed_products=allowed,
            allowed_durations=durations,
            balancing_price_source=None if balancing is None else balancing.strip(),
            index_price_source=None if index is None else index.strip(),
            created=created,
            **decimals,
        ),
    )


def _encode_term(parent: etree._Element, term: Term) -> None:
    if isinstance(term, MinimumNotification):
        element = _sub(parent, _MINIMUM_NOTIFICATION)
        _encode_property(element, "duration", "duration", format_duration(term.duration))
    elif isinstance(term, MarketGranularity):
        element = _sub(parent, _MARKET_GRANULARITY)
        _sub(element, _q(EMIX, "quantity"), format_decimal(term.quantity))
        _encode_power_unit(element, term.power_unit)
    elif isinstance(term, AvailabilitySchedule):
        _encode_availability(_sub(parent, _AVAILABILITY_SCHEDULE), term)
    else:
        element = _sub(parent, _SETTLEMENT_TERM)
        _sub(element, _q(TEMIX_EXT, "settlementKind"), term.settlement.value)


_MARKET_GRANULARITY = _q(EMIX, "marketGranularity")
_TERM_TAGS = (_MINIMUM_NOTIFICATION, _MARKET_GRANULARITY, _AVAILABILITY_SCHEDULE, _SETTLEMENT_TERM)


def _decode_term(element: etree._Element, path: str) -> Term:
    children = _Children(element, path)
    term: Term
    if element.tag == _MINIMUM_NOTIFICATION:
        term = MinimumNotification(_decode_duration_property(*children.need(_q(XCAL, "duration"))))
    elif element.tag == _MARKET_GRANULARITY:
        quantity = _decode_quantity(children.need(_q(EMIX, "quantity")))
        power_unit = _decode_power_unit(*_need_units(children, "powerReal", "the quantity step"))
        term = MarketGranularity(quantity, power_unit)
    elif element.tag == _AVAILABILITY_SCHEDULE:
        term = _decode_availability(children)
    else:
        kind_element, kind_path = children.need(_q(TEMIX_EXT, "settlementKind"))
        term = SettlementTerm(_parse_enum(Settlement, _text(kind_element, kind_path), kind_path))
    children.done()
    return term


def _format_clock(moment: datetime) -> str:
    """A window's wall-clock time (floating, no zone) or UTC instant (with the Z)."""
    if moment.tzinfo is not None:
        return format_instant(moment)
    return moment.isoformat(timespec="seconds")


def _parse_clock(text: str, path: str) -> datetime:
    value = text.strip()
    if value.endswith("Z"):
        return _parse_datetime(value, path, utc_only=True)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DecodeError(path, f"{value!r} is not a date-time") from None
    if moment.tzinfo is not None or moment.microsecond:
        raise DecodeError(
            path, f"{value!r} must be a whole-second wall-clock time or a UTC time ending in Z"
        )
    return moment


def _encode_availability(element: etree._Element, schedule: AvailabilitySchedule) -> None:
    components = _sub(_sub(element, _q(XCAL, "vavailability")), _q(XCAL, "components"))
    for window in schedule.windows:
        properties = _sub(_sub(components, _q(XCAL, "available")), _q(XCAL, "properties"))
        _encode_property(properties, "dtstart", "date-time", _format_clock(window.start))
        _encode_property(properties, "duration", "duration", format_duration(window.duration))
        if window.repeats is None:
            continue
        recur = _sub(_sub(properties, _q(XCAL, "rrule")), _q(XCAL, "recur"))
        _sub(recur, _q(XCAL, "freq"), window.repeats.value)
        if window.until is not None:
            _sub(_sub(recur, _q(XCAL, "until")), _q(XCAL, "date-time"), _format_clock(window.until))
        for day in sorted(window.weekdays):
            _sub(recur, _q(XCAL, "byday"), WEEKDAYS[day])


def _decode_availability(children: _Children) -> AvailabilitySchedule:
    availability, availability_path = children.need(_q(XCAL, "vavailability"))
    inner = _Children(availability, availability_path)
    components = _Children(*inner.need(_q(XCAL, "components")))
    inner.done()
    windows = tuple(
        _decode_window(*found) for found in components.take_all((_q(XCAL, "available"),))
    )
    components.done()
    return _model(availability_path, lambda: AvailabilitySchedule(windows))


def _decode_window(element: etree._Element, path: str) -> AvailableWindow:
    outer = _Children(element, path)
    properties, properties_path = outer.need(_q(XCAL, "properties"))
    outer.done()
    found: dict[str, tuple[etree._Element, str]] = {}
    items = _Children(properties, properties_path)
    for child, child_path in items.take_all(
        {_q(XCAL, n) for n in ("dtstart", "duration", "rrule")}
    ):
        name = etree.QName(child).localname
        if name in found:
            raise DecodeError(child_path, f"an availability window has one xcal:{name}")
        found[name] = (child, child_path)
    items.done()
    for name in ("dtstart", "duration"):
        if name not in found:
            raise DecodeError(properties_path, f"an availability window needs xcal:{name}")
    start = _parse_clock(*_decode_property(*found["dtstart"], "date-time"))
    duration = _decode_duration_property(*found["duration"])
    repeats, until, weekdays = None, None, frozenset[int]()
    if "rrule" in found:
        rule = _Children(*found["rrule"])
        recur = _Children(*rule.need(_q(XCAL, "recur")))
        rule.done()
        freq_element, freq_path = recur.need(_q(XCAL, "freq"))
        repeats = _parse_enum(Recurrence, _text(freq_element, freq_path), freq_path)
        until_found = recur.take(_q(XCAL, "until"))
        if until_found is not None:
            until = _parse_clock(*_decode_property(*until_found, "date-time"))
        days = []
        for day_element, day_path in recur.take_all((_q(XCAL, "byday"),)):
            code = _text(day_element, day_path).strip()
            if code not in WEEKDAYS:
                raise DecodeError(day_path, f"{code!r} is not a weekday code (MO to SU)")
            days.append(WEEKDAYS.index(code))
        recur.done()
        weekdays = frozenset(days)
    return _model(path, lambda: AvailableWindow(start, duration, repeats, weekdays, until))


def _encode_response(element: etree._Element, response: Response) -> None:
    _sub(element, _q(EI, "responseCode"), response.code)
    if response.description is not None:
        _sub(element, _q(EI, "responseDescription"), response.description)
    _sub(element, _q(EI, "refID"), response.ref_id)
    if response.terms_violated:
        violated = _sub(element, _q(EI, "responseTermsViolated"))
        for violation in response.terms_violated:
            item = _sub(violated, _q(EI, "responseTermViolated"))
            _sub(item, _q(EI, "responseDescription"), violation.description)
            _encode_term(item, violation.term)
    if response.created is not None:
        _sub(element, _q(EI, "createdDateTime"), format_instant(response.created))


def _decode_response(element: etree._Element, path: str) -> Response:
    children = _Children(element, path)
    code = _text(*children.need(_q(EI, "responseCode"))).strip()
    description = _optional_text(children, _q(EI, "responseDescription"))
    ref_id = _text(*children.need(_q(EI, "refID")))
    violations: list[TermViolation] = []
    violated = children.take(_q(EI, "responseTermsViolated"))
    if violated is not None:
        items = _Children(*violated)
        for item in items.take_all((_q(EI, "responseTermViolated"),)):
            inner = _Children(*item)
            text = _text(*inner.need(_q(EI, "responseDescription")))
            term = _decode_term(*inner.need_one_of(_TERM_TAGS, "an EMIX term"))
            inner.done()
            violations.append(TermViolation(text, term))
        items.done()
    created_found = children.take(_q(EI, "createdDateTime"))
    created = None
    if created_found is not None:
        created = _parse_datetime(_text(*created_found), created_found[1], utc_only=False)
    children.done()
    return _model(path, lambda: Response(code, ref_id, description, tuple(violations), created))


def _encode_responses(element: etree._Element, responses: tuple[Response, ...]) -> None:
    for response in responses:
        _encode_response(_sub(element, _q(EI, "response")), response)


def _decode_responses(element: etree._Element, path: str) -> tuple[Response, ...]:
    children = _Children(element, path)
    found = tuple(_decode_response(*item) for item in children.take_all((_q(EI, "response"),)))
    children.done()
    return found


def _encode_target(element: etree._Element, target: Target) -> None:
    for interface in target.interfaces:
        _encode_interface(element, interface)
    for tag, values in (
        ("groupID", target.group_ids),
        ("groupName", target.group_names),
        ("partyID", target.party_ids),
    ):
        for value in values:
            _sub(element, _q(EI, tag), value)


def _decode_target(element: etree._Element, path: str) -> Target:
    children = _Children(element, path)
    interfaces = tuple(_decode_interface(*found) for found in children.take_all(_INTERFACE_TAGS))
    groups = tuple(_text(*found) for found in children.take_all((_q(EI, "groupID"),)))
    names = tuple(_text(*found) for found in children.take_all((_q(EI, "groupName"),)))
    parties = tuple(_text(*found) for found in children.take_all((_q(EI, "partyID"),)))
    children.done()
    return _model(path, lambda: Target(interfaces, groups, names, parties))


def _encode_stream_intervals(element: etree._Element, intervals: tuple[Interval, ...]) -> None:
    for interval in intervals:
        item = _sub(element, _q(EI, "interval"))
        _encode_start_and_duration(item, interval)
        _sub(item, _q(TEMIX_EXT, "intervalSelector"))


def _decode_stream_intervals(element: etree._Element, path: str) -> tuple[Interval, ...]:
    children = _Children(element, path)
    intervals = []
    for item in children.take_all((_q(EI, "interval"),)):
        inner = _Children(*item)
        interval = _decode_start_and_duration(inner)
        inner.need(_q(TEMIX_EXT, "intervalSelector"))
        inner.done()
        intervals.append(interval)
    children.done()
    return tuple(intervals)


def _encode_plain_interval(element: etree._Element, interval: Interval) -> None:
    _encode_start_and_duration(element, interval)


def _decode_plain_interval(element: etree._Element, path: str) -> Interval:
    children = _Children(element, path)
    interval = _decode_start_and_duration(children)
    children.done()
    return interval


def _encode_position(element: etree._Element, position: Position) -> None:
    _encode_start_and_duration(element, position.interval)
    _sub(element, _q(TEMIX_EXT, "netRate"), format_decimal(position.net_rate))
    _sub(element, _q(TEMIX_EXT, "energy"), format_decimal(position.energy))
    _sub(element, _q(TEMIX_EXT, "cost"), format_decimal(position.cost))


def _decode_position(element: etree._Element, path: str) -> Position:
    children = _Children(element, path)
    interval = _decode_start_and_duration(children)
    net_rate = _decode_number(children.need(_q(TEMIX_EXT, "netRate")))
    energy_amount = _decode_number(children.need(_q(TEMIX_EXT, "energy")))
    cost = _decode_number(children.need(_q(TEMIX_EXT, "cost")))
    children.done()
    return Position(interval, net_rate, energy_amount, cost)


def _encode_balancing_trade(element: etree._Element, trade: SettlementTrade) -> None:
    _encode_start_and_duration(element, trade.interval)
    _sub(element, _q(TEMIX_EXT, "side"), trade.side.value)
    _sub(element, _q(TEMIX_EXT, "rate"), format_decimal(trade.rate))
    _sub(element, _q(TEMIX_EXT, "price"), format_decimal(trade.price))
    _sub(element, _q(TEMIX_EXT, "energy"), format_decimal(trade.energy))
    _sub(element, _q(TEMIX_EXT, "amount"), format_decimal(trade.amount))


def _decode_balancing_trade(element: etree._Element, path: str) -> SettlementTrade:
    children = _Children(element, path)
    interval = _decode_start_and_duration(children)
    side_element, side_path = children.need(_q(TEMIX_EXT, "side"))
    side = _parse_enum(Side, _text(side_element, side_path), side_path)
    rate = _decode_number(children.need(_q(TEMIX_EXT, "rate")))
    price = _decode_number(children.need(_q(TEMIX_EXT, "price")))
    energy_amount = _decode_number(children.need(_q(TEMIX_EXT, "energy")))
    amount = _decode_number(children.need(_q(TEMIX_EXT, "amount")))
    children.done()
    return SettlementTrade(interval, side, rate, price, energy_amount, amount)


_PUBLISHED_PRICES = ("averagePrice", "minPrice", "maxPrice")


def _encode_publication(element: etree._Element, publication: Publication) -> None:
    if publication.count < 0:
        raise ModelError("a publication cannot count fewer than no transactions")
    prices = (publication.average_price, publication.min_price, publication.max_price)
    if len({price is None for price in prices}) > 1:
        raise ModelError("a publication has its average, lowest and highest price, or none")
    _encode_start_and_duration(element, publication.interval)
    _sub(element, _q(TEMIX_EXT, "count"), str(publication.count))
    _sub(element, _q(TEMIX_EXT, "totalRate"), format_decimal(publication.total_rate))
    for local, price in zip(_PUBLISHED_PRICES, prices, strict=True):
        if price is not None:
            _sub(element, _q(TEMIX_EXT, local), format_decimal(price))


class _PublishedFigures(NamedTuple):
    """A ``tmx:publication`` as read: its interface is named once, by the reply."""

    interval: Interval
    count: int
    total_rate: Decimal
    prices: tuple[Decimal | None, Decimal | None, Decimal | None]

    def at(self, interface: Interface) -> Publication:
        return Publication(self.interval, interface, self.count, self.total_rate, *self.prices)


def _decode_publication(element: etree._Element, path: str) -> _PublishedFigures:
    children = _Children(element, path)
    interval = _decode_start_and_duration(children)
    count_element, count_path = children.need(_q(TEMIX_EXT, "count"))
    count = _parse_count(_text(count_element, count_path), count_path)
    total_rate = _decode_number(children.need(_q(TEMIX_EXT, "totalRate")))
    average, low, high = None, None, None
    if children.next_is((_q(TEMIX_EXT, "averagePrice"),)):
        average, low, high = (
            _decode_number(children.need(_q(TEMIX_EXT, local))) for local in _PUBLISHED_PRICES
        )
    children.done()
    return _PublishedFigures(interval, count, total_rate, (average, low, high))


# ---------------------------------------------------------------------------------------------
# Payload table


@dataclass(frozen=True)
class _Kind:
    """How one field's value is written: under which element tag(s), by which functions.

    ``encode`` fills the element written for the value; when ``creates`` is true it is given
    the parent instead and writes the element itself (its tag depends on the value).
    """

    tags: frozenset[str]
    encode: Callable[[etree._Element, Any], None]
    decode: Callable[[etree._Element, str], Any]
    what: str
    creates: bool = False

    def write(self, parent: etree._Element, value: Any) -> None:
        if self.creates:
            self.encode(parent, value)
        else:
            (tag,) = self.tags
            self.encode(_sub(parent, tag), value)


def _element(
    tag: str,
    encode: Callable[[etree._Element, Any], None],
    decode: Callable[[etree._Element, str], Any],
) -> _Kind:
    return _Kind(frozenset({tag}), encode, decode, prefixed(tag))


def _text_kind(tag: str) -> _Kind:
    def encode(element: etree._Element, value: str) -> None:
        element.text = value

    return _Kind(frozenset({tag}), encode, _text, prefixed(tag))


def _decimal_kind(tag: str) -> _Kind:
    def encode(element: etree._Element, value: Decimal) -> None:
        element.text = format_decimal(value)

    def decode(element: etree._Element, path: str) -> Decimal:
        return _decode_number((element, path))

    return _Kind(frozenset({tag}), encode, decode, prefixed(tag))


_INTERFACE = _Kind(
    _INTERFACE_TAGS, _encode_interface, _decode_interface, "an EMIX interface", creates=True
)
_REQUEST_ID = _text_kind(_q(PYLD, "requestID"))
_PARTY_ID = _text_kind(_q(EI, "partyID"))
_COUNTERPARTY_ID = _text_kind(_q(EI, "counterPartyID"))
_REQUESTOR_ID = _text_kind(_q(EI, "requestorPartyID"))
_PUBLISHER_ID = _text_kind(_q(EI, "publisherPartyID"))
_SUBSCRIBER_ID = _text_kind(_q(EI, "subscriberPartyID"))
_MARKET_CONTEXT_URI = _text_kind(_q(EMIX, "marketContext"))
_CURRENCY = _text_kind(_q(EMIX, "currency"))
_TENDER_ID = _text_kind(_q(EI, "tenderID"))
_QUOTE_ID = _text_kind(_q(EI, "quoteID"))
_TRANSACTION_ID = _text_kind(_q(EI, "transactionID"))
_DELIVERY_ID = _text_kind(_q(EI, "eiDeliveryID"))
_TENDER = _element(_q(EI, "eiTender"), _encode_tender, _decode_tender)
_QUOTE = _element(_q(EI, "eiQuote"), _encode_quote, _decode_quote)
_TRANSACTION = _element(_q(EI, "eiTransaction"), _encode_transaction, _decode_transaction)
_DELIVERY = _element(_q(EMIX, "delivery"), _encode_delivery, _decode_delivery)
_STORED_DELIVERY = _element(_q(EI, "eiDelivery"), _encode_stored_delivery, _decode_stored_delivery)
_MARKET_CONTEXT = _element(
    _q(EI, "eiMarketContext"), _encode_market_context, _decode_market_context
)
_RESPONSE = _element(_q(EI, "eiResponse"), _encode_response, _decode_response)
_RESPONSES = _element(_q(EI, "responses"), _encode_responses, _decode_responses)
_TARGET = _element(_q(EI, "eiTarget"), _encode_target, _decode_target)
_STREAM_INTERVALS = _element(
    _q(STRM, "intervals"), _encode_stream_intervals, _decode_stream_intervals
)
_TMX_INTERVAL = _element(_q(TEMIX_EXT, "interval"), _encode_plain_interval, _decode_plain_interval)
_POSITION = _element(_q(TEMIX_EXT, "position"), _encode_position, _decode_position)
_FORWARD_COST = _decimal_kind(_q(TEMIX_EXT, "forwardCost"))
_BALANCING_COST = _decimal_kind(_q(TEMIX_EXT, "balancingCost"))
_PREMIUMS = _decimal_kind(_q(TEMIX_EXT, "premiums"))
_FINANCIAL_COST = _decimal_kind(_q(TEMIX_EXT, "financialCost"))
_CASH_OUT_COST = _decimal_kind(_q(TEMIX_EXT, "cashOutCost"))
_TOTAL = _decimal_kind(_q(TEMIX_EXT, "total"))
_BALANCING_TRADE = _element(
    _q(TEMIX_EXT, "balancingTrade"), _encode_balancing_trade, _decode_balancing_trade
)
_CASH_OUT = _element(_q(TEMIX_EXT, "cashOut"), _encode_balancing_trade, _decode_balancing_trade)


def _encode_settlement_kind(element: etree._Element, value: Settlement) -> None:
    element.text = value.value


def _decode_settlement_kind(element: etree._Element, path: str) -> Settlement:
    return _parse_enum(Settlement, _text(element, path), path)


_SETTLEMENT_KIND = _element(
    _q(TEMIX_EXT, "settlementKind"), _encode_settlement_kind, _decode_settlement_kind
)
_PUBLICATION = _element(_q(TEMIX_EXT, "publication"), _encode_publication, _decode_publication)
_POWER_UNIT = _Kind(
    frozenset({_q(POWER, "powerReal")}),
    _encode_power_unit,
    _decode_power_unit,
    "power:powerReal",
    creates=True,
)
_ENERGY_UNIT = _Kind(
    frozenset({_q(POWER, "energyReal")}),
    _encode_energy_unit,
    _decode_energy_unit,
    "power:energyReal",
    creates=True,
)


class _Occurs(Enum):
    ONE = "exactly one"
    OPTIONAL = "at most one"
    DEFAULT = "at most one, absent meaning the payload's default"
    MANY = "any number"
    SOME = "at least one"
    LIST = "an optional list wrapper"


@dataclass(frozen=True)
class _Field:
    name: str
    kind: _Kind
    occurs: _Occurs = _Occurs.ONE


@dataclass(frozen=True)
class _Group:
    """Fields written all together or not at all; the first one's element tells which."""

    fields: tuple[_Field, ...]


_FieldSpec = tuple[str, _Kind] | tuple[str, _Kind, _Occurs]


def _fields(*specs: _FieldSpec | _Group) -> tuple[_Field | _Group, ...]:
    return tuple(spec if isinstance(spec, _Group) else _Field(*spec) for spec in specs)


def _group(*specs: _FieldSpec) -> _Group:
    return _Group(tuple(_Field(*spec) for spec in specs))


def _attributes(payload: Any) -> dict[str, Any]:
    return {field.name: getattr(payload, field.name) for field in dataclasses.fields(payload)}


@dataclass(frozen=True)
class _Form:
    """How one payload class is written: its element and its wire fields in order.

    ``values`` gives the wire fields' values by name (by default the payload's attributes, when
    they are the wire fields one for one); a group is written when its first field's name is
    among them. ``build`` makes the payload from the values read, in which an absent group's
    names are missing (by default the class is called with them).
    """

    tag: str
    fields: tuple[_Field | _Group, ...]
    values: Callable[[Any], Mapping[str, Any]] = _attributes
    build: Callable[[dict[str, Any]], Any] | None = None


def _settlement_reply_values(reply: p.ReplySettlement) -> dict[str, Any]:
    values = _attributes(reply)
    statement = values.pop("statement")
    if statement is not None:
        values |= _attributes(statement)
        values["total"] = statement.total
    return values


def _settlement_reply(values: dict[str, Any]) -> p.ReplySettlement:
    """The reply read; a statement whose printed total is not the sum of its parts is refused."""
    statement = None
    if "party_id" in values:
        statement = SettlementStatement(
            values.pop("party_id"),
            values.pop("interface"),
            values.pop("period"),
            values.pop("forward_cost"),
            values.pop("balancing_cost"),
            values.pop("premiums"),
            values.pop("balancing_trades"),
            values.pop("financial_cost"),
            values.pop("cash_out_cost"),
            values.pop("cash_outs"),
        )
        total = values.pop("total")
        if total != statement.total:
            raise ModelError(
                f"tmx:total is {format_decimal(total)} but tmx:forwardCost + tmx:balancingCost"
                " + tmx:premiums + tmx:financialCost + tmx:cashOutCost is "
                f"{format_decimal(statement.total)}"
            )
    return p.ReplySettlement(statement=statement, **values)


def _present_values(reply: Any) -> dict[str, Any]:
    """A reply's attributes without the absent ones, so that a refusal's group is not written."""
    return {name: value for name, value in _attributes(reply).items() if value is not None}


def _publication_reply(values: dict[str, Any]) -> p.ReplyPublication:
    if "publications" not in values:
        return p.ReplyPublication(**values)
    figures: tuple[_PublishedFigures, ...] = values.pop("publications")
    publications = tuple(published.at(values["interface"]) for published in figures)
    return p.ReplyPublication(publications=publications, **values)


ONE, OPTIONAL, DEFAULT, MANY, SOME, LIST = (
    _Occurs.ONE,
    _Occurs.OPTIONAL,
    _Occurs.DEFAULT,
    _Occurs.MANY,
    _Occurs.SOME,
    _Occurs.LIST,
)

_PAYLOADS: Mapping[type, _Form] = {
    p.CreateTender: _Form(
        _q(PYLD, "eiCreateTender"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("party_id", _PARTY_ID),
            ("counterparty_id", _COUNTERPARTY_ID),
            ("tenders", _TENDER, SOME),
        ),
    ),
    p.CreatedTender: _Form(
        _q(PYLD, "eiCreatedTender"),
        _fields(
            ("response", _RESPONSE),
            ("responses", _RESPONSES),
            ("party_id", _PARTY_ID),
            ("counterparty_id", _COUNTERPARTY_ID, OPTIONAL),
            ("tender_ids", _TENDER_ID, MANY),
        ),
    ),
    p.CancelTender: _Form(
        _q(PYLD, "eiCancelTender"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("party_id", _PARTY_ID),
            ("counterparty_id", _COUNTERPARTY_ID, OPTIONAL),
            ("tender_ids", _TENDER_ID, SOME),
        ),
    ),
    p.CanceledTender: _Form(
        _q(PYLD, "eiCanceledTender"),
        _fields(
            ("response", _RESPONSE),
            ("responses", _RESPONSES, LIST),
            ("party_id", _PARTY_ID),
            ("counterparty_id", _COUNTERPARTY_ID, OPTIONAL),
        ),
    ),
    p.RequestTender: _Form(
        _q(PYLD, "eiRequestTender"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("party_id", _PARTY_ID),
            ("counterparty_ids", _COUNTERPARTY_ID, MANY),
            ("requestor_party_id", _REQUESTOR_ID),
            ("market_contexts", _MARKET_CONTEXT_URI, MANY),
            ("tender_ids", _TENDER_ID, MANY),
            ("intervals", _STREAM_INTERVALS, LIST),
        ),
    ),
    p.ReplyTender: _Form(
        _q(PYLD, "eiReplyTender"),
        _fields(
            ("response", _RESPONSE),
            ("responses", _RESPONSES, LIST),
            ("tenders", _TENDER, MANY),
        ),
    ),
    p.DistributeTender: _Form(
        _q(PYLD, "eiDistributeTender"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("party_id", _PARTY_ID),
            ("target", _TARGET),
            ("tenders", _TENDER, SOME),
        ),
    ),
    p.CreateQuote: _Form(
        _q(PYLD, "eiCreateQuote"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("publisher_party_id", _PUBLISHER_ID),
            ("subscriber_party_id", _SUBSCRIBER_ID),
            ("quotes", _QUOTE, SOME),
        ),
    ),
    p.CreatedQuote: _Form(
        _q(PYLD, "eiCreatedQuote"),
        _fields(
            ("response", _RESPONSE),
            ("responses", _RESPONSES, LIST),
            ("subscriber_party_id", _SUBSCRIBER_ID),
            ("publisher_party_id", _PUBLISHER_ID, OPTIONAL),
            ("quote_ids", _QUOTE_ID, MANY),
        ),
    ),
    p.CancelQuote: _Form(
        _q(PYLD, "eiCancelQuote"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("subscriber_party_id", _SUBSCRIBER_ID, OPTIONAL),
            ("publisher_party_id", _PUBLISHER_ID),
            ("quote_ids", _QUOTE_ID, SOME),
        ),
    ),
    p.CanceledQuote: _Form(
        _q(PYLD, "eiCanceledQuote"),
        _fields(
            ("response", _RESPONSE),
            ("responses", _RESPONSES, LIST),
            ("subscriber_party_id", _SUBSCRIBER_ID, OPTIONAL),
            ("publisher_party_id", _PUBLISHER_ID, OPTIONAL),
        ),
    ),
    p.RequestQuote: _Form(
        _q(PYLD, "eiRequestQuote"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("requestor_party_id", _REQUESTOR_ID),
            ("publisher_party_id", _PUBLISHER_ID),
            ("market_contexts", _MARKET_CONTEXT_URI, MANY),
            ("quote_ids", _QUOTE_ID, MANY),
            ("intervals", _STREAM_INTERVALS, LIST),
        ),
    ),
    p.ReplyQuote: _Form(
        _q(PYLD, "eiReplyQuote"),
        _fields(
            ("response", _RESPONSE),
            ("responses", _RESPONSES, LIST),
            ("quotes", _QUOTE, MANY),
        ),
    ),
    p.CreateTransaction: _Form(
        _q(PYLD, "eiCreateTransaction"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("party_id", _PARTY_ID),
            ("counterparty_id", _COUNTERPARTY_ID),
            ("transactions", _TRANSACTION, SOME),
        ),
    ),
    p.CreatedTransaction: _Form(
        _q(PYLD, "eiCreatedTransaction"),
        _fields(
            ("counterparty_id", _COUNTERPARTY_ID),
            ("party_id", _PARTY_ID),
            ("response", _RESPONSE),
            ("responses", _RESPONSES, LIST),
            ("transaction_ids", _TRANSACTION_ID, MANY),
        ),
    ),
    p.RequestTransaction: _Form(
        _q(PYLD, "eiRequestTransaction"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("party_id", _PARTY_ID),
            ("counterparty_ids", _COUNTERPARTY_ID, MANY),
            ("requestor_party_id", _REQUESTOR_ID),
            ("market_contexts", _MARKET_CONTEXT_URI, MANY),
            ("transaction_ids", _TRANSACTION_ID, MANY),
            ("intervals", _STREAM_INTERVALS, LIST),
        ),
    ),
    p.ReplyTransaction: _Form(
        _q(PYLD, "eiReplyTransaction"),
        _fields(
            ("response", _RESPONSE),
            ("responses", _RESPONSES, LIST),
            ("transactions", _TRANSACTION, MANY),
        ),
    ),
    p.CreateDelivery: _Form(
        _q(PYLD, "eiCreateDelivery"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("requestor_party_id", _REQUESTOR_ID),
            ("deliveries", _DELIVERY, SOME),
        ),
    ),
    p.CreatedDelivery: _Form(
        _q(PYLD, "eiCreatedDelivery"),
        _fields(
            ("response", _RESPONSE),
            ("responses", _RESPONSES, LIST),
            ("deliveries", _STORED_DELIVERY, MANY),
        ),
    ),
    p.RequestDelivery: _Form(
        _q(TEMIX_EXT, "eiRequestDelivery"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("requestor_party_id", _REQUESTOR_ID),
            ("party_id", _PARTY_ID, OPTIONAL),
            ("market_contexts", _MARKET_CONTEXT_URI, MANY),
            ("delivery_ids", _DELIVERY_ID, MANY),
            ("intervals", _STREAM_INTERVALS, LIST),
        ),
    ),
    p.ReplyDelivery: _Form(
        _q(TEMIX_EXT, "eiReplyDelivery"),
        _fields(
            ("response", _RESPONSE),
            ("responses", _RESPONSES, LIST),
            ("deliveries", _STORED_DELIVERY, MANY),
        ),
    ),
    p.RequestMarketContext: _Form(
        _q(PYLD, "eiRequestEiMarketContext"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("market_contexts", _MARKET_CONTEXT_URI, SOME),
            ("party_id", _PARTY_ID, OPTIONAL),
        ),
    ),
    p.ReplyEiMarketContext: _Form(
        _q(PYLD, "eiReplyEiMarketContext"),
        _fields(("response", _RESPONSE), ("responses", _RESPONSES, LIST)),
    ),
    p.ReplyMarketContext: _Form(
        _q(TEMIX_EXT, "eiReplyMarketContext"),
        _fields(("response", _RESPONSE), ("market_contexts", _MARKET_CONTEXT, MANY)),
    ),
    p.RequestPosition: _Form(
        _q(TEMIX_EXT, "eiRequestPosition"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("requestor_party_id", _REQUESTOR_ID),
            ("party_id", _PARTY_ID),
            ("market_context", _MARKET_CONTEXT_URI),
            ("interface", _INTERFACE),
            ("intervals", _TMX_INTERVAL, SOME),
            ("settlement", _SETTLEMENT_KIND, DEFAULT),
        ),
    ),
    p.ReplyPosition: _Form(
        _q(TEMIX_EXT, "eiReplyPosition"),
        _fields(
            ("response", _RESPONSE),
            _group(
                ("party_id", _PARTY_ID),
                ("market_context", _MARKET_CONTEXT_URI),
                ("interface", _INTERFACE),
                ("power_unit", _POWER_UNIT),
                ("energy_unit", _ENERGY_UNIT),
                ("currency", _CURRENCY),
                ("settlement", _SETTLEMENT_KIND, DEFAULT),
                ("positions", _POSITION, MANY),
            ),
        ),
        values=_present_values,
    ),
    p.RequestSettlement: _Form(
        _q(TEMIX_EXT, "eiRequestSettlement"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("requestor_party_id", _REQUESTOR_ID),
            ("party_id", _PARTY_ID),
            ("market_context", _MARKET_CONTEXT_URI),
            ("interface", _INTERFACE),
            ("period", _TMX_INTERVAL),
        ),
    ),
    p.ReplySettlement: _Form(
        _q(TEMIX_EXT, "eiReplySettlement"),
        _fields(
            ("response", _RESPONSE),
            _group(
                ("party_id", _PARTY_ID),
                ("market_context", _MARKET_CONTEXT_URI),
                ("interface", _INTERFACE),
                ("power_unit", _POWER_UNIT),
                ("energy_unit", _ENERGY_UNIT),
                ("currency", _CURRENCY),
                ("period", _TMX_INTERVAL),
                ("forward_cost", _FORWARD_COST),
                ("balancing_cost", _BALANCING_COST),
                ("premiums", _PREMIUMS),
                ("financial_cost", _FINANCIAL_COST),
                ("cash_out_cost", _CASH_OUT_COST),
                ("total", _TOTAL),
                ("balancing_trades", _BALANCING_TRADE, MANY),
                ("cash_outs", _CASH_OUT, MANY),
            ),
        ),
        values=_settlement_reply_values,
        build=_settlement_reply,
    ),
    p.RequestPublication: _Form(
        _q(TEMIX_EXT, "eiRequestPublication"),
        _fields(
            ("request_id", _REQUEST_ID),
            ("requestor_party_id", _REQUESTOR_ID),
            ("market_context", _MARKET_CONTEXT_URI),
            ("interface", _INTERFACE),
            ("intervals", _TMX_INTERVAL, SOME),
            ("settlement", _SETTLEMENT_KIND, DEFAULT),
        ),
    ),
    p.ReplyPublication: _Form(
        _q(TEMIX_EXT, "eiReplyPublication"),
        _fields(
            ("response", _RESPONSE),
            _group(
                ("market_context", _MARKET_CONTEXT_URI),
                ("interface", _INTERFACE),
                ("power_unit", _POWER_UNIT),
                ("energy_unit", _ENERGY_UNIT),
                ("currency", _CURRENCY),
                ("settlement", _SETTLEMENT_KIND, DEFAULT),
                ("publications", _PUBLICATION, MANY),
            ),
        ),
        values=_present_values,
        build=_publication_reply,
    ),
}

_PAYLOAD_BY_TAG = {form.tag: (cls, form) for cls, form in _PAYLOADS.items()}

#: The element each payload class is written as.
PAYLOAD_ELEMENTS: Mapping[type, str] = {cls: form.tag for cls, form in _PAYLOADS.items()}


def encode(payload: p.Payload) -> etree._Element:
    """The payload as an element, with the profile's prefixes declared on it."""
    try:
        form = _PAYLOADS[type(payload)]
    except KeyError:
        raise TypeError(f"{type(payload).__name__} is not a TeMIX payload") from None
    root = etree.Element(form.tag, nsmap=PREFIXES)
    _write_fields(root, form.fields, form.values(payload), type(payload).__name__)
    return root


def _write_fields(
    parent: etree._Element,
    fields: tuple[_Field | _Group, ...],
    values: Mapping[str, Any],
    owner: str,
) -> None:
    for field in fields:
        if isinstance(field, _Group):
            if field.fields[0].name in values:
                _write_fields(parent, field.fields, values, owner)
            continue
        value = values[field.name]
        if field.occurs is _Occurs.ONE:
            field.kind.write(parent, value)
        elif field.occurs is _Occurs.OPTIONAL:
            if value is not None:
                field.kind.write(parent, value)
        elif field.occurs is _Occurs.DEFAULT:
            field.kind.write(parent, value)
        elif field.occurs is _Occurs.LIST:
            if value:
                field.kind.write(parent, value)
        else:
            if field.occurs is _Occurs.SOME and not value:
                raise ModelError(f"{owner}.{field.name} needs at least one item")
            for item in value:
                field.kind.write(parent, item)


def document_bytes(element: etree._Element) -> bytes:
    """``element`` as a UTF-8 XML document with its declaration."""
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def encode_bytes(payload: p.Payload) -> bytes:
    """The payload as a UTF-8 XML document: the same value always gives the same bytes."""
    return document_bytes(encode(payload))


def decode(document: etree._Element | etree._ElementTree) -> p.Payload:
    """Read a payload element (or a document whose root is one) into its value."""
    root = document.getroot() if isinstance(document, etree._ElementTree) else document
    path = f"/{prefixed(root.tag)}"
    try:
        cls, form = _PAYLOAD_BY_TAG[root.tag]
    except KeyError:
        raise DecodeError(path, "not a TeMIX payload element") from None
    children = _Children(root, path)
    values: dict[str, Any] = {}
    _read_fields(children, form.fields, values)
    children.done()
    build = form.build or (lambda values: cls(**values))
    return _model(path, lambda: build(values))


def _read_fields(
    children: _Children, fields: tuple[_Field | _Group, ...], values: dict[str, Any]
) -> None:
    for field in fields:
        if isinstance(field, _Group):
            if children.next_is(field.fields[0].kind.tags):
                _read_fields(children, field.fields, values)
            continue
        kind = field.kind
        if field.occurs is _Occurs.ONE:
            values[field.name] = kind.decode(*children.need_one_of(kind.tags, kind.what))
        elif field.occurs is _Occurs.OPTIONAL:
            found = _take_one(children, kind)
            values[field.name] = None if found is None else kind.decode(*found)
        elif field.occurs is _Occurs.DEFAULT:
            found = _take_one(children, kind)
            if found is not None:
                values[field.name] = kind.decode(*found)
        elif field.occurs is _Occurs.LIST:
            found = _take_one(children, kind)
            values[field.name] = () if found is None else kind.decode(*found)
        else:
            items = children.take_all(kind.tags)
            if field.occurs is _Occurs.SOME and not items:
                raise DecodeError(children.here(), f"expected at least one {kind.what}")
            values[field.name] = tuple(kind.decode(*item) for item in items)


def _take_one(children: _Children, kind: _Kind) -> tuple[etree._Element, str] | None:
    for tag in kind.tags:
        found = children.take(tag)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------------------------------
# Stored items

Item = Tender | Quote | Transaction | Delivery | MarketContext
"""What the server stores, each as the element a payload carries it in."""

_ITEMS: Mapping[type, _Kind] = {
    Tender: _TENDER,
    Quote: _QUOTE,
    Transaction: _TRANSACTION,
    Delivery: _STORED_DELIVERY,
    MarketContext: _MARKET_CONTEXT,
}
_ITEM_BY_TAG = {tag: kind for kind in _ITEMS.values() for tag in kind.tags}


def encode_item(item: Item) -> bytes:
    """The item as a UTF-8 XML document whose root is ``ei:eiTender``, ``ei:eiQuote``,
    ``ei:eiTransaction``, ``ei:eiDelivery`` (a delivery needs its id and creation time) or
    ``ei:eiMarketContext``, with the profile's prefixes declared on it; the same value always
    gives the same bytes."""
    try:
        kind = _ITEMS[type(item)]
    except KeyError:
        raise TypeError(f"{type(item).__name__} is not a stored TeMIX item") from None
    (tag,) = kind.tags
    root = etree.Element(tag, nsmap=PREFIXES)
    kind.encode(root, item)
    return document_bytes(root)


def decode_item(data: bytes) -> Item:
    """Read bytes written by :func:`encode_item` back into the item."""
    try:
        # The item was capped in size when it arrived in a request; here only its shape is
        # checked (an element takes more than one byte, so neither cap below can bite).
        root = parse_bytes(data, max_bytes=len(data), max_elements=len(data)).getroot()
    except XmlRejected as error:
        raise DecodeError("/", error.reason) from None
    path = f"/{prefixed(root.tag)}"
    kind = _ITEM_BY_TAG.get(root.tag)
    if kind is None:
        raise DecodeError(
            path,
            "not a stored TeMIX item (a tender, quote, transaction, delivery or market context)",
        )
    return kind.decode(root, path)
