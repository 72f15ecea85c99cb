"""Running the catalogue against a run's endpoint: one :class:`Result` per test."""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from temix.client.errors import ClientError
from temix.conformance.catalogue import Case, Failed, MissingInput, NotApplicable, Outcome
from temix.conformance.trial import Exchange, Run, Trial


@dataclass(frozen=True)
class Result:
    """What one test found: its outcome, why, the warnings it noted, and its exchanges."""

    case: Case
    outcome: Outcome
    reason: str
    warnings: tuple[str, ...]
    exchanges: tuple[Exchange, ...]
    seconds: float


def run_cases(
    run: Run, cases: Iterable[Case], on_result: Callable[[Result], object] = lambda _: None
) -> list[Result]:
    """Run ``cases`` in order; ``on_result`` hears each result as it is known."""
    outcomes: dict[str, Outcome] = {}
    results: list[Result] = []
    for each in cases:
        result = _run_one(run, each, outcomes)
        outcomes[each.id] = result.outcome
        results.append(result)
        on_result(result)
    return results


def _run_one(run: Run, case: Case, outcomes: dict[str, Outcome]) -> Result:
    missing = run.capabilities.missing(case.requires)
    if missing:
        return Result(
            case,
            Outcome.NOT_APPLICABLE,
            f"the endpoint does not declare {', '.join(missing)}",
            (),
            (),
            0.0,
        )
    unmet = [each for each in case.after if not outcomes.get(each, Outcome.FAILED).succeeded]
    if unmet:
        reasons = ", ".join(f"{each} {outcomes.get(each, 'not run')}" for each in unmet)
        return Result(case, Outcome.PREREQ_FAILED, f"prerequisite {reasons}", (), (), 0.0)
    trial = Trial(run, case)
    run.recorder.case_id = case.id
    started = time.monotonic()
    outcome, reason = _judge(case, trial)
    seconds = time.monotonic() - started
    exchanges = tuple(run.recorder.of(case.id))
    if outcome.succeeded:
        invalid = [exchange for exchange in exchanges if exchange.problems]
        if invalid:
            first = invalid[0]
            outcome, reason = (
                Outcome.FAILED,
                f"response {first.number} does not validate against the TeMIX schemas: "
                + "; ".join(first.problems[:3]),
            )
    if outcome is Outcome.PASSED and trial.warnings:
        outcome = Outcome.WARNING
    if outcome is Outcome.WARNING and not reason:
        reason = "; ".join(trial.warnings)
    return Result(case, outcome, reason, tuple(trial.warnings), exchanges, seconds)


def _judge(case: Case, trial: Trial) -> tuple[Outcome, str]:
    try:
        case.run(trial)
    except Failed as failure:
        return Outcome.FAILED, str(failure)
    except MissingInput as missing:
        return Outcome.MISSING_INPUT, str(missing)
    except NotApplicable as not_applicable:
        return Outcome.NOT_APPLICABLE, str(not_applicable)
    except ClientError as error:
        return Outcome.FAILED, f"{type(error).__name__}: {error}"
    except AssertionError as error:
        return Outcome.FAILED, str(error) or "an assertion failed"
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        return (
            Outcome.FAILED,
            f"the test stopped with {type(error).__name__}: {error} "
            f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno})",
        )
    return Outcome.PASSED, ""


@dataclass(frozen=True)
class Summary:
    """Counts by outcome; ``skipped`` is notApplicable, missingInput and prereqFailed."""

    counts: Counter[Outcome]
    required_failures: int

    @classmethod
    def of(cls, results: Iterable[Result]) -> Summary:
        results = list(results)
        return cls(
            Counter(result.outcome for result in results),
            sum(
                1 for result in results if result.outcome is Outcome.FAILED and result.case.required
            ),
        )

    @property
    def passed(self) -> int:
        return self.counts[Outcome.PASSED] + self.counts[Outcome.WARNING]

    @property
    def failed(self) -> int:
        return self.counts[Outcome.FAILED]

    @property
    def skipped(self) -> int:
        return sum(self.counts[outcome] for outcome in Outcome if outcome.skipped)

    @property
    def line(self) -> str:
        """The last line a run prints."""
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"
