"""Market context: the terms every product of a market follows (TeMIX paper 2.12)."""

from __future__ import annotations

from dataclasses import replace

from temix.conformance.catalogue import case
from temix.conformance.trial import Trial

MARKET_CONTEXT = "TMX-MKT-001"


@case(
    MARKET_CONTEXT,
    "The endpoint describes the market context the run trades in",
    "TeMIX paper 2.12; EI 1.0 EiMarketContext service",
)
def describes_market_context(trial: Trial) -> None:
    market = trial.market
    trial.expect(
        market.uri == trial.input("market-context"),
        f"asked for {trial.input('market-context')}, got {market.uri}",
    )
    trial.expect(bool(market.currency), "the market context names no currency")


@case(
    "TMX-MKT-002",
    "An unknown market context URI is refused with 404 while known ones are still returned",
    "TeMIX paper 2.12; EI 1.0 EiMarketContext service",
    after=[MARKET_CONTEXT],
)
def unknown_market_context(trial: Trial) -> None:
    unknown = f"urn:temix:conformance:unknown:{trial.new_id()}"
    known = trial.market.uri
    refusal = trial.refused(
        lambda: trial.client().request_market_contexts(known, unknown),
        f"asking for {unknown} with {known}",
        "404",
    )
    returned = {market.uri for market in getattr(refusal.reply, "market_contexts", ())}
    trial.expect(known in returned, f"the refusal dropped the known context {known}")
    trial.expect(unknown not in returned, f"the reply describes the unknown context {unknown}")


@case(
    "TMX-MKT-003",
    "A tender in an unknown market context is refused with 404",
    "TeMIX paper 2.12: each market context has a URI every product names",
    after=[MARKET_CONTEXT],
)
def tender_in_unknown_market(trial: Trial) -> None:
    tender = trial.tender()
    unknown = f"urn:temix:conformance:unknown:{trial.new_id()}"
    stray = replace(tender, product=replace(tender.product, market_context=unknown))
    trial.refused(
        lambda: trial.client().create_tender(trial.counterparty, stray),
        f"a tender in {unknown}",
        "404",
    )


@case(
    "TMX-MKT-004",
    "A tender priced in another currency than the market's is refused with 422",
    "TeMIX paper 2.12: a market context holds the currency; EMIX 1.0 currency",
    after=[MARKET_CONTEXT],
)
def tender_in_other_currency(trial: Trial) -> None:
    other = "EUR" if trial.market.currency != "EUR" else "USD"
    tender = trial.tender()
    stray = replace(tender, product=replace(tender.product, currency=other))
    trial.refused(
        lambda: trial.client().create_tender(trial.counterparty, stray),
        f"a tender priced in {other} in a {trial.market.currency} market",
        "422",
    )
