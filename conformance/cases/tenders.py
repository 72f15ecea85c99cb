"""Tenders: create, distribute, request, cancel and expiry (TeMIX paper 2.9, 2.13, 3.5).

The helpers at the top are shared with the transaction and authorisation tests: they trade in
whole lots (so every quantity fits the market's quantity step) and read a tender back the way
a party sees it, through EiRequestTender asked by the tender's id.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

from lxml import etree

from temix import codec
from temix import payloads as p
from temix.client.errors import Refused
from temix.conformance.cases.market import MARKET_CONTEXT
from temix.conformance.catalogue import Failed, NotApplicable, case
from temix.conformance.trial import RawReply, Trial
from temix.model import (
    Interval,
    MarketContext,
    MarketGranularity,
    Quote,
    Side,
    Target,
    Tender,
    TransactiveState,
)
from temix.namespaces import EMIX

CREATE_TENDER = "TMX-TND-001"


def lot(market: MarketContext) -> Decimal:
    """The smallest multiple of the market's quantity step that is at least one power unit."""
    step = market.quantity_step
    return step * max(1, (Decimal(1) / step).to_integral_value(rounding=ROUND_CEILING))


def lots(trial: Trial, count: int, market: MarketContext | None = None) -> Decimal:
    """``count`` lots of ``market`` (default: the run's market)."""
    return lot(market or trial.market) * count


def listed_ids(trial: Trial, party: str, **filters: tuple[str | Interval, ...]) -> set[str]:
    """The ids of the tenders ``party``'s EiRequestTender lists with ``filters`` (keyword
    arguments of :meth:`temix.client.api.Client.request_tenders`)."""
    found = trial.succeeds(
        lambda: trial.client(party).request_tenders(**filters),
        f"{party} asking for its standing tenders",
    )
    return {tender.tender_id for tender in found}


def standing(trial: Trial, party: str, tender_id: str) -> Tender | None:
    """Tender ``tender_id`` as ``party`` sees it (its quantity is what remains), or None when
    ``party``'s EiRequestTender does not list it."""
    found = trial.succeeds(
        lambda: trial.client(party).request_tenders(tender_ids=(tender_id,)),
        f"{party} asking for tender {tender_id}",
    )
    matching = [tender for tender in found if tender.tender_id == tender_id]
    trial.expect(len(matching) <= 1, f"{party} was sent tender {tender_id} {len(matching)} times")
    return matching[0] if matching else None


def expect_remaining(trial: Trial, party: str, tender: Tender, remaining: Decimal) -> None:
    """Fail unless ``party`` sees ``tender`` standing with ``remaining`` as its quantity."""
    seen = standing(trial, party, tender.tender_id)
    trial.expect(seen is not None, f"tender {tender.tender_id} is not listed to {party}")
    assert seen is not None
    quantity = seen.product.description.quantity
    trial.expect(
        quantity == remaining,
        f"{party} sees tender {tender.tender_id} with {quantity} remaining, expected {remaining}",
    )


def expect_not_listed(trial: Trial, party: str, tender_id: str, why: str) -> None:
    trial.expect(
        standing(trial, party, tender_id) is None,
        f"{party}'s EiRequestTender still lists tender {tender_id}, which {why}",
    )


def differences(seen: Tender, sent: Tender) -> list[str]:
    """The terms in which a listed tender differs from the one sent (its quantity excepted:
    a listing shows what remains)."""
    wanted, got = sent.product, seen.product
    terms = {
        "side": (got.side, wanted.side),
        "interval": (got.interval, wanted.interval),
        "market context": (got.market_context, wanted.market_context),
        "price": (got.description.price, wanted.description.price),
        "interface": (got.description.interface, wanted.description.interface),
        "expiry": (got.expires, wanted.expires),
    }
    return [
        f"{name} {was} (sent {sent_as})" for name, (was, sent_as) in terms.items() if was != sent_as
    ]


def raw_create_tender(trial: Trial, tender: Tender, quantity: str) -> RawReply:
    """The reply to an EiCreateTender of ``tender`` whose ``emix:quantity`` is rewritten to
    ``quantity`` after encoding: the model refuses to build a non-positive quantity."""
    payload = codec.encode(
        p.CreateTender(trial.new_id(), trial.party, trial.counterparty, (tender,))
    )
    (rate,) = payload.iter(f"{{{EMIX}}}quantity")
    rate.text = quantity
    return trial.post(trial.route(p.CreateTender), trial.envelope(payload))


def raw_code(reply: RawReply, what: str) -> str:
    """The eiResponse code of a raw reply; fails on a SOAP fault."""
    fault = reply.fault()
    if fault is not None:
        raise Failed(f"{what}: expected an eiResponse, got {fault}")
    return reply.payload().response.code


def _is_client_fault(code: str) -> bool:
    return etree.QName(code).localname in ("Client", "Sender")


# --- Creating and distributing ------------------------------------------------------------


@case(
    CREATE_TENDER,
    "EiCreateTender confirms each tender by id and the counterparty then sees it with its "
    "whole quantity",
    "TeMIX paper 2.9, 2.13; EI 1.0 EiCreateTender, EiRequestTender",
    after=[MARKET_CONTEXT],
)
def create_tender(trial: Trial) -> None:
    sent = (
        trial.tender(quantity=lots(trial, 10)),
        trial.tender(side=Side.BUY, quantity=lots(trial, 5), price="39.75"),
    )
    reply = trial.succeeds(
        lambda: trial.client().create_tender(trial.counterparty, *sent),
        f"offering two tenders to {trial.counterparty}",
    )
    ids = [tender.tender_id for tender in sent]
    trial.expect(
        sorted(reply.tender_ids) == sorted(ids),
        f"eiCreatedTender names tenders {list(reply.tender_ids)}, not the ones created {ids}",
    )
    codes = {item.ref_id: item.code for item in reply.responses}
    for tender_id in ids:
        trial.expect(
            codes.get(tender_id) == "200",
            f"the per-tender eiResponse for {tender_id} is {codes.get(tender_id, 'missing')}",
        )
    for tender in sent:
        for viewer in (trial.counterparty, trial.party):
            seen = standing(trial, viewer, tender.tender_id)
            trial.expect(seen is not None, f"{viewer} is not shown tender {tender.tender_id}")
            assert seen is not None
            changed = differences(seen, tender)
            trial.expect(
                not changed, f"{viewer} sees tender {tender.tender_id} with " + "; ".join(changed)
            )
            quantity = seen.product.description.quantity
            trial.expect(
                quantity == tender.product.description.quantity,
                f"{viewer} sees tender {tender.tender_id} with {quantity} remaining, "
                f"not the {tender.product.description.quantity} tendered",
            )


@case(
    "TMX-TND-002",
    "EiDistributeTender offers a tender to the parties of its target, who then see it",
    "TeMIX paper 2.13: EiDistributeTender; EI 1.0 EiDistributeTender",
    requires=["distribute"],
    after=[CREATE_TENDER],
)
def distribute_tender(trial: Trial) -> None:
    tender = trial.tender(quantity=lots(trial, 10))
    reply = trial.succeeds(
        lambda: trial.client().distribute_tender(Target(party_ids=(trial.counterparty,)), tender),
        f"distributing a tender to {trial.counterparty}",
    )
    trial.expect(
        tender.tender_id in reply.tender_ids,
        f"eiCreatedTender names {list(reply.tender_ids)}, not {tender.tender_id}",
    )
    expect_remaining(trial, trial.counterparty, tender, tender.product.description.quantity)


# --- Requesting -------------------------------------------------------------------------


@case(
    "TMX-TND-003",
    "EiRequestTender filtered by tender id lists that tender and no other",
    "TeMIX paper 2.13: EiRequestTender; EI 1.0 EiRequestTender",
    after=[CREATE_TENDER],
)
def request_by_id(trial: Trial) -> None:
    asked, other = trial.tender(), trial.tender()
    trial.offer(asked, other)
    found = listed_ids(trial, trial.counterparty, tender_ids=(asked.tender_id,))
    trial.expect(
        found == {asked.tender_id},
        f"asked for tender {asked.tender_id}, got {sorted(found) or 'none'}",
    )


@case(
    "TMX-TND-004",
    "EiRequestTender filtered by counterparty lists only the tenders that party wrote",
    "TeMIX paper 2.13: EiRequestTender; EI 1.0 EiRequestTender counterPartyID",
    after=[CREATE_TENDER],
)
def request_by_author(trial: Trial) -> None:
    mine = trial.tender()
    theirs = trial.tender(side=Side.BUY)
    trial.offer(mine)
    trial.offer(theirs, author=trial.counterparty, to=trial.party)
    both = (mine.tender_id, theirs.tender_id)
    for author, wrote, other in (
        (trial.counterparty, theirs, mine),
        (trial.party, mine, theirs),
    ):
        found = listed_ids(trial, trial.party, counterparties=(author,), tender_ids=both)
        trial.expect(
            wrote.tender_id in found,
            f"asked for {author}'s tenders, the listing lacks {wrote.tender_id}, which it wrote",
        )
        trial.expect(
            other.tender_id not in found,
            f"asked for {author}'s tenders, the listing holds {other.tender_id}, "
            f"which {author} did not write",
        )


@case(
    "TMX-TND-005",
    "EiRequestTender filtered by interval lists the tenders delivering during it and no other",
    "TeMIX paper 2.13: EiRequestTender; EI 1.0 EiRequestTender interval",
    after=[CREATE_TENDER],
)
def request_by_interval(trial: Trial) -> None:
    early = trial.tender()
    trial.interval()
    late = trial.tender()
    trial.offer(early, late)
    ids = (early.tender_id, late.tender_id)
    start, length = early.product.interval.start, early.product.interval.duration
    inside = Interval(start + length / 4, length / 2)
    found = listed_ids(trial, trial.counterparty, intervals=(inside,), tender_ids=ids)
    trial.expect(
        found == {early.tender_id},
        f"asked for tenders delivering during part of {early.tender_id}'s hour, got "
        f"{sorted(found) or 'none'}",
    )
    spanning = Interval.between(start, late.product.interval.end)
    found = listed_ids(trial, trial.counterparty, intervals=(spanning,), tender_ids=ids)
    trial.expect(
        found == set(ids),
        f"asked for tenders delivering during the hours of both, got {sorted(found) or 'none'}",
    )


@case(
    "TMX-TND-006",
    "EiRequestTender filtered by market context lists only the tenders in that market",
    "TeMIX paper 2.12, 2.13; EI 1.0 EiRequestTender marketContext",
    after=[CREATE_TENDER],
)
def request_by_market(trial: Trial) -> None:
    """With a daylight-saving market among the inputs, a tender in each market is listed only
    under its own; without one, a second market context URI that no market has must list
    nothing (an endpoint may refuse it as unknown instead)."""
    tender = trial.tender()
    trial.offer(tender)
    sent = [(trial.market.uri, tender)]
    other_uri = trial.capabilities.inputs.get("dst-market-context")
    if other_uri is not None and other_uri != trial.market.uri:
        other_market = trial.run.market(other_uri)
        elsewhere = trial.tender(market=other_market, quantity=lots(trial, 10, other_market))
        trial.offer(elsewhere)
        sent.append((other_uri, elsewhere))
    else:
        other_uri = f"urn:temix:conformance:unknown:{trial.new_id()}"
    ids = tuple(each.tender_id for _, each in sent)
    for uri in (trial.market.uri, other_uri):
        try:
            found = trial.client(trial.counterparty).request_tenders(
                market_contexts=(uri,), tender_ids=ids
            )
        except Refused as refusal:
            if any(uri == market for market, _ in sent):
                raise Failed(f"asking for tenders in {uri}: {refusal}") from None
            continue
        listed = {each.tender_id for each in found}
        expected = {each.tender_id for market, each in sent if market == uri}
        trial.expect(
            listed == expected,
            f"asked for tenders in {uri}, got {sorted(listed) or 'none'}, "
            f"expected {sorted(expected) or 'none'}",
        )


# --- Cancelling ---------------------------------------------------------------------------


@case(
    "TMX-TND-007",
    "A tender its author cancels is no longer listed and accepting it is refused with 410",
    "TeMIX paper 3.5: a tender may be withdrawn before acceptance; EI 1.0 EiCancelTender",
    after=[CREATE_TENDER],
)
def cancel_tender(trial: Trial) -> None:
    tender = trial.tender(quantity=lots(trial, 10))
    trial.offer(tender)
    reply = trial.succeeds(
        lambda: trial.client().cancel_tender(tender.tender_id, counterparty=trial.counterparty),
        f"cancelling tender {tender.tender_id}",
    )
    codes = {item.ref_id: item.code for item in reply.responses}
    trial.expect(
        codes.get(tender.tender_id, "200") == "200",
        f"the per-tender eiResponse for {tender.tender_id} is {codes.get(tender.tender_id)}",
    )
    for viewer in (trial.counterparty, trial.party):
        expect_not_listed(trial, viewer, tender.tender_id, "was cancelled")
    trial.refused(
        lambda: trial.client(trial.counterparty).accept(
            tender, trial.party, transaction_id=trial.new_id()
        ),
        f"accepting cancelled tender {tender.tender_id}",
        "410",
    )


@case(
    "TMX-TND-008",
    "Cancelling a tender that is already cancelled is refused with 410",
    "TeMIX paper 3.5; EI 1.0 EiCancelTender; temix profile: docs/states.md",
    after=[CREATE_TENDER],
)
def cancel_twice(trial: Trial) -> None:
    tender = trial.tender()
    trial.offer(tender)
    trial.succeeds(
        lambda: trial.client().cancel_tender(tender.tender_id),
        f"cancelling tender {tender.tender_id}",
    )
    trial.refused(
        lambda: trial.client().cancel_tender(tender.tender_id),
        f"cancelling tender {tender.tender_id} a second time",
        "410",
    )


# --- Expiry -------------------------------------------------------------------------------


@case(
    "TMX-TND-009",
    "A tender whose expiry has already passed is refused with 400 and not listed",
    "TeMIX paper 2.9: a tender has an expiration date time; EMIX-377 Expires",
    after=[CREATE_TENDER],
)
def already_expired(trial: Trial) -> None:
    expired = (trial.now() - timedelta(minutes=5)).replace(microsecond=0)
    tender = trial.tender(expires=expired)
    trial.refused(
        lambda: trial.client().create_tender(trial.counterparty, tender),
        f"a tender that expired at {expired.isoformat()}",
        "400",
    )
    expect_not_listed(trial, trial.counterparty, tender.tender_id, "was refused")


EXPIRES_IN = timedelta(seconds=3)
"""How far ahead a tender that must expire during its test expires."""
CLOCK_MARGIN = timedelta(seconds=2)
"""How long after that expiry the test looks again: the endpoint's clock may lag the suite's."""


@case(
    "TMX-TND-010",
    "A tender that reaches its expiry is no longer listed and accepting it is refused with 410",
    "TeMIX paper 2.9: a tender has an expiration date time; EMIX-377 Expires",
    after=[CREATE_TENDER],
)
def expires_while_standing(trial: Trial) -> None:
    expires = (trial.now() + EXPIRES_IN).replace(microsecond=0)
    tender = trial.tender(expires=expires)
    trial.offer(tender)
    trial.expect(
        standing(trial, trial.counterparty, tender.tender_id) is not None,
        f"tender {tender.tender_id} is not listed before its expiry {expires.isoformat()}",
    )
    trial.wait_until(expires + CLOCK_MARGIN)
    for viewer in (trial.counterparty, trial.party):
        expect_not_listed(trial, viewer, tender.tender_id, f"expired at {expires.isoformat()}")
    trial.refused(
        lambda: trial.client(trial.counterparty).accept(
            tender, trial.party, transaction_id=trial.new_id()
        ),
        f"accepting tender {tender.tender_id}, which expired at {expires.isoformat()}",
        "410",
    )


@case(
    "TMX-TND-021",
    "A tender is accepted in part until its expiry; once it has passed, the rest is refused "
    "with 410 and the part taken stands",
    "TeMIX paper 2.9: a tender is open until its expiration date time; EMIX-377 Expires; "
    "temix profile: docs/states.md",
    after=[CREATE_TENDER],
)
def accepted_until_expiry(trial: Trial) -> None:
    expires = (trial.now() + EXPIRES_IN).replace(microsecond=0)
    tender = trial.tender(quantity=lots(trial, 10), expires=expires)
    trial.offer(tender)
    taken = trial.new_id()
    trial.succeeds(
        lambda: trial.client(trial.counterparty).accept(
            tender, trial.party, lots(trial, 4), transaction_id=taken
        ),
        f"accepting part of tender {tender.tender_id} before its expiry {expires.isoformat()}",
    )
    trial.wait_until(expires + CLOCK_MARGIN)
    trial.refused(
        lambda: trial.client(trial.counterparty).accept(
            tender, trial.party, lots(trial, 6), transaction_id=trial.new_id()
        ),
        f"accepting the rest of tender {tender.tender_id} after its expiry",
        "410",
    )
    found = trial.succeeds(
        lambda: trial.client(trial.counterparty).request_transactions(transaction_ids=(taken,)),
        f"reading transaction {taken}, made before the expiry",
    )
    trial.expect(
        [each.product.description.quantity for each in found] == [lots(trial, 4)],
        f"transaction {taken}, made before the tender expired, reads "
        f"{[str(each.product.description.quantity) for each in found] or 'nothing'}",
    )


# --- Refused tenders ----------------------------------------------------------------------


@case(
    "TMX-TND-011",
    "A tender id already used is refused with 409 and the first tender stands unchanged",
    "EI 1.0 EiCreateTender tenderID; temix profile: docs/responses.md 409",
    after=[CREATE_TENDER],
)
def tender_id_reused(trial: Trial) -> None:
    first = trial.tender(quantity=lots(trial, 10), price="42.5")
    trial.offer(first)
    second = Tender(first.tender_id, trial.product(quantity=lots(trial, 3), price="45"))
    trial.refused(
        lambda: trial.client().create_tender(trial.counterparty, second),
        f"a second tender with the id {first.tender_id}",
        "409",
    )
    expect_unchanged(trial, trial.counterparty, first)


def expect_unchanged(trial: Trial, viewer: str, tender: Tender) -> None:
    """``viewer`` still sees ``tender`` standing as it was sent, all of it remaining."""
    seen = standing(trial, viewer, tender.tender_id)
    trial.expect(seen is not None, f"tender {tender.tender_id} is no longer listed to {viewer}")
    assert seen is not None
    changed = differences(seen, tender)
    if seen.product.description.quantity != tender.product.description.quantity:
        changed.append(f"quantity {seen.product.description.quantity} remaining")
    trial.expect(not changed, f"{viewer} sees {tender.tender_id} with " + "; ".join(changed))


@case(
    "TMX-TND-017",
    "A tender id another party already used is refused with 409, and that party's tender "
    "stands unchanged",
    "EI 1.0 EiCreateTender tenderID (an id names one tender in the market context); temix "
    "profile: docs/responses.md 409",
    after=[CREATE_TENDER],
)
def tender_id_of_another_party(trial: Trial) -> None:
    first = trial.tender(quantity=lots(trial, 10), price="42.5")
    trial.offer(first)
    taken = Tender(first.tender_id, trial.product(quantity=lots(trial, 3), price="45"))
    trial.refused(
        lambda: trial.client(trial.counterparty).create_tender(trial.party, taken),
        f"{trial.counterparty} writing a tender with {trial.party}'s tender id {first.tender_id}",
        "409",
    )
    for viewer in (trial.party, trial.counterparty):
        expect_unchanged(trial, viewer, first)


@case(
    "TMX-TND-012",
    "A tender offered to its own author is refused with 400",
    "TeMIX paper 2.1: interactions are pairwise between two parties; EI 1.0 EiCreateTender",
    after=[CREATE_TENDER],
)
def offered_to_author(trial: Trial) -> None:
    tender = trial.tender()
    trial.refused(
        lambda: trial.client().create_tender(trial.party, tender),
        f"{trial.party} offering a tender to itself",
        "400",
    )
    expect_not_listed(trial, trial.party, tender.tender_id, "was refused")


@case(
    "TMX-TND-013",
    "A tender with a zero quantity is refused with 400",
    "TeMIX paper 2.11: the power quantity is a rate of delivery; "
    "temix profile: docs/responses.md 400",
    after=[CREATE_TENDER],
)
def zero_quantity(trial: Trial) -> None:
    tender = trial.tender()
    code = raw_code(raw_create_tender(trial, tender, "0"), "a tender of 0 MW")
    trial.expect(not code.startswith("2"), "a tender of 0 MW was accepted")
    if code != "400":
        trial.warn(f"a tender of 0 MW: refused with {code}; the TeMIX profile answers 400")
    expect_not_listed(trial, trial.counterparty, tender.tender_id, "was refused")


@case(
    "TMX-TND-014",
    "A tender with a negative quantity is refused as invalid against the schemas",
    "EMIX-377: the side indicates the direction of the quantity; "
    "temix profile: docs/server.md (faults for schema-invalid requests)",
    after=[CREATE_TENDER],
)
def negative_quantity(trial: Trial) -> None:
    """The TeMIX schemas make emix:quantity non-negative, so the profile answers with a SOAP
    Client (Sender) fault; an eiResponse refusal keeps the market safe too, with a warning."""
    tender = trial.tender()
    reply = raw_create_tender(trial, tender, "-10")
    fault = reply.fault()
    if fault is not None:
        trial.expect(
            _is_client_fault(fault.code),
            f"a tender of -10 MW: expected a Client fault, got {fault}",
        )
    else:
        code = reply.payload().response.code
        trial.expect(not code.startswith("2"), "a tender of -10 MW was accepted")
        trial.warn(
            f"a tender of -10 MW: refused with eiResponse {code}; it is not valid against the "
            "TeMIX schemas, which the profile answers with a Client fault"
        )
    expect_not_listed(trial, trial.counterparty, tender.tender_id, "was refused")


@case(
    "TMX-TND-015",
    "A quantity that is not a multiple of the market's quantity step is refused with 422 "
    "naming emix:marketGranularity",
    "TeMIX paper 2.12: the market context sets the quantity step; "
    "temix profile: docs/responses.md 422",
    after=[CREATE_TENDER],
)
def off_quantity_step(trial: Trial) -> None:
    step = trial.market.quantity_step
    quantity = lots(trial, 10) + step / 2
    tender = trial.tender(quantity=quantity)
    refusal = trial.refused(
        lambda: trial.client().create_tender(trial.counterparty, tender),
        f"a tender of {quantity} in a market stepping by {step}",
        "422",
    )
    terms = [term for term in refusal.violated_terms if isinstance(term, MarketGranularity)]
    trial.expect(terms, "the refusal lists no emix:marketGranularity in responseTermsViolated")
    trial.expect(
        any(term.quantity == step for term in terms),
        f"the violated emix:marketGranularity gives {[str(t.quantity) for t in terms]}, "
        f"not the market's step {step}",
    )
    expect_not_listed(trial, trial.counterparty, tender.tender_id, "was refused")


@case(
    "TMX-TND-016",
    "A tender whose interval does not start on the market's interval granularity is refused "
    "with 422",
    "TeMIX paper 2.12: the market context sets the interval granularity; "
    "temix profile: docs/responses.md 422",
    after=[CREATE_TENDER],
)
def off_interval_granularity(trial: Trial) -> None:
    granularity = trial.market.interval_granularity
    half = granularity // 2
    shift = half - half % timedelta(seconds=1)
    if shift < timedelta(seconds=1):
        raise NotApplicable(f"the market's interval granularity is {granularity}")
    aligned = trial.interval()
    tender = trial.tender(interval=replace(aligned, start=aligned.start + shift))
    trial.refused(
        lambda: trial.client().create_tender(trial.counterparty, tender),
        f"a tender starting {shift} after a {granularity} boundary",
        "422",
    )
    expect_not_listed(trial, trial.counterparty, tender.tender_id, "was refused")


# --- Quotes ----------------------------------------------------------------------------------


def quotes_seen(trial: Trial, viewer: str, quote: Quote) -> list[str]:
    """The ids of the party's quotes ``viewer`` is shown when it asks for ``quote`` by id."""
    found = trial.succeeds(
        lambda: trial.client(viewer).request_quotes(trial.party, quote_ids=(quote.quote_id,)),
        f"{viewer} asking for {trial.party}'s quote {quote.quote_id}",
    )
    return [each.quote_id for each in found]


def published_quote(trial: Trial) -> Quote:
    """A quote the party publishes to the counterparty, which must be accepted."""
    quoted = trial.product(quantity=lots(trial, 10), state=TransactiveState.INDICATION_OF_INTEREST)
    quote = Quote(trial.new_id(), (quoted,))
    trial.succeeds(
        lambda: trial.client().create_quote(trial.counterparty, quote),
        f"{trial.party} sending quote {quote.quote_id} to {trial.counterparty}",
    )
    return quote


@case(
    "TMX-TND-018",
    "A quote is listed to its publisher and its subscriber; once its publisher cancels it, it "
    "is listed to neither, and cancelling it again is refused with 410",
    "TeMIX paper 2.9, 2.13 (EiCreateQuote, EiCancelQuote, EiRequestQuote: a quote is an "
    "indication of interest its publisher may withdraw); temix profile: docs/responses.md 410",
    requires=["quotes"],
)
def quote_cancelled_is_gone(trial: Trial) -> None:
    quote = published_quote(trial)
    for viewer in (trial.party, trial.counterparty):
        trial.expect(
            quotes_seen(trial, viewer, quote) == [quote.quote_id],
            f"quote {quote.quote_id} is not listed once to {viewer}",
        )
    trial.succeeds(
        lambda: trial.client().cancel_quote(quote.quote_id, subscriber=trial.counterparty),
        f"cancelling quote {quote.quote_id}",
    )
    for viewer in (trial.party, trial.counterparty):
        trial.expect(
            not quotes_seen(trial, viewer, quote),
            f"quote {quote.quote_id} is still listed to {viewer} after it was cancelled",
        )
    trial.refused(
        lambda: trial.client().cancel_quote(quote.quote_id, subscriber=trial.counterparty),
        f"cancelling quote {quote.quote_id} a second time",
        "410",
    )


@case(
    "TMX-TND-019",
    "Only a quote's publisher may cancel it (403, and the quote stands), and a party it was not "
    "sent to is not shown it",
    "TeMIX paper 2.1 (interactions are pairwise), 2.13 (EiCancelQuote); temix profile: "
    'docs/security.md "Parties and roles", docs/responses.md 403',
    requires=["quotes"],
)
def quote_only_for_its_parties(trial: Trial) -> None:
    quote = published_quote(trial)
    trial.refused(
        lambda: trial.client(trial.counterparty).call(
            p.CancelQuote(trial.new_id(), trial.counterparty, (quote.quote_id,), trial.counterparty)
        ),
        f"{trial.counterparty} cancelling {trial.party}'s quote {quote.quote_id}",
        "403",
    )
    trial.expect(
        quotes_seen(trial, trial.counterparty, quote) == [quote.quote_id],
        f"quote {quote.quote_id} is no longer listed after another party tried to cancel it",
    )
    outsider = trial.third_party
    trial.expect(
        not quotes_seen(trial, outsider, quote),
        f"quote {quote.quote_id}, sent to {trial.counterparty}, is listed to {outsider}",
    )


@case(
    "TMX-TND-020",
    "EiRequestQuote filtered by interval or by market context lists only the publisher's "
    "quotes that match",
    "TeMIX paper 2.13: EiRequestQuote; EI 1.0 EiRequestQuote interval, marketContext",
    requires=["quotes"],
)
def request_quotes_filtered(trial: Trial) -> None:
    early, late = published_quote(trial), published_quote(trial)
    ids = (early.quote_id, late.quote_id)
    hour = early.products[0].interval
    inside = Interval(hour.start + hour.duration / 4, hour.duration / 2)
    unknown_market = f"urn:temix:conformance:unknown:{trial.new_id()}"
    for filters, expected, what in (
        ({"intervals": (inside,)}, {early.quote_id}, "delivering during part of the first hour"),
        ({"market_contexts": (trial.market.uri,)}, set(ids), f"in {trial.market.uri}"),
        ({"market_contexts": (unknown_market,)}, set(), "in a market context no market has"),
    ):
        try:
            found = trial.client(trial.counterparty).request_quotes(
                trial.party, quote_ids=ids, **filters
            )
        except Refused as refusal:
            if expected:
                raise Failed(f"asking for quotes {what}: refused with {refusal.code}") from None
            found = ()
        got = {each.quote_id for each in found}
        trial.expect(
            got == expected,
            f"asked for {trial.party}'s quotes {what}, {trial.counterparty} got "
            f"{sorted(got) or 'none'}, not {sorted(expected) or 'none'}",
        )
