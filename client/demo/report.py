"""The demo's outputs: the summary per customer, a PNG chart and a self-contained HTML report.

:func:`summary` is pure; :func:`write_report` writes ``summary.csv``, ``day.png`` and
``report.html`` (the chart embedded as base64, so the page needs nothing beside it).
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from temix.client.demo import scenario as s
from temix.client.demo.reconcile import PartyFigures
from temix.client.demo.run import DayRun
from temix.model import Side

_CENT = Decimal("0.01")
_WH = Decimal("0.001")


@dataclass(frozen=True)
class SummaryRow:
    """One party's day, as a customer reads a bill: energy bought is positive, and so is money
    paid. ``forward_kwh`` is what it transacted ahead of delivery (hourly blocks, real-time
    tenders and option calls), ``balancing_kwh`` what the settlement added, ``cost`` its
    settlement total and ``flat_cost`` its metered energy at the flat tariff."""

    party_id: str
    devices: str
    forward_kwh: Decimal
    balancing_kwh: Decimal
    cost: Decimal
    flat_cost: Decimal | None

    @property
    def saving(self) -> Decimal | None:
        return None if self.flat_cost is None else self.flat_cost - self.cost


def _row(figures: PartyFigures, devices: str, flat_cost: Decimal | None) -> SummaryRow:
    statement = figures.statement
    forward = -sum((p.energy for p in figures.positions), Decimal(0))
    balancing = sum(
        (t.energy if t.side is Side.BUY else -t.energy for t in statement.balancing_trades),
        Decimal(0),
    )
    return SummaryRow(
        figures.party_id,
        devices,
        forward.quantize(_WH),
        balancing.quantize(_WH),
        (-statement.total).quantize(_CENT),
        flat_cost,
    )


def summary(run: DayRun) -> tuple[tuple[SummaryRow, ...], tuple[SummaryRow, SummaryRow]]:
    """A row per customer, then the REP's and the financial hedger's rows (a negative cost is
    money received; the hedger delivers nothing, so its kWh are zero)."""
    rows = []
    for figures, plan in zip(run.customers, run.days, strict=True):
        metered_kwh = sum(plan.metered, Decimal(0)) / s.PER_HOUR
        flat = (metered_kwh * run.flat).quantize(_CENT)
        rows.append(_row(figures, plan.customer.devices, flat))
    others = (
        _row(run.rep, "retail energy provider", None),
        _row(run.hedger, "financial hedger (cash-settled forwards)", None),
    )
    return tuple(rows), others


def totals(rows: Sequence[SummaryRow]) -> SummaryRow:
    return SummaryRow(
        "all customers",
        "",
        sum((r.forward_kwh for r in rows), Decimal(0)),
        sum((r.balancing_kwh for r in rows), Decimal(0)),
        sum((r.cost for r in rows), Decimal(0)),
        sum((r.flat_cost or Decimal(0) for r in rows), Decimal(0)),
    )


HEADERS = ("party", "devices", "forward kWh", "balancing kWh", "cost USD", "flat USD", "saving")


def cells(row: SummaryRow) -> tuple[str, ...]:
    def money(value: Decimal | None) -> str:
        return "" if value is None else f"{value:.2f}"

    return (
        row.party_id,
        row.devices,
        f"{row.forward_kwh:.2f}",
        f"{row.balancing_kwh:.2f}",
        money(row.cost),
        money(row.flat_cost),
        money(row.saving),
    )


def chart_png(run: DayRun) -> bytes:
    """Prices, the REP's position and the customers' total metered delivery per interval."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.dates import DateFormatter

    zone = ZoneInfo(s.MARKET.time_zone)
    times = [interval.start.astimezone(zone) for interval in run.span]
    prices = run.prices
    forward = [float(prices.forward_sell_at(i)) for i in range(len(run.span))]
    delivered = [float(sum(plan.metered[i] for plan in run.days)) for i in range(len(run.span))]
    held = [float(p.net_rate) for p in run.rep.positions]
    figure, (top, middle, bottom) = pyplot.subplots(3, 1, sharex=True, figsize=(11, 9))
    top.step(times, forward, where="post", label="forward block (REP sells)")
    top.plot(times, [float(p) for p in prices.realtime_sell], label="real-time tender (REP sells)")
    top.plot(times, [float(p) for p in prices.balancing], ":", label="balancing price")
    top.axhline(float(run.flat), color="grey", linestyle="--", label="flat tariff")
    if prices.option_window:
        top.axhline(float(prices.option_strike), color="red", linewidth=0.8, label="option strike")
    top.set_ylabel("USD/kWh")
    top.legend(loc="upper left", fontsize="small")
    middle.plot(times, [float(p.net_rate) for p in run.rep.positions], color="tab:purple")
    middle.axhline(0, color="grey", linewidth=0.5)
    middle.set_ylabel("REP net position, kW\n(sells minus buys)")
    bottom.plot(times, delivered, label="metered, all customers", color="tab:green")
    bottom.plot(times, held, "--", label="transacted ahead", color="tab:purple")
    bottom.axhline(0, color="grey", linewidth=0.5)
    bottom.set_ylabel("kW taken from the node")
    bottom.legend(loc="upper left", fontsize="small")
    bottom.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=zone))
    bottom.set_xlabel(f"{times[0]:%Y-%m-%d} ({s.MARKET.time_zone})")
    figure.suptitle(f"temix demo: {len(run.days)} customers, seed {run.settings.seed}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    pyplot.close(figure)
    return buffer.getvalue()


def reconciliation_lines(run: DayRun) -> list[str]:
    lines = [
        f"{'ok' if check.ok else 'FAILED'}: {check.claim} ({check.detail})" for check in run.checks
    ]
    verdict = "reconciled" if run.reconciled else "NOT reconciled"
    lines.append(f"The day is {verdict}.")
    return lines


def _html(run: DayRun, png: bytes) -> str:
    rows, others = summary(run)
    table_rows = [*rows, totals(rows), *others]
    head = "".join(f"<th>{html.escape(name)}</th>" for name in HEADERS)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells(row)) + "</tr>"
        for row in table_rows
    )
    checks = "\n".join(f"<li>{html.escape(line)}</li>" for line in reconciliation_lines(run))
    image = base64.b64encode(png).decode("ascii")
    zone = ZoneInfo(s.MARKET.time_zone)
    first = run.span[0].start.astimezone(zone)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>temix demo</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:nth-child(-n+2){{text-align:left}}
</style></head><body>
<h1>A day in a transactive retail market</h1>
<p>{len(run.days)} customers and one retail energy provider at {html.escape(s.NODE.id)}, market
{html.escape(s.MARKET.uri)}, from {first:%Y-%m-%d %H:%M} {html.escape(s.MARKET.time_zone)} for
{len(run.span) // s.PER_HOUR} hours; seed {run.settings.seed}; {run.requests} signed SOAP
requests in {run.seconds:.0f} s. Flat tariff: {run.flat} USD/kWh.</p>
<img alt="prices, the REP's position and the customers' delivery"
 src="data:image/png;base64,{image}">
<h2>Reconciliation</h2><ul>{checks}</ul>
<h2>Customers</h2><table><tr>{head}</tr>
{body}
</table></body></html>
"""


def write_report(run: DayRun, out: Path) -> dict[str, Path]:
    """Write the outputs into ``out`` (created if needed); returns their paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    png = chart_png(run)
    paths = {
        "chart": out / "day.png",
        "report": out / "report.html",
        "summary": out / "summary.csv",
    }
    paths["chart"].write_bytes(png)
    paths["report"].write_text(_html(run, png), encoding="utf-8")
    rows, others = summary(run)
    with paths["summary"].open("w", newline="", encoding="utf-8") as opened:
        writer = csv.writer(opened)
        writer.writerow(HEADERS)
        writer.writerows(cells(row) for row in (*rows, *others))
    return paths
