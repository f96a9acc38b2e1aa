"""Tables, figures and a Markdown/HTML report from stored results (reads only, never trains).

``make_report(DIR)`` writes::

    DIR/tables/{main,ranks,depth_scaling,status,init}.{csv,md,tex}
    DIR/figures/{loss_curves,dead_fraction,test_loss_vs_depth,heatmap_test_loss,
                 heatmap_dead_fraction,grad_norm_by_layer,postact_std_by_layer,
                 zero_fraction_by_layer,activation_functions}.{png,pdf}
                 (test_loss_vs_depth only when the runs use 2 or more depths)
    DIR/figures/critical_difference.{png,pdf}   when the Friedman test can run
    DIR/figures/depth_scaling.{png,pdf}         when the runs use 2 or more depths
    DIR/figures/{reconstructions,latent,roc}_<dataset>.{png,pdf}   from the runs' stored samples
                                                (actcmp.report.pictures; images / anomaly sets only)
    DIR/report.md  DIR/report.html (self-contained: images embedded)
    DIR/setup.json   what the report's Setup states (fields, axes, seeds, versions, commit, dates)

The report opens with Setup and Findings, then a table of contents, then the details
(see :mod:`actcmp.report.document`).

A directory without a finished (done or diverged) run raises
:class:`~actcmp.errors.StoreError` and writes nothing.

The main table marks in bold the best activation of each cell and every activation not
separable from it after Holm's correction (paired t-tests over seeds of the log loss), with Student t
intervals of the means; the statistics section gives the Friedman test over cells, the
Nemenyi critical difference and depth scaling.

Heavy imports (pandas, matplotlib, torch) happen inside the functions, so importing this
package is cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from actcmp.report.document import FigureDoc, FindingsBuilder, SectionBuilder
    from actcmp.report.tables import BestRule
    from actcmp.store.database import Results

__all__ = ["make_report"]

ACTIVATIONS_CAPTION = (
    "The activations compared, f(x) left and f'(x) right: a derivative that is zero on a half-line (ReLU) "
    "lets units die; one that tends to zero at both ends (sigmoid, tanh) saturates."
)


def make_report(
    directory: str | Path,
    formats: Sequence[str] = ("png", "pdf"),
    *,
    sections: Sequence[SectionBuilder] | None = None,
    best_rule: BestRule | None = None,
    extra_sections: Sequence[SectionBuilder] = (),
    extra_findings: Sequence[FindingsBuilder] = (),
    out: str | Path | None = None,
    jobs: int = 1,
) -> list[Path]:
    """Write tables, figures, setup.json, report.md and report.html under ``out``
    (default: ``directory``, the results directory); return the paths.

    ``extra_sections`` go first among the details, after Setup, Findings and the contents
    (:func:`actcmp.report.document.report_sections`); ``extra_findings`` add sentences to
    Findings. ``sections`` replaces the whole section list (see :mod:`actcmp.report.document`);
    ``best_rule`` decides which activations of a cell are marked best (default: lowest mean
    among those with the fewest diverged seeds); activations statistically tied with the
    cell's best are bold as well.

    ``jobs``: processes drawing the figures (:mod:`actcmp.report.workers`; Linux only, one
    elsewhere); the files are the same for any number.

    Raises :class:`~actcmp.errors.StoreError` (and writes nothing) when no run has
    finished: there would be nothing to tabulate or plot.
    """
    from actcmp.signals import interrupts

    # the whole report under the guard: a Ctrl-C that Python raises inside a __del__ or a
    # weakref callback (matplotlib's) is printed and lost there; the guard raises it again
    with interrupts():
        return _make_report(
            directory, formats, sections=sections, best_rule=best_rule, extra_sections=extra_sections,
            extra_findings=extra_findings, out=out, jobs=jobs,
        )  # fmt: skip


def _make_report(
    directory: str | Path,
    formats: Sequence[str],
    *,
    sections: Sequence[SectionBuilder] | None,
    best_rule: BestRule | None,
    extra_sections: Sequence[SectionBuilder],
    extra_findings: Sequence[FindingsBuilder],
    out: str | Path | None,
    jobs: int,
) -> list[Path]:
    """:func:`make_report` (which runs it under :func:`actcmp.signals.interrupts`)."""
    from actcmp.atomic import make_dir
    from actcmp.report import document, pictures, plots, statistics, tables, workers
    from actcmp.report.setup import collect_setup, write_setup_json
    from actcmp.store.database import load_results

    source = Path(directory)
    formats = tuple(dict.fromkeys(f.lower().lstrip(".") for f in formats))
    results = tables.complete(load_results(source))
    _require_finished(results, source)
    if out is not None:
        _refuse_foreign_report_dir(Path(out))
    directory = make_dir(Path(out)) if out is not None else source
    _check_targets(directory)
    written: list[Path] = []
    # [tune] (actcmp.report.tune): selection, tuned vs common comparison, sensitivity figure;
    # the tuning runs stay out of every other table and figure
    from actcmp.report import tune as tune_report

    tuned = tune_report.build(source, directory, results, formats, written, later=True)  # figures: below
    results = tune_report.evaluation_only(results, tuned.left_out_ids)

    # the figures are drawn first, in `jobs` forked workers (actcmp.report.workers) while this
    # process builds the tables and the statistics; one job draws them here, in the same order
    specs = list(plots.standard_figures())
    runs = results.runs
    single_depth = "depth" not in runs or runs["depth"].nunique() < 2  # no line over depth to draw
    if single_depth:
        specs = [spec for spec in specs if spec[0] != "test_loss_vs_depth"]
    unimportable = _unimportable(results)  # a custom activation whose module is not importable here
    specs.append(
        (
            "activation_functions",
            "The activation functions",
            activations_caption(unimportable),
            functools.partial(_activation_figure, unimportable=tuple(unimportable)),
        )
    )
    specs += pictures.figure_specs(results)  # issue 15: reconstruction grids, latent space, ROC from stored samples
    if jobs > 1:  # imported once before the workers fork, not once in each
        import matplotlib.backends.backend_agg
        import matplotlib.figure  # noqa: F401
    stems = [spec[0] for spec in specs] + [f"{tune_report.SENSITIVITY_STEM}{suffix}" for suffix in ("", "_*")]
    figure_names = [f"{stem}.{fmt}" for stem in stems for fmt in formats]
    # what an earlier report killed with its workers (out of memory, SIGKILL) left half-written
    workers.remove_temporaries(directory / "figures", figure_names, only_of_dead_writers=True)
    # the tuned sweeps' sensitivity figures first: the largest (9 s for the [tune] default sweep's)
    tasks: list[Callable[[], tuple[FigureDoc | None, list[Path]]]] = [*tuned.figure_tasks]
    tasks += [functools.partial(_draw, spec, results, directory, formats) for spec in specs]
    drawing = workers.start(tasks, jobs)
    try:  # Ctrl-C and SIGTERM (make_report's guard): the workers are stopped, no temporary file is left
        learning = tables.count_learning(results)  # once: the main table's marks and the Findings read it
        built = tables.build_tables(results, best_rule or tables.lowest, learning)
        for table in built:
            written += tables.write_table(table, directory / "tables")
        found = statistics.analyse(results)
        drawn_statistics = [
            _draw(spec, results, directory, formats) for spec in statistics.figure_specs(results, found)
        ]
        drawn = drawing.results()
    except BaseException:
        drawing.close()
        workers.remove_temporaries(directory / "figures", figure_names)  # a killed worker's
        raise
    finally:
        drawing.close()
    for figure, paths in drawn[: len(tuned.figure_tasks)]:
        assert figure is not None
        tuned.figures.append(figure)
        written += paths
    figures: list[document.FigureDoc] = []
    for figure, paths in drawn[len(tuned.figure_tasks) :]:
        if figure is not None:
            figures.append(figure)
            written += paths
    for figure, paths in drawn_statistics:
        assert figure is not None
        found.figures[figure.stem] = figure
        written += paths
    not_applying = [stem for stem in statistics.FIGURE_STEMS if stem not in found.figures]
    not_applying += ["test_loss_vs_depth"] if single_depth else []
    for stem in not_applying:  # does not apply (the report says why): no stale one either
        for old in (directory / "figures").glob(f"{stem}.*"):
            old.unlink()

    context = document.ReportContext(results, source, {t.name: t for t in built}, figures)
    context.extra["statistics"] = found
    context.extra["learning"] = learning  # read by document.findings_section
    context.extra["tune"] = tuned  # [tune]: read by document.SECTIONS' tune_section
    context.tables.update({t.name: t for t in tuned.tables})
    context.extra["setup"] = collect_setup(results, tuned.tunes)
    context.extra["extra_findings"] = list(extra_findings)
    written.append(write_setup_json(directory / "setup.json", context.extra["setup"]))
    if sections is None:
        sections = document.report_sections(extra_sections)
    written.append(document.write_markdown(directory / "report.md", context, sections))
    written.append(document.write_html(directory / "report.html", context, sections))
    return written


def _check_targets(directory: Path) -> None:
    """Refuse, before drawing anything, a directory where a report file goes or a file
    where a report folder goes (one line, exit 2)."""
    from actcmp.atomic import make_dir
    from actcmp.errors import OutputError

    for name in ("report.md", "report.html", "setup.json"):
        if (directory / name).is_dir():
            raise OutputError(f"cannot write {directory / name}: is a directory")
    for name in ("tables", "figures"):
        make_dir(directory / name)


#: how every actcmp report begins (report.md's first line, report.html's title)
REPORT_MARKS = {"report.md": "# actcmp report", "report.html": "<title>actcmp report</title>"}


def _refuse_foreign_report_dir(out: Path) -> None:
    """``--out OUT`` holding a ``report.md`` or ``report.html`` that no actcmp report wrote
    (it does not begin as every actcmp report has: ``# actcmp report``, the HTML's title):
    one line, exit 2, instead of replacing the user's files. A report of any actcmp version
    is replaced; a folder holding a results store is not checked here (the results directory's
    own report is replaced; ``actcmp report A --out B`` onto another store is refused by the CLI)."""
    from actcmp.errors import ConfigError
    from actcmp.store.database import db_path

    if not out.is_dir() or db_path(out).exists():
        return
    clashes = []
    for name, mark in REPORT_MARKS.items():
        path = out / name
        if not path.is_file():  # absent, or a folder in its way (refused by _check_targets, as such)
            continue
        try:
            with path.open("rb") as handle:
                head = handle.read(4096).decode("utf-8", "replace")
        except OSError:
            head = ""
        if mark not in head:
            clashes.append(name)
    if clashes:
        raise ConfigError(
            f"--out {out}: holds {', '.join(clashes)} that no actcmp report wrote; a report would replace "
            f"{'them' if len(clashes) > 1 else 'it'}: choose a new or empty directory"
        )


def _require_finished(results: Results, directory: Path) -> None:
    """Raise :class:`~actcmp.errors.StoreError` unless some run is done or diverged."""
    from actcmp.errors import StoreError
    from actcmp.store.database import FINISHED

    status = results.runs["status"]
    if status.isin(FINISHED).any():
        return
    planned = len(set(results.planned.get("run_id", ())) | set(results.runs["run_id"]))
    failed = int((status == "failed").sum())
    hint = f"see 'actcmp status {directory}' for why they failed" if failed else "run 'actcmp run ...' first"
    raise StoreError(f"{directory}: no finished runs to report ({planned} planned, {failed} failed); {hint}")


def _draw(
    spec: tuple[str, str, str, Callable[[Results], Figure | None]],
    results: Results,
    directory: Path,
    formats: tuple[str, ...],
) -> tuple[FigureDoc | None, list[Path]]:
    """Draw one figure spec ``(stem, title, caption, draw)`` and save it: its
    :class:`FigureDoc` and the paths written (None and no paths when ``draw`` gives None)."""
    stem, title, caption, draw = spec
    fig = draw(results)
    if fig is None:
        return None, []
    paths: list[Path] = []
    return _render(fig, directory, stem, title, caption, formats, paths), paths


def activations_caption(unimportable: Sequence[str] = ()) -> str:
    """The activation figure's caption: :data:`ACTIVATIONS_CAPTION`, and a line naming the runs'
    activations that cannot be imported where the report is made (not drawn)."""
    if not unimportable:
        return ACTIVATIONS_CAPTION
    names = ", ".join(f"`{name}`" for name in unimportable)
    one = len(unimportable) == 1
    return (
        f"{ACTIVATIONS_CAPTION} Not drawn: {names}, which cannot be imported where this report was made "
        f"({'its module is' if one else 'their modules are'} not on the Python path here: make the report from "
        "the directory the sweep ran in, or add it to PYTHONPATH); the tables and the other figures read "
        f"{'its' if one else 'their'} stored runs."
    )


def _unimportable(results: Results) -> list[str]:
    """The runs' activations that cannot be parsed here: user callables (``module:name``) whose
    module does not import from this directory. Parsing imports no torch for a registry name."""
    from actcmp.analysis.cells import activation_order
    from actcmp.core.activations import parse_activation
    from actcmp.errors import ActcmpError

    runs = results.runs
    if runs.empty or "activation" not in runs:
        return []
    missing = []
    for name in activation_order(runs["activation"]):
        try:
            parse_activation(name)
        except ActcmpError:
            missing.append(name)
    return missing


def _activation_figure(results: Results, unimportable: Sequence[str] = ()) -> Figure | None:
    """f and f' of the runs' activations that can be rebuilt here, the others named in the
    figure (``unimportable`` first, then any other that does not build); None when the runs
    have none."""
    from actcmp.analysis.cells import activation_order
    from actcmp.core.activations import parse_activation
    from actcmp.errors import ActcmpError
    from actcmp.report import plots

    runs = results.runs
    every = activation_order(runs["activation"]) if not runs.empty and "activation" in runs else []
    names: list[str] = []
    missing = [name for name in unimportable if name in every]
    for name in every:
        if name in unimportable:
            continue
        try:
            parse_activation(name).build()
        except ActcmpError:
            missing.append(name)
            continue
        names.append(name)
    if not names and not missing:
        return None
    return plots.plot_activation_functions(names, missing=missing)


def _render(
    fig: Figure, directory: Path, stem: str, title: str, caption: str, formats: tuple[str, ...], written: list[Path]
) -> FigureDoc:
    """Save ``fig`` as ``figures/STEM.FORMAT`` (paths appended to ``written``) and return
    its :class:`FigureDoc` with PNG bytes for the HTML page."""
    from actcmp.report import document, plots

    png = None if "png" in formats else plots.png_bytes(fig, plots.SAVE_DPI)
    written += plots.save(fig, directory / "figures" / stem, formats)
    if png is None:
        png = (directory / "figures" / f"{stem}.png").read_bytes()
    return document.FigureDoc(stem, title, caption, png, formats)
