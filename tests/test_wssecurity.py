"""WS-Security signing and verification in process: what a signed envelope carries, what the
verifier hands back, and the certificate rules. Attacks on a running server are in
``test_security_attacks.py``."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import DigestAlgorithm

import pki
from temix.keys import KeyAlgorithm, generate_key
from temix.namespaces import SOAP11, SOAP12
from temix.wssecurity import (
    DS,
    EXC_C14N,
    WSSE,
    WSU,
    Freshness,
    SecurityError,
    SignatureLayout,
    TokenReference,
    check_certificate,
    check_issued_by,
    sign_envelope,
    verify_envelope,
)

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
PAYLOAD = b'<p:order xmlns:p="urn:example">r<!---->ep</p:order>'


def signed(
    namespace: str = SOAP11,
    algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA,
    layout: SignatureLayout | None = None,
) -> bytes:
    envelope = etree.fromstring(
        f'<e:Envelope xmlns:e="{namespace}"><e:Body>'.encode() + PAYLOAD + b"</e:Body></e:Envelope>"
    )
    credentials = pki.party_credentials("rep", algorithm)
    sign_envelope(
        envelope, credentials.key, credentials.certificate, NOW, layout=layout or SignatureLayout()
    )
    return etree.tostring(envelope)


def verify(data: bytes, now: datetime = NOW, freshness: Freshness | None = None) -> object:
    trusted = lambda certificate: "rep"  # noqa: E731
    return verify_envelope(etree.fromstring(data), trusted, now, freshness or Freshness())


@pytest.mark.parametrize("namespace", [SOAP11, SOAP12], ids=["soap11", "soap12"])
@pytest.mark.parametrize("algorithm", list(KeyAlgorithm), ids=lambda a: a.value)
def test_a_signed_envelope_verifies_and_yields_the_signed_body(namespace, algorithm):
    verified = verify(signed(namespace, algorithm))
    assert verified.signer == "rep"
    assert verified.created == NOW
    assert verified.replay_until == NOW + timedelta(seconds=300)
    assert etree.QName(verified.body).localname == "Body"
    (payload,) = verified.body
    assert payload.text == "rep"  # the comment that split the text is not in the signed copy


def test_the_security_header_is_understood_first_and_carries_timestamp_token_signature():
    envelope = etree.fromstring(signed())
    (security,) = envelope.find(f"{{{SOAP11}}}Header")
    assert security.tag == f"{{{WSSE}}}Security"
    assert security.get(f"{{{SOAP11}}}mustUnderstand") == "1"
    assert [child.tag for child in security] == [
        f"{{{WSU}}}Timestamp",
        f"{{{WSSE}}}BinarySecurityToken",
        f"{{{DS}}}Signature",
    ]
    assert security.findtext(f"{{{WSU}}}Timestamp/{{{WSU}}}Expires") == "2026-06-30T12:05:00Z"


def test_the_same_envelope_signed_twice_has_distinct_replay_keys():
    assert verify(signed()).replay_key != verify(signed()).replay_key


@pytest.mark.parametrize(
    ("now", "cause"),
    [
        (NOW + timedelta(seconds=301), "expired"),
        (NOW - timedelta(seconds=61), "future"),
    ],
    ids=["expired", "future"],
)
def test_freshness_is_checked_against_the_callers_clock(now, cause):
    with pytest.raises(SecurityError, match=cause):
        verify(signed(), now, Freshness(max_age=timedelta(hours=1)))


def test_the_age_limit_is_the_callers():
    with pytest.raises(SecurityError, match="stale"):
        verify(signed(), NOW + timedelta(seconds=31), Freshness(max_age=timedelta(seconds=30)))


def test_a_changed_payload_fails_the_check():
    with pytest.raises(SecurityError) as refused:
        verify(signed().replace(b">r<", b">R<"))
    assert refused.value.failed_check


def test_the_trust_decision_comes_before_any_cryptography():
    def distrust(certificate: x509.Certificate) -> None:
        raise SecurityError("not a party")

    with pytest.raises(SecurityError, match="not a party") as refused:
        verify_envelope(etree.fromstring(signed()), distrust, NOW)
    assert not refused.value.failed_check


def test_an_unsigned_envelope_is_refused():
    envelope = f'<e:Envelope xmlns:e="{SOAP11}"><e:Body/></e:Envelope>'.encode()
    with pytest.raises(SecurityError, match="not signed"):
        verify(envelope)


def test_signing_an_envelope_that_already_has_a_security_header_is_an_error():
    with pytest.raises(ValueError, match="already"):
        credentials = pki.party_credentials("rep")
        sign_envelope(etree.fromstring(signed()), credentials.key, credentials.certificate, NOW)


# --- Certificates -----------------------------------------------------------------------------


def self_signed(*, ca: bool = False, signing: bool = True) -> x509.Certificate:
    key = generate_key(KeyAlgorithm.ECDSA)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rep")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=signing,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=not signing,
                key_cert_sign=ca,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    return builder.sign(key, hashes.SHA256())


def test_a_party_certificate_may_sign_within_its_validity():
    certificate = pki.party_credentials("rep").certificate
    check_certificate(certificate, NOW)
    with pytest.raises(SecurityError, match="not valid"):
        check_certificate(certificate, certificate.not_valid_after_utc + timedelta(seconds=1))


def test_a_ca_certificate_cannot_sign_messages():
    with pytest.raises(SecurityError, match="CA"):
        check_certificate(self_signed(ca=True), NOW)


def test_a_key_usage_without_digital_signature_cannot_sign_messages():
    with pytest.raises(SecurityError, match="keyUsage"):
        check_certificate(self_signed(signing=False), NOW)


def test_only_a_trusted_ca_issues_subject_bound_certificates():
    authority = pki.authority().certificate
    check_issued_by(pki.party_credentials("rep").certificate, [authority], NOW)
    with pytest.raises(SecurityError, match="trusted CA"):
        check_issued_by(self_signed(), [authority], NOW)
    with pytest.raises(SecurityError, match="trusted CA"):
        check_issued_by(pki.party_credentials("rep").certificate, [], NOW)


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def test_a_rewritten_ecdsa_signature_still_verifies_and_keeps_its_replay_key():
    """ECDSA's (r, s) and (r, n - s) both verify: a replay cache keyed on the signature value
    would take the second for a new message."""
    original = signed()
    envelope = etree.fromstring(original)
    value = envelope.find(f".//{{{DS}}}SignatureValue")
    raw = base64.b64decode(value.text)
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    value.text = base64.b64encode(r + (P256_ORDER - s).to_bytes(32, "big")).decode()
    rewritten = verify(etree.tostring(envelope))
    assert rewritten.replay_key == verify(original).replay_key


def test_a_body_whose_canonical_form_repeats_many_namespace_declarations_verifies():
    """Exclusive C14N declares a namespace in every subtree that first uses it: 600 items that
    each use one give 600 declarations in the signed copy, more than a received document may
    hold, and the message still verifies."""
    items = b"".join(b'<p:item><q:x xmlns:q="urn:q">1</q:x></p:item>' for _ in range(600))
    envelope = etree.fromstring(
        f'<e:Envelope xmlns:e="{SOAP11}" xmlns:q="urn:q"><e:Body>'.encode()
        + b'<p:order xmlns:p="urn:example">'
        + items
        + b"</p:order></e:Body></e:Envelope>"
    )
    credentials = pki.party_credentials("rep", KeyAlgorithm.ECDSA)
    sign_envelope(envelope, credentials.key, credentials.certificate, NOW)
    verified = verify(etree.tostring(envelope))
    assert len(verified.body[0]) == 600


LAYOUTS = {
    "prefix-lists": SignatureLayout(inclusive_prefixes=("e", "p")),
    "timestamp-last": SignatureLayout(timestamp_after_signature=True),
    "sha384": SignatureLayout(digest=DigestAlgorithm.SHA384, hash="SHA384"),
    "sha512": SignatureLayout(digest=DigestAlgorithm.SHA512, hash="SHA512"),
    **{
        form.value: SignatureLayout(token_reference=form)
        for form in TokenReference
        if form is not TokenReference.DIRECT
    },
}


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("algorithm", list(KeyAlgorithm), ids=lambda a: a.value)
def test_every_legal_layout_of_another_stack_verifies(layout, algorithm):
    data = signed(algorithm=algorithm, layout=layout)
    verified = verify(data)
    assert verified.signer == "rep"
    assert verified.body[0].text == "rep"
    security = etree.fromstring(data).find(f".//{{{WSSE}}}Security")
    last = etree.QName(security[-1]).localname
    assert last == ("Timestamp" if layout.timestamp_after_signature else "Signature")


def test_the_prefix_lists_are_written_on_the_signed_info_and_every_reference():
    envelope = etree.fromstring(signed(layout=LAYOUTS["prefix-lists"]))
    lists = envelope.findall(f".//{{{EXC_C14N}}}InclusiveNamespaces")
    assert len(lists) == 1 + len(envelope.findall(f".//{{{DS}}}Reference"))
    assert {element.get("PrefixList") for element in lists} == {"e p"}


@pytest.mark.parametrize(
    "form", [form for form in TokenReference if form is not TokenReference.DIRECT]
)
def test_a_token_reference_naming_another_certificate_is_refused(form):
    """The certificate checked is the token's: a KeyIdentifier or IssuerSerial that names a
    different certificate does not say which key signed, so the message is refused."""
    envelope = etree.fromstring(signed(layout=SignatureLayout(token_reference=form)))
    other = pki.party_credentials("customer", KeyAlgorithm.ECDSA).certificate
    pointer = envelope.find(f".//{{{WSSE}}}SecurityTokenReference")[0]
    if form is TokenReference.ISSUER_SERIAL:
        pointer.find(f".//{{{DS}}}X509SerialNumber").text = str(other.serial_number)
    else:
        genuine = signed(layout=SignatureLayout(token_reference=form))
        pointer.text = _identifier_of(other, form, genuine)
    with pytest.raises(SecurityError, match="does not name the BinarySecurityToken"):
        verify(etree.tostring(envelope))


def _identifier_of(certificate: x509.Certificate, form: TokenReference, genuine: bytes) -> str:
    """``certificate``'s KeyIdentifier in the form ``genuine`` carries."""
    if form is TokenReference.THUMBPRINT_SHA1:
        value = certificate.fingerprint(hashes.SHA1())
    else:
        value = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        value = value.value.digest
    assert base64.b64encode(value) not in genuine
    return base64.b64encode(value).decode()


def test_a_key_identifier_without_the_token_in_the_message_is_refused():
    """The policy says the initiator's token is always sent: a KeyIdentifier alone names a
    certificate the receiver would have to look up, which it does not."""
    envelope = etree.fromstring(
        signed(layout=SignatureLayout(token_reference=TokenReference.SUBJECT_KEY_IDENTIFIER))
    )
    token = envelope.find(f".//{{{WSSE}}}BinarySecurityToken")
    token.getparent().remove(token)
    with pytest.raises(SecurityError, match="0 wsse:BinarySecurityToken"):
        verify(etree.tostring(envelope))
