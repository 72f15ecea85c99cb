"""Our schemas only restrict the official EI / EMIX / xCal types (docs/profile.md, "The schema
rule"): every document valid against ours must be valid against the official schemas.

The official types come from the JAXB re-rendering in ``../shared/reference`` (see
``contentmodels.py``); each type, simple type and global element we declare in an official
namespace is compared with its official counterpart. The payload namespace (which JAXB lacks)
and our extension namespace are out of scope. The comparator's own tests at the end show that
each kind of violation is caught.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contentmodels import (
    JAXB_BUILTIN_BINDINGS,
    OFFICIAL_NAMESPACES,
    SchemaModel,
    compare_complex_types,
    compare_global_elements,
    compare_simple_types,
    load_official_content_models,
    parse_official_content_models,
    read_schema_files,
    read_schema_texts,
    short,
    split_clark,
)
from temix.namespaces import EMIX, XSD
from temix.schemas import XSD_DIR

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
CONTENT_MODELS = REFERENCE_DIR / "ei-emix-content-models.txt"
WSCALENDAR_DIR = REFERENCE_DIR / "xsd" / "ws-calendar-1.0-cs01"

OUR_MODEL = read_schema_files(sorted(XSD_DIR.glob("*.xsd")))


def _in_official_namespace(names) -> list[str]:
    return sorted(n for n in names if split_clark(n)[0] in OFFICIAL_NAMESPACES)


@pytest.fixture(scope="module")
def official() -> SchemaModel:
    if not CONTENT_MODELS.is_file():
        pytest.skip(f"reference folder absent: {CONTENT_MODELS} not found (needs ../shared)")
    return load_official_content_models(CONTENT_MODELS)


# --------------------------------------------------------------------------------------------
# The reference file is read completely
# --------------------------------------------------------------------------------------------


def test_every_official_type_and_element_is_read(official):
    text = CONTENT_MODELS.read_text(encoding="utf-8")
    assert len(official.complex_types) == len(re.findall(r"^<complexType ", text, re.M))
    assert len(official.simple_types) == len(re.findall(r"^<simpleType ", text, re.M))
    assert len(official.elements) == len(re.findall(r"^\{", text, re.M))
    known_java_types = set(official.java_classes.values()) | set(JAXB_BUILTIN_BINDINGS.values())
    unknown = {e.java_type for e in official.elements.values()} - known_java_types
    assert not unknown, (
        f"ObjectFactory names Java types that are neither classes nor built-ins: {unknown}"
    )


def test_official_wscalendar_copy_passes_the_comparator(official):
    """Positive control on real data: the official WS-Calendar schemas, read as if they were
    ours, restrict (here: equal) JAXB's rendering of the same xCal types."""
    if not WSCALENDAR_DIR.is_dir():
        pytest.skip(f"reference folder absent: {WSCALENDAR_DIR} not found (needs ../shared)")
    wscalendar = read_schema_files(sorted(WSCALENDAR_DIR.glob("*.xsd")))
    problems = {
        short(name): compare_complex_types(ours, official.complex_types[name], wscalendar)
        for name, ours in wscalendar.complex_types.items()
    }
    problems |= {
        short(name): compare_global_elements(ours, official.elements[name], wscalendar, official)
        for name, ours in wscalendar.elements.items()
    }
    assert {name: p for name, p in problems.items() if p} == {}


# --------------------------------------------------------------------------------------------
# Our types against the official ones
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _in_official_namespace(OUR_MODEL.complex_types), ids=short)
def test_complex_type_restricts_the_official_type(name, official):
    assert name in official.complex_types, (
        f"{short(name)}: the official set has no such complexType (types may not be added)"
    )
    problems = compare_complex_types(
        OUR_MODEL.complex_types[name], official.complex_types[name], OUR_MODEL
    )
    assert not problems, f"{short(name)} does not restrict the official type:\n" + "\n".join(
        problems
    )


#: Simple types the JAXB rendering does not show (it renders only enumerated simple types),
#: and where each is checked instead.
CHECKED_ELSEWHERE = {
    "xcal:DateTimeType": "test_wscalendar.py compares its lexical space with WS-Calendar",
    "xcal:DurationValueType": "test_wscalendar.py compares its lexical space with WS-Calendar",
    "ei:ResponseCodeType": "through ei:responseCode in the global element checks",
    "emix:EmixExtensionType": "through emix:optionType in the global element checks",
    "emix:OptionTypeEnumeratedType": "through emix:optionType in the global element checks",
    "emix:OptionTypeType": "through emix:optionType in the global element checks",
    "power:NodeType": "through power:transportInterface in the complex type checks",
}


@pytest.mark.parametrize("name", _in_official_namespace(OUR_MODEL.simple_types), ids=short)
def test_simple_type_restricts_the_official_type(name, official):
    if name not in official.simple_types:
        assert short(name) in CHECKED_ELSEWHERE, (
            f"{short(name)}: the official set has no such simpleType to compare with, and no "
            "other test covers it"
        )
        return
    problems = compare_simple_types(OUR_MODEL.simple_types[name], official.simple_types[name])
    assert not problems, f"{short(name)} does not restrict the official type:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize("name", _in_official_namespace(OUR_MODEL.elements), ids=short)
def test_global_element_matches_the_official_declaration(name, official):
    """Same type and substitution group as the ObjectFactory lists. With the same type, a head
    whose official type is abstract stays abstract (test above), so it stays a pure head."""
    assert name in official.elements, (
        f"{short(name)}: the official set declares no such global element (may not be added)"
    )
    problems = compare_global_elements(
        OUR_MODEL.elements[name], official.elements[name], OUR_MODEL, official
    )
    assert not problems, f"{short(name)} differs from the official element:\n" + "\n".join(problems)


# --------------------------------------------------------------------------------------------
# The comparator catches what it must (tiny inline fixtures, no reference files needed)
# --------------------------------------------------------------------------------------------

E = f"{{{EMIX}}}"
X = f"{{{XSD}}}"

OFFICIAL_FIXTURE = f"""# fixture in the layout of ei-emix-content-models.txt
## org/oasis_open/docs/ns/emix/_2011/_06/BaseThingType.java
<complexType name="BaseThingType">
  <complexContent>
    <restriction base="{X}anyType">
    </restriction>
  </complexContent>
</complexType>

## org/oasis_open/docs/ns/emix/_2011/_06/ThingType.java
<complexType name="ThingType">
  <complexContent>
    <extension base="{E}BaseThingType">
      <sequence>
        <element ref="{E}a"/>
        <element ref="{E}b" minOccurs="0"/>
        <element ref="{E}c" maxOccurs="unbounded" minOccurs="0"/>
        <sequence>
          <choice>
            <element ref="{E}d"/>
            <element ref="{E}e"/>
          </choice>
        </sequence>
        <element name="f" type="{X}string" maxOccurs="3"/>
      </sequence>
      <attribute ref="{E}version"/>
    </extension>
  </complexContent>
</complexType>

## org/oasis_open/docs/ns/emix/_2011/_06/EmixBaseType.java
<complexType name="EmixBaseType">
  <complexContent>
    <restriction base="{X}anyType">
    </restriction>
  </complexContent>
</complexType>

## org/oasis_open/docs/ns/emix/_2011/_06/ColourType.java
<simpleType name="ColourType">
  <restriction base="{X}token">
    <enumeration value="red"/>
    <enumeration value="green"/>
  </restriction>
</simpleType>

## package src/main/java/org/oasis_open/docs/ns/emix/_2011/_06/package-info.java
# ===== ObjectFactory element declarations (global elements) =====
{E}baseThing : BaseThingType
{E}thing : ThingType  substitutionGroup={E}baseThing
{E}a : String
{E}colour : ColourType
"""

DEFAULT_THING = """
  <xs:sequence>
    <xs:element ref="emix:a"/>
    <xs:element ref="emix:b" minOccurs="0"/>
    <xs:element ref="emix:c" minOccurs="0" maxOccurs="unbounded"/>
    <xs:choice><xs:element ref="emix:d"/><xs:element ref="emix:e"/></xs:choice>
    <xs:element name="f" type="xs:string" maxOccurs="3"/>
  </xs:sequence>
  <xs:attribute ref="emix:version"/>"""


def our_schema(
    thing_content: str = DEFAULT_THING,
    derivation: str = "extension",
    base: str = "emix:BaseThingType",
    declarations: str = "",
) -> SchemaModel:
    """An 'our schema' in the emix namespace with ThingType written as given."""
    return read_schema_texts(
        [
            f"""<xs:schema xmlns:xs="{XSD}" xmlns:emix="{EMIX}" targetNamespace="{EMIX}"
                elementFormDefault="qualified">
              <xs:complexType name="ThingType"><xs:complexContent>
                <xs:{derivation} base="{base}">{thing_content}</xs:{derivation}>
              </xs:complexContent></xs:complexType>
              {declarations}
            </xs:schema>"""
        ]
    )


def thing_problems(model: SchemaModel) -> list[str]:
    official = parse_official_content_models(OFFICIAL_FIXTURE)
    return compare_complex_types(
        model.complex_types[f"{E}ThingType"], official.complex_types[f"{E}ThingType"], model
    )


def sequence(*particles: str) -> str:
    return f"<xs:sequence>{''.join(particles)}</xs:sequence>"


A = '<xs:element ref="emix:a"/>'
B = '<xs:element ref="emix:b" minOccurs="0"/>'
C = '<xs:element ref="emix:c" minOccurs="0" maxOccurs="unbounded"/>'
D_OR_E = '<xs:choice><xs:element ref="emix:d"/><xs:element ref="emix:e"/></xs:choice>'
F = '<xs:element name="f" type="xs:string" maxOccurs="3"/>'


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(DEFAULT_THING, id="identical"),
        pytest.param(sequence(A, D_OR_E, F), id="optional-particles-left-out"),
        pytest.param(
            sequence(A, '<xs:element ref="emix:c" minOccurs="1" maxOccurs="2"/>', D_OR_E, F),
            id="cardinality-tightened",
        ),
        pytest.param(sequence(A, '<xs:element ref="emix:e"/>', F), id="choice-narrowed-to-one"),
        pytest.param(
            sequence(A, '<xs:choice><xs:element ref="emix:e"/></xs:choice>', F),
            id="choice-narrowed-kept-as-choice",
        ),
        pytest.param(
            sequence(A, D_OR_E, '<xs:element name="f" type="xs:token"/>'),
            id="local-type-restricted",
        ),
        pytest.param(
            sequence(
                A,
                D_OR_E,
                '<xs:element name="f"><xs:simpleType><xs:restriction base="xs:string">'
                '<xs:maxLength value="8"/></xs:restriction></xs:simpleType></xs:element>',
            ),
            id="local-type-restricted-inline",
        ),
    ],
)
def test_comparator_accepts_a_restriction(content):
    assert thing_problems(our_schema(content)) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            sequence(A, '<xs:element ref="emix:x"/>', D_OR_E, F),
            "adds element ref emix:x",
            id="added-element",
        ),
        pytest.param(sequence(B, A, D_OR_E, F), "out of the official order", id="reordered-pair"),
        pytest.param(
            sequence(A, D_OR_E, '<xs:element name="f" type="xs:string" maxOccurs="unbounded"/>'),
            "maxOccurs loosened: ours unbounded, official 3",
            id="loosened-maxOccurs",
        ),
        pytest.param(
            sequence('<xs:element ref="emix:a" minOccurs="0"/>', D_OR_E, F),
            "minOccurs loosened: ours 0, official 1",
            id="loosened-minOccurs",
        ),
        pytest.param(
            sequence(D_OR_E, F), "leaves out required element ref emix:a", id="required-left-out"
        ),
        pytest.param(
            sequence(
                A,
                '<xs:choice><xs:element ref="emix:d"/><xs:element ref="emix:e"/>'
                '<xs:element ref="emix:x"/></xs:choice>',
                F,
            ),
            "adds element ref emix:x",
            id="choice-widened",
        ),
        pytest.param(
            sequence(
                A,
                '<xs:sequence><xs:element ref="emix:d"/><xs:element ref="emix:e"/></xs:sequence>',
                F,
            ),
            "element ref emix:e [1..1] is out of the official order",
            id="choice-made-sequence",
        ),
        pytest.param(
            sequence(A, D_OR_E, '<xs:element name="f" type="xs:int"/>'),
            "type changed: ours xs:int, official xs:string",
            id="local-type-changed",
        ),
        pytest.param(
            sequence(A, D_OR_E, '<xs:element ref="emix:f"/>'),
            "ours is a reference to the global element, official is a local declaration",
            id="local-made-reference",
        ),
        pytest.param(
            DEFAULT_THING + '<xs:attribute name="extra" type="xs:string"/>',
            "adds attribute(s) extra",
            id="added-attribute",
        ),
    ],
)
def test_comparator_rejects_what_is_not_a_restriction(content, expected):
    problems = thing_problems(our_schema(content))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("derivation", "base", "expected"),
    [
        pytest.param(
            "extension",
            "emix:EmixBaseType",
            "ours is extension of emix:EmixBaseType (complex content), "
            "official extension of emix:BaseThingType",
            id="different-base",
        ),
        pytest.param(
            "restriction",
            "emix:BaseThingType",
            "ours is restriction of emix:BaseThingType",
            id="different-derivation",
        ),
    ],
)
def test_comparator_rejects_a_different_derivation(derivation, base, expected):
    problems = thing_problems(our_schema(derivation=derivation, base=base))
    assert any(expected in p for p in problems), problems


def test_comparator_rejects_a_concrete_type_where_the_official_is_abstract():
    official = parse_official_content_models(OFFICIAL_FIXTURE)
    concrete = read_schema_texts(
        [
            f"""<xs:schema xmlns:xs="{XSD}" targetNamespace="{EMIX}">
              <xs:complexType name="EmixBaseType"/></xs:schema>"""
        ]
    )
    problems = compare_complex_types(
        concrete.complex_types[f"{E}EmixBaseType"],
        official.complex_types[f"{E}EmixBaseType"],
        concrete,
    )
    assert problems == ["official type is abstract, ours is concrete"]


def _colour(restriction: str) -> list[str]:
    official = parse_official_content_models(OFFICIAL_FIXTURE)
    ours = read_schema_texts(
        [
            f"""<xs:schema xmlns:xs="{XSD}" targetNamespace="{EMIX}">
              <xs:simpleType name="ColourType">{restriction}</xs:simpleType></xs:schema>"""
        ]
    )
    return compare_simple_types(
        ours.simple_types[f"{E}ColourType"], official.simple_types[f"{E}ColourType"]
    )


@pytest.mark.parametrize(
    ("restriction", "expected"),
    [
        pytest.param(
            '<xs:restriction base="xs:token"><xs:enumeration value="red"/></xs:restriction>',
            [],
            id="enumeration-subset",
        ),
        pytest.param(
            '<xs:restriction base="xs:token"><xs:enumeration value="red"/>'
            '<xs:enumeration value="blue"/></xs:restriction>',
            ["adds enumeration value(s) ['blue']"],
            id="enumeration-widened",
        ),
        pytest.param(
            '<xs:restriction base="xs:token"/>',
            ["drops the official enumeration"],
            id="enumeration-dropped",
        ),
        pytest.param(
            '<xs:restriction base="xs:string"><xs:enumeration value="red"/></xs:restriction>',
            ["base: ours xs:string, official xs:token"],
            id="different-base",
        ),
    ],
)
def test_comparator_checks_simple_types(restriction, expected):
    assert _colour(restriction) == expected


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        pytest.param(
            '<xs:element name="thing" type="emix:ThingType" substitutionGroup="emix:baseThing"/>',
            [],
            id="same",
        ),
        pytest.param('<xs:element name="a" type="xs:token"/>', [], id="same-java-binding"),
        pytest.param(
            '<xs:element name="thing" type="emix:ThingType"/>',
            ["substitutionGroup: ours (none), official emix:baseThing"],
            id="left-its-substitution-group",
        ),
        pytest.param(
            '<xs:element name="thing" type="emix:BaseThingType" '
            'substitutionGroup="emix:baseThing"/>',
            [
                "type: ours is emix:BaseThingType (JAXB: BaseThingType), "
                "official JAXB type ThingType"
            ],
            id="different-type",
        ),
        pytest.param(
            '<xs:element name="baseThing" type="emix:BaseThingType" '
            'substitutionGroup="emix:thing"/>',
            ["substitutionGroup: ours emix:thing, official (none)"],
            id="head-made-member",
        ),
        pytest.param(
            '<xs:element name="a" type="xs:float"/>',
            ["type: ours is xs:float (JAXB: Float), official JAXB type String"],
            id="different-builtin",
        ),
    ],
)
def test_comparator_checks_global_elements(declaration, expected):
    official = parse_official_content_models(OFFICIAL_FIXTURE)
    ours = our_schema(declarations=declaration)
    (name,) = ours.elements
    assert compare_global_elements(
        ours.elements[name], official.elements[name], ours, official
    ) == (expected)
