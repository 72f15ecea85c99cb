"""Decoding the wire format: what is read, and the errors a user sees for what is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from lxml import etree

from temix import codec
from temix import payloads as p
from temix.codec import DecodeError
from temix.model import (
    Interval,
    Location,
    OptionTerms,
    OptionType,
    PowerDescription,
    Product,
    Side,
    Tender,
    TransactiveState,
    TransportPath,
)
from temix.schemas import EXAMPLES_VALID

MARKET = "http://market.example/retail"
THREE_PM = datetime(2026, 7, 1, 15, tzinfo=UTC)


def _tender(**changes: object) -> p.CreateTender:
    product_fields: dict[str, object] = {
        "uid": "p-1",
        "interval": Interval(THREE_PM, timedelta(hours=2)),
        "description": PowerDescription(Location("NODE-A"), Decimal("80.00"), Decimal("1")),
        "state": TransactiveState.TENDER,
        "side": Side.SELL,
        "market_context": MARKET,
        "expires": THREE_PM - timedelta(hours=1),
    }
    product_fields.update(changes)
    product = Product(**product_fields)  # type: ignore[arg-type]
    return p.CreateTender("req-1", "rep", "customer-1", (Tender("T-1", product),))


def _xml(payload: p.Payload) -> etree._Element:
    return etree.fromstring(codec.encode_bytes(payload))


def _decode_text(text: str) -> p.Payload:
    return codec.decode(etree.fromstring(text.encode()))


def test_tender_is_written_as_the_profile_says() -> None:
    root = _xml(_tender())
    ns = {"emix": "http://docs.oasis-open.org/ns/emix/2011/06", **root.nsmap}
    base = root.find(".//emix:emixBase", ns)
    assert base.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "emix:ProductType"
    assert root.findtext(".//xcal:dtstart/xcal:date-time", namespaces=ns) == "2026-07-01T15:00:00Z"
    assert root.findtext(".//xcal:duration/xcal:duration", namespaces=ns) == "PT2H"
    assert root.findtext(".//power:temixPower/emix:price/emix:value", namespaces=ns) == "80.00"
    assert root.findtext(".//power:pnode/power:node", namespaces=ns) == "NODE-A"
    assert [etree.QName(child).localname for child in base][1:] == [
        "uid",
        "transactiveState",
        "expirationDate",
        "currency",
        "marketContext",
        "side",
    ]
    assert sorted(root.nsmap) == sorted(
        ["pyld", "ei", "emix", "power", "scale", "xcal", "strm", "tmx", "xsi"]
    )


def test_option_fields_follow_the_official_order() -> None:
    option = OptionTerms(
        OptionType.CALL,
        Side.BUY,
        Decimal(120),
        Decimal("1.5"),
        timedelta(minutes=30),
        timedelta(hours=1),
    )
    description = PowerDescription(TransportPath("A", "B"), Decimal(120), Decimal(10))
    root = _xml(_tender(option=option, description=description))
    base = root.find(".//{http://docs.oasis-open.org/ns/emix/2011/06}emixBase")
    assert [etree.QName(child).localname for child in base] == [
        "properties",
        "components",
        "uid",
        "transactiveState",
        "expirationDate",
        "optionHolderSide",
        "optionPremium",
        "optionStrikePrice",
        "optionType",
        "side",
        "marketContext",
        "currency",
        "terms",
    ]
    assert codec.decode(root).tenders[0].product.option == option


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


BASE_TEXT = codec.encode_bytes(_tender()).decode()


@pytest.mark.parametrize(
    ("old", "new", "path", "reason"),
    [
        (
            ' xsi:type="emix:ProductType"',
            "",
            "/pyld:eiCreateTender/ei:eiTender/emix:emixBase",
            "needs xsi:type",
        ),
        (
            "2026-07-01T15:00:00Z",
            "2026-07-01T15:00:00+02:00",
            "/pyld:eiCreateTender/ei:eiTender/emix:emixBase/xcal:components/xcal:interval"
            "/xcal:properties/xcal:dtstart/xcal:date-time",
            "must be a UTC time",
        ),
        (
            "<emix:side>sell</emix:side>",
            "<emix:side>hold</emix:side>",
            "/pyld:eiCreateTender/ei:eiTender/emix:emixBase/emix:side",
            "'hold' is not one of buy, sell",
        ),
        (
            "<emix:quantity>1</emix:quantity>",
            "<emix:quantity>NaN</emix:quantity>",
            "/pyld:eiCreateTender/ei:eiTender/emix:emixBase/xcal:components/xcal:interval"
            "/xcal:properties/xcal:x-wsCalendar-attach/power:temixPower/emix:quantity",
            "not a finite number",
        ),
        (
            "<emix:quantity>1</emix:quantity>",
            "<emix:quantity>0</emix:quantity>",
            "/pyld:eiCreateTender/ei:eiTender/emix:emixBase/xcal:components/xcal:interval"
            "/xcal:properties/xcal:x-wsCalendar-attach/power:temixPower",
            "must be positive",
        ),
        (
            "<xcal:duration>PT2H</xcal:duration></xcal:duration>",
            "<xcal:duration>P1M</xcal:duration></xcal:duration>",
            "/pyld:eiCreateTender/ei:eiTender/emix:emixBase/xcal:components/xcal:interval"
            "/xcal:properties/xcal:duration/xcal:duration",
            "not an unsigned iCalendar duration",
        ),
        (
            "<ei:counterPartyID>customer-1</ei:counterPartyID>",
            "",
            "/pyld:eiCreateTender/ei:eiTender",
            "expected ei:counterPartyID",
        ),
        (
            "<emix:uid>p-1</emix:uid>",
            "<emix:uid>p-1</emix:uid><emix:surprise/>",
            "/pyld:eiCreateTender/ei:eiTender/emix:emixBase/emix:surprise",
            "expected emix:transactiveState",
        ),
        (
            "<power:energyReal>",
            "<power:energyRealX>",
            None,
            None,
        ),
    ],
    ids=[
        "abstract-emixBase",
        "offset-time",
        "bad-side",
        "nan-quantity",
        "zero-quantity",
        "month-duration",
        "missing-counterparty",
        "unknown-element",
        "malformed",
    ],
)
def test_decode_errors_name_the_path_and_the_reason(old, new, path, reason) -> None:
    text = _replace(BASE_TEXT, old, new)
    if path is None:
        with pytest.raises(etree.XMLSyntaxError):
            _decode_text(text)
        return
    with pytest.raises(DecodeError) as caught:
        _decode_text(text)
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(caught.value) == f"{path}: {caught.value.reason}"


def test_a_product_with_two_intervals_is_refused() -> None:
    root = _xml(_tender())
    components = root.find(".//{urn:ietf:params:xml:ns:icalendar-2.0}components")
    components.append(etree.fromstring(etree.tostring(components[0])))
    with pytest.raises(DecodeError, match="exactly one delivery interval"):
        codec.decode(root)


def test_unknown_root_is_not_a_payload() -> None:
    with pytest.raises(DecodeError, match="not a TeMIX payload element"):
        _decode_text("<x:other xmlns:x='urn:x'/>")


def test_days_are_read_as_exact_hours() -> None:
    text = _replace(
        BASE_TEXT, "<xcal:duration>PT2H</xcal:duration>", "<xcal:duration>P1D</xcal:duration>"
    )
    product = _decode_text(text).tenders[0].product
    assert product.interval.duration == timedelta(hours=24)
    assert product.energy == Decimal(24)


def test_a_twenty_three_hour_day_is_written_in_hours() -> None:
    from datetime import date

    day = Interval.day(date(2026, 3, 8), "America/Chicago")
    root = _xml(_tender(interval=day, expires=None))
    assert root.findtext(".//{urn:ietf:params:xml:ns:icalendar-2.0}duration/*") == "PT23H"
    assert codec.decode(root).tenders[0].product.interval == day


def test_encoding_a_non_payload_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not a TeMIX payload"):
        codec.encode("hello")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "example", sorted(EXAMPLES_VALID.glob("*.xml")), ids=lambda path: path.name
)
def test_every_valid_example_decodes_and_reencodes_to_the_same_value(example) -> None:
    value = codec.decode(etree.parse(str(example)))
    assert codec.decode(_xml(value)) == value
