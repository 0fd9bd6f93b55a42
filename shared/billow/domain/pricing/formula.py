"""The expression language of `formula` prices: small, typed, bounded and free of side effects.

User text is never handed to ``eval``, ``exec``, ``compile`` or ``ast``. A hand-written tokenizer
and recursive-descent parser know only the grammar below, so attribute access, subscripts,
strings, lambdas, comprehensions, powers and calls other than the six functions cannot even be
written. Each construct is compiled once into a closure over Decimal operations; evaluating a
formula is a call of that closure on a dict of variable values.

Grammar, lowest precedence first::

    expression  := disjunction
    disjunction := conjunction ("or" conjunction)*
    conjunction := negation ("and" negation)*
    negation    := "not" negation | comparison
    comparison  := sum [("<" | "<=" | ">" | ">=" | "==" | "!=") sum]
    sum         := product (("+" | "-") product)*
    product     := unary (("*" | "/") unary)*
    unary       := ("-" | "+") unary | primary
    primary     := NUMBER | "true" | "false" | NAME | FUNCTION "(" [expression ("," expression)*] ")"
                 | "(" expression ")"
    NUMBER      := [0-9]+ ("." [0-9]+)?         (at most 18 integer digits and 12 decimals)
    NAME        := [A-Za-z_][A-Za-z0-9_]*      (quantity or a declared variable)
    FUNCTION    := if | min | max | ceil | floor | round

Values are numbers (Decimal) or booleans, checked when the formula is compiled: arithmetic and
ordering take numbers, ``and``/``or``/``not`` and the condition of ``if`` take booleans, ``==`` and
``!=`` take two of a kind, and the whole formula must give a number.

Bounds: at most 1,000 characters, 500 nodes (numbers, names, operations, calls) and 32 levels
of nesting (each parenthesised group, function call, argument and prefix operator is a level),
so compiling and evaluating take time linear in the text. Evaluation runs in a Decimal context
of 60 significant digits whose values must stay below 10^41: a larger intermediate value is
refused rather than computed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Literal, NamedTuple, cast

from billow.domain.money import MAX_INTEGER_DIGITS, MAX_UNIT_DECIMALS

MAX_LENGTH = 1000
MAX_NODES = 500
MAX_DEPTH = 32
MAX_ROUND_DIGITS = 12
FUNCTIONS = ("if", "min", "max", "ceil", "floor", "round")
KEYWORDS = ("and", "or", "not", "true", "false")
RESERVED = frozenset({"quantity", *FUNCTIONS, *KEYWORDS})

# 60 digits hold any product of two bounded inputs exactly and round(x, 12) of any value in
# range; Emax bounds every intermediate value so that repeated multiplication cannot run away.
_CONTEXT = Context(
    prec=60,
    rounding=ROUND_HALF_UP,
    Emax=40,
    Emin=-40,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)

Value = Decimal | bool
Env = dict[str, Value]
Evaluator = Callable[[Env], Value]
NumberFn = Callable[[Env], Decimal]
BoolFn = Callable[[Env], bool]
ValueType = Literal["number", "boolean"]
VariableType = Literal["decimal", "integer", "boolean"]


class FormulaError(Exception):
    """A formula that cannot be compiled or evaluated; the message names the 0-based position."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def _syntax(position: int, detail: str) -> FormulaError:
    return FormulaError(f"syntax error at position {position}: {detail}", position)


def _at(position: int, problem: str, detail: str = "") -> FormulaError:
    return FormulaError(f"{problem} at position {position}{': ' + detail if detail else ''}", position)


# --- tokens -----------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: Literal["number", "name", "op", "bad", "end"]
    text: str
    position: int


_TOKEN = re.compile(
    r"(?P<space>[ \t\r\n]+)"
    r"|(?P<number>[0-9]+(?:\.[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|<=|>=|==|!=|[-+*/(),<>])"
)


def _next_token(text: str, position: int) -> _Token:
    """The token at ``position``, after any white space."""
    while True:
        if position >= len(text):
            return _Token("end", "", len(text))
        match = _TOKEN.match(text, position)
        if match is None:
            # Reported only when the parser reaches it, so that problems come in reading order.
            return _Token("bad", text[position], position)
        kind = match.lastgroup
        if kind != "space":
            return _Token(cast(Literal["number", "name", "op"], kind), match.group(), position)
        position = match.end()


# --- compiled nodes ---------------------------------------------------------------------------


class _Node(NamedTuple):
    type: ValueType
    fn: Evaluator
    position: int
    literal: Decimal | None = None  # set for number literals (round's digits must be one)


def _number(node: _Node) -> NumberFn:
    if node.type != "number":
        raise _at(node.position, "expected a number", "found a condition")
    return cast(NumberFn, node.fn)


def _boolean(node: _Node) -> BoolFn:
    if node.type != "boolean":
        raise _at(node.position, "expected a condition (true or false)", "found a number")
    return cast(BoolFn, node.fn)


def _out_of_range(position: int) -> FormulaError:
    return _at(position, "value out of range (intermediate values must stay below 10^41)")


def _constant(value: Value) -> Evaluator:
    return lambda env: value


def _variable(name: str) -> Evaluator:
    return cast(Evaluator, operator.itemgetter(name))


def _negate(operand: NumberFn) -> NumberFn:
    return lambda env: -operand(env)


def _not(operand: BoolFn) -> BoolFn:
    return lambda env: not operand(env)


# try blocks cost nothing until they catch (Python 3.11), so every operation can say where a
# value ran out of range.
def _add(left: Decimal, right: Decimal, position: int) -> Decimal:
    try:
        return left + right
    except (Overflow, InvalidOperation):
        raise _out_of_range(position) from None


def _subtract(left: Decimal, right: Decimal, position: int) -> Decimal:
    try:
        return left - right
    except (Overflow, InvalidOperation):
        raise _out_of_range(position) from None


def _multiply(left: Decimal, right: Decimal, position: int) -> Decimal:
    try:
        return left * right
    except (Overflow, InvalidOperation):
        raise _out_of_range(position) from None


def _divide(left: Decimal, right: Decimal, position: int) -> Decimal:
    if not right:
        raise _at(position, "division by zero")
    try:
        return left / right
    except (Overflow, InvalidOperation):
        raise _out_of_range(position) from None


_ARITHMETIC: dict[str, Callable[[Decimal, Decimal, int], Decimal]] = {
    "+": _add,
    "-": _subtract,
    "*": _multiply,
    "/": _divide,
}
Step = tuple[Callable[[Decimal, Decimal, int], Decimal], NumberFn, int]


def _chain(first: NumberFn, steps: list[Step]) -> NumberFn:
    """``a + b - c`` as one n-ary node, evaluated left to right, so a long sum is not a deep tree."""
    if len(steps) == 1:
        ((apply, second, position),) = steps
        return lambda env: apply(first(env), second(env), position)

    def chain(env: Env) -> Decimal:
        value = first(env)
        for apply, operand, position in steps:
            value = apply(value, operand(env), position)
        return value

    return chain


_COMPARISONS: dict[str, Callable[[Value, Value], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _compare(op: str, left: Evaluator, right: Evaluator) -> BoolFn:
    test = _COMPARISONS[op]
    return lambda env: test(left(env), right(env))


def _any(operands: list[BoolFn]) -> BoolFn:
    if len(operands) == 2:
        first, second = operands
        return lambda env: first(env) or second(env)
    return lambda env: any(operand(env) for operand in operands)


def _all(operands: list[BoolFn]) -> BoolFn:
    if len(operands) == 2:
        first, second = operands
        return lambda env: first(env) and second(env)
    return lambda env: all(operand(env) for operand in operands)


def _choose(condition: BoolFn, then: Evaluator, otherwise: Evaluator) -> Evaluator:
    # Only the chosen branch runs: if(quantity == 0, 0, 100 / quantity) is safe.
    return lambda env: then(env) if condition(env) else otherwise(env)


def _extreme(pick: Callable[..., Decimal], operands: list[NumberFn]) -> NumberFn:
    if len(operands) == 2:
        first, second = operands
        return lambda env: pick(first(env), second(env))
    return lambda env: pick(operand(env) for operand in operands)


def _integral(operand: NumberFn, rounding: str, position: int) -> NumberFn:
    def integral(env: Env) -> Decimal:
        try:
            return operand(env).to_integral_value(rounding=rounding)
        except InvalidOperation:
            raise _out_of_range(position) from None

    return integral


def _round(operand: NumberFn, digits: int, position: int) -> NumberFn:
    quantum = Decimal(1).scaleb(-digits)

    def rounded(env: Env) -> Decimal:
        try:
            return operand(env).quantize(quantum, rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise _out_of_range(position) from None

    return rounded


# --- parser -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, variables: Mapping[str, VariableType]) -> None:
        self.text = text
        self.token = _next_token(text, 0)
        self.depth = 0
        self.nodes = 0
        self.types: dict[str, ValueType] = {"quantity": "number"}
        for name, kind in variables.items():
            self.types[name] = "boolean" if kind == "boolean" else "number"

    # cursor

    def peek(self) -> _Token:
        return self.token

    def advance(self) -> _Token:
        token = self.token
        if token.kind != "end":
            self.token = _next_token(self.text, token.position + len(token.text))
        return token

    def at_op(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def at_word(self, word: str) -> bool:
        return self.token.kind == "name" and self.token.text == word

    def expect(self, op: str) -> _Token:
        if not self.at_op(op):
            raise self.unexpected(f"expected '{op}'")
        return self.advance()

    def unexpected(self, expected: str | None = None) -> FormulaError:
        token = self.peek()
        if token.kind == "bad":
            hint = " (use '==' to compare)" if token.text == "=" else ""
            return _syntax(token.position, f"unexpected character {token.text!r}{hint}")
        found = "the end of the formula" if token.kind == "end" else f"'{token.text}'"
        detail = f"{expected}, found {found}" if expected else f"unexpected {found}"
        return _syntax(token.position, detail)

    # bounds

    def count(self, position: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _at(position, f"formula too large (more than {MAX_NODES} numbers, names and operations)")

    def enter(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _at(position, f"formula nested too deeply (more than {MAX_DEPTH} levels)")

    def leave(self) -> None:
        self.depth -= 1

    # grammar

    def formula(self) -> NumberFn:
        node = self.expression()
        if self.peek().kind != "end":
            raise self.unexpected()
        if node.type != "number":
            raise _at(node.position, "the formula must give a number", "found a condition")
        return cast(NumberFn, node.fn)

    def expression(self) -> _Node:
        self.enter(self.peek().position)
        node = self.disjunction()
        self.leave()
        return node

    def disjunction(self) -> _Node:
        first = self.conjunction()
        if not self.at_word("or"):
            return first
        operands = [_boolean(first)]
        while self.at_word("or"):
            self.count(self.advance().position)
            operands.append(_boolean(self.conjunction()))
        return _Node("boolean", _any(operands), first.position)

    def conjunction(self) -> _Node:
        first = self.negation()
        if not self.at_word("and"):
            return first
        operands = [_boolean(first)]
        while self.at_word("and"):
            self.count(self.advance().position)
            operands.append(_boolean(self.negation()))
        return _Node("boolean", _all(operands), first.position)

    def negation(self) -> _Node:
        if not self.at_word("not"):
            return self.comparison()
        token = self.advance()
        self.count(token.position)
        self.enter(token.position)
        operand = _boolean(self.negation())
        self.leave()
        return _Node("boolean", _not(operand), token.position)

    def comparison(self) -> _Node:
        left = self.sum()
        if not self.at_op(*_COMPARISONS):
            return left
        token = self.advance()
        self.count(token.position)
        right = self.sum()
        if token.text in ("==", "!="):
            if left.type != right.type:
                raise _at(token.position, "cannot compare a number with a condition")
        else:
            _number(left)
            _number(right)
        if self.at_op(*_COMPARISONS):
            raise _syntax(self.peek().position, "comparisons cannot be chained; combine them with 'and'")
        return _Node("boolean", _compare(token.text, left.fn, right.fn), left.position)

    def sum(self) -> _Node:
        return self.operations(self.product, ("+", "-"))

    def product(self) -> _Node:
        return self.operations(self.unary, ("*", "/", "**"))

    def operations(self, operand: Callable[[], _Node], ops: tuple[str, ...]) -> _Node:
        first = operand()
        if not self.at_op(*ops):
            return first
        steps: list[Step] = []
        while self.at_op(*ops):
            token = self.advance()
            if token.text == "**":
                raise _syntax(token.position, "'**' (power) is not supported")
            self.count(token.position)
            steps.append((_ARITHMETIC[token.text], _number(operand()), token.position))
        return _Node("number", _chain(_number(first), steps), first.position)

    def unary(self) -> _Node:
        if not self.at_op("-", "+"):
            return self.primary()
        token = self.advance()
        self.count(token.position)
        self.enter(token.position)
        operand = _number(self.unary())
        self.leave()
        return _Node("number", _negate(operand) if token.text == "-" else operand, token.position)

    def primary(self) -> _Node:
        token = self.peek()
        if token.kind == "number":
            self.advance()
            self.count(token.position)
            value = _literal(token)
            return _Node("number", _constant(value), token.position, value)
        if token.kind == "op" and token.text == "(":
            self.advance()
            node = self.expression()
            self.expect(")")
            return node
        if token.kind != "name" or token.text in ("and", "or", "not"):
            raise self.unexpected("expected a number, a name or '('")
        self.advance()
        self.count(token.position)
        name = token.text
        if name in ("true", "false"):
            return _Node("boolean", _constant(name == "true"), token.position)
        if self.at_op("("):
            if name not in FUNCTIONS:
                raise _at(token.position, f"unknown function '{name}'")
            return self.call(token)
        if name in FUNCTIONS:
            raise self.unexpected(f"expected '(' after '{name}'")
        kind = self.types.get(name)
        if kind is None:
            raise _at(token.position, f"unknown variable '{name}'")
        return _Node(kind, _variable(name), token.position)

    def call(self, function: _Token) -> _Node:
        self.enter(function.position)
        self.expect("(")
        arguments: list[_Node] = []
        if not self.at_op(")"):
            arguments.append(self.expression())
            while self.at_op(","):
                self.advance()
                arguments.append(self.expression())
        self.expect(")")
        self.leave()
        name, position = function.text, function.position
        if name == "if":
            _arity(function, arguments, 3, 3)
            condition, then, otherwise = arguments
            if then.type != otherwise.type:
                raise _at(otherwise.position, "both branches of if() must give a number, or both a condition")
            return _Node(then.type, _choose(_boolean(condition), then.fn, otherwise.fn), position)
        if name in ("min", "max"):
            _arity(function, arguments, 2, None)
            pick = cast(Callable[..., Decimal], min if name == "min" else max)
            return _Node("number", _extreme(pick, [_number(node) for node in arguments]), position)
        if name in ("ceil", "floor"):
            _arity(function, arguments, 1, 1)
            rounding = ROUND_CEILING if name == "ceil" else ROUND_FLOOR
            return _Node("number", _integral(_number(arguments[0]), rounding, position), position)
        _arity(function, arguments, 1, 2)
        digits = 0
        if len(arguments) == 2:
            literal = arguments[1].literal
            if literal is None or literal != literal.to_integral_value() or literal > MAX_ROUND_DIGITS:
                raise _at(
                    arguments[1].position,
                    f"the digits of round() must be a whole number from 0 to {MAX_ROUND_DIGITS}",
                )
            digits = int(literal)
        return _Node("number", _round(_number(arguments[0]), digits, position), position)


def _arity(function: _Token, arguments: list[_Node], least: int, most: int | None) -> None:
    if least <= len(arguments) and (most is None or len(arguments) <= most):
        return
    if most is None:
        wanted = f"at least {least} arguments"
    elif least == most:
        wanted = f"{least} argument{'s' if least > 1 else ''}"
    else:
        wanted = f"{least} to {most} arguments"
    raise _at(function.position, f"{function.text}() takes {wanted}", f"found {len(arguments)}")


def _literal(token: _Token) -> Decimal:
    integer, _, fraction = token.text.partition(".")
    if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise _at(token.position, f"number with more than {MAX_INTEGER_DIGITS} integer digits")
    if len(fraction) > MAX_UNIT_DECIMALS:
        raise _at(token.position, f"number with more than {MAX_UNIT_DECIMALS} decimal places")
    return Decimal(token.text)


# --- the compiled formula ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Formula:
    """A compiled expression. Build it with :func:`compile_formula`."""

    text: str
    _evaluate: NumberFn = field(repr=False, compare=False)

    def evaluate(self, env: Env) -> Decimal:
        """The formula's value for ``env`` (quantity and every declared variable, integers as Decimal).

        Raises FormulaError for a division by zero or a value out of range.
        """
        with localcontext(_CONTEXT):
            try:
                value = self._evaluate(env)
            except DecimalException:
                # Every operation reports its own position; this is only a safety net.
                raise FormulaError("value out of range") from None
        # 0 * -1 is -0 in Decimal; money has no negative zero.
        return value if value else abs(value)


def compile_formula(text: str, variables: Mapping[str, VariableType]) -> Formula:
    """Parse, type-check and compile ``text``; FormulaError names the position of the first problem."""
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise _syntax(0, "the formula is empty")
    return Formula(text, _Parser(text, variables).formula())
