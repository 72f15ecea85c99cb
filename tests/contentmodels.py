"""Content models of XSD types, and a comparator that says how ours differ from the official ones.

The project's schema rule (docs/profile.md, "The schema rule"): every type temix defines in an
official OASIS namespace keeps its official name, base and element references in the official
order; it may only restrict the official type (leave out an optional particle, narrow a choice,
tighten a cardinality), never add, reorder or loosen. If that holds, every document valid against
our schemas is valid against the official ones.

The official EI / EMIX XSDs are not available, but their types are: the reference file
``ei-emix-content-models.txt`` re-renders every official type from JAXB-generated Java (blocks
``## path/Name.java`` followed by an XML-ish ``<complexType>``/``<simpleType>`` fragment whose
``base``/``ref``/``type`` values are Clark names ``{namespace}local``), and ends with the global
element declarations of the JAXB ObjectFactory classes. This module reads that file and our own
``.xsd`` files into one model (:class:`SchemaModel`) and compares them type by type.

What the JAXB rendering cannot show, and how the comparator copes:

* Simple types appear only when JAXB generated an enum class for them; the others are absent
  (the element check compares the Java binding of their elements instead).
* Abstract flags are dropped; :data:`ABSTRACT_OFFICIAL_TYPES` restores the ones JAXB generated
  as abstract Java classes (FACTS.md section 9).
* ObjectFactory names element types by Java class (``String``, ``PnodeType``), so element types
  are compared through their JAXB binding (:func:`java_binding`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

from temix.namespaces import CURRENCY, EI, EMIX, POWER, PREFIXES, SISCALE, STRM, XCAL, XSD

RESOURCE = "http://docs.oasis-open.org/ns/emix/2011/06/power/resource"
GML = "http://www.opengis.net/gml/3.2"

#: Java package directory (as in the ``## path/Name.java`` headers) -> XML namespace.
PACKAGE_NAMESPACES: dict[str, str] = {
    "ietf/params/xml/ns/icalendar_2": XCAL,
    "ietf/params/xml/ns/icalendar_2_0/stream": STRM,
    "org/oasis_open/docs/ns/emix/_2011/_06": EMIX,
    "org/oasis_open/docs/ns/emix/_2011/_06/power": POWER,
    "org/oasis_open/docs/ns/emix/_2011/_06/power/resource": RESOURCE,
    "org/oasis_open/docs/ns/emix/_2011/_06/siscale": SISCALE,
    "org/oasis_open/docs/ns/energyinterop/_201110": EI,
    "un/unece/uncefact/codelist/standard/_5/iso42173a/_2010_04_07": CURRENCY,
}

#: Namespaces whose types the JAXB rendering covers: our types in them must restrict the official.
OFFICIAL_NAMESPACES = frozenset(PACKAGE_NAMESPACES.values())

_SHORT_PREFIXES = {
    **{namespace: prefix for prefix, namespace in PREFIXES.items()},
    RESOURCE: "resource",
    CURRENCY: "clm5ISO42173A",
    GML: "gml",
    XSD: "xs",
}

#: Official types JAXB generated as abstract Java classes (the re-rendering drops the flag).
ABSTRACT_OFFICIAL_TYPES = frozenset(
    f"{{{namespace}}}{local}"
    for namespace, local in [
        (EMIX, "EmixBaseType"),
        (EMIX, "ProductDescriptionType"),
        (EMIX, "ItemBaseType"),
        (EMIX, "PriceBaseType"),
        (EMIX, "EmixInterfaceType"),
        (POWER, "PowerItemType"),
        (POWER, "EnergyItemType"),
        (STRM, "StreamIntervalType"),
        (STRM, "StreamPayloadBaseType"),
    ]
)

#: How JAXB binds the XSD built-in types (JAXB 2.2 defaults); ObjectFactory names these.
JAXB_BUILTIN_BINDINGS: dict[str, str] = {
    **dict.fromkeys(
        ["string", "normalizedString", "token", "language", "Name", "NCName", "NMTOKEN", "ID"],
        "String",
    ),
    **dict.fromkeys(["IDREF", "ENTITY", "anyURI"], "String"),
    "boolean": "Boolean",
    "float": "Float",
    "double": "Double",
    "decimal": "BigDecimal",
    **dict.fromkeys(
        ["integer", "nonNegativeInteger", "positiveInteger", "nonPositiveInteger"], "BigInteger"
    ),
    **dict.fromkeys(["negativeInteger", "unsignedLong"], "BigInteger"),
    "long": "Long",
    "unsignedInt": "Long",
    "int": "Integer",
    "unsignedShort": "Integer",
    "short": "Short",
    "unsignedByte": "Short",
    "byte": "Byte",
    **dict.fromkeys(
        ["dateTime", "date", "time", "gYear", "gYearMonth", "gMonth", "gMonthDay", "gDay"],
        "XMLGregorianCalendar",
    ),
    "duration": "Duration",
    "base64Binary": "byte[]",
    "hexBinary": "byte[]",
    "QName": "QName",
    "anyType": "Object",
}

#: Restriction parents of the XSD built-in simple types (only the derived ones).
_BUILTIN_RESTRICTION_PARENTS: dict[str, str] = {
    "normalizedString": "string",
    "token": "normalizedString",
    "language": "token",
    "NMTOKEN": "token",
    "Name": "token",
    "NCName": "Name",
    "ID": "NCName",
    "IDREF": "NCName",
    "ENTITY": "NCName",
    "integer": "decimal",
    "nonPositiveInteger": "integer",
    "negativeInteger": "nonPositiveInteger",
    "long": "integer",
    "int": "long",
    "short": "int",
    "byte": "short",
    "nonNegativeInteger": "integer",
    "unsignedLong": "nonNegativeInteger",
    "unsignedInt": "unsignedLong",
    "unsignedShort": "unsignedInt",
    "unsignedByte": "unsignedShort",
    "positiveInteger": "nonNegativeInteger",
}

_CONTENT_MODELS_MARKER = "# ===== ObjectFactory element declarations"
_OBJECT_FACTORY_LINE = re.compile(
    r"^(?P<element>\{[^}]*\}\S+) : (?P<java>\S+)(?:\s+substitutionGroup=(?P<group>\S+))?\s*$"
)
_FRAGMENT = re.compile(r"<(complexType|simpleType)\b.*?</\1>", re.DOTALL)


def clark(namespace: str | None, local: str) -> str:
    return f"{{{namespace}}}{local}" if namespace else local


def split_clark(name: str) -> tuple[str | None, str]:
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return None, name


def short(name: str | None) -> str:
    """``{ns}local`` -> ``prefix:local`` with the usual prefixes, for readable messages."""
    if name is None:
        return "(none)"
    namespace, local = split_clark(name)
    if namespace is None:
        return local
    return f"{_SHORT_PREFIXES.get(namespace, '{' + namespace + '}')}:{local}"


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimpleType:
    """A simple type. ``base`` is the restriction base (atomic), the item type (list) or None."""

    name: str | None
    variety: str  # "atomic" | "list" | "union"
    base: str | None
    member_types: tuple[str, ...] = ()
    enumerations: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ElementParticle:
    """An element particle: a reference to a global element, or a local declaration."""

    name: str
    is_ref: bool
    min_occurs: int = 1
    max_occurs: int | None = 1  # None = unbounded
    type_name: str | None = None  # local declarations only
    inline_simple_type: SimpleType | None = None
    inline_complex_type: bool = False


@dataclass(frozen=True)
class WildcardParticle:
    namespace: str
    process_contents: str
    min_occurs: int = 1
    max_occurs: int | None = 1


@dataclass(frozen=True)
class GroupParticle:
    compositor: str  # "sequence" | "choice" | "all"
    children: tuple[Particle, ...]
    min_occurs: int = 1
    max_occurs: int | None = 1


Particle = ElementParticle | WildcardParticle | GroupParticle


@dataclass(frozen=True)
class ComplexType:
    name: str
    derivation: str | None  # "extension" | "restriction" | None (a plain complexType)
    base: str | None
    content: Particle | None  # the type's own particles (for an extension: the added part)
    attributes: frozenset[str] = frozenset()
    any_attribute: bool = False
    abstract: bool | None = None  # None = not known (JAXB rendering)
    simple_content: bool = False


@dataclass(frozen=True)
class GlobalElement:
    name: str
    type_name: str | None  # the type attribute (official: None, see java_type)
    substitution_group: str | None = None
    inline_simple_type: SimpleType | None = None
    inline_complex_type: bool = False
    java_type: str | None = None  # official only: the ObjectFactory's Java type name


@dataclass
class SchemaModel:
    complex_types: dict[str, ComplexType] = field(default_factory=dict)
    simple_types: dict[str, SimpleType] = field(default_factory=dict)
    elements: dict[str, GlobalElement] = field(default_factory=dict)
    #: official only: type name -> name of the Java class JAXB generated for it
    java_classes: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Reading XSD elements (our schemas, and the JAXB fragments wrapped as XSD)
# --------------------------------------------------------------------------------------------


def _xs(local: str) -> str:
    return f"{{{XSD}}}{local}"


@dataclass(frozen=True)
class _Context:
    """How to read names in one schema document."""

    target_namespace: str | None
    elements_qualified: bool
    attributes_qualified: bool
    resolve: Callable[[etree._Element, str], str]
    groups: dict[str, tuple[etree._Element, _Context]]
    attribute_groups: dict[str, tuple[etree._Element, _Context]]


def _resolve_prefixed(element: etree._Element, value: str) -> str:
    prefix, _, local = value.strip().rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    if prefix and namespace is None:
        raise ValueError(f"undeclared prefix in {value!r} (line {element.sourceline})")
    return clark(namespace, local)


def _resolve_clark(element: etree._Element, value: str) -> str:
    if not value.startswith("{"):
        raise ValueError(f"expected a {{namespace}}local name, got {value!r}")
    return value


def _occurs(element: etree._Element) -> tuple[int, int | None]:
    maximum = element.get("maxOccurs", "1")
    return int(element.get("minOccurs", "1")), None if maximum == "unbounded" else int(maximum)


def _is_true(value: str | None) -> bool:
    return value in ("true", "1")


def _read_simple_type(element: etree._Element, name: str | None, ctx: _Context) -> SimpleType:
    restriction = element.find(_xs("restriction"))
    if restriction is not None:
        base = restriction.get("base")
        return SimpleType(
            name=name,
            variety="atomic",
            base=ctx.resolve(restriction, base) if base else None,
            enumerations=frozenset(e.get("value") for e in restriction.iter(_xs("enumeration"))),
        )
    list_ = element.find(_xs("list"))
    if list_ is not None:
        item = list_.get("itemType")
        return SimpleType(name, "list", ctx.resolve(list_, item) if item else None)
    union = element.find(_xs("union"))
    if union is None:
        raise ValueError(f"simpleType {name} has no restriction, list or union")
    members = tuple(ctx.resolve(union, m) for m in union.get("memberTypes", "").split())
    return SimpleType(name, "union", None, member_types=members)


def _read_particle(element: etree._Element, ctx: _Context) -> Particle | None:
    """One particle; ``None`` for things that are not particles (annotations, attributes)."""
    minimum, maximum = _occurs(element)
    tag = element.tag
    if tag == _xs("element"):
        ref = element.get("ref")
        if ref is not None:
            return ElementParticle(ctx.resolve(element, ref), True, minimum, maximum)
        qualified = element.get("form", "qualified" if ctx.elements_qualified else "unqualified")
        namespace = ctx.target_namespace if qualified == "qualified" else None
        type_attr = element.get("type")
        inline_simple = element.find(_xs("simpleType"))
        return ElementParticle(
            name=clark(namespace, element.get("name")),
            is_ref=False,
            min_occurs=minimum,
            max_occurs=maximum,
            type_name=ctx.resolve(element, type_attr) if type_attr else None,
            inline_simple_type=(
                None if inline_simple is None else _read_simple_type(inline_simple, None, ctx)
            ),
            inline_complex_type=element.find(_xs("complexType")) is not None,
        )
    if tag == _xs("any"):
        return WildcardParticle(
            element.get("namespace", "##any"),
            element.get("processContents", "strict"),
            minimum,
            maximum,
        )
    if tag in (_xs("sequence"), _xs("choice"), _xs("all")):
        children = tuple(
            particle for child in element if (particle := _read_particle(child, ctx)) is not None
        )
        return GroupParticle(etree.QName(tag).localname, children, minimum, maximum)
    if tag == _xs("group"):
        group_element, group_ctx = ctx.groups[ctx.resolve(element, element.get("ref"))]
        (compositor,) = [c for c in group_element if c.tag != _xs("annotation")]
        group = _read_particle(compositor, group_ctx)
        return replace(group, min_occurs=minimum, max_occurs=maximum)
    return None


def _read_attributes(holder: etree._Element, ctx: _Context) -> tuple[set[str], bool]:
    names: set[str] = set()
    any_attribute = False
    for child in holder:
        if child.tag == _xs("attribute"):
            if child.get("use") == "prohibited":
                continue
            ref = child.get("ref")
            if ref is not None:
                names.add(ctx.resolve(child, ref))
            else:
                qualified = child.get(
                    "form", "qualified" if ctx.attributes_qualified else "unqualified"
                )
                namespace = ctx.target_namespace if qualified == "qualified" else None
                names.add(clark(namespace, child.get("name")))
        elif child.tag == _xs("attributeGroup"):
            group_element, group_ctx = ctx.attribute_groups[ctx.resolve(child, child.get("ref"))]
            group_names, group_any = _read_attributes(group_element, group_ctx)
            names |= group_names
            any_attribute |= group_any
        elif child.tag == _xs("anyAttribute"):
            any_attribute = True
    return names, any_attribute


def _model_group(holder: etree._Element, ctx: _Context) -> Particle | None:
    for child in holder:
        if child.tag in (_xs("sequence"), _xs("choice"), _xs("all"), _xs("group")):
            return _read_particle(child, ctx)
    return None


def _read_complex_type(element: etree._Element, ctx: _Context) -> ComplexType:
    name = clark(ctx.target_namespace, element.get("name"))
    abstract = _is_true(element.get("abstract"))
    for content_tag, is_simple in ((_xs("complexContent"), False), (_xs("simpleContent"), True)):
        content = element.find(content_tag)
        if content is None:
            continue
        (derivation_element,) = [c for c in content if c.tag != _xs("annotation")]
        derivation = etree.QName(derivation_element).localname
        base = ctx.resolve(derivation_element, derivation_element.get("base"))
        if derivation == "restriction" and base == _xs("anyType"):
            derivation, base = None, None
        attributes, any_attribute = _read_attributes(derivation_element, ctx)
        return ComplexType(
            name=name,
            derivation=derivation,
            base=base,
            content=normalize(_model_group(derivation_element, ctx)),
            attributes=frozenset(attributes),
            any_attribute=any_attribute,
            abstract=abstract,
            simple_content=is_simple,
        )
    attributes, any_attribute = _read_attributes(element, ctx)
    return ComplexType(
        name=name,
        derivation=None,
        base=None,
        content=normalize(_model_group(element, ctx)),
        attributes=frozenset(attributes),
        any_attribute=any_attribute,
        abstract=abstract,
    )


def _read_schema_roots(
    roots: Iterable[tuple[etree._Element, Callable[[etree._Element, str], str]]],
) -> SchemaModel:
    """Read the top-level declarations of schema documents into one model."""
    groups: dict[str, tuple[etree._Element, _Context]] = {}
    attribute_groups: dict[str, tuple[etree._Element, _Context]] = {}
    declarations: list[tuple[etree._Element, _Context]] = []
    for root, resolve in roots:
        ctx = _Context(
            target_namespace=root.get("targetNamespace"),
            elements_qualified=root.get("elementFormDefault") == "qualified",
            attributes_qualified=root.get("attributeFormDefault") == "qualified",
            resolve=resolve,
            groups=groups,
            attribute_groups=attribute_groups,
        )
        for child in root:
            if child.tag == _xs("group"):
                groups[clark(ctx.target_namespace, child.get("name"))] = (child, ctx)
            elif child.tag == _xs("attributeGroup"):
                attribute_groups[clark(ctx.target_namespace, child.get("name"))] = (child, ctx)
            else:
                declarations.append((child, ctx))
    model = SchemaModel()
    for child, ctx in declarations:
        if not isinstance(child.tag, str) or child.get("name") is None:
            continue
        name = clark(ctx.target_namespace, child.get("name"))
        if child.tag == _xs("complexType"):
            model.complex_types[name] = _read_complex_type(child, ctx)
        elif child.tag == _xs("simpleType"):
            model.simple_types[name] = _read_simple_type(child, name, ctx)
        elif child.tag == _xs("element"):
            type_attr = child.get("type")
            inline_simple = child.find(_xs("simpleType"))
            group = child.get("substitutionGroup")
            model.elements[name] = GlobalElement(
                name=name,
                type_name=ctx.resolve(child, type_attr) if type_attr else None,
                substitution_group=ctx.resolve(child, group) if group else None,
                inline_simple_type=(
                    None if inline_simple is None else _read_simple_type(inline_simple, None, ctx)
                ),
                inline_complex_type=child.find(_xs("complexType")) is not None,
            )
    return model


def read_schema_files(paths: Iterable[Path]) -> SchemaModel:
    """Read XSD files (as plain XML, without compiling them) into one model."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, remove_comments=True)
    return _read_schema_roots(
        (etree.parse(str(path), parser).getroot(), _resolve_prefixed) for path in paths
    )


def read_schema_texts(texts: Iterable[str]) -> SchemaModel:
    """Like :func:`read_schema_files`, for schema documents given as strings."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, remove_comments=True)
    return _read_schema_roots(
        (etree.fromstring(text.encode(), parser), _resolve_prefixed) for text in texts
    )


# --------------------------------------------------------------------------------------------
# Reading the JAXB re-rendering of the official types
# --------------------------------------------------------------------------------------------


def parse_official_content_models(text: str) -> SchemaModel:
    """Read the JAXB re-rendering (see the module docstring) into a model of the official types.

    Each type's namespace comes from the Java package in its block header. Every fragment is
    wrapped in an ``xs:schema`` of that namespace and read like one of our schema documents,
    with Clark names instead of prefixes.
    """
    types_text, marker, factory_text = text.partition(_CONTENT_MODELS_MARKER)
    if not marker:
        raise ValueError("no ObjectFactory element declarations section")
    roots = []
    class_of_type: dict[str, str] = {}
    for block in re.split(r"^## ", types_text, flags=re.MULTILINE)[1:]:
        header, _, body = block.partition("\n")
        fragment = _FRAGMENT.match(body.strip())
        if header.startswith("package ") or fragment is None:
            continue  # package-info, repeated headers, documentation of enumeration constants
        package, _, java_file = header.strip().rpartition("/")
        if package not in PACKAGE_NAMESPACES:
            raise ValueError(f"no namespace known for Java package {package!r}")
        namespace = PACKAGE_NAMESPACES[package]
        schema = (
            f'<schema xmlns="{XSD}" targetNamespace="{namespace}" '
            f'elementFormDefault="qualified">{fragment.group(0)}</schema>'
        )
        root = etree.fromstring(schema.encode())
        roots.append((root, _resolve_clark))
        class_of_type[clark(namespace, root[0].get("name"))] = java_file.removesuffix(".java")
    model = _read_schema_roots(roots)
    model.java_classes = class_of_type
    model.complex_types = {
        name: replace(t, abstract=True if name in ABSTRACT_OFFICIAL_TYPES else None)
        for name, t in model.complex_types.items()
    }
    for line in factory_text.splitlines()[1:]:
        if not line.strip():
            continue
        match = _OBJECT_FACTORY_LINE.match(line)
        if match is None:
            raise ValueError(f"unreadable ObjectFactory line: {line!r}")
        model.elements[match["element"]] = GlobalElement(
            name=match["element"],
            type_name=None,
            substitution_group=match["group"],
            java_type=match["java"],
        )
    return model


def load_official_content_models(path: Path) -> SchemaModel:
    return parse_official_content_models(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Normalising particles
# --------------------------------------------------------------------------------------------


def _is_once(particle: Particle) -> bool:
    return particle.min_occurs == 1 and particle.max_occurs == 1


def normalize(particle: Particle | None) -> Particle | None:
    """Remove groups that change nothing, so equivalent spellings compare equal.

    An empty group disappears; a group of one particle becomes that particle when either occurs
    exactly once (JAXB writes ``<sequence><choice>`` where an XSD may write ``<choice>``); a
    once-only sequence inside a sequence (a choice inside a choice) is spliced into its parent.
    """
    if not isinstance(particle, GroupParticle):
        return particle
    children: list[Particle] = []
    for child in (normalize(c) for c in particle.children):
        if child is None:
            continue
        splice = (
            isinstance(child, GroupParticle)
            and child.compositor == particle.compositor != "all"
            and _is_once(child)
        )
        children.extend(child.children if splice else [child])
    if not children:
        return None
    if len(children) == 1 and particle.compositor != "all":
        (only,) = children
        if _is_once(particle):
            return only
        if _is_once(only):
            return replace(only, min_occurs=particle.min_occurs, max_occurs=particle.max_occurs)
    return replace(particle, children=tuple(children))


# --------------------------------------------------------------------------------------------
# Comparing
# --------------------------------------------------------------------------------------------


def _max_text(max_occurs: int | None) -> str:
    return "unbounded" if max_occurs is None else str(max_occurs)


def _occurs_text(particle: Particle) -> str:
    return f"{particle.min_occurs}..{_max_text(particle.max_occurs)}"


def describe(particle: Particle) -> str:
    if isinstance(particle, ElementParticle):
        kind = "element ref" if particle.is_ref else "local element"
        return f"{kind} {short(particle.name)} [{_occurs_text(particle)}]"
    if isinstance(particle, WildcardParticle):
        return f"xs:any namespace={particle.namespace!r} [{_occurs_text(particle)}]"
    names = ", ".join(short(n) for n in _element_names(particle))
    return f"<{particle.compositor}> of ({names}) [{_occurs_text(particle)}]"


def _element_names(particle: Particle) -> list[str]:
    if isinstance(particle, ElementParticle):
        return [particle.name]
    if isinstance(particle, WildcardParticle):
        return []
    return [name for child in particle.children for name in _element_names(child)]


def emptiable(particle: Particle) -> bool:
    """Whether the particle can match nothing at all (so leaving it out loses no document)."""
    if particle.min_occurs == 0:
        return True
    if not isinstance(particle, GroupParticle):
        return False
    if particle.compositor == "choice":
        return any(emptiable(c) for c in particle.children)
    return all(emptiable(c) for c in particle.children)


def _compare_occurs(ours: Particle, official: Particle, where: str) -> list[str]:
    problems = []
    if ours.min_occurs < official.min_occurs:
        problems.append(
            f"{where}: minOccurs loosened: ours {ours.min_occurs}, official {official.min_occurs}"
        )
    if official.max_occurs is not None and (
        ours.max_occurs is None or ours.max_occurs > official.max_occurs
    ):
        problems.append(
            f"{where}: maxOccurs loosened: ours {_max_text(ours.max_occurs)}, "
            f"official {official.max_occurs}"
        )
    return problems


def derives_by_restriction(type_name: str, ancestor: str, model: SchemaModel) -> bool:
    """Whether ``type_name`` is ``ancestor`` or restricts it (through our simple types and the
    built-in type hierarchy)."""
    current: str | None = type_name
    while current is not None:
        if current == ancestor:
            return True
        namespace, local = split_clark(current)
        if namespace == XSD:
            parent = _BUILTIN_RESTRICTION_PARENTS.get(local)
            current = None if parent is None else _xs(parent)
        else:
            simple = model.simple_types.get(current)
            current = simple.base if simple is not None and simple.variety == "atomic" else None
    return False


def _compare_local_element_types(
    ours: ElementParticle, official: ElementParticle, where: str, model: SchemaModel
) -> list[str]:
    if ours.inline_complex_type != official.inline_complex_type:
        return [f"{where}: ours and the official type differ in using an anonymous complex type"]
    if official.inline_simple_type is not None:
        if ours.inline_simple_type is not None:
            return compare_simple_types(ours.inline_simple_type, official.inline_simple_type, where)
        our_type = model.simple_types.get(ours.type_name or "")
        if our_type is None:
            return [
                f"{where}: type {short(ours.type_name)} where official has an anonymous simple type"
            ]
        return compare_simple_types(our_type, official.inline_simple_type, where)
    if official.type_name is None or official.inline_complex_type:
        return []
    our_base = (
        ours.inline_simple_type.base if ours.inline_simple_type is not None else ours.type_name
    )
    if our_base is None or not derives_by_restriction(our_base, official.type_name, model):
        return [
            f"{where}: type changed: ours {short(our_base)}, official {short(official.type_name)}"
        ]
    return []


def _compare_elements(
    ours: ElementParticle, official: ElementParticle, where: str, model: SchemaModel
) -> list[str]:
    where = f"{where}/{short(official.name)}"
    problems = _compare_occurs(ours, official, where)
    if ours.name != official.name:
        problems.append(f"{where}: ours is {short(ours.name)}")
    if ours.is_ref != official.is_ref:
        kinds = ("a reference to the global element", "a local declaration")
        problems.append(
            f"{where}: ours is {kinds[not ours.is_ref]}, official is {kinds[not official.is_ref]}"
        )
    elif not ours.is_ref:
        problems.extend(_compare_local_element_types(ours, official, where, model))
    return problems


_PROCESS_CONTENTS_STRICTNESS = {"skip": 0, "lax": 1, "strict": 2}


def _is_choice(particle: Particle) -> bool:
    return isinstance(particle, GroupParticle) and particle.compositor == "choice"


def _key_matches(ours: Particle, official: Particle) -> bool:
    """Whether ``ours`` can be the restriction of ``official`` position-wise."""
    if _is_choice(official) and not _is_choice(ours):
        return any(_key_matches(ours, alternative) for alternative in official.children)
    if isinstance(ours, ElementParticle):
        return isinstance(official, ElementParticle) and ours.name == official.name
    if isinstance(ours, WildcardParticle):
        return isinstance(official, WildcardParticle)
    return (
        isinstance(official, GroupParticle)
        and ours.compositor == official.compositor
        and not set(_element_names(ours)).isdisjoint(_element_names(official))
    )


def _compare_in_order(
    ours: GroupParticle, official: GroupParticle, where: str, model: SchemaModel
) -> list[str]:
    """Our children must map, in order, onto official ones; in a sequence, the official
    children left out must be emptiable."""
    problems = []
    position = 0
    for child in ours.children:
        match = next(
            (
                i
                for i in range(position, len(official.children))
                if _key_matches(child, official.children[i])
            ),
            None,
        )
        if match is None:
            earlier = any(_key_matches(child, o) for o in official.children[:position])
            problems.append(
                f"{where}: {describe(child)} is out of the official order "
                f"({', '.join(describe(o) for o in official.children)})"
                if earlier
                else f"{where}: adds {describe(child)}, which the official type does not have"
            )
            continue
        if ours.compositor == "sequence":
            problems.extend(_left_out(official.children[position:match], where))
        problems.extend(_compare_particles(child, official.children[match], where, model))
        position = match + 1
    if ours.compositor == "sequence":
        problems.extend(_left_out(official.children[position:], where))
    return problems


def _left_out(skipped: Iterable[Particle], where: str) -> list[str]:
    return [f"{where}: leaves out required {describe(p)}" for p in skipped if not emptiable(p)]


def _narrow_choice(
    ours: Particle, official: GroupParticle, where: str, model: SchemaModel
) -> list[str]:
    """Ours is a single particle in place of an official choice: it must restrict one
    alternative, with every count it allows reachable through the choice."""
    alternative = next((a for a in official.children if _key_matches(ours, a)), None)
    if alternative is None:
        return [f"{where}: {describe(ours)} is not an alternative of official {describe(official)}"]
    if _is_once(alternative):
        reachable = replace(
            alternative, min_occurs=official.min_occurs, max_occurs=official.max_occurs
        )
    elif official.max_occurs == 1:
        counts_from_zero = official.min_occurs == 0 and alternative.min_occurs <= 1
        minimum = 0 if counts_from_zero and ours.min_occurs == 0 else alternative.min_occurs
        reachable = replace(alternative, min_occurs=minimum)
    else:
        return [
            f"{where}: cannot prove {describe(ours)} restricts official {describe(official)} "
            "(a repeated choice of a repeated alternative); keep the choice"
        ]
    return _compare_particles(ours, reachable, where, model)


def _compare_particles(
    ours: Particle, official: Particle, where: str, model: SchemaModel
) -> list[str]:
    if _is_choice(official) and not _is_choice(ours):
        return _narrow_choice(ours, official, where, model)
    if isinstance(official, GroupParticle) and not isinstance(ours, GroupParticle):
        ours = GroupParticle(official.compositor, (ours,))
    elif isinstance(ours, GroupParticle) and not isinstance(official, GroupParticle):
        official = GroupParticle(ours.compositor, (official,))
    if isinstance(ours, ElementParticle) and isinstance(official, ElementParticle):
        return _compare_elements(ours, official, where, model)
    if isinstance(ours, WildcardParticle) and isinstance(official, WildcardParticle):
        problems = _compare_occurs(ours, official, f"{where}/xs:any")
        if ours.namespace != official.namespace:
            problems.append(
                f"{where}/xs:any: namespace ours {ours.namespace!r}, "
                f"official {official.namespace!r}"
            )
        strictness = _PROCESS_CONTENTS_STRICTNESS
        if strictness[ours.process_contents] < strictness[official.process_contents]:
            problems.append(
                f"{where}/xs:any: processContents loosened: ours {ours.process_contents}, "
                f"official {official.process_contents}"
            )
        return problems
    if isinstance(ours, GroupParticle) and isinstance(official, GroupParticle):
        where = f"{where}/{official.compositor}"
        if ours.compositor != official.compositor:
            return [f"{where}: ours is <{ours.compositor}> where official is {describe(official)}"]
        return _compare_occurs(ours, official, where) + _compare_in_order(
            ours, official, where, model
        )
    return [f"{where}: ours is {describe(ours)} where official is {describe(official)}"]


def compare_content(
    ours: Particle | None, official: Particle | None, model: SchemaModel, where: str = ""
) -> list[str]:
    """How our (normalised) content model fails to restrict the official one; [] if it does."""
    if official is None:
        return [] if ours is None else [f"{where}: adds {describe(ours)} to an empty content"]
    if ours is None:
        return [] if emptiable(official) else [f"{where}: leaves out required {describe(official)}"]
    return _compare_particles(ours, official, where, model)


def compare_complex_types(
    ours: ComplexType, official: ComplexType, model: SchemaModel
) -> list[str]:
    """Differences that break "ours restricts the official type"; ``model`` is ours."""
    problems = []

    def derivation(t: ComplexType) -> str:
        kind = "simple content" if t.simple_content else "complex content"
        if t.derivation is None:
            return f"a plain complexType ({kind})"
        return f"{t.derivation} of {short(t.base)} ({kind})"

    if (ours.derivation, ours.base, ours.simple_content) != (
        official.derivation,
        official.base,
        official.simple_content,
    ):
        problems.append(f"derivation: ours is {derivation(ours)}, official {derivation(official)}")
    else:
        problems.extend(compare_content(ours.content, official.content, model))
    if official.abstract and not ours.abstract:
        problems.append("official type is abstract, ours is concrete")
    added = ours.attributes - official.attributes
    if added:
        problems.append(f"adds attribute(s) {', '.join(sorted(short(a) for a in added))}")
    if ours.any_attribute and not official.any_attribute:
        problems.append("adds an attribute wildcard (anyAttribute)")
    return problems


def compare_simple_types(ours: SimpleType, official: SimpleType, where: str = "") -> list[str]:
    """Same variety and base; enumeration a subset of the official one; union members a subset.

    Patterns are not compared: whether one regular expression accepts a subset of another is
    not decidable here by inspection (and JAXB renders no patterns); test_wscalendar.py checks
    the xCal patterns on sample values instead.
    """
    prefix = f"{where}: " if where else ""
    if ours.variety != official.variety:
        return [f"{prefix}ours is a {ours.variety} type, official a {official.variety} type"]
    problems = []
    if ours.base != official.base:
        problems.append(f"{prefix}base: ours {short(ours.base)}, official {short(official.base)}")
    if official.enumerations:
        if not ours.enumerations:
            problems.append(f"{prefix}drops the official enumeration")
        elif extra := ours.enumerations - official.enumerations:
            problems.append(f"{prefix}adds enumeration value(s) {sorted(extra)}")
    if extra := set(ours.member_types) - set(official.member_types):
        problems.append(f"{prefix}adds union member type(s) {sorted(short(m) for m in extra)}")
    return problems


def _simple_type_binding(simple: SimpleType, ours: SchemaModel, official: SchemaModel) -> str:
    if simple.variety == "union":
        return "String"
    if simple.variety == "list":
        return "List"
    return java_binding(simple.base, ours, official) if simple.base else "String"


def java_binding(type_name: str, ours: SchemaModel, official: SchemaModel) -> str:
    """The Java type JAXB would bind ``type_name`` (one of our types) to, as ObjectFactory
    names it: the generated class for an official type, else the built-in's binding."""
    if type_name in official.java_classes:
        return official.java_classes[type_name]
    namespace, local = split_clark(type_name)
    if namespace == XSD:
        return JAXB_BUILTIN_BINDINGS.get(local, f"(no JAXB binding for xs:{local})")
    simple = ours.simple_types.get(type_name)
    if simple is None:
        return f"(no JAXB class for {short(type_name)})"
    return _simple_type_binding(simple, ours, official)


def element_type_binding(
    element: GlobalElement, ours: SchemaModel, official: SchemaModel
) -> tuple[str, str]:
    """(what our element's type is, the Java type JAXB would bind it to).

    The type is the one XSD assigns: the ``type`` attribute or the anonymous type; for an
    untyped substitution-group member, its head's type; else xs:anyType.
    """
    seen = set()
    while element.type_name is None and element.inline_simple_type is None:
        if element.inline_complex_type:
            return "an anonymous complex type", "(a nested class)"
        if element.substitution_group is None:
            return "xs:anyType", JAXB_BUILTIN_BINDINGS["anyType"]
        head = ours.elements.get(element.substitution_group)
        if head is None or element.name in seen:
            return f"the type of {short(element.substitution_group)}", "(head not declared)"
        seen.add(element.name)
        element = head
    if element.inline_simple_type is not None:
        simple = element.inline_simple_type
        return (
            f"an anonymous {simple.variety} type (base {short(simple.base)})",
            _simple_type_binding(simple, ours, official),
        )
    return short(element.type_name), java_binding(element.type_name, ours, official)


def compare_global_elements(
    ours: GlobalElement,
    official: GlobalElement,
    our_model: SchemaModel,
    official_model: SchemaModel,
) -> list[str]:
    """Same type and same substitution group as ObjectFactory lists.

    ObjectFactory names types by Java class, so types are compared through their JAXB binding:
    exact for the official complex and enumerated types (one class each), coarser for built-ins
    (``String`` stands for xs:string, xs:token, xs:anyURI, ...).
    """
    problems = []
    our_type, binding = element_type_binding(ours, our_model, official_model)
    if binding != official.java_type:
        problems.append(
            f"type: ours is {our_type} (JAXB: {binding}), official JAXB type {official.java_type}"
        )
    if ours.substitution_group != official.substitution_group:
        problems.append(
            f"substitutionGroup: ours {short(ours.substitution_group)}, "
            f"official {short(official.substitution_group)}"
        )
    return problems
