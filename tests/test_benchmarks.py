"""The loopback benchmark and the crypto floor run end to end at a tiny size and report
well-formed results.

The benchmark's whole matrix runs on SQLite and, when ``TEMIX_TEST_POSTGRES_URL`` names a
PostgreSQL database it may empty (``.ci/run`` sets it), on PostgreSQL too; without it, on SQLite
only."""

import json
import os
import subprocess
import sys
from pathlib import Path

from databases import POSTGRES_URL_VARIABLE

BENCHMARKS = Path(__file__).parent / "benchmarks"
BENCH_SERVER = BENCHMARKS / "bench_server.py"
BENCH_CRYPTO = BENCHMARKS / "bench_crypto.py"
BENCH_ATTACK = BENCHMARKS / "bench_attack.py"
OPERATIONS = ("create", "accept", "request-tenders", "request-position")
ALGORITHMS = ("rsa", "ecdsa")
SIGNED = tuple(
    f"{operation}-signed-{algorithm}" for operation in OPERATIONS for algorithm in ALGORITHMS
)
WORKLOADS = (*OPERATIONS, *SIGNED)
WORKERS = (1, 2)
PARTS = ("verify+sign", "verify", "sign")
BACKEND_TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
TABLE_HEADER = "| workload | workers | req/s | p50 ms | p99 ms | failures | server CPU µs/req |"


def assert_crypto_floor(floor: dict) -> None:
    """A row per algorithm and part, with positive figures that agree with each other."""
    rows = {(row["algorithm"], row["part"]): row for row in floor["rows"]}
    assert set(rows) == {(algorithm, part) for algorithm in ALGORITHMS for part in PARTS}
    for row in rows.values():
        assert 0 < row["fastest_round_us"] <= row["us_per_request"] <= row["slowest_round_us"]
        assert row["requests_per_second"] > 0
        assert abs(row["requests_per_second"] * row["us_per_request"] / 1e6 - 1) < 0.01
    assert all(floor["signed_request_bytes"][algorithm] > 0 for algorithm in ALGORITHMS)


def assert_measured(row: dict) -> None:
    """One faultless round whose figures agree with the row's."""
    assert row["failures"] == 0, row
    assert row["clients"] == 1
    assert row["generator"] == "python"
    assert row["body_bytes"] > 0
    [measured] = row["rounds"]
    assert measured["failures"] == 0
    assert measured["requests"] == row["requests"] >= 1
    assert measured["requests_per_second"] == row["requests_per_second"] > 0
    if row["requests"] > 1:
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    assert row["client_cpu_us_per_request"] >= 0
    assert row["server_cpu_us_per_request"] >= 0


def assert_pool(row: dict) -> None:
    """Signed workloads and accepts send a pool made before the window, larger than what the
    window used; the others none."""
    pool = row["rounds"][0]["pool"]
    if not (row["signing"] != "unsigned" or row["operation"] == "accept"):
        assert pool is None
        return
    assert pool["requests"] > row["requests"]
    assert pool["signed"] is (row["signing"] != "unsigned")
    assert pool["tenders"] == (pool["requests"] if row["operation"] == "accept" else 0)
    assert pool["body_bytes"] == row["body_bytes"]
    if pool["signed"]:
        assert 0 < pool["oldest_signature_age_at_end"] < 300


def assert_ratios(ratios: list, backends: list) -> None:
    """Every ratio of every backend, with its value, its target if it has one, and whether
    that is met."""
    found = {(entry["backend"], entry["ratio"], entry["workers"]): entry for entry in ratios}
    targets = {}
    for backend in backends:
        for workers in map(str, WORKERS):
            targets[backend, "create / echo", workers] = 0.6
            for algorithm, label in (("rsa", "RSA-2048"), ("ecdsa", "ECDSA P-256")):
                name = f"create-signed-{algorithm} / crypto floor {label} on one core"
                targets[backend, name, workers] = 0.8
            for workload in SIGNED:
                name = f"{workload} / {workload.split('-signed-')[0]}"
                targets[backend, name, workers] = None
        for workload in ("echo", *WORKLOADS):
            targets[backend, f"{workload}: 2 / 1 workers", "2/1"] = 1.5
    assert set(found) == set(targets)
    for key, entry in found.items():
        assert entry["value"] > 0
        assert entry["target"] == targets[key]
        if entry["target"] is None:
            assert entry["met"] is None
        else:
            assert entry["met"] is (entry["value"] >= entry["target"])


def test_bench_server_measures_the_matrix(tmp_path: Path) -> None:
    postgres_url = os.environ.get(POSTGRES_URL_VARIABLE)
    backends = ["sqlite", "postgresql"] if postgres_url else ["sqlite"]
    results_file, report_file = tmp_path / "results.json", tmp_path / "report.md"
    command = [sys.executable, str(BENCH_SERVER), "--seconds", "0.4", "--warmup", "0.1"]
    command += ["--rounds", "1", "--clients", "1", "--crypto-rounds", "1"]
    command += ["--backends", *backends]
    command += ["--postgres-url", postgres_url] if postgres_url else []
    command += ["--json", str(results_file), "--markdown", str(report_file)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(results_file.read_text())
    assert results["failed"] is False
    assert results["total_seconds"] > 0
    assert results["machine"]["cores"] >= 1
    assert results["machine"]["lxml"]
    assert bool(results["machine"]["postgresql"]) is bool(postgres_url)
    rows = {
        (row["backend"], row["workload"], row["workers"]): row for row in results["measurements"]
    }
    expected = {(None, "echo", workers) for workers in WORKERS}
    expected |= {
        (backend, workload, workers)
        for backend in backends
        for workload in WORKLOADS
        for workers in WORKERS
    }
    assert set(rows) == expected
    for row in rows.values():
        assert_measured(row)
        if row["backend"] is not None:
            assert_pool(row)
    servers = results["servers"]
    assert len(servers) == len(backends) * len(WORKERS) * 3
    for server in servers:
        assert server["prepared"] == "ok"
        assert server.get("reply_signature") == (
            None if server["signing"] == "unsigned" else "verified"
        )
    assert_ratios(results["ratios"], backends)
    assert_crypto_floor(results["crypto_floor"])

    report = report_file.read_text()
    assert completed.stdout == report
    assert report.count(TABLE_HEADER) == len(backends)
    sections = dict(section.split("\n", 1) for section in report.split("\n### ")[1:])
    for backend in backends:
        table = sections[BACKEND_TITLES[backend]]
        assert TABLE_HEADER in table
        for workload in ("echo", *WORKLOADS):
            for workers in WORKERS:
                assert f"\n| {workload} | {workers} | " in table
        assert "| create / echo | 1 | " in table
        assert "| create: 2 / 1 workers | 2/1 | " in table
        assert "| create-signed-rsa / create | 1 | " in table
    assert "req/s on one core" in sections["Crypto floor"]
    assert "Result: every counted reply was a 200." in report


def test_bench_server_asks_for_a_postgresql_database(tmp_path: Path) -> None:
    environment = {
        name: value for name, value in os.environ.items() if name != POSTGRES_URL_VARIABLE
    }
    command = [sys.executable, str(BENCH_SERVER), "--backends", "sqlite", "postgresql"]
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60)

    assert completed.returncode == 2
    assert "the postgresql backend needs a database: give --postgres-url URL" in completed.stderr


def test_bench_crypto_reports_the_floor_of_each_algorithm(tmp_path: Path) -> None:
    results_file = tmp_path / "floor.json"
    command = [sys.executable, str(BENCH_CRYPTO), "--rounds", "2", "--requests", "3"]
    command += ["--json", str(results_file)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    floor = json.loads(results_file.read_text())
    assert floor["settings"] == {"rounds": 2, "requests_per_round": 3, "clock": "process CPU"}
    assert_crypto_floor(floor)
    for label in ("RSA-2048", "ECDSA P-256"):
        printed = [line for line in completed.stdout.splitlines() if line.startswith(label)]
        assert [line.split()[len(label.split())] for line in printed] == list(PARTS)


def test_bench_attack_prints_the_legitimate_latency_quiet_and_under_attack(tmp_path: Path) -> None:
    results_file = tmp_path / "attack.json"
    command = [sys.executable, str(BENCH_ATTACK), "--requests", "5", "--idle", "10"]
    command += ["--slow-headers", "2", "--slow-bodies", "2", "--settle", "0.5"]
    command += ["--json", str(results_file)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(results_file.read_text())
    assert results["failed"] is False
    for phase in (results["quiet"], results["attack"]):
        assert (phase["requests"], phase["failures"]) == (5, 0)
        assert 0 < phase["p50_ms"] <= phase["p99_ms"] <= phase["max_ms"]
    attackers = results["attack"]["attackers"]
    assert attackers["open_max"] == 14
    assert attackers["flood_connections_per_second"] > 0
    assert results["ratios"]["p99_ms"] == round(
        results["attack"]["p99_ms"] / results["quiet"]["p99_ms"], 2
    )
    assert results["goal"]["met"] is (
        results["attack"]["p99_ms"] < 100 and results["ratios"]["p99_ms"] <= 3
    )
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| quiet", "| attack", "| attack / quiet"]
    assert "Goal, p99 under attack under 100 ms and within 3x of quiet: " in completed.stdout
