"""The conformance suite against temix's own server: every test passes, on both SOAP bindings
and both databases, and again on a second run against the same endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from bindings import binding_param
from conformance_target import serve_target
from flaws import FLAWS
from temix.conformance.catalogue import Group, Outcome, catalogue, select
from temix.conformance.runner import Result, Summary, run_cases
from temix.conformance.trial import Run

HISTORY_SENSITIVE = ("TND", "TRX", "POS", "DLV", "TRP", "IDM", "DLC")
"""Groups whose tests read what earlier trades left behind."""


def _not_passed(results: list[Result]) -> list[str]:
    return [
        f"{result.case.id} {result.outcome}: {result.reason}"
        for result in results
        if result.outcome is not Outcome.PASSED
    ]


@pytest.mark.parametrize(
    ("binding", "database_url"),
    [
        binding_param("native", "sqlite"),
        binding_param("spyne", "postgresql"),
    ],
    indirect=["database_url"],
)
def test_the_whole_suite_passes_against_temix(
    binding: str, database_url: str, tmp_path: Path
) -> None:
    served = serve_target(tmp_path, binding=binding, database_url=database_url)
    try:
        run = Run(served.target, served.capabilities)
        run.open()
        results = run_cases(run, catalogue())
        assert _not_passed(results) == []
        again = Run(served.target, served.capabilities)
        again.open()
        repeated = run_cases(again, select(catalogue(), HISTORY_SENSITIVE))
        assert _not_passed(repeated) == []
        assert Summary.of(results).line == f"{len(catalogue())} passed, 0 failed, 0 skipped"
    finally:
        served.server.stop()


def test_every_group_has_tests_and_a_flaw_that_makes_one_fail() -> None:
    cases = catalogue()
    by_id = {case.id: case for case in cases}
    assert {case.group for case in cases} == set(Group)
    assert all(case.title and case.clause for case in cases)
    for flaw in FLAWS.values():
        assert flaw.breaks in by_id, f"flaw {flaw.name} names an unknown test {flaw.breaks}"
    assert {by_id[flaw.breaks].group for flaw in FLAWS.values()} == set(Group)
