"""What a run leaves behind: a JUnit XML report for CI systems, one self-contained HTML report
for people, and an evidence directory for a certifier.

Every writer here takes a :class:`RunReport` and touches no network. The evidence directory
holds every exchange's bytes exactly as sent and received, the results, and a manifest of
every file's SHA-256 (``manifest.json``, and ``manifest.sha256`` in the format
``sha256sum -c`` reads, covering ``manifest.json`` too), so that anyone can check later that
nothing in it was edited, added or removed: :func:`verify_evidence` does that check.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from lxml.html import builder as h

from temix import __version__
from temix.conformance.capabilities import Capabilities
from temix.conformance.catalogue import Group, Outcome
from temix.conformance.runner import Result, Summary
from temix.conformance.trial import SETUP, Exchange, Run
from temix.envelope import media_type_of
from temix.xmlsafe import XmlRejected, parse_bytes

RESULTS = "results.json"
MANIFEST = "manifest.json"
CHECKSUMS = "manifest.sha256"


@dataclass(frozen=True)
class RunReport:
    """One finished run, as the reports describe it.

    ``exchanges`` is every exchange of the run in order, those made before the first test
    (recorded under ``setup``) included; each result also holds its own.
    """

    wsdl: str
    endpoint: str | None
    party: str
    counterparty: str
    run_id: str
    capabilities: Capabilities
    started: datetime
    ended: datetime
    results: tuple[Result, ...]
    exchanges: tuple[Exchange, ...]
    version: str = __version__

    @classmethod
    def of(
        cls, run: Run, results: Iterable[Result], started: datetime, ended: datetime
    ) -> RunReport:
        target = run.target
        return cls(
            wsdl=target.wsdl,
            endpoint=target.endpoint,
            party=target.party,
            counterparty=target.counterparty,
            run_id=run.run_id,
            capabilities=run.capabilities,
            started=started,
            ended=ended,
            results=tuple(results),
            exchanges=tuple(run.recorder.exchanges),
        )

    @property
    def summary(self) -> Summary:
        return Summary.of(self.results)

    @property
    def setup_exchanges(self) -> tuple[Exchange, ...]:
        return tuple(exchange for exchange in self.exchanges if exchange.case_id == SETUP)

    def by_group(self) -> Iterator[tuple[Group, list[Result]]]:
        """The results of each group that has any, in catalogue order."""
        for group in Group:
            results = [result for result in self.results if result.case.group is group]
            if results:
                yield group, results

    def metadata(self) -> dict[str, Any]:
        """The run's description, for the JSON files."""
        return {
            "run_id": self.run_id,
            "wsdl": self.wsdl,
            "endpoint": self.endpoint,
            "party": self.party,
            "counterparty": self.counterparty,
            "capabilities": {
                "source": self.capabilities.source,
                "features": sorted(self.capabilities.features),
                "inputs": dict(sorted(self.capabilities.inputs.items())),
            },
            "temix_version": self.version,
            "started": self.started.isoformat(),
            "ended": self.ended.isoformat(),
            "summary": self.summary.line,
            "required_failures": self.summary.required_failures,
        }


# --- JUnit XML ---------------------------------------------------------------------------


def junit_xml(report: RunReport) -> bytes:
    """The run as JUnit XML: one ``testsuite`` per group, one ``testcase`` per test.

    A failed test has a ``failure`` (its type ``recommendation`` when the test is not
    required, so a CI system can tell the two apart); notApplicable, missingInput and
    prereqFailed are ``skipped`` with the outcome in the message; a warning is a pass whose
    warnings are in ``system-out``, next to the clause every test names there.
    """
    summary = report.summary
    root = etree.Element(
        "testsuites",
        name=f"temix conformance {report.run_id}",
        tests=str(len(report.results)),
        failures=str(summary.failed),
        errors="0",
        skipped=str(summary.skipped),
        time=_seconds(sum(result.seconds for result in report.results)),
    )
    for group, results in report.by_group():
        suite = etree.SubElement(
            root,
            "testsuite",
            name=f"{group.value} {group.title}",
            tests=str(len(results)),
            failures=str(sum(result.outcome is Outcome.FAILED for result in results)),
            errors="0",
            skipped=str(sum(result.outcome.skipped for result in results)),
            time=_seconds(sum(result.seconds for result in results)),
            timestamp=report.started.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        properties = etree.SubElement(suite, "properties")
        for name, value in (
            ("run_id", report.run_id),
            ("wsdl", report.wsdl),
            ("capabilities", report.capabilities.source),
            ("temix_version", report.version),
        ):
            etree.SubElement(properties, "property", name=name, value=_xml_text(value))
        for result in results:
            suite.append(_testcase(group, result))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _testcase(group: Group, result: Result) -> etree._Element:
    case = result.case
    testcase = etree.Element(
        "testcase",
        classname=group.title,
        name=_xml_text(f"{case.id} {case.title}"),
        time=_seconds(result.seconds),
    )
    reason = _xml_text(result.reason)
    if result.outcome is Outcome.FAILED:
        failure = etree.SubElement(
            testcase,
            "failure",
            message=reason,
            type="failed" if case.required else "recommendation",
        )
        failure.text = reason
    elif result.outcome.skipped:
        etree.SubElement(testcase, "skipped", message=f"{result.outcome}: {reason}")
    lines = [f"clause: {case.clause}", *(f"warning: {warning}" for warning in result.warnings)]
    etree.SubElement(testcase, "system-out").text = _xml_text("\n".join(lines))
    return testcase


def _seconds(seconds: float) -> str:
    return f"{seconds:.3f}"


# --- HTML --------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #1b1b1b; max-width: 80em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0; width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.facts dt { font-weight: bold; } dl.facts dd { margin: 0; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.5em; overflow-x: auto;
      white-space: pre-wrap; word-break: break-all; font-size: 0.85em; }
details { margin: 0.3em 0; } summary { cursor: pointer; }
section.test { border-top: 1px solid #ddd; padding-top: 0.5em; }
.outcome { font-weight: bold; white-space: nowrap; }
.passed { color: #17692b; } .warning { color: #8a5a00; } .failed { color: #b00020; }
.notApplicable, .missingInput, .prereqFailed { color: #555; }
.verdict { font-size: 1.1em; font-weight: bold; }
"""

_NOT_XML_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def html_report(report: RunReport) -> str:
    """The run as one HTML page that loads nothing else: its style is inline, it has no
    scripts, and a Content-Security-Policy forbids any other resource. Every text is
    escaped by lxml; bodies that are XML are re-indented for reading."""
    summary = report.summary
    head = h.HEAD(
        h.META(charset="utf-8"),
        h.META(
            **{
                "http-equiv": "Content-Security-Policy",
                "content": "default-src 'none'; style-src 'unsafe-inline'",
            }
        ),
        h.TITLE(_xml_text(f"TeMIX conformance report {report.run_id}")),
        h.STYLE(_STYLE),
    )
    body = h.BODY(
        h.H1("TeMIX conformance report"),
        _facts(
            [
                ("Target (WSDL)", report.wsdl),
                *([("Endpoint", report.endpoint)] if report.endpoint else []),
                ("Party", report.party),
                ("Counterparty", report.counterparty),
                ("Run id", report.run_id),
                ("Capability declaration", report.capabilities.source),
                ("Declared features", ", ".join(sorted(report.capabilities.features)) or "none"),
                (
                    "Inputs",
                    ", ".join(
                        f"{name} = {value}"
                        for name, value in sorted(report.capabilities.inputs.items())
                    ),
                ),
                ("temix version", report.version),
                ("Started", report.started.isoformat()),
                ("Ended", report.ended.isoformat()),
            ]
        ),
        h.H2("Summary"),
        h.P(
            _xml_text(summary.line),
            h.BR(),
            h.SPAN(
                "No required test failed."
                if not summary.required_failures
                else f"{summary.required_failures} required test(s) failed.",
                h.CLASS("verdict " + ("failed" if summary.required_failures else "passed")),
            ),
        ),
        _counts_table(summary),
    )
    for group, results in report.by_group():
        body.append(h.H2(f"{group.title} ({group.value})"))
        body.append(_group_table(results))
    body.append(h.H2("Tests"))
    for result in report.results:
        body.append(_test_section(result))
    setup = report.setup_exchanges
    if setup:
        body.append(h.H2("Before the first test"))
        for exchange in setup:
            body.append(_exchange_details(exchange))
    document = h.HTML(head, body, lang="en")
    return etree.tostring(document, method="html", encoding="unicode", doctype="<!DOCTYPE html>")


def _facts(rows: Iterable[tuple[str, str]]) -> etree._Element:
    facts = h.DL(h.CLASS("facts"))
    for name, value in rows:
        facts.append(h.DT(name))
        facts.append(h.DD(_xml_text(value)))
    return facts


def _counts_table(summary: Summary) -> etree._Element:
    return h.TABLE(
        h.TR(*(h.TH(str(outcome)) for outcome in Outcome)),
        h.TR(*(h.TD(str(summary.counts[outcome])) for outcome in Outcome)),
    )


def _outcome_cell(result: Result) -> etree._Element:
    label = str(result.outcome)
    if result.outcome is Outcome.FAILED and not result.case.required:
        label += " (recommendation)"
    return h.TD(label, h.CLASS(f"outcome {result.outcome}"))


def _group_table(results: list[Result]) -> etree._Element:
    table = h.TABLE(h.TR(h.TH("id"), h.TH("title"), h.TH("clause"), h.TH("result"), h.TH("reason")))
    for result in results:
        case = result.case
        table.append(
            h.TR(
                h.TD(h.A(case.id, href=f"#{case.id}")),
                h.TD(_xml_text(case.title)),
                h.TD(_xml_text(case.clause)),
                _outcome_cell(result),
                h.TD(_xml_text(result.reason)),
            )
        )
    return table


def _test_section(result: Result) -> etree._Element:
    case = result.case
    details = h.DETAILS(
        h.SUMMARY(
            h.SPAN(str(result.outcome), h.CLASS(f"outcome {result.outcome}")),
            _xml_text(f" {case.id} {case.title}"),
        ),
        _facts(
            [
                ("Group", f"{case.group.title} ({case.group.value})"),
                ("Clause", case.clause),
                ("Required", "yes" if case.required else "no: a recommendation"),
                ("Result", str(result.outcome)),
                ("Reason", result.reason or "none"),
                ("Time", f"{result.seconds:.3f} s"),
            ]
        ),
    )
    if result.outcome is Outcome.FAILED:
        details.set("open", "open")
    if result.warnings:
        details.append(h.H3("Warnings"))
        details.append(h.UL(*(h.LI(_xml_text(warning)) for warning in result.warnings)))
    details.append(h.H3(f"Exchanges ({len(result.exchanges)})"))
    for exchange in result.exchanges:
        details.append(_exchange_details(exchange))
    return h.SECTION(details, h.CLASS("test"), id=case.id)


def _exchange_details(exchange: Exchange) -> etree._Element:
    parts: list[Any] = [
        h.SUMMARY(
            _xml_text(
                f"#{exchange.number} {exchange.method} {exchange.url} \u2192 HTTP "
                f"{exchange.status} ({exchange.seconds:.3f} s)"
            )
        ),
        _facts([("Started", exchange.started.isoformat())]),
    ]
    if exchange.problems:
        parts.append(h.P("Schema problems in the response:"))
        parts.append(h.UL(*(h.LI(_xml_text(problem)) for problem in exchange.problems)))
    parts += [
        h.H3("Request"),
        h.PRE(_xml_text(_headers_text(exchange.request_headers))),
        h.PRE(_xml_text(readable(exchange.request) or "(no body)")),
        h.H3("Response"),
        h.PRE(_xml_text(_headers_text(exchange.response_headers))),
        h.PRE(_xml_text(_response_text(exchange))),
    ]
    return h.DETAILS(*parts, h.CLASS("exchange"))


def _response_text(exchange: Exchange) -> str:
    """The response for reading; a document fetched with GET (the WSDL and its schemas, fetched
    again by each client) is named, not repeated: the evidence keeps its bytes."""
    if exchange.method == "GET" and exchange.response:
        return f"({len(exchange.response)} bytes fetched; the evidence directory keeps them)"
    return readable(exchange.response) or "(no body)"


def _headers_text(headers: dict[str, str]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def readable(body: bytes) -> str:
    """``body`` for reading: XML re-indented (parsed with the hardened parser), anything else
    as text, undecodable bytes replaced."""
    if not body.strip():
        return ""
    try:
        root = parse_bytes(body).getroot()
    except XmlRejected:
        return body.decode("utf-8", errors="replace")
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode")


def _xml_text(text: str) -> str:
    """``text`` with the characters XML cannot carry (control characters) shown as escapes."""
    return _NOT_XML_CHARACTER.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


# --- The evidence directory --------------------------------------------------------------

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class EvidenceError(Exception):
    """The evidence directory cannot be written (it is not empty, or a name is unsafe)."""


def check_evidence_directory(directory: Path) -> None:
    """Refuse a directory that holds anything: old files would be listed as extras."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise EvidenceError(f"{directory} exists and is not an empty directory")


def write_evidence(report: RunReport, directory: Path) -> list[Path]:
    """Write the evidence directory (see the module docstring); the files written, relative
    to ``directory``, in manifest order."""
    check_evidence_directory(directory)
    unsafe = [
        exchange.case_id
        for exchange in report.exchanges
        if not _SAFE_NAME.fullmatch(exchange.case_id)
    ]
    if unsafe:
        raise EvidenceError(f"{unsafe[0]!r} cannot name an evidence directory")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def write(relative: str, data: bytes) -> None:
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(relative)

    for exchange in report.exchanges:
        stem = f"{exchange.case_id}/{exchange.number:03d}"
        files: dict[str, str | None] = {"request_file": None, "response_file": None}
        for side, headers, body in (
            ("request", exchange.request_headers, exchange.request),
            ("response", exchange.response_headers, exchange.response),
        ):
            if body:
                name = f"{stem}-{side}.{_extension(headers)}"
                write(name, body)
                files[f"{side}_file"] = name.rsplit("/", 1)[1]
        write(f"{stem}-exchange.json", _json(_exchange_document(exchange, files)))
    write(RESULTS, _json(_results_document(report)))
    manifest = {
        "run": report.metadata(),
        "files": [
            {
                "path": relative,
                "sha256": _sha256(directory / relative),
                "size": (directory / relative).stat().st_size,
            }
            for relative in written
        ],
    }
    write(MANIFEST, _json(manifest))
    (directory / CHECKSUMS).write_text(
        "".join(f"{_sha256(directory / relative)}  {relative}\n" for relative in written),
        encoding="utf-8",
    )
    return [Path(relative) for relative in [*written, CHECKSUMS]]


def _extension(headers: dict[str, str]) -> str:
    content_type = next(
        (value for name, value in headers.items() if name.lower() == "content-type"), ""
    )
    media_type = media_type_of(content_type)
    if "xml" in media_type:
        return "xml"
    if media_type.startswith("text/"):
        return "txt"
    return "bin"


def _exchange_document(exchange: Exchange, files: dict[str, str | None]) -> dict[str, Any]:
    return {
        "number": exchange.number,
        "test": exchange.case_id,
        "method": exchange.method,
        "url": exchange.url,
        "status": exchange.status,
        "started": exchange.started.isoformat(),
        "seconds": exchange.seconds,
        "request_headers": exchange.request_headers,
        "response_headers": exchange.response_headers,
        **files,
        "schema_problems": list(exchange.problems),
    }


def _results_document(report: RunReport) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "summary": report.summary.line,
        "results": [
            {
                "id": result.case.id,
                "title": result.case.title,
                "clause": result.case.clause,
                "group": result.case.group.value,
                "group_title": result.case.group.title,
                "required": result.case.required,
                "outcome": str(result.outcome),
                "reason": result.reason,
                "warnings": list(result.warnings),
                "seconds": result.seconds,
                "exchanges": [exchange.number for exchange in result.exchanges],
            }
            for result in report.results
        ],
    }


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_CHECKSUM_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


def verify_evidence(directory: Path) -> list[str]:
    """What is wrong with an evidence directory: files missing, changed or not in the
    manifest, and a ``manifest.json`` that disagrees with ``manifest.sha256``; empty when it
    is as written."""
    checksums = directory / CHECKSUMS
    if not checksums.is_file():
        return [f"{CHECKSUMS}: missing, so nothing can be checked"]
    problems: list[str] = []
    listed: dict[str, str] = {}
    for number, line in enumerate(checksums.read_text(encoding="utf-8").splitlines(), 1):
        found = _CHECKSUM_LINE.fullmatch(line)
        if found is None:
            problems.append(f"{CHECKSUMS} line {number}: not a sha256sum line")
            continue
        digest, relative = found.groups()
        if not _inside(relative):
            problems.append(f"{CHECKSUMS} line {number}: {relative} is outside the directory")
            continue
        listed[relative] = digest
    for relative, digest in listed.items():
        path = directory / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif _sha256(path) != digest:
            problems.append(f"{relative}: changed since the run")
    present = {
        path.relative_to(directory).as_posix()
        for path in directory.rglob("*")
        if path.is_file() or path.is_symlink()
    }
    for relative in sorted(present - set(listed) - {CHECKSUMS}):
        problems.append(f"{relative}: not in the manifest")
    problems += _manifest_problems(directory, listed)
    return problems


def _inside(relative: str) -> bool:
    parts = relative.split("/")
    return not relative.startswith("/") and all(part not in ("", ".", "..") for part in parts)


def _manifest_problems(directory: Path, listed: dict[str, str]) -> list[str]:
    if MANIFEST not in listed:
        return [f"{MANIFEST}: not listed in {CHECKSUMS}"]
    try:
        manifest = json.loads((directory / MANIFEST).read_bytes())
        files = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return [f"{MANIFEST}: unreadable"]
    expected = {relative: digest for relative, digest in listed.items() if relative != MANIFEST}
    if files != expected:
        return [f"{MANIFEST}: its file list disagrees with {CHECKSUMS}"]
    return []
