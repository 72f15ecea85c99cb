"""The in-process crypto floor of a signed temix request: what verifying one signed
EiCreateTender and signing its reply cost, with RSA-2048 and with ECDSA P-256 keys.

    python tests/benchmarks/bench_crypto.py [--rounds N] [--requests N] [--json FILE]

For each algorithm it makes a development key directory (``temix keys init``'s layout, parties
``rep`` and ``customer``), loads the keys once, signs one EiCreateTender as ``rep`` and builds
the EiCreatedTender a server answers it with. Then, in rounds of ``--requests`` calls each, it
times :func:`temix.wssecurity.verify_envelope` of the request (trusting the signer as the
server does, with the party registry in memory: the party registered by its certificate's
subject, the certificate valid and issued by the directory's CA), and
:func:`temix.wssecurity.sign_envelope` of the reply with the server key: both, and each alone.
Parsing the envelopes is left out of the timing (an unsigned server parses them too), and so
are the server's replay cache and registry look-up (database work).

It prints, per algorithm and part, the median over the rounds of the process CPU time per
request, the fastest and slowest round, and the requests per second one core could do at that
cost; ``--json FILE`` writes the same. ``bench_server.py`` reports these figures next to its
signed measurements.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cryptography import x509
from lxml import etree

from temix import payloads as p
from temix.keys import Credentials, KeyAlgorithm, KeyDirectory, fingerprint
from temix.model import Interval, Tender
from temix.responses import ResponseCode, response
from temix.server.security import TRADER, Signer
from temix.wssecurity import (
    Freshness,
    SecurityError,
    check_certificate,
    check_issued_by,
    sign_envelope,
    verify_envelope,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pki
from market import create_tender, envelope, tender

ALGORITHMS = {"rsa": KeyAlgorithm.RSA, "ecdsa": KeyAlgorithm.ECDSA}
"""The key algorithms measured, by the name the rows and ``bench_server.py`` use."""
ALGORITHM_LABELS = {"rsa": "RSA-2048", "ecdsa": "ECDSA P-256"}
PARTIES = ("rep", "customer")
PARTS = ("verify+sign", "verify", "sign")
DEFAULT_ROUNDS = 9
DEFAULT_REQUESTS = 50
"""Calls per timed round."""
DELIVERY = Interval(
    datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1),
    timedelta(hours=2),
)
"""When the benchmarks' tenders deliver: two hours from the start of the hour, tomorrow (as
of the import, so that every tender of a run has the same product)."""


# --- The messages -------------------------------------------------------------------------------


def offered_tender(key: str) -> Tender:
    """The tender the benchmarks offer: ``key``, over :data:`DELIVERY`."""
    return tender(key, interval=DELIVERY)


def create_tender_request(key: str) -> p.CreateTender:
    """The EiCreateTender the benchmarks send: ``rep`` offers ``customer`` tender ``key``, in
    request ``R-key``."""
    return create_tender(f"R-{key}", "rep", "customer", offered_tender(key))


def created_tender_reply(request: p.CreateTender, now: datetime) -> p.CreatedTender:
    """What a server answers ``request`` with when it stores every tender."""
    tender_ids = tuple(offered.tender_id for offered in request.tenders)
    return p.CreatedTender(
        response=response(ResponseCode.OK, request.request_id, created=now),
        responses=tuple(response(ResponseCode.OK, tender_id) for tender_id in tender_ids),
        party_id=request.party_id,
        counterparty_id=request.counterparty_id,
        tender_ids=tender_ids,
    )


def key_directories(root: Path) -> dict[str, KeyDirectory]:
    """A new key directory per algorithm under ``root``, with :data:`PARTIES`."""
    directories = {}
    for name, algorithm in ALGORITHMS.items():
        directory = KeyDirectory(root / f"keys-{name}")
        directory.init(PARTIES, algorithm)
        directories[name] = directory
    return directories


def party_trust(directory: KeyDirectory, now: datetime) -> Callable[[x509.Certificate], Signer]:
    """The trust decision a server over ``directory`` makes (``MessageSecurity.signer``), with
    its registry in memory: the directory's parties are traders registered by subject, and
    their certificates must be valid and issued by the directory's CA."""
    authorities = (directory.ca_certificate(),)
    parties = {
        directory.party(name).certificate.subject.rfc4514_string(): name
        for name in directory.party_names()
    }

    def trusted(certificate: x509.Certificate) -> Signer:
        subject = certificate.subject.rfc4514_string()
        party = parties.get(subject)
        if party is None:
            raise SecurityError(f"no registered party has the subject {subject}")
        check_certificate(certificate, now)
        check_issued_by(certificate, authorities, now)
        return Signer(party, frozenset({TRADER}), fingerprint(certificate))

    return trusted


# --- Timing -------------------------------------------------------------------------------------


class Messages:
    """One signed request and one unsigned reply, with what verifying and signing need."""

    def __init__(self, directory: KeyDirectory) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)
        request = create_tender_request("F-0000000001")
        self.request = pki.sign(envelope(request), directory.party("rep"), self.now)
        self.reply = envelope(created_tender_reply(request, self.now))
        self.server: Credentials = directory.server()
        self.trusted = party_trust(directory, self.now)
        self.freshness = Freshness()

    def verify(self, request: etree._Element) -> None:
        verified = verify_envelope(request, self.trusted, self.now, self.freshness)
        if verified.signer.party_id != "rep":
            raise AssertionError(f"signed by {verified.signer.party_id}, not rep")

    def sign(self, reply: etree._Element) -> None:
        sign_envelope(reply, self.server.key, self.server.certificate, self.now)

    def cpu_us_per_request(self, part: str, requests: int) -> float:
        """One round of ``part`` (one of :data:`PARTS`): process CPU microseconds per
        request."""
        request_trees = [etree.fromstring(self.request) for _ in range(requests)]
        reply_trees = [etree.fromstring(self.reply) for _ in range(requests)]
        started = time.process_time()
        for request_tree, reply_tree in zip(request_trees, reply_trees, strict=True):
            if part != "sign":
                self.verify(request_tree)
            if part != "verify":
                self.sign(reply_tree)
        return (time.process_time() - started) * 1e6 / requests


def crypto_floor(
    directories: dict[str, KeyDirectory],
    rounds: int = DEFAULT_ROUNDS,
    requests: int = DEFAULT_REQUESTS,
) -> dict[str, Any]:
    """The figures for each algorithm of ``directories`` (by :data:`ALGORITHMS` name): after
    one untimed round, ``rounds`` rounds of ``requests`` calls of each part, the parts taking
    turns within a round."""
    rows = []
    request_bytes = {}
    reply_bytes = 0
    for name, directory in directories.items():
        messages = Messages(directory)
        request_bytes[name] = len(messages.request)
        reply_bytes = len(messages.reply)
        for part in PARTS:
            messages.cpu_us_per_request(part, requests)
        samples: dict[str, list[float]] = {part: [] for part in PARTS}
        for _ in range(rounds):
            for part in PARTS:
                samples[part].append(messages.cpu_us_per_request(part, requests))
        for part in PARTS:
            median = statistics.median(samples[part])
            rows.append(
                {
                    "algorithm": name,
                    "label": ALGORITHM_LABELS[name],
                    "part": part,
                    "us_per_request": round(median, 1),
                    "fastest_round_us": round(min(samples[part]), 1),
                    "slowest_round_us": round(max(samples[part]), 1),
                    "requests_per_second": round(1e6 / median, 1),
                }
            )
    return {
        "settings": {"rounds": rounds, "requests_per_round": requests, "clock": "process CPU"},
        "software": {package: version(package) for package in ("cryptography", "signxml", "lxml")},
        "signed_request_bytes": request_bytes,
        "reply_bytes": reply_bytes,
        "rows": rows,
    }


def floor_row(floor: dict[str, Any], algorithm: str, part: str = "verify+sign") -> dict[str, Any]:
    """The row of ``algorithm`` and ``part`` in ``floor``."""
    for row in floor["rows"]:
        if (row["algorithm"], row["part"]) == (algorithm, part):
            return row
    raise KeyError((algorithm, part))


def table(floor: dict[str, Any]) -> str:
    columns = (
        ("label", "keys"),
        ("part", "part"),
        ("us_per_request", "µs/req"),
        ("fastest_round_us", "fastest"),
        ("slowest_round_us", "slowest"),
        ("requests_per_second", "req/s on one core"),
    )
    rows = [[label for _, label in columns]]
    rows += [
        [f"{row[key]:,.0f}" if isinstance(row[key], float) else row[key] for key, _ in columns]
        for row in floor["rows"]
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(columns))]
    lines = [
        "  ".join(
            [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
            + [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        )
        for row in rows
    ]
    return "\n".join(lines)


def report(floor: dict[str, Any]) -> str:
    settings = floor["settings"]
    software = ", ".join(f"{package} {number}" for package, number in floor["software"].items())
    sizes = ", ".join(
        f"{ALGORITHM_LABELS[name]} {size}" for name, size in floor["signed_request_bytes"].items()
    )
    return "\n".join(
        [
            "crypto floor, in-process: verify_envelope of a signed EiCreateTender (party trust "
            "in memory) and sign_envelope of its EiCreatedTender reply",
            f"signed request bytes: {sizes}; reply {floor['reply_bytes']} bytes before signing; "
            f"{software}",
            f"median of {settings['rounds']} rounds of {settings['requests_per_round']} "
            "requests, process CPU µs per request (fastest and slowest round)",
            table(floor),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The in-process crypto floor of temix.")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="timed rounds")
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="calls per round")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results here")
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1 or arguments.requests < 1:
        parser.error("--rounds and --requests must be at least 1")
    with tempfile.TemporaryDirectory(prefix="temix-crypto-") as root:
        floor = crypto_floor(key_directories(Path(root)), arguments.rounds, arguments.requests)
    print(report(floor))
    if arguments.json:
        arguments.json.write_text(json.dumps(floor, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
