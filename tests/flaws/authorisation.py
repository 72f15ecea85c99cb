"""Flaws in authorisation: who a request may speak for and what a party may touch or see."""

from __future__ import annotations

from dataclasses import replace

from flaws import Flaw


def _acts_for_others() -> None:
    from temix.server import app
    from temix.server.services import sender_of

    checked = app.authorisation_refusal

    def believing_the_payload(request, signer):  # type: ignore[no-untyped-def]
        return checked(request, replace(signer, party_id=sender_of(request) or signer.party_id))

    app.authorisation_refusal = believing_the_payload


def _cancels_any_tender() -> None:
    from temix.server import services

    cancelled = services.cancel_tender

    def as_its_author(record, party, now):  # type: ignore[no-untyped-def]
        return cancelled(record, record.author, now)

    services.cancel_tender = as_its_author


def _accepts_tenders_offered_to_others() -> None:
    from temix.rules import WHOLE_MARKET_CONTEXT
    from temix.server import services

    accepted = services.accept_tender

    def offered_to_all(record, *arguments):  # type: ignore[no-untyped-def]
        result = accepted(replace(record, offered_to=WHOLE_MARKET_CONTEXT), *arguments)
        if not isinstance(result, tuple):
            return result
        updated, made = result
        return replace(updated, offered_to=record.offered_to), made

    services.accept_tender = offered_to_all


def _reads_every_transaction() -> None:
    from temix import payloads as p
    from temix.server import services

    answered = services._SERVICES[p.RequestTransaction]

    def as_operator(market, request):  # type: ignore[no-untyped-def]
        market.reads_everything = True
        return answered(market, request)

    services._SERVICES[p.RequestTransaction] = as_operator


def _lists_every_tender() -> None:
    from temix.server.store import Unit

    listed = Unit.tenders

    def to_everyone(self, **filters):  # type: ignore[no-untyped-def]
        return listed(self, **{**filters, "visible_to": None})

    Unit.tenders = to_everyone


FLAWS = [
    Flaw(
        "acts-for-others",
        "TMX-AUT-001",
        "takes the party a payload speaks for without checking that it signed the request",
        _acts_for_others,
    ),
    Flaw(
        "cancels-any-tender",
        "TMX-AUT-002",
        "lets any party cancel a tender, not only its author",
        _cancels_any_tender,
    ),
    Flaw(
        "accepts-tenders-offered-to-others",
        "TMX-AUT-003",
        "lets any party accept a tender, whoever it is offered to",
        _accepts_tenders_offered_to_others,
    ),
    Flaw(
        "reads-every-transaction",
        "TMX-AUT-004",
        "shows any party's transactions to any party that asks",
        _reads_every_transaction,
    ),
    Flaw(
        "lists-every-tender",
        "TMX-AUT-005",
        "lists every tender to every party",
        _lists_every_tender,
    ),
]
