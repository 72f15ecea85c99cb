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


FLAWS = [
    Flaw(
        "any-currency",
        "TMX-MKT-004",
        "takes a tender priced in any currency",
        _any_currency,
    ),
]
