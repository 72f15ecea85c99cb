"""The attacks of ``shared/reference/SECURITY.md`` ("Attacks the test suite must cover"), each
sent to a running, signed ``temix serve``.

Every attack is checked three ways: the refusal on the wire (status and fault code; a security
fault is always the same generic fault, whatever its cause), the store (no tender or
transaction appeared), and the ledger (the exchange is recorded with the bytes as sent and,
for a security refusal, the cause, which never reaches the peer). No fault ever carries a stack
trace or a file path, and the server never fetches anything an attack points it at.

Most crafted messages are a good signed request edited afterwards; those that need a signature
made differently (other algorithms, references, transforms or timestamps) are built by
:meth:`Kit.hand_signed`, which by default builds exactly what
:func:`temix.wssecurity.sign_envelope` does, so that each attack changes one thing.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import http.client
import json
import secrets
import socket
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from market import SOAP_ACTIONS, create_tender, envelope, tender
from running_server import Answer, RunningServer, key_directory
from temix import codec
from temix import payloads as p
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion
from temix.keys import (
    Credentials,
    KeyAlgorithm,
    KeyDirectory,
    generate_key,
    issue_ca_certificate,
    issue_party_certificate,
    party_subject,
)
from temix.namespaces import EI, EMIX, SOAP11, SOAP12
from temix.server.security import SECURITY_REFUSED
from temix.server.store import LedgerEntry, Store, sqlite_url
from temix.wsaddressing import WSA, new_message_id
from temix.wssecurity import (
    BASE64_BINARY,
    DS,
    EXC_C14N,
    WSSE,
    WSU,
    WSU_ID,
    X509_V3,
    format_instant,
    sign_envelope,
)

XSL = "http://www.w3.org/1999/XSL/Transform"
SOAP_ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
XINCLUDE = "http://www.w3.org/2001/XInclude"

RSA_SHA256 = SignatureMethod.RSA_SHA256.value
RSA_SHA512 = SignatureMethod.RSA_SHA512.value
RSA_SHA1 = SignatureMethod.RSA_SHA1.value
RSA_MD5 = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
ECDSA_SHA256 = SignatureMethod.ECDSA_SHA256.value
HMAC_SHA256 = SignatureMethod.HMAC_SHA256.value
SHA256 = DigestAlgorithm.SHA256.value
SHA512 = DigestAlgorithm.SHA512.value
SHA1 = DigestAlgorithm.SHA1.value
MD5 = "http://www.w3.org/2001/04/xmldsig-more#md5"
EXC_C14N_WITH_COMMENTS = (
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS.value
)
C14N = CanonicalizationMethod.CANONICAL_XML_1_0.value
C14N_WITH_COMMENTS = CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS.value
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XPATH_FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"

C14N_MODES = {  # algorithm: (exclusive, with comments)
    EXC_C14N: (True, False),
    EXC_C14N_WITH_COMMENTS: (True, True),
    C14N: (False, False),
    C14N_WITH_COMMENTS: (False, True),
}
DIGESTS = {SHA256: "sha256", SHA512: "sha512", SHA1: "sha1", MD5: "md5"}
RSA_HASHES = {
    RSA_SHA256: hashes.SHA256,
    RSA_SHA512: hashes.SHA512,
    RSA_SHA1: hashes.SHA1,
    RSA_MD5: hashes.MD5,
    ECDSA_SHA256: hashes.SHA256,
}

CREATE_TENDER = codec.PAYLOAD_ELEMENTS[p.CreateTender]
CANCEL_TENDER = codec.PAYLOAD_ELEMENTS[p.CancelTender]

INVALID_SECURITY = "InvalidSecurity"
FAILED_CHECK = "FailedCheck"
CLIENT_FAULTS = {
    SOAP_1_1: (500, (f"{{{SOAP11}}}Client",)),
    SOAP_1_2: (400, (f"{{{SOAP12}}}Sender",)),
}
MUST_UNDERSTAND_FAULTS = {
    SOAP_1_1: (500, (f"{{{SOAP11}}}MustUnderstand",)),
    SOAP_1_2: (500, (f"{{{SOAP12}}}MustUnderstand",)),
}
VERSION_MISMATCH_FAULTS = {
    SOAP_1_1: (500, (f"{{{SOAP11}}}VersionMismatch",)),
    SOAP_1_2: (500, (f"{{{SOAP12}}}VersionMismatch",)),
}
LEAK_MARKERS = ("Traceback", 'File "', ".py", "site-packages", "/tmp/", "/work/")


def security_fault(version: SoapVersion, name: str) -> tuple[int, tuple[str, ...]]:
    """SOAP 1.1: the wsse code replaces the faultcode; SOAP 1.2: Sender, with it as subcode."""
    if version is SOAP_1_1:
        return 500, (f"{{{WSSE}}}{name}",)
    return 400, (f"{{{SOAP12}}}Sender", f"{{{WSSE}}}{name}")


# --- The server, the store and a bait ---------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyDirectory:
    """RSA keys, so that hand-built signatures are plain PKCS#1 v1.5."""
    return key_directory(tmp_path_factory.mktemp("keys"), KeyAlgorithm.RSA)


@pytest.fixture(scope="module")
def server_and_store(
    tmp_path_factory: pytest.TempPathFactory, keys: KeyDirectory
) -> Iterator[tuple[RunningServer, Store]]:
    directory = tmp_path_factory.mktemp("server")
    url = sqlite_url(directory / "data")
    server = RunningServer(url, directory / "serve.log", keys=keys, workers=2)
    store = Store.open(url)
    yield server, store
    store.close()
    server.stop()


@pytest.fixture
def server(server_and_store: tuple[RunningServer, Store]) -> RunningServer:
    return server_and_store[0]


@pytest.fixture
def store(server_and_store: tuple[RunningServer, Store]) -> Store:
    return server_and_store[1]


class Bait:
    """A socket that attacks point the server at (DTDs, entities, references, reply
    addresses): the server must never connect to it."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.setblocking(False)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/bait"

    def assert_untouched(self) -> None:
        try:
            connection, _ = self.socket.accept()
        except BlockingIOError:
            return
        connection.close()
        pytest.fail(f"the server connected to {self.url}")


@pytest.fixture(scope="module")
def bait() -> Iterator[Bait]:
    made = Bait()
    yield made
    made.socket.close()


# --- Observing one exchange -------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """What an attack must not change: the stored tenders and transactions."""

    tenders: frozenset[tuple[str, str]]
    transactions: frozenset[str]


@dataclass(frozen=True)
class Outcome:
    answer: Answer
    before: State
    after: State
    entries: list[LedgerEntry]
    """The ledger entries written since the request was sent: the exchange's own."""

    @property
    def entry(self) -> LedgerEntry:
        assert len(self.entries) == 1, self.entries
        return self.entries[0]


def state(store: Store) -> State:
    with store.transaction(write=False) as unit:
        return State(
            frozenset((record.tender.tender_id, record.author) for record in unit.tenders()),
            frozenset(
                record.transaction.transaction_id for record in unit.transactions(party=None)
            ),
        )


def ledger_since(store: Store, sent_at: datetime) -> list[LedgerEntry]:
    with store.transaction(write=False) as unit:
        return unit.ledger(since=sent_at)


def observe(store: Store, send: Callable[[], Answer]) -> Outcome:
    before = state(store)
    sent_at = datetime.now(UTC)
    answer = send()
    return Outcome(answer, before, state(store), ledger_since(store, sent_at))


def post(
    server: RunningServer, store: Store, body: bytes, version: SoapVersion = SOAP_1_1
) -> Outcome:
    """POST ``body`` with CreateTender's SOAPAction and observe what it did."""
    soap_action = SOAP_ACTIONS[CREATE_TENDER][version]
    return observe(store, lambda: server.post(body, soap_action, version))


def fault_of(answer: Answer, version: SoapVersion) -> tuple[int, tuple[str, ...], str]:
    """The status, the fault codes (Clark names: the code, then any subcode) and the reason."""
    env = version.envelope_ns
    fault = etree.fromstring(answer.body).find(f"{{{env}}}Body/{{{env}}}Fault")
    assert fault is not None, answer.body.decode()
    if version is SOAP_1_1:
        codes = [fault.find("faultcode")]
        reason = fault.findtext("faultstring")
    else:
        codes = fault.xpath("s:Code/s:Value | s:Code/s:Subcode/s:Value", namespaces={"s": env})
        reason = fault.findtext(f"{{{env}}}Reason/{{{env}}}Text")
    return answer.status, tuple(_clark(code) for code in codes), reason or ""


def _clark(element: etree._Element) -> str:
    prefix, _, local = element.text.strip().rpartition(":")
    return f"{{{element.nsmap[prefix or None]}}}{local}"


def visible_text(answer: Answer) -> str:
    """The reply as a peer reads it, without the reply's own signature (base64 noise)."""
    try:
        root = etree.fromstring(answer.body)
    except etree.XMLSyntaxError:
        return answer.body.decode("utf-8", "replace")
    for block in root.iter(f"{{{WSSE}}}Security"):
        block.getparent().remove(block)
    return etree.tostring(root, encoding="unicode")


def assert_nothing_leaked(answer: Answer, *secrets_: str) -> None:
    text = visible_text(answer)
    for marker in (*LEAK_MARKERS, *secrets_):
        assert marker not in text, f"{marker!r} in the reply: {text}"


def assert_unchanged(outcome: Outcome, *tender_ids: str) -> None:
    assert outcome.after == outcome.before
    stored = {tender_id for tender_id, _ in outcome.after.tenders}
    assert not stored & set(tender_ids)


def assert_refused_securely(
    outcome: Outcome,
    body: bytes,
    cause: str,
    subcode: str = INVALID_SECURITY,
    version: SoapVersion = SOAP_1_1,
    tender_ids: tuple[str, ...] = (),
) -> None:
    """The generic security fault, nothing stored, and the cause in the ledger only."""
    status, codes, reason = fault_of(outcome.answer, version)
    assert (status, codes, reason) == (*security_fault(version, subcode), SECURITY_REFUSED)
    entry = outcome.entry
    assert (entry.verification, entry.http_status, entry.request) == ("refused", status, body)
    assert cause in (entry.verification_detail or ""), entry.verification_detail
    assert_nothing_leaked(outcome.answer, entry.verification_detail or "", cause)
    assert_unchanged(outcome, *tender_ids)


def assert_refused_with(
    outcome: Outcome,
    expected: tuple[int, tuple[str, ...]],
    version: SoapVersion,
    body: bytes,
    verification: str = "unverified",
) -> None:
    """A fault that is not a security fault, recorded with the request bytes and how far its
    signature was checked (``unverified``: refused before), nothing stored."""
    status, codes, _ = fault_of(outcome.answer, version)
    assert (status, codes) == expected
    entry = outcome.entry
    assert (entry.request, entry.http_status, entry.verification) == (body, status, verification)
    assert_nothing_leaked(outcome.answer)
    assert_unchanged(outcome)


def assert_stored_by_rep(outcome: Outcome, tender_id: str) -> None:
    assert outcome.answer.status == 200, outcome.answer.body.decode()
    assert outcome.answer.payload().response.code == "200"
    assert outcome.after.tenders - outcome.before.tenders == {(tender_id, "rep")}
    assert outcome.entry.verification == "verified"


def assert_healthy(server: RunningServer) -> None:
    connection = server.connection()
    try:
        connection.request("GET", "/health")
        assert connection.getresponse().status == 200
    finally:
        connection.close()


# --- Crafting messages ------------------------------------------------------------------------


@dataclass(frozen=True)
class Transform:
    algorithm: str
    content: str = ""
    """The Transform's child element, as XML."""


@dataclass(frozen=True)
class Recipe:
    """How :meth:`Kit.hand_signed` signs; the defaults are what ``sign_envelope`` does.

    ``references`` are URIs where ``{body}`` and ``{timestamp}`` stand for the Ids;
    ``created`` is the Timestamp's offset from now, ``lifetime`` None leaves Expires out.
    """

    references: tuple[str, ...] = ("#{body}", "#{timestamp}")
    created: timedelta = timedelta(0)
    lifetime: timedelta | None = timedelta(seconds=300)
    c14n: str = EXC_C14N
    signature_method: str = RSA_SHA256
    hmac_output_length: int | None = None
    digest_method: str = SHA256
    transforms: tuple[Transform, ...] = (Transform(EXC_C14N),)


AS_SIGN_ENVELOPE = Recipe()
EXPIRED = Recipe(created=timedelta(seconds=-100), lifetime=timedelta(seconds=90))
Edit = Callable[[etree._Element], None]


@dataclass
class Kit:
    """One attack's raw material: a fresh CreateTender by rep for a new tender, and the ways
    to make its message."""

    server: RunningServer
    bait: Bait
    version: SoapVersion = SOAP_1_1
    tender_id: str = field(default_factory=lambda: f"T-{uuid.uuid4().hex[:12]}")

    @property
    def payload(self) -> p.CreateTender:
        return create_tender(f"R-{self.tender_id}", "rep", "customer", tender(self.tender_id))

    @property
    def keys(self) -> KeyDirectory:
        assert self.server.keys is not None
        return self.server.keys

    def unsigned(self) -> etree._Element:
        return etree.fromstring(envelope(self.payload, self.version))

    def signed(self, signer: str | None = None) -> bytes:
        return self.server.signed(self.payload, self.version, signer)

    def edited(self, *edits: Edit) -> bytes:
        """The signed message, edited after signing."""
        root = etree.fromstring(self.signed())
        for edit in edits:
            edit(root)
        return etree.tostring(root)

    def signed_with(self, key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> bytes:
        root = self.unsigned()
        sign_envelope(root, key, certificate, datetime.now(UTC))
        return etree.tostring(root)

    def hand_signed(self, recipe: Recipe = AS_SIGN_ENVELOPE, *edits: Edit) -> bytes:
        """The message signed by rep as ``recipe`` says, then edited."""
        credentials = self.keys.party("rep")
        root = self.unsigned()
        ids = _add_security_header(root, recipe, credentials.certificate)
        _add_signature(root, recipe, credentials, ids)
        for edit in edits:
            edit(root)
        return etree.tostring(root)


def _add_security_header(
    root: etree._Element, recipe: Recipe, certificate: x509.Certificate
) -> dict[str, str]:
    """The Security header ``sign_envelope`` writes, with the recipe's Timestamp, up to the
    Signature; returns the Ids of the Body, the Timestamp and the token."""
    env = _env(root)
    suffix = uuid.uuid4().hex
    ids = {"body": f"Body-{suffix}", "timestamp": f"TS-{suffix}", "token": f"X509-{suffix}"}
    header = etree.Element(f"{{{env}}}Header")
    root.insert(0, header)
    security = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE, "wsu": WSU})
    security.set(f"{{{env}}}mustUnderstand", "1")
    created = datetime.now(UTC).replace(microsecond=0) + recipe.created
    timestamp = etree.SubElement(security, f"{{{WSU}}}Timestamp", {WSU_ID: ids["timestamp"]})
    etree.SubElement(timestamp, f"{{{WSU}}}Created").text = format_instant(created)
    if recipe.lifetime is not None:
        expires = created + recipe.lifetime
        etree.SubElement(timestamp, f"{{{WSU}}}Expires").text = format_instant(expires)
    token = etree.SubElement(
        security,
        f"{{{WSSE}}}BinarySecurityToken",
        {WSU_ID: ids["token"], "EncodingType": BASE64_BINARY, "ValueType": X509_V3},
    )
    token.text = _der_base64(certificate)
    body_of(root).set(WSU_ID, ids["body"])
    return ids


def _add_signature(
    root: etree._Element, recipe: Recipe, credentials: Credentials, ids: dict[str, str]
) -> None:
    ds = f"{{{DS}}}"
    signature = etree.SubElement(security_of(root), ds + "Signature", nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, ds + "SignedInfo")
    etree.SubElement(signed_info, ds + "CanonicalizationMethod", Algorithm=recipe.c14n)
    method = etree.SubElement(
        signed_info, ds + "SignatureMethod", Algorithm=recipe.signature_method
    )
    if recipe.hmac_output_length is not None:
        length = etree.SubElement(method, ds + "HMACOutputLength")
        length.text = str(recipe.hmac_output_length)
    digests: dict[str, str] = {}
    for template in recipe.references:
        uri = template.format(**ids)
        reference = etree.SubElement(signed_info, ds + "Reference", URI=uri)
        transforms = etree.SubElement(reference, ds + "Transforms")
        for transform in recipe.transforms:
            element = etree.SubElement(transforms, ds + "Transform", Algorithm=transform.algorithm)
            if transform.content:
                element.append(etree.fromstring(transform.content))
        etree.SubElement(reference, ds + "DigestMethod", Algorithm=recipe.digest_method)
        if uri not in digests:
            digests[uri] = _digest(root, uri, recipe)
        etree.SubElement(reference, ds + "DigestValue").text = digests[uri]
    value = _signature_value(recipe, credentials, _canonical(signed_info, recipe.c14n))
    etree.SubElement(signature, ds + "SignatureValue").text = _base64(value)
    key_info = etree.SubElement(signature, ds + "KeyInfo")
    token_reference = etree.SubElement(key_info, f"{{{WSSE}}}SecurityTokenReference")
    etree.SubElement(
        token_reference, f"{{{WSSE}}}Reference", URI=f"#{ids['token']}", ValueType=X509_V3
    )


def _digest(root: etree._Element, uri: str, recipe: Recipe) -> str:
    """The digest of what ``uri`` designates, canonicalised by the recipe's last C14N transform
    (the others are taken to select everything)."""
    canonicalisations = [t.algorithm for t in recipe.transforms if t.algorithm in C14N_MODES]
    canonical = _canonical(_referenced(root, uri), (canonicalisations or [EXC_C14N])[-1])
    return _base64(hashlib.new(DIGESTS[recipe.digest_method], canonical).digest())


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _der_base64(certificate: x509.Certificate) -> str:
    return _base64(certificate.public_bytes(Encoding.DER))


def _canonical(element: etree._Element | None, algorithm: str) -> bytes:
    if element is None:
        return b""
    exclusive, with_comments = C14N_MODES.get(algorithm, (True, False))
    return etree.tostring(element, method="c14n", exclusive=exclusive, with_comments=with_comments)


def _referenced(root: etree._Element, uri: str) -> etree._Element | None:
    """What ``uri`` designates here: an element by Id (plainly or as an XPointer ``id()``),
    the document for ``""``, nothing for an external URI."""
    if uri == "":
        return root
    if not uri.startswith("#"):
        return None
    wanted = uri[1:].removeprefix("xpointer(id('").removesuffix("'))")
    return next((element for element in root.iter() if element.get(WSU_ID) == wanted), None)


def _signature_value(recipe: Recipe, credentials: Credentials, signed_info: bytes) -> bytes:
    if recipe.signature_method == HMAC_SHA256:
        # Key confusion: the "secret" is the signer's public key, which anyone has.
        public = credentials.certificate.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
        mac = hmac.new(public, signed_info, "sha256").digest()
        return mac[: (recipe.hmac_output_length or 256) // 8]
    hash_algorithm = RSA_HASHES[recipe.signature_method]()
    return credentials.key.sign(signed_info, padding.PKCS1v15(), hash_algorithm)


# Finding the parts of a signed envelope.


def _env(root: etree._Element) -> str:
    return etree.QName(root).namespace


def header_of(root: etree._Element) -> etree._Element:
    return root.find(f"{{{_env(root)}}}Header")


def body_of(root: etree._Element) -> etree._Element:
    return root.find(f"{{{_env(root)}}}Body")


def security_of(root: etree._Element) -> etree._Element:
    return header_of(root).find(f"{{{WSSE}}}Security")


def signature_of(root: etree._Element) -> etree._Element:
    return security_of(root).find(f"{{{DS}}}Signature")


SECURITY = "*/wsse:Security"
TIMESTAMP = f"{SECURITY}/wsu:Timestamp"
TOKEN = f"{SECURITY}/wsse:BinarySecurityToken"
SIGNATURE = f"{SECURITY}/ds:Signature"
SIGNED_INFO = f"{SIGNATURE}/ds:SignedInfo"
REFERENCE = f"{SIGNED_INFO}/ds:Reference"
"""Paths from the Envelope, for :func:`part`."""


def part(root: etree._Element, path: str) -> etree._Element:
    namespaces = {"ds": DS, "wsse": WSSE, "wsu": WSU, "ei": EI, "emix": EMIX}
    found = root.find(path, namespaces=namespaces)
    assert found is not None, path
    return found


def forged_body(root: etree._Element, body_id: str | None = None) -> etree._Element:
    """A new, unsigned Body with what the attacker wants: another tender, said to be by rep."""
    version = SOAP_1_1 if _env(root) == SOAP11 else SOAP_1_2
    wanted = f"{root.findtext(f'.//{{{EI}}}tenderID')}-forged"
    forged = create_tender(f"R-{wanted}", "rep", "customer", tender(wanted, quantity="999"))
    body = body_of(etree.fromstring(envelope(forged, version)))
    body.set(WSU_ID, body_id or f"Body-forged-{uuid.uuid4().hex}")
    return body


# Edits of a signed envelope.


def wrapped(
    place: Callable[[etree._Element], etree._Element], *, same_id: bool = False
) -> Callable[[Kit], bytes]:
    """Signature wrapping: the signed Body goes into ``place(root)`` and a forged Body takes
    its place (with the signed Body's Id if ``same_id``).

    The signed Body moves as the bytes it was signed as: moved as an lxml node, it would
    take the prefix its new ancestors give its namespaces, and its digest would no longer
    match. Moved this way, the digests still match."""

    def craft(kit: Kit) -> bytes:
        root = etree.fromstring(kit.signed())
        signed = body_of(root)
        signed_bytes = etree.tostring(signed)
        root.replace(signed, forged_body(root, signed.get(WSU_ID) if same_id else None))
        place(root).append(etree.Comment("signed Body"))
        return etree.tostring(root).replace(b"<!--signed Body-->", signed_bytes)

    return craft


def signature_object(root: etree._Element) -> etree._Element:
    return etree.SubElement(signature_of(root), f"{{{DS}}}Object")


def decoy_with(attribute: str, id_of: Callable[[etree._Element], etree._Element]) -> Edit:
    """A header block carrying ``attribute`` with the Id of ``id_of(root)``."""

    def edit(root: etree._Element) -> None:
        decoy = etree.SubElement(header_of(root), "{urn:attacker}Decoy")
        decoy.set(attribute, id_of(root).get(WSU_ID))

    return edit


def fresh_timestamp() -> etree._Element:
    timestamp = etree.Element(f"{{{WSU}}}Timestamp", {WSU_ID: f"TS-{uuid.uuid4().hex}"})
    now = datetime.now(UTC).replace(microsecond=0)
    etree.SubElement(timestamp, f"{{{WSU}}}Created").text = format_instant(now)
    etree.SubElement(timestamp, f"{{{WSU}}}Expires").text = format_instant(
        now + timedelta(minutes=5)
    )
    return timestamp


def second_timestamp(root: etree._Element) -> None:
    security_of(root).insert(0, fresh_timestamp())


def signed_timestamp_moved(root: etree._Element) -> None:
    signed = part(security_of(root), "wsu:Timestamp")
    signed.addprevious(fresh_timestamp())
    etree.SubElement(security_of(root), "{urn:attacker}Old").append(signed)


def security_copied(root: etree._Element) -> None:
    header_of(root).append(copy.deepcopy(security_of(root)))


def empty_security_added(root: etree._Element) -> None:
    etree.SubElement(header_of(root), f"{{{WSSE}}}Security")


def signature_copied(root: etree._Element) -> None:
    security_of(root).append(copy.deepcopy(signature_of(root)))


def signed_info_copied(root: etree._Element) -> None:
    signed_info = part(signature_of(root), "ds:SignedInfo")
    signed_info.addnext(copy.deepcopy(signed_info))


def removed(path: str) -> Edit:
    def edit(root: etree._Element) -> None:
        found = part(root, path)
        found.getparent().remove(found)

    return edit


def security_for_another_actor(root: etree._Element) -> None:
    security_of(root).set(f"{{{_env(root)}}}actor", "urn:someone-else")


def header_removed(root: etree._Element) -> None:
    root.remove(header_of(root))


def key_info_holding(*make: Callable[[], etree._Element], keep: bool = False) -> Edit:
    """KeyInfo with ``make()``'s elements, after the SecurityTokenReference if ``keep``."""

    def edit(root: etree._Element) -> None:
        key_info = part(signature_of(root), "ds:KeyInfo")
        if not keep:
            for child in list(key_info):
                key_info.remove(child)
        for build in make:
            key_info.append(build())

    return edit


def key_value(key: rsa.RSAPublicKey) -> etree._Element:
    numbers = key.public_numbers()
    element = etree.Element(f"{{{DS}}}KeyValue")
    holder = etree.SubElement(element, f"{{{DS}}}RSAKeyValue")
    for name, number in (("Modulus", numbers.n), ("Exponent", numbers.e)):
        etree.SubElement(holder, f"{{{DS}}}{name}").text = _base64(
            number.to_bytes((number.bit_length() + 7) // 8, "big")
        )
    return element


def x509_data(certificate: x509.Certificate) -> etree._Element:
    element = etree.Element(f"{{{DS}}}X509Data")
    etree.SubElement(element, f"{{{DS}}}X509Certificate").text = _der_base64(certificate)
    return element


def retrieval_method(url: str) -> etree._Element:
    return etree.Element(
        f"{{{DS}}}RetrievalMethod", URI=url, Type="http://www.w3.org/2000/09/xmldsig#X509Data"
    )


def token_reference_to_body(root: etree._Element) -> None:
    pointer = part(signature_of(root), "ds:KeyInfo/wsse:SecurityTokenReference/wsse:Reference")
    pointer.set("URI", f"#{body_of(root).get(WSU_ID)}")


def token_holding(certificate: x509.Certificate) -> Edit:
    def edit(root: etree._Element) -> None:
        part(security_of(root), "wsse:BinarySecurityToken").text = _der_base64(certificate)

    return edit


def text_of(path: str, text: str) -> Edit:
    def edit(root: etree._Element) -> None:
        part(root, path).text = text

    return edit


def attribute_removed(path: str, attribute: str) -> Edit:
    def edit(root: etree._Element) -> None:
        del part(root, path).attrib[attribute]

    return edit


def security_emptied(root: etree._Element) -> None:
    for child in list(security_of(root)):
        security_of(root).remove(child)


# Keys and certificates of attackers.


def attacker_key() -> rsa.RSAPrivateKey:
    return generate_key(KeyAlgorithm.RSA)


def authority(kit: Kit) -> Credentials:
    return Credentials.load(kit.keys.ca_key_path, kit.keys.ca_certificate_path)


def self_signed_rep(kit: Kit) -> bytes:
    key = attacker_key()
    name = x509.Name.from_rfc4514_string(party_subject("rep"))
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return kit.signed_with(key, certificate)


def rep_from_another_ca(kit: Kit) -> bytes:
    now = datetime.now(UTC)
    ca_key = attacker_key()
    other_ca = Credentials(ca_key, issue_ca_certificate(ca_key, now))
    key = attacker_key()
    return kit.signed_with(key, issue_party_certificate(other_ca, key.public_key(), "rep", now))


def issued_by_our_ca(kit: Kit, party: str, issued_at: datetime) -> bytes:
    key = attacker_key()
    certificate = issue_party_certificate(authority(kit), key.public_key(), party, issued_at)
    return kit.signed_with(key, certificate)


def rep_without_signing_usage(kit: Kit) -> bytes:
    key = attacker_key()
    ca = authority(kit)
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string(party_subject("rep")))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return kit.signed_with(key, certificate)


def rep_with_rsa_key_of(bits: int) -> Callable[[Kit], bytes]:
    """A CA-issued certificate of rep for an RSA modulus of ``bits`` bits, the message signed
    with rep's real key: the key size alone must refuse it, before anything is verified, so
    the modulus needs no private half."""

    def craft(kit: Kit) -> bytes:
        modulus = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        public_key = rsa.RSAPublicNumbers(65537, modulus).public_key()
        now = datetime.now(UTC)
        certificate = issue_party_certificate(authority(kit), public_key, "rep", now)
        return kit.signed_with(kit.keys.party("rep").key, certificate)

    return craft


# --- Parser attacks ---------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    + "]>"
)


def with_doctype(doctype: str, party: str) -> Callable[[Kit], bytes]:
    """The signed message behind ``doctype``, its partyID replaced by ``party``."""

    def craft(kit: Kit) -> bytes:
        signed = kit.signed().replace(b">rep</", f">{party}</".encode(), 1)
        return doctype.format(bait=kit.bait.url).encode() + signed

    return craft


def in_payload(xml: str) -> Callable[[Kit], bytes]:
    """The signed message with ``xml`` right after the payload's partyID."""

    def craft(kit: Kit) -> bytes:
        marker = b"rep</ei:partyID>"
        return kit.signed().replace(marker, marker + xml.format(bait=kit.bait.url).encode(), 1)

    return craft


def namespace_flood(kit: Kit) -> bytes:
    signed = kit.signed()
    end = signed.index(b">")
    declarations = b"".join(b' xmlns:n%d="urn:flood:%d"' % (n, n) for n in range(10_000))
    return signed[:end] + declarations + signed[end:]


def signed_after(edit: Callable[[Kit, etree._Element], None]) -> Callable[[Kit], bytes]:
    """The message edited before rep signs it: the signature is good, the payload is not."""

    def craft(kit: Kit) -> bytes:
        root = kit.unsigned()
        edit(kit, root)
        credentials = kit.keys.party("rep")
        sign_envelope(root, credentials.key, credentials.certificate, datetime.now(UTC))
        return etree.tostring(root)

    return craft


def soap_encoded_array(kit: Kit, root: etree._Element) -> None:
    """The payload claims to be a SOAP-encoded array of two billion items."""
    payload = body_of(root)[0]
    payload.set(f"{{{SOAP_ENCODING}}}arrayType", "xsd:string[2147483647]")
    payload.set(f"{{{SOAP_ENCODING}}}offset", "[2147483646]")


def xinclude(kit: Kit, root: etree._Element) -> None:
    """The payload includes a local file and the bait, if anything processed XInclude."""
    payload = body_of(root)[0]
    for target in ("file:///etc/passwd", kit.bait.url):
        etree.SubElement(payload, f"{{{XINCLUDE}}}include", href=target, parse="text")


def in_utf16(craft: Callable[[Kit], bytes]) -> Callable[[Kit], bytes]:
    return lambda kit: craft(kit).decode("utf-8").encode("utf-16")


OVER_THE_CAP = 1024 * 1024 + 1024
UNPARSED = (CLIENT_FAULTS[SOAP_1_1], "unverified")
INVALID_PAYLOAD = (CLIENT_FAULTS[SOAP_1_1], "verified")
TOO_LARGE = 413
"""What parser attacks get: a Client fault before the signature is looked at, a Client fault
for a well-signed payload that is not valid, or 413 before the body is read."""


@pytest.mark.parametrize(
    ("craft", "expected"),
    [
        pytest.param(with_doctype(BILLION_LAUGHS, "&lol9;"), UNPARSED, id="billion-laughs"),
        pytest.param(
            in_utf16(with_doctype(BILLION_LAUGHS, "&lol9;")), UNPARSED, id="billion-laughs-utf16"
        ),
        pytest.param(
            with_doctype(f'<!DOCTYPE q [<!ENTITY a "{"x" * 100_000}">]>', "&a;" * 200),
            UNPARSED,
            id="quadratic-blowup",
        ),
        pytest.param(
            with_doctype('<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
            UNPARSED,
            id="xxe-general-entity",
        ),
        pytest.param(
            with_doctype('<!DOCTYPE x [<!ENTITY % ext SYSTEM "{bait}/evil.dtd"> %ext;]>', "rep"),
            UNPARSED,
            id="xxe-parameter-entity",
        ),
        pytest.param(
            with_doctype('<!DOCTYPE Envelope SYSTEM "{bait}/external.dtd">', "rep"),
            UNPARSED,
            id="external-dtd",
        ),
        pytest.param(
            with_doctype('<!DOCTYPE x [<!ENTITY who "rep">]>', "&who;"),
            UNPARSED,
            id="internal-entity",
        ),
        pytest.param(in_payload("<n>" * 150 + "</n>" * 150), UNPARSED, id="nesting-150"),
        pytest.param(in_payload("<n>" * 50_000 + "</n>" * 50_000), UNPARSED, id="nesting-50000"),
        pytest.param(in_payload(f"<n>{'x' * OVER_THE_CAP}</n>"), TOO_LARGE, id="huge-text"),
        pytest.param(in_payload(f'<n a="{"x" * OVER_THE_CAP}"/>'), TOO_LARGE, id="huge-attribute"),
        pytest.param(
            in_payload("<n " + " ".join(f'a{n}=""' for n in range(600)) + "/>"),
            UNPARSED,
            id="attribute-count-flood",
        ),
        pytest.param(in_payload("<n/>" * 210_000), UNPARSED, id="element-count-flood"),
        pytest.param(in_payload(f"<{'n' * 60_000}/>"), UNPARSED, id="overlong-element-name"),
        pytest.param(in_payload(f'<n {"a" * 60_000}=""/>'), UNPARSED, id="overlong-attribute-name"),
        pytest.param(
            namespace_flood,
            UNPARSED,
            id="namespace-declaration-flood",
        ),
        pytest.param(
            signed_after(soap_encoded_array), INVALID_PAYLOAD, id="soap-encoded-array-size"
        ),
        pytest.param(signed_after(xinclude), INVALID_PAYLOAD, id="xinclude"),
        pytest.param(
            in_payload('<?xml-stylesheet type="text/xsl" href="{bait}/style.xsl"?>'),
            UNPARSED,
            id="processing-instruction",
        ),
    ],
)
def test_parser_attacks_are_refused_before_any_work(
    server: RunningServer,
    store: Store,
    bait: Bait,
    craft: Callable[[Kit], bytes],
    expected: tuple[tuple[int, tuple[str, ...]], str] | int,
) -> None:
    """Refused as a Client fault (413 over the byte cap, unread), nothing fetched, nothing
    stored, and the server still up (lxml's schema-bound parsers crash on some of these)."""
    kit = Kit(server, bait)
    body = craft(kit)
    outcome = post(server, store, body)
    if expected == TOO_LARGE:
        entry = outcome.entry
        assert (outcome.answer.status, entry.request, entry.verification) == (
            TOO_LARGE,
            b"",
            "unverified",
        )
        assert_nothing_leaked(outcome.answer)
    else:
        fault, verification = expected
        assert_refused_with(outcome, fault, SOAP_1_1, body, verification)
    assert_unchanged(outcome, kit.tender_id)
    assert "root:" not in visible_text(outcome.answer)
    bait.assert_untouched()
    assert_healthy(server)


def test_a_parser_attack_in_soap12_is_a_sender_fault(
    server: RunningServer, store: Store, bait: Bait
) -> None:
    kit = Kit(server, bait, SOAP_1_2)
    body = BILLION_LAUGHS.encode() + kit.signed().replace(b">rep</", b">&lol9;</", 1)
    outcome = post(server, store, body, SOAP_1_2)
    assert_refused_with(outcome, CLIENT_FAULTS[SOAP_1_2], SOAP_1_2, body)
    assert_healthy(server)


# --- Signature attacks ------------------------------------------------------------------------


def case(
    craft: Callable[[Kit], bytes], cause: str, identifier: str, subcode: str = INVALID_SECURITY
) -> object:
    return pytest.param(craft, cause, subcode, id=identifier)


def security_cases(cases: list) -> Callable[..., None]:
    """A test sending each crafted message of ``cases`` (made with :func:`case`) and checking
    it is refused with the generic security fault, its cause only in the ledger."""

    @pytest.mark.parametrize(("craft", "cause", "subcode"), cases)
    def test(
        server: RunningServer,
        store: Store,
        bait: Bait,
        craft: Callable[[Kit], bytes],
        cause: str,
        subcode: str,
    ) -> None:
        run_security_case(server, store, bait, craft, cause, subcode)

    return test


def edited(*edits: Edit) -> Callable[[Kit], bytes]:
    return lambda kit: kit.edited(*edits)


def hand_signed(recipe: Recipe) -> Callable[[Kit], bytes]:
    return lambda kit: kit.hand_signed(recipe)


def run_security_case(
    server: RunningServer,
    store: Store,
    bait: Bait,
    craft: Callable[[Kit], bytes],
    cause: str,
    subcode: str,
    version: SoapVersion = SOAP_1_1,
) -> None:
    kit = Kit(server, bait, version)
    body = craft(kit)
    outcome = post(server, store, body, version)
    forged = f"{kit.tender_id}-forged"
    assert_refused_securely(outcome, body, cause, subcode, version, (kit.tender_id, forged))
    bait.assert_untouched()


NOT_THE_BODY_AND_TIMESTAMP = "not exactly the parts it must sign"
SIGNATURE_CHILDREN = "SignedInfo, SignatureValue and KeyInfo only"


@pytest.mark.parametrize("version", [SOAP_1_1, SOAP_1_2], ids=["soap11", "soap12"])
@pytest.mark.parametrize(
    ("craft", "cause", "subcode"),
    [
        case(wrapped(header_of), NOT_THE_BODY_AND_TIMESTAMP, "header"),
        case(wrapped(signature_object), SIGNATURE_CHILDREN, "signature-object"),
        case(wrapped(security_of), NOT_THE_BODY_AND_TIMESTAMP, "security-header"),
    ],
)
def test_signature_wrapping_is_refused(
    server: RunningServer,
    store: Store,
    bait: Bait,
    craft: Callable[[Kit], bytes],
    cause: str,
    subcode: str,
    version: SoapVersion,
) -> None:
    """The signed Body moved elsewhere, a forged Body in its place: the signature itself still
    verifies, only the check that the reference IS the Envelope's Body stops it."""
    run_security_case(server, store, bait, craft, cause, subcode, version)


test_duplicate_ids_and_repeated_security_parts_are_refused = security_cases(
    [
        case(wrapped(header_of, same_id=True), "used more than once", "body-id"),
        case(
            edited(decoy_with(WSU_ID, lambda root: part(security_of(root), "wsu:Timestamp"))),
            "used more than once",
            "timestamp-id",
        ),
        case(edited(decoy_with("ID", body_of)), "used more than once", "plain-ID"),
        case(edited(second_timestamp), "2 wsu:Timestamp", "second-timestamp"),
        case(edited(signed_timestamp_moved), NOT_THE_BODY_AND_TIMESTAMP, "signed-timestamp-moved"),
        case(edited(security_copied), "2 wsse:Security headers", "security-twice"),
        case(edited(empty_security_added), "2 wsse:Security headers", "second-empty-security"),
        case(edited(signature_copied), "2 ds:Signature", "signature-twice"),
        case(edited(signed_info_copied), SIGNATURE_CHILDREN, "signedinfo-twice"),
    ]
)


test_unsigned_or_partly_signed_requests_are_refused = security_cases(
    [
        case(
            hand_signed(Recipe(references=("#{timestamp}",))),
            NOT_THE_BODY_AND_TIMESTAMP,
            "only-timestamp-signed",
        ),
        case(edited(removed(SIGNATURE)), "0 ds:Signature", "signature-removed"),
        case(edited(removed(TOKEN)), "0 wsse:BinarySecurityToken", "token-removed"),
        case(edited(removed(SECURITY)), "0 wsse:Security headers", "security-header-removed"),
        case(
            edited(security_for_another_actor),
            "0 wsse:Security headers",
            "security-for-another-actor",
        ),
        case(edited(header_removed), "no SOAP Header", "header-removed"),
        case(lambda kit: etree.tostring(kit.unsigned()), "no SOAP Header", "never-signed"),
    ]
)


test_anything_changed_after_signing_fails_the_check = security_cases(
    [
        case(
            edited(text_of(".//emix:quantity", "999")), "does not verify", "payload", FAILED_CHECK
        ),
        case(
            edited(text_of(f"{TIMESTAMP}/wsu:Expires", "2099-01-01T00:00:00Z")),
            "does not verify",
            "expires-extended",
            FAILED_CHECK,
        ),
        case(
            edited(
                text_of(
                    f"{REFERENCE}/ds:DigestValue",
                    _base64(bytes(32)),
                )
            ),
            "does not verify",
            "digest-value",
            FAILED_CHECK,
        ),
    ]
)


test_keys_the_server_does_not_trust_are_refused = security_cases(
    [
        case(self_signed_rep, "not issued by a trusted CA", "self-signed-rep"),
        case(rep_from_another_ca, "not issued by a trusted CA", "rep-from-another-ca"),
        case(
            lambda kit: issued_by_our_ca(kit, "rep", datetime.now(UTC) - timedelta(days=900)),
            "is not valid at",
            "expired-rep",
        ),
        case(
            lambda kit: issued_by_our_ca(kit, "mallory", datetime.now(UTC)),
            "no registered party",
            "unregistered-party",
        ),
        case(
            lambda kit: kit.signed_with(authority(kit).key, authority(kit).certificate),
            "no registered party",
            "the-ca-itself",
        ),
        case(rep_without_signing_usage, "keyUsage", "no-signing-key-usage"),
        case(rep_with_rsa_key_of(8192), "RSA key of 8192 bits", "rsa-8192"),
        case(rep_with_rsa_key_of(1024), "RSA key of 1024 bits", "rsa-1024"),
        case(
            edited(key_info_holding(lambda: key_value(attacker_key().public_key()), keep=True)),
            "KeyInfo must be one wsse:SecurityTokenReference",
            "keyvalue-injected",
        ),
        case(
            edited(key_info_holding(lambda: key_value(attacker_key().public_key()))),
            "KeyInfo must be one wsse:SecurityTokenReference",
            "keyvalue-instead",
        ),
        case(
            lambda kit: kit.edited(
                key_info_holding(lambda: x509_data(kit.keys.party("customer").certificate))
            ),
            "KeyInfo must be one wsse:SecurityTokenReference",
            "x509data-instead",
        ),
        case(
            lambda kit: kit.edited(key_info_holding(lambda: retrieval_method(kit.bait.url))),
            "KeyInfo must be one wsse:SecurityTokenReference",
            "retrieval-method",
        ),
        case(
            edited(token_reference_to_body),
            "does not name the BinarySecurityToken",
            "token-reference-to-body",
        ),
        case(
            lambda kit: kit.edited(token_holding(kit.keys.party("customer").certificate)),
            "does not verify",
            "token-of-another-party",
            FAILED_CHECK,
        ),
    ]
)


def xslt_fetching(kit: Kit) -> Transform:
    stylesheet = (
        f'<xsl:stylesheet xmlns:xsl="{XSL}" version="1.0"><xsl:template match="/">'
        f"<xsl:copy-of select=\"document('{kit.bait.url}')\"/></xsl:template></xsl:stylesheet>"
    )
    return Transform(XSLT, stylesheet)


XPATH_ALL = Transform(XPATH, f'<ds:XPath xmlns:ds="{DS}">true()</ds:XPath>')
FILTER2_ALL = Transform(
    XPATH_FILTER2, f'<f:XPath xmlns:f="{XPATH_FILTER2}" Filter="union">/</f:XPath>'
)
EXCLUSIVE = Transform(EXC_C14N)


test_references_and_transforms_beyond_the_two_ids_are_refused = security_cases(
    [
        case(
            lambda kit: kit.hand_signed(
                Recipe(references=("#{body}", "#{timestamp}", kit.bait.url))
            ),
            NOT_THE_BODY_AND_TIMESTAMP,
            "external-uri",
        ),
        case(
            hand_signed(Recipe(references=("#xpointer(id('{body}'))", "#{timestamp}"))),
            NOT_THE_BODY_AND_TIMESTAMP,
            "xpointer",
        ),
        case(
            hand_signed(Recipe(references=("", "#{timestamp}"))),
            NOT_THE_BODY_AND_TIMESTAMP,
            "whole-document",
        ),
        case(
            hand_signed(Recipe(references=("#{body}",) * 1000 + ("#{timestamp}",))),
            NOT_THE_BODY_AND_TIMESTAMP,
            "reference-explosion",
        ),
        case(
            hand_signed(Recipe(transforms=(XPATH_ALL, EXCLUSIVE))),
            "exactly one Transform",
            "xpath-transform",
        ),
        case(
            hand_signed(Recipe(transforms=(XPATH_ALL,))),
            "not exclusive C14N",
            "xpath-transform-alone",
        ),
        case(
            lambda kit: kit.hand_signed(Recipe(transforms=(xslt_fetching(kit), EXCLUSIVE))),
            "exactly one Transform",
            "xslt-transform",
        ),
        case(
            hand_signed(Recipe(transforms=(FILTER2_ALL, EXCLUSIVE))),
            "exactly one Transform",
            "xpath-filter2-transform",
        ),
        case(
            hand_signed(Recipe(transforms=(Transform(ENVELOPED), EXCLUSIVE))),
            "exactly one Transform",
            "enveloped-transform",
        ),
    ]
)


test_weak_or_confused_algorithms_are_refused = security_cases(
    [
        case(hand_signed(Recipe(signature_method=RSA_SHA1)), "signature method", "rsa-sha1"),
        case(hand_signed(Recipe(signature_method=RSA_MD5)), "signature method", "rsa-md5"),
        case(hand_signed(Recipe(digest_method=SHA1)), "digest method", "sha1"),
        case(hand_signed(Recipe(digest_method=MD5)), "digest method", "md5"),
        case(
            hand_signed(Recipe(signature_method=HMAC_SHA256)),
            "signature method",
            "hmac-keyed-with-the-public-key",
        ),
        case(
            hand_signed(Recipe(signature_method=HMAC_SHA256, hmac_output_length=8)),
            "signature method",
            "hmac-truncated-to-8-bits",
        ),
        case(
            hand_signed(Recipe(signature_method=ECDSA_SHA256)),
            "does not match the certificate's RSA key",
            "ecdsa-method-with-an-rsa-key",
        ),
        case(hand_signed(Recipe(c14n=C14N)), "not exclusive C14N", "inclusive-c14n"),
        case(
            hand_signed(Recipe(c14n=EXC_C14N_WITH_COMMENTS)),
            "not exclusive C14N",
            "exclusive-c14n-with-comments",
        ),
        case(
            hand_signed(Recipe(transforms=(Transform(C14N_WITH_COMMENTS),))),
            "not exclusive C14N",
            "inclusive-transform-with-comments",
        ),
    ]
)


@pytest.mark.parametrize(
    "recipe",
    [
        pytest.param(AS_SIGN_ENVELOPE, id="as-sign_envelope-does"),
        pytest.param(Recipe(signature_method=RSA_SHA512, digest_method=SHA512), id="sha512"),
        pytest.param(Recipe(created=timedelta(seconds=30)), id="created-30s-ahead"),
        pytest.param(
            Recipe(created=timedelta(seconds=-250), lifetime=None), id="250s-old-without-expires"
        ),
    ],
)
def test_hand_built_signatures_within_the_rules_are_accepted(
    server: RunningServer, store: Store, bait: Bait, recipe: Recipe
) -> None:
    """The control for every hand-built attack: what it changes is what gets it refused."""
    kit = Kit(server, bait)
    assert_stored_by_rep(post(server, store, kit.hand_signed(recipe)), kit.tender_id)


def split_by_a_comment(path: str) -> Edit:
    """The element's text split in two by an empty comment, after signing."""

    def edit(root: etree._Element) -> None:
        element = part(root, path)
        text = element.text
        element.text = text[:1]
        comment = etree.Comment("")
        comment.tail = text[1:]
        element.append(comment)

    return edit


@pytest.mark.parametrize("path", [".//ei:partyID", ".//ei:tenderID"], ids=["partyID", "tenderID"])
def test_a_comment_splitting_signed_text_changes_nothing_acted_on(
    server: RunningServer, store: Store, bait: Bait, path: str
) -> None:
    """Exclusive C14N without comments still verifies; the server must act on the signed text
    (``rep``, the whole tender id), not on the text before the comment."""
    kit = Kit(server, bait)
    body = kit.edited(split_by_a_comment(path))
    assert b"<!---->" in body
    assert_stored_by_rep(post(server, store, body), kit.tender_id)


def test_a_request_for_rep_signed_by_customer_is_not_authorised(
    server: RunningServer, store: Store, bait: Bait
) -> None:
    kit = Kit(server, bait)
    outcome = post(server, store, kit.signed(signer="customer"))
    assert outcome.answer.status == 200
    assert outcome.answer.payload().response.code == "403"
    assert_unchanged(outcome, kit.tender_id)
    assert outcome.entry.verification == "verified"
    assert (outcome.entry.verification_detail or "").startswith("customer sha256:")


# --- Freshness and dispatch -------------------------------------------------------------------


def with_signature_value(body: bytes, rewrite: Callable[[str], str]) -> bytes:
    root = etree.fromstring(body)
    value = part(signature_of(root), "ds:SignatureValue")
    value.text = rewrite(value.text)
    return etree.tostring(root)


def test_a_replay_is_refused_and_a_re_signed_retry_is_answered_once(
    server: RunningServer, store: Store, bait: Bait
) -> None:
    """The same bytes again (to whichever worker), or with the signature value re-encoded
    (line breaks): refused as replays; with a character lenient base64 decoding would skip, it
    is not xs:base64Binary and fails the check. The same request signed anew is a retry: the
    first answer again, nothing done twice."""
    kit = Kit(server, bait)
    body = kit.signed()
    first = post(server, store, body)
    assert_stored_by_rep(first, kit.tender_id)
    rewrapped = with_signature_value(body, lambda text: textwrap.fill(text, 64))
    dotted = with_signature_value(body, lambda text: "." + text)
    for replay in (body, body, body, rewrapped):
        assert_refused_securely(post(server, store, replay), replay, "replayed signature")
    assert_refused_securely(
        post(server, store, dotted), dotted, "not xs:base64Binary", FAILED_CHECK
    )
    retry = post(server, store, kit.signed())
    assert retry.answer.status == 200
    assert retry.answer.payload() == first.answer.payload()
    assert_unchanged(retry)


test_stale_or_unsigned_timestamps_are_refused = security_cases(
    [
        case(hand_signed(EXPIRED), "expired", "expired"),
        case(
            hand_signed(Recipe(created=timedelta(seconds=120))),
            "in the future",
            "created-120s-ahead",
        ),
        case(
            hand_signed(Recipe(created=timedelta(seconds=-400), lifetime=None)),
            "stale",
            "400s-old-without-expires",
        ),
        case(
            hand_signed(Recipe(created=timedelta(seconds=-400), lifetime=timedelta(hours=1))),
            "stale",
            "400s-old-expiring-later",
        ),
        case(
            hand_signed(Recipe(references=("#{body}",))),
            NOT_THE_BODY_AND_TIMESTAMP,
            "timestamp-not-signed",
        ),
    ]
)


@pytest.mark.parametrize(
    ("version", "soap_action"),
    [
        pytest.param(SOAP_1_1, SOAP_ACTIONS[CANCEL_TENDER][SOAP_1_1], id="soap11-other-operation"),
        pytest.param(SOAP_1_2, SOAP_ACTIONS[CANCEL_TENDER][SOAP_1_2], id="soap12-other-operation"),
        pytest.param(SOAP_1_1, "", id="soap11-empty"),
        pytest.param(SOAP_1_1, None, id="soap11-missing"),
    ],
)
def test_a_soap_action_that_disagrees_with_the_signed_body_is_refused(
    server: RunningServer,
    store: Store,
    bait: Bait,
    version: SoapVersion,
    soap_action: str | None,
) -> None:
    kit = Kit(server, bait, version)
    body = kit.signed()
    outcome = observe(store, lambda: server.post(body, soap_action, version))
    assert_refused_with(outcome, CLIENT_FAULTS[version], version, body, "verified")
    assert_unchanged(outcome, kit.tender_id)


def addressing(name: str, target: str) -> etree._Element:
    """A WS-Addressing header block: ``Action`` holds ``target``, the others an Address."""
    block = etree.Element(f"{{{WSA}}}{name}", nsmap={"wsa": WSA})
    if name == "Action":
        block.text = target
    else:
        etree.SubElement(block, f"{{{WSA}}}Address").text = target
    return block


def spoofed_action(kit: Kit) -> etree._Element:
    return addressing("Action", SOAP_ACTIONS[CANCEL_TENDER][kit.version])


def reply_to_bait(kit: Kit) -> etree._Element:
    return addressing("ReplyTo", kit.bait.url)


def fault_to_bait(kit: Kit) -> etree._Element:
    return addressing("FaultTo", kit.bait.url)


def unknown_block(kit: Kit) -> etree._Element:
    return etree.Element("{urn:attacker}Audit")


def headers_added(
    kit: Kit, blocks: tuple[Callable[[Kit], etree._Element], ...], must_understand: str | None
) -> Edit:
    """Header blocks added after signing, with ``mustUnderstand`` when given."""

    def edit(root: etree._Element) -> None:
        for make in blocks:
            block = make(kit)
            if must_understand is not None:
                block.set(f"{{{_env(root)}}}mustUnderstand", must_understand)
            header_of(root).append(block)

    return edit


@pytest.mark.parametrize(
    ("version", "block", "must_understand"),
    [
        pytest.param(SOAP_1_1, unknown_block, "1", id="soap11-unknown-header"),
        pytest.param(SOAP_1_2, unknown_block, "1", id="soap12-unknown-header"),
    ],
)
def test_mandatory_headers_nobody_understands_are_refused(
    server: RunningServer,
    store: Store,
    bait: Bait,
    version: SoapVersion,
    block: Callable[[Kit], etree._Element],
    must_understand: str,
) -> None:
    kit = Kit(server, bait, version)
    body = kit.edited(headers_added(kit, (block,), must_understand))
    outcome = post(server, store, body, version)
    assert_refused_with(outcome, MUST_UNDERSTAND_FAULTS[version], version, body)
    assert_unchanged(outcome, kit.tender_id)
    bait.assert_untouched()


def message_id(kit: Kit) -> etree._Element:
    block = etree.Element(f"{{{WSA}}}MessageID", nsmap={"wsa": WSA})
    block.text = new_message_id()
    return block


def test_addressing_headers_added_after_signing_never_redirect_or_redispatch(
    server: RunningServer, store: Store, bait: Bait
) -> None:
    """WS-Addressing headers added to a signed request after signing: an Action that would
    redispatch is refused as unsigned; a ReplyTo or FaultTo elsewhere is refused
    (InvalidAddressingHeader) before anything else. Nothing is stored, and the reply
    always comes back on the same connection, never to the address in the message."""
    kit = Kit(server, bait)
    body = kit.edited(headers_added(kit, (spoofed_action, message_id), None))
    outcome = post(server, store, body)
    assert_refused_securely(outcome, body, "has no wsu:Id", tender_ids=(kit.tender_id,))
    for redirect in (reply_to_bait, fault_to_bait):
        kit = Kit(server, bait)
        body = kit.edited(headers_added(kit, (spoofed_action, message_id, redirect), None))
        outcome = post(server, store, body)
        assert outcome.answer.status == 500
        assert b"<faultcode>wsa:InvalidAddressingHeader</faultcode>" in outcome.answer.body
        assert b"must be http://www.w3.org/2005/08/addressing/anonymous" in outcome.answer.body
        assert_unchanged(outcome, kit.tender_id)
    bait.assert_untouched()


@pytest.mark.parametrize(
    ("signed_as", "posted_as"),
    [
        pytest.param(None, SOAP_1_1, id="unknown-envelope-namespace"),
        pytest.param(SOAP_1_2, SOAP_1_1, id="soap12-envelope-as-text-xml"),
        pytest.param(SOAP_1_1, SOAP_1_2, id="soap11-envelope-as-soap12"),
    ],
)
def test_an_envelope_of_another_soap_version_is_a_version_mismatch(
    server: RunningServer,
    store: Store,
    bait: Bait,
    signed_as: SoapVersion | None,
    posted_as: SoapVersion,
) -> None:
    kit = Kit(server, bait, signed_as or SOAP_1_1)
    body = kit.signed()
    if signed_as is None:
        body = body.replace(SOAP11.encode(), b"urn:attacker:envelope")
    outcome = post(server, store, body, posted_as)
    assert_refused_with(outcome, VERSION_MISMATCH_FAULTS[posted_as], posted_as, body)
    assert_unchanged(outcome, kit.tender_id)


def status_and_allow(server: RunningServer, method: str, body: bytes | None) -> tuple[int, str]:
    connection = server.connection()
    try:
        headers = {
            "Content-Type": SOAP_1_1.content_type,
            "SOAPAction": f'"{SOAP_ACTIONS[CREATE_TENDER][SOAP_1_1]}"',
        }
        connection.request(method, "/", body, headers)
        reply = connection.getresponse()
        reply.read()
        return reply.status, reply.getheader("Allow") or ""
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_post_reaches_the_soap_pipeline(
    server: RunningServer, store: Store, bait: Bait, method: str
) -> None:
    body = None if method == "GET" else Kit(server, bait).signed()
    before = state(store)
    sent_at = datetime.now(UTC)
    assert status_and_allow(server, method, body) == (405, "GET, POST")
    assert ledger_since(store, sent_at) == []
    assert state(store) == before


def declared_length_over_the_cap(server: RunningServer) -> Answer:
    """Headers announcing 100 MB, and not one byte of body: refused without waiting for it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: text/xml; charset=utf-8\r\nContent-Length: 100000000\r\n\r\n"
        )
        reply = http.client.HTTPResponse(connection)
        reply.begin()
        return Answer(reply.status, reply.read())


def test_http_refusals_come_before_the_body_is_read(
    server: RunningServer, store: Store, bait: Bait
) -> None:
    kit = Kit(server, bait)
    not_soap = observe(
        store,
        lambda: server.post(
            kit.signed(),
            SOAP_ACTIONS[CREATE_TENDER][SOAP_1_1],
            headers={"Content-Type": "application/json"},
        ),
    )
    assert (not_soap.answer.status, not_soap.entry.request) == (415, b"")
    assert_unchanged(not_soap, kit.tender_id)
    announced = observe(store, lambda: declared_length_over_the_cap(server))
    assert (announced.answer.status, announced.entry.request) == (413, b"")
    assert_nothing_leaked(announced.answer)
    assert_unchanged(announced)


INJECTIONS = (
    "'; DROP TABLE tenders;--",
    "<script>alert(1)</script>",
    '" OR "1"="1',
    "${jndi:ldap://127.0.0.1/x}",
    "../../../etc/passwd",
    "]]><!--",
)


def test_injection_strings_are_stored_and_returned_verbatim(
    server: RunningServer, store: Store
) -> None:
    suffix = uuid.uuid4().hex[:8]
    tender_ids = tuple(f"{injection} {suffix}" for injection in INJECTIONS)
    request_id = f"R-'; DELETE FROM ledger;-- {suffix}"
    payload = create_tender(request_id, "rep", "customer", *map(tender, tender_ids))
    created = observe(store, lambda: server.send(payload))
    assert created.answer.status == 200
    assert created.answer.payload().tender_ids == tender_ids
    assert created.after.tenders - created.before.tenders == {(i, "rep") for i in tender_ids}
    assert created.before.tenders < created.after.tenders
    assert created.after.transactions == created.before.transactions
    assert created.entry.request_id == request_id
    asked = server.send(p.RequestTender(f"Q-{suffix}", "rep", "rep", tender_ids=tender_ids))
    assert asked.status == 200
    assert {item.tender_id for item in asked.payload().tenders} == set(tender_ids)
    for answer in (created.answer, asked):
        assert "<script>" not in visible_text(answer)


@pytest.mark.parametrize(
    ("craft", "cause", "subcode"),
    [
        case(
            edited(text_of(TOKEN, "%%% not base64 %%%")),
            "not a readable certificate",
            "token-not-base64",
        ),
        case(
            edited(text_of(TOKEN, _base64(b"hello"))),
            "not a readable certificate",
            "token-not-a-certificate",
        ),
        case(
            edited(text_of(f"{TIMESTAMP}/wsu:Created", "yesterday")),
            "not a dateTime",
            "created-not-a-date",
        ),
        case(
            edited(text_of(f"{TIMESTAMP}/wsu:Created", "2026-01-01T00:00:00")),
            "no time zone",
            "created-without-zone",
        ),
        case(
            edited(text_of(f"{SIGNATURE}/ds:SignatureValue", "!!!")),
            "does not verify",
            "signature-value-not-base64",
            FAILED_CHECK,
        ),
        case(
            edited(attribute_removed(f"{SIGNED_INFO}/ds:SignatureMethod", "Algorithm")),
            "signature method None",
            "signature-method-without-algorithm",
        ),
        case(
            edited(attribute_removed(REFERENCE, "URI")),
            NOT_THE_BODY_AND_TIMESTAMP,
            "reference-without-uri",
        ),
        case(edited(security_emptied), "0 wsu:Timestamp", "empty-security-header"),
    ],
)
def test_malformed_security_values_get_the_generic_fault(
    server: RunningServer,
    store: Store,
    bait: Bait,
    craft: Callable[[Kit], bytes],
    cause: str,
    subcode: str,
) -> None:
    """Values that could trip a parser deep in the checks: the same generic fault, never an
    internal error or a stack trace."""
    run_security_case(server, store, bait, craft, cause, subcode)


def test_no_exchange_ended_in_an_internal_error(
    server_and_store: tuple[RunningServer, Store],
) -> None:
    """Over everything this module sent before it (the attacks above): no Server fault, no
    stack trace in any reply, and no unexpected error in the server's log."""
    server, store = server_and_store
    with store.transaction(write=False) as unit:
        entries = unit.ledger()
    assert not [entry for entry in entries if entry.outcome == "fault:Server"]
    for entry in entries:
        assert_nothing_leaked(Answer(entry.http_status, entry.response))
    assert "Traceback" not in server.log_path.read_text()


# --- A slow client ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def impatient_server(
    tmp_path_factory: pytest.TempPathFactory, keys: KeyDirectory
) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("impatient")
    server = RunningServer(
        sqlite_url(directory / "data"),
        directory / "serve.log",
        keys=keys,
        workers=2,
        options=["--header-timeout", "1", "--body-timeout", "1"],
    )
    wait_for_workers(server, 2)
    yield server
    server.stop()


def wait_for_workers(server: RunningServer, count: int) -> None:
    """Until ``count`` worker processes have answered (the request log names each one's pid),
    so that one worker held by a slow client leaves another ready."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert_healthy(server)
        lines = server.log_path.read_text().splitlines()
        pids = {json.loads(line)["pid"] for line in lines if line.startswith('{"time"')}
        if len(pids) >= count:
            return
    pytest.fail(f"fewer than {count} workers answered")


def read_until_closed(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize(
    ("sent", "must_answer"),
    [
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n"
            b"Content-Length: 5000\r\n\r\n<soap:Envelope",
            True,
            id="body-stops",
        ),
        pytest.param(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n", False, id="headers-stop"),
    ],
)
def test_a_silent_client_is_cut_off_without_holding_up_others(
    impatient_server: RunningServer, bait: Bait, sent: bytes, must_answer: bool
) -> None:
    """Read timeout 1 s: the silent connection is answered 408 (or, while the headers are
    still coming, just closed) about a second later; meanwhile the other worker serves."""
    with socket.create_connection(("127.0.0.1", impatient_server.port), timeout=10) as slow:
        slow.sendall(sent)
        started = time.monotonic()
        kit = Kit(impatient_server, bait)
        answer = impatient_server.send(kit.payload)
        slow.setblocking(False)
        with pytest.raises(BlockingIOError):
            slow.recv(1)  # still waiting for the slow client: served while it held a worker
        slow.settimeout(10)
        received = read_until_closed(slow)
        waited = time.monotonic() - started
    assert answer.status == 200
    assert answer.payload().response.code == "200"
    assert waited < 5
    assert received.startswith(b"HTTP/1.1 408 ") or (not must_answer and received == b"")
