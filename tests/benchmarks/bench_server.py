"""Throughput and latency of ``temix serve`` over HTTP on loopback: four operations, unsigned and
signed, with each worker count, on SQLite and on PostgreSQL, next to the plain lxml echo on the
same gunicorn host and the in-process crypto floor.

    python tests/benchmarks/bench_server.py [--seconds S] [--warmup S] [--rounds N]
        [--clients C] [--workers 1 2] [--backends sqlite postgresql] [--postgres-url URL]
        [--operations ...] [--signings ...] [--crypto-rounds N] [--wrk]
        [--json FILE] [--markdown FILE]

First it measures the crypto floor of ``bench_crypto.py`` (verifying a signed EiCreateTender and
signing its reply, in-process) with the RSA-2048 and ECDSA P-256 key directories the signed
servers use. Then, for each worker count, it measures the echo (``bench_echo.py``) and, for each
backend and signing, one ``temix serve`` on a fresh store (a new SQLite file, or the PostgreSQL
database of ``--postgres-url``, default ``$TEMIX_TEST_POSTGRES_URL``, emptied), all under the
same gunicorn host, with the client processes of ``bench_load.py``, SOAP 1.1. A signed server
(``--keys DIR``, parties ``rep`` and ``customer``) verifies each request and signs each reply;
an unsigned one runs ``--insecure``. Each server first gets, through requests of its own, 20
standing tenders from ``rep`` to ``customer`` and 24 transactions of ``customer``, one per hour
of a day; then it measures, the reads first (so they see only that):

- ``request-tenders``: EiRequestTender by ``customer``, answered with the 20 standing tenders;
- ``request-position``: EiRequestPosition by ``customer`` over that day as 24 hourly intervals;
- ``create``: EiCreateTender by ``rep``, a new tender and request id per request;
- ``accept``: EiCreateTransaction by ``customer`` accepting a tender of its own, one that
  ``rep`` created before the window (uncounted, a hundred tenders per request).

Signed workloads are named ``OPERATION-signed-rsa`` and ``OPERATION-signed-ecdsa``. Their
requests are signed before the window (so the clients, on the same cores, do not pay for it
while it runs), each with its own ids, by the party that sends it, in as many processes as there
are usable cores. Those, and the accepts, come from a pool made for each round, sized from the
rates measured before, and used up within the Timestamps' 300 seconds. Before its first window,
one request's reply from each signed server is verified against the server's certificate.

Every figure is the median over ``--rounds`` windows (each after its warm-up) of the requests
per second and of the p50 and p99 latencies; the JSON keeps each round's. Every counted reply
must be HTTP 200 (and, from temix, carry eiResponse code 200, and list the 20 tenders or the 24
positions); failures are counted and reported, and make the exit status 1. It prints a markdown
report: the machine, a table per backend, the ratios (unsigned create / echo, signed create /
crypto floor on one core, the most workers / the fewest for every workload, each next to its
target; signed / unsigned for every operation) and the crypto floor; ``--json FILE`` and
``--markdown FILE`` write the results and the report. Linux only (fork, /proc).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import queue
import re
import select
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cryptography import x509
from lxml import etree
from sqlalchemy import create_engine

from temix import payloads as p
from temix.codec import PAYLOAD_ELEMENTS
from temix.envelope import SOAP_1_1
from temix.keys import Credentials, KeyDirectory, fingerprint
from temix.model import Interval
from temix.wssecurity import Freshness, SecurityError, verify_envelope

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pki
from bench_crypto import (
    ALGORITHM_LABELS,
    ALGORITHMS,
    DELIVERY,
    create_tender_request,
    crypto_floor,
    floor_row,
    key_directories,
    offered_tender,
)
from bench_crypto import DEFAULT_ROUNDS as CRYPTO_ROUNDS
from bench_load import (
    FAILURE_SAMPLES,
    KEY_PLACEHOLDER,
    MAX_CLIENTS,
    START_DELAY,
    LoadResult,
    ReplyCheck,
    Workload,
    drive,
    exchange,
    request_head,
    status_problem,
)
from databases import POSTGRES_URL_VARIABLE, empty_postgres
from market import (
    MARKET,
    NODE_A,
    SOAP_ACTIONS,
    acceptance,
    create_tender,
    create_transaction,
    envelope,
    tender,
)

BENCHMARKS_DIR = Path(__file__).resolve().parent
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SIGNING_TIMEOUT = 600.0
LOG_ERROR = re.compile(
    r"^(?:\w[\w.]*(?:Error|Exception)\b.*|.*(?: ERROR |\[ERROR\]).*)$", re.MULTILINE
)
WSDL_LINE = re.compile(rb"WSDL http://127\.0\.0\.1:(\d+)/\?wsdl")
EI_RESPONSE_CODE = re.compile(rb"eiResponse>\s*<(?:[\w.-]+:)?responseCode>\s*(\d+)")
TEMIX_COMMAND = [sys.executable, "-c", "from temix.cli import main; main()", "serve"]
UNLIMITED_PARTIES = ("--max-standing-tenders", "1000000000", "--max-offered-to-one", "1000000000")
"""The measured servers' per-party limits, out of reach: the create workload has ``rep`` offer
``customer`` hundreds of tenders a second, past the default 2,000 one party may offer another,
and a refusal would be measured instead of the work."""
ECHO_COMMAND = [sys.executable, str(BENCHMARKS_DIR / "bench_echo.py")]
DEFAULT_SECONDS = 4.0
DEFAULT_WARMUP = 1.0
DEFAULT_ROUNDS = 3
DEFAULT_CLIENTS = 3
BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
UNSIGNED = "unsigned"
SIGNINGS = (UNSIGNED, *ALGORITHMS)
STANDING_TENDERS = 20
POSITION_DAY = datetime.combine(DELIVERY.start.date() + timedelta(days=1), datetime.min.time(), UTC)
POSITION_HOURS = tuple(
    Interval(POSITION_DAY + timedelta(hours=hour), timedelta(hours=1)) for hour in range(24)
)
"""The day ``request-position`` asks about, hour by hour; ``customer`` bought each hour."""
TENDERS_PER_REQUEST = 100
"""Tenders per EiCreateTender that creates those the accepts take."""
POOL_MARGIN = 3.0
"""A pool holds this many times the requests the expected rate needs for the warm-up and the
window. The rate expected is the fastest round so far of the same workload on the same backend
with as many workers or, before its first round, of a workload no slower: the same operation
unsigned (for a signed one), the unsigned create (for the unsigned accept). Failing those, it is
what the server's cores can verify and sign at the crypto floor (for a signed one), else the
echo's rate, else :data:`FALLBACK_RATE`."""
FALLBACK_RATE = 1000.0
FRESHNESS_LIMIT = Freshness().max_age.total_seconds()
"""How old a signed request's Timestamp may be when the server checks it (its default)."""
FRESHNESS_SLACK = 30.0
"""Seconds a pre-signed pool must stay fresh beyond the end of its window."""
TARGETS = {"create / echo": 0.6, "signed create / crypto floor": 0.8, "scaling": 1.5}


# --- Operations and workloads -------------------------------------------------------------------


def _after_declaration(document: bytes) -> bytes:
    return document.partition(b"?>")[2].strip() if document.startswith(b"<?xml") else document


def echoed(request: bytes, reply: bytes) -> str | None:
    """The echo must hold the request's document (its XML declaration may be written
    differently)."""
    if _after_declaration(reply) == _after_declaration(request):
        return None
    return "the echo differs from the request"


def answered_ok(request: bytes, reply: bytes) -> str | None:
    found = EI_RESPONSE_CODE.search(reply)
    if found is None:
        return "no eiResponse in the reply"
    code = found.group(1).decode()
    return None if code == "200" else f"eiResponse code {code}"


def listing(element: str, count: int) -> ReplyCheck:
    """A reply check: eiResponse code 200 and ``count`` elements named ``element``."""
    pattern = re.compile(rb"<(?:[\w.-]+:)?" + element.encode() + rb"[\s>]")

    def check(request: bytes, reply: bytes) -> str | None:
        problem = answered_ok(request, reply)
        found = len(pattern.findall(reply))
        if problem is None and found != count:
            problem = f"{found} {element} elements in the reply, not {count}"
        return problem

    return check


def _soap_action(payload: Any) -> str:
    return SOAP_ACTIONS[PAYLOAD_ELEMENTS[type(payload)]][SOAP_1_1]


def _accept_request(key: str) -> p.CreateTransaction:
    offered = offered_tender(key)
    return create_transaction(f"A-{key}", "customer", "rep", acceptance(offered, f"X-{key}"))


def _tenders_request(key: str) -> p.RequestTender:
    return p.RequestTender(f"Q-{key}", "customer", "customer")


def _position_request(key: str) -> p.RequestPosition:
    return p.RequestPosition(f"Q-{key}", "customer", "customer", MARKET, NODE_A, POSITION_HOURS)


@dataclass(frozen=True)
class Operation:
    """A request the benchmark sends: ``request(key)`` for each key (which makes its ids
    unique), sent and signed by ``party``, its reply checked by ``check``."""

    name: str
    party: str
    request: Callable[[str], Any]
    check: ReplyCheck
    key_prefix: str
    reads: bool = False
    """It changes nothing, and expects the store to hold only :func:`market_state`."""
    takes_tender: bool = False
    """Each request accepts the tender of its key, which must be created before it."""

    @cached_property
    def template(self) -> bytes:
        """The unsigned request envelope, with :data:`KEY_PLACEHOLDER` for its key."""
        return envelope(self.request(KEY_PLACEHOLDER.decode()))

    @cached_property
    def soap_action(self) -> str:
        return _soap_action(self.request(KEY_PLACEHOLDER.decode()))

    def body(self, key: str) -> bytes:
        return self.template.replace(KEY_PLACEHOLDER, key.encode())


OPERATIONS = {
    operation.name: operation
    for operation in (
        Operation("create", "rep", create_tender_request, answered_ok, "c"),
        Operation("accept", "customer", _accept_request, answered_ok, "a", takes_tender=True),
        Operation(
            "request-tenders",
            "customer",
            _tenders_request,
            listing("tenderID", STANDING_TENDERS),
            "t",
            reads=True,
        ),
        Operation(
            "request-position",
            "customer",
            _position_request,
            listing("position", len(POSITION_HOURS)),
            "q",
            reads=True,
        ),
    )
}
"""The operations measured, in the order of the report."""


@dataclass(frozen=True)
class Spec:
    """One workload of the matrix: an operation, unsigned or signed with one key algorithm."""

    operation: str
    signing: str

    @property
    def name(self) -> str:
        return (
            self.operation
            if self.signing == UNSIGNED
            else f"{self.operation}-signed-{self.signing}"
        )

    @property
    def signed(self) -> bool:
        return self.signing != UNSIGNED

    @property
    def pooled(self) -> bool:
        """Its requests are made before each window: signed, or taking tenders made first."""
        return self.signed or OPERATIONS[self.operation].takes_tender

    @property
    def no_slower(self) -> str:
        """A workload at least as fast, to size this one's first pool by: the same operation
        unsigned, or for an unsigned one (the accept) the unsigned create."""
        return self.operation if self.signed else "create"


def echo_workload() -> Workload:
    """The unsigned create's request, parsed and echoed."""
    create = OPERATIONS["create"]
    return Workload("echo", create.soap_action, create.template, echoed, "e")


def market_state() -> list[tuple[str, Any]]:
    """What each server is given before its measurements, as (sender, request): the standing
    tenders ``rep`` offers ``customer``, and ``customer``'s purchase of each hour of
    :data:`POSITION_HOURS`."""
    standing = [offered_tender(f"S-{number:02d}") for number in range(STANDING_TENDERS)]
    hourly = [tender(f"H-{hour:02d}", interval=span) for hour, span in enumerate(POSITION_HOURS)]
    purchases = [acceptance(offered, f"X-{offered.tender_id}") for offered in hourly]
    return [
        ("rep", create_tender("R-standing", "rep", "customer", *standing, *hourly)),
        ("customer", create_transaction("A-standing", "customer", "rep", *purchases)),
    ]


def tender_batches(keys: list[str]) -> list[bytes]:
    """EiCreateTender envelopes by ``rep`` offering ``customer`` the tender of each key,
    :data:`TENDERS_PER_REQUEST` at most in each."""
    return [
        envelope(
            create_tender(
                f"R-{keys[start]}",
                "rep",
                "customer",
                *map(offered_tender, keys[start : start + TENDERS_PER_REQUEST]),
            )
        )
        for start in range(0, len(keys), TENDERS_PER_REQUEST)
    ]


def sign_all(bodies: list[bytes], credentials: Credentials, signed_at: datetime) -> list[bytes]:
    """``bodies`` signed with ``credentials`` at ``signed_at``, shared out between forked
    processes, one per usable core."""
    shares = min(len(os.sched_getaffinity(0)), len(bodies))
    if shares < 2:
        return [pki.sign(body, credentials, signed_at) for body in bodies]
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()

    def sign_share(share: int) -> None:
        try:
            signed = [pki.sign(body, credentials, signed_at) for body in bodies[share::shares]]
            results.put((share, signed))
        except Exception as error:
            results.put((share, f"{type(error).__name__}: {error}"))

    processes = [context.Process(target=sign_share, args=(share,)) for share in range(shares)]
    for process in processes:
        process.start()
    signed: list[bytes] = [b""] * len(bodies)
    try:
        for _ in processes:
            share, part = results.get(timeout=SIGNING_TIMEOUT)
            if isinstance(part, str):
                raise RuntimeError(f"signing failed: {part}")
            signed[share::shares] = part
    except queue.Empty:
        raise RuntimeError("a signing process gave no result") from None
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    return signed


def reply_signature_problem(
    port: int, soap_action: str, body: bytes, server_certificate: x509.Certificate
) -> str | None:
    """Send ``body``: what is wrong with the reply, or None when it is a 200 with eiResponse
    code 200 whose signature verifies (``verify_envelope``) with ``server_certificate`` in its
    token."""
    expected = fingerprint(server_certificate)

    def pinned(certificate: x509.Certificate) -> str:
        if fingerprint(certificate) != expected:
            raise SecurityError(f"signed by sha256:{fingerprint(certificate)}, not the server")
        return expected

    try:
        status, reply = exchange(port, request_head(port, soap_action, len(body)) + body)
        problem = status_problem(status, reply) if status != 200 else answered_ok(body, reply)
        if problem is None:
            verify_envelope(etree.fromstring(reply), pinned, datetime.now(UTC))
    except (OSError, ValueError, IndexError) as error:
        problem = f"{type(error).__name__}: {error}"
    except SecurityError as error:
        problem = f"the signature does not hold: {error.cause}"
    return None if problem is None else f"the signed reply check failed: {problem}"


# --- Servers ------------------------------------------------------------------------------------


class Server:
    """A server command in its own session, ready once it printed its WSDL line."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log
        with log.open("ab") as stderr:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True
            )
        self.port = self._wait_ready()

    def _wait_ready(self) -> int:
        readable, _, _ = select.select([self.process.stdout], [], [], READY_TIMEOUT)
        line = self.process.stdout.readline() if readable else b""
        announced = WSDL_LINE.match(line)
        if announced is None:
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the server did not start: {line!r}\n{tail}")
        return int(announced.group(1))

    def cpu_seconds(self) -> tuple[float, float] | None:
        """CPU seconds used so far by the server and its live workers, and by the whole
        machine (None without /proc)."""
        server = process_tree_cpu_seconds(self.process.pid)
        machine = machine_busy_seconds()
        return None if server is None or machine is None else (server, machine)

    def send(self, soap_action: str, body: bytes, check: ReplyCheck) -> str | None:
        """What is wrong with the reply to ``body``, or None."""
        try:
            head = request_head(self.port, soap_action, len(body))
            status, reply = exchange(self.port, head + body)
        except (OSError, ValueError, IndexError) as error:
            return f"{type(error).__name__}: {error}"
        return status_problem(status, reply) if status != 200 else check(body, reply)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process.stdout.close()


@contextmanager
def running(command: list[str], log: Path) -> Iterator[Server]:
    server = Server(command, log)
    try:
        yield server
    finally:
        server.stop()


def log_errors(log: Path) -> list[str]:
    """The last distinct error lines of a server's log: exceptions and ERROR records."""
    found = LOG_ERROR.findall(log.read_text(errors="replace"))
    return list(dict.fromkeys(line.strip() for line in found))[-FAILURE_SAMPLES:]


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy (stolen by the hypervisor included), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu_seconds(root: int) -> float | None:
    """User and system CPU seconds of ``root`` and its descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, int] = {}
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except FileNotFoundError:
        return None
    for entry in entries:
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = int(fields[11]) + int(fields[12])
    tree = {root}
    grown = True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    return sum(used.get(pid, 0) for pid in tree) / ticks


# --- Measurements -------------------------------------------------------------------------------

MEDIAN_FIELDS = (
    "requests_per_second",
    "p50_ms",
    "p99_ms",
    "client_cpu_us_per_request",
    "server_cpu_us_per_request",
    "server_cores_busy",
    "other_cores_busy",
)
"""The fields of a row that are the median of its rounds' (the rounds that have one)."""


def failed_round(problem: str, pool: dict[str, Any] | None = None) -> dict[str, Any]:
    """A round that could not be measured."""
    return {
        "seconds": 0.0,
        "requests": 0,
        "failures": 1,
        "failure_samples": [problem],
        **dict.fromkeys(MEDIAN_FIELDS),
        "pool": pool,
    }


def measured_round(result: LoadResult, pool: dict[str, Any] | None = None) -> dict[str, Any]:
    """A round's figures, from the load generator's result."""
    p50, p99 = (result.latency_percentile(percent) for percent in (50, 99))
    samples = list(result.failure_samples)
    if result.ran_out:
        samples.append("a client used up its pool of requests before the window ended")
    server_cpu, machine_cpu = result.probe_increase or (None, None)
    elapsed = result.elapsed_seconds
    other_cores = None
    if server_cpu is not None:
        other_cpu = machine_cpu - server_cpu - result.client_cpu_seconds
        other_cores = round(max(0.0, other_cpu) / elapsed, 2)
    return {
        "seconds": round(elapsed, 3),
        "requests": result.completed,
        "requests_per_second": round(result.requests_per_second, 1),
        "p50_ms": None if p50 is None else round(p50 * 1000, 3),
        "p99_ms": None if p99 is None else round(p99 * 1000, 3),
        "failures": result.failures + result.ran_out,
        "failure_samples": samples,
        "client_cpu_us_per_request": _per_request(result.client_cpu_seconds, result.completed),
        "server_cpu_us_per_request": _per_request(server_cpu, result.completed),
        "server_cores_busy": None if server_cpu is None else round(server_cpu / elapsed, 2),
        "other_cores_busy": other_cores,
        "pool": pool,
    }


def _per_request(cpu_seconds: float | None, requests: int) -> float | None:
    if cpu_seconds is None or requests == 0:
        return None
    return round(cpu_seconds / requests * 1e6, 1)


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return round(statistics.median(known), 3) if known else None


def row(
    backend: str | None,
    workload: str,
    workers: int,
    clients: int,
    rounds: list[dict[str, Any]],
    *,
    operation: str = "echo",
    signing: str = UNSIGNED,
    generator: str = "python",
    body_bytes: int | None = None,
) -> dict[str, Any]:
    """A measurement as it goes into the tables and the JSON: the medians of ``rounds``, their
    sums of requests and failures, and the rounds themselves."""
    samples = dict.fromkeys(sample for entry in rounds for sample in entry["failure_samples"])
    return {
        "backend": backend,
        "workload": workload,
        "operation": operation,
        "signing": signing,
        "workers": workers,
        "clients": clients,
        "generator": generator,
        "body_bytes": body_bytes,
        "requests": sum(entry["requests"] for entry in rounds),
        "failures": sum(entry["failures"] for entry in rounds),
        "failure_samples": list(samples)[:FAILURE_SAMPLES],
        **{field: _median([entry[field] for entry in rounds]) for field in MEDIAN_FIELDS},
        "rounds": rounds,
    }


@dataclass
class Target:
    """A ``temix serve`` being measured, and the key directory its clients sign with (None
    when it is unsigned)."""

    server: Server
    backend: str
    workers: int
    keys: KeyDirectory | None

    def signed(self, party: str, bodies: list[bytes], signed_at: datetime) -> list[bytes]:
        """``bodies`` as ``party`` sends them: signed at ``signed_at`` if the server is."""
        if self.keys is None:
            return bodies
        return sign_all(bodies, self.keys.party(party), signed_at)

    def reply_signature(self) -> str:
        """ "verified" if the server's reply to a signed read (which changes nothing) is signed
        by its certificate, else what is wrong."""
        assert self.keys is not None
        read = OPERATIONS["request-tenders"]
        body = self.signed(read.party, [read.body("V-reply")], datetime.now(UTC))[0]
        certificate = self.keys.server().certificate
        problem = reply_signature_problem(self.server.port, read.soap_action, body, certificate)
        return problem or "verified"

    def prepare(self) -> str | None:
        """Give the server :func:`market_state`: what went wrong, or None."""
        now = datetime.now(UTC)
        for party, request in market_state():
            body = self.signed(party, [envelope(request)], now)[0]
            problem = self.server.send(_soap_action(request), body, answered_ok)
            if problem is not None:
                return f"giving the server its standing tenders and transactions: {problem}"
        return None


class Matrix:
    """The measurements of one run, made in turn, with the rates measured so far (by
    backend, None for the echo, worker count and workload) to size the pools by."""

    def __init__(
        self,
        arguments: argparse.Namespace,
        scratch: Path,
        keys: dict[str, KeyDirectory],
        floor: dict[str, Any],
    ) -> None:
        self.arguments = arguments
        self.scratch = scratch
        self.keys = keys
        self.floor = floor
        self.rows: list[dict[str, Any]] = []
        self.servers: list[dict[str, Any]] = []
        self.rates: dict[tuple[str | None, int, str], list[float]] = defaultdict(list)

    def _drive(self, server: Server, workload: Workload) -> LoadResult:
        arguments = self.arguments
        return drive(
            server.port,
            workload,
            clients=arguments.clients,
            warmup=arguments.warmup,
            seconds=arguments.seconds,
            probe=server.cpu_seconds,
        )

    def _round(
        self, backend: str | None, workers: int, workload: str, entry: dict[str, Any]
    ) -> dict[str, Any]:
        """``entry``, a round of ``workload``, whose rate is remembered if it is faultless."""
        if not entry["failures"]:
            self.rates[backend, workers, workload].append(entry["requests_per_second"])
        return entry

    def _rounds_row(self, backend: str | None, workers: int, workload: str, **fields: Any) -> None:
        rounds = fields.pop("rounds")
        self.rows.append(row(backend, workload, workers, self.arguments.clients, rounds, **fields))

    def echo(self, workers: int) -> None:
        command = [*ECHO_COMMAND, "--port", "0", "--workers", str(workers)]
        workload = echo_workload()
        with running(command, self.scratch / f"echo-{workers}.log") as server:
            rounds = [
                self._round(None, workers, "echo", measured_round(self._drive(server, workload)))
                for _ in range(self.arguments.rounds)
            ]
            self._rounds_row(None, workers, "echo", rounds=rounds, body_bytes=len(workload.body))
            if self.arguments.wrk:
                self.rows.append(
                    run_wrk(server.port, workload, workers, self.arguments, self.scratch)
                )

    def server(self, backend: str, workers: int, signing: str) -> None:
        """Start ``temix serve`` on a fresh store, prepare it, and measure each operation."""
        specs = [Spec(operation, signing) for operation in self.arguments.operations]
        specs.sort(key=lambda spec: not OPERATIONS[spec.operation].reads)
        name = f"{backend}-{signing}-{workers}"
        keys = None if signing == UNSIGNED else self.keys[signing]
        command = [
            *TEMIX_COMMAND,
            *("--port", "0", "--workers", str(workers), "--db", self._fresh_store(backend, name)),
            *(("--insecure",) if keys is None else ("--keys", str(keys.path))),
            *UNLIMITED_PARTIES,
        ]
        facts: dict[str, Any] = {"backend": backend, "workers": workers, "signing": signing}
        self.servers.append(facts)
        measured_before = len(self.rows)
        started = time.monotonic()
        try:
            server = Server(command, self.scratch / f"{name}.log")
        except RuntimeError as error:
            facts["prepared"] = str(error).splitlines()[0]
            for spec in specs:
                self._failed(backend, workers, spec, facts["prepared"])
            return
        try:
            facts["start_seconds"] = round(time.monotonic() - started, 2)
            target = Target(server, backend, workers, keys)
            problem = None
            if keys is not None:
                facts["reply_signature"] = target.reply_signature()
                if facts["reply_signature"] != "verified":
                    problem = facts["reply_signature"]
            problem = problem or target.prepare()
            facts["prepared"] = problem or "ok"
            for spec in specs:
                if problem is not None:
                    self._failed(backend, workers, spec, problem)
                    continue
                try:
                    self.measure(target, spec)
                except RuntimeError as error:
                    self._failed(backend, workers, spec, str(error))
        finally:
            server.stop()
            if any(entry["failures"] for entry in self.rows[measured_before:]):
                facts["log_errors"] = log_errors(server.log)

    def _fresh_store(self, backend: str, name: str) -> str:
        if backend == "postgresql":
            return empty_postgres(self.arguments.postgres_url)
        data_dir = self.scratch / name
        data_dir.mkdir()
        return f"sqlite:///{data_dir}/temix.sqlite3"

    def _failed(self, backend: str, workers: int, spec: Spec, problem: str) -> None:
        self._rounds_row(
            backend,
            workers,
            spec.name,
            rounds=[failed_round(problem)],
            operation=spec.operation,
            signing=spec.signing,
        )

    def measure(self, target: Target, spec: Spec) -> None:
        """The rounds of ``spec`` on ``target``."""
        operation = OPERATIONS[spec.operation]
        rounds = []
        body_bytes = len(operation.template)
        for number in range(1, self.arguments.rounds + 1):
            prefix = f"{operation.key_prefix}{number}"
            if spec.pooled:
                entry = self._pooled_round(target, spec, prefix)
                body_bytes = entry["pool"]["body_bytes"]
            else:
                workload = Workload(
                    spec.name, operation.soap_action, operation.template, operation.check, prefix
                )
                entry = measured_round(self._drive(target.server, workload))
            rounds.append(self._round(target.backend, target.workers, spec.name, entry))
        self._rounds_row(
            target.backend,
            target.workers,
            spec.name,
            rounds=rounds,
            operation=spec.operation,
            signing=spec.signing,
            body_bytes=body_bytes,
        )

    def expected_rate(self, backend: str, workers: int, spec: Spec) -> float:
        """The fastest rate measured of ``spec`` or of a workload no slower, else a bound."""
        for name in (spec.name, spec.no_slower):
            measured = self.rates.get((backend, workers, name))
            if measured:
                return max(measured)
        if spec.signed:
            cores = min(workers, len(os.sched_getaffinity(0)))
            return cores * floor_row(self.floor, spec.signing)["requests_per_second"]
        return max(self.rates.get((None, workers, "echo")) or [FALLBACK_RATE])

    def pool_size(self, backend: str, workers: int, spec: Spec) -> int:
        """How many requests a round of ``spec`` may need (see :data:`POOL_MARGIN`), a
        multiple of the number of clients."""
        arguments = self.arguments
        expected = self.expected_rate(backend, workers, spec)
        expected *= (arguments.warmup + arguments.seconds) * POOL_MARGIN
        return (math.ceil(expected / arguments.clients) + 10) * arguments.clients

    def _pooled_round(self, target: Target, spec: Spec, prefix: str) -> dict[str, Any]:
        """Make the round's pool (its requests and, for accepts, the tenders they take), then
        measure it."""
        arguments = self.arguments
        operation = OPERATIONS[spec.operation]
        count = self.pool_size(target.backend, target.workers, spec)
        keys = [f"{prefix}-{index:08d}" for index in range(count)]
        started = time.monotonic()
        signed_at = datetime.now(UTC)
        bodies = target.signed(operation.party, [operation.body(key) for key in keys], signed_at)
        pool: dict[str, Any] = {
            "requests": count,
            "body_bytes": len(bodies[0]),
            "tenders": 0,
            "signed": spec.signed,
            "seconds": None,
            "oldest_signature_age_at_end": None,
        }
        if operation.takes_tender:
            create = OPERATIONS["create"]
            for batch in target.signed(create.party, tender_batches(keys), signed_at):
                problem = target.server.send(create.soap_action, batch, answered_ok)
                if problem is not None:
                    return failed_round(f"creating the tenders to accept failed: {problem}", pool)
            pool["tenders"] = count
        pool["seconds"] = round(time.monotonic() - started, 2)
        workload = Workload.of_bodies(spec.name, operation.soap_action, bodies, operation.check)
        if not spec.signed:
            return measured_round(self._drive(target.server, workload), pool)
        stale_at = signed_at.replace(microsecond=0) + timedelta(seconds=FRESHNESS_LIMIT)
        fresh_for = (stale_at - datetime.now(UTC)).total_seconds()
        needed = START_DELAY + arguments.warmup + arguments.seconds + FRESHNESS_SLACK
        if fresh_for < needed:
            return failed_round(
                f"the pool stays fresh for {fresh_for:.0f} s more, not the {needed:.0f} s its "
                f"window needs (making it took {pool['seconds']} s)",
                pool,
            )
        result = self._drive(target.server, workload)
        age = datetime.now(UTC) - signed_at.replace(microsecond=0)
        pool["oldest_signature_age_at_end"] = round(age.total_seconds(), 1)
        return measured_round(result, pool)


WRK_SCRIPT = """wrk.method = "POST"
local file = io.open("{body}", "rb")
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.headers["SOAPAction"] = '"{action}"'
"""
WRK_DURATION = re.compile(r"([\d.]+)(us|ms|s)\b")
WRK_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(
    port: int, workload: Workload, workers: int, arguments: argparse.Namespace, scratch: Path
) -> dict[str, Any]:
    """The echo measured by wrk (one thread, as many connections as client processes), in one
    window without warm-up; replies are not compared."""
    body = scratch / "wrk-body.xml"
    body.write_bytes(workload.body)
    script = scratch / "wrk-post.lua"
    script.write_text(WRK_SCRIPT.format(body=body, action=workload.soap_action))
    duration = max(1, round(arguments.seconds))
    command = ["wrk", "-t1", f"-c{arguments.clients}", f"-d{duration}s", "--latency"]
    completed = subprocess.run(
        [*command, "-s", str(script), f"http://127.0.0.1:{port}/"], capture_output=True, text=True
    )
    output = completed.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    fields = {"generator": "wrk", "body_bytes": len(workload.body)}
    if completed.returncode or rate is None or total is None:
        problem = f"wrk exited with {completed.returncode}: {completed.stderr.strip()[:200]}"
        return row(
            None, workload.name, workers, arguments.clients, [failed_round(problem)], **fields
        )
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    failures = int(errors.group(1)) if errors else 0
    samples = [f"wrk socket errors: {socket_errors.group(1)}"] if socket_errors else []
    measured = {
        **failed_round(""),
        "seconds": float(duration),
        "requests": int(total.group(1)),
        "requests_per_second": round(float(rate.group(1)), 1),
        "p50_ms": _wrk_percentile(output, "50%"),
        "p99_ms": _wrk_percentile(output, "99%"),
        "failures": failures,
        "failure_samples": [*samples, f"{failures} non-2xx replies"] if failures else samples,
    }
    return row(None, workload.name, workers, arguments.clients, [measured], **fields)


def _wrk_percentile(output: str, label: str) -> float | None:
    line = re.search(rf"^\s+{label}\s+(\S+)$", output, re.MULTILINE)
    if line is None:
        return None
    value, unit = WRK_DURATION.fullmatch(line.group(1)).groups()
    return round(float(value) * WRK_SCALE[unit], 3)


# --- Results ------------------------------------------------------------------------------------


def postgres_version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.exec_driver_sql("SHOW server_version").scalar())
    finally:
        engine.dispose()


def machine_facts(postgres_url: str | None = None) -> dict[str, Any]:
    """The machine and the software measured; the PostgreSQL server's version if
    ``postgres_url`` is given."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1) if found else ""
    postgresql = None if postgres_url is None else postgres_version(postgres_url)
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": model,
        "system": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "lxml": etree.__version__,
        "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
        "gunicorn": version("gunicorn"),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgresql,
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }


def _ratio_entry(
    name: str,
    backend: str,
    workers: str,
    numerator: float | None,
    denominator: float | None,
    target: float | None = None,
) -> dict[str, Any]:
    value = round(numerator / denominator, 3) if numerator and denominator else None
    met = None if value is None or target is None else value >= target
    return {
        "ratio": name,
        "backend": backend,
        "workers": workers,
        "value": value,
        "target": target,
        "met": met,
    }


def ratios(
    rows: list[dict[str, Any]], arguments: argparse.Namespace, floor: dict[str, Any]
) -> list[dict[str, Any]]:
    """For each backend: per worker count, unsigned create / echo and each signed create / its
    crypto floor's one-core rate; each workload with the most workers / with the fewest; and
    per worker count, each signed workload / its unsigned operation. A value is None where a
    measurement failed; only ratios of workloads the run measured are listed."""
    rate: dict[tuple[str | None, str, int], float | None] = {}
    for entry in rows:
        if entry["generator"] == "python":
            good = not entry["failures"]
            rate[entry["backend"], entry["workload"], entry["workers"]] = (
                entry["requests_per_second"] if good else None
            )
    entries: list[dict[str, Any]] = []

    def add(
        name: str,
        backend: str,
        count: str,
        over: tuple[str, int],
        under: tuple[str, int] | float,
        target: float | None = None,
    ) -> None:
        values = []
        for term in (over, under):
            if isinstance(term, tuple):
                key = (None if term[0] == "echo" else backend, *term)
                if key not in rate:
                    return
                values.append(rate[key])
            else:
                values.append(term)
        entries.append(_ratio_entry(name, backend, count, *values, target))

    workers = sorted(set(arguments.workers))
    fewest, most = workers[0], workers[-1]
    signed = [spec for spec in specs(arguments) if spec.signed]
    for backend in arguments.backends:
        for count in workers:
            add(
                "create / echo",
                backend,
                str(count),
                ("create", count),
                ("echo", count),
                TARGETS["create / echo"],
            )
        for algorithm in ALGORITHMS:
            one_core = floor_row(floor, algorithm)["requests_per_second"]
            for count in workers:
                add(
                    f"create-signed-{algorithm} / crypto floor {ALGORITHM_LABELS[algorithm]} on "
                    "one core",
                    backend,
                    str(count),
                    (f"create-signed-{algorithm}", count),
                    one_core,
                    TARGETS["signed create / crypto floor"],
                )
        if most != fewest:
            for name in ["echo", *(spec.name for spec in specs(arguments))]:
                add(
                    f"{name}: {most} / {fewest} workers",
                    backend,
                    f"{most}/{fewest}",
                    (name, most),
                    (name, fewest),
                    TARGETS["scaling"],
                )
        for spec in signed:
            for count in workers:
                add(
                    f"{spec.name} / {spec.operation}",
                    backend,
                    str(count),
                    (spec.name, count),
                    (spec.operation, count),
                )
    return entries


def specs(arguments: argparse.Namespace) -> list[Spec]:
    """The workloads of the run, in the order of the report."""
    return [
        Spec(operation, signing)
        for operation in OPERATIONS
        if operation in arguments.operations
        for signing in SIGNINGS
        if signing in arguments.signings
    ]


def measure(arguments: argparse.Namespace) -> dict[str, Any]:
    """Run the whole matrix ``arguments`` (from :func:`parse_arguments`) asks for: the results,
    as the JSON holds them."""
    started = time.monotonic()
    workers = sorted(set(arguments.workers))
    facts = machine_facts(arguments.postgres_url if "postgresql" in arguments.backends else None)
    with tempfile.TemporaryDirectory(prefix="temix-bench-") as scratch_name:
        scratch = Path(scratch_name)
        keys = key_directories(scratch)
        floor = crypto_floor(keys, arguments.crypto_rounds)
        matrix = Matrix(arguments, scratch, keys, floor)
        for count in workers:
            matrix.echo(count)
            for backend in arguments.backends:
                for signing in arguments.signings:
                    matrix.server(backend, count, signing)
    facts["load_average_at_end"] = round(os.getloadavg()[0], 2)
    return {
        "machine": facts,
        "settings": {
            "seconds": arguments.seconds,
            "warmup": arguments.warmup,
            "rounds": arguments.rounds,
            "clients": arguments.clients,
            "workers": workers,
            "backends": arguments.backends,
            "operations": [name for name in OPERATIONS if name in arguments.operations],
            "signings": [name for name in SIGNINGS if name in arguments.signings],
            "standing_tenders": STANDING_TENDERS,
            "position_intervals": len(POSITION_HOURS),
            "pool_margin": POOL_MARGIN,
        },
        "measurements": matrix.rows,
        "servers": matrix.servers,
        "crypto_floor": floor,
        "ratios": ratios(matrix.rows, arguments, floor),
        "failed": any(entry["failures"] for entry in matrix.rows),
        "total_seconds": round(time.monotonic() - started, 1),
    }


# --- Markdown -----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]], left: int = 1) -> list[str]:
    """A markdown table; the first ``left`` columns are aligned left, the others right."""
    rule = ["---" if column < left else "--:" for column in range(len(headers))]
    lines = [f"| {' | '.join(headers)} |", f"| {' | '.join(rule)} |"]
    lines += [f"| {' | '.join(_cell(value) for value in cells)} |" for cells in rows]
    return lines


def _count(number: int, noun: str) -> str:
    """``number`` and ``noun``, in the plural unless it is 1."""
    if number == 1:
        return f"1 {noun}"
    return f"{number} {noun}{'es' if noun.endswith('s') else 's'}"


def _label(entry: dict[str, Any]) -> str:
    return entry["workload"] if entry["generator"] == "python" else f"{entry['workload']} (wrk)"


def _backend_section(results: dict[str, Any], backend: str) -> list[str]:
    order = {name: index for index, name in enumerate(results["settings"]["operations"])}
    rows = [entry for entry in results["measurements"] if entry["backend"] in (None, backend)]
    rows.sort(
        key=lambda entry: (
            entry["backend"] is not None,
            order.get(entry["operation"], -1),
            SIGNINGS.index(entry["signing"]),
            entry["workers"],
            entry["generator"],
        )
    )
    lines = [f"### {BACKENDS[backend]}", ""]
    lines += _table(
        ["workload", "workers", "req/s", "p50 ms", "p99 ms", "failures", "server CPU µs/req"],
        [
            [
                _label(entry),
                entry["workers"],
                entry["requests_per_second"],
                entry["p50_ms"],
                entry["p99_ms"],
                entry["failures"],
                entry["server_cpu_us_per_request"],
            ]
            for entry in rows
        ],
    )
    ratio_rows = [entry for entry in results["ratios"] if entry["backend"] == backend]
    targeted = [entry for entry in ratio_rows if entry["target"] is not None]
    plain = [entry for entry in ratio_rows if entry["target"] is None]
    if targeted:
        lines += [
            "",
            f"Ratios of requests per second ({BACKENDS[backend]}), with their targets:",
            "",
        ]
        lines += _table(
            ["ratio", "workers", "value", "target", "met"],
            [
                [
                    entry["ratio"],
                    entry["workers"],
                    entry["value"],
                    f"≥ {entry['target']:g}",
                    entry["met"],
                ]
                for entry in targeted
            ],
            left=2,
        )
    if plain:
        lines += ["", f"Signed / unsigned ({BACKENDS[backend]}):", ""]
        lines += _table(
            ["ratio", "workers", "value"],
            [[entry["ratio"], entry["workers"], entry["value"]] for entry in plain],
            left=2,
        )
    return [*lines, ""]


def _floor_section(floor: dict[str, Any]) -> list[str]:
    settings = floor["settings"]
    software = ", ".join(f"{package} {number}" for package, number in floor["software"].items())
    lines = [
        "### Crypto floor",
        "",
        "In-process: verify_envelope of a signed EiCreateTender (party trust in memory) and "
        "sign_envelope of its EiCreatedTender reply; median of "
        f"{_count(settings['rounds'], 'round')} of {settings['requests_per_round']} requests, "
        "process CPU "
        f"µs per request; {software}.",
        "",
    ]
    lines += _table(
        ["keys", "part", "µs/req", "fastest", "slowest", "req/s on one core"],
        [
            [
                entry["label"],
                entry["part"],
                entry["us_per_request"],
                entry["fastest_round_us"],
                entry["slowest_round_us"],
                entry["requests_per_second"],
            ]
            for entry in floor["rows"]
        ],
        left=2,
    )
    return [*lines, ""]


def _request_sizes(rows: list[dict[str, Any]]) -> str:
    sizes: dict[str, dict[str, int]] = defaultdict(dict)
    for entry in rows:
        if entry["backend"] is not None and entry["body_bytes"]:
            sizes[entry["operation"]].setdefault(entry["signing"], entry["body_bytes"])
    parts = []
    for operation, by_signing in sizes.items():
        signed = ", ".join(
            f"{ALGORITHM_LABELS[signing]} {size}"
            for signing, size in by_signing.items()
            if signing != UNSIGNED
        )
        unsigned = by_signing.get(UNSIGNED)
        parts.append(f"{operation} {_cell(unsigned)}" + (f" (signed: {signed})" if signed else ""))
    return "; ".join(parts)


def _pool_summary(rows: list[dict[str, Any]]) -> str:
    pools = [entry["pool"] for row in rows for entry in row["rounds"] if entry["pool"]]
    signed = sum(pool["requests"] for pool in pools if pool["signed"])
    tenders = sum(pool["tenders"] for pool in pools)
    seconds = sum(pool["seconds"] or 0.0 for pool in pools)
    return (
        f"made before the windows, not timed: {_count(signed, 'signed request')} and "
        f"{_count(tenders, 'tender')} for the accepts, in {seconds:.0f} s"
    )


def markdown(results: dict[str, Any]) -> str:
    """The results as a markdown section: the machine and settings, a table per backend with
    its ratios, and the crypto floor."""
    facts, settings = results["machine"], results["settings"]
    postgresql = f", PostgreSQL {facts['postgresql']}" if facts.get("postgresql") else ""
    clients = _count(settings["clients"], "client process")
    echo_costs = [
        entry["client_cpu_us_per_request"]
        for entry in results["measurements"]
        if entry["workload"] == "echo" and entry["client_cpu_us_per_request"]
    ]
    signed_servers = [entry for entry in results["servers"] if "reply_signature" in entry]
    verified = sum(entry["reply_signature"] == "verified" for entry in signed_servers)
    lines = [
        "## temix serve: throughput and latency on loopback",
        "",
        f"- machine: {facts['cores']} cores ({facts['usable_cores']} usable), {facts['cpu']}, "
        f"{facts['system']}",
        f"- software: {facts['python']}, lxml {facts['lxml']} (libxml2 {facts['libxml2']}), "
        f"gunicorn {facts['gunicorn']} sync workers, SQLite {facts['sqlite']}{postgresql}",
        f"- load: {clients} (pure Python, one request in flight each, a new connection per "
        "request, SOAP 1.1) on the same cores as the server; each figure the median of "
        f"{_count(settings['rounds'], 'round')} of {settings['seconds']:g} s after "
        f"{settings['warmup']:g} s of warm-up",
        f"- state: request-tenders lists {settings['standing_tenders']} standing tenders; "
        f"request-position asks for {settings['position_intervals']} hourly intervals over "
        f"{settings['position_intervals']} transactions",
        f"- request bytes: {_request_sizes(results['measurements'])}",
        "- server CPU µs/req: CPU time of the server's gunicorn processes per counted request "
        "(PostgreSQL's own processes not included)",
        f"- {_pool_summary(results['measurements'])}; the reply of "
        f"{verified} of {len(signed_servers)} signed servers verified against their certificate",
        f"- load average {facts['load_average_at_start']} at start, "
        f"{facts['load_average_at_end']} at end; run time {results['total_seconds']:.0f} s",
    ]
    if echo_costs:
        cost = statistics.median(echo_costs)
        lines.append(
            f"- client side: {cost:.0f} µs of client CPU per echoed request (median), so one "
            f"client process alone tops out near {1e6 / cost:,.0f} req/s"
        )
    lines.append("")
    for backend in settings["backends"]:
        lines += _backend_section(results, backend)
    lines += _floor_section(results["crypto_floor"])
    failed = [entry for entry in results["measurements"] if entry["failures"]]
    for entry in failed:
        where = BACKENDS.get(entry["backend"], "echo")
        lines.append(
            f"- FAILED {_label(entry)}, {where}, {_count(entry['workers'], 'worker')}: "
            f"{_count(entry['failures'], 'failure')}, e.g. " + "; ".join(entry["failure_samples"])
        )
    for server in results["servers"]:
        for line in server.get("log_errors", []):
            lines.append(
                f"- server log, {BACKENDS[server['backend']]}, {server['signing']}, "
                f"{_count(server['workers'], 'worker')}: {line}"
            )
    lines.append("Result: " + ("FAILED" if failed else "every counted reply was a 200."))
    return "\n".join(lines) + "\n"


# --- Command line -------------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Throughput and latency of temix serve on loopback, unsigned and signed, "
        "on SQLite and PostgreSQL, against the plain lxml echo and the crypto floor."
    )
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="window per round")
    parser.add_argument(
        "--warmup", type=float, default=DEFAULT_WARMUP, help="uncounted seconds before it"
    )
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="windows per measurement"
    )
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help="client processes")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts")
    parser.add_argument(
        "--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS), help="stores"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_URL_VARIABLE),
        help=f"a PostgreSQL database to empty and use (default: ${POSTGRES_URL_VARIABLE})",
    )
    parser.add_argument(
        "--operations", nargs="+", choices=list(OPERATIONS), default=list(OPERATIONS)
    )
    parser.add_argument("--signings", nargs="+", choices=SIGNINGS, default=list(SIGNINGS))
    parser.add_argument("--wrk", action="store_true", help="also measure the echo with wrk")
    parser.add_argument(
        "--crypto-rounds", type=int, default=CRYPTO_ROUNDS, help="timed rounds of the crypto floor"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results here")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the report here")
    arguments = parser.parse_args(argv)
    if arguments.seconds <= 0 or arguments.warmup < 0:
        parser.error("--seconds must be positive and --warmup 0 or more")
    if arguments.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 1 <= arguments.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be between 1 and {MAX_CLIENTS}")
    if min(arguments.workers) < 1:
        parser.error("--workers must be at least 1")
    if arguments.crypto_rounds < 1:
        parser.error("--crypto-rounds must be at least 1")
    if START_DELAY + arguments.warmup + arguments.seconds + FRESHNESS_SLACK >= FRESHNESS_LIMIT:
        parser.error(
            f"--warmup and --seconds together must leave {FRESHNESS_SLACK:g} s of the signed "
            f"requests' {FRESHNESS_LIMIT:g} s of freshness"
        )
    if "postgresql" in arguments.backends and not arguments.postgres_url:
        parser.error(
            f"the postgresql backend needs a database: give --postgres-url URL, or set "
            f"{POSTGRES_URL_VARIABLE}, or measure only --backends sqlite"
        )
    if arguments.wrk and shutil.which("wrk") is None:
        parser.error("--wrk: wrk is not installed (e.g. apt-get install wrk)")
    arguments.backends = list(dict.fromkeys(arguments.backends))
    arguments.signings = [name for name in SIGNINGS if name in arguments.signings]
    arguments.operations = [name for name in OPERATIONS if name in arguments.operations]
    return arguments


def publish(report: str, results: dict[str, Any], arguments: argparse.Namespace) -> int:
    """Print ``report``, write it and ``results`` where ``--markdown`` and ``--json`` say, and
    return the exit status: 1 if something failed."""
    print(report, end="")
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    if arguments.markdown:
        arguments.markdown.write_text(report)
    return 1 if results["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    results = measure(arguments)
    return publish(markdown(results), results, arguments)


if __name__ == "__main__":
    sys.exit(main())
