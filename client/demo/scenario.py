"""The demo's day as pure values: the market, the prices, the customers and their devices.

Everything here is a function of a seed and the day's clock (the local hour at which each
5-minute interval starts), so the same seed always gives the same day, whatever date it is run
on. Nothing here talks to a server: :mod:`temix.client.demo.run` turns these values into
tenders, transactions and meter readings.

Sign convention inside this module: a customer's net rate is in kW, positive when it takes power
from the grid and negative when it feeds power in (rooftop PV, a discharging battery).

The prices follow TeMIX paper section 3: the Retail Energy Provider (REP) tenders hourly forward
blocks at one price to sell and a lower one to buy, then real-time 5-minute energy whose price
moves around the forward shape and spikes for a while in the evening; the balancing price is the
real-time price posted after each interval, which is also the market's index price. A call
option caps what its holder pays during the spike at its strike price (section 3.7). A financial
party hedges the REP: it sells the REP financial (cash-settled) forwards for the dearest hours,
which deliver nothing and are cashed out at the real-time prices (sections 1.1, 2.10, 3.5).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from temix.model import (
    EnergyUnit,
    Location,
    MarketContext,
    PowerUnit,
    Side,
    SiScale,
)

KW = PowerUnit(SiScale.KILO)
KWH = EnergyUnit(SiScale.KILO)
MARKET = MarketContext(
    uri="urn:temix:market:demo-retail",
    name="temix demo retail market (kW, kWh, USD, America/Chicago, 5-minute intervals)",
    power_unit=KW,
    energy_unit=KWH,
    quantity_step=Decimal("0.1"),
    time_zone="America/Chicago",
    balancing_price_source="urn:temix:prices:demo-real-time",
    index_price_source="urn:temix:prices:demo-real-time",
)
"""A retail market in household units: rates in kW (steps of 0.1 kW), prices per kWh."""

NODE = Location("RETAIL-NODE-1")
"""The node every party of the demo transacts and is metered at."""

STEP = timedelta(minutes=5)
PER_HOUR = 12
WINDOW = 24
"""Real-time tenders cover the next two hours: 24 five-minute intervals."""
CHECK_IN_EVERY = 24
"""A customer's devices look at the real-time tenders every two hours, each customer at its own
offset, and trade the intervals up to their next look."""
METER_EVERY = 72
"""Meters report their 5-minute readings every six hours, several readings per delivery."""

HEDGED_HOURS = 3
"""The financial hedger sells the REP forwards for this many of the day's dearest hours."""
HEDGE_KW_PER_CUSTOMER = 1
"""The hedge's size: a kW per customer."""

RETAIL_ADDER = 0.055
"""USD/kWh the REP adds to wholesale energy when it sells: delivery and fixed charges."""
BUYBACK = 0.85
"""The REP buys energy back at this share of the wholesale price."""

_QUANTITY = Decimal("0.1")
_READING = Decimal("0.01")
_PRICE = Decimal("0.0001")


def quantity(kw: float) -> Decimal:
    """A rate the market accepts: kW in steps of 0.1."""
    return Decimal(f"{kw:.1f}")


def reading(kw: float) -> Decimal:
    """A metered rate, to 10 W."""
    return Decimal(f"{kw:.2f}")


def price(usd_per_kwh: float) -> Decimal:
    return Decimal(f"{usd_per_kwh:.4f}")


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2) / 2)


def _rng(seed: int, *names: object) -> random.Random:
    """An independent, reproducible stream of random numbers for one part of the day."""
    return random.Random(":".join(map(str, ("temix-demo", seed, *names))))


@dataclass(frozen=True)
class Day:
    """The simulated span: the local hour of day at which each 5-minute interval starts.

    Hour blocks are consecutive runs of 12 intervals from the first one (the span starts on a
    whole local hour).
    """

    clock: tuple[float, ...]

    @property
    def intervals(self) -> int:
        return len(self.clock)

    @property
    def hours(self) -> int:
        return self.intervals // PER_HOUR

    def during(self, start: float, end: float) -> tuple[int, ...]:
        """The intervals starting at or after local hour ``start`` and before ``end``."""
        return tuple(i for i, hour in enumerate(self.clock) if start <= hour < end)


def wholesale(hour: float) -> float:
    """The wholesale price shape in USD/kWh: cheap at night, a morning shoulder, a dip while
    the sun shines, and an evening peak."""
    return (
        0.030
        + 0.012 * _bump(hour, 7.5, 1.2)
        - 0.008 * _bump(hour, 13.0, 2.0)
        + 0.075 * _bump(hour, 18.5, 1.8)
    )


@dataclass(frozen=True)
class Prices:
    """The REP's prices for the day, in USD/kWh.

    ``forward_sell`` and ``forward_buy`` are per hour block; the real-time and balancing prices
    per 5-minute interval. ``spike`` is the range of intervals whose real-time price spikes, and
    ``option_window`` the intervals the REP's call option covers (either may be empty when the
    simulated span misses the evening).
    """

    forward_sell: tuple[Decimal, ...]
    forward_buy: tuple[Decimal, ...]
    realtime_sell: tuple[Decimal, ...]
    realtime_buy: tuple[Decimal, ...]
    balancing: tuple[Decimal, ...]
    spike: range
    option_window: range
    option_strike: Decimal
    option_premium: Decimal

    def forward_sell_at(self, interval: int) -> Decimal:
        return self.forward_sell[interval // PER_HOUR]


def _contiguous(indices: Sequence[int]) -> range:
    return range(indices[0], indices[-1] + 1) if indices else range(0)


def day_prices(seed: int, day: Day) -> Prices:
    rng = _rng(seed, "prices")
    level = rng.uniform(0.9, 1.15)
    hours = [day.clock[block * PER_HOUR] for block in range(day.hours)]
    forward = [level * wholesale(hour + 0.5) for hour in hours]
    evening = day.during(16.5, 19.5)
    spike = range(0)
    if evening:
        first = evening[rng.randrange(len(evening))]
        spike = range(first, min(first + rng.randint(4, 9), day.intervals))
    spike_factor = rng.uniform(4.0, 7.0)
    drift = 0.0
    realtime = []
    for i, hour in enumerate(day.clock):
        drift = 0.8 * drift + rng.gauss(0, 0.03)
        value = level * wholesale(hour) * (1 + drift)
        realtime.append(value * spike_factor if i in spike else value)
    balancing = [max(0.0, value * (1 + rng.gauss(0, 0.05))) + RETAIL_ADDER for value in realtime]
    forward_sell = tuple(price(value + RETAIL_ADDER) for value in forward)
    window = _contiguous(day.during(16.0, 21.0))
    covered = [forward_sell[i // PER_HOUR] for i in window] or list(forward_sell)
    return Prices(
        forward_sell=forward_sell,
        forward_buy=tuple(price(value * BUYBACK) for value in forward),
        realtime_sell=tuple(price(value + RETAIL_ADDER) for value in realtime),
        realtime_buy=tuple(price(value * BUYBACK) for value in realtime),
        balancing=tuple(price(value) for value in balancing),
        spike=spike,
        option_window=window,
        option_strike=price(float(max(covered)) * 1.15),
        option_premium=Decimal("0.0080"),
    )


@dataclass(frozen=True)
class Weather:
    """Outdoor temperature (°C) and the share of clear-sky sunshine, forecast and actual."""

    outdoor: tuple[float, ...]
    sun_forecast: tuple[float, ...]
    sun_actual: tuple[float, ...]


def day_weather(seed: int, day: Day) -> Weather:
    rng = _rng(seed, "weather")
    mean = rng.uniform(27.0, 31.0)
    cloud = rng.uniform(0.0, 0.4)
    outdoor = tuple(mean + 6 * math.cos(2 * math.pi * (hour - 15.5) / 24) for hour in day.clock)
    shade = 0.0
    actual = []
    for _ in day.clock:
        shade = 0.9 * shade + rng.gauss(0, 0.08)
        actual.append(min(1.0, max(0.0, 1 - cloud + shade)))
    return Weather(outdoor, tuple(1 - cloud for _ in day.clock), tuple(actual))


@dataclass(frozen=True)
class Thermostat:
    """Air conditioning that keeps the house between ``low`` and ``high`` °C.

    The house warms by ``leak`` per hour for each degree it is cooler than outside; one kW of
    cooling for an hour takes ``cooling`` degrees off.
    """

    capacity_kw: float
    low: float
    high: float
    leak: float
    cooling: float


@dataclass(frozen=True)
class ElectricVehicle:
    """A car plugged in overnight that needs ``need_kwh`` by ``departure`` (local hour)."""

    need_kwh: float
    charger_kw: float
    departure: float


@dataclass(frozen=True)
class HomeBattery:
    capacity_kwh: float
    power_kw: float
    efficiency: float
    reserve_kwh: float


@dataclass(frozen=True)
class RooftopSolar:
    peak_kw: float


@dataclass(frozen=True)
class Customer:
    """A household and the devices that trade for it.

    ``hedge`` is the share of its planned use it buys forward in hourly blocks; ``option_kw``
    the rate of the REP's evening call option it buys (zero: none).
    """

    party_id: str
    base_kw: float
    hedge: float
    option_kw: Decimal
    thermostat: Thermostat | None
    vehicle: ElectricVehicle | None
    battery: HomeBattery | None
    solar: RooftopSolar | None

    @property
    def devices(self) -> str:
        names = (
            ("AC", self.thermostat),
            ("EV", self.vehicle),
            ("battery", self.battery),
            ("PV", self.solar),
            ("cap", self.option_kw or None),
        )
        return " ".join(name for name, device in names if device is not None)


def party_id(index: int) -> str:
    return f"customer-{index + 1:04d}"


def make_customer(seed: int, index: int) -> Customer:
    rng = _rng(seed, "customer", index)
    thermostat = None
    if rng.random() < 0.85:
        low = rng.uniform(21.5, 23.5)
        thermostat = Thermostat(
            capacity_kw=rng.choice((3.0, 3.5, 4.0, 5.0)),
            low=low,
            high=low + rng.uniform(1.5, 3.0),
            leak=rng.uniform(0.2, 0.3),
            cooling=rng.uniform(0.9, 1.3),
        )
    vehicle = None
    if rng.random() < 0.35:
        vehicle = ElectricVehicle(
            need_kwh=rng.uniform(8.0, 30.0),
            charger_kw=rng.choice((3.6, 7.2)),
            departure=rng.choice((6.0, 6.5, 7.0, 7.5, 8.0)),
        )
    battery = None
    if rng.random() < 0.2:
        capacity = rng.choice((10.0, 13.5))
        battery = HomeBattery(capacity, 5.0, 0.9, 0.1 * capacity)
    solar = RooftopSolar(rng.uniform(4.0, 8.0)) if rng.random() < 0.35 else None
    option_kw = Decimal(rng.choice((1, 2, 3))) if rng.random() < 0.3 else Decimal(0)
    return Customer(
        party_id(index),
        base_kw=rng.uniform(0.4, 1.2),
        hedge=rng.uniform(0.6, 1.0),
        option_kw=option_kw,
        thermostat=thermostat,
        vehicle=vehicle,
        battery=battery,
        solar=solar,
    )


def make_customers(seed: int, count: int) -> tuple[Customer, ...]:
    return tuple(make_customer(seed, index) for index in range(count))


# --- What the devices do -------------------------------------------------------------------

_DT = 1 / PER_HOUR


def _quantile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass(frozen=True)
class Signal:
    """What the devices steer by: a price per interval, and the customer's own idea of cheap
    and dear (from the forward prices, so a spike reads as dear however high it goes)."""

    prices: tuple[float, ...]
    cheap: float
    dear: float


def forward_signal(prices: Prices, day: Day) -> Signal:
    per_interval = tuple(float(prices.forward_sell_at(i)) for i in range(day.intervals))
    return Signal(per_interval, _quantile(per_interval, 1 / 3), _quantile(per_interval, 2 / 3))


def realtime_signal(prices: Prices, day: Day) -> Signal:
    forward = forward_signal(prices, day)
    return Signal(tuple(map(float, prices.realtime_sell)), forward.cheap, forward.dear)


def thermostat_load(device: Thermostat, outdoor: Sequence[float], signal: Signal) -> list[float]:
    """Cool to the bottom of the comfort band while power is cheap, let the house drift to
    the top while it is dear: load moves out of expensive hours without leaving the band."""
    inside = (device.low + device.high) / 2
    load = []
    for out, value in zip(outdoor, signal.prices, strict=True):
        if value <= signal.cheap:
            target = device.low
        elif value >= signal.dear:
            target = device.high
        else:
            target = (device.low + device.high) / 2
        drifted = inside + device.leak * (out - inside) * _DT
        power = min(device.capacity_kw, max(0.0, (drifted - target) / (device.cooling * _DT)))
        inside = drifted - device.cooling * power * _DT
        load.append(power)
    return load


def vehicle_load(device: ElectricVehicle, day: Day, signal: Signal) -> list[float]:
    """Charge in the cheapest intervals before departure, as much as the car needs."""
    plugged = [i for i, hour in enumerate(day.clock) if hour < device.departure]
    load = [0.0] * day.intervals
    remaining = device.need_kwh
    for i in sorted(plugged, key=lambda i: (signal.prices[i], i)):
        if remaining <= 0:
            break
        load[i] = min(device.charger_kw, remaining / _DT)
        remaining -= load[i] * _DT
    return load


def battery_load(device: HomeBattery, signal: Signal) -> list[float]:
    """Charge while power is cheap and discharge while it is dear, within the battery's power
    and its reserve: positive while charging, negative while discharging."""
    stored = device.capacity_kwh / 2
    load = []
    for value in signal.prices:
        if value <= signal.cheap:
            power = min(device.power_kw, (device.capacity_kwh - stored) / (device.efficiency * _DT))
            stored += power * device.efficiency * _DT
        elif value >= signal.dear:
            power = -min(device.power_kw, (stored - device.reserve_kwh) / _DT)
            stored += power * _DT
        else:
            power = 0.0
        load.append(power)
    return load


def base_shape(hour: float) -> float:
    """Lights, cooking and appliances: low at night, up in the morning and the evening."""
    return 0.6 + 0.5 * _bump(hour, 7.5, 1.0) + 0.9 * _bump(hour, 19.5, 2.0)


def net_load(
    customer: Customer, day: Day, weather: Weather, signal: Signal, sun: Sequence[float]
) -> tuple[float, ...]:
    """The customer's planned net rate per interval (kW, positive when taking power)."""
    total = [customer.base_kw * base_shape(hour) for hour in day.clock]
    parts: list[Sequence[float]] = []
    if customer.thermostat is not None:
        parts.append(thermostat_load(customer.thermostat, weather.outdoor, signal))
    if customer.vehicle is not None:
        parts.append(vehicle_load(customer.vehicle, day, signal))
    if customer.battery is not None:
        parts.append(battery_load(customer.battery, signal))
    if customer.solar is not None:
        peak = customer.solar.peak_kw
        parts.append(
            [
                -peak * share * max(0.0, math.sin(math.pi * (hour - 6.5) / 13))
                for hour, share in zip(day.clock, sun, strict=True)
            ]
        )
    for part in parts:
        total = [a + b for a, b in zip(total, part, strict=True)]
    return tuple(total)


@dataclass(frozen=True)
class CustomerDay:
    """One customer's day: the plan its devices make on the forward prices, the plan they
    follow once real-time prices are tendered, and what the meter measures (kW per interval)."""

    customer: Customer
    forward_plan: tuple[float, ...]
    realtime_plan: tuple[float, ...]
    metered: tuple[Decimal, ...]


def customer_day(
    seed: int, customer: Customer, day: Day, weather: Weather, prices: Prices
) -> CustomerDay:
    forward = net_load(customer, day, weather, forward_signal(prices, day), weather.sun_forecast)
    realtime = net_load(customer, day, weather, realtime_signal(prices, day), weather.sun_actual)
    rng = _rng(seed, "meter", customer.party_id)
    metered = tuple(
        reading(kw + customer.base_kw * base_shape(hour) * rng.gauss(0, 0.15))
        for kw, hour in zip(realtime, day.clock, strict=True)
    )
    return CustomerDay(customer, forward, realtime, metered)


FLAT_RISK_PREMIUM = 1.05
"""A flat tariff carries the price risk for its customers; the REP charges 5 % for it."""


def flat_tariff(prices: Prices, plans: Sequence[CustomerDay]) -> Decimal:
    """The flat tariff the summary compares with: the REP's forward selling prices averaged
    over what its customers planned to take from the grid, plus the risk premium."""
    intervals = range(len(plans[0].forward_plan))
    weights = [sum(max(0.0, plan.forward_plan[i]) for plan in plans) for i in intervals]
    paid = sum(w * float(prices.forward_sell_at(i)) for i, w in enumerate(weights))
    return price(FLAT_RISK_PREMIUM * paid / sum(weights))


# --- What the customer trades --------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    """A rate to take from one of the REP's tenders, from the customer's side."""

    index: int
    side: Side
    rate: Decimal


def _order(index: int, kw: Decimal) -> Order | None:
    if kw == 0:
        return None
    return Order(index, Side.BUY if kw > 0 else Side.SELL, abs(kw))


def hedged_blocks(prices: Prices) -> tuple[int, ...]:
    """The hour blocks the financial hedger sells the REP forwards for: the dearest
    :data:`HEDGED_HOURS`, at the REP's forward buying price, in order."""
    dearest = sorted(range(len(prices.forward_sell)), key=lambda b: -prices.forward_sell[b])
    return tuple(sorted(dearest[:HEDGED_HOURS]))


def forward_orders(plan: CustomerDay) -> tuple[Order, ...]:
    """Per hour block, the hedged share of the planned average rate ("buying your own
    baseline"); ``index`` is the hour block."""
    orders = []
    for block in range(len(plan.forward_plan) // PER_HOUR):
        planned = plan.forward_plan[block * PER_HOUR : (block + 1) * PER_HOUR]
        order = _order(block, quantity(plan.customer.hedge * sum(planned) / PER_HOUR))
        if order is not None:
            orders.append(order)
    return tuple(orders)


def forward_rate(orders: Sequence[Order], interval: int) -> Decimal:
    """The customer's net forward purchase (kW) in ``interval`` from its hourly orders."""
    held = Decimal(0)
    for order in orders:
        if order.index == interval // PER_HOUR:
            held += order.rate if order.side is Side.BUY else -order.rate
    return held


def exercise_runs(
    plan: CustomerDay, prices: Sequence[Decimal], strike: Decimal, intervals: Sequence[int]
) -> tuple[range, ...]:
    """The runs of consecutive intervals where the real-time selling price tendered is above
    the option's strike: the holder calls its whole option rate there."""
    if not plan.customer.option_kw:
        return ()
    runs: list[range] = []
    for index, value in zip(intervals, prices, strict=True):
        if value <= strike:
            continue
        if runs and runs[-1].stop == index:
            runs[-1] = range(runs[-1].start, index + 1)
        else:
            runs.append(range(index, index + 1))
    return tuple(runs)


def realtime_orders(
    plan: CustomerDay, held: Sequence[Decimal], intervals: Sequence[int]
) -> tuple[Order, ...]:
    """For each interval, what the real-time plan needs beyond what is held already (forward
    blocks and exercised options), bought or sold on the REP's 5-minute tenders."""
    orders = []
    for index, already in zip(intervals, held, strict=True):
        order = _order(index, quantity(plan.realtime_plan[index]) - already)
        if order is not None:
            orders.append(order)
    return tuple(orders)


def check_ins(party_index: int, intervals: int) -> tuple[tuple[int, int], ...]:
    """When a customer looks at the real-time tenders, and up to which interval it trades
    each time: every two hours from its own offset, and once at the start of the day."""
    offset = party_index % CHECK_IN_EVERY
    starts = sorted({0, *range(offset, intervals, CHECK_IN_EVERY)})
    stops = [*starts[1:], intervals]
    return tuple(zip(starts, stops, strict=True))
