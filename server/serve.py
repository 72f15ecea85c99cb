"""The process host of the temix WSGI app: a gunicorn pre-fork master with buffering workers.

Decisions worth knowing (``shared/reference/TOOLCHAIN.md``, "Hosting"):

- Every worker is a process with one thread, as :class:`temix.server.soap.SoapApplication`
  requires; throughput scales with ``workers``, which all accept on one shared socket.
- ``app_factory`` runs in each worker after the fork and never in the master, so no database
  connection or lxml state crosses a fork.
- The socket is bound here, before gunicorn starts: a busy port is one line on stderr (gunicorn
  would retry for five seconds, logging each attempt), and port 0 yields the port the kernel
  chose.
- SIGTERM and SIGINT both drain: the master stops listening, each worker finishes the request
  it is serving (for up to ``graceful_timeout`` seconds) and the process exits 0. gunicorn on
  its own quits at once on SIGINT, which a terminal's Ctrl-C sends to the workers too. SIGQUIT
  quits at once (with gunicorn 27, so does a second SIGINT during the drain).
- Each worker is a :class:`temix.server.worker.BufferingWorker`: it reads every connection
  without blocking and calls the app with whole requests only, so idle and slow clients hold
  no worker; ``limits`` (:class:`~temix.server.worker.ConnectionLimits`) bound how long a
  head, a body and an idle kept-alive connection may take, the body's size and the
  connections per worker. gunicorn's sync workers (one connection at a time, read while the
  app waits) let five idle connections stall a signed request for 24 s; tests/benchmarks/
  bench_attack.py measures this worker under idle, slow and connection-flood clients.
- A request running longer than ``request_timeout`` seconds has its worker replaced by a new
  one.
- With ``tls``, the server speaks HTTPS; with a client CA as well, it requires client
  certificates (mutual TLS); the worker puts the one each request came with, DER-encoded, in
  the WSGI environ under ``temix.tls_client_certificate``.
- stdout carries a single line, ``WSDL http://HOST:PORT/?wsdl``, once the first worker has built
  the app; stderr carries gunicorn's error log and one JSON line per request from
  :class:`RequestLog` (gunicorn's own access log is off).
"""

from __future__ import annotations

import json
import math
import os
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from temix.server.worker import (
    DEFAULT_LIMITS,
    BufferingWorker,
    ConnectionLimits,
    limited_worker,
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

EXIT_STOPPED = 0
EXIT_CANNOT_LISTEN = 2
EXIT_WORKER_BOOT_FAILED = Arbiter.WORKER_BOOT_ERROR

LISTEN_BACKLOG = 2048
OPERATION_KEY = "temix.operation"
OUTCOME_KEY = "temix.outcome"

_FIRST_WORKER_AGE = 1


def print_wsdl_line(wsdl_url: str) -> None:
    """The default ``ready`` callback: ``WSDL <url>`` on stdout, flushed at once."""
    print(f"WSDL {wsdl_url}", flush=True)


def serve(
    app_factory: Callable[[], WsgiApp],
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    graceful_timeout: float = 30.0,
    limits: ConnectionLimits = DEFAULT_LIMITS,
    request_timeout: float = 30.0,
    tls: Tls | None = None,
    ready: Callable[[str], object] = print_wsdl_line,
    log_level: str = "info",
) -> int:
    """Serve the WSGI app ``app_factory()`` builds on ``host:port`` until a signal stops it.

    ``ready(wsdl_url)`` is called once, in the first worker, after the factory ran there; a
    request sent from then on is answered. ``graceful_timeout`` is rounded up to whole seconds.
    ``log_level`` is gunicorn's (``debug``, ``info``, ``warning`` or ``error``).

    Returns the exit status: :data:`EXIT_STOPPED` (0) after a drained stop,
    :data:`EXIT_CANNOT_LISTEN` (2) when the address cannot be bound (one line on stderr),
    :data:`EXIT_WORKER_BOOT_FAILED` (3) when ``app_factory`` or ``ready`` raised in a worker (the
    traceback is in gunicorn's log). Raises :class:`ValueError` for arguments out of range.

    The workers are forks of the caller and leave through ``os._exit`` here, so the caller's
    cleanup (``finally``, ``with``, ``atexit``) runs in the master only.
    """
    _check_arguments(port=port, workers=workers, graceful_timeout=graceful_timeout)
    try:
        listener = _listen(host, port)
    except OSError as error:
        print(
            f"cannot listen on {_authority(host, port)}: {error.strerror or error}",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_CANNOT_LISTEN
    scheme = "http" if tls is None else "https"
    wsdl_url = f"{scheme}://{_authority(host, listener.getsockname()[1])}/?wsdl"

    def announce_from_first_worker(worker: BufferingWorker) -> None:
        if worker.age == _FIRST_WORKER_AGE:
            ready(wsdl_url)

    settings = {
        "bind": [f"fd://{listener.detach()}"],
        "workers": workers,
        "worker_class": limited_worker(limits),
        "timeout": max(1, math.ceil(request_timeout)),
        "threads": 1,
        "graceful_timeout": math.ceil(graceful_timeout),
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": log_level,
        "proc_name": "temix",
        "post_worker_init": announce_from_first_worker,
    }
    if tls is not None:
        settings |= {"certfile": str(tls.certificate), "keyfile": str(tls.key)}
        if tls.client_ca is not None:
            settings |= {"ca_certs": str(tls.client_ca), "cert_reqs": ssl.CERT_REQUIRED}
    master_pid = os.getpid()
    status = EXIT_STOPPED
    try:
        _GunicornHost(app_factory, settings).run()
    except SystemExit as stop:
        status = _exit_status(stop.code)
    if os.getpid() != master_pid:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _check_arguments(*, port: int, workers: int, graceful_timeout: float) -> None:
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, not {port}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if graceful_timeout < 0:
        raise ValueError(f"graceful_timeout must be 0 or more seconds, not {graceful_timeout}")


def _exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` gives the process."""
    if code is None:
        return EXIT_STOPPED
    return code if isinstance(code, int) else 1


def _listen(host: str, port: int) -> socket.socket:
    [(family, _, _, _, address), *_] = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(LISTEN_BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _GunicornHost(BaseApplication):
    """gunicorn configured from a dict, loading the app (wrapped in :class:`RequestLog`)."""

    def __init__(self, app_factory: Callable[[], WsgiApp], settings: dict[str, Any]) -> None:
        self._app_factory = app_factory
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._settings.items():
            self.cfg.set(name, value)
        # Newer gunicorn opens a control socket at one path per user ($HOME/.gunicorn), which
        # two servers would contend for; nothing here uses it.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self) -> WsgiApp:
        return RequestLog(self._app_factory())

    def run(self) -> None:
        _DrainingArbiter(self).run()


class _DrainingArbiter(Arbiter):
    """A master that drains on SIGINT as on SIGTERM."""

    def handle_int(self) -> None:
        self.handle_term()


@dataclass(frozen=True)
class Tls:
    """HTTPS settings: the server's certificate and key (PEM files) and, for mutual TLS, the
    CA that must have issued each client's certificate."""

    certificate: Path
    key: Path
    client_ca: Path | None = None


class RequestLog:
    """WSGI middleware writing one JSON line per request to ``stream`` (stderr by default).

    The fields: ``time`` (start, UTC ISO 8601), ``method``, ``path``, ``query`` (when there is
    one), ``status``, ``duration_ms`` (from the call until the server closes the response, so
    sending the body counts), ``request_bytes`` (body bytes the app read: a body it refused
    unread counts 0), ``response_bytes``, ``pid``, and ``operation`` and ``outcome`` when the app
    set ``environ["temix.operation"]`` and ``environ["temix.outcome"]``.
    """

    def __init__(self, app: WsgiApp, stream: TextIO | None = None) -> None:
        self.app = app
        self._stream = stream

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        exchange = _Exchange(environ, started_at=datetime.now(UTC), started=time.perf_counter())
        environ["wsgi.input"] = exchange.request_body

        def recording_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            exchange.status = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            chunks = self.app(environ, recording_start_response)
        except Exception:
            exchange.status = 500
            self._write(exchange)
            raise
        return _LoggedResponse(chunks, exchange, on_close=self._write)

    def _write(self, exchange: _Exchange) -> None:
        stream = self._stream or sys.stderr
        stream.write(json.dumps(exchange.record(), separators=(",", ":"), default=str) + "\n")
        stream.flush()


class _CountingInput:
    """``wsgi.input`` counting the bytes read through it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.bytes_read = 0

    def _counted(self, data: bytes) -> bytes:
        self.bytes_read += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        return self._counted(self._stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._counted(self._stream.readline(size))

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self._counted(line) for line in self._stream.readlines(hint)]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class _Exchange:
    """What one request and its response measured, for :class:`RequestLog`."""

    def __init__(self, environ: dict[str, Any], *, started_at: datetime, started: float) -> None:
        self.environ = environ
        self.started_at = started_at
        self.started = started
        self.request_body = _CountingInput(environ["wsgi.input"])
        self.status: int | None = None
        self.response_bytes = 0

    def record(self) -> dict[str, Any]:
        environ = self.environ
        record: dict[str, Any] = {
            "time": self.started_at.isoformat(timespec="milliseconds"),
            "method": environ.get("REQUEST_METHOD", ""),
            "path": environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
        }
        if environ.get("QUERY_STRING"):
            record["query"] = environ["QUERY_STRING"]
        record |= {
            "status": self.status,
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
            "request_bytes": self.request_body.bytes_read,
            "response_bytes": self.response_bytes,
            "pid": os.getpid(),
        }
        if OPERATION_KEY in environ:
            record["operation"] = environ[OPERATION_KEY]
        if OUTCOME_KEY in environ:
            record["outcome"] = environ[OUTCOME_KEY]
        return record


class _LoggedResponse:
    """The app's response body, counted as it is sent; closing it writes the log line."""

    def __init__(
        self, chunks: Iterable[bytes], exchange: _Exchange, on_close: Callable[[_Exchange], None]
    ) -> None:
        self._chunks = chunks
        self._exchange = exchange
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._exchange.response_bytes += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close_chunks = getattr(self._chunks, "close", None)
            if close_chunks is not None:
                close_chunks()
        finally:
            self._on_close(self._exchange)
