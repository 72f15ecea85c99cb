"""The conformance suite against deliberately broken servers (``tests/flaws``): for each flaw,
the test it names fails. A suite that cannot fail certifies nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance_target import serve_target
from flaws import FLAWS, Flaw
from temix.conformance.catalogue import Outcome, catalogue, select
from temix.conformance.runner import run_cases
from temix.conformance.trial import Run


@pytest.mark.parametrize("flaw", FLAWS.values(), ids=FLAWS.keys())
def test_the_test_a_flaw_breaks_fails(flaw: Flaw, tmp_path: Path) -> None:
    served = serve_target(tmp_path, flaw=flaw.name, workers=1)
    try:
        run = Run(served.target, served.capabilities)
        run.open()
        results = {
            result.case.id: result for result in run_cases(run, select(catalogue(), [flaw.breaks]))
        }
    finally:
        served.server.stop()
    broken = results[flaw.breaks]
    assert broken.outcome is Outcome.FAILED, (
        f"{flaw.description}: {flaw.breaks} ended {broken.outcome} {broken.reason}"
    )
    prerequisites = [result for case_id, result in results.items() if case_id != flaw.breaks]
    assert all(result.outcome.succeeded for result in prerequisites), (
        "a prerequisite failed first, so the flaw's own test never ran: "
        + "; ".join(f"{result.case.id} {result.reason}" for result in prerequisites)
    )
