from __future__ import annotations

from tests.matrix_rows.common import Row

ROWS: dict[tuple[str, str], Row] = {}
