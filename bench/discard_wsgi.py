"""The ingest baselines: the same upload, its bytes thrown away, under the same gunicorn
configuration as Tipline (tipline.gunicorn_conf).

- `application` reads the raw body in 1 MiB reads (as large as Tipline's upload handler reads:
  a larger read costs gunicorn less) and throws it away: the app server, the socket and the
  client, with no parsing, no encryption and no storage.
- `django_application` hands the request to Django's multipart parser, as Tipline's view does,
  with an upload handler that throws each piece away: the parsing, with no encryption and no
  storage.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

READ = 1024 * 1024


def _answer(start_response: Callable[..., Any], text: str) -> list[bytes]:
    body = text.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"]
    received = 0
    while piece := body.read(READ):
        received += len(piece)
    return _answer(start_response, f"discarded {received}")


@functools.cache
def _django() -> type:
    """Django set up once per process (as Tipline's own WSGI module does), and the handler."""
    import django
    from django.core.files.uploadhandler import FileUploadHandler

    from submissions.uploads import EncryptingUploadHandler

    django.setup(set_prefix=False)

    class Discard(FileUploadHandler):
        chunk_size = EncryptingUploadHandler.chunk_size

        def __init__(self, request: Any) -> None:
            super().__init__(request)
            self.received = 0

        def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
            self.received += len(raw_data)

        def file_complete(self, file_size: int) -> None:
            return None

    return Discard


def django_application(environ: dict[str, Any],
                       start_response: Callable[..., Any]) -> Iterable[bytes]:  # fmt: skip
    from django.core.handlers.wsgi import WSGIRequest

    request = WSGIRequest(environ)
    discard = _django()(request)
    request.upload_handlers = [discard]
    request.POST  # noqa: B018 - parses the body, handing each file's pieces to the handler
    return _answer(start_response, f"discarded {discard.received}")
