from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    name = "submissions"
    verbose_name = "Tips"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers system checks)
