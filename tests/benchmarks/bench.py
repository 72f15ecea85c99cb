"""The performance and scale report of temix, in one run: the throughput and latency matrix of
``bench_server.py`` (with the lxml echo and the crypto floor), the legitimate latency under
idle, slow and flooding clients of ``bench_attack.py``, and the scale runs of
``bench_scale.py``, then the targets with how far each is, written as one markdown file.

    python tests/benchmarks/bench.py [--out FILE] [--json FILE] [--postgres-url URL] [--quick]

Both backends are measured, so it needs a PostgreSQL database it may empty: ``--postgres-url``,
by default ``$TEMIX_TEST_POSTGRES_URL``. ``--quick`` runs everything at a small size (short
windows, one round, stores of 2,400 and 24,000 transactions) to try a set-up in a few minutes;
its figures are not the report's. The full run takes about an hour on two cores, most of it
generating the million-transaction stores.

Exit status: 0 when every request was answered as expected (whether the targets are met or not
is in the report), 1 when some were not, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_attack
import bench_scale
import bench_server
from databases import POSTGRES_URL_VARIABLE

FLAT_GROWTH = 2.0
"""The most a query's median may grow over the sizes measured for its time to count as not
growing with the stored count (the store grows tenfold or a hundredfold)."""
QUICK_SERVER = ["--seconds", "1", "--warmup", "0.5", "--rounds", "1", "--crypto-rounds", "1"]
QUICK_ATTACK = ["--requests", "20", "--idle", "20", "--slow-headers", "2", "--slow-bodies", "2"]
QUICK_ATTACK += ["--settle", "1"]
QUICK_SCALE = {"sizes": [2_400, 24_000], "rounds": 2, "requests": 5, "customers": 100}
FULL_SCALE = {
    "sizes": list(bench_scale.DEFAULT_SIZES),
    "rounds": bench_scale.DEFAULT_ROUNDS,
    "requests": bench_scale.DEFAULT_REQUESTS,
    "customers": bench_scale.DEFAULT_CUSTOMERS,
}


def _commit() -> str:
    """The checked-out commit of the repository the benchmarks live in, if git can tell."""
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
    )
    return completed.stdout.strip() if completed.returncode == 0 else "unknown"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "not met", None: "not measured"}[met]


def _value(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.3g}{unit}"


def target_rows(
    server: dict[str, Any], attack: dict[str, Any], scale: dict[str, Any]
) -> list[list[str]]:
    """One row per target and backend (and worker count where it applies): what was measured,
    the target and whether it is met."""
    rows = []
    names = bench_server.BACKENDS
    for entry in server["ratios"]:
        name = entry["ratio"]
        if name == "create / echo" or (name.startswith("create-signed-") and "floor" in name):
            rows.append(
                [
                    name,
                    names[entry["backend"]],
                    entry["workers"],
                    _value(entry["value"], "x"),
                    f">= {entry['target']:g}x",
                    _verdict(entry["met"]),
                ]
            )
    scaling: dict[str, list[dict[str, Any]]] = {}
    for entry in server["ratios"]:
        if entry["target"] is not None and "/" in entry["workers"]:
            scaling.setdefault(entry["backend"], []).append(entry)
    for backend, entries in scaling.items():
        measured = [entry for entry in entries if entry["value"] is not None]
        lowest = min(measured, key=lambda entry: entry["value"], default=None)
        highest = max(measured, key=lambda entry: entry["value"], default=None)
        met = sum(bool(entry["met"]) for entry in entries)
        spread = (
            "-"
            if lowest is None or highest is None
            else f"{lowest['value']:g}x ({lowest['ratio'].split(':')[0]}) to "
            f"{highest['value']:g}x ({highest['ratio'].split(':')[0]})"
        )
        rows.append(
            [
                f"{entries[0]['workers'].replace('/', ' / ')} workers, every workload",
                names[backend],
                entries[0]["workers"],
                f"{spread}; met by {met} of {len(entries)}",
                f">= {entries[0]['target']:g}x",
                _verdict(met == len(entries) if measured else None),
            ]
        )
    goal = attack["goal"]
    rows.append(
        [
            "legitimate p99 beside idle, slow and flooding clients",
            names["sqlite"],
            str(attack["settings"]["workers"]),
            f"{_value(attack['attack']['p99_ms'], ' ms')} "
            f"({_value(attack['ratios']['p99_ms'], 'x')} quiet)",
            f"< {goal['p99_under_ms']:g} ms and <= {goal['within']:g}x quiet",
            _verdict(goal["met"]),
        ]
    )
    for backend, result in scale["backends"].items():
        verdict, growth = result["verdict"], result["growth"]
        rows.append(
            [
                f"position query (24 hourly intervals) at {verdict['transactions']:,} "
                "transactions, median",
                names[backend],
                "1",
                _value(verdict["p50_ms"], " ms"),
                f"< {verdict['target_ms']:g} ms",
                _verdict(None if verdict["p50_ms"] is None else verdict["under_target"]),
            ]
        )
        factors = growth["median_factor"]
        worst = max((value for value in factors.values() if value is not None), default=None)
        rows.append(
            [
                f"time per query, {growth['from_transactions']:,} to "
                f"{growth['to_transactions']:,} transactions",
                names[backend],
                "1",
                ", ".join(f"{name} {_value(value, 'x')}" for name, value in factors.items()),
                f"<= {FLAT_GROWTH:g}x (linear: {growth['transactions_factor']:g}x)",
                _verdict(None if worst is None else worst <= FLAT_GROWTH),
            ]
        )
    return rows


def report(
    server: dict[str, Any], attack: dict[str, Any], scale: dict[str, Any], settings: dict[str, Any]
) -> str:
    facts = server["machine"]
    postgresql = f", PostgreSQL {facts['postgresql']}" if facts.get("postgresql") else ""
    lines = [
        "# temix performance and scale",
        "",
        f"Run {settings['started']} on commit {settings['commit']}"
        f"{' (quick run: small sizes, not the report figures)' if settings['quick'] else ''}, "
        f"in {settings['seconds'] / 60:.0f} min.",
        "",
        f"Machine: {facts['cores']} cores ({facts['usable_cores']} usable), {facts['cpu']}, "
        f"{facts['system']}; {facts['python']}, lxml {facts['lxml']} (libxml2 "
        f"{facts['libxml2']}), gunicorn {facts['gunicorn']}, SQLite {facts['sqlite']}"
        f"{postgresql}.",
        "",
        "## Targets",
        "",
        "| target | backend | workers | measured | target | |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in target_rows(server, attack, scale)]
    lines += [
        "",
        bench_server.markdown(server),
        bench_attack.markdown(attack),
        bench_scale.markdown(scale),
    ]
    return "\n".join(lines)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The whole performance and scale report of temix in one run."
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench-results.md"), help="the markdown report"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure here")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_URL_VARIABLE),
        help=f"a PostgreSQL database to empty and use (default: ${POSTGRES_URL_VARIABLE})",
    )
    parser.add_argument("--quick", action="store_true", help="a short run at small sizes")
    arguments = parser.parse_args(argv)
    if not arguments.postgres_url:
        parser.error(
            f"the report measures PostgreSQL too: give --postgres-url URL or set "
            f"{POSTGRES_URL_VARIABLE}"
        )
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.monotonic()
    settings = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "quick": arguments.quick,
    }
    server_arguments = bench_server.parse_arguments(
        ["--postgres-url", arguments.postgres_url, *(QUICK_SERVER if arguments.quick else [])]
    )
    server = bench_server.measure(server_arguments)
    attack = bench_attack.measure(
        bench_attack.parse_arguments(QUICK_ATTACK if arguments.quick else [])
    )
    scale_settings = QUICK_SCALE if arguments.quick else FULL_SCALE
    with tempfile.TemporaryDirectory(prefix="temix-scale-") as scratch:
        scale = bench_scale.measure(
            list(bench_scale.BACKENDS),
            scale_settings["sizes"],
            rounds=scale_settings["rounds"],
            requests=scale_settings["requests"],
            customers=scale_settings["customers"],
            standing=bench_scale.DEFAULT_STANDING,
            postgres_url=arguments.postgres_url,
            scratch=Path(scratch),
        )
    settings["seconds"] = time.monotonic() - started
    text = report(server, attack, scale, settings)
    arguments.out.write_text(text)
    print(text, end="")
    if arguments.json:
        results = {"settings": settings, "server": server, "attack": attack, "scale": scale}
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if server["failed"] or attack["failed"] or scale["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
