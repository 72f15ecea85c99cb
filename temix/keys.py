"""A development PKI: keys and certificates for WS-Security signing and mutual TLS.

This is for development and tests only. It makes a small certificate authority, a server
certificate for TLS, and one certificate per market party, so that signed messages and
client-authenticated TLS work out of the box on one machine. In production each party brings
its own key and certificate; the server pins them by fingerprint, or maps certificates to
parties by subject under a CA it has been told to trust. Nothing here is needed for that.

A key directory has this layout::

    ca.pem              the CA certificate (self-signed)
    ca.key              the CA private key
    server.pem          the server's TLS certificate, issued by the CA
    server.key          its private key
    parties/NAME.pem    party NAME's certificate, issued by the CA (subject: party_subject(NAME))
    parties/NAME.key    its private key

Keys are unencrypted PKCS #8 PEM files, written with mode 0600, and the directory is created
with mode 0700: anyone who can read it can sign as any party, so keep it private.

The certificate functions are pure (the caller passes the keys and the current time);
:class:`KeyDirectory` is the only part that touches the file system.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_SUBJECT",
    "DEFAULT_SERVER_NAMES",
    "ORGANIZATION",
    "Credentials",
    "IssuedCertificate",
    "KeyAlgorithm",
    "KeyDirectory",
    "KeysError",
    "PrivateKey",
    "fingerprint",
    "generate_key",
    "issue_ca_certificate",
    "issue_party_certificate",
    "issue_server_certificate",
    "load_certificate",
    "normalise_fingerprint",
    "party_subject",
    "validate_party_name",
]

ORGANIZATION = "temix development"
CA_COMMON_NAME = "temix development CA"
VALIDITY = timedelta(days=825)
BACKDATE = timedelta(hours=1)
DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
Role = Literal["ca", "server", "party"]

_PARTY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(?:\*\.)?{_DNS_LABEL}(?:\.{_DNS_LABEL})*\.?")
_FINGERPRINT_PLAIN = re.compile(r"[0-9a-f]{64}")
_FINGERPRINT_COLONS = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){31}")


class KeysError(ValueError):
    """A key or certificate file is missing, unreadable or inconsistent, or a name is invalid."""


class KeyAlgorithm(enum.Enum):
    """The key type of generated keys."""

    RSA = "rsa"  # 2048-bit, public exponent 65537
    ECDSA = "ecdsa"  # NIST P-256


def generate_key(algorithm: KeyAlgorithm) -> PrivateKey:
    """A new private key of the given algorithm."""
    if algorithm is KeyAlgorithm.RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


# --- fingerprints ------------------------------------------------------------------------------


def fingerprint(certificate: x509.Certificate) -> str:
    """The SHA-256 of the certificate's DER encoding: 64 lowercase hex digits, no colons."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def normalise_fingerprint(text: str) -> str:
    """``text`` as :func:`fingerprint` writes it.

    Accepts either case, the hex digits plain or as colon-separated pairs (as ``openssl x509
    -fingerprint`` prints them), and an optional ``sha256:`` prefix.
    """
    candidate = text.strip().lower()
    candidate = candidate.removeprefix("sha256:")
    if _FINGERPRINT_PLAIN.fullmatch(candidate) or _FINGERPRINT_COLONS.fullmatch(candidate):
        return candidate.replace(":", "")
    raise KeysError(f"not a SHA-256 fingerprint (64 hex digits): {text!r}")


# --- names -------------------------------------------------------------------------------------


def validate_party_name(party: str) -> str:
    """``party`` if it is a usable party name (it becomes a file name), else :class:`KeysError`."""
    if not _PARTY_NAME.fullmatch(party):
        raise KeysError(
            f"invalid party name {party!r}: use 1 to 64 of A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    return party


def _party_name(party: str) -> x509.Name:
    # Most significant RDN first in the DER; RFC 4514 strings list them the other way round.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, validate_party_name(party)),
        ]
    )


def party_subject(party: str) -> str:
    """The subject of party certificates, as ``certificate.subject.rfc4514_string()`` gives it.

    For example ``party_subject("rep") == "CN=rep,O=temix development"``.
    """
    return _party_name(party).rfc4514_string()


CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
    ]
)
CA_SUBJECT = CA_NAME.rfc4514_string()


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    if _DNS_NAME.fullmatch(name) and len(name) <= 253:
        return x509.DNSName(name)
    raise KeysError(f"invalid server name {name!r}: not an IP address or a DNS name")


def _server_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


# --- issuing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """A private key and the certificate for its public key."""

    key: PrivateKey
    certificate: x509.Certificate

    @classmethod
    def load(cls, key_path: Path, certificate_path: Path) -> Credentials:
        """Read an unencrypted PEM key and a PEM certificate; :class:`KeysError` if they are
        unreadable, not PEM, or the key is not the certificate's."""
        certificate = load_certificate(certificate_path)
        key = _load_private_key(key_path)
        if not _same_public_key(key.public_key(), certificate.public_key()):
            raise KeysError(
                f"{key_path}: the key does not match the certificate in {certificate_path}"
            )
        return cls(key, certificate)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)


def _same_public_key(one: PublicKey, other: CertificatePublicKeyTypes) -> bool:
    encoding, form = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return one.public_bytes(encoding, form) == other.public_bytes(encoding, form)


def _validity(now: datetime) -> tuple[datetime, datetime]:
    """Not before, not after: an hour before ``now`` (for clock skew) to 825 days after."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    return now - BACKDATE, now + VALIDITY


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    validity: tuple[datetime, datetime],
) -> x509.CertificateBuilder:
    not_before, not_after = validity
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def issue_ca_certificate(key: PrivateKey, now: datetime) -> x509.Certificate:
    """A self-signed CA certificate (subject :data:`CA_SUBJECT`) for ``key``, valid from an
    hour before ``now`` for 825 days, that may issue end-entity certificates only."""
    builder = (
        _builder(CA_NAME, CA_NAME, key.public_key(), _validity(now))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
    )
    return builder.sign(key, hashes.SHA256())


def _leaf_builder(
    ca: Credentials, subject: x509.Name, public_key: PublicKey, now: datetime
) -> x509.CertificateBuilder:
    not_before, not_after = _validity(now)
    ca_not_after = ca.certificate.not_valid_after_utc
    if ca_not_after <= now:
        raise KeysError(f"the CA certificate expired at {ca_not_after.isoformat()}")
    # A certificate cannot usefully outlive its issuer.
    validity = (not_before, min(not_after, ca_not_after))
    builder = _builder(subject, ca.certificate.subject, public_key, validity)
    return builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
    ).add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)


def issue_server_certificate(
    ca: Credentials, public_key: PublicKey, names: Sequence[str], now: datetime
) -> x509.Certificate:
    """A TLS server certificate for ``public_key``, issued by ``ca``: common name ``names[0]``,
    every name (DNS name or IP address) in the subjectAltName, extended key usage serverAuth."""
    if not names:
        raise KeysError("a server certificate needs at least one server name")
    alternative_names = [_general_name(name) for name in names]
    key_usage = _key_usage(
        digital_signature=True, key_encipherment=isinstance(public_key, rsa.RSAPublicKey)
    )
    builder = (
        _leaf_builder(ca, _server_name(names[0]), public_key, now)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
    )
    return builder.sign(ca.key, hashes.SHA256())


def issue_party_certificate(
    ca: Credentials, public_key: PublicKey, party: str, now: datetime
) -> x509.Certificate:
    """A certificate for party ``party``'s ``public_key``, issued by ``ca``: subject
    :func:`party_subject`, key usage digitalSignature and contentCommitment (message signing),
    extended key usage clientAuth (mutual TLS)."""
    builder = (
        _leaf_builder(ca, _party_name(party), public_key, now)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    return builder.sign(ca.key, hashes.SHA256())


# --- files -------------------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise KeysError(f"{path}: cannot read: {error.strerror or error}") from None


def load_certificate(path: Path) -> x509.Certificate:
    """The (first) certificate in the PEM file ``path``."""
    data = _read(path)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise KeysError(f"{path}: not a PEM certificate") from None


def _load_private_key(path: Path) -> PrivateKey:
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeysError(f"{path}: the key is encrypted; an unencrypted key is needed") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeysError(f"{path}: not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeysError(f"{path}: only RSA and EC keys are supported")
    return key


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _create(path: Path, data: bytes, mode: int) -> None:
    """Write a new file; never replaces an existing one."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as error:
        raise KeysError(f"{path}: cannot create: {error.strerror or error}") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
    except OSError as error:
        path.unlink(missing_ok=True)
        raise KeysError(f"{path}: cannot write: {error.strerror or error}") from None


@dataclass(frozen=True)
class IssuedCertificate:
    """One certificate in a key directory, as :meth:`KeyDirectory.init` reports it."""

    role: Role
    name: str  # "ca", "server" or the party name: the file name without ".pem"
    path: Path
    fingerprint: str
    created: bool  # written by this init


class KeyDirectory:
    """A directory of development keys and certificates (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def ca_certificate_path(self) -> Path:
        return self.path / "ca.pem"

    @property
    def ca_key_path(self) -> Path:
        return self.path / "ca.key"

    @property
    def server_certificate_path(self) -> Path:
        return self.path / "server.pem"

    @property
    def server_key_path(self) -> Path:
        return self.path / "server.key"

    @property
    def parties_path(self) -> Path:
        return self.path / "parties"

    def party_certificate_path(self, party: str) -> Path:
        return self.parties_path / f"{validate_party_name(party)}.pem"

    def party_key_path(self, party: str) -> Path:
        return self.parties_path / f"{validate_party_name(party)}.key"

    def exists(self) -> bool:
        """Whether the directory has a CA certificate."""
        return self.ca_certificate_path.exists()

    def ca_certificate(self) -> x509.Certificate:
        return load_certificate(self.ca_certificate_path)

    def server(self) -> Credentials:
        return Credentials.load(self.server_key_path, self.server_certificate_path)

    def party(self, party: str) -> Credentials:
        return Credentials.load(self.party_key_path(party), self.party_certificate_path(party))

    def party_names(self) -> list[str]:
        """The parties with a certificate in ``parties/``, sorted (files whose names are not
        party names are ignored)."""
        try:
            files = list(self.parties_path.glob("*.pem"))
        except OSError as error:
            raise KeysError(f"{self.parties_path}: cannot list: {error.strerror}") from None
        return sorted(file.stem for file in files if _PARTY_NAME.fullmatch(file.stem))

    def init(
        self,
        parties: Iterable[str],
        algorithm: KeyAlgorithm,
        server_names: Sequence[str] = DEFAULT_SERVER_NAMES,
        now: datetime | None = None,
    ) -> list[IssuedCertificate]:
        """Create whatever is missing: the CA, the server certificate, and a certificate for each
        of ``parties``. Existing files are never replaced, so init can be repeated to add
        parties; an existing server certificate keeps its names, and a key whose certificate is
        missing is reused. Returns every certificate in the directory afterwards: the CA, the
        server, then the parties sorted by name."""
        requested = sorted({validate_party_name(party) for party in parties})
        if not server_names:
            raise KeysError("a server certificate needs at least one server name")
        for name in server_names:
            _general_name(name)
        now = datetime.now(UTC) if now is None else now
        _validity(now)
        self._make_directory(self.path)

        created: set[Path] = set()
        needs_server = not self.server_certificate_path.exists()
        new_parties = [p for p in requested if not self.party_certificate_path(p).exists()]
        if self.exists() and not needs_server and not new_parties:
            return self._report(created)
        ca = self._issuer(algorithm, now, created)
        if needs_server:
            key = self._key(self.server_key_path, algorithm, created)
            certificate = issue_server_certificate(ca, key.public_key(), server_names, now)
            self._write_certificate(self.server_certificate_path, certificate, created)
        if new_parties:
            self._make_directory(self.parties_path)
        for party in new_parties:
            key = self._key(self.party_key_path(party), algorithm, created)
            certificate = issue_party_certificate(ca, key.public_key(), party, now)
            self._write_certificate(self.party_certificate_path(party), certificate, created)
        return self._report(created)

    def _issuer(self, algorithm: KeyAlgorithm, now: datetime, created: set[Path]) -> Credentials:
        """The CA's credentials, creating the CA if there is none."""
        if self.exists():
            if not self.ca_key_path.exists():
                raise KeysError(
                    f"{self.ca_key_path}: missing; the CA key is needed to issue new "
                    "certificates (or start a new directory)"
                )
            return Credentials.load(self.ca_key_path, self.ca_certificate_path)
        key = self._key(self.ca_key_path, algorithm, created)
        certificate = issue_ca_certificate(key, now)
        self._write_certificate(self.ca_certificate_path, certificate, created)
        return Credentials(key, certificate)

    @staticmethod
    def _write_certificate(path: Path, certificate: x509.Certificate, created: set[Path]) -> None:
        _create(path, _certificate_pem(certificate), 0o644)
        created.add(path)

    @staticmethod
    def _key(path: Path, algorithm: KeyAlgorithm, created: set[Path]) -> PrivateKey:
        # The key is written before its certificate; if only the key is there, reuse it.
        if path.exists():
            return _load_private_key(path)
        key = generate_key(algorithm)
        _create(path, _key_pem(key), 0o600)
        created.add(path)
        return key

    @staticmethod
    def _make_directory(path: Path) -> None:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise KeysError(f"{path}: cannot create directory: {error.strerror or error}") from None

    def _report(self, created: set[Path]) -> list[IssuedCertificate]:
        entries: list[tuple[Role, str, Path]] = [
            ("ca", "ca", self.ca_certificate_path),
            ("server", "server", self.server_certificate_path),
        ]
        entries += [
            ("party", name, self.party_certificate_path(name)) for name in self.party_names()
        ]
        return [
            IssuedCertificate(
                role, name, path, fingerprint(load_certificate(path)), path in created
            )
            for role, name, path in entries
        ]
