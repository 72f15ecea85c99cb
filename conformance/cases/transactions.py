"""Transactions: accepting tenders, wholly or in part, and what may not be accepted (TeMIX
paper 2.9, 2.13; EI 1.0 EiCreateTransaction, EiRequestTransaction)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from decimal import Decimal

from temix import rules
from temix.client.errors import Refused
from temix.conformance.cases.tenders import (
    CREATE_TENDER,
    expect_not_listed,
    expect_remaining,
    lots,
)
from temix.conformance.catalogue import case
from temix.conformance.trial import Trial
from temix.model import (
    Interval,
    MarketGranularity,
    Quote,
    Side,
    Target,
    Tender,
    Transaction,
    TransactiveState,
)

ACCEPT_TENDER = "TMX-TRX-001"


def transaction_seen(
    trial: Trial, viewer: str, transaction_id: str, *counterparties: str
) -> Transaction | None:
    """Transaction ``transaction_id`` as ``viewer``'s EiRequestTransaction returns it asked
    by its id (and ``counterparties``), or None when it is not returned."""
    found = trial.succeeds(
        lambda: trial.client(viewer).request_transactions(
            transaction_ids=(transaction_id,), counterparties=counterparties
        ),
        f"{viewer} asking for transaction {transaction_id}",
    )
    matching = [each for each in found if each.transaction_id == transaction_id]
    trial.expect(
        len(matching) <= 1, f"{viewer} was sent transaction {transaction_id} {len(matching)} times"
    )
    return matching[0] if matching else None


def expect_not_taken(trial: Trial, tender: Tender, transaction_id: str) -> None:
    """After a refused acceptance of the party's ``tender`` (10 lots): all of it still stands,
    and the party is shown no transaction ``transaction_id``."""
    expect_remaining(trial, trial.counterparty, tender, lots(trial, 10))
    trial.expect(
        transaction_seen(trial, trial.party, transaction_id) is None,
        f"{trial.party} is shown transaction {transaction_id}, which was refused",
    )


def expect_outsider_refused(trial: Trial, outsider: str, tender: Tender, why: str) -> None:
    """``outsider``'s acceptance of the party's ``tender`` (10 lots), which is not offered to
    it (``why`` says to whom it is), is refused with 403 and takes nothing."""
    transaction_id = trial.new_id()
    trial.refused(
        lambda: trial.client(outsider).accept(tender, trial.party, transaction_id=transaction_id),
        f"{outsider} accepting tender {tender.tender_id}, {why}",
        "403",
    )
    expect_not_taken(trial, tender, transaction_id)


def accept(trial: Trial, tender: Tender, quantity: Decimal | None = None) -> str:
    """The counterparty accepts ``quantity`` (default: all) of the party's ``tender``; the
    transaction id, once the reply names it."""
    transaction_id = trial.new_id()
    reply = trial.succeeds(
        lambda: trial.client(trial.counterparty).accept(
            tender, trial.party, quantity, transaction_id=transaction_id
        ),
        f"{trial.counterparty} accepting {quantity or 'all'} of tender {tender.tender_id}",
    )
    trial.expect(
        transaction_id in reply.transaction_ids,
        f"eiCreatedTransaction names {list(reply.transaction_ids)}, not {transaction_id}",
    )
    return transaction_id


def expect_not_stored(trial: Trial, transaction_id: str, why: str) -> None:
    for viewer in (trial.counterparty, trial.party):
        trial.expect(
            transaction_seen(trial, viewer, transaction_id) is None,
            f"{viewer} is shown transaction {transaction_id}, which {why}",
        )


@case(
    ACCEPT_TENDER,
    "Accepting a whole tender makes a transaction both parties see, from the acceptor's side, "
    "and the tender is no longer listed",
    "TeMIX paper 2.1, 2.13: a transaction is created when a party accepts a tender; "
    "EI 1.0 EiCreateTransaction, EiRequestTransaction",
    after=[CREATE_TENDER],
)
def accept_whole_tender(trial: Trial) -> None:
    sell = trial.tender(quantity=lots(trial, 10))
    buy = trial.tender(side=Side.BUY, quantity=lots(trial, 5), price="38.5")
    trial.offer(sell, buy)
    for tender in (sell, buy):
        transaction_id = accept(trial, tender)
        for viewer in (trial.counterparty, trial.party):
            expect_not_listed(trial, viewer, tender.tender_id, "was accepted in full")
        for viewer, other in ((trial.counterparty, trial.party), (trial.party, trial.counterparty)):
            seen = transaction_seen(trial, viewer, transaction_id, other)
            trial.expect(
                seen is not None,
                f"{viewer} asking for its transactions with {other} does not get {transaction_id}",
            )
            assert seen is not None
            product, tendered = seen.product, tender.product
            found = {
                "tender id": (seen.tender_id, tender.tender_id),
                "side": (product.side, tendered.side.opposite),
                "state": (product.state, TransactiveState.TRANSACTION),
                "quantity": (product.description.quantity, tendered.description.quantity),
                "price": (product.description.price, tendered.description.price),
                "interval": (product.interval, tendered.interval),
                "interface": (product.description.interface, tendered.description.interface),
            }
            wrong = [
                f"{name} {got} (expected {want})"
                for name, (got, want) in found.items()
                if got != want
            ]
            trial.expect(
                not wrong,
                f"{viewer} sees transaction {transaction_id} (accepting a {tendered.side} "
                f"tender) with " + "; ".join(wrong),
            )


@case(
    "TMX-TRX-002",
    "Partial acceptances lower the rate that remains of a tender, as its listing shows",
    "TeMIX paper 3.5: the customer decides the transacted quantity; "
    "temix profile: docs/server.md EiCreateTransaction",
    after=[ACCEPT_TENDER],
)
def partial_fills(trial: Trial) -> None:
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    left = lots(trial, 10)
    for taken in (lots(trial, 4), lots(trial, 3)):
        transaction_id = accept(trial, tender, taken)
        left -= taken
        for viewer in (trial.counterparty, trial.party):
            expect_remaining(trial, viewer, tender, left)
        seen = transaction_seen(trial, trial.counterparty, transaction_id)
        trial.expect(seen is not None, f"transaction {transaction_id} is not returned")
        assert seen is not None
        trial.expect(
            seen.product.description.quantity == taken,
            f"transaction {transaction_id} is for {seen.product.description.quantity}, "
            f"not the {taken} accepted",
        )


@case(
    "TMX-TRX-003",
    "Accepting more than remains of a tender is refused with 409 and leaves it as it was",
    "TeMIX paper 2.9; EI 1.0 EiCreateTransaction; temix profile: docs/responses.md 409",
    after=[ACCEPT_TENDER],
)
def over_acceptance(trial: Trial) -> None:
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    accept(trial, tender, lots(trial, 6))
    transaction_id = trial.new_id()
    trial.refused(
        lambda: trial.client(trial.counterparty).accept(
            tender, trial.party, lots(trial, 5), transaction_id=transaction_id
        ),
        f"accepting {lots(trial, 5)} of tender {tender.tender_id} when {lots(trial, 4)} remain",
        "409",
    )
    expect_remaining(trial, trial.counterparty, tender, lots(trial, 4))
    expect_not_stored(trial, transaction_id, "was refused")


@case(
    "TMX-TRX-004",
    "Accepting a tender that is already filled is refused with 410",
    "TeMIX paper 2.9; temix profile: docs/states.md (a filled tender is over), "
    "docs/responses.md 410",
    after=[ACCEPT_TENDER],
)
def accept_filled(trial: Trial) -> None:
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    accept(trial, tender)
    transaction_id = trial.new_id()
    trial.refused(
        lambda: trial.client(trial.counterparty).accept(
            tender, trial.party, lots(trial, 1), transaction_id=transaction_id
        ),
        f"accepting {lots(trial, 1)} more of filled tender {tender.tender_id}",
        "410",
    )
    expect_not_stored(trial, transaction_id, "was refused")


@case(
    "TMX-TRX-005",
    "An integral-only tender refuses a partial acceptance with 422 and takes a whole one",
    "EMIX 1.0 emix:integralOnly; temix profile: docs/responses.md 422",
    after=[ACCEPT_TENDER],
)
def integral_only(trial: Trial) -> None:
    tender = trial.tender(quantity=lots(trial, 10), integral_only=True)
    trial.offer(tender)
    transaction_id = trial.new_id()
    trial.refused(
        lambda: trial.client(trial.counterparty).accept(
            tender, trial.party, lots(trial, 4), transaction_id=transaction_id
        ),
        f"accepting {lots(trial, 4)} of integral-only tender {tender.tender_id}",
        "422",
    )
    expect_remaining(trial, trial.counterparty, tender, lots(trial, 10))
    expect_not_stored(trial, transaction_id, "was refused")
    accept(trial, tender)
    expect_not_listed(trial, trial.counterparty, tender.tender_id, "was accepted in full")


RACE_ROUNDS = 3
"""How many tenders the race is run for: one round may not interleave the two requests."""


@dataclass(frozen=True)
class Attempt:
    """One rival's acceptance: the transaction id it sent, and the error it got (None when
    it was accepted)."""

    transaction_id: str
    error: BaseException | None


def race(trial: Trial, tender: Tender, rivals: tuple[str, ...]) -> dict[str, Attempt]:
    """Each of ``rivals`` accepts the whole of ``tender`` at the same moment (the requests
    leave together from threads): what each one sent and got."""
    clients = {rival: trial.client(rival) for rival in rivals}
    transaction_ids = {rival: trial.new_id() for rival in rivals}
    start = threading.Barrier(len(rivals), timeout=trial.run.target.timeout)

    def accept_at_start(rival: str) -> object:
        start.wait()
        return clients[rival].accept(tender, trial.party, transaction_id=transaction_ids[rival])

    with ThreadPoolExecutor(max_workers=len(rivals)) as pool:
        futures = {rival: pool.submit(accept_at_start, rival) for rival in rivals}
    return {rival: Attempt(transaction_ids[rival], futures[rival].exception()) for rival in rivals}


@case(
    "TMX-TRX-006",
    "Of two parties accepting the whole of a tender at once, exactly one succeeds and the "
    "other is refused with 409 or 410",
    "temix profile: docs/server.md EiCreateTransaction (the remaining rate drops atomically); "
    "EI 1.0 EiDistributeTender, EiCreateTransaction",
    requires=["distribute"],
    after=[ACCEPT_TENDER],
)
def racing_acceptances(trial: Trial) -> None:
    rivals = (trial.counterparty, trial.third_party)
    for _ in range(RACE_ROUNDS):
        tender = trial.tender(quantity=lots(trial, 10))
        trial.succeeds(
            lambda tender=tender: trial.client().distribute_tender(
                Target(party_ids=rivals), tender
            ),
            f"distributing a tender to {' and '.join(rivals)}",
        )
        attempts = race(trial, tender, rivals)
        winners = [rival for rival, attempt in attempts.items() if attempt.error is None]
        trial.expect(
            len(winners) == 1,
            f"{len(winners)} of the two acceptances of the whole of tender {tender.tender_id} "
            "succeeded: "
            + "; ".join(
                f"{rival}: {attempt.error or 'accepted'}" for rival, attempt in attempts.items()
            ),
        )
        (loser,) = (rival for rival in rivals if rival not in winners)
        error = attempts[loser].error
        trial.expect(
            isinstance(error, Refused),
            f"{loser}, which lost the race, got {error} rather than an eiResponse refusal",
        )
        assert isinstance(error, Refused)
        if error.code not in ("409", "410"):
            trial.warn(
                f"{loser} lost the race for tender {tender.tender_id} with {error.code}; the "
                "TeMIX profile answers 409 or 410"
            )
        expect_not_listed(trial, trial.party, tender.tender_id, "was accepted in full")
        lost = attempts[loser].transaction_id
        trial.expect(
            transaction_seen(trial, trial.party, lost) is None,
            f"{trial.party} has transaction {lost} from {loser}, who was refused",
        )


@case(
    "TMX-TRX-007",
    "A party accepting its own tender is refused with 403",
    "TeMIX paper 2.1: all interactions are pairwise; temix profile: docs/responses.md 403",
    after=[ACCEPT_TENDER],
)
def self_acceptance(trial: Trial) -> None:
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    transaction_id = trial.new_id()
    trial.refused(
        lambda: trial.client().accept(tender, trial.party, transaction_id=transaction_id),
        f"{trial.party} accepting its own tender {tender.tender_id}",
        "403",
    )
    expect_not_taken(trial, tender, transaction_id)


@case(
    "TMX-TRX-008",
    "Accepting a tender id that no tender has is refused with 404",
    "EI 1.0 EiCreateTransaction tenderID; temix profile: docs/responses.md 404",
    after=[ACCEPT_TENDER],
)
def unknown_tender(trial: Trial) -> None:
    never_sent = trial.tender()
    transaction_id = trial.new_id()
    trial.refused(
        lambda: trial.client(trial.counterparty).accept(
            never_sent, trial.party, transaction_id=transaction_id
        ),
        f"accepting tender {never_sent.tender_id}, which was never created",
        "404",
    )
    expect_not_stored(trial, transaction_id, "was refused")


@case(
    "TMX-TRX-009",
    "An acceptance whose product differs from the tender's (price, interval or side) is "
    "refused with 422",
    "TeMIX paper 2.9: a transaction is formed by accepting a tender; "
    "temix profile: docs/server.md EiCreateTransaction",
    after=[ACCEPT_TENDER],
)
def changed_product(trial: Trial) -> None:
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    tendered = tender.product
    changes = {
        "a higher price": dict(
            description=replace(tendered.description, price=tendered.description.price + 1)
        ),
        "another interval": dict(interval=trial.interval()),
        "the tender's own side": dict(side=tendered.side),
    }
    for what, change in changes.items():
        transaction_id = trial.new_id()
        faithful = rules.acceptance(tender, tendered.description.quantity, transaction_id)
        altered = replace(faithful, product=replace(faithful.product, **change))
        trial.refused(
            lambda altered=altered: trial.client(trial.counterparty).create_transaction(
                trial.party, altered
            ),
            f"accepting tender {tender.tender_id} at {what}",
            "422",
        )
        expect_not_stored(trial, transaction_id, "was refused")
    expect_remaining(trial, trial.counterparty, tender, lots(trial, 10))


@case(
    "TMX-TRX-010",
    "A transaction naming a quote instead of a tender is refused with 423: quotes are not "
    "actionable",
    "TeMIX paper 2.9, 2.13: a quote is not actionable; temix profile: docs/responses.md 423",
    requires=["quotes"],
    after=[ACCEPT_TENDER],
)
def quote_not_actionable(trial: Trial) -> None:
    quoted = trial.product(quantity=lots(trial, 10), state=TransactiveState.INDICATION_OF_INTEREST)
    quote = Quote(trial.new_id(), (quoted,))
    trial.succeeds(
        lambda: trial.client().create_quote(trial.counterparty, quote),
        f"sending quote {quote.quote_id} to {trial.counterparty}",
    )
    as_tender = Tender(quote.quote_id, replace(quoted, state=TransactiveState.TENDER))
    transaction_id = trial.new_id()
    trial.refused(
        lambda: trial.client(trial.counterparty).create_transaction(
            trial.party,
            rules.acceptance(as_tender, quoted.description.quantity, transaction_id),
        ),
        f"accepting quote {quote.quote_id} as if it were a tender",
        "423",
    )
    expect_not_stored(trial, transaction_id, "was refused")


@case(
    "TMX-TRX-011",
    "An acceptance off the market's quantity step is refused with 422 naming "
    "emix:marketGranularity, never rounded onto the step; an on-step acceptance of an odd "
    "number of steps leaves exactly the rest",
    "TeMIX paper 2.12: the market context sets the quantity step; temix profile: "
    "docs/responses.md 422, docs/server.md EiCreateTransaction",
    after=[ACCEPT_TENDER],
)
def acceptance_off_quantity_step(trial: Trial) -> None:
    step = trial.market.quantity_step
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    for off_step in (lots(trial, 3) + step / 2, lots(trial, 3) + step / 1000):
        transaction_id = trial.new_id()
        refusal = trial.refused(
            lambda off_step=off_step, transaction_id=transaction_id: trial.client(
                trial.counterparty
            ).accept(tender, trial.party, off_step, transaction_id=transaction_id),
            f"accepting {off_step} in a market stepping by {step}",
            "422",
        )
        trial.expect(
            any(isinstance(term, MarketGranularity) for term in refusal.violated_terms),
            f"refusing {off_step}: responseTermsViolated names no emix:marketGranularity",
        )
        expect_not_taken(trial, tender, transaction_id)
    odd = lots(trial, 3)
    accept(trial, tender, odd)
    expect_remaining(trial, trial.counterparty, tender, lots(trial, 10) - odd)


@case(
    "TMX-TRX-012",
    "Cancelling a partly accepted tender cancels what remains: the rest can no longer be "
    "accepted (410) and the transaction already made stands unchanged",
    "TeMIX paper 3.5: a tender may be withdrawn before acceptance, a transaction is binding; "
    "EI 1.0 EiCancelTender; temix profile: docs/states.md",
    after=[ACCEPT_TENDER],
)
def cancel_partly_accepted(trial: Trial) -> None:
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    taken = lots(trial, 4)
    transaction_id = accept(trial, tender, taken)
    trial.succeeds(
        lambda: trial.client().cancel_tender(tender.tender_id, counterparty=trial.counterparty),
        f"cancelling tender {tender.tender_id}, {taken} of it accepted",
    )
    for viewer in (trial.counterparty, trial.party):
        expect_not_listed(trial, viewer, tender.tender_id, "was cancelled")
    trial.refused(
        lambda: trial.client(trial.counterparty).accept(
            tender, trial.party, lots(trial, 6), transaction_id=trial.new_id()
        ),
        f"accepting the rest of cancelled tender {tender.tender_id}",
        "410",
    )
    for viewer in (trial.counterparty, trial.party):
        seen = transaction_seen(trial, viewer, transaction_id)
        trial.expect(
            seen is not None,
            f"{viewer} no longer sees transaction {transaction_id} after the tender's cancel",
        )
        assert seen is not None
        trial.expect(
            seen.product.description.quantity == taken,
            f"{viewer} sees transaction {transaction_id} of "
            f"{seen.product.description.quantity}, not the {taken} accepted",
        )


@case(
    "TMX-TRX-013",
    "A tender distributed to a target is neither listed to a party outside the target nor "
    "accepted by it (403)",
    "TeMIX paper 2.13: EiDistributeTender offers a tender to a group; EI 1.0 "
    "EiDistributeTender target; temix profile: docs/responses.md 403",
    requires=["distribute"],
    after=[ACCEPT_TENDER],
)
def distributed_tender_only_for_its_target(trial: Trial) -> None:
    outsider = trial.third_party
    tender = trial.tender(quantity=lots(trial, 10))
    trial.succeeds(
        lambda: trial.client().distribute_tender(Target(party_ids=(trial.counterparty,)), tender),
        f"distributing tender {tender.tender_id} to {trial.counterparty}",
    )
    expect_not_listed(
        trial, outsider, tender.tender_id, f"was distributed to {trial.counterparty} only"
    )
    expect_outsider_refused(trial, outsider, tender, f"distributed to {trial.counterparty}")


@case(
    "TMX-TRX-014",
    "EiRequestTransaction filtered by counterparty, by interval or by market context lists "
    "only the party's transactions that match",
    "TeMIX paper 2.13: EiRequestTransaction; EI 1.0 EiRequestTransaction counterPartyID, "
    "interval, marketContext",
    after=[ACCEPT_TENDER],
)
def request_transactions_filtered(trial: Trial) -> None:
    """The party sells one hour to the counterparty and a later hour to the third party."""
    other = trial.third_party
    with_counterparty = trial.tender(quantity=lots(trial, 10))
    trial.offer(with_counterparty)
    first = accept(trial, with_counterparty)
    with_other = trial.tender(quantity=lots(trial, 10))
    trial.offer(with_other, to=other)
    second = trial.new_id()
    trial.succeeds(
        lambda: trial.client(other).accept(with_other, trial.party, transaction_id=second),
        f"{other} accepting tender {with_other.tender_id}",
    )
    ids = (first, second)
    later = with_other.product.interval
    unknown_market = f"urn:temix:conformance:unknown:{trial.new_id()}"
    for filters, expected, what in (
        ({"counterparties": (trial.counterparty,)}, {first}, f"with {trial.counterparty}"),
        ({"counterparties": (other,)}, {second}, f"with {other}"),
        (
            {"intervals": (Interval(later.start + later.duration / 4, later.duration / 2),)},
            {second},
            "delivering during part of the later hour",
        ),
        ({"market_contexts": (trial.market.uri,)}, set(ids), f"in {trial.market.uri}"),
    ):
        found = trial.succeeds(
            lambda filters=filters: trial.client().request_transactions(
                transaction_ids=ids, **filters
            ),
            f"{trial.party} asking for its transactions {what}",
        )
        got = {each.transaction_id for each in found}
        trial.expect(
            got == expected,
            f"asked for its transactions {what}, {trial.party} got {sorted(got) or 'none'}, "
            f"not {sorted(expected)}",
        )
    try:
        found = trial.client().request_transactions(
            transaction_ids=ids, market_contexts=(unknown_market,)
        )
    except Refused:
        found = ()
    trial.expect(
        not found,
        f"asked for its transactions in a market context no market has, {trial.party} got "
        f"{sorted(each.transaction_id for each in found)}",
    )


@case(
    "TMX-TRX-015",
    "A tender distributed to a group is offered to its members: the counterparty, a member, "
    "sees and may accept it; the third party, not a member, neither sees nor accepts it (403)",
    "TeMIX paper 2.13: EiDistributeTender (to a group of parties); EI 1.0 EiDistributeTender "
    "target groupID; temix profile: docs/server.md (groups)",
    requires=["distribute"],
    after=[ACCEPT_TENDER],
)
def distributed_to_a_group(trial: Trial) -> None:
    group, outsider = trial.input("group"), trial.third_party
    tender = trial.tender(quantity=lots(trial, 10))
    trial.succeeds(
        lambda: trial.client().distribute_tender(Target(group_ids=(group,)), tender),
        f"distributing tender {tender.tender_id} to the group {group}",
    )
    expect_not_listed(trial, outsider, tender.tender_id, f"was distributed to the group {group}")
    expect_outsider_refused(trial, outsider, tender, f"distributed to the group {group}")
    accept(trial, tender, lots(trial, 4))
    expect_remaining(trial, trial.counterparty, tender, lots(trial, 6))
