"""Options: call and put options on power and transport, and their exercise (TeMIX paper 2.2,
2.11 table 4, 3.7; EMIX-377 table X-2).

An option transaction gives its holder the right to have the writer deliver (call) or take
(put) the underlying product at the strike price, up to the option's rate, in any sub-interval
of the option's delivery interval that is a whole number of its temporal granularity, given at
least the exercise lead time ahead, and wholly inside its availability schedule when it has one
(its windows on the market's clock). The holder exercises with EiCreateTransaction, naming the
option transaction; the endpoint makes the underlying transaction between holder and writer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from temix.client.errors import Refused
from temix.conformance.cases.positions import (
    Change,
    describe,
    expect_changes,
    expected_change,
    next_day_lasting,
    read_positions,
    require_durations,
    trade,
)
from temix.conformance.catalogue import NotApplicable, case
from temix.conformance.trial import Trial
from temix.model import (
    AvailabilitySchedule,
    AvailableWindow,
    Interface,
    Interval,
    MarketContext,
    MinimumNotification,
    OptionTerms,
    OptionType,
    Recurrence,
    Side,
    Tender,
    Transaction,
    TransactiveState,
    TransportPath,
)
from temix.rules import exercise

CALL_BOUGHT = "TMX-OPT-001"
EXERCISED = "TMX-OPT-002"
GRANULE = timedelta(minutes=15)
"""The temporal granularity of the suite's options: an hour option is exercised by quarters."""
LEAD_TIME = timedelta(hours=1)
STRIKE = "55"
PREMIUM = "3"
RATE = "10"


def terms(
    trial: Trial,
    option_type: OptionType = OptionType.CALL,
    *,
    lead_time: timedelta = LEAD_TIME,
    strike: str = STRIKE,
) -> OptionTerms:
    """The suite's option terms, held by the buyer of the option; NotApplicable when the
    market cannot trade hour options exercised by quarters."""
    market = trial.market
    require_durations(market, timedelta(hours=1), GRANULE, 2 * GRANULE)
    return OptionTerms(
        option_type=option_type,
        holder_side=Side.BUY,
        strike_price=Decimal(strike),
        premium=Decimal(PREMIUM),
        lead_time=lead_time,
        granularity=GRANULE,
    )


def buy_option(
    trial: Trial,
    option: OptionTerms,
    *,
    holder: str | None = None,
    writer: str | None = None,
    interface: Interface | None = None,
    rate: str = RATE,
    interval: Interval | None = None,
    market: MarketContext | None = None,
) -> Transaction:
    """``holder`` (default: the counterparty) buys an hour option with ``option``'s terms from
    ``writer`` (default: the party), over ``interval`` (default: a fresh hour), and reads the
    option transaction back. The writer tenders it unless the holder is the suite's party,
    which then tenders to buy it."""
    holder = holder or trial.counterparty
    writer = writer or (trial.party if holder != trial.party else trial.counterparty)
    holder_tenders = holder == trial.party
    tender = trial.tender(
        side=Side.BUY if holder_tenders else Side.SELL,
        quantity=rate,
        price=option.strike_price,
        interval=interval or trial.interval(market=market),
        interface=interface,
        option=option,
        market=market,
    )
    author, acceptor = (holder, writer) if holder_tenders else (writer, holder)
    return accept_option(trial, tender, author, acceptor, holder)


def accept_option(
    trial: Trial, tender: Tender, author: str, acceptor: str, holder: str
) -> Transaction:
    trial.offer(tender, author=author, to=acceptor)
    option_id = trial.new_id()
    trial.succeeds(
        lambda: trial.client(acceptor).accept(tender, author, transaction_id=option_id),
        f"{acceptor} accepting {author}'s option tender",
    )
    found = trial.succeeds(
        lambda: trial.client(holder).request_transactions(transaction_ids=(option_id,)),
        f"{holder} reading its option transaction {option_id}",
    )
    trial.expect(len(found) == 1, f"{holder} reads {len(found)} transactions {option_id}")
    return found[0]


def exercise_as(trial: Trial, party: str, counterparty: str, exercised: Transaction) -> Transaction:
    """``party`` sends the exercise ``exercised``, which must be accepted; returned as read back
    by ``party``."""
    trial.succeeds(
        lambda: trial.client(party).create_transaction(counterparty, exercised),
        f"{party} exercising {exercised.product.description.quantity} over "
        f"{describe(exercised.product.interval)}",
    )
    found = trial.succeeds(
        lambda: trial.client(party).request_transactions(
            transaction_ids=(exercised.transaction_id,)
        ),
        f"{party} reading the exercise {exercised.transaction_id}",
    )
    trial.expect(
        len(found) == 1, f"{party} reads {len(found)} transactions {exercised.transaction_id}"
    )
    return found[0]


def quarter(option: Transaction, index: int, count: int = 1) -> Interval:
    """``count`` granules of the option's interval from granule ``index``."""
    start = option.product.interval.start + index * GRANULE
    return Interval(start, count * GRANULE)


def exercise_of(
    trial: Trial, option: Transaction, interval: Interval, rate: str | Decimal
) -> Transaction:
    """The holder's exercise of ``rate`` of ``option`` over ``interval``, as the profile writes
    it (docs/profile.md Exercise), with a fresh id."""
    return exercise(option, interval, Decimal(rate), trial.new_id())


def refused_exercise(
    trial: Trial,
    party: str,
    counterparty: str,
    exercised: Transaction,
    what: str,
    *codes: str,
) -> Refused:
    """The refusal of ``party``'s exercise ``exercised`` (see :meth:`Trial.refused`)."""
    return trial.refused(
        lambda: trial.client(party).create_transaction(counterparty, exercised),
        f"{party} exercising {what}",
        *codes,
    )


@case(
    CALL_BOUGHT,
    "An accepted call option tender is an option transaction keeping the option's type, "
    "holder side, strike, premium, lead time and granularity",
    "TeMIX paper 2.2, 2.11 table 4; EMIX-377 table X-2; EI 1.0 EiCreateTransaction",
    requires=["powerOption"],
)
def call_option_bought(trial: Trial) -> None:
    option = terms(trial)
    held = buy_option(trial, option)
    product = held.product
    trial.expect(
        product.option == option,
        f"the option transaction's terms are {product.option}, the tender's were {option}",
    )
    trial.expect(
        product.state is TransactiveState.TRANSACTION,
        f"the option transaction is in state {product.state}, not transaction",
    )
    trial.expect(
        product.description.quantity == Decimal(RATE),
        f"the option's rate is {product.description.quantity}, not {RATE}",
    )
    writers = trial.succeeds(
        lambda: trial.client(trial.party).request_transactions(
            transaction_ids=(held.transaction_id,)
        ),
        f"the writer {trial.party} reading the option transaction",
    )
    trial.expect(
        [each.product.option for each in writers] == [option],
        f"the writer {trial.party} does not read the option transaction with its terms",
    )


@case(
    EXERCISED,
    "The holder of a call option exercises part of its rate for a quarter-hour inside it at "
    "the strike and gets the underlying power transaction, buying from the writer",
    "TeMIX paper 2.11 (Option Exercise, Temporal Granularity); EMIX-377; "
    "EI 1.0 EiCreateTransaction; temix profile: docs/server.md EiCreateTransaction (exercise)",
    requires=["powerOption"],
    after=[CALL_BOUGHT],
)
def call_option_exercised(trial: Trial) -> None:
    held = buy_option(trial, terms(trial))
    holder, writer = trial.counterparty, trial.party
    sub_interval = quarter(held, 1)
    made = exercise_as(trial, holder, writer, exercise_of(trial, held, sub_interval, "4"))
    product = made.product
    expected = {
        "state": (product.state, TransactiveState.EXERCISE),
        "related-to": (product.related_to, held.transaction_id),
        "interval": (product.interval, sub_interval),
        "rate": (product.description.quantity, Decimal(4)),
        "price": (product.description.price, Decimal(STRIKE)),
        "holder's side": (product.side, Side.BUY),
        "option terms": (product.option, None),
        "node": (product.description.interface, trial.node),
    }
    for name, (found, wanted) in expected.items():
        trial.expect(found == wanted, f"the exercise's {name} is {found}, not {wanted}")
    seen = trial.succeeds(
        lambda: trial.client(writer).request_transactions(transaction_ids=(made.transaction_id,)),
        f"the writer {writer} reading the exercise",
    )
    trial.expect(len(seen) == 1, f"the writer {writer} does not see the exercise")


@case(
    "TMX-OPT-003",
    "A party that tenders to buy a put option holds it and exercises it, selling the "
    "underlying power to the writer at the strike",
    "TeMIX paper 2.2 (any party may take the buy or sell side of an option tender), 2.11; "
    "EMIX-377 (put: the writer takes); EI 1.0 EiCreateTransaction",
    requires=["powerOption"],
    after=[EXERCISED],
)
def put_option_exercised(trial: Trial) -> None:
    put = terms(trial, OptionType.PUT, strike="30")
    held = buy_option(trial, put, holder=trial.party)
    trial.expect(held.product.option == put, f"the put's terms came back as {held.product.option}")
    exercised = exercise_of(trial, held, quarter(held, 0, 2), "6")
    made = exercise_as(trial, trial.party, trial.counterparty, exercised)
    trial.expect(
        made.product.side is Side.SELL,
        f"the put's exercise is a {made.product.side}, not a sell by the holder",
    )
    trial.expect(
        made.product.description.price == Decimal("30"),
        f"the put's exercise is priced {made.product.description.price}, not the strike 30",
    )
    refused_exercise(
        trial,
        trial.counterparty,
        trial.party,
        exercise_of(trial, held, quarter(held, 3), "1"),
        "the put it wrote",
        "403",
    )


@case(
    "TMX-OPT-004",
    "An exercise inside the option's lead time is refused with 422 listing "
    "emix:minimumNotificationDuration",
    "TeMIX paper 2.11 (Exercise Lead Time: the Minimum Notification Duration); EMIX-377; "
    "temix profile: docs/responses.md",
    requires=["powerOption"],
    after=[EXERCISED],
)
def exercise_inside_lead_time(trial: Trial) -> None:
    lead_time = timedelta(days=7)
    held = buy_option(trial, terms(trial, lead_time=lead_time))
    refusal = refused_exercise(
        trial,
        trial.counterparty,
        trial.party,
        exercise_of(trial, held, quarter(held, 2), "1"),
        "less than the 7-day lead time ahead",
        "422",
    )
    violated = refusal.violated_terms
    trial.expect(
        MinimumNotification(lead_time) in violated,
        "the refusal does not list the violated emix:minimumNotificationDuration of 7 days "
        f"in responseTermsViolated (it lists {violated or 'nothing'})",
    )


@case(
    "TMX-OPT-013",
    "The lead time counts back from the start of the exercised quarter, not the option's: "
    "notice of a later quarter minutes more than the lead time is accepted, minutes less is "
    "refused with 422",
    "TeMIX paper 2.11 (Exercise Lead Time: notice before the exercised delivery); EMIX-377 "
    "(Minimum Notification Duration); temix profile: docs/profile.md Exercise",
    requires=["powerOption"],
    after=[EXERCISED],
)
def lead_time_from_the_exercised_quarter(trial: Trial) -> None:
    hour = trial.interval()
    later_quarter = Interval(hour.start + 2 * GRANULE, GRANULE)
    margin = timedelta(minutes=3)
    notice = later_quarter.start - trial.now()
    holder, writer = trial.counterparty, trial.party
    for lead_time, inside in ((notice - margin, True), (notice + margin, False)):
        lead_time -= lead_time % timedelta(seconds=1)
        held = buy_option(trial, terms(trial, lead_time=lead_time), interval=hour)
        exercised = exercise_of(trial, held, later_quarter, "1")
        what = (
            f"the third quarter {describe(later_quarter)} with a lead time of {lead_time}, "
            f"{margin} {'less' if inside else 'more'} than the notice given"
        )
        if inside:
            exercise_as(trial, holder, writer, exercised)
        else:
            refused_exercise(trial, holder, writer, exercised, what, "422")


@case(
    "TMX-OPT-005",
    "An exercise outside the option's delivery interval, or running past its end, is refused "
    "with 422",
    "TeMIX paper 2.11 (exercised during the Delivery Interval of the Option); EMIX-377",
    requires=["powerOption"],
    after=[EXERCISED],
)
def exercise_outside_interval(trial: Trial) -> None:
    held = buy_option(trial, terms(trial))
    holder, writer = trial.counterparty, trial.party
    for interval, what in (
        (quarter(held, 4), "the quarter after the option's hour"),
        (quarter(held, -1), "the quarter before the option's hour"),
        (quarter(held, 3, 2), "the last quarter and the one after it"),
    ):
        refused_exercise(
            trial, holder, writer, exercise_of(trial, held, interval, "1"), what, "422"
        )


@case(
    "TMX-OPT-006",
    "An exercise off the option's temporal granularity is refused with 422",
    "TeMIX paper 2.11 (Temporal Granularity: a 15-minute option is called at 10:00, 10:15, "
    "10:30 or 10:45); EMIX-377 (Option Interval Granularity)",
    requires=["powerOption"],
    after=[EXERCISED],
)
def exercise_off_granularity(trial: Trial) -> None:
    held = buy_option(trial, terms(trial))
    step = trial.market.interval_granularity
    if GRANULE % step or step == GRANULE:
        raise NotApplicable(f"the market's interval granularity {step} cannot split a quarter")
    holder, writer = trial.counterparty, trial.party
    late_start = Interval(held.product.interval.start + step, GRANULE)
    short = Interval(held.product.interval.start, GRANULE - step)
    for interval, what in (
        (late_start, f"a quarter starting {step} after a granule boundary"),
        (short, f"{short.duration} from a granule boundary"),
    ):
        refused_exercise(
            trial, holder, writer, exercise_of(trial, held, interval, "1"), what, "422"
        )


@case(
    "TMX-OPT-007",
    "Exercises beyond the option's rate in any granule, counting earlier exercises, are "
    "refused (409) while the rate left is still exercisable",
    "TeMIX paper 2.11 (up to the transacted quantity of the Option); EMIX-377; temix profile: "
    "docs/responses.md 409",
    requires=["powerOption"],
    after=[EXERCISED],
)
def exercise_beyond_rate(trial: Trial) -> None:
    held = buy_option(trial, terms(trial))
    holder, writer = trial.counterparty, trial.party
    refused_exercise(
        trial,
        holder,
        writer,
        exercise_of(trial, held, quarter(held, 0), "11"),
        "11 of a 10 MW option",
        "422",
        "409",
    )
    exercise_as(trial, holder, writer, exercise_of(trial, held, quarter(held, 0, 2), "6"))
    refused_exercise(
        trial,
        holder,
        writer,
        exercise_of(trial, held, quarter(held, 1, 2), "5"),
        "5 more where 6 of 10 are exercised",
        "409",
    )
    exercise_as(trial, holder, writer, exercise_of(trial, held, quarter(held, 1, 2), "4"))
    refused_exercise(
        trial,
        holder,
        writer,
        exercise_of(trial, held, quarter(held, 1), "0.001"),
        "anything more where all 10 are exercised",
        "409",
    )
    exercise_as(trial, holder, writer, exercise_of(trial, held, quarter(held, 3), RATE))


@case(
    "TMX-OPT-008",
    "The writer of an option cannot exercise it (403), and its attempt leaves the holder's "
    "whole rate exercisable",
    "TeMIX paper 2.2 (the Option Holder is granted the right), 2.11 table 4; EMIX-377 table X-2",
    requires=["powerOption"],
    after=[EXERCISED],
)
def writer_cannot_exercise(trial: Trial) -> None:
    held = buy_option(trial, terms(trial))
    holder, writer = trial.counterparty, trial.party
    refused_exercise(
        trial,
        writer,
        holder,
        exercise_of(trial, held, quarter(held, 1), RATE),
        "the call it wrote",
        "403",
    )
    exercise_as(trial, holder, writer, exercise_of(trial, held, quarter(held, 1), RATE))


@case(
    "TMX-OPT-009",
    "Exercising a plain power transaction is refused with 423: only an option is exercised",
    "TeMIX paper 2.9 (transactive states); temix profile: docs/states.md (exercise applies "
    "to options only), docs/responses.md 423",
    requires=["powerOption"],
    after=[EXERCISED],
)
def exercise_of_power_transaction(trial: Trial) -> None:
    require_durations(trial.market, timedelta(hours=1), GRANULE)
    hour = trial.interval()
    power_id = trial.new_id()
    transaction_id = trade(
        trial, trial.party, trial.counterparty, quantity="5", price="40", interval=hour
    )
    (power,) = trial.succeeds(
        lambda: trial.client(trial.counterparty).request_transactions(
            transaction_ids=(transaction_id,)
        ),
        "reading the power transaction",
    )
    product = replace(
        power.product,
        uid=power_id,
        interval=Interval(hour.start, GRANULE),
        description=replace(power.product.description, quantity=Decimal(1)),
        state=TransactiveState.EXERCISE,
        related_to=transaction_id,
    )
    refused_exercise(
        trial,
        trial.counterparty,
        trial.party,
        Transaction(power_id, product),
        f"the power transaction {transaction_id}",
        "423",
    )


@case(
    "TMX-OPT-010",
    "An exercise at another price than the option's strike is refused with 422",
    "TeMIX paper 2.11 table 4 (Option Strike Price); EMIX-377 (at a Strike Price)",
    requires=["powerOption"],
    after=[EXERCISED],
)
def exercise_off_strike(trial: Trial) -> None:
    held = buy_option(trial, terms(trial))
    exercised = exercise_of(trial, held, quarter(held, 2), "2")
    cheaper = replace(
        exercised,
        product=replace(
            exercised.product,
            description=replace(exercised.product.description, price=Decimal("20")),
        ),
    )
    what = f"at 20 an option struck at {STRIKE}"
    refused_exercise(trial, trial.counterparty, trial.party, cheaper, what, "422")


@case(
    "TMX-OPT-011",
    "An option adds nothing to positions until exercised; its exercise moves both parties' "
    "positions in the exercised quarter only",
    "TeMIX paper 2.2, 2.5, 2.10; temix profile: docs/server.md EiRequestPosition",
    requires=["powerOption", "positions"],
    after=[EXERCISED],
)
def exercise_moves_positions(trial: Trial) -> None:
    market = trial.market
    holder, writer = trial.counterparty, trial.party
    option = terms(trial)
    tender = trial.tender(
        quantity=RATE, price=option.strike_price, interval=trial.interval(), option=option
    )
    hour = tender.product.interval
    asked = (hour, *hour.split(GRANULE))
    before = {party: read_positions(trial, party, *asked) for party in (holder, writer)}
    held = accept_option(trial, tender, writer, holder, holder)
    bought = {party: read_positions(trial, party, *asked) for party in (holder, writer)}
    for party in (holder, writer):
        unchanged = [Change()] * len(asked)
        whose = f"after the option, {party}'s"
        expect_changes(trial, before[party], bought[party], unchanged, whose)
    exercised = exercise_of(trial, held, quarter(held, 2), "4")
    exercise_as(trial, holder, writer, exercised)
    for party, side in ((holder, Side.BUY), (writer, Side.SELL)):
        after = read_positions(trial, party, *asked)
        changes = [
            expected_change(market, side, "4", STRIKE, exercised.product.interval, each)
            for each in asked
        ]
        expect_changes(trial, bought[party], after, changes, f"after the exercise, {party}'s")


@case(
    "TMX-OPT-012",
    "The holder of a call option on transport exercises it and gets the underlying transport "
    "transaction between the same two nodes at the strike",
    "TeMIX paper 2.3 (TeMIX Option Transport Product), 2.11; EMIX-377; EI 1.0 EiCreateTransaction",
    requires=["transportOption"],
)
def transport_option_exercised(trial: Trial) -> None:
    path = TransportPath(trial.node.id, trial.other_node.id)
    held = buy_option(trial, terms(trial), interface=path, rate="3")
    trial.expect(
        held.product.description.interface == path,
        f"the transport option's interface came back as {held.product.description.interface}",
    )
    made = exercise_as(
        trial,
        trial.counterparty,
        trial.party,
        exercise_of(trial, held, quarter(held, 1, 2), "3"),
    )
    trial.expect(
        made.product.description.interface == path,
        f"the exercise's interface is {made.product.description.interface}, not {path}",
    )
    trial.expect(
        made.product.state is TransactiveState.EXERCISE
        and made.product.related_to == held.transaction_id,
        f"the exercise is in state {made.product.state} related to {made.product.related_to}",
    )


@case(
    "TMX-OPT-014",
    "On a daylight-saving day, an option available daily 14:00-18:00 on the market's clock is "
    "exercised from 14:00 and until 18:00 local time; an hour earlier or later is refused with "
    "422 naming emix:availabilitySchedule",
    "TeMIX paper 2.11 table 4 (Option Exercise: the Availability Schedule expressed as an EMIX "
    "Term); EMIX 1.0 availabilitySchedule; temix profile: docs/profile.md Exercise",
    requires=["powerOption", "availability"],
    after=[EXERCISED],
)
def exercise_inside_availability(trial: Trial) -> None:
    market = trial.run.market(trial.input("dst-market-context"))
    zone = ZoneInfo(market.time_zone)
    today = trial.now().astimezone(zone).date()
    day = next_day_lasting(market, timedelta(hours=23), today + timedelta(days=2))
    require_durations(market, day.duration, timedelta(hours=1))
    first = day.start.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
    afternoons = AvailabilitySchedule(
        (AvailableWindow(first.replace(hour=14), timedelta(hours=4), Recurrence.DAILY),)
    )
    option = replace(terms(trial), granularity=timedelta(hours=1), availability=afternoons)
    held = buy_option(trial, option, interval=day, market=market)
    holder, writer = trial.counterparty, trial.party

    def local_hour(hour: int) -> Interval:
        start = datetime.combine(day.start.astimezone(zone).date(), time(hour), zone)
        return Interval(start.astimezone(UTC), timedelta(hours=1))

    for hour in (14, 17):
        exercise_as(trial, holder, writer, exercise_of(trial, held, local_hour(hour), "1"))
    for hour in (13, 18):
        what = f"from {hour}:00 local time, outside the 14:00-18:00 window"
        refusal = refused_exercise(
            trial, holder, writer, exercise_of(trial, held, local_hour(hour), "1"), what, "422"
        )
        trial.expect(
            any(isinstance(term, AvailabilitySchedule) for term in refusal.violated_terms),
            f"the exercise {what} is refused without naming the option's "
            f"emix:availabilitySchedule in responseTermsViolated (it lists "
            f"{refusal.violated_terms or 'nothing'})",
        )
