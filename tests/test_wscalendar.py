"""The xCal parts of our documents are valid WS-Calendar 1.0 (CS01).

Our ``icalendar-temix.xsd`` re-declares the xCal types TeMIX uses; this checks the result
against the official WS-Calendar schemas in ``../shared/reference`` rather than against our own
reading of them:

* every ``xcal:interval``, every calendar (an ``emix:emixBase`` or other EmixBaseType element,
  rebuilt as an ``xcal:vcalendar`` from its ``xcal:properties`` and ``xcal:components``) and
  every other outermost xCal element of each valid example validates against WS-Calendar;
* each simple type we define in the xCal namespace has the official base and accepts only
  values the official type accepts, on a table of sample values (a regular expression cannot be
  compared with another by inspection).

The artifacts attached to intervals (``power:temixPower``, ``emix:measurement``,
``tmx:deliveryPoint``) are EMIX's business, not WS-Calendar's: a stand-in schema written for the
test declares each of them as a member of ``xcal:artifactBase`` with permissive (lax) content.
The reference copy lacks TimeStamp.xsd; nothing in it refers to that file (checked below), so
the schema is compiled from ``iCalendar.xsd`` as it is.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from contentmodels import compare_simple_types, read_schema_files, short, split_clark
from temix.namespaces import XCAL, XSD
from temix.schemas import DRIVER_XSD, EXAMPLES_VALID, XSD_DIR

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
WSCALENDAR_DIR = REFERENCE_DIR / "xsd" / "ws-calendar-1.0-cs01"
WSCALENDAR_MAIN = WSCALENDAR_DIR / "iCalendar.xsd"

VALID_EXAMPLES = sorted(EXAMPLES_VALID.glob("*.xml"))
OUR_MODEL = read_schema_files(sorted(XSD_DIR.glob("*.xsd")))
OUR_XCAL_SIMPLE_TYPES = sorted(
    name for name in OUR_MODEL.simple_types if split_clark(name)[0] == XCAL
)

#: Lexical values for the xCal simple types: date-times with and without offsets, durations in
#: every unit (days, weeks, years, months, signs, fractions) and some that are neither.
SAMPLE_VALUES = (
    "2026-03-08T08:00:00Z",
    "2026-03-08T08:00:00+02:00",
    "2026-03-08T08:00:00-05:00",
    "2026-03-08T08:00:00",
    "2026-03-08T08:00:00.250Z",
    "2026-03-08T08:00Z",
    "2026-03-08",
    "-2026-03-08T08:00:00Z",
    "PT23H",
    "PT25H",
    "PT5M",
    "PT30S",
    "PT1H30M",
    "PT1H30M15S",
    "PT0S",
    "PT1.5S",
    "P1D",
    "P1DT2H",
    "P1W",
    "P2W",
    "P1W1D",
    "P1Y",
    "P1M",
    "P1Y2M3DT4H5M6S",
    "1W",
    "-PT1H",
    "+PT1H",
    "P",
    "PT",
    "",
    "GREGORIAN",
    "23",
)

PERMISSIVE_ARTIFACT_TYPE = "PermissiveArtifactType"


def _require_wscalendar() -> None:
    if not WSCALENDAR_MAIN.is_file():
        pytest.skip(f"reference folder absent: {WSCALENDAR_MAIN} not found (needs ../shared)")


def _is_xcal(element: etree._Element | None) -> bool:
    return (
        element is not None
        and isinstance(element.tag, str)
        and etree.QName(element).namespace == XCAL
    )


def attached_artifacts(documents: list[etree._ElementTree]) -> dict[str, set[str]]:
    """Namespace -> local names of the non-xCal elements attached with x-wsCalendar-attach."""
    artifacts: dict[str, set[str]] = defaultdict(set)
    for document in documents:
        for attach in document.iter(f"{{{XCAL}}}x-wsCalendar-attach"):
            for child in attach:
                if isinstance(child.tag, str) and not _is_xcal(child):
                    qname = etree.QName(child)
                    artifacts[qname.namespace].add(qname.localname)
    return artifacts


def write_standin_schema(folder: Path, artifacts: dict[str, set[str]]) -> Path:
    """WS-Calendar plus, per artifact namespace, a schema declaring each artifact as an
    ``xcal:artifactBase`` member whose content is anything (validated laxly)."""
    wscalendar = WSCALENDAR_MAIN.as_uri()
    imports = [f'<xs:import namespace="{XCAL}" schemaLocation="{wscalendar}"/>']
    for number, (namespace, names) in enumerate(sorted(artifacts.items())):
        elements = "".join(
            f'<xs:element name="{name}" type="a:{PERMISSIVE_ARTIFACT_TYPE}" '
            'substitutionGroup="xcal:artifactBase"/>'
            for name in sorted(names)
        )
        standin = folder / f"artifacts-{number}.xsd"
        standin.write_text(
            f"""<xs:schema xmlns:xs="{XSD}" xmlns:xcal="{XCAL}" xmlns:a="{namespace}"
                targetNamespace="{namespace}" elementFormDefault="qualified">
              <xs:import namespace="{XCAL}" schemaLocation="{wscalendar}"/>
              <xs:complexType name="{PERMISSIVE_ARTIFACT_TYPE}">
                <xs:complexContent><xs:extension base="xcal:ArtifactBaseType">
                  <xs:sequence>
                    <xs:any processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
                  </xs:sequence>
                  <xs:anyAttribute processContents="lax"/>
                </xs:extension></xs:complexContent>
              </xs:complexType>
              {elements}
            </xs:schema>"""
        )
        imports.append(f'<xs:import namespace="{namespace}" schemaLocation="{standin.name}"/>')
    driver = folder / "wscalendar-with-artifacts.xsd"
    driver.write_text(f'<xs:schema xmlns:xs="{XSD}">{"".join(imports)}</xs:schema>')
    return driver


CALENDAR_PARTS = (f"{{{XCAL}}}properties", f"{{{XCAL}}}components")


def calendar_parts(document: etree._ElementTree) -> list[tuple[str, etree._Element]]:
    """(where, element to validate as it is against WS-Calendar) for one document.

    Every xcal:interval; every calendar (an element holding xcal:properties or
    xcal:components, like emix:emixBase) rebuilt as an xcal:vcalendar from copies of those
    two; and every other outermost xCal element.
    """
    parts = [(document.getpath(i), i) for i in document.iter(f"{{{XCAL}}}interval")]
    calendars = []
    for element in document.iter():
        if not _is_xcal(element) or _is_xcal(element.getparent()):
            continue
        if element.tag not in CALENDAR_PARTS:
            parts.append((document.getpath(element), element))
        elif element.getparent() not in calendars:
            calendars.append(element.getparent())
    for calendar in calendars:
        vcalendar = etree.Element(f"{{{XCAL}}}vcalendar", nsmap={"xcal": XCAL})
        vcalendar.extend(copy.deepcopy(c) for c in calendar if c.tag in CALENDAR_PARTS)
        parts.append((f"{document.getpath(calendar)} as xcal:vcalendar", vcalendar))
    return parts


@pytest.fixture(scope="module")
def wscalendar_validators(tmp_path_factory) -> tuple[etree.XMLSchema, xmlschema.XMLSchema10]:
    """The WS-Calendar copy plus stand-ins for the artifacts, in lxml and in xmlschema."""
    _require_wscalendar()
    documents = [etree.parse(str(path)) for path in VALID_EXAMPLES]
    driver = write_standin_schema(
        tmp_path_factory.mktemp("wscalendar"), attached_artifacts(documents)
    )
    return (
        etree.XMLSchema(etree.parse(str(driver))),
        xmlschema.XMLSchema10(str(driver), allow="local"),
    )


def test_wscalendar_copy_needs_no_timestamp_xsd():
    """The missing TimeStamp.xsd is not referred to, so compiling iCalendar.xsd is complete."""
    _require_wscalendar()
    referrers = [
        path.name
        for path in WSCALENDAR_DIR.glob("*.xsd")
        if "TimeStamp.xsd" in path.read_text(encoding="utf-8")
    ]
    assert referrers == []


@pytest.mark.parametrize("path", VALID_EXAMPLES, ids=lambda path: path.name)
def test_xcal_parts_are_valid_wscalendar(path, wscalendar_validators):
    lxml_schema, xmlschema_schema = wscalendar_validators
    document = etree.parse(str(path))
    problems = []
    for where, element in calendar_parts(document):
        if element.tag not in xmlschema_schema.maps.elements:
            problems.append(f"{where}: WS-Calendar declares no global {short(element.tag)}")
            continue
        if not lxml_schema.validate(etree.ElementTree(element)):
            problems.append(f"{where} (lxml): {lxml_schema.error_log.last_error.message}")
        error = next(xmlschema_schema.iter_errors(element), None)
        if error is not None:
            problems.append(f"{where} (xmlschema): {error.reason}")
    assert not problems, f"{path.name}: xCal parts invalid against WS-Calendar:\n" + "\n".join(
        problems
    )


@pytest.fixture(scope="module")
def official_and_our_xcal() -> tuple[xmlschema.XMLSchema10, xmlschema.XMLSchema10]:
    _require_wscalendar()
    return (
        xmlschema.XMLSchema10(str(WSCALENDAR_MAIN), allow="local"),
        xmlschema.XMLSchema10(str(DRIVER_XSD), allow="local"),
    )


@pytest.mark.parametrize("name", OUR_XCAL_SIMPLE_TYPES, ids=short)
def test_xcal_simple_type_accepts_only_what_wscalendar_accepts(name, official_and_our_xcal):
    """Same base, enumeration a subset, and no sample value accepted that WS-Calendar rejects."""
    official_schema, our_schema = official_and_our_xcal
    assert name in official_schema.maps.types, f"WS-Calendar has no simple type {short(name)}"
    wscalendar_model = read_schema_files(sorted(WSCALENDAR_DIR.glob("*.xsd")))
    problems = compare_simple_types(
        OUR_MODEL.simple_types[name], wscalendar_model.simple_types[name]
    )
    ours, official = our_schema.maps.types[name], official_schema.maps.types[name]
    problems += [
        f"accepts {value!r}, which WS-Calendar rejects"
        for value in SAMPLE_VALUES
        if ours.is_valid(value) and not official.is_valid(value)
    ]
    assert not problems, f"{short(name)} is not a restriction of WS-Calendar's:\n" + "\n".join(
        problems
    )
