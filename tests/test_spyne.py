"""The same SOAP behaviour through every binding of ``tests/bindings.py``, driven in-process."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from lxml import etree

from bindings import (
    BINDINGS,
    REMOTE_ADDRESS,
    Reply,
    WSGIApp,
    binding_params,
    call,
    envelope,
    first_example_of_each_element,
    soap_post,
)
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion
from temix.namespaces import EI_WSDL, SOAP12
from temix.schemas import EXAMPLES_INVALID
from temix.server.security import INVALID_SECURITY
from temix.server.soap import (
    Exchange,
    FaultCode,
    RequestContext,
    SoapApplication,
    SoapFault,
    SoapLimits,
    load_operations,
)
from temix.validation import SchemaSet
from temix.wssecurity import WSSE

OPERATIONS = load_operations()
VERSIONS = pytest.mark.parametrize("version", [SOAP_1_1, SOAP_1_2], ids=["soap11", "soap12"])
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
TRACE = "urn:example:trace"
RECEIVED = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


EXAMPLES = first_example_of_each_element()
CREATE_TENDER = EXAMPLES[OPERATIONS["EiCreateTender"].request]


@dataclass
class Served:
    """A binding serving echo-like handlers that record each call and answer with the valid
    example of the operation's reply."""

    app: WSGIApp
    calls: list[tuple[str, str, RequestContext]]


def _recording_handlers(calls: list) -> dict:
    def handler_for(name: str):
        reply = EXAMPLES[OPERATIONS[name].response]

        def handler(payload: etree._Element, context: RequestContext) -> etree._Element:
            calls.append((name, payload.tag, context))
            return copy.deepcopy(reply)

        return handler

    return {name: handler_for(name) for name in OPERATIONS}


@pytest.fixture(scope="module", params=binding_params())
def binding(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def served(binding: str) -> Served:
    calls: list = []
    return Served(BINDINGS[binding](_recording_handlers(calls)), calls)


@pytest.fixture
def fresh(served: Served) -> Served:
    served.calls.clear()
    return served


def post(
    app: WSGIApp, body: bytes, version: SoapVersion, operation: str | None = "EiCreateTender"
) -> Reply:
    """A SOAP POST with the SOAPAction of ``operation`` (none if it is None)."""
    action = None if operation is None else OPERATIONS[operation].soap_actions[version]
    return soap_post(app, body, version, action)


def _resolved(element: etree._Element) -> str:
    """A QName written in an element's text, in Clark notation."""
    prefix, _, local = element.text.strip().rpartition(":")
    return f"{{{element.nsmap[prefix]}}}{local}"


@dataclass
class Fault:
    reason: str
    envelope: etree._Element


def fault_of(
    reply: Reply, version: SoapVersion, code: FaultCode, subcode: str | None = None
) -> Fault:
    """The fault in ``reply``, after checking its HTTP status, Content-Type and codes (SOAP 1.1
    has no subcodes: a subcode replaces the faultcode, the WS-Security convention)."""
    assert reply.headers["Content-Type"] == version.content_type
    assert b"Traceback" not in reply.body
    root = reply.xml()
    ns = version.envelope_ns
    assert root.tag == f"{{{ns}}}Envelope"
    (fault,) = root.findall(f"{{{ns}}}Body/{{{ns}}}Fault")
    soap11_local, soap12_local, soap12_status = code.value
    if version is SOAP_1_1:
        assert reply.status == 500
        assert _resolved(fault.find("faultcode")) == (subcode or f"{{{ns}}}{soap11_local}")
        return Fault(fault.findtext("faultstring"), root)
    assert reply.status == soap12_status
    assert _resolved(fault.find(f"{{{ns}}}Code/{{{ns}}}Value")) == f"{{{ns}}}{soap12_local}"
    subcode_value = fault.find(f"{{{ns}}}Code/{{{ns}}}Subcode/{{{ns}}}Value")
    assert (None if subcode_value is None else _resolved(subcode_value)) == subcode
    return Fault(fault.findtext(f"{{{ns}}}Reason/{{{ns}}}Text"), root)


# --- Success --------------------------------------------------------------------------------


@VERSIONS
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_operation_reaches_its_handler_and_answers_in_the_request_version(
    fresh, name, version
):
    operation = OPERATIONS[name]
    body = envelope(EXAMPLES[operation.request], version)
    reply = post(fresh.app, body, version, name)
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"] == version.content_type
    root = reply.xml()
    assert root.tag == f"{{{version.envelope_ns}}}Envelope"
    (payload,) = root.find(f"{{{version.envelope_ns}}}Body")
    assert payload.tag == operation.response
    assert SchemaSet.bundled().is_valid(root)
    ((called, request_tag, context),) = fresh.calls
    assert (called, request_tag) == (name, operation.request)
    assert (context.version, context.soap_action, context.raw) == (
        version,
        operation.soap_actions[version],
        body,
    )


def test_a_soap12_request_without_action_is_dispatched_on_its_payload(fresh):
    reply = post(fresh.app, envelope(CREATE_TENDER, SOAP_1_2), SOAP_1_2, operation=None)
    assert reply.status == 200
    assert [name for name, _, _ in fresh.calls] == ["EiCreateTender"]


# --- Refused requests -----------------------------------------------------------------------


@VERSIONS
def test_an_invalid_payload_is_a_client_fault_naming_the_first_problem(fresh, version):
    payload = etree.parse(str(EXAMPLES_INVALID / "negative-quantity.xml")).getroot()
    (first, *_) = SchemaSet.bundled().problems(payload)
    reply = post(fresh.app, envelope(payload, version), version)
    fault = fault_of(reply, version, FaultCode.CLIENT)
    assert fault.reason == f"the EiCreateTender request is not valid: {first.path}: {first.reason}"
    assert not fresh.calls


@VERSIONS
def test_an_unknown_payload_element_is_a_client_fault_naming_it(fresh, version):
    body = envelope(b'<x:eiDoSomething xmlns:x="urn:x"/>', version)
    fault = fault_of(post(fresh.app, body, version), version, FaultCode.CLIENT)
    assert fault.reason == "no operation takes the element {urn:x}eiDoSomething"


def test_a_soap_action_of_another_operation_is_refused(fresh):
    reply = post(fresh.app, envelope(CREATE_TENDER), SOAP_1_1, "EiCancelTender")
    fault = fault_of(reply, SOAP_1_1, FaultCode.CLIENT)
    assert fault.reason.startswith("the SOAPAction does not match the Body")
    assert not fresh.calls


INTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE e:Envelope [<!ENTITY v "hello">]>
<e:Envelope xmlns:e="ENVELOPE"><e:Body><x:ping xmlns:x="urn:x">&v;</x:ping></e:Body></e:Envelope>"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<e:Envelope xmlns:e="ENVELOPE"><e:Body>&lol3;</e:Body></e:Envelope>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE e:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<e:Envelope xmlns:e="ENVELOPE"><e:Body>&x;</e:Body></e:Envelope>"""


@VERSIONS
@pytest.mark.parametrize(
    "document",
    [INTERNAL_ENTITY, BILLION_LAUGHS, EXTERNAL_ENTITY],
    ids=["internal", "laughs", "xxe"],
)
def test_a_doctype_is_refused_and_the_next_request_is_served(fresh, document, version):
    body = document.replace(b"ENVELOPE", version.envelope_ns.encode())
    reply = post(fresh.app, body, version)
    fault = fault_of(reply, version, FaultCode.CLIENT)
    assert fault.reason == "the request is not acceptable XML: a DOCTYPE (DTD) is not allowed"
    assert b"root:" not in reply.body
    assert not fresh.calls
    assert post(fresh.app, envelope(CREATE_TENDER, version), version).status == 200


def test_an_unknown_mandatory_header_is_a_soap11_must_understand_fault(fresh):
    header = f'<t:trace xmlns:t="{TRACE}" e:mustUnderstand="1">x</t:trace>'
    reply = post(fresh.app, envelope(CREATE_TENDER, header=header), SOAP_1_1)
    fault = fault_of(reply, SOAP_1_1, FaultCode.MUST_UNDERSTAND)
    assert fault.reason == f"header {{{TRACE}}}trace is not understood"
    assert not fresh.calls


def test_an_unknown_mandatory_header_is_a_soap12_must_understand_fault(fresh):
    header = f'<t:trace xmlns:t="{TRACE}" e:mustUnderstand="true">x</t:trace>'
    reply = post(fresh.app, envelope(CREATE_TENDER, SOAP_1_2, header=header), SOAP_1_2)
    fault = fault_of(reply, SOAP_1_2, FaultCode.MUST_UNDERSTAND)
    (not_understood,) = fault.envelope.find(f"{{{SOAP12}}}Header")
    assert not_understood.tag == f"{{{SOAP12}}}NotUnderstood"
    prefix, local = not_understood.get("qname").split(":")
    assert (not_understood.nsmap[prefix], local) == (TRACE, "trace")
    assert not fresh.calls


@VERSIONS
def test_only_mandatory_headers_for_us_that_nobody_understands_are_refused(binding, version):
    role = "actor" if version is SOAP_1_1 else "role"
    mandatory = "1" if version is SOAP_1_1 else "true"
    headers = (
        f'<t:trace xmlns:t="{TRACE}" e:mustUnderstand="{mandatory}" e:{role}="urn:other"/>'
        f'<t:span xmlns:t="{TRACE}" e:mustUnderstand="{mandatory}"/>'
    )
    body = envelope(CREATE_TENDER, version, header=headers)
    plain = BINDINGS[binding](_recording_handlers([]))
    fault = fault_of(post(plain, body, version), version, FaultCode.MUST_UNDERSTAND)
    assert fault.reason == f"header {{{TRACE}}}span is not understood"
    understanding = BINDINGS[binding](
        _recording_handlers([]), understood_headers=[f"{{{TRACE}}}span"]
    )
    assert post(understanding, body, version).status == 200


def test_a_soap11_envelope_sent_as_soap12_is_a_version_mismatch_with_upgrade(fresh):
    reply = post(fresh.app, envelope(CREATE_TENDER, SOAP_1_1), SOAP_1_2)
    fault = fault_of(reply, SOAP_1_2, FaultCode.VERSION_MISMATCH)
    upgrade = fault.envelope.find(f"{{{SOAP12}}}Header/{{{SOAP12}}}Upgrade")
    supported = set()
    for element in upgrade.iterchildren(f"{{{SOAP12}}}SupportedEnvelope"):
        prefix, local = element.get("qname").split(":")
        supported.add(f"{{{element.nsmap[prefix]}}}{local}")
    assert supported == {f"{{{SOAP_1_1.envelope_ns}}}Envelope", f"{{{SOAP12}}}Envelope"}


def test_a_soap12_envelope_sent_as_soap11_is_a_version_mismatch(fresh):
    reply = post(fresh.app, envelope(CREATE_TENDER, SOAP_1_2), SOAP_1_1)
    fault_of(reply, SOAP_1_1, FaultCode.VERSION_MISMATCH)


@VERSIONS
def test_a_malformed_envelope_is_a_client_fault(fresh, version):
    body = envelope(CREATE_TENDER, version).replace(b"</e:Body>", b"</e:Body><trailer/>")
    fault = fault_of(post(fresh.app, body, version), version, FaultCode.CLIENT)
    assert fault.reason.startswith("the Envelope must hold an optional Header and then one Body")


# --- Handlers that fail ---------------------------------------------------------------------


def _serving(binding: str, handler) -> WSGIApp:
    return BINDINGS[binding]({"EiCreateTender": handler})


@VERSIONS
def test_an_exception_in_a_handler_is_a_generic_server_fault(binding, version, caplog):
    def broken(payload, context):
        raise RuntimeError("database password is hunter2")

    with caplog.at_level(logging.ERROR):
        reply = post(_serving(binding, broken), envelope(CREATE_TENDER, version), version)
    assert fault_of(reply, version, FaultCode.SERVER).reason == "internal server error"
    assert b"hunter2" not in reply.body
    assert "hunter2" in caplog.text


@VERSIONS
def test_a_handler_returning_an_invalid_reply_is_a_server_fault(binding, version, caplog):
    def invalid_reply(payload, context):
        reply = copy.deepcopy(EXAMPLES[OPERATIONS["EiCreateTender"].response])
        reply.insert(0, etree.Element("unexpected"))
        return reply

    with caplog.at_level(logging.ERROR):
        reply = post(_serving(binding, invalid_reply), envelope(CREATE_TENDER, version), version)
    fault = fault_of(reply, version, FaultCode.SERVER)
    assert fault.reason == "the server could not produce a valid reply"
    assert "EiCreateTender handler returned an invalid reply" in caplog.text
    assert b"unexpected" not in reply.body


@VERSIONS
def test_a_handler_may_answer_with_a_fault_and_a_subcode(binding, version):
    def refuse(payload, context):
        raise SoapFault(FaultCode.CLIENT, "no tenders today", INVALID_SECURITY)

    reply = post(_serving(binding, refuse), envelope(CREATE_TENDER, version), version)
    fault = fault_of(reply, version, FaultCode.CLIENT, subcode=f"{{{WSSE}}}InvalidSecurity")
    assert fault.reason == "no tenders today"


def test_an_operation_without_a_handler_is_a_server_fault(binding):
    app = BINDINGS[binding]({})
    reply = post(app, envelope(CREATE_TENDER), SOAP_1_1)
    fault = fault_of(reply, SOAP_1_1, FaultCode.SERVER)
    assert fault.reason == "the operation EiCreateTender is not available"


# --- The seams the server plugs into -------------------------------------------------------


@VERSIONS
def test_the_request_filter_runs_after_the_envelope_checks_and_before_dispatch(binding, version):
    seen = []

    def refuse(
        envelope_element: etree._Element, body: etree._Element, context: RequestContext
    ) -> etree._Element:
        seen.append((envelope_element.tag, context.version, context.raw))
        raise SoapFault(FaultCode.CLIENT, "security check failed", INVALID_SECURITY)

    calls: list = []
    app = BINDINGS[binding](_recording_handlers(calls), request_filter=refuse)
    unknown_payload = envelope(b'<x:eiDoSomething xmlns:x="urn:x"/>', version)
    reply = post(app, unknown_payload, version)
    fault = fault_of(reply, version, FaultCode.CLIENT, subcode=f"{{{WSSE}}}InvalidSecurity")
    assert fault.reason == "security check failed"
    assert seen == [(f"{{{version.envelope_ns}}}Envelope", version, unknown_payload)]
    mandatory = "1" if version is SOAP_1_1 else "true"
    header = f'<t:trace xmlns:t="{TRACE}" e:mustUnderstand="{mandatory}"/>'
    reply = post(app, envelope(CREATE_TENDER, version, header=header), version)
    fault_of(reply, version, FaultCode.MUST_UNDERSTAND)
    assert len(seen) == 1
    assert not calls


def _noting_handler(payload: etree._Element, context: RequestContext) -> etree._Element:
    context.notes["party_id"] = "rep"
    context.notes["outcome"] = "200"
    return copy.deepcopy(EXAMPLES[OPERATIONS["EiCreateTender"].response])


@VERSIONS
def test_the_observer_sees_each_exchange_with_its_notes_which_reach_the_environ(binding, version):
    def verify(
        envelope_element: etree._Element, body: etree._Element, context: RequestContext
    ) -> etree._Element:
        context.notes["verification"] = "unsigned"
        return body

    exchanges: list[Exchange] = []
    app = BINDINGS[binding](
        {"EiCreateTender": _noting_handler},
        request_filter=verify,
        observer=exchanges.append,
        clock=lambda: RECEIVED,
    )
    environs: list[dict] = []

    def request_log(environ: dict, start_response) -> list[bytes]:
        environs.append(environ)
        return app(environ, start_response)

    body = envelope(CREATE_TENDER, version)
    served = post(request_log, body, version)
    refused = post(request_log, body, version, "EiCancelTender")
    assert served.status == 200
    first, second = exchanges
    assert (first.received_at, first.sent_at, first.remote_address) == (
        RECEIVED,
        RECEIVED,
        REMOTE_ADDRESS,
    )
    assert (first.request, first.status, first.response) == (body, 200, served.body)
    notes = {
        "verification": "unsigned",
        "operation": "EiCreateTender",
        "party_id": "rep",
        "outcome": "200",
    }
    assert first.notes == notes
    assert (second.request, second.status, second.response) == (body, refused.status, refused.body)
    assert second.notes == {"verification": "unsigned", "outcome": "fault:Client"}
    logged = [
        {key: value for key, value in environ.items() if key.startswith("temix.")}
        for environ in environs
    ]
    assert logged == [
        {f"temix.{name}": value for name, value in notes.items()},
        {"temix.verification": "unsigned", "temix.outcome": "fault:Client"},
    ]


@VERSIONS
def test_an_exchange_the_observer_cannot_record_is_answered_with_a_server_fault(
    binding, version, caplog
):
    def unavailable_ledger(exchange: Exchange) -> None:
        raise RuntimeError("the ledger is unavailable")

    calls: list = []
    app = BINDINGS[binding](_recording_handlers(calls), observer=unavailable_ledger)
    with caplog.at_level(logging.ERROR):
        reply = post(app, envelope(CREATE_TENDER, version), version)
    fault = fault_of(reply, version, FaultCode.SERVER)
    assert fault.reason == "the server could not record the exchange"
    assert [name for name, _, _ in calls] == ["EiCreateTender"]
    assert "the ledger is unavailable" in caplog.text


# --- HTTP and the contract ------------------------------------------------------------------


def test_the_wsdl_is_our_contract(served):
    reply = call(served.app, "GET", query="wsdl")
    assert (reply.status, reply.headers["Content-Type"]) == (200, "text/xml; charset=utf-8")
    document = reply.xml()
    assert document.tag == f"{{{WSDL_NS}}}definitions"
    assert document.get("targetNamespace") == EI_WSDL
    native = call(SoapApplication({}), "GET", query="wsdl")
    assert etree.tostring(document, method="c14n") == etree.tostring(native.xml(), method="c14n")


def test_health_and_http_errors(fresh):
    health = call(fresh.app, "GET", path="/health")
    assert (health.status, json.loads(health.body)) == (200, {"status": "ok"})
    assert call(fresh.app, "PUT", envelope(CREATE_TENDER), content_type="text/xml").status == 405
    json_post = call(fresh.app, body=envelope(CREATE_TENDER), content_type="application/json")
    assert json_post.status == 415
    assert not fresh.calls


def test_a_body_over_the_cap_is_413_whether_or_not_its_length_is_announced(binding):
    body = envelope(CREATE_TENDER, SOAP_1_2)
    limits = SoapLimits(max_bytes=len(body) - 1)
    app = BINDINGS[binding](_recording_handlers([]), limits=limits)
    announced = post(app, body, SOAP_1_2)
    unannounced = call(
        app,
        body=body,
        content_type=SOAP_1_2.content_type,
        content_length="",
        extra={"wsgi.input_terminated": True},
    )
    assert (announced.status, unannounced.status) == (413, 413)


def test_a_body_of_unannounced_length_within_the_cap_is_served(binding):
    body = envelope(CREATE_TENDER, SOAP_1_2)
    app = BINDINGS[binding](_recording_handlers([]), limits=SoapLimits(max_bytes=len(body)))
    reply = call(
        app,
        body=body,
        content_type=SOAP_1_2.content_type,
        content_length="",
        extra={"wsgi.input_terminated": True},
    )
    assert reply.status == 200
