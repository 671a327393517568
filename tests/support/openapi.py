"""The app's API document for tests that read it."""

from __future__ import annotations

import copy
import functools
from typing import Any

from app.core.config import Settings
from app.main import create_app


@functools.cache
def _document() -> dict[str, Any]:
    return create_app(Settings(_env_file=None, app_env="test")).openapi()  # type: ignore[call-arg]


def app_document() -> dict[str, Any]:
    """What `create_app(...).openapi()` gives with the test settings. Generating it
    costs ~2.3 s of CPU, and a dozen tests of the suite read it: made once per process,
    each reader gets a copy of its own."""
    return copy.deepcopy(_document())
