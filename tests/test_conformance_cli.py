"""``temix conformance``: runs against a prepared ``temix serve`` (a sound one and one with a
flaw the market context tests must catch), its exit statuses, the JUnit, HTML and evidence
reports, the catalogue listing and the generated block of ``docs/conformance.md``; and the
report writers on hand-made results."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import pytest
from click.testing import CliRunner
from click.testing import Result as Invocation
from lxml import etree

from conformance_target import Served, serve_target
from temix.cli import main
from temix.conformance.capabilities import Capabilities
from temix.conformance.catalogue import Case, Outcome, catalogue, select
from temix.conformance.cli import markdown_listing
from temix.conformance.reports import (
    CHECKSUMS,
    MANIFEST,
    RESULTS,
    EvidenceError,
    RunReport,
    html_report,
    junit_xml,
    readable,
    verify_evidence,
    write_evidence,
)
from temix.conformance.runner import Result
from temix.conformance.trial import SETUP, Exchange

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "conformance.md"
GENERATED = re.compile(
    r"<!-- BEGIN GENERATED: temix conformance list --markdown -->\n(.*)<!-- END GENERATED -->",
    re.DOTALL,
)
SUMMARY_LINE = re.compile(r"(\d+) passed, (\d+) failed, (\d+) skipped")
CLOSED_WSDL = "http://127.0.0.1:9/?wsdl"
FLAWED_TEST = "TMX-MKT-004"


def invoke(*arguments: str | Path) -> Invocation:
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


def declaration(served: Served, path: Path) -> Path:
    """The served target's capability declaration as a TOML file (its inputs; every feature)."""
    lines = ["[inputs]"] + [
        f"{name} = {json.dumps(value)}" for name, value in served.capabilities.inputs.items()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_arguments(served: Served, capabilities: Path, *more: str | Path) -> list[str | Path]:
    target = served.target
    return [
        "conformance",
        "run",
        "--target",
        target.wsdl,
        "--keys",
        target.keys,
        "--party",
        target.party,
        "--counterparty",
        target.counterparty,
        "--capabilities",
        capabilities,
        *more,
    ]


def summary_counts(invocation: Invocation) -> tuple[int, int, int]:
    last = invocation.stdout.splitlines()[-1]
    found = SUMMARY_LINE.fullmatch(last)
    assert found, f"the last line on stdout is not the summary: {last!r}"
    passed, failed, skipped = (int(number) for number in found.groups())
    return passed, failed, skipped


@dataclass(frozen=True)
class Finished:
    """One ``conformance run`` and where it wrote its reports."""

    invocation: Invocation
    junit: Path
    html: Path
    evidence: Path


def finished_run(served: Served, directory: Path, *only: str) -> Finished:
    directory.mkdir(parents=True, exist_ok=True)
    finished = Finished(
        invoke(
            *run_arguments(
                served,
                declaration(served, directory / "capabilities.toml"),
                *(argument for pattern in only for argument in ("--only", pattern)),
                "--junit",
                directory / "junit.xml",
                "--html",
                directory / "report.html",
                "--evidence",
                directory / "evidence",
            )
        ),
        directory / "junit.xml",
        directory / "report.html",
        directory / "evidence",
    )
    assert "Traceback" not in finished.invocation.output, finished.invocation.output
    return finished


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    target = serve_target(tmp_path_factory.mktemp("conformance-target"))
    yield target
    target.server.stop()


@pytest.fixture(scope="module")
def flawed(tmp_path_factory: pytest.TempPathFactory):
    target = serve_target(tmp_path_factory.mktemp("flawed-target"), flaw="any-currency")
    yield target
    target.server.stop()


@pytest.fixture(scope="module")
def market_run(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Finished:
    return finished_run(served, tmp_path_factory.mktemp("market-run"), "MKT")


@pytest.fixture(scope="module")
def flawed_run(flawed: Served, tmp_path_factory: pytest.TempPathFactory) -> Finished:
    return finished_run(flawed, tmp_path_factory.mktemp("flawed-run"), FLAWED_TEST)


# --- Runs --------------------------------------------------------------------------------


def test_a_conforming_endpoint_exits_0_and_the_last_line_is_the_summary(market_run):
    invocation = market_run.invocation
    assert invocation.exit_code == 0, invocation.output
    passed, failed, skipped = summary_counts(invocation)
    assert failed == 0
    assert passed + skipped == len(select(catalogue(), ["MKT"]))
    assert passed >= 1


def test_progress_names_each_test_on_stderr(market_run):
    for each in select(catalogue(), ["MKT"]):
        assert each.id in market_run.invocation.stderr


def test_a_required_failure_exits_1_and_is_shown_with_its_reason(flawed_run):
    invocation = flawed_run.invocation
    assert invocation.exit_code == 1, invocation.output
    _, failed, _ = summary_counts(invocation)
    assert failed == 1
    failure_row = next(line for line in invocation.stdout.splitlines() if FLAWED_TEST in line)
    assert "failed" in failure_row and "refusal" in failure_row


def test_an_unreachable_target_exits_2(served, tmp_path):
    arguments = run_arguments(served, declaration(served, tmp_path / "c.toml"), "--only", "MKT")
    arguments[arguments.index("--target") + 1] = CLOSED_WSDL
    invocation = invoke(*arguments, "--timeout", "5")
    assert invocation.exit_code == 2
    assert invocation.stderr.startswith("error: the run cannot start: cannot load the WSDL")
    assert "Traceback" not in invocation.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--party": "nobody"}, "keys for nobody"),
        ({"--counterparty": "rep"}, "must name different parties"),
        ({"--only": "TMX-ZZZ-*"}, "--only TMX-ZZZ-* matches no test"),
    ],
)
def test_wrong_inputs_exit_2_with_one_error_line(served, tmp_path, change, message):
    arguments = run_arguments(served, declaration(served, tmp_path / "c.toml"), "--only", "MKT")
    for option, value in change.items():
        arguments[arguments.index(option) + 1] = value
    invocation = invoke(*arguments)
    assert invocation.exit_code == 2, invocation.output
    assert invocation.stderr.startswith("error: ") and message in invocation.stderr
    assert "Traceback" not in invocation.output
    assert not SUMMARY_LINE.search(invocation.stdout)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[features]\nproducts = ["gold"]\n', "unknown gold"),
        ("[endpoint\n", "not TOML"),
    ],
)
def test_a_bad_capability_declaration_exits_2(served, tmp_path, text, message):
    capabilities = tmp_path / "capabilities.toml"
    capabilities.write_text(text, encoding="utf-8")
    invocation = invoke(*run_arguments(served, capabilities))
    assert invocation.exit_code == 2
    assert invocation.stderr.startswith("error: capability declaration")
    assert message in invocation.stderr


def test_an_evidence_directory_that_is_not_empty_exits_2_before_the_run(served, tmp_path):
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "old.txt").write_text("from another run")
    capabilities = declaration(served, tmp_path / "c.toml")
    invocation = invoke(*run_arguments(served, capabilities, "--evidence", tmp_path / "evidence"))
    assert invocation.exit_code == 2
    assert "is not an empty directory" in invocation.stderr


# --- Reports of a run --------------------------------------------------------------------


def results_of(finished: Finished) -> list[dict]:
    return json.loads((finished.evidence / RESULTS).read_text(encoding="utf-8"))["results"]


def test_junit_has_one_testcase_per_test_run(market_run):
    run = results_of(market_run)
    root = etree.parse(str(market_run.junit)).getroot()
    assert root.tag == "testsuites"
    testcases = root.findall("testsuite/testcase")
    assert [testcase.get("name").split(" ")[0] for testcase in testcases] == [
        result["id"] for result in run
    ]
    assert all(testcase.get("classname") == "Market context" for testcase in testcases)
    assert root.findall(".//failure") == []
    assert int(root.get("tests")) == len(run)


def test_junit_reports_the_failure_with_its_reason(flawed_run):
    root = etree.parse(str(flawed_run.junit)).getroot()
    (failure,) = root.findall(".//failure")
    testcase = failure.getparent()
    assert testcase.get("name").startswith(FLAWED_TEST)
    assert "expected a refusal" in failure.get("message")
    assert root.get("failures") == "1"


def test_the_html_report_loads_nothing_from_outside(market_run):
    text = market_run.html.read_text(encoding="utf-8")
    document = lxml.html.fromstring(text)
    assert document.xpath("//script | //link | //img | //iframe | //object | //embed") == []
    assert document.xpath("//@src") == []
    assert all(href.startswith("#") for href in document.xpath("//@href"))
    assert "url(" not in "".join(document.xpath("//style/text()"))
    assert "@import" not in text


def test_the_html_report_shows_each_tests_request_and_response(flawed_run):
    document = lxml.html.fromstring(flawed_run.html.read_text(encoding="utf-8"))
    section = document.get_element_by_id(FLAWED_TEST)
    bodies = " ".join(section.xpath(".//pre/text()"))
    assert "eiCreateTender" in bodies
    assert "eiCreatedTender" in bodies
    assert "expected a refusal" in section.text_content()


def test_the_evidence_holds_every_exchange_named_by_test(market_run):
    run = results_of(market_run)
    for result in run:
        for number in result["exchanges"]:
            stem = market_run.evidence / result["id"] / f"{number:03d}"
            exchange = json.loads(Path(f"{stem}-exchange.json").read_text(encoding="utf-8"))
            assert exchange["test"] == result["id"]
            assert (stem.parent / exchange["response_file"]).stat().st_size > 0
    assert any((market_run.evidence / SETUP).iterdir())


def test_the_evidence_manifest_verifies(market_run):
    assert verify_evidence(market_run.evidence) == []
    manifest = json.loads((market_run.evidence / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["run"]["summary"] == market_run.invocation.stdout.splitlines()[-1]
    invocation = invoke("conformance", "verify-evidence", market_run.evidence)
    assert invocation.exit_code == 0
    assert invocation.stdout.strip().endswith("intact")


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs sha256sum (coreutils)")
def test_sha256sum_checks_the_evidence(market_run, tmp_path):
    checked = subprocess.run(
        ["sha256sum", "--check", "--strict", CHECKSUMS],
        cwd=market_run.evidence,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    copy = shutil.copytree(market_run.evidence, tmp_path / "evidence")
    response = next(copy.glob("TMX-MKT-001/*-response.xml"))
    response.write_bytes(response.read_bytes().replace(b"200", b"201", 1))
    tampered = subprocess.run(
        ["sha256sum", "--check", "--quiet", CHECKSUMS],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tampered.returncode == 1
    assert response.relative_to(copy).as_posix() in tampered.stdout


def test_verify_evidence_finds_changed_missing_and_added_files(market_run, tmp_path):
    copy = shutil.copytree(market_run.evidence, tmp_path / "evidence")
    changed = next(copy.glob("TMX-MKT-001/*-response.xml"))
    changed.write_bytes(changed.read_bytes() + b" ")
    removed = next(copy.glob("setup/*-exchange.json"))
    removed.unlink()
    (copy / "TMX-MKT-001" / "note.txt").write_text("added later")
    problems = verify_evidence(copy)
    assert f"{changed.relative_to(copy).as_posix()}: changed since the run" in problems
    assert f"{removed.relative_to(copy).as_posix()}: missing" in problems
    assert "TMX-MKT-001/note.txt: not in the manifest" in problems
    invocation = invoke("conformance", "verify-evidence", copy)
    assert invocation.exit_code == 1
    assert "not intact (3 problem(s))" in invocation.stdout


def test_verify_evidence_notices_a_rewritten_manifest(market_run, tmp_path):
    copy = shutil.copytree(market_run.evidence, tmp_path / "evidence")
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"] = manifest["files"][1:]
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    problems = verify_evidence(copy)
    assert f"{MANIFEST}: changed since the run" in problems
    assert f"{MANIFEST}: its file list disagrees with {CHECKSUMS}" in problems
    (copy / CHECKSUMS).unlink()
    assert verify_evidence(copy) == [f"{CHECKSUMS}: missing, so nothing can be checked"]


# --- The catalogue listing and the docs -------------------------------------------------


def test_list_prints_every_test():
    invocation = invoke("conformance", "list")
    assert invocation.exit_code == 0
    for each in catalogue():
        assert each.id in invocation.stdout


def test_the_docs_catalogue_is_the_generated_listing():
    found = GENERATED.search(DOCS.read_text(encoding="utf-8"))
    assert found, f"{DOCS} lost its BEGIN/END GENERATED markers"
    printed = invoke("conformance", "list", "--markdown").stdout
    assert printed == markdown_listing(catalogue())
    assert found.group(1) == printed, (
        f"{DOCS} is out of date: replace the block between its markers with the output of "
        "`temix conformance list --markdown`"
    )


def test_the_markdown_listing_has_a_heading_and_a_row_per_test():
    listing = markdown_listing(catalogue())
    for each in catalogue():
        assert f"| {each.id} |" in listing
        assert f"### {each.group.title} ({each.group.value})" in listing


# --- The writers on hand-made results ----------------------------------------------------

STARTED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def made_case(id: str, *, required: bool = True) -> Case:
    return Case(id, f"title of {id}", f"clause of {id}", lambda trial: None, required=required)


def made_exchange(number: int, case_id: str, response: bytes, **changes: object) -> Exchange:
    fields: dict[str, object] = {
        "number": number,
        "case_id": case_id,
        "method": "POST",
        "url": "http://endpoint.example/",
        "request_headers": {"Content-Type": "text/xml; charset=utf-8"},
        "request": b"<a><b>request</b></a>",
        "status": 200,
        "response_headers": {"Content-Type": "text/xml; charset=utf-8"},
        "response": response,
        "started": STARTED + timedelta(seconds=number),
        "seconds": 0.25,
    }
    fields.update(changes)
    return Exchange(**fields)  # type: ignore[arg-type]


def made_report() -> RunReport:
    wsdl_fetch = made_exchange(
        1,
        SETUP,
        b"<definitions/>",
        method="GET",
        url="http://endpoint.example/?wsdl",
        request=b"",
        request_headers={},
    )
    passed = made_exchange(2, "TMX-MKT-001", b"<reply><code>200</code></reply>")
    failed = made_exchange(
        3,
        "TMX-TND-001",
        b"Internal error \x00\xff <script>",
        status=500,
        response_headers={"Content-Type": "text/plain"},
    )
    results = (
        Result(made_case("TMX-MKT-001"), Outcome.PASSED, "", (), (passed,), 0.5),
        Result(
            made_case("TMX-TND-001"),
            Outcome.FAILED,
            "refused <script>alert(1)</script> \x07",
            (),
            (failed,),
            1.25,
        ),
        Result(
            made_case("TMX-TND-002", required=False),
            Outcome.FAILED,
            "a recommendation",
            (),
            (),
            0.0,
        ),
        Result(
            made_case("TMX-TND-003"),
            Outcome.WARNING,
            "answered 400",
            ("answered 400; the TeMIX profile answers 422",),
            (),
            0.1,
        ),
        Result(made_case("TMX-OPT-001"), Outcome.NOT_APPLICABLE, "no options", (), (), 0.0),
        Result(made_case("TMX-OPT-002"), Outcome.MISSING_INPUT, "no third party", (), (), 0.0),
        Result(made_case("TMX-OPT-003"), Outcome.PREREQ_FAILED, "TMX-OPT-001", (), (), 0.0),
    )
    return RunReport(
        wsdl="http://endpoint.example/?wsdl",
        endpoint=None,
        party="rep",
        counterparty="customer",
        run_id="tmx-made",
        capabilities=Capabilities(),
        started=STARTED,
        ended=STARTED + timedelta(minutes=1),
        results=results,
        exchanges=(wsdl_fetch, passed, failed),
    )


def test_junit_of_every_outcome():
    root = etree.fromstring(junit_xml(made_report()))
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert list(suites) == ["MKT Market context", "TND Tenders", "OPT Options"]
    cases = {testcase.get("name").split(" ")[0]: testcase for testcase in root.iter("testcase")}
    assert cases["TMX-MKT-001"].find("failure") is None
    assert cases["TMX-MKT-001"].get("time") == "0.500"
    failure = cases["TMX-TND-001"].find("failure")
    assert failure.get("type") == "failed"
    assert failure.get("message").startswith("refused <script>alert(1)</script>")
    assert cases["TMX-TND-002"].find("failure").get("type") == "recommendation"
    warned = cases["TMX-TND-003"]
    assert warned.find("failure") is None and warned.find("skipped") is None
    assert "warning: answered 400; the TeMIX profile answers 422" in warned.findtext("system-out")
    assert [cases[id].find("skipped").get("message") for id in ("TMX-OPT-001", "TMX-OPT-002")] == [
        "notApplicable: no options",
        "missingInput: no third party",
    ]
    assert cases["TMX-OPT-003"].find("skipped").get("message") == "prereqFailed: TMX-OPT-001"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("7", "2", "3")
    assert suites["TND Tenders"].get("time") == "1.350"


def test_html_escapes_what_the_endpoint_sent():
    text = html_report(made_report())
    document = lxml.html.fromstring(text)
    assert document.xpath("//script") == []
    section = document.get_element_by_id("TMX-TND-001")
    assert "refused <script>alert(1)</script> \\x07" in section.text_content()
    assert "Internal error \\x00\ufffd <script>" in section.text_content()
    assert section.xpath("details/@open") == ["open"]
    passed = document.get_element_by_id("TMX-MKT-001").text_content()
    assert "<reply>\n  <code>200</code>\n</reply>" in passed
    assert "tmx-made" in document.findtext(".//title")


def test_readable_indents_xml_and_leaves_the_rest():
    assert readable(b"<a><b>x</b></a>") == "<a>\n  <b>x</b>\n</a>"
    assert readable(b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>').startswith("<!DOCTYPE")
    assert readable(b"not xml") == "not xml"
    assert readable(b"  ") == ""


def test_evidence_keeps_the_bytes_and_lists_every_file(tmp_path):
    report = made_report()
    files = write_evidence(report, tmp_path / "evidence")
    evidence = tmp_path / "evidence"
    assert (evidence / "setup" / "001-response.xml").read_bytes() == b"<definitions/>"
    assert not list((evidence / "setup").glob("001-request.*"))
    assert (evidence / "TMX-TND-001" / "003-response.txt").read_bytes() == (
        b"Internal error \x00\xff <script>"
    )
    assert (evidence / "TMX-TND-001" / "003-request.xml").read_bytes() == b"<a><b>request</b></a>"
    exchange = json.loads((evidence / "TMX-TND-001" / "003-exchange.json").read_text())
    assert exchange["status"] == 500 and exchange["response_file"] == "003-response.txt"
    assert exchange["started"] == "2026-11-23T15:00:03+00:00"
    results = json.loads((evidence / RESULTS).read_text())["results"]
    assert [result["outcome"] for result in results] == [
        str(result.outcome) for result in report.results
    ]
    assert results[1]["exchanges"] == [3]
    on_disk = sorted(path.relative_to(evidence) for path in evidence.rglob("*") if path.is_file())
    assert sorted(files) == on_disk
    lines = (evidence / CHECKSUMS).read_text().splitlines()
    checksummed = [line.split("  ", 1)[1] for line in lines]
    assert sorted(checksummed) == sorted(str(path) for path in on_disk if path.name != CHECKSUMS)
    assert verify_evidence(evidence) == []


def test_evidence_needs_an_empty_directory_and_safe_names(tmp_path):
    report = made_report()
    write_evidence(report, tmp_path / "first")
    with pytest.raises(EvidenceError, match="not an empty directory"):
        write_evidence(report, tmp_path / "first")
    stray = made_exchange(9, "../outside", b"<a/>")
    with pytest.raises(EvidenceError, match="cannot name an evidence directory"):
        write_evidence(RunReport(**{**report.__dict__, "exchanges": (stray,)}), tmp_path / "second")
    assert not (tmp_path / "second").exists()


def test_a_checksum_line_pointing_outside_is_a_problem(tmp_path):
    evidence = tmp_path / "evidence"
    write_evidence(made_report(), evidence)
    with (evidence / CHECKSUMS).open("a", encoding="utf-8") as checksums:
        checksums.write(f"{'0' * 64}  ../../etc/passwd\n")
    assert verify_evidence(evidence) == [
        f"{CHECKSUMS} line {len((evidence / CHECKSUMS).read_text().splitlines())}: "
        "../../etc/passwd is outside the directory"
    ]
