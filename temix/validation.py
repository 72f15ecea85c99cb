"""Schema loading and validation, never touching the network.

A :class:`SchemaSet` is compiled once and then validates parsed trees (from
:func:`temix.xmlsafe.parse_bytes`) with lxml, which takes microseconds per payload. It comes
from the schemas bundled with temix, from a directory holding another schema bundle (such as
the official OASIS one), or from an OASIS XML catalog. Remote ``schemaLocation`` URLs in a
bundle are answered from local files; a URL with no local copy is an error, never a download.

The xmlschema engine is built only on demand (:meth:`SchemaSet.explain`): it is much slower
to compile and to validate, but its messages say more.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

from lxml import etree

from temix.namespaces import RENDER_PREFIXES, SOAP11, SOAP12, XSD, prefixed, qname
from temix.schemas import DRIVER_XSD, XSD_DIR

if TYPE_CHECKING:
    import xmlschema

_CATALOG_NS = "urn:oasis:names:tc:entity:xmlns:xml:catalog"
_GENERATED = "temix-generated:"
_DRIVER_NAMESPACE = "urn:temix:generated:schema-set"
_REMOTE_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Problem:
    """One reason a document is not valid, at a prefixed XPath-like ``path``."""

    path: str
    reason: str


class SchemaSetError(ValueError):
    """A schema bundle or catalog that cannot be loaded; ``str()`` is a one-line reason."""


class EnvelopeError(ValueError):
    """A SOAP Envelope whose Body does not hold exactly one payload element."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(f"{problem.path}: {problem.reason}")


def payload_of(document: etree._ElementTree | etree._Element) -> etree._Element:
    """The payload element: the document's root, or the single child of a SOAP 1.1/1.2 Body."""
    root = document.getroot() if isinstance(document, etree._ElementTree) else document
    for soap in (SOAP11, SOAP12):
        if root.tag == qname(soap, "Envelope"):
            return _body_child(root, soap)
    return root


def _body_child(envelope: etree._Element, soap: str) -> etree._Element:
    envelope_path = "/" + prefixed(envelope.tag)
    bodies = envelope.findall(qname(soap, "Body"))
    if len(bodies) != 1:
        raise EnvelopeError(
            Problem(envelope_path, f"the Envelope has {len(bodies)} Body elements, expected one")
        )
    children = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(children) != 1:
        raise EnvelopeError(
            Problem(
                f"{envelope_path}/{prefixed(bodies[0].tag)}",
                f"the Body holds {len(children)} elements, expected exactly one payload",
            )
        )
    return children[0]


class SchemaSet:
    """A compiled set of XML schemas; build it with one of the class methods.

    Validation itself is thread-safe, but lxml keeps the last error log on the schema object:
    threads that call :meth:`problems` at the same time need a SchemaSet each.
    """

    def __init__(
        self, schema: etree.XMLSchema, sources: list[Path], locator: _Locator, origin: str
    ) -> None:
        self._schema = schema
        self._sources = sources
        self._locator = locator
        self._xmlschema: xmlschema.XMLSchema10 | None = None
        self.origin = origin

    def __repr__(self) -> str:
        return f"<SchemaSet from {self.origin}>"

    @classmethod
    def bundled(cls) -> SchemaSet:
        """temix's own schemas (``schemas/xsd/temix.xsd``), compiled once per process."""
        return _bundled_schema_set()

    @classmethod
    def from_directory(cls, directory: str | Path) -> SchemaSet:
        """Every ``*.xsd`` under ``directory``; remote locations resolve to files there by name."""
        files = _xsd_files(directory)
        locator = _Locator(directory=Path(directory).resolve())
        return _compile_bundle(files, locator, origin=str(directory))

    @classmethod
    def from_catalog(cls, catalog: str | Path, directory: str | Path | None = None) -> SchemaSet:
        """Schemas located through an OASIS XML catalog.

        The catalog's ``system``, ``uri``, ``rewriteSystem`` and ``rewriteURI`` entries map
        remote locations to local files. The schema set is every ``*.xsd`` under ``directory``
        when given (locations the catalog does not map then resolve there by file name), else
        the schema files the catalog maps to.
        """
        entries = _Catalog.read(Path(catalog))
        if directory is None:
            files = entries.schema_files()
            if not files:
                raise SchemaSetError(f"{catalog}: maps no local .xsd files")
            return _compile_bundle(files, _Locator(catalog=entries), origin=str(catalog))
        files = _xsd_files(directory)
        locator = _Locator(directory=Path(directory).resolve(), catalog=entries)
        return _compile_bundle(files, locator, origin=f"{directory} with {catalog}")

    def is_valid(self, document: etree._ElementTree | etree._Element) -> bool:
        try:
            payload = payload_of(document)
        except EnvelopeError:
            return False
        return self._schema.validate(payload)

    def problems(self, document: etree._ElementTree | etree._Element) -> list[Problem]:
        """Why the payload (bare or in a SOAP Envelope) is invalid; empty when it is valid."""
        try:
            payload = payload_of(document)
        except EnvelopeError as error:
            return [error.problem]
        if self._schema.validate(payload):
            return []
        return [
            Problem(_lxml_error_path(entry.path, payload), _clean_message(entry.message))
            for entry in self._schema.error_log
        ]

    @property
    def xmlschema(self) -> xmlschema.XMLSchema10:
        """The same schemas compiled by xmlschema (XSD 1.0), built on first use."""
        if self._xmlschema is None:
            import xmlschema  # imported here: it adds 0.2 s to every start otherwise

            try:
                self._xmlschema = xmlschema.XMLSchema10(
                    [str(path) for path in self._sources],
                    allow="local",
                    uri_mapper=self._locator.uri_for_xmlschema,
                )
            except (xmlschema.XMLSchemaException, OSError) as error:
                raise SchemaSetError(_one_line(str(error))) from None
        return self._xmlschema

    def explain(self, document: etree._ElementTree | etree._Element) -> list[Problem]:
        """Like :meth:`problems`, with xmlschema's longer diagnostics (slow: not for servers)."""
        try:
            payload = payload_of(document)
        except EnvelopeError as error:
            return [error.problem]
        namespaces = {prefix: ns for prefix, ns in RENDER_PREFIXES.items() if prefix != "xs"}
        found = (
            Problem(error.path or "/", _xmlschema_reason(error))
            for error in self.xmlschema.iter_errors(payload, namespaces=namespaces)
        )
        return list(dict.fromkeys(found))


@functools.cache
def _bundled_schema_set() -> SchemaSet:
    driver = Path(DRIVER_XSD)
    if not driver.is_file():
        raise SchemaSetError(f"{driver}: the bundled driver schema is missing")
    locator = _Locator(directory=Path(XSD_DIR).resolve())
    resolver = _OfflineResolver(locator)
    schema = _compile_lxml(_read_schema_document(driver, resolver.parser()), resolver)
    return SchemaSet(schema, [driver], locator, origin=str(driver))


# --- Reading a bundle ---------------------------------------------------------------------


def _schema_file_parser() -> etree.XMLParser:
    """Schema files are the operator's own: a DTD's internal entities are allowed (the W3C
    xmldsig schema uses them), external DTDs and the network are not."""
    return etree.XMLParser(resolve_entities="internal", no_network=True, load_dtd=False)


def _xsd_files(directory: str | Path) -> list[Path]:
    root = Path(directory)
    if not root.is_dir():
        raise SchemaSetError(f"{directory}: not a directory")
    files = sorted(path.resolve() for path in root.rglob("*.xsd"))
    if not files:
        raise SchemaSetError(f"{directory}: holds no .xsd files")
    return files


def _read_schema_document(path: Path, parser: etree.XMLParser) -> etree._ElementTree:
    try:
        return etree.parse(str(path), parser)
    except (etree.XMLSyntaxError, OSError) as error:
        raise SchemaSetError(f"{path}: {_one_line(str(error))}") from None


@dataclass(frozen=True)
class _SchemaFile:
    path: Path
    namespace: str | None
    includes: tuple[Path, ...]
    imports: tuple[Path, ...]


def _read_schema_file(path: Path, locator: _Locator) -> _SchemaFile:
    root = _read_schema_document(path, _schema_file_parser()).getroot()
    if root.tag != qname(XSD, "schema"):
        raise SchemaSetError(f"{path}: not an XML Schema document (root is {root.tag})")
    references: dict[str, list[Path]] = {"include": [], "import": []}
    for kind, tags in (("include", ("include", "redefine")), ("import", ("import",))):
        for tag in tags:
            for element in root.iter(qname(XSD, tag)):
                location = element.get("schemaLocation")
                if location is not None:
                    references[kind].append(locator.referenced_file(location, path))
    return _SchemaFile(
        path,
        root.get("targetNamespace"),
        tuple(references["include"]),
        tuple(references["import"]),
    )


def _scan(files: list[Path], locator: _Locator) -> dict[Path, _SchemaFile]:
    """The given files plus every local file they import or include, transitively."""
    scanned: dict[Path, _SchemaFile] = {}
    pending = list(files)
    while pending:
        path = pending.pop()
        if path not in scanned:
            scanned[path] = info = _read_schema_file(path, locator)
            pending.extend(info.includes + info.imports)
    return scanned


def _roots_by_namespace(scanned: dict[Path, _SchemaFile]) -> dict[str | None, list[Path]]:
    """Per namespace, the files no other file includes. Files without a target namespace that
    are included are chameleons, part of their includer; a namespace whose files all include
    each other (a cycle) is loaded through its first file."""
    included = {target for info in scanned.values() for target in info.includes}
    files_by_namespace: dict[str | None, list[Path]] = {}
    for path in sorted(scanned):
        files_by_namespace.setdefault(scanned[path].namespace, []).append(path)
    roots: dict[str | None, list[Path]] = {}
    for namespace, paths in files_by_namespace.items():
        independent = [path for path in paths if path not in included]
        if independent:
            roots[namespace] = independent
        elif namespace is not None:
            roots[namespace] = paths[:1]
    return roots


def _compile_bundle(files: list[Path], locator: _Locator, origin: str) -> SchemaSet:
    """Compile a driver importing each namespace once; a namespace made of several
    independent files is imported through a generated wrapper that includes them all."""
    roots = _roots_by_namespace(_scan(files, locator))
    resolver = _OfflineResolver(locator)
    xs = f"{{{XSD}}}"
    driver = etree.Element(xs + "schema", nsmap={"xs": XSD})
    driver.set("targetNamespace", _DRIVER_NAMESPACE)
    for index, (namespace, paths) in enumerate(roots.items()):
        location = paths[0].as_uri()
        if len(paths) > 1:
            location = f"{_GENERATED}namespace-{index}.xsd"
            resolver.add_wrapper(location, namespace, paths)
        element = etree.SubElement(driver, xs + "import", schemaLocation=location)
        if namespace is not None:
            element.set("namespace", namespace)
    document = etree.fromstring(
        etree.tostring(driver), resolver.parser(), base_url=f"{_GENERATED}driver.xsd"
    ).getroottree()
    schema = _compile_lxml(document, resolver)
    sources = [path for paths in roots.values() for path in paths]
    return SchemaSet(schema, sources, locator, origin)


def _compile_lxml(document: etree._ElementTree, resolver: _OfflineResolver) -> etree.XMLSchema:
    try:
        return etree.XMLSchema(document)
    except etree.XMLSchemaParseError as error:
        if resolver.refusals:
            raise SchemaSetError(resolver.refusals[0]) from None
        errors = error.error_log.filter_from_errors()
        if not errors:
            raise SchemaSetError(_one_line(str(error))) from None
        first = errors[0]
        where = f"{first.filename}:{first.line}: " if first.filename else ""
        raise SchemaSetError(where + _clean_message(first.message)) from None


# --- Resolving locations offline ------------------------------------------------------------


class _Locator:
    """Maps a schemaLocation to a local file: through the catalog, then by file name inside
    the bundle directory. Remote URLs are never fetched."""

    def __init__(self, directory: Path | None = None, catalog: _Catalog | None = None) -> None:
        self._directory = directory
        self._catalog = catalog
        self._by_name: dict[str, list[Path]] = {}
        if directory is not None:
            for path in sorted(directory.rglob("*.xsd")):
                self._by_name.setdefault(path.name, []).append(path.resolve())

    def referenced_file(self, location: str, referrer: Path) -> Path:
        """The local file a schemaLocation written in ``referrer`` designates; it must exist."""
        if urlsplit(location).scheme.lower() in _REMOTE_SCHEMES:
            return self.local_copy(location)
        path = _local_path(urljoin(referrer.as_uri(), location))
        if path is None or not path.is_file():
            raise SchemaSetError(f"{referrer}: schemaLocation {location!r} is not a local file")
        return path

    def local_copy(self, url: str) -> Path:
        mapped = self._catalog.lookup(url) if self._catalog else None
        if mapped is not None:
            return mapped
        candidates = self._by_name.get(_url_basename(url), [])
        if len(candidates) > 1:
            candidates = _best_suffix_matches(url, candidates)
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            names = ", ".join(str(path) for path in candidates)
            raise SchemaSetError(f"{url}: several local files could be meant ({names})")
        searched = [
            str(place) for place in (self._directory, self._catalog and self._catalog.path) if place
        ]
        raise SchemaSetError(
            f"{url}: no local copy in {' or '.join(searched)} (temix never downloads schemas)"
        )

    def local_file(self, url: str) -> Path:
        """The local file for a URL libxml2 asks for (already absolute)."""
        if urlsplit(url).scheme.lower() in _REMOTE_SCHEMES:
            return self.local_copy(url)
        path = _local_path(url)
        if path is None:
            raise SchemaSetError(f"{url}: only local files and mapped http(s) URLs are allowed")
        return path

    def uri_for_xmlschema(self, url: str) -> str:
        if urlsplit(url).scheme.lower() in _REMOTE_SCHEMES:
            return self.local_copy(url).as_uri()
        return url


def _local_path(url: str) -> Path | None:
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return Path(url2pathname(unquote(parts.path))).resolve()
    if parts.scheme == "":
        return Path(unquote(url)).resolve()
    return None


def _url_basename(url: str) -> str:
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])


def _best_suffix_matches(url: str, candidates: list[Path]) -> list[Path]:
    """The files whose trailing path segments match the URL's furthest."""
    segments = [unquote(part) for part in urlsplit(url).path.split("/") if part]

    def matching(path: Path) -> int:
        count = 0
        for url_part, path_part in zip(reversed(segments), reversed(path.parts), strict=False):
            if url_part != path_part:
                break
            count += 1
        return count

    best = max(matching(path) for path in candidates)
    return [path for path in candidates if matching(path) == best]


class _OfflineResolver(etree.Resolver):
    """Answers every load libxml2 makes while compiling: generated documents from memory,
    everything else from local files; a refusal is recorded and reported by the compiler.

    libxml2 tells documents apart by URL, so a file reached under two URLs (a remote one and a
    relative one) would be loaded twice and its declarations clash: the second time it gets an
    empty schema of its namespace instead. A file without a target namespace is exempt: each
    include of it is a copy in the includer's namespace.
    """

    def __init__(self, locator: _Locator) -> None:
        super().__init__()
        self._locator = locator
        self._generated: dict[str, bytes] = {}
        self._wrapper_of_root: dict[Path, str] = {}
        self._root_files: dict[str, Path] = {}
        self._served: set[Path] = set()
        self.refusals: list[str] = []

    def parser(self) -> etree.XMLParser:
        parser = _schema_file_parser()
        parser.resolvers.add(self)
        return parser

    def add_wrapper(self, location: str, namespace: str | None, roots: list[Path]) -> None:
        """A schema including each root file, loaded whenever any of them is imported, so
        that whichever import libxml2 meets first brings in the whole namespace."""
        xs = f"{{{XSD}}}"
        wrapper = etree.Element(xs + "schema", nsmap={"xs": XSD})
        if namespace is not None:
            wrapper.set("targetNamespace", namespace)
        for index, path in enumerate(roots):
            root_location = f"{location.removesuffix('.xsd')}/file-{index}.xsd"
            self._root_files[root_location] = path
            self._wrapper_of_root[path] = location
            etree.SubElement(wrapper, xs + "include", schemaLocation=root_location)
        self._generated[location] = etree.tostring(wrapper)

    def resolve(self, url: str, pubid: str | None, context: object) -> object:
        if url in self._root_files:
            self._served.add(self._root_files[url])
            return self.resolve_filename(str(self._root_files[url]), context)
        if url in self._generated:
            return self.resolve_string(self._generated[url], context, base_url=url)
        try:
            path = self._locator.local_file(url)
        except SchemaSetError as error:
            self.refusals.append(str(error))
            raise
        wrapper = self._wrapper_of_root.get(path)
        if wrapper is not None:
            return self.resolve_string(self._generated[wrapper], context, base_url=wrapper)
        if path in self._served:
            namespace = _target_namespace(path)
            if namespace is not None:
                return self.resolve_string(_empty_schema(namespace), context, base_url=url)
        self._served.add(path)
        return self.resolve_filename(str(path), context)


def _target_namespace(path: Path) -> str | None:
    return _read_schema_document(path, _schema_file_parser()).getroot().get("targetNamespace")


def _empty_schema(namespace: str) -> bytes:
    return etree.tostring(
        etree.Element(qname(XSD, "schema"), targetNamespace=namespace, nsmap={"xs": XSD})
    )


# --- Catalogs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalog:
    path: Path
    exact: dict[str, str]
    rewrites: tuple[tuple[str, str], ...]

    @classmethod
    def read(cls, path: Path) -> _Catalog:
        if not path.is_file():
            raise SchemaSetError(f"{path}: no such catalog file")
        parser = _schema_file_parser()
        try:
            root = etree.parse(str(path), parser, base_url=path.resolve().as_uri()).getroot()
        except etree.XMLSyntaxError as error:
            raise SchemaSetError(f"{path}: {_one_line(str(error))}") from None
        if root.tag != qname(_CATALOG_NS, "catalog"):
            raise SchemaSetError(f"{path}: not an OASIS XML catalog (root is {root.tag})")
        exact: dict[str, str] = {}
        rewrites: list[tuple[str, str]] = []
        for tag, key, value, table in (
            ("system", "systemId", "uri", exact),
            ("uri", "name", "uri", exact),
            ("rewriteSystem", "systemIdStartString", "rewritePrefix", rewrites),
            ("rewriteURI", "uriStartString", "rewritePrefix", rewrites),
        ):
            for entry in root.iter(qname(_CATALOG_NS, tag)):
                if entry.get(key) is None or entry.get(value) is None:
                    continue
                target = urljoin(entry.base or path.resolve().as_uri(), entry.get(value))
                if isinstance(table, dict):
                    table.setdefault(entry.get(key), target)
                else:
                    table.append((entry.get(key), target))
        rewrites.sort(key=lambda rewrite: len(rewrite[0]), reverse=True)
        return cls(path, exact, tuple(rewrites))

    def lookup(self, url: str) -> Path | None:
        target = self.exact.get(url)
        if target is None:
            for start, prefix in self.rewrites:
                if url.startswith(start):
                    target = prefix + url[len(start) :]
                    break
        if target is None:
            return None
        path = _local_path(target)
        if path is None or not path.is_file():
            raise SchemaSetError(f"{url}: the catalog {self.path} maps it to {target}, not a file")
        return path

    def schema_files(self) -> list[Path]:
        """The .xsd files the entries name, and those under each rewrite target folder."""
        files: set[Path] = set()
        for target in self.exact.values():
            path = _local_path(target)
            if path is not None and path.suffix == ".xsd" and path.is_file():
                files.add(path)
        for _, prefix in self.rewrites:
            folder = _local_path(prefix)
            if folder is not None and folder.is_dir():
                files.update(path.resolve() for path in folder.rglob("*.xsd"))
        return sorted(files)


# --- Rendering problems ---------------------------------------------------------------------

_ELEMENT_LEAD = re.compile(r"^Element '[^']*'(?:, (attribute '[^']*'))?: ")
_CLARK = re.compile(r"\{([^{}\s]*)\}([A-Za-z_][\w.\-]*)")
_STEP = re.compile(r"(?:(?P<prefix>[^:\[\]]+):)?(?P<name>[^:\[\]]+)(?:\[(?P<index>\d+)\])?")


def _clean_message(message: str) -> str:
    """libxml2's message without its ``Element '{ns}x':`` lead, names rendered with prefixes."""
    lead = _ELEMENT_LEAD.match(message)
    if lead:
        message = (f"{lead[1]}: " if lead[1] else "") + message[lead.end() :]
    return _one_line(_CLARK.sub(lambda match: prefixed(match[0]), message))


def _xmlschema_reason(error: xmlschema.XMLSchemaValidationError) -> str:
    """xmlschema's reason says what is wrong in words; its message names validator objects."""
    text = _one_line(error.reason or error.message)
    return _CLARK.sub(lambda match: prefixed(match[0]), text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _lxml_error_path(libxml2_path: str | None, payload: etree._Element) -> str:
    element = _element_at(payload, libxml2_path or "/")
    return _element_path(element, payload) if element is not None else libxml2_path or "/"


def _element_at(payload: etree._Element, libxml2_path: str) -> etree._Element | None:
    """Follow libxml2's node path (its first step is the payload itself). libxml2 writes an
    element in a default namespace as ``*`` counted among all its element siblings, and a
    prefixed one as ``prefix:name`` counted among same-named siblings."""
    node = payload
    for step in libxml2_path.strip("/").split("/")[1:]:
        match = _STEP.fullmatch(step)
        if match is None:
            return None
        children = [child for child in node if isinstance(child.tag, str)]
        if match["name"] != "*":
            children = [
                child
                for child in children
                if etree.QName(child).localname == match["name"] and child.prefix == match["prefix"]
            ]
        index = int(match["index"] or 1)
        if index > len(children):
            return None
        node = children[index - 1]
    return node


def _element_path(element: etree._Element, payload: etree._Element) -> str:
    """``/pyld:eiCreateTender/ei:eiTender[2]/...``: indexed only among same-named siblings."""
    steps = []
    node = element
    while node is not payload:
        parent = node.getparent()
        step = prefixed(node.tag)
        same_named = list(parent.iterchildren(node.tag))
        if len(same_named) > 1:
            step += f"[{same_named.index(node) + 1}]"
        steps.append(step)
        node = parent
    steps.append(prefixed(payload.tag))
    return "/" + "/".join(reversed(steps))
