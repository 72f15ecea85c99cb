"""WS-Addressing 1.0 (Core and SOAP Binding) on the wire, and the WSDL metadata and security
policy that tell a WCF, CXF or Metro client how to talk to the endpoint.

The messages carry the headers those stacks send: ``wsa:Action`` and ``wsa:To`` marked
``mustUnderstand``, a ``wsa:MessageID`` and an anonymous ``wsa:ReplyTo``; on a signed endpoint
the signature covers them. The refusals are checked to have stored nothing.
"""

from __future__ import annotations

from lxml import etree

from temix import payloads as p
from temix.conformance.cases.soap import (
    ServedContract,
    declared_versions,
    market_context_request,
    served_contract,
)
from temix.conformance.catalogue import Failed, NotApplicable, case
from temix.conformance.trial import RawReply, Trial
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion
from temix.wsaddressing import (
    ANONYMOUS,
    WSA,
    WSAM,
    WSAW,
    default_action,
    new_message_id,
    request_headers,
)
from temix.wsdl import WSDL_NS
from temix.wspolicy import SP, WSP
from temix.wssecurity import WSU

REFUSED_REPLY_TO = "http://127.0.0.1:9/temix-conformance/never-called"
"""A ReplyTo the endpoint must refuse: it replies on the request's connection only."""
CLAUSE = "W3C WS-Addressing 1.0"


def addressing_headers(
    trial: Trial,
    route_action: str,
    version: SoapVersion,
    *,
    action: str | None = None,
    message_id: str | None = None,
    reply_to: str = ANONYMOUS,
) -> list[etree._Element]:
    """The headers a WCF or CXF client sends, with ``action`` and ``reply_to`` as given."""
    blocks = request_headers(
        action or route_action,
        trial.run.target.wsdl.split("?")[0],
        message_id or new_message_id(),
        must_understand=version.envelope_ns,
    )
    blocks[-1].find(f"{{{WSA}}}Address").text = reply_to
    return blocks


def addressed(reply: RawReply) -> dict[str, list[str]]:
    """The reply's addressing headers' texts, by local name."""
    env = reply.route.version.envelope_ns
    found: dict[str, list[str]] = {}
    for block in reply.envelope().iterfind(f"{{{env}}}Header/{{{WSA}}}*"):
        found.setdefault(etree.QName(block).localname, []).append((block.text or "").strip())
    return found


def addressing_codes(reply: RawReply, version: SoapVersion) -> tuple[str, ...]:
    """The fault's code and subcodes; fails when the reply holds no fault."""
    fault = reply.fault()
    if fault is None:
        raise Failed(f"expected a SOAP {version.name} fault, got {reply.summary}")
    return (fault.code, *fault.subcodes)


def expect_invalid_header(
    trial: Trial, reply: RawReply, version: SoapVersion, subsubcode: str, what: str
) -> None:
    """The reply is wsa:InvalidAddressingHeader, with ``subsubcode`` in SOAP 1.2 (the SOAP 1.1
    binding writes the subcode alone as the faultcode)."""
    codes = addressing_codes(reply, version)
    wanted = [f"{{{WSA}}}InvalidAddressingHeader"]
    if version is SOAP_1_2:
        wanted.append(f"{{{WSA}}}{subsubcode}")
    trial.expect(
        all(code in codes for code in wanted),
        f"SOAP {version.name}, {what}: expected {wanted}, got {list(codes)}",
    )


def output_action(contract: ServedContract, operation: str) -> str:
    """The action of ``operation``'s reply: its ``wsam:Action``, else WS-A Metadata's default."""
    for name, port_type in contract.port_types.items():
        abstract = port_type.get(operation)
        if abstract is None:
            continue
        output = abstract.find(f"{{{WSDL_NS}}}output")
        explicit = output.get(f"{{{WSAM}}}Action")
        if explicit:
            return explicit
        namespace, local = etree.QName(name).namespace or "", etree.QName(name).localname
        return default_action(namespace, local, output.get("name", operation + "Response"))
    raise Failed(f"the WSDL has no port type operation {operation}")


def not_stored(trial: Trial, tender_id: str) -> None:
    listed = trial.succeeds(
        lambda: trial.client().request_tenders(tender_ids=(tender_id,)), "listing the tender"
    )
    trial.expect(not listed, f"the refused request's tender {tender_id} was stored all the same")


def tender_request(trial: Trial) -> tuple[p.CreateTender, str]:
    """A create-tender request for a fresh tender offered to the counterparty, and its id."""
    tender = trial.tender()
    request = p.CreateTender(trial.new_id(), trial.party, trial.counterparty, (tender,))
    return request, tender.tender_id


def refused_tender(trial: Trial, version: SoapVersion, **changes: str) -> tuple[RawReply, str]:
    """A create-tender request with the addressing ``changes``, posted; its tender id."""
    route = trial.route(p.CreateTender, version)
    request, tender_id = tender_request(trial)
    headers = addressing_headers(trial, route.soap_action, version, **changes)
    envelope = trial.envelope(request, version=version, headers=headers)
    return trial.post(route, envelope), tender_id


@case(
    "TMX-WSA-001",
    "A request with mustUnderstand WS-Addressing headers is answered, and the reply relates to "
    "it: RelatesTo its MessageID, the operation's output Action, a new MessageID",
    f"{CLAUSE} SOAP Binding 2.1 (mustUnderstand), 5 (anonymous replies); Core 3.2, 3.4 "
    "(reply properties); Metadata 4.4 (actions); temix profile: docs/security.md (a signature "
    "covers the addressing headers)",
    requires=["ws-addressing"],
)
def addressed_reply(trial: Trial) -> None:
    contract = served_contract(trial)
    for version in declared_versions(trial):
        route = trial.route(p.RequestMarketContext, version)
        message_id = new_message_id()
        headers = addressing_headers(trial, route.soap_action, version, message_id=message_id)
        envelope = trial.envelope(market_context_request(trial), version=version, headers=headers)
        reply = trial.post(route, envelope)
        trial.expect(
            reply.status == 200 and reply.fault() is None,
            f"SOAP {version.name}: expected an answer, got {reply.summary}",
        )
        reply.payload()
        if trial.capabilities.declares("signed"):
            trial.verified_body(reply)
        found = addressed(reply)
        trial.expect(
            found.get("RelatesTo") == [message_id],
            f"SOAP {version.name}: wsa:RelatesTo {found.get('RelatesTo')}, not [{message_id}]",
        )
        expected = output_action(contract, route.operation)
        trial.expect(
            found.get("Action") == [expected],
            f"SOAP {version.name}: wsa:Action {found.get('Action')}, not [{expected}]",
        )
        reply_ids = found.get("MessageID", [])
        trial.expect(
            len(reply_ids) == 1 and reply_ids[0] != message_id,
            f"SOAP {version.name}: the reply needs one new wsa:MessageID, has {reply_ids}",
        )


@case(
    "TMX-WSA-002",
    "A wsa:Action that differs from the SOAPAction is answered with wsa:ActionMismatch and "
    "not carried out",
    f"{CLAUSE} SOAP Binding 6.4.1 (Invalid Addressing Header: Action Mismatch); WS-I BP 2.0 R1144",
    requires=["ws-addressing"],
)
def action_mismatch(trial: Trial) -> None:
    for version in declared_versions(trial):
        route = trial.route(p.CreateTender, version)
        reply, tender_id = refused_tender(trial, version, action=route.soap_action + "Mismatch")
        expect_invalid_header(trial, reply, version, "ActionMismatch", "a wrong wsa:Action")
        not_stored(trial, tender_id)


@case(
    "TMX-WSA-003",
    "A wsa:Action of another operation than the Body's is answered with wsa:ActionNotSupported "
    "and not carried out",
    f"{CLAUSE} SOAP Binding 6.4.4 (Action Not Supported); temix profile: docs/security.md "
    "(dispatch agrees with the action)",
    requires=["ws-addressing", "soap-1-2"],
)
def action_not_supported(trial: Trial) -> None:
    route = trial.route(p.CreateTender, SOAP_1_2)
    other = trial.route(p.RequestTender, SOAP_1_2)
    if other.soap_action == route.soap_action:
        raise NotApplicable("EiCreateTender and EiRequestTender share one action")
    request, tender_id = tender_request(trial)
    headers = addressing_headers(trial, other.soap_action, SOAP_1_2)
    envelope = trial.envelope(request, version=SOAP_1_2, headers=headers)
    reply = trial.post(route, envelope, headers={"Content-Type": SOAP_1_2.content_type})
    codes = addressing_codes(reply, SOAP_1_2)
    trial.expect(
        f"{{{WSA}}}ActionNotSupported" in codes,
        f"eiCreateTender sent with the wsa:Action of {other.operation}: expected "
        f"wsa:ActionNotSupported, got {codes}",
    )
    not_stored(trial, tender_id)


@case(
    "TMX-WSA-004",
    "A ReplyTo other than the anonymous address is refused (only anonymous replies are "
    "supported), and the request is not carried out",
    f"{CLAUSE} Metadata 3.1.1, SOAP Binding 6.4.1 (Only Anonymous Address Supported); "
    "temix profile: docs/security.md (no outbound calls to addresses taken from messages)",
    requires=["ws-addressing"],
)
def only_anonymous(trial: Trial) -> None:
    for version in declared_versions(trial):
        reply, tender_id = refused_tender(trial, version, reply_to=REFUSED_REPLY_TO)
        expect_invalid_header(
            trial, reply, version, "OnlyAnonymousAddressSupported", f"ReplyTo {REFUSED_REPLY_TO}"
        )
        not_stored(trial, tender_id)


@case(
    "TMX-WSA-005",
    "A request with WS-Addressing headers but no wsa:MessageID is answered with "
    "wsa:MessageAddressingHeaderRequired",
    f"{CLAUSE} Core 3.2 (a request expecting a reply has a MessageID), SOAP Binding 6.4.2 "
    "(Message Addressing Header Required)",
    requires=["ws-addressing"],
)
def message_id_required(trial: Trial) -> None:
    version = SOAP_1_1
    route = trial.route(p.CreateTender, version)
    request, tender_id = tender_request(trial)
    headers = [
        block
        for block in addressing_headers(trial, route.soap_action, version)
        if block.tag != f"{{{WSA}}}MessageID"
    ]
    reply = trial.post(route, trial.envelope(request, version=version, headers=headers))
    codes = addressing_codes(reply, version)
    trial.expect(
        f"{{{WSA}}}MessageAddressingHeaderRequired" in codes,
        f"expected wsa:MessageAddressingHeaderRequired, got {codes}",
    )
    not_stored(trial, tender_id)


@case(
    "TMX-WSA-006",
    "A signed request with a WS-Addressing header outside the signature is refused and not "
    "carried out",
    "OASIS WS-Security 1.1 (signed parts); WS-SecurityPolicy 1.2 5.1.1 (SignedParts: the "
    "addressing headers); temix profile: docs/security.md",
    requires=["ws-addressing", "signed"],
)
def unsigned_addressing_header(trial: Trial) -> None:
    route = trial.route(p.CreateTender)
    request, tender_id = tender_request(trial)
    headers = addressing_headers(trial, route.soap_action, SOAP_1_1)
    message_id = f"{{{WSA}}}MessageID"
    signed = [block for block in headers if block.tag != message_id]
    envelope = trial.envelope(request, headers=signed)
    (added,) = (block for block in headers if block.tag == message_id)
    envelope.find(f"{{{SOAP_1_1.envelope_ns}}}Header").append(added)
    reply = trial.post(route, envelope)
    trial.expect(
        reply.fault() is not None and reply.status >= 400,
        f"a wsa:MessageID added after signing: expected a refusal, got {reply.summary}",
    )
    not_stored(trial, tender_id)


@case(
    "TMX-WSD-017",
    "The WSDL declares WS-Addressing on every binding and an action on every input and output; "
    "an input's action is its soapAction",
    f"{CLAUSE} Metadata 4.1 (wsam:Addressing / UsingAddressing), 4.4.1 (wsam:Action); "
    "WS-I BP 2.0 R1144 (SOAPAction equals wsa:Action)",
    requires=["ws-addressing"],
    after=["TMX-WSD-001"],
)
def wsdl_addressing(trial: Trial) -> None:
    contract = served_contract(trial)
    for name, _, binding in contract.soap_bindings():
        declared = binding.find(f"{{{WSAW}}}UsingAddressing") is not None or any(
            policy.find(f".//{{{WSAM}}}Addressing") is not None
            for policy in attached_policies(contract, binding)
        )
        trial.expect(declared, f"binding {etree.QName(name).localname} does not declare WS-A")
    soap_actions = {
        operation.name: operation.soap_action
        for operation in contract.operations()
        if operation.soap_action
    }
    for port_type in contract.port_types.values():
        for operation_name, operation in port_type.items():
            for direction in ("input", "output"):
                message = operation.find(f"{{{WSDL_NS}}}{direction}")
                action = None if message is None else message.get(f"{{{WSAM}}}Action")
                trial.expect(action, f"{operation_name} {direction} has no wsam:Action")
                if direction == "input" and action and operation_name in soap_actions:
                    trial.expect(
                        action == soap_actions[operation_name],
                        f"{operation_name}: wsam:Action {action} differs from its soapAction "
                        f"{soap_actions[operation_name]}",
                    )


@case(
    "TMX-WSD-018",
    "A signed endpoint's WSDL carries a complete WS-SecurityPolicy: an asymmetric X.509 "
    "binding with a timestamp and a SHA-256 algorithm suite on every binding, the Body and the "
    "addressing headers signed on every message, every policy reference resolved",
    "WS-SecurityPolicy 1.2 7.5 (AsymmetricBinding), 6.1 (AlgorithmSuite), 5.1.1 (SignedParts); "
    "WS-Policy 1.5 Attachment 3.2 (PolicyReference); temix profile: docs/security.md",
    requires=["signed"],
    after=["TMX-WSD-001"],
)
def wsdl_security_policy(trial: Trial) -> None:
    contract = served_contract(trial)
    for name, _, binding in contract.soap_bindings():
        label = etree.QName(name).localname
        policies = attached_policies(contract, binding)
        asymmetric = [
            found for policy in policies for found in policy.iter(f"{{{SP}}}AsymmetricBinding")
        ]
        trial.expect(asymmetric, f"binding {label} has no sp:AsymmetricBinding policy")
        for found in asymmetric:
            for part in ("InitiatorToken", "RecipientToken", "IncludeTimestamp"):
                trial.expect(
                    found.find(f".//{{{SP}}}{part}") is not None,
                    f"binding {label}: the AsymmetricBinding has no sp:{part}",
                )
            suites = [
                etree.QName(suite).localname
                for holder in found.iter(f"{{{SP}}}AlgorithmSuite")
                for suite in holder.iterfind(f"{{{WSP}}}Policy/*")
            ]
            trial.expect(
                suites and all("Sha256" in suite for suite in suites),
                f"binding {label}: algorithm suite {suites}: the profile signs with SHA-256",
            )
        for operation in binding.iterchildren(f"{{{WSDL_NS}}}operation"):
            message = operation.find(f"{{{WSDL_NS}}}input")
            parts = [
                found
                for policy in (*policies, *attached_policies(contract, message))
                for found in policy.iter(f"{{{SP}}}SignedParts")
            ]
            signed_body = any(part.find(f"{{{SP}}}Body") is not None for part in parts)
            signed_wsa = any(
                header.get("Namespace") == WSA
                for part in parts
                for header in part.iter(f"{{{SP}}}Header")
            )
            trial.expect(signed_body, f"{label} {operation.get('name')}: no signed sp:Body")
            if trial.capabilities.declares("ws-addressing"):
                trial.expect(
                    signed_wsa,
                    f"{label} {operation.get('name')}: the addressing headers are not signed parts",
                )


def policies_by_id(contract: ServedContract) -> dict[str, etree._Element]:
    return {
        policy.get(f"{{{WSU}}}Id"): policy
        for root in contract.documents.values()
        for policy in root.iter(f"{{{WSP}}}Policy")
        if policy.get(f"{{{WSU}}}Id")
    }


def attached_policies(
    contract: ServedContract, element: etree._Element | None
) -> list[etree._Element]:
    """The policies ``element`` references (each reference must resolve) or holds."""
    if element is None:
        return []
    known = policies_by_id(contract)
    found = list(element.iterchildren(f"{{{WSP}}}Policy"))
    for reference in element.iterchildren(f"{{{WSP}}}PolicyReference"):
        uri = reference.get("URI", "")
        if not uri.startswith("#") or uri[1:] not in known:
            raise Failed(f"wsp:PolicyReference {uri!r} names no policy of the WSDL")
        found.append(known[uri[1:]])
    return found
