"""The signature peers of tests/peers.py agree with each other.

Envelopes signed by zeep (RSA-2048 and P-256 keys made here, self-signed certificates) verify
with xmlsec1, with the JDK and with signxml; one changed character in the Body payload or in
the Timestamp's Expires, another certificate, or a key smuggled into KeyInfo makes each of them
refuse. xmlsec1 and Java are skipped, with the reason, where they are not installed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from peers import (
    PeerResult,
    java_verify,
    peer_unavailable,
    signxml_verify,
    xmlsec1_verify,
    zeep_sign,
)
from temix.namespaces import SOAP11, SOAP12
from temix.wssecurity import DS, EXC_C14N, WSSE, WSU

CREATED = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
EXPIRES = CREATED + timedelta(minutes=5)
CREATED_TEXT = "2025-03-04T05:06:07Z"
EXPIRES_TEXT = "2025-03-04T05:11:07Z"
PAYLOAD = b"<p:Ping xmlns:p='urn:example:temix:peers'>signed payload</p:Ping>"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

VERIFIERS: dict[str, Callable[[bytes, bytes], PeerResult]] = {
    "xmlsec1": xmlsec1_verify,
    "java": java_verify,
    "signxml": signxml_verify,
}


@dataclass(frozen=True)
class Credentials:
    key_pem: bytes
    certificate_pem: bytes


def _credentials(key, name: str) -> Credentials:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return Credentials(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        certificate.public_bytes(serialization.Encoding.PEM),
    )


@pytest.fixture(scope="module")
def credentials() -> dict[str, Credentials]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    return {
        "rsa": _credentials(rsa.generate_private_key(65537, 2048), "temix peers rsa"),
        "ecdsa": _credentials(ec.generate_private_key(ec.SECP256R1()), "temix peers ecdsa"),
        "other": _credentials(rsa.generate_private_key(65537, 2048), "temix peers other"),
    }


def _envelope(soap: str) -> bytes:
    return (
        f"<soap:Envelope xmlns:soap='{soap}'><soap:Header/><soap:Body>".encode()
        + PAYLOAD
        + b"</soap:Body></soap:Envelope>"
    )


def _require(peer: str) -> None:
    reason = peer_unavailable().get(peer)
    if reason:
        pytest.skip(f"{peer} unavailable: {reason}")


@dataclass(frozen=True)
class Signed:
    kind: str
    soap: str
    message: bytes
    credentials: Credentials


@pytest.fixture(
    scope="module",
    params=[("rsa", SOAP11), ("ecdsa", SOAP11), ("rsa", SOAP12)],
    ids=["rsa-soap11", "ecdsa-soap11", "rsa-soap12"],
)
def signed(request, credentials) -> Signed:
    _require("zeep")
    kind, soap = request.param
    keys = credentials[kind]
    message = zeep_sign(
        _envelope(soap), keys.key_pem, keys.certificate_pem, created=CREATED, expires=EXPIRES
    )
    return Signed(kind, soap, message, keys)


@pytest.fixture(params=list(VERIFIERS))
def verify(request) -> Callable[[bytes, bytes], PeerResult]:
    _require(request.param)
    return VERIFIERS[request.param]


def _replace_once(message: bytes, old: bytes, new: bytes) -> bytes:
    assert message.count(old) == 1, f"{old!r} occurs {message.count(old)} times"
    return message.replace(old, new)


def test_zeep_signs_body_and_timestamp_per_the_token_profile(signed):
    """What the verifiers are shown is the profile's shape: the Timestamp as given, two
    exc-c14n/SHA-256 references (Body, Timestamp), KeyInfo pointing at the token."""
    root = etree.fromstring(signed.message)
    soap = etree.QName(root).namespace
    assert soap == signed.soap
    security = root.find(f"{{{soap}}}Header/{{{WSSE}}}Security")
    timestamp = security.find(f"{{{WSU}}}Timestamp")
    assert timestamp.findtext(f"{{{WSU}}}Created") == CREATED_TEXT
    assert timestamp.findtext(f"{{{WSU}}}Expires") == EXPIRES_TEXT
    body = root.find(f"{{{soap}}}Body")
    token = security.find(f"{{{WSSE}}}BinarySecurityToken")
    assert token.get("ValueType").endswith("#X509v3")
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    certificate = x509.load_pem_x509_certificate(signed.credentials.certificate_pem)
    assert base64.b64decode(token.text) == certificate.public_bytes(Encoding.DER)

    (signature,) = security.findall(f"{{{DS}}}Signature")
    info = signature.find(f"{{{DS}}}SignedInfo")
    assert info.find(f"{{{DS}}}CanonicalizationMethod").get("Algorithm") == EXC_C14N
    expected_method = RSA_SHA256 if signed.kind == "rsa" else ECDSA_SHA256
    assert info.find(f"{{{DS}}}SignatureMethod").get("Algorithm") == expected_method
    references = info.findall(f"{{{DS}}}Reference")
    assert [r.get("URI") for r in references] == [
        "#" + body.get(f"{{{WSU}}}Id"),
        "#" + timestamp.get(f"{{{WSU}}}Id"),
    ]
    for reference in references:
        transforms = reference.findall(f"{{{DS}}}Transforms/{{{DS}}}Transform")
        assert [t.get("Algorithm") for t in transforms] == [EXC_C14N]
        assert reference.find(f"{{{DS}}}DigestMethod").get("Algorithm") == SHA256
    token_reference = signature.find(
        f"{{{DS}}}KeyInfo/{{{WSSE}}}SecurityTokenReference/{{{WSSE}}}Reference"
    )
    assert token_reference.get("URI") == "#" + token.get(f"{{{WSU}}}Id")


def test_zeep_signed_envelope_verifies(signed, verify):
    result = verify(signed.message, signed.credentials.certificate_pem)
    assert result.ok, result.output


def test_changed_body_payload_is_invalid(signed, verify):
    tampered = _replace_once(signed.message, b">signed payload<", b">signed paylaad<")
    result = verify(tampered, signed.credentials.certificate_pem)
    assert not result.ok, result.output


def test_changed_expires_is_invalid(signed, verify):
    """The Timestamp is signed: a later Expires breaks the signature."""
    old = f">{EXPIRES_TEXT}<".encode()
    tampered = _replace_once(signed.message, old, old.replace(b":11:", b":19:"))
    result = verify(tampered, signed.credentials.certificate_pem)
    assert not result.ok, result.output


def test_other_certificate_is_rejected(signed, verify, credentials):
    result = verify(signed.message, credentials["other"].certificate_pem)
    assert not result.ok, result.output


def test_key_value_in_key_info_is_not_trusted(credentials, verify):
    """Signed with another key that the message carries in ds:KeyInfo/ds:KeyValue (KeyInfo is
    not signed): verifying with the expected certificate must fail. Plain ``xmlsec1 --verify``
    would take the key from KeyValue and print OK; ``--enabled-key-data rsa,ecdsa`` stops it."""
    _require("zeep")
    other = credentials["other"]
    message = zeep_sign(
        _envelope(SOAP11), other.key_pem, other.certificate_pem, created=CREATED, expires=EXPIRES
    )
    root = etree.fromstring(message)
    key_info = root.find(f".//{{{DS}}}KeyInfo")
    for child in list(key_info):
        key_info.remove(child)
    from cryptography import x509

    numbers = x509.load_pem_x509_certificate(other.certificate_pem).public_key().public_numbers()
    rsa_key_value = etree.SubElement(
        etree.SubElement(key_info, f"{{{DS}}}KeyValue"), f"{{{DS}}}RSAKeyValue"
    )
    for name, value in (("Modulus", numbers.n), ("Exponent", numbers.e)):
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        etree.SubElement(rsa_key_value, f"{{{DS}}}{name}").text = base64.b64encode(raw).decode()
    forged = etree.tostring(root)
    result = verify(forged, credentials["rsa"].certificate_pem)
    assert not result.ok, result.output


def test_zeep_sign_wants_timezone_aware_times(credentials):
    _require("zeep")
    keys = credentials["rsa"]
    with pytest.raises(ValueError, match="timezone-aware"):
        zeep_sign(
            _envelope(SOAP11),
            keys.key_pem,
            keys.certificate_pem,
            created=datetime(2025, 1, 1),
            expires=EXPIRES,
        )


def test_peer_unavailable_names_known_peers_with_reasons():
    reasons = peer_unavailable()
    assert set(reasons) <= {"xmlsec1", "java", "zeep", "signxml"}
    assert all(reasons.values())
