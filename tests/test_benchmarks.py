"""The loopback benchmark runs end to end at a tiny size and reports well-formed results."""

import json
import subprocess
import sys
from pathlib import Path

BENCH_SERVER = Path(__file__).parent / "benchmarks" / "bench_server.py"
WORKLOADS = ("echo", "create", "accept")


def test_bench_server_reports_rates_latencies_and_ratios(tmp_path: Path) -> None:
    results_file = tmp_path / "results.json"
    command = [sys.executable, str(BENCH_SERVER), "--seconds", "0.3", "--warmup", "0.1"]
    command += ["--clients", "1", "--workers", "1", "2", "--json", str(results_file)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "result: every counted reply was a 200" in completed.stdout
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
    for name in ("create/echo", "accept/echo"):
        assert set(ratios[name]) == {"1", "2"}
        assert all(value > 0 for value in ratios[name].values())
    assert set(ratios["scaling 2/1 workers"]) == set(WORKLOADS)
    assert all(value > 0 for value in ratios["scaling 2/1 workers"].values())
