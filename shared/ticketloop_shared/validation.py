"""Input types every schema shares, so a value that PostgreSQL or Python cannot hold is refused at
the edge with a precise 422, not discovered deep inside as a 500.

- `Text`: any string a client sends. PostgreSQL `text` cannot store NUL (U+0000), and UTF-8 cannot
  encode a lone surrogate (which JSON's `\\ud800` escape can produce).
- `FiniteFloat`: JSON as Python parses it accepts `NaN` and `Infinity`; no column or sum wants them.
- `Instant`: an aware datetime that can be converted to UTC and back (`0001-01-01T00:00+05:00`
  cannot) and lies in years a ticket system can mean.
- `MAX_OFFSET` / `MAX_INT`: bounds for integers that reach SQL (asyncpg refuses anything past int64).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

NO_NUL_PATTERN = r"^[^\x00]*$"
MIN_YEAR = 1900
MAX_YEAR = 9000
MAX_OFFSET = 10_000_000
MAX_INT = 2**31 - 1


def storable_text(value: str) -> str:
    """Refuse text PostgreSQL cannot store, naming the reason so the client can fix it."""
    if "\x00" in value:
        raise PydanticCustomError("nul_byte", "NUL bytes are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_unicode", "text must be valid Unicode (no unpaired surrogates)") from None
    return value


class StorableText:
    """`Annotated` metadata: validate with `storable_text`, and put the NUL rule in the JSON schema
    (unless a stricter pattern is there) so clients and fuzzers see it.

    Length constraints placed before it stay on the string itself, which keeps pydantic's precise
    "String should have at most N characters" in optional fields and dict keys too.
    """

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """The inner string schema, then the check."""
        return core_schema.no_info_after_validator_function(storable_text, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The string's schema with `pattern` added when it has none."""
        json_schema = handler(schema)
        json_schema.setdefault("pattern", NO_NUL_PATTERN)
        return json_schema


STORABLE = StorableText()


def sane_instant(value: datetime) -> datetime:
    """Refuse instants that overflow in UTC or lie outside MIN_YEAR..MAX_YEAR."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("datetime_out_of_range", "datetime cannot be represented in UTC") from None
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise PydanticCustomError(
            "datetime_out_of_range",
            "datetime must lie between the years {min_year} and {max_year}",
            {"min_year": MIN_YEAR, "max_year": MAX_YEAR},
        )
    return value


Text = Annotated[str, STORABLE]
"""A client-supplied string that PostgreSQL can store. Give constraints with `= Field(...)` on a
required field; in an optional field or a dict key, write `Annotated[str, Field(...), STORABLE]`."""

ShortText = Annotated[str, Field(max_length=100), STORABLE]
"""Identifier-sized text (ids of customers, agents, departments), as stored in `varchar(100)`."""

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""A float that is neither NaN nor ±Infinity."""

Instant = Annotated[AwareDatetime, AfterValidator(sane_instant)]
"""An aware datetime that converts to UTC and lies in MIN_YEAR..MAX_YEAR."""

BoundedInt = Annotated[int, Field(ge=-MAX_INT - 1, le=MAX_INT)]
"""An integer that fits PostgreSQL's `integer`."""
