"""``temix client`` against a running ``temix serve``: tables and JSON, exit statuses 0 to 3,
usage errors, and the signing and TLS options, never a traceback.

Commands are written as one string and split on spaces, as a shell would split them.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner, Result

from running_server import RunningServer, key_directory, tomorrow
from temix.cli import main
from temix.client import Client, Signing
from temix.client.cli import client as client_group
from temix.client.cli import to_json
from temix.codec import encode_item, format_instant
from temix.keys import KeyDirectory
from temix.model import (
    DEVELOPMENT_MARKET,
    Interval,
    Location,
    PowerDescription,
    Product,
    Quote,
    Side,
    TransactiveState,
)
from temix.server.store import sqlite_url

TOMORROW = tomorrow()
UNSET_ENVIRONMENT = {"TEMIX_WSDL": None, "TEMIX_KEYS": None, "TEMIX_PARTY": None}
CLOSED_WSDL = "http://127.0.0.1:9/?wsdl"


def hour(offset: int) -> str:
    """The start of an hour tomorrow: each test trades in its own hour and at its own node."""
    return format_instant(TOMORROW + timedelta(hours=offset))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyDirectory:
    return key_directory(tmp_path_factory.mktemp("client-cli") / "keys")


@pytest.fixture(scope="module")
def server(keys: KeyDirectory):
    data = keys.path.parent
    running = RunningServer(sqlite_url(data / "data"), data / "server.log", keys=keys, workers=1)
    yield running
    running.stop()


def invoke(*args: str | Path, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(
        main,
        [str(arg) for arg in args],
        env={**UNSET_ENVIRONMENT, **(env or {})},
        prog_name="temix",
    )


def client(
    server: RunningServer,
    party: str,
    command: str,
    *more: str | Path,
    options: Sequence[str | Path] = (),
) -> Result:
    """``temix client --wsdl ... --keys ... --party PARTY OPTIONS... COMMAND MORE...``."""
    assert server.keys is not None
    identity = ("--wsdl", server.wsdl_url, "--keys", server.keys.path, "--party", party)
    return invoke("client", *identity, *options, *command.split(), *more)


def json_of(result: Result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_clean_failure(result: Result, status: int) -> None:
    assert result.exit_code == status, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def sell_tender(server: RunningServer, tender_id: str, node: str, start: str, extra: str = ""):
    """rep offers customer 5 MW at ``node`` for an hour from ``start`` at 42.5."""
    result = client(
        server,
        "rep",
        f"create-tender --to customer --side sell --start {start} --duration 1h "
        f"--quantity 5 --price 42.5 --interface {node} --tender-id {tender_id} {extra}",
    )
    assert result.exit_code == 0, result.output
    return result


def test_help_needs_no_server():
    result = invoke("client", "--help")
    assert result.exit_code == 0
    for command in ("create-tender", "accept", "position", "settlement", "market-contexts"):
        assert command in result.stdout
    assert "Exit status" in result.stdout
    assert "3  no trustworthy answer" in result.stdout
    subcommand = invoke("client", "create-tender", "--help")
    assert subcommand.exit_code == 0
    assert "--expires-in DURATION" in subcommand.stdout


def test_tender_accept_position_and_settlement(server):
    start = hour(1)
    created = sell_tender(server, "session-1", "NODE-S", start)
    assert created.stdout == "tender session-1: 200 OK\n"

    listed = client(server, "customer", "tenders --from rep")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if "session-1" in line)
    for cell in ("sell", "power", "NODE-S", start, "PT1H", "5 MW", "42.5 USD/MWh"):
        assert cell in row

    accepted = client(server, "customer", "accept session-1 --from rep --quantity 2")
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout.startswith("transaction ")
    assert accepted.stdout.endswith(": 200 OK\n")

    (remaining,) = json_of(client(server, "customer", "--json tenders --id session-1"))["tenders"]
    assert remaining["product"]["description"]["quantity"] == "3"
    assert remaining["product"]["expires"] == start

    overlapping = f"--counterparty rep --start {start} --duration PT1H"
    (transaction,) = json_of(client(server, "customer", f"--json transactions {overlapping}"))[
        "transactions"
    ]
    assert transaction["tender_id"] == "session-1"
    product = transaction["product"]
    assert (product["side"], product["kind"], product["state"]) == ("buy", "power", "transaction")
    assert product["description"]["quantity"] == "2"
    assert product["description"]["price"] == "42.5"
    assert product["description"]["interface"] == {"id": "NODE-S", "kind": "pnode"}
    assert product["interval"] == {"start": start, "duration": "PT1H"}
    table = client(server, "customer", f"transactions --id {transaction['transaction_id']}")
    assert "session-1" in table.stdout and "2 MW" in table.stdout

    interval = f"--interface NODE-S --start {start} --duration 1h"
    (bought,) = json_of(client(server, "customer", f"--json position {interval}"))["positions"]
    assert (bought["net_rate"], bought["energy"], bought["cost"]) == ("-2", "-2", "-85")
    (sold,) = json_of(client(server, "rep", f"--json position {interval}"))["positions"]
    assert (sold["net_rate"], sold["cost"]) == ("2", "85")
    halves = json_of(client(server, "customer", f"--json position {interval} --split 30m"))
    assert [(part["interval"]["duration"], part["cost"]) for part in halves["positions"]] == [
        ("PT30M", "-42.5"),
        ("PT30M", "-42.5"),
    ]
    shown = client(server, "customer", f"position {interval}")
    assert "cost (USD)" in shown.stdout and "-85" in shown.stdout

    delivered = client(server, "customer", f"deliver {interval} --quantity 1.5")
    assert delivered.exit_code == 0, delivered.output
    assert "stored as delivery " in delivered.stdout

    refused = client(server, "customer", f"settlement {interval}")
    assert_clean_failure(refused, 1)
    assert refused.stderr.startswith("error: refused 409: ")
    assert "no balancing price" in refused.stderr
    refused_json = client(server, "customer", f"--json settlement {interval}")
    assert_clean_failure(refused_json, 1)
    document = json.loads(refused_json.stdout)
    assert document["type"] == "Refused"
    assert document["reply"]["response"]["code"] == "409"

    prices = server.keys.path.parent / "prices.csv"
    prices.write_text(f"location,start,duration,price\nNODE-S,{start},PT1H,30\n")
    loaded = invoke("balancing-prices", DEVELOPMENT_MARKET.uri, prices, "--db", server.database_url)
    assert loaded.exit_code == 0, loaded.output

    statement = json_of(client(server, "customer", f"--json settlement {interval}"))["statement"]
    # Metered -1.5 MW against a -2 MW position: 0.5 MW more than bought, sold back at 30.
    assert statement["forward_cost"] == "-85"
    assert statement["balancing_cost"] == "15"
    assert statement["total"] == "-70"
    (trade,) = statement["balancing_trades"]
    assert (trade["side"], trade["rate"], trade["amount"]) == ("sell", "0.5", "15")
    table = client(server, "customer", f"settlement {interval}")
    assert "total" in table.stdout and "-70 USD" in table.stdout


HEDGED = replace(
    DEVELOPMENT_MARKET,
    uri="urn:temix:market:hedged",
    name="a market with an index price",
    time_zone="America/Chicago",
    index_price_source="urn:prices:hub-index",
)


def test_financial_deals_options_with_windows_and_their_settlement(server, tmp_path):
    market_file = tmp_path / "hedged.xml"
    market_file.write_bytes(encode_item(HEDGED))
    assert invoke("market", "add", market_file, "--db", server.database_url).exit_code == 0
    start = hour(6)
    index = tmp_path / "index.csv"
    index.write_text(f"location,start,duration,price\nNODE-F,{start},PT1H,55\n")
    loaded = invoke("index-prices", HEDGED.uri, index, "--db", server.database_url)
    assert loaded.exit_code == 0, loaded.output
    assert loaded.stdout == f"{HEDGED.uri}: 1 index prices loaded\n"

    where = f"--market {HEDGED.uri} --interface NODE-F --start {start} --duration 1h"
    sell_tender(server, "hedge-1", "NODE-F", start, f"--market {HEDGED.uri} --financial")
    listed = client(server, "customer", f"tenders --from rep --market {HEDGED.uri}")
    assert "power (financial)" in listed.stdout
    accepted = json_of(client(server, "customer", "--json accept hedge-1 --from rep"))
    (deal,) = accepted["transaction_ids"]

    physical = json_of(client(server, "customer", f"--json position {where}"))
    assert physical["settlement"] == "physical"
    assert physical["positions"][0]["net_rate"] == "0"
    financial = json_of(client(server, "customer", f"--json position {where} --financial"))
    assert financial["positions"][0]["net_rate"] == "-5"
    shown = client(server, "customer", f"position {where} --financial")
    assert "financial position of customer" in shown.stdout

    against = client(server, "customer", f"deliver {where} --quantity 5 --against {deal}")
    assert_clean_failure(against, 1)
    assert "is financial (cash-settled): it carries no delivery obligation" in against.stderr

    statement = json_of(client(server, "customer", f"--json settlement {where}"))["statement"]
    # Bought 5 MW for the hour at 42.5 and sold back at the index, 55: 62.5 received.
    assert (statement["financial_cost"], statement["cash_out_cost"]) == ("-212.5", "275")
    assert statement["financial_total"] == statement["total"] == "62.5"
    (cash_out,) = statement["cash_outs"]
    assert (cash_out["side"], cash_out["price"], cash_out["amount"]) == ("sell", "55", "275")
    table = client(server, "customer", f"settlement {where}")
    assert "cash-outs of the financial position" in table.stdout
    assert "financial: cash-out at the index" in table.stdout

    day = TOMORROW.replace(hour=0)
    option_start = format_instant(day)
    created = client(
        server,
        "rep",
        f"create-tender --to customer --side sell --start {option_start} --duration 24h "
        f"--quantity 1 --price 40 --interface NODE-W --market {HEDGED.uri} --tender-id win-1 "
        "--expires-in 1h --call --premium 1 --granularity 1h --available",
        "MO-FR 09:00 PT8H",
    )
    assert created.exit_code == 0, created.output
    (offered,) = json_of(client(server, "customer", "--json tenders --id win-1"))["tenders"]
    (window,) = offered["product"]["option"]["availability"]["windows"]
    assert (window["duration"], window["repeats"]) == ("PT8H", "WEEKLY")
    assert window["weekdays"] == [0, 1, 2, 3, 4]
    (option_id,) = json_of(client(server, "customer", "--json accept win-1 --from rep"))[
        "transaction_ids"
    ]
    local = ZoneInfo(HEDGED.time_zone)
    night = datetime.combine(day.date(), time(3), local).astimezone(UTC)
    outside = client(
        server,
        "customer",
        f"exercise {option_id} --writer rep --start {format_instant(night)} --duration 1h "
        "--quantity 1",
    )
    assert_clean_failure(outside, 1)
    assert "outside the option's availability schedule" in outside.stderr


def test_market_contexts(server):
    shown = client(server, "customer", "market-contexts")
    assert shown.exit_code == 0, shown.output
    assert DEVELOPMENT_MARKET.uri in shown.stdout and "PT5M" in shown.stdout
    soap12 = client(server, "customer", "--json --soap12 market-contexts", DEVELOPMENT_MARKET.uri)
    (context,) = json_of(soap12)["market_contexts"]
    assert context["uri"] == DEVELOPMENT_MARKET.uri
    assert context["quantity_step"] == "0.001"
    assert context["interval_granularity"] == "PT5M"
    assert context["power_unit"]["scale"] == "M"
    unknown = client(server, "customer", "market-contexts urn:example:none")
    assert_clean_failure(unknown, 1)
    assert unknown.stderr.startswith("error: refused 404")


def test_options_from_the_environment(server):
    assert server.keys is not None
    environment = {
        "TEMIX_WSDL": server.wsdl_url,
        "TEMIX_KEYS": str(server.keys.path),
        "TEMIX_PARTY": "generator",
    }
    result = invoke("client", "--json", "market-contexts", env=environment)
    assert json_of(result)["market_contexts"][0]["uri"] == DEVELOPMENT_MARKET.uri


def test_cancel_by_a_non_author_is_refused_with_403(server):
    sell_tender(server, "cancel-1", "NODE-C", hour(2))
    refused = client(server, "customer", "cancel cancel-1")
    assert_clean_failure(refused, 1)
    assert refused.stderr.startswith("error: refused 403: ")
    assert "cancel-1: 403 only the author of tender cancel-1 can cancel it" in refused.stderr
    document = json.loads(client(server, "customer", "--json cancel cancel-1").stdout)
    assert document["exit_status"] == 1
    assert [item["code"] for item in document["reply"]["responses"]] == ["403"]

    cancelled = client(server, "rep", "cancel cancel-1")
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout == "tender cancel-1: 200 OK\n"
    assert client(server, "customer", "tenders --id cancel-1").stdout == "no tenders\n"


def test_accepting_a_missing_tender_exits_1(server):
    result = client(server, "customer", "accept no-such-tender --from rep")
    assert_clean_failure(result, 1)
    assert result.stderr == (
        "error: no standing tender no-such-tender from rep is offered to customer "
        "(it may be filled, cancelled or expired)\n"
    )


def test_tenders_filtered_by_side_and_product(server):
    start = hour(3)
    sell_tender(server, "filter-sell", "NODE-F", start)
    overlapping = f"tenders --start {start} --duration PT1H"
    assert "filter-sell" in client(server, "customer", f"{overlapping} --side sell").stdout
    assert client(server, "customer", f"{overlapping} --side buy").stdout == "no tenders\n"
    options = client(server, "customer", f"{overlapping} --product powerOption")
    assert options.stdout == "no tenders\n"


def test_option_exercise(server):
    start = hour(4)
    option = "--call --premium 2 --granularity 15m --expires-in 1h"
    sell_tender(server, "call-1", "NODE-O", start, option)
    (offered,) = json_of(client(server, "customer", "--json tenders --id call-1"))["tenders"]
    assert offered["product"]["kind"] == "powerOption"
    assert offered["product"]["option"]["option_type"] == "call"
    assert offered["product"]["option"]["holder_side"] == "buy"
    assert offered["product"]["option"]["granularity"] == "PT15M"
    accepted = json_of(client(server, "customer", "--json accept call-1 --from rep"))
    (option_id,) = accepted["transaction_ids"]

    quarter = f"--start {start} --duration PT15M"
    exercise = f"--writer rep {quarter} --quantity 1"
    exercised = client(server, "customer", f"exercise {option_id} {exercise}")
    assert exercised.exit_code == 0, exercised.output
    assert exercised.stdout.endswith(": 200 OK\n")
    transactions = json_of(client(server, "customer", "--json transactions"))["transactions"]
    related = [item for item in transactions if item["product"]["related_to"] == option_id]
    assert [item["product"]["state"] for item in related] == ["exercise"]
    (held,) = json_of(client(server, "customer", f"--json position --interface NODE-O {quarter}"))[
        "positions"
    ]
    assert (held["net_rate"], held["cost"]) == (
        "-1",
        "-10.62",
    )  # 1 MW, 15 min, strike 42.5: 10.625, half-even to the cent

    missing = client(server, "customer", f"exercise no-such-option {exercise}")
    assert_clean_failure(missing, 1)
    assert missing.stderr == "error: customer has no transaction no-such-option\n"


def test_quotes_are_listed(server):
    assert server.keys is not None
    product = Product(
        "quote-1-product",
        Interval(TOMORROW + timedelta(hours=5), timedelta(hours=1)),
        PowerDescription(Location("NODE-Q"), Decimal("39.9"), Decimal("4")),
        TransactiveState.INDICATION_OF_INTEREST,
        Side.SELL,
        DEVELOPMENT_MARKET.uri,
    )
    with Client(server.wsdl_url, "rep", Signing.from_keys(server.keys.path, "rep")) as rep:
        rep.create_quote("customer", Quote("quote-1", (product,)))
    listed = client(server, "customer", "quotes --publisher rep")
    row = next(line for line in listed.stdout.splitlines() if "quote-1" in line)
    assert "NODE-Q" in row and "39.9 USD/MWh" in row and "4 MW" in row
    none = client(server, "customer", "quotes --publisher generator")
    assert none.exit_code == 0 and none.stdout == "no quotes\n"

    cancelled = client(server, "rep", "cancel --quotes quote-1")
    assert cancelled.stdout == "quote quote-1: 200 OK\n"
    assert client(server, "customer", "quotes --publisher rep --id quote-1").stdout == "no quotes\n"


def test_deliver_several_readings(server):
    start = TOMORROW + timedelta(hours=6)
    readings = " ".join(
        f"--reading {format_instant(start + timedelta(minutes=5 * index))},5m,{quantity}"
        for index, quantity in enumerate(("1", "1.25"))
    )
    command = f"--json deliver --interface NODE-D --injection {readings} --uid meter-run-1"
    (stored,) = json_of(client(server, "generator", command))["deliveries"]
    assert stored["uid"] == "meter-run-1" and stored["injection"] is True
    assert [reading["quantity"] for reading in stored["readings"]] == ["1", "1.25"]
    assert [reading["interval"]["duration"] for reading in stored["readings"]] == ["PT5M"] * 2
    assert stored["delivery_id"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            "--party rep --insecure tenders --start 2026-11-23T15:00:00 --duration 1h",
            "Invalid value for '--start': '2026-11-23T15:00:00' has no time zone",
        ),
        (
            "--party rep --insecure position --interface N --start 2026-11-23T15:00:00Z "
            "--duration 5x",
            "Invalid value for '--duration': '5x' is not a duration",
        ),
        (
            "--party rep --insecure create-tender --to c --side hold "
            "--start 2026-11-23T15:00:00Z --duration 1h --quantity 1 --price 1 --interface N",
            "Invalid value for '--side': 'hold' is not one of 'buy', 'sell'",
        ),
        (
            "--party rep --insecure accept t --from rep --quantity 0",
            "Invalid value for '--quantity': 0 must be more than 0",
        ),
        ("--insecure market-contexts", "Missing option '--party'"),
        ("--party rep --insecure --keys keys market-contexts", "--insecure signs and verifies"),
        ("--party rep market-contexts", "give --keys DIR (or TEMIX_KEYS)"),
        (
            "--party rep --insecure position --interface N --start 2026-11-23T15:00:00Z "
            "--duration 1h --split 7m",
            "Invalid value for '--split': PT7M does not divide --duration PT1H",
        ),
        (
            "--party rep --insecure create-tender --to c --side buy --start 2026-11-23T15:00:00Z "
            "--duration 1h --quantity 1 --price 1 --interface N --premium 1",
            "describe an option: add --call or --put",
        ),
        (
            "--party rep --insecure create-tender --to c --side buy --start 2026-11-23T15:00:00Z "
            "--duration 1h --quantity 1 --price 1 --interface N --expires-in 1h "
            "--expires 2026-11-23T14:00:00Z",
            "give --expires or --expires-in, not both",
        ),
    ],
)
def test_bad_arguments_exit_2_with_usage(arguments, message):
    # The WSDL's port is closed: each of these fails before anything is sent.
    result = invoke("client", "--wsdl", CLOSED_WSDL, *arguments.split())
    assert_clean_failure(result, 2)
    assert "Usage: temix client" in result.stderr
    assert message in result.stderr


def test_a_usage_error_with_json_is_also_a_json_document():
    result = invoke("client", "--json", "--wsdl", CLOSED_WSDL, "market-contexts")
    assert_clean_failure(result, 2)
    assert json.loads(result.stdout) == {
        "error": "Missing option '--party' (or the TEMIX_PARTY environment variable).",
        "exit_status": 2,
    }


def test_missing_key_files_exit_2(server, tmp_path):
    empty = invoke(
        "client", "--wsdl", server.wsdl_url, "--keys", tmp_path, "--party", "rep", "tenders"
    )
    assert_clean_failure(empty, 2)
    assert empty.stderr.startswith(f"error: {tmp_path}/parties/rep.pem: cannot read")
    unknown = client(server, "nobody", "tenders")
    assert_clean_failure(unknown, 2)
    assert "DIR/parties/nobody.key and .pem sign" in unknown.stderr


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_server_exits_3(server):
    assert server.keys is not None
    port = closed_port()
    elsewhere = ("--wsdl", f"http://127.0.0.1:{port}/?wsdl", "--keys", server.keys.path)
    no_wsdl = invoke("client", *elsewhere, "--party", "rep", "--json", "tenders")
    assert_clean_failure(no_wsdl, 3)
    assert no_wsdl.stderr.startswith(f"error: cannot load the WSDL http://127.0.0.1:{port}/")
    assert json.loads(no_wsdl.stdout)["type"] == "WsdlError"

    unreachable = f"--endpoint http://127.0.0.1:{port}/ --retries 0 tenders"
    no_endpoint = client(server, "rep", unreachable)
    assert_clean_failure(no_endpoint, 3)
    assert f"EiRequestTender to http://127.0.0.1:{port}/ failed after 1 attempts" in (
        no_endpoint.stderr
    )


def test_an_insecure_client_is_refused_by_a_signed_server(server):
    unsigned = ("--wsdl", server.wsdl_url, "--party", "rep", "--insecure")
    result = invoke("client", *unsigned, "--json", "tenders")
    assert_clean_failure(result, 1)
    assert "InvalidSecurity: the message's security could not be accepted" in result.stderr
    assert "the endpoint requires signed requests: use --keys" in result.stderr
    fault = json.loads(result.stdout)["fault"]
    assert fault["code"].endswith("}InvalidSecurity")
    assert fault["verified"] is False


@pytest.mark.parametrize("pinned", ["ca.pem", "parties/customer.pem"])
def test_another_server_certificate_exits_3(server, pinned):
    assert server.keys is not None
    pinned_certificate = ("--server-cert", server.keys.path / pinned)
    result = client(server, "rep", "--json tenders", options=pinned_certificate)
    assert_clean_failure(result, 3)
    assert "error: the reply is not verified: signed by CN=localhost" in result.stderr
    assert "not the pinned server certificate" in result.stderr
    document = json.loads(result.stdout)
    assert document["type"] == "UnverifiedReply"
    assert document["exit_status"] == 3


def test_mutual_tls(keys, tmp_path):
    tls_server = RunningServer(
        sqlite_url(tmp_path / "data"),
        tmp_path / "server.log",
        keys=keys,
        workers=1,
        options=[
            *("--tls-cert", str(keys.server_certificate_path)),
            *("--tls-key", str(keys.server_key_path)),
            *("--tls-ca", str(keys.path / "ca.pem")),
        ],
    )
    try:
        assert tls_server.wsdl_url.startswith("https://")
        trust = ("--tls-ca", keys.path / "ca.pem")
        certificate = ("--tls-cert", keys.party_certificate_path("customer"))
        key = ("--tls-key", keys.party_key_path("customer"))
        mutual = trust + certificate + key
        answered = client(tls_server, "customer", "market-contexts", options=mutual)
        assert answered.exit_code == 0, answered.output
        assert DEVELOPMENT_MARKET.uri in answered.stdout

        without_certificate = client(tls_server, "customer", "market-contexts", options=trust)
        assert_clean_failure(without_certificate, 3)
        assert "cannot load the WSDL" in without_certificate.stderr
        without_key = client(tls_server, "customer", "market-contexts", options=trust + certificate)
        assert_clean_failure(without_key, 2)
        assert "--tls-cert and --tls-key go together" in without_key.stderr
    finally:
        tls_server.stop()


def test_to_json_writes_the_wire_forms():
    product = Product(
        "p",
        Interval(datetime(2026, 11, 23, 15, tzinfo=UTC), timedelta(minutes=90)),
        PowerDescription(Location("N"), Decimal("1E+1"), Decimal("0.500")),
        TransactiveState.TENDER,
        Side.BUY,
        DEVELOPMENT_MARKET.uri,
    )
    document = to_json({"items": (product,), "kinds": frozenset({"b", "a"})})
    (written,) = document["items"]
    assert written["interval"] == {"start": "2026-11-23T15:00:00Z", "duration": "PT1H30M"}
    assert written["description"]["price"] == "10"
    assert written["description"]["quantity"] == "0.500"
    assert written["description"]["power_unit"]["scale"] == "M"
    assert (written["side"], written["state"], written["kind"]) == ("buy", "tender", "power")
    assert document["kinds"] == ["a", "b"]
    assert json.loads(json.dumps(document)) == document


def test_json_after_the_subcommand(server):
    (context,) = json_of(client(server, "customer", "market-contexts --json"))["market_contexts"]
    assert context["uri"] == DEVELOPMENT_MARKET.uri
    refused = client(server, "customer", "accept no-such-tender --from rep --json")
    assert_clean_failure(refused, 1)
    assert json.loads(refused.stdout)["type"] == "NotFound"
    usage = client(server, "customer", "position --json --start nonsense")
    assert_clean_failure(usage, 2)
    assert json.loads(usage.stdout)["exit_status"] == 2


def test_transport_strip_and_its_positions_at_both_nodes(server):
    strip = server.keys.path.parent / "strip.csv"
    rows = [f"{hour(20 + index)},PT1H,{price}" for index, price in enumerate(("3", "4.5"))]
    strip.write_text("start,duration,price\n" + "\n".join(rows) + "\n")
    created = client(
        server,
        "generator",
        "create-tender --to rep --side sell --point-of-receipt TX-A --point-of-delivery TX-B "
        f"--quantity 2 --strip {strip} --tender-id PATH --expires-in 1h",
    )
    assert created.stdout == "tender PATH: 200 OK\ntender PATH-2: 200 OK\n"
    listed = json_of(client(server, "rep", "tenders --from generator --product transport --json"))
    offered = {tender["tender_id"]: tender["product"] for tender in listed["tenders"]}
    assert {key: product["description"]["price"] for key, product in offered.items()} == {
        "PATH": "3",
        "PATH-2": "4.5",
    }
    assert offered["PATH"]["description"]["interface"] == {
        "point_of_receipt": "TX-A",
        "point_of_delivery": "TX-B",
    }
    assert client(server, "rep", "accept PATH-2 --from generator").exit_code == 0
    window = f"--start {hour(21)} --duration 1h --json"
    figures = {
        node: json_of(client(server, "rep", f"position --interface {node} {window}"))["positions"][
            0
        ]
        for node in ("TX-A", "TX-B")
    }
    assert (figures["TX-A"]["net_rate"], figures["TX-A"]["cost"]) == ("2", "0")
    assert (figures["TX-B"]["net_rate"], figures["TX-B"]["cost"]) == ("-2", "-9")


def test_an_interface_kind_other_than_a_pnode(server):
    created = client(
        server,
        "rep",
        "create-tender --to customer --side sell --interface METER-9 --interface-kind meterAsset "
        f"--start {hour(22)} --duration 1h --quantity 1 --price 10 --tender-id METERED",
    )
    assert created.exit_code == 0, created.output
    listed = client(server, "customer", "tenders --id METERED")
    assert "METER-9 (meterAsset)" in listed.stdout


BASE_INVOCATIONS = {
    "create-tender": "--to customer --side sell --start {h} --duration 1h --quantity 1 --price 40 "
    "--interface BAD-N",
    "distribute-tender": "--party-id customer --side sell --start {h} --duration 1h --quantity 1 "
    "--price 40 --interface BAD-N",
    "create-quote": "--to customer --side sell --start {h} --duration 1h --quantity 1 --price 40 "
    "--interface BAD-N",
    "accept": "BAD-T --from rep --quantity 1",
    "cancel": "BAD-T",
    "tenders": "--from rep --start {h} --duration 1h --side sell --product power",
    "quotes": "--publisher rep --start {h} --duration 1h",
    "transactions": "--counterparty rep --start {h} --duration 1h",
    "exercise": "BAD-X --writer rep --start {h} --duration 1h --quantity 1",
    "deliver": "--interface BAD-N --start {h} --duration 1h --quantity 1",
    "settlement": "--interface BAD-N --start {h} --duration 1h",
    "market-contexts": "",
    "position": "--interface BAD-N --start {h} --duration 1h --split 30m",
    "publication": "--interface BAD-N --start {h} --duration 1h --split 30m",
}
BAD_VALUES = {
    "instant": "tomorrow",
    "duration": "an-hour",
    "decimal": "NaN",
    "reading": "x,y",
    "window": "weekdays 14:00 PT4H",
}


def bad_value(option: click.Option) -> str:
    """A value ``option``'s type refuses, or for a plain string a blank one."""
    if isinstance(option.type, click.Choice):
        return "sideways"
    if isinstance(option.type, click.IntRange):
        return "0"
    if isinstance(option.type, click.Path):
        return "/nonexistent/strip.csv"
    return BAD_VALUES.get(option.type.name, " ")


def bad_invocations() -> list[tuple[str, str, list[str]]]:
    cases = []
    for name, base in BASE_INVOCATIONS.items():
        command = client_group.commands[name]
        for option in command.params:
            if not isinstance(option, click.Option) or option.is_flag or option.name == "help":
                continue
            flag = max(option.opts, key=len)
            arguments = base.format(h=hour(23)).split()
            if flag in arguments:
                arguments[arguments.index(flag) + 1] = bad_value(option)
            else:
                arguments += [flag, bad_value(option)]
            cases.append((name, flag, arguments))
    return cases


def test_every_subcommand_is_checked():
    assert set(BASE_INVOCATIONS) == set(client_group.commands)


@pytest.mark.parametrize(
    ("name", "flag", "arguments"),
    bad_invocations(),
    ids=[f"{name} {flag}" for name, flag, _ in bad_invocations()],
)
def test_bad_values_end_cleanly(server, name, flag, arguments):
    result = client(server, "rep", name, *arguments)
    assert_clean_failure(result, 2)
    assert "Usage: temix client" in result.stderr
    if flag == "--currency":
        assert "' ' is not an ISO 4217 code" in result.stderr
    else:
        assert ("'--strip'" if "--strip" in arguments else f"'{flag}'") in result.stderr


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("start,duration,price\n2026-11-23T15:00:00Z,PT1H,abc\n", "line 2, price: 'abc' is not"),
        ("start,price\n2026-11-23T15:00:00Z,40\n", "line 2 has no duration"),
        ("start,duration,price\n", "has no rows"),
    ],
)
def test_a_bad_strip_names_its_line(tmp_path, rows, message):
    strip = tmp_path / "strip.csv"
    strip.write_text(rows)
    result = invoke(
        "client",
        *("--wsdl", CLOSED_WSDL, "--party", "rep", "--insecure", "create-tender", "--to", "c"),
        *("--side", "sell", "--interface", "N", "--quantity", "1", "--strip", strip),
    )
    assert_clean_failure(result, 2)
    assert message in result.stderr
