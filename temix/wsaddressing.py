"""WS-Addressing 1.0 (W3C Core and SOAP Binding) message addressing properties, as pure values.

Rules:

* The headers read are ``wsa:To``, ``wsa:From``, ``wsa:ReplyTo``, ``wsa:FaultTo``,
  ``wsa:Action``, ``wsa:MessageID`` and ``wsa:RelatesTo``, for the receiver the caller names
  (headers for other SOAP roles are not ours). A message uses WS-Addressing when it holds any of
  them; it then needs ``wsa:Action`` and, since every temix operation expects a reply,
  ``wsa:MessageID`` (``wsa:MessageAddressingHeaderRequired`` otherwise).
* Each header appears at most once (RelatesTo once per relationship type) and holds an absolute
  IRI as plain text: no child elements, comments or processing instructions, so the text read
  is the text signed (``wsa:InvalidAddressingHeader`` / ``wsa:InvalidCardinality`` or
  ``wsa:InvalidAddress`` otherwise). An endpoint reference holds one ``wsa:Address``
  (``wsa:MissingAddressInEPR``).
* The reply goes back on the connection the request came on: a ReplyTo or FaultTo other than
  the anonymous address is refused (``wsa:OnlyAnonymousAddressSupported``); nothing is ever
  sent to an address taken from a message.
* A reply carries ``wsa:Action`` (the output action, or the fault actions of the SOAP
  Binding), a fresh ``wsa:MessageID``, ``wsa:RelatesTo`` the request's MessageID, ``wsa:To``
  anonymous, and a copy of each reference parameter of the ReplyTo (FaultTo for a fault) marked
  ``wsa:IsReferenceParameter``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree

WSA = "http://www.w3.org/2005/08/addressing"
WSAM = "http://www.w3.org/2007/05/addressing/metadata"
WSAW = "http://www.w3.org/2006/05/addressing/wsdl"
ANONYMOUS = f"{WSA}/anonymous"
NONE = f"{WSA}/none"
REPLY_RELATIONSHIP = f"{WSA}/reply"
FAULT_ACTION = f"{WSA}/fault"
"""The action of a fault the SOAP Binding defines (the WS-Addressing faults)."""
SOAP_FAULT_ACTION = f"{WSA}/soap/fault"
"""The action of any other SOAP fault."""

HEADER_NAMES = ("To", "From", "ReplyTo", "FaultTo", "Action", "MessageID", "RelatesTo")
HEADERS = frozenset(f"{{{WSA}}}{name}" for name in HEADER_NAMES)
"""The header blocks a receiver of WS-Addressing understands (``mustUnderstand`` on them)."""
_ENDPOINT_REFERENCES = frozenset({"From", "ReplyTo", "FaultTo"})
IS_REFERENCE_PARAMETER = f"{{{WSA}}}IsReferenceParameter"


class Fault:
    """The fault subcodes of the SOAP Binding (section 6.4), by local name."""

    INVALID_HEADER = "InvalidAddressingHeader"
    INVALID_ADDRESS = "InvalidAddress"
    INVALID_CARDINALITY = "InvalidCardinality"
    MISSING_ADDRESS = "MissingAddressInEPR"
    ACTION_MISMATCH = "ActionMismatch"
    ONLY_ANONYMOUS = "OnlyAnonymousAddressSupported"
    HEADER_REQUIRED = "MessageAddressingHeaderRequired"
    ACTION_NOT_SUPPORTED = "ActionNotSupported"


class AddressingError(Exception):
    """A WS-Addressing fault: ``subcode`` (and ``subsubcode``) are local names in the WS-A
    namespace; ``problem_header`` (a Clark name) or ``problem_action`` is the fault's detail."""

    def __init__(
        self,
        reason: str,
        subcode: str,
        subsubcode: str | None = None,
        *,
        problem_header: str | None = None,
        problem_action: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.subcode = subcode
        self.subsubcode = subsubcode
        self.problem_header = problem_header
        self.problem_action = problem_action

    def detail(self) -> etree._Element | None:
        """The fault's detail element: ``wsa:ProblemHeaderQName`` or ``wsa:ProblemAction``."""
        if self.problem_action is not None:
            problem = etree.Element(f"{{{WSA}}}ProblemAction", nsmap={"wsa": WSA})
            etree.SubElement(problem, f"{{{WSA}}}Action").text = self.problem_action
            return problem
        if self.problem_header is not None:
            name = etree.QName(self.problem_header)
            nsmap = {"wsa": WSA}
            if name.namespace != WSA:
                nsmap["hdr"] = name.namespace
            problem = etree.Element(f"{{{WSA}}}ProblemHeaderQName", nsmap=nsmap)
            problem.text = f"{'wsa' if name.namespace == WSA else 'hdr'}:{name.localname}"
            return problem
        return None


@dataclass(frozen=True)
class Addressing:
    """The addressing properties of one request (absent headers are None)."""

    action: str
    message_id: str
    to: str | None = None
    from_address: str | None = None
    fault_to: str | None = None
    relates_to: tuple[tuple[str, str], ...] = ()
    reply_parameters: tuple[bytes, ...] = ()
    """The ReplyTo's reference parameters, each serialised, to echo in the reply."""
    fault_parameters: tuple[bytes, ...] = ()


def message_id_of(blocks: Iterable[etree._Element]) -> str | None:
    """The request's MessageID when it can be read at all, so a fault can relate to it."""
    found = [block for block in blocks if block.tag == f"{{{WSA}}}MessageID"]
    if len(found) != 1:
        return None
    try:
        return _iri(found[0])
    except AddressingError:
        return None


def read_addressing(blocks: Iterable[etree._Element]) -> Addressing | None:
    """The addressing properties in ``blocks`` (the Header's blocks for this receiver), None
    when there are none, or :class:`AddressingError`."""
    by_name: dict[str, list[etree._Element]] = {}
    for block in blocks:
        name = etree.QName(block)
        if name.namespace == WSA:
            by_name.setdefault(name.localname, []).append(block)
    if not by_name:
        return None
    unknown = sorted(set(by_name) - set(HEADER_NAMES))
    if unknown:
        raise AddressingError(
            f"wsa:{unknown[0]} is not a message addressing header",
            Fault.INVALID_HEADER,
            problem_header=f"{{{WSA}}}{unknown[0]}",
        )
    for name, found in by_name.items():
        if name != "RelatesTo" and len(found) > 1:
            raise AddressingError(
                f"wsa:{name} appears {len(found)} times",
                Fault.INVALID_HEADER,
                Fault.INVALID_CARDINALITY,
                problem_header=f"{{{WSA}}}{name}",
            )
    for name in ("Action", "MessageID"):
        if name not in by_name:
            raise AddressingError(
                f"a request using WS-Addressing needs wsa:{name}",
                Fault.HEADER_REQUIRED,
                problem_header=f"{{{WSA}}}{name}",
            )

    def single(name: str) -> etree._Element | None:
        return by_name[name][0] if name in by_name else None

    endpoints = {
        name: _endpoint_reference(single(name)) for name in _ENDPOINT_REFERENCES if name in by_name
    }
    for name in ("ReplyTo", "FaultTo"):
        address = endpoints.get(name, (ANONYMOUS, ()))[0]
        if address != ANONYMOUS:
            raise AddressingError(
                f"wsa:{name} is {address}: this endpoint replies on the request's connection "
                f"only, so it must be {ANONYMOUS}",
                Fault.INVALID_HEADER,
                Fault.ONLY_ANONYMOUS,
                problem_header=f"{{{WSA}}}{name}",
            )
    relates_to = []
    for block in by_name.get("RelatesTo", []):
        relationship = block.get("RelationshipType", REPLY_RELATIONSHIP)
        if any(kind == relationship for kind, _ in relates_to):
            raise AddressingError(
                f"wsa:RelatesTo of type {relationship} appears twice",
                Fault.INVALID_HEADER,
                Fault.INVALID_CARDINALITY,
                problem_header=f"{{{WSA}}}RelatesTo",
            )
        relates_to.append((relationship, _iri(block)))
    to = single("To")
    reply_to = endpoints.get("ReplyTo")
    fault_to = endpoints.get("FaultTo")
    from_reference = endpoints.get("From")
    return Addressing(
        action=_iri(single("Action")),
        message_id=_iri(single("MessageID")),
        to=None if to is None else _iri(to),
        from_address=None if from_reference is None else from_reference[0],
        fault_to=None if fault_to is None else fault_to[0],
        relates_to=tuple(relates_to),
        reply_parameters=() if reply_to is None else reply_to[1],
        fault_parameters=() if fault_to is None else fault_to[1],
    )


def check_action(addressing: Addressing, expected: str, soap_action: str | None) -> None:
    """:class:`AddressingError` unless ``wsa:Action`` is ``expected`` (the action of the
    operation the Body calls) and agrees with a SOAPAction sent with it."""
    if soap_action and soap_action != addressing.action:
        raise AddressingError(
            f"wsa:Action {addressing.action} differs from the SOAPAction {soap_action}",
            Fault.INVALID_HEADER,
            Fault.ACTION_MISMATCH,
            problem_header=f"{{{WSA}}}Action",
        )
    if addressing.action != expected:
        raise AddressingError(
            f"wsa:Action {addressing.action} is not the action of the Body's operation "
            f"({expected})",
            Fault.ACTION_NOT_SUPPORTED,
            problem_action=addressing.action,
        )


def reply_headers(
    addressing: Addressing, action: str, *, fault: bool = False
) -> list[etree._Element]:
    """The header blocks of the reply to a request with ``addressing``."""
    blocks = [
        _text_block("Action", action),
        _text_block("MessageID", new_message_id()),
        _text_block("RelatesTo", addressing.message_id),
        _text_block("To", ANONYMOUS),
    ]
    parameters = addressing.fault_parameters if fault else addressing.reply_parameters
    for serialised in parameters:
        parameter = etree.fromstring(serialised)
        parameter.set(IS_REFERENCE_PARAMETER, "true")
        blocks.append(parameter)
    return blocks


def fault_reply_headers(message_id: str | None, action: str) -> list[etree._Element]:
    """The header blocks of a fault answering a request whose addressing could not be read
    whole: the fault action, and RelatesTo when its MessageID could be read."""
    blocks = [_text_block("Action", action), _text_block("MessageID", new_message_id())]
    if message_id is not None:
        blocks.append(_text_block("RelatesTo", message_id))
    blocks.append(_text_block("To", ANONYMOUS))
    return blocks


def request_headers(
    action: str, to: str, message_id: str | None = None, must_understand: str | None = None
) -> list[etree._Element]:
    """The header blocks a client sends: Action and To (``mustUnderstand`` when
    ``must_understand`` names the envelope namespace), a MessageID and an anonymous ReplyTo."""
    action_block = _text_block("Action", action)
    to_block = _text_block("To", to)
    if must_understand is not None:
        for block in (action_block, to_block):
            block.set(f"{{{must_understand}}}mustUnderstand", "1")
    reply_to = etree.Element(f"{{{WSA}}}ReplyTo", nsmap={"wsa": WSA})
    etree.SubElement(reply_to, f"{{{WSA}}}Address").text = ANONYMOUS
    return [
        action_block,
        _text_block("MessageID", message_id or new_message_id()),
        to_block,
        reply_to,
    ]


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def default_action(target_namespace: str, port_type: str, message_name: str) -> str:
    """The action WS-Addressing Metadata (4.4.4) gives a message without ``wsam:Action``."""
    delimiter = ":" if target_namespace.startswith("urn:") else "/"
    return f"{target_namespace.rstrip(delimiter)}{delimiter}{port_type}{delimiter}{message_name}"


def _text_block(name: str, text: str) -> etree._Element:
    block = etree.Element(f"{{{WSA}}}{name}", nsmap={"wsa": WSA})
    block.text = text
    return block


def _iri(element: etree._Element) -> str:
    """The element's text, an absolute IRI, when it holds nothing but text."""
    name = f"wsa:{etree.QName(element).localname}"
    if len(element):
        raise AddressingError(
            f"{name} must hold only text",
            Fault.INVALID_HEADER,
            Fault.INVALID_ADDRESS,
            problem_header=element.tag,
        )
    value = (element.text or "").strip()
    if not value or not urlsplit(value).scheme or any(c.isspace() for c in value):
        raise AddressingError(
            f"{name} is not an absolute IRI: {value!r}",
            Fault.INVALID_HEADER,
            Fault.INVALID_ADDRESS,
            problem_header=element.tag,
        )
    return value


def _endpoint_reference(element: etree._Element) -> tuple[str, tuple[bytes, ...]]:
    """An endpoint reference's address and its reference parameters, serialised."""
    addresses = element.findall(f"{{{WSA}}}Address")
    if len(addresses) != 1:
        raise AddressingError(
            f"wsa:{etree.QName(element).localname} must hold one wsa:Address",
            Fault.INVALID_HEADER,
            Fault.MISSING_ADDRESS,
            problem_header=element.tag,
        )
    parameters = element.find(f"{{{WSA}}}ReferenceParameters")
    serialised: tuple[bytes, ...] = ()
    if parameters is not None:
        serialised = tuple(
            etree.tostring(child) for child in parameters if isinstance(child.tag, str)
        )
    return _iri(addresses[0]), serialised
