"""Flaws in WS-Addressing, and in the WSDL metadata and policy that announce it."""

from __future__ import annotations

from flaws import Flaw


def _replies_without_relates_to() -> None:
    from temix.server import soap
    from temix.wsaddressing import WSA

    made = soap.reply_headers

    def without(addressing, action, *, fault=False):  # type: ignore[no-untyped-def]
        blocks = made(addressing, action, fault=fault)
        return [block for block in blocks if block.tag != f"{{{WSA}}}RelatesTo"]

    soap.reply_headers = without


def _action_against_the_body_only() -> None:
    from temix.server import soap

    checked = soap.check_action
    soap.check_action = lambda addressing, expected, soap_action: checked(
        addressing, expected, None
    )


def _action_against_the_soap_action_only() -> None:
    from temix.server import soap

    checked = soap.check_action
    soap.check_action = lambda addressing, expected, soap_action: checked(
        addressing, addressing.action, soap_action
    )


def _replies_to_any_address() -> None:
    from temix.server import soap
    from temix.wsaddressing import WSA

    read = soap.read_addressing
    replies = {f"{{{WSA}}}ReplyTo", f"{{{WSA}}}FaultTo"}
    soap.read_addressing = lambda blocks: read([b for b in blocks if b.tag not in replies])


def _message_id_optional() -> None:
    from lxml import etree

    from temix.server import soap
    from temix.wsaddressing import WSA

    read = soap.read_addressing

    def with_an_id(blocks):  # type: ignore[no-untyped-def]
        blocks = list(blocks)
        if not any(block.tag == f"{{{WSA}}}MessageID" for block in blocks):
            made_up = etree.Element(f"{{{WSA}}}MessageID")
            made_up.text = "urn:uuid:00000000-0000-4000-8000-000000000000"
            blocks.append(made_up)
        return read(blocks)

    soap.read_addressing = with_an_id


def _unsigned_addressing_headers() -> None:
    from temix import wssecurity

    wssecurity.MUST_SIGN_HEADER_NAMESPACES = frozenset()


def _wsdl_without_actions() -> None:
    from lxml import etree

    from temix.server import soap
    from temix.wsaddressing import WSAM

    rendered = soap._ServedDocuments._render

    def without_actions(self, document, names, endpoint):  # type: ignore[no-untyped-def]
        root = etree.fromstring(rendered(self, document, names, endpoint))
        for element in root.iter():
            element.attrib.pop(f"{{{WSAM}}}Action", None)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    soap._ServedDocuments._render = without_actions


def _policy_without_signed_headers() -> None:
    from temix import wspolicy

    wspolicy.MUST_SIGN_HEADER_NAMESPACES = frozenset()


FLAWS = [
    Flaw(
        "replies-without-relates-to",
        "TMX-WSA-001",
        "answers WS-Addressing requests without wsa:RelatesTo",
        _replies_without_relates_to,
    ),
    Flaw(
        "action-against-the-body-only",
        "TMX-WSA-002",
        "never compares wsa:Action with the SOAPAction",
        _action_against_the_body_only,
    ),
    Flaw(
        "action-against-the-soap-action-only",
        "TMX-WSA-003",
        "never compares wsa:Action with the Body's operation",
        _action_against_the_soap_action_only,
    ),
    Flaw(
        "replies-to-any-address",
        "TMX-WSA-004",
        "ignores ReplyTo and FaultTo, whatever address they give",
        _replies_to_any_address,
    ),
    Flaw(
        "message-id-optional",
        "TMX-WSA-005",
        "answers a WS-Addressing request that has no wsa:MessageID",
        _message_id_optional,
    ),
    Flaw(
        "unsigned-addressing-headers",
        "TMX-WSA-006",
        "accepts WS-Addressing headers the signature does not cover",
        _unsigned_addressing_headers,
    ),
    Flaw(
        "wsdl-without-actions",
        "TMX-WSD-017",
        "serves a WSDL without wsam:Action",
        _wsdl_without_actions,
    ),
    Flaw(
        "policy-without-signed-headers",
        "TMX-WSD-018",
        "states a security policy whose signed parts leave out the addressing headers",
        _policy_without_signed_headers,
    ),
]
