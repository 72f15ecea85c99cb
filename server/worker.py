"""The worker behind ``temix serve``: one process, one thread, an asyncio loop that reads each
request whole, within time and size limits, before the app sees any of it.

A sync worker reads a request while the app waits, so a client sending a byte a second, or a
few idle connections, hold the worker (issue 21: five idle connections delayed a signed
request by 24 s). Here every connection is read without blocking, and framed by h11:

- the kernel hands the worker a connection only once its first bytes are there
  (``TCP_DEFER_ACCEPT``, for up to ``header_timeout``), so silent connections, and a flood's
  that are reset at once, never reach the loop (measured by tests/benchmarks/bench_attack.py:
  a flooder resetting 3,200 connections a second put the legitimate p99 at 164 ms without
  it, against 8 ms quiet; with it, and the full attack load, at 11 to 15 ms);
- a new connection has ``header_timeout`` seconds to send its whole head (408 if it sent part
  of one, closed if it sent nothing); a kept-alive one has ``keepalive_timeout`` seconds to
  start its next request, and then ``header_timeout`` for the head;
- the body must be all there ``body_timeout`` seconds after the head (408), and a client that
  stops reading its replies is dropped after ``body_timeout`` seconds too;
- a head over :data:`MAX_HEAD_BYTES` is refused 431; a request whose body is over
  ``max_body_bytes`` goes to the app as soon as that is known, with what has arrived of its
  body (never more than the limit and one byte), so the app answers it 413 and records the
  exchange as it records every other, and the connection is closed;
- a request framed two ways (Content-Length and Transfer-Encoding both, which h11 accepts and
  RFC 9112 section 6.3 lets a server refuse, since a proxy may read it the other way) or
  badly is refused 400, and the connection closed;
- with ``max_connections`` connections open in the worker, a new one first displaces one that
  is waiting (see :meth:`BufferingWorker.make_room`), and is answered 503 when none is.

A request complete in memory goes to the app as a PEP 3333 environ, in the loop's thread
(:class:`temix.server.soap.SoapApplication` is one thread per process): meanwhile other
clients' bytes wait in the kernel, and none of them can keep the app from its next request.
Keep-alive and pipelining follow HTTP/1.1, as h11 tracks them.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import resource
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import h11
from gunicorn import sock
from gunicorn.workers.base import Worker

from temix.server.soap import TLS_CLIENT_CERTIFICATE_KEY

MAX_HEAD_BYTES = 65536
"""The most bytes a request line and headers may take."""
HEARTBEAT_SECONDS = 0.25
"""How often the worker tells the master it is alive and checks for a stop signal."""
ACCEPT_BATCH = 100
"""The most connections the loop accepts before it reads the ones it has (asyncio accepts up
to its server's backlog at a time, and a flood's connections, reset by their client, count
against the cap until they are read). The kernel's queue keeps gunicorn's ``backlog``."""
LINGER_SECONDS = 1.0
"""How long a connection being closed is read, and what it sends dropped, before it is cut."""
SPARE_OPEN_FILES = 256
"""Open files the worker keeps for its database, logs and listeners above its connections."""


@dataclass(frozen=True)
class ConnectionLimits:
    """How long and how much a client may take before it is cut off; seconds and bytes."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 5.0
    max_connections: int = 1000
    max_body_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keepalive_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be more than 0 seconds, not {getattr(self, name)}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections}")
        if self.max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be 0 or more, not {self.max_body_bytes}")


DEFAULT_LIMITS = ConnectionLimits()


class Refusal(Exception):
    """A request refused before the app sees it: the status and a line of text for the body.
    The connection is closed after the answer."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text

    def response(self) -> bytes:
        """The whole answer, written without h11 (whose state may be an error by now)."""
        body = f"{self.text}\n".encode()
        reason = _REASONS.get(self.status, "Error")
        return (
            f"HTTP/1.1 {self.status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body


_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
TOO_MANY_CONNECTIONS = Refusal(503, "too many connections")
TOO_SLOW = Refusal(408, "the request took too long to arrive")
TWO_FRAMINGS = Refusal(400, "the request has both Content-Length and Transfer-Encoding")


def refusal_of(error: h11.RemoteProtocolError) -> Refusal:
    """The answer to a request h11 could not frame: 431 for a head over the limit, else 400."""
    status = error.error_status_hint if error.error_status_hint in _REASONS else 400
    return Refusal(status, f"the request is malformed: {error}")


def check_framing(request: h11.Request) -> None:
    """Refuse a request framed two ways (h11 takes Content-Length and Transfer-Encoding both)."""
    names = {name for name, _ in request.headers}
    if b"content-length" in names and b"transfer-encoding" in names:
        raise TWO_FRAMINGS


def declared_length(request: h11.Request) -> int | None:
    """The request's Content-Length (h11 has checked it is one number), None when chunked."""
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)
    return None


def wsgi_environ(
    request: h11.Request,
    body: bytes,
    *,
    whole: bool,
    peer: tuple[str, int] | None,
    local: tuple[str, int] | None,
    scheme: str,
) -> dict[str, Any]:
    """The PEP 3333 environ of ``request`` with ``body``. A ``whole`` body is dechunked, so its
    length is ``CONTENT_LENGTH`` whatever the framing was; a part of one (a body over the limit)
    keeps the declared length, or, chunked, has none and ends where the part ends."""
    target = urlsplit(request.target.decode("latin-1"))
    host, port = (local[0], local[1]) if local else ("localhost", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method.decode("latin-1"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(target.path or "/").decode("latin-1"),
        "QUERY_STRING": target.query,
        "SERVER_NAME": str(host),
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": f"HTTP/{request.http_version.decode('latin-1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    length = len(body) if whole else declared_length(request)
    if length is None:
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(length)
    if peer:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = str(peer[0]), str(peer[1])
    for raw_name, raw_value in request.headers:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue
        key = name if name == "CONTENT_TYPE" else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


_TEXT = [("Content-Type", "text/plain")]


@dataclass
class Reply:
    """What the app answered: status line, headers and the whole body."""

    status: int
    reason: bytes
    headers: list[tuple[str, str]]
    body: bytes


def run_app(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Reply:
    """Call the WSGI ``app`` and collect its whole reply (temix's replies are built in memory,
    so collecting costs nothing and lets the worker state their length)."""
    started: list[Reply] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        code, _, reason = status.partition(" ")
        started[:] = [Reply(int(code), reason.encode("latin-1"), list(headers), b"")]
        return lambda data: chunks_written.append(data)

    chunks_written: list[bytes] = []
    chunks = app(environ, start_response)
    try:
        body = b"".join([*chunks_written, *chunks])
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError("the app returned without calling start_response")
    reply = started[0]
    reply.body = body
    return reply


def allow_open_files(connections: int) -> None:
    """Raise the soft open-file limit so ``connections`` sockets fit, as far as the hard limit
    allows (the usual soft limit, 1024, is below the default connection cap plus the spare)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_OPEN_FILES
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class BufferingWorker(Worker):
    """A gunicorn worker serving every connection from one asyncio loop, the app called only
    with whole requests (see the module docstring). ``limits`` is set on a subclass."""

    limits: ConnectionLimits = DEFAULT_LIMITS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[_Connection] = set()
        self.never_served: dict[_Connection, None] = {}
        self.idle: dict[_Connection, None] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def init_signals(self) -> None:
        """SIGINT drains, as SIGTERM does (gunicorn's own workers quit at once on SIGINT)."""
        super().init_signals()
        signal.signal(signal.SIGINT, self.handle_exit)
        signal.siginterrupt(signal.SIGINT, False)

    def run(self) -> None:
        allow_open_files(self.limits.max_connections)
        self.loop = loop = asyncio.new_event_loop()
        context = sock.ssl_context(self.cfg) if self.cfg.is_ssl else None
        servers = []
        for listener in self.sockets:
            listener.setblocking(False)
            servers.append(
                loop.run_until_complete(
                    loop.create_server(
                        lambda: _Connection(self),
                        sock=listener.sock,
                        ssl=context,
                        ssl_handshake_timeout=self.limits.header_timeout if context else None,
                        backlog=ACCEPT_BATCH,
                    )
                )
            )
            listener.sock.listen(self.cfg.backlog)
            listener.sock.setsockopt(
                socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, math.ceil(self.limits.header_timeout)
            )
        loop.call_soon(self._heartbeat, servers)
        try:
            loop.run_forever()
        finally:
            for connection in list(self.connections):
                connection.transport.abort()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def _heartbeat(self, servers: list[asyncio.Server]) -> None:
        self.notify()
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            self.alive = False
        assert self.loop is not None
        if self.alive:
            self.loop.call_later(HEARTBEAT_SECONDS, self._heartbeat, servers)
            return
        for server in servers:
            server.close()
        self._drain(time.monotonic() + self.cfg.graceful_timeout)

    def _drain(self, deadline: float) -> None:
        """Close waiting connections and let the others finish their request, until none is
        left or ``deadline`` passes."""
        assert self.loop is not None
        self.notify()
        for connection in [*self.never_served, *self.idle]:
            connection.transport.close()
        if not self.connections or time.monotonic() >= deadline:
            self.loop.stop()
            return
        self.loop.call_later(HEARTBEAT_SECONDS / 5, self._drain, deadline)

    def make_room(self) -> bool:
        """Close one waiting connection so a new one fits under the cap; whether one was.

        A connection that has not yet sent a whole request head goes first, the oldest first
        (a flood's connections, reset by their client but not yet read, are of this kind, and
        so is a slow client's); then one idle between requests, the longest idle. One in the
        middle of a request is never closed."""
        for waiting in (self.never_served, self.idle):
            if waiting:
                victim = next(iter(waiting))
                victim.forget()
                victim.transport.abort()
                return True
        return False

    def answer(
        self, request: h11.Request, body: bytes, connection: _Connection, *, whole: bool = True
    ) -> Reply:
        """The app's reply to ``request`` with ``body`` (``whole``, or the part of one over
        the limit that has arrived); a reply of 500 if the app failed."""
        environ = wsgi_environ(
            request,
            body,
            whole=whole,
            peer=connection.peer,
            local=connection.local,
            scheme=connection.scheme,
        )
        if connection.tls_certificate:
            environ[TLS_CLIENT_CERTIFICATE_KEY] = connection.tls_certificate
        self.nr += 1
        if self.nr >= self.max_requests:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
        try:
            return run_app(self.wsgi, environ)
        except Exception:
            self.log.exception("Error handling request")
            return Reply(500, b"Internal Server Error", _TEXT, b"internal server error\n")


class _Connection(asyncio.Protocol):
    """One client connection: its bytes fed to h11 until a whole request is there, within the
    worker's limits, then answered."""

    def __init__(self, worker: BufferingWorker) -> None:
        self.worker = worker
        self.limits = worker.limits
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.request: h11.Request | None = None
        self.body = bytearray()
        self.head_started = False
        self.closing = False
        self.writing_paused = False
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport
        self.peer: Any = None
        self.local: Any = None
        self.scheme = "http"
        self.tls_certificate: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        self.local = transport.get_extra_info("sockname")
        tls = transport.get_extra_info("ssl_object")
        if isinstance(tls, ssl.SSLObject):
            self.scheme = "https"
            self.tls_certificate = tls.getpeercert(binary_form=True)
        worker = self.worker
        if not worker.alive or (
            len(worker.connections) >= self.limits.max_connections and not worker.make_room()
        ):
            self._refuse(TOO_MANY_CONNECTIONS)
            return
        worker.connections.add(self)
        worker.never_served[self] = None
        self._expect(self.limits.header_timeout)

    def forget(self) -> None:
        """Stop counting this connection in the worker (it is closing)."""
        self.worker.connections.discard(self)
        self.worker.never_served.pop(self, None)
        self.worker.idle.pop(self, None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.forget()
        self._cancel_timer()

    def data_received(self, data: bytes) -> None:
        if self.closing or self.transport.is_closing():
            return
        if self.request is None and not self.head_started:
            self.head_started = True
            if self in self.worker.idle:
                self._expect(self.limits.header_timeout)
        self.http.receive_data(data)
        self._answer_whole_requests()

    def eof_received(self) -> bool:
        if self.closing:
            return False
        self.http.receive_data(b"")
        self._answer_whole_requests()
        return False

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.transport.pause_reading()
        self._expect(self.limits.body_timeout)

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.transport.resume_reading()
        self._expect(self.limits.keepalive_timeout)
        self._answer_whole_requests()

    def _answer_whole_requests(self) -> None:
        while not (self.writing_paused or self.closing or self.transport.is_closing()):
            try:
                event = self.http.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if isinstance(event, h11.ConnectionClosed):
                    self.transport.close()
                    return
                self._take(event)
            except h11.RemoteProtocolError as error:
                self._refuse(refusal_of(error))
                return
            except Refusal as refusal:
                self._refuse(refusal)
                return

    def _take(self, event: h11.Event) -> None:
        if isinstance(event, h11.Request):
            check_framing(event)
            self.worker.never_served.pop(self, None)
            self.worker.idle.pop(self, None)
            self.request, self.head_started = event, False
            self._expect(self.limits.body_timeout)
            length = declared_length(event)
            if length is not None and length > self.limits.max_body_bytes:
                self._answer_too_large()
            elif self.http.they_are_waiting_for_100_continue:
                self.transport.write(
                    self.http.send(h11.InformationalResponse(status_code=100, headers=[]))
                )
        elif isinstance(event, h11.Data):
            self.body += event.data
            if len(self.body) > self.limits.max_body_bytes:
                self._answer_too_large()
        elif isinstance(event, h11.EndOfMessage):
            assert self.request is not None
            request, body = self.request, bytes(self.body)
            self.request, self.body = None, bytearray()
            self._send(request, self.worker.answer(request, body, self))

    def _answer_too_large(self) -> None:
        """Let the app refuse a body over the limit, then close without reading the rest."""
        assert self.request is not None
        part = bytes(self.body[: self.limits.max_body_bytes + 1])
        self._send(self.request, self.worker.answer(self.request, part, self, whole=False))

    def _send(self, request: h11.Request, reply: Reply) -> None:
        headers = [(name, value) for name, value in reply.headers if name.lower() != "connection"]
        if not any(name.lower() == "content-length" for name, _ in headers):
            headers.append(("Content-Length", str(len(reply.body))))
        if not self.worker.alive:
            headers.append(("Connection", "close"))
        response = h11.Response(status_code=reply.status, headers=headers, reason=reply.reason)
        data = self.http.send(response)
        if request.method != b"HEAD":
            data += self.http.send(h11.Data(data=reply.body))
        data += self.http.send(h11.EndOfMessage())
        self.transport.write(data)
        if self.http.our_state is h11.MUST_CLOSE or self.http.their_state is not h11.DONE:
            self._close_lingering()
            return
        self.http.start_next_cycle()
        self.worker.idle[self] = None
        if not self.writing_paused:
            self._expect(self.limits.keepalive_timeout)

    def _expect(self, seconds: float) -> None:
        """Cut the connection off in ``seconds`` unless something resets the clock first."""
        self._cancel_timer()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._time_out)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _time_out(self) -> None:
        self.timer = None
        if self.writing_paused:
            self.transport.abort()
        elif self.http.their_state is h11.IDLE and not self.http.trailing_data[0]:
            self.transport.close()
        else:
            self._refuse(TOO_SLOW)

    def _refuse(self, refusal: Refusal) -> None:
        """Answer ``refusal`` and close, reading and dropping what the client still sends for
        up to :data:`LINGER_SECONDS`: closing with its bytes unread would reset the connection,
        and the client could lose the answer."""
        self.transport.write(refusal.response())
        self._close_lingering()

    def _close_lingering(self) -> None:
        self._cancel_timer()
        self.forget()
        self.closing = True
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.abort)


def limited_worker(limits: ConnectionLimits) -> Callable[..., BufferingWorker]:
    """A :class:`BufferingWorker` class with ``limits``, as gunicorn's ``worker_class``."""
    return type("TemixWorker", (BufferingWorker,), {"limits": limits})
