"""The production deployment of docs/server.md, run as written there."""

import os
import re
import shlex
import signal
import socket
import subprocess
from pathlib import Path

from click.testing import CliRunner

from running_server import READY_TIMEOUT, WSDL_LINE
from temix.cli import main
from temix.client.demo.launcher import TEMIX, first_line

SERVER_DOC = Path(__file__).parents[1] / "docs" / "server.md"
IDLE_CONNECTIONS = 100


def deployment_commands(root: Path) -> list[list[str]]:
    """The commands of the doc's "A production deployment" block, with ``root`` for
    /srv/temix, 127.0.0.1 for the host and its name, and a free port."""
    section = SERVER_DOC.read_text().split("## A production deployment", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "docs/server.md has no deployment commands"
    lines = block.group(1).replace("\\\n", " ").splitlines()
    commands = []
    for line in filter(None, map(str.strip, lines)):
        line = line.replace("/srv/temix", str(root)).replace("market.example.com", "127.0.0.1")
        line = line.replace("--host 0.0.0.0", "--host 127.0.0.1").replace("--port 8443", "--port 0")
        command = shlex.split(line)
        assert command[0] == "temix", line
        commands.append([*TEMIX, *command[1:]])
    return commands


def test_the_documented_deployment_answers_mutual_tls_beside_idle_connections(tmp_path):
    keys_init, serve = deployment_commands(tmp_path)
    subprocess.run(keys_init, check=True, capture_output=True, timeout=60)
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    idle: list[socket.socket] = []
    try:
        line = first_line(server, READY_TIMEOUT)
        ready = WSDL_LINE.match(line)
        log = (tmp_path / "serve.log").read_text()
        assert ready is not None and ready.group(1) == b"https", log
        port = int(ready.group(2))
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE_CONNECTIONS)]
        keys = tmp_path / "keys"
        answered = CliRunner().invoke(
            main,
            [
                *("client", "--wsdl", line.decode().split()[1], "--keys", str(keys)),
                *("--party", "customer", "--tls-ca", str(keys / "ca.pem")),
                *("--tls-cert", str(keys / "parties" / "customer.pem")),
                *("--tls-key", str(keys / "parties" / "customer.key")),
                "market-contexts",
            ],
        )
        assert answered.exit_code == 0, answered.output
        assert "urn:temix:market:development" in answered.stdout
    finally:
        for connection in idle:
            connection.close()
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=60) == 0
