"""Mounts the public site, the staff site or both, by TIPLINE_ROLE."""

from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from submissions.views.public import root

urlpatterns: list[URLPattern | URLResolver] = []

if settings.ROLE in ("public", "all"):
    urlpatterns += [path("", root, name="root")]
    urlpatterns += i18n_patterns(path("", include("submissions.urls.public")))

if settings.ROLE in ("staff", "all"):
    prefix = settings.STAFF_URL_PREFIX.strip("/")
    urlpatterns += [
        path(f"{prefix}/tips/", include("submissions.urls.staff")),
        path(f"{prefix}/", admin.site.urls),
    ]
