"""The catalogue: every conformance test, with its stable id, group, title and clause.

A test is a function of one :class:`temix.conformance.trial.Trial`, registered with
:func:`case`. Its id (``TMX-TND-004``) never changes meaning once published: a retired test
keeps its id out of use, and a new test takes the next free number in its group. The id's
middle part names the group.

A test passes by returning; it fails by raising :class:`Failed` (``trial.expect`` and
``trial.refused`` do), and any :class:`temix.client.errors.ClientError` it did not expect is a
failure too. It may end as notApplicable (the endpoint did not declare a feature it needs) or
missingInput (the run was not given something it needs: a third party, a daylight-saving
market). A test whose prerequisite (``after``) did not pass is not run: prereqFailed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temix.conformance.trial import Trial


class Outcome(StrEnum):
    """A test's result, as the WS-I test tools named them."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    NOT_APPLICABLE = "notApplicable"
    MISSING_INPUT = "missingInput"
    PREREQ_FAILED = "prereqFailed"

    @property
    def succeeded(self) -> bool:
        """Passed, or passed with a warning: what a prerequisite needs."""
        return self in (Outcome.PASSED, Outcome.WARNING)

    @property
    def skipped(self) -> bool:
        return self in (Outcome.NOT_APPLICABLE, Outcome.MISSING_INPUT, Outcome.PREREQ_FAILED)


class Group(Enum):
    """The catalogue's groups, in the order a run takes them; the value is the id's middle."""

    SOAP = "WSD"
    ADDRESSING = "WSA"
    SCHEMA = "SCH"
    MARKET = "MKT"
    TENDERS = "TND"
    TRANSACTIONS = "TRX"
    OPTIONS = "OPT"
    TRANSPORT = "TRP"
    POSITIONS = "POS"
    SETTLEMENT = "DLV"
    FINANCIAL = "FIN"
    IDEMPOTENCY = "IDM"
    SECURITY = "SEC"
    DIALECTS = "DLC"
    AUTHORISATION = "AUT"
    ROBUSTNESS = "RBS"

    @property
    def title(self) -> str:
        return _GROUP_TITLES[self]


_GROUP_TITLES = {
    Group.SOAP: "SOAP and WSDL",
    Group.ADDRESSING: "WS-Addressing",
    Group.SCHEMA: "Schema",
    Group.MARKET: "Market context",
    Group.TENDERS: "Tenders",
    Group.TRANSACTIONS: "Transactions",
    Group.OPTIONS: "Options",
    Group.TRANSPORT: "Transport",
    Group.POSITIONS: "Positions",
    Group.SETTLEMENT: "Delivery and settlement",
    Group.FINANCIAL: "Financial settlement",
    Group.IDEMPOTENCY: "Idempotency",
    Group.SECURITY: "Security",
    Group.DIALECTS: "Legal dialects",
    Group.AUTHORISATION: "Authorisation",
    Group.ROBUSTNESS: "Robustness",
}
_GROUP_ORDER = {group: index for index, group in enumerate(Group)}
_ID = re.compile(r"TMX-([A-Z]{3})-(\d{3})")


class Failed(Exception):
    """The endpoint did not behave as the clause says; the message is the reason."""


class MissingInput(Exception):
    """The run lacks an input the test needs (named in the message)."""


class NotApplicable(Exception):
    """The test does not apply to this endpoint (the message says why)."""


@dataclass(frozen=True)
class Case:
    """One test of the catalogue.

    ``requires`` names the capabilities it needs (see
    :mod:`temix.conformance.capabilities`); ``after`` the tests that must pass first;
    ``required`` False makes a failure a recommendation not met, which does not fail the run.
    """

    id: str
    title: str
    clause: str
    run: Callable[[Trial], None]
    requires: frozenset[str] = frozenset()
    after: tuple[str, ...] = ()
    required: bool = True

    @property
    def group(self) -> Group:
        return Group(self.id.split("-")[1])

    @property
    def sort_key(self) -> tuple[int, int]:
        return _GROUP_ORDER[self.group], int(self.id.split("-")[2])


_CASES: dict[str, Case] = {}


def case(
    id: str,
    title: str,
    clause: str,
    *,
    requires: Iterable[str] = (),
    after: Iterable[str] = (),
    required: bool = True,
) -> Callable[[Callable[[Trial], None]], Callable[[Trial], None]]:
    """Register the decorated function as the test ``id``."""
    match = _ID.fullmatch(id)
    if match is None or match.group(1) not in {group.value for group in Group}:
        raise ValueError(f"{id!r} is not a test id such as TMX-TND-004 of a known group")
    if id in _CASES:
        raise ValueError(f"test id {id} is registered twice")

    def register(run: Callable[[Trial], None]) -> Callable[[Trial], None]:
        _CASES[id] = Case(id, title, clause, run, frozenset(requires), tuple(after), required)
        return run

    return register


def catalogue() -> tuple[Case, ...]:
    """Every registered test, in run order (group, then number)."""
    import temix.conformance.cases  # noqa: F401  (registers every test)

    cases = sorted(_CASES.values(), key=lambda case: case.sort_key)
    known = {case.id for case in cases}
    for each in cases:
        unknown = [prerequisite for prerequisite in each.after if prerequisite not in known]
        if unknown:
            raise ValueError(f"{each.id} runs after unknown tests {', '.join(unknown)}")
    return tuple(cases)


def select(cases: tuple[Case, ...], patterns: Iterable[str]) -> tuple[Case, ...]:
    """The tests whose id or group matches one of ``patterns`` (shell-style, with or without
    ``TMX-``: ``TMX-SEC-*``, ``TND-00?``, or a group code such as ``SEC``), with every
    prerequisite they need; all when none."""
    patterns = [pattern.upper() for pattern in patterns]
    if not patterns:
        return cases
    by_id = {each.id: each for each in cases}
    chosen: set[str] = set()

    def add(each: Case) -> None:
        if each.id not in chosen:
            chosen.add(each.id)
            for prerequisite in each.after:
                add(by_id[prerequisite])

    for each in cases:
        if any(
            fnmatchcase(each.id, p) or fnmatchcase(each.id, f"TMX-{p}") or p == each.group.value
            for p in patterns
        ):
            add(each)
    return tuple(each for each in cases if each.id in chosen)
