"""The TeMIX services end to end through each SOAP binding of ``tests/bindings.py``, on SQLite
and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from lxml import etree

import pki
from bindings import REMOTE_ADDRESS, SERVICE_MATRIX, soap_post
from market import (
    MARKET,
    NODE_A,
    NODE_B,
    NOW,
    SOAP_ACTIONS,
    TOMORROW_3PM,
    TestMarket,
    acceptance,
    create_tender,
    create_transaction,
    option_terms,
    product,
    tender,
)
from temix import payloads as p
from temix.codec import PAYLOAD_ELEMENTS, decode, encode_bytes
from temix.envelope import SOAP_1_1, SOAP_1_2
from temix.model import (
    Interval,
    MarketContext,
    Quote,
    Side,
    Target,
    Transaction,
    TransactiveState,
    TransportPath,
)
from temix.server.security import OPERATOR
from temix.server.store import Store, Unit

REP = "rep"
CUSTOMER = "customer"
NEIGHBOUR = "neighbour"


pytestmark = SERVICE_MATRIX


@pytest.fixture
def market(database_url: str, binding: str) -> TestMarket:
    opened = TestMarket(database_url, binding)
    yield opened
    opened.close()


def _codes(reply: object) -> list[str]:
    return [item.code for item in reply.responses]


def _standing(market: TestMarket, party: str, request_id: str) -> dict[str, Decimal]:
    reply = market.send(p.RequestTender(request_id, party, party))
    assert reply.response.code == "200"
    return {item.tender_id: item.product.description.quantity for item in reply.tenders}


def _payload(envelope: bytes) -> object:
    return decode(etree.fromstring(envelope)[-1][0])


def _position(market: TestMarket, party: str, interface: object, request_id: str) -> object:
    reply = market.send(
        p.RequestPosition(request_id, party, party, MARKET, interface, (TOMORROW_3PM,))
    )
    assert reply.response.code == "200", reply.response.description
    (held,) = reply.positions
    return held


# --- Tenders ------------------------------------------------------------------------------------


def test_a_tender_is_stored_and_seen_by_its_author_and_counterparty_only(market) -> None:
    reply = market.send(create_tender("r1", REP, CUSTOMER, tender("T-1")))
    assert reply.response.code == "200"
    assert reply.tender_ids == ("T-1",)
    assert _codes(reply) == ["200"]
    assert _standing(market, REP, "r2") == {"T-1": Decimal("10")}
    assert _standing(market, CUSTOMER, "r3") == {"T-1": Decimal("10")}
    assert _standing(market, NEIGHBOUR, "r4") == {}


def test_one_refused_tender_does_not_stop_the_others(market) -> None:
    foreign = tender("T-2", market="http://market.example/unknown")
    reply = market.send(create_tender("r1", REP, CUSTOMER, tender("T-1"), foreign))
    assert reply.tender_ids == ("T-1",)
    assert _codes(reply) == ["200", "404"]
    assert reply.response.code == "404"
    assert "1 of 2 tenders refused" in reply.response.description
    assert "unknown market context http://market.example/unknown" in (
        reply.responses[1].description
    )


def test_a_tender_that_does_not_fit_the_market_names_the_terms(market) -> None:
    misaligned = Interval(TOMORROW_3PM.start + timedelta(minutes=1), timedelta(hours=1))
    reply = market.send(
        create_tender("r1", REP, CUSTOMER, tender("T-1", interval=misaligned, quantity="0.0005"))
    )
    (refused,) = reply.responses
    assert refused.code == "422"
    assert "boundary" in refused.description
    assert [type(term.term).__name__ for term in refused.terms_violated] == ["MarketGranularity"]


def test_a_tender_id_is_used_once(market) -> None:
    market.send(create_tender("r1", REP, CUSTOMER, tender("T-1")))
    reply = market.send(create_tender("r2", NEIGHBOUR, CUSTOMER, tender("T-1")))
    assert _codes(reply) == ["409"]


def test_only_the_author_cancels_and_a_cancelled_tender_cannot_be_accepted(market) -> None:
    offered = tender("T-1")
    market.send(create_tender("r1", REP, CUSTOMER, offered))
    by_customer = market.send(p.CancelTender("r2", CUSTOMER, ("T-1",)))
    assert _codes(by_customer) == ["403"]
    by_rep = market.send(p.CancelTender("r3", REP, ("T-1", "T-404")))
    assert _codes(by_rep) == ["200", "404"]
    again = market.send(p.CancelTender("r4", REP, ("T-1",)))
    assert _codes(again) == ["410"]
    accept = market.send(create_transaction("r5", CUSTOMER, REP, acceptance(offered, "TX-1")))
    assert _codes(accept) == ["410"]
    assert _standing(market, CUSTOMER, "r6") == {}


def test_an_expired_tender_is_not_standing_and_cannot_be_accepted(market) -> None:
    offered = tender("T-1", expires=NOW + timedelta(minutes=10))
    market.send(create_tender("r1", REP, CUSTOMER, offered))
    market.clock.now = NOW + timedelta(minutes=10)
    assert _standing(market, CUSTOMER, "r2") == {}
    reply = market.send(create_transaction("r3", CUSTOMER, REP, acceptance(offered, "TX-1")))
    assert _codes(reply) == ["410"]
    assert "expired at 2026-06-30T12:10:00Z" in reply.responses[0].description


# --- Transactions -------------------------------------------------------------------------------


def test_accepting_part_of_a_sell_tender_makes_the_acceptor_the_buyer(market) -> None:
    offered = tender("T-1", side=Side.SELL, quantity="10", price="40")
    market.send(create_tender("r1", REP, CUSTOMER, offered))
    reply = market.send(
        create_transaction("r2", CUSTOMER, REP, acceptance(offered, "TX-1", quantity="4"))
    )
    assert reply.response.code == "200", reply.responses
    assert reply.transaction_ids == ("TX-1",)
    assert _standing(market, REP, "r3") == {"T-1": Decimal("6")}
    customer = _position(market, CUSTOMER, NODE_A, "r4")
    rep = _position(market, REP, NODE_A, "r5")
    assert customer.net_rate == Decimal("-4")
    assert rep.net_rate == Decimal("4")
    assert customer.energy == Decimal("-8")
    assert customer.cost == Decimal("-320")
    assert rep.cost == Decimal("320")
    (stored,) = market.send(p.RequestTransaction("r6", CUSTOMER, CUSTOMER)).transactions
    assert stored.product.side is Side.BUY
    assert stored.tender_id == "T-1"
    assert market.send(p.RequestTransaction("r7", NEIGHBOUR, NEIGHBOUR)).transactions == ()


def test_acceptance_refusals(market) -> None:
    offered = tender("T-1", quantity="10")
    whole = tender("T-2", quantity="10", integral_only=True)
    market.send(create_tender("r1", REP, CUSTOMER, offered, whole))
    own = market.send(create_transaction("r2", REP, CUSTOMER, acceptance(offered, "TX-1")))
    stranger = market.send(create_transaction("r3", NEIGHBOUR, REP, acceptance(offered, "TX-2")))
    too_much = market.send(
        create_transaction("r4", CUSTOMER, REP, acceptance(offered, "TX-3", quantity="11"))
    )
    part_of_whole = market.send(
        create_transaction("r5", CUSTOMER, REP, acceptance(whole, "TX-4", quantity="5"))
    )
    assert _codes(own) == ["403"]
    assert _codes(stranger) == ["403"]
    assert _codes(too_much) == ["409"]
    assert _codes(part_of_whole) == ["422"]
    assert "integral-only" in part_of_whole.responses[0].description
    assert _standing(market, REP, "r6") == {"T-1": Decimal("10"), "T-2": Decimal("10")}


def test_an_acceptance_must_carry_the_tendered_terms(market) -> None:
    offered = tender("T-1", price="40")
    market.send(create_tender("r1", REP, CUSTOMER, offered))
    cheaper = acceptance(offered, "TX-1")
    cheaper = replace(
        cheaper,
        product=replace(
            cheaper.product,
            description=replace(cheaper.product.description, price=Decimal("39")),
        ),
    )
    reply = market.send(create_transaction("r2", CUSTOMER, REP, cheaper))
    assert _codes(reply) == ["422"]
    assert "description.price is 39, expected 40" in reply.responses[0].description
    wrong_party = market.send(
        create_transaction("r3", CUSTOMER, NEIGHBOUR, acceptance(offered, "X"))
    )
    assert _codes(wrong_party) == ["400"]
    assert _standing(market, REP, "r4") == {"T-1": Decimal("10")}


def test_a_transaction_needs_a_tender_and_a_quote_is_not_actionable(market) -> None:
    quote = Quote("Q-1", (product(state=TransactiveState.INDICATION_OF_INTEREST),))
    created = market.send(p.CreateQuote("r1", REP, CUSTOMER, (quote,)))
    assert created.quote_ids == ("Q-1",)
    (seen,) = market.send(p.RequestQuote("r2", CUSTOMER, REP)).quotes
    assert seen == quote
    assert market.send(p.RequestQuote("r3", NEIGHBOUR, REP)).quotes == ()
    on_quote = Transaction(
        "TX-1",
        product(state=TransactiveState.TRANSACTION, side=Side.BUY),
        tender_id="Q-1",
    )
    reply = market.send(create_transaction("r4", CUSTOMER, REP, on_quote))
    assert _codes(reply) == ["423"]
    untendered = replace(on_quote, tender_id=None)
    assert _codes(market.send(create_transaction("r5", CUSTOMER, REP, untendered))) == ["400"]
    cancelled = market.send(p.CancelQuote("r6", REP, ("Q-1",)))
    assert _codes(cancelled) == ["200"]
    assert market.send(p.RequestQuote("r7", CUSTOMER, REP)).quotes == ()


def test_two_parties_racing_for_the_last_megawatt_one_wins(database_url: str, binding: str) -> None:
    """Each racer has its own application and database connection, as separate worker
    processes would."""
    setup = TestMarket(database_url, binding)
    offered = tender("T-1", quantity="1")
    whole_market = p.DistributeTender("r1", REP, Target(group_ids=(MARKET,)), (offered,))
    assert setup.send(whole_market).response.code == "200"
    racers = [TestMarket(database_url, binding, setup.clock) for _ in range(2)]
    replies: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def race(racer: TestMarket, party: str) -> None:
        barrier.wait()
        request = create_transaction("r2", party, REP, acceptance(offered, f"TX-{party}"))
        replies[party] = racer.send(request)

    threads = [
        threading.Thread(target=race, args=(racer, party))
        for racer, party in zip(racers, (CUSTOMER, NEIGHBOUR), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    codes = sorted(replies[party].responses[0].code for party in (CUSTOMER, NEIGHBOUR))
    assert codes[0] == "200"
    assert codes[1] in ("409", "410")
    with setup.store.transaction(write=False) as unit:
        record = unit.tender("T-1")
        made = unit.transactions(party=REP)
    assert record.remaining == 0
    assert len(made) == 1
    for racer in (*racers, setup):
        racer.close()


# --- Distribution -------------------------------------------------------------------------------


def test_a_tender_distributed_to_a_group_is_offered_to_its_members(market) -> None:
    with market.store.transaction() as unit:
        unit.set_group("retail-customers", [CUSTOMER, NEIGHBOUR, REP])
    offered = tender("T-1")
    reply = market.send(
        p.DistributeTender("r1", REP, Target(group_ids=("retail-customers",)), (offered,))
    )
    assert reply.tender_ids == ("T-1",)
    assert _standing(market, NEIGHBOUR, "r2") == {"T-1": Decimal("10")}
    assert _standing(market, "outsider", "r3") == {}
    unknown = market.send(
        p.DistributeTender("r4", REP, Target(group_ids=("nobody",)), (tender("T-2"),))
    )
    assert _codes(unknown) == ["404"]


def test_a_tender_distributed_to_the_market_context_is_offered_to_everyone(market) -> None:
    offered = tender("T-1")
    market.send(p.DistributeTender("r1", REP, Target(group_ids=(MARKET,)), (offered,)))
    assert _standing(market, "anyone", "r2") == {"T-1": Decimal("10")}
    assert _codes(
        market.send(create_transaction("r3", "anyone", REP, acceptance(offered, "X")))
    ) == ["200"]


# --- Options and transport ----------------------------------------------------------------------


def _option_tender() -> object:
    return tender("O-1", side=Side.SELL, price="50", option=option_terms(strike="50"))


def test_an_option_is_exercised_by_its_holder_into_the_underlying(market) -> None:
    offered = _option_tender()
    market.send(create_tender("r1", REP, CUSTOMER, offered))
    bought = market.send(create_transaction("r2", CUSTOMER, REP, acceptance(offered, "OPT-1")))
    assert bought.response.code == "200", bought.responses
    assert _position(market, CUSTOMER, NODE_A, "r3").net_rate == 0
    first_hour = Interval(TOMORROW_3PM.start, timedelta(hours=1))
    underlying = product(
        side=Side.BUY,
        quantity="4",
        price="50",
        interval=first_hour,
        state=TransactiveState.EXERCISE,
        related_to="OPT-1",
        uid="P-O-1",
    )
    by_writer = market.send(
        create_transaction("r4", REP, CUSTOMER, Transaction("EX-0", underlying))
    )
    assert _codes(by_writer) == ["403"]
    exercised = market.send(
        create_transaction("r5", CUSTOMER, REP, Transaction("EX-1", underlying))
    )
    assert exercised.response.code == "200", exercised.responses
    held = _position(market, CUSTOMER, NODE_A, "r6")
    assert held.net_rate == Decimal("-2")
    market.clock.now = first_hour.start - timedelta(minutes=30)
    refused = market.send(create_transaction("r7", CUSTOMER, REP, Transaction("EX-2", underlying)))
    assert _codes(refused) == ["422"]
    assert "needs notice by" in refused.responses[0].description


def test_energy_at_a_plus_transport_a_to_b_is_a_position_at_b(market) -> None:
    energy = tender("T-1", side=Side.SELL, quantity="5", price="30", interface=NODE_A)
    path = TransportPath(NODE_A.id, NODE_B.id)
    transport = tender("T-2", side=Side.SELL, quantity="5", price="4", interface=path)
    market.send(create_tender("r1", "generator", CUSTOMER, energy))
    market.send(create_tender("r2", "transmission", CUSTOMER, transport))
    market.send(create_transaction("r3", CUSTOMER, "generator", acceptance(energy, "TX-1")))
    market.send(create_transaction("r4", CUSTOMER, "transmission", acceptance(transport, "TX-2")))
    at_a = _position(market, CUSTOMER, NODE_A, "r5")
    at_b = _position(market, CUSTOMER, NODE_B, "r6")
    assert at_a.net_rate == 0
    assert at_b.net_rate == Decimal("-5")
    assert at_a.cost == Decimal("-300")
    assert at_b.cost == Decimal("-40")


# --- Idempotency, market contexts, deliveries, the ledger ---------------------------------------


def test_a_repeated_request_gets_the_stored_reply_and_runs_once(market) -> None:
    offered = tender("T-1", quantity="10")
    market.send(create_tender("r1", REP, CUSTOMER, offered))
    accept = create_transaction("r2", CUSTOMER, REP, acceptance(offered, "TX-1", quantity="3"))
    first = market.post(accept)
    market.clock.now = NOW + timedelta(seconds=5)
    again = market.post(accept, SOAP_1_2)
    assert first.status == again.status == 200
    assert _payload(first.body) == _payload(again.body)
    assert _standing(market, REP, "r3") == {"T-1": Decimal("7")}
    different = create_transaction("r2", CUSTOMER, REP, acceptance(offered, "TX-2", quantity="1"))
    refused = market.send(different)
    assert refused.response.code == "409"
    assert "request id r2 was already used" in refused.response.description
    assert _standing(market, REP, "r4") == {"T-1": Decimal("7")}


def test_market_contexts_are_requestable(market) -> None:
    retail = MarketContext(uri="http://market.example/retail", name="Retail", currency="EUR")
    with market.store.transaction() as unit:
        unit.put_market_context(retail, NOW)
    reply = market.send(p.RequestMarketContext("r1", (retail.uri,), CUSTOMER))
    assert reply.response.code == "200"
    assert reply.market_contexts == (retail,)
    missing = market.send(p.RequestMarketContext("r2", (retail.uri, "urn:none"), CUSTOMER))
    assert missing.response.code == "404"
    assert "urn:none" in missing.response.description
    assert [context.uri for context in missing.market_contexts] == [retail.uri]
    euro = tender("T-1", market=retail.uri, currency="USD")
    assert _codes(market.send(create_tender("r3", REP, CUSTOMER, euro))) == ["422"]


def test_positions_are_private(market) -> None:
    reply = market.send(
        p.RequestPosition("r1", NEIGHBOUR, CUSTOMER, MARKET, NODE_A, (TOMORROW_3PM,))
    )
    assert reply.response.code == "403"
    unknown = market.send(
        p.RequestPosition("r2", CUSTOMER, CUSTOMER, "urn:x", NODE_A, (TOMORROW_3PM,))
    )
    assert unknown.response.code == "404"


def test_every_exchange_is_in_the_ledger_with_its_bytes(market) -> None:
    created = market.post(create_tender("r1", REP, CUSTOMER, tender("T-1")))
    fault = soap_post(market.app, b"<not-soap/>", action="x")
    with market.store.transaction(write=False) as unit:
        entries = unit.ledger()
    assert len(entries) == 2
    first, second = entries
    assert first.operation == "EiCreateTender"
    assert (first.party_id, first.counterparty_id, first.request_id) == (REP, CUSTOMER, "r1")
    assert first.outcome == "200"
    assert first.verification == "verified"
    assert first.verification_detail == f"{REP} sha256:{pki.party_credentials(REP).fingerprint}"
    assert first.response == created.body
    assert encode_bytes(create_tender("r1", REP, CUSTOMER, tender("T-1")))[40:] in first.request
    assert first.received_at == NOW
    assert first.remote_address == REMOTE_ADDRESS
    assert second.outcome == "fault:VersionMismatch"
    assert second.http_status == fault.status == 500
    assert second.request == b"<not-soap/>"
    with market.store.transaction(write=False) as unit:
        assert [entry.request_id for entry in unit.ledger(party_id=REP)] == ["r1"]


def test_the_request_log_sees_the_notes_of_each_exchange(market) -> None:
    logged: list[dict[str, str]] = []

    def request_log(environ: dict, start_response) -> list[bytes]:
        answer = market.app(environ, start_response)
        logged.append({key: value for key, value in environ.items() if key.startswith("temix.")})
        return answer

    request = create_tender("r1", REP, CUSTOMER, tender("T-1"))
    action = SOAP_ACTIONS[PAYLOAD_ELEMENTS[type(request)]][SOAP_1_1]
    assert soap_post(request_log, market.signed_envelope(request), SOAP_1_1, action).status == 200
    soap_post(request_log, b"<not-soap/>", action="x")
    assert logged == [
        {
            "temix.verification": "verified",
            "temix.verification_detail": f"{REP} sha256:{pki.party_credentials(REP).fingerprint}",
            "temix.operation": "EiCreateTender",
            "temix.party_id": REP,
            "temix.counterparty_id": CUSTOMER,
            "temix.request_id": "r1",
            "temix.outcome": "200",
        },
        {"temix.outcome": "fault:VersionMismatch"},
    ]


def test_an_exchange_the_ledger_cannot_record_leaves_nothing_stored(market, monkeypatch) -> None:
    request = create_tender("r1", REP, CUSTOMER, tender("T-1"))
    action = SOAP_ACTIONS[PAYLOAD_ELEMENTS[type(request)]][SOAP_1_1]
    with monkeypatch.context() as patched:

        def unavailable(unit: object, entry: object) -> None:
            raise RuntimeError("the ledger is unavailable")

        patched.setattr(Unit, "append_ledger", unavailable)
        refused = soap_post(market.app, market.signed_envelope(request), SOAP_1_1, action)
    assert refused.status == 500
    assert b"the server could not record the exchange" in refused.body
    assert _standing(market, REP, "r2") == {}
    again = market.send(request)
    assert again.response.code == "200"
    assert _standing(market, REP, "r3") == {"T-1": Decimal("10")}


def test_a_reply_that_never_leaves_undoes_its_request_but_is_in_the_ledger(market) -> None:
    def broken_signer(reply: bytes) -> bytes:
        raise RuntimeError("no key")

    request = create_tender("r1", REP, CUSTOMER, tender("T-1"))
    action = SOAP_ACTIONS[PAYLOAD_ELEMENTS[type(request)]][SOAP_1_1]
    signer, market.app.reply_signer = market.app.reply_signer, broken_signer
    failed = soap_post(market.app, market.signed_envelope(request), SOAP_1_1, action)
    market.app.reply_signer = signer
    assert failed.status == 500
    with market.store.transaction(write=False) as unit:
        assert [(entry.request_id, entry.http_status) for entry in unit.ledger()] == [("r1", 500)]
        assert unit.tender("T-1") is None
        assert unit.stored_reply(REP, "r1") is None
    assert market.send(request).response.code == "200"
    assert _standing(market, REP, "r2") == {"T-1": Decimal("10")}


def test_the_ledger_is_append_only(database_url: str, binding: str) -> None:
    opened = TestMarket(database_url, binding)
    opened.post(create_tender("r1", REP, CUSTOMER, tender("T-1")))
    for statement in ("UPDATE ledger SET outcome = 'forged'", "DELETE FROM ledger"):
        with pytest.raises(Exception, match="append-only"), opened.store.transaction() as unit:
            unit.connection.exec_driver_sql(statement)
    with opened.store.transaction(write=False) as unit:
        assert [entry.outcome for entry in unit.ledger()] == ["200"]
    opened.close()


def test_stored_records_survive_reopening_the_store(database_url: str, binding: str) -> None:
    first = TestMarket(database_url, binding)
    offered = tender("T-1")
    first.send(create_tender("r1", REP, CUSTOMER, offered))
    first.send(create_transaction("r2", CUSTOMER, REP, acceptance(offered, "TX-1", quantity="2")))
    first.close()
    reopened = Store.open(database_url)
    with reopened.transaction(write=False) as unit:
        assert unit.tender("T-1").remaining == Decimal("8")
        (made,) = unit.transactions(party=CUSTOMER)
    assert made.buyer == CUSTOMER
    assert made.transaction.product.description.quantity == Decimal("2")
    reopened.close()


# --- Authorisation on a signed server -----------------------------------------------------------


def test_a_request_speaking_for_another_party_than_its_signer_is_refused(market) -> None:
    reply = market.post(create_tender("r1", REP, CUSTOMER, tender("T-1")), signer=CUSTOMER)
    refused = decode(etree.fromstring(reply.body)[-1][0])
    assert refused.response.code == "403"
    assert "signed by customer" in refused.response.description
    with market.store.transaction(write=False) as unit:
        assert unit.tender("T-1") is None
        (entry,) = unit.ledger()
    assert (entry.party_id, entry.verification, entry.outcome) == (CUSTOMER, "verified", "403")


def test_a_party_without_the_trader_role_cannot_trade_but_can_read(market) -> None:
    market.register("auditor", frozenset())
    refused = market.send(create_tender("r1", "auditor", CUSTOMER, tender("T-1")))
    assert refused.response.code == "403"
    assert "trader" in refused.response.description
    read = market.send(p.RequestTransaction("r2", "auditor", "auditor"))
    assert (read.response.code, read.transactions) == ("200", ())


def test_an_operator_reads_every_partys_transactions_and_positions(market) -> None:
    offered = tender("T-1")
    market.send(create_tender("r1", REP, CUSTOMER, offered))
    market.send(create_transaction("r2", CUSTOMER, REP, acceptance(offered, "TX-1", quantity="4")))
    market.register("operator", frozenset({OPERATOR}))
    (seen,) = market.send(p.RequestTransaction("r3", CUSTOMER, "operator")).transactions
    assert seen.transaction_id == "TX-1"
    position = market.send(
        p.RequestPosition("r4", "operator", CUSTOMER, MARKET, NODE_A, (TOMORROW_3PM,))
    )
    assert position.response.code == "200"
    (interval,) = position.positions
    assert interval.net_rate == Decimal("-4")
    refused = market.send(p.RequestTransaction("r5", CUSTOMER, REP))
    assert refused.response.code == "403"
