"""The loopback benchmark and the crypto floor run end to end at a tiny size and report
well-formed results."""

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent / "benchmarks"
BENCH_SERVER = BENCHMARKS / "bench_server.py"
BENCH_CRYPTO = BENCHMARKS / "bench_crypto.py"
SIGNED = ("create-signed-rsa", "create-signed-ecdsa")
WORKLOADS = ("echo", "create", "accept", *SIGNED)
ALGORITHMS = ("rsa", "ecdsa")
PARTS = ("verify+sign", "verify", "sign")


def assert_crypto_floor(floor: dict) -> None:
    """A row per algorithm and part, with positive figures that agree with each other."""
    rows = {(row["algorithm"], row["part"]): row for row in floor["rows"]}
    assert set(rows) == {(algorithm, part) for algorithm in ALGORITHMS for part in PARTS}
    for row in rows.values():
        assert 0 < row["fastest_round_us"] <= row["us_per_request"] <= row["slowest_round_us"]
        assert row["requests_per_second"] > 0
        assert abs(row["requests_per_second"] * row["us_per_request"] / 1e6 - 1) < 0.01
    assert all(floor["signed_request_bytes"][algorithm] > 0 for algorithm in ALGORITHMS)


def test_bench_server_reports_rates_latencies_and_ratios(tmp_path: Path) -> None:
    results_file = tmp_path / "results.json"
    command = [sys.executable, str(BENCH_SERVER), "--seconds", "0.3", "--warmup", "0.1"]
    command += ["--clients", "1", "--workers", "1", "2", "--crypto-rounds", "1"]
    command += ["--json", str(results_file)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "result: every counted reply was a 200" in completed.stdout
    for workload in SIGNED:
        assert f"\n{workload} " in completed.stdout
    assert "req/s on one core" in completed.stdout
    results = json.loads(results_file.read_text())
    assert results["failed"] is False
    assert results["machine"]["cores"] >= 1
    assert results["machine"]["lxml"]
    rows = {(row["workload"], row["workers"]): row for row in results["measurements"]}
    assert set(rows) == {(workload, workers) for workload in WORKLOADS for workers in (1, 2)}
    for row in rows.values():
        assert row["failures"] == 0, row
        assert row["requests"] > 1
        assert row["requests_per_second"] > 0
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["client_cpu_us_per_request"] >= 0
    ratios = results["ratios"]
    per_worker_count = (
        "create/echo",
        "accept/echo",
        "signed-rsa/unsigned create",
        "signed-ecdsa/unsigned create",
        "create-signed-rsa/crypto floor on one core",
        "create-signed-ecdsa/crypto floor on one core",
    )
    for name in per_worker_count:
        assert set(ratios[name]) == {"1", "2"}
        assert all(value > 0 for value in ratios[name].values())
    assert set(ratios["scaling 2/1 workers"]) == set(WORKLOADS)
    assert all(value > 0 for value in ratios["scaling 2/1 workers"].values())
    assert_crypto_floor(results["crypto_floor"])
    pools = {(pool["algorithm"], pool["workers"]): pool for pool in results["signed_pools"]}
    assert set(pools) == {(algorithm, workers) for algorithm in ALGORITHMS for workers in (1, 2)}
    for pool in pools.values():
        assert pool["reply_signature"] == "verified"
        measured = rows[f"create-signed-{pool['algorithm']}", pool["workers"]]
        assert pool["requests_signed"] > measured["requests"]
        assert 0 < pool["oldest_signature_age_at_end"] < 300


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
