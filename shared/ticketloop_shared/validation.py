"""Input types every schema shares, so a value that PostgreSQL or Python cannot hold is refused at
the edge with a precise 422, not discovered deep inside as a 500.

- `text_problem`: the one rule for every string a client sends. PostgreSQL `text` cannot store NUL
  (U+0000), UTF-8 cannot encode a lone surrogate (which JSON's `\\ud800` escape can produce), and
  Unicode's non-characters (U+FDD0..U+FDEF and the last two code points of every plane) are for a
  program's internal use, never for interchange. The HTTP edge (`guards`) applies it to every string
  of every request body and URL; `Text` applies it in a schema and documents it.
- `FiniteFloat`: JSON as Python parses it accepts `NaN` and `Infinity`; no column or sum wants them.
- `Instant`: an aware datetime that can be converted to UTC and back (`0001-01-01T00:00+05:00`
  cannot) and lies in years a ticket system can mean.
- `MAX_OFFSET` / `MAX_INT`: bounds for integers that reach SQL (asyncpg refuses anything past int64).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# The JSON schema's form of the rule, in escapes both ECMA-262 and Python read: NUL and the BMP's
# non-characters (the other planes' need `\u{...}`, which only one of the two reads; the check has them).
NO_NUL_PATTERN = r"^[^\x00\uFDD0-\uFDEF\uFFFE\uFFFF]*$"
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    chr(plane | 0xFFFE) + chr(plane | 0xFFFF) for plane in range(0, 0x110000, 0x10000)
)
_REFUSED = re.compile(f"[\x00\ud800-\udfff{_NONCHARACTERS}]")
MIN_YEAR = 1900
MAX_YEAR = 9000
MAX_OFFSET = 10_000_000
MAX_INT = 2**31 - 1


def text_problem(value: str) -> tuple[str, str] | None:
    """Why `value` is refused, as (error type, message), or None when it may be stored."""
    found = _REFUSED.search(value)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "nul_byte", "NUL bytes are not allowed"
    if "\ud800" <= char <= "\udfff":
        return "invalid_unicode", "text must be valid Unicode (no unpaired surrogates)"
    return "noncharacter", f"Unicode non-characters (here U+{ord(char):04X}) are not allowed"


def unstorable_strings(value: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    """Every string in parsed JSON (object keys included) that `text_problem` refuses, as
    (location, error type, message)."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            yield (loc, *problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            key_problem = text_problem(key) if isinstance(key, str) else None
            if key_problem is not None:
                yield ((*loc, key), *key_problem)
            yield from unstorable_strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_strings(item, (*loc, index))


def storable_text(value: str) -> str:
    """Refuse text PostgreSQL cannot store or Unicode forbids in interchange, naming the reason."""
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError(*problem)
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


class Change(BaseModel):
    """A PATCH body: a field left out stays as it is, and `null` clears only the fields named in
    `clearable` (the ones that may be empty). For any other field an explicit `null` is a 422
    `null_not_allowed`, never a NOT NULL violation in the database or a silent "no change"."""

    model_config = ConfigDict(extra="forbid")

    clearable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_clearable(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.clearable:
            raise PydanticCustomError("null_not_allowed", "may be left out, but not null: it cannot be cleared")
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The document says the same: `null` is offered only where it clears."""
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        for name, field in cls.model_fields.items():
            prop = target.get("properties", {}).get(field.alias or name)
            if name in cls.clearable or prop is None or "anyOf" not in prop:
                continue
            options = [option for option in prop["anyOf"] if option != {"type": "null"}]
            del prop["anyOf"]
            if prop.get("default", 0) is None:
                del prop["default"]
            if len(options) == 1:
                prop.update(options[0])
            else:
                prop["anyOf"] = options
        return json_schema
