"""The ``temix`` command line: a thin adapter over :mod:`temix.xmlsafe`,
:mod:`temix.validation` and :mod:`temix.keys`.

``main`` is a click group; a subcommand written in another module is attached with
``main.add_command(command)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from temix import __version__
from temix.codec import document_bytes
from temix.validation import SchemaSet, SchemaSetError
from temix.xmlsafe import XmlRejected, parse_bytes

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNUSABLE = 2


@click.group()
@click.version_option(__version__, prog_name="temix")
def main() -> None:
    """temix: TeMIX (EMIX 1.0 / Energy Interoperation 1.0) interop tools."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--schemas",
    "schema_dir",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Validate against every .xsd under DIR (e.g. the official OASIS bundle).",
)
@click.option(
    "--catalog",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="OASIS XML catalog mapping schema URLs to local files; alone, its files are the set.",
)
@click.option("--explain", is_flag=True, help="Report problems with xmlschema's diagnostics.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing for valid files.")
def validate(
    files: tuple[Path, ...],
    schema_dir: Path | None,
    catalog: Path | None,
    explain: bool,
    quiet: bool,
) -> None:
    """Validate TeMIX payloads, bare or in a SOAP 1.1/1.2 Envelope.

    Exit status: 0 all valid, 1 some invalid (one line per problem: FILE: PATH: reason),
    2 a file could not be read or is not acceptable XML, or the schemas could not be loaded.
    """
    try:
        schemas = _schema_set(schema_dir, catalog)
        status = EXIT_VALID
        for file in files:
            status = max(status, _validate_file(file, schemas, explain=explain, quiet=quiet))
    except SchemaSetError as error:
        click.echo(str(error), err=True)
        raise SystemExit(EXIT_UNUSABLE) from None
    raise SystemExit(status)


def _schema_set(schema_dir: Path | None, catalog: Path | None) -> SchemaSet:
    if catalog is not None:
        return SchemaSet.from_catalog(catalog, schema_dir)
    if schema_dir is not None:
        return SchemaSet.from_directory(schema_dir)
    return SchemaSet.bundled()


def _validate_file(file: Path, schemas: SchemaSet, *, explain: bool, quiet: bool) -> int:
    try:
        data = file.read_bytes()
    except OSError as error:
        click.echo(f"{file}: cannot read: {error.strerror or error}", err=True)
        return EXIT_UNUSABLE
    try:
        document = parse_bytes(data)
    except XmlRejected as error:
        click.echo(f"{file}: {error}", err=True)
        return EXIT_UNUSABLE
    problems = schemas.explain(document) if explain else schemas.problems(document)
    for problem in problems:
        click.echo(f"{file}: {problem.path}: {problem.reason}")
    if problems:
        return EXIT_INVALID
    if not quiet:
        click.echo(f"{file}: valid")
    return EXIT_VALID


@main.group()
def keys() -> None:
    """Development keys and certificates for message signing and mutual TLS.

    The keys are unencrypted: keep the directory private, and use them for development and
    tests only.
    """


@keys.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--party",
    "parties",
    multiple=True,
    metavar="NAME",
    help="Issue a certificate for party NAME (repeatable; existing parties are kept).",
)
@click.option(
    "--algorithm",
    type=click.Choice(["rsa", "ecdsa"]),
    default="rsa",
    show_default=True,
    help="Key type of new keys: RSA 2048 or ECDSA P-256.",
)
@click.option(
    "--server-name",
    "server_names",
    multiple=True,
    metavar="NAME",
    help="DNS name or IP address of the server certificate (repeatable; "
    "default: localhost and 127.0.0.1; ignored when server.pem exists).",
)
def keys_init(
    directory: Path, parties: tuple[str, ...], algorithm: str, server_names: tuple[str, ...]
) -> None:
    """Create a development CA, server and party certificates in DIRECTORY.

    Only what is missing is created; no existing file is replaced. Prints one line per
    certificate: ROLE NAME SHA256-FINGERPRINT PATH, with "(new)" when created now.
    Exit status: 0 done, 2 a name is invalid or the directory is unusable.
    """
    from temix.keys import DEFAULT_SERVER_NAMES, KeyAlgorithm, KeyDirectory, KeysError

    try:
        issued = KeyDirectory(directory).init(
            parties, KeyAlgorithm(algorithm), server_names or DEFAULT_SERVER_NAMES
        )
    except KeysError as error:
        click.echo(str(error), err=True)
        raise SystemExit(EXIT_UNUSABLE) from None
    for item in issued:
        suffix = " (new)" if item.created else ""
        click.echo(f"{item.role} {item.name} {item.fingerprint} {item.path}{suffix}")


@keys.command("fingerprint")
@click.argument("certificates", nargs=-1, required=True, type=click.Path(path_type=Path))
def keys_fingerprint(certificates: tuple[Path, ...]) -> None:
    """Print the SHA-256 fingerprint of each PEM certificate: FINGERPRINT  PATH.

    Exit status: 0 all printed, 2 a file could not be read or is not a certificate.
    """
    from temix.keys import KeysError, fingerprint, load_certificate

    status = EXIT_VALID
    for path in certificates:
        try:
            click.echo(f"{fingerprint(load_certificate(path))}  {path}")
        except KeysError as error:
            click.echo(str(error), err=True)
            status = EXIT_UNUSABLE
    raise SystemExit(status)


@keys.command("sign")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.argument("envelope", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--party", required=True, metavar="NAME", help="Sign with this party's key.")
def keys_sign(directory: Path, envelope: Path, party: str) -> None:
    """Print ENVELOPE (a SOAP 1.1 or 1.2 Envelope) signed with party NAME's key from
    DIRECTORY: a WS-Security header with a Timestamp valid for 5 minutes, the party's
    certificate, and a signature over the Body and the Timestamp.

    Send the output as it is: re-indenting it breaks the signature.
    Exit status: 0 signed, 2 the keys or the file are unusable.
    """
    from temix.keys import KeyDirectory, KeysError
    from temix.wssecurity import sign_envelope

    try:
        credentials = KeyDirectory(directory).party(party)
        document = parse_bytes(envelope.read_bytes()).getroot()
        sign_envelope(document, credentials.key, credentials.certificate, datetime.now(UTC))
    except (KeysError, OSError, XmlRejected, ValueError) as error:
        click.echo(f"{envelope}: cannot sign: {error}", err=True)
        raise SystemExit(EXIT_UNUSABLE) from None
    click.echo(document_bytes(document), nl=False)


@keys.command("verify")
@click.argument("certificate", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("envelopes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--max-age",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Oldest acceptable Timestamp, in seconds.",
)
def keys_verify(certificate: Path, envelopes: tuple[Path, ...], max_age: float) -> None:
    """Check that each SOAP envelope is signed, as temix signs, by CERTIFICATE (for example a
    server's reply against the server's certificate). Prints FILE: verified, or the reason.

    Exit status: 0 all verified, 1 some not, 2 a file could not be read.
    """
    from temix.keys import KeysError, fingerprint, load_certificate
    from temix.wssecurity import Freshness, SecurityError, check_certificate, verify_envelope

    try:
        pinned = fingerprint(load_certificate(certificate))
    except KeysError as error:
        click.echo(str(error), err=True)
        raise SystemExit(EXIT_UNUSABLE) from None
    now = datetime.now(UTC)

    def trusted(signer: Any) -> None:
        if fingerprint(signer) != pinned:
            raise SecurityError(f"signed by another certificate (sha256:{fingerprint(signer)})")
        check_certificate(signer, now)

    freshness = Freshness(max_age=timedelta(seconds=max_age))
    status = EXIT_VALID
    for path in envelopes:
        try:
            document = parse_bytes(path.read_bytes()).getroot()
            verify_envelope(document, trusted, now, freshness)
        except (OSError, XmlRejected, ValueError) as error:
            click.echo(f"{path}: {error}", err=True)
            status = max(status, EXIT_UNUSABLE)
            continue
        except SecurityError as refusal:
            click.echo(f"{path}: not verified: {refusal.cause}")
            status = max(status, EXIT_INVALID)
            continue
        click.echo(f"{path}: verified")
    raise SystemExit(status)


def _attach_server_commands() -> None:
    from temix.server.commands import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


def _attach_client_commands() -> None:
    from temix.client.cli import client

    main.add_command(client)


def _attach_demo_command() -> None:
    from temix.client.demo.cli import demo

    main.add_command(demo)


def _attach_conformance_commands() -> None:
    from temix.conformance.cli import conformance

    main.add_command(conformance)


_attach_server_commands()
_attach_client_commands()
_attach_demo_command()
_attach_conformance_commands()
