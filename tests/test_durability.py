"""Nothing acknowledged is lost: ``temix serve`` killed with SIGKILL in the middle of a stream
of acknowledged creates and accepts, then started again on the same database."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from lxml import etree

from market import (
    SOAP_ACTIONS,
    acceptance,
    create_tender,
    create_transaction,
    envelope,
    tender,
)
from temix import codec
from temix.server.soap import SOAP_1_1
from temix.server.store import Store

WSDL_LINE = re.compile(rb"WSDL http://127\.0\.0\.1:(\d+)/\?wsdl")
READY_TIMEOUT = 30.0
ACKNOWLEDGED_BEFORE_KILL = 40


class Server:
    """``temix serve`` on a free port in its own process group."""

    def __init__(self, database_url: str, log: Path) -> None:
        command = [
            sys.executable,
            "-c",
            "from temix.cli import main; main()",
            "serve",
            "--port",
            "0",
            "--workers",
            "2",
            "--db",
            database_url,
        ]
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True
        )
        self.port = self._wait_ready()

    def _wait_ready(self) -> int:
        found: list[int] = []

        def read() -> None:
            line = self.process.stdout.readline()
            match = WSDL_LINE.match(line)
            if match:
                found.append(int(match.group(1)))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(READY_TIMEOUT)
        assert found, "temix serve did not print its WSDL line"
        return found[0]

    def send(self, payload: object) -> object:
        tag = codec.PAYLOAD_ELEMENTS[type(payload)]
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(
                "POST",
                "/",
                envelope(payload),
                {
                    "Content-Type": SOAP_1_1.content_type,
                    "SOAPAction": f'"{SOAP_ACTIONS[tag][SOAP_1_1]}"',
                },
            )
            reply = connection.getresponse()
            body = reply.read()
        finally:
            connection.close()
        assert reply.status == 200, body
        return codec.decode(etree.fromstring(body)[-1][0])

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0
        self.log.close()


def test_every_acknowledged_tender_and_transaction_survives_sigkill(
    database_url: str, tmp_path: Path
) -> None:
    server = Server(database_url, tmp_path / "serve.log")
    acknowledged_tenders: list[str] = []
    acknowledged_transactions: list[str] = []
    enough = threading.Event()
    stopped = threading.Event()

    def stream() -> None:
        number = 0
        while True:
            number += 1
            offered = tender(f"T-{number}", quantity="2")
            try:
                created = server.send(create_tender(f"c{number}", "rep", "customer", offered))
                if created.response.code == "200":
                    acknowledged_tenders.append(offered.tender_id)
                accept = acceptance(offered, f"TX-{number}", quantity="1")
                made = server.send(create_transaction(f"a{number}", "customer", "rep", accept))
                if made.response.code == "200":
                    acknowledged_transactions.append(f"TX-{number}")
            except (OSError, http.client.HTTPException, AssertionError):
                break
            if len(acknowledged_transactions) >= ACKNOWLEDGED_BEFORE_KILL:
                enough.set()
        stopped.set()

    streamer = threading.Thread(target=stream, daemon=True)
    streamer.start()
    assert enough.wait(120), "the server acknowledged too few requests"
    server.kill()
    assert stopped.wait(30)

    restarted = Server(database_url, tmp_path / "serve.log")
    restarted.stop()
    store = Store.open(database_url)
    with store.transaction(write=False) as unit:
        stored_tenders = {record.tender.tender_id for record in unit.tenders()}
        stored_transactions = {
            record.transaction.transaction_id for record in unit.transactions(party="rep")
        }
        remaining = {record.tender.tender_id: record.remaining for record in unit.tenders()}
    store.close()
    assert set(acknowledged_tenders) <= stored_tenders
    assert set(acknowledged_transactions) <= stored_transactions
    for transaction_id in acknowledged_transactions:
        assert remaining[transaction_id.replace("TX-", "T-")] == 1
