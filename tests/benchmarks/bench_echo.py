"""The plain lxml echo: the upper bound for a SOAP endpoint on this host.

``make_app`` builds a WSGI app that parses each request body with lxml and answers with the
re-serialised document; run as a script, it is served by :func:`temix.server.serve.serve` (the
gunicorn host ``temix serve`` uses), which prints ``WSDL http://HOST:PORT/?wsdl`` when ready.

    python tests/benchmarks/bench_echo.py --port 0 --workers 2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from typing import Any

from lxml import etree

from temix.server.serve import serve

CONTENT_TYPE = "text/xml; charset=utf-8"


def make_app() -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """A WSGI app echoing the XML document it receives, parsed and serialised again."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)

    def echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        document = etree.fromstring(environ["wsgi.input"].read(length), parser)
        reply = etree.tostring(document, xml_declaration=True, encoding="UTF-8")
        start_response(
            "200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(reply)))]
        )
        return [reply]

    return echo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    arguments = parser.parse_args(argv)
    return serve(make_app, host=arguments.host, port=arguments.port, workers=arguments.workers)


if __name__ == "__main__":
    sys.exit(main())
