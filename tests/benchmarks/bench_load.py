"""A closed-loop HTTP load generator in pure Python, for the loopback benchmarks.

Each client is a process (so the load generator is not held by one GIL) sending one request at
a time, each on a new TCP connection with ``Connection: close``: gunicorn's sync workers close
every connection after its response, so keep-alive would change nothing, and raw sockets cost
the client about a third of the CPU ``http.client`` does. Every request carries a key unique to
it, written over :data:`KEY_PLACEHOLDER` in the workload's body; or a workload is a list of
ready bodies (signed requests, which no template can make, or requests that need something made
before they are sent), shared out between the clients and each sent once.

The clients start together, warm up, and count the replies completed inside a shared window of
``time.monotonic()`` (system-wide on Linux); each reports its successes, latencies, failures and
the CPU it used inside the window.
"""

from __future__ import annotations

import multiprocessing
import queue
import re
import resource
import socket
import statistics
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import count

KEY_PLACEHOLDER = b"KEYKEYKEYKE"
"""Written over, in each request body, by a key: the workload's prefix, the client's number (2
digits, so at most 100 clients) and the request's (8 digits)."""
MAX_CLIENTS = 100

CONTENT_LENGTH = b"\r\ncontent-length:"
FAULT_TEXT = re.compile(rb"<(?:[\w.-]+:)?(?:faultstring|Text)\b[^>]*>([^<]*)<")
REQUEST_TIMEOUT = 30.0
START_DELAY = 0.2
"""Seconds between forking the clients and their first request."""
FAILURE_SAMPLES = 3

ReplyCheck = Callable[[bytes, bytes], str | None]
"""``check(request_body, reply_body)``: what is wrong with a 200 reply, or None."""


@dataclass(frozen=True)
class Workload:
    """What the clients send: ``body`` with the placeholder replaced by a fresh key each time,
    or the ``ready`` bodies as they are."""

    name: str
    soap_action: str
    body: bytes
    check: ReplyCheck
    key_prefix: str
    ready: tuple[bytes, ...] = ()
    """Bodies sent as they are, each once: client ``c`` of ``n`` sends ``ready[c::n]`` in order,
    and running out ends it. ``body`` is then the first of them, and there are no keys."""

    @classmethod
    def of_bodies(
        cls, name: str, soap_action: str, bodies: Sequence[bytes], check: ReplyCheck
    ) -> Workload:
        """A workload of ready bodies (at least one)."""
        return cls(name, soap_action, bodies[0], check, key_prefix="", ready=tuple(bodies))

    def key(self, client: int, number: int) -> bytes:
        return f"{self.key_prefix}{client:02d}{number:08d}".encode()

    def bodies(self, client: int, clients: int) -> Iterator[bytes]:
        """What client ``client`` of ``clients`` sends, in order, until it runs out."""
        if self.ready:
            return iter(self.ready[client::clients])
        return (self.body.replace(KEY_PLACEHOLDER, self.key(client, number)) for number in count())


@dataclass
class ClientResult:
    """What one client process saw inside the window."""

    completed: int = 0
    latencies: array = field(default_factory=lambda: array("d"))
    failures: int = 0
    failure_samples: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0
    ran_out: bool = False
    """The client used up its ready bodies before the window ended."""
    finished_at: float = 0.0


@dataclass
class LoadResult:
    """The clients' results together: successes, latencies (seconds, sorted) and failures."""

    workload: str
    clients: int
    elapsed_seconds: float
    completed: int
    latencies: list[float]
    failures: int
    failure_samples: list[str]
    client_cpu_seconds: float
    ran_out: bool
    probe_increase: tuple[float, ...] | None

    @property
    def requests_per_second(self) -> float:
        return self.completed / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def latency_percentile(self, percent: int) -> float | None:
        """The ``percent``-th percentile latency in seconds (None with fewer than 2 replies)."""
        if len(self.latencies) < 2:
            return None
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[percent - 1]


def request_head(port: int, soap_action: str, body_length: int) -> bytes:
    """The HTTP/1.1 head of a SOAP 1.1 POST to ``127.0.0.1:port``."""
    return (
        "POST / HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: text/xml; charset=utf-8\r\n"
        f'SOAPAction: "{soap_action}"\r\n'
        f"Content-Length: {body_length}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


def status_problem(status: int, reply: bytes) -> str:
    """What a reply whose status is not 200 says: the status, and its SOAP fault's text or the
    start of its body."""
    found = FAULT_TEXT.search(reply)
    text = found.group(1) if found else reply[:100]
    said = text.decode(errors="replace").strip()
    return f"HTTP {status}: {said}" if said else f"HTTP {status}"


def _receive(connection: socket.socket) -> bytes:
    data = connection.recv(65536)
    if not data:
        raise ConnectionError("connection closed before the reply was complete")
    return data


def exchange(port: int, request: bytes) -> tuple[int, bytes]:
    """Send ``request`` on a new connection to ``127.0.0.1:port``: the reply's status and body."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as connection:
        connection.settimeout(REQUEST_TIMEOUT)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.connect(("127.0.0.1", port))
        connection.sendall(request)
        received = bytearray()
        while (head_end := received.find(b"\r\n\r\n")) < 0:
            received += _receive(connection)
        head = bytes(received[:head_end]).lower()
        status = int(head.split(None, 2)[1])
        marker = head.find(CONTENT_LENGTH)
        if marker < 0:
            raise ValueError("reply without Content-Length")
        value_end = head.find(b"\r\n", marker + 2)
        length = int(head[marker + len(CONTENT_LENGTH) : value_end if value_end >= 0 else None])
        body_start = head_end + 4
        while len(received) - body_start < length:
            received += _receive(connection)
        return status, bytes(received[body_start : body_start + length])


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_client(
    port: int,
    workload: Workload,
    client: int,
    clients: int,
    window: tuple[float, float, float],
    results: multiprocessing.Queue,
) -> None:
    """Client ``client`` of ``clients``: requests from ``window[0]``, counted from ``window[1]``
    until ``window[2]``."""
    start, window_start, window_end = window
    result = ClientResult()
    bodies = workload.bodies(client, clients)
    cpu_at_window_start: float | None = None
    time.sleep(max(0.0, start - time.monotonic()))
    while True:
        body = next(bodies, None)
        if body is None:
            result.ran_out = True
            break
        sent = time.monotonic()
        if sent >= window_end:
            break
        if cpu_at_window_start is None and sent >= window_start:
            cpu_at_window_start = _cpu_seconds()
        head = request_head(port, workload.soap_action, len(body))
        try:
            status, reply = exchange(port, head + body)
            problem = (
                status_problem(status, reply) if status != 200 else workload.check(body, reply)
            )
        except (OSError, ValueError, IndexError) as error:
            problem = f"{type(error).__name__}: {error}"
        received = time.monotonic()
        if received >= window_end:
            break
        if received < window_start:
            continue
        if problem is None:
            result.completed += 1
            result.latencies.append(received - sent)
        else:
            result.failures += 1
            samples = result.failure_samples
            if problem not in samples and len(samples) < FAILURE_SAMPLES:
                samples.append(problem)
    if cpu_at_window_start is not None:
        result.cpu_seconds = _cpu_seconds() - cpu_at_window_start
    result.finished_at = time.monotonic()
    results.put(result)


def drive(
    port: int,
    workload: Workload,
    *,
    clients: int,
    warmup: float,
    seconds: float,
    probe: Callable[[], tuple[float, ...] | None] | None = None,
) -> LoadResult:
    """Run ``workload`` against ``127.0.0.1:port`` from ``clients`` processes: ``warmup``
    seconds uncounted, then a window of ``seconds``. ``probe`` (counters such as CPU seconds)
    is read at the window's start and end; the result holds the counters' increase."""
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()
    start = time.monotonic() + START_DELAY
    window = (start, start + warmup, start + warmup + seconds)
    processes = [
        context.Process(target=_run_client, args=(port, workload, client, clients, window, results))
        for client in range(clients)
    ]
    for process in processes:
        process.start()
    probe_increase = None
    if probe is not None:
        time.sleep(max(0.0, window[1] - time.monotonic()))
        at_start = probe()
        time.sleep(max(0.0, window[2] - time.monotonic()))
        at_end = probe()
        if at_start is not None and at_end is not None:
            probe_increase = tuple(end - begin for begin, end in zip(at_start, at_end, strict=True))
    collected: list[ClientResult] = []
    try:
        for _ in processes:
            timeout = max(0.0, window[2] - time.monotonic()) + REQUEST_TIMEOUT + 10
            collected.append(results.get(timeout=timeout))
    except queue.Empty:
        raise RuntimeError(f"{workload.name}: a client process gave no result") from None
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    finished = max(result.finished_at for result in collected)
    samples = list(
        dict.fromkeys(sample for result in collected for sample in result.failure_samples)
    )
    return LoadResult(
        workload=workload.name,
        clients=clients,
        elapsed_seconds=min(seconds, finished - window[1]),
        completed=sum(result.completed for result in collected),
        latencies=sorted(latency for result in collected for latency in result.latencies),
        failures=sum(result.failures for result in collected),
        failure_samples=samples[:FAILURE_SAMPLES],
        client_cpu_seconds=sum(result.cpu_seconds for result in collected),
        ran_out=any(result.ran_out for result in collected),
        probe_increase=probe_increase,
    )
