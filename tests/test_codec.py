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
    Delivery,
    EnergyUnit,
    Interval,
    Location,
    MarketContext,
    ModelError,
    OptionTerms,
    OptionType,
    PowerDescription,
    PowerUnit,
    Product,
    Quote,
    Response,
    Side,
    Tender,
    Transaction,
    TransactiveState,
    TransportPath,
)
from temix.namespaces import PREFIXES
from temix.schemas import EXAMPLES_VALID
from temix.settlement import Publication, SettlementStatement, SettlementTrade

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


# --- Settlement and publication ---------------------------------------------------------------

HOUR = timedelta(hours=1)
PERIOD = Interval(THREE_PM, 2 * HOUR)
FIRST_HOUR, SECOND_HOUR = PERIOD.split(HOUR)
NODE_A = Location("NODE-A")


def _example(name: str) -> p.Payload:
    return codec.decode(etree.parse(str(EXAMPLES_VALID / name)))


def _statement() -> SettlementStatement:
    return SettlementStatement(
        "party-A",
        NODE_A,
        PERIOD,
        forward_cost=Decimal("118.75"),
        balancing_cost=Decimal("5.50"),
        premiums=Decimal("-2.25"),
        balancing_trades=(
            SettlementTrade(
                FIRST_HOUR, Side.SELL, Decimal("0.2"), Decimal("75.00"), Decimal("0.2"), Decimal(15)
            ),
            SettlementTrade(
                SECOND_HOUR,
                Side.BUY,
                Decimal("0.1"),
                Decimal("95.00"),
                Decimal("0.1"),
                Decimal("9.5"),
            ),
        ),
    )


def _settlement_reply() -> p.ReplySettlement:
    return p.ReplySettlement(
        Response("200", "req-1", "OK"), _statement(), MARKET, PowerUnit(), EnergyUnit(), "USD"
    )


def _local_names(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element]


def test_a_settlement_reply_writes_the_statement_after_the_response_with_its_total() -> None:
    root = _xml(_settlement_reply())
    assert _local_names(root) == [
        "eiResponse",
        "partyID",
        "marketContext",
        "pnode",
        "powerReal",
        "energyReal",
        "currency",
        "interval",
        "forwardCost",
        "balancingCost",
        "premiums",
        "financialCost",
        "cashOutCost",
        "total",
        "balancingTrade",
        "balancingTrade",
    ]
    assert root.findtext("tmx:total", namespaces=PREFIXES) == "122"
    trade = root.find("tmx:balancingTrade", PREFIXES)
    assert _local_names(trade) == [
        "dtstart",
        "duration",
        "side",
        "rate",
        "price",
        "energy",
        "amount",
    ]
    assert trade.findtext("tmx:side", namespaces=PREFIXES) == "sell"
    assert codec.decode(root) == _settlement_reply()


def test_a_refused_settlement_reply_is_the_response_alone() -> None:
    refusal = p.ReplySettlement(Response("404", "req-1", "no such market context"))
    root = _xml(refusal)
    assert _local_names(root) == ["eiResponse"]
    assert codec.decode(root) == refusal
    assert _example("reply-settlement-refused.xml").statement is None


def test_a_settlement_reply_has_the_whole_statement_or_none_of_it() -> None:
    with pytest.raises(ModelError, match="or none of them"):
        p.ReplySettlement(Response("200", "req-1"), _statement())
    with pytest.raises(ModelError, match="or none of them"):
        p.ReplySettlement(Response("404", "req-1"), currency="USD")


def test_the_settlement_example_decodes_to_its_statement() -> None:
    reply = _example("reply-settlement.xml")
    statement = reply.statement
    assert (statement.party_id, statement.interface) == ("party-A", NODE_A)
    assert statement.total == Decimal("124.25")
    assert [trade.side for trade in statement.balancing_trades] == [Side.SELL, Side.BUY]
    assert [trade.money_received for trade in statement.balancing_trades] == [
        Decimal("15.00"),
        Decimal("-9.50"),
    ]
    assert (reply.market_context, reply.currency) == ("http://market.example/temix/retail", "USD")


SETTLEMENT_TEXT = (EXAMPLES_VALID / "reply-settlement.xml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "path", "reason"),
    [
        (
            "<tmx:total>124.25</tmx:total>",
            "<tmx:total>124.26</tmx:total>",
            "/tmx:eiReplySettlement",
            "tmx:total is 124.26 but tmx:forwardCost + tmx:balancingCost + tmx:premiums",
        ),
        (
            "<tmx:total>124.25</tmx:total>",
            "",
            "/tmx:eiReplySettlement/tmx:balancingTrade[1]",
            "expected tmx:total",
        ),
        (
            "<tmx:side>sell</tmx:side>",
            "<tmx:side>hold</tmx:side>",
            "/tmx:eiReplySettlement/tmx:balancingTrade[1]/tmx:side",
            "'hold' is not one of buy, sell",
        ),
        (
            "<tmx:amount>9.50</tmx:amount>",
            "<tmx:amount>lots</tmx:amount>",
            "/tmx:eiReplySettlement/tmx:balancingTrade[2]/tmx:amount",
            "'lots' is not a number",
        ),
    ],
    ids=["total-does-not-add-up", "statement-without-total", "side-hold", "alphabetic-amount"],
)
def test_settlement_decode_errors_name_the_path_and_the_reason(old, new, path, reason) -> None:
    with pytest.raises(DecodeError) as caught:
        _decode_text(_replace(SETTLEMENT_TEXT, old, new))
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_decoded_publications_are_at_the_interface_the_reply_names_once() -> None:
    reply = _example("reply-publication.xml")
    traded, quiet = reply.publications
    assert reply.interface == traded.interface == quiet.interface == NODE_A
    assert (traded.count, traded.total_rate) == (2, Decimal("1.5"))
    assert (traded.average_price, traded.min_price, traded.max_price) == (
        Decimal("81.50"),
        Decimal("80.00"),
        Decimal("84.50"),
    )
    assert (quiet.count, quiet.average_price, quiet.min_price, quiet.max_price) == (
        0,
        None,
        None,
        None,
    )
    assert _local_names(_xml(reply).find("tmx:publication[2]", PREFIXES)) == [
        "dtstart",
        "duration",
        "count",
        "totalRate",
    ]


def _publication_reply(*publications: Publication) -> p.ReplyPublication:
    return p.ReplyPublication(
        Response("200", "req-1"), MARKET, NODE_A, PowerUnit(), EnergyUnit(), "USD", publications
    )


def test_a_publication_reply_covers_one_interface() -> None:
    elsewhere = Publication(PERIOD, Location("NODE-B"), 0, Decimal(0), None, None, None)
    with pytest.raises(ModelError, match="at the reply's interface"):
        _publication_reply(elsewhere)


@pytest.mark.parametrize(
    ("count", "prices", "reason"),
    [
        (1, (Decimal(80), None, None), "or none"),
        (-1, (None, None, None), "fewer than no transactions"),
    ],
    ids=["average-price-alone", "negative-count"],
)
def test_a_publication_that_cannot_be_written_is_refused(count, prices, reason) -> None:
    publication = Publication(PERIOD, NODE_A, count, Decimal(1), *prices)
    with pytest.raises(ModelError, match=reason):
        codec.encode(_publication_reply(publication))


PUBLICATION_TEXT = (EXAMPLES_VALID / "reply-publication.xml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "path", "reason"),
    [
        (
            "<tmx:count>0</tmx:count>",
            "<tmx:count>-1</tmx:count>",
            "/tmx:eiReplyPublication/tmx:publication[2]/tmx:count",
            "'-1' is not a count",
        ),
        (
            "<tmx:count>2</tmx:count>",
            "<tmx:count>2.5</tmx:count>",
            "/tmx:eiReplyPublication/tmx:publication[1]/tmx:count",
            "'2.5' is not a count",
        ),
        (
            "<tmx:minPrice>80.00</tmx:minPrice>",
            "",
            "/tmx:eiReplyPublication/tmx:publication[1]/tmx:maxPrice",
            "expected tmx:minPrice",
        ),
        (
            "<tmx:averagePrice>81.50</tmx:averagePrice>",
            "",
            "/tmx:eiReplyPublication/tmx:publication[1]/tmx:minPrice",
            "unexpected element here",
        ),
    ],
    ids=["negative-count", "fractional-count", "no-min-price", "no-average-price"],
)
def test_publication_decode_errors_name_the_path_and_the_reason(old, new, path, reason) -> None:
    with pytest.raises(DecodeError) as caught:
        _decode_text(_replace(PUBLICATION_TEXT, old, new))
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_a_count_may_carry_a_plus_sign() -> None:
    text = _replace(PUBLICATION_TEXT, "<tmx:count>2</tmx:count>", "<tmx:count>+02</tmx:count>")
    assert _decode_text(text).publications[0].count == 2


def test_settlement_and_publication_requests_round_trip() -> None:
    settlement = _example("request-settlement.xml")
    assert settlement == p.RequestSettlement(
        "req-21",
        "party-A",
        "party-A",
        "http://market.example/temix/retail",
        NODE_A,
        Interval(datetime(2026, 7, 1, 20, tzinfo=UTC), 2 * HOUR),
    )
    publication = _example("request-publication.xml")
    assert [interval.start.hour for interval in publication.intervals] == [20, 22]
    for request in (settlement, publication):
        assert codec.decode(_xml(request)) == request


# --- Stored items -----------------------------------------------------------------------------


def _stored_items() -> list:
    """One item of each kind, with the payload example it comes from."""
    tender_request = _example("create-tender-power.xml")
    quote_request = _example("create-quote.xml")
    transaction_request = _example("create-transaction.xml")
    created_delivery = _example("created-delivery.xml")
    market_reply = _example("reply-market-context.xml")
    items = [
        ("create-tender-power.xml", tender_request.tenders[0]),
        ("create-quote.xml", quote_request.quotes[0]),
        ("create-transaction.xml", transaction_request.transactions[0]),
        ("created-delivery.xml", created_delivery.deliveries[0]),
        ("reply-market-context.xml", market_reply.market_contexts[0]),
    ]
    return [pytest.param(example, item, id=type(item).__name__) for example, item in items]


ITEM_TAGS = {
    Tender: "ei:eiTender",
    Quote: "ei:eiQuote",
    Transaction: "ei:eiTransaction",
    Delivery: "ei:eiDelivery",
    MarketContext: "ei:eiMarketContext",
}


@pytest.mark.parametrize(("example", "item"), _stored_items())
def test_a_stored_item_is_the_element_its_payload_carries(example, item) -> None:
    data = codec.encode_item(item)
    root = etree.fromstring(data)
    assert root.prefix + ":" + etree.QName(root).localname == ITEM_TAGS[type(item)]
    assert root.nsmap == PREFIXES
    carried = _xml(_example(example)).find(ITEM_TAGS[type(item)], PREFIXES)
    assert etree.tostring(root, method="c14n") == etree.tostring(carried, method="c14n")
    assert codec.decode_item(data) == item
    assert codec.encode_item(codec.decode_item(data)) == data


def test_a_stored_item_keeps_the_decimals_as_written() -> None:
    request = _tender(description=PowerDescription(NODE_A, Decimal("80.50"), Decimal("1.250")))
    tender = request.tenders[0]
    decoded = codec.decode_item(codec.encode_item(tender))
    assert decoded == tender
    description = decoded.product.description
    assert (str(description.price), str(description.quantity)) == ("80.50", "1.250")
    assert decoded.product.interval == Interval(THREE_PM, 2 * HOUR)


def test_a_delivery_is_stored_only_with_its_id_and_creation_time() -> None:
    delivery = _example("created-delivery.xml").deliveries[0]
    reported = Delivery(delivery.uid, delivery.injection, delivery.readings)
    with pytest.raises(ModelError, match="delivery id and creation time"):
        codec.encode_item(reported)


def test_only_the_stored_kinds_are_items() -> None:
    with pytest.raises(TypeError, match="not a stored TeMIX item"):
        codec.encode_item(Response("200", "req-1"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "path", "reason"),
    [
        (BASE_TEXT.encode(), "/pyld:eiCreateTender", "not a stored TeMIX item"),
        (
            (EXAMPLES_VALID / "create-delivery.xml").read_bytes(),
            "/pyld:eiCreateDelivery",
            "not a stored TeMIX item",
        ),
        (b"<ei:eiTender xmlns:ei='urn:x'/>", "/{urn:x}eiTender", "not a stored TeMIX item"),
        (b"<ei:eiTender", "/", "not well-formed XML"),
        (
            b"<!DOCTYPE x [<!ENTITY e 'e'>]><x>&e;</x>",
            "/",
            "a DOCTYPE (DTD) is not allowed",
        ),
    ],
    ids=["a-payload", "a-delivery-payload", "foreign-namespace", "malformed", "doctype"],
)
def test_decode_item_refuses_what_is_not_a_stored_item(data, path, reason) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.decode_item(data)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_an_unstored_delivery_element_is_not_an_item() -> None:
    delivery = _example("create-delivery.xml").deliveries[0]
    element = codec.encode(p.CreateDelivery("req-1", "meter", (delivery,)))
    carried = element.find("emix:delivery", PREFIXES)
    with pytest.raises(DecodeError, match="not a stored TeMIX item"):
        codec.decode_item(etree.tostring(carried))
