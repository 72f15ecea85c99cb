"""Four independent XSD engines give the example corpus the same verdicts.

lxml (libxml2 through Python), xmlschema (pure Python), xmllint (libxml2's command line) and the
JDK's ``javax.xml.validation`` (Xerces) each compile ``schemas/xsd/temix.xsd`` and validate
every file in ``schemas/examples``: each valid example must be valid in all four, each invalid
one invalid in all four. A schema that only one engine accepts (a Unique Particle Attribution
break, a dangling reference) fails here. xmllint and Java are required, not optional: CI
installs them (``apt-get install libxml2-utils default-jdk-headless``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from temix.schemas import DRIVER_XSD, EXAMPLES_INVALID, EXAMPLES_VALID

ENGINES = ("lxml", "xmlschema", "xmllint", "java")
INSTALL_HINT = "apt-get install libxml2-utils default-jdk-headless"
VALIDATE_ALL_JAVA = Path(__file__).parent / "java" / "ValidateAll.java"
SUBPROCESS_TIMEOUT = 600

VALID_EXAMPLES = sorted(EXAMPLES_VALID.glob("*.xml"))
INVALID_EXAMPLES = sorted(EXAMPLES_INVALID.glob("*.xml"))


@dataclass(frozen=True)
class Verdict:
    valid: bool
    message: str = ""


@dataclass(frozen=True)
class EngineRun:
    """One engine's compile result and verdict per example, and how long it all took."""

    compile_error: str | None
    verdicts: dict[Path, Verdict]
    seconds: float


def _schema_failed(error: str, files: list[Path]) -> dict[Path, Verdict]:
    return dict.fromkeys(files, Verdict(False, f"schema did not compile: {error}"))


def run_lxml(schema: Path, files: list[Path]) -> tuple[str | None, dict[Path, Verdict]]:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    try:
        xsd = etree.XMLSchema(etree.parse(str(schema), parser))
    except etree.XMLSchemaParseError as error:
        return str(error), _schema_failed(str(error), files)
    verdicts = {}
    for path in files:
        valid = xsd.validate(etree.parse(str(path), parser))
        verdicts[path] = Verdict(valid, "" if valid else str(xsd.error_log.last_error))
    return None, verdicts


def run_xmlschema(schema: Path, files: list[Path]) -> tuple[str | None, dict[Path, Verdict]]:
    try:
        xsd = xmlschema.XMLSchema10(str(schema), allow="local")
    except xmlschema.XMLSchemaException as error:
        return str(error), _schema_failed(str(error), files)
    verdicts = {}
    for path in files:
        error = next(xsd.iter_errors(xmlschema.XMLResource(str(path), allow="local")), None)
        verdicts[path] = Verdict(error is None, "" if error is None else error.reason or str(error))
    return None, verdicts


def _require(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        pytest.fail(f"{program} not found; the four-engine check needs it ({INSTALL_HINT})")
    return found


def run_xmllint(
    schema: Path, files: list[Path], probe: Path
) -> tuple[str | None, dict[Path, Verdict]]:
    """One xmllint process per file (its exit status is the verdict: 0 valid, 3 invalid, 5 the
    schema did not compile); the probe document shows whether the schema compiles at all."""
    xmllint = _require("xmllint")

    def validate(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [xmllint, "--noout", "--nonet", "--schema", str(schema), str(path)],
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
        )

    probe_run = validate(probe)
    if probe_run.returncode == 5:
        return probe_run.stderr.strip(), _schema_failed(probe_run.stderr.strip(), files)
    verdicts = {}
    for path in files:
        run = validate(path)
        verdicts[path] = Verdict(run.returncode == 0, run.stderr.strip())
    return None, verdicts


def run_java(
    schema: Path, files: list[Path], classes: Path
) -> tuple[str | None, dict[Path, Verdict]]:
    """All files in one JVM (tests/java/ValidateAll.java)."""
    run = subprocess.run(
        [_require("java"), "-cp", str(classes), "ValidateAll", str(schema), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    lines = [line.split("\t", 2) for line in run.stdout.splitlines()]
    if run.returncode == 2 and lines and lines[0][0] == "SCHEMA":
        return lines[0][2], _schema_failed(lines[0][2], files)
    if run.returncode != 0:
        pytest.fail(f"ValidateAll crashed (exit {run.returncode}):\n{run.stderr}")
    return None, {
        Path(fields[0]): Verdict(fields[1] == "valid", "\t".join(fields[2:])) for fields in lines
    }


@pytest.fixture(scope="session")
def validate_all_classes(tmp_path_factory) -> Path:
    """tests/java/ValidateAll.java compiled once per session."""
    classes = tmp_path_factory.mktemp("validate-all")
    subprocess.run(
        [_require("javac"), "-d", str(classes), str(VALIDATE_ALL_JAVA)],
        check=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    return classes


@pytest.fixture(scope="module")
def engine_runs(validate_all_classes, tmp_path_factory) -> dict[str, EngineRun]:
    probe = tmp_path_factory.mktemp("probe") / "probe.xml"
    probe.write_text("<probe/>")
    files = VALID_EXAMPLES + INVALID_EXAMPLES
    runners: dict[str, Callable[[], tuple[str | None, dict[Path, Verdict]]]] = {
        "lxml": lambda: run_lxml(DRIVER_XSD, files),
        "xmlschema": lambda: run_xmlschema(DRIVER_XSD, files),
        "xmllint": lambda: run_xmllint(DRIVER_XSD, files, probe),
        "java": lambda: run_java(DRIVER_XSD, files, validate_all_classes),
    }
    runs = {}
    for engine, runner in runners.items():
        started = time.perf_counter()
        compile_error, verdicts = runner()
        runs[engine] = EngineRun(compile_error, verdicts, time.perf_counter() - started)
    print(
        f"engines on {len(files)} examples: "
        + ", ".join(f"{engine} {run.seconds:.2f} s" for engine, run in runs.items())
    )
    return runs


def test_the_corpus_has_valid_and_invalid_examples():
    assert VALID_EXAMPLES, f"no valid examples in {EXAMPLES_VALID}"
    assert INVALID_EXAMPLES, f"no invalid examples in {EXAMPLES_INVALID}"


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_compiles_the_schema_set(engine, engine_runs):
    assert engine_runs[engine].compile_error is None, (
        f"{engine} cannot compile {DRIVER_XSD.name}: {engine_runs[engine].compile_error}"
    )


def _invalid_reason(path: Path) -> str:
    match = re.search(r"<!--\s*invalid:\s*(.*?)\s*-->", path.read_text(encoding="utf-8"), re.S)
    return match.group(1) if match else "(no '<!-- invalid: reason -->' comment)"


@pytest.mark.parametrize(
    ("path", "expected_valid"),
    [pytest.param(path, True, id=f"valid/{path.name}") for path in VALID_EXAMPLES]
    + [pytest.param(path, False, id=f"invalid/{path.name}") for path in INVALID_EXAMPLES],
)
def test_every_engine_gives_the_expected_verdict(path, expected_valid, engine_runs):
    """Valid in all four, or invalid in all four; the message says whether the engines
    disagree among themselves or agree against the corpus."""
    verdicts = {engine: run.verdicts[path] for engine, run in engine_runs.items()}
    if all(v.valid == expected_valid for v in verdicts.values()):
        return
    table = "\n".join(
        f"  {engine:9} {'valid' if v.valid else 'invalid'}  {v.message}"
        for engine, v in verdicts.items()
    )
    agreement = (
        "the engines disagree"
        if len({v.valid for v in verdicts.values()}) > 1
        else "all engines agree, against the corpus folder"
    )
    expectation = "valid" if expected_valid else f"invalid ({_invalid_reason(path)})"
    pytest.fail(f"{path.name}: expected {expectation}; {agreement}:\n{table}")
