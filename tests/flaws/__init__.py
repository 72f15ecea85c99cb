"""Deliberately broken servers: each flaw breaks one rule of a temix server, and names the
conformance test that must fail against it (a suite that cannot fail certifies nothing).

A flaw's ``apply`` patches temix's code in the server process before it serves; patch the
name where the server looks it up (``temix.server.services.x`` when services imported ``x``
by name). Each module of this package lists its flaws in ``FLAWS``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Flaw:
    name: str
    breaks: str
    """The conformance test id that must fail against the flawed server."""
    description: str
    apply: Callable[[], None]


def ignoring_filter(listing: str, name: str) -> Callable[[], None]:
    """A flaw's ``apply``: the store's ``Unit.<listing>`` query (``tenders``, ``quotes``,
    ``transactions``) runs without its keyword filter ``name``."""

    def apply() -> None:
        from temix.server.store import Unit

        listed = getattr(Unit, listing)

        def unfiltered(self, **filters):  # type: ignore[no-untyped-def]
            filters.pop(name, None)
            return listed(self, **filters)

        setattr(Unit, listing, unfiltered)

    return apply


def _collect() -> dict[str, Flaw]:
    found: dict[str, Flaw] = {}
    for module in pkgutil.iter_modules(__path__):
        for flaw in importlib.import_module(f"{__name__}.{module.name}").FLAWS:
            if flaw.name in found:
                raise ValueError(f"flaw {flaw.name} is defined twice")
            found[flaw.name] = flaw
    return found


FLAWS = _collect()
