"""What an attacker sends: pure functions that turn a SOAP request (an Envelope, signed or
about to be) into an attack on the endpoint's message security or its XML parser.

Each attack changes one thing about an otherwise good request, so that whatever refuses it
can only be the check the attack is aimed at. Signed envelopes travel as the bytes they were
serialised to after signing: re-serialising a signed tree is harmless for the parts left alone
(exclusive C14N), but moving a signed element into another context can change how its
namespaces are written, so the attacks that move signed content splice bytes.

:func:`hand_signed` builds the same signature as :func:`temix.wssecurity.sign_envelope`, with
the algorithms and references as arguments: the downgrade and partial-coverage attacks need a
signature no honest signer makes.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod

from temix.codec import format_instant
from temix.keys import (
    Credentials,
    KeyAlgorithm,
    PrivateKey,
    generate_key,
    issue_ca_certificate,
)
from temix.namespaces import EMIX
from temix.wssecurity import (
    BASE64_BINARY,
    DS,
    EXC_C14N,
    WSSE,
    WSU,
    WSU_ID,
    X509_V3,
    signature_value,
)

ECDSA_SHA1 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
"""XML Signature's ECDSA with SHA-1 (RFC 6931), which signxml has no name for."""

SHA1_DIGEST = DigestAlgorithm.SHA1.value

_HASHES = {
    DigestAlgorithm.SHA1.value: hashes.SHA1,
    DigestAlgorithm.SHA256.value: hashes.SHA256,
    SignatureMethod.RSA_SHA1.value: hashes.SHA1,
    SignatureMethod.RSA_SHA256.value: hashes.SHA256,
    ECDSA_SHA1: hashes.SHA1,
    SignatureMethod.ECDSA_SHA256.value: hashes.SHA256,
}
DEFAULT_LIFETIME = timedelta(minutes=5)


# --- Signing by hand ------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How :func:`hand_signed` signs. The defaults are what ``sign_envelope`` does with the
    key's algorithm: SHA-256 digests, a SHA-256 signature, the Body and the Timestamp signed.
    ``sha1_signature`` signs with the key's algorithm over SHA-1 instead."""

    digest_method: str = DigestAlgorithm.SHA256.value
    sha1_signature: bool = False
    sign_timestamp: bool = True


def signature_method(key: PrivateKey, recipe: Recipe) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        method = SignatureMethod.RSA_SHA1 if recipe.sha1_signature else SignatureMethod.RSA_SHA256
        return method.value
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ECDSA_SHA1 if recipe.sha1_signature else SignatureMethod.ECDSA_SHA256.value
    raise TypeError(f"cannot sign with a {type(key).__name__}: RSA or EC keys only")


def hand_signed(
    envelope: etree._Element,
    credentials: Credentials,
    now: datetime,
    recipe: Recipe = Recipe(),
) -> bytes:
    """``envelope`` (unsigned) signed as ``recipe`` says, serialised."""
    env = etree.QName(envelope).namespace
    suffix = uuid.uuid4().hex
    header = envelope.find(f"{{{env}}}Header")
    if header is None:
        header = etree.Element(f"{{{env}}}Header")
        envelope.insert(0, header)
    security = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE, "wsu": WSU})
    security.set(f"{{{env}}}mustUnderstand", "1")
    header.insert(0, security)
    timestamp = _timestamp(now, DEFAULT_LIFETIME, f"TS-{suffix}")
    security.append(timestamp)
    token = etree.SubElement(
        security,
        f"{{{WSSE}}}BinarySecurityToken",
        {WSU_ID: f"X509-{suffix}", "EncodingType": BASE64_BINARY, "ValueType": X509_V3},
    )
    token.text = _base64(credentials.certificate.public_bytes(Encoding.DER))
    body = envelope.find(f"{{{env}}}Body")
    body.set(WSU_ID, f"Body-{suffix}")

    ds = f"{{{DS}}}"
    signature = etree.SubElement(security, ds + "Signature", nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, ds + "SignedInfo")
    etree.SubElement(signed_info, ds + "CanonicalizationMethod", Algorithm=EXC_C14N)
    method = signature_method(credentials.key, recipe)
    etree.SubElement(signed_info, ds + "SignatureMethod", Algorithm=method)
    for target in (body, timestamp) if recipe.sign_timestamp else (body,):
        reference = etree.SubElement(signed_info, ds + "Reference", URI=f"#{target.get(WSU_ID)}")
        transforms = etree.SubElement(reference, ds + "Transforms")
        etree.SubElement(transforms, ds + "Transform", Algorithm=EXC_C14N)
        etree.SubElement(reference, ds + "DigestMethod", Algorithm=recipe.digest_method)
        digest = hashlib.new(_HASHES[recipe.digest_method].name, _canonical(target)).digest()
        etree.SubElement(reference, ds + "DigestValue").text = _base64(digest)
    value = _sign(credentials.key, method, _canonical(signed_info))
    etree.SubElement(signature, ds + "SignatureValue").text = _base64(value)
    key_info = etree.SubElement(signature, ds + "KeyInfo")
    token_reference = etree.SubElement(key_info, f"{{{WSSE}}}SecurityTokenReference")
    etree.SubElement(
        token_reference, f"{{{WSSE}}}Reference", URI=f"#{token.get(WSU_ID)}", ValueType=X509_V3
    )
    return etree.tostring(envelope)


def _timestamp(created: datetime, lifetime: timedelta, identifier: str) -> etree._Element:
    created = created.astimezone(UTC).replace(microsecond=0)
    timestamp = etree.Element(f"{{{WSU}}}Timestamp", {WSU_ID: identifier}, nsmap={"wsu": WSU})
    etree.SubElement(timestamp, f"{{{WSU}}}Created").text = format_instant(created)
    etree.SubElement(timestamp, f"{{{WSU}}}Expires").text = format_instant(created + lifetime)
    return timestamp


def _canonical(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sign(key: PrivateKey, method: str, data: bytes) -> bytes:
    return signature_value(key, data, _HASHES[method]())


# --- Certificates the endpoint must not trust --------------------------------------------------


def impostor(genuine: x509.Certificate, now: datetime, *, self_signed: bool) -> Credentials:
    """A fresh key (of the genuine certificate's algorithm) with a certificate naming the
    genuine certificate's subject: self-signed, or issued by a fresh CA that bears the name of
    the genuine certificate's issuer. Only a check of the key or the issuer's signature, not of
    names, tells it from the genuine one."""
    algorithm = _algorithm_of(genuine)
    key = generate_key(algorithm)
    if self_signed:
        return Credentials(key, _leaf(genuine.subject, genuine.subject, key, key, now))
    issuer_key = generate_key(algorithm)
    rogue_ca = issue_ca_certificate(issuer_key, now)
    issuer_name = genuine.issuer if genuine.issuer != genuine.subject else rogue_ca.subject
    return Credentials(key, _leaf(genuine.subject, issuer_name, key, issuer_key, now))


def namesakes(
    genuine: x509.Certificate, issuer: Credentials, now: datetime
) -> dict[str, Credentials]:
    """Fresh keys with certificates from the genuine certificate's own ``issuer`` for the
    genuine common name in another subject, by how it differs: another organisation, or an
    organisational unit more. Each is another party to a check of the whole subject, and the
    same one to a check of the common name only."""
    organisation, unit = NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME
    kept = [attribute for attribute in genuine.subject if attribute.oid != organisation]
    current = genuine.subject.get_attributes_for_oid(organisation)
    other = f"{current[0].value if current else 'temix'} (another organisation)"
    subjects = {
        "another organisation": x509.Name([x509.NameAttribute(organisation, other), *kept]),
        "an organisational unit more": x509.Name(
            [x509.NameAttribute(unit, "another unit"), *genuine.subject]
        ),
    }
    made = {}
    for difference, subject in subjects.items():
        key = generate_key(_algorithm_of(genuine))
        made[difference] = Credentials(
            key, _leaf(subject, issuer.certificate.subject, key, issuer.key, now)
        )
    return made


def _leaf(
    subject: x509.Name,
    issuer_name: x509.Name,
    key: PrivateKey,
    signing_key: PrivateKey,
    now: datetime,
) -> x509.Certificate:
    """A message-signing certificate for ``key``, valid from an hour ago for 30 days."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(signing_key, hashes.SHA256())
    )


def _algorithm_of(certificate: x509.Certificate) -> KeyAlgorithm:
    if isinstance(certificate.public_key(), rsa.RSAPublicKey):
        return KeyAlgorithm.RSA
    return KeyAlgorithm.ECDSA


# --- Editing a signed envelope -----------------------------------------------------------------


def _parts(signed: bytes) -> tuple[etree._Element, str, etree._Element, etree._Element]:
    """The Envelope of ``signed``, its namespace, its Header and its Body."""
    root = etree.fromstring(signed)
    env = etree.QName(root).namespace
    return root, env, root.find(f"{{{env}}}Header"), root.find(f"{{{env}}}Body")


def tampered(signed: bytes) -> bytes:
    """The signed request with the first quantity in its Body changed: the Body's digest no
    longer matches."""
    root, _, _, body = _parts(signed)
    quantity = body.find(f".//{{{EMIX}}}quantity")
    if quantity is None:
        raise ValueError("the signed Body holds no emix:quantity to change")
    quantity.text = f"{quantity.text.strip()}0"
    return etree.tostring(root)


def wrapped(signed: bytes, forged_payload: etree._Element, *, same_id: bool = False) -> bytes:
    """Signature wrapping: the signed Body moves, as the bytes it was signed as, into a new
    header block, and a Body holding ``forged_payload`` takes its place, with a fresh Id (or,
    ``same_id``, the signed Body's own Id). The signature still verifies over the moved Body;
    only a check that the signed Body is the Envelope's Body (or that Ids are unique) stops it.
    """
    root, env, header, body = _parts(signed)
    signed_bytes = etree.tostring(body)
    forged = etree.Element(f"{{{env}}}Body")
    forged.set(WSU_ID, body.get(WSU_ID) if same_id else f"Body-{uuid.uuid4().hex}")
    forged.append(copy.deepcopy(forged_payload))
    root.replace(body, forged)
    holder = etree.SubElement(header, "{urn:temix:conformance:attack}Wrapper")
    holder.append(etree.Comment("signed Body"))
    return etree.tostring(root).replace(b"<!--signed Body-->", signed_bytes)


def with_second_security_header(signed: bytes, now: datetime) -> bytes:
    """A second ``wsse:Security`` header for the same receiver, after the signed one, holding
    a Timestamp of its own: a receiver that reads only one of them is ambiguous about which."""
    root, _, header, _ = _parts(signed)
    extra = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE, "wsu": WSU})
    extra.append(_timestamp(now, DEFAULT_LIFETIME, f"TS-{uuid.uuid4().hex}"))
    return etree.tostring(root)


def with_header_block(signed: bytes, block: etree._Element) -> bytes:
    """``block`` added at the end of the Header after signing (headers other than the Security
    header are not signed)."""
    root, _, header, _ = _parts(signed)
    header.append(block)
    return etree.tostring(root)


def nested_header(depth: int) -> etree._Element:
    """A header block ``depth`` elements deep, without ``mustUnderstand``: an endpoint may
    ignore it, so only a nesting limit refuses it."""
    namespace = "urn:temix:conformance:nesting"
    outer = inner = etree.Element(f"{{{namespace}}}n", nsmap={"n": namespace})
    for _ in range(depth - 1):
        inner = etree.SubElement(inner, f"{{{namespace}}}n")
    return outer


def billion_laughs(levels: int = 3, fan_out: int = 10) -> tuple[str, str]:
    """A DOCTYPE of entities that each expand to ``fan_out`` of the one before (small by
    default: a thousand words), and the reference that expands the last."""
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * fan_out}">' for n in range(1, levels + 1)
    )
    return f"<!DOCTYPE Envelope [{entities}]>", f"&lol{levels};"


def external_entity(url: str) -> tuple[str, str]:
    """A DOCTYPE declaring an external entity that reads ``url``, and its reference."""
    return f'<!DOCTYPE Envelope [<!ENTITY xxe SYSTEM "{url}">]>', "&xxe;"


def with_doctype(signed: bytes, doctype: str, reference: str) -> bytes:
    """The signed request behind ``doctype``, with ``reference`` (an entity reference) as the
    text of an extra header block without ``mustUnderstand``: the signed parts stay intact, so
    an endpoint that allowed the DOCTYPE would accept the request."""
    root, _, header, _ = _parts(signed)
    block = etree.SubElement(
        header, "{urn:temix:conformance:entity}Note", nsmap={"ent": "urn:temix:conformance:entity"}
    )
    block.append(etree.Comment("entity"))
    text = etree.tostring(root).replace(b"<!--entity-->", reference.encode("ascii"))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype.encode("ascii") + b"\n" + text
