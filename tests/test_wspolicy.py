"""The WS-SecurityPolicy a signed server attaches to its WSDL: made from the verifier's settings,
in ``?wsdl`` and ``?singleWsdl``, absent from an insecure server's, and read whole by Metro's
policy library (Debian ``libmetro-policy-java``), as a Metro/WSIT client reads it."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from lxml import etree
from test_soap import stub_handlers

from bindings import call
from temix.server.soap import SoapApplication
from temix.wsaddressing import WSA, WSAM
from temix.wspolicy import SP, WSP, attach_policies
from temix.wssecurity import DIGEST_METHODS, SIGNATURE_METHODS, Freshness

FRESHNESS = Freshness(max_age=timedelta(seconds=120), max_future=timedelta(seconds=30))
JAVA_LIBRARY = Path("/usr/share/java")
METRO_JARS = (
    "metro-policy.jar",
    "istack-commons-runtime.jar",
    "txw2.jar",
    "woodstox-core.jar",
    "stax2-api.jar",
)
READER = Path(__file__).parent / "java" / "policy" / "ReadWsdlPolicy.java"
EXPECTED_ASSERTIONS = {
    f"/{{{WSAM}}}Addressing optional",
    f"/{{{SP}}}AsymmetricBinding/{{{SP}}}InitiatorToken/{{{SP}}}X509Token/{{{SP}}}WssX509V3Token10",
    f"/{{{SP}}}AsymmetricBinding/{{{SP}}}RecipientToken/{{{SP}}}X509Token/{{{SP}}}WssX509V3Token10",
    f"/{{{SP}}}AsymmetricBinding/{{{SP}}}AlgorithmSuite/{{{SP}}}Basic256Sha256",
    f"/{{{SP}}}AsymmetricBinding/{{{SP}}}IncludeTimestamp",
    f"/{{{SP}}}AsymmetricBinding/{{{SP}}}Layout/{{{SP}}}Lax",
    f"/{{{SP}}}SignedParts/{{{SP}}}Body",
    f"/{{{SP}}}SignedParts/{{{SP}}}Header",
    "/{urn:temix:ns:extension:1.0}MessageSecurity ignorable",
}


@pytest.fixture(scope="module")
def signed_app() -> SoapApplication:
    return SoapApplication(
        stub_handlers(), wsdl_policy=partial(attach_policies, freshness=FRESHNESS)
    )


def served(app: SoapApplication, query: str) -> etree._Element:
    reply = call(app, "GET", query=query)
    assert reply.status == 200
    return reply.xml()


@pytest.mark.parametrize("query", ["wsdl", "singleWsdl"])
def test_a_signed_server_states_what_its_verifier_enforces(
    signed_app: SoapApplication, query: str
) -> None:
    root = served(signed_app, query)
    security = root.find(".//{urn:temix:ns:extension:1.0}MessageSecurity")
    methods = {e.get("Algorithm") for e in security.iter("{*}SignatureMethod")}
    assert methods == {method.value for method in SIGNATURE_METHODS}
    digests = {e.get("Algorithm") for e in security.iter("{*}DigestMethod")}
    assert digests == {digest.value for digest in DIGEST_METHODS}
    timestamp = security.find("{*}Timestamp")
    assert (timestamp.get("maxAgeSeconds"), timestamp.get("maxFutureSeconds")) == ("120", "30")
    (header,) = root.iter(f"{{{SP}}}Header")
    assert header.get("Namespace") == WSA
    (wss11,) = root.iter(f"{{{SP}}}Wss11")
    assert {etree.QName(e).localname for e in wss11.iter(f"{{{SP}}}*")} == {
        "Wss11",
        "MustSupportRefKeyIdentifier",
        "MustSupportRefIssuerSerial",
        "MustSupportRefThumbprint",
    }
    bindings = root.findall("{http://schemas.xmlsoap.org/wsdl/}binding")
    assert bindings and all(binding[0].tag == f"{{{WSP}}}PolicyReference" for binding in bindings)


def test_an_insecure_server_states_no_security_policy() -> None:
    root = served(SoapApplication(stub_handlers()), "wsdl")
    assert root.find(f".//{{{WSP}}}Policy") is None
    assert root.find(".//{http://www.w3.org/2006/05/addressing/wsdl}UsingAddressing") is not None


def metro_unavailable() -> str | None:
    if shutil.which("javac") is None or shutil.which("java") is None:
        return "no JDK (apt-get install default-jdk-headless)"
    missing = [jar for jar in METRO_JARS if not (JAVA_LIBRARY / jar).exists()]
    if missing:
        return f"Metro's policy library is missing {missing} (apt-get install libmetro-policy-java)"
    return None


@pytest.mark.parametrize("query", ["wsdl", "singleWsdl"])
def test_metro_reads_the_policy_whole(
    signed_app: SoapApplication, query: str, tmp_path: Path
) -> None:
    reason = metro_unavailable()
    if reason is not None:
        pytest.skip(reason)
    classpath = ":".join(str(JAVA_LIBRARY / jar) for jar in METRO_JARS)
    subprocess.run(
        ["javac", "-d", str(tmp_path), "-cp", classpath, str(READER)], check=True, timeout=120
    )
    wsdl = tmp_path / "served.wsdl"
    wsdl.write_bytes(call(signed_app, "GET", query=query).body)
    root = etree.parse(str(wsdl)).getroot()
    wsdl_ns = "{http://schemas.xmlsoap.org/wsdl/}"
    expected_references = len(root.findall(f"{wsdl_ns}binding")) + 2 * len(
        root.findall(f"{wsdl_ns}binding/{wsdl_ns}operation")
    )
    completed = subprocess.run(
        ["java", "-cp", f"{tmp_path}:{classpath}", "ReadWsdlPolicy", str(wsdl)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert "policy TemixBindingPolicy alternative 1" in lines
    assert not any(line.startswith("policy") and "alternative 2" in line for line in lines)
    assertions = {line.split(" ", 2)[2] for line in lines if line.startswith("assertion ")}
    assert assertions >= EXPECTED_ASSERTIONS
    references = [line for line in lines if line.startswith("reference ")]
    assert len(references) == expected_references
    assert all(line.endswith(" ok") for line in references)
