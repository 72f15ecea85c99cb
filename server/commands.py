"""The server's ``temix`` subcommands: ``serve``, ``market``, ``group``, ``ledger``,
``balancing-prices``, ``index-prices`` and ``party``.

Each opens the store named by ``--db`` (default: SQLite in ``--data-dir``, ``./temix-data``) and
migrates it to the current schema first, so that no command needs a set-up step.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import click
from lxml import etree
from sqlalchemy.exc import IntegrityError

from temix.codec import DecodeError, decode, decode_item, parse_duration
from temix.keys import (
    KeyAlgorithm,
    KeyDirectory,
    KeysError,
    fingerprint,
    load_certificate,
    normalise_fingerprint,
)
from temix.model import Interval, MarketContext, ModelError
from temix.payloads import ReplyMarketContext
from temix.server import serve as hosting
from temix.server.app import create_app, prepare, utc_now
from temix.server.security import (
    INSECURE,
    ROLES,
    TRADER,
    Insecure,
    SecurityPolicy,
)
from temix.server.services import DEFAULT_PARTY_LIMITS, PartyLimits
from temix.server.soap import SoapLimits
from temix.server.store import PartyRecord, Store, sqlite_url
from temix.server.worker import DEFAULT_LIMITS, ConnectionLimits
from temix.settlement import PriceKind
from temix.validation import SchemaSet, payload_of
from temix.wssecurity import Freshness
from temix.xmlsafe import (
    DEFAULT_MAX_ATTRIBUTES,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_ELEMENTS,
    DEFAULT_MAX_NAMESPACES,
    XmlRejected,
    parse_bytes,
)

DEFAULT_DATA_DIR = Path("temix-data")
LOG_LEVELS = ("debug", "info", "warning", "error")
LIBRARY_LOGGERS = ("alembic", "sqlalchemy")

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


def _seconds_option(  # type: ignore[no-untyped-def]
    name: str, default: float, text: str, *, zero_allowed: bool = True
):
    return click.option(
        name,
        type=click.FloatRange(min=0, min_open=not zero_allowed),
        default=default,
        show_default=True,
        help=text,
    )


def _count_option(name: str, default: int, text: str):  # type: ignore[no-untyped-def]
    return click.option(
        name, type=click.IntRange(min=1), default=default, show_default=True, help=text
    )


def _file_option(name: str, text: str):  # type: ignore[no-untyped-def]
    return click.option(
        name, type=click.Path(path_type=Path, dir_okay=False, exists=True), help=text
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--public-url", metavar="URL", help="The endpoint address the WSDL announces (behind a proxy)."
)
@_seconds_option("--graceful-timeout", 30.0, "Seconds SIGTERM waits for in-flight requests.")
@click.option(
    "--binding",
    type=click.Choice(["native", "spyne"]),
    default="native",
    show_default=True,
    help="The SOAP binding: temix's own, or hosted on spyne (pip install 'temix[spyne]', "
    "Python 3.11).",
)
@click.option(
    "--keys",
    "keys_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Key directory (temix keys init): the server signs with its server key, trusts its "
    "CA and registers its parties as traders [default: DATA_DIR/keys, created if missing].",
)
@click.option(
    "--trust-ca",
    "trusted_cas",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Also trust this CA for parties registered by subject (repeatable).",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Verify and sign nothing (development only; every request logs a warning).",
)
@_seconds_option("--max-age", 300.0, "Oldest acceptable message Timestamp, in seconds.")
@_seconds_option("--max-future", 60.0, "How far ahead a message Timestamp may be, in seconds.")
@_count_option("--max-bytes", DEFAULT_MAX_BYTES, "Largest request body accepted.")
@_count_option("--max-depth", DEFAULT_MAX_DEPTH, "Deepest element nesting accepted.")
@_count_option("--max-attributes", DEFAULT_MAX_ATTRIBUTES, "Most attributes on one element.")
@_count_option("--max-elements", DEFAULT_MAX_ELEMENTS, "Most elements accepted in one request.")
@_count_option(
    "--max-namespaces", DEFAULT_MAX_NAMESPACES, "Most namespace declarations in one request."
)
@_seconds_option(
    "--header-timeout",
    DEFAULT_LIMITS.header_timeout,
    "Seconds a client has to send a request's headers.",
    zero_allowed=False,
)
@_seconds_option(
    "--body-timeout",
    DEFAULT_LIMITS.body_timeout,
    "Seconds a client has to send a request's body, and to read a reply.",
    zero_allowed=False,
)
@_seconds_option(
    "--keepalive-timeout",
    DEFAULT_LIMITS.keepalive_timeout,
    "Seconds an idle kept-alive connection stays open.",
    zero_allowed=False,
)
@_count_option(
    "--max-connections",
    DEFAULT_LIMITS.max_connections,
    "Open connections per worker; one more is answered 503.",
)
@_count_option(
    "--max-standing-tenders",
    DEFAULT_PARTY_LIMITS.max_standing_tenders,
    "Open tenders one party may have written; one more is refused with 409.",
)
@_count_option(
    "--max-offered-to-one",
    DEFAULT_PARTY_LIMITS.max_offered_to_one,
    "Open tenders one party may offer one other party; one more is refused with 409.",
)
@click.option(
    "--party-rate",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Requests a second (and at once) one party may send each worker; more are answered "
    "429. 0: no limit.",
)
@_seconds_option(
    "--request-timeout",
    30.0,
    "Seconds one request may take before its worker is replaced.",
    zero_allowed=False,
)
@_file_option("--tls-cert", "Serve HTTPS with this certificate (PEM).")
@_file_option("--tls-key", "The TLS certificate's private key (PEM).")
@_file_option("--tls-ca", "Require TLS client certificates issued by this CA (mutual TLS).")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default="info",
    show_default=True,
    help="The log's threshold. The libraries temix uses (the store's migrations) log only "
    "warnings and errors, except at debug.",
)
@_with_database
def serve(
    host: str,
    port: int,
    workers: int,
    public_url: str | None,
    graceful_timeout: float,
    binding: str,
    keys_dir: Path | None,
    trusted_cas: tuple[Path, ...],
    insecure: bool,
    max_age: float,
    max_future: float,
    max_bytes: int,
    max_depth: int,
    max_attributes: int,
    max_elements: int,
    max_namespaces: int,
    header_timeout: float,
    body_timeout: float,
    keepalive_timeout: float,
    max_connections: int,
    max_standing_tenders: int,
    max_offered_to_one: int,
    party_rate: int,
    request_timeout: float,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_ca: Path | None,
    log_level: str,
    database_url: str | None,
    data_dir: Path,
) -> None:
    """Run the TeMIX SOAP endpoint.

    Requests must be signed (WS-Security, X.509) by a registered party, and every reply is
    signed, unless --insecure. Prints one line, `WSDL <url>`, once it answers, then one JSON
    line per request on stderr. SIGTERM or Ctrl-C finishes the requests in flight and stops.
    """
    _configure_logging(log_level)
    if (tls_cert is None) != (tls_key is None) or (tls_ca is not None and tls_cert is None):
        raise click.UsageError("--tls-cert and --tls-key go together; --tls-ca needs both")
    url, store = _prepared_store(database_url, data_dir)
    security: SecurityPolicy | Insecure
    if insecure:
        if keys_dir is not None or trusted_cas:
            raise click.UsageError("--insecure verifies nothing: it takes no --keys or --trust-ca")
        logging.getLogger(__name__).warning(
            "--insecure: requests are not verified and replies are not signed"
        )
        security = INSECURE
    else:
        security = _security_policy(
            store, keys_dir or data_dir / "keys", trusted_cas, max_age, max_future
        )
    store.close()
    limits = SoapLimits(max_bytes, max_depth, max_attributes, max_elements, max_namespaces)

    def application():  # type: ignore[no-untyped-def]
        return create_app(
            Store.open(url),
            public_url=public_url,
            binding=binding,
            security=security,
            limits=limits,
            party_limits=PartyLimits(max_standing_tenders, max_offered_to_one, party_rate or None),
        )

    tls = None
    if tls_cert is not None and tls_key is not None:
        tls = hosting.Tls(tls_cert, tls_key, tls_ca)
    raise SystemExit(
        hosting.serve(
            application,
            host=host,
            port=port,
            workers=workers,
            graceful_timeout=graceful_timeout,
            limits=ConnectionLimits(
                header_timeout=header_timeout,
                body_timeout=body_timeout,
                keepalive_timeout=keepalive_timeout,
                max_connections=max_connections,
                max_body_bytes=max_bytes,
            ),
            request_timeout=request_timeout,
            tls=tls,
            log_level=log_level,
        )
    )


def _configure_logging(log_level: str) -> None:
    """temix's own lines at ``log_level``; the libraries' below warnings only at debug."""
    level = logging.getLevelName(log_level.upper())
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s",
    )
    if level > logging.DEBUG:
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(max(level, logging.WARNING))


def _security_policy(
    store: Store, keys_dir: Path, trusted_cas: tuple[Path, ...], max_age: float, max_future: float
) -> SecurityPolicy:
    """The policy of a signed server: the key directory's server credentials and CA (the
    directory is created with a development CA and server key when it does not exist), the
    extra CAs, and the directory's parties registered as traders unless already registered."""
    directory = KeyDirectory(keys_dir)
    try:
        if not directory.exists():
            for issued in directory.init((), KeyAlgorithm.RSA):
                click.echo(
                    f"created {issued.role} {issued.path} sha256:{issued.fingerprint}", err=True
                )
        credentials = directory.server()
        authorities = [directory.ca_certificate(), *map(load_certificate, trusted_cas)]
        parties = {
            name: load_certificate(directory.party_certificate_path(name))
            for name in directory.party_names()
        }
    except KeysError as error:
        raise click.ClickException(str(error)) from None
    now = utc_now()
    with store.transaction() as unit:
        registered = {party.party_id for party in unit.all_parties()}
        for name, certificate in parties.items():
            if name not in registered:
                subject = certificate.subject.rfc4514_string()
                unit.put_party(PartyRecord(name, frozenset({TRADER}), subject=subject), now)
    freshness = Freshness(timedelta(seconds=max_age), timedelta(seconds=max_future))
    return SecurityPolicy(credentials, tuple(authorities), freshness)


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
            "verification_detail": entry.verification_detail,
            "outcome": entry.outcome,
            "http_status": entry.http_status,
            "remote_address": entry.remote_address,
            "message_id": entry.message_id,
            "relates_to": entry.relates_to,
            "reply_message_id": entry.reply_message_id,
        }
        if with_bytes:
            record["request"] = entry.request.decode("utf-8", "replace")
            record["response"] = entry.response.decode("utf-8", "replace")
        click.echo(json.dumps(record))


PRICE_COLUMNS = ("location", "start", "duration", "price")


def _read_prices(file: Path) -> list[tuple[str, Interval, Decimal]]:
    """Rows of ``location,start,duration,price``: a node id, an ISO 8601 start with its UTC
    offset, an ISO 8601 duration such as PT5M, and the price per unit of the market's energy."""
    rows = []
    with file.open(newline="") as opened:
        reader = csv.DictReader(opened)
        if tuple(reader.fieldnames or ()) != PRICE_COLUMNS:
            raise click.ClickException(f"{file}: the header must be {','.join(PRICE_COLUMNS)}")
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


def _load_prices(
    kind: PriceKind,
    market_context: str,
    files: tuple[Path, ...],
    database_url: str | None,
    data_dir: Path,
) -> None:
    rows = [row for file in files for row in _read_prices(file)]
    _, store = _prepared_store(database_url, data_dir)
    with store.transaction() as unit:
        known = unit.market_context(market_context) is not None
        if known:
            for location, interval, price in rows:
                unit.set_price(kind, market_context, location, interval, price)
    store.close()
    if not known:
        raise click.ClickException(f"unknown market context {market_context}")
    click.echo(f"{market_context}: {len(rows)} {kind.value} prices loaded")


@click.command("balancing-prices")
@click.argument("market_context")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@_with_database
def balancing_prices(
    market_context: str, files: tuple[Path, ...], database_url: str | None, data_dir: Path
) -> None:
    """Load balancing prices for MARKET_CONTEXT from CSV FILES (replacing prices already
    loaded for the same node and interval). They settle metered imbalances.

    Columns: location,start,duration,price, e.g. NODE-A,2026-07-01T15:00:00Z,PT5M,41.20.
    """
    _load_prices(PriceKind.BALANCING, market_context, files, database_url, data_dir)


@click.command("index-prices")
@click.argument("market_context")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@_with_database
def index_prices(
    market_context: str, files: tuple[Path, ...], database_url: str | None, data_dir: Path
) -> None:
    """Load index prices for MARKET_CONTEXT from CSV FILES (replacing prices already loaded
    for the same node and interval). They cash out financial (cash-settled) positions.

    Columns as for balancing-prices: location,start,duration,price.
    """
    _load_prices(PriceKind.INDEX, market_context, files, database_url, data_dir)


@click.group()
def party() -> None:
    """Register parties and list them: who may sign requests, and in which roles."""


@party.command("add")
@click.argument("party_id")
@click.option("--pin", metavar="SHA256", help="The party's certificate fingerprint.")
@click.option(
    "--certificate",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Pin the party to this certificate (PEM).",
)
@click.option(
    "--subject",
    metavar="DN",
    help="Recognise the party by this certificate subject (RFC 4514, e.g. "
    "'CN=rep,O=temix development') under a CA the server trusts.",
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(sorted(ROLES)),
    default=(TRADER,),
    show_default=True,
    help="A role of the party (repeatable).",
)
@_with_database
def party_add(
    party_id: str,
    pin: str | None,
    certificate: Path | None,
    subject: str | None,
    roles: tuple[str, ...],
    database_url: str | None,
    data_dir: Path,
) -> None:
    """Register PARTY_ID (or replace its binding and roles): by --pin, --certificate or
    --subject, exactly one."""
    if sum(value is not None for value in (pin, certificate, subject)) != 1:
        raise click.UsageError("give exactly one of --pin, --certificate and --subject")
    try:
        if certificate is not None:
            pin = fingerprint(load_certificate(certificate))
        elif pin is not None:
            pin = normalise_fingerprint(pin)
    except KeysError as error:
        raise click.ClickException(str(error)) from None
    record = PartyRecord(party_id, frozenset(roles), certificate_sha256=pin, subject=subject)
    _, store = _prepared_store(database_url, data_dir)
    try:
        with store.transaction() as unit:
            unit.put_party(record, utc_now())
    except IntegrityError:
        raise click.ClickException(
            "another party is already bound to that certificate or subject"
        ) from None
    finally:
        store.close()
    click.echo(f"registered {_describe(record)}")


@party.command("list")
@_with_database
def party_list(database_url: str | None, data_dir: Path) -> None:
    """Print each registered party, its roles and how its certificate is recognised."""
    _, store = _prepared_store(database_url, data_dir)
    with store.transaction(write=False) as unit:
        records = unit.all_parties()
    store.close()
    for record in records:
        click.echo(_describe(record))


def _describe(record: PartyRecord) -> str:
    binding = (
        f"sha256:{record.certificate_sha256}"
        if record.certificate_sha256
        else f"subject {record.subject}"
    )
    return f"{record.party_id}\t{','.join(sorted(record.roles))}\t{binding}"


COMMANDS = (serve, market, group, ledger, balancing_prices, index_prices, party)
