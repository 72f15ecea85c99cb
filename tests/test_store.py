"""The store's schema comes from its migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from temix.server.store import MIGRATIONS, LedgerEntry, Store, metadata, migrate


@pytest.fixture
def store(database_url: str) -> Store:
    opened = Store.open(database_url)
    migrate(opened)
    yield opened
    opened.close()


def _differences(store: Store) -> list:
    with store.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), metadata)


def test_the_migrations_build_exactly_the_tables_the_code_uses(store: Store) -> None:
    assert _differences(store) == []
    migrate(store)
    assert _differences(store) == []


def test_the_migrations_downgrade_to_nothing_and_upgrade_again(store: Store) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    migrate(store)
    assert _differences(store) == []


def _entry(received_at: datetime) -> LedgerEntry:
    return LedgerEntry(
        received_at=received_at,
        sent_at=received_at + timedelta(milliseconds=3),
        operation="EiCreateTender",
        party_id="rep",
        counterparty_id="customer",
        request_id="r1",
        verification="unsigned",
        outcome="200",
        http_status=200,
        remote_address="192.0.2.1",
        request=b"<in/>",
        response=b"<out/>",
    )


def test_times_come_back_aware_in_utc_and_filter_the_ledger(store: Store) -> None:
    chicago_summer = timezone(timedelta(hours=-5))
    moment = datetime(2026, 7, 1, 10, 0, 0, 123000, tzinfo=chicago_summer)
    with store.transaction() as unit:
        unit.append_ledger(_entry(moment))
        unit.append_ledger(_entry(moment + timedelta(hours=1)))
    with store.transaction(write=False) as unit:
        first, second = unit.ledger()
        later = unit.ledger(since=moment + timedelta(minutes=30))
    assert first.received_at == datetime(2026, 7, 1, 15, 0, 0, 123000, tzinfo=UTC)
    assert first.received_at.tzinfo == UTC
    assert (first.request, first.response) == (b"<in/>", b"<out/>")
    assert first.seq < second.seq
    assert [entry.seq for entry in later] == [second.seq]


def test_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="aware"), store.transaction() as unit:
        unit.append_ledger(_entry(datetime(2026, 7, 1, 10, 0)))
