"""Debian's Chromium driven by Playwright, one browser for every browser test.

Playwright only drives the browser at CHROMIUM; it never downloads one. Without it
the browser tests are skipped with the reason; the rest run anyway.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_CHROMIUM = f"no Chromium at {CHROMIUM} (Debian's chromium package; `make test` installs it)"


class Tab:
    """A page in a fresh browser context, with what its console and scripts reported."""

    def __init__(self, page: Any):
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message: Any) -> None:
        # A CSP violation is reported here too, as an error.
        if message.type in ("error", "warning"):
            self.errors.append(message.text)
