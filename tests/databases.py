"""Databases for the tests and the benchmarks: an emptied PostgreSQL database."""

from sqlalchemy import create_engine

POSTGRES_URL_VARIABLE = "TEMIX_TEST_POSTGRES_URL"
"""The PostgreSQL database the tests and benchmarks may empty and use (``.ci/run`` sets it)."""


def empty_postgres(url: str) -> str:
    """Drop everything in the public schema of the database at ``url``; returns ``url``."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return url
