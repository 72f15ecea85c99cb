"""Nothing acknowledged is lost: ``temix serve`` killed with SIGKILL in the middle of a stream
of acknowledged (signed) creates and accepts, then started again on the same database."""

from __future__ import annotations

import http.client
import threading
from pathlib import Path

from market import (
    acceptance,
    create_tender,
    create_transaction,
    tender,
)
from running_server import RunningServer, key_directory
from temix.server.store import Store

ACKNOWLEDGED_BEFORE_KILL = 40


def test_every_acknowledged_tender_and_transaction_survives_sigkill(
    database_url: str, tmp_path: Path
) -> None:
    keys = key_directory(tmp_path / "keys")
    server = RunningServer(database_url, tmp_path / "serve.log", keys=keys)

    def send(payload: object) -> object:
        answer = server.send(payload)
        assert answer.status == 200, answer.body
        return answer.payload()

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
                created = send(create_tender(f"c{number}", "rep", "customer", offered))
                if created.response.code == "200":
                    acknowledged_tenders.append(offered.tender_id)
                accept = acceptance(offered, f"TX-{number}", quantity="1")
                made = send(create_transaction(f"a{number}", "customer", "rep", accept))
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

    restarted = RunningServer(database_url, tmp_path / "serve.log", keys=keys)
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
