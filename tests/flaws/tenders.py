"""Flaws in the tender rules: listing, expiry and the terms a refusal names."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from flaws import Flaw, ignoring_filter


def _lists_cancelled_tenders() -> None:
    from temix.server import services
    from temix.states import TenderStatus

    services.OPEN_STATUSES = services.OPEN_STATUSES | {TenderStatus.CANCELLED}


def _takes_expired_tenders() -> None:
    from temix.server import services

    created = services.create_tender

    def before_expiry(tender, author, offered_to, now):  # type: ignore[no-untyped-def]
        expires = tender.product.expires
        if expires is not None:
            now = min(now, expires - timedelta(seconds=1))
        return created(tender, author, offered_to, now)

    services.create_tender = before_expiry


def _accepts_expired_tenders() -> None:
    from temix.server import services

    accepted = services.accept_tender

    def ignoring_expiry(record, *arguments):  # type: ignore[no-untyped-def]
        product = replace(record.tender.product, expires=None)
        return accepted(replace(record, tender=replace(record.tender, product=product)), *arguments)

    services.accept_tender = ignoring_expiry


def _reuses_tender_ids() -> None:
    from temix.server.store import Unit

    found = Unit.tender

    def only_when_locking(self, tender_id, *, for_update=False):  # type: ignore[no-untyped-def]
        return found(self, tender_id, for_update=True) if for_update else None

    Unit.tender = only_when_locking


def _tender_ids_per_author() -> None:
    """Keys tenders by author and id, so another party's tender under a used id replaces the
    first one for anyone who asks by id."""
    from sqlalchemy import delete

    from temix.server import services
    from temix.server.store import tenders

    stored = services.Market._store_tender

    def per_author(self, tender, author, offered_to):  # type: ignore[no-untyped-def]
        existing = self.unit.tender(tender.tender_id)
        if existing is not None and existing.author != author:
            self.unit.connection.execute(
                delete(tenders).where(tenders.c.tender_id == tender.tender_id)
            )
        return stored(self, tender, author, offered_to)

    services.Market._store_tender = per_author


def _keeps_cancelled_quotes() -> None:
    """Answers a quote's cancellation with 200 and keeps the quote."""
    from temix.server.store import Unit

    Unit.cancel_quote = lambda self, quote_id: None


def _anyone_cancels_quotes() -> None:
    """Cancels a quote for whoever asks, taking the publisher to be the quote's own."""
    from dataclasses import replace

    from temix import payloads as p
    from temix.server import services

    cancel = services.Market.cancel_quote

    def for_anyone(self, request):  # type: ignore[no-untyped-def]
        stored = [self.unit.quote(quote_id) for quote_id in request.quote_ids]
        publishers = {quote.publisher for quote in stored if quote is not None}
        if len(publishers) == 1:
            request = replace(request, publisher_party_id=publishers.pop())
        return cancel(self, request)

    services._SERVICES[p.CancelQuote] = for_anyone


def _cancels_twice() -> None:
    """Answers a second cancellation of a tender with 200, as if it were the first."""
    from temix.server import services
    from temix.states import TenderStatus

    cancelled = services.cancel_tender

    def idempotent(record, party, now):  # type: ignore[no-untyped-def]
        if record.status is TenderStatus.CANCELLED and party == record.author:
            return record
        return cancelled(record, party, now)

    services.cancel_tender = idempotent


def _offers_to_the_author() -> None:
    """Does not check that a tender's counterparty is another party than its author."""
    from temix.server import services

    created = services.create_tender

    def to_anyone(tender, author, offered_to, now):  # type: ignore[no-untyped-def]
        if isinstance(offered_to, frozenset) and author in offered_to:
            offered_to = (offered_to - {author}) or frozenset({f"{author} (itself)"})
        return created(tender, author, offered_to, now)

    services.create_tender = to_anyone


def _any_interval_start() -> None:
    """Checks an interval's length against the market's granularity, not where it starts."""
    from temix import rules

    violations = rules._interval_violations

    def length_only(product, market):  # type: ignore[no-untyped-def]
        return [v for v in violations(product, market) if "boundary from midnight" not in v]

    rules._interval_violations = length_only


def _deliveries_in_any_market() -> None:
    """Stores a delivery without looking its market context up."""
    from temix import payloads as p
    from temix.model import DEVELOPMENT_MARKET
    from temix.server import services

    create = services._SERVICES[p.CreateDelivery]

    def unchecked(self, request):  # type: ignore[no-untyped-def]
        known = self.unit.market_context
        self.unit.market_context = lambda uri: known(uri) or DEVELOPMENT_MARKET
        try:
            return create(self, request)
        finally:
            del self.unit.market_context

    services._SERVICES[p.CreateDelivery] = unchecked


def _expires_early() -> None:
    """Applies a ten-second clock allowance the wrong way: a tender counts as expired ten
    seconds before its expiry."""
    from datetime import timedelta

    from temix import rules

    expired_at = rules._expired_at

    def early(record, now):  # type: ignore[no-untyped-def]
        return expired_at(record, now + timedelta(seconds=10))

    rules._expired_at = early


def _no_granularity_term() -> None:
    from temix.server import services

    checked = services.check_fits_market

    def without_terms(product, market):  # type: ignore[no-untyped-def]
        refusal = checked(product, market)
        return None if refusal is None else replace(refusal, terms_violated=())

    services.check_fits_market = without_terms


FLAWS = [
    Flaw(
        "lists-cancelled-tenders",
        "TMX-TND-007",
        "keeps listing a tender after its author cancels it",
        _lists_cancelled_tenders,
    ),
    Flaw(
        "ignores-interval-filter",
        "TMX-TND-005",
        "lists tenders delivering at any time when asked for those of an interval",
        ignoring_filter("tenders", "intervals"),
    ),
    Flaw(
        "takes-expired-tenders",
        "TMX-TND-009",
        "stores a tender whose expiry passed before it arrived",
        _takes_expired_tenders,
    ),
    Flaw(
        "accepts-expired-tenders",
        "TMX-TND-010",
        "lets a tender be accepted after its expiry",
        _accepts_expired_tenders,
    ),
    Flaw(
        "reuses-tender-ids",
        "TMX-TND-011",
        "does not look for a tender with the same id before storing one",
        _reuses_tender_ids,
    ),
    Flaw(
        "no-granularity-term",
        "TMX-TND-015",
        "refuses a quantity off the market's step without naming emix:marketGranularity",
        _no_granularity_term,
    ),
    Flaw(
        "tender-ids-per-author",
        "TMX-TND-017",
        "lets another party's tender take a used tender id, replacing the first tender",
        _tender_ids_per_author,
    ),
    Flaw(
        "keeps-cancelled-quotes",
        "TMX-TND-018",
        "acknowledges a quote's cancellation and keeps listing the quote",
        _keeps_cancelled_quotes,
    ),
    Flaw(
        "anyone-cancels-quotes",
        "TMX-TND-019",
        "lets a party that did not publish a quote cancel it",
        _anyone_cancels_quotes,
    ),
    Flaw(
        "cancels-twice",
        "TMX-TND-008",
        "answers a second cancellation of the same tender with 200",
        _cancels_twice,
    ),
    Flaw(
        "offers-to-author",
        "TMX-TND-012",
        "takes a tender whose counterparty is its own author",
        _offers_to_the_author,
    ),
    Flaw(
        "any-interval-start",
        "TMX-TND-016",
        "checks an interval's length against the market's granularity, not its start",
        _any_interval_start,
    ),
    Flaw(
        "deliveries-in-any-market",
        "TMX-DLV-003",
        "stores a delivery metered in a market context it does not know",
        _deliveries_in_any_market,
    ),
    Flaw(
        "tenders-ignore-counterparty",
        "TMX-TND-004",
        "lists tenders by every author when asked for those one counterparty wrote",
        ignoring_filter("tenders", "authors"),
    ),
    Flaw(
        "tenders-ignore-market",
        "TMX-TND-006",
        "lists tenders of every market context when asked for those of one",
        ignoring_filter("tenders", "market_contexts_"),
    ),
    Flaw(
        "quotes-ignore-interval",
        "TMX-TND-020",
        "lists quotes delivering at any time when asked for those of an interval",
        ignoring_filter("quotes", "intervals"),
    ),
    Flaw(
        "quotes-ignore-market",
        "TMX-TND-020",
        "lists quotes of every market context when asked for those of one",
        ignoring_filter("quotes", "market_contexts_"),
    ),
    Flaw(
        "tenders-ignore-ids",
        "TMX-TND-003",
        "lists every tender the party may see when asked for one by id",
        ignoring_filter("tenders", "tender_ids"),
    ),
    Flaw(
        "expires-early",
        "TMX-TND-021",
        "counts a tender as expired ten seconds before its expiry",
        _expires_early,
    ),
]
