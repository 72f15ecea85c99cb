"""Play the demo's day against a local ``temix serve``, over signed SOAP, through
:class:`temix.client.Client`.

The demo is the market operator before the server starts: it makes fresh development keys for
the REP and every customer (``temix serve --keys`` registers them as traders), and writes the
market context, the customers' group and the day's balancing prices into a new SQLite store
with the same store calls ``temix market add``, ``temix group`` and ``temix balancing-prices``
make. Then each party acts through its own client, customers in a thread pool:

1. the REP distributes hourly forward blocks (buy and sell) and an evening call option to the
   customers' group; each customer buys or sells its hedged plan in one request;
2. ahead of each 5-minute interval the REP withdraws its real-time tenders and distributes new
   ones for the next two hours to the whole market (the group named by the market context's
   URI: real-time prices are public); every two hours each customer reads them, exercises its option
   where the price is above the strike, and trades what its plan still needs;
3. every six hours the meters report their 5-minute readings (the REP's meter measures what it
   brought to the node: what the customers took from it, less what they fed in);
4. at the end every party asks for its positions and its settlement, and the answers are
   reconciled (:mod:`temix.client.demo.reconcile`).

The server's clock is real, so the day played is tomorrow in the market's time zone.
"""

from __future__ import annotations

import json
import tempfile
import time as clock
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from temix.client import Client, Signing
from temix.client.api import new_id
from temix.client.demo import scenario as s
from temix.client.demo.launcher import LocalServer
from temix.client.demo.reconcile import (
    Check,
    PartyFigures,
    combined,
    expected_statement,
    reconcile,
)
from temix.keys import KeyAlgorithm, KeyDirectory
from temix.model import (
    Delivery,
    Interval,
    MeterReading,
    OptionTerms,
    OptionType,
    Position,
    PowerDescription,
    Product,
    ProductKind,
    Settlement,
    Side,
    Target,
    Tender,
    Transaction,
    TransactionRecord,
    TransactiveState,
)
from temix.positions import MarketUnits
from temix.rules import acceptance, exercise
from temix.server.app import prepare
from temix.server.store import Store, sqlite_url
from temix.settlement import PriceKind

REP = "rep"
HEDGER = "hedger"
GROUP = "demo-customers"
TENDER_HEADROOM_KW = 25
"""Each tender offers this many kW per customer it is meant for, so none ever runs out."""
OPTION_HEADROOM_KW = 3

Progress = Callable[[str, int, int], None]


def _silent(phase: str, done: int, total: int) -> None:
    """Progress reports go nowhere unless the caller asks for them."""


@dataclass(frozen=True)
class Settings:
    seed: int = 1
    customers: int = 20
    start_hour: int = 0
    hours: int = 24
    threads: int = 8
    workers: int = 2

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("the demo needs at least one customer")
        if not (0 <= self.start_hour < 24 and 1 <= self.hours <= 24 - self.start_hour):
            raise ValueError("the simulated hours must lie within one day")


@dataclass(frozen=True)
class DayRun:
    """What happened: the scenario's values, what the server answered each party at the end,
    the reconciliation, how many requests the server logged and how long the day took."""

    settings: Settings
    span: tuple[Interval, ...]
    prices: s.Prices
    flat: Decimal
    days: tuple[s.CustomerDay, ...]
    rep: PartyFigures
    customers: tuple[PartyFigures, ...]
    hedger: PartyFigures
    checks: tuple[Check, ...]
    requests: int
    seconds: float

    @property
    def reconciled(self) -> bool:
        return all(check.ok for check in self.checks)


def tomorrow(settings: Settings, now: datetime) -> tuple[Interval, ...]:
    """The simulated span as 5-minute intervals: tomorrow in the market's time zone, from the
    start hour for the given number of hours."""
    zone = ZoneInfo(s.MARKET.time_zone)
    day = (now.astimezone(zone) + timedelta(days=1)).date()
    start = datetime.combine(day, time(settings.start_hour), tzinfo=zone)
    end_hour = settings.start_hour + settings.hours
    if end_hour == 24:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    else:
        end = datetime.combine(day, time(end_hour), tzinfo=zone)
    return Interval.between(start, end).split(s.STEP)


def _local_hour(interval: Interval, zone: ZoneInfo) -> float:
    local = interval.start.astimezone(zone)
    return local.hour + local.minute / 60


def _hour_blocks(span: Sequence[Interval]) -> tuple[Interval, ...]:
    return tuple(
        Interval(span[i].start, s.PER_HOUR * s.STEP) for i in range(0, len(span), s.PER_HOUR)
    )


def _whole(span: Sequence[Interval]) -> Interval:
    return Interval.between(span[0].start, span[-1].end)


@dataclass
class _Book:
    """What one party did, as the demo saw it: its transactions and its deliveries. Only the
    thread acting for the party writes to it."""

    party_id: str
    records: list[TransactionRecord] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def made(self, transactions: Iterable[Transaction]) -> None:
        self.records += [TransactionRecord.written_by(t, self.party_id, REP) for t in transactions]


def _tender(
    tender_id: str,
    interval: Interval,
    side: Side,
    price: Decimal,
    rate: int,
    settlement: Settlement = Settlement.PHYSICAL,
) -> Tender:
    product = Product(
        uid=tender_id,
        interval=interval,
        description=PowerDescription(
            s.NODE,
            price=price,
            quantity=Decimal(rate),
            power_unit=s.KW,
            energy_unit=s.KWH,
        ),
        state=TransactiveState.TENDER,
        side=side,
        market_context=s.MARKET.uri,
        currency=s.MARKET.currency,
        expires=interval.start,
        settlement=settlement,
    )
    return Tender(tender_id, product)


def _option_tender(prices: s.Prices, span: Sequence[Interval], customers: int) -> Tender:
    window = prices.option_window
    interval = Interval(span[window.start].start, len(window) * s.STEP)
    tender = _tender(
        "OPTION-CALL",
        interval,
        Side.SELL,
        prices.option_strike,
        OPTION_HEADROOM_KW * customers,
    )
    terms = OptionTerms(
        OptionType.CALL,
        holder_side=Side.BUY,
        strike_price=prices.option_strike,
        premium=prices.option_premium,
        lead_time=s.STEP,
        granularity=s.STEP,
    )
    return Tender(tender.tender_id, replace(tender.product, option=terms))


def _by_slot(tenders: Iterable[Tender], span: Sequence[Interval]) -> dict[tuple[int, Side], Tender]:
    """Power tenders by (index of their interval in ``span``, side)."""
    index = {interval: number for number, interval in enumerate(span)}
    return {
        (index[t.product.interval], t.product.side): t
        for t in tenders
        if t.product.interval in index
    }


class _Day:
    """The day being played: the server, the clients, the books, and the steps."""

    def __init__(self, settings: Settings, work: Path, progress: Progress) -> None:
        self.settings = settings
        self.work = work
        self.progress = progress
        self.span = tomorrow(settings, datetime.now(UTC))
        zone = ZoneInfo(s.MARKET.time_zone)
        self.day = s.Day(tuple(_local_hour(interval, zone) for interval in self.span))
        self.blocks = _hour_blocks(self.span)
        self.units = MarketUnits.of(s.MARKET)
        seed = settings.seed
        self.prices = s.day_prices(seed, self.day)
        weather = s.day_weather(seed, self.day)
        self.days = tuple(
            s.customer_day(seed, customer, self.day, weather, self.prices)
            for customer in s.make_customers(seed, settings.customers)
        )
        self.customer_ids = [plan.customer.party_id for plan in self.days]
        self.parties = [REP, *self.customer_ids, HEDGER]
        self.books = {party: _Book(party) for party in self.parties}
        self.forward: dict[str, tuple[s.Order, ...]] = {}
        self.options: dict[str, Transaction] = {}
        self.clients: dict[str, Client] = {}
        self.pool = ThreadPoolExecutor(settings.threads)

    # --- set-up --------------------------------------------------------------------------

    def prepare_market(self) -> tuple[str, Path]:
        """Keys for every party, and a store holding the market context, the customers' group
        and the real-time prices, loaded as balancing and as index prices. Returns the database
        URL and the key directory."""
        keys = KeyDirectory(self.work / "keys")
        keys.init(self.parties, KeyAlgorithm.ECDSA)
        url = sqlite_url(self.work / "data")
        store = Store.open(url)
        try:
            prepare(store)
            now = datetime.now(UTC)
            with store.transaction() as unit:
                unit.put_market_context(s.MARKET, now)
                unit.set_group(GROUP, self.customer_ids)
                for interval, price in zip(self.span, self.prices.balancing, strict=True):
                    for kind in PriceKind:
                        unit.set_price(kind, s.MARKET.uri, s.NODE.id, interval, price)
        finally:
            store.close()
        return url, keys.path

    def connect(self, wsdl: str, keys: Path) -> None:
        def client(party: str) -> tuple[str, Client]:
            return party, Client(wsdl, party, Signing.from_keys(keys, party))

        for done, (party, made) in enumerate(self.pool.map(client, self.parties), start=1):
            self.clients[party] = made
            self.progress("connecting the parties", done, len(self.parties))

    def close(self) -> None:
        self.pool.shutdown()
        for made in self.clients.values():
            made.close()

    def _each(
        self, phase: str, work: Callable[[s.CustomerDay], None], plans: Sequence[s.CustomerDay]
    ) -> None:
        for done, _ in enumerate(self.pool.map(work, plans), start=1):
            self.progress(phase, done, len(plans))

    # --- forward -------------------------------------------------------------------------

    def forward_market(self) -> None:
        rep = self.clients[REP]
        size = TENDER_HEADROOM_KW * len(self.days)
        tenders = []
        prices = self.prices
        for block, interval in enumerate(self.blocks):
            sell, buy = prices.forward_sell[block], prices.forward_buy[block]
            tenders.append(_tender(f"FWD-{block}-S", interval, Side.SELL, sell, size))
            tenders.append(_tender(f"FWD-{block}-B", interval, Side.BUY, buy, size))
        if prices.option_window:
            tenders.append(_option_tender(prices, self.span, len(self.days)))
        rep.distribute_tender(Target(group_ids=(GROUP,)), *tenders)
        self._each("forward blocks and options", self._buy_forward, self.days)
        rep.cancel_tender(*(tender.tender_id for tender in tenders))
        self._hedge()

    def _hedge(self) -> None:
        """The hedger sells the REP financial forwards for the dearest hours; the REP takes
        them all."""
        size = s.HEDGE_KW_PER_CUSTOMER * len(self.days)
        hedges = [
            _tender(
                f"HEDGE-{block}",
                self.blocks[block],
                Side.SELL,
                self.prices.forward_buy[block],
                size,
                Settlement.FINANCIAL,
            )
            for block in s.hedged_blocks(self.prices)
        ]
        self.clients[HEDGER].create_tender(REP, *hedges)
        taken = [acceptance(hedge, Decimal(size), new_id()) for hedge in hedges]
        self.clients[REP].create_transaction(HEDGER, *taken)
        self.books[HEDGER].records += [
            TransactionRecord.written_by(transaction, REP, HEDGER) for transaction in taken
        ]

    def _buy_forward(self, plan: s.CustomerDay) -> None:
        customer = plan.customer
        client = self.clients[customer.party_id]
        offered = client.request_tenders(counterparties=(REP,))
        blocks = _by_slot((t for t in offered if t.product.option is None), self.blocks)
        orders = s.forward_orders(plan)
        made = [
            acceptance(blocks[(order.index, order.side.opposite)], order.rate, new_id())
            for order in orders
        ]
        option = next((t for t in offered if t.product.option is not None), None)
        if customer.option_kw and option is not None:
            bought = acceptance(option, customer.option_kw, new_id())
            self.options[customer.party_id] = bought
            made.append(bought)
        if made:
            client.create_transaction(REP, *made)
        self.books[customer.party_id].made(made)
        self.forward[customer.party_id] = orders

    # --- real time -----------------------------------------------------------------------

    def realtime_market(self) -> None:
        count = len(self.span)
        due: dict[int, list[tuple[s.CustomerDay, int]]] = {}
        for number, plan in enumerate(self.days):
            for start, stop in s.check_ins(number, count):
                due.setdefault(start, []).append((plan, stop))
        standing: list[str] = []
        metered_up_to = 0
        for k in range(count):
            standing = self._tender_realtime(k, standing, len(due.get(k, ())))
            list(self.pool.map(lambda job, k=k: self._check_in(job[0], k, job[1]), due.get(k, ())))
            if k > 0 and k % s.METER_EVERY == 0:
                self._meter(metered_up_to, k)
                metered_up_to = k
            self.progress("real-time tenders", k + 1, count)
        self.clients[REP].cancel_tender(*standing)
        self._meter(metered_up_to, count)

    def _tender_realtime(self, k: int, standing: list[str], customers: int) -> list[str]:
        rep = self.clients[REP]
        if standing:
            rep.cancel_tender(*standing)
        size = TENDER_HEADROOM_KW * max(1, customers)
        tenders = []
        for i in range(k, min(k + s.WINDOW, len(self.span))):
            interval = self.span[i]
            sell, buy = self.prices.realtime_sell[i], self.prices.realtime_buy[i]
            tenders.append(_tender(f"RT-{k}-{i}-S", interval, Side.SELL, sell, size))
            tenders.append(_tender(f"RT-{k}-{i}-B", interval, Side.BUY, buy, size))
        rep.distribute_tender(Target(group_ids=(s.MARKET.uri,)), *tenders)
        return [tender.tender_id for tender in tenders]

    def _check_in(self, plan: s.CustomerDay, start: int, stop: int) -> None:
        customer = plan.customer
        client = self.clients[customer.party_id]
        period = Interval.between(self.span[start].start, self.span[stop - 1].end)
        offered = client.request_tenders(
            counterparties=(REP,), intervals=(period,), kind=ProductKind.POWER
        )
        slots = _by_slot(offered, self.span)
        intervals = range(start, stop)
        made: list[Transaction] = []
        called: set[int] = set()
        option = self.options.get(customer.party_id)
        if option is not None:
            covered = [i for i in intervals if i in self.prices.option_window]
            quoted = [slots[(i, Side.SELL)].product.description.price for i in covered]
            for run in s.exercise_runs(plan, quoted, self.prices.option_strike, covered):
                window = Interval(self.span[run.start].start, len(run) * s.STEP)
                made.append(exercise(option, window, customer.option_kw, new_id()))
                called.update(run)
        forward = self.forward[customer.party_id]
        held = [
            s.forward_rate(forward, i) + (customer.option_kw if i in called else 0)
            for i in intervals
        ]
        for order in s.realtime_orders(plan, held, intervals):
            tender = slots[(order.index, order.side.opposite)]
            made.append(acceptance(tender, order.rate, new_id()))
        if made:
            client.create_transaction(REP, *made)
        self.books[customer.party_id].made(made)

    # --- metering ------------------------------------------------------------------------

    def _deliveries(
        self, party: str, rates: Sequence[Decimal], first: int, batch: int
    ) -> tuple[Delivery, ...]:
        """One delivery of the withdrawals and one of the injections among ``rates`` (kW per
        interval from ``first``, positive when taken from the grid)."""
        made = []
        for injection in (False, True):
            readings = tuple(
                MeterReading(self.span[first + offset], abs(rate), s.MARKET.uri, s.NODE, s.KW)
                for offset, rate in enumerate(rates)
                if (rate < 0) == injection
            )
            if readings:
                uid = f"{party}-{batch}-{'in' if injection else 'out'}"
                made.append(Delivery(uid, injection, readings))
        return tuple(made)

    def _meter(self, first: int, stop: int) -> None:
        if first == stop:
            return
        totals = [
            -sum((plan.metered[i] for plan in self.days), Decimal(0)) for i in range(first, stop)
        ]

        def report(job: tuple[str, Sequence[Decimal]]) -> None:
            party, rates = job
            deliveries = self._deliveries(party, rates, first, first)
            self.clients[party].report_delivery(*deliveries)
            self.books[party].deliveries.extend(deliveries)

        jobs = [(REP, totals)]
        jobs += [(plan.customer.party_id, plan.metered[first:stop]) for plan in self.days]
        list(self.pool.map(report, jobs))

    # --- settlement ----------------------------------------------------------------------

    def settle(self) -> list[PartyFigures]:
        """Every party's positions and settlement. The REP, which trades with every customer,
        asks hour by hour, so that no one request makes the server settle a whole day of
        thousands of trades; its hourly statements are added up."""
        whole = _whole(self.span)

        def ask(party: str) -> PartyFigures:
            client = self.clients[party]
            positions: dict[Settlement, list[Position]] = {kind: [] for kind in Settlement}
            statements = []
            for period in self.blocks if party == REP else (whole,):
                during = [interval for interval in self.span if period.contains(interval)]
                for kind in Settlement:
                    asked = client.request_position(s.MARKET.uri, s.NODE, *during, settlement=kind)
                    positions[kind] += asked.positions
                statement = client.request_settlement(s.MARKET.uri, s.NODE, period).statement
                assert statement is not None
                statements.append(statement)
            return PartyFigures(
                party,
                tuple(positions[Settlement.PHYSICAL]),
                combined(statements, whole),
                tuple(positions[Settlement.FINANCIAL]),
            )

        figures = []
        for done, answered in enumerate(self.pool.map(ask, self.parties), start=1):
            figures.append(answered)
            self.progress("positions and settlements", done, len(self.parties))
        return figures

    def expected(self) -> dict[str, tuple[Decimal, ...]]:
        prices = dict(zip(self.span, self.prices.balancing, strict=True))
        units = self.units
        return {
            party: expected_statement(
                book.records, book.deliveries, party, s.NODE, self.blocks, prices, prices, units
            )
            for party, book in self.books.items()
            if party != REP
        }


def _logged_requests(log: Path) -> int:
    """The SOAP requests the server logged (one JSON line each, with its operation)."""
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and json.loads(line).get("operation"):
            count += 1
    return count


def run_day(settings: Settings, progress: Progress = _silent) -> DayRun:
    """Play the day and reconcile it; the server and its files are gone when this returns."""
    began = clock.monotonic()
    with tempfile.TemporaryDirectory(prefix="temix-demo-") as folder:
        work = Path(folder)
        day = _Day(settings, work, progress)
        url, keys = day.prepare_market()
        log = work / "serve.log"
        try:
            with LocalServer(url, keys, log, workers=settings.workers) as server:
                day.connect(server.wsdl, keys)
                day.forward_market()
                day.realtime_market()
                figures = day.settle()
        finally:
            day.close()
        requests = _logged_requests(log)
    checks = reconcile(figures, day.expected(), day.units)
    return DayRun(
        settings=settings,
        span=day.span,
        prices=day.prices,
        flat=s.flat_tariff(day.prices, day.days),
        days=day.days,
        rep=figures[0],
        customers=tuple(figures[1:-1]),
        hedger=figures[-1],
        checks=checks,
        requests=requests,
        seconds=clock.monotonic() - began,
    )
