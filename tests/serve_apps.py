"""Toy WSGI app factories for the process-host tests, imported by the server subprocesses.

``make_app`` builds an app answering every request with JSON: the pid of the process whose
factory built it, the pid and parent pid serving the request, and the body bytes received. The
query can ask it to ``sleep`` (seconds) after touching the file ``started``; the path ``/soap``
sets the operation and outcome environ keys. When ``FACTORY_PIDS`` names a file, each factory
call appends its pid to it.
"""

import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qs

FACTORY_PIDS_VARIABLE = "FACTORY_PIDS"


def make_app():
    factory_pid = os.getpid()
    if FACTORY_PIDS_VARIABLE in os.environ:
        with open(os.environ[FACTORY_PIDS_VARIABLE], "a") as pids:
            pids.write(f"{factory_pid}\n")

    def app(environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        received = environ["wsgi.input"].read()
        if "started" in query:
            Path(query["started"][0]).touch()
        if "sleep" in query:
            time.sleep(float(query["sleep"][0]))
        if environ["PATH_INFO"] == "/soap":
            environ["temix.operation"] = "CreateTender"
            environ["temix.outcome"] = "200"
        reply = json.dumps(
            {
                "factory_pid": factory_pid,
                "pid": os.getpid(),
                "parent_pid": os.getppid(),
                "received": len(received),
            }
        ).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(reply)))]
        )
        return [reply]

    return app


def make_broken_app():
    raise RuntimeError("this app cannot be built")
