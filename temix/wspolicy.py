"""The WS-SecurityPolicy 1.2 (WS-Policy 1.5) a signed temix endpoint attaches to its WSDL, made
from the settings its verifier enforces (:mod:`temix.wssecurity`), never kept by hand.

Rules:

* One binding policy, referenced from every ``wsdl:binding``: optional WS-Addressing
  (``wsam:Addressing``), an ``sp:AsymmetricBinding`` with X.509 v3 initiator and recipient
  tokens each always included in the message (a BinarySecurityToken, referenced directly),
  the algorithm suite, a Lax layout (the verifier finds each part by its Id, in any order),
  ``sp:IncludeTimestamp`` and ``sp:OnlySignEntireHeadersAndBody``; and ``sp:Wss11`` saying
  which token references the verifier takes besides a direct one (KeyIdentifier,
  IssuerSerial, Thumbprint), each to the token in the message.
* One message policy, referenced from every operation's input and output: the Body and every
  header in :data:`temix.wssecurity.MUST_SIGN_HEADER_NAMESPACES` are signed parts.
* SP 1.2's algorithm suites fix one asymmetric signature method (RSA-SHA1 or, in
  ``Basic256Sha256``, RSA-SHA256). The policy names ``Basic256Sha256``, the suite WCF, CXF and
  Metro read, and states everything else the verifier accepts (ECDSA, SHA-384/512, the key
  sizes and curves, the timestamp's age and skew) in one ``tmx:MessageSecurity`` assertion
  marked ``wsp:Ignorable``, so a stack that does not know it leaves it out of intersection.
"""

from __future__ import annotations

from lxml import etree

from temix.namespaces import TEMIX_EXT
from temix.wsaddressing import WSAM
from temix.wsdl import WSDL_NS
from temix.wssecurity import (
    DIGEST_METHODS,
    EC_CURVES,
    EXC_C14N,
    MUST_SIGN_HEADER_NAMESPACES,
    RSA_KEY_BITS,
    SIGNATURE_METHODS,
    WSU,
    Freshness,
)

WSP = "http://www.w3.org/ns/ws-policy"
SP = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"
BINDING_POLICY_ID = "TemixBindingPolicy"
MESSAGE_POLICY_ID = "TemixMessagePolicy"
_INCLUDE_TOKEN = f"{SP}/IncludeToken/"
NSMAP = {"wsp": WSP, "sp": SP, "wsam": WSAM, "wsu": WSU, "tmx": TEMIX_EXT}


def _element(parent: etree._Element | None, namespace: str, local: str, **attributes: str):
    tag = f"{{{namespace}}}{local}"
    if parent is None:
        return etree.Element(tag, attributes, nsmap=NSMAP)
    return etree.SubElement(parent, tag, attributes)


def _policy(parent: etree._Element | None = None, policy_id: str | None = None):
    """A ``wsp:Policy`` (with ``wsu:Id`` when given) and its one alternative's ``wsp:All``."""
    policy = _element(parent, WSP, "Policy")
    if policy_id is not None:
        policy.set(f"{{{WSU}}}Id", policy_id)
    return policy, _element(_element(policy, WSP, "ExactlyOne"), WSP, "All")


def _nested(parent: etree._Element) -> etree._Element:
    """A nested ``wsp:Policy`` holding assertions directly (one alternative, normal form)."""
    return _element(parent, WSP, "Policy")


def _x509_token(parent: etree._Element, role: str, include: str) -> None:
    token = _element(_nested(_element(parent, SP, role)), SP, "X509Token")
    token.set(f"{{{SP}}}IncludeToken", _INCLUDE_TOKEN + include)
    _element(_nested(token), SP, "WssX509V3Token10")


def binding_policy(freshness: Freshness) -> etree._Element:
    """The binding's policy: addressing, the asymmetric binding and what the verifier takes."""
    policy, alternative = _policy(policy_id=BINDING_POLICY_ID)
    addressing = _element(alternative, WSAM, "Addressing")
    addressing.set(f"{{{WSP}}}Optional", "true")
    _nested(addressing)
    binding = _nested(_element(alternative, SP, "AsymmetricBinding"))
    _x509_token(binding, "InitiatorToken", "AlwaysToRecipient")
    _x509_token(binding, "RecipientToken", "AlwaysToInitiator")
    _element(_nested(_element(binding, SP, "AlgorithmSuite")), SP, "Basic256Sha256")
    _element(_nested(_element(binding, SP, "Layout")), SP, "Lax")
    _element(binding, SP, "IncludeTimestamp")
    _element(binding, SP, "OnlySignEntireHeadersAndBody")
    references = _nested(_element(alternative, SP, "Wss11"))
    for reference in ("KeyIdentifier", "IssuerSerial", "Thumbprint"):
        _element(references, SP, f"MustSupportRef{reference}")
    accepted = _element(alternative, TEMIX_EXT, "MessageSecurity")
    accepted.set(f"{{{WSP}}}Ignorable", "true")
    _element(accepted, TEMIX_EXT, "CanonicalizationMethod", Algorithm=EXC_C14N)
    for method in sorted(method.value for method in SIGNATURE_METHODS):
        _element(accepted, TEMIX_EXT, "SignatureMethod", Algorithm=method)
    for digest in sorted(digest.value for digest in DIGEST_METHODS):
        _element(accepted, TEMIX_EXT, "DigestMethod", Algorithm=digest)
    smallest, largest = RSA_KEY_BITS
    _element(accepted, TEMIX_EXT, "RsaKeySize", minimum=str(smallest), maximum=str(largest))
    for curve in sorted(EC_CURVES):
        _element(accepted, TEMIX_EXT, "EllipticCurve", name=curve)
    _element(
        accepted,
        TEMIX_EXT,
        "Timestamp",
        maxAgeSeconds=str(int(freshness.max_age.total_seconds())),
        maxFutureSeconds=str(int(freshness.max_future.total_seconds())),
    )
    return policy


def message_policy() -> etree._Element:
    """Every input's and output's policy: the signed parts."""
    policy, alternative = _policy(policy_id=MESSAGE_POLICY_ID)
    parts = _element(alternative, SP, "SignedParts")
    _element(parts, SP, "Body")
    for namespace in sorted(MUST_SIGN_HEADER_NAMESPACES):
        _element(parts, SP, "Header", Namespace=namespace)
    return policy


def attach_policies(definitions: etree._Element, freshness: Freshness) -> None:
    """Puts the two policies in a WSDL 1.1 ``definitions`` (after its imports and types) and
    references them from every binding, and every binding operation's input and output."""
    wsdl = f"{{{WSDL_NS}}}"
    position = 0
    for index, child in enumerate(definitions):
        if child.tag in (wsdl + "documentation", wsdl + "import", wsdl + "types"):
            position = index + 1
    definitions.insert(position, message_policy())
    definitions.insert(position, binding_policy(freshness))
    for binding in definitions.iterchildren(wsdl + "binding"):
        binding.insert(0, _reference(BINDING_POLICY_ID))
        for operation in binding.iterchildren(wsdl + "operation"):
            for direction in ("input", "output"):
                message = operation.find(wsdl + direction)
                if message is not None:
                    message.insert(0, _reference(MESSAGE_POLICY_ID))


def _reference(policy_id: str) -> etree._Element:
    return etree.Element(f"{{{WSP}}}PolicyReference", URI=f"#{policy_id}", nsmap={"wsp": WSP})
