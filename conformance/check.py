"""``temix conformance check``: judging captured TeMIX messages offline.

A capture is a set of files, each one message: a SOAP 1.1 or 1.2 envelope (signed or not) or a
bare payload document, such as the request and response files of an evidence directory. Nothing
here touches the network; :func:`judge` reads the files and returns a :class:`CheckReport`.

The checks, with the clause each one checks (ids are stable and separate from the live
catalogue's):

* ``TMX-CHK-001`` The file is a TeMIX message whose payload validates against the TeMIX schemas
  (EMIX 1.0 and EI 1.0 as the TeMIX profile restricts them, docs/profile.md). A file that cannot
  be read or is not acceptable XML fails here; a SOAP Fault passes (it carries no payload);
  a WSDL or XML Schema document is notApplicable (not a message, not judged, not counted).
* ``TMX-CHK-002`` The payload reads under the TeMIX profile (:func:`temix.codec.decode`: the
  reduced product description of paper 2.12, table 5, and the profile's other rules).
* ``TMX-CHK-003`` Every product fits the market context the capture describes (paper 2.12): when
  the capture holds a successful market context reply describing the product's market context,
  :func:`temix.rules.check_fits_market` judges currency, units, product kind, intervals and
  quantity step.
* ``TMX-CHK-004`` Products naming a market context the capture does not describe agree with the
  first product naming it on currency and units (paper 2.12); a warning when they agree, since
  there is no description to check against.
* ``TMX-CHK-005`` Tenders are created, accepted and cancelled only as the stored-tender table
  allows (paper 2.9 and 2.13): accepted or cancelled only while live or partially filled, not
  beyond what remains, not after expiry, not by their author, an integral-only tender all at
  once, and a tender id created once.
* ``TMX-CHK-006`` Deals move only as the deal table allows (paper 2.9, 2.11 and 2.13, EMIX
  ``transactiveState``): a transaction accepts a tender it names, never a quote (an indication
  of interest is not actionable); an exercise names an option transaction and keeps to the
  option's terms; a transaction id is used once.
* ``TMX-CHK-007`` What a message acts on is in the capture (paper 2.13): a warning for an
  acceptance, cancellation or exercise naming a tender or option the capture never created,
  since the capture may be partial.
* ``TMX-CHK-008`` Requests and replies pair up (EI 1.0 ``requestID`` and ``refID``): a warning
  for a request without its reply when the capture holds replies, and for a reply without its
  request when the capture holds requests.

Order. Messages are judged in time order. A message's time is the ``wsu:Created`` of the
``wsu:Timestamp`` in its envelope's WS-Security header, else its payload's own creation time
(the ``ei:createdDateTime`` of a reply's ``ei:eiResponse``), else it has none and keeps its place
after the file given before it (arguments in the order given, a directory's ``*.xml`` files in
path order). Equal times keep the order given. Each file's report says which was used.

Pairing. A reply is paired with its request by the evidence layout when both are in one
directory as ``NNN-request.xml`` and ``NNN-response.xml`` (whatever they hold); otherwise with
the latest request before it, not yet paired, whose ``requestID`` is the reply's ``refID``. A
request equal to an earlier one (same requestID and content: a retry) changes nothing again.

State changes. Only requests that took effect change states: a request without a reply in the
capture is judged as sent; with a reply, each tender, quote or transaction counts only if the
reply's ``ei:eiResponse`` for it (or, without one, the overall response) is a success, and a
SOAP Fault means nothing took effect. The changes are replayed through the market rules of
:mod:`temix.rules` (which take every transition from the tables of :mod:`temix.states`) at the
request's time (else its reply's); a message with neither is judged as if before every expiry.
A tender distributed to groups counts as offered to everyone, since their members are not in
the capture. Products of requests refused by their reply are not judged against the market.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import click
from rich.text import Text

from temix import codec
from temix import payloads as p
from temix.codec import DecodeError, format_instant
from temix.conformance.catalogue import Outcome
from temix.model import (
    FIRST_INSTANT,
    MarketContext,
    Product,
    Quote,
    Response,
    Tender,
    Transaction,
    TransactionRecord,
    TransactiveState,
)
from temix.namespaces import SOAP11, SOAP12, XSD, prefixed, qname
from temix.rules import (
    WHOLE_MARKET_CONTEXT,
    OfferedTo,
    Refusal,
    TenderRecord,
    accept_quote,
    accept_tender,
    cancel_tender,
    check_fits_market,
    create_tender,
    exercise_option,
)
from temix.states import DEALS
from temix.validation import EnvelopeError, SchemaSet, payload_of
from temix.wsdl import WSDL_NS
from temix.wssecurity import WSSE, WSU
from temix.xmlsafe import XmlRejected, parse_bytes


@dataclass(frozen=True)
class Check:
    """One offline check: its stable id, what it asserts, and the clause it checks."""

    id: str
    title: str
    clause: str


SCHEMA_VALID = Check(
    "TMX-CHK-001",
    "The file is a TeMIX message whose payload validates against the TeMIX schemas",
    "EMIX 1.0 and EI 1.0 schemas as restricted by the TeMIX profile",
)
PROFILE_READABLE = Check(
    "TMX-CHK-002",
    "The payload reads under the TeMIX profile",
    "TeMIX paper 2.12 (table 5); TeMIX profile",
)
FITS_MARKET = Check(
    "TMX-CHK-003",
    "Every product fits the market context the capture describes",
    "TeMIX paper 2.12",
)
AGREES_IN_MARKET = Check(
    "TMX-CHK-004",
    "Products naming an undescribed market context agree on currency and units",
    "TeMIX paper 2.12",
)
TENDER_LIFECYCLE = Check(
    "TMX-CHK-005",
    "Tenders are created, accepted and cancelled only as the stored-tender table allows",
    "TeMIX paper 2.9, 2.13",
)
DEAL_STATES = Check(
    "TMX-CHK-006",
    "Deals move only as the deal table allows: tenders accepted, option transactions exercised",
    "TeMIX paper 2.9, 2.11, 2.13; EMIX transactiveState",
)
REFERENCES_SEEN = Check(
    "TMX-CHK-007",
    "What a message acts on is in the capture",
    "TeMIX paper 2.13",
)
PAIRED = Check(
    "TMX-CHK-008",
    "Requests and replies pair up",
    "EI 1.0 requestID and refID",
)
CHECKS = (
    SCHEMA_VALID,
    PROFILE_READABLE,
    FITS_MARKET,
    AGREES_IN_MARKET,
    TENDER_LIFECYCLE,
    DEAL_STATES,
    REFERENCES_SEEN,
    PAIRED,
)

BY_TIMESTAMP = "wsu:Timestamp"
BY_CREATION_TIME = "eiResponse createdDateTime"
BY_ARGUMENT_ORDER = "argument order"

_FAULTS = frozenset({qname(SOAP11, "Fault"), qname(SOAP12, "Fault")})
_DESCRIPTIONS = frozenset({qname(WSDL_NS, "definitions"), qname(XSD, "schema")})
_TIMESTAMP_CREATED = tuple(
    f"{{{soap}}}Header/{{{WSSE}}}Security/{{{WSU}}}Timestamp/{{{WSU}}}Created"
    for soap in (SOAP11, SOAP12)
)
_EVIDENCE_NAME = re.compile(r"(?P<number>\d+)-(?P<side>request|response)\.xml")
_BEFORE_EVERYTHING = FIRST_INSTANT
"""The time of a message that has none: before every expiry, so expiry is not judged."""
_MAX_PROBLEMS_SHOWN = 3


def _payload_types_with(name: str) -> tuple[type, ...]:
    return tuple(cls for cls in get_args(p.Payload) if name in {each.name for each in fields(cls)})


_REQUESTS = _payload_types_with("request_id")
_REPLIES = _payload_types_with("response")


@dataclass(frozen=True)
class Finding:
    check: Check
    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class FileReport:
    """What the checks found in one file, which came ``order``-th in time order."""

    path: Path
    order: int
    time: datetime | None
    ordered_by: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class CheckReport:
    files: tuple[FileReport, ...]

    @property
    def counts(self) -> Counter[Outcome]:
        return Counter(finding.outcome for each in self.files for finding in each.findings)

    @property
    def failed(self) -> bool:
        return self.counts[Outcome.FAILED] > 0

    @property
    def line(self) -> str:
        """The last line the command prints."""
        counts = self.counts
        return (
            f"{counts[Outcome.PASSED]} passed, {counts[Outcome.FAILED]} failed, "
            f"{counts[Outcome.WARNING]} warnings"
        )

    def as_json(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "checks": [
                {"id": check.id, "title": check.title, "clause": check.clause} for check in CHECKS
            ],
            "files": [
                {
                    "path": str(each.path),
                    "order": each.order,
                    "time": format_instant(each.time) if each.time else None,
                    "ordered_by": each.ordered_by,
                    "findings": [
                        {
                            "check": finding.check.id,
                            "outcome": str(finding.outcome),
                            "detail": finding.detail,
                        }
                        for finding in each.findings
                    ],
                }
                for each in self.files
            ],
            "summary": {
                "passed": counts[Outcome.PASSED],
                "failed": counts[Outcome.FAILED],
                "warnings": counts[Outcome.WARNING],
            },
        }


@dataclass(eq=False)
class _Message:
    """One file of the capture as it is being judged."""

    path: Path
    position: int
    findings: list[Finding] = field(default_factory=list)
    payload: Any = None
    fault: bool = False
    time: datetime | None = None
    ordered_by: str = BY_ARGUMENT_ORDER

    def note(self, check: Check, outcome: Outcome, detail: str) -> None:
        finding = Finding(check, outcome, detail)
        if finding not in self.findings:
            self.findings.append(finding)

    @property
    def is_request(self) -> bool:
        return isinstance(self.payload, _REQUESTS)

    @property
    def is_reply(self) -> bool:
        return self.fault or isinstance(self.payload, _REPLIES)


def collect(inputs: Iterable[Path]) -> list[Path]:
    """The files to judge: each file as given, and every ``*.xml`` under each directory in
    path order."""
    files: list[Path] = []
    for each in inputs:
        if each.is_dir():
            files += sorted(path for path in each.rglob("*.xml") if path.is_file())
        else:
            files.append(each)
    return files


def judge(files: Sequence[Path], schemas: SchemaSet | None = None) -> CheckReport:
    """Judge the captured messages in ``files`` (in the order given) against every check."""
    schema_set = schemas or SchemaSet.bundled()
    messages = _in_time_order(
        [_read(path, position, schema_set) for position, path in enumerate(files)]
    )
    replies = _pair(messages)
    _check_markets(messages, replies)
    _Replay(replies).run(messages)
    return CheckReport(
        tuple(
            FileReport(
                message.path,
                order,
                message.time,
                message.ordered_by,
                tuple(sorted(message.findings, key=lambda finding: finding.check.id)),
            )
            for order, message in enumerate(messages, start=1)
        )
    )


# --- Reading one file ----------------------------------------------------------------------


def _read(path: Path, position: int, schemas: SchemaSet) -> _Message:
    message = _Message(path, position)
    try:
        document = parse_bytes(path.read_bytes())
    except OSError as error:
        message.note(SCHEMA_VALID, Outcome.FAILED, f"cannot read: {error.strerror or error}")
        return message
    except XmlRejected as error:
        message.note(SCHEMA_VALID, Outcome.FAILED, f"not acceptable XML: {error}")
        return message
    root = document.getroot()
    if root.tag in _DESCRIPTIONS:
        message.note(
            SCHEMA_VALID,
            Outcome.NOT_APPLICABLE,
            f"a {prefixed(root.tag)} document, not a message: not judged",
        )
        return message
    _take_timestamp(message, root)
    try:
        element = payload_of(document)
    except EnvelopeError as error:
        message.note(SCHEMA_VALID, Outcome.FAILED, str(error))
        return message
    if element.tag in _FAULTS:
        message.fault = True
        message.note(SCHEMA_VALID, Outcome.PASSED, "a SOAP Fault, with no TeMIX payload")
        return message
    problems = schemas.problems(element)
    if problems:
        shown = "; ".join(f"{each.path}: {each.reason}" for each in problems[:_MAX_PROBLEMS_SHOWN])
        more = len(problems) - _MAX_PROBLEMS_SHOWN
        message.note(
            SCHEMA_VALID, Outcome.FAILED, shown + (f" (and {more} more)" if more > 0 else "")
        )
    else:
        message.note(SCHEMA_VALID, Outcome.PASSED, f"{prefixed(element.tag)} is valid")
    try:
        message.payload = codec.decode(element)
    except DecodeError as error:
        message.note(PROFILE_READABLE, Outcome.FAILED, str(error))
        return message
    message.note(PROFILE_READABLE, Outcome.PASSED, f"reads as {type(message.payload).__name__}")
    if message.time is None and isinstance(message.payload, _REPLIES):
        created = message.payload.response.created
        if created is not None:
            message.time, message.ordered_by = created, BY_CREATION_TIME
    return message


def _take_timestamp(message: _Message, root: Any) -> None:
    for path in _TIMESTAMP_CREATED:
        created = root.find(path)
        if created is None:
            continue
        try:
            moment = datetime.fromisoformat((created.text or "").strip())
        except ValueError:
            return
        if moment.tzinfo is not None:
            message.time, message.ordered_by = moment.astimezone(UTC), BY_TIMESTAMP
        return


# --- Order and pairing ---------------------------------------------------------------------


def _in_time_order(messages: list[_Message]) -> list[_Message]:
    """Sorted by time; a message without one keeps its place after the one given before it."""
    keys: dict[int, tuple[datetime, int]] = {}
    inherited = _BEFORE_EVERYTHING
    for message in messages:
        inherited = message.time or inherited
        keys[message.position] = (inherited, message.position)
    return sorted(messages, key=lambda message: keys[message.position])


def _pair(messages: list[_Message]) -> dict[int, _Message]:
    """The reply of each request that has one in the capture, by the request's position."""
    replies: dict[int, _Message] = {}
    answered: dict[int, _Message] = {}
    evidence_requests = {
        (message.path.parent, match["number"]): message
        for message in messages
        if (match := _EVIDENCE_NAME.fullmatch(message.path.name)) and match["side"] == "request"
    }
    for message in messages:
        match = _EVIDENCE_NAME.fullmatch(message.path.name)
        if match and match["side"] == "response":
            request = evidence_requests.get((message.path.parent, match["number"]))
            if request is not None:
                replies[request.position] = message
                answered[message.position] = request
    for index, message in enumerate(messages):
        if message.position in answered or message.fault or not message.is_reply:
            continue
        ref_id = message.payload.response.ref_id
        request = next(
            (
                earlier
                for earlier in reversed(messages[:index])
                if earlier.is_request
                and earlier.position not in replies
                and earlier.payload.request_id == ref_id
            ),
            None,
        )
        if request is not None:
            replies[request.position] = message
            answered[message.position] = request
    _note_pairing(messages, replies, answered)
    return replies


def _note_pairing(
    messages: list[_Message], replies: dict[int, _Message], answered: dict[int, _Message]
) -> None:
    has_requests = any(message.is_request for message in messages)
    has_replies = any(message.is_reply for message in messages)
    for message in messages:
        if message.is_request:
            reply = replies.get(message.position)
            if reply is not None:
                message.note(PAIRED, Outcome.PASSED, f"answered by {reply.path}")
            elif has_replies:
                message.note(
                    PAIRED,
                    Outcome.WARNING,
                    f"request {message.payload.request_id} has no reply in the capture: "
                    "judged as if it took effect",
                )
        elif message.is_reply and has_requests:
            request = answered.get(message.position)
            if request is not None:
                message.note(PAIRED, Outcome.PASSED, f"answers {request.path}")
            else:
                message.note(PAIRED, Outcome.WARNING, "answers no request in the capture")


def _took_effect(reply: _Message | None, item_id: str) -> bool:
    """Whether the item ``item_id`` of a request was carried out, as far as its reply says (an
    unreadable reply says nothing: the request is judged as sent)."""
    if reply is None:
        return True
    if reply.fault:
        return False
    if not reply.is_reply:
        return True
    item = next(
        (each for each in getattr(reply.payload, "responses", ()) if each.ref_id == item_id),
        None,
    )
    response: Response = item or reply.payload.response
    return response.ok


# --- Market context consistency ------------------------------------------------------------


def _products(payload: Any) -> Iterator[tuple[str, Product]]:
    """Each product a payload carries, with the id of the tender, quote or transaction."""
    match payload:
        case p.CreateTender() | p.DistributeTender() | p.ReplyTender():
            for tender in payload.tenders:
                yield tender.tender_id, tender.product
        case p.CreateQuote() | p.ReplyQuote():
            for quote in payload.quotes:
                for product in quote.products:
                    yield quote.quote_id, product
        case p.CreateTransaction() | p.ReplyTransaction():
            for transaction in payload.transactions:
                yield transaction.transaction_id, transaction.product


def _described_markets(messages: list[_Message]) -> dict[str, MarketContext]:
    return {
        market.uri: market
        for message in messages
        if isinstance(message.payload, p.ReplyMarketContext) and message.payload.response.ok
        for market in message.payload.market_contexts
    }


@dataclass(frozen=True)
class _Seen:
    product: Product
    message: _Message

    def __str__(self) -> str:
        return f"product {self.product.uid} in {self.message.path}"


def _check_markets(messages: list[_Message], replies: dict[int, _Message]) -> None:
    described = _described_markets(messages)
    first_units: dict[str, _Seen] = {}
    first_currency: dict[str, _Seen] = {}
    for message in messages:
        reply = replies.get(message.position) if message.is_request else None
        for item_id, product in _products(message.payload):
            if not _took_effect(reply, item_id):
                continue
            uri = product.market_context
            market = described.get(uri)
            if market is not None:
                refusal = check_fits_market(product, market)
                if refusal is None:
                    message.note(FITS_MARKET, Outcome.PASSED, f"product {product.uid} fits {uri}")
                else:
                    message.note(
                        FITS_MARKET,
                        Outcome.FAILED,
                        f"product {product.uid} {refusal.description}",
                    )
                continue
            seen = _Seen(product, message)
            units = first_units.setdefault(uri, seen)
            currency = first_currency.setdefault(uri, seen) if product.currency else None
            disagreements = _disagreements(product, units, currency)
            if disagreements:
                message.note(
                    AGREES_IN_MARKET,
                    Outcome.FAILED,
                    f"product {product.uid} names {uri} with " + "; ".join(disagreements),
                )
            else:
                message.note(
                    AGREES_IN_MARKET,
                    Outcome.WARNING,
                    f"the capture does not describe market context {uri}: its products "
                    "are checked only against each other",
                )


def _disagreements(product: Product, units: _Seen, currency: _Seen | None) -> list[str]:
    found = []
    if currency is not None and product.currency != currency.product.currency:
        found.append(f"currency {product.currency}, but {currency} has {currency.product.currency}")
    mine, theirs = product.description, units.product.description
    if mine.power_unit != theirs.power_unit:
        found.append(
            f"power in {mine.power_unit.symbol}, but {units} has {theirs.power_unit.symbol}"
        )
    if mine.energy_unit != theirs.energy_unit:
        found.append(
            f"prices per {mine.energy_unit.symbol}, but {units} has per {theirs.energy_unit.symbol}"
        )
    return found


# --- Transactive-state sequence ------------------------------------------------------------


class _Replay:
    """The state of every tender, quote and transaction the capture created, replayed in time
    order through the market rules."""

    def __init__(self, replies: dict[int, _Message]) -> None:
        self.replies = replies
        self.tenders: dict[str, TenderRecord] = {}
        self.quotes: dict[str, Quote] = {}
        self.transactions: dict[str, TransactionRecord] = {}
        self.exercises: dict[str, list[Transaction]] = {}
        self.origin: dict[str, Path] = {}

    def run(self, messages: list[_Message]) -> None:
        """Each request at its reply's place (when the endpoint carried it out), or at its own
        when the capture holds no reply to it."""
        requests_by_reply = {
            reply.position: request
            for request in messages
            if request.is_request and (reply := self.replies.get(request.position)) is not None
        }
        judged: list[Any] = []
        for message in messages:
            request = requests_by_reply.get(message.position)
            if request is None and message.is_request and message.position not in self.replies:
                request = message
            if request is None:
                continue
            if request.payload in judged:
                request.note(PAIRED, Outcome.PASSED, "repeats an earlier request: judged once")
                continue
            judged.append(request.payload)
            self._apply(request, self.replies.get(request.position))

    def _apply(self, message: _Message, reply: _Message | None) -> None:
        now = message.time or (reply.time if reply is not None else None) or _BEFORE_EVERYTHING
        payload = message.payload
        match payload:
            case p.CreateTender():
                offered_to: OfferedTo = frozenset({payload.counterparty_id})
                for tender in payload.tenders:
                    if _took_effect(reply, tender.tender_id):
                        self._create(message, reply, tender, payload.party_id, offered_to, now)
            case p.DistributeTender():
                target = payload.target
                audience = (
                    WHOLE_MARKET_CONTEXT
                    if target.group_ids
                    else frozenset(target.party_ids) - {payload.party_id}
                )
                for tender in payload.tenders:
                    if _took_effect(reply, tender.tender_id):
                        self._create(message, reply, tender, payload.party_id, audience, now)
            case p.CancelTender():
                for tender_id in payload.tender_ids:
                    if _took_effect(reply, tender_id):
                        self._cancel(message, reply, tender_id, payload.party_id, now)
            case p.CreateQuote():
                for quote in payload.quotes:
                    if _took_effect(reply, quote.quote_id):
                        self.quotes[quote.quote_id] = quote
            case p.CreateTransaction():
                for transaction in payload.transactions:
                    if not _took_effect(reply, transaction.transaction_id):
                        continue
                    parties = (payload.party_id, payload.counterparty_id)
                    if transaction.product.state is TransactiveState.EXERCISE:
                        self._exercise(message, reply, transaction, parties, now)
                    else:
                        self._accept(message, reply, transaction, parties, now)

    def _refused(
        self, message: _Message, reply: _Message | None, check: Check, what: str, why: Refusal
    ) -> None:
        carried_out = f" (carried out by {reply.path})" if reply is not None else ""
        message.note(
            check,
            Outcome.FAILED,
            f"{what}{carried_out}, which the rules refuse: {why.code.code} {why.description}",
        )

    def _create(
        self,
        message: _Message,
        reply: _Message | None,
        tender: Tender,
        author: str,
        offered_to: OfferedTo,
        now: datetime,
    ) -> None:
        tender_id = tender.tender_id
        what = f"creates tender {tender_id}"
        if tender_id in self.tenders:
            message.note(
                TENDER_LIFECYCLE,
                Outcome.FAILED,
                f"{what} again: it was created in {self.origin[tender_id]}",
            )
            return
        record = create_tender(tender, author, offered_to, now)
        if isinstance(record, Refusal):
            self._refused(message, reply, TENDER_LIFECYCLE, what, record)
            return
        self.tenders[tender_id] = record
        self.origin[tender_id] = message.path
        message.note(TENDER_LIFECYCLE, Outcome.PASSED, f"{what}: {record.status}")

    def _cancel(
        self,
        message: _Message,
        reply: _Message | None,
        tender_id: str,
        party: str,
        now: datetime,
    ) -> None:
        record = self.tenders.get(tender_id)
        what = f"cancels tender {tender_id}"
        if record is None:
            message.note(
                REFERENCES_SEEN, Outcome.WARNING, f"{what}, which the capture never created"
            )
            return
        cancelled = cancel_tender(record, party, now)
        if isinstance(cancelled, Refusal):
            self._refused(message, reply, TENDER_LIFECYCLE, what, cancelled)
            return
        self.tenders[tender_id] = cancelled
        message.note(
            TENDER_LIFECYCLE, Outcome.PASSED, f"{what}: {record.status} -> {cancelled.status}"
        )

    def _new_transaction_id(self, message: _Message, transaction: Transaction) -> bool:
        transaction_id = transaction.transaction_id
        if transaction_id not in self.transactions:
            return True
        message.note(
            DEAL_STATES,
            Outcome.FAILED,
            f"transaction id {transaction_id} is used again: it was made in "
            f"{self.origin[transaction_id]}",
        )
        return False

    def _record(self, message: _Message, made: TransactionRecord) -> None:
        transaction_id = made.transaction.transaction_id
        self.transactions[transaction_id] = made
        self.origin[transaction_id] = message.path

    def _accept(
        self,
        message: _Message,
        reply: _Message | None,
        transaction: Transaction,
        parties: tuple[str, str],
        now: datetime,
    ) -> None:
        if not self._new_transaction_id(message, transaction):
            return
        transaction_id, tender_id = transaction.transaction_id, transaction.tender_id
        quantity = transaction.product.description.quantity
        what = f"transaction {transaction_id} accepts {quantity} of tender {tender_id}"
        if tender_id is None:
            message.note(
                DEAL_STATES,
                Outcome.FAILED,
                f"transaction {transaction_id} names no tender it accepts: a deal starts as "
                f"{' or '.join(DEALS.starts)}",
            )
            return
        quote = self.quotes.get(tender_id)
        if quote is not None:
            self._refused(message, reply, DEAL_STATES, what, accept_quote(quote))
            return
        record = self.tenders.get(tender_id)
        if record is None:
            message.note(
                REFERENCES_SEEN, Outcome.WARNING, f"{what}, which the capture never created"
            )
            if parties[0] != parties[1]:
                self._record(message, TransactionRecord.written_by(transaction, *parties))
            return
        accepted = accept_tender(record, parties[0], quantity, transaction_id, now)
        if isinstance(accepted, Refusal):
            self._refused(message, reply, TENDER_LIFECYCLE, what, accepted)
            return
        updated, made = accepted
        self.tenders[tender_id] = updated
        self._record(message, made)
        message.note(
            TENDER_LIFECYCLE,
            Outcome.PASSED,
            f"{what}: {record.status} -> {updated.status}, {updated.remaining} remains",
        )
        message.note(
            DEAL_STATES,
            Outcome.PASSED,
            f"tender {tender_id} -> transaction {transaction_id}",
        )

    def _exercise(
        self,
        message: _Message,
        reply: _Message | None,
        exercise: Transaction,
        parties: tuple[str, str],
        now: datetime,
    ) -> None:
        if not self._new_transaction_id(message, exercise):
            return
        exercise_id, option_id = exercise.transaction_id, exercise.product.related_to
        what = f"exercise {exercise_id} of transaction {option_id}"
        if option_id is None:
            message.note(
                DEAL_STATES,
                Outcome.FAILED,
                f"exercise {exercise_id} names no option transaction it exercises",
            )
            return
        option = self.transactions.get(option_id)
        if option is None:
            message.note(REFERENCES_SEEN, Outcome.WARNING, f"{what}, which the capture never made")
            return
        product = exercise.product
        earlier = self.exercises.setdefault(option_id, [])
        made = exercise_option(
            option,
            parties[0],
            product.interval,
            product.description.quantity,
            exercise_id,
            now,
            earlier,
        )
        if isinstance(made, Refusal):
            self._refused(message, reply, DEAL_STATES, what, made)
            return
        earlier.append(made.transaction)
        self._record(message, made)
        message.note(
            DEAL_STATES,
            Outcome.PASSED,
            f"{what}: {option.transaction.product.state} -> {made.transaction.product.state}",
        )


# --- The command ---------------------------------------------------------------------------

_STYLES = {Outcome.PASSED: "green", Outcome.FAILED: "bold red", Outcome.WARNING: "yellow"}


def _file_line(report: FileReport) -> Text:
    when = format_instant(report.time) if report.time else "no time"
    line = Text(f"{report.order}. {report.path} ({report.ordered_by}: {when}):")
    for index, finding in enumerate(report.findings):
        line.append(f"{';' if index else ''} {finding.check.id} ")
        line.append(str(finding.outcome), style=_STYLES.get(finding.outcome))
        if finding.outcome is not Outcome.PASSED:
            line.append(f" ({finding.detail})")
    return line


@click.command("check")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
@click.option(
    "--schemas",
    "schema_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    metavar="DIR",
    help="Validate against every .xsd under DIR instead of the bundled TeMIX schemas.",
)
@click.option(
    "--catalog",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    metavar="FILE",
    help="OASIS XML catalog mapping schema URLs to local files; alone, its files are the set.",
)
def check_command(
    inputs: tuple[Path, ...], as_json: bool, schema_dir: Path | None, catalog: Path | None
) -> None:
    """Judge captured messages offline: files (SOAP envelopes or bare payloads) and
    directories (every *.xml under them, such as an evidence directory).

    Checks payload validity, market context consistency and whether the messages, in time
    order, are a legal sequence of transactive states. Prints one line per file, in time
    order, and then N passed, N failed, N warnings.

    Exit status: 0 nothing failed, 1 a check failed, 2 no files, a missing file or
    unusable schemas.
    """
    # Imported here: temix.cli attaches the command group this command belongs to.
    from temix.cli import EXIT_INVALID, EXIT_UNUSABLE, EXIT_VALID, _schema_set
    from temix.client.cli import stdout_console
    from temix.validation import SchemaSetError

    files = collect(inputs)
    if not files:
        click.echo("error: no *.xml files to check", err=True)
        raise SystemExit(EXIT_UNUSABLE)
    try:
        report = judge(files, _schema_set(schema_dir, catalog))
    except SchemaSetError as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(EXIT_UNUSABLE) from None
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        console = stdout_console()
        for each in report.files:
            console.print(_file_line(each))
        console.print(report.line)
    raise SystemExit(EXIT_INVALID if report.failed else EXIT_VALID)
