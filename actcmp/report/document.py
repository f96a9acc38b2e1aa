"""report.md and report.html from tables and figures.

A report is a list of *sections*; each section builder takes the :class:`ReportContext`
and returns a :class:`Section` (a title and blocks: paragraphs, bullet lists, tables,
figures) or ``None`` to leave itself out. Markdown and HTML render the same blocks (page
skeleton, text and lists in :mod:`actcmp.report.render`, shared with the claims document).

A report opens with **Setup** (what was run, with what, where, when: :mod:`actcmp.report.setup`)
and **Findings** (sentences from the statistics, each linking to its table or figure:
:mod:`actcmp.report.findings`), then a table of contents, then the details
(:data:`SECTIONS`). Every section, table and figure has an anchor (``#setup``,
``#table-main``, ``#figure-loss_curves``), in HTML and in Markdown.

Extension points: :func:`report_sections` takes extra section builders, placed first
among the details (e.g. the ``[tune]`` protocol's selected hyper-parameters and the
side-by-side comparison); ``make_report(extra_findings=...)`` adds sentences to Findings
(functions of the :class:`ReportContext`, see :data:`FindingsBuilder`). Passing
``sections=`` to :func:`write_markdown` / :func:`write_html` / ``make_report`` replaces the
whole list.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.analysis.cells import activation_order, cell_keys
from actcmp.report import render
from actcmp.report.findings import figure_anchor, table_anchor
from actcmp.report.format import fmt_duration
from actcmp.report.frames import key_value_text
from actcmp.report.render import FigureDoc, Section
from actcmp.report.tables import Table, markdown_escape, to_html, to_markdown
from actcmp.report.tune import tune_section
from actcmp.report.writers import markdown_name

if TYPE_CHECKING:
    from actcmp.store.database import Results


@dataclass
class ReportContext:
    results: Results
    directory: Path
    tables: dict[str, Table]
    figures: list[FigureDoc]
    extra: dict[str, Any] = field(default_factory=dict)


# A report Section's blocks: ("text", str) | ("list", [str]) | ("table", name) | ("figure", FigureDoc)
# | ("fields", [(name, value, meaning)]); figure stems are relative to the report's figures/ folder.
SectionBuilder = Callable[[ReportContext], Section | None]
#: extra Findings sentences (Markdown inline: `code`, **bold**, [links](#anchor)) from the context
FindingsBuilder = Callable[[ReportContext], list[str]]

INIT_RULES = {
    "kaiming": "He: std = gain / sqrt(fan_in), gain sqrt(2) (ReLU-like; adjusted for the negative slope)",
    "xavier": "Glorot: std = gain * sqrt(2 / (fan_in + fan_out)), gain 5/3 for tanh, 1 otherwise",
    "lecun": "LeCun: std = 1 / sqrt(fan_in)",
    "torch-default": "PyTorch default: uniform with std = 1 / sqrt(3 fan_in), uniform biases",
}


# -- sections ------------------------------------------------------------------------------
def _values(frame: Any, column: str) -> str:
    if column not in frame.columns or frame.empty:
        return "none"
    values = frame[column].dropna().unique()
    ordered = activation_order(values) if column == "activation" else sorted(values, key=lambda v: (str(type(v)), v))
    shown = [markdown_name(key_value_text(column, v)) for v in ordered]  # user names (files): escaped
    if len(shown) and frame[column].isna().any():  # unset in some runs (split_seed: each seed its own split)
        shown = ["none", *shown]
    return ", ".join(shown)


def slug(title: str) -> str:
    """``Statistics across cells`` -> ``statistics-across-cells`` (a section's anchor)."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


def setup_section(ctx: ReportContext) -> Section:
    """What was run: the sweep and its origin, runs and dates, axes, seeds, init, software
    and hardware, then every fixed run field (from ``ctx.extra["setup"]``, else collected)."""
    from actcmp.report.setup import collect_setup, setup_items, setup_rows

    setup = ctx.extra.get("setup") or collect_setup(ctx.results)
    blocks: list[tuple[str, Any]] = [("list", setup_items(setup, str(ctx.directory)))]
    rows = setup_rows(setup) if setup["runs"]["stored"] else []  # no stored run: no field to state
    if rows:
        blocks += [("text", fields_lead(setup))]
        blocks.append(("fields", rows))
    blocks.append(("text", "The same as JSON: `setup.json`."))
    return Section("Setup", blocks, anchor="setup")


def fields_lead(setup: dict[str, Any]) -> str:
    """The sentence before the Setup's fields: which runs they describe. Under ``[tune]`` the
    evaluation runs at the common value (the tables' runs); the tuning runs differ in their seeds,
    the tuned fields and, where it differs, what they record."""
    tunes = setup.get("tune") or []
    planned = " planned" if setup.get("runs", {}).get("pending") else ""  # stored or not: the plan's fields
    if not tunes:
        return f"Run fields with one value in every{planned} run (or following the dataset or activation):"
    tuned = ", ".join(f"`{name}`" for name in setup.get("tuned", {})) or "the tuned fields"
    record = setup.get("fixed", {}).get("record")
    records = sorted({str(t.get("tuning_record")) for t in tunes} - {"None", str(record)})
    recorded = f" and what they record (`record`: {', '.join(records)})" if records else ""
    return (
        f"Run fields with one value in every{planned} evaluation run at the common value, the runs of the tables (or "
        f"following the dataset or activation); the tuning runs differ in their seeds, {tuned}{recorded}:"
    )


def findings_section(ctx: ReportContext) -> Section:
    """Sentences generated from the statistics (:mod:`actcmp.report.findings`; the did-not-learn
    counts of the main table's marks: ``ctx.extra["learning"]``, counted when absent), then those
    of ``ctx.extra["extra_findings"]`` (a list of :data:`FindingsBuilder`)."""
    from actcmp.report.findings import findings_blocks

    main = ctx.tables["main"].raw if "main" in ctx.tables else ctx.results.runs.iloc[0:0]
    blocks = findings_blocks(ctx.results, main, ctx.extra.get("statistics"), ctx.extra.get("learning"))
    from actcmp.report import tune as tune_report

    tuned = tune_report.findings(ctx.extra.get("tune"))
    link = "([tuned comparison](#tuned-comparison))"
    edges = [s.removeprefix("Edge choice: ") for s in tuned if s.startswith("Edge choice: ")]
    blocks += [("text", f"{sentence} {link}") for sentence in tuned if not sentence.startswith("Edge choice: ")]
    if edges:
        blocks += [("text", f"Edge choices ({len(edges)}), where the optimum may lie outside the candidates {link}:")]
        blocks.append(("list", edges))
    for builder in ctx.extra.get("extra_findings", ()):
        blocks += [("text", sentence) for sentence in builder(ctx)]
    return Section("Findings", blocks, anchor="findings")


def contents_section(ctx: ReportContext) -> Section:
    """Placeholder for the table of contents: :func:`_sections` fills it with links to
    every section after it and to their tables and figures."""
    return Section("Contents", [], anchor="contents")


def _contents(sections: Sequence[Section], ctx: ReportContext) -> list[str]:
    items = []
    for section in sections:
        inner = []
        for kind, content in section.blocks:
            if kind == "table" and content in ctx.tables:  # titles carry user names: escaped as in the tables
                inner.append(f"[{markdown_name(ctx.tables[content].title)}](#{table_anchor(content)})")
            elif kind == "figure":
                inner.append(f"[{markdown_name(content.title)}](#{figure_anchor(content.stem)})")
        entry = f"[{section.title}](#{section.anchor})"
        items.append(entry + (": " + ", ".join(inner) if inner else ""))
    return items


def summary_section(ctx: ReportContext) -> Section:
    runs = ctx.results.runs
    status = ctx.tables["status"].raw
    total = status[status["activation"] == "all"].iloc[0] if len(status) else None
    counts = (
        f"{int(total['done'])} done, {int(total['diverged'])} diverged, {int(total['failed'])} failed, "
        f"{int(total['pending'])} pending"
        if total is not None
        else "none"
    )
    wall = float(runs["wall_time_s"].sum()) if "wall_time_s" in runs and len(runs) else float("nan")
    extras = [k for k in cell_keys(runs) if k not in ("dataset", "depth")]
    tune = ctx.extra.get("tune")
    tuned = tune is not None and bool(tune.tunes)  # the tables hold the runs at the common value only
    what = "Runs in the tables (at the common value; tuning runs: [Setup](#setup))" if tuned else "Runs stored"
    items = [
        f"{what}: {len(runs)} ({counts})",
        f"Datasets: {_values(runs, 'dataset')}",
        f"Activations: {_values(runs, 'activation')}",
        f"Depths: {_values(runs, 'depth')}",
        f"Seeds: {_values(runs, 'seed')}",
        # each run's own time added up (a batched group's runs share its time; parallel
        # workers overlap): not the sweep's wall time, which the sweep prints at its end
        f"Sum of run times: {fmt_duration(wall)} (not wall time: workers run in parallel)",
    ]
    if extras:
        items.append("Also varied (part of each cell): " + ", ".join(f"{e} ({_values(runs, e)})" for e in extras))
    text = (
        "Losses are averaged over converged seeds only; diverged runs (non-finite loss) are counted "
        "separately and failed runs are listed in the status table."
    )
    return Section("Summary", [("list", items), ("text", text)])


def tables_section(ctx: ReportContext) -> Section:
    blocks: list[tuple[str, Any]] = []
    for name in ("main", "status"):
        if name in ctx.tables:
            blocks.append(("table", name))
    return Section("Tables", blocks)


def statistics_section(ctx: ReportContext) -> Section | None:
    """Ranks across cells with the Friedman test and the Nemenyi critical difference (and
    its diagram), then depth scaling. Reads ``ctx.extra["statistics"]`` (an
    :class:`actcmp.report.statistics.Statistics`); without it, just the two tables."""
    from actcmp.report import statistics as words

    found = ctx.extra.get("statistics")
    blocks: list[tuple[str, Any]] = []
    if "ranks" in ctx.tables:
        blocks.append(("table", "ranks"))
    if found is not None:
        blocks += [("text", t) for t in words.friedman_text(found.friedman)]
        if found.friedman.notes:
            blocks.append(("list", list(found.friedman.notes)))
        if found.cd_drawn and "critical_difference" in found.figures:
            blocks.append(("figure", found.figures["critical_difference"]))
        depth_text = words.depth_text(found)
        if depth_text:
            blocks.append(("text", depth_text))
        else:
            blocks.append(("table", "depth_scaling"))
            if "depth_scaling" in found.figures:
                blocks.append(("figure", found.figures["depth_scaling"]))
    elif "depth_scaling" in ctx.tables:
        blocks.append(("table", "depth_scaling"))
    return Section("Statistics across cells", blocks) if blocks else None


def figures_section(ctx: ReportContext) -> Section | None:
    if not ctx.figures:
        return None
    return Section("Figures", [("figure", f) for f in ctx.figures])


def init_section(ctx: ReportContext) -> Section | None:
    table = ctx.tables.get("init")
    if table is None or table.raw.empty:
        return None
    rules = sorted({r.strip() for value in table.raw["init"] for r in str(value).split(",")})
    items = [f"`{r}`: {INIT_RULES.get(r, 'as named')}" for r in rules]
    text = (
        "Weights are initialised per activation by the rule below (from each run's `init`); every "
        "activation of a cell starts from the same underlying random draw, scaled by its rule."
    )
    return Section("Initialisation", [("text", text), ("table", "init"), ("list", items)])


def regenerate_section(ctx: ReportContext) -> Section:
    """How to make the report again (``actcmp report``) and, where the sweep file is recorded,
    how to train the sweep again (``actcmp run``), from ``sweep.json``'s provenance."""
    from actcmp.report.setup import collect_setup

    setup = ctx.extra.get("setup") or collect_setup(ctx.results)
    blocks: list[tuple[str, Any]] = [
        (
            "text",
            f"`actcmp report {ctx.directory}` rebuilds every table, figure and this report from the stored results, "
            "without training.",
        )
    ]
    train = train_command(setup.get("provenance") or {}, str(ctx.directory))
    if train:
        blocks.append(("text", train))
    return Section("How to regenerate", blocks)


def train_command(origin: dict[str, Any], directory: str) -> str | None:
    """The sentence giving the command that trains the sweep again: from the sweep file recorded at
    run time (``sweep.json``'s provenance), with its git commit where known; for a sweep given on the
    command line, that its resolved form is in ``sweep.json``; None where nothing is recorded."""
    import shlex

    file, source = origin.get("sweep_file"), origin.get("source")
    commit = origin.get("git_commit")
    dirty = ", with uncommitted changes" if origin.get("git_dirty") else ""
    at_commit = f" (at git commit `{str(commit)[:12]}`{dirty})" if commit else ""
    if file:
        command = f"actcmp run {shlex.quote(str(file))} --out {shlex.quote(directory)}"
        if isinstance(source, str) and "command-line options" in source:
            return (
                f"`{command}`, with the command-line options it was run with, trains the sweep again from its "
                f"recorded sweep file{at_commit}: the options are not recorded one by one, the "
                f"sweep they made is (grid and fixed fields, in `{directory}/sweep.json`); it skips every run "
                "already stored there (use a new `--out` to train from scratch)."
            )
        return (
            f"`{command}` trains the sweep again from its recorded sweep file{at_commit}; it "
            "skips every run already stored there (use a new `--out` to train from scratch)."
        )
    if source == "command line":
        return (
            "The sweep was given on the command line: its resolved form (grid, fixed fields, every planned run's "
            f"config) is in `{directory}/sweep.json`; `actcmp run` with the same options trains it again."
        )
    return None


#: the sections that open every report: what was run, what it found, the table of contents
LEAD_SECTIONS: list[SectionBuilder] = [setup_section, findings_section, contents_section]
#: the details, after the table of contents; append builders here to extend every report
SECTIONS: list[SectionBuilder] = [
    summary_section,
    tune_section,  # [tune] sweeps only (actcmp.report.tune)
    tables_section,
    statistics_section,
    figures_section,
    init_section,
    regenerate_section,
]


def report_sections(extra_sections: Sequence[SectionBuilder] = ()) -> list[SectionBuilder]:
    """The report's section list: Setup, Findings, Contents, then ``extra_sections`` (the
    hook for e.g. the ``[tune]`` protocol's "Selected hyper-parameters" and side-by-side
    comparison: the first details a reader meets), then :data:`SECTIONS`."""
    return [*LEAD_SECTIONS, *extra_sections, *SECTIONS]


def _sections(ctx: ReportContext, sections: Sequence[SectionBuilder] | None) -> list[Section]:
    built = [builder(ctx) for builder in (report_sections() if sections is None else sections)]
    kept = [s for s in built if s is not None]
    used: set[str] = set()
    for section in kept:  # every section gets a unique anchor (links, contents)
        anchor = section.anchor or slug(section.title)
        while anchor in used:
            anchor += "-2"
        section.anchor = anchor
        used.add(anchor)
    for i, section in enumerate(kept):
        if section.title == "Contents" and not section.blocks:
            section.blocks = [("list", _contents(kept[i + 1 :], ctx))]
    return kept


# -- markdown ------------------------------------------------------------------------------
def _markdown_block(ctx: ReportContext, kind: str, content: Any) -> list[str]:
    if kind == "table":
        table = ctx.tables[content]
        caption = render.markdown_text(table.caption)
        out = [
            render.markdown_anchor(table_anchor(content)),
            f"### {render.markdown_text(markdown_name(table.title))}",
            "",
            caption,
            "",
            to_markdown(table.display, table.bold).rstrip("\n"),
            "",
        ]
        if table.notes:
            out += [f"{markdown_escape(n)}  " for n in table.notes] + [""]
        return out
    if kind == "figure":
        title = render.markdown_text(markdown_name(content.title))  # titles carry user names (datasets, files)
        image, links = render.markdown_figure(f"figures/{content.stem}", title, content.formats)
        text = render.markdown_text(content.caption)
        caption = f"{text} ({links})" if links else text
        return [render.markdown_anchor(figure_anchor(content.stem)), f"### {title}", "", image, "", caption, ""]
    if kind == "fields":
        display, bold = _fields_frame(content)
        return [to_markdown(display, bold).rstrip("\n"), ""]
    return []


def _fields_frame(rows: list[tuple[str, str, str]]) -> tuple[Any, Any]:
    """(display, bold) frames of a ("fields", rows) block: field, value, meaning."""
    import pandas as pd

    display = pd.DataFrame(rows, columns=["field", "value", "meaning"])
    return display, pd.DataFrame(False, index=display.index, columns=display.columns)


def render_markdown(ctx: ReportContext, sections: Sequence[SectionBuilder] | None = None) -> str:
    return render.markdown_page(
        "actcmp report",
        _sections(ctx, sections),
        lambda kind, content: _markdown_block(ctx, kind, content),
        anchors=True,
    )


def write_markdown(path: str | Path, ctx: ReportContext, sections: Sequence[SectionBuilder] | None = None) -> Path:
    from actcmp.atomic import write_text

    path = Path(path)
    write_text(path, render_markdown(ctx, sections))
    return path


# -- html ----------------------------------------------------------------------------------
CSS = render.CSS + (
    "td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }\n"
    # a table wider or taller than the window scrolls inside its frame (its scroll bars in
    # view) with its header row and first column kept in view
    "div.wide { overflow: auto; max-height: 85vh; }\n"
    "div.wide thead th { position: sticky; top: 0; background: #fff; z-index: 1; }\n"
    "div.wide th:first-child, div.wide td:first-child { position: sticky; left: 0; background: #fff; }\n"
    "div.wide thead th:first-child { z-index: 2; }\n"
    "figure { margin: 0 0 2rem; }\n"
    "p.caption { color: #555; font-size: 0.9rem; }\n"
)


def _html_block(ctx: ReportContext, kind: str, content: Any) -> list[str]:
    if kind == "table":
        table = ctx.tables[content]
        out = [
            f'<h3 id="{table_anchor(content)}">{html.escape(table.title)}</h3>',
            f'<p class="caption">{render.inline(table.caption)}</p>',
            '<div class="wide">' + to_html(table.display, table.bold) + "</div>",
        ]
        if table.notes:
            out.append('<p class="caption">' + "<br>".join(html.escape(n) for n in table.notes) + "</p>")
        return out
    if kind == "figure":
        caption = render.inline(content.caption)
        # the image links to the figure's file (full size), the first format written
        href = f"figures/{content.stem}.{content.formats[0]}" if content.formats else ""
        heading = f'<h3 id="{figure_anchor(content.stem)}">{html.escape(content.title)}</h3>'
        return [heading, render.figure_html(content.png, content.title, caption, href=href)]
    if kind == "fields":
        display, bold = _fields_frame(content)
        return ['<div class="wide">' + to_html(display, bold) + "</div>"]
    return []


def render_html(ctx: ReportContext, sections: Sequence[SectionBuilder] | None = None) -> str:
    return render.html_page(
        "actcmp report", _sections(ctx, sections), lambda kind, content: _html_block(ctx, kind, content), CSS
    )


def write_html(path: str | Path, ctx: ReportContext, sections: Sequence[SectionBuilder] | None = None) -> Path:
    from actcmp.atomic import write_text

    path = Path(path)
    write_text(path, render_html(ctx, sections))
    return path
