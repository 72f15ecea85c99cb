"""The WSDL contract: ``schemas/wsdl/temix.wsdl`` and its single-file variant."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from temix.schemas import DRIVER_XSD, WSDL, XSD_DIR
from temix.wsdl import flatten_wsdl

SINGLE = WSDL.with_name("temix-single.wsdl")
BOTH = [WSDL, SINGLE]

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP11_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12_NS = "http://schemas.xmlsoap.org/wsdl/soap12/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
TNS = "http://docs.oasis-open.org/ns/energyinterop/201110/wsdl"
PYLD = "http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
TMX = "urn:temix:ns:extension:1.0"

#: port type -> operation -> (request element, response element), as docs/profile.md lists them
OPERATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "EiTender": {
        "EiCreateTender": (f"{{{PYLD}}}eiCreateTender", f"{{{PYLD}}}eiCreatedTender"),
        "EiCancelTender": (f"{{{PYLD}}}eiCancelTender", f"{{{PYLD}}}eiCanceledTender"),
        "EiRequestTender": (f"{{{PYLD}}}eiRequestTender", f"{{{PYLD}}}eiReplyTender"),
        "EiDistributeTender": (f"{{{PYLD}}}eiDistributeTender", f"{{{PYLD}}}eiCreatedTender"),
    },
    "EiQuote": {
        "EiCreateQuote": (f"{{{PYLD}}}eiCreateQuote", f"{{{PYLD}}}eiCreatedQuote"),
        "EiCancelQuote": (f"{{{PYLD}}}eiCancelQuote", f"{{{PYLD}}}eiCanceledQuote"),
        "EiRequestQuote": (f"{{{PYLD}}}eiRequestQuote", f"{{{PYLD}}}eiReplyQuote"),
    },
    "EiTransaction": {
        "EiCreateTransaction": (
            f"{{{PYLD}}}eiCreateTransaction",
            f"{{{PYLD}}}eiCreatedTransaction",
        ),
        "EiRequestTransaction": (
            f"{{{PYLD}}}eiRequestTransaction",
            f"{{{PYLD}}}eiReplyTransaction",
        ),
    },
    "EiDelivery": {
        "EiCreateDelivery": (f"{{{PYLD}}}eiCreateDelivery", f"{{{PYLD}}}eiCreatedDelivery"),
        "EiRequestDelivery": (f"{{{TMX}}}eiRequestDelivery", f"{{{TMX}}}eiReplyDelivery"),
    },
    "EiMarketContext": {
        "EiRequestMarketContext": (
            f"{{{PYLD}}}eiRequestEiMarketContext",
            f"{{{TMX}}}eiReplyMarketContext",
        ),
    },
    "TemixPosition": {
        "EiRequestPosition": (f"{{{TMX}}}eiRequestPosition", f"{{{TMX}}}eiReplyPosition"),
    },
    "TemixSettlement": {
        "EiRequestSettlement": (f"{{{TMX}}}eiRequestSettlement", f"{{{TMX}}}eiReplySettlement"),
        "EiRequestPublication": (
            f"{{{TMX}}}eiRequestPublication",
            f"{{{TMX}}}eiReplyPublication",
        ),
    },
}
ALL_OPERATIONS = {op for ops in OPERATIONS.values() for op in ops}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _parse(path: Path) -> etree._Element:
    tree = etree.parse(str(path), _parser())
    assert tree.docinfo.doctype == ""
    return tree.getroot()


def _qname(node: etree._Element, value: str) -> str:
    prefix, _, local = value.rpartition(":")
    namespace = node.nsmap.get(prefix or None)
    assert namespace is not None, f"unbound prefix in {value!r}"
    return f"{{{namespace}}}{local}"


def _w(local: str) -> str:
    return f"{{{WSDL_NS}}}{local}"


# ---------------------------------------------------------------------------------------
# (a) the committed single-file WSDL is the output of flatten_wsdl


def test_single_file_wsdl_is_up_to_date() -> None:
    assert SINGLE.read_bytes() == flatten_wsdl(WSDL), (
        "schemas/wsdl/temix-single.wsdl is stale; regenerate it with\n"
        "    python -m temix.wsdl > schemas/wsdl/temix-single.wsdl"
    )


def test_flatten_is_deterministic() -> None:
    assert flatten_wsdl(WSDL) == flatten_wsdl(str(WSDL))


def test_single_file_wsdl_has_no_schema_locations() -> None:
    root = _parse(SINGLE)
    schemas = root.findall(f"{_w('types')}/{{{XSD_NS}}}schema")
    namespaces = [s.get("targetNamespace") for s in schemas]
    assert len(namespaces) == len(set(namespaces)) == 9
    for imp in root.iter(f"{{{XSD_NS}}}import", f"{{{XSD_NS}}}include"):
        assert imp.get("schemaLocation") is None


def test_flatten_refuses_remote_locations(tmp_path: Path) -> None:
    text = WSDL.read_text(encoding="utf-8").replace(
        'schemaLocation="../xsd/temix-extension.xsd"',
        'schemaLocation="http://example.invalid/temix-extension.xsd"',
    )
    shutil.copytree(XSD_DIR, tmp_path / "xsd")
    wsdl = tmp_path / "wsdl" / "remote.wsdl"
    wsdl.parent.mkdir()
    wsdl.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="not a relative path"):
        flatten_wsdl(wsdl)


# ---------------------------------------------------------------------------------------
# (b) structure of both WSDLs


@pytest.fixture(scope="module")
def global_elements() -> set[str]:
    schema = xmlschema.XMLSchema10(str(DRIVER_XSD), allow="sandbox")
    return set(schema.maps.elements)


@pytest.fixture(scope="module")
def single_file_elements() -> set[str]:
    """The global elements of the schemas inlined in the single-file WSDL, compiled alone."""
    root = _parse(SINGLE)
    sources = [
        xmlschema.XMLResource(etree.tostring(schema), allow="none")
        for schema in root.findall(f"{_w('types')}/{{{XSD_NS}}}schema")
    ]
    return set(xmlschema.XMLSchema10(sources).maps.elements)


@pytest.mark.parametrize("path", BOTH, ids=lambda p: p.name)
def test_wsdl_shape(path: Path) -> None:
    root = _parse(path)
    assert root.tag == _w("definitions")
    assert root.get("targetNamespace") == TNS

    messages = {m.get("name"): m for m in root.findall(_w("message"))}
    port_types = {p.get("name"): p for p in root.findall(_w("portType"))}
    assert set(port_types) == set(OPERATIONS)

    requests: list[str] = []
    for pt_name, operations in OPERATIONS.items():
        port_type = port_types[pt_name]
        found = {op.get("name"): op for op in port_type.findall(_w("operation"))}
        assert set(found) == set(operations), pt_name
        for op_name, (request, response) in operations.items():
            op = found[op_name]
            for direction, expected in (("input", request), ("output", response)):
                (io,) = op.findall(_w(direction))
                message = messages[_qname(io, io.get("message")).split("}")[1]]
                parts = message.findall(_w("part"))
                assert len(parts) == 1, message.get("name")
                assert parts[0].get("name") == "body"
                assert parts[0].get("type") is None
                assert _qname(parts[0], parts[0].get("element")) == expected
            requests.append(request)
    assert len(requests) == len(set(requests)) == 15, "request elements must be distinct"


@pytest.mark.parametrize("path", BOTH, ids=lambda p: p.name)
def test_every_message_has_one_part(path: Path) -> None:
    for message in _parse(path).findall(_w("message")):
        assert len(message.findall(_w("part"))) == 1, message.get("name")


@pytest.mark.parametrize("path", BOTH, ids=lambda p: p.name)
def test_bindings_and_soap_actions(path: Path) -> None:
    root = _parse(path)
    bindings = {b.get("name"): b for b in root.findall(_w("binding"))}
    assert len(bindings) == 2 * len(OPERATIONS)
    for pt_name, operations in OPERATIONS.items():
        for version, soap_ns in (("11", SOAP11_NS), ("12", SOAP12_NS)):
            binding = bindings[f"{pt_name}Soap{version}"]
            assert _qname(binding, binding.get("type")) == f"{{{TNS}}}{pt_name}"
            (soap_binding,) = binding.findall(f"{{{soap_ns}}}binding")
            assert soap_binding.get("style") == "document"
            assert soap_binding.get("transport") == "http://schemas.xmlsoap.org/soap/http"
            found = {op.get("name"): op for op in binding.findall(_w("operation"))}
            assert set(found) == set(operations)
            for op_name, op in found.items():
                (soap_op,) = op.findall(f"{{{soap_ns}}}operation")
                assert soap_op.get("soapAction") == f"{TNS}/{op_name}"
                for direction in ("input", "output"):
                    (body,) = op.findall(f"{_w(direction)}/{{{soap_ns}}}body")
                    assert body.get("use") == "literal"
                    assert body.get("parts") is None


@pytest.mark.parametrize("path", BOTH, ids=lambda p: p.name)
def test_service_ports(path: Path) -> None:
    root = _parse(path)
    (service,) = root.findall(_w("service"))
    assert service.get("name") == "TemixService"
    ports = service.findall(_w("port"))
    assert len(ports) == 2 * len(OPERATIONS)
    bound = set()
    for port in ports:
        binding = _qname(port, port.get("binding")).split("}")[1]
        bound.add(binding)
        version = binding[-2:]
        soap_ns = SOAP11_NS if version == "11" else SOAP12_NS
        (address,) = port.findall(f"{{{soap_ns}}}address")
        assert address.get("location") == f"http://localhost:8080/temix/soap{version}"
    assert bound == {f"{pt}Soap{v}" for pt in OPERATIONS for v in ("11", "12")}


def test_types_only_import_payload_schemas() -> None:
    root = _parse(WSDL)
    (schema,) = root.findall(f"{_w('types')}/{{{XSD_NS}}}schema")
    children = [c for c in schema if isinstance(c.tag, str)]
    assert {c.tag for c in children} == {f"{{{XSD_NS}}}import"}
    assert {c.get("namespace") for c in children} == {PYLD, TMX}
    for imp in children:
        location = imp.get("schemaLocation")
        assert location.startswith("../xsd/"), location
        assert (WSDL.parent / location).is_file()


@pytest.mark.parametrize("path", BOTH, ids=lambda p: p.name)
def test_parts_are_global_elements(
    path: Path, global_elements: set[str], single_file_elements: set[str]
) -> None:
    root = _parse(path)
    for part in root.iter(_w("part")):
        element = _qname(part, part.get("element"))
        assert element in global_elements, element
        assert element in single_file_elements, element


# ---------------------------------------------------------------------------------------
# (c) zeep loads both, without the network


@pytest.mark.parametrize("path", BOTH, ids=lambda p: p.name)
def test_zeep_loads(path: Path) -> None:
    zeep = pytest.importorskip("zeep")
    from zeep.settings import Settings
    from zeep.transports import Transport

    class NoNetworkTransport(Transport):
        def _load_remote_data(self, url):  # type: ignore[no-untyped-def]
            raise AssertionError(f"zeep tried to fetch {url}")

    settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    client = zeep.Client(wsdl=str(path), transport=NoNetworkTransport(), settings=settings)
    seen: dict[str, set[str]] = {}
    for service in client.wsdl.services.values():
        for port in service.ports.values():
            seen[port.binding.name.localname] = set(port.binding._operations)
    assert set().union(*seen.values()) == ALL_OPERATIONS
    for pt_name, operations in OPERATIONS.items():
        assert seen[f"{pt_name}Soap11"] == set(operations)
        assert seen[f"{pt_name}Soap12"] == set(operations)
