"""The reference client against a running ``temix serve`` it did not start in process, and
against stub endpoints that answer what a broken or hostile endpoint might."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

import market
import pki
from running_server import Answer, RunningServer, key_directory, tomorrow
from temix import payloads as p
from temix import wsdl as contract
from temix.client import (
    BadReply,
    Client,
    Refused,
    Signing,
    SoapFault,
    TransportFailure,
    UnverifiedReply,
    WsdlError,
)
from temix.envelope import SOAP_1_2
from temix.keys import KeyDirectory, load_certificate
from temix.model import (
    Delivery,
    Interval,
    MeterReading,
    ProductKind,
    Quote,
    Side,
    TransactiveState,
)
from temix.schemas import WSDL
from temix.server.store import Store, sqlite_url
from temix.settlement import PriceKind
from temix.wssecurity import WSSE

MARKET = market.MARKET
NODE = market.NODE_A


FORWARD_HOUR = Interval(tomorrow(15), timedelta(hours=1))
OPTION_HOURS = Interval(tomorrow(18), timedelta(hours=2))


def _tender(tender_id: str, side: Side = Side.SELL, quantity: str = "5", price: str = "42.5"):
    return market.tender(
        tender_id,
        side=side,
        quantity=quantity,
        price=price,
        interval=FORWARD_HOUR,
        expires=FORWARD_HOUR.start,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    base = tmp_path_factory.mktemp("client")
    running = RunningServer(
        sqlite_url(base / "data"), base / "server.log", keys=key_directory(base / "keys"), workers=1
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def keys(server: RunningServer) -> KeyDirectory:
    assert server.keys is not None
    return server.keys


def _client(server: RunningServer, party: str, **options: object) -> Client:
    assert server.keys is not None
    return Client(server.wsdl_url, party, Signing.from_keys(server.keys.path, party), **options)


@pytest.fixture(scope="module")
def rep(server: RunningServer) -> Iterator[Client]:
    with _client(server, "rep") as client:
        yield client


@pytest.fixture(scope="module")
def customer(server: RunningServer) -> Iterator[Client]:
    with _client(server, "customer") as client:
        yield client


def _ledger(server: RunningServer, request_id: str) -> list:
    store = Store.open(server.database_url)
    try:
        with store.transaction(write=False) as unit:
            return [entry for entry in unit.ledger() if entry.request_id == request_id]
    finally:
        store.close()


# --- Trading through every operation ---------------------------------------------------------


def test_a_tender_is_offered_found_partly_accepted_and_priced_in_the_position(rep, customer):
    created = rep.create_tender("customer", _tender("CL-1"))
    assert created.response.code == "200"
    assert created.tender_ids == ("CL-1",)

    (found,) = customer.request_tenders(tender_ids=("CL-1",), counterparties=("rep",))
    assert found.product.description.quantity == Decimal("5")
    assert found.product.side is Side.SELL

    accepted = customer.accept(found, "rep", Decimal("2"), transaction_id="CL-1-TX")
    assert accepted.transaction_ids == ("CL-1-TX",)
    (remaining,) = customer.request_tenders(tender_ids=("CL-1",))
    assert remaining.product.description.quantity == Decimal("3")

    (transaction,) = customer.request_transactions(transaction_ids=("CL-1-TX",))
    assert transaction.tender_id == "CL-1"
    assert transaction.product.side is Side.BUY
    assert transaction.product.description.quantity == Decimal("2")

    position = customer.request_position(MARKET, NODE, FORWARD_HOUR)
    (hour,) = position.positions
    assert (hour.net_rate, hour.energy, hour.cost) == (Decimal(-2), Decimal(-2), Decimal(-85))
    assert position.party_id == "customer"


def test_side_and_product_filters_apply_to_the_reply(rep, customer):
    rep.create_tender("customer", _tender("CL-SELL"), _tender("CL-BUY", side=Side.BUY))
    ids = {"CL-SELL", "CL-BUY"}
    buys = customer.request_tenders(tender_ids=tuple(ids), side=Side.BUY)
    assert [tender.tender_id for tender in buys] == ["CL-BUY"]
    assert customer.request_tenders(tender_ids=tuple(ids), kind=ProductKind.POWER_OPTION) == ()
    power = customer.request_tenders(tender_ids=tuple(ids), kind=ProductKind.POWER)
    assert {tender.tender_id for tender in power} == ids


def test_an_option_is_bought_then_exercised_by_its_holder(rep, customer):
    option = market.tender(
        "CL-OPT",
        quantity="4",
        price="50",
        interval=OPTION_HOURS,
        expires=FORWARD_HOUR.start,
        option=market.option_terms(strike="50"),
    )
    rep.create_tender("customer", option)
    customer.accept(option, "rep", transaction_id="CL-OPT-TX")
    (held,) = customer.request_transactions(transaction_ids=("CL-OPT-TX",))

    first_hour = Interval(OPTION_HOURS.start, timedelta(hours=1))
    exercised = customer.exercise_option(
        held, "rep", first_hour, Decimal("1.5"), transaction_id="CL-EX-1"
    )
    assert exercised.transaction_ids == ("CL-EX-1",)
    (underlying,) = customer.request_transactions(transaction_ids=("CL-EX-1",))
    assert underlying.product.state is TransactiveState.EXERCISE
    assert underlying.product.related_to == "CL-OPT-TX"
    assert underlying.product.description.price == Decimal("50")

    with pytest.raises(Refused) as refused:
        rep.exercise_option(held, "customer", first_hour, Decimal("1"))
    assert refused.value.code in {"403", "404"}


def test_quotes_are_published_read_and_cancelled(rep, customer):
    interest = TransactiveState.INDICATION_OF_INTEREST
    offered = market.product(
        uid="P-CL-Q", quantity="1", price="39", interval=FORWARD_HOUR, state=interest
    )
    quote = Quote("CL-Q", (offered,))
    assert rep.create_quote("customer", quote).quote_ids == ("CL-Q",)
    (read,) = customer.request_quotes("rep", quote_ids=("CL-Q",))
    assert read.products[0].description.price == Decimal("39")
    rep.cancel_quote("CL-Q", subscriber="customer")
    assert customer.request_quotes("rep", quote_ids=("CL-Q",)) == ()


def test_delivery_is_reported_and_settled_against_the_transactions(rep, customer, server):
    reading = MeterReading(FORWARD_HOUR, Decimal("2.5"), MARKET, NODE)
    reported = customer.report_delivery(Delivery("CL-METER-1", False, (reading,)))
    (stored,) = reported.deliveries
    assert stored.delivery_id is not None
    assert [d.uid for d in customer.request_deliveries(delivery_ids=(stored.delivery_id,))] == [
        "CL-METER-1"
    ]

    with pytest.raises(Refused) as missing_price:
        customer.request_settlement(MARKET, NODE, FORWARD_HOUR)
    assert missing_price.value.code == "409"

    store = Store.open(server.database_url)
    with store.transaction() as unit:
        unit.set_price(PriceKind.BALANCING, MARKET, NODE.id, FORWARD_HOUR, Decimal("60"))
    store.close()
    settled = customer.request_settlement(MARKET, NODE, FORWARD_HOUR)
    assert settled.statement is not None
    assert settled.currency == "USD"


def test_market_contexts_are_read_and_unknown_ones_refused(customer):
    (context,) = customer.request_market_contexts(MARKET)
    assert (context.uri, context.currency) == (MARKET, "USD")
    with pytest.raises(Refused) as refused:
        customer.request_market_contexts(MARKET, "urn:temix:market:nowhere")
    assert refused.value.code == "404"
    assert [known.uri for known in refused.value.reply.market_contexts] == [MARKET]


def test_publication_reads_transacted_prices(customer):
    reply = customer.request_publication(MARKET, NODE, FORWARD_HOUR)
    (published,) = reply.publications
    assert published.count >= 1


def test_a_refusal_carries_the_code_and_each_refused_item(rep, customer):
    rep.create_tender("customer", _tender("CL-MINE"))
    with pytest.raises(Refused) as refused:
        customer.cancel_tender("CL-MINE")
    assert refused.value.code == "403"
    assert "CL-MINE" in str(refused.value)
    assert [item.code for item in refused.value.reply.responses] == ["403"]


def test_soap_1_2_and_a_local_wsdl_with_the_endpoint_given(server, keys):
    with _client(server, "generator", soap_version=SOAP_1_2) as over_12:
        assert over_12.create_tender("customer", _tender("CL-12")).tender_ids == ("CL-12",)
    endpoint = server.wsdl_url.removesuffix("?wsdl")
    signing = Signing.from_keys(keys.path, "generator")
    with Client(str(WSDL), "generator", signing, endpoint=endpoint) as local:
        (found,) = local.request_tenders(tender_ids=("CL-12",))
        assert found.tender_id == "CL-12"


# --- Retries never trade twice -------------------------------------------------------------


class _LoseReplies(HTTPAdapter):
    """Sends each request, then loses the reply of the next ``lose`` POSTs as if the
    connection were reset after the endpoint served them; counts the POSTs sent."""

    def __init__(self) -> None:
        super().__init__()
        self.lose = 0
        self.posts = 0

    def send(self, request, **options):  # type: ignore[override]
        response = super().send(request, **options)
        if request.method == "POST":
            self.posts += 1
            if self.lose > 0:
                self.lose -= 1
                raise requests.ConnectionError("connection reset after the request was served")
        return response


def _losing_session() -> tuple[requests.Session, _LoseReplies]:
    session = requests.Session()
    adapter = _LoseReplies()
    session.mount("http://", adapter)
    return session, adapter


def test_a_retried_acceptance_trades_once_with_the_same_request_id(rep, server):
    rep.create_tender("customer", _tender("CL-RETRY", quantity="3"))
    session, adapter = _losing_session()
    with _client(server, "customer", session=session, retry_delay=0) as flaky:
        (offered,) = flaky.request_tenders(tender_ids=("CL-RETRY",))
        adapter.posts, adapter.lose = 0, 1
        accepted = flaky.accept(
            offered, "rep", Decimal("1"), transaction_id="CL-RETRY-TX", request_id="retry-1"
        )
        assert adapter.posts == 2
        assert accepted.response.code == "200"
        assert accepted.transaction_ids == ("CL-RETRY-TX",)
        (left,) = flaky.request_tenders(tender_ids=("CL-RETRY",))
    assert left.product.description.quantity == Decimal("2")
    served = _ledger(server, "retry-1")
    assert len(served) == 2
    assert {entry.verification for entry in served} == {"verified"}
    assert Answer(200, served[0].response).payload() == Answer(200, served[1].response).payload()
    assert served[0].request != served[1].request


def test_a_call_that_never_gets_an_answer_fails_after_its_retries(server):
    session, adapter = _losing_session()
    adapter.lose = 10
    with (
        _client(server, "customer", session=session, retries=2, retry_delay=0) as flaky,
        pytest.raises(TransportFailure, match="after 3 attempts"),
    ):
        flaky.request_tenders()
    assert adapter.posts == 3


def test_an_unreachable_endpoint_is_a_transport_failure(server, keys):
    signing = Signing.from_keys(keys.path, "customer")
    with (
        Client(
            str(WSDL), "customer", signing, endpoint="http://127.0.0.1:9/", retries=1, retry_delay=0
        ) as nowhere,
        pytest.raises(TransportFailure, match="after 2 attempts"),
    ):
        nowhere.request_tenders()


# --- Verification of replies ---------------------------------------------------------------


def test_a_reply_not_signed_by_the_pinned_certificate_is_not_trusted(server, keys):
    wrong_pin = Signing(keys.party("customer"), keys.ca_certificate())
    with (
        Client(server.wsdl_url, "customer", wrong_pin) as client,
        pytest.raises(UnverifiedReply, match="not the pinned server certificate"),
    ):
        client.request_tenders()


def test_a_security_fault_from_the_server_is_verified_and_typed(server, keys):
    stranger = Signing(
        pki.party_credentials("customer"), load_certificate(keys.server_certificate_path)
    )
    with (
        Client(server.wsdl_url, "customer", stranger) as client,
        pytest.raises(SoapFault) as fault,
    ):
        client.request_tenders()
    assert fault.value.verified
    assert f"{{{WSSE}}}InvalidSecurity" in (fault.value.code, *fault.value.subcodes)


# --- Stub endpoints ------------------------------------------------------------------------


class _Stub:
    """An HTTP endpoint on a free port that serves ``wsdl`` on GET and answers every POST
    with ``answer() -> (status, content type, body)``; it counts the POSTs."""

    def __init__(self, wsdl: bytes, answer: Callable[[], tuple[int, str, bytes]]) -> None:
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._reply(200, "text/xml", wsdl)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                stub.posts += 1
                self._reply(*answer())

            def _reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.posts = 0
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def stub() -> Iterator[Callable[..., _Stub]]:
    started: list[_Stub] = []

    def start(answer: Callable[[], tuple[int, str, bytes]], wsdl: bytes | None = None) -> _Stub:
        served = _Stub(wsdl if wsdl is not None else contract.flatten_wsdl(), answer)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()


def _stub_client(url: str, signing: Signing | None, **options: object) -> Client:
    return Client(f"{url}?wsdl", "customer", signing, endpoint=url, retry_delay=0, **options)


def _fault_envelope() -> bytes:
    return (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:wsse="' + WSSE.encode() + b'"><s:Body><s:Fault>'
        b"<faultcode>wsse:InvalidSecurity</faultcode><faultstring>go away</faultstring>"
        b"</s:Fault></s:Body></s:Envelope>"
    )


def test_an_unsigned_fault_is_reported_unverified_with_its_text(stub, keys):
    endpoint = stub(lambda: (500, "text/xml; charset=utf-8", _fault_envelope()))
    signing = Signing.from_keys(keys.path, "customer")
    with (
        _stub_client(endpoint.url, signing) as client,
        pytest.raises(UnverifiedReply) as unverified,
    ):
        client.request_tenders()
    assert "not signed" in unverified.value.cause
    assert unverified.value.fault is not None
    assert unverified.value.fault.code == f"{{{WSSE}}}InvalidSecurity"
    assert unverified.value.fault.reason == "go away"
    assert not unverified.value.fault.verified


def test_without_signing_a_fault_is_read_as_it_is(stub):
    endpoint = stub(lambda: (500, "text/xml", _fault_envelope()))
    with (
        _stub_client(endpoint.url, None) as client,
        pytest.raises(SoapFault, match="go away") as fault,
    ):
        client.request_tenders()
    assert not fault.value.verified


def test_an_overloaded_endpoint_is_retried_then_reported_with_its_status(stub):
    endpoint = stub(lambda: (503, "text/plain", b"busy"))
    with (
        _stub_client(endpoint.url, None, retries=2) as client,
        pytest.raises(TransportFailure, match="busy") as failure,
    ):
        client.request_tenders()
    assert failure.value.status == 503
    assert endpoint.posts == 3


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((200, "text/html", b"<html>login</html>"), "without a SOAP reply"),
        ((200, "text/xml", b"<not xml"), "not acceptable XML"),
        ((200, "text/xml", b"<Envelope/>"), "not a SOAP 1.1 Envelope"),
        (
            (
                200,
                "text/xml",
                b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                b'<x:eiCreatedTender xmlns:x="urn:wrong"/></s:Body></s:Envelope>',
            ),
            "expected pyld:eiReplyTender",
        ),
    ],
)
def test_a_reply_that_is_not_the_operations_reply_is_a_bad_reply(stub, answer, message):
    endpoint = stub(lambda: answer)
    with (
        _stub_client(endpoint.url, None) as client,
        pytest.raises((BadReply, TransportFailure), match=message),
    ):
        client.request_tenders()


def test_a_wsdl_importing_from_another_origin_is_refused(stub):
    elsewhere = stub(lambda: (200, "text/xml", b""))
    wsdl = contract.flatten_wsdl()
    evil = wsdl.replace(
        b"<wsdl:types>",
        b'<wsdl:import namespace="urn:x" location="' + elsewhere.url.encode() + b'x.wsdl"/>'
        b"<wsdl:types>",
        1,
    )
    assert evil != wsdl
    endpoint = stub(lambda: (200, "text/xml", b""), wsdl=evil)
    with pytest.raises(WsdlError, match="outside its own origin"):
        Client(f"{endpoint.url}?wsdl", "customer", None)


def test_a_missing_wsdl_is_a_clear_error(tmp_path: Path):
    with pytest.raises(WsdlError, match="cannot load the WSDL"):
        Client("http://127.0.0.1:9/?wsdl", "customer", None, timeout=2)
    with pytest.raises(WsdlError):
        Client(str(tmp_path / "absent.wsdl"), "customer", None)


def test_request_ids_are_fresh_per_call_unless_given(rep):
    first = rep.create_tender("customer", _tender("CL-ID-1"))
    second = rep.create_tender("customer", _tender("CL-ID-2"))
    assert first.response.ref_id != second.response.ref_id
    given = rep.create_tender("customer", _tender("CL-ID-3"), request_id="mine-1")
    assert given.response.ref_id == "mine-1"
    again = rep.create_tender("customer", _tender("CL-ID-3"), request_id="mine-1")
    assert again == given
    with pytest.raises(Refused) as conflict:
        rep.create_tender("customer", _tender("CL-ID-4"), request_id="mine-1")
    assert conflict.value.code == "409"


# --- Long lists and bounded requests ---------------------------------------------------------


@contextmanager
def _own_server(directory: Path, *options: str) -> Iterator[RunningServer]:
    """A server of its own (one worker, SQLite) with ``options``, for tests that fill it."""
    running = RunningServer(
        sqlite_url(directory / "data"),
        directory / "server.log",
        keys=key_directory(directory / "keys"),
        workers=1,
        options=options,
    )
    try:
        yield running
    finally:
        running.stop()


def test_three_thousand_tenders_offered_to_one_party_are_listed_in_full(tmp_path):
    """Two authors offer one party 1,500 each. A reply lists at most 500; it names the rest
    (code 206) and the client asks for them by id, so the counterparty, and each author, still
    see every tender. The first reply is over 1 MiB, the request limit, which a reply may be."""
    ids = [f"LONG-{number:04d}" for number in range(3000)]
    with (
        _own_server(tmp_path) as alone,
        _client(alone, "rep") as rep,
        _client(alone, "generator") as generator,
        _client(alone, "customer") as customer,
    ):
        for start in range(0, len(ids), 300):
            author = rep if start < 1500 else generator
            created = author.create_tender("customer", *map(_tender, ids[start : start + 300]))
            assert created.response.code == "200"
        first = customer.call(p.RequestTender("LONG-R", "customer", "customer"))
        everything = customer.request_tenders()
        written = rep.request_tenders()
    assert first.response.code == "200"
    assert first.response.description == (
        "500 of the 3000 tenders found are listed; the other 2500 are named in responses with "
        "code 206: ask for them by id"
    )
    named = [each.ref_id for each in first.responses if each.code == "206"]
    listed = [tender.tender_id for tender in first.tenders]
    assert len(listed) == 500 and sorted(listed + named) == ids
    assert sorted(tender.tender_id for tender in everything) == ids
    assert sorted(tender.tender_id for tender in written) == ids[:1500]


@pytest.mark.parametrize(
    ("ask", "named"),
    [
        pytest.param(
            lambda client: client.request_position(
                MARKET, NODE, *Interval(tomorrow(0), timedelta(days=18)).split(timedelta(minutes=5))
            ),
            "at most 1000 intervals, not 5184",
            id="position-intervals",
        ),
        pytest.param(
            lambda client: client.request_tenders(tender_ids=tuple(map(str, range(501)))),
            "at most 500 tender ids, not 501",
            id="tender-ids",
        ),
    ],
)
def test_a_request_over_the_bounds_is_refused_with_the_bound_named(customer, ask, named):
    with pytest.raises(Refused) as refused:
        ask(customer)
    assert refused.value.code == "400"
    assert named in str(refused.value)


def test_a_party_at_its_standing_tender_limit_is_refused_and_no_other_party_is(tmp_path):
    with (
        _own_server(tmp_path, "--max-standing-tenders", "3") as limited,
        _client(limited, "rep") as rep,
        _client(limited, "generator") as generator,
    ):
        rep.create_tender("customer", *(_tender(f"CAP-{n}") for n in range(3)))
        with pytest.raises(Refused) as refused:
            rep.create_tender("customer", _tender("CAP-3"))
        assert refused.value.response.code == "409"
        assert "rep has 3 standing tenders" in str(refused.value)
        assert "max-standing-tenders" in str(refused.value)
        assert generator.create_tender("customer", _tender("GEN-0")).response.code == "200"
        rep.cancel_tender("CAP-0")
        assert rep.create_tender("customer", _tender("CAP-3")).response.code == "200"


def test_a_party_may_offer_one_other_party_only_so_many_tenders(tmp_path):
    with (
        _own_server(tmp_path, "--max-offered-to-one", "2") as limited,
        _client(limited, "rep") as rep,
    ):
        rep.create_tender("customer", _tender("ONE-0"), _tender("ONE-1"))
        with pytest.raises(Refused) as refused:
            rep.create_tender("customer", _tender("ONE-2"))
        assert "rep has 2 standing tenders offered to customer" in str(refused.value)
        assert "max-offered-to-one" in str(refused.value)
        assert rep.create_tender("generator", _tender("ONE-3")).response.code == "200"


def test_a_party_over_its_request_rate_is_answered_429_and_others_are_not(tmp_path):
    with (
        _own_server(tmp_path, "--party-rate", "2") as limited,
        _client(limited, "rep") as rep,
        _client(limited, "generator") as generator,
    ):
        codes = []
        for number in range(6):
            try:
                rep.request_tenders(request_id=f"RATE-{number}")
                codes.append("200")
            except Refused as refused:
                codes.append(refused.response.code)
                assert "rep sent more than 2 requests a second" in str(refused)
        assert codes[:2] == ["200", "200"] and "429" in codes[2:]
        assert generator.request_tenders() == ()
        time.sleep(1.1)
        assert rep.request_tenders(request_id="RATE-2") == ()


def test_six_hundred_deliveries_are_listed_in_full(tmp_path):
    readings = [MeterReading(FORWARD_HOUR, Decimal("1"), MARKET, NODE)]
    deliveries = [Delivery(f"METER-{n:03d}", False, tuple(readings)) for n in range(600)]
    with _own_server(tmp_path) as alone, _client(alone, "customer") as customer:
        for start in range(0, 600, 300):
            customer.report_delivery(*deliveries[start : start + 300])
        first = customer.call(p.RequestDelivery("METER-R", "customer"))
        everything = customer.request_deliveries()
    assert len(first.deliveries) == 500
    assert [each.code for each in first.responses] == ["206"] * 100
    assert sorted(each.uid for each in everything) == [each.uid for each in deliveries]
