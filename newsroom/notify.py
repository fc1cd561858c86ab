"""The editors' digest: "3 new tips" by e-mail, now and then, and nothing else.

No tip id, title, label or content: mail crosses servers the newsroom does not control. The
subject is the same every time. Sent to active staff in the Editors group who have an
address; nothing is sent when nothing happened.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone

from submissions.models import Tip

from .models import Watermark

SUBJECT = "Tipline: new activity"


# A tip is counted once its transaction has surely committed: its created_at is set when it
# begins, and a big upload may take a while to commit.
SETTLE = timedelta(minutes=10)


def send_digest() -> int:
    """Mail the count of tips received since the last digest; returns how many were sent.
    The watermark moves only once the mail is out: a failure is counted again next time."""
    until = timezone.now() - SETTLE
    mark, created = Watermark.objects.get_or_create(name="digest", defaults={"at": until})
    if created:
        return 0  # the first run only starts the clock
    new = Tip.objects.filter(created_at__gt=mark.at, created_at__lte=until).count()
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
        Watermark.objects.filter(pk=mark.pk).update(at=until)
        return 0
    noun = "tip" if new == 1 else "tips"
    body = (
        f"{new} new {noun} since the last message.\n\n"
        "Sign in to the staff site to read them. This message says nothing else on purpose.\n"
    )
    for address in recipients:  # one message each: no editor sees the others' addresses
        send_mail(SUBJECT, body, settings.DEFAULT_FROM_EMAIL, [address])
    Watermark.objects.filter(pk=mark.pk, at=mark.at).update(at=until)
    return len(recipients)
