"""``temix conformance check``: judging captured messages offline."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import pki
from bindings import envelope
from market import NOW, acceptance, create_tender, create_transaction, option_terms, product, tender
from temix import codec, rules
from temix import payloads as p
from temix.conformance.catalogue import Outcome
from temix.conformance.check import (
    AGREES_IN_MARKET,
    BY_ARGUMENT_ORDER,
    BY_CREATION_TIME,
    BY_TIMESTAMP,
    CHECKS,
    DEAL_STATES,
    FITS_MARKET,
    PAIRED,
    PROFILE_READABLE,
    REFERENCES_SEEN,
    SCHEMA_VALID,
    TENDER_LIFECYCLE,
    Check,
    CheckReport,
    check_command,
    judge,
)
from temix.envelope import SOAP_1_2
from temix.model import DEVELOPMENT_MARKET, Quote, TransactiveState
from temix.responses import ResponseCode, response
from temix.schemas import EXAMPLES_INVALID, EXAMPLES_VALID, WSDL

VALID_EXAMPLES = sorted(EXAMPLES_VALID.glob("*.xml"))

OFFER = tender("T-1", quantity="10")


def write(directory: Path, name: str, payload: Any) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(codec.encode_bytes(payload))
    return path


def write_signed(directory: Path, name: str, payload: Any, party: str, at: datetime) -> Path:
    """``payload`` in a SOAP envelope signed by ``party`` with a Timestamp created ``at``."""
    path = directory / name
    path.write_bytes(pki.sign(envelope(payload), pki.party_credentials(party), at))
    return path


def findings(report: CheckReport, check: Check, outcome: Outcome | None = None) -> list[str]:
    return [
        finding.detail
        for each in report.files
        for finding in each.findings
        if finding.check == check and (outcome is None or finding.outcome is outcome)
    ]


def failed_checks(report: CheckReport) -> set[str]:
    return {
        finding.check.id
        for each in report.files
        for finding in each.findings
        if finding.outcome is Outcome.FAILED
    }


def market_reply() -> p.ReplyMarketContext:
    return p.ReplyMarketContext(
        response(ResponseCode.OK, "MC-1", created=NOW), (DEVELOPMENT_MARKET,)
    )


def cancel(request_id: str, *tender_ids: str) -> p.CancelTender:
    return p.CancelTender(request_id, "rep", tender_ids)


def accept(
    request_id: str, transaction_id: str, quantity: str | None = None
) -> p.CreateTransaction:
    return create_transaction(
        request_id, "customer", "rep", acceptance(OFFER, transaction_id, quantity)
    )


def sequence(directory: Path, *payloads: Any) -> list[Path]:
    """Each payload as a bare document, named so that path order is the order given."""
    return [
        write(directory, f"{number:02d}-{type(payload).__name__}.xml", payload)
        for number, payload in enumerate(payloads, start=1)
    ]


# --- Payload validity ----------------------------------------------------------------------


@pytest.mark.parametrize("example", VALID_EXAMPLES, ids=lambda path: path.name)
def test_each_valid_example_passes(example: Path) -> None:
    report = judge([example])

    assert not report.failed, report.as_json()
    assert findings(report, SCHEMA_VALID) and findings(report, PROFILE_READABLE)


def test_an_invalid_example_fails_validity() -> None:
    report = judge([EXAMPLES_INVALID / "negative-quantity.xml"])

    assert findings(report, SCHEMA_VALID, Outcome.FAILED)
    assert findings(report, PROFILE_READABLE, Outcome.FAILED)


def test_files_that_are_not_xml_are_findings_not_crashes(tmp_path: Path) -> None:
    text = tmp_path / "notes.xml"
    text.write_text("this is not XML")
    doctype = tmp_path / "doctype.xml"
    doctype.write_text('<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>')

    report = judge([text, doctype])

    assert len(findings(report, SCHEMA_VALID, Outcome.FAILED)) == 2


def test_a_service_description_is_not_judged() -> None:
    report = judge([WSDL])

    assert findings(report, SCHEMA_VALID, Outcome.NOT_APPLICABLE)
    assert report.line == "0 passed, 0 failed, 0 warnings"


def test_a_soap_fault_passes_and_means_its_request_took_no_effect(tmp_path: Path) -> None:
    exchange = tmp_path / "TMX-TRX-001"
    exchange.mkdir()
    write(exchange, "001-request.xml", create_tender("R-1", "rep", "customer", OFFER))
    (exchange / "001-response.xml").write_text(
        '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault>'
        "<faultcode>e:Client</faultcode><faultstring>unsigned</faultstring>"
        "</e:Fault></e:Body></e:Envelope>"
    )
    write(exchange, "002-request.xml", accept("R-2", "TX-1", "4"))

    report = judge(sorted(exchange.glob("*.xml")))

    assert not report.failed
    assert "SOAP Fault" in " ".join(findings(report, SCHEMA_VALID, Outcome.PASSED))
    assert findings(report, REFERENCES_SEEN, Outcome.WARNING) == [
        "transaction TX-1 accepts 4 of tender T-1, which the capture never created"
    ]


# --- Market context consistency ------------------------------------------------------------


def test_a_product_in_another_currency_than_its_captured_market_context_fails(
    tmp_path: Path,
) -> None:
    euros = tender("T-1", currency="EUR")
    files = sequence(tmp_path, market_reply(), create_tender("R-1", "rep", "customer", euros))

    report = judge(files)

    assert failed_checks(report) == {FITS_MARKET.id}
    [detail] = findings(report, FITS_MARKET, Outcome.FAILED)
    assert "currency EUR; the market trades in USD" in detail


def test_products_fitting_their_captured_market_context_pass(tmp_path: Path) -> None:
    files = sequence(tmp_path, market_reply(), create_tender("R-1", "rep", "customer", OFFER))

    report = judge(files)

    assert not report.failed
    assert findings(report, FITS_MARKET, Outcome.PASSED)
    assert not findings(report, AGREES_IN_MARKET)


def test_without_a_description_products_of_one_market_context_must_agree(
    tmp_path: Path,
) -> None:
    files = sequence(
        tmp_path,
        create_tender("R-1", "rep", "customer", tender("T-1")),
        create_tender("R-2", "rep", "customer", tender("T-2", currency="EUR")),
    )

    report = judge(files)

    assert failed_checks(report) == {AGREES_IN_MARKET.id}
    [detail] = findings(report, AGREES_IN_MARKET, Outcome.FAILED)
    assert "currency EUR" in detail and "has USD" in detail
    assert findings(report, AGREES_IN_MARKET, Outcome.WARNING)


def test_a_refused_product_is_not_judged_against_the_market(tmp_path: Path) -> None:
    euros = tender("T-1", currency="EUR")
    refused = p.CreatedTender(
        response(ResponseCode.TERMS_VIOLATED, "R-1", created=NOW),
        (response(ResponseCode.TERMS_VIOLATED, "T-1"),),
        "rep",
        "customer",
    )
    files = sequence(
        tmp_path, market_reply(), create_tender("R-1", "rep", "customer", euros), refused
    )

    report = judge(files)

    assert not report.failed
    assert not findings(report, FITS_MARKET)


# --- Transactive-state sequences -----------------------------------------------------------


def test_create_partial_accept_and_accept_the_rest_is_legal(tmp_path: Path) -> None:
    files = sequence(
        tmp_path,
        create_tender("R-1", "rep", "customer", OFFER),
        accept("R-2", "TX-1", "4"),
        accept("R-3", "TX-2", "6"),
    )

    report = judge(files)

    assert not report.failed
    lifecycle = findings(report, TENDER_LIFECYCLE, Outcome.PASSED)
    assert lifecycle == [
        "creates tender T-1: live",
        "transaction TX-1 accepts 4 of tender T-1: live -> partiallyFilled, 6 remains",
        "transaction TX-2 accepts 6 of tender T-1: partiallyFilled -> filled, 0 remains",
    ]


def test_an_acceptance_after_a_cancellation_fails(tmp_path: Path) -> None:
    files = sequence(
        tmp_path,
        create_tender("R-1", "rep", "customer", OFFER),
        accept("R-2", "TX-1", "4"),
        cancel("R-3", "T-1"),
        accept("R-4", "TX-2", "6"),
    )

    report = judge(files)

    assert failed_checks(report) == {TENDER_LIFECYCLE.id}
    [detail] = findings(report, TENDER_LIFECYCLE, Outcome.FAILED)
    assert "TX-2" in detail and "410" in detail and "cancelled" in detail


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [("10", "1", "410"), ("4", "7", "409")],
    ids=["after-fill", "beyond-what-remains"],
)
def test_an_acceptance_beyond_the_tendered_quantity_fails(
    tmp_path: Path, first: str, second: str, expected: str
) -> None:
    files = sequence(
        tmp_path,
        create_tender("R-1", "rep", "customer", OFFER),
        accept("R-2", "TX-1", first),
        accept("R-3", "TX-2", second),
    )

    report = judge(files)

    assert failed_checks(report) == {TENDER_LIFECYCLE.id}
    [detail] = findings(report, TENDER_LIFECYCLE, Outcome.FAILED)
    assert detail.startswith(f"transaction TX-2 accepts {second} of tender T-1")
    assert f"refuse: {expected}" in detail


def test_an_acceptance_after_expiry_fails_when_the_capture_has_times(tmp_path: Path) -> None:
    expiring = tender("T-1", expires=NOW + timedelta(minutes=30))
    files = [
        write_signed(
            tmp_path, "1.xml", create_tender("R-1", "rep", "customer", expiring), "rep", NOW
        ),
        write_signed(
            tmp_path,
            "2.xml",
            create_transaction("R-2", "customer", "rep", acceptance(expiring, "TX-1")),
            "customer",
            NOW + timedelta(hours=1),
        ),
    ]

    report = judge(files)

    [detail] = findings(report, TENDER_LIFECYCLE, Outcome.FAILED)
    assert "expired" in detail


def test_exercising_a_transaction_that_is_not_an_option_fails(tmp_path: Path) -> None:
    power = acceptance(OFFER, "TX-1")
    exercise = replace(
        power,
        transaction_id="TX-2",
        tender_id=None,
        product=replace(
            power.product, uid="P-X", state=TransactiveState.EXERCISE, related_to="TX-1"
        ),
    )
    files = sequence(
        tmp_path,
        create_tender("R-1", "rep", "customer", OFFER),
        create_transaction("R-2", "customer", "rep", power),
        create_transaction("R-3", "customer", "rep", exercise),
    )

    report = judge(files)

    assert failed_checks(report) == {DEAL_STATES.id}
    [detail] = findings(report, DEAL_STATES, Outcome.FAILED)
    assert "423" in detail and "options only" in detail


def test_exercising_an_accepted_option_is_legal(tmp_path: Path) -> None:
    option = tender("T-1", price="50", option=option_terms())
    bought = acceptance(option, "TX-1")
    hour = replace(bought.product.interval, duration=timedelta(hours=1))
    exercise = rules.exercise(bought, hour, Decimal(4), "TX-2")
    files = sequence(
        tmp_path,
        create_tender("R-1", "rep", "customer", option),
        create_transaction("R-2", "customer", "rep", bought),
        create_transaction("R-3", "customer", "rep", exercise),
    )

    report = judge(files)

    assert not report.failed
    assert "exercise TX-2 of transaction TX-1: transaction -> exercise" in findings(
        report, DEAL_STATES, Outcome.PASSED
    )


def test_accepting_a_quote_fails(tmp_path: Path) -> None:
    indication = product(uid="P-Q", state=TransactiveState.INDICATION_OF_INTEREST)
    quote = Quote("Q-1", (indication,))
    taken = acceptance(tender("Q-1"), "TX-1")
    files = sequence(
        tmp_path,
        p.CreateQuote("R-1", "rep", "customer", (quote,)),
        create_transaction("R-2", "customer", "rep", taken),
    )

    report = judge(files)

    assert failed_checks(report) == {DEAL_STATES.id}
    [detail] = findings(report, DEAL_STATES, Outcome.FAILED)
    assert "423" in detail and "not actionable" in detail


def test_accepting_a_tender_the_capture_never_created_is_a_warning(tmp_path: Path) -> None:
    report = judge(sequence(tmp_path, accept("R-1", "TX-1", "4")))

    assert not report.failed
    assert findings(report, REFERENCES_SEEN, Outcome.WARNING)


def test_a_refused_create_did_not_create(tmp_path: Path) -> None:
    refused = p.CreatedTender(
        response(ResponseCode.CONFLICT, "R-1", created=NOW),
        (response(ResponseCode.CONFLICT, "T-1"),),
        "rep",
        "customer",
    )
    files = sequence(
        tmp_path, create_tender("R-1", "rep", "customer", OFFER), refused, accept("R-2", "TX-1")
    )

    report = judge(files)

    assert not findings(report, TENDER_LIFECYCLE)
    assert findings(report, REFERENCES_SEEN, Outcome.WARNING)
    assert findings(report, PAIRED, Outcome.PASSED)


def test_a_refused_cancellation_leaves_the_tender_acceptable(tmp_path: Path) -> None:
    refused = p.CanceledTender(
        response(ResponseCode.NOT_AUTHORISED, "R-2", created=NOW),
        "rep",
        (response(ResponseCode.NOT_AUTHORISED, "T-1"),),
    )
    files = sequence(
        tmp_path,
        create_tender("R-1", "rep", "customer", OFFER),
        cancel("R-2", "T-1"),
        refused,
        accept("R-3", "TX-1"),
    )

    report = judge(files)

    assert not report.failed
    assert findings(report, PAIRED, Outcome.WARNING)


def test_a_retried_request_is_judged_once(tmp_path: Path) -> None:
    files = sequence(
        tmp_path,
        create_tender("R-1", "rep", "customer", OFFER),
        accept("R-2", "TX-1"),
        accept("R-2", "TX-1"),
    )

    report = judge(files)

    assert not report.failed
    assert "repeats an earlier request: judged once" in findings(report, PAIRED)


# --- Time order ----------------------------------------------------------------------------


def test_files_given_out_of_order_are_judged_by_their_timestamps(tmp_path: Path) -> None:
    create = write_signed(
        tmp_path, "a.xml", create_tender("R-1", "rep", "customer", OFFER), "rep", NOW
    )
    partial = write_signed(
        tmp_path, "b.xml", accept("R-2", "TX-1", "4"), "customer", NOW + timedelta(minutes=1)
    )
    rest = write_signed(
        tmp_path, "c.xml", accept("R-3", "TX-2", "6"), "customer", NOW + timedelta(minutes=2)
    )

    report = judge([rest, create, partial])

    assert not report.failed
    assert [each.path for each in report.files] == [create, partial, rest]
    assert {each.ordered_by for each in report.files} == {BY_TIMESTAMP}


def test_timestamps_can_make_an_order_given_as_legal_illegal(tmp_path: Path) -> None:
    create = write_signed(
        tmp_path, "a.xml", create_tender("R-1", "rep", "customer", OFFER), "rep", NOW
    )
    cancellation = write_signed(
        tmp_path, "b.xml", cancel("R-2", "T-1"), "rep", NOW + timedelta(minutes=1)
    )
    late = write_signed(
        tmp_path, "c.xml", accept("R-3", "TX-1", "4"), "customer", NOW + timedelta(minutes=2)
    )

    report = judge([create, late, cancellation])

    assert failed_checks(report) == {TENDER_LIFECYCLE.id}


def test_replies_are_ordered_by_their_creation_time_and_untimed_files_keep_their_place(
    tmp_path: Path,
) -> None:
    later = write(
        tmp_path,
        "later.xml",
        p.CreatedTransaction("rep", "customer", response(ResponseCode.OK, "R-9", created=NOW)),
    )
    earlier = write(
        tmp_path,
        "earlier.xml",
        p.CreatedTender(
            response(ResponseCode.OK, "R-8", created=NOW - timedelta(hours=1)), (), "rep"
        ),
    )
    untimed = write(tmp_path, "untimed.xml", cancel("R-7", "T-1"))

    report = judge([later, untimed, earlier])

    assert [(each.path, each.ordered_by) for each in report.files] == [
        (earlier, BY_CREATION_TIME),
        (later, BY_CREATION_TIME),
        (untimed, BY_ARGUMENT_ORDER),
    ]


def test_soap_1_2_envelopes_are_read(tmp_path: Path) -> None:
    path = tmp_path / "create.xml"
    path.write_bytes(envelope(create_tender("R-1", "rep", "customer", OFFER), SOAP_1_2))

    report = judge([path])

    assert not report.failed
    assert findings(report, TENDER_LIFECYCLE, Outcome.PASSED)


# --- The command ---------------------------------------------------------------------------


def run(*arguments: str) -> Any:
    return CliRunner().invoke(check_command, list(arguments))


def evidence(directory: Path) -> Path:
    """An evidence directory of one test: a tender, its replies, and two acceptances."""
    case = directory / "TMX-TND-004"
    case.mkdir(parents=True)
    ok = response(ResponseCode.OK, "R-1", created=NOW)
    write(case, "001-request.xml", create_tender("R-1", "rep", "customer", OFFER))
    write(case, "001-response.xml", p.CreatedTender(ok, (response(ResponseCode.OK, "T-1"),), "rep"))
    write(case, "002-request.xml", accept("R-2", "TX-1", "4"))
    write(case, "003-request.xml", accept("R-3", "TX-2", "6"))
    (case / "001-exchange.json").write_text("{}")
    return directory


def test_a_directory_argument_checks_every_xml_file_under_it(tmp_path: Path) -> None:
    result = run(str(evidence(tmp_path / "evidence")))

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("1. ") and "001-request.xml" in lines[0]
    assert lines[-1] == "15 passed, 0 failed, 5 warnings"


def test_the_command_exits_1_when_a_check_failed(tmp_path: Path) -> None:
    files = sequence(
        tmp_path,
        create_tender("R-1", "rep", "customer", OFFER),
        cancel("R-2", "T-1"),
        accept("R-3", "TX-1"),
    )

    result = run(*map(str, files))

    assert result.exit_code == 1
    assert "TMX-CHK-005 failed" in result.output
    assert result.output.splitlines()[-1] == "8 passed, 1 failed, 2 warnings"


def test_the_command_exits_1_for_an_invalid_example() -> None:
    result = run(str(EXAMPLES_INVALID / "negative-quantity.xml"))

    assert result.exit_code == 1
    assert "TMX-CHK-001 failed" in result.output


def test_the_command_exits_0_for_the_valid_examples_one_at_a_time() -> None:
    for example in VALID_EXAMPLES:
        assert run(str(example)).exit_code == 0, example


@pytest.mark.parametrize(
    "arguments",
    [[], ["missing.xml"], ["empty"], ["--schemas", "empty", str(VALID_EXAMPLES[0])]],
    ids=["no-files", "missing", "no-xml", "no-schemas"],
)
def test_usage_errors_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()

    assert run(*arguments).exit_code == 2


def test_json_output(tmp_path: Path) -> None:
    result = run("--json", str(evidence(tmp_path / "evidence")))

    assert result.exit_code == 0
    document = json.loads(result.output)
    assert [check["id"] for check in document["checks"]] == [check.id for check in CHECKS]
    assert document["summary"] == {"passed": 15, "failed": 0, "warnings": 5}
    first = document["files"][0]
    assert first["path"].endswith("TMX-TND-004/001-request.xml")
    assert first["order"] == 1 and first["ordered_by"] == BY_ARGUMENT_ORDER
    assert first["findings"][0] == {
        "check": "TMX-CHK-001",
        "outcome": "passed",
        "detail": "pyld:eiCreateTender is valid",
    }
    outcomes = {
        (finding["check"], finding["outcome"])
        for each in document["files"]
        for finding in each["findings"]
    }
    assert ("TMX-CHK-008", "passed") in outcomes and ("TMX-CHK-008", "warning") in outcomes


def test_json_output_names_the_failure(tmp_path: Path) -> None:
    files = sequence(
        tmp_path,
        create_tender("R-1", "rep", "customer", OFFER),
        cancel("R-2", "T-1"),
        accept("R-3", "TX-1"),
    )

    result = run("--json", *map(str, files))

    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["summary"]["failed"] == 1
    [failure] = [
        (each["path"], finding["check"])
        for each in document["files"]
        for finding in each["findings"]
        if finding["outcome"] == "failed"
    ]
    assert failure == (str(files[2]), "TMX-CHK-005")
