"""The SOAP bindings the service tests run against, and an in-process WSGI client for them."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from lxml import etree

from temix.server.soap import SOAP_1_1, Handler, SoapApplication, SoapVersion

WSGIApp = Callable[[dict[str, Any], Callable], Iterable[bytes]]
HOST = "testhost:8080"


Binding = Callable[..., WSGIApp]
"""``binding(handlers, schemas=None, limits=None, *, understood_headers=(), public_url=None)``:
the arguments of :class:`SoapApplication`."""


def spyne_binding(handlers: Mapping[str, Handler], *args: Any, **options: Any) -> WSGIApp:
    """Imported on use: spyne does not import on Python 3.12 or later."""
    from temix.server.spyne import spyne_application

    return spyne_application(handlers, *args, **options)


BINDINGS: dict[str, Binding] = {"native": SoapApplication, "spyne": spyne_binding}


def _unavailable() -> dict[str, str]:
    """The bindings that cannot run here, with the reason."""
    if sys.version_info >= (3, 12):
        return {"spyne": "spyne 2.14 does not import on Python 3.12 or later"}
    if importlib.util.find_spec("spyne") is None:
        return {"spyne": "spyne is not installed: pip install 'temix[spyne]'"}
    return {}


def binding_params() -> list:
    """The names of :data:`BINDINGS` as pytest parameters, skipped where they cannot run."""
    unavailable = _unavailable()
    return [
        pytest.param(
            name,
            marks=pytest.mark.skipif(name in unavailable, reason=unavailable.get(name, "")),
        )
        for name in BINDINGS
    ]


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


def envelope(
    payload: etree._Element | bytes, version: SoapVersion = SOAP_1_1, header: str = ""
) -> bytes:
    inner = payload if isinstance(payload, bytes) else etree.tostring(payload)
    ns = version.envelope_ns
    head = f"<e:Header>{header}</e:Header>" if header else ""
    return (
        (
            f'<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="{ns}">{head}<e:Body>'
        ).encode()
        + inner
        + b"</e:Body></e:Envelope>"
    )
