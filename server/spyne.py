"""The temix server hosted by spyne, for shops whose SOAP stack is spyne (``temix[spyne]``).

Needs Python 3.11: spyne 2.14.0, its last release, does not import on Python 3.12 or later.

:class:`SpyneSoapApplication` takes the arguments of :class:`temix.server.soap.SoapApplication`
and replaces only its :meth:`~temix.server.soap.SoapApplication.respond`: a SOAP request whose
body has been read goes to one spyne ``Application`` per SOAP version. Everything around it is
the native application's: the served contract (``?wsdl``, ``?singleWsdl``, ``?xsd=``, so
clients get our WSDL, not the one spyne generates, which cannot import our XSDs and declares
every payload ``xs:anyType``), ``/health``, the HTTP refusals (405, 415, 411, 400, 413), the
``request_filter`` seam, the ``observer`` (the message ledger) and the request's notes, also
copied to the WSGI environ as ``temix.<note>``.

The spyne protocols run the native pipeline's steps at spyne's own seams, so spyne never parses
or dispatches a request itself:

- ``create_in_document`` parses with :func:`temix.server.soap.parse_envelope` (no DOCTYPE, no
  entity, the same limits): a DOCTYPE with an internal entity makes lxml's schema validation
  fail internally, or crash a schema-bound parser;
- ``decompose_incoming_envelope`` runs :meth:`~temix.server.soap.SoapApplication.dispatch`
  (the Envelope checks with ``mustUnderstand``, which spyne ignores, the request filter, the
  SOAPAction, schema validation) and names the operation for spyne: spyne would dispatch on
  ``{tns}name`` and give an ``AnyXml`` argument only the payload's first child, so the service
  methods read ``ctx.in_body_doc`` and call the handler through
  :meth:`~temix.server.soap.SoapApplication.call_handler`;
- ``serialize`` unwraps the reply from the ``{tns}OperationResponse`` element spyne puts
  around it, notes a fault's outcome, and adds what spyne cannot write in a fault: the SOAP 1.2
  MustUnderstand and VersionMismatch codes, ``NotUnderstood`` and ``Upgrade`` headers,
  subcodes.

What still differs from the native binding: the reply Envelope has spyne's prefixes
(``soap11env``, ``soap12env``); a fault carries an empty ``faultactor`` (SOAP 1.1) or ``Role``
(SOAP 1.2); spyne logs the faults of the service method (a handler's fault, an invalid reply)
with a traceback on its own loggers. The native binding is the default: it takes about half
the time per call, and it does not tie the server to Python 3.11.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

from lxml import etree

from temix.envelope import SOAP_1_1, SOAP_1_2, SOAP_VERSIONS, SoapVersion
from temix.namespaces import EI_WSDL, SOAP11, SOAP12
from temix.server.soap import (
    FaultCode,
    HttpResponse,
    Operation,
    RequestContext,
    SoapApplication,
    SoapFault,
    add_soap12_fault_headers,
    add_soap12_subcodes,
    internal_error,
    parse_envelope,
)
from temix.wsaddressing import WSA

try:
    from spyne import AnyXml, Application, Fault, ServiceBase, rpc
    from spyne.protocol.soap import Soap11, Soap12
    from spyne.server.wsgi import WsgiApplication
except ImportError as missing:
    raise ImportError(
        "temix.server.spyne needs spyne 2.14 on Python 3.11: pip install 'temix[spyne]'"
    ) from missing

_SOAP12_CODES = {code.value[0]: code.value[1] for code in FaultCode}

_REQUEST_CONTEXT = "temix.spyne.request_context"
"""The key of the environ handed to spyne that carries the request's :class:`RequestContext`."""


class SpyneSoapApplication(SoapApplication):
    """A :class:`SoapApplication` whose SOAP requests spyne answers; it takes the same
    arguments. Host it like one: one thread per process."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self._spyne = {
            version: WsgiApplication(
                _spyne_app(self, version), max_content_length=self.limits.max_bytes
            )
            for version in SOAP_VERSIONS
        }

    def respond(self, context: RequestContext, environ: dict[str, Any]) -> HttpResponse:
        """The answer spyne writes, from the body already read and checked against the cap."""
        started: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> None:
            started["status"] = int(status.split()[0])
            started["content_type"] = dict(headers)["Content-Type"]

        spyne_environ = {
            **environ,
            "wsgi.input": io.BytesIO(context.raw),
            "CONTENT_LENGTH": str(len(context.raw)),
            _REQUEST_CONTEXT: context,
        }
        body = b"".join(self._spyne[context.version](spyne_environ, start_response))
        return HttpResponse(started["status"], body, started["content_type"])


class _CarriedFault(Fault):
    """A :class:`SoapFault` on its way through spyne, which only catches and writes its own."""

    def __init__(self, fault: SoapFault) -> None:
        super().__init__(fault.code.value[0], fault.reason)
        self.soap_fault = fault


@contextmanager
def _carried_faults(version: SoapVersion) -> Iterator[None]:
    """Errors as spyne faults, for spyne to write: a :class:`SoapFault` as it is, anything
    else as the native binding's generic Server fault."""
    try:
        yield
    except SoapFault as fault:
        raise _CarriedFault(fault) from None
    except Exception:
        raise _CarriedFault(internal_error(version)) from None


def _soap_fault(error: Fault) -> SoapFault:
    """The fault spyne is about to write, as a :class:`SoapFault`."""
    if isinstance(error, _CarriedFault):
        return error.soap_fault
    code = FaultCode.CLIENT if error.faultcode.startswith("Client") else FaultCode.SERVER
    return SoapFault(code, error.faultstring)


def _spyne_app(application: SoapApplication, version: SoapVersion) -> Application:
    protocol = _PROTOCOLS[version]
    methods = {
        operation.name: rpc(
            AnyXml, _returns=AnyXml, _body_style="bare", _operation_name=operation.name
        )(_service_method(application, operation))
        for operation in application.operations.values()
    }
    return Application(
        [type("TemixService", (ServiceBase,), methods)],
        tns=EI_WSDL,
        name=f"temix-soap-{version.name}",
        in_protocol=protocol(application),
        out_protocol=protocol(application),
    )


def _service_method(application: SoapApplication, operation: Operation) -> Callable:
    """Calls the handler with the whole payload: the ``AnyXml`` argument spyne passes is only
    the payload's first child."""

    def call(ctx: Any, first_child: Any) -> etree._Element:
        context: RequestContext = ctx.udc
        with _carried_faults(context.version):
            return application.call_handler(operation, ctx.in_body_doc, context)

    call.__name__ = operation.name  # spyne keys its methods by function name
    return call


class _TemixProtocol:
    """What the temix protocols change in spyne's Soap11 and Soap12 (mixed in before them)."""

    version: SoapVersion

    def __init__(self, application: SoapApplication) -> None:
        super().__init__()
        self.application = application

    # --- the request

    def create_in_document(self, ctx: Any, charset: str | None = None) -> None:
        ctx.udc = ctx.transport.req_env[_REQUEST_CONTEXT]
        with _carried_faults(self.version):
            ctx.in_document = parse_envelope(ctx.udc.raw, self.application.limits)

    def decompose_incoming_envelope(self, ctx: Any, message: str) -> None:
        with _carried_faults(self.version):
            operation, payload = self.application.dispatch(ctx.in_document, ctx.udc)
        ctx.in_body_doc = payload
        ctx.method_request_string = f"{{{EI_WSDL}}}{operation.name}"

    # --- the response

    def serialize(self, ctx: Any, message: str) -> None:
        super().serialize(ctx, message)
        body = ctx.out_body_doc
        if ctx.out_error is None:
            (wrapper,) = body
            (reply,) = wrapper
            body.replace(wrapper, reply)
            return
        fault = _soap_fault(ctx.out_error)
        ctx.udc.notes["outcome"] = fault.outcome
        ctx.udc.reply_action = fault.action
        self._complete_fault(ctx.out_document, body[0], fault)

    def _complete_fault(
        self, envelope: etree._Element, fault_element: etree._Element, fault: SoapFault
    ) -> None:
        """The subcode: SOAP 1.1 has none, so it replaces the faultcode (the WS-Security
        convention); a WS-Addressing detail goes in a ``wsa:FaultDetail`` header block."""
        subcode = fault.subcode
        if subcode is not None:
            code = etree.Element("faultcode", nsmap={subcode.prefix: subcode.namespace})
            code.text = f"{subcode.prefix}:{subcode.name}"
            fault_element.replace(fault_element.find("faultcode"), code)
        if fault.detail is not None:
            header = envelope.find(f"{{{SOAP11}}}Header")
            if header is None:
                header = etree.Element(f"{{{SOAP11}}}Header")
                envelope.insert(0, header)
            etree.SubElement(header, f"{{{WSA}}}FaultDetail").append(fault.detail)


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
        """The Subcodes, the Detail, and the headers of
        :func:`temix.server.soap.add_soap12_fault_headers`."""
        env = f"{{{SOAP12}}}"
        add_soap12_subcodes(fault_element.find(env + "Code"), fault)
        if fault.detail is not None:
            etree.SubElement(fault_element, env + "Detail").append(fault.detail)
        add_soap12_fault_headers(envelope, fault)

    def fault_to_http_response_code(self, fault: Fault) -> str:
        status = _soap_fault(fault).code.value[2]
        return f"{status} {HTTPStatus(status).phrase}"


_PROTOCOLS: dict[SoapVersion, type[_TemixProtocol]] = {
    SOAP_1_1: _TemixSoap11,
    SOAP_1_2: _TemixSoap12,
}
