"""The --where / --sort language: what parses, what it means, and how errors point."""

from __future__ import annotations

import math

import pytest

from modelsync.catalog.query import (
    BoolOp,
    Comparison,
    Field,
    Not,
    QueryError,
    evaluate,
    fields_of,
    parse_sort,
    parse_where,
)

LOSS = Field("metrics", "val_loss")
LR = Field("params", "lr")


def test_conjunction_of_metric_and_param_comparisons() -> None:
    expr = parse_where("metrics.val_loss < 0.3 and params.lr >= 1e-3")
    assert expr == BoolOp("and", (Comparison(LOSS, "<", 0.3), Comparison(LR, ">=", 1e-3)))


def test_dotted_param_keys_and_bracketed_metric_keys() -> None:
    assert parse_where("params.optimizer.lr == 0.1") == Comparison(
        Field("params", "optimizer.lr"), "==", 0.1
    )
    assert parse_where('metrics["val/acc"] > 0.9') == Comparison(
        Field("metrics", "val/acc"), ">", 0.9
    )


def test_run_columns_strings_negatives_and_lists() -> None:
    status = Field("run", "status")
    assert parse_where('status == "finished"') == Comparison(status, "==", "finished")
    assert parse_where("metrics.delta > -2") == Comparison(Field("metrics", "delta"), ">", -2)
    assert parse_where("params.bs in [32, 64]") == Comparison(Field("params", "bs"), "in", (32, 64))


def test_constant_on_the_left_is_mirrored() -> None:
    assert parse_where("0.3 > metrics.val_loss") == Comparison(LOSS, "<", 0.3)


def test_chained_comparison_becomes_a_conjunction() -> None:
    assert parse_where("0.1 < metrics.val_loss <= 0.5") == BoolOp(
        "and", (Comparison(LOSS, ">", 0.1), Comparison(LOSS, "<=", 0.5))
    )


def test_not_and_or() -> None:
    expr = parse_where("not status == 'failed' or params.lr > 1")
    assert isinstance(expr, BoolOp) and expr.op == "or"
    assert isinstance(expr.operands[0], Not)
    assert fields_of(expr) == {Field("run", "status"), LR}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.val_loss <", "at column"),
        ("metrics.val_loss", "expected a comparison"),
        ("__import__('os').system('x') == 1", "must be a field"),
        ("metrics.loss < open('f')", "expected a number"),
        ("weights.x > 1", "unknown field 'weights.x'"),
        ("metrics < 1", "metrics needs a key"),
        ("params.bs in 3", "takes a list"),
    ],
)
def test_bad_expressions_say_what_and_where(text: str, fragment: str) -> None:
    with pytest.raises(QueryError) as error:
        parse_where(text)
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_sort_keys() -> None:
    key = parse_sort("-metrics.val_acc")
    assert key.field == Field("metrics", "val_acc") and key.descending
    assert not parse_sort("name").descending
    with pytest.raises(QueryError):
        parse_sort("-")


def test_evaluate_against_a_run() -> None:
    run = {LOSS: 0.25, LR: 0.01, Field("run", "status"): "finished"}
    assert evaluate(parse_where("metrics.val_loss < 0.3 and params.lr >= 1e-3"), run)
    assert not evaluate(parse_where("metrics.val_loss > 0.3"), run)
    assert not evaluate(parse_where("metrics.missing > 0"), run)
    assert evaluate(parse_where("not status == 'failed'"), run)
    assert not evaluate(parse_where("status < 3"), run)


def test_nan_never_satisfies_an_order_comparison() -> None:
    run = {LOSS: math.nan}
    assert not evaluate(parse_where("metrics.val_loss < 1"), run)
    assert not evaluate(parse_where("metrics.val_loss >= 1"), run)
