"""The reference client: one method per TeMIX operation, typed values in and out.

zeep reads the WSDL, carries the bytes (a ``requests`` session: TLS, client certificates,
proxies and connection reuse are the session's) and reads SOAP faults. The payloads are written
and read by :mod:`temix.codec`, and the WS-Security signature is :mod:`temix.wssecurity`'s:
zeep cannot write or read EI's substitution groups and signs with SHA-1 by default.

A call signs its request as the client's party, verifies that the reply is signed by the pinned
server certificate, and returns the result or raises one of :mod:`temix.client.errors`. A call
that gets no answer (connection refused or reset, timeout, or a 502/503/504 that is not SOAP) is
sent again, signed afresh but with the same ``pyld:requestID`` and payload: the endpoint answers
a repeated request with its stored reply, so a retry never trades twice.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
import zeep.exceptions
from cryptography import x509
from lxml import etree
from requests.adapters import HTTPAdapter

from temix import codec, rules
from temix import payloads as p
from temix.client.errors import (
    BadReply,
    ClientError,
    Refused,
    SoapFault,
    TransportFailure,
    UnverifiedReply,
)
from temix.client.wsdl import Route, SameOriginTransport, load_routes
from temix.envelope import (
    SOAP_1_1,
    VERSION_BY_MEDIA_TYPE,
    SoapVersion,
    media_type_of,
    request_headers,
    wrap,
)
from temix.keys import Credentials, KeyDirectory, fingerprint, load_certificate
from temix.model import (
    Delivery,
    Interface,
    Interval,
    MarketContext,
    ProductKind,
    Quote,
    Settlement,
    Side,
    Target,
    Tender,
    Transaction,
)
from temix.namespaces import prefixed, resolve_qname
from temix.responses import ResponseCode
from temix.wssecurity import (
    Freshness,
    SecurityError,
    check_certificate,
    sign_envelope,
    verify_envelope,
)
from temix.xmlsafe import XmlRejected, parse_bytes

RETRIED_STATUSES = frozenset({502, 503, 504})
MAX_REPLY_BYTES = 16 * 1024 * 1024
MAX_REPLY_ELEMENTS = 2_000_000
"""A reply may be far larger than a request: a list reply of 500 tenders naming tens of
thousands more by id (docs/profile.md, "Bounds"). The other parse limits are the defaults."""


def _now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A new id for a request, tender, transaction or delivery: a random UUID in hex."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Signing:
    """The party's key and certificate to sign with, and the server certificate its replies
    must be signed with (a pin: nothing else is trusted), and how fresh they must be."""

    credentials: Credentials
    server_certificate: x509.Certificate
    freshness: Freshness = field(default_factory=Freshness)

    @classmethod
    def from_keys(
        cls, directory: Path, party: str, server_certificate: Path | None = None
    ) -> Signing:
        """The party's credentials from a ``temix keys`` directory, and the server certificate
        from ``server_certificate`` or else the directory's ``server.pem``."""
        keys = KeyDirectory(directory)
        return cls(
            keys.party(party),
            load_certificate(server_certificate or keys.server_certificate_path),
        )

    def trust(self, certificate: x509.Certificate, now: datetime) -> x509.Certificate:
        """``certificate`` when it is the pinned server certificate and valid at ``now``; else
        :class:`temix.wssecurity.SecurityError`. The trust decision for ``verify_envelope``."""
        pinned = self.server_certificate
        if fingerprint(certificate) != fingerprint(pinned):
            raise SecurityError(
                f"signed by {certificate.subject.rfc4514_string()} "
                f"(SHA-256 {fingerprint(certificate)}), not the pinned server certificate "
                f"{pinned.subject.rfc4514_string()} (SHA-256 {fingerprint(pinned)})"
            )
        check_certificate(certificate, now)
        return certificate


class CaBundleAdapter(HTTPAdapter):
    """Verifies https servers with one CA bundle. ``Session.verify`` would not do: requests lets
    ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` override it."""

    def __init__(self, bundle: str) -> None:
        super().__init__()
        self.bundle = bundle

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["verify"] = self.bundle
        return super().send(request, **kwargs)


def tls_session(
    ca_bundle: Path | None = None,
    certificate: Path | None = None,
    key: Path | None = None,
) -> requests.Session:
    """A session for an https endpoint: its certificate checked against ``ca_bundle`` (else the
    system's), and ``certificate`` and ``key`` shown for mutual TLS."""
    session = requests.Session()
    if ca_bundle is not None:
        session.mount("https://", CaBundleAdapter(str(ca_bundle)))
    if (certificate is None) != (key is None):
        raise ValueError("a client certificate and its key go together")
    if certificate is not None and key is not None:
        session.cert = (str(certificate), str(key))
    return session


class Client:
    """A TeMIX endpoint, called as ``party``.

    ``wsdl`` is the endpoint's WSDL (a URL, such as ``http://host:8080/?wsdl``, or a local
    file); ``endpoint`` replaces the addresses it names. ``signing`` None sends unsigned
    requests and reads replies without verifying them: only for an endpoint that does not
    sign (``temix serve --insecure``).
    """

    def __init__(
        self,
        wsdl: str,
        party: str,
        signing: Signing | None,
        *,
        soap_version: SoapVersion = SOAP_1_1,
        endpoint: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        retry_delay: float = 0.5,
        clock: Callable[[], datetime] = _now,
        new_id: Callable[[], str] = new_id,
    ) -> None:
        if retries < 0:
            raise ValueError("retries cannot be negative")
        self.party = party
        self.signing = signing
        self.retries = retries
        self.retry_delay = retry_delay
        self.clock = clock
        self.new_id = new_id
        self.transport = SameOriginTransport(wsdl, session or requests.Session(), timeout)
        self.routes = load_routes(wsdl, self.transport, soap_version, endpoint)

    def close(self) -> None:
        self.transport.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Tenders --------------------------------------------------------------------------

    def create_tender(
        self, counterparty: str, *tenders: Tender, request_id: str | None = None
    ) -> p.CreatedTender:
        """Offer ``tenders`` to ``counterparty``."""
        return self.call(
            p.CreateTender(request_id or self.new_id(), self.party, counterparty, tenders)
        )

    def distribute_tender(
        self, target: Target, *tenders: Tender, request_id: str | None = None
    ) -> p.CreatedTender:
        """Offer ``tenders`` to the parties and groups of ``target``."""
        return self.call(
            p.DistributeTender(request_id or self.new_id(), self.party, target, tenders)
        )

    def cancel_tender(
        self, *tender_ids: str, counterparty: str | None = None, request_id: str | None = None
    ) -> p.CanceledTender:
        return self.call(
            p.CancelTender(request_id or self.new_id(), self.party, tender_ids, counterparty)
        )

    def request_tenders(
        self,
        *,
        counterparties: tuple[str, ...] = (),
        market_contexts: tuple[str, ...] = (),
        tender_ids: tuple[str, ...] = (),
        intervals: tuple[Interval, ...] = (),
        side: Side | None = None,
        kind: ProductKind | None = None,
        request_id: str | None = None,
    ) -> tuple[Tender, ...]:
        """The standing tenders the party wrote or was offered, filtered by the endpoint, all of
        them (see :meth:`_all_listed`); ``side`` and ``kind`` (which EI has no element for)
        filter the reply here."""

        def ask(ids: tuple[str, ...], request: str) -> p.ReplyTender:
            return self.call(
                p.RequestTender(
                    request, self.party, self.party, counterparties, market_contexts, ids, intervals
                )
            )

        found = self._all_listed(ask, tender_ids, request_id, lambda reply: reply.tenders)
        return tuple(
            tender
            for tender in found
            if (side is None or tender.product.side is side)
            and (kind is None or tender.product.kind is kind)
        )

    def _all_listed(
        self,
        ask: Callable[[tuple[str, ...], str], Any],
        ids: tuple[str, ...],
        request_id: str | None,
        items: Callable[[Any], tuple[Any, ...]],
    ) -> tuple[Any, ...]:
        """The items of a list request ``ask(ids, request_id)``, with those its reply names as
        not listed (code 206, over the endpoint's reply bound) asked for again by id, in
        requests within the profile's bound of ids."""
        reply = ask(ids, request_id or self.new_id())
        found = list(items(reply))
        left_out = [
            each.ref_id for each in reply.responses if each.code == ResponseCode.NOT_LISTED.code
        ]
        for start in range(0, len(left_out), p.MAX_IDS_PER_REQUEST):
            chunk = tuple(left_out[start : start + p.MAX_IDS_PER_REQUEST])
            found += items(ask(chunk, self.new_id()))
        return tuple(found)

    # --- Quotes ---------------------------------------------------------------------------

    def create_quote(
        self, subscriber: str, *quotes: Quote, request_id: str | None = None
    ) -> p.CreatedQuote:
        return self.call(p.CreateQuote(request_id or self.new_id(), self.party, subscriber, quotes))

    def cancel_quote(
        self, *quote_ids: str, subscriber: str | None = None, request_id: str | None = None
    ) -> p.CanceledQuote:
        return self.call(
            p.CancelQuote(request_id or self.new_id(), self.party, quote_ids, subscriber)
        )

    def request_quotes(
        self,
        publisher: str,
        *,
        market_contexts: tuple[str, ...] = (),
        quote_ids: tuple[str, ...] = (),
        intervals: tuple[Interval, ...] = (),
        request_id: str | None = None,
    ) -> tuple[Quote, ...]:
        """``publisher``'s quotes that the party published or subscribes to, all of them (see
        :meth:`_all_listed`)."""

        def ask(ids: tuple[str, ...], request: str) -> p.ReplyQuote:
            return self.call(
                p.RequestQuote(request, self.party, publisher, market_contexts, ids, intervals)
            )

        return self._all_listed(ask, quote_ids, request_id, lambda reply: reply.quotes)

    # --- Transactions ---------------------------------------------------------------------

    def create_transaction(
        self, counterparty: str, *transactions: Transaction, request_id: str | None = None
    ) -> p.CreatedTransaction:
        return self.call(
            p.CreateTransaction(request_id or self.new_id(), self.party, counterparty, transactions)
        )

    def accept(
        self,
        tender: Tender,
        counterparty: str,
        quantity: Decimal | None = None,
        *,
        transaction_id: str | None = None,
        request_id: str | None = None,
    ) -> p.CreatedTransaction:
        """Accept ``quantity`` (default: all) of ``tender``, written by ``counterparty``."""
        rate = tender.product.description.quantity if quantity is None else quantity
        transaction = rules.acceptance(tender, rate, transaction_id or self.new_id())
        return self.create_transaction(counterparty, transaction, request_id=request_id)

    def exercise_option(
        self,
        option: Transaction,
        counterparty: str,
        interval: Interval,
        quantity: Decimal,
        *,
        transaction_id: str | None = None,
        request_id: str | None = None,
    ) -> p.CreatedTransaction:
        """Exercise ``quantity`` of the option transaction ``option`` over ``interval``;
        ``counterparty`` is the option's writer."""
        transaction = rules.exercise(option, interval, quantity, transaction_id or self.new_id())
        return self.create_transaction(counterparty, transaction, request_id=request_id)

    def request_transactions(
        self,
        *,
        party: str | None = None,
        counterparties: tuple[str, ...] = (),
        market_contexts: tuple[str, ...] = (),
        transaction_ids: tuple[str, ...] = (),
        intervals: tuple[Interval, ...] = (),
        request_id: str | None = None,
    ) -> tuple[Transaction, ...]:
        """The party's transactions (or, for an operator, ``party``'s), all of them (see
        :meth:`_all_listed`)."""

        def ask(ids: tuple[str, ...], request: str) -> p.ReplyTransaction:
            return self.call(
                p.RequestTransaction(
                    request,
                    party or self.party,
                    self.party,
                    counterparties,
                    market_contexts,
                    ids,
                    intervals,
                )
            )

        return self._all_listed(ask, transaction_ids, request_id, lambda r: r.transactions)

    # --- Delivery, positions, settlement ------------------------------------------------

    def report_delivery(
        self, *deliveries: Delivery, request_id: str | None = None
    ) -> p.CreatedDelivery:
        return self.call(p.CreateDelivery(request_id or self.new_id(), self.party, deliveries))

    def request_deliveries(
        self,
        *,
        party: str | None = None,
        market_contexts: tuple[str, ...] = (),
        delivery_ids: tuple[str, ...] = (),
        intervals: tuple[Interval, ...] = (),
        request_id: str | None = None,
    ) -> tuple[Delivery, ...]:
        """The party's stored deliveries (or, for an operator, ``party``'s), all of them (see
        :meth:`_all_listed`)."""

        def ask(ids: tuple[str, ...], request: str) -> p.ReplyDelivery:
            return self.call(
                p.RequestDelivery(request, self.party, party, market_contexts, ids, intervals)
            )

        return self._all_listed(ask, delivery_ids, request_id, lambda reply: reply.deliveries)

    def request_market_contexts(
        self, *uris: str, request_id: str | None = None
    ) -> tuple[MarketContext, ...]:
        """The market contexts named by ``uris``. An endpoint that answers with EI's own
        reply, which has no element for a market context, returns none."""
        reply = self.call(p.RequestMarketContext(request_id or self.new_id(), uris, self.party))
        return getattr(reply, "market_contexts", ())

    def request_position(
        self,
        market_context: str,
        interface: Interface,
        *intervals: Interval,
        party: str | None = None,
        settlement: Settlement = Settlement.PHYSICAL,
        request_id: str | None = None,
    ) -> p.ReplyPosition:
        """The positions of the party's physical deals, or (``settlement``) financial ones."""
        return self.call(
            p.RequestPosition(
                request_id or self.new_id(),
                self.party,
                party or self.party,
                market_context,
                interface,
                intervals,
                settlement,
            )
        )

    def request_settlement(
        self,
        market_context: str,
        interface: Interface,
        period: Interval,
        *,
        party: str | None = None,
        request_id: str | None = None,
    ) -> p.ReplySettlement:
        return self.call(
            p.RequestSettlement(
                request_id or self.new_id(),
                self.party,
                party or self.party,
                market_context,
                interface,
                period,
            )
        )

    def request_publication(
        self,
        market_context: str,
        interface: Interface,
        *intervals: Interval,
        settlement: Settlement = Settlement.PHYSICAL,
        request_id: str | None = None,
    ) -> p.ReplyPublication:
        """What was transacted in physical deals, or (``settlement``) in financial ones."""
        return self.call(
            p.RequestPublication(
                request_id or self.new_id(),
                self.party,
                market_context,
                interface,
                intervals,
                settlement,
            )
        )

    # --- The exchange ---------------------------------------------------------------------

    def call(self, payload: p.Payload) -> Any:
        """Send ``payload`` (any request of :mod:`temix.payloads`) and return its reply payload;
        a reply whose eiResponse is not 2xx raises :class:`Refused`."""
        route = self.route(payload)
        reply = self.exchange(route, codec.encode_bytes(payload))
        if not reply.response.ok:
            raise Refused(reply)
        return reply

    def route(self, payload: p.Payload) -> Route:
        tag = codec.PAYLOAD_ELEMENTS[type(payload)]
        route = self.routes.get(tag)
        if route is None:
            raise ClientError(f"the endpoint's WSDL has no operation taking {prefixed(tag)}")
        return route

    def exchange(self, route: Route, payload: bytes) -> Any:
        """Send the payload document ``payload`` on ``route``, signed afresh for each attempt,
        and return the verified, decoded reply payload whatever its eiResponse."""
        headers = request_headers(route.version, route.soap_action)
        for attempt in itertools.count():
            last = attempt == self.retries
            try:
                envelope = self._envelope(route, payload)
                response = self.transport.post(route.address, envelope, headers)
            except requests.RequestException as error:
                if last:
                    raise TransportFailure(
                        f"{route.operation} to {route.address} failed after "
                        f"{attempt + 1} attempts: {error}"
                    ) from None
            else:
                if response.status_code not in RETRIED_STATUSES or is_soap_reply(response) or last:
                    return self._read_reply(route, response)
            time.sleep(self.retry_delay * 2**attempt)

    def _envelope(self, route: Route, payload: bytes) -> bytes:
        envelope = wrap(etree.fromstring(payload), route.version)
        if self.signing is not None:
            credentials = self.signing.credentials
            sign_envelope(envelope, credentials.key, credentials.certificate, self.clock())
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")

    def _read_reply(self, route: Route, response: requests.Response) -> Any:
        if not is_soap_reply(response):
            text = response.text.strip()[:300]
            raise TransportFailure(
                f"{route.operation}: HTTP {response.status_code} without a SOAP reply: {text}",
                response.status_code,
            )
        try:
            envelope = parse_bytes(
                response.content, max_bytes=MAX_REPLY_BYTES, max_elements=MAX_REPLY_ELEMENTS
            ).getroot()
        except XmlRejected as error:
            raise BadReply(f"{route.operation}: the reply is not acceptable XML: {error}") from None
        env = route.version.envelope_ns
        if envelope.tag != f"{{{env}}}Envelope":
            raise BadReply(
                f"{route.operation}: the reply is not a SOAP {route.version.name} Envelope"
            )
        body = self._verified_body(route, envelope)
        children = [child for child in body if isinstance(child.tag, str)]
        if len(children) != 1:
            raise BadReply(f"{route.operation}: the reply Body holds {len(children)} elements")
        (content,) = children
        if content.tag == f"{{{env}}}Fault":
            raise read_fault(route, envelope, verified=self.signing is not None)
        if content.tag != route.reply_tag:
            raise BadReply(
                f"{route.operation}: the reply is {prefixed(content.tag)}, "
                f"expected {prefixed(route.reply_tag)}"
            )
        try:
            return codec.decode(content)
        except codec.DecodeError as error:
            raise BadReply(f"{route.operation}: the reply cannot be read: {error}") from None

    def _verified_body(self, route: Route, envelope: etree._Element) -> etree._Element:
        """The Body to act on: the signed copy of it, or the received one when not signing."""
        body = envelope.find(f"{{{route.version.envelope_ns}}}Body")
        if body is None:
            raise BadReply(f"{route.operation}: the reply Envelope has no Body")
        if self.signing is None:
            return body
        try:
            return verify_envelope(
                envelope, self._trusted, self.clock(), self.signing.freshness
            ).body
        except SecurityError as error:
            fault = body.find(f"{{{route.version.envelope_ns}}}Fault")
            unverified = None if fault is None else read_fault(route, envelope, verified=False)
            raise UnverifiedReply(error.cause, unverified) from None

    def _trusted(self, certificate: x509.Certificate) -> x509.Certificate:
        assert self.signing is not None
        return self.signing.trust(certificate, self.clock())


def is_soap_reply(response: requests.Response) -> bool:
    content_type = response.headers.get("Content-Type", "")
    return media_type_of(content_type) in VERSION_BY_MEDIA_TYPE and bool(response.content)


def _clark(text: str | None, element: etree._Element | None) -> str:
    """A fault code's ``prefix:local`` as ``{namespace}local``, by the declarations in scope
    where it is written; left as written when the prefix is unknown."""
    if not text:
        return ""
    if element is None:
        return text.strip()
    try:
        return resolve_qname(element, text.strip())
    except ValueError:
        return text.strip()


def read_fault(route: Route, envelope: etree._Element, *, verified: bool) -> SoapFault:
    """The fault in the received ``envelope``, read by zeep's binding for the route's SOAP
    version. Its fault codes are qualified names in text, whose prefixes exclusive C14N does
    not sign: they are resolved in the received document, where their declarations are."""
    env = route.version.envelope_ns
    fault = envelope.find(f"{{{env}}}Body/{{{env}}}Fault")
    try:
        route.binding.process_error(envelope, None)
    except zeep.exceptions.Fault as read:
        code_element = fault.find("faultcode")
        if code_element is None:
            code_element = fault.find(f"{{{env}}}Code/{{{env}}}Value")
        subcodes = tuple(str(subcode) for subcode in read.subcodes or ())
        return SoapFault(
            _clark(read.code, code_element), subcodes, read.message or "", verified=verified
        )
    except (zeep.exceptions.Error, ValueError) as error:
        raise BadReply(f"{route.operation}: the fault cannot be read: {error}") from None
    raise BadReply(f"{route.operation}: zeep found no fault in the fault reply")
