"""The capability declaration: what the endpoint under test implements, and the run's inputs.

One TOML file, in the spirit of a PICS (protocol implementation conformance statement). A test
that needs a feature the endpoint does not declare is notApplicable; a test that needs an input
the file does not give is missingInput. Without a file, the endpoint is taken to implement the
whole TeMIX profile and the inputs are the development market's::

    [endpoint]
    soap-1-2 = true                 # SOAP 1.2 ports besides SOAP 1.1
    signed = true                   # WS-Security X.509 signatures on requests and replies
    ws-addressing = true            # WS-Addressing 1.0 headers on requests and replies
    signature-algorithms = ["rsa-sha256", "ecdsa-sha256"]
    digest-algorithms = ["sha256", "sha384", "sha512"]    # with the signature methods' hashes
    token-references = ["subject-key-identifier", "thumbprint-sha1", "issuer-serial"]
                                    # KeyInfo forms besides a direct reference to the token

    [features]
    products = ["power", "transport", "powerOption", "transportOption"]
    distribute = true               # EiDistributeTender
    quotes = true                   # EiCreateQuote, EiCancelQuote, EiRequestQuote
    delivery = true                 # EiCreateDelivery, EiRequestDelivery
    positions = true                # EiRequestPosition
    settlement = true               # EiRequestSettlement
    publication = true              # EiRequestPublication
    financial = true                # financial (cash-settled) deals: tmx:settlement, index prices
    availability = true             # option availability schedules (emix:availabilitySchedule)

    [inputs]
    market-context = "urn:temix:market:development"
    node = "NODE-A"                 # a pnode the suite's parties may trade at
    other-node = "NODE-B"           # a second pnode, for transport between the two
    dst-market-context = "urn:example:market:eastern"   # a market whose zone keeps DST
    third-party = "generator"       # a third trader with keys in the key directory
    settlement-day = "2026-11-23"   # a day (market time) with balancing prices registered
    balancing-price = "37.25"       # the balancing price of every interval of that day at node
    group = "buyers"                # a group of parties whose only member is the counterparty
    financial-market-context = "urn:example:market:hedged"  # a market declaring an index price
    index-price = "41.50"           # its index price in each interval of the settlement day at node
    other-index-price = "44.75"     # the same at other-node

A test's ``requires`` names features by the names above: ``soap-1-2``, ``signed``,
``ws-addressing``, ``rsa-sha256``, ``ecdsa-sha256``, each digest algorithm and token reference,
the four product names, and each ``[features]`` flag.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from temix.model import DEVELOPMENT_MARKET, ProductKind

SIGNATURE_ALGORITHMS = ("rsa-sha256", "ecdsa-sha256")
DIGEST_ALGORITHMS = ("sha256", "sha384", "sha512")
TOKEN_REFERENCES = ("subject-key-identifier", "thumbprint-sha1", "issuer-serial")
LISTS = {
    "signature-algorithms": SIGNATURE_ALGORITHMS,
    "digest-algorithms": DIGEST_ALGORITHMS,
    "token-references": TOKEN_REFERENCES,
}
"""The [endpoint] lists, each naming features."""
PRODUCTS = tuple(kind.value for kind in ProductKind)
FLAGS = (
    "distribute",
    "quotes",
    "delivery",
    "positions",
    "settlement",
    "publication",
    "financial",
    "availability",
)
ENDPOINT_FLAGS = ("soap-1-2", "signed", "ws-addressing")
FEATURES = frozenset(
    {*ENDPOINT_FLAGS, *SIGNATURE_ALGORITHMS, *DIGEST_ALGORITHMS, *TOKEN_REFERENCES}
    | {*PRODUCTS, *FLAGS}
)
INPUTS = (
    "market-context",
    "node",
    "other-node",
    "dst-market-context",
    "third-party",
    "settlement-day",
    "balancing-price",
    "group",
    "financial-market-context",
    "index-price",
    "other-index-price",
)
DEFAULT_INPUTS = MappingProxyType(
    {"market-context": DEVELOPMENT_MARKET.uri, "node": "NODE-A", "other-node": "NODE-B"}
)


class CapabilityError(ValueError):
    """The declaration cannot be read or says something the suite does not know."""


@dataclass(frozen=True)
class Capabilities:
    """The declared features and the inputs given."""

    features: frozenset[str] = FEATURES
    inputs: Mapping[str, str] = field(default_factory=lambda: DEFAULT_INPUTS)
    source: str = "the whole TeMIX profile (no declaration given)"

    def declares(self, feature: str) -> bool:
        if feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r}")
        return feature in self.features

    def missing(self, required: frozenset[str]) -> list[str]:
        """The features of ``required`` the endpoint does not declare, sorted."""
        return sorted(feature for feature in required if not self.declares(feature))

    @classmethod
    def read(cls, path: Path) -> Capabilities:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CapabilityError(f"{path}: {error.strerror or error}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise CapabilityError(f"{path}: not TOML: {error}") from None
        try:
            return cls.parse(document, source=str(path))
        except CapabilityError as error:
            raise CapabilityError(f"{path}: {error}") from None

    @classmethod
    def parse(cls, document: Mapping[str, Any], source: str) -> Capabilities:
        _only(document, {"endpoint", "features", "inputs"}, "the file")
        endpoint = _table(document, "endpoint")
        features_table = _table(document, "features")
        inputs_table = _table(document, "inputs")
        _only(endpoint, {*ENDPOINT_FLAGS, *LISTS}, "[endpoint]")
        _only(features_table, {"products", *FLAGS}, "[features]")
        _only(inputs_table, set(INPUTS), "[inputs]")
        features = {
            name for name in ENDPOINT_FLAGS if _flag(endpoint, name, "[endpoint]", default=True)
        }
        for name, known in LISTS.items():
            features |= _names(endpoint, name, known, "[endpoint]")
        features |= _names(features_table, "products", PRODUCTS, "[features]")
        features |= {
            name for name in FLAGS if _flag(features_table, name, "[features]", default=True)
        }
        inputs = dict(DEFAULT_INPUTS)
        for name, value in inputs_table.items():
            if not isinstance(value, str) or not value.strip():
                raise CapabilityError(f"[inputs] {name} must be a non-empty string")
            inputs[name] = value.strip()
        return cls(frozenset(features), MappingProxyType(inputs), source)


def _table(document: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = document.get(name, {})
    if not isinstance(table, Mapping):
        raise CapabilityError(f"{name} must be a table ([{name}])")
    return table


def _only(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise CapabilityError(
            f"{where}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def _flag(table: Mapping[str, Any], name: str, where: str, *, default: bool) -> bool:
    value = table.get(name, default)
    if not isinstance(value, bool):
        raise CapabilityError(f"{where} {name} must be true or false")
    return value


def _names(table: Mapping[str, Any], name: str, known: tuple[str, ...], where: str) -> set[str]:
    values = table.get(name, list(known))
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise CapabilityError(f"{where} {name} must be a list of strings")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise CapabilityError(
            f"{where} {name}: unknown {', '.join(unknown)} (known: {', '.join(known)})"
        )
    return set(values)
