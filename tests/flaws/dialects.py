"""Flaws of a server that understands only the dialect it writes itself: each refuses one legal
form of a message that another stack sends."""

from __future__ import annotations

from flaws import Flaw


def _refuses_prefix_lists() -> None:
    """Takes exclusive C14N only without an InclusiveNamespaces PrefixList."""
    from temix import wssecurity

    check = wssecurity._check_exclusive_c14n

    def without_prefix_lists(element, what):  # type: ignore[no-untyped-def]
        if len(element):
            raise wssecurity.SecurityError(f"{what} has an InclusiveNamespaces")
        check(element, what)

    wssecurity._check_exclusive_c14n = without_prefix_lists


def _expects_the_timestamp_first() -> None:
    """Reads the Security header in the order it writes it: Timestamp, token, Signature."""
    from temix import wssecurity

    check = wssecurity._check_unique_ids

    def in_written_order(envelope):  # type: ignore[no-untyped-def]
        for security in envelope.iter(f"{{{wssecurity.WSSE}}}Security"):
            names = [child.tag for child in security if isinstance(child.tag, str)]
            if names and names[-1] != f"{{{wssecurity.DS}}}Signature":
                raise wssecurity.SecurityError("the Signature is not last")
        check(envelope)

    wssecurity._check_unique_ids = in_written_order


def _without_digest(name: str) -> None:
    from signxml import DigestAlgorithm

    from temix import wssecurity

    wssecurity.DIGEST_METHODS = wssecurity.DIGEST_METHODS - {DigestAlgorithm[name]}


def _only_direct_references_but(tag: str, value_type: str | None = None) -> None:
    """Refuses a SecurityTokenReference whose child is ``tag`` (of ``value_type``)."""
    from temix import wssecurity

    check = wssecurity._check_token_reference

    def refusing(pointer, token_id, certificate):  # type: ignore[no-untyped-def]
        if pointer.tag == tag and value_type in (None, pointer.get("ValueType")):
            raise wssecurity.SecurityError("this token reference is not supported")
        check(pointer, token_id, certificate)

    wssecurity._check_token_reference = refusing


def _types_by_their_written_prefix() -> None:
    """Recognises xsi:type by the text it writes, ``emix:ProductType``, not by its namespace."""
    from temix import codec
    from temix.namespaces import EMIX

    def by_prefix(element, path):  # type: ignore[no-untyped-def]
        value = (element.get(codec._XSI_TYPE) or "").strip()
        if not value.startswith("emix:"):
            raise codec.DecodeError(path, f"xsi:type {value!r} is not an emix type")
        return f"{{{EMIX}}}{value.removeprefix('emix:')}"

    codec._resolve_xsi_type = by_prefix


def _unprefixed_types_in_no_namespace() -> None:
    """Resolves a prefixed xsi:type properly, but reads an unprefixed one as in no namespace
    (ignoring the default namespace a QName value is resolved in)."""
    from temix import codec

    resolve = codec._resolve_xsi_type

    def no_default(element, path):  # type: ignore[no-untyped-def]
        value = (element.get(codec._XSI_TYPE) or "").strip()
        if ":" not in value:
            raise codec.DecodeError(path, f"xsi:type {value!r} is not in the emix namespace")
        return resolve(element, path)

    codec._resolve_xsi_type = no_default


def _whitespace_is_content() -> None:
    """Takes whitespace between elements for text: the payload is mixed content to it."""
    from temix import codec
    from temix.server import app

    decode = app.decode

    def strict(element):  # type: ignore[no-untyped-def]
        for each in element.iter():
            if len(each) and each.text and not each.text.strip():
                path = element.getroottree().getpath(each)
                raise codec.DecodeError(path, "unexpected text content")
        return decode(element)

    app.decode = strict


def _refuses_a_byte_order_mark() -> None:
    """Sniffs the body for ``<`` as its first byte, so a UTF-8 byte order mark is not XML."""
    from temix.server import soap
    from temix.xmlsafe import XmlRejected

    parse = soap.parse_bytes

    def sniffing(data, **limits):  # type: ignore[no-untyped-def]
        if not data.lstrip().startswith(b"<"):
            raise XmlRejected("the body does not start with '<'")
        return parse(data, **limits)

    soap.parse_bytes = sniffing


def _soap12_without_publication() -> None:
    """Binds EiRequestPublication in the WSDL's SOAP 1.2 port but has no SOAP 1.2 dispatch for
    it: the newest operation was only wired into the SOAP 1.1 port."""
    from temix.server import soap

    dispatched = soap.operation_for

    def without(payload, context, operations_by_request):  # type: ignore[no-untyped-def]
        operation = dispatched(payload, context, operations_by_request)
        if context.version.name == "1.2" and operation.name == "EiRequestPublication":
            raise soap.SoapFault(soap.FaultCode.CLIENT, "no such operation")
        return operation

    soap.operation_for = without


FLAWS = [
    Flaw(
        "refuses-prefix-lists",
        "TMX-DLC-001",
        "refuses an exclusive C14N method that carries an InclusiveNamespaces PrefixList",
        _refuses_prefix_lists,
    ),
    Flaw(
        "expects-signature-last",
        "TMX-DLC-002",
        "refuses a Security header whose Signature is not its last element",
        _expects_the_timestamp_first,
    ),
    Flaw(
        "no-sha384",
        "TMX-DLC-003",
        "does not accept SHA-384 digests",
        lambda: _without_digest("SHA384"),
    ),
    Flaw(
        "no-sha512",
        "TMX-DLC-004",
        "does not accept SHA-512 digests",
        lambda: _without_digest("SHA512"),
    ),
    Flaw(
        "no-subject-key-identifier",
        "TMX-DLC-005",
        "refuses a token named by X509SubjectKeyIdentifier",
        lambda: _only_direct_references_but(
            "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"
            "KeyIdentifier",
            "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0"
            "#X509SubjectKeyIdentifier",
        ),
    ),
    Flaw(
        "no-thumbprint",
        "TMX-DLC-006",
        "refuses a token named by its ThumbprintSHA1",
        lambda: _only_direct_references_but(
            "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"
            "KeyIdentifier",
            "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#ThumbprintSHA1",
        ),
    ),
    Flaw(
        "no-issuer-serial",
        "TMX-DLC-007",
        "refuses a token named by ds:X509IssuerSerial",
        lambda: _only_direct_references_but("{http://www.w3.org/2000/09/xmldsig#}X509Data"),
    ),
    Flaw(
        "types-by-prefix",
        "TMX-DLC-008",
        "reads xsi:type by its literal text emix:..., not by the namespace its prefix names",
        _types_by_their_written_prefix,
    ),
    Flaw(
        "unprefixed-type-in-no-namespace",
        "TMX-DLC-009",
        "reads an unprefixed xsi:type as in no namespace rather than in the default namespace",
        _unprefixed_types_in_no_namespace,
    ),
    Flaw(
        "whitespace-is-content",
        "TMX-DLC-010",
        "takes whitespace between a payload's elements for text content and refuses it",
        _whitespace_is_content,
    ),
    Flaw(
        "refuses-byte-order-mark",
        "TMX-DLC-011",
        "refuses a request body that does not start with '<' (a UTF-8 byte order mark)",
        _refuses_a_byte_order_mark,
    ),
    Flaw(
        "soap12-without-publication",
        "TMX-DLC-012",
        "answers EiRequestPublication over SOAP 1.1 only, though its WSDL binds it over 1.2",
        _soap12_without_publication,
    ),
]
