"""PHP's ``SoapClient`` (Debian ``php-cli``, ``php-soap``, ``php-xml``) against an ``--insecure``
``temix serve``: it loads ``?wsdl`` with the schemas it imports, and calls EiCreateTender and
EiRequestTender over SOAP 1.1 and SOAP 1.2, without and with WS-Addressing headers (Action and
To marked mustUnderstand, as PHP's ``SoapHeader`` writes them). The payloads are the project's
codec's; everything around them, the Envelope, the headers, the SOAPAction and the Content-Type,
is PHP's."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from market import SOAP_ACTIONS, create_tender, tender
from peers import PEER_TIMEOUT
from running_server import RunningServer
from temix import codec
from temix import payloads as p
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion
from temix.server.store import sqlite_url
from temix.wsaddressing import WSA

CLIENT = Path(__file__).parent / "php" / "temix_client.php"
VERSIONS = {"1.1": SOAP_1_1, "1.2": SOAP_1_2}
OPERATIONS = {p.CreateTender: "EiCreateTender", p.RequestTender: "EiRequestTender"}
CREATE_TENDER = codec.PAYLOAD_ELEMENTS[p.CreateTender]


def php_unavailable() -> str | None:
    if shutil.which("php") is None:
        return "no PHP (apt-get install php-cli php-soap php-xml)"
    modules = subprocess.run(["php", "-m"], capture_output=True, text=True, timeout=60).stdout
    if "soap" not in modules.split():
        return "PHP has no soap extension (apt-get install php-soap)"
    return None


@dataclass(frozen=True)
class PhpCall:
    """What PHP sent and received."""

    operations: int
    request: etree._Element
    response: etree._Element
    fault: str | None

    def reply(self) -> object:
        return codec.decode(self.response.find("{*}Body")[0])

    def addressing(self, name: str) -> list[str]:
        return [block.text for block in self.response.iterfind(f"{{*}}Header/{{{WSA}}}{name}")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    reason = php_unavailable()
    if reason is not None:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("php")
    # PHP fetches each imported schema on a new connection: more workers, no waiting.
    running = RunningServer(sqlite_url(directory / "data"), directory / "serve.log", workers=4)
    yield running
    running.stop()


def call(
    server: RunningServer,
    payload: object,
    version: SoapVersion,
    message_id: str | None,
    action: str | None = None,
) -> PhpCall:
    """``payload`` sent by PHP; with WS-Addressing when ``message_id`` is given, its wsa:Action
    the operation's unless ``action`` replaces it."""
    action = action or SOAP_ACTIONS[codec.PAYLOAD_ELEMENTS[type(payload)]][version]
    payload_file = Path(server.log_path).with_name(f"payload-{uuid.uuid4().hex}.xml")
    payload_file.write_bytes(etree.tostring(codec.encode(payload)))
    completed = subprocess.run(
        [
            "php",
            str(CLIENT),
            server.wsdl_url,
            OPERATIONS[type(payload)],
            action,
            str(payload_file),
            version.name,
            message_id or "-",
        ],
        capture_output=True,
        text=True,
        timeout=PEER_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(completed.stdout)
    return PhpCall(
        result["functions"],
        etree.fromstring(result["request"].encode()),
        etree.fromstring(result["response"].encode()),
        result["fault"],
    )


@pytest.mark.parametrize("addressing", [False, True], ids=["plain", "ws-addressing"])
@pytest.mark.parametrize("version_name", ["1.1", "1.2"], ids=["soap11", "soap12"])
def test_php_soapclient_creates_and_reads_back_a_tender(
    server: RunningServer, version_name: str, addressing: bool
) -> None:
    version = VERSIONS[version_name]
    run = uuid.uuid4().hex[:10]
    offered = tender(f"PHP-{run}")
    message_id = f"urn:uuid:{uuid.uuid4()}" if addressing else None
    created = call(
        server, create_tender(f"php-{run}", "rep", "customer", offered), version, message_id
    )
    assert created.operations >= 15
    assert created.request.tag == f"{{{version.envelope_ns}}}Envelope"
    assert created.fault is None, created.fault
    answer = created.reply()
    assert (answer.response.code, answer.tender_ids) == ("200", (offered.tender_id,))
    if addressing:
        must = created.request.find(f"{{*}}Header/{{{WSA}}}Action")
        assert must.get(f"{{{version.envelope_ns}}}mustUnderstand") in {"1", "true"}
        assert created.addressing("RelatesTo") == [message_id]
        assert created.addressing("Action") == [SOAP_ACTIONS[CREATE_TENDER][version] + "Response"]
    else:
        assert created.response.find(f".//{{{WSA}}}RelatesTo") is None

    request = p.RequestTender(
        f"php-read-{run}", "customer", "customer", tender_ids=(offered.tender_id,)
    )
    read = call(server, request, version, message_id and f"urn:uuid:{uuid.uuid4()}")
    assert read.fault is None, read.fault
    listed = read.reply()
    assert [each.tender_id for each in listed.tenders] == [offered.tender_id]


def test_php_soapclient_gets_the_action_mismatch_fault(server: RunningServer) -> None:
    """PHP's SOAPAction is the WSDL's; a wsa:Action that differs is refused, not carried out."""
    run = uuid.uuid4().hex[:10]
    offered = tender(f"PHP-MISMATCH-{run}")
    payload = create_tender(f"php-mismatch-{run}", "rep", "customer", offered)
    refused = call(
        server, payload, SOAP_1_1, f"urn:uuid:{uuid.uuid4()}", action="urn:example:not-it"
    )
    assert refused.fault is not None and refused.fault.startswith("wsa:InvalidAddressingHeader")
    request = p.RequestTender(
        f"php-check-{run}", "customer", "customer", tender_ids=(offered.tender_id,)
    )
    assert call(server, request, SOAP_1_1, None).reply().tenders == ()
