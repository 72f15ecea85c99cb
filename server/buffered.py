"""The worker behind ``temix serve``: one process, one thread, an asyncio loop that reads each
request whole, within time and size limits, before the app sees any of it.

A sync worker reads a request while the app waits, so a client sending a byte a second, or a
few idle connections, hold the worker (issue 21: five idle connections delayed a signed
request by 24 s). Here every connection is read without blocking:

- a new connection has ``header_timeout`` seconds to send its whole head (408 if it sent part
  of one, closed if it sent nothing); a kept-alive one has ``keepalive_timeout`` seconds to
  start its next request, and then ``header_timeout`` for the head;
- the body must be all there ``body_timeout`` seconds after the head (408), and a client that
  stops reading its replies is dropped after ``body_timeout`` seconds too;
- a head over :data:`MAX_HEAD_BYTES` is refused 431, and a body over ``max_body_bytes`` 413,
  before it is read; framing that could be read two ways (Content-Length with
  Transfer-Encoding, a bad chunk size) is refused 400 and the connection closed;
- with ``max_connections`` connections open in the worker, one more is answered 503 and closed.

A request complete in memory goes through gunicorn's own parser and WSGI environ to the app,
which runs in the loop's thread (:class:`temix.server.soap.SoapApplication` is one thread per
process): meanwhile other clients' bytes wait in the kernel, and none of them can keep the app
from its next request. Replies are queued on the connection; keep-alive follows HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gunicorn import http, sock
from gunicorn.http import wsgi
from gunicorn.workers.base import Worker

from temix.server.soap import TLS_CLIENT_CERTIFICATE_KEY

MAX_HEAD_BYTES = 65536
"""The most bytes a request line and headers may take (gunicorn's own per-line and per-field
limits apply as well)."""
HEARTBEAT_SECONDS = 0.25
"""How often the worker tells the master it is alive and checks for a stop signal."""

_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[^\r\n]*)?")
_MAX_CHUNK_LINE = 4096
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,19}")


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
    """A request refused before the app sees it: the status, its reason phrase and a line of
    text for the body. The connection is closed after the answer."""

    def __init__(self, status: int, reason: str, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.reason = reason
        self.text = text

    def response(self) -> bytes:
        body = f"{self.text}\n".encode()
        return (
            f"HTTP/1.1 {self.status} {self.reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body


TOO_MANY_CONNECTIONS = Refusal(503, "Service Unavailable", "too many connections")


@dataclass(frozen=True)
class Head:
    """Where a request's head ends in the buffer (after its blank line), how its body is
    framed, and whether the client waits for ``100 Continue`` before sending it."""

    end: int
    content_length: int
    chunked: bool
    expects_continue: bool


def read_head(buffer: bytes | bytearray) -> Head | None:
    """The head at the start of ``buffer`` once it is all there, else None.

    Raises :class:`Refusal` for a head over :data:`MAX_HEAD_BYTES` and for framing that is not
    exactly one Content-Length or a Transfer-Encoding ending in chunked."""
    blank_line = buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES)
    if blank_line < 0:
        if len(buffer) >= MAX_HEAD_BYTES:
            raise Refusal(431, "Request Header Fields Too Large", "the request head is too large")
        return None
    lengths: list[bytes] = []
    codings: list[bytes] = []
    expects_continue = False
    for line in bytes(buffer[:blank_line]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            codings += [coding.strip() for coding in value.split(b",")]
        elif name == b"expect":
            expects_continue = value == b"100-continue"
    if codings and (lengths or codings[-1] != b"chunked"):
        raise Refusal(400, "Bad Request", "the request body's framing is ambiguous")
    if len(set(lengths)) > 1 or not all(map(_CONTENT_LENGTH.fullmatch, lengths)):
        raise Refusal(400, "Bad Request", "the request's Content-Length is invalid")
    return Head(
        end=blank_line + 4,
        content_length=int(lengths[0]) if lengths else 0,
        chunked=bool(codings),
        expects_continue=expects_continue,
    )


def request_end(buffer: bytes | bytearray, head: Head, max_body_bytes: int) -> int | None:
    """Where the request whose ``head`` starts ``buffer`` ends, once its body is all there.

    Raises :class:`Refusal` (413) as soon as the body is known to be over ``max_body_bytes``,
    and (400) for a malformed chunk."""
    if not head.chunked:
        if head.content_length > max_body_bytes:
            raise _too_large(max_body_bytes)
        end = head.end + head.content_length
        return end if len(buffer) >= end else None
    position, body_bytes = head.end, 0
    while True:
        line_end = buffer.find(b"\r\n", position, position + _MAX_CHUNK_LINE)
        if line_end < 0:
            if len(buffer) - position >= _MAX_CHUNK_LINE:
                raise Refusal(400, "Bad Request", "a chunk size line is too long")
            return None
        size_line = _CHUNK_SIZE_LINE.fullmatch(bytes(buffer[position:line_end]))
        if size_line is None:
            raise Refusal(400, "Bad Request", "a chunk size is invalid")
        size = int(size_line.group(1), 16)
        body_bytes += size
        if body_bytes > max_body_bytes:
            raise _too_large(max_body_bytes)
        position = line_end + 2
        if size == 0:
            return _trailers_end(buffer, position)
        if len(buffer) < position + size + 2:
            return None
        if buffer[position + size : position + size + 2] != b"\r\n":
            raise Refusal(400, "Bad Request", "a chunk is not followed by CRLF")
        position += size + 2


def _trailers_end(buffer: bytes | bytearray, position: int) -> int | None:
    if buffer[position : position + 2] == b"\r\n":
        return position + 2
    if len(buffer) < position + 2:
        return None
    blank_line = buffer.find(b"\r\n\r\n", position, position + MAX_HEAD_BYTES)
    if blank_line < 0:
        if len(buffer) - position >= MAX_HEAD_BYTES:
            raise Refusal(431, "Request Header Fields Too Large", "the trailers are too large")
        return None
    return blank_line + 4


def _too_large(max_body_bytes: int) -> Refusal:
    return Refusal(413, "Content Too Large", f"the request body is over {max_body_bytes} bytes")


class BufferingWorker(Worker):
    """A gunicorn worker serving every connection from one asyncio loop, the app called only
    with whole requests (see the module docstring). ``limits`` is set on a subclass."""

    limits: ConnectionLimits = DEFAULT_LIMITS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[_Connection] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    def init_signals(self) -> None:
        """SIGINT drains, as SIGTERM does (gunicorn's own workers quit at once on SIGINT)."""
        super().init_signals()
        signal.signal(signal.SIGINT, self.handle_exit)
        signal.siginterrupt(signal.SIGINT, False)

    def run(self) -> None:
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
                        backlog=self.cfg.backlog,
                    )
                )
            )
        loop.call_soon(self._heartbeat, servers)
        try:
            loop.run_forever()
        finally:
            for connection in list(self.connections):
                connection.abort()
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
        deadline = time.monotonic() + self.cfg.graceful_timeout
        self._drain(deadline)

    def _drain(self, deadline: float) -> None:
        """Close idle connections and let the others finish their request, until none is
        left or ``deadline`` passes."""
        assert self.loop is not None
        self.notify()
        for connection in list(self.connections):
            connection.close_if_idle()
        if not self.connections or time.monotonic() >= deadline:
            self.loop.stop()
            return
        self.loop.call_later(HEARTBEAT_SECONDS / 5, self._drain, deadline)

    def answer(self, request: bytes, connection: _Connection) -> bool:
        """Run the app on ``request`` (complete), queue its reply on ``connection``; whether
        the connection stays open for another request."""
        client = _TransportSocket(connection.transport)
        peer = connection.peer
        parsed = None
        response = None
        try:
            parsed = next(http.get_parser(self.cfg, [request], peer))
            response, environ = wsgi.create(parsed, client, peer, connection.local, self.cfg)
            if connection.tls_certificate:
                environ[TLS_CLIENT_CERTIFICATE_KEY] = connection.tls_certificate
            self.nr += 1
            if self.nr >= self.max_requests:
                self.log.info("Autorestarting worker after current request.")
                self.alive = False
            if not self.alive:
                response.force_close()
            chunks = self.wsgi(environ, response.start_response)
            try:
                for chunk in chunks:
                    response.write(chunk)
                response.close()
            finally:
                close_chunks = getattr(chunks, "close", None)
                if close_chunks is not None:
                    close_chunks()
            return not response.should_close()
        except Exception as error:
            if response is not None and response.headers_sent:
                self.log.exception("Error handling request")
            else:
                self.handle_error(parsed, client, peer, error)
            return False


class _TransportSocket:
    """What gunicorn's response writer needs of a socket, writing to an asyncio transport."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def sendall(self, data: bytes) -> None:
        self._transport.write(data)

    send = sendall


class _Connection(asyncio.Protocol):
    """One client connection: bytes buffered until a whole request is there, within the
    worker's limits, then answered."""

    def __init__(self, worker: BufferingWorker) -> None:
        self.worker = worker
        self.limits = worker.limits
        self.buffer = bytearray()
        self.head: Head | None = None
        self.continued = False
        self.writing_paused = False
        self.answering = False
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport
        self.peer: Any = None
        self.local: Any = None
        self.tls_certificate: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        self.local = transport.get_extra_info("sockname")
        tls = transport.get_extra_info("ssl_object")
        if isinstance(tls, ssl.SSLObject):
            self.tls_certificate = tls.getpeercert(binary_form=True)
        self.worker.connections.add(self)
        if len(self.worker.connections) > self.limits.max_connections or not self.worker.alive:
            self._refuse(TOO_MANY_CONNECTIONS)
            return
        self._expect(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.connections.discard(self)
        self._cancel_timer()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if not self.buffer and self.head is None:
            self._expect(self.limits.header_timeout)
        self.buffer += data
        self._answer_whole_requests()

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.transport.pause_reading()
        self._expect(self.limits.body_timeout)

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.transport.resume_reading()
        if self.buffer:
            self._expect(self.limits.header_timeout)
        else:
            self._expect(self.limits.keepalive_timeout)
        self._answer_whole_requests()

    def close_if_idle(self) -> None:
        if not self.buffer and self.head is None and not self.answering:
            self.transport.close()

    def abort(self) -> None:
        self.transport.abort()

    def _answer_whole_requests(self) -> None:
        while self.buffer and not self.writing_paused and not self.transport.is_closing():
            try:
                end = self._request_end()
            except Refusal as refusal:
                self._refuse(refusal)
                return
            if end is None:
                return
            request = bytes(self.buffer[:end])
            del self.buffer[:end]
            self.head, self.continued = None, False
            self.answering = True
            try:
                keep_alive = self.worker.answer(request, self)
            finally:
                self.answering = False
            if not keep_alive or not self.worker.alive:
                self.transport.close()
                return
            if not self.writing_paused:
                self._expect(
                    self.limits.header_timeout if self.buffer else self.limits.keepalive_timeout
                )

    def _request_end(self) -> int | None:
        if self.head is None:
            self.head = read_head(self.buffer)
            if self.head is None:
                return None
            self._expect(self.limits.body_timeout)
        end = request_end(self.buffer, self.head, self.limits.max_body_bytes)
        if end is None and self.head.expects_continue and not self.continued:
            self.continued = True
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return end

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
        elif self.buffer or self.head is not None:
            self._refuse(Refusal(408, "Request Timeout", "the request took too long to arrive"))
        else:
            self.transport.close()

    def _refuse(self, refusal: Refusal) -> None:
        self._cancel_timer()
        self.buffer.clear()
        self.transport.write(refusal.response())
        self.transport.close()


def limited_worker(limits: ConnectionLimits) -> Callable[..., BufferingWorker]:
    """A :class:`BufferingWorker` class with ``limits``, as gunicorn's ``worker_class``."""
    return type("TemixWorker", (BufferingWorker,), {"limits": limits})
