"""Shared test set-up: the test helper modules importable by name, and the databases."""

import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).parent))


POSTGRES_URL_VARIABLE = "TEMIX_TEST_POSTGRES_URL"


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
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return url
