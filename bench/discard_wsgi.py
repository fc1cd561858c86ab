"""The ingest baseline: a WSGI app that reads the request body and throws it away.

Served by the same gunicorn configuration as Tipline (tipline.gunicorn_conf), it is what the
app server, the socket and the client cost with no parsing, no encryption and no storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

READ = 64 * 1024


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"]
    received = 0
    while piece := body.read(READ):
        received += len(piece)
    text = f"discarded {received}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(text)))])
    return [text]
