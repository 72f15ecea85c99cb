"""A temix server in-process over a test database, and builders for the values tests send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from lxml import etree

import pki
from bindings import Reply, envelope, soap_post
from temix import codec, rules
from temix import payloads as p
from temix.envelope import SOAP_1_1, SoapVersion
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
from temix.server.security import INSECURE, TRADER
from temix.server.services import sender_of
from temix.server.soap import SoapApplication, load_operations
from temix.server.store import Store
from temix.wssecurity import Freshness, verify_envelope

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


class TestMarket:
    """A prepared store and the server application over it through the SOAP ``binding`` (a
    name in ``bindings.BINDINGS``), called like a SOAP client would.

    The server is signed (its policy is :func:`pki.policy`) unless ``signed`` is False: each
    request is then signed with the test key of the party it speaks for, registered as a
    trader on first use, and each reply's signature is checked against the server's
    certificate."""

    __test__ = False

    def __init__(
        self,
        database_url: str,
        binding: str,
        clock: Clock | None = None,
        *,
        signed: bool = True,
        freshness: Freshness | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self.store = Store.open(database_url)
        prepare(self.store, self.clock)
        self.signed = signed
        self.registered: set[str] = set()
        security = pki.policy(freshness) if signed else INSECURE
        self.app: SoapApplication = create_app(
            self.store, clock=self.clock, binding=binding, security=security
        )

    def register(self, party: str, roles: frozenset[str] = frozenset({TRADER})) -> None:
        pki.register(self.store, party, self.clock(), roles)
        self.registered.add(party)

    def signed_envelope(
        self, payload: Any, version: SoapVersion = SOAP_1_1, signer: str | None = None
    ) -> bytes:
        """The request envelope for ``payload``, signed by ``signer`` (default: the party the
        payload speaks for) when the server is signed."""
        body = envelope(payload, version)
        if not self.signed:
            return body
        party = signer or sender_of(payload)
        if party not in self.registered:
            self.register(party)
        return pki.sign(body, pki.party_credentials(party), self.clock())

    def post(
        self, payload: Any, version: SoapVersion = SOAP_1_1, signer: str | None = None
    ) -> Reply:
        tag = codec.PAYLOAD_ELEMENTS[type(payload)]
        body = self.signed_envelope(payload, version, signer)
        reply = soap_post(self.app, body, version, SOAP_ACTIONS[tag][version])
        if self.signed:
            self.check_reply(reply)
        return reply

    def check_reply(self, reply: Reply) -> None:
        """The reply is signed by the server's certificate."""
        verified = verify_envelope(
            etree.fromstring(reply.body), lambda certificate: None, self.clock()
        )
        assert verified.certificate == pki.server_credentials().certificate

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
    """The transaction accepting ``quantity`` (default: all) of ``offered``."""
    rate = Decimal(quantity) if quantity else offered.product.description.quantity
    return rules.acceptance(offered, rate, transaction_id)


def create_tender(
    request_id: str, author: str, counterparty: str, *tenders: Tender
) -> p.CreateTender:
    return p.CreateTender(request_id, author, counterparty, tenders)


def create_transaction(
    request_id: str, party: str, counterparty: str, *transactions: Transaction
) -> p.CreateTransaction:
    return p.CreateTransaction(request_id, party, counterparty, transactions)
