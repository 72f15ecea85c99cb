"""Flaws in schema validation and in the eiResponse."""

from __future__ import annotations

from flaws import Flaw


def _skips_request_validation() -> None:
    from temix.server import soap
    from temix.validation import SchemaSet

    requests = {operation.request for operation in soap.load_operations().values()}
    judged = SchemaSet.problems

    def replies_only(self, element, *args, **kwargs):  # type: ignore[no-untyped-def]
        if element.tag in requests:
            return []
        return judged(self, element, *args, **kwargs)

    SchemaSet.problems = replies_only


def _drops_ref_id() -> None:
    from temix.server import services

    answered = services.response

    def server_ref_id(code, ref_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        return answered(code, f"server-{ref_id[::-1]}", *args, **kwargs)

    services.response = server_ref_id


FLAWS = [
    Flaw(
        "skips-request-validation",
        "TMX-SCH-003",
        "acts on requests without validating them against the schemas",
        _skips_request_validation,
    ),
    Flaw(
        "drops-ref-id",
        "TMX-SCH-002",
        "answers with its own refID instead of echoing the requestID",
        _drops_ref_id,
    ),
]
