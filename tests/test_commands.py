"""The server's subcommands of ``temix`` (market, group, balancing-prices, ledger, party, the
serve options) and the keys commands that sign and verify envelopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from market import MARKET, TestMarket, create_tender, tender
from temix.cli import main
from temix.keys import KeyAlgorithm, KeyDirectory
from temix.model import Interval
from temix.schemas import EXAMPLES_VALID
from temix.server.store import Store, sqlite_url
from temix.settlement import PriceKind

RETAIL = "http://market.example/temix/retail"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _run(*arguments: str) -> object:
    return CliRunner().invoke(main, list(arguments), catch_exceptions=False)


def _store(data_dir: Path) -> Store:
    return Store.open(sqlite_url(data_dir))


def test_a_new_store_has_the_development_market(data_dir: Path) -> None:
    listed = _run("market", "list", "--data-dir", str(data_dir))
    assert listed.exit_code == 0
    assert listed.output.startswith(f"{MARKET}\t")


def test_market_contexts_are_registered_from_their_xml(data_dir: Path) -> None:
    example = EXAMPLES_VALID / "reply-market-context.xml"
    added = _run("market", "add", str(example), "--data-dir", str(data_dir))
    assert added.exit_code == 0, added.output
    assert added.output == f"registered {RETAIL}\n"
    store = _store(data_dir)
    with store.transaction(write=False) as unit:
        retail = unit.market_context(RETAIL)
    store.close()
    assert retail.time_zone == "America/Chicago"
    assert retail.quantity_step == Decimal("0.1")


def test_a_file_that_is_not_a_market_context_is_refused(data_dir: Path) -> None:
    other = EXAMPLES_VALID / "create-tender-power.xml"
    refused = _run("market", "add", str(other), "--data-dir", str(data_dir))
    assert refused.exit_code == 1
    assert "expected one ei:eiMarketContext" in refused.output


def test_groups_are_set_and_removed(data_dir: Path) -> None:
    assert _run("group", "feeder-7", "a", "b", "a", "--data-dir", str(data_dir)).output == (
        "feeder-7: 2 members\n"
    )
    store = _store(data_dir)
    with store.transaction(write=False) as unit:
        assert unit.group("feeder-7") == {"a", "b"}
    _run("group", "feeder-7", "--data-dir", str(data_dir))
    with store.transaction(write=False) as unit:
        assert unit.group("feeder-7") == frozenset()
    store.close()


def test_balancing_prices_load_from_csv(data_dir: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "location,start,duration,price\n"
        "NODE-A,2026-07-01T15:00:00Z,PT5M,41.20\n"
        "NODE-A,2026-07-01T10:05:00-05:00,PT5M,39\n"
    )
    loaded = _run("balancing-prices", MARKET, str(prices), "--data-dir", str(data_dir))
    assert loaded.exit_code == 0, loaded.output
    start = datetime(2026, 7, 1, 15, 0, tzinfo=UTC)
    store = _store(data_dir)
    with store.transaction(write=False) as unit:
        found = unit.prices(
            PriceKind.BALANCING, MARKET, "NODE-A", Interval(start, timedelta(minutes=10))
        )
    store.close()
    five = timedelta(minutes=5)
    assert found == {
        Interval(start, five): Decimal("41.20"),
        Interval(start + five, five): Decimal("39"),
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("node,start,duration,price\n", "the header must be location,start,duration,price"),
        ("location,start,duration,price\nN,2026-07-01T15:00:00,PT5M,1\n", ":2: the start needs"),
        ("location,start,duration,price\nN,2026-07-01T15:00:00Z,P1W,1\n", ":2:"),
        ("location,start,duration,price\nN,2026-07-01T15:00:00Z,PT5M,NaN\n", "not a number"),
    ],
)
def test_bad_balancing_price_files_name_the_line(
    data_dir: Path, tmp_path: Path, content: str, message: str
) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text(content)
    refused = _run("balancing-prices", MARKET, str(prices), "--data-dir", str(data_dir))
    assert refused.exit_code == 1
    assert message in refused.output


def test_balancing_prices_need_a_known_market(data_dir: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text("location,start,duration,price\n")
    refused = _run("balancing-prices", "urn:x", str(prices), "--data-dir", str(data_dir))
    assert refused.exit_code == 1
    assert "unknown market context urn:x" in refused.output


def test_the_ledger_prints_one_json_line_per_exchange(data_dir: Path) -> None:
    market = TestMarket(sqlite_url(data_dir), "native")
    market.send(create_tender("r1", "rep", "customer", tender("T-1")))
    market.send(create_tender("r2", "other", "customer", tender("T-2")))
    market.close()
    printed = _run("ledger", "--party", "rep", "--bytes", "--data-dir", str(data_dir))
    (line,) = printed.output.splitlines()
    record = json.loads(line)
    assert record["operation"] == "EiCreateTender"
    assert record["request_id"] == "r1"
    assert record["outcome"] == "200"
    assert "<ei:tenderID>T-1</ei:tenderID>" in record["request"]
    assert "eiCreatedTender" in record["response"]


# --- parties --------------------------------------------------------------------------------------


def test_parties_are_registered_by_pin_certificate_or_subject_and_listed(
    data_dir: Path, tmp_path: Path
) -> None:
    keys = KeyDirectory(tmp_path / "keys")
    keys.init(["rep"], KeyAlgorithm.ECDSA)
    certificate = keys.party_certificate_path("rep")
    pin = keys.party("rep").fingerprint
    database = ("--data-dir", str(data_dir))
    assert _run("party", "add", "rep", "--certificate", str(certificate), *database).exit_code == 0
    added = _run(
        "party",
        "add",
        "exchange",
        "--pin",
        pin.upper()[:8] + "0" * 56,
        "--role",
        "trader",
        "--role",
        "operator",
        *database,
    )
    assert added.exit_code == 0, added.output
    by_subject = _run("party", "add", "meter", "--subject", "CN=meter,O=utility", *database)
    assert by_subject.exit_code == 0
    listed = _run("party", "list", *database)
    assert listed.output.splitlines() == [
        f"exchange\toperator,trader\tsha256:{pin[:8]}{'0' * 56}",
        "meter\ttrader\tsubject CN=meter,O=utility",
        f"rep\ttrader\tsha256:{pin}",
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "exactly one of --pin, --certificate and --subject"),
        (("--pin", "ab", "--subject", "CN=x"), "exactly one"),
        (("--pin", "not-hex"), "fingerprint"),
        (("--subject", "CN=x", "--role", "king"), "'king' is not one of"),
    ],
)
def test_a_bad_party_registration_is_a_usage_message(
    data_dir: Path, arguments: tuple[str, ...], message: str
) -> None:
    refused = CliRunner().invoke(
        main, ["party", "add", "x", *arguments, "--data-dir", str(data_dir)]
    )
    assert refused.exit_code in (1, 2)
    assert message in refused.output
    assert "Traceback" not in refused.output


def test_two_parties_cannot_share_a_certificate(data_dir: Path) -> None:
    database = ("--data-dir", str(data_dir))
    assert _run("party", "add", "one", "--subject", "CN=shared", *database).exit_code == 0
    refused = _run("party", "add", "two", "--subject", "CN=shared", *database)
    assert refused.exit_code == 1
    assert "already bound" in refused.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--insecure", "--keys", "k"), "--insecure verifies nothing"),
        (("--tls-cert", "README.md"), "--tls-cert and --tls-key go together"),
    ],
)
def test_contradictory_serve_options_are_a_usage_message(
    data_dir: Path, arguments: tuple[str, ...], message: str
) -> None:
    refused = CliRunner().invoke(main, ["serve", *arguments, "--data-dir", str(data_dir)])
    assert refused.exit_code == 2
    assert message in refused.output


# --- keys sign and verify -----------------------------------------------------------------------


def test_a_signed_envelope_verifies_against_its_signers_certificate_only(tmp_path: Path) -> None:
    keys = KeyDirectory(tmp_path / "keys")
    keys.init(["rep", "customer"], KeyAlgorithm.ECDSA)
    request = REPO / "docs" / "first-exchange" / "create-tender.xml"
    signed = _run("keys", "sign", str(keys.path), str(request), "--party", "rep")
    assert signed.exit_code == 0
    signed_file = tmp_path / "signed.xml"
    signed_file.write_text(signed.output)
    verified = CliRunner().invoke(
        main, ["keys", "verify", str(keys.party_certificate_path("rep")), str(signed_file)]
    )
    assert (verified.exit_code, verified.output) == (0, f"{signed_file}: verified\n")
    other = CliRunner().invoke(
        main, ["keys", "verify", str(keys.party_certificate_path("customer")), str(signed_file)]
    )
    assert other.exit_code == 1
    assert "signed by another certificate" in other.output


def test_signing_with_an_unknown_party_is_a_one_line_error(tmp_path: Path) -> None:
    keys = KeyDirectory(tmp_path / "keys")
    keys.init([], KeyAlgorithm.ECDSA)
    request = REPO / "docs" / "first-exchange" / "create-tender.xml"
    refused = CliRunner().invoke(
        main, ["keys", "sign", str(keys.path), str(request), "--party", "x"]
    )
    assert refused.exit_code == 2
    assert "cannot sign" in refused.output
    assert "Traceback" not in refused.output
