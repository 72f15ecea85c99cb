"""The process host: ``serve()`` in a subprocess on the toy apps of serve_apps.py, and its
request log middleware in process."""

import http.client
import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from temix.server.serve import (
    EXIT_CANNOT_LISTEN,
    EXIT_WORKER_BOOT_FAILED,
    RequestLog,
    serve,
)

TESTS_DIR = Path(__file__).parent
READY_TIMEOUT = 8.0
EXIT_TIMEOUT = 8.0
REQUEST_TIMEOUT = 8.0
SETTLE_SECONDS = 0.5
"""Time for the server to read what a test sent before the test goes on."""
WSDL_LINE = re.compile(r"WSDL http://127\.0\.0\.1:(\d+)/\?wsdl\n")

LAUNCHER = """
import sys
import serve_apps
from temix.server.worker import ConnectionLimits
from temix.server.serve import serve
sys.exit(
    serve(
        serve_apps.{factory},
        port={port},
        workers={workers},
        graceful_timeout=5,
        limits=ConnectionLimits(**{limits!r}),
    )
)
"""


class ServerProcess:
    """``serve()`` in its own session, stdout piped, stderr in a file."""

    def __init__(self, stderr_path, *, factory="make_app", port=0, workers=1, limits=None, env=()):
        self.stderr_path = stderr_path
        self.port = None
        python_path = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
        launcher = LAUNCHER.format(factory=factory, port=port, workers=workers, limits=limits or {})
        with open(stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", launcher],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, "PYTHONPATH": python_path, **dict(env)},
                start_new_session=True,
            )

    def stdout_line(self):
        """The next stdout line, "" at end of file; fails after READY_TIMEOUT."""
        lines = queue.Queue()
        threading.Thread(
            target=lambda: lines.put(self.process.stdout.readline()), daemon=True
        ).start()
        return lines.get(timeout=READY_TIMEOUT).decode()

    def wait_ready(self):
        line = self.stdout_line()
        announced = WSDL_LINE.fullmatch(line)
        assert announced, f"stdout: {line!r}\nstderr: {self.stderr()}"
        self.port = int(announced.group(1))

    def request(self, method, target, body=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request(method, target, body=body)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def stop(self, stop_signal=signal.SIGTERM):
        self.process.send_signal(stop_signal)
        return self.process.wait(timeout=EXIT_TIMEOUT)

    def stderr(self):
        return self.stderr_path.read_text()

    def log_records(self):
        return [json.loads(line) for line in self.stderr().splitlines() if line.startswith("{")]

    def kill(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process.stdout.close()


@pytest.fixture
def start_server(tmp_path):
    servers = []

    def start(**options):
        server = ServerProcess(tmp_path / f"stderr-{len(servers)}.txt", **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()


def wait_for(condition, timeout=READY_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_wsdl_line_comes_first_and_names_the_port_that_answers(start_server):
    server = start_server()
    server.wait_ready()
    assert server.port != 0
    status, _ = server.request("GET", "/?wsdl")
    assert status == 200
    assert server.stop() == 0
    assert server.process.stdout.read() == b""


def test_each_request_is_one_json_line_on_stderr(start_server):
    server = start_server()
    server.wait_ready()
    before = datetime.now(UTC)
    exchanges = [
        ("GET", "/?wsdl", None),
        ("POST", "/soap", b"<Envelope/>"),
        ("GET", "/?sleep=0.2", None),
    ]
    replies = [server.request(method, target, body) for method, target, body in exchanges]
    assert server.stop() == 0

    records = server.log_records()
    assert [(record["method"], record["path"], record.get("query")) for record in records] == [
        ("GET", "/", "wsdl"),
        ("POST", "/soap", None),
        ("GET", "/", "sleep=0.2"),
    ]
    for record, (_, _, body), (status, reply) in zip(records, exchanges, replies, strict=True):
        assert record["status"] == status == 200
        assert record["request_bytes"] == len(body or b"")
        assert record["response_bytes"] == len(reply)
        assert record["pid"] == json.loads(reply)["pid"]
        started = datetime.fromisoformat(record["time"])
        assert started.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= started <= datetime.now(UTC)
    assert (records[1]["operation"], records[1]["outcome"]) == ("CreateTender", "200")
    assert "operation" not in records[0]
    assert "outcome" not in records[0]
    assert records[2]["duration_ms"] >= 200
    assert 'HTTP/1.1"' not in server.stderr(), "gunicorn's access log is on"


def test_two_workers_answer_from_two_processes(start_server):
    server = start_server(workers=2)
    server.wait_ready()
    pids = set()
    deadline = time.monotonic() + READY_TIMEOUT
    with ThreadPoolExecutor(2) as pool:
        while len(pids) < 2 and time.monotonic() < deadline:
            pending = [pool.submit(server.request, "GET", "/?sleep=0.3") for _ in range(2)]
            pids |= {json.loads(reply.result()[1])["pid"] for reply in pending}
    assert len(pids) == 2
    assert server.process.pid not in pids
    assert server.stop() == 0


def test_the_app_factory_runs_in_the_workers_not_in_the_master(start_server, tmp_path):
    factory_pids = tmp_path / "factory-pids"
    server = start_server(workers=2, env={"FACTORY_PIDS": str(factory_pids)})
    server.wait_ready()
    _, body = server.request("GET", "/")
    assert server.stop() == 0

    reply = json.loads(body)
    master = server.process.pid
    assert reply["factory_pid"] == reply["pid"] != master
    assert reply["parent_pid"] == master
    called_in = [int(pid) for pid in factory_pids.read_text().split()]
    assert reply["pid"] in called_in
    assert master not in called_in
    assert len(set(called_in)) == len(called_in)


@pytest.mark.parametrize(
    ("stop_signal", "to_the_group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["SIGTERM to the master", "SIGINT to master and workers"],
)
def test_a_stop_signal_lets_the_request_in_flight_finish(
    start_server, tmp_path, stop_signal, to_the_group
):
    server = start_server()
    server.wait_ready()
    started = tmp_path / "started"
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(server.request, "GET", f"/?sleep=2&started={quote(str(started))}")
        wait_for(started.exists)
        if to_the_group:
            os.killpg(server.process.pid, stop_signal)
        else:
            server.process.send_signal(stop_signal)
        status, _ = reply.result(timeout=REQUEST_TIMEOUT)
    assert status == 200
    assert server.process.wait(timeout=EXIT_TIMEOUT) == 0


def test_a_busy_port_is_a_one_line_error(start_server):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = start_server(port=port)
        assert server.process.wait(timeout=EXIT_TIMEOUT) == EXIT_CANNOT_LISTEN
    assert server.process.stdout.read() == b""
    assert server.stderr().splitlines() == [
        f"cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_an_app_factory_that_raises_stops_the_server_before_the_wsdl_line(start_server):
    server = start_server(factory="make_broken_app")
    assert server.process.wait(timeout=EXIT_TIMEOUT) == EXIT_WORKER_BOOT_FAILED
    assert server.process.stdout.read() == b""
    assert "this app cannot be built" in server.stderr()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "workers must be at least 1"),
        ({"port": 65536}, "port must be between 0 and 65535"),
        ({"graceful_timeout": -1}, "graceful_timeout must be 0 or more"),
    ],
)
def test_arguments_out_of_range_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        serve(lambda: None, **options)


def _environ(method, path, body, query=""):
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


def test_the_request_log_measures_what_the_app_read_and_sent():
    def app(environ, start_response):
        environ["wsgi.input"].read()
        environ["temix.operation"] = "CreateTender"
        environ["temix.outcome"] = "soap:Client"
        start_response("500 Internal Server Error", [])
        return [b"<Fault/>", b"\n"]

    stream = io.StringIO()
    response = RequestLog(app, stream)(_environ("POST", "/ei", b"<Envelope/>"), lambda *_: None)
    assert b"".join(response) == b"<Fault/>\n"
    assert stream.getvalue() == "", "the line is written when the server closes the response"
    response.close()

    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record.pop("duration_ms") >= 0
    assert datetime.fromisoformat(record.pop("time")).utcoffset() == timedelta(0)
    assert record == {
        "method": "POST",
        "path": "/ei",
        "status": 500,
        "request_bytes": 11,
        "response_bytes": 9,
        "pid": os.getpid(),
        "operation": "CreateTender",
        "outcome": "soap:Client",
    }


def test_the_request_log_records_an_app_that_raises_as_500():
    def app(environ, start_response):
        raise RuntimeError("broken")

    stream = io.StringIO()
    with pytest.raises(RuntimeError, match="broken"):
        RequestLog(app, stream)(_environ("GET", "/", b"", query="wsdl"), lambda *_: None)
    record = json.loads(stream.getvalue())
    assert (record["path"], record["query"], record["status"]) == ("/", "wsdl", 500)


# --- Idle and slow clients ----------------------------------------------------------------------

SLOW_HEAD = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"


def _connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT)


def _read_until_closed(connection):
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_one_worker_answers_while_idle_and_slow_clients_hold_connections(start_server):
    """With the default limits (10 s for a head, 30 s for a body), a request is answered at
    once, not after them, while idle, half-sent-head and half-sent-body connections wait."""
    server = start_server()
    server.wait_ready()
    held = [_connect(server.port) for _ in range(60)]
    for number, connection in enumerate(held):
        if number % 3 == 1:
            connection.sendall(SLOW_HEAD)
        elif number % 3 == 2:
            connection.sendall(SLOW_HEAD + b"\r\n<Envelope")
    try:
        for _ in range(3):
            status, body = server.request("POST", "/", b"<Envelope/>")
            assert (status, json.loads(body)["received"]) == (200, 11)
    finally:
        for connection in held:
            connection.close()


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        pytest.param(b"", b"", id="silent"),
        pytest.param(SLOW_HEAD, b"HTTP/1.1 408 ", id="head-stops"),
        pytest.param(SLOW_HEAD + b"\r\n<Envelope", b"HTTP/1.1 408 ", id="body-stops"),
    ],
)
def test_a_client_too_slow_is_cut_off_after_its_timeout(start_server, sent, answer):
    server = start_server(limits={"header_timeout": 1, "body_timeout": 1})
    server.wait_ready()
    with _connect(server.port) as slow:
        slow.sendall(sent)
        received = _read_until_closed(slow)
    assert received.startswith(answer) and (answer or received == b"")


def test_a_kept_alive_connection_serves_requests_in_turn_then_closes_when_idle(start_server):
    server = start_server(limits={"keepalive_timeout": 1})
    server.wait_ready()
    request = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc"
    with _connect(server.port) as connection:
        connection.sendall(request * 2)
        received = _read_until_closed(connection)
    replies = received.split(b"HTTP/1.1 200 OK")
    assert len(replies) == 3 and all(b'"received": 3' in reply for reply in replies[1:])


def test_at_the_connection_cap_a_new_connection_displaces_the_oldest_waiting_one(start_server):
    """Connections that have not sent a whole request head are displaced first, oldest first;
    the new one is served."""
    server = start_server(limits={"max_connections": 3})
    server.wait_ready()
    held = []
    for _ in range(3):
        held.append(_connect(server.port))
        held[-1].sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(SETTLE_SECONDS)
    try:
        assert server.request("GET", "/")[0] == 200
        assert _read_until_closed(held[0]) == b"", "the oldest was closed to make room"
        held[1].sendall(b"Host: 127.0.0.1\r\n\r\n")
        assert held[1].recv(65536).startswith(b"HTTP/1.1 200 OK")
    finally:
        for connection in held:
            connection.close()


def test_at_the_connection_cap_one_too_many_is_refused_503_when_all_are_mid_request(
    start_server,
):
    server = start_server(limits={"max_connections": 3})
    server.wait_ready()
    held = [_connect(server.port) for _ in range(3)]
    try:
        for connection in held:
            connection.sendall(SLOW_HEAD + b"\r\n<Envelope")
        time.sleep(SETTLE_SECONDS)
        with _connect(server.port) as extra:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            refused = _read_until_closed(extra)
        assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert refused.endswith(b"too many connections\n")
    finally:
        for connection in held:
            connection.close()
    wait_for(lambda: server.request("GET", "/")[0] == 200)


def test_a_connection_that_sends_nothing_never_reaches_the_worker(start_server):
    """The listener defers accepting a connection until its first bytes (TCP_DEFER_ACCEPT), so
    silent connections, and a flood's that are reset at once, cost the worker nothing: with a
    cap of one, a silent connection leaves room for a request."""
    server = start_server(limits={"max_connections": 1})
    server.wait_ready()
    with _connect(server.port), _connect(server.port):
        time.sleep(SETTLE_SECONDS)
        assert server.request("GET", "/")[0] == 200


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"HTTP/1.1 400 ",
            id="two-framings",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Padding: a\r\n" * 6000,
            b"HTTP/1.1 431 ",
            id="head-too-large",
        ),
    ],
)
def test_requests_the_worker_cannot_frame_safely_are_refused_unread(start_server, sent, answer):
    server = start_server(limits={"max_body_bytes": 1000})
    server.wait_ready()
    with _connect(server.port) as connection:
        connection.sendall(sent)
        assert _read_until_closed(connection).startswith(answer)
    assert server.log_records() == [], "the app saw none of them"


@pytest.mark.parametrize(
    ("head", "length"),
    [
        pytest.param(b"Content-Length: 2000\r\n", "2000", id="declared"),
        pytest.param(b"Transfer-Encoding: chunked\r\n", None, id="chunked"),
    ],
)
def test_a_body_over_the_limit_reaches_the_app_unread_then_the_connection_closes(
    start_server, head, length
):
    """The app refuses it (temix's answers 413 and records the exchange): it gets the declared
    length, or with a chunked body, no more than the limit and one byte of it."""
    server = start_server(limits={"max_body_bytes": 1000})
    server.wait_ready()
    chunk = b"7d0\r\n" + b"x" * 2000 + b"\r\n" if length is None else b"x" * 500
    with _connect(server.port) as connection:
        connection.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head + b"\r\n" + chunk)
        received = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 200 OK")
    [record] = server.log_records()
    assert record["request_bytes"] == (1001 if length is None else 0)


def test_a_chunked_body_reaches_the_app_whole(start_server):
    server = start_server()
    server.wait_ready()
    with _connect(server.port) as connection:
        connection.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"
        )
        received = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 200 OK") and b'"received": 11' in received
