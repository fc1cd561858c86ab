"""Mounts the public site, the staff site or both, by TIPLINE_ROLE."""

from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path
from django.views.decorators.http import require_GET

from submissions.views.public import root


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For the container's health check: the process answers and reaches its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns: list[URLPattern | URLResolver] = [path("healthz", healthz, name="healthz")]

if settings.ROLE in ("public", "all"):
    urlpatterns += [path("", root, name="root")]
    urlpatterns += i18n_patterns(path("", include("submissions.urls.public")))

if settings.ROLE in ("staff", "all"):
    prefix = settings.STAFF_URL_PREFIX.strip("/")
    urlpatterns += [
        path(f"{prefix}/tips/", include("submissions.urls.staff")),
        path(f"{prefix}/", admin.site.urls),
    ]
