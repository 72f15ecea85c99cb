"""A soak run: several parties' signed traffic against ``temix serve`` while the server is
SIGKILLed and started again at random, then a check that nothing acknowledged was lost, nothing
was applied twice, and the ledger, the transactions and the positions agree.

    python tests/soak.py [--db URL] [--seconds S] [--kill-after MIN MAX] [--seed N] [--json FILE]

Sellers ``rep`` and ``generator`` offer ``customer`` tenders of 3 MW over one hour; ``customer``
accepts 1 MW of a random acknowledged one, again and again; a reader lists tenders and asks
for positions. Every party uses :class:`temix.client.Client`, which re-sends a request that got
no answer with the same request id (signed afresh), as a real client does across a server
restart. "Acknowledged" means the party got a 200 for it.

Afterwards, from the store and from the restarted server: every acknowledged tender and
transaction is stored (lost: 0); every tender's remaining rate is its rate less the stored
transactions that accepted it (doubled: 0); every acknowledged request has a ledger entry
answering it 200; and the parties' positions over the hour net to zero, the customer's being
the stored transactions' energy and cost. The exit status is 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import market
from running_server import RunningServer, key_directory, tomorrow
from temix.client import Client, ClientError, Refused, Signing
from temix.keys import KeyDirectory
from temix.model import Interval, Tender
from temix.server.store import sqlite_url

HOUR = Interval(tomorrow(14), timedelta(hours=1))
TENDERED = Decimal("3")
ACCEPTED = Decimal("1")
SELLERS = ("rep", "generator")
BUYER = "customer"
CLIENT_RETRIES = 8
CLIENT_RETRY_DELAY = 0.1


@dataclass
class Book:
    """What the parties were told, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tenders: dict[str, Tender] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)
    """Acknowledged transaction id -> the tender it accepted."""
    requests: list[str] = field(default_factory=list)
    """Request ids answered 200."""
    counts: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    """Refusals by response code."""
    gave_up: dict[str, None] = field(default_factory=dict)
    """Why the client gave up, each reason once."""


@dataclass(frozen=True)
class Figures:
    backend: str
    seconds: float
    kills: int
    requests: int
    acknowledged: int
    refused: int
    refused_by_code: dict[str, int]
    gave_up: int
    gave_up_samples: tuple[str, ...]
    tenders: int
    transactions: int
    lost: int
    doubled: int
    unledgered: int
    positions_reconcile: bool
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class Market:
    """The server, restarted on the same port and database after each kill."""

    def __init__(self, database_url: str, keys: KeyDirectory, log: Path) -> None:
        self.database_url = database_url
        self.keys = keys
        self.log = log
        self.port = _free_port()
        self.server = self._start()
        self.kills = 0

    def _start(self) -> RunningServer:
        return RunningServer(self.database_url, self.log, keys=self.keys, workers=2, port=self.port)

    def kill_and_restart(self) -> None:
        self.server.kill()
        self.kills += 1
        self.server = self._start()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _client(server: RunningServer, keys: KeyDirectory, party: str) -> Client:
    return Client(
        server.wsdl_url,
        party,
        Signing.from_keys(keys.path, party),
        retries=CLIENT_RETRIES,
        retry_delay=CLIENT_RETRY_DELAY,
    )


def _attempt(book: Book, request_id: str, call: Callable[[], object]) -> bool:
    """Run one request; whether it was acknowledged (answered 2xx: the client raises
    :class:`Refused` otherwise, and :class:`ClientError` when it gave up)."""
    with book.lock:
        book.counts["requests"] += 1
    try:
        call()
    except Refused as refused:
        outcome = "refused"
        with book.lock:
            book.refused[refused.response.code] += 1
    except ClientError as error:
        outcome = "gave_up"
        with book.lock:
            book.gave_up[f"{type(error).__name__}: {error}"[:300]] = None
    else:
        outcome = "acknowledged"
    with book.lock:
        book.counts[outcome] += 1
        if outcome == "acknowledged":
            book.requests.append(request_id)
    return outcome == "acknowledged"


def sell(client: Client, book: Book, stop: threading.Event, party: str) -> None:
    for number in range(1_000_000):
        if stop.is_set():
            return
        offered = market.tender(
            f"{party}-T{number}", quantity=str(TENDERED), interval=HOUR, expires=HOUR.start
        )
        request_id = f"{party}-c{number}"
        if _attempt(
            book, request_id, partial(client.create_tender, BUYER, offered, request_id=request_id)
        ):
            with book.lock:
                book.tenders[offered.tender_id] = offered


def buy(client: Client, book: Book, stop: threading.Event, rng: random.Random) -> None:
    for number in range(1_000_000):
        if stop.is_set():
            return
        with book.lock:
            offered = list(book.tenders.values())
        if not offered:
            time.sleep(0.05)
            continue
        tender = rng.choice(offered)
        seller = tender.tender_id.split("-T")[0]
        transaction_id, request_id = f"{BUYER}-X{number}", f"{BUYER}-a{number}"
        if _attempt(
            book,
            request_id,
            partial(
                client.accept,
                tender,
                seller,
                ACCEPTED,
                transaction_id=transaction_id,
                request_id=request_id,
            ),
        ):
            with book.lock:
                book.transactions[transaction_id] = tender.tender_id


def read(client: Client, book: Book, stop: threading.Event) -> None:
    for number in range(1_000_000):
        if stop.is_set():
            return
        request_id = f"{BUYER}-r{number}"
        if number % 2:
            _attempt(book, request_id, partial(client.request_tenders, request_id=request_id))
        else:
            _attempt(
                book,
                request_id,
                partial(
                    client.request_position,
                    market.MARKET,
                    market.NODE_A,
                    HOUR,
                    request_id=request_id,
                ),
            )


def run(
    database_url: str, directory: Path, seconds: float, kill_after: tuple[float, float], seed: int
) -> Figures:
    """The soak run against ``database_url`` (emptied by the caller); see the module docstring."""
    rng = random.Random(seed)
    keys = key_directory(directory / "keys")
    place = Market(database_url, keys, directory / "serve.log")
    book = Book()
    stop = threading.Event()
    clients = [_client(place.server, keys, party) for party in (*SELLERS, BUYER, BUYER)]
    workers = [
        threading.Thread(target=sell, args=(clients[0], book, stop, SELLERS[0])),
        threading.Thread(target=sell, args=(clients[1], book, stop, SELLERS[1])),
        threading.Thread(target=buy, args=(clients[2], book, stop, random.Random(seed + 1))),
        threading.Thread(target=read, args=(clients[3], book, stop)),
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        while time.monotonic() - started < seconds:
            time.sleep(rng.uniform(*kill_after))
            place.kill_and_restart()
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=120)
    elapsed = time.monotonic() - started
    try:
        return _judge(place, keys, book, elapsed, clients[2])
    finally:
        for client in clients:
            client.close()
        place.server.stop()


def _judge(place: Market, keys: KeyDirectory, book: Book, seconds: float, buyer: Client) -> Figures:
    problems: list[str] = []
    with place.server.reading() as unit:
        stored = {record.tender.tender_id: record for record in unit.tenders()}
        taken = {
            record.transaction.transaction_id: record.transaction
            for record in unit.transactions(party=BUYER)
        }
        answered = {
            entry.request_id
            for entry in unit.ledger()
            if entry.outcome == "200" and entry.request_id is not None
        }
    lost = sorted(set(book.tenders) - set(stored)) + sorted(set(book.transactions) - set(taken))
    if lost:
        problems.append(f"lost: {lost[:5]}")
    filled: Counter[str] = Counter()
    for transaction in taken.values():
        filled[transaction.tender_id or ""] += transaction.product.description.quantity
    doubled = [
        tender_id
        for tender_id, record in stored.items()
        if record.remaining != TENDERED - filled[tender_id]
    ]
    if doubled:
        problems.append(f"remaining rate not the rate less its transactions: {doubled[:5]}")
    unledgered = sorted(set(book.requests) - answered)
    if unledgered:
        problems.append(f"acknowledged but not in the ledger as 200: {unledgered[:5]}")
    reconciles = _positions_reconcile(place.server, keys, taken, problems)
    return Figures(
        backend=place.database_url.split(":", 1)[0],
        seconds=round(seconds, 1),
        kills=place.kills,
        requests=book.counts["requests"],
        acknowledged=book.counts["acknowledged"],
        refused=book.counts["refused"],
        refused_by_code=dict(book.refused),
        gave_up=book.counts["gave_up"],
        gave_up_samples=tuple(book.gave_up)[:5],
        tenders=len(stored),
        transactions=len(taken),
        lost=len(lost),
        doubled=len(doubled),
        unledgered=len(unledgered),
        positions_reconcile=reconciles,
        problems=tuple(problems),
    )


def _positions_reconcile(
    server: RunningServer, keys: KeyDirectory, taken: dict[str, Any], problems: list[str]
) -> bool:
    """The customer's position is minus its stored transactions; all parties' net to zero."""
    bought = sum((t.product.description.quantity for t in taken.values()), Decimal(0))
    cost = sum(
        (t.product.description.quantity * t.product.description.price for t in taken.values()),
        Decimal(0),
    )
    held = {}
    for party in (*SELLERS, BUYER):
        with _client(server, keys, party) as client:
            (held[party],) = client.request_position(market.MARKET, market.NODE_A, HOUR).positions
    ok = (held[BUYER].net_rate, held[BUYER].energy, held[BUYER].cost) == (-bought, -bought, -cost)
    for figure in ("net_rate", "energy", "cost"):
        ok = ok and sum(getattr(each, figure) for each in held.values()) == 0
    if not ok:
        problems.append(f"positions do not reconcile with {len(taken)} transactions: {held}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="database URL (emptied first is up to you); default SQLite")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--kill-after", type=float, nargs=2, default=(2.0, 6.0))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, metavar="FILE")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="temix-soak-") as scratch:
        directory = Path(scratch)
        url = arguments.db or sqlite_url(directory / "data")
        figures = run(
            url, directory, arguments.seconds, tuple(arguments.kill_after), arguments.seed
        )
    document = {**asdict(figures), "ok": figures.ok}
    print(json.dumps(document, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
