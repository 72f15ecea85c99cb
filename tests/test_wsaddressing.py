"""WS-Addressing 1.0 on the SOAP binding, driven in-process on both bindings (native and spyne):
the headers are understood, the action is checked, replies are addressed, faults are the SOAP
Binding's, and nothing is ever sent anywhere but back on the request's connection."""

from __future__ import annotations

import pytest
from lxml import etree
from test_soap import CREATE_TENDER, OPERATIONS, stub_handlers

from bindings import Reply, call, envelope
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion
from temix.namespaces import SOAP12, resolve_qname
from temix.server.soap import SoapApplication
from temix.server.spyne import SpyneSoapApplication
from temix.wsaddressing import (
    ANONYMOUS,
    FAULT_ACTION,
    SOAP_FAULT_ACTION,
    WSA,
    AddressingError,
    read_addressing,
    request_headers,
)

CREATE = OPERATIONS["EiCreateTender"]
CANCEL = OPERATIONS["EiCancelTender"]
MESSAGE_ID = "urn:uuid:7d8f0a52-6c1e-4c55-9a4e-0c6f2f6e1b11"
ENDPOINT = "http://127.0.0.1:8080/"
SENDER = f"{{{SOAP12}}}Sender"


def wsa(name: str) -> str:
    return f"{{{WSA}}}{name}"


@pytest.fixture(scope="module", params=["native", "spyne"])
def app(request: pytest.FixtureRequest) -> SoapApplication:
    kind = SoapApplication if request.param == "native" else SpyneSoapApplication
    return kind(stub_handlers())


def headers_xml(blocks: list[etree._Element]) -> str:
    return "".join(etree.tostring(block, encoding="unicode") for block in blocks)


def addressed_request(
    version: SoapVersion = SOAP_1_1,
    action: str = CREATE.input_action,
    extra: str = "",
    message_id: str = MESSAGE_ID,
) -> bytes:
    """The create-tender request with the headers a WCF or CXF client sends (mustUnderstand on
    Action and To) and ``extra`` header blocks."""
    blocks = request_headers(action, ENDPOINT, message_id, must_understand=version.envelope_ns)
    return envelope(CREATE_TENDER, version, header=headers_xml(blocks) + extra)


def post(app: SoapApplication, body: bytes, version: SoapVersion, soap_action: str | None) -> Reply:
    if version is SOAP_1_1:
        quoted = None if soap_action is None else f'"{soap_action}"'
        return call(app, body=body, content_type=SOAP_1_1.content_type, soap_action=quoted)
    content_type = SOAP_1_2.content_type
    if soap_action is not None:
        content_type += f'; action="{soap_action}"'
    return call(app, body=body, content_type=content_type)


def reply_header(reply: Reply, version: SoapVersion, name: str) -> list[str]:
    root = reply.xml()
    return [
        (block.text or "")
        for block in root.findall(f"{{{version.envelope_ns}}}Header/{{{WSA}}}{name}")
    ]


def wsa_fault(reply: Reply, version: SoapVersion) -> tuple[int, list[str], etree._Element]:
    """The HTTP status, the fault's codes as Clark names (1.1: the faultcode; 1.2: Value and
    each Subcode) and its WS-A detail element (1.1: in the wsa:FaultDetail header; 1.2: in
    Detail)."""
    root = reply.xml()
    env = f"{{{version.envelope_ns}}}"
    fault = root.find(f"{env}Body/{env}Fault")
    if version is SOAP_1_1:
        values = [fault.find("faultcode")]
        detail = root.find(f"{env}Header/{{{WSA}}}FaultDetail")
    else:
        values = list(fault.iter(f"{env}Value"))
        detail = fault.find(f"{env}Detail")
    codes = [resolve_qname(value, value.text) for value in values]
    assert detail is not None and len(detail) == 1, etree.tostring(root)
    return reply.status, codes, detail[0]


@pytest.mark.parametrize("version", [SOAP_1_1, SOAP_1_2], ids=["soap11", "soap12"])
def test_a_request_with_must_understand_addressing_headers_is_answered_and_addressed(
    app: SoapApplication, version: SoapVersion
) -> None:
    reply = post(app, addressed_request(version), version, CREATE.soap_actions[version])
    assert reply.status == 200, reply.body
    assert reply_header(reply, version, "Action") == [CREATE.output_action]
    assert reply_header(reply, version, "RelatesTo") == [MESSAGE_ID]
    assert reply_header(reply, version, "To") == [ANONYMOUS]
    (reply_id,) = reply_header(reply, version, "MessageID")
    assert reply_id.startswith("urn:uuid:") and reply_id != MESSAGE_ID


def test_the_action_may_come_without_a_soap12_action_parameter(app: SoapApplication) -> None:
    reply = post(app, addressed_request(SOAP_1_2), SOAP_1_2, None)
    assert reply.status == 200
    assert reply_header(reply, SOAP_1_2, "RelatesTo") == [MESSAGE_ID]


def test_a_request_without_addressing_gets_a_reply_without_it(app: SoapApplication) -> None:
    reply = post(app, envelope(CREATE_TENDER), SOAP_1_1, CREATE.soap_actions[SOAP_1_1])
    assert reply.status == 200
    assert reply.xml().find(f".//{{{WSA}}}Action") is None


@pytest.mark.parametrize("version", [SOAP_1_1, SOAP_1_2], ids=["soap11", "soap12"])
def test_an_action_that_differs_from_the_soap_action_is_an_action_mismatch(
    app: SoapApplication, version: SoapVersion
) -> None:
    body = addressed_request(version, action=CREATE.input_action + "Other")
    reply = post(app, body, version, CREATE.soap_actions[version])
    status, codes, detail = wsa_fault(reply, version)
    if version is SOAP_1_1:
        assert (status, codes) == (500, [wsa("InvalidAddressingHeader")])
    else:
        expected = [SENDER, wsa("InvalidAddressingHeader"), wsa("ActionMismatch")]
        assert (status, codes) == (400, expected)
    assert detail.tag == f"{{{WSA}}}ProblemHeaderQName"
    assert detail.text == "wsa:Action"
    assert reply_header(reply, version, "Action") == [FAULT_ACTION]
    assert reply_header(reply, version, "RelatesTo") == [MESSAGE_ID]


@pytest.mark.parametrize("version", [SOAP_1_1, SOAP_1_2], ids=["soap11", "soap12"])
def test_another_operations_action_is_not_supported_for_the_body(
    app: SoapApplication, version: SoapVersion
) -> None:
    body = addressed_request(version, action=CANCEL.input_action)
    reply = post(app, body, version, None if version is SOAP_1_2 else CANCEL.input_action)
    if version is SOAP_1_1:
        # The SOAPAction names another operation than the Body: refused before WS-A looks.
        assert reply.status == 500 and b"SOAPAction does not match the Body" in reply.body
        return
    status, codes, detail = wsa_fault(reply, version)
    assert (status, codes) == (400, [SENDER, wsa("ActionNotSupported")])
    assert detail.tag == f"{{{WSA}}}ProblemAction"
    assert detail.findtext(f"{{{WSA}}}Action") == CANCEL.input_action


def test_a_soap11_request_whose_only_action_is_wsa_still_needs_the_matching_soapaction(
    app: SoapApplication,
) -> None:
    body = addressed_request(SOAP_1_1)
    reply = post(app, body, SOAP_1_1, CREATE.input_action)
    assert reply.status == 200


@pytest.mark.parametrize(
    ("extra", "subcodes", "problem"),
    [
        pytest.param(
            f'<wsa:ReplyTo xmlns:wsa="{WSA}"><wsa:Address>http://10.9.9.9/steal</wsa:Address>'
            "</wsa:ReplyTo>",
            ["InvalidAddressingHeader", "InvalidCardinality"],
            "wsa:ReplyTo",
            id="second-reply-to",
        ),
        pytest.param(
            f'<wsa:FaultTo xmlns:wsa="{WSA}"><wsa:Address>http://10.9.9.9/steal</wsa:Address>'
            "</wsa:FaultTo>",
            ["InvalidAddressingHeader", "OnlyAnonymousAddressSupported"],
            "wsa:FaultTo",
            id="fault-to-elsewhere",
        ),
        pytest.param(
            f'<wsa:FaultTo xmlns:wsa="{WSA}"/>',
            ["InvalidAddressingHeader", "MissingAddressInEPR"],
            "wsa:FaultTo",
            id="fault-to-without-address",
        ),
        pytest.param(
            f'<wsa:RelatesTo xmlns:wsa="{WSA}">not an iri</wsa:RelatesTo>',
            ["InvalidAddressingHeader", "InvalidAddress"],
            "wsa:RelatesTo",
            id="relates-to-not-an-iri",
        ),
    ],
)
def test_bad_addressing_headers_get_the_soap_binding_faults(
    app: SoapApplication, extra: str, subcodes: list[str], problem: str
) -> None:
    reply = post(app, addressed_request(SOAP_1_2, extra=extra), SOAP_1_2, None)
    status, codes, detail = wsa_fault(reply, SOAP_1_2)
    assert (status, codes) == (400, [SENDER, *map(wsa, subcodes)])
    assert (detail.tag, detail.text) == (f"{{{WSA}}}ProblemHeaderQName", problem)
    assert reply_header(reply, SOAP_1_2, "Action") == [FAULT_ACTION]


def test_a_request_using_addressing_without_a_message_id_is_refused(
    app: SoapApplication,
) -> None:
    action = f'<wsa:Action xmlns:wsa="{WSA}">{CREATE.input_action}</wsa:Action>'
    reply = post(app, envelope(CREATE_TENDER, SOAP_1_1, header=action), SOAP_1_1, None)
    status, codes, detail = wsa_fault(reply, SOAP_1_1)
    assert (status, codes) == (500, [wsa("MessageAddressingHeaderRequired")])
    assert detail.text == "wsa:MessageID"
    assert reply_header(reply, SOAP_1_1, "RelatesTo") == []


def test_any_other_fault_carries_the_soap_fault_action(app: SoapApplication) -> None:
    """A fault that is not WS-Addressing's (here: an invalid payload) still relates to the
    request, with the generic SOAP fault action."""
    invalid = addressed_request(SOAP_1_1).replace(b"<emix:side>", b"<emix:side>x", 1)
    assert invalid != addressed_request(SOAP_1_1)
    reply = post(app, invalid, SOAP_1_1, CREATE.soap_actions[SOAP_1_1])
    assert reply.status == 500
    assert reply_header(reply, SOAP_1_1, "Action") == [SOAP_FAULT_ACTION]
    assert reply_header(reply, SOAP_1_1, "RelatesTo") == [MESSAGE_ID]


def test_reference_parameters_of_the_reply_to_are_echoed_as_headers(app: SoapApplication) -> None:
    blocks = request_headers(CREATE.input_action, ENDPOINT, MESSAGE_ID)
    reply_to = blocks[-1]
    parameters = etree.SubElement(reply_to, f"{{{WSA}}}ReferenceParameters")
    etree.SubElement(parameters, "{urn:example:bus}CorrelationKey").text = "K-42"
    body = envelope(CREATE_TENDER, SOAP_1_1, header=headers_xml(blocks))
    reply = post(app, body, SOAP_1_1, CREATE.soap_actions[SOAP_1_1])
    assert reply.status == 200
    echoed = reply.xml().find("{*}Header/{urn:example:bus}CorrelationKey")
    assert echoed is not None and echoed.text == "K-42"
    assert echoed.get(f"{{{WSA}}}IsReferenceParameter") == "true"


def test_comment_split_addressing_text_is_refused() -> None:
    """Signed text split by a comment must never be read short (the signature's canonical form
    drops comments): an addressing header may hold text only."""
    action = etree.fromstring(
        f'<wsa:Action xmlns:wsa="{WSA}">{CREATE.input_action}<!---->Other</wsa:Action>'
    )
    message_id = etree.fromstring(f'<wsa:MessageID xmlns:wsa="{WSA}">{MESSAGE_ID}</wsa:MessageID>')
    with pytest.raises(AddressingError) as refused:
        read_addressing([action, message_id])
    assert refused.value.subsubcode == "InvalidAddress"
