"""Typed, fail-closed readers for TIPLINE_* environment variables.

Every secret can come from NAME or from a file named by NAME_FILE (Docker/systemd secrets).
An unparsable value is an error at start-up, never a silent default.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def env_str(name: str, default: str | None = None) -> str:
    value = _raw(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"{name} is required")
        return default
    return value


def env_optional(name: str) -> str | None:
    return _raw(name)


def env_secret(name: str, default: str | None = None) -> str:
    """A secret from NAME or from the file NAME_FILE; missing is an error (or `default`:
    for a URL that holds a password in production and none in development)."""
    value = _raw(name)
    path = _raw(f"{name}_FILE")
    if value is not None and path is not None:
        raise ImproperlyConfigured(f"set {name} or {name}_FILE, not both")
    if path is not None:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc}") from exc
    if not value and default is not None:
        return default
    if not value:
        if reads_models_only():
            return secrets.token_urlsafe(48)  # thrown away with the process
        raise ImproperlyConfigured(f"{name} (or {name}_FILE) is required")
    return value


def reads_models_only() -> bool:
    """`manage.py makemigrations` reads the model code and nothing else (no request, no data,
    no key): on a bare checkout it runs without secrets, given random throwaway ones. Every
    other process, servers and workers included, still refuses to start without them."""
    return (
        len(sys.argv) > 1
        and Path(sys.argv[0]).name == "manage.py"
        and sys.argv[1] == "makemigrations"
    )


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from exc
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}")
    return number


def env_bytes(name: str, default: int) -> int:
    """A size such as 2147483648, 512M, 2GiB (binary units)."""
    value = _raw(name)
    if value is None:
        return default
    match = _SIZE.match(value)
    if not match:
        raise ImproperlyConfigured(f"{name}={value!r} is not a size (e.g. 500M, 2G)")
    unit = (match.group(2) or "").lower()[:1]
    number = int(match.group(1)) * _UNITS[unit]
    if number <= 0:
        raise ImproperlyConfigured(f"{name} must be positive")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r}: choose one of {sorted(choices)}")
    return value
