"""An independent SOAP stack trades through ``temix serve``: the JAX-WS reference implementation.

``wsimport`` (Debian package ``jaxws``) generates typed Java classes from the WSDL a running
server serves, into a temporary directory; ``javac`` compiles them with the hand-written client in
``tests/java/jaxws/`` and ``tests/java/VerifySoapSignature.java``. The client's JAX-WS handler
signs every request with the JDK's ``javax.xml.crypto.dsig`` as the security profile requires and
checks the server's signature on every reply against the pinned server certificate.

Against a signed server with RSA keys and one with ECDSA keys, the Java client, as ``rep`` and
``customer``, creates a tender offered to ``customer``, reads it back, accepts part of it and reads
what remains; then ``customer`` signs a tender in ``rep``'s name (403), a signed request has its
Body changed after signing, and one is signed with a key that is not its certificate's (both the
``wsse:FailedCheck`` fault). JAX-WS sends WS-Addressing headers on its own (the WSDL declares
WS-Addressing), and the handler signs them too. The test checks what the client printed, then
what the server recorded, from Python: the transaction (a signed EiRequestTransaction as the
tender's author, and the store), the tender's remaining rate, and the ledger (the Java requests
``verified`` for their signers with their MessageIDs, the two bad ones ``refused``, nothing
stored for them).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from peers import PEER_TIMEOUT
from running_server import RunningServer, key_directory, tomorrow
from temix import payloads as p
from temix.codec import format_instant
from temix.keys import KeyAlgorithm, fingerprint
from temix.model import Interval
from temix.server.app import DEVELOPMENT_MARKET
from temix.server.security import REFUSED, SECURITY_REFUSED, VERIFIED
from temix.server.store import sqlite_url
from temix.wssecurity import WSSE

JAVA_SOURCES = Path(__file__).parent / "java"
CLIENT_SOURCES = (
    JAVA_SOURCES / "jaxws" / "TemixJaxwsClient.java",
    JAVA_SOURCES / "jaxws" / "WsSecurityHandler.java",
    JAVA_SOURCES / "VerifySoapSignature.java",
)
JAVA_LIBRARY = Path("/usr/share/java")
JAXWS_RUNTIME = "jaxws-rt.jar"
JAXWS_JARS = (
    JAXWS_RUNTIME,
    "jaxws-api.jar",
    "jaxb-api.jar",
    "jaxb-impl.jar",
    "javax.xml.soap-api.jar",
    "saaj-impl.jar",
    "javax.activation.jar",
)
JAVA_OPTIONS = (
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    # The SAAJ implementation's own factory, named the way SAAJ 1.4 asks (no warning per message).
    "-Djavax.xml.soap.SAAJMetaFactory=com.sun.xml.messaging.saaj.soap.SAAJMetaFactoryImpl",
)
WSDL_SERVER_WORKERS = 4
"""wsimport keeps a schema's connection open while it fetches that schema's imports, and gunicorn
waits up to 2 s for a client to close before it takes the next connection: with one worker,
every import would wait that long."""

ALGORITHMS = {"rsa": KeyAlgorithm.RSA, "ecdsa": KeyAlgorithm.ECDSA}
AUTHOR = "rep"
ACCEPTOR = "customer"
NODE = "NODE-A"
OFFERED = Decimal("10")
ACCEPTED = Decimal("4")
PRICE = Decimal("42.5")
FAILED_CHECK = f"{{{WSSE}}}FailedCheck"
REFUSED_TENDERS = {"tampered": "T", "wrong-key": "W"}
"""The suffix the Java client gives the tender id of each request the server must refuse."""

DELIVERY = Interval(tomorrow(15), timedelta(hours=1))
"""Tomorrow 15:00 to 16:00 UTC: in the future and on the market's 5-minute boundaries."""
EXPIRES = tomorrow(12)


def jaxws_unavailable() -> str | None:
    """Why the JAX-WS client cannot be built or run here, or None if it can."""
    if shutil.which("wsimport") is None or not (JAVA_LIBRARY / JAXWS_RUNTIME).is_file():
        return "wsimport and the JAX-WS RI jars not found (apt-get install jaxws)"
    missing = [program for program in ("javac", "java") if shutil.which(program) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH (apt-get install default-jdk-headless)"
    return None


def _run(command: list[str], what: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=PEER_TIMEOUT, check=False
    )
    assert completed.returncode == 0, (
        f"{what} failed (exit {completed.returncode}):\n{completed.stdout}{completed.stderr}"
    )
    return completed


@dataclass(frozen=True)
class JaxwsClient:
    """The compiled client: its classpath (generated classes, our classes, the JAX-WS jars)."""

    classpath: str

    def run(self, server: RunningServer, run: str) -> dict[str, dict[str, str]]:
        """Run the client's steps against ``server``; its output lines by step name, each as
        ``{field: value}``."""
        assert server.keys is not None
        completed = _run(
            [
                "java",
                *JAVA_OPTIONS,
                "-cp",
                self.classpath,
                "TemixJaxwsClient",
                f"wsdl={server.wsdl_url}",
                f"keys={server.keys.path}",
                f"author={AUTHOR}",
                f"acceptor={ACCEPTOR}",
                f"run={run}",
                f"start={format_instant(DELIVERY.start)}",
                "duration=PT1H",
                f"expires={format_instant(EXPIRES)}",
                f"market={DEVELOPMENT_MARKET.uri}",
                f"node={NODE}",
                f"quantity={OFFERED}",
                f"accept={ACCEPTED}",
                f"price={PRICE}",
            ],
            "the JAX-WS client",
        )
        steps = {}
        for line in completed.stdout.splitlines():
            step, *fields = line.split("\t")
            steps[step] = dict(field.split("=", 1) for field in fields)
        return steps


@pytest.fixture(scope="module")
def jaxws_client(tmp_path_factory: pytest.TempPathFactory) -> JaxwsClient:
    """wsimport run on the WSDL a server serves, and the result compiled with our sources."""
    reason = jaxws_unavailable()
    if reason is not None:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("jaxws")
    generated = directory / "generated"
    generated.mkdir()
    wsdl_server = RunningServer(
        sqlite_url(directory / "data"), directory / "serve.log", workers=WSDL_SERVER_WORKERS
    )
    try:
        _run(
            ["wsimport", "-keep", "-Xnocompile", "-d", str(generated), wsdl_server.wsdl_url],
            "wsimport",
        )
    finally:
        wsdl_server.stop()
    jars = [str(JAVA_LIBRARY / jar) for jar in JAXWS_JARS if (JAVA_LIBRARY / jar).is_file()]
    classes = directory / "classes"
    sources = [*sorted(generated.rglob("*.java")), *CLIENT_SOURCES]
    _run(
        [
            "javac",
            "-nowarn",
            "-encoding",
            "UTF-8",
            "-d",
            str(classes),
            "-cp",
            ":".join(jars),
            *map(str, sources),
        ],
        "javac",
    )
    return JaxwsClient(":".join([str(classes), *jars]))


@pytest.fixture(scope="module", params=list(ALGORITHMS))
def signed_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A signed server on SQLite whose CA, server and parties have ``request.param`` keys."""
    directory = tmp_path_factory.mktemp(f"jaxws-{request.param}")
    keys = key_directory(directory / "keys", ALGORITHMS[request.param])
    server = RunningServer(
        sqlite_url(directory / "data"), directory / "serve.log", keys=keys, workers=1
    )
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


@dataclass(frozen=True)
class Exchange:
    """One run of the Java client: its id (in every requestID and tender id) and its output."""

    run: str
    steps: dict[str, dict[str, str]]

    @property
    def tender_id(self) -> str:
        return f"JAXWS-{self.run}"

    @property
    def transaction_id(self) -> str:
        return f"{self.tender_id}-TX"


@pytest.fixture(scope="module")
def exchange(jaxws_client: JaxwsClient, signed_server: RunningServer) -> Exchange:
    """The Java client's steps run once against ``signed_server``."""
    run = uuid.uuid4().hex[:12]
    return Exchange(run, jaxws_client.run(signed_server, run))


# --- What the Java client saw -----------------------------------------------------------------


def test_the_jaxws_client_creates_reads_and_accepts_a_tender(exchange: Exchange) -> None:
    steps = exchange.steps
    assert steps["create"]["code"] == "200", steps
    assert steps["create"]["responses"] == "200"
    assert steps["create"]["tenders"] == exchange.tender_id

    accepted = steps["accept"]
    assert (accepted["code"], accepted["responses"]) == ("200", "200"), steps
    assert accepted["transactions"] == exchange.transaction_id

    for step, quantity in (("offered", OFFERED), ("remaining", OFFERED - ACCEPTED)):
        found = steps[step]
        assert (found["code"], found["count"]) == ("200", "1"), steps
        assert (found["tender"], found["state"], found["side"]) == (
            exchange.tender_id,
            "tender",
            "sell",
        )
        assert (Decimal(found["quantity"]), Decimal(found["price"])) == (quantity, PRICE)


def test_every_server_reply_verifies_in_java(exchange: Exchange) -> None:
    verdicts = {step: fields["reply"] for step, fields in exchange.steps.items()}
    assert set(verdicts) == {
        "create",
        "offered",
        "accept",
        "remaining",
        "impersonation",
        "tampered",
        "wrong-key",
    }
    assert set(verdicts.values()) == {"VALID"}, verdicts


def test_a_tender_signed_in_another_partys_name_is_refused(
    exchange: Exchange, signed_server: RunningServer
) -> None:
    assert exchange.steps["impersonation"]["code"] == "403"
    assert exchange.steps["impersonation"]["tenders"] == ""
    with signed_server.reading() as unit:
        assert unit.tender(f"{exchange.tender_id}-I") is None


@pytest.mark.parametrize("step", ["tampered", "wrong-key"])
def test_a_body_changed_after_signing_or_a_foreign_key_is_a_security_fault(
    exchange: Exchange, signed_server: RunningServer, step: str
) -> None:
    fields = exchange.steps[step]
    assert fields["fault"] == FAILED_CHECK, fields
    assert fields["reason"] == SECURITY_REFUSED

    marker = f">{exchange.run}-{step}<".encode()
    with signed_server.reading() as unit:
        entries = [entry for entry in unit.ledger() if marker in entry.request]
        assert unit.tender(f"{exchange.tender_id}-{REFUSED_TENDERS[step]}") is None
    assert [(entry.verification, entry.http_status) for entry in entries] == [(REFUSED, 500)]
    assert "does not verify" in entries[0].verification_detail


# --- What the server recorded -----------------------------------------------------------------


def test_the_server_recorded_the_trade(exchange: Exchange, signed_server: RunningServer) -> None:
    answer = signed_server.send(
        p.RequestTransaction(
            f"python-{exchange.run}",
            AUTHOR,
            AUTHOR,
            transaction_ids=(exchange.transaction_id,),
        )
    )
    assert answer.status == 200, answer.body.decode()
    reply = answer.payload()
    assert reply.response.code == "200"
    [transaction] = reply.transactions
    assert (transaction.transaction_id, transaction.tender_id) == (
        exchange.transaction_id,
        exchange.tender_id,
    )
    product = transaction.product
    assert product.interval == DELIVERY
    assert product.market_context == DEVELOPMENT_MARKET.uri
    assert (product.description.quantity, product.description.price) == (ACCEPTED, PRICE)

    with signed_server.reading() as unit:
        record = unit.transaction(exchange.transaction_id)
        offer = unit.tender(exchange.tender_id)
    assert record is not None
    assert offer is not None
    assert (record.buyer, record.seller) == (ACCEPTOR, AUTHOR)
    assert (offer.author, offer.remaining) == (AUTHOR, OFFERED - ACCEPTED)


def test_the_ledger_has_the_java_requests_verified_for_their_signers(
    exchange: Exchange, signed_server: RunningServer
) -> None:
    assert signed_server.keys is not None
    with signed_server.reading() as unit:
        entries = {entry.request_id: entry for entry in unit.ledger()}
    for step, operation, party, outcome in (
        ("create", "EiCreateTender", AUTHOR, "200"),
        ("offered", "EiRequestTender", ACCEPTOR, "200"),
        ("accept", "EiCreateTransaction", ACCEPTOR, "200"),
        ("remaining", "EiRequestTender", ACCEPTOR, "200"),
        ("impersonation", "EiCreateTender", ACCEPTOR, "403"),
    ):
        entry = entries[f"{exchange.run}-{step}"]
        assert (entry.operation, entry.party_id, entry.verification, entry.outcome) == (
            operation,
            party,
            VERIFIED,
            outcome,
        )
        party_fingerprint = fingerprint(signed_server.keys.party(party).certificate)
        assert entry.verification_detail == f"{party} sha256:{party_fingerprint}"
        # JAX-WS turns WS-Addressing on by itself: the served WSDL declares it. The handler
        # signs its headers, and the server addressed its signed reply to the request.
        assert entry.message_id is not None
        assert entry.reply_message_id is not None
