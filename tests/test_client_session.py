"""The shell session of docs/client.md and its JSON examples, replayed against ``temix serve``.

The blocks' ``$`` lines run in one bash process, in a directory holding the server's
``temix-data`` (its SQLite store and keys), so the operator commands of the page reach the same
store. The page was recorded with ``DAY=2026-12-08``; the replay runs tomorrow, and its output
is compared with the page's after the day is replaced. ``…`` on the page matches any text, and
in a JSON example any value.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from running_server import RunningServer, tomorrow
from temix.client.cli import client as client_group
from temix.keys import KeyAlgorithm, KeyDirectory
from temix.server.store import sqlite_url

PAGE = Path(__file__).resolve().parents[1] / "docs" / "client.md"
RECORDED_DAY = "2026-12-08"
PAGE_WSDL = "http://127.0.0.1:8080/?wsdl"
BLOCK = r"<!-- {}: replayed by [^>]*-->\n```console\n(.*?)```"
SESSION = re.compile(BLOCK.format("session"), re.DOTALL)
JSON_EXAMPLES = re.compile(BLOCK.format("json"), re.DOTALL)
SEPARATOR = "@@@ next command @@@"


def steps_of(pattern: re.Pattern[str]) -> list[tuple[str, list[str]]]:
    """The commands of the page's block (continuation lines joined) with the lines each
    prints."""
    (block,) = pattern.findall(PAGE.read_text())
    steps: list[tuple[str, list[str]]] = []
    continued = False
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif continued:
            command, shown = steps[-1]
            steps[-1] = (f"{command}\n{line}", shown)
        else:
            steps[-1][1].append(line)
        continued = line.endswith("\\")
    return steps


def temix_on_path() -> str:
    beside_python = Path(sys.executable).with_name("temix")
    script = str(beside_python) if beside_python.exists() else shutil.which("temix")
    assert script, "the temix console script is not installed (pip install -e .)"
    return f"{Path(script).parent}{os.pathsep}{os.environ['PATH']}"


def line_pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".+?".join(re.escape(part) for part in shown.split("…")) + r"\Z")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("client-session")
    keys = KeyDirectory(home / "temix-data" / "keys")
    keys.init(("rep", "customer", "generator", "wires"), KeyAlgorithm.ECDSA)
    running = RunningServer(
        sqlite_url(home / "temix-data"), home / "server.log", keys=keys, workers=1
    )
    yield home, running
    running.stop()


def matches(shown: object, printed: object) -> bool:
    """``printed`` JSON is ``shown``, where a shown ``"…"`` stands for any value."""
    if shown == "…":
        return True
    if isinstance(shown, dict) and isinstance(printed, dict):
        return shown.keys() == printed.keys() and all(
            matches(shown[key], printed[key]) for key in shown
        )
    if isinstance(shown, list) and isinstance(printed, list):
        return len(shown) == len(printed) and all(map(matches, shown, printed))
    return shown == printed


def test_the_shell_session_prints_what_the_page_shows(server):
    home, running = server
    steps = steps_of(SESSION)
    examples = steps_of(JSON_EXAMPLES)
    every = [*steps, *examples]
    commands = [command.replace(PAGE_WSDL, running.wsdl_url) for command, _ in every]
    script = "".join(f"echo '{SEPARATOR}'\n{command} 2>&1\n" for command in commands)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=home,
        env={**os.environ, "PATH": temix_on_path(), "COLUMNS": "4096"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    printed = done.stdout.split(f"{SEPARATOR}\n")[1:]
    assert len(printed) == len(every), done.stdout + done.stderr
    day = tomorrow().date().isoformat()
    for (command, shown), output in zip(steps, printed[: len(steps)], strict=True):
        lines = output.splitlines()
        expected = [line.replace(RECORDED_DAY, day) for line in shown]
        assert len(lines) == len(expected), f"$ {command}\n{output}"
        for line, wanted in zip(lines, expected, strict=True):
            assert line_pattern(wanted).match(line), (
                f"$ {command}\nprinted: {line}\nshown: {wanted}"
            )
    for (command, shown), output in zip(examples, printed[len(steps) :], strict=True):
        document = json.loads("\n".join(shown).replace(RECORDED_DAY, day))
        assert matches(document, json.loads(output)), f"$ {command}\n{output}"
    assert "Traceback" not in done.stdout


def test_every_command_has_a_json_example():
    shown = {command.split("\n")[0].split()[4] for command, _ in steps_of(JSON_EXAMPLES)}
    assert shown == set(client_group.commands)


def test_the_session_trades_every_product_and_reads_both_transport_nodes():
    commands = " ".join(command for command, _ in steps_of(SESSION))
    for needed in (
        "distribute-tender --group customers",
        "--strip evening.csv",
        "--point-of-receipt NODE-A --point-of-delivery NODE-B",
        "--call",
        "create-quote",
        "exercise CALL-1-X",
        "exercise FTR-1-X",
        "position --interface NODE-A",
        "position --interface NODE-B",
        "deliver",
        "settlement",
        "publication",
    ):
        assert needed in commands
