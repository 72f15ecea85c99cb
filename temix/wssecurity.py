"""WS-Security 1.1 signatures (X.509 token profile) on SOAP 1.1 and 1.2 envelopes.

Pure functions over lxml trees and key objects: no I/O, and the time is an argument. The server
verifies requests and signs replies with them; the client does the reverse.

Rules (``shared/reference/SECURITY.md``, inbound steps 4 to 9, in that order):

* A signed envelope has exactly one ``wsse:Security`` header for the ultimate receiver, holding
  exactly one ``wsu:Timestamp``, one ``wsse:BinarySecurityToken`` (an X.509 v3 certificate) and
  one ``ds:Signature``. Headers for other actors are not ours and are ignored.
* The signature references, by ``wsu:Id``, the Envelope's own Body, the Security header's own
  Timestamp and every header block in :data:`MUST_SIGN_HEADER_NAMESPACES` (WS-Addressing),
  each once; it may also cover other header blocks and the token, and nothing else. Every Id
  in the document is unique. A signed Body moved elsewhere (signature wrapping) fails here even
  though it is cryptographically valid.
* Exclusive C14N without comments is the only canonicalisation and the only transform (an
  InclusiveNamespaces PrefixList, as WSS4J writes it, is honoured); RSA-SHA256/384/512 and
  ECDSA-SHA256/384/512 the only signature methods; SHA-256/384/512 the only digests. KeyInfo
  is a SecurityTokenReference to that token and nothing else, in any of the forms the X.509
  Token Profile gives for a token in the message: a direct reference to its wsu:Id, a
  KeyIdentifier (X509SubjectKeyIdentifier or ThumbprintSHA1) or an X509IssuerSerial, each of
  which must name that token's certificate. The Timestamp, the token and the Signature may
  come in any order (WS-SecurityPolicy's Lax layout).
* The certificate comes from the token in the Security header, never from KeyInfo itself;
  the caller's ``trusted`` function decides who it belongs to (a pin, or a CA and a subject)
  before anything is verified. Each reference's digest and the SignedInfo's
  signature are then checked with lxml's exclusive C14N and cryptography's primitives on the
  elements located above, so what is checked is what the caller acts on.
* The caller acts only on :attr:`Verified.body`, the Body re-parsed from its canonical bytes,
  exactly what was signed (a comment that splits a signed text node is not in it).
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
import enum
import hashlib
import hmac
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner
from signxml.algorithms import SignatureConstructionMethod

from temix.codec import format_instant
from temix.namespaces import SOAP11, SOAP12
from temix.wsaddressing import WSA
from temix.xmlsafe import parse_own

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
X509_V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
WSU_ID = f"{{{WSU}}}Id"

X509_SKI = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0"
    "#X509SubjectKeyIdentifier"
)
THUMBPRINT_SHA1 = (
    "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#ThumbprintSHA1"
)

SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
DIGEST_METHODS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
MUST_SIGN_HEADER_NAMESPACES = frozenset({WSA})
"""Header blocks in these namespaces change what a request means: a signature must cover each."""
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


class TokenReference(enum.Enum):
    """How a signature's KeyInfo names the BinarySecurityToken (X.509 Token Profile 1.1)."""

    DIRECT = "direct"
    """A wsse:Reference to the token's wsu:Id: what temix writes."""
    SUBJECT_KEY_IDENTIFIER = "subject-key-identifier"
    THUMBPRINT_SHA1 = "thumbprint-sha1"
    ISSUER_SERIAL = "issuer-serial"


@dataclass(frozen=True)
class SignatureLayout:
    """The legal choices a signer makes that a verifier must accept whichever way they go.
    The defaults are temix's own; the conformance suite sends the others."""

    digest: DigestAlgorithm = DigestAlgorithm.SHA256
    hash: str = "SHA256"
    """The signature method's hash, with the key's algorithm: RSA-SHA256 or ECDSA-SHA256."""
    token_reference: TokenReference = TokenReference.DIRECT
    inclusive_prefixes: tuple[str, ...] = ()
    """An InclusiveNamespaces PrefixList on the SignedInfo and on every Reference."""
    timestamp_after_signature: bool = False


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


def signature_method_for(key: Any, hash_name: str = "SHA256") -> SignatureMethod:
    """The signature method a private key signs with: RSA or ECDSA, with ``hash_name``."""
    if isinstance(key, rsa.RSAPrivateKey):
        return SignatureMethod[f"RSA_{hash_name}"]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return SignatureMethod[f"ECDSA_{hash_name}"]
    raise TypeError(f"cannot sign with a {type(key).__name__}: RSA or EC keys only")


def sign_envelope(
    envelope: etree._Element,
    key: Any,
    certificate: x509.Certificate,
    now: datetime,
    lifetime: timedelta = Freshness.max_age,
    layout: SignatureLayout = SignatureLayout(),
) -> etree._Element:
    """Sign ``envelope`` in place and return it: a ``wsse:Security`` header (mustUnderstand)
    first in the Header, with a Timestamp from ``now`` to ``now + lifetime``, the certificate as
    a BinarySecurityToken and a signature over the Body, the Timestamp and every other header
    block (each given a ``wsu:Id`` if it has none), laid out as ``layout`` says.

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
    signed_ids = []
    for number, part in enumerate([body, *_header_blocks(header, security)]):
        if part.get(WSU_ID) is None:
            part.set(WSU_ID, f"{'Body' if part is body else 'H'}-{number}-{suffix}")
        signed_ids.append(part.get(WSU_ID))

    key_info = etree.Element(f"{{{DS}}}KeyInfo", nsmap={"ds": DS})
    reference_holder = etree.SubElement(
        key_info, f"{{{WSSE}}}SecurityTokenReference", nsmap={"wsse": WSSE}
    )
    _write_token_reference(reference_holder, layout.token_reference, certificate, token.get(WSU_ID))
    signer = XMLSigner(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=signature_method_for(key, layout.hash),
        digest_algorithm=layout.digest,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signer.namespaces = {"ds": DS}
    signature = signer.sign(
        envelope,
        key=key,
        reference_uri=[f"#{signed_id}" for signed_id in (*signed_ids, timestamp.get(WSU_ID))],
        key_info=key_info,
        id_attribute="Id",
        inclusive_ns_prefixes=list(layout.inclusive_prefixes) or None,
    )
    security.append(signature)
    if layout.inclusive_prefixes:
        _resign_in_place(signature, key, signature_method_for(key, layout.hash))
    if layout.timestamp_after_signature:
        security.append(timestamp)
    return envelope


def _resign_in_place(signature: etree._Element, key: Any, method: SignatureMethod) -> None:
    """Sign the SignedInfo again as it reads in its document. signxml signs a detached
    SignedInfo before it is placed, so a PrefixList naming a namespace declared above the
    Security header (the envelope's, as WSS4J lists it) changes its canonical form."""
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    canonical = _canonical(
        signed_info, _inclusive_prefixes(signed_info.find(f"{{{DS}}}CanonicalizationMethod"))
    )
    value = signature_value(key, canonical, _hash_of(method))
    signature.find(f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode("ascii")


def signature_value(key: Any, data: bytes, digest: hashes.HashAlgorithm) -> bytes:
    """A SignatureValue's bytes for ``data``: PKCS#1 v1.5 for RSA; for ECDSA, r then s, each
    as long as the curve's order (XML Signature's encoding, not DER)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), digest)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _hash_of(method: SignatureMethod) -> hashes.HashAlgorithm:
    """The hash of a signature method: RSA_SHA256 is hashes.SHA256."""
    return getattr(hashes, method.name.split("_", 1)[1])()


def _write_token_reference(
    holder: etree._Element, form: TokenReference, certificate: x509.Certificate, token_id: str
) -> None:
    if form is TokenReference.DIRECT:
        etree.SubElement(
            holder, f"{{{WSSE}}}Reference", {"URI": f"#{token_id}", "ValueType": X509_V3}
        )
    elif form is TokenReference.ISSUER_SERIAL:
        data = etree.SubElement(holder, f"{{{DS}}}X509Data", nsmap={"ds": DS})
        issuer_serial = etree.SubElement(data, f"{{{DS}}}X509IssuerSerial")
        name = etree.SubElement(issuer_serial, f"{{{DS}}}X509IssuerName")
        name.text = certificate.issuer.rfc4514_string()
        etree.SubElement(issuer_serial, f"{{{DS}}}X509SerialNumber").text = str(
            certificate.serial_number
        )
    else:
        value_type = X509_SKI if form is TokenReference.SUBJECT_KEY_IDENTIFIER else THUMBPRINT_SHA1
        identifier = etree.SubElement(
            holder,
            f"{{{WSSE}}}KeyIdentifier",
            {"ValueType": value_type, "EncodingType": BASE64_BINARY},
        )
        identifier.text = base64.b64encode(_key_identifier(certificate, value_type)).decode()


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
    required = {
        _required_id(body, "the Body"): body,
        _required_id(timestamp, "the Timestamp"): timestamp,
    }
    for block in _header_blocks(header, security):
        if etree.QName(block).namespace in MUST_SIGN_HEADER_NAMESPACES:
            name = f"the header {etree.QName(block).localname} is not signed: it"
            required[_required_id(block, name)] = block
    token_id = _required_id(token, "the BinarySecurityToken")
    optional = {
        block.get(WSU_ID): block
        for block in (*_header_blocks(header, security), token)
        if block.get(WSU_ID) and block.get(WSU_ID) not in required
    }
    method, references, pointer = _check_signature_shape(signature, required, optional)
    certificate = _token_certificate(token)
    _check_token_reference(pointer, token_id, certificate)
    _check_key(certificate, method)
    signer = trusted(certificate)
    created = _check_freshness(timestamp, now, freshness)

    targets = {**required, **optional}
    canonical_body = b""
    for reference, (target_id, digest, prefixes) in references.items():
        canonical = _canonical(targets[target_id], prefixes)
        _check_digest(reference, target_id, digest, canonical)
        if targets[target_id] is body:
            canonical_body = canonical
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    canonical_signed_info = _canonical(
        signed_info, _inclusive_prefixes(signed_info.find(f"{{{DS}}}CanonicalizationMethod"))
    )
    try:
        signature_value = _text_bytes(signature.find(f"{{{DS}}}SignatureValue"), "SignatureValue")
    except SecurityError as error:
        raise SecurityError(f"the signature does not verify: {error}", failed_check=True) from None
    _check_signature_value(certificate, method, signature_value, canonical_signed_info)
    return Verified(
        body=parse_own(canonical_body),
        certificate=certificate,
        signer=signer,
        created=created,
        replay_key=hashlib.sha256(canonical_signed_info).hexdigest(),
        replay_until=created + freshness.max_age,
    )


def _header_blocks(header: etree._Element, security: etree._Element) -> list[etree._Element]:
    """The header blocks other than our Security header."""
    return [block for block in _element_children(header) if block is not security]


def _canonical(element: etree._Element, prefixes: Sequence[str]) -> bytes:
    """Exclusive C14N without comments of ``element`` in its document, with the namespaces of
    ``prefixes`` (an InclusiveNamespaces PrefixList) treated inclusively."""
    return etree.tostring(
        element,
        method="c14n",
        exclusive=True,
        with_comments=False,
        inclusive_ns_prefixes=list(prefixes) or None,
    )


def _check_digest(
    reference: etree._Element, target_id: str, digest: DigestAlgorithm, canonical: bytes
) -> None:
    """SecurityError unless the Reference's DigestValue is ``digest`` of ``canonical``."""
    expected = _text_bytes(reference.find(f"{{{DS}}}DigestValue"), "a DigestValue")
    actual = hashlib.new(digest.name.lower(), canonical).digest()
    if not hmac.compare_digest(actual, expected):
        raise SecurityError(
            f"the signature does not verify: #{target_id} changed after signing",
            failed_check=True,
        )


def _text_bytes(element: etree._Element | None, what: str) -> bytes:
    if element is None or len(element):
        raise SecurityError(f"{what} must hold base64 text only")
    text = "".join((element.text or "").split()).encode("ascii", "replace")
    try:
        value = base64.b64decode(text, validate=True)
    except ValueError:
        value = None
    if value is None or base64.b64encode(value) != text:
        raise SecurityError(f"{what} is not xs:base64Binary")
    return value


def _check_signature_value(
    certificate: x509.Certificate, method: SignatureMethod, value: bytes, signed: bytes
) -> None:
    """SecurityError unless ``value`` is ``method``'s signature of ``signed`` by the key of
    ``certificate`` (an XML-DSig ECDSA value is r and s concatenated, each the curve's size)."""
    key = certificate.public_key()
    digest = _hash_of(method)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(value, signed, padding.PKCS1v15(), digest)
        else:
            size = (key.curve.key_size + 7) // 8
            if len(value) != 2 * size:
                raise InvalidSignature
            r, s = int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big")
            key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(digest))
    except InvalidSignature:
        raise SecurityError(
            "the signature does not verify: the SignatureValue does not match", failed_check=True
        ) from None


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
    children = _element_children(element)
    if children and (
        len(children) > 1
        or children[0].tag != f"{{{EXC_C14N}}}InclusiveNamespaces"
        or _element_children(children[0])
    ):
        raise SecurityError(f"{what} holds more than one InclusiveNamespaces")


def _check_signature_shape(
    signature: etree._Element,
    required: Mapping[str, etree._Element],
    optional: Mapping[str, etree._Element],
) -> tuple[
    SignatureMethod,
    dict[etree._Element, tuple[str, DigestAlgorithm, tuple[str, ...]]],
    etree._Element,
]:
    """The signature method; per Reference, the Id it names, its digest method and its
    InclusiveNamespaces prefixes; and the one child of KeyInfo's SecurityTokenReference, once
    the Signature is shaped as the rules say: SignedInfo, SignatureValue and KeyInfo only,
    allowed algorithms, one reference to each of ``required`` and none but to those and
    ``optional``, and a KeyInfo that is one SecurityTokenReference with one child."""
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
    uris = [reference.get("URI") or "" for reference in references]
    named = [uri[1:] for uri in uris if uri.startswith("#")]
    missing = sorted(set(required) - set(named))
    unexpected = sorted(set(named) - set(required) - set(optional))
    if missing or unexpected or len(named) != len(uris) or len(set(named)) != len(named):
        problem = (
            f"#{missing[0]} is not covered"
            if missing
            else f"#{unexpected[0]} is not a part it may sign"
            if unexpected
            else "each part once, by Id only"
        )
        shown = ", ".join(uris[:4]) + (", ..." if len(uris) > 4 else "")
        raise SecurityError(
            f"the signature references [{shown}]: not exactly the parts it must sign ({problem})"
        )
    checked = {
        reference: (target, *_check_reference(reference))
        for reference, target in zip(references, named, strict=True)
    }
    key_info = _element_children(signature.find(ds + "KeyInfo"))
    token_reference = key_info[0] if len(key_info) == 1 else None
    if token_reference is None or token_reference.tag != f"{{{WSSE}}}SecurityTokenReference":
        raise SecurityError("KeyInfo must be one wsse:SecurityTokenReference")
    pointers = _element_children(token_reference)
    if len(pointers) != 1:
        raise SecurityError("the SecurityTokenReference must hold one reference to the token")
    return method, checked, pointers[0]


def _check_token_reference(
    pointer: etree._Element, token_id: str, certificate: x509.Certificate
) -> None:
    """SecurityError unless ``pointer`` (a SecurityTokenReference's child) names the
    BinarySecurityToken ``token_id`` holding ``certificate``, in one of the X.509 Token
    Profile's forms."""
    if pointer.tag == f"{{{WSSE}}}Reference":
        if pointer.get("URI") == f"#{token_id}":
            return
    elif pointer.tag == f"{{{WSSE}}}KeyIdentifier":
        value_type = pointer.get("ValueType")
        if value_type not in (X509_SKI, THUMBPRINT_SHA1) or pointer.get("EncodingType") not in (
            None,
            BASE64_BINARY,
        ):
            raise SecurityError(f"a KeyIdentifier of type {value_type!r} is not accepted")
        identifier = _text_bytes(pointer, "the KeyIdentifier")
        if hmac.compare_digest(identifier, _key_identifier(certificate, value_type)):
            return
    elif pointer.tag == f"{{{DS}}}X509Data":
        if _names_issuer_serial(pointer, certificate):
            return
    else:
        raise SecurityError(f"a token reference {etree.QName(pointer).localname} is not accepted")
    raise SecurityError("the SecurityTokenReference does not name the BinarySecurityToken")


def _key_identifier(certificate: x509.Certificate, value_type: str) -> bytes:
    """The KeyIdentifier value of ``certificate``: its subject key identifier (the extension,
    else the one computed from its key, as RFC 5280 method 1 does) or its SHA-1 thumbprint."""
    if value_type == THUMBPRINT_SHA1:
        return hashlib.sha1(certificate.public_bytes(Encoding.DER)).digest()
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return extension.value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def _names_issuer_serial(data: etree._Element, certificate: x509.Certificate) -> bool:
    """Whether an ``ds:X509Data`` holding one ``ds:X509IssuerSerial`` names ``certificate``."""
    parts = _element_children(data)
    if len(parts) != 1 or parts[0].tag != f"{{{DS}}}X509IssuerSerial":
        raise SecurityError("the X509Data must hold one X509IssuerSerial")
    fields = _element_children(parts[0])
    if [field.tag for field in fields] != [f"{{{DS}}}X509IssuerName", f"{{{DS}}}X509SerialNumber"]:
        raise SecurityError("an X509IssuerSerial holds X509IssuerName, X509SerialNumber")
    serial = (fields[1].text or "").strip()
    try:
        issuer = x509.Name.from_rfc4514_string((fields[0].text or "").strip())
    except ValueError:
        raise SecurityError("the X509IssuerName is not a distinguished name") from None
    if not serial.isdigit() or len(serial) > 50:
        raise SecurityError("the X509SerialNumber is not a serial number")
    return issuer == certificate.issuer and int(serial) == certificate.serial_number


def _check_reference(reference: etree._Element) -> tuple[DigestAlgorithm, tuple[str, ...]]:
    """The Reference's digest method and InclusiveNamespaces prefixes."""
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
    if digest not in DIGEST_METHODS or _element_children(parts[1]):
        raise SecurityError(f"the digest method {parts[1].get('Algorithm')!r} is not allowed")
    return digest, _inclusive_prefixes(transforms[0])


def _inclusive_prefixes(c14n_method: etree._Element) -> tuple[str, ...]:
    """The PrefixList of an exclusive C14N method's InclusiveNamespaces, if it has one."""
    inclusive = c14n_method.find(f"{{{EXC_C14N}}}InclusiveNamespaces")
    return () if inclusive is None else tuple((inclusive.get("PrefixList") or "").split())


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
