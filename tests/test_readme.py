"""CI runs the README's test command, verbatim, and fails when pytest runs no test."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from lxml import etree

import pki
from bindings import soap_post
from market import TestMarket
from temix.server.store import sqlite_url

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CI_RUN = REPO / ".ci" / "run"
ACTIONS = "http://docs.oasis-open.org/ns/energyinterop/201110/wsdl"


def readme_test_command() -> str:
    (line,) = [line for line in README.read_text().splitlines() if "python -m pytest" in line]
    return line.strip()


def test_ci_runs_the_readme_test_command_verbatim():
    command = readme_test_command()
    assert command.startswith("pip install -e '.[test]' && ")
    assert command in [line.strip() for line in CI_RUN.read_text().splitlines()]


def test_ci_script_is_strict_bash_and_executable():
    text = CI_RUN.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(CI_RUN, os.X_OK)


@pytest.mark.parametrize(("pytest_status", "ci_status"), [(0, 0), (1, 1), (5, 1)])
def test_ci_status_follows_the_test_command_and_no_tests_is_a_failure(
    tmp_path, pytest_status, ci_status
):
    """The script's own status handling, with the installs left out and the test command
    replaced by one that exits with pytest's status."""
    lines = CI_RUN.read_text().splitlines()
    tail = lines[lines.index("set +e") :]
    tail[tail.index(readme_test_command())] = f"(exit {pytest_status})"
    script = tmp_path / "run"
    script.write_text("\n".join(["set -euo pipefail", *tail]) + "\n")
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == ci_status
    assert ("no tests" in done.stderr) == (pytest_status == 5)


def test_quick_start_example_glob_matches_files():
    assert "temix validate schemas/examples/valid/*.xml" in README.read_text()
    assert sorted((REPO / "schemas" / "examples" / "valid").glob("*.xml"))


FIRST_EXCHANGE = re.compile(r"^send (\w+) ([\w-]+\.xml) (\w+) +# (\w+), (.*)$", re.MULTILINE)


def test_the_first_exchange_gives_what_the_readme_says(tmp_path):
    """Each ``send`` line of the first exchange, signed by the party it names and sent
    through the signed server in-process: the reply element and the figures its comment
    names."""
    steps = FIRST_EXCHANGE.findall(README.read_text())
    assert [operation for operation, *_ in steps] == [
        "EiCreateTender",
        "EiCreateTransaction",
        "EiRequestPosition",
    ]
    market = TestMarket(sqlite_url(tmp_path / "data"), "native")
    for party in {party for _, _, party, _, _ in steps}:
        market.register(party)
    for operation, file, party, reply_element, claims in steps:
        body = (REPO / "docs" / "first-exchange" / file).read_bytes()
        signed = pki.sign(body, pki.party_credentials(party), market.clock())
        reply = soap_post(market.app, signed, action=f"{ACTIONS}/{operation}")
        market.check_reply(reply)
        assert reply.status == 200
        payload = etree.fromstring(reply.body)[-1][0]
        assert etree.QName(payload).localname == reply_element
        text = {etree.QName(node).localname: node.text for node in payload.iter()}
        for claim in claims.split(", "):
            name, value = claim.rsplit(" ", 1)
            assert text[name] == value, (file, name)
    market.close()
