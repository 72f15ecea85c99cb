"""XML namespaces of the TeMIX profile and the prefixes the codec writes for them."""

from __future__ import annotations

from lxml import etree

EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
PYLD = "http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
EI_WSDL = "http://docs.oasis-open.org/ns/energyinterop/201110/wsdl"
EMIX = "http://docs.oasis-open.org/ns/emix/2011/06"
POWER = "http://docs.oasis-open.org/ns/emix/2011/06/power"
SISCALE = "http://docs.oasis-open.org/ns/emix/2011/06/siscale"
XCAL = "urn:ietf:params:xml:ns:icalendar-2.0"
STRM = "urn:ietf:params:xml:ns:icalendar-2.0:stream"
CURRENCY = "urn:un:unece:uncefact:codelist:standard:5:ISO42173A:2010-04-07"
TEMIX_EXT = "urn:temix:ns:extension:1.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"

#: Stable prefixes: every document the codec writes declares exactly these.
PREFIXES: dict[str, str] = {
    "pyld": PYLD,
    "ei": EI,
    "emix": EMIX,
    "power": POWER,
    "scale": SISCALE,
    "xcal": XCAL,
    "strm": STRM,
    "tmx": TEMIX_EXT,
    "xsi": XSI,
}


def resolve_qname(element: etree._Element, value: str) -> str:
    """``prefix:local``, written in ``element``, as ``{namespace}local`` by the declarations in
    scope there; ValueError if the prefix is not declared."""
    prefix, _, local = value.rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    if namespace is None:
        raise ValueError(f"{value!r}: prefix {prefix!r} is not declared")
    return f"{{{namespace}}}{local}"


def qname(namespace: str, local: str) -> str:
    """Clark notation, as lxml writes tag names: ``{namespace}local``."""
    return f"{{{namespace}}}{local}"


#: Prefixes used to render paths and messages: the codec's own, plus the currency code list's,
#: the SOAP envelopes' and XML Schema's.
RENDER_PREFIXES: dict[str, str] = {
    **PREFIXES,
    "clm5ISO42173A": CURRENCY,
    "soap": SOAP11,
    "soap12": SOAP12,
    "xs": XSD,
}
_PREFIX_OF = {namespace: prefix for prefix, namespace in RENDER_PREFIXES.items()}


def prefixed(tag: str) -> str:
    """``{namespace}local`` as ``prefix:local`` with the project's prefixes, as error paths and
    messages show names; a tag in another namespace, or in none, is returned unchanged."""
    if not tag.startswith("{"):
        return tag
    namespace, _, local = tag[1:].partition("}")
    prefix = _PREFIX_OF.get(namespace)
    return f"{prefix}:{local}" if prefix else tag
