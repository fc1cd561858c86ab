"""Public (source-facing) routes. Never mounts a staff route.

Everything under check/ is a source signed in with their receipt code: the only pages that
receive a cookie (submissions.middleware).
"""

from django.urls import path

from ..views import followup, public

app_name = "public"
urlpatterns = [
    path("", public.submit, name="submit"),
    path("check/", followup.check, name="check"),
    path("guide/", public.guide, name="guide"),
    path("uploads/", public.upload_start, name="upload_start"),
    path("uploads/<str:upload_id>/", public.upload_piece, name="upload_status"),
    path("uploads/<str:upload_id>/<int:index>", public.upload_piece, name="upload_piece"),
    path("what-we-keep/", public.kept, name="kept"),
    path("check/tip/", followup.followup, name="followup"),
    path("check/tip/delete-reply/", followup.reply_delete, name="reply_delete"),
    path("check/sign-out/", followup.sign_out, name="sign_out"),
]
