"""The editors' digest: "3 new tips" by e-mail, now and then, and nothing else.

No tip id, title, label or content: mail crosses servers the newsroom does not control. The
subject is the same every time. Sent to active staff in the Editors group who have an
address; nothing is sent when nothing happened.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from submissions.models import Tip

from .models import Watermark

SUBJECT = "Tipline: new activity"


def send_digest() -> int:
    """Mail the count of tips received since the last digest; returns how many were sent."""
    now = timezone.now()
    with transaction.atomic():
        mark, created = Watermark.objects.select_for_update().get_or_create(
            name="digest", defaults={"at": now}
        )
        if created:
            return 0  # the first run only starts the clock
        new = Tip.objects.filter(created_at__gt=mark.at, created_at__lte=now).count()
        mark.at = now
        mark.save(update_fields=["at"])
    if not new:
        return 0
    recipients = list(
        get_user_model()
        .objects.filter(is_active=True, is_staff=True, groups__name="Editors")
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    if not recipients:
        return 0
    noun = "tip" if new == 1 else "tips"
    body = (
        f"{new} new {noun} since the last message.\n\n"
        "Sign in to the staff site to read them. This message says nothing else on purpose.\n"
    )
    for address in recipients:  # one message each: no editor sees the others' addresses
        send_mail(SUBJECT, body, settings.DEFAULT_FROM_EMAIL, [address])
    return len(recipients)
