"""Every cell of every spreadsheet the service writes is made here.

Text goes in as text, whatever it starts with. A ledger travels by email and is
opened in Excel or WPS: a wish title `=HYPERLINK(...)` or an activity
`=cmd|' /C calc'!A0` must not become a formula there. openpyxl turns any string
starting with `=` into a formula cell (and `#N/A` into an error cell), so the cell's
type is set to string after its value. Text starting with a character a spreadsheet
reads as the start of a formula (= + - @, tab, CR) also gets the cell style's
`quotePrefix`: the value stays exactly as stored and shows as plain text, but
Excel, WPS and LibreOffice keep it text when someone edits the cell, as if it had
been typed with a leading apostrophe, instead of evaluating it then.

Text stored before the input rule (app/core/text.py) may hold characters XML cannot
carry, on which openpyxl raises: they are shown as U+FFFD.

Works for write-only and ordinary worksheets alike (both append Cell objects).
Numbers, dates, booleans and None cannot carry a formula and pass through as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

from app.core.text import displayable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Sheet: TypeAlias = "Worksheet | WriteOnlyWorksheet"


def cell(ws: Sheet, value: Any, **style: Any) -> Cell:
    """A cell of `ws` holding `value` (styled with `style`: font=, alignment=, ...)."""
    c = WriteOnlyCell(ws)
    if isinstance(value, str):
        c.value = displayable(value)
        c.data_type = "s"
        if value.startswith(FORMULA_STARTS):
            c.quotePrefix = True
    else:
        c.value = value
    for name, setting in style.items():
        setattr(c, name, setting)
    return c


def row(ws: Sheet, values: Iterable[Any]) -> list[Any]:
    """A row for `ws.append`: text as cells made by `cell`, everything else as it is."""
    return [cell(ws, v) if isinstance(v, str) else v for v in values]
