"""Message security of a real ``temix serve``, checked from outside.

* Replies signed by the server (a created tender and a security fault, SOAP 1.1 and 1.2, RSA and
  ECDSA server keys) verify with implementations this project did not write: xmlsec1 and the
  JDK, trusting only the server certificate.
* Requests signed by zeep's WS-Security (python-xmlsec) are accepted: create, request and
  accept a tender as RSA and ECDSA parties, and the ledger names the verified party.
* Replays: the same signed bytes sent twice at once to several workers, on SQLite and
  PostgreSQL, are served exactly once; the replay cache survives a restart.
* Mutual TLS: the TLS client certificate must be the signer's; no certificate, no connection.
* Signed by default (a key directory is made in the data directory); ``--insecure`` serves
  unsigned requests and logs a warning for each.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from market import (
    SOAP_ACTIONS,
    acceptance,
    create_tender,
    create_transaction,
    envelope,
    tender,
)
from peers import PeerResult, java_verify, peer_unavailable, xmlsec1_verify, zeep_sign
from running_server import Answer, RunningServer, key_directory
from temix import codec
from temix import payloads as p
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion
from temix.keys import KeyAlgorithm, KeyDirectory, fingerprint
from temix.model import Interval, Tender
from temix.namespaces import SOAP11, SOAP12
from temix.server.security import REFUSED, UNSIGNED, VERIFIED
from temix.server.services import sender_of
from temix.server.store import LedgerEntry, Store, sqlite_url
from temix.wssecurity import WSSE

VERSIONS = {"soap11": SOAP_1_1, "soap12": SOAP_1_2}
ALGORITHMS = {"rsa": KeyAlgorithm.RSA, "ecdsa": KeyAlgorithm.ECDSA}
VERIFIERS: dict[str, Callable[[bytes, bytes], PeerResult]] = {
    "xmlsec1": xmlsec1_verify,
    "java": java_verify,
}
INVALID_SECURITY = (WSSE, "InvalidSecurity")
SECURITY_FAULT_STATUS = {SOAP_1_1: 500, SOAP_1_2: 400}
MESSAGE_LIFETIME = timedelta(minutes=5)
REPLAYED_MESSAGES = 15

_NEXT_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
DELIVERY = Interval(_NEXT_HOUR + timedelta(days=1), timedelta(hours=2))
"""A delivery interval tomorrow, so that nothing is refused for being in the past."""


def offer(tender_id: str) -> Tender:
    """A tender of 10 MW at NODE-A, delivered during :data:`DELIVERY`."""
    return tender(tender_id, interval=DELIVERY)


# --- Servers ----------------------------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[list[RunningServer]]:
    """Servers a test started: killed at its end if still running."""
    started: list[RunningServer] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.kill()


@pytest.fixture(scope="module", params=list(ALGORITHMS), ids=list(ALGORITHMS))
def signed_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A signed server on SQLite whose CA, server and parties all have ``request.param`` keys."""
    directory = tmp_path_factory.mktemp(f"signed-{request.param}")
    keys = key_directory(directory / "keys", ALGORITHMS[request.param])
    server = RunningServer(sqlite_url(directory / "data"), directory / "serve.log", keys=keys)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


# --- Helpers ----------------------------------------------------------------------------------


def soap_action(payload: object, version: SoapVersion) -> str:
    return SOAP_ACTIONS[codec.PAYLOAD_ELEMENTS[type(payload)]][version]


def fault_code(answer: Answer, version: SoapVersion) -> tuple[str, str]:
    """The fault's most precise code as (namespace, local name): the SOAP 1.1 faultcode, or
    the SOAP 1.2 Subcode."""
    root = etree.fromstring(answer.body)
    if version is SOAP_1_1:
        code = root.find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault/faultcode")
    else:
        fault = f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault"
        code = root.find(f"{fault}/{{{SOAP12}}}Code/{{{SOAP12}}}Subcode/{{{SOAP12}}}Value")
    assert code is not None, answer.body.decode()
    prefix, _, local = code.text.strip().partition(":")
    return code.nsmap[prefix], local


def assert_security_fault(answer: Answer, version: SoapVersion = SOAP_1_1) -> None:
    assert answer.status == SECURITY_FAULT_STATUS[version], answer.body.decode()
    assert fault_code(answer, version) == INVALID_SECURITY


def response_code(answer: Answer) -> str:
    """The reply payload's overall EI response code."""
    assert answer.status == 200, answer.body.decode()
    return answer.payload().response.code


def ledger(database_url: str) -> list[LedgerEntry]:
    store = Store.open(database_url)
    try:
        with store.transaction(write=False) as unit:
            return unit.ledger()
    finally:
        store.close()


def stored_tender_ids(database_url: str) -> set[str]:
    store = Store.open(database_url)
    try:
        with store.transaction(write=False) as unit:
            return {record.tender.tender_id for record in unit.tenders()}
    finally:
        store.close()


def certificate_pem(keys: KeyDirectory) -> bytes:
    return keys.server().certificate.public_bytes(Encoding.PEM)


def skip_if_unavailable(peer: str) -> None:
    reason = peer_unavailable().get(peer)
    if reason is not None:
        pytest.skip(reason)


# --- Our signatures verify elsewhere ----------------------------------------------------------


@pytest.fixture(scope="module")
def server_replies(signed_server: RunningServer) -> dict[str, bytes]:
    """Replies the server signed, by description: a created tender and a security fault (an
    unsigned request), each in SOAP 1.1 and 1.2."""
    replies = {}
    for name, version in VERSIONS.items():
        created = create_tender(f"peers-{name}", "rep", "customer", offer(f"PEER-{name}"))
        answer = signed_server.send(created, version)
        assert response_code(answer) == "200"
        replies[f"created tender {name}"] = answer.body

        unsigned = envelope(
            create_tender(f"unsigned-{name}", "rep", "customer", offer("UNSIGNED")), version
        )
        fault = signed_server.post(unsigned, soap_action(created, version), version)
        assert_security_fault(fault, version)
        replies[f"security fault {name}"] = fault.body
    return replies


@pytest.mark.parametrize("peer", list(VERIFIERS))
def test_replies_signed_by_the_server_verify_with_peers(
    signed_server: RunningServer, server_replies: dict[str, bytes], peer: str
) -> None:
    skip_if_unavailable(peer)
    verify = VERIFIERS[peer]
    certificate = certificate_pem(signed_server.keys)
    for name, reply in server_replies.items():
        result = verify(reply, certificate)
        assert result.ok, f"{peer} refused the {name} reply: {result.output}"

    tampered = server_replies["created tender soap11"].replace(
        b"<ei:tenderID>PEER-", b"<ei:tenderID>FAKE-", 1
    )
    assert tampered != server_replies["created tender soap11"]
    assert not verify(tampered, certificate).ok, f"{peer} accepted a changed reply"


# --- zeep's signatures verify here ------------------------------------------------------------


def test_requests_signed_by_zeep_are_accepted(signed_server: RunningServer) -> None:
    skip_if_unavailable("zeep")
    keys = signed_server.keys

    def post_signed_by_zeep(payload: object, version: SoapVersion) -> Answer:
        party = sender_of(payload)
        now = datetime.now(UTC)
        signed = zeep_sign(
            envelope(payload, version),
            keys.party_key_path(party).read_bytes(),
            keys.party_certificate_path(party).read_bytes(),
            created=now,
            expires=now + MESSAGE_LIFETIME,
        )
        return signed_server.post(signed, soap_action(payload, version), version)

    offered = offer("ZEEP-1")
    created = post_signed_by_zeep(
        create_tender("zeep-create", "rep", "customer", offered), SOAP_1_1
    )
    assert response_code(created) == "200"

    asked = post_signed_by_zeep(p.RequestTender("zeep-request", "customer", "customer"), SOAP_1_2)
    assert response_code(asked) == "200"
    assert "ZEEP-1" in {found.tender_id for found in asked.payload().tenders}

    accepted = post_signed_by_zeep(
        create_transaction(
            "zeep-accept", "customer", "rep", acceptance(offered, "ZEEP-TX-1", quantity="4")
        ),
        SOAP_1_1,
    )
    assert response_code(accepted) == "200"
    assert accepted.payload().responses[0].code == "200"

    entries = {entry.request_id: entry for entry in ledger(signed_server.database_url)}
    for request_id, party in (
        ("zeep-create", "rep"),
        ("zeep-request", "customer"),
        ("zeep-accept", "customer"),
    ):
        entry = entries[request_id]
        assert (entry.party_id, entry.verification) == (party, VERIFIED)
        party_fingerprint = fingerprint(keys.party(party).certificate)
        assert entry.verification_detail == f"{party} sha256:{party_fingerprint}"


# --- A signature value that is not xs:base64Binary -------------------------------------------

BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _non_canonical(value: bytes) -> bytes:
    """``value`` (base64 ending in ``==``) with the unused low bits of its last data character
    set: it decodes to the same bytes but is not a valid xs:base64Binary."""
    text = b"".join(value.split())
    assert text.endswith(b"=="), text
    last = BASE64_ALPHABET.index(text[-3:-2])
    changed = text[:-3] + BASE64_ALPHABET[last ^ 1 : (last ^ 1) + 1] + b"=="
    assert base64.b64decode(changed) == base64.b64decode(text)
    return changed


def test_a_signature_value_that_is_not_base64binary_is_a_security_fault(
    signed_server: RunningServer,
) -> None:
    payload = create_tender("b64-1", "rep", "customer", offer("B64-1"))
    signed = signed_server.signed(payload)
    value = re.search(rb"<ds:SignatureValue>([^<]*)</ds:SignatureValue>", signed).group(1)
    changed = signed.replace(value, _non_canonical(value), 1)

    answer = signed_server.post(changed, soap_action(payload, SOAP_1_1))
    assert answer.status == SECURITY_FAULT_STATUS[SOAP_1_1], answer.body.decode()
    assert fault_code(answer, SOAP_1_1) in {INVALID_SECURITY, (WSSE, "FailedCheck")}
    assert ledger(signed_server.database_url)[-1].verification == REFUSED


# --- Replays, concurrently and across a restart -----------------------------------------------


def _send_twice_at_once(server: RunningServer, body: bytes, action: str) -> list[Answer]:
    """``body`` POSTed on two connections, both connected before either sends."""
    barrier = threading.Barrier(2, timeout=30)
    answers: list[Answer | BaseException] = [RuntimeError("no answer"), RuntimeError("no answer")]

    def send(index: int) -> None:
        connection = server.connection()
        try:
            connection.connect()
            barrier.wait()
            connection.request(
                "POST",
                "/",
                body,
                {"Content-Type": SOAP_1_1.content_type, "SOAPAction": f'"{action}"'},
            )
            reply = connection.getresponse()
            answers[index] = Answer(reply.status, reply.read())
        except BaseException as error:
            answers[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return answers


def test_the_same_signed_message_sent_twice_at_once_is_served_once(
    database_url: str, tmp_path: Path, servers: list[RunningServer]
) -> None:
    keys = key_directory(tmp_path / "keys")
    log = tmp_path / "serve.log"
    server = RunningServer(database_url, log, keys=keys, workers=3)
    servers.append(server)

    action = SOAP_ACTIONS[codec.PAYLOAD_ELEMENTS[p.CreateTender]][SOAP_1_1]
    accepted: list[bytes] = []
    for number in range(REPLAYED_MESSAGES):
        payload = create_tender(f"race-{number}", "rep", "customer", offer(f"RACE-{number}"))
        body = server.signed(payload)
        answers = _send_twice_at_once(server, body, action)
        served = [answer for answer in answers if answer.status == 200]
        assert len(served) == 1, f"message {number}: {[a.status for a in answers]}"
        assert response_code(served[0]) == "200"
        (refused,) = (answer for answer in answers if answer.status != 200)
        assert_security_fault(refused)
        accepted.append(body)

    posts = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert len({post["pid"] for post in posts if post["method"] == "POST"}) > 1, (
        "one worker served every request: nothing ran concurrently"
    )
    assert stored_tender_ids(database_url) == {
        f"RACE-{number}" for number in range(REPLAYED_MESSAGES)
    }
    refusals = [entry for entry in ledger(database_url) if entry.verification == REFUSED]
    assert len(refusals) == REPLAYED_MESSAGES
    assert all("replay" in entry.verification_detail for entry in refusals), [
        entry.verification_detail for entry in refusals
    ]

    server.stop()
    restarted = RunningServer(database_url, log, keys=keys)
    servers.append(restarted)
    again = restarted.post(accepted[0], action)
    assert_security_fault(again)
    last = ledger(database_url)[-1]
    assert last.verification == REFUSED
    assert "replay" in last.verification_detail
    assert len(stored_tender_ids(database_url)) == REPLAYED_MESSAGES


# --- Mutual TLS -------------------------------------------------------------------------------


def _client_context(keys: KeyDirectory, party: str | None) -> ssl.SSLContext:
    """A TLS client trusting the key directory's CA, presenting ``party``'s certificate."""
    context = ssl.create_default_context(cafile=str(keys.ca_certificate_path))
    if party is not None:
        context.load_cert_chain(keys.party_certificate_path(party), keys.party_key_path(party))
    return context


def test_mutual_tls_binds_the_connection_to_the_signer(
    tmp_path: Path, servers: list[RunningServer]
) -> None:
    keys = key_directory(tmp_path / "keys")
    database_url = sqlite_url(tmp_path / "data")
    tls_options = [
        "--tls-cert",
        str(keys.server_certificate_path),
        "--tls-key",
        str(keys.server_key_path),
        "--tls-ca",
        str(keys.ca_certificate_path),
    ]
    server = RunningServer(
        database_url,
        tmp_path / "serve.log",
        keys=keys,
        options=tls_options,
        tls_context=_client_context(keys, "rep"),
    )
    servers.append(server)
    assert server.wsdl_url == f"https://127.0.0.1:{server.port}/?wsdl"

    connection = server.connection()
    try:
        connection.request("GET", "/?wsdl")
        reply = connection.getresponse()
        wsdl = etree.fromstring(reply.read())
    finally:
        connection.close()
    assert reply.status == 200
    addresses = {element.get("location") for element in wsdl.iter("{*}address")}
    assert addresses == {f"https://127.0.0.1:{server.port}/"}

    by_rep = server.send(create_tender("tls-1", "rep", "customer", offer("TLS-1")))
    assert response_code(by_rep) == "200"

    by_customer = server.send(create_tender("tls-2", "customer", "rep", offer("TLS-2")))
    assert_security_fault(by_customer)
    refusal = ledger(database_url)[-1]
    assert refusal.verification == REFUSED
    assert re.search(r"\bcustomer\b", refusal.verification_detail), refusal.verification_detail
    assert re.search(r"\brep\b", refusal.verification_detail), refusal.verification_detail

    rep_context, server.tls_context = server.tls_context, _client_context(keys, "customer")
    by_customer_as_customer = server.send(create_tender("tls-3", "customer", "rep", offer("TLS-3")))
    server.tls_context = rep_context
    assert response_code(by_customer_as_customer) == "200"

    anonymous = http.client.HTTPSConnection(
        "127.0.0.1", server.port, timeout=30, context=_client_context(keys, None)
    )
    try:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            anonymous.request("GET", "/?wsdl")
            anonymous.getresponse().read()
    finally:
        anonymous.close()

    after = server.send(create_tender("tls-4", "rep", "customer", offer("TLS-4")))
    assert response_code(after) == "200"
    assert stored_tender_ids(database_url) == {"TLS-1", "TLS-3", "TLS-4"}


# --- Signed by default; --insecure says so ----------------------------------------------------


def test_without_keys_the_server_makes_them_and_refuses_unsigned_requests(
    tmp_path: Path, servers: list[RunningServer]
) -> None:
    data = tmp_path / "data"
    log = tmp_path / "serve.log"
    server = RunningServer(
        sqlite_url(data), log, insecure=False, workers=1, options=["--data-dir", str(data)]
    )
    servers.append(server)

    keys = KeyDirectory(data / "keys")
    assert keys.ca_certificate_path.is_file()
    assert keys.server_certificate_path.is_file()
    server_certificate = keys.server().certificate
    assert f"sha256:{fingerprint(server_certificate)}" in log.read_text()

    for name, version in VERSIONS.items():
        payload = create_tender(f"plain-{name}", "rep", "customer", offer(f"PLAIN-{name}"))
        answer = server.post(envelope(payload, version), soap_action(payload, version), version)
        assert_security_fault(answer, version)
        signed_by = etree.fromstring(answer.body).findtext(f".//{{{WSSE}}}BinarySecurityToken")
        assert signed_by is not None, "the fault is not signed"
    server.stop()

    refusals = ledger(server.database_url)
    assert [entry.verification for entry in refusals] == [REFUSED, REFUSED]
    assert all("not signed" in entry.verification_detail for entry in refusals), [
        entry.verification_detail for entry in refusals
    ]
    assert stored_tender_ids(server.database_url) == set()


def test_insecure_serves_unsigned_requests_and_warns_for_each(
    tmp_path: Path, servers: list[RunningServer]
) -> None:
    database_url = sqlite_url(tmp_path / "data")
    log = tmp_path / "serve.log"
    server = RunningServer(database_url, log)
    servers.append(server)

    sent = [
        (create_tender("open-1", "rep", "customer", offer("OPEN-1")), SOAP_1_1),
        (create_tender("open-2", "rep", "customer", offer("OPEN-2")), SOAP_1_2),
        (p.RequestTender("open-3", "customer", "customer"), SOAP_1_1),
    ]
    for payload, version in sent:
        answer = server.send(payload, version)
        assert response_code(answer) == "200"
        assert etree.fromstring(answer.body).find(f".//{{{WSSE}}}Security") is None
    server.stop()

    warnings = [
        line
        for line in log.read_text().splitlines()
        if " WARNING " in line and "temix.server.security" in line and "insecure" in line
    ]
    assert len(warnings) == len(sent), log.read_text()
    assert [entry.verification for entry in ledger(database_url)] == [UNSIGNED] * len(sent)
