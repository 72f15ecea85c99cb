"""Other legal ways of writing the same payload: what another stack's serialiser may send.

Each function returns a new tree that an XML Schema validator and a namespace-aware reader
see as the same information set as its input, written differently:

* :func:`with_prefixes` declares every namespace with another prefix, all on the root, and
  rewrites the QName values that name a type (``xsi:type``) to the new prefixes;
* :func:`in_default_namespaces` puts each element in its namespace by a default namespace
  declaration, redeclared where the namespace changes; an ``xsi:type`` naming a type of its
  element's own namespace is written unprefixed (XML Schema resolves an unprefixed QName value
  in the default namespace), and attributes keep prefixes, which a default namespace cannot
  give them;
* :func:`indented` adds insignificant whitespace between elements (never inside text).

Pure functions over lxml trees; the payload's own values are never changed.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from temix.namespaces import XSI

_XSI_TYPE = f"{{{XSI}}}type"


def _namespaces(root: etree._Element, *, of_elements: bool) -> list[str]:
    """In document order: every namespace an attribute of ``root`` is in or an ``xsi:type``
    names, and, when ``of_elements``, every namespace an element is in. Without
    ``of_elements``, a type in its element's own namespace is left out: in a default namespace
    it is written unprefixed."""
    found: dict[str, None] = {}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        namespace = etree.QName(element).namespace or ""
        if of_elements:
            found.setdefault(namespace, None)
        for name, value in element.attrib.items():
            if etree.QName(name).namespace:
                found.setdefault(etree.QName(name).namespace, None)
            if name == _XSI_TYPE:
                named = _type_namespace(element, value)
                if of_elements or named != namespace:
                    found.setdefault(named, None)
    found.pop("", None)
    return list(found)


def _type_namespace(element: etree._Element, value: str) -> str:
    prefix, _, _ = value.rpartition(":")
    return element.nsmap.get(prefix or None, "")


def _copy(
    source: etree._Element,
    parent: etree._Element | None,
    prefixes: Mapping[str, str],
    default_namespaces: bool,
) -> etree._Element:
    namespace = etree.QName(source).namespace
    own: dict[str | None, str] = {}
    if parent is None:
        own.update({prefix: uri for uri, prefix in prefixes.items()})
    if default_namespaces and namespace and (parent is None or parent.nsmap.get(None) != namespace):
        own[None] = namespace
    if parent is None:
        copy = etree.Element(source.tag, nsmap=own)
    else:
        copy = etree.SubElement(parent, source.tag, nsmap=own)
    for name, value in source.attrib.items():
        if name == _XSI_TYPE:
            named, local = _type_namespace(source, value), value.rpartition(":")[2]
            value = local if named not in prefixes else f"{prefixes[named]}:{local}"
        copy.set(name, value)
    copy.text = source.text
    for child in source:
        if isinstance(child.tag, str):
            _copy(child, copy, prefixes, default_namespaces).tail = child.tail
    return copy


def _rewritten(root: etree._Element, default_namespaces: bool) -> etree._Element:
    namespaces = _namespaces(root, of_elements=not default_namespaces)
    prefixes = {namespace: f"n{index}" for index, namespace in enumerate(namespaces)}
    return _copy(root, None, prefixes, default_namespaces)


def with_prefixes(root: etree._Element) -> etree._Element:
    """``root`` with each namespace declared once, on the root, as ``n0``, ``n1``, ...: prefixes
    no other serialiser uses by accident."""
    return _rewritten(root, default_namespaces=False)


def in_default_namespaces(root: etree._Element) -> etree._Element:
    """``root`` with every element unprefixed, in its namespace by default declarations."""
    return _rewritten(root, default_namespaces=True)


def indented(root: etree._Element) -> etree._Element:
    """A copy of ``root`` with whitespace between its elements, two spaces a level."""
    copy = etree.fromstring(etree.tostring(root))
    etree.indent(copy, space="  ")
    return copy
