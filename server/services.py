"""The TeMIX services: each request payload in, its reply payload out, over one store unit.

This is the adapter between the pure rules (:mod:`temix.rules`, :mod:`temix.positions`,
:mod:`temix.settlement`) and the store (:mod:`temix.server.store`): it reads the records a rule
needs, runs the rule, writes what it returns and writes the reply. It knows nothing of SOAP.

Conventions every service follows:

* The party a request speaks for is its sender (:func:`sender_of`), the payload's own party
  element; on a signed server the endpoint has already checked that it is the signer.
* A request with several items (tenders, quotes, transactions, deliveries) handles each on its
  own: ``ei:responses`` holds one response per item, with the item's id as ``refID``; the
  overall ``ei:eiResponse`` is 200 when every item succeeded, otherwise the code of the first
  refused item and a description counting the refusals.
* A refusal is an eiResponse with a code from :mod:`temix.responses`, never an exception.
* Parties see only what concerns them: their own transactions, deliveries and positions, the
  tenders they wrote or were offered, and the quotes they published or were sent. A market
  operator (``reads_everything``) reads every party's transactions, deliveries, positions and
  settlements.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from temix import payloads as p
from temix.codec import format_decimal, format_instant
from temix.model import (
    Delivery,
    Location,
    MarketContext,
    Product,
    Response,
    Tender,
    Transaction,
    TransactionRecord,
    TransactiveState,
)
from temix.positions import MarketUnits, deals_of, positions
from temix.responses import ResponseCode, response
from temix.rules import (
    WHOLE_MARKET_CONTEXT,
    OfferedTo,
    Refusal,
    TenderRecord,
    accept_quote,
    accept_tender,
    cancel_tender,
    check_delivered_against,
    check_fits_market,
    create_tender,
    exercise_option,
    expire_if_due,
)
from temix.server.store import Unit
from temix.settlement import PriceKind, SettlementError, publication, settle
from temix.states import OPEN_STATUSES

_SENDER_FIELD: dict[type, str] = {
    p.CreateTender: "party_id",
    p.CancelTender: "party_id",
    p.RequestTender: "requestor_party_id",
    p.DistributeTender: "party_id",
    p.CreateQuote: "publisher_party_id",
    p.CancelQuote: "publisher_party_id",
    p.RequestQuote: "requestor_party_id",
    p.CreateTransaction: "party_id",
    p.RequestTransaction: "requestor_party_id",
    p.CreateDelivery: "requestor_party_id",
    p.RequestDelivery: "requestor_party_id",
    p.RequestMarketContext: "party_id",
    p.RequestPosition: "requestor_party_id",
    p.RequestSettlement: "requestor_party_id",
    p.RequestPublication: "requestor_party_id",
}

ANONYMOUS = ""
"""The sender of a request that names no party (a market-context request may not)."""


def sender_of(request: Any) -> str:
    """The party ``request`` speaks for."""
    value = getattr(request, _SENDER_FIELD[type(request)])
    return ANONYMOUS if value is None else value


def new_delivery_id() -> str:
    return f"D-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class _Outcome:
    """The result of one item of a request: its response, and its id when it was stored."""

    response: Response
    stored_id: str | None = None


def _ok(ref_id: str) -> _Outcome:
    return _Outcome(response(ResponseCode.OK, ref_id), ref_id)


def _refused(refusal: Refusal, ref_id: str) -> _Outcome:
    return _Outcome(refusal.response(ref_id))


def _overall(outcomes: Sequence[_Outcome], request_id: str, what: str, now: datetime) -> Response:
    refused = [outcome.response for outcome in outcomes if not outcome.response.ok]
    if not refused:
        return response(ResponseCode.OK, request_id, created=now)
    first = ResponseCode.from_code(refused[0].code)
    return response(
        first,
        request_id,
        f"{len(refused)} of {len(outcomes)} {what} refused; see the responses",
        created=now,
    )


def _stored_ids(outcomes: Sequence[_Outcome]) -> tuple[str, ...]:
    return tuple(outcome.stored_id for outcome in outcomes if outcome.stored_id is not None)


def _differences(submitted: Any, expected: Any, path: str = "") -> list[str]:
    """The fields where ``submitted`` differs from ``expected``, as readable phrases."""
    if is_dataclass(submitted) and type(submitted) is type(expected):
        found: list[str] = []
        for item in fields(submitted):
            found += _differences(
                getattr(submitted, item.name),
                getattr(expected, item.name),
                f"{path}.{item.name}" if path else item.name,
            )
        return found
    if submitted == expected:
        return []
    return [f"{path} is {_show(submitted)}, expected {_show(expected)}"]


def _show(value: Any) -> str:
    if value is None:
        return "absent"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    return str(value)


def _check_product(submitted: Product, expected: Product, what: str) -> Refusal | None:
    """Refuse a submitted transaction product that is not the one the rule makes (its uid may
    differ: it names the product, not the deal)."""
    differences = _differences(submitted, replace(expected, uid=submitted.uid))
    if not differences:
        return None
    return Refusal(ResponseCode.TERMS_VIOLATED, f"{what}: " + "; ".join(differences))


@dataclass(frozen=True)
class PartyLimits:
    """What one party may hold in the market and how fast it may ask, so that no party crowds
    the others out."""

    max_standing_tenders: int = 10_000
    """Open tenders one party may have written (``temix serve --max-standing-tenders``)."""
    max_offered_to_one: int = 2_000
    """Open tenders one party may offer one other party by name (``--max-offered-to-one``), so
    that no author fills another party's listings."""
    requests_per_second: float | None = None
    """Requests one party may send one worker each second, and at once (``--party-rate``);
    None: no limit. The endpoint applies it (:class:`temix.server.app.RequestRate`)."""

    def __post_init__(self) -> None:
        for name in ("max_standing_tenders", "max_offered_to_one"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more: {getattr(self, name)}")
        if self.requests_per_second is not None and not self.requests_per_second >= 1:
            raise ValueError(f"requests_per_second must be 1 or more: {self.requests_per_second}")


DEFAULT_PARTY_LIMITS = PartyLimits()


class Market:
    """The services of one market, answering one request inside one store unit."""

    def __init__(
        self,
        unit: Unit,
        now: datetime,
        new_id: Callable[[], str] = new_delivery_id,
        *,
        reads_everything: bool = False,
        limits: PartyLimits = DEFAULT_PARTY_LIMITS,
    ) -> None:
        self.unit = unit
        self.now = now
        self.new_id = new_id
        self.reads_everything = reads_everything
        self.limits = limits

    def handle(self, request: Any) -> Any:
        """The reply to ``request`` (any request payload)."""
        return _SERVICES[type(request)](self, request)

    def _listing(
        self, request_id: str, ids: Sequence[str], what: str
    ) -> tuple[Response, tuple[Response, ...]]:
        """The eiResponse of a list reply of ``ids`` (in the order found), and a 206 per-item
        response for each id past :data:`temix.payloads.MAX_LISTED`, which it leaves out."""
        if len(ids) <= p.MAX_LISTED:
            return response(ResponseCode.OK, request_id, created=self.now), ()
        left_out = ids[p.MAX_LISTED :]
        description = (
            f"{p.MAX_LISTED} of the {len(ids)} {what} found are listed; the other "
            f"{len(left_out)} are named in responses with code 206: ask for them by id"
        )
        return response(ResponseCode.OK, request_id, description, created=self.now), tuple(
            response(ResponseCode.NOT_LISTED, each) for each in left_out
        )

    # --- tenders

    def _check_new_product(self, product: Product) -> Refusal | None:
        return check_fits_market(product, self.unit.market_context(product.market_context))

    def _store_tender(self, tender: Tender, author: str, offered_to: OfferedTo) -> _Outcome:
        tender_id = tender.tender_id
        refusal = self._check_new_product(tender.product)
        if refusal is None and self.unit.tender(tender_id) is not None:
            refusal = Refusal(ResponseCode.CONFLICT, f"tender id {tender_id} is already used")
        if refusal is None:
            refusal = self._check_standing(author, offered_to)
        if refusal is not None:
            return _refused(refusal, tender_id)
        record = create_tender(tender, author, offered_to, self.now)
        if isinstance(record, Refusal):
            return _refused(record, tender_id)
        self.unit.add_tender(record, self.now)
        return _ok(tender_id)

    def _check_standing(self, author: str, offered_to: OfferedTo) -> Refusal | None:
        """A refusal when ``author`` already holds as many open tenders as :class:`PartyLimits`
        allows, in all or offered to one of the parties ``offered_to`` names."""
        statuses = tuple(OPEN_STATUSES)
        most = self.limits.max_standing_tenders
        standing = self.unit.standing_count(author, statuses, self.now)
        if standing >= most:
            return Refusal(
                ResponseCode.CONFLICT,
                f"{author} has {most} standing tenders, the most this market keeps for one party "
                "(max-standing-tenders): cancel some or let them expire or fill first",
            )
        most = self.limits.max_offered_to_one
        if standing < most:
            return None  # fewer in all than one party may be offered: no party is at the limit
        for party in sorted(offered_to) if isinstance(offered_to, frozenset) else ():
            if self.unit.standing_count(author, statuses, self.now, offered_to=party) >= most:
                return Refusal(
                    ResponseCode.CONFLICT,
                    f"{author} has {most} standing tenders offered to {party}, the most one "
                    "party may offer another (max-offered-to-one)",
                )
        return None

    def create_tender(self, request: p.CreateTender) -> p.CreatedTender:
        audience = frozenset({request.counterparty_id})
        outcomes = [
            self._store_tender(tender, request.party_id, audience) for tender in request.tenders
        ]
        return p.CreatedTender(
            response=_overall(outcomes, request.request_id, "tenders", self.now),
            responses=tuple(outcome.response for outcome in outcomes),
            party_id=request.party_id,
            counterparty_id=request.counterparty_id,
            tender_ids=_stored_ids(outcomes),
        )

    def _audience(self, target: Any, tender: Tender) -> OfferedTo | Refusal:
        """Whom a distributed tender goes to: the target's parties and the members of its
        groups; the group whose id is the tender's market context URI is the whole market."""
        if target.interfaces or target.group_names:
            return Refusal(
                ResponseCode.BAD_REQUEST,
                "temix distributes tenders to parties and groups by id, not to interfaces "
                "or group names",
            )
        parties = set(target.party_ids)
        for group_id in target.group_ids:
            if group_id == tender.product.market_context:
                return WHOLE_MARKET_CONTEXT
            members = self.unit.group(group_id)
            if not members:
                return Refusal(ResponseCode.UNKNOWN, f"unknown group {group_id}")
            parties |= members
        return frozenset(parties)

    def distribute_tender(self, request: p.DistributeTender) -> p.CreatedTender:
        outcomes = []
        for tender in request.tenders:
            audience = self._audience(request.target, tender)
            if isinstance(audience, Refusal):
                outcomes.append(_refused(audience, tender.tender_id))
                continue
            if audience is not WHOLE_MARKET_CONTEXT:
                audience = audience - {request.party_id}
            outcomes.append(self._store_tender(tender, request.party_id, audience))
        return p.CreatedTender(
            response=_overall(outcomes, request.request_id, "tenders", self.now),
            responses=tuple(outcome.response for outcome in outcomes),
            party_id=request.party_id,
            tender_ids=_stored_ids(outcomes),
        )

    def cancel_tender(self, request: p.CancelTender) -> p.CanceledTender:
        outcomes = []
        for tender_id in request.tender_ids:
            record = self.unit.tender(tender_id, for_update=True)
            if record is None:
                refusal = Refusal(ResponseCode.UNKNOWN, f"no tender has the id {tender_id}")
                outcomes.append(_refused(refusal, tender_id))
                continue
            cancelled = cancel_tender(record, request.party_id, self.now)
            if isinstance(cancelled, Refusal):
                outcomes.append(_refused(cancelled, tender_id))
                continue
            self.unit.update_tender(cancelled)
            outcomes.append(_ok(tender_id))
        return p.CanceledTender(
            response=_overall(outcomes, request.request_id, "cancellations", self.now),
            party_id=request.party_id,
            responses=tuple(outcome.response for outcome in outcomes),
            counterparty_id=request.counterparty_id,
        )

    def request_tender(self, request: p.RequestTender) -> p.ReplyTender:
        """The standing tenders the requestor wrote or was offered, each with the rate that
        remains of it as its quantity."""
        standing = []
        for stored in self.unit.tenders(
            tender_ids=request.tender_ids,
            market_contexts_=request.market_contexts,
            authors=request.counterparty_ids,
            intervals=request.intervals,
            statuses=tuple(OPEN_STATUSES),
            open_at=self.now,
            visible_to=request.requestor_party_id,
        ):
            record = expire_if_due(stored, self.now)
            if record.status not in OPEN_STATUSES:
                continue
            standing.append(_as_standing(record))
        answer, not_listed = self._listing(
            request.request_id, [tender.tender_id for tender in standing], "tenders"
        )
        return p.ReplyTender(answer, not_listed, tuple(standing[: p.MAX_LISTED]))

    # --- quotes

    def create_quote(self, request: p.CreateQuote) -> p.CreatedQuote:
        outcomes = []
        for quote in request.quotes:
            refusal = next(
                filter(None, (self._check_new_product(item) for item in quote.products)), None
            )
            if refusal is None and self.unit.quote(quote.quote_id) is not None:
                refusal = Refusal(
                    ResponseCode.CONFLICT, f"quote id {quote.quote_id} is already used"
                )
            if refusal is not None:
                outcomes.append(_refused(refusal, quote.quote_id))
                continue
            self.unit.add_quote(
                quote, request.publisher_party_id, request.subscriber_party_id, self.now
            )
            outcomes.append(_ok(quote.quote_id))
        return p.CreatedQuote(
            response=_overall(outcomes, request.request_id, "quotes", self.now),
            subscriber_party_id=request.subscriber_party_id,
            responses=tuple(outcome.response for outcome in outcomes),
            publisher_party_id=request.publisher_party_id,
            quote_ids=_stored_ids(outcomes),
        )

    def cancel_quote(self, request: p.CancelQuote) -> p.CanceledQuote:
        outcomes = []
        for quote_id in request.quote_ids:
            stored = self.unit.quote(quote_id)
            if stored is None:
                refusal = Refusal(ResponseCode.UNKNOWN, f"no quote has the id {quote_id}")
            elif stored.publisher != request.publisher_party_id:
                refusal = Refusal(
                    ResponseCode.NOT_AUTHORISED,
                    f"only the publisher of quote {quote_id} can cancel it",
                )
            elif stored.cancelled:
                refusal = Refusal(ResponseCode.GONE, f"quote {quote_id} is already cancelled")
            else:
                self.unit.cancel_quote(quote_id)
                outcomes.append(_ok(quote_id))
                continue
            outcomes.append(_refused(refusal, quote_id))
        return p.CanceledQuote(
            response=_overall(outcomes, request.request_id, "cancellations", self.now),
            responses=tuple(outcome.response for outcome in outcomes),
            subscriber_party_id=request.subscriber_party_id,
            publisher_party_id=request.publisher_party_id,
        )

    def request_quote(self, request: p.RequestQuote) -> p.ReplyQuote:
        """The publisher's standing quotes that the requestor published or was sent."""
        requestor = request.requestor_party_id
        found = self.unit.quotes(
            publisher=request.publisher_party_id,
            quote_ids=request.quote_ids,
            market_contexts_=request.market_contexts,
            intervals=request.intervals,
        )
        visible = tuple(
            quote
            for quote, subscriber in found
            if requestor in (subscriber, request.publisher_party_id)
        )
        answer, not_listed = self._listing(
            request.request_id, [quote.quote_id for quote in visible], "quotes"
        )
        return p.ReplyQuote(answer, not_listed, visible[: p.MAX_LISTED])

    # --- transactions

    def _accept(self, submitted: Transaction, party: str, counterparty: str) -> _Outcome:
        transaction_id = submitted.transaction_id
        tender_id = submitted.tender_id
        if tender_id is None:
            return _refused(
                Refusal(
                    ResponseCode.BAD_REQUEST,
                    "a transaction is made by accepting a tender: name it in ei:tenderID",
                ),
                transaction_id,
            )
        record = self.unit.tender(tender_id, for_update=True)
        if record is None:
            quote = self.unit.quote(tender_id)
            if quote is not None:
                return _refused(accept_quote(quote.quote), transaction_id)
            refusal = Refusal(ResponseCode.UNKNOWN, f"no tender has the id {tender_id}")
            return _refused(refusal, transaction_id)
        accepted = accept_tender(
            record, party, submitted.product.description.quantity, transaction_id, self.now
        )
        if isinstance(accepted, Refusal):
            return _refused(accepted, transaction_id)
        updated, made = accepted
        refusal = self._check_made(submitted, made, counterparty, record.author)
        if refusal is not None:
            return _refused(refusal, transaction_id)
        self.unit.update_tender(updated)
        self.unit.add_transaction(_with_uid(made, submitted.product.uid), self.now)
        return _ok(transaction_id)

    def _exercise(self, submitted: Transaction, party: str, counterparty: str) -> _Outcome:
        transaction_id = submitted.transaction_id
        option_id = submitted.product.related_to
        if option_id is None:
            refusal = Refusal(
                ResponseCode.BAD_REQUEST,
                "an exercise names the option transaction it exercises in xcal:related-to",
            )
            return _refused(refusal, transaction_id)
        option = self.unit.transaction(option_id, for_update=True)
        if option is None or party not in (option.buyer, option.seller):
            refusal = Refusal(ResponseCode.UNKNOWN, f"{party} holds no transaction {option_id}")
            return _refused(refusal, transaction_id)
        product = submitted.product
        market = self.unit.market_context(option.transaction.product.market_context)
        made = exercise_option(
            option,
            party,
            product.interval,
            product.description.quantity,
            transaction_id,
            self.now,
            self.unit.exercises_of(option_id),
            time_zone="UTC" if market is None else market.time_zone,
        )
        if isinstance(made, Refusal):
            return _refused(made, transaction_id)
        writer = made.seller if made.buyer == party else made.buyer
        refusal = self._check_made(submitted, made, counterparty, writer)
        if refusal is not None:
            return _refused(refusal, transaction_id)
        self.unit.add_transaction(_with_uid(made, product.uid), self.now)
        return _ok(transaction_id)

    def _check_made(
        self, submitted: Transaction, made: TransactionRecord, counterparty: str, expected: str
    ) -> Refusal | None:
        """What stops storing the transaction a rule made from the one submitted."""
        transaction_id = submitted.transaction_id
        if counterparty != expected:
            return Refusal(
                ResponseCode.BAD_REQUEST,
                f"the counterparty of transaction {transaction_id} is {expected}, "
                f"not {counterparty}",
            )
        refusal = _check_product(
            submitted.product, made.transaction.product, f"transaction {transaction_id}"
        )
        if refusal is not None:
            return refusal
        refusal = self._check_new_product(made.transaction.product)
        if refusal is not None:
            return refusal
        if self.unit.transaction(transaction_id) is not None:
            return Refusal(
                ResponseCode.CONFLICT, f"transaction id {transaction_id} is already used"
            )
        return None

    def create_transaction(self, request: p.CreateTransaction) -> p.CreatedTransaction:
        outcomes = []
        for submitted in request.transactions:
            if submitted.product.state is TransactiveState.EXERCISE:
                make = self._exercise
            else:
                make = self._accept
            outcomes.append(make(submitted, request.party_id, request.counterparty_id))
        return p.CreatedTransaction(
            counterparty_id=request.counterparty_id,
            party_id=request.party_id,
            response=_overall(outcomes, request.request_id, "transactions", self.now),
            responses=tuple(outcome.response for outcome in outcomes),
            transaction_ids=_stored_ids(outcomes),
        )

    def request_transaction(self, request: p.RequestTransaction) -> p.ReplyTransaction:
        """The transactions of the party the request names, matching the request's filters:
        a party reads only its own, a market operator anyone's."""
        requestor = request.requestor_party_id
        if request.party_id != requestor and not self.reads_everything:
            refusal = Refusal(
                ResponseCode.NOT_AUTHORISED,
                f"{requestor} can read only its own transactions, not {request.party_id}'s",
            )
            return p.ReplyTransaction(response=refusal.response(request.request_id, self.now))
        records = self.unit.transactions(
            party=request.party_id,
            transaction_ids=request.transaction_ids,
            counterparties=request.counterparty_ids,
            market_contexts_=request.market_contexts,
            intervals=request.intervals,
        )
        found = tuple(record.transaction for record in records)
        answer, not_listed = self._listing(
            request.request_id, [each.transaction_id for each in found], "transactions"
        )
        return p.ReplyTransaction(answer, not_listed, found[: p.MAX_LISTED])

    # --- deliveries

    def create_delivery(self, request: p.CreateDelivery) -> p.CreatedDelivery:
        outcomes = []
        stored: list[Delivery] = []
        for delivery in request.deliveries:
            unknown = sorted(
                {
                    reading.market_context
                    for reading in delivery.readings
                    if self.unit.market_context(reading.market_context) is None
                }
            )
            if unknown:
                refusal = Refusal(
                    ResponseCode.UNKNOWN, f"unknown market context {', '.join(unknown)}"
                )
                outcomes.append(_refused(refusal, delivery.uid))
                continue
            against = self._check_delivered_against(delivery, request.requestor_party_id)
            if against is not None:
                outcomes.append(_refused(against, delivery.uid))
                continue
            kept = replace(delivery, delivery_id=self.new_id(), created=self.now)
            self.unit.add_delivery(kept, request.requestor_party_id)
            stored.append(kept)
            outcomes.append(_Outcome(response(ResponseCode.OK, delivery.uid), kept.delivery_id))
        return p.CreatedDelivery(
            response=_overall(outcomes, request.request_id, "deliveries", self.now),
            responses=tuple(outcome.response for outcome in outcomes),
            deliveries=tuple(stored),
        )

    def _check_delivered_against(self, delivery: Delivery, party: str) -> Refusal | None:
        """The first refusal for a reading naming a transaction it cannot deliver against."""
        for transaction_id in dict.fromkeys(
            reading.transaction_id for reading in delivery.readings if reading.transaction_id
        ):
            refusal = check_delivered_against(
                transaction_id, self.unit.transaction(transaction_id), party
            )
            if refusal is not None:
                return refusal
        return None

    def request_delivery(self, request: p.RequestDelivery) -> p.ReplyDelivery:
        """The stored deliveries of the requestor (or of the party a market operator names)
        matching the request's filters."""
        requestor = request.requestor_party_id
        if request.party_id not in (None, requestor) and not self.reads_everything:
            refusal = Refusal(
                ResponseCode.NOT_AUTHORISED,
                f"{requestor} can read only its own deliveries, not {request.party_id}'s",
            )
            return p.ReplyDelivery(response=refusal.response(request.request_id, self.now))
        found = self.unit.deliveries(
            party=request.party_id or requestor,
            delivery_ids=request.delivery_ids,
            market_contexts_=request.market_contexts,
            intervals=request.intervals,
        )
        answer, not_listed = self._listing(
            request.request_id, [each.delivery_id or "" for each in found], "deliveries"
        )
        return p.ReplyDelivery(answer, not_listed, tuple(found[: p.MAX_LISTED]))

    # --- market contexts and positions

    def request_market_context(self, request: p.RequestMarketContext) -> p.ReplyMarketContext:
        found = []
        unknown = []
        for uri in request.market_contexts:
            context = self.unit.market_context(uri)
            if context is None:
                unknown.append(uri)
            else:
                found.append(context)
        if unknown:
            answer = response(
                ResponseCode.UNKNOWN,
                request.request_id,
                f"unknown market context {', '.join(unknown)}",
                created=self.now,
            )
        else:
            answer = response(ResponseCode.OK, request.request_id, created=self.now)
        return p.ReplyMarketContext(response=answer, market_contexts=tuple(found))

    def request_position(self, request: p.RequestPosition) -> p.ReplyPosition:
        """The party's net positions at the interface over each interval (sells minus buys,
        in the market's units; see :mod:`temix.positions`)."""
        market = self._market_for(
            request.party_id, request.requestor_party_id, request.market_context, "positions"
        )
        if isinstance(market, Refusal):
            return p.ReplyPosition(market.response(request.request_id, self.now))
        records = self.unit.transactions(
            party=request.party_id,
            market_contexts_=(market.uri,),
            intervals=request.intervals,
        )
        deals = [deal for record in records for deal in deals_of(record)]
        units = MarketUnits.of(market)
        return p.ReplyPosition(
            response=response(ResponseCode.OK, request.request_id, created=self.now),
            party_id=request.party_id,
            market_context=market.uri,
            interface=request.interface,
            power_unit=market.power_unit,
            energy_unit=market.energy_unit,
            currency=market.currency,
            positions=positions(
                deals,
                request.party_id,
                request.interface,
                request.intervals,
                units=units,
                settlement=request.settlement,
            ),
            settlement=request.settlement,
        )

    # --- settlement and publication

    def _market_for(
        self, party: str, requestor: str, uri: str, what: str
    ) -> MarketContext | Refusal:
        if party != requestor and not self.reads_everything:
            return Refusal(
                ResponseCode.NOT_AUTHORISED,
                f"{requestor} can read only its own {what}, not {party}'s",
            )
        market = self.unit.market_context(uri)
        if market is None:
            return Refusal(ResponseCode.UNKNOWN, f"unknown market context {uri}")
        return market

    def request_settlement(self, request: p.RequestSettlement) -> p.ReplySettlement:
        """The party's metered delivery over the period settled against its physical
        transactions at the balancing prices loaded for the interface, and its financial
        transactions cashed out at the index prices (see :mod:`temix.settlement`)."""
        market = self._market_for(
            request.party_id, request.requestor_party_id, request.market_context, "settlement"
        )
        if isinstance(market, Refusal):
            return p.ReplySettlement(market.response(request.request_id, self.now))
        interface = request.interface
        if not isinstance(interface, Location):
            refusal = Refusal(
                ResponseCode.BAD_REQUEST,
                "settlement is at a node or meter (a point interface), not a transport path",
            )
            return p.ReplySettlement(refusal.response(request.request_id, self.now))
        period = request.period
        records = self.unit.transactions(
            party=request.party_id, market_contexts_=(market.uri,), intervals=(period,)
        )
        deliveries = [
            _in_market(delivery, market.uri)
            for delivery in self.unit.deliveries(
                party=request.party_id, market_contexts_=(market.uri,), intervals=(period,)
            )
        ]
        try:
            statement = settle(
                [deal for record in records for deal in deals_of(record)],
                deliveries,
                request.party_id,
                interface,
                period,
                self.unit.prices(PriceKind.BALANCING, market.uri, interface.id, period),
                index_prices=self.unit.prices(PriceKind.INDEX, market.uri, interface.id, period),
                units=MarketUnits.of(market),
            )
        except SettlementError as error:
            refusal = Refusal(ResponseCode.CONFLICT, f"cannot settle yet: {error}")
            return p.ReplySettlement(refusal.response(request.request_id, self.now))
        return p.ReplySettlement(
            response(ResponseCode.OK, request.request_id, created=self.now),
            statement,
            market.uri,
            market.power_unit,
            market.energy_unit,
            market.currency,
        )

    def request_publication(self, request: p.RequestPublication) -> p.ReplyPublication:
        """Transacted prices and quantities at the interface for each interval, from every
        party's transactions: publication is public to the market."""
        market = self.unit.market_context(request.market_context)
        if market is None:
            refusal = Refusal(
                ResponseCode.UNKNOWN, f"unknown market context {request.market_context}"
            )
            return p.ReplyPublication(refusal.response(request.request_id, self.now))
        units = MarketUnits.of(market)
        published = []
        for interval in request.intervals:
            records = self.unit.all_transactions(market.uri, interval)
            deals = [deals_of(record)[0] for record in records]
            published.append(
                publication(
                    deals, interval, request.interface, units=units, settlement=request.settlement
                )
            )
        return p.ReplyPublication(
            response(ResponseCode.OK, request.request_id, created=self.now),
            market.uri,
            request.interface,
            market.power_unit,
            market.energy_unit,
            market.currency,
            tuple(published),
            request.settlement,
        )


def _in_market(delivery: Delivery, market_context: str) -> Delivery:
    """The delivery with only its readings in ``market_context``."""
    readings = tuple(r for r in delivery.readings if r.market_context == market_context)
    return replace(delivery, readings=readings)


def _as_standing(record: TenderRecord) -> Tender:
    """The tender as it stands: its product's quantity is the rate that remains."""
    product = record.tender.product
    description = replace(product.description, quantity=record.remaining)
    return replace(record.tender, product=replace(product, description=description))


def _with_uid(record: TransactionRecord, uid: str) -> TransactionRecord:
    transaction = record.transaction
    product = replace(transaction.product, uid=uid)
    return replace(record, transaction=replace(transaction, product=product))


_SERVICES: dict[type, Callable[[Market, Any], Any]] = {
    p.CreateTender: Market.create_tender,
    p.CancelTender: Market.cancel_tender,
    p.RequestTender: Market.request_tender,
    p.DistributeTender: Market.distribute_tender,
    p.CreateQuote: Market.create_quote,
    p.CancelQuote: Market.cancel_quote,
    p.RequestQuote: Market.request_quote,
    p.CreateTransaction: Market.create_transaction,
    p.RequestTransaction: Market.request_transaction,
    p.CreateDelivery: Market.create_delivery,
    p.RequestDelivery: Market.request_delivery,
    p.RequestMarketContext: Market.request_market_context,
    p.RequestPosition: Market.request_position,
    p.RequestSettlement: Market.request_settlement,
    p.RequestPublication: Market.request_publication,
}
