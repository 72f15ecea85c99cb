"""A temix server in-process over a test database, and builders for the values tests send."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from lxml import etree

from temix import codec
from temix import payloads as p
from temix.model import (
    Interface,
    Interval,
    Location,
    OptionTerms,
    OptionType,
    PowerDescription,
    Product,
    Side,
    Tender,
    Transaction,
    TransactiveState,
)
from temix.server.app import DEVELOPMENT_MARKET, create_app, prepare
from temix.server.soap import SOAP_1_1, SoapApplication, SoapVersion, load_operations
from temix.server.store import Store

MARKET = DEVELOPMENT_MARKET.uri
NODE_A = Location("NODE-A")
NODE_B = Location("NODE-B")
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
TOMORROW_3PM = Interval(datetime(2026, 7, 1, 15, 0, tzinfo=UTC), timedelta(hours=2))
SOAP_ACTIONS = {
    operation.request: operation.soap_actions for operation in load_operations().values()
}


class Clock:
    """A settable clock, so that tests can let time pass."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class HttpReply:
    status: int
    content_type: str
    body: bytes


def post(app: Any, body: bytes, soap_action: str, version: SoapVersion = SOAP_1_1) -> HttpReply:
    """POST a SOAP request to the WSGI ``app`` in-process."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "SERVER_NAME": "testhost",
        "SERVER_PORT": "8080",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "192.0.2.7",
    }
    if version is SOAP_1_1:
        environ["CONTENT_TYPE"] = version.content_type
        environ["HTTP_SOAPACTION"] = f'"{soap_action}"'
    else:
        environ["CONTENT_TYPE"] = f'{version.content_type}; action="{soap_action}"'
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        started["status"] = int(status.split()[0])
        started["headers"] = dict(headers)

    body_out = b"".join(app(environ, start_response))
    return HttpReply(started["status"], started["headers"]["Content-Type"], body_out)


def envelope(payload: Any, version: SoapVersion = SOAP_1_1) -> bytes:
    env = f"{{{version.envelope_ns}}}"
    root = etree.Element(env + "Envelope", nsmap={"soap": version.envelope_ns})
    etree.SubElement(root, env + "Body").append(codec.encode(payload))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class TestMarket:
    """A prepared store and the server application over it, called like a SOAP client would."""

    __test__ = False

    def __init__(self, database_url: str, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.store = Store.open(database_url)
        prepare(self.store, self.clock)
        self.app: SoapApplication = create_app(self.store, clock=self.clock)

    def post(self, payload: Any, version: SoapVersion = SOAP_1_1) -> HttpReply:
        tag = codec.PAYLOAD_ELEMENTS[type(payload)]
        return post(self.app, envelope(payload, version), SOAP_ACTIONS[tag][version], version)

    def send(self, payload: Any, version: SoapVersion = SOAP_1_1) -> Any:
        """The decoded reply payload; the exchange must not be a fault."""
        reply = self.post(payload, version)
        assert reply.status == 200, reply.body.decode()
        body = etree.fromstring(reply.body)[-1]
        return codec.decode(body[0])

    def close(self) -> None:
        self.store.close()


def product(
    *,
    side: Side = Side.SELL,
    quantity: str = "10",
    price: str = "42.5",
    interval: Interval = TOMORROW_3PM,
    interface: Interface = NODE_A,
    state: TransactiveState = TransactiveState.TENDER,
    uid: str = "P-1",
    market: str = MARKET,
    **extra: Any,
) -> Product:
    return Product(
        uid=uid,
        interval=interval,
        description=PowerDescription(interface, Decimal(price), Decimal(quantity)),
        state=state,
        side=side,
        market_context=market,
        **extra,
    )


def tender(tender_id: str = "T-1", **product_fields: Any) -> Tender:
    product_fields.setdefault("uid", f"P-{tender_id}")
    return Tender(tender_id, product(**product_fields))


def option_terms(
    *, option_type: OptionType = OptionType.CALL, holder_side: Side = Side.BUY, strike: str = "50"
) -> OptionTerms:
    return OptionTerms(
        option_type=option_type,
        holder_side=holder_side,
        strike_price=Decimal(strike),
        premium=Decimal("3"),
        lead_time=timedelta(hours=1),
        granularity=timedelta(hours=1),
    )


def acceptance(offered: Tender, transaction_id: str, quantity: str | None = None) -> Transaction:
    """The transaction accepting ``offered``: its product from the acceptor's side."""
    tendered = offered.product
    accepted = replace(
        tendered,
        state=TransactiveState.TRANSACTION,
        side=tendered.side.opposite,
        expires=None,
        integral_only=None,
        description=replace(
            tendered.description,
            quantity=Decimal(quantity) if quantity else tendered.description.quantity,
        ),
    )
    return Transaction(transaction_id, accepted, tender_id=offered.tender_id)


def create_tender(
    request_id: str, author: str, counterparty: str, *tenders: Tender
) -> p.CreateTender:
    return p.CreateTender(request_id, author, counterparty, tenders)


def create_transaction(
    request_id: str, party: str, counterparty: str, *transactions: Transaction
) -> p.CreateTransaction:
    return p.CreateTransaction(request_id, party, counterparty, transactions)
