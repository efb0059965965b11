"""Gates: ``auc >= baseline + 0.01``, the rule a candidate model must meet to pass.

A gate reads ``METRIC OP VALUE``: OP is one of ``>= > <= < == !=`` and VALUE is a number,
``baseline`` (the baseline model's value of the same metric) or ``baseline`` followed by
``+ - * /`` and a number. Values within a relative 1e-9 of each other count as equal, so the
rounding in ``0.8 + 0.1`` cannot flip a gate; a gate on a NaN value fails and says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from modelyard.errors import InvalidInput
from modelyard.registry.metrics import METRICS

__all__ = ["Gate", "GateResult", "json_float", "no_baseline"]

Operator: TypeAlias = Literal[">=", ">", "<=", "<", "==", "!="]
Arithmetic: TypeAlias = Literal["+", "-", "*", "/"]


_TOKEN = re.compile(
    r"\s*(?:(?P<op>>=|<=|==|!=|>|<)|(?P<arith>[-+*/])"
    r"|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_]\w*))"
)
_OPERATORS: dict[str, Operator] = {
    ">=": ">=", ">": ">", "<=": "<=", "<": "<", "==": "==", "!=": "!="
}  # fmt: skip
_ARITHMETIC: dict[str, Arithmetic] = {"+": "+", "-": "-", "*": "*", "/": "/"}
GATE_FORM = (
    "a gate reads METRIC OP VALUE, where OP is >=, >, <=, <, == or != and VALUE is a number, "
    "'baseline' or 'baseline + 0.01' (also -, *, /), e.g. 'auc >= baseline + 0.01'"
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # op, arith, number, name or end
    text: str
    position: int


def _syntax_error(message: str, text: str, position: int) -> InvalidInput:
    pointer = f"{text}\n{' ' * position}^"
    return InvalidInput(
        f"bad gate: {message} at position {position}:\n{pointer}\n{GATE_FORM}",
        details={"expression": text, "position": position},
    )


def _tokens(text: str) -> list[_Token]:
    found, position = [], 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            at = len(text) - len(text[position:].lstrip())
            hint = " (use == to test equality)" if text[at] == "=" else ""
            raise _syntax_error(f"unexpected character {text[at]!r}{hint}", text, at)
        found.append(_Token(match.lastgroup, match[match.lastgroup], match.start(match.lastgroup)))
        position = match.end()
    found.append(_Token("end", "", len(text)))
    return found


def _described(token: _Token) -> str:
    return "the end of the gate" if token.kind == "end" else repr(token.text)


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of one gate; ``threshold`` is NaN when the baseline value was NaN."""

    expression: str
    metric: str
    candidate: float
    baseline: float | None
    threshold: float
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "metric": self.metric,
            "candidate": json_float(self.candidate),
            "baseline": json_float(self.baseline),
            "threshold": json_float(self.threshold),
            "passed": self.passed,
            "message": self.message,
        }


def json_float(value: float | None) -> float | None:
    # JSON has no NaN; null reads as "not defined" in the stored result and the CLI.
    return None if value is None or math.isnan(value) else value


def _holds(value: float, op: Operator, threshold: float) -> bool:
    equal = math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12)
    outcomes = {
        ">=": equal or value > threshold,
        ">": not equal and value > threshold,
        "<=": equal or value < threshold,
        "<": not equal and value < threshold,
        "==": equal,
        "!=": not equal,
    }
    return outcomes[op]


@dataclass(frozen=True, slots=True)
class Gate:
    """A condition on one metric, such as ``auc >= baseline + 0.01``; build with ``parse``."""

    expression: str
    metric: str
    op: Operator
    uses_baseline: bool
    arithmetic: Arithmetic | None
    number: float | None

    @classmethod
    def parse(cls, text: str) -> Gate:
        """Parse ``METRIC OP VALUE``; ``InvalidInput`` pointing at the position on a mistake."""
        tokens = _tokens(text)
        name = tokens[0]
        if name.kind != "name":
            raise _syntax_error(f"expected a metric name, found {_described(name)}", text, 0)
        metric = METRICS.get(name.text.lower())
        if metric is None:
            message = f"unknown metric '{name.text}' (known metrics: {', '.join(METRICS)})"
            raise _syntax_error(message, text, name.position)
        op = tokens[1]  # the "end" token follows a name, so there is one
        if op.kind != "op":
            message = (
                f"expected a comparison operator (>=, >, <=, <, ==, !=), found {_described(op)}"
            )
            raise _syntax_error(message, text, op.position)
        rest = tokens[2:]
        arithmetic: Arithmetic | None = None
        uses_baseline = rest[0].kind == "name" and rest[0].text.lower() == "baseline"
        if uses_baseline:
            rest = rest[1:]
            if rest[0].kind == "arith":
                arithmetic = _ARITHMETIC[rest[0].text]
                number, at, rest = _number(rest[1:], text)
                if arithmetic == "/" and number == 0:
                    raise _syntax_error("cannot divide by 0", text, at)
            else:
                number = None
            expected = "+, -, *, / or the end of the gate"
        else:
            number, _, rest = _number(rest, text, "a number or 'baseline'")
            expected = "the end of the gate"
        if rest[0].kind != "end":
            raise _syntax_error(
                f"unexpected {_described(rest[0])}; expected {expected}", text, rest[0].position
            )
        return cls(text, metric.name, _OPERATORS[op.text], uses_baseline, arithmetic, number)

    def threshold(self, baseline: float | None) -> float:
        """The value the metric is compared with, given the baseline model's value."""
        if not self.uses_baseline:
            assert self.number is not None  # parse sets one or the other
            return self.number
        if baseline is None:
            raise no_baseline(self)
        if self.arithmetic is None or self.number is None:
            return baseline
        apply = {
            "+": baseline + self.number,
            "-": baseline - self.number,
            "*": baseline * self.number,
            "/": baseline / self.number,
        }
        return apply[self.arithmetic]

    def check(
        self, candidate: Mapping[str, float], baseline: Mapping[str, float] | None = None
    ) -> GateResult:
        """Whether the candidate's metric values pass; a NaN on either side fails the gate."""
        if self.metric not in candidate:
            raise InvalidInput(
                f"gate '{self.expression}' needs {self.metric}, which was not evaluated; "
                "add Gate.metric to the metrics to evaluate",
                details={"metric": self.metric},
            )
        base: float | None = None
        if self.uses_baseline and baseline is not None:
            if self.metric not in baseline:
                raise InvalidInput(
                    f"gate '{self.expression}' needs the baseline's {self.metric}, which was "
                    "not evaluated",
                    details={"metric": self.metric},
                )
            base = baseline[self.metric]
        value, threshold = candidate[self.metric], self.threshold(base)
        if math.isnan(value) or math.isnan(threshold):
            whose = "candidate" if math.isnan(value) else "baseline"
            passed = False
            message = (
                f"{self.metric} is not defined for the {whose} on this data (NaN, e.g. only "
                f"one class in the target), so '{self.expression}' fails"
            )
        else:
            passed = _holds(value, self.op, threshold)
            verdict = "passes" if passed else "fails"
            message = f"{self.metric} = {value:.6g} {verdict} {self.op} {threshold:.6g}"
        return GateResult(self.expression, self.metric, value, base, threshold, passed, message)


def no_baseline(gate: Gate) -> InvalidInput:
    return InvalidInput(
        f"gate '{gate.expression}' compares with the baseline, but no baseline model was "
        "evaluated; give a baseline model or compare with a number",
        details={"expression": gate.expression},
    )


def _number(
    tokens: list[_Token], text: str, what: str = "a number"
) -> tuple[float, int, list[_Token]]:
    """A number, with an optional sign, at the head of ``tokens``: its value, its position
    and the tokens after it."""
    sign = 1.0
    if tokens[0].kind == "arith" and tokens[0].text in "+-":
        sign, tokens = (-1.0 if tokens[0].text == "-" else 1.0), tokens[1:]
    if tokens[0].kind != "number":
        raise _syntax_error(
            f"expected {what}, found {_described(tokens[0])}", text, tokens[0].position
        )
    return sign * float(tokens[0].text), tokens[0].position, tokens[1:]
