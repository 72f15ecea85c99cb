"""Every transactive-state transition temix allows, as two tables.

This is the one module that says which state may follow which; every service asks it and no
other code decides. Like h11's ``_state.py``, the rules are written here in prose and below as
data: a mapping from (state, event) to the next state. A pair missing from a table is refused
with :class:`TransitionRefused`, carrying the table's eiResponse code. ``docs/states.md`` shows
both tables as a diagram generated from the data (``python -m temix.states`` prints it).

Deals: the EMIX transactive states
----------------------------------

A deal is what one product goes through, from the first message about it to the last. Its
states are EMIX's ``transactiveState`` values. The paper (section 2.9, figure 5) and EMIX-377
name five: indication of interest, tender, transaction, delivery, publication; EMIX's
enumeration adds ``exercise`` (used by TeMIX options) and ``transportCommitment`` (unused by
TeMIX: nothing leads to it or from it).

* A deal starts as an indication of interest or directly as a tender (paper 2.9: an indication
  of interest is "a request for a Tender" or a forecast; 2.13: a party creates tenders).
* indicationOfInterest --tender--> tender: a quote or a request for a tender is answered by a
  tender. An indication of interest is never accepted: it is "non-binding and non-actionable"
  (2.9) and quotes "are not actionable whereas a Tender is actionable" (2.13).
* tender --accept--> transaction: "A Transaction is formed by accepting a Tender" (2.9), with
  EiCreateTransaction (2.13). A transaction is never cancelled; a party reverses a position
  with an opposite transaction.
* transaction --exercise--> exercise, for options only: the holder instructs the writer to
  deliver (call) or take (put) the underlying product (2.11, EMIX-377). An option may be
  exercised again, for "any or all hours of the Day" (2.11), also after an earlier exercise has
  been delivered: exercise --exercise--> exercise, delivery --exercise--> exercise.
* transaction or exercise --deliver--> delivery: "Delivery is the metered quantity delivered
  usually offset by a position resulting from several transactions" (2.9). Metering reports
  each interval, so delivery --deliver--> delivery.
* transaction, exercise or delivery --publish--> publication: "Publication communicates
  transacted prices, quantities, costs, or revenues" (2.9): transacted prices and quantities
  once transacted, costs and revenues once delivered. A financial deal may be published without
  a delivery. Publication is last: nothing follows it.

Any other pair is refused with 423 (not actionable): the artifact exists but its state does not
allow the action, such as accepting a quote or exercising a power transaction.

Stored tenders: the lifecycle of an offer
-----------------------------------------

A stored tender is created live and stays actionable while it is live or partially filled:

* live or partiallyFilled --partialAccept--> partiallyFilled: a transaction for less than the
  remaining rate; the quantity may be less than what remains unless the tender is
  integral-only.
* live or partiallyFilled --fullAccept--> filled: a transaction for all of the remaining rate.
* live or partiallyFilled --cancel--> cancelled: its author withdraws what remains (paper 3.5:
  "a tender may be withdrawn by a REP before customer acceptance").
* live or partiallyFilled --expire--> expired: its expiration date passed (paper 2.9: "A Tender
  is a price and quantity for a Transaction with an expiration date time").

filled, cancelled and expired are terminal: every event there is refused with 410 (gone).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from temix.model import TransactiveState
from temix.responses import ResponseCode

IOI = TransactiveState.INDICATION_OF_INTEREST
TENDER = TransactiveState.TENDER
TRANSACTION = TransactiveState.TRANSACTION
EXERCISE = TransactiveState.EXERCISE
DELIVERY = TransactiveState.DELIVERY
PUBLICATION = TransactiveState.PUBLICATION


class DealEvent(StrEnum):
    """What moves a deal from one transactive state to the next."""

    TENDER = "tender"
    ACCEPT = "accept"
    EXERCISE = "exercise"
    DELIVER = "deliver"
    PUBLISH = "publish"


class TenderStatus(StrEnum):
    LIVE = "live"
    PARTIALLY_FILLED = "partiallyFilled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class TenderEvent(StrEnum):
    PARTIAL_ACCEPT = "partialAccept"
    FULL_ACCEPT = "fullAccept"
    CANCEL = "cancel"
    EXPIRE = "expire"


class TransitionRefused(Exception):
    """A (state, event) pair the tables do not allow, with the eiResponse to answer it."""

    def __init__(self, code: ResponseCode, description: str) -> None:
        super().__init__(f"{code.code} {description}")
        self.code = code
        self.description = description


State = TypeVar("State", TransactiveState, TenderStatus)
Event = TypeVar("Event", DealEvent, TenderEvent)


@dataclass(frozen=True)
class StateMachine(Generic[State, Event]):
    """One transition table and how a pair missing from it is refused."""

    name: str
    diagram_id: str
    states: tuple[State, ...]
    starts: tuple[State, ...]
    transitions: Mapping[tuple[State, Event], State]
    refusal: ResponseCode

    def allowed_events(self, state: State) -> tuple[Event, ...]:
        return tuple(event for source, event in self.transitions if source == state)

    @property
    def terminal(self) -> tuple[State, ...]:
        """States something leads to but nothing leaves."""
        targets = set(self.transitions.values()) | set(self.starts)
        return tuple(
            state for state in self.states if state in targets and not self.allowed_events(state)
        )

    def step(self, state: State, event: Event) -> State:
        try:
            return self.transitions[(state, event)]
        except KeyError:
            allowed = ", ".join(self.allowed_events(state)) or "nothing"
            raise TransitionRefused(
                self.refusal,
                f"{event} is not allowed when the {self.name} is {state} (allowed: {allowed})",
            ) from None


DEALS: StateMachine[TransactiveState, DealEvent] = StateMachine(
    name="deal",
    diagram_id="deal",
    states=tuple(TransactiveState),
    starts=(IOI, TENDER),
    transitions={
        (IOI, DealEvent.TENDER): TENDER,
        (TENDER, DealEvent.ACCEPT): TRANSACTION,
        (TRANSACTION, DealEvent.EXERCISE): EXERCISE,
        (EXERCISE, DealEvent.EXERCISE): EXERCISE,
        (DELIVERY, DealEvent.EXERCISE): EXERCISE,
        (TRANSACTION, DealEvent.DELIVER): DELIVERY,
        (EXERCISE, DealEvent.DELIVER): DELIVERY,
        (DELIVERY, DealEvent.DELIVER): DELIVERY,
        (TRANSACTION, DealEvent.PUBLISH): PUBLICATION,
        (EXERCISE, DealEvent.PUBLISH): PUBLICATION,
        (DELIVERY, DealEvent.PUBLISH): PUBLICATION,
    },
    refusal=ResponseCode.NOT_ACTIONABLE,
)

OPTION_ONLY_EVENTS: frozenset[DealEvent] = frozenset({DealEvent.EXERCISE})
"""Events a deal allows only when its product is an option."""

UNUSED_STATES: Mapping[TransactiveState, str] = {
    TransactiveState.TRANSPORT_COMMITMENT: "unused by TeMIX",
}

LIVE = TenderStatus.LIVE
PARTIALLY_FILLED = TenderStatus.PARTIALLY_FILLED

TENDERS: StateMachine[TenderStatus, TenderEvent] = StateMachine(
    name="tender",
    diagram_id="storedTender",
    states=tuple(TenderStatus),
    starts=(LIVE,),
    transitions={
        (LIVE, TenderEvent.PARTIAL_ACCEPT): PARTIALLY_FILLED,
        (LIVE, TenderEvent.FULL_ACCEPT): TenderStatus.FILLED,
        (LIVE, TenderEvent.CANCEL): TenderStatus.CANCELLED,
        (LIVE, TenderEvent.EXPIRE): TenderStatus.EXPIRED,
        (PARTIALLY_FILLED, TenderEvent.PARTIAL_ACCEPT): PARTIALLY_FILLED,
        (PARTIALLY_FILLED, TenderEvent.FULL_ACCEPT): TenderStatus.FILLED,
        (PARTIALLY_FILLED, TenderEvent.CANCEL): TenderStatus.CANCELLED,
        (PARTIALLY_FILLED, TenderEvent.EXPIRE): TenderStatus.EXPIRED,
    },
    refusal=ResponseCode.GONE,
)

OPEN_STATUSES: frozenset[TenderStatus] = frozenset(
    status for status in TenderStatus if TENDERS.allowed_events(status)
)
"""The statuses in which a stored tender is still actionable."""


def next_state(
    state: TransactiveState, event: DealEvent, *, option: bool = False
) -> TransactiveState:
    """The deal state ``event`` leads to; ``option`` says whether the deal's product is one.

    Raises :class:`TransitionRefused` (423) for a pair the deal table does not allow.
    """
    if event in OPTION_ONLY_EVENTS and not option:
        raise TransitionRefused(
            DEALS.refusal, f"{event} applies to options only, and this product is not an option"
        )
    return DEALS.step(state, event)


def next_status(status: TenderStatus, event: TenderEvent) -> TenderStatus:
    """The stored tender status ``event`` leads to; raises :class:`TransitionRefused` (410)."""
    return TENDERS.step(status, event)


def _can_follow(previous: TransactiveState, following: TransactiveState, option: bool) -> bool:
    return any(
        target == following and (option or event not in OPTION_ONLY_EVENTS)
        for (source, event), target in DEALS.transitions.items()
        if source == previous
    )


def first_illegal(states: Sequence[TransactiveState], *, option: bool = False) -> int | None:
    """The index of the first state that cannot come where it is, or None if all can.

    For checking a captured sequence of messages about one deal, ordered by time: the first
    must be a state a deal starts in, and each next one must be reachable from the one before
    by one event of the deal table.
    """
    for index, state in enumerate(states):
        legal = (
            state in DEALS.starts if index == 0 else _can_follow(states[index - 1], state, option)
        )
        if not legal:
            return index
    return None


def is_legal_sequence(states: Iterable[TransactiveState], *, option: bool = False) -> bool:
    return first_illegal(tuple(states), option=option) is None


def _event_label(machine: StateMachine[State, Event], event: Event) -> str:
    return f"{event} (options only)" if machine is DEALS and event in OPTION_ONLY_EVENTS else event


def _mermaid_lines(machine: StateMachine[State, Event]) -> list[str]:
    lines = [f"    state {machine.diagram_id} {{"]
    lines += [f"        [*] --> {state}" for state in machine.starts]
    lines += [
        f"        {source} --> {target} : {_event_label(machine, event)}"
        for (source, event), target in machine.transitions.items()
    ]
    lines += [f"        {state} --> [*]" for state in machine.terminal]
    if machine is DEALS:
        lines += [f"        {state} : {why}" for state, why in UNUSED_STATES.items()]
    lines.append("    }")
    return lines


def state_diagram() -> str:
    """Both tables as one Mermaid ``stateDiagram-v2``, one composite state per table."""
    lines = ["stateDiagram-v2"]
    for machine in (DEALS, TENDERS):
        lines += _mermaid_lines(machine)
    return "\n".join(lines) + "\n"


def _markdown_table(machine: StateMachine[State, Event]) -> list[str]:
    rows = ["| from | event | to |", "|---|---|---|"]
    rows += [
        f"| {source} | {_event_label(machine, event)} | {target} |"
        for (source, event), target in machine.transitions.items()
    ]
    rows.append("")
    rows.append(
        f"A {machine.name} starts as {' or '.join(machine.starts)}. Any other pair is refused "
        f"with eiResponse `{machine.refusal.code}` ({machine.refusal.title})."
    )
    return rows


def doc_block() -> str:
    """What ``docs/states.md`` holds between its markers: the diagram and both tables."""
    lines = ["```mermaid", state_diagram().rstrip("\n"), "```", ""]
    lines += ["### Deals (`deal`)", "", *_markdown_table(DEALS)]
    lines += ["", "### Stored tenders (`storedTender`)", "", *_markdown_table(TENDERS)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(doc_block(), end="")
