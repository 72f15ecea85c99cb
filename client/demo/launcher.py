"""``temix serve`` in a child process on a free local port, for the demo.

The server is started as the user would start it, through the ``temix`` command in a fresh
interpreter, so the demo exercises the real process host; the only coupling is the one line it
prints on stdout once it answers, ``WSDL <url>``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

TEMIX = (sys.executable, "-c", "from temix.cli import main; main()")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The first line ``process`` writes on its stdout (a pipe), or ``b""`` when none comes
    within ``timeout`` seconds: ``temix serve`` prints ``WSDL <url>`` there once it answers."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else b""


class ServerFailed(RuntimeError):
    """The server did not start, or stopped on its own."""


class LocalServer:
    """``temix serve --port 0`` on ``database_url`` with the key directory ``keys``; its
    request log (one JSON line per request) goes to ``log``. Use it as a context manager:
    leaving stops the server (SIGTERM to its own process group, which drains requests)."""

    def __init__(self, database_url: str, keys: Path, log: Path, *, workers: int = 2) -> None:
        self.command = [
            *TEMIX,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--workers",
            str(workers),
            "--db",
            database_url,
            "--keys",
            str(keys),
        ]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.wsdl = ""

    def __enter__(self) -> LocalServer:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=subprocess.PIPE, stderr=log, start_new_session=True
            )
        self.wsdl = self._wait_ready(self.process)
        return self

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> str:
        line = first_line(process, READY_TIMEOUT).decode().strip()
        if not line.startswith("WSDL "):
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise ServerFailed(f"temix serve did not start:\n{tail}")
        return line.removeprefix("WSDL ")

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
