"""Test settings: the production settings module, fed a test environment.

Values are exported to os.environ (setdefault, so CI can override them) before the settings
are read, so the Celery worker and web servers that tests start as subprocesses share them.
"""

import os
import tempfile
from pathlib import Path

from submissions import crypto

_root = Path(os.environ.setdefault("TIPLINE_TEST_DIR", tempfile.mkdtemp(prefix="tipline-test-")))
_keys = _root / "keys"
for _name in ("intake", "newsroom"):  # newsroom.key: the tests' own copy, to check with `age`
    if not (_keys / f"{_name}.key").exists():
        crypto.write_identity_file(_keys / f"{_name}.key", crypto.Identity.generate())
os.environ.setdefault(
    "TIPLINE_INTAKE_RECIPIENT", str(crypto.read_identity_file(_keys / "intake.key")[0].recipient)
)
os.environ.setdefault("TIPLINE_INTAKE_IDENTITY_FILE", str(_keys / "intake.key"))
NEWSROOM_TEST_KEY = _keys / "newsroom.key"

os.environ.setdefault("TIPLINE_SECRET_KEY", "tests-only-secret-key-" + "x" * 40)
os.environ.setdefault("TIPLINE_RECEIPT_SALT", "tests-only-receipt-salt")
os.environ.setdefault("TIPLINE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tipline")
os.environ.setdefault("TIPLINE_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("TIPLINE_DATA_DIR", str(_root / "var"))
os.environ.setdefault("TIPLINE_HTTPS", "false")
os.environ.setdefault("TIPLINE_ROLE", "all")
# The suite posts far faster than any newsroom's sources: tests of the limit lower it.
os.environ.setdefault("TIPLINE_SUBMISSIONS_PER_MINUTE", "100000")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from tipline.settings import *  # noqa: E402, F403

# Fast password hashing: tests create users, they do not test hashing cost.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
