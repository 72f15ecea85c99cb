"""``tests/benchmarks/bench.py``, the one command of the performance report, runs both
benchmarks at its quick size and writes one markdown report with the targets.

It measures PostgreSQL as well, so it needs ``TEMIX_TEST_POSTGRES_URL`` (``.ci/run`` sets it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from databases import POSTGRES_URL_VARIABLE

BENCH = Path(__file__).parent / "benchmarks" / "bench.py"


def test_one_command_writes_the_whole_report_with_its_targets(tmp_path: Path) -> None:
    postgres_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not postgres_url:
        pytest.skip(f"set {POSTGRES_URL_VARIABLE} to run the report (.ci/run does)")
    out, results_file = tmp_path / "report.md", tmp_path / "results.json"
    command = [sys.executable, str(BENCH), "--quick", "--postgres-url", postgres_url]
    completed = subprocess.run(
        [*command, "--out", str(out), "--json", str(results_file)],
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = out.read_text()
    assert report == completed.stdout
    assert report.startswith("# temix performance and scale\n")
    for section in (
        "## Targets",
        "## temix serve: throughput and latency on loopback",
        "## temix serve under idle and slow clients",
        "## Scale: position queries and tender listings over a growing store",
    ):
        assert f"\n{section}\n" in report
    targets = report.split("## Targets")[1].split("\n## ")[0]
    for backend in ("SQLite", "PostgreSQL"):
        for target in ("create / echo", "2 / 1 workers", "position query", "time per query"):
            assert any(target in row and f"| {backend} |" in row for row in targets.splitlines())
    assert "crypto floor RSA-2048" in targets and "crypto floor ECDSA P-256" in targets
    assert "| legitimate p99 beside idle, slow and flooding clients | SQLite | 1 |" in targets
    results = json.loads(results_file.read_text())
    assert results["settings"]["quick"] is True
    assert results["server"]["failed"] is False
    assert results["attack"]["failed"] is False
    assert results["scale"]["failed"] is False
    assert set(results["scale"]["backends"]) == {"sqlite", "postgresql"}


def test_the_report_needs_a_postgresql_database(tmp_path: Path) -> None:
    environment = {
        name: value for name, value in os.environ.items() if name != POSTGRES_URL_VARIABLE
    }
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(tmp_path / "report.md")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "--postgres-url" in completed.stderr
    assert not (tmp_path / "report.md").exists()
