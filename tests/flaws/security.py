"""Flaws in message security: the checks of docs/security.md, each skipped or weakened the way
a careless server gets it wrong."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from lxml import etree

from flaws import Flaw


def _acts_on_the_received_body() -> None:
    """Verifies that the signature holds over a Body somewhere in the message, then acts on the
    Envelope's Body, whatever it is: the naive verifier signature wrapping defeats."""
    from temix import wssecurity
    from temix.server import security

    verify = security.verify_envelope

    def verify_any_body(envelope, trusted, now, freshness):  # type: ignore[no-untyped-def]
        env = etree.QName(envelope).namespace
        received = envelope.find(f"{{{env}}}Body")
        signed_ids = {
            reference.get("URI", "").removeprefix("#")
            for reference in envelope.iter(f"{{{wssecurity.DS}}}Reference")
        }
        restored = copy.deepcopy(envelope)
        body = restored.find(f"{{{env}}}Body")
        for element in restored.iter(f"{{{env}}}Body"):
            if element is not body and element.get(wssecurity.WSU_ID) in signed_ids:
                element.getparent().remove(element)
                restored.replace(body, element)
                break
        return replace(verify(restored, trusted, now, freshness), body=received)

    security.verify_envelope = verify_any_body


def _trusts_any_certificate() -> None:
    """Believes the name in whatever certificate the message carries."""
    from cryptography.x509.oid import NameOID

    from temix.keys import fingerprint
    from temix.server import security

    known = security.MessageSecurity.signer

    def signer(self, certificate, now):  # type: ignore[no-untyped-def]
        try:
            return known(self, certificate, now)
        except security.SecurityError:
            name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            return security.Signer(name, frozenset({security.TRADER}), fingerprint(certificate))

    security.MessageSecurity.signer = signer


def _recognises_common_names() -> None:
    """Recognises a subject-bound party by the common name of a certificate its CA issued,
    not by the whole subject."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from temix.keys import fingerprint
    from temix.server import security

    known = security.MessageSecurity.signer

    def common_name(subject):  # type: ignore[no-untyped-def]
        return [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]

    def signer(self, certificate, now):  # type: ignore[no-untyped-def]
        try:
            return known(self, certificate, now)
        except security.SecurityError:
            with self.store.transaction(write=False) as unit:
                parties = unit.all_parties()
            for party in parties:
                if party.subject and common_name(
                    x509.Name.from_rfc4514_string(party.subject)
                ) == common_name(certificate.subject):
                    security.check_issued_by(certificate, self.policy.authorities, now)
                    return security.Signer(party.party_id, party.roles, fingerprint(certificate))
            raise

    security.MessageSecurity.signer = signer


def _signs_only_successes() -> None:
    """Signs the replies that carry a request out and sends faults unsigned."""
    from temix.server import soap

    signed = soap.SoapApplication._signed

    def successes_only(self, response):  # type: ignore[no-untyped-def]
        return signed(self, response) if response.status == 200 else response

    soap.SoapApplication._signed = successes_only


def _trusts_issuer_by_name() -> None:
    """Takes a certificate as issued by a trusted CA when its issuer's name is that CA's."""
    from temix.server import security

    def issued_by_name(certificate, authorities, now):  # type: ignore[no-untyped-def]
        if not any(certificate.issuer == authority.subject for authority in authorities):
            raise security.SecurityError("the certificate is not issued by a trusted CA")

    security.check_issued_by = issued_by_name


def _no_replay_cache() -> None:
    from temix.server.store import Unit

    Unit.see_signature = lambda self, replay_key, until, now: True


def _accepts_sha1() -> None:
    from signxml import DigestAlgorithm

    from temix import wssecurity

    wssecurity.DIGEST_METHODS = wssecurity.DIGEST_METHODS | {DigestAlgorithm.SHA1}


def _freshness_without(check: str) -> None:
    """Patches the Timestamp check to skip one of its three rules: ``age``, ``future`` or
    ``expires``."""
    from temix import wssecurity

    def lenient(timestamp, now, freshness):  # type: ignore[no-untyped-def]
        created, *expires = (
            wssecurity._instant(part.text, "time")
            for part in timestamp
            if isinstance(part.tag, str)
        )
        if check != "future" and created > now + freshness.max_future:
            raise wssecurity.SecurityError("the Timestamp was created in the future")
        if check != "age" and now - created > freshness.max_age:
            raise wssecurity.SecurityError("the Timestamp is stale")
        if check != "expires" and expires and expires[0] <= now:
            raise wssecurity.SecurityError("the Timestamp expired")
        return created

    wssecurity._check_freshness = lenient


def _reads_the_first_security_header() -> None:
    from temix import wssecurity

    every = wssecurity._security_headers
    wssecurity._security_headers = lambda header, env: every(header, env)[:1]


def _leaves_the_timestamp_unsigned() -> None:
    """Accepts a signature over the Body alone: the Timestamp is a part it may sign, not one
    it must."""
    from temix import wssecurity

    shape = wssecurity._check_signature_shape
    timestamp = f"{{{wssecurity.WSU}}}Timestamp"

    def body_enough(signature, required, optional):  # type: ignore[no-untyped-def]
        must = {part_id: part for part_id, part in required.items() if part.tag != timestamp}
        return shape(signature, must, {**optional, **required})

    wssecurity._check_signature_shape = body_enough


def _accepts_unsigned() -> None:
    """Verifies a signature when there is one, and lets a request without one through."""
    from temix.server import security

    check = security.MessageSecurity.check_request

    def check_request(self, envelope, body, context):  # type: ignore[no-untyped-def]
        if next(envelope.iter(security.SECURITY_HEADER), None) is None:
            return security.warn_unsigned(envelope, body, context)
        return check(self, envelope, body, context)

    security.MessageSecurity.check_request = check_request


def _never_verifies_the_signature() -> None:
    """Checks the signature's shape and its certificate, never its cryptography: neither the
    digests nor the SignatureValue."""
    from temix import wssecurity

    wssecurity._check_digest = lambda reference, target_id, digest, canonical: None
    wssecurity._check_signature_value = lambda certificate, method, value, signed: None


def _soap12_unverified() -> None:
    """Verifies SOAP 1.1 requests only."""
    from temix.envelope import SOAP_1_2
    from temix.server import security

    check = security.MessageSecurity.check_request

    def check_request(self, envelope, body, context):  # type: ignore[no-untyped-def]
        if context.version is SOAP_1_2:
            return security.warn_unsigned(envelope, body, context)
        return check(self, envelope, body, context)

    security.MessageSecurity.check_request = check_request


def _refuses_rsa() -> None:
    from signxml import SignatureMethod

    from temix import wssecurity

    wssecurity.SIGNATURE_METHODS = wssecurity.SIGNATURE_METHODS - {SignatureMethod.RSA_SHA256}


def _accepts_sha1_signatures() -> None:
    from signxml import SignatureMethod

    from temix import wssecurity

    wssecurity.SIGNATURE_METHODS = wssecurity.SIGNATURE_METHODS | {
        SignatureMethod.RSA_SHA1,
        SignatureMethod.ECDSA_SHA1,
    }


def _expands_entities() -> None:
    """Parses a DOCTYPE and expands its entities, as libxml2 does by default."""
    from temix import xmlsafe

    xmlsafe._PARSER = etree.XMLParser(resolve_entities=True, no_network=True, remove_pis=False)
    xmlsafe._refuse_doctype = lambda docinfo: None


def _no_depth_limit() -> None:
    from temix.server import soap

    parse = soap.parse_bytes

    def deep(data: bytes, **limits: Any) -> Any:
        return parse(data, **{**limits, "max_depth": 255})

    soap.parse_bytes = deep


FLAWS = [
    Flaw(
        "never-verifies-signatures",
        "TMX-SEC-007",
        "checks a signature's shape and certificate but not its cryptography",
        _never_verifies_the_signature,
    ),
    Flaw(
        "soap12-unverified",
        "TMX-SEC-023",
        "verifies the signatures of SOAP 1.1 requests only",
        _soap12_unverified,
    ),
    Flaw("refuses-rsa", "TMX-SEC-002", "refuses RSA-SHA256 signatures", _refuses_rsa),
    Flaw(
        "acts-on-received-body",
        "TMX-SEC-016",
        "verifies the signature over the Body it references, wherever it is, and acts on the "
        "Envelope's Body (no check that the signed Body is the Envelope's)",
        _acts_on_the_received_body,
    ),
    Flaw(
        "trusts-any-certificate",
        "TMX-SEC-005",
        "takes the signer's name from any certificate in the message",
        _trusts_any_certificate,
    ),
    Flaw(
        "trusts-issuer-by-name",
        "TMX-SEC-006",
        "takes a certificate whose issuer bears a trusted CA's name as issued by it",
        _trusts_issuer_by_name,
    ),
    Flaw(
        "no-replay-cache",
        "TMX-SEC-008",
        "keeps no record of the signatures it has seen",
        _no_replay_cache,
    ),
    Flaw("accepts-sha1-digests", "TMX-SEC-014", "allows SHA-1 digests", _accepts_sha1),
    Flaw(
        "ignores-timestamp-age",
        "TMX-SEC-009",
        "accepts a Timestamp of any age that has not expired",
        lambda: _freshness_without("age"),
    ),
    Flaw(
        "accepts-future-timestamps",
        "TMX-SEC-010",
        "accepts a Timestamp created any time ahead",
        lambda: _freshness_without("future"),
    ),
    Flaw(
        "ignores-expires",
        "TMX-SEC-011",
        "accepts a Timestamp after its Expires",
        lambda: _freshness_without("expires"),
    ),
    Flaw(
        "reads-first-security-header",
        "TMX-SEC-018",
        "reads the first wsse:Security header and ignores any other",
        _reads_the_first_security_header,
    ),
    Flaw(
        "accepts-unsigned-timestamp",
        "TMX-SEC-013",
        "accepts a signature that covers the Body alone",
        _leaves_the_timestamp_unsigned,
    ),
    Flaw(
        "accepts-unsigned",
        "TMX-SEC-004",
        "lets a request without a wsse:Security header through unverified",
        _accepts_unsigned,
    ),
    Flaw(
        "expands-entities",
        "TMX-SEC-019",
        "parses a document with a DOCTYPE and expands its entities",
        _expands_entities,
    ),
    Flaw(
        "no-depth-limit",
        "TMX-SEC-021",
        "parses elements nested to any depth libxml2 allows",
        _no_depth_limit,
    ),
    Flaw(
        "recognises-common-names",
        "TMX-SEC-024",
        "takes a certificate from the party's CA as the party's when its common name matches",
        _recognises_common_names,
    ),
    Flaw(
        "unsigned-faults",
        "TMX-SEC-025",
        "signs the replies that carry a request out but not its faults",
        _signs_only_successes,
    ),
    Flaw(
        "accepts-sha1-signatures",
        "TMX-SEC-015",
        "accepts RSA-SHA1 and ECDSA-SHA1 signature methods",
        _accepts_sha1_signatures,
    ),
]
