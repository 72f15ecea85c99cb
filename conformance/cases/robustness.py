"""Robustness: every input gets a clean answer.

Each request of the schema group's tour of the operations is sent with one field set to an
extreme value of ``temix.conformance.extremes`` (zero and overflowing durations, instants at the
ends of ``xs:dateTime``, numbers beyond the float range, huge and unusual ids), signed like any
other request. A value may be legal or not; either way the endpoint answers with its reply or a
Client fault. A Server fault says the endpoint failed on input it should have judged.
"""

from __future__ import annotations

from lxml import etree

from temix import codec
from temix.conformance import extremes
from temix.conformance.cases.schema import (
    declared_tour,
    refused_as_invalid,
    tender_not_stored,
    tender_request,
)
from temix.conformance.catalogue import case
from temix.conformance.trial import Trial
from temix.namespaces import prefixed


def _server_fault(code: str) -> bool:
    return code.endswith("}Server") or code.endswith("}Receiver")


@case(
    "TMX-RBS-001",
    "Each operation answers a request with an extreme value in any of its fields (a date-time, "
    "duration, quantity, price or id at or beyond its type's range) with its reply or a Client "
    "fault, never a Server fault",
    "SOAP 1.1 section 4.4.1 (Client and Server faults); SOAP 1.2 Part 1 section 5.4.6 "
    "(Sender and Receiver); XML Schema 1.0 Part 2 (xs:float, xs:dateTime, xs:duration)",
)
def extreme_values_get_clean_answers(trial: Trial) -> None:
    failures = []
    for call, operation in declared_tour(trial):
        payload = codec.encode(call.payload())
        route = trial.route(operation.request)
        for field in _one_field_of_each_kind(payload):
            for value in extremes.EXTREMES[field.kind]:
                spoilt = etree.fromstring(extremes.with_value(payload, field, value))
                reply = trial.post(route, trial.envelope(spoilt, signer=call.signer))
                fault = reply.fault() if reply.is_soap else None
                if not reply.is_soap or b"Traceback" in reply.body:
                    failures.append(
                        f"{call.operation} {field.name}={value[:30]!r}: {reply.summary}"
                    )
                elif fault is not None and _server_fault(fault.code):
                    failures.append(
                        f"{call.operation} {field.name}={value[:30]!r}: {prefixed(fault.code)} "
                        f"{fault.reason[:80]}"
                    )
    trial.expect(
        not failures,
        f"{len(failures)} extreme values were not answered cleanly: " + "; ".join(failures[:5]),
    )


def _one_field_of_each_kind(payload: etree._Element) -> list[extremes.Field]:
    first: dict[str, extremes.Field] = {}
    for field in extremes.fields(payload):
        first.setdefault(field.kind, field)
    return list(first.values())


@case(
    "TMX-RBS-002",
    "A quantity the schema's xs:float excludes (INF, NaN, or a lexical beyond the float range, "
    "which xs:float reads as INF) is refused with a Client fault and not stored",
    "EMIX 1.0 (emix:quantity is xs:float); XML Schema 1.0 Part 2 section 3.2.4 (float); "
    "temix profile: docs/profile.md (quantities and money)",
    after=("TMX-SCH-003",),
)
def quantity_beyond_float_refused(trial: Trial) -> None:
    for value in ("1e400", "3.5e38", "INF", "NaN"):
        tender, payload = tender_request(trial)
        (field,) = [item for item in extremes.fields(payload) if item.name == "quantity"]
        spoilt = etree.fromstring(extremes.with_value(payload, field, value))
        refused_as_invalid(trial, spoilt, f"a quantity of {value}")
        tender_not_stored(trial, tender)
