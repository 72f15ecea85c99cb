"""Idempotency: a party's requestID identifies its request (EI 1.0 requestID), so a retry is
answered, not carried out again.

A retry here is the same payload sent again with a new signature (the reference client signs
every call afresh): not a replay, which the security cases refuse. Each case checks the
state the retry must not have changed, not only the reply.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from temix import payloads as p
from temix.conformance.catalogue import case
from temix.conformance.trial import Trial
from temix.envelope import SOAP_1_2
from temix.model import Tender

CLAUSE = 'EI 1.0 requestID; temix profile: docs/server.md, "Idempotency"'


def listed(trial: Trial, party: str, tender: Tender) -> list[Tender]:
    """The standing tenders with ``tender``'s id that ``party`` sees."""
    return list(
        trial.succeeds(
            lambda: trial.client(party).request_tenders(tender_ids=(tender.tender_id,)),
            f"{party} listing tender {tender.tender_id}",
        )
    )


def expect_listed_once(trial: Trial, party: str, tender: Tender) -> Tender:
    found = listed(trial, party, tender)
    trial.expect(
        len(found) == 1,
        f"{party} sees {len(found)} tenders with the id {tender.tender_id}, expected one",
    )
    return found[0]


@case(
    "TMX-IDM-001",
    "A CreateTender repeated with the same requestID gets the first reply and creates the "
    "tender once",
    CLAUSE,
)
def repeated_create(trial: Trial) -> None:
    tender = trial.tender()
    request_id = trial.new_id()
    client = trial.client()

    def create() -> p.CreatedTender:
        return client.create_tender(trial.counterparty, tender, request_id=request_id)

    first = trial.succeeds(create, "the CreateTender")
    again = trial.succeeds(create, "the same CreateTender again, signed anew")
    trial.expect(
        again == first,
        f"the repeat got another reply than the first: {again!r} after {first!r}",
    )
    expect_listed_once(trial, trial.party, tender)


@case(
    "TMX-IDM-002",
    "A partial acceptance repeated with the same requestID gets the first reply and takes the "
    "quantity once",
    f"{CLAUSE}; EI 1.0 EiCreateTransaction (a tender accepted in part)",
)
def repeated_partial_acceptance(trial: Trial) -> None:
    tender = trial.tender(quantity="10")
    trial.offer(tender)
    request_id = trial.new_id()
    transaction_id = trial.new_id()
    client = trial.client(trial.counterparty)

    def accept() -> p.CreatedTransaction:
        return client.accept(
            tender,
            trial.party,
            Decimal("4"),
            transaction_id=transaction_id,
            request_id=request_id,
        )

    first = trial.succeeds(accept, "accepting 4 of the 10 offered")
    again = trial.succeeds(accept, "the same acceptance again, signed anew")
    trial.expect(
        again == first,
        f"the repeat got another reply than the first: {again!r} after {first!r}",
    )
    remaining = expect_listed_once(trial, trial.party, tender).product.description.quantity
    trial.expect(
        remaining == Decimal("6"),
        f"after one acceptance of 4 (sent twice) {remaining} of 10 remains, not 6",
    )


def reuse_refused(trial: Trial, first: Tender, second: Tender, what: str) -> None:
    """The party offers ``first``, then ``second`` under the same requestID, which must be
    refused with 409."""
    request_id = trial.new_id()
    client = trial.client()
    trial.succeeds(
        lambda: client.create_tender(trial.counterparty, first, request_id=request_id),
        "the first CreateTender",
    )
    trial.refused(
        lambda: client.create_tender(trial.counterparty, second, request_id=request_id),
        f"{what} under the requestID {request_id}",
        "409",
    )


@case(
    "TMX-IDM-003",
    "A requestID used again with a different payload is refused with 409 and has no effect",
    CLAUSE,
)
def request_id_reused_for_another_payload(trial: Trial) -> None:
    first, second = trial.tender(), trial.tender()
    reuse_refused(trial, first, second, "another tender")
    trial.expect(
        not listed(trial, trial.party, second),
        f"tender {second.tender_id}, sent under a used requestID, was created",
    )
    expect_listed_once(trial, trial.party, first)


@case(
    "TMX-IDM-006",
    "A retry under a used requestID that changes only a quantity is a different payload: "
    "refused with 409, and the tender keeps the first quantity",
    f"{CLAUSE} (the whole payload is compared)",
)
def request_id_reused_with_another_quantity(trial: Trial) -> None:
    first = trial.tender(quantity="10")
    changed = replace(
        first,
        product=replace(
            first.product,
            description=replace(first.product.description, quantity=Decimal("20")),
        ),
    )
    reuse_refused(trial, first, changed, "the same tender at another quantity")
    seen = expect_listed_once(trial, trial.party, first)
    trial.expect(
        seen.product.description.quantity == first.product.description.quantity,
        f"tender {first.tender_id} shows {seen.product.description.quantity}, not the first "
        f"request's {first.product.description.quantity}",
    )


@case(
    "TMX-IDM-004",
    "A requestID one party used is free for another party: both requests are carried out",
    f"{CLAUSE} (a requestID is the party's own)",
)
def request_ids_belong_to_their_party(trial: Trial) -> None:
    request_id = trial.new_id()
    by_party, by_counterparty = trial.tender(), trial.tender()
    trial.succeeds(
        lambda: trial.client().create_tender(trial.counterparty, by_party, request_id=request_id),
        f"{trial.party}'s CreateTender",
    )
    trial.succeeds(
        lambda: trial.client(trial.counterparty).create_tender(
            trial.party, by_counterparty, request_id=request_id
        ),
        f"{trial.counterparty}'s CreateTender under the same requestID",
    )
    expect_listed_once(trial, trial.party, by_party)
    expect_listed_once(trial, trial.counterparty, by_counterparty)


@case(
    "TMX-IDM-005",
    "A SOAP 1.1 request repeated over SOAP 1.2 with the same requestID gets the first reply",
    f"{CLAUSE} (whatever the SOAP version)",
    requires=["soap-1-2"],
)
def repeated_over_another_soap_version(trial: Trial) -> None:
    tender = trial.tender()
    request_id = trial.new_id()
    first = trial.succeeds(
        lambda: trial.client().create_tender(trial.counterparty, tender, request_id=request_id),
        "the CreateTender over SOAP 1.1",
    )
    again = trial.succeeds(
        lambda: trial.client(version=SOAP_1_2).create_tender(
            trial.counterparty, tender, request_id=request_id
        ),
        "the same CreateTender over SOAP 1.2",
    )
    trial.expect(
        again == first,
        f"the SOAP 1.2 repeat got another reply than the first: {again!r} after {first!r}",
    )
    expect_listed_once(trial, trial.party, tender)
