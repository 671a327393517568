"""The one rule for text: what the API takes in, and what a spreadsheet or page may show.

Taken in: no control characters except tab, newline and carriage return, no lone
surrogates (JSON can spell them, no database can store them), and neither of the two
noncharacters XML cannot hold. PostgreSQL refuses NUL outright; openpyxl refuses the
other control characters in a cell; a lone surrogate fails on its way to either. Text
that passes is storable everywhere and writable into any ledger.

Shown: rows stored before the rule existed may still hold such characters, so every
writer of spreadsheets and pages passes its text through `displayable`, which puts
U+FFFD where the rule would have refused a character: the reader sees that
something was there, and no export or page fails on it.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# C0 controls but tab, LF and CR; DEL and the C1 controls; surrogates; U+FFFE, U+FFFF.
_REFUSED = "\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x9F\\uD800-\\uDFFF\\uFFFE\\uFFFF"
_REFUSED_RE = re.compile(f"[{_REFUSED}]")
# The same rule as a JSON Schema pattern, so the OpenAPI document states it.
PLAIN_TEXT_PATTERN = f"^[^{_REFUSED}]*$"
REFUSED_MESSAGE = "不能含有控制字符（换行和制表符除外）"


def plain_text(value: str) -> str:
    """The input rule: `value` itself, or a ValueError saying why (in a request, 422
    `validation_error` with that message and the field's location)."""
    if _REFUSED_RE.search(value):
        raise PydanticCustomError("plain_text", REFUSED_MESSAGE)
    return value


def check_all_text(value: Any) -> Any:
    """`plain_text` on every string in a validated value: lists, sets and dicts
    (their keys too) included; nested models check their own fields."""
    if isinstance(value, str):
        plain_text(value)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            check_all_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_all_text(key)
            check_all_text(item)
    return value


def displayable(value: str) -> str:
    """`value` with every character the rule refuses replaced by U+FFFD."""
    return _REFUSED_RE.sub("\ufffd", value)


def text_or_none(value: str | None) -> str | None:
    """Optional free text as stored: surrounding blanks dropped, and nothing said
    (None, empty or only blanks) kept as NULL, so "no reason given" has one form."""
    value = (value or "").strip()
    return value or None


def declare_plain_text(schema: JsonSchemaValue) -> None:
    """Adds PLAIN_TEXT_PATTERN to every free-text string in a JSON Schema fragment
    (not to enums, formats or strings that already have a pattern)."""
    if schema.get("type") == "string" and not {"enum", "const", "format", "pattern"} & set(schema):
        schema["pattern"] = PLAIN_TEXT_PATTERN
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in schema.get(key, ()):
            declare_plain_text(sub)
    for key in ("items", "additionalProperties", "propertyNames"):
        if isinstance(schema.get(key), dict):
            declare_plain_text(schema[key])


class PlainText:
    """Annotated metadata for a parameter outside a request body model (query, path):
    `Annotated[str, PlainText()]`, validated and documented by the rule above."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(plain_text, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        declare_plain_text(json_schema)
        return json_schema
