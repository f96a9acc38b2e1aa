"""actcmp.report.format: how every number, p-value and duration of the report is written."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from actcmp.report import format as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(0.0123456, "0.0123", id="small"),
        pytest.param(12.345, "12.3", id="tens"),
        pytest.param(1.5e-5, "1.50e-05", id="tiny"),
        pytest.param(0, "0", id="zero"),
        pytest.param(math.nan, fmt.MISSING, id="nan"),
        pytest.param(None, fmt.MISSING, id="none"),
    ],
)
def test_fmt_number(value: float | None, text: str) -> None:
    assert fmt.fmt_number(value) == text


@pytest.mark.parametrize(
    ("p_value", "cell", "clause"),
    [
        pytest.param(0.0497, "0.0497", "p = 0.0497", id="near-threshold"),
        pytest.param(0.5, "0.500", "p = 0.500", id="half"),
        pytest.param(0.0004, "< 0.001", "p < 0.001", id="floor"),
        pytest.param(math.nan, fmt.MISSING, "p not computed", id="nan"),
    ],
)
def test_p_values_in_a_cell_and_in_a_sentence(p_value: float, cell: str, clause: str) -> None:
    assert fmt.fmt_p(p_value) == cell
    assert fmt.p_clause(p_value) == clause


@pytest.mark.parametrize(
    ("best", "tied", "p_value", "text"),
    [
        pytest.param(True, True, math.nan, "best", id="best"),
        pytest.param(False, pd.NA, math.nan, fmt.MISSING, id="untested"),
        pytest.param(False, None, 0.2, fmt.MISSING, id="untested-none"),
        pytest.param(False, True, 0.2, "0.200", id="tied"),
        pytest.param(False, False, 0.01, "0.0100", id="separable"),
        pytest.param(False, False, math.nan, "diverged", id="no-p"),
        pytest.param(False, False, 0.2, "diverged", id="lost-on-a-diverged-seed"),
    ],
)
def test_fmt_vs_best(best: bool, tied: object, p_value: float, text: str) -> None:
    assert fmt.fmt_vs_best(best, tied, p_value) == text


def test_reached_duration_value_and_tick() -> None:
    assert fmt.fmt_reached(4.25, 3, 3) == "4.2 (3/3)"
    assert fmt.fmt_reached(math.nan, 0, 3) == f"{fmt.MISSING} (0/3)"
    assert fmt.fmt_duration(12.34) == "12.3 s"
    assert fmt.fmt_duration(245) == "4m 05s"
    assert fmt.fmt_duration(3723) == "1h 02m 03s"
    assert fmt.fmt_duration(math.nan) == "unknown"
    assert [fmt.fmt_value(v) for v in (0.001, 64, True, "adam", None, math.nan)] == [
        "0.001",
        "64",
        "True",
        "adam",
        fmt.MISSING,
        fmt.MISSING,
    ]
    assert [fmt.fmt_tick(v) for v in (0.03, 1e-5, 0.5, 123456.0)] == ["0.03", "1e-05", "0.5", "1.23e+05"]


def test_fmt_stat_numbers_infinities_and_text() -> None:
    assert [fmt.fmt_stat(v) for v in (0.012345, math.inf, -math.inf, math.nan, None, "n/a", 3)] == [
        "0.0123",
        "∞",
        "-∞",
        fmt.MISSING,
        fmt.MISSING,
        "n/a",
        "3.00",
    ]


def test_the_claims_write_numbers_and_p_values_as_the_report_does() -> None:
    """One p-value and one missing value read the same in the report, the claims' tables,
    sentences and documents (they were `<0.001`, `p < 0.001`, `< 0.001`, `–` and `n/a`)."""
    from actcmp.claims import document, tables
    from actcmp.claims.checks import frames

    cells = {p: document.fmt_p(p) for p in (0.0004, 0.0497, 0.5, math.nan)}
    assert cells == {0.0004: "< 0.001", 0.0497: "0.0497", 0.5: "0.500", **{math.nan: fmt.MISSING}}
    assert [frames.fmt_p(p) for p in (0.0004, 0.0497, math.nan)] == ["p < 0.001", "p = 0.0497", "p not computed"]
    written = ["0.0123", "1.50e-06", "2.50e+06", fmt.MISSING, "∞"]
    for formatter in (tables.fmt, frames.fmt_number, document.fmt_stat):
        assert [formatter(v) for v in (0.0123456, 1.5e-6, 2.5e6, math.nan, math.inf)] == written
