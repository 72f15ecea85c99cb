"""The durable store: SQLAlchemy 2 Core tables and one unit of work per request.

Stored artifacts (market contexts, tenders, quotes, transactions, deliveries) are kept as the
canonical XML the codec writes (:func:`temix.codec.encode_item`) next to the few columns that
queries filter on, so the stored value is exactly the value that was checked. Instants in
filter columns are whole UTC seconds since the epoch, like the model's intervals.

Concurrency and durability:

* Every request runs in one database transaction (:meth:`Store.transaction`), which also holds
  its idempotency record, so a request is stored whole or not at all.
* Records a rule reads before changing them (a tender being accepted or cancelled, an option
  being exercised) are read ``for_update``: PostgreSQL locks the row until commit, so a racing
  request waits and then reads what the winner wrote. SQLite takes the database's write lock at
  ``BEGIN IMMEDIATE`` for every writing transaction, which serialises writers the same way.
* SQLite runs in WAL mode with ``synchronous=FULL``: a committed transaction survives the
  process being killed and the machine losing power.
* The ledger is append-only: the migration installs triggers that refuse UPDATE and DELETE.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    delete,
    event,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from temix.codec import decode_item, encode_item
from temix.model import (
    Delivery,
    Interval,
    MarketContext,
    MeterReading,
    Product,
    Quote,
    Transaction,
    TransactionRecord,
)
from temix.rules import WHOLE_MARKET_CONTEXT, OfferedTo, TenderRecord
from temix.states import TenderStatus

SQLITE_FILE_NAME = "temix.sqlite3"
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_SECONDS = 30


class UtcDateTime(TypeDecorator):
    """An aware UTC datetime on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store keeps aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

market_contexts = Table(
    "market_contexts",
    metadata,
    Column("uri", String(2048), primary_key=True),
    Column("document", LargeBinary, nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(512), primary_key=True),
    Column("party_id", String(512), primary_key=True),
)

tenders = Table(
    "tenders",
    metadata,
    Column("tender_id", String(512), primary_key=True),
    Column("author", String(512), nullable=False, index=True),
    Column("offered_to", Text, nullable=True, doc="JSON list of party ids; NULL: the market"),
    Column("market_context", String(2048), nullable=False, index=True),
    Column("side", String(8), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("start_s", Integer, nullable=False),
    Column("end_s", Integer, nullable=False),
    Column("remaining", String(64), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("document", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

quotes = Table(
    "quotes",
    metadata,
    Column("quote_id", String(512), primary_key=True),
    Column("publisher", String(512), nullable=False, index=True),
    Column("subscriber", String(512), nullable=False),
    Column("market_contexts", Text, nullable=False, doc="JSON list of the products' contexts"),
    Column("start_s", Integer, nullable=False),
    Column("end_s", Integer, nullable=False),
    Column("cancelled", Integer, nullable=False, default=0),
    Column("document", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

transactions = Table(
    "transactions",
    metadata,
    Column("transaction_id", String(512), primary_key=True),
    Column("buyer", String(512), nullable=False, index=True),
    Column("seller", String(512), nullable=False, index=True),
    Column("tender_id", String(512), nullable=True, index=True),
    Column("related_to", String(512), nullable=True, index=True),
    Column("market_context", String(2048), nullable=False, index=True),
    Column("start_s", Integer, nullable=False),
    Column("end_s", Integer, nullable=False),
    Column("document", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", String(512), primary_key=True),
    Column("party_id", String(512), nullable=False, index=True),
    Column("market_contexts", Text, nullable=False, doc="JSON list of the readings' contexts"),
    Column("start_s", Integer, nullable=False),
    Column("end_s", Integer, nullable=False),
    Column("document", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

balancing_prices = Table(
    "balancing_prices",
    metadata,
    Column("market_context", String(2048), primary_key=True),
    Column("location_id", String(512), primary_key=True),
    Column("start_s", Integer, primary_key=True),
    Column("end_s", Integer, primary_key=True),
    Column("price", String(64), nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("party_id", String(512), primary_key=True),
    Column("request_id", String(512), primary_key=True),
    Column("operation", String(64), nullable=False),
    Column("payload_digest", String(64), nullable=False),
    Column("reply", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("received_at", UtcDateTime, nullable=False, index=True),
    Column("sent_at", UtcDateTime, nullable=False),
    Column("operation", String(64), nullable=True, index=True),
    Column("party_id", String(512), nullable=True, index=True),
    Column("counterparty_id", String(512), nullable=True),
    Column("request_id", String(512), nullable=True),
    Column("verification", String(64), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("http_status", Integer, nullable=False),
    Column("remote_address", String(128), nullable=True),
    Column("request", LargeBinary, nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("verification_detail", Text, nullable=True),
)

parties = Table(
    "parties",
    metadata,
    Column("party_id", String(512), primary_key=True),
    Column("roles", String(256), nullable=False),
    Column("certificate_sha256", String(64), nullable=True, unique=True),
    Column("subject", String(1024), nullable=True, unique=True),
    Column("registered_at", UtcDateTime, nullable=False),
)

seen_signatures = Table(
    "seen_signatures",
    metadata,
    Column("replay_key", String(64), primary_key=True),
    Column("until", UtcDateTime, nullable=False, index=True),
)


def sqlite_url(data_dir: str | Path) -> str:
    """The URL of the default store: one SQLite file in ``data_dir`` (created if missing)."""
    directory = Path(data_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / SQLITE_FILE_NAME}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def connect(dbapi_connection: object, record: object) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get("temix_write", True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def open_engine(url: str) -> Engine:
    """An engine for ``url``, with the SQLite settings above when it is SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def payload_digest(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class StoredReply:
    operation: str
    payload_digest: str
    reply: bytes


@dataclass(frozen=True)
class QuoteRecord:
    """A stored quote with its publisher, subscriber and whether it is cancelled."""

    quote: Quote
    publisher: str
    subscriber: str
    cancelled: bool


@dataclass(frozen=True)
class LedgerEntry:
    """One exchange: the bytes received and sent, when, for whom, and how it ended."""

    received_at: datetime
    sent_at: datetime
    operation: str | None
    party_id: str | None
    counterparty_id: str | None
    request_id: str | None
    verification: str
    outcome: str
    http_status: int
    remote_address: str | None
    request: bytes
    response: bytes
    verification_detail: str | None = None
    seq: int | None = None


@dataclass(frozen=True)
class PartyRecord:
    """A registered party: its roles, and how its certificate is recognised: by a pin (the
    SHA-256 fingerprint of the certificate) or by its subject under a CA the server trusts."""

    party_id: str
    roles: frozenset[str]
    certificate_sha256: str | None = None
    subject: str | None = None


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _json_list(values: Iterable[str]) -> str:
    return json.dumps(sorted(set(values)))


def _delivering_during(table: Table, intervals: Sequence[Interval]) -> ColumnElement[bool]:
    """Rows whose ``start_s``..``end_s`` span overlaps any of ``intervals``."""
    return or_(
        *(
            (table.c.start_s < _seconds(interval.end)) & (table.c.end_s > _seconds(interval.start))
            for interval in intervals
        )
    )


@functools.lru_cache(maxsize=256)
def _market_context_from(document: bytes) -> MarketContext:
    """Decoded once per process and stored document: almost every request reads its market
    context, and a changed one is a different document."""
    return decode_item(document)


def _matches(
    parts: Iterable[Product | MeterReading],
    market_contexts_: Sequence[str],
    intervals: Sequence[Interval],
) -> bool:
    """Whether some part (a quote's product, a delivery's reading) is in one of the market
    contexts and some part overlaps one of the intervals; an empty filter matches anything."""
    listed = tuple(parts)
    in_market = not market_contexts_ or any(p.market_context in market_contexts_ for p in listed)
    in_time = not intervals or any(p.interval.overlap(i) for p in listed for i in intervals)
    return in_market and in_time


class Unit:
    """The reads and writes of one request, inside one database transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # --- market contexts and groups

    def market_context(self, uri: str) -> MarketContext | None:
        row = self.connection.execute(
            select(market_contexts.c.document).where(market_contexts.c.uri == uri)
        ).first()
        return None if row is None else _market_context_from(row.document)

    def all_market_contexts(self) -> list[MarketContext]:
        rows = self.connection.execute(
            select(market_contexts.c.document).order_by(market_contexts.c.uri)
        )
        return [_market_context_from(row.document) for row in rows]

    def put_market_context(self, context: MarketContext, now: datetime) -> None:
        """Register ``context``, replacing one with the same URI."""
        stored = market_contexts.c.uri == context.uri
        self.connection.execute(market_contexts.delete().where(stored))
        self.connection.execute(
            insert(market_contexts),
            dict(uri=context.uri, document=encode_item(context), stored_at=now),
        )

    def group(self, group_id: str) -> frozenset[str]:
        rows = self.connection.execute(
            select(group_members.c.party_id).where(group_members.c.group_id == group_id)
        )
        return frozenset(row.party_id for row in rows)

    def set_group(self, group_id: str, party_ids: Iterable[str]) -> None:
        self.connection.execute(group_members.delete().where(group_members.c.group_id == group_id))
        members = sorted(set(party_ids))
        if members:
            self.connection.execute(
                insert(group_members),
                [{"group_id": group_id, "party_id": party} for party in members],
            )

    # --- tenders

    @staticmethod
    def _tender_record(row: object) -> TenderRecord:
        offered_to: OfferedTo = (
            WHOLE_MARKET_CONTEXT
            if row.offered_to is None  # type: ignore[attr-defined]
            else frozenset(json.loads(row.offered_to))  # type: ignore[attr-defined]
        )
        return TenderRecord(
            tender=decode_item(row.document),  # type: ignore[attr-defined]
            author=row.author,  # type: ignore[attr-defined]
            offered_to=offered_to,
            remaining=Decimal(row.remaining),  # type: ignore[attr-defined]
            status=TenderStatus(row.status),  # type: ignore[attr-defined]
        )

    def tender(self, tender_id: str, *, for_update: bool = False) -> TenderRecord | None:
        query = select(tenders).where(tenders.c.tender_id == tender_id)
        if for_update:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return None if row is None else self._tender_record(row)

    def add_tender(self, record: TenderRecord, now: datetime) -> None:
        product = record.tender.product
        offered_to = None if record.offered_to is WHOLE_MARKET_CONTEXT else record.offered_to
        self.connection.execute(
            insert(tenders),
            dict(
                tender_id=record.tender.tender_id,
                author=record.author,
                offered_to=None if offered_to is None else _json_list(offered_to),
                market_context=product.market_context,
                side=product.side.value,
                kind=product.kind.value,
                start_s=_seconds(product.interval.start),
                end_s=_seconds(product.interval.end),
                remaining=str(record.remaining),
                status=record.status.value,
                document=encode_item(record.tender),
                created_at=now,
            ),
        )

    def update_tender(self, record: TenderRecord) -> None:
        """Store a tender's new remaining rate and status (the tender itself never changes)."""
        self.connection.execute(
            update(tenders)
            .where(tenders.c.tender_id == record.tender.tender_id)
            .values(remaining=str(record.remaining), status=record.status.value)
        )

    def tenders(
        self,
        *,
        tender_ids: Sequence[str] = (),
        market_contexts_: Sequence[str] = (),
        authors: Sequence[str] = (),
        intervals: Sequence[Interval] = (),
        statuses: Sequence[TenderStatus] = (),
    ) -> list[TenderRecord]:
        """Stored tenders matching every given filter (an empty filter matches all), oldest
        first. An interval filter keeps tenders whose delivery overlaps any of ``intervals``."""
        query = select(tenders).order_by(tenders.c.created_at, tenders.c.tender_id)
        if tender_ids:
            query = query.where(tenders.c.tender_id.in_(tender_ids))
        if market_contexts_:
            query = query.where(tenders.c.market_context.in_(market_contexts_))
        if authors:
            query = query.where(tenders.c.author.in_(authors))
        if statuses:
            query = query.where(tenders.c.status.in_([status.value for status in statuses]))
        if intervals:
            query = query.where(_delivering_during(tenders, intervals))
        return [self._tender_record(row) for row in self.connection.execute(query)]

    # --- quotes

    def quote(self, quote_id: str) -> QuoteRecord | None:
        row = self.connection.execute(select(quotes).where(quotes.c.quote_id == quote_id)).first()
        if row is None:
            return None
        return QuoteRecord(
            decode_item(row.document), row.publisher, row.subscriber, bool(row.cancelled)
        )

    def add_quote(self, quote: Quote, publisher: str, subscriber: str, now: datetime) -> None:
        intervals = [product.interval for product in quote.products]
        self.connection.execute(
            insert(quotes),
            dict(
                quote_id=quote.quote_id,
                publisher=publisher,
                subscriber=subscriber,
                market_contexts=_json_list(p.market_context for p in quote.products),
                start_s=min(_seconds(i.start) for i in intervals),
                end_s=max(_seconds(i.end) for i in intervals),
                cancelled=0,
                document=encode_item(quote),
                created_at=now,
            ),
        )

    def cancel_quote(self, quote_id: str) -> None:
        self.connection.execute(
            update(quotes).where(quotes.c.quote_id == quote_id).values(cancelled=1)
        )

    def quotes(
        self,
        *,
        publisher: str,
        quote_ids: Sequence[str] = (),
        market_contexts_: Sequence[str] = (),
        intervals: Sequence[Interval] = (),
    ) -> list[tuple[Quote, str]]:
        """``publisher``'s standing (not cancelled) quotes with their subscribers, oldest first."""
        query = (
            select(quotes)
            .where(quotes.c.publisher == publisher, quotes.c.cancelled == 0)
            .order_by(quotes.c.created_at, quotes.c.quote_id)
        )
        if quote_ids:
            query = query.where(quotes.c.quote_id.in_(quote_ids))
        found = []
        for row in self.connection.execute(query):
            quote: Quote = decode_item(row.document)
            if _matches(quote.products, market_contexts_, intervals):
                found.append((quote, row.subscriber))
        return found

    # --- transactions

    @staticmethod
    def _transaction_record(row: object) -> TransactionRecord:
        return TransactionRecord(
            decode_item(row.document),  # type: ignore[attr-defined]
            buyer=row.buyer,  # type: ignore[attr-defined]
            seller=row.seller,  # type: ignore[attr-defined]
        )

    def transaction(
        self, transaction_id: str, *, for_update: bool = False
    ) -> TransactionRecord | None:
        query = select(transactions).where(transactions.c.transaction_id == transaction_id)
        if for_update:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return None if row is None else self._transaction_record(row)

    def add_transaction(self, record: TransactionRecord, now: datetime) -> None:
        transaction = record.transaction
        product = transaction.product
        self.connection.execute(
            insert(transactions),
            dict(
                transaction_id=transaction.transaction_id,
                buyer=record.buyer,
                seller=record.seller,
                tender_id=transaction.tender_id,
                related_to=product.related_to,
                market_context=product.market_context,
                start_s=_seconds(product.interval.start),
                end_s=_seconds(product.interval.end),
                document=encode_item(transaction),
                created_at=now,
            ),
        )

    def exercises_of(self, option_id: str) -> list[Transaction]:
        rows = self.connection.execute(
            select(transactions.c.document)
            .where(transactions.c.related_to == option_id)
            .order_by(transactions.c.created_at, transactions.c.transaction_id)
        )
        return [decode_item(row.document) for row in rows]

    def transactions(
        self,
        *,
        party: str | None,
        transaction_ids: Sequence[str] = (),
        counterparties: Sequence[str] = (),
        market_contexts_: Sequence[str] = (),
        intervals: Sequence[Interval] = (),
    ) -> list[TransactionRecord]:
        """The transactions ``party`` is buyer or seller in (any party's for None), matching
        every given filter, oldest first; an interval filter keeps transactions whose delivery
        overlaps any interval."""
        query = select(transactions).order_by(
            transactions.c.created_at, transactions.c.transaction_id
        )
        if party is not None:
            query = query.where((transactions.c.buyer == party) | (transactions.c.seller == party))
        if transaction_ids:
            query = query.where(transactions.c.transaction_id.in_(transaction_ids))
        if counterparties:
            query = query.where(
                transactions.c.buyer.in_(counterparties) | transactions.c.seller.in_(counterparties)
            )
        if market_contexts_:
            query = query.where(transactions.c.market_context.in_(market_contexts_))
        if intervals:
            query = query.where(_delivering_during(transactions, intervals))
        return [self._transaction_record(row) for row in self.connection.execute(query)]

    def all_transactions(self, market_context: str, interval: Interval) -> list[TransactionRecord]:
        """Every transaction in ``market_context`` delivering during ``interval``."""
        query = (
            select(transactions)
            .where(
                transactions.c.market_context == market_context,
                _delivering_during(transactions, (interval,)),
            )
            .order_by(transactions.c.created_at, transactions.c.transaction_id)
        )
        return [self._transaction_record(row) for row in self.connection.execute(query)]

    # --- deliveries and balancing prices

    def add_delivery(self, delivery: Delivery, party: str) -> None:
        assert delivery.delivery_id is not None and delivery.created is not None
        intervals = [reading.interval for reading in delivery.readings]
        self.connection.execute(
            insert(deliveries),
            dict(
                delivery_id=delivery.delivery_id,
                party_id=party,
                market_contexts=_json_list(r.market_context for r in delivery.readings),
                start_s=min(_seconds(i.start) for i in intervals),
                end_s=max(_seconds(i.end) for i in intervals),
                document=encode_item(delivery),
                created_at=delivery.created,
            ),
        )

    def deliveries(
        self,
        *,
        party: str,
        delivery_ids: Sequence[str] = (),
        market_contexts_: Sequence[str] = (),
        intervals: Sequence[Interval] = (),
    ) -> list[Delivery]:
        """``party``'s stored deliveries matching every given filter, oldest first."""
        query = (
            select(deliveries)
            .where(deliveries.c.party_id == party)
            .order_by(deliveries.c.created_at, deliveries.c.delivery_id)
        )
        if delivery_ids:
            query = query.where(deliveries.c.delivery_id.in_(delivery_ids))
        found = []
        for row in self.connection.execute(query):
            delivery: Delivery = decode_item(row.document)
            if _matches(delivery.readings, market_contexts_, intervals):
                found.append(delivery)
        return found

    def set_balancing_price(
        self, market_context: str, location_id: str, interval: Interval, price: Decimal
    ) -> None:
        key = {
            "market_context": market_context,
            "location_id": location_id,
            "start_s": _seconds(interval.start),
            "end_s": _seconds(interval.end),
        }
        condition = [balancing_prices.c[name] == value for name, value in key.items()]
        self.connection.execute(balancing_prices.delete().where(*condition))
        self.connection.execute(insert(balancing_prices), {**key, "price": str(price)})

    def balancing_prices(
        self, market_context: str, location_id: str, period: Interval
    ) -> dict[Interval, Decimal]:
        rows = self.connection.execute(
            select(balancing_prices).where(
                balancing_prices.c.market_context == market_context,
                balancing_prices.c.location_id == location_id,
                _delivering_during(balancing_prices, (period,)),
            )
        )
        return {
            Interval.between(
                datetime.fromtimestamp(row.start_s, UTC), datetime.fromtimestamp(row.end_s, UTC)
            ): Decimal(row.price)
            for row in rows
        }

    # --- idempotency

    def stored_reply(self, party_id: str, request_id: str) -> StoredReply | None:
        row = self.connection.execute(
            select(requests).where(
                requests.c.party_id == party_id, requests.c.request_id == request_id
            )
        ).first()
        if row is None:
            return None
        return StoredReply(row.operation, row.payload_digest, row.reply)

    def remember_reply(
        self,
        party_id: str,
        request_id: str,
        operation: str,
        digest: str,
        reply: bytes,
        now: datetime,
    ) -> None:
        self.connection.execute(
            insert(requests),
            dict(
                party_id=party_id,
                request_id=request_id,
                operation=operation,
                payload_digest=digest,
                reply=reply,
                created_at=now,
            ),
        )

    # --- parties and seen signatures

    @staticmethod
    def _party_record(row: object) -> PartyRecord:
        return PartyRecord(
            row.party_id, frozenset(row.roles.split()), row.certificate_sha256, row.subject
        )

    def put_party(self, party: PartyRecord, now: datetime) -> None:
        """Register ``party``, or replace its roles and certificate binding."""
        self.connection.execute(delete(parties).where(parties.c.party_id == party.party_id))
        self.connection.execute(
            insert(parties),
            dict(
                party_id=party.party_id,
                roles=" ".join(sorted(party.roles)),
                certificate_sha256=party.certificate_sha256,
                subject=party.subject,
                registered_at=now,
            ),
        )

    def all_parties(self) -> list[PartyRecord]:
        rows = self.connection.execute(select(parties).order_by(parties.c.party_id))
        return [self._party_record(row) for row in rows]

    def parties_recognising(self, certificate_sha256: str, subject: str) -> list[PartyRecord]:
        """The parties bound to the certificate with this fingerprint or this subject."""
        rows = self.connection.execute(
            select(parties).where(
                (parties.c.certificate_sha256 == certificate_sha256)
                | (parties.c.subject == subject)
            )
        )
        return [self._party_record(row) for row in rows]

    def see_signature(self, replay_key: str, until: datetime, now: datetime) -> bool:
        """Record a signature until ``until``; False if it was already recorded and is still
        kept (a replay). Records kept past their time are dropped here."""
        self.connection.execute(delete(seen_signatures).where(seen_signatures.c.until < now))
        try:
            with self.connection.begin_nested():
                self.connection.execute(
                    insert(seen_signatures), dict(replay_key=replay_key, until=until)
                )
        except IntegrityError:
            return False
        return True

    # --- ledger

    def append_ledger(self, entry: LedgerEntry) -> None:
        values = {
            column.name: getattr(entry, column.name)
            for column in ledger.columns
            if column.name != "seq"
        }
        self.connection.execute(insert(ledger), values)

    def ledger(
        self,
        *,
        party_id: str | None = None,
        operation: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[LedgerEntry]:
        """Ledger entries in the order they were written, filtered by every given argument
        (``since`` inclusive, ``until`` exclusive, on the time the request was received)."""
        query = select(ledger).order_by(ledger.c.seq)
        if party_id is not None:
            query = query.where(ledger.c.party_id == party_id)
        if operation is not None:
            query = query.where(ledger.c.operation == operation)
        if since is not None:
            query = query.where(ledger.c.received_at >= since)
        if until is not None:
            query = query.where(ledger.c.received_at < until)
        if limit is not None:
            query = query.limit(limit)
        return [LedgerEntry(**row._mapping) for row in self.connection.execute(query)]


class Store:
    """The database behind one server process (or one test)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        return cls(open_engine(url))

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Unit]:
        """One database transaction: committed when the block ends, rolled back on error."""
        with self.engine.connect() as connection:
            connection.execution_options(temix_write=write)
            with connection.begin():
                yield Unit(connection)

    def close(self) -> None:
        self.engine.dispose()


def migrate(store: Store, revision: str = "head") -> None:
    """Bring the store's schema to ``revision`` (the newest by default) with Alembic."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
