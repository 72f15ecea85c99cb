"""Flaws in the transport product."""

from __future__ import annotations

from flaws import Flaw


def _transport_ends_swapped() -> None:
    from dataclasses import replace

    from temix import positions
    from temix.model import TransportPath

    placed = positions.leg_at

    def swapped(deal, interface):  # type: ignore[no-untyped-def]
        path = deal.product.description.interface
        if isinstance(path, TransportPath):
            reversed_path = TransportPath(path.point_of_delivery, path.point_of_receipt)
            description = replace(deal.product.description, interface=reversed_path)
            product = replace(deal.product, description=description)
            deal = replace(deal, transaction=replace(deal.transaction, product=product))
        return placed(deal, interface)

    positions.leg_at = swapped


def _transport_to_itself() -> None:
    from temix.model import TransportPath

    TransportPath.__post_init__ = lambda self: None


FLAWS = [
    Flaw(
        "transport-ends-swapped",
        "TMX-TRP-002",
        "books the point of receipt as the point of delivery in positions",
        _transport_ends_swapped,
    ),
    Flaw(
        "transport-to-itself",
        "TMX-TRP-003",
        "takes a transport path whose two ends are the same node",
        _transport_to_itself,
    ),
]
