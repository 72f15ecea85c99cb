"""The temix services hosted by spyne, for shops whose SOAP stack is spyne (``temix[spyne]``).

Needs Python 3.11: spyne 2.14.0, its last release, does not import on Python 3.12 or later.

:func:`spyne_application` takes the same handlers and options as
:class:`temix.server.soap.SoapApplication` and returns a WSGI application. Each SOAP POST goes
to one spyne ``Application`` per SOAP version, chosen by the Content-Type. Everything else is
answered by a ``SoapApplication`` built from the same arguments: GETs (``?wsdl``,
``?singleWsdl``, ``?xsd=``), ``/health``, other methods, and POSTs that are not SOAP or have no
usable length (405, 415, 411, 400, 413). So clients get our contract WSDL, not the one spyne
generates (it cannot import our XSDs and declares every payload ``xs:anyType``).

The spyne protocols are changed at spyne's own seams, so spyne never parses a request itself:

- ``create_in_document`` parses with :func:`temix.xmlsafe.parse_bytes` (no DOCTYPE, no entity,
  the same limits): a DOCTYPE with an internal entity makes lxml's schema validation fail
  internally, or crash a schema-bound parser;
- ``decompose_incoming_envelope`` makes the native binding's checks (version, structure,
  ``mustUnderstand``, which spyne ignores, SOAPAction) and maps the Body's payload element to
  its operation: spyne would dispatch on ``{tns}name`` and give an ``AnyXml`` argument only the
  payload's first child, so the service methods read ``ctx.in_body_doc``;
- ``validate_body`` validates against our schemas, where spyne would use the schema it
  generates; the service method calls the handler and validates its reply;
- ``serialize`` unwraps the reply from the ``{tns}OperationResponse`` element spyne puts
  around it, and adds what spyne cannot write in a fault: the SOAP 1.2 MustUnderstand and
  VersionMismatch codes, ``NotUnderstood`` and ``Upgrade`` headers, subcodes.

What still differs from the native binding: the reply Envelope has spyne's prefixes
(``soap11env``, ``soap12env``); a fault carries an empty ``faultactor`` (SOAP 1.1) or ``Role``
(SOAP 1.2); spyne logs the faults of the service method (a handler's fault, an invalid
reply) with a traceback on its own loggers; there is no ``request_filter`` (so no WS-Security)
and no ``observer`` (so no message ledger), and the handlers' ``notes`` do not reach the WSGI
environ. The native binding is the default: it takes
about half the time per call, it is the one the WS-Security layer and the ledger plug into, and
it does not tie the server to Python 3.11.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Mapping
from email.message import Message
from email.utils import collapse_rfc2231_value, unquote
from http import HTTPStatus
from typing import Any

from lxml import etree

from temix.namespaces import EI_WSDL, SOAP12, prefixed
from temix.server.soap import (
    HEALTH_PATH,
    SOAP_1_1,
    SOAP_1_2,
    SOAP_VERSIONS,
    FaultCode,
    Handler,
    Operation,
    RequestContext,
    SoapApplication,
    SoapFault,
    SoapLimits,
    SoapVersion,
)
from temix.validation import SchemaSet
from temix.xmlsafe import XmlRejected, parse_bytes

try:
    from spyne import AnyXml, Application, Fault, ServiceBase, rpc
    from spyne.protocol.soap import Soap11, Soap12
    from spyne.server.wsgi import WsgiApplication
except ImportError as missing:
    raise ImportError(
        "temix.server.spyne needs spyne 2.14 on Python 3.11: pip install 'temix[spyne]'"
    ) from missing

logger = logging.getLogger(__name__)

_VERSION_BY_MEDIA_TYPE = {version.media_type: version for version in SOAP_VERSIONS}
_SOAP12_CODES = {code.value[0]: code.value[1] for code in FaultCode}


def spyne_application(
    handlers: Mapping[str, Handler],
    schemas: SchemaSet | None = None,
    limits: SoapLimits | None = None,
    *,
    understood_headers: Iterable[str] = (),
    public_url: str | None = None,
) -> SpyneSoapApplication:
    """The WSGI application serving ``handlers`` through spyne; the arguments mean what they
    mean for :class:`temix.server.soap.SoapApplication`."""
    return SpyneSoapApplication(
        SoapApplication(
            handlers,
            schemas,
            limits,
            understood_headers=understood_headers,
            public_url=public_url,
        )
    )


class SpyneSoapApplication:
    """Routes SOAP POSTs to spyne, everything else to the native application ``contract``.

    Host it like ``SoapApplication``: one thread per process.
    """

    def __init__(self, contract: SoapApplication) -> None:
        self.contract = contract
        self._spyne = {
            version: WsgiApplication(
                _spyne_app(contract, version), max_content_length=contract.limits.max_bytes
            )
            for version in SOAP_VERSIONS
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") == HEALTH_PATH:
            return self.contract(environ, start_response)
        media_type, _ = _content_type(environ.get("CONTENT_TYPE", ""))
        version = _VERSION_BY_MEDIA_TYPE.get(media_type)
        if version is None:
            return self.contract(environ, start_response)
        environ = _with_known_length(environ, self.contract.limits.max_bytes)
        length = environ.get("CONTENT_LENGTH", "").strip()
        if not length.isdigit() or int(length) > self.contract.limits.max_bytes:
            return self.contract(environ, start_response)
        return self._spyne[version](environ, start_response)


def _with_known_length(environ: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """A body without Content-Length that the server ends is read here (at most one byte over
    the cap), so that spyne, which would stop silently at its own cap, gets an exact length."""
    if environ.get("CONTENT_LENGTH", "").strip() or not environ.get("wsgi.input_terminated"):
        return environ
    body = environ["wsgi.input"].read(max_bytes + 1)
    return {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}


def _content_type(value: str) -> tuple[str, str | None]:
    """The media type (lower case) and the ``action`` parameter of a Content-Type."""
    header = Message()
    header["Content-Type"] = value
    action = header.get_param("action")
    return header.get_content_type(), None if action is None else collapse_rfc2231_value(action)


# --- The spyne side ---------------------------------------------------------------------------


class _CarriedFault(Fault):
    """A :class:`SoapFault` on its way through spyne, which only catches and writes its own."""

    def __init__(self, fault: SoapFault) -> None:
        super().__init__(fault.code.value[0], fault.reason)
        self.soap_fault = fault


def _spyne_app(contract: SoapApplication, version: SoapVersion) -> Application:
    protocol = _PROTOCOLS[version]
    methods = {
        operation.name: rpc(
            AnyXml, _returns=AnyXml, _body_style="bare", _operation_name=operation.name
        )(_service_method(contract, operation))
        for operation in contract.operations.values()
    }
    return Application(
        [type("TemixService", (ServiceBase,), methods)],
        tns=EI_WSDL,
        name=f"temix-soap-{version.name}",
        in_protocol=protocol(contract),
        out_protocol=protocol(contract),
    )


def _service_method(contract: SoapApplication, operation: Operation) -> Callable:
    """Calls the handler with the whole payload (``ctx.in_body_doc``: the ``AnyXml`` argument
    spyne passes is the payload's first child) and checks the reply as the native binding does."""

    def call(ctx: Any, first_child: Any) -> etree._Element:
        try:
            return _reply(contract, operation, ctx.in_body_doc, ctx.udc)
        except SoapFault as fault:
            raise _CarriedFault(fault) from None
        except Exception:
            logger.exception("unexpected error answering a SOAP %s request", ctx.udc.version.name)
            raise _CarriedFault(SoapFault(FaultCode.SERVER, "internal server error")) from None

    call.__name__ = operation.name  # spyne keys its methods by function name
    return call


def _reply(
    contract: SoapApplication,
    operation: Operation,
    payload: etree._Element,
    context: RequestContext,
) -> etree._Element:
    handler = contract.handlers.get(operation.name)
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
    problems = contract.schemas.problems(reply)
    if problems:
        logger.error(
            "%s handler returned an invalid reply: %s: %s",
            operation.name,
            problems[0].path,
            problems[0].reason,
        )
        raise SoapFault(FaultCode.SERVER, "the server could not produce a valid reply")
    return reply


class _TemixProtocol:
    """What the temix protocols change in spyne's Soap11 and Soap12 (mixed in before them)."""

    version: SoapVersion

    def __init__(self, contract: SoapApplication) -> None:
        super().__init__()
        self.contract = contract
        self._operations_by_request = {
            operation.request: operation
            for operation in contract.operations.values()
            if self.version in operation.soap_actions
        }

    # --- the request

    def create_in_document(self, ctx: Any, charset: str | None = None) -> None:
        raw = b"".join(ctx.in_string)
        ctx.udc = RequestContext(
            self.version, _soap_action(ctx.transport.req_env, self.version), raw
        )
        limits = self.contract.limits
        try:
            ctx.in_document = parse_bytes(
                raw,
                max_bytes=limits.max_bytes,
                max_depth=limits.max_depth,
                max_attributes=limits.max_attributes,
                max_elements=limits.max_elements,
            ).getroot()
        except XmlRejected as rejected:
            raise _CarriedFault(
                SoapFault(FaultCode.CLIENT, f"the request is not acceptable XML: {rejected}")
            ) from None

    def decompose_incoming_envelope(self, ctx: Any, message: str) -> None:
        try:
            header, payload = _checked_envelope(
                ctx.in_document, self.version, self.contract.understood_headers
            )
            operation = self._operation_for(payload, ctx.udc)
        except SoapFault as fault:
            raise _CarriedFault(fault) from None
        ctx.in_header_doc = header
        ctx.in_body_doc = payload
        ctx.method_request_string = f"{{{EI_WSDL}}}{operation.name}"
        self.validate_body(ctx, message)

    def _operation_for(self, payload: etree._Element, context: RequestContext) -> Operation:
        operation = self._operations_by_request.get(payload.tag)
        if operation is None:
            raise SoapFault(
                FaultCode.CLIENT, f"no operation takes the element {prefixed(payload.tag)}"
            )
        expected = operation.soap_actions[self.version]
        if self.version is SOAP_1_1 and context.soap_action is None:
            raise SoapFault(FaultCode.CLIENT, "a SOAP 1.1 request needs a SOAPAction header")
        if context.soap_action is not None and context.soap_action != expected:
            raise SoapFault(
                FaultCode.CLIENT,
                f"the SOAPAction does not match the Body: {prefixed(payload.tag)} "
                f"is {operation.name}, whose SOAPAction is {expected!r}",
            )
        return operation

    def validate_body(self, ctx: Any, message: str) -> None:
        problems = self.contract.schemas.problems(ctx.in_body_doc)
        if problems:
            name = ctx.method_request_string.rpartition("}")[2]
            raise _CarriedFault(
                SoapFault(
                    FaultCode.CLIENT,
                    f"the {name} request is not valid: {problems[0].path}: {problems[0].reason}",
                )
            )

    # --- the response

    def serialize(self, ctx: Any, message: str) -> None:
        super().serialize(ctx, message)
        body = ctx.out_body_doc
        if ctx.out_error is None:
            (wrapper,) = body
            (reply,) = wrapper
            body.replace(wrapper, reply)
        elif isinstance(ctx.out_error, _CarriedFault):
            self._complete_fault(ctx.out_document, body[0], ctx.out_error.soap_fault)

    def _complete_fault(
        self, envelope: etree._Element, fault_element: etree._Element, fault: SoapFault
    ) -> None:
        """The subcode: SOAP 1.1 has none, so it replaces the faultcode (the WS-Security
        convention)."""
        subcode = fault.subcode
        if subcode is not None:
            code = etree.Element("faultcode", nsmap={subcode.prefix: subcode.namespace})
            code.text = f"{subcode.prefix}:{subcode.name}"
            fault_element.replace(fault_element.find("faultcode"), code)


class _TemixSoap11(_TemixProtocol, Soap11):
    version = SOAP_1_1


class _TemixSoap12(_TemixProtocol, Soap12):
    version = SOAP_1_2

    def gen_fault_codes(self, faultstring: str) -> tuple[str, list[str]]:
        """Spyne's Soap12 knows only Sender and Receiver (from Client and Server)."""
        code, *subcodes = faultstring.split(".")
        return f"{self.soap_env}:{_SOAP12_CODES.get(code, code)}", subcodes

    def _complete_fault(
        self, envelope: etree._Element, fault_element: etree._Element, fault: SoapFault
    ) -> None:
        """The Subcode, and the ``Upgrade`` or ``NotUnderstood`` headers (SOAP 1.2 part 1,
        5.4.7 and 5.4.8)."""
        env = f"{{{SOAP12}}}"
        subcode = fault.subcode
        if subcode is not None:
            value = etree.SubElement(
                etree.SubElement(fault_element.find(env + "Code"), env + "Subcode"),
                env + "Value",
                nsmap={subcode.prefix: subcode.namespace},
            )
            value.text = f"{subcode.prefix}:{subcode.name}"
        if fault.code is FaultCode.VERSION_MISMATCH:
            upgrade = etree.SubElement(_soap12_header(envelope), env + "Upgrade")
            for version in (SOAP_1_2, SOAP_1_1):
                supported = etree.SubElement(
                    upgrade, env + "SupportedEnvelope", nsmap={version.prefix: version.envelope_ns}
                )
                supported.set("qname", f"{version.prefix}:Envelope")
        for header in fault.not_understood:
            name = etree.QName(header)
            block = etree.SubElement(
                _soap12_header(envelope), env + "NotUnderstood", nsmap={"hdr": name.namespace}
            )
            block.set("qname", f"hdr:{name.localname}")

    def fault_to_http_response_code(self, fault: Fault) -> str:
        if isinstance(fault, _CarriedFault):
            return _http_status(fault.soap_fault.code.value[2])
        return _http_status(400 if fault.faultcode.startswith("Client") else 500)


_PROTOCOLS: dict[SoapVersion, type[_TemixProtocol]] = {
    SOAP_1_1: _TemixSoap11,
    SOAP_1_2: _TemixSoap12,
}


def _http_status(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _soap_action(environ: dict[str, Any], version: SoapVersion) -> str | None:
    """SOAP 1.1's SOAPAction header or SOAP 1.2's ``action`` media type parameter."""
    if version is SOAP_1_2:
        return _content_type(environ.get("CONTENT_TYPE", ""))[1]
    return unquote(environ["HTTP_SOAPACTION"].strip()) if "HTTP_SOAPACTION" in environ else None


def _soap12_header(envelope: etree._Element) -> etree._Element:
    """The Envelope's Header, added before the Body if the fault has none yet."""
    header = envelope.find(f"{{{SOAP12}}}Header")
    if header is None:
        header = etree.Element(f"{{{SOAP12}}}Header")
        envelope.insert(0, header)
    return header


# --- The Envelope checks ----------------------------------------------------------------------


def _checked_envelope(
    envelope: etree._Element, version: SoapVersion, understood_headers: frozenset[str]
) -> tuple[list[etree._Element] | None, etree._Element]:
    """The header blocks and the payload, after the native binding's checks in its order:
    the version, the Envelope's structure, ``mustUnderstand``, one payload in the Body."""
    env = f"{{{version.envelope_ns}}}"
    if etree.QName(envelope).namespace != version.envelope_ns:
        raise SoapFault(
            FaultCode.VERSION_MISMATCH,
            f"expected a SOAP {version.name} Envelope ({env}Envelope) for {version.media_type}",
        )
    if envelope.tag != env + "Envelope":
        raise SoapFault(FaultCode.CLIENT, "the document element is not a SOAP Envelope")
    children = list(_element_children(envelope, "the Envelope"))
    tags = [child.tag for child in children]
    if tags not in ([env + "Body"], [env + "Header", env + "Body"]):
        raise SoapFault(
            FaultCode.CLIENT,
            "the Envelope must hold an optional Header and then one Body, nothing else "
            f"(found: {', '.join(prefixed(tag) for tag in tags) or 'nothing'})",
        )
    header = None
    if len(children) == 2:
        header = [block for block in children[0] if isinstance(block.tag, str)]
        _check_must_understand(header, version, understood_headers)
    payloads = list(_element_children(children[-1], "the Body"))
    if len(payloads) != 1:
        raise SoapFault(
            FaultCode.CLIENT,
            f"the Body holds {len(payloads)} elements, expected exactly one payload",
        )
    return header, payloads[0]


def _element_children(parent: etree._Element, what: str) -> Iterable[etree._Element]:
    """Element children; comments are skipped, text other than whitespace is refused."""
    if parent.text and parent.text.strip():
        raise SoapFault(FaultCode.CLIENT, f"{what} holds text")
    for child in parent:
        if child.tail and child.tail.strip():
            raise SoapFault(FaultCode.CLIENT, f"{what} holds text")
        if isinstance(child.tag, str):
            yield child


def _check_must_understand(
    blocks: list[etree._Element], version: SoapVersion, understood_headers: frozenset[str]
) -> None:
    """A MustUnderstand fault for every block meant for us that nobody here processes."""
    env = f"{{{version.envelope_ns}}}"
    role_attribute = env + ("actor" if version is SOAP_1_1 else "role")
    not_understood = []
    for block in blocks:
        must = block.get(env + "mustUnderstand")
        if must is None or must.strip() in version.false_values:
            continue
        if must.strip() not in version.true_values:
            raise SoapFault(
                FaultCode.CLIENT,
                f"mustUnderstand={must!r} on header {prefixed(block.tag)} is not a "
                f"SOAP {version.name} boolean",
            )
        if block.get(role_attribute) in version.roles_for_us and (
            block.tag not in understood_headers
        ):
            not_understood.append(block.tag)
    if not_understood:
        raise SoapFault(
            FaultCode.MUST_UNDERSTAND,
            f"header {prefixed(not_understood[0])} is not understood",
            not_understood=tuple(not_understood),
        )
