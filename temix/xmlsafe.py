"""The one hardened way to parse untrusted XML bytes in temix.

Every document that arrives from outside (a SOAP request, a file given to ``temix validate``)
goes through :func:`parse_bytes`, exactly once. The parser never loads a DTD, never resolves an
entity and never touches the network; on top of that :func:`parse_bytes` refuses what libxml2
itself lets through: any DOCTYPE (WS-I Basic Profile R1008; lxml's validator mishandles
documents with entity declarations), processing instructions, and documents whose size, depth,
attribute count or element count exceed the configured limits.
"""

from __future__ import annotations

import functools

from lxml import etree

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_MAX_DEPTH = 100
DEFAULT_MAX_ATTRIBUTES = 500
DEFAULT_MAX_ELEMENTS = 200_000
DEFAULT_MAX_NAMESPACES = 500

# Shared by every call; lxml serialises concurrent use of one parser. Use parse_bytes: this
# parser alone does not refuse DOCTYPEs, processing instructions or oversized documents.
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_pis=False,
)

_DOCTYPE_REFUSED = "a DOCTYPE (DTD) is not allowed"
_ENCODINGS = ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
_DOCTYPE_MARKERS = tuple("<!DOCTYPE".encode(codec) for codec in _ENCODINGS)
_NAMESPACE_MARKERS = tuple("xmlns".encode(codec) for codec in _ENCODINGS)


class XmlRejected(ValueError):
    """The bytes are not a document temix accepts; ``str()`` is a one-line reason."""

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(reason.split())
        super().__init__(self.reason)


def parse_bytes(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_attributes: int = DEFAULT_MAX_ATTRIBUTES,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    max_namespaces: int = DEFAULT_MAX_NAMESPACES,
) -> etree._ElementTree:
    """Parse ``data`` with the hardened parser and enforce the limits, or raise XmlRejected.

    libxml2 itself refuses nesting deeper than 256 levels, whatever ``max_depth`` says.
    Namespace declarations are not attributes to libxml2, and each one makes every later
    namespace lookup (signature verification does many) slower, so they have their own cap,
    checked before parsing on the bytes: every ``xmlns`` counts, even in text.
    """
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"parse_bytes takes bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise XmlRejected(f"document is {len(data)} bytes, over the limit of {max_bytes} bytes")
    declarations = max(data.count(marker) for marker in _NAMESPACE_MARKERS)
    if declarations > max_namespaces:
        raise XmlRejected(
            f"document has {declarations} namespace declarations, over the limit of "
            f"{max_namespaces}"
        )
    try:
        root = etree.fromstring(bytes(data), _PARSER)
    except etree.XMLSyntaxError as error:
        # libxml2 gives up on some DTDs by itself (entity amplification): say why we refuse.
        if any(marker in data for marker in _DOCTYPE_MARKERS):
            raise XmlRejected(_DOCTYPE_REFUSED) from None
        raise XmlRejected(_syntax_reason(error)) from None
    tree = root.getroottree()
    _refuse_doctype(tree.docinfo)
    _check_structure(root, max_depth, max_attributes, max_elements)
    return tree


def parse_own(data: bytes) -> etree._Element:
    """The root of XML this process wrote, with the hardened parser and none of the limits
    meant for what a peer sends: a reply to sign or a stored reply (a long list reply is over
    the request caps), or canonical XML of a tree :func:`parse_bytes` accepted (exclusive C14N
    repeats namespace declarations in every subtree that uses them, so a document under the
    caps can be over them once canonical)."""
    return etree.fromstring(data, _PARSER)


def _syntax_reason(error: etree.XMLSyntaxError) -> str:
    line, column = error.position
    message = error.msg or "syntax error"
    suffix = f", line {line}, column {column}"
    message = message.removesuffix(suffix)
    return f"not well-formed XML (line {line}, column {column}): {message}"


def _refuse_doctype(docinfo: etree.DocInfo) -> None:
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRejected(_DOCTYPE_REFUSED)


_count_elements = etree.XPath("count(//*)")
_count_attributes = etree.XPath("count(//@*)")
_elements_with_more_attributes_than = etree.XPath("//*[count(@*) > $limit]")
_processing_instructions = etree.XPath("//processing-instruction()")


@functools.lru_cache(maxsize=8)
def _elements_below_depth(max_depth: int) -> etree.XPath:
    """Relative to the root (depth 1), ``*/*/...`` with max_depth steps reaches depth + 1."""
    return etree.XPath("/".join(["*"] * max_depth))


def _check_structure(
    root: etree._Element, max_depth: int, max_attributes: int, max_elements: int
) -> None:
    """XPath counts: several times faster than walking the tree in Python."""
    if _count_elements(root) > max_elements:
        raise XmlRejected(f"document has more than {max_elements} elements")
    pis = _processing_instructions(root)
    if pis:
        raise XmlRejected(
            f"processing instruction <?{pis[0].target}?> is not allowed (line {pis[0].sourceline})"
        )
    if _count_attributes(root) > max_attributes:
        crowded = _elements_with_more_attributes_than(root, limit=max_attributes)
        if crowded:
            raise XmlRejected(
                f"element with {len(crowded[0].attrib)} attributes, over the limit of "
                f"{max_attributes} (line {crowded[0].sourceline})"
            )
    too_deep = _elements_below_depth(max_depth)(root)
    if too_deep:
        raise XmlRejected(
            f"element nesting deeper than {max_depth} levels (line {too_deep[0].sourceline})"
        )
