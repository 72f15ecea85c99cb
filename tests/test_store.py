"""The store's schema comes from its migrations, on SQLite and PostgreSQL, and its filters
keep exactly the records they describe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import LargeBinary, bindparam, inspect, text

from temix.codec import encode_item
from temix.model import (
    Delivery,
    Interval,
    Location,
    MeterReading,
    PowerDescription,
    Product,
    Quote,
    Side,
    Tender,
    Transaction,
    TransactionRecord,
    TransactiveState,
)
from temix.rules import WHOLE_MARKET_CONTEXT, OfferedTo, TenderRecord
from temix.server.store import (
    MIGRATIONS,
    LedgerEntry,
    Store,
    UtcDateTime,
    metadata,
    migrate,
)
from temix.settlement import PriceKind
from temix.states import OPEN_STATUSES, TenderStatus


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


def _downgrade(store: Store, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_the_migrations_downgrade_to_nothing_and_upgrade_again(store: Store) -> None:
    _downgrade(store, "base")
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


MARKET = "urn:temix:market:development"
OTHER_MARKET = "urn:temix:market:other"
DAY = datetime(2026, 7, 1, tzinfo=UTC)
CREATED = DAY - timedelta(days=2)


def _hours(start: float, end: float) -> Interval:
    """From ``start`` to ``end`` hours into the day, to the second."""
    return Interval.between(
        DAY + timedelta(seconds=round(start * 3600)), DAY + timedelta(seconds=round(end * 3600))
    )


def _product(
    uid: str,
    interval: Interval,
    state: TransactiveState,
    *,
    market: str = MARKET,
    expires: datetime | None = None,
) -> Product:
    return Product(
        uid=uid,
        interval=interval,
        description=PowerDescription(Location("NODE-A"), Decimal("40"), Decimal("5")),
        state=state,
        side=Side.SELL,
        market_context=market,
        expires=expires,
    )


def _tender(
    tender_id: str,
    interval: Interval,
    *,
    author: str = "rep",
    offered_to: OfferedTo = WHOLE_MARKET_CONTEXT,
    status: TenderStatus = TenderStatus.LIVE,
    expires: datetime | None = None,
) -> TenderRecord:
    tender = Tender(
        tender_id, _product(f"P-{tender_id}", interval, TransactiveState.TENDER, expires=expires)
    )
    remaining = Decimal(0) if status is TenderStatus.FILLED else Decimal(5)
    return TenderRecord(tender, author, offered_to, remaining, status)


def _transaction(
    transaction_id: str, interval: Interval, buyer: str, seller: str, market: str = MARKET
) -> TransactionRecord:
    product = _product(f"P-{transaction_id}", interval, TransactiveState.TRANSACTION, market=market)
    return TransactionRecord(Transaction(transaction_id, product), buyer=buyer, seller=seller)


SPANS = {
    "first hour": (0, 1),
    "second hour": (1, 2),
    "third hour": (2, 3),
    "fourth and fifth": (3, 5),
    "sixth hour": (5, 6),
    "ninth hour": (8, 9),
    "whole day": (0, 24),
    "five minutes": (5.5, 5.5 + 1 / 12),
}
"""The delivery of each stored record, by the record's name, in hours into the day."""

ASKED = {
    "sparse": (_hours(0, 1), _hours(5, 6)),
    "touching": (_hours(1, 2),),
    "overlapping, out of order, repeated": (_hours(4, 6), _hours(3, 5), _hours(4, 6)),
    "nested": (_hours(1, 2), _hours(0, 7)),
    "five-minute": _hours(4, 6).split(timedelta(minutes=5))[-6:],
    "far away": (_hours(30, 31),),
}
"""Interval filters, by name."""


def _overlapping(intervals: Sequence[Interval]) -> list[str]:
    """The names in SPANS overlapping one of ``intervals``, in SPANS order."""
    return [
        name
        for name, (start, end) in SPANS.items()
        if any(_hours(start, end).overlap(interval) for interval in intervals)
    ]


def test_a_row_between_two_asked_intervals_or_touching_one_is_left_out(store: Store) -> None:
    with store.transaction() as unit:
        for index, (name, (start, end)) in enumerate(SPANS.items()):
            unit.add_transaction(_transaction(name, _hours(start, end), "alice", "bob"), CREATED)
            unit.add_tender(_tender(name, _hours(start, end)), CREATED + timedelta(seconds=index))
    with store.transaction(write=False) as unit:
        sparse = unit.transactions(party="alice", intervals=ASKED["sparse"])
        touching = unit.tenders(intervals=ASKED["touching"])
    assert {record.transaction.transaction_id for record in sparse} == {
        "first hour",
        "sixth hour",
        "whole day",
        "five minutes",
    }
    assert [record.tender.tender_id for record in touching] == ["second hour", "whole day"]


@pytest.mark.parametrize("asked", ASKED)
def test_interval_filters_keep_exactly_the_overlapping_records_oldest_first(
    store: Store, asked: str
) -> None:
    """Stored in the reverse of SPANS order, so that the creation order is not the names'."""
    intervals = ASKED[asked]
    with store.transaction() as unit:
        for index, (name, (start, end)) in enumerate(reversed(SPANS.items())):
            created = CREATED + timedelta(seconds=index)
            interval = _hours(start, end)
            buyer, seller = ("alice", "bob") if index % 2 else ("bob", "alice")
            unit.add_transaction(_transaction(name, interval, buyer, seller), created)
            unit.add_transaction(
                _transaction(f"{name}, elsewhere", interval, "bob", "carol"), created
            )
            unit.add_tender(_tender(name, interval), created)
            unit.set_price(PriceKind.BALANCING, MARKET, "NODE-A", interval, Decimal(index))
    expected = list(reversed(_overlapping(intervals)))
    with store.transaction(write=False) as unit:
        mine = unit.transactions(party="alice", market_contexts_=(MARKET,), intervals=intervals)
        offered = unit.tenders(intervals=intervals, statuses=tuple(OPEN_STATUSES))
        everyone = [unit.all_transactions(MARKET, interval) for interval in intervals]
        prices = [
            unit.prices(PriceKind.BALANCING, MARKET, "NODE-A", interval) for interval in intervals
        ]
    assert [record.transaction.transaction_id for record in mine] == expected
    assert [record.tender.tender_id for record in offered] == expected
    for interval, found, priced in zip(intervals, everyone, prices, strict=True):
        names = list(reversed(_overlapping((interval,))))
        assert [record.transaction.transaction_id for record in found] == [
            name for each in names for name in (each, f"{each}, elsewhere")
        ]
        assert sorted(priced) == sorted(_hours(*SPANS[name]) for name in _overlapping((interval,)))


def test_quotes_and_deliveries_match_on_their_parts_not_their_span(store: Store) -> None:
    """A quote or delivery with parts in the first and sixth hour spans the hours between,
    where it has no part."""
    first, sixth = _hours(0, 1), _hours(5, 6)
    quote = Quote(
        "Q-1",
        tuple(
            _product(f"P-{i}", interval, TransactiveState.INDICATION_OF_INTEREST, market=market)
            for i, (interval, market) in enumerate(((first, MARKET), (sixth, OTHER_MARKET)))
        ),
    )
    delivery = Delivery(
        "D-uid",
        False,
        tuple(
            MeterReading(interval, Decimal(3), market, Location("NODE-A"))
            for interval, market in ((first, MARKET), (sixth, OTHER_MARKET))
        ),
        "D-1",
        CREATED,
    )
    with store.transaction() as unit:
        unit.add_quote(quote, "rep", "alice", CREATED)
        unit.add_delivery(delivery, "alice")

    def found(intervals: Sequence[Interval], markets: Sequence[str] = ()) -> tuple[int, int]:
        with store.transaction(write=False) as unit:
            quotes = unit.quotes(publisher="rep", market_contexts_=markets, intervals=intervals)
            deliveries = unit.deliveries(
                party="alice", market_contexts_=markets, intervals=intervals
            )
        return len(quotes), len(deliveries)

    assert found((_hours(2, 3),)) == (0, 0)
    assert found((_hours(1, 2), _hours(5, 6))) == (1, 1)
    assert found((_hours(6, 7),)) == (0, 0)
    assert found((), (OTHER_MARKET,)) == (1, 1)
    assert found((), ("urn:temix:market:unknown",)) == (0, 0)
    assert found((_hours(2, 3),), (MARKET,)) == (0, 0)


def test_a_listing_open_at_an_instant_leaves_out_tenders_expired_by_then(store: Store) -> None:
    """Whatever their stored status: a tender is marked expired only when a rule reads it."""
    delivery = _hours(12, 13)
    expiry = DAY + timedelta(hours=11)
    with store.transaction() as unit:
        unit.add_tenders(
            [
                _tender("no expiry", delivery),
                _tender("expiring", delivery, expires=expiry),
                _tender("filled", delivery, expires=expiry, status=TenderStatus.FILLED),
                _tender("expired", delivery, expires=expiry, status=TenderStatus.EXPIRED),
            ],
            CREATED,
        )

    def open_at(moment: datetime) -> list[str]:
        with store.transaction(write=False) as unit:
            found = unit.tenders(statuses=tuple(OPEN_STATUSES), open_at=moment)
        return [record.tender.tender_id for record in found]

    assert open_at(expiry - timedelta(microseconds=1)) == ["expiring", "no expiry"]
    assert open_at(expiry) == ["no expiry"]
    with store.transaction(write=False) as unit:
        assert len(unit.tenders(open_at=expiry - timedelta(seconds=1))) == 4


@pytest.mark.parametrize("party", ["alice", "ALICE", "al", "a%", "a_ice", "b", ", ", "bob\\"])
def test_a_listing_for_a_party_keeps_the_tenders_it_wrote_or_was_offered(
    store: Store, party: str
) -> None:
    """Offered-to lists are matched exactly, whatever characters the party ids hold."""
    delivery = _hours(12, 13)
    records = [
        _tender("T1", delivery),
        _tender("T2", delivery, offered_to=frozenset({"alice", "carol"})),
        _tender("T3", delivery, offered_to=frozenset({"a%"})),
        _tender("T4", delivery, offered_to=frozenset({"a", "b", "c"})),
        _tender("T5", delivery, author="alice", offered_to=frozenset({"bob"})),
        _tender("T6", delivery, offered_to=frozenset({"bob\\", "dave"})),
    ]
    with store.transaction() as unit:
        unit.add_tenders(records, CREATED)
    with store.transaction(write=False) as unit:
        found = [record.tender.tender_id for record in unit.tenders(visible_to=party)]
    expected = [
        record.tender.tender_id
        for record in records
        if record.author == party or record.is_offered_to(party)
    ]
    assert found == expected


def test_bulk_writers_store_what_single_writes_store(store: Store) -> None:
    delivery = _hours(12, 13)
    tenders = [_tender(f"T-{i}", delivery, expires=DAY) for i in range(3)]
    transactions = [_transaction(f"X-{i}", delivery, "alice", "bob") for i in range(3)]
    with store.transaction() as unit:
        unit.add_tenders([], CREATED)
        unit.add_transactions([], CREATED)
        unit.add_tenders(tenders[:2], CREATED)
        unit.add_tender(tenders[2], CREATED)
        unit.add_transactions(transactions[:2], CREATED)
        unit.add_transaction(transactions[2], CREATED)
    with store.transaction(write=False) as unit:
        assert unit.tenders() == tenders
        assert unit.transactions(party="bob") == transactions
        assert [unit.tender(f"T-{i}") for i in range(3)] == tenders


def test_upgrading_fills_in_the_expiry_of_stored_tenders(store: Store) -> None:
    """More tenders than the migration decodes in one batch."""
    delivery = _hours(12, 13)
    expiry = DAY + timedelta(hours=11)
    records = [
        _tender(f"T-{i:04d}", delivery, expires=None if i % 3 else expiry) for i in range(1001)
    ]
    with store.transaction() as unit:
        unit.add_tenders(records, CREATED)
    _downgrade(store, "0002")
    assert "expires_s" not in {
        column["name"] for column in inspect(store.engine).get_columns("tenders")
    }
    migrate(store)
    with store.transaction(write=False) as unit:
        standing = unit.tenders(statuses=tuple(OPEN_STATUSES), open_at=expiry)
    assert [record.tender.tender_id for record in standing] == [
        f"T-{i:04d}" for i in range(1001) if i % 3
    ]
    assert _differences(store) == []


def test_documents_are_stored_compressed_and_uncompressed_ones_are_still_read(
    store: Store,
) -> None:
    compressed, plain = _tender("T-new", _hours(12, 13)), _tender("T-old", _hours(13, 14))
    with store.transaction() as unit:
        unit.add_tenders([compressed, plain], CREATED)
        written = encode_item(plain.tender)
        unit.connection.execute(
            text("UPDATE tenders SET document = :raw WHERE tender_id = 'T-old'").bindparams(
                bindparam("raw", type_=LargeBinary)
            ),
            {"raw": written},
        )
    with store.transaction(write=False) as unit:
        raw = dict(unit.connection.exec_driver_sql("SELECT tender_id, document FROM tenders").all())
        found = {record.tender.tender_id: record for record in unit.tenders()}
    assert bytes(raw["T-old"]) == written
    assert not bytes(raw["T-new"]).startswith(b"<")
    assert len(raw["T-new"]) < len(encode_item(compressed.tender)) / 2
    assert found["T-new"].tender == compressed.tender
    assert found["T-old"].tender == plain.tender


def test_the_ledger_keeps_bytes_compressed_and_reads_entries_written_before_as_they_are(
    store: Store,
) -> None:
    sent = b"<soap:Envelope>" + b"<ei:eiTender>the same tender</ei:eiTender>" * 200 + b"</x>"
    compressed = replace(_entry(DAY), request_id="new", response=sent)
    with store.transaction() as unit:
        unit.append_ledger(compressed)
        unit.connection.execute(
            text(
                "INSERT INTO ledger (received_at, sent_at, verification, outcome, http_status, "
                "request, response) VALUES (:at, :at, 'unsigned', '200', 200, :request, :sent)"
            ).bindparams(
                bindparam("at", type_=UtcDateTime),
                bindparam("request", type_=LargeBinary),
                bindparam("sent", type_=LargeBinary),
            ),
            {"at": DAY, "request": b"x\x9c raw bytes as received", "sent": b"as sent"},
        )
    with store.transaction(write=False) as unit:
        stored = unit.connection.exec_driver_sql(
            "SELECT compressed, response FROM ledger ORDER BY seq"
        ).all()
        entries = unit.ledger()
    assert [row.compressed for row in stored] == [1, 0]
    assert len(stored[0].response) < len(sent) / 10
    assert entries[0] == replace(compressed, seq=entries[0].seq)
    assert (entries[1].request, entries[1].response) == (b"x\x9c raw bytes as received", b"as sent")
