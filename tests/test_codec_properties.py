"""Every value the model allows, payload or stored item, encodes to XML our schemas accept, and
decodes back equal."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from lxml import etree

from strategies import items, payloads
from temix import codec
from temix.schemas import DRIVER_XSD


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(DRIVER_XSD)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads)
def test_encoded_payloads_are_schema_valid_and_decode_back_equal(payload) -> None:
    element = codec.encode(payload)
    schema = _schema()
    assert schema.validate(element), schema.error_log.last_error
    document = etree.fromstring(codec.encode_bytes(payload))
    assert codec.decode(document) == payload


@settings(max_examples=50, deadline=None)
@given(payloads)
def test_encoding_is_deterministic(payload) -> None:
    first = codec.encode_bytes(payload)
    assert codec.encode_bytes(codec.decode(etree.fromstring(first))) == first


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items)
def test_stored_items_are_schema_valid_and_decode_back_equal(item) -> None:
    data = codec.encode_item(item)
    schema = _schema()
    assert schema.validate(etree.fromstring(data)), schema.error_log.last_error
    assert codec.decode_item(data) == item


@settings(max_examples=50, deadline=None)
@given(items)
def test_item_encoding_is_deterministic(item) -> None:
    first = codec.encode_item(item)
    assert codec.encode_item(codec.decode_item(first)) == first
