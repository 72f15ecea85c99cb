"""``temix demo``: run the day, show the summary and the reconciliation, write the reports.

Exit status: 0 the day reconciled, 1 it did not, 3 it could not be played (the server did not
start, or refused or failed a request).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

EXIT_RECONCILED = 0
EXIT_NOT_RECONCILED = 1
EXIT_FAILED = 3


@click.command("demo")
@click.option("--seed", type=int, default=1, show_default=True, help="The day's random seed.")
@click.option(
    "--customers", type=click.IntRange(min=1), default=20, show_default=True, help="Households."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("temix-demo"),
    show_default=True,
    help="Where report.html, day.png and summary.csv are written.",
)
@click.option(
    "--start-hour",
    type=click.IntRange(0, 23),
    default=0,
    show_default=True,
    help="Local hour the simulated span starts at.",
)
@click.option(
    "--hours",
    type=click.IntRange(1, 24),
    default=24,
    show_default=True,
    help="Hours to simulate (a shorter day runs quicker).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Customers acting at once.",
)
def demo(seed: int, customers: int, out: Path, start_hour: int, hours: int, threads: int) -> None:
    """Play a day in a transactive retail market over signed SOAP, and check it adds up.

    Starts `temix serve` on a free local port with a temporary store and fresh keys. A retail
    energy provider tenders hourly forward blocks, an evening call option and rolling 5-minute
    real-time tenders; each customer's thermostat, EV, battery and rooftop PV trade for it
    through the reference client; meters report; every party's positions and settlement are
    requested and reconciled. The day is tomorrow in America/Chicago.
    """
    from temix.client.demo.launcher import ServerFailed
    from temix.client.demo.report import (
        HEADERS,
        cells,
        reconciliation_lines,
        summary,
        totals,
        write_report,
    )
    from temix.client.demo.run import Settings, run_day
    from temix.client.errors import ClientError

    if start_hour + hours > 24:
        raise click.UsageError("--start-hour plus --hours must not pass midnight")
    console = Console()
    settings = Settings(seed, customers, start_hour, hours, threads)
    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            tasks: dict[str, int] = {}

            def report(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(phase, total=total)
                progress.update(tasks[phase], completed=done)

            run = run_day(settings, report)
    except (ServerFailed, ClientError) as error:
        console.print(f"error: the day could not be played: {error}", style="red")
        raise SystemExit(EXIT_FAILED) from None
    rows, others = summary(run)
    table = Table(title=f"{customers} customers, seed {seed}")
    for name in HEADERS:
        table.add_column(name, justify="left" if name in ("party", "devices") else "right")
    for row in rows:
        table.add_row(*cells(row))
    table.add_row(*cells(totals(rows)), style="bold")
    for other in others:
        table.add_row(*cells(other), style="italic")
    console.print(table)
    paths = write_report(run, out)
    console.print(
        f"{run.requests} signed SOAP requests in {run.seconds:.0f} s; "
        f"written: {paths['report']}, {paths['chart']}, {paths['summary']}"
    )
    for line in reconciliation_lines(run):
        console.print(line, style=None if run.reconciled else "red")
    raise SystemExit(EXIT_RECONCILED if run.reconciled else EXIT_NOT_RECONCILED)
