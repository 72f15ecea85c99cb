"""Flaws in judging extreme input."""

from __future__ import annotations

from flaws import Flaw


def _lets_model_errors_escape() -> None:
    """The decoder builds model values without turning their refusals into a client error:
    a zero-length interval is an internal error."""
    from temix import codec

    codec._model = lambda path, build: build()


def _reads_float_overflow_as_a_number() -> None:
    """A quantity beyond the float range passes the schema check and the decoder."""
    from decimal import Decimal

    from temix import codec
    from temix.validation import SchemaSet

    codec.FLOAT_MAX = Decimal("Infinity")
    judged = SchemaSet.problems

    def without_float_range(self, element, *args, **kwargs):  # type: ignore[no-untyped-def]
        found = judged(self, element, *args, **kwargs)
        return [problem for problem in found if "maxInclusive" not in problem.reason]

    SchemaSet.problems = without_float_range


FLAWS = [
    Flaw(
        "lets-model-errors-escape",
        "TMX-RBS-001",
        "answers a zero-length or overflowing interval with an internal error",
        _lets_model_errors_escape,
    ),
    Flaw(
        "reads-float-overflow-as-a-number",
        "TMX-RBS-002",
        "stores a quantity of 1e400 (xs:float's INF) as a 401-digit number",
        _reads_float_overflow_as_a_number,
    ),
]
