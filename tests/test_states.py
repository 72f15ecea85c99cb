"""The transition tables: what they allow, what they refuse, and that the docs show them."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from temix.model import TransactiveState
from temix.responses import ResponseCode
from temix.states import (
    DEALS,
    OPEN_STATUSES,
    OPTION_ONLY_EVENTS,
    TENDERS,
    DealEvent,
    TenderEvent,
    TenderStatus,
    TransitionRefused,
    first_illegal,
    is_legal_sequence,
    next_state,
    next_status,
    state_diagram,
)

DOCS = Path(__file__).parents[1] / "docs" / "states.md"
GENERATED = re.compile(
    r"<!-- BEGIN GENERATED: python -m temix\.states -->\n(.*)<!-- END GENERATED -->", re.DOTALL
)

IOI = TransactiveState.INDICATION_OF_INTEREST
TENDER = TransactiveState.TENDER
TRANSACTION = TransactiveState.TRANSACTION
EXERCISE = TransactiveState.EXERCISE
DELIVERY = TransactiveState.DELIVERY
PUBLICATION = TransactiveState.PUBLICATION


def _printed_doc_block() -> str:
    run = subprocess.run(
        [sys.executable, "-m", "temix.states"], capture_output=True, text=True, check=True
    )
    return run.stdout


def test_docs_show_the_current_tables() -> None:
    found = GENERATED.search(DOCS.read_text(encoding="utf-8"))
    assert found, f"{DOCS} lost its BEGIN/END GENERATED markers"
    assert found.group(1) == _printed_doc_block(), (
        f"{DOCS} is out of date: replace the block between its markers with the output of "
        "`python -m temix.states`"
    )


def test_the_diagram_draws_every_transition_start_and_end() -> None:
    diagram = state_diagram()
    assert diagram.startswith("stateDiagram-v2\n")
    for machine in (DEALS, TENDERS):
        for (source, event), target in machine.transitions.items():
            assert re.search(rf"^\s+{source} --> {target} : {event}\b", diagram, re.MULTILINE)
    arrows = [line for line in diagram.splitlines() if "-->" in line]
    expected = sum(
        len(machine.transitions) + len(machine.starts) + len(machine.terminal)
        for machine in (DEALS, TENDERS)
    )
    assert len(arrows) == expected


@pytest.mark.parametrize(("source", "event"), list(DEALS.transitions))
def test_every_deal_transition_in_the_table_is_allowed(
    source: TransactiveState, event: DealEvent
) -> None:
    assert next_state(source, event, option=True) == DEALS.transitions[(source, event)]
    if event not in OPTION_ONLY_EVENTS:
        assert next_state(source, event) == DEALS.transitions[(source, event)]


@pytest.mark.parametrize(
    ("source", "event"),
    [
        pair
        for pair in itertools.product(TransactiveState, DealEvent)
        if pair not in DEALS.transitions
    ],
)
def test_every_other_deal_pair_is_refused_as_not_actionable(
    source: TransactiveState, event: DealEvent
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_state(source, event, option=True)
    assert refused.value.code is ResponseCode.NOT_ACTIONABLE
    assert str(source) in refused.value.description


@pytest.mark.parametrize("source", [TRANSACTION, EXERCISE, DELIVERY])
def test_only_an_option_is_exercised(source: TransactiveState) -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_state(source, DealEvent.EXERCISE, option=False)
    assert refused.value.code is ResponseCode.NOT_ACTIONABLE
    assert "option" in refused.value.description


def test_a_quote_cannot_be_accepted_and_the_refusal_says_what_can_happen() -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_state(IOI, DealEvent.ACCEPT)
    assert refused.value.code is ResponseCode.NOT_ACTIONABLE
    assert refused.value.description == (
        "accept is not allowed when the deal is indicationOfInterest (allowed: tender)"
    )


def test_publication_ends_a_deal_and_transport_commitment_is_unused() -> None:
    assert DEALS.terminal == (PUBLICATION,)
    unused = TransactiveState.TRANSPORT_COMMITMENT
    assert unused not in DEALS.starts
    assert all(unused not in (source, target) for (source, _), target in DEALS.transitions.items())


@pytest.mark.parametrize(("source", "event"), list(TENDERS.transitions))
def test_every_tender_transition_in_the_table_is_allowed(
    source: TenderStatus, event: TenderEvent
) -> None:
    assert next_status(source, event) == TENDERS.transitions[(source, event)]


@pytest.mark.parametrize(
    ("source", "event"),
    itertools.product(
        [TenderStatus.FILLED, TenderStatus.CANCELLED, TenderStatus.EXPIRED], TenderEvent
    ),
)
def test_a_terminal_tender_accepts_nothing(source: TenderStatus, event: TenderEvent) -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_status(source, event)
    assert refused.value.code is ResponseCode.GONE
    assert refused.value.description.endswith(f"is {source} (allowed: nothing)")


def test_a_tender_is_open_exactly_while_live_or_partially_filled() -> None:
    assert TENDERS.starts == (TenderStatus.LIVE,)
    assert set(OPEN_STATUSES) == {TenderStatus.LIVE, TenderStatus.PARTIALLY_FILLED}
    assert set(TENDERS.terminal) == set(TenderStatus) - OPEN_STATUSES
    for status, event in itertools.product(OPEN_STATUSES, TenderEvent):
        assert (status, event) in TENDERS.transitions


@pytest.mark.parametrize(
    ("states", "option", "first"),
    [
        ((), False, None),
        ((IOI, TENDER, TRANSACTION, DELIVERY, DELIVERY, PUBLICATION), False, None),
        ((TENDER, TRANSACTION, PUBLICATION), False, None),
        ((TENDER, TRANSACTION, EXERCISE, DELIVERY, EXERCISE, EXERCISE, PUBLICATION), True, None),
        ((TENDER, TRANSACTION, EXERCISE), False, 2),
        ((TRANSACTION, DELIVERY), False, 0),
        ((IOI, TRANSACTION), False, 1),
        ((TENDER, TENDER), False, 1),
        ((TENDER, TRANSACTION, PUBLICATION, DELIVERY), False, 3),
        ((TENDER, TransactiveState.TRANSPORT_COMMITMENT), False, 1),
    ],
)
def test_first_illegal_points_at_the_state_that_cannot_follow(
    states: tuple[TransactiveState, ...], option: bool, first: int | None
) -> None:
    assert first_illegal(states, option=option) == first
    assert is_legal_sequence(iter(states), option=option) is (first is None)


@given(
    start=st.sampled_from(DEALS.starts),
    events=st.lists(st.sampled_from(list(DealEvent)), max_size=30),
    option=st.booleans(),
)
def test_random_deal_events_never_leave_the_table(
    start: TransactiveState, events: list[DealEvent], option: bool
) -> None:
    state = start
    visited = [start]
    for event in events:
        allowed = (state, event) in DEALS.transitions and (
            option or event not in OPTION_ONLY_EVENTS
        )
        try:
            following = next_state(state, event, option=option)
        except TransitionRefused as refused:
            assert not allowed
            assert refused.code is DEALS.refusal
            continue
        assert allowed
        assert following == DEALS.transitions[(state, event)]
        state = following
        visited.append(state)
    assert is_legal_sequence(visited, option=option)


@given(events=st.lists(st.sampled_from(list(TenderEvent)), max_size=20))
def test_random_tender_events_never_leave_the_table(events: list[TenderEvent]) -> None:
    status = TENDERS.starts[0]
    for event in events:
        before = status
        try:
            status = next_status(status, event)
        except TransitionRefused as refused:
            assert before not in OPEN_STATUSES
            assert refused.code is ResponseCode.GONE
            continue
        assert status == TENDERS.transitions[(before, event)]
        assert before in OPEN_STATUSES
