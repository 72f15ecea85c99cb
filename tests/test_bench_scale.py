"""The scale benchmark fills a store at two tiny sizes, measures its queries over HTTP and
reports well-formed results, on SQLite and on PostgreSQL."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from databases import POSTGRES_URL_VARIABLE

BENCH_SCALE = Path(__file__).parent / "benchmarks" / "bench_scale.py"
QUERIES = {"position-24h": 24, "position-288": 288, "tenders": None, "rep-position": 1}
"""Each query, with the positions every reply must hold (the listing: the standing tenders)."""
SIZES = (500, 2000)
CUSTOMERS = 5
STANDING = 7
ROUNDS = 2
REQUESTS = 3


def _postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE)


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            not _postgres_url(),
            reason=f"set {POSTGRES_URL_VARIABLE} to run against PostgreSQL (.ci/run does)",
        ),
    ),
]


def assert_row(row: dict, transactions: int) -> None:
    """One size's figures: positive, and every reply as the generator stored it."""
    assert row["transactions"] == transactions
    assert row["tenders"] == transactions + STANDING
    assert row["days"] == round(transactions / (24 * CUSTOMERS), 2)
    for key in ("generation_seconds", "records_per_second", "db_bytes", "server_rss_bytes"):
        assert row[key] > 0, key
    assert row["server_peak_rss_bytes"] >= row["server_rss_bytes"]
    assert row["db_bytes_per_100k_tenders"] > 0
    assert row["server_rss_bytes_per_100k_tenders"] > 0
    assert set(row["queries"]) == set(QUERIES)
    for name, query in row["queries"].items():
        assert query["failures"] == 0, query["failure_samples"]
        assert query["requests"] == ROUNDS * REQUESTS
        assert 0 < query["p50_ms"] <= query["p99_ms"], name
        assert len(query["round_p50_ms"]) == ROUNDS
        assert query["server_cpu_ms_per_request"] >= 0
        assert query["items_returned"] == (QUERIES[name] or STANDING), name


@pytest.mark.parametrize("backend", BACKENDS)
def test_bench_scale_measures_each_size(backend: str, tmp_path: Path) -> None:
    results_file = tmp_path / "scale.json"
    section_file = tmp_path / "scale.md"
    command = [sys.executable, str(BENCH_SCALE), "--backends", backend]
    command += ["--sizes", *map(str, SIZES), "--customers", str(CUSTOMERS)]
    command += ["--standing", str(STANDING), "--rounds", str(ROUNDS), "--requests", str(REQUESTS)]
    command += ["--json", str(results_file), "--markdown", str(section_file)]
    if backend == "postgresql":
        command += ["--postgres-url", _postgres_url() or ""]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(results_file.read_text())
    assert results["failed"] is False
    assert results["settings"]["sizes"] == list(SIZES)
    assert results["history"]["transactions_per_day"] == 24 * CUSTOMERS
    assert list(results["backends"]) == [backend]
    measured = results["backends"][backend]
    for row, transactions in zip(measured["sizes"], SIZES, strict=True):
        assert_row(row, transactions)
    growth = measured["growth"]
    assert (growth["from_transactions"], growth["to_transactions"]) == SIZES
    assert growth["transactions_factor"] == SIZES[1] / SIZES[0]
    assert set(growth["median_factor"]) == set(QUERIES)
    assert all(factor > 0 for factor in growth["median_factor"].values())
    assert growth["db_bytes_per_100k_tenders_added"] > 0
    verdict = measured["verdict"]
    assert verdict["transactions"] == SIZES[-1]
    assert verdict["p50_ms"] == measured["sizes"][-1]["queries"]["position-24h"]["p50_ms"]
    assert verdict["under_target"] == (verdict["p50_ms"] < verdict["target_ms"])
    section = section_file.read_text()
    assert section == completed.stdout
    assert f"### {measured['version']}" in section
    assert "Verdict: a customer's day position" in section
    assert "Result: every request answered 200 with the right content" in section


def test_bench_scale_needs_a_database_for_postgresql() -> None:
    environment = dict(os.environ)
    environment.pop(POSTGRES_URL_VARIABLE, None)
    completed = subprocess.run(
        [sys.executable, str(BENCH_SCALE), "--backends", "sqlite", "postgresql"],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )

    assert completed.returncode == 2
    assert "--postgres-url" in completed.stderr
    assert POSTGRES_URL_VARIABLE in completed.stderr
