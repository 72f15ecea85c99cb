"""Flaws in idempotency: how a server gets a party's requestID wrong."""

from __future__ import annotations

from flaws import Flaw


def _runs_every_request() -> None:
    """Keeps no replies: a repeated request is carried out again."""
    from temix.server.store import Unit

    Unit.stored_reply = lambda self, party_id, request_id: None
    Unit.remember_reply = lambda self, *arguments: None


def _ignores_the_payload() -> None:
    """Answers any request under a used requestID with the stored reply, whatever it asks."""
    from temix.server import app

    app.payload_digest = lambda payload: "any payload"


def _fingerprints_ids_only() -> None:
    """Tells payloads apart by the ids they carry (requestID, tenderID, partyID, ...) and
    nothing else, so a retry that changes only a quantity or a price is taken for the same."""
    import hashlib

    from lxml import etree

    from temix.server import app

    def ids_only(payload):  # type: ignore[no-untyped-def]
        root = etree.fromstring(payload)
        ids = [
            element.text or ""
            for element in root.iter()
            if isinstance(element.tag, str) and etree.QName(element).localname.endswith("ID")
        ]
        return hashlib.sha256("\n".join(ids).encode()).hexdigest()

    app.payload_digest = ids_only


def _acceptances_not_remembered() -> None:
    """Keeps the replies of every operation but EiCreateTransaction: a repeated acceptance is
    carried out again."""
    from temix.server.store import Unit

    remember = Unit.remember_reply

    def but_acceptances(self, party_id, request_id, operation, *arguments):  # type: ignore[no-untyped-def]
        if operation != "EiCreateTransaction":
            remember(self, party_id, request_id, operation, *arguments)

    Unit.remember_reply = but_acceptances


def _shares_request_ids() -> None:
    """Keeps one requestID space for every party."""
    from temix.server.app import MarketEndpoint

    run_once = MarketEndpoint._run_once

    def shared(self, element, request, sender, operation, reads_everything):  # type: ignore[no-untyped-def]
        return run_once(self, element, request, "every party", operation, reads_everything)

    MarketEndpoint._run_once = shared


FLAWS = [
    Flaw(
        "runs-repeated-requests",
        "TMX-IDM-001",
        "carries out a request repeated with the same requestID again",
        _runs_every_request,
    ),
    Flaw(
        "ignores-request-id-conflict",
        "TMX-IDM-003",
        "answers a different payload under a used requestID with the stored reply",
        _ignores_the_payload,
    ),
    Flaw(
        "request-ids-shared-by-parties",
        "TMX-IDM-004",
        "treats a requestID as used when any party used it",
        _shares_request_ids,
    ),
    Flaw(
        "fingerprints-ids-only",
        "TMX-IDM-006",
        "compares a retry with the first request by their ids only, not their quantities",
        _fingerprints_ids_only,
    ),
    Flaw(
        "acceptances-not-remembered",
        "TMX-IDM-002",
        "carries out a repeated acceptance again: replies are kept for every other operation",
        _acceptances_not_remembered,
    ),
]
