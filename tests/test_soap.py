"""The WSGI SOAP layer (``temix.server.soap``), driven in-process: no sockets, no server."""

from __future__ import annotations

import copy
import io
import json
import logging
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import zeep
from lxml import etree

from bindings import HOST, Reply, call, envelope, first_example_of_each_element
from temix import codec
from temix import payloads as p
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion
from temix.model import Response
from temix.namespaces import PYLD, SOAP11, SOAP12
from temix.schemas import EXAMPLES_INVALID, EXAMPLES_VALID, WSDL, XSD_DIR
from temix.server.security import INVALID_SECURITY
from temix.server.soap import FaultCode, SoapApplication, SoapFault, SoapLimits, load_operations
from temix.validation import SchemaSet
from temix.wssecurity import WSSE

OPERATIONS = load_operations()
ENDPOINT = f"http://{HOST}/base/temix"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"


EXAMPLES = first_example_of_each_element()


def example(name: str) -> etree._Element:
    return etree.parse(str(EXAMPLES_VALID / name)).getroot()


def created_tender(payload: etree._Element, context: object) -> etree._Element:
    """The create-tender stub: every tender accepted."""
    request = codec.decode(payload)
    assert isinstance(request, p.CreateTender)
    tender_ids = tuple(tender.tender_id for tender in request.tenders)
    return codec.encode(
        p.CreatedTender(
            response=Response("200", request.request_id, "OK"),
            responses=tuple(Response("200", tender_id, "OK") for tender_id in tender_ids),
            party_id=request.party_id,
            counterparty_id=request.counterparty_id,
            tender_ids=tender_ids,
        )
    )


def canned_reply(response_element: str):
    """A stub answering with the (re-encoded) valid example of the operation's reply."""
    reply = codec.decode(EXAMPLES[response_element])

    def handler(payload: etree._Element, context: object) -> etree._Element:
        return codec.encode(reply)

    return handler


def stub_handlers() -> dict:
    handlers = {name: canned_reply(op.response) for name, op in OPERATIONS.items()}
    handlers["EiCreateTender"] = created_tender
    return handlers


@pytest.fixture(scope="module")
def app() -> SoapApplication:
    return SoapApplication(stub_handlers())


# --- An in-process WSGI client --------------------------------------------------------------------


class UnreadableStream:
    """A wsgi.input that must not be read."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def action_of(operation: str) -> str:
    return OPERATIONS[operation].soap_actions[SOAP_1_1]


def soap11(app, body: bytes, operation: str = "EiCreateTender", **kwargs) -> Reply:
    kwargs.setdefault("soap_action", f'"{action_of(operation)}"')
    return call(app, body=body, content_type="text/xml; charset=utf-8", **kwargs)


def soap12(app, body: bytes, operation: str | None = "EiCreateTender", **kwargs) -> Reply:
    content_type = "application/soap+xml; charset=utf-8"
    if operation is not None:
        content_type += f'; action="{action_of(operation)}"'
    return call(app, body=body, content_type=content_type, **kwargs)


CREATE_TENDER = example("create-tender-power.xml")


@dataclass
class Fault:
    code: str
    reason: str
    subcode: str | None
    envelope: etree._Element


def fault_of(reply: Reply, version: SoapVersion) -> Fault:
    """The fault in ``reply``, after checking its Content-Type and its shape."""
    assert reply.headers["Content-Type"] == version.content_type
    assert b"Traceback" not in reply.body
    root = reply.xml()
    ns = version.envelope_ns
    assert root.tag == f"{{{ns}}}Envelope"
    faults = root.findall(f"{{{ns}}}Body/{{{ns}}}Fault")
    assert len(faults) == 1
    fault = faults[0]
    if version is SOAP_1_1:
        assert [child.tag for child in fault] == ["faultcode", "faultstring"]
        return Fault(fault.findtext("faultcode"), fault.findtext("faultstring"), None, root)
    assert [child.tag for child in fault] == [f"{{{ns}}}Code", f"{{{ns}}}Reason"]
    text = fault.find(f"{{{ns}}}Reason/{{{ns}}}Text")
    assert text.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    return Fault(
        fault.findtext(f"{{{ns}}}Code/{{{ns}}}Value"),
        text.text,
        fault.findtext(f"{{{ns}}}Code/{{{ns}}}Subcode/{{{ns}}}Value"),
        root,
    )


def client_fault(reply: Reply, version: SoapVersion = SOAP_1_1) -> str:
    """The reason of a Client (1.1, HTTP 500) or Sender (1.2, HTTP 400) fault."""
    fault = fault_of(reply, version)
    if version is SOAP_1_1:
        assert (reply.status, fault.code) == (500, "soap:Client")
    else:
        assert (reply.status, fault.code) == (400, "soap12:Sender")
    return fault.reason


def server_fault(reply: Reply, version: SoapVersion = SOAP_1_1) -> str:
    fault = fault_of(reply, version)
    assert reply.status == 500
    assert fault.code == ("soap:Server" if version is SOAP_1_1 else "soap12:Receiver")
    return fault.reason


# --- The operation table --------------------------------------------------------------------------


def test_the_operation_table_is_read_from_the_wsdl():
    assert len(OPERATIONS) == 15
    create = OPERATIONS["EiCreateTender"]
    assert create.request == f"{{{PYLD}}}eiCreateTender"
    assert create.response == f"{{{PYLD}}}eiCreatedTender"
    for operation in OPERATIONS.values():
        for version in (SOAP_1_1, SOAP_1_2):
            assert operation.soap_actions[version] == (
                f"http://docs.oasis-open.org/ns/energyinterop/201110/wsdl/{operation.name}"
            )


def test_a_wsdl_where_two_operations_share_a_request_element_is_refused(tmp_path):
    text = WSDL.read_text().replace(
        'element="pyld:eiCancelTender"', 'element="pyld:eiCreateTender"'
    )
    clash = tmp_path / "wsdl" / "clash.wsdl"
    clash.parent.mkdir()
    clash.write_text(text)
    with pytest.raises(ValueError, match="same request element"):
        load_operations(clash)


def test_handlers_for_unknown_operations_are_refused():
    with pytest.raises(ValueError, match="EiDoSomething"):
        SoapApplication({"EiDoSomething": created_tender})


# --- Success paths --------------------------------------------------------------------------------


def test_soap11_create_tender(app):
    reply = soap11(app, envelope(CREATE_TENDER))
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = reply.xml()
    assert root.tag == f"{{{SOAP11}}}Envelope"
    assert root.prefix == "soap"
    (payload,) = root.find(f"{{{SOAP11}}}Body")
    assert payload.tag == f"{{{PYLD}}}eiCreatedTender"
    assert SchemaSet.bundled().is_valid(root)
    created = codec.decode(payload)
    assert created.tender_ids == ("T-1",)


def test_soap12_create_tender_with_and_without_action(app):
    for operation in ("EiCreateTender", None):
        reply = soap12(app, envelope(CREATE_TENDER, SOAP_1_2), operation)
        assert reply.status == 200
        assert reply.headers["Content-Type"] == "application/soap+xml; charset=utf-8"
        root = reply.xml()
        assert root.tag == f"{{{SOAP12}}}Envelope"
        assert root.find(f"{{{SOAP12}}}Body/{{{PYLD}}}eiCreatedTender") is not None


@pytest.mark.parametrize("version", [SOAP_1_1, SOAP_1_2], ids=["soap11", "soap12"])
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_operation_dispatches_on_its_request_element(app, name, version):
    operation = OPERATIONS[name]
    body = envelope(EXAMPLES[operation.request], version)
    reply = (soap11 if version is SOAP_1_1 else soap12)(app, body, name)
    assert reply.status == 200, reply.body
    (payload,) = reply.xml().find(f"{{{version.envelope_ns}}}Body")
    assert payload.tag == operation.response


def test_the_handler_sees_the_version_action_and_raw_bytes():
    seen = []

    def handler(payload, context):
        seen.append(context)
        return created_tender(payload, context)

    app = SoapApplication({"EiCreateTender": handler})
    body = envelope(CREATE_TENDER, SOAP_1_2)
    assert soap12(app, body).status == 200
    (context,) = seen
    assert context.version is SOAP_1_2
    assert context.soap_action == action_of("EiCreateTender")
    assert context.raw == body


# --- HTTP -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_only_post_and_get_reach_the_endpoint(method):
    called = []
    app = SoapApplication({"EiCreateTender": lambda payload, ctx: called.append(1)})
    reply = call(app, method, envelope(CREATE_TENDER), content_type="text/xml")
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, POST"
    assert not called


def test_a_get_without_a_contract_query_is_405(app):
    reply = call(app, "GET", query="operation=EiCreateTender")
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, POST"


def test_health(app):
    reply = call(app, "GET", path="/health")
    assert reply.status == 200
    assert json.loads(reply.body) == {"status": "ok"}
    posted = call(app, "POST", path="/health")
    assert (posted.status, posted.headers["Allow"]) == (405, "GET")


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "text/plain", "application/xml", "multipart/related"]
)
def test_a_non_soap_content_type_is_415(app, content_type):
    reply = call(app, body=envelope(CREATE_TENDER), content_type=content_type, soap_action='""')
    assert reply.status == 415


# --- The byte cap: 413, before reading the body ---------------------------------------------------


def test_a_content_length_over_the_cap_is_413_without_reading_the_body():
    app = SoapApplication(stub_handlers(), limits=SoapLimits(max_bytes=1000))
    reply = call(
        app,
        content_type="text/xml",
        soap_action='""',
        content_length="1001",
        stream=UnreadableStream(),
    )
    assert reply.status == 413


def test_a_body_without_content_length_is_read_only_up_to_the_cap():
    app = SoapApplication(stub_handlers(), limits=SoapLimits(max_bytes=1000))
    stream = io.BytesIO(b"<" * 100_000)
    reply = call(
        app,
        content_type="text/xml",
        soap_action='""',
        content_length="",
        stream=stream,
        extra={"wsgi.input_terminated": True},
    )
    assert reply.status == 413
    assert stream.tell() == 1001


def test_a_body_without_content_length_on_a_server_that_cannot_end_it_is_411(app):
    reply = call(app, content_type="text/xml", content_length="", stream=UnreadableStream())
    assert reply.status == 411


def test_a_malformed_content_length_is_400(app):
    reply = call(app, content_type="text/xml", content_length="12x", stream=UnreadableStream())
    assert reply.status == 400


def test_a_body_within_the_cap_is_served():
    body = envelope(CREATE_TENDER)
    app = SoapApplication(stub_handlers(), limits=SoapLimits(max_bytes=len(body)))
    assert soap11(app, body).status == 200


# --- Parsing --------------------------------------------------------------------------------------

INTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE e:Envelope [<!ENTITY v "hello">]>
<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>&v;</e:Body></e:Envelope>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>&lol3;</e:Body></e:Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE e:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>&x;</e:Body></e:Envelope>"""


@pytest.mark.parametrize(
    "body", [INTERNAL_ENTITY, BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["internal", "laughs", "xxe"]
)
def test_a_doctype_is_refused_and_the_next_request_is_served(app, body):
    reason = client_fault(soap11(app, body))
    assert "DOCTYPE" in reason
    assert b"root:" not in soap11(app, body).body
    assert soap11(app, envelope(CREATE_TENDER)).status == 200


def test_not_well_formed_xml_is_a_client_fault(app):
    reason = client_fault(soap12(app, b"<e:Envelope xmlns:e='x'><unclosed>", None), SOAP_1_2)
    assert reason.startswith("the request is not acceptable XML: not well-formed")


def test_a_too_deep_document_is_a_client_fault():
    app = SoapApplication(stub_handlers(), limits=SoapLimits(max_depth=10))
    deep = b"<a>" * 20 + b"</a>" * 20
    assert "nesting deeper than 10" in client_fault(soap11(app, envelope(deep)))


# --- SOAP versions --------------------------------------------------------------------------------


def test_an_unknown_envelope_namespace_is_a_soap11_version_mismatch(app):
    body = envelope(CREATE_TENDER).replace(SOAP11.encode(), b"urn:not-soap")
    reply = soap11(app, body)
    fault = fault_of(reply, SOAP_1_1)
    assert (reply.status, fault.code) == (500, "soap:VersionMismatch")


def test_a_soap11_envelope_sent_as_soap12_is_a_version_mismatch_with_upgrade(app):
    reply = soap12(app, envelope(CREATE_TENDER, SOAP_1_1))
    fault = fault_of(reply, SOAP_1_2)
    assert (reply.status, fault.code) == (500, "soap12:VersionMismatch")
    upgrade = fault.envelope.find(f"{{{SOAP12}}}Header/{{{SOAP12}}}Upgrade")
    supported = set()
    for element in upgrade.iterchildren(f"{{{SOAP12}}}SupportedEnvelope"):
        prefix, local = element.get("qname").split(":")
        supported.add(f"{{{element.nsmap[prefix]}}}{local}")
    assert supported == {f"{{{SOAP11}}}Envelope", f"{{{SOAP12}}}Envelope"}


def test_a_soap12_envelope_sent_as_soap11_is_a_version_mismatch(app):
    reply = soap11(app, envelope(CREATE_TENDER, SOAP_1_2))
    assert fault_of(reply, SOAP_1_1).code == "soap:VersionMismatch"


def test_a_soap_namespace_root_that_is_not_an_envelope_is_refused(app):
    body = f'<e:Body xmlns:e="{SOAP11}"/>'.encode()
    assert "not a SOAP Envelope" in client_fault(soap11(app, body))


# --- Structure ------------------------------------------------------------------------------------


def _raw_envelope(inside: str, version: SoapVersion = SOAP_1_1) -> bytes:
    return f'<e:Envelope xmlns:e="{version.envelope_ns}">{inside}</e:Envelope>'.encode()


PAYLOAD = etree.tostring(CREATE_TENDER).decode()


@pytest.mark.parametrize(
    "inside",
    [
        "",
        "<e:Header/>",
        f"<e:Body>{PAYLOAD}</e:Body><e:Body>{PAYLOAD}</e:Body>",
        f"<e:Body>{PAYLOAD}</e:Body><e:Header/>",
        f"<e:Body>{PAYLOAD}</e:Body><trailer/>",
        f"<e:Header/><e:Header/><e:Body>{PAYLOAD}</e:Body>",
        f"text<e:Body>{PAYLOAD}</e:Body>",
    ],
    ids=["empty", "no-body", "two-bodies", "header-last", "after-body", "two-headers", "text"],
)
@pytest.mark.parametrize("version", [SOAP_1_1, SOAP_1_2], ids=["soap11", "soap12"])
def test_a_malformed_envelope_is_a_client_fault(app, inside, version):
    send = soap11 if version is SOAP_1_1 else soap12
    reason = client_fault(send(app, _raw_envelope(inside, version)), version)
    assert reason.startswith("the Envelope")


@pytest.mark.parametrize("inside", ["", f"{PAYLOAD}{PAYLOAD}"], ids=["empty", "two"])
def test_the_body_holds_exactly_one_payload(app, inside):
    reason = client_fault(soap11(app, _raw_envelope(f"<e:Body>{inside}</e:Body>")))
    assert "expected exactly one payload" in reason


def test_comments_around_the_payload_are_fine(app):
    body = _raw_envelope(f"<!-- c --><e:Body><!-- c -->{PAYLOAD}<!-- c --></e:Body>")
    assert soap11(app, body).status == 200


# --- Headers and mustUnderstand -------------------------------------------------------------------

TRACE = "urn:example:trace"


def test_an_unknown_mandatory_header_is_a_soap11_must_understand_fault(app):
    header = f'<t:trace xmlns:t="{TRACE}" e:mustUnderstand="1">x</t:trace>'
    reply = soap11(app, envelope(CREATE_TENDER, header=header))
    fault = fault_of(reply, SOAP_1_1)
    assert (reply.status, fault.code) == (500, "soap:MustUnderstand")
    assert f"{{{TRACE}}}trace" in fault.reason


@pytest.mark.parametrize("value", ["true", "1"])
def test_an_unknown_mandatory_header_is_a_soap12_must_understand_fault(app, value):
    header = f'<t:trace xmlns:t="{TRACE}" e:mustUnderstand="{value}">x</t:trace>'
    reply = soap12(app, envelope(CREATE_TENDER, SOAP_1_2, header=header))
    fault = fault_of(reply, SOAP_1_2)
    assert (reply.status, fault.code) == (500, "soap12:MustUnderstand")
    (not_understood,) = fault.envelope.find(f"{{{SOAP12}}}Header")
    assert not_understood.tag == f"{{{SOAP12}}}NotUnderstood"
    prefix, local = not_understood.get("qname").split(":")
    assert (not_understood.nsmap[prefix], local) == (TRACE, "trace")


def test_must_understand_is_checked_before_any_processing():
    called = []
    app = SoapApplication(
        stub_handlers(), request_filter=lambda env, body, ctx: called.append(1) or body
    )
    header = f'<t:trace xmlns:t="{TRACE}" e:mustUnderstand="1"/>'
    body = envelope(b"<unknown/>", header=header)
    reply = soap11(app, body, soap_action='"wrong"')
    assert fault_of(reply, SOAP_1_1).code == "soap:MustUnderstand"
    assert not called


@pytest.mark.parametrize(
    ("version", "attributes"),
    [
        (SOAP_1_1, ""),
        (SOAP_1_1, 'e:mustUnderstand="0"'),
        (SOAP_1_2, 'e:mustUnderstand="false"'),
        (SOAP_1_1, 'e:mustUnderstand="1" e:actor="urn:some-other-node"'),
        (SOAP_1_2, 'e:mustUnderstand="true" e:role="urn:some-other-node"'),
        (
            SOAP_1_2,
            'e:mustUnderstand="true" e:role="http://www.w3.org/2003/05/soap-envelope/role/none"',
        ),
    ],
    ids=["plain", "mu0", "mu-false", "other-actor", "other-role", "role-none"],
)
def test_headers_we_need_not_understand_pass(app, version, attributes):
    header = f'<t:trace xmlns:t="{TRACE}" {attributes}>x</t:trace>'
    send = soap11 if version is SOAP_1_1 else soap12
    assert send(app, envelope(CREATE_TENDER, version, header=header)).status == 200


@pytest.mark.parametrize("version", [SOAP_1_1, SOAP_1_2], ids=["soap11", "soap12"])
def test_a_mandatory_header_that_is_understood_passes(version):
    app = SoapApplication(stub_handlers(), understood_headers=[f"{{{TRACE}}}trace"])
    value = "1" if version is SOAP_1_1 else "true"
    header = f'<t:trace xmlns:t="{TRACE}" e:mustUnderstand="{value}">x</t:trace>'
    send = soap11 if version is SOAP_1_1 else soap12
    assert send(app, envelope(CREATE_TENDER, version, header=header)).status == 200


def test_a_soap11_must_understand_that_is_not_0_or_1_is_a_client_fault(app):
    header = f'<t:trace xmlns:t="{TRACE}" e:mustUnderstand="true"/>'
    reason = client_fault(soap11(app, envelope(CREATE_TENDER, header=header)))
    assert "is not a SOAP 1.1 boolean" in reason


# --- Dispatch and SOAPAction ----------------------------------------------------------------------


def test_an_unknown_body_element_is_a_client_fault_naming_it(app):
    reply = soap11(app, envelope(b'<x:eiDoSomething xmlns:x="urn:x"/>'))
    assert client_fault(reply) == "no operation takes the element {urn:x}eiDoSomething"
    response_element = etree.tostring(EXAMPLES[OPERATIONS["EiCreateTender"].response])
    reply = soap12(app, envelope(response_element, SOAP_1_2))
    assert client_fault(reply, SOAP_1_2) == "no operation takes the element pyld:eiCreatedTender"


def test_a_soap11_action_of_another_operation_is_refused():
    called = []
    app = SoapApplication({"EiCancelTender": lambda payload, ctx: called.append(1)})
    reply = soap11(app, envelope(CREATE_TENDER), "EiCancelTender")
    assert "the SOAPAction does not match the Body" in client_fault(reply)
    assert not called


def test_a_soap12_action_of_another_operation_is_refused(app):
    reply = soap12(app, envelope(CREATE_TENDER, SOAP_1_2), "EiCancelTender")
    assert "does not match" in client_fault(reply, SOAP_1_2)


def test_a_soap11_request_needs_a_soap_action(app):
    reply = call(app, body=envelope(CREATE_TENDER), content_type="text/xml")
    assert "needs a SOAPAction" in client_fault(reply)
    assert "does not match" in client_fault(soap11(app, envelope(CREATE_TENDER), soap_action='""'))


def test_an_unquoted_soap_action_is_accepted(app):
    reply = soap11(app, envelope(CREATE_TENDER), soap_action=action_of("EiCreateTender"))
    assert reply.status == 200


# --- Validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [SOAP_1_1, SOAP_1_2], ids=["soap11", "soap12"])
def test_an_invalid_payload_names_the_first_problem(app, version):
    payload = etree.parse(str(EXAMPLES_INVALID / "negative-quantity.xml")).getroot()
    (first, *_) = SchemaSet.bundled().problems(payload)
    send = soap11 if version is SOAP_1_1 else soap12
    reason = client_fault(send(app, envelope(payload, version), "EiCreateTender"), version)
    assert reason == f"the EiCreateTender request is not valid: {first.path}: {first.reason}"


def _app_with_create_tender(handler) -> SoapApplication:
    return SoapApplication({"EiCreateTender": handler})


def test_a_handler_returning_an_invalid_reply_is_a_receiver_fault(caplog):
    def invalid_reply(payload, context):
        reply = created_tender(payload, context)
        reply.insert(0, etree.Element("unexpected"))
        return reply

    app = _app_with_create_tender(invalid_reply)
    with caplog.at_level(logging.ERROR, logger="temix.server.soap"):
        reply = soap12(app, envelope(CREATE_TENDER, SOAP_1_2))
    assert server_fault(reply, SOAP_1_2) == "the server could not produce a valid reply"
    assert "EiCreateTender handler returned an invalid reply" in caplog.text
    assert b"unexpected" not in reply.body


def test_a_handler_returning_the_wrong_element_is_a_server_fault(caplog):
    app = _app_with_create_tender(lambda payload, ctx: payload)
    with caplog.at_level(logging.ERROR, logger="temix.server.soap"):
        reply = soap11(app, envelope(CREATE_TENDER))
    assert server_fault(reply) == "the server could not produce a valid reply"
    assert "instead of a" in caplog.text


def test_an_exception_in_a_handler_is_a_generic_server_fault(caplog):
    def broken(payload, context):
        raise RuntimeError("database password is hunter2")

    app = _app_with_create_tender(broken)
    with caplog.at_level(logging.ERROR, logger="temix.server.soap"):
        reply = soap11(app, envelope(CREATE_TENDER))
    assert server_fault(reply) == "internal server error"
    assert b"hunter2" not in reply.body
    assert "hunter2" in caplog.text


def test_a_handler_may_answer_with_a_fault():
    def refuse(payload, context):
        raise SoapFault(FaultCode.CLIENT, "no tenders today")

    app = _app_with_create_tender(refuse)
    assert client_fault(soap12(app, envelope(CREATE_TENDER, SOAP_1_2)), SOAP_1_2) == (
        "no tenders today"
    )


def test_an_operation_without_a_handler_is_a_server_fault():
    app = SoapApplication({})
    assert server_fault(soap11(app, envelope(CREATE_TENDER))) == (
        "the operation EiCreateTender is not available"
    )


# --- The request filter seam ----------------------------------------------------------------------


def refuse_security(envelope_element, body, context):
    raise SoapFault(FaultCode.CLIENT, "security check failed", subcode=INVALID_SECURITY)


def test_the_request_filter_sees_the_envelope_before_dispatch():
    seen = []
    app = SoapApplication(
        stub_handlers(),
        request_filter=lambda env, body, ctx: seen.append((env.tag, ctx.version)) or body,
    )
    assert soap11(app, envelope(CREATE_TENDER)).status == 200
    assert seen == [(f"{{{SOAP11}}}Envelope", SOAP_1_1)]


def test_the_body_the_request_filter_returns_is_the_one_dispatched():
    """The WS-Security layer hands back the signed copy of the Body: that copy is acted on."""
    replacement = etree.Element(f"{{{SOAP11}}}Body")
    replacement.append(copy.deepcopy(CREATE_TENDER))
    app = SoapApplication(stub_handlers(), request_filter=lambda env, body, ctx: replacement)
    reply = soap11(app, envelope(b'<x:unknown xmlns:x="urn:x"/>'))
    assert reply.status == 200


def test_the_reply_signer_makes_the_bytes_of_every_soap_reply_faults_included():
    signed: list[bytes] = []

    def reply_signer(body: bytes) -> bytes:
        signed.append(body)
        return body + b"<!--signed-->"

    exchanges: list = []
    app = SoapApplication(stub_handlers(), reply_signer=reply_signer, observer=exchanges.append)
    served = soap11(app, envelope(CREATE_TENDER))
    refused = soap11(app, envelope(b'<x:unknown xmlns:x="urn:x"/>'))
    too_large = soap11(app, b"x" * (app.limits.max_bytes + 1))
    assert served.body.endswith(b"<!--signed-->") and refused.body.endswith(b"<!--signed-->")
    assert len(signed) == 2
    assert not too_large.body.endswith(b"<!--signed-->")
    assert [exchange.response for exchange in exchanges[:2]] == [served.body, refused.body]


def test_a_request_filter_fault_comes_before_dispatch_soap11():
    app = SoapApplication(stub_handlers(), request_filter=refuse_security)
    reply = soap11(app, envelope(b'<x:unknown xmlns:x="urn:x"/>'))
    fault = fault_of(reply, SOAP_1_1)
    assert (reply.status, fault.reason) == (500, "security check failed")
    prefix, local = fault.code.split(":")
    assert (fault.envelope.nsmap[prefix], local) == (WSSE, "InvalidSecurity")


def test_a_request_filter_fault_soap12_has_a_subcode():
    app = SoapApplication(stub_handlers(), request_filter=refuse_security)
    reply = soap12(app, envelope(CREATE_TENDER, SOAP_1_2))
    fault = fault_of(reply, SOAP_1_2)
    assert (reply.status, fault.code, fault.subcode) == (
        400,
        "soap12:Sender",
        "wsse:InvalidSecurity",
    )
    assert fault.envelope.nsmap["wsse"] == WSSE


# --- Serving the contract -------------------------------------------------------------------------


def _get(app, url: str) -> bytes:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == f"http://{HOST}"
    reply = call(app, "GET", path=parts.path.removeprefix("/base"), query=parts.query)
    assert reply.status == 200, url
    assert reply.headers["Content-Type"] == "text/xml; charset=utf-8"
    return reply.body


def _addresses(document: etree._Element) -> list[str]:
    return [
        address.get("location")
        for ns in (
            "http://schemas.xmlsoap.org/wsdl/soap/",
            "http://schemas.xmlsoap.org/wsdl/soap12/",
        )
        for address in document.iter(f"{{{ns}}}address")
    ]


def _locations(document: etree._Element) -> list[str]:
    return [
        element.get("schemaLocation")
        for element in document.iter(f"{{{XSD_NS}}}import", f"{{{XSD_NS}}}include")
        if element.get("schemaLocation") is not None
    ]


def test_the_wsdl_is_served_with_this_servers_address(app):
    document = etree.fromstring(_get(app, f"{ENDPOINT}?wsdl"))
    addresses = _addresses(document)
    assert len(addresses) == 14
    assert set(addresses) == {ENDPOINT}
    assert len(document.findall(f"{{{WSDL_NS}}}binding")) == 14


def test_every_import_resolves_against_the_served_urls(app):
    pending = deque([f"{ENDPOINT}?wsdl"])
    fetched: dict[str, etree._Element] = {}
    while pending:
        url = pending.popleft()
        if url in fetched:
            continue
        fetched[url] = document = etree.fromstring(_get(app, url))
        for location in _locations(document):
            assert location.startswith(f"{ENDPOINT}?xsd="), location
            pending.append(location)
    served = {url.split("?xsd=")[1] for url in fetched if "?xsd=" in url}
    bundled = {path.name for path in XSD_DIR.glob("*.xsd")}
    assert served == bundled - {"temix.xsd"}


def test_an_xsd_is_served_verbatim_but_for_its_import_locations(app):
    path = XSD_DIR / "ei-payloads-temix.xsd"
    original = etree.parse(str(path)).getroot()
    served = etree.fromstring(_get(app, f"{ENDPOINT}?xsd=ei-payloads-temix.xsd"))
    for element in original.iter(f"{{{XSD_NS}}}import"):
        element.set("schemaLocation", f"{ENDPOINT}?xsd={element.get('schemaLocation')}")
    assert etree.tostring(served, method="c14n") == etree.tostring(original, method="c14n")


def test_an_unknown_xsd_is_404(app):
    for name in ("nope.xsd", "../wsdl/temix.wsdl", "/etc/passwd"):
        assert call(app, "GET", query=f"xsd={name}").status == 404


def test_the_single_wsdl_is_served_with_this_servers_address(app):
    document = etree.fromstring(_get(app, f"{ENDPOINT}?singleWsdl"))
    assert set(_addresses(document)) == {ENDPOINT}
    assert _locations(document) == []
    schemas = document.findall(f"{{{WSDL_NS}}}types/{{{XSD_NS}}}schema")
    assert f"{{{PYLD}}}" in "".join(f"{{{s.get('targetNamespace')}}}" for s in schemas)


def test_a_public_url_overrides_the_request_url():
    app = SoapApplication({}, public_url="https://temix.example/soap")
    document = etree.fromstring(call(app, "GET", query="wsdl").body)
    assert set(_addresses(document)) == {"https://temix.example/soap"}
    assert all(loc.startswith("https://temix.example/soap?xsd=") for loc in _locations(document))


class InProcessTransport(zeep.Transport):
    """A zeep transport whose GETs go into the WSGI application, never onto the network."""

    def __init__(self, app: SoapApplication) -> None:
        super().__init__()
        self.app = app

    def _load_remote_data(self, url: str) -> bytes:
        return _get(self.app, url)


def test_zeep_loads_the_served_wsdl_and_sees_every_operation(app):
    client = zeep.Client(f"{ENDPOINT}?wsdl", transport=InProcessTransport(app))
    seen = set()
    for service in client.wsdl.services.values():
        for port in service.ports.values():
            assert port.binding_options["address"] == ENDPOINT
            seen.update(port.binding._operations)
    assert seen == set(OPERATIONS)
