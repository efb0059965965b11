"""JSON request bodies, read within what a scoring request can need.

One reader for ``/invocations`` and ``/feedback``. Python's ``json`` accepts values no
model input can hold, and some of them broke the server after parsing:

- nesting: a body nested a few thousand levels deep makes ``json.loads`` raise
  ``RecursionError`` (a 500). The request formats need a handful of levels (a wrapper,
  rows, a value that is a small tensor), so anything deeper than ``MAX_DEPTH`` is refused;
- numbers: ``1e400`` (and ``Infinity``) parse as an infinite float and an integer literal
  of any length as a Python int, which overflows NumPy's float64 or int64 later (a 500,
  or a silently wrong value). A float must be finite and an integer must fit int64.
  ``NaN`` stays accepted: it is how a client says "missing".

Each refusal is a ``RefusedValue`` (400) carrying the JSON path of the value, which the
caller can put in its own words ("row 3, column 'a'").

Checking costs one pass over the parsed containers, with C loops over their elements
(``set(map(type, ...))``, ``in``, ``max``): about a tenth of ``json.loads`` on a large
body and a few microseconds on a one-row one. The positions of the errors that
``json.loads`` raises itself (too deep, an integer over Python's 4,300 digits) are found
again by a slower token scan, on the error path only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from modelyard.errors import InvalidInput

# Arrays and objects inside one another: a wrapper, rows, then a value up to a 29-D tensor.
MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INFINITIES = (math.inf, -math.inf)
_PATH_SHOWN = 6  # components of a too-deep path worth printing

Path = tuple[str | int, ...]


def render_path(path: Path) -> str:
    """``(3, "a", 0)`` -> ``[3]["a"][0]`` (``$`` for the whole body); long paths end in ``...``."""
    if not path:
        return "$"
    shown = "".join(f"[{json.dumps(p)}]" for p in path[:_PATH_SHOWN])
    return shown + ("..." if len(path) > _PATH_SHOWN else "")


class RefusedValue(InvalidInput):
    """A JSON value no model input can hold: too deeply nested, or a number out of range.

    ``path`` is where it is; ``where`` (the path in the caller's words, e.g. "row 3,
    column 'a'") defaults to the rendered path.
    """

    def __init__(self, reason: str, path: Path, hint: str, where: str | None = None) -> None:
        self.reason, self.path, self.hint = reason, path, hint
        rendered = render_path(path)
        at = rendered if where is None else f"{where} (at {rendered})"
        super().__init__(f"{at}: {reason}; {hint}", details={"path": rendered})

    def located(self, where: str) -> RefusedValue:
        """The same refusal, worded with ``where``."""
        return RefusedValue(self.reason, self.path, self.hint, where)


def too_deep(path: Path) -> RefusedValue:
    return RefusedValue(
        f"arrays and objects nest more than {MAX_DEPTH} levels deep",
        path,
        "a request needs a few levels (rows, then values); send flat values",
    )


def bad_float(path: Path) -> RefusedValue:
    return RefusedValue(
        "this number does not fit a 64-bit float (it is infinite)",
        path,
        "send a finite number, or null (or NaN) for a missing value",
    )


def bad_integer(path: Path) -> RefusedValue:
    return RefusedValue(
        f"this integer does not fit a 64-bit integer ({INT64_MIN} to {INT64_MAX})",
        path,
        "send a smaller number, or a float such as 1e20 if a float column is meant",
    )


def load_json(body: bytes | bytearray) -> Any:
    """The JSON value in ``body``, checked for depth and numbers.

    A ``bytearray`` is emptied once decoded: the caller's buffer is released before the
    Python values are built, so the body is not held twice (bytes, then objects).
    """
    try:
        text = body.decode(json.detect_encoding(body))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    if isinstance(body, bytearray):
        body.clear()
    try:
        value = json.loads(text)
    except RecursionError:
        raise too_deep(_locate(text, _opens_too_deep)) from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # over Python's 4,300 digits
            raise bad_integer(_locate(text, _huge_integer)) from None
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    del text
    if type(value) is list or type(value) is dict:
        _check(value, 1, ())
    elif type(value) is float and value in _INFINITIES:
        raise bad_float(())
    elif type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        raise bad_integer(())
    return value


def _check(container: list[Any] | dict[str, Any], depth: int, path: Path) -> None:
    """Refuse the first value under ``container`` (at ``depth``) that no input can hold."""
    values: Iterable[Any] = container.values() if type(container) is dict else container
    kinds = set(map(type, values))
    if float in kinds and any(inf in values for inf in _INFINITIES):
        key = _first(container, lambda v: type(v) is float and v in _INFINITIES)
        raise bad_float((*path, key))
    if int in kinds:
        ints = values if len(kinds) == 1 else [v for v in values if type(v) is int]
        if max(ints) > INT64_MAX or min(ints) < INT64_MIN:
            key = _first(container, lambda v: type(v) is int and not INT64_MIN <= v <= INT64_MAX)
            raise bad_integer((*path, key))
    if list in kinds or dict in kinds:
        pairs = container.items() if type(container) is dict else enumerate(container)
        for key, value in pairs:
            if type(value) is list or type(value) is dict:
                if depth == MAX_DEPTH:
                    raise too_deep((*path, key))
                _check(value, depth + 1, (*path, key))


def _first(container: list[Any] | dict[str, Any], bad: Callable[[Any], bool]) -> str | int:
    pairs = container.items() if type(container) is dict else enumerate(container)
    return next(key for key, value in pairs if bad(value))


# The error path: where, in the text, json.loads gave up. Strings are matched whole (so
# brackets inside them do not count), numbers whole, and structure one character at a time.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9]+[.eE0-9+-]*|[\[\]{},:]')


def _opens_too_deep(token: str, depth: int) -> bool:
    return token in "[{" and depth >= MAX_DEPTH


def _huge_integer(token: str, depth: int) -> bool:
    return token[-1].isdigit() and token.lstrip("-").isdigit() and len(token) > 4300


def _locate(text: str, found: Callable[[str, int], bool]) -> Path:
    """The path of the first token of ``text`` for which ``found(token, depth)`` holds."""
    stack: list[list[Any]] = []  # per open container: [its opening bracket, key or index]
    last_string = ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if found(token, len(stack)):
            break
        if token in "[{":
            stack.append([token, 0 if token == "[" else ""])
        elif token in "]}":
            if stack:
                stack.pop()
        elif token == ",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
        elif token == ":":
            if stack:
                stack[-1][1] = _key(last_string)
        elif token[0] == '"':
            last_string = token
    return tuple(frame[1] for frame in stack)


def _key(token: str) -> str:
    try:
        return str(json.loads(token))
    except ValueError:
        return token.strip('"')
