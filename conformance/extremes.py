"""Extreme values for the fields of a request, and the mutation that writes one into a payload.

The robustness tests of ``tests/`` draw from these tables with Hypothesis; the conformance
suite's robustness group sends each of them to a vendor's endpoint. The values are the edges a
schema-shaped message can reach: zero, negative and overflowing durations, instants at the ends
of ``xs:dateTime``, numbers beyond the float and decimal ranges and in exponent form, and ids
that are empty, huge or unusual. Some are legal (an endpoint may accept them), the rest are not;
an endpoint must answer every one with a reply or a client fault, never a server fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

EXTREMES: dict[str, tuple[str, ...]] = {
    "date-time": (
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:00:00Z",
        "1970-01-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00.5Z",
        "2026-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "-0001-01-01T00:00:00Z",
        "",
    ),
    "duration": (
        "PT0S",
        "P0D",
        "PT1S",
        "PT99999999999H",
        "P99999999D",
        "P3652059D",
        "-PT1H",
        "P1W",
        "PT",
        "",
    ),
    "quantity": (
        "0",
        "-0",
        "0.0005",
        "1e400",
        "3.5e38",
        "3.4028235E38",
        "1e-50",
        "1E3",
        "INF",
        "-INF",
        "NaN",
        ".5",
        "+1",
        "",
    ),
    "decimal": (
        "0",
        "-1",
        "-0.0",
        "1e3",
        "9" * 400,
        "0." + "0" * 400 + "1",
        "NaN",
        "INF",
        "1.",
        "",
    ),
    "id": ("", " ", "x" * 10_000, "\u202e\u0000", "a\tb", "\U0001f600", "<&>"),
}
"""Values by the kind of field they go in."""

FIELD_KINDS: dict[str, str] = {
    "date-time": "date-time",
    "expirationDate": "date-time",
    "duration": "duration",
    "quantity": "quantity",
    "value": "decimal",
    "requestID": "id",
    "tenderID": "id",
    "transactionID": "id",
    "quoteID": "id",
    "partyID": "id",
    "counterPartyID": "id",
    "uid": "id",
    "text": "id",
    "node": "id",
    "marketContext": "id",
}
"""The kind of each field, by the local name of the element holding its text."""


@dataclass(frozen=True)
class Field:
    """A text-only element of a payload: its position in document order and its kind."""

    index: int
    name: str
    kind: str


def fields(payload: etree._Element) -> tuple[Field, ...]:
    """The payload's fields that :data:`EXTREMES` has values for."""
    return tuple(
        Field(index, etree.QName(element).localname, FIELD_KINDS[etree.QName(element).localname])
        for index, element in enumerate(_text_elements(payload))
        if etree.QName(element).localname in FIELD_KINDS
    )


def with_value(payload: etree._Element, field: Field, value: str) -> bytes:
    """The payload's bytes with ``value`` as the text of ``field``; ``payload`` is unchanged.
    A character XML cannot carry (a NUL) becomes U+FFFD, so the message stays well-formed."""
    copy = etree.fromstring(etree.tostring(payload))
    element = list(_text_elements(copy))[field.index]
    element.text = "".join(char if _xml_char(char) else "\ufffd" for char in value)
    return etree.tostring(copy)


def cases(payload: etree._Element) -> Iterator[tuple[Field, str]]:
    """Every field of ``payload`` with every value of its kind."""
    for field in fields(payload):
        for value in EXTREMES[field.kind]:
            yield field, value


def _text_elements(payload: etree._Element) -> Iterator[etree._Element]:
    return (
        element
        for element in payload.iter()
        if isinstance(element.tag, str) and not any(isinstance(c.tag, str) for c in element)
    )


def _xml_char(char: str) -> bool:
    code = ord(char)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0x10FFFF
