"""SOAP and WSDL: WS-I Basic Profile assertions on the served WSDL and on exchanged messages.

The WSDL tests read the documents as served (the WSDL at the run's URL, and every WSDL or
schema it imports from the same origin), not as a SOAP toolkit digests them: a toolkit
forgives what another one refuses. The message tests send bytes as they are, because no client
sends a wrong Content-Type or an unknown mandatory header on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from lxml import etree

from temix import codec
from temix import payloads as p
from temix.conformance.capabilities import Capabilities
from temix.conformance.catalogue import Failed, NotApplicable, case
from temix.conformance.trial import RawReply, Trial
from temix.envelope import SOAP_1_1, SOAP_1_2, SOAP_VERSIONS, SoapVersion, parse_content_type
from temix.namespaces import SOAP11, SOAP12, XSD, prefixed, resolve_qname
from temix.wsdl import WSDL_NS

XML_NS = "http://www.w3.org/XML/1998/namespace"
SOAP_OVER_HTTP = "http://schemas.xmlsoap.org/soap/http"
SOAP12_HTTP_BINDING = "http://www.w3.org/2003/05/soap/bindings/HTTP/"
"""The SOAP 1.2 HTTP binding's own URI, which some WSDL 1.1 SOAP 1.2 bindings name instead."""

FOREIGN_NS = "urn:temix:conformance:not-temix"
"""A namespace no TeMIX endpoint knows: for a body element and a header block it cannot
understand."""

WSDL_LOADS = "TMX-WSD-001"


@dataclass(frozen=True)
class ProfileOperation:
    """An operation the TeMIX profile needs: its request payload, the reply payloads it may
    answer with, and the feature that makes it needed (None: always)."""

    name: str
    request: type
    replies: tuple[type, ...]
    feature: str | None = None

    @property
    def request_tag(self) -> str:
        return codec.PAYLOAD_ELEMENTS[self.request]

    @property
    def reply_tags(self) -> tuple[str, ...]:
        return tuple(codec.PAYLOAD_ELEMENTS[reply] for reply in self.replies)


PROFILE_OPERATIONS = (
    ProfileOperation("EiCreateTender", p.CreateTender, (p.CreatedTender,)),
    ProfileOperation("EiCancelTender", p.CancelTender, (p.CanceledTender,)),
    ProfileOperation("EiRequestTender", p.RequestTender, (p.ReplyTender,)),
    ProfileOperation("EiCreateTransaction", p.CreateTransaction, (p.CreatedTransaction,)),
    ProfileOperation("EiRequestTransaction", p.RequestTransaction, (p.ReplyTransaction,)),
    ProfileOperation(
        "EiRequestMarketContext",
        p.RequestMarketContext,
        (p.ReplyMarketContext, p.ReplyEiMarketContext),
    ),
    ProfileOperation("EiDistributeTender", p.DistributeTender, (p.CreatedTender,), "distribute"),
    ProfileOperation("EiCreateQuote", p.CreateQuote, (p.CreatedQuote,), "quotes"),
    ProfileOperation("EiCancelQuote", p.CancelQuote, (p.CanceledQuote,), "quotes"),
    ProfileOperation("EiRequestQuote", p.RequestQuote, (p.ReplyQuote,), "quotes"),
    ProfileOperation("EiCreateDelivery", p.CreateDelivery, (p.CreatedDelivery,), "delivery"),
    ProfileOperation("EiRequestDelivery", p.RequestDelivery, (p.ReplyDelivery,), "delivery"),
    ProfileOperation("EiRequestPosition", p.RequestPosition, (p.ReplyPosition,), "positions"),
    ProfileOperation(
        "EiRequestSettlement", p.RequestSettlement, (p.ReplySettlement,), "settlement"
    ),
    ProfileOperation(
        "EiRequestPublication", p.RequestPublication, (p.ReplyPublication,), "publication"
    ),
)


def needed_operations(capabilities: Capabilities) -> tuple[ProfileOperation, ...]:
    """The profile's operations the endpoint must offer, by the features it declares."""
    return tuple(
        operation
        for operation in PROFILE_OPERATIONS
        if operation.feature is None or capabilities.declares(operation.feature)
    )


def declared_versions(trial: Trial) -> tuple[SoapVersion, ...]:
    """The SOAP versions the endpoint declares: 1.1 always, 1.2 with ``soap-1-2``."""
    return SOAP_VERSIONS if trial.capabilities.declares("soap-1-2") else (SOAP_1_1,)


# --- The served contract --------------------------------------------------------------------


@dataclass(frozen=True)
class BoundOperation:
    """One operation of one SOAP binding, with what the WSDL says about it on the wire."""

    binding: str
    name: str
    version: SoapVersion
    element: etree._Element
    soap_action: str | None
    style: str
    input_parts: tuple[etree._Element, ...] | None
    output_parts: tuple[etree._Element, ...] | None

    def body_element(self, parts: tuple[etree._Element, ...] | None) -> str | None:
        """The Clark name of the element a message's single part refers to, if it does."""
        if parts is None or len(parts) != 1 or parts[0].get("element") is None:
            return None
        return resolve_qname(parts[0], parts[0].get("element"))

    @property
    def request_tag(self) -> str | None:
        return self.body_element(self.input_parts)

    @property
    def reply_tag(self) -> str | None:
        return self.body_element(self.output_parts)


@dataclass
class ServedContract:
    """The served WSDL documents and schemas by URL, and what their definitions hold."""

    documents: dict[str, etree._Element] = field(default_factory=dict)
    messages: dict[str, tuple[etree._Element, ...]] = field(default_factory=dict)
    port_types: dict[str, dict[str, etree._Element]] = field(default_factory=dict)
    bindings: dict[str, etree._Element] = field(default_factory=dict)
    ports: list[tuple[str, str, SoapVersion | None, str | None]] = field(default_factory=list)
    """(port name, binding QName, SOAP version of its address, address)."""

    def soap_bindings(self) -> Iterator[tuple[str, SoapVersion, etree._Element]]:
        """Each binding with a SOAP 1.1 or 1.2 binding element, with its version."""
        for name, binding in self.bindings.items():
            for version in SOAP_VERSIONS:
                if binding.find(f"{{{version.wsdl_binding_ns}}}binding") is not None:
                    yield name, version, binding

    def operations(self) -> Iterator[BoundOperation]:
        """Every operation of every SOAP binding, read through its port type and messages."""
        for name, version, binding in self.soap_bindings():
            soap = f"{{{version.wsdl_binding_ns}}}"
            default_style = binding.find(soap + "binding").get("style", "document")
            port_type = self.port_types.get(resolve_qname(binding, binding.get("type", "")), {})
            for operation in binding.iterchildren(f"{{{WSDL_NS}}}operation"):
                soap_operation = operation.find(soap + "operation")
                abstract = port_type.get(operation.get("name"))
                yield BoundOperation(
                    binding=name,
                    name=operation.get("name", ""),
                    version=version,
                    element=operation,
                    soap_action=_attribute(soap_operation, "soapAction", None),
                    style=_attribute(soap_operation, "style", default_style),
                    input_parts=self._parts(abstract, "input"),
                    output_parts=self._parts(abstract, "output"),
                )

    def _parts(
        self, abstract: etree._Element | None, direction: str
    ) -> tuple[etree._Element, ...] | None:
        if abstract is None:
            return None
        message = abstract.find(f"{{{WSDL_NS}}}{direction}")
        if message is None or message.get("message") is None:
            return None
        return self.messages.get(resolve_qname(message, message.get("message")))

    def addressed_bindings(self, version: SoapVersion) -> dict[str, str]:
        """The bindings of ``version`` that a port gives an address, with that address."""
        return {
            binding: address
            for _, binding, port_version, address in self.ports
            if port_version is version and address
        }


def _local(qname: str) -> str:
    """A WSDL component's name without its namespace, for reasons."""
    return etree.QName(qname).localname


def _attribute(element: etree._Element | None, name: str, default: str | None) -> str | None:
    return default if element is None else element.get(name, default)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _fetch(session: requests.Session, url: str, timeout: float) -> etree._Element:
    """The document at ``url``, parsed without loading or obeying any DTD; a DTD fails."""
    try:
        response = session.get(url, timeout=timeout)
    except requests.RequestException as error:
        raise Failed(f"GET {url}: no answer: {error}") from None
    if response.status_code != 200:
        raise Failed(f"GET {url}: HTTP {response.status_code}")
    parser = etree.XMLParser(
        resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False
    )
    try:
        root = etree.fromstring(response.content, parser)
    except etree.XMLSyntaxError as error:
        raise Failed(f"GET {url}: not well-formed XML: {error}") from None
    if root.getroottree().docinfo.doctype:
        raise Failed(f"{url} has a document type declaration (DTD)")
    return root


def served_contract(trial: Trial) -> ServedContract:
    """The WSDL at the run's URL and everything it imports from the same origin, read."""
    session = trial.client().transport.session
    timeout = trial.run.target.timeout
    start = trial.run.target.wsdl
    contract = ServedContract()
    pending = [start]
    while pending:
        url = pending.pop(0)
        if url in contract.documents:
            continue
        root = _fetch(session, url, timeout)
        contract.documents[url] = root
        for reference, location in _references(root):
            target = urljoin(url, location)
            if _origin(target) != _origin(start):
                trial.warn(f"{url} imports {target} from another origin: not followed")
                continue
            if reference == "wsdl" and root.tag != f"{{{WSDL_NS}}}definitions":
                raise Failed(f"{url}: a wsdl:import outside a WSDL document")
            pending.append(target)
        if root.tag == f"{{{WSDL_NS}}}definitions":
            _read_definitions(root, contract)
    root_tag = contract.documents[start].tag
    if root_tag != f"{{{WSDL_NS}}}definitions":
        raise Failed(f"{start} is not a WSDL 1.1 document ({prefixed(root_tag)})")
    return contract


def _references(root: etree._Element) -> Iterator[tuple[str, str]]:
    """The documents ``root`` imports: ("wsdl" | "xsd", location)."""
    for element in root.iter(f"{{{WSDL_NS}}}import"):
        if element.get("location"):
            yield "wsdl", element.get("location")
    for tag in ("import", "include", "redefine"):
        for element in root.iter(f"{{{XSD}}}{tag}"):
            if element.get("schemaLocation"):
                yield "xsd", element.get("schemaLocation")


def _read_definitions(root: etree._Element, contract: ServedContract) -> None:
    namespace = root.get("targetNamespace", "")
    wsdl = f"{{{WSDL_NS}}}"
    for message in root.iterchildren(wsdl + "message"):
        contract.messages[f"{{{namespace}}}{message.get('name')}"] = tuple(
            message.iterchildren(wsdl + "part")
        )
    for port_type in root.iterchildren(wsdl + "portType"):
        contract.port_types[f"{{{namespace}}}{port_type.get('name')}"] = {
            operation.get("name"): operation
            for operation in port_type.iterchildren(wsdl + "operation")
        }
    for binding in root.iterchildren(wsdl + "binding"):
        contract.bindings[f"{{{namespace}}}{binding.get('name')}"] = binding
    for port in root.iter(wsdl + "port"):
        binding = resolve_qname(port, port.get("binding", ""))
        version, address = None, None
        for each in SOAP_VERSIONS:
            found = port.find(f"{{{each.wsdl_binding_ns}}}address")
            if found is not None:
                version, address = each, found.get("location")
        contract.ports.append((port.get("name", ""), binding, version, address))


# --- The WSDL -------------------------------------------------------------------------------


@case(
    WSDL_LOADS,
    "The WSDL and every document it imports are served, well-formed and free of DTDs",
    "WSDL 1.1 2.1.1 (document structure, import); XML Schema 1.0 import; "
    "WS-I BP 1.1 (service description)",
)
def wsdl_loads(trial: Trial) -> None:
    contract = served_contract(trial)
    trial.expect(contract.bindings, "the WSDL and its imports define no binding")
    trial.expect(
        any(version for _, _, version, _ in contract.ports),
        "no wsdl:port gives a SOAP address",
    )


@case(
    "TMX-WSD-002",
    "The WSDL binds every operation the declared profile needs, for each declared SOAP version",
    "TeMIX paper 2.13 (TeMIX web services); EI 1.0 services; "
    "temix profile: docs/profile.md (payloads and operations)",
    after=[WSDL_LOADS],
)
def wsdl_has_profile_operations(trial: Trial) -> None:
    contract = served_contract(trial)
    operations = list(contract.operations())
    for version in declared_versions(trial):
        addressed = contract.addressed_bindings(version)
        for needed in needed_operations(trial.capabilities):
            bound = [
                each
                for each in operations
                if each.version is version
                and each.binding in addressed
                and each.request_tag == needed.request_tag
            ]
            trial.expect(
                bound,
                f"no SOAP {version.name} port binds an operation taking "
                f"{prefixed(needed.request_tag)} ({needed.name})",
            )
            trial.expect(
                any(each.reply_tag in needed.reply_tags for each in bound),
                f"{needed.name} over SOAP {version.name} does not answer with "
                + " or ".join(prefixed(tag) for tag in needed.reply_tags),
            )


@case(
    "TMX-WSD-003",
    "Every SOAP binding is document/literal with one part per message, naming an element",
    "WS-I BP 1.1 R2705, R2706 (literal), R2204 (element parts), R2210; "
    "WSDL 1.1 3.3 soap:binding, 3.5 soap:body",
    after=[WSDL_LOADS],
)
def wsdl_document_literal(trial: Trial) -> None:
    contract = served_contract(trial)
    for operation in contract.operations():
        where = f"binding {_local(operation.binding)} operation {operation.name}"
        trial.expect(
            operation.style == "document", f"{where} is {operation.style}-style, not document"
        )
        soap = f"{{{operation.version.wsdl_binding_ns}}}"
        for direction, parts in (
            ("input", operation.input_parts),
            ("output", operation.output_parts),
        ):
            bound = operation.element.find(f"{{{WSDL_NS}}}{direction}")
            trial.expect(bound is not None, f"{where} has no wsdl:{direction}")
            for use_of in bound.iter(soap + "body", soap + "header", soap + "fault"):
                trial.expect(
                    use_of.get("use") == "literal",
                    f"{where} {direction} {prefixed(use_of.tag)} use is "
                    f"{use_of.get('use')!r}, not 'literal'",
                )
            body = bound.find(soap + "body")
            trial.expect(body is not None, f"{where} {direction} has no soap:body")
            trial.expect(
                len((body.get("parts") or "").split()) <= 1,
                f"{where} {direction} soap:body lists more than one part",
            )
            trial.expect(parts is not None, f"{where}: the {direction} message is not defined")
            trial.expect(
                len(parts) == 1,
                f"{where}: the {direction} message has {len(parts)} parts, not one",
            )
            trial.expect(
                parts[0].get("element") and parts[0].get("type") is None,
                f"{where}: the {direction} part names a type, not an element",
            )


@case(
    "TMX-WSD-004",
    "Every SOAP binding names SOAP over HTTP as its transport",
    "WS-I BP 1.1 R2701, R2702; WSDL 1.1 3.3 soap:binding",
    after=[WSDL_LOADS],
)
def wsdl_http_transport(trial: Trial) -> None:
    contract = served_contract(trial)
    for name, version, binding in contract.soap_bindings():
        transport = binding.find(f"{{{version.wsdl_binding_ns}}}binding").get("transport")
        trial.expect(transport is not None, f"binding {_local(name)} names no transport")
        allowed = {SOAP_OVER_HTTP} if version is SOAP_1_1 else {SOAP_OVER_HTTP, SOAP12_HTTP_BINDING}
        trial.expect(
            transport in allowed,
            f"binding {_local(name)} transport is {transport!r}, not SOAP over HTTP",
        )


@case(
    "TMX-WSD-005",
    "Every bound operation has its own non-empty soapAction",
    "WSDL 1.1 3.4 soap:operation; WS-I BP 1.1 R2744 (the SOAPAction a request carries)",
    after=[WSDL_LOADS],
)
def wsdl_soap_actions(trial: Trial) -> None:
    contract = served_contract(trial)
    seen: dict[tuple[SoapVersion, str], str] = {}
    for operation in contract.operations():
        where = f"binding {_local(operation.binding)} operation {operation.name}"
        trial.expect(operation.soap_action, f"{where} has no soapAction")
        key = (operation.version, operation.soap_action)
        other = seen.setdefault(key, operation.name)
        trial.expect(
            other == operation.name,
            f"SOAP {operation.version.name} operations {other} and {operation.name} share "
            f"the soapAction {operation.soap_action}",
        )


@case(
    "TMX-WSD-006",
    "No two operations at one SOAP address take the same Body element (unique wire signature)",
    "WS-I BP 1.1 R2710",
    after=[WSDL_LOADS],
)
def wsdl_unique_wire_signatures(trial: Trial) -> None:
    contract = served_contract(trial)
    for version in SOAP_VERSIONS:
        addressed = contract.addressed_bindings(version)
        seen: dict[tuple[str, str | None], str] = {}
        for operation in contract.operations():
            if operation.version is not version or operation.binding not in addressed:
                continue
            key = (addressed[operation.binding], operation.request_tag)
            other = seen.setdefault(key, operation.name)
            trial.expect(
                other == operation.name,
                f"SOAP {version.name} operations {other} and {operation.name} at "
                f"{key[0]} both take {prefixed(operation.request_tag or '?')}",
            )


@case(
    "TMX-WSD-007",
    "A flattened single-file WSDL (?singleWsdl) is served, with every schema inline",
    "temix profile: docs/server.md (?singleWsdl for SOA buses)",
    after=[WSDL_LOADS],
    required=False,
)
def single_wsdl(trial: Trial) -> None:
    parts = urlsplit(trial.run.target.wsdl)
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, "singleWsdl", ""))
    root = _fetch(trial.client().transport.session, url, trial.run.target.timeout)
    trial.expect(root.tag == f"{{{WSDL_NS}}}definitions", f"{url} is not a WSDL document")
    trial.expect(
        root.find(f"{{{WSDL_NS}}}types/{{{XSD}}}schema") is not None,
        f"{url} holds no inline schema",
    )
    outside = [location for _, location in _references(root)]
    trial.expect(not outside, f"{url} still imports {', '.join(outside[:3])}")
    full = {(op.version, op.request_tag) for op in served_contract(trial).operations()}
    flat = ServedContract()
    _read_definitions(root, flat)
    missing = full - {(op.version, op.request_tag) for op in flat.operations()}
    trial.expect(
        not missing,
        "the single-file WSDL lacks operations taking "
        + ", ".join(
            f"{prefixed(tag or '?')} (SOAP {v.name})"
            for v, tag in sorted(missing, key=lambda item: (item[0].name, item[1] or ""))
        ),
    )


# --- Messages -------------------------------------------------------------------------------


def market_context_request(trial: Trial) -> p.RequestMarketContext:
    """A valid request every party may make and that changes nothing."""
    return p.RequestMarketContext(trial.new_id(), (trial.input("market-context"),), trial.party)


def content_type(reply: RawReply) -> tuple[str, dict[str, str]]:
    """The reply's media type (lower case) and its parameters (names in lower case)."""
    return parse_content_type(reply.headers.get("Content-Type", ""))


def fault_code(reply: RawReply, version: SoapVersion) -> str:
    """The Clark name of the reply's fault code; fails when the reply holds no fault."""
    fault = reply.fault()
    if fault is None:
        raise Failed(f"expected a SOAP {version.name} fault, got {reply.summary}")
    return fault.code


def non_temix_body(route_version: SoapVersion, trial: Trial) -> etree._Element:
    """A signed Envelope whose Body is a well-formed element of no TeMIX operation."""
    element = etree.Element(f"{{{FOREIGN_NS}}}ping", nsmap={"x": FOREIGN_NS})
    etree.SubElement(element, f"{{{FOREIGN_NS}}}requestID").text = trial.new_id()
    return trial.envelope(element, version=route_version)


@case(
    "TMX-WSD-008",
    "A SOAP 1.1 reply is HTTP 200 with Content-Type text/xml and a charset",
    "SOAP 1.1 6.2 (SOAP HTTP response, text/xml); WS-I BP 1.1 (message serialization: charset)",
)
def soap11_reply_content_type(trial: Trial) -> None:
    route = trial.route(p.RequestMarketContext)
    reply = trial.post(route, trial.envelope(market_context_request(trial)))
    trial.expect(reply.status == 200, f"expected HTTP 200 for a reply, got {reply.summary}")
    reply.payload()
    media_type, parameters = content_type(reply)
    trial.expect(media_type == "text/xml", f"the reply's media type is {media_type!r}")
    trial.expect(
        parameters.get("charset", "").lower() in ("utf-8", "utf-16"),
        f"the reply's Content-Type charset is {parameters.get('charset')!r}, not utf-8 or utf-16",
    )


@case(
    "TMX-WSD-009",
    "A SOAP 1.2 reply is HTTP 200 with Content-Type application/soap+xml",
    "SOAP 1.2 Part 2 7 (SOAP HTTP binding); RFC 3902 (application/soap+xml)",
    requires=["soap-1-2"],
)
def soap12_reply_content_type(trial: Trial) -> None:
    route = trial.route(p.RequestMarketContext, SOAP_1_2)
    reply = trial.post(route, trial.envelope(market_context_request(trial), version=SOAP_1_2))
    trial.expect(reply.status == 200, f"expected HTTP 200 for a reply, got {reply.summary}")
    reply.payload()
    media_type, parameters = content_type(reply)
    trial.expect(media_type == "application/soap+xml", f"the reply's media type is {media_type!r}")
    charset = parameters.get("charset", "utf-8").lower()
    trial.expect(charset in ("utf-8", "utf-16"), f"the reply's charset is {charset!r}")


@case(
    "TMX-WSD-010",
    "A SOAP 1.1 fault comes with HTTP 500 and only unqualified faultcode, faultstring, "
    "faultactor and detail",
    "SOAP 1.1 4.4 (SOAP Fault), 6.2; WS-I BP 1.1 R1126, R1000, R1001",
)
def soap11_fault_shape(trial: Trial) -> None:
    route = trial.route(p.RequestMarketContext)
    reply = trial.post(route, non_temix_body(SOAP_1_1, trial))
    trial.expect(
        reply.status == 500, f"a SOAP 1.1 fault must come with HTTP 500, got {reply.summary}"
    )
    fault = reply.envelope().find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    trial.expect(fault is not None, f"expected a SOAP 1.1 fault, got {reply.summary}")
    children = [child for child in fault if isinstance(child.tag, str)]
    allowed = ("faultcode", "faultstring", "faultactor", "detail")
    strange = [prefixed(child.tag) for child in children if child.tag not in allowed]
    trial.expect(not strange, f"the Fault holds {', '.join(strange)}")
    code = fault.find("faultcode")
    trial.expect(code is not None and (code.text or "").strip(), "the Fault has no faultcode")
    try:
        resolved = resolve_qname(code, code.text.strip())
    except ValueError:
        raise Failed(f"the faultcode {code.text.strip()!r} is not a resolvable QName") from None
    trial.expect(":" in code.text, f"the faultcode {code.text.strip()!r} is not qualified")
    trial.expect(
        etree.QName(resolved).namespace,
        f"the faultcode {code.text.strip()!r} names no namespace",
    )
    reason = fault.findtext("faultstring")
    trial.expect(reason and reason.strip(), "the Fault has no faultstring text")


@case(
    "TMX-WSD-011",
    "A SOAP 1.2 Sender fault comes with HTTP 400, a Code of env:Sender and a Reason text "
    "with xml:lang",
    "SOAP 1.2 Part 1 5.4 (SOAP Fault); SOAP 1.2 Part 2 7 (SOAP HTTP binding: env:Sender is "
    "400 Bad Request)",
    requires=["soap-1-2"],
)
def soap12_sender_fault(trial: Trial) -> None:
    route = trial.route(p.RequestMarketContext, SOAP_1_2)
    reply = trial.post(route, non_temix_body(SOAP_1_2, trial))
    fault = reply.envelope().find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    trial.expect(fault is not None, f"expected a SOAP 1.2 fault, got {reply.summary}")
    value = fault.find(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value")
    trial.expect(value is not None, "the Fault has no Code/Value")
    try:
        code = resolve_qname(value, (value.text or "").strip())
    except ValueError:
        raise Failed(f"the fault Code {value.text!r} is not a resolvable QName") from None
    trial.expect(
        code == f"{{{SOAP12}}}Sender",
        f"a body element of no operation is the sender's fault: got {prefixed(code)}",
    )
    trial.expect(
        reply.status == 400, f"a SOAP 1.2 Sender fault must come with HTTP 400, got {reply.status}"
    )
    texts = fault.findall(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text")
    trial.expect(texts, "the Fault has no Reason/Text")
    trial.expect(
        all(text.get(f"{{{XML_NS}}}lang") for text in texts), "a Reason Text has no xml:lang"
    )


@case(
    "TMX-WSD-012",
    "A request to the endpoint by another HTTP method than POST (GET, PUT) is refused with 405",
    "WS-I BP 1.1 (HTTP POST for SOAP requests); RFC 9110 15.5.6 (405 Method Not Allowed); "
    "temix profile: docs/security.md (POST only)",
)
def only_post(trial: Trial) -> None:
    route = trial.route(p.RequestMarketContext)
    for method in ("GET", "PUT"):
        body = b"" if method == "GET" else trial.envelope(market_context_request(trial))
        reply = trial.post(route, body, method=method)
        trial.expect(
            reply.status == 405, f"{method} {route.address}: expected HTTP 405, got {reply.status}"
        )


@case(
    "TMX-WSD-013",
    "A SOAP request with a Content-Type that is not a SOAP media type is refused with 415",
    "SOAP 1.1 6.1 (text/xml); RFC 3902; RFC 9110 15.5.16 (415 Unsupported Media Type); "
    "temix profile: docs/security.md (a SOAP Content-Type)",
)
def wrong_content_type(trial: Trial) -> None:
    route = trial.route(p.RequestMarketContext)
    envelope = trial.envelope(market_context_request(trial))
    reply = trial.post(route, envelope, headers={"Content-Type": "application/json"})
    trial.expect(
        reply.status == 415,
        f"a SOAP Envelope sent as application/json: expected HTTP 415, got {reply.status}",
    )


@case(
    "TMX-WSD-014",
    "A SOAP 1.2 Envelope sent as text/xml (SOAP 1.1) is answered with a VersionMismatch fault",
    "SOAP 1.1 4.4.1 (VersionMismatch); SOAP 1.1 6.2",
)
def version_mismatch(trial: Trial) -> None:
    route = trial.route(p.RequestMarketContext)
    reply = trial.post(route, trial.envelope(market_context_request(trial), version=SOAP_1_2))
    code = fault_code(reply, SOAP_1_1)
    trial.expect(
        code == f"{{{SOAP11}}}VersionMismatch",
        f"expected soap:VersionMismatch, got {prefixed(code)}",
    )
    trial.expect(reply.status == 500, f"a SOAP 1.1 fault must come with HTTP 500: {reply.status}")


@case(
    "TMX-WSD-015",
    "A mustUnderstand header block the endpoint does not know is answered with a "
    "MustUnderstand fault",
    "SOAP 1.1 4.2.3 (mustUnderstand), 4.4.1; SOAP 1.2 Part 1 5.2.3, 5.4.8",
)
def must_understand(trial: Trial) -> None:
    for version in declared_versions(trial):
        route = trial.route(p.RequestMarketContext, version)
        envelope = trial.envelope(market_context_request(trial), version=version)
        env = f"{{{version.envelope_ns}}}"
        header = envelope.find(env + "Header")
        if header is None:
            header = etree.Element(env + "Header")
            envelope.insert(0, header)
        block = etree.Element(f"{{{FOREIGN_NS}}}unknownExtension", nsmap={"x": FOREIGN_NS})
        block.set(env + "mustUnderstand", "1" if version is SOAP_1_1 else "true")
        header.insert(0, block)
        reply = trial.post(route, envelope)
        code = fault_code(reply, version)
        trial.expect(
            code == f"{{{version.envelope_ns}}}MustUnderstand",
            f"SOAP {version.name}: expected a MustUnderstand fault, got {prefixed(code)}",
        )


@case(
    "TMX-WSD-016",
    "A request whose SOAPAction names another operation than its Body is refused, not carried out",
    "WS-I BP 1.1 R2744 (SOAPAction equals the operation's soapAction); "
    "temix profile: docs/security.md (dispatch agrees with the SOAPAction)",
    after=["TMX-WSD-005"],
)
def soap_action_mismatch(trial: Trial) -> None:
    create = trial.route(p.CreateTender)
    other = trial.route(p.RequestTender)
    if create.soap_action == other.soap_action:
        raise NotApplicable("EiCreateTender and EiRequestTender share one soapAction")
    tender = trial.tender()
    request = p.CreateTender(trial.new_id(), trial.party, trial.counterparty, (tender,))
    reply = trial.post(
        create,
        trial.envelope(request),
        headers={"SOAPAction": f'"{other.soap_action}"'},
    )
    trial.expect(
        reply.status >= 400,
        f"eiCreateTender sent with the SOAPAction of {other.operation}: expected a refusal, "
        f"got {reply.summary}",
    )
    listed = trial.succeeds(
        lambda: trial.client().request_tenders(tender_ids=(tender.tender_id,)),
        "listing the tender",
    )
    trial.expect(not listed, f"the tender {tender.tender_id} was stored all the same")
