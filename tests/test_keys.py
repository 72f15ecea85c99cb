"""``temix.keys`` and ``temix keys``: a development CA, server and party certificates that
verify, keep their files on a re-run, and whose fingerprints match OpenSSL's."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from temix.cli import main
from temix.keys import (
    CA_SUBJECT,
    Credentials,
    KeyAlgorithm,
    KeyDirectory,
    KeysError,
    fingerprint,
    generate_key,
    issue_server_certificate,
    load_certificate,
    normalise_fingerprint,
    party_subject,
    validate_party_name,
)

NOW = datetime.now(UTC).replace(microsecond=0)
PARTIES = ["rep", "customer"]
LAYOUT = {
    "ca.pem",
    "ca.key",
    "server.pem",
    "server.key",
    "parties",
    "parties/customer.pem",
    "parties/customer.key",
    "parties/rep.pem",
    "parties/rep.key",
}


@pytest.fixture(scope="module", params=list(KeyAlgorithm), ids=lambda a: a.value)
def made(request, tmp_path_factory):
    """A key directory with the two parties, made once per algorithm, and what init reported."""
    directory = KeyDirectory(tmp_path_factory.mktemp(request.param.value) / "keys")
    issued = directory.init(PARTIES, request.param, now=NOW)
    return request.param, directory, issued


@pytest.fixture
def made_copy(made, tmp_path):
    """A private copy of a made directory, to change."""
    _, directory, _ = made
    copy = tmp_path / "keys"
    shutil.copytree(directory.path, copy)
    return KeyDirectory(copy)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def extension(certificate: x509.Certificate, kind: type) -> x509.ExtensionType:
    return certificate.extensions.get_extension_for_class(kind)


def run(*args: str | Path):
    return CliRunner().invoke(main, [str(arg) for arg in args])


# --- the directory ------------------------------------------------------------------------------


def test_init_creates_the_layout_with_private_keys(made):
    _, directory, issued = made
    root = directory.path
    assert {str(p.relative_to(root)) for p in root.rglob("*")} == LAYOUT
    for key in root.rglob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(root.stat().st_mode) & 0o077 == 0
    assert [(i.role, i.name, i.path, i.created) for i in issued] == [
        ("ca", "ca", root / "ca.pem", True),
        ("server", "server", root / "server.pem", True),
        ("party", "customer", root / "parties/customer.pem", True),
        ("party", "rep", root / "parties/rep.pem", True),
    ]
    assert all(i.fingerprint == fingerprint(load_certificate(i.path)) for i in issued)
    assert directory.exists()
    assert directory.party_names() == ["customer", "rep"]


def test_a_second_init_adds_a_party_and_keeps_every_existing_file(made_copy):
    before = files(made_copy.path)
    issued = made_copy.init(["new-party", "rep"], KeyAlgorithm.ECDSA)
    after = files(made_copy.path)
    assert {name: after[name] for name in before} == before
    assert set(after) - set(before) == {"parties/new-party.pem", "parties/new-party.key"}
    assert [(i.name, i.created) for i in issued] == [
        ("ca", False),
        ("server", False),
        ("customer", False),
        ("new-party", True),
        ("rep", False),
    ]
    new = made_copy.party("new-party").certificate
    new.verify_directly_issued_by(made_copy.ca_certificate())
    assert made_copy.init(["new-party"], KeyAlgorithm.RSA)[-2].created is False
    assert files(made_copy.path) == after


def test_a_key_left_without_its_certificate_is_reused(made_copy):
    key = made_copy.party_key_path("rep").read_bytes()
    made_copy.party_certificate_path("rep").unlink()
    issued = {i.name: i for i in made_copy.init(["rep"], KeyAlgorithm.RSA)}
    assert issued["rep"].created
    assert made_copy.party_key_path("rep").read_bytes() == key
    assert made_copy.party("rep").certificate.subject.rfc4514_string() == party_subject("rep")


def test_new_parties_need_the_ca_key(made_copy):
    made_copy.ca_key_path.unlink()
    assert [i.name for i in made_copy.init(["rep"], KeyAlgorithm.RSA)][-1] == "rep"
    with pytest.raises(KeysError, match=r"ca\.key: missing"):
        made_copy.init(["another"], KeyAlgorithm.RSA)
    assert not made_copy.party_certificate_path("another").exists()


# --- the certificates ---------------------------------------------------------------------------


def test_the_ca_is_a_self_signed_ca_for_end_entities_only(made):
    _, directory, _ = made
    ca = directory.ca_certificate()
    ca.verify_directly_issued_by(ca)
    assert CA_SUBJECT == "CN=temix development CA,O=temix development"
    assert ca.subject.rfc4514_string() == CA_SUBJECT
    constraints = extension(ca, x509.BasicConstraints)
    assert constraints.critical
    assert (constraints.value.ca, constraints.value.path_length) == (True, 0)
    usage = extension(ca, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature


def test_party_certificates_are_client_certificates_issued_by_the_ca(made):
    _, directory, _ = made
    ca = directory.ca_certificate()
    for party in PARTIES:
        certificate = directory.party(party).certificate
        certificate.verify_directly_issued_by(ca)
        assert certificate.subject.rfc4514_string() == party_subject(party)
        usage = extension(certificate, x509.KeyUsage)
        assert usage.critical and usage.value.digital_signature
        assert usage.value.content_commitment and not usage.value.key_cert_sign
        assert list(extension(certificate, x509.ExtendedKeyUsage).value) == [
            ExtendedKeyUsageOID.CLIENT_AUTH
        ]
        assert extension(certificate, x509.BasicConstraints).value.ca is False


def test_the_server_certificate_is_for_tls_servers_with_its_names(made):
    algorithm, directory, _ = made
    server = directory.server().certificate
    server.verify_directly_issued_by(directory.ca_certificate())
    assert list(extension(server, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    names = extension(server, x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ip_address("127.0.0.1")]
    usage = extension(server, x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_encipherment is (algorithm is KeyAlgorithm.RSA)
    assert extension(server, x509.BasicConstraints).value.ca is False


def test_server_names_may_be_dns_names_and_addresses(made):
    _, directory, _ = made
    ca = Credentials.load(directory.ca_key_path, directory.ca_certificate_path)
    key = generate_key(KeyAlgorithm.ECDSA)
    names = ["market.example", "::1", "10.0.0.5"]
    server = issue_server_certificate(ca, key.public_key(), names, NOW)
    alternative = extension(server, x509.SubjectAlternativeName).value
    assert alternative.get_values_for_type(x509.DNSName) == ["market.example"]
    assert alternative.get_values_for_type(x509.IPAddress) == [
        ip_address("::1"),
        ip_address("10.0.0.5"),
    ]
    assert server.subject.rfc4514_string() == "CN=market.example,O=temix development"
    for bad in (["not a name"], []):
        with pytest.raises(KeysError):
            issue_server_certificate(ca, key.public_key(), bad, NOW)


def test_keys_have_the_requested_algorithm(made):
    algorithm, directory, _ = made
    keys = [directory.server().key] + [directory.party(p).key for p in PARTIES]
    if algorithm is KeyAlgorithm.RSA:
        assert all(isinstance(k, rsa.RSAPrivateKey) for k in keys)
        assert {(k.key_size, k.public_key().public_numbers().e) for k in keys} == {(2048, 65537)}
    else:
        assert all(isinstance(k, ec.EllipticCurvePrivateKey) for k in keys)
        assert {k.curve.name for k in keys} == {"secp256r1"}


def test_certificates_are_valid_from_an_hour_ago_for_825_days(made):
    _, directory, _ = made
    for certificate in [directory.ca_certificate(), directory.party("rep").certificate]:
        assert certificate.not_valid_before_utc == NOW - timedelta(hours=1)
        assert certificate.not_valid_after_utc == NOW + timedelta(days=825)
    assert directory.party("rep").certificate.serial_number != (
        directory.party("customer").certificate.serial_number
    )


# --- names, loading, fingerprints ---------------------------------------------------------------


def test_party_subject_is_the_rfc4514_string_of_party_certificates():
    assert party_subject("rep") == "CN=rep,O=temix development"


@pytest.mark.parametrize("name", ["a", "rep", "A.b_c-9", "x" * 64, "0day"])
def test_party_names_that_are_safe_file_names_are_accepted(name):
    assert validate_party_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-rep", ".hidden", "a/b", "../x", "a b", "x" * 65, "rép", "a\n"]
)
def test_other_party_names_are_refused(name):
    with pytest.raises(KeysError, match="invalid party name"):
        validate_party_name(name)
    with pytest.raises(KeysError):
        party_subject(name)


def test_credentials_refuse_a_key_that_is_not_the_certificates(made):
    _, directory, _ = made
    rep_key = directory.party_key_path("rep")
    customer_certificate = directory.party_certificate_path("customer")
    with pytest.raises(KeysError, match=re.escape(str(rep_key))) as refused:
        Credentials.load(rep_key, customer_certificate)
    assert "does not match" in str(refused.value)
    assert not isinstance(refused.value, KeyError)


def test_credentials_name_the_file_that_is_missing_or_not_pem(made, tmp_path):
    _, directory, _ = made
    missing = tmp_path / "missing.pem"
    with pytest.raises(KeysError, match=r"missing\.pem: cannot read"):
        Credentials.load(directory.party_key_path("rep"), missing)
    with pytest.raises(KeysError, match=r"rep\.pem: not a PEM private key"):
        Credentials.load(directory.party_certificate_path("rep"), directory.ca_certificate_path)
    with pytest.raises(KeysError, match=r"ca\.key: not a PEM certificate"):
        load_certificate(directory.ca_key_path)
    credentials = directory.party("rep")
    assert credentials.fingerprint == fingerprint(credentials.certificate)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_fingerprint_is_openssls_sha256_fingerprint(made):
    _, directory, _ = made
    command = ["openssl", "x509", "-noout", "-fingerprint", "-sha256"]
    output = subprocess.run(
        [*command, "-in", directory.ca_certificate_path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    openssl = normalise_fingerprint(output.strip().split("=", 1)[1])
    assert fingerprint(directory.ca_certificate()) == openssl
    assert re.fullmatch(r"[0-9a-f]{64}", openssl)


def test_normalise_fingerprint_accepts_the_usual_spellings():
    canonical = bytes(range(32)).hex()
    colons = ":".join(canonical[i : i + 2] for i in range(0, 64, 2))
    for text in [canonical, canonical.upper(), colons, colons.upper(), f"sha256:{colons}"]:
        assert normalise_fingerprint(text) == canonical
    assert normalise_fingerprint(f"  SHA256:{canonical.upper()}\n") == canonical


@pytest.mark.parametrize(
    "text",
    ["", "ab" * 31, "ab" * 33, "zz" * 32, "sha1:" + "ab" * 32, "a:bab" + "ab" * 30, "ab " * 32],
)
def test_normalise_fingerprint_refuses_anything_else(text):
    with pytest.raises(KeysError, match="SHA-256 fingerprint"):
        normalise_fingerprint(text)


# --- the command --------------------------------------------------------------------------------

LINE = re.compile(r"(ca|server|party) (\S+) ([0-9a-f]{64}) (\S+)( \(new\))?")


def test_keys_init_prints_one_line_per_certificate(tmp_path):
    target = tmp_path / "keys"
    first = run("keys", "init", target, "--party", "rep", "--algorithm", "ecdsa")
    assert first.exit_code == 0, first.output
    lines = [LINE.fullmatch(line) for line in first.stdout.splitlines()]
    assert all(lines), first.stdout
    assert [(m[1], m[2], m[4], m[5]) for m in lines] == [
        ("ca", "ca", str(target / "ca.pem"), " (new)"),
        ("server", "server", str(target / "server.pem"), " (new)"),
        ("party", "rep", str(target / "parties/rep.pem"), " (new)"),
    ]
    assert lines[0][3] == fingerprint(load_certificate(target / "ca.pem"))

    again = run("keys", "init", target, "--algorithm", "ecdsa", "--party", "bob")
    assert again.exit_code == 0, again.output
    assert [line.endswith("(new)") for line in again.stdout.splitlines()] == [
        False,
        False,
        True,
        False,
    ]
    assert again.stdout.splitlines()[0] == first.stdout.splitlines()[0].removesuffix(" (new)")


def test_keys_init_server_names(tmp_path):
    result = run("keys", "init", tmp_path, "--algorithm", "ecdsa", "--server-name", "market.test")
    assert result.exit_code == 0, result.output
    server = load_certificate(tmp_path / "server.pem")
    names = extension(server, x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["market.test"]


@pytest.mark.parametrize(
    "args",
    [
        ["--party", "../escape"],
        ["--party", "ok", "--party", "not ok"],
        ["--server-name", "bad name!"],
    ],
)
def test_keys_init_refuses_bad_names_in_one_line_and_creates_nothing(tmp_path, args):
    result = run("keys", "init", tmp_path / "keys", *args)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "keys").exists()


def test_keys_init_reports_an_unusable_directory(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    result = run("keys", "init", tmp_path / "file" / "keys")
    assert result.exit_code == 2
    assert result.stderr.startswith(str(tmp_path / "file"))
    assert isinstance(result.exception, SystemExit)


def test_keys_fingerprint(made, tmp_path):
    _, directory, _ = made
    ca, server = directory.ca_certificate_path, directory.server_certificate_path
    result = run("keys", "fingerprint", ca, server)
    assert result.exit_code == 0, result.output
    ca_line = f"{fingerprint(directory.ca_certificate())}  {ca}"
    assert result.stdout.splitlines() == [ca_line, f"{directory.server().fingerprint}  {server}"]

    result = run("keys", "fingerprint", directory.ca_key_path, ca)
    assert result.exit_code == 2
    assert result.stderr == f"{directory.ca_key_path}: not a PEM certificate\n"
    assert result.stdout == f"{ca_line}\n"
    assert run("keys", "fingerprint", tmp_path / "absent.pem").exit_code == 2
