"""The example corpus against the TeMIX-profile schemas, with lxml and with xmlschema (XSD 1.0).

Every document in ``schemas/examples/valid`` must validate and every document in
``schemas/examples/invalid`` must not; each invalid one says what is wrong with it in a
leading ``<!-- invalid: ... -->`` comment.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from temix.schemas import DRIVER_XSD, EXAMPLES_INVALID, EXAMPLES_VALID, XSD_DIR

VALID = sorted(EXAMPLES_VALID.glob("*.xml"))
INVALID = sorted(EXAMPLES_INVALID.glob("*.xml"))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _parse(path: Path) -> etree._ElementTree:
    tree = etree.parse(str(path), _parser())
    assert tree.docinfo.doctype == "", f"{path.name}: examples carry no DOCTYPE"
    return tree


@pytest.fixture(scope="module")
def lxml_schema() -> etree.XMLSchema:
    schema = etree.XMLSchema(etree.parse(str(DRIVER_XSD), _parser()))
    assert len(schema.error_log) == 0, [str(e) for e in schema.error_log]
    return schema


@pytest.fixture(scope="module")
def xsd10_schema() -> xmlschema.XMLSchema10:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a skipped import is a warning: fail on it
        return xmlschema.XMLSchema10(str(DRIVER_XSD), allow="sandbox")


def _xmlschema_errors(schema: xmlschema.XMLSchema10, tree: etree._ElementTree) -> list[str]:
    resource = xmlschema.XMLResource(tree, allow="none")
    return [str(e.reason) for e in schema.iter_errors(resource)]


def test_corpus_is_not_empty() -> None:
    assert len(VALID) >= 30
    assert len(INVALID) >= 12


def test_driver_imports_every_schema_file() -> None:
    driver = etree.parse(str(DRIVER_XSD), _parser()).getroot()
    xs = "{http://www.w3.org/2001/XMLSchema}"
    imported = {imp.get("schemaLocation") for imp in driver.iter(f"{xs}import")}
    others = {p.name for p in XSD_DIR.glob("*.xsd")} - {DRIVER_XSD.name}
    assert imported == others


def test_schemas_use_only_relative_locations() -> None:
    xs = "{http://www.w3.org/2001/XMLSchema}"
    for path in XSD_DIR.glob("*.xsd"):
        root = etree.parse(str(path), _parser()).getroot()
        assert root.get("elementFormDefault") == "qualified", path.name
        for node in root.iter(f"{xs}import", f"{xs}include", f"{xs}redefine"):
            location = node.get("schemaLocation")
            assert location is not None, f"{path.name}: import without schemaLocation"
            assert "://" not in location, f"{path.name}: {location}"
            assert not location.startswith("/"), f"{path.name}: {location}"
            assert (path.parent / location).is_file(), f"{path.name}: {location}"


def test_xmlschema_sees_every_namespace(xsd10_schema: xmlschema.XMLSchema10) -> None:
    expected = {
        "http://docs.oasis-open.org/ns/energyinterop/201110/payloads",
        "http://docs.oasis-open.org/ns/energyinterop/201110",
        "http://docs.oasis-open.org/ns/emix/2011/06",
        "http://docs.oasis-open.org/ns/emix/2011/06/power",
        "http://docs.oasis-open.org/ns/emix/2011/06/siscale",
        "urn:ietf:params:xml:ns:icalendar-2.0",
        "urn:ietf:params:xml:ns:icalendar-2.0:stream",
        "urn:un:unece:uncefact:codelist:standard:5:ISO42173A:2010-04-07",
        "urn:temix:ns:extension:1.0",
    }
    assert expected <= set(xsd10_schema.maps.namespaces)


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_example_lxml(path: Path, lxml_schema: etree.XMLSchema) -> None:
    tree = _parse(path)
    ok = lxml_schema.validate(tree)
    assert ok, "\n".join(str(e) for e in lxml_schema.error_log)


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_example_xmlschema(path: Path, xsd10_schema: xmlschema.XMLSchema10) -> None:
    errors = _xmlschema_errors(xsd10_schema, _parse(path))
    assert errors == []


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_example_says_why(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("<?xml ")
    assert lines[1].startswith("<!-- invalid: ") and lines[1].endswith(" -->"), lines[1]


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_example_lxml(path: Path, lxml_schema: etree.XMLSchema) -> None:
    assert not lxml_schema.validate(_parse(path))


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_example_xmlschema(path: Path, xsd10_schema: xmlschema.XMLSchema10) -> None:
    assert _xmlschema_errors(xsd10_schema, _parse(path)) != []


def test_every_payload_element_has_a_valid_example(xsd10_schema: xmlschema.XMLSchema10) -> None:
    payload_namespaces = (
        "http://docs.oasis-open.org/ns/energyinterop/201110/payloads",
        "urn:temix:ns:extension:1.0",
    )
    payloads = {
        name
        for name, element in xsd10_schema.maps.elements.items()
        if name.startswith(tuple(f"{{{ns}}}" for ns in payload_namespaces))
        and name[1:].split("}")[1].startswith("ei")
        and element.type.is_complex()
    }
    roots = {_parse(path).getroot().tag for path in VALID}
    assert payloads - roots == set()
