"""``temix client``: every TeMIX operation from the command line, through :class:`Client`.

The group's options say where the endpoint is and whom to sign as; the client is made only when
a subcommand runs, so help needs no server. Output is a table by default and one JSON document
with ``--json``; every failure is one ``error:`` line (or a few) on stderr and an exit status.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Any

import click
import requests
from rich.console import Console
from rich.table import Table

from temix.client.api import Client, Signing, new_id, tls_session
from temix.client.errors import (
    ClientError,
    Refused,
    SoapFault,
    TransportFailure,
    UnverifiedReply,
)
from temix.codec import DecodeError, format_decimal, format_duration, format_instant, parse_duration
from temix.envelope import SOAP_1_1, SOAP_1_2
from temix.keys import KeysError
from temix.model import (
    DEVELOPMENT_MARKET,
    WEEKDAYS,
    AvailabilitySchedule,
    AvailableWindow,
    Delivery,
    Interface,
    InterfaceKind,
    Interval,
    Location,
    MeterReading,
    ModelError,
    OptionTerms,
    OptionType,
    PowerDescription,
    Product,
    ProductKind,
    Quote,
    Recurrence,
    Settlement,
    Side,
    SiScale,
    Target,
    Tender,
    Transaction,
    TransactiveState,
    TransportPath,
)
from temix.settlement import SettlementStatement, SettlementTrade
from temix.wssecurity import WSSE

EXIT_REFUSED = 1
EXIT_UNUSABLE = 2
EXIT_UNTRUSTED = 3

_UNWRAPPED_WIDTH = 4096


# --- Parameter types ------------------------------------------------------------------------


class InstantType(click.ParamType):
    """An ISO 8601 date-time with a zone (``Z`` or an offset), whole seconds, as UTC."""

    name = "instant"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date-time", param, ctx)
        if moment.tzinfo is None:
            self.fail(f"{value!r} has no time zone: add Z or an offset such as +01:00", param, ctx)
        if moment.microsecond:
            self.fail(f"{value!r} is not a whole second", param, ctx)
        return moment.astimezone(UTC)


_SHORT_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class DurationType(click.ParamType):
    """An ISO 8601 duration (``PT1H``) or a short one (``90s``, ``5m``, ``1h30m``, ``1d``)."""

    name = "duration"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, timedelta):
            return value
        text = value.strip()
        short = _SHORT_DURATION.match(text)
        if text.upper().startswith("P"):
            try:
                duration = parse_duration(text.upper(), "duration")
            except DecodeError:
                self.fail(f"{value!r} is not an ISO 8601 duration such as PT1H", param, ctx)
        elif text and short:
            days, hours, minutes, seconds = (int(part or 0) for part in short.groups())
            duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        else:
            self.fail(f"{value!r} is not a duration such as PT1H, 5m, 1h or 90s", param, ctx)
        if not duration and not self.allow_zero:
            self.fail(f"{value!r} must be longer than zero", param, ctx)
        return duration


class DecimalType(click.ParamType):
    """A finite decimal number, at least (or, not inclusive, more than) ``minimum``."""

    name = "decimal"

    def __init__(self, minimum: Decimal | None = None, *, inclusive: bool = True) -> None:
        self.minimum = minimum
        self.inclusive = inclusive

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, Decimal):
            return value
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            self.fail(f"{value!r} is not a number", param, ctx)
        if self.minimum is not None:
            if self.inclusive and number < self.minimum:
                self.fail(f"{value} must be at least {self.minimum}", param, ctx)
            if not self.inclusive and number <= self.minimum:
                self.fail(f"{value} must be more than {self.minimum}", param, ctx)
        return number


INSTANT = InstantType()
DURATION = DurationType()
LEAD_TIME = DurationType(allow_zero=True)
PRICE = DecimalType()
RATE = DecimalType(Decimal(0), inclusive=False)
NON_NEGATIVE = DecimalType(Decimal(0))


class IdentifierType(click.ParamType):
    """An id, a party or a URI: any text but a blank one, which no payload may carry."""

    name = "identifier"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if not value.strip():
            self.fail("must not be blank", param, ctx)
        return value


IDENTIFIER = IdentifierType()


class ReadingType(click.ParamType):
    """One metered interval as ``START,DURATION,QUANTITY``."""

    name = "reading"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, tuple):
            return value
        parts = value.split(",")
        if len(parts) != 3:
            self.fail(f"{value!r} is not START,DURATION,QUANTITY", param, ctx)
        start, duration, quantity = parts
        return (
            INSTANT.convert(start, param, ctx),
            DURATION.convert(duration, param, ctx),
            NON_NEGATIVE.convert(quantity, param, ctx),
        )


class AvailableType(click.ParamType):
    """An option's availability window as ``DAYS HH:MM DURATION`` on the market's clock:
    DAYS is ``daily`` or weekday codes and ranges (``MO-FR``, ``SA,SU``)."""

    name = "window"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, tuple):
            return value
        parts = value.split()
        if len(parts) != 3:
            self.fail(f"{value!r} is not DAYS HH:MM DURATION, e.g. 'MO-FR 14:00 PT4H'", param, ctx)
        days, clock, length = parts
        try:
            opens = time.fromisoformat(clock)
        except ValueError:
            self.fail(f"{clock!r} is not a time of day such as 14:00", param, ctx)
        return self._weekdays(days, param, ctx), opens, DURATION.convert(length, param, ctx)

    def _weekdays(
        self, text: str, param: click.Parameter | None, ctx: click.Context | None
    ) -> frozenset[int] | None:
        if text.lower() == "daily":
            return None
        days: set[int] = set()
        for part in text.upper().split(","):
            first, _, last = part.partition("-")
            if first not in WEEKDAYS or (last and last not in WEEKDAYS):
                self.fail(f"{part!r} is not a weekday code (MO to SU) or range", param, ctx)
            low, high = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
            if high < low:
                self.fail(f"{part!r} runs backwards: write MO-FR, not FR-MO", param, ctx)
            days.update(range(low, high + 1))
        return frozenset(days)


AVAILABLE = AvailableType()

SIDES = click.Choice([side.value for side in Side])
PRODUCT_KINDS = click.Choice([kind.value for kind in ProductKind])
INTERFACE_KINDS = click.Choice([kind.value for kind in InterfaceKind])


# --- JSON -----------------------------------------------------------------------------------

_DERIVED: dict[type, tuple[str, ...]] = {
    Product: ("kind",),
    SettlementStatement: ("physical_total", "financial_total", "total"),
}
"""Figures a value implies, written into its JSON so that scripts need not recompute them."""


def to_json(value: Any) -> Any:
    """``value`` (a payload, a model value, or a dict, tuple or list of them) as JSON data:
    dataclasses as objects, decimals as strings, instants as UTC ``Z`` strings, durations in
    ISO 8601, enumerations by their value (an SI scale by its code), sets sorted."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        document = {item.name: to_json(getattr(value, item.name)) for item in fields(value)}
        for name in _DERIVED.get(type(value), ()):
            document[name] = to_json(getattr(value, name))
        return document
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, SiScale):
        return value.code
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(to_json(item) for item in value)
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _echo_json(document: Any) -> None:
    click.echo(json.dumps(to_json(document), indent=2))


# --- The connection -------------------------------------------------------------------------


class NotFound(Exception):
    """What a command was asked to act on is not there."""


@dataclass
class Connection:
    """The group's options, and the client made from them on first use."""

    context: click.Context
    wsdl: str | None
    endpoint: str | None
    keys: Path | None
    party: str | None
    server_cert: Path | None
    insecure: bool
    soap12: bool
    timeout: float
    retries: int
    tls_ca: Path | None
    tls_cert: Path | None
    tls_key: Path | None
    json_output: bool
    _client: Client | None = field(default=None, init=False)

    def client(self) -> Client:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Client:
        """Check the options that go together, then load the WSDL."""
        for option, value, variable in (
            ("--wsdl", self.wsdl, "TEMIX_WSDL"),
            ("--party", self.party, "TEMIX_PARTY"),
        ):
            if not value:
                self._usage(f"Missing option '{option}' (or the {variable} environment variable).")
        if self.insecure and (self.keys or self.server_cert):
            self._usage(
                "--insecure signs and verifies nothing: it takes no --keys or --server-cert"
            )
        if not self.insecure and self.keys is None:
            self._usage(
                "give --keys DIR (or TEMIX_KEYS) to sign requests and verify replies, or "
                "--insecure for an endpoint that does neither (temix serve --insecure)"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            self._usage("--tls-cert and --tls-key go together")
        assert self.wsdl is not None and self.party is not None
        signing = None
        if self.keys is not None:
            signing = Signing.from_keys(self.keys, self.party, self.server_cert)
        session = tls_session(self.tls_ca, self.tls_cert, self.tls_key)
        return Client(
            self.wsdl,
            self.party,
            signing,
            soap_version=SOAP_1_2 if self.soap12 else SOAP_1_1,
            endpoint=self.endpoint,
            session=session,
            timeout=self.timeout,
            retries=self.retries,
        )

    def _usage(self, message: str) -> None:
        raise click.UsageError(message, self.context)

    def show(self, document: Any, render: Callable[[Console], None]) -> None:
        """Print ``document`` as JSON with ``--json``, else as ``render`` draws it."""
        if self.json_output:
            _echo_json(document)
        else:
            render(stdout_console())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


pass_connection = click.make_pass_decorator(Connection)


def stdout_console() -> Console:
    """Rich output on stdout; lines are not wrapped when it is not a terminal (a pipe, a file)."""
    console = Console(markup=False, highlight=False, emoji=False)
    if not console.is_terminal:
        console.width = _UNWRAPPED_WIDTH
    return console


# --- Errors and exit statuses ---------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """How a failed command ends: its exit status, the ``error:`` message and, for ``--json``,
    the details."""

    status: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def _fault_details(fault: SoapFault) -> dict[str, Any]:
    return {
        "code": fault.code,
        "subcodes": list(fault.subcodes),
        "reason": fault.reason,
        "verified": fault.verified,
    }


def _is_security_fault(fault: SoapFault) -> bool:
    return any(name.startswith(f"{{{WSSE}}}") for name in (fault.code, *fault.subcodes))


def failure(error: ClientError | NotFound | KeysError | OSError, connection: Connection) -> Failure:
    """How a command that raised ``error`` ends."""
    if isinstance(error, Refused):
        return Failure(EXIT_REFUSED, str(error), {"reply": to_json(error.reply)})
    if isinstance(error, SoapFault):
        message = str(error)
        if _is_security_fault(error):
            message += (
                "\nthe endpoint requires signed requests: use --keys, not --insecure"
                if connection.insecure
                else "\nthe endpoint did not accept the request's signature or certificate "
                "(its ledger, temix ledger, says why)"
            )
        return Failure(EXIT_REFUSED, message, {"fault": _fault_details(error)})
    if isinstance(error, NotFound):
        return Failure(EXIT_REFUSED, str(error))
    if isinstance(error, UnverifiedReply):
        details: dict[str, Any] = {"cause": error.cause}
        if error.fault is not None:
            details["fault"] = _fault_details(error.fault)
        hint = "nothing in the reply is trusted: check --server-cert or DIR/server.pem of --keys"
        return Failure(EXIT_UNTRUSTED, f"{error}\n{hint}", details)
    if isinstance(error, TransportFailure):
        return Failure(EXIT_UNTRUSTED, str(error), {"http_status": error.status})
    if isinstance(error, ClientError | requests.RequestException):
        return Failure(EXIT_UNTRUSTED, str(error))
    if isinstance(error, KeysError):
        hint = (
            f"--keys DIR is a temix keys init directory: DIR/parties/{connection.party}.key "
            "and .pem sign, DIR/server.pem (or --server-cert) verifies"
        )
        return Failure(EXIT_UNUSABLE, f"{error}\n{hint}")
    return Failure(EXIT_UNUSABLE, str(error))


def _json_after_command(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_object(Connection).json_output = True


_JSON_HELP = "Print one JSON document on stdout."


class ClientGroup(click.Group):
    """Gives every subcommand the group's ``--json`` too, and ends a subcommand that fails
    with an ``error:`` message and the failure's exit status."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.append(
            click.Option(
                ["--json"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_json_after_command,
                help=_JSON_HELP,
            )
        )
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            except ModelError as error:
                raise click.UsageError(str(error), ctx) from None
        except click.ClickException as error:
            json_output = isinstance(ctx.obj, Connection) and ctx.obj.json_output
            if json_output:
                _echo_json({"error": error.format_message(), "exit_status": error.exit_code})
            raise
        except (ClientError, NotFound, KeysError, OSError) as error:
            ended = failure(error, ctx.obj)
            click.echo(f"error: {ended.message}", err=True)
            if ctx.obj.json_output:
                _echo_json(
                    {
                        "error": ended.message,
                        "type": type(error).__name__,
                        "exit_status": ended.status,
                        **ended.details,
                    }
                )
            ctx.exit(ended.status)


# --- The group ------------------------------------------------------------------------------


def _existing_file(name: str, text: str):  # type: ignore[no-untyped-def]
    return click.option(
        name, type=click.Path(path_type=Path, dir_okay=False, exists=True), help=text
    )


@click.group(cls=ClientGroup)
@click.option(
    "--wsdl",
    envvar="TEMIX_WSDL",
    show_envvar=True,
    metavar="URL",
    help="The endpoint's WSDL, e.g. http://127.0.0.1:8080/?wsdl, or a file (required).",
)
@click.option("--endpoint", metavar="URL", help="Send to URL instead of the WSDL's address.")
@click.option(
    "--keys",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="TEMIX_KEYS",
    show_envvar=True,
    metavar="DIR",
    help="Key directory (temix keys init): sign as the party with parties/NAME.key and .pem, "
    "and accept only replies signed with server.pem.",
)
@click.option(
    "--party",
    type=IDENTIFIER,
    envvar="TEMIX_PARTY",
    show_envvar=True,
    metavar="NAME",
    help="The party to speak and sign for (required).",
)
@_existing_file("--server-cert", "Accept only replies signed with this certificate (PEM).")
@click.option(
    "--insecure",
    is_flag=True,
    help="Send unsigned and verify no reply (for temix serve --insecure).",
)
@click.option("--soap12", is_flag=True, help="Use the WSDL's SOAP 1.2 ports.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait for an answer.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Times a request that got no answer is sent again, with the same requestID.",
)
@_existing_file("--tls-ca", "CA bundle to verify an https endpoint with.")
@_existing_file("--tls-cert", "Client certificate for mutual TLS (PEM).")
@_existing_file("--tls-key", "The client certificate's private key (PEM).")
@click.option("--json", "json_output", is_flag=True, help=_JSON_HELP)
@click.pass_context
def client(
    ctx: click.Context,
    wsdl: str | None,
    endpoint: str | None,
    keys: Path | None,
    party: str | None,
    server_cert: Path | None,
    insecure: bool,
    soap12: bool,
    timeout: float,
    retries: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    json_output: bool,
) -> None:
    """Call a TeMIX endpoint (temix serve, or any EI/TeMIX SOAP server) as a party.

    Requests are signed with the party's key from --keys and every reply must be signed with
    the server certificate (--keys DIR/server.pem, or --server-cert); --insecure does neither.
    Instants are ISO 8601 with a zone (2026-11-23T15:00:00Z); durations ISO 8601 (PT1H) or
    short (5m, 1h, 90s, 1d); quantities are rates in the market's power unit (MW).

    \b
    Exit status:
      0  done
      1  the endpoint refused (an eiResponse code that is not 2xx, or a
         SOAP fault), or what was asked for was not found
      2  bad arguments, or unusable local files (keys, certificates)
      3  no trustworthy answer: the endpoint or its WSDL is unreachable,
         or the reply is not verified or not readable

    Errors go to stderr as "error: ..."; with --json, stdout also gets {"error": ...}.
    """
    connection = Connection(
        ctx,
        wsdl,
        endpoint,
        keys,
        party,
        server_cert,
        insecure,
        soap12,
        timeout,
        retries,
        tls_ca,
        tls_cert,
        tls_key,
        json_output,
    )
    ctx.obj = connection
    ctx.call_on_close(connection.close)


# --- Shared options and output --------------------------------------------------------------


def _interval_options(*, required: bool, what: str):  # type: ignore[no-untyped-def]
    def decorate(command):  # type: ignore[no-untyped-def]
        command = click.option(
            "--duration", type=DURATION, required=required, help=f"Length of {what}."
        )(command)
        return click.option(
            "--start", type=INSTANT, required=required, help=f"Start of {what} (ISO 8601)."
        )(command)

    return decorate


def _optional_interval(start: datetime | None, duration: timedelta | None) -> Interval | None:
    if (start is None) != (duration is None):
        raise click.UsageError("--start and --duration go together")
    return None if start is None or duration is None else Interval(start, duration)


def _market_option(*, multiple: bool):  # type: ignore[no-untyped-def]
    if multiple:
        return click.option(
            "--market",
            "markets",
            multiple=True,
            type=IDENTIFIER,
            metavar="URI",
            help="Only in this market context (repeatable).",
        )
    return click.option(
        "--market",
        default=DEVELOPMENT_MARKET.uri,
        show_default=True,
        type=IDENTIFIER,
        metavar="URI",
        help="The market context.",
    )


def _location_options(command):  # type: ignore[no-untyped-def]
    """``--interface ID`` and ``--interface-kind KIND``: a one-point interface."""
    command = click.option(
        "--interface-kind",
        type=INTERFACE_KINDS,
        default=InterfaceKind.PNODE.value,
        show_default=True,
        help="What --interface names: a node or a device (its MRID).",
    )(command)
    return click.option(
        "--interface",
        type=IDENTIFIER,
        metavar="ID",
        help="The interface: a node's id, or a device's MRID.",
    )(command)


def _interface_options(command):  # type: ignore[no-untyped-def]
    """A one-point interface, or a transport path with ``--point-of-receipt`` and
    ``--point-of-delivery``."""
    command = click.option(
        "--point-of-delivery",
        type=IDENTIFIER,
        metavar="NODE",
        help="A transport path: the node power is delivered at (with --point-of-receipt).",
    )(command)
    command = click.option(
        "--point-of-receipt",
        type=IDENTIFIER,
        metavar="NODE",
        help="A transport path: the node power is received at (with --point-of-delivery).",
    )(command)
    return _location_options(command)


def _interface(
    interface: str | None,
    interface_kind: str,
    point_of_receipt: str | None = None,
    point_of_delivery: str | None = None,
) -> Interface:
    """The interface the options of :func:`_interface_options` name."""
    path = (point_of_receipt, point_of_delivery)
    if interface is not None and any(path):
        raise click.UsageError(
            "give --interface, or --point-of-receipt and --point-of-delivery, not both"
        )
    if any(path):
        if point_of_receipt is None or point_of_delivery is None:
            raise click.UsageError("--point-of-receipt and --point-of-delivery go together")
        return TransportPath(point_of_receipt, point_of_delivery)
    if interface is None:
        raise click.UsageError(
            "Missing option '--interface' (or --point-of-receipt and --point-of-delivery)"
        )
    return Location(interface, InterfaceKind(interface_kind))


_party_option = click.option(
    "--party",
    "subject",
    type=IDENTIFIER,
    metavar="PARTY",
    help="Another party's figures (an operator's request) [default: the --party of the group].",
)


_split_option = click.option(
    "--split", type=DURATION, help="One figure per sub-interval this long."
)


_financial_option = click.option(
    "--financial", is_flag=True, help="Financial (cash-settled) deals instead of physical ones."
)


def _settlement(financial: bool) -> Settlement:
    return Settlement.FINANCIAL if financial else Settlement.PHYSICAL


def _split(interval: Interval, split: timedelta | None) -> tuple[Interval, ...]:
    """``interval``, or its consecutive parts ``split`` long."""
    if split is None:
        return (interval,)
    if interval.duration % split:
        raise click.BadParameter(
            f"{format_duration(split)} does not divide --duration "
            f"{format_duration(interval.duration)}",
            param_hint="'--split'",
        )
    return interval.split(split)


def _interface_text(interface: Interface) -> str:
    if isinstance(interface, TransportPath):
        return f"{interface.point_of_receipt}->{interface.point_of_delivery}"
    if interface.kind is InterfaceKind.PNODE:
        return interface.id
    return f"{interface.id} ({interface.kind.value})"


def _quantity_text(product: Product) -> str:
    description = product.description
    return f"{format_decimal(description.quantity)} {description.power_unit.symbol}"


def _price_text(product: Product) -> str:
    description = product.description
    currency = product.currency or ""
    return f"{format_decimal(description.price)} {currency}/{description.energy_unit.symbol}"


def _product_cells(product: Product) -> list[str]:
    financial = product.settlement is Settlement.FINANCIAL
    return [
        product.side.value,
        f"{product.kind.value} (financial)" if financial else product.kind.value,
        _interface_text(product.description.interface),
        format_instant(product.interval.start),
        format_duration(product.interval.duration),
        _quantity_text(product),
        _price_text(product),
    ]


_PRODUCT_COLUMNS = ("side", "product", "interface", "start", "duration", "quantity", "price")


def _table(columns: Iterable[str], rows: Iterable[list[str]]) -> Table:
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


def _print_outcomes(console: Console, reply: Any, noun: str) -> None:
    """One line per item of a reply (its id, code and description), or the overall response."""
    for item in reply.responses or (reply.response,):
        name = f"{noun} {item.ref_id}" if reply.responses else "response"
        console.print(f"{name}: {item.code} {item.description or ''}".rstrip())


# --- Tenders and quotes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One delivery interval of a strip, with its rate and price."""

    interval: Interval
    quantity: Decimal
    price: Decimal


_STRIP_COLUMNS = ("start", "duration", "quantity", "price")


def _strip_cell(where: str, name: str, text: str, fallback: Any, kind: click.ParamType) -> Any:
    """One cell of a strip row, or ``fallback`` (from --quantity or --price) when empty."""
    if not text:
        if fallback is None:
            columns = ", ".join(_STRIP_COLUMNS)
            raise click.BadParameter(
                f"{where} has no {name} (columns: {columns})", param_hint="'--strip'"
            )
        return fallback
    try:
        return kind.convert(text, None, None)
    except click.BadParameter as error:
        raise click.BadParameter(
            f"{where}, {name}: {error.message}", param_hint="'--strip'"
        ) from None


def _read_strip(file: Path, quantity: Decimal | None, price: Decimal | None) -> list[Block]:
    """The blocks of a strip CSV: a header naming start and duration, and quantity and price
    unless --quantity and --price give them for every row."""
    try:
        with file.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise click.BadParameter(f"{file}: {error}", param_hint="'--strip'") from None
    if not rows:
        raise click.BadParameter(f"{file} has no rows", param_hint="'--strip'")
    fallbacks = {"start": None, "duration": None, "quantity": quantity, "price": price}
    kinds = {"start": INSTANT, "duration": DURATION, "quantity": RATE, "price": PRICE}
    blocks = []
    for number, row in enumerate(rows, start=2):
        cells = {
            name: _strip_cell(
                f"{file} line {number}",
                name,
                (row.get(name) or "").strip(),
                fallbacks[name],
                kinds[name],
            )
            for name in _STRIP_COLUMNS
        }
        blocks.append(
            Block(Interval(cells["start"], cells["duration"]), cells["quantity"], cells["price"])
        )
    return blocks


def _blocks(
    start: datetime | None,
    duration: timedelta | None,
    quantity: Decimal | None,
    price: Decimal | None,
    strip: Path | None,
    blocks: int,
) -> list[Block]:
    """What to offer: one interval, ``blocks`` consecutive ones, or the rows of ``strip``."""
    if strip is not None:
        if start is not None or duration is not None or blocks != 1:
            raise click.UsageError("--strip gives the intervals: no --start, --duration, --blocks")
        return _read_strip(strip, quantity, price)
    for option, value in (
        ("--start", start),
        ("--duration", duration),
        ("--quantity", quantity),
        ("--price", price),
    ):
        if value is None:
            raise click.UsageError(f"Missing option '{option}' (or give --strip FILE)")
    assert start is not None and duration is not None
    assert quantity is not None and price is not None
    first = Interval(start, duration)
    return [
        Block(Interval(first.start + index * duration, duration), quantity, price)
        for index in range(blocks)
    ]


def _product_options(command):  # type: ignore[no-untyped-def]
    """What a tender or quote offers: side, delivery interval(s), rate, price, interface,
    market, expiry and option terms."""
    options = (
        click.option("--side", type=SIDES, required=True, help="Your side: sell or buy."),
        click.option("--start", type=INSTANT, help="Start of the delivery interval (ISO 8601)."),
        click.option("--duration", type=DURATION, help="Length of the delivery interval."),
        click.option("--quantity", type=RATE, metavar="MW", help="Rate of delivery."),
        click.option(
            "--price",
            type=PRICE,
            help="Price per unit of energy (USD/MWh); an option's strike price.",
        ),
        click.option(
            "--blocks",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Offer this many consecutive intervals of --duration from --start.",
        ),
        click.option(
            "--strip",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            metavar="CSV",
            help="Offer one interval per row: columns start, duration, quantity, price "
            "(quantity and price may come from --quantity and --price).",
        ),
        _interface_options,
        _market_option(multiple=False),
        click.option("--currency", default="USD", show_default=True, help="ISO 4217 code."),
        click.option("--expires", type=INSTANT, help="When the offer lapses [default: its start]."),
        click.option("--expires-in", type=DURATION, help="The offer lapses this long from now."),
        click.option("--integral-only", is_flag=True, help="Accept all of it or nothing."),
        click.option(
            "--call", "option_type", flag_value=OptionType.CALL.value, help="A call option."
        ),
        click.option("--put", "option_type", flag_value=OptionType.PUT.value, help="A put option."),
        click.option(
            "--premium", type=NON_NEGATIVE, help="An option's premium per unit of energy."
        ),
        click.option(
            "--lead-time",
            type=LEAD_TIME,
            help="How long before delivery an option must be exercised [default: 0].",
        ),
        click.option(
            "--granularity",
            type=DURATION,
            help="An option is exercised in multiples of this [default: the whole interval].",
        ),
        click.option(
            "--holder-side",
            type=SIDES,
            help="The option's holder side in the transaction [default: buy].",
        ),
        click.option(
            "--available",
            "availability",
            type=AVAILABLE,
            multiple=True,
            metavar="'DAYS HH:MM DURATION'",
            help="A window in which an option may be exercised, on the market's clock "
            "(repeatable), e.g. 'MO-FR 14:00 PT4H' or 'daily 06:00 2h' [default: any time].",
        ),
        click.option(
            "--financial",
            is_flag=True,
            help="Cash-settled: no delivery, cashed out at the market's index price.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _products(
    state: TransactiveState,
    ids: Iterator[str],
    *,
    side: str,
    start: datetime | None,
    duration: timedelta | None,
    quantity: Decimal | None,
    price: Decimal | None,
    blocks: int,
    strip: Path | None,
    interface: str | None,
    interface_kind: str,
    point_of_receipt: str | None,
    point_of_delivery: str | None,
    market: str,
    currency: str,
    expires: datetime | None,
    expires_in: timedelta | None,
    integral_only: bool,
    option_type: str | None,
    premium: Decimal | None,
    lead_time: timedelta | None,
    granularity: timedelta | None,
    holder_side: str | None,
    availability: tuple[tuple[frozenset[int] | None, time, timedelta], ...],
    financial: bool,
) -> list[Product]:
    """The products the options of :func:`_product_options` describe, one per block, each
    with the next id of ``ids``."""
    if expires is not None and expires_in is not None:
        raise click.UsageError("give --expires or --expires-in, not both")
    option_terms = (premium, lead_time, granularity, holder_side, availability or None)
    if option_type is None and any(value is not None for value in option_terms):
        raise click.UsageError(
            "--premium, --lead-time, --granularity, --holder-side and --available describe an "
            "option: add --call or --put"
        )
    if option_type is not None and premium is None:
        raise click.UsageError("an option needs --premium")
    where = _interface(interface, interface_kind, point_of_receipt, point_of_delivery)
    if expires_in is not None:
        expires = datetime.now(UTC).replace(microsecond=0) + expires_in
    products = []
    for block in _blocks(start, duration, quantity, price, strip, blocks):
        option = None
        if option_type is not None and premium is not None:
            option = OptionTerms(
                OptionType(option_type),
                Side(holder_side or Side.BUY),
                strike_price=block.price,
                premium=premium,
                lead_time=lead_time or timedelta(0),
                granularity=granularity or block.interval.duration,
                availability=_schedule(availability, block.interval),
            )
        products.append(
            Product(
                uid=next(ids),
                interval=block.interval,
                description=PowerDescription(where, block.price, block.quantity),
                state=state,
                side=Side(side),
                market_context=market,
                currency=currency,
                expires=expires or block.interval.start,
                integral_only=True if integral_only else None,
                option=option,
                settlement=_settlement(financial),
            )
        )
    return products


def _schedule(
    windows: tuple[tuple[frozenset[int] | None, time, timedelta], ...], delivery: Interval
) -> AvailabilitySchedule | None:
    """The --available windows, repeating from the day before the delivery starts (so that
    the first window opens in time on any clock)."""
    if not windows:
        return None
    first_day = delivery.start.date() - timedelta(days=1)
    return AvailabilitySchedule(
        tuple(
            AvailableWindow(
                datetime.combine(first_day, opens),
                duration,
                Recurrence.DAILY if weekdays is None else Recurrence.WEEKLY,
                frozenset() if weekdays is None else weekdays,
            )
            for weekdays, opens, duration in windows
        )
    )


def _ids(given: str | None) -> Iterator[str]:
    """``given``, then ``given-2``, ``given-3``, ... for the blocks of a strip; new ids when no
    id is given."""
    if given is None:
        while True:
            yield new_id()
    yield given
    for number in itertools.count(2):
        yield f"{given}-{number}"


def _tenders(
    connection: Connection, tender_id: str | None, options: dict[str, Any]
) -> list[Tender]:
    products = _products(TransactiveState.TENDER, _ids(tender_id), **options)
    return [Tender(product.uid, product) for product in products]


_tender_id_option = click.option(
    "--tender-id",
    type=IDENTIFIER,
    metavar="ID",
    help="[default: a new UUID; a strip's: ID, ID-2, ...]",
)


@client.command("create-tender")
@click.option(
    "--to",
    "counterparty",
    required=True,
    type=IDENTIFIER,
    metavar="PARTY",
    help="Offer it to PARTY.",
)
@_product_options
@_tender_id_option
@pass_connection
def create_tender(
    connection: Connection, counterparty: str, tender_id: str | None, **product: Any
) -> None:
    """Offer tenders to a party, in one EiCreateTender.

    A tender is power at an interface (--interface), or transport from --point-of-receipt to
    --point-of-delivery, over an interval; with --call or --put, an option on either. With
    --blocks or --strip, one tender per delivery interval.
    Prints each tender's id and the endpoint's response.
    """
    tenders = _tenders(connection, tender_id, product)
    reply = connection.client().create_tender(counterparty, *tenders)
    connection.show(reply, lambda console: _print_outcomes(console, reply, "tender"))


@client.command("distribute-tender")
@click.option(
    "--group", "group_ids", multiple=True, type=IDENTIFIER, metavar="ID", help="To GROUP's members."
)
@click.option(
    "--party-id",
    "party_ids",
    multiple=True,
    type=IDENTIFIER,
    metavar="PARTY",
    help="To PARTY (repeatable).",
)
@click.option(
    "--whole-market",
    is_flag=True,
    help="To every party of the market context (the group named by its URI).",
)
@_product_options
@_tender_id_option
@pass_connection
def distribute_tender(
    connection: Connection,
    group_ids: tuple[str, ...],
    party_ids: tuple[str, ...],
    whole_market: bool,
    tender_id: str | None,
    **product: Any,
) -> None:
    """Offer tenders to groups of parties, in one EiDistributeTender.

    Each member of each --group (repeatable), each --party-id, or with --whole-market every
    party of the --market, is offered the tenders; the first to accept one takes what it
    accepts. Takes the tender options of create-tender.
    """
    if whole_market:
        group_ids = (*group_ids, product["market"])
    if not group_ids and not party_ids:
        raise click.UsageError("give --group, --party-id or --whole-market")
    tenders = _tenders(connection, tender_id, product)
    reply = connection.client().distribute_tender(
        Target(group_ids=group_ids, party_ids=party_ids), *tenders
    )
    connection.show(reply, lambda console: _print_outcomes(console, reply, "tender"))


@client.command("create-quote")
@click.option(
    "--to", "subscriber", required=True, type=IDENTIFIER, metavar="PARTY", help="Quote it to PARTY."
)
@_product_options
@click.option("--quote-id", type=IDENTIFIER, metavar="ID", help="[default: a new UUID]")
@pass_connection
def create_quote(
    connection: Connection, subscriber: str, quote_id: str | None, **product: Any
) -> None:
    """Send a quote: a priced indication of interest, not an offer.

    One quote whose products are the intervals of --start/--duration, --blocks or --strip;
    nobody can accept it. Takes the tender options of create-tender.
    Prints the quote's id and the endpoint's response.
    """
    quote_id = quote_id or new_id()
    products = _products(
        TransactiveState.INDICATION_OF_INTEREST, _ids(f"{quote_id}-product"), **product
    )
    reply = connection.client().create_quote(subscriber, Quote(quote_id, tuple(products)))
    connection.show(reply, lambda console: _print_outcomes(console, reply, "quote"))


_transaction_id_option = click.option(
    "--transaction-id",
    type=IDENTIFIER,
    metavar="ID",
    help="The new transaction's id [default: a new UUID].",
)


def _the_one(items: Iterable[Any], attribute: str, wanted: str, missing: str) -> Any:
    """The item whose ``attribute`` is ``wanted``; :class:`NotFound` with ``missing`` if none."""
    for item in items:
        if getattr(item, attribute) == wanted:
            return item
    raise NotFound(missing)


@client.command()
@click.argument("tender_id", type=IDENTIFIER)
@click.option(
    "--from", "author", required=True, type=IDENTIFIER, metavar="PARTY", help="The tender's author."
)
@click.option(
    "--quantity", type=RATE, metavar="MW", help="The rate to accept [default: all that remains]."
)
@_transaction_id_option
@pass_connection
def accept(
    connection: Connection,
    tender_id: str,
    author: str,
    quantity: Decimal | None,
    transaction_id: str | None,
) -> None:
    """Accept a tender offered to you.

    Accepts all that remains of TENDER_ID, written by PARTY, or --quantity of it.
    Prints the new transaction's id and the endpoint's response.
    """
    api = connection.client()
    tender = _the_one(
        api.request_tenders(tender_ids=(tender_id,), counterparties=(author,)),
        "tender_id",
        tender_id,
        f"no standing tender {tender_id} from {author} is offered to {api.party} "
        "(it may be filled, cancelled or expired)",
    )
    reply = api.accept(tender, author, quantity, transaction_id=transaction_id)
    connection.show(reply, lambda console: _print_outcomes(console, reply, "transaction"))


@client.command()
@click.argument("ids", type=IDENTIFIER, nargs=-1, required=True)
@click.option("--quotes", is_flag=True, help="IDS are quote ids.")
@pass_connection
def cancel(connection: Connection, ids: tuple[str, ...], quotes: bool) -> None:
    """Cancel your tenders IDS (or quotes, with --quotes)."""
    api = connection.client()
    reply = api.cancel_quote(*ids) if quotes else api.cancel_tender(*ids)
    noun = "quote" if quotes else "tender"
    connection.show(reply, lambda console: _print_outcomes(console, reply, noun))


def _render_tenders(console: Console, tenders: tuple[Tender, ...]) -> None:
    if not tenders:
        console.print("no tenders")
        return
    rows = [
        [
            tender.tender_id,
            *_product_cells(tender.product),
            format_instant(tender.product.expires) if tender.product.expires else "",
        ]
        for tender in tenders
    ]
    console.print(_table(("tender", *_PRODUCT_COLUMNS, "expires"), rows))


@client.command()
@click.option(
    "--from", "authors", multiple=True, type=IDENTIFIER, metavar="PARTY", help="Only PARTY's."
)
@_market_option(multiple=True)
@click.option(
    "--id", "tender_ids", multiple=True, type=IDENTIFIER, metavar="ID", help="Only this tender."
)
@click.option("--side", type=SIDES, help="Only tenders to buy, or to sell.")
@click.option("--product", type=PRODUCT_KINDS, help="Only this kind of product.")
@_interval_options(required=False, what="an interval the tenders overlap")
@pass_connection
def tenders(
    connection: Connection,
    authors: tuple[str, ...],
    markets: tuple[str, ...],
    tender_ids: tuple[str, ...],
    side: str | None,
    product: str | None,
    start: datetime | None,
    duration: timedelta | None,
) -> None:
    """List standing tenders.

    The tenders you wrote or were offered, live and not expired; quantities are what remains.
    """
    interval = _optional_interval(start, duration)
    found = connection.client().request_tenders(
        counterparties=authors,
        market_contexts=markets,
        tender_ids=tender_ids,
        intervals=() if interval is None else (interval,),
        side=None if side is None else Side(side),
        kind=None if product is None else ProductKind(product),
    )
    connection.show({"tenders": found}, lambda console: _render_tenders(console, found))


# --- Quotes ---------------------------------------------------------------------------------


def _render_quotes(console: Console, quotes: tuple[Quote, ...]) -> None:
    if not quotes:
        console.print("no quotes")
        return
    rows = [
        [quote.quote_id, *_product_cells(product)] for quote in quotes for product in quote.products
    ]
    console.print(_table(("quote", *_PRODUCT_COLUMNS), rows))


@client.command()
@click.option(
    "--publisher", required=True, type=IDENTIFIER, metavar="PARTY", help="Quotes PARTY published."
)
@_market_option(multiple=True)
@click.option(
    "--id", "quote_ids", multiple=True, type=IDENTIFIER, metavar="ID", help="Only this quote."
)
@_interval_options(required=False, what="an interval the quotes overlap")
@pass_connection
def quotes(
    connection: Connection,
    publisher: str,
    markets: tuple[str, ...],
    quote_ids: tuple[str, ...],
    start: datetime | None,
    duration: timedelta | None,
) -> None:
    """List quotes.

    The quotes (indications of interest) a publisher sent you, or that you published.
    """
    interval = _optional_interval(start, duration)
    found = connection.client().request_quotes(
        publisher,
        market_contexts=markets,
        quote_ids=quote_ids,
        intervals=() if interval is None else (interval,),
    )
    connection.show({"quotes": found}, lambda console: _render_quotes(console, found))


# --- Transactions ---------------------------------------------------------------------------


def _render_transactions(console: Console, transactions: tuple[Transaction, ...]) -> None:
    if not transactions:
        console.print("no transactions")
        return
    rows = [
        [
            transaction.transaction_id,
            transaction.tender_id or "",
            *_product_cells(transaction.product),
            transaction.product.related_to or "",
        ]
        for transaction in transactions
    ]
    columns = ("transaction", "tender", *_PRODUCT_COLUMNS, "related to")
    console.print(_table(columns, rows))


@client.command()
@click.option(
    "--counterparty",
    "counterparties",
    multiple=True,
    type=IDENTIFIER,
    metavar="PARTY",
    help="Only with PARTY.",
)
@_market_option(multiple=True)
@click.option(
    "--id", "transaction_ids", multiple=True, type=IDENTIFIER, metavar="ID", help="Only this one."
)
@_interval_options(required=False, what="an interval the transactions overlap")
@_party_option
@pass_connection
def transactions(
    connection: Connection,
    counterparties: tuple[str, ...],
    markets: tuple[str, ...],
    transaction_ids: tuple[str, ...],
    start: datetime | None,
    duration: timedelta | None,
    subject: str | None,
) -> None:
    """List your transactions, in the order of their delivery.

    Accepted tenders (the tender column names them) and option exercises (related to the
    option transaction).
    """
    interval = _optional_interval(start, duration)
    listed = connection.client().request_transactions(
        party=subject,
        counterparties=counterparties,
        market_contexts=markets,
        transaction_ids=transaction_ids,
        intervals=() if interval is None else (interval,),
    )
    found = tuple(
        sorted(listed, key=lambda each: (each.product.interval.start, each.transaction_id))
    )
    connection.show({"transactions": found}, lambda console: _render_transactions(console, found))


@client.command()
@click.argument("option_transaction_id", type=IDENTIFIER)
@click.option(
    "--writer", required=True, type=IDENTIFIER, metavar="PARTY", help="The option's writer."
)
@_interval_options(required=True, what="the exercised sub-interval")
@click.option("--quantity", type=RATE, required=True, metavar="MW", help="The rate exercised.")
@_transaction_id_option
@pass_connection
def exercise(
    connection: Connection,
    option_transaction_id: str,
    writer: str,
    start: datetime,
    duration: timedelta,
    quantity: Decimal,
    transaction_id: str | None,
) -> None:
    """Exercise an option you hold.

    Exercises --quantity of OPTION_TRANSACTION_ID over a sub-interval of it.
    Prints the new transaction's id and the endpoint's response.
    """
    api = connection.client()
    option = _the_one(
        api.request_transactions(transaction_ids=(option_transaction_id,)),
        "transaction_id",
        option_transaction_id,
        f"{api.party} has no transaction {option_transaction_id}",
    )
    if option.product.option is None:
        raise NotFound(f"transaction {option_transaction_id} is not an option")
    reply = api.exercise_option(
        option, writer, Interval(start, duration), quantity, transaction_id=transaction_id
    )
    connection.show(reply, lambda console: _print_outcomes(console, reply, "transaction"))


# --- Delivery, settlement, market contexts, positions ---------------------------------------


def _render_delivery(console: Console, reply: Any) -> None:
    _print_outcomes(console, reply, "delivery")
    for delivery in reply.deliveries:
        created = format_instant(delivery.created) if delivery.created else "?"
        console.print(
            f"stored as delivery {delivery.delivery_id} at {created} "
            f"(uid {delivery.uid}, metered intervals: {len(delivery.readings)})"
        )


@client.command()
@_location_options
@click.option("--start", type=INSTANT, help="Start of the metered interval (ISO 8601).")
@click.option("--duration", type=DURATION, help="Length of the metered interval.")
@click.option("--quantity", type=NON_NEGATIVE, metavar="MW", help="The average rate metered.")
@click.option(
    "--reading",
    "readings",
    type=ReadingType(),
    multiple=True,
    metavar="START,DURATION,MW",
    help="One metered interval (repeatable), instead of --start, --duration and --quantity.",
)
@click.option(
    "--injection/--withdrawal",
    default=False,
    show_default=True,
    help="Power put into the grid, or taken from it.",
)
@_market_option(multiple=False)
@click.option(
    "--uid", type=IDENTIFIER, metavar="ID", help="The delivery's uid [default: a new UUID]."
)
@click.option(
    "--against",
    type=IDENTIFIER,
    metavar="TRANSACTION_ID",
    help="The physical transaction the readings deliver against.",
)
@pass_connection
def deliver(
    connection: Connection,
    interface: str | None,
    interface_kind: str,
    start: datetime | None,
    duration: timedelta | None,
    quantity: Decimal | None,
    readings: tuple[tuple[datetime, timedelta, Decimal], ...],
    injection: bool,
    market: str,
    uid: str | None,
    against: str | None,
) -> None:
    """Report metered delivery.

    One reading at a node (--start, --duration, --quantity), or several with --reading.
    """
    single = (start, duration, quantity)
    if any(value is not None for value in single):
        if start is None or duration is None or quantity is None:
            raise click.UsageError("--start, --duration and --quantity go together")
        readings = ((start, duration, quantity), *readings)
    if not readings:
        raise click.UsageError("give --start, --duration and --quantity, or --reading")
    where = _interface(interface, interface_kind)
    api = connection.client()
    delivery = Delivery(
        uid or api.new_id(),
        injection,
        tuple(
            MeterReading(Interval(begin, length), rate, market, where, transaction_id=against)
            for begin, length, rate in readings
        ),
    )
    reply = api.report_delivery(delivery)
    connection.show(reply, lambda console: _render_delivery(console, reply))


def _render_settlement(console: Console, reply: Any) -> None:
    statement: SettlementStatement = reply.statement
    currency = reply.currency
    period = statement.period
    console.print(
        f"settlement of {statement.party_id} at {_interface_text(statement.interface)} in "
        f"{reply.market_context}, {format_instant(period.start)} for "
        f"{format_duration(period.duration)}"
    )
    figures = (
        ("physical: forward cost", statement.forward_cost),
        ("physical: balancing cost", statement.balancing_cost),
        ("financial: forward cost", statement.financial_cost),
        ("financial: cash-out at the index", statement.cash_out_cost),
        ("option premiums", statement.premiums),
        ("total", statement.total),
    )
    rows = [[name, f"{format_decimal(amount)} {currency}"] for name, amount in figures]
    console.print(_table(("", "amount (money received is positive)"), rows))
    for title, trades in (
        ("balancing trades", statement.balancing_trades),
        ("cash-outs of the financial position", statement.cash_outs),
    ):
        _print_trades(console, reply, title, trades)


def _print_trades(
    console: Console, reply: Any, title: str, trades: tuple[SettlementTrade, ...]
) -> None:
    if not trades:
        return
    currency = reply.currency
    rows = [
        [
            format_instant(trade.interval.start),
            format_duration(trade.interval.duration),
            trade.side.value,
            f"{format_decimal(trade.rate)} {reply.power_unit.symbol}",
            f"{format_decimal(trade.price)} {currency}/{reply.energy_unit.symbol}",
            f"{format_decimal(trade.energy)} {reply.energy_unit.symbol}",
            f"{format_decimal(trade.amount)} {currency}",
        ]
        for trade in trades
    ]
    columns = ("start", "duration", "side", "rate", "price", "energy", "amount")
    console.print(title)
    console.print(_table(columns, rows))


@client.command()
@_location_options
@_interval_options(required=True, what="the settlement period")
@_market_option(multiple=False)
@_party_option
@pass_connection
def settlement(
    connection: Connection,
    interface: str | None,
    interface_kind: str,
    start: datetime,
    duration: timedelta,
    market: str,
    subject: str | None,
) -> None:
    """Settle metered delivery.

    Your metered delivery at a node over a period, settled against your physical
    transactions at the balancing prices, and your financial transactions cashed out at the
    index prices; money received is positive.
    """
    reply = connection.client().request_settlement(
        market, _interface(interface, interface_kind), Interval(start, duration), party=subject
    )
    connection.show(reply, lambda console: _render_settlement(console, reply))


def _render_market_contexts(console: Console, contexts: tuple[Any, ...]) -> None:
    if not contexts:
        console.print("no market contexts")
        return
    rows = [
        [
            context.uri,
            context.name,
            context.currency,
            f"{context.power_unit.symbol}, {context.energy_unit.symbol}",
            format_decimal(context.quantity_step),
            context.time_zone,
            format_duration(context.interval_granularity),
            ", ".join(sorted(kind.value for kind in context.allowed_products)),
        ]
        for context in contexts
    ]
    columns = ("uri", "name", "currency", "units", "step", "time zone", "granularity", "products")
    console.print(_table(columns, rows))


@client.command("market-contexts")
@click.argument("uris", type=IDENTIFIER, nargs=-1)
@pass_connection
def market_contexts(connection: Connection, uris: tuple[str, ...]) -> None:
    """Show market contexts.

    The market contexts URIS [default: the development market, urn:temix:market:development].
    """
    found = connection.client().request_market_contexts(*(uris or (DEVELOPMENT_MARKET.uri,)))
    connection.show(
        {"market_contexts": found}, lambda console: _render_market_contexts(console, found)
    )


def _render_position(console: Console, reply: Any) -> None:
    console.print(
        f"{reply.settlement.value} position of {reply.party_id} at "
        f"{_interface_text(reply.interface)} in {reply.market_context} (sells minus buys)"
    )
    rows = [
        [
            format_instant(position.interval.start),
            format_duration(position.interval.duration),
            format_decimal(position.net_rate),
            format_decimal(position.energy),
            format_decimal(position.cost),
        ]
        for position in reply.positions
    ]
    columns = (
        "start",
        "duration",
        f"net rate ({reply.power_unit.symbol})",
        f"energy ({reply.energy_unit.symbol})",
        f"cost ({reply.currency})",
    )
    console.print(_table(columns, rows))


@client.command()
@_interface_options
@_interval_options(required=True, what="the interval")
@_split_option
@_market_option(multiple=False)
@_party_option
@_financial_option
@pass_connection
def position(
    connection: Connection,
    interface: str | None,
    interface_kind: str,
    point_of_receipt: str | None,
    point_of_delivery: str | None,
    start: datetime,
    duration: timedelta,
    split: timedelta | None,
    market: str,
    subject: str | None,
    financial: bool,
) -> None:
    """Show net positions.

    Your net rate, energy and cost at an interface over the interval (or each --split part of
    it), sells minus buys, of your physical transactions (or, with --financial, of your
    financial ones). At a node, transport counts at both ends; on a transport path
    (--point-of-receipt, --point-of-delivery), only that path's transactions count.
    """
    where = _interface(interface, interface_kind, point_of_receipt, point_of_delivery)
    intervals = _split(Interval(start, duration), split)
    reply = connection.client().request_position(
        market, where, *intervals, party=subject, settlement=_settlement(financial)
    )
    connection.show(reply, lambda console: _render_position(console, reply))


def _render_publication(console: Console, reply: Any) -> None:
    console.print(
        f"transacted in {reply.settlement.value} deals at {_interface_text(reply.interface)} "
        f"in {reply.market_context} ({reply.currency}/{reply.energy_unit.symbol})"
    )
    rows = [
        [
            format_instant(publication.interval.start),
            format_duration(publication.interval.duration),
            str(publication.count),
            f"{format_decimal(publication.total_rate)} {reply.power_unit.symbol}",
            *(
                "" if price is None else format_decimal(price)
                for price in (
                    publication.average_price,
                    publication.min_price,
                    publication.max_price,
                )
            ),
        ]
        for publication in reply.publications
    ]
    columns = ("start", "duration", "transactions", "total rate", "average", "min", "max")
    console.print(_table(columns, rows))


@client.command()
@_interface_options
@_interval_options(required=True, what="the interval")
@_split_option
@_market_option(multiple=False)
@_financial_option
@pass_connection
def publication(
    connection: Connection,
    interface: str | None,
    interface_kind: str,
    point_of_receipt: str | None,
    point_of_delivery: str | None,
    start: datetime,
    duration: timedelta,
    split: timedelta | None,
    market: str,
    financial: bool,
) -> None:
    """Show what the market transacted.

    The number of transactions, their total rate and their average, lowest and highest prices
    at an interface over the interval (or each --split part of it), for everyone to see, in
    physical deals (or, with --financial, in financial ones).
    """
    where = _interface(interface, interface_kind, point_of_receipt, point_of_delivery)
    intervals = _split(Interval(start, duration), split)
    reply = connection.client().request_publication(
        market, where, *intervals, settlement=_settlement(financial)
    )
    connection.show(reply, lambda console: _render_publication(console, reply))
