"""The field types requests are made of, each bounded where the store's columns are.

Every field of a request says how much it may hold: names by a pattern and a length,
texts by a length, integers by the range of the column that keeps them, collections by a
count. The bounds are written here once and read by every adapter: pydantic checks them,
the OpenAPI document states them, the CLI reads its defaults and limits from them. A name
that breaks its pattern is refused with a sentence and an example (``names_sentence``), not
with the regular expression.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MAX = 2**31 - 1
# Milliseconds since the epoch up to the year 9999: every date a person means.
MAX_TIMESTAMP_MS = 253_402_300_799_999

MAX_NAME_LENGTH = 250
MAX_LABEL_LENGTH = 1_000  # a source URI, a path, a filter
MAX_DESCRIPTION_LENGTH = 65_536
MAX_TEXT_LENGTH = 1_048_576  # a failure's traceback, an error message
MAX_LOG_LENGTH = 16 * 1_048_576  # a step's captured output (kept as a blob)
MAX_ENTRIES = 10_000  # items of a list or keys of a mapping in one request


def whole(*, ge: int, le: int) -> Any:
    """The constraints of an integer field: its range, and nothing but an integer (JSON's
    ``true`` is not 1; a URL's "5" is made a number by the REST adapter first)."""
    return Field(ge=ge, le=le, strict=True)


# How the wire spells the numbers JSON has no literal for (``Model``'s ser_json_inf_nan).
NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})


def _number_only(value: Any) -> Any:
    if isinstance(value, bool) or (isinstance(value, str) and value not in NON_FINITE):
        raise ValueError(f"must be a number, not {value!r}")
    return value


# Nothing but a number: not JSON's true, not a string (but the spellings of NaN and the
# infinities, which are how they travel). ``Annotated[float, NUMBER_ONLY, number(...)]``.
NUMBER_ONLY = BeforeValidator(_number_only)


def number(*, ge: float | None = None, le: float | None = None, gt: float | None = None) -> Any:
    """The range of a number field (with ``NUMBER_ONLY`` beside it)."""
    return Field(ge=ge, le=le, gt=gt)


Int64 = Annotated[int, whole(ge=INT64_MIN, le=INT64_MAX)]
Count = Annotated[int, whole(ge=0, le=INT64_MAX)]
TimestampMs = Annotated[int, whole(ge=0, le=MAX_TIMESTAMP_MS)]
# Version numbers live in 32-bit columns.
VersionNumber = Annotated[int, whole(ge=1, le=INT32_MAX)]
# true or false, never 1 or "yes".
Flag = Annotated[bool, Field(strict=True)]

Sha256 = Annotated[str, Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
Label = Annotated[str, Field(max_length=MAX_LABEL_LENGTH)]
ShortText = Annotated[str, Field(max_length=MAX_NAME_LENGTH)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH)]
Text = Annotated[str, Field(max_length=MAX_TEXT_LENGTH)]
JsonObject = Annotated[dict[str, Any], Field(max_length=MAX_ENTRIES)]
Tags = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)], Label],
    Field(max_length=MAX_ENTRIES),
]

# pattern -> (the rule in words, examples): how a broken name is explained.
_NAME_RULES: dict[str, tuple[str, list[str]]] = {}


def name_field(pattern: str, *, max_length: int, rule: str, example: str) -> Any:
    """The constraints of a name (``Annotated[str, name_field(...)]``): ``pattern`` and
    ``max_length`` checked, and explained as ``rule`` with ``example`` when broken (in
    errors, and as the field's description in OpenAPI)."""
    examples = _NAME_RULES.setdefault(pattern, (rule, []))[1]
    if example not in examples:
        examples.append(example)  # names of one pattern (endpoints, deployments) share it
    return Field(
        min_length=1,
        max_length=max_length,
        pattern=pattern,
        description=f"{rule}, e.g. {example}",
        examples=[example],
    )


def names_sentence(error: dict[str, Any]) -> str | None:
    """The sentence for a pydantic ``string_pattern_mismatch`` of a name, if it is one."""
    if error.get("type") != "string_pattern_mismatch":
        return None
    found = _NAME_RULES.get(str((error.get("ctx") or {}).get("pattern", "")))
    if found is None:
        return None
    rule, examples = found
    return f"{error.get('input')!r} is not a valid name: use {rule}, e.g. {' or '.join(examples)}"


# A workspace's name: every area's objects belong to one, and governance gives roles in it.
WorkspaceName = Annotated[
    str,
    name_field(
        r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=64,
        rule="letters, digits, '.', '_' and '-', starting with a letter or digit",
        example="team-a",
    ),
]
