"""The tests' development PKI, made once per session in memory: a CA, the server's credentials
and one key per party, valid from before the tests' fixed clock until after today."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from lxml import etree

from temix.keys import (
    Credentials,
    KeyAlgorithm,
    generate_key,
    issue_ca_certificate,
    issue_party_certificate,
    issue_server_certificate,
    party_subject,
)
from temix.server.security import TRADER, SecurityPolicy
from temix.server.store import PartyRecord, Store
from temix.wssecurity import Freshness, sign_envelope

ISSUED_AT = datetime(2026, 1, 1, tzinfo=UTC)


@functools.cache
def authority() -> Credentials:
    key = generate_key(KeyAlgorithm.ECDSA)
    return Credentials(key, issue_ca_certificate(key, ISSUED_AT))


@functools.cache
def server_credentials() -> Credentials:
    key = generate_key(KeyAlgorithm.ECDSA)
    certificate = issue_server_certificate(
        authority(), key.public_key(), ["localhost", "127.0.0.1"], ISSUED_AT
    )
    return Credentials(key, certificate)


@functools.cache
def party_credentials(party: str, algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA) -> Credentials:
    key = generate_key(algorithm)
    return Credentials(
        key, issue_party_certificate(authority(), key.public_key(), party, ISSUED_AT)
    )


def policy(freshness: Freshness | None = None) -> SecurityPolicy:
    """The test server's policy: its credentials, the test CA, default or given freshness."""
    return SecurityPolicy(
        server_credentials(), (authority().certificate,), freshness or Freshness()
    )


def register(
    store: Store, party: str, now: datetime, roles: frozenset[str] = frozenset({TRADER})
) -> None:
    """Register ``party`` by the subject of its test certificate."""
    with store.transaction() as unit:
        unit.put_party(PartyRecord(party, roles, subject=party_subject(party)), now)


def sign(envelope: bytes, credentials: Credentials, now: datetime) -> bytes:
    """``envelope`` signed as a client signs it."""
    tree = etree.fromstring(envelope)
    sign_envelope(tree, credentials.key, credentials.certificate, now)
    return etree.tostring(tree)
