"""Shared test set-up: the test helper modules importable by name, and the databases."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from databases import POSTGRES_URL_VARIABLE, empty_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or the PostgreSQL database named by
    ``TEMIX_TEST_POSTGRES_URL`` with its schema emptied (``.ci/run`` sets it)."""
    from temix.server.store import sqlite_url

    if request.param == "sqlite":
        return sqlite_url(tmp_path / "data")
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(f"set {POSTGRES_URL_VARIABLE} to run against PostgreSQL (.ci/run does)")
    return empty_postgres(url)
