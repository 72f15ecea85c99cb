"""The temix server: the SOAP binding, the services and the store wired together.

A request goes: SOAP pipeline (:mod:`temix.server.soap`, which validates the payload against
the schemas) -> :func:`temix.codec.decode` -> idempotency check -> the service
(:mod:`temix.server.services`) in one store transaction that also remembers the reply ->
:func:`temix.codec.encode` -> the SOAP pipeline again (which validates the reply) -> the ledger
records the bytes received and sent before they leave, in that same transaction: a request is
one commit, and a request answered with a fault leaves only its ledger entry.

Idempotency: a party's requestID identifies its request. The same party and requestID with the
same payload (compared as the codec re-encodes it, so whitespace and prefixes do not matter)
gets the stored reply and nothing runs again; with a different payload it is refused with 409.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from typing import Any

from lxml import etree
from sqlalchemy.exc import IntegrityError

from temix import payloads as p
from temix.codec import (
    PAYLOAD_ELEMENTS,
    DecodeError,
    decode,
    document_bytes,
    encode,
    encode_bytes,
)
from temix.model import DEVELOPMENT_MARKET, Response
from temix.namespaces import prefixed
from temix.responses import ResponseCode, response
from temix.server.security import (
    INSECURE,
    OPERATOR,
    SECURITY_HEADER,
    UNVERIFIED,
    Insecure,
    MessageSecurity,
    SecurityPolicy,
    Signer,
    authorisation_refusal,
    warn_unsigned,
)
from temix.server.services import (
    DEFAULT_PARTY_LIMITS,
    Market,
    PartyLimits,
    new_delivery_id,
    sender_of,
)
from temix.server.soap import (
    Exchange,
    Handler,
    RequestContext,
    SoapApplication,
    SoapLimits,
    load_operations,
)
from temix.server.store import (
    ID_WIDTH,
    URI_WIDTH,
    LedgerEntry,
    Store,
    Unit,
    migrate,
    payload_digest,
)
from temix.validation import SchemaSet
from temix.wspolicy import attach_policies
from temix.xmlsafe import parse_own

logger = logging.getLogger(__name__)

_WRITE_ATTEMPTS = 3
"""How often a request is run when a concurrent request stored the same id first."""

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def prepare(store: Store, clock: Clock = utc_now) -> None:
    """Migrate the store to the current schema; give an empty store the development market."""
    migrate(store)
    with store.transaction() as unit:
        if not unit.all_market_contexts():
            unit.put_market_context(DEVELOPMENT_MARKET, clock())


# --- Replies that refuse a whole request ------------------------------------------------------

_REFUSAL_REPLIES: dict[type, Callable[[Mapping[str, str], Response], Any]] = {
    p.CreateTender: lambda ids, answer: p.CreatedTender(
        answer, (), ids.get("partyID", ""), ids.get("counterPartyID")
    ),
    p.DistributeTender: lambda ids, answer: p.CreatedTender(answer, (), ids.get("partyID", "")),
    p.CancelTender: lambda ids, answer: p.CanceledTender(
        answer, ids.get("partyID", ""), counterparty_id=ids.get("counterPartyID")
    ),
    p.RequestTender: lambda ids, answer: p.ReplyTender(answer),
    p.CreateQuote: lambda ids, answer: p.CreatedQuote(
        answer, ids.get("subscriberPartyID", ""), publisher_party_id=ids.get("publisherPartyID")
    ),
    p.CancelQuote: lambda ids, answer: p.CanceledQuote(
        answer,
        subscriber_party_id=ids.get("subscriberPartyID"),
        publisher_party_id=ids.get("publisherPartyID"),
    ),
    p.RequestQuote: lambda ids, answer: p.ReplyQuote(answer),
    p.CreateTransaction: lambda ids, answer: p.CreatedTransaction(
        ids.get("counterPartyID", ""), ids.get("partyID", ""), answer
    ),
    p.RequestTransaction: lambda ids, answer: p.ReplyTransaction(answer),
    p.CreateDelivery: lambda ids, answer: p.CreatedDelivery(answer),
    p.RequestDelivery: lambda ids, answer: p.ReplyDelivery(answer),
    p.RequestMarketContext: lambda ids, answer: p.ReplyMarketContext(answer),
    p.RequestPosition: lambda ids, answer: p.ReplyPosition(answer),
    p.RequestSettlement: lambda ids, answer: p.ReplySettlement(answer),
    p.RequestPublication: lambda ids, answer: p.ReplyPublication(answer),
}

_REQUEST_CLASS_BY_TAG = {
    tag: cls for cls, tag in PAYLOAD_ELEMENTS.items() if cls in _REFUSAL_REPLIES
}


def _ids(element: etree._Element) -> dict[str, str]:
    """The text of the payload's simple children (request and party ids) by local name."""
    return {
        etree.QName(child).localname: (child.text or "").strip()
        for child in element
        if isinstance(child.tag, str) and len(child) == 0
    }


def _check_widths(payload: etree._Element) -> None:
    """:class:`DecodeError` for a text longer than the store can keep: a market context URI of
    more than ``URI_WIDTH`` characters, any other text of more than ``ID_WIDTH``."""
    for element in payload.iter():
        if not isinstance(element.tag, str) or element.text is None:
            continue
        name = etree.QName(element).localname
        width = URI_WIDTH if name == "marketContext" else ID_WIDTH
        if len(element.text) > width:
            raise DecodeError(
                prefixed(element.tag),
                f"a text of {len(element.text)} characters is longer than the {width} "
                "characters this server keeps",
            )


def _refusal(element: etree._Element, code: ResponseCode, description: str, now: datetime) -> Any:
    ids = _ids(element)
    answer = response(code, ids.get("requestID", ""), description, created=now)
    return _REFUSAL_REPLIES[_REQUEST_CLASS_BY_TAG[element.tag]](ids, answer)


# --- The handler --------------------------------------------------------------------------------


class RequestRate:
    """A token bucket per party: ``per_second`` requests a second, and as many at once. It lives
    in one worker process, so with N workers a party may send N times as many."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, party: str) -> bool:
        """Whether ``party`` may send a request now; counts it when it may."""
        now = self.clock()
        tokens, then = self._buckets.get(party, (self.per_second, now))
        tokens = min(self.per_second, tokens + (now - then) * self.per_second)
        allowed = tokens >= 1
        self._buckets[party] = (tokens - 1 if allowed else tokens, now)
        return allowed


class MarketEndpoint:
    """The SOAP handler of every service: decode, run once, remember, encode."""

    def __init__(
        self,
        open_units: OpenUnits,
        clock: Clock = utc_now,
        new_id: Callable[[], str] = new_delivery_id,
        party_limits: PartyLimits = DEFAULT_PARTY_LIMITS,
    ) -> None:
        self.open_units = open_units
        self.clock = clock
        self.new_id = new_id
        self.party_limits = party_limits
        per_second = party_limits.requests_per_second
        self.rate = None if per_second is None else RequestRate(per_second)

    def _now(self) -> datetime:
        """The market's time of the request: whole seconds, like every instant in EMIX."""
        return self.clock().replace(microsecond=0)

    def __call__(self, element: etree._Element, context: RequestContext) -> etree._Element:
        notes = context.notes
        try:
            _check_widths(element)
            request = decode(element)
        except DecodeError as error:
            reply = _refusal(element, ResponseCode.BAD_REQUEST, str(error), self._now())
            notes["outcome"] = reply.response.code
            return encode(reply)
        too_many = p.over_bounds(request)
        if too_many is not None:
            reply = _refusal(element, ResponseCode.BAD_REQUEST, too_many, self._now())
            notes["outcome"] = reply.response.code
            return encode(reply)
        signer: Signer | None = context.signer
        sender = sender_of(request) if signer is None else signer.party_id
        notes["party_id"] = sender
        notes["request_id"] = request.request_id
        counterparty = getattr(request, "counterparty_id", None)
        if counterparty is not None:
            notes["counterparty_id"] = counterparty
        refusal = None if signer is None else authorisation_refusal(request, signer)
        if refusal is not None:
            reply = _refusal(element, ResponseCode.NOT_AUTHORISED, refusal, self._now())
            notes["outcome"] = reply.response.code
            return encode(reply)
        if self.rate is not None and not self.rate.allow(sender):
            too_fast = (
                f"{sender} sent more than {self.rate.per_second:g} requests a second to this "
                "worker (party-rate): send it again in a second"
            )
            reply = _refusal(element, ResponseCode.TOO_MANY_REQUESTS, too_fast, self._now())
            notes["outcome"] = reply.response.code
            return encode(reply)
        operator = signer is not None and OPERATOR in signer.roles
        reply = self._run_once(element, request, sender, notes.get("operation", ""), operator)
        notes["outcome"] = reply.findtext("{*}eiResponse/{*}responseCode") or ""
        return reply

    def _run_once(
        self,
        element: etree._Element,
        request: Any,
        sender: str,
        operation: str,
        reads_everything: bool,
    ) -> etree._Element:
        """The reply: the stored one for a repeated request, else the one made and stored,
        in the exchange's unit (:class:`OpenUnits`), left open for the ledger entry."""
        digest = payload_digest(encode_bytes(request))
        unit = self.open_units.unit()
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                with unit.connection.begin_nested():
                    return self._reply(
                        unit, element, request, sender, operation, digest, reads_everything
                    )
            except IntegrityError:
                # A concurrent request stored the same id first; run again to see it.
                if attempt == _WRITE_ATTEMPTS:
                    raise
                logger.info("%s %s: concurrent write, running again", operation, request.request_id)
        raise AssertionError("unreachable")

    def _reply(
        self,
        unit: Unit,
        element: etree._Element,
        request: Any,
        sender: str,
        operation: str,
        digest: str,
        reads_everything: bool,
    ) -> etree._Element:
        now = self._now()
        stored = unit.stored_reply(sender, request.request_id)
        if stored is not None:
            if stored.payload_digest == digest:
                return parse_own(stored.reply)
            reused = _refusal(
                element,
                ResponseCode.CONFLICT,
                f"request id {request.request_id} was already used by {sender} "
                "for a different request",
                now,
            )
            return encode(reused)
        market = Market(
            unit, now, self.new_id, reads_everything=reads_everything, limits=self.party_limits
        )
        reply = encode(market.handle(request))
        unit.remember_reply(
            sender, request.request_id, operation, digest, document_bytes(reply), now
        )
        return reply


class _Abandoned(Exception):
    """Thrown into a held unit's transaction to roll it back."""


class HeldUnit:
    """A unit whose transaction stays open after the reply is made, until the exchange's
    ledger entry joins it: a request costs one commit, and a reply that never reaches the
    client (a fault raised after the handler) leaves nothing stored."""

    def __init__(self, store: Store) -> None:
        self._scope = ExitStack()
        self.unit = self._scope.enter_context(store.transaction())

    def commit(self) -> None:
        self._scope.close()

    def roll_back(self) -> None:
        self._scope.__exit__(_Abandoned, _Abandoned(), None)


class OpenUnits(threading.local):
    """The unit of the exchange a thread is answering: opened by the first step that needs
    the store (the replay check of a signed request, else the handler) and ended by the
    ledger, so that the exchange's writes and its ledger entry are one commit."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.held: HeldUnit | None = None

    def unit(self) -> Unit:
        if self.held is None:
            self.held = HeldUnit(self.store)
        return self.held.unit

    def take(self) -> HeldUnit | None:
        held, self.held = self.held, None
        return held


class Ledger:
    """The SOAP application's observer: appends every exchange to the store's ledger, in the
    transaction of the request's unit when the exchange has one and was answered (HTTP 200),
    else (a fault: the unit is rolled back) on its own."""

    def __init__(self, store: Store, open_units: OpenUnits) -> None:
        self.store = store
        self.open_units = open_units

    def __call__(self, exchange: Exchange) -> None:
        notes = exchange.notes
        entry = LedgerEntry(
            received_at=exchange.received_at,
            sent_at=exchange.sent_at,
            operation=notes.get("operation"),
            party_id=notes.get("party_id"),
            counterparty_id=notes.get("counterparty_id"),
            request_id=notes.get("request_id"),
            verification=notes.get("verification", UNVERIFIED),
            verification_detail=notes.get("verification_detail"),
            message_id=notes.get("message_id"),
            relates_to=notes.get("relates_to"),
            reply_message_id=notes.get("reply_message_id"),
            outcome=notes.get("outcome", str(exchange.status)),
            http_status=exchange.status,
            remote_address=exchange.remote_address,
            request=exchange.request,
            response=exchange.response,
        )
        held = self.open_units.take()
        if held is not None and exchange.status != 200:
            held.roll_back()
            held = None
        if held is None:
            with self.store.transaction() as unit:
                unit.append_ledger(entry)
            return
        try:
            held.unit.append_ledger(entry)
        except BaseException:
            held.roll_back()
            raise
        held.commit()


def market_handlers(endpoint: Handler) -> dict[str, Handler]:
    """``endpoint`` for every WSDL operation whose request the services answer."""
    return {
        operation.name: endpoint
        for operation in load_operations().values()
        if operation.request in _REQUEST_CLASS_BY_TAG
    }


def create_app(
    store: Store,
    *,
    clock: Clock = utc_now,
    schemas: SchemaSet | None = None,
    public_url: str | None = None,
    new_id: Callable[[], str] = new_delivery_id,
    binding: str = "native",
    security: SecurityPolicy | Insecure,
    limits: SoapLimits | None = None,
    party_limits: PartyLimits = DEFAULT_PARTY_LIMITS,
) -> SoapApplication:
    """The WSGI application of a temix server over ``store`` (already prepared); ``binding``
    ``"spyne"`` hosts it on spyne (:mod:`temix.server.spyne`, Python 3.11 only).

    ``security`` is a :class:`SecurityPolicy` (requests verified against the party registry,
    replies signed) or, explicitly, :data:`INSECURE` (nothing verified or signed; every request
    logs a warning)."""
    application = SoapApplication
    if binding == "spyne":
        from temix.server.spyne import SpyneSoapApplication as application
    elif binding != "native":
        raise ValueError(f"unknown binding {binding!r}: native or spyne")
    open_units = OpenUnits(store)
    if isinstance(security, SecurityPolicy):
        guard = MessageSecurity(store, security, clock, open_units.unit)
        seams: dict[str, Any] = dict(
            request_filter=guard.check_request,
            reply_signer=guard.sign_reply,
            understood_headers={SECURITY_HEADER},
            wsdl_policy=partial(attach_policies, freshness=security.freshness),
        )
    elif security is INSECURE:
        seams = dict(request_filter=warn_unsigned)
    else:
        raise TypeError(f"security must be a SecurityPolicy or INSECURE, not {security!r}")
    return application(
        market_handlers(MarketEndpoint(open_units, clock, new_id, party_limits)),
        schemas,
        limits,
        public_url=public_url,
        observer=Ledger(store, open_units),
        clock=clock,
        **seams,
    )
