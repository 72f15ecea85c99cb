"""What differs between SOAP 1.1 and SOAP 1.2 on the wire, and the request Envelope around a
payload: the server and the client read and write both versions through these values."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from temix.namespaces import SOAP11, SOAP12

WSDL_SOAP11_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
WSDL_SOAP12_NS = "http://schemas.xmlsoap.org/wsdl/soap12/"


@dataclass(frozen=True)
class SoapVersion:
    """What differs between SOAP 1.1 and 1.2 on the wire."""

    name: str
    envelope_ns: str
    prefix: str
    media_type: str
    wsdl_binding_ns: str
    true_values: frozenset[str]
    false_values: frozenset[str]
    roles_for_us: frozenset[str | None]

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"


SOAP_1_1 = SoapVersion(
    name="1.1",
    envelope_ns=SOAP11,
    prefix="soap",
    media_type="text/xml",
    wsdl_binding_ns=WSDL_SOAP11_NS,
    true_values=frozenset({"1"}),
    false_values=frozenset({"0"}),
    roles_for_us=frozenset({None, "http://schemas.xmlsoap.org/soap/actor/next"}),
)
SOAP_1_2 = SoapVersion(
    name="1.2",
    envelope_ns=SOAP12,
    prefix="soap12",
    media_type="application/soap+xml",
    wsdl_binding_ns=WSDL_SOAP12_NS,
    true_values=frozenset({"1", "true"}),
    false_values=frozenset({"0", "false"}),
    roles_for_us=frozenset(
        {
            None,
            "http://www.w3.org/2003/05/soap-envelope/role/next",
            "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver",
        }
    ),
)
SOAP_VERSIONS = (SOAP_1_1, SOAP_1_2)

VERSION_BY_MEDIA_TYPE = {version.media_type: version for version in SOAP_VERSIONS}


def media_type_of(content_type: str) -> str:
    """A Content-Type's media type, without parameters, in lower case."""
    return content_type.split(";", 1)[0].strip().lower()


_CONTENT_TYPE_PARAMETER = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """A Content-Type's media type (as :func:`media_type_of`) and its parameters, by name in
    lower case, quoted values unquoted."""
    parameters = {
        name.lower(): unquote(raw.strip()) for name, raw in _CONTENT_TYPE_PARAMETER.findall(value)
    }
    return media_type_of(value), parameters


def unquote(value: str) -> str:
    """A quoted-string's content (WS-I BP R1109 quotes SOAPAction); an unquoted value as is."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def request_headers(version: SoapVersion, soap_action: str) -> dict[str, str]:
    """The HTTP headers of a request for ``soap_action``: SOAP 1.1 sends the action in a
    ``SOAPAction`` header, SOAP 1.2 as the ``action`` parameter of the media type."""
    if version is SOAP_1_1:
        return {"Content-Type": version.content_type, "SOAPAction": f'"{soap_action}"'}
    return {"Content-Type": f'{version.content_type}; action="{soap_action}"'}


def wrap(payload: etree._Element, version: SoapVersion) -> etree._Element:
    """A new Envelope of ``version`` whose Body holds ``payload``."""
    envelope = etree.Element(
        f"{{{version.envelope_ns}}}Envelope", nsmap={version.prefix: version.envelope_ns}
    )
    etree.SubElement(envelope, f"{{{version.envelope_ns}}}Body").append(payload)
    return envelope
