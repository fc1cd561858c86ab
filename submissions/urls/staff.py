from django.urls import path

from ..views import staff

app_name = "staff"
urlpatterns = [
    path("attachments/<uuid:attachment_id>/download/", staff.attachment_download, name="download"),
    path("attachments/<uuid:attachment_id>/preview/", staff.attachment_preview, name="preview"),
    path("attachments/<uuid:attachment_id>/media/", staff.attachment_media, name="media"),
]
