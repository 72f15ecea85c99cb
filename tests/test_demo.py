"""``temix demo`` on a short span: it plays over signed SOAP, reconciles, writes its outputs, and
the same seed gives the same day."""

from __future__ import annotations

import csv
import re

import pytest
from click.testing import CliRunner

from temix.cli import main
from temix.client.demo.report import cells, summary
from temix.client.demo.run import Settings, run_day

SHORT = Settings(seed=7, customers=3, start_hour=17, hours=2)
"""The evening: the forward blocks, the option, the price spike and its exercises."""


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    arguments = ["demo", "--seed", "7", "--customers", "3", "--start-hour", "17", "--hours", "2"]
    result = CliRunner().invoke(main, [*arguments, "--out", str(out)])
    return result, out


def test_the_day_reconciles(played) -> None:
    result, _ = played
    assert result.exit_code == 0, result.output
    assert "The day is reconciled." in result.output
    assert "FAILED" not in result.output


def test_the_outputs_are_written_and_self_contained(played) -> None:
    _, out = played
    assert (out / "day.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page
    assert not re.search(r"""(?:src|href)=["'](?!data:)""", page)
    assert (out / "summary.csv").read_text().startswith("party,devices,forward kWh")


@pytest.fixture(scope="module")
def again():
    return run_day(SHORT)


def test_the_same_seed_gives_the_same_day(played, again) -> None:
    _, out = played
    assert again.reconciled
    rows, others = summary(again)
    with (out / "summary.csv").open(newline="") as opened:
        written = [tuple(row) for row in csv.reader(opened)][1:]
    assert written == [cells(row) for row in (*rows, *others)]
    assert again.prices.spike
    assert any(figures.statement.premiums for figures in again.customers)


def test_the_hedger_is_cashed_out_and_the_rep_holds_the_other_side(again) -> None:
    """The financial hedger delivers nothing: its statement is its forwards' money and their
    cash-outs at the real-time prices, and the REP's financial position mirrors it."""
    run = again
    hedger = run.hedger.statement
    assert hedger.forward_cost == hedger.balancing_cost == 0
    assert not hedger.balancing_trades
    assert hedger.cash_outs and hedger.financial_cost > 0
    assert hedger.total == hedger.financial_cost + hedger.cash_out_cost
    assert all(p.net_rate == 0 for p in run.hedger.positions)
    assert [p.net_rate for p in run.rep.financial_positions] == [
        -p.net_rate for p in run.hedger.financial_positions
    ]
    assert run.rep.statement.financial_cost == -hedger.financial_cost
