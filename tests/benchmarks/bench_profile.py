"""Where a temix request's time goes: the create and accept operations of ``bench_server.py``
called in-process on the app ``create_app`` builds over a fresh SQLite store, as one worker
of ``temix serve --insecure`` runs them (its log, with the warning each request logs, goes to
the null device), timed without and then with cProfile.

    python tests/benchmarks/bench_profile.py [--requests N] [--top K]

For each workload it prints the wall and CPU milliseconds per request, the profiled time split
by where the code lives (own time, so the areas add up), and the functions with the most
cumulative time. cProfile inflates pure-Python code (SQLAlchemy, the codec) more than C calls,
and does not see lxml's compiled functions at all (their time counts as their Python caller's):
read the split as proportions, next to the unprofiled figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

from bench_server import OPERATIONS, Operation
from temix.envelope import SOAP_1_1
from temix.server.app import create_app, prepare
from temix.server.security import INSECURE
from temix.server.store import Store, sqlite_url

WARMUP_REQUESTS = 20
AREAS = (
    ("sqlite3 commit (fsync)", lambda file, name: "commit' of 'sqlite3" in name),
    ("sqlite3 statements", lambda file, name: "sqlite3" in name),
    (
        "SQLAlchemy (building, compiling, executing statements)",
        lambda file, name: "/sqlalchemy/" in file,
    ),
    ("temix codec, with its lxml calls", lambda file, name: file.endswith("temix/codec.py")),
    (
        "temix parsing and schema validation, with their lxml calls",
        lambda file, name: file.endswith(("temix/xmlsafe.py", "temix/validation.py")),
    ),
    ("temix server: soap, app, services, store", lambda file, name: "/server/" in file),
    ("temix model and market rules", lambda file, name: "/temix/" in file),
)
OTHER_AREA = "Python standard library and others"


def post(app: Any, operation: Operation, key: str) -> None:
    """POST the operation's request for ``key`` to ``app`` in-process; it must be answered
    OK."""
    body = operation.body(key)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": SOAP_1_1.content_type,
        "HTTP_SOAPACTION": f'"{operation.soap_action}"',
    }
    statuses: list[str] = []
    reply = b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    problem = operation.check(body, reply) if statuses[0].startswith("200") else statuses[0]
    if problem:
        raise RuntimeError(f"{operation.name} {key}: {problem}")


def _keys(prefix: str, start: int, count: int) -> list[str]:
    return [f"{prefix}{number:010d}" for number in range(start, start + count)]


def timed(app: Any, operation: Operation, keys: list[str]) -> tuple[float, float]:
    """Wall and CPU milliseconds per request."""
    wall, cpu = time.perf_counter(), time.process_time()
    for key in keys:
        post(app, operation, key)
    count = len(keys)
    return (time.perf_counter() - wall) * 1000 / count, (time.process_time() - cpu) * 1000 / count


def profiled(app: Any, operation: Operation, keys: list[str]) -> pstats.Stats:
    profile = cProfile.Profile()
    profile.enable()
    for key in keys:
        post(app, operation, key)
    profile.disable()
    return pstats.Stats(profile)


def area_split(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (seconds) per area, largest first."""
    totals: dict[str, float] = defaultdict(float)
    for (file, _, name), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        area = next((label for label, owns in AREAS if owns(file, name)), OTHER_AREA)
        totals[area] += own
    return sorted(totals.items(), key=lambda item: -item[1])


def report(name: str, wall_cpu: tuple[float, float], stats: pstats.Stats, top: int) -> str:
    total = stats.total_tt  # type: ignore[attr-defined]
    lines = [
        f"== {name}: {wall_cpu[0]:.2f} ms wall, {wall_cpu[1]:.2f} ms CPU per request (unprofiled)",
        "profiled own time by area:",
    ]
    lines += [f"  {seconds / total:6.1%}  {area}" for area, seconds in area_split(stats) if seconds]
    lines.append(f"top {top} functions by cumulative time:")
    listing = io.StringIO()
    stats.stream = listing  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(top)
    lines += [line for line in listing.getvalue().splitlines() if line.strip()][-top - 1 :]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Profile temix requests in-process.")
    parser.add_argument("--requests", type=int, default=300, help="per workload and phase")
    parser.add_argument("--top", type=int, default=25, help="functions listed per workload")
    arguments = parser.parse_args(argv)
    count = arguments.requests
    with (
        open(os.devnull, "w") as discarded,
        tempfile.TemporaryDirectory(prefix="temix-profile-") as data_dir,
    ):
        logging.basicConfig(level=logging.INFO, stream=discarded)
        store = Store.open(sqlite_url(data_dir))
        prepare(store)
        app = create_app(store, security=INSECURE)
        create, accept = OPERATIONS["create"], OPERATIONS["accept"]
        for key in _keys("w", 0, WARMUP_REQUESTS):
            post(app, create, key)
        for key in _keys("p", 0, 2 * count):
            post(app, create, key)
        for name, operation, prefix in (("create", create, "c"), ("accept", accept, "p")):
            wall_cpu = timed(app, operation, _keys(prefix, 0, count))
            stats = profiled(app, operation, _keys(prefix, count, count))
            print(report(name, wall_cpu, stats, arguments.top), end="\n\n")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
