"""WS-Addressing through a signed ``temix serve``: a request with mustUnderstand headers, signed
over its addressing headers as WSS4J and WCF sign them, is answered with a signed reply whose
own addressing headers are covered; a wrong action or an unsigned addressing header is refused
and stores nothing; a retry keeps its stored reply, and the ledger keeps the identifiers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from lxml import etree

import pki
from market import SOAP_ACTIONS, create_tender, envelope, tender
from running_server import Answer, RunningServer, key_directory
from temix import codec
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion
from temix.keys import KeyDirectory
from temix.namespaces import resolve_qname
from temix.server.security import REFUSED, SECURITY_REFUSED, VERIFIED
from temix.server.store import sqlite_url
from temix.wsaddressing import WSA, request_headers
from temix.wssecurity import SecurityError, verify_envelope

CREATE_TENDER = codec.PAYLOAD_ELEMENTS[type(create_tender("r", "rep", "customer", tender()))]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyDirectory:
    return key_directory(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, keys: KeyDirectory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("server")
    running = RunningServer(
        sqlite_url(directory / "data"), directory / "serve.log", keys=keys, workers=1
    )
    yield running
    running.stop()


def addressed(
    payload: object,
    version: SoapVersion,
    message_id: str,
    action: str | None = None,
) -> etree._Element:
    """``payload``'s envelope with the headers a WCF or CXF client sends."""
    root = etree.fromstring(envelope(payload, version))
    header = root.find(f"{{{version.envelope_ns}}}Header")
    if header is None:
        header = etree.Element(f"{{{version.envelope_ns}}}Header")
        root.insert(0, header)
    soap_action = SOAP_ACTIONS[CREATE_TENDER][version]
    header.extend(
        request_headers(action or soap_action, "http://127.0.0.1/", message_id, version.envelope_ns)
    )
    return root


def signed(root: etree._Element, keys: KeyDirectory, party: str = "rep") -> bytes:
    return pki.sign(etree.tostring(root), keys.party(party), datetime.now(UTC))


def post(server: RunningServer, body: bytes, version: SoapVersion) -> Answer:
    return server.post(body, SOAP_ACTIONS[CREATE_TENDER][version], version)


def verified_reply(answer: Answer, keys: KeyDirectory) -> etree._Element:
    """The reply, once its signature verifies against the pinned server certificate: its
    addressing headers must be covered, or verify_envelope refuses it."""
    server_certificate = keys.server().certificate
    root = etree.fromstring(answer.body)

    def pinned(certificate: object) -> None:
        if certificate != server_certificate:
            raise SecurityError("not the server's certificate")

    verify_envelope(root, pinned, datetime.now(UTC))
    return root


def header_text(root: etree._Element, name: str) -> list[str]:
    return [block.text for block in root.iterfind(f"{{*}}Header/{{{WSA}}}{name}")]


def stored_tender(server: RunningServer, tender_id: str) -> bool:
    with server.reading() as unit:
        return unit.tender(tender_id) is not None


def last_ledger_entries(server: RunningServer, count: int) -> list:
    with server.reading() as unit:
        return unit.ledger()[-count:]


@pytest.mark.parametrize("version", [SOAP_1_1, SOAP_1_2], ids=["soap11", "soap12"])
def test_a_signed_addressed_request_gets_a_signed_addressed_reply(
    server: RunningServer, keys: KeyDirectory, version: SoapVersion
) -> None:
    tender_id = f"WSA-OK-{version.name}"
    payload = create_tender(f"wsa-ok-{version.name}", "rep", "customer", tender(tender_id))
    message_id = f"urn:uuid:00000000-0000-4000-8000-00000000000{version.name[-1]}"
    answer = post(server, signed(addressed(payload, version, message_id), keys), version)
    assert answer.status == 200, answer.body
    reply = verified_reply(answer, keys)
    assert header_text(reply, "RelatesTo") == [message_id]
    assert header_text(reply, "Action") == [SOAP_ACTIONS[CREATE_TENDER][version] + "Response"]
    assert answer.payload().response.code == "200"
    assert stored_tender(server, tender_id)
    (entry,) = last_ledger_entries(server, 1)
    assert (entry.verification, entry.message_id) == (VERIFIED, message_id)
    assert entry.reply_message_id == header_text(reply, "MessageID")[0]


def test_a_retry_with_the_same_message_id_and_request_id_returns_the_stored_reply(
    server: RunningServer, keys: KeyDirectory
) -> None:
    payload = create_tender("wsa-retry", "rep", "customer", tender("WSA-RETRY"))
    message_id = "urn:uuid:00000000-0000-4000-8000-0000000000aa"
    first = post(server, signed(addressed(payload, SOAP_1_1, message_id), keys), SOAP_1_1)
    again = post(server, signed(addressed(payload, SOAP_1_1, message_id), keys), SOAP_1_1)
    assert (first.status, again.status) == (200, 200)
    assert again.payload() == first.payload()
    replies = [verified_reply(answer, keys) for answer in (first, again)]
    assert [header_text(reply, "RelatesTo") for reply in replies] == [[message_id]] * 2
    entries = last_ledger_entries(server, 2)
    assert [entry.message_id for entry in entries] == [message_id] * 2
    assert entries[0].reply_message_id != entries[1].reply_message_id


def test_a_signed_request_with_a_wrong_action_is_an_action_mismatch_and_stores_nothing(
    server: RunningServer, keys: KeyDirectory
) -> None:
    payload = create_tender("wsa-mismatch", "rep", "customer", tender("WSA-MISMATCH"))
    body = signed(
        addressed(payload, SOAP_1_2, "urn:uuid:1-mismatch", action="urn:example:Other"), keys
    )
    answer = post(server, body, SOAP_1_2)
    assert answer.status == 400
    reply = verified_reply(answer, keys)
    values = reply.findall(".//{*}Code//{*}Value")
    assert [resolve_qname(value, value.text) for value in values][1:] == [
        f"{{{WSA}}}InvalidAddressingHeader",
        f"{{{WSA}}}ActionMismatch",
    ]
    assert header_text(reply, "RelatesTo") == ["urn:uuid:1-mismatch"]
    assert not stored_tender(server, "WSA-MISMATCH")


def test_an_addressing_header_outside_the_signature_is_refused_and_stores_nothing(
    server: RunningServer, keys: KeyDirectory
) -> None:
    """The request is signed, then a MessageID is replaced by one the signature never saw."""
    payload = create_tender("wsa-unsigned", "rep", "customer", tender("WSA-UNSIGNED"))
    root = etree.fromstring(signed(addressed(payload, SOAP_1_1, "urn:uuid:signed"), keys))
    (message_id,) = root.iterfind(f"{{*}}Header/{{{WSA}}}MessageID")
    replacement = etree.SubElement(message_id.getparent(), f"{{{WSA}}}MessageID")
    replacement.text = "urn:uuid:unsigned"
    message_id.getparent().remove(message_id)
    answer = post(server, etree.tostring(root), SOAP_1_1)
    assert answer.status == 500
    reply = verified_reply(answer, keys)
    assert reply.findtext(".//faultstring") == SECURITY_REFUSED
    assert not stored_tender(server, "WSA-UNSIGNED")
    (entry,) = last_ledger_entries(server, 1)
    assert entry.verification == REFUSED
    assert "has no wsu:Id" in entry.verification_detail
