"""Back-pressure: new uploads wait when the server cannot take them.

When the files waiting to be cleaned pile up (a big leak, a stopped worker) or the disk that
holds uploads in flight runs low, a source is told, before anything is read or stored, to try
again in a few minutes: better than filling the disk and losing what others sent. Nothing
about the source is involved; Tor's proof-of-work defences are the first line against floods.
"""

from __future__ import annotations

import shutil

from django.conf import settings

from .models import Attachment


def refusal() -> str:
    """Why new uploads must wait ("backlog" or "disk"), or "" when they are welcome."""
    settings.SPOOL_DIR.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(settings.SPOOL_DIR).free < settings.MIN_FREE_BYTES:
        return "disk"
    waiting = Attachment.objects.filter(
        state__in=[Attachment.State.RECEIVED, Attachment.State.SCRUBBING]
    ).count()
    if waiting >= settings.MAX_BACKLOG:
        return "backlog"
    return ""
