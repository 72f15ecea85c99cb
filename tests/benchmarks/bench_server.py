"""Requests per second of ``temix serve``, unsigned and signed, against the plain lxml echo,
on loopback.

    python tests/benchmarks/bench_server.py [--seconds S] [--clients C] [--workers 1 2]
        [--warmup S] [--wrk] [--crypto-rounds N] [--json FILE]

First it measures the in-process crypto floor of ``bench_crypto.py`` (verifying a signed
EiCreateTender and signing its reply), with the RSA-2048 and ECDSA P-256 key directories the
signed servers use. Then, for each worker count, it starts the echo (``bench_echo.py``) and
``temix serve`` on fresh SQLite stores, all under the same gunicorn host, and measures with the
client processes of ``bench_load.py``, SOAP 1.1:

- ``echo``: the unsigned EiCreateTender body, parsed and echoed (also with one client process,
  and with wrk when ``--wrk`` is given, to show the load generator's own ceiling);
- ``create``: EiCreateTender, a new tender and request id per request, to ``temix serve
  --insecure``;
- ``accept``: EiCreateTransaction accepting a tender of its own, from a pool created before the
  window (uncounted), to the same server;
- ``create-signed-rsa`` and ``create-signed-ecdsa``: EiCreateTender signed by ``rep`` to
  ``temix serve --keys DIR`` (parties ``rep`` and ``customer``) with RSA-2048 or ECDSA P-256
  keys. The server verifies each request and signs each reply. Every request is signed before
  the window (so the clients, on the same cores, do not pay for it while it runs), each with
  its own tender and request id, from a pool sized like the accepts' and used up within the
  Timestamps' 300 seconds. Before that window, one signed request's reply is verified against
  the server's certificate.

Every counted reply must be HTTP 200 (and, from temix, carry eiResponse code 200); failures are
counted and reported, and make the exit status 1. It prints a table, the ratios (create/echo,
accept/echo, signed/unsigned create, signed create/crypto floor, scaling between the worker
counts), the crypto floor and the machine's facts; ``--json FILE`` writes the same results.
Linux only (fork, /proc).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cryptography import x509
from lxml import etree

from temix.codec import PAYLOAD_ELEMENTS
from temix.envelope import SOAP_1_1
from temix.keys import Credentials, KeyDirectory, fingerprint
from temix.wssecurity import Freshness, SecurityError, verify_envelope

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pki
from bench_crypto import (
    ALGORITHM_LABELS,
    ALGORITHMS,
    DEFAULT_ROUNDS,
    create_tender_request,
    crypto_floor,
    floor_row,
    key_directories,
)
from bench_crypto import report as crypto_report
from bench_load import (
    KEY_PLACEHOLDER,
    MAX_CLIENTS,
    START_DELAY,
    LoadResult,
    Workload,
    drive,
    exchange,
    request_head,
)
from market import SOAP_ACTIONS, acceptance, create_transaction, envelope

BENCHMARKS_DIR = Path(__file__).resolve().parent
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
WSDL_LINE = re.compile(rb"WSDL http://127\.0\.0\.1:(\d+)/\?wsdl")
EI_RESPONSE_CODE = re.compile(rb"eiResponse>\s*<(?:[\w.-]+:)?responseCode>\s*(\d+)")
TEMIX_COMMAND = [sys.executable, "-c", "from temix.cli import main; main()", "serve"]
ECHO_COMMAND = [sys.executable, str(BENCHMARKS_DIR / "bench_echo.py")]
DEFAULT_CLIENTS = 3
POOL_MARGIN = 2.0
"""Tenders created before an accept window, and requests signed before a signed create window,
as a multiple of the (unsigned) create rate times the window."""
PREFILL_TIME_LIMIT = 600.0
FRESHNESS_LIMIT = Freshness().max_age.total_seconds()
"""How old a signed request's Timestamp may be when the server checks it (its default)."""
FRESHNESS_SLACK = 30.0
"""Seconds a pre-signed pool must stay fresh beyond the end of its window."""
SIGNED = {name: f"create-signed-{name}" for name in ALGORITHMS}
"""The signed create workload of each key algorithm."""
WORKLOADS = ("echo", "create", "accept", *SIGNED.values())


# --- Workloads ----------------------------------------------------------------------------------


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


def _soap_action(payload: Any) -> str:
    return SOAP_ACTIONS[PAYLOAD_ELEMENTS[type(payload)]][SOAP_1_1]


def workloads(pool_per_client: int) -> dict[str, Workload]:
    """The echo, create and accept workloads, plus ``prefill``: the creates whose tenders the
    accepts take (``pool_per_client`` per client, matched by key)."""
    key = KEY_PLACEHOLDER.decode()
    create = create_tender_request(key)
    offered = create.tenders[0]
    accept = create_transaction(f"A-{key}", "customer", "rep", acceptance(offered, f"X-{key}"))
    create_body = envelope(create)
    return {
        "echo": Workload("echo", _soap_action(create), create_body, echoed, "e"),
        "create": Workload("create", _soap_action(create), create_body, answered_ok, "c"),
        "prefill": Workload(
            "prefill", _soap_action(create), create_body, answered_ok, "p", pool_per_client
        ),
        "accept": Workload(
            "accept", _soap_action(accept), envelope(accept), answered_ok, "p", pool_per_client
        ),
    }


def signed_creates(
    name: str, credentials: Credentials, keys: list[str], signed_at: datetime
) -> Workload:
    """The workload ``name`` of ready bodies: the create workload's EiCreateTender for each of
    ``keys``, signed with ``credentials`` at ``signed_at``."""
    create = workloads(0)["create"]
    bodies = [
        pki.sign(create.body.replace(KEY_PLACEHOLDER, key.encode()), credentials, signed_at)
        for key in keys
    ]
    return Workload.of_bodies(name, create.soap_action, bodies, answered_ok)


def reply_signature_problem(
    port: int, workload: Workload, server_certificate: x509.Certificate
) -> str | None:
    """Send ``workload``'s first body: what is wrong with the reply, or None when it is a 200
    that passes the workload's check and whose signature verifies (``verify_envelope``) with
    ``server_certificate`` in its token."""
    body = workload.body
    expected = fingerprint(server_certificate)

    def pinned(certificate: x509.Certificate) -> str:
        if fingerprint(certificate) != expected:
            raise SecurityError(f"signed by sha256:{fingerprint(certificate)}, not the server")
        return expected

    try:
        status, reply = exchange(port, request_head(port, workload.soap_action, len(body)) + body)
        problem = f"HTTP {status}" if status != 200 else workload.check(body, reply)
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


def _row(workload: str, workers: int, clients: int, **values: Any) -> dict[str, Any]:
    """A measurement as it goes into the table and the JSON: these keys, None where unknown."""
    row: dict[str, Any] = {
        "workload": workload,
        "workers": workers,
        "clients": clients,
        "generator": "python",
        "seconds": 0.0,
        "requests": 0,
        "requests_per_second": 0.0,
        "p50_ms": None,
        "p99_ms": None,
        "failures": 0,
        "failure_samples": [],
        "client_cpu_us_per_request": None,
        "server_cpu_us_per_request": None,
        "server_cores_busy": None,
        "other_cores_busy": None,
        "note": "",
    }
    row.update(values)
    return row


def record(result: LoadResult, workers: int) -> dict[str, Any]:
    p50, p99 = (result.latency_percentile(percent) for percent in (50, 99))
    samples = list(result.failure_samples)
    if result.ran_out:
        samples.append("a client used up its pool of requests before the window ended")
    server_cpu, machine_cpu = result.probe_increase or (None, None)
    if server_cpu is None:
        other_cores = None
    else:
        other_cpu = machine_cpu - server_cpu - result.client_cpu_seconds
        other_cores = round(max(0.0, other_cpu) / result.elapsed_seconds, 2)
    return _row(
        result.workload,
        workers,
        result.clients,
        seconds=round(result.elapsed_seconds, 3),
        requests=result.completed,
        requests_per_second=round(result.requests_per_second, 1),
        p50_ms=None if p50 is None else round(p50 * 1000, 3),
        p99_ms=None if p99 is None else round(p99 * 1000, 3),
        failures=result.failures + result.ran_out,
        failure_samples=samples,
        client_cpu_us_per_request=_per_request(result.client_cpu_seconds, result.completed),
        server_cpu_us_per_request=_per_request(server_cpu, result.completed),
        server_cores_busy=None
        if server_cpu is None
        else round(server_cpu / result.elapsed_seconds, 2),
        other_cores_busy=other_cores,
    )


def _per_request(cpu_seconds: float | None, requests: int) -> float | None:
    if cpu_seconds is None or requests == 0:
        return None
    return round(cpu_seconds / requests * 1e6, 1)


def measure_echo(
    workers: int, arguments: argparse.Namespace, scratch: Path, load: dict[str, Workload]
) -> list[dict[str, Any]]:
    command = [*ECHO_COMMAND, "--port", "0", "--workers", str(workers)]
    records = []
    with running(command, scratch / f"echo-{workers}.log") as server:
        for clients in sorted({arguments.clients, 1}, reverse=True):
            result = drive(
                server.port,
                load["echo"],
                clients=clients,
                warmup=arguments.warmup,
                seconds=arguments.seconds,
                probe=server.cpu_seconds,
            )
            records.append(record(result, workers))
        if arguments.wrk:
            records.append(run_wrk(server.port, load["echo"], workers, arguments, scratch))
    return records


def _temix_command(workers: int, data_dir: Path) -> list[str]:
    """``temix serve`` on a free port with ``workers`` and a fresh SQLite store in
    ``data_dir``."""
    data_dir.mkdir()
    return [
        *TEMIX_COMMAND,
        *("--port", "0", "--workers", str(workers)),
        *("--db", f"sqlite:///{data_dir}/temix.sqlite3"),
    ]


def _timing(arguments: argparse.Namespace) -> dict[str, Any]:
    return {"clients": arguments.clients, "warmup": arguments.warmup, "seconds": arguments.seconds}


def requests_per_client(create_rate: float, arguments: argparse.Namespace) -> int:
    """How many requests each client may need in a window and its warm-up, from the unsigned
    create rate, with :data:`POOL_MARGIN` (the workloads that need a pool are no faster)."""
    window = arguments.warmup + arguments.seconds
    expected = max(create_rate, 1.0) * window * POOL_MARGIN
    return math.ceil(expected / arguments.clients) + 10


def measure_temix(
    workers: int, arguments: argparse.Namespace, scratch: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The create and accept measurements on a fresh store of an insecure server, and how the
    accepts' pool was made."""
    command = [*_temix_command(workers, scratch / f"temix-{workers}"), "--insecure"]
    clients = arguments.clients
    timing = _timing(arguments)
    with running(command, scratch / f"temix-{workers}.log") as server:
        create = drive(server.port, workloads(0)["create"], probe=server.cpu_seconds, **timing)
        pool_per_client = requests_per_client(create.requests_per_second, arguments)
        load = workloads(pool_per_client)
        prefill = drive(
            server.port, load["prefill"], clients=clients, warmup=0, seconds=PREFILL_TIME_LIMIT
        )
        pool = {
            "workers": workers,
            "tenders_wanted": pool_per_client * clients,
            "tenders_created": prefill.completed,
            "failures": prefill.failures,
            "seconds": round(prefill.elapsed_seconds, 2),
        }
        records = [record(create, workers)]
        if prefill.failures or prefill.completed < pool_per_client * clients:
            reason = "pre-creating the tenders failed"
            records.append(_row("accept", workers, clients, failures=1, failure_samples=[reason]))
        else:
            accept = drive(server.port, load["accept"], probe=server.cpu_seconds, **timing)
            records.append(record(accept, workers))
    return records, pool


def measure_signed(
    workers: int,
    algorithm: str,
    keys: KeyDirectory,
    create_rate: float,
    arguments: argparse.Namespace,
    scratch: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signed create measurement of ``algorithm`` with the server and parties of ``keys``,
    on a fresh store, and how its pool was signed."""
    name = SIGNED[algorithm]
    count = requests_per_client(create_rate, arguments) * arguments.clients
    rep = keys.party("rep")
    signing_started = time.monotonic()
    signed_at = datetime.now(UTC)
    load = signed_creates(name, rep, [f"s{number:010d}" for number in range(count)], signed_at)
    reply_check = signed_creates(name, rep, ["v0000000000"], signed_at)
    pool: dict[str, Any] = {
        "workers": workers,
        "algorithm": algorithm,
        "requests_signed": count,
        "signing_seconds": round(time.monotonic() - signing_started, 2),
        "body_bytes": len(load.body),
        "oldest_signature_age_at_end": None,
    }
    stale_at = signed_at.replace(microsecond=0) + timedelta(seconds=FRESHNESS_LIMIT)
    command = [*_temix_command(workers, scratch / f"{name}-{workers}"), "--keys", str(keys.path)]
    with running(command, scratch / f"{name}-{workers}.log") as server:
        problem = reply_signature_problem(server.port, reply_check, keys.server().certificate)
        pool["reply_signature"] = problem or "verified"
        fresh_for = (stale_at - datetime.now(UTC)).total_seconds()
        needed = START_DELAY + arguments.warmup + arguments.seconds + FRESHNESS_SLACK
        if problem is None and fresh_for < needed:
            problem = (
                f"the pool stays fresh for {fresh_for:.0f} s more, not the {needed:.0f} s its "
                f"window needs (signing took {pool['signing_seconds']} s)"
            )
        if problem is not None:
            failed = _row(name, workers, arguments.clients, failures=1, failure_samples=[problem])
            return failed, pool
        result = drive(server.port, load, probe=server.cpu_seconds, **_timing(arguments))
        age = datetime.now(UTC) - signed_at.replace(microsecond=0)
        pool["oldest_signature_age_at_end"] = round(age.total_seconds(), 1)
    return record(result, workers), pool


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
    """The echo measured by wrk (one thread, as many connections as client processes)."""
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
    if completed.returncode or rate is None or total is None:
        problem = f"wrk exited with {completed.returncode}: {completed.stderr.strip()[:200]}"
        return _row(
            workload.name,
            workers,
            arguments.clients,
            generator="wrk",
            failures=1,
            failure_samples=[problem],
        )
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    failures = int(errors.group(1)) if errors else 0
    samples = [f"wrk socket errors: {socket_errors.group(1)}"] if socket_errors else []
    return _row(
        workload.name,
        workers,
        arguments.clients,
        generator="wrk",
        seconds=float(duration),
        requests=int(total.group(1)),
        requests_per_second=round(float(rate.group(1)), 1),
        p50_ms=_wrk_percentile(output, "50%"),
        p99_ms=_wrk_percentile(output, "99%"),
        failures=failures,
        failure_samples=[*samples, f"{failures} non-2xx replies"] if failures else samples,
        note="connections, not processes; no warm-up; replies not compared",
    )


def _wrk_percentile(output: str, label: str) -> float | None:
    line = re.search(rf"^\s+{label}\s+(\S+)$", output, re.MULTILINE)
    if line is None:
        return None
    value, unit = WRK_DURATION.fullmatch(line.group(1)).groups()
    return round(float(value) * WRK_SCALE[unit], 3)


# --- Report -------------------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1) if found else ""
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
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }


def _find(
    records: list[dict[str, Any]], workload: str, workers: int, clients: int
) -> dict[str, Any] | None:
    """The measurement of ``workload`` by ``clients`` Python clients, if it did not fail."""
    for entry in records:
        matches = (entry["workload"], entry["workers"], entry["clients"], entry["generator"])
        if matches == (workload, workers, clients, "python") and not entry["failures"]:
            return entry
    return None


def _select(records: list[dict[str, Any]], workload: str, workers: int, clients: int) -> float:
    entry = _find(records, workload, workers, clients)
    return 0.0 if entry is None else entry["requests_per_second"]


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if numerator and denominator else None


def ratios(
    records: list[dict[str, Any]], workers: list[int], clients: int, floor: dict[str, Any]
) -> dict[str, Any]:
    """Per worker count: create/echo, accept/echo, each signed create over the unsigned one and
    over its crypto floor's one-core rate (``floor``, from ``bench_crypto.crypto_floor``); and
    the scaling from the fewest workers to the most (None where a measurement failed)."""
    rate = {
        (workload, count): _select(records, workload, count, clients)
        for workload in WORKLOADS
        for count in workers
    }

    def per_count(workload: str, reference: dict[int, float]) -> dict[str, float | None]:
        return {str(count): _ratio(rate[workload, count], reference[count]) for count in workers}

    echo = {count: rate["echo", count] for count in workers}
    create = {count: rate["create", count] for count in workers}
    result: dict[str, Any] = {
        f"{workload}/echo": per_count(workload, echo) for workload in ("create", "accept")
    }
    for algorithm, workload in SIGNED.items():
        result[f"signed-{algorithm}/unsigned create"] = per_count(workload, create)
    for algorithm, workload in SIGNED.items():
        ceiling = dict.fromkeys(workers, floor_row(floor, algorithm)["requests_per_second"])
        result[f"{workload}/crypto floor on one core"] = per_count(workload, ceiling)
    fewest, most = min(workers), max(workers)
    if most != fewest:
        result[f"scaling {most}/{fewest} workers"] = {
            workload: _ratio(rate[workload, most], rate[workload, fewest]) for workload in WORKLOADS
        }
    return result


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return str(value)


TABLE_COLUMNS = (
    ("workload", "workload"),
    ("workers", "workers"),
    ("clients", "clients"),
    ("generator", "by"),
    ("requests_per_second", "req/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("requests", "requests"),
    ("failures", "failed"),
    ("client_cpu_us_per_request", "client µs/req"),
    ("server_cpu_us_per_request", "server µs/req"),
    ("server_cores_busy", "server cores"),
    ("other_cores_busy", "other cores"),
)


def table(records: list[dict[str, Any]]) -> str:
    rows = [[label for _, label in TABLE_COLUMNS]]
    rows += [[_cell(entry[key]) for key, _ in TABLE_COLUMNS] for entry in records]
    widths = [max(len(row[column]) for row in rows) for column in range(len(TABLE_COLUMNS))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2])]
        cells.append(row[3].ljust(widths[3]))
        cells += [cell.rjust(width) for cell, width in zip(row[4:], widths[4:], strict=True)]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    """``number`` and ``noun``, in the plural unless it is 1."""
    if number == 1:
        return f"1 {noun}"
    return f"{number} {noun}{'es' if noun.endswith('s') else 's'}"


def report(results: dict[str, Any]) -> str:
    facts, settings = results["machine"], results["settings"]
    clients = settings["clients"]
    signed_sizes = {pool["algorithm"]: pool["body_bytes"] for pool in results["signed_pools"]}
    lines = [
        "temix serve, unsigned (--insecure) and signed, against the plain lxml echo: loopback, "
        f"SOAP 1.1, EiCreateTender body of {settings['body_bytes']} bytes unsigned, "
        + ", ".join(
            f"{size} signed with {ALGORITHM_LABELS[algorithm]} keys"
            for algorithm, size in signed_sizes.items()
        ),
        f"machine: {facts['cores']} cores ({facts['usable_cores']} usable), {facts['cpu']}, "
        f"{facts['system']}",
        f"software: {facts['python']}, lxml {facts['lxml']} (libxml2 {facts['libxml2']}), "
        f"gunicorn {facts['gunicorn']} sync workers, SQLite {facts['sqlite']}",
        f"load generator: {_count(clients, 'client process')} (pure Python, one request in "
        "flight each, a new connection per request) on the same cores as the server; "
        f"{settings['seconds']:g} s per measurement after {settings['warmup']:g} s of warm-up",
        f"load average: {facts['load_average_at_start']} at start, "
        f"{facts['load_average_at_end']} at end",
        "",
        table(results["measurements"]),
        "µs/req: CPU per counted request; cores: CPU seconds per second of the window, of the "
        "server and of everything but the server and the clients (other programs)",
        "",
        "ratios of requests per second:",
    ]
    for name, values in results["ratios"].items():
        if name.startswith("scaling"):
            cells = [f"{workload} {_cell(value)}" for workload, value in values.items()]
        else:
            cells = [
                f"{_count(int(count), 'worker')} {_cell(value)}" for count, value in values.items()
            ]
        lines.append(f"  {name}: {', '.join(cells)}")
    lines += ["", crypto_report(results["crypto_floor"]), ""]
    lines += _signing_cost(results["measurements"], results["crypto_floor"], settings)
    lines += ["", *_client_side(results["measurements"], clients)]
    for pool in results["accept_pools"]:
        lines.append(
            f"accept pool, {_count(pool['workers'], 'worker')}: {pool['tenders_created']} of "
            f"{pool['tenders_wanted']} tenders created in {pool['seconds']} s, not timed"
        )
    for pool in results["signed_pools"]:
        age = pool["oldest_signature_age_at_end"]
        lines.append(
            f"{SIGNED[pool['algorithm']]} pool, {_count(pool['workers'], 'worker')}: "
            f"{pool['requests_signed']} requests signed in {pool['signing_seconds']} s, not "
            f"timed; oldest {'-' if age is None else age} s old at the window's end (limit "
            f"{FRESHNESS_LIMIT:g} s); server's reply signature: {pool['reply_signature']}"
        )
    failed = [entry for entry in results["measurements"] if entry["failures"]]
    for entry in failed:
        lines.append(
            f"FAILED {entry['workload']}, {_count(entry['workers'], 'worker')}, "
            f"{entry['generator']}: {entry['failures']} failures, e.g. "
            + "; ".join(entry["failure_samples"])
        )
    lines.append("result: " + ("FAILED" if failed else "every counted reply was a 200"))
    return "\n".join(lines)


def _signing_cost(
    records: list[dict[str, Any]], floor: dict[str, Any], settings: dict[str, Any]
) -> list[str]:
    """The server CPU a signed create costs beyond an unsigned one, next to the crypto floor's
    verify+sign."""
    lines = ["server CPU per request, signed create minus unsigned create:"]
    for algorithm, workload in SIGNED.items():
        cells = []
        for workers in settings["workers"]:
            signed = _find(records, workload, workers, settings["clients"])
            unsigned = _find(records, "create", workers, settings["clients"])
            costs = [entry and entry["server_cpu_us_per_request"] for entry in (signed, unsigned)]
            extra = None if None in costs else f"{costs[0] - costs[1]:+,.0f} µs"
            cells.append(f"{_count(workers, 'worker')} {extra or '-'}")
        floor_us = floor_row(floor, algorithm)["us_per_request"]
        lines.append(
            f"  {workload}: {', '.join(cells)} (crypto floor: verify+sign {floor_us:,.0f} µs)"
        )
    return lines


def _client_side(records: list[dict[str, Any]], clients: int) -> list[str]:
    """What the load generator costs and how far it can go, from the echo measurements."""
    echoes = [entry for entry in records if entry["workload"] == "echo"]
    costs = sorted(
        entry["client_cpu_us_per_request"]
        for entry in echoes
        if entry["client_cpu_us_per_request"] is not None
    )
    if not costs:
        return []
    cost = costs[len(costs) // 2]
    lines = [
        f"client side: {cost:.0f} µs of client CPU per echoed request (median), so one client "
        f"process alone tops out near {1e6 / cost:,.0f} req/s"
    ]
    for entry in echoes:
        if (entry["clients"], entry["generator"]) == (clients, "python"):
            continue
        source = (
            _count(entry["clients"], "wrk connection")
            if entry["generator"] == "wrk"
            else _count(entry["clients"], "client process")
        )
        reference = _select(records, "echo", entry["workers"], clients)
        lines.append(
            f"  echo, {_count(entry['workers'], 'worker')}: {_cell(entry['requests_per_second'])}"
            f" req/s from {source} against {_cell(reference)} from "
            f"{_count(clients, 'client process')}"
        )
    return lines


# --- Command line -------------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Requests per second of temix serve, unsigned and signed, against the "
        "plain lxml echo."
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="window per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds before it")
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help="client processes")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts")
    parser.add_argument("--wrk", action="store_true", help="also measure the echo with wrk")
    parser.add_argument(
        "--crypto-rounds", type=int, default=DEFAULT_ROUNDS, help="timed rounds of the crypto floor"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results here")
    arguments = parser.parse_args(argv)
    if arguments.seconds <= 0 or arguments.warmup < 0:
        parser.error("--seconds must be positive and --warmup 0 or more")
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
    if arguments.wrk and shutil.which("wrk") is None:
        parser.error("--wrk: wrk is not installed (e.g. apt-get install wrk)")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    workers = sorted(set(arguments.workers))
    facts = machine_facts()
    load = workloads(0)
    records: list[dict[str, Any]] = []
    pools: list[dict[str, Any]] = []
    signed_pools: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="temix-bench-") as scratch_name:
        scratch = Path(scratch_name)
        keys = key_directories(scratch)
        floor = crypto_floor(keys, arguments.crypto_rounds)
        for count in workers:
            records += measure_echo(count, arguments, scratch, load)
            temix_records, pool = measure_temix(count, arguments, scratch)
            records += temix_records
            pools.append(pool)
            create_rate = _select(records, "create", count, arguments.clients)
            for algorithm, directory in keys.items():
                row, signed_pool = measure_signed(
                    count, algorithm, directory, create_rate, arguments, scratch
                )
                records.append(row)
                signed_pools.append(signed_pool)
    facts["load_average_at_end"] = round(os.getloadavg()[0], 2)
    results = {
        "machine": facts,
        "settings": {
            "seconds": arguments.seconds,
            "warmup": arguments.warmup,
            "clients": arguments.clients,
            "workers": workers,
            "body_bytes": len(load["create"].body),
        },
        "measurements": records,
        "accept_pools": pools,
        "signed_pools": signed_pools,
        "crypto_floor": floor,
        "ratios": ratios(records, workers, arguments.clients, floor),
        "failed": any(entry["failures"] for entry in records),
    }
    print(report(results))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
