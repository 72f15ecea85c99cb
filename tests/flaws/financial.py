"""Flaws in financial (cash-settled) deals and option availability schedules."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from flaws import Flaw


def _as(deal, settlement):  # type: ignore[no-untyped-def]
    """``deal`` with its product's settlement replaced."""
    transaction = deal.transaction
    product = replace(transaction.product, settlement=settlement)
    return replace(deal, transaction=replace(transaction, product=product))


def _financial_stored_physical() -> None:
    """Stores every tender physical, whatever its tmx:settlement says."""
    from temix.model import Settlement
    from temix.server import services

    stored = services.Market._store_tender

    def physical(self, tender, author, offered_to):  # type: ignore[no-untyped-def]
        product = replace(tender.product, settlement=Settlement.PHYSICAL)
        return stored(self, replace(tender, product=product), author, offered_to)

    services.Market._store_tender = physical


def _financial_in_physical_positions() -> None:
    """Nets financial deals into the physical position (and so into metered imbalances)."""
    from temix import positions
    from temix.model import Settlement

    held = positions.Holdings.__init__

    def netted(self, deals, party_id, interface, settlement=Settlement.PHYSICAL):  # type: ignore[no-untyped-def]
        if settlement is Settlement.PHYSICAL:
            deals = [_as(deal, Settlement.PHYSICAL) for deal in deals]
        held(self, deals, party_id, interface, settlement)

    positions.Holdings.__init__ = netted


def _delivery_against_financial() -> None:
    """Takes metered delivery against a financial deal as against a physical one."""
    from temix.model import Settlement
    from temix.server import services

    checked = services.check_delivered_against

    def lenient(transaction_id, record, party):  # type: ignore[no-untyped-def]
        if record is not None:
            product = replace(record.transaction.product, settlement=Settlement.PHYSICAL)
            transaction = replace(record.transaction, product=product)
            record = replace(record, transaction=transaction)
        return checked(transaction_id, record, party)

    services.check_delivered_against = lenient


def _cash_out_at_balancing() -> None:
    """Cashes financial positions out at the balancing price, not the index."""
    from temix.server import services

    settle = services.settle

    def at_balancing(deals, deliveries, party, interface, period, balancing, **options):  # type: ignore[no-untyped-def]
        options["index_prices"] = balancing
        return settle(deals, deliveries, party, interface, period, balancing, **options)

    services.settle = at_balancing


def _hedge_at_delivery_only() -> None:
    """Shows a financial transport deal at its point of delivery only, so its holder is never
    cashed out at the point of receipt."""
    from temix import positions
    from temix.model import Settlement, TransportPath

    leg_at = positions.leg_at

    def delivery_only(deal, interface):  # type: ignore[no-untyped-def]
        where = deal.product.description.interface
        if (
            deal.product.settlement is Settlement.FINANCIAL
            and isinstance(where, TransportPath)
            and getattr(interface, "id", None) == where.point_of_receipt
        ):
            return None
        return leg_at(deal, interface)

    positions.leg_at = delivery_only


def _published_together() -> None:
    """Publishes financial and physical transactions together, whichever is asked for."""
    from temix.server import services

    publication = services.publication

    def together(deals, interval, interface, *, units, settlement):  # type: ignore[no-untyped-def]
        deals = [_as(deal, settlement) for deal in deals]
        return publication(deals, interval, interface, units=units, settlement=settlement)

    services.publication = together


def _availability_ignored() -> None:
    """Exercises an option at any time its other terms allow, ignoring its availability."""
    from temix.server import services

    exercise_option = services.exercise_option

    def anytime(option, *arguments, **options):  # type: ignore[no-untyped-def]
        product = option.transaction.product
        if product.option is not None:
            terms = replace(product.option, availability=None)
            transaction = replace(option.transaction, product=replace(product, option=terms))
            option = replace(option, transaction=transaction)
        return exercise_option(option, *arguments, **options)

    services.exercise_option = anytime


def _availability_in_standard_time() -> None:
    """Reads availability windows at the market's standard-time offset all year, so on a
    daylight-saving day they open an hour late."""
    from zoneinfo import ZoneInfo

    from temix.server import services

    exercise_option = services.exercise_option

    def standard(option, *arguments, time_zone="UTC", **options):  # type: ignore[no-untyped-def]
        offset = ZoneInfo(time_zone).utcoffset(datetime(2026, 1, 15))
        hours = int(offset.total_seconds() // 3600)
        fixed = "Etc/GMT" if hours == 0 else f"Etc/GMT{-hours:+d}"
        return exercise_option(option, *arguments, time_zone=fixed, **options)

    services.exercise_option = standard


FLAWS = [
    Flaw(
        "financial-stored-physical",
        "TMX-FIN-001",
        "stores a financial tender as a physical one",
        _financial_stored_physical,
    ),
    Flaw(
        "financial-in-physical-positions",
        "TMX-FIN-002",
        "nets financial deals into the physical position",
        _financial_in_physical_positions,
    ),
    Flaw(
        "delivery-against-financial",
        "TMX-FIN-003",
        "stores metered delivery reported against a financial deal",
        _delivery_against_financial,
    ),
    Flaw(
        "cash-out-at-balancing",
        "TMX-FIN-004",
        "cashes financial positions out at the balancing price instead of the index",
        _cash_out_at_balancing,
    ),
    Flaw(
        "hedge-at-delivery-only",
        "TMX-FIN-005",
        "shows a financial transport deal at its point of delivery only",
        _hedge_at_delivery_only,
    ),
    Flaw(
        "published-together",
        "TMX-FIN-006",
        "publishes financial and physical transactions together",
        _published_together,
    ),
    Flaw(
        "availability-ignored",
        "TMX-OPT-014",
        "exercises an option outside its availability schedule",
        _availability_ignored,
    ),
    Flaw(
        "availability-in-standard-time",
        "TMX-OPT-014",
        "reads availability windows in standard time on a daylight-saving day",
        _availability_in_standard_time,
    ),
]
