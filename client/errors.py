"""What can go wrong in a call, one exception type per cause, all under :class:`ClientError`.

* :class:`Refused`: the endpoint answered, verified, with an eiResponse that is not 2xx.
* :class:`SoapFault`: the endpoint answered, verified (or unsigned when the client does not
  sign), with a SOAP fault.
* :class:`UnverifiedReply`: the reply is not signed by the pinned server certificate, or its
  signature does not verify; nothing in it is trusted (a fault's text is kept for diagnosis).
* :class:`BadReply`: a verified reply that is not the operation's reply payload.
* :class:`TransportFailure`: no SOAP answer at all, after the retries.
"""

from __future__ import annotations

from typing import Any

from temix.codec import format_decimal, format_duration
from temix.model import (
    AvailabilitySchedule,
    MarketGranularity,
    MinimumNotification,
    Response,
    Term,
)


class ClientError(Exception):
    """A call did not return its result."""


class Refused(ClientError):
    """The endpoint refused the request: ``response`` is the overall eiResponse, ``reply``
    the whole reply payload (its per-item ``responses`` say which items failed)."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.response: Response = reply.response
        lines = [f"refused {self.response.code}: {self.response.description or ''}"]
        lines.extend(_violations(self.response, "  "))
        for item in getattr(reply, "responses", ()):
            if not item.ok:
                lines.append(f"  {item.ref_id}: {item.code} {item.description or ''}")
                lines.extend(_violations(item, "    "))
        super().__init__("\n".join(lines))

    @property
    def code(self) -> str:
        return self.response.code

    @property
    def description(self) -> str | None:
        return self.response.description

    @property
    def violated_terms(self) -> list[Term]:
        """The terms the overall eiResponse and each per-item one list in
        responseTermsViolated, in that order."""
        responses = (self.response, *getattr(self.reply, "responses", ()))
        return [violation.term for answer in responses for violation in answer.terms_violated]


def _term_text(term: Term) -> str:
    """A violated term as its EMIX element and value."""
    if isinstance(term, MinimumNotification):
        return f"minimumNotificationDuration {format_duration(term.duration)}"
    if isinstance(term, MarketGranularity):
        return f"marketGranularity {format_decimal(term.quantity)} {term.power_unit.symbol}"
    if isinstance(term, AvailabilitySchedule):
        count = len(term.windows)
        return f"availabilitySchedule ({count} window{'s' if count > 1 else ''})"
    return f"settlement {term.settlement.value}"


def _violations(response: Response, indent: str) -> list[str]:
    return [
        f"{indent}violates {_term_text(violation.term)}: {violation.description}"
        for violation in response.terms_violated
    ]


class SoapFault(ClientError):
    """A SOAP fault: ``code`` and ``subcodes`` as qualified names (``{namespace}local``),
    ``reason`` its text. ``verified`` is False when the client does not verify signatures."""

    def __init__(
        self, code: str, subcodes: tuple[str, ...], reason: str, *, verified: bool
    ) -> None:
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
        self.verified = verified
        names = " ".join((code, *subcodes))
        super().__init__(f"SOAP fault {names}: {reason}")


class UnverifiedReply(ClientError):
    """The reply's signature is missing, not the pinned server's, or does not verify.

    ``cause`` says which; ``fault`` is the unverified fault the reply held, if any, so that an
    unsigned security fault from a peer that refused our request can still be read.
    """

    def __init__(self, cause: str, fault: SoapFault | None = None) -> None:
        self.cause = cause
        self.fault = fault
        message = f"the reply is not verified: {cause}"
        if fault is not None:
            message += f" (it holds an unverified {fault})"
        super().__init__(message)


class BadReply(ClientError):
    """A reply that is not the operation's reply payload (not XML, not a SOAP Envelope, the
    wrong element, or a payload the codec cannot read)."""


class TransportFailure(ClientError):
    """No SOAP answer: the connection failed or timed out after every retry, or the HTTP
    answer is not SOAP (``status`` is its HTTP status then)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)
