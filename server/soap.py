"""A thin WSGI SOAP 1.1 / 1.2 endpoint for the temix services, with no business logic.

The operations come from the WSDL (``schemas/wsdl/temix.wsdl``) at start-up, never from a
hand-written list. Every POST goes through the inbound pipeline of
``shared/reference/SECURITY.md`` in order:

1. HTTP: POST only, a SOAP Content-Type, a byte cap checked before the body is read;
2. one hardened parse (:func:`temix.xmlsafe.parse_bytes`);
3. SOAP structure (the Envelope namespace picks the version; optional Header, one Body,
   nothing after it) and ``mustUnderstand`` headers;
4-10. the ``request_filter`` seam, where the WS-Security layer plugs in
   (:mod:`temix.server.security`): it returns the Body to act on, the signed copy;
11. dispatch on the Body's single child, which must agree with the SOAPAction;
12. schema validation of the payload, the handler, validation of its reply;
13. the ``reply_signer`` seam: every SOAP reply, faults included, leaves through it.

Steps 2-12 run in :meth:`SoapApplication.respond`, from public pieces (:func:`parse_envelope`,
:meth:`SoapApplication.dispatch` with :func:`check_envelope` and :func:`operation_for`,
:meth:`SoapApplication.call_handler`): another SOAP stack overrides ``respond`` and runs the
same pieces at its own seams (:mod:`temix.server.spyne`), and keeps everything around them.

Decisions worth knowing: a body over the byte cap is answered ``413`` with a plain-text body
(the SOAP version is unknown until the body is read, and it is not read); a faulty request
never gets a stack trace, and an unexpected error is logged and answered with a generic
Server/Receiver fault. A VersionMismatch fault (unknown Envelope namespace, or an Envelope that
contradicts the Content-Type) is written in the version the Content-Type names, in SOAP 1.2
with an ``Upgrade`` header listing both supported envelopes.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from lxml import etree

from temix.codec import document_bytes
from temix.envelope import (
    SOAP_1_1,
    SOAP_1_2,
    SOAP_VERSIONS,
    VERSION_BY_MEDIA_TYPE,
    SoapVersion,
    media_type_of,
    parse_content_type,
    unquote,
)
from temix.namespaces import PREFIXES, SOAP12, XSD, prefixed, resolve_qname
from temix.schemas import WSDL, XSD_DIR
from temix.validation import SchemaSet
from temix.wsaddressing import (
    FAULT_ACTION,
    SOAP_FAULT_ACTION,
    WSA,
    WSAM,
    Addressing,
    AddressingError,
    check_action,
    default_action,
    fault_reply_headers,
    message_id_of,
    read_addressing,
    reply_headers,
)
from temix.wsaddressing import (
    HEADERS as ADDRESSING_HEADERS,
)
from temix.wsdl import WSDL_NS, flatten_wsdl
from temix.xmlsafe import (
    DEFAULT_MAX_ATTRIBUTES,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_ELEMENTS,
    DEFAULT_MAX_NAMESPACES,
    XmlRejected,
    parse_bytes,
    parse_own,
)

logger = logging.getLogger(__name__)

XML_NS = "http://www.w3.org/XML/1998/namespace"

HEALTH_PATH = "/health"
TLS_CLIENT_CERTIFICATE_KEY = "temix.tls_client_certificate"
"""The WSGI environ key where the host puts the DER certificate a mutual-TLS client showed."""


# --- The operation table, read from the WSDL ------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One WSDL operation: its payload elements (Clark QNames) and soapAction per version."""

    name: str
    request: str
    response: str
    soap_actions: Mapping[SoapVersion, str]
    input_action: str
    """The WS-Addressing action of the request (``wsam:Action``, else the default pattern)."""
    output_action: str


def load_operations(wsdl_path: str | Path = WSDL) -> dict[str, Operation]:
    """The operations of a document/literal WSDL 1.1, by name, with each binding's soapAction.

    Refuses a WSDL where two operations take the same request element: the server dispatches
    on that element alone (WS-I Basic Profile R2710, a unique wire signature).
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.parse(str(wsdl_path), parser).getroot()
    wsdl = f"{{{WSDL_NS}}}"

    def local_name(element: etree._Element, attribute: str) -> str:
        return etree.QName(resolve_qname(element, element.get(attribute))).localname

    part_elements: dict[str, str] = {}
    for message in root.iterchildren(wsdl + "message"):
        parts = message.findall(wsdl + "part")
        if len(parts) != 1 or parts[0].get("element") is None:
            raise ValueError(f"message {message.get('name')}: needs exactly one element part")
        part_elements[message.get("name")] = resolve_qname(parts[0], parts[0].get("element"))

    target_namespace = root.get("targetNamespace", "")
    payloads: dict[str, tuple[str, str, str, str]] = {}
    for port_type in root.iterchildren(wsdl + "portType"):
        for operation in port_type.iterchildren(wsdl + "operation"):
            name = operation.get("name")
            messages = []
            for direction, suffix in (("input", "Request"), ("output", "Response")):
                message = operation.find(wsdl + direction)
                action = message.get(f"{{{WSAM}}}Action") or default_action(
                    target_namespace, port_type.get("name"), message.get("name", name + suffix)
                )
                messages += [part_elements[local_name(message, "message")], action]
            request, input_action, response, output_action = messages
            payloads[name] = (request, response, input_action, output_action)

    actions: dict[str, dict[SoapVersion, str]] = {name: {} for name in payloads}
    for binding in root.iterchildren(wsdl + "binding"):
        version = next(
            (
                v
                for v in SOAP_VERSIONS
                if binding.find(f"{{{v.wsdl_binding_ns}}}binding") is not None
            ),
            None,
        )
        if version is None:
            continue
        for operation in binding.iterchildren(wsdl + "operation"):
            soap_operation = operation.find(f"{{{version.wsdl_binding_ns}}}operation")
            action = "" if soap_operation is None else soap_operation.get("soapAction", "")
            actions[operation.get("name")][version] = action

    operations = {
        name: Operation(name, request, response, actions[name], input_action, output_action)
        for name, (request, response, input_action, output_action) in payloads.items()
    }
    seen: dict[str, str] = {}
    for operation in operations.values():
        if operation.request in seen:
            raise ValueError(
                f"operations {seen[operation.request]} and {operation.name} take the same "
                f"request element {operation.request}"
            )
        seen[operation.request] = operation.name
    return operations


# --- Faults ---------------------------------------------------------------------------------


class FaultCode(enum.Enum):
    """The SOAP fault codes, as (SOAP 1.1 local name, SOAP 1.2 local name, SOAP 1.2 status)."""

    CLIENT = ("Client", "Sender", 400)
    SERVER = ("Server", "Receiver", 500)
    VERSION_MISMATCH = ("VersionMismatch", "VersionMismatch", 500)
    MUST_UNDERSTAND = ("MustUnderstand", "MustUnderstand", 500)


@dataclass(frozen=True)
class FaultSubcode:
    """A more precise code (e.g. ``wsse:InvalidSecurity``): SOAP 1.2 writes it as the Subcode;
    SOAP 1.1 has no subcodes, so it replaces the faultcode (the WS-Security convention)."""

    prefix: str
    namespace: str
    name: str


class SoapFault(Exception):
    """Raised anywhere in the pipeline (a request filter, a handler) to answer with a fault.

    ``reason`` goes to the client as is: never put internal details in it.
    """

    def __init__(
        self,
        code: FaultCode,
        reason: str,
        subcode: FaultSubcode | None = None,
        not_understood: tuple[str, ...] = (),
        *,
        subsubcode: FaultSubcode | None = None,
        detail: etree._Element | None = None,
        action: str = SOAP_FAULT_ACTION,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode
        self.not_understood = not_understood
        self.subsubcode = subsubcode
        self.detail = detail
        self.action = action
        """The fault's WS-Addressing action, when the request used WS-Addressing."""

    @property
    def outcome(self) -> str:
        """How the exchange ended, for its record: ``fault:`` and the SOAP 1.1 code."""
        return f"fault:{self.code.value[0]}"


def addressing_fault(error: AddressingError) -> SoapFault:
    """The SOAP fault of a WS-Addressing error, as the SOAP Binding (6.4) writes it: Sender,
    the WS-A subcode (and subsubcode), the problem as its detail, the WS-A fault action."""
    return SoapFault(
        FaultCode.CLIENT,
        error.reason,
        FaultSubcode("wsa", WSA, error.subcode),
        subsubcode=None if error.subsubcode is None else FaultSubcode("wsa", WSA, error.subsubcode),
        detail=error.detail(),
        action=FAULT_ACTION,
    )


def _fault_response(version: SoapVersion, fault: SoapFault) -> tuple[int, bytes]:
    """The HTTP status and the fault Envelope: SOAP 1.1 always 500; SOAP 1.2 by code."""
    env = f"{{{version.envelope_ns}}}"
    nsmap = {version.prefix: version.envelope_ns}
    for subcode in (fault.subcode, fault.subsubcode):
        if subcode is not None:
            nsmap[subcode.prefix] = subcode.namespace
    envelope = etree.Element(env + "Envelope", nsmap=nsmap)
    soap11_local, soap12_local, soap12_status = fault.code.value
    if version is SOAP_1_1:
        if fault.detail is not None:
            # SOAP 1.1 detail is for the Body's faults only: WS-A carries it in a header block.
            header = etree.SubElement(envelope, env + "Header")
            etree.SubElement(header, f"{{{WSA}}}FaultDetail").append(fault.detail)
        body = etree.SubElement(envelope, env + "Body")
        element = etree.SubElement(body, env + "Fault")
        code = f"{version.prefix}:{soap11_local}"
        if fault.subcode is not None:
            code = f"{fault.subcode.prefix}:{fault.subcode.name}"
        etree.SubElement(element, "faultcode").text = code
        etree.SubElement(element, "faultstring").text = fault.reason
        return 500, document_bytes(envelope)

    add_soap12_fault_headers(envelope, fault)
    body = etree.SubElement(envelope, env + "Body")
    element = etree.SubElement(body, env + "Fault")
    code = etree.SubElement(element, env + "Code")
    etree.SubElement(code, env + "Value").text = f"{version.prefix}:{soap12_local}"
    add_soap12_subcodes(code, fault)
    reason = etree.SubElement(element, env + "Reason")
    text = etree.SubElement(reason, env + "Text")
    text.set(f"{{{XML_NS}}}lang", "en")
    text.text = fault.reason
    if fault.detail is not None:
        etree.SubElement(element, env + "Detail").append(fault.detail)
    return soap12_status, document_bytes(envelope)


def add_soap12_subcodes(code: etree._Element, fault: SoapFault) -> None:
    """The fault's Subcode (and nested Subcode) inside the SOAP 1.2 ``code`` element."""
    env = f"{{{SOAP12}}}"
    parent = code
    for subcode in (fault.subcode, fault.subsubcode):
        if subcode is None:
            return
        parent = etree.SubElement(parent, env + "Subcode")
        value = etree.SubElement(parent, env + "Value", nsmap={subcode.prefix: subcode.namespace})
        value.text = f"{subcode.prefix}:{subcode.name}"


def add_soap12_fault_headers(envelope: etree._Element, fault: SoapFault) -> None:
    """Gives the SOAP 1.2 fault ``envelope`` the Header its fault calls for, before the Body:
    ``Upgrade`` for a VersionMismatch, one ``NotUnderstood`` per header for MustUnderstand
    (SOAP 1.2 part 1, 5.4.7 and 5.4.8). The blocks are built in place, so that the prefixes
    their ``qname`` attributes use stay declared whatever prefix the Envelope uses."""
    if fault.code is not FaultCode.VERSION_MISMATCH and not fault.not_understood:
        return
    env = f"{{{SOAP12}}}"
    header = etree.Element(env + "Header")
    envelope.insert(0, header)
    if fault.code is FaultCode.VERSION_MISMATCH:
        upgrade = etree.SubElement(header, env + "Upgrade")
        for version in (SOAP_1_2, SOAP_1_1):
            supported = etree.SubElement(
                upgrade,
                env + "SupportedEnvelope",
                nsmap={version.prefix: version.envelope_ns},
            )
            supported.set("qname", f"{version.prefix}:Envelope")
    for name in fault.not_understood:
        qname = etree.QName(name)
        not_understood = etree.SubElement(
            header, env + "NotUnderstood", nsmap={"hdr": qname.namespace}
        )
        not_understood.set("qname", f"hdr:{qname.localname}")


# --- The application ------------------------------------------------------------------------


@dataclass
class RequestContext:
    """What a handler (and the request filter) may know about the request besides its payload.

    ``notes`` is where the layers write what the exchange's record and log line should say:
    ``operation`` (set here), ``party_id``, ``counterparty_id``, ``request_id`` and
    ``outcome`` (the eiResponse code; set here to the fault code for a fault) by the handler,
    ``verification`` and ``verification_detail`` by the request filter. ``signer`` is who the
    request filter found signed the request (None when nothing was verified);
    ``tls_certificate`` the DER certificate the client presented over mutual TLS, if any.
    """

    version: SoapVersion
    soap_action: str | None
    raw: bytes
    notes: dict[str, str] = field(default_factory=dict)
    signer: Any = None
    tls_certificate: bytes | None = None
    uses_addressing: bool = False
    """The request carries WS-Addressing headers, so the reply (or fault) does too."""
    addressing: Addressing | None = None
    """The request's addressing properties, once read whole."""
    reply_action: str = SOAP_FAULT_ACTION
    """The reply's WS-Addressing action: the operation's output action, or its fault's."""


@dataclass(frozen=True)
class Exchange:
    """One POST as received and answered, for the observer (the message ledger)."""

    received_at: datetime
    sent_at: datetime
    remote_address: str | None
    request: bytes
    status: int
    response: bytes
    notes: Mapping[str, str]


Handler = Callable[[etree._Element, RequestContext], etree._Element]
RequestFilter = Callable[[etree._Element, etree._Element, RequestContext], etree._Element]
ReplySigner = Callable[[bytes], bytes]
Observer = Callable[[Exchange], None]


@dataclass(frozen=True)
class SoapLimits:
    """Caps on an incoming request; the parse limits are those of :func:`parse_bytes`."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_attributes: int = DEFAULT_MAX_ATTRIBUTES
    max_elements: int = DEFAULT_MAX_ELEMENTS
    max_namespaces: int = DEFAULT_MAX_NAMESPACES


@dataclass
class HttpResponse:
    """What the application answers to one request."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}


class SoapApplication:
    """The WSGI application: serves the WSDL and XSDs, and answers SOAP requests.

    ``handlers`` maps an operation name to ``handler(payload, context) -> reply payload``; an
    operation without a handler is answered with a Receiver fault. ``understood_headers`` are
    the header blocks (Clark QNames) that some layer processes, so ``mustUnderstand`` on them
    is honoured; the WS-Addressing headers always are (:mod:`temix.wsaddressing`: they are
    read after the structure checks, the action is checked against the Body's operation, and
    every reply and fault to a request that used them is addressed).
    ``request_filter(envelope, body, context)``, when given, runs after the structure checks
    and before dispatch, returns the Body to dispatch on and may raise :class:`SoapFault`: it
    is the seam for the WS-Security steps (signature, timestamp, replay),
    which hand back the signed copy of the Body. ``reply_signer(envelope_bytes)``, when given,
    turns every SOAP reply (faults included) into the bytes sent. ``public_url`` fixes the
    address the WSDL announces (behind a proxy); otherwise it is the URL each WSDL request
    came to.
    ``observer(exchange)``, when given, sees every POST with the bytes received and sent
    before the response leaves; if it raises, the client gets a Server/Receiver fault instead
    (the message ledger uses this so that nothing unrecorded is acknowledged). The notes of
    each POST are also put in the WSGI environ as ``temix.<note>`` for the request log.
    ``wsdl_policy(definitions)``, when given, edits the served WSDL and single-file WSDL once,
    at start-up: a signed server attaches its WS-SecurityPolicy (:mod:`temix.wspolicy`).

    Host it with one thread per process (or one application per thread): lxml keeps the last
    validation error log on the shared :class:`SchemaSet`, so concurrent faults could swap
    their problem texts.
    """

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        schemas: SchemaSet | None = None,
        limits: SoapLimits | None = None,
        *,
        understood_headers: Iterable[str] = (),
        request_filter: RequestFilter | None = None,
        reply_signer: ReplySigner | None = None,
        public_url: str | None = None,
        wsdl_path: str | Path = WSDL,
        observer: Observer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wsdl_policy: Callable[[etree._Element], None] | None = None,
    ) -> None:
        self.operations = load_operations(wsdl_path)
        unknown = set(handlers) - set(self.operations)
        if unknown:
            raise ValueError(f"handlers for operations the WSDL lacks: {sorted(unknown)}")
        self.handlers = dict(handlers)
        self.schemas = schemas if schemas is not None else SchemaSet.bundled()
        self.limits = limits or SoapLimits()
        self.understood_headers = frozenset(understood_headers) | ADDRESSING_HEADERS
        self.request_filter = request_filter
        self.reply_signer = reply_signer
        self.public_url = public_url
        self.observer = observer
        self.clock = clock
        self._operations_by_request = {
            version: {
                operation.request: operation
                for operation in self.operations.values()
                if version in operation.soap_actions
            }
            for version in SOAP_VERSIONS
        }
        self._documents = _ServedDocuments(Path(wsdl_path), wsdl_policy)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        try:
            response = self._route(environ)
        except Exception:
            logger.exception("unexpected error outside the SOAP pipeline")
            response = HttpResponse(500, b"internal error\n")
        headers = [("Content-Type", response.content_type), *response.headers]
        headers.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {_REASONS[response.status]}", headers)
        return [response.body]

    # --- routing and GETs

    def _route(self, environ: dict[str, Any]) -> HttpResponse:
        method = environ.get("REQUEST_METHOD", "GET")
        if environ.get("PATH_INFO", "") == HEALTH_PATH:
            if method != "GET":
                return HttpResponse(405, b"GET only\n", headers=[("Allow", "GET")])
            return HttpResponse(200, json.dumps({"status": "ok"}).encode(), "application/json")
        if method == "POST":
            return self._post(environ)
        if method == "GET":
            return self._get(environ)
        return HttpResponse(
            405, b"POST (SOAP) or GET (?wsdl) only\n", headers=[("Allow", "GET, POST")]
        )

    def _get(self, environ: dict[str, Any]) -> HttpResponse:
        query = {
            key.lower(): value
            for key, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        }
        endpoint = self.public_url or _request_url(environ)
        xml = "text/xml; charset=utf-8"
        if "wsdl" in query:
            return HttpResponse(200, self._documents.wsdl(endpoint), xml)
        if "singlewsdl" in query:
            return HttpResponse(200, self._documents.single_wsdl(endpoint), xml)
        if "xsd" in query:
            schema = self._documents.xsd(query["xsd"], endpoint)
            if schema is None:
                return HttpResponse(404, b"no such schema\n")
            return HttpResponse(200, schema, xml)
        return HttpResponse(
            405,
            b"GET serves ?wsdl, ?singleWsdl and ?xsd=NAME only\n",
            headers=[("Allow", "GET, POST")],
        )

    # --- POST: the SOAP pipeline

    def _post(self, environ: dict[str, Any]) -> HttpResponse:
        received_at = self.clock()
        notes: dict[str, str] = {}
        body, response, context = self._soap_post(environ, notes)
        if context is not None and context.uses_addressing:
            response = _addressed(response, context)
        response = self._signed(response)
        for name, value in notes.items():
            environ[f"temix.{name}"] = value
        if self.observer is None:
            return response
        exchange = Exchange(
            received_at=received_at,
            sent_at=self.clock(),
            remote_address=environ.get("REMOTE_ADDR"),
            request=body,
            status=response.status,
            response=response.body,
            notes=notes,
        )
        try:
            self.observer(exchange)
        except Exception:
            logger.exception("the exchange could not be recorded; answering with a fault")
            version = VERSION_BY_MEDIA_TYPE.get(media_type_of(response.content_type))
            fault = SoapFault(FaultCode.SERVER, "the server could not record the exchange")
            status, fault_body = _fault_response(version or SOAP_1_1, fault)
            environ["temix.outcome"] = fault.outcome
            return self._signed(
                HttpResponse(status, fault_body, (version or SOAP_1_1).content_type)
            )
        return response

    def _signed(self, response: HttpResponse) -> HttpResponse:
        """``response`` as the reply signer makes it, when it is a SOAP envelope."""
        if (
            self.reply_signer is None
            or media_type_of(response.content_type) not in VERSION_BY_MEDIA_TYPE
        ):
            return response
        try:
            signed = self.reply_signer(response.body)
        except Exception:
            logger.exception("the reply could not be signed")
            return HttpResponse(500, b"the server could not sign its reply\n")
        return HttpResponse(response.status, signed, response.content_type, response.headers)

    def _soap_post(
        self, environ: dict[str, Any], notes: dict[str, str]
    ) -> tuple[bytes, HttpResponse, RequestContext | None]:
        """The request body as far as it was read, the response, and the request's context
        once there is one."""
        media_type, parameters = parse_content_type(environ.get("CONTENT_TYPE", ""))
        wire_version = VERSION_BY_MEDIA_TYPE.get(media_type)
        if wire_version is None:
            notes["outcome"] = "415"
            return (
                b"",
                HttpResponse(415, b"SOAP 1.1 text/xml or SOAP 1.2 application/soap+xml only\n"),
                None,
            )
        body = _read_body(environ, self.limits.max_bytes)
        if isinstance(body, HttpResponse):
            notes["outcome"] = str(body.status)
            return b"", body, None
        if wire_version is SOAP_1_1:
            soap_action = (
                unquote(environ["HTTP_SOAPACTION"]) if "HTTP_SOAPACTION" in environ else None
            )
        else:
            soap_action = parameters.get("action")
        context = RequestContext(
            wire_version,
            soap_action,
            body,
            notes,
            tls_certificate=environ.get(TLS_CLIENT_CERTIFICATE_KEY),
        )
        try:
            return body, self.respond(context, environ), context
        except SoapFault as fault:
            return body, _fault_answer(context, fault), context
        except Exception:
            return body, _fault_answer(context, internal_error(context.version)), context

    def respond(self, context: RequestContext, environ: dict[str, Any]) -> HttpResponse:
        """The answer to a SOAP request whose body has been read (``context.raw``).

        This is where another SOAP stack may take over (:mod:`temix.server.spyne`): the HTTP
        checks before it, and the notes, the observer and the environ keys after it, are the
        same for every binding. A :class:`SoapFault` raised here is answered as it says, any
        other exception with a generic Server/Receiver fault.
        """
        envelope = parse_envelope(context.raw, self.limits)
        operation, payload = self.dispatch(envelope, context)
        reply = self.call_handler(operation, payload, context)
        return HttpResponse(200, _wrap(reply, context.version), context.version.content_type)

    def dispatch(
        self, envelope: etree._Element, context: RequestContext
    ) -> tuple[Operation, etree._Element]:
        """The operation ``envelope`` calls and its payload, after every step between the parse
        and the handler, in the pipeline's order: :func:`check_envelope`, the request filter,
        one payload in the Body, :func:`operation_for`, schema validation of the payload."""
        body = check_envelope(envelope, context.version, self.understood_headers)
        read_request_addressing(envelope, context)
        if self.request_filter is not None:
            body = self.request_filter(envelope, body, context)
        payload = _single_payload(body)
        operation = operation_for(payload, context, self._operations_by_request[context.version])
        if context.addressing is not None:
            try:
                check_action(context.addressing, operation.input_action, context.soap_action)
            except AddressingError as error:
                raise addressing_fault(error) from None
        context.reply_action = operation.output_action
        problems = self.schemas.problems(payload)
        if problems:
            first = problems[0]
            raise SoapFault(
                FaultCode.CLIENT,
                f"the {operation.name} request is not valid: {first.path}: {first.reason}",
            )
        return operation, payload

    def call_handler(
        self, operation: Operation, payload: etree._Element, context: RequestContext
    ) -> etree._Element:
        """The handler's reply to ``payload``, which must be a valid ``operation`` response;
        a Server fault if there is no handler or its reply is not valid (logged, not sent)."""
        handler = self.handlers.get(operation.name)
        if handler is None:
            raise SoapFault(FaultCode.SERVER, f"the operation {operation.name} is not available")
        reply = handler(payload, context)
        if not isinstance(reply, etree._Element) or reply.tag != operation.response:
            logger.error(
                "%s handler returned %r instead of a %s element",
                operation.name,
                reply,
                operation.response,
            )
            raise SoapFault(FaultCode.SERVER, "the server could not produce a valid reply")
        problems = self.schemas.problems(reply)
        if problems:
            logger.error(
                "%s handler returned an invalid reply: %s: %s",
                operation.name,
                problems[0].path,
                problems[0].reason,
            )
            raise SoapFault(FaultCode.SERVER, "the server could not produce a valid reply")
        return reply


def _fault_answer(context: RequestContext, fault: SoapFault) -> HttpResponse:
    context.notes["outcome"] = fault.outcome
    context.reply_action = fault.action
    status, body = _fault_response(context.version, fault)
    return HttpResponse(status, body, context.version.content_type)


# --- The steps of the SOAP pipeline -----------------------------------------------------------


def internal_error(version: SoapVersion) -> SoapFault:
    """The generic Server fault answering the unexpected exception being handled, which is
    logged: the client never sees its details."""
    logger.exception("unexpected error answering a SOAP %s request", version.name)
    return SoapFault(FaultCode.SERVER, "internal server error")


def parse_envelope(raw: bytes, limits: SoapLimits) -> etree._Element:
    """The request's document element, from the one hardened parse of its bytes; a Client
    fault if the bytes are refused."""
    try:
        return parse_bytes(
            raw,
            max_bytes=limits.max_bytes,
            max_depth=limits.max_depth,
            max_attributes=limits.max_attributes,
            max_elements=limits.max_elements,
            max_namespaces=limits.max_namespaces,
        ).getroot()
    except XmlRejected as rejected:
        raise SoapFault(
            FaultCode.CLIENT, f"the request is not acceptable XML: {rejected}"
        ) from None


def check_envelope(
    envelope: etree._Element, version: SoapVersion, understood_headers: Collection[str]
) -> etree._Element:
    """The Body of ``envelope``, received as ``version`` (the one the Content-Type names),
    after the checks that come before any processing: the Envelope namespace is the version's
    (else a VersionMismatch fault), an optional Header and then one Body, nothing else, and
    no header block meant for us with ``mustUnderstand`` outside ``understood_headers`` (else
    a MustUnderstand fault)."""
    if etree.QName(envelope).namespace != version.envelope_ns:
        raise SoapFault(
            FaultCode.VERSION_MISMATCH,
            f"expected a SOAP {version.name} Envelope "
            f"({{{version.envelope_ns}}}Envelope) for {version.media_type}",
        )
    if etree.QName(envelope).localname != "Envelope":
        raise SoapFault(FaultCode.CLIENT, "the document element is not a SOAP Envelope")
    env = f"{{{version.envelope_ns}}}"
    children = list(_element_children(envelope, "the Envelope"))
    tags = [child.tag for child in children]
    if tags not in ([env + "Body"], [env + "Header", env + "Body"]):
        raise SoapFault(
            FaultCode.CLIENT,
            "the Envelope must hold an optional Header and then one Body, nothing else "
            f"(found: {', '.join(prefixed(tag) for tag in tags) or 'nothing'})",
        )
    if len(children) == 2:
        _check_must_understand(children[0], version, understood_headers)
    return children[-1]


def _check_must_understand(
    header: etree._Element, version: SoapVersion, understood_headers: Collection[str]
) -> None:
    """A MustUnderstand fault for every header block meant for us that nobody processes."""
    env = f"{{{version.envelope_ns}}}"
    role_attribute = env + ("actor" if version is SOAP_1_1 else "role")
    not_understood = []
    for block in header:
        if not isinstance(block.tag, str):
            continue
        must = block.get(env + "mustUnderstand")
        if must is None or must.strip() in version.false_values:
            continue
        if must.strip() not in version.true_values:
            raise SoapFault(
                FaultCode.CLIENT,
                f"mustUnderstand={must!r} on header {prefixed(block.tag)} is not a "
                f"SOAP {version.name} boolean",
            )
        if block.get(role_attribute) not in version.roles_for_us:
            continue
        if block.tag not in understood_headers:
            not_understood.append(block.tag)
    if not_understood:
        raise SoapFault(
            FaultCode.MUST_UNDERSTAND,
            f"header {prefixed(not_understood[0])} is not understood",
            not_understood=tuple(not_understood),
        )


def read_request_addressing(envelope: etree._Element, context: RequestContext) -> None:
    """Notes the request's WS-Addressing properties in ``context`` (and its MessageID and
    RelatesTo in the notes), or a WS-Addressing fault; a request without any changes nothing.
    The Envelope has passed :func:`check_envelope`."""
    header = envelope.find(f"{{{context.version.envelope_ns}}}Header")
    if header is None:
        return
    role = f"{{{context.version.envelope_ns}}}{'actor' if context.version is SOAP_1_1 else 'role'}"
    blocks = [
        block
        for block in header
        if isinstance(block.tag, str)
        and etree.QName(block).namespace == WSA
        and block.get(role) in context.version.roles_for_us
    ]
    if not blocks:
        return
    context.uses_addressing = True
    message_id = message_id_of(blocks)
    if message_id is not None:
        context.notes["message_id"] = message_id
    try:
        context.addressing = read_addressing(blocks)
    except AddressingError as error:
        raise addressing_fault(error) from None
    if context.addressing.relates_to:
        context.notes["relates_to"] = " ".join(value for _, value in context.addressing.relates_to)


def _addressed(response: HttpResponse, context: RequestContext) -> HttpResponse:
    """``response`` (a SOAP envelope this server wrote) with the WS-Addressing headers of the
    reply to ``context``'s request; any other response as it is."""
    if media_type_of(response.content_type) not in VERSION_BY_MEDIA_TYPE:
        return response
    envelope = parse_own(response.body)
    env = f"{{{etree.QName(envelope).namespace}}}"
    header = envelope.find(env + "Header")
    if header is None:
        header = etree.Element(env + "Header")
        envelope.insert(0, header)
    if context.addressing is not None:
        fault = response.status != 200
        blocks = reply_headers(context.addressing, context.reply_action, fault=fault)
    else:
        blocks = fault_reply_headers(context.notes.get("message_id"), context.reply_action)
    header.extend(blocks)
    (reply_message_id,) = (block for block in blocks if block.tag == f"{{{WSA}}}MessageID")
    context.notes["reply_message_id"] = reply_message_id.text
    return HttpResponse(
        response.status, document_bytes(envelope), response.content_type, response.headers
    )


def _single_payload(body: etree._Element) -> etree._Element:
    children = list(_element_children(body, "the Body"))
    if len(children) != 1:
        raise SoapFault(
            FaultCode.CLIENT,
            f"the Body holds {len(children)} elements, expected exactly one payload",
        )
    return children[0]


def operation_for(
    payload: etree._Element,
    context: RequestContext,
    operations_by_request: Mapping[str, Operation],
) -> Operation:
    """The operation whose request element ``payload`` is (noted as the ``operation`` of
    ``context.notes``); the SOAPAction must name it when sent, and SOAP 1.1 must send one."""
    operation = operations_by_request.get(payload.tag)
    if operation is None:
        raise SoapFault(FaultCode.CLIENT, f"no operation takes the element {prefixed(payload.tag)}")
    expected = operation.soap_actions[context.version]
    if context.version is SOAP_1_1 and context.soap_action is None:
        raise SoapFault(FaultCode.CLIENT, "a SOAP 1.1 request needs a SOAPAction header")
    if context.soap_action is not None and context.soap_action != expected:
        raise SoapFault(
            FaultCode.CLIENT,
            f"the SOAPAction does not match the Body: {prefixed(payload.tag)} "
            f"is {operation.name}, whose SOAPAction is {expected!r}",
        )
    context.notes["operation"] = operation.name
    return operation


def _element_children(parent: etree._Element, what: str) -> Iterable[etree._Element]:
    """Element children; comments are skipped, text other than whitespace is refused."""
    if parent.text and parent.text.strip():
        raise SoapFault(FaultCode.CLIENT, f"{what} holds text")
    for child in parent:
        if child.tail and child.tail.strip():
            raise SoapFault(FaultCode.CLIENT, f"{what} holds text")
        if isinstance(child.tag, str):
            yield child


def _envelope_around(version: SoapVersion) -> tuple[bytes, bytes]:
    """The reply Envelope's bytes before and after the payload; it declares the envelope
    prefix and the profile's payload prefixes."""
    env = f"{{{version.envelope_ns}}}"
    envelope = etree.Element(
        env + "Envelope", nsmap={version.prefix: version.envelope_ns, **PREFIXES}
    )
    marker = etree.Comment("payload")
    etree.SubElement(envelope, env + "Body").append(marker)
    before, after = document_bytes(envelope).split(etree.tostring(marker))
    return before, after


# Splicing the payload's bytes in is several times faster than moving it into an Envelope tree
# (lxml then reconciles the namespaces of every node).
_ENVELOPE_AROUND = {version: _envelope_around(version) for version in SOAP_VERSIONS}


def _wrap(payload: etree._Element, version: SoapVersion) -> bytes:
    before, after = _ENVELOPE_AROUND[version]
    return (
        before
        + etree.tostring(payload, encoding="UTF-8", xml_declaration=False, with_tail=False)
        + after
    )


def _read_body(environ: dict[str, Any], max_bytes: int) -> bytes | HttpResponse:
    """The request body, never reading more than ``max_bytes`` + 1 bytes; 408 when the client
    falls silent for longer than the host's read timeout."""
    too_large = HttpResponse(413, f"the request body is over {max_bytes} bytes\n".encode())
    stream = environ["wsgi.input"]
    length_header = environ.get("CONTENT_LENGTH", "").strip()
    if not length_header:
        if not environ.get("wsgi.input_terminated"):
            return HttpResponse(411, b"a Content-Length is required\n")
        body = stream.read(max_bytes + 1)
        return too_large if len(body) > max_bytes else body
    if not length_header.isdigit():
        return HttpResponse(400, b"bad Content-Length\n")
    length = int(length_header)
    if length > max_bytes:
        return too_large
    chunks = []
    remaining = length
    try:
        while remaining:
            chunk = stream.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except TimeoutError:
        return HttpResponse(408, b"the request body did not arrive in time\n")
    return b"".join(chunks)


def _request_url(environ: dict[str, Any]) -> str:
    """The URL this request came to, without its query (PEP 3333 URL reconstruction)."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "localhost")
        port = environ.get("SERVER_PORT", "")
        if port and port != {"http": "80", "https": "443"}.get(scheme):
            host = f"{host}:{port}"
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"
    return f"{scheme}://{host}{path}"


# --- Serving the contract ---------------------------------------------------------------------


class _ServedDocuments:
    """The WSDL, its single-file variant and the XSDs, with addresses and schema locations
    rewritten to the served URLs (``ENDPOINT?xsd=NAME``) for each request."""

    _LOCATION_TAGS = tuple(f"{{{XSD}}}{tag}" for tag in ("import", "include", "redefine"))

    def __init__(
        self, wsdl_path: Path, policy: Callable[[etree._Element], None] | None = None
    ) -> None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        self._served_names = {path.resolve(): path.name for path in XSD_DIR.glob("*.xsd")}
        wsdl_path = wsdl_path.resolve()
        wsdl = etree.parse(str(wsdl_path), parser)
        single = etree.ElementTree(etree.fromstring(flatten_wsdl(wsdl_path), parser))
        if policy is not None:
            policy(wsdl.getroot())
            policy(single.getroot())
        self._wsdl = self._prepare(wsdl, wsdl_path)
        self._single = self._prepare(single, wsdl_path)
        self._xsds = {
            name: self._prepare(etree.parse(str(path), parser), path)
            for path, name in self._served_names.items()
        }

    def wsdl(self, endpoint: str) -> bytes:
        return self._render(*self._wsdl, endpoint)

    def single_wsdl(self, endpoint: str) -> bytes:
        return self._render(*self._single, endpoint)

    def xsd(self, name: str, endpoint: str) -> bytes | None:
        prepared = self._xsds.get(name)
        return None if prepared is None else self._render(*prepared, endpoint)

    def _prepare(
        self, document: etree._ElementTree, path: Path
    ) -> tuple[etree._ElementTree, dict[str, str]]:
        """The document with, for each schemaLocation in it, the served name of its file."""
        names = {}
        for element in document.iter(self._LOCATION_TAGS):
            location = element.get("schemaLocation")
            if location is None:
                continue
            target = (path.parent / location).resolve()
            if target not in self._served_names:
                raise ValueError(f"{path}: schemaLocation {location!r} is not a served schema")
            names[location] = self._served_names[target]
        return document, names

    def _render(self, document: etree._ElementTree, names: dict[str, str], endpoint: str) -> bytes:
        copy = etree.ElementTree(etree.fromstring(etree.tostring(document)))
        for element in copy.iter(self._LOCATION_TAGS):
            location = element.get("schemaLocation")
            if location is not None:
                element.set("schemaLocation", f"{endpoint}?xsd={quote(names[location])}")
        for version in SOAP_VERSIONS:
            for address in copy.iter(f"{{{version.wsdl_binding_ns}}}address"):
                address.set("location", endpoint)
        return document_bytes(copy)
