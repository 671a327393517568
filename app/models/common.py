"""Column helpers shared by every table; the base of request bodies and the types
every input shares (free text, month, ISO week)."""

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
)
from pydantic import Field as PydanticField
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, utcnow
from app.core.text import PlainText, check_all_text, declare_plain_text

# Table arguments of every table with an integer id: the id of a deleted row is never
# handed out again. SQLite otherwise numbers a new row max(id) + 1, so deleting the
# newest row gives its id to the next one; ids stand in tokens, view links,
# idempotency records, audit rows and other systems' copies, which would then name a
# row they were never about (issue 15: a login token came to act as the next person
# put on the roster). PostgreSQL's sequences never go back; this is SQLite's
# AUTOINCREMENT, which also keeps the highest id ever used.
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}

# Ids are PostgreSQL `integer`s: a larger number in a path or body is a 422, not a
# database error.
MAX_ID = 2**31 - 1
# An id of a photo a request attaches (uploaded first through POST /media).
PhotoId = Annotated[int, PydanticField(ge=1, le=MAX_ID)]
Latitude = Annotated[float, PydanticField(ge=-90, le=90)]
Longitude = Annotated[float, PydanticField(ge=-180, le=180)]


def created_at_field() -> datetime:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def updated_at_field() -> datetime:
    return Field(
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False, onupdate=utcnow),
    )


def _strict_json_scalars(schema: Any) -> None:
    if isinstance(schema, dict):
        if schema.get("type") in ("int", "float", "bool"):
            schema["strict"] = True
        for value in schema.values():
            _strict_json_scalars(value)
    elif isinstance(schema, list):
        for value in schema:
            _strict_json_scalars(value)


def _declare_plain_text_fields(schema: JsonSchemaValue, cls: type[Any]) -> None:
    for field_schema in schema.get("properties", {}).values():
        declare_plain_text(field_schema)


class StrictInput(SQLModel):
    """The base of every request body model.

    Unknown fields are refused: a client setting `status` or `user_id` learns at once
    that it cannot, instead of having it silently ignored.

    Every string in every field, in lists and dict keys included, is held to the
    text rule of app/core/text.py (422 on a control character), and the OpenAPI
    document says so: a new model gets both by deriving from this class, with
    nothing to remember per field.

    Numbers and booleans are taken as the JSON types the document declares:
    pydantic's lax mode would take `false` for a latitude, `"5"` for an id and `1`
    for `approve`.
    """

    # SQLModel types model_config as its own TypedDict; pydantic's ConfigDict is the same shape.
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid", json_schema_extra=_declare_plain_text_fields
    )

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        return check_all_text(value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        _strict_json_scalars(schema)
        return schema


# Free text in a query or path parameter; bodies get the same rule from StrictInput.
QueryText = Annotated[str, PlainText()]


class _Matches:
    """A string matching `pattern` (declared in the OpenAPI document), and passing
    `check` if given; refused with `message`, which says what is expected."""

    def __init__(
        self, pattern: str, message: str, check: Callable[[re.Match[str]], bool] | None = None
    ):
        self.pattern = pattern
        self.message = message
        self.check = check

    def _validate(self, value: str) -> str:
        # fullmatch: `$` alone would let a trailing newline through.
        match = re.fullmatch(self.pattern, value)
        if match is None or (self.check is not None and not self.check(match)):
            raise PydanticCustomError("invalid_period", self.message)
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


def _iso_week_exists(match: re.Match[str]) -> bool:
    try:
        date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        return False
    return True


# The years the campaign can be about: no later arithmetic (a month's or week's
# bounds in UTC, a link to the next one) can leave what datetime represents.
# [0-9], not \d, which takes any script's digits.
MONTH_PATTERN = r"^(20[0-9]{2})-(0[1-9]|1[0-2])$"
WEEK_PATTERN = r"^(20[0-9]{2})-W(0[1-9]|[1-4][0-9]|5[0-3])$"

DATE_PATTERN = r"^(20[0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _date_exists(match: re.Match[str]) -> bool:
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


# A Shanghai calendar day, `YYYY-MM-DD`, of 2000 to 2099 (a query's period bound:
# written out in full, so `0` or a timestamp is refused, not taken as 1970).
IsoDate = Annotated[
    str, _Matches(DATE_PATTERN, "日期应为 YYYY-MM-DD，2000 至 2099 年", _date_exists)
]

# A Shanghai calendar month, `YYYY-MM`, 2000-01 to 2099-12.
Month = Annotated[str, _Matches(MONTH_PATTERN, "月份应为 YYYY-MM，2000-01 至 2099-12")]
# An ISO week, `YYYY-Www`, 2000-W01 to 2099-W52 (W53 in the years that have one).
IsoWeek = Annotated[
    str, _Matches(WEEK_PATTERN, "周次应为 YYYY-Www（如 2026-W47）且该年有这一周", _iso_week_exists)
]


def _written_out(value: Any) -> Any:
    if isinstance(value, (int, float, bool)):
        raise PydanticCustomError("written_out", "时间和日期须写成 ISO 8601 文本")
    return value


# A time or day in a body written out as text (ISO 8601), never a number that pydantic
# would take as seconds since 1970.
WrittenOut = BeforeValidator(_written_out)
