"""``temix serve`` in its own process, and a client that signs what it sends as a party does."""

from __future__ import annotations

import http.client
import os
import re
import signal
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

import pki
from market import SOAP_ACTIONS, envelope
from temix import codec
from temix.client.demo.launcher import TEMIX, first_line
from temix.envelope import SOAP_1_1, SoapVersion, request_headers
from temix.keys import KeyAlgorithm, KeyDirectory
from temix.server.services import sender_of
from temix.server.store import Store, Unit

WSDL_LINE = re.compile(rb"WSDL (https?)://127\.0\.0\.1:(\d+)/\?wsdl")
READY_TIMEOUT = 30.0
PARTIES = ("rep", "customer", "generator")


def tomorrow(hour: int = 0) -> datetime:
    """``hour`` o'clock UTC tomorrow by the real clock a running server keeps: in the future and
    on every market's interval boundaries."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=1, hours=hour)


def key_directory(path: Path, algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA) -> KeyDirectory:
    """A development key directory with the usual test parties."""
    directory = KeyDirectory(path)
    directory.init(PARTIES, algorithm)
    return directory


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def payload(self) -> object:
        """The decoded reply payload (the Body's child)."""
        return codec.decode(etree.fromstring(self.body)[-1][0])


class RunningServer:
    """``temix serve`` on ``port`` (by default a free one), in its own process group.

    Signed (``--keys``) when ``keys`` is given, else ``--insecure`` unless ``insecure`` is
    False (the default: signed with ``DATA_DIR/keys``); ``options`` are more ``temix serve``
    arguments. ``entry`` is the command line of ``temix`` (before ``serve``).
    ``tls_context`` is the client side of an HTTPS server. ``wsdl_url`` is the URL
    the server printed; a server that prints none is killed.
    """

    def __init__(
        self,
        database_url: str,
        log: Path,
        *,
        keys: KeyDirectory | None = None,
        insecure: bool = True,
        workers: int = 2,
        options: Sequence[str] = (),
        tls_context: ssl.SSLContext | None = None,
        entry: Sequence[str] = TEMIX,
        port: int = 0,
    ) -> None:
        command = [
            *entry,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--db",
            database_url,
            *self._security_options(keys, insecure),
            *options,
        ]
        self.database_url = database_url
        self.keys = keys
        self.tls_context = tls_context
        self.log_path = log
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True
        )
        self.wsdl_url, self.port = self._wait_ready()

    @staticmethod
    def _security_options(keys: KeyDirectory | None, insecure: bool) -> list[str]:
        if keys is not None:
            return ["--keys", str(keys.path)]
        return ["--insecure"] if insecure else []

    def _wait_ready(self) -> tuple[str, int]:
        line = first_line(self.process, READY_TIMEOUT)
        match = WSDL_LINE.match(line)
        if match is None:
            self.kill()
            raise AssertionError(
                f"temix serve did not print its WSDL line: {self.log_path.read_text()}"
            )
        return line.decode().strip().removeprefix("WSDL "), int(match.group(2))

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        if self.tls_context is not None:
            return http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self.tls_context
            )
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def post(
        self,
        body: bytes,
        soap_action: str | None,
        version: SoapVersion = SOAP_1_1,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """POST ``body`` as it is; ``soap_action`` goes in the header (1.1) or the
        Content-Type (1.2)."""
        sent = (
            {"Content-Type": version.content_type}
            if soap_action is None
            else request_headers(version, soap_action)
        )
        sent.update(headers or {})
        connection = self.connection()
        try:
            connection.request("POST", "/", body, sent)
            reply = connection.getresponse()
            return Answer(reply.status, reply.read())
        finally:
            connection.close()

    def signed(
        self, payload: object, version: SoapVersion = SOAP_1_1, signer: str | None = None
    ) -> bytes:
        """``payload``'s envelope signed by ``signer`` (default: the party it speaks for) with
        that party's key from the server's key directory."""
        assert self.keys is not None, "an insecure server: nothing to sign with"
        credentials = self.keys.party(signer or sender_of(payload))
        return pki.sign(envelope(payload, version), credentials, datetime.now(UTC))

    def send(
        self, payload: object, version: SoapVersion = SOAP_1_1, signer: str | None = None
    ) -> Answer:
        """``payload`` sent signed (unsigned to an insecure server)."""
        body = (
            envelope(payload, version)
            if self.keys is None
            else self.signed(payload, version, signer)
        )
        tag = codec.PAYLOAD_ELEMENTS[type(payload)]
        return self.post(body, SOAP_ACTIONS[tag][version], version)

    @contextmanager
    def reading(self) -> Iterator[Unit]:
        """A read-only look at the server's database."""
        store = Store.open(self.database_url)
        try:
            with store.transaction(write=False) as unit:
                yield unit
        finally:
            store.close()

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0
        self.log.close()
