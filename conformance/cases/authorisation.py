"""Authorisation: a party acts only for itself, on what concerns it (temix profile:
docs/security.md "Parties and roles"; TeMIX paper 2.1).

Whether the endpoint knows the signer at all is the security group's business; these tests sign
with registered parties and check what each one may do.
"""

from __future__ import annotations

from typing import Any

from temix import payloads as p
from temix import rules
from temix.client.errors import Refused
from temix.conformance.cases.tenders import (
    CREATE_TENDER,
    expect_not_listed,
    expect_remaining,
    lots,
    raw_code,
    standing,
)
from temix.conformance.cases.transactions import (
    ACCEPT_TENDER,
    expect_outsider_refused,
    transaction_seen,
)
from temix.conformance.catalogue import case
from temix.conformance.trial import Trial

PARTIES_AND_ROLES = 'temix profile: docs/security.md "Parties and roles"'


def expect_impersonation_refused(trial: Trial, payload: Any, what: str) -> None:
    """Post ``payload``, which speaks for another party, signed by the suite's party: the
    profile answers with an eiResponse 403, not a fault."""
    reply = trial.post(trial.route(type(payload)), trial.envelope(payload, signer=trial.party))
    code = raw_code(reply, what)
    trial.expect(not code.startswith("2"), f"{what}: the endpoint carried it out ({code})")
    if code != "403":
        trial.warn(f"{what}: refused with {code}; the TeMIX profile answers 403")


@case(
    "TMX-AUT-001",
    "A request signed by one party that speaks for another is refused with 403",
    f'{PARTIES_AND_ROLES}, "What the server checks" step 11; TeMIX paper 2.1',
    requires=["signed"],
    after=[ACCEPT_TENDER],
)
def impersonation(trial: Trial) -> None:
    """The party signs a tender written as the counterparty's, and the counterparty's
    acceptance of the party's own tender; neither may take effect."""
    forged = trial.tender(quantity=lots(trial, 10))
    expect_impersonation_refused(
        trial,
        p.CreateTender(trial.new_id(), trial.counterparty, trial.party, (forged,)),
        f"{trial.party} signing a tender that speaks for {trial.counterparty}",
    )
    expect_not_listed(trial, trial.party, forged.tender_id, "was refused")

    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    transaction_id = trial.new_id()
    acceptance = rules.acceptance(tender, tender.product.description.quantity, transaction_id)
    expect_impersonation_refused(
        trial,
        p.CreateTransaction(trial.new_id(), trial.counterparty, trial.party, (acceptance,)),
        f"{trial.party} signing an acceptance that speaks for {trial.counterparty}",
    )
    expect_remaining(trial, trial.counterparty, tender, lots(trial, 10))
    trial.expect(
        transaction_seen(trial, trial.counterparty, transaction_id) is None,
        f"{trial.counterparty} is shown transaction {transaction_id}, which another party "
        "signed for it",
    )


@case(
    "TMX-AUT-002",
    "A party cancelling a tender it did not write is refused with 403 and the tender stands",
    f"{PARTIES_AND_ROLES}; TeMIX paper 3.5: the author withdraws its tender; EI 1.0 EiCancelTender",
    after=[CREATE_TENDER],
)
def cancel_others_tender(trial: Trial) -> None:
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    trial.refused(
        lambda: trial.client(trial.counterparty).cancel_tender(
            tender.tender_id, counterparty=trial.party
        ),
        f"{trial.counterparty} cancelling {trial.party}'s tender {tender.tender_id}",
        "403",
    )
    for viewer in (trial.counterparty, trial.party):
        expect_remaining(trial, viewer, tender, lots(trial, 10))


@case(
    "TMX-AUT-003",
    "A party accepting a tender offered to another party is refused with 403",
    f"{PARTIES_AND_ROLES}; TeMIX paper 2.1: interactions are pairwise; EI 1.0 EiCreateTransaction",
    after=[ACCEPT_TENDER],
)
def accept_tender_offered_to_other(trial: Trial) -> None:
    outsider = trial.third_party
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    expect_outsider_refused(trial, outsider, tender, f"offered to {trial.counterparty}")


@case(
    "TMX-AUT-004",
    "A party reading another party's transactions is refused with 403 and shown none of them",
    f"{PARTIES_AND_ROLES}: a trader reads its own transactions; EI 1.0 EiRequestTransaction",
    after=[ACCEPT_TENDER],
)
def read_others_transactions(trial: Trial) -> None:
    """The party and the third party trade; the counterparty, which is not in that trade,
    asks for the party's transactions and for its own by that transaction's id."""
    outsider = trial.counterparty
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender, to=trial.third_party)
    transaction_id = trial.new_id()
    trial.succeeds(
        lambda: trial.client(trial.third_party).accept(
            tender, trial.party, transaction_id=transaction_id
        ),
        f"{trial.third_party} accepting tender {tender.tender_id}",
    )
    try:
        shown = trial.client(outsider).request_transactions(
            party=trial.party, transaction_ids=(transaction_id,)
        )
    except Refused as refusal:
        if refusal.code != "403":
            trial.warn(
                f"{outsider} asking for {trial.party}'s transactions: refused with "
                f"{refusal.code}; the TeMIX profile answers 403"
            )
    else:
        trial.expect(
            all(each.transaction_id != transaction_id for each in shown),
            f"{outsider} asking for {trial.party}'s transactions is shown {transaction_id}, "
            f"between {trial.party} and {trial.third_party}",
        )
        trial.warn(
            f"{outsider} asking for {trial.party}'s transactions was answered 200; the TeMIX "
            "profile answers 403"
        )
    trial.expect(
        transaction_seen(trial, outsider, transaction_id) is None,
        f"{outsider} asking for its own transactions is shown {transaction_id}, between "
        f"{trial.party} and {trial.third_party}",
    )


@case(
    "TMX-AUT-005",
    "A tender is listed only to its author and the parties it is offered to",
    f"{PARTIES_AND_ROLES}; TeMIX paper 2.13: EiCreateTender goes from a party to a "
    "counterparty; EI 1.0 EiRequestTender",
    after=[CREATE_TENDER],
)
def tender_visible_to_its_parties(trial: Trial) -> None:
    outsider = trial.third_party
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    for viewer in (trial.party, trial.counterparty):
        trial.expect(
            standing(trial, viewer, tender.tender_id) is not None,
            f"tender {tender.tender_id} is not listed to {viewer}",
        )
    expect_not_listed(
        trial, outsider, tender.tender_id, f"{trial.party} offered only to {trial.counterparty}"
    )
