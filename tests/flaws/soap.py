"""Flaws in the SOAP binding and the served WSDL."""

from __future__ import annotations

from flaws import Flaw


def _fault_status(version_name: str, status: int) -> None:
    """Answers every fault of SOAP ``version_name`` with HTTP ``status``."""
    from temix.server import soap

    answered = soap._fault_response

    def with_status(version, fault):  # type: ignore[no-untyped-def]
        usual, body = answered(version, fault)
        return (status if version.name == version_name else usual), body

    soap._fault_response = with_status


def _soap12_reply_as_text_xml() -> None:
    from temix.envelope import SOAP_1_2
    from temix.server import soap

    responded = soap.SoapApplication.respond

    def as_text_xml(self, context, environ):  # type: ignore[no-untyped-def]
        response = responded(self, context, environ)
        if context.version is SOAP_1_2:
            response.content_type = "text/xml; charset=utf-8"
        return response

    soap.SoapApplication.respond = as_text_xml


def _accepts_put() -> None:
    from temix.server import soap

    routed = soap.SoapApplication._route

    def put_is_post(self, environ):  # type: ignore[no-untyped-def]
        if environ.get("REQUEST_METHOD") == "PUT":
            return self._post(environ)
        return routed(self, environ)

    soap.SoapApplication._route = put_is_post


def _any_content_type() -> None:
    from temix.envelope import SOAP_1_1
    from temix.server import soap

    class SoapOneOneByDefault(dict):
        def get(self, key, default=None):  # type: ignore[no-untyped-def]
            return super().get(key, SOAP_1_1)

    soap.VERSION_BY_MEDIA_TYPE = SoapOneOneByDefault(soap.VERSION_BY_MEDIA_TYPE)


def _ignores_must_understand() -> None:
    from temix.server import soap

    soap._check_must_understand = lambda header, version, understood_headers: None


def _ignores_soap_action() -> None:
    from temix.server import soap

    dispatched = soap.operation_for

    def body_decides(payload, context, operations_by_request):  # type: ignore[no-untyped-def]
        operation = operations_by_request.get(payload.tag)
        if operation is not None:
            context.soap_action = operation.soap_actions[context.version]
        return dispatched(payload, context, operations_by_request)

    soap.operation_for = body_decides


def _wsdl_without_soap_action() -> None:
    from lxml import etree

    from temix.envelope import SOAP_VERSIONS
    from temix.server import soap

    rendered = soap._ServedDocuments._render

    def without_soap_action(self, document, names, endpoint):  # type: ignore[no-untyped-def]
        root = etree.fromstring(rendered(self, document, names, endpoint))
        for version in SOAP_VERSIONS:
            for operation in root.iter(f"{{{version.wsdl_binding_ns}}}operation"):
                if operation.getparent().get("name") == "EiRequestPublication":
                    operation.attrib.pop("soapAction", None)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    soap._ServedDocuments._render = without_soap_action


def _no_single_wsdl() -> None:
    """Serves ?wsdl only: a bus that needs one self-contained document gets ?wsdl's imports."""
    from temix.server import soap

    documents = soap.SoapApplication._get

    def without_single(self, environ):  # type: ignore[no-untyped-def]
        if "singlewsdl" in environ.get("QUERY_STRING", "").lower():
            environ = {**environ, "QUERY_STRING": "wsdl"}
        return documents(self, environ)

    soap.SoapApplication._get = without_single


def _any_envelope_namespace() -> None:
    """Reads an Envelope in the other SOAP version's namespace as if it matched the
    Content-Type, instead of answering VersionMismatch."""
    from lxml import etree

    from temix.envelope import SOAP_VERSIONS
    from temix.server import soap

    checked = soap.check_envelope
    by_namespace = {version.envelope_ns: version for version in SOAP_VERSIONS}

    def any_version(envelope, version, understood_headers):  # type: ignore[no-untyped-def]
        version = by_namespace.get(etree.QName(envelope).namespace, version)
        return checked(envelope, version, understood_headers)

    soap.check_envelope = any_version


def _unknown_payloads_server_fault() -> None:
    """Answers a Body element of no operation with a Server fault, blaming itself."""
    from temix.server import soap

    dispatched = soap.operation_for

    def blaming_itself(payload, context, operations_by_request):  # type: ignore[no-untyped-def]
        if payload.tag not in operations_by_request:
            raise soap.SoapFault(soap.FaultCode.SERVER, "no handler for this element")
        return dispatched(payload, context, operations_by_request)

    soap.operation_for = blaming_itself


def _no_charset() -> None:
    """Sends SOAP 1.1 replies as text/xml with no charset."""
    from temix.envelope import SoapVersion

    typed = SoapVersion.content_type

    SoapVersion.content_type = property(  # type: ignore[method-assign, assignment]
        lambda self: self.media_type if self.name == "1.1" else typed.fget(self)
    )


FLAWS = [
    Flaw(
        "soap11-fault-http-200",
        "TMX-WSD-010",
        "answers SOAP 1.1 faults with HTTP 200",
        lambda: _fault_status("1.1", 200),
    ),
    Flaw(
        "soap12-reply-as-text-xml",
        "TMX-WSD-009",
        "sends SOAP 1.2 replies as text/xml",
        _soap12_reply_as_text_xml,
    ),
    Flaw(
        "accepts-put",
        "TMX-WSD-012",
        "takes a PUT to the endpoint as a SOAP request",
        _accepts_put,
    ),
    Flaw(
        "any-content-type",
        "TMX-WSD-013",
        "reads a request of any Content-Type as SOAP 1.1",
        _any_content_type,
    ),
    Flaw(
        "ignores-must-understand",
        "TMX-WSD-015",
        "processes requests with mandatory header blocks it does not know",
        _ignores_must_understand,
    ),
    Flaw(
        "ignores-soap-action",
        "TMX-WSD-016",
        "dispatches on the Body alone, whatever the SOAPAction says",
        _ignores_soap_action,
    ),
    Flaw(
        "wsdl-without-soap-action",
        "TMX-WSD-005",
        "serves a WSDL whose EiRequestPublication operations have no soapAction",
        _wsdl_without_soap_action,
    ),
    Flaw(
        "no-single-wsdl",
        "TMX-WSD-007",
        "answers ?singleWsdl with the WSDL that imports its schemas",
        _no_single_wsdl,
    ),
    Flaw(
        "any-envelope-namespace",
        "TMX-WSD-014",
        "reads an Envelope of the other SOAP version instead of answering VersionMismatch",
        _any_envelope_namespace,
    ),
    Flaw(
        "soap12-faults-500",
        "TMX-WSD-011",
        "answers SOAP 1.2 Sender faults with HTTP 500 instead of 400",
        lambda: _fault_status("1.2", 500),
    ),
    Flaw(
        "unknown-payload-server-fault",
        "TMX-SCH-006",
        "answers a Body element of no operation with a Server fault",
        _unknown_payloads_server_fault,
    ),
    Flaw(
        "soap11-without-charset",
        "TMX-WSD-008",
        "sends SOAP 1.1 replies as text/xml without a charset",
        _no_charset,
    ),
]
