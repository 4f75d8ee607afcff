"""The small query language of ``modelsync runs --where/--sort`` and the API's run filters.

    metrics.val_loss < 0.3 and params.lr >= 1e-3
    status == "finished" or not params.optimizer.name == "sgd"
    metrics["val/acc"] > 0.9            (keys that are not identifiers go in brackets)
    params.batch_size in [32, 64]

A field is ``metrics.<key>`` (the run's latest value), ``params.<dotted key>``, or a run column
(``name``, ``status``, ``started``, ``duration``, ``commits``, ``parent``). Expressions are parsed
with Python's own parser in ``eval`` mode and only the node types below are accepted: no calls,
no attribute access beyond field names, nothing is ever evaluated as Python.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TypeAlias

from ..errors import UsageError

Scalar: TypeAlias = float | int | str | bool | None
RUN_COLUMNS = ("name", "status", "started", "ended", "duration", "commits", "parent")
NAMESPACES = ("metrics", "params")

_OPERATORS: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
}


class QueryError(UsageError):
    """A ``--where``/``--sort`` expression that does not parse; says where."""


@dataclass(frozen=True)
class Field:
    namespace: str
    key: str

    def __str__(self) -> str:
        return f"{self.namespace}.{self.key}" if self.namespace != "run" else self.key


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    operand: Expr


Expr: TypeAlias = Comparison | BoolOp | Not


@dataclass(frozen=True)
class SortKey:
    field: Field
    descending: bool


def _fail(text: str, node: ast.AST | None, message: str) -> QueryError:
    column = getattr(node, "col_offset", None)
    where = f" at column {column + 1}" if column is not None else ""
    return QueryError(f"cannot parse {text!r}{where}: {message}")


def parse_where(text: str) -> Expr:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        column = exc.offset or len(text.strip()) + 1
        raise QueryError(f"cannot parse {text!r} at column {column}: {exc.msg}") from None
    return _expr(text, tree.body)


def _expr(text: str, node: ast.AST) -> Expr:
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return BoolOp(op, tuple(_expr(text, value) for value in node.values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Not(_expr(text, node.operand))
    if isinstance(node, ast.Compare):
        return _compare(text, node)
    raise _fail(text, node, "expected a comparison such as metrics.loss < 0.3")


def _compare(text: str, node: ast.Compare) -> Expr:
    parts: list[Expr] = []
    left = node.left
    for op_node, right in zip(node.ops, node.comparators, strict=True):
        op = _OPERATORS.get(type(op_node))
        if op is None:
            raise _fail(text, right, "unsupported operator")
        if _is_field(left):
            parts.append(Comparison(parse_field(text, left), op, _value(text, right, op)))
        elif _is_field(right) and op not in ("in", "not in"):
            parts.append(Comparison(parse_field(text, right), _mirror(op), _value(text, left, op)))
        else:
            raise _fail(text, left, "one side of a comparison must be a field")
        left = right
    return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))


def _mirror(op: str) -> str:
    return {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)


def _is_field(node: ast.AST) -> bool:
    return isinstance(node, ast.Name | ast.Attribute | ast.Subscript)


def parse_field(text: str, node: ast.AST) -> Field:
    parts: list[str] = []
    current = node
    while True:
        if isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        elif isinstance(current, ast.Subscript):
            key = current.slice
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                raise _fail(text, current, "a bracketed key must be a quoted string")
            parts.append(key.value)
            current = current.value
        elif isinstance(current, ast.Name):
            parts.append(current.id)
            break
        else:
            raise _fail(text, current, "expected a field name")
    parts.reverse()
    head, rest = parts[0], parts[1:]
    if head in NAMESPACES:
        if not rest:
            raise _fail(text, node, f"{head} needs a key, as in {head}.name")
        return Field(head, ".".join(rest))
    if head in RUN_COLUMNS and not rest:
        return Field("run", head)
    known = ", ".join((*RUN_COLUMNS, "metrics.<key>", "params.<key>"))
    raise _fail(text, node, f"unknown field {'.'.join(parts)!r}; fields are {known}")


def _value(text: str, node: ast.AST, op: str) -> Scalar | tuple[Scalar, ...]:
    if op in ("in", "not in"):
        if not isinstance(node, ast.List | ast.Tuple | ast.Set):
            raise _fail(text, node, f"'{op}' takes a list, as in [1, 2]")
        return tuple(_scalar(text, element) for element in node.elts)
    return _scalar(text, node)


def _scalar(text: str, node: ast.AST) -> Scalar:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool | None):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub | ast.UAdd)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    ):
        value = node.operand.value
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Name) and node.id in ("nan", "inf"):
        return float(node.id)
    raise _fail(text, node, "expected a number, a quoted string, True, False or None")


def parse_sort(text: str) -> SortKey:
    """``-metrics.val_acc`` sorts descending; ``name`` or ``+params.lr`` ascending."""
    descending = text.startswith("-")
    body = text.lstrip("+-").strip()
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError:
        raise QueryError(f"cannot parse sort key {text!r}; use e.g. -metrics.val_acc") from None
    if not _is_field(tree.body):
        raise QueryError(f"cannot parse sort key {text!r}; use e.g. -metrics.val_acc")
    return SortKey(parse_field(body, tree.body), descending)


def fields_of(expr: Expr) -> set[Field]:
    if isinstance(expr, Comparison):
        return {expr.field}
    if isinstance(expr, Not):
        return fields_of(expr.operand)
    return set().union(*(fields_of(operand) for operand in expr.operands))


def _compare_values(left: Scalar, op: str, right: Scalar | tuple[Scalar, ...]) -> bool:
    if op == "in":
        return isinstance(right, tuple) and left in right
    if op == "not in":
        return isinstance(right, tuple) and left not in right
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None or isinstance(right, tuple):
        return False
    if isinstance(left, str) != isinstance(right, str):
        return False
    try:
        if op == "<":
            return left < right  # type: ignore[operator]
        if op == "<=":
            return left <= right  # type: ignore[operator]
        if op == ">":
            return left > right  # type: ignore[operator]
        return left >= right  # type: ignore[operator]
    except TypeError:
        return False


def evaluate(expr: Expr, lookup: dict[Field, Scalar]) -> bool:
    """Whether a run, given as ``{field: value}`` (absent fields are None), matches ``expr``."""
    if isinstance(expr, Comparison):
        return _compare_values(lookup.get(expr.field), expr.op, expr.value)
    if isinstance(expr, Not):
        return not evaluate(expr.operand, lookup)
    results = (evaluate(operand, lookup) for operand in expr.operands)
    return all(results) if expr.op == "and" else any(results)
