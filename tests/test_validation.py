"""Schema loading (bundled, a directory, a catalog) and validation with readable problems."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from lxml import etree

from temix.namespaces import EMIX, SOAP11, SOAP12, qname
from temix.schemas import DRIVER_XSD, EXAMPLES_INVALID, EXAMPLES_VALID, XSD_DIR
from temix.validation import EnvelopeError, Problem, SchemaSet, SchemaSetError, payload_of
from temix.xmlsafe import XmlRejected, parse_bytes

VALID_EXAMPLES = sorted(EXAMPLES_VALID.glob("*.xml"))
INVALID_EXAMPLES = sorted(EXAMPLES_INVALID.glob("*.xml"))

PRODUCT = """
    <emix:emixBase xsi:type="emix:ProductType">
      <xcal:components><xcal:interval><xcal:properties>
        <xcal:dtstart><xcal:date-time>2026-07-01T22:00:00Z</xcal:date-time></xcal:dtstart>
        <xcal:duration><xcal:duration>PT2H</xcal:duration></xcal:duration>
        <xcal:uid><xcal:text>interval-1</xcal:text></xcal:uid>
        <xcal:x-wsCalendar-attach>
          <power:temixPower>
            <power:pnode><power:node>NODE-A</power:node></power:pnode>
            <emix:price><emix:value>80.00</emix:value></emix:price>
            <power:powerReal>
              <power:itemDescription>RealPower</power:itemDescription>
              <power:itemUnits>W</power:itemUnits>
              <scale:siScaleCode>M</scale:siScaleCode>
              <power:powerAttributes>
                <power:hertz>60</power:hertz><power:voltage>230</power:voltage>
                <power:ac>true</power:ac>
              </power:powerAttributes>
            </power:powerReal>
            <power:energyReal>
              <power:itemDescription>RealEnergy</power:itemDescription>
              <power:itemUnits>Wh</power:itemUnits>
              <scale:siScaleCode>M</scale:siScaleCode>
            </power:energyReal>
            <emix:quantity>{quantity}</emix:quantity>
          </power:temixPower>
        </xcal:x-wsCalendar-attach>
      </xcal:properties></xcal:interval></xcal:components>
      <emix:uid>product-1</emix:uid>
      <emix:transactiveState>tender</emix:transactiveState>
      <emix:expirationDate>2026-07-01T20:00:00Z</emix:expirationDate>
      <emix:integralOnly>false</emix:integralOnly>
      <emix:currency>USD</emix:currency>
      <emix:marketContext>http://market.example/retail</emix:marketContext>
      <emix:side>sell</emix:side>
    </emix:emixBase>"""


def create_tender(*quantities: str) -> str:
    """A pyld:eiCreateTender with one power tender per quantity."""
    tenders = "".join(
        f"<ei:eiTender><ei:tenderID>tender-{index}</ei:tenderID>"
        f"{PRODUCT.format(quantity=quantity)}</ei:eiTender>"
        for index, quantity in enumerate(quantities, start=1)
    )
    return (
        '<pyld:eiCreateTender xmlns:pyld="http://docs.oasis-open.org/ns/energyinterop/201110/payloads"'
        ' xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110"'
        ' xmlns:emix="http://docs.oasis-open.org/ns/emix/2011/06"'
        ' xmlns:power="http://docs.oasis-open.org/ns/emix/2011/06/power"'
        ' xmlns:scale="http://docs.oasis-open.org/ns/emix/2011/06/siscale"'
        ' xmlns:xcal="urn:ietf:params:xml:ns:icalendar-2.0"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<pyld:requestID>request-1</pyld:requestID>"
        "<ei:partyID>party-a</ei:partyID><ei:counterPartyID>party-b</ei:counterPartyID>"
        f"{tenders}</pyld:eiCreateTender>"
    )


QUANTITY_OF_SECOND_TENDER = (
    "/pyld:eiCreateTender/ei:eiTender[2]/emix:emixBase/xcal:components/xcal:interval"
    "/xcal:properties/xcal:x-wsCalendar-attach/power:temixPower/emix:quantity"
)


def parse(text: str) -> etree._ElementTree:
    return parse_bytes(text.encode())


def in_envelope(payload: str, soap: str) -> str:
    return (
        f'<env:Envelope xmlns:env="{soap}"><env:Header/>'
        f"<env:Body>{payload}</env:Body></env:Envelope>"
    )


@pytest.fixture(scope="module")
def bundled() -> SchemaSet:
    return SchemaSet.bundled()


# --- The bundled schemas and examples -------------------------------------------------------


def test_bundled_schemas_compile_once_per_process(bundled):
    assert DRIVER_XSD.is_file()
    assert SchemaSet.bundled() is bundled


def test_the_examples_exist():
    assert VALID_EXAMPLES, f"no valid examples in {EXAMPLES_VALID}"
    assert INVALID_EXAMPLES, f"no invalid examples in {EXAMPLES_INVALID}"


@pytest.mark.parametrize("example", VALID_EXAMPLES, ids=lambda path: path.name)
def test_valid_example_has_no_problems(bundled, example):
    document = parse_bytes(example.read_bytes())
    assert bundled.problems(document) == []
    assert bundled.is_valid(document)


@pytest.mark.parametrize("example", INVALID_EXAMPLES, ids=lambda path: path.name)
def test_invalid_example_is_refused_with_a_located_reason(bundled, example):
    assert example.read_text().lstrip().split("?>", 1)[-1].lstrip().startswith("<!-- invalid:")
    try:
        document = parse_bytes(example.read_bytes())
    except XmlRejected:
        return
    problems = bundled.problems(document)
    assert problems
    assert not bundled.is_valid(document)
    for problem in problems:
        assert problem.path.startswith("/")
        assert problem.reason and "\n" not in problem.reason


@pytest.mark.parametrize(
    "example",
    VALID_EXAMPLES + INVALID_EXAMPLES,
    ids=lambda path: path.parent.name + "/" + path.name,
)
def test_xmlschema_engine_agrees_with_lxml(bundled, example):
    try:
        document = parse_bytes(example.read_bytes())
    except XmlRejected:
        pytest.skip("refused by the parser, never validated")
    assert bool(bundled.explain(document)) == bool(bundled.problems(document))


def test_official_bundle_path_gives_the_same_verdicts_as_the_bundled_driver(bundled):
    from_directory = SchemaSet.from_directory(XSD_DIR)
    for example in VALID_EXAMPLES + INVALID_EXAMPLES:
        document = parse_bytes(example.read_bytes())
        assert from_directory.problems(document) == bundled.problems(document), example.name


# --- Problems: where and why ----------------------------------------------------------------


def test_problem_path_uses_project_prefixes_and_indexes_repeated_siblings(bundled):
    problems = bundled.problems(parse(create_tender("1", "abc", "2")))
    assert [problem.path for problem in problems] == [QUANTITY_OF_SECOND_TENDER]
    assert "'abc'" in problems[0].reason
    assert "{" not in problems[0].reason
    assert not problems[0].reason.startswith("Element")


def test_problem_path_does_not_depend_on_the_documents_prefixes(bundled):
    text = create_tender("1", "abc")
    for number, prefix in enumerate(("pyld", "ei", "emix", "xcal", "power", "scale"), start=1):
        text = re.sub(rf"\b{prefix}:", f"p{number}:", text)
        text = text.replace(f"xmlns:{prefix}=", f"xmlns:p{number}=")
    renamed = parse(text)
    assert renamed.getroot().prefix == "p1"
    assert [problem.path for problem in bundled.problems(renamed)] == [QUANTITY_OF_SECOND_TENDER]


def test_problem_path_when_the_payload_namespace_is_the_default_one(bundled):
    text = create_tender("1", "abc").replace("xmlns:pyld=", "xmlns=")
    document = parse(re.sub(r"<(/?)pyld:", r"<\1", text))
    assert document.getroot().prefix is None
    assert [problem.path for problem in bundled.problems(document)] == [QUANTITY_OF_SECOND_TENDER]


def test_attribute_problem_names_the_attribute(bundled):
    document = parse(create_tender("1"))
    base = document.getroot().find(f".//{qname(EMIX, 'emixBase')}")
    base.set("colour", "red")
    (problem,) = bundled.problems(document)
    assert problem.path == "/pyld:eiCreateTender/ei:eiTender/emix:emixBase"
    assert "colour" in problem.reason


def test_unknown_root_is_one_problem_at_the_root(bundled):
    problems = bundled.problems(parse('<x:thing xmlns:x="urn:nobody"/>'))
    assert len(problems) == 1
    assert problems[0].path == "/{urn:nobody}thing"
    assert "global declaration" in problems[0].reason


def test_explain_locates_the_same_element(bundled):
    problems = bundled.explain(parse(create_tender("1", "abc")))
    assert problems
    assert {problem.path for problem in problems} == {QUANTITY_OF_SECOND_TENDER}


# --- SOAP envelopes -------------------------------------------------------------------------


@pytest.mark.parametrize("soap", [SOAP11, SOAP12], ids=["soap11", "soap12"])
def test_envelope_is_unwrapped_to_its_payload(bundled, soap):
    valid = parse(in_envelope(create_tender("1"), soap))
    assert payload_of(valid).tag == qname(
        "http://docs.oasis-open.org/ns/energyinterop/201110/payloads", "eiCreateTender"
    )
    assert bundled.problems(valid) == []
    invalid = parse(in_envelope(create_tender("1", "abc"), soap))
    assert [problem.path for problem in bundled.problems(invalid)] == [QUANTITY_OF_SECOND_TENDER]


@pytest.mark.parametrize(
    ("soap", "prefix"), [(SOAP11, "soap"), (SOAP12, "soap12")], ids=["soap11", "soap12"]
)
@pytest.mark.parametrize("body", ["", "<a:x xmlns:a='urn:a'/><a:y xmlns:a='urn:a'/>"])
def test_envelope_without_exactly_one_payload_is_a_problem(bundled, soap, prefix, body):
    document = parse(f'<e:Envelope xmlns:e="{soap}"><e:Body>{body}</e:Body></e:Envelope>')
    with pytest.raises(EnvelopeError) as raised:
        payload_of(document)
    expected = Problem(f"/{prefix}:Envelope/{prefix}:Body", raised.value.problem.reason)
    assert raised.value.problem == expected
    assert "exactly one payload" in expected.reason
    assert bundled.problems(document) == [expected]
    assert not bundled.is_valid(document)


def test_envelope_without_body_is_a_problem(bundled):
    document = parse(f'<e:Envelope xmlns:e="{SOAP11}"><e:Header/></e:Envelope>')
    assert bundled.problems(document) == [
        Problem("/soap:Envelope", "the Envelope has 0 Body elements, expected one")
    ]


def test_bare_payload_is_its_own_payload():
    document = parse(create_tender("1"))
    assert payload_of(document) is document.getroot()
    assert payload_of(document.getroot()) is document.getroot()


# --- Other bundles, resolved offline --------------------------------------------------------

XS = 'xmlns:xs="http://www.w3.org/2001/XMLSchema"'
REMOTE = "http://schemas.invalid/spec"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def no_network(monkeypatch):
    """Any Python-level connection attempt fails the test (libxml2 is kept offline by
    the .invalid host names: a download attempt there could only fail)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network use: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def write_bundle(root: Path) -> Path:
    """Namespace urn:b (sorted first) imports urn:a by remote URL; urn:a has two independent
    files, one of which includes a third by remote URL; urn:b includes a file relatively."""
    write(
        root / "b" / "b-main.xsd",
        f"""<xs:schema {XS} xmlns:a="urn:a" xmlns:b="urn:b" targetNamespace="urn:b"
                elementFormDefault="qualified">
          <xs:import namespace="urn:a" schemaLocation="{REMOTE}/a/a-main.xsd"/>
          <xs:include schemaLocation="b-types.xsd"/>
          <xs:element name="order">
            <xs:complexType><xs:sequence>
              <xs:element ref="a:item" maxOccurs="unbounded"/>
              <xs:element name="code" type="b:Code"/>
            </xs:sequence></xs:complexType>
          </xs:element>
        </xs:schema>""",
    )
    write(
        root / "b" / "b-types.xsd",
        f"""<xs:schema {XS} targetNamespace="urn:b">
          <xs:simpleType name="Code">
            <xs:restriction base="xs:string"><xs:maxLength value="3"/></xs:restriction>
          </xs:simpleType>
        </xs:schema>""",
    )
    write(
        root / "zeta" / "a-main.xsd",
        f"""<xs:schema {XS} xmlns:a="urn:a" targetNamespace="urn:a" elementFormDefault="qualified">
          <xs:include schemaLocation="{REMOTE}/a/parts/a-item.xsd"/>
        </xs:schema>""",
    )
    write(
        root / "zeta" / "parts" / "a-item.xsd",
        f"""<xs:schema {XS} targetNamespace="urn:a" elementFormDefault="qualified">
          <xs:element name="item" type="xs:int"/>
        </xs:schema>""",
    )
    write(
        root / "zeta" / "a-extra.xsd",
        f"""<xs:schema {XS} targetNamespace="urn:a" elementFormDefault="qualified">
          <xs:element name="note" type="xs:string"/>
        </xs:schema>""",
    )
    return root


ORDER = (
    '<b:order xmlns:b="urn:b" xmlns:a="urn:a"><a:item>1</a:item><b:code>{code}</b:code></b:order>'
)


def assert_bundle_validates(schemas: SchemaSet) -> None:
    assert schemas.problems(parse(ORDER.format(code="abc"))) == []
    (problem,) = schemas.problems(parse(ORDER.format(code="abcd")))
    assert problem.path == "/{urn:b}order/{urn:b}code"
    # The second, independent file of namespace urn:a is part of the set too.
    assert schemas.is_valid(parse('<note xmlns="urn:a">hello</note>'))
    assert not schemas.is_valid(parse('<item xmlns="urn:a">x</item>'))
    default_namespaces = (
        '<order xmlns="urn:b"><item xmlns="urn:a">1</item><item xmlns="urn:a">x</item>'
        "<code>abc</code></order>"
    )
    (problem,) = schemas.problems(parse(default_namespaces))
    assert problem.path == "/{urn:b}order/{urn:a}item[2]"


def test_from_directory_resolves_remote_locations_offline(tmp_path, no_network):
    schemas = SchemaSet.from_directory(write_bundle(tmp_path / "bundle"))
    assert_bundle_validates(schemas)
    assert schemas.explain(parse(ORDER.format(code="abc"))) == []
    assert schemas.explain(parse(ORDER.format(code="abcd")))


def test_from_directory_prefers_the_file_whose_path_matches_the_url(tmp_path, no_network):
    bundle = write_bundle(tmp_path / "bundle")
    # Same file name as the included .../a/parts/a-item.xsd, another namespace: including it
    # into urn:a would not compile.
    write(
        bundle / "elsewhere" / "a-item.xsd",
        f'<xs:schema {XS} targetNamespace="urn:stray">'
        '<xs:element name="item" type="xs:string"/></xs:schema>',
    )
    schemas = SchemaSet.from_directory(bundle)
    assert_bundle_validates(schemas)
    assert schemas.is_valid(parse('<item xmlns="urn:stray">x</item>'))


def test_from_directory_loads_a_namespace_whose_files_include_each_other(tmp_path, no_network):
    write(
        tmp_path / "c-one.xsd",
        f"""<xs:schema {XS} targetNamespace="urn:c">
          <xs:include schemaLocation="c-two.xsd"/><xs:element name="one" type="xs:int"/>
        </xs:schema>""",
    )
    write(
        tmp_path / "c-two.xsd",
        f"""<xs:schema {XS} targetNamespace="urn:c">
          <xs:include schemaLocation="{REMOTE}/c/c-one.xsd"/><xs:element name="two"/>
        </xs:schema>""",
    )
    schemas = SchemaSet.from_directory(tmp_path)
    assert schemas.is_valid(parse('<one xmlns="urn:c">1</one>'))
    assert schemas.is_valid(parse('<two xmlns="urn:c"/>'))
    assert not schemas.is_valid(parse('<one xmlns="urn:c">x</one>'))
    assert schemas.explain(parse('<two xmlns="urn:c"/>')) == []


@pytest.mark.parametrize("bundle", ["openadr-2.0b", "ws-calendar-1.0-cs01"])
def test_third_party_bundles_compile_offline_with_both_engines(bundle, no_network):
    """Real bundles (include cycles, DTD-bearing xmldsig schemas) from ../shared/reference."""
    directory = Path(__file__).resolve().parents[2] / "shared" / "reference" / "xsd" / bundle
    if not directory.is_dir():
        pytest.skip(f"{directory} is not here (only beside the project's own checkout)")
    schemas = SchemaSet.from_directory(directory)
    assert schemas.xmlschema is schemas.xmlschema
    assert not schemas.is_valid(parse('<x:nothing xmlns:x="urn:nobody"/>'))


def test_remote_location_without_a_local_file_is_a_clear_error(tmp_path, no_network):
    bundle = write_bundle(tmp_path / "bundle")
    write(
        bundle / "c.xsd",
        f"""<xs:schema {XS} targetNamespace="urn:c">
          <xs:import namespace="urn:d" schemaLocation="{REMOTE}/d/missing.xsd"/>
        </xs:schema>""",
    )
    with pytest.raises(SchemaSetError, match=f"{REMOTE}/d/missing.xsd: no local copy"):
        SchemaSet.from_directory(bundle)


def test_from_directory_refuses_what_is_not_a_schema_bundle(tmp_path):
    with pytest.raises(SchemaSetError, match="not a directory"):
        SchemaSet.from_directory(tmp_path / "absent")
    with pytest.raises(SchemaSetError, match=r"no \.xsd files"):
        SchemaSet.from_directory(tmp_path)
    write(tmp_path / "broken.xsd", "<xs:schema")
    with pytest.raises(SchemaSetError, match=r"broken\.xsd"):
        SchemaSet.from_directory(tmp_path)


def test_schema_that_does_not_compile_names_the_file_and_line(tmp_path):
    write(
        tmp_path / "bad.xsd",
        f'<xs:schema {XS} targetNamespace="urn:x">\n<xs:element name="e" type="xs:nosuch"/>'
        "\n</xs:schema>",
    )
    with pytest.raises(SchemaSetError, match=r"bad\.xsd:2: .*xs:nosuch"):
        SchemaSet.from_directory(tmp_path)


CATALOG = """<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <system systemId="{remote}/a/a-main.xsd" uri="local/namespace-a.xsd"/>
  <rewriteURI uriStartString="{remote}/a/parts/" rewritePrefix="local/parts/"/>
</catalog>"""


def write_catalog_bundle(root: Path) -> Path:
    """The same bundle, but with file names and folders the URLs do not give away."""
    bundle = write_bundle(root / "source")
    local = root / "catalogued" / "local"
    write(local / "namespace-a.xsd", (bundle / "zeta" / "a-main.xsd").read_text())
    write(local / "parts" / "a-item.xsd", (bundle / "zeta" / "parts" / "a-item.xsd").read_text())
    write(local / "b" / "b-main.xsd", (bundle / "b" / "b-main.xsd").read_text())
    write(local / "b" / "b-types.xsd", (bundle / "b" / "b-types.xsd").read_text())
    return write(root / "catalogued" / "catalog.xml", CATALOG.format(remote=REMOTE))


def test_from_catalog_maps_system_and_rewrite_entries(tmp_path, no_network):
    catalog = write_catalog_bundle(tmp_path)
    schemas = SchemaSet.from_catalog(catalog, directory=catalog.parent / "local")
    assert schemas.problems(parse(ORDER.format(code="abc"))) == []
    assert not schemas.is_valid(parse(ORDER.format(code="abcd")))
    assert schemas.explain(parse(ORDER.format(code="abc"))) == []


def test_from_catalog_alone_uses_the_files_the_catalog_names(tmp_path, no_network):
    catalog = write_catalog_bundle(tmp_path)
    schemas = SchemaSet.from_catalog(catalog)
    assert schemas.is_valid(parse('<item xmlns="urn:a">7</item>'))
    assert not schemas.is_valid(parse('<item xmlns="urn:a">seven</item>'))


def test_catalog_entry_pointing_nowhere_is_a_clear_error(tmp_path, no_network):
    catalog = write_catalog_bundle(tmp_path)
    (catalog.parent / "local" / "namespace-a.xsd").unlink()
    with pytest.raises(SchemaSetError, match=f"{REMOTE}/a/a-main.xsd: the catalog"):
        SchemaSet.from_catalog(catalog, directory=catalog.parent / "local")


def test_not_a_catalog_is_refused(tmp_path):
    with pytest.raises(SchemaSetError, match="no such catalog"):
        SchemaSet.from_catalog(tmp_path / "absent.xml")
    with pytest.raises(SchemaSetError, match="not an OASIS XML catalog"):
        SchemaSet.from_catalog(write(tmp_path / "other.xml", "<catalog/>"))
