"""Message security on the server: who signed a request, whether to believe it, and signing
every reply. The WS-Security checks themselves are :mod:`temix.wssecurity`; this module binds
them to the party registry and the replay cache in the store.

Steps 4 to 10 of the inbound pipeline (``shared/reference/SECURITY.md``) run in
:meth:`MessageSecurity.check_request`, the SOAP application's request filter:

* the signer's certificate is looked up in the registry: a party pinned to its SHA-256
  fingerprint, or a party whose certificate subject is registered and which a trusted CA
  issued. Either way the certificate must be within its validity and allow signing;
* the signature is verified (:func:`temix.wssecurity.verify_envelope`); over mutual TLS the
  client certificate must belong to the same party;
* what it signed (the digest of its SignedInfo) is recorded in the store
  (``seen_signatures``), shared by every worker and kept across restarts until the message
  would be stale anyway; a second arrival is a replay, even with the signature re-encoded.
  A retry signed anew is not a replay: idempotency answers it. The record is written in the
  exchange's unit, so it commits with the request's work and ledger entry, and goes with
  them when the request ends in a fault (a replay of that message meets the same fault);
* the signed copy of the Body goes on to dispatch, and the party goes into the request's
  context, where the services check that the payload speaks for that party.

Every refusal is the same fault (``wsse:InvalidSecurity``, or ``wsse:FailedCheck`` when the
signature does not verify) with the same reason; the cause goes to the ledger.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from lxml import etree

from temix import payloads as p
from temix.codec import document_bytes
from temix.keys import Credentials, fingerprint
from temix.server.services import ANONYMOUS, sender_of
from temix.server.soap import FaultCode, FaultSubcode, RequestContext, SoapFault
from temix.server.store import PartyRecord, Store, Unit
from temix.wssecurity import (
    WSSE,
    Freshness,
    SecurityError,
    check_certificate,
    check_issued_by,
    sign_envelope,
    verify_envelope,
)
from temix.xmlsafe import parse_own

logger = logging.getLogger(__name__)

SECURITY_HEADER = f"{{{WSSE}}}Security"
INVALID_SECURITY = FaultSubcode("wsse", WSSE, "InvalidSecurity")
FAILED_CHECK = FaultSubcode("wsse", WSSE, "FailedCheck")
SECURITY_REFUSED = "the message's security could not be accepted"
"""The reason of every security fault: the peer learns nothing about which check failed."""

TRADER = "trader"
"""The role that trades: tenders, quotes, transactions, options and deliveries."""
OPERATOR = "operator"
"""The market operator's role: it registers market contexts and reads every party's records."""
ROLES = frozenset({TRADER, OPERATOR})

VERIFIED = "verified"
REFUSED = "refused"
UNSIGNED = "unsigned"
UNVERIFIED = "unverified"
"""The ledger's verification results: verified, refused, unsigned (accepted by an
``--insecure`` server), or unverified (refused before its signature was looked at, for example
because it is not well-formed XML)."""


@dataclass(frozen=True)
class Signer:
    """The registered party a verified request comes from."""

    party_id: str
    roles: frozenset[str]
    certificate_sha256: str


@dataclass(frozen=True)
class SecurityPolicy:
    """What the server signs with and whom it believes: its own credentials, the CAs that
    issue subject-bound parties' certificates, and how fresh a message must be."""

    credentials: Credentials
    authorities: Sequence[x509.Certificate] = ()
    freshness: Freshness = field(default_factory=Freshness)


class MessageSecurity:
    """The request filter and reply signer of a signed server over ``store``'s registry."""

    def __init__(
        self,
        store: Store,
        policy: SecurityPolicy,
        clock: Callable[[], datetime],
        unit_of_exchange: Callable[[], Unit],
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        self.unit_of_exchange = unit_of_exchange

    def check_request(
        self, envelope: etree._Element, body: etree._Element, context: RequestContext
    ) -> etree._Element:
        """The signed copy of ``body``, once the request's security is accepted."""
        now = self.clock()
        try:
            verified = verify_envelope(
                envelope,
                lambda certificate: self.signer(certificate, now),
                now,
                self.policy.freshness,
            )
            signer: Signer = verified.signer
            if context.tls_certificate is not None:
                shown = self.signer(x509.load_der_x509_certificate(context.tls_certificate), now)
                if shown.party_id != signer.party_id:
                    raise SecurityError(
                        f"signed by {signer.party_id} over a TLS connection of {shown.party_id}"
                    )
            unit = self.unit_of_exchange()
            first_time = unit.see_signature(verified.replay_key, verified.replay_until, now)
            if not first_time:
                raise SecurityError(f"replayed signature (message created {verified.created})")
        except SecurityError as refusal:
            raise self._refused(context, refusal.cause, refusal.failed_check) from None
        except Exception as error:
            logger.exception("unexpected error checking a request's security: refused")
            raise self._refused(context, f"unexpected {type(error).__name__}", False) from None
        context.signer = signer
        context.notes["verification"] = VERIFIED
        context.notes["verification_detail"] = (
            f"{signer.party_id} sha256:{signer.certificate_sha256}"
        )
        return verified.body

    @staticmethod
    def _refused(context: RequestContext, cause: str, failed_check: bool) -> SoapFault:
        """The generic security fault; the cause is noted for the ledger only."""
        context.notes["verification"] = REFUSED
        context.notes["verification_detail"] = cause
        subcode = FAILED_CHECK if failed_check else INVALID_SECURITY
        return SoapFault(FaultCode.CLIENT, SECURITY_REFUSED, subcode)

    def signer(self, certificate: x509.Certificate, now: datetime) -> Signer:
        """The registered party ``certificate`` belongs to, or :class:`SecurityError`."""
        sha256 = fingerprint(certificate)
        subject = certificate.subject.rfc4514_string()
        with self.store.transaction(write=False) as unit:
            candidates = unit.parties_recognising(sha256, subject)
        party = _bound(candidates, sha256, subject)
        if party is None:
            raise SecurityError(
                f"no registered party has the certificate sha256:{sha256} ({subject})"
            )
        check_certificate(certificate, now)
        if party.certificate_sha256 != sha256:
            check_issued_by(certificate, self.policy.authorities, now)
        return Signer(party.party_id, party.roles, sha256)

    def sign_reply(self, reply: bytes) -> bytes:
        """``reply`` (an envelope this server wrote) signed with the server's key."""
        envelope = parse_own(reply)
        credentials = self.policy.credentials
        sign_envelope(envelope, credentials.key, credentials.certificate, self.clock())
        return document_bytes(envelope)


_TRADING = frozenset(
    {
        p.CreateTender,
        p.DistributeTender,
        p.CancelTender,
        p.CreateQuote,
        p.CancelQuote,
        p.CreateTransaction,
        p.CreateDelivery,
    }
)
"""The requests that only a party with the trader role may send."""


def authorisation_refusal(request: Any, signer: Signer) -> str | None:
    """Why ``signer`` may not send ``request``, or None: the party the payload speaks for must
    be the signer, and trading needs the trader role."""
    claimed = sender_of(request)
    if claimed not in (ANONYMOUS, signer.party_id):
        return f"the request speaks for {claimed} but is signed by {signer.party_id}"
    if type(request) in _TRADING and TRADER not in signer.roles:
        return f"{signer.party_id} does not have the {TRADER} role"
    return None


def _bound(candidates: Sequence[PartyRecord], sha256: str, subject: str) -> PartyRecord | None:
    """The party pinned to ``sha256``, else the one registered by ``subject``."""
    for party in candidates:
        if party.certificate_sha256 == sha256:
            return party
    for party in candidates:
        if party.subject == subject:
            return party
    return None


class Insecure(enum.Enum):
    """The explicit choice of a server that verifies and signs nothing."""

    INSECURE = "insecure"


INSECURE = Insecure.INSECURE


def warn_unsigned(
    envelope: etree._Element, body: etree._Element, context: RequestContext
) -> etree._Element:
    """The request filter of an ``--insecure`` server: nothing is verified, and every request
    says so in the log and the ledger."""
    logger.warning("insecure server: request accepted without a signature check")
    context.notes["verification"] = UNSIGNED
    return body
