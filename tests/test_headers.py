"""Every URL of both roles, error pages included, answers with the security headers' values
(not just their presence). The URLs are enumerated from the URLconf itself, so a new view is
walked without being listed here; one the walk cannot fill in fails the test."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from submissions import services
from submissions.middleware import PERMISSIONS_POLICY, PUBLIC_CSP, STAFF_CSP
from submissions.models import Label, Tip
from tests import fixtures
from tests.staff import make_staff, sign_in

pytestmark = pytest.mark.django_db


def patterns(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[
    tuple[str, str, URLPattern]
]:  # fmt: skip
    """(route, name, pattern) for every pattern, routes joined as regexes or route strings."""
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            space = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from patterns(entry, route, space)
        else:
            yield route, f"{namespace}{entry.name}" if entry.name else "", entry


@pytest.fixture
def world(blob_dir, newsroom_identity, monkeypatch) -> dict[str, object]:
    """One of everything the staff pages can show."""
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    admin = make_staff("admin", newsroom_identity, role="Admins")
    admin.groups.add(*type(admin.groups.first()).objects.all())
    files = [SimpleUploadedFile("a.jpg", fixtures.jpeg_with_gps()),
             SimpleUploadedFile("b.mp3", fixtures.mp3_with_tags())]  # fmt: skip
    response = Client().post("/en/", {"note": "headers", "files": files})
    assert response.status_code == 200
    tip = Tip.objects.get()
    for attachment in tip.attachments.all():
        services.attachment_scrub(attachment_id=str(attachment.pk))
    label = Label.objects.create(name="customs")
    services.comment_add(tip=tip, author="admin", body="c")
    services.reply_add(tip=tip, author="admin", body="r")
    photo, audio = tip.attachments.get(position=1), tip.attachments.get(position=2)
    return {"admin": admin, "tip": tip, "label": label, "photo": photo, "audio": audio}


def _object_for(name: str, route: str) -> object:
    """The object an admin URL is about: named admin:<app>_<model>_<action>, or (unnamed, as
    the admin's old-style redirect) under staff/<app>/<model>/."""
    from django.apps import apps

    if name:
        app_model = name.split(":", 1)[1].rsplit("_", 1)[0]
    else:
        app, model_name = route.split("staff/", 1)[1].split("/")[:2]
        app_model = f"{app}_{model_name}"
    for model in apps.get_models():
        if f"{model._meta.app_label}_{model._meta.model_name}" == app_model:
            instance = model.objects.order_by("pk").first()
            assert instance is not None, f"no {app_model} to walk {name} with"
            return instance
    raise AssertionError(f"no model for {name}")


def concrete(route: str, name: str, world: dict[str, object]) -> str | None:
    """A path for the pattern, its parameters filled in; None for patterns that take any path
    (the admin's catch-all: walked through the 404 below)."""
    path = route.replace("^", "").replace("$", "").replace("\\Z", "")
    if "(?P<url>.*)" in path:
        return None
    values: dict[str, str] = {}
    params = re.findall(r"<(?:\w+:)?(\w+)>", path) + re.findall(r"\(\?P<(\w+)>[^)]*\)", path)
    for param in params:
        if param == "attachment_id":
            media = name.endswith(":media")
            values[param] = str((world["audio"] if media else world["photo"]).pk)  # type: ignore[attr-defined]
        elif param == "object_id" and name == "admin:view_on_site":
            values[param] = str(world["tip"].pk)  # type: ignore[attr-defined]
        elif param in ("object_id", "pk"):
            values[param] = str(_object_for("" if param == "pk" else name, route).pk)  # type: ignore[attr-defined]
        elif param == "app_label":
            values[param] = "submissions"
        elif param == "content_type_id":
            values[param] = str(ContentType.objects.get_for_model(Tip).pk)
        elif param == "id":  # password change of a user
            values[param] = str(world["admin"].pk)  # type: ignore[attr-defined]
        elif param == "upload_id":  # a resumable upload (an unknown one: refused, with headers)
            values[param] = "0" * 32
        elif param == "index":
            values[param] = "0"
        else:
            raise AssertionError(f"the walk cannot fill {param} in {route} ({name})")
    for param, value in values.items():
        path = re.sub(rf"<(?:\w+:)?{param}>", value, path)
        path = re.sub(rf"\(\?P<{param}>[^)]*\)", value, path)
    if name == "admin:autocomplete":  # what the admin's own widgets send
        path += "?app_label=submissions&model_name=tip&field_name=assignee&term=a"
    return "/" + path


def check(response: object, path: str, *, staff: bool) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    csp = headers.get("Content-Security-Policy", "")
    where = f"{path} ({response.status_code})"  # type: ignore[attr-defined]
    assert csp, where
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, where
    from submissions.views.staff import FILE_CSP

    assert csp in ((STAFF_CSP, FILE_CSP) if staff else (PUBLIC_CSP,)), where
    assert headers["X-Content-Type-Options"] == "nosniff", where
    assert headers["Referrer-Policy"] == ("same-origin" if staff else "no-referrer"), where
    assert headers["Permissions-Policy"] == PERMISSIONS_POLICY, where
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin", where
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin", where
    assert headers["X-Frame-Options"] == "DENY", where
    if not path.startswith("/static/"):
        assert "no-store" in headers.get("Cache-Control", ""), where
    assert "Strict-Transport-Security" not in headers, where  # plain HTTP here: never
    assert "Server" not in headers and "X-Powered-By" not in headers, where


def test_every_url_of_the_all_role_sends_the_headers(world):
    editor = sign_in(world["admin"])  # type: ignore[arg-type]
    walked = shown = 0
    for route, name, _ in patterns(get_resolver()):
        path = concrete(route, name, world)
        if path is None:
            continue
        staff = path.startswith("/staff/")
        for client in [editor, Client()] if staff else [Client()]:
            response = client.get(path)
            assert response.status_code < 500, (path, response.status_code)
            check(response, path, staff=staff)
            walked += 1
            shown += staff and client is editor and response.status_code == 200
    assert walked > 40 and shown > 20, (walked, shown)  # the pages themselves, not redirects
    # Error pages and refusals.
    anonymous = Client(raise_request_exception=False)
    check(anonymous.get("/en/no-such-page/"), "404", staff=False)
    check(editor.get("/staff/no-such-page/"), "staff 404", staff=True)
    check(anonymous.post("/en/", data=b"--x", content_type="multipart/form-data; boundary=x"),
          "400", staff=False)  # fmt: skip
    check(anonymous.put("/en/"), "405", staff=False)
    csrf = Client(enforce_csrf_checks=True)
    refused = csrf.post("/staff/login/", {"username": "a", "password": "b"})
    assert refused.status_code == 403
    check(refused, "403", staff=True)
    check(editor.get("/healthz"), "healthz", staff=False)


def test_a_500_sends_the_headers_too(client, monkeypatch, settings):
    from submissions.views import public

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("forced")

    monkeypatch.setattr(public, "_form_page", broken)
    response = Client(raise_request_exception=False).get("/es/")
    assert response.status_code == 500
    check(response, "500", staff=False)


def test_every_url_of_the_public_role_sends_the_headers(settings, blob_dir):
    import tipline.urls

    settings.ROLE = "public"
    try:
        module = importlib.reload(tipline.urls)
        settings.ROOT_URLCONF = module.__name__
        from django.urls import clear_url_caches

        clear_url_caches()
        paths = [route for route, _, _ in patterns(get_resolver())]
        assert paths and not [p for p in paths if "staff" in p]
        for path in ("/", "/es/", "/en/", "/es/check/", "/en/check/", "/es/check/tip/",
                     "/healthz", "/staff/", "/staff/login/", "/es/nothing/"):  # fmt: skip
            response = Client().get(path)
            assert response.status_code in (200, 302, 303, 404), (path, response.status_code)
            check(response, path, staff=False)
    finally:
        settings.ROLE = "all"
        importlib.reload(tipline.urls)
        from django.urls import clear_url_caches

        clear_url_caches()


def test_onion_location_on_the_clearnet_host_only(client, settings):
    settings.ONION_ADDRESS = "a" * 56 + ".onion"
    settings.ALLOWED_HOSTS = ["tips.example.org", "a" * 56 + ".onion"]
    clear = client.get("/es/check/?x=1", HTTP_HOST="tips.example.org")
    assert clear["Onion-Location"] == f"http://{'a' * 56}.onion/es/check/?x=1"
    onion = client.get("/es/", HTTP_HOST="a" * 56 + ".onion")
    assert "Onion-Location" not in onion
