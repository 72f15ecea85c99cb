"""What a test works with: the endpoint under test, its parties' clients, builders for what to
send, and the record of every exchange.

A :class:`Run` is one run of the suite against one endpoint. It loads the endpoint's WSDL
once per SOAP version and party, and records every HTTP exchange (the WSDL's too) under the
test that made it, byte for byte: that record is the evidence. Each response that is a SOAP
reply payload is checked against the TeMIX schemas as it arrives, and a test with an invalid
response fails whatever else it asserted.

A :class:`Trial` is one test's view of the run: ``trial.client(...)`` calls the endpoint as a
party through the reference client, ``trial.post(...)`` sends bytes as they are (for the tests
that must send what no client would), and ``trial.expect``, ``trial.refused`` and
``trial.warn`` judge what came back.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import requests
from lxml import etree

from temix import codec
from temix.client.api import Client, Signing, is_soap_reply, read_fault
from temix.client.errors import ClientError, Refused, SoapFault
from temix.client.wsdl import Route, WsdlError
from temix.conformance.capabilities import Capabilities
from temix.conformance.catalogue import Case, Failed, MissingInput
from temix.envelope import (
    SOAP_1_1,
    VERSION_BY_MEDIA_TYPE,
    SoapVersion,
    media_type_of,
    request_headers,
    wrap,
)
from temix.keys import Credentials, KeyDirectory, KeysError
from temix.model import (
    Interface,
    Interval,
    Location,
    MarketContext,
    OptionTerms,
    PowerDescription,
    Product,
    Settlement,
    Side,
    Tender,
    TransactiveState,
)
from temix.namespaces import prefixed
from temix.validation import SchemaSet
from temix.wssecurity import SecurityError, SignatureLayout, sign_envelope, verify_envelope
from temix.xmlsafe import XmlRejected, parse_bytes

T = TypeVar("T")

SETUP = "setup"
"""The name exchanges are recorded under before the first test starts."""


class TargetError(Exception):
    """The run cannot start: the endpoint is unreachable or the inputs are unusable."""


@dataclass(frozen=True)
class Target:
    """The endpoint under test and who the suite is there.

    ``party`` and ``counterparty`` (and the declaration's ``third-party``) must have keys in
    ``keys`` (a ``temix keys`` directory) and be registered traders at the endpoint;
    ``server_certificate`` is the certificate its replies must be signed with (default:
    ``keys/server.pem``). ``session`` makes each HTTP session (TLS settings live there).
    """

    wsdl: str
    keys: Path
    party: str
    counterparty: str
    server_certificate: Path | None = None
    endpoint: str | None = None
    timeout: float = 30.0
    session: Callable[[], requests.Session] = requests.Session


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange as it happened: the bytes sent and received, and what the suite
    found wrong with the response against the schemas (``problems``)."""

    number: int
    case_id: str
    method: str
    url: str
    request_headers: dict[str, str]
    request: bytes
    status: int
    response_headers: dict[str, str]
    response: bytes
    started: datetime
    seconds: float
    problems: tuple[str, ...] = ()


class Recorder:
    """Records every exchange of the sessions it is attached to, under the current test."""

    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        self.case_id = SETUP
        self.exchanges: list[Exchange] = []
        self._numbers = itertools.count(1)

    def attach(self, session: requests.Session) -> requests.Session:
        """Record ``session``'s exchanges; it asks for uncompressed replies, so that the bytes
        recorded are the bytes the endpoint sent."""
        session.headers["Accept-Encoding"] = "identity"
        session.hooks["response"].append(self._record)
        return session

    def of(self, case_id: str) -> list[Exchange]:
        return [exchange for exchange in self.exchanges if exchange.case_id == case_id]

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elapsed = response.elapsed.total_seconds()
        self.exchanges.append(
            Exchange(
                number=next(self._numbers),
                case_id=self.case_id,
                method=request.method or "",
                url=request.url or "",
                request_headers=dict(request.headers),
                request=body,
                status=response.status_code,
                response_headers=dict(response.headers),
                response=response.content,
                started=datetime.now(UTC) - timedelta(seconds=elapsed),
                seconds=elapsed,
                problems=self._problems(response),
            )
        )

    def _problems(self, response: requests.Response) -> tuple[str, ...]:
        """Why a SOAP reply's payload is not valid against the schemas (faults and non-SOAP
        answers are judged by the tests that provoke them)."""
        if response.request.method != "POST" or not is_soap_reply(response):
            return ()
        try:
            envelope = parse_bytes(response.content).getroot()
        except XmlRejected as error:
            return (f"the reply is not acceptable XML: {error}",)
        body = [child for child in envelope if etree.QName(child).localname == "Body"]
        content = [child for child in body[-1] if isinstance(child.tag, str)] if body else []
        if len(content) != 1:
            return (f"the reply Body holds {len(content)} elements, not one",)
        if etree.QName(content[0]).localname == "Fault":
            return ()
        return tuple(
            f"{problem.path}: {problem.message}" for problem in self.schemas.problems(content[0])
        )


@dataclass(frozen=True)
class RawReply:
    """What the endpoint answered to bytes sent as they are."""

    status: int
    headers: Mapping[str, str]
    """Looked up case-insensitively, as HTTP header names are."""
    body: bytes
    route: Route

    @property
    def is_soap(self) -> bool:
        return media_type_of(self.headers.get("Content-Type", "")) in VERSION_BY_MEDIA_TYPE

    def envelope(self) -> etree._Element:
        """The reply's Envelope; :class:`Failed` when the reply is not SOAP XML."""
        if not self.is_soap:
            raise Failed(f"HTTP {self.status} without a SOAP reply: {self.body[:200]!r}")
        try:
            return parse_bytes(self.body).getroot()
        except XmlRejected as error:
            raise Failed(f"the reply is not acceptable XML: {error}") from None

    def fault(self) -> SoapFault | None:
        """The SOAP fault the reply holds (read as the reference client reads it), or None."""
        envelope = self.envelope()
        env = self.route.version.envelope_ns
        if envelope.find(f"{{{env}}}Body/{{{env}}}Fault") is None:
            return None
        return read_fault(self.route, envelope, verified=False)

    def payload(self) -> Any:
        """The decoded reply payload; :class:`Failed` when it is a fault or unreadable."""
        envelope = self.envelope()
        env = self.route.version.envelope_ns
        body = envelope.find(f"{{{env}}}Body")
        content = [] if body is None else [child for child in body if isinstance(child.tag, str)]
        if len(content) != 1 or content[0].tag == f"{{{env}}}Fault":
            raise Failed(f"expected the {self.route.operation} reply payload, got {self.summary}")
        try:
            return codec.decode(content[0])
        except codec.DecodeError as error:
            raise Failed(f"the reply payload cannot be read: {error}") from None

    @property
    def summary(self) -> str:
        """HTTP status and, for a fault, its code: for reasons."""
        try:
            fault = self.fault()
        except (Failed, ClientError):
            fault = None
        return f"HTTP {self.status}" + ("" if fault is None else f" with {fault}")


class Run:
    """One run of the suite against one endpoint (see the module docstring)."""

    def __init__(
        self,
        target: Target,
        capabilities: Capabilities,
        *,
        schemas: SchemaSet | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.target = target
        self.capabilities = capabilities
        self.clock = clock
        self.recorder = Recorder(schemas or SchemaSet.bundled())
        self.run_id = f"tmx{clock().strftime('%Y%m%d%H%M%S')}{uuid.uuid4().hex[:6]}"
        self.keys = KeyDirectory(target.keys)
        self._signing: dict[str, Signing] = {}
        self._clients: dict[tuple[str, str], Client] = {}
        self._markets: dict[str, MarketContext] = {}
        self._slots = itertools.count()
        self._ids = itertools.count(1)

    def open(self) -> None:
        """Check the inputs and reach the endpoint once; :class:`TargetError` when the run
        cannot go on."""
        for party in (self.target.party, self.target.counterparty):
            self.signing(party)
        if self.target.party == self.target.counterparty:
            raise TargetError("the party and the counterparty must be different parties")
        try:
            self.client(self.target.party)
        except WsdlError as error:
            raise TargetError(str(error)) from None

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def signing(self, party: str) -> Signing:
        if party not in self._signing:
            try:
                self._signing[party] = Signing.from_keys(
                    self.target.keys, party, self.target.server_certificate
                )
            except (KeysError, OSError, ValueError) as error:
                raise TargetError(f"keys for {party}: {error}") from None
        return self._signing[party]

    def client(self, party: str, version: SoapVersion = SOAP_1_1) -> Client:
        key = (party, version.name)
        if key not in self._clients:
            session = self.recorder.attach(self.target.session())
            self._clients[key] = Client(
                self.target.wsdl,
                party,
                self.signing(party) if self.capabilities.declares("signed") else None,
                soap_version=version,
                endpoint=self.target.endpoint,
                session=session,
                timeout=self.target.timeout,
                retries=0,
                clock=self.clock,
            )
        return self._clients[key]

    def market(self, uri: str) -> MarketContext:
        if uri not in self._markets:
            try:
                found = self.client(self.target.party).request_market_contexts(uri)
            except ClientError as error:
                raise Failed(f"cannot read market context {uri}: {error}") from None
            matching = [market for market in found if market.uri == uri]
            if not matching:
                raise Failed(f"the endpoint returned no market context {uri}")
            self._markets[uri] = matching[0]
        return self._markets[uri]

    def new_id(self, case_id: str) -> str:
        return f"{self.run_id}-{case_id.removeprefix('TMX-')}-{next(self._ids)}"

    def next_slot(self) -> int:
        return next(self._slots)


class Trial:
    """One test's view of the run; see the module docstring."""

    def __init__(self, run: Run, case: Case) -> None:
        self.run = run
        self.case = case
        self.warnings: list[str] = []

    # --- Who and where -------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return self.run.capabilities

    @property
    def party(self) -> str:
        """The suite's first party: it writes the tenders the counterparty accepts."""
        return self.run.target.party

    @property
    def counterparty(self) -> str:
        return self.run.target.counterparty

    def input(self, name: str) -> str:
        """The declaration's input ``name``; missingInput when it is not given."""
        value = self.capabilities.inputs.get(name)
        if value is None:
            raise MissingInput(f"this test needs [inputs] {name} in the capability declaration")
        return value

    @property
    def third_party(self) -> str:
        """A trader that is neither the party nor the counterparty (input ``third-party``)."""
        party = self.input("third-party")
        try:
            self.run.signing(party)
        except TargetError as error:
            raise MissingInput(f"[inputs] third-party {party}: {error}") from None
        return party

    def client(self, party: str | None = None, version: SoapVersion = SOAP_1_1) -> Client:
        """The reference client calling as ``party`` (default: the suite's party)."""
        return self.run.client(party or self.party, version)

    @property
    def market(self) -> MarketContext:
        """The market context the tests trade in, as the endpoint describes it."""
        return self.run.market(self.input("market-context"))

    @property
    def node(self) -> Location:
        return Location(self.input("node"))

    @property
    def other_node(self) -> Location:
        return Location(self.input("other-node"))

    def new_id(self) -> str:
        """An id no other test of any run uses (for tenders, transactions, deliveries)."""
        return self.run.new_id(self.case.id)

    def now(self) -> datetime:
        return self.run.clock()

    # --- Builders ------------------------------------------------------------------------

    def interval(
        self, duration: timedelta = timedelta(hours=1), market: MarketContext | None = None
    ) -> Interval:
        """A delivery interval of ``duration`` that no other call in the run returns: whole
        hours from the day after tomorrow in the market's time zone, one hour further each
        call, so it fits any market whose granularity divides an hour."""
        market = market or self.market
        zone = ZoneInfo(market.time_zone)
        local = self.now().astimezone(zone)
        day = (local + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
        start = day.astimezone(UTC) + timedelta(hours=self.run.next_slot())
        return Interval(start, duration)

    def product(
        self,
        *,
        side: Side = Side.SELL,
        quantity: str | Decimal = "10",
        price: str | Decimal = "42.5",
        interval: Interval | None = None,
        interface: Interface | None = None,
        state: TransactiveState = TransactiveState.TENDER,
        expires: datetime | None = None,
        integral_only: bool | None = None,
        option: OptionTerms | None = None,
        market: MarketContext | None = None,
        settlement: Settlement = Settlement.PHYSICAL,
    ) -> Product:
        """A product in the market's currency and units, at ``interface`` (default: the node),
        over ``interval`` (default: a fresh one)."""
        market = market or self.market
        return Product(
            uid=self.new_id(),
            interval=interval or self.interval(market=market),
            description=PowerDescription(
                interface or self.node,
                Decimal(price),
                Decimal(quantity),
                market.power_unit,
                market.energy_unit,
            ),
            state=state,
            side=side,
            market_context=market.uri,
            currency=market.currency,
            expires=expires,
            integral_only=integral_only,
            option=option,
            settlement=settlement,
        )

    def tender(self, **product_fields: Any) -> Tender:
        """A tender of :meth:`product`, with a fresh id."""
        return Tender(self.new_id(), self.product(**product_fields))

    def offer(self, *tenders: Tender, author: str | None = None, to: str | None = None) -> None:
        """``author`` (default: the party) offers ``tenders`` to ``to`` (default: the
        counterparty); a refusal fails the test."""
        author = author or self.party
        to = to or (self.counterparty if author != self.counterparty else self.party)
        self.succeeds(
            lambda: self.client(author).create_tender(to, *tenders),
            f"{author} offering {len(tenders)} tender(s) to {to}",
        )

    # --- Judging -------------------------------------------------------------------------

    def expect(self, condition: object, reason: str) -> None:
        """Fail with ``reason`` unless ``condition`` holds."""
        if not condition:
            raise Failed(reason)

    def warn(self, reason: str) -> None:
        """Note a recommendation not met: the test ends as warning if nothing fails."""
        self.warnings.append(reason)

    def succeeds(self, call: Callable[[], T], what: str) -> T:
        """``call()``'s result; any client error fails the test, saying what was attempted."""
        try:
            return call()
        except ClientError as error:
            raise Failed(f"{what}: {error}") from None

    def refused(self, call: Callable[[], object], what: str, *codes: str) -> Refused:
        """The :class:`Refused` that ``call()`` must raise: fails when the call succeeds or
        fails otherwise (a fault, no answer); warns when the eiResponse code is not one of
        ``codes``, the codes the TeMIX profile gives for the refusal."""
        try:
            result = call()
        except Refused as refusal:
            if codes and refusal.code not in codes:
                self.warn(
                    f"{what}: refused with {refusal.code}; the TeMIX profile answers "
                    f"{' or '.join(codes)}"
                )
            return refusal
        except ClientError as error:
            raise Failed(f"{what}: expected an eiResponse refusal, got {error}") from None
        raise Failed(f"{what}: expected a refusal, the endpoint accepted it ({_brief(result)})")

    # --- Bytes as they are ---------------------------------------------------------------

    def route(self, payload_type: type, version: SoapVersion = SOAP_1_1) -> Route:
        """Where the endpoint takes ``payload_type`` over SOAP ``version``."""
        tag = codec.PAYLOAD_ELEMENTS[payload_type]
        route = self.client(version=version).routes.get(tag)
        if route is None:
            raise Failed(f"the WSDL has no SOAP {version.name} operation taking {prefixed(tag)}")
        return route

    def envelope(
        self,
        payload: Any,
        *,
        version: SoapVersion = SOAP_1_1,
        signer: Credentials | str | None = None,
        signed_at: datetime | None = None,
        headers: Sequence[etree._Element] = (),
        layout: SignatureLayout | None = None,
    ) -> etree._Element:
        """``payload`` (a :mod:`temix.payloads` value or an element) in an Envelope with the
        header blocks ``headers``, signed by ``signer`` (credentials, or a party of the key
        directory; default: the suite's party) at ``signed_at`` (default: now), over the Body,
        the Timestamp and every header block, laid out as ``layout`` says (default: as temix
        signs). Unsigned when the endpoint does not declare ``signed``; ``signer=""`` leaves it
        unsigned too."""
        element = payload if isinstance(payload, etree._Element) else codec.encode(payload)
        envelope = wrap(element, version)
        if headers:
            header = etree.Element(f"{{{version.envelope_ns}}}Header")
            header.extend(headers)
            envelope.insert(0, header)
        if signer == "" or not self.capabilities.declares("signed"):
            return envelope
        credentials = (
            signer
            if isinstance(signer, Credentials)
            else self.run.signing(signer or self.party).credentials
        )
        sign_envelope(
            envelope,
            credentials.key,
            credentials.certificate,
            signed_at or self.now(),
            layout=layout or SignatureLayout(),
        )
        return envelope

    def post(
        self,
        route: Route,
        body: bytes | etree._Element,
        *,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> RawReply:
        """Send ``body`` to the route's address as it is, with the route's SOAPAction and
        Content-Type unless ``headers`` replace them; recorded like every exchange."""
        if isinstance(body, etree._Element):
            body = etree.tostring(body, xml_declaration=True, encoding="UTF-8")
        sent = request_headers(route.version, route.soap_action)
        sent.update(headers or {})
        session = self.client(version=route.version).transport.session
        try:
            response = session.request(
                method, route.address, data=body, headers=sent, timeout=self.run.target.timeout
            )
        except requests.RequestException as error:
            raise Failed(f"{method} {route.address}: no answer: {error}") from None
        return RawReply(response.status_code, response.headers, response.content, route)

    def verified_body(self, reply: RawReply) -> etree._Element:
        """The signed copy of the reply's Body, verified against the pinned server
        certificate; fails when the reply is not signed by it."""
        envelope = reply.envelope()
        signing = self.run.signing(self.party)
        try:
            return verify_envelope(
                envelope,
                lambda certificate: signing.trust(certificate, self.now()),
                self.now(),
                signing.freshness,
            ).body
        except SecurityError as error:
            raise Failed(f"the reply is not signed by the server certificate: {error}") from None

    def wait_until(self, moment: datetime) -> None:
        """Sleep until ``moment`` by the run's clock (for expiry and lead-time tests)."""
        while (left := (moment - self.now()).total_seconds()) > 0:
            time.sleep(min(left, 1.0))


def _brief(result: object) -> str:
    response = getattr(result, "response", None)
    if response is not None:
        return f"eiResponse {response.code}"
    return type(result).__name__
