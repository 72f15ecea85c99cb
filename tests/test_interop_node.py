"""A real ``temix serve`` driven by the node ``soap`` package, over SOAP 1.1 and SOAP 1.2.

``tests/node/temix-client.js`` loads the WSDL the server serves (``?wsdl`` and the XSDs it
imports) and calls the operations of its ports with JavaScript objects: the retailer creates a
tender offered to the customer, the customer requests it, accepts part of it with an
eiCreateTransaction naming the tender and requests it again. Every request is signed by node
soap's own ``WSSecurityCert`` (xml-crypto) with the party's RSA key, and the server accepts the
signatures: the ledger records each of them as verified, for the party that signed. What the
server stored is read back from its database. Each SOAP version runs twice: plain, and with
WS-Addressing headers that node soap signs too, whose replies relate to their requests.

node soap's defaults are not what the server accepts; the client sets
``signerOptions.idMode = "wssecurity"`` (without it the Body and the Timestamp get a plain
``Id``, and the server refuses "the Body has no wsu:Id") and ``signatureTransformations`` to
exclusive C14N alone (by default each reference also has the enveloped-signature transform:
"a Reference must have exactly one Transform"). RSA-SHA256, SHA-256 digests, exclusive C14N of
SignedInfo, a Timestamp and a SecurityTokenReference to the BinarySecurityToken are what
``WSSecurityCert`` writes once ``signatureAlgorithm`` and ``digestAlgorithm`` ask for SHA-256.

Two requests must be refused, which shows that the server checks what node soap signs: the
customer's request signed by the retailer gets an eiResponse 403, and one signed with the
customer's key under the retailer's certificate a ``wsse:FailedCheck`` fault.

Run ``npm ci --prefix tests/node`` first; without node or that install the tests are skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from running_server import RunningServer, key_directory, tomorrow
from temix.codec import format_instant
from temix.keys import KeyAlgorithm
from temix.server.security import REFUSED, VERIFIED
from temix.server.store import LedgerEntry, Store, sqlite_url
from temix.states import TenderStatus

NODE_DIR = Path(__file__).parent / "node"
CLIENT = NODE_DIR / "temix-client.js"
NODE_TIMEOUT = 60
AUTHOR = "rep"
ACCEPTOR = "customer"
TENDERED = Decimal("2.5")
ACCEPTED = Decimal("1.5")
PRICE = Decimal("42.50")
SECURITY_FAULT_STATUS = {"1.1": 500, "1.2": 400}
STEPS = [
    "createTender",
    "requestTender",
    "createTransaction",
    "requestTenderAgain",
    "signedByAnotherParty",
    "wrongCertificate",
]


def node_soap_unavailable() -> str | None:
    """Why the node client cannot run here, or None if it can."""
    if shutil.which("node") is None:
        return "node not found on PATH (install Node.js 20)"
    if not (NODE_DIR / "node_modules" / "soap" / "package.json").is_file():
        return "node soap not installed: npm ci --prefix tests/node"
    return None


UNAVAILABLE = node_soap_unavailable()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")


@dataclass(frozen=True)
class NodeRun:
    """One run of the node client: its id (in every tender, transaction and request id), the
    SOAP version it spoke, whether it sent WS-Addressing headers, and the JSON line it printed
    for each step, by step name."""

    run_id: str
    soap: str
    addressing: bool
    steps: dict[str, dict]

    @property
    def tender_id(self) -> str:
        return f"T-{self.run_id}"

    @property
    def transaction_id(self) -> str:
        return f"TX-{self.run_id}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A signed server whose parties have RSA keys (the only kind node soap signs with)."""
    directory = tmp_path_factory.mktemp("node-interop")
    keys = key_directory(directory / "keys", KeyAlgorithm.RSA)
    running = RunningServer(
        sqlite_url(directory / "data"), directory / "server.log", keys=keys, workers=1
    )
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()


@pytest.fixture(
    scope="module",
    params=[("1.1", False), ("1.2", False), ("1.1", True), ("1.2", True)],
    ids=["soap11", "soap12", "soap11-ws-addressing", "soap12-ws-addressing"],
)
def node_run(request: pytest.FixtureRequest, server: RunningServer) -> NodeRun:
    """The node client's whole exchange with ``server`` in one SOAP version, with or without
    WS-Addressing headers (which its signature then covers too)."""
    soap, addressing = request.param
    run_id = f"node{soap.replace('.', '')}-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    start = tomorrow(15)
    completed = subprocess.run(
        [
            "node",
            str(CLIENT),
            "--wsdl",
            server.wsdl_url,
            "--soap",
            soap,
            "--parties",
            str(server.keys.parties_path),
            "--author",
            AUTHOR,
            "--acceptor",
            ACCEPTOR,
            "--start",
            format_instant(start),
            "--duration",
            "PT1H",
            "--expires",
            format_instant(now.replace(microsecond=0) + timedelta(hours=2)),
            "--run",
            run_id,
            "--addressing",
            "yes" if addressing else "no",
        ],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    steps = {}
    for line in completed.stdout.splitlines():
        step = json.loads(line)
        assert step["soap"] == soap
        steps[step["step"]] = step
    assert list(steps) == STEPS, completed.stdout + completed.stderr
    return NodeRun(run_id, soap, addressing, steps)


def ledger_entries(server: RunningServer) -> list[LedgerEntry]:
    store = Store.open(server.database_url)
    try:
        with store.transaction(write=False) as unit:
            return unit.ledger()
    finally:
        store.close()


def ledger_entry(server: RunningServer, request_id: str) -> LedgerEntry:
    """The one ledger entry whose request carries ``request_id`` (a request refused before it
    was read has no request id column, but its bytes hold it)."""
    marker = f">{request_id}<".encode()
    (entry,) = [entry for entry in ledger_entries(server) if marker in entry.request]
    return entry


def signer_detail(server: RunningServer, party: str) -> str:
    """How the ledger names a request verified as signed by ``party``."""
    return f"{party} sha256:{server.keys.party(party).fingerprint}"


def test_node_soap_creates_finds_and_accepts_a_tender(node_run: NodeRun) -> None:
    steps = node_run.steps
    created = steps["createTender"]
    assert created["responseCode"] == "200", created
    assert created["tenderIDs"] == [node_run.tender_id]

    seen = steps["requestTender"]
    assert seen["responseCode"] == "200", seen
    tender = seen["tender"]
    assert tender is not None, seen
    assert Decimal(tender["quantity"]) == TENDERED
    assert Decimal(tender["price"]) == PRICE
    assert (tender["side"], tender["state"]) == ("sell", "tender")

    accepted = steps["createTransaction"]
    assert accepted["responseCode"] == "200", accepted
    assert accepted["transactionID"] == node_run.transaction_id
    assert accepted["itemCodes"] == ["200"]

    again = steps["requestTenderAgain"]
    assert again["responseCode"] == "200", again
    assert Decimal(again["tender"]["quantity"]) == TENDERED - ACCEPTED

    for step in (created, seen, accepted, again):
        if node_run.addressing:
            assert step["messageID"] and step["relatesTo"] == step["messageID"], step
        else:
            assert (step["messageID"], step["relatesTo"]) == (None, None), step


def test_the_server_stored_the_trade(node_run: NodeRun, server: RunningServer) -> None:
    store = Store.open(server.database_url)
    try:
        with store.transaction(write=False) as unit:
            tender = unit.tender(node_run.tender_id)
            transaction = unit.transaction(node_run.transaction_id)
    finally:
        store.close()
    assert tender is not None and transaction is not None
    assert tender.author == AUTHOR
    assert tender.remaining == TENDERED - ACCEPTED
    assert tender.status is TenderStatus.PARTIALLY_FILLED
    assert (transaction.buyer, transaction.seller) == (ACCEPTOR, AUTHOR)
    assert transaction.transaction.tender_id == node_run.tender_id
    assert transaction.transaction.product.description.quantity == ACCEPTED
    assert transaction.transaction.product.description.price == PRICE


def test_the_ledger_verified_every_node_signature(node_run: NodeRun, server: RunningServer) -> None:
    for name in ("createTender", "requestTender", "createTransaction", "requestTenderAgain"):
        step = node_run.steps[name]
        entry = ledger_entry(server, step["requestID"])
        assert entry.verification == VERIFIED, (name, entry.verification_detail)
        assert entry.verification_detail == signer_detail(server, step["party"])
        assert (entry.party_id, entry.request_id) == (step["party"], step["requestID"])
        assert entry.http_status == 200
        assert entry.message_id == step["messageID"]


def test_a_request_signed_by_another_party_is_refused(
    node_run: NodeRun, server: RunningServer
) -> None:
    step = node_run.steps["signedByAnotherParty"]
    assert step["responseCode"] == "403", step
    entry = ledger_entry(server, step["requestID"])
    assert entry.verification == VERIFIED
    assert entry.verification_detail == signer_detail(server, AUTHOR)
    assert entry.outcome == "403"


def test_a_signature_under_another_partys_certificate_is_refused(
    node_run: NodeRun, server: RunningServer
) -> None:
    step = node_run.steps["wrongCertificate"]
    assert "responseCode" not in step, step
    assert step["fault"]["code"].rpartition(":")[2] == "FailedCheck", step
    assert step["fault"]["reason"] == "the message's security could not be accepted"
    assert step["httpStatus"] == SECURITY_FAULT_STATUS[node_run.soap]
    entry = ledger_entry(server, step["requestID"])
    assert entry.verification == REFUSED
    assert entry.verification_detail.startswith("the signature does not verify"), entry
