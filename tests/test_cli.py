"""``temix validate``: exit codes 0/1/2, one line per result, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from running_server import RunningServer
from temix import __version__
from temix.cli import main
from temix.schemas import EXAMPLES_INVALID, EXAMPLES_VALID, XSD_DIR
from temix.server.store import sqlite_url

VALID = sorted(EXAMPLES_VALID.glob("*.xml"))
INVALID = sorted(EXAMPLES_INVALID.glob("*.xml"))
ENTITY_BOMB = b'<!DOCTYPE r [<!ENTITY v "hello">]><r>&v;</r>'


def run(*args: str | Path):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def soap11(payload_file: Path, tmp_path: Path) -> Path:
    payload = payload_file.read_text().split("?>", 1)[-1]
    envelope = tmp_path / f"soap-{payload_file.name}"
    envelope.write_text(
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soap:Body>{payload}</soap:Body></soap:Envelope>"
    )
    return envelope


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_valid_files_exit_0_with_one_line_each():
    result = run("validate", *VALID[:3])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{path}: valid" for path in VALID[:3]]
    assert result.stderr == ""


def test_quiet_prints_nothing_for_valid_files():
    result = run("validate", "--quiet", *VALID[:3])
    assert result.exit_code == 0
    assert result.output == ""


def test_soap_envelope_is_validated_by_its_payload(tmp_path):
    assert run("validate", soap11(VALID[0], tmp_path)).exit_code == 0
    result = run("validate", soap11(INVALID[0], tmp_path))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{tmp_path / ('soap-' + INVALID[0].name)}: /")


@pytest.mark.parametrize("example", INVALID, ids=lambda path: path.name)
def test_invalid_file_exits_1_with_file_path_and_reason(example):
    result = run("validate", example)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines
    for line in lines:
        file, path, reason = line.split(": ", 2)
        assert file == str(example)
        assert path.startswith("/")
        assert reason
    assert result.stderr == ""


def test_problem_line_names_the_element_with_project_prefixes():
    example = EXAMPLES_INVALID / "alphabetic-quantity.xml"
    result = run("validate", example)
    assert f"{example}: /pyld:eiCreateTender/ei:eiTender/emix:emixBase/" in result.stdout
    assert result.stdout.splitlines()[0].endswith(
        "/power:temixPower/emix:quantity: 'one' is not a valid value of the local atomic type."
    )


def test_doctype_is_refused_with_exit_2(tmp_path):
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(ENTITY_BOMB)
    result = run("validate", bomb)
    assert result.exit_code == 2
    assert result.stderr == f"{bomb}: a DOCTYPE (DTD) is not allowed\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"plain text", "not well-formed XML (line 1, column 1)"), (b"", "Document is empty")],
    ids=["text", "empty"],
)
def test_non_xml_exits_2(tmp_path, content, reason):
    file = tmp_path / "input.xml"
    file.write_bytes(content)
    result = run("validate", file)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{file}: ")
    assert reason in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_unreadable_file_exits_2(tmp_path):
    result = run("validate", tmp_path / "absent.xml", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'absent.xml'}: cannot read: No such file or directory",
        f"{tmp_path}: cannot read: Is a directory",
    ]


def test_every_file_is_reported_and_the_worst_status_wins(tmp_path):
    missing = tmp_path / "absent.xml"
    result = run("validate", VALID[0], INVALID[0], missing)
    assert result.exit_code == 2
    assert f"{VALID[0]}: valid" in result.stdout
    assert f"{INVALID[0]}: /" in result.stdout
    assert f"{missing}: cannot read" in result.stderr


def test_schemas_option_validates_against_another_bundle(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(XSD_DIR, bundle)
    assert run("validate", "--schemas", bundle, VALID[0]).exit_code == 0
    assert run("validate", "--schemas", bundle, INVALID[0]).exit_code == 1
    (bundle / "emix-temix.xsd").unlink()
    result = run("validate", "--schemas", bundle, VALID[0])
    assert result.exit_code == 2
    assert "emix-temix.xsd" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_bad_schemas_dir_exits_2(tmp_path):
    result = run("validate", "--schemas", tmp_path / "nowhere", VALID[0])
    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path / 'nowhere'}: not a directory\n"
    result = run("validate", "--schemas", tmp_path, VALID[0])
    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path}: holds no .xsd files\n"


def test_catalog_option(tmp_path):
    bundle = tmp_path / "local"
    shutil.copytree(XSD_DIR, bundle)
    catalog = tmp_path / "catalog.xml"
    catalog.write_text(
        '<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">'
        '<rewriteSystem systemIdStartString="http://schemas.invalid/" rewritePrefix="local/"/>'
        "</catalog>"
    )
    assert run("validate", "--catalog", catalog, VALID[0]).exit_code == 0
    assert run("validate", "--catalog", catalog, "--schemas", bundle, INVALID[0]).exit_code == 1
    result = run("validate", "--catalog", tmp_path / "absent.xml", VALID[0])
    assert result.exit_code == 2
    assert "no such catalog" in result.stderr


def test_explain_uses_the_xmlschema_engine():
    assert run("validate", "--explain", VALID[0]).exit_code == 0
    result = run("validate", "--explain", EXAMPLES_INVALID / "alphabetic-quantity.xml")
    assert result.exit_code == 1
    assert "/power:temixPower/emix:quantity: " in result.stdout


def test_console_script_in_a_real_process(tmp_path):
    """The installed ``temix`` script: a DOCTYPE bomb neither crashes it nor shows a traceback."""
    beside_python = Path(sys.executable).with_name("temix")
    script = str(beside_python) if beside_python.exists() else shutil.which("temix")
    assert script, "the temix console script is not installed (pip install -e .)"
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(ENTITY_BOMB)
    done = subprocess.run(
        [script, "validate", VALID[0], bomb, INVALID[0]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr == f"{bomb}: a DOCTYPE (DTD) is not allowed\n"
    assert f"{VALID[0]}: valid" in done.stdout
    assert f"{INVALID[0]}: /" in done.stdout
    valid_only = subprocess.run(
        [script, "validate", "--quiet", *VALID], capture_output=True, text=True, check=False
    )
    assert (valid_only.returncode, valid_only.stdout, valid_only.stderr) == (0, "", "")


@pytest.mark.parametrize(
    ("options", "migrations_shown"), [((), False), (("--log-level", "debug"), True)]
)
def test_serve_logs_the_migrations_only_when_asked(tmp_path, options, migrations_shown):
    log = tmp_path / "server.log"
    server = RunningServer(sqlite_url(tmp_path / "data"), log, workers=1, options=options)
    server.stop()
    text = log.read_text()
    assert "Booting worker" in text
    assert ("alembic.runtime.migration" in text) is migrations_shown
