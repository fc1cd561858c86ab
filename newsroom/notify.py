"""The editors' digest: "3 new tips, 1 new message from sources" by e-mail, now and then.

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

from submissions import clock
from submissions.models import SourceMessage, Tip

from .models import Watermark

SUBJECT = "Tipline: new activity"


# A tip is counted once its transaction has surely committed: its created_at is set when it
# begins, and a big upload may take a while to commit. And created_at is rounded down to the
# hour (submissions/clock.py), so a tip stamped 14:00 may commit until 15:00 and after.
SETTLE = timedelta(minutes=10)


def send_digest() -> int:
    """Mail the count of tips and of sources' messages received since the last digest;
    returns how many mails were sent.
    The watermark moves only once the mail is out: a failure is counted again next time."""
    until = clock.coarse(timezone.now() - SETTLE) - clock.granularity()
    mark, created = Watermark.objects.get_or_create(name="digest", defaults={"at": until})
    if created:
        return 0  # the first run only starts the clock
    window = {"created_at__gt": mark.at, "created_at__lte": until}
    new = Tip.objects.filter(**window).count()
    messages = SourceMessage.objects.filter(**window).count()
    if not new and not messages:
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
    counts = []
    if new:
        counts.append(f"{new} new {'tip' if new == 1 else 'tips'}")
    if messages:
        counts.append(f"{messages} new {'message' if messages == 1 else 'messages'} from sources")
    body = (
        f"{' and '.join(counts)} since the last e-mail.\n\n"
        "Sign in to the staff site to read them. This message says nothing else on purpose.\n"
    )
    for address in recipients:  # one message each: no editor sees the others' addresses
        send_mail(SUBJECT, body, settings.DEFAULT_FROM_EMAIL, [address])
    Watermark.objects.filter(pk=mark.pk, at=mark.at).update(at=until)
    return len(recipients)
