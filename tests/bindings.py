"""The SOAP bindings the service tests run against, and an in-process WSGI client for them."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from lxml import etree

from temix import codec
from temix.envelope import SOAP_1_1, SoapVersion, request_headers
from temix.schemas import EXAMPLES_VALID
from temix.server.soap import SoapApplication

WSGIApp = Callable[[dict[str, Any], Callable], Iterable[bytes]]
HOST = "testhost:8080"
REMOTE_ADDRESS = "192.0.2.7"


def spyne_binding(*args: Any, **options: Any) -> SoapApplication:
    """Imported on use: spyne does not import on Python 3.12 or later."""
    from temix.server.spyne import SpyneSoapApplication

    return SpyneSoapApplication(*args, **options)


BINDINGS: dict[str, Callable[..., SoapApplication]] = {
    "native": SoapApplication,
    "spyne": spyne_binding,
}
"""What builds each binding's application, by the name ``create_app`` takes as ``binding``;
each takes the arguments of :class:`SoapApplication`."""


def _unavailable() -> dict[str, str]:
    """The bindings that cannot run here, with the reason."""
    if sys.version_info >= (3, 12):
        return {"spyne": "spyne 2.14 does not import on Python 3.12 or later"}
    if importlib.util.find_spec("spyne") is None:
        return {"spyne": "spyne is not installed: pip install 'temix[spyne]'"}
    return {}


def binding_param(name: str, *values: Any) -> Any:
    """A pytest parameter of the binding ``name`` (and ``values``), skipped where the binding
    cannot run."""
    reason = _unavailable().get(name)
    return pytest.param(
        name, *values, marks=pytest.mark.skipif(reason is not None, reason=reason or "")
    )


def binding_params() -> list:
    """The names of :data:`BINDINGS` as pytest parameters, skipped where they cannot run."""
    return [binding_param(name) for name in BINDINGS]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def xml(self) -> etree._Element:
        return etree.fromstring(self.body)


def call(
    app: WSGIApp,
    method: str = "POST",
    body: bytes = b"",
    *,
    content_type: str | None = None,
    soap_action: str | None = None,
    path: str = "/temix",
    query: str = "",
    content_length: str | None = None,
    stream: object = None,
    extra: dict | None = None,
) -> Reply:
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "/base",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testhost",
        "SERVER_PORT": "8080",
        "HTTP_HOST": HOST,
        "wsgi.url_scheme": "http",
        "wsgi.input": stream if stream is not None else io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)) if content_length is None else content_length,
        "REMOTE_ADDR": REMOTE_ADDRESS,
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if soap_action is not None:
        environ["HTTP_SOAPACTION"] = soap_action
    environ.update(extra or {})
    started: dict = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        started["status"] = int(status.split()[0])
        started["headers"] = dict(headers)

    body_out = b"".join(app(environ, start_response))
    assert started["headers"]["Content-Length"] == str(len(body_out))
    return Reply(started["status"], started["headers"], body_out)


def soap_post(
    app: WSGIApp, body: bytes, version: SoapVersion = SOAP_1_1, action: str | None = None
) -> Reply:
    """A SOAP POST; ``action`` goes quoted in the SOAPAction header (SOAP 1.1) or in the
    ``action`` parameter of the Content-Type (SOAP 1.2)."""
    if action is None:
        return call(app, body=body, content_type=version.content_type)
    headers = request_headers(version, action)
    return call(
        app,
        body=body,
        content_type=headers["Content-Type"],
        soap_action=headers.get("SOAPAction"),
    )


def envelope(payload: Any, version: SoapVersion = SOAP_1_1, header: str = "") -> bytes:
    """An Envelope around ``payload``: an element, its bytes, or a :mod:`temix.payloads` value
    (encoded with :mod:`temix.codec`)."""
    if isinstance(payload, bytes):
        inner = payload
    elif isinstance(payload, etree._Element):
        inner = etree.tostring(payload)
    else:
        inner = etree.tostring(codec.encode(payload))
    ns = version.envelope_ns
    head = f"<e:Header>{header}</e:Header>" if header else ""
    return (
        (
            f'<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="{ns}">{head}<e:Body>'
        ).encode()
        + inner
        + b"</e:Body></e:Envelope>"
    )


SERVICE_MATRIX = pytest.mark.parametrize(
    ("binding", "database_url"),
    [
        binding_param("native", "sqlite"),
        binding_param("native", "postgresql"),
        binding_param("spyne", "sqlite"),
    ],
    indirect=["database_url"],
)
"""The service tests' matrix: the native binding on both databases and spyne on SQLite. The
binding and the store are separate layers, so spyne on PostgreSQL would add a third more tests
and reach no new code."""


def first_example_of_each_element() -> dict[str, etree._Element]:
    """The first valid example document (by file name) of each payload element."""
    found: dict[str, etree._Element] = {}
    for path in sorted(EXAMPLES_VALID.glob("*.xml")):
        root = etree.parse(str(path)).getroot()
        found.setdefault(root.tag, root)
    return found
