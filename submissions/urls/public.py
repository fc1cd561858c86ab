"""Public (source-facing) routes. Never mounts a staff route."""

from django.urls import path

from ..views import public

app_name = "public"
urlpatterns = [path("", public.submit, name="submit")]
