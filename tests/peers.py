"""WS-Security signatures checked and made by implementations this project did not write.

Server tests use these to show that what TeMIX signs verifies elsewhere, and that what others
sign verifies in TeMIX. The messages follow the WS-Security 1.1 X.509 token profile: a
``wsse:Security`` header holding a ``wsu:Timestamp``, a ``wsse:BinarySecurityToken`` and a
``ds:Signature`` (exclusive C14N, RSA-SHA256 or ECDSA-SHA256) with SHA-256 references to the
``wsu:Id`` of the SOAP Body and of the Timestamp.

Verifiers, each ``(signed, certificate_pem) -> PeerResult``, trusting only the certificate given
(never the message's KeyInfo):

* :func:`xmlsec1_verify`: the ``xmlsec1`` command line (libxmlsec1 with OpenSSL);
* :func:`java_verify`: the JDK's ``javax.xml.crypto.dsig`` (``tests/java/VerifySoapSignature.java``,
  compiled once per process into a temporary directory);
* :func:`signxml_verify`: signxml, in process.

Signer: :func:`zeep_sign`, zeep's ``BinarySignature`` (python-xmlsec underneath).

A peer that cannot run raises :class:`PeerUnavailable`; :func:`peer_unavailable` says in advance
which ones cannot and why, so that tests can skip with the reason.
"""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lxml import etree

from temix.codec import format_instant
from temix.namespaces import SOAP11, SOAP12
from temix.wssecurity import WSSE, WSU
from temix.xmlsafe import XmlRejected, parse_bytes

PEER_TIMEOUT = 120
JAVA_SOURCE = Path(__file__).parent / "java" / "VerifySoapSignature.java"

XMLSEC1_OPTIONS = (
    # wsu:Id is no ID attribute to libxml2 (there is no DTD or schema): declare it on the
    # elements the references point at, SOAP 1.1 and SOAP 1.2 Body and wsu:Timestamp.
    "--id-attr:Id",
    f"{SOAP11}:Body",
    "--id-attr:Id",
    f"{SOAP12}:Body",
    "--id-attr:Id",
    f"{WSU}:Timestamp",
    # Only raw RSA and EC keys: no KeyInfo reader (KeyValue, X509Data, KeyName,
    # RetrievalMethod) is enabled, so the message cannot bring its own key and the key always
    # comes from --pubkey-cert-pem. By default xmlsec1 would accept a ds:KeyValue holding any
    # key the sender likes. The wsse:SecurityTokenReference in KeyInfo is skipped either way.
    "--enabled-key-data",
    "rsa,ecdsa",
    # References may only point into the message itself.
    "--enabled-reference-uris",
    "same-doc",
)


class PeerUnavailable(RuntimeError):
    """A peer cannot run here (program or Python package missing)."""


@dataclass(frozen=True)
class PeerResult:
    """A peer's verdict (``ok``) and what it said (its output, or the error)."""

    ok: bool
    output: str


def peer_unavailable() -> dict[str, str]:
    """Which peers cannot run here, by name (``xmlsec1``, ``java``, ``zeep``, ``signxml``),
    and why. An empty dict means all of them can."""
    reasons = {}
    if shutil.which("xmlsec1") is None:
        reasons["xmlsec1"] = "xmlsec1 not found on PATH (apt-get install xmlsec1)"
    missing = [program for program in ("javac", "java") if shutil.which(program) is None]
    if missing:
        reasons["java"] = (
            f"{' and '.join(missing)} not found on PATH (apt-get install default-jdk-headless)"
        )
    zeep_problem = _import_problem("zeep", "xmlsec")
    if zeep_problem:
        reasons["zeep"] = f"zeep signing needs zeep and python xmlsec: {zeep_problem}"
    signxml_problem = _import_problem("signxml")
    if signxml_problem:
        reasons["signxml"] = signxml_problem
    return reasons


def _import_problem(*modules: str) -> str | None:
    for module in modules:
        try:
            __import__(module)
        except Exception as error:  # xmlsec raises xmlsec.Error on a libxml2 mismatch
            return f"cannot import {module}: {error} (pip install {module})"
    return None


def _require(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise PeerUnavailable(f"{program} not found on PATH")
    return found


@contextmanager
def _written(prefix: str, **contents: bytes) -> Iterator[dict[str, Path]]:
    """Each of ``contents`` in a file of its name, in a temporary directory while in use."""
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        paths = {name: Path(directory) / name for name in contents}
        for name, data in contents.items():
            paths[name].write_bytes(data)
        yield paths


def xmlsec1_verify(signed: bytes, certificate_pem: bytes) -> PeerResult:
    """Verify the first ``ds:Signature`` of ``signed`` with ``xmlsec1 --verify`` and the public
    key of ``certificate_pem`` (the certificate itself is not checked). ``ok`` only if xmlsec1
    exits 0 and prints ``OK``, that is the SignatureValue and every Reference verify."""
    xmlsec1 = _require("xmlsec1")
    with _written("temix-xmlsec1-", message=signed, certificate=certificate_pem) as files:
        run = subprocess.run(
            [
                xmlsec1,
                "--verify",
                *XMLSEC1_OPTIONS,
                "--pubkey-cert-pem",
                str(files["certificate"]),
                str(files["message"]),
            ],
            capture_output=True,
            text=True,
            timeout=PEER_TIMEOUT,
            check=False,
        )
    output = (run.stdout + run.stderr).strip()
    ok = run.returncode == 0 and re.search(r"^OK$", output, re.MULTILINE) is not None
    return PeerResult(ok, output)


@functools.cache
def _java_classes() -> Path:
    """tests/java/VerifySoapSignature.java compiled once per process."""
    javac = _require("javac")
    classes = Path(tempfile.mkdtemp(prefix="temix-verify-soap-signature-"))
    atexit.register(shutil.rmtree, classes, ignore_errors=True)
    run = subprocess.run(
        [javac, "-d", str(classes), str(JAVA_SOURCE)],
        capture_output=True,
        text=True,
        timeout=PEER_TIMEOUT,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"javac {JAVA_SOURCE.name} failed:\n{run.stdout}{run.stderr}")
    return classes


def java_verify(signed: bytes, certificate_pem: bytes) -> PeerResult:
    """Verify the one ``ds:Signature`` of ``signed`` with the JDK (every ``wsu:Id`` an ID, the
    key that of ``certificate_pem``). ``output`` is ``VALID`` or ``INVALID reason``, or the error
    and exit status if the program could not check the message at all (``ok`` is then false)."""
    java = _require("java")
    classes = _java_classes()
    with _written("temix-java-verify-", message=signed, certificate=certificate_pem) as files:
        run = subprocess.run(
            [
                java,
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-cp",
                str(classes),
                "VerifySoapSignature",
                str(files["message"]),
                str(files["certificate"]),
            ],
            capture_output=True,
            text=True,
            timeout=PEER_TIMEOUT,
            check=False,
        )
    output = (run.stdout + run.stderr).strip()
    if run.returncode not in (0, 1):
        output = f"exit {run.returncode}: {output}"
    return PeerResult(run.returncode == 0 and run.stdout.strip() == "VALID", output)


def signxml_verify(signed: bytes, certificate_pem: bytes) -> PeerResult:
    """Verify with signxml: the ``ds:Signature`` in ``Header/wsse:Security``, the key that of
    ``certificate_pem`` (which must be valid now), exactly the profile's two references."""
    try:
        from cryptography import x509
        from signxml import SignatureConfiguration, XMLVerifier
        from signxml.exceptions import SignXMLException
    except ImportError as error:
        raise PeerUnavailable(f"signxml not importable: {error}") from error
    try:
        root = parse_bytes(signed).getroot()
    except XmlRejected as error:
        return PeerResult(False, f"not acceptable XML: {error}")
    soap = etree.QName(root).namespace
    config = SignatureConfiguration(
        require_x509=True,
        expect_references=2,
        location=f"./{{{soap}}}Header/{{{WSSE}}}Security/",
    )
    try:
        results = XMLVerifier().verify(
            root,
            x509_cert=x509.load_pem_x509_certificate(certificate_pem),
            expect_config=config,
            id_attribute="Id",
        )
    except SignXMLException as error:
        return PeerResult(False, f"{type(error).__name__}: {error}")
    described = ", ".join(etree.QName(result.signed_xml).localname for result in results)
    return PeerResult(True, f"verified {len(results)} references: {described}")


def zeep_sign(
    envelope: bytes,
    key_pem: bytes,
    certificate_pem: bytes,
    *,
    created: datetime,
    expires: datetime,
) -> bytes:
    """Sign a SOAP 1.1 or 1.2 ``envelope`` the way zeep does, ready to send.

    Adds ``wsu:Timestamp`` (``created`` and ``expires``, timezone-aware, written in UTC to the
    second) to ``Header/wsse:Security`` (both made if missing), then lets zeep's
    ``BinarySignature`` sign: it gives the Body and the Timestamp a ``wsu:Id``, signs both
    (exclusive C14N, SHA-256 digests, RSA-SHA256 or ECDSA-SHA256 after the key's type) and puts
    the certificate in a ``wsse:BinarySecurityToken`` referenced from KeyInfo. Nothing is
    changed after signing. The unencrypted PKCS#8 or traditional PEM ``key_pem`` must match
    ``certificate_pem``."""
    try:
        import xmlsec
        from zeep.wsse.signature import BinarySignature
        from zeep.wsse.utils import WSU as WSU_ELEMENT
        from zeep.wsse.utils import get_security_header
    except Exception as error:
        raise PeerUnavailable(f"zeep signing needs zeep and python xmlsec: {error}") from error

    root = parse_bytes(envelope).getroot()
    soap = etree.QName(root).namespace
    if etree.QName(root).localname != "Envelope" or soap not in (SOAP11, SOAP12):
        raise ValueError(f"not a SOAP 1.1 or 1.2 Envelope: {root.tag}")
    if root.find(f"{{{soap}}}Body") is None:
        raise ValueError("the Envelope has no Body")
    security = get_security_header(root)
    if security.find(f"{{{WSU}}}Timestamp") is not None:
        raise ValueError("the wsse:Security header already has a wsu:Timestamp")
    security.append(
        WSU_ELEMENT.Timestamp(
            WSU_ELEMENT.Created(_utc_text(created, "created")),
            WSU_ELEMENT.Expires(_utc_text(expires, "expires")),
        )
    )
    signer = _zeep_signer(key_pem, certificate_pem, BinarySignature, xmlsec)
    signer.apply(root, {})
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def _utc_text(moment: datetime, name: str) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware: {moment!r}")
    return format_instant(moment)


def _zeep_signer(key_pem: bytes, certificate_pem: bytes, binary_signature, xmlsec):
    """zeep's BinarySignature reads the key and certificate from files when it is made."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(key_pem, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        method = xmlsec.constants.TransformRsaSha256
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        method = xmlsec.constants.TransformEcdsaSha256
    else:
        raise ValueError(f"only RSA and EC keys are supported, not {type(key).__name__}")
    with _written("temix-zeep-sign-", key=key_pem, certificate=certificate_pem) as files:
        return binary_signature(
            str(files["key"]),
            str(files["certificate"]),
            signature_method=method,
            digest_method=xmlsec.constants.TransformSha256,
        )
