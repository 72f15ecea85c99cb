"""The conformance suite's own kill figure: the whole catalogue against each deliberately broken
server of ``tests/flaws``, and the share of them it refuses to certify.

    python tests/mutation.py [--jobs N] [--only PATTERN ...] [--binding native|spyne]
                             [--json FILE]

For each flaw, ``temix serve`` is started with the flaw applied (as ``test_conformance_flaws``
does) and every test of the catalogue is run against it. A flaw is killed when at least one
required test fails, which is what makes ``temix conformance run`` exit 1: a vendor's server
with that defect is not certified. A flaw whose only failing tests are recommendations is
reported, not certified against. The table shows, per flaw, the test written against it,
whether that test failed, and the required tests that did. The last line is the figure,
``killed K of N flaws (P%)``; the exit status is 1 when some flaw fails no test at all.

``test_conformance_flaws`` checks, in CI, that each flaw's own test fails; this command
measures the whole suite against all of them (about 20 s a flaw on two cores with two jobs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console
from rich.table import Table

from conformance_target import serve_target
from flaws import FLAWS, Flaw
from temix.conformance.catalogue import Outcome, catalogue
from temix.conformance.runner import run_cases
from temix.conformance.trial import Run


@dataclass(frozen=True)
class Verdict:
    """What the whole suite did against one flaw."""

    flaw: str
    breaks: str
    own_test_failed: bool
    failed: tuple[str, ...]
    """The required tests that failed, in run order."""
    recommendations_failed: tuple[str, ...]
    """The tests that failed but are recommendations: the report shows them, the run passes."""

    @property
    def killed(self) -> bool:
        return bool(self.failed)

    @property
    def noticed(self) -> bool:
        return self.killed or bool(self.recommendations_failed)


def judge(name: str, binding: str) -> Verdict:
    """The whole catalogue against ``temix serve`` with the flaw ``name`` applied (run in a
    process of its own: setting the target up redirects the process's output for a while)."""
    flaw = FLAWS[name]
    with tempfile.TemporaryDirectory(prefix=f"temix-mutation-{flaw.name}-") as directory:
        served = serve_target(Path(directory), flaw=flaw.name, binding=binding, workers=1)
        try:
            run = Run(served.target, served.capabilities)
            run.open()
            try:
                results = run_cases(run, catalogue())
            finally:
                run.close()
        finally:
            served.server.stop()
    failed = [result.case for result in results if result.outcome is Outcome.FAILED]
    return Verdict(
        flaw.name,
        flaw.breaks,
        flaw.breaks in {case.id for case in failed},
        tuple(case.id for case in failed if case.required),
        tuple(case.id for case in failed if not case.required),
    )


def chosen(patterns: Sequence[str]) -> list[Flaw]:
    if not patterns:
        return list(FLAWS.values())
    flaws = [
        flaw
        for flaw in FLAWS.values()
        if any(fnmatchcase(flaw.name, p) or fnmatchcase(flaw.breaks, p) for p in patterns)
    ]
    if not flaws:
        raise SystemExit(f"no flaw matches {' '.join(patterns)}")
    return flaws


def report(verdicts: Sequence[Verdict], console: Console) -> None:
    table = Table(title="The conformance suite against each flaw")
    for column in ("flaw", "its test", "its test failed", "required tests failed"):
        table.add_column(column)
    for verdict in verdicts:
        shown = ", ".join(verdict.failed[:4]) + (" ..." if len(verdict.failed) > 4 else "")
        if verdict.failed:
            outcome = f"{len(verdict.failed)}: {shown}"
        elif verdict.recommendations_failed:
            outcome = "none; recommendations failed: " + ", ".join(verdict.recommendations_failed)
        else:
            outcome = "none: SURVIVED"
        table.add_row(
            verdict.flaw, verdict.breaks, "yes" if verdict.own_test_failed else "NO", outcome
        )
    console.print(table)
    count = len(verdicts)
    own = sum(verdict.own_test_failed for verdict in verdicts)
    alone = sum(verdict.failed == (verdict.breaks,) for verdict in verdicts)
    warned = [v.flaw for v in verdicts if not v.killed and v.recommendations_failed]
    console.print(f"each flaw's own test failed: {own} of {count}")
    console.print(f"killed by its own test alone: {alone} of {count}")
    if warned:
        console.print(f"a recommendation failed, no required test: {', '.join(warned)}")
    killed = sum(verdict.killed for verdict in verdicts)
    console.print(
        f"killed {killed} of {count} flaws ({100 * killed / count:.0f}%)", highlight=False
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="flawed servers at once (2)")
    parser.add_argument(
        "--only", action="append", default=[], help="flaw name or test id pattern (repeatable)"
    )
    parser.add_argument("--binding", choices=("native", "spyne"), default="native")
    parser.add_argument("--json", type=Path, help="also write the verdicts here")
    arguments = parser.parse_args(argv)
    flaws = chosen(arguments.only)
    console = Console(width=120)
    names = [flaw.name for flaw in flaws]
    with ProcessPoolExecutor(max_workers=max(1, arguments.jobs)) as pool:
        verdicts = list(pool.map(judge, names, [arguments.binding] * len(names)))
    report(verdicts, console)
    if arguments.json:
        arguments.json.write_text(
            json.dumps([asdict(verdict) for verdict in verdicts], indent=2), encoding="utf-8"
        )
    return 0 if all(verdict.noticed for verdict in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
