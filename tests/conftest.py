from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from submissions import keys

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    keys.clear_cache()
    yield
    keys.clear_cache()


@pytest.fixture
def blob_dir(settings: object) -> Iterator[Path]:
    """A clean blob directory and spool for this test."""
    root = Path(settings.STORAGES["blobs"]["OPTIONS"]["location"])  # type: ignore[attr-defined]
    for path in (root, settings.SPOOL_DIR):  # type: ignore[attr-defined]
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    yield root


@pytest.fixture
def newsroom_key_file() -> Path:
    return Path(settings.NEWSROOM_IDENTITY_FILE)


@pytest.fixture
def intake_key_file() -> Path:
    return Path(settings.INTAKE_IDENTITY_FILE)


def corpus_dir() -> Path | None:
    path = Path(os.environ.get("TIPLINE_CORPUS", SHARED / "corpus"))
    return path if path.is_dir() else None
