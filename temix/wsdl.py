"""The single-file WSDL: ``schemas/wsdl/temix.wsdl`` with its schemas inlined.

Some SOAP toolkits only read one file. :func:`flatten_wsdl` takes the WSDL, follows every
``xsd:import`` (relative ``schemaLocation`` only; nothing is fetched), and puts one
``xsd:schema`` per namespace into ``wsdl:types``, dependencies first, with the imports between
them kept but stripped of their ``schemaLocation``. The output is deterministic, so the
committed ``schemas/wsdl/temix-single.wsdl`` can be compared byte for byte with a fresh run.

Regenerate it with::

    python -m temix.wsdl > schemas/wsdl/temix-single.wsdl
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

from lxml import etree

from temix.schemas import WSDL

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"

_TYPES = f"{{{WSDL_NS}}}types"
_SCHEMA = f"{{{XSD_NS}}}schema"
_IMPORT = f"{{{XSD_NS}}}import"
_INCLUDE = f"{{{XSD_NS}}}include"
_REDEFINE = f"{{{XSD_NS}}}redefine"

# Schema attributes whose values are QNames (or lists of QNames): their prefixes must still
# resolve to the same namespaces once a schema sits inside the WSDL.
_QNAME_ATTRIBUTES = ("base", "ref", "type", "substitutionGroup", "itemType", "memberTypes")

_PLACEHOLDER = "temix: inlined schemas go here"

_NOTICE = (
    " Generated from temix.wsdl by `python -m temix.wsdl > schemas/wsdl/temix-single.wsdl`:"
    " do not edit. "
)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_blank_text=True,
        huge_tree=False,
    )


def _local_target(base: Path, location: str) -> Path:
    """Resolve a schemaLocation against the file that holds it; only relative paths allowed."""
    if urlparse(location).scheme or Path(location).is_absolute():
        raise ValueError(f"{base}: schemaLocation {location!r} is not a relative path")
    return (base.parent / location).resolve()


def _qname_bindings(schema: etree._Element) -> list[tuple[str | None, str | None]]:
    """Each prefix a QName-valued attribute in ``schema`` uses, with the namespace it means."""
    found = []
    for el in schema.iter(etree.Element):
        for attribute in _QNAME_ATTRIBUTES:
            for value in (el.get(attribute) or "").split():
                prefix = value.split(":", 1)[0] if ":" in value else None
                found.append((prefix, el.nsmap.get(prefix)))
    return found


def flatten_wsdl(wsdl_path: str | Path = WSDL) -> bytes:
    """Return the WSDL at ``wsdl_path`` with every imported schema inlined in ``wsdl:types``."""
    wsdl_path = Path(wsdl_path).resolve()
    parser = _parser()
    tree = etree.parse(str(wsdl_path), parser)
    if tree.docinfo.doctype:
        raise ValueError(f"{wsdl_path}: a DOCTYPE is not allowed")
    root = tree.getroot()
    types = root.find(_TYPES)
    if types is None:
        raise ValueError(f"{wsdl_path}: no wsdl:types")

    schemas: dict[str, etree._Element] = {}  # namespace -> schema, dependencies first
    loading: set[str] = set()

    def load(path: Path, namespace: str) -> None:
        if namespace in schemas or namespace in loading:
            return
        doc = etree.parse(str(path), parser)
        if doc.docinfo.doctype:
            raise ValueError(f"{path}: a DOCTYPE is not allowed")
        schema = doc.getroot()
        if schema.tag != _SCHEMA or schema.get("targetNamespace") != namespace:
            raise ValueError(f"{path}: not the xsd:schema of {namespace!r}")
        if schema.find(_INCLUDE) is not None or schema.find(_REDEFINE) is not None:
            raise ValueError(f"{path}: xsd:include/xsd:redefine are not supported")
        loading.add(namespace)
        for imp in schema.iterchildren(_IMPORT):
            location = imp.get("schemaLocation")
            if location is not None:
                load(_local_target(path, location), imp.get("namespace", ""))
                del imp.attrib["schemaLocation"]
        loading.discard(namespace)
        schemas[namespace] = schema

    for schema in types.iterchildren(_SCHEMA):
        for imp in schema.iterchildren(_IMPORT):
            location = imp.get("schemaLocation")
            if location is None:
                continue
            load(_local_target(wsdl_path, location), imp.get("namespace", ""))

    # Splice the schemas in as text: each is serialised on its own, so it keeps every
    # namespace declaration its QName-valued attributes need (moving the elements into the
    # WSDL tree would drop those the WSDL root already makes, and a toolkit that reads each
    # inlined schema on its own would then miss them).
    for child in list(types):
        types.remove(child)
    types.append(etree.Comment(_PLACEHOLDER))
    skeleton = etree.tostring(tree, encoding="UTF-8")
    inlined = etree.tostring(etree.Comment(_NOTICE)) + b"".join(
        etree.tostring(schema, encoding="UTF-8") for schema in schemas.values()
    )
    marker = etree.tostring(etree.Comment(_PLACEHOLDER))
    if skeleton.count(marker) != 1:
        raise ValueError(f"{wsdl_path}: the WSDL already contains {marker!r}")
    out = etree.ElementTree(etree.fromstring(skeleton.replace(marker, inlined), _parser()))
    etree.indent(out, space="  ")

    out_schemas = out.getroot().find(_TYPES).findall(_SCHEMA)
    for before, after in zip(schemas.values(), out_schemas, strict=True):
        if _qname_bindings(before) != _qname_bindings(after):
            raise ValueError(f"{before.get('targetNamespace')}: prefixes changed when inlined")

    return etree.tostring(out, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def main(argv: list[str] | None = None) -> int:
    """Write the single-file WSDL (of the given WSDL, default the bundled one) to stdout."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else WSDL
    sys.stdout.buffer.write(flatten_wsdl(path))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
