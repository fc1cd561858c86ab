"""Gunicorn settings shared by the embedded default and the Docker image.

Sources upload over Tor: slowly, for minutes. With threaded workers ("gthread") a slow body
holds one thread of a worker, never the worker: the other threads go on serving. Workers and
threads per worker are TIPLINE_WEB_WORKERS and TIPLINE_WEB_THREADS (2 and 32: 64 uploads at once
before a new request waits). Bodies are never spooled to disk in clear by gunicorn, which
streams them to Django, whose only upload handler encrypts as it reads
(submissions/uploads.py).

Gunicorn logs the client address on malformed requests ("Invalid request from ip=..."), and
its access log records addresses by design. Here the access log is a no-op and every error-log
line has addresses redacted before it is written.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from gunicorn.glogging import Logger

_ADDRESS = re.compile(
    r"ip=\S+"
    r"|\b\d{1,3}(?:\.\d{1,3}){3}\b"
    r"|\[?\b(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}\b\]?"
)


def redact(text: str) -> str:
    return _ADDRESS.sub("[address]", text)


class RedactAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


class PrivateLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.error_log.addFilter(RedactAddresses())

    def access(self, *args: Any, **kwargs: Any) -> None:
        return None  # an access log would be a list of who sent tips, and when


logger_class = "tipline.gunicorn_conf.PrivateLogger"
accesslog = None
worker_class = "gthread"
workers = int(os.environ.get("TIPLINE_WEB_WORKERS", "2"))
threads = int(os.environ.get("TIPLINE_WEB_THREADS", "32"))
# Idle keep-alive connections are closed soon.
keepalive = 5
# gunicorn's control socket would be a file in $HOME (read-only in the containers); unused.
control_socket_disable = True
