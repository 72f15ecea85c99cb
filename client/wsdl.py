"""The endpoint's WSDL, read with zeep: where each operation is sent, with which SOAPAction and
SOAP version, and which reply element it answers with.

zeep loads the WSDL and the schemas it imports through a transport that fetches documents only
from the WSDL's own origin (the same scheme, host and port, or local files for a local WSDL):
a WSDL cannot make the client read other hosts or local files. DTDs and entities are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
import zeep
from zeep.wsdl.bindings.soap import Soap11Binding, Soap12Binding, SoapBinding

from temix.client.errors import ClientError
from temix.envelope import SOAP_1_1, SOAP_1_2, SoapVersion

_BINDING_VERSIONS: dict[type[SoapBinding], SoapVersion] = {
    Soap11Binding: SOAP_1_1,
    Soap12Binding: SOAP_1_2,
}


class WsdlError(ClientError):
    """The WSDL cannot be loaded, or does not describe an operation the client needs."""


@dataclass(frozen=True)
class Route:
    """Where one operation goes: its name, address, SOAPAction, SOAP version and binding (zeep
    reads faults with it), and the Clark name of its reply element."""

    operation: str
    address: str
    soap_action: str
    version: SoapVersion
    binding: SoapBinding
    reply_tag: str


def _origin(location: str) -> tuple[str, str]:
    parts = urlsplit(location)
    if parts.scheme in ("http", "https"):
        return parts.scheme, parts.netloc.lower()
    return "file", ""


class SameOriginTransport(zeep.Transport):
    """zeep's transport, loading WSDL and XSD documents from one origin only."""

    def __init__(self, wsdl: str, session: requests.Session, timeout: float) -> None:
        super().__init__(session=session, timeout=timeout, operation_timeout=timeout)
        self.origin = _origin(wsdl)

    def load(self, url: str) -> bytes:
        if _origin(url) != self.origin:
            raise WsdlError(f"the WSDL refers to {url}, outside its own origin: not loaded")
        return super().load(url)


def load_routes(
    wsdl: str,
    transport: SameOriginTransport,
    version: SoapVersion,
    endpoint: str | None = None,
) -> dict[str, Route]:
    """The routes of every operation that has a ``version`` binding in ``wsdl``, by the Clark
    name of its request element; ``endpoint`` replaces every port's address."""
    settings = zeep.Settings(
        strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=False
    )
    location = str(Path(wsdl).resolve()) if _origin(wsdl)[0] == "file" else wsdl
    try:
        document = zeep.Client(location, transport=transport, settings=settings).wsdl
    except WsdlError:
        raise
    except (requests.RequestException, OSError) as error:
        raise WsdlError(f"cannot load the WSDL {wsdl}: {error}") from None
    except zeep.exceptions.Error as error:
        raise WsdlError(f"cannot read the WSDL {wsdl}: {error}") from None
    routes: dict[str, Route] = {}
    for service in document.services.values():
        for port in service.ports.values():
            binding = port.binding
            if _BINDING_VERSIONS.get(type(binding)) is not version:
                continue
            address = endpoint or port.binding_options.get("address")
            if not address:
                continue
            for name, operation in binding.all().items():
                request_tag = operation.input.body.qname.text
                routes.setdefault(
                    request_tag,
                    Route(
                        operation=name,
                        address=address,
                        soap_action=operation.soapaction or "",
                        version=version,
                        binding=binding,
                        reply_tag=operation.output.body.qname.text,
                    ),
                )
    if not routes:
        raise WsdlError(f"the WSDL {wsdl} has no SOAP {version.name} operations")
    return routes
