"""``temix conformance``: run the suite against a live endpoint, list its tests, and check an
evidence directory.

``run`` prints its progress on stderr and its findings on stdout, and the last line on stdout
is always the summary (``N passed, N failed, N skipped``), so a script can read it with
``tail -n 1``. Every input it can check is checked before the first request, so a wrong input
ends the command at once with one ``error:`` line and exit status 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from temix.client.api import tls_session
from temix.client.cli import stdout_console
from temix.client.errors import ClientError
from temix.conformance.capabilities import Capabilities, CapabilityError
from temix.conformance.catalogue import Case, Group, Outcome, catalogue, select
from temix.conformance.check import check_command
from temix.conformance.reports import (
    EvidenceError,
    RunReport,
    check_evidence_directory,
    html_report,
    junit_xml,
    verify_evidence,
    write_evidence,
)
from temix.conformance.runner import Result, Summary, run_cases
from temix.conformance.trial import Run, Target, TargetError

EXIT_CONFORMS = 0
EXIT_REQUIRED_FAILED = 1
EXIT_UNUSABLE = 2


class Unusable(Exception):
    """The run cannot start or its reports cannot be written; the message says why."""


@click.group()
def conformance() -> None:
    """The TeMIX conformance suite: certify any EI/TeMIX SOAP endpoint."""


# --- run ---------------------------------------------------------------------------------


def _existing_file(name: str, text: str):  # type: ignore[no-untyped-def]
    return click.option(
        name, type=click.Path(path_type=Path, dir_okay=False, exists=True), help=text
    )


def _output_file(name: str, text: str):  # type: ignore[no-untyped-def]
    return click.option(name, type=click.Path(path_type=Path, dir_okay=False), help=text)


@dataclass(frozen=True)
class Reports:
    """Where the run's reports go (None: not written)."""

    junit: Path | None
    html: Path | None
    evidence: Path | None

    def check(self) -> None:
        """Refuse, before the run, destinations that could not be written after it."""
        for path in (self.junit, self.html):
            if path is not None and not path.parent.is_dir():
                raise Unusable(f"{path}: the directory {path.parent} does not exist")
            if path is not None and path.is_dir():
                raise Unusable(f"{path} is a directory")
        if self.evidence is not None:
            try:
                check_evidence_directory(self.evidence)
            except EvidenceError as error:
                raise Unusable(str(error)) from None

    def write(self, report: RunReport) -> list[str]:
        """Write each report asked for; one line per report saying where it is."""
        written = []
        try:
            if self.junit is not None:
                self.junit.write_bytes(junit_xml(report))
                written.append(f"JUnit XML: {self.junit}")
            if self.html is not None:
                self.html.write_text(html_report(report), encoding="utf-8")
                written.append(f"HTML report: {self.html}")
            if self.evidence is not None:
                files = write_evidence(report, self.evidence)
                written.append(f"evidence: {self.evidence} ({len(files)} files)")
        except (OSError, EvidenceError) as error:
            raise Unusable(f"cannot write the reports: {error}") from None
        return written


@conformance.command("run")
@click.option(
    "--target",
    "wsdl",
    required=True,
    metavar="WSDL_URL",
    help="The endpoint's WSDL, e.g. https://host/temix?wsdl.",
)
@click.option(
    "--keys",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    metavar="DIR",
    help="Key directory (temix keys init layout): parties/NAME.key and .pem for each of the "
    "suite's parties, and server.pem, the certificate replies must be signed with.",
)
@click.option("--party", required=True, metavar="NAME", help="The suite's first party.")
@click.option(
    "--counterparty",
    required=True,
    metavar="NAME",
    help="The suite's second party: it trades with --party.",
)
@click.option(
    "--capabilities",
    "capabilities_file",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Capability declaration (TOML); default: the whole TeMIX profile.",
)
@click.option(
    "--only",
    "patterns",
    multiple=True,
    metavar="PATTERN",
    help="Run only the tests matching PATTERN (TMX-TND-004, TND-00?, SEC), and the tests "
    "they need first (repeatable).",
)
@_output_file("--junit", "Write a JUnit XML report to FILE.")
@_output_file("--html", "Write a self-contained HTML report to FILE.")
@click.option(
    "--evidence",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Write every exchange's bytes, the results and a SHA-256 manifest to DIR (new or empty).",
)
@_existing_file("--server-cert", "Accept only replies signed with this certificate (PEM).")
@click.option("--endpoint", metavar="URL", help="Send to URL instead of the WSDL's address.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait for each answer.",
)
@_existing_file("--tls-ca", "CA bundle to verify an https endpoint with.")
@_existing_file("--tls-cert", "Client certificate for mutual TLS (PEM).")
@_existing_file("--tls-key", "The client certificate's private key (PEM).")
def run_command(
    wsdl: str,
    keys: Path,
    party: str,
    counterparty: str,
    capabilities_file: Path | None,
    patterns: tuple[str, ...],
    junit: Path | None,
    html: Path | None,
    evidence: Path | None,
    server_cert: Path | None,
    endpoint: str | None,
    timeout: float,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Run the suite against the endpoint whose WSDL is WSDL_URL.

    The suite signs as --party and --counterparty with their keys from --keys; both must be
    registered traders at the endpoint. Tests the capability declaration rules out end as
    notApplicable, tests lacking one of its inputs as missingInput.

    \b
    Exit status:
      0  no required test failed
      1  a required test failed
      2  the endpoint could not be reached, or an input is wrong (keys,
         capability declaration, --only, report destinations)
    """
    try:
        if party == counterparty:
            raise Unusable("--party and --counterparty must name different parties")
        if (tls_cert is None) != (tls_key is None):
            raise Unusable("--tls-cert and --tls-key go together")
        capabilities = _capabilities(capabilities_file)
        cases = _selection(patterns)
        reports = Reports(junit, html, evidence)
        reports.check()
        target = Target(
            wsdl,
            keys,
            party,
            counterparty,
            server_certificate=server_cert,
            endpoint=endpoint,
            timeout=timeout,
            session=lambda: tls_session(tls_ca, tls_cert, tls_key),
        )
        started = datetime.now(UTC)
        run = Run(target, capabilities)
        try:
            _open(run)
            results = _run_with_progress(run, cases)
        finally:
            run.close()
        report = RunReport.of(run, results, started, datetime.now(UTC))
        _show_findings(results)
        for line in reports.write(report):
            click.echo(line)
    except Unusable as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(EXIT_UNUSABLE) from None
    summary = Summary.of(results)
    click.echo(summary.line)
    raise SystemExit(EXIT_REQUIRED_FAILED if summary.required_failures else EXIT_CONFORMS)


def _capabilities(path: Path | None) -> Capabilities:
    if path is None:
        return Capabilities()
    try:
        return Capabilities.read(path)
    except CapabilityError as error:
        raise Unusable(f"capability declaration {error}") from None


def _selection(patterns: tuple[str, ...]) -> tuple[Case, ...]:
    everything = catalogue()
    for pattern in patterns:
        if not select(everything, [pattern]):
            raise Unusable(
                f"--only {pattern} matches no test (temix conformance list shows them all)"
            )
    return select(everything, patterns)


def _open(run: Run) -> None:
    try:
        run.open()
    except (TargetError, ClientError) as error:
        raise Unusable(f"the run cannot start: {error}") from None


def _run_with_progress(run: Run, cases: tuple[Case, ...]) -> list[Result]:
    """Run ``cases`` with a progress bar on stderr naming the test under way, and one line
    per finished test above it (the only trace a log gets when stderr is not a terminal)."""
    console = Console(stderr=True, markup=False, highlight=False, emoji=False)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task(cases[0].id if cases else "", total=len(cases))

        def finished(result: Result) -> None:
            progress.console.print(f"{result.case.id} {result.outcome} ({result.seconds:.2f} s)")
            progress.advance(task)
            upcoming = int(progress.tasks[task].completed)
            progress.update(
                task, description=cases[upcoming].id if upcoming < len(cases) else "done"
            )

        return run_cases(run, cases, finished)


def _show_findings(results: Iterable[Result]) -> None:
    """A table of the tests that failed or warned, with their reasons."""
    noted = [result for result in results if result.outcome in (Outcome.FAILED, Outcome.WARNING)]
    if not noted:
        return
    table = Table(title="Failures and warnings", title_justify="left")
    for column in ("test", "result", "reason"):
        table.add_column(column)
    for result in noted:
        label = str(result.outcome)
        if result.outcome is Outcome.FAILED and not result.case.required:
            label += " (recommendation)"
        table.add_row(result.case.id, label, result.reason)
    stdout_console().print(table)


# --- list --------------------------------------------------------------------------------


def _needs(case: Case) -> str:
    return ", ".join(sorted(case.requires))


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_listing(cases: Iterable[Case]) -> str:
    """Every test as Markdown, one table per group under its own heading: the catalogue block
    of ``docs/conformance.md``."""
    cases = list(cases)
    sections = []
    for group in Group:
        members = [each for each in cases if each.group is group]
        if not members:
            continue
        rows = [
            f"### {group.title} ({group.value})",
            "",
            "| id | title | clause | needs |",
            "|---|---|---|---|",
        ]
        for each in members:
            title = each.title if each.required else f"{each.title} (recommendation)"
            cells = (each.id, title, each.clause, _needs(each))
            rows.append("| " + " | ".join(_markdown_cell(cell) for cell in cells) + " |")
        sections.append("\n".join(rows))
    return "\n\n".join(sections) + "\n"


@conformance.command("list")
@click.option("--markdown", is_flag=True, help="Print Markdown tables, one per group.")
def list_command(markdown: bool) -> None:
    """Print every test of the catalogue: id, group, clause and title.

    A test marked "recommendation" does not fail the run when it fails; "needs" names the
    capabilities without which it is notApplicable.
    """
    cases = catalogue()
    if markdown:
        click.echo(markdown_listing(cases), nl=False)
        return
    table = Table()
    for column in ("id", "group", "clause", "title", "needs"):
        table.add_column(column)
    for each in cases:
        title = each.title if each.required else f"{each.title} (recommendation)"
        table.add_row(each.id, each.group.title, each.clause, title, _needs(each))
    stdout_console().print(table)


# --- verify-evidence ---------------------------------------------------------------------


@conformance.command("verify-evidence")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
def verify_evidence_command(directory: Path) -> None:
    """Check that the evidence DIRECTORY of a run is as the run wrote it: no file missing,
    changed or added since.

    \b
    Exit status: 0 intact, 1 not (one line per problem).
    """
    problems = verify_evidence(directory)
    for problem in problems:
        click.echo(f"{directory}: {problem}")
    if problems:
        click.echo(f"{directory}: not intact ({len(problems)} problem(s))")
        raise SystemExit(1)
    click.echo(f"{directory}: intact")


conformance.add_command(check_command)
