"""The server's ``temix`` subcommands: ``serve``, ``market``, ``group`` and ``ledger``.

Each opens the store named by ``--db`` (default: SQLite in ``--data-dir``, ``./temix-data``) and
migrates it to the current schema first, so that no command needs a set-up step.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import click
from lxml import etree

from temix.codec import DecodeError, decode, decode_item, parse_duration
from temix.model import Interval, MarketContext, ModelError
from temix.payloads import ReplyMarketContext
from temix.server import serve as hosting
from temix.server.app import create_app, prepare, utc_now
from temix.server.store import Store, sqlite_url
from temix.validation import SchemaSet, payload_of
from temix.xmlsafe import XmlRejected, parse_bytes

DEFAULT_DATA_DIR = Path("temix-data")

_database_options = [
    click.option(
        "--db",
        "database_url",
        metavar="URL",
        help="SQLAlchemy database URL, e.g. postgresql+psycopg://user:pw@host/db "
        "(default: SQLite in the data directory).",
    ),
    click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=DEFAULT_DATA_DIR,
        show_default=True,
        help="Where the default SQLite store lives.",
    ),
]


def _with_database(command):  # type: ignore[no-untyped-def]
    for option in reversed(_database_options):
        command = option(command)
    return command


def _prepared_store(database_url: str | None, data_dir: Path) -> tuple[str, Store]:
    url = database_url or sqlite_url(data_dir)
    store = Store.open(url)
    prepare(store)
    return url, store


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--public-url", metavar="URL", help="The endpoint address the WSDL announces (behind a proxy)."
)
@click.option(
    "--graceful-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds SIGTERM waits for in-flight requests.",
)
@_with_database
def serve(
    host: str,
    port: int,
    workers: int,
    public_url: str | None,
    graceful_timeout: float,
    database_url: str | None,
    data_dir: Path,
) -> None:
    """Run the TeMIX SOAP endpoint.

    Prints one line, `WSDL <url>`, once it answers, then one JSON line per request on stderr.
    SIGTERM or Ctrl-C finishes the requests in flight and stops.
    """
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s",
    )
    url, store = _prepared_store(database_url, data_dir)
    store.close()

    def application():  # type: ignore[no-untyped-def]
        return create_app(Store.open(url), public_url=public_url)

    raise SystemExit(
        hosting.serve(
            application,
            host=host,
            port=port,
            workers=workers,
            graceful_timeout=graceful_timeout,
        )
    )


@click.group()
def market() -> None:
    """Register and list market contexts."""


def _read_market_context(file: Path) -> MarketContext:
    """A market context from ``file``: a valid ``ei:eiMarketContext`` or a
    ``tmx:eiReplyMarketContext`` holding exactly one."""
    try:
        document = parse_bytes(file.read_bytes())
    except (OSError, XmlRejected) as error:
        raise click.ClickException(f"{file}: {error}") from None
    element = payload_of(document)
    problems = SchemaSet.bundled().problems(element)
    if problems:
        raise click.ClickException(f"{file}: {problems[0].path}: {problems[0].reason}")
    try:
        if element.tag.endswith("}eiMarketContext"):
            return decode_item(etree.tostring(element))
        reply = decode(element)
    except DecodeError as error:
        raise click.ClickException(f"{file}: {error}") from None
    if not isinstance(reply, ReplyMarketContext) or len(reply.market_contexts) != 1:
        raise click.ClickException(
            f"{file}: expected one ei:eiMarketContext (alone or in a tmx:eiReplyMarketContext)"
        )
    return reply.market_contexts[0]


@market.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_with_database
def market_add(files: tuple[Path, ...], database_url: str | None, data_dir: Path) -> None:
    """Register the market contexts in FILES (replacing any with the same URI)."""
    contexts = [_read_market_context(file) for file in files]
    _, store = _prepared_store(database_url, data_dir)
    with store.transaction() as unit:
        for context in contexts:
            unit.put_market_context(context, utc_now())
    store.close()
    for context in contexts:
        click.echo(f"registered {context.uri}")


@market.command("list")
@_with_database
def market_list(database_url: str | None, data_dir: Path) -> None:
    """Print the registered market contexts' URIs and names."""
    _, store = _prepared_store(database_url, data_dir)
    with store.transaction(write=False) as unit:
        contexts = unit.all_market_contexts()
    store.close()
    for context in contexts:
        click.echo(f"{context.uri}\t{context.name}")


@click.command("group")
@click.argument("group_id")
@click.argument("party_ids", nargs=-1)
@_with_database
def group(
    group_id: str, party_ids: tuple[str, ...], database_url: str | None, data_dir: Path
) -> None:
    """Make PARTY_IDS the members of GROUP_ID (none: remove the group).

    A tender distributed to the group is offered to its members.
    """
    _, store = _prepared_store(database_url, data_dir)
    with store.transaction() as unit:
        unit.set_group(group_id, party_ids)
    store.close()
    click.echo(f"{group_id}: {len(set(party_ids))} members")


@click.command("ledger")
@click.option("--party", "party_id", help="Only exchanges for this party.")
@click.option("--operation", help="Only this operation, e.g. EiCreateTender.")
@click.option("--since", type=click.DateTime(), help="Received at or after (UTC).")
@click.option("--until", type=click.DateTime(), help="Received before (UTC).")
@click.option("--limit", type=click.IntRange(min=1))
@click.option("--bytes", "with_bytes", is_flag=True, help="Include the messages' bytes.")
@_with_database
def ledger(
    party_id: str | None,
    operation: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    with_bytes: bool,
    database_url: str | None,
    data_dir: Path,
) -> None:
    """Print the ledger of exchanges, one JSON object per line, oldest first."""
    _, store = _prepared_store(database_url, data_dir)
    with store.transaction(write=False) as unit:
        entries = unit.ledger(
            party_id=party_id,
            operation=operation,
            since=since.replace(tzinfo=UTC) if since else None,
            until=until.replace(tzinfo=UTC) if until else None,
            limit=limit,
        )
    store.close()
    for entry in entries:
        record = {
            "seq": entry.seq,
            "received_at": entry.received_at.isoformat(),
            "sent_at": entry.sent_at.isoformat(),
            "operation": entry.operation,
            "party_id": entry.party_id,
            "counterparty_id": entry.counterparty_id,
            "request_id": entry.request_id,
            "verification": entry.verification,
            "outcome": entry.outcome,
            "http_status": entry.http_status,
            "remote_address": entry.remote_address,
        }
        if with_bytes:
            record["request"] = entry.request.decode("utf-8", "replace")
            record["response"] = entry.response.decode("utf-8", "replace")
        click.echo(json.dumps(record))


BALANCING_PRICE_COLUMNS = ("location", "start", "duration", "price")


def _read_balancing_prices(file: Path) -> list[tuple[str, Interval, Decimal]]:
    """Rows of ``location,start,duration,price``: a node id, an ISO 8601 start with its UTC
    offset, an ISO 8601 duration such as PT5M, and the price per unit of the market's energy."""
    rows = []
    with file.open(newline="") as opened:
        reader = csv.DictReader(opened)
        if tuple(reader.fieldnames or ()) != BALANCING_PRICE_COLUMNS:
            raise click.ClickException(
                f"{file}: the header must be {','.join(BALANCING_PRICE_COLUMNS)}"
            )
        for number, row in enumerate(reader, start=2):
            try:
                start = datetime.fromisoformat(row["start"].replace("Z", "+00:00"))
                if start.tzinfo is None:
                    raise ValueError("the start needs a UTC offset or Z")
                duration = parse_duration(row["duration"], f"{file}:{number}")
                interval = Interval(start.astimezone(UTC), duration)
                price = Decimal(row["price"])
                if not price.is_finite():
                    raise ValueError(f"price {row['price']!r} is not a number")
            except (ValueError, ArithmeticError, ModelError) as error:
                raise click.ClickException(f"{file}:{number}: {error}") from None
            rows.append((row["location"], interval, price))
    return rows


@click.command("balancing-prices")
@click.argument("market_context")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@_with_database
def balancing_prices(
    market_context: str, files: tuple[Path, ...], database_url: str | None, data_dir: Path
) -> None:
    """Load balancing prices for MARKET_CONTEXT from CSV FILES (replacing prices already
    loaded for the same node and interval).

    Columns: location,start,duration,price, e.g. NODE-A,2026-07-01T15:00:00Z,PT5M,41.20.
    """
    rows = [row for file in files for row in _read_balancing_prices(file)]
    _, store = _prepared_store(database_url, data_dir)
    with store.transaction() as unit:
        known = unit.market_context(market_context) is not None
        if known:
            for location, interval, price in rows:
                unit.set_balancing_price(market_context, location, interval, price)
    store.close()
    if not known:
        raise click.ClickException(f"unknown market context {market_context}")
    click.echo(f"{market_context}: {len(rows)} balancing prices loaded")


COMMANDS = (serve, market, group, ledger, balancing_prices)
