"""Flaws in the acceptance rules: partial fills, integral-only tenders, self-acceptance and
the product an acceptance must repeat."""

from __future__ import annotations

from dataclasses import replace

from flaws import Flaw


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
]
