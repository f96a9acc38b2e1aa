"""A new-user audit of the report, each case on tiny fabricated frames (no training):

1. an incomplete sweep's Setup says so first (k of n planned runs stored, the axis values with no
   stored run) and states the axes of the plan, not of the stored part; its Findings open with
   one line that the statistics cover the stored runs only; a complete sweep's are unchanged;
2. a Friedman test that cannot reach p < alpha gives "no verdict either way" in the Findings too;
3. units dead after 0 epochs are "dead at initialisation", and after training the share dead at
   initialisation is given beside: no "Units died";
4. a latent figure of a dataset without labels draws without a colour-map warning, and its row
   labels fit beside the panels;
5. user names in the Findings (link texts included) are Markdown-escaped as in the tables, and
   the HTML shows them as they are.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from test_report_audit_r2 import _results

from actcmp.analysis import ranks
from actcmp.analysis.ranks import FriedmanResult
from actcmp.report import document, findings, incomplete, pictures, render, setup, tables
from actcmp.report.statistics import Statistics, friedman_text
from actcmp.store.database import Results

#: depths 2 and 4 stored; the sweep also planned depth 1
STORED: dict[tuple[int, str], tuple[float, ...]] = {
    (2, "relu"): (0.10, 0.11, 0.12),
    (2, "tanh"): (0.20, 0.21, 0.22),
    (4, "relu"): (0.30, 0.31, 0.33),
    (4, "tanh"): (0.15, 0.16, 0.14),
}
CONFIG = ["run_id", "activation", "dataset", "depth", "seed", "loss", "init"]


def _planned(results: Results, extra: list[dict[str, object]]) -> Results:
    """``results`` whose plan holds every stored run and the ``extra`` ones (not stored)."""
    planned = pd.concat([results.runs[CONFIG], pd.DataFrame(extra)], ignore_index=True)
    return replace(results, planned=planned)


def _pending(depth: int = 1, dataset: str = "d") -> list[dict[str, object]]:
    return [
        {"run_id": f"{a}-{dataset}-{depth}-{s}", "activation": a, "dataset": dataset, "depth": depth, "seed": s,
         "loss": "mse", "init": "kaiming"}
        for a in ("relu", "tanh") for s in (0, 1, 2)
    ]  # fmt: skip


def _main(results: Results) -> pd.DataFrame:
    return next(t for t in tables.build_tables(results) if t.name == "main").raw


# -- 1. an incomplete sweep -----------------------------------------------------------------------
def test_an_incomplete_sweeps_setup_says_so_first_and_states_the_planned_axes(tmp_path: Path) -> None:
    results = _planned(replace(_results(STORED), directory=tmp_path), _pending())
    assert len(incomplete.pending_runs(results)) == 6
    found = setup.collect_setup(results)
    assert found["grid"]["depth"] == [1, 2, 4] and "depth" not in found["fixed"]
    assert found["runs"]["planned"] == 18 and found["runs"]["pending"] == 6 and found["runs"]["stored"] == 12
    assert found["not_stored"] == {"depth": [1]}
    items = setup.setup_items(found, str(tmp_path))
    assert items[0].startswith("**Incomplete sweep:** 12 of 18 planned runs stored (6 not yet; no run stored yet "
                               "for depth 1)"), items[0]  # fmt: skip
    assert "Grid axes: activation: relu, tanh; depth: 1, 2, 4." in items
    assert any(i.startswith("Seeds: 0, 1, 2 (stored: 3 per cell)") for i in items), items
    assert "every planned run" in document.fields_lead(found)


def test_a_dataset_with_no_stored_run_is_an_axis_not_a_fixed_field(tmp_path: Path) -> None:
    """A half-finished sweep (a [tune] one's evaluation runs): the second dataset is planned,
    not stored; the Setup said ``dataset | d`` was fixed."""
    results = _planned(replace(_results(STORED), directory=tmp_path), _pending(2, "e"))
    found = setup.collect_setup(results)
    assert found["grid"]["dataset"] == ["d", "e"] and "dataset" not in found["fixed"]
    assert found["not_stored"] == {"dataset": ["e"]}
    assert "no run stored yet for dataset e" in setup.setup_items(found, str(tmp_path))[0]


def test_an_incomplete_sweeps_findings_open_with_it() -> None:
    results = _planned(_results(STORED), _pending())
    blocks = findings.findings_blocks(results, _main(results), None)
    first = blocks[0][1]
    assert first.startswith("**The sweep is incomplete:** 12 of its 18 planned runs are stored (no run yet for "
                            "depth 1); the statistics below cover the stored runs only, in 2 of the 3 planned "
                            "cells ([run status](#table-status))."), first  # fmt: skip


def test_a_complete_sweeps_setup_and_findings_do_not_change(tmp_path: Path) -> None:
    unplanned = replace(_results(STORED), directory=tmp_path)
    complete = _planned(unplanned, [])
    before, after = setup.collect_setup(unplanned), setup.collect_setup(complete)
    assert before == after  # setup.json as well
    items = setup.setup_items(after, str(tmp_path))
    assert items == setup.setup_items(before, str(tmp_path)) and not any("ncomplete" in i for i in items)
    assert findings.findings_blocks(complete, _main(complete), None) == findings.findings_blocks(
        unplanned, _main(unplanned), None
    )
    assert not any("incomplete" in str(c) for _, c in findings.findings_blocks(complete, _main(complete), None))


# -- 2. a Friedman test that cannot reject ----------------------------------------------------------
def test_the_findings_give_no_verdict_where_the_test_over_datasets_cannot_reject() -> None:
    floored = ranks.DatasetBlocks(2, 3.0, 0.38, kendall_w=0.5, floor=1 / 12, mean_ranks={"a": 1.5, "b": 2.0}, cd=3.3)
    result = FriedmanResult("test_loss", "activation", {"a": 1.3, "b": 2.3, "c": 2.3, "d": 4.0}, 3, 0, 6.6, 0.07,
                            0.7, 3.0, by_dataset=floored, p_method="permutation", floor=1 / 216)  # fmt: skip
    text = findings.ranks_text(Statistics(result, 3, 1.5)) or ""
    assert "no significant difference" not in text, text
    assert ("(no verdict either way: with 2 datasets and 4 activations this test cannot reach p < 0.05, its "
            "smallest p being 0.083)") in text, text  # fmt: skip
    assert "cannot reach p < 0.05 (its smallest p is 0.083): no verdict either way" in " ".join(friedman_text(result))


# -- 3. dead at initialisation ------------------------------------------------------------------------
def test_units_of_runs_that_did_not_train_are_dead_at_initialisation() -> None:
    results = _results({(2, "relu"): (0.5, 0.5, 0.5), (2, "tanh"): (0.4, 0.4, 0.4)}, epochs=0)
    text = next(c for k, c in findings.findings_blocks(results, _main(results), None) if "dead" in str(c).lower())
    assert text.startswith("Units dead at initialisation (no training: epochs 0;"), text
    assert "died" not in text and "relu in 1 of 1 cells" in text, text


def test_units_dead_after_training_give_the_share_dead_at_initialisation() -> None:
    results = _results(STORED, epochs=5)
    results.runs["dead_fraction_init"] = [0.0015 if r.startswith("relu-4") else 0.0 for r in results.runs["run_id"]]
    text = findings.dead_units_text(_main(results), untrained=findings.untrained(results)) or ""
    assert text.startswith("Units dead after training (") and "died" not in text, text
    assert "tanh in 2 of 2 cells (most at d · depth 2: < 0.01 of hidden units)" in text, text  # none at init
    main = _main(results)
    main.loc[main["activation"] == "relu", "dead_fraction_final"] = [0.1, 0.3]
    assert "(most at d · depth 4: 0.30 of hidden units, < 0.01 at initialisation)" in (
        findings.dead_units_text(main) or ""
    )


# -- 4. a latent figure without labels --------------------------------------------------------------
def _unlabelled(keys: list[str], values: tuple[object, ...]) -> pictures.DatasetPictures:
    rng = np.random.default_rng(0)
    cell = pictures.Cell(keys, values, 0, {"relu": "r", "tanh": "t"}, {"relu": "done", "tanh": "done"})
    codes = {rid: {"codes": rng.normal(size=(60, 2)).astype(np.float32)} for rid in ("r", "t")}
    return pictures.DatasetPictures(str(values[0]), [cell], 0, {"codes": codes, "reconstruction": {}, "errors": {}})


def test_a_latent_figure_without_labels_draws_without_a_colour_map_warning() -> None:
    found = _unlabelled(["dataset", "depth"], ("csv:/tmp/d.csv", 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib: "No data for colormapping provided via 'c'"
        fig = pictures.plot_latent(found)
        FigureCanvasAgg(fig).draw()


def test_latent_row_labels_fit_beside_their_panels() -> None:
    long = "csv:/home/someone/projects/measurements/2026/run-7/table.csv"
    found = _unlabelled(["dataset", "depth", "data_fingerprint"], (long, 2, "3f2a" * 16))
    fig = pictures.plot_latent(found)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ax = fig.axes[0]
    label = ax.yaxis.label
    lines = label.get_text().split("\n")
    assert lines[-1] == "code 1 vs code 2" and "seed 0" in label.get_text(), lines
    assert all(len(line) <= pictures.LABEL_WIDTH for line in lines), lines
    assert any(line.startswith("data_fingerprint=3f2a") and "…" in line for line in lines), lines
    box, panel, page = label.get_window_extent(canvas.get_renderer()), ax.get_window_extent(), fig.bbox
    assert box.height <= panel.height and box.y0 >= page.y0 and box.y1 <= page.y1 and box.x0 >= page.x0, (box, panel)


# -- 5. user names in the Findings ------------------------------------------------------------------
NAME = "csv:w <b>x<|*y*.csv"


def test_findings_escape_user_names_in_link_texts_as_the_tables_do() -> None:
    results = _results(STORED)
    results.runs["dataset"] = NAME
    main = _main(results)
    items = next(c for k, c in findings.findings_blocks(results, main, None) if k == "list")
    assert items[0].startswith(r"[csv:w <b>x<\|\*y\*.csv · depth 2](#table-main): best"), items[0]
    markdown = render.markdown_text(items[0])  # as report.md writes it: the HTML shown as text
    assert markdown.startswith(r"[csv:w &lt;b&gt;x&lt;\|\*y\*.csv · depth 2](#table-main)"), markdown
    html = render.inline(items[0])  # report.html: the name as it is, no backslash
    assert html.startswith('<a href="#table-main">csv:w &lt;b&gt;x&lt;|*y*.csv · depth 2</a>: best'), html
    assert "\\" not in html


def test_inline_reads_backslash_escapes_outside_code_only() -> None:
    text = r"a \*b\* \[c\] \| `C:\*d\*` **e** [f \] g](#h)"
    assert render.inline(text) == ('a *b* [c] | <code>C:\\*d\\*</code> <strong>e</strong> <a href="#h">f ] g</a>')
    assert render.inline("plain **bold** `code` [x](#y)") == (
        'plain <strong>bold</strong> <code>code</code> <a href="#y">x</a>'
    )
    assert not re.search(r"[\ue000-\ue07f]", render.inline(r"\\ \` \*"))
