"""The ``temix`` command line: a thin adapter over :mod:`temix.xmlsafe` and
:mod:`temix.validation`.

``main`` is a click group; a subcommand written in another module is attached with
``main.add_command(command)``.
"""

from __future__ import annotations

from pathlib import Path

import click

from temix import __version__
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


def _attach_server_commands() -> None:
    from temix.server.commands import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_attach_server_commands()
