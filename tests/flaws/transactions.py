"""Flaws in the acceptance rules: partial fills, integral-only tenders, self-acceptance and
the product an acceptance must repeat."""

from __future__ import annotations

from dataclasses import replace

from flaws import Flaw, ignoring_filter


def _partial_fill_keeps_rate() -> None:
    from temix.server import services

    accepted = services.accept_tender

    def keeping_rate(record, acceptor, quantity, *arguments):  # type: ignore[no-untyped-def]
        result = accepted(record, acceptor, quantity, *arguments)
        if isinstance(result, tuple) and quantity < record.remaining:
            _, made = result
            return record, made
        return result

    services.accept_tender = keeping_rate


def _overfills_tenders() -> None:
    from temix.server import services

    accepted = services.accept_tender

    def up_to_the_tendered_rate(record, acceptor, quantity, *arguments):  # type: ignore[no-untyped-def]
        if record.remaining < quantity <= record.tender.product.description.quantity:
            record = replace(record, remaining=quantity)
        return accepted(record, acceptor, quantity, *arguments)

    services.accept_tender = up_to_the_tendered_rate


def _ignores_integral_only() -> None:
    from temix.server import services

    accepted = services.accept_tender

    def divisible(record, *arguments):  # type: ignore[no-untyped-def]
        product = replace(record.tender.product, integral_only=None)
        return accepted(replace(record, tender=replace(record.tender, product=product)), *arguments)

    services.accept_tender = divisible


def _self_acceptance() -> None:
    from temix.rules import WHOLE_MARKET_CONTEXT
    from temix.server import services

    accepted = services.accept_tender

    def without_self_check(record, acceptor, *arguments):  # type: ignore[no-untyped-def]
        if acceptor != record.author:
            return accepted(record, acceptor, *arguments)
        as_if_another = replace(
            record, author=f"{record.author}-as-another", offered_to=WHOLE_MARKET_CONTEXT
        )
        result = accepted(as_if_another, acceptor, *arguments)
        if not isinstance(result, tuple):
            return result
        updated, made = result
        return replace(updated, author=record.author, offered_to=record.offered_to), made

    services.accept_tender = without_self_check


def _accepts_changed_product() -> None:
    from temix.server import services

    services._check_product = lambda submitted, expected, what: None


def _steps_only_tenders() -> None:
    """Checks the market's quantity step on tenders but not on the acceptances made of them."""
    from temix.model import TransactiveState
    from temix.server import services

    checked = services.check_fits_market

    def tenders_only(product, market):  # type: ignore[no-untyped-def]
        if market is not None and product.state is TransactiveState.TRANSACTION:
            description = replace(product.description, quantity=market.quantity_step)
            product = replace(product, description=description)
        return checked(product, market)

    services.check_fits_market = tenders_only


def _cancel_only_untouched() -> None:
    """Refuses to cancel a tender once any of it is accepted, as if it were filled."""
    from temix.responses import ResponseCode
    from temix.rules import Refusal
    from temix.server import services

    cancelled = services.cancel_tender

    def untouched_only(record, party, now):  # type: ignore[no-untyped-def]
        if record.remaining != record.tender.product.description.quantity:
            return Refusal(ResponseCode.GONE, f"tender {record.tender.tender_id} is filled")
        return cancelled(record, party, now)

    services.cancel_tender = untouched_only


def _distributes_to_everyone() -> None:
    """Stores a distributed tender as offered to the whole market, whatever its target."""
    from temix.rules import WHOLE_MARKET_CONTEXT
    from temix.server import services

    services.Market._audience = lambda self, target, tender: WHOLE_MARKET_CONTEXT


def _groups_are_the_market() -> None:
    """Takes any group a tender is distributed to for the whole market context."""
    from temix.rules import WHOLE_MARKET_CONTEXT
    from temix.server import services

    audience = services.Market._audience

    def whole_market(self, target, tender):  # type: ignore[no-untyped-def]
        return WHOLE_MARKET_CONTEXT if target.group_ids else audience(self, target, tender)

    services.Market._audience = whole_market


def _keeps_the_tenders_side() -> None:
    """Writes an acceptance from the tender's side: accepting a sell tender records a sale."""
    from temix import rules

    made = rules.acceptance

    def same_side(tender, quantity, transaction_id):  # type: ignore[no-untyped-def]
        transaction = made(tender, quantity, transaction_id)
        product = replace(transaction.product, side=tender.product.side)
        return replace(transaction, product=product)

    rules.acceptance = same_side


FLAWS = [
    Flaw(
        "partial-fill-keeps-rate",
        "TMX-TRX-002",
        "does not lower a tender's remaining rate when part of it is accepted",
        _partial_fill_keeps_rate,
    ),
    Flaw(
        "overfills-tenders",
        "TMX-TRX-003",
        "accepts more than remains of a tender, up to the rate first tendered",
        _overfills_tenders,
    ),
    Flaw(
        "ignores-integral-only",
        "TMX-TRX-005",
        "lets part of an integral-only tender be accepted",
        _ignores_integral_only,
    ),
    Flaw(
        "self-acceptance",
        "TMX-TRX-007",
        "lets a party accept its own tender",
        _self_acceptance,
    ),
    Flaw(
        "accepts-changed-product",
        "TMX-TRX-009",
        "stores an acceptance whatever price, interval or side it gives",
        _accepts_changed_product,
    ),
    Flaw(
        "steps-only-tenders",
        "TMX-TRX-011",
        "takes an acceptance of any quantity, checking the quantity step on tenders only",
        _steps_only_tenders,
    ),
    Flaw(
        "cancel-only-untouched",
        "TMX-TRX-012",
        "refuses to cancel a partly accepted tender with 410, as if it were filled",
        _cancel_only_untouched,
    ),
    Flaw(
        "distributes-to-everyone",
        "TMX-TRX-013",
        "offers a distributed tender to every party of the market, whatever its target",
        _distributes_to_everyone,
    ),
    Flaw(
        "transactions-ignore-counterparty",
        "TMX-TRX-014",
        "lists every transaction of the party when asked for those with one counterparty",
        ignoring_filter("transactions", "counterparties"),
    ),
    Flaw(
        "transactions-ignore-interval",
        "TMX-TRX-014",
        "lists transactions delivering at any time when asked for those of an interval",
        ignoring_filter("transactions", "intervals"),
    ),
    Flaw(
        "transactions-ignore-market",
        "TMX-TRX-014",
        "lists transactions of every market context when asked for those of one",
        ignoring_filter("transactions", "market_contexts_"),
    ),
    Flaw(
        "groups-are-the-market",
        "TMX-TRX-015",
        "offers a tender distributed to any group to the whole market context",
        _groups_are_the_market,
    ),
    Flaw(
        "acceptance-on-the-tenders-side",
        "TMX-TRX-001",
        "records an acceptance from the tender's side, not the acceptor's",
        _keeps_the_tenders_side,
    ),
]
