"""Thin Celery wrappers. Messages carry attachment ids only; every task is safe to run twice."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from . import services


@shared_task(
    name="submissions.scrub_attachment",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=4,
)
def scrub_attachment(attachment_id: str) -> None:
    services.attachment_scrub(attachment_id=attachment_id)


@shared_task(name="submissions.requeue_stale", ignore_result=True)
def requeue_stale() -> int:
    return services.attachments_requeue_stale()


@shared_task(name="submissions.reconcile_blobs", ignore_result=True)
def reconcile_blobs() -> int:
    from . import integrity

    return integrity.sweep(min_age=timedelta(hours=integrity.ORPHAN_HOURS)).count


@shared_task(name="submissions.expire_uploads", ignore_result=True)
def expire_uploads() -> int:
    from . import chunked

    return chunked.sweep_expired()


@shared_task(name="submissions.retention", ignore_result=True)
def retention() -> int:
    return services.retention_purge()


@shared_task(name="submissions.expire_source_sessions", ignore_result=True)
def expire_source_sessions() -> int:
    from . import sources

    return sources.expire()


@shared_task(name="newsroom.send_digest", ignore_result=True)
def send_digest() -> int:
    from newsroom.notify import send_digest as send

    return send()
