"""Legal dialects: every legal form of a message is accepted, not only the one temix writes.

Stacks in the field sign and serialise the same message differently. Each test here sends a
message in one such form and passes only when the endpoint carries it out as it would the
form temix writes: a refusal fails it. The signature forms start from the security group's
good CreateTender (accepted, and then listed); the payload forms take the schema group's tour
of every declared operation, each request written in the form, and expect every reply to be
the operation's own, not a fault and not the eiResponse 400 of a request that cannot be read.

Forms the X.509 Token Profile and XML Signature allow but do not require a receiver to accept
(the token named by a key identifier or by issuer and serial, SHA-384 and SHA-512) are tested
when the capability declaration lists them under ``[endpoint]``.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree
from signxml import DigestAlgorithm

from temix import codec
from temix.conformance import dialects
from temix.conformance.cases.schema import declared_tour, reply_payload
from temix.conformance.cases.security import SIGNED_REQUEST, accepted, offer, send, signed
from temix.conformance.catalogue import case
from temix.conformance.trial import Trial
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion
from temix.namespaces import EI, prefixed
from temix.wssecurity import SignatureLayout, TokenReference

TOKEN_PROFILE = "WS-Security 1.1 X.509 Token Profile, section 3.2 (token references)"
DSIG = "XML Signature 1.1"
PROFILE = "temix profile: docs/security.md"
XML = "XML 1.0 (Fifth Edition)"
NAMESPACES = "Namespaces in XML 1.0"


def signed_in(trial: Trial, layout: SignatureLayout, what: str) -> None:
    """A good CreateTender signed in ``layout`` is carried out."""
    request = offer(trial)
    accepted(trial, send(trial, signed(trial, request, layout=layout)), request, what)


@case(
    "TMX-DLC-001",
    "A request whose exclusive C14N carries an InclusiveNamespaces PrefixList on the SignedInfo "
    "and on every Reference, naming the envelope's and the payload's prefixes (as Apache WSS4J "
    "writes it), is accepted",
    f"Exclusive XML Canonicalization 1.0, section 3 (InclusiveNamespaces PrefixList); {PROFILE}",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def prefix_lists_accepted(trial: Trial) -> None:
    unsigned = trial.envelope(offer(trial).payload, signer="")
    prefixes = sorted({prefix for element in unsigned.iter() for prefix in element.nsmap if prefix})
    signed_in(
        trial,
        SignatureLayout(inclusive_prefixes=(*prefixes, "wsse", "wsu")),
        f"a signature with the PrefixList {' '.join(prefixes)} wsse wsu",
    )


@case(
    "TMX-DLC-002",
    "A request whose Timestamp follows the Signature in the Security header is accepted",
    "WS-SecurityPolicy 1.2, section 7.7 (Lax layout); WS-Security 1.1, section 5 "
    f"(header element order); {PROFILE}",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def timestamp_after_signature_accepted(trial: Trial) -> None:
    signed_in(
        trial,
        SignatureLayout(timestamp_after_signature=True),
        "a Security header with the Timestamp last",
    )


def _digest_case(trial: Trial, digest: DigestAlgorithm, name: str) -> None:
    signed_in(
        trial,
        SignatureLayout(digest=digest, hash=name),
        f"a request signed with {name} digests and signature hash",
    )


@case(
    "TMX-DLC-003",
    "A request signed with SHA-384 digests and an RSA-SHA384 or ECDSA-SHA384 signature is accepted",
    f"{DSIG}, sections 6.2 and 6.4 (SHA-384, RSA-SHA384, ECDSA-SHA384); {PROFILE}",
    requires=["signed", "sha384"],
    after=[SIGNED_REQUEST],
)
def sha384_accepted(trial: Trial) -> None:
    _digest_case(trial, DigestAlgorithm.SHA384, "SHA384")


@case(
    "TMX-DLC-004",
    "A request signed with SHA-512 digests and an RSA-SHA512 or ECDSA-SHA512 signature is accepted",
    f"{DSIG}, sections 6.2 and 6.4 (SHA-512, RSA-SHA512, ECDSA-SHA512); {PROFILE}",
    requires=["signed", "sha512"],
    after=[SIGNED_REQUEST],
)
def sha512_accepted(trial: Trial) -> None:
    _digest_case(trial, DigestAlgorithm.SHA512, "SHA512")


def _token_case(trial: Trial, form: TokenReference, what: str) -> None:
    signed_in(trial, SignatureLayout(token_reference=form), f"a request naming its token {what}")


@case(
    "TMX-DLC-005",
    "A request whose KeyInfo names the token in the message by X509SubjectKeyIdentifier is "
    "accepted",
    f"{TOKEN_PROFILE}; WS-SecurityPolicy 1.2, section 8.1 (MustSupportRefKeyIdentifier)",
    requires=["signed", "subject-key-identifier"],
    after=[SIGNED_REQUEST],
)
def subject_key_identifier_accepted(trial: Trial) -> None:
    _token_case(trial, TokenReference.SUBJECT_KEY_IDENTIFIER, "by subject key identifier")


@case(
    "TMX-DLC-006",
    "A request whose KeyInfo names the token in the message by its SHA-1 thumbprint "
    "(ThumbprintSHA1 KeyIdentifier) is accepted",
    f"{TOKEN_PROFILE}; WS-Security 1.1, section 7.2 (ThumbprintSHA1)",
    requires=["signed", "thumbprint-sha1"],
    after=[SIGNED_REQUEST],
)
def thumbprint_accepted(trial: Trial) -> None:
    _token_case(trial, TokenReference.THUMBPRINT_SHA1, "by SHA-1 thumbprint")


@case(
    "TMX-DLC-007",
    "A request whose KeyInfo names the token in the message by ds:X509IssuerSerial is accepted",
    f"{TOKEN_PROFILE}; WS-SecurityPolicy 1.2, section 8.1 (MustSupportRefIssuerSerial)",
    requires=["signed", "issuer-serial"],
    after=[SIGNED_REQUEST],
)
def issuer_serial_accepted(trial: Trial) -> None:
    _token_case(trial, TokenReference.ISSUER_SERIAL, "by issuer and serial number")


UTF8_BOM = b"\xef\xbb\xbf"


def tour_in(
    trial: Trial,
    form: Callable[[etree._Element], etree._Element],
    what: str,
    *,
    before: bytes = b"",
    declaration: bool = True,
    version: SoapVersion = SOAP_1_1,
) -> None:
    """Every declared operation of the schema group's tour, each request's payload rewritten
    by ``form`` and its SOAP ``version`` envelope serialised with ``before`` ahead of it, with
    or without an XML declaration, is answered with its own reply, read: not a fault and not
    eiResponse 400, the code of a request that cannot be read. (A read's outcome may depend on
    what earlier runs left at the endpoint, a settlement with a new imbalance for one, so
    other codes are the endpoint's judgement of a request it read.)"""
    for call, operation in declared_tour(trial):
        element = form(codec.encode(call.payload()))
        envelope = trial.envelope(element, signer=call.signer, version=version)
        body = before + etree.tostring(envelope, xml_declaration=declaration, encoding="UTF-8")
        answer = reply_payload(trial.post(trial.route(operation.request, version), body))
        trial.expect(
            answer.tag in operation.reply_tags,
            f"{call.operation} with {what}: answered {prefixed(answer.tag)}",
        )
        code = answer.findtext(f"{{{EI}}}eiResponse/{{{EI}}}responseCode") or ""
        description = answer.findtext(f"{{{EI}}}eiResponse/{{{EI}}}responseDescription")
        trial.expect(
            code[:1] in ("2", "3", "4") and code != "400",
            f"{call.operation} with {what}: refused with {code or 'no code'} ({description})",
        )


def _as_written(element: etree._Element) -> etree._Element:
    return element


@case(
    "TMX-DLC-008",
    "Each operation accepts its request with every namespace declared under other prefixes "
    "than temix's, xsi:type values included",
    f"{NAMESPACES}, section 3 (a prefix is only a proxy for its namespace); XML Schema 1.0 "
    "Part 1, section 3.4 (xsi:type is a QName resolved in its element's scope)",
)
def other_prefixes_accepted(trial: Trial) -> None:
    tour_in(trial, dialects.with_prefixes, "other prefixes")


@case(
    "TMX-DLC-009",
    "Each operation accepts its request written in default namespaces, an xsi:type in its "
    "element's own namespace unprefixed",
    f"{NAMESPACES}, section 6.2 (namespace defaulting); XML Schema 1.0 Part 2, section 3.2.18 "
    "(QName: an unprefixed name is in the default namespace)",
)
def default_namespaces_accepted(trial: Trial) -> None:
    tour_in(trial, dialects.in_default_namespaces, "default namespaces")


@case(
    "TMX-DLC-010",
    "Each operation accepts its request with insignificant whitespace between elements",
    f"{XML}, section 2.10 (white space handling); XML Schema 1.0 Part 1, section 3.4.4 "
    "(element-only content)",
)
def indented_accepted(trial: Trial) -> None:
    tour_in(trial, dialects.indented, "whitespace between elements")


@case(
    "TMX-DLC-011",
    "Each operation accepts its request with a UTF-8 byte order mark before the XML "
    "declaration, and with no XML declaration at all",
    f"{XML}, sections 2.8 (the XML declaration is optional) and 4.3.3 (a UTF-8 byte order "
    "mark); WS-I Basic Profile 1.1, R4006 (UTF-8)",
)
def byte_order_mark_and_no_declaration_accepted(trial: Trial) -> None:
    tour_in(trial, _as_written, "a byte order mark", before=UTF8_BOM)
    tour_in(trial, _as_written, "no XML declaration", declaration=False)


@case(
    "TMX-DLC-012",
    "Each operation accepts its request over SOAP 1.2, signed, and answers with its own reply",
    "SOAP 1.2 Part 1 and Part 2 section 7 (the SOAP HTTP binding); WSDL 1.1 SOAP 1.2 binding; "
    "temix profile: docs/server.md (both bindings bind every operation)",
    requires=["soap-1-2"],
)
def every_operation_over_soap_1_2(trial: Trial) -> None:
    tour_in(trial, _as_written, "SOAP 1.2", version=SOAP_1_2)
