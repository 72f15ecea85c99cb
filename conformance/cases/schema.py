"""Schema: every reply validates against the TeMIX schemas, and a request that does not is
refused before anything is done with it.

The run validates every SOAP reply payload as it arrives, so the positive test only has to
make each operation answer once. The negative tests start from a valid request, spoil it in one
place, sign it, and check both the fault and that nothing was stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from lxml import etree

from temix import codec, rules
from temix import payloads as p
from temix.conformance.cases.soap import (
    FOREIGN_NS,
    PROFILE_OPERATIONS,
    ProfileOperation,
    needed_operations,
)
from temix.conformance.catalogue import Failed, case
from temix.conformance.trial import RawReply, Trial
from temix.envelope import SOAP_1_1
from temix.model import (
    Delivery,
    MeterReading,
    Quote,
    Target,
    Tender,
    TransactiveState,
)
from temix.namespaces import EI, EMIX, SOAP11, prefixed

EVERY_REPLY_VALID = "TMX-SCH-001"


@dataclass(frozen=True)
class Call:
    """One request of the tour of every operation, and who signs it."""

    operation: str
    payload: Callable[[], object]
    signer: str


def _tour(trial: Trial) -> list[Call]:
    """A valid request for each operation of the profile, in an order where each one finds
    what it asks about: tenders offered, one cancelled, one accepted, a quote published and
    cancelled, a delivery reported, then the reads."""
    party, counterparty = trial.party, trial.counterparty
    market = trial.market
    interval = trial.interval()
    accepted = trial.tender(interval=interval)
    cancelled, distributed = trial.tender(), trial.tender()
    quote = Quote(trial.new_id(), (trial.product(state=TransactiveState.INDICATION_OF_INTEREST),))
    transaction = rules.acceptance(accepted, accepted.product.description.quantity, trial.new_id())
    delivery = Delivery(
        trial.new_id(),
        False,
        (MeterReading(interval, accepted.product.description.quantity, market.uri, trial.node),),
    )
    return [
        Call(
            "EiCreateTender",
            lambda: p.CreateTender(trial.new_id(), party, counterparty, (accepted, cancelled)),
            party,
        ),
        Call(
            "EiRequestTender",
            lambda: p.RequestTender(trial.new_id(), party, party, tender_ids=(accepted.tender_id,)),
            party,
        ),
        Call(
            "EiCancelTender",
            lambda: p.CancelTender(trial.new_id(), party, (cancelled.tender_id,), counterparty),
            party,
        ),
        Call(
            "EiDistributeTender",
            lambda: p.DistributeTender(
                trial.new_id(), party, Target(party_ids=(counterparty,)), (distributed,)
            ),
            party,
        ),
        Call(
            "EiCreateTransaction",
            lambda: p.CreateTransaction(trial.new_id(), counterparty, party, (transaction,)),
            counterparty,
        ),
        Call(
            "EiRequestTransaction",
            lambda: p.RequestTransaction(
                trial.new_id(), party, party, transaction_ids=(transaction.transaction_id,)
            ),
            party,
        ),
        Call(
            "EiCreateQuote",
            lambda: p.CreateQuote(trial.new_id(), party, counterparty, (quote,)),
            party,
        ),
        Call(
            "EiRequestQuote",
            lambda: p.RequestQuote(trial.new_id(), party, party, quote_ids=(quote.quote_id,)),
            party,
        ),
        Call(
            "EiCancelQuote",
            lambda: p.CancelQuote(trial.new_id(), party, (quote.quote_id,), counterparty),
            party,
        ),
        Call(
            "EiCreateDelivery",
            lambda: p.CreateDelivery(trial.new_id(), counterparty, (delivery,)),
            counterparty,
        ),
        Call(
            "EiRequestDelivery",
            lambda: p.RequestDelivery(trial.new_id(), counterparty, intervals=(interval,)),
            counterparty,
        ),
        Call(
            "EiRequestMarketContext",
            lambda: p.RequestMarketContext(trial.new_id(), (market.uri,), party),
            party,
        ),
        Call(
            "EiRequestPosition",
            lambda: p.RequestPosition(
                trial.new_id(), party, party, market.uri, trial.node, (interval,)
            ),
            party,
        ),
        Call(
            "EiRequestSettlement",
            lambda: p.RequestSettlement(
                trial.new_id(), counterparty, counterparty, market.uri, trial.node, interval
            ),
            counterparty,
        ),
        Call(
            "EiRequestPublication",
            lambda: p.RequestPublication(
                trial.new_id(), party, market.uri, trial.node, (interval,)
            ),
            party,
        ),
    ]


def declared_tour(trial: Trial) -> Iterator[tuple[Call, ProfileOperation]]:
    """The tour's requests for the operations the endpoint declares, each with its operation."""
    by_name = {operation.name: operation for operation in PROFILE_OPERATIONS}
    needed = {operation.name for operation in needed_operations(trial.capabilities)}
    for call in _tour(trial):
        if call.operation in needed:
            yield call, by_name[call.operation]


def reply_payload(reply: RawReply) -> etree._Element:
    """The one element of the reply's Body; fails for a fault or anything else."""
    env = reply.route.version.envelope_ns
    body = reply.envelope().find(f"{{{env}}}Body")
    content = [] if body is None else [child for child in body if isinstance(child.tag, str)]
    if len(content) != 1 or content[0].tag == f"{{{env}}}Fault":
        raise Failed(f"{reply.route.operation}: expected its reply payload, got {reply.summary}")
    return content[0]


@case(
    EVERY_REPLY_VALID,
    "Each operation the endpoint declares answers a valid request with its reply element, "
    "valid against the TeMIX schemas",
    "XML Schema 1.0 (validation); EI 1.0 payloads; temix profile: docs/profile.md "
    "(the schema rule; payloads and operations)",
)
def every_reply_valid(trial: Trial) -> None:
    for call, operation in declared_tour(trial):
        route = trial.route(operation.request)
        reply = trial.post(route, trial.envelope(call.payload(), signer=call.signer))
        trial.expect(
            reply.status == 200, f"{call.operation}: expected HTTP 200, got {reply.summary}"
        )
        element = reply_payload(reply)
        trial.expect(
            element.tag in operation.reply_tags,
            f"{call.operation} answered with {prefixed(element.tag)}, not "
            + " or ".join(prefixed(tag) for tag in operation.reply_tags),
        )
        code = element.findtext(f"{{{EI}}}eiResponse/{{{EI}}}responseCode") or ""
        if not code.startswith("2"):
            trial.warn(
                f"{call.operation} refused a valid request with {code or 'no code'}: "
                "only the refusal's shape was validated"
            )


@case(
    "TMX-SCH-002",
    "The eiResponse's refID echoes the request's requestID, accepted or refused",
    "EI 1.0 eiResponse (refID); temix profile: docs/profile.md (responses)",
)
def response_echoes_request_id(trial: Trial) -> None:
    client = trial.client()
    tender = trial.tender()
    request_id = trial.new_id()
    created = trial.succeeds(
        lambda: client.create_tender(trial.counterparty, tender, request_id=request_id),
        "offering a tender",
    )
    trial.expect(
        created.response.ref_id == request_id,
        f"eiCreatedTender refID is {created.response.ref_id!r}, the requestID {request_id!r}",
    )
    items = [item.ref_id for item in created.responses]
    trial.expect(
        tender.tender_id in items,
        f"no per-tender response names {tender.tender_id} as its refID (got {items})",
    )
    stray = replace(
        tender,
        tender_id=trial.new_id(),
        product=replace(tender.product, market_context=f"urn:temix:conformance:{trial.new_id()}"),
    )
    request_id = trial.new_id()
    refusal = trial.refused(
        lambda: client.create_tender(trial.counterparty, stray, request_id=request_id),
        "a tender in an unknown market context",
    )
    trial.expect(
        refusal.response.ref_id == request_id,
        f"the refusal's refID is {refusal.response.ref_id!r}, the requestID {request_id!r}",
    )


def tender_request(trial: Trial) -> tuple[Tender, etree._Element]:
    tender = trial.tender()
    request = p.CreateTender(trial.new_id(), trial.party, trial.counterparty, (tender,))
    return tender, codec.encode(request)


def refused_as_invalid(trial: Trial, payload: etree._Element, what: str) -> None:
    """``payload`` (a spoilt eiCreateTender) is answered with a SOAP 1.1 Client fault."""
    reply = trial.post(trial.route(p.CreateTender), trial.envelope(payload, version=SOAP_1_1))
    fault = reply.fault()
    trial.expect(fault is not None, f"{what}: expected a Client fault, got {reply.summary}")
    trial.expect(
        fault.code == f"{{{SOAP11}}}Client",
        f"{what}: expected a soap:Client fault, got {prefixed(fault.code)}",
    )


def tender_not_stored(trial: Trial, tender: Tender) -> None:
    """Fail when the endpoint stored ``tender`` although it refused the request."""
    listed = trial.succeeds(
        lambda: trial.client().request_tenders(tender_ids=(tender.tender_id,)),
        "listing the tender",
    )
    trial.expect(not listed, f"the tender {tender.tender_id} was stored all the same")


@case(
    "TMX-SCH-003",
    "A request with an element the schema does not allow is refused with a Client fault "
    "and not carried out",
    "XML Schema 1.0 (validation); temix profile: docs/server.md (SOAP faults for requests "
    "not valid against the schemas)",
)
def unknown_element_refused(trial: Trial) -> None:
    tender, payload = tender_request(trial)
    tender_id = payload.find(f"{{{EI}}}eiTender/{{{EI}}}tenderID")
    extra = etree.Element(f"{{{FOREIGN_NS}}}note", nsmap={"x": FOREIGN_NS})
    extra.text = "not in the schema"
    tender_id.addnext(extra)
    refused_as_invalid(trial, payload, "a tender with an unknown element")
    tender_not_stored(trial, tender)


@case(
    "TMX-SCH-004",
    "A request whose quantity is not a number is refused with a Client fault and not carried out",
    "XML Schema 1.0 (xs:float); EMIX 1.0 quantity; temix profile: docs/server.md (SOAP faults "
    "for requests not valid against the schemas)",
)
def mistyped_quantity_refused(trial: Trial) -> None:
    tender, payload = tender_request(trial)
    quantity = next(payload.iter(f"{{{EMIX}}}quantity"))
    quantity.text = "ten"
    refused_as_invalid(trial, payload, "a tender quantity of 'ten'")
    tender_not_stored(trial, tender)


@case(
    "TMX-SCH-005",
    "A request missing a required element is refused with a Client fault and not carried out",
    "XML Schema 1.0 (minOccurs); EMIX 1.0 side; temix profile: docs/server.md (SOAP faults "
    "for requests not valid against the schemas)",
)
def missing_element_refused(trial: Trial) -> None:
    tender, payload = tender_request(trial)
    side = next(payload.iter(f"{{{EMIX}}}side"))
    side.getparent().remove(side)
    refused_as_invalid(trial, payload, "a tender without emix:side")
    tender_not_stored(trial, tender)


@case(
    "TMX-SCH-006",
    "A well-formed Body element of no TeMIX operation is refused with a Client fault",
    "SOAP 1.1 4.4.1 (Client); temix profile: docs/server.md (SOAP faults for requests that "
    "are not acceptable SOAP)",
)
def foreign_body_refused(trial: Trial) -> None:
    element = etree.Element(f"{{{FOREIGN_NS}}}eiCreateTender", nsmap={"x": FOREIGN_NS})
    etree.SubElement(element, f"{{{FOREIGN_NS}}}requestID").text = trial.new_id()
    reply = trial.post(trial.route(p.CreateTender), trial.envelope(element))
    fault = reply.fault()
    trial.expect(fault is not None, f"expected a Client fault, got {reply.summary}")
    trial.expect(
        fault.code == f"{{{SOAP11}}}Client",
        f"expected a soap:Client fault, got {prefixed(fault.code)}",
    )
