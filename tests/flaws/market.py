"""Flaws in the market context rules."""

from __future__ import annotations

from dataclasses import replace

from flaws import Flaw


def _any_currency() -> None:
    from temix.server import services

    checked = services.check_fits_market

    def ignoring_currency(product, market):  # type: ignore[no-untyped-def]
        if market is not None:
            product = replace(product, currency=market.currency)
        return checked(product, market)

    services.check_fits_market = ignoring_currency


def _unknown_markets_unsaid() -> None:
    """Returns the known market contexts asked for and says nothing of the unknown ones."""
    from temix import payloads as p
    from temix.server import services

    described = services._SERVICES[p.RequestMarketContext]

    def silent(self, request):  # type: ignore[no-untyped-def]
        known = tuple(uri for uri in request.market_contexts if self.unit.market_context(uri))
        return described(self, replace(request, market_contexts=known))

    services._SERVICES[p.RequestMarketContext] = silent


def _tenders_in_any_market() -> None:
    """Stores a tender whose market context it does not know, unchecked."""
    from temix.server import services

    checked = services.check_fits_market
    services.check_fits_market = lambda product, market: (
        None if market is None else checked(product, market)
    )


FLAWS = [
    Flaw(
        "any-currency",
        "TMX-MKT-004",
        "takes a tender priced in any currency",
        _any_currency,
    ),
    Flaw(
        "unknown-markets-unsaid",
        "TMX-MKT-002",
        "answers a request naming an unknown market context with 200 and the known ones",
        _unknown_markets_unsaid,
    ),
    Flaw(
        "tenders-in-any-market",
        "TMX-MKT-003",
        "takes a tender in a market context it does not know",
        _tenders_in_any_market,
    ),
]
