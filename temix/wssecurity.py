"""WS-Security 1.1 signatures (X.509 token profile) on SOAP 1.1 and 1.2 envelopes.

Pure functions over lxml trees and key objects: no I/O, and the time is an argument. The server
verifies requests and signs replies with them; the client does the reverse.

Rules (``shared/reference/SECURITY.md``, inbound steps 4 to 9, in that order):

* A signed envelope has exactly one ``wsse:Security`` header for the ultimate receiver, holding
  exactly one ``wsu:Timestamp``, one ``wsse:BinarySecurityToken`` (an X.509 v3 certificate) and
  one ``ds:Signature``. Headers for other actors are not ours and are ignored.
* The signature has exactly two references: the Envelope's own Body and the Security header's
  own Timestamp, by ``wsu:Id``; every Id in the document is unique. A signed Body moved
  elsewhere (signature wrapping) fails here even though it is cryptographically valid.
* Exclusive C14N without comments is the only canonicalisation and the only transform;
  RSA-SHA256/512 and ECDSA-SHA256/384 the only signature methods; SHA-256/512 the only digests.
  KeyInfo is a SecurityTokenReference to that token and nothing else.
* The certificate comes from the token the SecurityTokenReference names, never from KeyInfo
  itself; the caller's ``trusted`` function decides who it belongs to (a pin, or a CA and a
  subject) before anything is verified. signxml then verifies with that certificate pinned and
  the signature's location pinned to the Security header.
* The caller acts only on :attr:`Verified.body`, signxml's re-parsed copy of exactly what was
  signed (a comment that splits a signed text node is not in it).
* Freshness: Created at most ``max_future`` ahead, at most ``max_age`` old, Expires (when sent)
  not passed. :attr:`Verified.replay_key` and :attr:`Verified.replay_until` are what a replay
  cache keeps: until then, the same signed content must be refused. The key is the digest of
  the canonical SignedInfo, not of the signature value: an ECDSA signature can be rewritten
  into another valid one (``s`` into ``n - s``) without the key, but SignedInfo cannot change.

Every refusal is a :class:`SecurityError` whose ``cause`` is for the audit record only: callers
answer every cause with the same generic fault.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.algorithms import SignatureConstructionMethod
from signxml.exceptions import SignXMLException

from temix.codec import format_instant
from temix.namespaces import SOAP11, SOAP12

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
X509_V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
WSU_ID = f"{{{WSU}}}Id"

SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
    }
)
DIGEST_METHODS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA512})
RSA_KEY_BITS = (2048, 4096)
"""The RSA key sizes accepted, smallest and largest (a huge key makes verifying slow)."""
EC_CURVES = frozenset({"secp256r1", "secp384r1"})

_ID_NAMES = frozenset({"Id", "ID", "id"})
_ENVELOPES = frozenset({SOAP11, SOAP12})
_RECEIVER_ROLES = {
    SOAP11: frozenset({None, "http://schemas.xmlsoap.org/soap/actor/next"}),
    SOAP12: frozenset(
        {
            None,
            "http://www.w3.org/2003/05/soap-envelope/role/next",
            "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver",
        }
    ),
}


class SecurityError(Exception):
    """The message's security cannot be accepted. ``cause`` is for the audit record, never for
    the peer; ``failed_check`` is True when the signature itself did not verify."""

    def __init__(self, cause: str, *, failed_check: bool = False) -> None:
        super().__init__(cause)
        self.cause = cause
        self.failed_check = failed_check


@dataclass(frozen=True)
class Freshness:
    """How old, and how far ahead of our clock, a message's Timestamp may be."""

    max_age: timedelta = timedelta(seconds=300)
    max_future: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Verified:
    """What a verified envelope says: the signed copy of its Body (act on this, not the
    received tree), the certificate that signed it, what the trust decision returned for it,
    and the replay-cache entry it needs."""

    body: etree._Element
    certificate: x509.Certificate
    signer: Any
    created: datetime
    replay_key: str
    replay_until: datetime


# --- Signing ----------------------------------------------------------------------------------


def signature_method_for(key: Any) -> SignatureMethod:
    """The signature method a private key signs with: RSA-SHA256 or ECDSA-SHA256."""
    if isinstance(key, rsa.RSAPrivateKey):
        return SignatureMethod.RSA_SHA256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return SignatureMethod.ECDSA_SHA256
    raise TypeError(f"cannot sign with a {type(key).__name__}: RSA or EC keys only")


def sign_envelope(
    envelope: etree._Element,
    key: Any,
    certificate: x509.Certificate,
    now: datetime,
    lifetime: timedelta = Freshness.max_age,
) -> etree._Element:
    """Sign ``envelope`` in place and return it: a ``wsse:Security`` header (mustUnderstand)
    first in the Header, with a Timestamp from ``now`` to ``now + lifetime``, the certificate as
    a BinarySecurityToken and a signature over the Body and the Timestamp.

    Serialise the result once and send those bytes: re-indenting it breaks the signature.
    """
    env = _envelope_namespace(envelope)
    body = envelope.find(f"{{{env}}}Body")
    if body is None:
        raise ValueError("the envelope has no Body")
    header = envelope.find(f"{{{env}}}Header")
    if header is None:
        header = etree.Element(f"{{{env}}}Header")
        envelope.insert(0, header)
    if _security_headers(header, env):
        raise ValueError("the envelope already carries a wsse:Security header for us")
    security = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE, "wsu": WSU})
    security.set(f"{{{env}}}mustUnderstand", "1")
    header.insert(0, security)

    suffix = uuid.uuid4().hex
    created = now.astimezone(UTC).replace(microsecond=0)
    timestamp = etree.SubElement(security, f"{{{WSU}}}Timestamp", {WSU_ID: f"TS-{suffix}"})
    etree.SubElement(timestamp, f"{{{WSU}}}Created").text = format_instant(created)
    etree.SubElement(timestamp, f"{{{WSU}}}Expires").text = format_instant(created + lifetime)
    token = etree.SubElement(
        security,
        f"{{{WSSE}}}BinarySecurityToken",
        {WSU_ID: f"X509-{suffix}", "EncodingType": BASE64_BINARY, "ValueType": X509_V3},
    )
    token.text = base64.b64encode(certificate.public_bytes(Encoding.DER)).decode("ascii")
    body_id = body.get(WSU_ID)
    if body_id is None:
        body_id = f"Body-{suffix}"
        body.set(WSU_ID, body_id)

    key_info = etree.Element(f"{{{DS}}}KeyInfo", nsmap={"ds": DS})
    reference_holder = etree.SubElement(
        key_info, f"{{{WSSE}}}SecurityTokenReference", nsmap={"wsse": WSSE}
    )
    etree.SubElement(
        reference_holder,
        f"{{{WSSE}}}Reference",
        {"URI": f"#{token.get(WSU_ID)}", "ValueType": X509_V3},
    )
    signer = XMLSigner(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=signature_method_for(key),
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signer.namespaces = {"ds": DS}
    signature = signer.sign(
        envelope,
        key=key,
        reference_uri=[f"#{body_id}", f"#{timestamp.get(WSU_ID)}"],
        key_info=key_info,
        id_attribute="Id",
    )
    security.append(signature)
    return envelope


# --- Verifying --------------------------------------------------------------------------------


def verify_envelope(
    envelope: etree._Element,
    trusted: Callable[[x509.Certificate], Any],
    now: datetime,
    freshness: Freshness = Freshness(),
) -> Verified:
    """Verify ``envelope``'s WS-Security signature, or raise :class:`SecurityError`.

    ``trusted(certificate)`` returns whatever identifies the signer (a party) or raises
    :class:`SecurityError`; it runs before any cryptography.
    """
    env = _envelope_namespace(envelope)
    header = envelope.find(f"{{{env}}}Header")
    body = envelope.find(f"{{{env}}}Body")
    if body is None:
        raise SecurityError("the envelope has no Body")
    if header is None:
        raise SecurityError("the message is not signed: no SOAP Header")
    securities = _security_headers(header, env)
    if len(securities) != 1:
        raise SecurityError(f"{len(securities)} wsse:Security headers for us, expected one")
    security = securities[0]
    timestamp = _only_child(security, f"{{{WSU}}}Timestamp", "wsu:Timestamp")
    token = _only_child(security, f"{{{WSSE}}}BinarySecurityToken", "wsse:BinarySecurityToken")
    signature = _only_child(security, f"{{{DS}}}Signature", "ds:Signature")
    _check_unique_ids(envelope)
    body_id = _required_id(body, "the Body")
    timestamp_id = _required_id(timestamp, "the Timestamp")
    token_id = _required_id(token, "the BinarySecurityToken")
    method = _check_signature_shape(signature, {f"#{body_id}", f"#{timestamp_id}"}, token_id)
    certificate = _token_certificate(token)
    _check_key(certificate, method)
    signer = trusted(certificate)
    created = _check_freshness(timestamp, now, freshness)

    config = SignatureConfiguration(
        require_x509=True,
        location=f"./{{{env}}}Header/{{{WSSE}}}Security/",
        expect_references=2,
        signature_methods=SIGNATURE_METHODS,
        digest_algorithms=DIGEST_METHODS,
        verification_time=now,
    )
    try:
        results = XMLVerifier().verify(
            envelope, x509_cert=certificate, id_attribute="Id", expect_config=config
        )
    except (SignXMLException, ValueError, etree.LxmlError) as error:
        raise SecurityError(f"the signature does not verify: {error}", failed_check=True) from None
    references = signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    (signed_body,) = (
        result.signed_xml
        for reference, result in zip(references, results, strict=True)
        if reference.get("URI") == f"#{body_id}"
    )
    signed_info = etree.tostring(
        signature.find(f"{{{DS}}}SignedInfo"), method="c14n", exclusive=True, with_comments=False
    )
    return Verified(
        body=signed_body,
        certificate=certificate,
        signer=signer,
        created=created,
        replay_key=hashlib.sha256(signed_info).hexdigest(),
        replay_until=created + freshness.max_age,
    )


def _envelope_namespace(envelope: etree._Element) -> str:
    namespace = etree.QName(envelope).namespace
    if namespace not in _ENVELOPES or etree.QName(envelope).localname != "Envelope":
        raise ValueError("not a SOAP 1.1 or 1.2 Envelope")
    return namespace


def _security_headers(header: etree._Element, env: str) -> list[etree._Element]:
    """The Security header blocks meant for this receiver."""
    role = f"{{{env}}}actor" if env == SOAP11 else f"{{{env}}}role"
    return [
        block
        for block in header.iterchildren(f"{{{WSSE}}}Security")
        if block.get(role) in _RECEIVER_ROLES[env]
    ]


def _only_child(parent: etree._Element, tag: str, name: str) -> etree._Element:
    found = parent.findall(tag)
    if len(found) != 1:
        raise SecurityError(f"{len(found)} {name} in the Security header, expected one")
    return found[0]


def _check_unique_ids(envelope: etree._Element) -> None:
    ids = Counter(
        value
        for element in envelope.iter()
        if isinstance(element.tag, str)
        for name, value in element.attrib.items()
        if etree.QName(name).localname in _ID_NAMES
    )
    repeated = sorted(value for value, count in ids.items() if count > 1)
    if repeated:
        raise SecurityError(f"the Id {repeated[0]!r} is used more than once")


def _required_id(element: etree._Element, what: str) -> str:
    value = element.get(WSU_ID)
    if not value:
        raise SecurityError(f"{what} has no wsu:Id")
    return value


def _element_children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _check_exclusive_c14n(element: etree._Element, what: str) -> None:
    if element.get("Algorithm") != EXC_C14N:
        raise SecurityError(f"{what} is {element.get('Algorithm')!r}, not exclusive C14N")
    extra = [
        child
        for child in _element_children(element)
        if child.tag != f"{{{EXC_C14N}}}InclusiveNamespaces"
    ]
    if extra:
        raise SecurityError(f"{what} holds an unexpected {etree.QName(extra[0]).localname}")


def _check_signature_shape(
    signature: etree._Element, expected_uris: set[str], token_id: str
) -> SignatureMethod:
    """The signature method, once the Signature is shaped as the rules say: SignedInfo,
    SignatureValue and KeyInfo only, allowed algorithms, references to exactly
    ``expected_uris``, and a KeyInfo that is a reference to the token ``token_id``."""
    ds = f"{{{DS}}}"
    tags = [child.tag for child in _element_children(signature)]
    if tags != [ds + "SignedInfo", ds + "SignatureValue", ds + "KeyInfo"]:
        raise SecurityError("the Signature must hold SignedInfo, SignatureValue and KeyInfo only")
    signed_info = signature.find(ds + "SignedInfo")
    parts = _element_children(signed_info)
    if len(parts) < 2 or [p.tag for p in parts[:2]] != [
        ds + "CanonicalizationMethod",
        ds + "SignatureMethod",
    ]:
        raise SecurityError("SignedInfo must start with CanonicalizationMethod, SignatureMethod")
    _check_exclusive_c14n(parts[0], "the CanonicalizationMethod")
    try:
        method = SignatureMethod(parts[1].get("Algorithm"))
    except ValueError:
        method = None
    if method not in SIGNATURE_METHODS or _element_children(parts[1]):
        raise SecurityError(f"the signature method {parts[1].get('Algorithm')!r} is not allowed")
    references = parts[2:]
    if any(reference.tag != ds + "Reference" for reference in references):
        raise SecurityError("SignedInfo holds something other than References")
    uris = [reference.get("URI") for reference in references]
    if len(uris) != len(expected_uris) or set(uris) != expected_uris:
        raise SecurityError(
            f"the signature references {uris}, not exactly the Body and the Timestamp"
        )
    for reference in references:
        _check_reference(reference)
    key_info = _element_children(signature.find(ds + "KeyInfo"))
    token_reference = key_info[0] if len(key_info) == 1 else None
    if token_reference is None or token_reference.tag != f"{{{WSSE}}}SecurityTokenReference":
        raise SecurityError("KeyInfo must be one wsse:SecurityTokenReference")
    pointers = _element_children(token_reference)
    if (
        len(pointers) != 1
        or pointers[0].tag != f"{{{WSSE}}}Reference"
        or pointers[0].get("URI") != f"#{token_id}"
    ):
        raise SecurityError("the SecurityTokenReference must point at the BinarySecurityToken")
    return method


def _check_reference(reference: etree._Element) -> None:
    ds = f"{{{DS}}}"
    parts = _element_children(reference)
    if [p.tag for p in parts] != [ds + "Transforms", ds + "DigestMethod", ds + "DigestValue"]:
        raise SecurityError("a Reference must hold Transforms, DigestMethod, DigestValue")
    transforms = _element_children(parts[0])
    if len(transforms) != 1 or transforms[0].tag != ds + "Transform":
        raise SecurityError("a Reference must have exactly one Transform")
    _check_exclusive_c14n(transforms[0], "a Transform")
    try:
        digest = DigestAlgorithm(parts[1].get("Algorithm"))
    except ValueError:
        digest = None
    if digest not in DIGEST_METHODS:
        raise SecurityError(f"the digest method {parts[1].get('Algorithm')!r} is not allowed")


def _token_certificate(token: etree._Element) -> x509.Certificate:
    if token.get("ValueType") != X509_V3 or token.get("EncodingType") not in (None, BASE64_BINARY):
        raise SecurityError("the BinarySecurityToken is not a base64 X.509 v3 certificate")
    try:
        der = base64.b64decode("".join((token.text or "").split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise SecurityError("the BinarySecurityToken is not a readable certificate") from None


def _check_key(certificate: x509.Certificate, method: SignatureMethod) -> None:
    """The certificate's key is one we verify with, and of the kind the method needs."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        low, high = RSA_KEY_BITS
        if not low <= key.key_size <= high:
            raise SecurityError(f"an RSA key of {key.key_size} bits is not accepted")
        if not method.name.startswith("RSA_"):
            raise SecurityError(f"{method.name} does not match the certificate's RSA key")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise SecurityError(f"the curve {key.curve.name} is not accepted")
        if not method.name.startswith("ECDSA_"):
            raise SecurityError(f"{method.name} does not match the certificate's EC key")
    else:
        raise SecurityError(f"a {type(key).__name__} key is not accepted")


def _instant(text: str | None, what: str) -> datetime:
    try:
        instant = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise SecurityError(f"the Timestamp's {what} is not a dateTime") from None
    if instant.tzinfo is None:
        raise SecurityError(f"the Timestamp's {what} has no time zone")
    return instant.astimezone(UTC)


def _check_freshness(timestamp: etree._Element, now: datetime, freshness: Freshness) -> datetime:
    parts = _element_children(timestamp)
    tags = [part.tag for part in parts]
    if tags not in ([f"{{{WSU}}}Created"], [f"{{{WSU}}}Created", f"{{{WSU}}}Expires"]):
        raise SecurityError("the Timestamp must hold Created and an optional Expires")
    created = _instant(parts[0].text, "Created")
    if created > now + freshness.max_future:
        raise SecurityError(f"the Timestamp was created in the future ({format_instant(created)})")
    if now - created > freshness.max_age:
        raise SecurityError(f"the Timestamp is stale (created {format_instant(created)})")
    if len(parts) == 2:
        expires = _instant(parts[1].text, "Expires")
        if expires <= now:
            raise SecurityError(f"the Timestamp expired at {format_instant(expires)}")
    return created


# --- Trust ------------------------------------------------------------------------------------


def check_certificate(certificate: x509.Certificate, now: datetime) -> None:
    """Raise :class:`SecurityError` unless ``certificate`` may sign messages at ``now``: within
    its validity, not a CA, and a keyUsage (when present) that allows digital signatures."""
    _check_validity(certificate, now, "the certificate")
    if _is_ca(certificate):
        raise SecurityError("a CA certificate cannot sign messages")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.digital_signature:
        raise SecurityError("the certificate's keyUsage does not allow digital signatures")


def check_issued_by(
    certificate: x509.Certificate, authorities: Sequence[x509.Certificate], now: datetime
) -> None:
    """Raise :class:`SecurityError` unless one of ``authorities``, a CA valid at ``now``,
    issued ``certificate`` directly (no intermediates)."""
    for authority in authorities:
        try:
            certificate.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature):
            continue
        _check_validity(authority, now, "the issuing CA")
        if not _is_ca(authority):
            raise SecurityError("the issuer is not a CA")
        return
    raise SecurityError("the certificate is not issued by a trusted CA")


def _check_validity(certificate: x509.Certificate, now: datetime, what: str) -> None:
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SecurityError(f"{what} is not valid at {format_instant(now)}")


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
