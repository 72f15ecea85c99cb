"""The request and reply payloads of every TeMIX operation, as immutable values.

Optional fields come last so that they can default; the codec's table gives each payload's
element and the wire order of its fields (docs/profile.md). Party ids are plain strings.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from temix.model import (
    Delivery,
    EnergyUnit,
    Interface,
    Interval,
    MarketContext,
    ModelError,
    Position,
    PowerUnit,
    Quote,
    Response,
    Settlement,
    Target,
    Tender,
    Transaction,
)
from temix.settlement import Publication, SettlementStatement

MAX_IDS_PER_REQUEST = 500
"""The most ids (tenders, quotes, transactions, deliveries, counterparties, market contexts) one
request may filter by (docs/profile.md, "Bounds")."""
MAX_INTERVALS_PER_REQUEST = 1000
"""The most intervals one request may ask about: three days of 5-minute intervals."""
MAX_LISTED = MAX_IDS_PER_REQUEST
"""The most items a list reply holds; the ids of the others are named so that they can be asked
for by id, in requests within :data:`MAX_IDS_PER_REQUEST`."""


def over_bounds(request: object) -> str | None:
    """What in ``request`` is over the profile's bounds, or None."""
    for field in fields(request):  # type: ignore[arg-type]
        value = getattr(request, field.name)
        if not isinstance(value, tuple):
            continue
        if field.name == "intervals":
            bound, what = MAX_INTERVALS_PER_REQUEST, "intervals"
        elif field.name.endswith("_ids") or field.name == "market_contexts":
            bound, what = MAX_IDS_PER_REQUEST, field.name.replace("_", " ")
        else:
            continue
        if len(value) > bound:
            return f"a request may name at most {bound} {what}, not {len(value)}"
    return None


def _all_or_none(what: str, parts: tuple[object, ...], items: tuple[object, ...]) -> None:
    """A reply's content after its response is there in full, or absent (a refusal)."""
    absent = {part is None for part in parts}
    if len(absent) > 1 or (absent == {True} and items):
        raise ModelError(
            f"{what} has all of its market context, units and currency, or none of them "
            "and nothing else"
        )


@dataclass(frozen=True)
class CreateTender:
    request_id: str
    party_id: str
    counterparty_id: str
    tenders: tuple[Tender, ...]


@dataclass(frozen=True)
class CreatedTender:
    response: Response
    responses: tuple[Response, ...]
    party_id: str
    counterparty_id: str | None = None
    tender_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CancelTender:
    request_id: str
    party_id: str
    tender_ids: tuple[str, ...]
    counterparty_id: str | None = None


@dataclass(frozen=True)
class CanceledTender:
    response: Response
    party_id: str
    responses: tuple[Response, ...] = ()
    counterparty_id: str | None = None


@dataclass(frozen=True)
class RequestTender:
    request_id: str
    party_id: str
    requestor_party_id: str
    counterparty_ids: tuple[str, ...] = ()
    market_contexts: tuple[str, ...] = ()
    tender_ids: tuple[str, ...] = ()
    intervals: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class ReplyTender:
    response: Response
    responses: tuple[Response, ...] = ()
    tenders: tuple[Tender, ...] = ()


@dataclass(frozen=True)
class DistributeTender:
    request_id: str
    party_id: str
    target: Target
    tenders: tuple[Tender, ...]


@dataclass(frozen=True)
class CreateQuote:
    request_id: str
    publisher_party_id: str
    subscriber_party_id: str
    quotes: tuple[Quote, ...]


@dataclass(frozen=True)
class CreatedQuote:
    response: Response
    subscriber_party_id: str
    responses: tuple[Response, ...] = ()
    publisher_party_id: str | None = None
    quote_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CancelQuote:
    request_id: str
    publisher_party_id: str
    quote_ids: tuple[str, ...]
    subscriber_party_id: str | None = None


@dataclass(frozen=True)
class CanceledQuote:
    response: Response
    responses: tuple[Response, ...] = ()
    subscriber_party_id: str | None = None
    publisher_party_id: str | None = None


@dataclass(frozen=True)
class RequestQuote:
    request_id: str
    requestor_party_id: str
    publisher_party_id: str
    market_contexts: tuple[str, ...] = ()
    quote_ids: tuple[str, ...] = ()
    intervals: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class ReplyQuote:
    response: Response
    responses: tuple[Response, ...] = ()
    quotes: tuple[Quote, ...] = ()


@dataclass(frozen=True)
class CreateTransaction:
    request_id: str
    party_id: str
    counterparty_id: str
    transactions: tuple[Transaction, ...]


@dataclass(frozen=True)
class CreatedTransaction:
    counterparty_id: str
    party_id: str
    response: Response
    responses: tuple[Response, ...] = ()
    transaction_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestTransaction:
    request_id: str
    party_id: str
    requestor_party_id: str
    counterparty_ids: tuple[str, ...] = ()
    market_contexts: tuple[str, ...] = ()
    transaction_ids: tuple[str, ...] = ()
    intervals: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class ReplyTransaction:
    response: Response
    responses: tuple[Response, ...] = ()
    transactions: tuple[Transaction, ...] = ()


@dataclass(frozen=True)
class CreateDelivery:
    request_id: str
    requestor_party_id: str
    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True)
class CreatedDelivery:
    response: Response
    responses: tuple[Response, ...] = ()
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True)
class RequestDelivery:
    request_id: str
    requestor_party_id: str
    party_id: str | None = None
    market_contexts: tuple[str, ...] = ()
    delivery_ids: tuple[str, ...] = ()
    intervals: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class ReplyDelivery:
    response: Response
    responses: tuple[Response, ...] = ()
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True)
class RequestMarketContext:
    request_id: str
    market_contexts: tuple[str, ...]
    party_id: str | None = None


@dataclass(frozen=True)
class ReplyEiMarketContext:
    """EI's own market-context reply, which carries no market context; temix answers with
    :class:`ReplyMarketContext` but reads this one from peers."""

    response: Response
    responses: tuple[Response, ...] = ()


@dataclass(frozen=True)
class ReplyMarketContext:
    response: Response
    market_contexts: tuple[MarketContext, ...] = ()


@dataclass(frozen=True)
class RequestPosition:
    """Positions of one ``settlement``: physical and financial are asked for apart."""

    request_id: str
    requestor_party_id: str
    party_id: str
    market_context: str
    interface: Interface
    intervals: tuple[Interval, ...]
    settlement: Settlement = Settlement.PHYSICAL


@dataclass(frozen=True)
class ReplyPosition:
    """Positions with the party, market context, interface, units and currency they are
    for; a refusal has the response alone and none of the others."""

    response: Response
    party_id: str | None = None
    market_context: str | None = None
    interface: Interface | None = None
    power_unit: PowerUnit | None = None
    energy_unit: EnergyUnit | None = None
    currency: str | None = None
    positions: tuple[Position, ...] = ()
    settlement: Settlement = Settlement.PHYSICAL

    def __post_init__(self) -> None:
        _all_or_none(
            "a position reply",
            (
                self.party_id,
                self.market_context,
                self.interface,
                self.power_unit,
                self.energy_unit,
                self.currency,
            ),
            self.positions,
        )


@dataclass(frozen=True)
class RequestSettlement:
    request_id: str
    requestor_party_id: str
    party_id: str
    market_context: str
    interface: Interface
    period: Interval


@dataclass(frozen=True)
class ReplySettlement:
    """A settlement statement with the market context, units and currency its figures are
    written in; a refusal has the response alone and none of the others."""

    response: Response
    statement: SettlementStatement | None = None
    market_context: str | None = None
    power_unit: PowerUnit | None = None
    energy_unit: EnergyUnit | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        parts = (
            self.statement,
            self.market_context,
            self.power_unit,
            self.energy_unit,
            self.currency,
        )
        if len({part is None for part in parts}) > 1:
            raise ModelError(
                "a settlement reply has a statement, market context, units and currency, "
                "or none of them"
            )


@dataclass(frozen=True)
class RequestPublication:
    """Publications of one ``settlement``: physical and financial prices are published apart."""

    request_id: str
    requestor_party_id: str
    market_context: str
    interface: Interface
    intervals: tuple[Interval, ...]
    settlement: Settlement = Settlement.PHYSICAL


@dataclass(frozen=True)
class ReplyPublication:
    """Publications at one interface: the wire names the interface once, for all of them."""

    response: Response
    market_context: str | None = None
    interface: Interface | None = None
    power_unit: PowerUnit | None = None
    energy_unit: EnergyUnit | None = None
    currency: str | None = None
    publications: tuple[Publication, ...] = ()
    settlement: Settlement = Settlement.PHYSICAL

    def __post_init__(self) -> None:
        _all_or_none(
            "a publication reply",
            (
                self.market_context,
                self.interface,
                self.power_unit,
                self.energy_unit,
                self.currency,
            ),
            self.publications,
        )
        if any(publication.interface != self.interface for publication in self.publications):
            raise ModelError("every publication in a reply is at the reply's interface")


Payload = (
    CreateTender
    | CreatedTender
    | CancelTender
    | CanceledTender
    | RequestTender
    | ReplyTender
    | DistributeTender
    | CreateQuote
    | CreatedQuote
    | CancelQuote
    | CanceledQuote
    | RequestQuote
    | ReplyQuote
    | CreateTransaction
    | CreatedTransaction
    | RequestTransaction
    | ReplyTransaction
    | CreateDelivery
    | CreatedDelivery
    | RequestDelivery
    | ReplyDelivery
    | RequestMarketContext
    | ReplyEiMarketContext
    | ReplyMarketContext
    | RequestPosition
    | ReplyPosition
    | RequestSettlement
    | ReplySettlement
    | RequestPublication
    | ReplyPublication
)
