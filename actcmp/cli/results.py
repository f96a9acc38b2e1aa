"""The commands over stored results: ``report``, ``status``, ``merge``, ``compare`` and
``export``. Each reads (or merges) results directories and trains nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from actcmp.cli.base import JsonFlag, ResultsDir, figure_formats, given, guarded, out_path
from actcmp.errors import ConfigError
from actcmp.text import plural

if TYPE_CHECKING:  # imported inside the commands: --help stays light
    from actcmp.analysis.status import StatusTable


@guarded
def report_cmd(
    directory: ResultsDir,
    formats: Annotated[str, typer.Option(help="figure formats, comma-separated (png, pdf, svg)")] = "png,pdf",
    out_text: Annotated[
        str | None, typer.Option("--out", metavar="DIR", help="where to write them \\[default: the results directory]")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="processes drawing the figures (Linux)", envvar="ACTCMP_JOBS")
    ] = 1,
) -> None:
    """Write tables, figures, report.md and report.html from stored results (no training).

    --out writes them elsewhere (the results directory may then be read-only).

    With --jobs N (Linux) N processes draw the figures while the tables are built: the same files.

    Example: actcmp report results/default --formats png,pdf,svg
    """
    from actcmp.report import make_report
    from actcmp.report.setup import sweep_file_problem

    if jobs < 1:
        raise ConfigError(f"{given('--jobs', jobs, 'ACTCMP_JOBS')} must be at least 1, got {jobs}")
    wanted = figure_formats(formats)
    out = out_path(out_text)
    _refuse_other_results(out, directory)
    _warn_damaged(directory)
    _warn_lines([problem] if (problem := sweep_file_problem(directory)) else [])
    paths = make_report(directory, formats=wanted, out=out, jobs=jobs)
    typer.echo(f"wrote {len(paths)} files; open {Path(out or directory) / 'report.html'}")


def _refuse_other_results(out: Path | None, directory: Path) -> None:
    """``report DIR --out OUT`` where OUT is another results directory (it holds its own store):
    its report.md, setup.json and tables would become DIR's beside OUT's own figures. One line,
    exit 2; OUT naming DIR itself (another path to it) is fine."""
    import os

    from actcmp.store.database import DB_NAME, db_path

    if out is None or not (db_path(out).exists() or db_path(out).is_symlink()):
        return
    try:
        same = os.path.samefile(out, directory)
    except OSError:
        same = False
    if not same:
        raise ConfigError(
            f"--out {out}: holds another results directory ({DB_NAME}); a report of {directory} there would "
            "replace its report: choose a new or empty directory"
        )


@guarded
def status(
    directory: ResultsDir,
    json_: JsonFlag = False,
) -> None:
    """Show done / pending / diverged / failed runs per cell; exit 1 if any are missing or failed.

    Works while a sweep is writing. With $GITHUB_STEP_SUMMARY set (GitHub Actions), also
    appends a Markdown summary there, so a CI job can gate on it and show it.

    Example: actcmp status results/default
    """
    from actcmp.analysis.status import cell_status, format_markdown, write_step_summary

    table = cell_status(directory)
    _warn_lines(table.damaged)
    if json_:
        from actcmp.jsonout import dumps, status_document

        typer.echo(dumps(status_document(table)))
        _step_summary(format_markdown(table), write_step_summary)
        if not table.complete:
            raise typer.Exit(1)
        return
    _print_status(table)
    from actcmp.run.tune import tune_status  # [tune]: tuning vs evaluation runs, selections, edge warnings

    tune_lines = tune_status(directory)
    for line in tune_lines:
        typer.echo(line)
    typer.echo(table.verdict())
    tune_block = "\n".join(["```", *tune_lines, "```", ""]) if tune_lines else ""
    _step_summary(format_markdown(table) + tune_block, write_step_summary)
    if not table.complete:
        raise typer.Exit(1)


def _print_status(table: StatusTable) -> None:
    """The per-cell table, the first failures, the shards held and the writer, if any."""
    from actcmp.analysis.status import format_status
    from actcmp.text import terminal_safe

    if table.cells:
        typer.echo(terminal_safe(format_status(table)))
    for rid, what, error in table.failures[:10]:
        typer.echo(terminal_safe(f"failed: {rid} {what}: {error}"))
    if len(table.failures) > 10:
        typer.echo(f"failed: ... and {len(table.failures) - 10} more")
    if table.shards:
        typer.echo(f"shards held here: {', '.join(table.shards)}")
    if table.writer:
        typer.echo(f"a sweep is writing here now (pid {table.writer.get('pid')} on {table.writer.get('host')})")


def _warn_lines(lines: list[str], most: int = 10) -> None:
    """Warnings on stderr, one per line, at most ``most`` and a count of the rest."""
    from actcmp.text import terminal_safe

    for line in lines[:most]:
        typer.echo(f"actcmp: warning: {terminal_safe(line)}", err=True)
    if len(lines) > most:
        typer.echo(f"actcmp: warning: ... and {len(lines) - most} more", err=True)


def _warn_damaged(*directories: Path) -> None:
    """Name the stored rows that cannot be read (the command goes on without them)."""
    from actcmp.store.database import Store

    for directory in directories:
        with Store(directory, create=False) as store:
            _warn_lines([f"{directory}: {line}" for line in store.damaged_rows()])


def _step_summary(markdown: str, writer: Callable[[str], Any]) -> None:
    try:
        writer(markdown)
    except OSError as exc:
        typer.echo(f"actcmp: warning: cannot append to $GITHUB_STEP_SUMMARY ({exc.strerror})", err=True)


@guarded
def merge(
    out_text: Annotated[
        str, typer.Argument(metavar="OUT", help="merged results directory (created; results already there are kept)")
    ],
    directories: Annotated[list[Path], typer.Argument(help="results directories to merge, e.g. one per shard")],
    json_: JsonFlag = False,
    prefer: Annotated[
        Path | None,
        typer.Option(
            help="for runs whose results differ because they ran on different CPU kernels or versions, keep the "
            "copy in this directory (one of the inputs, or OUT)"
        ),
    ] = None,
) -> None:
    """Merge results directories (e.g. CI shards) into OUT; refuses conflicts, atomically.

    The same run in several directories with identical results is kept once; different
    results for one run, the same shard twice, or stores of another version are refused
    and OUT is left as it was. The same merge run again is a no-op. Runs whose results
    differ because they ran on different CPU kernel families (or versions) are refused
    with what differs; --prefer DIR keeps that directory's copies.

    Example: actcmp merge results/default shard-1 shard-2 shard-3 shard-4
    """
    from actcmp.store.merge import merge_results

    out = out_path(out_text, "OUT")
    assert out is not None
    report = merge_results(out, list(directories), prefer=prefer)
    if json_:
        from actcmp.jsonout import dumps, merge_document

        for line in report.missing:
            typer.echo(f"actcmp: warning: {line}", err=True)
        typer.echo(dumps(merge_document(report)))
        return
    parts = " + ".join(str(n) for n in report.added)
    if report.out_had_results:
        parts = f"{report.already_in_out} already in {report.out} + {parts}"
    count = len(report.sources)
    if report.out_had_results and not any(report.added) and not report.replaced_failed and not report.preferred:
        typer.echo(
            f"nothing new: {report.out} already holds every run of the {plural(count, 'input')} "
            f"({report.total_runs} runs; the same merge again changes nothing)"
        )
        for line in report.missing:
            typer.echo(f"actcmp: warning: {line}", err=True)
        return
    typer.echo(
        f"merged {count} results director{'y' if count == 1 else 'ies'} into {report.out}: {report.total_runs} runs "
        f"({parts}), {len(report.duplicates)} duplicates"
    )
    if identical := report.identical:
        shown = ", ".join(rid for rid, _, _ in identical[:5]) + (" ..." if len(identical) > 5 else "")
        typer.echo(
            f"duplicates: {len(identical)} runs stored more than once with identical results, kept once: {shown}"
        )
    if report.preferred:
        shown = ", ".join(rid for rid, _, _ in report.preferred[:5]) + (" ..." if len(report.preferred) > 5 else "")
        typer.echo(
            f"preferred: {len(report.preferred)} runs differed between environments, kept the copy in "
            f"{report.preferred[0][1]}: {shown}"
        )
    for rid, failed_in, finished_in in report.replaced_failed:
        typer.echo(f"run {rid}: failed in {failed_in}, finished in {finished_in}: kept the finished one")
    for line in report.missing:
        typer.echo(f"actcmp: warning: {line}", err=True)


@guarded
def compare(
    new: Annotated[Path, typer.Argument(help="results directory to check")],
    baseline: Annotated[Path, typer.Argument(help="results directory to compare against")],
    metric: Annotated[str, typer.Option(help="final metric to compare")] = "test_loss",
    k: Annotated[float, typer.Option("--k", help="limit in pooled seed standard deviations")] = 3.0,
    rtol: Annotated[float, typer.Option(help="floor of the limit, relative to the baseline mean")] = 0.01,
    atol: Annotated[float, typer.Option(help="absolute floor of the limit")] = 1e-6,
    show_all: Annotated[bool, typer.Option("--all", help="show every cell, not only those that moved")] = False,
    json_: JsonFlag = False,
) -> None:
    """Flag cells whose mean metric moved beyond their seed spread; exit 1 if any got worse.

    A cell regressed when |mean_new - mean_baseline| > max(k x pooled seed std, atol,
    rtol x |mean_baseline|) in the bad direction, or when more of its runs diverged;
    a cell of the baseline missing from NEW, or of which NEW holds fewer runs (seeds
    missing: an interrupted sweep, one shard), also fails the check.

    A sweep with \\[tune] is compared as the report compares it: its tuning runs and its
    runs at a selected value are left out (the summary line counts them).

    Example: actcmp compare results/nightly results/baseline --k 3
    """
    from actcmp.analysis.compare import compare_results, format_comparison, format_markdown, open_side
    from actcmp.analysis.status import write_step_summary

    open_side(new, "NEW")  # a directory that cannot be read is named as the argument it is
    open_side(baseline, "BASELINE")
    _warn_damaged(new, baseline)
    comparison = compare_results(new, baseline, metric=metric, k=k, rtol=rtol, atol=atol)
    if json_:
        from actcmp.jsonout import compare_document, dumps

        typer.echo(dumps(compare_document(comparison, new, baseline)))
    else:
        typer.echo(format_comparison(comparison, show_all=show_all))
    _step_summary(format_markdown(comparison, new, baseline), write_step_summary)
    if comparison.failed:
        raise typer.Exit(1)


@guarded
def export(
    directory: ResultsDir,
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            help="parquet | csv | mlflow (pip install 'actcmp\\[mlflow]') | tensorboard (pip install 'actcmp\\[tensorboard]')",
        ),
    ] = "parquet",
    out_text: Annotated[
        str | None,
        typer.Option("--out", metavar="DIR", help="output directory \\[default: DIR/export/, DIR/export/mlflow/, ...]"),
    ] = None,
) -> None:
    """Export stored results as Parquet or CSV files, an MLflow store or TensorBoard logs.

    parquet/csv: the frames runs, epochs, layers, planned and environments, one file each.
    mlflow: one experiment per sweep, one MLflow run per actcmp run there (params, per-epoch
    metrics, tags), the report's figures in a 'summary' run. tensorboard: scalars per run and
    the HParams table. An earlier export at the same place is replaced (parquet/csv: only the
    files an actcmp export wrote there; a file of those names it did not write is refused);
    Ctrl-C or SIGTERM puts an mlflow/tensorboard export back, and what an export killed
    outright left is put right by the next one.
    A stored run that cannot be read is named in a warning and left out.

    Example: actcmp export results/default --format mlflow
    """
    from actcmp.signals import interrupts

    out = out_path(out_text)
    with interrupts():  # SIGTERM as Ctrl-C: an export under way puts the earlier one back (exit 143)
        _export(directory, format_, out)


def _export(directory: Path, format_: str, out: Path | None) -> None:
    """:func:`export`, under its signal guard. A stored row that cannot be read is named
    (:func:`_warn_damaged`) and left out, whatever the format."""
    _warn_damaged(directory)
    if format_ == "mlflow":
        from actcmp.store.export_mlflow import export_mlflow

        written = export_mlflow(directory, out)
        _warn_lines(written.notes)
        mlflow_runs = sum(written.experiments.values())
        runs = (
            f"{written.runs} MLflow runs"
            if mlflow_runs == written.runs
            else f"{written.runs} actcmp runs as {mlflow_runs} MLflow runs"
        )
        shared = (
            f" ({plural(written.shared, 'run')} planned by sweeps of different names, in each of their experiments)"
            if written.shared
            else ""
        )
        typer.echo(
            f"wrote {runs} in {len(written.experiments)} experiment(s){shared} to {written.path}; "
            f"view: MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {written.uri}"
        )
        return
    if format_ == "tensorboard":
        from actcmp.store.export_tensorboard import export_tensorboard

        logs = export_tensorboard(directory, out)
        _warn_lines(logs.notes)
        typer.echo(f"wrote TensorBoard logs of {logs.runs} runs to {logs.path}; view: tensorboard --logdir {logs.path}")
        return
    from actcmp.store.export import export_results

    paths = export_results(directory, format_, out)
    typer.echo(f"wrote {', '.join(str(p) for p in paths)}")
