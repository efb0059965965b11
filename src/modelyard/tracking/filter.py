"""The run-search filter language, parsed into a small typed AST.

A filter is a boolean expression over comparisons::

    metrics.acc > 0.9 AND params.optimizer = 'adam'
    metrics.`f1 score` >= 0.8 OR NOT tags."team.name" LIKE 'vision%'
    status IN ('RUNNING', 'scheduled') AND start_time > 1700000000000
    metrics.val/loss < 0.2 AND (params.lr = 0.1 OR params.lr = 0.01)
    tags.reviewed IS NULL AND run_name ILIKE '%baseline%'

Identifiers are ``metrics.<key>``, ``params.<key>``, ``tags.<key>`` or ``attributes.<name>``;
the singular forms (``metric.``, ``param.``, ``tag.``, ``attribute.``) and ``run.`` are aliases,
and an attribute may also be written bare (``status``). Prefixes and attribute names are
case-insensitive; keys are not. An unquoted key is ``[A-Za-z0-9_-/.:]+``; a key quoted with
backticks or double quotes may also hold spaces. Attributes: run_id (alias ``id``), run_name
(alias ``name``), status, user, start_time, end_time, experiment_id, parent_run_id, description.

Comparators: ``= == != <> < <= > >= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL``; ``==`` reads as
``=`` and ``<>`` as ``!=``. ``IN (...)`` takes a non-empty list of literals. Literals are numbers
(``3``, ``-0.5``, ``1e-3``, ``inf``, ``-inf``, ``nan``) and strings in single or double quotes
with backslash escapes (``\\n``, ``\\t``, ``\\r``, ``\\\\``, ``\\'``, ``\\"``; any other escape is
kept as written, so ``'50\\%'`` reaches the LIKE matcher intact). ``NOT`` binds tighter than
``AND``, which binds tighter than ``OR``; keywords are case-insensitive.

Types are checked here, so a search fails with a position instead of matching nothing:
metrics, start_time and end_time take numbers; params, tags and the other attributes take
strings (a bare number is kept as the text the user typed: ``params.lr = 0.1`` means ``"0.1"``);
status takes RUNNING, FINISHED, FAILED, KILLED or SCHEDULED, in any case.

The grammar is an LALR grammar for lark, compiled on first use and cached; lark is imported
only then so that ``import modelyard`` stays fast.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from modelyard.errors import FilterSyntaxError

if TYPE_CHECKING:
    import lark

__all__ = [
    "And", "Comparison", "Entity", "Expr", "Not", "Op", "Or", "OrderBy", "parse_filter",
    "parse_order_by",
]  # fmt: skip

Entity: TypeAlias = Literal["metric", "param", "tag", "attribute"]
Op: TypeAlias = Literal[
    "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"
]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One test on one field of a run; ``value`` is None for the NULL tests."""

    entity: Entity
    key: str
    op: Op
    value: float | str | tuple[float | str, ...] | None


@dataclass(frozen=True, slots=True)
class And:
    """All parts hold; never directly contains another And."""

    parts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one part holds; never directly contains another Or."""

    parts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The part does not hold (a run without the field fails ``tags.x = 'y'``, so passes this)."""

    part: Expr


Expr: TypeAlias = Comparison | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One sort key of a run search, e.g. ``metrics.acc DESC``."""

    entity: Entity
    key: str
    descending: bool


_GRAMMAR = r"""
filter: or_expr
order_by: ident (ASC | DESC)?

?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: NOT not_expr -> negation
         | comparison
         | "(" or_expr ")"

comparison: ident OP value
          | ident LIKE value
          | ident ILIKE value
          | ident NOT? IN "(" value ("," value)* ")"
          | ident IS NOT? NULL

ident: NAME | PREFIX key
?key: KEY | BQ_KEY | DQ_STRING
?value: NUMBER | SQ_STRING | DQ_STRING

PREFIX.3: /[A-Za-z_][A-Za-z0-9_]*\./
NAME: /(?!(?:and|or|not|i?like|in|is|null|asc|desc)\b)[A-Za-z_][A-Za-z0-9_]*/i
KEY: /[A-Za-z0-9_\-\/.:]+/
BQ_KEY: /`[^`]*`/
SQ_STRING: /'(?:[^'\\]|\\.)*'/s
DQ_STRING: /"(?:[^"\\]|\\.)*"/s
NUMBER: /[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf\b|nan\b)/i
OP: /==|!=|<>|<=|>=|=|<|>/
_AND.2: /and\b/i
_OR.2: /or\b/i
NOT.2: /not\b/i
LIKE.2: /like\b/i
ILIKE.2: /ilike\b/i
IN.2: /in\b/i
IS.2: /is\b/i
NULL.2: /null\b/i
ASC.2: /asc\b/i
DESC.2: /desc\b/i

%ignore /\s+/
"""
# Keywords are regexes ending in \b, and NAME refuses them, because lark's contextual lexer
# only tries the terminals the parser can take next: with plain strings it would read
# "android" as AND + "roid" after a value, and a misplaced "AND" as an attribute name.

_PREFIXES: dict[str, Entity] = {
    "metrics": "metric", "metric": "metric", "params": "param", "param": "param", "tags": "tag",
    "tag": "tag", "attributes": "attribute", "attribute": "attribute", "run": "attribute",
}  # fmt: skip
_ATTRIBUTES = (
    "run_id", "run_name", "status", "user", "start_time", "end_time", "experiment_id",
    "parent_run_id", "description",
)  # fmt: skip
_ATTRIBUTE_ALIASES = {"id": "run_id", "name": "run_name"}
_NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED")
_OPS: dict[str, Op] = {
    "=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
    "LIKE": "LIKE", "ILIKE": "ILIKE",
}  # fmt: skip
_QUOTED_KEY_CHARS = re.compile(r"[A-Za-z0-9_\-/.: ]")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
# Deep enough for any filter a person writes, shallow enough that building the AST
# recursively cannot hit Python's recursion limit on hostile input.
_MAX_DEPTH = 100


@functools.cache
def _parser() -> lark.Lark:
    import lark  # deferred: lark costs import time that most commands never need

    return lark.Lark(
        _GRAMMAR, parser="lalr", start=["filter", "order_by"], propagate_positions=True
    )


def parse_filter(text: str | None) -> Expr | None:
    """Parse a run-search filter; None or blank text means "no filter" and gives None."""
    if text is None or not text.strip():
        return None
    tree = _parse(text, "filter", "filter")
    return _expr(tree.children[0], text, 0)


def parse_order_by(items: Sequence[str] | None) -> list[OrderBy]:
    """Parse order-by items such as ``"metrics.acc DESC"``; errors point into the one item."""
    result = []
    for item in items or ():
        tree = _parse(item, "order_by", "order-by item")
        children: list[Any] = tree.children
        entity, key = _ident(children[0], item)
        descending = len(children) > 1 and children[1].type == "DESC"
        result.append(OrderBy(entity=entity, key=key, descending=descending))
    return result


def _parse(text: str, start: str, what: str) -> lark.Tree[Any]:
    import lark  # deferred: see _parser

    try:
        return _parser().parse(text, start=start)
    except lark.UnexpectedInput as err:
        raise _syntax_error(err, text, start, what) from None


def _expr(node: lark.Tree[Any], text: str, depth: int) -> Expr:
    if depth > _MAX_DEPTH:
        message = f"the filter nests more than {_MAX_DEPTH} levels deep"
        raise FilterSyntaxError(message, expression=text, position=node.meta.start_pos)
    kind = node.data
    if kind == "comparison":
        return _comparison(node.children, text)
    if kind == "negation":
        return Not(_expr(node.children[1], text, depth + 1))
    parts = [_expr(child, text, depth + 1) for child in node.children]
    return And(_flatten(parts, And)) if kind == "and_expr" else Or(_flatten(parts, Or))


def _flatten(parts: list[Expr], kind: type[And] | type[Or]) -> tuple[Expr, ...]:
    """Lift the parts of nested Ands into their And parent (and Ors into Or), so that
    ``(a AND b) AND c`` and ``a AND b AND c`` give the same tree."""
    return tuple(p for part in parts for p in (part.parts if isinstance(part, kind) else (part,)))


def _comparison(children: list[Any], text: str) -> Comparison:
    entity, key = _ident(children[0], text)
    head: lark.Token = children[1]
    if head.type == "IS":
        op: Op = "IS NOT NULL" if len(children) == 4 else "IS NULL"
        return Comparison(entity, key, op, None)
    if head.type in ("IN", "NOT"):
        op = "NOT IN" if head.type == "NOT" else "IN"
        values = children[3:] if head.type == "NOT" else children[2:]
        _check_operator(entity, key, op, head, text)
        return Comparison(entity, key, op, tuple(_value(entity, key, v, text) for v in values))
    op = _OPS[head.value.upper()]
    _check_operator(entity, key, op, head, text)
    return Comparison(entity, key, op, _value(entity, key, children[2], text))


def _ident(node: lark.Tree[Any], text: str) -> tuple[Entity, str]:
    children: list[Any] = node.children
    first: lark.Token = children[0]
    if first.type == "NAME":
        return "attribute", _attribute(first.value, _at(first), text)
    key_token: lark.Token = children[1]
    prefix = first.value[:-1]
    entity = _PREFIXES.get(prefix.lower())
    if entity is None:
        raise FilterSyntaxError(
            f"unknown prefix '{prefix}.'; expected metrics., params., tags. or attributes.",
            expression=text,
            position=_at(first),
        )
    if key_token.start_pos != first.end_pos:
        raise FilterSyntaxError(
            f"expected a key right after '{first.value}' (no space)",
            expression=text,
            position=_at(first) + len(first),
        )
    key = _key(key_token, text)
    if entity == "attribute":
        return entity, _attribute(key, _at(key_token), text)
    return entity, key


def _key(token: lark.Token, text: str) -> str:
    if token.type == "KEY":
        return str(token.value)
    key = token.value[1:-1] if token.type == "BQ_KEY" else _unescape(token.value)
    if not key:
        raise FilterSyntaxError("empty key", expression=text, position=_at(token))
    for index, char in enumerate(key):
        if not _QUOTED_KEY_CHARS.match(char):
            # Without escapes the decoded key lines up with the text; with them, point at the quote.
            plain = "\\" not in token.value
            raise FilterSyntaxError(
                f"key {token.value} contains {char!r}; keys may hold letters, digits, "
                "spaces and _ - . / :",
                expression=text,
                position=_at(token) + (1 + index if plain else 0),
            )
    return key


def _attribute(name: str, position: int, text: str) -> str:
    lowered = name.lower()
    lowered = _ATTRIBUTE_ALIASES.get(lowered, lowered)
    if lowered in _ATTRIBUTES:
        return lowered
    if lowered in _PREFIXES:
        message = f"'{name}' needs a key, as in {lowered}.<key>"
    else:
        message = f"unknown attribute '{name}'; known attributes: {', '.join(_ATTRIBUTES)}"
    raise FilterSyntaxError(message, expression=text, position=position)


def _subject(entity: Entity, key: str) -> str | None:
    """Name a numeric field (a metric, start_time, end_time) for messages; None otherwise."""
    if entity == "metric":
        return "a metric"
    if entity == "attribute" and key in _NUMERIC_ATTRIBUTES:
        return f"{key} (epoch milliseconds)"
    return None


def _check_operator(entity: Entity, key: str, op: Op, token: lark.Token, text: str) -> None:
    numeric = _subject(entity, key)
    if numeric is not None and op in ("LIKE", "ILIKE"):
        message = (
            f"{op} does not apply to {numeric}, which is a number; use =, !=, <, <=, >, >= or IN"
        )
    elif entity == "attribute" and key == "status" and op not in ("=", "!=", "IN", "NOT IN"):
        message = f"status cannot be compared with {op}; use =, !=, IN or NOT IN"
    else:
        return
    raise FilterSyntaxError(message, expression=text, position=_at(token))


def _value(entity: Entity, key: str, token: lark.Token, text: str) -> float | str:
    numeric = _subject(entity, key)
    is_number = token.type == "NUMBER"
    if numeric is not None:
        if not is_number:
            message = f"expected a number for {numeric}, not the string {token.value}"
            raise FilterSyntaxError(message, expression=text, position=_at(token))
        number = float(token.value)
        if entity == "attribute" and not math.isfinite(number):
            message = f"{key} takes epoch milliseconds, not {token.value}"
            raise FilterSyntaxError(message, expression=text, position=_at(token))
        return number
    # A bare number compared to a string field keeps the text typed: "1e-3" stays "1e-3".
    string = str(token.value) if is_number else _unescape(token.value)
    if entity == "attribute" and key == "status":
        if is_number or string.upper() not in _STATUSES:
            message = f"status takes one of {', '.join(_STATUSES)}, not {token.value}"
            raise FilterSyntaxError(message, expression=text, position=_at(token))
        return string.upper()
    return string


def _at(token: lark.Token) -> int:
    """Where a token starts; lark types it optional only for tokens built by hand."""
    return token.start_pos or 0


def _unescape(quoted: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m[1], m[0]), quoted[1:-1])


def _syntax_error(err: lark.UnexpectedInput, text: str, start: str, what: str) -> FilterSyntaxError:
    """Turn lark's error into one that says, in words, what was expected where."""
    import lark  # deferred: see _parser

    if isinstance(err, lark.UnexpectedCharacters):
        position = err.pos_in_stream or 0  # typed optional, always set by the lexer
        char = text[position]
        if char in "'\"`":
            message = f"unterminated {'quoted key' if char == '`' else 'string'}: no closing {char}"
            return FilterSyntaxError(message, expression=text, position=position)
        found = f"character {char!r}"
    elif isinstance(err, lark.UnexpectedToken) and err.token.type != "$END":
        position = _at(err.token)
        shown = str(err.token.value)
        found = repr(shown if len(shown) <= 30 else shown[:27] + "...")
    else:
        position = len(text)
        found = f"end of {what}"
    expected, open_parens = _replay(err, text[:position], start)
    if position == len(text) and open_parens and "RPAR" in expected:
        found += " (unbalanced parentheses: missing ')')"
    elif text.startswith(")", position) and not open_parens:
        found += " (unbalanced parentheses: nothing to close)"
    message = f"unexpected {found}; expected {_describe(expected, what)}"
    return FilterSyntaxError(message, expression=text, position=position)


def _replay(err: lark.UnexpectedInput, prefix: str, start: str) -> tuple[set[str], int]:
    """The terminals that could follow ``prefix`` (the text before the error), and how many
    parentheses it leaves open.

    LALR tables merge lookaheads, and the parser may already have reduced on the bad token, so
    lark's own ``expected`` can name terminals that do not fit here (a ',' after a comparison).
    Replaying the prefix and asking the interactive parser what it accepts gives the exact set.
    """
    import lark  # deferred: see _parser

    try:
        cursor = _parser().parse_interactive(prefix, start=start)
        tokens = cursor.exhaust_lexer()
    except lark.UnexpectedInput:
        return set(getattr(err, "expected", None) or ()), 0
    depth = sum((t.type == "LPAR") - (t.type == "RPAR") for t in tokens)
    accepted: set[str] = cursor.accepts()  # type: ignore[no-untyped-call]  # lark leaves it bare
    return accepted, depth


_COMPARATOR_WORDS = "a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS)"
_WORDS = (
    ("KEY", "a key such as acc, val/loss or `f1 score`"),
    ("NAME", "an identifier such as metrics.acc, params.lr or status"),
    ("NUMBER", "a value (a number or a quoted string)"),
    ("NOT", "NOT"),
    ("IN", "IN"),
    ("NULL", "NULL"),
    ("LPAR", "'('"),
    ("COMMA", "','"),
    ("_AND", "AND"),
    ("_OR", "OR"),
    ("RPAR", "')'"),
    ("ASC", "ASC"),
    ("DESC", "DESC"),
)


def _describe(expected: set[str], what: str) -> str:
    words = [_COMPARATOR_WORDS] if "OP" in expected else []
    for terminal, word in _WORDS:
        # With OP expected, NOT and IN are part of "a comparison operator".
        if terminal in expected and not ("OP" in expected and terminal in ("NOT", "IN")):
            words.append(word)
    if "$END" in expected:
        words.append(f"the end of the {what}")
    if len(words) < 2:
        return words[0] if words else "something else"
    return ", ".join(words[:-1]) + " or " + words[-1]
