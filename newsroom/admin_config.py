from django.contrib.admin import apps


class TiplineAdminConfig(apps.AdminConfig):
    """The Django admin, on a site that wants a second factor (newsroom.sites)."""

    default_site = "newsroom.sites.TiplineAdminSite"
