"""The eiResponse codes temix answers with, and what each one means.

A refused request is answered with an ``ei:eiResponse`` in the ordinary reply payload, never
with a SOAP fault: faults are kept for protocol and security errors. Energy Interoperation
gives ``ei:responseCode`` three digits and borrows their meaning from HTTP, so temix uses the
HTTP code whose meaning is closest and writes the TeMIX reason in ``ei:responseDescription``.

Why these codes:

* 206 (HTTP's partial content) for an item a list reply matched but left out: the request
  succeeded, and the reply says exactly what it does not hold.
* 403 rather than 401: the sender is known (the message layer authenticated it); it is just not
  the party allowed to act on this tender, quote or transaction.
* 409 for "the stored state moved under you": another party took the quantity first, an id is
  already used, or a request id comes back with a different payload. Sending again after
  re-reading may succeed.
* 410 for a tender that existed and is now over (expired, cancelled, filled): unlike 404, the id
  is known, and unlike 409, no retry can succeed.
* 422 for a well-formed payload that does not fit the terms it is offered under (the market
  context's currency, units, interval granularity, durations, products and quantity step; an
  option's exercise terms; an integral-only tender). ``ei:responseTermsViolated`` lists the
  violated EMIX terms where EMIX has an element for them.
* 429 for a party over the server's request rate: nothing was done, and nothing is remembered
  of the request, so sending it again later runs it.
* 423 for an artifact whose transactive state does not allow the action (an indication of
  interest accepted, a power transaction exercised): it exists and is valid, it is just not
  actionable that way. See :mod:`temix.states`.

``python -m temix.responses`` prints the table that ``docs/responses.md`` holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum

from temix.model import ModelError, Response, TermViolation


class ResponseCode(Enum):
    """An ``ei:responseCode``, with a short title and when temix answers with it."""

    OK = ("200", "OK", "The request was carried out.")
    NOT_LISTED = (
        "206",
        "not listed",
        "A per-item response of a list reply with more matches than it may hold: the item it "
        "names matched but is not in this reply; ask for it by id.",
    )
    BAD_REQUEST = (
        "400",
        "bad request",
        "The payload does not fit the TeMIX profile: a missing or contradictory element, an "
        "already expired tender, a tender offered to nobody or to its own author, a "
        "non-positive quantity.",
    )
    NOT_AUTHORISED = (
        "403",
        "not authorised",
        "The sender may not do this: cancel a tender it did not write, accept a tender not "
        "offered to it or its own tender, exercise an option it does not hold.",
    )
    UNKNOWN = (
        "404",
        "unknown",
        "No tender, quote, transaction or market context has the id or URI given.",
    )
    CONFLICT = (
        "409",
        "conflict",
        "The stored state does not allow it now: less quantity remains than asked for (another "
        "party took it first), an option's rate is already exercised, an id is already used, "
        "or a request id is reused with a different payload.",
    )
    GONE = (
        "410",
        "gone",
        "The tender was live once and is not any more: it expired, was cancelled or was filled.",
    )
    TERMS_VIOLATED = (
        "422",
        "terms violated",
        "The product does not fit the terms it is offered under: the market context's "
        "currency, units, interval granularity, durations, products or quantity step, an "
        "option's exercise terms, or an integral-only tender. Violated EMIX terms are listed "
        "in responseTermsViolated.",
    )
    TOO_MANY_REQUESTS = (
        "429",
        "too many requests",
        "The sender sent requests faster than the server's per-party rate allows (temix serve "
        "--party-rate); the same request sent again a second later is answered.",
    )
    NOT_ACTIONABLE = (
        "423",
        "not actionable",
        "The artifact's transactive state does not allow the action: a quote (indication of "
        "interest) cannot be accepted, only an option transaction can be exercised.",
    )

    def __init__(self, code: str, title: str, meaning: str) -> None:
        self.code = code
        self.title = title
        self.meaning = meaning

    @classmethod
    def from_code(cls, code: str) -> ResponseCode:
        for member in cls:
            if member.code == code:
                return member
        raise ModelError(f"temix does not answer with response code {code!r}")


def response(
    code: ResponseCode,
    ref_id: str,
    description: str | None = None,
    terms_violated: Sequence[TermViolation] = (),
    created: datetime | None = None,
) -> Response:
    """The ``ei:eiResponse`` for ``code``; the description defaults to the code's title."""
    return Response(
        code=code.code,
        ref_id=ref_id,
        description=description if description is not None else code.title,
        terms_violated=tuple(terms_violated),
        created=created,
    )


def response_table() -> str:
    """The Markdown table of every code, as ``docs/responses.md`` shows it."""
    rows = ["| code | title | when temix answers with it |", "|---|---|---|"]
    rows += [f"| `{member.code}` | {member.title} | {member.meaning} |" for member in ResponseCode]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(response_table(), end="")
