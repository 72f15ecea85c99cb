"""How position queries and tender listings behave as the store grows, and what storage and
server memory the stored tenders cost: ``temix serve`` over SQLite and PostgreSQL stores holding
10k, 100k and 1M transactions, on loopback.

    python tests/benchmarks/bench_scale.py [--backends sqlite postgresql]
        [--sizes 10000 100000 1000000] [--rounds R] [--requests K] [--customers C]
        [--standing S] [--postgres-url URL] [--json FILE] [--markdown FILE]

The store holds a market history, written in batches of :data:`BATCH` records per database
transaction through the store's writers: in one market context, one retail energy provider
(``rep``) sells to C customers at one load zone, and each day every customer buys one hourly
transaction per hour from it (24·C transactions a day), each the acceptance of a tender the REP
offered that customer the day before, now filled and past its expiry. The store grows by
history: the latest full day is yesterday (UTC) at every size, and each fill adds older days,
so a customer's day holds the same transactions at every size. S standing tenders (live,
unexpired, delivering the day after tomorrow) are offered by the REP to the whole market.

After each fill (10k, then on to 100k, then on to 1M), it records the database's size with no
connection open (SQLite: its file and WAL; PostgreSQL: ``pg_database_size``, after ``ANALYZE``,
as autovacuum would leave the planner's statistics; both with the ledger and replies the
earlier sizes' requests left), starts ``temix serve --insecure --workers 1`` on it and times,
with sequential requests from one client, each with a fresh request id, rotating over the
customers:

- ``position-24h``: a customer's EiRequestPosition for its latest full day as 24 hourly
  intervals;
- ``position-288``: the same day as 288 five-minute intervals;
- ``tenders``: a customer's EiRequestTender without filters, which must list the S standing
  tenders;
- ``rep-position``: the REP's position for one hour of that day, the sum of C transactions.

Every reply must carry eiResponse code 200 for its request id and the figures the generator
stored (each position's net rate, the standing tenders' ids). Per query: the median and p99
latency over R rounds of K requests after a warm-up, and the server's CPU per request. After
the queries, the server worker's resident memory (VmRSS) is read from /proc. It prints a
markdown section: a table per backend, the growth of each query's median from the smallest
size to the largest, the database and memory cost per 100k tenders, and whether the position
query's median stays under 20 ms; ``--json FILE`` writes the results and ``--markdown FILE``
the section. Exit status 1 if any request failed or answered wrong content. Linux only
(/proc).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy.engine import make_url

from temix import codec, rules
from temix import payloads as p
from temix.envelope import SOAP_1_1
from temix.keys import party_subject
from temix.model import (
    Interval,
    Location,
    MarketContext,
    PowerDescription,
    Product,
    Side,
    Tender,
    TransactionRecord,
    TransactiveState,
)
from temix.rules import WHOLE_MARKET_CONTEXT, TenderRecord
from temix.server.app import prepare
from temix.server.security import TRADER
from temix.server.store import PartyRecord, Store, Unit, sqlite_url
from temix.states import TenderStatus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_load import KEY_PLACEHOLDER, exchange, request_head
from bench_server import TEMIX_COMMAND, Server, machine_facts, publish, running
from databases import POSTGRES_URL_VARIABLE, empty_postgres
from market import SOAP_ACTIONS, envelope

BACKENDS = ("sqlite", "postgresql")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
DEFAULT_ROUNDS = 5
DEFAULT_REQUESTS = 20
DEFAULT_CUSTOMERS = 100
DEFAULT_STANDING = 50
WARMUP_REQUESTS = 5
"""Requests per query before the timed rounds (checked, not timed)."""
BATCH = 10_000
"""History records (a tender and its transaction) written per database transaction."""
POSITION_TARGET_MS = 20.0
PER_TENDERS = 100_000
"""The tender count storage and memory are given per."""
FAILURE_SAMPLES = 3

MARKET = MarketContext(
    uri="urn:temix:market:scale",
    name="temix scale benchmark market (MW, MWh, USD, UTC, 5-minute intervals)",
)
LOAD_ZONE = Location("LZ-SCALE")
REP = "rep"
PRICE = Decimal("42.5")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FIVE_MINUTES = timedelta(minutes=5)
OFFERED_BEFORE = timedelta(hours=12)
"""How long before its delivery day a history tender is offered and accepted (day-ahead)."""
OPEN_FOR = timedelta(hours=6)
"""How long a history tender was open before it expired."""
STANDING_FROM = 2 * DAY
"""When the standing tenders deliver (and expire), from the start of today."""
REP_HOUR = 12
"""The hour of the latest full day whose REP position is asked for."""

QUERIES = ("position-24h", "position-288", "tenders", "rep-position")
QUERY_LABELS = {
    "position-24h": "customer day, 24 x 1 h",
    "position-288": "customer day, 288 x 5 min",
    "tenders": "tender listing",
    "rep-position": "REP hour",
}


# --- The market history -------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """The generated market: record ``i`` of the history is customer ``i % C``'s purchase in
    hour ``i // C % 24`` of day ``i // (24 C)`` counted back from yesterday, ``today`` being
    the start of the UTC day the benchmark began."""

    customers: int
    standing: int
    today: datetime

    @property
    def per_day(self) -> int:
        return 24 * self.customers

    @property
    def latest_day(self) -> Interval:
        return Interval(self.today - DAY, DAY)

    def customer(self, index: int) -> str:
        return f"customer-{index:05d}"

    def quantity(self, index: int) -> Decimal:
        """Customer ``index``'s hourly rate: 1 to 9 kW, in MW."""
        return Decimal(index % 9 + 1).scaleb(-3)

    def rep_rate(self) -> Decimal:
        """The REP's net rate in any hour of a full day: it sells every customer's rate."""
        return sum((self.quantity(index) for index in range(self.customers)), Decimal(0))

    def standing_ids(self) -> list[str]:
        return [f"S-{number:05d}" for number in range(self.standing)]

    def standing_tenders(self) -> list[TenderRecord]:
        """The REP's live tenders to the whole market, one per hour from
        :data:`STANDING_FROM`, each expiring when its delivery starts."""
        records = []
        first = self.today + STANDING_FROM
        for number, tender_id in enumerate(self.standing_ids()):
            start = first + number * HOUR
            description = PowerDescription(LOAD_ZONE, PRICE, self.quantity(number))
            product = _offer(tender_id, Interval(start, HOUR), description, start)
            records.append(
                TenderRecord(
                    Tender(tender_id, product),
                    REP,
                    WHOLE_MARKET_CONTEXT,
                    product.description.quantity,
                    TenderStatus.LIVE,
                )
            )
        return records

    def days(
        self, start: int, stop: int
    ) -> Iterator[tuple[datetime, list[TenderRecord], list[TransactionRecord]]]:
        """History records ``start`` to ``stop`` (excluded) by delivery day: when that day's
        tenders were offered and accepted, the tenders (filled), their transactions."""
        descriptions = [
            PowerDescription(LOAD_ZONE, PRICE, self.quantity(index))
            for index in range(self.customers)
        ]
        audiences = [frozenset({self.customer(index)}) for index in range(self.customers)]
        index = start
        while index < stop:
            day, first = divmod(index, self.per_day)
            last = min(stop - day * self.per_day, self.per_day)
            delivery_day = self.today - (day + 1) * DAY
            offered_at = delivery_day - OFFERED_BEFORE
            expires = offered_at + OPEN_FOR
            hours = [Interval(delivery_day + hour * HOUR, HOUR) for hour in range(24)]
            tenders: list[TenderRecord] = []
            transactions: list[TransactionRecord] = []
            for position in range(first, last):
                hour, customer = divmod(position, self.customers)
                tender_id = f"T-{day:05d}-{hour:02d}-{customer:05d}"
                product = _offer(tender_id, hours[hour], descriptions[customer], expires)
                tender = Tender(tender_id, product)
                tenders.append(
                    TenderRecord(tender, REP, audiences[customer], Decimal(0), TenderStatus.FILLED)
                )
                bought = rules.acceptance(tender, product.description.quantity, f"X{tender_id}")
                transactions.append(
                    TransactionRecord(bought, buyer=self.customer(customer), seller=REP)
                )
            yield offered_at, tenders, transactions
            index = day * self.per_day + last


def _offer(
    uid: str, interval: Interval, description: PowerDescription, expires: datetime
) -> Product:
    """The REP's sell offer of ``description`` over ``interval``, open until ``expires``."""
    return Product(
        uid=uid,
        interval=interval,
        description=description,
        state=TransactiveState.TENDER,
        side=Side.SELL,
        market_context=MARKET.uri,
        expires=expires,
    )


def add_history(unit: Unit, history: History, start: int, stop: int) -> None:
    for offered_at, tenders, transactions in history.days(start, stop):
        unit.add_tenders(tenders, offered_at)
        unit.add_transactions(transactions, offered_at)


def set_up(store: Store, history: History, now: datetime) -> None:
    """What the server needs and the market's standing offers: the store migrated, the market
    context and the parties registered (as ``temix market add`` and ``temix party add`` do),
    the standing tenders stored."""
    prepare(store)
    with store.transaction() as unit:
        unit.put_market_context(MARKET, now)
        for party in [REP, *map(history.customer, range(history.customers))]:
            unit.put_party(
                PartyRecord(party, frozenset({TRADER}), subject=party_subject(party)), now
            )
        unit.add_tenders(history.standing_tenders(), now)


def fill(store: Store, history: History, start: int, stop: int) -> None:
    """Store history records ``start`` to ``stop``, :data:`BATCH` per database transaction."""
    for first in range(start, stop, BATCH):
        with store.transaction() as unit:
            add_history(unit, history, first, min(stop, first + BATCH))


# --- The queries --------------------------------------------------------------------------------

Check = Callable[[Any], str | None]
"""What is wrong with a decoded reply payload, or None."""


@dataclass(frozen=True)
class Query:
    """A query's requests, rotated: envelope bodies with :data:`KEY_PLACEHOLDER` for the
    request id, each with the check of its reply."""

    soap_action: str
    requests: tuple[tuple[bytes, Check], ...]


def _positions_check(intervals: Sequence[Interval], net_rate: Decimal) -> Check:
    def check(reply: Any) -> str | None:
        if not isinstance(reply, p.ReplyPosition):
            return f"a {type(reply).__name__}, not a position reply"
        if len(reply.positions) != len(intervals):
            return f"{len(reply.positions)} positions, not {len(intervals)}"
        for position, interval in zip(reply.positions, intervals, strict=True):
            if position.interval != interval or position.net_rate != net_rate:
                return (
                    f"position {position.interval.start:%H:%M} has net rate {position.net_rate}, "
                    f"not {net_rate}"
                )
        return None

    return check


def _tenders_check(expected: Sequence[str]) -> Check:
    def check(reply: Any) -> str | None:
        if not isinstance(reply, p.ReplyTender):
            return f"a {type(reply).__name__}, not a tender reply"
        listed = sorted(tender.tender_id for tender in reply.tenders)
        if listed != sorted(expected):
            return f"{len(listed)} tenders listed, not the {len(expected)} standing ones"
        return None

    return check


def _query(payloads_and_checks: Sequence[tuple[Any, Check]]) -> Query:
    tag = codec.PAYLOAD_ELEMENTS[type(payloads_and_checks[0][0])]
    return Query(
        SOAP_ACTIONS[tag][SOAP_1_1],
        tuple((envelope(payload), check) for payload, check in payloads_and_checks),
    )


def queries(history: History) -> dict[str, Query]:
    key = KEY_PLACEHOLDER.decode()
    day = history.latest_day
    hours = day.split(HOUR)
    five_minutes = day.split(FIVE_MINUTES)
    customers = range(history.customers)

    def position(party: str, intervals: Sequence[Interval]) -> p.RequestPosition:
        return p.RequestPosition(key, party, party, MARKET.uri, LOAD_ZONE, tuple(intervals))

    def customer_day(intervals: Sequence[Interval]) -> list[tuple[Any, Check]]:
        return [
            (
                position(history.customer(index), intervals),
                _positions_check(intervals, -history.quantity(index)),
            )
            for index in customers
        ]

    listing = _tenders_check(history.standing_ids())
    rep_hour = (hours[REP_HOUR],)
    return {
        "position-24h": _query(customer_day(hours)),
        "position-288": _query(customer_day(five_minutes)),
        "tenders": _query(
            [
                (p.RequestTender(key, history.customer(index), history.customer(index)), listing)
                for index in customers
            ]
        ),
        "rep-position": _query(
            [(position(REP, rep_hour), _positions_check(rep_hour, history.rep_rate()))]
        ),
    }


def reply_problem(reply: bytes, request_id: str, check: Check) -> tuple[str | None, Any]:
    """What is wrong with ``reply`` to request ``request_id``, and its decoded payload."""
    try:
        payload = codec.decode(etree.fromstring(reply)[-1][0])
    except (etree.XMLSyntaxError, codec.DecodeError, IndexError) as error:
        return f"unreadable reply: {error}", None
    answer = payload.response
    if answer.code != "200":
        return f"eiResponse code {answer.code}: {answer.description}", payload
    if answer.ref_id != request_id:
        return f"the reply is for request {answer.ref_id}, not {request_id}", payload
    return check(payload), payload


def _items(reply: p.ReplyPosition | p.ReplyTender) -> tuple[Any, ...]:
    return reply.positions if isinstance(reply, p.ReplyPosition) else reply.tenders


def _percentile(samples: Sequence[float], percent: int) -> float | None:
    if len(samples) < 2:
        return None
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1]


def _milliseconds(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def time_query(server: Server, query: Query, rounds: int, requests: int) -> dict[str, Any]:
    """``query`` sent sequentially: :data:`WARMUP_REQUESTS`, then ``rounds`` of ``requests``
    timed; each reply checked."""
    latencies: list[float] = []
    round_medians: list[float] = []
    failures = 0
    samples: list[str] = []
    returned: list[int] = []
    sent = 0

    def send() -> float | None:
        nonlocal sent, failures
        template, check = query.requests[sent % len(query.requests)]
        sent += 1
        request_id = f"R-{uuid.uuid4().hex}"
        body = template.replace(KEY_PLACEHOLDER, request_id.encode())
        head = request_head(server.port, query.soap_action, len(body))
        started = time.perf_counter()
        try:
            status, reply = exchange(server.port, head + body)
        except (OSError, ValueError, IndexError) as error:
            status, reply = 0, f"{type(error).__name__}: {error}".encode()
        elapsed = time.perf_counter() - started
        if status == 200:
            problem, payload = reply_problem(reply, request_id, check)
        else:
            problem, payload = f"HTTP {status}: {reply[:200]!r}", None
        if isinstance(payload, p.ReplyPosition | p.ReplyTender):
            returned.append(len(_items(payload)))
        if problem is None:
            return elapsed
        failures += 1
        if problem not in samples and len(samples) < FAILURE_SAMPLES:
            samples.append(problem)
        return None

    for _ in range(WARMUP_REQUESTS):
        send()
    cpu_before = server.cpu_seconds()
    for _ in range(rounds):
        timed = [elapsed for _ in range(requests) if (elapsed := send()) is not None]
        latencies += timed
        if timed:
            round_medians.append(statistics.median(timed))
    cpu_after = server.cpu_seconds()
    server_cpu = None
    if cpu_before is not None and cpu_after is not None and latencies:
        server_cpu = (cpu_after[0] - cpu_before[0]) / (rounds * requests)
    return {
        "requests": len(latencies),
        "p50_ms": _milliseconds(statistics.median(latencies) if latencies else None),
        "p99_ms": _milliseconds(_percentile(latencies, 99)),
        "round_p50_ms": [_milliseconds(median) for median in round_medians],
        "server_cpu_ms_per_request": _milliseconds(server_cpu),
        "items_returned": min(returned) if returned else None,
        "failures": failures,
        "failure_samples": samples,
    }


# --- Storage and memory -------------------------------------------------------------------------


def worker_memory(server: Server) -> dict[str, int | None]:
    """Resident and peak resident bytes (VmRSS, VmHWM) of the server's workers, together."""
    master = server.process.pid
    try:
        workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return {"rss": None, "peak_rss": None}
    totals = {"VmRSS": 0, "VmHWM": 0}
    for worker in workers:
        try:
            status = Path(f"/proc/{worker}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            name, _, value = line.partition(":")
            if name in totals:
                totals[name] += int(value.split()[0]) * 1024
    return {"rss": totals["VmRSS"] or None, "peak_rss": totals["VmHWM"] or None}


def database_bytes(url: str) -> int:
    """The size of the store at ``url`` while no one uses it: SQLite's file and its WAL (the
    last connection to close checkpoints it), or PostgreSQL's database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        files = (Path(parsed.database), Path(f"{parsed.database}-wal"))
        return sum(file.stat().st_size for file in files if file.exists())
    store = Store.open(url)
    try:
        with store.engine.connect() as connection:
            size = connection.exec_driver_sql("SELECT pg_database_size(current_database())")
            return int(size.scalar_one())
    finally:
        store.close()


def analyze(store: Store) -> None:
    """PostgreSQL: refresh the planner's statistics after a bulk fill."""
    if store.engine.url.get_backend_name() == "postgresql":
        with store.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


def database_version(store: Store) -> str:
    """The database's name and version, e.g. ``SQLite 3.40.1``."""
    if store.engine.url.get_backend_name() == "sqlite":
        name, statement = "SQLite", "SELECT sqlite_version()"
    else:
        name, statement = "PostgreSQL", "SHOW server_version"
    with store.engine.connect() as connection:
        return f"{name} {connection.exec_driver_sql(statement).scalar_one()}"


def _per_tenders(value: int | None, tenders: int) -> int | None:
    return None if value is None or tenders == 0 else round(value * PER_TENDERS / tenders)


# --- Measurement --------------------------------------------------------------------------------


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_backend(
    backend: str,
    url: str,
    history: History,
    sizes: Sequence[int],
    rounds: int,
    requests: int,
    scratch: Path,
) -> dict[str, Any]:
    """Fill ``url``'s store size after size and measure each: a row per size."""
    store = Store.open(url)
    set_up(store, history, datetime.now(UTC).replace(microsecond=0))
    version = database_version(store)
    store.close()
    load = queries(history)
    rows: list[dict[str, Any]] = []
    stored = 0
    generation_total = 0.0
    for size in sizes:
        _progress(f"{backend}: storing transactions {stored:,} to {size:,}")
        store = Store.open(url)
        started = time.monotonic()
        fill(store, history, stored, size)
        generation = time.monotonic() - started
        generation_total += generation
        analyze(store)
        store.close()
        size_bytes = database_bytes(url)
        added = size - stored
        stored = size
        tenders = size + history.standing
        _progress(f"{backend}: {size:,} transactions stored in {generation:.1f} s; querying")
        command = [*TEMIX_COMMAND, "--insecure", "--port", "0", "--workers", "1", "--db", url]
        with running(command, scratch / f"serve-{backend}-{size}.log") as server:
            results = {
                name: time_query(server, query, rounds, requests) for name, query in load.items()
            }
            memory = worker_memory(server)
        rows.append(
            {
                "transactions": size,
                "tenders": tenders,
                "days": round(size / history.per_day, 2),
                "generation_seconds": round(generation, 2),
                "generation_total_seconds": round(generation_total, 2),
                "records_per_second": round(added / generation) if generation > 0 else None,
                "db_bytes": size_bytes,
                "db_bytes_per_100k_tenders": _per_tenders(size_bytes, tenders),
                "server_rss_bytes": memory["rss"],
                "server_peak_rss_bytes": memory["peak_rss"],
                "server_rss_bytes_per_100k_tenders": _per_tenders(memory["rss"], tenders),
                "queries": results,
            }
        )
    return {
        "url": make_url(url).render_as_string(hide_password=True),
        "version": version,
        "sizes": rows,
        **summary(rows),
    }


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """From the smallest size to the largest: each query's growth of the median, and the
    database and server memory each 100k tenders added cost; the 20 ms verdict at the
    largest."""
    first, last = rows[0], rows[-1]
    added = last["tenders"] - first["tenders"]

    def marginal(key: str) -> int | None:
        if added <= 0 or first[key] is None or last[key] is None:
            return None
        return round((last[key] - first[key]) * PER_TENDERS / added)

    position = last["queries"]["position-24h"]["p50_ms"]
    return {
        "growth": {
            "from_transactions": first["transactions"],
            "to_transactions": last["transactions"],
            "transactions_factor": _ratio(last["transactions"], first["transactions"]),
            "median_factor": {
                name: _ratio(last["queries"][name]["p50_ms"], first["queries"][name]["p50_ms"])
                for name in QUERIES
            },
            "db_bytes_per_100k_tenders_added": marginal("db_bytes"),
            "server_rss_bytes_per_100k_tenders_added": marginal("server_rss_bytes"),
        },
        "verdict": {
            "query": "position-24h",
            "transactions": last["transactions"],
            "p50_ms": position,
            "target_ms": POSITION_TARGET_MS,
            "under_target": position is not None and position < POSITION_TARGET_MS,
        },
    }


def _failed(backends: dict[str, Any]) -> bool:
    return any(
        query["failures"] or not query["requests"]
        for result in backends.values()
        for row in result["sizes"]
        for query in row["queries"].values()
    )


def measure(
    backends: Sequence[str],
    sizes: Sequence[int],
    *,
    rounds: int,
    requests: int,
    customers: int,
    standing: int,
    postgres_url: str | None,
    scratch: Path,
) -> dict[str, Any]:
    """Fill and measure each backend at each of ``sizes`` (increasing, each at least one full
    day of 24 ``customers`` transactions); the PostgreSQL database at ``postgres_url`` is
    emptied first. The results are JSON-serialisable."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    history = History(customers, standing, today)
    facts = machine_facts()
    measured: dict[str, Any] = {}
    for backend in backends:
        if backend == "sqlite":
            url = sqlite_url(scratch / "sqlite")
        elif postgres_url is None:
            raise ValueError("the postgresql backend needs a database URL")
        else:
            url = empty_postgres(postgres_url)
        measured[backend] = measure_backend(backend, url, history, sizes, rounds, requests, scratch)
    facts["load_average_at_end"] = round(os.getloadavg()[0], 2)
    return {
        "machine": facts,
        "settings": {
            "backends": list(backends),
            "sizes": list(sizes),
            "rounds": rounds,
            "requests": requests,
            "warmup_requests": WARMUP_REQUESTS,
            "customers": customers,
            "standing": standing,
            "batch": BATCH,
        },
        "history": {
            "market_context": MARKET.uri,
            "interface": LOAD_ZONE.id,
            "rep": REP,
            "transactions_per_day": history.per_day,
            "latest_full_day": history.latest_day.start.date().isoformat(),
            "standing_tenders_deliver_from": (today + STANDING_FROM).isoformat(),
            "rep_hour": REP_HOUR,
            "rep_net_rate": str(history.rep_rate()),
        },
        "backends": measured,
        "failed": _failed(measured),
    }


# --- Report -------------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _megabytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:,.1f}"


def _latencies(query: dict[str, Any]) -> str:
    cell = f"{_number(query['p50_ms'])} / {_number(query['p99_ms'])}"
    return f"{cell} (FAILED {query['failures']})" if query["failures"] else cell


def _table(rows: list[dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    labels = dict(QUERY_LABELS)
    labels["tenders"] += f" ({settings['standing']})"
    labels["rep-position"] += f" ({settings['customers']} transactions)"
    head = [
        "transactions",
        "tenders",
        "days",
        "added in s",
        "DB MB",
        "DB MB per 100k tenders",
        "server RSS MB",
        *(f"{labels[name]}: p50 / p99 ms" for name in QUERIES),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for row in rows:
        cells = [
            f"{row['transactions']:,}",
            f"{row['tenders']:,}",
            _number(row["days"]),
            _number(row["generation_seconds"]),
            _megabytes(row["db_bytes"]),
            _megabytes(row["db_bytes_per_100k_tenders"]),
            _megabytes(row["server_rss_bytes"]),
            *(_latencies(row["queries"][name]) for name in QUERIES),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _backend_section(result: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    rows = result["sizes"]
    growth, verdict = result["growth"], result["verdict"]
    last = rows[-1]
    lines = [f"### {result['version']}", "", *_table(rows, settings), ""]
    lines.append(
        f"Generated {last['transactions']:,} transactions and their tenders in "
        f"{last['generation_total_seconds']:,.0f} s "
        f"({_number(last['transactions'] / max(last['generation_total_seconds'], 1e-9))} "
        "transactions a second, each with its tender)."
    )
    factors = ", ".join(
        f"{QUERY_LABELS[query]} x{_number(factor)}"
        for query, factor in growth["median_factor"].items()
    )
    lines.append(
        f"Growth of the median from {growth['from_transactions']:,} to "
        f"{growth['to_transactions']:,} transactions (flat is x1, linear "
        f"x{_number(growth['transactions_factor'])}): {factors}."
    )
    lines.append(
        f"Each 100k tenders added (with their transactions) cost "
        f"{_megabytes(growth['db_bytes_per_100k_tenders_added'])} MB of database and "
        f"{_megabytes(growth['server_rss_bytes_per_100k_tenders_added'])} MB of server worker "
        "memory."
    )
    under = "under" if verdict["under_target"] else "NOT under"
    lines.append(
        f"Verdict: a customer's day position (24 hourly intervals) has a median of "
        f"{_number(verdict['p50_ms'])} ms at {verdict['transactions']:,} transactions, {under} "
        f"{verdict['target_ms']:g} ms."
    )
    for size in rows:
        for query, figures in size["queries"].items():
            if figures["failures"]:
                lines.append(
                    f"FAILED {query} at {size['transactions']:,}: {figures['failures']} "
                    "requests, e.g. " + "; ".join(figures["failure_samples"])
                )
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    """The results as a markdown section: what was generated, a table per backend with a row
    per size, the growth factors, the cost per 100k tenders and the 20 ms verdict."""
    settings, history, facts = results["settings"], results["history"], results["machine"]
    customers = settings["customers"]
    lines = [
        "## Scale: position queries and tender listings over a growing store",
        "",
        f"Generated history: one REP selling to {customers:,} customers at one load zone in "
        f"`{history['market_context']}`, each customer buying one hourly transaction per hour "
        f"({history['transactions_per_day']:,} transactions a day), each the acceptance of a "
        "REP tender now filled and expired; the latest full day is "
        f"{history['latest_full_day']} at every size, and the store grows by older days. Plus "
        f"{settings['standing']:,} standing tenders offered to the whole market.",
        "",
        f"Measured against `temix serve --insecure --workers 1` on loopback: one client, "
        f"sequential requests, {settings['warmup_requests']} warm-up requests then "
        f"{settings['rounds']} rounds of {settings['requests']} per query, each checked "
        "(eiResponse 200, the stored figures); medians and p99 in ms. Server RSS: the worker "
        "after the queries. Machine: "
        f"{facts['cores']} cores, {facts['cpu']}, {facts['python']}; load average "
        f"{facts['load_average_at_start']} at start, {facts['load_average_at_end']} at end.",
        "",
    ]
    for result in results["backends"].values():
        lines += _backend_section(result, settings)
    lines.append(
        "Result: "
        + ("FAILED" if results["failed"] else "every request answered 200 with the right content")
    )
    return "\n".join(lines) + "\n"


# --- Command line -------------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Position queries and tender listings of temix serve over a growing store."
    )
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="transactions stored"
    )
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="timed rounds")
    parser.add_argument(
        "--requests", type=int, default=DEFAULT_REQUESTS, help="requests per round and query"
    )
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument(
        "--standing", type=int, default=DEFAULT_STANDING, help="standing whole-market tenders"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_URL_VARIABLE),
        help=f"the PostgreSQL database to empty and use (default: ${POSTGRES_URL_VARIABLE})",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results here")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the section here")
    arguments = parser.parse_args(argv)
    arguments.backends = list(dict.fromkeys(arguments.backends))
    if arguments.customers < 1 or arguments.standing < 0:
        parser.error("--customers must be at least 1 and --standing 0 or more")
    if arguments.rounds < 1 or arguments.requests < 1 or arguments.rounds * arguments.requests < 2:
        parser.error("--rounds and --requests must be at least 1, and make 2 requests or more")
    day = 24 * arguments.customers
    if arguments.sizes != sorted(set(arguments.sizes)) or arguments.sizes[0] < day:
        parser.error(
            f"--sizes must increase, from at least one full day ({day} transactions with "
            f"{arguments.customers} customers)"
        )
    if "postgresql" in arguments.backends and not arguments.postgres_url:
        parser.error(
            f"the postgresql backend needs a database: give --postgres-url or set "
            f"{POSTGRES_URL_VARIABLE} (or measure --backends sqlite only)"
        )
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    with tempfile.TemporaryDirectory(prefix="temix-scale-") as scratch:
        results = measure(
            arguments.backends,
            arguments.sizes,
            rounds=arguments.rounds,
            requests=arguments.requests,
            customers=arguments.customers,
            standing=arguments.standing,
            postgres_url=arguments.postgres_url,
            scratch=Path(scratch),
        )
    return publish(markdown(results), results, arguments)


if __name__ == "__main__":
    sys.exit(main())
