"""Apache WSS4J 1.6 and Santuario 2.1 (Debian ``libwss4j-java``, ``libxml-security-java``) sign
requests to ``temix serve`` and verify its replies.

``tests/java/wss4j/Wss4jPeer.java``, compiled with javac against the Debian jars, signs each SOAP
1.1 request with WSS4J's own API and defaults: a mustUnderstand Security header, a Timestamp, a
BinarySecurityToken and an RSA-SHA256 signature (SHA-256 digests, exclusive C14N with WSS4J's
InclusiveNamespaces prefix lists) over the Body, the Timestamp and every WS-Addressing header.
The requests are built with the project's codec and carry WS-Addressing 1.0 headers (Action and
To with mustUnderstand, MessageID, ReplyTo anonymous).

``rep`` creates a tender offered to ``customer``, ``customer`` reads it and accepts part of it;
each reply relates to its request, and WSS4J verifies it against the pinned server certificate.
A request changed after signing, one with a WS-Addressing header left out of the signed parts,
and one signed by a certificate the server does not know are each refused with a WS-Security
fault, which WSS4J verifies too, and nothing is stored for them.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from lxml import etree

from market import SOAP_ACTIONS, acceptance, create_tender, create_transaction, envelope, tender
from peers import PEER_TIMEOUT
from running_server import Answer, RunningServer, key_directory, tomorrow
from temix import codec
from temix import payloads as p
from temix.envelope import SOAP_1_1
from temix.keys import KeyAlgorithm, KeyDirectory
from temix.model import Interval
from temix.namespaces import SOAP11
from temix.server.store import sqlite_url
from temix.wsaddressing import ANONYMOUS, WSA
from temix.wssecurity import DS, EXC_C14N, WSSE, WSU, WSU_ID

PEER_SOURCE = Path(__file__).parent / "java" / "wss4j" / "Wss4jPeer.java"
JAVA_LIBRARY = Path("/usr/share/java")
WSS4J_JARS = ("wss4j.jar", "xmlsec.jar", "commons-logging.jar", "slf4j-api.jar", "slf4j-nop.jar")
JAVA_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
PASSWORD = "temix-wss4j"
ALIAS = "signer"

WSA_HEADERS = ("Action", "To", "MessageID", "ReplyTo")
SECURITY_FAULTS = {f"{{{WSSE}}}InvalidSecurity", f"{{{WSSE}}}FailedCheck"}

AUTHOR = "rep"
ACCEPTOR = "customer"
DELIVERY = Interval(tomorrow(15), timedelta(hours=1))
"""Tomorrow 15:00 to 16:00 UTC: in the future and on the market's 5-minute boundaries."""
OFFERED = "10"
ACCEPTED = "4"
STEPS = ("create", "request", "accept")


def wss4j_unavailable() -> str | None:
    """Why the WSS4J peer cannot be built or run here, or None if it can."""
    missing = [program for program in ("javac", "java") if shutil.which(program) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH (apt-get install default-jdk-headless)"
    jars = [jar for jar in WSS4J_JARS if not (JAVA_LIBRARY / jar).is_file()]
    if jars:
        return (
            f"{', '.join(jars)} not found in {JAVA_LIBRARY} "
            "(apt-get install libwss4j-java libxml-security-java)"
        )
    return None


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=PEER_TIMEOUT, check=False
    )


@dataclass(frozen=True)
class Wss4jPeer:
    """The compiled peer and the directory it works in."""

    classpath: str
    directory: Path

    def java(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return _run(["java", *JAVA_OPTIONS, "-cp", self.classpath, "Wss4jPeer", *arguments])

    def sign(self, keystore: Path, request: bytes, *options: str) -> bytes:
        """``request`` signed by WSS4J with the key in ``keystore``; ``options`` as
        Wss4jPeer.java takes them."""
        unsigned = self.directory / f"{uuid.uuid4().hex}.xml"
        signed = unsigned.with_suffix(".signed.xml")
        unsigned.write_bytes(request)
        completed = self.java(
            "sign", str(keystore), PASSWORD, ALIAS, str(unsigned), str(signed), *options
        )
        assert completed.returncode == 0, (
            f"WSS4J sign failed:\n{completed.stdout}{completed.stderr}"
        )
        return signed.read_bytes()

    def verify(self, certificate: Path, reply: bytes) -> subprocess.CompletedProcess[str]:
        """WSS4J's checks of ``reply`` against the pinned ``certificate``."""
        path = self.directory / f"{uuid.uuid4().hex}.reply.xml"
        path.write_bytes(reply)
        return self.java("verify", str(certificate), str(path))


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Wss4jPeer:
    """Wss4jPeer.java compiled against the Debian jars."""
    reason = wss4j_unavailable()
    if reason is not None:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("wss4j")
    jars = [str(JAVA_LIBRARY / jar) for jar in WSS4J_JARS]
    classes = directory / "classes"
    completed = _run(["javac", "-d", str(classes), "-cp", ":".join(jars), str(PEER_SOURCE)])
    assert completed.returncode == 0, f"javac failed:\n{completed.stdout}{completed.stderr}"
    return Wss4jPeer(":".join([str(classes), *jars]), directory)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A signed server on SQLite with RSA keys."""
    directory = tmp_path_factory.mktemp("wss4j-server")
    keys = key_directory(directory / "keys", KeyAlgorithm.RSA)
    running = RunningServer(
        sqlite_url(directory / "data"), directory / "serve.log", keys=keys, workers=1
    )
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()


def _keys(server: RunningServer) -> KeyDirectory:
    assert server.keys is not None
    return server.keys


def keystore(path: Path, key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> Path:
    """A PKCS12 keystore at ``path`` holding ``key`` and ``certificate``."""
    encryption = BestAvailableEncryption(PASSWORD.encode())
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(ALIAS.encode(), key, certificate, None, encryption)
    )
    return path


def party_keystore(peer: Wss4jPeer, server: RunningServer, party: str) -> Path:
    credentials = _keys(server).party(party)
    assert isinstance(credentials.key, rsa.RSAPrivateKey)
    return keystore(peer.directory / f"{party}.p12", credentials.key, credentials.certificate)


def stranger_keystore(peer: Wss4jPeer, server: RunningServer, party: str) -> Path:
    """A fresh self-signed certificate with ``party``'s subject, which the server never saw."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = _keys(server).party(party).certificate.subject
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return keystore(peer.directory / f"stranger-{party}.p12", key, certificate)


@dataclass(frozen=True)
class Exchange:
    """One request WSS4J signed, the server's answer, and WSS4J's verdict on that answer."""

    action: str
    message_id: str
    request: bytes
    answer: Answer
    verdict: subprocess.CompletedProcess[str]

    def header(self, name: str) -> str | None:
        return etree.fromstring(self.answer.body).findtext(f"{{*}}Header/{{{WSA}}}{name}")

    def fault(self) -> tuple[str, str] | None:
        """The reply's SOAP 1.1 fault: its faultcode as ``{namespace}name``, its faultstring."""
        fault = etree.fromstring(self.answer.body).find("{*}Body/{*}Fault")
        if fault is None:
            return None
        prefix, _, name = fault.findtext("faultcode", "").rpartition(":")
        return f"{{{fault.nsmap.get(prefix or None)}}}{name}", fault.findtext("faultstring", "")

    def payload(self) -> object:
        assert self.answer.status == 200, f"HTTP {self.answer.status}: {self.fault()}"
        return self.answer.payload()


def exchange(
    peer: Wss4jPeer, server: RunningServer, payload: object, keystore: Path, *options: str
) -> Exchange:
    """``payload`` with WS-Addressing headers, signed by WSS4J, posted, its reply verified."""
    action = SOAP_ACTIONS[codec.PAYLOAD_ELEMENTS[type(payload)]][SOAP_1_1]
    message_id = f"urn:uuid:{uuid.uuid4()}"
    to = server.wsdl_url.removesuffix("?wsdl")
    headers = (
        f'<wsa:Action xmlns:wsa="{WSA}" e:mustUnderstand="1">{action}</wsa:Action>'
        f'<wsa:To xmlns:wsa="{WSA}" e:mustUnderstand="1">{to}</wsa:To>'
        f'<wsa:MessageID xmlns:wsa="{WSA}">{message_id}</wsa:MessageID>'
        f'<wsa:ReplyTo xmlns:wsa="{WSA}"><wsa:Address>{ANONYMOUS}</wsa:Address></wsa:ReplyTo>'
    )
    request = envelope(payload, SOAP_1_1, header=headers)
    signed = peer.sign(keystore, request, *options)
    answer = server.post(signed, action)
    verdict = peer.verify(_keys(server).server_certificate_path, answer.body)
    return Exchange(action, message_id, signed, answer, verdict)


# --- A trade signed by WSS4J ------------------------------------------------------------------


@dataclass(frozen=True)
class Trade:
    """The three steps of the trade, by name, and the tender they trade."""

    tender_id: str
    steps: dict[str, Exchange]


@pytest.fixture(scope="module")
def trade(peer: Wss4jPeer, server: RunningServer) -> Trade:
    """``rep`` offers a tender to ``customer``, who reads it and accepts part of it."""
    run = uuid.uuid4().hex[:12]
    offered = tender(f"WSS4J-{run}", interval=DELIVERY, quantity=OFFERED)
    author = party_keystore(peer, server, AUTHOR)
    acceptor = party_keystore(peer, server, ACCEPTOR)
    steps = {
        "create": exchange(
            peer, server, create_tender(f"{run}-create", AUTHOR, ACCEPTOR, offered), author
        ),
        "request": exchange(
            peer,
            server,
            p.RequestTender(f"{run}-request", ACCEPTOR, ACCEPTOR, tender_ids=(offered.tender_id,)),
            acceptor,
        ),
        "accept": exchange(
            peer,
            server,
            create_transaction(
                f"{run}-accept",
                ACCEPTOR,
                AUTHOR,
                acceptance(offered, f"{offered.tender_id}-TX", ACCEPTED),
            ),
            acceptor,
        ),
    }
    return Trade(offered.tender_id, steps)


def test_rep_creates_a_tender_offered_to_customer(trade: Trade) -> None:
    created = trade.steps["create"].payload()
    assert isinstance(created, p.CreatedTender)
    assert created.response.code == "200", created
    assert created.tender_ids == (trade.tender_id,)


def test_customer_sees_the_tender(trade: Trade) -> None:
    reply = trade.steps["request"].payload()
    assert isinstance(reply, p.ReplyTender)
    assert reply.response.code == "200", reply
    [offer] = reply.tenders
    assert offer.tender_id == trade.tender_id
    assert offer.product.description.quantity == Decimal(OFFERED)


def test_customer_accepts_part_of_it(trade: Trade) -> None:
    created = trade.steps["accept"].payload()
    assert isinstance(created, p.CreatedTransaction)
    assert created.response.code == "200", created
    assert created.transaction_ids == (f"{trade.tender_id}-TX",)


@pytest.mark.parametrize("step", STEPS)
def test_wss4j_signs_body_timestamp_and_addressing_with_prefix_lists(
    trade: Trade, step: str
) -> None:
    signed = etree.fromstring(trade.steps[step].request)
    tags = {element.get(WSU_ID): element.tag for element in signed.iter() if element.get(WSU_ID)}
    info = signed.find(f"{{*}}Header/{{{WSSE}}}Security/{{{DS}}}Signature/{{{DS}}}SignedInfo")
    assert info is not None
    references = info.findall(f"{{{DS}}}Reference")
    prefix_list = f"{{{EXC_C14N}}}InclusiveNamespaces"
    assert info.find(f"{{{DS}}}CanonicalizationMethod/{prefix_list}") is not None
    for reference in references:
        assert reference.find(f"{{{DS}}}Transforms/{{{DS}}}Transform/{prefix_list}") is not None
    signed_parts = [tags[str(reference.get("URI")).removeprefix("#")] for reference in references]
    assert sorted(signed_parts) == sorted(
        [f"{{{SOAP11}}}Body", f"{{{WSU}}}Timestamp", *(f"{{{WSA}}}{name}" for name in WSA_HEADERS)]
    )


@pytest.mark.parametrize("step", STEPS)
def test_each_reply_relates_to_its_request(trade: Trade, step: str) -> None:
    sent = trade.steps[step]
    assert sent.header("RelatesTo") == sent.message_id, sent.answer.body.decode()
    assert sent.header("Action") == f"{sent.action}Response"


@pytest.mark.parametrize("step", STEPS)
def test_wss4j_verifies_each_reply(trade: Trade, step: str) -> None:
    verdict = trade.steps[step].verdict
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


# --- The other forms WSS4J signs in -----------------------------------------------------------

FORMS = {
    "issuer-serial": (("--key-identifier", "issuer-serial"), f"{{{DS}}}X509Data"),
    "ski": (("--key-identifier", "ski"), f"{{{WSSE}}}KeyIdentifier"),
    "thumbprint": (("--key-identifier", "thumbprint"), f"{{{WSSE}}}KeyIdentifier"),
    "sha512": (("--sha512",), f"{{{WSSE}}}Reference"),
}
"""How Wss4jPeer.java signs in each form, and what KeyInfo's SecurityTokenReference holds."""


@pytest.mark.parametrize("form", list(FORMS))
def test_a_tender_signed_in_another_wss4j_form_is_created(
    peer: Wss4jPeer, server: RunningServer, form: str
) -> None:
    """WSS4J names the token by issuer and serial, subject key identifier or SHA-1 thumbprint,
    or signs with SHA-512: each is a legal form, and the tender is created."""
    options, reference = FORMS[form]
    run = uuid.uuid4().hex[:12]
    offered = tender(f"WSS4J-{run}-{form}", interval=DELIVERY, quantity=OFFERED)
    sent = exchange(
        peer,
        server,
        create_tender(f"{run}-{form}", AUTHOR, ACCEPTOR, offered),
        party_keystore(peer, server, AUTHOR),
        *options,
    )
    pointer = etree.fromstring(sent.request).find(f".//{{{WSSE}}}SecurityTokenReference")
    assert [child.tag for child in pointer] == [reference]
    created = sent.payload()
    assert isinstance(created, p.CreatedTender)
    assert created.response.code == "200", created
    with server.reading() as unit:
        assert unit.tender(offered.tender_id) is not None
    assert sent.verdict.returncode == 0, sent.verdict.stdout + sent.verdict.stderr


# --- Requests the server must refuse ----------------------------------------------------------

REFUSALS = {
    "tampered": ("--tamper", OFFERED, "1000"),
    "unsigned-wsa-to": ("--unsigned-wsa", "To"),
    "stranger": (),
}
"""Each refused request by name, and how Wss4jPeer.java signs it (the stranger: with a
self-signed certificate in ``rep``'s name)."""


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_request_the_server_cannot_trust_is_a_security_fault(
    peer: Wss4jPeer, server: RunningServer, case: str
) -> None:
    run = uuid.uuid4().hex[:12]
    offered = tender(f"WSS4J-{run}-{case}", interval=DELIVERY, quantity=OFFERED)
    signer = (stranger_keystore if case == "stranger" else party_keystore)(peer, server, AUTHOR)
    sent = exchange(
        peer,
        server,
        create_tender(f"{run}-{case}", AUTHOR, ACCEPTOR, offered),
        signer,
        *REFUSALS[case],
    )
    with server.reading() as unit:
        stored = unit.tender(offered.tender_id)
        causes = [
            entry.verification_detail
            for entry in unit.ledger()
            if f">{run}-{case}<".encode() in entry.request
        ]
    fault = sent.fault()
    assert fault is not None and fault[0] in SECURITY_FAULTS, (
        f"HTTP {sent.answer.status}: {fault}; ledger: {causes}"
    )
    assert stored is None
    assert sent.verdict.returncode == 0, sent.verdict.stdout + sent.verdict.stderr
