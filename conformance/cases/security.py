"""Security: what a signed endpoint must refuse, and what it must still accept.

Every attack here is a good CreateTender (the party offers a fresh tender to the
counterparty) changed in one way, so that the only thing that can refuse it is the check it is
aimed at; the cases that need a good request to compare with run after the one that shows the
endpoint accepts it. A refused create must leave no tender behind: each attack looks for it
afterwards.

How a refusal is judged: any SOAP fault of the sender's class refuses a request. A security
refusal should carry ``wsse:InvalidSecurity`` or ``wsse:FailedCheck`` (WS-Security 1.1
error handling; the TeMIX profile uses only these two, and either is accepted for any cause);
another code is a warning. A Server/Receiver fault is a failure: it blames the endpoint for
what is wrong with the message. No fault may carry a stack trace or a source file name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from temix import codec
from temix import payloads as p
from temix.client.errors import SoapFault
from temix.conformance import attacks
from temix.conformance.catalogue import Failed, MissingInput, case
from temix.conformance.trial import RawReply, Trial
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion, wrap
from temix.keys import Credentials, KeysError
from temix.model import Tender
from temix.namespaces import SOAP11, SOAP12
from temix.wssecurity import WSSE, SignatureLayout, sign_envelope

SIGNED_REQUEST = "TMX-SEC-001"
HAND_SIGNED = "TMX-SEC-012"

FOREIGN = "urn:temix:conformance:not-in-the-schema"
SECURITY_FAULTS = frozenset({f"{{{WSSE}}}InvalidSecurity", f"{{{WSSE}}}FailedCheck"})
RECEIVER_FAULTS = frozenset({f"{{{SOAP11}}}Server", f"{{{SOAP12}}}Receiver"})
LEAK_MARKERS = ("Traceback", ".py")
"""Text that gives away a stack trace or a source file in a fault."""

WSS = "WS-Security 1.1 (SOAP Message Security)"
WSS_ERRORS = f"{WSS}, error handling"
PROFILE = "temix profile: docs/security.md"


# --- Requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """A fresh CreateTender by ``author`` to ``to``: what every attack starts from."""

    tender: Tender
    payload: p.CreateTender
    author: str


def offer(trial: Trial, author: str | None = None, to: str | None = None) -> Offer:
    author = author or trial.party
    to = to or (trial.counterparty if author != trial.counterparty else trial.party)
    tender = trial.tender()
    return Offer(tender, p.CreateTender(trial.new_id(), author, to, (tender,)), author)


def signed(
    trial: Trial,
    request: Offer,
    *,
    version: SoapVersion = SOAP_1_1,
    signer: Credentials | str | None = None,
    signed_at: datetime | None = None,
    layout: SignatureLayout | None = None,
) -> bytes:
    """The request in an Envelope signed by ``signer`` (default: its author; ``""``: left
    unsigned), laid out as ``layout`` says (default: as temix signs), serialised once."""
    envelope = trial.envelope(
        request.payload,
        version=version,
        signer=request.author if signer is None else signer,
        signed_at=signed_at,
        layout=layout,
    )
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def signed_with_timestamp(
    trial: Trial, request: Offer, created: datetime, lifetime: timedelta
) -> bytes:
    """The request signed by its author with a Timestamp from ``created`` for ``lifetime``."""
    envelope = wrap(codec.encode(request.payload), SOAP_1_1)
    credentials = trial.run.signing(request.author).credentials
    sign_envelope(envelope, credentials.key, credentials.certificate, created, lifetime)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def send(trial: Trial, body: bytes, version: SoapVersion = SOAP_1_1) -> RawReply:
    return trial.post(trial.route(p.CreateTender, version), body)


# --- Judging ------------------------------------------------------------------------------------


def fault_text(reply: RawReply) -> str:
    """What a peer reads in the reply's fault (or in a reply that is not SOAP)."""
    if not reply.is_soap:
        return reply.body.decode("utf-8", "replace")
    envelope = reply.envelope()
    env = reply.route.version.envelope_ns
    fault = envelope.find(f"{{{env}}}Body/{{{env}}}Fault")
    return "" if fault is None else " ".join(fault.itertext())


def expect_nothing_leaked(trial: Trial, reply: RawReply, what: str) -> None:
    text = fault_text(reply)
    for marker in LEAK_MARKERS:
        trial.expect(
            marker not in text,
            f"{what}: the fault gives away internals ({marker!r}): {text[:300]}",
        )


def refusal_fault(trial: Trial, reply: RawReply, what: str) -> SoapFault | None:
    """The fault that refuses the request, with nothing leaked in it; None for a refusal by a
    4xx HTTP status without a SOAP reply. Fails when the request was accepted, or when the
    fault (or a 5xx status without one) blames the endpoint."""
    if not reply.is_soap:
        trial.expect(
            400 <= reply.status < 500,
            f"{what}: expected a Client/Sender fault or a 4xx refusal, got HTTP {reply.status}",
        )
        expect_nothing_leaked(trial, reply, what)
        return None
    fault = reply.fault()
    if fault is None:
        raise Failed(f"{what}: expected a fault, the endpoint accepted it ({reply.summary})")
    expect_nothing_leaked(trial, reply, what)
    trial.expect(
        not {fault.code, *fault.subcodes} & RECEIVER_FAULTS,
        f"{what}: refused with {fault}, a fault of the endpoint's class: what is wrong is the "
        "message, a fault of the sender's class",
    )
    return fault


def refused_securely(trial: Trial, reply: RawReply, what: str) -> SoapFault | None:
    """A security refusal: a fault of the sender's class, by rights a WS-Security one."""
    fault = refusal_fault(trial, reply, what)
    if fault is None:
        trial.warn(
            f"{what}: refused with HTTP {reply.status} without a SOAP fault; the TeMIX profile "
            "answers with wsse:InvalidSecurity or wsse:FailedCheck"
        )
    elif not {fault.code, *fault.subcodes} & SECURITY_FAULTS:
        trial.warn(
            f"{what}: refused with {fault}; the TeMIX profile answers every security refusal "
            "with wsse:InvalidSecurity or wsse:FailedCheck"
        )
    return fault


def accepted(trial: Trial, reply: RawReply, request: Offer, what: str) -> None:
    """The create was carried out: a reply with eiResponse 200, and the tender is listed."""
    trial.expect(reply.fault() is None, f"{what}: refused with {reply.summary}")
    code = reply.payload().response.code
    trial.expect(code == "200", f"{what}: answered eiResponse {code}, not 200")
    tender_id = request.tender.tender_id
    listed = trial.succeeds(
        lambda: trial.client(request.author).request_tenders(tender_ids=(tender_id,)),
        f"listing tender {tender_id}",
    )
    trial.expect(
        [tender.tender_id for tender in listed] == [tender_id],
        f"{what}: tender {tender_id} is not listed once after it was accepted",
    )


def absent(trial: Trial, *tender_ids: str) -> None:
    """None of ``tender_ids`` exists: the refused request had no effect."""
    listed = trial.succeeds(
        lambda: trial.client().request_tenders(tender_ids=tender_ids),
        "listing the tenders of a refused request",
    )
    stored = sorted(tender.tender_id for tender in listed)
    trial.expect(not stored, f"the request was refused, yet tender(s) {stored} exist")


def still_answering(trial: Trial, what: str) -> None:
    uri = trial.input("market-context")
    trial.succeeds(
        lambda: trial.client().request_market_contexts(uri), f"a good request after {what}"
    )


def security_attack(
    trial: Trial,
    body: bytes,
    request: Offer,
    what: str,
    version: SoapVersion = SOAP_1_1,
) -> SoapFault | None:
    """Send ``body``, expect a security refusal and no tender of ``request``."""
    fault = refused_securely(trial, send(trial, body, version), what)
    absent(trial, request.tender.tender_id)
    return fault


# --- Accepted signatures ------------------------------------------------------------------------


@case(
    SIGNED_REQUEST,
    "A request signed as the profile says is accepted and its reply is signed by the pinned "
    "server certificate",
    f"WS-Security 1.1 X.509 Token Profile; {PROFILE}, what a signed message looks like",
    requires=["signed"],
)
def signed_request_accepted(trial: Trial) -> None:
    request = offer(trial)
    reply = send(trial, signed(trial, request))
    accepted(trial, reply, request, "a signed CreateTender")
    body = trial.verified_body(reply)
    payloads = [child for child in body if isinstance(child.tag, str)]
    trial.expect(
        len(payloads) == 1 and codec.decode(payloads[0]) == reply.payload(),
        "the reply's signed Body is not the reply payload",
    )


def party_with_key(trial: Trial, key_type: type, algorithm: str) -> str:
    """A party of the run whose key is of ``key_type``; missingInput when none is."""
    parties = [trial.party, trial.counterparty]
    with contextlib.suppress(MissingInput):
        parties.append(trial.third_party)
    for party in parties:
        if isinstance(trial.run.signing(party).credentials.key, key_type):
            return party
    raise MissingInput(
        f"none of the run's parties ({', '.join(parties)}) has a key for {algorithm}: give one "
        f"of them (the third party, for instance) such a key to test it"
    )


def accepts_algorithm(trial: Trial, key_type: type, algorithm: str) -> None:
    author = party_with_key(trial, key_type, algorithm)
    request = offer(trial, author)
    accepted(trial, send(trial, signed(trial, request)), request, f"a request signed {algorithm}")


@case(
    "TMX-SEC-002",
    "A request signed with RSA-SHA256 is accepted",
    f"XML Signature 1.1 RSA-SHA256; {PROFILE}, allowed algorithms",
    requires=["signed", "rsa-sha256"],
)
def rsa_sha256_accepted(trial: Trial) -> None:
    accepts_algorithm(trial, rsa.RSAPrivateKey, "RSA-SHA256")


@case(
    "TMX-SEC-003",
    "A request signed with ECDSA-SHA256 is accepted",
    f"XML Signature 1.1 ECDSA-SHA256; {PROFILE}, allowed algorithms",
    requires=["signed", "ecdsa-sha256"],
)
def ecdsa_sha256_accepted(trial: Trial) -> None:
    accepts_algorithm(trial, ec.EllipticCurvePrivateKey, "ECDSA-SHA256")


@case(
    "TMX-SEC-025",
    "Every reply is signed by the pinned server certificate: one carrying the request out, an "
    "eiResponse refusal, a schema fault, a security fault and the fault for bytes that are not "
    "XML",
    f"WS-Security 1.1 (SOAP Message Security); {PROFILE}, replies signed like requests, faults "
    "included",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def every_reply_signed(trial: Trial) -> None:
    good = offer(trial)
    to_itself = offer(trial, to=trial.party)
    unsigned = offer(trial)
    invalid = codec.encode(offer(trial).payload)
    etree.SubElement(invalid, f"{{{FOREIGN}}}unexpected")
    replies = {
        "a request carried out": send(trial, signed(trial, good)),
        "an eiResponse refusal (a tender offered to its author)": send(
            trial, signed(trial, to_itself)
        ),
        "a schema fault": send(
            trial,
            etree.tostring(trial.envelope(invalid), xml_declaration=True, encoding="UTF-8"),
        ),
        "a security fault (an unsigned request)": send(trial, signed(trial, unsigned, signer="")),
        "the fault for bytes that are not XML": send(trial, b"<soap:Envelope"),
    }
    for what, reply in replies.items():
        trial.expect(reply.is_soap, f"{what}: HTTP {reply.status} without a SOAP reply")
        try:
            trial.verified_body(reply)
        except Failed as failure:
            raise Failed(f"{what}: {failure}") from None


# --- Who signed ---------------------------------------------------------------------------------


@case(
    "TMX-SEC-004",
    "An unsigned request is refused with a security fault and has no effect",
    f"{WSS_ERRORS}; {PROFILE}, every request signed",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def unsigned_refused(trial: Trial) -> None:
    request = offer(trial)
    security_attack(trial, signed(trial, request, signer=""), request, "an unsigned request")


def impostor_attack(trial: Trial, *, self_signed: bool) -> None:
    genuine = trial.run.signing(trial.party).credentials.certificate
    signer = attacks.impostor(genuine, trial.now(), self_signed=self_signed)
    request = offer(trial)
    kind = "a self-signed" if self_signed else "another CA's"
    security_attack(
        trial,
        signed(trial, request, signer=signer),
        request,
        f"a request signed with {kind} certificate bearing {trial.party}'s subject",
    )


@case(
    "TMX-SEC-005",
    "A request signed with a self-signed certificate bearing a party's subject is refused",
    f"WS-Security 1.1 X.509 Token Profile; {PROFILE}, parties and the certificate checks",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def self_signed_impostor_refused(trial: Trial) -> None:
    impostor_attack(trial, self_signed=True)


@case(
    "TMX-SEC-006",
    "A request signed with a certificate for a party's subject from an untrusted CA of the "
    "same name is refused",
    f"WS-Security 1.1 X.509 Token Profile; {PROFILE}, parties and the certificate checks",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def other_ca_impostor_refused(trial: Trial) -> None:
    impostor_attack(trial, self_signed=False)


@case(
    "TMX-SEC-024",
    "A request signed with a certificate the party's CA issued to the party's common name in "
    "another subject (another organisation, or a unit more) is refused: the whole subject names "
    "a party, not its common name",
    f"WS-Security 1.1 X.509 Token Profile; RFC 5280 section 4.1.2.6 (subject); {PROFILE}, "
    "parties and the certificate checks (a party bound to its whole subject)",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def namesake_in_another_organisation_refused(trial: Trial) -> None:
    keys = trial.run.keys
    if not keys.ca_key_path.exists():
        raise MissingInput(
            f"{keys.ca_key_path}: the key directory holds no CA key to issue a certificate with"
        )
    try:
        issuer = Credentials.load(keys.ca_key_path, keys.ca_certificate_path)
    except (KeysError, OSError, ValueError) as error:
        raise MissingInput(f"the key directory's CA cannot issue certificates: {error}") from None
    genuine = trial.run.signing(trial.party).credentials.certificate
    for difference, signer in attacks.namesakes(genuine, issuer, trial.now()).items():
        request = offer(trial)
        security_attack(
            trial,
            signed(trial, request, signer=signer),
            request,
            f"a request signed by {signer.certificate.subject.rfc4514_string()} ({difference}), "
            f"issued by {trial.party}'s CA",
        )


@case(
    "TMX-SEC-007",
    "A request whose Body was changed after signing is refused",
    f"XML Signature reference validation; {WSS_ERRORS} (wsse:FailedCheck)",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def tampered_body_refused(trial: Trial) -> None:
    request = offer(trial)
    body = attacks.tampered(signed(trial, request))
    fault = security_attack(trial, body, request, "a Body changed after signing")
    if fault is not None and f"{{{WSSE}}}FailedCheck" not in {fault.code, *fault.subcodes}:
        trial.warn(f"a Body changed after signing: refused with {fault}, not wsse:FailedCheck")


# --- Freshness ----------------------------------------------------------------------------------


@case(
    "TMX-SEC-008",
    "The exact bytes of an accepted request sent again are refused as a replay",
    f"{WSS}, security timestamps; {PROFILE}, replay",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def replay_refused(trial: Trial) -> None:
    request = offer(trial)
    body = signed(trial, request)
    accepted(trial, send(trial, body), request, "the first sending")
    refused_securely(trial, send(trial, body), "the same signed bytes sent again")


def timestamp_attack(trial: Trial, created: timedelta, lifetime: timedelta, what: str) -> None:
    request = offer(trial)
    body = signed_with_timestamp(trial, request, trial.now() + created, lifetime)
    security_attack(trial, body, request, what)


@case(
    "TMX-SEC-009",
    "A request whose Timestamp was created 10 minutes ago is refused though it has not expired",
    f"{WSS}, security timestamps; {PROFILE}, freshness (at most 300 s old)",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def stale_timestamp_refused(trial: Trial) -> None:
    timestamp_attack(
        trial,
        -timedelta(minutes=10),
        timedelta(hours=1),
        "a Timestamp created 10 minutes ago, expiring in 50",
    )


@case(
    "TMX-SEC-010",
    "A request whose Timestamp is created 10 minutes in the future is refused",
    f"{WSS}, security timestamps; {PROFILE}, freshness (at most 60 s ahead)",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def future_timestamp_refused(trial: Trial) -> None:
    timestamp_attack(
        trial, timedelta(minutes=10), timedelta(minutes=5), "a Timestamp created 10 minutes ahead"
    )


@case(
    "TMX-SEC-011",
    "A request whose Timestamp has expired is refused though it is only 2 minutes old",
    f"{WSS}, security timestamps (Expires); {PROFILE}, freshness",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def expired_timestamp_refused(trial: Trial) -> None:
    timestamp_attack(
        trial,
        -timedelta(minutes=2),
        timedelta(minutes=1),
        "a Timestamp created 2 minutes ago that expired a minute ago",
    )


# --- What is signed, and how ------------------------------------------------------------------


def hand_signed(trial: Trial, request: Offer, recipe: attacks.Recipe) -> bytes:
    envelope = wrap(codec.encode(request.payload), SOAP_1_1)
    credentials = trial.run.signing(request.author).credentials
    return attacks.hand_signed(envelope, credentials, trial.now(), recipe)


@case(
    HAND_SIGNED,
    "A signature the suite builds by hand the way the profile says is accepted",
    f"XML Signature core generation; {PROFILE}, what a signed message looks like",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def hand_built_signature_accepted(trial: Trial) -> None:
    """The control of the attacks that need a signature no honest signer makes: what each of
    them changes is then what gets it refused."""
    request = offer(trial)
    body = hand_signed(trial, request, attacks.Recipe())
    accepted(trial, send(trial, body), request, "a hand-built SHA-256 signature")


@case(
    "TMX-SEC-013",
    "A request whose signature covers the Body but not the Timestamp is refused",
    f"{WSS}, security timestamps; {PROFILE}, exactly two references, the Body and the Timestamp",
    requires=["signed"],
    after=[HAND_SIGNED],
)
def unsigned_timestamp_refused(trial: Trial) -> None:
    request = offer(trial)
    body = hand_signed(trial, request, attacks.Recipe(sign_timestamp=False))
    security_attack(trial, body, request, "a signature leaving the Timestamp unsigned")


@case(
    "TMX-SEC-014",
    "A request signed with SHA-1 digests is refused",
    f"XML Signature 1.1 (SHA-1 digests discouraged); {PROFILE}, SHA-256/512 digests only",
    requires=["signed"],
    after=[HAND_SIGNED],
)
def sha1_digest_refused(trial: Trial) -> None:
    request = offer(trial)
    recipe = attacks.Recipe(digest_method=attacks.SHA1_DIGEST)
    security_attack(trial, hand_signed(trial, request, recipe), request, "SHA-1 digests")


@case(
    "TMX-SEC-015",
    "A request signed with a SHA-1 signature method (RSA-SHA1 or ECDSA-SHA1) is refused",
    f"XML Signature 1.1 (SHA-1 signatures discouraged); {PROFILE}, allowed signature methods",
    requires=["signed"],
    after=[HAND_SIGNED],
)
def sha1_signature_refused(trial: Trial) -> None:
    request = offer(trial)
    recipe = attacks.Recipe(sha1_signature=True)
    security_attack(trial, hand_signed(trial, request, recipe), request, "a SHA-1 signature")


def forged(trial: Trial, request: Offer) -> tuple[Offer, etree._Element]:
    """What a wrapping attacker puts in the Body: another tender of the same author, bigger."""
    bogus = offer(trial, request.author, request.payload.counterparty_id)
    return bogus, codec.encode(bogus.payload)


def wrapping_attack(
    trial: Trial, *, same_id: bool, what: str, version: SoapVersion = SOAP_1_1
) -> None:
    request = offer(trial)
    bogus, payload = forged(trial, request)
    body = attacks.wrapped(signed(trial, request, version=version), payload, same_id=same_id)
    refused_securely(trial, send(trial, body, version), what)
    absent(trial, request.tender.tender_id, bogus.tender.tender_id)


@case(
    "TMX-SEC-016",
    "A signed Body moved into a header and replaced by another (signature wrapping) is refused "
    "and the other Body has no effect",
    f"{WSS}, signatures; {PROFILE}, the references are the Envelope's own Body and Timestamp",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def wrapping_refused(trial: Trial) -> None:
    wrapping_attack(trial, same_id=False, what="the signed Body wrapped in a header")


@case(
    "TMX-SEC-017",
    "A request where two elements carry the signed Body's wsu:Id is refused",
    f"WS-Security 1.1 (wsu:Id identifies one element); {PROFILE}, every Id unique",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def duplicate_id_refused(trial: Trial) -> None:
    wrapping_attack(
        trial,
        same_id=True,
        what="the signed Body wrapped in a header, the new Body bearing its wsu:Id",
    )


@case(
    "TMX-SEC-018",
    "A request with two wsse:Security headers for the endpoint is refused",
    f"{WSS}, the Security header (one per role); {PROFILE}, exactly one Security header",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def two_security_headers_refused(trial: Trial) -> None:
    request = offer(trial)
    body = attacks.with_second_security_header(signed(trial, request), trial.now())
    security_attack(trial, body, request, "a second wsse:Security header")


@case(
    "TMX-SEC-023",
    "Over SOAP 1.2 too, an unsigned request and a wrapped signed Body are refused",
    f"{WSS_ERRORS}; SOAP 1.2 Part 1, Sender faults; {PROFILE}",
    requires=["signed", "soap-1-2"],
    after=[SIGNED_REQUEST],
)
def soap12_attacks_refused(trial: Trial) -> None:
    """The SOAP 1.2 port runs the same checks as the SOAP 1.1 one."""
    request = offer(trial)
    body = signed(trial, request, version=SOAP_1_2, signer="")
    security_attack(trial, body, request, "an unsigned SOAP 1.2 request", SOAP_1_2)
    wrapping_attack(
        trial, same_id=False, what="a SOAP 1.2 signed Body wrapped in a header", version=SOAP_1_2
    )


# --- The parser -------------------------------------------------------------------------------


def parser_attack(trial: Trial, attack: Callable[[bytes], bytes], what: str) -> RawReply:
    """Send the attack on a good signed request, expect it refused before any work and the
    endpoint to answer a good request afterwards."""
    request = offer(trial)
    reply = send(trial, attack(signed(trial, request)))
    refusal_fault(trial, reply, what)
    absent(trial, request.tender.tender_id)
    still_answering(trial, what)
    return reply


@case(
    "TMX-SEC-019",
    "A request with a DOCTYPE declaring entities (a small billion laughs) is refused and the "
    "endpoint goes on answering",
    "SOAP 1.1 section 3 and SOAP 1.2 Part 1 section 5 (no document type declaration); "
    f"{PROFILE}, the hardened parse",
)
def entity_expansion_refused(trial: Trial) -> None:
    doctype, reference = attacks.billion_laughs()
    parser_attack(
        trial,
        lambda body: attacks.with_doctype(body, doctype, reference),
        "a DOCTYPE of nested entities",
    )


@case(
    "TMX-SEC-020",
    "A request with an external entity (XXE) is refused without revealing the file and the "
    "endpoint goes on answering",
    "SOAP 1.1 section 3 and SOAP 1.2 Part 1 section 5 (no document type declaration); "
    f"{PROFILE}, the hardened parse",
)
def external_entity_refused(trial: Trial) -> None:
    doctype, reference = attacks.external_entity("file:///etc/passwd")
    reply = parser_attack(
        trial,
        lambda body: attacks.with_doctype(body, doctype, reference),
        "an external entity reading /etc/passwd",
    )
    trial.expect(b"root:" not in reply.body, "the reply holds the content of /etc/passwd")


@case(
    "TMX-SEC-021",
    "A request nested deeper than 100 elements is refused and the endpoint goes on answering",
    f"{PROFILE}, limits (element nesting, 100 levels)",
)
def deep_nesting_refused(trial: Trial) -> None:
    shallow = offer(trial)
    body = attacks.with_header_block(signed(trial, shallow), attacks.nested_header(10))
    accepted(trial, send(trial, body), shallow, "a request with a header 10 elements deep")
    parser_attack(
        trial,
        lambda body: attacks.with_header_block(body, attacks.nested_header(150)),
        "a header block 150 elements deep",
    )


# --- What a refusal tells ------------------------------------------------------------------------


@case(
    "TMX-SEC-022",
    "Security refusals of different causes give the same reason, telling nothing of the cause",
    f"{WSS_ERRORS}; {PROFILE}, one generic security fault",
    requires=["signed"],
    after=[SIGNED_REQUEST],
)
def refusals_alike(trial: Trial) -> None:
    """Refusals that say which check failed help an attacker tune an attack; the TeMIX
    profile gives every security refusal one reason. A difference is a warning."""
    genuine = trial.run.signing(trial.party).credentials.certificate
    impostor = attacks.impostor(genuine, trial.now(), self_signed=True)
    causes: dict[str, Callable[[Offer], bytes]] = {
        "unsigned": lambda request: signed(trial, request, signer=""),
        "signed by an impostor": lambda request: signed(trial, request, signer=impostor),
        "stale": lambda request: signed_with_timestamp(
            trial, request, trial.now() - timedelta(minutes=10), timedelta(hours=1)
        ),
        "changed after signing": lambda request: attacks.tampered(signed(trial, request)),
    }
    reasons = {}
    for cause, build in causes.items():
        request = offer(trial)
        reply = send(trial, build(request))
        fault = refused_securely(trial, reply, f"a request {cause}")
        reasons[cause] = f"HTTP {reply.status}" if fault is None else " ".join(fault.reason.split())
    if len(set(reasons.values())) > 1:
        told = "; ".join(f"{cause}: {reason!r}" for cause, reason in reasons.items())
        trial.warn(f"the security faults give different reasons ({told})")
