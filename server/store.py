"""The durable store: SQLAlchemy 2 Core tables and one unit of work per request.

Stored artifacts (market contexts, tenders, quotes, transactions, deliveries) are kept as the
canonical XML the codec writes (:func:`temix.codec.encode_item`) next to the few columns that
queries filter on, so the stored value is exactly the value that was checked; the XML is
zlib-compressed (:class:`StoredXml`). Instants in filter columns are whole UTC seconds since
the epoch, like the model's intervals.

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

Queries stay fast as history grows:

* An interval filter asks SQL for one range, the hull of the asked intervals
  (``start_s < latest end AND end_s > earliest start``), which the composite indexes ending in
  ``end_s, start_s`` serve: most stored rows end before the asked period, so a scan from its
  start reads little. No index serves an OR of one condition per interval. Rows in the hull
  that overlap none of the intervals are dropped on their ``start_s``/``end_s`` columns,
  before any document is decoded.
* Where an OR spans two index ranges (a party as buyer or as seller, a tender without an
  expiry or not yet expired), the two sides are queried apart, in one UNION ALL sorted as a
  whole: for the OR, SQLite reads one range and filters all its rows (PostgreSQL would
  combine the two ranges itself).
* A tender's expiry is a column (``expires_s``), so a listing of standing tenders reads only
  rows that are open and not yet expired, however many closed or lazily unexpired tenders the
  store keeps.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    CompoundSelect,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Select,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Row, make_url
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
from temix.settlement import PriceKind
from temix.states import TenderStatus

SQLITE_FILE_NAME = "temix.sqlite3"
ID_WIDTH = 512
"""The most characters an id (of a party, request, tender, quote, transaction, delivery or
group) may have: the width of the store's id columns."""
URI_WIDTH = 2048
"""The most characters a market context URI may have."""
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_SECONDS = 30
DECODED_DOCUMENTS = 4096
"""How many decoded documents each process keeps (a few MB)."""


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


class StoredXml(TypeDecorator):
    """XML this server wrote (a canonical document, a reply), kept zlib-compressed: a 1.8 KB
    tender takes about 0.7 KB, and SQLite's 4 KB pages, which hold one uncompressed tender
    with its columns, hold five. Values stored before compression begin with ``<`` and are
    read as they are."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: object) -> bytes | None:
        return None if value is None else zlib.compress(value, _COMPRESSION_LEVEL)

    def process_result_value(self, value: bytes | None, dialect: object) -> bytes | None:
        if value is None:
            return None
        stored = bytes(value)
        return stored if stored.startswith(b"<") else zlib.decompress(stored)


_COMPRESSION_LEVEL = 6


metadata = MetaData()

market_contexts = Table(
    "market_contexts",
    metadata,
    Column("uri", String(URI_WIDTH), primary_key=True),
    Column("document", StoredXml, nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(ID_WIDTH), primary_key=True),
    Column("party_id", String(ID_WIDTH), primary_key=True),
)

tenders = Table(
    "tenders",
    metadata,
    Column("tender_id", String(ID_WIDTH), primary_key=True),
    Column("author", String(ID_WIDTH), nullable=False),
    Column("offered_to", Text, nullable=True, doc="JSON list of party ids; NULL: the market"),
    Column("market_context", String(URI_WIDTH), nullable=False, index=True),
    Column("side", String(8), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("start_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("remaining", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("expires_s", BigInteger, nullable=True, doc="the expiry; NULL: the tender has none"),
    Column("document", StoredXml, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_tenders_status_expires_s", "status", "expires_s"),
    Index("ix_tenders_author_status_expires_s", "author", "status", "expires_s"),
)

quotes = Table(
    "quotes",
    metadata,
    Column("quote_id", String(ID_WIDTH), primary_key=True),
    Column("publisher", String(ID_WIDTH), nullable=False, index=True),
    Column("subscriber", String(ID_WIDTH), nullable=False),
    Column("market_contexts", Text, nullable=False, doc="JSON list of the products' contexts"),
    Column("start_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("cancelled", Integer, nullable=False, default=0),
    Column("document", StoredXml, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

transactions = Table(
    "transactions",
    metadata,
    Column("transaction_id", String(ID_WIDTH), primary_key=True),
    Column("buyer", String(ID_WIDTH), nullable=False),
    Column("seller", String(ID_WIDTH), nullable=False),
    Column("tender_id", String(ID_WIDTH), nullable=True, index=True),
    Column("related_to", String(ID_WIDTH), nullable=True, index=True),
    Column("market_context", String(URI_WIDTH), nullable=False),
    Column("start_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("document", StoredXml, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_transactions_buyer_period", "buyer", "market_context", "end_s", "start_s"),
    Index("ix_transactions_seller_period", "seller", "market_context", "end_s", "start_s"),
    Index("ix_transactions_market_period", "market_context", "end_s", "start_s"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", String(ID_WIDTH), primary_key=True),
    Column("party_id", String(ID_WIDTH), nullable=False),
    Column("market_contexts", Text, nullable=False, doc="JSON list of the readings' contexts"),
    Column("start_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("document", StoredXml, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_deliveries_party_period", "party_id", "end_s", "start_s"),
)

market_prices = Table(
    "market_prices",
    metadata,
    Column("kind", String(16), primary_key=True, doc="a temix.settlement.PriceKind"),
    Column("market_context", String(URI_WIDTH), primary_key=True),
    Column("location_id", String(ID_WIDTH), primary_key=True),
    Column("start_s", BigInteger, primary_key=True),
    Column("end_s", BigInteger, primary_key=True),
    Column("price", String(64), nullable=False),
    Index("ix_market_prices_period", "kind", "market_context", "location_id", "end_s", "start_s"),
)

requests = Table(
    "requests",
    metadata,
    Column("party_id", String(ID_WIDTH), primary_key=True),
    Column("request_id", String(ID_WIDTH), primary_key=True),
    Column("operation", String(64), nullable=False),
    Column("payload_digest", String(64), nullable=False),
    Column("reply", StoredXml, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("received_at", UtcDateTime, nullable=False, index=True),
    Column("sent_at", UtcDateTime, nullable=False),
    Column("operation", String(64), nullable=True, index=True),
    Column("party_id", String(ID_WIDTH), nullable=True, index=True),
    Column("counterparty_id", String(ID_WIDTH), nullable=True),
    Column("request_id", String(ID_WIDTH), nullable=True),
    Column("verification", String(64), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("http_status", Integer, nullable=False),
    Column("remote_address", String(128), nullable=True),
    Column("request", LargeBinary, nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("verification_detail", Text, nullable=True),
    Column("message_id", String(ID_WIDTH), nullable=True, doc="the request's wsa:MessageID"),
    Column("relates_to", String(ID_WIDTH), nullable=True, doc="the request's wsa:RelatesTo"),
    Column("reply_message_id", String(ID_WIDTH), nullable=True, doc="the reply's wsa:MessageID"),
    Column(
        "compressed",
        Integer,
        nullable=False,
        server_default="0",
        doc="1: request and response are zlib-compressed; 0 (entries written before): as sent",
    ),
)

parties = Table(
    "parties",
    metadata,
    Column("party_id", String(ID_WIDTH), primary_key=True),
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
    message_id: str | None = None
    relates_to: str | None = None
    reply_message_id: str | None = None
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


class _During:
    """An interval filter over the ``start_s``/``end_s`` columns of stored rows.

    The asked intervals are merged where they overlap into disjoint spans sorted by start, so
    whether a row overlaps one of them is one bisection. Spans that only touch stay apart:
    touching is not overlapping.
    """

    def __init__(self, intervals: Sequence[Interval]) -> None:
        spans: list[list[int]] = []
        for start, end in sorted((_seconds(i.start), _seconds(i.end)) for i in intervals):
            if spans and start < spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        self._starts = [start for start, _ in spans]
        self._ends = [end for _, end in spans]

    def hull(self, table: Table) -> ColumnElement[bool]:
        """Rows overlapping the hull of the intervals: one range an index serves."""
        return (table.c.start_s < self._ends[-1]) & (table.c.end_s > self._starts[0])

    def overlaps(self, start_s: int, end_s: int) -> bool:
        """Whether the span from ``start_s`` to ``end_s`` overlaps one of the intervals."""
        following = bisect.bisect_right(self._ends, start_s)
        return following < len(self._starts) and self._starts[following] < end_s


def _during(intervals: Sequence[Interval]) -> _During | None:
    """The filter for ``intervals``; None (no filter) when there are none."""
    return _During(intervals) if intervals else None


def _row_during(row: Row[Any], during: _During | None) -> bool:
    """Whether the row's span overlaps one of the intervals; no filter keeps every row."""
    return during is None or during.overlaps(row.start_s, row.end_s)


def _tender_row(record: TenderRecord, now: datetime) -> dict[str, object]:
    product = record.tender.product
    offered_to = None if record.offered_to is WHOLE_MARKET_CONTEXT else record.offered_to
    return dict(
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
        expires_s=None if product.expires is None else _seconds(product.expires),
        document=encode_item(record.tender),
        created_at=now,
    )


def _is_visible(row: Row[Any], party: str) -> bool:
    """Whether ``party`` wrote or was offered the tender in ``row``: exactly, where the SQL
    match on the JSON list of parties is a substring match."""
    return row.author == party or row.offered_to is None or party in json.loads(row.offered_to)


def _in_market(row: Row[Any], market_contexts_: Sequence[str]) -> bool:
    """Whether the row's JSON list of market contexts names one of ``market_contexts_``."""
    return not market_contexts_ or not set(json.loads(row.market_contexts)).isdisjoint(
        market_contexts_
    )


def _transaction_row(record: TransactionRecord, now: datetime) -> dict[str, object]:
    transaction = record.transaction
    product = transaction.product
    return dict(
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
    )


@functools.lru_cache(maxsize=DECODED_DOCUMENTS)
def _decoded(document: bytes) -> Any:
    """A stored document, decoded once per process while it is in use: a stored artifact never
    changes (what changes, like a tender's remaining rate, is kept in columns), a changed
    market context is a different document, and decoding is most of what reading a few dozen
    transactions costs."""
    return decode_item(document)


def _some_part_during(parts: Iterable[Product | MeterReading], during: _During | None) -> bool:
    """Whether some part (a quote's product, a delivery's reading) overlaps one of the
    intervals; no interval filter matches anything."""
    return during is None or any(
        during.overlaps(_seconds(part.interval.start), _seconds(part.interval.end))
        for part in parts
    )


class Unit:
    """The reads and writes of one request, inside one database transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._market_contexts: dict[str, MarketContext | None] = {}

    # --- market contexts and groups

    def market_context(self, uri: str) -> MarketContext | None:
        """The market context registered under ``uri``, read and decoded once per unit: a
        request checks every item (each tender of a strip, each exercise and what it makes)
        against its market."""
        if uri not in self._market_contexts:
            row = self.connection.execute(
                select(market_contexts.c.document).where(market_contexts.c.uri == uri)
            ).first()
            self._market_contexts[uri] = None if row is None else _decoded(row.document)
        return self._market_contexts[uri]

    def all_market_contexts(self) -> list[MarketContext]:
        rows = self.connection.execute(
            select(market_contexts.c.document).order_by(market_contexts.c.uri)
        )
        return [_decoded(row.document) for row in rows]

    def put_market_context(self, context: MarketContext, now: datetime) -> None:
        """Register ``context``, replacing one with the same URI."""
        stored = market_contexts.c.uri == context.uri
        self.connection.execute(market_contexts.delete().where(stored))
        self.connection.execute(
            insert(market_contexts),
            dict(uri=context.uri, document=encode_item(context), stored_at=now),
        )
        self._market_contexts[context.uri] = context

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
            tender=_decoded(row.document),  # type: ignore[attr-defined]
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
        self.add_tenders((record,), now)

    def add_tenders(self, records: Sequence[TenderRecord], now: datetime) -> None:
        """Store new tenders in one statement: a bulk load makes one round trip per batch."""
        if records:
            self.connection.execute(insert(tenders), [_tender_row(r, now) for r in records])

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
        open_at: datetime | None = None,
        visible_to: str | None = None,
    ) -> list[TenderRecord]:
        """Stored tenders matching every given filter (an empty filter matches all), oldest
        first. An interval filter keeps tenders whose delivery overlaps any of ``intervals``;
        ``open_at`` leaves out the tenders expired at that instant, whatever their stored status
        (an expiry is stored as a status only when a rule reads the tender); ``visible_to``
        keeps the tenders the party wrote or was offered."""
        conditions: list[ColumnElement[bool]] = []
        if tender_ids:
            conditions.append(tenders.c.tender_id.in_(tender_ids))
        if market_contexts_:
            conditions.append(tenders.c.market_context.in_(market_contexts_))
        if authors:
            conditions.append(tenders.c.author.in_(authors))
        if statuses:
            conditions.append(tenders.c.status.in_([status.value for status in statuses]))
        during = _during(intervals)
        if during is not None:
            conditions.append(during.hull(tenders))
        if visible_to is not None:
            conditions.append(
                (tenders.c.author == visible_to)
                | tenders.c.offered_to.is_(None)
                | tenders.c.offered_to.contains(json.dumps(visible_to), autoescape=True)
            )
        if open_at is None:
            query = select(tenders).where(*conditions)
        else:
            # One range of the (status, expires_s) index each; for "expires_s IS NULL OR
            # expires_s > ..." SQLite reads every tender of the statuses.
            query = union_all(
                select(tenders).where(tenders.c.expires_s.is_(None), *conditions),
                select(tenders).where(tenders.c.expires_s > _seconds(open_at), *conditions),
            )
        rows = self.connection.execute(query.order_by(tenders.c.created_at, tenders.c.tender_id))
        return [
            self._tender_record(row)
            for row in rows
            if _row_during(row, during) and (visible_to is None or _is_visible(row, visible_to))
        ]

    def standing_count(
        self,
        author: str,
        statuses: Sequence[TenderStatus],
        now: datetime,
        *,
        offered_to: str | None = None,
    ) -> int:
        """How many of ``author``'s tenders have one of ``statuses`` and are not expired at
        ``now`` (two ranges of the author, status and expiry index); with ``offered_to``, only
        those offered to that party by name (its id in the JSON list, matched as text)."""
        conditions = [
            tenders.c.author == author,
            tenders.c.status.in_([status.value for status in statuses]),
        ]
        if offered_to is not None:
            named = json.dumps(offered_to)
            conditions.append(tenders.c.offered_to.contains(named, autoescape=True))
        counted = 0
        for expiry in (tenders.c.expires_s.is_(None), tenders.c.expires_s > _seconds(now)):
            query = select(func.count()).select_from(tenders).where(expiry, *conditions)
            counted += self.connection.execute(query).scalar_one()
        return counted

    # --- quotes

    def quote(self, quote_id: str) -> QuoteRecord | None:
        row = self.connection.execute(select(quotes).where(quotes.c.quote_id == quote_id)).first()
        if row is None:
            return None
        return QuoteRecord(
            _decoded(row.document), row.publisher, row.subscriber, bool(row.cancelled)
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
        during = _during(intervals)
        if during is not None:
            query = query.where(during.hull(quotes))
        found = []
        for row in self.connection.execute(query):
            if not (_in_market(row, market_contexts_) and _row_during(row, during)):
                continue
            quote: Quote = _decoded(row.document)
            if _some_part_during(quote.products, during):
                found.append((quote, row.subscriber))
        return found

    # --- transactions

    @staticmethod
    def _transaction_record(row: object) -> TransactionRecord:
        return TransactionRecord(
            _decoded(row.document),  # type: ignore[attr-defined]
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
        self.add_transactions((record,), now)

    def add_transactions(self, records: Sequence[TransactionRecord], now: datetime) -> None:
        """Store new transactions in one statement: a bulk load makes one round trip per
        batch."""
        if records:
            self.connection.execute(
                insert(transactions), [_transaction_row(r, now) for r in records]
            )

    def exercises_of(self, option_id: str) -> list[Transaction]:
        rows = self.connection.execute(
            select(transactions.c.document)
            .where(transactions.c.related_to == option_id)
            .order_by(transactions.c.created_at, transactions.c.transaction_id)
        )
        return [_decoded(row.document) for row in rows]

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
        conditions: list[ColumnElement[bool]] = []
        if transaction_ids:
            conditions.append(transactions.c.transaction_id.in_(transaction_ids))
        if counterparties:
            conditions.append(
                transactions.c.buyer.in_(counterparties) | transactions.c.seller.in_(counterparties)
            )
        if market_contexts_:
            conditions.append(transactions.c.market_context.in_(market_contexts_))
        during = _during(intervals)
        if during is not None:
            conditions.append(during.hull(transactions))
        if party is None:
            query = select(transactions).where(*conditions)
        else:
            # As buyer and as seller apart, each through its own index; for "buyer = ... OR
            # seller = ..." SQLite reads every transaction of the market in the period.
            query = union_all(
                select(transactions).where(transactions.c.buyer == party, *conditions),
                select(transactions).where(
                    transactions.c.seller == party, transactions.c.buyer != party, *conditions
                ),
            )
        return self._transaction_records(query, during)

    def all_transactions(self, market_context: str, interval: Interval) -> list[TransactionRecord]:
        """Every transaction in ``market_context`` delivering during ``interval``."""
        during = _During((interval,))
        query = select(transactions).where(
            transactions.c.market_context == market_context, during.hull(transactions)
        )
        return self._transaction_records(query, during)

    def _transaction_records(
        self, query: Select[Any] | CompoundSelect, during: _During | None
    ) -> list[TransactionRecord]:
        """The records of the rows ``query`` finds that ``during`` keeps, oldest first."""
        ordered = query.order_by(transactions.c.created_at, transactions.c.transaction_id)
        return [
            self._transaction_record(row)
            for row in self.connection.execute(ordered)
            if _row_during(row, during)
        ]

    # --- deliveries and market prices

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
        during = _during(intervals)
        if during is not None:
            query = query.where(during.hull(deliveries))
        found = []
        for row in self.connection.execute(query):
            if not (_in_market(row, market_contexts_) and _row_during(row, during)):
                continue
            delivery: Delivery = _decoded(row.document)
            if _some_part_during(delivery.readings, during):
                found.append(delivery)
        return found

    def set_price(
        self,
        kind: PriceKind,
        market_context: str,
        location_id: str,
        interval: Interval,
        price: Decimal,
    ) -> None:
        """Load one balancing or index price, replacing the one for the same interval."""
        key = {
            "kind": kind.value,
            "market_context": market_context,
            "location_id": location_id,
            "start_s": _seconds(interval.start),
            "end_s": _seconds(interval.end),
        }
        condition = [market_prices.c[name] == value for name, value in key.items()]
        self.connection.execute(market_prices.delete().where(*condition))
        self.connection.execute(insert(market_prices), {**key, "price": str(price)})

    def prices(
        self, kind: PriceKind, market_context: str, location_id: str, period: Interval
    ) -> dict[Interval, Decimal]:
        """The prices of one kind loaded for the node, for intervals that touch ``period``."""
        rows = self.connection.execute(
            select(market_prices).where(
                market_prices.c.kind == kind.value,
                market_prices.c.market_context == market_context,
                market_prices.c.location_id == location_id,
                _During((period,)).hull(market_prices),
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
        """Append ``entry``, its request and response bytes compressed (a listing's reply of
        many similar tenders shrinks tenfold or more); :meth:`ledger` gives them back as they
        were received and sent."""
        values = {
            column.name: getattr(entry, column.name)
            for column in ledger.columns
            if column.name not in _LEDGER_STORAGE_COLUMNS
        }
        values["request"] = zlib.compress(entry.request, _COMPRESSION_LEVEL)
        values["response"] = zlib.compress(entry.response, _COMPRESSION_LEVEL)
        self.connection.execute(insert(ledger), {**values, "compressed": 1})

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
        return [_ledger_entry(row) for row in self.connection.execute(query)]


_LEDGER_STORAGE_COLUMNS = frozenset({"seq", "compressed"})
"""Ledger columns the store fills itself rather than from a :class:`LedgerEntry`."""


def _ledger_entry(row: Row[Any]) -> LedgerEntry:
    values = dict(row._mapping)
    if values.pop("compressed"):
        values["request"] = zlib.decompress(values["request"])
        values["response"] = zlib.decompress(values["response"])
    return LedgerEntry(**values)


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
