"""Every request example, with one field set to an extreme value: a clean answer, every time.

Hypothesis draws the example, the field and the value from ``temix.conformance.extremes`` and
sends the request to the app in-process (unsigned, so that each value reaches the codec and the
rules rather than the signature check). Whatever the value, the answer is a reply or a
``soap:Client`` fault (SOAP 1.1 carries every fault with HTTP 500, so the fault code is what
tells them apart), never a ``soap:Server`` fault or a traceback; a refused request stores
nothing; and every value the schema excludes is refused.
"""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import select

from bindings import envelope, soap_post
from market import SOAP_ACTIONS, TestMarket
from temix import codec
from temix import payloads as p
from temix.conformance import extremes
from temix.envelope import SOAP_1_1
from temix.model import DEVELOPMENT_MARKET
from temix.schemas import EXAMPLES_VALID
from temix.server import store as tables
from temix.server.store import ID_WIDTH, URI_WIDTH, sqlite_url
from temix.validation import SchemaSet

STORED = (
    tables.tenders,
    tables.quotes,
    tables.transactions,
    tables.deliveries,
    tables.group_members,
    tables.market_contexts,
)
"""What a request can change; the ledger and the idempotency records grow with every one."""


def request_templates() -> dict[str, etree._Element]:
    """Each request example, in the development market the test store knows."""
    templates = {}
    for path in sorted(EXAMPLES_VALID.glob("*.xml")):
        text = path.read_text().replace(
            "http://market.example/temix/retail", DEVELOPMENT_MARKET.uri
        )
        element = etree.fromstring(text.encode())
        if element.tag in SOAP_ACTIONS:
            templates[path.stem] = element
    return templates


TEMPLATES = request_templates()


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory):
    logging.getLogger("temix.server.soap").setLevel(logging.ERROR)
    opened = TestMarket(sqlite_url(tmp_path_factory.mktemp("robustness")), "native", signed=False)
    yield opened
    opened.close()


def stored(market: TestMarket) -> dict[str, list]:
    with market.store.engine.connect() as connection:
        return {
            table.name: sorted(map(tuple, connection.execute(select(table))), key=repr)
            for table in STORED
        }


def answer(market: TestMarket, template: etree._Element, body: bytes) -> tuple[int, str, bytes]:
    """The HTTP status, the fault code (or ``""`` for a reply) and the reply's bytes."""
    action = SOAP_ACTIONS[template.tag][SOAP_1_1]
    reply = soap_post(market.app, envelope(body), SOAP_1_1, action)
    fault = re.search(rb"<faultcode>([^<]*)</faultcode>", reply.body)
    return reply.status, fault[1].decode() if fault else "", reply.body


def unique_request_id(body: bytes, number: int) -> bytes:
    """Each request its own requestID, so that idempotency never answers for another."""
    return re.sub(
        rb"<pyld:requestID>[^<]*</pyld:requestID>",
        f"<pyld:requestID>robust-{number}</pyld:requestID>".encode(),
        body,
        count=1,
    )


@st.composite
def mutated_requests(draw: st.DrawFn) -> tuple[etree._Element, extremes.Field, str]:
    template = TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))]
    field = draw(st.sampled_from(extremes.fields(template)))
    return template, field, draw(st.sampled_from(extremes.EXTREMES[field.kind]))


COUNTER = iter(range(10**9))


def test_every_request_example_has_fields_to_mutate():
    assert len(TEMPLATES) >= 15
    for name, template in TEMPLATES.items():
        assert extremes.fields(template), name


@settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(mutated_requests())
def test_an_extreme_value_gets_a_clean_answer(market, request):
    template, field, value = request
    body = extremes.with_value(template, field, value)
    if field.name != "requestID":
        body = unique_request_id(body, next(COUNTER))
    before = stored(market)
    status, fault, reply = answer(market, template, body)
    shown = f"{etree.QName(template).localname} {field.name}={value[:40]!r}: {reply[:600]!r}"
    assert fault in ("", "soap:Client"), shown
    assert status == (500 if fault else 200), shown
    assert b"Traceback" not in reply, shown
    schema_valid = not SchemaSet.bundled().problems(etree.fromstring(body))
    if not schema_valid:
        assert fault == "soap:Client", f"a value the schema excludes was taken: {shown}"
    codes = re.findall(rb"<ei:responseCode>(\d{3})</ei:responseCode>", reply)
    if fault or (codes and not any(code.startswith(b"2") for code in codes)):
        assert stored(market) == before, f"a refused request changed the store: {shown}"
    elif template.tag == CREATE_TENDER and all(code.startswith(b"2") for code in codes):
        assert_reads_back(market, codec.decode(etree.fromstring(body)), shown)


CREATE_TENDER = codec.PAYLOAD_ELEMENTS[p.CreateTender]


def assert_reads_back(market: TestMarket, created: p.CreateTender, shown: str) -> None:
    """The author's listing holds each new tender as it was sent."""
    listed = market.send(
        p.RequestTender(
            f"read-back-{next(COUNTER)}",
            created.party_id,
            created.party_id,
            tender_ids=tuple(tender.tender_id for tender in created.tenders),
        )
    )
    assert set(listed.tenders) == set(created.tenders), shown


@pytest.mark.parametrize(("name", "width"), [("tenderID", ID_WIDTH), ("marketContext", URI_WIDTH)])
def test_a_text_wider_than_the_store_is_a_400(market, name, width):
    template = TEMPLATES["create-tender-power"]
    (field,) = [item for item in extremes.fields(template) if item.name == name]
    before = stored(market)
    body = extremes.with_value(template, field, "x" * (width + 1))
    status, fault, reply = answer(market, template, unique_request_id(body, next(COUNTER)))
    assert (status, fault) == (200, ""), reply
    assert b"<ei:responseCode>400</ei:responseCode>" in reply
    assert f"longer than the {width} characters this server keeps".encode() in reply
    assert stored(market) == before
