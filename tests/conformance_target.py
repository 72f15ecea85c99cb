"""A ``temix serve`` set up as the conformance suite's target: keys for the parties, a
daylight-saving market context, balancing prices for a settlement day, and the capability
declaration that says so."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from running_server import RunningServer
from temix import codec
from temix import payloads as p
from temix.cli import main
from temix.client.demo.launcher import TEMIX
from temix.conformance.capabilities import Capabilities
from temix.conformance.trial import Target
from temix.keys import KeyAlgorithm, KeyDirectory
from temix.model import DEVELOPMENT_MARKET, Interval, MarketContext, Response

DST_MARKET = MarketContext(
    uri="urn:temix:market:conformance-eastern",
    name="conformance market keeping US Eastern time (MW, MWh, USD, 5-minute intervals)",
    time_zone="America/New_York",
)
FINANCIAL_MARKET = MarketContext(
    uri="urn:temix:market:conformance-financial",
    name="conformance market cashing financial deals out at an index (MW, MWh, USD, UTC)",
    balancing_price_source="urn:temix:prices:conformance-balancing",
    index_price_source="urn:temix:prices:conformance-index",
)
NODES = ("NODE-A", "NODE-B")
BALANCING_PRICE = "37.25"
INDEX_PRICES = {"NODE-A": "41.50", "NODE-B": "44.75"}
"""The financial market's index prices, apart from the balancing price, so that a cash-out at
the balancing price shows."""
BUYERS_GROUP = "conformance-buyers"
"""A group whose one member is the suite's counterparty."""
OTHER_ALGORITHM = {
    KeyAlgorithm.ECDSA: KeyAlgorithm.RSA,
    KeyAlgorithm.RSA: KeyAlgorithm.ECDSA,
}
FLAWED_ENTRY = (sys.executable, str(Path(__file__).with_name("flawed_serve.py")))


def settlement_day() -> datetime:
    """Midnight UTC ten days ahead: after every interval the suite's trades take."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=10)


@dataclass
class Served:
    server: RunningServer
    target: Target
    capabilities: Capabilities


def _temix(*arguments: str) -> None:
    result = CliRunner().invoke(main, list(arguments), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def prepare_store(directory: Path, database_url: str) -> None:
    """Register the daylight-saving and financial markets, the settlement day's balancing and
    index prices and the group of buyers."""
    for market in (DST_MARKET, FINANCIAL_MARKET):
        market_file = directory / f"{market.uri.rsplit(':', 1)[-1]}.xml"
        market_file.write_bytes(
            codec.encode_bytes(p.ReplyMarketContext(Response("200", "setup"), (market,)))
        )
        _temix("market", "add", str(market_file), "--db", database_url)
    day = Interval(settlement_day(), timedelta(days=1))

    def load(kind: str, market: str, price_at: dict[str, str]) -> None:
        prices = directory / f"{kind}-{market.rsplit(':', 1)[-1]}.csv"
        rows = [
            f"{node},{slot.start.isoformat()},PT5M,{price}"
            for node, price in price_at.items()
            for slot in day.split(timedelta(minutes=5))
        ]
        prices.write_text("location,start,duration,price\n" + "\n".join(rows) + "\n")
        _temix(kind, market, str(prices), "--db", database_url)

    balancing = dict.fromkeys(NODES, BALANCING_PRICE)
    load("balancing-prices", DEVELOPMENT_MARKET.uri, balancing)
    load("balancing-prices", FINANCIAL_MARKET.uri, balancing)
    load("index-prices", FINANCIAL_MARKET.uri, INDEX_PRICES)
    _temix("group", BUYERS_GROUP, "customer", "--db", database_url)


def serve_target(
    directory: Path,
    *,
    binding: str = "native",
    flaw: str | None = None,
    database_url: str | None = None,
    workers: int = 2,
    algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA,
) -> Served:
    """A prepared, signed ``temix serve`` (with ``flaw`` applied, when named) and the suite's
    target and declaration for it; stop ``served.server`` when done. The party and the
    counterparty sign with ``algorithm``, the third party with the other one, so that both
    signature algorithms are exercised."""
    directory.mkdir(parents=True, exist_ok=True)
    database_url = database_url or f"sqlite:///{directory / 'target.sqlite3'}"
    keys = KeyDirectory(directory / "keys")
    keys.init(("rep", "customer"), algorithm)
    keys.init(("generator",), OTHER_ALGORITHM[algorithm])
    prepare_store(directory, database_url)
    server = RunningServer(
        database_url,
        directory / "server.log",
        keys=keys,
        workers=workers,
        options=["--binding", binding],
        entry=(*FLAWED_ENTRY, flaw) if flaw else TEMIX,
    )
    capabilities = Capabilities.parse(
        {
            "inputs": {
                "dst-market-context": DST_MARKET.uri,
                "third-party": "generator",
                "settlement-day": settlement_day().date().isoformat(),
                "balancing-price": BALANCING_PRICE,
                "group": BUYERS_GROUP,
                "financial-market-context": FINANCIAL_MARKET.uri,
                "index-price": INDEX_PRICES["NODE-A"],
                "other-index-price": INDEX_PRICES["NODE-B"],
            }
        },
        source="the temix server under test",
    )
    target = Target(server.wsdl_url, keys.path, "rep", "customer")
    return Served(server, target, capabilities)
