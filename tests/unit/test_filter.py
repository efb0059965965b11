"""The run-search filter language: exact trees, exact error positions, and two properties
(printing any tree and parsing it back gives the tree; no text makes the parser fail with
anything but FilterSyntaxError)."""

from __future__ import annotations

import math
import random
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import FilterSyntaxError
from modelyard.tracking.filter import (
    And,
    Comparison,
    Entity,
    Expr,
    Not,
    Op,
    Or,
    OrderBy,
    parse_filter,
    parse_order_by,
)


def metric(key: str, op: Op, value: float | tuple[float, ...] | None) -> Comparison:
    return Comparison("metric", key, op, value)


def param(key: str, op: Op, value: str | tuple[str, ...] | None) -> Comparison:
    return Comparison("param", key, op, value)


def tag(key: str, op: Op, value: str | tuple[str, ...] | None) -> Comparison:
    return Comparison("tag", key, op, value)


def attr(key: str, op: Op, value: float | str | tuple[float | str, ...] | None) -> Comparison:
    return Comparison("attribute", key, op, value)


A = metric("a", ">", 1.0)
B = metric("b", ">", 2.0)
C = metric("c", ">", 3.0)
D = metric("d", ">", 4.0)
TEXT = {"a": "metrics.a > 1", "b": "metrics.b > 2", "c": "metrics.c > 3", "d": "metrics.d > 4"}


def fill(template: str) -> str:
    """Write boolean-structure cases as ``a AND (b OR c)``."""
    return re.sub(r"\b[abcd]\b", lambda m: TEXT[m[0]], template)


VALID: list[tuple[str, Expr]] = [
    # comparators, with == and <> normalised
    ("metrics.acc > 0.9", metric("acc", ">", 0.9)),
    ("metrics.acc >= 0.9", metric("acc", ">=", 0.9)),
    ("metrics.acc < 0.9", metric("acc", "<", 0.9)),
    ("metrics.acc <= 0.9", metric("acc", "<=", 0.9)),
    ("metrics.acc = 1", metric("acc", "=", 1.0)),
    ("metrics.acc == 1", metric("acc", "=", 1.0)),
    ("metrics.acc != 1", metric("acc", "!=", 1.0)),
    ("metrics.acc <> 1", metric("acc", "!=", 1.0)),
    ("metrics.acc>=0.5", metric("acc", ">=", 0.5)),
    ("metrics.a IN (1, 2.5, -3)", metric("a", "IN", (1.0, 2.5, -3.0))),
    ("metrics.a NOT IN (1)", metric("a", "NOT IN", (1.0,))),
    ("metrics.a IS NULL", metric("a", "IS NULL", None)),
    ("tags.x IS NOT NULL", tag("x", "IS NOT NULL", None)),
    ("params.opt LIKE 'ad%'", param("opt", "LIKE", "ad%")),
    ("tags.team ILIKE '%Vision%'", tag("team", "ILIKE", "%Vision%")),
    # numbers
    ("metrics.a = .5", metric("a", "=", 0.5)),
    ("metrics.a = +2", metric("a", "=", 2.0)),
    ("metrics.a = -1.5e-3", metric("a", "=", -0.0015)),
    ("metrics.a = 1E3", metric("a", "=", 1000.0)),
    ("metrics.a = 7.", metric("a", "=", 7.0)),
    ("metrics.a < inf", metric("a", "<", math.inf)),
    ("metrics.a > -INF", metric("a", ">", -math.inf)),
    # keys: unquoted punctuation, backticks, double quotes
    ("metrics.val/loss < 0.2", metric("val/loss", "<", 0.2)),
    ("metrics.a:b-c_d.e/f9 = 0", metric("a:b-c_d.e/f9", "=", 0.0)),
    ("metrics.1st = 0", metric("1st", "=", 0.0)),
    ("metrics.`f1 score` >= 0.8", metric("f1 score", ">=", 0.8)),
    ("params.\"my.lr\" = 'x'", param("my.lr", "=", "x")),
    ('tags."a b:c" = "d"', tag("a b:c", "=", "d")),
    # prefixes: aliases and case
    ("metric.acc = 1", metric("acc", "=", 1.0)),
    ("METRICS.acc = 1", metric("acc", "=", 1.0)),
    ("param.lr = 'x'", param("lr", "=", "x")),
    ("tag.x = 'y'", tag("x", "=", "y")),
    ("attributes.status = 'FAILED'", attr("status", "=", "FAILED")),
    ("attribute.user = 'ann'", attr("user", "=", "ann")),
    ("run.id = 'abc'", attr("run_id", "=", "abc")),
    ("attributes.`run_name` = 'x'", attr("run_name", "=", "x")),
    # keys keep their case
    ("metrics.ACC = 1", metric("ACC", "=", 1.0)),
    # bare attributes and their aliases
    ("id = 'r1'", attr("run_id", "=", "r1")),
    ("name LIKE 'base%'", attr("run_name", "LIKE", "base%")),
    ("Run_Name = 'x'", attr("run_name", "=", "x")),
    ("user ILIKE '%ann%'", attr("user", "ILIKE", "%ann%")),
    ("experiment_id = '3'", attr("experiment_id", "=", "3")),
    ("experiment_id = 3", attr("experiment_id", "=", "3")),
    ("parent_run_id IS NULL", attr("parent_run_id", "IS NULL", None)),
    ("description LIKE '%x%'", attr("description", "LIKE", "%x%")),
    ("start_time >= 1700000000000", attr("start_time", ">=", 1.7e12)),
    ("end_time IN (1, 2)", attr("end_time", "IN", (1.0, 2.0))),
    ("status = 'running'", attr("status", "=", "RUNNING")),
    ("status IN ('running', \"Failed\")", attr("status", "IN", ("RUNNING", "FAILED"))),
    ("status NOT IN ('KILLED')", attr("status", "NOT IN", ("KILLED",))),
    # bare numbers against strings keep the text typed
    ("params.lr = 0.1", param("lr", "=", "0.1")),
    ("params.lr = 1e-3", param("lr", "=", "1e-3")),
    ("params.epochs = 10", param("epochs", "=", "10")),
    ('params.lr = "0.1"', param("lr", "=", "0.1")),
    ("params.opt NOT IN ('sgd', 1)", param("opt", "NOT IN", ("sgd", "1"))),
    # string escapes; unknown escapes are kept for the LIKE matcher
    (r"tags.n = 'it\'s'", tag("n", "=", "it's")),
    (r'tags.n = "say \"hi\""', tag("n", "=", 'say "hi"')),
    (r"tags.n = 'a\nb\tc\rd'", tag("n", "=", "a\nb\tc\rd")),
    (r"tags.n = 'back\\slash'", tag("n", "=", "back\\slash")),
    (r"tags.n LIKE '50\%'", tag("n", "LIKE", "50\\%")),
    ("tags.n = ''", tag("n", "=", "")),
    ("tags.n = 'héllo wörld'", tag("n", "=", "héllo wörld")),
    # keywords in any case
    (
        "metrics.a in (1) and metrics.b not in (2)",
        And((metric("a", "IN", (1.0,)), metric("b", "NOT IN", (2.0,)))),
    ),
    (
        "tags.x is not null Or tags.y Is Null",
        Or((tag("x", "IS NOT NULL", None), tag("y", "IS NULL", None))),
    ),
    (
        "params.x like 'a' AND params.y iLiKe 'b'",
        And((param("x", "LIKE", "a"), param("y", "ILIKE", "b"))),
    ),
    ("not metrics.a > 1", Not(A)),
    # boolean structure, precedence NOT > AND > OR, flattening
    (fill("a AND b"), And((A, B))),
    (fill("a OR b"), Or((A, B))),
    (fill("a OR b AND c"), Or((A, And((B, C))))),
    (fill("a AND b OR c"), Or((And((A, B)), C))),
    (fill("(a OR b) AND c"), And((Or((A, B)), C))),
    (fill("NOT a AND b"), And((Not(A), B))),
    (fill("NOT a OR b"), Or((Not(A), B))),
    (fill("NOT (a AND b)"), Not(And((A, B)))),
    (fill("NOT NOT a"), Not(Not(A))),
    (fill("(a AND b) AND (c AND d)"), And((A, B, C, D))),
    (fill("a OR (b OR c) OR d"), Or((A, B, C, D))),
    (fill("a AND (b OR c) AND d"), And((A, Or((B, C)), D))),
    (fill("NOT (a AND b) AND c"), And((Not(And((A, B))), C))),
    (fill("((a))"), A),
    (fill("  a\n\tAND\nb  "), And((A, B))),
    ("metrics.a>1AND metrics.b>2", And((A, B))),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_filters_give_the_exact_tree(text: str, expected: Expr) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_blank_filter_means_no_filter(text: str | None) -> None:
    assert parse_filter(text) is None


def test_nan_is_a_metric_literal() -> None:
    parsed = parse_filter("metrics.loss != NaN")
    assert isinstance(parsed, Comparison)
    assert parsed.op == "!="
    assert isinstance(parsed.value, float)
    assert math.isnan(parsed.value)


COMPARATORS = "expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS)"
VALUE = "expected a value (a number or a quoted string)"
IDENTIFIER = "expected an identifier such as metrics.acc, params.lr or status, NOT or '('"
AFTER_VALUE = "expected AND, OR or the end of the filter"

ERRORS: list[tuple[str, int, str]] = [
    # missing pieces; at the end of input the position is len(text)
    ("metrics.acc", 11, "unexpected end of filter; " + COMPARATORS),
    ("metrics.acc >", 13, "unexpected end of filter; " + VALUE),
    ("metrics.acc > 1 AND", 19, "unexpected end of filter; " + IDENTIFIER),
    ("NOT", 3, IDENTIFIER),
    ("metrics.", 8, "expected a key such as acc"),
    ("metrics.a IS", 12, "expected NOT or NULL"),
    ("metrics.a IS NOT", 16, "expected NULL"),
    ("metrics.a NOT", 13, "expected IN"),
    ("metrics.a IN", 12, "expected '('"),
    ("metrics.a IN (1,", 16, VALUE),
    # unexpected tokens
    ("metrics.a > > 1", 12, "unexpected '>'; " + VALUE),
    ("metrics.a IN ()", 14, "unexpected ')'; " + VALUE),
    ("metrics.a IN (1,)", 16, VALUE),
    ("metrics.a IN 1", 13, "unexpected '1'; expected '('"),
    ("metrics.a IN (1 2)", 16, "expected ',' or ')'"),
    ("metrics.a IS 1", 13, "expected NOT or NULL"),
    ("AND metrics.a = 1", 0, "unexpected 'AND'; " + IDENTIFIER),
    ("metrics.a = 1 AND OR metrics.b = 1", 18, "unexpected 'OR'; " + IDENTIFIER),
    ("a OR b", 2, "unexpected 'OR'; " + COMPARATORS),
    ("status = RUNNING", 9, "unexpected 'RUNNING'; " + VALUE),
    ("metrics.a = infinity", 12, VALUE),
    ("metrics.a ! 1", 10, "unexpected character '!'; " + COMPARATORS),
    ("metrics.a => 1", 11, "unexpected '>'; " + VALUE),
    ("metrics .a = 1", 8, "unexpected '.a'; " + COMPARATORS),
    # trailing garbage
    ("metrics.acc > 1 foo", 16, "unexpected 'foo'; " + AFTER_VALUE),
    ("metrics.acc > 1 android", 16, "unexpected 'android'; " + AFTER_VALUE),
    ("metrics.a = 1 2", 14, "unexpected '2'; " + AFTER_VALUE),
    ("metrics.a = 1e", 13, "unexpected 'e'; " + AFTER_VALUE),
    ("status = 'RUNNING' $", 19, "unexpected character '$'"),
    # unbalanced parentheses
    ("(metrics.a > 1", 14, "missing ')'); expected AND, OR or ')'"),
    ("((metrics.a > 1)", 16, "missing ')')"),
    (
        "metrics.a > 1)",
        13,
        "unexpected ')' (unbalanced parentheses: nothing to close); " + AFTER_VALUE,
    ),
    (")", 0, "nothing to close"),
    ("()", 1, "unexpected ')'; " + IDENTIFIER),
    # unterminated strings and quoted keys point at the opening quote
    ("metrics.a = 'abc", 12, "unterminated string: no closing '"),
    ('params.x = "abc', 11, 'unterminated string: no closing "'),
    ("tags.x = 'it\\'", 9, "unterminated string"),
    ("metrics.`f1 score > 1", 8, "unterminated quoted key: no closing `"),
    ('params."lr = 1', 7, "unterminated string"),
    # identifiers
    (
        "metric_s.x = 1",
        0,
        "unknown prefix 'metric_s.'; expected metrics., params., tags. or attributes.",
    ),
    ("x.y = 1 AND metricz.a = 1", 0, "unknown prefix 'x.'"),
    ("metrics.a = 1 AND metricz.a = 1", 18, "unknown prefix 'metricz.'"),
    (
        "foo = 1",
        0,
        "unknown attribute 'foo'; known attributes: run_id, run_name, status, user, start_time, "
        "end_time, experiment_id, parent_run_id, description",
    ),
    ("attributes.foo = 'x'", 11, "unknown attribute 'foo'"),
    ("run.`run id` = 'x'", 4, "unknown attribute 'run id'"),
    ("metrics = 1", 0, "'metrics' needs a key, as in metrics.<key>"),
    ("Params = 'x'", 0, "'Params' needs a key, as in params.<key>"),
    ("metrics. acc = 1", 8, "expected a key right after 'metrics.'"),
    ("metrics.`` = 1", 8, "empty key"),
    ("metrics.`a(b` = 1", 10, "key `a(b` contains '('"),
    ('metrics."a\\"b" = 1', 8, "contains '\"'"),
    ("metrics.`a\tb` = 1", 10, "contains '\\t'"),
    # types
    ("metrics.acc LIKE 'x%'", 12, "LIKE does not apply to a metric, which is a number"),
    ("metrics.acc ILIKE 'x%'", 12, "ILIKE does not apply to a metric"),
    ("metrics.acc = 'high'", 14, "expected a number for a metric, not the string 'high'"),
    ('metrics.acc = "0.5"', 14, "expected a number for a metric"),
    ("metrics.acc IN (1, 'x')", 19, "expected a number for a metric, not the string 'x'"),
    ("start_time > 'yesterday'", 13, "expected a number for start_time (epoch milliseconds)"),
    ("end_time < inf", 11, "end_time takes epoch milliseconds, not inf"),
    ("start_time = nan", 13, "start_time takes epoch milliseconds, not nan"),
    ("start_time LIKE '1%'", 11, "LIKE does not apply to start_time (epoch milliseconds)"),
    (
        "status = 'done'",
        9,
        "status takes one of RUNNING, FINISHED, FAILED, KILLED, SCHEDULED, not 'done'",
    ),
    ("status = 1", 9, "status takes one of RUNNING"),
    ("status IN ('RUNNING', 'nope')", 22, "not 'nope'"),
    ("status < 'RUNNING'", 7, "status cannot be compared with <; use =, !=, IN or NOT IN"),
    ("status LIKE 'RUN%'", 7, "status cannot be compared with LIKE"),
    # nesting
    ("NOT " * 101 + "metrics.a = 1", 404, "the filter nests more than 100 levels deep"),
]


@pytest.mark.parametrize(("text", "position", "fragment"), ERRORS)
def test_errors_name_the_position_and_what_was_expected(
    text: str, position: int, fragment: str
) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    error = caught.value
    assert (error.position, error.expression) == (position, text)
    assert fragment in error.message
    assert error.details == {"position": position, "expression": text}


def test_error_message_draws_a_caret_under_the_offending_token() -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter("metrics.acc > 1 foo")
    assert caught.value.message.endswith("metrics.acc > 1 foo\n                ^")


def test_deep_parentheses_alone_do_not_count_as_nesting() -> None:
    assert parse_filter("(" * 500 + "metrics.a > 1" + ")" * 500) == A


def test_long_flat_conjunctions_parse() -> None:
    parsed = parse_filter(" AND ".join(["metrics.a > 1"] * 2000))
    assert isinstance(parsed, And)
    assert len(parsed.parts) == 2000


# --- order by -------------------------------------------------------------------------------


def test_order_by_items() -> None:
    items = ["metrics.acc DESC", "start_time", "params.lr asc", "tags.`a b` Desc", " name "]
    assert parse_order_by(items) == [
        OrderBy("metric", "acc", descending=True),
        OrderBy("attribute", "start_time", descending=False),
        OrderBy("param", "lr", descending=False),
        OrderBy("tag", "a b", descending=True),
        OrderBy("attribute", "run_name", descending=False),
    ]


@pytest.mark.parametrize("items", [None, []])
def test_no_order_by(items: list[str] | None) -> None:
    assert parse_order_by(items) == []


@pytest.mark.parametrize(
    ("item", "position", "fragment"),
    [
        (
            "metrics.acc DOWN",
            12,
            "unexpected 'DOWN'; expected ASC, DESC or the end of the order-by item",
        ),
        ("metrics.acc DESC extra", 17, "expected the end of the order-by item"),
        ("metrics.a > 1", 10, "unexpected '>'; expected ASC, DESC or the end"),
        ("", 0, "unexpected end of order-by item; expected an identifier"),
        ("foo DESC", 0, "unknown attribute 'foo'"),
        ("metric_s.x", 0, "unknown prefix 'metric_s.'"),
        ("metrics.`x", 8, "unterminated quoted key"),
    ],
)
def test_order_by_errors_point_into_the_item(item: str, position: int, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_order_by(["metrics.ok", item])
    assert (caught.value.position, caught.value.expression) == (position, item)
    assert fragment in caught.value.message


def test_importing_the_module_does_not_import_lark() -> None:
    code = "import sys, modelyard.tracking.filter; print('lark' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# --- properties -----------------------------------------------------------------------------

UNQUOTED_KEY = re.compile(r"[A-Za-z0-9_\-/.:]+")
KEYS = st.text(alphabet="abcXYZ019_-./: ", min_size=1, max_size=8)  # spaces force quoting
STRING_VALUES = st.text(max_size=8)  # anything at all, escapes included
NUMBERS = st.floats(allow_nan=False)
TIMES = st.floats(allow_nan=False, allow_infinity=False)
STRING_ATTRIBUTES = ["run_id", "run_name", "user", "experiment_id", "parent_run_id", "description"]
STATUSES = ["RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED"]
ORDERING: list[Op] = ["=", "!=", "<", "<=", ">", ">="]
MATCHING: list[Op] = ["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE"]


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    kind = draw(st.sampled_from(["metric", "param", "tag", "attribute", "time", "status"]))
    entity: Entity
    if kind in ("metric", "param", "tag"):
        entity, key = cast("Entity", kind), draw(KEYS)
    elif kind == "time":
        entity, key = "attribute", draw(st.sampled_from(["start_time", "end_time"]))
    elif kind == "status":
        entity, key = "attribute", "status"
    else:
        entity, key = "attribute", draw(st.sampled_from(STRING_ATTRIBUTES))
    by_kind: dict[str, st.SearchStrategy[float | str]] = {
        "metric": NUMBERS,
        "time": TIMES,
        "status": st.sampled_from(STATUSES),
    }
    values = by_kind.get(kind, STRING_VALUES)
    single = (
        ["=", "!="] if kind == "status" else ORDERING if kind in ("metric", "time") else MATCHING
    )
    shape = draw(st.sampled_from(["single", "list", "null"]))
    if shape == "null":
        return Comparison(entity, key, draw(st.sampled_from(["IS NULL", "IS NOT NULL"])), None)
    if shape == "list":
        items = tuple(draw(st.lists(values, min_size=1, max_size=3)))
        return Comparison(entity, key, draw(st.sampled_from(["IN", "NOT IN"])), items)
    return Comparison(entity, key, draw(st.sampled_from(single)), draw(values))


def _joined(kind: type[And] | type[Or], parts: list[Expr]) -> Expr:
    flat: list[Expr] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, kind) else (part,))
    return kind(tuple(flat))


EXPRESSIONS: st.SearchStrategy[Expr] = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda ps: _joined(And, ps)),
        st.lists(inner, min_size=2, max_size=3).map(lambda ps: _joined(Or, ps)),
        inner.map(Not),
    ),
    max_leaves=12,
)


class Printer:
    """Writes a tree back as filter text, choosing at random among the spellings that
    mean the same thing (keyword case, aliases, quoting, redundant parentheses)."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def keyword(self, word: str) -> str:
        return self.rnd.choice([word, word.lower(), word.title()])

    def expr(self, node: Expr, min_level: int = 0) -> str:
        if isinstance(node, Comparison):
            level, text = 3, self.comparison(node)
        elif isinstance(node, Not):
            level, text = 2, f"{self.keyword('NOT')} {self.expr(node.part, 2)}"
        elif isinstance(node, And):
            level, text = 1, f" {self.keyword('AND')} ".join(self.expr(p, 2) for p in node.parts)
        else:
            level, text = 0, f" {self.keyword('OR')} ".join(self.expr(p, 1) for p in node.parts)
        if level < min_level or self.rnd.random() < 0.1:
            return f"({text})"
        return text

    def comparison(self, node: Comparison) -> str:
        ident = self.identifier(node.entity, node.key)
        if node.op in ("IS NULL", "IS NOT NULL"):
            return f"{ident} {' '.join(self.keyword(w) for w in node.op.split())}"
        if isinstance(node.value, tuple):
            values = ", ".join(self.value(v) for v in node.value)
            words = " ".join(self.keyword(w) for w in node.op.split())
            return f"{ident} {words} ({values})"
        assert node.value is not None
        spellings = {"=": ["=", "=="], "!=": ["!=", "<>"]}.get(node.op, [self.keyword(node.op)])
        return f"{ident} {self.rnd.choice(spellings)} {self.value(node.value)}"

    def identifier(self, entity: Entity, key: str) -> str:
        if entity == "attribute":
            aliases = {"run_id": ["run_id", "id"], "run_name": ["run_name", "name"]}
            name = self.rnd.choice(aliases.get(key, [key]))
            if self.rnd.random() < 0.5:
                return name
            prefix = self.rnd.choice(["attributes", "attribute", "run"])
        else:
            prefix = self.rnd.choice(
                {
                    "metric": ["metrics", "metric"],
                    "param": ["params", "param"],
                    "tag": ["tags", "tag"],
                }[entity]
            )
            name = key
        prefix = self.rnd.choice([prefix, prefix.upper()])
        if UNQUOTED_KEY.fullmatch(name) and self.rnd.random() < 0.7:
            return f"{prefix}.{name}"
        return f"{prefix}.`{name}`" if self.rnd.random() < 0.5 else f'{prefix}."{name}"'

    def value(self, value: float | str) -> str:
        if isinstance(value, float):
            return repr(value)
        quote = self.rnd.choice(["'", '"'])
        return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


@settings(max_examples=300, deadline=timedelta(seconds=2))
@given(EXPRESSIONS, st.randoms(use_true_random=False))
def test_printed_trees_parse_back_to_themselves(tree: Expr, rnd: random.Random) -> None:
    text = Printer(rnd).expr(tree)
    assert parse_filter(text) == tree, text


FRAGMENTS = st.sampled_from(
    [
        "metrics.", "params.", "tags.", "attributes.", "acc", "`f1 score`", '"k"', "status",
        "start_time", "foo", " ", "(", ")", ",", "=", "!=", "<>", "<", ">=", "AND", "OR",
        "NOT", "LIKE", "IN", "IS", "NULL", "1", "-2.5e3", "nan", "-inf", "'x'", "'",
        '"', "`", "\\", "$", "é", "\n",
    ]
)  # fmt: skip
NEAR_MISSES = st.lists(FRAGMENTS, max_size=15).map("".join)


def _only_filter_syntax_errors(call: Callable[[str], object], text: str) -> None:
    position = 0
    try:
        call(text)
    except FilterSyntaxError as error:
        position = error.position
    assert 0 <= position <= len(text)


@settings(max_examples=500, deadline=timedelta(seconds=2))
@given(st.one_of(st.text(), NEAR_MISSES))
def test_any_text_parses_or_raises_filter_syntax_error(text: str) -> None:
    _only_filter_syntax_errors(parse_filter, text)
    _only_filter_syntax_errors(lambda item: parse_order_by([item]), text)
