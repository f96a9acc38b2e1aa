"""``actcmp.load_results`` and the Parquet/CSV export of a sweep with ``[tune]``.

* ``summary()`` (and the HTML view) is the report's main table: for a tuned sweep, of the
  runs at the common value only, as ``tables/main.csv`` (the tuning runs and the runs at a
  selected value made cells of their own, keyed by ``lr`` and ``record``);
* ``runs`` and ``planned`` (frames and exports) say which sweep planned a run and its part in
  ``[tune]`` (``sweeps``, ``role``: the MLflow export's tags), so that pandas reproduces the
  report's selection; the export writes ``environments`` too.

The tuned store is the fabricated one of ``test_tuned_report_cells`` (no training): relu and
sigmoid select a value other than the common lr=3, so their runs there are left out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from fake_results import make_results
from test_tuned_report_cells import COMMON, fabricate
from typer.testing import CliRunner

import actcmp
from actcmp.cli import app
from actcmp.report import tables
from actcmp.report import tune as tune_report
from actcmp.store.database import Store, load_results
from actcmp.store.export_common import tune_roles

runner = CliRunner()
#: the roles whose runs the report's tables (all but the Tuned comparison) leave out
LEFT_OUT_ROLES = ("tuning", "evaluation (selected value)")


@pytest.fixture(scope="module")
def tuned_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fabricate(tmp_path_factory.mktemp("nb_tuned") / "r", elu_pick=COMMON)


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_results(tmp_path_factory.mktemp("nb_plain") / "r", figures=False)


def _report_main(directory: Path, out: Path) -> pd.DataFrame:
    """The main table as ``make_report`` builds it (its steps, figures left out)."""
    results = tables.complete(load_results(directory))
    built = tune_report.build(directory, out, results, ("png",), [], later=True)
    return next(
        t for t in tables.build_tables(tune_report.evaluation_only(results, built.left_out_ids)) if t.name == "main"
    ).raw


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")  # as tables/main.csv is written


# ------------------------------------------------------------------------- summary() = the main table


@pytest.mark.parametrize("which", ["tuned_dir", "plain_dir"])
def test_summary_is_the_reports_main_table(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    directory = request.getfixturevalue(which)
    results = actcmp.load_results(directory)
    assert _csv(results.summary(statistics=True)) == _csv(_report_main(directory, tmp_path))
    summary = results.summary()
    assert "lr" not in summary.columns and "record" not in summary.columns
    assert not summary.duplicated(["dataset", "depth", "activation"]).any()  # one row per cell and activation


def test_a_tuned_summary_holds_the_common_value_and_all_runs_keeps_the_rest(tuned_dir: Path) -> None:
    results = actcmp.load_results(tuned_dir)
    summary = results.summary()
    # 4 activations x depths 1, 2, each over the 3 evaluation seeds at lr=3
    assert len(summary) == 8 and summary["runs"].eq(3).all()
    kept = results.evaluation_only()
    assert set(kept.runs["lr"]) == {COMMON} and len(kept.runs) == 24
    assert not set(kept.runs["run_id"]) & results.left_out_ids
    # the frames themselves keep every stored run; all_runs tabulates them (the old summary)
    assert len(results.runs) == len(kept.runs) + len(results.left_out_ids & set(results.runs["run_id"]))
    every = results.summary(all_runs=True)
    assert "lr" in every.columns and len(every) > len(summary)
    page = results._repr_html_()
    assert page.count("<tr") == 1 + len(summary)
    assert "runs left out" in page and "summary(all_runs=True)" in page
    assert "<th>lr</th>" not in page


def test_the_reports_filter_takes_the_ids_to_leave_out(tuned_dir: Path, plain_dir: Path) -> None:
    """One filter for the report and the notebook: :func:`actcmp.report.tune.evaluation_only`
    takes the ids to leave out (a notebook's ``left_out_ids``, a report's
    ``TunedReport.left_out_ids``); nobody builds an empty TunedReport to carry them."""
    results = actcmp.load_results(tuned_dir)
    assert results.left_out_ids
    kept = tune_report.evaluation_only(tables.complete(load_results(tuned_dir)), results.left_out_ids)
    for name in ("runs", "epochs", "planned"):
        ids = set(getattr(kept, name)["run_id"])
        assert ids and not ids & results.left_out_ids, name
        assert ids == set(getattr(results.evaluation_only(), name)["run_id"]), name
    plain = load_results(plain_dir)
    assert tune_report.evaluation_only(plain, frozenset()) is plain


def test_an_untuned_html_view_says_nothing_of_tune(plain_dir: Path) -> None:
    results = actcmp.load_results(plain_dir)
    assert results.left_out_ids == frozenset()
    page = results._repr_html_()
    assert "left out" not in page and page.count("<tr") == 1 + len(results.summary())


@pytest.mark.slow  # draws the report's figures
@pytest.mark.parametrize("which", ["tuned_dir", "plain_dir"])
def test_summary_equals_the_written_main_csv(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from actcmp.report import make_report

    directory = tmp_path / "copy"
    shutil.copytree(request.getfixturevalue(which), directory)
    make_report(directory, formats=("png",))
    written = (directory / "tables" / "main.csv").read_text(encoding="utf-8")
    assert _csv(actcmp.load_results(directory).summary(statistics=True)) == written


# ------------------------------------------------------------------------- sweeps and role columns


def test_frames_say_which_sweep_planned_a_run_and_its_tune_role(tuned_dir: Path) -> None:
    results = actcmp.load_results(tuned_dir)
    with Store(tuned_dir, create=False) as store:
        roles = tune_roles(store)  # what the MLflow export tags actcmp.role
    for frame in (results.runs, results.planned):
        leading = ["run_id", "status", "sweeps", "role"] if "status" in frame else ["run_id", "sweeps", "role"]
        assert list(frame.columns[: len(leading)]) == leading
        assert frame["sweeps"].eq("fabricated-tune").all()
        assert dict(zip(frame["run_id"], frame["role"], strict=True)) == {rid: roles[rid] for rid in frame["run_id"]}
    runs = results.runs
    assert set(runs["role"]) == {
        "tuning", "evaluation (common value)", "evaluation (selected value)", "evaluation (common = selected value)"
    }  # fmt: skip
    # elu selected the common value (the fixture's elu_pick): its evaluation runs are both, and only its
    both = runs[runs["role"] == "evaluation (common = selected value)"]
    assert set(both["activation"]) == {"elu"}
    # the report's selection in pandas: the roles it leaves out
    kept = runs[~runs["role"].isin(LEFT_OUT_ROLES)]
    assert set(kept["run_id"]) == set(results.evaluation_only().runs["run_id"])
    assert set(runs["run_id"]) - set(kept["run_id"]) == results.left_out_ids & set(runs["run_id"])


def test_an_untuned_runs_role_is_missing_and_a_run_of_two_sweeps_names_both(plain_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "two"
    shutil.copytree(plain_dir, directory)
    with Store(directory) as store:
        first = store.frames().runs.iloc[0]
        config = store.read_run(first["run_id"])["config"]
        store.save_sweep("sweep2", "again", {"grid": {}}, [{**config, "run_id": first["run_id"]}])
    runs = actcmp.load_results(directory).runs.set_index("run_id")
    assert runs["role"].isna().all()
    assert runs.loc[first["run_id"], "sweeps"] == "again,fake"
    assert runs.drop(index=first["run_id"])["sweeps"].eq("fake").all()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_exports_carry_sweeps_role_and_environments(fmt: str, tuned_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = runner.invoke(app, ["export", str(tuned_dir), "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output
    read = pd.read_parquet if fmt == "parquet" else pd.read_csv
    results = actcmp.load_results(tuned_dir)
    for name in ("runs", "planned"):
        frame = read(out / f"{name}.{fmt}")
        expected = getattr(results, name)
        assert dict(zip(frame["run_id"], frame["role"], strict=True)) == dict(
            zip(expected["run_id"], expected["role"], strict=True)
        )
        assert frame["sweeps"].eq("fabricated-tune").all()
    runs = read(out / f"runs.{fmt}")
    kept = runs[~runs["role"].isin(LEFT_OUT_ROLES)]
    assert set(kept["run_id"]) == set(results.evaluation_only().runs["run_id"])
    environments = read(out / f"environments.{fmt}")
    assert set(environments["run_id"]) == set(runs["run_id"])
    assert set(environments["engine"]) == {"plain"} and set(environments["torch"]) == {"2.13.0+cpu"}


def test_an_untuned_exports_role_is_missing(plain_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert runner.invoke(app, ["export", str(plain_dir), "--format", "csv", "--out", str(out)]).exit_code == 0
    runs = pd.read_csv(out / "runs.csv")
    assert runs["role"].isna().all() and runs["sweeps"].eq("fake").all()
    planned = pd.read_csv(out / "planned.csv")
    assert len(planned) == len(runs) + 1 and planned["sweeps"].eq("fake").all()  # the pending run too
